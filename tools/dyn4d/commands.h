#pragma once
// Subcommands implemented outside main.cc.
#include <string>

namespace dyn4d::cli {

struct TransportBenchOptions {
  int batch = 100;          ///< frames per timed batch
  double min_time_s = 0.5;  ///< Google Benchmark min time per case
  int repetitions = 3;      ///< figures are medians over repetitions
  std::string filter;       ///< Google Benchmark filter (regex), empty = all
};

/// `dyn4d bench transport`: throughput of 640x480 RGB-D frames through one
/// dyn4d edge and a bare cppzmq loop over inproc, ipc and tcp.
int RunTransportBench(const TransportBenchOptions& options);

}  // namespace dyn4d::cli
