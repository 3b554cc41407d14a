// The row loops of the fused batch norm + ReLU (bn_relu.cpp), compiled once per instruction set.
// Plain declarations only: nothing inline is shared between files built for different CPUs.
#pragma once

// Loops over rows [r0, r1) of a rows × c channels-last tensor of floats or bfloat16s; every
// per-channel vector holds c floats, and sums are added into `acc`.
struct rcb_bn_relu_kernels {
  // acc += Σ x
  void (*sum)(const void* x, long r0, long r1, long c, float* acc);
  // acc += Σ (x − mean)²
  void (*squared_deviation)(const void* x, long r0, long r1, long c, const float* mean, float* acc);
  // y = max((x − mean)·scale + shift, 0)
  void (*forward)(const void* x, long r0, long r1, long c, const float* mean, const float* scale,
                  const float* shift, void* y);
  // g = dy where (x − mean)·scale + shift > 0, else 0; sum_g += Σ g, sum_g_xmu += Σ g·(x − mean)
  void (*backward_sums)(const void* x, const void* dy, long r0, long r1, long c, const float* mean,
                        const float* scale, const float* shift, float* sum_g, float* sum_g_xmu);
  // dx = (g − mean_g)·scale + (x − mean)·k
  void (*backward_input)(const void* x, const void* dy, long r0, long r1, long c, const float* mean,
                         const float* scale, const float* shift, const float* mean_g, const float* k, void* dx);
  // y = max(round((x − mean)·scale + shift) + s, 0), the batch norm's output rounded to the type first
  void (*forward_add)(const void* x, const void* s, long r0, long r1, long c, const float* mean, const float* scale,
                      const float* shift, void* y);
  // g = dy where y > 0, else 0; sum_g += Σ g, sum_g_xmu += Σ g·(x − mean)
  void (*backward_sums_masked)(const void* x, const void* y, const void* dy, long r0, long r1, long c,
                               const float* mean, float* sum_g, float* sum_g_xmu);
  // dx = (g − mean_g)·scale + (x − mean)·k and ds = g, with g as above
  void (*backward_input_masked)(const void* x, const void* y, const void* dy, long r0, long r1, long c,
                                const float* mean, const float* scale, const float* mean_g, const float* k, void* dx,
                                void* ds);
};

rcb_bn_relu_kernels rcb_bn_relu_kernels_baseline(bool bf16);
rcb_bn_relu_kernels rcb_bn_relu_kernels_avx2(bool bf16);
