// Plan serialisation and loading: the envelope, the checksum, the FlatBuffers
// verifiers.
#include "runtime/plan/plan.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "flatbuffers/flatbuffers.h"
#include "runtime/base/checksum.h"
#include "runtime/base/mapped_file.h"
#include "runtime/base/status.h"

namespace janus {
namespace {

// Plans stay far below FlatBuffers' 2 GiB limit; a larger file is not a plan.
constexpr size_t kMaxPlanBytes = size_t{1} << 30;
// Alignment of the nested Plan inside the envelope: the nested buffer's own
// largest scalar is 8.
constexpr size_t kNestedAlignment = 16;

flatbuffers::Verifier::Options VerifierOptions(bool check_nested) {
  flatbuffers::Verifier::Options options;
  options.max_depth = 64;
  // A DeepSeek-V3-sized plan has ~10^5 tables; leave ample headroom.
  options.max_tables = 1u << 26;
  options.check_nested_flatbuffers = check_nested;
  return options;
}

// The envelope is a pure function of (checksum, nested bytes). LoadedPlan
// rebuilds it and compares byte for byte, so a flipped byte anywhere outside
// the checksummed nested buffer (vtable sizes, padding) is caught too.
std::string BuildEnvelope(uint64_t checksum, const uint8_t* nested,
                          size_t size) {
  flatbuffers::FlatBufferBuilder fbb(size + 64);
  fbb.ForceVectorAlignment(size, 1, kNestedAlignment);
  auto vec = fbb.CreateVector(nested, size);
  plan::FinishPlanFileBuffer(fbb, plan::CreatePlanFile(fbb, checksum, vec));
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()),
                     fbb.GetSize());
}

// Pack() dereferences every table pointer and FlatBuffers asserts on a missing
// required field: refuse such a PlanT instead.
absl::Status CheckPackable(const plan::PlanT& p) {
  auto missing = [](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot serialise plan: ", what, " is missing"));
  };
  if (!p.model) return missing("model");
  if (!p.deployment) return missing("deployment");
  for (size_t i = 0; i < p.files.size(); ++i) {
    if (!p.files[i]) return missing(absl::StrCat("files[", i, "]"));
  }
  for (size_t i = 0; i < p.weights.size(); ++i) {
    if (!p.weights[i]) return missing(absl::StrCat("weights[", i, "]"));
  }
  for (size_t i = 0; i < p.deployment->ranks.size(); ++i) {
    if (!p.deployment->ranks[i])
      return missing(absl::StrCat("deployment.ranks[", i, "]"));
  }
  for (size_t i = 0; i < p.placements.size(); ++i) {
    if (!p.placements[i]) return missing(absl::StrCat("placements[", i, "]"));
  }
  for (size_t r = 0; r < p.programs.size(); ++r) {
    if (!p.programs[r]) return missing(absl::StrCat("programs[", r, "]"));
    const auto& instrs = p.programs[r]->instrs;
    for (size_t i = 0; i < instrs.size(); ++i) {
      std::string where = absl::StrCat("programs[", r, "].instrs[", i, "]");
      if (!instrs[i]) return missing(where);
      const plan::OpParamsUnion& params = instrs[i]->params;
      if (params.type == plan::OpParams::NONE || params.value == nullptr) {
        return missing(absl::StrCat(where, ".params"));
      }
      if (auto* a = params.AsAttentionParams(); a && !a->rope)
        return missing(where + ".rope");
      if (auto* m = params.AsMlaParams(); m && !m->rope)
        return missing(where + ".rope");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> SerializePlan(const plan::PlanT& plan) {
  JANUS_RETURN_IF_ERROR(CheckPackable(plan));
  // The nested Plan is finished without a file identifier: only the envelope is
  // a file.
  flatbuffers::FlatBufferBuilder inner;
  inner.Finish(plan::Plan::Pack(inner, &plan));
  const uint8_t* nested = inner.GetBufferPointer();
  const size_t size = inner.GetSize();
  if (size > kMaxPlanBytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("plan is ", size, " bytes, over the limit"));
  }
  JANUS_RETURN_IF_ERROR(
      Annotate(VerifyPlanInvariants(*flatbuffers::GetRoot<plan::Plan>(nested)),
               "refusing to serialise plan"));
  return BuildEnvelope(Fnv1a64(nested, size), nested, size);
}

absl::StatusOr<LoadedPlan> LoadedPlan::FromFile(const std::string& path) {
  JANUS_ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  if (file.size() > kMaxPlanBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("loading plan '", path, "': ", file.size(),
                     " bytes is too large for a plan"));
  }
  std::string bytes(reinterpret_cast<const char*>(file.data()), file.size());
  return FromBytes(std::move(bytes), path);
}

absl::StatusOr<LoadedPlan> LoadedPlan::FromBytes(std::string bytes,
                                                 std::string origin) {
  const std::string context = absl::StrCat("loading plan '", origin, "'");
  auto corrupt = [&](absl::string_view what) {
    return absl::DataLossError(absl::StrCat(context, ": ", what));
  };
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  if (bytes.size() < 8 || bytes.size() > kMaxPlanBytes) {
    return corrupt(absl::StrCat(bytes.size(), " bytes is not a plan file"));
  }
  if (!flatbuffers::BufferHasIdentifier(data, plan::PlanFileIdentifier())) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": not a Janus plan (no \"",
                     plan::PlanFileIdentifier(), "\" file identifier)"));
  }
  {
    flatbuffers::Verifier verifier(data, bytes.size(),
                                   VerifierOptions(/*check_nested=*/false));
    if (!plan::VerifyPlanFileBuffer(verifier)) {
      return corrupt(
          "the plan envelope is malformed: the file is corrupt or truncated");
    }
  }
  const plan::PlanFile* envelope = plan::GetPlanFile(data);
  const flatbuffers::Vector<uint8_t>* nested = envelope->plan();
  const uint64_t checksum = Fnv1a64(nested->data(), nested->size());
  if (BuildEnvelope(envelope->checksum(), nested->data(), nested->size()) !=
      bytes) {
    return corrupt(
        "the plan envelope is not in canonical form: the file is corrupt");
  }
  if (checksum != envelope->checksum()) {
    return corrupt("plan checksum mismatch: the file is corrupt");
  }
  {
    flatbuffers::Verifier verifier(nested->data(), nested->size(),
                                   VerifierOptions(true));
    if (!verifier.VerifyBuffer<plan::Plan>(nullptr)) {
      return corrupt("the nested plan failed FlatBuffers verification");
    }
  }
  const plan::Plan* p = flatbuffers::GetRoot<plan::Plan>(nested->data());
  if (p->version() != kPlanVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat(context, ": plan version ", p->version(),
                     ", this runtime reads version ", kPlanVersion,
                     " (recompile the plan with a matching janus-compile)"));
  }
  JANUS_RETURN_IF_ERROR(Annotate(VerifyPlanInvariants(*p), context));
  LoadedPlan result;
  result.bytes_ = std::move(bytes);
  result.origin_ = std::move(origin);
  result.checksum_ = checksum;
  return result;
}

const plan::Plan& LoadedPlan::plan() const {
  const plan::PlanFile* envelope = plan::GetPlanFile(bytes_.data());
  return *flatbuffers::GetRoot<plan::Plan>(envelope->plan()->data());
}

}  // namespace janus
