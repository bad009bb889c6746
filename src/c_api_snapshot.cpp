// The snapshot C API (include/pagescan/pagescan_snapshot.h): a thin layer over
// RegionSnapshot that checks arguments up front, so a failing call changes nothing, and
// turns Errors into -errno.
#include "pagescan/pagescan_snapshot.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <new>

#include "c_api_support.hpp"
#include "pagescan/snapshot.hpp"

struct pagescan_snapshot {
  explicit pagescan_snapshot(pagescan::RegionSnapshot s) : snapshot(std::move(s)) {}
  pagescan::RegionSnapshot snapshot;
};

namespace {

using pagescan::Error;
using pagescan::ErrorKind;
using pagescan::c_api::guarded;
using pagescan::c_api::negative_errno;

// msync() fails with ENOMEM when any page of the range is unmapped, changing nothing: a
// cheap check before reading the whole region.
bool wholly_mapped(void* base, std::size_t len) {
  return ::msync(base, len, MS_ASYNC) == 0;
}

}  // namespace

extern "C" {

int pagescan_snapshot_create(void* base, size_t len, unsigned flags, pagescan_snapshot** out) {
  if (out == nullptr) return -EFAULT;
  const auto watch = pagescan::c_api::watch_options_from_flags(flags);
  if (len == 0 || !watch) return -EINVAL;
  return guarded([&] {
    pagescan::SnapshotOptions options;
    options.watch = *watch;
    auto snapshot = pagescan::RegionSnapshot::capture(base, len, options);
    if (!snapshot) return negative_errno(snapshot.error());
    *out = new pagescan_snapshot(std::move(*snapshot));
    return 0;
  });
}

int pagescan_snapshot_restore(pagescan_snapshot* s, struct pagescan_restore_stats* stats) {
  if (s == nullptr) return -EINVAL;
  return guarded([&] {
    auto done = s->snapshot.restore();
    if (!done) return negative_errno(done.error());
    if (stats != nullptr) {
      stats->pages_examined = done->pages_examined;
      stats->pages_copied = done->pages_copied;
      stats->pages_zeroed = done->pages_zeroed;
      stats->pages_dropped = done->pages_dropped;
      stats->scan_seconds = done->scan_seconds;
      stats->copy_seconds = done->copy_seconds;
    }
    return 0;
  });
}

int pagescan_snapshot_verify(const pagescan_snapshot* s, size_t* first_bad_page) {
  if (s == nullptr) return -EINVAL;
  // A region unmapped in part since capture is -ENOENT, as restore answers it (the C++
  // call would count its first unmapped page as differing instead).
  if (!wholly_mapped(s->snapshot.base(), s->snapshot.length())) return -ENOENT;
  auto bad = s->snapshot.first_difference();
  if (!bad) return 0;
  if (first_bad_page != nullptr) *first_bad_page = *bad;
  return 1;
}

void pagescan_snapshot_destroy(pagescan_snapshot* s) {
  delete s;
}

}  // extern "C"
