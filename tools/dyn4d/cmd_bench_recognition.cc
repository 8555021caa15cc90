// dyn4d bench recognition: Dyn-Perceiver against the linear-exit baseline
// and the static network on the Fashion-MNIST test set — accuracy per exit,
// accuracy vs expected GFLOPs under dynamic inference, CPU latency and
// throughput, and the speed-up at equal accuracy.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "commands.h"
#include "dyn4d/recognition/training.h"
#include "progress.h"
#include "recognition_common.h"

namespace dyn4d::cli {
namespace fs = std::filesystem;
namespace rec = dyn4d::recognition;
using torch::Tensor;

namespace {

struct Curve {
  std::string label;
  std::vector<double> gflops, accuracy;
  std::vector<std::vector<float>> thresholds;
};

struct Evaluated {
  perception::RecognitionModelSpec spec;
  std::shared_ptr<rec::MultiExitNet> net;
  std::vector<double> exit_gflops;
  Tensor test_logits;
  rec::ExitScores test, calibration;
};

Evaluated Evaluate(const std::string& file, const rec::ImageDataset& test,
                   const rec::ImageDataset& cal) {
  Evaluated e;
  e.spec = perception::LoadRecognitionModelSpec(file);
  e.net = LoadTrainedNet(e.spec);
  e.net->PrepareInference();
  e.exit_gflops = e.net->ExitGflops();
  e.test_logits = rec::ExitLogits(*e.net, test, e.spec.net.image_size);
  e.test = ScoresFromLogits(e.test_logits, test.labels);
  if (e.spec.kind != rec::ModelKind::kStatic)
    e.calibration =
        ScoresFromLogits(rec::ExitLogits(*e.net, cal, e.spec.net.image_size), cal.labels);
  return e;
}

// The official budget sweep: thresholds from the calibration set, accuracy
// and expected GFLOPs on the test set.
Curve DynamicCurve(const Evaluated& e, const std::string& label) {
  Curve c;
  c.label = label;
  for (const auto& p : rec::OfficialExitDistributions(e.calibration.exits)) {
    const auto t = rec::ThresholdsForDistribution(e.calibration, p);
    const auto r = rec::EvaluateThresholds(e.test, t, e.exit_gflops);
    c.gflops.push_back(r.expected_cost);
    c.accuracy.push_back(100 * r.accuracy);
    c.thresholds.push_back(t);
  }
  return c;
}

double MeanMs(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / std::max<size_t>(1, v.size());
}

// Mean per-image latency of fn over the images at batch 1, and images/s at
// batch 32, after a warm-up pass.
struct Speed {
  double b1_ms = 0, b32_images_per_s = 0;
};
template <typename Fn>
Speed Measure(const Tensor& images, Fn&& fn) {
  torch::InferenceMode inference;
  const int64_t n = images.size(0);
  for (int64_t i = 0; i < std::min<int64_t>(n, 20); ++i) fn(images.narrow(0, i, 1));
  std::vector<double> ms;
  for (int64_t i = 0; i < n; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn(images.narrow(0, i, 1));
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  Speed s;
  s.b1_ms = MeanMs(ms);
  fn(images.narrow(0, 0, 32));
  const auto t0 = std::chrono::steady_clock::now();
  int64_t done = 0;
  for (int64_t i = 0; i + 32 <= n; i += 32, done += 32) fn(images.narrow(0, i, 32));
  s.b32_images_per_s =
      done / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

void Plot(const std::vector<Curve>& curves, double static_gflops, double static_acc,
          const std::string& path) {
  const int W = 900, H = 600, L = 90, R = 30, T = 50, B = 70;
  cv::Mat img(H, W, CV_8UC3, cv::Scalar(255, 255, 255));
  double x0 = 1e9, x1 = 0, y0 = 100, y1 = 0;
  for (const auto& c : curves)
    for (size_t i = 0; i < c.gflops.size(); ++i) {
      x0 = std::min(x0, c.gflops[i]), x1 = std::max(x1, c.gflops[i]);
      y0 = std::min(y0, c.accuracy[i]), y1 = std::max(y1, c.accuracy[i]);
    }
  x0 = std::min(x0, static_gflops), x1 = std::max(x1, static_gflops);
  y0 = std::min(y0, static_acc), y1 = std::max(y1, static_acc);
  const double xm = (x1 - x0) * 0.05, ym = (y1 - y0) * 0.08 + 0.1;
  x0 -= xm, x1 += xm, y0 -= ym, y1 += ym;
  auto px = [&](double x, double y) {
    return cv::Point(L + int((x - x0) / (x1 - x0) * (W - L - R)),
                     H - B - int((y - y0) / (y1 - y0) * (H - T - B)));
  };
  const cv::Scalar grey(200, 200, 200), black(0, 0, 0);
  const auto font = cv::FONT_HERSHEY_SIMPLEX;
  for (int i = 0; i <= 5; ++i) {
    const double x = x0 + (x1 - x0) * i / 5, y = y0 + (y1 - y0) * i / 5;
    cv::line(img, px(x, y0), px(x, y1), grey, 1);
    cv::line(img, px(x0, y), px(x1, y), grey, 1);
    char b[32];
    std::snprintf(b, sizeof(b), "%.4f", x);
    cv::putText(img, b, px(x, y0) + cv::Point(-30, 22), font, 0.45, black, 1, cv::LINE_AA);
    std::snprintf(b, sizeof(b), "%.1f", y);
    cv::putText(img, b, px(x0, y) + cv::Point(-50, 5), font, 0.45, black, 1, cv::LINE_AA);
  }
  cv::rectangle(img, px(x0, y1), px(x1, y0), black, 1);
  cv::putText(img, "expected GFLOPs per image", cv::Point(W / 2 - 110, H - 20), font, 0.55, black,
              1, cv::LINE_AA);
  cv::putText(img, "top-1 %", cv::Point(10, T - 15), font, 0.55, black, 1, cv::LINE_AA);
  cv::putText(img, "Fashion-MNIST test: dynamic inference (official budget sweep)",
              cv::Point(L, 30), font, 0.6, black, 1, cv::LINE_AA);
  const cv::Scalar colors[] = {cv::Scalar(200, 80, 0), cv::Scalar(0, 120, 230)};
  for (size_t c = 0; c < curves.size(); ++c) {
    std::vector<std::pair<double, double>> pts;
    for (size_t i = 0; i < curves[c].gflops.size(); ++i)
      pts.push_back({curves[c].gflops[i], curves[c].accuracy[i]});
    std::sort(pts.begin(), pts.end());
    for (size_t i = 0; i < pts.size(); ++i) {
      cv::circle(img, px(pts[i].first, pts[i].second), 3, colors[c % 2], cv::FILLED, cv::LINE_AA);
      if (i)
        cv::line(img, px(pts[i - 1].first, pts[i - 1].second), px(pts[i].first, pts[i].second),
                 colors[c % 2], 2, cv::LINE_AA);
    }
    cv::line(img, cv::Point(W - 330, H - B - 60 + 22 * int(c)),
             cv::Point(W - 300, H - B - 60 + 22 * int(c)), colors[c % 2], 2);
    cv::putText(img, curves[c].label, cv::Point(W - 292, H - B - 55 + 22 * int(c)), font, 0.5,
                black, 1, cv::LINE_AA);
  }
  cv::drawMarker(img, px(static_gflops, static_acc), cv::Scalar(0, 0, 200), cv::MARKER_STAR, 16, 2);
  cv::putText(img, "static (last exit only)", px(static_gflops, static_acc) + cv::Point(-200, -10),
              font, 0.5, cv::Scalar(0, 0, 200), 1, cv::LINE_AA);
  if (!fs::path(path).parent_path().empty()) fs::create_directories(fs::path(path).parent_path());
  if (!cv::imwrite(path, img)) throw std::runtime_error(path + ": cannot write the plot");
}

}  // namespace

int RunRecognitionBench(const RecognitionBenchOptions& o) {
  try {
    SetTorchThreads(o.threads);
    const auto test = rec::LoadFashionMnist("test", o.data_dir);
    const auto cal = CalibrationSplit(rec::LoadFashionMnist("train", o.data_dir));
    const fs::path dir(o.models_dir);
    std::printf(
        "Fashion-MNIST test set (%lld images); thresholds calibrated on the %lld held-out "
        "training images; %d torch threads\n",
        static_cast<long long>(test.size()), static_cast<long long>(cal.size()),
        torch::get_num_threads());
    const Evaluated dyn = Evaluate((dir / "fashion_mnist_dyn_perceiver.yaml").string(), test, cal);
    const Evaluated lin = Evaluate((dir / "fashion_mnist_linear_exits.yaml").string(), test, cal);
    const Evaluated sta = Evaluate((dir / "fashion_mnist_static.yaml").string(), test, cal);

    auto exit_accuracy = [](const rec::ExitScores& s, int k) {
      return 100 * rec::ExitAccuracy(s, k);
    };
    // How often an exit predicts what the last exit predicts: early exits
    // only lose accuracy where they disagree with it.
    auto agreement = [](const Tensor& pred, int k) {
      return 100 * pred.select(1, k)
                       .eq(pred.select(1, pred.size(1) - 1))
                       .to(torch::kDouble)
                       .mean()
                       .item<double>();
    };
    std::printf("\n%-16s %-5s %9s %10s %18s\n", "model", "exit", "top-1 %", "GFLOPs",
                "same as last %");
    for (const Evaluated* e : {&dyn, &lin, &sta}) {
      const Tensor pred = e->test_logits.argmax(2);
      for (int k = 0; k < e->test.exits; ++k)
        std::printf("%-16s %-5d %9.2f %10.5f %18.2f\n", rec::ModelKindName(e->spec.kind), k + 1,
                    exit_accuracy(e->test, k), e->exit_gflops[k], agreement(pred, k));
    }
    const double static_acc = exit_accuracy(sta.test, sta.test.exits - 1);
    const double static_gflops = sta.exit_gflops.back();

    const Curve dyn_curve = DynamicCurve(dyn, "Dyn-Perceiver");
    const Curve lin_curve = DynamicCurve(lin, "linear-exit CNN");
    std::printf("\ndynamic inference, official budget sweep (33 exit distributions):\n");
    std::printf("%-7s %-28s %-28s\n", "budget", "Dyn-Perceiver top-1 / GFLOPs",
                "linear exits top-1 / GFLOPs");
    for (size_t i = 0; i < dyn_curve.gflops.size(); ++i)
      std::printf("%-7zu %8.2f %% / %-16.5f %8.2f %% / %.5f\n", i, dyn_curve.accuracy[i],
                  dyn_curve.gflops[i], lin_curve.accuracy[i], lin_curve.gflops[i]);
    std::printf("static network: %.2f %% at %.5f GFLOPs\n", static_acc, static_gflops);
    Plot({dyn_curve, lin_curve}, static_gflops, static_acc, o.plot);
    std::printf("plot: %s\n", o.plot.c_str());

    // The cheapest budget whose accuracy is within 0.3 points of static.
    int pick = -1;
    for (size_t i = 0; i < dyn_curve.gflops.size(); ++i)
      if (dyn_curve.accuracy[i] >= static_acc - 0.3 &&
          (pick < 0 || dyn_curve.gflops[i] < dyn_curve.gflops[pick]))
        pick = static_cast<int>(i);
    if (pick < 0) {
      std::printf("no budget reaches within 0.3 points of the static accuracy\n");
      std::printf("speedup_at_equal_accuracy 0\n");
      return 1;
    }
    const auto& t = dyn_curve.thresholds[pick];
    std::printf(
        "\nbudget %d: %.2f %% at %.5f GFLOPs (static %.2f %% at %.5f), thresholds %.4g "
        "%.4g %.4g\n",
        pick, dyn_curve.accuracy[pick], dyn_curve.gflops[pick], static_acc, static_gflops, t[0],
        t[1], t[2]);
    const Tensor images =
        rec::PrepareImages(test.images.narrow(0, 0, o.latency_images), dyn.spec.net.image_size);
    const Speed dyn_speed =
        Measure(images, [&](const Tensor& x) { dyn.net->ForwardDynamic(x, t); });
    const Speed sta_speed =
        Measure(images, [&](const Tensor& x) { sta.net->ForwardUntil(x, sta.net->num_exits()); });
    std::printf("latency on %d test images, %d threads:\n", o.latency_images,
                torch::get_num_threads());
    std::printf("%-28s %12s %18s\n", "", "batch 1 ms", "batch 32 images/s");
    std::printf("%-28s %12.3f %18.0f\n", "static (full network)", sta_speed.b1_ms,
                sta_speed.b32_images_per_s);
    std::printf("%-28s %12.3f %18.0f\n", "Dyn-Perceiver dynamic", dyn_speed.b1_ms,
                dyn_speed.b32_images_per_s);
    std::printf("batch-32 throughput gain %.2fx\n",
                dyn_speed.b32_images_per_s / sta_speed.b32_images_per_s);
    std::printf("speedup_at_equal_accuracy %.2f\n", sta_speed.b1_ms / dyn_speed.b1_ms);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d bench recognition: %s\n", e.what());
    return 2;
  }
}

}  // namespace dyn4d::cli
