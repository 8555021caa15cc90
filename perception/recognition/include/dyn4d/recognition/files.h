#pragma once
/// \file
/// Writing files so that a crash never leaves a truncated one under the
/// final name (weights, checkpoints' index, model files). Torch-free.
#include <cstddef>
#include <string>

namespace dyn4d::recognition {

/// Writes `size` bytes to PATH.partial and renames it to PATH. Throws
/// std::runtime_error naming the file on failure.
void WriteFileAtomically(const std::string& path, const char* data, size_t size);
inline void WriteFileAtomically(const std::string& path, const std::string& text) {
  WriteFileAtomically(path, text.data(), text.size());
}

}  // namespace dyn4d::recognition
