// The `viewer` stage: what the pipeline finds, live, for Foxglove and
// Lichtblick over the Foxglove WebSocket protocol (ws://ADDR:PORT), as the
// same ROS 2 topics and bytes as the DDS bridge and the rosbag2 recorder.
#include <spdlog/spdlog.h>

#include "dyn4d/ros2/foxglove_server.h"
#include "dyn4d/ros2/topics.h"
#include "source_internal.h"

namespace dyn4d::io::internal {
namespace {

class ViewerStage : public pipeline::Stage {
 public:
  explicit ViewerStage(const ViewerOptions& o)
      : server_({o.address, o.port, "dyn4d"}), mapper_({o.topic_prefix, o.frames}) {
    for (const auto& [port, topic] : o.inputs) ports_.push_back(port);
    spdlog::info("viewer: open ws://{}:{} in Foxglove or Lichtblick (Open connection -> Foxglove "
                 "WebSocket)",
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

 private:
  ros2::FoxgloveServer server_;
  ros2::TopicMapper mapper_;
  std::vector<std::string> ports_;
};

}  // namespace

std::unique_ptr<pipeline::Stage> MakeViewer(const ViewerOptions& options) {
  return std::make_unique<ViewerStage>(options);
}

}  // namespace dyn4d::io::internal
