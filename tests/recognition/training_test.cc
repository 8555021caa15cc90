// Training, datasets, the linear-exit baseline and threshold calibration.
// torch first, then drop glog's CHECK before Catch defines its own.
#include "dyn4d/recognition/training.h"
#undef CHECK

#include <dlfcn.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "../common/test_stages.h"
#include "dyn4d/recognition/calibration.h"

using namespace dyn4d::recognition;
namespace fs = std::filesystem;

namespace {

std::string BigEndian(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }

void WriteFile(const std::string& path, const std::string& bytes, bool gzip) {
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary) << bytes;
  }
}

// Three 2x3 images with pixel value 10*i + j, labels 7, 8, 9.
void WriteIdx(const std::string& dir, bool gzip, const std::string& suffix) {
  std::string img = BigEndian(2051) + BigEndian(3) + BigEndian(2) + BigEndian(3);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 6; ++j) img += char(10 * i + j);
  WriteFile(dir + "/img" + suffix, img, gzip);
  WriteFile(dir + "/lab" + suffix, BigEndian(2049) + BigEndian(3) + "\x07\x08\x09", gzip);
}

DynPerceiverConfig SmallNet() {
  DynPerceiverConfig c = ConfigForName("mobilenetV3_0x5_perceiver_t32");
  c.num_classes = 10;
  c.in_channels = 1;
  c.image_size = 32;
  c.depth_factor = {1, 1, 1, 1};
  return c;
}

ImageDataset RandomImages(int64_t n) {
  torch::manual_seed(3);
  return {torch::randint(0, 256, {n, 1, 28, 28}, torch::kLong).to(torch::kUInt8),
          torch::randint(0, 10, {n}, torch::kLong)};
}

}  // namespace

TEST_CASE("IDX files load, plain or gzip, and bad ones are named", "[recognition]") {
  const std::string dir = dyn4d::test::TempDir("idx");
  for (const bool gzip : {false, true}) {
    const std::string suffix = gzip ? ".gz" : "";
    WriteIdx(dir, gzip, suffix);
    const ImageDataset d = LoadIdx(dir + "/img" + suffix, dir + "/lab" + suffix);
    REQUIRE(d.size() == 3);
    CHECK(d.images.sizes() == torch::IntArrayRef({3, 1, 2, 3}));
    CHECK(d.images[2][0][1][2].item<int>() == 25);
    CHECK(d.labels[1].item<int64_t>() == 8);
    CHECK(d.Slice(1, 3).labels[0].item<int64_t>() == 8);
  }
  std::ofstream(dir + "/bad", std::ios::binary) << BigEndian(1234) << "xxxxxxxxxxxxxx";
  CHECK_THROWS_WITH(LoadIdx(dir + "/bad", dir + "/lab"),
                    Catch::Contains(dir + "/bad") && Catch::Contains("magic 2051"));
  std::ofstream(dir + "/short", std::ios::binary)
      << BigEndian(2051) << BigEndian(3) << BigEndian(2) << BigEndian(3) << "abc";
  CHECK_THROWS_WITH(LoadIdx(dir + "/short", dir + "/lab"), Catch::Contains("truncated"));
  CHECK_THROWS_WITH(LoadIdx(dir + "/img", dir + "/missing"),
                    Catch::Contains(dir + "/missing") && Catch::Contains("cannot open"));
  fs::remove_all(dir);
}

TEST_CASE("Fashion-MNIST from Debian's dataset package", "[recognition]") {
  if (!fs::exists(std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz")) {
    WARN("dataset-fashion-mnist not installed (tools/setup.sh installs it); skipped");
    return;
  }
  const ImageDataset test = LoadFashionMnist("test");
  CHECK(test.size() == 10000);
  CHECK(test.images.sizes() == torch::IntArrayRef({10000, 1, 28, 28}));
  CHECK(test.labels.min().item<int64_t>() == 0);
  CHECK(test.labels.max().item<int64_t>() == 9);
  CHECK_THROWS_WITH(LoadFashionMnist("val"), Catch::Contains("train or test"));
}

TEST_CASE("the official budget sweep and threshold search", "[recognition]") {
  const auto d = OfficialExitDistributions(4);
  REQUIRE(d.size() == 33);
  // Values printed by the official generate_distribution (reference §3).
  const std::vector<std::pair<int, std::array<double, 4>>> official = {
      {0, {0.6811, 0.2572, 0.0257, 0.0360}},
      {16, {0.2125, 0.2625, 0.1312, 0.3937}},
      {32, {0.0100, 0.0471, 0.0943, 0.8486}}};
  for (const auto& [i, p] : official)
    for (int k = 0; k < 4; ++k) CHECK(d[i][k] == Approx(p[k]).margin(1e-4));

  // 10 samples, 3 exits; confidences chosen by hand.
  ExitScores s;
  s.samples = 10;
  s.exits = 3;
  for (int i = 0; i < 10; ++i) {
    s.confidence.insert(s.confidence.end(), {0.1f * i, 0.5f + 0.05f * i, 1.f});
    s.correct.insert(s.correct.end(), {uint8_t(i >= 5), 1, 1});
  }
  // 30 % at exit 1: the 3rd highest exit-1 confidence (0.7); then 20 % of the
  // 10 at exit 2 among the 7 left: the 2nd highest of samples 0-6 (0.75).
  const auto t = ThresholdsForDistribution(s, {0.3, 0.2, 0.5});
  CHECK(t[0] == Approx(0.7f));
  CHECK(t[1] == Approx(0.75f));
  const auto e = EvaluateThresholds(s, t, {1.0, 2.0, 3.0});
  CHECK(e.exit_fraction[0] == Approx(0.3));
  CHECK(e.exit_fraction[1] == Approx(0.2));
  CHECK(e.exit_fraction[2] == Approx(0.5));
  CHECK(e.expected_cost == Approx(0.3 * 1 + 0.2 * 2 + 0.5 * 3));
  CHECK(e.accuracy == Approx(1.0));  // samples 7-9 leave at exit 1 and are right

  // The official family sends at most ~83 % to exit 1: 8 of 10 samples here,
  // 1 at exit 2 and 1 at exit 3, i.e. 1.3 per sample at the cheapest.
  const auto c = CalibrateForBudget(s, {1.0, 2.0, 3.0}, 1.35);
  CHECK(c.budget_met);
  CHECK(c.on_calibration_set.expected_cost == Approx(1.3));
  const auto generous = CalibrateForBudget(s, {1.0, 2.0, 3.0}, 3.0);
  CHECK(generous.on_calibration_set.accuracy == Approx(1.0));
  CHECK_FALSE(CalibrateForBudget(s, {1.0, 2.0, 3.0}, 0.5).budget_met);
}

TEST_CASE("the linear-exit baseline skips the stages after its exit", "[recognition]") {
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  LinearExitCnn net(SmallNet());
  net->eval();
  const torch::Tensor x = torch::randn({5, 1, 32, 32});
  const auto full = net->forward(x);
  REQUIRE(full.size() == 3);
  const auto g = net->ExitGflops();
  CHECK(g[0] < g[1]);
  CHECK(g[1] < g[2]);
  auto early = net->ForwardDynamic(x, {0.f, 0.f});
  CHECK(net->counts().feature_stage_calls[2] == 0);
  CHECK(net->counts().feature_stage_calls[3] == 0);
  CHECK(torch::allclose(early.logits, full[0], 1e-5, 1e-5));
  auto late = net->ForwardDynamic(x, {2.f, 2.f});
  CHECK(torch::all(late.exit_index == 2).item<bool>());
  CHECK(torch::allclose(late.logits, full[2], 1e-4, 1e-5));
  CHECK_THROWS_WITH(net->ForwardDynamic(x, {0.5f}), Catch::Contains("2 exit thresholds"));
}

TEST_CASE("training resumes from a checkpoint where it left off", "[recognition]") {
  torch::set_num_threads(1);  // bit-for-bit comparable runs
  const ImageDataset data = RandomImages(48);
  TrainConfig c;
  c.net = SmallNet();
  c.epochs = 2;
  c.batch_size = 16;  // 3 steps per epoch, 6 in all
  c.warmup_epochs = 1;
  c.checkpoint_every = 2;
  const std::string straight = dyn4d::test::TempDir("train-straight");
  const std::string resumed = dyn4d::test::TempDir("train-resumed");

  c.out_dir = straight;
  const TrainResult a = Train(c, data);
  REQUIRE(a.status == TrainResult::Status::kOk);
  CHECK(a.steps == 6);
  CHECK(a.resumed_from_step == -1);

  c.out_dir = resumed;
  c.max_steps = 4;  // "interrupted" after step 4 (mid-epoch 2)
  REQUIRE(Train(c, data).steps == 4);
  c.max_steps = 0;
  const TrainResult b = Train(c, data);
  REQUIRE(b.status == TrainResult::Status::kOk);
  CHECK(b.resumed_from_step == 4);
  CHECK(b.steps == 6);

  DynPerceiver wa(c.net), wb(c.net);
  LoadStateDict(*wa, a.weights_path);
  LoadStateDict(*wb, b.weights_path);
  const auto pa = wa->named_parameters(), pb = wb->named_parameters();
  double worst = 0;
  for (const auto& p : pa)
    worst = std::max(worst, (p.value() - pb[p.key()]).abs().max().item<double>());
  CHECK(worst < 1e-6);
  // Only the latest checkpoint is kept.
  CHECK(fs::exists(resumed + "/checkpoint-6.pt"));
  CHECK_FALSE(fs::exists(resumed + "/checkpoint-4.pt"));

  TrainConfig bad = c;
  bad.batch_size = 1;
  bad.out_dir = "";
  const TrainResult r = Train(bad, data);
  CHECK(r.status == TrainResult::Status::kFailed);
  CHECK_THAT(r.message, Catch::Contains("batch_size"));
  fs::remove_all(straight);
  fs::remove_all(resumed);
}

TEST_CASE("torch's sgemm_ comes from the system BLAS, not ATLAS's libf77blas", "[recognition]") {
  // Debian's Ceres links libf77blas; if it is found first, every sgemm_ in
  // the process runs on ATLAS's single-threaded kernels (CMakeLists.txt:
  // dyn4d_prefer_system_blas).
  void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
  REQUIRE(sgemm != nullptr);
  Dl_info info{};
  REQUIRE(dladdr(sgemm, &info) != 0);
  // Through the alternatives symlink to the real file (atlas/ or openblas*/).
  const std::string from =
      info.dli_fname ? fs::weakly_canonical(info.dli_fname).string() : std::string();
  INFO("sgemm_ from " << from);
  CHECK(from.find("f77blas") == std::string::npos);
  CHECK(from.find("atlas") == std::string::npos);
}
