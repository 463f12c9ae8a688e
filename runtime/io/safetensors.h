// Verified, memory-mapped safetensors checkpoints (single file or sharded with
// an index).
//
// Format: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]},
// "__metadata__": {..}}, then the data section. Offsets in the JSON are
// relative to the data section; TensorInfo holds absolute file offsets. Open()
// checks every structural property before any byte is handed out, so Data()
// never reads outside the mapping. See docs/checkpoints.md.
#ifndef JANUS_RUNTIME_IO_SAFETENSORS_H_
#define JANUS_RUNTIME_IO_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "runtime/base/dtype.h"
#include "runtime/base/mapped_file.h"

namespace janus {

struct TensorInfo {
  std::string name;
  // The header's spelling ("BF16", "F64", "F8_E4M3", ...). Every safetensors
  // dtype is parsed and size-checked; only F32/F16/BF16/I32 have a DType, the
  // others fail CheckedData().
  std::string raw_dtype;
  bool dtype_supported = false;
  DType dtype = DType::kF32;  // meaningful only when dtype_supported
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // absolute byte position in the file
  uint64_t nbytes = 0;

  int64_t NumElements() const;
};

class SafetensorsFile {
 public:
  static absl::StatusOr<SafetensorsFile> Open(const std::string& path);

  SafetensorsFile(SafetensorsFile&&) = default;
  SafetensorsFile& operator=(SafetensorsFile&&) = default;

  const std::string& path() const { return file_.path(); }
  uint64_t file_size() const { return file_.size(); }
  // FNV-1a-64 over the first 8 + header_len bytes (names, dtypes, shapes,
  // offsets).
  uint64_t header_checksum() const { return header_checksum_; }
  uint64_t header_size() const { return header_len_; }

  // In file order (ascending offset).
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* Find(absl::string_view name) const;
  const std::map<std::string, std::string>& metadata() const {
    return metadata_;
  }

  // The whole mapped file.
  absl::Span<const uint8_t> bytes() const {
    return {file_.data(), file_.size()};
  }
  // The tensor's raw bytes, whatever its dtype. `info` must come from this
  // file.
  absl::Span<const uint8_t> Data(const TensorInfo& info) const;
  // Same, but fails (naming the tensor and file) when the dtype has no
  // janus::DType.
  absl::StatusOr<absl::Span<const uint8_t>> CheckedData(
      const TensorInfo& info) const;
  // F32/F16/BF16 converted to float32; I32 and unsupported dtypes are errors.
  absl::StatusOr<std::vector<float>> ReadAsFloat(const TensorInfo& info) const;

 private:
  SafetensorsFile() = default;

  MappedFile file_;
  uint64_t header_len_ = 0;
  uint64_t header_checksum_ = 0;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// A checkpoint directory: model.safetensors, or model.safetensors.index.json +
// its shards.
class Checkpoint {
 public:
  static absl::StatusOr<Checkpoint> Open(const std::string& dir);

  Checkpoint(Checkpoint&&) = default;
  Checkpoint& operator=(Checkpoint&&) = default;

  const std::string& dir() const { return dir_; }
  const std::vector<SafetensorsFile>& files() const { return files_; }
  // files()[i]'s path relative to dir() ("model.safetensors",
  // "model-00001-of-00002.safetensors").
  const std::vector<std::string>& file_names() const { return file_names_; }

  struct Located {
    int file;  // index into files()
    const TensorInfo* info;
  };
  // NotFound naming the tensor and the directory.
  absl::StatusOr<Located> Find(absl::string_view name) const;
  absl::Span<const uint8_t> Data(const Located& located) const {
    return files_[located.file].Data(*located.info);
  }
  // Sorted.
  std::vector<std::string> TensorNames() const;

 private:
  Checkpoint() = default;

  std::string dir_;
  std::vector<SafetensorsFile> files_;
  std::vector<std::string> file_names_;
  std::unordered_map<std::string, Located> index_;
};

struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::string bytes;  // exactly NumElements × DTypeSize(dtype) bytes
  // When non-empty, written as the dtype instead of DTypeName(dtype) and the
  // size check uses that dtype's width (tests use it to write F64/F8 tensors).
  std::string raw_dtype;
};

// Writes a valid safetensors file (tensors in the given order, data 8-byte
// aligned as the reference implementation does). Fails on duplicate names or a
// byte count that does not match.
absl::Status WriteSafetensors(
    const std::string& path, const std::vector<TensorToWrite>& tensors,
    const std::map<std::string, std::string>& metadata = {});

// Bits per element of a safetensors dtype name (BOOL, U8..U64, I8..I64, F8_*,
// F16, BF16, F32, F64, F4, F6_*, ...); 0 when the name is not a safetensors
// dtype.
int SafetensorsDTypeBits(absl::string_view raw_dtype);

}  // namespace janus

#endif  // JANUS_RUNTIME_IO_SAFETENSORS_H_
