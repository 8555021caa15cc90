#include "dyn4d/pipeline/messages.h"

#include <cstdlib>
#include <iterator>

namespace dyn4d::pipeline {

Buffer Buffer::Allocate(size_t size) {
  // calloc: zeroed and released with free; a shared_ptr<const void> owns it.
  void* raw = size ? std::calloc(size, 1) : nullptr;
  if (size && !raw) throw std::bad_alloc();
  std::shared_ptr<const void> owner(raw, [](const void* p) { std::free(const_cast<void*>(p)); });
  return Buffer(std::move(owner), static_cast<const uint8_t*>(raw), size);
}

Buffer Buffer::CopyOf(const void* data, size_t size) {
  Buffer b = Allocate(size);
  if (size) std::memcpy(b.mutable_data(), data, size);
  return b;
}

std::string ToString(PixelEncoding e) {
  switch (e) {
    case PixelEncoding::kBgr8:
      return "bgr8";
    case PixelEncoding::kRgb8:
      return "rgb8";
    case PixelEncoding::kMono8:
      return "mono8";
    case PixelEncoding::kMono16:
      return "mono16";
    case PixelEncoding::kFloat32:
      return "32FC1";
  }
  return "unknown";
}

std::optional<PixelEncoding> PixelEncodingFromString(const std::string& s) {
  for (auto e : {PixelEncoding::kBgr8, PixelEncoding::kRgb8, PixelEncoding::kMono8,
                 PixelEncoding::kMono16, PixelEncoding::kFloat32}) {
    if (ToString(e) == s) return e;
  }
  return std::nullopt;
}

int Channels(PixelEncoding e) {
  return (e == PixelEncoding::kBgr8 || e == PixelEncoding::kRgb8) ? 3 : 1;
}

int BytesPerChannel(PixelEncoding e) {
  switch (e) {
    case PixelEncoding::kMono16:
      return 2;
    case PixelEncoding::kFloat32:
      return 4;
    default:
      return 1;
  }
}

Image Image::Allocate(int width, int height, PixelEncoding encoding) {
  Image img;
  img.width = width;
  img.height = height;
  img.encoding = encoding;
  img.data = Buffer::Allocate(img.ExpectedBytes());
  return img;
}

std::string ToString(PoseStatus s) {
  switch (s) {
    case PoseStatus::kOk:
      return "ok";
    case PoseStatus::kLost:
      return "lost";
    case PoseStatus::kGroundTruth:
      return "ground_truth";
  }
  return "unknown";
}

namespace {
// Wire names, in the order of the Message variant's alternatives.
constexpr const char* kTypeNames[] = {"RgbdFrame", "CameraPose",   "PointCloud", "Detections",
                                      "Tracks",    "CognitiveMap", "Query",      "Answer",
                                      "Stats",     "EndOfStream"};
static_assert(std::size(kTypeNames) == std::variant_size_v<Message>,
              "one wire name per message type");
}  // namespace

std::string TypeNameAt(size_t index) { return kTypeNames[index]; }
std::string TypeName(const Message& m) { return kTypeNames[m.index()]; }

const MessageMeta& Meta(const Message& m) {
  return std::visit([](const auto& v) -> const MessageMeta& { return v.meta; }, m);
}
MessageMeta& Meta(Message& m) {
  return std::visit([](auto& v) -> MessageMeta& { return v.meta; }, m);
}

}  // namespace dyn4d::pipeline
