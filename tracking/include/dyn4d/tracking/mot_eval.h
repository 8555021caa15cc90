#pragma once
/// \file
/// MOTChallenge evaluation: CLEAR-MOT (MOTA, MOTP, FP, FN, IDSW, FM, MT/PT/ML)
/// and IDF1, with the devkit's conventions (IoU >= 0.5 matches; per frame,
/// correspondences of the previous frame are kept when still valid, the rest
/// by minimum-cost assignment on 1 - IoU; IDF1 from the global id matching).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dyn4d::tracking {

struct MotBox {
  int64_t id = -1;
  double x = 0, y = 0, w = 0, h = 0;  ///< top-left corner and size, pixels
  double conf = 1;                    ///< column 7: detector score (det.txt), consider flag (gt)
};

/// One sequence: frame number -> boxes.
using MotSequence = std::map<int, std::vector<MotBox>>;

/// Reads a MOTChallenge text file ("frame,id,x,y,w,h,conf,..."). For ground
/// truth, rows whose conf (the MOT16+ "consider" flag) is 0 are left out.
/// Throws std::runtime_error naming the file and line for malformed rows
/// (too few fields, non-numbers, NaN, negative sizes, frame < 1).
MotSequence LoadMotFile(const std::string& path, bool ground_truth);

struct MotMetrics {
  int64_t gt = 0, predictions = 0;  ///< boxes
  int64_t matches = 0, fp = 0, fn = 0, idsw = 0, fragmentations = 0;
  int mostly_tracked = 0, partly_tracked = 0, mostly_lost = 0;  ///< >= 80 %, else, < 20 %
  double iou_sum = 0;                                           ///< over matches
  int64_t idtp = 0, idfp = 0, idfn = 0;
  double Mota() const { return gt ? 1.0 - double(fn + fp + idsw) / double(gt) : 0; }
  double Motp() const { return matches ? iou_sum / double(matches) : 0; }  ///< mean IoU
  double Recall() const { return gt ? double(matches) / double(gt) : 0; }
  double Precision() const { return predictions ? double(matches) / double(predictions) : 0; }
  double Idf1() const { return gt + predictions ? 2.0 * idtp / double(gt + predictions) : 0; }
  double Idp() const { return predictions ? double(idtp) / double(predictions) : 0; }
  double Idr() const { return gt ? double(idtp) / double(gt) : 0; }
  /// Sums counts (several sequences evaluated together).
  MotMetrics& operator+=(const MotMetrics& o);
};

double Iou(const MotBox& a, const MotBox& b);

/// HOTA (Luiten et al., IJCV 2021) as TrackEval computes it: per localisation
/// threshold alpha in 0.05, 0.10, ..., 0.95, matches maximise IoU weighted
/// by the global alignment of their ids; HOTA_alpha = sqrt(DetA * AssA);
/// the reported figures are means over alpha.
struct HotaMetrics {
  static constexpr int kAlphas = 19;
  std::array<double, kAlphas> tp{}, fn{}, fp{};  ///< per alpha (counts)
  std::array<double, kAlphas> ass_a_tp{};        ///< AssA x TP, per alpha (to combine)
  std::array<double, kAlphas> loc_sum{};         ///< summed IoU of matches, per alpha
  double DetA(int a) const { return tp[a] / std::max(1.0, tp[a] + fn[a] + fp[a]); }
  double AssA(int a) const { return ass_a_tp[a] / std::max(1.0, tp[a]); }
  double HotaAt(int a) const { return std::sqrt(DetA(a) * AssA(a)); }
  double Hota() const;  ///< mean over alpha
  double DetA() const;
  double AssA() const;
  double LocA() const;
  HotaMetrics& operator+=(const HotaMetrics& o);
};
HotaMetrics EvaluateHota(const MotSequence& gt, const MotSequence& results);

/// Evaluates one sequence's results against its ground truth.
MotMetrics EvaluateMot(const MotSequence& gt, const MotSequence& results,
                       double iou_threshold = 0.5);

}  // namespace dyn4d::tracking
