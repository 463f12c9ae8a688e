#include "runtime/io/reference.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "runtime/base/status.h"

namespace janus {
namespace {

using Json = nlohmann::json;

absl::Status ParseIds(const Json& j, const char* key,
                      std::vector<int32_t>* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing array '", key, "'"));
  }
  for (const Json& v : *it) {
    if (!v.is_number_integer() ||
        v.get<int64_t>() < std::numeric_limits<int32_t>::min() ||
        v.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", key, "' holds ", v.dump(), ", not a token id"));
    }
    out->push_back(static_cast<int32_t>(v.get<int64_t>()));
  }
  return absl::OkStatus();
}

absl::Status ParseRows(const Json& j, const char* key,
                       std::vector<std::vector<float>>* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing array '", key, "'"));
  }
  for (size_t r = 0; r < it->size(); ++r) {
    const Json& row = (*it)[r];
    if (!row.is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", key, "' row ", r, " is not an array"));
    }
    std::vector<float> values;
    values.reserve(row.size());
    for (const Json& v : row) {
      if (!v.is_number()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "'", key, "' row ", r, " holds ", v.dump(), ", not a number"));
      }
      values.push_back(static_cast<float>(v.get<double>()));
    }
    out->push_back(std::move(values));
  }
  return absl::OkStatus();
}

absl::Status CheckRows(const std::vector<std::vector<float>>& rows,
                       const char* key, size_t expected_rows,
                       const char* length_key, size_t* vocab) {
  if (rows.size() != expected_rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", key, "' has ", rows.size(), " rows, but '",
                     length_key, "' has ", expected_rows, " tokens"));
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    if (*vocab == 0) *vocab = rows[r].size();
    if (rows[r].empty() || rows[r].size() != *vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", key, "' row ", r, " has ", rows[r].size(),
                       " logits, expected ", *vocab));
    }
    for (size_t v = 0; v < rows[r].size(); ++v) {
      if (!std::isfinite(rows[r][v])) {
        return absl::InvalidArgumentError(absl::StrCat(
            "'", key, "' row ", r, " column ", v, " is not finite"));
      }
    }
  }
  return absl::OkStatus();
}

void AppendIds(const std::vector<int32_t>& ids, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < ids.size(); ++i)
    absl::StrAppend(out, i ? ", " : "", ids[i]);
  out->push_back(']');
}

void AppendRows(const std::vector<std::vector<float>>& rows, std::string* out) {
  out->push_back('[');
  for (size_t r = 0; r < rows.size(); ++r) {
    absl::StrAppend(out, r ? ",\n    " : "", "[");
    // %.9g round-trips every float exactly.
    for (size_t i = 0; i < rows[r].size(); ++i) {
      absl::StrAppendFormat(out, "%s%.9g", i ? ", " : "", rows[r][i]);
    }
    out->push_back(']');
  }
  out->push_back(']');
}

// Provenance strings are free-form: invalid UTF-8 is replaced rather than
// refused.
std::string JsonString(const std::string& s) {
  return Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

absl::Status ValidateReferenceFile(const ReferenceFile& file) {
  size_t vocab = 0;
  for (size_t c = 0; c < file.cases.size(); ++c) {
    const ReferenceCase& rc = file.cases[c];
    absl::Status status = CheckRows(rc.prefill_logits, "prefill_logits",
                                    rc.prompt.size(), "prompt", &vocab);
    if (status.ok()) {
      status = CheckRows(rc.decode_logits, "decode_logits", rc.greedy.size(),
                         "greedy", &vocab);
    }
    if (status.ok() && rc.prompt.empty())
      status = absl::InvalidArgumentError("'prompt' is empty");
    JANUS_RETURN_IF_ERROR(Annotate(status, absl::StrCat("case ", c)));
  }
  return absl::OkStatus();
}

absl::StatusOr<ReferenceFile> ReadReferenceFile(const std::string& path) {
  const std::string where = absl::StrCat("reference file '", path, "'");
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", where));
  std::stringstream text;
  text << in.rdbuf();
  Json root;
  try {
    root = Json::parse(text.str());
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": not valid JSON: ", e.what()));
  }
  if (!root.is_object())
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": not a JSON object"));
  ReferenceFile file;
  for (auto [key, field] : {std::pair{"model", &file.model},
                            std::pair{"transformers", &file.transformers},
                            std::pair{"torch", &file.torch}}) {
    auto it = root.find(key);
    if (it != root.end() && it->is_string()) *field = it->get<std::string>();
  }
  auto cases = root.find("cases");
  if (cases == root.end() || !cases->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": missing array 'cases'"));
  }
  for (size_t c = 0; c < cases->size(); ++c) {
    const Json& j = (*cases)[c];
    ReferenceCase rc;
    absl::Status status = j.is_object()
                              ? absl::OkStatus()
                              : absl::InvalidArgumentError("not a JSON object");
    if (status.ok()) status = ParseIds(j, "prompt", &rc.prompt);
    if (status.ok())
      status = ParseRows(j, "prefill_logits", &rc.prefill_logits);
    if (status.ok()) status = ParseIds(j, "greedy", &rc.greedy);
    if (status.ok()) status = ParseRows(j, "decode_logits", &rc.decode_logits);
    JANUS_RETURN_IF_ERROR(Annotate(status, absl::StrCat(where, ": case ", c)));
    file.cases.push_back(std::move(rc));
  }
  JANUS_RETURN_IF_ERROR(Annotate(ValidateReferenceFile(file), where));
  return file;
}

absl::Status WriteReferenceFile(const std::string& path,
                                const ReferenceFile& file) {
  const std::string where = absl::StrCat("writing reference file '", path, "'");
  JANUS_RETURN_IF_ERROR(Annotate(ValidateReferenceFile(file), where));
  std::string out = "{";
  for (auto [key, field] : {std::pair{"model", &file.model},
                            std::pair{"transformers", &file.transformers},
                            std::pair{"torch", &file.torch}}) {
    if (!field->empty())
      absl::StrAppend(&out, "\"", key, "\": ", JsonString(*field), ", ");
  }
  out += "\"cases\": [";
  for (size_t c = 0; c < file.cases.size(); ++c) {
    const ReferenceCase& rc = file.cases[c];
    absl::StrAppend(&out, c ? ",\n " : "\n ", "{\"prompt\": ");
    AppendIds(rc.prompt, &out);
    out += ",\n  \"prefill_logits\": ";
    AppendRows(rc.prefill_logits, &out);
    out += ",\n  \"greedy\": ";
    AppendIds(rc.greedy, &out);
    out += ",\n  \"decode_logits\": ";
    AppendRows(rc.decode_logits, &out);
    out += "}";
  }
  out += "]}\n";
  std::ofstream stream(path, std::ios::binary | std::ios::trunc);
  if (!stream)
    return absl::PermissionDeniedError(
        absl::StrCat(where, ": cannot create the file"));
  stream.write(out.data(), static_cast<std::streamsize>(out.size()));
  stream.close();
  if (!stream)
    return absl::DataLossError(absl::StrCat(where, ": write failed"));
  return absl::OkStatus();
}

}  // namespace janus
