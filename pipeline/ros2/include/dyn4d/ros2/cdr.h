#pragma once
/// \file
/// ROS 2's wire encoding: plain CDR (XCDR1), little-endian, as rmw_cyclonedds
/// and rmw_fastrtps write it and rosbag2 records it. A 4-byte encapsulation
/// header (00 01 = CDR_LE, then options whose low 2 bits count the padding
/// added at the end to reach a multiple of 4, as CycloneDDS writes them);
/// primitives aligned to their size (at most 8) relative to the byte after
/// the header; strings as u32 length with the NUL, bytes, NUL; sequences as
/// u32 count then elements; fixed arrays as their elements; bool as 1 byte.
///
/// Messages describe their fields once (a static Visit(self, visitor)); the
/// writer and the reader below are such visitors, so one field list serves
/// encoding and decoding.
#include <array>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace dyn4d::ros2 {

namespace detail {
template <class T>
struct IsVector : std::false_type {};
template <class T, class A>
struct IsVector<std::vector<T, A>> : std::true_type {};
template <class T>
struct IsArray : std::false_type {};
template <class T, size_t N>
struct IsArray<std::array<T, N>> : std::true_type {};
}  // namespace detail

class CdrWriter {
 public:
  CdrWriter() : buf_{0x00, 0x01, 0x00, 0x00} {}

  template <class T>
  void operator()(const T& value) {
    if constexpr (std::is_same_v<T, bool>) {
      buf_.push_back(value ? 1 : 0);
    } else if constexpr (std::is_arithmetic_v<T>) {
      Align(sizeof(T));
      const size_t at = buf_.size();
      buf_.resize(at + sizeof(T));
      std::memcpy(&buf_[at], &value, sizeof(T));  // little-endian hosts only (checked in .cc)
    } else if constexpr (std::is_same_v<T, std::string>) {
      (*this)(static_cast<uint32_t>(value.size() + 1));
      buf_.insert(buf_.end(), value.begin(), value.end());
      buf_.push_back(0);
    } else if constexpr (detail::IsVector<T>::value) {
      (*this)(static_cast<uint32_t>(value.size()));
      using E = typename T::value_type;
      if constexpr (std::is_same_v<E, uint8_t> || std::is_same_v<E, int8_t>) {
        buf_.insert(buf_.end(), value.begin(), value.end());
      } else {
        for (const E& e : value) (*this)(e);
      }
    } else if constexpr (detail::IsArray<T>::value) {
      for (const auto& e : value) (*this)(e);
    } else {
      T::Visit(value, *this);
    }
  }
  /// The encoded message: header, fields, padding to a multiple of 4.
  std::string Finish();

 private:
  void Align(size_t n) {
    while ((buf_.size() - 4) % n) buf_.push_back(0);
  }
  std::vector<uint8_t> buf_;
};

class CdrReader {
 public:
  /// Throws std::runtime_error when `data` is no little-endian plain CDR
  /// payload; `what` names the message type in every error.
  CdrReader(const uint8_t* data, size_t size, std::string what);

  template <class T>
  void operator()(T& value) {
    if constexpr (std::is_same_v<T, bool>) {
      uint8_t b = 0;
      Take(&b, 1);
      value = b != 0;
    } else if constexpr (std::is_arithmetic_v<T>) {
      Align(sizeof(T));
      Take(&value, sizeof(T));
    } else if constexpr (std::is_same_v<T, std::string>) {
      uint32_t n = 0;
      (*this)(n);
      if (n == 0) {  // not what ROS writes, but a zero length is an empty string
        value.clear();
        return;
      }
      Need(n);
      value.assign(reinterpret_cast<const char*>(data_ + pos_), n - 1);
      pos_ += n;
    } else if constexpr (detail::IsVector<T>::value) {
      uint32_t n = 0;
      (*this)(n);
      using E = typename T::value_type;
      if constexpr (std::is_same_v<E, uint8_t> || std::is_same_v<E, int8_t>) {
        Need(n);
        value.assign(data_ + pos_, data_ + pos_ + n);
        pos_ += n;
      } else {
        // Each element takes at least one byte: a count beyond what is left
        // is a corrupt message, not a reason to allocate gigabytes.
        Need(n);
        value.resize(n);
        for (E& e : value) (*this)(e);
      }
    } else if constexpr (detail::IsArray<T>::value) {
      for (auto& e : value) (*this)(e);
    } else {
      T::Visit(value, *this);
    }
  }
  size_t remaining() const { return size_ - pos_; }

 private:
  void Align(size_t n) {
    const size_t pad = (n - (pos_ - 4) % n) % n;
    Need(pad);
    pos_ += pad;
  }
  void Need(size_t n) const;
  void Take(void* out, size_t n) {
    Need(n);
    std::memcpy(out, data_ + pos_, n);
    pos_ += n;
  }
  const uint8_t* data_;
  size_t size_, pos_ = 4;
  std::string what_;
};

/// Encodes a message (any type with a static Visit).
template <class M>
std::string Encode(const M& message) {
  CdrWriter w;
  w(message);
  return w.Finish();
}

/// Decodes a message; throws std::runtime_error naming the type and the
/// byte offset when the payload is truncated or malformed.
template <class M>
M Decode(const std::string& payload) {
  CdrReader r(reinterpret_cast<const uint8_t*>(payload.data()), payload.size(), M::kType);
  M m;
  r(m);
  return m;
}

}  // namespace dyn4d::ros2
