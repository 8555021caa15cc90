#pragma once
/// \file
/// Request/reply over ZeroMQ (REP / REQ) for questions to a running node:
/// a Query goes in, an Answer comes back, both in the message codec's frames
/// (docs/PROTOCOL.md), so any ZeroMQ client can ask.
#include <memory>
#include <optional>
#include <string>

#include "dyn4d/pipeline/messages.h"
#include "dyn4d/pipeline/transport.h"

namespace dyn4d::pipeline {

/// The node side: binds a REP socket at `endpoint`.
class ServiceServer {
 public:
  ServiceServer(TransportContext& ctx, const std::string& endpoint);
  ~ServiceServer();
  /// A request, if one arrived within `timeout_ms`. A malformed one (not a
  /// decodable Query) is answered at once with answer "error" and the reason,
  /// and nullopt is returned; so is the case where nothing came.
  std::optional<Query> Poll(int timeout_ms);
  /// Answers the request Poll returned (exactly once per request).
  void Reply(const Answer& answer);
  const std::string& endpoint() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The client side: sends `query` to `endpoint` and waits at most
/// `timeout_s` for the answer. Throws std::runtime_error naming the endpoint
/// on a timeout or an undecodable reply.
Answer AskService(const std::string& endpoint, const Query& query, double timeout_s);

}  // namespace dyn4d::pipeline
