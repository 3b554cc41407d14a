// The fused batch norm + ReLU's row loops for any x86-64 CPU (SSE2).
#define RCB_KERNELS_NAME rcb_bn_relu_kernels_baseline
#include "bn_relu_kernels.inc"
