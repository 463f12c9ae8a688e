// Checkpoint directories: model.safetensors (preferred, as transformers does)
// or model.safetensors.index.json naming the shard of every tensor.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "runtime/base/status.h"
#include "runtime/io/safetensors.h"

namespace janus {
namespace {

constexpr char kSingleFile[] = "model.safetensors";
constexpr char kIndexFile[] = "model.safetensors.index.json";

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

bool IsRegularFile(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

// Shard names are plain file names inside the checkpoint directory.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name != "." &&
         name != "..";
}

absl::StatusOr<std::map<std::string, std::string>> ReadWeightMap(
    const std::string& path) {
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint index '", path, "': ", what));
  };
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open '", path, "'"));
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    return error(absl::StrCat("not valid JSON: ", e.what()));
  }
  if (!index.is_object()) return error("not a JSON object");
  auto map_it = index.find("weight_map");
  if (map_it == index.end() || !map_it->is_object())
    return error("missing object 'weight_map'");
  std::map<std::string, std::string> weight_map;
  for (auto it = map_it->begin(); it != map_it->end(); ++it) {
    if (!it->is_string() || !IsPlainFileName(it->get<std::string>())) {
      return error(
          absl::StrCat("weight_map entry for tensor '", it.key(),
                       "' is not a file name in the checkpoint directory"));
    }
    weight_map[it.key()] = it->get<std::string>();
  }
  if (weight_map.empty()) return error("weight_map is empty");
  return weight_map;
}

}  // namespace

absl::StatusOr<Checkpoint> Checkpoint::Open(const std::string& dir) {
  Checkpoint result;
  result.dir_ = dir;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat("checkpoint directory '", dir, "' does not exist"));
  }
  const std::string single = JoinPath(dir, kSingleFile);
  const std::string index_path = JoinPath(dir, kIndexFile);
  if (IsRegularFile(single)) {
    JANUS_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(single));
    result.files_.push_back(std::move(file));
    result.file_names_.push_back(kSingleFile);
    for (const TensorInfo& info : result.files_[0].tensors()) {
      result.index_.emplace(info.name, Located{0, &info});
    }
    return result;
  }
  if (!IsRegularFile(index_path)) {
    return absl::NotFoundError(absl::StrCat("checkpoint directory '", dir,
                                            "' has neither ", kSingleFile,
                                            " nor ", kIndexFile));
  }
  JANUS_ASSIGN_OR_RETURN(auto weight_map, ReadWeightMap(index_path));
  // Shards in name order, so file indices do not depend on the JSON's key
  // order.
  std::map<std::string, int> shard_index;
  for (const auto& [name, shard] : weight_map) shard_index.emplace(shard, 0);
  for (auto& [shard, i] : shard_index) {
    i = static_cast<int>(result.files_.size());
    const std::string shard_path = JoinPath(dir, shard);
    if (!IsRegularFile(shard_path)) {
      return absl::NotFoundError(absl::StrCat("checkpoint '", dir, "': shard '",
                                              shard, "' listed in ", kIndexFile,
                                              " is missing"));
    }
    JANUS_ASSIGN_OR_RETURN(SafetensorsFile file,
                           SafetensorsFile::Open(shard_path));
    result.files_.push_back(std::move(file));
    result.file_names_.push_back(shard);
  }
  for (const auto& [name, shard] : weight_map) {
    int i = shard_index.at(shard);
    const TensorInfo* info = result.files_[i].Find(name);
    if (info == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "checkpoint '", dir, "': ", kIndexFile, " puts tensor '", name,
          "' in shard '", shard, "', which does not contain it"));
    }
    result.index_.emplace(name, Located{i, info});
  }
  return result;
}

absl::StatusOr<Checkpoint::Located> Checkpoint::Find(
    absl::string_view name) const {
  auto it = index_.find(std::string(name));
  if (it == index_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "tensor '", name, "' is not in the checkpoint '", dir_, "'"));
  }
  return it->second;
}

std::vector<std::string> Checkpoint::TensorNames() const {
  std::vector<std::string> names;
  names.reserve(index_.size());
  for (const auto& [name, located] : index_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace janus
