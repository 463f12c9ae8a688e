// The cuda backend's instructions: each enqueues kernels on the backend's stream (no host
// synchronisation, so a decode step can be captured in a graph), reading and writing device
// registers.
#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.h"
#include "kernels/decode_attention.h"
#include "kernels/elementwise.h"
#include "kernels/expert_ffn.h"
#include "kernels/mla_decode.h"
#include "kernels/paged_attention.h"
#include "kernels/rms_norm.h"
#include "kernels/rope.h"
#include "kernels/router.h"
#include "kernels/scheduler.h"
#include "runtime/base/status.h"
#include "runtime/cuda/backend.h"
#include "runtime/exec/program_check.h"

namespace janus::cuda {
namespace {

absl::Status Expect(const DeviceTensor& t, DType dtype, int64_t cols, const char* what) {
  if (!t.defined()) return absl::InternalError(absl::StrCat(what, " is unset"));
  if (t.dtype != dtype || (cols >= 0 && t.cols != cols)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is ", t.ShapeString(), ", expected ",
                                                   DTypeName(dtype), " with ", cols, " columns"));
  }
  return absl::OkStatus();
}

bool FastDecodeShape(int heads, int kv_heads, int head_dim) {
  const int group = heads / kv_heads;
  return (head_dim == 64 || head_dim == 128 || head_dim == 256) &&
         (group == 1 || group == 2 || group == 4 || group == 8);
}

}  // namespace

absl::Status CudaBackend::Gemm(const DeviceTensor& x, const DeviceWeight& w, DType out_dtype,
                               DeviceTensor* y, const char* what) {
  JANUS_RETURN_IF_ERROR(Expect(x, DType::kBF16, w.cols, what));
  JANUS_ASSIGN_OR_RETURN(*y, New(x.rows, w.rows, out_dtype, what));
  return kernels::GemmBf16(blas_, x.bf16(), w.data, static_cast<int>(x.rows),
                           static_cast<int>(w.rows), static_cast<int>(w.cols),
                           out_dtype == DType::kF32 ? kernels::GemmOutput::kF32
                                                    : kernels::GemmOutput::kBf16,
                           y->buffer.get(), stream_);
}

absl::Status CudaBackend::ExecuteAttention(int pc, const plan::Instr& instr) {
  // Inputs by value: an instruction may write the register it reads (x = add(x, y)), and the
  // output's new buffer must not replace the input while the kernels still read it.
  auto in = [&](int k) -> DeviceTensor { return registers_[instr.inputs()->Get(k)]; };
  auto out = [&](int k) -> DeviceTensor* { return &registers_[instr.outputs()->Get(k)]; };
  const int64_t T = shape_.rows;
  switch (instr.params_type()) {
    case plan::OpParams::EmbedParams: {
      JANUS_ASSIGN_OR_RETURN(DeviceWeight table,
                             model_->Get(instr.params_as_EmbedParams()->table()));
      JANUS_RETURN_IF_ERROR(Expect(in(0), DType::kI32, 1, "token ids"));
      JANUS_ASSIGN_OR_RETURN(*out(0), New(T, table.cols, DType::kBF16, "embedding"));
      return kernels::LaunchEmbedding(table.data, in(0).i32(), static_cast<int>(T),
                                      static_cast<int>(table.rows), static_cast<int>(table.cols),
                                      out(0)->bf16(), nullptr, stream_);
    }
    case plan::OpParams::RmsNormParams: {
      const auto* p = instr.params_as_RmsNormParams();
      JANUS_ASSIGN_OR_RETURN(DeviceWeight w, model_->Get(p->weight()));
      const DeviceTensor& x = in(0);
      JANUS_RETURN_IF_ERROR(Expect(x, DType::kBF16, w.rows * w.cols, "rms_norm input"));
      JANUS_ASSIGN_OR_RETURN(*out(0), New(x.rows, x.cols, DType::kBF16, "rms_norm"));
      return kernels::LaunchRmsNorm(x.bf16(), nullptr, w.data, static_cast<int>(x.rows),
                                    static_cast<int>(x.cols), p->eps(), out(0)->bf16(), stream_);
    }
    case plan::OpParams::AddParams: {
      const DeviceTensor& a = in(0);
      const DeviceTensor& b = in(1);
      JANUS_RETURN_IF_ERROR(Expect(a, DType::kBF16, -1, "add operand"));
      JANUS_RETURN_IF_ERROR(Expect(b, DType::kBF16, a.cols, "add operand"));
      if (a.rows != b.rows) return absl::InvalidArgumentError("add of different row counts");
      JANUS_ASSIGN_OR_RETURN(*out(0), New(a.rows, a.cols, DType::kBF16, "add"));
      return kernels::LaunchAdd(a.bf16(), b.bf16(), a.size(), out(0)->bf16(), stream_);
    }
    case plan::OpParams::AttentionParams:
      return Gqa(pc, *instr.params_as_AttentionParams(), in(0), out(0));
    case plan::OpParams::MlaParams:
      return Mla(pc, *instr.params_as_MlaParams(), in(0), out(0));
    case plan::OpParams::MlpParams:
      return Mlp(pc, *instr.params_as_MlpParams(), in(0), out(0));
    case plan::OpParams::RouterParams:
      return Router(*instr.params_as_RouterParams(), in(0), out(0), out(1));
    case plan::OpParams::DispatchParams: {
      const int layer = instr.params_as_DispatchParams()->layer();
      if (combined_.count(layer) != 0) return absl::OkStatus();  // a later phase
      std::vector<DeviceTensor> inputs;
      for (uint32_t k = 0; k < instr.inputs()->size(); ++k) inputs.push_back(in(k));
      DeviceTensor partial;
      JANUS_RETURN_IF_ERROR(
          Annotate(RunMoeLayer(layer, inputs, &partial), absl::StrCat("MoE layer ", layer)));
      JANUS_RETURN_IF_ERROR(Expect(partial, DType::kF32, -1, "MoE output"));
      JANUS_ASSIGN_OR_RETURN(DeviceTensor y,
                             New(partial.rows, partial.cols, DType::kBF16, "combine"));
      JANUS_RETURN_IF_ERROR(
          kernels::LaunchCastF32ToBf16(partial.f32(), partial.size(), y.bf16(), stream_));
      combined_[layer] = std::move(y);
      return absl::OkStatus();
    }
    case plan::OpParams::CombineParams: {
      const int layer = instr.params_as_CombineParams()->layer();
      auto it = combined_.find(layer);
      if (it == combined_.end())
        return absl::InternalError(absl::StrCat("combine of layer ", layer, " before dispatch"));
      if (instr.outputs() != nullptr && instr.outputs()->size() == 1) *out(0) = it->second;
      return absl::OkStatus();
    }
    case plan::OpParams::LmHeadParams: {
      JANUS_ASSIGN_OR_RETURN(DeviceWeight w,
                             model_->Get(instr.params_as_LmHeadParams()->weight()));
      const DeviceTensor& x = in(0);
      JANUS_RETURN_IF_ERROR(Expect(x, DType::kBF16, w.cols, "lm_head input"));
      DeviceTensor selected = x;
      if (shape_.logit_rows != x.rows) {
        JANUS_ASSIGN_OR_RETURN(selected, New(shape_.logit_rows, x.cols, DType::kBF16, "lm_head rows"));
        JANUS_RETURN_IF_ERROR(kernels::LaunchGatherRows(x.bf16(), x.cols * 2, dev_.logit_rows,
                                                        shape_.logit_rows, selected.bf16(),
                                                        stream_));
      }
      return Gemm(selected, w, DType::kF32, out(0), "lm_head");
    }
    default:
      return absl::UnimplementedError("instruction not supported by the cuda backend");
  }
}

absl::Status CudaBackend::Gqa(int pc, const plan::AttentionParams& p, const DeviceTensor& x,
                              DeviceTensor* y) {
  const int T = shape_.rows;
  const int H = p.num_heads(), KV = p.num_kv_heads(), D = p.head_dim();
  JANUS_ASSIGN_OR_RETURN(DeviceWeight wq, model_->Get(p.q()));
  JANUS_ASSIGN_OR_RETURN(DeviceWeight wk, model_->Get(p.k()));
  JANUS_ASSIGN_OR_RETURN(DeviceWeight wv, model_->Get(p.v()));
  JANUS_ASSIGN_OR_RETURN(DeviceWeight wo, model_->Get(p.o_proj()));
  if (wq.rows != int64_t{H} * D || wk.rows != int64_t{KV} * D || wv.rows != wk.rows) {
    return absl::InvalidArgumentError("attention projections do not match the head counts");
  }
  DeviceTensor q, k, v;
  JANUS_RETURN_IF_ERROR(Gemm(x, wq, DType::kBF16, &q, "q_proj"));
  JANUS_RETURN_IF_ERROR(Gemm(x, wk, DType::kBF16, &k, "k_proj"));
  JANUS_RETURN_IF_ERROR(Gemm(x, wv, DType::kBF16, &v, "v_proj"));
  const std::pair<int, DeviceTensor*> biased[] = {{p.q_bias(), &q}, {p.k_bias(), &k},
                                                  {p.v_bias(), &v}};
  for (const auto& [index, t] : biased) {
    if (index < 0) continue;
    JANUS_ASSIGN_OR_RETURN(DeviceWeight b, model_->Get(index));
    JANUS_RETURN_IF_ERROR(kernels::LaunchAddBias(t->bf16(), b.data, T, static_cast<int>(t->cols),
                                                 stream_));
  }
  if (p.qk_norm() != plan::QkNorm::None) {
    const bool per_head = p.qk_norm() == plan::QkNorm::PerHead;
    JANUS_ASSIGN_OR_RETURN(DeviceWeight qn, model_->Get(p.q_norm()));
    JANUS_ASSIGN_OR_RETURN(DeviceWeight kn, model_->Get(p.k_norm()));
    JANUS_RETURN_IF_ERROR(kernels::LaunchRmsNorm(q.bf16(), nullptr, qn.data, per_head ? T * H : T,
                                                 per_head ? D : H * D, p.qk_norm_eps(), q.bf16(),
                                                 stream_));
    JANUS_RETURN_IF_ERROR(kernels::LaunchRmsNorm(k.bf16(), nullptr, kn.data, per_head ? T * KV : T,
                                                 per_head ? D : KV * D, p.qk_norm_eps(), k.bf16(),
                                                 stream_));
  }
  JANUS_ASSIGN_OR_RETURN(const RopeTables* rope, model_->Rope(pc));
  kernels::RopeShape rs;
  rs.rows = T;
  rs.num_q_heads = H;
  rs.num_k_heads = KV;
  rs.head_dim = D;
  rs.rotary_dim = rope->rotary_dim;
  rs.max_positions = rope->max_positions;
  rs.layout = rope->layout;
  JANUS_RETURN_IF_ERROR(
      kernels::LaunchRope(rs, q.bf16(), k.bf16(), dev_.row_pos, rope->cos, rope->sin, stream_));

  const LayerCache& cache = layers_.at(p.layer());
  uint16_t* kv = kv_.get<uint16_t>();
  uint16_t* k_cache = kv + cache.k_offset;
  uint16_t* v_cache = kv + cache.v_offset;
  for (const auto& [src, dst] : {std::pair<const DeviceTensor*, uint16_t*>{&k, k_cache},
                                 std::pair<const DeviceTensor*, uint16_t*>{&v, v_cache}}) {
    JANUS_RETURN_IF_ERROR(kernels::LaunchPagedKvWrite(
        src->bf16(), src->cols, T, static_cast<int>(src->cols), dev_.row_seq, dev_.row_pos,
        dev_.block_table, max_pages_, block_, dst, cache.k_stride, 0, stream_));
  }
  JANUS_ASSIGN_OR_RETURN(DeviceTensor attn, New(T, int64_t{H} * D, DType::kBF16, "attention"));
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  if (shape_.decode_only && FastDecodeShape(H, KV, D)) {
    kernels::DecodeAttentionShape ds;
    ds.batch = T;
    ds.num_heads = H;
    ds.num_kv_heads = KV;
    ds.head_dim = D;
    ds.page_size = block_;
    ds.max_pages_per_seq = max_pages_;
    ds.max_seq_len = max_context_;
    auto it = decode_workspaces_.find(T);
    if (it == decode_workspaces_.end()) {
      const size_t bytes = kernels::DecodeAttentionWorkspaceBytes(ds, num_sms_);
      JANUS_ASSIGN_OR_RETURN(kernels::DeviceBuffer ws, kernels::DeviceBuffer::Create(bytes));
      JANUS_RETURN_IF_ERROR(kernels::InitDecodeAttentionWorkspace(ds, ws.get(), bytes, stream_));
      it = decode_workspaces_.emplace(T, std::move(ws)).first;
    }
    // Every layer of one model has the same shape, so one workspace serves them in turn.
    if (it->second.bytes() < kernels::DecodeAttentionWorkspaceBytes(ds, num_sms_)) {
      return absl::InternalError("decode attention layers of different shapes");
    }
    kernels::DecodeAttentionArgs args;
    args.q = q.bf16();
    args.k_cache = k_cache;
    args.v_cache = v_cache;
    args.block_table = dev_.block_table;
    args.seq_lens = dev_.seq_lens;
    args.scale = scale;
    args.out = attn.bf16();
    args.workspace = it->second.get();
    args.workspace_bytes = it->second.bytes();
    JANUS_RETURN_IF_ERROR(kernels::LaunchDecodeAttention(ds, args, stream_));
  } else {
    kernels::PagedAttentionShape ps;
    ps.rows = T;
    ps.num_heads = H;
    ps.num_kv_heads = KV;
    ps.qk_dim = D;
    ps.v_dim = D;
    ps.page_size = block_;
    ps.max_pages_per_seq = max_pages_;
    kernels::PagedAttentionArgs args;
    args.q = q.bf16();
    args.k_cache = k_cache;
    args.v_cache = v_cache;
    args.k_token_stride = cache.k_stride;
    args.v_token_stride = cache.v_stride;
    args.row_seq = dev_.row_seq;
    args.row_pos = dev_.row_pos;
    args.block_table = dev_.block_table;
    args.scale = scale;
    args.out = attn.bf16();
    JANUS_RETURN_IF_ERROR(kernels::LaunchPagedAttention(ps, args, stream_));
  }
  return Gemm(attn, wo, DType::kBF16, y, "o_proj");
}

// DeepSeek MLA in the weight-absorbed form: the cache holds [normalised latent | rotated shared
// key] per token; each head's query is moved into latent space through kv_b's key half
// (q_lat = q_nope · W_UK), attention runs over the latent cache as one shared kv head, and the
// latent output goes back through kv_b's value half (o = lat · W_UVᵀ) before o_proj.
absl::Status CudaBackend::Mla(int pc, const plan::MlaParams& p, const DeviceTensor& x,
                              DeviceTensor* y) {
  const int T = shape_.rows;
  const int H = p.num_heads(), nope = p.qk_nope_head_dim(), R = p.qk_rope_head_dim();
  const int L = p.kv_lora_rank(), vd = p.v_head_dim();
  if (nope <= 0) {
    return absl::UnimplementedError("mla without a non-rotary query part (qk_nope_head_dim 0)");
  }
  DeviceTensor q;
  if (p.q_lora_rank() == 0) {
    JANUS_ASSIGN_OR_RETURN(DeviceWeight wq, model_->Get(p.q_proj()));
    JANUS_RETURN_IF_ERROR(Gemm(x, wq, DType::kBF16, &q, "q_proj"));
  } else {
    JANUS_ASSIGN_OR_RETURN(DeviceWeight wqa, model_->Get(p.q_a()));
    JANUS_ASSIGN_OR_RETURN(DeviceWeight qa_norm, model_->Get(p.q_a_norm()));
    JANUS_ASSIGN_OR_RETURN(DeviceWeight wqb, model_->Get(p.q_b()));
    DeviceTensor qa;
    JANUS_RETURN_IF_ERROR(Gemm(x, wqa, DType::kBF16, &qa, "q_a_proj"));
    JANUS_RETURN_IF_ERROR(kernels::LaunchRmsNorm(qa.bf16(), nullptr, qa_norm.data, T,
                                                 static_cast<int>(qa.cols), p.norm_eps(),
                                                 qa.bf16(), stream_));
    JANUS_RETURN_IF_ERROR(Gemm(qa, wqb, DType::kBF16, &q, "q_b_proj"));
  }
  if (q.cols != int64_t{H} * (nope + R))
    return absl::InvalidArgumentError("mla query projection does not match the head dims");
  JANUS_ASSIGN_OR_RETURN(DeviceWeight wkva, model_->Get(p.kv_a()));
  JANUS_ASSIGN_OR_RETURN(DeviceWeight kva_norm, model_->Get(p.kv_a_norm()));
  JANUS_ASSIGN_OR_RETURN(DeviceWeight wkvb, model_->Get(p.kv_b()));
  JANUS_ASSIGN_OR_RETURN(DeviceWeight wo, model_->Get(p.o_proj()));
  if (wkvb.rows != int64_t{H} * (nope + vd) || wkvb.cols != L || wkva.rows != L + R)
    return absl::InvalidArgumentError("mla kv projections do not match the ranks");
  DeviceTensor kva;
  JANUS_RETURN_IF_ERROR(Gemm(x, wkva, DType::kBF16, &kva, "kv_a_proj_with_mqa"));
  JANUS_ASSIGN_OR_RETURN(DeviceTensor latent, New(T, L, DType::kBF16, "mla latent"));
  JANUS_ASSIGN_OR_RETURN(DeviceTensor k_pe, New(T, R, DType::kBF16, "mla rotary key"));
  JANUS_RETURN_IF_ERROR(kernels::LaunchCopy2d(kva.bf16(), int64_t{L + R} * 2, latent.bf16(),
                                              int64_t{L} * 2, T, int64_t{L} * 2, stream_));
  JANUS_RETURN_IF_ERROR(kernels::LaunchCopy2d(kva.bf16() + L, int64_t{L + R} * 2, k_pe.bf16(),
                                              int64_t{R} * 2, T, int64_t{R} * 2, stream_));
  JANUS_RETURN_IF_ERROR(kernels::LaunchRmsNorm(latent.bf16(), nullptr, kva_norm.data, T, L,
                                               p.norm_eps(), latent.bf16(), stream_));
  JANUS_ASSIGN_OR_RETURN(const RopeTables* rope, model_->Rope(pc));
  kernels::RopeShape rs;
  rs.rows = T;
  rs.num_q_heads = H;
  rs.head_dim = nope + R;
  rs.rotary_dim = rope->rotary_dim;
  rs.max_positions = rope->max_positions;
  rs.layout = rope->layout;
  JANUS_RETURN_IF_ERROR(kernels::LaunchRope(rs, q.bf16() + nope, nullptr, dev_.row_pos, rope->cos,
                                            rope->sin, stream_));
  rs.num_q_heads = 1;
  rs.head_dim = R;
  JANUS_RETURN_IF_ERROR(kernels::LaunchRope(rs, k_pe.bf16(), nullptr, dev_.row_pos, rope->cos,
                                            rope->sin, stream_));

  const LayerCache& cache = layers_.at(p.layer());
  uint16_t* c = kv_.get<uint16_t>() + cache.k_offset;
  JANUS_RETURN_IF_ERROR(kernels::LaunchPagedKvWrite(latent.bf16(), L, T, L, dev_.row_seq,
                                                    dev_.row_pos, dev_.block_table, max_pages_,
                                                    block_, c, cache.k_stride, 0, stream_));
  JANUS_RETURN_IF_ERROR(kernels::LaunchPagedKvWrite(k_pe.bf16(), R, T, R, dev_.row_seq,
                                                    dev_.row_pos, dev_.block_table, max_pages_,
                                                    block_, c, cache.k_stride, L, stream_));

  // q_full[t, h] = [q_nope[t, h] · W_UK[h] | q_pe[t, h]], W_UK[h] = kv_b rows h*(nope+vd) .. +nope.
  JANUS_ASSIGN_OR_RETURN(DeviceTensor q_full, New(T, int64_t{H} * (L + R), DType::kBF16, "mla q"));
  JANUS_RETURN_IF_ERROR(kernels::GemmBf16StridedBatched(
      blas_, q.bf16(), int64_t{H} * (nope + R), nope + R, wkvb.data, L, int64_t{nope + vd} * L,
      /*transpose_w=*/false, T, L, nope, H, q_full.bf16(), int64_t{H} * (L + R), L + R, stream_));
  JANUS_RETURN_IF_ERROR(kernels::LaunchCopy2d(q.bf16() + nope, int64_t{nope + R} * 2,
                                              q_full.bf16() + L, int64_t{L + R} * 2,
                                              T * H, int64_t{R} * 2, stream_));
  JANUS_ASSIGN_OR_RETURN(DeviceTensor lat, New(T, int64_t{H} * L, DType::kBF16, "mla attention"));
  if (shape_.decode_only && L == kernels::kMlaLatent && R == kernels::kMlaRope && H <= 128) {
    // DeepSeek-V2/V3 decode: the split-KV latent kernel (one row per sequence).
    kernels::MlaDecodeShape ms{T, H, block_, max_pages_, max_context_};
    auto it = mla_workspaces_.find(T);
    if (it == mla_workspaces_.end()) {
      JANUS_ASSIGN_OR_RETURN(
          kernels::DeviceBuffer ws,
          kernels::DeviceBuffer::Create(kernels::MlaDecodeWorkspaceBytes(ms, num_sms_)));
      it = mla_workspaces_.emplace(T, std::move(ws)).first;
    }
    kernels::MlaDecodeArgs ma;
    ma.q = q_full.bf16();
    ma.cache = c;
    ma.block_table = dev_.block_table;
    ma.seq_lens = dev_.seq_lens;
    ma.scale = p.softmax_scale();
    ma.out = lat.bf16();
    ma.workspace = it->second.get();
    ma.workspace_bytes = it->second.bytes();
    JANUS_RETURN_IF_ERROR(kernels::LaunchMlaDecode(ms, ma, stream_));
  } else {
    JANUS_RETURN_IF_ERROR(PagedMla(T, H, L, R, q_full, c, cache.k_stride, p.softmax_scale(), &lat));
  }
  // o[t, h] = lat[t, h] · W_UV[h]ᵀ, W_UV[h] = kv_b rows h*(nope+vd)+nope .. +vd ([vd, L]).
  JANUS_ASSIGN_OR_RETURN(DeviceTensor o, New(T, int64_t{H} * vd, DType::kBF16, "mla values"));
  JANUS_RETURN_IF_ERROR(kernels::GemmBf16StridedBatched(
      blas_, lat.bf16(), int64_t{H} * L, L, wkvb.data + int64_t{nope} * L, L,
      int64_t{nope + vd} * L, /*transpose_w=*/true, T, vd, L, H, o.bf16(), int64_t{H} * vd, vd,
      stream_));
  return Gemm(o, wo, DType::kBF16, y, "o_proj");
}

// MLA attention of any rows (prefill, mixed steps, other latent sizes) through the general paged
// kernel: one shared kv head, the value is the first L elements of each cached row.
absl::Status CudaBackend::PagedMla(int T, int H, int L, int R, const DeviceTensor& q_full,
                                   const uint16_t* c, int64_t stride, float scale,
                                   DeviceTensor* lat) {
  kernels::PagedAttentionShape ps;
  ps.rows = T;
  ps.num_heads = H;
  ps.num_kv_heads = 1;
  ps.qk_dim = L + R;
  ps.v_dim = L;
  ps.page_size = block_;
  ps.max_pages_per_seq = max_pages_;
  kernels::PagedAttentionArgs args;
  args.q = q_full.bf16();
  args.k_cache = c;
  args.v_cache = c;  // the value is the latent: the first L elements of the key row
  args.k_token_stride = stride;
  args.v_token_stride = stride;
  args.row_seq = dev_.row_seq;
  args.row_pos = dev_.row_pos;
  args.block_table = dev_.block_table;
  args.scale = scale;
  args.out = lat->bf16();
  return kernels::LaunchPagedAttention(ps, args, stream_);
}

absl::Status CudaBackend::Mlp(int pc, const plan::MlpParams& p, const DeviceTensor& x,
                              DeviceTensor* y) {
  JANUS_ASSIGN_OR_RETURN(DeviceWeight gate_up, model_->GateUp(pc));
  JANUS_ASSIGN_OR_RETURN(DeviceWeight down, model_->Get(p.down()));
  const int inter = static_cast<int>(gate_up.rows / 2);
  DeviceTensor gu;
  JANUS_RETURN_IF_ERROR(Gemm(x, gate_up, DType::kBF16, &gu, "mlp gate|up"));
  JANUS_ASSIGN_OR_RETURN(DeviceTensor h, New(x.rows, inter, DType::kBF16, "mlp"));
  JANUS_RETURN_IF_ERROR(
      kernels::LaunchSiluMul(gu.bf16(), static_cast<int>(x.rows), inter, h.bf16(), stream_));
  gu = DeviceTensor();
  JANUS_RETURN_IF_ERROR(Gemm(h, down, DType::kBF16, y, "mlp down"));
  if (p.sigmoid_gate() >= 0) {
    JANUS_ASSIGN_OR_RETURN(DeviceWeight sg, model_->Get(p.sigmoid_gate()));
    DeviceTensor logit;
    JANUS_RETURN_IF_ERROR(Gemm(x, sg, DType::kF32, &logit, "shared expert gate"));
    JANUS_RETURN_IF_ERROR(kernels::LaunchSigmoidScale(y->bf16(), logit.f32(),
                                                      static_cast<int>(y->rows),
                                                      static_cast<int>(y->cols), stream_));
  }
  return absl::OkStatus();
}

absl::Status CudaBackend::Router(const plan::RouterParams& p, const DeviceTensor& x,
                                 DeviceTensor* weights, DeviceTensor* ids) {
  JANUS_ASSIGN_OR_RETURN(DeviceWeight gate, model_->Get(p.gate()));
  DeviceTensor logits;
  JANUS_RETURN_IF_ERROR(Gemm(x, gate, DType::kF32, &logits, "router"));
  kernels::RouterParams rp;
  rp.num_experts = p.num_experts();
  rp.top_k = p.top_k();
  rp.scoring = p.scoring() == plan::RouterScoring::Sigmoid ? kernels::RouterScoringFn::kSigmoid
                                                           : kernels::RouterScoringFn::kSoftmax;
  rp.norm_topk_prob = p.norm_topk_prob();
  rp.routed_scaling_factor = p.routed_scaling_factor();
  rp.n_group = p.n_group();
  rp.topk_group = p.topk_group();
  rp.group_scoring = p.group_scoring() == plan::GroupScoring::Max
                         ? kernels::RouterGroupScoring::kMax
                         : kernels::RouterGroupScoring::kTop2Sum;
  const float* bias = nullptr;
  if (p.correction_bias() >= 0) {
    JANUS_ASSIGN_OR_RETURN(bias, model_->F32(p.correction_bias()));
  }
  JANUS_ASSIGN_OR_RETURN(*weights, New(x.rows, p.top_k(), DType::kF32, "router weights"));
  JANUS_ASSIGN_OR_RETURN(*ids, New(x.rows, p.top_k(), DType::kI32, "router ids"));
  return kernels::LaunchRouter(rp, logits.f32(), bias, static_cast<int>(x.rows), weights->f32(),
                               ids->i32(), nullptr, stream_);
}

absl::Status CudaBackend::RunMoeLayer(int layer, const std::vector<DeviceTensor>& inputs,
                                      DeviceTensor* out) {
  auto it = moe_pcs_.find(layer);
  if (moe_ == nullptr || it == moe_pcs_.end())
    return absl::InvalidArgumentError("the MoE program has no instructions for this layer");
  std::vector<DeviceTensor> regs(moe_->num_registers());
  std::map<int, DeviceTensor> slots;  // schedule output register -> the replicas' slots
  bool bound = false;
  for (int pc : it->second) {
    const plan::Instr& instr = *moe_->instrs()->Get(pc);
    auto in = [&](int k) -> DeviceTensor { return regs[instr.inputs()->Get(k)]; };
    auto reg_out = [&](int k) -> DeviceTensor* { return &regs[instr.outputs()->Get(k)]; };
    absl::Status status;
    switch (instr.params_type()) {
      case plan::OpParams::DispatchParams:
        if (bound || instr.outputs() == nullptr || instr.outputs()->size() == 0) break;
        if (instr.outputs()->size() != inputs.size()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "MoE dispatch expects ", instr.outputs()->size(), " tensors, the attention side sends ",
              inputs.size()));
        }
        for (size_t k = 0; k < inputs.size(); ++k) *reg_out(static_cast<int>(k)) = inputs[k];
        bound = true;
        break;
      case plan::OpParams::RouterParams:
        status = Router(*instr.params_as_RouterParams(), in(0), reg_out(0), reg_out(1));
        break;
      case plan::OpParams::ScheduleParams: {
        const bool first_replica = plan_->scheduler() != nullptr &&
                                   plan_->scheduler()->algorithm() ==
                                       plan::SchedulerAlgorithm::FirstReplica;
        DeviceTensor slot;
        const auto* sp = instr.params_as_ScheduleParams();
        status = Schedule(sp->layer(), sp->placement(), in(0), first_replica, /*report=*/true,
                          reg_out(0), &slot);
        slots[instr.outputs()->Get(0)] = std::move(slot);
        break;
      }
      case plan::OpParams::ExpertsParams: {
        const auto* p = instr.params_as_ExpertsParams();
        DeviceTensor assignment, slot;
        if (instr.inputs()->size() == 4) {
          assignment = in(3);
          auto s = slots.find(instr.inputs()->Get(3));
          if (s == slots.end())
            return absl::InternalError("experts input 3 is not a schedule output");
          slot = s->second;
        } else {
          // No scheduler in the plan: every pair goes to its expert's first replica.
          JANUS_RETURN_IF_ERROR(Schedule(p->layer(), p->placement(), in(2), /*first_replica=*/true,
                                         /*report=*/false, &assignment, &slot));
        }
        status = Experts(*p, in(0), in(1), in(2), assignment, slot, reg_out(0));
        break;
      }
      case plan::OpParams::CombineParams:
        if (!out->defined()) *out = in(0);
        break;
      default:
        return absl::UnimplementedError(
            absl::StrCat("MoE instruction ", pc, " is not supported by the cuda backend"));
    }
    JANUS_RETURN_IF_ERROR(
        Annotate(status, absl::StrCat("MoE instruction ", pc, " (", exec::InstrName(instr), ")")));
  }
  if (!out->defined()) return absl::InvalidArgumentError("the MoE layer combines nothing");
  return absl::OkStatus();
}

absl::Status CudaBackend::Schedule(int layer, int placement, const DeviceTensor& ids,
                                   bool first_replica, bool report, DeviceTensor* assignment,
                                   DeviceTensor* slot) {
  JANUS_RETURN_IF_ERROR(Expect(ids, DType::kI32, -1, "expert ids"));
  JANUS_ASSIGN_OR_RETURN(const ExpertTable* table, model_->Experts(placement));
  JANUS_ASSIGN_OR_RETURN(*assignment, New(ids.rows, ids.cols, DType::kI32, "schedule"));
  JANUS_ASSIGN_OR_RETURN(*slot, New(ids.rows, ids.cols, DType::kI32, "schedule slots"));
  const int ranks = topology_.num_moe;
  DeviceTensor counts;  // experts, pairs, rows per rank, then a_max
  kernels::ScheduleOutputs outs;
  outs.assignment = assignment->i32();
  outs.slot = slot->i32();
  const bool stats = report && options_.collect_stats && step_out_ != nullptr;
  if (stats) {
    JANUS_ASSIGN_OR_RETURN(counts, New(1, 3 * ranks + 1, DType::kI32, "schedule stats"));
    outs.experts_per_rank = counts.i32();
    outs.pairs_per_rank = counts.i32() + ranks;
    outs.rows_per_rank = counts.i32() + 2 * ranks;
    outs.a_max = counts.i32() + 3 * ranks;
  }
  JANUS_RETURN_IF_ERROR(kernels::LaunchSchedule(
      first_replica ? kernels::ScheduleAlgorithm::kFirstReplica
                    : kernels::ScheduleAlgorithm::kActivationBalanced,
      table->placement, ids.i32(), static_cast<int>(ids.rows), static_cast<int>(ids.cols), outs,
      stream_));
  if (stats) {
    std::vector<int32_t> host(3 * ranks + 1);
    JANUS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(host.data(), counts.i32(), host.size() * 4,
                                               cudaMemcpyDeviceToHost, stream_));
    JANUS_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
    exec::MoeLayerStepStats s;
    s.layer = layer;
    s.rows = static_cast<int>(ids.rows);
    s.a_max = host[3 * ranks];
    s.experts_per_rank.assign(host.begin(), host.begin() + ranks);
    s.pairs_per_rank.assign(host.begin() + ranks, host.begin() + 2 * ranks);
    s.rows_per_rank.assign(host.begin() + 2 * ranks, host.begin() + 3 * ranks);
    step_out_->stats.push_back(std::move(s));
  }
  if (report && options_.record_activations && step_out_ != nullptr) {
    exec::Tensor host = exec::Tensor::I32(ids.rows, ids.cols);
    JANUS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(host.i32(), ids.i32(), ids.bytes(),
                                               cudaMemcpyDeviceToHost, stream_));
    JANUS_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
    step_out_->ids_by_layer.emplace_back(layer, std::move(host));
  }
  return absl::OkStatus();
}

absl::Status CudaBackend::Experts(const plan::ExpertsParams& p, const DeviceTensor& x,
                                  const DeviceTensor& weights, const DeviceTensor& ids,
                                  const DeviceTensor& assignment, const DeviceTensor& slot,
                                  DeviceTensor* y) {
  JANUS_ASSIGN_OR_RETURN(const ExpertTable* table, model_->Experts(p.placement()));
  JANUS_RETURN_IF_ERROR(Expect(x, DType::kBF16, table->hidden, "experts input"));
  JANUS_RETURN_IF_ERROR(Expect(weights, DType::kF32, ids.cols, "router weights"));
  JANUS_RETURN_IF_ERROR(Expect(assignment, DType::kI32, ids.cols, "assignment"));
  const int rows = static_cast<int>(x.rows), top_k = static_cast<int>(ids.cols);
  JANUS_ASSIGN_OR_RETURN(DeviceTensor global, New(rows, top_k, DType::kI32, "expert slots"));
  JANUS_RETURN_IF_ERROR(kernels::LaunchGlobalSlots(assignment.i32(), slot.i32(), rows * top_k,
                                                   table->rank_slot_offset, topology_.num_moe,
                                                   global.i32(), stream_));
  kernels::GroupedFfnShape fs;
  fs.rows = rows;
  fs.top_k = top_k;
  fs.hidden = table->hidden;
  fs.inter = table->inter;
  fs.num_slots = table->num_slots;
  const size_t ws_bytes = kernels::GroupedFfnWorkspaceBytes(fs);
  JANUS_ASSIGN_OR_RETURN(std::shared_ptr<void> ws, pool_.Allocate(ws_bytes, "expert workspace"));
  JANUS_ASSIGN_OR_RETURN(*y, New(rows, table->hidden, DType::kF32, "experts"));
  kernels::GroupedFfnArgs args;
  args.x = x.bf16();
  args.weights = weights.f32();
  args.slots = global.i32();
  args.ranks = nullptr;
  args.gate = table->gate;
  args.up = table->up;
  args.down = table->down;
  args.out = y->f32();
  args.workspace = ws.get();
  args.workspace_bytes = ws_bytes;
  return kernels::LaunchGroupedExpertFfn(fs, args, stream_);
}

}  // namespace janus::cuda
