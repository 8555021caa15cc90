#include "dyn4d/io/writers.h"

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace dyn4d::io {

namespace {
std::ofstream OpenOrThrow(const std::string& path, std::ios::openmode mode = std::ios::out) {
  std::ofstream out(path, mode | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot open '" + path + "' for writing");
  return out;
}
void CheckGood(const std::ofstream& out, const std::string& path) {
  if (!out) throw std::runtime_error("write to '" + path + "' failed (disk full?)");
}
}  // namespace

TumTrajectoryWriter::TumTrajectoryWriter(const std::string& path)
    : path_(path), out_(OpenOrThrow(path)) {
  out_ << "# timestamp tx ty tz qx qy qz qw (T_world_cam, metres)\n";
}

void TumTrajectoryWriter::Write(const pipeline::CameraPose& p) {
  char line[256];
  std::snprintf(line, sizeof line, "%.6f %.6f %.6f %.6f %.7f %.7f %.7f %.7f\n",
                p.meta.stamp_ns / 1e9, p.t_world_cam[0], p.t_world_cam[1], p.t_world_cam[2],
                p.q_world_cam[0], p.q_world_cam[1], p.q_world_cam[2], p.q_world_cam[3]);
  out_ << line;
  CheckGood(out_, path_);
}

void TumTrajectoryWriter::Close() {
  out_.close();
  CheckGood(out_, path_);
}

void WritePlyBinary(const std::string& path, const std::vector<float>& xyz,
                    const std::vector<uint8_t>& rgb) {
  if (xyz.size() % 3 != 0)
    throw std::invalid_argument("WritePlyBinary: xyz size not a multiple of 3");
  const size_t n = xyz.size() / 3;
  const bool has_color = !rgb.empty();
  if (has_color && rgb.size() != xyz.size())
    throw std::invalid_argument("WritePlyBinary: rgb size does not match xyz");
  std::ofstream out = OpenOrThrow(path, std::ios::binary);
  out << "ply\nformat binary_little_endian 1.0\ncomment written by dyn4d\nelement vertex " << n
      << "\nproperty float x\nproperty float y\nproperty float z\n";
  if (has_color) out << "property uchar red\nproperty uchar green\nproperty uchar blue\n";
  out << "end_header\n";
  // x86 and ARM are little-endian; the header says so.
  std::vector<char> row(12 + (has_color ? 3 : 0));
  for (size_t i = 0; i < n; ++i) {
    std::memcpy(row.data(), &xyz[i * 3], 12);
    if (has_color) std::memcpy(row.data() + 12, &rgb[i * 3], 3);
    out.write(row.data(), static_cast<std::streamsize>(row.size()));
  }
  out.close();
  CheckGood(out, path);
}

TracksWriter::TracksWriter(const std::string& mot_path, const std::string& jsonl_path)
    : mot_path_(mot_path),
      jsonl_path_(jsonl_path),
      mot_(OpenOrThrow(mot_path)),
      jsonl_(OpenOrThrow(jsonl_path)) {}

void TracksWriter::Write(const pipeline::Tracks& tracks) {
  const uint64_t frame = tracks.meta.seq + 1;  // MOTChallenge frames are 1-based
  for (const pipeline::Track& t : tracks.items) {
    char line[256];
    std::snprintf(line, sizeof line, "%llu,%lld,%.2f,%.2f,%.2f,%.2f,%.4f,-1,-1,-1\n",
                  static_cast<unsigned long long>(frame), static_cast<long long>(t.track_id),
                  t.box.x, t.box.y, t.box.w, t.box.h, t.score);
    mot_ << line;
    nlohmann::json j = {{"frame", tracks.meta.seq},
                        {"t", tracks.meta.stamp_ns / 1e9},
                        {"track_id", t.track_id},
                        {"class", t.class_name},
                        {"class_id", t.class_id},
                        {"score", t.score},
                        {"box_xywh", {t.box.x, t.box.y, t.box.w, t.box.h}}};
    if (t.has_position) {
      j["position_world"] = t.position_world;
      j["velocity_world"] = t.velocity_world;
      j["extent"] = t.extent;
    }
    jsonl_ << j.dump() << "\n";
  }
  CheckGood(mot_, mot_path_);
  CheckGood(jsonl_, jsonl_path_);
}

void TracksWriter::Close() {
  mot_.close();
  jsonl_.close();
  CheckGood(mot_, mot_path_);
  CheckGood(jsonl_, jsonl_path_);
}

}  // namespace dyn4d::io
