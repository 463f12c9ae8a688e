// Large path (more than 1024 candidates): three kernels; the candidates are never sorted as a
// whole.
//  1. SamplePrepKernel, one block (512 threads) per row: argmax, NaN, smallest finite logit (NaN
//     and greedy rows are finished here); with top_k, the k-th key by Select on counts. Zeroes the
//     row's histogram.
//  2. SampleHistKernel, rows x chunks of 2048 logits: each kept candidate's weight
//     w = floor(p * 2^79) (p = exp(logit/T - top) in double, as on the CPU) is added to one of 256
//     buckets, bucket = floor((max - logit) * scale), which never decreases along the key order. A
//     bucket holds a count and w as two 40-bit limbs in 64-bit integers: integer sums are exact,
//     so the atomics' order cannot change them (deterministic) and every prefix sum is exact.
//  3. SampleDrawKernel, one block (512 threads) per row: total = the sum of the buckets; with top_p
//     the cut is the first candidate whose inclusive prefix >= ceil(top_p * total) (Select) and
//     total' its prefix; the token is the first candidate whose inclusive prefix
//     > floor(u * total' * 2^79) (Select).
// Select(target): the first candidate in key order whose inclusive prefix exceeds target, or the
// last candidate if none does. It picks the bucket where the prefix crosses; if that holds <= 2048
// candidates their keys are gathered, bitonic-sorted in shared memory and scanned. Otherwise
// (massive ties, outliers) the bucket is narrowed 8 key bits at a time from the highest bit where
// its keys differ, one pass over the row per level, until it is small enough to gather.
#include "kernels/common.cuh"
#include "kernels/sampling.h"
#include "kernels/sampling_internal.cuh"

namespace janus::kernels::sampling_internal {
namespace {

using u128 = unsigned __int128;
using ull = unsigned long long;

constexpr int kLargeThreads = 512;  // prep and draw kernels: one block per row
constexpr int kGather = 2048;       // candidates sorted in shared memory by Select
constexpr int kBins = 256;
constexpr int kChunk = 2048;  // logits per block of SampleHistKernel
constexpr int kChunkThreads = 256;
constexpr int kFixedBits = 79;  // weights are floor(p * 2^79); p <= 1
constexpr double kFixedUnit = 0x1p-79;
constexpr ull kLimbMask = (1ull << 40) - 1;  // weight = hi * 2^40 + lo; 2^24 limbs fit 64 bits

struct RowWork {
  ull kept_min;  // the candidates are the keys >= kept_min (the top_k-th key, or 0)
  float max_logit;
  float scale;  // bucket scale of the weight histogram
  int done;     // 1: the prep kernel wrote the token (NaN or greedy row)
  int pad[3];
  unsigned cnt[kBins];
  ull lo[kBins];
  ull hi[kBins];
};
static_assert(sizeof(RowWork) % 16 == 0, "rows of the workspace stay 16-byte aligned");

struct RowCtx {
  const float* lr;
  float max_logit;
  float scale;
  double t;
  double top;
};

// A candidate passes when key >= kept_min, it is in `bucket` (-1: any) and (key & mask) == prefix.
struct Filter {
  ull kept_min;
  int bucket;
  ull mask;
  ull prefix;
};

__device__ __forceinline__ float BucketScale(float range) {
  if (!(range > 0.f)) return 1.f;
  return fminf(fmaxf(256.f / range, 1e-30f), 1e30f);  // positive and finite: buckets stay monotone
}

// (max - l) >= 0 and the scale is positive, so the bucket never decreases as the logit decreases
// and equal logits share one; explicit rounding keeps every kernel's bucket identical.
__device__ __forceinline__ int Bucket(float l, const RowCtx& c) {
  const float d = __fmul_rn(__fsub_rn(c.max_logit, l), c.scale);
  return d < 255.f ? static_cast<int>(d) : 255;  // -inf (d = inf) and the far tail: the last
}

__device__ __forceinline__ bool Passes(const Filter& f, const RowCtx& c, float l, ull key) {
  return key >= f.kept_min && (key & f.mask) == f.prefix &&
         (f.bucket < 0 || Bucket(l, c) == f.bucket);
}

__device__ __forceinline__ ull MaskFrom(int low) { return low >= 64 ? 0 : ~((1ull << low) - 1); }

__device__ __forceinline__ double Top(float max_logit, double t) {
  return __ddiv_rn(static_cast<double>(max_logit), t);
}
// The CPU's p: exp(double(logit) / t - top).
__device__ __forceinline__ double Prob(float l, const RowCtx& c) {
  return exp(__dsub_rn(__ddiv_rn(static_cast<double>(l), c.t), c.top));
}

// floor(x * 2^79) for finite x in [0, 2^25); *inexact: nonzero bits were dropped.
__device__ __forceinline__ u128 ToFixed(double x, bool* inexact) {
  const ull b = static_cast<ull>(__double_as_longlong(x));
  const int e = static_cast<int>((b >> 52) & 0x7ff);
  if (e == 0) {  // zero or subnormal
    *inexact = (b << 1) != 0;
    return 0;
  }
  const ull m = (b & ((1ull << 52) - 1)) | (1ull << 52);
  const int s = e - 1075 + kFixedBits;  // x * 2^79 = m * 2^s
  if (s >= 0) {
    *inexact = false;
    return static_cast<u128>(m) << s;
  }
  if (s <= -64) {
    *inexact = true;
    return 0;
  }
  *inexact = (m & ((1ull << -s) - 1)) != 0;
  return m >> -s;
}

__device__ __forceinline__ u128 Weight(float l, const RowCtx& c) {
  bool inexact;
  return ToFixed(Prob(l, c), &inexact);
}

__device__ __forceinline__ double ToReal(u128 v) {
  return (static_cast<double>(static_cast<ull>(v >> 64)) * 18446744073709551616.0 +
          static_cast<double>(static_cast<ull>(v))) *
         kFixedUnit;
}

template <bool kMass>
__device__ __forceinline__ u128 BinWeight(const unsigned* cnt, const ull* lo, const ull* hi,
                                          int b) {
  if constexpr (kMass) {
    return (static_cast<u128>(hi[b]) << 40) + lo[b];
  } else {
    return cnt[b];
  }
}

__device__ __forceinline__ u128 WarpInclusiveSum(u128 v) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const ull lo = __shfl_up_sync(0xffffffffu, static_cast<ull>(v), o);
    const ull hi = __shfl_up_sync(0xffffffffu, static_cast<ull>(v >> 64), o);
    if (lane >= o) v += (static_cast<u128>(hi) << 64) | lo;
  }
  return v;
}

struct SelectShared {
  u128 before;      // ChooseBin: weight of the bins before the chosen one
  u128 res_before;  // FinishGathered: weight of the candidates before the chosen one
  u128 res_weight;  // and its own weight
  u128 total;
  ull res_key;
  ull key_min, key_max;
  int bin;
  unsigned bin_count;
  int count;
  unsigned cnt[kBins];
  ull lo[kBins];
  ull hi[kBins];
  ull keys[kGather];
  double prob[kGather];
};

// Adds the candidates of [begin, end) passing `f` to the bins: the bucket when shift < 0, else
// 255 - the 8 key bits at `shift` (bins in key order). Lanes of a warp with the same bin are summed
// first (match_any + redux on 24-bit pieces, exact) so one atomic per bin and warp remains.
template <bool kMass>
__device__ void AddToHist(const RowCtx& c, const Filter& f, int shift, int begin, int end,
                          unsigned* cnt, ull* lo, ull* hi) {
  const int lane = threadIdx.x & 31;
  const int stride = static_cast<int>(blockDim.x);
  // The loop and the ballot are warp-uniform: base is the warp's first index.
  for (int base = begin + static_cast<int>(threadIdx.x & ~31u); base < end; base += 4 * stride) {
    float v[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const int i = base + k * stride + lane;
      v[k] = i < end ? __ldg(c.lr + i) : 0.f;
    }
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const int i = base + k * stride + lane;
      const float l = v[k];
      int bin = 0;
      bool match = false;
      if (i < end) {
        const ull key = SortKey(l, i);
        if (Passes(f, c, l, key)) {
          match = true;
          bin = shift < 0 ? Bucket(l, c) : 255 - static_cast<int>((key >> shift) & 255);
        }
      }
      const unsigned active = __ballot_sync(0xffffffffu, match);
      if (!match) continue;
      const unsigned peers = __match_any_sync(active, bin);
      const bool leader = lane == __ffs(peers) - 1;
      if constexpr (kMass) {
        const u128 w = Weight(l, c);
        const ull wlo = static_cast<ull>(w) & kLimbMask;
        const ull whi = static_cast<ull>(w >> 40);
        const ull slo =
            __reduce_add_sync(peers, static_cast<unsigned>(wlo & 0xffffff)) +
            (static_cast<ull>(__reduce_add_sync(peers, static_cast<unsigned>(wlo >> 24))) << 24);
        const ull shi =
            __reduce_add_sync(peers, static_cast<unsigned>(whi & 0xffffff)) +
            (static_cast<ull>(__reduce_add_sync(peers, static_cast<unsigned>(whi >> 24))) << 24);
        if (leader) {
          atomicAdd(&cnt[bin], static_cast<unsigned>(__popc(peers)));
          if (slo != 0) atomicAdd(&lo[bin], slo);
          if (shi != 0) atomicAdd(&hi[bin], shi);
        }
      } else if (leader) {
        atomicAdd(&cnt[bin], static_cast<unsigned>(__popc(peers)));
      }
    }
  }
}

template <bool kMass>
__device__ void BuildHist(const RowCtx& c, const Filter& f, int shift, int vocab,
                          SelectShared& sh) {
  for (int b = threadIdx.x; b < kBins; b += blockDim.x) {
    sh.cnt[b] = 0;
    sh.lo[b] = 0;
    sh.hi[b] = 0;
  }
  __syncthreads();
  AddToHist<kMass>(c, f, shift, 0, vocab, sh.cnt, sh.lo, sh.hi);
  __syncthreads();
}

// Warp 0: the first bin whose inclusive prefix exceeds target, else the last non-empty bin; its
// index, count and the weight before it go to sh.
template <bool kMass>
__device__ void ChooseBin(const unsigned* cnt, const ull* lo, const ull* hi, u128 target,
                          SelectShared& sh) {
  const int lane = threadIdx.x;
  u128 sum = 0;
  unsigned any = 0;
  for (int k = 0; k < 8; ++k) {
    sum += BinWeight<kMass>(cnt, lo, hi, 8 * lane + k);
    any |= cnt[8 * lane + k];
  }
  const u128 incl = WarpInclusiveSum(sum);
  const unsigned over = __ballot_sync(0xffffffffu, incl > target);
  const unsigned nonempty = __ballot_sync(0xffffffffu, any != 0);
  const int owner = over != 0 ? __ffs(over) - 1 : 31 - __clz(nonempty | 1u);
  if (lane != owner) return;
  u128 run = incl - sum;
  int pick = 8 * lane;
  u128 pick_before = run;
  for (int k = 0; k < 8; ++k) {
    const int b = 8 * lane + k;
    const u128 w = BinWeight<kMass>(cnt, lo, hi, b);
    if (over != 0) {
      if (run + w > target) {
        pick = b;
        pick_before = run;
        break;
      }
    } else if (cnt[b] != 0) {
      pick = b;
      pick_before = run;
    }
    run += w;
  }
  sh.bin = pick;
  sh.bin_count = cnt[pick];
  sh.before = pick_before;
}

// Min and max key of the candidates passing f.
__device__ void KeyRange(const RowCtx& c, const Filter& f, int vocab, SelectShared& sh) {
  if (threadIdx.x == 0) {
    sh.key_min = ~0ull;
    sh.key_max = 0;
  }
  __syncthreads();
  ull kmin = ~0ull, kmax = 0;
  ForRow(c.lr, 0, vocab, [&](float l, int i) {
    const ull key = SortKey(l, i);
    if (Passes(f, c, l, key)) {
      kmin = min(kmin, key);
      kmax = max(kmax, key);
    }
  });
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    kmin = min(kmin, static_cast<ull>(__shfl_xor_sync(0xffffffffu, kmin, o)));
    kmax = max(kmax, static_cast<ull>(__shfl_xor_sync(0xffffffffu, kmax, o)));
  }
  if ((threadIdx.x & 31) == 0) {
    atomicMin(&sh.key_min, kmin);
    atomicMax(&sh.key_max, kmax);
  }
  __syncthreads();
}

__device__ void Gather(const RowCtx& c, const Filter& f, int vocab, SelectShared& sh) {
  if (threadIdx.x == 0) sh.count = 0;
  __syncthreads();
  ForRow(c.lr, 0, vocab, [&](float l, int i) {
    const ull key = SortKey(l, i);
    if (Passes(f, c, l, key)) {
      const int pos = atomicAdd(&sh.count, 1);
      if (pos < kGather) sh.keys[pos] = key;
    }
  });
  __syncthreads();
}

// Sorts keys[0, size) descending; size is a power of two.
__device__ void BitonicSortDescending(ull* keys, int size) {
  for (int k = 2; k <= size; k <<= 1) {
    for (int stride = k >> 1; stride > 0; stride >>= 1) {
      for (int t = threadIdx.x; t < size / 2; t += blockDim.x) {
        // The pair (i, i + stride): bit `stride` of i is clear.
        const int i = 2 * t - (t & (stride - 1));
        const int j = i + stride;
        const ull a = keys[i], b = keys[j];
        if ((i & k) == 0 ? a < b : a > b) {
          keys[i] = b;
          keys[j] = a;
        }
      }
      __syncthreads();
    }
  }
}

template <bool kMass>
__device__ __forceinline__ u128 ItemWeight(const SelectShared& sh, int i) {
  if constexpr (kMass) {
    bool inexact;
    return ToFixed(sh.prob[i], &inexact);
  } else {
    return 1;
  }
}

// Sorts the gathered keys and finds the first whose inclusive prefix exceeds target (else the
// last): key, weight before it and its weight go to sh.
template <bool kMass>
__device__ void FinishGathered(const RowCtx& c, u128 target, SelectShared& sh) {
  const int n = max(1, min(sh.count, kGather));
  int size = 1;
  while (size < n) size <<= 1;
  for (int i = n + threadIdx.x; i < size; i += blockDim.x) sh.keys[i] = 0;  // below every key
  __syncthreads();
  BitonicSortDescending(sh.keys, size);
  if constexpr (kMass) {
    for (int i = threadIdx.x; i < n; i += blockDim.x) sh.prob[i] = Prob(c.lr[KeyId(sh.keys[i])], c);
    __syncthreads();
  }
  if (threadIdx.x < 32) {
    const int lane = threadIdx.x;
    const int per = (n + 31) / 32;
    const int b0 = min(n, lane * per), b1 = min(n, b0 + per);
    u128 sum = 0;
    for (int i = b0; i < b1; ++i) sum += ItemWeight<kMass>(sh, i);
    const u128 incl = WarpInclusiveSum(sum);
    const unsigned over = __ballot_sync(0xffffffffu, incl > target);
    const int owner = over != 0 ? __ffs(over) - 1 : (n - 1) / per;
    if (lane == owner) {
      u128 run = incl - sum;
      for (int i = b0; i < b1; ++i) {
        const u128 w = ItemWeight<kMass>(sh, i);
        if (over != 0 ? run + w > target : i == n - 1) {
          sh.res_key = sh.keys[i];
          sh.res_before = run;
          sh.res_weight = w;
          break;
        }
        run += w;
      }
    }
  }
  __syncthreads();
}

struct Selected {
  ull key;
  u128 before;  // inclusive prefix = before + weight
  u128 weight;
};

// See the comment at the top of this section. Level 0 is the bucket histogram: given (cnt != null,
// the row's from SampleHistKernel) or built here. kMass: weights are floor(p * 2^79), else 1.
template <bool kMass>
__device__ Selected Select(const RowCtx& c, int vocab, ull kept_min, u128 target,
                           const unsigned* cnt, const ull* lo, const ull* hi, SelectShared& sh) {
  __syncthreads();  // every thread has read the previous Select's result
  Filter f{kept_min, -1, 0, 0};
  if (cnt == nullptr) {
    BuildHist<kMass>(c, f, -1, vocab, sh);
    cnt = sh.cnt;
    lo = sh.lo;
    hi = sh.hi;
  }
  if (threadIdx.x < 32) ChooseBin<kMass>(cnt, lo, hi, target, sh);
  __syncthreads();
  u128 above = sh.before;
  unsigned n = sh.bin_count;
  f.bucket = sh.bin;
  if (n > kGather) {
    KeyRange(c, f, vocab, sh);
    int low = 64 - __clzll(static_cast<long long>(sh.key_max ^ sh.key_min));  // >= 1: n >= 2
    f.mask = MaskFrom(low);  // bits >= low are shared by the bucket's keys
    f.prefix = sh.key_max & f.mask;
    while (n > kGather && low > 0) {
      const int shift = max(low - 8, 0);
      BuildHist<kMass>(c, f, shift, vocab, sh);
      if (threadIdx.x < 32) ChooseBin<kMass>(sh.cnt, sh.lo, sh.hi, target - above, sh);
      __syncthreads();
      above += sh.before;
      n = sh.bin_count;
      f.prefix |= static_cast<ull>(255 - sh.bin) << shift;  // bits >= low: already equal
      low = shift;
      f.mask = MaskFrom(low);
    }
  }
  Gather(c, f, vocab, sh);
  FinishGathered<kMass>(c, target - above, sh);
  return {sh.res_key, above + sh.res_before, sh.res_weight};
}

__global__ void __launch_bounds__(kLargeThreads)
    SamplePrepKernel(const float* __restrict__ logits, int vocab, SamplingConfig cfg, RowWork* work,
                     int32_t* __restrict__ token, int32_t* num_nan_rows) {
  __shared__ SelectShared sh;
  const int64_t row = blockIdx.x;
  const float* lr = logits + row * vocab;
  RowWork& w = work[row];
  for (int b = threadIdx.x; b < kBins; b += blockDim.x) {
    w.cnt[b] = 0;
    w.lo[b] = 0;
    w.hi[b] = 0;
  }
  float best, lowest;
  int best_i;
  bool nan;
  BlockArgmax(lr, vocab, &best, &best_i, &nan, &lowest);
  if (nan || cfg.temperature == 0.f || cfg.top_k == 1 || !isfinite(best)) {
    if (threadIdx.x == 0) {
      w.done = 1;
      token[row] = nan ? -1 : best_i;
      if (nan && num_nan_rows != nullptr) atomicAdd(num_nan_rows, 1);
    }
    return;
  }
  const float range = __fsub_rn(best, lowest);
  ull kept_min = 0;
  if (cfg.top_k > 0 && cfg.top_k < vocab) {
    const RowCtx c{lr, best, BucketScale(range), 1.0, 0.0};
    kept_min =
        Select<false>(c, vocab, 0, static_cast<u128>(cfg.top_k - 1), nullptr, nullptr, nullptr, sh)
            .key;
  }
  if (threadIdx.x == 0) {
    w.kept_min = kept_min;
    w.max_logit = best;
    // Past 64 T below the max p < e^-64 < 2^-79: those weights are 0, so the tail shares a bucket.
    w.scale = BucketScale(fminf(range, 64.f * cfg.temperature));
    w.done = 0;
  }
}

__global__ void __launch_bounds__(kChunkThreads)
    SampleHistKernel(const float* __restrict__ logits, int vocab, float temperature,
                     RowWork* work) {
  __shared__ unsigned cnt[kBins];
  __shared__ ull lo[kBins], hi[kBins];
  const int64_t row = blockIdx.x;
  RowWork& w = work[row];
  if (w.done) return;
  for (int b = threadIdx.x; b < kBins; b += blockDim.x) {
    cnt[b] = 0;
    lo[b] = 0;
    hi[b] = 0;
  }
  __syncthreads();
  const double t = temperature;
  const RowCtx c{logits + row * vocab, w.max_logit, w.scale, t, Top(w.max_logit, t)};
  const Filter f{w.kept_min, -1, 0, 0};
  const int begin = static_cast<int>(blockIdx.y) * kChunk;
  AddToHist<true>(c, f, -1, begin, min(vocab, begin + kChunk), cnt, lo, hi);
  __syncthreads();
  for (int b = threadIdx.x; b < kBins; b += blockDim.x) {
    if (cnt[b] == 0) continue;
    atomicAdd(&w.cnt[b], cnt[b]);
    if (lo[b] != 0) atomicAdd(&w.lo[b], lo[b]);
    if (hi[b] != 0) atomicAdd(&w.hi[b], hi[b]);
  }
}

__global__ void __launch_bounds__(kLargeThreads)
    SampleDrawKernel(const float* __restrict__ logits, int vocab, SamplingConfig cfg,
                     const uint64_t* __restrict__ seeds, const uint64_t* __restrict__ steps,
                     const RowWork* work, int32_t* __restrict__ token) {
  __shared__ SelectShared sh;
  const int64_t row = blockIdx.x;
  const RowWork& w = work[row];
  if (w.done) return;
  const double t = cfg.temperature;
  const RowCtx c{logits + row * vocab, w.max_logit, w.scale, t, Top(w.max_logit, t)};
  if (threadIdx.x < 32) {
    u128 sum = 0;
    for (int k = 0; k < 8; ++k) sum += BinWeight<true>(w.cnt, w.lo, w.hi, 8 * threadIdx.x + k);
    sum = WarpInclusiveSum(sum);
    if (threadIdx.x == 31) sh.total = sum;
  }
  __syncthreads();
  u128 total = sh.total;
  bool cut = false;
  ull cut_key = 0;
  bool inexact;
  if (cfg.top_p < 1.f) {
    // CPU: the first n with cumulative >= top_p * total, i.e. an integer prefix >= ceil(.).
    const u128 th = ToFixed(static_cast<double>(cfg.top_p) * ToReal(total), &inexact);
    const u128 ceil_th = th + (inexact ? 1 : 0);
    const Selected s =
        Select<true>(c, vocab, w.kept_min, ceil_th > 0 ? ceil_th - 1 : 0, w.cnt, w.lo, w.hi, sh);
    cut = true;
    cut_key = s.key;
    total = s.before + s.weight;
  }
  // CPU: the first candidate with u * total < cumulative, else the last kept one.
  const u128 target = ToFixed(Uniform01(seeds[row], steps[row]) * ToReal(total), &inexact);
  ull key;
  if (cut && target >= total) {
    key = cut_key;
  } else {
    key = Select<true>(c, vocab, w.kept_min, target, w.cnt, w.lo, w.hi, sh).key;
  }
  if (threadIdx.x == 0) token[row] = KeyId(key);
}

}  // namespace

size_t LargeSampleRowBytes() { return sizeof(RowWork); }

absl::Status LaunchLargeSample(const float* logits, int rows, int vocab, const SamplingConfig& c,
                               const uint64_t* seeds, const uint64_t* step_counters,
                               int32_t* token, int32_t* num_nan_rows, void* workspace,
                               cudaStream_t stream) {
  RowWork* work = static_cast<RowWork*>(workspace);
  SamplePrepKernel<<<rows, kLargeThreads, 0, stream>>>(logits, vocab, c, work, token, num_nan_rows);
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  SampleHistKernel<<<dim3(rows, CeilDiv(vocab, kChunk)), kChunkThreads, 0, stream>>>(
      logits, vocab, c.temperature, work);
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  SampleDrawKernel<<<rows, kLargeThreads, 0, stream>>>(logits, vocab, c, seeds, step_counters, work,
                                                       token);
  JANUS_CUDA_RETURN_IF_LAUNCH_ERROR();
  return absl::OkStatus();
}

}  // namespace janus::kernels::sampling_internal
