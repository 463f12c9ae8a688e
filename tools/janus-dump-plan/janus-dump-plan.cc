// janus-dump-plan FILE [--json] [--verify-checkpoint[=DIR]]: prints a verified
// plan.
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "runtime/plan/plan.h"

namespace {

constexpr char kUsage[] =
    "usage: janus-dump-plan FILE [--json] [--verify-checkpoint[=DIR]]\n"
    "  Verifies a Janus plan (.jplan) and prints a readable summary, or every "
    "field with --json.\n"
    "  --verify-checkpoint also checks the checkpoint (in DIR, else the plan's "
    "checkpoint_dir)\n"
    "  is the one the plan was compiled from.\n";

int Fail(const std::string& message) {
  std::fprintf(stderr, "janus-dump-plan: error: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  bool json = false;
  bool verify_checkpoint = false;
  std::string checkpoint_dir;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "--json") {
      json = true;
    } else if (arg == "--verify-checkpoint") {
      verify_checkpoint = true;
    } else if (absl::StartsWith(arg, "--verify-checkpoint=")) {
      verify_checkpoint = true;
      checkpoint_dir =
          std::string(arg.substr(std::strlen("--verify-checkpoint=")));
      if (checkpoint_dir.empty())
        return Fail("--verify-checkpoint= needs a directory");
    } else if (absl::StartsWith(arg, "-") && arg != "-") {
      return Fail(std::string("unknown option '") + argv[i] + "' (see --help)");
    } else if (!path.empty()) {
      return Fail(std::string("more than one plan file given ('") + path +
                  "', '" + argv[i] + "')");
    } else {
      path = std::string(arg);
    }
  }
  if (path.empty())
    return Fail("no plan file given (usage: janus-dump-plan FILE [--json])");

  auto loaded = janus::LoadedPlan::FromFile(path);
  if (!loaded.ok()) return Fail(std::string(loaded.status().message()));
  if (verify_checkpoint) {
    absl::Status status =
        janus::VerifyCheckpointMatches(loaded->plan(), checkpoint_dir);
    if (!status.ok()) return Fail(std::string(status.message()));
  }
  const std::string text = json ? janus::PlanToJson(loaded->plan())
                                : janus::PlanToText(loaded->plan());
  std::fwrite(text.data(), 1, text.size(), stdout);
  if (std::fflush(stdout) != 0) return Fail("cannot write to stdout");
  return 0;
}
