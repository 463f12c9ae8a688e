// Loading, verifying and writing Janus plans (runtime/schema/plan.fbs;
// docs/plan-format.md).
//
// A plan file is a PlanFile envelope (file identifier "JNSP") whose `plan`
// field holds a nested Plan buffer (finished without a file identifier) and
// `checksum` = FNV-1a-64 of those nested bytes. LoadedPlan verifies, in order:
// size and identifier, the envelope (FlatBuffers verifier, nested buffer not
// yet trusted), the checksum, the nested Plan (FlatBuffers verifier), the
// version, and the plan's semantic invariants (VerifyPlanInvariants). Only then
// is plan() available.
//
// The envelope is a pure function of (checksum, nested bytes) and the loader
// requires the file to be byte-identical to it, so every flipped byte anywhere
// is caught: write plans only with SerializePlan. See docs/plan-format.md.
#ifndef JANUS_RUNTIME_PLAN_PLAN_H_
#define JANUS_RUNTIME_PLAN_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/base/dtype.h"
#include "runtime/io/safetensors.h"
#include "runtime/schema/plan_generated.h"

namespace janus {

// Bump on every incompatible change to plan.fbs or to the meaning of a field.
inline constexpr uint32_t kPlanVersion = 1;

// janus::DType and janus::plan::DType share their numeric values.
inline DType FromPlanDType(plan::DType t) { return static_cast<DType>(t); }
inline plan::DType ToPlanDType(DType t) { return static_cast<plan::DType>(t); }

// Builds the nested Plan buffer and the PlanFile envelope around it. The plan's
// invariants are checked first (a compiler bug should not produce a file the
// runtime refuses later); `plan.version` is written as given, so set it to
// kPlanVersion.
absl::StatusOr<std::string> SerializePlan(const plan::PlanT& plan);

class LoadedPlan {
 public:
  static absl::StatusOr<LoadedPlan> FromFile(const std::string& path);
  // `origin` names the buffer in error messages (a path, "<memory>").
  static absl::StatusOr<LoadedPlan> FromBytes(std::string bytes,
                                              std::string origin);

  LoadedPlan(LoadedPlan&&) = default;
  LoadedPlan& operator=(LoadedPlan&&) = default;

  const plan::Plan& plan() const;
  const std::string& origin() const { return origin_; }
  uint64_t checksum() const { return checksum_; }
  // The whole file, envelope included.
  const std::string& bytes() const { return bytes_; }

 private:
  LoadedPlan() = default;

  std::string bytes_;
  std::string origin_;
  uint64_t checksum_ = 0;
};

// The semantic invariants LoadedPlan checks after the FlatBuffers verifier
// (weight/file/register indices in range, one program per role, placements and
// deployment consistent, ...). The plan must already have passed the
// FlatBuffers verifier.
absl::Status VerifyPlanInvariants(const plan::Plan& plan);

// The checkpoint directory the plan's files are read from: the override when
// non-empty, else Plan.checkpoint_dir.
std::string PlanCheckpointDir(const plan::Plan& plan,
                              const std::string& checkpoint_dir_override = "");

// Opens the plan's checkpoint files (result[i] is Plan.files[i]) after checking
// each is the file the plan was compiled against: it exists (else the error
// names the path and says the checkpoint moved), has the recorded size and
// header checksum ("changed since compilation"), and every weight's name,
// dtype, shape and byte range match that file's header. Synthetic-weight plans
// give an empty vector.
absl::StatusOr<std::vector<SafetensorsFile>> OpenPlanCheckpoint(
    const plan::Plan& plan, const std::string& checkpoint_dir_override = "");

// A weight's bytes in the files OpenPlanCheckpoint returned for the same plan
// (already checked to lie inside the file).
absl::Span<const uint8_t> WeightBytes(const std::vector<SafetensorsFile>& files,
                                      const plan::WeightRef& weight);

// Checks the checkpoint on disk is the one the plan was compiled from: every
// file exists, has the recorded size and header checksum, and every weight's
// name, dtype, shape and byte range match that file's header. Synthetic-weight
// plans (synthetic_weights_seed >= 0) pass trivially.
absl::Status VerifyCheckpointMatches(
    const plan::Plan& plan, const std::string& checkpoint_dir_override = "");

// Human-readable summary (janus-dump-plan) and a full structured JSON dump
// (janus-dump-plan --json).
std::string PlanToText(const plan::Plan& plan);
std::string PlanToJson(const plan::Plan& plan);

}  // namespace janus

#endif  // JANUS_RUNTIME_PLAN_PLAN_H_
