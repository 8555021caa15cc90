#pragma once
/// \file
/// File writers for pipeline outputs: TUM trajectories, binary PLY clouds,
/// MOTChallenge and JSONL tracks. Each throws std::runtime_error naming the
/// file when it cannot write.

#include <fstream>
#include <string>
#include <vector>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::io {

/// Appends poses as TUM lines "t tx ty tz qx qy qz qw" (t in seconds).
class TumTrajectoryWriter {
 public:
  explicit TumTrajectoryWriter(const std::string& path);
  void Write(const pipeline::CameraPose& pose);
  void Close();

 private:
  std::string path_;
  std::ofstream out_;
};

/// Writes a coloured point cloud as binary little-endian PLY
/// (x y z float, red green blue uchar). `rgb` may be empty.
void WritePlyBinary(const std::string& path, const std::vector<float>& xyz,
                    const std::vector<uint8_t>& rgb);

/// Tracks as MOTChallenge text ("frame,id,x,y,w,h,score,-1,-1,-1", frame
/// 1-based) and as JSONL with the 3D state, one line per track per frame.
class TracksWriter {
 public:
  TracksWriter(const std::string& mot_path, const std::string& jsonl_path);
  void Write(const pipeline::Tracks& tracks);
  void Close();

 private:
  std::string mot_path_, jsonl_path_;
  std::ofstream mot_, jsonl_;
};

}  // namespace dyn4d::io
