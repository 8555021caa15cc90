// dyn4d bench transport: one edge, dyn4d's Publisher -> InputMux (encode,
// handshake, flow control, decode, queue) against a bare cppzmq loop sending
// the same bytes zero-copy over the same transport, in the same process run:
// paired trials in alternating order, medians over the rounds, so a machine
// whose load changes from second to second still gives a stable ratio.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <regex>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "commands.h"
#include "dyn4d/pipeline/codec.h"
#include "dyn4d/pipeline/transport.h"
#include "steady_malloc.h"

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
const size_t kFrameBytes = 640 * 480 * 3 + 640 * 480 * 2;

// Waits for the consumer without spinning: a spinning sender would take a
// core from the threads being measured (more of them on dyn4d's side).
void WaitFor(const std::atomic<int64_t>& received, int64_t sent) {
  while (received.load() < sent) std::this_thread::sleep_for(std::chrono::microseconds(50));
}

// One edge kept open for the whole bench, so that trials measure sending,
// not connecting. Send(n) returns once the consumer has taken all n.
class Edge {
 public:
  virtual ~Edge() = default;
  virtual void Send(int n) = 0;
};

// dyn4d's Publisher -> InputMux, a consumer thread popping as a node would.
class Dyn4dEdge : public Edge {
 public:
  explicit Dyn4dEdge(const std::string& kind)
      : endpoint_(Endpoint(kind, ++g_salt)),
        pub_(ctx_, endpoint_, "frames", Options(), nullptr),
        mux_(ctx_, {{"frames", "frames", endpoint_, FlowPolicy::kLossless, 8, false}}, nullptr),
        frame_(MakeFrame()) {
    mux_.Start();
    consumer_ = std::thread([this] {
      while (!done_.load()) {
        auto item = mux_.Pop(std::chrono::milliseconds(20));
        if (!item) continue;
        // Touch the payload as a stage would.
        const auto& f = std::get<RgbdFrame>(item->value.message);
        benchmark::DoNotOptimize(f.depth.data.data()[f.depth.data.size() - 1]);
        received_.fetch_add(1);
      }
    });
  }
  ~Dyn4dEdge() override {
    done_ = true;
    consumer_.join();
    mux_.Stop();
  }
  void Send(int n) override {
    for (int i = 0; i < n; ++i) {
      frame_.meta.seq = sent_++;
      pub_.Send(frame_);
    }
    WaitFor(received_, sent_);
  }

 private:
  static PublisherOptions Options() {
    PublisherOptions opt;
    opt.flow = FlowPolicy::kLossless;
    opt.high_water_mark = 8;
    opt.expected_subscribers = 1;
    return opt;
  }
  TransportContext ctx_{1};
  std::string endpoint_;
  Publisher pub_;
  InputMux mux_;
  RgbdFrame frame_;
  std::atomic<int64_t> received_{0};
  int64_t sent_ = 0;
  std::atomic<bool> done_{false};
  std::thread consumer_;
};

// A bare cppzmq PUSH -> PULL loop sending the same bytes zero-copy.
class BareEdge : public Edge {
 public:
  explicit BareEdge(const std::string& kind)
      : push_(ctx_, zmq::socket_type::push),
        pull_(ctx_, zmq::socket_type::pull),
        wire_(Encode("frames", MakeFrame())) {  // the bytes dyn4d sends
    const std::string ep = Endpoint(kind, ++g_salt);
    push_.set(zmq::sockopt::sndhwm, 8);
    pull_.set(zmq::sockopt::rcvhwm, 8);
    push_.bind(ep);
    pull_.connect(ep);
    consumer_ = std::thread([this] {
      pull_.set(zmq::sockopt::rcvtimeo, 20);
      std::vector<zmq::message_t> parts;
      while (!done_.load()) {
        parts.clear();
        if (!zmq::recv_multipart(pull_, std::back_inserter(parts))) continue;
        benchmark::DoNotOptimize(
            static_cast<const uint8_t*>(parts.back().data())[parts.back().size() - 1]);
        received_.fetch_add(1);
      }
    });
  }
  ~BareEdge() override {
    done_ = true;
    consumer_.join();
  }
  void Send(int n) override {
    auto no_free = [](void*, void*) {};
    for (int i = 0; i < n; ++i) {
      push_.send(zmq::buffer(wire_.topic), zmq::send_flags::sndmore);
      push_.send(zmq::buffer(wire_.header), zmq::send_flags::sndmore);
      for (size_t p = 0; p < wire_.payload.size(); ++p) {
        zmq::message_t m(const_cast<uint8_t*>(wire_.payload[p].data()), wire_.payload[p].size(),
                         no_free, nullptr);
        push_.send(m,
                   p + 1 < wire_.payload.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
      }
      ++sent_;
    }
    WaitFor(received_, sent_);
  }

 private:
  zmq::context_t ctx_{1};
  zmq::socket_t push_, pull_;
  const WireMessage wire_;
  std::atomic<int64_t> received_{0};
  int64_t sent_ = 0;
  std::atomic<bool> done_{false};
  std::thread consumer_;
};

struct TrialResult {
  double msgs_per_s = 0;
  double cpu_us_per_msg = 0;  ///< the whole process's CPU time (every thread)
};

double ProcessCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

// Batches of `batch` until `min_time_s` has passed.
TrialResult Trial(Edge& edge, int batch, double min_time_s) {
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = ProcessCpuSeconds();
  int64_t n = 0;
  double elapsed = 0;
  do {
    edge.Send(batch);
    n += batch;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (elapsed < min_time_s);
  return {n / elapsed, (ProcessCpuSeconds() - cpu0) * 1e6 / n};
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

}  // namespace

int RunTransportBench(const TransportBenchOptions& options) {
  UseSteadyMallocForBench();
  std::vector<std::string> kinds;
  for (const std::string kind : {"inproc", "ipc", "tcp"})
    if (options.filter.empty() || std::regex_search(kind, std::regex(options.filter)))
      kinds.push_back(kind);
  std::printf(
      "640x480 RGB-D frames (%.2f MB each) through one lossless edge (queue 8): dyn4d against a "
      "bare cppzmq PUSH/PULL loop sending the same bytes; %d rounds, each a %.2f s trial of "
      "each in alternating order, batches of %d; figures are medians over the rounds; malloc "
      "thresholds fixed (steady_malloc.h)\n\n",
      kFrameBytes / 1e6, options.repetitions, options.min_time_s, options.batch);
  std::printf("%-8s %12s %12s %10s %10s %13s %10s\n", "edge", "bare msgs/s", "dyn4d msgs/s",
              "dyn4d MB/s", "bare/dyn4d", "(min..max)", "CPU ratio");
  double tcp_ratio = -1;
  for (const std::string& kind : kinds) {
    BareEdge bare(kind);
    Dyn4dEdge ours(kind);
    // Warm-up: connections up, buffers allocated.
    Trial(bare, options.batch, 0.05);
    Trial(ours, options.batch, 0.05);
    std::vector<double> bare_rate, our_rate, ratio, cpu_ratio;
    for (int r = 0; r < options.repetitions; ++r) {
      // Pairs in alternating order, short enough that a change of load on
      // the machine (it comes and goes over seconds) hits both alike.
      TrialResult b, o;
      if (r % 2 == 0) {
        b = Trial(bare, options.batch, options.min_time_s);
        o = Trial(ours, options.batch, options.min_time_s);
      } else {
        o = Trial(ours, options.batch, options.min_time_s);
        b = Trial(bare, options.batch, options.min_time_s);
      }
      bare_rate.push_back(b.msgs_per_s);
      our_rate.push_back(o.msgs_per_s);
      ratio.push_back(b.msgs_per_s / o.msgs_per_s);
      cpu_ratio.push_back(o.cpu_us_per_msg / b.cpu_us_per_msg);
    }
    const double median_ratio = Median(ratio);
    char range[32];
    std::snprintf(range, sizeof range, "(%.2f..%.2f)",
                  *std::min_element(ratio.begin(), ratio.end()),
                  *std::max_element(ratio.begin(), ratio.end()));
    std::printf("%-8s %12.0f %12.0f %10.0f %10.3f %13s %10.3f\n", kind.c_str(), Median(bare_rate),
                Median(our_rate), Median(our_rate) * kFrameBytes / 1e6, median_ratio, range,
                Median(cpu_ratio));
    std::fflush(stdout);
    if (kind == "tcp") tcp_ratio = median_ratio;
  }
  std::printf(
      "\n(bare/dyn4d: median over the rounds of bare's msgs/s over dyn4d's in the same round; "
      "CPU ratio: median of dyn4d's process CPU time per message over bare's)\n");
  // Over inproc frames are handed over by reference: MB/s there is an
  // equivalent rate, not memory bandwidth.
  if (tcp_ratio < 0) {
    std::fprintf(stderr, "tcp not run (filter?); no ratio\n");
    return options.filter.empty() ? 1 : 0;
  }
  std::printf("transport_overhead_ratio %.3f\n", tcp_ratio);
  return 0;
}

}  // namespace dyn4d::cli
