// The in-process transport and the dispatch/combine collectives built on it:
// every strategy over several deployment shapes delivers all rows to every MoE
// rank in attention-rank order and returns each attention rank exactly its rows
// of the sum of the partials, along the route the strategy names; an abort or a
// timeout unblocks waiting ranks.
#include "runtime/exec/transport.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/exec/comm.h"

namespace janus::exec {
namespace {

using plan::CommStrategy;
using plan::Role;

TEST(TransportTest, FifoPerKeyAndTagsSeparate) {
  Transport t(3);
  for (int i = 0; i < 3; ++i) {
    Message m;
    m.meta = {i};
    ASSERT_TRUE(t.Send(0, 2, 7, m).ok());
  }
  Message other;
  other.meta = {100};
  ASSERT_TRUE(t.Send(1, 2, 7, other).ok());
  ASSERT_TRUE(t.Send(0, 2, 8, other).ok());
  EXPECT_EQ(t.pending_messages(), 5);
  for (int i = 0; i < 3; ++i) {
    auto m = t.Receive(2, 0, 7);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->meta, std::vector<int64_t>{i});
  }
  EXPECT_EQ(t.Receive(2, 1, 7)->meta[0], 100);
  EXPECT_EQ(t.Receive(2, 0, 8)->meta[0], 100);
  EXPECT_EQ(t.pending_messages(), 0);
  EXPECT_EQ(t.messages_sent(0, 2), 4);
}

TEST(TransportTest, MessagesAreCopies) {
  Transport t(2);
  Message m;
  m.tensors.push_back(Tensor::F32(1, 2));
  m.tensors[0].f32()[0] = 1.5f;
  ASSERT_TRUE(t.Send(0, 1, 0, m).ok());
  m.tensors[0].f32()[0] = -1.0f;  // the sender's buffer is its own
  auto got = t.Receive(1, 0, 0);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->tensors[0].f32()[0], 1.5f);
}

TEST(TransportTest, BadEndpointIsAnError) {
  Transport t(2);
  EXPECT_EQ(t.Send(0, 5, 0, Message{}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t.Receive(-1, 0, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TransportTest, AbortUnblocksEveryWaiter) {
  Transport t(4);
  std::vector<absl::Status> results(3);
  std::vector<std::thread> waiters;
  for (int r = 0; r < 3; ++r) {
    waiters.emplace_back([&, r] { results[r] = t.Receive(r, 3, 42).status(); });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  t.Abort(absl::InternalError("rank 3 failed: boom"));
  t.Abort(absl::InternalError("a second error does not replace the first"));
  for (auto& w : waiters) w.join();
  for (const absl::Status& s : results) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
    EXPECT_EQ(s.message(), "rank 3 failed: boom");
  }
  // Future calls fail the same way instead of blocking.
  EXPECT_EQ(t.Receive(0, 1, 0).status().message(), "rank 3 failed: boom");
  EXPECT_EQ(t.Send(0, 1, 0, Message{}).message(), "rank 3 failed: boom");
}

TEST(TransportTest, ReceiveTimeoutAbortsWithDeadlineExceeded) {
  Transport t(2, absl::Milliseconds(30));
  absl::Status s = t.Receive(0, 1, 9).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(s.message().find("rank 0 waited"), std::string::npos) << s;
  EXPECT_TRUE(t.aborted());
}

// ---- collectives ----

struct Shape {
  int attention, moe, gpus_per_node;
};

// The value every test row holds: which attention rank, which row, which
// column.
float RowValue(int source, int row, int col) {
  return 1000.0f * source + 10.0f * row + col;
}

// Rows of attention rank i: i + 1, except rank 1 which has none (an idle rank
// must still take part).
int RowsOf(int attention_index) {
  return attention_index == 1 ? 0 : attention_index + 1;
}

struct Outcome {
  std::vector<std::string> errors;
  Transport* transport;
};

// Runs one dispatch and one combine (each as its phases) on every rank of
// `topology`. MoE rank j returns (j + 1) * x_all as its partial, so attention
// rank i must get back x_i * M (M + 1) / 2, exactly (small integers).
void RunCollectives(const Topology& topology, CommStrategy strategy,
                    int num_phases, Transport* transport) {
  const int A = topology.num_attention, M = topology.num_moe;
  const int cols = 3;
  std::vector<std::string> failures(topology.num_ranks());
  std::vector<std::thread> threads;
  for (int i = 0; i < A; ++i) {
    threads.emplace_back([&, i] {
      Communicator comm(transport, &topology, Role::Attention, i);
      Tensor x = Tensor::F32(RowsOf(i), cols);
      Tensor ids = Tensor::I32(RowsOf(i), 2);
      for (int r = 0; r < RowsOf(i); ++r) {
        for (int c = 0; c < cols; ++c) x.f32_row(r)[c] = RowValue(i, r, c);
        ids.i32_row(r)[0] = i;
        ids.i32_row(r)[1] = r;
      }
      for (int phase = 0; phase < num_phases; ++phase) {
        absl::Status s =
            comm.DispatchSend({5, strategy, phase, num_phases}, {x, ids});
        if (!s.ok()) {
          failures[i] = std::string(s.message());
          transport->Abort(s);
          return;
        }
      }
      Tensor y;
      int delivered = 0;
      for (int phase = 0; phase < num_phases; ++phase) {
        auto got = comm.CombineReceive({5, strategy, phase, num_phases}, &y);
        if (!got.ok()) {
          failures[i] = std::string(got.status().message());
          transport->Abort(got.status());
          return;
        }
        delivered += *got;
      }
      if (delivered != 1)
        failures[i] =
            "combine delivered " + std::to_string(delivered) + " times";
      if (y.rows() != RowsOf(i) || y.cols() != cols) {
        failures[i] = "combine returned " + y.ShapeString();
        return;
      }
      const float factor = M * (M + 1) / 2.0f;
      for (int r = 0; r < RowsOf(i); ++r) {
        for (int c = 0; c < cols; ++c) {
          if (y.f32_row(r)[c] != factor * RowValue(i, r, c))
            failures[i] = "wrong combined value";
        }
      }
    });
  }
  for (int j = 0; j < M; ++j) {
    threads.emplace_back([&, j] {
      const int me = topology.MoeRank(j);
      Communicator comm(transport, &topology, Role::Moe, j);
      std::vector<Tensor> all;
      int delivered = 0;
      for (int phase = 0; phase < num_phases; ++phase) {
        auto got = comm.DispatchReceive({5, strategy, phase, num_phases}, &all);
        if (!got.ok()) {
          failures[me] = std::string(got.status().message());
          transport->Abort(got.status());
          return;
        }
        delivered += *got;
      }
      if (delivered != 1 || all.size() != 2) {
        failures[me] = "dispatch did not deliver 2 tensors once";
        return;
      }
      // All rows, in attention-rank order.
      int row = 0;
      for (int i = 0; i < A; ++i) {
        for (int r = 0; r < RowsOf(i); ++r, ++row) {
          if (all[0].f32_row(row)[1] != RowValue(i, r, 1) ||
              all[1].i32_row(row)[0] != i || all[1].i32_row(row)[1] != r) {
            failures[me] = "rows out of order at row " + std::to_string(row);
          }
        }
      }
      if (all[0].rows() != row)
        failures[me] = "wrong row count " + std::to_string(all[0].rows());
      std::vector<int64_t> counts = comm.dispatched_row_counts(5);
      for (int i = 0; i < A; ++i) {
        if (counts.size() != static_cast<size_t>(A) || counts[i] != RowsOf(i))
          failures[me] = "wrong row counts";
      }
      Tensor partial = all[0];
      for (int64_t k = 0; k < partial.size(); ++k) partial.f32()[k] *= (j + 1);
      for (int phase = 0; phase < num_phases; ++phase) {
        absl::Status s =
            comm.CombineSend({5, strategy, phase, num_phases}, partial);
        if (!s.ok()) {
          failures[me] = std::string(s.message());
          transport->Abort(s);
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < topology.num_ranks(); ++r)
    EXPECT_EQ(failures[r], "") << "rank " << r;
  EXPECT_TRUE(transport->status().ok()) << transport->status();
  EXPECT_EQ(transport->pending_messages(), 0);
}

class CollectivesTest
    : public ::testing::TestWithParam<std::tuple<Shape, CommStrategy, int>> {};

TEST_P(CollectivesTest, EveryMoeRankGetsAllRowsAndCombineSums) {
  const auto [shape, strategy, num_phases] = GetParam();
  Topology topology =
      Topology::Uniform(shape.attention, shape.moe, shape.gpus_per_node);
  Transport transport(topology.num_ranks(), absl::Seconds(20));
  RunCollectives(topology, strategy, num_phases, &transport);

  // The route: who talked to whom.
  const auto attention_groups = topology.AttentionGroups();
  const auto moe_groups = topology.MoeGroups();
  auto is_attention_leader = [&](int i) {
    for (const auto& g : attention_groups)
      if (g.front() == i) return true;
    return false;
  };
  auto is_moe_leader = [&](int j) {
    for (const auto& g : moe_groups)
      if (g.front() == j) return true;
    return false;
  };
  for (int i = 0; i < shape.attention; ++i) {
    for (int j = 0; j < shape.moe; ++j) {
      const int64_t to_moe = transport.messages_sent(topology.AttentionRank(i),
                                                     topology.MoeRank(j));
      const int64_t from_moe = transport.messages_sent(
          topology.MoeRank(j), topology.AttentionRank(i));
      switch (strategy) {
        case CommStrategy::Direct:
          EXPECT_EQ(to_moe, 1);
          EXPECT_EQ(from_moe, 1);
          break;
        case CommStrategy::TwoPhase: {
          const int expected =
              is_attention_leader(i) && is_moe_leader(j) ? 1 : 0;
          EXPECT_EQ(to_moe, expected) << "attention " << i << " -> moe " << j;
          EXPECT_EQ(from_moe, expected) << "moe " << j << " -> attention " << i;
          break;
        }
        case CommStrategy::Relay: {
          const int expected = j == topology.RelayMoe() ? 1 : 0;
          EXPECT_EQ(to_moe, expected);
          EXPECT_EQ(from_moe, expected);
          break;
        }
      }
    }
  }
}

std::string ParamName(
    const ::testing::TestParamInfo<CollectivesTest::ParamType>& info) {
  const auto& [shape, strategy, phases] = info.param;
  const char* names[] = {"direct", "two_phase", "relay"};
  return std::string(names[static_cast<int>(strategy)]) + "_" +
         std::to_string(shape.attention) + "a" + std::to_string(shape.moe) +
         "m_gpn" + std::to_string(shape.gpus_per_node) + "_p" +
         std::to_string(phases);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CollectivesTest,
    ::testing::Combine(::testing::Values(Shape{1, 1, 8}, Shape{2, 3, 8},
                                         Shape{3, 2, 2}, Shape{4, 5, 2},
                                         Shape{5, 3, 3}),
                       ::testing::Values(CommStrategy::Direct,
                                         CommStrategy::TwoPhase,
                                         CommStrategy::Relay),
                       ::testing::Values(1, 2)),
    ParamName);

TEST(CollectivesTest, SeveralStepsInARowStayInOrder) {
  Topology topology = Topology::Uniform(3, 2, 2);
  Transport transport(topology.num_ranks(), absl::Seconds(20));
  for (int step = 0; step < 3; ++step) {
    RunCollectives(topology, CommStrategy::TwoPhase, 2, &transport);
  }
}

TEST(CollectivesTest, TopologyFromUnevenNodes) {
  // Nodes given out of order and unevenly: groups follow node ids, leaders are
  // the lowest index.
  Topology t;
  t.num_attention = 3;
  t.num_moe = 3;
  t.attention_node = {1, 0, 1};
  t.moe_node = {3, 2, 3};
  EXPECT_EQ(t.AttentionGroups(), (std::vector<std::vector<int>>{{1}, {0, 2}}));
  EXPECT_EQ(t.MoeGroups(), (std::vector<std::vector<int>>{{1}, {0, 2}}));
  EXPECT_EQ(t.RelayMoe(), 1);
  for (CommStrategy s :
       {CommStrategy::Direct, CommStrategy::TwoPhase, CommStrategy::Relay}) {
    Transport transport(t.num_ranks(), absl::Seconds(20));
    RunCollectives(t, s, 2, &transport);
  }
}

TEST(CollectivesTest, InvalidOpsAreRejected) {
  EXPECT_EQ(ValidateCollectiveOp({0, CommStrategy::Direct, 0, 3}).code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(ValidateCollectiveOp({0, CommStrategy::Direct, 2, 2}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      ValidateCollectiveOp({0, static_cast<CommStrategy>(9), 0, 1}).code(),
      absl::StatusCode::kUnimplemented);
}

TEST(CollectivesTest, CombineBeforeDispatchIsAnError) {
  Topology topology = Topology::Uniform(1, 1, 8);
  Transport transport(2);
  Communicator comm(&transport, &topology, Role::Moe, 0);
  EXPECT_EQ(comm.CombineSend({3, CommStrategy::Direct, 0, 1}, Tensor::F32(1, 1))
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(CollectivesTest, FailingRankUnblocksTheOthers) {
  // MoE rank 0 never dispatches; the attention rank waiting in combine must not
  // hang once the failing rank aborts the transport.
  Topology topology = Topology::Uniform(1, 2, 8);
  Transport transport(topology.num_ranks());
  absl::Status attention_status;
  std::thread attention([&] {
    Communicator comm(&transport, &topology, Role::Attention, 0);
    absl::Status s =
        comm.DispatchSend({1, CommStrategy::Direct, 0, 1}, {Tensor::F32(2, 2)});
    if (!s.ok()) {
      attention_status = s;
      return;
    }
    Tensor y;
    attention_status =
        comm.CombineReceive({1, CommStrategy::Direct, 0, 1}, &y).status();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  transport.Abort(absl::ResourceExhaustedError("moe rank 0: out of memory"));
  attention.join();
  EXPECT_EQ(attention_status.code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace janus::exec
