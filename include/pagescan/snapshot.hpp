// Region snapshots: capture a memory region of this process, later restore only the
// pages written since (wasmtime's instance reset, a fuzzer's rollback, a failed step).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "pagescan/result.hpp"
#include "pagescan/watch.hpp"

namespace pagescan {

struct SnapshotOptions {
  WatchOptions watch;  // the write-tracking engine (uffd is fastest)
  // Written pages whose saved content is zero are zeroed with memset in runs shorter than
  // this many pages and dropped with MADV_DONTNEED in runs at least this long. The default
  // never drops: measured here, dropping is 4-15x slower than memset for runs of 1 to 8192 pages
  // and 6-30x with the refault (docs/snapshots.md); drop to give memory back instead.
  std::size_t dontneed_min_pages = SIZE_MAX;
  // Like wasmtime's keep_resident: the first keep_resident_bytes of the region are always
  // zeroed with memset (they stay resident for the next user); beyond it zero pages are
  // dropped whatever the run length, and dontneed_min_pages is ignored. SIZE_MAX: no
  // limit. A shared memfd region is always zeroed (MADV_DONTNEED would not clear the file).
  std::size_t keep_resident_bytes = SIZE_MAX;
};

struct RestoreStats {
  std::uint64_t pages_examined = 0;  // pages reported written (and so looked at)
  std::uint64_t pages_copied = 0;    // copied back from the image
  std::uint64_t pages_zeroed = 0;    // zeroed with memset
  std::uint64_t pages_dropped = 0;   // dropped with MADV_DONTNEED (read back as zero)
  double scan_seconds = 0;           // finding the written pages
  double copy_seconds = 0;           // copying, zeroing, dropping and re-arming
};

// A snapshot of an anonymous private region (or a shared memfd region, see
// docs/snapshots.md). Pages that read as zero at capture (never touched, the zero page,
// or all-zero content) are remembered as zero, not copied.
//
// Contract: the application does not write to the region while capture() or restore()
// runs (writes between calls are what restore() undoes). Not thread-safe per snapshot;
// independent snapshots may be restored concurrently.
class RegionSnapshot {
 public:
  // Arms write tracking on [base, base + len) (rounded out to pages), then saves the
  // non-zero pages. Errors: EINVAL / invalid_argument (len 0, not wholly mapped, not
  // private anonymous or shared memfd, or a mix of both), the watch's errors
  // (WriteWatch::create), e.g. EOPNOTSUPP / unsupported (the forced engine is
  // unavailable).
  //
  // Side effects, until the snapshot is destroyed: the watch's (WriteWatch::create); the
  // image, one anonymous MAP_NORESERVE mapping of the region's size plus a PROT_NONE
  // page on each side (memory only for the non-zero pages saved); and a PROT_NONE
  // placeholder page in the free page just below and just above the region, where
  // those are free, so a mapping that appears there later is never taken for growth.
  static Result<RegionSnapshot> capture(void* base, std::size_t len,
                                        const SnapshotOptions& options = {});

  RegionSnapshot(RegionSnapshot&&) noexcept;
  RegionSnapshot& operator=(RegionSnapshot&&) noexcept;
  ~RegionSnapshot();

  // Puts the region back to the captured contents, touching only the pages written since
  // the last capture or restore, and re-arms tracking (call it again and again). Pages
  // never written are not touched (no copy, no fault). Errors: ENOENT / invalid_argument
  // when the region was unmapped in part, moved, grown or shrunk since capture, or (uffd,
  // mprotect) part of it was unmapped and mapped afresh: nothing restored, whatever the
  // engine. Other errors come from the kernel while re-arming (the region may then be
  // partly restored).
  Result<RestoreStats> restore();

  // For the mprotect engine: makes [base, base + len) writable and marks it written before
  // a system call writes into it (read(2) into a protected page fails with EFAULT). A
  // no-op for the other engines. See WriteWatch::prepare_for_kernel_write.
  Result<void> prepare_for_kernel_write(void* base, std::size_t len);

  // Compares the whole region with the image: nullopt when equal, else the index of the
  // first differing page. A page no longer mapped (the region was unmapped in part or
  // shrunk since capture) counts as differing and is never read; a page the application
  // made PROT_NONE is still mapped, and reading it faults as any read would.
  std::optional<std::size_t> first_difference() const;

  void* base() const;
  std::size_t length() const;
  WatchEngine engine() const;
  std::size_t saved_pages() const;  // non-zero pages held in the image

  struct State;

 private:
  explicit RegionSnapshot(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace pagescan
