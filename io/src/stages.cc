#include "dyn4d/io/stages.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <optional>
#include <thread>
#include <unordered_map>

#include "dyn4d/io/mcap.h"
#include "dyn4d/io/sources.h"
#include "dyn4d/io/synthetic_scene.h"
#include "dyn4d/io/writers.h"
#include "dyn4d/pipeline/clock.h"
#include "dyn4d/pipeline/codec.h"
#include "dyn4d/pipeline/ordered_join.h"
#include "opencv_image.h"
#include "source_internal.h"

namespace dyn4d::io {
namespace {

using pipeline::Message;
using pipeline::Outputs;
using pipeline::Params;
using pipeline::StageContext;

// ---- synthetic source -----------------------------------------------------

class SyntheticSourceStage : public pipeline::Stage {
 public:
  SyntheticSourceStage(SyntheticScene::Config config, double rate_hz)
      : scene_(std::move(config)), rate_hz_(rate_hz) {}
  std::vector<std::string> OutputPorts() const override { return {"frames", "poses", "tracks"}; }
  bool IsLive() const override { return rate_hz_ > 0; }
  int64_t ProgressTotal() const override { return scene_.config().num_frames; }

  std::optional<Outputs> Produce() override {
    if (next_ >= scene_.config().num_frames) return std::nullopt;
    if (rate_hz_ > 0) {  // pace like a camera
      const auto due = start_ + std::chrono::duration<double>(next_ / rate_hz_);
      if (next_ == 0)
        start_ = std::chrono::steady_clock::now();
      else
        std::this_thread::sleep_until(due);
    }
    SyntheticScene::Rendered r = scene_.Render(next_++);
    Outputs out;
    out.push_back({"frames", std::move(r.frame)});
    out.push_back({"poses", std::move(r.pose)});
    out.push_back({"tracks", std::move(r.tracks)});
    return out;
  }

 private:
  SyntheticScene scene_;
  double rate_hz_;
  int next_ = 0;
  std::chrono::steady_clock::time_point start_;
};

std::unique_ptr<pipeline::Stage> MakeSyntheticSource(Params& p, const StageContext&) {
  SyntheticScene::Config c;
  c.num_frames = p.GetInt("frames", c.num_frames, 1, 1000000);
  c.width = p.GetInt("width", c.width, 16, 4096);
  c.height = p.GetInt("height", c.height, 16, 4096);
  // The same field of view at any size (as `dyn4d synth`): a 160-wide
  // frame with 525 px would be a 17-degree telephoto view.
  c.fx = p.GetDouble("fx", c.FocalForWidth(), 1, 1e5);
  c.fy = p.GetDouble("fy", c.FocalForWidth(), 1, 1e5);
  c.fps = p.GetDouble("fps", c.fps, 0.1, 1000);
  c.seed = static_cast<uint32_t>(p.GetInt("seed", 1, 0, 1 << 30));
  c.num_objects = p.GetInt("objects", c.num_objects, 0, SyntheticScene::kMaxObjects);
  c.depth_noise = p.GetBool("noise", c.depth_noise);
  const double rate_hz = p.GetDouble("rate_hz", 0, 0, 1000);
  for (const std::string& problem : c.Validate()) p.AddProblem("", problem);
  return std::make_unique<SyntheticSourceStage>(c, rate_hz);
}

// ---- writers ------------------------------------------------------------------

// A sink that hands every message of type Msg on one input port to a file
// writer (Write per message, Close at end of stream).
template <typename Msg, typename Writer>
class WriterStage : public pipeline::Stage {
 public:
  /// keep_if_empty false: a stream that never delivered a message leaves
  /// no file (ground truth the data does not have).
  WriterStage(std::string port, std::unique_ptr<Writer> writer, bool keep_if_empty = true)
      : port_(std::move(port)), writer_(std::move(writer)), keep_if_empty_(keep_if_empty) {}
  std::vector<std::string> InputPorts() const override { return {port_}; }
  Outputs Process(const std::string&, const Message& m) override {
    writer_->Write(pipeline::Expect<Msg>(m, port_));
    ++written_;
    return {};
  }
  Outputs Finish() override {
    if (written_ == 0 && !keep_if_empty_)
      writer_->Discard();
    else
      writer_->Close();
    return {};
  }

 private:
  std::string port_;
  std::unique_ptr<Writer> writer_;
  bool keep_if_empty_;
  uint64_t written_ = 0;
};

// Cognitive maps and answers, on optional inputs `maps` and `answers`.
class ReasoningWriterStage : public pipeline::Stage {
 public:
  ReasoningWriterStage(const std::string& jsonl, const std::string& text) : writer_(jsonl, text) {}
  std::vector<std::string> InputPorts() const override { return {"maps", "answers"}; }
  std::vector<std::string> OptionalInputPorts() const override { return {"maps", "answers"}; }
  Outputs Process(const std::string&, const Message& m) override {
    if (const auto* c = std::get_if<pipeline::CognitiveMap>(&m))
      writer_.Write(*c);
    else if (const auto* a = std::get_if<pipeline::Answer>(&m))
      writer_.Write(*a);
    else
      throw std::invalid_argument("expected CognitiveMap or Answer, got " + pipeline::TypeName(m));
    return {};
  }
  Outputs Finish() override {
    writer_.Close();
    return {};
  }

 private:
  ReasoningWriter writer_;
};

// Fuses world-frame clouds into a voxel map, written at end of stream: one
// point per voxel (the first seen, so the result is deterministic). Depth
// noise scatters single points into new voxels frame after frame, so a voxel
// is kept once a later cloud sees it or its neighbours again, and one seen
// in a single cloud is dropped after `confirm_clouds` more clouds: the map
// grows with the scene, not with time (a static synthetic scene filmed for
// 10,000 frames had grown to 1.15 M points, +133 MiB a minute). The last
// clouds' unconfirmed voxels are written too: a short run keeps its points.
class CloudMapWriterStage : public pipeline::Stage {
 public:
  CloudMapWriterStage(std::string path, double voxel_m, size_t max_points, int confirm_clouds)
      : path_(std::move(path)),
        inv_voxel_(1.0 / voxel_m),
        max_points_(max_points),
        confirm_clouds_(static_cast<uint32_t>(confirm_clouds)) {}
  std::vector<std::string> InputPorts() const override { return {"clouds"}; }
  std::map<std::string, double> Counters() const override {
    return {{"map_points", static_cast<double>(voxels_.size())},
            {"map_points_max", static_cast<double>(max_points_)}};
  }

  Outputs Process(const std::string& port, const Message& m) override {
    const pipeline::PointCloud* c = &pipeline::Expect<pipeline::PointCloud>(m, port);
    if (c->frame_id != "world")
      throw std::invalid_argument("cloud_map_writer needs world-frame clouds, got frame '" +
                                  c->frame_id + "'");
    const float* p = c->points.as<float>();
    const uint8_t* rgb = c->colors.empty() ? nullptr : c->colors.data();
    for (uint32_t i = 0; i < c->num_points; ++i) {
      const uint64_t key = Key(static_cast<int64_t>(std::floor(p[3 * i] * inv_voxel_)),
                               static_cast<int64_t>(std::floor(p[3 * i + 1] * inv_voxel_)),
                               static_cast<int64_t>(std::floor(p[3 * i + 2] * inv_voxel_)));
      if (auto it = index_.find(key); it != index_.end()) {
        Voxel& v = voxels_[it->second];
        v.confirmed |= v.first_cloud != cloud_;
        continue;
      }
      if (voxels_.size() >= max_points_) {
        if (!full_logged_)
          spdlog::warn("cloud_map_writer: {} points (max_points) reached; new voxels are dropped",
                       max_points_);
        full_logged_ = true;
        continue;
      }
      Voxel v;
      v.key = key;
      std::copy(p + 3 * i, p + 3 * i + 3, v.xyz);
      for (int a = 0; a < 3; ++a) v.rgb[a] = rgb ? rgb[3 * i + a] : 200;
      v.first_cloud = cloud_;
      index_.emplace(key, static_cast<uint32_t>(voxels_.size()));
      voxels_.push_back(v);
    }
    ++cloud_;
    if (confirm_clouds_ > 0 && cloud_ % confirm_clouds_ == 0) Prune();
    return {};
  }
  Outputs Finish() override {
    std::vector<float> xyz;
    std::vector<uint8_t> rgb;
    xyz.reserve(3 * voxels_.size());
    rgb.reserve(3 * voxels_.size());
    for (const Voxel& v : voxels_) {
      xyz.insert(xyz.end(), v.xyz, v.xyz + 3);
      rgb.insert(rgb.end(), v.rgb, v.rgb + 3);
    }
    if (path_.size() > 4 && path_.substr(path_.size() - 4) == ".pcd")
      WritePcdBinary(path_, xyz, rgb);
    else
      WritePlyBinary(path_, xyz, rgb);
    return {};
  }

 private:
  struct Voxel {
    uint64_t key = 0;
    float xyz[3] = {0, 0, 0};
    uint8_t rgb[3] = {0, 0, 0};
    bool confirmed = false;  // seen by a later cloud than its first
    uint32_t first_cloud = 0;
  };
  // Drops the voxels seen in one cloud only, confirm_clouds_ or more ago,
  // unless a neighbouring voxel was seen by another cloud: a surface's
  // points, averaged per frame, fall on either side of a voxel boundary from
  // frame to frame (on the TUM fr1/rpy excerpt half of the real voxels are
  // hit once), while a stray point has no such neighbour.
  void Prune() {
    enum : char { kDrop, kKeep, kConfirm };
    std::vector<char> keep(voxels_.size(), kKeep);
    for (size_t i = 0; i < voxels_.size(); ++i) {
      const Voxel& v = voxels_[i];
      if (!v.confirmed && cloud_ - v.first_cloud >= confirm_clouds_)
        keep[i] = SeenNearby(v) ? kConfirm : kDrop;
    }
    size_t kept = 0;
    for (size_t i = 0; i < voxels_.size(); ++i) {
      const Voxel v = voxels_[i];
      if (keep[i] == kDrop) {
        index_.erase(v.key);
        continue;
      }
      if (kept != i) {
        voxels_[kept] = v;
        index_[v.key] = static_cast<uint32_t>(kept);
      }
      voxels_[kept].confirmed |= keep[i] == kConfirm;
      ++kept;
    }
    voxels_.resize(kept);
  }
  // A voxel's integer coordinates, 21 bits each (two's complement, so
  // neighbours wrap consistently), packed into one key.
  static constexpr uint64_t kKeyMask = 0x1fffff;
  static uint64_t Key(int64_t x, int64_t y, int64_t z) {
    return (static_cast<uint64_t>(x) & kKeyMask) << 42 |
           (static_cast<uint64_t>(y) & kKeyMask) << 21 | (static_cast<uint64_t>(z) & kKeyMask);
  }
  // Whether one of v's 26 neighbours was seen by a cloud other than v's.
  bool SeenNearby(const Voxel& v) const {
    const int64_t k[3] = {static_cast<int64_t>(v.key >> 42), static_cast<int64_t>(v.key >> 21),
                          static_cast<int64_t>(v.key)};
    for (int dx = -1; dx <= 1; ++dx)
      for (int dy = -1; dy <= 1; ++dy)
        for (int dz = -1; dz <= 1; ++dz) {
          if (!dx && !dy && !dz) continue;
          const auto it = index_.find(Key(k[0] + dx, k[1] + dy, k[2] + dz));
          if (it == index_.end()) continue;
          const Voxel& n = voxels_[it->second];
          if (n.confirmed || n.first_cloud != v.first_cloud) return true;
        }
    return false;
  }

  std::string path_;
  double inv_voxel_;
  size_t max_points_;
  uint32_t confirm_clouds_;
  uint32_t cloud_ = 0;  // clouds received
  bool full_logged_ = false;
  std::unordered_map<uint64_t, uint32_t> index_;  // voxel key -> voxels_ index
  std::vector<Voxel> voxels_;
};

// ---- any source ---------------------------------------------------------------

// Wraps a FrameSource: frames, plus ground-truth poses and tracks when the
// data has them. Bad frames are skipped, logged (first 20) and counted.
class InputStage : public pipeline::Stage {
 public:
  // `speed` > 0 replays a recorded source (folder, video, recording) at that
  // multiple of its frames' own rate, as a camera would deliver them.
  InputStage(std::unique_ptr<FrameSource> source, double speed)
      : source_(std::move(source)), speed_(source_->IsLive() ? 0 : speed) {
    spdlog::info("input: {}{}", source_->Describe(),
                 speed_ > 0 ? fmt::format(", replayed at {}x its frame rate", speed_) : "");
  }
  std::vector<std::string> OutputPorts() const override { return {"frames", "poses", "tracks"}; }
  bool IsLive() const override { return source_->IsLive(); }
  uint64_t SkippedCount() const override { return skipped_; }
  int64_t ProgressTotal() const override { return source_->SizeHint(); }

  std::optional<Outputs> Produce() override {
    while (true) {
      SourceRead r = source_->Next();
      if (r.status == SourceRead::Status::kEnd) {
        if (!r.message.empty()) spdlog::warn("input: stream ended early: {}", r.message);
        if (skipped_) spdlog::warn("input: {} frame(s) skipped", skipped_);
        return std::nullopt;
      }
      if (r.status == SourceRead::Status::kSkipped) {
        if (skipped_++ < 20) spdlog::warn("input: skipped a frame: {}", r.message);
        continue;
      }
      if (speed_ > 0) Pace(r.frame.meta.stamp_ns);
      Outputs out;
      const pipeline::MessageMeta meta = r.frame.meta;
      out.push_back({"frames", std::move(r.frame)});
      if (r.ground_truth) {
        r.ground_truth->meta = meta;
        out.push_back({"poses", *r.ground_truth});
      }
      if (r.ground_truth_tracks) {
        r.ground_truth_tracks->meta = meta;
        out.push_back({"tracks", *r.ground_truth_tracks});
      }
      return out;
    }
  }

 private:
  // Waits until the frame is due: its stamp's distance from the first
  // frame's, divided by the speed, after the first frame left.
  void Pace(int64_t stamp_ns) {
    const auto now = std::chrono::steady_clock::now();
    if (!first_stamp_ns_) {
      first_stamp_ns_ = stamp_ns;
      start_ = now;
      return;
    }
    const auto due = start_ + std::chrono::nanoseconds(static_cast<int64_t>(
                                  std::max<int64_t>(0, stamp_ns - *first_stamp_ns_) / speed_));
    std::this_thread::sleep_until(due);
  }

  std::unique_ptr<FrameSource> source_;
  const double speed_;
  std::optional<int64_t> first_stamp_ns_;
  std::chrono::steady_clock::time_point start_;
  uint64_t skipped_ = 0;
};

}  // namespace

std::optional<ColorCameraModel> ReadColorCameraParams(Params& p) {
  // Colour not registered to depth: the colour camera (all of color_fx..cy
  // to take effect) and where it sits relative to the depth camera.
  ColorCameraModel color;
  color.intrinsics.fx = p.GetDouble("color_fx", 0, 0, 1e6);
  color.intrinsics.fy = p.GetDouble("color_fy", 0, 0, 1e6);
  color.intrinsics.cx = p.GetDouble("color_cx", 0, 0, 1e6);
  color.intrinsics.cy = p.GetDouble("color_cy", 0, 0, 1e6);
  color.t_color_depth = {p.GetDouble("color_tx", 0, -1, 1), p.GetDouble("color_ty", 0, -1, 1),
                         p.GetDouble("color_tz", 0, -1, 1)};
  const auto& k = color.intrinsics;
  const int given = (k.fx > 0) + (k.fy > 0) + (k.cx > 0) + (k.cy > 0);
  if (given == 4) return color;
  if (given > 0)
    p.AddProblem("color_fx", "give all of color_fx, color_fy, color_cx, color_cy (or none)");
  else if (!color.t_color_depth.isZero())
    p.AddProblem("color_tx", "a colour translation needs color_fx, color_fy, color_cx, color_cy");
  return std::nullopt;
}

std::optional<DepthDistortionModel> ReadDepthDistortionParams(Params& p) {
  DepthDistortionModel model;
  // A term of 1 is a 50 % error at the image's edge; the model's Validate
  // checks the factor over the image once the intrinsics are known.
  for (size_t i = 0; i < model.k.size(); ++i)
    model.k[i] = p.GetDouble(DepthDistortionModel::kParamNames[i], 0, -1, 1);
  if (model.IsIdentity()) return std::nullopt;
  return model;
}

namespace {

// The parameters of the ROS 2 topic mapping the recorder (profile ros2), the
// bridge and the viewer share: topic prefix and frame ids.
ros2::TopicMapper::Options ReadTopicMapperOptions(Params& p) {
  ros2::TopicMapper::Options o;
  o.prefix = p.GetString("topic_prefix", o.prefix);
  o.frames.map = p.GetString("map_frame", o.frames.map);
  o.frames.camera = p.GetString("camera_frame", o.frames.camera);
  return o;
}

// The bridge and the viewer take the mapping's ports only.
void CheckMapperPorts(Params& p, const StageContext& ctx, const std::string& what) {
  if (ctx.inputs.empty()) p.AddProblem("", what + " needs at least one input");
  for (const auto& [port, topic] : ctx.inputs)
    if (port != "frames" && port != "poses" && port != "clouds" && port != "map" &&
        port != "tracks" && port != "cognitive_map")
      p.AddProblem("inputs." + port,
                   "unknown port (frames, poses, clouds, map, tracks, cognitive_map)");
}

std::unique_ptr<pipeline::Stage> MakeInput(Params& p, const StageContext&) {
  SourceConfig c;
  c.path = p.GetString("path", "");
  c.kind = p.GetChoice("kind", "auto",
                       {"auto", "tum", "bonn", "7scenes", "images", "video", "stereo", "recording",
                        "openni", "v4l2", "gstreamer", "synthetic", "ros2"});
  c.calibration = p.GetString("calibration", "");
  c.fx = p.GetDouble("fx", 0, 0, 1e6);
  c.fy = p.GetDouble("fy", 0, 0, 1e6);
  c.cx = p.GetDouble("cx", 0, 0, 1e6);
  c.cy = p.GetDouble("cy", 0, 0, 1e6);
  c.depth_scale = p.GetDouble("depth_scale", 0, 0, 1e6);
  c.depth_path = p.GetString("depth_path", "");
  c.fps = p.GetDouble("fps", 30, 0.01, 10000);
  c.speed = p.GetDouble("speed", 0, 0, 1000);
  c.max_frames = p.GetInt("max_frames", 0, 0, 100000000);
  c.color_camera = ReadColorCameraParams(p);
  c.depth_distortion = ReadDepthDistortionParams(p);
  c.ros2_depth_topic = p.GetString("depth_topic", "");
  c.ros2_info_topic = p.GetString("info_topic", "");
  c.ros2_domain_id = p.GetInt("domain_id", -1, -1, 232);
  if (c.kind == "ros2" && c.ros2_info_topic.empty() && !(c.fx > 0))
    p.AddProblem("info_topic", "kind ros2 needs the CameraInfo topic (or fx fy cx cy)");
  if (c.path.empty() && c.kind != "openni" && c.kind != "synthetic")
    p.AddProblem("path",
                 "missing: the folder, file or device to read (or dyn4d run --input PATH); "
                 "for kind ros2 the colour image topic");
  p.Finish();  // parameter problems first, then the source itself
  try {
    return std::make_unique<InputStage>(OpenSource(c), c.speed);
  } catch (const SourceError& e) {
    throw pipeline::ConfigError({p.file() + ": " + p.path() + ": " + e.what()});
  }
}

// ---- recording and replay -----------------------------------------------------------

// Records every message of its inputs into one MCAP file, a channel per
// topic; written to FILE.partial and renamed at end of stream.
class RecorderStage : public pipeline::Stage {
 public:
  RecorderStage(const std::string& path, std::map<std::string, std::string> ports)
      : ports_(std::move(ports)), writer_(path) {
    for (const auto& [port, topic] : ports_)
      channels_[port] = writer_.AddChannel(topic, kDyn4dMessageEncoding);
  }
  std::vector<std::string> InputPorts() const override {
    std::vector<std::string> out;
    for (const auto& kv : ports_) out.push_back(kv.first);
    return out;
  }
  Outputs Process(const std::string& port, const Message& m) override {
    writer_.WriteDyn4d(channels_.at(port), ports_.at(port), m,
                       static_cast<uint64_t>(pipeline::WallNowNs()));
    return {};
  }
  Outputs Finish() override {
    writer_.Close();
    spdlog::info("recorder: {} messages", writer_.message_count());
    return {};
  }

 private:
  std::map<std::string, std::string> ports_;  // port -> topic
  McapWriter writer_;
  std::map<std::string, uint16_t> channels_;
};

// Replays a dyn4d MCAP recording: each recorded topic is an output port of
// the same name; `speed` 0 = as fast as possible, 1 = as recorded.
class ReplayStage : public pipeline::Stage {
 public:
  ReplayStage(const std::string& path, double speed) : path_(path), reader_(path), speed_(speed) {
    for (const McapChannel& c : McapReader::ListChannels(path))
      if (c.message_encoding == kDyn4dMessageEncoding) ports_.push_back(c.topic);
    if (ports_.empty()) throw std::runtime_error("'" + path + "' has no dyn4d-v1 channels");
  }
  std::vector<std::string> OutputPorts() const override { return ports_; }
  uint64_t SkippedCount() const override { return skipped_; }

  std::optional<Outputs> Produce() override {
    while (auto m = reader_.Next()) {
      if (m->channel->message_encoding != kDyn4dMessageEncoding) continue;
      pipeline::DecodeResult d = pipeline::Decode(UnpackFrames(m->data));
      if (!d.ok()) {
        if (skipped_++ < 20) spdlog::warn("replay '{}': message rejected: {}", path_, d.error);
        continue;
      }
      if (pipeline::IsEndOfStream(d.message)) continue;
      if (speed_ > 0) {
        if (!first_) first_ = m->log_time_ns, start_ = std::chrono::steady_clock::now();
        std::this_thread::sleep_until(start_ + std::chrono::nanoseconds(static_cast<int64_t>(
                                                   (m->log_time_ns - *first_) / speed_)));
      }
      return Outputs{{m->channel->topic, std::move(d.message)}};
    }
    return std::nullopt;
  }

 private:
  std::string path_;
  McapReader reader_;
  double speed_;
  std::vector<std::string> ports_;
  uint64_t skipped_ = 0;
  std::optional<uint64_t> first_;
  std::chrono::steady_clock::time_point start_;
};

// ---- annotated overlay video ---------------------------------------------------------

cv::Scalar TrackColour(int64_t id) {
  static const cv::Scalar kPalette[] = {{230, 159, 0},   {86, 180, 233}, {0, 158, 115},
                                        {240, 228, 66},  {0, 114, 178},  {213, 94, 0},
                                        {204, 121, 167}, {120, 220, 120}};
  return kPalette[static_cast<size_t>(id < 0 ? 0 : id) % 8];
}

// Frames per overlay file: ten minutes at 30 frames/s.
constexpr int kOverlaySegmentFrames = 18000;

// Frames with their tracks drawn: mask tint, box, "#id class score exit k".
// Frames wait (bounded) for their tracks; without a tracks input they are
// written as they come.
class OverlayVideoStage : public pipeline::Stage {
 public:
  OverlayVideoStage(std::string path, double fps, bool has_tracks, int64_t segment_frames)
      : path_(std::move(path)),
        fps_(fps),
        segment_frames_(segment_frames),
        join_(has_tracks, kMaxWait) {}
  std::vector<std::string> InputPorts() const override { return {"frames", "tracks"}; }
  std::vector<std::string> OptionalInputPorts() const override { return {"tracks"}; }
  // The frames a file holds, up to its cap: a bounded structure (full
  // once the first file is), for `dyn4d bench pipeline --long`.
  std::map<std::string, double> Counters() const override {
    if (segment_frames_ <= 0) return {};
    return {{"file_frames", double(std::min<uint64_t>(written_, segment_frames_))},
            {"file_frames_max", double(segment_frames_)}};
  }

  Outputs Process(const std::string& port, const Message& m) override {
    const uint64_t seq = pipeline::Meta(m).seq;
    if (port == "frames") {
      // Only the colour is drawn: a frame held while its tracks are on their
      // way (offline graphs deliver them seconds later) keeps nothing else.
      pipeline::RgbdFrame f = pipeline::Expect<pipeline::RgbdFrame>(m, port);
      f.depth = {};
      join_.AddPrimary(seq, f);
    } else {
      join_.AddSecondary(seq, pipeline::Expect<pipeline::Tracks>(m, port));
    }
    // Frames in order once their tracks are here (or can no longer come).
    join_.Release(
        [this](const pipeline::RgbdFrame& f, const pipeline::Tracks* t) { WriteFrame(f, t); });
    return {};
  }

  Outputs Finish() override {
    join_.Flush(
        [this](const pipeline::RgbdFrame& f, const pipeline::Tracks* t) { WriteFrame(f, t); });
    OpenAndFlush();  // a video shorter than the frames the rate is measured on
    if (writer_.isOpened()) CloseSegment();
    if (written_ > 0)
      spdlog::info("overlay: {} frames ({} with tracks drawn) to {}{}", written_, with_tracks_,
                   path_,
                   segment_index_ > 1 ? " and " + std::to_string(segment_index_ - 1) + " more files"
                                      : std::string());
    return {};
  }

 private:
  // Tracks of an offline graph come after the geometry's lookahead and the
  // recognition and tracking behind it: frames wait for them as long as
  // this (about 0.9 MB of colour each at 640x480).
  static constexpr uint64_t kMaxWait = 512;
  // Segment 0 is `path_` itself; a long stream continues in path_001.mp4,
  // path_002.mp4, ... (each finished and playable when the next begins).
  // `insert` before the extension: FFmpeg picks the container by it.
  static std::string BeforeExtension(const std::string& path, const std::string& insert) {
    const size_t dot = path.rfind('.');
    return path.substr(0, dot) + insert + path.substr(dot);
  }
  std::string SegmentPath() const {
    if (segment_index_ == 0) return path_;
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "_%03d", segment_index_);
    return BeforeExtension(path_, suffix);
  }
  std::string Partial() const { return BeforeExtension(SegmentPath(), ".partial"); }

  void WriteFrame(const pipeline::RgbdFrame& f, const pipeline::Tracks* tracks) {
    cv::Mat img = internal::ToMat(f.color).clone();
    if (f.color.encoding == pipeline::PixelEncoding::kRgb8)
      cv::cvtColor(img, img, cv::COLOR_RGB2BGR);
    if (tracks && !tracks->items.empty()) ++with_tracks_;
    if (tracks) {
      for (const pipeline::Track& t : tracks->items) {
        const cv::Scalar colour = TrackColour(t.track_id);
        const cv::Rect box(int(t.box.x), int(t.box.y), int(t.box.w), int(t.box.h));
        const cv::Rect clipped = box & cv::Rect(0, 0, img.cols, img.rows);
        if (!t.mask.empty() && clipped == box && t.mask.width == box.width &&
            t.mask.height == box.height) {
          cv::Mat roi = img(box), tint(roi.size(), roi.type(), colour), blended;
          cv::addWeighted(roi, 0.55, tint, 0.45, 0, blended);
          blended.copyTo(roi, internal::ToMat(t.mask));
        }
        cv::rectangle(img, clipped, colour, 2);
        char label[128];
        std::snprintf(
            label, sizeof label, "#%lld %s %.2f%s", static_cast<long long>(t.track_id),
            t.class_name.c_str(), t.score,
            t.exit_index >= 0 ? (" exit " + std::to_string(t.exit_index + 1)).c_str() : "");
        int baseline = 0;
        const cv::Size ts = cv::getTextSize(label, cv::FONT_HERSHEY_SIMPLEX, 0.5, 1, &baseline);
        const cv::Point org(clipped.x, std::max(ts.height + 2, clipped.y - 4));
        cv::rectangle(img, org + cv::Point(0, 3), org + cv::Point(ts.width, -ts.height - 2), colour,
                      cv::FILLED);
        cv::putText(img, label, org, cv::FONT_HERSHEY_SIMPLEX, 0.5, cv::Scalar(0, 0, 0), 1,
                    cv::LINE_AA);
      }
    }
    if (fps_used_ > 0) {
      Append(img);
      return;
    }
    // The video plays at the source's rate: from the first frames' stamps
    // (a 10 fps video must not play 3x fast), unless `fps` is given.
    pending_.push_back(img);
    stamps_.push_back(f.meta.stamp_ns);
    if (pending_.size() >= kRateFrames) OpenAndFlush();
  }

  void OpenAndFlush() {
    if (pending_.empty()) return;
    double fps = fps_;
    if (fps <= 0) {
      const double span_s = (stamps_.back() - stamps_.front()) / 1e9;
      fps = stamps_.size() >= 2 && span_s > 0 ? (stamps_.size() - 1) / span_s : 30;
      if (!(fps >= 1 && fps <= 240)) fps = 30;
    }
    size_ = pending_.front().size();
    fps_used_ = fps;
    for (cv::Mat& img : pending_) Append(img);
    pending_.clear();
  }

  void Append(cv::Mat& img) {
    if (!writer_.isOpened() &&
        !writer_.open(Partial(), cv::VideoWriter::fourcc('m', 'p', '4', 'v'), fps_used_, size_))
      throw std::runtime_error("cannot open video writer for '" + Partial() + "' (mp4v/FFmpeg)");
    if (img.size() != size_) cv::resize(img, img, size_);
    writer_.write(img);
    ++written_;
    // The MP4 index stays in memory until the file is finished (tens of
    // bytes a frame): a live stream goes on in a new file every
    // `segment_frames`.
    ++segment_written_;
    if (segment_frames_ > 0 && segment_written_ >= static_cast<uint64_t>(segment_frames_))
      CloseSegment();
  }

  void CloseSegment() {
    writer_.release();
    // OpenCV's writer does not report a failed write (a full disk leaves
    // an MP4 without its index): read it back before it gets its name.
    cv::VideoCapture check(Partial(), cv::CAP_FFMPEG);
    const double frames = check.isOpened() ? check.get(cv::CAP_PROP_FRAME_COUNT) : 0;
    check.release();
    if (frames < double(segment_written_)) {
      std::error_code ec;
      std::filesystem::remove(Partial(), ec);
      throw std::runtime_error("overlay: '" + SegmentPath() + "' could not be finished (" +
                               std::to_string(int64_t(frames)) + " of " +
                               std::to_string(segment_written_) + " frames readable: disk full?)");
    }
    std::filesystem::rename(Partial(), SegmentPath());
    ++segment_index_;
    segment_written_ = 0;
  }

  static constexpr size_t kRateFrames = 8;
  std::string path_;
  double fps_;              ///< <= 0: from the frames' stamps
  double fps_used_ = 0;     ///< known once the first frames are in
  int64_t segment_frames_;  ///< frames per file; 0: one file
  int segment_index_ = 0;
  uint64_t segment_written_ = 0;  ///< frames in the file being written
  std::vector<cv::Mat> pending_;
  std::vector<int64_t> stamps_;
  cv::VideoWriter writer_;
  cv::Size size_;
  uint64_t with_tracks_ = 0;
  pipeline::OrderedJoin<pipeline::RgbdFrame, pipeline::Tracks> join_;
  uint64_t written_ = 0;
};

std::string OutPath(const StageContext& ctx, const std::string& file) {
  return file.empty() || file[0] == '/' ? file : ctx.output_dir + "/" + file;
}

}  // namespace

void RegisterStages(pipeline::StageRegistry& r) {
  r.Register("input",
             "any source: TUM, 7-Scenes, images, video, stereo, recording, OpenNI2, V4L2, "
             "GStreamer (outputs frames, poses and tracks when known)",
             MakeInput);
  r.Register("recorder",
             "records its inputs (any topics) into an MCAP file; profile ros2: a rosbag2 "
             "MCAP (CDR, ros2msg schemas) + metadata.yaml that ros2 bag play reads",
             [](Params& p, const StageContext& ctx) -> std::unique_ptr<pipeline::Stage> {
               if (ctx.inputs.empty()) p.AddProblem("", "the recorder needs at least one input");
               const std::string profile = p.GetChoice("profile", "dyn4d", {"dyn4d", "ros2"});
               if (profile == "ros2") {
                 const std::string file = p.GetString("file", "ros2_bag/ros2_bag_0.mcap");
                 ros2::TopicMapper::Options mapper = ReadTopicMapperOptions(p);
                 p.Finish();
                 return internal::MakeRos2Recorder(OutPath(ctx, file), ctx.inputs,
                                                   std::move(mapper));
               }
               return std::make_unique<RecorderStage>(
                   OutPath(ctx, p.GetString("file", "recording.mcap")), ctx.inputs);
             });
  r.Register("ros2_bridge",
             "publishes its inputs (frames, poses, clouds, map, tracks, cognitive_map) as ROS 2 "
             "topics over DDS (CycloneDDS; docs/ros2.md)",
             [](Params& p, const StageContext& ctx) -> std::unique_ptr<pipeline::Stage> {
               internal::Ros2BridgeOptions o;
               o.inputs = ctx.inputs;
               CheckMapperPorts(p, ctx, "the ROS 2 bridge");
               o.mapper = ReadTopicMapperOptions(p);
               o.domain_id = p.GetInt("domain_id", -1, -1, 232);
               o.ros_profiles = p.GetChoice("qos", "compatible", {"compatible", "ros_profiles"}) ==
                                "ros_profiles";
               p.Finish();
               return internal::MakeRos2Bridge(o);
             });
  r.Register("viewer",
             "serves its inputs (frames, poses, clouds, map, tracks, cognitive_map) live to "
             "Foxglove/Lichtblick: Foxglove WebSocket protocol, ROS 2 channels (cdr + ros2msg)",
             [](Params& p, const StageContext& ctx) -> std::unique_ptr<pipeline::Stage> {
               internal::ViewerOptions o;
               o.inputs = ctx.inputs;
               CheckMapperPorts(p, ctx, "the viewer");
               o.address = p.GetString("address", o.address);
               o.port = static_cast<uint16_t>(p.GetInt("port", o.port, 0, 65535));
               o.mapper = ReadTopicMapperOptions(p);
               o.ask_endpoint = p.GetString("ask_endpoint", "");
               p.Finish();
               try {
                 return internal::MakeViewer(o);
               } catch (const std::runtime_error& e) {
                 throw pipeline::ConfigError({p.file() + ": " + p.path() + ": " + e.what()});
               }
             });
  r.Register("replay", "replays a dyn4d MCAP recording (one output per recorded topic)",
             [](Params& p, const StageContext& ctx) {
               const std::string file = p.GetString("file", "");
               const double speed = p.GetDouble("speed", 0, 0, 1000);
               if (file.empty()) p.AddProblem("file", "missing: the .mcap file to replay");
               p.Finish();
               try {
                 return std::make_unique<ReplayStage>(file, speed);
               } catch (const std::runtime_error& e) {
                 throw pipeline::ConfigError({p.file() + ": " + p.path() + ".file: " + e.what()});
               }
             });
  r.Register(
      "overlay_video", "annotated MP4: tracks (boxes, masks, ids, classes, exits) on the frames",
      [](Params& p, const StageContext& ctx) {
        return std::make_unique<OverlayVideoStage>(
            OutPath(ctx, p.GetString("file", "overlay.mp4")), p.GetDouble("fps", 0, 0, 1000),
            ctx.inputs.count("tracks") > 0,
            p.GetInt("segment_frames", kOverlaySegmentFrames, 0, std::numeric_limits<int>::max()));
      });
  r.Register("reasoning_writer",
             "writes cognitive maps and answers as JSONL and text (inputs maps, answers)",
             [](Params& p, const StageContext& ctx) {
               return std::make_unique<ReasoningWriterStage>(
                   OutPath(ctx, p.GetString("jsonl_file", "reasoning.jsonl")),
                   OutPath(ctx, p.GetString("text_file", "reasoning.txt")));
             });
  r.Register("synthetic_rgbd",
             "synthetic RGB-D scene with ground truth (outputs frames, poses, tracks)",
             MakeSyntheticSource);
  r.Register("trajectory_writer",
             "writes poses as a TUM trajectory, lost ones left out (input poses)",
             [](Params& p, const StageContext& ctx) {
               return std::make_unique<WriterStage<pipeline::CameraPose, TumTrajectoryWriter>>(
                   "poses",
                   std::make_unique<TumTrajectoryWriter>(
                       OutPath(ctx, p.GetString("file", "trajectory.tum")),
                       p.GetBool("include_lost", false)),
                   p.GetChoice("if_empty", "keep", {"keep", "skip"}) == "keep");
             });
  r.Register(
      "tracks_writer", "writes tracks as MOTChallenge text and JSONL (input tracks)",
      [](Params& p, const StageContext& ctx) {
        const std::string kitti = p.GetString("kitti_file", "tracks_kitti.txt");
        const bool keep = p.GetChoice("if_empty", "keep", {"keep", "skip"}) == "keep";
        return std::make_unique<WriterStage<pipeline::Tracks, TracksWriter>>(
            "tracks",
            std::make_unique<TracksWriter>(OutPath(ctx, p.GetString("mot_file", "tracks_mot.txt")),
                                           OutPath(ctx, p.GetString("jsonl_file", "tracks.jsonl")),
                                           kitti.empty() ? "" : OutPath(ctx, kitti)),
            keep);
      });
  r.Register("detections_writer",
             "writes detections / recognitions (class, score, exit, embedding) as JSONL "
             "(input detections)",
             [](Params& p, const StageContext& ctx) {
               return std::make_unique<WriterStage<pipeline::Detections, DetectionsWriter>>(
                   "detections", std::make_unique<DetectionsWriter>(
                                     OutPath(ctx, p.GetString("file", "detections.jsonl")),
                                     p.GetBool("embeddings", true)));
             });
  r.Register("cloud_map_writer",
             "fuses world-frame clouds into a voxel map, writes PLY (input clouds)",
             [](Params& p, const StageContext& ctx) {
               const std::string file = OutPath(ctx, p.GetString("file", "map.ply"));
               const double voxel = p.GetDouble("voxel_m", 0.02, 1e-4, 10);
               // About 70 bytes a point in memory: 2 M points, 140 MB (a
               // room at 2 cm is a few hundred thousand).
               const int max_points = p.GetInt("max_points", 2000000, 1, 200000000);
               // Voxels seen in one cloud only are dropped after this many
               // more (0: every voxel ever seen is kept).
               const int confirm = p.GetInt("confirm_clouds", 30, 0, 1000000);
               return std::make_unique<CloudMapWriterStage>(file, voxel, max_points, confirm);
             });
}

}  // namespace dyn4d::io
