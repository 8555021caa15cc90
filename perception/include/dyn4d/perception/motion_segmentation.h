#pragma once
/// \file
/// Moving objects segmented from depth and camera poses, with a noise model
/// of real depth sensors. One implementation serves the camera tracker
/// (causal: references are earlier keyframes), the map (what later frames
/// saw through leaves a keyframe before it is fused) and the object
/// proposals (offline: references before and after the frame).
///
/// Evidence per pixel. The pixel's 3D point is projected into reference
/// views of the same scene (camera motion compensated by the poses). A
/// static surface seen from elsewhere is either hidden there (the reference
/// saw something nearer: no information), or seen at the same depth (static
/// support), but the space in front of it is never seen empty: a reference
/// that saw clearly farther along that ray saw through the point, so the
/// point was not there at that time (a free-space violation: it moved).
/// "Clearly" is judged against the sensor, not a fixed margin:
///  - axial noise grows with the square of the distance (DepthNoiseModel);
///  - depth edges are where poses and time are least forgiving: the
///    reference's depth is taken as the nearest within a window as wide as
///    the pose error plus the image motion during the unmodelled capture
///    time (rolling shutter, colour/depth sync), so an edge that a small
///    error shifts never reads as free space;
///  - flying pixels (interpolated between a foreground and a background
///    surface) in the current frame are never evidence.
///
/// Objects, not strips. Violations seed regions that grow over
/// depth-continuous pixels without static support, so a walking person is
/// one region (the parts that overlap where they were before included) and
/// the floor under their feet, which the references saw where it is, stays
/// out. Regions that meet at a small depth step (an arm, a head) join, and so
/// do parts of one tracked object that a band of static support cut apart
/// (the hips of a person slowing down at a desk); a region is
/// kept when its violations cover enough area in square metres and enough
/// of the region (physical sizes, so the thresholds mean the same at 1 m and
/// at 4 m).

#include <Eigen/Geometry>
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::perception {

/// Standard deviation of depth along the ray: sigma(z, rho) = sigma0 +
/// quadratic * (z - offset)^2 + peripheral * z^2 * rho^2, where rho is the
/// pixel's distance from the image centre relative to the corner (0 at the
/// centre, 1 in a corner).
/// - Axial noise, defaults for Kinect v1 / PrimeSense structured light
///   (Nguyen, Izadi and Lovell, 3DIMPVT 2012, surfaces up to 60 degrees from
///   the sensor): 1.2 mm + 1.9 mm/m^2 (z - 0.4)^2, i.e. 1.4 mm at 1 m, 6 mm
///   at 2 m, 2.6 cm at 4 m.
/// - Peripheral error: the same sensors' depth is distorted towards the
///   image border, an error in disparity and so growing with z^2 (Smisek et
///   al., ICCV-W 2011; Herrera et al., PAMI 2012); one wall seen at the
///   centre of one view and in the corner of another differs by several
///   centimetres at 3 m (Bonn crowd: 12 cm median in a corner at 3.2 m).
///   Default 4 mm/m^2 at the corner: 4 cm at 3.2 m.
struct DepthNoiseModel {
  double sigma0_m = 0.0012;
  double quadratic_per_m = 0.0019;
  double offset_m = 0.4;
  double peripheral_per_m = 0.004;
  double Sigma(double z, double rho2 = 0) const {
    const double d = z - offset_m;
    return sigma0_m + quadratic_per_m * d * d + peripheral_per_m * z * z * rho2;
  }
  std::vector<std::string> Validate() const;
};

struct MotionSegmentationConfig {
  DepthNoiseModel noise;
  double min_depth_m = 0.3;  ///< depth outside [min, max] is not used
  double max_depth_m = 6.0;
  /// A violation (and static support) is judged at this many standard
  /// deviations of the difference of two depths.
  double n_sigma = 3.0;
  /// The camera poses come from odometry, whose error between two views
  /// grows with the time between them (measured: 0.6 cm / 0.36 deg between
  /// neighbouring frames, 3-6 cm / 2-2.5 deg 45 frames apart on TUM fr1/rpy
  /// and 7-Scenes). Each reference's pose relative to the current view is
  /// therefore refined first by robust point-to-plane alignment of the two
  /// depth images (moving objects are outliers, and where the previous
  /// frame's objects are expected is left out), when `refine_poses`; a
  /// reference whose alignment fails (too little agreement, or a correction
  /// beyond drift) is not used: it could only report the pose error as motion.
  /// References are aligned from the nearest in time outwards, each also
  /// tried from the correction its nearer neighbour needed: while people
  /// fill the view the error reaches 0.13 m in 40 frames (Bonn crowd), more
  /// than one alignment takes back, but little of it is new between
  /// neighbouring references.
  bool refine_poses = true;
  /// Pose uncertainty left after that: translation along a ray (adds to the
  /// depth noise) and rotation (widens the reference window).
  double pose_sigma_m = 0.01;
  double pose_sigma_deg = 0.3;
  /// Capture time not modelled by one pose per frame (rolling shutter read
  /// out over a frame, colour/depth sync): the reference window also grows
  /// by the image motion of the two views' rotation during this time.
  double time_uncertainty_s = 0.015;
  /// Depth continuity between neighbouring pixels (region growing, flying
  /// pixels): a step larger than n_sigma * sqrt(2) * sigma(z) + this
  /// fraction of the depth separates surfaces.
  double edge_rel = 0.03;
  /// A region is a moving object when its violations cover at least this
  /// area (m^2, 0.01 = a 10 cm square) and this share of the region ...
  double min_evidence_area_m2 = 0.01;
  double min_evidence_fraction = 0.15;
  /// ... and the region this area.
  double min_region_area_m2 = 0.02;
  /// Regions that meet in the image where their depths differ by less than
  /// this (m) are parts of one object (limbs, heads, crossed arms split from
  /// a body by a depth step); parts lying mostly where the same object of
  /// the previous frame lands now join over a surface up to this long.
  double merge_gap_m = 0.3;
  /// An object found moving stays an object while it remains a surface of
  /// its own that no reference saw as static, even without new violations
  /// (a person walking straight away from the camera only ever moves into
  /// space the references saw occluded): its points, carried to the next
  /// frame and grown by how far an object at `max_object_speed_mps` moves
  /// in the image, seed that frame's regions, for at most `persist_frames`
  /// frames without violations of its own.
  double max_object_speed_mps = 2.0;
  int persist_frames = 30;
  /// Only objects with violations of their own in at least this many
  /// frames are carried: one frame's evidence may be noise.
  int min_evidence_frames = 3;
  /// Static support is firm from a reference at least this long before or
  /// after (s): a walking person overlaps where they stood a fraction of a
  /// second earlier, and agreement with such a view says little about being
  /// static, while the room behind them agrees with views taken seconds
  /// apart. A carried object keeps the pixels where it was a frame ago
  /// unless their support is firm.
  double support_min_dt_s = 0.5;
  /// Also test the other way round: reference points the current view sees
  /// through moved away, and a surface just behind them (no farther than
  /// an object at max_object_speed_mps recedes in the time between) is
  /// that object now. Finds objects walking away from the camera, which
  /// the forward test only flags against later references.
  bool backward_test = true;
  std::vector<std::string> Validate() const;
};

/// A depth image at the segmenter's working resolution, with its pose.
struct DepthView {
  int width = 0, height = 0;
  double fx = 0, fy = 0, cx = 0, cy = 0;  ///< of this resolution
  std::vector<float> depth_m;             ///< 0 = invalid
  Eigen::Isometry3d T_world_cam = Eigen::Isometry3d::Identity();
  /// How fast the camera turned when this view was taken (rad/s): widens the
  /// window of the free-space test where this view is a reference.
  double angular_speed_rad_s = 0;
  /// Squared distance of pixel (u, v) from the image centre, relative to
  /// the corner (DepthNoiseModel's rho^2).
  double Rho2(double u, double v) const {
    const double du = u - cx, dv = v - cy;
    const double corner = cx * cx + cy * cy;
    return corner > 0 ? (du * du + dv * dv) / corner : 0;
  }
  int64_t stamp_ns = 0;
  /// Full-resolution pixels per pixel of this view (2 = half resolution).
  int stride = 1;
};

/// Builds a view from a frame's mono16 depth, every `stride`-th pixel
/// (the nearest valid depth of each stride x stride block, so thin
/// foreground survives). Throws std::invalid_argument for a frame without
/// usable depth.
DepthView MakeDepthView(const pipeline::RgbdFrame& frame, const Eigen::Isometry3d& T_world_cam,
                        int stride, const MotionSegmentationConfig& config);

/// A view used as a reference: keeps min-filtered copies of its depth per
/// window radius (made on first use).
class ReferenceView {
 public:
  ReferenceView() = default;
  explicit ReferenceView(DepthView view) : view_(std::move(view)) {}
  const DepthView& view() const { return view_; }
  /// Places the view elsewhere (a better pose found later): its depth,
  /// filtered copies and normals, all in its own camera frame, stay valid.
  void set_pose(const Eigen::Isometry3d& T_world_cam) { view_.T_world_cam = T_world_cam; }
  /// Depth min-filtered over (2r+1)^2 pixels; a window touching an invalid
  /// pixel or reaching beyond the image is invalid (an edge next to a hole,
  /// or next to what this view did not see, is unknown, not free).
  const std::vector<float>& MinFiltered(int radius) const;
  /// Unit surface normals in this view's camera frame (zero where the
  /// neighbourhood has no depth or straddles an edge).
  const std::vector<Eigen::Vector3f>& Normals() const;

 private:
  DepthView view_;
  mutable std::map<int, std::vector<float>> min_filtered_;
  mutable std::vector<Eigen::Vector3f> normals_;
};

/// What the test found at each pixel of the segmented view.
enum class MotionEvidence : uint8_t {
  kInvalid = 0,  ///< no depth (or out of range)
  kUnknown,      ///< no reference saw this point (hidden, out of view)
  kStatic,       ///< a reference saw the same surface there, none saw through it
  kMoving,       ///< a reference saw through the point
  kEdge,         ///< flying pixel at a depth edge: never evidence
};

/// One moving object in the segmented view.
struct MotionRegion {
  pipeline::Box2D box;          ///< full-resolution pixels
  pipeline::Image mask;         ///< mono8 of the box's size, 255 = object
  int pixels = 0;               ///< working-resolution pixels in the region
  double area_m2 = 0;           ///< surface area the region's pixels cover
  double evidence_area_m2 = 0;  ///< area of its free-space violations
  double score = 0;             ///< evidence_area_m2 / area_m2
  std::array<double, 3> centroid_world{0, 0, 0};
  std::array<double, 3> extent{0, 0, 0};  ///< world axis-aligned size (5th-95th percentile)
  double median_depth_m = 0;
  /// 0 when the region's own violations make it an object; n > 0 when it is
  /// carried from an object of the previous frame, the n-th frame in a row
  /// without violations of its own.
  int frames_without_evidence = 0;
  /// Frames in which this object (as carried from frame to frame) had
  /// violations of its own, this one included.
  int evidence_frames = 0;
  /// World velocity (m/s) of the object it continues, from the centroids of
  /// consecutive frames (smoothed, at most max_object_speed_mps); zero for
  /// an object seen for the first time.
  std::array<double, 3> velocity_world{0, 0, 0};
  /// Index of the previous frame's object (the `priors` given to Segment)
  /// this one continues; -1 for one seen for the first time.
  int continues = -1;
  /// Frames in which it was not where it had been support_min_dt_s before.
  int displaced_frames = 0;
  /// It moved: displaced for at least as many frames as support_min_dt_s
  /// spans, in this frame or before.
  bool has_moved = false;
  /// Moved before and static now: where it was support_min_dt_s ago, and
  /// without violations of its own in this frame.
  bool stopped = false;
};

/// An object of one frame, carried into the next (MotionSegmenter::Carry).
struct MovingObjectPrior {
  std::vector<Eigen::Vector3f> world_points;  ///< a subsample of its surface
  Eigen::Vector3d centroid_world = Eigen::Vector3d::Zero();
  /// Where it is predicted next: points moved at this velocity (m/s).
  Eigen::Vector3d velocity_world = Eigen::Vector3d::Zero();
  double median_depth_m = 0;
  int frames_without_evidence = 0;
  int evidence_frames = 0;
  int64_t stamp_ns = 0;
  /// Its surface in earlier frames (world points), oldest first, back to
  /// the last one at least support_min_dt_s before this frame: whether it
  /// stands where it stood then.
  struct Snapshot {
    int64_t stamp_ns = 0;
    std::vector<Eigen::Vector3f> world_points;
  };
  std::vector<std::shared_ptr<const Snapshot>> history;
  bool has_moved = false;    ///< MotionRegion::has_moved
  int displaced_frames = 0;  ///< MotionRegion::displaced_frames
};

struct MotionSegmentation {
  int width = 0, height = 0;             ///< working resolution
  std::vector<MotionEvidence> evidence;  ///< per working pixel
  std::vector<int> label;                ///< per working pixel: index into regions, -1 none
  std::vector<MotionRegion> regions;
  int tested = 0;      ///< pixels with depth tested against a reference
  int violations = 0;  ///< of them found moving (after the 3x3 vote)
  int references = 0;  ///< references used
  int refined = 0;     ///< references whose relative pose the alignment corrected
  int unaligned = 0;   ///< references left out: their pose could not be verified
  /// Working-resolution mask of the regions (1 = moving object).
  std::vector<uint8_t> Mask() const;
};

class MotionSegmenter {
 public:
  explicit MotionSegmenter(MotionSegmentationConfig config = {});
  const MotionSegmentationConfig& config() const { return config_; }

  /// Segments `current` against `references` (views at the current view's
  /// stamp are skipped). `full_width/height` size the masks of the regions
  /// (the frame's resolution). `priors`: the previous frame's objects
  /// (Carry), seeds of regions that persist without new violations.
  MotionSegmentation Segment(const DepthView& current,
                             const std::vector<const ReferenceView*>& references, int full_width,
                             int full_height,
                             const std::vector<MovingObjectPrior>& priors = {}) const;

  /// The objects of `segmentation` (of `current`), to seed the next frame;
  /// `priors` are those it was segmented with (each object's history
  /// goes on).
  std::vector<MovingObjectPrior> Carry(const MotionSegmentation& segmentation,
                                       const DepthView& current,
                                       const std::vector<MovingObjectPrior>& priors = {}) const;

  /// Working-resolution pixels of `view` where `priors` are expected now:
  /// their points re-projected, grown by how far such an object can move
  /// in the image since. 1 = expected.
  std::vector<uint8_t> PredictMask(const std::vector<MovingObjectPrior>& priors,
                                   const DepthView& view) const;

  /// Window radius (pixels of `ref`) of the free-space test between two views.
  int WindowRadius(const DepthView& current, const DepthView& ref) const;

  /// T_ref_cur refined by robust point-to-plane alignment of `current`'s
  /// depth onto `ref`'s, starting from the views' poses. Returns the
  /// starting value when the alignment is not trustworthy (too few
  /// agreeing points, or a correction beyond what odometry drift explains).
  /// `exclude` (optional, per pixel of `current`): pixels left out, such as
  /// where moving objects are expected. `other_start` (optional): a second
  /// starting T_ref_cur; the alignment starts from whichever of the two more
  /// samples agree at, and the drift bound holds from there.
  Eigen::Isometry3d AlignToReference(const DepthView& current, const ReferenceView& ref,
                                     bool* refined = nullptr,
                                     const std::vector<uint8_t>* exclude = nullptr,
                                     const Eigen::Isometry3d* other_start = nullptr) const;

 private:
  MotionSegmentationConfig config_;
};

/// The rotation rate between two poses `dt_s` apart, rad/s (0 for dt <= 0).
double AngularSpeed(const Eigen::Isometry3d& a, const Eigen::Isometry3d& b, double dt_s);

}  // namespace dyn4d::perception
