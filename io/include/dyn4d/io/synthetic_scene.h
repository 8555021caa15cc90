#pragma once
/// \file
/// A deterministic synthetic RGB-D scene with exact ground truth: a camera
/// moving in a textured room while objects of named categories move on known
/// piecewise-linear trajectories. Rendered by ray casting (exact depth), with
/// a Kinect-like depth noise model. It is dyn4d's embedded default input, so
/// the demo and many tests need no file from outside the repository.
///
/// Frames: world is z-up, metres; the room spans x in [-4, 4], y in [-3, 3],
/// z in [0, 2.8]. Camera frame is x right, y down, z forward (OpenCV).

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::io {

class SyntheticScene {
 public:
  /// The first six objects play scripted roles (walks across, approaches,
  /// stops and goes, leaves the view, occludes, wanders); the rest wander.
  static constexpr int kMaxObjects = 50;

  struct Config {
    int width = 640;                ///< pixels
    int height = 480;               ///< pixels
    double fx = 525.0, fy = 525.0;  ///< focal lengths, pixels (Kinect-like)
    int num_frames = 90;            ///< length of the sequence
    double fps = 30.0;              ///< frame rate; stamps are index / fps
    uint32_t seed = 1;              ///< changes object paths, textures and noise
    int num_objects = 3;            ///< 0..kMaxObjects moving objects
    bool depth_noise = true;        ///< depth-dependent noise and missing depth at edges
    double depth_scale = 5000.0;    ///< depth units per metre (TUM convention)

    /// The Kinect-like focal length (525 px at 640 wide) for this width:
    /// the same 62-degree field of view at any image size.
    double FocalForWidth() const { return 525.0 * width / 640.0; }

    /// Empty when valid, else one line per problem.
    std::vector<std::string> Validate() const;
  };

  /// One moving object's ground truth at one frame.
  struct ObjectState {
    int id = 0;  ///< 1-based instance id (mask value)
    std::string category;
    /// walks_across, approaches, stop_and_go, leaves_view, occluder, wanders
    std::string role;
    std::array<double, 3> center{};    ///< world, metres
    std::array<double, 3> velocity{};  ///< world, metres per second
    std::array<double, 3> size{};      ///< extent along world x, y, z
    int visible_pixels = 0;            ///< pixels where it is the nearest surface
    int silhouette_pixels = 0;         ///< pixels it covers, hidden or not
    int occluded_by = 0;               ///< id of the object hiding most of it, 0 none
  };

  struct Rendered {
    pipeline::RgbdFrame frame;
    pipeline::CameraPose pose;         ///< ground truth T_world_cam
    pipeline::Tracks tracks;           ///< ground truth, visible objects only
    pipeline::Image instances;         ///< mono8, 0 = static scene, k = object id k
    std::vector<ObjectState> objects;  ///< all objects, visible or not
  };

  explicit SyntheticScene(Config config);
  /// Object categories the scenes draw from; a track's class_id indexes it.
  static std::vector<std::string> Categories();
  const Config& config() const { return config_; }
  pipeline::CameraIntrinsics intrinsics() const;

  /// Renders frame `index` (0-based). Deterministic: same config and index
  /// give the same bytes.
  Rendered Render(int index) const;

 private:
  struct Waypoint {
    double t;
    std::array<double, 3> p;
  };
  struct Object {
    int id;
    std::string category;
    std::string role;
    bool sphere;
    std::array<double, 3> size;
    std::array<uint8_t, 3> color;
    std::vector<Waypoint> path;
  };
  ObjectState StateAt(const Object& o, double t) const;
  void CameraAt(double t, std::array<double, 3>& position,
                std::array<double, 9>& R_world_cam) const;

  Config config_;
  std::vector<Object> objects_;
};

}  // namespace dyn4d::io
