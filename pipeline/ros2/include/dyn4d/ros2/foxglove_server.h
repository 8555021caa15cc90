#pragma once
/// \file
/// The Foxglove WebSocket protocol (foxglove.websocket.v1) server that
/// Foxglove and Lichtblick connect to live: each ROS 2 topic of the one
/// mapping (topics.h) is a channel in `cdr` with its `ros2msg` schema, so
/// those apps show the 3D scene, images and text with no extension.
/// websocketpp + asio stay behind this header.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "dyn4d/ros2/topics.h"

namespace dyn4d::ros2 {

class FoxgloveServer {
 public:
  struct Options {
    std::string address = "127.0.0.1";  ///< loopback unless asked otherwise
    uint16_t port = 8765;               ///< 0: any free port (see port())
    std::string name = "dyn4d";
    /// A client whose unsent data exceeds this is skipped for a message
    /// (a slow viewer never slows the pipeline).
    size_t max_buffered_bytes = 32u << 20;
    /// Messages clients publish (the protocol's clientPublish): topic and
    /// payload, called on the server's thread (must not block). Unset: the
    /// server does not offer clientPublish.
    std::function<void(const std::string& topic, const std::string& payload)> on_client_message;
    /// Plain HTTP requests on the same port (a browser opening
    /// http://ADDR:PORT/): given the path, fills the content type and body
    /// and returns true; false or unset: 404. Called on the server's thread.
    std::function<bool(const std::string& path, std::string& content_type, std::string& body)> http;
  };
  /// Binds and serves on a thread of its own; throws std::runtime_error
  /// naming the address when it cannot listen.
  explicit FoxgloveServer(Options options);
  ~FoxgloveServer();
  FoxgloveServer(const FoxgloveServer&) = delete;
  FoxgloveServer& operator=(const FoxgloveServer&) = delete;

  uint16_t port() const;
  /// Sends `m` to the clients subscribed to its topic; a topic seen for the
  /// first time is advertised to every client. Thread-safe, never blocks on
  /// the network.
  void Publish(TopicMessage m);
  int clients() const;
  uint64_t messages_sent() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dyn4d::ros2
