#include "dyn4d/perception/stages.h"

#include <map>

#include "dyn4d/perception/backprojection.h"

namespace dyn4d::perception {
namespace {

using pipeline::Message;
using pipeline::Outputs;

// Joins frames and poses by sequence number (they come from one source on
// two topics, in any interleaving) and back-projects each pair to a world
// cloud. Frames whose pose is lost are skipped: a wrong pose would corrupt
// everything downstream.
class BackprojectStage : public pipeline::Stage {
 public:
  explicit BackprojectStage(BackprojectionConfig c) : config_(c) {}
  std::vector<std::string> InputPorts() const override { return {"frames", "poses"}; }
  std::vector<std::string> OutputPorts() const override { return {"clouds"}; }

  Outputs Process(const std::string& port, const Message& m) override {
    uint64_t seq = pipeline::Meta(m).seq;
    if (port == "frames") {
      const auto* f = std::get_if<pipeline::RgbdFrame>(&m);
      if (!f)
        throw std::invalid_argument("input 'frames' expects RgbdFrame, got " +
                                    pipeline::TypeName(m));
      frames_[seq] = *f;
    } else {
      const auto* p = std::get_if<pipeline::CameraPose>(&m);
      if (!p)
        throw std::invalid_argument("input 'poses' expects CameraPose, got " +
                                    pipeline::TypeName(m));
      poses_[seq] = *p;
    }
    Outputs out;
    auto f = frames_.find(seq);
    auto p = poses_.find(seq);
    if (f != frames_.end() && p != poses_.end()) {
      if (p->second.status != pipeline::PoseStatus::kLost)
        out.push_back({"clouds", Backproject(f->second, config_, &p->second)});
      frames_.erase(f);
      poses_.erase(p);
    }
    // A pose or frame that never gets its partner must not grow memory
    // without bound: forget entries far behind the newest.
    while (!frames_.empty() && frames_.begin()->first + kMaxPending < seq)
      frames_.erase(frames_.begin());
    while (!poses_.empty() && poses_.begin()->first + kMaxPending < seq)
      poses_.erase(poses_.begin());
    return out;
  }

 private:
  static constexpr uint64_t kMaxPending = 64;
  BackprojectionConfig config_;
  std::map<uint64_t, pipeline::RgbdFrame> frames_;
  std::map<uint64_t, pipeline::CameraPose> poses_;
};

}  // namespace

void RegisterStages(pipeline::StageRegistry& r) {
  r.Register("backproject", "joins frames and poses by seq, back-projects depth to world clouds",
             [](pipeline::Params& p, const pipeline::StageContext&) {
               BackprojectionConfig c;
               c.stride = p.GetInt("stride", c.stride, 1, 64);
               c.min_depth_m = p.GetDouble("min_depth_m", c.min_depth_m, 0, 100);
               c.max_depth_m = p.GetDouble("max_depth_m", c.max_depth_m, 0, 100);
               for (const std::string& problem : c.Validate()) p.AddProblem("", problem);
               return std::make_unique<BackprojectStage>(c);
             });
}

}  // namespace dyn4d::perception
