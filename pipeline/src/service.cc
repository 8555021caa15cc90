#include "dyn4d/pipeline/service.h"

#include <stdexcept>
#include <vector>
#include <zmq.hpp>

#include "dyn4d/pipeline/codec.h"

namespace dyn4d::pipeline {
namespace {

void SendMessage(zmq::socket_t& s, const std::string& topic, const Message& m) {
  const WireMessage w = Encode(topic, m);
  s.send(zmq::buffer(w.topic), zmq::send_flags::sndmore);
  s.send(zmq::buffer(w.header),
         w.payload.empty() ? zmq::send_flags::none : zmq::send_flags::sndmore);
  for (size_t i = 0; i < w.payload.size(); ++i)
    s.send(zmq::buffer(w.payload[i].data(), w.payload[i].size()),
           i + 1 < w.payload.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
}

DecodeResult ReceiveMessage(zmq::socket_t& s) {
  std::vector<Buffer> frames;
  for (;;) {
    zmq::message_t part;
    if (!s.recv(part)) break;
    frames.push_back(Buffer::CopyOf(part.data(), part.size()));
    if (!part.more()) break;
  }
  return Decode(frames);
}

}  // namespace

struct ServiceServer::Impl {
  std::string endpoint;
  zmq::socket_t socket;
  bool pending = false;
};

ServiceServer::ServiceServer(TransportContext& ctx, const std::string& endpoint)
    : impl_(std::make_unique<Impl>()) {
  impl_->endpoint = endpoint;
  impl_->socket = zmq::socket_t(*static_cast<zmq::context_t*>(ctx.native()), zmq::socket_type::rep);
  impl_->socket.set(zmq::sockopt::linger, 0);
  try {
    impl_->socket.bind(endpoint);
  } catch (const zmq::error_t& e) {
    throw std::runtime_error("service endpoint " + endpoint + ": cannot bind: " + e.what());
  }
}
ServiceServer::~ServiceServer() = default;
const std::string& ServiceServer::endpoint() const { return impl_->endpoint; }

std::optional<Query> ServiceServer::Poll(int timeout_ms) {
  Impl& s = *impl_;
  if (s.pending) throw std::logic_error("ServiceServer: Reply before the next Poll");
  zmq::pollitem_t item{static_cast<void*>(s.socket), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms));
  if (!(item.revents & ZMQ_POLLIN)) return std::nullopt;
  const DecodeResult r = ReceiveMessage(s.socket);
  s.pending = true;
  const Query* q = r.ok() ? std::get_if<Query>(&r.message) : nullptr;
  if (!q) {
    Answer a;
    a.answer = "error";
    a.justification =
        r.ok() ? "expected a Query, got " + TypeName(r.message) : "malformed request: " + r.error;
    Reply(a);
    return std::nullopt;
  }
  return *q;
}

void ServiceServer::Reply(const Answer& answer) {
  Impl& s = *impl_;
  if (!s.pending) throw std::logic_error("ServiceServer: Reply without a request");
  SendMessage(s.socket, "replies", answer);
  s.pending = false;
}

Answer AskService(const std::string& endpoint, const Query& query, double timeout_s) {
  zmq::context_t ctx;
  zmq::socket_t s(ctx, zmq::socket_type::req);
  s.set(zmq::sockopt::linger, 0);
  s.connect(endpoint);
  SendMessage(s, "requests", query);
  zmq::pollitem_t item{static_cast<void*>(s), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
  if (!(item.revents & ZMQ_POLLIN))
    throw std::runtime_error(endpoint + ": no answer within " + std::to_string(timeout_s) +
                             " s (is a node serving there?)");
  const DecodeResult r = ReceiveMessage(s);
  if (!r.ok()) throw std::runtime_error(endpoint + ": undecodable reply: " + r.error);
  const Answer* a = std::get_if<Answer>(&r.message);
  if (!a)
    throw std::runtime_error(endpoint + ": reply is a " + TypeName(r.message) + ", not an Answer");
  return *a;
}

}  // namespace dyn4d::pipeline
