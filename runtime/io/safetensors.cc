#include "runtime/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "runtime/base/checksum.h"
#include "runtime/base/status.h"

namespace janus {
namespace {

using Json = nlohmann::json;

// The header must fit in memory comfortably; the reference implementation caps
// it at 100 MB.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

uint64_t ReadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// A non-negative integer that fits in uint64_t (nlohmann stores small
// non-negative numbers as unsigned, negative ones as signed, everything else as
// float).
bool AsUint64(const Json& j, uint64_t* out) {
  if (j.is_number_unsigned()) {
    *out = j.get<uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(j.get<int64_t>());
    return true;
  }
  return false;
}

struct ParsedEntry {
  TensorInfo info;
  uint64_t begin = 0;  // relative to the data section
  uint64_t end = 0;
};

absl::Status ParseEntry(const std::string& path, const std::string& name,
                        const Json& entry, uint64_t data_base,
                        uint64_t data_size, ParsedEntry* out) {
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(
        "safetensors file '", path, "': tensor '", name, "': ", what));
  };
  if (!entry.is_object()) return error("entry is not a JSON object");
  auto dtype_it = entry.find("dtype");
  if (dtype_it == entry.end() || !dtype_it->is_string())
    return error("missing string 'dtype'");
  auto shape_it = entry.find("shape");
  if (shape_it == entry.end() || !shape_it->is_array())
    return error("missing array 'shape'");
  auto offsets_it = entry.find("data_offsets");
  if (offsets_it == entry.end() || !offsets_it->is_array() ||
      offsets_it->size() != 2) {
    return error("missing 'data_offsets' [begin, end]");
  }

  TensorInfo& info = out->info;
  info.name = name;
  info.raw_dtype = dtype_it->get<std::string>();
  int bits = SafetensorsDTypeBits(info.raw_dtype);
  if (bits == 0)
    return error(absl::StrCat("unknown dtype '", info.raw_dtype, "'"));
  info.dtype_supported = ParseDType(info.raw_dtype, &info.dtype);

  uint64_t elements = 1;
  for (const Json& dim : *shape_it) {
    uint64_t d;
    if (!AsUint64(dim, &d) ||
        d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return error(
          absl::StrCat("shape ", shape_it->dump(),
                       " has a dimension that is not a non-negative integer"));
    }
    info.shape.push_back(static_cast<int64_t>(d));
    if (d != 0 && elements > std::numeric_limits<uint64_t>::max() / 64 / d) {
      return error(
          absl::StrCat("shape ", ShapeString(info.shape), " is too large"));
    }
    elements *= d;
  }
  uint64_t total_bits = elements * static_cast<uint64_t>(bits);
  if (total_bits % 8 != 0) {
    return error(absl::StrCat("shape ", ShapeString(info.shape), " of dtype ",
                              info.raw_dtype,
                              " is not a whole number of bytes"));
  }
  uint64_t expected = total_bits / 8;

  if (!AsUint64((*offsets_it)[0], &out->begin) ||
      !AsUint64((*offsets_it)[1], &out->end)) {
    return error("data_offsets are not non-negative integers");
  }
  if (out->begin > out->end) {
    return error(absl::StrCat("data_offsets [", out->begin, ", ", out->end,
                              "] end before they begin"));
  }
  if (out->end > data_size) {
    return error(absl::StrCat("data_offsets [", out->begin, ", ", out->end,
                              "] run past the end of the data section (",
                              data_size, " bytes)"));
  }
  if (out->end - out->begin != expected) {
    return error(absl::StrCat("data_offsets [", out->begin, ", ", out->end,
                              "] hold ", out->end - out->begin, " bytes, but ",
                              info.raw_dtype, " ", ShapeString(info.shape),
                              " needs ", expected));
  }
  info.offset = data_base + out->begin;
  info.nbytes = expected;
  return absl::OkStatus();
}

}  // namespace

int SafetensorsDTypeBits(absl::string_view d) {
  if (d == "BOOL" || d == "U8" || d == "I8" || d == "F8_E5M2" ||
      d == "F8_E4M3" || d == "F8_E8M0") {
    return 8;
  }
  if (d == "I16" || d == "U16" || d == "F16" || d == "BF16") return 16;
  if (d == "I32" || d == "U32" || d == "F32") return 32;
  if (d == "I64" || d == "U64" || d == "F64" || d == "C64") return 64;
  if (d == "F4") return 4;
  if (d == "F6_E2M3" || d == "F6_E3M2") return 6;
  return 0;
}

int64_t TensorInfo::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  SafetensorsFile result;
  JANUS_ASSIGN_OR_RETURN(result.file_, MappedFile::Open(path));
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("safetensors file '", path, "': ", what));
  };
  const uint64_t size = result.file_.size();
  if (size < 8) {
    return error(absl::StrCat(
        "file is ", size, " bytes, too short for the 8-byte header length"));
  }
  const uint8_t* bytes = result.file_.data();
  const uint64_t header_len = ReadLe64(bytes);
  if (header_len > size - 8) {
    return error(absl::StrCat("header length ", header_len,
                              " runs past the end of the file (", size,
                              " bytes)"));
  }
  if (header_len > kMaxHeaderBytes) {
    return error(absl::StrCat("header length ", header_len, " exceeds the ",
                              kMaxHeaderBytes, "-byte limit"));
  }
  result.header_len_ = header_len;
  result.header_checksum_ = Fnv1a64(bytes, 8 + header_len);
  const uint64_t data_base = 8 + header_len;
  const uint64_t data_size = size - data_base;

  // nlohmann keeps the last of duplicate keys silently; a duplicated tensor
  // name is corruption.
  std::set<std::string> seen;
  std::string duplicate;
  Json::parser_callback_t track_keys = [&](int depth, Json::parse_event_t event,
                                           Json& parsed) {
    if (event == Json::parse_event_t::key && depth == 1 && parsed.is_string()) {
      if (!seen.insert(parsed.get<std::string>()).second && duplicate.empty()) {
        duplicate = parsed.get<std::string>();
      }
    }
    return true;
  };
  Json header;
  try {
    const char* begin = reinterpret_cast<const char*>(bytes + 8);
    header = Json::parse(begin, begin + header_len, track_keys);
  } catch (const Json::exception& e) {
    return error(absl::StrCat("header is not valid JSON: ", e.what()));
  }
  if (!header.is_object()) return error("header is not a JSON object");
  if (!duplicate.empty())
    return error(absl::StrCat("tensor '", duplicate, "' appears twice"));

  std::vector<ParsedEntry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return error("__metadata__ is not a JSON object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) {
          return error(absl::StrCat("__metadata__ value of '", m.key(),
                                    "' is not a string"));
        }
        result.metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    ParsedEntry entry;
    JANUS_RETURN_IF_ERROR(
        ParseEntry(path, it.key(), *it, data_base, data_size, &entry));
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(),
            [](const ParsedEntry& a, const ParsedEntry& b) {
              return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
            });
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].begin < entries[i - 1].end) {
      return error(absl::StrCat(
          "tensors '", entries[i - 1].info.name, "' [", entries[i - 1].begin,
          ", ", entries[i - 1].end, ") and '", entries[i].info.name, "' [",
          entries[i].begin, ", ", entries[i].end, ") overlap"));
    }
  }
  result.tensors_.reserve(entries.size());
  for (ParsedEntry& entry : entries) {
    result.index_.emplace(entry.info.name, result.tensors_.size());
    result.tensors_.push_back(std::move(entry.info));
  }
  return result;
}

const TensorInfo* SafetensorsFile::Find(absl::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

absl::Span<const uint8_t> SafetensorsFile::Data(const TensorInfo& info) const {
  return absl::Span<const uint8_t>(file_.data() + info.offset, info.nbytes);
}

absl::StatusOr<absl::Span<const uint8_t>> SafetensorsFile::CheckedData(
    const TensorInfo& info) const {
  if (!info.dtype_supported) {
    return absl::UnimplementedError(absl::StrCat(
        "safetensors file '", path(), "': tensor '", info.name, "' has dtype ",
        info.raw_dtype,
        ", which Janus does not support (supported: F32, F16, BF16, I32)"));
  }
  return Data(info);
}

absl::StatusOr<std::vector<float>> SafetensorsFile::ReadAsFloat(
    const TensorInfo& info) const {
  JANUS_ASSIGN_OR_RETURN(absl::Span<const uint8_t> data, CheckedData(info));
  const size_t n = static_cast<size_t>(info.NumElements());
  std::vector<float> out(n);
  switch (info.dtype) {
    case DType::kF32:
      std::memcpy(out.data(), data.data(), n * 4);
      break;
    case DType::kBF16:
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t v;
        std::memcpy(&v, data.data() + 2 * i, 2);
        out[i] = info.dtype == DType::kBF16 ? Bf16ToFloat(v) : HalfToFloat(v);
      }
      break;
    case DType::kI32:
      return absl::InvalidArgumentError(
          absl::StrCat("safetensors file '", path(), "': tensor '", info.name,
                       "' is I32, not a float tensor"));
  }
  return out;
}

absl::Status WriteSafetensors(
    const std::string& path, const std::vector<TensorToWrite>& tensors,
    const std::map<std::string, std::string>& metadata) {
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("writing safetensors file '", path, "': ", what));
  };
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  std::set<std::string> names;
  for (const TensorToWrite& t : tensors) {
    if (t.name == "__metadata__" || !names.insert(t.name).second) {
      return error(
          absl::StrCat("tensor name '", t.name, "' is reserved or used twice"));
    }
    std::string dtype =
        t.raw_dtype.empty() ? std::string(DTypeName(t.dtype)) : t.raw_dtype;
    int bits = SafetensorsDTypeBits(dtype);
    if (bits == 0)
      return error(
          absl::StrCat("tensor '", t.name, "': unknown dtype '", dtype, "'"));
    uint64_t elements = 1;
    for (int64_t d : t.shape) {
      if (d < 0)
        return error(absl::StrCat("tensor '", t.name, "': negative dimension"));
      elements *= static_cast<uint64_t>(d);
    }
    if (elements * bits != t.bytes.size() * 8) {
      return error(absl::StrCat(
          "tensor '", t.name, "': ", t.bytes.size(), " bytes given, ", dtype,
          " ", ShapeString(t.shape), " needs ", elements * bits / 8));
    }
    nlohmann::ordered_json entry;
    entry["dtype"] = dtype;
    entry["shape"] = t.shape;
    entry["data_offsets"] = {offset, offset + t.bytes.size()};
    header[t.name] = std::move(entry);
    offset += t.bytes.size();
  }
  std::string json;
  try {
    json = header.dump();
  } catch (const nlohmann::json::exception& e) {
    return error(absl::StrCat("tensor names and metadata must be valid UTF-8: ",
                              e.what()));
  }
  // The reference writer pads the header with spaces so the data section starts
  // 8-byte aligned.
  json.append((8 - json.size() % 8) % 8, ' ');

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create '", path, "'"));
  uint8_t len[8];
  for (int i = 0; i < 8; ++i)
    len[i] =
        static_cast<uint8_t>(static_cast<uint64_t>(json.size()) >> (8 * i));
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(json.data(), static_cast<std::streamsize>(json.size()));
  for (const TensorToWrite& t : tensors) {
    out.write(t.bytes.data(), static_cast<std::streamsize>(t.bytes.size()));
  }
  out.close();
  if (!out)
    return absl::DataLossError(absl::StrCat("writing '", path, "' failed"));
  return absl::OkStatus();
}

}  // namespace janus
