// ROS 2 over DDS: the `ros2_bridge` stage publishes what the pipeline finds
// as ROS 2 topics (CycloneDDS, no ROS install), and the `ros2` input kind
// feeds ROS 2 camera topics into the pipeline. Every byte comes from the
// one serializer in pipeline/ros2 (the same bytes as the ros2-profile
// recordings).
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <map>

#include "dyn4d/pipeline/clock.h"
#include "dyn4d/pipeline/stage.h"
#include "dyn4d/ros2/convert.h"
#include "dyn4d/ros2/dds.h"
#include "dyn4d/ros2/topics.h"
#include "source_internal.h"

namespace dyn4d::io::internal {
namespace {

int DomainFromEnvironment() {
  const char* env = std::getenv("ROS_DOMAIN_ID");
  return env && *env ? std::atoi(env) : 0;
}

class Ros2BridgeStage : public pipeline::Stage {
 public:
  explicit Ros2BridgeStage(const Ros2BridgeOptions& o)
      : o_(o),
        participant_(o.domain_id >= 0 ? o.domain_id : DomainFromEnvironment()),
        mapper_(o.mapper) {
    for (const auto& [port, topic] : o.inputs) ports_.push_back(port);
  }
  std::vector<std::string> InputPorts() const override { return ports_; }
  std::vector<std::string> OptionalInputPorts() const override { return ports_; }
  uint64_t SkippedCount() const override { return skipped_; }
  std::map<std::string, double> Counters() const override {
    std::map<std::string, double> c;
    c["published"] = double(published_);
    for (const auto& [topic, w] : writers_) c["readers " + topic] = w->MatchedReaders();
    return c;
  }

  pipeline::Outputs Process(const std::string& port, const pipeline::Message& m) override {
    const auto messages = mapper_.Map(m, "", port == "map");
    if (messages.empty() && skipped_++ == 0)
      spdlog::info("ros2_bridge: {} messages on '{}' have no ROS 2 form; not published",
                   pipeline::TypeName(m), port);
    for (const ros2::TopicMessage& t : messages) {
      auto it = writers_.find(t.topic);
      if (it == writers_.end())
        it = writers_.emplace(t.topic, participant_.CreateWriter(t.topic, t.type, QosFor(t))).first;
      if (it->second->Write(t.cdr, t.stamp_ns)) ++published_;
    }
    return {};
  }

 private:
  // `qos: compatible` (default): every topic reliable + transient-local, which
  // matches every subscriber: best-effort or reliable, volatile or
  // transient-local (Foxglove's ROS 2 client subscribes transient-local and
  // would not match a volatile writer). `qos: ros_profiles`: ROS's own
  // profiles (sensor-data, best effort, for images and clouds; reliable +
  // volatile for streams; latched state transient-local), which reliable or
  // transient-local readers reject for the sensor topics.
  ros2::Qos QosFor(const ros2::TopicMessage& t) const {
    switch (t.delivery) {
      case ros2::Delivery::kSensor:
        return o_.ros_profiles ? ros2::Qos::SensorData() : ros2::Qos{true, true, 1};
      case ros2::Delivery::kLatched:
        return ros2::Qos::Latched();
      case ros2::Delivery::kStream:
      default:
        if (!o_.ros_profiles) return ros2::Qos{true, true, 10};
        return t.topic == "/tf" ? ros2::Qos{true, false, 100} : ros2::Qos::Default();
    }
  }

  Ros2BridgeOptions o_;
  ros2::DdsParticipant participant_;
  ros2::TopicMapper mapper_;
  std::vector<std::string> ports_;
  std::map<std::string, std::unique_ptr<ros2::DdsParticipant::Writer>> writers_;
  uint64_t published_ = 0, skipped_ = 0;
};

}  // namespace

std::unique_ptr<pipeline::Stage> MakeRos2Bridge(const Ros2BridgeOptions& options) {
  return std::make_unique<Ros2BridgeStage>(options);
}

}  // namespace dyn4d::io::internal

// ---------------------------------------------------------------------------
// Live ROS 2 camera topics as a frame source.

#include <chrono>

#include "ros2_frames.h"

namespace dyn4d::io::internal {
namespace {

class Ros2TopicSource : public FrameSource {
 public:
  explicit Ros2TopicSource(const SourceConfig& c)
      : c_(c), participant_(c.ros2_domain_id >= 0 ? c.ros2_domain_id : DomainFromEnvironment()) {
    // Best-effort readers match both best-effort (sensor-data) and reliable
    // writers; camera drivers use either.
    const ros2::Qos qos = ros2::Qos::SensorData();
    color_ = participant_.CreateReader(c.path, ros2::Image::kType, qos);
    if (!c.ros2_depth_topic.empty())
      depth_ = participant_.CreateReader(c.ros2_depth_topic, ros2::Image::kType, qos);
    if (!c.ros2_info_topic.empty())
      info_ = participant_.CreateReader(c.ros2_info_topic, ros2::CameraInfo::kType,
                                        ros2::Qos{false, false, 1});
    pairer_.emplace("ROS 2 topic " + c.path, "ros2:" + c.path, depth_ != nullptr,
                    GivenIntrinsics(c));
  }
  bool IsLive() const override { return true; }
  std::string Describe() const override {
    return "ROS 2 topics: colour " + c_.path +
           (c_.ros2_depth_topic.empty() ? "" : ", depth " + c_.ros2_depth_topic) +
           (c_.ros2_info_topic.empty() ? "" : ", camera info " + c_.ros2_info_topic) +
           " (live, over DDS)";
  }

  SourceRead Next() override {
    if (c_.max_frames > 0 && emitted_ >= c_.max_frames) return {};
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < until) {
      try {
        if (info_)
          while (auto m = info_->Take(0)) pairer_->SetInfo(ros2::Decode<ros2::CameraInfo>(m->cdr));
        if (depth_)
          while (auto m = depth_->Take(0)) pairer_->AddDepth(ros2::Decode<ros2::Image>(m->cdr));
        if (auto m = color_->Take(10)) pairer_->AddColor(ros2::Decode<ros2::Image>(m->cdr));
      } catch (const std::runtime_error& e) {
        SourceRead r;
        r.status = SourceRead::Status::kSkipped;
        r.message = e.what();
        return r;
      }
      if (auto r = pairer_->Next()) {
        if (r->status == SourceRead::Status::kFrame) ++emitted_;
        return *r;
      }
    }
    // Nothing for 2 s: say so (the input node logs it) and keep listening,
    // so a stop request is seen between waits.
    SourceRead r;
    r.status = SourceRead::Status::kSkipped;
    r.message = "no frame from " + Describe() + " for 2 s (publishers matched: colour " +
                std::to_string(color_->MatchedWriters()) +
                (info_ ? ", camera info " + std::to_string(info_->MatchedWriters()) : "") +
                (pairer_->has_intrinsics() ? "" : "; no CameraInfo yet") +
                "; is the driver running, is ROS_DOMAIN_ID the same?)";
    return r;
  }

 private:
  SourceConfig c_;
  ros2::DdsParticipant participant_;
  std::unique_ptr<ros2::DdsParticipant::Reader> color_, depth_, info_;
  std::optional<Ros2FramePairer> pairer_;
  int emitted_ = 0;
};

}  // namespace

std::unique_ptr<FrameSource> OpenRos2TopicSource(const SourceConfig& config) {
  try {
    return std::make_unique<Ros2TopicSource>(config);
  } catch (const std::runtime_error& e) {
    throw SourceError(e.what());
  }
}

}  // namespace dyn4d::io::internal
