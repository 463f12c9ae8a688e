//===- ConfigKeyReader.cpp - Typed keys of a config.json object -----------===//

#include "dialects/janus/Import/ConfigKeyReader.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>

using namespace mlir::janus;
using llvm::StringRef;
namespace json = llvm::json;

std::string mlir::janus::describeJson(const json::Value &value) {
  std::string text = llvm::formatv("{0}", value).str();
  if (text.size() > 48)
    text = text.substr(0, 45) + "...";
  switch (value.kind()) {
  case json::Value::Null:
    return "null";
  case json::Value::Boolean:
    return "boolean " + text;
  case json::Value::Number:
    return "number " + text;
  case json::Value::String:
    return "string " + text;
  case json::Value::Array:
    return "array " + text;
  case json::Value::Object:
    return "object " + text;
  }
  return text;
}

size_t KeyReader::offsetOf(StringRef key) const {
  std::string quoted = ("\"" + key + "\"").str();
  size_t pos = searchFrom;
  while ((pos = text.find(quoted, pos)) != StringRef::npos) {
    size_t after = pos + quoted.size();
    while (after < text.size() && llvm::isSpace(text[after]))
      ++after;
    if (after < text.size() && text[after] == ':')
      return pos;
    pos = after;
  }
  return StringRef::npos;
}

void KeyReader::report(ConfigDiagnostic::Severity severity, StringRef key,
                       const llvm::Twine &message) {
  ConfigDiagnostic d;
  d.severity = severity;
  d.file = path;
  size_t offset = key.empty() ? StringRef::npos : offsetOf(key);
  if (offset != StringRef::npos) {
    StringRef before = text.take_front(offset);
    d.line = before.count('\n') + 1;
    size_t lineStart = before.rfind('\n');
    d.column = offset - (lineStart == StringRef::npos ? 0 : lineStart + 1) + 1;
  }
  d.message = message.str();
  diags.push_back(std::move(d));
}

void KeyReader::missing(StringRef key, StringRef what) {
  error("", "missing required key " + name(key) + " (" + what + ")");
}

void KeyReader::wrongType(StringRef key, StringRef what,
                          const json::Value &got) {
  error(key, "key " + name(key) + ": expected " + what + ", got " +
                 describeJson(got));
}

std::optional<int64_t> KeyReader::integer(StringRef key,
                                          std::optional<int64_t> fallback,
                                          int64_t min, bool nullIsDefault) {
  std::string what = min == 1   ? "a positive integer"
                     : min == 0 ? "a non-negative integer"
                                : "an integer >= " + std::to_string(min);
  const json::Value *v = object.get(key);
  if (!v || (nullIsDefault && v->kind() == json::Value::Null)) {
    if (!fallback)
      missing(key, what);
    return fallback;
  }
  std::optional<int64_t> i = v->getAsInteger();
  if (!i || *i < min) {
    wrongType(key, what, *v);
    return std::nullopt;
  }
  // Shapes multiply dimensions: keep every product far from int64 overflow.
  if (*i > kMaxConfigInteger) {
    error(key, "key " + name(key) + ": " + std::to_string(*i) +
                   " is implausibly large (at most " +
                   std::to_string(kMaxConfigInteger) + ")");
    return std::nullopt;
  }
  return i;
}

double KeyReader::number(StringRef key, double fallback, bool positive) {
  const json::Value *v = object.get(key);
  if (!v || v->kind() == json::Value::Null)
    return fallback;
  std::optional<double> d = v->getAsNumber();
  if (!d || !std::isfinite(*d) || (positive && *d <= 0) ||
      (!positive && *d < 0)) {
    wrongType(key, positive ? "a positive number" : "a non-negative number",
              *v);
    return fallback;
  }
  return *d;
}

bool KeyReader::boolean(StringRef key, bool fallback) {
  const json::Value *v = object.get(key);
  if (!v || v->kind() == json::Value::Null)
    return fallback;
  std::optional<bool> b = v->getAsBoolean();
  if (!b) {
    wrongType(key, "true or false", *v);
    return fallback;
  }
  return *b;
}

std::optional<std::string> KeyReader::string(StringRef key) {
  const json::Value *v = object.get(key);
  if (!v || v->kind() == json::Value::Null)
    return std::nullopt;
  std::optional<StringRef> s = v->getAsString();
  if (!s) {
    wrongType(key, "a string", *v);
    return std::nullopt;
  }
  return s->str();
}
