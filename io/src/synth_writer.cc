#include "dyn4d/io/synth_writer.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "dyn4d/io/writers.h"
#include "opencv_image.h"

namespace dyn4d::io {

namespace fs = std::filesystem;

std::vector<SceneEvent> DetectEvents(
    const std::vector<std::vector<SyntheticScene::ObjectState>>& frames, double fps,
    int min_visible_px, int min_frames) {
  std::vector<SceneEvent> events;
  if (frames.empty()) return events;
  const size_t n_objects = frames[0].size();
  // Per object and property: the settled state and a candidate change.
  struct Tracked {
    int state = -1, candidate = -1, since = 0;
  };
  auto state_of = [&](const SyntheticScene::ObjectState& s, int prop) {
    switch (prop) {
      case 0:
        return s.visible_pixels >= min_visible_px ? 1 : 0;
      case 1:
        return std::hypot(s.velocity[0], s.velocity[1]) > 0.05 ? 1 : 0;
      default:  // 0 = not occluded, else the occluder's id
        if (s.silhouette_pixels < min_visible_px) return 0;
        return 1.0 - double(s.visible_pixels) / s.silhouette_pixels >= 0.3 ? s.occluded_by : 0;
    }
  };
  std::vector<std::array<Tracked, 3>> tracked(n_objects);
  for (size_t f = 0; f < frames.size(); ++f) {
    for (size_t k = 0; k < n_objects; ++k) {
      const auto& s = frames[f][k];
      for (int prop = 0; prop < 3; ++prop) {
        Tracked& tr = tracked[k][prop];
        const int now = state_of(s, prop);
        if (tr.state == -1) {  // first frame: the initial state, no event but visibility
          tr.state = tr.candidate = now;
          if (prop == 0 && now) events.push_back({0, 0, "visible_at_start", s.id, 0});
          if (prop == 1 && now) events.push_back({0, 0, "starts_moving", s.id, 0});
          continue;
        }
        if (now != tr.candidate) tr.candidate = now, tr.since = static_cast<int>(f);
        if (tr.candidate != tr.state && static_cast<int>(f) - tr.since + 1 >= min_frames) {
          const int at = tr.since;
          std::string type;
          int other = 0;
          if (prop == 0)
            type = tr.candidate ? "enters_view" : "leaves_view";
          else if (prop == 1)
            type = tr.candidate ? "starts_moving" : "stops";
          else if (tr.candidate)
            type = "occluded_by", other = tr.candidate;
          else
            type = "no_longer_occluded", other = tr.state;
          events.push_back({at, at / fps, type, s.id, other});
          tr.state = tr.candidate;
        }
      }
    }
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const auto& a, const auto& b) { return a.frame < b.frame; });
  return events;
}

SynthWriteResult WriteSyntheticSequence(const SyntheticScene::Config& config,
                                        const std::string& out_dir,
                                        const std::function<void(int, int)>& progress) {
  const auto problems = config.Validate();
  if (!problems.empty()) throw std::invalid_argument("synthetic scene: " + problems.front());
  for (const char* sub : {"rgb", "depth", "masks", "gt"}) {
    std::error_code ec;
    fs::create_directories(fs::path(out_dir) / sub, ec);
    if (ec)
      throw std::runtime_error("cannot create '" + (fs::path(out_dir) / sub).string() +
                               "': " + ec.message());
  }
  SyntheticScene scene(config);
  const auto K = scene.intrinsics();
  AtomicFile rgb_txt(out_dir + "/rgb.txt"), depth_txt(out_dir + "/depth.txt"),
      assoc(out_dir + "/associations.txt"), gt_txt(out_dir + "/groundtruth.txt");
  rgb_txt.stream() << "# colour images (dyn4d synth, seed " << config.seed
                   << ")\n# timestamp filename\n";
  depth_txt.stream() << "# depth images, 16-bit PNG, metres = value / " << config.depth_scale
                     << "\n# timestamp filename\n";
  gt_txt.stream() << "# ground-truth trajectory T_world_cam\n# timestamp tx ty tz qx qy qz qw\n";
  TracksWriter tracks(out_dir + "/gt/tracks_mot.txt", out_dir + "/gt/tracks3d.jsonl");
  const std::vector<int> png_fast = {cv::IMWRITE_PNG_COMPRESSION, 1};
  std::vector<std::vector<SyntheticScene::ObjectState>> states;
  SynthWriteResult result;
  for (int i = 0; i < config.num_frames; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    SyntheticScene::Rendered r = scene.Render(i);
    const auto t1 = std::chrono::steady_clock::now();
    char name[32];
    std::snprintf(name, sizeof name, "%06d.png", i);
    const double t = r.frame.meta.stamp_ns / 1e9;
    for (const auto& [dir, img] :
         {std::pair<const char*, const pipeline::Image*>{"rgb", &r.frame.color},
          {"depth", &r.frame.depth},
          {"masks", &r.instances}}) {
      const std::string path = out_dir + "/" + dir + "/" + name;
      if (!cv::imwrite(path, internal::ToMat(*img), png_fast))
        throw std::runtime_error("cannot write '" + path + "'");
    }
    char line[256];
    std::snprintf(line, sizeof line, "%.6f rgb/%s\n", t, name);
    rgb_txt.stream() << line;
    std::snprintf(line, sizeof line, "%.6f depth/%s\n", t, name);
    depth_txt.stream() << line;
    std::snprintf(line, sizeof line, "%.6f rgb/%s %.6f depth/%s\n", t, name, t, name);
    assoc.stream() << line;
    const auto& p = r.pose;
    std::snprintf(line, sizeof line, "%.6f %.6f %.6f %.6f %.7f %.7f %.7f %.7f\n", t,
                  p.t_world_cam[0], p.t_world_cam[1], p.t_world_cam[2], p.q_world_cam[0],
                  p.q_world_cam[1], p.q_world_cam[2], p.q_world_cam[3]);
    gt_txt.stream() << line;
    tracks.Write(r.tracks);
    states.push_back(r.objects);
    result.render_s += std::chrono::duration<double>(t1 - t0).count();
    result.write_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    if (progress) progress(i + 1, config.num_frames);
  }
  for (AtomicFile* f : {&rgb_txt, &depth_txt, &assoc, &gt_txt}) f->Commit();
  tracks.Close();

  // Intrinsics in OpenCV's calibration format, read back by the TUM source.
  {
    AtomicFile calib(out_dir + "/calibration.yaml");
    calib.stream()
        << "%YAML:1.0\n---\nimage_width: " << K.width << "\nimage_height: " << K.height
        << "\ncamera_matrix: !!opencv-matrix\n   rows: 3\n   cols: 3\n   dt: d\n   data: [ " << K.fx
        << ", 0., " << K.cx << ", 0., " << K.fy << ", " << K.cy
        << ", 0., 0., 1. ]\ndepth_scale: " << config.depth_scale << "\n";
    calib.Commit();
  }
  const int min_visible = std::max(20, config.width * config.height / 1500);
  const std::vector<SceneEvent> events = DetectEvents(states, config.fps, min_visible);
  {
    AtomicFile ev(out_dir + "/gt/events.jsonl");
    for (const SceneEvent& e : events) {
      nlohmann::json j = {{"frame", e.frame}, {"t", e.t_s}, {"type", e.type}, {"object", e.object}};
      if (e.other) j["other"] = e.other;
      ev.stream() << j.dump() << "\n";
    }
    ev.Commit();
  }
  {
    nlohmann::json objects = nlohmann::json::array();
    for (const auto& s : states.front())
      objects.push_back(
          {{"id", s.id}, {"category", s.category}, {"role", s.role}, {"size", s.size}});
    nlohmann::json meta = {{"generator", "dyn4d synth"},
                           {"seed", config.seed},
                           {"frames", config.num_frames},
                           {"fps", config.fps},
                           {"width", config.width},
                           {"height", config.height},
                           {"depth_scale", config.depth_scale},
                           {"objects", objects}};
    AtomicFile f(out_dir + "/gt/objects.json");
    f.stream() << meta.dump(2) << "\n";
    f.Commit();
  }
  result.frames = config.num_frames;
  result.events = events.size();
  return result;
}

}  // namespace dyn4d::io
