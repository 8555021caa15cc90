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
#include "teacher_labels.h"

namespace dyn4d::cli {
namespace fs = std::filesystem;

int RunLabel(const LabelOptions& o) {
  // `--classes person chair VIDEO` reads chair as an input: say so.
  for (const std::string& in : o.inputs)
    if (!fs::exists(in) && in.find_first_of("/.") == std::string::npos) {
      std::fprintf(stderr,
                   "dyn4d label: input '%s' does not exist; if it is a class, give one class per "
                   "--classes (--classes person --classes %s)\n",
                   in.c_str(), in.c_str());
      return 2;
    }
  try {
    TeacherOptions t;
    t.model = o.teacher;
    t.score = o.score;
    t.classes = o.classes;
    t.every = o.every;
    t.max_frames = o.max_frames;
    t.min_size_px = o.min_size_px;
    fs::create_directories(o.out_dir);
    std::map<std::string, int> written;
    int used = 0;
    const int frames = RunTeacher(t, o.inputs, [&](const TeacherFrame& f) {
      ++used;
      const pipeline::Image& c = *f.color;
      const cv::Mat view(c.height, c.width,
                         c.encoding == pipeline::PixelEncoding::kMono8 ? CV_8UC1 : CV_8UC3,
                         const_cast<uint8_t*>(c.data.data()));
      cv::Mat bgr;
      if (c.encoding == pipeline::PixelEncoding::kRgb8)
        cv::cvtColor(view, bgr, cv::COLOR_RGB2BGR);
      else
        bgr = view;
      int k = 0;
      for (const pipeline::Detection& d : f.detections) {
        const cv::Rect box(static_cast<int>(d.box.x), static_cast<int>(d.box.y),
                           static_cast<int>(d.box.w), static_cast<int>(d.box.h));
        const cv::Rect inside = box & cv::Rect(0, 0, bgr.cols, bgr.rows);
        if (inside.area() <= 0) continue;
        const fs::path dir = fs::path(o.out_dir) / d.class_name;
        fs::create_directories(dir);
        char name[64];
        std::snprintf(name, sizeof name, "_%06llu_%02d.png", static_cast<unsigned long long>(f.seq),
                      k++);
        const std::string path = (dir / (f.stem + name)).string();
        if (!cv::imwrite(path, bgr(inside)))
          throw std::runtime_error("cannot write '" + path + "' (disk full?)");
        ++written[d.class_name];
      }
    });
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
