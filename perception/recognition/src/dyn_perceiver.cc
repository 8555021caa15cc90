// Dyn-Perceiver modules. Names follow the official code
// (models/dyn_perceiver_{mobilenet_v3,regnet}.py, models/perceiver_core/
// modules.py, torchvision's MobileNetV3 / RegNet) so that state_dict keys
// match one to one; the reference notes in ../shared/reference list them.
#include "dyn4d/recognition/dyn_perceiver.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <fstream>
#include <map>
#include <optional>

#include "dyn4d/recognition/files.h"

#ifdef DYN4D_HAVE_EIGEN
#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>
#endif
#include <stdexcept>
#include <thread>

namespace dyn4d::recognition {
namespace {

namespace nn = torch::nn;
using torch::Tensor;

enum class ActKind { kReLU, kHardswish, kHardsigmoid, kSigmoid };

Tensor Activate(ActKind kind, Tensor x) {
  switch (kind) {
    case ActKind::kReLU:
      return torch::relu(x);
    case ActKind::kHardswish:
      return torch::hardswish(x);
    case ActKind::kHardsigmoid:
      return torch::hardsigmoid(x);
    case ActKind::kSigmoid:
      return torch::sigmoid(x);
  }
  return x;
}

// Parameter-free activation (LibTorch 1.13 has no Hardswish module).
struct ActImpl : nn::Module {
  explicit ActImpl(ActKind k) : kind(k) {}
  Tensor forward(Tensor x) { return Activate(kind, x); }
  ActKind kind;
};
TORCH_MODULE(Act);

// torchvision's _make_divisible.
int64_t MakeDivisible(double v, int64_t divisor = 8) {
  int64_t n =
      std::max<int64_t>(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (n < 0.9 * v) n += divisor;
  return n;
}

// Conv (no bias) + BN (+ activation), torchvision's ConvNormActivation:
// children "0" (conv) and "1" (BN) as in the official state_dict. Fold()
// merges the BN into the convolution for inference (one op instead of two);
// the registered parameters stay as loaded.
struct ConvBnActImpl : nn::Module {
  ConvBnActImpl(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t groups, double bn_eps,
                double bn_momentum, std::optional<ActKind> act)
      : act(act) {
    conv = register_module("0", nn::Conv2d(nn::Conv2dOptions(in, out, k)
                                               .stride(stride)
                                               .padding((k - 1) / 2)
                                               .groups(groups)
                                               .bias(false)));
    bn = register_module(
        "1", nn::BatchNorm2d(nn::BatchNormOptions(out).eps(bn_eps).momentum(bn_momentum)));
  }
  Tensor forward(Tensor x) {
    if (folded_weight.defined() && !is_training()) {
      const auto& o = conv->options;
      x = torch::conv2d(x, folded_weight, folded_bias, *o.stride(),
                        c10::get<torch::ExpandingArray<2>>(o.padding()), *o.dilation(), o.groups());
    } else {
      x = bn(conv(x));
    }
    if (!act) return x;
    // In place at inference (saves an allocation per layer); autograd keeps
    // the out-of-place form.
    if (!is_training() && *act == ActKind::kReLU) return torch::relu_(x);
    if (!is_training() && *act == ActKind::kHardswish) return torch::hardswish_(x);
    return Activate(*act, x);
  }
  // channels_last: store the folded weight NHWC, so that oneDNN/ATen run the
  // convolution on NHWC activations without reordering per call.
  void Fold(bool channels_last = false) {
    torch::NoGradGuard g;
    const Tensor scale = bn->weight / torch::sqrt(bn->running_var + bn->options.eps());
    folded_weight = (conv->weight * scale.view({-1, 1, 1, 1}))
                        .contiguous(channels_last ? at::MemoryFormat::ChannelsLast
                                                  : at::MemoryFormat::Contiguous);
    folded_bias = (bn->bias - bn->running_mean * scale).contiguous();
  }
  nn::Conv2d conv{nullptr};
  nn::BatchNorm2d bn{nullptr};
  std::optional<ActKind> act;
  Tensor folded_weight, folded_bias;
};
TORCH_MODULE(ConvBnAct);

ConvBnAct ConvBn(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t groups, double bn_eps,
                 double bn_momentum, std::optional<ActKind> act) {
  return ConvBnAct(in, out, k, stride, groups, bn_eps, bn_momentum, act);
}

// Squeeze-excitation: avgpool -> fc1 -> ReLU -> fc2 -> scale activation.
struct SqueezeExcitationImpl : nn::Module {
  SqueezeExcitationImpl(int64_t c, int64_t squeeze, ActKind scale_act) : scale(scale_act) {
    fc1 = register_module("fc1", nn::Conv2d(nn::Conv2dOptions(c, squeeze, 1)));
    fc2 = register_module("fc2", nn::Conv2d(nn::Conv2dOptions(squeeze, c, 1)));
  }
  Tensor forward(Tensor x) {
    Tensor s = torch::adaptive_avg_pool2d(x, {1, 1});
    s = fc2(torch::relu(fc1(s)));
    return Activate(scale, s) * x;
  }
  nn::Conv2d fc1{nullptr}, fc2{nullptr};
  ActKind scale;
};
TORCH_MODULE(SqueezeExcitation);

// MobileNetV3 bneck (torchvision InvertedResidual; `block` a Sequential).
struct InvertedResidualImpl : nn::Module {
  InvertedResidualImpl(int64_t in, int64_t k, int64_t exp, int64_t out, bool se, bool hs,
                       int64_t stride)
      : residual(stride == 1 && in == out) {
    const ActKind act = hs ? ActKind::kHardswish : ActKind::kReLU;
    Seq b;
    if (exp != in) b->push_back(ConvBn(in, exp, 1, 1, 1, 1e-3, 0.01, act));
    b->push_back(ConvBn(exp, exp, k, stride, exp, 1e-3, 0.01, act));
    if (se) b->push_back(SqueezeExcitation(exp, MakeDivisible(exp / 4), ActKind::kHardsigmoid));
    b->push_back(ConvBn(exp, out, 1, 1, 1, 1e-3, 0.01, std::nullopt));
    block = register_module("block", b);
  }
  Tensor forward(Tensor x) {
    Tensor y = block->forward(x);
    return residual ? y + x : y;
  }
  Seq block{nullptr};
  bool residual;
};
TORCH_MODULE(InvertedResidual);

// RegNet's BottleneckTransform (a, b, se, c) and ResBottleneckBlock.
struct BottleneckTransformImpl : nn::Module {
  BottleneckTransformImpl(int64_t in, int64_t out, int64_t stride, int64_t group_width,
                          double se_ratio) {
    const int64_t groups = out / group_width;
    a = register_module("a", ConvBn(in, out, 1, 1, 1, 1e-5, 0.1, ActKind::kReLU));
    b = register_module("b", ConvBn(out, out, 3, stride, groups, 1e-5, 0.1, ActKind::kReLU));
    se = register_module(
        "se",
        SqueezeExcitation(out, static_cast<int64_t>(std::round(se_ratio * in)), ActKind::kSigmoid));
    c = register_module("c", ConvBn(out, out, 1, 1, 1, 1e-5, 0.1, std::nullopt));
  }
  Tensor forward(Tensor x) { return c->forward(se->forward(b->forward(a->forward(x)))); }
  ConvBnAct a{nullptr}, b{nullptr}, c{nullptr};
  SqueezeExcitation se{nullptr};
};
TORCH_MODULE(BottleneckTransform);

struct ResBottleneckBlockImpl : nn::Module {
  ResBottleneckBlockImpl(int64_t in, int64_t out, int64_t stride, int64_t group_width) {
    if (in != out || stride != 1)
      proj = register_module("proj", ConvBn(in, out, 1, stride, 1, 1e-5, 0.1, std::nullopt));
    f = register_module("f", BottleneckTransform(in, out, stride, group_width, 0.25));
  }
  Tensor forward(Tensor x) {
    Tensor y = f->forward(x);
    return torch::relu(proj ? proj->forward(x) + y : x + y);
  }
  ConvBnAct proj{nullptr};
  BottleneckTransform f{nullptr};
};
TORCH_MODULE(ResBottleneckBlock);

// torchvision ResNet's Bottleneck (v1.5: the stride on the 3x3): conv1/bn1,
// conv2/bn2, conv3/bn3, downsample (conv, bn) when the shape changes.
struct ResNetBottleneckImpl : nn::Module {
  ResNetBottleneckImpl(int64_t in, int64_t width, int64_t stride) {
    const int64_t out = 4 * width;
    conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in, width, 1).bias(false)));
    bn1 = register_module("bn1", nn::BatchNorm2d(width));
    conv2 = register_module(
        "conv2",
        nn::Conv2d(nn::Conv2dOptions(width, width, 3).stride(stride).padding(1).bias(false)));
    bn2 = register_module("bn2", nn::BatchNorm2d(width));
    conv3 = register_module("conv3", nn::Conv2d(nn::Conv2dOptions(width, out, 1).bias(false)));
    bn3 = register_module("bn3", nn::BatchNorm2d(out));
    if (stride != 1 || in != out) {
      downsample = Seq();
      downsample->push_back(nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)));
      downsample->push_back(nn::BatchNorm2d(out));
      register_module("downsample", downsample);
    }
  }
  Tensor forward(Tensor x) {
    Tensor y = torch::relu(bn1(conv1(x)));
    y = torch::relu(bn2(conv2(y)));
    y = bn3(conv3(y));
    return torch::relu(y + (downsample ? downsample->forward(x) : x));
  }
  nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  Seq downsample{nullptr};
};
TORCH_MODULE(ResNetBottleneck);

// perceiver_core/modules.py MultiHeadAttention: q/k/v without bias, o with
// bias; an optional learned per-key-position bias added to K (X2Z only).
struct MultiHeadAttentionImpl : nn::Module {
  MultiHeadAttentionImpl(int64_t heads, int64_t q_in, int64_t kv_in, int64_t qk, int64_t v,
                         int64_t out, bool rpb, double dropout)
      : heads(heads), qk(qk), v(v), dropout(dropout) {
    q_proj = register_module("q_proj", nn::Linear(nn::LinearOptions(q_in, qk).bias(false)));
    k_proj = register_module("k_proj", nn::Linear(nn::LinearOptions(kv_in, qk).bias(false)));
    v_proj = register_module("v_proj", nn::Linear(nn::LinearOptions(kv_in, v).bias(false)));
    o_proj = register_module("o_proj", nn::Linear(nn::LinearOptions(v, out)));
    if (rpb)
      relative_position_bias =
          register_parameter("relative_position_bias", torch::zeros({1, 49, qk}));
  }
  Tensor forward(const Tensor& xq, const Tensor& xkv) {
    const int64_t b = xq.size(0), nq = xq.size(1), nkv = xkv.size(1);
    Tensor q = q_proj(xq), k = k_proj(xkv), val = v_proj(xkv);
    if (relative_position_bias.defined()) k = k + relative_position_bias;
    const int64_t cq = qk / heads, cv = v / heads;
    q = q.view({b, nq, heads, cq}).transpose(1, 2) * std::pow(double(cq), -0.5);
    k = k.view({b, nkv, heads, cq}).transpose(1, 2);
    val = val.view({b, nkv, heads, cv}).transpose(1, 2);
    Tensor attn = torch::softmax(torch::matmul(q, k.transpose(-1, -2)), -1);
    if (dropout > 0) attn = torch::dropout(attn, dropout, is_training());
    Tensor o = torch::matmul(attn, val).transpose(1, 2).reshape({b, nq, v});
    return o_proj(o);
  }
  // Official FLOPs convention for one sample.
  double Flops(int64_t nq, int64_t q_in, int64_t nkv, int64_t kv_in, int64_t out) const {
    return double(nq) * q_in * qk + 2.0 * nkv * kv_in * qk +
           double(heads) * nq * nkv * (qk / heads) + double(heads) * nq * nkv * (v / heads) +
           double(nq) * v * out;
  }
  nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  Tensor relative_position_bias;
  int64_t heads, qk, v;
  double dropout;
};
TORCH_MODULE(MultiHeadAttention);

// LayerNorm -> fc1 -> GELU (exact) -> fc2.
struct MlpImpl : nn::Module {
  MlpImpl(int64_t c, int64_t widening) : c(c), hidden(c * widening) {
    layernorm = register_module("layernorm", nn::LayerNorm(nn::LayerNormOptions({c})));
    fc1 = register_module("fc1", nn::Linear(c, hidden));
    fc2 = register_module("fc2", nn::Linear(hidden, c));
  }
  Tensor forward(const Tensor& x) { return fc2(torch::gelu(fc1(layernorm(x)))); }
  double Flops(int64_t n) const { return 2.0 * n * c * hidden; }
  nn::LayerNorm layernorm{nullptr};
  nn::Linear fc1{nullptr}, fc2{nullptr};
  int64_t c, hidden;
};
TORCH_MODULE(Mlp);

#ifdef DYN4D_HAVE_EIGEN
// Inference kernels for the latent branch. Its matrices are small (16-128
// latent tokens, up to a few thousand query pixels in Z2X, 24-320 channels),
// so ATen's per-op overhead dominates; one pass per layer and sample removes
// it. The products go straight to the system BLAS where the build has one
// (OpenBLAS picks AVX2/AVX-512 kernels at run time; Eigen, compiled for the
// baseline x86-64, runs them at half the speed), else to Eigen. Weights are
// copied (transposed) once by PrepareInference().
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMat>;
using RowsRef = Eigen::Ref<const RowMat>;  // whole rows of a RowMat, without a copy

#ifdef DYN4D_HAVE_BLAS
extern "C" void sgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k,
                       const float* alpha, const float* a, const int* lda, const float* b,
                       const int* ldb, const float* beta, float* c, const int* ldc);
#endif
// Row-major C (m x n) = alpha A (m x k) op(B) (k x n) + beta C, op(B) = B or
// B^T (the attention scores take K^T).
void Gemm(bool tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
          int ldb, float beta, float* c, int ldc) {
#ifdef DYN4D_HAVE_BLAS
  // Column-major BLAS sees the transposes: C^T = op(B)^T A^T.
  const char tA = 'N', tB = tb ? 'T' : 'N';
  sgemm_(&tB, &tA, &n, &m, &k, &alpha, b, &ldb, a, &lda, &beta, c, &ldc);
#else
  using Stride = Eigen::OuterStride<>;
  using CMap = Eigen::Map<const RowMat, 0, Stride>;
  Eigen::Map<RowMat, 0, Stride> C(c, m, n, Stride(ldc));
  const CMap A(a, m, k, Stride(lda)), B(b, tb ? n : k, tb ? k : n, Stride(ldb));
  if (beta == 0)
    C.setZero();
  else if (beta != 1)
    C *= beta;
  if (tb)
    C.noalias() += alpha * A * B.transpose();
  else
    C.noalias() += alpha * A * B;
#endif
}

struct FastLinear {
  RowMat wt;  // (in, out): the layers' weights side by side
  Eigen::RowVectorXf b;
  explicit FastLinear(std::initializer_list<const nn::Linear*> layers) {
    int64_t in = -1, out = 0;
    bool bias = false;
    for (const nn::Linear* l : layers) {
      in = (*l)->weight.size(1), out += (*l)->weight.size(0);
      bias = bias || (*l)->bias.defined();
    }
    wt.resize(in, out);
    if (bias) b = Eigen::RowVectorXf::Zero(out);
    int64_t col = 0;
    for (const nn::Linear* l : layers) {
      const Tensor w = (*l)->weight.detach().contiguous();
      wt.middleCols(col, w.size(0)) =
          ConstMap(w.data_ptr<float>(), w.size(0), w.size(1)).transpose();
      if ((*l)->bias.defined())
        b.segment(col, w.size(0)) =
            Eigen::Map<const Eigen::RowVectorXf>((*l)->bias.data_ptr<float>(), w.size(0));
      col += w.size(0);
    }
  }
  explicit FastLinear(const nn::Linear& l) : FastLinear({&l}) {}
  void Apply(const RowsRef& x, RowMat& y) const {
    y.resize(x.rows(), wt.cols());
    if (b.size()) y.rowwise() = b;
    Gemm(false, x.rows(), wt.cols(), x.cols(), 1.f, x.data(), x.outerStride(), wt.data(), wt.cols(),
         b.size() ? 1.f : 0.f, y.data(), y.cols());
  }
};

struct FastLayerNorm {
  Eigen::RowVectorXf g, b;
  float eps;
  explicit FastLayerNorm(const nn::LayerNorm& ln) : eps(static_cast<float>(ln->options.eps())) {
    g = Eigen::Map<const Eigen::RowVectorXf>(ln->weight.data_ptr<float>(), ln->weight.numel());
    b = Eigen::Map<const Eigen::RowVectorXf>(ln->bias.data_ptr<float>(), ln->bias.numel());
  }
  template <typename In>
  void Apply(const In& x, RowMat& y) const {
    y.resize(x.rows(), x.cols());
    for (Eigen::Index r = 0; r < x.rows(); ++r) {
      const float mean = x.row(r).mean();
      const float var = (x.row(r).array() - mean).square().mean();
      y.row(r) = ((x.row(r).array() - mean) / std::sqrt(var + eps)).matrix().cwiseProduct(g) + b;
    }
  }
};

// Multi-head attention in two steps: keys and values once (one product for
// both), then any block of query rows on its own, so that the many query
// tokens of a Z2X layer (the feature map's pixels) can be split across
// threads against the same keys and values.
struct FastAttention {
  FastLinear q, kv, o;
  RowMat rpb;
  int64_t heads, qk;
  explicit FastAttention(const MultiHeadAttentionImpl& m)
      : q(m.q_proj), kv({&m.k_proj, &m.v_proj}), o(m.o_proj), heads(m.heads), qk(m.qk) {
    if (m.relative_position_bias.defined())
      rpb = ConstMap(m.relative_position_bias.data_ptr<float>(), m.relative_position_bias.size(1),
                     m.relative_position_bias.size(2));
  }
  // Normalised key/value tokens in; K in the first qk columns, V after.
  void KeysValues(const RowMat& xkv, RowMat& KV) const {
    kv.Apply(xkv, KV);
    if (rpb.size()) KV.leftCols(qk) += rpb;
  }
  // Normalised query rows in, o_proj output out.
  void Attend(const RowsRef& xq, const RowMat& KV, RowMat& out) const {
    RowMat Q;
    q.Apply(xq, Q);
    const Eigen::Index n = KV.rows(), cq = qk / heads, cv = (KV.cols() - qk) / heads;
    const float scale = 1.f / std::sqrt(static_cast<float>(cq));
    RowMat O(Q.rows(), cv * heads), S(Q.rows(), n);
    for (int64_t h = 0; h < heads; ++h) {
      Gemm(true, Q.rows(), n, cq, scale, Q.data() + h * cq, Q.cols(), KV.data() + h * cq, KV.cols(),
           0.f, S.data(), S.cols());
      for (Eigen::Index r = 0; r < S.rows(); ++r) {
        auto row = S.row(r).array();
        row = (row - row.maxCoeff()).exp();
        row /= row.sum();
      }
      Gemm(false, S.rows(), cv, n, 1.f, S.data(), S.cols(), KV.data() + qk + h * cv, KV.cols(), 0.f,
           O.data() + h * cv, O.cols());
    }
    o.Apply(O, out);
  }
};

struct FastMlp {
  FastLayerNorm ln;
  FastLinear fc1, fc2;
  explicit FastMlp(const MlpImpl& m) : ln(m.layernorm), fc1(m.fc1), fc2(m.fc2) {}
  // x += MLP(x)
  void AddTo(RowMat& x) const {
    RowMat n, h, y;
    ln.Apply(x, n);
    fc1.Apply(n, h);
    h.array() = 0.5f * h.array() * (1.f + (h.array() * 0.70710678f).erf());  // exact GELU
    fc2.Apply(h, y);
    x += y;
  }
};

// The residual pair every attention layer shares, for one sample's query
// tokens x (rows x channels, row-major) against the layer's keys/values:
// out = x + attention(norm(x)); out += MLP(out). `normed`: norm(x) where the
// caller has it already (self-attention normalised every token for the keys
// and values), else each block of rows is normalised with q_norm. Row blocks
// are independent, so blocks of more than kRowsPerThread rows go to ATen's
// threads.
constexpr int64_t kRowsPerThread = 256;
void ResidualAttentionMlp(const float* x, int64_t rows, int64_t channels,
                          const FastLayerNorm& q_norm, const RowMat* normed, const RowMat& KV,
                          const FastAttention& attention, const FastMlp& mlp, float* out) {
  at::parallel_for(0, rows, kRowsPerThread, [&](int64_t begin, int64_t end) {
    const ConstMap xb(x + begin * channels, end - begin, channels);
    RowMat nq, att;
    if (!normed) q_norm.Apply(xb, nq);
    attention.Attend(normed ? RowsRef(normed->middleRows(begin, end - begin)) : RowsRef(nq), KV,
                     att);
    RowMat y = xb + att;
    mlp.AddTo(y);
    Eigen::Map<RowMat>(out + begin * channels, y.rows(), y.cols()) = y;
  });
}
#endif  // DYN4D_HAVE_EIGEN

struct CrossAttentionImpl : nn::Module {
  CrossAttentionImpl(int64_t heads, int64_t q_in, int64_t kv_in, int64_t qk, int64_t v, bool rpb,
                     double dropout) {
    q_norm = register_module("q_norm", nn::LayerNorm(nn::LayerNormOptions({q_in})));
    kv_norm = register_module("kv_norm", nn::LayerNorm(nn::LayerNormOptions({kv_in})));
    attention = register_module("attention",
                                MultiHeadAttention(heads, q_in, kv_in, qk, v, q_in, rpb, dropout));
  }
  Tensor forward(const Tensor& xq, const Tensor& xkv) {
    return attention->forward(q_norm(xq), kv_norm(xkv));
  }
  nn::LayerNorm q_norm{nullptr}, kv_norm{nullptr};
  MultiHeadAttention attention{nullptr};
};
TORCH_MODULE(CrossAttention);

// X2Z and Z2X: out = x_q + CA(x_q, x_kv); out = out + MLP(out).
struct CrossAttentionLayerImpl : nn::Module {
  CrossAttentionLayerImpl(int64_t heads, int64_t q_in, int64_t kv_in, int64_t qk, bool rpb,
                          double dropout)
      : q_in(q_in), kv_in(kv_in) {
    cross_attn =
        register_module("cross_attn", CrossAttention(heads, q_in, kv_in, qk, qk, rpb, dropout));
    mlp = register_module("mlp", Mlp(q_in, 1));
    p = dropout;
  }
  Tensor forward(const Tensor& xq, const Tensor& xkv) {
#ifdef DYN4D_HAVE_EIGEN
    if (fast && !is_training() && !torch::GradMode::is_enabled()) return FastForward(xq, xkv);
#endif
    Tensor out = xq + torch::dropout(cross_attn->forward(xq, xkv), p, is_training() && p > 0);
    return out + torch::dropout(mlp->forward(out), p, is_training() && p > 0);
  }
#ifdef DYN4D_HAVE_EIGEN
  struct Fast {
    FastLayerNorm q_norm, kv_norm;
    FastAttention attention;
    FastMlp mlp;
  };
  std::unique_ptr<Fast> fast;
  void Prepare() {
    fast.reset(new Fast{FastLayerNorm(cross_attn->q_norm), FastLayerNorm(cross_attn->kv_norm),
                        FastAttention(*cross_attn->attention), FastMlp(*mlp)});
  }
  Tensor FastForward(const Tensor& xq_in, const Tensor& xkv_in) {
    const Tensor xq = xq_in.contiguous(), xkv = xkv_in.contiguous();
    Tensor out = torch::empty_like(xq);
    const int64_t nq = xq.size(1), nkv = xkv.size(1);
    RowMat nkvm, KV;
    for (int64_t b = 0; b < xq.size(0); ++b) {
      fast->kv_norm.Apply(ConstMap(xkv[b].data_ptr<float>(), nkv, kv_in), nkvm);
      fast->attention.KeysValues(nkvm, KV);
      ResidualAttentionMlp(xq[b].data_ptr<float>(), nq, q_in, fast->q_norm, nullptr, KV,
                           fast->attention, fast->mlp, out[b].data_ptr<float>());
    }
    return out;
  }
#endif
  double Flops(int64_t nq, int64_t nkv) const {
    return cross_attn->attention->Flops(nq, q_in, nkv, kv_in, q_in) + mlp->Flops(nq);
  }
  CrossAttention cross_attn{nullptr};
  Mlp mlp{nullptr};
  int64_t q_in, kv_in;
  double p;
};
TORCH_MODULE(CrossAttentionLayer);

struct SelfAttentionImpl : nn::Module {
  SelfAttentionImpl(int64_t heads, int64_t c, double dropout) {
    norm = register_module("norm", nn::LayerNorm(nn::LayerNormOptions({c})));
    attention =
        register_module("attention", MultiHeadAttention(heads, c, c, c, c, c, false, dropout));
  }
  Tensor forward(const Tensor& z) {
    const Tensor n = norm(z);
    return attention->forward(n, n);
  }
  nn::LayerNorm norm{nullptr};
  MultiHeadAttention attention{nullptr};
};
TORCH_MODULE(SelfAttention);

struct SelfAttentionLayerImpl : nn::Module {
  SelfAttentionLayerImpl(int64_t heads, int64_t c, int64_t widening, double dropout) : c(c) {
    self_attn = register_module("self_attn", SelfAttention(heads, c, dropout));
    mlp = register_module("mlp", Mlp(c, widening));
    p = dropout;
  }
  Tensor forward(Tensor z) {
#ifdef DYN4D_HAVE_EIGEN
    if (fast && !is_training() && !torch::GradMode::is_enabled()) return FastForward(z);
#endif
    z = z + torch::dropout(self_attn->forward(z), p, is_training() && p > 0);
    return z + torch::dropout(mlp->forward(z), p, is_training() && p > 0);
  }
#ifdef DYN4D_HAVE_EIGEN
  struct Fast {
    FastLayerNorm norm;
    FastAttention attention;
    FastMlp mlp;
  };
  std::unique_ptr<Fast> fast;
  void Prepare() {
    fast.reset(new Fast{FastLayerNorm(self_attn->norm), FastAttention(*self_attn->attention),
                        FastMlp(*mlp)});
  }
  Tensor FastForward(const Tensor& z_in) {
    const Tensor z = z_in.contiguous();
    Tensor out = torch::empty_like(z);
    const int64_t n = z.size(1);
    RowMat normed, KV;
    for (int64_t b = 0; b < z.size(0); ++b) {
      fast->norm.Apply(ConstMap(z[b].data_ptr<float>(), n, c), normed);
      fast->attention.KeysValues(normed, KV);
      ResidualAttentionMlp(z[b].data_ptr<float>(), n, c, fast->norm, &normed, KV, fast->attention,
                           fast->mlp, out[b].data_ptr<float>());
    }
    return out;
  }
#endif
  double Flops(int64_t n) const {
    return self_attn->attention->Flops(n, c, n, c, c) + mlp->Flops(n);
  }
  SelfAttention self_attn{nullptr};
  Mlp mlp{nullptr};
  int64_t c;
  double p;
};
TORCH_MODULE(SelfAttentionLayer);

// A ModuleList of self-attention layers, applied in sequence.
struct SelfAttentionBlockImpl : nn::Module {
  SelfAttentionBlockImpl(int layers, int64_t heads, int64_t c, int64_t widening, double dropout) {
    for (int i = 0; i < layers; ++i)
      layers_.push_back(
          register_module(std::to_string(i), SelfAttentionLayer(heads, c, widening, dropout)));
  }
  Tensor forward(Tensor z) {
    for (auto& l : layers_) z = l->forward(z);
    return z;
  }
  double Flops(int64_t n) const {
    double f = 0;
    for (const auto& l : layers_) f += l->Flops(n);
    return f;
  }
  std::vector<SelfAttentionLayer> layers_;
};
TORCH_MODULE(SelfAttentionBlock);

// FLOPs of a backbone part on an HxW input, official convention: conv =
// Cin*Cout*k^2*Hout*Wout/groups; MobileNet SE = 2*C*Csq + C*H*W; RegNet SE
// not counted; BN, activations and residual additions ignored.
double ConvFlops(const nn::Conv2dImpl& conv, int64_t& h, int64_t& w) {
  const auto& o = conv.options;
  const int64_t k = o.kernel_size()->at(0), s = o.stride()->at(0);
  const int64_t pad = (k - 1) / 2;  // every backbone conv is padded "same"
  h = (h + 2 * pad - k) / s + 1;
  w = (w + 2 * pad - k) / s + 1;
  return double(o.in_channels()) * o.out_channels() * k * k * h * w / o.groups();
}

double ModuleFlops(const nn::Module& m, int64_t& h, int64_t& w) {
  if (const auto* conv = m.as<nn::Conv2d>()) return ConvFlops(*conv, h, w);
  if (const auto* se = m.as<SqueezeExcitation>()) {
    const auto& o1 = se->fc1->options;
    if (se->scale == ActKind::kSigmoid) return 0;  // RegNet's SE is not counted
    return 2.0 * o1.in_channels() * o1.out_channels() + double(o1.in_channels()) * h * w;
  }
  if (const auto* pool = m.as<nn::MaxPool2d>()) {
    const auto& o = pool->options;
    const int64_t k = o.kernel_size()->at(0), st = o.stride()->at(0), pad = o.padding()->at(0);
    h = (h + 2 * pad - k) / st + 1;
    w = (w + 2 * pad - k) / st + 1;
    return 0;
  }
  if (const auto* block = m.as<ResNetBottleneck>()) {
    double f = 0;
    if (block->downsample) {
      int64_t hd = h, wd = w;
      f += ModuleFlops(*block->downsample, hd, wd);
    }
    f += ModuleFlops(*block->conv1, h, w) + ModuleFlops(*block->conv2, h, w) +
         ModuleFlops(*block->conv3, h, w);
    return f;
  }
  if (const auto* block = m.as<ResBottleneckBlock>()) {
    double f = 0;
    int64_t h0 = h, w0 = w;
    if (block->proj) {
      int64_t hp = h0, wp = w0;
      f += ModuleFlops(*block->proj, hp, wp);
    }
    f += ModuleFlops(*block->f, h, w);
    return f;
  }
  double f = 0;
  for (const auto& child : m.children()) f += ModuleFlops(*child, h, w);
  return f;
}

// The CNN branch: torchvision MobileNetV3-large (features split at the
// official stage boundaries) or RegNetY-400MF/800MF.
struct BackboneParts {
  Seq stem{nullptr};
  std::array<Seq, 4> stages{nullptr, nullptr, nullptr, nullptr};
  int64_t out_channels = 0, last_channel = 0;
  std::array<int64_t, 4> channels{};  // latent width per C-stage = F-stage input width
  std::array<int64_t, 4> feature_stride{};
};

BackboneParts BuildBackbone(const DynPerceiverConfig& c) {
  BackboneParts b;
  std::array<Seq, 4>& stages = b.stages;
  if (c.backbone == Backbone::kMobileNetV3Large) {
    // torchvision mobilenet_v3_large: in, kernel, expanded, out, SE, hard-swish, stride.
    struct Row {
      int in, k, exp, out;
      bool se, hs;
      int stride;
    };
    const Row rows[15] = {{16, 3, 16, 16, false, false, 1},  {16, 3, 64, 24, false, false, 2},
                          {24, 3, 72, 24, false, false, 1},  {24, 5, 72, 40, true, false, 2},
                          {40, 5, 120, 40, true, false, 1},  {40, 5, 120, 40, true, false, 1},
                          {40, 3, 240, 80, false, true, 2},  {80, 3, 200, 80, false, true, 1},
                          {80, 3, 184, 80, false, true, 1},  {80, 3, 184, 80, false, true, 1},
                          {80, 3, 480, 112, true, true, 1},  {112, 3, 672, 112, true, true, 1},
                          {112, 5, 672, 160, true, true, 2}, {160, 5, 960, 160, true, true, 1},
                          {160, 5, 960, 160, true, true, 1}};
    auto adjust = [&](int ch) { return MakeDivisible(ch * c.width_mult); };
    ConvBnAct first = ConvBn(c.in_channels, adjust(16), 3, 2, 1, 1e-3, 0.01, ActKind::kHardswish);
    b.stem = Seq();
    b.stem->push_back(first);
    int index = 1;
    auto add = [&](Seq& seq, int upto) {
      for (; index <= upto; ++index) {
        const Row& r = rows[index - 1];
        seq->push_back(InvertedResidual(adjust(r.in), r.k, adjust(r.exp), adjust(r.out), r.se, r.hs,
                                        r.stride));
      }
    };
    add(b.stem, 2);  // features[0:3]
    for (auto& s : stages) s = Seq();
    add(stages[0], 4);   // features[3:5]
    add(stages[1], 7);   // features[5:8]
    add(stages[2], 13);  // features[8:14]
    add(stages[3], 15);  // features[14:16] ...
    b.out_channels = 6 * adjust(160);
    stages[3]->push_back(
        ConvBn(adjust(160), b.out_channels, 1, 1, 1, 1e-3, 0.01, ActKind::kHardswish));  // [16]
    b.last_channel = MakeDivisible(1280 * c.width_mult);
    b.channels = {adjust(24), adjust(40), adjust(80), adjust(160)};
    b.feature_stride = {4, 8, 16, 32};
  } else if (c.backbone == Backbone::kResNet50) {
    // torchvision resnet50 with every width scaled: conv1/bn1/relu/maxpool
    // as the stem, layer1-4 (3, 4, 6, 3 bottlenecks) as the four stages.
    const int64_t base = static_cast<int64_t>(std::lround(64 * c.width_mult));
    b.stem = Seq();
    b.stem->push_back(
        nn::Conv2d(nn::Conv2dOptions(c.in_channels, base, 7).stride(2).padding(3).bias(false)));
    b.stem->push_back(nn::BatchNorm2d(base));
    b.stem->push_back(Act(ActKind::kReLU));
    b.stem->push_back(nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
    const int depths[4] = {3, 4, 6, 3};
    int64_t in = base;
    for (int s = 0; s < 4; ++s) {
      const int64_t width = base << s;
      stages[s] = Seq();
      for (int j = 0; j < depths[s]; ++j) {
        stages[s]->push_back(ResNetBottleneck(in, width, j == 0 && s > 0 ? 2 : 1));
        in = 4 * width;
      }
    }
    b.out_channels = in;
    b.channels = {base, 4 * base, 8 * base, 16 * base};
    b.feature_stride = {4, 4, 8, 16};
    // timm's zero_init_last: each residual branch starts as the identity.
    torch::NoGradGuard g;
    for (auto& st : stages)
      for (auto& m : st->modules())
        if (auto* block = m->as<ResNetBottleneck>()) block->bn3->weight.zero_();
  } else {
    const bool big = c.backbone == Backbone::kRegNetY800MF;
    const std::array<int64_t, 4> widths =
        big ? std::array<int64_t, 4>{64, 144, 320, 784} : std::array<int64_t, 4>{48, 104, 208, 440};
    const std::array<int, 4> depths =
        big ? std::array<int, 4>{1, 3, 8, 2} : std::array<int, 4>{1, 3, 6, 6};
    const int64_t group_width = big ? 16 : 8;
    // RegNet's stem is one ConvNormActivation: its children are the stem's.
    b.stem = Seq();
    b.stem->push_back(
        nn::Conv2d(nn::Conv2dOptions(c.in_channels, 32, 3).stride(2).padding(1).bias(false)));
    b.stem->push_back(nn::BatchNorm2d(nn::BatchNormOptions(32).eps(1e-5).momentum(0.1)));
    b.stem->push_back(Act(ActKind::kReLU));
    int64_t in = 32;
    for (int s = 0; s < 4; ++s) {
      stages[s] = Seq();
      for (int j = 0; j < depths[s]; ++j) {
        const std::string name = "block" + std::to_string(s + 1) + "-" + std::to_string(j);
        stages[s]->push_back(name,
                             ResBottleneckBlock(in, widths[s], j == 0 ? 2 : 1, group_width).ptr());
        in = widths[s];
      }
    }
    b.out_channels = widths[3];
    b.channels = {32, widths[0], widths[1], widths[2]};
    b.feature_stride = {2, 4, 8, 16};
  }
  // Official training init (torchvision): convolutions Kaiming-normal
  // fan_out with zero bias; BatchNorm weight 1, bias 0 (the default).
  torch::NoGradGuard g;
  for (Seq* part : {&b.stem, &b.stages[0], &b.stages[1], &b.stages[2], &b.stages[3]})
    for (auto& m : (*part)->modules())
      if (auto* conv = m->as<nn::Conv2d>()) {
        nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
        if (conv->bias.defined()) conv->bias.zero_();
      }
  return b;
}

// MobileNetV3's classifier: Linear -> hard-swish -> Dropout(0.2) -> Linear.
Seq MobileNetHead(int64_t in, int64_t hidden, int64_t classes) {
  Seq s;
  s->push_back(nn::Linear(in, hidden));
  s->push_back(Act(ActKind::kHardswish));
  s->push_back(nn::Dropout(0.2));
  s->push_back(nn::Linear(hidden, classes));
  return s;
}

// Dynamic inference bookkeeping shared by both networks: fills the
// DynamicOutput as samples leave and tracks which original samples are
// still running.
class ExitRecorder {
 public:
  ExitRecorder(int64_t batch, int64_t classes, int64_t embedding_width, int last_exit,
               const at::TensorOptions& options)
      : width_(embedding_width), last_exit_(last_exit) {
    out.logits = torch::empty({batch, classes}, options);
    out.exit_index = torch::full({batch}, last_exit, torch::kLong);
    out.confidence = torch::empty({batch}, options);
    out.embedding = torch::empty({batch, embedding_width}, options);
    alive_ = torch::arange(batch, torch::kLong);
  }
  // Records the running samples that leave at `exit` (max softmax >=
  // threshold; everyone at the last exit); embeddings narrower than the
  // output are zero-padded. Returns the positions, in the running batch, of
  // the samples that stay.
  Tensor Leave(int exit, const Tensor& logits, const Tensor& embedding, float threshold) {
    const auto [conf, _] = torch::softmax(logits, 1).max(1);
    const Tensor go = exit == last_exit_ ? torch::ones_like(conf, torch::kBool) : conf >= threshold;
    const Tensor idx = alive_.masked_select(go);
    if (idx.numel() > 0) {
      out.logits.index_copy_(0, idx, logits.index({go}));
      out.confidence.index_copy_(0, idx, conf.masked_select(go));
      out.exit_index.index_fill_(0, idx, exit);
      out.embedding.index_copy_(
          0, idx, torch::constant_pad_nd(embedding.index({go}), {0, width_ - embedding.size(1)}));
    }
    const Tensor stay = go.logical_not();
    alive_ = alive_.masked_select(stay);
    return stay.nonzero().squeeze(1);
  }
  DynamicOutput out;

 private:
  int64_t width_;
  int last_exit_;
  Tensor alive_;  // original indices of the samples still running
};

}  // namespace

struct DynPerceiverImpl::State {
  Tensor x, z, zm, y1, y2, y3, y4;
};

DynPerceiverImpl::DynPerceiverImpl(DynPerceiverConfig config) : config_(std::move(config)) {
  const auto problems = config_.Validate();
  if (!problems.empty()) throw std::invalid_argument("DynPerceiverConfig: " + problems.front());
  const auto& c = config_;
  const int64_t K = c.num_classes;
  mobilenet_ = c.backbone == Backbone::kMobileNetV3Large;
  BackboneParts parts = BuildBackbone(c);
  std::array<Seq, 4> stages = parts.stages;
  stem_ = parts.stem;
  out_channels_ = parts.out_channels;
  last_channel_ = parts.last_channel;
  channels_ = parts.channels;
  feature_stride_ = parts.feature_stride;

  // Registration order as the official module (state_dict order).
  latent_ = register_parameter("latent", torch::empty({c.num_latents, channels_[0]}));
  {
    torch::NoGradGuard g;
    latent_.normal_(0, 0.02).clamp_(-2, 2);
  }
  register_module("cnn_stem", stem_);
  const bool resnet = c.backbone == Backbone::kResNet50;
  if (mobilenet_ || resnet) {
    for (int s = 0; s < 4; ++s)
      stages_[s] = register_module("cnn_body_stage" + std::to_string(s + 1), stages[s]);
    if (resnet) {  // the ResNet's own fc comes right after its body
      classifier_cnn_linear_ = register_module("classifier_cnn", nn::Linear(out_channels_, K));
      torch::NoGradGuard g;
      classifier_cnn_linear_->weight.normal_(0, 0.01);
      classifier_cnn_linear_->bias.zero_();
    }
  } else {
    auto body = std::make_shared<nn::Module>("cnn_body");
    for (int s = 0; s < 4; ++s)
      stages_[s] = body->register_module("block" + std::to_string(s + 1), stages[s]);
    register_module("cnn_body", body);
  }
  const int base_layers[4] = {3, 3, 9, 3};
  for (int i = 0; i < 4; ++i) {
    const int64_t C = channels_[i];
    const std::string n = std::to_string(i + 1);
    dwc_[i] = register_module("dwc" + n + "_x2z",
                              nn::Conv2d(nn::Conv2dOptions(C, C, 7).groups(C).padding(3)));
    x2z_[i] = register_module("cross_att" + n + "_x2z",
                              CrossAttentionLayer(1, C, C, C, true, c.dropout).ptr());
    if (i > 0)
      z2x_[i] = register_module("cross_att" + n + "_z2x",
                                CrossAttentionLayer(1, C, C, C / 8, false, c.dropout).ptr());
    self_att_[i] = register_module(
        "self_att" + n, SelfAttentionBlock(base_layers[i] * c.depth_factor[i], c.num_sa_heads[i], C,
                                           c.sa_widening_factor, c.dropout)
                            .ptr());
  }
  const int64_t C2 = channels_[2], C3 = channels_[3], Co = out_channels_;
  last_z2x_ = register_module("last_cross_att_z2x",
                              CrossAttentionLayer(1, Co, C3, Co / 8, false, c.dropout).ptr());
  auto isc = [&] {
    Seq s;
    s->push_back(nn::Linear(K, C3));
    s->push_back(nn::BatchNorm1d(C3));
    s->push_back(Act(ActKind::kReLU));
    return s;
  };
  if (!mobilenet_ && !resnet) {
    classifier_cnn_linear_ = register_module("classifier_cnn", nn::Linear(Co, K));
    torch::NoGradGuard g;  // the backbone's fc: N(0, 0.01) as torchvision
    classifier_cnn_linear_->weight.normal_(0, 0.01);
    classifier_cnn_linear_->bias.zero_();
  }
  early_classifier3_ = register_module("early_classifier3", nn::Linear(C2, K));
  isc3_ = register_module("isc3", isc());
  classifier_att_ = register_module("classifier_att", nn::Linear(2 * C3, K));
  isc4_ = register_module("isc4", isc());
  classifier_merge_ = Seq();
  classifier_merge_->push_back(nn::BatchNorm1d(Co + 2 * C3));
  if (mobilenet_) {
    classifier_cnn_ = register_module("classifier_cnn", MobileNetHead(Co, last_channel_, K));
    classifier_merge_->push_back(nn::Linear(Co + 2 * C3, last_channel_));
    classifier_merge_->push_back(Act(ActKind::kHardswish));
    classifier_merge_->push_back(nn::Dropout(0.2));
    classifier_merge_->push_back(nn::Linear(last_channel_, K));
  } else {
    classifier_merge_->push_back(nn::Linear(Co + 2 * C3, K));
  }
  register_module("classifier_merge", classifier_merge_);
  token_expander_ = nn::ModuleList();
  token_mixer_ = nn::ModuleList();
  for (int j = 0; j < 3; ++j) {
    Seq e;
    e->push_back(nn::LayerNorm(nn::LayerNormOptions({channels_[j]})));
    e->push_back(nn::Linear(channels_[j], channels_[j + 1]));
    token_expander_->push_back(e);
    const int64_t L = c.num_latents >> j;
    Seq m;
    m->push_back(nn::LayerNorm(nn::LayerNormOptions({L})));
    m->push_back(nn::Linear(L, L / 2));
    token_mixer_->push_back(m);
  }
  register_module("token_expander", token_expander_);
  register_module("token_mixer", token_mixer_);
}

namespace {

Tensor Z2x(nn::Module& layer, const Tensor& x, const Tensor& z) {
  const auto b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  Tensor t = x.flatten(2).transpose(1, 2);
  t = layer.as<CrossAttentionLayer>()->forward(t, z);
  return t.transpose(1, 2).reshape({b, c, h, w});
}
}  // namespace

// X2Z's key/value tokens: AdaptiveAvgPool2d(7) of dwc(x) + x, as (B, 49, C).
// Both steps are linear, so for a map of 7x7 bins of s x s pixels the pooled
// convolution is one depthwise convolution with a (6 + s) x (6 + s) kernel at
// stride s (the 7x7 kernel summed over each bin's offsets): 49 outputs per
// channel instead of H x W, 14.7 M multiply-adds down to 0.6 M on the
// 112 x 112 map of a 224 x 224 input. Exact up to float rounding.
Tensor DynPerceiverImpl::Tokens(int index, const Tensor& x) {
  const PooledDwc& p = pooled_dwc_[index];
  nn::Conv2d& dwc = dwc_[index];
  if (p.weight.defined() && p.weight.device() == x.device() && x.size(2) == p.h &&
      x.size(3) == p.w && !is_training() && !torch::GradMode::is_enabled()) {
    const int64_t sh = p.h / 7, sw = p.w / 7;
    const Tensor pooled =
        torch::conv2d(x, p.weight, dwc->bias, {sh, sw}, {3, 3}, {1, 1}, x.size(1)) +
        torch::avg_pool2d(x, {sh, sw});
    return pooled.flatten(2).transpose(1, 2);
  }
  return torch::adaptive_avg_pool2d(dwc->forward(x) + x, {7, 7}).flatten(2).transpose(1, 2);
}

// Between C-stages i and i+1 (index 0..2): token mixer, channel expander,
// Z2X into the feature map, X2Z from it, then self-attention stage i+2.
Tensor DynPerceiverImpl::Transition(int index, Tensor& x, Tensor z) {
  z = token_mixer_[index]->as<Seq>()->forward(z.transpose(1, 2)).transpose(1, 2);
  z = token_expander_[index]->as<Seq>()->forward(z);
  x = Z2x(*z2x_[index + 1], x, z);
  z = x2z_[index + 1]->as<CrossAttentionLayer>()->forward(z, Tokens(index + 1, x));
  ++counts_.latent_stage_calls[index + 1];
  return self_att_[index + 1]->as<SelfAttentionBlock>()->forward(z);
}

void DynPerceiverImpl::RunToExit1(State& s) {
  const int64_t b = s.x.size(0);
  Tensor x = stem_->forward(channels_last_ ? s.x.contiguous(at::MemoryFormat::ChannelsLast) : s.x);
  Tensor z = latent_.unsqueeze(0).expand({b, -1, -1});
  z = x2z_[0]->as<CrossAttentionLayer>()->forward(z, Tokens(0, x));
  ++counts_.latent_stage_calls[0];
  z = self_att_[0]->as<SelfAttentionBlock>()->forward(z);
  for (int i = 0; i < 2; ++i) {
    ++counts_.feature_stage_calls[i];
    counts_.feature_stage_samples[i] += b;
    x = stages_[i]->forward(x);
    z = Transition(i, x, z);
  }
  s.y1 = early_classifier3_(z.mean(1));
  s.x = x, s.z = z;
}

void DynPerceiverImpl::RunToExit2(State& s) {
  ++counts_.feature_stage_calls[2];
  counts_.feature_stage_samples[2] += s.x.size(0);
  s.x = stages_[2]->forward(s.x);
  s.z = Transition(2, s.x, s.z);
  s.zm = s.z.mean(1);
  s.y2 = classifier_att_(torch::cat({s.zm, isc3_->forward(s.y1)}, 1));
}

void DynPerceiverImpl::RunToExit3(State& s) {
  ++counts_.feature_stage_calls[3];
  counts_.feature_stage_samples[3] += s.x.size(0);
  s.x = stages_[3]->forward(s.x);
  Tensor pooled = torch::adaptive_avg_pool2d(s.x, {1, 1}).flatten(1);
  // timm's ResNet drops 20 % of the pooled features before its fc in training.
  if (config_.backbone == Backbone::kResNet50 && is_training())
    pooled = torch::dropout(pooled, 0.2, true);
  s.y3 = mobilenet_ ? classifier_cnn_->forward(pooled) : classifier_cnn_linear_(pooled);
}

void DynPerceiverImpl::RunToExit4(State& s) {
  ++counts_.last_cross_attention_calls;
  const Tensor x = Z2x(*last_z2x_, s.x, s.z);
  const Tensor pooled = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  s.y4 = classifier_merge_->forward(torch::cat({pooled, s.zm, isc4_->forward(s.y2)}, 1));
}

Tensor DynPerceiverImpl::ForwardBackbone(Tensor images) {
  Tensor x =
      stem_->forward(channels_last_ ? images.contiguous(at::MemoryFormat::ChannelsLast) : images);
  for (auto& stage : stages_) x = stage->forward(x);
  const Tensor pooled = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  return mobilenet_ ? classifier_cnn_->forward(pooled) : classifier_cnn_linear_(pooled);
}

void DynPerceiverImpl::FoldBatchNorm() {
  for (const auto& m : modules(/*include_self=*/false))
    if (auto* c = m->as<ConvBnAct>()) c->Fold();
}

bool DynPerceiverImpl::PrepareInference() {
  torch::NoGradGuard g;
  channels_last_ = prefer_channels_last;
  for (const auto& m : modules(/*include_self=*/false))
    if (auto* c = m->as<ConvBnAct>()) c->Fold(channels_last_);
  // The map sizes X2Z sees for the configured input size.
  int64_t h = config_.image_size, w = config_.image_size;
  ModuleFlops(*stem_, h, w);
  for (int i = 0; i < 4; ++i) {
    if (i > 0) ModuleFlops(*stages_[i - 1], h, w);
    pooled_dwc_[i] = {};
    if (h % 7 || w % 7) continue;
    const int64_t c = channels_[i], sh = h / 7, sw = w / 7;
    const Tensor padded = torch::constant_pad_nd(dwc_[i]->weight.detach().reshape({1, c, 7, 7}),
                                                 {sw - 1, sw - 1, sh - 1, sh - 1});
    const Tensor box = torch::full({c, 1, sh, sw}, 1.0 / double(sh * sw));
    Tensor k = torch::conv2d(padded, box, Tensor(), at::IntArrayRef{1, 1}, at::IntArrayRef{0, 0},
                             at::IntArrayRef{1, 1}, c)
                   .reshape({c, 1, 6 + sh, 6 + sw});
    if (channels_last_) k = k.contiguous(at::MemoryFormat::ChannelsLast);
    pooled_dwc_[i] = {k, h, w};
  }
  if (channels_last_)
    for (auto& dwc : dwc_)
      dwc->weight.set_data(dwc->weight.contiguous(at::MemoryFormat::ChannelsLast));
#ifdef DYN4D_HAVE_EIGEN
  for (const auto& m : modules(/*include_self=*/false)) {
    if (auto* l = m->as<SelfAttentionLayer>()) l->Prepare();
    if (auto* l = m->as<CrossAttentionLayer>()) l->Prepare();
  }
  return true;
#else
  return false;
#endif
}

std::vector<Tensor> DynPerceiverImpl::forward(Tensor images) { return ForwardUntil(images, 4); }

std::vector<Tensor> DynPerceiverImpl::ForwardUntil(Tensor images, int last_exit) {
  if (last_exit < 1 || last_exit > 4) throw std::invalid_argument("last_exit must be 1..4");
  State s;
  s.x = images;
  RunToExit1(s);
  std::vector<Tensor> out = {s.y1};
  if (last_exit >= 2) RunToExit2(s), out.push_back(s.y2);
  if (last_exit >= 3) RunToExit3(s), out.push_back(s.y3);
  if (last_exit >= 4) RunToExit4(s), out.push_back(s.y4);
  return out;
}

DynamicOutput DynPerceiverImpl::ForwardDynamic(Tensor images,
                                               const std::vector<float>& thresholds) {
  if (thresholds.size() != 3)
    throw std::invalid_argument("Dyn-Perceiver needs 3 exit thresholds, got " +
                                std::to_string(thresholds.size()));
  ExitRecorder rec(images.size(0), config_.num_classes, channels_[3], 3, images.options());
  State s;
  s.x = images;
  // Records the samples leaving at `exit` and shrinks the state to the rest;
  // false when nobody is left.
  auto leave = [&](int exit, const Tensor& logits, const Tensor& embedding, float threshold) {
    const Tensor keep = rec.Leave(exit, logits, embedding, threshold);
    if (keep.numel() == 0) return false;
    if (keep.numel() == s.x.size(0)) return true;
    auto sel = [&](Tensor& t) {
      if (t.defined()) t = t.index_select(0, keep);
    };
    sel(s.x), sel(s.z), sel(s.zm), sel(s.y1), sel(s.y2), sel(s.y3);
    return true;
  };
  RunToExit1(s);
  if (!leave(0, s.y1, s.z.mean(1), thresholds[0])) return rec.out;
  RunToExit2(s);
  if (!leave(1, s.y2, s.zm, thresholds[1])) return rec.out;
  RunToExit3(s);
  if (!leave(2, s.y3, s.zm, thresholds[2])) return rec.out;
  RunToExit4(s);
  leave(3, s.y4, s.zm, 0.f);
  return rec.out;
}

std::array<double, 4> DynPerceiverImpl::CumulativeGflops() const {
  const auto& c = config_;
  const int64_t K = c.num_classes, L = c.num_latents;
  int64_t h = c.image_size, w = c.image_size;
  auto x2z = [&](int i, int64_t hh, int64_t ww) {
    const int64_t C = channels_[i];
    const double dwc = double(C) * hh * ww * 49, pool = double(C) * hh * ww;
    return dwc + pool + x2z_[i]->as<CrossAttentionLayer>()->Flops(L >> i, 49);
  };
  auto sa = [&](int i) { return self_att_[i]->as<SelfAttentionBlock>()->Flops(L >> i); };
  auto transition = [&](int i, int64_t hh, int64_t ww) {
    // token mixer: C * N * N/2; expander counted on the tokens before mixing.
    const int64_t N = L >> i, C = channels_[i], Cn = channels_[i + 1];
    return double(C) * N * N / 2 + double(N) * C * Cn +
           z2x_[i + 1]->as<CrossAttentionLayer>()->Flops(hh * ww, N / 2) + x2z(i + 1, hh, ww) +
           sa(i + 1);
  };
  double f = ModuleFlops(*stem_, h, w);
  f += x2z(0, h, w) + sa(0);
  for (int i = 0; i < 2; ++i) {
    f += ModuleFlops(*stages_[i], h, w);
    f += transition(i, h, w);
  }
  const double exit1 = f + double(channels_[2]) * K;
  f += ModuleFlops(*stages_[2], h, w);
  f += transition(2, h, w);
  f += double(L >> 3) * channels_[3];  // latent mean
  const double exit2 = f + double(K) * channels_[3] + 2.0 * channels_[3] * K;
  f += ModuleFlops(*stages_[3], h, w);
  f += double(out_channels_) * h * w;  // global average pool
  f += mobilenet_ ? double(out_channels_) * last_channel_ + double(last_channel_) * K
                  : double(out_channels_) * K;
  const double exit3 = f;
  f += last_z2x_->as<CrossAttentionLayer>()->Flops(h * w, L >> 3);
  f += double(out_channels_) * h * w;
  const int64_t merged = out_channels_ + 2 * channels_[3];
  f += mobilenet_ ? double(merged) * last_channel_ + double(last_channel_) * K : double(merged) * K;
  return {exit1 / 1e9, exit2 / 1e9, exit3 / 1e9, f / 1e9};
}

std::vector<double> DynPerceiverImpl::ExitGflops() const {
  const auto g = CumulativeGflops();
  return {g.begin(), g.end()};
}

// ---------------------------------------------------------------------------
// Linear-exit baseline

LinearExitCnnImpl::LinearExitCnnImpl(DynPerceiverConfig config) : config_(std::move(config)) {
  const auto problems = config_.Validate();
  if (!problems.empty()) throw std::invalid_argument("LinearExitCnn config: " + problems.front());
  BackboneParts parts = BuildBackbone(config_);
  out_channels_ = parts.out_channels;
  last_channel_ = parts.last_channel;
  channels_ = parts.channels;
  stem_ = register_module("cnn_stem", parts.stem);
  for (int s = 0; s < 4; ++s)
    stages_[s] = register_module("cnn_body_stage" + std::to_string(s + 1), parts.stages[s]);
  const int64_t K = config_.num_classes;
  // F-stage 2 ends with channels_[2] channels, F-stage 3 with channels_[3].
  exit1_ = register_module("exit1", nn::Linear(channels_[2], K));
  exit2_ = register_module("exit2", nn::Linear(channels_[3], K));
  if (config_.backbone == Backbone::kMobileNetV3Large) {
    head_ = register_module("classifier_cnn", MobileNetHead(out_channels_, last_channel_, K));
  } else {
    head_ = Seq();
    head_->push_back(nn::Linear(out_channels_, K));
    register_module("classifier_cnn", head_);
  }
}

std::vector<Tensor> LinearExitCnnImpl::ForwardUntil(Tensor images, int last_exit) {
  if (last_exit < 1 || last_exit > 3) throw std::invalid_argument("last_exit must be 1..3");
  auto gap = [](const Tensor& x) { return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1); };
  Tensor x = stem_->forward(images);
  x = stages_[1]->forward(stages_[0]->forward(x));
  std::vector<Tensor> out = {exit1_(gap(x))};
  if (last_exit >= 2) {
    x = stages_[2]->forward(x);
    out.push_back(exit2_(gap(x)));
  }
  if (last_exit >= 3) out.push_back(head_->forward(gap(stages_[3]->forward(x))));
  return out;
}

DynamicOutput LinearExitCnnImpl::ForwardDynamic(Tensor images,
                                                const std::vector<float>& thresholds) {
  if (thresholds.size() != 2)
    throw std::invalid_argument("the linear-exit CNN needs 2 exit thresholds, got " +
                                std::to_string(thresholds.size()));
  ExitRecorder rec(images.size(0), config_.num_classes, out_channels_, 2, images.options());
  auto gap = [](const Tensor& x) { return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1); };
  Tensor x = stem_->forward(images);
  for (int s = 0; s < 4; ++s) {
    ++counts_.feature_stage_calls[s];
    counts_.feature_stage_samples[s] += x.size(0);
    x = stages_[s]->forward(x);
    if (s == 0) continue;
    const Tensor pooled = gap(x);
    const Tensor logits = s == 1   ? exit1_(pooled)
                          : s == 2 ? exit2_(pooled)
                                   : head_->forward(pooled);
    const Tensor keep = rec.Leave(s - 1, logits, pooled, s == 3 ? 0.f : thresholds[s - 1]);
    if (keep.numel() == 0) break;
    x = x.index_select(0, keep);
  }
  return rec.out;
}

std::vector<double> LinearExitCnnImpl::ExitGflops() const {
  // Cumulative along the dynamic path: a sample leaving at exit 3 has also
  // paid for the (tiny) heads of exits 1 and 2.
  int64_t h = config_.image_size, w = config_.image_size;
  const int64_t K = config_.num_classes;
  double f = ModuleFlops(*stem_, h, w) + ModuleFlops(*stages_[0], h, w);
  f += ModuleFlops(*stages_[1], h, w);
  f += double(channels_[2]) * h * w + double(channels_[2]) * K;  // GAP + Linear
  const double e1 = f;
  f += ModuleFlops(*stages_[2], h, w);
  f += double(channels_[3]) * h * w + double(channels_[3]) * K;
  const double e2 = f;
  f += ModuleFlops(*stages_[3], h, w) + double(out_channels_) * h * w;
  f += config_.backbone == Backbone::kMobileNetV3Large
           ? double(out_channels_) * last_channel_ + double(last_channel_) * K
           : double(out_channels_) * K;
  return {e1 / 1e9, e2 / 1e9, f / 1e9};
}

bool LinearExitCnnImpl::PrepareInference() {
  for (const auto& m : modules(/*include_self=*/false))
    if (auto* c = m->as<ConvBnAct>()) c->Fold();
  return false;
}

// ---------------------------------------------------------------------------
// state_dict I/O

namespace {
void CollectStateDict(const nn::Module& m, const std::string& prefix,
                      std::vector<std::pair<std::string, Tensor>>& out) {
  for (const auto& p : m.named_parameters(/*recurse=*/false))
    out.push_back({prefix + p.key(), p.value()});
  for (const auto& b : m.named_buffers(/*recurse=*/false))
    out.push_back({prefix + b.key(), b.value()});
  for (const auto& child : m.named_children())
    CollectStateDict(*child.value(), prefix + child.key() + ".", out);
}
std::string ShapeString(const Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}
}  // namespace

std::vector<std::pair<std::string, Tensor>> LoadTensorDict(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  torch::IValue v;
  try {
    v = torch::pickle_load(bytes);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": not a torch.save'd dict of tensors (" +
                             std::string(e.what()).substr(0, 200) + ")");
  }
  if (!v.isGenericDict()) throw std::runtime_error(path + ": expected a dict of tensors");
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& kv : v.toGenericDict()) {
    if (!kv.key().isString() || !kv.value().isTensor())
      throw std::runtime_error(path +
                               ": entries must be name -> tensor (a full checkpoint? "
                               "re-save ckpt['model'], see docs/RECOGNITION.md)");
    out.push_back({kv.key().toStringRef(), kv.value().toTensor()});
  }
  return out;
}

void LoadStateDict(nn::Module& model, const std::string& path) {
  std::vector<std::pair<std::string, Tensor>> own;
  CollectStateDict(model, "", own);
  const auto loaded = LoadTensorDict(path);
  std::map<std::string, Tensor> by_name(loaded.begin(), loaded.end());
  for (const auto& [name, t] : own)
    if (!by_name.count(name)) throw std::runtime_error(path + ": missing key '" + name + "'");
  std::map<std::string, Tensor> own_by_name(own.begin(), own.end());
  for (const auto& [name, t] : loaded) {
    auto it = own_by_name.find(name);
    if (it == own_by_name.end()) throw std::runtime_error(path + ": unexpected key '" + name + "'");
    if (!it->second.sizes().equals(t.sizes()))
      throw std::runtime_error(path + ": shape mismatch for '" + name + "': file " +
                               ShapeString(t) + ", model " + ShapeString(it->second));
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : own) t.copy_(by_name[name]);
}

void SetTorchThreads(int threads) {
  torch::set_num_threads(
      threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
}

void SaveStateDict(const nn::Module& model, const std::string& path, bool half) {
  std::vector<std::pair<std::string, Tensor>> own;
  CollectStateDict(model, "", own);
  c10::Dict<std::string, Tensor> dict;
  for (const auto& [name, t] : own) {
    Tensor v = t.detach().contiguous();
    if (half && v.is_floating_point()) v = v.to(torch::kHalf);
    dict.insert(name, v);
  }
  const std::vector<char> bytes = torch::pickle_save(dict);
  WriteFileAtomically(path, bytes.data(), bytes.size());
}

std::vector<std::pair<std::string, std::vector<int64_t>>> StateDictShapes(const nn::Module& model) {
  std::vector<std::pair<std::string, Tensor>> own;
  CollectStateDict(model, "", own);
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (const auto& [name, t] : own) out.push_back({name, t.sizes().vec()});
  return out;
}

}  // namespace dyn4d::recognition
