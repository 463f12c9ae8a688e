// janus-bench rows for the general paged attention (kernels/paged_attention.h): DeepSeek MLA decode
// over the latent cache (the cuda backend's MLA path: one kv head, key [c_kv | k_pe], value = c_kv)
// against the cache bytes, and a causal GQA prefill chunk against the matrix rate.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_runners.h"
#include "bench/bench_util.h"
#include "kernels/cuda_status.h"
#include "kernels/device_buffer.h"
#include "kernels/mla_decode.h"
#include "kernels/paged_attention.h"

namespace janus::bench {

using kernels::DeviceBuffer;

absl::Status RunPagedAttention(const Options& opt, const Limits& limits, Table& table,
                               cudaStream_t stream) {
  std::mt19937 rng(5);
  const int page = 16;
  // MLA decode: batch sequences of ctx tokens each, one query row per sequence.
  for (int heads : {16, 128}) {
    const int ctx = 4096, L = 512, R = 64, row = L + R;
    for (int batch : {1, 8, 32, 64}) {
      if (opt.quick && batch > 8) continue;
      const double bytes = 1.0 * batch * ctx * row * 2;
      const int sets = RotationSets(bytes, 16);
      const int pages_per_seq = ctx / page;
      const int num_pages = sets * batch * pages_per_seq;
      const size_t cache_elems = size_t{1} * num_pages * page * row;
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer cache, DeviceBuffer::Create(2 * cache_elems));
      JANUS_RETURN_IF_ERROR(FillRandomBf16(cache.get<uint16_t>(), cache_elems, 41, 1.f, stream));
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer tables, ShuffledPages(num_pages, rng));
      std::vector<int32_t> seq(batch), pos(batch, ctx - 1);
      std::iota(seq.begin(), seq.end(), 0);
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer row_seq, DeviceBuffer::FromHost(seq));
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer row_pos, DeviceBuffer::FromHost(pos));
      const size_t q_elems = size_t{1} * batch * heads * row;
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer q, DeviceBuffer::Create(2 * q_elems));
      JANUS_RETURN_IF_ERROR(FillRandomBf16(q.get<uint16_t>(), q_elems, 42, 1.f, stream));
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer out, DeviceBuffer::Create(2 * size_t{1} * batch * heads * L));
      kernels::PagedAttentionShape shape;
      shape.rows = batch;
      shape.num_heads = heads;
      shape.num_kv_heads = 1;
      shape.qk_dim = row;
      shape.v_dim = L;
      shape.page_size = page;
      shape.max_pages_per_seq = pages_per_seq;
      auto fn = [&](int rep, cudaStream_t s) {
        const int set = rep % sets;
        kernels::PagedAttentionArgs a;
        a.q = q.get<uint16_t>();
        a.k_cache = cache.get<uint16_t>();
        a.v_cache = cache.get<uint16_t>();
        a.k_token_stride = a.v_token_stride = row;
        a.row_seq = row_seq.get<int32_t>();
        a.row_pos = row_pos.get<int32_t>();
        a.block_table = tables.get<int32_t>() + size_t{1} * set * batch * pages_per_seq;
        a.scale = 1.0f / std::sqrt(192.0f);
        a.out = out.get<uint16_t>();
        return kernels::LaunchPagedAttention(shape, a, s);
      };
      JANUS_ASSIGN_OR_RETURN(double us, TimeGraphUs(fn, std::max(sets, 2), opt.quick ? 5 : 20, stream));
      table.Add({"paged_attention",
                 absl::StrFormat("mla decode h%d kv1 576/512 ctx %d batch %d", heads, ctx, batch),
                 us, bytes, 0,
                 absl::StrCat(kernels::PagedAttentionSplits(shape, limits.num_sms),
                              " splits; latent cache read once")});
      // The dedicated split-KV MLA decode kernel (what the cuda backend runs for these shapes).
      const std::vector<int32_t> lens(batch, ctx);
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_lens, DeviceBuffer::FromHost(lens));
      kernels::MlaDecodeShape ms{batch, heads, page, pages_per_seq, ctx};
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer ws,
                             DeviceBuffer::Create(kernels::MlaDecodeWorkspaceBytes(ms, limits.num_sms)));
      auto mla = [&](int rep, cudaStream_t s) {
        const int set = rep % sets;
        kernels::MlaDecodeArgs a;
        a.q = q.get<uint16_t>();
        a.cache = cache.get<uint16_t>();
        a.block_table = tables.get<int32_t>() + size_t{1} * set * batch * pages_per_seq;
        a.seq_lens = d_lens.get<int32_t>();
        a.scale = 1.0f / std::sqrt(192.0f);
        a.out = out.get<uint16_t>();
        a.workspace = ws.get();
        a.workspace_bytes = ws.bytes();
        return kernels::LaunchMlaDecode(ms, a, s);
      };
      JANUS_ASSIGN_OR_RETURN(double mla_us,
                             TimeGraphUs(mla, std::max(sets, 2), opt.quick ? 5 : 20, stream));
      // Absorbed MLA: 2 (576 + 512) flops per head per cached token. The roofline fraction is
      // max(latent bytes / HBM rate, flops / measured matrix rate) / time.
      const double flops = 2.0 * (row + L) * heads * batch * ctx;
      const double tflops = flops / (mla_us * 1e6);
      const double bound_us = std::max(
          limits.hbm_gbps > 0 ? bytes / (limits.hbm_gbps * 1e3) : 0.0,
          limits.bf16_tflops > 0 ? flops / (limits.bf16_tflops * 1e6) : 0.0);
      table.Add({"mla_decode",
                 absl::StrFormat("h%d 576/512 ctx %d batch %d page %d", heads, ctx, batch, page),
                 mla_us, bytes, flops,
                 absl::StrFormat("%d splits; %.0f TF/s = %.0f%% of mma; roofline %.0f%%",
                                 kernels::MlaDecodeSplits(ms, limits.num_sms), tflops,
                                 limits.bf16_tflops > 0 ? 100 * tflops / limits.bf16_tflops : 0.0,
                                 100 * bound_us / mla_us)});
    }
  }
  // Causal GQA prefill: one sequence, `rows` new tokens at positions 0 .. rows-1.
  {
    const int Hq = 32, Hkv = 8, D = 128;
    for (int rows : {512, 2048, 8192}) {
      const int pages_per_seq = rows / page;
      const size_t cache_elems = size_t{1} * rows * Hkv * D;
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer k, DeviceBuffer::Create(2 * cache_elems));
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer v, DeviceBuffer::Create(2 * cache_elems));
      JANUS_RETURN_IF_ERROR(FillRandomBf16(k.get<uint16_t>(), cache_elems, 43, 1.f, stream));
      JANUS_RETURN_IF_ERROR(FillRandomBf16(v.get<uint16_t>(), cache_elems, 44, 1.f, stream));
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer tables, ShuffledPages(pages_per_seq, rng));
      std::vector<int32_t> seq(rows, 0), pos(rows);
      std::iota(pos.begin(), pos.end(), 0);
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer row_seq, DeviceBuffer::FromHost(seq));
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer row_pos, DeviceBuffer::FromHost(pos));
      const size_t q_elems = size_t{1} * rows * Hq * D;
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer q, DeviceBuffer::Create(2 * q_elems));
      JANUS_RETURN_IF_ERROR(FillRandomBf16(q.get<uint16_t>(), q_elems, 45, 1.f, stream));
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer out, DeviceBuffer::Create(2 * q_elems));
      kernels::PagedAttentionShape shape;
      shape.rows = rows;
      shape.num_heads = Hq;
      shape.num_kv_heads = Hkv;
      shape.qk_dim = shape.v_dim = D;
      shape.page_size = page;
      shape.max_pages_per_seq = pages_per_seq;
      auto fn = [&](int, cudaStream_t s) {
        kernels::PagedAttentionArgs a;
        a.q = q.get<uint16_t>();
        a.k_cache = k.get<uint16_t>();
        a.v_cache = v.get<uint16_t>();
        a.k_token_stride = a.v_token_stride = Hkv * D;
        a.row_seq = row_seq.get<int32_t>();
        a.row_pos = row_pos.get<int32_t>();
        a.block_table = tables.get<int32_t>();
        a.scale = 1.0f / std::sqrt(static_cast<float>(D));
        a.out = out.get<uint16_t>();
        return kernels::LaunchPagedAttention(shape, a, s);
      };
      JANUS_ASSIGN_OR_RETURN(double us, TimeGraphUs(fn, 2, opt.quick ? 3 : 10, stream));
      // QKᵀ and PV over the causal triangle: 2 · 2 · D flops per (head, row, key).
      const double keys = 0.5 * rows * (rows + 1.0);
      table.Add({"paged_attention",
                 absl::StrFormat("gqa prefill q%d/kv%d d%d %d rows causal", Hq, Hkv, D, rows), us,
                 0, 4.0 * Hq * D * keys, "tensor-core path (paged_attention_mma.h)"});
    }
  }
  return absl::OkStatus();
}

}  // namespace janus::bench
