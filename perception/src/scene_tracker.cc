#include "dyn4d/perception/scene_tracker.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <stdexcept>

#include "dyn4d/perception/appearance.h"
#include "dyn4d/perception/pose.h"
#include "in_order_worker.h"

namespace dyn4d::perception {

std::vector<std::string> SceneTracker::Options::Validate() const {
  std::vector<std::string> p = odometry.Validate();
  for (const std::string& m : segmentation.Validate()) p.push_back(m);
  if (recognise_places)
    for (const std::string& m : places.Validate()) p.push_back(m);
  if (lookahead_frames < 0) p.push_back("lookahead_frames: must be >= 0");
  if (past_frames < 0) p.push_back("past_frames: must be >= 0");
  if (reference_every < 1) p.push_back("reference_every: must be >= 1");
  if (motion_stride < 1 || motion_stride > 16) p.push_back("motion_stride: must be in [1, 16]");
  if (mask_margin_px < 0) p.push_back("mask_margin_px: must be >= 0");
  if (place_correction_lag_frames < 0) p.push_back("place_correction_lag_frames: must be >= 0");
  return p;
}

namespace {

const SceneTracker::Options& Checked(const SceneTracker::Options& o) {
  const auto problems = o.Validate();
  if (!problems.empty()) throw std::invalid_argument("SceneTracker: " + problems.front());
  return o;
}

// The rough pass: one pyramid level coarser, robust weights only (its own
// causal moving-object detection was measured worse here: Bonn crowd ATE
// 0.30 with it, 0.13 without); its poses only seed the segmentation, which
// aligns each reference to the frame itself.
RgbdOdometry::Config RoughConfig(RgbdOdometry::Config c) {
  if (c.finest_level < 3) ++c.finest_level;  // same number of levels: fast rotations still converge
  c.window_size = 0;
  c.weight_by_surface_area = true;
  return c;
}

MotionProposalStream::Options StreamOptions(const SceneTracker::Options& o) {
  MotionProposalStream::Options s;
  s.segmentation = o.segmentation;
  s.stride = o.motion_stride;
  s.lookahead_frames = o.lookahead_frames;
  s.past_frames = o.past_frames;
  s.reference_every = o.reference_every;
  return s;
}

// Full-resolution mask of the regions (and `known`, when given).
pipeline::Image MaskOf(const pipeline::RgbdFrame& f, const MotionSegmentation& seg,
                       const pipeline::Image* known) {
  const int W = f.depth.width, H = f.depth.height;
  const bool has_known = known && known->width == W && known->height == H &&
                         known->encoding == pipeline::PixelEncoding::kMono8;
  if (seg.regions.empty() && !has_known) return {};
  pipeline::Image m = pipeline::Image::Allocate(W, H, pipeline::PixelEncoding::kMono8);
  uint8_t* out = m.data.mutable_data();
  if (has_known) {
    const uint8_t* k = known->data.data();
    for (size_t i = 0; i < static_cast<size_t>(W) * H; ++i) out[i] = k[i] ? 255 : 0;
  }
  for (const MotionRegion& r : seg.regions) {
    const int x0 = static_cast<int>(r.box.x), y0 = static_cast<int>(r.box.y);
    for (int y = 0; y < r.mask.height; ++y)
      for (int x = 0; x < r.mask.width; ++x) {
        const int u = x0 + x, v = y0 + y;
        if (u < 0 || v < 0 || u >= W || v >= H) continue;
        if (r.mask.data.data()[static_cast<size_t>(y) * r.mask.width + x])
          out[static_cast<size_t>(v) * W + u] = 255;
      }
  }
  return m;
}

// Grows a mono8 mask by `r` pixels (square), in place.
void Grow(pipeline::Image& m, int r) {
  if (m.empty() || r <= 0) return;
  const int w = m.width, h = m.height;
  uint8_t* d = m.data.mutable_data();
  std::vector<uint8_t> rows(static_cast<size_t>(w) * h, 0);
  std::vector<int> prefix;
  auto pass = [&](const uint8_t* in, uint8_t* out, int n, int count, size_t step, size_t line) {
    prefix.assign(n + 1, 0);
    for (int l = 0; l < count; ++l) {
      const size_t base = l * line;
      for (int k = 0; k < n; ++k) prefix[k + 1] = prefix[k] + (in[base + k * step] != 0);
      for (int k = 0; k < n; ++k)
        out[base + k * step] =
            prefix[std::min(n, k + r + 1)] - prefix[std::max(0, k - r)] > 0 ? 255 : 0;
    }
  };
  pass(d, rows.data(), w, h, 1, static_cast<size_t>(w));
  pass(rows.data(), d, h, w, static_cast<size_t>(w), 1);
}

// Moves the regions' world coordinates from the pose they were segmented
// at to the final one (the same points seen from the corrected camera).
void Reframe(MotionSegmentation& seg, const Eigen::Isometry3d& from, const Eigen::Isometry3d& to) {
  const Eigen::Isometry3d M = to * from.inverse();
  for (MotionRegion& r : seg.regions) {
    const Eigen::Vector3d c =
        M * Eigen::Vector3d(r.centroid_world[0], r.centroid_world[1], r.centroid_world[2]);
    for (int a = 0; a < 3; ++a) r.centroid_world[a] = c[a];
  }
}

}  // namespace

struct SceneTracker::Impl {
  Options o;
  RgbdOdometry odometry;
  std::optional<RgbdOdometry> rough;
  std::optional<MotionProposalStream> stream;
  std::map<uint64_t, pipeline::Image> known;  // external masks of frames still pending
  // Final poses not yet given to the segmentation (see Hand), by seq.
  std::deque<std::pair<uint64_t, Eigen::Isometry3d>> final_poses;
  std::optional<uint64_t> last_handed;     // seq of the last frame handed to the final pass
  std::optional<PlaceRecognition> places;  // step 4 (recognise_places)

  // The final pass's thread (final_pass_thread).
  struct Job {
    MotionProposalStream::Output segmented;
    std::optional<pipeline::Image> known_moving;
  };
  static constexpr size_t kMaxWaiting = 2;  // hand-over bound (memory, latency)
  std::optional<internal::InOrderWorker<Job, Output>> final_pass;
  // Pacing: when the caller left this tracker idle between two frames for
  // a good part of the time a frame takes, frames arrive slower than they
  // are processed (a live or paced source), and each frame's final pass is
  // waited for: no throughput is lost, and the frame does not wait for the
  // next one to come out. Back to back (a recording read flat out), the
  // final pass overlaps the next frame's rough pass and segmentation.
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> last_return;
  Clock::duration last_busy{};

  explicit Impl(const Options& options) : o(Checked(options)), odometry(options.odometry) {
    if (o.recognise_places) places.emplace(o.places);
    if (o.detect_moving_objects) {
      rough.emplace(RoughConfig(o.odometry));
      stream.emplace(StreamOptions(o));
      if (o.final_pass_thread)
        final_pass.emplace([this](Job& job) { return Finish(std::move(job)); });
    }
  }
  ~Impl() { final_pass.reset(); }  // its thread uses the members above

  // Without moving-object detection: one pass, masks only from outside.
  Output Plain(const pipeline::RgbdFrame& frame, const pipeline::Image* known_moving) {
    Output out;
    out.frame = frame;
    out.odometry = odometry.Track(frame, known_moving);
    out.mask = MaskOf(frame, out.motion, known_moving);
    Grow(out.mask, o.mask_margin_px);
    return out;
  }

  // The external mask given with frame `seq`, if any (masks of earlier
  // frames are dropped: their frames are done).
  std::optional<pipeline::Image> TakeKnown(uint64_t seq) {
    auto k = known.find(seq);
    if (k == known.end()) return std::nullopt;
    std::optional<pipeline::Image> m = std::move(k->second);
    known.erase(known.begin(), std::next(k));
    return m;
  }

  Output Finish(Job&& job) {
    MotionProposalStream::Output& s = job.segmented;
    Output out;
    out.frame = std::move(s.frame);
    out.motion = std::move(s.result);
    const pipeline::Image* known_moving = job.known_moving ? &*job.known_moving : nullptr;
    out.mask = MaskOf(out.frame, out.motion, known_moving);
    Grow(out.mask, o.mask_margin_px);
    out.odometry = odometry.Track(out.frame, out.mask.empty() ? nullptr : &out.mask);
    if (s.pose.status != pipeline::PoseStatus::kLost && out.odometry.usable())
      Reframe(out.motion, ToIsometry(s.pose), out.odometry.T_world_cam);
    return out;
  }

  // Hands the segmented frames to the final pass; returns the frames done
  // (all of them when `wait_all`).
  std::vector<Output> Hand(std::vector<MotionProposalStream::Output>&& segmented, bool wait_all) {
    if (!segmented.empty()) last_handed = segmented.back().frame.meta.seq;
    std::vector<Output> out = HandToFinalPass(std::move(segmented), wait_all);
    PassFinalPoses(out);
    Correct(out, wait_all);
    return out;
  }

  // Step 4: the frames' poses (and their objects' world positions) moved by
  // the place graph's correction, in order. After PassFinalPoses: the
  // segmentation keeps the tracker's own, smooth poses. The graph works on
  // its own thread; frames wait in `correcting` until the correction they
  // take is known: their own, or that of the frame `lag` before them
  // (place_correction_lag_frames). All of them go out when `wait_all`, and
  // each gets exactly the one the graph gives, whatever the threads' timing.
  std::deque<Output> correcting;
  // Corrections of the last `lag` frames through the graph (and of frames
  // still in `correcting`), oldest first; `through` counts every frame's.
  std::deque<Eigen::Isometry3d> corrections;
  uint64_t through = 0, released = 0;
  void Correct(std::vector<Output>& done, bool wait_all) {
    if (!places) return;
    const size_t lag = static_cast<size_t>(o.place_correction_lag_frames);
    for (Output& f : done) {
      places->Submit(f.frame, f.mask.empty() ? nullptr : &f.mask, f.odometry.T_world_cam,
                     f.odometry.usable());
      correcting.push_back(std::move(f));
    }
    done.clear();
    // With a lag the last `lag` frames need not be through for every frame
    // submitted to go out.
    const int keep_in_work = wait_all
                                 ? static_cast<int>(lag)
                                 : std::max(static_cast<int>(lag), o.places.max_frames_in_work);
    for (const Eigen::Isometry3d& correction : places->Take(keep_in_work)) {
      corrections.push_back(correction);
      ++through;
    }
    // Frame `released` takes the correction of frame released - lag, which
    // is corrections.front() (the first `lag` frames take none).
    while (!correcting.empty() && released < through + lag) {
      Output f = std::move(correcting.front());
      correcting.pop_front();
      if (released >= lag) {
        const Eigen::Isometry3d& correction = corrections.front();
        const Eigen::Isometry3d tracked = f.odometry.T_world_cam;
        if (!correction.isApprox(Eigen::Isometry3d::Identity())) {
          f.odometry.T_world_cam = correction * tracked;
          Reframe(f.motion, tracked, f.odometry.T_world_cam);
        }
        corrections.pop_front();
      }
      ++released;
      done.push_back(std::move(f));
    }
  }

  // The segmentation places its views by the final poses of frames done
  // (the rough pass is only right over a few frames: it follows people who
  // fill the view), but only of frames at least kFinalPoseLag before the
  // last one handed over. Those are done whatever the final pass's thread's
  // timing (at most kMaxWaiting waiting and one in work), so the results
  // do not depend on it.
  static constexpr uint64_t kFinalPoseLag = kMaxWaiting + 1;
  void PassFinalPoses(const std::vector<Output>& done) {
    for (const Output& o : done)
      if (o.odometry.status == RgbdOdometry::Result::Status::kOk)
        final_poses.emplace_back(o.frame.meta.seq, o.odometry.T_world_cam);
    while (!final_poses.empty() && last_handed &&
           final_poses.front().first + kFinalPoseLag <= *last_handed) {
      stream->SetBetterPose(final_poses.front().first, final_poses.front().second);
      final_poses.pop_front();
    }
  }

  std::vector<Output> HandToFinalPass(std::vector<MotionProposalStream::Output>&& segmented,
                                      bool wait_all) {
    std::vector<Output> out;
    if (!final_pass) {
      for (MotionProposalStream::Output& s : segmented) {
        std::optional<pipeline::Image> k = TakeKnown(s.frame.meta.seq);
        out.push_back(Finish({std::move(s), std::move(k)}));
      }
      return out;
    }
    for (MotionProposalStream::Output& s : segmented) {
      std::optional<pipeline::Image> k = TakeKnown(s.frame.meta.seq);
      final_pass->Push({std::move(s), std::move(k)}, kMaxWaiting);
    }
    return final_pass->Take(wait_all ? 0 : std::numeric_limits<size_t>::max());
  }
};

pipeline::Detections MovingObjectDetections(const SceneTracker::Output& frame) {
  pipeline::Detections moving;
  moving.meta = frame.frame.meta;
  moving.meta.source_id = "geometry";
  const bool placed = frame.odometry.usable();
  for (const MotionRegion& region : frame.motion.regions) {
    pipeline::Detection d;
    d.box = region.box;
    d.mask = region.mask;
    d.score = static_cast<float>(region.score);
    d.embedding = ColourSignature(frame.frame.color, region.box, region.mask);
    d.has_position = placed;
    if (placed)
      for (int a = 0; a < 3; ++a)
        d.position_world[a] = static_cast<float>(region.centroid_world[a]),
        d.extent[a] = static_cast<float>(region.extent[a]);
    d.motion = region.stopped ? "stopped" : "moving";
    moving.items.push_back(std::move(d));
  }
  return moving;
}

SceneTracker::SceneTracker(Options options) : impl_(std::make_unique<Impl>(options)) {}
SceneTracker::~SceneTracker() = default;
SceneTracker::SceneTracker(SceneTracker&&) noexcept = default;
const SceneTracker::Options& SceneTracker::options() const { return impl_->o; }

std::vector<SceneTracker::Output> SceneTracker::Push(const pipeline::RgbdFrame& frame,
                                                     const pipeline::Image* known_moving) {
  Impl& s = *impl_;
  if (!s.stream) {
    std::vector<Output> out{s.Plain(frame, known_moving)};
    s.Correct(out, false);
    return out;
  }
  if (known_moving) s.known[frame.meta.seq] = *known_moving;
  const auto entered = Impl::Clock::now();
  const bool paced = s.last_return && entered - *s.last_return > s.last_busy / 4;
  const RgbdOdometry::Result r = s.rough->Track(frame, known_moving);
  const pipeline::CameraPose pose = PoseMessage(r, frame.meta);
  std::vector<Output> out = s.Hand(s.stream->Push(frame, pose), paced);
  s.last_return = Impl::Clock::now();
  s.last_busy = *s.last_return - entered;
  return out;
}

std::vector<SceneTracker::Output> SceneTracker::Flush() {
  std::vector<Output> out;
  Flush([&](Output& o) { out.push_back(std::move(o)); });
  return out;
}

void SceneTracker::Flush(const std::function<void(Output&)>& done) {
  Impl& s = *impl_;
  std::vector<Output> out;
  if (s.stream) {
    // One at a time, with what is done taken as it comes: the same work in
    // the same order as handing them all at once (no result depends on
    // when a frame is taken), but the caller need not wait for the last.
    for (MotionProposalStream::Output& segmented : s.stream->Flush()) {
      std::vector<MotionProposalStream::Output> one;
      one.push_back(std::move(segmented));
      for (Output& o : s.Hand(std::move(one), false)) done(o);
    }
    out = s.Hand({}, true);
  } else {
    s.Correct(out, true);  // frames still waiting for their correction
  }
  for (Output& o : out) done(o);
}

}  // namespace dyn4d::perception
