// The process groups the bridge's C++ files share (docs/distributed.md): Gloo for every tensor and,
// in a build with NCCL, NCCL for CUDA tensors, as torch.distributed's "cpu:gloo,cuda:nccl".
#pragma once
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "error_message.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

struct rcb_group {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::Backend> gloo;
  // Null unless NCCL was added (nccl.cpp): then it takes the collectives on CUDA tensors.
  c10::intrusive_ptr<c10d::Backend> nccl;
  std::chrono::milliseconds timeout;
  // The first failure of an all-reduce inside autograd's backward pass, which cannot return one.
  std::mutex failure_mutex;
  std::string backward_failure;
};

namespace rcb {
// The process group for collectives on `t`: NCCL for a CUDA tensor when the job has it, else Gloo.
inline c10d::Backend& backend_for(rcb_group* g, const at::Tensor& t) {
  return (g->nccl && t.is_cuda()) ? *g->nccl : *g->gloo;
}

// Sums `t` over the ranks in place; an error message, or "" on success.
inline std::string sum_in_place(rcb_group* g, at::Tensor& t) {
  try {
    std::vector<at::Tensor> ts{t};
    c10d::AllreduceOptions opts;
    opts.reduceOp = c10d::ReduceOp::SUM;
    opts.timeout = g->timeout;
    backend_for(g, t).allreduce(ts, opts)->wait(g->timeout);
    return "";
  } catch (const std::exception& e) {
    return first_line(e);
  }
}

// Keeps the first failure of a collective inside autograd's backward pass, which cannot return one.
inline void record_backward_failure(rcb_group* g, const std::string& err) {
  std::lock_guard<std::mutex> lock(g->failure_mutex);
  if (g->backward_failure.empty()) g->backward_failure = err;
}
}  // namespace rcb
