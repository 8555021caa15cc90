#include "dyn4d/ros2/msgs.h"

namespace dyn4d::ros2 {

Time Time::FromNs(int64_t ns) {
  Time t;
  int64_t sec = ns / 1000000000, rest = ns % 1000000000;
  if (rest < 0) rest += 1000000000, --sec;  // nanosec is always in [0, 1e9)
  t.sec = static_cast<int32_t>(sec);
  t.nanosec = static_cast<uint32_t>(rest);
  return t;
}

}  // namespace dyn4d::ros2
