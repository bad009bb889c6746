// The mprotect engine: the watched region is made read-only and a SIGSEGV handler
// records each page's first write and makes the page writable again (fault_handler.hpp).
//
// State per page: one bit in a bitmap (1: written since armed) and the page's protection
// (armed: the region's protection without PROT_WRITE). The handler makes the page
// writable FIRST and sets the bit SECOND; collect and reset take the bits FIRST (an
// atomic fetch_and, which also tells which were set) and re-protect SECOND. With these
// two orders no write is ever lost, which is the contract "a write racing a collect is
// reported by that collect or the next":
//
// - The bad end state is "page writable, bit clear": writes go through unseen forever.
//   For a re-armed page to end writable, the handler's mprotect(RW) must come after the
//   collect's mprotect(READ), which comes after the collect's take; and the handler's
//   bit comes after its own mprotect(RW). So the bit is set after the take: the page is
//   reported next time. The end state is never "writable and clear".
// - A write that lands between the take and the re-protect does not fault (the page is
//   still writable) but it lands before the collect returns, and the take reported that
//   page, so the consumer sees it.
// - Collect only takes bits it saw set; a page whose bit is clear is read-only (armed at
//   create, or re-protected by a collect/reset), except inside a handler that is between
//   its two steps, which sets the bit when it finishes.
// The other orders lose writes. Protect-then-take: collect protects, a handler (for a
// write that faulted just before) makes the page writable and sets the bit, then the
// take clears it; the write lands afterwards on a writable page with a clear bit. Mark-
// then-unprotect in the handler: the handler sets the bit, the collect protects and
// takes it, then the handler makes the page writable: same end state.
// If re-protecting fails (ENOMEM past vm.max_map_count), collect and reset put the taken
// bits back and fail, so the pages are reported again; fold_back and the kernel-write
// helper set bits before making pages writable, for the same reason.
//
// KERNEL WRITES: the kernel does not take a write fault on the application's behalf. A
// read(2), recv(2) or any system call that writes into an armed page fails with EFAULT
// (or returns a short count) instead of raising SIGSEGV. Before handing part of the
// region to such a call, call WriteWatch::prepare_for_kernel_write() on that part: it
// marks the pages written and makes them writable (Wine's check_write_access, bdwgc's
// read() guard). Do not collect or reset that part until the call has returned.
//
// Limits (docs/write-tracking.md): the engine owns the region's protection, so the
// application must not mprotect() or munmap() a watched region before destroying the
// watch; a fault of another thread racing the watch's destruction may reach the previous
// handler; each re-armed run of pages can split a VMA (vm.max_map_count; on overflow the
// handler unprotects the whole region and counts it written); a first write costs a
// signal round trip (~7-20 us); a handler installed later that does not chain to ours,
// or a thread that blocks SIGSEGV, breaks tracking (gfxreconstruct's problems). After
// fork() the child inherits a copy of the bitmap and the protections and goes on
// tracking its own writes.
#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <vector>

#include "feature_probes.hpp"
#include "proc/maps.hpp"
#include "watch/engine.hpp"
#include "watch/fault_handler.hpp"
#include "watch/self_maps.hpp"
#include "watch/thp_guard.hpp"

namespace pagescan::watch {

namespace {

int protection_of(const std::string& perms) {
  int prot = PROT_NONE;
  if (perms.size() >= 3) {
    if (perms[0] == 'r') prot |= PROT_READ;
    if (perms[1] == 'w') prot |= PROT_WRITE;
    if (perms[2] == 'x') prot |= PROT_EXEC;
  }
  return prot;
}

// The lowest `n` set bits of `v`.
std::uint64_t lowest_bits(std::uint64_t v, std::uint64_t n) {
  std::uint64_t out = 0;
  for (; n && v; --n) {
    const std::uint64_t b = v & (~v + 1);
    out |= b;
    v ^= b;
  }
  return out;
}

class MprotectEngine final : public WriteWatch::Engine {
 public:
  MprotectEngine(std::uint64_t lo, std::uint64_t hi, std::uint64_t page, int prot)
      : prot_(prot), armed_prot_(prot & ~PROT_WRITE) {
    start = lo;
    end = hi;
    page_size = granularity = page;
    bits_bytes_ = ((pages() + 63) / 64 * 8 + page - 1) & ~(page - 1);
  }

  ~MprotectEngine() override {
    if (slot_ >= 0) {
      // Writable first, then out of the registry: a write in between cannot fault.
      if (::mprotect(reinterpret_cast<void*>(start), end - start, prot_) != 0 && errno == ENOMEM) {
        unprotect_mapped_pieces();
      }
      fault::detach(slot_);
    }
    if (bits_) ::munmap(bits_, bits_bytes_);
  }

  // The bitmap is its own mapping, so it never lies inside a watched region (attach()
  // refuses regions that would cover it later).
  Result<void> allocate() {
    void* mem =
        ::mmap(nullptr, bits_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
      return Error::from_errno(errno, ErrorKind::kernel_failure, "mprotect engine: bitmap");
    }
    bits_ = static_cast<fault::Word*>(mem);
    return {};
  }

  Result<void> arm(bool keep_huge_pages, const std::vector<proc::Vma>& vmas) {
    auto slot = fault::attach(start, end, prot_, bits_, bits_bytes_);
    if (!slot) return slot.error().with_context("mprotect engine: " + describe(start, end));
    slot_ = *slot;
    void* base = reinterpret_cast<void*>(start);
    if (!keep_huge_pages) {
      // One write would otherwise leave a whole 2 MiB huge page to re-protect at once
      // and report; per-page protection splits it anyway. Given back on destruction.
      thp_ = ThpGuard::disable(start, end, vmas);
    }
    // Registered before armed: the first write already finds its slot.
    if (::mprotect(base, end - start, armed_prot_) != 0) {
      return Error::from_errno(errno, ErrorKind::kernel_failure,
                               "mprotect engine: " + describe(start, end) + ": arming");
    }
    return {};
  }

  WatchEngine kind() const override { return WatchEngine::mprotect; }

  Result<Harvest> collect(std::uint64_t lo, std::uint64_t hi, std::uint64_t max_pages,
                          bool reset) override {
    // Re-arming an unmapped page fails: refuse before taking any bit.
    if (reset && !wholly_mapped(lo, hi)) return no_longer_mapped("collect");
    const std::uint64_t first = index(lo), last = index(hi);
    Harvest h;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> taken;  // (word, bits) to undo
    for (std::uint64_t w = first / 64; w * 64 < last; ++w) {
      std::uint64_t seen = bits_[w].load() & word_mask(w, first, last);
      if (!seen) continue;
      if (max_pages && h.pages == max_pages) {
        h.more = true;  // written pages remain beyond the budget
        break;
      }
      std::uint64_t take = seen;
      if (max_pages && h.pages + static_cast<std::uint64_t>(std::popcount(seen)) > max_pages) {
        take = lowest_bits(seen, max_pages - h.pages);
        h.more = true;
      }
      if (reset) {
        // Only this collect and reset clear bits, so every bit seen is still set.
        bits_[w].fetch_and(~take);
        taken.emplace_back(w, take);
      }
      append(h, w, take);
      if (h.more) break;
    }
    if (reset) {
      for (const PageRange& r : h.ranges) {
        if (::mprotect(reinterpret_cast<void*>(r.start), r.end - r.start, armed_prot_) != 0) {
          const int err = errno;
          for (const auto& [w, bits] : taken) bits_[w].fetch_or(bits);
          // Unmapped since the check above (the application broke the contract).
          if (err == ENOMEM && !wholly_mapped(lo, hi)) return no_longer_mapped("collect");
          return Error::from_errno(err, ErrorKind::kernel_failure,
                                   describe(start, end) + ": re-arming written pages");
        }
      }
    }
    return h;
  }

  Result<void> reset(std::uint64_t lo, std::uint64_t hi) override {
    if (!wholly_mapped(lo, hi)) return no_longer_mapped("reset");
    const std::uint64_t first = index(lo), last = index(hi);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> taken;
    for (std::uint64_t w = first / 64; w * 64 < last; ++w) {
      const std::uint64_t mask = word_mask(w, first, last);
      if (std::uint64_t old = bits_[w].fetch_and(~mask) & mask) taken.emplace_back(w, old);
    }
    if (::mprotect(reinterpret_cast<void*>(lo), hi - lo, armed_prot_) != 0) {
      const int err = errno;
      for (const auto& [w, bits] : taken) bits_[w].fetch_or(bits);
      if (err == ENOMEM && !wholly_mapped(lo, hi)) return no_longer_mapped("reset");
      return Error::from_errno(err, ErrorKind::kernel_failure, describe(start, end) + ": reset");
    }
    return {};
  }

  Result<void> fold_back(const Harvest& harvest) override {
    for (const PageRange& r : harvest.ranges) {
      const std::uint64_t lo = r.start & ~(page_size - 1);
      const std::uint64_t hi = (r.end + page_size - 1) & ~(page_size - 1);
      if (hi <= lo) continue;
      fault::set_bits(bits_, index(lo), index(hi));
      // Only saves the next write its fault: a read-only page with its bit set is a
      // valid state, so a failure here loses nothing.
      ::mprotect(reinterpret_cast<void*>(lo), hi - lo, prot_);
    }
    return {};
  }

  Result<void> prepare_for_kernel_write(std::uint64_t lo, std::uint64_t hi) override {
    fault::set_bits(bits_, index(lo), index(hi));
    if (::mprotect(reinterpret_cast<void*>(lo), hi - lo, prot_) != 0) {
      return Error::from_errno(errno, ErrorKind::kernel_failure,
                               describe(start, end) + ": making a range writable");
    }
    return {};
  }

  // A part unmapped and mapped afresh comes back with the protection its mmap() asked
  // for and no bit set: every page whose bit is clear (armed) must still be read-only
  // (armed_prot_), and every piece must carry one of our two protections (armed, or the
  // region's own once written): PROT_NONE, exec or read-only-where-we-armed-writable is
  // someone else's mapping. A replacement mapped read-only over armed pages looks like
  // ours; RegionSnapshot::restore catches it by the captured data it lost.
  Result<void> check_intact() const override {
    auto pieces = self_maps::pieces(start, end);
    if (!pieces) return pieces.error().with_context("mprotect engine: " + describe(start, end));
    for (const self_maps::Piece& p : *pieces) {
      bool ours = p.prot == armed_prot_ || p.prot == prot_;
      if (ours && !(p.prot & PROT_WRITE)) continue;
      const std::uint64_t first = index(p.start), last = index(p.end);
      for (std::uint64_t w = first / 64; ours && w * 64 < last; ++w) {
        const std::uint64_t mask = word_mask(w, first, last);
        ours = (bits_[w].load() & mask) == mask;
      }
      if (!ours) {
        char text[64];
        std::snprintf(text, sizeof text, "[0x%" PRIx64 "-0x%" PRIx64 ")", p.start, p.end);
        return Error(ENOENT, ErrorKind::invalid_argument,
                     "mprotect engine: " + describe(start, end) + ": part of the region " + text +
                         " was unmapped and mapped afresh since it was armed");
      }
    }
    return {};
  }

 private:
  std::uint64_t pages() const { return (end - start) / page_size; }

  // msync() fails with ENOMEM when any page of its range is unmapped, changing nothing.
  static bool wholly_mapped(std::uint64_t lo, std::uint64_t hi) {
    return ::msync(reinterpret_cast<void*>(lo), hi - lo, MS_ASYNC) == 0;
  }
  // ENOENT / invalid_argument: what every engine answers for a region unmapped or
  // replaced since it was armed (userfaultfd's own answer, docs/errors.md 4.22-4.24).
  Error no_longer_mapped(const char* call) const {
    return Error(ENOENT, ErrorKind::invalid_argument,
                 "mprotect engine: " + describe(start, end) + ": " + call +
                     ": the region is no longer wholly mapped (unmapped since)");
  }

  // The destructor's fallback when mprotect(2) over the region stopped at a hole (ENOMEM;
  // the pages before it are done): each piece still mapped and still armed gets the
  // region's protection back, so no page beyond the hole stays read-only once the
  // handler is gone (the application's next write there would die of SIGSEGV).
  void unprotect_mapped_pieces() const {
    auto pieces = self_maps::pieces(start, end);
    if (!pieces) return;
    for (const self_maps::Piece& p : *pieces) {
      if (p.prot != armed_prot_) continue;  // already writable, or not ours
      ::mprotect(reinterpret_cast<void*>(p.start), p.end - p.start, prot_);
    }
  }
  std::uint64_t index(std::uint64_t addr) const { return (addr - start) / page_size; }

  // The bits of word `w` that fall in pages [first, last).
  static std::uint64_t word_mask(std::uint64_t w, std::uint64_t first, std::uint64_t last) {
    std::uint64_t mask = ~0ull;
    if (first > w * 64) mask &= ~0ull << (first - w * 64);
    if (last < w * 64 + 64) mask &= ~0ull >> (w * 64 + 64 - last);
    return mask;
  }

  // Adds the pages of `bits` in word `w` to the harvest, merging adjacent pages.
  void append(Harvest& h, std::uint64_t w, std::uint64_t bits) const {
    while (bits) {
      const auto i = static_cast<std::uint64_t>(std::countr_zero(bits));
      bits &= bits - 1;
      const std::uint64_t at = start + (w * 64 + i) * page_size;
      if (!h.ranges.empty() && h.ranges.back().end == at) {
        h.ranges.back().end += page_size;
      } else {
        h.ranges.push_back(PageRange{at, at + page_size});
      }
      ++h.pages;
    }
  }

  int prot_;
  int armed_prot_;
  fault::Word* bits_ = nullptr;
  std::uint64_t bits_bytes_ = 0;
  int slot_ = -1;
  ThpGuard thp_;  // the THP advice, given back after the destructor's body
};

// The protection shared by every VMA of [start, end), which must be writable, not
// hugetlb (per-page mprotect is impossible there). Also those VMAs, for the THP advice.
struct RegionShape {
  int prot = 0;
  std::vector<proc::Vma> vmas;
};

Result<RegionShape> region_shape(std::uint64_t start, std::uint64_t end) {
  auto vmas = proc::read_vmas_below(0, true, end);  // smaps walks each VMA it formats
  if (!vmas) return vmas.error().with_context("mprotect engine: " + describe(start, end));
  RegionShape shape;
  std::string perms;
  for (const proc::Vma& v : *vmas) {
    if (v.end <= start || v.start >= end) continue;
    const std::string here = v.perms.substr(0, 3);
    if (here[1] != 'w') {
      return Error(EACCES, ErrorKind::invalid_argument,
                   "mprotect engine: " + describe(start, end) + ": the memory is not writable (" +
                       v.perms + "); only writable memory can be watched");
    }
    if (v.hugetlb()) {
      return Error(EOPNOTSUPP, ErrorKind::unsupported,
                   "mprotect engine: " + describe(start, end) +
                       ": hugetlb memory cannot be protected page by page");
    }
    if (!perms.empty() && perms != here) {
      return Error(EOPNOTSUPP, ErrorKind::unsupported,
                   "mprotect engine: " + describe(start, end) + ": the region mixes protections (" +
                       perms + " and " + here + ")");
    }
    perms = here;
    shape.vmas.push_back(v);
  }
  if (perms.empty()) {
    return Error(EINVAL, ErrorKind::invalid_argument,
                 "mprotect engine: " + describe(start, end) + ": not mapped");
  }
  shape.prot = protection_of(perms);
  return shape;
}

}  // namespace

Result<std::unique_ptr<WriteWatch::Engine>> make_mprotect_engine(std::uint64_t start,
                                                                 std::uint64_t end,
                                                                 const WatchOptions& options) {
  if (fault::overlaps_watch(start, end)) {
    // EBUSY, as userfaultfd answers a registration over another watch's (4.10, 4.11).
    return Error(EBUSY, ErrorKind::invalid_argument,
                 "mprotect engine: " + describe(start, end) + " overlaps another mprotect watch");
  }
  auto shape = region_shape(start, end);
  if (!shape) return shape.error();
  // Opened now, once per process, rather than first at a destruction after an munmap
  // (check_intact and the destructor's fallback query it).
  (void)self_maps::fd();
  const Features& f = probe::thp();  // page size and THP: sysfs reads only
  auto engine = std::make_unique<MprotectEngine>(start, end, f.page_size, shape->prot);
  if (options.keep_huge_pages && f.thp_pmd_size && f.thp_mode != "never") {
    engine->granularity = f.thp_pmd_size;
  }
  if (auto ok = engine->allocate(); !ok) return ok.error();
  if (auto ok = engine->arm(options.keep_huge_pages, shape->vmas); !ok) return ok.error();
  return std::unique_ptr<WriteWatch::Engine>(std::move(engine));
}

}  // namespace pagescan::watch
