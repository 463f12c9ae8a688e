#include "runtime/io/reference.h"

#include <algorithm>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/unit/runtime/io/test_util.h"

namespace janus {
namespace {

using ::janus::testing::ScopedTempDir;
using ::testing::HasSubstr;

int Argmax(const std::vector<float>& row) {
  return static_cast<int>(std::max_element(row.begin(), row.end()) -
                          row.begin());
}

TEST(ReferenceFile, ReadsEveryFixture) {
  for (const char* dir :
       {"deepseekv2_tiny", "deepseekv3_tiny", "deepseekv3_yarn_tiny",
        "mixtral_tied_tiny", "mixtral_tiny", "olmoe_tiny", "qwen2moe_tiny",
        "qwen3moe_tiny"}) {
    SCOPED_TRACE(dir);
    auto ref = ReadReferenceFile(testing::SourceDir() + "/test/data/hf/" + dir +
                                 "/reference.json");
    ASSERT_TRUE(ref.ok()) << ref.status();
    EXPECT_EQ(ref->model, dir);
    EXPECT_EQ(ref->transformers, "5.17.0");
    ASSERT_EQ(ref->cases.size(), 2u);
    for (const ReferenceCase& c : ref->cases) {
      EXPECT_GE(c.prompt.size(), 8u);
      EXPECT_EQ(c.prefill_logits.size(), c.prompt.size());
      ASSERT_EQ(c.greedy.size(), 8u);
      EXPECT_EQ(c.prefill_logits[0].size(), 512u);
      // decode_logits[i] is the distribution greedy[i] was chosen from (so row
      // 0 repeats the prefill's last row): an independent check that rows were
      // kept in order.
      for (size_t i = 0; i < c.greedy.size(); ++i)
        EXPECT_EQ(c.greedy[i], Argmax(c.decode_logits[i]));
      EXPECT_EQ(c.greedy[0], Argmax(c.prefill_logits.back()));
    }
  }
  auto mixtral = ReadReferenceFile(testing::SourceDir() +
                                   "/test/data/hf/mixtral_tiny/reference.json");
  ASSERT_TRUE(mixtral.ok());
  EXPECT_EQ(mixtral->cases[0].prompt,
            (std::vector<int32_t>{1, 17, 42, 99, 7, 300, 5, 64}));
  EXPECT_EQ(mixtral->cases[0].prefill_logits[0][0], -1.1282453536987305f);
  EXPECT_EQ(mixtral->cases[0].greedy,
            (std::vector<int32_t>{76, 7, 7, 362, 7, 7, 7, 7}));
}

ReferenceFile RandomFile(int cases, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> logit(0, 3);
  ReferenceFile file;
  file.model = "random \"quoted\" model";
  file.torch = "2.11";
  for (int c = 0; c < cases; ++c) {
    ReferenceCase rc;
    for (int i = 0; i < 3 + c; ++i)
      rc.prompt.push_back(static_cast<int32_t>(rng() % vocab));
    for (int i = 0; i < 2 + c; ++i)
      rc.greedy.push_back(static_cast<int32_t>(rng() % vocab));
    auto rows = [&](size_t n) {
      std::vector<std::vector<float>> out(n, std::vector<float>(vocab));
      for (auto& row : out) {
        for (float& v : row)
          v = logit(rng) * std::pow(10.0f, static_cast<float>(rng() % 9) - 4);
      }
      return out;
    };
    rc.prefill_logits = rows(rc.prompt.size());
    rc.decode_logits = rows(rc.greedy.size());
    file.cases.push_back(std::move(rc));
  }
  return file;
}

TEST(ReferenceFile, WriteThenReadIsExact) {
  ScopedTempDir dir;
  ReferenceFile file = RandomFile(3, 37, 11);
  const std::string path = dir.File("out.json");
  ASSERT_TRUE(WriteReferenceFile(path, file).ok());
  auto back = ReadReferenceFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->model, file.model);
  EXPECT_EQ(back->torch, file.torch);
  EXPECT_EQ(back->transformers, "");
  ASSERT_EQ(back->cases.size(), file.cases.size());
  for (size_t c = 0; c < file.cases.size(); ++c) {
    EXPECT_EQ(back->cases[c].prompt, file.cases[c].prompt);
    EXPECT_EQ(back->cases[c].greedy, file.cases[c].greedy);
    EXPECT_EQ(back->cases[c].prefill_logits,
              file.cases[c].prefill_logits);  // bit-exact floats
    EXPECT_EQ(back->cases[c].decode_logits, file.cases[c].decode_logits);
  }
}

TEST(ReferenceFile, ValidationNamesTheCase) {
  ReferenceFile file = RandomFile(3, 8, 5);
  file.cases[1].prefill_logits.pop_back();
  absl::Status status = ValidateReferenceFile(file);
  EXPECT_THAT(
      std::string(status.message()),
      HasSubstr(
          "case 1: 'prefill_logits' has 3 rows, but 'prompt' has 4 tokens"));

  file = RandomFile(3, 8, 5);
  file.cases[2].decode_logits[1].push_back(0.5f);
  EXPECT_THAT(
      std::string(ValidateReferenceFile(file).message()),
      HasSubstr("case 2: 'decode_logits' row 1 has 9 logits, expected 8"));

  file = RandomFile(2, 8, 5);
  file.cases[1].greedy.push_back(3);
  EXPECT_THAT(
      std::string(ValidateReferenceFile(file).message()),
      HasSubstr(
          "case 1: 'decode_logits' has 3 rows, but 'greedy' has 4 tokens"));

  file = RandomFile(1, 8, 5);
  file.cases[0].decode_logits[0][3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(std::string(ValidateReferenceFile(file).message()),
              HasSubstr("row 0 column 3 is not finite"));

  ScopedTempDir dir;
  EXPECT_FALSE(WriteReferenceFile(dir.File("x.json"), file).ok());
}

TEST(ReferenceFile, ReadErrors) {
  ScopedTempDir dir;
  auto error = [&](const std::string& text) {
    testing::WriteFile(dir.File("r.json"), text);
    auto ref = ReadReferenceFile(dir.File("r.json"));
    EXPECT_FALSE(ref.ok());
    std::string message = ref.ok() ? "" : std::string(ref.status().message());
    EXPECT_THAT(message, HasSubstr(dir.File("r.json")));
    return message;
  };
  EXPECT_THAT(error("{\"cases\": [}"), HasSubstr("not valid JSON"));
  EXPECT_THAT(error("[]"), HasSubstr("not a JSON object"));
  EXPECT_THAT(error("{}"), HasSubstr("missing array 'cases'"));
  EXPECT_THAT(
      error(
          R"({"cases": [{"prompt": [1], "prefill_logits": [[0.5]], "greedy": [], "decode_logits": []},
                                   {"prompt": [1, "x"]}]})"),
      HasSubstr("case 1: 'prompt' holds \"x\", not a token id"));
  EXPECT_THAT(
      error(
          R"({"cases": [{"prompt": [1], "prefill_logits": [[0.5, null]], "greedy": [], "decode_logits": []}]})"),
      HasSubstr("case 0: 'prefill_logits' row 0 holds null, not a number"));
  EXPECT_THAT(
      error(
          R"({"cases": [{"prompt": [1, 2], "prefill_logits": [[0.5]], "greedy": [], "decode_logits": []}]})"),
      HasSubstr(
          "case 0: 'prefill_logits' has 1 rows, but 'prompt' has 2 tokens"));
  EXPECT_THAT(
      error(
          R"({"cases": [{"prompt": [1], "prefill_logits": [[0.5]], "greedy": [4]}]})"),
      HasSubstr("case 0: missing array 'decode_logits'"));
  EXPECT_THAT(
      error(
          R"({"cases": [{"prompt": [4294967296], "prefill_logits": [[0.5]], "greedy": [], "decode_logits": []}]})"),
      HasSubstr("not a token id"));
  auto missing = ReadReferenceFile(dir.File("absent.json"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace janus
