#include "dyn4d/io/synthetic_scene.h"

#include <Eigen/Geometry>
#include <algorithm>
#include <cmath>
#include <limits>

namespace dyn4d::io {
namespace {

using pipeline::Image;
using pipeline::PixelEncoding;

// Room bounds (world, metres).
constexpr double kRoomMin[3] = {-4.0, -3.0, 0.0};
constexpr double kRoomMax[3] = {4.0, 3.0, 2.8};

// Categories the generator knows, with their sizes (x, y, z metres), shape
// and base colour (b, g, r). Index = class id.
struct CategorySpec {
  const char* name;
  double size[3];
  bool sphere;
  uint8_t bgr[3];
};
constexpr CategorySpec kCategories[] = {
    {"person", {0.45, 0.35, 1.75}, false, {60, 70, 200}},
    {"chair", {0.50, 0.50, 0.90}, false, {40, 120, 160}},
    {"ball", {0.36, 0.36, 0.36}, true, {30, 200, 230}},
    {"box", {0.45, 0.45, 0.45}, false, {160, 110, 60}},
    {"dog", {0.80, 0.30, 0.55}, false, {90, 90, 90}},
    {"robot", {0.55, 0.55, 0.70}, false, {200, 160, 80}},
};
constexpr int kNumCategories = sizeof(kCategories) / sizeof(kCategories[0]);

// splitmix64: a fast, well-mixed hash; the basis of every pseudo-random
// number here, so results are identical on every platform and thread order.
inline uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
inline double Uniform01(uint64_t h) { return (Mix(h) >> 11) * (1.0 / 9007199254740992.0); }

// Deterministic sequence of uniforms from a seed.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(Mix(seed)) {}
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform01(state_++); }

 private:
  uint64_t state_;
};

// Texture value in [0.55, 1.15] from 5 cm cells of the surface point, so
// every surface has trackable detail.
inline double CellTexture(double a, double b, uint64_t salt) {
  const int64_t ia = static_cast<int64_t>(std::floor(a * 20.0));
  const int64_t ib = static_cast<int64_t>(std::floor(b * 20.0));
  const uint64_t h = Mix(salt ^ (static_cast<uint64_t>(ia) * 0x100000001b3ULL) ^
                         (static_cast<uint64_t>(ib) << 32));
  return 0.55 + 0.6 * ((h >> 40) & 0xffff) / 65535.0;
}

inline uint8_t Clamp8(double v) { return static_cast<uint8_t>(std::clamp(v, 0.0, 255.0)); }

}  // namespace

std::vector<std::string> SyntheticScene::Config::Validate() const {
  std::vector<std::string> p;
  if (width < 16 || width > 4096) p.push_back("width: must be in [16, 4096]");
  if (height < 16 || height > 4096) p.push_back("height: must be in [16, 4096]");
  if (!(fx > 0) || !(fy > 0)) p.push_back("fx, fy: must be positive");
  if (num_frames < 1) p.push_back("num_frames: must be >= 1");
  if (!(fps > 0)) p.push_back("fps: must be positive");
  if (num_objects < 0 || num_objects > kMaxObjects)
    p.push_back("num_objects: must be in [0, " + std::to_string(kMaxObjects) + "]");
  if (!(depth_scale > 0)) p.push_back("depth_scale: must be positive");
  return p;
}

std::vector<std::string> SyntheticScene::Categories() {
  std::vector<std::string> names;
  for (const CategorySpec& c : kCategories) names.push_back(c.name);
  return names;
}

SyntheticScene::SyntheticScene(Config config) : config_(std::move(config)) {
  Rng rng(config_.seed);
  const double duration = config_.num_frames / config_.fps;
  // Scenarios are laid out around the camera's first view: where it stands,
  // which way it looks (horizontally) and its right.
  std::array<double, 3> cam;
  std::array<double, 9> R;
  CameraAt(0, cam, R);
  const Eigen::Vector2d c0(cam[0], cam[1]);
  const Eigen::Vector2d fwd = Eigen::Vector2d(R[2], R[5]).normalized();
  const Eigen::Vector2d right(R[0], R[3]);
  auto at = [&](double ahead, double side) {
    Eigen::Vector2d p = c0 + ahead * fwd + side * right.normalized();
    return Eigen::Vector2d(std::clamp(p.x(), -3.5, 3.5), std::clamp(p.y(), -2.5, 2.5));
  };
  static const char* kRoles[] = {"walks_across", "approaches", "stop_and_go",
                                 "leaves_view",  "occluder",   "wanders"};
  for (int k = 0; k < config_.num_objects; ++k) {
    // Categories rotate with the seed so different seeds show different mixes.
    const CategorySpec& c = kCategories[(k + config_.seed) % kNumCategories];
    Object o;
    o.id = k + 1;
    o.category = c.name;
    // Beyond the six scripted roles, objects wander between random places
    // (a crowd, for measuring how cost grows with the number of objects).
    o.role = kRoles[std::min(k, 5)];
    o.sphere = c.sphere;
    o.size = {c.size[0], c.size[1], c.size[2]};
    o.color = {c.bgr[0], c.bgr[1], c.bgr[2]};
    const double z = c.size[2] / 2;
    const double jitter = rng.Uniform(-0.3, 0.3);
    auto wp = [&](double t, const Eigen::Vector2d& p) { return Waypoint{t, {p.x(), p.y(), z}}; };
    // Speeds of a walking person at most: 1.3 m/s.
    auto arrive = [&](double t0, const Eigen::Vector2d& a, const Eigen::Vector2d& b, double speed) {
      return std::min(duration, t0 + (b - a).norm() / speed);
    };
    if (o.role == "walks_across") {
      const Eigen::Vector2d a = at(3.2 + jitter, -1.8), b = at(3.2 + jitter, 1.8);
      o.path = {wp(0, a), wp(0.1 * duration, a), wp(arrive(0.1 * duration, a, b, 1.2), b),
                wp(duration + 1, b)};
    } else if (o.role == "approaches") {
      const Eigen::Vector2d a = at(4.6, 0.4 + jitter), b = at(1.4, 0.2);
      o.path = {wp(0, a), wp(0.15 * duration, a), wp(arrive(0.15 * duration, a, b, 0.9), b),
                wp(duration + 1, b)};
    } else if (o.role == "stop_and_go") {
      const Eigen::Vector2d a = at(2.6, -1.2 + jitter), b = at(2.8, 0.0), d = at(3.4, 1.3);
      const double t1 = arrive(0, a, b, 0.8), t2 = std::min(duration, t1 + 0.25 * duration);
      o.path = {wp(0, a), wp(t1, b), wp(t2, b), wp(arrive(t2, b, d, 0.8), d), wp(duration + 1, d)};
    } else if (o.role == "leaves_view") {
      const Eigen::Vector2d a = at(2.4, 0.6 + jitter), b = at(0.6, 2.6);
      o.path = {wp(0, a), wp(0.2 * duration, a), wp(arrive(0.2 * duration, a, b, 1.0), b),
                wp(duration + 1, b)};
    } else if (o.role == "occluder") {
      const Eigen::Vector2d a = at(1.9, 1.6), b = at(1.9, -1.6);
      const double t0 = 0.3 * duration;
      o.path = {wp(0, a), wp(t0, a), wp(arrive(t0, a, b, 1.1), b), wp(duration + 1, b)};
    } else {
      const Eigen::Vector2d a(rng.Uniform(-2.8, 2.8), rng.Uniform(-2.0, 2.0)),
          b(rng.Uniform(-2.8, 2.8), rng.Uniform(-2.0, 2.0));
      o.path = {wp(0, a), wp(arrive(0, a, b, 0.6), b), wp(duration + 1, b)};
    }
    // Waypoint times must not decrease (arrive() clamps to the duration).
    for (size_t i = 1; i < o.path.size(); ++i) o.path[i].t = std::max(o.path[i].t, o.path[i - 1].t);
    objects_.push_back(std::move(o));
  }
}

pipeline::CameraIntrinsics SyntheticScene::intrinsics() const {
  pipeline::CameraIntrinsics k;
  k.fx = config_.fx;
  k.fy = config_.fy;
  k.cx = (config_.width - 1) / 2.0;
  k.cy = (config_.height - 1) / 2.0;
  k.width = config_.width;
  k.height = config_.height;
  return k;
}

SyntheticScene::ObjectState SyntheticScene::StateAt(const Object& o, double t) const {
  ObjectState s;
  s.id = o.id;
  s.category = o.category;
  s.role = o.role;
  s.size = o.size;
  const auto& path = o.path;
  size_t i = 0;
  while (i + 2 < path.size() && t >= path[i + 1].t) ++i;
  const Waypoint& w0 = path[i];
  const Waypoint& w1 = path[i + 1];
  const double span = std::max(1e-9, w1.t - w0.t);
  const double u = std::clamp((t - w0.t) / span, 0.0, 1.0);
  for (int k = 0; k < 3; ++k) {
    s.center[k] = w0.p[k] + u * (w1.p[k] - w0.p[k]);
    s.velocity[k] = (t >= w0.t && t < w1.t) ? (w1.p[k] - w0.p[k]) / span : 0.0;
  }
  return s;
}

void SyntheticScene::CameraAt(double t, std::array<double, 3>& position,
                              std::array<double, 9>& R) const {
  // A slow sweep along an ellipse, looking at a point that drifts around the
  // room centre, with a gentle bob: rotation and translation both present.
  const double phase = Uniform01(config_.seed * 7919ULL) * 2 * M_PI;
  const double theta = phase + 0.12 * t;
  const Eigen::Vector3d p(2.6 * std::cos(theta), 1.7 * std::sin(theta),
                          1.45 + 0.08 * std::sin(1.3 * t));
  const Eigen::Vector3d target(0.4 * std::sin(0.5 * t), 0.3 * std::cos(0.4 * t), 0.8);
  const Eigen::Vector3d f = (target - p).normalized();
  const Eigen::Vector3d right = f.cross(Eigen::Vector3d::UnitZ()).normalized();
  const Eigen::Vector3d down = f.cross(right);
  position = {p.x(), p.y(), p.z()};
  // Row-major R_world_cam, columns = camera axes in world.
  R = {right.x(), down.x(), f.x(), right.y(), down.y(), f.y(), right.z(), down.z(), f.z()};
}

SyntheticScene::Rendered SyntheticScene::Render(int index) const {
  const Config& c = config_;
  const double t = index / c.fps;
  const pipeline::CameraIntrinsics K = intrinsics();
  std::array<double, 3> cam;
  std::array<double, 9> R;
  CameraAt(t, cam, R);

  Rendered out;
  for (const Object& o : objects_) out.objects.push_back(StateAt(o, t));

  // Axis-aligned bounds of every object now (spheres use their radius).
  struct Prim {
    double lo[3], hi[3], center[3], radius;
    bool sphere;
    uint8_t id;
    const uint8_t* bgr;
  };
  std::vector<Prim> prims;
  for (size_t k = 0; k < objects_.size(); ++k) {
    const ObjectState& s = out.objects[k];
    Prim p;
    for (int a = 0; a < 3; ++a) {
      p.lo[a] = s.center[a] - s.size[a] / 2;
      p.hi[a] = s.center[a] + s.size[a] / 2;
      p.center[a] = s.center[a];
    }
    p.radius = s.size[0] / 2;
    p.sphere = objects_[k].sphere;
    p.id = static_cast<uint8_t>(objects_[k].id);
    p.bgr = objects_[k].color.data();
    prims.push_back(p);
  }

  Image color = Image::Allocate(c.width, c.height, PixelEncoding::kBgr8);
  Image instances = Image::Allocate(c.width, c.height, PixelEncoding::kMono8);
  std::vector<float> depth_m(static_cast<size_t>(c.width) * c.height, 0.f);
  std::vector<int> silhouette(prims.size(), 0);
  std::vector<std::vector<int>> hidden_by(prims.size(), std::vector<int>(prims.size(), 0));
  uint8_t* bgr = color.data.mutable_data();
  uint8_t* inst = instances.data.mutable_data();
  const double light[3] = {0.35, 0.25, 0.9};  // unnormalised, from above
  const double light_norm = std::sqrt(0.35 * 0.35 + 0.25 * 0.25 + 0.81);
  const uint64_t frame_salt = Mix(c.seed * 1000003ULL + static_cast<uint64_t>(index));

  for (int v = 0; v < c.height; ++v) {
    const double yc = (v - K.cy) / K.fy;
    for (int u = 0; u < c.width; ++u) {
      const double xc = (u - K.cx) / K.fx;
      // Ray direction in world for camera direction (xc, yc, 1): the ray
      // parameter t is then exactly the camera-frame depth z.
      const double d[3] = {R[0] * xc + R[1] * yc + R[2], R[3] * xc + R[4] * yc + R[5],
                           R[6] * xc + R[7] * yc + R[8]};
      // Room: the face where the ray leaves the box.
      double t_hit = std::numeric_limits<double>::infinity();
      int face = -1;
      for (int a = 0; a < 3; ++a) {
        if (d[a] == 0) continue;
        const double bound = d[a] > 0 ? kRoomMax[a] : kRoomMin[a];
        const double ta = (bound - cam[a]) / d[a];
        if (ta > 0 && ta < t_hit) {
          t_hit = ta;
          face = a * 2 + (d[a] > 0 ? 1 : 0);
        }
      }
      int hit_prim = -1;
      double normal[3] = {0, 0, 0};
      uint32_t covered = 0;  // bit k: the ray passes through object k
      for (size_t k = 0; k < prims.size(); ++k) {
        const Prim& p = prims[k];
        if (p.sphere) {
          const double oc[3] = {cam[0] - p.center[0], cam[1] - p.center[1], cam[2] - p.center[2]};
          const double A = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
          const double B = oc[0] * d[0] + oc[1] * d[1] + oc[2] * d[2];
          const double C = oc[0] * oc[0] + oc[1] * oc[1] + oc[2] * oc[2] - p.radius * p.radius;
          const double disc = B * B - A * C;
          if (disc < 0) continue;
          const double ts = (-B - std::sqrt(disc)) / A;
          if (ts > 0) covered |= 1u << k;
          if (ts > 0 && ts < t_hit) {
            t_hit = ts;
            hit_prim = static_cast<int>(k);
            for (int a = 0; a < 3; ++a) normal[a] = (cam[a] + ts * d[a] - p.center[a]) / p.radius;
          }
        } else {
          double t0 = 0, t1 = 1e30;  // full slab test: coverage counts hidden hits too
          int axis = -1;
          bool miss = false;
          for (int a = 0; a < 3 && !miss; ++a) {
            if (d[a] == 0) {
              miss = cam[a] < p.lo[a] || cam[a] > p.hi[a];
              continue;
            }
            double ta = (p.lo[a] - cam[a]) / d[a], tb = (p.hi[a] - cam[a]) / d[a];
            if (ta > tb) std::swap(ta, tb);
            if (ta > t0) {
              t0 = ta;
              axis = a;
            }
            t1 = std::min(t1, tb);
            miss = t0 > t1;
          }
          if (!miss && axis >= 0) covered |= 1u << k;
          if (!miss && axis >= 0 && t0 < t_hit) {
            t_hit = t0;
            hit_prim = static_cast<int>(k);
            normal[0] = normal[1] = normal[2] = 0;
            normal[axis] = d[axis] > 0 ? -1 : 1;
          }
        }
      }
      const size_t idx = static_cast<size_t>(v) * c.width + u;
      for (size_t k = 0; covered && k < prims.size(); ++k) {
        if (!(covered >> k & 1)) continue;
        ++silhouette[k];
        if (hit_prim >= 0 && static_cast<size_t>(hit_prim) != k) ++hidden_by[k][hit_prim];
      }
      const double hp[3] = {cam[0] + t_hit * d[0], cam[1] + t_hit * d[1], cam[2] + t_hit * d[2]};
      double base[3], tex;
      if (hit_prim >= 0) {
        const Prim& p = prims[hit_prim];
        inst[idx] = p.id;
        for (int a = 0; a < 3; ++a) base[a] = p.bgr[a];
        // Texture in object coordinates so it moves with the object.
        const double ox = hp[0] - p.center[0], oy = hp[1] - p.center[1], oz = hp[2] - p.center[2];
        tex = CellTexture(std::abs(normal[0]) > 0.5 ? oy : ox, std::abs(normal[2]) > 0.5 ? oy : oz,
                          0x51ed270b + p.id);
      } else {
        const int axis = face / 2;
        for (int a = 0; a < 3; ++a) normal[a] = 0;
        normal[axis] = (face % 2) ? -1 : 1;  // facing into the room
        static const double kFaceColor[6][3] = {{180, 170, 150}, {150, 180, 170}, {170, 150, 180},
                                                {160, 170, 190}, {110, 130, 150}, {225, 225, 225}};
        for (int a = 0; a < 3; ++a) base[a] = kFaceColor[face][a];
        const double s = axis == 0 ? hp[1] : hp[0];
        const double r = axis == 2 ? hp[1] : hp[2];
        tex = CellTexture(s, r, 0x9e37 + face);
        // Larger features: floor tiles, wall panels.
        if (axis == 2 && face == 4)
          tex *= ((int(std::floor(hp[0] * 2)) + int(std::floor(hp[1] * 2))) & 1) ? 0.8 : 1.0;
        if (axis != 2) tex *= (int(std::floor(s * 1.5)) & 1) ? 0.85 : 1.0;
      }
      const double lambert =
          std::abs(normal[0] * light[0] + normal[1] * light[1] + normal[2] * light[2]) / light_norm;
      const double shade = (0.45 + 0.55 * lambert) * tex;
      const double grain =
          c.depth_noise ? (Uniform01(frame_salt ^ (idx * 0x2545F4914F6CDD1DULL)) - 0.5) * 6.0 : 0.0;
      for (int a = 0; a < 3; ++a) bgr[idx * 3 + a] = Clamp8(base[a] * shade + grain);
      depth_m[idx] = static_cast<float>(t_hit);
    }
  }

  // Depth: quantised to sensor units, with the noise of a structured-light
  // sensor: sigma(z) = 1.2 mm + 1.9 mm * (z - 0.4)^2 (Nguyen et al., 2012),
  // no return below 0.3 m or beyond 7.5 m, and dropouts at depth edges.
  Image depth = Image::Allocate(c.width, c.height, PixelEncoding::kMono16);
  auto* d16 = depth.data.mutable_as<uint16_t>();
  for (int v = 0; v < c.height; ++v) {
    for (int u = 0; u < c.width; ++u) {
      const size_t idx = static_cast<size_t>(v) * c.width + u;
      double z = depth_m[idx];
      if (!(z >= 0.3 && z <= 7.5)) continue;
      if (c.depth_noise) {
        const uint64_t h = frame_salt ^ (idx * 0x9E3779B97F4A7C15ULL);
        bool edge = false;
        if (u > 0 && u + 1 < c.width && v > 0 && v + 1 < c.height) {
          for (size_t n : {idx - 1, idx + 1, idx - c.width, idx + c.width})
            edge |= std::abs(depth_m[n] - z) > 0.04 * z;
        }
        if (edge && Uniform01(h + 1) < 0.7) continue;
        // Box-Muller from two hashed uniforms.
        const double u1 = std::max(1e-12, Uniform01(h + 2)), u2 = Uniform01(h + 3);
        const double gauss = std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
        z += gauss * (0.0012 + 0.0019 * (z - 0.4) * (z - 0.4));
      }
      d16[idx] = static_cast<uint16_t>(std::clamp(std::lround(z * c.depth_scale), 0L, 65535L));
    }
  }

  const int64_t stamp_ns = static_cast<int64_t>(std::llround(t * 1e9));
  const std::string source = "synthetic:seed" + std::to_string(c.seed);
  out.frame.meta = {static_cast<uint64_t>(index), stamp_ns, source};
  out.frame.color = color;
  out.frame.depth = depth;
  out.frame.intrinsics = K;
  out.frame.depth_scale = c.depth_scale;

  Eigen::Matrix3d Rm;
  Rm << R[0], R[1], R[2], R[3], R[4], R[5], R[6], R[7], R[8];
  Eigen::Quaterniond q(Rm);
  q.normalize();
  out.pose.meta = out.frame.meta;
  out.pose.t_world_cam = cam;
  out.pose.q_world_cam = {q.x(), q.y(), q.z(), q.w()};
  out.pose.status = pipeline::PoseStatus::kGroundTruth;

  // Ground-truth tracks: boxes and masks from the instance image.
  out.tracks.meta = out.frame.meta;
  for (size_t k = 0; k < objects_.size(); ++k) {
    const int id = objects_[k].id;
    int u0 = c.width, v0 = c.height, u1 = -1, v1 = -1, count = 0;
    for (int v = 0; v < c.height; ++v)
      for (int u = 0; u < c.width; ++u)
        if (inst[static_cast<size_t>(v) * c.width + u] == id) {
          u0 = std::min(u0, u), u1 = std::max(u1, u);
          v0 = std::min(v0, v), v1 = std::max(v1, v);
          ++count;
        }
    ObjectState& state = out.objects[k];
    state.visible_pixels = count;
    state.silhouette_pixels = silhouette[k];
    int best = 0;
    for (size_t j = 0; j < prims.size(); ++j)
      if (hidden_by[k][j] > best) best = hidden_by[k][j], state.occluded_by = objects_[j].id;
    if (count < 20) continue;  // not visible enough to be tracked
    const ObjectState& s = state;
    pipeline::Track tr;
    tr.track_id = id;
    tr.box = {float(u0), float(v0), float(u1 - u0 + 1), float(v1 - v0 + 1)};
    tr.class_name = s.category;
    for (int ci = 0; ci < kNumCategories; ++ci)
      if (s.category == kCategories[ci].name) tr.class_id = ci;
    tr.score = 1.0f;
    tr.has_position = true;
    for (int a = 0; a < 3; ++a) {
      tr.position_world[a] = static_cast<float>(s.center[a]);
      tr.velocity_world[a] = static_cast<float>(s.velocity[a]);
      tr.extent[a] = static_cast<float>(s.size[a]);
    }
    tr.mask = Image::Allocate(u1 - u0 + 1, v1 - v0 + 1, PixelEncoding::kMono8);
    uint8_t* m = tr.mask.data.mutable_data();
    for (int v = v0; v <= v1; ++v)
      for (int u = u0; u <= u1; ++u)
        m[static_cast<size_t>(v - v0) * tr.mask.width + (u - u0)] =
            inst[static_cast<size_t>(v) * c.width + u] == id ? 255 : 0;
    out.tracks.items.push_back(std::move(tr));
  }
  out.instances = instances;
  return out;
}

}  // namespace dyn4d::io
