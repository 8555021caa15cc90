#include "dyn4d/pipeline/transport.h"

#include <catch2/catch.hpp>
#include <thread>
#include <zmq.hpp>

#include "../common/test_stages.h"
#include "dyn4d/pipeline/codec.h"
#include "dyn4d/pipeline/service.h"

using namespace dyn4d::pipeline;
using namespace std::chrono_literals;

namespace {

RgbdFrame Frame(uint64_t seq, int w = 64, int h = 48) {
  RgbdFrame f;
  f.meta.seq = seq;
  f.color = Image::Allocate(w, h, PixelEncoding::kBgr8);
  f.depth = Image::Allocate(w, h, PixelEncoding::kMono16);
  f.intrinsics = {100, 100, w / 2.0, h / 2.0, w, h};
  return f;
}

PublisherOptions Opts(FlowPolicy flow, int hwm, int subscribers) {
  PublisherOptions o;
  o.flow = flow;
  o.high_water_mark = hwm;
  o.expected_subscribers = subscribers;
  o.expected_names = "test subscriber";
  o.handshake_timeout_s = 10;
  return o;
}

// Pops until EndOfStream; returns the seqs of everything else.
std::vector<uint64_t> Drain(InputMux& mux, double sleep_ms = 0) {
  std::vector<uint64_t> seqs;
  while (true) {
    auto item = mux.Pop(5000ms);
    REQUIRE(item.has_value());
    if (IsEndOfStream(item->value.message)) return seqs;
    if (sleep_ms > 0)
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(sleep_ms));
    seqs.push_back(Meta(item->value.message).seq);
  }
}

}  // namespace

TEST_CASE("A late subscriber still gets the first message (handshake)", "[zmq][transport]") {
  TransportContext ctx;
  for (const std::string ep : {"inproc://late", "tcp://127.0.0.1:46291"}) {
    INFO(ep);
    std::thread producer([&] {
      Publisher pub(ctx, ep, "frames", Opts(FlowPolicy::kLossless, 4, 1), nullptr);
      for (uint64_t i = 0; i < 20; ++i) REQUIRE(pub.Send(Frame(i)));
      REQUIRE(pub.Send(EndOfStream{}));
    });
    std::this_thread::sleep_for(200ms);  // the producer is already waiting
    InputMux mux(ctx, {{"in", "frames", ep, FlowPolicy::kLossless, 4, false}}, nullptr);
    mux.Start();
    std::vector<uint64_t> seqs = Drain(mux);
    producer.join();
    REQUIRE(seqs.size() == 20);
    for (uint64_t i = 0; i < 20; ++i) CHECK(seqs[i] == i);
  }
}

TEST_CASE("The handshake times out with a message naming topic and endpoint", "[zmq][transport]") {
  TransportContext ctx;
  PublisherOptions o = Opts(FlowPolicy::kLossless, 4, 2);
  o.handshake_timeout_s = 0.2;
  o.expected_names = "node 'geometry'";
  Publisher pub(ctx, "inproc://lonely", "poses", o, nullptr);
  CHECK_THROWS_WITH(pub.Send(Frame(0)),
                    Catch::Contains("topic 'poses' (inproc://lonely): 0 of 2") &&
                        Catch::Contains("node 'geometry'"));
}

TEST_CASE("Lossless edge: a slow consumer loses nothing (count in == out)",
          "[zmq][transport][flow]") {
  TransportContext ctx;
  const int kCount = 300;
  InputMux mux(ctx, {{"in", "frames", "inproc://lossless", FlowPolicy::kLossless, 4, false}},
               nullptr);
  mux.Start();
  Publisher pub(ctx, "inproc://lossless", "frames", Opts(FlowPolicy::kLossless, 4, 1), nullptr);
  std::thread producer([&] {
    for (int i = 0; i < kCount; ++i) REQUIRE(pub.Send(Frame(i)));
    REQUIRE(pub.Send(EndOfStream{}));
  });
  std::vector<uint64_t> seqs = Drain(mux, 0.5);
  producer.join();
  REQUIRE(seqs.size() == kCount);
  for (int i = 0; i < kCount; ++i) REQUIRE(seqs[i] == uint64_t(i));
  CHECK(mux.Dropped() == 0);
  CHECK(pub.dropped() == 0);
  CHECK(mux.MaxDepth() <= 4);  // back-pressure held the queue at its bound
}

TEST_CASE("Latest edge: bounded memory and every loss counted", "[zmq][transport][flow]") {
  TransportContext ctx;
  const int kCount = 300;
  const size_t kCapacity = 2;
  InputMux mux(ctx, {{"in", "frames", "inproc://latest", FlowPolicy::kLatest, kCapacity, false}},
               nullptr);
  mux.Start();
  Publisher pub(ctx, "inproc://latest", "frames", Opts(FlowPolicy::kLatest, 2, 1), nullptr);
  std::thread producer([&] {
    for (int i = 0; i < kCount; ++i) REQUIRE(pub.Send(Frame(i, 640, 480)));
    REQUIRE(pub.Send(EndOfStream{}));  // always delivered
  });
  std::vector<uint64_t> seqs = Drain(mux, 3.0);
  producer.join();
  INFO("received " << seqs.size() << ", queue dropped " << mux.Dropped() << ", publisher dropped "
                   << pub.dropped());
  CHECK(seqs.size() < size_t(kCount));
  CHECK(mux.Dropped() + pub.dropped() > 0);
  // Nothing vanishes silently: delivered + counted drops == sent.
  CHECK(seqs.size() + mux.Dropped() + pub.dropped() == size_t(kCount));
  CHECK(mux.MaxDepth() <= kCapacity);
  CHECK(std::is_sorted(seqs.begin(), seqs.end()));
}

TEST_CASE("Malformed messages are counted and skipped and the stream goes on",
          "[zmq][transport][bad-input]") {
  TransportContext ctx;
  std::vector<std::string> reasons;
  InputMux mux(
      ctx, {{"in", "frames", "inproc://bad", FlowPolicy::kLossless, 8, false}},
      [&](const InputEdge& e, const std::string& why) { reasons.push_back(e.port + ": " + why); });
  mux.Start();
  Publisher pub(ctx, "inproc://bad", "frames", Opts(FlowPolicy::kLossless, 8, 1), nullptr);
  WireMessage good = Encode("frames", Frame(7));
  auto header = Buffer::CopyOf(good.header.data(), good.header.size());
  REQUIRE(pub.SendRaw({Buffer::CopyOf("frames")}));  // no header
  REQUIRE(
      pub.SendRaw({Buffer::CopyOf("frames"), Buffer::CopyOf("\xff\x00garbage")}));  // not msgpack
  REQUIRE(pub.SendRaw({Buffer::CopyOf("frames"), header}));                         // parts missing
  REQUIRE(pub.Send(Frame(7)));
  REQUIRE(pub.Send(EndOfStream{}));
  std::vector<uint64_t> seqs = Drain(mux);
  CHECK(seqs == std::vector<uint64_t>{7});
  CHECK(mux.Rejected() == 3);
  REQUIRE(reasons.size() == 3);
  CHECK_THAT(reasons[0], Catch::Contains("truncated"));
  CHECK_THAT(reasons[2], Catch::Contains("payload parts"));
}

TEST_CASE("Service: a Query is answered, a malformed request gets an error answer", "[transport]") {
  dyn4d::pipeline::TransportContext ctx;
  const std::string endpoint = "ipc://" + dyn4d::test::TempDir("service") + "/s.sock";
  dyn4d::pipeline::ServiceServer server(ctx, endpoint);
  std::thread node([&] {
    for (int served = 0; served < 2;) {
      auto q = server.Poll(100);
      if (!q) {
        ++served;  // the malformed one was answered inside Poll
        if (served == 2) break;
        continue;
      }
      dyn4d::pipeline::Answer a;
      a.request_id = q->request_id;
      a.answer = q->options.empty() ? "?" : "B";
      a.question = q->question;
      server.Reply(a);
      ++served;
    }
  });
  dyn4d::pipeline::Query q;
  q.request_id = 7;
  q.question = "which?";
  q.options = {"A. x", "B. y"};
  const auto a = dyn4d::pipeline::AskService(endpoint, q, 5);
  CHECK(a.request_id == 7);
  CHECK(a.answer == "B");
  CHECK(a.question == "which?");
  {  // garbage on the wire
    zmq::context_t zc;
    zmq::socket_t s(zc, zmq::socket_type::req);
    s.set(zmq::sockopt::linger, 0);
    s.connect(endpoint);
    s.send(zmq::str_buffer("not a message"));
    zmq::message_t reply;
    std::vector<dyn4d::pipeline::Buffer> frames;
    while (true) {
      REQUIRE(s.recv(reply));
      frames.push_back(dyn4d::pipeline::Buffer::CopyOf(reply.data(), reply.size()));
      if (!reply.more()) break;
    }
    const auto r = dyn4d::pipeline::Decode(frames);
    REQUIRE(r.ok());
    const auto& e = std::get<dyn4d::pipeline::Answer>(r.message);
    CHECK(e.answer == "error");
    CHECK_THAT(e.justification, Catch::Contains("malformed"));
  }
  node.join();
  CHECK_THROWS_WITH(dyn4d::pipeline::AskService("ipc:///tmp/dyn4d-nobody.sock", q, 0.2),
                    Catch::Contains("no answer within"));
}
