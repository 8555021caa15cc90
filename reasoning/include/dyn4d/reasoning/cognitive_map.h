#pragma once
/// \file
/// The spatio-temporal textual cognitive map (ST-TCM, after Dyn-Bench's
/// "Thinking in Dynamics"): what every object did, where, relative to what
/// and to the camera, built from tracks and camera poses as the stream goes.
///
/// Map frame: origin at the first camera position, z up (gravity), y the
/// first camera's viewing direction laid flat, x to its right; metres and
/// seconds from the first frame. Input positions may be in any world frame
/// whose up direction is given (`MapConfig::up`; the default is the first
/// camera's -y, as for dyn4d's odometry world).
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::reasoning {

using Vec3 = std::array<double, 3>;

/// One tracked object seen in one frame.
struct ObjectObservation {
  int64_t id = -1;
  std::string category;
  double confidence = 1;
  Vec3 position{0, 0, 0};                ///< world, metres (input world frame)
  Vec3 extent{0, 0, 0};                  ///< world axis-aligned size, metres
  std::array<float, 4> box{0, 0, 0, 0};  ///< image x, y, w, h (pixels), 0s if unknown
  int64_t occluded_by = -1;              ///< when known (ground truth): the object hiding it
  /// False for a 2D track (colour-only video): `position`/`extent` are
  /// unknown and the object goes into the map's image-plane part (box only).
  bool has_position = true;
};

/// What colour-only video supports: relations as seen in the image (no
/// depth, no metres). Speeds are in box heights per second, which does not
/// depend on the image size or on how far the object is.
struct ImagePlaneObject {
  int64_t id = -1;
  std::string category;
  std::vector<std::pair<double, double>> visible;  ///< intervals seen
  bool enters_view = false, leaves_view = false;
  struct Segment {
    double t0 = 0, t1 = 0;
    bool moving = false;
    std::string direction;  ///< moving: "left", "right", "up", "down" (in the image)
    double speed_hps = 0;   ///< box heights per second
  };
  std::vector<Segment> segments;
  /// Box height at the end of its visibility over that at the start:
  /// "grows" (> 1.25, approaching), "shrinks" (< 0.8, receding) or "steady".
  std::string size_trend;
  double size_ratio = 1;
  struct Sample {
    double t;
    std::array<float, 4> box;  ///< x, y, w, h, pixels
  };
  std::vector<Sample> samples;
};

struct ImagePlaneRelation {
  double t = 0;
  int64_t a = -1, b = -1;  ///< a < b
  std::string horizontal;  ///< a is "left of" / "right of" / "level with" b
  std::string vertical;    ///< a is "above" / "below" / "level with" b
  bool overlap = false;    ///< their boxes overlap
};

/// Whether two image boxes (x, y, w, h) overlap.
inline bool BoxesOverlap(const std::array<float, 4>& a, const std::array<float, 4>& b) {
  return a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3];
}

struct ImagePlaneMap {
  std::vector<ImagePlaneObject> objects;      ///< by id
  std::vector<ImagePlaneRelation> relations;  ///< about once a second, per pair seen together
  const ImagePlaneObject* Find(int64_t id) const;
};

/// The camera at one frame: T_world_cam (OpenCV camera: x right, y down, z forward).
struct CameraSample {
  Vec3 position{0, 0, 0};
  std::array<double, 4> q_xyzw{0, 0, 0, 1};
  static CameraSample Of(const pipeline::CameraPose& pose) {
    return {pose.t_world_cam, pose.q_world_cam};
  }
};

struct MapConfig {
  Vec3 up{0, -1, 0};                ///< gravity "up" in the input world frame
  double moving_speed_mps = 0.3;    ///< speeds above this count as moving
  double min_segment_s = 0.25;      ///< shorter motion segments join their neighbours
  double turn_deg = 50;             ///< heading change within a moving segment: a turn
  double trend_rate_mps = 0.15;     ///< |d distance / dt| above this: approaching / receding
  double contact_m = 0.1;           ///< box gap below this: contact
  double gone_after_s = 0.3;        ///< unseen this long: out of view (or occluded)
  double camera_moving_mps = 0.08;  ///< camera translation speed for "moves"
  double camera_turning_dps = 6;    ///< camera rotation speed for "pans"/"tilts"
  double position_step_m = 0.1;     ///< text: positions rounded to this
  int token_budget = 1500;          ///< text: at most about this many tokens (~4 chars each)
  /// The map covers the last `history_s` seconds of the stream: older frames
  /// are forgotten, so a live run's memory (about 1 KB a frame) and the
  /// cost of building the map stop growing. 30 minutes by default; 0 keeps
  /// the whole stream. Times still count from the stream's first frame.
  double history_s = 1800;
  std::vector<std::string> Validate() const;
};

struct MotionSegment {
  double t0 = 0, t1 = 0;
  bool moving = false;
  Vec3 from{0, 0, 0}, to{0, 0, 0};  ///< map frame
  double speed_mps = 0;             ///< mean over the segment
  std::string heading;              ///< moving: "+x", "-y"... dominant map direction; else ""
  std::string camera_relative;      ///< moving: "left", "right", "toward the camera", "away" ...
};

struct ObjectSummary {
  int64_t id = -1;
  std::string category;
  double confidence = 0;
  Vec3 size{0, 0, 0};  ///< median extent, metres
  struct Sample {
    double t;
    Vec3 position;   ///< map frame
    Vec3 velocity;   ///< map frame, m/s (smoothed)
    Vec3 in_camera;  ///< camera frame of that time (x right, y down, z forward)
  };
  std::vector<Sample> samples;  ///< one per frame seen
  std::vector<MotionSegment> segments;
  std::vector<std::pair<double, double>> visible;  ///< intervals seen
  std::vector<std::pair<double, double>>
      occluded;              ///< intervals hidden by another object (when known)
  bool leaves_view = false;  ///< last seen before the end of the stream
  bool enters_view = false;  ///< first seen after the start
};

struct PairSummary {
  int64_t a = -1, b = -1;
  struct Sample {
    double t, distance_m;
  };
  std::vector<Sample> distance;  ///< whenever both are seen
  struct Trend {
    double t0, t1;
    std::string trend;  ///< "approaching", "receding", "steady"
    double from_m, to_m;
  };
  std::vector<Trend> trends;
  std::vector<double> overtakes;  ///< times a overtakes b (same direction, a passes b)
  std::vector<std::pair<double, double>> a_hides_b, b_hides_a;
  std::vector<double> contacts;  ///< times their boxes come within contact_m
  /// Where a is relative to b, about once a second while both are seen: in
  /// the camera's view ("left"/"right" by bearing, "nearer"/"farther"/"same
  /// depth" by depth, 0.1 m margin) and in the map frame ("right"/"left"/"ahead"/"behind" of b as
  /// seen from the first view, by the larger horizontal offset).
  struct Relation {
    double t;
    std::string view, depth, world;
  };
  std::vector<Relation> relations;
};

struct CameraSummary {
  std::vector<std::pair<double, Vec3>> path;    ///< map frame
  std::vector<std::array<double, 9>> rotation;  ///< per path entry: R_map_cam, row-major
  struct Segment {
    double t0, t1;
    std::string motion;  ///< "static", "moves forward", "pans left", ... (joined with " and ")
  };
  std::vector<Segment> segments;
  double path_length_m = 0;
};

struct Event {
  double t = 0;
  std::string type;  ///< appears, disappears, starts_moving, stops, turns, occluded, reappears,
                     ///< contact, overtakes
  int64_t a = -1, b = -1;
  std::string text;
};

struct CognitiveMap {
  double t_begin = 0, t_end = 0;
  std::vector<ObjectSummary> objects;  ///< by id
  std::vector<PairSummary> pairs;      ///< a < b
  CameraSummary camera;
  std::vector<Event> events;  ///< in time order (image-plane objects' included)
  /// Objects tracked in 2D only (colour-only video).
  ImagePlaneMap image_plane;
  const ObjectSummary* Find(int64_t id) const;
  const PairSummary* FindPair(int64_t a, int64_t b) const;
};

/// Accumulates frames, builds the map on request (cheap enough to do per
/// frame for minutes of video: everything is linear in the samples).
class CognitiveMapBuilder {
 public:
  explicit CognitiveMapBuilder(MapConfig config = {});
  /// One frame at time t_s (seconds, any origin; frames in time order).
  /// `camera` may be null (unknown: camera-relative terms then use the
  /// first known pose, or identity).
  void AddFrame(double t_s, const CameraSample* camera,
                const std::vector<ObjectObservation>& objects);
  CognitiveMap Build() const;
  /// The map of the frames in [t_begin_s, t_end_s] only (stream time, the
  /// AddFrame clock); times in it still count from the first frame.
  CognitiveMap Build(double t_begin_s, double t_end_s) const;
  size_t frames() const { return frames_.size(); }
  /// The stream's first frame (also after it was forgotten): the map's
  /// time origin.
  double first_time() const { return frames_.empty() ? 0 : origin_; }
  /// Seconds between the oldest frame held and the newest.
  double history_span_s() const {
    return frames_.empty() ? 0 : frames_.back().t - frames_.front().t;
  }
  /// Frames forgotten so far (older than `history_s`).
  size_t forgotten_frames() const { return forgotten_; }
  /// Frames ever added (held + forgotten): changes with every new frame.
  size_t frames_added() const { return frames_.size() + forgotten_; }
  /// The oldest frame held.
  double oldest_time() const { return frames_.empty() ? 0 : frames_.front().t; }
  const MapConfig& config() const { return config_; }

 private:
  struct Frame {
    double t;
    bool has_camera;
    CameraSample camera;
    std::vector<ObjectObservation> objects;
  };
  CognitiveMap BuildFrom(const std::vector<Frame>& frames, double t_origin) const;
  ImagePlaneMap BuildImagePlane(const std::vector<Frame>& frames, double t_origin,
                                double t_end) const;
  MapConfig config_;
  std::vector<Frame> frames_;
  double origin_ = 0;                         // the first frame's time
  std::optional<CameraSample> first_camera_;  // the first pose: the map frame
  size_t forgotten_ = 0;
};

/// JSON form (schema: docs/COGNITIVE_MAP.md). Deterministic.
std::string ToJson(const CognitiveMap& map);
/// Compact text for an LLM prompt, within about `token_budget` tokens:
/// positions rounded, segments summarised, the objects with the most events
/// first; what does not fit is cut from the least relevant end with a note.
/// Deterministic.
std::string ToText(const CognitiveMap& map, const MapConfig& config);
/// Rough token count of a text (4 characters per token, as LLM tokenisers
/// average on English and numbers).
int EstimateTokens(const std::string& text);

}  // namespace dyn4d::reasoning
