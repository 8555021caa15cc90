#pragma once
// A teacher detector (YOLOX, ONNX) run over the user's own frames: every box
// it finds, with the frame it came from. Shared by `dyn4d label` (crops to
// an image folder), `dyn4d train` (dataset: teacher) and
// `dyn4d bench recognition --teacher` (agreement on held-out sequences).
#include <functional>
#include <string>
#include <vector>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::cli {

struct TeacherOptions {
  std::string model;                 ///< YOLOX .onnx
  double score = 0.5;                ///< teacher score threshold
  std::vector<std::string> classes;  ///< keep only these teacher classes (empty: all)
  int every = 1;                     ///< label every N-th frame
  int max_frames = 0;                ///< per input, 0 = all
  int min_size_px = 16;              ///< smaller boxes are no usable crop
  bool quiet = false;                ///< no progress bars
};

/// One labelled frame: the image, what the teacher found in it (boxes inside
/// the image, at least min_size_px on each side) and the teacher's time.
struct TeacherFrame {
  std::string input;  ///< the input it came from
  std::string stem;   ///< a short name of that input (file or folder name)
  uint64_t seq = 0;
  const pipeline::Image* color = nullptr;
  std::vector<pipeline::Detection> detections;
  double teacher_ms = 0;
};

/// Runs the teacher over `inputs` (anything `--input` takes) and calls
/// `on_frame` for every labelled frame. Throws naming the input when it
/// cannot be read. Returns the number of frames read.
int RunTeacher(const TeacherOptions& options, const std::vector<std::string>& inputs,
               const std::function<void(const TeacherFrame&)>& on_frame);

}  // namespace dyn4d::cli
