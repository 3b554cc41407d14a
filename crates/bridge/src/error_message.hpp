// Error messages handed to the Rust side: one line, in malloc'd memory that Rust frees.
#pragma once
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

namespace rcb {
// A copy of `s` in malloc'd memory, which the Rust side frees.
inline char* message(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out != nullptr) std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

// The first line of a libtorch exception: the rest is a C++ backtrace.
inline std::string first_line(const std::exception& e) {
  std::string s = e.what();
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}
}  // namespace rcb
