#include "dyn4d/ros2/topics.h"

namespace dyn4d::ros2 {

namespace {
template <class M>
void Add(std::vector<TopicMessage>& out, std::string topic, const M& message, int64_t stamp,
         Delivery delivery) {
  out.push_back({std::move(topic), M::kType, Encode(message), stamp, delivery});
}
}  // namespace

std::vector<TopicMessage> TopicMapper::Map(const pipeline::Message& m, const std::string& ns,
                                           bool is_map) {
  std::vector<TopicMessage> out;
  const std::string base = o_.prefix + ns;
  const FrameIds& f = o_.frames;
  const int64_t t = pipeline::Meta(m).stamp_ns;
  if (const auto* frame = std::get_if<pipeline::RgbdFrame>(&m)) {
    frame_width_ = frame->color.width, frame_height_ = frame->color.height;
    const Header h = MakeHeader(frame->meta, f.camera);
    Add(out, base + "/color/image_raw", ToImage(frame->color, h), t, Delivery::kSensor);
    if (!frame->depth.empty()) {
      // Stamped when the depth was taken (TUM pairs differ by up to 11 ms),
      // so a reader can bring it to the colour's time again.
      pipeline::MessageMeta depth_meta = frame->meta;
      depth_meta.stamp_ns += frame->depth_offset_ns;
      Add(out, base + "/depth/image_raw",
          ToImage(frame->depth, MakeHeader(depth_meta, f.camera), frame->depth_scale), t,
          Delivery::kSensor);
    }
    Add(out, base + "/color/camera_info", ToCameraInfo(frame->intrinsics, h), t, Delivery::kSensor);
  } else if (const auto* pose = std::get_if<pipeline::CameraPose>(&m)) {
    if (pose->status == pipeline::PoseStatus::kLost) return out;
    const PoseStamped ps = ToPoseStamped(*pose, f);
    Add(out, base + "/pose", ps, t, Delivery::kStream);
    Add(out, base + "/odom", ToOdometry(*pose, f), t, Delivery::kStream);
    Path& path = paths_[ns];
    path.header = ps.header;
    path.poses.push_back(ps);
    Add(out, base + "/path", path, t, Delivery::kLatched);
    TFMessage tf;
    tf.transforms = {ToTransform(*pose, f)};
    Add(out, "/tf", tf, t, Delivery::kStream);
  } else if (const auto* cloud = std::get_if<pipeline::PointCloud>(&m)) {
    Add(out, base + (is_map ? "/map" : "/cloud"), ToPointCloud2(*cloud, f), t,
        is_map ? Delivery::kLatched : Delivery::kSensor);
  } else if (const auto* tracks = std::get_if<pipeline::Tracks>(&m)) {
    auto& trails = trails_[ns];
    for (const pipeline::Track& k : tracks->items)
      if (k.has_position)
        trails[k.track_id].push_back(
            {k.position_world[0], k.position_world[1], k.position_world[2]});
    Add(out, base + "/objects", ToDetections(*tracks, f), t, Delivery::kStream);
    Add(out, base + "/markers", ToMarkers(*tracks, f, &trails), t, Delivery::kStream);
    Add(out, base + "/annotations", ToImageAnnotations(*tracks), t, Delivery::kStream);
    if (frame_width_ > 0)
      Add(out, base + "/masks",
          ToMaskImage(*tracks, frame_width_, frame_height_, MakeHeader(tracks->meta, f.camera)), t,
          Delivery::kSensor);
  } else if (const auto* map = std::get_if<pipeline::CognitiveMap>(&m)) {
    Add(out, base + "/cognitive_map", ToString(*map), t, Delivery::kLatched);
  } else if (const auto* stats = std::get_if<pipeline::Stats>(&m)) {
    auto& latest = stats_[ns];
    latest[stats->node] = *stats;
    Add(out, base + "/diagnostics", ToDiagnostics(latest, MakeHeader(stats->meta, "")), t,
        Delivery::kLatched);
  }
  return out;
}

}  // namespace dyn4d::ros2
