// Gradient averaging overlapped with the backward pass, as DDP's Reducer does it
// (docs/distributed.md §2). Each parameter's gradient is copied into its bucket when autograd has
// computed it; a full bucket is all-reduced at once, asynchronously, and buckets are launched in
// the same order on every rank. After the backward pass the buckets are awaited, divided by the
// world size and written into the gradients.
#include "c10d_group.hpp"

#include <vector>

using rcb::first_line;
using rcb::message;

struct rcb_grad_sync {
  struct Bucket {
    at::Tensor flat;
    std::vector<size_t> members;
    size_t remaining = 0;
    c10::intrusive_ptr<c10d::Work> work;
  };
  rcb_group* group = nullptr;
  std::vector<at::Tensor> params;
  std::vector<unsigned> hooks;
  std::vector<size_t> bucket_of;
  std::vector<int64_t> offset_of;
  std::vector<bool> seen;
  std::vector<Bucket> buckets;
  std::mutex mutex;
  bool armed = false;
  size_t next = 0;   // the next bucket to launch
  size_t early = 0;  // buckets of the last backward pass launched before it ended
  std::string failure;

  // Launches, in bucket order, every bucket whose gradients have all arrived. The mutex is held.
  void launch_ready() {
    while (next < buckets.size() && buckets[next].remaining == 0) {
      auto& b = buckets[next++];
      try {
        std::vector<at::Tensor> ts{b.flat};
        c10d::AllreduceOptions opts;
        opts.reduceOp = c10d::ReduceOp::SUM;
        opts.timeout = group->timeout;
        b.work = rcb::backend_for(group, b.flat).allreduce(ts, opts);
      } catch (const std::exception& e) {
        if (failure.empty()) failure = first_line(e);
      }
    }
  }

  // Autograd computed parameter i's gradient for this backward pass.
  void arrived(size_t i, const at::Tensor& grad) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!armed) return;
    if (seen[i]) {
      if (failure.empty()) failure = "a parameter's gradient arrived twice in one backward pass";
      return;
    }
    seen[i] = true;
    auto& b = buckets[bucket_of[i]];
    b.flat.narrow(0, offset_of[i], grad.numel()).copy_(grad.reshape({-1}));
    if (--b.remaining == 0) launch_ready();
  }

  // Waits for every launched all-reduce (errors ignored) and makes the buckets ready for a new pass.
  void reset() {
    for (auto& b : buckets) {
      if (b.work) {
        try {
          b.work->wait(group->timeout);
        } catch (const std::exception&) {
        }
      }
      b.work.reset();
      b.remaining = b.members.size();
    }
    std::fill(seen.begin(), seen.end(), false);
    next = 0;
    failure.clear();
  }
};

extern "C" {

// Buckets `n` parameters (at::Tensor*) in reverse order, the first bucket up to first_bytes and the
// others up to bucket_bytes, and hooks each one's gradient. Parameters without gradients are left out.
char* rcb_grad_sync_new(rcb_group* g, void** params, size_t n, size_t first_bytes, size_t bucket_bytes,
                        rcb_grad_sync** out) {
  auto* s = new rcb_grad_sync();
  try {
    s->group = g;
    for (size_t k = 0; k < n; ++k) {
      auto& p = *static_cast<at::Tensor*>(params[k]);
      if (p.requires_grad()) s->params.push_back(p);
    }
    size_t count = s->params.size();
    s->bucket_of.assign(count, 0);
    s->offset_of.assign(count, 0);
    s->seen.assign(count, false);
    std::vector<std::vector<size_t>> groups;
    size_t bytes = 0;
    for (size_t k = count; k-- > 0;) {
      const auto& p = s->params[k];
      size_t size = p.numel() * p.element_size();
      size_t cap = groups.size() <= 1 ? first_bytes : bucket_bytes;
      bool same = !groups.empty() && s->params[groups.back()[0]].scalar_type() == p.scalar_type() &&
                  s->params[groups.back()[0]].device() == p.device();
      if (groups.empty() || !same || (bytes + size > cap && !groups.back().empty())) {
        groups.emplace_back();
        bytes = 0;
      }
      groups.back().push_back(k);
      bytes += size;
    }
    for (auto& members : groups) {
      rcb_grad_sync::Bucket b;
      int64_t total = 0;
      for (size_t k : members) {
        s->bucket_of[k] = s->buckets.size();
        s->offset_of[k] = total;
        total += s->params[k].numel();
      }
      b.flat = at::zeros({total}, s->params[members[0]].options().requires_grad(false));
      b.members = members;
      b.remaining = members.size();
      s->buckets.push_back(std::move(b));
    }
    for (size_t k = 0; k < count; ++k) {
      s->hooks.push_back(s->params[k].register_hook([s, k](at::Tensor grad) { s->arrived(k, grad); }));
    }
    *out = s;
    return nullptr;
  } catch (const std::exception& e) {
    for (size_t k = 0; k < s->hooks.size(); ++k) s->params[k].remove_hook(s->hooks[k]);
    delete s;
    return message(first_line(e));
  }
}

// Starts collecting the gradients of the next backward pass.
void rcb_grad_sync_arm(rcb_grad_sync* s) {
  std::lock_guard<std::mutex> lock(s->mutex);
  s->reset();
  s->armed = true;
}

// After the backward pass: launches what is left (a gradient that never came counts as zero), waits
// for every bucket and writes each bucket's mean over `world` ranks into the gradients.
char* rcb_grad_sync_finish(rcb_grad_sync* s, int world) {
  std::lock_guard<std::mutex> lock(s->mutex);
  s->armed = false;
  s->early = s->next;
  for (size_t b = s->next; b < s->buckets.size(); ++b) {
    auto& bucket = s->buckets[b];
    for (size_t k : bucket.members) {
      if (!s->seen[k]) s->buckets[b].flat.narrow(0, s->offset_of[k], s->params[k].numel()).zero_();
    }
    bucket.remaining = 0;
  }
  s->launch_ready();
  std::string failure = s->failure;
  for (auto& b : s->buckets) {
    try {
      if (b.work) b.work->wait(s->group->timeout);
    } catch (const std::exception& e) {
      if (failure.empty()) failure = first_line(e);
    }
    b.work.reset();
  }
  if (!failure.empty()) {
    s->reset();
    return message(failure);
  }
  try {
    at::NoGradGuard no_grad;
    for (auto& b : s->buckets) b.flat.div_(world);
    for (size_t k = 0; k < s->params.size(); ++k) {
      auto grad = s->params[k].grad();
      if (grad.defined()) {
        auto& b = s->buckets[s->bucket_of[k]];
        grad.copy_(b.flat.narrow(0, s->offset_of[k], grad.numel()).view_as(grad));
      }
    }
  } catch (const std::exception& e) {
    s->reset();
    return message(first_line(e));
  }
  s->reset();
  return nullptr;
}

// The number of buckets, and how many the last backward pass launched before it ended.
void rcb_grad_sync_counts(rcb_grad_sync* s, size_t* buckets, size_t* early) {
  std::lock_guard<std::mutex> lock(s->mutex);
  *buckets = s->buckets.size();
  *early = s->early;
}

// Removes the hooks and frees the buckets.
void rcb_grad_sync_free(rcb_grad_sync* s) {
  {
    std::lock_guard<std::mutex> lock(s->mutex);
    s->armed = false;
    s->reset();
  }
  for (size_t k = 0; k < s->hooks.size(); ++k) s->params[k].remove_hook(s->hooks[k]);
  delete s;
}

}  // extern "C"
