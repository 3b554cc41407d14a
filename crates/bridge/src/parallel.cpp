// How many threads the bridge's parallel loops run on: at::parallel_for is inline, so this counts
// what the bridge's own build gives (OpenMP on: libtorch's intra-op threads; off: one).
#include <ATen/Parallel.h>

#include <atomic>
#include <cstdint>

extern "C" {

// The number of distinct threads that ran parts of a parallel loop of the bridge, at most 64.
int rcb_parallel_loop_threads() {
  std::atomic<uint64_t> seen{0};
  at::parallel_for(0, 1 << 16, 1, [&](int64_t, int64_t) {
    int t = at::get_thread_num();
    if (t < 64) seen.fetch_or(uint64_t{1} << t);
  });
  return __builtin_popcountll(seen.load());
}

}  // extern "C"
