// The emulated backend: one PAGEMAP_SCAN call answered from /proc/PID/pagemap and smaps.
//
// The walk copies the kernel's structure (kernel-pagemap-scan.md §3, §6.4): VMAs from
// smaps in address order, the VMA test (WP-allowed, CHECK_WPASYNC's EPERM, VM_PFNMAP,
// the WPALLOWED pre-filter), then hugetlb VMAs per huge page and other VMAs per PMD block
// (a PMD-mapped THP as one run, otherwise page by page). Page categories come from the
// pagemap entry by the rules of §6.2; runs of equal categories are handed to the same
// output assembly the kernel uses (OutputBuilder), with the same internal restarts, so
// regions, counts, max_pages cuts and even the stale walk_end match the kernel's.
//
// What pagemap cannot tell (§6.5) is decided by documented heuristics and reported in
// EmulationNotes::approximate: PFNZERO without visible PFNs, HUGE for THPs when the
// smaps counters are ambiguous (among blocks whose 512 entries agree), WRITTEN of an
// empty entry in an all-empty PMD of a non-uffd VMA (PTE table or not), WPALLOWED when
// the target's uffds mix sync and async modes, and SWAPPED for hugetlb migration/hwpoison
// entries (invisible).
//
// Write-protect is emulated for the calling process only, with UFFDIO_WRITEPROTECT on
// exactly the pages the kernel would protect (§5.2-§5.4), through whichever of our
// userfaultfds the range is registered with. It is not atomic per page as the ioctl is:
// a write between our pagemap read and the protect is reported by the next scan.
#include "emulate/emulated_scan.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "emulate/output_builder.hpp"
#include "emulate/zero_pages.hpp"
#include "kernel/uapi.hpp"
#include "proc/maps.hpp"
#include "proc/proc_files.hpp"

namespace pagescan::emulate {

namespace {

using namespace uapi;

// The target's userfaultfds: how many are async (WP_ASYNC) and, for ourselves, their fds.
struct UffdCensus {
  int async = 0;
  int sync = 0;
  std::vector<int> own_fds;  // only when the target is this process
};

UffdCensus census_uffds(pid_t pid, bool self) {
  UffdCensus c;
  std::string base = self ? "/proc/self" : "/proc/" + std::to_string(pid);
  DIR* dir = ::opendir((base + "/fd").c_str());
  if (!dir) return c;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    char link[64] = {};
    std::string fd_path = base + "/fd/" + e->d_name;
    ssize_t n = ::readlink(fd_path.c_str(), link, sizeof link - 1);
    if (n <= 0 || std::string(link) != "anon_inode:[userfaultfd]") continue;
    auto info = proc::read_text_file(base + "/fdinfo/" + e->d_name);
    if (!info) continue;
    // "API:\taa:8000a000:..." holds the context's feature word.
    auto at = info->find("API:");
    if (at == std::string::npos) continue;
    auto colon = info->find(':', at + 4);
    std::uint64_t features = std::strtoull(info->c_str() + colon + 1, nullptr, 16);
    (features & kUffdFeatureWpAsync ? c.async : c.sync)++;
    if (self) c.own_fds.push_back(std::atoi(e->d_name));
  }
  ::closedir(dir);
  return c;
}

// Batched pagemap reads: whole PMD blocks at a time, never one syscall per page.
class PagemapWindow {
 public:
  PagemapWindow(int fd, std::uint64_t page) : fd_(fd), page_(page), pmd_(page * (page / 8)) {}

  // The entry of `addr`, loading a window of up to kWindowPmds PMD blocks from `addr`'s
  // block, clipped to `limit` (rounded up to a block). Returns false on a read error.
  bool entry(std::uint64_t addr, std::uint64_t limit, std::uint64_t& out) {
    if (addr < lo_ || addr >= hi_) {
      if (!load(addr, limit)) return false;
    }
    out = entries_[(addr - lo_) / page_];
    return true;
  }
  // True if any entry of the PMD block holding `addr` is non-empty (the block's window
  // must be loaded: call entry() first).
  bool block_populated(std::uint64_t addr) const {
    std::uint64_t b = addr & ~(pmd_ - 1);
    std::size_t first = static_cast<std::size_t>((b - lo_) / page_);
    std::size_t n = static_cast<std::size_t>(pmd_ / page_);
    for (std::size_t i = first; i < first + n && i < entries_.size(); ++i) {
      if (entries_[i] & ~PM_SOFT_DIRTY & ~PM_MMAP_EXCLUSIVE) return true;
    }
    return false;
  }
  std::uint64_t pmd() const { return pmd_; }

 private:
  static constexpr std::uint64_t kWindowPmds = 64;  // 256 KiB of entries per read

  bool load(std::uint64_t addr, std::uint64_t limit) {
    std::uint64_t lo = addr & ~(pmd_ - 1);
    std::uint64_t hi = std::min(lo + kWindowPmds * pmd_, (limit + pmd_ - 1) & ~(pmd_ - 1));
    if (hi <= lo) hi = lo + pmd_;
    std::size_t n = static_cast<std::size_t>((hi - lo) / page_);
    entries_.assign(n, 0);
    std::size_t done = 0;
    while (done < n) {
      ssize_t got = ::pread(fd_, entries_.data() + done, (n - done) * 8,
                            static_cast<off_t>((lo / page_ + done) * 8));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return false;
      if (got == 0) break;  // past the end of user space: the rest stays 0
      done += static_cast<std::size_t>(got) / 8;
    }
    lo_ = lo;
    hi_ = hi;
    return true;
  }

  int fd_;
  std::uint64_t page_, pmd_;
  std::uint64_t lo_ = 0, hi_ = 0;
  std::vector<std::uint64_t> entries_;
};

class EmulatedWalk {
 public:
  EmulatedWalk(const Process& process, RawScanArgs& args, std::uint64_t page, EmulationNotes& notes,
               int pagemap_fd)
      : process_(process),
        args_(args),
        page_(page),
        notes_(notes),
        window_(pagemap_fd, page),
        zero_(zero_pages()),
        out_(reinterpret_cast<PageRegion*>(args.vec), args.vec_len, args.max_pages,
             args.return_mask, page, page / 8) {
    interest_ = args.category_mask | args.category_anyof_mask | args.return_mask;
    wp_ = args.flags & PM_SCAN_WP_MATCHING;
    check_ = args.flags & PM_SCAN_CHECK_WPASYNC;
  }

  long run() {
    if (!notes_.vmas_loaded) {
      auto vmas = proc::read_vmas(process_.is_self() ? 0 : process_.pid(), true);
      if (!vmas) return -vmas.error().errno_value();
      notes_.vmas = std::move(*vmas);
      notes_.vmas_loaded = true;
    }
    uffds_ = census_uffds(process_.pid(), process_.is_self());
    if (wp_ && !process_.is_self()) return -EOPNOTSUPP;

    const std::uint64_t end = (args_.end + page_ - 1) & ~(page_ - 1);
    std::size_t total = 0;
    int ret = 0;
    for (std::uint64_t walk_start = args_.start; walk_start < end; walk_start = out_.walk_end()) {
      ret = walk(walk_start, end);
      if (int err = apply_write_protect(); err) return -err;
      total += out_.flush();
      if (ret != OutputBuilder::kStop) break;
      if (out_.vec_len_left() == 0 || out_.found_pages() == out_.max_pages()) break;
    }
    if (ret < 0 && ret != OutputBuilder::kStop) {
      args_.walk_end = out_.walk_end() ? out_.walk_end() : end;
      return ret;
    }
    args_.walk_end = out_.walk_end() ? out_.walk_end() : end;
    return static_cast<long>(total);
  }

 private:
  struct VmaScan {
    const proc::Vma* vma;
    std::uint64_t categories;               // VMA-level: WPALLOWED, SOFT_DIRTY
    std::vector<std::uint64_t> thp_blocks;  // PMD-mapped THP block starts (sorted)
  };

  bool interesting(std::uint64_t c) const {
    c ^= args_.category_inverted;
    if ((c & args_.category_mask) != args_.category_mask) return false;
    if (args_.category_anyof_mask && !(c & args_.category_anyof_mask)) return false;
    return true;
  }

  void approximate(std::uint64_t category) {
    if (interest_ & category) notes_.approximate |= Categories::from_bits(category);
  }

  bool wp_allowed(const proc::Vma& vma) {
    if (!vma.uffd_wp()) return false;
    // Which uffd a VMA belongs to is not visible; exact when the target's uffds agree.
    if (uffds_.async && uffds_.sync) approximate(PAGE_IS_WPALLOWED);
    if (!uffds_.async && !uffds_.sync) {
      approximate(PAGE_IS_WPALLOWED);  // registered through a uffd held elsewhere
      return false;
    }
    return uffds_.async > 0;
  }

  // Returns 0 to continue, kStop, or -errno.
  int walk(std::uint64_t start, std::uint64_t end) {
    for (const proc::Vma& vma : notes_.vmas) {
      if (vma.end <= start) continue;
      if (vma.start >= end) break;
      bool allowed = wp_allowed(vma);
      if (!allowed) {
        if (check_) return -EPERM;
        if (wp_) continue;
      }
      if (vma.pfnmap()) continue;
      VmaScan v{&vma, 0, {}};
      if (allowed) v.categories |= PAGE_IS_WPALLOWED;
      if (vma.soft_dirty()) v.categories |= PAGE_IS_SOFT_DIRTY;
      std::uint64_t required = args_.category_mask & PAGE_IS_WPALLOWED;
      if (((v.categories ^ args_.category_inverted) & required) != required) continue;

      std::uint64_t a = std::max(vma.start, start), b = std::min(vma.end, end);
      int ret = vma.hugetlb() ? walk_hugetlb(v, a, b) : walk_normal(v, a, b);
      if (ret) return ret;
    }
    return 0;
  }

  // ---- hugetlb: one run per huge page (§4.1, §5.4) ----
  int walk_hugetlb(VmaScan& v, std::uint64_t a, std::uint64_t b) {
    const std::uint64_t hsize = v.vma->kernel_page_size ? v.vma->kernel_page_size : window_.pmd();
    approximate(PAGE_IS_SWAPPED);  // migration and hwpoison entries read as 0 (§6.2)
    for (std::uint64_t hp = a & ~(hsize - 1); hp < b; hp += hsize) {
      std::uint64_t x = std::max(hp, a), y = std::min(hp + hsize, b);
      std::uint64_t e = 0;
      if (!window_.entry(x, v.vma->end, e)) return -EIO;
      std::uint64_t c = v.categories | PAGE_IS_HUGE;
      if (e & PM_PRESENT) {
        c |= PAGE_IS_PRESENT;
        if (!(e & PM_UFFD_WP)) c |= PAGE_IS_WRITTEN;
        if (e & PM_FILE) c |= PAGE_IS_FILE;
      } else if (e & PM_UFFD_WP) {
        c |= PAGE_IS_SWAPPED;  // a uffd-wp marker (or protected migration entry)
      }
      if (!interesting(c)) continue;
      std::uint64_t cut = y;
      int ret = out_.output(c, x, &cut);
      if (!wp_) {
        if (ret) return ret;
        continue;
      }
      if (cut == x) {
        if (ret) return ret;
        continue;
      }
      if (!(c & PAGE_IS_WRITTEN)) {
        if (ret) return ret;
        continue;
      }
      // The kernel compares with HPAGE_SIZE (the PMD size), not the VMA's page size.
      if (cut != x + window_.pmd()) {
        out_.backout(x, cut);
        out_.set_walk_end(x);
        continue;  // the walk goes on (§5.4)
      }
      protect(x, cut);
      if (ret) return ret;
    }
    return 0;
  }

  // ---- everything else: per PMD block ----
  int walk_normal(VmaScan& v, std::uint64_t a, std::uint64_t b) {
    find_thp_blocks(v);
    const std::uint64_t pmd = window_.pmd();
    for (std::uint64_t blk = a & ~(pmd - 1); blk < b; blk += pmd) {
      std::uint64_t x = std::max(blk, a), y = std::min(blk + pmd, b);
      std::uint64_t e0 = 0;
      if (!window_.entry(x, v.vma->end, e0)) return -EIO;
      bool thp = std::binary_search(v.thp_blocks.begin(), v.thp_blocks.end(), blk);
      bool huge_zero = is_huge_zero_block(v, blk);
      if (thp || huge_zero) {
        int ret = walk_thp(v, e0, x, y, huge_zero);
        if (ret) return ret;
        continue;
      }
      int ret = walk_ptes(v, x, y);
      if (ret) return ret;
    }
    return 0;
  }

  // A whole PMD-mapped block: one run, with the whole-huge-page WP rule (§5.3).
  int walk_thp(VmaScan& v, std::uint64_t e, std::uint64_t x, std::uint64_t y, bool huge_zero) {
    std::uint64_t c = v.categories | PAGE_IS_HUGE | PAGE_IS_PRESENT;
    if (!(e & PM_UFFD_WP)) c |= PAGE_IS_WRITTEN;
    if (huge_zero) {
      c |= PAGE_IS_PFNZERO;  // pagemap marks the huge zero page "file"; the scan does not
    } else if (e & PM_FILE) {
      c |= PAGE_IS_FILE;
    }
    if (e & PM_SOFT_DIRTY) c |= PAGE_IS_SOFT_DIRTY;
    if (!interesting(c)) return 0;
    std::uint64_t cut = y;
    int ret = out_.output(c, x, &cut);
    if (!wp_ || cut == x || !(c & PAGE_IS_WRITTEN)) return ret;
    if (x == (x & ~(window_.pmd() - 1)) && cut == x + window_.pmd()) {
      protect(x, cut);
      return ret;
    }
    // Partial: the kernel splits the PMD, withdraws the run and redoes it page by page,
    // so the re-reported pages lose HUGE.
    out_.backout(x, cut);
    std::uint64_t pte_c = c & ~PAGE_IS_HUGE;
    if (!interesting(pte_c)) return 0;
    std::uint64_t end = y;
    ret = out_.output(pte_c, x, &end);
    if (end > x) protect(x, end);
    return ret;
  }

  // `table` says whether the PMD block holding the page has a PTE table (a non-empty entry
  // somewhere in it); computed once per block by the caller.
  std::uint64_t classify_pte(const VmaScan& v, std::uint64_t e, bool table) {
    std::uint64_t c = v.categories;
    if (e & PM_SOFT_DIRTY) c |= PAGE_IS_SOFT_DIRTY;
    if (e & PM_PRESENT) {
      c |= PAGE_IS_PRESENT;
      if (!(e & PM_UFFD_WP)) c |= PAGE_IS_WRITTEN;
      if (e & PM_FILE) c |= PAGE_IS_FILE;
      if (is_zero_pte(v, e)) c |= PAGE_IS_PFNZERO;
    } else if (e & PM_SWAP) {
      c |= PAGE_IS_SWAPPED;
      if (!(e & PM_UFFD_WP)) c |= PAGE_IS_WRITTEN;
      if (e & PM_GUARD_REGION) {
        c |= PAGE_IS_GUARD;
      } else if (e & PM_FILE) {
        c |= PAGE_IS_FILE;
      }
    } else if (v.vma->uffd_wp()) {
      c |= PAGE_IS_WRITTEN;  // pte_none and PMD holes in uffd-wp VMAs (July 2026 fixes)
    } else if (table) {
      c |= PAGE_IS_WRITTEN;  // pte_none in an existing PTE table
    } else {
      // A PTE table emptied by MADV_DONTNEED (even of every page, leaving no Rss) would
      // read WRITTEN; pagemap cannot show it (§6.5).
      approximate(PAGE_IS_WRITTEN);
    }
    return c;
  }

  bool is_zero_pte(const VmaScan& v, std::uint64_t e) {
    if (e & PM_FILE) return false;
    if (pfns_visible(e) && zero_.zero_pfn) return zero_.is_zero(e & PM_PFN_MASK);
    // Without PFNs: a present, non-file page not exclusively mapped in private anonymous
    // memory is the zero page, or a KSM / COW-shared page: a heuristic (§6.2).
    if (!v.vma->private_anonymous() || (e & PM_MMAP_EXCLUSIVE)) return false;
    approximate(PAGE_IS_PFNZERO);
    return true;
  }

  int walk_ptes(VmaScan& v, std::uint64_t x, std::uint64_t y) {
    const bool exclusive_wp = wp_ && !out_.has_buffer();
    std::uint64_t first = 0;
    if (!window_.entry(x, v.vma->end, first)) return -EIO;
    const bool table = window_.block_populated(x);
    std::uint64_t run_start = x, run_c = 0;
    bool have_run = false;
    auto flush_run = [&](std::uint64_t run_end) -> int {
      if (!have_run) return 0;
      have_run = false;
      if (!interesting(run_c)) return 0;
      std::uint64_t cut = run_end;
      int ret = out_.output(run_c, run_start, &cut);
      if (wp_ && !exclusive_wp && cut > run_start && (run_c & PAGE_IS_WRITTEN)) {
        protect(run_start, cut);
      }
      return ret;
    };
    for (std::uint64_t p = x; p < y; p += page_) {
      std::uint64_t e = 0;
      if (!window_.entry(p, v.vma->end, e)) return -EIO;
      std::uint64_t c = classify_pte(v, e, table);
      if (have_run && c == run_c) continue;
      if (int ret = flush_run(p)) return ret;
      run_start = p;
      run_c = c;
      have_run = true;
    }
    if (int ret = flush_run(y)) return ret;
    if (exclusive_wp) {
      // No output buffer: every entry of an existing PTE table is protected whatever the
      // masks (§5.2(1)); a PMD hole is armed when it is interesting.
      if (table) {
        protect(x, y);
      } else if (interesting(classify_pte(v, 0, false))) {
        protect(x, y);
      }
    }
    return 0;
  }

  // Whether this pagemap fd shows PFNs: decided by the opener's CAP_SYS_ADMIN, not ours
  // now, so it is learnt from the first present entry read (a present page has PFN 0
  // only when PFNs are hidden).
  bool pfns_visible(std::uint64_t present_entry) {
    if (pfns_visible_ < 0 && (present_entry & PM_PRESENT)) {
      pfns_visible_ = (present_entry & PM_PFN_MASK) != 0 && zero_.pfns_visible ? 1 : 0;
    }
    return pfns_visible_ == 1;
  }

  // ---- THP detection from the smaps counters (§6.2) ----
  bool is_huge_zero_block(const VmaScan& v, std::uint64_t blk) {
    if (!v.vma->private_anonymous() || blk < v.vma->start || blk + window_.pmd() > v.vma->end) {
      return false;
    }
    std::uint64_t e = 0;
    if (!window_.entry(blk, v.vma->end, e)) return false;
    if (!(e & PM_PRESENT) || !(e & PM_FILE)) return false;
    if (pfns_visible(e) && zero_.huge_zero_pfn) return zero_.is_zero(e & PM_PFN_MASK);
    return true;  // present + "file" in private anonymous memory: only the huge zero page
  }

  void find_thp_blocks(VmaScan& v) {
    if (!(interest_ & PAGE_IS_HUGE) || v.vma->pmd_mapped_bytes() == 0) return;
    const std::uint64_t pmd = window_.pmd(), per = pmd / page_;
    std::vector<std::uint64_t> candidates, contiguous;
    for (std::uint64_t blk = (v.vma->start + pmd - 1) & ~(pmd - 1); blk + pmd <= v.vma->end;
         blk += pmd) {
      bool all_present = true, pfn_run = true;
      std::uint64_t first_pfn = 0, first_flags = 0;
      for (std::uint64_t i = 0; i < per; ++i) {
        std::uint64_t e = 0;
        if (!window_.entry(blk + i * page_, v.vma->end, e) || !(e & PM_PRESENT)) {
          all_present = false;
          break;
        }
        // One PMD maps the whole block, so pagemap gives every page the same flags (only
        // exclusivity is per page): a block whose entries differ is PTE-mapped.
        std::uint64_t flags = e & ~PM_PFN_MASK & ~PM_MMAP_EXCLUSIVE;
        if (i == 0) first_flags = flags;
        if (flags != first_flags) {
          all_present = false;
          break;
        }
        std::uint64_t pfn = e & PM_PFN_MASK;
        if (i == 0) first_pfn = pfn;
        if (pfn != first_pfn + i) pfn_run = false;
      }
      if (!all_present || is_huge_zero_block(v, blk)) continue;
      candidates.push_back(blk);
      if (pfns_visible(first_pfn ? PM_PRESENT | first_pfn : 0) && pfn_run && first_pfn % per == 0) {
        contiguous.push_back(blk);
      }
    }
    std::uint64_t want = v.vma->pmd_mapped_bytes() / pmd;
    if (candidates.size() == want) {
      v.thp_blocks = std::move(candidates);  // exact: every full block is PMD-mapped
      return;
    }
    approximate(PAGE_IS_HUGE);
    v.thp_blocks = pfns_visible_ == 1 ? std::move(contiguous) : std::move(candidates);
  }

  // ---- write-protect (§5.2) ----
  void protect(std::uint64_t start, std::uint64_t end) {
    if (!protect_.empty() && protect_.back().second == start) {
      protect_.back().second = end;
    } else {
      protect_.emplace_back(start, end);
    }
  }

  // Applies the collected protections through the uffd each range is registered with.
  int apply_write_protect() {
    for (auto [start, end] : protect_) {
      bool done = false;
      int last_err = EOPNOTSUPP;
      for (int fd : uffds_.own_fds) {
        uffdio_writeprotect wp{};
        wp.range.start = start;
        wp.range.len = end - start;
        wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
        if (::ioctl(fd, UFFDIO_WRITEPROTECT, &wp) == 0) {
          done = true;
          break;
        }
        last_err = errno;
      }
      if (!done) {
        protect_.clear();
        return last_err == ENOENT || last_err == EINVAL ? EOPNOTSUPP : last_err;
      }
    }
    protect_.clear();
    return 0;
  }

  const Process& process_;
  RawScanArgs& args_;
  std::uint64_t page_;
  EmulationNotes& notes_;
  PagemapWindow window_;
  const ZeroPages& zero_;
  OutputBuilder out_;
  std::uint64_t interest_ = 0;
  bool wp_ = false, check_ = false;
  int pfns_visible_ = -1;  // unknown until a present entry is seen
  UffdCensus uffds_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> protect_;
};

}  // namespace

long emulated_pagemap_scan(const Process& process, RawScanArgs& args, std::uint64_t page_size,
                           EmulationNotes& notes) {
  auto fd = process.pagemap_fd();
  if (!fd) return -fd.error().errno_value();
  EmulatedWalk walk(process, args, page_size, notes, *fd);
  return walk.run();
}

}  // namespace pagescan::emulate
