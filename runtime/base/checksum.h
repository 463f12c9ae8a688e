// FNV-1a, 64 bit. Every single-byte change to the input changes the hash (each step is a bijection
// of the state), which is what the plan and checkpoint-header checks need.
#ifndef JANUS_RUNTIME_BASE_CHECKSUM_H_
#define JANUS_RUNTIME_BASE_CHECKSUM_H_

#include <cstddef>
#include <cstdint>

namespace janus {

inline constexpr uint64_t kFnv64Offset = 0xcbf29ce484222325ull;

inline uint64_t Fnv1a64(const void* data, size_t size, uint64_t hash = kFnv64Offset) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

}  // namespace janus

#endif  // JANUS_RUNTIME_BASE_CHECKSUM_H_
