// dyn4d eval mot: MOTChallenge metrics of tracker results.
#include <cstdio>
#include <stdexcept>

#include "commands.h"
#include "dyn4d/tracking/mot_eval.h"

namespace dyn4d::cli {

int RunMotEval(const MotEvalOptions& o) {
  try {
    if (o.gt.size() != o.res.size() || o.gt.empty())
      throw std::invalid_argument("give as many --res files as --gt files (one pair per sequence)");
    tracking::MotMetrics all;
    tracking::HotaMetrics all_hota;
    std::printf("%-28s %7s %7s %7s %7s %7s %6s %6s %5s %4s %9s\n", "sequence", "IDF1", "IDP", "IDR",
                "Rcll", "Prcn", "FP", "FN", "IDSW", "FM", "MOTA");
    auto row = [](const std::string& name, const tracking::MotMetrics& m) {
      std::printf(
          "%-28s %7.1f %7.1f %7.1f %7.1f %7.1f %6lld %6lld %5lld %4lld %9.1f  MOTP %.1f  "
          "MT/PT/ML %d/%d/%d\n",
          name.c_str(), 100 * m.Idf1(), 100 * m.Idp(), 100 * m.Idr(), 100 * m.Recall(),
          100 * m.Precision(), static_cast<long long>(m.fp), static_cast<long long>(m.fn),
          static_cast<long long>(m.idsw), static_cast<long long>(m.fragmentations), 100 * m.Mota(),
          100 * m.Motp(), m.mostly_tracked, m.partly_tracked, m.mostly_lost);
    };
    auto hota_row = [](const std::string& name, const tracking::HotaMetrics& h) {
      std::printf("%-28s HOTA %.2f  DetA %.2f  AssA %.2f  LocA %.2f\n", name.c_str(),
                  100 * h.Hota(), 100 * h.DetA(), 100 * h.AssA(), 100 * h.LocA());
    };
    std::vector<tracking::HotaMetrics> hotas;
    std::vector<std::string> names;
    for (size_t i = 0; i < o.gt.size(); ++i) {
      const auto gt = tracking::LoadMotFile(o.gt[i], true);
      const auto res = tracking::LoadMotFile(o.res[i], false);
      const auto m = tracking::EvaluateMot(gt, res, o.iou);
      names.push_back(o.res[i].size() > 28 ? "..." + o.res[i].substr(o.res[i].size() - 25)
                                           : o.res[i]);
      row(names.back(), m);
      all += m;
      hotas.push_back(tracking::EvaluateHota(gt, res));
      all_hota += hotas.back();
    }
    if (o.gt.size() > 1) row("combined", all);
    for (size_t i = 0; i < hotas.size(); ++i) hota_row(names[i], hotas[i]);
    if (o.gt.size() > 1) hota_row("combined", all_hota);
    std::printf("idf1 %.6f\n", all.Idf1());
    std::printf("mota %.6f\n", all.Mota());
    std::printf("hota %.6f\n", all_hota.Hota());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d eval mot: %s\n", e.what());
    return 2;
  }
}

}  // namespace dyn4d::cli
