#include "runtime/cpu/kv_cache.h"

#include <algorithm>
#include <unordered_map>

#include "absl/strings/str_cat.h"

namespace janus::cpu {

absl::StatusOr<PagedKvCache> PagedKvCache::Create(int block_size, int num_blocks,
                                                  std::vector<KvLayerSpec> layers) {
  if (block_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("kv cache: block_size must be > 0, got ", block_size));
  }
  if (num_blocks <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("kv cache: num_blocks must be > 0, got ", num_blocks));
  }
  if (layers.empty()) return absl::InvalidArgumentError("kv cache: no layers");
  for (size_t l = 0; l < layers.size(); ++l) {
    if (layers[l].key_width < 0 || layers[l].value_width < 0) {
      return absl::InvalidArgumentError(absl::StrCat("kv cache: layer ", l, " has negative width (key ",
                                                     layers[l].key_width, ", value ",
                                                     layers[l].value_width, ")"));
    }
  }
  PagedKvCache cache;
  cache.block_size_ = block_size;
  cache.num_blocks_ = num_blocks;
  cache.layers_ = std::move(layers);
  const int64_t slots = static_cast<int64_t>(block_size) * num_blocks;
  cache.storage_.resize(cache.layers_.size());
  for (size_t l = 0; l < cache.layers_.size(); ++l) {
    const int64_t width = cache.layers_[l].key_width + cache.layers_[l].value_width;
    cache.storage_[l].assign(static_cast<size_t>(slots * width), 0.0f);
  }
  cache.free_blocks_.reserve(num_blocks);
  for (int b = num_blocks - 1; b >= 0; --b) cache.free_blocks_.push_back(b);
  return cache;
}

absl::StatusOr<int> PagedKvCache::AddSequence() {
  for (size_t s = 0; s < sequences_.size(); ++s) {
    if (!sequences_[s].live) {
      sequences_[s] = Sequence{true, 0, {}};
      return static_cast<int>(s);
    }
  }
  sequences_.push_back(Sequence{true, 0, {}});
  return static_cast<int>(sequences_.size() - 1);
}

bool PagedKvCache::HasSequence(int seq) const {
  return seq >= 0 && seq < static_cast<int>(sequences_.size()) && sequences_[seq].live;
}

int PagedKvCache::length(int seq) const { return HasSequence(seq) ? sequences_[seq].length : 0; }

absl::Status PagedKvCache::Reserve(int seq, int num_tokens) {
  if (!HasSequence(seq)) return absl::NotFoundError(absl::StrCat("kv cache: no sequence ", seq));
  if (num_tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat("kv cache: cannot reserve ", num_tokens,
                                                   " tokens for sequence ", seq));
  }
  Sequence& s = sequences_[seq];
  const int64_t new_length = static_cast<int64_t>(s.length) + num_tokens;
  const int64_t blocks_needed = (new_length + block_size_ - 1) / block_size_;
  const int64_t extra = blocks_needed - static_cast<int64_t>(s.blocks.size());
  if (extra > static_cast<int64_t>(free_blocks_.size())) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "kv cache out of blocks: sequence ", seq, " needs ", extra, " more block(s) of ", block_size_,
        " tokens to grow from ", s.length, " to ", new_length, " tokens, but only ",
        free_blocks_.size(), " of ", num_blocks_, " blocks are free"));
  }
  for (int64_t i = 0; i < extra; ++i) {
    s.blocks.push_back(free_blocks_.back());
    free_blocks_.pop_back();
  }
  s.length = static_cast<int>(new_length);
  return absl::OkStatus();
}

absl::Status PagedKvCache::FreeSequence(int seq) {
  if (!HasSequence(seq)) return absl::NotFoundError(absl::StrCat("kv cache: no sequence ", seq));
  Sequence& s = sequences_[seq];
  // Push back in reverse so the lowest ids come out first again.
  std::vector<int> blocks = std::move(s.blocks);
  std::sort(blocks.begin(), blocks.end(), std::greater<int>());
  free_blocks_.insert(free_blocks_.end(), blocks.begin(), blocks.end());
  std::sort(free_blocks_.begin(), free_blocks_.end(), std::greater<int>());
  s = Sequence{};
  return absl::OkStatus();
}

absl::Status PagedKvCache::CheckSlot(int layer, int seq, int position) const {
  if (layer < 0 || layer >= num_layers()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kv cache: layer ", layer, " outside [0, ", num_layers(), ")"));
  }
  if (!HasSequence(seq)) return absl::NotFoundError(absl::StrCat("kv cache: no sequence ", seq));
  if (position < 0 || position >= sequences_[seq].length) {
    return absl::OutOfRangeError(absl::StrCat("kv cache: position ", position, " of sequence ", seq,
                                              " outside its reserved length ",
                                              sequences_[seq].length));
  }
  return absl::OkStatus();
}

int64_t PagedKvCache::SlotIndex(int seq, int position) const {
  const Sequence& s = sequences_[seq];
  return static_cast<int64_t>(s.blocks[position / block_size_]) * block_size_ +
         position % block_size_;
}

float* PagedKvCache::Key(int layer, int seq, int position) {
  const KvLayerSpec& spec = layers_[layer];
  return storage_[layer].data() + SlotIndex(seq, position) * (spec.key_width + spec.value_width);
}

float* PagedKvCache::Value(int layer, int seq, int position) {
  return Key(layer, seq, position) + layers_[layer].key_width;
}

const float* PagedKvCache::Key(int layer, int seq, int position) const {
  return const_cast<PagedKvCache*>(this)->Key(layer, seq, position);
}

const float* PagedKvCache::Value(int layer, int seq, int position) const {
  return const_cast<PagedKvCache*>(this)->Value(layer, seq, position);
}

absl::Status ValidateLayout(const BatchLayout& layout, int rows, const PagedKvCache& cache) {
  if (layout.seq.size() != static_cast<size_t>(rows) ||
      layout.position.size() != static_cast<size_t>(rows)) {
    return absl::InvalidArgumentError(absl::StrCat("batch layout has ", layout.seq.size(),
                                                   " sequence and ", layout.position.size(),
                                                   " position entries for ", rows, " rows"));
  }
  std::unordered_map<int32_t, int32_t> last_position;
  for (int r = 0; r < rows; ++r) {
    const int32_t seq = layout.seq[r];
    const int32_t pos = layout.position[r];
    if (!cache.HasSequence(seq)) {
      return absl::InvalidArgumentError(
          absl::StrCat("batch layout row ", r, ": sequence ", seq, " is not in the KV cache"));
    }
    if (pos < 0 || pos >= cache.length(seq)) {
      return absl::InvalidArgumentError(absl::StrCat("batch layout row ", r, ": position ", pos,
                                                     " outside the reserved length ",
                                                     cache.length(seq), " of sequence ", seq));
    }
    auto [it, inserted] = last_position.emplace(seq, pos);
    if (!inserted) {
      if (pos <= it->second) {
        return absl::InvalidArgumentError(absl::StrCat(
            "batch layout row ", r, ": position ", pos, " of sequence ", seq,
            " does not follow the previous row's position ", it->second));
      }
      it->second = pos;
    }
  }
  return absl::OkStatus();
}

}  // namespace janus::cpu
