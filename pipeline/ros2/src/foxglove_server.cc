#include "dyn4d/ros2/foxglove_server.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include "dyn4d/ros2/definitions.h"

namespace dyn4d::ros2 {
namespace {
using Server = websocketpp::server<websocketpp::config::asio>;
using Handle = websocketpp::connection_hdl;
constexpr const char* kSubprotocol = "foxglove.websocket.v1";

struct Channel {
  uint32_t id;
  std::string topic, type;
  std::optional<TopicMessage> latched;  // the last message of a latched topic
};
struct Client {
  std::map<uint32_t, uint32_t> subscription_of_channel;  // channel -> subscription id
  std::map<uint32_t, std::string> published_topics;      // client channel -> topic
};
}  // namespace

struct FoxgloveServer::Impl {
  Options o;
  Server server;
  std::thread thread;
  uint16_t port = 0;
  // Touched on the server thread only (Publish posts there).
  std::map<std::string, Channel> channels;
  std::map<Handle, Client, std::owner_less<Handle>> clients;
  std::atomic<int> client_count{0};
  std::atomic<uint64_t> sent{0};
  uint32_t next_channel = 1;

  nlohmann::json ChannelJson(const Channel& c) {
    return {{"id", c.id},
            {"topic", c.topic},
            {"encoding", "cdr"},
            {"schemaName", c.type},
            {"schema", Ros2MsgSchema(c.type)},
            {"schemaEncoding", "ros2msg"}};
  }
  void SendText(Handle h, const nlohmann::json& j) {
    websocketpp::lib::error_code ec;
    server.send(h, j.dump(), websocketpp::frame::opcode::text, ec);
  }
  void OnOpen(Handle h) {
    clients[h];
    ++client_count;
    SendText(h, {{"op", "serverInfo"},
                 {"name", o.name},
                 {"capabilities", o.on_client_message ? nlohmann::json::array({"clientPublish"})
                                                      : nlohmann::json::array()},
                 {"supportedEncodings", nlohmann::json::array({"cdr"})},
                 {"metadata", nlohmann::json::object()},
                 {"sessionId", std::to_string(reinterpret_cast<uintptr_t>(this))}});
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [topic, c] : channels) list.push_back(ChannelJson(c));
    if (!list.empty()) SendText(h, {{"op", "advertise"}, {"channels", list}});
  }
  void OnClose(Handle h) {
    if (clients.erase(h)) --client_count;
  }
  void OnMessage(Handle h, Server::message_ptr msg) {
    auto it = clients.find(h);
    if (it == clients.end()) return;
    if (msg->get_opcode() == websocketpp::frame::opcode::binary) {
      // Client message data: opcode 1, client channel id, payload.
      const std::string& b = msg->get_payload();
      uint32_t channel = 0;
      if (b.size() < 5 || b[0] != 1 || !o.on_client_message) return;
      std::memcpy(&channel, b.data() + 1, 4);
      auto topic = it->second.published_topics.find(channel);
      if (topic != it->second.published_topics.end())
        o.on_client_message(topic->second, b.substr(5));
      return;
    }
    nlohmann::json j = nlohmann::json::parse(msg->get_payload(), nullptr, false);
    if (j.is_discarded() || !j.contains("op")) return;
    const std::string op = j["op"].get<std::string>();
    if (op == "subscribe") {
      for (const auto& s : j.value("subscriptions", nlohmann::json::array())) {
        const uint32_t channel = s.value("channelId", 0u), id = s.value("id", 0u);
        it->second.subscription_of_channel[channel] = id;
        // Latched state (path, map, cognitive map, answers) reaches a
        // subscriber that comes later, as transient-local does in ROS 2.
        for (const auto& [topic, c] : channels)
          if (c.id == channel && c.latched) SendData(h, id, *c.latched);
      }
    } else if (op == "unsubscribe") {
      for (const auto& id : j.value("subscriptionIds", nlohmann::json::array()))
        for (auto s = it->second.subscription_of_channel.begin();
             s != it->second.subscription_of_channel.end();)
          s = s->second == id.get<uint32_t>() ? it->second.subscription_of_channel.erase(s)
                                              : std::next(s);
    } else if (op == "advertise" && o.on_client_message) {
      for (const auto& c : j.value("channels", nlohmann::json::array()))
        it->second.published_topics[c.value("id", 0u)] = c.value("topic", "");
    } else if (op == "unadvertise") {
      for (const auto& id : j.value("channelIds", nlohmann::json::array()))
        it->second.published_topics.erase(id.get<uint32_t>());
    } else {
      SendText(
          h, {{"op", "status"}, {"level", 1}, {"message", "dyn4d: '" + op + "' is not supported"}});
    }
  }
  bool SendData(Handle h, uint32_t subscription, const TopicMessage& m) {
    websocketpp::lib::error_code ec;
    Server::connection_ptr con = server.get_con_from_hdl(h, ec);
    if (ec || con->get_buffered_amount() > o.max_buffered_bytes) return false;
    // Message data: opcode 1, subscription id, receive time (ns), payload.
    std::string frame(13 + m.cdr.size(), '\0');
    frame[0] = 1;
    const uint64_t t = static_cast<uint64_t>(std::max<int64_t>(0, m.stamp_ns));
    std::memcpy(&frame[1], &subscription, 4);
    std::memcpy(&frame[5], &t, 8);
    std::memcpy(&frame[13], m.cdr.data(), m.cdr.size());
    server.send(h, frame, websocketpp::frame::opcode::binary, ec);
    if (!ec) ++sent;
    return !ec;
  }
  void Send(const TopicMessage& m) {
    auto it = channels.find(m.topic);
    if (it == channels.end()) {
      Channel c{next_channel++, m.topic, m.type, std::nullopt};
      it = channels.emplace(m.topic, c).first;
      const nlohmann::json ad = {{"op", "advertise"}, {"channels", {ChannelJson(c)}}};
      for (const auto& [h, client] : clients) SendText(h, ad);
    }
    if (m.delivery == Delivery::kLatched) it->second.latched = m;
    for (const auto& [h, client] : clients) {
      auto s = client.subscription_of_channel.find(it->second.id);
      if (s != client.subscription_of_channel.end()) SendData(h, s->second, m);
    }
  }
};

FoxgloveServer::FoxgloveServer(Options options) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.o = std::move(options);
  s.server.clear_access_channels(websocketpp::log::alevel::all);
  s.server.clear_error_channels(websocketpp::log::elevel::all);
  s.server.init_asio();
  s.server.set_reuse_addr(true);
  s.server.set_validate_handler([&s](Handle h) {
    Server::connection_ptr con = s.server.get_con_from_hdl(h);
    for (const std::string& p : con->get_requested_subprotocols())
      if (p == kSubprotocol) {
        con->select_subprotocol(p);
        return true;
      }
    return false;  // the protocol requires the subprotocol
  });
  s.server.set_http_handler([&s](Handle h) {
    Server::connection_ptr con = s.server.get_con_from_hdl(h);
    std::string type, body;
    std::string path = con->get_resource();
    path = path.substr(0, path.find('?'));
    if (s.o.http && s.o.http(path, type, body)) {
      con->set_status(websocketpp::http::status_code::ok);
      con->append_header("Content-Type", type);
      con->append_header("Cache-Control", "no-store");
      con->set_body(std::move(body));
    } else {
      con->set_status(websocketpp::http::status_code::not_found);
      con->append_header("Content-Type", "text/plain; charset=utf-8");
      con->set_body("dyn4d viewer: no page at " + path +
                    " (the page is at /, the Foxglove WebSocket on this same port)\n");
    }
  });
  s.server.set_open_handler([&s](Handle h) { s.OnOpen(h); });
  s.server.set_close_handler([&s](Handle h) { s.OnClose(h); });
  s.server.set_fail_handler([&s](Handle h) { s.OnClose(h); });
  s.server.set_message_handler([&s](Handle h, Server::message_ptr m) { s.OnMessage(h, m); });
  websocketpp::lib::error_code ec;
  const auto address = asio::ip::make_address(s.o.address, ec);
  if (ec) throw std::runtime_error("viewer: '" + s.o.address + "' is not an IP address");
  s.server.listen(asio::ip::tcp::endpoint(address, s.o.port), ec);
  if (ec)
    throw std::runtime_error("viewer: cannot listen on " + s.o.address + ":" +
                             std::to_string(s.o.port) + ": " + ec.message());
  s.server.start_accept(ec);
  if (ec) throw std::runtime_error("viewer: cannot accept connections: " + ec.message());
  s.port = s.server.get_local_endpoint(ec).port();
  s.thread = std::thread([&s] { s.server.run(); });
}

FoxgloveServer::~FoxgloveServer() {
  Impl& s = *impl_;
  asio::post(s.server.get_io_service(), [&s] {
    websocketpp::lib::error_code ec;
    s.server.stop_listening(ec);
    for (const auto& [h, client] : s.clients)
      s.server.close(h, websocketpp::close::status::going_away, "dyn4d stops", ec);
  });
  // Give the close frames a moment, then stop the loop.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  s.server.stop();
  if (s.thread.joinable()) s.thread.join();
}

uint16_t FoxgloveServer::port() const { return impl_->port; }
int FoxgloveServer::clients() const { return impl_->client_count; }
uint64_t FoxgloveServer::messages_sent() const { return impl_->sent; }

void FoxgloveServer::Publish(TopicMessage m) {
  Impl* s = impl_.get();
  asio::post(s->server.get_io_service(), [s, m = std::move(m)] { s->Send(m); });
}

}  // namespace dyn4d::ros2
