#include "dyn4d/recognition/datasets.h"

#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <vector>

#ifdef DYN4D_HAVE_ZLIB
#include <zlib.h>
#endif

namespace dyn4d::recognition {

const char* const kFashionMnistClasses[10] = {"t-shirt/top", "trouser",   "pullover", "dress",
                                              "coat",        "sandal",    "shirt",    "sneaker",
                                              "bag",         "ankle boot"};

namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::vector<uint8_t> bytes;
  if (EndsWith(path, ".gz")) {
#ifdef DYN4D_HAVE_ZLIB
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) throw std::runtime_error(path + ": cannot open");
    uint8_t buf[1 << 16];
    int n;
    while ((n = gzread(f, buf, sizeof(buf))) > 0) bytes.insert(bytes.end(), buf, buf + n);
    const bool failed = n < 0;
    gzclose(f);
    if (failed) throw std::runtime_error(path + ": corrupt gzip stream");
    return bytes;
#else
    throw std::runtime_error(path + ": built without zlib; gunzip the file first");
#endif
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return bytes;
}

uint32_t BigEndian32(const std::vector<uint8_t>& b, size_t at) {
  return uint32_t(b[at]) << 24 | uint32_t(b[at + 1]) << 16 | uint32_t(b[at + 2]) << 8 | b[at + 3];
}

}  // namespace

ImageDataset ImageDataset::Slice(int64_t begin, int64_t end) const {
  return {images.slice(0, begin, end), labels.slice(0, begin, end)};
}

ImageDataset LoadIdx(const std::string& images_path, const std::string& labels_path) {
  const auto img = ReadAll(images_path);
  if (img.size() < 16 || BigEndian32(img, 0) != 2051)
    throw std::runtime_error(images_path + ": not an IDX image file (magic 2051 expected)");
  const int64_t n = BigEndian32(img, 4), h = BigEndian32(img, 8), w = BigEndian32(img, 12);
  if (int64_t(img.size()) != 16 + n * h * w)
    throw std::runtime_error(images_path + ": truncated: header says " + std::to_string(n) + " x " +
                             std::to_string(h) + "x" + std::to_string(w) + " images, file has " +
                             std::to_string(img.size() - 16) + " pixel bytes");
  const auto lab = ReadAll(labels_path);
  if (lab.size() < 8 || BigEndian32(lab, 0) != 2049)
    throw std::runtime_error(labels_path + ": not an IDX label file (magic 2049 expected)");
  const int64_t m = BigEndian32(lab, 4);
  if (m != n || int64_t(lab.size()) != 8 + m)
    throw std::runtime_error(labels_path + ": " + std::to_string(m) + " labels (" +
                             std::to_string(lab.size() - 8) + " bytes) for " + std::to_string(n) +
                             " images in " + images_path);
  ImageDataset d;
  d.images =
      torch::from_blob(const_cast<uint8_t*>(img.data()) + 16, {n, 1, h, w}, torch::kUInt8).clone();
  d.labels =
      torch::from_blob(const_cast<uint8_t*>(lab.data()) + 8, {n}, torch::kUInt8).to(torch::kLong);
  return d;
}

ImageDataset LoadFashionMnist(const std::string& split, const std::string& dir) {
  if (split != "train" && split != "test")
    throw std::invalid_argument("Fashion-MNIST split must be train or test, got '" + split + "'");
  const std::string root = (dir.empty() ? std::string(kFashionMnistDir) : dir) + "/";
  const std::string prefix = split == "train" ? "train" : "t10k";
  auto pick = [&](const std::string& stem) {
    const std::string gz = root + stem + ".gz";
    return std::ifstream(gz).good() ? gz : root + stem;
  };
  return LoadIdx(pick(prefix + "-images-idx3-ubyte"), pick(prefix + "-labels-idx1-ubyte"));
}

}  // namespace dyn4d::recognition
