// Dyn-Perceiver: parity with the official PyTorch code, state_dict names,
// FLOPs convention, and early exits that really skip work.
// torch pulls in glog, whose CHECK macro would shadow Catch's: torch first,
// then drop glog's CHECK before Catch defines its own.
#include "dyn4d/recognition/dyn_perceiver.h"
#undef CHECK

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "../common/shared_data.h"
#include "../common/test_stages.h"

using namespace dyn4d::recognition;
namespace fs = std::filesystem;

namespace {
// A small configuration that runs fast on two cores.
DynPerceiverConfig Tiny() {
  DynPerceiverConfig c = ConfigForName("mobilenetV3_0x5_perceiver_t32");
  c.num_classes = 10;
  c.depth_factor = {1, 1, 1, 1};
  return c;
}
}  // namespace

TEST_CASE("official mobilenetV3_0x75_t128 weights reproduce all four exits within 1e-4",
          "[recognition][shared]") {
  const fs::path ref = dyn4d::test::SharedDirOrSkip("parity/dynperceiver_mobilenetV3_0x75_t128");
  torch::NoGradGuard no_grad;
  DynPerceiver model(ConfigForName("mobilenetV3_0x75_perceiver_t128"));
  model->eval();
  LoadStateDict(*model, (ref / "state_dict.pt").string());
  std::map<std::string, torch::Tensor> io;
  for (auto& [k, v] : LoadTensorDict((ref / "io.pt").string())) io[k] = v;
  const auto out = model->forward(io.at("input"));
  for (int k = 0; k < kNumExits; ++k) {
    INFO("exit " << kExitNames[k]);
    CHECK((out[k] - io.at(kExitNames[k])).abs().max().item<double>() <= 1e-4);
  }
  // The inference preparation (BatchNorm folded, latent branch on Eigen)
  // keeps parity.
  model->PrepareInference();
  const auto fast = model->forward(io.at("input"));
  for (int k = 0; k < kNumExits; ++k) {
    INFO("prepared, exit " << kExitNames[k]);
    CHECK((fast[k] - io.at(kExitNames[k])).abs().max().item<double>() <= 1e-4);
  }
  // Stopping early gives the same logits for the exits computed.
  const auto first_two = model->ForwardUntil(io.at("input"), 2);
  REQUIRE(first_two.size() == 2);
  CHECK(torch::allclose(first_two[1], fast[1]));
}

TEST_CASE("state_dict keys and shapes equal the official key list", "[recognition][shared]") {
  const fs::path parity = dyn4d::test::SharedDirOrSkip("parity");
  const std::pair<std::string, std::string> cases[] = {
      {"reg800m_perceiver_t128", "reg800m_perceiver_t128_keys.txt"},
      {"resnet50_0375_perceiver_t128", "resnet50_0375_perceiver_t128_keys.txt"},
      {"mobilenetV3_0x75_perceiver_t128", "dynperceiver_mobilenetV3_0x75_t128/keys.txt"}};
  for (const auto& [name, file] : cases) {
    INFO(name);
    std::ifstream in(parity / file);
    REQUIRE(in);
    std::vector<std::string> expected;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      std::istringstream fields(line);
      std::string key, shape;
      std::getline(fields, key, '\t');
      std::getline(fields, shape, '\t');
      expected.push_back(key + " " + shape);
    }
    DynPerceiver model(ConfigForName(name));
    std::vector<std::string> ours;
    for (const auto& [key, shape] : StateDictShapes(*model)) {
      std::string s = "(";
      for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
      s += shape.size() == 1 ? ",)" : ")";
      ours.push_back(key + " " + s);
    }
    CHECK(ours.size() == expected.size());
    // Same entries in the same (state_dict) order.
    for (size_t i = 0; i < std::min(ours.size(), expected.size()); ++i) {
      INFO("entry " << i);
      REQUIRE(ours[i] == expected[i]);
    }
  }
}

TEST_CASE("FLOPs counter reproduces the official per-exit GFLOPs", "[recognition]") {
  // Official values (forward_calc_flops, reference notes section 3).
  const std::map<std::string, std::array<double, 4>> official = {
      {"mobilenetV3_0x75_perceiver_t128", {0.097687392, 0.181993488, 0.206852448, 0.266409648}},
      {"reg800m_perceiver_t128", {0.459052672, 1.0648832, 1.227629456, 1.29801488}},
      {"reg400m_perceiver_t128", {0.2623024, 0.449687936, 0.585612216, 0.608286496}}};
  for (const auto& [name, want] : official) {
    DynPerceiver model(ConfigForName(name));
    const auto got = model->CumulativeGflops();
    for (int k = 0; k < 4; ++k) {
      INFO(name << " exit " << k + 1);
      CHECK(got[k] == Approx(want[k]).epsilon(1e-6));
    }
  }
}

// The inference preparation (BatchNorm folded into the convolutions, the
// latent branch as one pass per layer on BLAS or Eigen, X2Z's convolution and
// pooling folded into one strided convolution) changes no logit beyond float
// rounding: random weights with non-trivial BatchNorm statistics and position
// biases, at 112x112 (every X2Z map a multiple of 7: the folded tokens) and
// 96x96 (not: the plain ones).
TEST_CASE("prepared for inference, every exit gives the same logits", "[recognition]") {
  torch::NoGradGuard no_grad;
  auto make = [] {
    DynPerceiverConfig c = Tiny();
    c.image_size = 112;
    torch::manual_seed(11);
    DynPerceiver m(c);
    for (auto& p : m->named_parameters())
      if (p.key().find("relative_position_bias") != std::string::npos) p.value().normal_(0, 0.1);
    for (auto& b : m->named_buffers()) {
      if (b.key().find("running_mean") != std::string::npos) b.value().normal_(0, 0.1);
      if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 1.5);
    }
    m->eval();
    return m;
  };
  DynPerceiver plain = make(), prepared = make();
  prepared->PrepareInference();
  for (const int size : {112, 96}) {
    torch::manual_seed(5);
    const torch::Tensor x = torch::randn({3, 3, size, size});
    const auto want = plain->ForwardUntil(x, 4), got = prepared->ForwardUntil(x, 4);
    REQUIRE(got.size() == 4);
    for (int k = 0; k < 4; ++k) {
      INFO(size << "x" << size << ", exit " << k + 1);
      const double scale = 1 + want[k].abs().max().item<double>();
      CHECK((got[k] - want[k]).abs().max().item<double>() <= 1e-4 * scale);
    }
  }
}

TEST_CASE("state_dict loading names the offending key", "[recognition]") {
  DynPerceiver model(Tiny());
  const std::string dir = dyn4d::test::TempDir("state_dict");
  const std::string good = dir + "/good.pt";
  SaveStateDict(*model, good);
  DynPerceiver other(Tiny());
  LoadStateDict(*other, good);  // round trip
  CHECK(torch::equal(other->named_parameters()["latent"], model->named_parameters()["latent"]));

  auto variant = Tiny();
  variant.num_classes = 12;  // every head changes shape
  DynPerceiver wrong_shape(variant);
  try {
    LoadStateDict(*wrong_shape, good);
    FAIL("no error");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("shape mismatch for 'early_classifier3.weight'"));
  }
  auto deeper = Tiny();
  deeper.depth_factor = {1, 1, 1, 2};  // self_att4.3.. missing from the file
  DynPerceiver missing(deeper);
  CHECK_THROWS_WITH(LoadStateDict(*missing, good), Catch::Contains("missing key 'self_att4.3."));
  auto shallower = Tiny();
  DynPerceiver big(deeper);
  const std::string big_file = dir + "/big.pt";
  SaveStateDict(*big, big_file);
  DynPerceiver small(shallower);
  CHECK_THROWS_WITH(LoadStateDict(*small, big_file),
                    Catch::Contains("unexpected key 'self_att4.3."));
  std::ofstream(dir + "/garbage.pt") << "not a pickle";
  CHECK_THROWS_WITH(LoadStateDict(*small, dir + "/garbage.pt"),
                    Catch::Contains("not a torch.save'd dict"));
  fs::remove_all(dir);
}

TEST_CASE("early exits skip the feature stages they do not need", "[recognition]") {
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  DynPerceiver model(Tiny());
  model->eval();
  const torch::Tensor images = torch::randn({6, 3, 64, 64});
  const auto full = model->forward(images);

  SECTION("everyone confident at exit 1: F-stages 3 and 4 never run") {
    model->counts().Reset();
    const auto out = model->ForwardDynamic(images, {0.f, 0.f, 0.f});
    const auto& n = model->counts();
    CHECK(n.feature_stage_calls[0] == 1);
    CHECK(n.feature_stage_calls[1] == 1);
    CHECK(n.feature_stage_calls[2] == 0);
    CHECK(n.feature_stage_calls[3] == 0);
    CHECK(n.latent_stage_calls[3] == 0);
    CHECK(n.last_cross_attention_calls == 0);
    CHECK(torch::all(out.exit_index == 0).item<bool>());
    CHECK(torch::allclose(out.logits, full[0], 1e-5, 1e-5));
  }
  SECTION("nobody confident: every stage runs once and the last exit is used") {
    model->counts().Reset();
    const auto out = model->ForwardDynamic(images, {2.f, 2.f, 2.f});
    CHECK(model->counts().feature_stage_calls[3] == 1);
    CHECK(model->counts().last_cross_attention_calls == 1);
    CHECK(torch::all(out.exit_index == 3).item<bool>());
    CHECK(torch::allclose(out.logits, full[3], 1e-5, 1e-5));
  }
  SECTION("mixed: the batch shrinks and each sample gets its own exit's logits") {
    // Threshold at exit 1 between the samples' confidences: some leave.
    const torch::Tensor conf = std::get<0>(torch::softmax(full[0], 1).max(1));
    const float t = conf.median().item<float>();
    model->counts().Reset();
    const auto out = model->ForwardDynamic(images, {t, 2.f, 2.f});
    const int64_t left_at_1 = (conf >= t).sum().item<int64_t>();
    REQUIRE(left_at_1 > 0);
    REQUIRE(left_at_1 < 6);
    CHECK(model->counts().feature_stage_samples[2] == 6 - left_at_1);
    CHECK(model->counts().feature_stage_samples[3] == 6 - left_at_1);
    for (int64_t i = 0; i < 6; ++i) {
      const int e = static_cast<int>(out.exit_index[i].item<int64_t>());
      CHECK(e == (conf[i].item<float>() >= t ? 0 : 3));
      CHECK(torch::allclose(out.logits[i], full[e][i], 1e-4, 1e-5));
    }
  }
}

TEST_CASE("ResNet-50 x0.375: the official size, exits in order, dynamic inference skips stages",
          "[recognition]") {
  DynPerceiver model(ConfigForName("resnet50_0375_perceiver_t128"));
  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();
  CHECK(params / 1e6 == Approx(20.28).margin(0.01));  // reference notes: 20.28 M
  const auto gflops = model->CumulativeGflops();
  for (int k = 1; k < 4; ++k) CHECK(gflops[k] > gflops[k - 1]);
  model->eval();
  torch::NoGradGuard g;
  const torch::Tensor x = torch::randn({2, 3, 64, 64});
  const auto all = model->ForwardUntil(x, 4);
  REQUIRE(all.size() == 4);
  for (const auto& y : all) CHECK(y.sizes() == torch::IntArrayRef({2, 1000}));
  const auto two = model->ForwardUntil(x, 2);
  CHECK(torch::allclose(two[1], all[1], 1e-4, 1e-5));
}

TEST_CASE("configuration names and validation", "[recognition]") {
  const std::array<int, 4> reg800m_depth = {1, 1, 1, 2};
  CHECK(ConfigForName("reg800m_perceiver_t128").depth_factor == reg800m_depth);
  CHECK(ConfigForName("mobilenetV3_0x75_perceiver_t256").num_latents == 256);
  CHECK_THROWS_WITH(ConfigForName("resnet9000_perceiver"),
                    Catch::Contains("unknown Dyn-Perceiver"));
  DynPerceiverConfig c;
  c.num_latents = 20;
  CHECK_THROWS_WITH(DynPerceiver(c), Catch::Contains("num_latents"));
}
