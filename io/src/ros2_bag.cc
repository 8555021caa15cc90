// The recorder's ros2 profile: a rosbag2 MCAP (profile ros2, messages in CDR,
// schemas as ros2msg, offered_qos_profiles per channel, chunks with message
// and chunk indexes) and its metadata.yaml, so `ros2 bag play`, Foxglove
// and Rerun open what dyn4d saw and found. Same bytes as the ROS 2 bridge:
// the one serializer in pipeline/ros2.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "dyn4d/io/mcap.h"
#include "dyn4d/pipeline/stage.h"
#include "dyn4d/ros2/convert.h"
#include "dyn4d/ros2/definitions.h"
#include "dyn4d/ros2/topics.h"
#include "source_internal.h"

namespace dyn4d::io::internal {
namespace {
namespace fs = std::filesystem;

// rosbag2's QoS YAML (enum values as rmw numbers): reliable, and volatile
// for streams or transient-local for latched state (maps, cognitive maps).
std::string QosYaml(bool latched) {
  const char* forever = "\n    sec: 2147483647\n    nsec: 4294967295";
  std::string y = "- history: 1\n  depth: " + std::string(latched ? "1" : "10") +
                  "\n  reliability: 1\n  durability: " + (latched ? "1" : "2") +
                  "\n  deadline:" + forever + "\n  lifespan:" + forever +
                  "\n  liveliness: 1\n  liveliness_lease_duration:" + forever +
                  "\n  avoid_ros_namespace_conventions: false";
  return y;
}

class Ros2RecorderStage : public pipeline::Stage {
 public:
  Ros2RecorderStage(const std::string& path, std::map<std::string, std::string> ports,
                    ros2::TopicMapper::Options mapper)
      : path_(path),
        ports_(std::move(ports)),
        mapper_(std::move(mapper)),
        writer_(path, "ros2", "dyn4d", /*chunk_bytes=*/4 << 20) {}

  std::vector<std::string> InputPorts() const override {
    std::vector<std::string> out;
    for (const auto& kv : ports_) out.push_back(kv.first);
    return out;
  }
  uint64_t SkippedCount() const override { return skipped_; }

  pipeline::Outputs Process(const std::string& port, const pipeline::Message& m) override {
    // Under the prefix + the dyn4d topic, so two streams of one type (say
    // estimated and ground-truth poses) stay apart.
    const std::string& topic = ports_.at(port);
    const auto messages = mapper_.Map(m, "/" + topic, port == "map");
    if (messages.empty() && skipped_++ == 0)
      spdlog::info("recorder (ros2): {} messages on '{}' have no ROS 2 form; not recorded",
                   pipeline::TypeName(m), topic);
    for (const ros2::TopicMessage& t : messages) Write(t);
    return {};
  }

  pipeline::Outputs Finish() override {
    writer_.Close();
    WriteMetadata();
    spdlog::info("recorder (ros2): {} messages on {} topics to {}", writer_.message_count(),
                 channels_.size(), path_);
    return {};
  }

 private:
  struct Channel {
    uint16_t id;
    std::string type, qos;
    uint64_t count = 0;
    uint32_t sequence = 0;
  };

  void Write(const ros2::TopicMessage& m) {
    auto it = channels_.find(m.topic);
    if (it == channels_.end()) {
      auto schema = schemas_.find(m.type);
      if (schema == schemas_.end())
        schema =
            schemas_
                .emplace(m.type, writer_.AddSchema(m.type, "ros2msg", ros2::Ros2MsgSchema(m.type)))
                .first;
      Channel c;
      c.type = m.type;
      c.qos = QosYaml(m.delivery == ros2::Delivery::kLatched);
      c.id = writer_.AddChannel(m.topic, "cdr", schema->second, {{"offered_qos_profiles", c.qos}});
      it = channels_.emplace(m.topic, c).first;
    }
    // Logged at the data's own time, so `ros2 bag play` paces it as captured.
    const uint64_t t = static_cast<uint64_t>(std::max<int64_t>(1, m.stamp_ns));
    writer_.WriteMessage(it->second.id, it->second.sequence++, t, t, m.cdr);
    ++it->second.count;
    start_ = std::min(start_, t), end_ = std::max(end_, t);
  }

  // rosbag2's metadata.yaml (version 5, read by Humble and later).
  void WriteMetadata() {
    const fs::path dir = fs::path(path_).parent_path();
    const std::string file = fs::path(path_).filename().string();
    const uint64_t start = writer_.message_count() ? start_ : 0;
    const uint64_t duration = writer_.message_count() ? end_ - start_ : 0;
    std::string y = "rosbag2_bagfile_information:\n  version: 5\n  storage_identifier: mcap\n";
    y += "  duration:\n    nanoseconds: " + std::to_string(duration) + "\n";
    y += "  starting_time:\n    nanoseconds_since_epoch: " + std::to_string(start) + "\n";
    y += "  message_count: " + std::to_string(writer_.message_count()) + "\n";
    y += "  topics_with_message_count:\n";
    for (const auto& [topic, c] : channels_) {
      std::string qos;  // the QoS YAML as one double-quoted YAML string
      for (char ch : c.qos) qos += ch == '\n' ? std::string("\\n") : std::string(1, ch);
      y += "    - topic_metadata:\n        name: " + topic + "\n        type: " + c.type +
           "\n        serialization_format: cdr\n        offered_qos_profiles: \"" + qos +
           "\"\n      message_count: " + std::to_string(c.count) + "\n";
    }
    y += "  compression_format: \"\"\n  compression_mode: \"\"\n";
    y += "  relative_file_paths:\n    - " + file + "\n";
    y += "  files:\n    - path: " + file + "\n      starting_time:\n        " +
         "nanoseconds_since_epoch: " + std::to_string(start) + "\n      duration:\n        " +
         "nanoseconds: " + std::to_string(duration) +
         "\n      message_count: " + std::to_string(writer_.message_count()) + "\n";
    const fs::path meta = dir / "metadata.yaml", partial = dir / "metadata.yaml.partial";
    std::ofstream out(partial);
    out << y;
    out.close();
    if (!out) throw std::runtime_error("cannot write '" + partial.string() + "' (disk full?)");
    fs::rename(partial, meta);
  }

  std::string path_;
  std::map<std::string, std::string> ports_;
  ros2::TopicMapper mapper_;
  McapWriter writer_;
  std::map<std::string, uint16_t> schemas_;
  std::map<std::string, Channel> channels_;
  uint64_t skipped_ = 0, start_ = UINT64_MAX, end_ = 0;
};

}  // namespace

std::unique_ptr<pipeline::Stage> MakeRos2Recorder(const std::string& path,
                                                  std::map<std::string, std::string> ports,
                                                  ros2::TopicMapper::Options mapper) {
  fs::create_directories(fs::path(path).parent_path());
  return std::make_unique<Ros2RecorderStage>(path, std::move(ports), std::move(mapper));
}

}  // namespace dyn4d::io::internal

// ---------------------------------------------------------------------------
// A rosbag2 MCAP as a frame source: sensor_msgs/Image colour and depth
// (16UC1 millimetres or 32FC1 metres) paired by header stamp, intrinsics
// from sensor_msgs/CameraInfo.

#include "dyn4d/io/mcap.h"
#include "dyn4d/ros2/msgs.h"
#include "ros2_frames.h"

namespace dyn4d::io::internal {
namespace {

class Ros2BagSource : public FrameSource {
 public:
  explicit Ros2BagSource(const SourceConfig& c) : path_(c.path), max_frames_(c.max_frames) {
    try {
      // One pass to learn the topics: colour and depth images by their
      // encoding, the camera info, and how many colour frames there are.
      McapReader scan(path_);
      std::map<std::string, std::string> image_encoding;  // topic -> encoding
      while (auto m = scan.Next()) {
        const McapChannel& ch = *m->channel;
        if (ch.message_encoding != "cdr") continue;
        if (ch.schema_name == "sensor_msgs/msg/CameraInfo" && info_topic_.empty())
          info_topic_ = ch.topic;
        if (ch.schema_name != "sensor_msgs/msg/Image") continue;
        auto it = image_encoding.find(ch.topic);
        if (it == image_encoding.end()) {
          const std::string enc = ros2::Decode<ros2::Image>(m->data).encoding;
          it = image_encoding.emplace(ch.topic, enc).first;
          const bool depth = enc == "16UC1" || enc == "32FC1" || enc == "mono16";
          std::string& slot = depth ? depth_topic_ : color_topic_;
          if (slot.empty()) slot = ch.topic;
        }
        if (ch.topic == color_topic_) ++frames_;
      }
    } catch (const std::runtime_error& e) {
      throw SourceError("ROS 2 bag '" + path_ + "': " + e.what());
    }
    if (color_topic_.empty())
      throw SourceError("ROS 2 bag '" + path_ +
                        "': no sensor_msgs/Image topic with colour (rgb8, bgr8, mono8)");
    if (info_topic_.empty() && !(c.fx > 0))
      throw SourceError("ROS 2 bag '" + path_ +
                        "': no sensor_msgs/CameraInfo topic; give the intrinsics "
                        "(--input-param fx=.. fy=.. cx=.. cy=..)");
    pairer_.emplace("ROS 2 bag '" + path_ + "'", "ros2:" + fs::path(path_).filename().string(),
                    !depth_topic_.empty(), GivenIntrinsics(c));
    reader_ = std::make_unique<McapReader>(path_);
  }

  SourceRead Next() override {
    if (max_frames_ > 0 && emitted_ >= max_frames_) return {};
    while (true) {
      if (auto r = pairer_->Next()) {
        if (r->status == SourceRead::Status::kFrame) ++emitted_;
        return *r;
      }
      std::optional<McapMessage> m;
      try {
        m = reader_->Next();
      } catch (const std::runtime_error& e) {
        SourceRead r;  // a damaged tail ends the stream, with a reason
        r.message = e.what();
        return r;
      }
      if (!m) return {};
      const std::string& topic = m->channel->topic;
      try {
        if (topic == info_topic_)
          pairer_->SetInfo(ros2::Decode<ros2::CameraInfo>(m->data));
        else if (topic == color_topic_)
          pairer_->AddColor(ros2::Decode<ros2::Image>(m->data));
        else if (topic == depth_topic_)
          pairer_->AddDepth(ros2::Decode<ros2::Image>(m->data));
      } catch (const std::runtime_error& e) {
        SourceRead r;
        r.status = SourceRead::Status::kSkipped;
        r.message = "ROS 2 bag '" + path_ + "' topic " + topic + ": " + e.what();
        return r;
      }
    }
  }

  std::string Describe() const override {
    return "ROS 2 bag " + path_ + " (" + std::to_string(frames_) + " frames: colour " +
           color_topic_ + (depth_topic_.empty() ? "" : ", depth " + depth_topic_) +
           (info_topic_.empty() ? "" : ", camera info " + info_topic_) + ")";
  }
  int64_t SizeHint() const override { return frames_; }

 private:
  std::string path_;
  int max_frames_;
  std::string color_topic_, depth_topic_, info_topic_;
  int64_t frames_ = 0;
  int emitted_ = 0;
  std::unique_ptr<McapReader> reader_;
  std::optional<Ros2FramePairer> pairer_;
};

}  // namespace

std::unique_ptr<FrameSource> OpenRos2BagSource(const SourceConfig& config) {
  return std::make_unique<Ros2BagSource>(config);
}

}  // namespace dyn4d::io::internal
