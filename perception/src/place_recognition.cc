#include "dyn4d/perception/place_recognition.h"

#include <ceres/ceres.h>
#include <ceres/manifold.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <opencv2/calib3d.hpp>
#include <opencv2/core/eigen.hpp>
#include <opencv2/features2d.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <utility>

#include "dyn4d/perception/pose.h"
#include "grey_image.h"
#include "in_order_worker.h"

namespace dyn4d::perception {
namespace {

constexpr double kDegToRad = M_PI / 180.0;

// One node of the graph: where the tracker put it, where the graph puts it,
// and (where the image held still) its features with depth.
struct Node {
  uint64_t seq = 0;
  Eigen::Isometry3d tracked = Eigen::Isometry3d::Identity();
  Eigen::Quaterniond q = Eigen::Quaterniond::Identity();  // graph's estimate
  Eigen::Vector3d t = Eigen::Vector3d::Zero();
  std::vector<cv::Point2f> pixels;
  std::vector<float> depth;  // metres, 0 = none
  cv::Mat descriptors;
  Eigen::Isometry3d Pose() const {
    Eigen::Isometry3d T = Eigen::Isometry3d::Identity();
    T.linear() = q.normalized().toRotationMatrix();
    T.translation() = t;
    return T;
  }
};

// T_b^-1 measured (as T_a^-1 T_b) against the graph's poses: the rotation
// (twice the quaternion's vector part) and translation of the difference,
// each in its sigmas.
struct RelativePoseError {
  RelativePoseError(const Eigen::Isometry3d& measured, double sigma_m, double sigma_rad)
      : q_m(measured.rotation()),
        t_m(measured.translation()),
        inv_t(1 / sigma_m),
        inv_r(1 / sigma_rad) {}
  template <typename T>
  bool operator()(const T* qa, const T* ta, const T* qb, const T* tb, T* r) const {
    const Eigen::Map<const Eigen::Quaternion<T>> Qa(qa), Qb(qb);
    const Eigen::Map<const Eigen::Matrix<T, 3, 1>> Ta(ta), Tb(tb);
    // T_a^-1 T_b
    const Eigen::Quaternion<T> q_ab = Qa.conjugate() * Qb;
    const Eigen::Matrix<T, 3, 1> t_ab = Qa.conjugate() * (Tb - Ta);
    // measured^-1 * (T_a^-1 T_b)
    const Eigen::Quaternion<T> qm_inv = q_m.cast<T>().conjugate();
    const Eigen::Quaternion<T> q_e = qm_inv * q_ab;
    const Eigen::Matrix<T, 3, 1> t_e = qm_inv * (t_ab - t_m.cast<T>());
    const T sign = q_e.w() < T(0) ? T(-1) : T(1);
    r[0] = T(2) * sign * q_e.x() * T(inv_r);
    r[1] = T(2) * sign * q_e.y() * T(inv_r);
    r[2] = T(2) * sign * q_e.z() * T(inv_r);
    for (int k = 0; k < 3; ++k) r[3 + k] = t_e[k] * T(inv_t);
    return true;
  }
  Eigen::Quaterniond q_m;
  Eigen::Vector3d t_m;
  double inv_t, inv_r;
};

struct Edge {
  size_t a, b;              // node ids (the order they were added, from 0)
  Eigen::Isometry3d T_a_b;  // measured
  double sigma_m, sigma_rad;
};

// The nearest-two search below runs on x86-64 in two builds, chosen when
// loaded: with the POPCNT instruction and without (the baseline x86-64
// target has none and counts bits in software). It took a quarter of the
// time of cv::BFMatcher's kNN with its match lists (2 against 8 ms for
// 1,000 x 1,000 descriptors), which was most of the place step.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DYN4D_POPCNT_CLONES __attribute__((target_clones("popcnt", "default")))
#else
#define DYN4D_POPCNT_CLONES
#endif

struct TwoNearest {
  int index = -1;        // nearest
  int first = 1 << 20;   // its distance
  int second = 1 << 20;  // the second nearest's
};

// For each row of `query`, the nearest row of `train` by Hamming distance
// and the two smallest distances (ORB descriptors: 32 bytes a row). Ties
// keep the first row.
DYN4D_POPCNT_CLONES
void NearestTwo(const cv::Mat& query, const cv::Mat& train, std::vector<TwoNearest>& out) {
  out.assign(query.rows, TwoNearest{});
  for (int i = 0; i < query.rows; ++i) {
    uint64_t q[4];
    std::memcpy(q, query.ptr(i), sizeof q);
    TwoNearest& best = out[i];
    for (int j = 0; j < train.rows; ++j) {
      uint64_t t[4];
      std::memcpy(t, train.ptr(j), sizeof t);
      const int d = __builtin_popcountll(q[0] ^ t[0]) + __builtin_popcountll(q[1] ^ t[1]) +
                    __builtin_popcountll(q[2] ^ t[2]) + __builtin_popcountll(q[3] ^ t[3]);
      if (d >= best.second) continue;
      if (d < best.first) {
        best.second = best.first, best.first = d, best.index = j;
      } else {
        best.second = d;
      }
    }
  }
}

}  // namespace

std::vector<std::string> PlaceRecognitionConfig::Validate() const {
  std::vector<std::string> p;
  if (node_every_frames < 1) p.push_back("node_every_frames: must be >= 1");
  if (features < 50) p.push_back("features: must be >= 50");
  if (min_gap_frames < 1) p.push_back("min_gap_frames: must be >= 1");
  if (!(max_view_angle_deg > 0 && max_view_angle_deg <= 90))
    p.push_back("max_view_angle_deg: must be in (0, 90]");
  if (max_candidates < 1) p.push_back("max_candidates: must be >= 1");
  if (!(match_ratio > 0 && match_ratio < 1)) p.push_back("match_ratio: must be in (0, 1)");
  if (min_inliers < 6) p.push_back("min_inliers: must be >= 6");
  if (!(reprojection_px > 0)) p.push_back("reprojection_px: must be > 0");
  if (!(max_image_motion_px > 0)) p.push_back("max_image_motion_px: must be > 0");
  if (!(max_forward_backward_deg > 0)) p.push_back("max_forward_backward_deg: must be > 0");
  if (!(max_disagreement_m > 0) || !(max_disagreement_deg > 0))
    p.push_back("max_disagreement_m, max_disagreement_deg: must be > 0");
  if (!(odometry_sigma_m > 0) || !(odometry_sigma_deg > 0) || !(place_sigma_m > 0) ||
      !(place_sigma_deg > 0))
    p.push_back("odometry_sigma_m/deg, place_sigma_m/deg: must be > 0");
  if (!(min_depth_m > 0) || !(max_depth_m > min_depth_m))
    p.push_back("min_depth_m, max_depth_m: need 0 < min < max");
  if (max_nodes_with_features < 1) p.push_back("max_nodes_with_features: must be >= 1");
  if (solve_window_nodes < 2) p.push_back("solve_window_nodes: must be >= 2");
  if (max_frames_in_work < 0) p.push_back("max_frames_in_work: must be >= 0");
  return p;
}

struct PlaceRecognition::Impl {
  PlaceRecognitionConfig c;
  Stats stats;
  // The graph's nodes, node id first_id onwards: older ones are dropped
  // once nothing refers to them (no features, no edge), so a long run's
  // graph stays bounded (about solve_window_nodes + max_nodes_with_features).
  std::deque<Node> nodes;
  size_t first_id = 0;
  std::deque<Edge> edges;  // by newest node, oldest first
  Node& NodeAt(size_t id) { return nodes[id - first_id]; }
  Eigen::Isometry3d correction = Eigen::Isometry3d::Identity();
  std::optional<Eigen::Isometry3d> previous_pose;  // the last frame's tracked pose
  uint64_t frames = 0;
  cv::Ptr<cv::ORB> orb;
  std::vector<TwoNearest> nearest;  // PlaceEdge's scratch

  // What a node's features are made from, copied on the caller's thread
  // (the frame's buffers may be reused once Add returns).
  struct NodeImages {
    cv::Mat grey, allowed;  // mono8; allowed: nonzero where features may be
    cv::Mat depth;          // CV_16U, frame.depth_scale units a metre
    double depth_scale = 1000;
  };
  // One frame's work for the graph: what Add takes from the frame on the
  // caller's thread.
  struct Job {
    uint64_t index = 0;
    Eigen::Isometry3d T = Eigen::Isometry3d::Identity();
    bool node = false;                 // a node of the graph
    std::optional<NodeImages> images;  // its features' source, where the image held still
    pipeline::CameraIntrinsics intrinsics;
  };

  // With max_frames_in_work > 0, Process runs on `worker`; corrections
  // worked out in Submit (max_frames_in_work 0) and not yet taken wait in
  // `done`.
  std::optional<internal::InOrderWorker<Job, Eigen::Isometry3d>> worker;
  std::vector<Eigen::Isometry3d> done;

  explicit Impl(PlaceRecognitionConfig config) : c(std::move(config)) {
    orb = cv::ORB::create(c.features);
  }
  ~Impl() { worker.reset(); }  // its thread uses the members above

  void Submit(const pipeline::RgbdFrame& frame, const pipeline::Image* moving,
              const Eigen::Isometry3d& T, bool usable) {
    Job job = Prepare(frame, moving, T, usable);
    if (c.max_frames_in_work == 0) {
      done.push_back(Process(job));
      return;
    }
    if (!worker) worker.emplace([this](Job& j) { return Process(j); });
    // Unbounded here: Take bounds the frames in work.
    worker->Push(std::move(job), std::numeric_limits<size_t>::max());
  }

  std::vector<Eigen::Isometry3d> Take(int max_in_work) {
    if (worker) return worker->Take(static_cast<size_t>(std::max(0, max_in_work)));
    return std::exchange(done, {});
  }

  // The statistics once the frames given so far are through.
  const Stats& Drained() {
    if (worker) worker->Wait();
    return stats;
  }

  static std::optional<NodeImages> Copy(const pipeline::RgbdFrame& frame,
                                        const pipeline::Image* moving) {
    const pipeline::Image& color = frame.color;
    NodeImages n;
    n.grey = internal::GreyOf(color);
    if (n.grey.empty() || frame.depth.empty() || frame.depth.width != color.width ||
        frame.depth.height != color.height ||
        frame.depth.encoding != pipeline::PixelEncoding::kMono16)
      return std::nullopt;
    if (n.grey.data == color.data.data()) n.grey = n.grey.clone();  // mono8: a view
    n.allowed = cv::Mat(color.height, color.width, CV_8UC1, cv::Scalar(255));
    if (moving && moving->width == color.width && moving->height == color.height &&
        moving->encoding == pipeline::PixelEncoding::kMono8) {
      const cv::Mat m(moving->height, moving->width, CV_8UC1,
                      const_cast<uint8_t*>(moving->data.data()));
      n.allowed.setTo(0, m);
    }
    n.depth =
        cv::Mat(color.height, color.width, CV_16UC1, const_cast<uint8_t*>(frame.depth.data.data()))
            .clone();
    n.depth_scale = frame.depth_scale;
    return n;
  }

  void Describe(const NodeImages& images, Node& node) {
    std::vector<cv::KeyPoint> keypoints;
    orb->detectAndCompute(images.grey, images.allowed, keypoints, node.descriptors);
    node.pixels.reserve(keypoints.size());
    node.depth.reserve(keypoints.size());
    for (const cv::KeyPoint& k : keypoints) {
      const int u = std::clamp(static_cast<int>(std::lround(k.pt.x)), 0, images.depth.cols - 1);
      const int v = std::clamp(static_cast<int>(std::lround(k.pt.y)), 0, images.depth.rows - 1);
      const double z = images.depth.at<uint16_t>(v, u) / images.depth_scale;
      node.pixels.push_back(k.pt);
      node.depth.push_back(z >= c.min_depth_m && z <= c.max_depth_m ? static_cast<float>(z) : 0.f);
    }
  }

  // PnP of `to`'s features against `from`'s points (from's depth), over
  // matches (from index, to index): T_to_from, or nothing.
  std::optional<Eigen::Isometry3d> Pnp(const Node& from, const Node& to,
                                       const std::vector<std::pair<int, int>>& matches,
                                       const pipeline::CameraIntrinsics& K,
                                       const Eigen::Isometry3d& guess) const {
    std::vector<cv::Point3f> object;
    std::vector<cv::Point2f> image;
    for (const auto& [i, j] : matches) {
      const float z = from.depth[i];
      if (z <= 0) continue;
      const cv::Point2f& p = from.pixels[i];
      object.emplace_back((p.x - K.cx) / K.fx * z, (p.y - K.cy) / K.fy * z, z);
      image.push_back(to.pixels[j]);
    }
    if (static_cast<int>(object.size()) < c.min_inliers) return std::nullopt;
    const cv::Matx33d camera(K.fx, 0, K.cx, 0, K.fy, K.cy, 0, 0, 1);
    cv::Mat R, rvec, tvec;
    Eigen::Matrix3d Rg = guess.rotation();
    cv::eigen2cv(Rg, R);
    cv::Rodrigues(R, rvec);
    Eigen::Vector3d tg = guess.translation();
    cv::eigen2cv(tg, tvec);
    std::vector<int> inliers;
    if (!cv::solvePnPRansac(object, image, camera, cv::noArray(), rvec, tvec, true, 200,
                            static_cast<float>(c.reprojection_px), 0.99, inliers) ||
        static_cast<int>(inliers.size()) < c.min_inliers)
      return std::nullopt;
    std::vector<cv::Point3f> object_in;
    std::vector<cv::Point2f> image_in;
    for (int k : inliers) object_in.push_back(object[k]), image_in.push_back(image[k]);
    cv::solvePnPRefineLM(object_in, image_in, camera, cv::noArray(), rvec, tvec);
    cv::Rodrigues(rvec, R);
    Eigen::Matrix3d Re;
    Eigen::Vector3d te;
    cv::cv2eigen(R, Re);
    cv::cv2eigen(tvec, te);
    Eigen::Isometry3d T = Eigen::Isometry3d::Identity();
    T.linear() = Re;
    T.translation() = te;
    return T;
  }

  // The place edge between the new node `a` and an older node `b`, or nothing.
  std::optional<Eigen::Isometry3d> PlaceEdge(const Node& a, const Node& b,
                                             const pipeline::CameraIntrinsics& K) {
    NearestTwo(b.descriptors, a.descriptors, nearest);
    std::vector<std::pair<int, int>> b_to_a, a_to_b;
    for (int i = 0; i < static_cast<int>(nearest.size()); ++i) {
      const TwoNearest& m = nearest[i];
      if (m.index < 0 || m.first >= c.match_ratio * m.second) continue;
      b_to_a.emplace_back(i, m.index);
      a_to_b.emplace_back(m.index, i);
    }
    const Eigen::Isometry3d guess = a.Pose().inverse() * b.Pose();  // T_a_b
    const std::optional<Eigen::Isometry3d> T_a_b = Pnp(b, a, b_to_a, K, guess);
    if (!T_a_b) return std::nullopt;
    const std::optional<Eigen::Isometry3d> T_b_a = Pnp(a, b, a_to_b, K, T_a_b->inverse());
    if (!T_b_a) return std::nullopt;
    if (RotationDeg((*T_b_a) * (*T_a_b)) > c.max_forward_backward_deg) return std::nullopt;
    const Eigen::Isometry3d off = guess.inverse() * (*T_a_b);
    if (off.translation().norm() > c.max_disagreement_m ||
        RotationDeg(off) > c.max_disagreement_deg)
      return std::nullopt;
    return T_a_b;
  }

  // Node ids before the solve window: held where they are.
  size_t WindowStart() const {
    const size_t end = first_id + nodes.size();
    return end > size_t(c.solve_window_nodes) ? end - size_t(c.solve_window_nodes) : 0;
  }

  // Edges wholly before the window are dropped for good (their nodes no
  // longer move), then nodes before it that neither an edge nor a place
  // match can use any more (no features). Changes no solve: neither would
  // take part in it.
  void Forget() {
    const size_t first = WindowStart();
    // Each edge's newest node is the one added with it: oldest first.
    while (!edges.empty() && std::max(edges.front().a, edges.front().b) < first) edges.pop_front();
    size_t oldest_in_edge = std::numeric_limits<size_t>::max();
    for (const Edge& e : edges) oldest_in_edge = std::min({oldest_in_edge, e.a, e.b});
    while (nodes.size() > 1 && first_id < first && first_id < oldest_in_edge &&
           nodes.front().pixels.empty()) {
      nodes.pop_front();
      ++first_id;
    }
    stats.nodes_kept = static_cast<int>(nodes.size());
  }

  void Solve() {
    // Only the newest solve_window_nodes nodes move.
    Forget();
    const size_t first = WindowStart();
    ceres::Problem problem;  // owns the cost, loss and (shared) manifold objects
    for (const Edge& e : edges) {
      Node& a = NodeAt(e.a);
      Node& b = NodeAt(e.b);
      problem.AddResidualBlock(new ceres::AutoDiffCostFunction<RelativePoseError, 6, 4, 3, 4, 3>(
                                   new RelativePoseError(e.T_a_b, e.sigma_m, e.sigma_rad)),
                               new ceres::HuberLoss(2.0), a.q.coeffs().data(), a.t.data(),
                               b.q.coeffs().data(), b.t.data());
    }
    auto* quaternion = new ceres::EigenQuaternionManifold;
    for (Node& n : nodes)
      if (problem.HasParameterBlock(n.q.coeffs().data()))
        problem.SetManifold(n.q.coeffs().data(), quaternion);
    // The gauge: the first node, and every node before the window.
    for (size_t id = first_id; id < first_id + nodes.size() && (id == 0 || id < first); ++id)
      if (problem.HasParameterBlock(NodeAt(id).t.data())) {
        problem.SetParameterBlockConstant(NodeAt(id).q.coeffs().data());
        problem.SetParameterBlockConstant(NodeAt(id).t.data());
      }
    ceres::Solver::Options options;
    options.linear_solver_type = ceres::SPARSE_NORMAL_CHOLESKY;
    // Eigen's: SuiteSparse (CHOLMOD) through the OpenMP BLAS took 6-8 ms an
    // iteration for 560 parameters on two busy cores, 50 times as long.
    options.sparse_linear_algebra_library_type = ceres::EIGEN_SPARSE;
    options.max_num_iterations = 10;
    options.num_threads = 1;
    options.logging_type = ceres::SILENT;
    ceres::Solver::Summary summary;
    ceres::Solve(options, &problem, &summary);
    for (Node& n : nodes) n.q.normalize();
    ++stats.solves;
  }

  Job Prepare(const pipeline::RgbdFrame& frame, const pipeline::Image* moving,
              const Eigen::Isometry3d& T, bool usable) {
    Job job;
    job.index = frames++;
    job.T = T;
    job.intrinsics = frame.intrinsics;
    double motion_px = 0;
    if (previous_pose) {
      const Eigen::Isometry3d d = previous_pose->inverse() * T;
      motion_px = frame.intrinsics.fx *
                  (Eigen::AngleAxisd(d.linear()).angle() + d.translation().norm() / 2.0);
    }
    previous_pose = T;
    job.node = usable && job.index % static_cast<uint64_t>(c.node_every_frames) == 0;
    // Features take their depth at their own pixel: only where colour is
    // registered to depth.
    if (job.node && job.index > 0 && motion_px <= c.max_image_motion_px && frame.color_registered)
      job.images = Copy(frame, moving);
    return job;
  }

  // The graph's side of one frame: its correction.
  Eigen::Isometry3d Process(const Job& job) {
    if (!job.node) return correction;
    const uint64_t index = job.index;
    const Eigen::Isometry3d& T = job.T;
    Node node;
    node.seq = index;
    node.tracked = T;
    const Eigen::Isometry3d start = correction * T;
    node.q = Eigen::Quaterniond(start.rotation());
    node.t = start.translation();
    if (job.images) Describe(*job.images, node);
    if (!node.pixels.empty()) ++stats.nodes_with_features;
    nodes.push_back(std::move(node));
    ++stats.nodes;
    const size_t a = first_id + nodes.size() - 1;
    if (a > first_id) {
      // The tracker's motion since the previous node; its noise grows with
      // the frames in between (lost frames leave gaps).
      const Node& prev = NodeAt(a - 1);
      const double steps = std::max(1.0, double(NodeAt(a).seq - prev.seq) / c.node_every_frames);
      edges.push_back({a - 1, a, prev.tracked.inverse() * NodeAt(a).tracked,
                       c.odometry_sigma_m * std::sqrt(steps),
                       c.odometry_sigma_deg * kDegToRad * std::sqrt(steps)});
    }
    int added = 0;
    const Node& cur = NodeAt(a);
    if (!cur.pixels.empty() && cur.descriptors.rows >= 2) {
      // Older nodes that look the same way, nearest view direction first.
      std::vector<std::pair<double, size_t>> candidates;
      const Eigen::Vector3d axis = cur.Pose().rotation().col(2);
      for (size_t b = first_id; b < a; ++b) {
        const Node& n = NodeAt(b);
        if (n.pixels.empty() || n.descriptors.rows < 2 ||
            n.seq + static_cast<uint64_t>(c.min_gap_frames) > cur.seq)
          continue;
        const double angle =
            std::acos(std::clamp(axis.dot(n.Pose().rotation().col(2)), -1.0, 1.0)) / kDegToRad;
        if (angle <= c.max_view_angle_deg) candidates.emplace_back(angle, b);
      }
      std::sort(candidates.begin(), candidates.end());
      if (candidates.size() > size_t(c.max_candidates)) candidates.resize(c.max_candidates);
      for (const auto& [angle, b] : candidates) {
        ++stats.pairs_tried;
        const std::optional<Eigen::Isometry3d> T_a_b = PlaceEdge(cur, NodeAt(b), job.intrinsics);
        if (!T_a_b) continue;
        edges.push_back({a, b, *T_a_b, c.place_sigma_m, c.place_sigma_deg * kDegToRad});
        ++added;
      }
    }
    stats.place_edges += added;
    if (added > 0) Solve();
    // Old nodes keep their pose (the graph) but not their features.
    if (stats.nodes_with_features > c.max_nodes_with_features) {
      for (Node& n : nodes)
        if (!n.pixels.empty()) {
          n.pixels = {}, n.depth = {}, n.descriptors.release();
          --stats.nodes_with_features;
          break;
        }
    }
    correction = NodeAt(a).Pose() * NodeAt(a).tracked.inverse();
    Forget();
    return correction;
  }
};

PlaceRecognition::PlaceRecognition(PlaceRecognitionConfig config)
    : impl_(std::make_unique<Impl>(std::move(config))) {}
PlaceRecognition::~PlaceRecognition() = default;
PlaceRecognition::PlaceRecognition(PlaceRecognition&&) noexcept = default;

void PlaceRecognition::Submit(const pipeline::RgbdFrame& frame, const pipeline::Image* moving,
                              const Eigen::Isometry3d& T_world_cam, bool usable) {
  impl_->Submit(frame, moving, T_world_cam, usable);
}

std::vector<Eigen::Isometry3d> PlaceRecognition::Take(int max_in_work) {
  return impl_->Take(max_in_work);
}

Eigen::Isometry3d PlaceRecognition::Add(const pipeline::RgbdFrame& frame,
                                        const pipeline::Image* moving,
                                        const Eigen::Isometry3d& T_world_cam, bool usable) {
  impl_->Submit(frame, moving, T_world_cam, usable);
  return impl_->Take(0).back();
}

const PlaceRecognition::Stats& PlaceRecognition::stats() const { return impl_->Drained(); }

}  // namespace dyn4d::perception
