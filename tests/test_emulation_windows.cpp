// The emulator's VMA list: clipped to be sorted and disjoint however maps/smaps were read
// (emulate/vma_window.hpp), read incrementally (proc::VmaReader) and held in a bounded
// window, with answers equal to the kernel's over more VMAs than the window holds.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "emulate/emulated_scan.hpp"
#include "emulate/vma_window.hpp"
#include "pagescan/features.hpp"
#include "pagescan/process.hpp"
#include "pagescan/scan.hpp"
#include "proc/maps.hpp"
#include "support/child_process.hpp"
#include "support/kernel_facts.hpp"
#include "support/scan_helpers.hpp"

using namespace pagescan;
using namespace pagescan::emulate;
using pagescan::test::ChildProcess;
using pagescan::test::Fact;
using pagescan::test::kernel_has;

namespace {

VmaFacts vma(std::uint64_t start, std::uint64_t end, bool uffd_wp = false) {
  VmaFacts f;
  f.start = start;
  f.end = end;
  f.detailed = true;
  f.uffd_wp = uffd_wp;
  return f;
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> spans(const std::vector<VmaFacts>& v) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  for (const VmaFacts& f : v) out.emplace_back(f.start, f.end);
  return out;
}

using Spans = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

// ---- the clipping rule, on listings as a changing target's maps can give them ----

TEST(VmaClip, SortedDisjointListingIsUnchanged) {
  const std::vector<VmaFacts> listed = {vma(0x1000, 0x3000), vma(0x3000, 0x4000),
                                        vma(0x8000, 0x9000, true)};
  const std::vector<VmaFacts> got = sorted_disjoint(listed);
  EXPECT_EQ(spans(got), spans(listed));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(got[2].uffd_wp);
  EXPECT_TRUE(got[2].detailed);
}

TEST(VmaClip, VmaGrownDownBetweenReadsStartsAtThePreviousEnd) {
  // The second read resumed at 0x5000, where a VMA grown down to 0x2000 now ends later.
  const std::vector<VmaFacts> got =
      sorted_disjoint({vma(0x1000, 0x4000), vma(0x2000, 0x7000, true), vma(0x9000, 0xa000)});
  EXPECT_EQ(spans(got), (Spans{{0x1000, 0x4000}, {0x4000, 0x7000}, {0x9000, 0xa000}}));
  EXPECT_TRUE(got[1].uffd_wp) << "the clipped VMA keeps its facts";
}

TEST(VmaClip, VmaWhollyBelowThePreviousEndIsDropped) {
  // A VMA listed again (moved, or the same one twice) ending at or below what was listed.
  const std::vector<VmaFacts> got =
      sorted_disjoint({vma(0x1000, 0x6000), vma(0x2000, 0x4000), vma(0x1000, 0x6000),
                       vma(0x5000, 0x6000), vma(0x7000, 0x8000)});
  EXPECT_EQ(spans(got), (Spans{{0x1000, 0x6000}, {0x7000, 0x8000}}));
}

TEST(VmaClip, ClipLeavesTheFloorWhenItDrops) {
  std::uint64_t floor = 0x6000;
  VmaFacts below = vma(0x2000, 0x6000);
  EXPECT_FALSE(clip_to_floor(below, floor));
  EXPECT_EQ(floor, 0x6000u);
  VmaFacts across = vma(0x5000, 0x9000);
  EXPECT_TRUE(clip_to_floor(across, floor));
  EXPECT_EQ(across.start, 0x6000u);
  EXPECT_EQ(across.end, 0x9000u);
  EXPECT_EQ(floor, 0x9000u);
}

TEST(VmaClip, ResultIsStrictlyOrderedForAnyListing) {
  // Every listing of overlapping, out-of-order and empty entries comes out sorted,
  // disjoint and within what was listed.
  std::uint64_t x = 88172645463325252ull;
  auto rnd = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (int round = 0; round < 200; ++round) {
    std::vector<VmaFacts> listed;
    for (int i = 0; i < 20; ++i) {
      std::uint64_t a = (rnd() % 64) * 0x1000, len = (rnd() % 8) * 0x1000;
      listed.push_back(vma(a, a + len));
    }
    const std::vector<VmaFacts> got = sorted_disjoint(listed);
    for (std::size_t i = 0; i < got.size(); ++i) {
      ASSERT_LT(got[i].start, got[i].end) << "round " << round;
      if (i) ASSERT_GE(got[i].start, got[i - 1].end) << "round " << round;
      bool inside = false;
      for (const VmaFacts& l : listed) inside |= l.start <= got[i].start && got[i].end == l.end;
      ASSERT_TRUE(inside) << "round " << round << ": a clipped entry is not a listed VMA's tail";
    }
  }
}

// ---- the incremental reader ----

// A quiet child with a few hundred VMAs of different kinds.
std::vector<std::uint64_t> varied_layout() {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  auto* p = static_cast<char*>(
      ::mmap(nullptr, 600 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (p == MAP_FAILED) return {};
  for (std::size_t i = 0; i < 600; i += 2) {
    p[i * page] = 1;
    ::mprotect(p + (i + 1) * page, page, PROT_READ);
  }
  return {reinterpret_cast<std::uint64_t>(p)};
}

void expect_reader_matches(bool details) {
  ChildProcess child(varied_layout);
  ASSERT_EQ(child.addresses().size(), 1u);
  auto whole = proc::read_vmas(child.pid(), details);
  ASSERT_TRUE(whole) << whole.error().message();
  auto reader = proc::VmaReader::open(child.pid(), details);
  ASSERT_TRUE(reader) << reader.error().message();
  std::vector<proc::Vma> read;
  proc::Vma v;
  while (true) {
    auto got = reader->next(v);
    ASSERT_TRUE(got) << got.error().message();
    if (!*got) break;
    read.push_back(v);
  }
  ASSERT_GT(whole->size(), 600u);
  ASSERT_EQ(read.size(), whole->size());
  for (std::size_t i = 0; i < read.size(); ++i) {
    const proc::Vma& a = read[i];
    const proc::Vma& b = (*whole)[i];
    EXPECT_EQ(a.start, b.start) << i;
    EXPECT_EQ(a.end, b.end) << i;
    EXPECT_EQ(a.perms, b.perms) << i;
    EXPECT_EQ(a.offset, b.offset) << i;
    EXPECT_EQ(a.inode, b.inode) << i;
    EXPECT_EQ(a.path, b.path) << i;
    EXPECT_EQ(a.vm_flags, b.vm_flags) << i;
    EXPECT_EQ(a.kernel_page_size, b.kernel_page_size) << i;
    EXPECT_EQ(a.rss, b.rss) << i;
  }
}

TEST(VmaReader, ReadsTheSameMapsRecordsAsTheWholeFile) {
  expect_reader_matches(false);
}

TEST(VmaReader, ReadsTheSameSmapsRecordsAsTheWholeFile) {
  expect_reader_matches(true);
}

TEST(VmaReader, MissingProcessIsNoSuchProcess) {
  ChildProcess child([] { return std::vector<std::uint64_t>{}; });
  const pid_t pid = child.pid();
  child.kill_and_reap();
  auto reader = proc::VmaReader::open(pid, true);
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().kind(), ErrorKind::no_such_process) << reader.error().message();
}

// ---- the windowed emulator over more VMAs than the window holds ----

constexpr std::size_t kSmall = 1500;  // one-page VMAs before and after the middle

// [kSmall one-page VMAs, alternately read-write (written) and read-only (read: the zero
// page)] [4 MiB read-write, untouched: whole PMD holes] [a shared memfd mapping of 4
// pages, one touched] [kSmall one-page VMAs as before]. Returns {start, end, big, memfd}.
std::vector<std::uint64_t> many_vmas_layout() {
  const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t big = 4 << 20;
  const std::uint64_t len = 2 * kSmall * page + big + 4 * page;
  auto* base = static_cast<char*>(
      ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (base == MAP_FAILED) return {};
  auto small_vmas = [page](char* at) {
    for (std::size_t i = 0; i < kSmall; ++i) {
      char* p = at + i * page;
      if (i % 2 == 0) {
        p[0] = 1;
      } else {
        (void)*static_cast<volatile char*>(p);
        ::mprotect(p, page, PROT_READ);
      }
    }
  };
  // The small VMAs end read-only on both sides of the big one (kSmall is even), so
  // nothing merges.
  small_vmas(base);
  char* big_at = base + kSmall * page;
  char* memfd_at = big_at + big;
  int fd = ::memfd_create("windows", 0);
  if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(4 * page)) != 0) return {};
  if (::mmap(memfd_at, 4 * page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) ==
      MAP_FAILED) {
    return {};
  }
  memfd_at[page] = 1;
  small_vmas(memfd_at + 4 * page);
  return {reinterpret_cast<std::uint64_t>(base), reinterpret_cast<std::uint64_t>(base) + len,
          reinterpret_cast<std::uint64_t>(big_at), reinterpret_cast<std::uint64_t>(memfd_at)};
}

class EmulatedWindows : public testing::Test {
 protected:
  void SetUp() override {
    child_ = std::make_unique<ChildProcess>(many_vmas_layout);
    ASSERT_EQ(child_->addresses().size(), 4u) << "the child could not build its layout";
    auto p = Process::attach(child_->pid());
    ASSERT_TRUE(p) << p.error().message();
    process_.emplace(std::move(*p));
    start_ = child_->addresses()[0];
    end_ = child_->addresses()[1];
  }

  std::unique_ptr<ChildProcess> child_;
  std::optional<Process> process_;
  std::uint64_t start_ = 0, end_ = 0;
};

struct WindowRequest {
  const char* name;
  ScanRequest request;
};

// Requests covering each way the emulator reads VMAs: maps only, maps upgraded to smaps
// at the memfd VMA, maps plus smaps looked up for the PMD holes (WRITTEN matters), and
// smaps from the start (HUGE).
std::vector<WindowRequest> window_requests(std::uint64_t start, std::uint64_t end) {
  const Categories base =
      Category::present | Category::written | Category::file | Category::pfnzero;
  std::vector<WindowRequest> r;
  r.push_back({"present", ScanRequest::over(start, end).all_of(Category::present).returning(base)});
  r.push_back({"everything", ScanRequest::over(start, end).returning(base)});
  r.push_back({"unwritten", ScanRequest::over(start, end)
                                .none_of(Category::written)
                                .returning(Category::written | Category::present)});
  r.push_back({"huge", ScanRequest::over(start, end)
                           .any_of(Category::present | Category::written)
                           .returning(base | Category::huge)});
  ScanRequest budget = ScanRequest::over(start, end).all_of(Category::present).returning(base);
  budget.max_pages = 1000;
  r.push_back({"max_pages", budget});
  return r;
}

TEST_F(EmulatedWindows, AnswersEqualTheKernelsOverMoreVmasThanTheWindowHolds) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  for (const WindowRequest& w : window_requests(start_, end_)) {
    for (std::size_t chunk : {std::size_t{0}, std::size_t{7}}) {
      const std::string what = std::string(w.name) + " chunk " + std::to_string(chunk);
      auto kernel = scan(*process_, w.request, ScanOptions{chunk, BackendChoice::kernel});
      ASSERT_TRUE(kernel) << what << ": " << kernel.error().message();
      auto emulated = scan(*process_, w.request, ScanOptions{chunk, BackendChoice::emulated});
      ASSERT_TRUE(emulated) << what << ": " << emulated.error().message();
      EXPECT_EQ(emulated->backend, Backend::emulated);
      ASSERT_GT(kernel->regions.size(), 0u) << what;
      EXPECT_EQ(emulated->regions, kernel->regions) << what;
      EXPECT_EQ(emulated->walk_end, kernel->walk_end) << what;
      EXPECT_EQ(emulated->stop_reason, kernel->stop_reason) << what;

      std::vector<PageRegion> streamed;
      auto each = scan_each(
          *process_, w.request,
          [&](std::span<const PageRegion> c) {
            streamed.insert(streamed.end(), c.begin(), c.end());
            return true;
          },
          ScanOptions{chunk, BackendChoice::emulated});
      ASSERT_TRUE(each) << what << ": " << each.error().message();
      // scan_each delivers each call's regions unmerged; joined they are scan()'s.
      std::vector<PageRegion> joined;
      for (const PageRegion& g : streamed) {
        if (!joined.empty() && joined.back().end == g.start &&
            joined.back().categories == g.categories) {
          joined.back().end = g.end;
        } else {
          joined.push_back(g);
        }
      }
      EXPECT_EQ(joined, kernel->regions) << what << " (scan_each)";
    }
  }
}

// One emulated call over the whole range, with a buffer for every region.
long emulated_call(const Process& p, const ScanRequest& r, EmulationNotes& notes,
                   std::vector<PageRegion>& out) {
  RawScanArgs args;
  args.start = r.start;
  args.end = r.end;
  args.category_mask = r.category_mask.bits();
  args.category_inverted = r.category_inverted.bits();
  args.category_anyof_mask = r.category_anyof_mask.bits();
  args.return_mask = r.return_mask.bits();
  args.max_pages = r.max_pages;
  out.assign(8 * kSmall, PageRegion{});
  args.vec = reinterpret_cast<std::uint64_t>(out.data());
  args.vec_len = out.size();
  long n =
      emulated_pagemap_scan(p, args, static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)), notes);
  if (n >= 0) out.resize(static_cast<std::size_t>(n));
  return n;
}

TEST_F(EmulatedWindows, HoldsAtMostTheWindowAndRereadsWhenACallGoesBack) {
  for (const WindowRequest& w : window_requests(start_, end_)) {
    EmulationNotes notes;
    std::vector<PageRegion> first, again;
    ASSERT_GT(emulated_call(*process_, w.request, notes, first), 0) << w.name;
    // More than 3000 VMAs were walked, never more than the window held at once.
    EXPECT_LE(notes.vmas.peak_held(), VmaWindow::kCapacity + 1) << w.name;
    if (!w.request.max_pages) {
      EXPECT_GE(notes.vmas.peak_held(), VmaWindow::kCapacity) << w.name << ": never filled";
    }
    // The same notes, from the start again (as the write-protect pre-check's scan does):
    // the dropped VMAs are read again and the answer is the same.
    ASSERT_GT(emulated_call(*process_, w.request, notes, again), 0) << w.name;
    EXPECT_EQ(again, first) << w.name;
  }
}

TEST_F(EmulatedWindows, PlainAnonymousMemoryIsReadFromMapsOnly) {
  // Neither `uw` (no WRITTEN holes: only present pages asked for) nor a VMA that is not
  // plain anonymous memory (the range ends before the memfd): maps all the way.
  EmulationNotes notes;
  std::vector<PageRegion> got;
  ScanRequest r = ScanRequest::over(start_, child_->addresses()[3])
                      .all_of(Category::present)
                      .returning(Category::present);
  ASSERT_GT(emulated_call(*process_, r, notes, got), 0);
  EXPECT_FALSE(notes.vmas.detailed());
  // Every small VMA's page is present (written, or the zero page): one region.
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].start, start_);
  EXPECT_EQ(got[0].end, child_->addresses()[2]);
}

TEST_F(EmulatedWindows, HoleLookupSwitchesTheWindowToSmapsInPlace) {
  // WRITTEN of the big VMA's PMD holes depends on `uw`: the maps walk switches to smaps
  // there, behind kSmall VMAs (more than the window holds), and the big VMA gets its facts
  // in place while it is walked.
  const std::uint64_t big = child_->addresses()[2], memfd = child_->addresses()[3];
  EmulationNotes notes;
  std::vector<PageRegion> got;
  ScanRequest r = ScanRequest::over(start_, memfd).returning(Category::written | Category::present);
  ASSERT_GT(emulated_call(*process_, r, notes, got), 0);
  EXPECT_TRUE(notes.vmas.detailed()) << "the holes were not looked up in smaps";
  EXPECT_LE(notes.vmas.peak_held(), VmaWindow::kCapacity + 1);
  ASSERT_FALSE(got.empty());
  // The big VMA's whole PMD blocks are holes without a PTE table: neither WRITTEN nor
  // PRESENT (no uffd, §4.3); its partial blocks share a table with the small VMAs.
  const std::uint64_t pmd = 512 * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t hole = (big + pmd - 1) & ~(pmd - 1);
  bool found = false;
  for (const PageRegion& g : got) {
    if (g.start <= hole && g.end >= hole + pmd) {
      found = true;
      EXPECT_GE(g.start, big);
      EXPECT_LE(g.end, memfd);
      EXPECT_TRUE(g.categories.empty()) << to_string(g.categories);
    }
  }
  EXPECT_TRUE(found) << "no region covers the PMD hole at " << hole;
  if (kernel_has(Fact::pagemap_scan)) {
    auto kernel = scan(*process_, r, ScanOptions{0, BackendChoice::kernel});
    ASSERT_TRUE(kernel) << kernel.error().message();
    EXPECT_EQ(got, kernel->regions);
  }
}

}  // namespace
