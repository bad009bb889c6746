// The emulator's VMA list: read from maps or smaps as the walk advances, sorted and
// disjoint, with a bounded number of VMAs in memory.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "proc/maps.hpp"

namespace pagescan::emulate {

// What the walk needs of one VMA, from /proc/PID/maps or, when the request needs more,
// /proc/PID/smaps (kernel-pagemap-scan.md §6.2).
struct VmaFacts {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  bool detailed = false;               // read from smaps: the fields below marked so are known
  bool pfnmap = false;                 // smaps: VM_PFNMAP ("pf")
  bool hugetlb = false;                // smaps: VM_HUGETLB ("ht")
  bool uffd_wp = false;                // smaps: registered for uffd write-protect ("uw")
  bool soft_dirty = false;             // smaps: VM_SOFTDIRTY ("sd")
  std::uint64_t kernel_page_size = 0;  // smaps
  std::uint64_t pmd_mapped = 0;        // smaps: bytes mapped by PMD (THP counters)
  bool private_anonymous = false;
  // No file and no special name: never VM_PFNMAP nor hugetlb, so maps alone gives every
  // fact the walk needs unless the request needs `uw` or the THP counters.
  bool plain_anonymous = false;
};

// The facts of one VMA as the walk uses them.
inline VmaFacts facts_of(const proc::Vma& v, bool detailed) {
  VmaFacts f;
  f.start = v.start;
  f.end = v.end;
  f.detailed = detailed;
  f.private_anonymous = v.private_anonymous();
  f.plain_anonymous = !v.shared() && v.inode == 0 &&
                      (v.path.empty() || v.path == "[heap]" || v.path.rfind("[stack", 0) == 0 ||
                       v.path.rfind("[anon:", 0) == 0);
  if (!detailed) return f;
  for (const std::string& flag : v.vm_flags) {
    if (flag == "pf") f.pfnmap = true;
    if (flag == "ht") f.hugetlb = true;
    if (flag == "uw") f.uffd_wp = true;
    if (flag == "sd") f.soft_dirty = true;
  }
  f.kernel_page_size = v.kernel_page_size;
  f.pmd_mapped = v.pmd_mapped_bytes();
  return f;
}

// Makes a listed VMA follow the one before it, which ended at `floor`: its start is
// raised to `floor`, and false says nothing is left of it (then `floor` is unchanged);
// otherwise `floor` becomes its end. maps and smaps are read in several read(2) calls,
// each under its own mmap lock, each resuming at the address where the last stopped
// (proc::VmaReader), so a VMA that grew down or moved between two reads is listed again
// from below the end of the entry before it. Its part above `floor` was mapped when it
// was listed, which is all a scan of a changing target may claim (scan.hpp); the part
// below was listed (or was a gap) under the earlier read. A VMA that moved wholly below
// the reading position is not listed at all (the next read starts above it) and one left
// empty by the clip is dropped, so the walk never goes back: its regions stay in order.
inline bool clip_to_floor(VmaFacts& vma, std::uint64_t& floor) {
  if (vma.start < floor) vma.start = floor;
  if (vma.end <= vma.start) return false;
  floor = vma.end;
  return true;
}

// A whole listing made sorted and disjoint by clip_to_floor(), in listing order.
inline std::vector<VmaFacts> sorted_disjoint(std::vector<VmaFacts> listed) {
  std::vector<VmaFacts> out;
  out.reserve(listed.size());
  std::uint64_t floor = 0;
  for (VmaFacts& v : listed) {
    if (clip_to_floor(v, floor)) out.push_back(v);
  }
  return out;
}

// The target's VMAs in address order, read from one open maps or smaps fd as the walk
// asks for them and clipped to be sorted and disjoint. VMAs are numbered in reading order
// (a sequence number stays valid while the VMA is held). At most kCapacity are held: when
// the window is full, the VMAs ending at or below the walk's position (keep_from()) are
// dropped. A call starting below a dropped VMA reopens the file and reads it from the
// start again (smaps cannot be read from an address: seq_file formats every record before
// the one asked for), which only a scan of more than kCapacity VMAs whose calls go back
// (the write-protect pre-check, then the scan from its start) ever does. A scan of fewer
// VMAs holds them all and reads the file once.
//
// Reading stops at the record of the first VMA reaching the call's end (read_vmas_below),
// so the kernel formats (for smaps: walks) the later VMAs only as far as one read(2) runs
// ahead.
class VmaWindow {
 public:
  // 1024 VmaFacts are 48 KiB (48 bytes each); the reader holds one 16 KiB read of text besides.
  static constexpr std::size_t kCapacity = 1024;

  // Readies the window for a call over [start, end) of `pid` (0: self), from smaps when
  // `detailed` (else maps, until upgrade()). Returns 0 or an errno (open failed).
  // `dir` is the /proc directory to read it from (Process::proc_dir()).
  int prepare(const std::string& dir, pid_t pid, bool detailed, std::uint64_t start,
              std::uint64_t end) {
    const bool reopen =
        !opened_ || pid != pid_ || dir != dir_ || (detailed && !all_detailed_) || start < covered_;
    pid_ = pid;
    dir_ = dir;
    limit_ = end;
    keep_from_ = start;
    if (!reopen) return 0;
    entries_.clear();
    base_ = 0;
    covered_ = 0;
    floor_ = 0;
    return open(detailed);
  }

  // The number of the first VMA ending above `addr` (reading on as needed); a number with
  // no VMA (get() returns null) when there is none below the call's end.
  std::size_t first(std::uint64_t addr) {
    auto it = std::upper_bound(entries_.begin(), entries_.end(), addr,
                               [](std::uint64_t a, const VmaFacts& v) { return a < v.end; });
    if (it != entries_.end()) return base_ + static_cast<std::size_t>(it - entries_.begin());
    while (load_one(true)) {
      if (entries_.back().end > addr) return base_ + entries_.size() - 1;
    }
    return base_ + entries_.size();
  }

  // VMA number `seq`, reading on as needed; null past the last VMA the call needs, on a
  // read error (error() says which), for a dropped VMA, and when `grow` is false and the
  // window is full (a look-ahead that may not push the walk's own VMAs out).
  const VmaFacts* get(std::size_t seq, bool grow = true) {
    while (seq >= base_ + entries_.size()) {
      if (!load_one(grow)) return nullptr;
    }
    return seq >= base_ ? &entries_[seq - base_] : nullptr;
  }

  // The walk is at `addr`: the VMAs ending at or below it may be dropped. (Restarts resume
  // at the stop address, never below the start of the VMA being walked.)
  void keep_from(std::uint64_t addr) { keep_from_ = addr; }

  // Switches from maps to smaps: VMA `seq` and those after it are read again from smaps,
  // and the VMAs held before it get smaps' facts in place (keeping maps' bounds; the walk
  // may be inside one). For a VMA that maps shows is not plain anonymous memory (it may be
  // VM_PFNMAP or hugetlb: upgrade(its number)) and for the `uw` flag of the VMA being
  // walked (upgrade(its number + 1)). smaps is read from its start (it cannot be read from
  // an address), so this costs what reading it for the whole scan would have.
  int upgrade(std::size_t seq) {
    while (base_ + entries_.size() > seq && !entries_.empty()) entries_.pop_back();
    floor_ = entries_.empty() ? covered_ : entries_.back().end;
    const bool from_start = entries_.empty() && covered_ == 0;
    if (int err = open(true)) return err;
    all_detailed_ = from_start;
    catch_up();
    return error_;
  }

  std::size_t base() const { return base_; }
  int error() const { return error_; }
  bool detailed() const { return detailed_; }
  // The most VMAs held at once since construction (tests check the bound).
  std::size_t peak_held() const { return peak_; }

 private:
  int open(bool detailed) {
    opened_ = true;
    detailed_ = all_detailed_ = detailed;
    eof_ = false;
    error_ = 0;
    has_pending_ = false;
    reader_.close();
    auto r = proc::VmaReader::open_in(dir_, pid_, detailed);
    if (!r) {
      error_ = r.error().errno_value();
      return error_;
    }
    reader_ = std::move(*r);
    return 0;
  }

  // Reads the next VMA into the window; false at the end of what the call needs, on an
  // error, or (without `grow`) when the window is full of VMAs still needed.
  bool load_one(bool grow) {
    while (entries_.size() >= kCapacity && entries_.front().end <= keep_from_) {
      covered_ = entries_.front().end;
      entries_.pop_front();
      ++base_;
    }
    if (!grow && entries_.size() >= kCapacity) return false;
    if (has_pending_) {
      has_pending_ = false;
      push(pending_);
      return true;
    }
    while (!error_ && !eof_ && floor_ < limit_) {
      auto got = reader_.next(scratch_);
      if (!got) {
        error_ = got.error().errno_value();
        return false;
      }
      if (!*got) {
        eof_ = true;
        reader_.close();
        return false;
      }
      VmaFacts f = facts_of(scratch_, detailed_);
      if (!clip_to_floor(f, floor_)) continue;
      push(f);
      return true;
    }
    return false;
  }

  void push(const VmaFacts& f) {
    entries_.push_back(f);
    peak_ = std::max(peak_, entries_.size());
  }

  // After upgrade() opened smaps: reads its records up to the first reaching above the
  // VMAs held (kept for load_one()); those overlapping a held VMA give it their facts.
  void catch_up() {
    while (!error_ && !eof_) {
      auto got = reader_.next(scratch_);
      if (!got) {
        error_ = got.error().errno_value();
        break;
      }
      if (!*got) {
        eof_ = true;
        reader_.close();
        break;
      }
      VmaFacts f = facts_of(scratch_, true);
      if (f.start < floor_) refresh(f);
      if (clip_to_floor(f, floor_)) {
        pending_ = f;
        has_pending_ = true;
        break;
      }
    }
    // A plain anonymous VMA smaps no longer lists was unmapped since: no flags.
    for (VmaFacts& e : entries_) {
      if (e.plain_anonymous) e.detailed = true;
    }
  }

  // Gives the held maps VMAs overlapping smaps record `r` its facts.
  void refresh(const VmaFacts& r) {
    auto it = std::upper_bound(entries_.begin(), entries_.end(), r.start,
                               [](std::uint64_t a, const VmaFacts& v) { return a < v.end; });
    for (; it != entries_.end() && it->start < r.end; ++it) {
      if (it->detailed) continue;
      it->detailed = true;
      it->pfnmap = r.pfnmap;
      it->hugetlb = r.hugetlb;
      it->uffd_wp = r.uffd_wp;
      it->soft_dirty = r.soft_dirty;
      it->kernel_page_size = r.kernel_page_size;
      it->pmd_mapped = r.pmd_mapped;
    }
  }

  proc::VmaReader reader_;
  proc::Vma scratch_;  // the record being converted, its storage reused
  std::deque<VmaFacts> entries_;
  VmaFacts pending_;  // read by catch_up(), not yet held
  bool has_pending_ = false;
  std::size_t base_ = 0;       // the number of entries_.front()
  std::uint64_t covered_ = 0;  // the end of the last VMA dropped (0: none)
  std::uint64_t floor_ = 0;    // the end of the last VMA read (clip_to_floor)
  std::uint64_t limit_ = 0;    // read no record past the first reaching this
  std::uint64_t keep_from_ = 0;
  pid_t pid_ = 0;
  std::string dir_;
  bool opened_ = false, detailed_ = false, eof_ = false;
  bool all_detailed_ = false;  // every VMA held came from smaps
  int error_ = 0;
  std::size_t peak_ = 0;
};

}  // namespace pagescan::emulate
