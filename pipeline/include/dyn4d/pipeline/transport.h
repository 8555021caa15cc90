#pragma once
/// \file
/// ZeroMQ transport behind two small classes. Nothing outside pipeline/
/// includes zmq.hpp: stages only see Messages.
///
/// One topic = one endpoint. The producer binds an XPUB socket there (or
/// connects, for fan-in topics such as stats); consumers connect SUB sockets.
/// A producer counts subscriptions and waits for the expected number before
/// its first message (the handshake), so late joiners never miss the start.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dyn4d/pipeline/clock.h"
#include "dyn4d/pipeline/edge_queue.h"
#include "dyn4d/pipeline/flow.h"
#include "dyn4d/pipeline/messages.h"

namespace dyn4d::pipeline {

/// Owns the ZeroMQ context. All nodes of one process share one, which is what
/// makes inproc:// endpoints work between them. Thread safe.
class TransportContext {
 public:
  explicit TransportContext(int io_threads = 1);
  ~TransportContext();
  TransportContext(const TransportContext&) = delete;
  TransportContext& operator=(const TransportContext&) = delete;
  void* native();  ///< the zmq::context_t*, for pipeline internals and benchmarks

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct PublisherOptions {
  FlowPolicy flow = FlowPolicy::kLossless;
  /// Messages buffered per subscriber in ZeroMQ before back-pressure
  /// (lossless) or counted drops (latest).
  int high_water_mark = 8;
  /// Subscribers to wait for before the first message (the handshake).
  int expected_subscribers = 0;
  /// Who they are, for the error message when they do not come.
  std::string expected_names;
  /// Of those, clients outside the graph (a Python client, a viewer): they
  /// are not expected to acknowledge the end of the stream.
  int external_subscribers = 0;
  double handshake_timeout_s = 30;
  bool bind = true;  ///< false: connect (many producers, one collector)
};

/// Publishes Messages on one topic. Use from one thread only.
class Publisher {
 public:
  /// `should_stop` is polled while blocked (handshake, back-pressure): when it
  /// returns true the call gives up and returns false.
  Publisher(TransportContext& ctx, std::string endpoint, std::string topic,
            PublisherOptions options, std::function<bool()> should_stop);
  ~Publisher();

  /// Waits until the expected subscribers are connected. Throws
  /// std::runtime_error on timeout, returns false if stopped.
  bool WaitForSubscribers();
  /// Encodes and sends. Lossless: blocks while any subscriber is full.
  /// Latest: if a subscriber is full the message is dropped and counted
  /// (dropped()), except EndOfStream, which is always delivered.
  /// The first call performs the handshake. Returns false if stopped.
  bool Send(const Message& msg);
  /// Lossless edges to other processes, after the end of the stream was
  /// sent: waits until every subscriber of the graph has received it (its
  /// InputMux unsubscribes on EndOfStream: the receipt) or has gone. ZeroMQ's
  /// linger alone only hands messages to the kernel: a process that exits
  /// then can lose the last frames in flight. Returns false if stopped.
  bool AwaitEndOfStreamReceipts();
  /// Sends pre-encoded frames (used by benchmarks and tests of bad input).
  bool SendRaw(const std::vector<Buffer>& frames);

  const std::string& topic() const;
  const std::string& endpoint() const;
  uint64_t sent() const;
  uint64_t dropped() const;  ///< latest edges: messages a full subscriber missed

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// One input edge of a node.
struct InputEdge {
  std::string port;
  std::string topic;
  std::string endpoint;
  FlowPolicy flow = FlowPolicy::kLossless;
  size_t capacity = 8;
  bool bind = false;  ///< true for a collector that many producers connect to
};

struct Received {
  Message message;
  int64_t received_ns = 0;  ///< steady clock, for queue-wait latency
};

/// Receives every input edge of a node on its own I/O thread, decodes, and
/// queues per edge with the edge's flow policy. Malformed messages are
/// rejected, counted and reported through `on_reject`; they never reach the
/// stage and never stop the node.
class InputMux {
 public:
  using RejectHandler = std::function<void(const InputEdge&, const std::string& reason)>;
  InputMux(TransportContext& ctx, std::vector<InputEdge> edges, RejectHandler on_reject);
  ~InputMux();

  /// Creates the sockets on the I/O thread and returns once they are bound or
  /// connected.
  void Start();
  /// Next message in arrival order, or nullopt after `timeout`.
  std::optional<EdgeQueue<Received>::Item> Pop(std::chrono::milliseconds timeout);
  void Stop();

  /// A producer in another process that went away without ending its
  /// stream: for each edge on an ipc:// or tcp:// endpoint the mux watches
  /// the connection (ZeroMQ's socket monitor; heartbeats every second find a
  /// peer on a dead machine within 5 s). Returns the first edge whose
  /// producer disconnected more than `timeout_s` ago, before its end of
  /// stream arrived and with nothing of it left to read; -1 if none.
  int DeadProducer(double timeout_s) const;
  /// Edges on ipc:// or tcp:// whose producer never connected, waiting for
  /// at least `after_s` since Start().
  std::vector<size_t> NeverConnected(double after_s) const;

  const std::vector<InputEdge>& edges() const;
  size_t Depth() const;
  size_t MaxDepth() const;
  uint64_t Dropped() const;
  uint64_t Rejected() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dyn4d::pipeline
