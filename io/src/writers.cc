#include "dyn4d/io/writers.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace dyn4d::io {

namespace {
void CheckGood(const std::ofstream& out, const std::string& path) {
  if (!out) throw std::runtime_error("write to '" + path + "' failed (disk full?)");
}
}  // namespace

AtomicFile::AtomicFile(const std::string& path, bool binary)
    : path_(path), partial_(path + ".partial") {
  // A device or pipe (/dev/null, a FIFO) is written in place: renaming over
  // it would replace it.
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st)) partial_.clear();
  out_.open(partial_.empty() ? path_ : partial_,
            binary ? std::ios::binary | std::ios::trunc : std::ios::trunc);
  if (!out_ && partial_.empty())
    throw std::runtime_error("cannot open '" + path_ + "' for writing");
  if (!out_) throw std::runtime_error("cannot open '" + partial_ + "' for writing");
}

void AtomicFile::Commit() {
  if (committed_) return;
  committed_ = true;
  out_.close();
  if (!out_) throw std::runtime_error("write to '" + path_ + "' failed (disk full?)");
  if (partial_.empty()) return;
  std::error_code ec;
  std::filesystem::rename(partial_, path_, ec);
  if (ec)
    throw std::runtime_error("cannot move '" + partial_ + "' to '" + path_ + "': " + ec.message());
}

void AtomicFile::Discard() {
  if (committed_) return;
  committed_ = true;
  out_.close();
  std::error_code ec;
  std::filesystem::remove(partial_.empty() ? path_ : partial_, ec);
}

TumTrajectoryWriter::TumTrajectoryWriter(const std::string& path, bool include_lost)
    : file_(path), include_lost_(include_lost) {
  file_.stream() << "# timestamp tx ty tz qx qy qz qw (T_world_cam, metres)\n";
}

void TumTrajectoryWriter::Write(const pipeline::CameraPose& p) {
  if (p.status == pipeline::PoseStatus::kLost && !include_lost_) return;
  char line[256];
  std::snprintf(line, sizeof line, "%.6f %.6f %.6f %.6f %.7f %.7f %.7f %.7f\n",
                p.meta.stamp_ns / 1e9, p.t_world_cam[0], p.t_world_cam[1], p.t_world_cam[2],
                p.q_world_cam[0], p.q_world_cam[1], p.q_world_cam[2], p.q_world_cam[3]);
  file_.stream() << line;
  CheckGood(file_.stream(), file_.path());
}

void TumTrajectoryWriter::Close() { file_.Commit(); }

void WritePlyBinary(const std::string& path, const std::vector<float>& xyz,
                    const std::vector<uint8_t>& rgb) {
  if (xyz.size() % 3 != 0)
    throw std::invalid_argument("WritePlyBinary: xyz size not a multiple of 3");
  const size_t n = xyz.size() / 3;
  const bool has_color = !rgb.empty();
  if (has_color && rgb.size() != xyz.size())
    throw std::invalid_argument("WritePlyBinary: rgb size does not match xyz");
  AtomicFile file(path, true);
  std::ofstream& out = file.stream();
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
  file.Commit();
}

void WriteMeshPly(const std::string& path, const std::vector<float>& xyz,
                  const std::vector<uint8_t>& rgb, const std::vector<uint32_t>& triangles) {
  const size_t n = xyz.size() / 3, f = triangles.size() / 3;
  const bool has_color = !rgb.empty();
  if (xyz.size() % 3 || triangles.size() % 3 || (has_color && rgb.size() != xyz.size()))
    throw std::invalid_argument("WriteMeshPly: inconsistent array sizes");
  for (uint32_t i : triangles)
    if (i >= n)
      throw std::invalid_argument("WriteMeshPly: face index " + std::to_string(i) +
                                  " >= vertex count");
  AtomicFile file(path, true);
  std::ofstream& out = file.stream();
  out << "ply\nformat binary_little_endian 1.0\ncomment written by dyn4d\nelement vertex " << n
      << "\nproperty float x\nproperty float y\nproperty float z\n";
  if (has_color) out << "property uchar red\nproperty uchar green\nproperty uchar blue\n";
  out << "element face " << f << "\nproperty list uchar int vertex_indices\nend_header\n";
  for (size_t i = 0; i < n; ++i) {
    out.write(reinterpret_cast<const char*>(&xyz[3 * i]), 12);
    if (has_color) out.write(reinterpret_cast<const char*>(&rgb[3 * i]), 3);
  }
  for (size_t i = 0; i < f; ++i) {
    const uint8_t three = 3;
    out.write(reinterpret_cast<const char*>(&three), 1);
    out.write(reinterpret_cast<const char*>(&triangles[3 * i]), 12);
  }
  file.Commit();
}

void WritePcdBinary(const std::string& path, const std::vector<float>& xyz,
                    const std::vector<uint8_t>& rgb) {
  const size_t n = xyz.size() / 3;
  const bool has_color = !rgb.empty();
  if (xyz.size() % 3 || (has_color && rgb.size() != xyz.size()))
    throw std::invalid_argument("WritePcdBinary: inconsistent array sizes");
  AtomicFile file(path, true);
  std::ofstream& out = file.stream();
  out << "# .PCD v0.7 - Point Cloud Data file format (written by dyn4d)\nVERSION 0.7\n"
      << (has_color ? "FIELDS x y z rgb\nSIZE 4 4 4 4\nTYPE F F F F\nCOUNT 1 1 1 1\n"
                    : "FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\n")
      << "WIDTH " << n << "\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS " << n << "\nDATA binary\n";
  for (size_t i = 0; i < n; ++i) {
    out.write(reinterpret_cast<const char*>(&xyz[3 * i]), 12);
    if (has_color) {
      const uint32_t packed =
          (uint32_t(rgb[3 * i]) << 16) | (uint32_t(rgb[3 * i + 1]) << 8) | rgb[3 * i + 2];
      out.write(reinterpret_cast<const char*>(&packed), 4);
    }
  }
  file.Commit();
}

std::string KittiType(const std::string& c) {
  if (c == "person" || c == "pedestrian") return "Pedestrian";
  if (c == "car") return "Car";
  if (c == "van") return "Van";
  if (c == "truck") return "Truck";
  if (c == "bicycle" || c == "cyclist") return "Cyclist";
  if (c == "tram") return "Tram";
  return "Misc";
}

TracksWriter::TracksWriter(const std::string& mot_path, const std::string& jsonl_path,
                           const std::string& kitti_path)
    : mot_(mot_path), jsonl_(jsonl_path) {
  if (!kitti_path.empty()) kitti_ = std::make_unique<AtomicFile>(kitti_path);
}

std::vector<uint32_t> MaskRunLengths(const pipeline::Image& mask) {
  std::vector<uint32_t> counts;
  const uint8_t* m = mask.data.data();
  const size_t n = static_cast<size_t>(mask.width) * mask.height;
  bool on = false;
  uint32_t run = 0;
  for (size_t i = 0; i < n; ++i) {
    const bool v = m[i] != 0;
    if (v != on) {
      counts.push_back(run);
      run = 0;
      on = v;
    }
    ++run;
  }
  counts.push_back(run);
  return counts;
}

void TracksWriter::Write(const pipeline::Tracks& tracks) {
  const uint64_t frame = tracks.meta.seq + 1;  // MOTChallenge frames are 1-based
  for (const pipeline::Track& t : tracks.items) {
    char line[256];
    std::snprintf(line, sizeof line, "%llu,%lld,%.2f,%.2f,%.2f,%.2f,%.4f,-1,-1,-1\n",
                  static_cast<unsigned long long>(frame), static_cast<long long>(t.track_id),
                  t.box.x, t.box.y, t.box.w, t.box.h, t.score);
    mot_.stream() << line;
    if (kitti_) {
      std::snprintf(
          line, sizeof line,
          "%llu %lld %s -1 -1 -10 %.2f %.2f %.2f %.2f -1 -1 -1 -1000 -1000 -1000 -10 %.4f\n",
          static_cast<unsigned long long>(tracks.meta.seq), static_cast<long long>(t.track_id),
          KittiType(t.class_name).c_str(), t.box.x, t.box.y, t.box.x + t.box.w, t.box.y + t.box.h,
          t.score);
      kitti_->stream() << line;
    }
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
    if (!t.state.empty()) j["state"] = t.state;
    if (!t.motion.empty()) j["motion"] = t.motion;
    if (t.exit_index >= 0) j["exit"] = t.exit_index + 1;
    if (!t.mask.empty() && t.mask.encoding == pipeline::PixelEncoding::kMono8)
      j["mask_rle"] = {{"size", {t.mask.height, t.mask.width}}, {"counts", MaskRunLengths(t.mask)}};
    jsonl_.stream() << j.dump() << "\n";
  }
  CheckGood(mot_.stream(), mot_.path());
  CheckGood(jsonl_.stream(), jsonl_.path());
}

void TracksWriter::Close() {
  mot_.Commit();
  jsonl_.Commit();
  if (kitti_) kitti_->Commit();
}

void TracksWriter::Discard() {
  mot_.Discard();
  jsonl_.Discard();
  if (kitti_) kitti_->Discard();
}

DetectionsWriter::DetectionsWriter(const std::string& jsonl_path, bool embeddings)
    : jsonl_(jsonl_path), embeddings_(embeddings) {}

void DetectionsWriter::Write(const pipeline::Detections& detections) {
  for (const pipeline::Detection& d : detections.items) {
    nlohmann::json j = {
        {"frame", detections.meta.seq}, {"t", detections.meta.stamp_ns / 1e9},
        {"track_id", d.track_id},       {"class", d.class_name},
        {"class_id", d.class_id},       {"score", d.score},
        {"exit", d.exit_index + 1},     {"box_xywh", {d.box.x, d.box.y, d.box.w, d.box.h}}};
    if (embeddings_ && !d.embedding.empty()) j["embedding"] = d.embedding;
    jsonl_.stream() << j.dump() << "\n";
  }
  CheckGood(jsonl_.stream(), jsonl_.path());
}

void DetectionsWriter::Close() { jsonl_.Commit(); }

ReasoningWriter::ReasoningWriter(const std::string& jsonl_path, const std::string& text_path)
    : jsonl_(jsonl_path), text_(text_path) {}

void ReasoningWriter::Write(const pipeline::CognitiveMap& map) {
  nlohmann::json j = {
      {"kind", "cognitive_map"}, {"seq", map.meta.seq}, {"t", map.meta.stamp_ns / 1e9}};
  auto parsed = nlohmann::json::parse(map.json, nullptr, false);
  j["map"] = parsed.is_discarded() ? nlohmann::json(map.json) : parsed;
  jsonl_.stream() << j.dump() << "\n";
  char t[32];
  std::snprintf(t, sizeof t, "%.3f", map.meta.stamp_ns / 1e9);  // not 1.30503e+09
  text_.stream() << "== cognitive map at t=" << t << " s\n" << map.text << "\n";
  CheckGood(jsonl_.stream(), jsonl_.path());
}

void ReasoningWriter::Write(const pipeline::Answer& answer) { answers_.push_back(answer); }

void ReasoningWriter::Close() {
  std::stable_sort(answers_.begin(), answers_.end(),
                   [](const pipeline::Answer& a, const pipeline::Answer& b) {
                     return a.request_id < b.request_id;
                   });
  for (const pipeline::Answer& a : answers_) {
    nlohmann::json j = {{"kind", "answer"},
                        {"request_id", a.request_id},
                        {"answer", a.answer},
                        {"justification", a.justification},
                        {"track_id", a.track_id}};
    if (!a.question.empty()) j["question"] = a.question;
    jsonl_.stream() << j.dump() << "\n";
    if (!a.question.empty()) text_.stream() << "Q" << a.request_id << ": " << a.question << "\n";
    text_.stream() << "A" << a.request_id << ": " << a.answer << "\n  because " << a.justification
                   << "\n";
    CheckGood(jsonl_.stream(), jsonl_.path());
  }
  answers_.clear();
  jsonl_.Commit();
  text_.Commit();
}

}  // namespace dyn4d::io
