#include "runtime/io/safetensors.h"

#include <cmath>
#include <cstring>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/unit/runtime/io/test_util.h"

namespace janus {
namespace {

using ::janus::testing::RawSafetensors;
using ::janus::testing::ScopedTempDir;
using ::testing::HasSubstr;

// Values computed independently (Python: struct + json over the same files).
struct FixtureFacts {
  const char* dir;
  size_t num_tensors;
  int64_t embed_rows, embed_cols;
  uint64_t header_checksum;
  uint64_t file_size;
  float first[3];
  double sum;
};

constexpr FixtureFacts kFixtures[] = {
    {"deepseekv2_tiny",
     107,
     512,
     128,
     0x2bf96acf66be0c91ull,
     2186952,
     {-0.0947265625f, -0.049072265625f, -0.126953125f},
     6.966286078095436},
    {"deepseekv3_tiny",
     201,
     512,
     128,
     0x5339b8574aa91cc3ull,
     3372240,
     {0.03759765625f, 0.059326171875f, -0.01025390625f},
     -41.71242689341307},
    {"deepseekv3_yarn_tiny",
     79,
     512,
     96,
     0x622e6f75e1f272d5ull,
     791768,
     {-0.0703125f, -0.055908203125f, 0.029052734375f},
     -15.300445035099983},
    {"mixtral_tied_tiny",
     77,
     512,
     96,
     0xf42e4dc3d10976cbull,
     1936808,
     {-0.06005859375f, -0.033203125f, 0.1298828125f},
     -10.079213306307793},
    {"mixtral_tiny",
     127,
     512,
     128,
     0x1253fa69c250ee59ull,
     6906816,
     {0.06787109375f, 0.01519775390625f, -0.0101318359375f},
     22.51781907118857},
    {"olmoe_tiny",
     174,
     512,
     128,
     0xa65c1ec01420f30bull,
     3049888,
     {0.08056640625f, -0.0255126953125f, -0.001739501953125f},
     2.8693594932556152},
    {"qwen2moe_tiny",
     117,
     512,
     128,
     0x08639fe2e1abd342ull,
     2005336,
     {-0.02490234375f, 0.00098419189453125f, 0.09033203125f},
     20.480311140418053},
    {"qwen3moe_tiny",
     185,
     512,
     128,
     0xa365a2d18319acbbull,
     3640400,
     {0.051513671875f, 0.048583984375f, -0.06494140625f},
     -16.107197791803628},
};

std::string FixturePath(const char* dir) {
  return testing::SourceDir() + "/test/data/hf/" + dir + "/model.safetensors";
}

TEST(SafetensorsFixtures, EveryFixtureParsesWithKnownFacts) {
  for (const FixtureFacts& f : kFixtures) {
    SCOPED_TRACE(f.dir);
    auto file = SafetensorsFile::Open(FixturePath(f.dir));
    ASSERT_TRUE(file.ok()) << file.status();
    EXPECT_EQ(file->tensors().size(), f.num_tensors);
    EXPECT_EQ(file->header_checksum(), f.header_checksum);
    EXPECT_EQ(file->file_size(), f.file_size);
    EXPECT_EQ(file->metadata().at("format"), "pt");
    uint64_t previous_end = 8 + file->header_size();
    for (const TensorInfo& t : file->tensors()) {
      EXPECT_EQ(t.raw_dtype, "BF16") << t.name;
      EXPECT_TRUE(t.dtype_supported);
      EXPECT_EQ(t.dtype, DType::kBF16);
      EXPECT_EQ(t.nbytes, static_cast<uint64_t>(t.NumElements()) * 2) << t.name;
      EXPECT_GE(t.offset, previous_end) << t.name;  // file order, no overlap
      previous_end = t.offset + t.nbytes;
      EXPECT_EQ(file->Find(t.name), &t);
    }
    EXPECT_LE(previous_end, f.file_size);

    const TensorInfo* embed = file->Find("model.embed_tokens.weight");
    ASSERT_NE(embed, nullptr);
    EXPECT_EQ(embed->shape, (std::vector<int64_t>{f.embed_rows, f.embed_cols}));
    auto values = file->ReadAsFloat(*embed);
    ASSERT_TRUE(values.ok()) << values.status();
    ASSERT_EQ(values->size(), static_cast<size_t>(f.embed_rows * f.embed_cols));
    for (int i = 0; i < 3; ++i) EXPECT_EQ((*values)[i], f.first[i]);
    double sum = 0;
    for (float v : *values) sum += v;
    EXPECT_NEAR(sum, f.sum, 1e-9);
    EXPECT_EQ(file->Find("no.such.tensor"), nullptr);
  }
}

class SafetensorsErrors : public ::testing::Test {
 protected:
  // Writes `bytes` and returns Open()'s error (the test fails if Open
  // succeeds).
  absl::Status OpenError(const std::string& bytes) {
    const std::string path = dir_.File("bad.safetensors");
    testing::WriteFile(path, bytes);
    auto file = SafetensorsFile::Open(path);
    EXPECT_FALSE(file.ok());
    if (file.ok()) return absl::OkStatus();
    EXPECT_THAT(std::string(file.status().message()), HasSubstr(path));
    return file.status();
  }
  std::string Message(const std::string& bytes) {
    return std::string(OpenError(bytes).message());
  }

  ScopedTempDir dir_;
};

TEST_F(SafetensorsErrors, MissingFile) {
  auto file = SafetensorsFile::Open(dir_.File("absent.safetensors"));
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(file.status().message()),
              HasSubstr("absent.safetensors"));
}

TEST_F(SafetensorsErrors, EmptyFile) {
  EXPECT_THAT(Message(""), HasSubstr("0 bytes, too short"));
}

TEST_F(SafetensorsErrors, SevenBytes) {
  EXPECT_THAT(Message(std::string(7, '\x01')), HasSubstr("7 bytes, too short"));
}

TEST_F(SafetensorsErrors, HeaderLengthPastEof) {
  std::string bytes = RawSafetensors("{}", 0);
  bytes[0] = 100;
  EXPECT_THAT(
      Message(bytes),
      HasSubstr("header length 100 runs past the end of the file (10 bytes)"));
  std::string huge(8, '\xff');
  EXPECT_THAT(Message(huge), HasSubstr("runs past the end"));
}

TEST_F(SafetensorsErrors, InvalidJson) {
  EXPECT_THAT(Message(RawSafetensors("{\"a\": [1, 2", 0)),
              HasSubstr("header is not valid JSON"));
}

TEST_F(SafetensorsErrors, JsonNotAnObject) {
  EXPECT_THAT(Message(RawSafetensors("[1, 2, 3]", 0)),
              HasSubstr("header is not a JSON object"));
}

TEST_F(SafetensorsErrors, EntryNotAnObject) {
  EXPECT_THAT(Message(RawSafetensors(R"({"w": 3})", 0)),
              HasSubstr("tensor 'w': entry is not a JSON object"));
}

TEST_F(SafetensorsErrors, MissingDtype) {
  EXPECT_THAT(Message(RawSafetensors(
                  R"({"w": {"shape": [2], "data_offsets": [0, 8]}})", 8)),
              HasSubstr("tensor 'w': missing string 'dtype'"));
}

TEST_F(SafetensorsErrors, MissingShapeAndOffsets) {
  EXPECT_THAT(Message(RawSafetensors(
                  R"({"w": {"dtype": "F32", "data_offsets": [0, 8]}})", 8)),
              HasSubstr("tensor 'w': missing array 'shape'"));
  EXPECT_THAT(
      Message(RawSafetensors(
          R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0]}})", 8)),
      HasSubstr("tensor 'w': missing 'data_offsets'"));
}

TEST_F(SafetensorsErrors, UnknownDtypeName) {
  EXPECT_THAT(
      Message(RawSafetensors(
          R"({"w": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 2]}})",
          2)),
      HasSubstr("tensor 'w': unknown dtype 'Q7'"));
}

TEST_F(SafetensorsErrors, NegativeOrFractionalDimension) {
  EXPECT_THAT(
      Message(RawSafetensors(
          R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})",
          8)),
      HasSubstr("tensor 'w': shape [-2] has a dimension"));
  EXPECT_THAT(
      Message(RawSafetensors(
          R"({"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 8]}})",
          8)),
      HasSubstr("not a non-negative integer"));
}

TEST_F(SafetensorsErrors, ShapeSizeMismatch) {
  EXPECT_THAT(
      Message(RawSafetensors(
          R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}})",
          24)),
      HasSubstr("tensor 'w': data_offsets [0, 20] hold 20 bytes, but F32 [2, "
                "3] needs 24"));
}

TEST_F(SafetensorsErrors, HugeShapeDoesNotOverflow) {
  EXPECT_THAT(
      Message(RawSafetensors(
          R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})",
          0)),
      HasSubstr("is too large"));
}

TEST_F(SafetensorsErrors, OffsetsPastEnd) {
  EXPECT_THAT(
      Message(RawSafetensors(
          R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})",
          16)),
      HasSubstr("tensor 'w': data_offsets [8, 24] run past the end of the data "
                "section (16 bytes)"));
}

TEST_F(SafetensorsErrors, OffsetsReversed) {
  EXPECT_THAT(
      Message(RawSafetensors(
          R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}})",
          16)),
      HasSubstr("end before they begin"));
}

TEST_F(SafetensorsErrors, OverlappingTensors) {
  EXPECT_THAT(
      Message(RawSafetensors(
          R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                          "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
          16)),
      HasSubstr("tensors 'a' [0, 16) and 'b' [8, 16) overlap"));
}

TEST_F(SafetensorsErrors, DuplicateTensorName) {
  EXPECT_THAT(
      Message(RawSafetensors(
          R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                          "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
          8)),
      HasSubstr("tensor 'a' appears twice"));
}

TEST_F(SafetensorsErrors, MetadataMustBeStrings) {
  EXPECT_THAT(Message(RawSafetensors(R"({"__metadata__": {"format": 3}})", 0)),
              HasSubstr("__metadata__ value of 'format' is not a string"));
  EXPECT_THAT(Message(RawSafetensors(R"({"__metadata__": [1]})", 0)),
              HasSubstr("__metadata__ is not a JSON object"));
}

TEST_F(SafetensorsErrors, UnsupportedDtypeParsesButRefusesData) {
  const std::string path = dir_.File("f8.safetensors");
  testing::WriteFile(path, RawSafetensors(R"({"__metadata__": {"k": "v"},
      "scale": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]},
      "w8": {"dtype": "F8_E4M3", "shape": [2, 3], "data_offsets": [16, 22]},
      "w4": {"dtype": "F4", "shape": [4], "data_offsets": [22, 24]}})",
                                          24));
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->metadata().at("k"), "v");
  const TensorInfo* w8 = file->Find("w8");
  ASSERT_NE(w8, nullptr);
  EXPECT_FALSE(w8->dtype_supported);
  EXPECT_EQ(w8->raw_dtype, "F8_E4M3");
  EXPECT_EQ(w8->nbytes, 6u);
  EXPECT_EQ(file->Data(*w8).size(), 6u);
  auto data = file->CheckedData(*w8);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(data.status().message()),
              HasSubstr("tensor 'w8' has dtype F8_E4M3"));
  EXPECT_THAT(std::string(data.status().message()), HasSubstr(path));
  EXPECT_FALSE(file->ReadAsFloat(*file->Find("scale")).ok());
  EXPECT_EQ(file->Find("w4")->nbytes, 2u);
}

TEST(SafetensorsWrite, RoundTripsEveryDtype) {
  ScopedTempDir dir;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-3, 3);
  std::vector<float> f32(6);
  for (float& v : f32) v = dist(rng);
  std::string f32_bytes(reinterpret_cast<const char*>(f32.data()),
                        f32.size() * 4);
  std::string bf16_bytes, f16_bytes;
  for (float v : f32) {
    uint16_t b = FloatToBf16(v), h = FloatToHalf(v);
    bf16_bytes.append(reinterpret_cast<const char*>(&b), 2);
    f16_bytes.append(reinterpret_cast<const char*>(&h), 2);
  }
  int32_t ids[3] = {5, -7, 1 << 20};
  std::vector<TensorToWrite> tensors = {
      {"b.f32", DType::kF32, {2, 3}, f32_bytes, ""},
      {"a.bf16", DType::kBF16, {6}, bf16_bytes, ""},
      {"c.f16", DType::kF16, {3, 2}, f16_bytes, ""},
      {"d.i32",
       DType::kI32,
       {3},
       std::string(reinterpret_cast<const char*>(ids), 12),
       ""},
      {"e.empty", DType::kF32, {0, 4}, "", ""},
  };
  const std::string path = dir.File("out.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, tensors, {{"format", "pt"}}).ok());
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ((8 + file->header_size()) % 8, 0u);
  ASSERT_EQ(file->tensors().size(), tensors.size());
  for (const TensorToWrite& t : tensors) {
    const TensorInfo* info = file->Find(t.name);
    ASSERT_NE(info, nullptr) << t.name;
    EXPECT_EQ(info->dtype, t.dtype);
    EXPECT_EQ(info->shape, t.shape);
    auto data = file->Data(*info);
    EXPECT_EQ(
        std::string(reinterpret_cast<const char*>(data.data()), data.size()),
        t.bytes)
        << t.name;
  }
  auto as_float = file->ReadAsFloat(*file->Find("b.f32"));
  ASSERT_TRUE(as_float.ok());
  EXPECT_EQ(*as_float, f32);
  auto bf16 = file->ReadAsFloat(*file->Find("a.bf16"));
  auto f16 = file->ReadAsFloat(*file->Find("c.f16"));
  ASSERT_TRUE(bf16.ok() && f16.ok());
  for (size_t i = 0; i < f32.size(); ++i) {
    EXPECT_NEAR((*bf16)[i], f32[i], std::abs(f32[i]) / 128);  // 8-bit mantissa
    EXPECT_NEAR((*f16)[i], f32[i], std::abs(f32[i]) / 1024);  // 11-bit mantissa
  }
  EXPECT_FALSE(file->ReadAsFloat(*file->Find("d.i32")).ok());
}

TEST(SafetensorsWrite, RejectsBadInput) {
  ScopedTempDir dir;
  const std::string path = dir.File("out.safetensors");
  absl::Status size =
      WriteSafetensors(path, {{"w", DType::kF32, {2}, "abc", ""}});
  EXPECT_THAT(std::string(size.message()),
              HasSubstr("tensor 'w': 3 bytes given, F32 [2] needs 8"));
  absl::Status dup =
      WriteSafetensors(path, {{"w", DType::kF32, {1}, "abcd", ""},
                              {"w", DType::kF32, {1}, "abcd", ""}});
  EXPECT_THAT(std::string(dup.message()),
              HasSubstr("'w' is reserved or used twice"));
  absl::Status raw =
      WriteSafetensors(path, {{"w", DType::kF32, {1}, "a", "NOPE"}});
  EXPECT_THAT(std::string(raw.message()), HasSubstr("unknown dtype 'NOPE'"));
  absl::Status utf8 =
      WriteSafetensors(path, {{"bad\xff", DType::kF32, {1}, "abcd", ""}});
  EXPECT_THAT(std::string(utf8.message()), HasSubstr("must be valid UTF-8"));
  EXPECT_FALSE(WriteSafetensors(dir.File("no/such/dir.safetensors"), {}).ok());
}

}  // namespace
}  // namespace janus
