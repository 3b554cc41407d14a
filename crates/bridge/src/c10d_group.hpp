// The Gloo process group the bridge's C++ files share (docs/distributed.md).
#pragma once
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

namespace rcb {
// A copy of `s` in malloc'd memory, which the Rust side frees.
inline char* message(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out != nullptr) std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

// The first line of a c10d/gloo exception: the rest is a C++ backtrace.
inline std::string first_line(const std::exception& e) {
  std::string s = e.what();
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}
}  // namespace rcb

struct rcb_group {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  std::chrono::milliseconds timeout;
  // The first failure of an all-reduce inside autograd's backward pass, which cannot return one.
  std::mutex failure_mutex;
  std::string backward_failure;
};
