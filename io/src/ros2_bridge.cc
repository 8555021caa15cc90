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
      : o_(o), participant_(o.domain_id >= 0 ? o.domain_id : DomainFromEnvironment()) {
    ports_ = {};
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
    const std::string p = o_.topic_prefix;
    const ros2::FrameIds& f = o_.frames;
    const int64_t t = pipeline::Meta(m).stamp_ns;
    if (const auto* frame = std::get_if<pipeline::RgbdFrame>(&m)) {
      const ros2::Header h = ros2::MakeHeader(frame->meta, f.camera);
      Publish(p + "/color/image_raw", ros2::ToImage(frame->color, h), t, ImageQos());
      Publish(p + "/color/camera_info", ros2::ToCameraInfo(frame->intrinsics, h), t, ImageQos());
      if (!frame->depth.empty())
        Publish(p + "/depth/image_raw", ros2::ToImage(frame->depth, h, frame->depth_scale), t,
                ImageQos());
    } else if (const auto* pose = std::get_if<pipeline::CameraPose>(&m)) {
      if (pose->status == pipeline::PoseStatus::kLost) return {};
      const ros2::PoseStamped ps = ros2::ToPoseStamped(*pose, f);
      Publish(p + "/pose", ps, t, StreamQos());
      Publish(p + "/odom", ros2::ToOdometry(*pose, f), t, StreamQos());
      ros2::TFMessage tf;
      tf.transforms = {ros2::ToTransform(*pose, f)};
      Publish("/tf", tf, t, o_.ros_profiles ? ros2::Qos{true, false, 100} : StreamQos());
      path_.header = ps.header;
      path_.poses.push_back(ps);
      Publish(p + "/path", path_, t, ros2::Qos::Latched());
    } else if (const auto* cloud = std::get_if<pipeline::PointCloud>(&m)) {
      const bool is_map = port == "map";
      Publish(p + (is_map ? "/map" : "/cloud"), ros2::ToPointCloud2(*cloud, f), t,
              is_map ? ros2::Qos::Latched() : ImageQos());
    } else if (const auto* tracks = std::get_if<pipeline::Tracks>(&m)) {
      for (const pipeline::Track& k : tracks->items)
        if (k.has_position)
          trails_[k.track_id].push_back({k.position_world[0], k.position_world[1],
                                         k.position_world[2]});
      Publish(p + "/objects", ros2::ToDetections(*tracks, f), t, StreamQos());
      Publish(p + "/markers", ros2::ToMarkers(*tracks, f, &trails_), t, StreamQos());
    } else if (const auto* map = std::get_if<pipeline::CognitiveMap>(&m)) {
      Publish(p + "/cognitive_map", ros2::ToString(*map), t, ros2::Qos::Latched());
    } else if (skipped_++ == 0) {
      spdlog::info("ros2_bridge: {} messages on '{}' have no ROS 2 form; not published",
                   pipeline::TypeName(m), port);
    }
    return {};
  }

 private:
  // `qos: compatible` (default): every topic reliable + transient-local, which
  // matches every subscriber: best-effort or reliable, volatile or
  // transient-local (Foxglove's ROS 2 client subscribes transient-local and
  // would not match a volatile writer). `qos: ros_profiles`: ROS's own
  // profiles (sensor-data, best effort, for images and clouds; reliable +
  // volatile otherwise), which reliable or transient-local readers reject.
  ros2::Qos ImageQos() const {
    return o_.ros_profiles ? ros2::Qos::SensorData() : ros2::Qos{true, true, 1};
  }
  ros2::Qos StreamQos() const {
    return o_.ros_profiles ? ros2::Qos::Default() : ros2::Qos{true, true, 10};
  }
  template <class M>
  void Publish(const std::string& topic, const M& message, int64_t stamp_ns, const ros2::Qos& qos) {
    auto it = writers_.find(topic);
    if (it == writers_.end())
      it = writers_.emplace(topic, participant_.CreateWriter(topic, M::kType, qos)).first;
    if (it->second->Write(ros2::Encode(message), stamp_ns)) ++published_;
  }

  Ros2BridgeOptions o_;
  ros2::DdsParticipant participant_;
  std::vector<std::string> ports_;
  std::map<std::string, std::unique_ptr<ros2::DdsParticipant::Writer>> writers_;
  ros2::Path path_;
  std::map<int64_t, std::vector<ros2::Point>> trails_;
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
    std::optional<pipeline::CameraIntrinsics> given;
    if (c.fx > 0) given = pipeline::CameraIntrinsics{c.fx, c.fy > 0 ? c.fy : c.fx, c.cx, c.cy, 0, 0};
    pairer_.emplace("ROS 2 topic " + c.path, "ros2:" + c.path, depth_ != nullptr, given);
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
