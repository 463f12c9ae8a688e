// Attention-side benchmarks: paged decode attention, fused RMSNorm, RoPE.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_runners.h"
#include "kernels/cuda_status.h"
#include "kernels/decode_attention.h"
#include "kernels/device_buffer.h"
#include "kernels/rms_norm.h"
#include "kernels/rope.h"
#include "kernels/sampling.h"

namespace janus::bench {
namespace {

using kernels::DeviceBuffer;

float Bf16ToFloatHost(uint16_t v) {
  const uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

namespace {

// One decode attention row: `batch` sequences of `ctx` cached tokens, Hq / Hkv heads of 128.
absl::Status BenchDecodeShape(const Options& opt, const Limits& limits, Table& table,
                              cudaStream_t stream, std::mt19937& rng, int Hkv, int ctx,
                              int batch) {
  const int Hq = 32, D = 128, page = 16;
  const double kv_bytes = 2.0 * batch * ctx * Hkv * D * 2;
  const int sets = RotationSets(kv_bytes, 16);
  const int pages_per_seq = ctx / page;
  const int num_pages = sets * batch * pages_per_seq;
  const size_t cache_elems = size_t{1} * num_pages * page * Hkv * D;
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer k, DeviceBuffer::Create(2 * cache_elems));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer v, DeviceBuffer::Create(2 * cache_elems));
  JANUS_RETURN_IF_ERROR(FillRandomBf16(k.get<uint16_t>(), cache_elems, 21, 1.f, stream));
  JANUS_RETURN_IF_ERROR(FillRandomBf16(v.get<uint16_t>(), cache_elems, 22, 1.f, stream));
  // Each set's sequences own shuffled pages (a real cache is fragmented).
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer tables, ShuffledPages(num_pages, rng));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer lens,
                         DeviceBuffer::FromHost(std::vector<int32_t>(batch, ctx)));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer q,
                         DeviceBuffer::Create(2 * size_t{1} * sets * batch * Hq * D));
  JANUS_RETURN_IF_ERROR(FillRandomBf16(q.get<uint16_t>(), size_t{1} * sets * batch * Hq * D, 23,
                                       1.f, stream));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer out,
                         DeviceBuffer::Create(2 * size_t{1} * batch * Hq * D));
  kernels::DecodeAttentionShape shape{batch, Hq, Hkv, D, page, pages_per_seq, ctx};
  const size_t ws_bytes = kernels::DecodeAttentionWorkspaceBytes(shape, limits.num_sms);
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer ws, DeviceBuffer::Create(ws_bytes));
  // Once per allocation (the split-merge counters; every launch leaves them zero).
  JANUS_RETURN_IF_ERROR(
      kernels::InitDecodeAttentionWorkspace(shape, ws.get(), ws.bytes(), stream));
  auto fn = [&](int rep, cudaStream_t s) {
    const int set = rep % sets;
    kernels::DecodeAttentionArgs a;
    a.q = q.get<uint16_t>() + size_t{1} * set * batch * Hq * D;
    a.k_cache = k.get<uint16_t>();
    a.v_cache = v.get<uint16_t>();
    a.block_table = tables.get<int32_t>() + size_t{1} * set * batch * pages_per_seq;
    a.seq_lens = lens.get<int32_t>();
    a.scale = 1.0f / std::sqrt(static_cast<float>(D));
    a.out = out.get<uint16_t>();
    a.workspace = ws.get();
    a.workspace_bytes = ws.bytes();
    return kernels::LaunchDecodeAttention(shape, a, s);
  };
  JANUS_ASSIGN_OR_RETURN(double us,
                         TimeGraphUs(fn, std::max(sets, 2), opt.quick ? 5 : 20, stream));
  table.Add({"decode_attention",
             absl::StrFormat("q%d/kv%d d%d ctx %d batch %d page %d", Hq, Hkv, D, ctx, batch,
                             page),
             us, kv_bytes, 0,
             absl::StrCat(kernels::DecodeAttentionSplits(shape, limits.num_sms),
                          " splits; target >= 70%")});
  return absl::OkStatus();
}

}  // namespace

absl::Status RunDecodeAttention(const Options& opt, const Limits& limits, Table& table,
                                cudaStream_t stream) {
  std::mt19937 rng(3);
  // q32/kv8 (group 4), then Qwen3-30B-A3B's q32/kv4 (group 8: twice the MMA rows per KV byte).
  for (int ctx : {4096, 16384, 32768}) {
    for (int batch : {1, 8, 32, 64}) {
      if (opt.quick && batch > 8) continue;
      JANUS_RETURN_IF_ERROR(BenchDecodeShape(opt, limits, table, stream, rng, 8, ctx, batch));
    }
  }
  for (int ctx : {4096, 32768}) {
    for (int batch : {1, 8, 64}) {
      if (opt.quick && batch > 8) continue;
      JANUS_RETURN_IF_ERROR(BenchDecodeShape(opt, limits, table, stream, rng, 4, ctx, batch));
    }
  }
  return absl::OkStatus();
}

absl::Status RunRmsNorm(const Options& opt, const Limits&, Table& table, cudaStream_t stream) {
  for (int width : {2048, 7168}) {
    for (int rows : {64, 4096}) {
      const size_t n = size_t{1} * rows * width;
      const double bytes = 2.0 * n * 4 + 2.0 * width;  // x, residual in; residual, y out; weight
      const int sets = RotationSets(bytes, 64);
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer x, DeviceBuffer::Create(2 * n * sets));
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer r, DeviceBuffer::Create(2 * n * sets));
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer y, DeviceBuffer::Create(2 * n * sets));
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer w, DeviceBuffer::Create(2 * width));
      JANUS_RETURN_IF_ERROR(FillRandomBf16(x.get<uint16_t>(), n * sets, 31, 1.f, stream));
      JANUS_RETURN_IF_ERROR(FillRandomBf16(r.get<uint16_t>(), n * sets, 32, 1.f, stream));
      JANUS_RETURN_IF_ERROR(FillRandomBf16(w.get<uint16_t>(), width, 33, 1.f, stream));
      auto fn = [&](int rep, cudaStream_t s) {
        const size_t off = n * (rep % sets);
        return kernels::LaunchRmsNorm(x.get<uint16_t>() + off, r.get<uint16_t>() + off,
                                      w.get<uint16_t>(), rows, width, 1e-6f,
                                      y.get<uint16_t>() + off, s);
      };
      JANUS_ASSIGN_OR_RETURN(double us, TimeGraphUs(fn, sets, opt.quick ? 5 : 20, stream));
      table.Add({"rms_norm+residual", absl::StrCat(rows, " x ", width), us, bytes, 0, ""});
    }
  }
  return absl::OkStatus();
}

absl::Status RunRope(const Options& opt, const Limits&, Table& table, cudaStream_t stream) {
  const int Hq = 32, Hk = 8, D = 128, max_pos = 32768;
  std::mt19937 rng(9);
  std::vector<float> cos(size_t{1} * max_pos * D / 2), sin(cos.size());
  for (size_t i = 0; i < cos.size(); ++i) {
    cos[i] = std::cos(0.001f * i);
    sin[i] = std::sin(0.001f * i);
  }
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_cos, DeviceBuffer::FromHost(cos));
  JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_sin, DeviceBuffer::FromHost(sin));
  for (int rows : {64, 4096}) {
    std::vector<int32_t> pos(rows);
    for (int& p : pos) p = std::uniform_int_distribution<int>(0, max_pos - 1)(rng);
    const size_t nq = size_t{1} * rows * Hq * D, nk = size_t{1} * rows * Hk * D;
    const double bytes = 2.0 * 2 * (nq + nk);
    const int sets = RotationSets(bytes, 64);
    JANUS_ASSIGN_OR_RETURN(DeviceBuffer q, DeviceBuffer::Create(2 * nq * sets));
    JANUS_ASSIGN_OR_RETURN(DeviceBuffer k, DeviceBuffer::Create(2 * nk * sets));
    JANUS_RETURN_IF_ERROR(FillRandomBf16(q.get<uint16_t>(), nq * sets, 41, 1.f, stream));
    JANUS_RETURN_IF_ERROR(FillRandomBf16(k.get<uint16_t>(), nk * sets, 42, 1.f, stream));
    JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_pos, DeviceBuffer::FromHost(pos));
    kernels::RopeShape shape;
    shape.rows = rows;
    shape.num_q_heads = Hq;
    shape.num_k_heads = Hk;
    shape.head_dim = D;
    shape.rotary_dim = D;
    shape.max_positions = max_pos;
    auto fn = [&](int rep, cudaStream_t s) {
      const int set = rep % sets;
      return kernels::LaunchRope(shape, q.get<uint16_t>() + nq * set, k.get<uint16_t>() + nk * set,
                                 d_pos.get<int32_t>(), d_cos.get<float>(), d_sin.get<float>(), s);
    };
    JANUS_ASSIGN_OR_RETURN(double us, TimeGraphUs(fn, sets, opt.quick ? 5 : 20, stream));
    table.Add({"rope", absl::StrCat(rows, " tok q", Hq, "+k", Hk, " d", D, " half-split"), us,
               bytes, 0, "cos/sin table reads not counted"});
  }
  return absl::OkStatus();
}

absl::Status RunArgmax(const Options& opt, const Limits&, Table& table, cudaStream_t stream) {
  const int vocab = 151936;
  for (int rows : {1, 64}) {
    const size_t n = size_t{1} * rows * vocab;
    const int sets = RotationSets(4.0 * n, 64);
    // Random bf16 bits widened to fp32 logits.
    JANUS_ASSIGN_OR_RETURN(DeviceBuffer raw, DeviceBuffer::Create(2 * n * sets));
    JANUS_RETURN_IF_ERROR(FillRandomBf16(raw.get<uint16_t>(), n * sets, 51, 8.f, stream));
    std::vector<uint16_t> host(n * sets);
    JANUS_CUDA_RETURN_IF_ERROR(cudaMemcpy(host.data(), raw.get(), 2 * n * sets, cudaMemcpyDeviceToHost));
    std::vector<float> logits(n * sets);
    for (size_t i = 0; i < logits.size(); ++i) logits[i] = Bf16ToFloatHost(host[i]);
    JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_l, DeviceBuffer::FromHost(logits));
    JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_t, DeviceBuffer::Create(4 * rows));
    auto fn = [&](int rep, cudaStream_t s) {
      return kernels::LaunchArgmax(d_l.get<float>() + n * (rep % sets), rows, vocab,
                                   d_t.get<int32_t>(), nullptr, s);
    };
    JANUS_ASSIGN_OR_RETURN(double us, TimeGraphUs(fn, sets, opt.quick ? 5 : 20, stream));
    table.Add({"argmax", absl::StrCat(rows, " x ", vocab, " fp32 logits"), us, 4.0 * n, 0, ""});
    // Temperature / top-k / top-p. Small path (top-k 50): argmax + 8 radix-select passes + gather
    // in one block per row. Large path (top-k 0 or > 1024): argmax (+ top-k select) in one block
    // per row, the weight histogram over the whole grid, then one gather pass per select.
    std::vector<uint64_t> seeds(rows, 42), steps(rows);
    std::iota(steps.begin(), steps.end(), 0);
    JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_seed, DeviceBuffer::FromHost(seeds));
    JANUS_ASSIGN_OR_RETURN(DeviceBuffer d_step, DeviceBuffer::FromHost(steps));
    struct SampleRow {
      kernels::SamplingConfig config;
      const char* what;
      const char* note;
    };
    for (const SampleRow& sr :
         {SampleRow{{0.8f, 50, 0.9f}, "T 0.8 top-k 50 top-p 0.9", "small path; reads the row ~10x"},
          SampleRow{{0.8f, 0, 0.9f}, "T 0.8 top-k 0 top-p 0.9", "large path, all candidates"},
          SampleRow{{0.8f, 5000, 1.0f}, "T 0.8 top-k 5000", "large path, top-k select"}}) {
      const size_t ws_bytes = kernels::SampleWorkspaceBytes(rows, vocab, sr.config);
      JANUS_ASSIGN_OR_RETURN(DeviceBuffer ws, DeviceBuffer::Create(ws_bytes));
      auto sample = [&](int rep, cudaStream_t s) {
        return kernels::LaunchSample(d_l.get<float>() + n * (rep % sets), rows, vocab, sr.config,
                                     d_seed.get<uint64_t>(), d_step.get<uint64_t>(),
                                     d_t.get<int32_t>(), nullptr, ws.get(), ws_bytes, s);
      };
      JANUS_ASSIGN_OR_RETURN(double sample_us,
                             TimeGraphUs(sample, sets, opt.quick ? 5 : 20, stream));
      table.Add({"sample", absl::StrCat(rows, " x ", vocab, " ", sr.what), sample_us, 4.0 * n, 0,
                 absl::StrCat("bytes = one pass; ", sr.note)});
    }
  }
  return absl::OkStatus();
}

}  // namespace janus::bench
