// What the fused batch-norm functions (bn_relu.cpp, bn_add_relu.cpp) share: the row-loop kernels for
// this CPU, per-channel sums over the rows, the batch statistics, and which inputs they take.
#pragma once
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "bn_relu_kernels.h"

namespace rcb::bn {
// Rows summed in float before they are added into the double totals.
constexpr int64_t kBlockRows = 256;

// The row loops for floats or bfloat16s, built for AVX2 + FMA where the CPU has them.
inline const rcb_bn_relu_kernels& kernels(bool bf16) {
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  static const rcb_bn_relu_kernels k32 = avx2 ? rcb_bn_relu_kernels_avx2(false) : rcb_bn_relu_kernels_baseline(false);
  static const rcb_bn_relu_kernels k16 = avx2 ? rcb_bn_relu_kernels_avx2(true) : rcb_bn_relu_kernels_baseline(true);
  return bf16 ? k16 : k32;
}

// Per-channel totals over all `rows`, in double: each thread sums blocks of rows in float with
// `block(r0, r1, acc...)` and adds them into its own totals, which are then added together.
template <size_t K, class F>
std::vector<std::vector<double>> channel_sums(int64_t rows, int64_t c, F block) {
  int threads = at::get_num_threads();
  std::vector<std::vector<double>> per_thread(threads * K, std::vector<double>(c, 0.0));
  at::parallel_for(0, rows, kBlockRows, [&](int64_t begin, int64_t end) {
    int t = at::get_thread_num();
    std::vector<std::vector<float>> acc(K, std::vector<float>(c));
    for (int64_t r0 = begin; r0 < end; r0 += kBlockRows) {
      for (auto& a : acc) std::fill(a.begin(), a.end(), 0.0f);
      block(r0, std::min(end, r0 + kBlockRows), acc);
      for (size_t k = 0; k < K; ++k)
        for (int64_t j = 0; j < c; ++j) per_thread[t * K + k][j] += acc[k][j];
    }
  });
  std::vector<std::vector<double>> total(K, std::vector<double>(c, 0.0));
  for (int t = 0; t < threads; ++t)
    for (size_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < c; ++j) total[k][j] += per_thread[t * K + k][j];
  return total;
}

inline at::Tensor floats(const std::vector<double>& v) {
  auto t = at::empty({static_cast<int64_t>(v.size())}, at::kFloat);
  std::copy(v.begin(), v.end(), t.data_ptr<float>());
  return t;
}

// The per-channel scale σ⁻¹·γ and shift β of the normalisation, as floats.
inline std::pair<at::Tensor, at::Tensor> scale_shift(const at::Tensor& invstd, const at::Tensor& weight,
                                                     const at::Tensor& bias) {
  return {(invstd * weight.detach().to(at::kFloat)).contiguous(), bias.detach().to(at::kFloat).contiguous()};
}

// The per-channel coefficients of dx = (g − mean_g)·scale + (x − μ)·k: mean_g = Σg/N and
// k = −scale·σ⁻²·Σg·(x − μ)/N (docs/precision.md, "Fused batch norm and ReLU").
inline std::pair<at::Tensor, at::Tensor> input_gradient_coefficients(const at::Tensor& scale, const at::Tensor& invstd,
                                                                     const at::Tensor& sum_g,
                                                                     const at::Tensor& sum_g_xmu, int64_t rows) {
  auto n = static_cast<double>(rows);
  return {(sum_g / n).contiguous(), (-scale * invstd.square() * sum_g_xmu / n).contiguous()};
}

// The batch's per-channel mean μ and σ⁻¹ as floats: μ, then the biased variance σ² as a second pass
// about μ, as libtorch computes them. The running statistics move by the momentum, the variance
// unbiased, as PyTorch's do.
inline std::pair<at::Tensor, at::Tensor> batch_statistics(const at::Tensor& x, at::Tensor running_mean,
                                                          at::Tensor running_var, double eps, double momentum) {
  int64_t c = x.size(1), rows = x.numel() / c;
  TORCH_CHECK(rows > 1, "Expected more than 1 value per channel when training, got input size ", x.sizes());
  const auto& k = kernels(x.scalar_type() == at::kBFloat16);
  const void* xp = x.const_data_ptr();
  auto sums = channel_sums<1>(rows, c, [&](int64_t r0, int64_t r1, std::vector<std::vector<float>>& acc) {
    k.sum(xp, r0, r1, c, acc[0].data());
  });
  std::vector<double> mean(c);
  for (int64_t j = 0; j < c; ++j) mean[j] = sums[0][j] / rows;
  auto mean_t = floats(mean);
  const float* mp = mean_t.const_data_ptr<float>();
  auto m2 = channel_sums<1>(rows, c, [&](int64_t r0, int64_t r1, std::vector<std::vector<float>>& acc) {
    k.squared_deviation(xp, r0, r1, c, mp, acc[0].data());
  });
  std::vector<double> invstd(c), unbiased(c);
  for (int64_t j = 0; j < c; ++j) {
    invstd[j] = 1.0 / std::sqrt(m2[0][j] / rows + eps);
    unbiased[j] = m2[0][j] / (rows - 1);
  }
  if (running_mean.defined()) {
    at::NoGradGuard no_grad;
    running_mean.mul_(1.0 - momentum).add_(mean_t.to(running_mean.scalar_type()), momentum);
    running_var.mul_(1.0 - momentum).add_(floats(unbiased).to(running_var.scalar_type()), momentum);
  }
  return {mean_t, floats(invstd)};
}

// Whether `x` is a layout and type the fused loops take: a dense CPU tensor of floats or bfloat16s,
// N×C (contiguous) or N×C×H×W (channels-last).
inline bool fusable(const at::Tensor& x) {
  if (!x.device().is_cpu() || (x.scalar_type() != at::kFloat && x.scalar_type() != at::kBFloat16)) return false;
  if (x.dim() == 2) return x.is_contiguous();
  return x.dim() == 4 && x.is_contiguous(at::MemoryFormat::ChannelsLast);
}

// The optional tensor behind a pointer from Rust (null for none).
inline at::Tensor optional_tensor(void* p) { return p == nullptr ? at::Tensor() : *static_cast<at::Tensor*>(p); }

// γ and β, with ones and zeros (asking for no gradient) where the norm has no affine part.
inline std::pair<at::Tensor, at::Tensor> affine_or_identity(void* weight, void* bias, int64_t c) {
  auto ones = [&] { return at::ones({c}, at::kFloat); };
  return {weight == nullptr ? ones() : optional_tensor(weight), bias == nullptr ? ones().zero_() : optional_tensor(bias)};
}
}  // namespace rcb::bn
