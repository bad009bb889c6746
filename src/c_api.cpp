// The C API (include/pagescan/pagescan.h): a thin layer over WriteWatch (and
// ProcessWriteWatch for pagescan_watch_attach) that checks
// arguments up front, so a failing call changes nothing, and turns Errors into -errno.
//
// pagescan_watch_get collects with max_pages = capacity, so the kernel (uffd engine)
// re-arms exactly the pages it reports. Only with PAGESCAN_WATCH_KEEP_HUGE can a harvest
// hold more pages than that: it is widened to whole huge pages. Then the answer is cut
// between huge pages (whole units only, so every call re-arms at least one unit and a
// loop of calls ends), and the units that do not fit in the caller's array are folded
// back, so they are reported again next time instead of being lost.
#include "pagescan/pagescan.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <new>
#include <optional>
#include <vector>

#include "c_api_support.hpp"
#include "pagescan/process_watch.hpp"
#include "pagescan/watch.hpp"

// One of the two: a watch of this process (pagescan_watch_create) or of another
// (pagescan_watch_attach).
struct pagescan_watch {
  explicit pagescan_watch(pagescan::WriteWatch w) : local(std::move(w)) {}
  explicit pagescan_watch(pagescan::ProcessWriteWatch w) : remote(std::move(w)) {}
  std::optional<pagescan::WriteWatch> local;
  std::optional<pagescan::ProcessWriteWatch> remote;
};

namespace {

using pagescan::Error;
using pagescan::ErrorKind;
using pagescan::c_api::guarded;
using pagescan::c_api::negative_errno;

std::uint64_t page_size() {
  static const auto size = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

}  // namespace

extern "C" {

int pagescan_watch_create(void* base, size_t len, unsigned flags, pagescan_watch** out) {
  if (out == nullptr) return -EFAULT;
  const auto options = pagescan::c_api::watch_options_from_flags(flags);
  if (len == 0 || !options) return -EINVAL;
  return guarded([&] {
    auto watch = pagescan::WriteWatch::create(base, len, *options);
    if (!watch) return negative_errno(watch.error());
    *out = new pagescan_watch(std::move(*watch));
    return 0;
  });
}

int pagescan_watch_attach(pid_t pid, uint64_t base, uint64_t len, unsigned flags,
                          pagescan_watch** out) {
  if (out == nullptr) return -EFAULT;
  const auto options = pagescan::c_api::watch_options_from_flags(flags);
  if (pid <= 0 || !options || options->keep_huge_pages) return -EINVAL;
  return guarded([&] {
    pagescan::ProcessWatchOptions attach_options;
    attach_options.engine = options->engine;
    auto watch = pagescan::ProcessWriteWatch::attach(pid, base, len, attach_options);
    if (!watch) return negative_errno(watch.error());
    *out = new pagescan_watch(std::move(*watch));
    return 0;
  });
}

namespace {

// pagescan_watch_get on a watch of another process: whole pages only, and the kernel
// re-arms exactly what fits (max_pages = capacity), so nothing is folded back.
int get_remote(pagescan::ProcessWriteWatch& watch, void* base, size_t len, unsigned flags,
               void** addrs, size_t* count) {
  pagescan::CollectOptions options;
  options.max_pages = *count;
  options.reset = (flags & PAGESCAN_WATCH_RESET) != 0;
  const pagescan::PageRange whole = watch.range();
  auto harvest = base == nullptr && len == 0
                     ? watch.collect(whole.start, whole.end - whole.start, options)
                     : watch.collect(reinterpret_cast<std::uint64_t>(base), len, options);
  if (!harvest) return negative_errno(harvest.error());
  const std::uint64_t page = page_size();
  std::size_t n = 0;
  for (const pagescan::PageRange& r : harvest->ranges) {
    for (std::uint64_t at = r.start; at < r.end && n < *count; at += page) {
      addrs[n++] = reinterpret_cast<void*>(at);
    }
  }
  *count = n;
  return 0;
}

}  // namespace

int pagescan_watch_get(pagescan_watch* w, void* base, size_t len, unsigned flags, void** addrs,
                       size_t* count) {
  if (count == nullptr) return -EFAULT;
  const bool whole_remote = w != nullptr && w->remote && base == nullptr && len == 0;
  if (w == nullptr || (len == 0 && !whole_remote) || (flags & ~PAGESCAN_WATCH_RESET) != 0 ||
      *count == 0) {
    return -EINVAL;
  }
  if (addrs == nullptr) return -EFAULT;
  if (w->remote) {
    return guarded([&] { return get_remote(*w->remote, base, len, flags, addrs, count); });
  }
  const std::uint64_t page = page_size();
  const std::uint64_t unit = std::max<std::uint64_t>(w->local->granularity(), page);
  if (*count < unit / page) return -EINVAL;  // not even one huge page fits
  return guarded([&] {
    const std::size_t capacity = *count;
    const bool reset = (flags & PAGESCAN_WATCH_RESET) != 0;
    pagescan::CollectOptions options;
    options.max_pages = capacity;
    options.reset = reset;
    auto harvest = w->local->collect(base, len, options);
    if (!harvest) return negative_errno(harvest.error());

    // Whole units (pages, or huge pages clipped to the query) while they fit; the rest,
    // from the first unit that does not, overflows.
    std::vector<void*> pages;
    pages.reserve(std::min<std::uint64_t>(capacity, harvest->pages));
    pagescan::Harvest overflow;
    for (const pagescan::PageRange& r : harvest->ranges) {
      std::uint64_t at = r.start;
      while (overflow.ranges.empty() && at < r.end) {
        const std::uint64_t unit_end = std::min(r.end, (at / unit + 1) * unit);
        if (pages.size() + (unit_end - at) / page > capacity) break;
        for (; at < unit_end; at += page) pages.push_back(reinterpret_cast<void*>(at));
      }
      if (at < r.end) overflow.ranges.push_back(pagescan::PageRange{at, r.end});
    }
    if (reset && !overflow.ranges.empty()) {
      if (auto ok = w->local->fold_back(overflow); !ok) return negative_errno(ok.error());
    }
    std::copy(pages.begin(), pages.end(), addrs);
    *count = pages.size();
    return 0;
  });
}

int pagescan_watch_reset(pagescan_watch* w, void* base, size_t len) {
  if (w == nullptr || (len == 0 && !(w->remote && base == nullptr))) return -EINVAL;
  return guarded([&] {
    auto ok = !w->remote ? w->local->reset(base, len)
              : len == 0 ? w->remote->reset()
                         : w->remote->reset(reinterpret_cast<std::uint64_t>(base), len);
    return ok ? 0 : negative_errno(ok.error());
  });
}

const char* pagescan_watch_engine(const pagescan_watch* w) {
  if (w == nullptr) return nullptr;
  // to_string returns views of string literals, so data() is NUL-terminated.
  return pagescan::to_string(w->remote ? w->remote->engine() : w->local->engine()).data();
}

void pagescan_watch_destroy(pagescan_watch* w) {
  delete w;
}

}  // extern "C"
