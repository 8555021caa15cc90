#pragma once
/// \file
/// OUT/report.html: a run as one self-contained page that opens from disk
/// (no network): the built-in web app (the live viewer's page) with the
/// run's data embedded, downsampled - summary figures, top-down and 3D
/// trajectories with the map, a timeline of events and visibility per
/// object, the early-exit histogram, per-node latency plots, thumbnails with
/// overlays, the cognitive map and the answers. Built from the files the run
/// wrote; what is missing is left out and listed.

#include <string>
#include <vector>

namespace dyn4d::io {

struct ReportOptions {
  std::string output_dir;            ///< the run's OUT (read from, written to)
  std::string file = "report.html";  ///< relative to output_dir
  int thumbnails = 8;                ///< frames taken from overlay.mp4, evenly spaced
  int thumbnail_width = 320;         ///< pixels
  int max_map_points = 30000;        ///< map_points.ply, evenly thinned
  int max_path_points = 3000;        ///< per trajectory
  int max_object_points = 400;       ///< per object trajectory
  /// Wall time of the run, for frames/s; <= 0: the last stats.jsonl time.
  double elapsed_s = 0;
  std::string title;  ///< default: the output folder's name
};

struct ReportResult {
  std::string path;  ///< the report written
  size_t bytes = 0;
  int frames = 0;   ///< poses in trajectory.tum
  int objects = 0;  ///< distinct track ids in tracks.jsonl
  int thumbnails = 0;
  int map_points = 0;
  std::vector<std::string> missing;  ///< inputs not found (each left out)
};

/// Writes the report (via a .partial file renamed into place). Throws
/// std::runtime_error naming the file when it cannot be written, or when
/// output_dir does not exist.
ReportResult WriteReport(const ReportOptions& options);

/// The built-in page alone (the live viewer serves it at /): one HTML file,
/// scripts and styles inline, built from io/web at build time.
const std::string& WebPageHtml();

}  // namespace dyn4d::io
