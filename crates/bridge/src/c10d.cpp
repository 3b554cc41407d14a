// PyTorch's distributed engine (c10d), which tch does not bind: rendezvous through a TCPStore and a
// Gloo process group (NCCL joins it in nccl.cpp) with all-reduce, broadcast, all-gather and barrier
// (docs/distributed.md).
// Gloo's own types stay behind c10d's pointers: the headers used to compile this file (Debian's
// libgloo-dev) are older than the gloo inside libtorch.
#include "c10d_group.hpp"
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <c10/util/Logging.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace {
char* copy_message(const std::string& s) { return rcb::message(s); }

char* first_line(const std::exception& e) { return rcb::message(rcb::first_line(e)); }
}  // namespace

struct rcb_store {
  c10::intrusive_ptr<c10d::TCPStore> store;
};

extern "C" {

// Silences c10's own warning and error log lines (each failure comes back as one message instead).
void rcb_quiet_c10_log() { FLAGS_caffe2_log_level = 3; }

// Connects to (rank 0: hosts) the TCPStore at host:port; waits for `world` ranks up to timeout_ms.
char* rcb_store_new(const char* host, int port, int is_server, int world, int64_t timeout_ms, rcb_store** out) {
  try {
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<std::uint16_t>(port);
    opts.isServer = is_server != 0;
    opts.numWorkers = world > 0 ? std::optional<std::size_t>(world) : std::nullopt;
    opts.waitWorkers = world > 0;
    opts.timeout = std::chrono::milliseconds(timeout_ms);
    opts.useLibUV = false;
    *out = new rcb_store{c10::make_intrusive<c10d::TCPStore>(std::string(host), opts)};
    return nullptr;
  } catch (const std::exception& e) {
    return first_line(e);
  }
}

void rcb_store_free(rcb_store* s) { delete s; }

// Adds `delta` to the counter `key`; writes its new value.
char* rcb_store_add(rcb_store* s, const char* key, int64_t delta, int64_t* value) {
  try {
    *value = s->store->add(std::string(key), delta);
    return nullptr;
  } catch (const std::exception& e) {
    return first_line(e);
  }
}

// Sets `key` to the bytes given.
char* rcb_store_set(rcb_store* s, const char* key, const char* bytes, size_t len) {
  try {
    s->store->set(std::string(key), std::vector<uint8_t>(bytes, bytes + len));
    return nullptr;
  } catch (const std::exception& e) {
    return first_line(e);
  }
}

// Waits (up to the store's timeout) for `key` and calls `got(data, bytes, len)` with its value.
char* rcb_store_get(rcb_store* s, const char* key, void* data, void (*got)(void*, const char*, size_t)) {
  try {
    auto v = s->store->get(std::string(key));
    got(data, reinterpret_cast<const char*>(v.data()), v.size());
    return nullptr;
  } catch (const std::exception& e) {
    return first_line(e);
  }
}

// Makes the Gloo process group of `world` ranks over the store; every collective waits at most
// timeout_ms. The device binds to the interface GLOO_SOCKET_IFNAME names, else to the address of
// `hostname`, else (an empty hostname) to this machine's own name's address, as torch does.
char* rcb_group_new(rcb_store* s, const char* hostname, int rank, int world, int64_t timeout_ms, rcb_group** out) {
  try {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    if (ifname != nullptr && *ifname != 0) {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else if (*hostname != 0) {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(hostname));
    } else {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    opts->threads = 2;
    auto group = c10::make_intrusive<c10d::ProcessGroupGloo>(s->store, rank, world, opts);
    *out = new rcb_group{s->store, group, nullptr, timeout, {}, {}};
    return nullptr;
  } catch (const std::exception& e) {
    return first_line(e);
  }
}

void rcb_group_free(rcb_group* g) { delete g; }

// Sums `tensor` (an at::Tensor*) over the ranks, in place.
char* rcb_allreduce_sum(rcb_group* g, void* tensor) {
  auto err = rcb::sum_in_place(g, *static_cast<at::Tensor*>(tensor));
  return err.empty() ? nullptr : copy_message(err);
}

// Overwrites `tensor` on every rank with rank `root`'s.
char* rcb_broadcast(rcb_group* g, void* tensor, int root) {
  try {
    std::vector<at::Tensor> ts{*static_cast<at::Tensor*>(tensor)};
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    opts.timeout = g->timeout;
    rcb::backend_for(g, ts[0]).broadcast(ts, opts)->wait(g->timeout);
    return nullptr;
  } catch (const std::exception& e) {
    return first_line(e);
  }
}

// Gathers every rank's `tensor` into `outs` (world tensors of the same shape, in rank order).
char* rcb_allgather(rcb_group* g, void* tensor, void** outs, int world) {
  try {
    std::vector<at::Tensor> in{*static_cast<at::Tensor*>(tensor)};
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < world; ++r) out[0].push_back(*static_cast<at::Tensor*>(outs[r]));
    c10d::AllgatherOptions opts;
    opts.timeout = g->timeout;
    rcb::backend_for(g, in[0]).allgather(out, in, opts)->wait(g->timeout);
    return nullptr;
  } catch (const std::exception& e) {
    return first_line(e);
  }
}

// The first failure of a backward all-reduce since the last call, or null; clears it.
char* rcb_take_backward_failure(rcb_group* g) {
  std::lock_guard<std::mutex> lock(g->failure_mutex);
  if (g->backward_failure.empty()) return nullptr;
  char* m = copy_message(g->backward_failure);
  g->backward_failure.clear();
  return m;
}

// Returns once every rank has called it (over Gloo: a host-side meeting).
char* rcb_barrier(rcb_group* g) {
  try {
    c10d::BarrierOptions opts;
    opts.timeout = g->timeout;
    g->gloo->barrier(opts)->wait(g->timeout);
    return nullptr;
  } catch (const std::exception& e) {
    return first_line(e);
  }
}

}  // extern "C"
