#include "dyn4d/pipeline/graph.h"

#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "dyn4d/pipeline/latency_histogram.h"
#include "dyn4d/pipeline/service.h"
#include "dyn4d/pipeline/transport.h"

namespace dyn4d::pipeline {
namespace {

// Hands the heap's free pages back to the system; false where the C library
// cannot. glibc keeps memory that was freed inside its arenas (only an
// arena's top is returned), so a long run's resident set crept up by a few
// MiB a minute while the memory in use stayed flat (heaptrack; README,
// "Memory on long runs"). malloc_trim walks each arena under its lock and
// releases whole free pages inside it too: 1.4 ms a call on the default
// graph (4.4 ms at most over 163 calls).
bool ReleaseFreeHeapPages() {
#ifdef __GLIBC__
  malloc_trim(0);
  return true;
#else
  return false;
#endif
}

// Nodes publish Stats here; the graph runner in the same process collects it.
constexpr const char* kStatsEndpoint = "inproc://dyn4d.stats";

// Processing latencies of one stats window.
class LatencyWindow {
 public:
  void Add(int64_t ns) { ms_.push_back(ns / 1e6); }
  double Percentile(double q) {
    if (ms_.empty()) return 0;
    size_t k = std::min(ms_.size() - 1, static_cast<size_t>(q * (ms_.size() - 1) + 0.5));
    std::nth_element(ms_.begin(), ms_.begin() + k, ms_.end());
    return ms_[k];
  }
  size_t count() const { return ms_.size(); }
  void Clear() { ms_.clear(); }

 private:
  std::vector<double> ms_;
};

// Runs one stage: its publishers, its input mux, its thread.
class NodeRunner {
 public:
  NodeRunner(const GraphConfig& graph, const NodeConfig& node, std::unique_ptr<Stage> stage,
             TransportContext& ctx, RunControl& control, double stats_period_s,
             std::set<std::string> remote_inputs, bool trace)
      : graph_(graph),
        node_(node),
        stage_(std::move(stage)),
        ctx_(ctx),
        control_(control),
        stats_period_ns_(static_cast<int64_t>(stats_period_s * 1e9)),
        remote_inputs_(std::move(remote_inputs)),
        trace_(trace) {}

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  bool failed() const { return failed_; }
  bool done() const { return done_; }
  const std::string& error() const { return error_; }
  const std::string& name() const { return node_.name; }
  Stage& stage() { return *stage_; }
  Stats FinalStats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return final_stats_;
  }
  size_t MaxQueueDepth() const { return max_queue_depth_; }
  /// The per-message timing log (RunOptions::trace_file); read after Join.
  struct TraceEntry {
    std::string port;  // short names: no allocation
    uint64_t seq;
    int64_t done_ns;
  };
  const std::vector<TraceEntry>& trace() const { return trace_log_; }

 private:
  bool Aborted() const { return control_.abort.load(); }

  void Fail(const std::string& what) {
    if (failed_) return;
    failed_ = true;
    error_ = "node '" + node_.name + "' (" + node_.type + ") failed: " + what;
    spdlog::error("{}", error_);
    // Stop the sources so the whole graph drains and flushes what it has.
    control_.stop_sources = true;
  }

  void SetUp() {
    for (const auto& [port, topic] : node_.outputs) {
      const TopicConfig& t = graph_.topics.at(topic);
      PublisherOptions opt;
      opt.flow = t.flow;
      opt.high_water_mark = t.queue;
      std::vector<std::string> consumers = graph_.ConsumersOf(topic);
      opt.expected_subscribers = static_cast<int>(consumers.size()) + t.external_subscribers;
      for (const std::string& c : consumers)
        opt.expected_names += (opt.expected_names.empty() ? "node '" : ", node '") + c + "'";
      opt.external_subscribers = t.external_subscribers;
      if (t.external_subscribers)
        opt.expected_names += (opt.expected_names.empty() ? "" : ", ") +
                              std::to_string(t.external_subscribers) + " external client(s)";
      opt.handshake_timeout_s = graph_.handshake_timeout_s;
      publishers_[port] =
          std::make_unique<Publisher>(ctx_, t.endpoint, topic, opt, [this] { return Aborted(); });
    }
    PublisherOptions stats_opt;
    stats_opt.flow = FlowPolicy::kLatest;
    stats_opt.high_water_mark = 1000;
    stats_opt.expected_subscribers = 1;
    stats_opt.expected_names = "the stats collector";
    stats_opt.handshake_timeout_s = 10;
    stats_opt.bind = false;
    stats_pub_ = std::make_unique<Publisher>(ctx_, kStatsEndpoint, "stats", stats_opt,
                                             [this] { return Aborted(); });
    if (!stage_->IsSource()) {
      std::vector<InputEdge> edges;
      for (const auto& [port, topic] : node_.inputs) {
        const TopicConfig& t = graph_.topics.at(topic);
        edges.push_back({port, topic, t.endpoint, t.flow, static_cast<size_t>(t.queue), false});
      }
      mux_ = std::make_unique<InputMux>(
          ctx_, std::move(edges), [this](const InputEdge& e, const std::string& reason) {
            // Rate-limited: a flood of garbage must not flood the log.
            if (rejected_logged_++ < 20)
              spdlog::warn("node '{}' input '{}' (topic '{}'): rejected message: {}", node_.name,
                           e.port, e.topic, reason);
          });
      mux_->Start();
    }
    if (!node_.service.empty()) {
      const auto ports = stage_->InputPorts();
      if (stage_->IsSource() || std::find(ports.begin(), ports.end(), "requests") == ports.end())
        throw std::runtime_error("service " + node_.service + ": stage '" + node_.type +
                                 "' takes no requests (it needs a 'requests' input port)");
      service_ = std::make_unique<ServiceServer>(ctx_, node_.service);
    }
    window_start_ns_ = SteadyNowNs();
  }

  // Answers one request from the service endpoint, if one comes within
  // `timeout_ms`: the stage sees it on "requests", its first Answer on
  // "replies" goes back (its outputs are published as usual too).
  void ServeOnce(int timeout_ms) {
    std::optional<Query> q = service_->Poll(timeout_ms);
    if (!q) return;
    Answer reply;
    reply.request_id = q->request_id;
    reply.question = q->question;
    reply.answer = "error";
    reply.justification = "the node gave no answer";
    try {
      Outputs outs = stage_->Process("requests", *q);
      for (const Output& o : outs)
        if (const auto* a = std::get_if<Answer>(&o.message); a && o.port == "replies") {
          reply = *a;
          break;
        }
      Emit(outs);
    } catch (const std::exception& e) {
      reply.justification = e.what();
    }
    service_->Reply(reply);
  }

  // Publishes every output on its port; outputs on unconnected ports are
  // discarded. Returns false when aborted.
  bool Emit(Outputs& outs) {
    for (Output& o : outs) {
      auto it = publishers_.find(o.port);
      if (it == publishers_.end()) {
        const auto ports = stage_->OutputPorts();
        if (std::find(ports.begin(), ports.end(), o.port) == ports.end())
          throw std::logic_error("stage emitted on undeclared port '" + o.port + "'");
        continue;
      }
      if (!it->second->Send(o.message)) return false;
      ++emitted_;
    }
    return true;
  }

  void EmitEndOfStream(const std::string& reason) {
    for (auto& [port, pub] : publishers_) {
      EndOfStream eos;
      eos.meta.source_id = node_.name;
      eos.meta.stamp_ns = WallNowNs();
      eos.reason = reason;
      try {
        if (pub->Send(eos)) ++emitted_;
      } catch (const std::exception& e) {
        // A consumer in another process gone while everything stops on
        // request is expected, not a failure.
        if (control_.stop_sources.load() && !failed_)
          spdlog::warn("node '{}': end of stream on '{}' not delivered: {}", node_.name, port,
                       e.what());
        else
          Fail("sending end of stream on '" + port + "': " + e.what());
      }
    }
  }

  Stats MakeStats(int64_t now_ns) {
    Stats s;
    s.meta.source_id = node_.name;
    s.meta.stamp_ns = WallNowNs();
    s.meta.seq = stats_seq_++;
    s.node = node_.name;
    const double window_s = std::max(1e-9, (now_ns - window_start_ns_) / 1e9);
    s.fps = latency_.count() / window_s;
    s.latency_p50_ms = latency_.Percentile(0.5);
    s.latency_p95_ms = latency_.Percentile(0.95);
    s.run_latency_p50_ms = run_latency_.PercentileMs(0.5);
    s.run_latency_p95_ms = run_latency_.PercentileMs(0.95);
    s.processed = processed_;
    s.emitted = emitted_;
    for (const auto& kv : publishers_) s.dropped += kv.second->dropped();
    if (mux_) {
      s.queue_depth = mux_->Depth();
      s.dropped += mux_->Dropped();
      s.errors = mux_->Rejected();
      max_queue_depth_ = mux_->MaxDepth();
    }
    s.errors += stage_errors_ + stage_->SkippedCount();
    s.counters = stage_->Counters();
    return s;
  }

  void MaybePublishStats(bool force) {
    const int64_t now = SteadyNowNs();
    if (!force && now - window_start_ns_ < stats_period_ns_) return;
    Stats s = MakeStats(now);
    {
      std::lock_guard<std::mutex> lock(mu_);
      final_stats_ = s;
    }
    try {
      if (stats_pub_) stats_pub_->Send(s);  // absent if start-up failed early
    } catch (const std::exception& e) {
      spdlog::warn("node '{}': stats not published: {}", node_.name, e.what());
    }
    latency_.Clear();
    window_start_ns_ = now;
  }

  void RunSource() {
    // Handshake first, so no consumer misses the first frame.
    for (auto& [port, pub] : publishers_)
      if (!pub->WaitForSubscribers()) return;
    while (!control_.stop_sources.load() && !Aborted()) {
      const int64_t t0 = SteadyNowNs();
      std::optional<Outputs> outs = stage_->Produce();
      if (!outs) break;
      const int64_t took_ns = SteadyNowNs() - t0;
      latency_.Add(took_ns);
      run_latency_.Add(took_ns);
      ++processed_;
      // Logged as sent before the send: in one process a consumer may be
      // done with the message before this thread runs again.
      if (trace_) {
        const int64_t now = SteadyNowNs();
        for (const Output& o : *outs)
          if (auto it = publishers_.find(o.port); it != publishers_.end())
            trace_log_.push_back({o.port, Meta(o.message).seq, now});
      }
      if (!Emit(*outs)) return;
      MaybePublishStats(false);
    }
    if (control_.stop_sources.load()) {
      eos_reason_ = "stopped";
    } else if (processed_ == 0 && !Aborted()) {
      // Readable but empty (every frame corrupt, a zero-length video): the
      // run processed nothing and must say so, not end "done".
      Fail("the source produced no frame (every frame unreadable, or none there)");
    }
  }

  std::string ProducerName(const std::string& topic) const {
    const NodeConfig* p = graph_.ProducerOf(topic);
    return p ? "node '" + p->name + "'" : "an outside publisher";
  }

  // Inputs from other processes: a producer that went away without ending
  // its stream fails this node (naming it) instead of leaving it waiting
  // forever; one that never came is asked for, every 10 s.
  void CheckProducers(std::vector<bool>& ended, size_t& ended_count) {
    const int64_t now = SteadyNowNs();
    if (now - last_liveness_check_ns_ < 200'000'000) return;
    last_liveness_check_ns_ = now;
    const auto& edges = mux_->edges();
    const int dead = mux_->DeadProducer(kProducerTimeoutS);
    if (dead >= 0 && !ended[dead]) {
      const InputEdge& e = edges[dead];
      Fail("input '" + e.port + "' (topic '" + e.topic + "' at " + e.endpoint +
           "): its producer disconnected more than " + std::to_string(int(kProducerTimeoutS)) +
           " s ago without ending the stream: its process died or was stopped");
      ended[dead] = true;
      ++ended_count;
    }
    if (now - last_waiting_log_ns_ < 10'000'000'000) return;
    std::string waiting;
    for (size_t i : mux_->NeverConnected(5))
      if (!ended[i])
        waiting += (waiting.empty() ? "" : ", ") + std::string("'") + edges[i].topic + "' at " +
                   edges[i].endpoint + " (" + ProducerName(edges[i].topic) + ")";
    if (waiting.empty()) return;
    last_waiting_log_ns_ = now;
    spdlog::warn("node '{}': no producer has connected yet to {}: start it", node_.name, waiting);
  }

  void RunFilter() {
    const auto& edges = mux_->edges();
    std::vector<bool> ended(edges.size(), false);
    size_t ended_count = 0;
    bool stop_seen = false;
    // Runs until every input has ended and what arrived before is processed.
    while (!Aborted() && (ended_count < edges.size() || mux_->Depth() > 0)) {
      if (!stop_seen && control_.stop_sources.load()) {
        // On a stop request, producers in this process end their streams
        // themselves; one in another process may never do so (it may be
        // gone), so its inputs end here once what is queued is processed.
        stop_seen = true;
        for (size_t i = 0; i < edges.size(); ++i)
          if (!ended[i] && remote_inputs_.count(edges[i].port)) {
            ended[i] = true;
            ++ended_count;
            eos_reason_ = "stopped";
          }
      }
      if (service_ && !failed_) ServeOnce(0);
      CheckProducers(ended, ended_count);
      auto item = mux_->Pop(std::chrono::milliseconds(service_ ? 20 : 100));
      MaybePublishStats(false);
      if (!item) continue;
      const Message& msg = item->value.message;
      if (const auto* eos = std::get_if<EndOfStream>(&msg)) {
        if (!ended[item->edge]) {
          ended[item->edge] = true;
          ++ended_count;
          if (eos->reason != "done") eos_reason_ = eos->reason;
        }
        continue;
      }
      // After a failure keep draining (so producers are never blocked on us)
      // but process nothing more.
      if (failed_) continue;
      const std::string& port = edges[item->edge].port;
      try {
        const int64_t t0 = SteadyNowNs();
        Outputs outs = stage_->Process(port, msg);
        const int64_t took_ns = SteadyNowNs() - t0;
        latency_.Add(took_ns);
        run_latency_.Add(took_ns);
        ++processed_;
        // Done when processed, logged before the outputs leave (a consumer
        // in this process may be done with them before this thread runs on).
        if (trace_) trace_log_.push_back({port, Meta(msg).seq, SteadyNowNs()});
        if (!Emit(outs)) return;
      } catch (const std::exception& e) {
        ++stage_errors_;
        Fail("on " + TypeName(msg) + " seq " + std::to_string(Meta(msg).seq) + " from input '" +
             port + "': " + e.what());
      }
    }
  }

  void Run() {
    try {
      SetUp();
    } catch (const std::exception& e) {
      // End-of-stream still goes out on the outputs that exist, so that
      // consumers flush; the graph's failure grace period covers the rest.
      Fail(std::string("start-up: ") + e.what());
    }
    if (!failed_) {
      try {
        if (stage_->IsSource())
          RunSource();
        else
          RunFilter();
      } catch (const std::exception& e) {
        Fail(e.what());
      }
    }
    if (!Aborted()) {
      if (!failed_) {
        try {
          Outputs outs = stage_->Finish();
          Emit(outs);
        } catch (const std::exception& e) {
          Fail(std::string("while flushing: ") + e.what());
        }
      }
      EmitEndOfStream(failed_ ? "error" : eos_reason_);
      // An offline run may stay up for questions after its inputs ended.
      if (service_ && !failed_ && node_.service_linger_s > 0) {
        spdlog::info("node '{}': answering questions at {} for {} s (Ctrl-C ends it)", node_.name,
                     node_.service, node_.service_linger_s);
        const int64_t until = SteadyNowNs() + static_cast<int64_t>(node_.service_linger_s * 1e9);
        while (!control_.stop_sources.load() && !Aborted() && SteadyNowNs() < until) {
          try {
            ServeOnce(100);
          } catch (const std::exception& e) {
            spdlog::warn("node '{}': service: {}", node_.name, e.what());
          }
          MaybePublishStats(false);
        }
      }
    }
    MaybePublishStats(true);
    if (mux_) mux_->Stop();
    done_ = true;
    // Publishers close here, lossless ones to other processes once their
    // consumers have received the end of the stream.
    if (!failed_)
      for (auto& [port, pub] : publishers_) pub->AwaitEndOfStreamReceipts();
    publishers_.clear();
    stats_pub_.reset();
    service_.reset();
  }

  const GraphConfig& graph_;
  const NodeConfig& node_;
  std::unique_ptr<Stage> stage_;
  TransportContext& ctx_;
  RunControl& control_;
  const int64_t stats_period_ns_;
  const std::set<std::string> remote_inputs_;  ///< input ports fed from another process
  const bool trace_;
  std::vector<TraceEntry> trace_log_;

  std::map<std::string, std::unique_ptr<Publisher>> publishers_;
  std::unique_ptr<Publisher> stats_pub_;
  std::unique_ptr<InputMux> mux_;
  std::unique_ptr<ServiceServer> service_;
  std::thread thread_;

  LatencyWindow latency_;
  LatencyHistogram run_latency_;  // the whole run's, for the end summary
  int64_t window_start_ns_ = 0;
  int64_t last_liveness_check_ns_ = 0, last_waiting_log_ns_ = 0;
  /// How long a producer in another process may be gone before its
  /// consumers give up on it (ZeroMQ reconnects within this if it returns).
  static constexpr double kProducerTimeoutS = 3.0;
  uint64_t processed_ = 0, emitted_ = 0, stage_errors_ = 0, stats_seq_ = 0;
  std::atomic<uint64_t> rejected_logged_{0};
  std::string eos_reason_ = "done";
  std::atomic<bool> failed_{false}, done_{false};
  std::string error_;
  mutable std::mutex mu_;
  Stats final_stats_;
  std::atomic<size_t> max_queue_depth_{0};
};

nlohmann::json StatsToJson(const Stats& s, double t_s) {
  return {{"t_s", t_s},
          {"node", s.node},
          {"fps", s.fps},
          {"latency_p50_ms", s.latency_p50_ms},
          {"latency_p95_ms", s.latency_p95_ms},
          {"run_latency_p50_ms", s.run_latency_p50_ms},
          {"run_latency_p95_ms", s.run_latency_p95_ms},
          {"queue_depth", s.queue_depth},
          {"processed", s.processed},
          {"emitted", s.emitted},
          {"dropped", s.dropped},
          {"errors", s.errors},
          {"counters", s.counters}};
}

// Per node: "[ 12.0s] cloud 30/s 2.1/4.0ms q1 | map ..." (fps, p50/p95
// latency, queue depth, drops/errors when there are any) - the detail.
std::string NodesStatusLine(const std::map<std::string, Stats>& latest, double elapsed_s) {
  std::ostringstream os;
  char buf[160];
  std::snprintf(buf, sizeof buf, "[%6.1fs]", elapsed_s);
  os << buf;
  bool first = true;
  for (const auto& [name, s] : latest) {
    std::snprintf(buf, sizeof buf, "%s%s %.0f/s %.1f/%.1fms q%llu", first ? " " : " | ",
                  name.c_str(), s.fps, s.latency_p50_ms, s.latency_p95_ms,
                  static_cast<unsigned long long>(s.queue_depth));
    os << buf;
    if (s.dropped) os << " drop " << s.dropped;
    if (s.errors) os << " err " << s.errors;
    first = false;
  }
  return os.str();
}

// The line that fits a terminal of `columns`: elapsed time, progress of the
// sources that know their length, frames/s overall (the sources' output
// over the run), the slowest node (highest median latency) and the drops
// and errors of all nodes together:
//   "[ 12.0s] [######....] 45% 54/120  9.8 fps  slowest geometry 95 ms  drop 3"
std::string StatusLineImpl(const std::map<std::string, Stats>& latest, double elapsed_s,
                           const std::map<std::string, int64_t>& totals, size_t columns) {
  char buf[200];
  uint64_t done = 0, dropped = 0, errors = 0;
  int64_t total = 0;
  for (const auto& [name, t] : totals) {
    auto it = latest.find(name);
    if (t > 0 && it != latest.end()) done += it->second.processed, total += t;
  }
  const Stats* slowest = nullptr;
  for (const auto& [name, s] : latest) {
    dropped += s.dropped, errors += s.errors;
    if (!totals.count(name) && (!slowest || s.latency_p50_ms > slowest->latency_p50_ms))
      slowest = &s;
  }
  std::string tail;
  if (total > 0 && elapsed_s > 0) {
    std::snprintf(buf, sizeof buf, "  %.1f fps", done / elapsed_s);
    tail += buf;
  }
  if (slowest) {
    std::snprintf(buf, sizeof buf, "  slowest %s %.0f ms", slowest->node.c_str(),
                  slowest->latency_p50_ms);
    tail += buf;
  }
  if (dropped) tail += "  drop " + std::to_string(dropped);
  if (errors) tail += "  err " + std::to_string(errors);
  std::snprintf(buf, sizeof buf, "[%6.1fs]", elapsed_s);
  std::string head = buf;
  if (total > 0) {
    const double frac = std::min(1.0, double(done) / total);
    std::snprintf(buf, sizeof buf, " %3.0f%% %llu/%lld", frac * 100,
                  static_cast<unsigned long long>(done), static_cast<long long>(total));
    const std::string count = buf;
    // The bar gets what is left, 20 characters at most.
    const long room = long(columns) - 1 - long(head.size() + count.size() + tail.size()) - 3;
    const int width = int(std::min<long>(20, room));
    if (width >= 5) {
      const int filled = static_cast<int>(frac * width);
      head += " [" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
    }
    head += count;
  }
  std::string line = head + tail;
  if (line.size() > columns - 1) line.resize(columns - 1);
  return line;
}

// Terminal width, so a live line never wraps (a wrapped line cannot be
// redrawn in place).
size_t TerminalColumns() {
  winsize w{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 10) return w.ws_col;
  return 80;
}

// The per-message timing log, written whole (.partial, then renamed) or not
// at all; a failure is a warning: the run's outputs do not depend on it.
void WriteTrace(const std::string& path, const std::vector<std::unique_ptr<NodeRunner>>& runners) {
  const std::string partial = path + ".partial";
  std::string why = "disk full?";
  {
    std::ofstream out(partial, std::ios::trunc);
    if (!out) why = std::strerror(errno);
    out << "node,port,seq,done_ns\n";
    for (const auto& r : runners)
      for (const NodeRunner::TraceEntry& e : r->trace())
        out << r->name() << ',' << e.port << ',' << e.seq << ',' << e.done_ns << '\n';
    out.flush();
    if (out) {
      out.close();
      std::error_code ec;
      std::filesystem::rename(partial, path, ec);
      if (!ec) return;
      why = ec.message();
    }
  }
  std::error_code ignored;
  std::filesystem::remove(partial, ignored);
  spdlog::warn("trace: writing {} failed ({}); no trace written", path, why);
}

}  // namespace

std::string StatusLine(const std::map<std::string, Stats>& latest, double elapsed_s,
                       const std::map<std::string, int64_t>& totals, size_t columns) {
  return StatusLineImpl(latest, elapsed_s, totals, columns);
}

struct Graph::Impl {
  GraphConfig config;
  RunOptions options;
  std::string output_dir;
  std::vector<std::pair<const NodeConfig*, std::unique_ptr<Stage>>> stages;
  bool ran = false;
};

Graph::Graph(GraphConfig config, const StageRegistry& registry, RunOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  impl_->options = std::move(options);
  const GraphConfig& g = impl_->config;
  impl_->output_dir = impl_->options.output_dir.empty() ? g.output_dir : impl_->options.output_dir;

  std::vector<std::string> problems = g.problems;  // from parsing, if any
  std::set<std::string> selected;
  for (const std::string& n : impl_->options.only_nodes) {
    if (!g.FindNode(n)) {
      std::string known;
      for (const NodeConfig& node : g.nodes) known += (known.empty() ? "" : ", ") + node.name;
      problems.push_back(g.file + ": no node named '" + n + "' (nodes: " + known + ")");
    }
    selected.insert(n);
  }
  if (problems.size() > g.problems.size()) throw ConfigError(problems);  // unknown node names
  auto in_process = [&](const std::string& node) {
    return selected.empty() || selected.count(node);
  };

  std::error_code ec;
  std::filesystem::create_directories(impl_->output_dir, ec);
  if (ec)
    throw ConfigError(
        {g.file + ": output_dir: cannot create '" + impl_->output_dir + "': " + ec.message()});

  for (const NodeConfig& node : g.nodes) {
    if (!in_process(node.name)) continue;
    if (node.type.empty()) continue;  // already reported by the parser
    if (!registry.Has(node.type)) {
      std::string known;
      for (const auto& kv : registry.Types()) known += (known.empty() ? "" : ", ") + kv.first;
      problems.push_back(node.location + ".type: unknown stage type '" + node.type +
                         "' (known: " + known + ")");
      continue;
    }
    std::unique_ptr<Stage> stage;
    try {
      stage = registry.Create(node.type, *node.params,
                              {node.name, impl_->output_dir, node.inputs, node.outputs});
    } catch (const ConfigError& e) {
      problems.insert(problems.end(), e.problems().begin(), e.problems().end());
      continue;
    } catch (const std::exception& e) {
      problems.push_back(node.location + ": cannot create stage '" + node.type + "': " + e.what());
      continue;
    }
    // Ports: every required input connected, nothing undeclared.
    const auto in_ports = stage->InputPorts();
    const auto out_ports = stage->OutputPorts();
    const auto optional_ports = stage->OptionalInputPorts();
    for (const std::string& p : in_ports)
      if (!node.inputs.count(p) &&
          std::find(optional_ports.begin(), optional_ports.end(), p) == optional_ports.end())
        problems.push_back(node.location + ".inputs." + p + ": missing: stage '" + node.type +
                           "' needs this input");
    for (const auto& kv : node.inputs)
      if (std::find(in_ports.begin(), in_ports.end(), kv.first) == in_ports.end())
        problems.push_back(node.location + ".inputs." + kv.first + ": stage '" + node.type +
                           "' has no input port '" + kv.first + "'");
    for (const auto& kv : node.outputs)
      if (std::find(out_ports.begin(), out_ports.end(), kv.first) == out_ports.end())
        problems.push_back(node.location + ".outputs." + kv.first + ": stage '" + node.type +
                           "' has no output port '" + kv.first + "'");
    // A node alone in its process can only reach the others over ipc/tcp.
    if (!selected.empty()) {
      auto check = [&](const std::string& key, const std::string& topic,
                       const std::vector<std::string>& peers) {
        const TopicConfig& t = g.topics.at(topic);
        if (t.endpoint.rfind("inproc://", 0) != 0) return;
        for (const std::string& peer : peers)
          if (!in_process(peer)) {
            problems.push_back(node.location + "." + key + ": topic '" + topic + "' uses " +
                               t.endpoint + ", which cannot reach node '" + peer +
                               "' in another process; set topics." + topic +
                               ".endpoint to an ipc:// or tcp:// endpoint");
            return;
          }
      };
      for (const auto& [port, topic] : node.outputs)
        check("outputs." + port, topic, g.ConsumersOf(topic));
      for (const auto& [port, topic] : node.inputs) {
        std::vector<std::string> producers;
        for (const NodeConfig& other : g.nodes)
          for (const auto& kv : other.outputs)
            if (kv.second == topic) producers.push_back(other.name);
        check("inputs." + port, topic, producers);
      }
    }
    // A live source's topics drop stale frames unless the file says otherwise.
    if (stage->IsLive())
      for (const auto& kv : node.outputs) {
        TopicConfig& t = impl_->config.topics.at(kv.second);
        if (!t.flow_given) t.flow = FlowPolicy::kLatest;
      }
    impl_->stages.emplace_back(&node, std::move(stage));
  }
  if (!problems.empty()) throw ConfigError(problems);
}

Graph::~Graph() = default;
const GraphConfig& Graph::config() const { return impl_->config; }
const std::string& Graph::output_dir() const { return impl_->output_dir; }

RunResult Graph::Run(RunControl& control) {
  if (impl_->ran) throw std::logic_error("Graph::Run called twice");
  impl_->ran = true;
  RunResult result;
  result.output_dir = impl_->output_dir;
  const auto t_start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  };

  TransportContext ctx(1);
  // The stats collector binds before any node starts, so no node misses it.
  InputMux collector(ctx, {{"stats", "stats", kStatsEndpoint, FlowPolicy::kLatest, 4096, true}},
                     nullptr);
  collector.Start();
  // Stats log: whole lines only. Each line is flushed; when one cannot be
  // (a full disk), the file is cut back to the last complete line and the
  // log stops, said once.
  std::ofstream stats_log;
  std::string stats_path;
  uintmax_t stats_complete = 0;
  if (!impl_->options.stats_file.empty()) {
    stats_path = impl_->output_dir + "/" + impl_->options.stats_file;
    stats_log.open(stats_path, std::ios::trunc);
    if (!stats_log) spdlog::warn("cannot write stats to {}", stats_path);
  }
  auto log_stats = [&](const std::string& line) {
    if (!stats_log) return;
    stats_log << line << "\n";
    stats_log.flush();
    if (stats_log) {
      stats_complete += line.size() + 1;
      return;
    }
    stats_log.close();
    std::error_code ec;
    std::filesystem::resize_file(stats_path, stats_complete, ec);
    spdlog::warn("stats: writing {} failed (disk full?); it ends at its last complete line",
                 stats_path);
  };

  std::set<std::string> local_nodes;
  std::map<std::string, int64_t> totals;  // sources' lengths, for the progress bar
  for (auto& [node, stage] : impl_->stages) {
    local_nodes.insert(node->name);
    if (stage->IsSource()) totals[node->name] = stage->ProgressTotal();
  }
  std::vector<std::unique_ptr<NodeRunner>> runners;
  for (auto& [node, stage] : impl_->stages) {
    std::set<std::string> remote_inputs;
    for (const auto& [port, topic] : node->inputs) {
      const NodeConfig* producer = impl_->config.ProducerOf(topic);
      if (!producer || !local_nodes.count(producer->name)) remote_inputs.insert(port);
    }
    runners.push_back(std::make_unique<NodeRunner>(
        impl_->config, *node, std::move(stage), ctx, control, impl_->options.stats_period_s,
        std::move(remote_inputs), !impl_->options.trace_file.empty()));
  }
  for (auto& r : runners) r->Start();

  // Collect stats until every node has finished.
  std::atomic<bool> nodes_done{false};
  std::map<std::string, Stats> latest;
  const bool tty = isatty(STDERR_FILENO);
  std::thread collect([&] {
    double last_print = 0;
    auto drain_one = [&](std::chrono::milliseconds timeout) {
      auto item = collector.Pop(timeout);
      if (!item) return false;
      if (const auto* s = std::get_if<Stats>(&item->value.message)) {
        latest[s->node] = *s;
        log_stats(StatsToJson(*s, elapsed()).dump());
        for (auto& r : runners) r->stage().OnRunStats(*s);
      }
      return true;
    };
    double last_release = 0;
    while (!nodes_done.load()) {
      drain_one(std::chrono::milliseconds(200));
      const double now = elapsed();
      if (impl_->options.release_memory_period_s > 0 &&
          now - last_release >= impl_->options.release_memory_period_s) {
        if (ReleaseFreeHeapPages()) ++result.heap_releases;
        last_release = now;
      }
      // A terminal gets a live line; a log gets a line every 5 s.
      if (impl_->options.status_line && !latest.empty() && now - last_print >= (tty ? 1.0 : 5.0)) {
        // A terminal gets the one line that fits (or, asked for, the
        // per-node detail cut to fit); a log gets both, every 5 s.
        const size_t columns = TerminalColumns();
        if (tty && impl_->options.status_detail)
          std::fprintf(stderr, "\r\033[K%s",
                       NodesStatusLine(latest, now).substr(0, columns - 1).c_str());
        else if (tty)
          std::fprintf(stderr, "\r\033[K%s", StatusLineImpl(latest, now, totals, columns).c_str());
        else
          std::fprintf(stderr, "%s\n%s\n", StatusLineImpl(latest, now, totals, 200).c_str(),
                       NodesStatusLine(latest, now).c_str());
        last_print = now;
      }
    }
    while (drain_one(std::chrono::milliseconds(50))) {
    }
    if (impl_->options.status_line && tty && last_print > 0) std::fprintf(stderr, "\n");
  });

  // After a failure the others get a grace period to flush; a node that
  // cannot finish (its producer died before sending end of stream) is then
  // stopped hard rather than hanging the run.
  std::optional<std::chrono::steady_clock::time_point> failed_at;
  bool grace_expired = false;
  while (true) {
    bool all_done = true, any_failed = false;
    for (auto& r : runners) {
      all_done &= r->done();
      any_failed |= r->failed();
    }
    if (all_done) break;
    if (any_failed && !failed_at) failed_at = std::chrono::steady_clock::now();
    if (failed_at && !grace_expired &&
        std::chrono::steady_clock::now() - *failed_at >
            std::chrono::duration<double>(impl_->options.failure_grace_s)) {
      spdlog::error("nodes still running {:.1f} s after a failure: stopping them",
                    impl_->options.failure_grace_s);
      control.abort = true;
      grace_expired = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& r : runners) r->Join();
  nodes_done = true;
  collect.join();
  collector.Stop();
  if (stats_log) stats_log.close();

  if (!impl_->options.trace_file.empty())
    WriteTrace(impl_->output_dir + "/" + impl_->options.trace_file, runners);

  std::vector<std::string> errors;
  for (auto& r : runners) {
    result.final_stats[r->name()] = r->FinalStats();
    if (totals.count(r->name())) result.sources.push_back(r->name());
    result.max_queue_depth[r->name()] = r->MaxQueueDepth();
    if (r->failed()) errors.push_back(r->error());
  }
  result.elapsed_s = elapsed();
  if (!errors.empty()) {
    result.status = RunResult::Status::kFailed;  // even if aborted after the grace period
    for (size_t i = 0; i < errors.size(); ++i) result.message += (i ? "\n" : "") + errors[i];
  } else if (control.abort.load()) {
    result.status = RunResult::Status::kAborted;
    result.message = "aborted: nodes stopped without flushing";
  } else if (control.stop_sources.load()) {
    result.status = RunResult::Status::kStopped;
    result.message = "stopped on request; every message already produced was processed and flushed";
  } else {
    result.status = RunResult::Status::kOk;
    result.message = "sources finished; all nodes flushed";
  }
  return result;
}

}  // namespace dyn4d::pipeline
