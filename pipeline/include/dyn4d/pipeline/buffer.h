#pragma once
/// \file
/// Shared, reference-counted byte buffers: how images and clouds travel through
/// the pipeline without copies. A Buffer received from ZeroMQ keeps the ZeroMQ
/// message alive; a Buffer sent to ZeroMQ is handed over by reference.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

namespace dyn4d::pipeline {

/// An immutable-by-convention view on bytes plus the owner that keeps them
/// alive. Copying a Buffer shares the bytes (no copy of the data).
/// Thread safety: copies may be used from several threads concurrently; the
/// bytes must not be written once a Buffer has been handed to a publisher.
class Buffer {
 public:
  Buffer() = default;
  /// Wraps `size` bytes at `data`, kept alive by `owner`.
  Buffer(std::shared_ptr<const void> owner, const uint8_t* data, size_t size)
      : owner_(std::move(owner)), data_(data), size_(size) {}

  /// Allocates `size` zero-initialised bytes owned by the new buffer.
  static Buffer Allocate(size_t size);
  /// Copies `size` bytes from `data` into a new buffer.
  static Buffer CopyOf(const void* data, size_t size);
  static Buffer CopyOf(std::string_view bytes) { return CopyOf(bytes.data(), bytes.size()); }

  const uint8_t* data() const { return data_; }
  /// Writable access for the producer that allocated the buffer, before it is
  /// shared. Writing a buffer that others already hold is a data race.
  uint8_t* mutable_data() { return const_cast<uint8_t*>(data_); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const std::shared_ptr<const void>& owner() const { return owner_; }
  std::string_view view() const { return {reinterpret_cast<const char*>(data_), size_}; }

  template <typename T>
  const T* as() const {
    return reinterpret_cast<const T*>(data_);
  }
  template <typename T>
  T* mutable_as() {
    return reinterpret_cast<T*>(mutable_data());
  }

 private:
  std::shared_ptr<const void> owner_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace dyn4d::pipeline
