#include "dyn4d/perception/motion_proposals.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "dyn4d/perception/pose.h"

namespace dyn4d::perception {

std::vector<std::string> MotionProposalStream::Options::Validate() const {
  std::vector<std::string> p = segmentation.Validate();
  if (stride < 1 || stride > 16) p.push_back("stride: must be in [1, 16]");
  if (lookahead_frames < 0) p.push_back("lookahead_frames: must be >= 0");
  if (reference_every < 1) p.push_back("reference_every: must be >= 1");
  if (past_frames < 0) p.push_back("past_frames: must be >= 0");
  return p;
}

namespace {
MotionSegmentationConfig Checked(const MotionProposalStream::Options& o) {
  const auto problems = o.Validate();
  if (!problems.empty()) throw std::invalid_argument("MotionProposalStream: " + problems.front());
  return o.segmentation;
}

bool Usable(const pipeline::RgbdFrame& f, const pipeline::CameraPose& p) {
  return p.status != pipeline::PoseStatus::kLost && !f.depth.empty() &&
         f.depth.encoding == pipeline::PixelEncoding::kMono16;
}

// Geodesic interpolation between two poses, u in [0, 1] (or a little beyond).
Eigen::Isometry3d Interpolate(const Eigen::Isometry3d& a, const Eigen::Isometry3d& b, double u) {
  const Eigen::Isometry3d d = a.inverse() * b;
  const Eigen::AngleAxisd aa(d.linear());
  Eigen::Isometry3d step = Eigen::Isometry3d::Identity();
  step.linear() = Eigen::AngleAxisd(u * aa.angle(), aa.axis()).toRotationMatrix();
  step.translation() = u * d.translation();
  return a * step;
}
}  // namespace

MotionProposalStream::MotionProposalStream(Options options)
    : o_(std::move(options)), segmenter_(Checked(o_)) {}

std::vector<MotionProposalStream::Output> MotionProposalStream::Push(
    const pipeline::RgbdFrame& frame, const pipeline::CameraPose& pose) {
  const bool usable = Usable(frame, pose);
  if (usable) {
    poses_.push_back({frame.meta.seq, frame.meta.stamp_ns, ToIsometry(pose)});
    // Enough poses to interpolate over the lookahead and the past references.
    while (poses_.size() > static_cast<size_t>(o_.lookahead_frames + o_.past_frames + 4))
      poses_.pop_front();
  }
  pending_.push_back({frame, pose});
  ++pushed_;
  std::vector<Output> out;
  if (o_.lookahead_frames == 0) {
    // Live: the frame is judged against earlier views now, without waiting
    // for the next one; as a reference its depth time is then placed by
    // the motion up to it (extrapolated by the few milliseconds between
    // colour and depth).
    out.push_back(Process(pending_.back()));
    MaybeAddReference(pending_.back());
    pending_.clear();
    return out;
  }
  // A reference is made when its own neighbours' poses are known (one frame
  // later), so its depth time and rotation rate can be placed.
  if (pending_.size() >= 2) MaybeAddReference(pending_[pending_.size() - 2]);
  // One extra frame is kept so the last pending reference can be made.
  while (pending_.size() > static_cast<size_t>(o_.lookahead_frames) + 1) {
    out.push_back(Process(pending_.front()));
    pending_.pop_front();
  }
  return out;
}

std::vector<MotionProposalStream::Output> MotionProposalStream::Flush() {
  std::vector<Output> out;
  if (!pending_.empty()) MaybeAddReference(pending_.back());
  for (const Pending& p : pending_) out.push_back(Process(p));
  pending_.clear();
  return out;
}

void MotionProposalStream::SetBetterPose(uint64_t seq, const Eigen::Isometry3d& T_world_cam) {
  auto it = std::lower_bound(poses_.begin(), poses_.end(), seq,
                             [](const PushedPose& p, uint64_t s) { return p.seq < s; });
  if (it == poses_.end() || it->seq != seq) return;  // not usable when pushed, or too old
  if (!corrections_.empty() && corrections_.back().seq >= seq) return;  // out of order
  corrections_.push_back({seq, T_world_cam * it->T_world_cam.inverse()});
}

Eigen::Isometry3d MotionProposalStream::Correction(uint64_t seq) const {
  // That of the latest frame at or before `seq` given a better pose: a
  // frame without one of its own moves with the frames before it.
  auto it = std::upper_bound(corrections_.begin(), corrections_.end(), seq,
                             [](uint64_t s, const Corrected& c) { return s < c.seq; });
  if (it == corrections_.begin()) return Eigen::Isometry3d::Identity();
  return std::prev(it)->correction;
}

void MotionProposalStream::MaybeAddReference(const Pending& p) {
  if (!Usable(p.frame, p.pose) || p.frame.meta.seq % o_.reference_every != 0) return;
  try {
    AddReference(p);
  } catch (const std::invalid_argument&) {
    // A frame without usable depth is no reference; its own output says why.
  }
}

void MotionProposalStream::AddReference(const Pending& p) {
  DepthView view = View(p.frame, p.pose);
  const Eigen::Isometry3d pushed = view.T_world_cam;
  refs_.push_back({p.frame.meta.seq, ReferenceView(std::move(view)), pushed});
}

Eigen::Isometry3d MotionProposalStream::PoseAt(int64_t stamp_ns, const Eigen::Isometry3d& fallback,
                                               double* angular_speed, bool* placed) const {
  *angular_speed = 0;
  if (placed) *placed = false;
  if (poses_.size() < 2) return fallback;
  // The two usable poses around the stamp (or the nearest two at an end).
  auto it = std::lower_bound(poses_.begin(), poses_.end(), stamp_ns,
                             [](const PushedPose& p, int64_t t) { return p.stamp_ns < t; });
  size_t b = static_cast<size_t>(it - poses_.begin());
  if (b == 0) b = 1;
  if (b >= poses_.size()) b = poses_.size() - 1;
  const int64_t ta = poses_[b - 1].stamp_ns, tb = poses_[b].stamp_ns;
  const Eigen::Isometry3d& Ta = poses_[b - 1].T_world_cam;
  const Eigen::Isometry3d& Tb = poses_[b].T_world_cam;
  const double dt = (tb - ta) * 1e-9;
  if (!(dt > 0) || dt > 0.5) return fallback;  // a gap (lost frames): no motion model
  *angular_speed = AngularSpeed(Ta, Tb, dt);
  const double u = (stamp_ns - ta) * 1e-9 / dt;
  if (u < -1 || u > 2) return fallback;
  if (placed) *placed = true;
  return Interpolate(Ta, Tb, u);
}

DepthView MotionProposalStream::View(const pipeline::RgbdFrame& frame,
                                     const pipeline::CameraPose& pose) const {
  const Eigen::Isometry3d T_colour = ToIsometry(pose);
  double speed = 0;
  const Eigen::Isometry3d T_depth =
      PoseAt(frame.meta.stamp_ns + frame.depth_offset_ns, T_colour, &speed);
  DepthView v = MakeDepthView(frame, T_depth, o_.stride, o_.segmentation);
  v.angular_speed_rad_s = speed;
  return v;
}

MotionProposalStream::Output MotionProposalStream::Process(const Pending& p) {
  const uint64_t seq = p.frame.meta.seq;
  // Forget references too old for this frame (and so for every later one).
  while (!refs_.empty() && refs_.front().seq + o_.past_frames < seq) refs_.pop_front();
  // Keep the corrections the references still need (and the latest).
  while (corrections_.size() > 1 && !refs_.empty() && corrections_[1].seq <= refs_.front().seq)
    corrections_.pop_front();
  Output out{p.frame, p.pose, {}, ""};
  pipeline::CameraPose pose = p.pose;  // where the frame is segmented
  if (p.pose.status == pipeline::PoseStatus::kLost) {
    // Lost by the pushed poses' tracker (too few agreeing pixels: people
    // filling the view), the frame is placed between its usable neighbours
    // (by the motion up to it, live) and, like any frame, refined by the
    // alignment to each reference. What was carried to it is forgotten
    // either way: carried through a lost frame, regions kept the pieces
    // they had split into (Bonn crowd, frame 288: a man as three tracks
    // from there on); found afresh, bodies come out whole. Without
    // neighbours close in time it is not tested.
    priors_.clear();
    bool between = false;
    double speed = 0;
    const Eigen::Isometry3d T = PoseAt(p.frame.meta.stamp_ns, ToIsometry(p.pose), &speed, &between);
    if (!between) {
      out.message = "pose lost";
      return out;
    }
    pose = ToCameraPose(T, p.pose.meta, pipeline::PoseStatus::kOk);
  }
  std::vector<const ReferenceView*> refs;
  for (Reference& r : refs_)
    if (r.seq != seq && r.seq <= seq + o_.lookahead_frames) {
      r.view.set_pose(Correction(r.seq) * r.pushed_T_world_depth);
      refs.push_back(&r.view);
    }
  if (refs.empty()) {
    out.message = "no reference view";
    return out;
  }
  try {
    DepthView view = View(p.frame, pose);
    const Eigen::Isometry3d correction = Correction(seq);
    view.T_world_cam = correction * view.T_world_cam;
    out.pose = ToCameraPose(correction * ToIsometry(pose), pose.meta, pose.status);
    out.result = segmenter_.Segment(view, refs, p.frame.depth.width, p.frame.depth.height, priors_);
    priors_ = segmenter_.Carry(out.result, view, priors_);
  } catch (const std::invalid_argument& e) {
    out.message = e.what();
    priors_.clear();
  }
  return out;
}

}  // namespace dyn4d::perception
