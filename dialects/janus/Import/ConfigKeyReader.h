//===- ConfigKeyReader.h - Typed keys of a config.json object ---*- C++ -*-===//
//
// Internal to the importer: reads typed keys of one JSON object of a
// config.json and records a ConfigDiagnostic for every problem, naming the key,
// its line and column (found in the file's text), what was expected and what
// was found.
//
//===----------------------------------------------------------------------===//
#ifndef JANUS_DIALECTS_JANUS_IMPORT_CONFIGKEYREADER_H
#define JANUS_DIALECTS_JANUS_IMPORT_CONFIGKEYREADER_H

#include "dialects/janus/Import/ModelConfig.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/JSON.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir::janus {

/// The largest integer a config key may hold (2^31 - 1).
constexpr int64_t kMaxConfigInteger = (int64_t(1) << 31) - 1;

/// A JSON value as it reads in a message ("string \"four\"", "array [1,2]"),
/// shortened.
std::string describeJson(const llvm::json::Value &value);

class KeyReader {
public:
  /// `prefix` qualifies key names in messages ("rope_scaling."); keys are
  /// searched for in `text` from `searchFrom` on (a nested object's keys follow
  /// its parent key).
  KeyReader(llvm::StringRef path, llvm::StringRef text,
            const llvm::json::Object &object,
            std::vector<ConfigDiagnostic> &diags, std::string prefix = "",
            size_t searchFrom = 0)
      : path(path.str()), text(text), object(object), diags(diags),
        prefix(std::move(prefix)), searchFrom(searchFrom) {}

  /// Present and not null.
  bool has(llvm::StringRef key) const {
    const llvm::json::Value *v = object.get(key);
    return v && v->kind() != llvm::json::Value::Null;
  }
  bool present(llvm::StringRef key) const { return object.get(key) != nullptr; }
  const llvm::json::Value *get(llvm::StringRef key) const {
    return object.get(key);
  }

  /// Byte offset of `"key":` in the file text (npos when not found).
  size_t offsetOf(llvm::StringRef key) const;

  void report(ConfigDiagnostic::Severity severity, llvm::StringRef key,
              const llvm::Twine &message);
  void error(llvm::StringRef key, const llvm::Twine &message) {
    report(ConfigDiagnostic::Severity::Error, key, message);
  }
  void warning(llvm::StringRef key, const llvm::Twine &message) {
    report(ConfigDiagnostic::Severity::Warning, key, message);
  }

  /// The key as messages quote it: 'rope_scaling.factor'.
  std::string name(llvm::StringRef key) const {
    return "'" + prefix + key.str() + "'";
  }
  void missing(llvm::StringRef key, llvm::StringRef what);
  void wrongType(llvm::StringRef key, llvm::StringRef what,
                 const llvm::json::Value &got);

  /// An integer >= min; `fallback` when absent (or null when nullIsDefault),
  /// required otherwise.
  std::optional<int64_t> integer(llvm::StringRef key,
                                 std::optional<int64_t> fallback,
                                 int64_t min = 1, bool nullIsDefault = true);
  int64_t requireInt(llvm::StringRef key, int64_t min = 1) {
    return integer(key, std::nullopt, min).value_or(0);
  }
  int64_t optInt(llvm::StringRef key, int64_t fallback, int64_t min = 1) {
    return integer(key, fallback, min).value_or(fallback);
  }
  /// A finite number (positive, or non-negative); `fallback` when absent or
  /// null.
  double number(llvm::StringRef key, double fallback, bool positive);
  bool boolean(llvm::StringRef key, bool fallback);
  std::optional<std::string> string(llvm::StringRef key);

  std::string path;
  llvm::StringRef text;
  const llvm::json::Object &object;
  std::vector<ConfigDiagnostic> &diags;
  std::string prefix;
  size_t searchFrom;
};

} // namespace mlir::janus

#endif // JANUS_DIALECTS_JANUS_IMPORT_CONFIGKEYREADER_H
