// Temp directories and raw file writers for the io tests.
#ifndef JANUS_TEST_UNIT_RUNTIME_IO_TEST_UTIL_H_
#define JANUS_TEST_UNIT_RUNTIME_IO_TEST_UTIL_H_

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace janus::testing {

// A fresh directory under the test's temp dir, removed with the object.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    std::string tmpl = ::testing::TempDir() + "janus_io_XXXXXX";
    char* made = ::mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    path_ = tmpl;
  }
  ~ScopedTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

// A safetensors file from a literal header and a data section of `data_bytes`
// bytes (value i&255).
inline std::string RawSafetensors(const std::string& header,
                                  size_t data_bytes) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += header;
  for (size_t i = 0; i < data_bytes; ++i)
    out.push_back(static_cast<char>(i & 0xff));
  return out;
}

inline std::string SourceDir() {
  const char* env = std::getenv("JANUS_SOURCE_DIR");
  return env != nullptr ? env : JANUS_TEST_SOURCE_DIR;
}

}  // namespace janus::testing

#endif  // JANUS_TEST_UNIT_RUNTIME_IO_TEST_UTIL_H_
