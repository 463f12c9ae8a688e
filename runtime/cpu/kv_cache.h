// Paged KV cache of one attention rank, and the batch layout that maps a step's rows onto sequences.
//
// Storage is split in blocks of `block_size` token slots; a sequence owns a list of blocks (its block
// table) shared by all layers. Each layer stores, per token, two fp32 rows:
//  - GQA/MHA layers: key [num_kv_heads * head_dim] and value [num_kv_heads * head_dim], after q/k
//    norm and RoPE (what transformers' DynamicCache holds);
//  - MLA layers: key = the compressed latent [kv_lora_rank] after kv_a_layernorm, value = k_rope
//    [qk_rope_head_dim] after RoPE (the compressed form DeepSeek caches; per-head keys and values
//    are re-expanded with kv_b_proj when attending).
// Layers may have different widths (dense and MLA layers never mix in one model, but the cache does
// not care).
#ifndef JANUS_RUNTIME_CPU_KV_CACHE_H_
#define JANUS_RUNTIME_CPU_KV_CACHE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace janus::cpu {

// Per-layer widths (floats per token) of the two rows the layer stores.
struct KvLayerSpec {
  int key_width = 0;
  int value_width = 0;
};

class PagedKvCache {
 public:
  // InvalidArgument for block_size <= 0, num_blocks <= 0, no layers or a width < 0 (a width of 0
  // is allowed: a layer that needs no cache).
  static absl::StatusOr<PagedKvCache> Create(int block_size, int num_blocks,
                                             std::vector<KvLayerSpec> layers);

  PagedKvCache(PagedKvCache&&) = default;
  PagedKvCache& operator=(PagedKvCache&&) = default;
  PagedKvCache(const PagedKvCache&) = delete;
  PagedKvCache& operator=(const PagedKvCache&) = delete;

  // A new, empty sequence; ids of freed sequences are reused (smallest first).
  absl::StatusOr<int> AddSequence();
  // Grows `seq` by num_tokens slots (positions length .. length + num_tokens - 1), allocating blocks
  // as needed. All or nothing: ResourceExhausted (naming the sequence, the blocks needed, the free
  // blocks and the block size) leaves the cache unchanged. NotFound for an unknown sequence.
  absl::Status Reserve(int seq, int num_tokens);
  // Returns the sequence's blocks to the pool. NotFound for an unknown sequence.
  absl::Status FreeSequence(int seq);

  bool HasSequence(int seq) const;
  // Reserved slots of `seq` (0 for an unknown sequence).
  int length(int seq) const;

  int block_size() const { return block_size_; }
  int num_blocks() const { return num_blocks_; }
  int num_free_blocks() const { return static_cast<int>(free_blocks_.size()); }
  int num_layers() const { return static_cast<int>(layers_.size()); }
  const KvLayerSpec& layer_spec(int layer) const { return layers_[layer]; }

  // OK when `layer` exists, `seq` is live and 0 <= position < length(seq); else an error naming them.
  absl::Status CheckSlot(int layer, int seq, int position) const;

  // The token's key/value rows. Preconditions (unchecked, see CheckSlot): valid layer, live seq,
  // 0 <= position < length(seq).
  float* Key(int layer, int seq, int position);
  float* Value(int layer, int seq, int position);
  const float* Key(int layer, int seq, int position) const;
  const float* Value(int layer, int seq, int position) const;

 private:
  PagedKvCache() = default;
  int64_t SlotIndex(int seq, int position) const;

  int block_size_ = 0;
  int num_blocks_ = 0;
  std::vector<KvLayerSpec> layers_;
  std::vector<std::vector<float>> storage_;  // per layer: [num_blocks * block_size, key + value]
  std::vector<int> free_blocks_;             // a stack; lowest block ids are handed out first
  struct Sequence {
    bool live = false;
    int length = 0;
    std::vector<int> blocks;
  };
  std::vector<Sequence> sequences_;
};

// One entry per row of a step: the row's sequence and position. Rows of one sequence appear in
// increasing position order (not necessarily contiguous); a row attends to positions 0..position of
// its own sequence, which must all have been written (this step's rows write theirs first).
struct BatchLayout {
  std::vector<int32_t> seq;
  std::vector<int32_t> position;

  int rows() const { return static_cast<int>(seq.size()); }
};

// Checks that `layout` has `rows` entries, every sequence is live in `cache`, every position is in
// [0, length(seq)) and positions of one sequence increase with the row index.
absl::Status ValidateLayout(const BatchLayout& layout, int rows, const PagedKvCache& cache);

}  // namespace janus::cpu

#endif  // JANUS_RUNTIME_CPU_KV_CACHE_H_
