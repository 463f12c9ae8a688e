// Reference logits files (test/data/hf/*/reference.json; schema in
// docs/checkpoints.md):
// {"model": .., "transformers": .., "torch": ..,
//  "cases": [{"prompt": [ids], "prefill_logits": [[vocab floats] per prompt
//  position],
//             "greedy": [ids], "decode_logits": [[vocab floats] per greedy
//             token]}]}
// janus-run --dump-logits writes the same schema, so its output can be compared
// with the same code.
#ifndef JANUS_RUNTIME_IO_REFERENCE_H_
#define JANUS_RUNTIME_IO_REFERENCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace janus {

struct ReferenceCase {
  std::vector<int32_t> prompt;
  std::vector<std::vector<float>> prefill_logits;  // prompt.size() rows × vocab
  std::vector<int32_t> greedy;
  // greedy.size() rows × vocab. Row i is the distribution greedy[i] was chosen
  // from (argmax), so row 0 repeats the last prefill row and the logits after
  // the last greedy token are not stored.
  std::vector<std::vector<float>> decode_logits;
  // Not part of the file: the expert ids of each fed row when a run recorded them
  // (exec::RunReferenceCases with routing).
  std::vector<std::vector<int32_t>> routing;
  int routing_top_k = 0;  // ids per MoE layer in each routing row
  // Experts one router near tie can swap: 1, or top_k with group-limited routing (a near tie
  // between two groups exchanges their experts).
  int routing_max_swap = 1;
};

struct ReferenceFile {
  // Free-form provenance strings; empty ones are not written.
  std::string model;
  std::string transformers;
  std::string torch;
  std::vector<ReferenceCase> cases;
};

// Checks the shape rules: every logits row of a file has the same (non-zero)
// vocab length, prefill rows == prompt length, decode rows == greedy length.
// Errors name the case index.
absl::Status ValidateReferenceFile(const ReferenceFile& file);

// Parses and validates; errors name the path (and the case index when one case
// is wrong).
absl::StatusOr<ReferenceFile> ReadReferenceFile(const std::string& path);

// Validates, then writes (floats with enough digits to round-trip exactly).
absl::Status WriteReferenceFile(const std::string& path,
                                const ReferenceFile& file);

}  // namespace janus

#endif  // JANUS_RUNTIME_IO_REFERENCE_H_
