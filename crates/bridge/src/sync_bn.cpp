// SyncBN's training-mode batch norm over every rank's batch, as PyTorch's SyncBatchNorm computes it
// (docs/distributed.md §2): one all-gather of each rank's (mean, M2, count) per forward pass, merged
// as Chan et al.'s parallel variance, and one all-reduce of (Σdy, Σdy·(x−μ)) per backward pass.
#include "c10d_group.hpp"

#include <torch/csrc/autograd/custom_function.h>

#include <vector>

namespace {
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Every dimension of an N×C×… tensor but the channels'.
std::vector<int64_t> reduced_dims(const at::Tensor& x) {
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (i != 1) dims.push_back(i);
  return dims;
}

// A per-channel vector shaped to broadcast over an N×C×… tensor.
at::Tensor per_channel(const at::Tensor& v, int64_t dim) {
  std::vector<int64_t> shape(dim, 1);
  shape[1] = -1;
  return v.view(shape);
}

// Every rank's `t`, stacked in rank order (world × t's length).
at::Tensor gather(rcb_group* g, const at::Tensor& t) {
  std::vector<at::Tensor> in{t.contiguous()};
  std::vector<std::vector<at::Tensor>> out(1);
  auto& backend = rcb::backend_for(g, in[0]);
  for (int r = 0; r < backend.getSize(); ++r) out[0].push_back(at::empty_like(in[0]));
  c10d::AllgatherOptions opts;
  opts.timeout = g->timeout;
  backend.allgather(out, in, opts)->wait(g->timeout);
  return at::stack(out[0]);
}

struct SyncBatchNorm : public torch::autograd::Function<SyncBatchNorm> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, at::Tensor running_mean, at::Tensor running_var, double eps,
                            double momentum, int64_t group) {
    auto* g = reinterpret_cast<rcb_group*>(group);
    auto xf = x.to(at::kFloat);
    auto dims = reduced_dims(xf);
    int64_t c = xf.size(1);
    // This rank's mean and M2 (sum of squares about it), two passes as the single-process kernel.
    auto mean_here = xf.mean(dims);
    auto m2_here = (xf - per_channel(mean_here, xf.dim())).square().sum(dims);
    auto count_here = at::full({1}, static_cast<double>(xf.numel() / std::max<int64_t>(c, 1)), xf.options());
    auto all = gather(g, at::cat({mean_here, m2_here, count_here}));
    auto means = all.narrow(1, 0, c);
    auto m2s = all.narrow(1, c, c);
    auto counts = all.narrow(1, 2 * c, 1);
    auto n = counts.sum().item<double>();
    auto mean = (means * counts).sum(0) / n;
    auto m2 = (m2s + counts * (means - mean).square()).sum(0);
    auto var = m2 / n;
    auto invstd = (var + eps).rsqrt();
    running_mean.mul_(1.0 - momentum).add_(mean * momentum);
    running_var.mul_(1.0 - momentum).add_(m2 / std::max(n - 1.0, 1.0) * momentum);
    auto y = (xf - per_channel(mean, xf.dim())) * per_channel(invstd, xf.dim());
    if (weight.defined()) y = y * per_channel(weight, xf.dim());
    if (bias.defined()) y = y + per_channel(bias, xf.dim());
    ctx->save_for_backward({xf, weight, mean, invstd});
    ctx->saved_data["count"] = n;
    ctx->saved_data["group"] = group;
    ctx->saved_data["has_bias"] = bias.defined();
    return y.to(x.scalar_type());
  }

  // dx = γ·σ⁻¹·(dy − Σdy/N − (x−μ)·σ⁻²·Σdy·(x−μ)/N) with both sums over every rank; γ and β get
  // this rank's sums, which the gradient averaging then averages.
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!grads[0].defined()) return variable_list(8);
    auto saved = ctx->get_saved_variables();
    auto xf = saved[0], weight = saved[1], mean = saved[2], invstd = saved[3];
    auto* g = reinterpret_cast<rcb_group*>(ctx->saved_data["group"].toInt());
    auto n = ctx->saved_data["count"].toDouble();
    bool has_bias = ctx->saved_data["has_bias"].toBool();
    int64_t c = xf.size(1), d = xf.dim();
    auto dy = grads[0].to(at::kFloat);
    auto dims = reduced_dims(xf);
    auto xmu = xf - per_channel(mean, d);
    auto sum_dy = dy.sum(dims);
    auto sum_dy_xmu = (dy * xmu).sum(dims);
    auto grad_weight = weight.defined() ? sum_dy_xmu * invstd : at::Tensor();
    auto grad_bias = has_bias ? sum_dy.clone() : at::Tensor();
    auto sums = at::cat({sum_dy, sum_dy_xmu});
    auto err = rcb::sum_in_place(g, sums);
    at::Tensor dx;
    if (!err.empty()) {
      // The gradient averaging after this backward pass reports the lost rank.
      rcb::record_backward_failure(g, err);
      dx = at::zeros_like(grads[0]);
    } else {
      auto mean_dy = sums.narrow(0, 0, c) / n;
      auto mean_dy_xmu = sums.narrow(0, c, c) / n;
      auto scale = weight.defined() ? invstd * weight : invstd;
      dx = (dy - per_channel(mean_dy, d) - xmu * per_channel(invstd.square() * mean_dy_xmu, d)) *
           per_channel(scale, d);
    }
    return {dx.to(grads[0].scalar_type()), grad_weight, grad_bias, at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor()};
  }
};
}  // namespace

extern "C" {

// Writes into `out` a new tensor: `x` (N×C×…) batch-normalised in training mode over every rank's
// batch, its gradients flowing across the ranks. `weight` and `bias` may be null; the running
// statistics are updated in place with the global mean and the unbiased variance.
char* rcb_sync_batch_norm(rcb_group* g, void* x, void* weight, void* bias, void* running_mean, void* running_var,
                          double eps, double momentum, void** out) {
  try {
    auto tensor = [](void* p) { return p == nullptr ? at::Tensor() : *static_cast<at::Tensor*>(p); };
    auto y = SyncBatchNorm::apply(tensor(x), tensor(weight), tensor(bias), tensor(running_mean),
                                  tensor(running_var), eps, momentum, reinterpret_cast<int64_t>(g));
    *out = new at::Tensor(std::move(y));
    return nullptr;
  } catch (const std::exception& e) {
    return rcb::message(rcb::first_line(e));
  }
}

}  // extern "C"
