// NCCL beside Gloo in a job's process group, for the collectives on CUDA tensors, as
// torch.distributed's "cpu:gloo,cuda:nccl" (docs/distributed.md). Compiled with RCB_NCCL only when
// libtorch is a CUDA build and CUDA's and NCCL's headers are at hand (build.rs); otherwise asking for
// NCCL is an error that says so.
#include "c10d_group.hpp"

#ifdef RCB_NCCL
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstring>

extern "C" {

// Whether this build can add NCCL to a group.
int rcb_has_nccl() {
#ifdef RCB_NCCL
  return 1;
#else
  return 0;
#endif
}

// Adds NCCL to the group `g` of `world` ranks: its communicators form lazily, on each GPU's first
// collective, over the group's store (keys under "nccl/"); each collective waits at most the group's timeout.
char* rcb_group_add_nccl(rcb_group* g, int rank, int world) {
#ifdef RCB_NCCL
  try {
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = g->timeout;
    auto store = c10::make_intrusive<c10d::PrefixStore>("nccl", g->store);
    g->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, opts);
    return nullptr;
  } catch (const std::exception& e) {
    return rcb::message(rcb::first_line(e));
  }
#else
  (void)g, (void)rank, (void)world;
  return rcb::message("this robustcnn was built without NCCL (a CPU libtorch, or no CUDA and NCCL headers at build time)");
#endif
}

// Writes the 16-byte UUID of CUDA device `device` (two ranks on one GPU see the same one).
char* rcb_cuda_uuid(int device, unsigned char* out) {
#ifdef RCB_NCCL
  try {
    const auto* props = at::cuda::getDeviceProperties(static_cast<c10::DeviceIndex>(device));
    std::memcpy(out, props->uuid.bytes, 16);
    return nullptr;
  } catch (const std::exception& e) {
    return rcb::message(rcb::first_line(e));
  }
#else
  (void)device, (void)out;
  return rcb::message("this robustcnn was built without NCCL, so without CUDA's device queries");
#endif
}

}  // extern "C"
