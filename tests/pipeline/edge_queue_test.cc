#include "dyn4d/pipeline/edge_queue.h"

#include <catch2/catch.hpp>
#include <thread>

using namespace dyn4d::pipeline;
using namespace std::chrono_literals;

TEST_CASE("Latest edges drop the oldest item and count it", "[queue]") {
  EdgeQueue<int> q({{FlowPolicy::kLatest, 3}});
  for (int i = 0; i < 10; ++i) q.Push(0, i);
  CHECK(q.Depth() == 3);
  CHECK(q.MaxDepth() == 3);
  CHECK(q.Dropped() == 7);
  CHECK(q.Pop(0ms)->value == 7);  // the freshest three survive
  CHECK(q.Pop(0ms)->value == 8);
  CHECK(q.Pop(0ms)->value == 9);
  CHECK_FALSE(q.Pop(1ms).has_value());
}

TEST_CASE("Lossless edges report when full and never drop", "[queue]") {
  EdgeQueue<int> q({{FlowPolicy::kLossless, 2}});
  CHECK(q.HasSpace(0));
  q.Push(0, 1);
  q.Push(0, 2);
  CHECK_FALSE(q.HasSpace(0));
  CHECK(q.Dropped() == 0);
  CHECK(q.Pop(0ms)->value == 1);
  CHECK(q.HasSpace(0));
}

TEST_CASE("Items pop in arrival order across edges", "[queue]") {
  EdgeQueue<int> q({{FlowPolicy::kLossless, 8}, {FlowPolicy::kLatest, 8}});
  q.Push(1, 10);
  q.Push(0, 20);
  q.Push(1, 30);
  auto a = q.Pop(0ms), b = q.Pop(0ms), c = q.Pop(0ms);
  CHECK(a->edge == 1);
  CHECK(a->value == 10);
  CHECK(b->edge == 0);
  CHECK(c->value == 30);
}

TEST_CASE("Shutdown wakes a waiting consumer", "[queue]") {
  EdgeQueue<int> q({{FlowPolicy::kLossless, 1}});
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    q.Shutdown();
  });
  CHECK_FALSE(q.Pop(10s).has_value());  // returns at shutdown, not after 10 s
  t.join();
}
