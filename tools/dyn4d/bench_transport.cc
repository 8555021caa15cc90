// dyn4d bench transport: one edge, dyn4d's Publisher -> InputMux (encode,
// handshake, flow control, decode, queue) against a bare cppzmq loop sending
// the same bytes zero-copy over the same transport, in the same process run.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "commands.h"
#include "dyn4d/pipeline/codec.h"
#include "dyn4d/pipeline/transport.h"

namespace dyn4d::cli {
namespace {

using namespace pipeline;

RgbdFrame MakeFrame() {
  RgbdFrame f;
  f.color = Image::Allocate(640, 480, PixelEncoding::kBgr8);
  f.depth = Image::Allocate(640, 480, PixelEncoding::kMono16);
  for (size_t i = 0; i < f.color.data.size(); ++i) f.color.data.mutable_data()[i] = uint8_t(i * 31);
  for (size_t i = 0; i < f.depth.data.size() / 2; ++i)
    f.depth.data.mutable_as<uint16_t>()[i] = uint16_t(i);
  f.intrinsics = {525, 525, 319.5, 239.5, 640, 480};
  f.depth_scale = 5000;
  f.meta.source_id = "bench";
  return f;
}

std::string Endpoint(const std::string& kind, int salt) {
  if (kind == "inproc") return "inproc://bench" + std::to_string(salt);
  if (kind == "ipc")
    return "ipc:///tmp/dyn4d-bench-" + std::to_string(getpid()) + "-" + std::to_string(salt);
  return "tcp://127.0.0.1:" + std::to_string(47000 + (getpid() % 1000) * 10 + salt % 10);
}

int g_salt = 0;
int g_batch = 100;
const size_t kFrameBytes = 640 * 480 * 3 + 640 * 480 * 2;

void BM_Dyn4dEdge(benchmark::State& state, std::string kind) {
  TransportContext ctx(1);
  const std::string ep = Endpoint(kind, ++g_salt);
  PublisherOptions opt;
  opt.flow = FlowPolicy::kLossless;
  opt.high_water_mark = 8;
  opt.expected_subscribers = 1;
  Publisher pub(ctx, ep, "frames", opt, nullptr);
  InputMux mux(ctx, {{"frames", "frames", ep, FlowPolicy::kLossless, 8, false}}, nullptr);
  mux.Start();
  RgbdFrame frame = MakeFrame();
  std::atomic<int64_t> received{0};
  std::atomic<bool> done{false};
  std::thread consumer([&] {
    while (!done.load()) {
      auto item = mux.Pop(std::chrono::milliseconds(20));
      if (!item) continue;
      // Touch the payload as a stage would.
      const auto& f = std::get<RgbdFrame>(item->value.message);
      benchmark::DoNotOptimize(f.depth.data.data()[f.depth.data.size() - 1]);
      received.fetch_add(1);
    }
  });
  int64_t sent = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < g_batch; ++i) {
      frame.meta.seq = sent++;
      pub.Send(frame);
    }
    while (received.load() < sent) std::this_thread::yield();
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  done = true;
  consumer.join();
  mux.Stop();
  state.counters["msgs_per_s"] = benchmark::Counter(double(sent), benchmark::Counter::kIsRate);
  state.counters["MB_per_s"] =
      benchmark::Counter(double(sent) * kFrameBytes / 1e6, benchmark::Counter::kIsRate);
}

void BM_BareZmq(benchmark::State& state, std::string kind) {
  zmq::context_t ctx(1);
  const std::string ep = Endpoint(kind, ++g_salt);
  zmq::socket_t push(ctx, zmq::socket_type::push), pull(ctx, zmq::socket_type::pull);
  push.set(zmq::sockopt::sndhwm, 8);
  pull.set(zmq::sockopt::rcvhwm, 8);
  push.bind(ep);
  pull.connect(ep);
  RgbdFrame frame = MakeFrame();
  const WireMessage wire = Encode("frames", frame);  // same bytes as dyn4d sends
  std::atomic<int64_t> received{0};
  std::atomic<bool> done{false};
  std::thread consumer([&] {
    pull.set(zmq::sockopt::rcvtimeo, 20);
    std::vector<zmq::message_t> parts;
    while (!done.load()) {
      parts.clear();
      if (!zmq::recv_multipart(pull, std::back_inserter(parts))) continue;
      benchmark::DoNotOptimize(
          static_cast<const uint8_t*>(parts.back().data())[parts.back().size() - 1]);
      received.fetch_add(1);
    }
  });
  int64_t sent = 0;
  auto no_free = [](void*, void*) {};
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < g_batch; ++i) {
      push.send(zmq::buffer(wire.topic), zmq::send_flags::sndmore);
      push.send(zmq::buffer(wire.header), zmq::send_flags::sndmore);
      for (size_t p = 0; p < wire.payload.size(); ++p) {
        zmq::message_t m(const_cast<uint8_t*>(wire.payload[p].data()), wire.payload[p].size(),
                         no_free, nullptr);
        push.send(m,
                  p + 1 < wire.payload.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
      }
      ++sent;
    }
    while (received.load() < sent) std::this_thread::yield();
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  done = true;
  consumer.join();
  state.counters["msgs_per_s"] = benchmark::Counter(double(sent), benchmark::Counter::kIsRate);
  state.counters["MB_per_s"] =
      benchmark::Counter(double(sent) * kFrameBytes / 1e6, benchmark::Counter::kIsRate);
}

// Console output as usual, plus the figures for the summary.
class CapturingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      // Medians of the repetitions: one noisy repetition (the other core
      // busy) must not decide the figure.
      if (r.run_type != Run::RT_Aggregate || r.aggregate_name != "median") continue;
      auto it = r.counters.find("msgs_per_s");
      auto mb = r.counters.find("MB_per_s");
      if (it != r.counters.end())
        results[r.run_name.function_name] = {it->second.value, mb->second.value};
    }
  }
  std::map<std::string, std::pair<double, double>> results;
};

}  // namespace

int RunTransportBench(const TransportBenchOptions& options) {
  g_batch = options.batch;
  for (const std::string kind : {"inproc", "ipc", "tcp"}) {
    benchmark::RegisterBenchmark(("transport/" + kind + "/bare_cppzmq").c_str(), BM_BareZmq, kind)
        ->UseManualTime()
        ->MinTime(options.min_time_s)
        ->Repetitions(options.repetitions)
        ->ReportAggregatesOnly(true)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("transport/" + kind + "/dyn4d").c_str(), BM_Dyn4dEdge, kind)
        ->UseManualTime()
        ->MinTime(options.min_time_s)
        ->Repetitions(options.repetitions)
        ->ReportAggregatesOnly(true)
        ->Unit(benchmark::kMillisecond);
  }
  std::vector<std::string> args = {"dyn4d-bench"};
  if (!options.filter.empty()) args.push_back("--benchmark_filter=" + options.filter);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  int argc = static_cast<int>(argv.size());
  benchmark::Initialize(&argc, argv.data());
  CapturingReporter reporter;
  std::printf(
      "640x480 RGB-D frames (%.2f MB each), batches of %d, lossless edge, queue 8, "
      "median of %d repetitions\n",
      kFrameBytes / 1e6, options.batch, options.repetitions);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  // MB/s counts frame bytes delivered; over inproc they are handed over by
  // reference, so that figure is an equivalent rate, not memory bandwidth.
  std::printf("\n%-10s %-12s %12s %12s %16s\n", "transport", "impl", "msgs/s", "MB/s",
              "bare/dyn4d");
  for (const std::string kind : {"inproc", "ipc", "tcp"}) {
    auto bare = reporter.results.find("transport/" + kind + "/bare_cppzmq");
    auto ours = reporter.results.find("transport/" + kind + "/dyn4d");
    if (bare != reporter.results.end())
      std::printf("%-10s %-12s %12.0f %12.0f\n", kind.c_str(), "bare_cppzmq", bare->second.first,
                  bare->second.second);
    if (ours != reporter.results.end())
      std::printf(
          "%-10s %-12s %12.0f %12.0f %16s\n", kind.c_str(), "dyn4d", ours->second.first,
          ours->second.second,
          bare == reporter.results.end()
              ? ""
              : std::to_string(bare->second.first / ours->second.first).substr(0, 5).c_str());
  }
  auto bare = reporter.results.find("transport/tcp/bare_cppzmq");
  auto ours = reporter.results.find("transport/tcp/dyn4d");
  if (bare == reporter.results.end() || ours == reporter.results.end()) {
    std::fprintf(stderr, "tcp cases not run (filter?); no ratio\n");
    return options.filter.empty() ? 1 : 0;
  }
  std::printf("transport_overhead_ratio %.3f\n", bare->second.first / ours->second.first);
  return 0;
}

}  // namespace dyn4d::cli
