// Status helpers for the runtime. Every fallible runtime call returns absl::Status or
// absl::StatusOr<T>; Abseil 20220623 has no status macros, so they are defined once here.
#ifndef JANUS_RUNTIME_BASE_STATUS_H_
#define JANUS_RUNTIME_BASE_STATUS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define JANUS_STATUS_CONCAT_INNER_(a, b) a##b
#define JANUS_STATUS_CONCAT_(a, b) JANUS_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define JANUS_RETURN_IF_ERROR(expr)                  \
  do {                                               \
    ::absl::Status _janus_status = (expr);           \
    if (!_janus_status.ok()) return _janus_status;   \
  } while (0)

// `JANUS_ASSIGN_OR_RETURN(auto x, MakeX());` unwraps an absl::StatusOr or returns its error.
#define JANUS_ASSIGN_OR_RETURN(lhs, rexpr) \
  JANUS_ASSIGN_OR_RETURN_IMPL_(JANUS_STATUS_CONCAT_(_janus_statusor, __LINE__), lhs, rexpr)
#define JANUS_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

namespace janus {

// Prefixes an error with where it happened ("loading plan foo.jplan: ...").
inline absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

}  // namespace janus

#endif  // JANUS_RUNTIME_BASE_STATUS_H_
