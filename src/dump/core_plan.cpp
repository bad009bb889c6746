// Reading a dump pass's picture of the target (see core_plan.hpp).
#include "dump/core_plan.hpp"

#include <elf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "kernel/uapi.hpp"
#include "proc/proc_files.hpp"

namespace pagescan::dump {

namespace {

std::uint32_t pf_flags(const std::string& perms) {
  std::uint32_t f = 0;
  if (perms.size() > 0 && perms[0] == 'r') f |= PF_R;
  if (perms.size() > 1 && perms[1] == 'w') f |= PF_W;
  if (perms.size() > 2 && perms[2] == 'x') f |= PF_X;
  return f;
}

void append(std::vector<PageRange>& out, std::uint64_t lo, std::uint64_t hi) {
  if (lo >= hi) return;
  if (!out.empty() && out.back().end >= lo) {
    out.back().end = std::max(out.back().end, hi);
  } else {
    out.push_back(PageRange{lo, hi});
  }
}

// PTE markers have swap type 31 in pagemap's frame field (src/smaps.cpp explains).
constexpr std::uint64_t kSwapTypeMask = 0x1f;
constexpr std::uint64_t kPteMarkerType = 31;

// The pages of [lo, hi) whose pagemap entry is a real swap entry, not a PTE marker.
// Without CAP_SYS_ADMIN pagemap hides the type (frame 0): such entries count as swap,
// since losing a swapped-out page would be worse than reading a marker as zeros.
Result<std::vector<PageRange>> real_swap_entries(const Process& process, std::uint64_t lo,
                                                 std::uint64_t hi) {
  auto fd = process.pagemap_fd();
  if (!fd) return fd.error();
  constexpr std::uint64_t kPage = 4096;
  std::vector<PageRange> out;
  std::vector<std::uint64_t> entries(4096);
  for (std::uint64_t at = lo; at < hi;) {
    const std::uint64_t n = std::min<std::uint64_t>(entries.size(), (hi - at) / kPage);
    const ssize_t got = ::pread(*fd, entries.data(), n * 8, static_cast<off_t>(at / kPage * 8));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      return proc::file_error(got < 0 ? errno : EIO, proc::FileRole::process,
                              "read pagemap of " + process.describe());
    }
    const std::uint64_t read = static_cast<std::uint64_t>(got) / 8;
    for (std::uint64_t i = 0; i < read; ++i) {
      const std::uint64_t e = entries[i];
      const std::uint64_t frame = e & uapi::PM_PFN_MASK;
      if ((e & uapi::PM_SWAP) && (frame == 0 || (frame & kSwapTypeMask) != kPteMarkerType)) {
        append(out, at + i * kPage, at + (i + 1) * kPage);
      }
    }
    at += read * kPage;
  }
  return out;
}

bool same_mapping(const proc::Vma& a, const proc::Vma& b) {
  return a.start == b.start && a.end == b.end && a.perms == b.perms && a.offset == b.offset &&
         a.inode == b.inode && a.dev_major == b.dev_major && a.dev_minor == b.dev_minor &&
         a.path == b.path;
}

}  // namespace

std::vector<PageRange> intersect(const std::vector<PageRange>& a, const std::vector<PageRange>& b) {
  std::vector<PageRange> out;
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    append(out, std::max(a[i].start, b[j].start), std::min(a[i].end, b[j].end));
    if (a[i].end < b[j].end) {
      ++i;
    } else {
      ++j;
    }
  }
  return out;
}

std::vector<PageRange> subtract(const std::vector<PageRange>& a, const std::vector<PageRange>& b) {
  std::vector<PageRange> out;
  std::size_t j = 0;
  for (const PageRange& r : a) {
    std::uint64_t at = r.start;
    while (j < b.size() && b[j].end <= at) ++j;
    for (std::size_t k = j; k < b.size() && b[k].start < r.end; ++k) {
      append(out, at, std::min(b[k].start, r.end));
      at = std::max(at, b[k].end);
    }
    append(out, at, r.end);
  }
  return out;
}

std::vector<PageRange> unite(std::vector<PageRange> a, const std::vector<PageRange>& b) {
  a.insert(a.end(), b.begin(), b.end());
  std::sort(a.begin(), a.end(),
            [](const PageRange& x, const PageRange& y) { return x.start < y.start; });
  std::vector<PageRange> out;
  for (const PageRange& r : a) append(out, r.start, r.end);
  return out;
}

std::vector<PageRange> clip(const std::vector<PageRange>& a, std::uint64_t lo, std::uint64_t hi) {
  std::vector<PageRange> out;
  auto it = std::lower_bound(a.begin(), a.end(), lo,
                             [](const PageRange& r, std::uint64_t x) { return r.end <= x; });
  for (; it != a.end() && it->start < hi; ++it) {
    append(out, std::max(it->start, lo), std::min(it->end, hi));
  }
  return out;
}

std::uint64_t total_bytes(const std::vector<PageRange>& a) {
  std::uint64_t n = 0;
  for (const PageRange& r : a) n += r.end - r.start;
  return n;
}

Result<std::uint32_t> coredump_filter(pid_t pid, const std::optional<std::uint32_t>& override) {
  if (override) return *override;
  auto text = proc::read_text_file("/proc/" + std::to_string(pid) + "/coredump_filter",
                                   proc::FileRole::process);
  if (!text) return text.error();
  return static_cast<std::uint32_t>(std::strtoul(text->c_str(), nullptr, 16));
}

Result<TargetPicture> read_picture(const Process& process, std::uint32_t filter,
                                   std::uint64_t user_limit,
                                   const std::function<bool(std::uint64_t)>& starts_with_elf,
                                   const TargetPicture* before,
                                   const std::vector<PageRange>& written,
                                   const std::vector<PageRange>& armed, bool fresh_flags) {
  TargetPicture p;
  auto dir = process.proc_dir();
  if (!dir) return dir.error();
  // smaps walks every page table to count (about 150 ms per GiB resident): while the
  // target is stopped, maps and the flags of the picture before do when no mapping
  // changed since.
  bool from_before = before != nullptr;
  if (from_before) {
    // With fresh_flags smaps is read anyway (its VmFlags are this moment's), and the
    // picture before still gives the data where no mapping changed.
    auto vmas = proc::read_vmas_in(*dir, process.pid(), fresh_flags);
    if (!vmas) return vmas.error();
    for (proc::Vma& v : *vmas) {
      if (left_out(v)) continue;
      auto it = std::lower_bound(before->vmas.begin(), before->vmas.end(), v.start,
                                 [](const proc::Vma& b, std::uint64_t a) { return b.start < a; });
      if (it == before->vmas.end() || !same_mapping(*it, v)) from_before = false;
      if (!fresh_flags) v.vm_flags = it == before->vmas.end() ? v.vm_flags : it->vm_flags;
      p.vmas.push_back(std::move(v));
    }
    if (!from_before && !fresh_flags) p.vmas.clear();  // flags from maps alone: read smaps
  }
  if (!from_before && p.vmas.empty()) {
    auto vmas = proc::read_vmas_in(*dir, process.pid(), true);
    if (!vmas) return vmas.error();
    for (proc::Vma& v : *vmas) {
      if (!left_out(v)) p.vmas.push_back(std::move(v));
    }
  }
  const std::vector<PageRange> may_be_swap =
      from_before ? unite(before->data, written) : std::vector<PageRange>{};
  // The pages that hold data, by PAGEMAP_SCAN; the file category tells page cache from
  // anonymous (or copy-on-write) pages. A write watch armed with WP_UNPOPULATED leaves a
  // uffd-wp marker in every empty entry, which PAGEMAP_SCAN reports as swapped: a swapped
  // entry that is write-protected (written clear) is a marker or a real swap (or
  // migration) entry, and only pagemap's swap type tells which.
  //
  // Without a picture before, the whole user address space is scanned. With one, only
  // what may have changed since: the pages written and what the watch does not track
  // (runs closer than 2 MiB scanned as one), then the data before (below). The full
  // scan costs about 20 ms per GiB resident (FILE needs each page's struct page).
  std::vector<PageRange> windows{PageRange{0, user_limit}};
  if (from_before) {
    const std::vector<PageRange> changed =
        unite(written, subtract({PageRange{0, user_limit}}, armed));
    windows.clear();
    constexpr std::uint64_t kJoin = 2 << 20;
    for (const PageRange& r : changed) {
      if (!windows.empty() && r.start - windows.back().end < kJoin) {
        windows.back().end = r.end;
      } else {
        windows.push_back(r);
      }
    }
  }
  std::size_t v = 0;
  for (const PageRange& window : windows) {
    auto scanned =
        scan(process, ScanRequest::over(window.start, window.end)
                          .any_of(Category::present | Category::swapped)
                          .none_of(Category::pfnzero)
                          .returning(Category::file | Category::present | Category::written));
    if (!scanned) return scanned.error();
    for (const PageRegion& r : scanned->regions) {
      const bool ambiguous = !r.categories.intersects(Category::present | Category::written);
      if (!ambiguous) {
        append(p.data, r.start, r.end);
        if (!r.categories.contains(Category::file)) append(p.anon, r.start, r.end);
        continue;
      }
      // Where such an entry may be real: from smaps, VMAs with swap; from the picture
      // before, pages that held data then or were written since (any other was a
      // marker then, and nothing wrote it since).
      std::vector<PageRange> check;
      if (from_before) {
        check = clip(may_be_swap, r.start, r.end);
      } else {
        while (v < p.vmas.size() && p.vmas[v].end <= r.start) ++v;
        for (std::size_t k = v; k < p.vmas.size() && p.vmas[k].start < r.end; ++k) {
          if (p.vmas[k].swap == 0) continue;  // nothing swapped here: markers only
          append(check, std::max(r.start, p.vmas[k].start), std::min(r.end, p.vmas[k].end));
        }
      }
      for (const PageRange& c : check) {
        auto swapped = real_swap_entries(process, c.start, c.end);
        if (!swapped) return swapped.error();
        for (const PageRange& sw : *swapped) {
          append(p.data, sw.start, sw.end);
          if (!r.categories.contains(Category::file)) append(p.anon, sw.start, sw.end);
        }
      }
    }
  }
  if (from_before) {
    // Data appears only where it was written or in memory the watch does not track
    // (scanned above), and goes only where it was: an anonymous page dropped with
    // MADV_DONTNEED leaves an empty entry the watch never reports as written. So the
    // rest of the data before is checked for what is still there, asking for no
    // category that needs the page itself (FILE): a bare walk of those entries, a few
    // nanoseconds each. What is left alone is armed memory that held no data and was
    // not written: a sparse reservation's markers, most of a big address space.
    std::vector<PageRange> still;
    for (const PageRange& r : subtract(before->data, windows)) {
      auto there = scan(process, ScanRequest::over(r.start, r.end)
                                     .any_of(Category::present | Category::swapped)
                                     .none_of(Category::pfnzero)
                                     .returning(Category::present));
      if (!there) return there.error();
      for (const PageRegion& region : there->regions) append(still, region.start, region.end);
    }
    p.data = unite(still, p.data);
    p.anon = unite(intersect(before->anon, still), p.anon);
  }
  for (const proc::Vma& vma : p.vmas) {
    MappingFacts facts;
    facts.anon_data = !clip(p.anon, vma.start, vma.end).empty();
    Segment s;
    s.start = vma.start;
    s.end = vma.end;
    s.flags = pf_flags(vma.perms);
    s.extent = dump_extent(process.pid(), vma, filter, facts, starts_with_elf);
    s.whole_range = s.extent == DumpExtent::whole && contents_are_whole_range(process.pid(), vma);
    s.shared = vma.shared();
    s.inode = vma.inode;
    s.pgoff = vma.offset;
    p.segments.push_back(s);
  }
  return p;
}

std::uint64_t estimate_notes_size(std::size_t threads, const std::vector<proc::Vma>& vmas) {
  // Per thread: prstatus 336, fpregs 512, siginfo 128, xstate at most ~11 KiB (AMX).
  std::uint64_t size = 4096 + threads * (16 << 10);
  for (const proc::Vma& v : vmas) size += 24 + v.path.size() + 1;
  return size;
}

}  // namespace pagescan::dump
