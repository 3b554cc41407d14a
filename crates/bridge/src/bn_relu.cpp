// Training-mode batch norm followed by ReLU as one autograd function (docs/precision.md, "Fused
// batch norm and ReLU"): the same function as libtorch's batch_norm then relu, with the ReLU's pass
// over the activations folded into the normalisation, and its backward mask recomputed from the
// batch norm's input inside the batch-norm backward pass instead of a pass of its own.
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "bn_relu_kernels.h"
#include "error_message.hpp"

namespace {
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows summed in float before they are added into the double totals.
constexpr int64_t kBlockRows = 256;

const rcb_bn_relu_kernels& kernels(bool bf16) {
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

at::Tensor floats(const std::vector<double>& v) {
  auto t = at::empty({static_cast<int64_t>(v.size())}, at::kFloat);
  std::copy(v.begin(), v.end(), t.data_ptr<float>());
  return t;
}

// The per-channel scale σ⁻¹·γ and shift β of the normalisation, as floats.
std::pair<at::Tensor, at::Tensor> scale_shift(const at::Tensor& invstd, const at::Tensor& weight,
                                              const at::Tensor& bias) {
  return {(invstd * weight.detach().to(at::kFloat)).contiguous(), bias.detach().to(at::kFloat).contiguous()};
}

struct BatchNormRelu : public torch::autograd::Function<BatchNormRelu> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                            at::Tensor running_mean, at::Tensor running_var, double eps, double momentum) {
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
    auto invstd_t = floats(invstd);
    if (running_mean.defined()) {
      at::NoGradGuard no_grad;
      running_mean.mul_(1.0 - momentum).add_(mean_t.to(running_mean.scalar_type()), momentum);
      running_var.mul_(1.0 - momentum).add_(floats(unbiased).to(running_var.scalar_type()), momentum);
    }
    auto [scale, shift] = scale_shift(invstd_t, weight, bias);
    auto y = at::empty_like(x);
    const float *sp = scale.const_data_ptr<float>(), *hp = shift.const_data_ptr<float>();
    void* yp = y.data_ptr();
    at::parallel_for(0, rows, kBlockRows, [&](int64_t begin, int64_t end) { k.forward(xp, begin, end, c, mp, sp, hp, yp); });
    ctx->save_for_backward({x, weight, bias, mean_t, invstd_t});
    return y;
  }

  // dx = σ⁻¹γ·(g − Σg/N − (x−μ)·σ⁻²·Σg·(x−μ)/N) with g the output's gradient where the output is
  // positive; dγ = σ⁻¹·Σg·(x−μ), dβ = Σg.
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto x = saved[0], weight = saved[1], bias = saved[2], mean_t = saved[3], invstd_t = saved[4];
    variable_list out(7);
    if (!grads[0].defined()) return out;
    int64_t c = x.size(1), rows = x.numel() / c;
    auto dy = grads[0].to(x.scalar_type()).contiguous(x.suggest_memory_format());
    const auto& k = kernels(x.scalar_type() == at::kBFloat16);
    auto [scale, shift] = scale_shift(invstd_t, weight, bias);
    const void *xp = x.const_data_ptr(), *dyp = dy.const_data_ptr();
    const float *mp = mean_t.const_data_ptr<float>(), *sp = scale.const_data_ptr<float>(),
                *hp = shift.const_data_ptr<float>();
    auto sums = channel_sums<2>(rows, c, [&](int64_t r0, int64_t r1, std::vector<std::vector<float>>& acc) {
      k.backward_sums(xp, dyp, r0, r1, c, mp, sp, hp, acc[0].data(), acc[1].data());
    });
    auto sum_g = floats(sums[0]), sum_g_xmu = floats(sums[1]);
    if (ctx->needs_input_grad(0)) {
      auto mean_g = sum_g / static_cast<double>(rows);
      auto kk = (-scale * invstd_t.square() * sum_g_xmu / static_cast<double>(rows)).contiguous();
      auto dx = at::empty_like(x);
      const float *gp = mean_g.const_data_ptr<float>(), *kp = kk.const_data_ptr<float>();
      void* dxp = dx.data_ptr();
      at::parallel_for(0, rows, kBlockRows, [&](int64_t begin, int64_t end) {
        k.backward_input(xp, dyp, begin, end, c, mp, sp, hp, gp, kp, dxp);
      });
      out[0] = dx;
    }
    if (ctx->needs_input_grad(1)) out[1] = (sum_g_xmu * invstd_t).to(weight.scalar_type());
    if (ctx->needs_input_grad(2)) out[2] = sum_g.to(bias.scalar_type());
    return out;
  }
};

// Whether `x` is a layout and type the fused loops take: a dense CPU tensor of floats or bfloat16s,
// N×C (contiguous) or N×C×H×W (channels-last).
bool fusable(const at::Tensor& x) {
  if (!x.device().is_cpu() || (x.scalar_type() != at::kFloat && x.scalar_type() != at::kBFloat16)) return false;
  if (x.dim() == 2) return x.is_contiguous();
  return x.dim() == 4 && x.is_contiguous(at::MemoryFormat::ChannelsLast);
}
}  // namespace

extern "C" {

// Writes into `out` relu(batch_norm(x)) in training mode: fused where `x` is a dense CPU float or
// bfloat16 tensor, channels-last when 4-D, and otherwise libtorch's batch_norm then relu. `weight`,
// `bias` and the running statistics may be null; the running statistics are updated in place.
char* rcb_batch_norm_relu(void* x, void* weight, void* bias, void* running_mean, void* running_var, double eps,
                          double momentum, void** out) {
  try {
    auto tensor = [](void* p) { return p == nullptr ? at::Tensor() : *static_cast<at::Tensor*>(p); };
    auto input = tensor(x);
    at::Tensor y;
    if (fusable(input)) {
      // No affine part is γ = 1, β = 0, neither of which asks for a gradient.
      auto ones = [&] { return at::ones({input.size(1)}, at::kFloat); };
      auto w = weight == nullptr ? ones() : tensor(weight), b = bias == nullptr ? ones().zero_() : tensor(bias);
      y = BatchNormRelu::apply(input, w, b, tensor(running_mean), tensor(running_var), eps, momentum);
    } else {
      y = at::batch_norm(input, tensor(weight), tensor(bias), tensor(running_mean), tensor(running_var), true,
                         momentum, eps, at::globalContext().userEnabledCuDNN())
              .relu_();
    }
    *out = new at::Tensor(std::move(y));
    return nullptr;
  } catch (const std::exception& e) {
    return rcb::message(rcb::first_line(e));
  }
}

}  // extern "C"
