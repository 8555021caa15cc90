#include "dyn4d/perception/trajectory_eval.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "../common/test_stages.h"

using namespace dyn4d::perception;

namespace {
StampedPose P(double t, double x, double y, double z) {
  StampedPose p;
  p.t_s = t;
  p.T_world_cam.translation() = Eigen::Vector3d(x, y, z);
  return p;
}
}  // namespace

TEST_CASE("ATE and RPE of a hand-computed case", "[perception][eval]") {
  // Ground truth: a unit square. Estimate: the same square in another frame
  // (rotated 90 deg about z, shifted), with z errors +e, -e, +e, -e: no
  // rigid motion can remove them (they neither shift the centroid nor tilt),
  // so ATE = e, and each step's relative translation is off by 2e.
  const double e = 0.01;
  std::vector<StampedPose> gt = {P(0, 0, 0, 0), P(1, 1, 0, 0), P(2, 1, 1, 0), P(3, 0, 1, 0)};
  Eigen::Isometry3d A = Eigen::Isometry3d::Identity();
  A.linear() = Eigen::AngleAxisd(M_PI / 2, Eigen::Vector3d::UnitZ()).toRotationMatrix();
  A.translation() = Eigen::Vector3d(5, -2, 1);
  std::vector<std::pair<StampedPose, StampedPose>> pairs;
  for (size_t i = 0; i < gt.size(); ++i) {
    StampedPose est = gt[i];
    est.T_world_cam.translation().z() += (i % 2 ? -e : e);
    est.T_world_cam = A * est.T_world_cam;
    pairs.push_back({est, gt[i]});
  }
  TrajectoryErrors r = EvaluateTrajectory(pairs);
  CHECK(r.pairs == 4);
  CHECK(r.ate_rmse_m == Approx(e).epsilon(1e-6));
  CHECK(r.ate_max_m == Approx(e).epsilon(1e-6));
  CHECK(r.rpe_trans_rmse_m == Approx(2 * e).epsilon(1e-6));
  CHECK(r.rpe_rot_rmse_deg == Approx(0).margin(1e-9));
  // The alignment undoes A.
  CHECK((r.alignment * A).matrix().isApprox(Eigen::Matrix4d::Identity(), 1e-9));
}

TEST_CASE("ground truth is interpolated at the estimate's time", "[perception][eval]") {
  std::vector<StampedPose> gt = {P(0.0, 0, 0, 0), P(0.01, 0.01, 0, 0)};
  gt[1].T_world_cam.linear() =
      Eigen::AngleAxisd(2 * M_PI / 180, Eigen::Vector3d::UnitZ()).toRotationMatrix();
  const auto pairs = Associate({P(0.0025, 0, 0, 0)}, gt, 0.02);
  REQUIRE(pairs.size() == 1);
  const Eigen::Isometry3d& g = pairs[0].second.T_world_cam;
  CHECK(g.translation().x() == Approx(0.0025));  // a quarter of the way, not the nearest sample
  CHECK(Eigen::AngleAxisd(g.linear()).angle() == Approx(0.5 * M_PI / 180));
  CHECK(Associate({P(0.5, 0, 0, 0)}, gt, 0.02).empty());  // after the ground truth ends
}

TEST_CASE("Rotation errors show in RPE and association pairs within 0.02 s", "[perception][eval]") {
  std::vector<StampedPose> gt, est;
  for (int i = 0; i < 10; ++i) {
    gt.push_back(P(i * 0.1, i * 0.1, 0, 0));
    StampedPose e = P(i * 0.1 + 0.005, i * 0.1, 0, 0);
    // 1 degree more rotation about z every frame.
    e.T_world_cam.linear() =
        Eigen::AngleAxisd(i * M_PI / 180, Eigen::Vector3d::UnitZ()).toRotationMatrix();
    est.push_back(e);
  }
  est.push_back(P(5.0, 0, 0, 0));  // no ground truth near: not associated
  auto pairs = Associate(est, gt, 0.02);
  REQUIRE(pairs.size() == 10);
  TrajectoryErrors r = EvaluateTrajectory(pairs);
  CHECK(r.rpe_rot_rmse_deg == Approx(1.0).epsilon(1e-6));
  CHECK(Associate(est, gt, 0.001).empty());
  CHECK_THROWS_WITH(EvaluateTrajectory({}), Catch::Contains("at least 3"));
}

TEST_CASE("TUM trajectory files are read and bad lines named", "[perception][eval][bad-input]") {
  const std::string dir = dyn4d::test::TempDir("traj");
  std::ofstream(dir + "/t.txt")
      << "# comment\n2.0 1 2 3 0 0 0 1\n1.0 0 0 0 0 0 0.7071068 0.7071068\n";
  auto t = ReadTumTrajectory(dir + "/t.txt");
  REQUIRE(t.size() == 2);
  CHECK(t[0].t_s == 1.0);  // sorted by time
  CHECK(t[1].T_world_cam.translation().y() == 2);
  std::ofstream(dir + "/bad.txt") << "1.0 0 0 0 0 0 0\n";
  CHECK_THROWS_WITH(ReadTumTrajectory(dir + "/bad.txt"), Catch::Contains("line 1"));
  std::ofstream(dir + "/q.txt") << "1.0 0 0 0 0 0 0 2\n";
  CHECK_THROWS_WITH(ReadTumTrajectory(dir + "/q.txt"), Catch::Contains("unit norm"));
}
