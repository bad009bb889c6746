// The emulated backend: one PAGEMAP_SCAN call answered from /proc/PID/pagemap and smaps.
//
// The walk copies the kernel's structure (kernel-pagemap-scan.md §3, §6.4): VMAs from
// maps or smaps in address order, the VMA test (WP-allowed, CHECK_WPASYNC's EPERM, VM_PFNMAP,
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
//
// Cost (docs/emulation.md, "Cost"): smaps walks every page table it lists, about as
// dear as pagemap itself, so VMAs come from maps unless the request needs a fact only
// smaps has (`uw` for WPALLOWED and write-protect, the THP counters for HUGE, the flags
// of anything but plain anonymous memory); smaps is read only up to the range's end.
// The VMA list is read as the walk advances, clipped to be sorted and disjoint (maps read
// in several read(2) calls is not one moment's picture) and held in a bounded window
// (vma_window.hpp).
// Entries are classified from the window by pointer, repeats of one entry value in a run
// cost a compare, and a THP block's shape is judged in the same pass that walks it.
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
#include "emulate/pagemap_window.hpp"
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

// `base` is the target's /proc directory (Process::proc_dir()).
UffdCensus census_uffds(const std::string& base, bool self) {
  UffdCensus c;
  DIR* dir = ::opendir((base + "/fd").c_str());
  if (!dir) return c;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    char link[64] = {};
    std::string fd_path = base + "/fd/" + e->d_name;
    ssize_t n = ::readlink(fd_path.c_str(), link, sizeof link - 1);
    if (n <= 0 || std::string(link) != "anon_inode:[userfaultfd]") continue;
    auto info = proc::read_text_file(base + "/fdinfo/" + e->d_name, proc::FileRole::process);
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

class EmulatedWalk {
 public:
  EmulatedWalk(const Process& process, RawScanArgs& args, std::uint64_t page, EmulationNotes& notes,
               int pagemap_fd)
      : process_(process),
        args_(args),
        page_(page),
        notes_(notes),
        window_(pagemap_fd, page, notes.entries),
        zero_(zero_pages()),
        out_(reinterpret_cast<PageRegion*>(args.vec), args.vec_len, args.max_pages,
             args.return_mask, page, page / 8) {
    interest_ = args.category_mask | args.category_anyof_mask | args.return_mask;
    wp_ = args.flags & PM_SCAN_WP_MATCHING;
    check_ = args.flags & PM_SCAN_CHECK_WPASYNC;
  }

  long run() {
    const std::uint64_t end = (args_.end + page_ - 1) & ~(page_ - 1);
    end_ = end;
    if (int err = load_vmas(args_.start, end)) return -err;
    if (wp_ && !process_.is_self()) return -EOPNOTSUPP;

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
    finish_thp_count();
    args_.walk_end = out_.walk_end() ? out_.walk_end() : end;
    return static_cast<long>(total);
  }

 private:
  struct VmaScan {
    const VmaFacts* vma;
    std::size_t index;         // its number in notes_.vmas
    std::uint64_t categories;  // VMA-level: WPALLOWED, SOFT_DIRTY
  };

  pid_t target() const { return process_.is_self() ? 0 : process_.pid(); }

  // smaps is needed for `uw` (WPALLOWED, WP_MATCHING, CHECK_WPASYNC, §4.2), for the THP
  // counters (HUGE, §6.2) and for any VMA that could be VM_PFNMAP or hugetlb (anything
  // but plain anonymous memory: walk() switches to smaps on meeting one). VM_SOFTDIRTY is
  // not needed: pagemap sets bit 55 on every entry of such a VMA, holes included (§6.1),
  // and the walk ORs bit 55 in.
  int load_vmas(std::uint64_t start, std::uint64_t end) {
    const bool need = wp_ || check_ || (interest_ & (PAGE_IS_WPALLOWED | PAGE_IS_HUGE));
    // Once the main thread has exited, /proc/PID/smaps lists nothing: read a live
    // thread's (the directory is chosen afresh per call, as threads come and go).
    auto dir = process_.proc_dir();
    if (!dir) return dir.error().errno_value() ? dir.error().errno_value() : ESRCH;
    dir_ = *dir;
    return notes_.vmas.prepare(dir_, target(), need, start, end);
  }

  // Whether VMA `v` is registered for uffd-wp, for a walk that read maps: the window
  // switches to smaps, which gives `v` its facts in place.
  bool uffd_wp_of(const VmaScan& v) {
    if (v.vma->detailed) return v.vma->uffd_wp;
    if (notes_.vmas.error() || notes_.vmas.upgrade(v.index + 1) != 0) return false;
    return v.vma->detailed && v.vma->uffd_wp;
  }

  // Whether a PMD hole of VMA `v` is in a uffd-wp VMA. From maps (so no write-protect)
  // only WRITTEN depends on it, so smaps is read only when the request looks at WRITTEN.
  bool hole_in_uffd_wp(const VmaScan& v) {
    if (v.vma->detailed) return v.vma->uffd_wp;
    return (interest_ & PAGE_IS_WRITTEN) && uffd_wp_of(v);
  }

  // How far a window loaded for `addr` in VMA `v` may read: to the end of the last VMA
  // starting inside the window's span (so small VMAs share reads, while the gaps around
  // big ones are never read), never past the scan's end. The look-ahead reads VMAs only
  // while the VMA window has room.
  std::uint64_t reach(const VmaScan& v, std::uint64_t addr) {
    const std::uint64_t limit = (addr & ~(window_.pmd() - 1)) + window_.span();
    std::uint64_t r = v.vma->end;
    for (std::size_t j = std::max(v.index + 1, notes_.vmas.base());; ++j) {
      const VmaFacts* next = notes_.vmas.get(j, false);
      if (!next || next->start >= limit) break;
      r = next->end;
    }
    return std::min(r, end_);
  }

  // The entries from `addr` on (at least to the end of its PMD block); nullptr on error.
  const std::uint64_t* entries(const VmaScan& v, std::uint64_t addr) {
    if (!window_.holds(addr) && !window_.load(addr, reach(v, addr))) return nullptr;
    return window_.at(addr);
  }

  bool interesting(std::uint64_t c) const {
    c ^= args_.category_inverted;
    if ((c & args_.category_mask) != args_.category_mask) return false;
    if (args_.category_anyof_mask && !(c & args_.category_anyof_mask)) return false;
    return true;
  }

  void approximate(std::uint64_t category) {
    if (interest_ & category) notes_.approximate |= Categories::from_bits(category);
  }

  bool wp_allowed(const VmaFacts& vma) {
    if (!vma.uffd_wp) return false;
    const UffdCensus& uffds = census();
    // Which uffd a VMA belongs to is not visible; exact when the target's uffds agree.
    if (uffds.async && uffds.sync) approximate(PAGE_IS_WPALLOWED);
    if (!uffds.async && !uffds.sync) {
      approximate(PAGE_IS_WPALLOWED);  // registered through a uffd held elsewhere
      return false;
    }
    return uffds.async > 0;
  }

  // Read on first need: only `uw` VMAs and write-protect ask.
  const UffdCensus& census() {
    if (!census_done_) {
      uffds_ = census_uffds(dir_, process_.is_self());
      census_done_ = true;
    }
    return uffds_;
  }

  // Returns 0 to continue, kStop, or -errno.
  int walk(std::uint64_t start, std::uint64_t end) {
    VmaWindow& vmas = notes_.vmas;
    for (std::size_t i = vmas.first(start);; ++i) {
      const VmaFacts* listed = vmas.get(i);
      if (!listed) {
        if (vmas.error()) return -vmas.error();
        break;
      }
      if (listed->start >= end) break;
      if (!listed->detailed && !listed->plain_anonymous) {
        // Only smaps says whether it is VM_PFNMAP or hugetlb: from here on VMAs come from
        // smaps, this one read again.
        if (int err = vmas.upgrade(i)) return -err;
        listed = vmas.get(i);
        if (!listed) {
          if (vmas.error()) return -vmas.error();
          break;
        }
        if (listed->start >= end) break;
      }
      // smaps, read from its start, may list a VMA the walk had passed in maps.
      if (listed->end <= start) continue;
      vmas.keep_from(listed->start);
      const VmaFacts& vma = *listed;
      // From maps the VMA is plain anonymous and the request needs no `uw`: never allowed.
      bool allowed = vma.detailed && wp_allowed(vma);
      if (!allowed) {
        if (check_) return -EPERM;
        if (wp_) continue;
      }
      if (vma.pfnmap) continue;
      VmaScan v{&vma, i, 0};
      if (allowed) v.categories |= PAGE_IS_WPALLOWED;
      if (vma.soft_dirty) v.categories |= PAGE_IS_SOFT_DIRTY;
      std::uint64_t required = args_.category_mask & PAGE_IS_WPALLOWED;
      if (((v.categories ^ args_.category_inverted) & required) != required) continue;

      std::uint64_t a = std::max(vma.start, start), b = std::min(vma.end, end);
      int ret = vma.hugetlb ? walk_hugetlb(v, a, b) : walk_normal(v, a, b);
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
      const std::uint64_t* at = entries(v, x);
      if (!at) return -EIO;
      std::uint64_t e = *at;
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
    const bool thp_possible = (interest_ & PAGE_IS_HUGE) && v.vma->pmd_mapped != 0;
    if (thp_possible) start_thp_count(v);
    const std::uint64_t pmd = window_.pmd();
    for (std::uint64_t blk = a & ~(pmd - 1); blk < b; blk += pmd) {
      std::uint64_t x = std::max(blk, a), y = std::min(blk + pmd, b);
      const std::uint64_t* block = entries(v, blk);
      if (!block) return -EIO;
      const std::uint64_t* first = block + (x - blk) / page_;
      bool whole = blk >= v.vma->start && blk + pmd <= v.vma->end;
      bool huge_zero = whole && is_huge_zero_block(v, block[0]);
      bool thp = false;
      if (thp_possible && whole) {
        BlockShape shape = shape_of(block);
        bool candidate = shape.agreeing && !huge_zero;
        count_thp(v, blk, candidate);
        // With PFNs, a PMD-mapped THP also has 512 contiguous, aligned PFNs (§6.2);
        // when the counters agree with the candidates, every candidate has them.
        thp = candidate && (!pfns_visible(block[0]) || shape.contiguous);
      }
      if (thp || huge_zero) {
        int ret = walk_thp(v, *first, x, y, huge_zero);
        if (ret) return ret;
        continue;
      }
      int ret = walk_ptes(v, blk, block, x, y);
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
    } else if (table) {
      c |= PAGE_IS_WRITTEN;  // pte_none in an existing PTE table
    } else if (hole_in_uffd_wp(v)) {
      c |= PAGE_IS_WRITTEN;  // PMD holes in uffd-wp VMAs (July 2026 fixes)
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
    if (!v.vma->private_anonymous || (e & PM_MMAP_EXCLUSIVE)) return false;
    approximate(PAGE_IS_PFNZERO);
    return true;
  }

  // Whether the PMD block has a PTE table: some entry is more than VM_SOFTDIRTY's bit 55
  // (exclusivity never comes alone). Remembered for the VMAs sharing the block.
  bool has_table(std::uint64_t blk, const std::uint64_t* block) {
    if (blk == table_blk_ && table_known_) return table_;
    const std::size_t n = static_cast<std::size_t>(window_.pmd() / page_);
    std::uint64_t any = 0;
    for (std::size_t i = 0; i < n; ++i) any |= block[i];
    table_ = (any & ~PM_SOFT_DIRTY & ~PM_MMAP_EXCLUSIVE) != 0;
    table_blk_ = blk;
    table_known_ = true;
    return table_;
  }

  int walk_ptes(VmaScan& v, std::uint64_t blk, const std::uint64_t* block, std::uint64_t x,
                std::uint64_t y) {
    const bool exclusive_wp = wp_ && !out_.has_buffer();
    const bool table = has_table(blk, block);
    const std::uint64_t* e = block + (x - blk) / page_;
    const std::size_t n = static_cast<std::size_t>((y - x) / page_);
    std::uint64_t run_start = x;
    std::uint64_t prev = e[0];
    std::uint64_t run_c = classify_pte(v, prev, table);
    auto flush_run = [&](std::uint64_t run_end) -> int {
      if (!interesting(run_c)) return 0;
      std::uint64_t cut = run_end;
      int ret = out_.output(run_c, run_start, &cut);
      if (wp_ && !exclusive_wp && cut > run_start && (run_c & PAGE_IS_WRITTEN)) {
        protect(run_start, cut);
      }
      return ret;
    };
    for (std::size_t i = 1; i < n; ++i) {
      // An entry equal to the last one has its categories: runs of holes, or of pages of
      // one THP split to PTEs minus the PFN, cost a compare each.
      if (e[i] == prev) continue;
      prev = e[i];
      std::uint64_t p = x + i * page_;
      std::uint64_t c = classify_pte(v, prev, table);
      if (c == run_c) continue;
      if (int ret = flush_run(p)) return ret;
      run_start = p;
      run_c = c;
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
  // `e`: the block's first entry; the block lies wholly inside the VMA.
  bool is_huge_zero_block(const VmaScan& v, std::uint64_t e) {
    if (!v.vma->private_anonymous) return false;
    if (!(e & PM_PRESENT) || !(e & PM_FILE)) return false;
    if (pfns_visible(e) && zero_.huge_zero_pfn) return zero_.is_zero(e & PM_PFN_MASK);
    return true;  // present + "file" in private anonymous memory: only the huge zero page
  }

  struct BlockShape {
    bool agreeing = false;    // all present with the same flags: one PMD could map it
    bool contiguous = false;  // and 512 contiguous PFNs, starting aligned
  };

  BlockShape shape_of(const std::uint64_t* block) {
    const std::uint64_t per = window_.pmd() / page_;
    BlockShape s;
    const std::uint64_t first = block[0];
    if (!(first & PM_PRESENT)) return s;
    // One PMD maps the whole block, so pagemap gives every page the same flags (only
    // exclusivity is per page): a block whose entries differ is PTE-mapped.
    const std::uint64_t flags = first & ~PM_PFN_MASK & ~PM_MMAP_EXCLUSIVE;
    const std::uint64_t first_pfn = first & PM_PFN_MASK;
    bool pfn_run = true;
    for (std::uint64_t i = 0; i < per; ++i) {
      std::uint64_t e = block[i];
      if ((e & ~PM_PFN_MASK & ~PM_MMAP_EXCLUSIVE) != flags) return s;
      if ((e & PM_PFN_MASK) != first_pfn + i) pfn_run = false;
    }
    s.agreeing = true;
    s.contiguous = first_pfn != 0 && pfn_run && first_pfn % per == 0;
    return s;
  }

  // The counters say how many of the VMA's whole blocks are PMD-mapped; when that is not
  // the number of candidate blocks, HUGE is approximate (§6.2). The candidates are
  // counted as the walk passes them and the rest of the VMA when the call ends, so a
  // block is read once; once HUGE is flagged there is nothing left to learn.
  void start_thp_count(const VmaScan& v) {
    if (thp_.active && thp_.index == v.index) return;
    finish_thp_count();
    thp_ = ThpCount{};
    thp_.active = !(notes_.approximate.bits() & PAGE_IS_HUGE);
    thp_.index = v.index;
    thp_.vma = *v.vma;  // the window may drop it before the count is finished
  }

  void count_thp(const VmaScan& v, std::uint64_t blk, bool candidate) {
    if (!thp_.active || thp_.index != v.index) return;
    if (thp_.hi == thp_.lo) thp_.lo = thp_.hi = blk;
    if (blk >= thp_.lo && blk < thp_.hi) return;  // a restart walks its block again
    if (blk != thp_.hi) {
      thp_.broken = true;  // cannot happen (blocks come in order); recount all
      return;
    }
    thp_.hi += window_.pmd();
    if (candidate) ++thp_.candidates;
  }

  void finish_thp_count() {
    if (!thp_.active) return;
    thp_.active = false;
    if (notes_.approximate.bits() & PAGE_IS_HUGE) return;
    const VmaFacts& vma = thp_.vma;
    const std::uint64_t pmd = window_.pmd();
    if (thp_.broken) thp_.lo = thp_.hi = thp_.candidates = 0;
    VmaScan v{&vma, thp_.index, 0};
    std::uint64_t candidates = thp_.candidates;
    for (std::uint64_t blk = (vma.start + pmd - 1) & ~(pmd - 1); blk + pmd <= vma.end; blk += pmd) {
      if (blk >= thp_.lo && blk < thp_.hi) continue;
      const std::uint64_t* block = entries(v, blk);
      if (!block) continue;  // unreadable: no candidate
      if (shape_of(block).agreeing && !is_huge_zero_block(v, block[0])) ++candidates;
    }
    if (candidates != vma.pmd_mapped / pmd) approximate(PAGE_IS_HUGE);
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
    if (protect_.empty()) return 0;
    const UffdCensus& uffds = census();
    for (auto [start, end] : protect_) {
      bool done = false;
      int last_err = EOPNOTSUPP;
      for (int fd : uffds.own_fds) {
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

  struct ThpCount {
    bool active = false;
    bool broken = false;
    std::size_t index = 0;
    VmaFacts vma;
    std::uint64_t lo = 0, hi = 0;  // the blocks counted, contiguous
    std::uint64_t candidates = 0;
  };

  const Process& process_;
  RawScanArgs& args_;
  std::uint64_t page_;
  EmulationNotes& notes_;
  PagemapWindow window_;
  const ZeroPages& zero_;
  OutputBuilder out_;
  std::uint64_t interest_ = 0;
  std::uint64_t end_ = 0;
  bool wp_ = false, check_ = false;
  int pfns_visible_ = -1;  // unknown until a present entry is seen
  bool census_done_ = false;
  std::string dir_;  // the target's /proc directory for this call
  UffdCensus uffds_;
  std::uint64_t table_blk_ = 0;
  bool table_known_ = false, table_ = false;
  ThpCount thp_;
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
