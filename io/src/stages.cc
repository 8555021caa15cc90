#include "dyn4d/io/stages.h"

#include <chrono>
#include <cmath>
#include <memory>
#include <thread>
#include <unordered_map>

#include "dyn4d/io/synthetic_scene.h"
#include "dyn4d/io/writers.h"

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
  c.fx = p.GetDouble("fx", c.fx, 1, 1e5);
  c.fy = p.GetDouble("fy", c.fy, 1, 1e5);
  c.fps = p.GetDouble("fps", c.fps, 0.1, 1000);
  c.seed = static_cast<uint32_t>(p.GetInt("seed", 1, 0, 1 << 30));
  c.num_objects = p.GetInt("objects", c.num_objects, 0, 6);
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
  WriterStage(std::string port, std::unique_ptr<Writer> writer)
      : port_(std::move(port)), writer_(std::move(writer)) {}
  std::vector<std::string> InputPorts() const override { return {port_}; }
  Outputs Process(const std::string&, const Message& m) override {
    const auto* msg = std::get_if<Msg>(&m);
    if (!msg)
      throw std::invalid_argument("input '" + port_ + "' expects " +
                                  pipeline::TypeName(Message(Msg{})) + ", got " +
                                  pipeline::TypeName(m));
    writer_->Write(*msg);
    return {};
  }
  Outputs Finish() override {
    writer_->Close();
    return {};
  }

 private:
  std::string port_;
  std::unique_ptr<Writer> writer_;
};

// Accumulates world-frame clouds into a voxel map (first point of each voxel
// wins, so the result is deterministic) and writes it at end of stream.
class CloudMapWriterStage : public pipeline::Stage {
 public:
  CloudMapWriterStage(std::string path, double voxel_m, size_t max_points)
      : path_(std::move(path)), inv_voxel_(1.0 / voxel_m), max_points_(max_points) {}
  std::vector<std::string> InputPorts() const override { return {"clouds"}; }

  Outputs Process(const std::string&, const Message& m) override {
    const auto* c = std::get_if<pipeline::PointCloud>(&m);
    if (!c) throw std::invalid_argument("expected PointCloud, got " + pipeline::TypeName(m));
    if (c->frame_id != "world")
      throw std::invalid_argument("cloud_map_writer needs world-frame clouds, got frame '" +
                                  c->frame_id + "'");
    const float* p = c->points.as<float>();
    const uint8_t* rgb = c->colors.empty() ? nullptr : c->colors.data();
    for (uint32_t i = 0; i < c->num_points && xyz_.size() / 3 < max_points_; ++i) {
      const int64_t k[3] = {static_cast<int64_t>(std::floor(p[3 * i] * inv_voxel_)),
                            static_cast<int64_t>(std::floor(p[3 * i + 1] * inv_voxel_)),
                            static_cast<int64_t>(std::floor(p[3 * i + 2] * inv_voxel_))};
      const uint64_t key = (static_cast<uint64_t>(k[0] & 0x1fffff) << 42) |
                           (static_cast<uint64_t>(k[1] & 0x1fffff) << 21) |
                           static_cast<uint64_t>(k[2] & 0x1fffff);
      if (!occupied_.emplace(key, true).second) continue;
      xyz_.insert(xyz_.end(), p + 3 * i, p + 3 * i + 3);
      if (rgb)
        rgb_.insert(rgb_.end(), rgb + 3 * i, rgb + 3 * i + 3);
      else
        rgb_.insert(rgb_.end(), {200, 200, 200});
    }
    return {};
  }
  Outputs Finish() override {
    WritePlyBinary(path_, xyz_, rgb_);
    return {};
  }

 private:
  std::string path_;
  double inv_voxel_;
  size_t max_points_;
  std::unordered_map<uint64_t, bool> occupied_;
  std::vector<float> xyz_;
  std::vector<uint8_t> rgb_;
};

std::string OutPath(const StageContext& ctx, const std::string& file) {
  return file.empty() || file[0] == '/' ? file : ctx.output_dir + "/" + file;
}

}  // namespace

void RegisterStages(pipeline::StageRegistry& r) {
  r.Register("synthetic_rgbd",
             "synthetic RGB-D scene with ground truth (outputs frames, poses, tracks)",
             MakeSyntheticSource);
  r.Register("trajectory_writer", "writes poses as a TUM trajectory (input poses)",
             [](Params& p, const StageContext& ctx) {
               return std::make_unique<WriterStage<pipeline::CameraPose, TumTrajectoryWriter>>(
                   "poses", std::make_unique<TumTrajectoryWriter>(
                                OutPath(ctx, p.GetString("file", "trajectory.tum"))));
             });
  r.Register("tracks_writer", "writes tracks as MOTChallenge text and JSONL (input tracks)",
             [](Params& p, const StageContext& ctx) {
               return std::make_unique<WriterStage<pipeline::Tracks, TracksWriter>>(
                   "tracks", std::make_unique<TracksWriter>(
                                 OutPath(ctx, p.GetString("mot_file", "tracks_mot.txt")),
                                 OutPath(ctx, p.GetString("jsonl_file", "tracks.jsonl"))));
             });
  r.Register("cloud_map_writer",
             "fuses world-frame clouds into a voxel map, writes PLY (input clouds)",
             [](Params& p, const StageContext& ctx) {
               const std::string file = OutPath(ctx, p.GetString("file", "map.ply"));
               const double voxel = p.GetDouble("voxel_m", 0.02, 1e-4, 10);
               const int max_points = p.GetInt("max_points", 5000000, 1, 200000000);
               return std::make_unique<CloudMapWriterStage>(file, voxel, max_points);
             });
}

}  // namespace dyn4d::io
