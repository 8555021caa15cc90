#pragma once
/// \file
/// File writers for pipeline outputs: TUM trajectories, binary PLY clouds,
/// MOTChallenge and JSONL tracks. Each throws std::runtime_error naming the
/// file when it cannot write.

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::io {

/// A file written under PATH.partial and renamed to PATH by Commit(), so a
/// run that dies never leaves a truncated file under the final name (and
/// never truncates the previous one). Throws std::runtime_error naming PATH.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path, bool binary = false);
  std::ofstream& stream() { return out_; }
  /// Flushes, checks for write errors, renames into place.
  void Commit();
  /// Closes and removes the partial file: nothing appears under the name.
  void Discard();
  const std::string& path() const { return path_; }

 private:
  std::string path_, partial_;
  std::ofstream out_;
  bool committed_ = false;
};

/// Appends poses as TUM lines "t tx ty tz qx qy qz qw" (t in seconds).
class TumTrajectoryWriter {
 public:
  /// Poses with status lost are skipped unless `include_lost`.
  explicit TumTrajectoryWriter(const std::string& path, bool include_lost = false);
  void Write(const pipeline::CameraPose& pose);
  void Close();
  void Discard() { file_.Discard(); }

 private:
  AtomicFile file_;
  bool include_lost_;
};

/// Writes a coloured point cloud as binary little-endian PLY
/// (x y z float, red green blue uchar). `rgb` may be empty.
void WritePlyBinary(const std::string& path, const std::vector<float>& xyz,
                    const std::vector<uint8_t>& rgb);

/// Writes a triangle mesh as binary PLY (vertices x y z [r g b], faces as
/// uint8 count + int32 indices). `rgb` may be empty.
void WriteMeshPly(const std::string& path, const std::vector<float>& xyz,
                  const std::vector<uint8_t>& rgb, const std::vector<uint32_t>& triangles);

/// Writes a point cloud as PCD v0.7, binary (FIELDS x y z rgb; rgb packed as
/// PCL does, a float whose bytes are 0x00RRGGBB). `rgb` may be empty.
void WritePcdBinary(const std::string& path, const std::vector<float>& xyz,
                    const std::vector<uint8_t>& rgb);

/// KITTI tracking label line type for a class name ("person" ->
/// "Pedestrian", "car" -> "Car", ...; others "Misc").
std::string KittiType(const std::string& class_name);

/// Tracks as MOTChallenge text ("frame,id,x,y,w,h,score,-1,-1,-1", frame
/// 1-based) and as JSONL with the 3D state, one line per track per frame.
/// Also KITTI tracking text ("frame id type -1 -1 -10 left top right bottom
/// -1 -1 -1 -1000 -1000 -1000 -10 score", frames 0-based; 3D fields unknown
/// in the camera frame are written as KITTI's "unknown" values) when
/// `kitti_path` is not empty. The JSONL lines carry the grounding masks as
/// `mask_rle`: {"size": [h, w], "counts": [...]}, the box-sized mask in row
/// order as alternating run lengths, off first (a leading 0 when it starts
/// on), plus `state` and `exit` (1-based) when known.
/// The run lengths of a mask used in tracks.jsonl: row order, alternating
/// off / on (nonzero) runs, off first (0 when the mask starts on).
std::vector<uint32_t> MaskRunLengths(const pipeline::Image& mask);

class TracksWriter {
 public:
  TracksWriter(const std::string& mot_path, const std::string& jsonl_path,
               const std::string& kitti_path = "");
  void Write(const pipeline::Tracks& tracks);
  void Close();
  /// No files at all (a stream that never came, e.g. ground truth the data lacks).
  void Discard();

 private:
  AtomicFile mot_, jsonl_;
  std::unique_ptr<AtomicFile> kitti_;
};

/// Detections / recognitions as JSONL, one line per item per frame: frame,
/// t, track_id, class, class_id, score, exit (1-based, 0 = none),
/// box_xywh and, when present, the embedding.
class DetectionsWriter {
 public:
  explicit DetectionsWriter(const std::string& jsonl_path, bool embeddings = true);
  void Write(const pipeline::Detections& detections);
  void Close();
  void Discard() { jsonl_.Discard(); }

 private:
  AtomicFile jsonl_;
  bool embeddings_;
};

/// Cognitive maps and answers as they arrive: JSONL (one object per line)
/// plus a text file (the map's text form, or "Q/A" blocks).
/// Cognitive maps as they come, then the answers in request order at Close:
/// maps and answers arrive on two topics in no fixed order, the files are
/// the same on every run.
class ReasoningWriter {
 public:
  ReasoningWriter(const std::string& jsonl_path, const std::string& text_path);
  void Write(const pipeline::CognitiveMap& map);
  void Write(const pipeline::Answer& answer);
  void Close();

 private:
  AtomicFile jsonl_, text_;
  std::vector<pipeline::Answer> answers_;
};

}  // namespace dyn4d::io
