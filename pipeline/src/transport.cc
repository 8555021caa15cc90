#include "dyn4d/pipeline/transport.h"

#include <spdlog/spdlog.h>

#include <future>
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

  bool SendPart(zmq::message_t& m, bool more) {
    while (true) {
      if (socket.send(m, more ? zmq::send_flags::sndmore : zmq::send_flags::none)) return true;
      // EAGAIN after sndtimeo: a lossless subscriber is full. Keep waiting
      // unless told to stop.
      if (should_stop && should_stop()) return false;
      DrainSubscriptions();
    }
  }

  // `must_deliver`: wait even on a latest edge (end of stream must arrive).
  bool SendFrames(zmq::message_t topic_frame, zmq::message_t header,
                  std::vector<zmq::message_t> parts, bool must_deliver) {
    if (!WaitForSubscribers()) return false;
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
  bool handshake_done = false;
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

  void Loop(std::promise<void>* ready) {
    std::vector<zmq::socket_t> sockets;
    try {
      for (const InputEdge& e : edges) {
        zmq::socket_t s(Zmq(ctx), zmq::socket_type::sub);
        s.set(zmq::sockopt::rcvhwm, static_cast<int>(std::max<size_t>(1, e.capacity)));
        s.set(zmq::sockopt::linger, 0);
        s.set(zmq::sockopt::subscribe, "");
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
    ready->set_value();

    std::vector<zmq::pollitem_t> items;
    std::vector<size_t> item_edge;
    std::vector<Buffer> frames;
    while (!stop.load()) {
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
          DecodeResult r = Decode(frames);
          if (!r.ok()) {
            ++rejected;
            if (on_reject) on_reject(edges[i], ToString(r.status) + ": " + r.error);
            continue;
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

const std::vector<InputEdge>& InputMux::edges() const { return impl_->edges; }
size_t InputMux::Depth() const { return impl_->queue.Depth(); }
size_t InputMux::MaxDepth() const { return impl_->queue.MaxDepth(); }
uint64_t InputMux::Dropped() const { return impl_->queue.Dropped(); }
uint64_t InputMux::Rejected() const { return impl_->rejected; }

}  // namespace dyn4d::pipeline
