#include "dyn4d/ros2/cdr.h"

namespace dyn4d::ros2 {

static_assert(sizeof(double) == 8 && sizeof(float) == 4, "IEEE 754 floats expected");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the CDR writer copies little-endian values as they are in memory"
#endif

std::string CdrWriter::Finish() {
  const size_t pad = (4 - buf_.size() % 4) % 4;
  buf_.insert(buf_.end(), pad, 0);
  buf_[3] = static_cast<uint8_t>(pad);
  return std::string(buf_.begin(), buf_.end());
}

CdrReader::CdrReader(const uint8_t* data, size_t size, std::string what)
    : data_(data), size_(size), what_(std::move(what)) {
  if (size < 4)
    throw std::runtime_error(what_ + ": CDR payload of " + std::to_string(size) +
                             " bytes has no encapsulation header");
  if (data[0] != 0x00 || data[1] != 0x01)
    throw std::runtime_error(what_ + ": encapsulation " + std::to_string(data[0]) + " " +
                             std::to_string(data[1]) +
                             " is not plain little-endian CDR (00 01), the only one ROS 2 uses");
}

void CdrReader::Need(size_t n) const {
  if (n > size_ - pos_)
    throw std::runtime_error(what_ + ": CDR payload truncated: " + std::to_string(n) +
                             " bytes needed at byte " + std::to_string(pos_) + " of " +
                             std::to_string(size_));
}

}  // namespace dyn4d::ros2
