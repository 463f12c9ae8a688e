#include "runtime/exec/reference_run.h"

#include <algorithm>
#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/base/status.h"

namespace janus::exec {

double RelativeRowError(const std::vector<float>& got,
                        const std::vector<float>& want) {
  if (got.size() != want.size()) return std::numeric_limits<double>::infinity();
  double diff = 0, norm = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = static_cast<double>(got[i]) - static_cast<double>(want[i]);
    diff += d * d;
    norm += static_cast<double>(want[i]) * static_cast<double>(want[i]);
  }
  const double error = std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
  return std::isnan(error) ? std::numeric_limits<double>::infinity() : error;
}

absl::StatusOr<ReferenceFile> RunReferenceCases(
    Engine& engine, const ReferenceFile& reference, bool routing) {
  JANUS_RETURN_IF_ERROR(ValidateReferenceFile(reference));
  const int vocab = engine.vocab_size();
  std::vector<GenerationRequest> requests;
  for (size_t i = 0; i < reference.cases.size(); ++i) {
    const ReferenceCase& c = reference.cases[i];
    const std::vector<float>* row =
        !c.prefill_logits.empty()  ? &c.prefill_logits[0]
        : !c.decode_logits.empty() ? &c.decode_logits[0]
                                   : nullptr;
    if (row != nullptr && static_cast<int>(row->size()) != vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("case ", i, ": logits rows have ", row->size(),
                       " entries, but the model's vocabulary has ", vocab));
    }
    GenerationRequest r;
    r.prompt = c.prompt;
    r.max_new_tokens = static_cast<int>(c.greedy.size());
    r.return_prefill_logits = true;
    r.return_decode_logits = true;
    r.return_routing = routing;
    requests.push_back(std::move(r));
  }
  absl::StatusOr<std::vector<GenerationResult>> results =
      engine.Generate(requests);
  if (!results.ok()) {
    // Requests are the cases, in order.
    return absl::Status(
        results.status().code(),
        absl::StrCat("running the reference cases (request i is case i): ",
                     results.status().message()));
  }
  int max_swap = 1;
  for (const plan::Program* program : *engine.plan().programs()) {
    for (const plan::Instr* instr : *program->instrs()) {
      if (const auto* p = instr->params_as_RouterParams(); p != nullptr && p->n_group() > 1)
        max_swap = std::max(max_swap, p->top_k());
    }
  }
  ReferenceFile ours;
  ours.model = reference.model;
  for (size_t i = 0; i < reference.cases.size(); ++i) {
    ReferenceCase c;
    c.prompt = reference.cases[i].prompt;
    c.prefill_logits = std::move((*results)[i].prefill_logits);
    c.greedy = std::move((*results)[i].tokens);
    c.decode_logits = std::move((*results)[i].decode_logits);
    c.routing = std::move((*results)[i].routing);
    c.routing_top_k = engine.plan().model()->top_k();
    c.routing_max_swap = max_swap;
    ours.cases.push_back(std::move(c));
  }
  return ours;
}

namespace {

// (top1 - top2) / max |logit| of a logits row (infinite for rows of < 2 entries or all zeros).
double RelativeTopTwoMargin(const std::vector<float>& row) {
  if (row.size() < 2) return std::numeric_limits<double>::infinity();
  double top1 = -std::numeric_limits<double>::infinity(), top2 = top1, scale = 0;
  for (float v : row) {
    scale = std::max(scale, std::abs(static_cast<double>(v)));
    if (v > top1) {
      top2 = top1;
      top1 = v;
    } else if (v > top2) {
      top2 = v;
    }
  }
  if (scale == 0) return std::numeric_limits<double>::infinity();
  return (top1 - top2) / scale;
}

}  // namespace

ReferenceComparison CompareWithReference(const ReferenceFile& ours,
                                         const ReferenceFile& reference,
                                         double near_tie,
                                         const ReferenceFile* routing_reference) {
  ReferenceComparison out;
  for (size_t i = 0; i < reference.cases.size(); ++i) {
    const ReferenceCase& want = reference.cases[i];
    CaseComparison cmp;
    cmp.prompt_tokens = want.prompt.size();
    cmp.steps = want.greedy.size();
    if (i >= ours.cases.size()) {
      cmp.ids_match = false;
      cmp.prefill_max_error = std::numeric_limits<double>::infinity();
      out.cases.push_back(cmp);
      continue;
    }
    const ReferenceCase& got = ours.cases[i];
    // Fed rows: prompt position p produces prefill row p; generated token s
    // (fed back as row P + s) produces decode row s + 1, and decode row 0 is
    // prefill row P - 1.
    size_t compared_rows = std::numeric_limits<size_t>::max();
    if (routing_reference != nullptr && i < routing_reference->cases.size()) {
      const auto& theirs = routing_reference->cases[i].routing;
      const int k = std::max(1, got.routing_top_k);
      // Rows fed after the first differing greedy id carry another token: their routing is not
      // comparable (the greedy comparison below judges that difference).
      size_t same_tokens = want.prompt.size();
      while (same_tokens - want.prompt.size() < want.greedy.size() &&
             same_tokens - want.prompt.size() < got.greedy.size() &&
             got.greedy[same_tokens - want.prompt.size()] ==
                 want.greedy[same_tokens - want.prompt.size()])
        ++same_tokens;
      for (size_t r = 0; r < got.routing.size() && r < theirs.size() && r < same_tokens; ++r) {
        // Per MoE layer, the experts chosen (a set: the order of equal-weight picks is free).
        int differences = 0;
        if (got.routing[r].size() != theirs[r].size() || got.routing[r].size() % k != 0) {
          differences = 1 << 20;
        } else {
          for (size_t begin = 0; begin < got.routing[r].size(); begin += k) {
            std::vector<int32_t> a(got.routing[r].begin() + begin,
                                   got.routing[r].begin() + begin + k);
            std::vector<int32_t> b(theirs[r].begin() + begin, theirs[r].begin() + begin + k);
            std::sort(a.begin(), a.end());
            std::sort(b.begin(), b.end());
            std::vector<int32_t> only;
            std::set_difference(a.begin(), a.end(), b.begin(), b.end(),
                                std::back_inserter(only));
            // The first layer that differs decides: the row's later layers see its changed
            // output and may differ for that reason alone.
            differences = static_cast<int>(only.size());
            if (differences != 0) break;
          }
        }
        if (differences == 0) continue;
        cmp.routing_tie_row = static_cast<int>(r);
        cmp.routing_differences = differences;
        cmp.routing_mismatch = differences > got.routing_max_swap;
        compared_rows = r;
        break;
      }
      if (got.routing.empty() || theirs.empty()) cmp.routing_mismatch = true;
    }
    const size_t P = want.prompt.size();
    const size_t fed = P + std::max<size_t>(want.greedy.size(), 1) - 1;
    cmp.compared_rows = static_cast<int>(std::min(fed, compared_rows));
    for (size_t r = 0; r < want.prefill_logits.size() && r < compared_rows; ++r) {
      const double e =
          r < got.prefill_logits.size()
              ? RelativeRowError(got.prefill_logits[r], want.prefill_logits[r])
              : std::numeric_limits<double>::infinity();
      cmp.prefill_max_error = std::max(cmp.prefill_max_error, e);
    }
    for (size_t s = 0; s < want.greedy.size() && P - 1 + s < compared_rows; ++s) {
      // Step s's logits were computed from the same tokens as long as steps < s
      // agreed.
      if (s < want.decode_logits.size()) {
        const double e =
            s < got.decode_logits.size()
                ? RelativeRowError(got.decode_logits[s], want.decode_logits[s])
                : std::numeric_limits<double>::infinity();
        cmp.decode_max_error = std::max(cmp.decode_max_error, e);
      }
      const int32_t g = s < got.greedy.size() ? got.greedy[s] : -1;
      if (g != want.greedy[s]) {
        cmp.first_mismatch = static_cast<int>(s);
        cmp.got_id = g;
        cmp.want_id = want.greedy[s];
        if (near_tie > 0 && s < want.decode_logits.size()) {
          cmp.tie_margin = RelativeTopTwoMargin(want.decode_logits[s]);
          cmp.near_tie = cmp.tie_margin <= near_tie;
        }
        cmp.ids_match = cmp.near_tie;
        break;
      }
    }
    out.max_error =
        std::max({out.max_error, cmp.prefill_max_error, cmp.decode_max_error});
    out.ids_match = out.ids_match && cmp.ids_match;
    out.routing_ok = out.routing_ok && !cmp.routing_mismatch;
    out.cases.push_back(cmp);
  }
  return out;
}

std::string ReferenceComparison::ToText(double tolerance) const {
  std::string out;
  for (size_t i = 0; i < cases.size(); ++i) {
    const CaseComparison& c = cases[i];
    absl::StrAppendFormat(&out,
                          "case %d: %d prompt tokens, %d greedy steps: max "
                          "relative error prefill %.3g, decode %.3g; ",
                          i, c.prompt_tokens, c.steps, c.prefill_max_error,
                          c.decode_max_error);
    if (c.routing_tie_row >= 0) {
      absl::StrAppendFormat(
          &out, "routing differs from the fp32 reference at fed row %d (%d expert(s) swapped in the first differing layer%s); ",
          c.routing_tie_row, c.routing_differences,
          c.routing_mismatch ? ": not a near tie, FAIL" : ", a near tie: later rows not compared");
    } else if (c.routing_mismatch) {
      absl::StrAppend(&out, "no routing recorded; ");
    }
    if (c.near_tie) {
      absl::StrAppendFormat(
          &out,
          "greedy ids match up to a near tie at step %d (got %d, reference %d, "
          "reference top-2 margin %.3g of the largest logit)\n",
          c.first_mismatch, c.got_id, c.want_id, c.tie_margin);
    } else if (c.ids_match) {
      absl::StrAppend(&out, "greedy ids match\n");
    } else {
      absl::StrAppendFormat(
          &out, "greedy ids differ at step %d (got %d, reference %d)\n",
          c.first_mismatch, c.got_id, c.want_id);
    }
  }
  absl::StrAppendFormat(&out,
                        "reference: %d cases, max relative row error %.3g "
                        "(tolerance %.3g), greedy ids %s: %s\n",
                        cases.size(), max_error, tolerance,
                        ids_match ? (routing_ok ? "identical" : "identical, routing differs")
                                  : "differ",
                        Passes(tolerance) ? "PASS" : "FAIL");
  return out;
}

}  // namespace janus::exec
