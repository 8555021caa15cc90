#include "dyn4d/recognition/files.h"

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace dyn4d::recognition {

void WriteFileAtomically(const std::string& path, const char* data, size_t size) {
  const std::string partial = path + ".partial";
  {
    std::ofstream out(partial, std::ios::binary);
    out.write(data, static_cast<std::streamsize>(size));
    if (!out) throw std::runtime_error(partial + ": write failed");
  }
  if (std::rename(partial.c_str(), path.c_str()) != 0)
    throw std::runtime_error(path + ": rename failed");
}

}  // namespace dyn4d::recognition
