#include "dyn4d/pipeline/transport.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "dyn4d/pipeline/codec.h"

namespace dyn4d::pipeline {

std::string ToString(FlowPolicy p) { return p == FlowPolicy::kLossless ? "lossless" : "latest"; }
std::optional<FlowPolicy> FlowPolicyFromString(const std::string& s) {
  if (s == "lossless") return FlowPolicy::kLossless;
  if (s == "latest") return FlowPolicy::kLatest;
  return std::nullopt;
}

// ---- context ----------------------------------------------------------------

struct TransportContext::Impl {
  explicit Impl(int io_threads) : ctx(io_threads) {}
  zmq::context_t ctx;
};
TransportContext::TransportContext(int io_threads) : impl_(std::make_unique<Impl>(io_threads)) {}
TransportContext::~TransportContext() = default;
void* TransportContext::native() { return &impl_->ctx; }

namespace {

zmq::context_t& Zmq(TransportContext& ctx) { return *static_cast<zmq::context_t*>(ctx.native()); }

// Payloads smaller than this are copied: a reference-counted hand-over costs
// more than copying a few bytes.
constexpr size_t kZeroCopyMinBytes = 256;

zmq::message_t ToZmq(const Buffer& b) {
  if (b.size() < kZeroCopyMinBytes || !b.owner()) return zmq::message_t(b.data(), b.size());
  // ZeroMQ calls the free function when the last reference is gone (after
  // the bytes are on the wire, or when the inproc peer drops them).
  auto* keep = new std::shared_ptr<const void>(b.owner());
  return zmq::message_t(
      const_cast<uint8_t*>(b.data()), b.size(),
      [](void*, void* hint) { delete static_cast<std::shared_ptr<const void>*>(hint); }, keep);
}

}  // namespace

// ---- publisher ----------------------------------------------------------------

namespace {
// On tcp:// a peer on a machine that died (no FIN ever comes) is found by
// ZeroMQ's heartbeats: a ping every second, gone after 5 s without a reply.
void SetHeartbeats(zmq::socket_t& socket) {
  socket.set(zmq::sockopt::heartbeat_ivl, 1000);
  socket.set(zmq::sockopt::heartbeat_timeout, 5000);
  socket.set(zmq::sockopt::heartbeat_ttl, 5000);
}
}  // namespace

struct Publisher::Impl {
  Impl(TransportContext& ctx, std::string ep, std::string tp, PublisherOptions opt,
       std::function<bool()> stop)
      : endpoint(std::move(ep)),
        topic(std::move(tp)),
        options(std::move(opt)),
        should_stop(std::move(stop)),
        socket(Zmq(ctx), zmq::socket_type::xpub) {
    // Every subscription is reported, duplicates included, so we can count.
    socket.set(zmq::sockopt::xpub_verbose, 1);
    // ... and every unsubscription too, a subscriber that goes away included:
    // how a lossless edge learns that a consumer's process died.
    socket.set(zmq::sockopt::xpub_verboser, 1);
    if (endpoint.rfind("tcp://", 0) == 0) SetHeartbeats(socket);
    // Never let ZeroMQ drop silently: a full subscriber makes send fail, and
    // we decide. Lossless waits; latest drops the message and counts it
    // (the subscriber's queue drops its oldest, also counted).
    socket.set(zmq::sockopt::xpub_nodrop, 1);
    socket.set(zmq::sockopt::sndhwm, std::max(1, options.high_water_mark));
    // Wake up regularly while blocked so a stop request is noticed.
    socket.set(zmq::sockopt::sndtimeo, 100);
    // Lossless: give queued messages (the end-of-stream above all) time to
    // leave when the socket closes; latest: do not hold shutdown up.
    socket.set(zmq::sockopt::linger, options.flow == FlowPolicy::kLossless ? 10000 : 200);
    if (options.bind)
      socket.bind(endpoint);
    else
      socket.connect(endpoint);
  }

  // Reads subscription notifications without blocking.
  void DrainSubscriptions() {
    zmq::message_t m;
    while (socket.recv(m, zmq::recv_flags::dontwait)) {
      if (m.size() >= 1) {
        const uint8_t kind = static_cast<const uint8_t*>(m.data())[0];
        if (kind == 1)
          ++subscribers;
        else if (kind == 0 && subscribers > 0)
          --subscribers;
      }
    }
  }

  bool WaitForSubscribers() {
    if (handshake_done) return true;
    const auto start = std::chrono::steady_clock::now();
    auto last_log = start;
    while (true) {
      DrainSubscriptions();
      if (subscribers >= options.expected_subscribers) break;
      if (should_stop && should_stop()) return false;
      const auto now = std::chrono::steady_clock::now();
      const double waited = std::chrono::duration<double>(now - start).count();
      if (options.handshake_timeout_s > 0 && waited > options.handshake_timeout_s)
        throw std::runtime_error("topic '" + topic + "' (" + endpoint +
                                 "): " + std::to_string(subscribers) + " of " +
                                 std::to_string(options.expected_subscribers) +
                                 " expected subscriber(s) connected after " +
                                 std::to_string(int(options.handshake_timeout_s)) +
                                 " s (waiting for " + options.expected_names + ")");
      if (now - last_log > std::chrono::seconds(5)) {
        spdlog::info("topic '{}' ({}): waiting for {} of {} subscriber(s): {}", topic, endpoint,
                     options.expected_subscribers - subscribers, options.expected_subscribers,
                     options.expected_names);
        last_log = now;
      }
      zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(50));
    }
    handshake_done = true;
    return true;
  }

  // A lossless edge to another process whose subscriber went away (its
  // process died): what was queued for it is lost, so the producer must not
  // go on as if delivered. Throws, naming the topic and who was expected.
  void CheckSubscribers() {
    if (!handshake_done || endpoint.rfind("inproc://", 0) == 0 ||
        subscribers >= options.expected_subscribers)
      return;
    if (should_stop && should_stop()) return;
    if (options.flow == FlowPolicy::kLatest) {
      // A live edge goes on without it (it drops by design), said once.
      if (!lost_warned)
        spdlog::warn("topic '{}' ({}): {} of {} subscriber(s) ({}) disconnected; going on", topic,
                     endpoint, options.expected_subscribers - subscribers,
                     options.expected_subscribers, options.expected_names);
      lost_warned = true;
      return;
    }
    throw std::runtime_error("topic '" + topic + "' (" + endpoint +
                             "): " + std::to_string(options.expected_subscribers - subscribers) +
                             " of " + std::to_string(options.expected_subscribers) +
                             " subscriber(s) (" + options.expected_names +
                             ") disconnected before the end of the stream: the process "
                             "died or was stopped, and what was queued for it is lost");
  }

  bool SendPart(zmq::message_t& m, bool more) {
    while (true) {
      if (socket.send(m, more ? zmq::send_flags::sndmore : zmq::send_flags::none)) return true;
      // EAGAIN after sndtimeo: a lossless subscriber is full. Keep waiting
      // unless told to stop, or the subscriber is gone.
      if (should_stop && should_stop()) return false;
      DrainSubscriptions();
      CheckSubscribers();
    }
  }

  // `must_deliver`: wait even on a latest edge (end of stream must arrive).
  bool SendFrames(zmq::message_t topic_frame, zmq::message_t header,
                  std::vector<zmq::message_t> parts, bool must_deliver) {
    if (!WaitForSubscribers()) return false;
    DrainSubscriptions();
    CheckSubscribers();
    if (options.flow == FlowPolicy::kLatest && !must_deliver) {
      if (!socket.send(topic_frame, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
        ++dropped;  // a subscriber is full: a live edge moves on
        DrainSubscriptions();
        return true;
      }
    } else if (!SendPart(topic_frame, true)) {
      return false;
    }
    // From here the message is committed: ZeroMQ checks the high-water mark on
    // the first frame only, so the remaining frames never block.
    if (!SendPart(header, !parts.empty())) return false;
    for (size_t i = 0; i < parts.size(); ++i)
      if (!SendPart(parts[i], i + 1 < parts.size())) return false;
    ++sent;
    return true;
  }

  std::string endpoint, topic;
  PublisherOptions options;
  std::function<bool()> should_stop;
  zmq::socket_t socket;
  int subscribers = 0;
  bool handshake_done = false, lost_warned = false;
  uint64_t sent = 0, dropped = 0;
};

Publisher::Publisher(TransportContext& ctx, std::string endpoint, std::string topic,
                     PublisherOptions options, std::function<bool()> should_stop)
    : impl_(std::make_unique<Impl>(ctx, std::move(endpoint), std::move(topic), std::move(options),
                                   std::move(should_stop))) {}
Publisher::~Publisher() = default;

bool Publisher::WaitForSubscribers() { return impl_->WaitForSubscribers(); }

bool Publisher::Send(const Message& msg) {
  WireMessage wire = Encode(impl_->topic, msg);
  std::vector<zmq::message_t> parts;
  parts.reserve(wire.payload.size());
  for (const Buffer& b : wire.payload) parts.push_back(ToZmq(b));
  return impl_->SendFrames(zmq::message_t(wire.topic.data(), wire.topic.size()),
                           zmq::message_t(wire.header.data(), wire.header.size()), std::move(parts),
                           IsEndOfStream(msg));
}

bool Publisher::SendRaw(const std::vector<Buffer>& frames) {
  if (frames.empty()) return true;
  if (!impl_->WaitForSubscribers()) return false;
  for (size_t i = 0; i < frames.size(); ++i) {
    zmq::message_t m = ToZmq(frames[i]);
    if (!impl_->SendPart(m, i + 1 < frames.size())) return false;
  }
  ++impl_->sent;
  return true;
}

const std::string& Publisher::topic() const { return impl_->topic; }
const std::string& Publisher::endpoint() const { return impl_->endpoint; }
bool Publisher::AwaitEndOfStreamReceipts() {
  Impl& p = *impl_;
  if (p.options.flow != FlowPolicy::kLossless || p.endpoint.rfind("inproc://", 0) == 0 ||
      !p.handshake_done)
    return true;
  auto last_log = std::chrono::steady_clock::now();
  while (true) {
    p.DrainSubscriptions();
    if (p.subscribers <= p.options.external_subscribers) return true;
    if (p.should_stop && p.should_stop()) return false;
    // A consumer still at work on what came before; one that died is
    // dropped by the heartbeats and counted as gone.
    if (std::chrono::steady_clock::now() - last_log > std::chrono::seconds(10)) {
      spdlog::info("topic '{}' ({}): waiting for {} subscriber(s) to receive the end of the stream",
                   p.topic, p.endpoint, p.subscribers - p.options.external_subscribers);
      last_log = std::chrono::steady_clock::now();
    }
    zmq::pollitem_t item{p.socket.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(50));
  }
}

uint64_t Publisher::sent() const { return impl_->sent; }
uint64_t Publisher::dropped() const { return impl_->dropped; }

// ---- input mux ----------------------------------------------------------------

namespace {
std::vector<EdgeQueue<Received>::EdgeSpec> SpecsOf(const std::vector<InputEdge>& edges) {
  std::vector<EdgeQueue<Received>::EdgeSpec> specs;
  for (const InputEdge& e : edges) specs.push_back({e.flow, std::max<size_t>(1, e.capacity)});
  return specs;
}

// Receives one whole multipart message without blocking; frames share the
// ZeroMQ buffers (no copy). Returns false if nothing was waiting.
bool RecvFrames(zmq::socket_t& socket, std::vector<Buffer>& frames) {
  frames.clear();
  while (true) {
    auto msg = std::make_shared<zmq::message_t>();
    // Later frames of a multipart message are delivered atomically with the
    // first, so they are already here.
    if (!socket.recv(*msg, zmq::recv_flags::dontwait)) return !frames.empty();
    const bool more = msg->more();
    const auto* data = static_cast<const uint8_t*>(msg->data());
    const size_t size = msg->size();
    frames.emplace_back(std::shared_ptr<const void>(msg, data), data, size);
    if (!more) return true;
  }
}
}  // namespace

struct InputMux::Impl {
  Impl(TransportContext& c, std::vector<InputEdge> e, RejectHandler r)
      : ctx(c), edges(std::move(e)), on_reject(std::move(r)), queue(SpecsOf(edges)) {}

  // Connection state of a watched edge (its producer in another process),
  // written by the I/O thread, read by the node's.
  struct Watch {
    bool watched = false;
    std::atomic<bool> connected{false}, ever_connected{false}, ended{false};
    std::atomic<int64_t> changed_ns{0};       // last connect or disconnect
    std::atomic<int64_t> last_message_ns{0};  // last message read from it
  };

  static bool Watched(const InputEdge& e) {
    return !e.bind && (e.endpoint.rfind("tcp://", 0) == 0 || e.endpoint.rfind("ipc://", 0) == 0);
  }

  // Reads the socket monitor's events (CONNECTED, DISCONNECTED) of edge i.
  void DrainMonitor(zmq::socket_t& monitor, size_t i) {
    zmq::message_t event, address;
    while (monitor.recv(event, zmq::recv_flags::dontwait)) {
      if (event.more()) (void)monitor.recv(address, zmq::recv_flags::dontwait);
      if (event.size() < 6) continue;
      uint16_t id = 0;
      std::memcpy(&id, event.data(), 2);
      if (id == ZMQ_EVENT_CONNECTED) {
        watch[i].connected = true;
        watch[i].ever_connected = true;
      } else if (id == ZMQ_EVENT_DISCONNECTED) {
        watch[i].connected = false;
      } else {
        continue;
      }
      watch[i].changed_ns = SteadyNowNs();
    }
  }

  void Loop(std::promise<void>* ready) {
    std::vector<zmq::socket_t> sockets;
    std::vector<zmq::socket_t> monitors(edges.size());  // closed before the sockets
    try {
      for (size_t i = 0; i < edges.size(); ++i) {
        const InputEdge& e = edges[i];
        zmq::socket_t s(Zmq(ctx), zmq::socket_type::sub);
        s.set(zmq::sockopt::rcvhwm, static_cast<int>(std::max<size_t>(1, e.capacity)));
        s.set(zmq::sockopt::linger, 0);
        s.set(zmq::sockopt::subscribe, "");
        if (Watched(e)) {
          if (e.endpoint.rfind("tcp://", 0) == 0) SetHeartbeats(s);
          const std::string address = "inproc://dyn4d.monitor." +
                                      std::to_string(reinterpret_cast<uintptr_t>(this)) + "." +
                                      std::to_string(i);
          if (zmq_socket_monitor(s.handle(), address.c_str(),
                                 ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED) == 0) {
            monitors[i] = zmq::socket_t(Zmq(ctx), zmq::socket_type::pair);
            monitors[i].connect(address);
            watch[i].watched = true;
          }
        }
        if (e.bind)
          s.bind(e.endpoint);
        else
          s.connect(e.endpoint);
        sockets.push_back(std::move(s));
      }
    } catch (...) {
      ready->set_exception(std::current_exception());
      return;
    }
    started_ns = SteadyNowNs();
    ready->set_value();
    struct StopMonitors {
      std::vector<zmq::socket_t>& sockets;
      ~StopMonitors() {
        for (auto& s : sockets) zmq_socket_monitor(s.handle(), nullptr, 0);
      }
    } stop_monitors{sockets};

    std::vector<zmq::pollitem_t> items;
    std::vector<size_t> item_edge;
    std::vector<Buffer> frames;
    while (!stop.load()) {
      for (size_t i = 0; i < edges.size(); ++i)
        if (watch[i].watched) DrainMonitor(monitors[i], i);
      items.clear();
      item_edge.clear();
      bool some_blocked = false;
      for (size_t i = 0; i < edges.size(); ++i) {
        // A full lossless edge is not read: its messages wait in ZeroMQ, whose
        // high-water mark then blocks the producer (back-pressure).
        if (edges[i].flow == FlowPolicy::kLossless && !queue.HasSpace(i)) {
          some_blocked = true;
          continue;
        }
        items.push_back({sockets[i].handle(), 0, ZMQ_POLLIN, 0});
        item_edge.push_back(i);
      }
      if (items.empty()) {
        queue.WaitForSpace(std::chrono::milliseconds(50));
        continue;
      }
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(some_blocked ? 2 : 50));
      for (size_t k = 0; k < items.size(); ++k) {
        if (!(items[k].revents & ZMQ_POLLIN)) continue;
        const size_t i = item_edge[k];
        // Take what is waiting, up to a batch, while the edge has room.
        for (int n = 0; n < 64; ++n) {
          if (edges[i].flow == FlowPolicy::kLossless && !queue.HasSpace(i)) break;
          if (!RecvFrames(sockets[i], frames)) break;
          watch[i].last_message_ns = SteadyNowNs();
          DecodeResult r = Decode(frames);
          if (!r.ok()) {
            ++rejected;
            if (on_reject) on_reject(edges[i], ToString(r.status) + ": " + r.error);
            continue;
          }
          if (std::holds_alternative<EndOfStream>(r.message)) {
            watch[i].ended = true;
            // The receipt a producer in another process waits for to exit.
            if (watch[i].watched) sockets[i].set(zmq::sockopt::unsubscribe, "");
          }
          queue.Push(i, Received{std::move(r.message), SteadyNowNs()});
        }
      }
    }
  }

  TransportContext& ctx;
  std::vector<InputEdge> edges;
  RejectHandler on_reject;
  EdgeQueue<Received> queue;
  std::unique_ptr<Watch[]> watch{new Watch[edges.size()]};
  std::atomic<int64_t> started_ns{0};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> rejected{0};
  std::thread thread;
};

InputMux::InputMux(TransportContext& ctx, std::vector<InputEdge> edges, RejectHandler on_reject)
    : impl_(std::make_unique<Impl>(ctx, std::move(edges), std::move(on_reject))) {}
InputMux::~InputMux() { Stop(); }

void InputMux::Start() {
  std::promise<void> ready;
  auto fut = ready.get_future();
  impl_->thread = std::thread([this, &ready] { impl_->Loop(&ready); });
  try {
    fut.get();
  } catch (...) {
    impl_->thread.join();
    throw;
  }
}

std::optional<EdgeQueue<Received>::Item> InputMux::Pop(std::chrono::milliseconds timeout) {
  return impl_->queue.Pop(timeout);
}

void InputMux::Stop() {
  impl_->stop = true;
  impl_->queue.Shutdown();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int InputMux::DeadProducer(double timeout_s) const {
  const int64_t now = SteadyNowNs(), timeout = static_cast<int64_t>(timeout_s * 1e9);
  for (size_t i = 0; i < impl_->edges.size(); ++i) {
    const Impl::Watch& w = impl_->watch[i];
    if (!w.watched || w.ended || w.connected || !w.ever_connected) continue;
    // Gone for the timeout, and nothing of it read since (a message still
    // arriving, or waiting behind back-pressure, is not a dead producer).
    if (now - std::max<int64_t>(w.changed_ns, w.last_message_ns) > timeout &&
        impl_->queue.Depth() == 0)
      return static_cast<int>(i);
  }
  return -1;
}

std::vector<size_t> InputMux::NeverConnected(double after_s) const {
  std::vector<size_t> out;
  if (impl_->started_ns == 0 || SteadyNowNs() - impl_->started_ns < after_s * 1e9) return out;
  for (size_t i = 0; i < impl_->edges.size(); ++i)
    if (impl_->watch[i].watched && !impl_->watch[i].ever_connected) out.push_back(i);
  return out;
}

const std::vector<InputEdge>& InputMux::edges() const { return impl_->edges; }
size_t InputMux::Depth() const { return impl_->queue.Depth(); }
size_t InputMux::MaxDepth() const { return impl_->queue.MaxDepth(); }
uint64_t InputMux::Dropped() const { return impl_->queue.Dropped(); }
uint64_t InputMux::Rejected() const { return impl_->rejected; }

}  // namespace dyn4d::pipeline
