// dyn4d label: a teacher detector (YOLOX, ONNX) run over the user's own
// frames writes labelled crops in the image-folder layout that
// `dyn4d train` (dataset: image_folder) learns from. The teacher is needed
// here only, never at run time.
#include <cstdio>
#include <filesystem>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "commands.h"
#include "dyn4d/io/sources.h"
#include "dyn4d/perception/onnx_models.h"
#include "progress.h"

namespace dyn4d::cli {
namespace fs = std::filesystem;

int RunLabel(const LabelOptions& o) {
  try {
    if (o.every < 1) throw std::invalid_argument("--every must be >= 1");
    if (o.min_size_px < 1) throw std::invalid_argument("--min-size must be >= 1");
    perception::YoloxConfig yc;
    yc.model = o.teacher;
    yc.score_threshold = o.score;
    yc.keep = o.classes;
    perception::YoloxDetector teacher(yc);
    fs::create_directories(o.out_dir);
    std::map<std::string, int> written;
    int frames = 0, used = 0;
    for (const std::string& input : o.inputs) {
      io::SourceConfig sc;
      sc.path = input;
      sc.max_frames = o.max_frames;
      auto source = io::OpenSource(sc);
      const int64_t total = source->SizeHint();
      ProgressBar bar("label " + fs::path(input).filename().string(), total > 0 ? total : 0);
      std::string stem = fs::path(input).filename().string();
      if (stem.empty()) stem = fs::path(input).parent_path().filename().string();
      for (;;) {
        io::SourceRead r = source->Next();
        if (r.status == io::SourceRead::Status::kEnd) break;
        if (r.status != io::SourceRead::Status::kFrame) continue;
        ++frames;
        if (total > 0) bar.Update(frames);
        if ((r.frame.meta.seq % o.every) != 0) continue;
        ++used;
        const pipeline::Image& c = r.frame.color;
        const cv::Mat view(c.height, c.width,
                           c.encoding == pipeline::PixelEncoding::kMono8 ? CV_8UC1 : CV_8UC3,
                           const_cast<uint8_t*>(c.data.data()));
        cv::Mat bgr;
        if (c.encoding == pipeline::PixelEncoding::kRgb8)
          cv::cvtColor(view, bgr, cv::COLOR_RGB2BGR);
        else
          bgr = view;
        int k = 0;
        for (const pipeline::Detection& d : teacher.Detect(c)) {
          if (d.box.w < o.min_size_px || d.box.h < o.min_size_px) continue;
          const cv::Rect box(static_cast<int>(d.box.x), static_cast<int>(d.box.y),
                             static_cast<int>(d.box.w), static_cast<int>(d.box.h));
          const cv::Rect inside = box & cv::Rect(0, 0, bgr.cols, bgr.rows);
          if (inside.area() <= 0) continue;
          const fs::path dir = fs::path(o.out_dir) / d.class_name;
          fs::create_directories(dir);
          char name[64];
          std::snprintf(name, sizeof name, "_%06llu_%02d.png",
                        static_cast<unsigned long long>(r.frame.meta.seq), k++);
          const std::string path = (dir / (stem + name)).string();
          if (!cv::imwrite(path, bgr(inside)))
            throw std::runtime_error("cannot write '" + path + "' (disk full?)");
          ++written[d.class_name];
        }
      }
      bar.Finish();
    }
    std::printf("%d frames read, %d labelled by the teacher (every %d), crops in %s:\n", frames,
                used, o.every, o.out_dir.c_str());
    int all = 0;
    for (const auto& [cls, n] : written) std::printf("  %-16s %6d\n", cls.c_str(), n), all += n;
    std::printf("crops %d\n", all);
    if (all == 0) {
      std::fprintf(stderr, "dyn4d label: the teacher found nothing (score >= %.2f%s)\n", o.score,
                   o.classes.empty() ? "" : " in the given classes");
      return 1;
    }
    std::printf(
        "train on them: set `dataset: image_folder`, net.num_classes %zu and classes in a "
        "model file, then dyn4d train MODEL --data %s\n",
        written.size(), o.out_dir.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dyn4d label: %s\n", e.what());
    return 2;
  }
}

}  // namespace dyn4d::cli
