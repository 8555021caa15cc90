#include "dyn4d/perception/onnx_models.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

namespace dyn4d::perception {

const std::vector<std::string>& CocoClasses() {
  // Five names a row, in the order of COCO's class ids.
  // clang-format off
  static const std::vector<std::string> kNames = {
      "person",        "bicycle",      "car",           "motorcycle",    "airplane",
      "bus",           "train",        "truck",         "boat",          "traffic light",
      "fire hydrant",  "stop sign",    "parking meter", "bench",         "bird",
      "cat",           "dog",          "horse",         "sheep",         "cow",
      "elephant",      "bear",         "zebra",         "giraffe",       "backpack",
      "umbrella",      "handbag",      "tie",           "suitcase",      "frisbee",
      "skis",          "snowboard",    "sports ball",   "kite",          "baseball bat",
      "baseball glove", "skateboard",  "surfboard",     "tennis racket", "bottle",
      "wine glass",    "cup",          "fork",          "knife",         "spoon",
      "bowl",          "banana",       "apple",         "sandwich",      "orange",
      "broccoli",      "carrot",       "hot dog",       "pizza",         "donut",
      "cake",          "chair",        "couch",         "potted plant",  "bed",
      "dining table",  "toilet",       "tv",            "laptop",        "mouse",
      "remote",        "keyboard",     "cell phone",    "microwave",     "oven",
      "toaster",       "sink",         "refrigerator",  "book",          "clock",
      "vase",          "scissors",     "teddy bear",    "hair drier",    "toothbrush"};
  // clang-format on
  return kNames;
}

namespace {

// A BGR cv::Mat view (or converted copy) of an image message.
cv::Mat ToBgr(const pipeline::Image& image) {
  const cv::Mat view(image.height, image.width,
                     image.encoding == pipeline::PixelEncoding::kMono8 ? CV_8UC1 : CV_8UC3,
                     const_cast<uint8_t*>(image.data.data()));
  cv::Mat bgr;
  switch (image.encoding) {
    case pipeline::PixelEncoding::kBgr8:
      return view;
    case pipeline::PixelEncoding::kRgb8:
      cv::cvtColor(view, bgr, cv::COLOR_RGB2BGR);
      return bgr;
    case pipeline::PixelEncoding::kMono8:
      cv::cvtColor(view, bgr, cv::COLOR_GRAY2BGR);
      return bgr;
    default:
      throw std::invalid_argument(std::string("image is ") + pipeline::ToString(image.encoding) +
                                  " (needs bgr8, rgb8 or mono8)");
  }
}

cv::dnn::Net LoadOnnx(const std::string& path) {
  if (!std::filesystem::exists(path)) throw std::runtime_error(path + ": no such model file");
  try {
    cv::dnn::Net net = cv::dnn::readNetFromONNX(path);
    if (net.empty()) throw std::runtime_error("empty network");
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    return net;
  } catch (const cv::Exception& e) {
    throw std::runtime_error(path + ": OpenCV DNN cannot load it: " + e.what());
  }
}

}  // namespace

std::vector<std::string> YoloxConfig::Validate() const {
  std::vector<std::string> p;
  if (model.empty()) p.push_back("model: required (a YOLOX .onnx file)");
  if (input_size < 32 || input_size % 32 != 0) p.push_back("input_size: a multiple of 32, >= 32");
  if (!(score_threshold >= 0 && score_threshold <= 1)) p.push_back("score_threshold: in [0, 1]");
  if (!(nms_iou > 0 && nms_iou <= 1)) p.push_back("nms_iou: in (0, 1]");
  const auto& names = classes.empty() ? CocoClasses() : classes;
  for (const std::string& k : keep)
    if (std::find(names.begin(), names.end(), k) == names.end())
      p.push_back("keep: '" + k + "' is not one of the model's classes");
  return p;
}

struct YoloxDetector::Impl {
  YoloxConfig c;
  cv::dnn::Net net;
  std::vector<float> grid_x, grid_y, stride;  // per output row
};

YoloxDetector::YoloxDetector(YoloxConfig config) : impl_(std::make_unique<Impl>()) {
  const auto problems = config.Validate();
  if (!problems.empty()) throw std::runtime_error("YOLOX: " + problems.front());
  Impl& s = *impl_;
  s.c = std::move(config);
  if (s.c.classes.empty()) s.c.classes = CocoClasses();
  s.net = LoadOnnx(s.c.model);
  for (int st : {8, 16, 32}) {
    const int n = s.c.input_size / st;
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x) {
        s.grid_x.push_back(static_cast<float>(x));
        s.grid_y.push_back(static_cast<float>(y));
        s.stride.push_back(static_cast<float>(st));
      }
  }
}
YoloxDetector::~YoloxDetector() = default;
const YoloxConfig& YoloxDetector::config() const { return impl_->c; }

std::vector<pipeline::Detection> YoloxDetector::Detect(const pipeline::Image& image) {
  Impl& s = *impl_;
  const cv::Mat bgr = ToBgr(image);
  const int n = s.c.input_size;
  // Letterbox: scale to fit, top-left, the rest 114 (as YOLOX's preproc).
  const double r = std::min(double(n) / bgr.cols, double(n) / bgr.rows);
  cv::Mat padded(n, n, CV_8UC3, cv::Scalar(114, 114, 114)), resized;
  cv::resize(bgr, resized, cv::Size(int(bgr.cols * r), int(bgr.rows * r)), 0, 0, cv::INTER_LINEAR);
  resized.copyTo(padded(cv::Rect(0, 0, resized.cols, resized.rows)));
  const cv::Mat blob = cv::dnn::blobFromImage(padded, 1.0, cv::Size(), cv::Scalar(), false, false);
  cv::Mat out;
  try {
    s.net.setInput(blob);
    out = s.net.forward();
  } catch (const cv::Exception& e) {
    throw std::runtime_error(s.c.model + ": forward pass failed: " + e.what());
  }
  const int k = static_cast<int>(s.c.classes.size());
  if (out.dims != 3 || out.size[1] != static_cast<int>(s.stride.size()) || out.size[2] != 5 + k)
    throw std::runtime_error(s.c.model + ": output is not YOLOX's 1 x " +
                             std::to_string(s.stride.size()) + " x " + std::to_string(5 + k) +
                             " for input " + std::to_string(n));
  const float* o = out.ptr<float>();
  std::map<int, std::vector<cv::Rect2d>> boxes;
  std::map<int, std::vector<float>> scores;
  for (size_t i = 0; i < s.stride.size(); ++i) {
    const float* row = o + i * (5 + k);
    const float obj = row[4];
    if (obj < s.c.score_threshold) continue;
    const int cls = static_cast<int>(std::max_element(row + 5, row + 5 + k) - (row + 5));
    const float score = obj * row[5 + cls];
    if (score < s.c.score_threshold) continue;
    if (!s.c.keep.empty() &&
        std::find(s.c.keep.begin(), s.c.keep.end(), s.c.classes[cls]) == s.c.keep.end())
      continue;
    const double cx = (row[0] + s.grid_x[i]) * s.stride[i],
                 cy = (row[1] + s.grid_y[i]) * s.stride[i];
    const double w = std::exp(row[2]) * s.stride[i], h = std::exp(row[3]) * s.stride[i];
    boxes[cls].push_back(cv::Rect2d((cx - w / 2) / r, (cy - h / 2) / r, w / r, h / r));
    scores[cls].push_back(score);
  }
  std::vector<pipeline::Detection> dets;
  for (auto& [cls, b] : boxes) {
    std::vector<int> keep;
    cv::dnn::NMSBoxes(b, scores[cls], static_cast<float>(s.c.score_threshold),
                      static_cast<float>(s.c.nms_iou), keep);
    for (int i : keep) {
      const double x0 = std::clamp(b[i].x, 0.0, double(image.width));
      const double y0 = std::clamp(b[i].y, 0.0, double(image.height));
      const double x1 = std::clamp(b[i].x + b[i].width, 0.0, double(image.width));
      const double y1 = std::clamp(b[i].y + b[i].height, 0.0, double(image.height));
      if (x1 - x0 < 1 || y1 - y0 < 1) continue;
      pipeline::Detection d;
      d.box = {float(x0), float(y0), float(x1 - x0), float(y1 - y0)};
      d.class_id = cls;
      d.class_name = s.c.classes[cls];
      d.score = scores[cls][i];
      dets.push_back(std::move(d));
    }
  }
  std::sort(dets.begin(), dets.end(),
            [](const auto& a, const auto& b) { return a.score > b.score; });
  return dets;
}

struct ReidEmbedder::Impl {
  cv::dnn::Net net;
  int width, height;
};

ReidEmbedder::ReidEmbedder(const std::string& model, int width, int height)
    : impl_(std::make_unique<Impl>()) {
  impl_->net = LoadOnnx(model);
  impl_->width = width;
  impl_->height = height;
}
ReidEmbedder::~ReidEmbedder() = default;

std::vector<std::vector<float>> ReidEmbedder::Embed(const pipeline::Image& image,
                                                    const std::vector<pipeline::Box2D>& boxes) {
  Impl& s = *impl_;
  std::vector<std::vector<float>> out(boxes.size());
  if (boxes.empty()) return out;
  const cv::Mat bgr = ToBgr(image);
  std::vector<cv::Mat> crops;
  std::vector<size_t> index;
  for (size_t i = 0; i < boxes.size(); ++i) {
    const auto& b = boxes[i];
    const int x0 = std::clamp(int(b.x), 0, bgr.cols), y0 = std::clamp(int(b.y), 0, bgr.rows);
    const int x1 = std::clamp(int(b.x + b.w), 0, bgr.cols),
              y1 = std::clamp(int(b.y + b.h), 0, bgr.rows);
    if (x1 - x0 < 2 || y1 - y0 < 2) continue;
    cv::Mat crop, rgb;
    cv::resize(bgr(cv::Rect(x0, y0, x1 - x0, y1 - y0)), crop, cv::Size(s.width, s.height), 0, 0,
               cv::INTER_LINEAR);
    cv::cvtColor(crop, rgb, cv::COLOR_BGR2RGB);
    cv::Mat f;
    rgb.convertTo(f, CV_32FC3, 1.0 / 255);
    cv::subtract(f, cv::Scalar(0.485, 0.456, 0.406), f);
    cv::divide(f, cv::Scalar(0.229, 0.224, 0.225), f);
    crops.push_back(f);
    index.push_back(i);
  }
  for (size_t k = 0; k < index.size(); ++k) {
    // One crop at a time: exported re-id models often fix the batch at 1.
    cv::Mat feats;
    try {
      s.net.setInput(cv::dnn::blobFromImage(crops[k], 1.0, cv::Size(), cv::Scalar(), false, false));
      feats = s.net.forward();
    } catch (const cv::Exception& e) {
      throw std::runtime_error(std::string("re-identification network failed: ") + e.what());
    }
    feats = feats.reshape(1, 1);
    const float* row = feats.ptr<float>(0);
    std::vector<float> v(row, row + feats.cols);
    double norm = 0;
    for (float x : v) norm += double(x) * x;
    norm = std::sqrt(norm);
    if (norm > 0)
      for (float& x : v) x = static_cast<float>(x / norm);
    out[index[k]] = std::move(v);
  }
  return out;
}

}  // namespace dyn4d::perception
