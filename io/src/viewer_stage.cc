// The `viewer` stage: what the pipeline finds, live, for Foxglove and
// Lichtblick over the Foxglove WebSocket protocol (ws://ADDR:PORT), as the
// same ROS 2 topics and bytes as the DDS bridge and the rosbag2 recorder.
#include <spdlog/spdlog.h>

#include <atomic>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>

#include "dyn4d/io/report.h"
#include "dyn4d/pipeline/clock.h"
#include "dyn4d/pipeline/service.h"
#include "dyn4d/ros2/foxglove_server.h"
#include "dyn4d/ros2/topics.h"
#include "source_internal.h"

namespace dyn4d::io::internal {
namespace {

class ViewerStage : public pipeline::Stage {
 public:
  explicit ViewerStage(const ViewerOptions& o)
      : o_(o), server_(ServerOptions(o, this)), mapper_(o.mapper), stats_mapper_(o.mapper) {
    for (const auto& [port, topic] : o.inputs) ports_.push_back(port);
    spdlog::info(
        "viewer: open http://{0}:{1}/ in a browser, or ws://{0}:{1} in Foxglove or Lichtblick "
        "(Open connection -> Foxglove WebSocket)",
        o.address, server_.port());
  }
  std::vector<std::string> InputPorts() const override { return ports_; }
  std::vector<std::string> OptionalInputPorts() const override { return ports_; }
  std::map<std::string, double> Counters() const override {
    return {{"clients", double(server_.clients())}, {"sent", double(server_.messages_sent())}};
  }
  pipeline::Outputs Process(const std::string& port, const pipeline::Message& m) override {
    for (ros2::TopicMessage& t : mapper_.Map(m, "", port == "map")) server_.Publish(std::move(t));
    return {};
  }
  // Every node's stats, as /diagnostics (the page's node table, Foxglove's
  // Diagnostics panel). On the run's stats thread: a mapper of its own.
  void OnRunStats(const pipeline::Stats& stats) override {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    for (ros2::TopicMessage& t : stats_mapper_.Map(stats)) server_.Publish(std::move(t));
  }
  ~ViewerStage() override {
    for (auto& q : questions_) q.wait();
  }

 private:
  static ros2::FoxgloveServer::Options ServerOptions(const ViewerOptions& o, ViewerStage* self) {
    ros2::FoxgloveServer::Options s;
    s.address = o.address;
    s.port = o.port;
    // The built-in page, a client of this same server.
    s.http = [](const std::string& path, std::string& type, std::string& body) {
      if (path != "/" && path != "/index.html") return false;
      type = "text/html; charset=utf-8";
      body = WebPageHtml();
      return true;
    };
    if (!o.ask_endpoint.empty())
      s.on_client_message = [self](const std::string& topic, const std::string& payload) {
        self->OnClientMessage(topic, payload);
      };
    return s;
  }

  // A question from the viewer (topic PREFIX/question, JSON {"question": ...,
  // "options": [...]}) goes to the reasoning node's service; its answer is
  // published on PREFIX/answers (std_msgs/String). Off the server's thread:
  // the reasoner may take a while (an MLLM endpoint).
  void OnClientMessage(const std::string& topic, const std::string& payload) {
    if (topic != o_.mapper.prefix + "/question") return;
    nlohmann::json j = nlohmann::json::parse(payload, nullptr, false);
    pipeline::Query q;
    q.question = j.is_object() ? j.value("question", "") : payload;
    if (j.is_object() && j.contains("options"))
      for (const auto& o : j["options"]) q.options.push_back(o.get<std::string>());
    if (q.question.empty()) return;
    q.request_id = next_request_++;
    spdlog::info("viewer: question from a viewer: {}", q.question);
    std::lock_guard<std::mutex> lock(mutex_);
    questions_.push_back(std::async(std::launch::async, [this, q] {
      std::string text = "Q: " + q.question + "\n";
      try {
        const pipeline::Answer a = pipeline::AskService(o_.ask_endpoint, q, 60);
        text += "A: " + a.answer + (a.justification.empty() ? "" : "\n" + a.justification);
      } catch (const std::exception& e) {
        text += std::string("no answer: ") + e.what();
      }
      ros2::TopicMessage m;
      m.topic = o_.mapper.prefix + "/answers";
      m.type = ros2::String::kType;
      m.cdr = ros2::Encode(ros2::String{text});
      m.stamp_ns = pipeline::WallNowNs();
      m.delivery = ros2::Delivery::kLatched;
      server_.Publish(std::move(m));
    }));
  }

  ViewerOptions o_;
  std::mutex mutex_;
  std::vector<std::future<void>> questions_;
  std::atomic<uint64_t> next_request_{0};
  ros2::FoxgloveServer server_;
  ros2::TopicMapper mapper_;
  std::mutex stats_mutex_;
  ros2::TopicMapper stats_mapper_;
  std::vector<std::string> ports_;
};

}  // namespace

std::unique_ptr<pipeline::Stage> MakeViewer(const ViewerOptions& options) {
  return std::make_unique<ViewerStage>(options);
}

}  // namespace dyn4d::io::internal
