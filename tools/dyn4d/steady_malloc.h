#pragma once
// Fixed glibc malloc thresholds for the micro-benchmarks (transport, recognition
// latency). With glibc's adaptive thresholds, buffers of megabytes come either
// from fresh pages (mmap, or arenas it trimmed: a page fault per 4 KiB on
// first touch, 9 % of the transport bench's samples in the kernel's fault
// path) or from reused memory, and an edge stays in one regime or the other
// for seconds: over tcp either side moved 700 or 4,200 frames/s, so the
// ratio of one run said which regime each side happened to be in (0.8-6.1
// over five runs; with these thresholds 1.00-1.04). Buffers up to 32 MB
// (glibc's largest threshold) stay in the arenas; only what exceeds 128 MB
// at an arena's top goes back. The product keeps glibc's defaults: the whole
// graph measured no gain with these (Bonn 11.0 and 10.6 frames/s against
// 13.2 and 11.3, interleaved runs). MALLOC_MMAP_THRESHOLD_ and
// MALLOC_TRIM_THRESHOLD_ in the environment win.
#include <malloc.h>

#include <cstdlib>

namespace dyn4d::cli {

inline void UseSteadyMallocForBench() {
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_")) return;
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
}

}  // namespace dyn4d::cli
