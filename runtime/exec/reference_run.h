// Running the cases of a reference.json (runtime/io/reference.h) on an engine
// and comparing the logits with the reference's: what `janus-run --reference`
// does.
#ifndef JANUS_RUNTIME_EXEC_REFERENCE_RUN_H_
#define JANUS_RUNTIME_EXEC_REFERENCE_RUN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/exec/engine.h"
#include "runtime/io/reference.h"

namespace janus::exec {

// ‖got − want‖₂ / ‖want‖₂ in double (infinite when the lengths differ; ‖want‖ =
// 0 counts as 1e-30).
double RelativeRowError(const std::vector<float>& got,
                        const std::vector<float>& want);

// Runs every case of `reference`, batched: prefill logits at every prompt
// position, then greedy decoding for as many steps as the case has greedy ids,
// recording each step's logits. The result has the reference's schema (its
// `greedy` holds our ids). InvalidArgument naming the case when the reference
// does not fit the model (logits width != vocab, ids outside the vocabulary,
// too long for the context or the KV cache).
// With `routing`, each case's `routing` holds the expert ids of every fed row
// (the engine must record activations).
absl::StatusOr<ReferenceFile> RunReferenceCases(Engine& engine,
                                                const ReferenceFile& reference,
                                                bool routing = false);

struct CaseComparison {
  size_t prompt_tokens = 0;
  size_t steps = 0;
  double prefill_max_error = 0;
  double decode_max_error = 0;  // over the steps whose ids agreed so far
  bool ids_match = true;
  int first_mismatch = -1;  // step of the first differing greedy id
  int32_t got_id = -1, want_id = -1;
  // The first difference was a near tie in the reference (see CompareWithReference): accepted.
  bool near_tie = false;
  double tie_margin = 0;  // the reference's (top1 - top2) / max |logit| there
  // With a routing reference: the first fed row (prompt positions, then generated
  // tokens fed back) routed differently from it (another set of experts in some
  // MoE layer), -1 if none. One swapped expert in the first layer that differs
  // (up to top_k with group-limited routing: a near tie between two groups) is a
  // routing near tie (the row's later layers see its changed output): logits
  // rows from there on are not compared. More is a failure (routing_mismatch).
  int routing_tie_row = -1;
  bool routing_mismatch = false;
  int routing_differences = 0;  // experts swapped in that row's first differing layer
  int compared_rows = 0;  // fed rows whose logits were compared
};

struct ReferenceComparison {
  std::vector<CaseComparison> cases;
  double max_error = 0;
  bool ids_match = true;
  bool routing_ok = true;
  bool Passes(double tolerance) const {
    return ids_match && routing_ok && max_error <= tolerance;
  }
  // One line per case and a verdict line.
  std::string ToText(double tolerance) const;
};

// Compares `ours` (from RunReferenceCases) with `reference` row by row. Decode
// rows after the first differing greedy id are not compared (they follow
// different tokens). With near_tie > 0, a differing id is accepted (ids_match
// stays true, near_tie is set) when the reference's own choice there was a near
// tie: its top-2 logit margin is at most near_tie times the row's largest
// |logit|. A bf16 backend passes its tolerance here: where the reference's
// margin exceeds it, the greedy ids must agree.
//
// With `routing_reference` (the same cases run with routing on a backend that
// reproduces the reference's arithmetic: the fp32 cpu backend), a case is
// compared only up to the first fed row where `ours` routed a token differently
// (see CaseComparison::routing_tie_row): a bf16 backend cannot reproduce an
// fp32 router's choice between two experts whose scores differ by less than
// its own rounding.
ReferenceComparison CompareWithReference(
    const ReferenceFile& ours, const ReferenceFile& reference,
    double near_tie = 0, const ReferenceFile* routing_reference = nullptr);

}  // namespace janus::exec

#endif  // JANUS_RUNTIME_EXEC_REFERENCE_RUN_H_
