#include "dyn4d/io/sources.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <Eigen/Geometry>
#include <Eigen/SVD>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>
#include <sstream>

#include "dyn4d/io/stereo.h"
#include "dyn4d/io/synthetic_scene.h"
#include "dyn4d/pipeline/clock.h"
#include "opencv_image.h"
#include "source_internal.h"

namespace dyn4d::io {

namespace fs = std::filesystem;
using internal::ToImage;
using pipeline::CameraIntrinsics;
using pipeline::CameraPose;
using pipeline::Image;
using pipeline::PixelEncoding;

namespace {

bool HasExtension(const fs::path& p, std::initializer_list<const char*> exts) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), ::tolower);
  for (const char* x : exts)
    if (e == x) return true;
  return false;
}
bool IsImageFile(const fs::path& p) {
  return HasExtension(p, {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm"});
}
bool IsVideoFile(const fs::path& p) {
  return HasExtension(p,
                      {".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv"});
}

std::vector<fs::path> SortedFiles(const fs::path& dir, bool (*keep)(const fs::path&)) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && keep(e.path())) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

int64_t SecondsToNs(double s) { return static_cast<int64_t>(std::llround(s * 1e9)); }

// "1305031229.528748" -> nanoseconds, exactly (a double keeps only ~16
// digits, too few for nanoseconds since 1970).
int64_t StampToNs(const std::string& text) {
  const size_t dot = text.find('.');
  int64_t ns = std::stoll(text.substr(0, dot)) * 1000000000LL;
  if (dot != std::string::npos) {
    std::string frac = text.substr(dot + 1, 9);
    frac.resize(9, '0');
    ns += (text[0] == '-' ? -1 : 1) * std::stoll(frac);
  }
  return ns;
}

// Intrinsics from, in order: the config's fx..cy, the config's calibration
// file, `dataset_file` (a file the dataset ships), `dataset_default` (the
// published values of a recognised dataset). None: an error saying how to
// provide them.
// Colour-only sources (`colour_only`) fall back to kDefaultHorizontalFovDeg
// and say so once.
CameraIntrinsics ResolveIntrinsics(const SourceConfig& c, const std::string& dataset_file,
                                   std::optional<CameraIntrinsics> dataset_default,
                                   const std::string& dataset_name, int width, int height,
                                   bool colour_only = false) {
  CameraIntrinsics k;
  std::string from;
  if (c.fx > 0 && c.fy > 0 && c.cx > 0 && c.cy > 0) {
    k = {c.fx, c.fy, c.cx, c.cy, width, height};
    from = "the config (fx, fy, cx, cy)";
  } else if (!c.calibration.empty()) {
    k = ReadCalibrationYaml(c.calibration);
    from = "calibration file '" + c.calibration + "'";
  } else if (!dataset_file.empty() && fs::exists(dataset_file)) {
    k = ReadCalibrationYaml(dataset_file);
    from = "'" + dataset_file + "'";
  } else if (dataset_default) {
    k = *dataset_default;
    from = "the published " + dataset_name + " calibration";
    spdlog::info("intrinsics: using {} (fx {} fy {} cx {} cy {})", from, k.fx, k.fy, k.cx, k.cy);
  } else if (colour_only) {
    k = IntrinsicsFromFov(width, height, kDefaultHorizontalFovDeg);
    from = "an assumed " + std::to_string(static_cast<int>(kDefaultHorizontalFovDeg)) +
           " deg horizontal field of view";
    spdlog::warn(
        "intrinsics: none given for {}; assuming a {:.0f} deg horizontal field of view (fx {:.1f}, "
        "principal point at the centre). Fine for 2D tracking; for metric 3D give the real ones "
        "(--calib FILE, or --input-param fx=.. fy=.. cx=.. cy=..)",
        dataset_name, kDefaultHorizontalFovDeg, k.fx);
  } else {
    throw SourceError("no camera intrinsics for " + dataset_name +
                      ": give a calibration YAML (params.calibration or --calib, OpenCV format "
                      "with camera_matrix) or fx, fy, cx, cy in the source's params");
  }
  if (k.width == 0) k.width = width;
  if (k.height == 0) k.height = height;
  ValidateIntrinsics(k, width, height, from);
  return k;
}

}  // namespace

CameraIntrinsics IntrinsicsFromFov(int width, int height, double horizontal_fov_deg) {
  if (width <= 0 || height <= 0 || !(horizontal_fov_deg > 0 && horizontal_fov_deg < 180))
    throw SourceError("field of view " + std::to_string(horizontal_fov_deg) + " deg for " +
                      std::to_string(width) + "x" + std::to_string(height) +
                      ": need an image size and 0 < fov < 180");
  const double f = 0.5 * width / std::tan(0.5 * horizontal_fov_deg * M_PI / 180.0);
  return {f, f, 0.5 * width, 0.5 * height, width, height};
}

namespace {
// An optional number of a calibration file (defined with the reader below).
double ReadCalibrationNumber(const std::string& path, const std::string& field, double fallback);

// First image of a source, to learn the image size before any frame is read.
cv::Mat ReadFirstImage(const std::string& path) {
  cv::Mat m = cv::imread(path, cv::IMREAD_COLOR);
  if (m.empty()) throw SourceError("cannot read image '" + path + "' (missing or not an image)");
  return m;
}

// Reads a colour image; empty Mat and `why` on failure.
cv::Mat ReadColor(const std::string& path, std::string* why) {
  cv::Mat m = cv::imread(path, cv::IMREAD_COLOR);
  if (m.empty()) *why = "'" + path + "': missing, unreadable or truncated image";
  return m;
}

// Reads a 16-bit depth image of the expected size; empty Mat and `why` otherwise.
cv::Mat ReadDepth16(const std::string& path, int width, int height, std::string* why) {
  cv::Mat m = cv::imread(path, cv::IMREAD_ANYDEPTH);
  if (m.empty()) {
    *why = "'" + path + "': missing, unreadable or truncated depth image";
  } else if (m.type() != CV_16UC1) {
    *why = "'" + path + "': depth must be a 16-bit one-channel PNG, got OpenCV type " +
           cv::typeToString(m.type());
    m = cv::Mat();
  } else if (m.cols != width || m.rows != height) {
    *why = "'" + path + "': depth is " + std::to_string(m.cols) + "x" + std::to_string(m.rows) +
           ", colour is " + std::to_string(width) + "x" + std::to_string(height);
    m = cv::Mat();
  }
  return m;
}

SourceRead Skip(std::string why) {
  SourceRead r;
  r.status = SourceRead::Status::kSkipped;
  r.message = std::move(why);
  return r;
}

// ---- TUM RGB-D ----------------------------------------------------------------

struct TimedPath {
  double t;
  std::string path;
  int64_t stamp_ns = 0;
};

// One data line of a TUM text file: its timestamp (as double and exact ns)
// and the fields after it.
struct StampedLine {
  double t = 0;
  int64_t stamp_ns = 0;
  std::vector<std::string> fields;
};

// Reads "timestamp field..." lines (# comments skipped), each with at least
// `min_fields` fields after the stamp; errors name the file, line and format.
std::vector<StampedLine> ReadStampedLines(const fs::path& file, size_t min_fields,
                                          const std::string& format) {
  std::ifstream in(file);
  if (!in) throw SourceError("cannot open '" + file.string() + "'");
  std::vector<StampedLine> out;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string stamp, field;
    StampedLine sl;
    ls >> stamp;
    while (ls >> field) sl.fields.push_back(field);
    const std::string where = "'" + file.string() + "' line " + std::to_string(line_no);
    if (sl.fields.size() < min_fields) throw SourceError(where + ": expected '" + format + "'");
    try {
      sl.t = std::stod(stamp);
      sl.stamp_ns = StampToNs(stamp);
    } catch (const std::exception&) {
      throw SourceError(where + ": bad timestamp '" + stamp + "'");
    }
    out.push_back(std::move(sl));
  }
  return out;
}

std::vector<TimedPath> ReadTumList(const fs::path& file) {
  std::vector<TimedPath> out;
  for (StampedLine& l : ReadStampedLines(file, 1, "timestamp path"))
    out.push_back({l.t, l.fields[0], l.stamp_ns});
  return out;
}

// Poses at 100 Hz from groundtruth.txt, interpolated at frame times.
// `T_body_cam` maps the camera into the tracked body's frame when the file
// holds the pose of something other than the camera (Bonn: a marker body).
class TumGroundTruth {
 public:
  explicit TumGroundTruth(const fs::path& file,
                          const Eigen::Isometry3d& T_body_cam = Eigen::Isometry3d::Identity())
      : T_body_cam_(T_body_cam) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream ls(line);
      Sample s;
      if (ls >> s.t >> s.p[0] >> s.p[1] >> s.p[2] >> s.q.x() >> s.q.y() >> s.q.z() >> s.q.w())
        samples_.push_back(s);
    }
    std::sort(samples_.begin(), samples_.end(), [](auto& a, auto& b) { return a.t < b.t; });
  }
  bool empty() const { return samples_.empty(); }

  // Linear / slerp interpolation between the samples around t, if both are
  // within `max_gap_s`.
  std::optional<CameraPose> At(double t, double max_gap_s = 0.05) const {
    auto it = std::lower_bound(samples_.begin(), samples_.end(), t,
                               [](const Sample& s, double v) { return s.t < v; });
    if (it == samples_.end()) return std::nullopt;
    if (it == samples_.begin()) {
      if (it->t - t > 1e-6) return std::nullopt;  // before the first sample
      ++it;  // t is the first sample: interpolate from it (u = 0)
      if (it == samples_.end()) return std::nullopt;
    }
    const Sample& b = *it;
    const Sample& a = *(it - 1);
    if (t - a.t > max_gap_s || b.t - t > max_gap_s) return std::nullopt;
    const double u = (t - a.t) / std::max(1e-9, b.t - a.t);
    Eigen::Isometry3d T_world_body = Eigen::Isometry3d::Identity();
    T_world_body.linear() = a.q.normalized().slerp(u, b.q.normalized()).toRotationMatrix();
    for (int i = 0; i < 3; ++i) T_world_body.translation()[i] = a.p[i] + u * (b.p[i] - a.p[i]);
    const Eigen::Isometry3d T_world_cam = T_world_body * T_body_cam_;
    const Eigen::Quaterniond q(T_world_cam.linear());
    CameraPose pose;
    for (int i = 0; i < 3; ++i) pose.t_world_cam[i] = T_world_cam.translation()[i];
    pose.q_world_cam = {q.x(), q.y(), q.z(), q.w()};
    pose.status = pipeline::PoseStatus::kGroundTruth;
    return pose;
  }

 private:
  struct Sample {
    double t;
    double p[3];
    Eigen::Quaterniond q;
  };
  std::vector<Sample> samples_;
  Eigen::Isometry3d T_body_cam_;
};

// Bonn RGB-D Dynamic (Palazzolo et al., IROS 2019) ships the motion-capture
// pose of the marker body on the sensor, not of the camera. The transform
// from that body to the camera's optical frame is the one the dataset's own
// compute_global_transformation.py applies, T_ros * T_m, with its 3x3 part
// (T_m is a least-squares fit, scale 1.02) replaced by the nearest rotation.
Eigen::Isometry3d BonnMarkerToCamera() {
  Eigen::Matrix4d T_ros, T_m;
  T_ros << -1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1;
  T_m << 1.0157, 0.1828, -0.2389, 0.0113, 0.0009, -0.8431, -0.6413, -0.0098, -0.3009, 0.6147,
      -0.8085, 0.0111, 0, 0, 0, 1;
  const Eigen::Matrix4d M = T_ros * T_m;
  Eigen::JacobiSVD<Eigen::Matrix3d> svd(M.topLeftCorner<3, 3>(),
                                        Eigen::ComputeFullU | Eigen::ComputeFullV);
  Eigen::Matrix3d R = svd.matrixU() * svd.matrixV().transpose();
  if (R.determinant() < 0) {
    Eigen::Matrix3d U = svd.matrixU();
    U.col(2) *= -1;
    R = U * svd.matrixV().transpose();
  }
  Eigen::Isometry3d T = Eigen::Isometry3d::Identity();
  T.linear() = R;
  T.translation() = M.topRightCorner<3, 1>();
  return T;
}

// A folder in the TUM RGB-D layout: TUM's own sequences, and the Bonn RGB-D
// Dynamic sequences (`bonn`: marker-body ground truth, own calibration).
class TumSource : public FrameSource {
 public:
  TumSource(const SourceConfig& c, bool bonn) : bonn_(bonn), root_(c.path) {
    if (fs::exists(root_ / "associations.txt")) {
      // Lines "t_rgb rgb/x.png t_depth depth/y.png".
      for (StampedLine& l :
           ReadStampedLines(root_ / "associations.txt", 3, "t_rgb rgb_path t_depth depth_path")) {
        Entry e{l.t, l.fields[0], 0, l.fields[2], l.stamp_ns};
        try {
          e.t_depth = std::stod(l.fields[1]);
        } catch (const std::exception&) {
          throw SourceError("'" + (root_ / "associations.txt").string() +
                            "': bad depth timestamp '" + l.fields[1] + "'");
        }
        entries_.push_back(e);
      }
    } else if (fs::exists(root_ / "rgb.txt")) {
      auto rgb = ReadTumList(root_ / "rgb.txt");
      std::vector<TimedPath> depth;
      if (fs::exists(root_ / "depth.txt"))
        depth = ReadTumList(root_ / "depth.txt");
      else
        spdlog::warn("'{}': no depth.txt, reading colour only", root_.string());
      // Each colour frame takes the nearest depth frame within 0.02 s
      // (as TUM's associate.py), each depth frame used once.
      std::vector<bool> used(depth.size(), false);
      for (const TimedPath& r : rgb) {
        Entry e{r.t, r.path, 0, "", r.stamp_ns};
        double best = 0.02;
        int best_i = -1;
        for (size_t i = 0; i < depth.size(); ++i) {
          const double dt = std::abs(depth[i].t - r.t);
          if (!used[i] && dt < best) best = dt, best_i = static_cast<int>(i);
        }
        if (best_i >= 0) {
          used[best_i] = true;
          e.t_depth = depth[best_i].t;
          e.depth = depth[best_i].path;
        } else if (!depth.empty()) {
          continue;  // no depth within 0.02 s: not a usable RGB-D pair
        }
        entries_.push_back(e);
      }
    } else {
      throw SourceError("'" + root_.string() +
                        "' is not a TUM RGB-D folder: no associations.txt or rgb.txt");
    }
    if (entries_.empty()) throw SourceError("'" + root_.string() + "': no frames listed");
    if (c.max_frames > 0 && entries_.size() > size_t(c.max_frames)) entries_.resize(c.max_frames);
    if (fs::exists(root_ / "groundtruth.txt"))
      gt_ = std::make_unique<TumGroundTruth>(
          root_ / "groundtruth.txt", bonn_ ? BonnMarkerToCamera() : Eigen::Isometry3d::Identity());
    cv::Mat first = ReadFirstImage((root_ / entries_[0].rgb).string());
    // The TUM sequences' published calibrations, recognised by folder name.
    std::optional<CameraIntrinsics> known;
    const std::string name = fs::absolute(root_).filename().string() + fs::absolute(root_).string();
    if (bonn_)  // the dataset's published (undistorted, registered) calibration
      known = CameraIntrinsics{542.822841, 542.576870, 315.593520, 237.756098, 640, 480};
    else if (name.find("freiburg1") != std::string::npos || name.find("fr1") != std::string::npos)
      known = CameraIntrinsics{517.3, 516.5, 318.6, 255.3, 640, 480};
    else if (name.find("freiburg2") != std::string::npos || name.find("fr2") != std::string::npos)
      known = CameraIntrinsics{520.9, 521.0, 325.1, 249.7, 640, 480};
    else if (name.find("freiburg3") != std::string::npos || name.find("fr3") != std::string::npos)
      known = CameraIntrinsics{535.4, 539.2, 320.1, 247.6, 640, 480};
    intrinsics_ =
        ResolveIntrinsics(c, (root_ / "calibration.yaml").string(), known,
                          std::string(bonn_ ? "Bonn" : "TUM") + " folder '" + root_.string() + "'",
                          first.cols, first.rows);
    depth_scale_ = c.depth_scale > 0 ? c.depth_scale : 5000.0;
    LoadSyntheticTracks();
  }

  SourceRead Next() override {
    if (next_ >= entries_.size()) return {};
    const size_t index = next_++;
    const Entry& e = entries_[index];
    // Compared with the previous listed frame, whether or not it was usable.
    const double previous_t = last_t_;
    last_t_ = std::max(last_t_, e.t);
    if (e.t <= previous_t)
      return Skip("frame '" + e.rgb + "' at t=" + std::to_string(e.t) +
                  " is not after the previous one (t=" + std::to_string(previous_t) +
                  "): timestamps out of order");
    std::string why;
    cv::Mat color = ReadColor((root_ / e.rgb).string(), &why);
    if (color.empty()) return Skip(why);
    cv::Mat depth;
    if (!e.depth.empty()) {
      depth = ReadDepth16((root_ / e.depth).string(), color.cols, color.rows, &why);
      if (depth.empty()) return Skip(why);
    }
    if (color.cols != intrinsics_.width || color.rows != intrinsics_.height)
      return Skip("'" + e.rgb + "' is " + std::to_string(color.cols) + "x" +
                  std::to_string(color.rows) + ", the sequence is " +
                  std::to_string(intrinsics_.width) + "x" + std::to_string(intrinsics_.height));
    SourceRead r;
    r.status = SourceRead::Status::kFrame;
    // Frames rendered by `dyn4d synth` say so (a model trained on synthetic
    // objects may label them; it must not label real frames).
    r.frame.meta = {static_cast<uint64_t>(index), e.stamp_ns,
                    (synthetic_ ? "synthetic:"
                     : bonn_    ? "bonn:"
                                : "tum:") +
                        root_.filename().string()};
    r.frame.color = ToImage(color, PixelEncoding::kBgr8);
    if (!depth.empty()) r.frame.depth = ToImage(depth, PixelEncoding::kMono16);
    r.frame.intrinsics = intrinsics_;
    r.frame.depth_scale = depth_scale_;
    // TUM's colour and depth streams are not synchronised (fr1: 0-11 ms apart).
    if (!depth.empty()) r.frame.depth_offset_ns = std::llround((e.t_depth - e.t) * 1e9);
    if (gt_) {
      if (auto pose = gt_->At(e.t)) {
        r.ground_truth = *pose;
        r.ground_truth->meta = r.frame.meta;
      }
    }
    if (index < gt_tracks_.size()) {
      r.ground_truth_tracks = gt_tracks_[index];
      r.ground_truth_tracks->meta = r.frame.meta;
      AttachMasks(e.rgb, *r.ground_truth_tracks);
    }
    return r;
  }

  std::string Describe() const override {
    std::ostringstream os;
    os << (bonn_ ? "Bonn RGB-D Dynamic folder " : "TUM RGB-D folder ") << root_.string() << " ("
       << entries_.size() << " frames, " << intrinsics_.width << "x" << intrinsics_.height
       << ", fx " << intrinsics_.fx << ", depth scale " << depth_scale_
       << (gt_ ? (bonn_ ? ", ground-truth poses (marker body -> camera)" : ", ground-truth poses")
               : "")
       << (gt_tracks_.empty() ? "" : ", ground-truth tracks") << ")";
    return os.str();
  }
  int64_t SizeHint() const override { return static_cast<int64_t>(entries_.size()); }

 private:
  bool bonn_ = false;
  bool synthetic_ = false;  // a folder written by `dyn4d synth`
  struct Entry {
    double t;
    std::string rgb;
    double t_depth;
    std::string depth;
    int64_t stamp_ns = 0;  ///< t, exactly
  };

  // masks/NAME (instance ids, as `dyn4d synth` writes them) gives each
  // ground-truth track its mask, cropped to its box.
  void AttachMasks(const std::string& rgb_path, pipeline::Tracks& tracks) const {
    const fs::path mask_path = root_ / "masks" / fs::path(rgb_path).filename();
    if (tracks.items.empty() || !fs::exists(mask_path)) return;
    cv::Mat ids = cv::imread(mask_path.string(), cv::IMREAD_UNCHANGED);
    if (ids.type() != CV_8UC1) return;
    for (pipeline::Track& t : tracks.items) {
      const cv::Rect box(int(t.box.x), int(t.box.y), int(t.box.w), int(t.box.h));
      if ((box & cv::Rect(0, 0, ids.cols, ids.rows)) != box || box.area() == 0) continue;
      cv::Mat m = (ids(box) == static_cast<int>(t.track_id));
      t.mask = ToImage(m, PixelEncoding::kMono8);
    }
  }

  // A folder written by `dyn4d synth` also has its ground-truth tracks.
  void LoadSyntheticTracks() {
    const fs::path file = root_ / "gt" / "tracks3d.jsonl";
    if (!fs::exists(file)) return;
    synthetic_ = fs::exists(root_ / "gt" / "objects.json");
    std::ifstream in(file);
    std::string line;
    gt_tracks_.resize(entries_.size());
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded()) continue;
      const size_t frame = j.value("frame", size_t(0));
      if (frame >= gt_tracks_.size()) continue;
      pipeline::Track t;
      t.track_id = j.value("track_id", -1);
      auto box = j.value("box_xywh", std::vector<float>{0, 0, 0, 0});
      if (box.size() == 4) t.box = {box[0], box[1], box[2], box[3]};
      t.class_name = j.value("class", "");
      t.class_id = j.value("class_id", -1);
      t.score = j.value("score", 1.0f);
      if (j.contains("position_world")) {
        t.has_position = true;
        t.position_world = j["position_world"].get<std::array<float, 3>>();
        t.velocity_world = j.value("velocity_world", std::array<float, 3>{0, 0, 0});
        t.extent = j.value("extent", std::array<float, 3>{0, 0, 0});
      }
      gt_tracks_[frame].items.push_back(t);
    }
  }

  fs::path root_;
  std::vector<Entry> entries_;
  std::unique_ptr<TumGroundTruth> gt_;
  std::vector<pipeline::Tracks> gt_tracks_;
  CameraIntrinsics intrinsics_;
  double depth_scale_ = 5000;
  size_t next_ = 0;
  double last_t_ = -1e300;
};

// ---- 7-Scenes -----------------------------------------------------------------

class SevenScenesSource : public FrameSource {
 public:
  explicit SevenScenesSource(const SourceConfig& c) : root_(c.path), fps_(c.fps) {
    for (const fs::path& p : SortedFiles(root_, [](const fs::path& f) {
           const std::string n = f.filename().string();
           return n.rfind("frame-", 0) == 0 && n.find(".color.") != std::string::npos;
         }))
      frames_.push_back(p.filename().string().substr(0, p.filename().string().find(".color.")));
    if (frames_.empty())
      throw SourceError("'" + root_.string() +
                        "': no frame-XXXXXX.color.* files (7-Scenes layout)");
    if (c.max_frames > 0 && frames_.size() > size_t(c.max_frames)) frames_.resize(c.max_frames);
    color_ext_ = fs::exists(root_ / (frames_[0] + ".color.png")) ? ".color.png" : ".color.jpg";
    cv::Mat first = ReadFirstImage((root_ / (frames_[0] + color_ext_)).string());
    // camera-intrinsics.txt holds a 3x3 matrix; 7-Scenes publishes fx = fy =
    // 585, cx 320, cy 240 for its Kinect.
    std::optional<CameraIntrinsics> k;
    const fs::path kfile = root_ / "camera-intrinsics.txt";
    if (fs::exists(kfile)) {
      std::ifstream in(kfile);
      double m[9];
      for (double& x : m)
        if (!(in >> x)) throw SourceError("'" + kfile.string() + "': expected a 3x3 matrix");
      k = CameraIntrinsics{m[0], m[4], m[2], m[5], first.cols, first.rows};
    } else {
      k = CameraIntrinsics{585, 585, 320, 240, 640, 480};
    }
    intrinsics_ = ResolveIntrinsics(c, "", k, "7-Scenes folder '" + root_.string() + "'",
                                    first.cols, first.rows);
    depth_scale_ = c.depth_scale > 0 ? c.depth_scale : 1000.0;
  }

  SourceRead Next() override {
    if (next_ >= frames_.size()) return {};
    const size_t index = next_++;
    const std::string& stem = frames_[index];
    std::string why;
    cv::Mat color = ReadColor((root_ / (stem + color_ext_)).string(), &why);
    if (color.empty()) return Skip(why);
    cv::Mat depth =
        ReadDepth16((root_ / (stem + ".depth.png")).string(), color.cols, color.rows, &why);
    if (depth.empty()) return Skip(why);
    depth.setTo(0, depth == 65535);  // 7-Scenes marks invalid depth 65535; dyn4d uses 0
    SourceRead r;
    r.status = SourceRead::Status::kFrame;
    r.frame.meta = {static_cast<uint64_t>(index), SecondsToNs(index / fps_),
                    "7scenes:" + root_.filename().string()};
    r.frame.color = ToImage(color, PixelEncoding::kBgr8);
    r.frame.depth = ToImage(depth, PixelEncoding::kMono16);
    r.frame.intrinsics = intrinsics_;
    r.frame.depth_scale = depth_scale_;
    r.frame.color_registered = false;  // two Kinect cameras, shipped unregistered
    const fs::path pose_file = root_ / (stem + ".pose.txt");
    if (fs::exists(pose_file)) {
      std::ifstream in(pose_file);
      Eigen::Matrix4d T;
      bool ok = true;
      for (int i = 0; i < 16 && ok; ++i) ok = static_cast<bool>(in >> T(i / 4, i % 4));
      if (ok && std::abs(T.block<3, 3>(0, 0).determinant() - 1) < 0.05) {
        CameraPose p;
        p.meta = r.frame.meta;
        Eigen::Quaterniond q(T.block<3, 3>(0, 0));
        q.normalize();
        p.t_world_cam = {T(0, 3), T(1, 3), T(2, 3)};
        p.q_world_cam = {q.x(), q.y(), q.z(), q.w()};
        p.status = pipeline::PoseStatus::kGroundTruth;
        r.ground_truth = p;
      } else {
        spdlog::warn("'{}': not a 4x4 rigid pose, frame has no ground truth", pose_file.string());
      }
    }
    return r;
  }

  std::string Describe() const override {
    std::ostringstream os;
    os << "7-Scenes folder " << root_.string() << " (" << frames_.size() << " frames, "
       << intrinsics_.width << "x" << intrinsics_.height << ", fx " << intrinsics_.fx
       << ", depth in mm, ground-truth poses)";
    return os.str();
  }
  int64_t SizeHint() const override { return static_cast<int64_t>(frames_.size()); }

 private:
  fs::path root_;
  double fps_;
  std::vector<std::string> frames_;
  std::string color_ext_;
  CameraIntrinsics intrinsics_;
  double depth_scale_ = 1000;
  size_t next_ = 0;
};

// ---- image folder ---------------------------------------------------------------

class ImageFolderSource : public FrameSource {
 public:
  explicit ImageFolderSource(const SourceConfig& c) : root_(c.path), fps_(c.fps) {
    images_ = SortedFiles(root_, IsImageFile);
    if (images_.empty())
      throw SourceError("'" + root_.string() + "': no images (png, jpg, ...) in the folder");
    if (!c.depth_path.empty()) {
      depth_ = SortedFiles(c.depth_path, IsImageFile);
      if (depth_.size() != images_.size())
        throw SourceError("depth folder '" + c.depth_path + "' has " +
                          std::to_string(depth_.size()) + " images, colour folder '" +
                          root_.string() + "' has " + std::to_string(images_.size()));
    }
    if (c.max_frames > 0 && images_.size() > size_t(c.max_frames)) images_.resize(c.max_frames);
    cv::Mat first = ReadFirstImage(images_[0].string());
    intrinsics_ = ResolveIntrinsics(c, (root_ / "calibration.yaml").string(), std::nullopt,
                                    "image folder '" + root_.string() + "'", first.cols, first.rows,
                                    /*colour_only=*/depth_.empty());
    if (!depth_.empty() && !(c.depth_scale > 0))
      throw SourceError("image folder '" + root_.string() +
                        "' with depth: set depth_scale (depth units per metre, e.g. 1000 for mm)");
    depth_scale_ = c.depth_scale;
  }

  SourceRead Next() override {
    if (next_ >= images_.size()) return {};
    const size_t index = next_++;
    std::string why;
    cv::Mat color = ReadColor(images_[index].string(), &why);
    if (color.empty()) return Skip(why);
    if (color.cols != intrinsics_.width || color.rows != intrinsics_.height)
      return Skip("'" + images_[index].string() + "' is " + std::to_string(color.cols) + "x" +
                  std::to_string(color.rows) + ", the folder's first image is " +
                  std::to_string(intrinsics_.width) + "x" + std::to_string(intrinsics_.height));
    SourceRead r;
    r.status = SourceRead::Status::kFrame;
    r.frame.meta = {static_cast<uint64_t>(index), SecondsToNs(index / fps_),
                    "images:" + root_.filename().string()};
    r.frame.color = ToImage(color, PixelEncoding::kBgr8);
    if (!depth_.empty()) {
      cv::Mat depth = ReadDepth16(depth_[index].string(), color.cols, color.rows, &why);
      if (depth.empty()) return Skip(why);
      r.frame.depth = ToImage(depth, PixelEncoding::kMono16);
    }
    r.frame.intrinsics = intrinsics_;
    r.frame.depth_scale = depth_scale_ > 0 ? depth_scale_ : 1000;
    return r;
  }

  std::string Describe() const override {
    return "image folder " + root_.string() + " (" + std::to_string(images_.size()) + " frames, " +
           (depth_.empty() ? "colour only" : "with depth") + ")";
  }
  int64_t SizeHint() const override { return static_cast<int64_t>(images_.size()); }

 private:
  fs::path root_;
  double fps_;
  std::vector<fs::path> images_, depth_;
  CameraIntrinsics intrinsics_;
  double depth_scale_ = 0;
  size_t next_ = 0;
};

// ---- video files, V4L2 and GStreamer (OpenCV VideoCapture) -----------------------

class CaptureSource : public FrameSource {
 public:
  enum class Kind { kFile, kV4l2, kGstreamer };
  CaptureSource(const SourceConfig& c, Kind kind)
      : path_(c.path), kind_(kind), max_frames_(c.max_frames) {
    if (kind == Kind::kFile && !fs::exists(path_))
      throw SourceError("video file '" + path_ + "' does not exist");
    const int api = kind == Kind::kV4l2        ? cv::CAP_V4L2
                    : kind == Kind::kGstreamer ? cv::CAP_GSTREAMER
                                               : cv::CAP_ANY;
    if (kind == Kind::kV4l2 && !fs::exists(path_))
      throw SourceError("V4L2 device '" + path_ +
                        "' does not exist (is the camera plugged in? ls /dev/video*)");
    bool opened;
    {
      // OpenCV tries every backend on a file it cannot read and logs each
      // refusal to stderr; the one message that matters is ours below.
      const auto level = cv::utils::logging::getLogLevel();
      if (kind == Kind::kFile)
        cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
      opened = cap_.open(path_, api);
      cv::utils::logging::setLogLevel(level);
    }
    if (!opened)
      throw SourceError(std::string(kind == Kind::kFile   ? "video file '"
                                    : kind == Kind::kV4l2 ? "V4L2 device '"
                                                          : "GStreamer pipeline '") +
                        path_ + "' cannot be opened" +
                        (kind == Kind::kGstreamer
                             ? " (does it end in appsink? is OpenCV built with GStreamer?)"
                             : " (unsupported format or no codec)"));
    cv::Mat first;
    if (!cap_.read(first) || first.empty())
      throw SourceError("'" + path_ + "': no frames could be read (empty or corrupt " +
                        (kind == Kind::kFile ? "video)" : "stream)"));
    pending_ = first;
    frame_count_ =
        kind == Kind::kFile ? static_cast<int64_t>(cap_.get(cv::CAP_PROP_FRAME_COUNT)) : -1;
    fps_ = cap_.get(cv::CAP_PROP_FPS);
    if (!(fps_ > 0 && fps_ < 1000)) {
      if (kind == Kind::kFile)
        spdlog::warn(
            "input: '{}' gives no usable frame rate ({}); time stamps assume {} fps "
            "(--input-param fps=N sets it)",
            path_, fps_, c.fps);
      fps_ = c.fps;
    }
    intrinsics_ = ResolveIntrinsics(c, "", std::nullopt, "'" + path_ + "'", first.cols, first.rows,
                                    /*colour_only=*/true);
    start_ = std::chrono::system_clock::now();
  }

  SourceRead Next() override {
    if (max_frames_ > 0 && next_ >= static_cast<uint64_t>(max_frames_)) return {};
    cv::Mat frame;
    if (!pending_.empty()) {
      frame = pending_;
      pending_ = cv::Mat();
    } else if (!cap_.read(frame) || frame.empty()) {
      if (frame_count_ > 0 && static_cast<int64_t>(next_) + 1 < frame_count_ * 9 / 10)
        spdlog::warn("'{}': stream ended after {} of {} frames (truncated file?)", path_, next_,
                     frame_count_);
      return {};
    }
    const uint64_t index = next_++;
    SourceRead r;
    r.status = SourceRead::Status::kFrame;
    // Files: media time; live: arrival time (wall clock).
    const int64_t stamp = kind_ == Kind::kFile ? SecondsToNs(index / fps_) : pipeline::WallNowNs();
    r.frame.meta = {index, stamp, (kind_ == Kind::kFile ? "video:" : "camera:") + path_};
    r.frame.color = ToImage(frame.clone(), PixelEncoding::kBgr8);  // VideoCapture reuses its buffer
    r.frame.intrinsics = intrinsics_;
    return r;
  }

  std::string Describe() const override {
    std::ostringstream os;
    os << (kind_ == Kind::kFile   ? "video file "
           : kind_ == Kind::kV4l2 ? "V4L2 camera "
                                  : "GStreamer pipeline ")
       << path_ << " (" << intrinsics_.width << "x" << intrinsics_.height << ", " << fps_ << " fps";
    if (frame_count_ > 0) os << ", " << frame_count_ << " frames";
    os << ", colour only)";
    return os.str();
  }
  bool IsLive() const override { return kind_ != Kind::kFile; }
  int64_t SizeHint() const override { return frame_count_; }

 private:
  std::string path_;
  Kind kind_;
  int max_frames_;
  cv::VideoCapture cap_;
  cv::Mat pending_;
  int64_t frame_count_ = -1;
  double fps_ = 30;
  CameraIntrinsics intrinsics_;
  uint64_t next_ = 0;
  std::chrono::system_clock::time_point start_;
};

// ---- stereo folders ---------------------------------------------------------------

// Rectified stereo: left/ and right/ image folders, or one side-by-side video
// (each frame [left | right]); depth from SGBM + WLS and the calibration's
// baseline.
class StereoSource : public FrameSource {
 public:
  explicit StereoSource(const SourceConfig& c)
      : root_(c.path), fps_(c.fps), max_frames_(c.max_frames) {
    const bool video = fs::is_regular_file(root_);
    std::string calib = c.calibration;
    if (calib.empty())
      calib = ((video ? root_.parent_path() : root_) / "calibration.yaml").string();
    if (!fs::exists(calib))
      throw SourceError(
          "stereo input '" + root_.string() +
          "' needs a calibration YAML (camera_matrix of the rectified left camera and "
          "baseline in metres): none at '" +
          calib + "'");
    cv::Mat first_left;
    if (video) {
      if (!cap_.open(root_.string()))
        throw SourceError("side-by-side stereo video '" + root_.string() + "' cannot be opened");
      cv::Mat sbs;
      if (!cap_.read(sbs) || sbs.empty())
        throw SourceError("side-by-side stereo video '" + root_.string() +
                          "': no frames could be read");
      if (sbs.cols % 2)
        throw SourceError("side-by-side stereo video '" + root_.string() + "': odd frame width " +
                          std::to_string(sbs.cols));
      pending_ = sbs;
      first_left = sbs(cv::Rect(0, 0, sbs.cols / 2, sbs.rows));
      const double fps = cap_.get(cv::CAP_PROP_FPS);
      if (fps > 0 && fps < 1000) fps_ = fps;
      count_ = static_cast<int64_t>(cap_.get(cv::CAP_PROP_FRAME_COUNT));
    } else {
      left_ = SortedFiles(root_ / "left", IsImageFile);
      right_ = SortedFiles(root_ / "right", IsImageFile);
      if (left_.empty()) throw SourceError("'" + (root_ / "left").string() + "': no images");
      if (left_.size() != right_.size())
        throw SourceError("'" + root_.string() + "': " + std::to_string(left_.size()) +
                          " left and " + std::to_string(right_.size()) + " right images");
      first_left = ReadFirstImage(left_[0].string());
      count_ = static_cast<int64_t>(left_.size());
    }
    if (max_frames_ > 0 && count_ > max_frames_) count_ = max_frames_;
    SourceConfig with_calib = c;
    with_calib.calibration = calib;
    intrinsics_ = ResolveIntrinsics(with_calib, "", std::nullopt, "stereo input", first_left.cols,
                                    first_left.rows);
    baseline_m_ = ReadCalibrationNumber(calib, "baseline", 0);
    if (!(baseline_m_ > 0))
      throw SourceError("'" + calib + "': field 'baseline' (metres, > 0) is missing or invalid");
  }

  SourceRead Next() override {
    if (count_ >= 0 && static_cast<int64_t>(next_) >= count_) return {};
    const size_t index = next_++;
    std::string why;
    cv::Mat l, r;
    if (cap_.isOpened()) {
      cv::Mat sbs = pending_;
      pending_ = cv::Mat();
      if (sbs.empty() && (!cap_.read(sbs) || sbs.empty())) return {};
      l = sbs(cv::Rect(0, 0, sbs.cols / 2, sbs.rows)).clone();
      r = sbs(cv::Rect(sbs.cols / 2, 0, sbs.cols / 2, sbs.rows)).clone();
    } else {
      l = ReadColor(left_[index].string(), &why);
      if (l.empty()) return Skip(why);
      r = ReadColor(right_[index].string(), &why);
      if (r.empty()) return Skip(why);
      if (l.size() != r.size())
        return Skip("'" + right_[index].string() + "': size differs from the left image");
    }
    if (l.cols != intrinsics_.width || l.rows != intrinsics_.height)
      return Skip("stereo frame " + std::to_string(index) + " is " + std::to_string(l.cols) + "x" +
                  std::to_string(l.rows) + ", calibrated for " + std::to_string(intrinsics_.width) +
                  "x" + std::to_string(intrinsics_.height));
    Image left = ToImage(l, PixelEncoding::kBgr8);
    Image disparity = ComputeDisparity(left, ToImage(r, PixelEncoding::kBgr8), StereoConfig{});
    SourceRead out;
    out.status = SourceRead::Status::kFrame;
    out.frame.meta = {static_cast<uint64_t>(index), SecondsToNs(index / fps_),
                      "stereo:" + root_.filename().string()};
    out.frame.color = left;
    out.frame.depth_scale = 1000;
    out.frame.depth =
        DisparityToDepth(disparity, intrinsics_.fx, baseline_m_, out.frame.depth_scale);
    out.frame.intrinsics = intrinsics_;
    return out;
  }
  std::string Describe() const override {
    return std::string(cap_.isOpened() ? "side-by-side stereo video " : "stereo folder ") +
           root_.string() + " (" + std::to_string(count_) + " pairs, baseline " +
           std::to_string(baseline_m_) + " m, SGBM + WLS depth)";
  }
  int64_t SizeHint() const override { return count_; }

 private:
  fs::path root_;
  double fps_;
  int max_frames_;
  std::vector<fs::path> left_, right_;
  cv::VideoCapture cap_;
  cv::Mat pending_;
  int64_t count_ = -1;
  CameraIntrinsics intrinsics_;
  double baseline_m_ = 0;
  size_t next_ = 0;
};

// ---- synthetic scene as a source ------------------------------------------------------

class SyntheticFrameSource : public FrameSource {
 public:
  explicit SyntheticFrameSource(SyntheticScene::Config c) : scene_(std::move(c)) {}
  SourceRead Next() override {
    if (next_ >= scene_.config().num_frames) return {};
    SyntheticScene::Rendered rendered = scene_.Render(next_++);
    SourceRead r;
    r.status = SourceRead::Status::kFrame;
    r.frame = std::move(rendered.frame);
    r.ground_truth = rendered.pose;
    r.ground_truth_tracks = std::move(rendered.tracks);
    return r;
  }
  std::string Describe() const override {
    return "synthetic scene (seed " + std::to_string(scene_.config().seed) + ", " +
           std::to_string(scene_.config().num_frames) + " frames)";
  }
  int64_t SizeHint() const override { return scene_.config().num_frames; }

 private:
  SyntheticScene scene_;
  int next_ = 0;
};

}  // namespace

void ValidateIntrinsics(const CameraIntrinsics& k, int width, int height, const std::string& what) {
  std::vector<std::string> p;
  if (!(k.fx > 0 && k.fy > 0)) p.push_back("fx and fy must be positive");
  if (!(k.cx > 0 && k.cx < width && k.cy > 0 && k.cy < height))
    p.push_back("principal point (" + std::to_string(k.cx) + ", " + std::to_string(k.cy) +
                ") is outside the " + std::to_string(width) + "x" + std::to_string(height) +
                " image");
  if (k.width != width || k.height != height)
    p.push_back("calibrated for " + std::to_string(k.width) + "x" + std::to_string(k.height) +
                ", images are " + std::to_string(width) + "x" + std::to_string(height));
  if (k.fx > 0 && (k.fx < 0.1 * width || k.fx > 20 * width))
    p.push_back("fx " + std::to_string(k.fx) + " is implausible for a " + std::to_string(width) +
                " px wide image");
  if (!p.empty()) {
    std::string all;
    for (const std::string& s : p) all += (all.empty() ? "" : "; ") + s;
    throw SourceError("wrong intrinsics from " + what + ": " + all);
  }
}

namespace {
// A calibration file as OpenCV writes it ("%YAML:1.0", !!opencv-matrix),
// read with yaml-cpp: OpenCV 4.6's own reader loops forever on some
// malformed files and allocates what a damaged rows x cols says, which a
// user's file must never do to a run.
YAML::Node LoadCalibrationFile(const std::string& path) {
  if (!fs::exists(path)) throw SourceError("calibration file '" + path + "' does not exist");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SourceError("calibration file '" + path + "' cannot be read");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  // "%YAML:1.0" is OpenCV's, not a YAML directive: dropped, its line kept.
  if (text.rfind("%YAML:", 0) == 0) text.erase(0, std::min(text.size(), text.find('\n')));
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw SourceError("calibration file '" + path + "' is not YAML (line " +
                      std::to_string(e.mark.line + 1) + "): " + e.msg);
  }
  if (!root.IsMap()) throw SourceError("calibration file '" + path + "' is not a map of fields");
  return root;
}

// A matrix field: an !!opencv-matrix map (rows, cols, data), a flat list or
// a list of rows. Throws SourceError naming the file and field.
std::vector<double> ReadMatrix(const YAML::Node& node, const std::string& path,
                               const std::string& field, int rows, int cols) {
  const auto malformed = [&](const std::string& why) {
    return SourceError("calibration file '" + path + "': field '" + field + "' (" +
                       std::to_string(rows) + "x" + std::to_string(cols) +
                       ") missing or malformed: " + why);
  };
  std::vector<double> v;
  try {
    YAML::Node data = node;
    if (node.IsMap()) {
      if (!node["rows"] || !node["cols"] || node["rows"].as<int>() != rows ||
          node["cols"].as<int>() != cols)
        throw malformed("rows and cols must be " + std::to_string(rows) + " and " +
                        std::to_string(cols));
      data = node["data"];
    }
    if (!data.IsSequence()) throw malformed("no list of numbers");
    for (const YAML::Node& x : data) {
      if (x.IsSequence()) {
        for (const YAML::Node& y : x) v.push_back(y.as<double>());
      } else {
        v.push_back(x.as<double>());
      }
      if (v.size() > size_t(rows * cols)) break;
    }
  } catch (const YAML::Exception& e) {
    throw malformed(e.msg);
  }
  if (v.size() != size_t(rows * cols))
    throw malformed(std::to_string(v.size()) + " numbers, expected " + std::to_string(rows * cols));
  for (double x : v)
    if (!std::isfinite(x)) throw malformed("a number is not finite");
  return v;
}

// An optional number field; `fallback` when absent.
double ReadCalibrationNumber(const std::string& path, const std::string& field, double fallback) {
  const YAML::Node root = LoadCalibrationFile(path);
  if (!root[field]) return fallback;
  try {
    return root[field].as<double>();
  } catch (const YAML::Exception& e) {
    throw SourceError("calibration file '" + path + "': field '" + field + "' is not a number");
  }
}
}  // namespace

CameraIntrinsics ReadCalibrationYaml(const std::string& path) {
  const YAML::Node root = LoadCalibrationFile(path);
  const std::string field = root["camera_matrix"] ? "camera_matrix" : "K";
  if (!root[field])
    throw SourceError("calibration file '" + path +
                      "': field 'camera_matrix' (3x3) missing or malformed: not there");
  const std::vector<double> K = ReadMatrix(root[field], path, field, 3, 3);
  CameraIntrinsics k;
  k.fx = K[0];
  k.fy = K[4];
  k.cx = K[2];
  k.cy = K[5];
  try {
    if (root["image_width"]) k.width = root["image_width"].as<int>();
    if (root["image_height"]) k.height = root["image_height"].as<int>();
  } catch (const YAML::Exception& e) {
    throw SourceError("calibration file '" + path +
                      "': image_width / image_height must be whole numbers");
  }
  return k;
}

Image ReadColorImage(const std::string& path) {
  return ToImage(ReadFirstImage(path), PixelEncoding::kBgr8);
}

std::vector<std::string> ListVideos(const std::string& folder) {
  std::vector<std::string> out;
  for (const fs::path& p : SortedFiles(folder, IsVideoFile)) out.push_back(p.string());
  return out;
}

int ShardOf(const std::string& video_path, int count) {
  if (count <= 1) return 0;
  uint64_t h = 1469598103934665603ull;  // FNV-1a, 64 bit
  for (const unsigned char c : fs::path(video_path).filename().string()) {
    h ^= c;
    h *= 1099511628211ull;
  }
  // FNV's low bits follow the last characters ("clip_17", "clip_18"...):
  // a SplitMix64 finalizer spreads them before the modulo.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return static_cast<int>(h % static_cast<uint64_t>(count));
}

std::string DetectSourceKind(const std::string& path) {
  if (path.rfind("/dev/video", 0) == 0) return "v4l2";
  if (path.find("appsink") != std::string::npos) return "gstreamer";
  const fs::path p(path);
  if (!fs::exists(p)) throw SourceError("input '" + path + "' does not exist");
  if (fs::is_regular_file(p)) {
    if (HasExtension(p, {".mcap"})) return "recording";
    if (IsVideoFile(p)) return "video";
    throw SourceError("input '" + path + "': not a video (" +
                      "mp4, avi, mkv, mov, webm, ...) or recording (.mcap) file");
  }
  if (fs::exists(p / "associations.txt") || fs::exists(p / "rgb.txt")) {
    // Bonn RGB-D Dynamic sequences (rgbd_bonn_*) share TUM's layout.
    std::string name = fs::absolute(p).lexically_normal().filename().string();
    if (name.empty()) name = fs::absolute(p).lexically_normal().parent_path().filename().string();
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    return name.find("bonn") != std::string::npos ? "bonn" : "tum";
  }
  if (fs::is_directory(p / "left") && fs::is_directory(p / "right")) return "stereo";
  for (const auto& e : fs::directory_iterator(p)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("frame-", 0) == 0 && n.find(".color.") != std::string::npos) return "7scenes";
  }
  if (!SortedFiles(p, IsVideoFile).empty()) return "video_folder";
  if (!SortedFiles(p, IsImageFile).empty()) return "images";
  throw SourceError("input folder '" + path +
                    "' is not a known layout: looked for associations.txt / rgb.txt (TUM), "
                    "frame-*.color.* (7-Scenes), left/ + right/ (stereo), video files, images");
}

namespace {

// A source whose RGB-D frames are changed one by one before anything sees
// them (colour registration, depth correction). A frame the change fails on
// is skipped with the reason; a SourceError (the whole source is unusable
// this way) ends the stream.
class FrameChangingSource : public FrameSource {
 public:
  /// `step`: what the change is, prefixed to a skipped frame's reason ("" if
  /// the reasons name it already).
  FrameChangingSource(std::unique_ptr<FrameSource> inner, std::string step)
      : inner_(std::move(inner)), step_(std::move(step)) {}
  SourceRead Next() override {
    SourceRead r = inner_->Next();
    if (r.status != SourceRead::Status::kFrame || r.frame.depth.empty()) return r;
    try {
      Change(r.frame);
    } catch (const SourceError&) {
      throw;
    } catch (const std::exception& e) {
      SourceRead skip;
      skip.status = SourceRead::Status::kSkipped;
      skip.message = "frame " + std::to_string(r.frame.meta.seq) + ": " + step_ + e.what();
      return skip;
    }
    return r;
  }
  std::string Describe() const override { return inner_->Describe() + "; " + DescribeChange(); }
  bool IsLive() const override { return inner_->IsLive(); }
  int64_t SizeHint() const override { return inner_->SizeHint(); }

 protected:
  virtual void Change(pipeline::RgbdFrame& frame) = 0;
  virtual std::string DescribeChange() const = 0;
  const FrameSource& inner() const { return *inner_; }

 private:
  std::unique_ptr<FrameSource> inner_;
  std::string step_;
};

// Re-samples each frame's colour onto its depth grid (SourceConfig::color_camera).
class ColorRegisteringSource : public FrameChangingSource {
 public:
  ColorRegisteringSource(std::unique_ptr<FrameSource> inner, ColorCameraModel camera)
      : FrameChangingSource(std::move(inner), "colour registration: "),
        camera_(std::move(camera)) {}

 private:
  void Change(pipeline::RgbdFrame& f) override {
    f.color = RegisterColorToDepth(f.color, f.depth, f.depth_scale, f.intrinsics, camera_);
    f.color_registered = true;
  }
  std::string DescribeChange() const override {
    const auto& k = camera_.intrinsics;
    std::ostringstream os;
    os << "colour registered to depth (colour fx " << k.fx << " fy " << k.fy << " cx " << k.cx
       << " cy " << k.cy << ", from depth " << camera_.t_color_depth.x() << " "
       << camera_.t_color_depth.y() << " " << camera_.t_color_depth.z() << " m)";
    return os.str();
  }

  ColorCameraModel camera_;
};

// Corrects each frame's depth by the sensor's distortion model
// (SourceConfig::depth_distortion), checked against the first frame's
// intrinsics.
class DepthCorrectingSource : public FrameChangingSource {
 public:
  DepthCorrectingSource(std::unique_ptr<FrameSource> inner, DepthDistortionModel model)
      : FrameChangingSource(std::move(inner), ""), model_(model) {}

 private:
  void Change(pipeline::RgbdFrame& f) override {
    if (!checked_) {
      if (const auto p = model_.Validate(f.intrinsics); !p.empty())
        throw SourceError(inner().Describe() + ": " + p.front());
      checked_ = true;
    }
    f.depth = CorrectDepth(f.depth, f.intrinsics, model_);  // its reasons say "depth correction"
  }
  std::string DescribeChange() const override {
    std::ostringstream os;
    os << "depth corrected (";
    for (size_t i = 0; i < model_.k.size(); ++i)
      os << (i ? " " : "") << DepthDistortionModel::kParamNames[i] << " " << model_.k[i];
    os << ")";
    return os.str();
  }

  DepthDistortionModel model_;
  bool checked_ = false;
};

std::unique_ptr<FrameSource> OpenSourceKind(const SourceConfig& c, const std::string& kind);

}  // namespace

std::unique_ptr<FrameSource> OpenSource(const SourceConfig& c) {
  const std::string kind = c.kind == "auto" ? DetectSourceKind(c.path) : c.kind;
  const bool corrects_depth = c.depth_distortion && !c.depth_distortion->IsIdentity();
  if (!c.color_camera && !corrects_depth) return OpenSourceKind(c, kind);
  const bool has_depth = kind == "tum" || kind == "bonn" || kind == "7scenes" || kind == "openni" ||
                         (kind == "images" && !c.depth_path.empty()) ||
                         (kind == "ros2" && !c.ros2_depth_topic.empty());
  if (c.color_camera) {
    if (const auto problems = c.color_camera->Validate(); !problems.empty())
      throw SourceError("'" + c.path + "': " + problems.front());
    if (!has_depth)
      throw SourceError("'" + c.path + "': color_fx/color_* given, but a '" + kind +
                        "' source has no depth to register colour to");
  }
  if (corrects_depth && !has_depth)
    throw SourceError("'" + c.path + "': depth_k* given, but a '" + kind +
                      "' source has no depth to correct");
  std::unique_ptr<FrameSource> source = OpenSourceKind(c, kind);
  // Depth first: colour registration re-projects through the corrected depth.
  if (corrects_depth)
    source = std::make_unique<DepthCorrectingSource>(std::move(source), *c.depth_distortion);
  if (c.color_camera)
    source = std::make_unique<ColorRegisteringSource>(std::move(source), *c.color_camera);
  return source;
}

namespace {

std::unique_ptr<FrameSource> OpenSourceKind(const SourceConfig& c, const std::string& kind) {
  if (kind == "tum") return std::make_unique<TumSource>(c, false);
  if (kind == "bonn") return std::make_unique<TumSource>(c, true);
  if (kind == "7scenes") return std::make_unique<SevenScenesSource>(c);
  if (kind == "images") return std::make_unique<ImageFolderSource>(c);
  if (kind == "video") return std::make_unique<CaptureSource>(c, CaptureSource::Kind::kFile);
  if (kind == "v4l2") return std::make_unique<CaptureSource>(c, CaptureSource::Kind::kV4l2);
  if (kind == "gstreamer")
    return std::make_unique<CaptureSource>(c, CaptureSource::Kind::kGstreamer);
  if (kind == "stereo") return std::make_unique<StereoSource>(c);
  if (kind == "openni") return internal::OpenOpenNiSource(c);
  if (kind == "recording") return internal::OpenRecordingSource(c);
  if (kind == "ros2") return internal::OpenRos2TopicSource(c);
  if (kind == "synthetic") {
    SyntheticScene::Config s;
    if (c.max_frames > 0) s.num_frames = c.max_frames;
    return std::make_unique<SyntheticFrameSource>(s);
  }
  if (kind == "video_folder")
    throw SourceError("'" + c.path +
                      "' is a folder of videos: run it as a batch (dyn4d run --input FOLDER)");
  throw SourceError("unknown source kind '" + kind +
                    "' (auto, tum, bonn, 7scenes, images, video, stereo, recording, openni, v4l2, "
                    "gstreamer, synthetic)");
}

}  // namespace

}  // namespace dyn4d::io
