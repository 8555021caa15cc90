#pragma once
/// \file
/// Image-classification data for training and benchmarking Dyn-Perceiver:
/// IDX files (MNIST / Fashion-MNIST layout, gzip or plain) as tensors.
#include <torch/torch.h>

#include <string>

namespace dyn4d::recognition {

/// Images as stored (N, C, H, W) uint8 with labels (N,) int64.
struct ImageDataset {
  torch::Tensor images;
  torch::Tensor labels;
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  /// Rows [begin, end) (views, no copy).
  ImageDataset Slice(int64_t begin, int64_t end) const;
};

/// Reads an IDX image file (magic 2051) and its label file (magic 2049);
/// ".gz" files are decompressed (when built with zlib). Errors name the file
/// and what is wrong with it (bad magic, truncated, count mismatch).
ImageDataset LoadIdx(const std::string& images_path, const std::string& labels_path);

/// Fashion-MNIST from `dir` (default: the Debian dataset-fashion-mnist folder).
/// split: "train" (60000) or "test" (10000).
ImageDataset LoadFashionMnist(const std::string& split, const std::string& dir = "");

/// Where Debian's dataset-fashion-mnist package puts the files.
constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
/// Class names, label order.
extern const char* const kFashionMnistClasses[10];

}  // namespace dyn4d::recognition
