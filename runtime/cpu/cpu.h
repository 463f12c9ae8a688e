// The fp32 CPU backend's math, in one include: dense ops, RoPE, the paged KV cache, attention (GQA
// and MLA), router and experts, the replica scheduler and the sampler. See docs/cpu-backend.md.
#ifndef JANUS_RUNTIME_CPU_CPU_H_
#define JANUS_RUNTIME_CPU_CPU_H_

#include "runtime/cpu/attention.h"
#include "runtime/cpu/kv_cache.h"
#include "runtime/cpu/moe.h"
#include "runtime/cpu/rope.h"
#include "runtime/cpu/sampler.h"
#include "runtime/cpu/scheduler.h"
#include "runtime/cpu/tensor.h"

#endif  // JANUS_RUNTIME_CPU_CPU_H_
