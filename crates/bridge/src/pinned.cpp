// Page-locked host memory (PyTorch's Tensor.pin_memory()), which tch binds only through the
// deprecated form that takes a device (docs/precision.md, "Feeding a GPU").
#include <torch/torch.h>

#include "error_message.hpp"

extern "C" {

// Writes into `out` a copy of the CPU tensor `tensor` in page-locked memory, from which copies to
// the GPU run asynchronously. Returns nullptr, or why not (no CUDA in this libtorch) as a message
// the caller frees with free().
char* rcb_pin_memory(void* tensor, void** out) {
  try {
    *out = new at::Tensor(static_cast<at::Tensor*>(tensor)->pin_memory());
    return nullptr;
  } catch (const std::exception& e) {
    return rcb::message(rcb::first_line(e));
  }
}

}  // extern "C"
