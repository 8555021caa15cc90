#pragma once
/// \file
/// Base for stages that take frames plus one more stream about the same
/// frames (poses, detections, tracks), joined by sequence number: the
/// frames port is "frames", every other port feeds the secondary stream.
#include <cstdint>
#include <string>

#include "dyn4d/pipeline/ordered_join.h"
#include "dyn4d/pipeline/stage.h"

namespace dyn4d::pipeline {

template <typename Secondary>
class FrameJoinStage : public Stage {
 public:
  Outputs Process(const std::string& port, const Message& m) override {
    const uint64_t seq = Meta(m).seq;
    if (port == "frames")
      join_.AddPrimary(seq, Expect<RgbdFrame>(m, port));
    else
      join_.AddSecondary(seq, ToSecondary(port, m));
    Outputs out;
    join_.Release([&](const RgbdFrame& f, const Secondary* s) { HandleJoined(f, s, out); });
    return out;
  }
  Outputs Finish() override {
    Outputs out;
    join_.Flush([&](const RgbdFrame& f, const Secondary* s) { HandleJoined(f, s, out); });
    FinishJoined(out);
    return out;
  }

 protected:
  /// `wait_for_secondary`: the secondary input is connected, so a frame waits
  /// for its partner while fewer than `max_wait` newer frames are held.
  FrameJoinStage(bool wait_for_secondary, uint64_t max_wait)
      : join_(wait_for_secondary, max_wait) {}
  /// One frame with its secondary message (nullptr when none came in time).
  virtual void HandleJoined(const RgbdFrame& frame, const Secondary* secondary, Outputs& out) = 0;
  /// The secondary message of a non-frames port (override to convert).
  virtual Secondary ToSecondary(const std::string& port, const Message& m) {
    return Expect<Secondary>(m, port);
  }
  /// After the last frame is flushed.
  virtual void FinishJoined(Outputs&) {}

 private:
  OrderedJoin<RgbdFrame, Secondary> join_;
};

}  // namespace dyn4d::pipeline
