#include "teacher_labels.h"

#include <chrono>
#include <filesystem>
#include <stdexcept>

#include "dyn4d/io/sources.h"
#include "dyn4d/perception/onnx_models.h"
#include "progress.h"

namespace dyn4d::cli {
namespace fs = std::filesystem;

int RunTeacher(const TeacherOptions& o, const std::vector<std::string>& inputs,
               const std::function<void(const TeacherFrame&)>& on_frame) {
  if (o.every < 1) throw std::invalid_argument("--every must be >= 1");
  if (o.min_size_px < 1) throw std::invalid_argument("--min-size must be >= 1");
  perception::YoloxConfig yc;
  yc.model = o.model;
  yc.score_threshold = o.score;
  yc.keep = o.classes;
  perception::YoloxDetector teacher(yc);
  int frames = 0;
  for (const std::string& input : inputs) {
    io::SourceConfig sc;
    sc.path = input;
    sc.max_frames = o.max_frames;
    auto source = io::OpenSource(sc);
    const int64_t total = o.quiet ? 0 : source->SizeHint();
    std::string stem = fs::path(input).filename().string();
    if (stem.empty()) stem = fs::path(input).parent_path().filename().string();
    // MOT17's frames sit in <sequence>/img1: name them after the sequence.
    if (stem == "img1") stem = fs::path(input).parent_path().filename().string();
    ProgressBar bar("teacher " + stem, total > 0 ? total : 0);
    int read = 0;
    for (;;) {
      io::SourceRead r = source->Next();
      if (r.status == io::SourceRead::Status::kEnd) break;
      if (r.status != io::SourceRead::Status::kFrame) continue;
      ++frames, ++read;
      if (total > 0) bar.Update(read);
      if ((r.frame.meta.seq % o.every) != 0) continue;
      TeacherFrame f;
      f.input = input;
      f.stem = stem;
      f.seq = r.frame.meta.seq;
      f.color = &r.frame.color;
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<pipeline::Detection> found = teacher.Detect(r.frame.color);
      f.teacher_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      const float width = float(r.frame.color.width), height = float(r.frame.color.height);
      for (pipeline::Detection& d : found) {
        // Detect() clips to the image; a box that is too thin after
        // clipping is no usable crop.
        const float x1 = std::min(width, d.box.x + d.box.w),
                    y1 = std::min(height, d.box.y + d.box.h);
        const float x0 = std::max(0.f, d.box.x), y0 = std::max(0.f, d.box.y);
        if (x1 - x0 < o.min_size_px || y1 - y0 < o.min_size_px) continue;
        d.box = {x0, y0, x1 - x0, y1 - y0};
        f.detections.push_back(std::move(d));
      }
      on_frame(f);
    }
    bar.Finish();
    if (read == 0) throw std::runtime_error("'" + input + "': no frame could be read");
  }
  return frames;
}

}  // namespace dyn4d::cli
