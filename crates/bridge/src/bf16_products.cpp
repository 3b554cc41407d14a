// CPU autocast's bf16 convolutions and linear layers on CPUs without libtorch's fast bf16 kernels
// (docs/precision.md, "CPUs without bf16 kernels"). There libtorch takes its reference path, a
// scalar bf16 GEMM, 15-30x slower than fp32. These kernels replace autocast's own for conv2d and
// linear: the operands are rounded to bf16 as autocast rounds them, widened back to fp32 (exactly),
// multiplied and summed in fp32 by oneDNN's fp32 kernels, and the result rounded to bf16. That is
// what a bf16 kernel with fp32 accumulation computes, up to the order of the sums; autograd
// differentiates through the casts, so gradients are rounded to bf16 at the same places.
#include <ATen/ops/conv2d.h>
#include <ATen/ops/linear.h>
#include <torch/library.h>

#include <memory>
#include <mutex>
#include <optional>

#include "error_message.hpp"

namespace {
// `t` rounded to bf16 and widened back to fp32; other kinds (fp64, integers) pass, as autocast's
// lower-precision policy leaves them.
at::Tensor bf16_rounded(const at::Tensor& t) {
  auto kind = t.scalar_type();
  if (kind != at::kFloat && kind != at::kBFloat16 && kind != at::kHalf) return t;
  return t.to(at::kBFloat16).to(at::kFloat);
}

std::optional<at::Tensor> bf16_rounded(const std::optional<at::Tensor>& t) {
  if (!t.has_value() || !t->defined()) return t;
  return bf16_rounded(*t);
}

at::Tensor conv2d(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                  c10::SymIntArrayRef stride, c10::SymIntArrayRef padding, c10::SymIntArrayRef dilation,
                  c10::SymInt groups) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
  return at::conv2d_symint(bf16_rounded(input), bf16_rounded(weight), bf16_rounded(bias), stride, padding,
                           dilation, std::move(groups))
      .to(at::kBFloat16);
}

at::Tensor linear(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
  return at::linear(bf16_rounded(input), bf16_rounded(weight), bf16_rounded(bias)).to(at::kBFloat16);
}

// Swallows the dispatcher's "Overriding a previously registered kernel" warning.
struct Silent : c10::WarningHandler {
  void process(const c10::Warning&) override {}
};

std::once_flag installed;
std::unique_ptr<torch::Library> kernels;
}  // namespace

extern "C" {

// Registers the kernels above for the AutocastCPU key, once for the process; NULL, or a message.
char* rcb_bf16_products_install() {
  char* err = nullptr;
  try {
    std::call_once(installed, [] {
      Silent silent;
      c10::WarningUtils::WarningHandlerGuard quiet(&silent);
      auto lib = std::make_unique<torch::Library>(torch::Library::IMPL, "aten",
                                                  std::make_optional(c10::DispatchKey::AutocastCPU), __FILE__,
                                                  __LINE__);
      lib->impl("conv2d", TORCH_FN(conv2d));
      lib->impl("linear", TORCH_FN(linear));
      kernels = std::move(lib);
    });
  } catch (const std::exception& e) {
    err = rcb::message(rcb::first_line(e));
  }
  return err;
}

}  // extern "C"
