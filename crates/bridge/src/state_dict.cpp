// PyTorch pickles of state dicts (torch.save(model.state_dict())), read with libtorch's own
// unpickler, which tch does not bind. The dictionary of tensors is found at the top of the pickle
// or under "state_dict" or "model", as training scripts save checkpoints.
#include <torch/csrc/jit/serialization/pickle.h>

#include <cstring>
#include <string>
#include <vector>

namespace {
char* copy_message(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out != nullptr) std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}
}  // namespace

extern "C" {

// Calls `found(data, name, tensor)` for each tensor of the state dict in `bytes`; each tensor is a
// new at::Tensor the caller owns. Returns nullptr, or an error message the caller frees with free().
char* rcb_pickle_state_dict(const char* bytes, size_t len, void* data, void (*found)(void*, const char*, void*)) {
  try {
    std::vector<char> buffer(bytes, bytes + len);
    c10::IValue value = torch::jit::pickle_load(buffer);
    if (!value.isGenericDict()) return copy_message("the pickle holds a " + value.tagKind() + ", not a dictionary of tensors");
    auto dict = value.toGenericDict();
    for (const char* key : {"state_dict", "model"}) {
      auto it = dict.find(c10::IValue(std::string(key)));
      if (it != dict.end() && it->value().isGenericDict()) {
        dict = it->value().toGenericDict();
        break;
      }
    }
    for (const auto& entry : dict) {
      if (!entry.key().isString() || !entry.value().isTensor()) continue;
      found(data, entry.key().toStringRef().c_str(), new at::Tensor(entry.value().toTensor()));
    }
    return nullptr;
  } catch (const std::exception& e) {
    return copy_message(e.what());
  }
}

}  // extern "C"
