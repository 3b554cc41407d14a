// The fused batch norm + ReLU's row loops for CPUs with AVX2 and FMA, chosen at run time.
#pragma GCC target("avx2,fma")
#define RCB_KERNELS_NAME rcb_bn_relu_kernels_avx2
#include "bn_relu_kernels.inc"
