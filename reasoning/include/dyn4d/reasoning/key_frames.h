#pragma once
/// \file
/// Key frames for a multimodal model, with the queried object's mask laid
/// over them (mask-guided fusion, after Dyn-Bench: the frame keeps its
/// appearance and the object to attend to is highlighted). OpenCV stays in
/// the .cc file.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::reasoning {

/// Keeps up to `max_frames` colour frames, spread over the stream (one
/// every `every_s` seconds; the oldest are thinned out when full), with the
/// boxes and masks of the tracks seen in each.
class KeyFrames {
 public:
  KeyFrames(int max_frames, double every_s);
  /// A frame and its tracks (same seq); kept when due.
  void Add(const pipeline::RgbdFrame& frame, const pipeline::Tracks& tracks);
  /// JPEG data URLs ("data:image/jpeg;base64,...") of the kept frames where
  /// `track_id` is seen, its mask tinted and outlined; all kept frames,
  /// untouched, when track_id < 0 or it is never seen. Oldest first.
  std::vector<std::string> DataUrls(int64_t track_id) const;
  size_t size() const { return frames_.size(); }

 private:
  struct Kept {
    double t;
    pipeline::Image color;
    std::map<int64_t, std::pair<pipeline::Box2D, pipeline::Image>> objects;  // id -> box, mask
  };
  int max_frames_;
  double every_s_;
  std::vector<Kept> frames_;
  double last_t_ = -1e18;
};

}  // namespace dyn4d::reasoning
