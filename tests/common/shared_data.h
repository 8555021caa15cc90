#pragma once
// Locating ../shared for tests on real data. When it is absent the test
// prints "SKIPPED: needs ../shared/..." and exits with code 4; CTest reports
// it as skipped by that line (SKIP_REGULAR_EXPRESSION, tests/CMakeLists.txt;
// Catch2 2.x has no SKIP()).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace dyn4d::test {

inline std::string SharedDirOrSkip(const std::string& sub = "") {
  namespace fs = std::filesystem;
  std::string root;
  if (const char* env = std::getenv("DYN4D_SHARED"); env && fs::exists(env))
    root = env;
  else if (fs::exists(DYN4D_SOURCE_DIR "/../shared"))
    root = DYN4D_SOURCE_DIR "/../shared";
  if (root.empty() || !fs::exists(fs::path(root) / sub)) {
    std::printf("SKIPPED: needs ../shared/%s (set DYN4D_SHARED); not found\n", sub.c_str());
    std::fflush(stdout);
    std::exit(4);
  }
  return (fs::path(root) / sub).string();
}

}  // namespace dyn4d::test
