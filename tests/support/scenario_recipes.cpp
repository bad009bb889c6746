// The recipes of the differential-test scenarios as data: each recipe lists its parts in
// address order, each part what it maps and what is then done to its pages.
#include "support/scenario_recipes.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "kernel/uapi.hpp"
#include "pagescan/features.hpp"
#include "proc/maps.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/scenario_layout.hpp"

namespace pagescan::test::recipes {

using namespace layout;

namespace {

std::uint64_t page() {
  return page_size();
}

// Pages in `n` PMD blocks (huge pages).
std::size_t pmd_pages(std::size_t n) {
  return n * kPmd / page();
}

// A step on a placed part (`p` is its first byte): "" when done, else why it failed.
using Step = std::function<std::string(Scenario& s, char* p)>;

// What a failed step does: skip the scenario; record the part as omitted, leave its
// remaining steps undone and build the next; or nothing (the step was best effort).
enum class OnFail { skip, omit, ignore };

struct PlannedStep {
  Step run;
  OnFail on_fail;
};

// One part of a layout: a mapping (or a gap) and the steps done to its pages, in order.
struct Part {
  enum class Kind { anon, file, memfd, hugetlb, thp, huge_zero, shm, gap, align_pmd };
  Kind kind;
  std::string label;
  std::size_t size = 0;  // pages; hugetlb: huge pages; thp and huge_zero: PMD blocks
  int prot = PROT_READ | PROT_WRITE;
  bool shared = false;
  std::size_t filled = 0;           // memfd: pages holding data
  std::vector<std::size_t> blocks;  // thp: the blocks made THPs
  std::vector<PlannedStep> steps;

  // Each step returns the part, moved: `anon(...).write(...).read(...)` builds one.
  Part then(Step step, OnFail on_fail = OnFail::skip) && {
    steps.push_back({std::move(step), on_fail});
    return std::move(*this);
  }
  // Writes (a distinct byte per page) or reads every `stride`th page of [first, first + count).
  Part write(std::size_t first, std::size_t count, std::size_t stride = 1) && {
    return std::move(*this).then([=](Scenario&, char* p) {
      for (std::size_t i = first; i < first + count; i += stride) touch_write(p, i, 1);
      return std::string();
    });
  }
  Part read(std::size_t first, std::size_t count, std::size_t stride = 1) && {
    return std::move(*this).then([=](Scenario&, char* p) {
      for (std::size_t i = first; i < first + count; i += stride) touch_read(p, i, 1);
      return std::string();
    });
  }
  Part protect(std::size_t first, std::size_t count, int to) && {
    return std::move(*this).then([=](Scenario&, char* p) {
      ::mprotect(p + first * page(), count * page(), to);
      return std::string();
    });
  }
  Part dontneed(std::size_t first, std::size_t count) && {
    return std::move(*this).then([=](Scenario&, char* p) {
      ::madvise(p + first * page(), count * page(), MADV_DONTNEED);
      return std::string();
    });
  }
  Part guard(std::size_t first, std::size_t count, OnFail on_fail) && {
    return std::move(*this).then(
        [=](Scenario&, char* p) {
          if (layout::guard(p, first, count)) return std::string();
          if (!kernel_has(Fact::guard_regions)) return kernel_fact(Fact::guard_regions).finding;
          return std::string("MADV_GUARD_INSTALL: ") + std::strerror(errno);
        },
        on_fail);
  }
  // MADV_PAGEOUT; fails unless every page left memory (`anon`: swapped; shmem: absent).
  Part page_out(std::size_t first, std::size_t count, bool anon, OnFail on_fail) && {
    return std::move(*this).then(
        [=](Scenario&, char* p) {
          std::string why;
          return layout::page_out(p, first, count, anon, why) ? std::string() : why;
        },
        on_fail);
  }
  // Registers the pages with the scenario's async uffd (which skips the scenario when it
  // cannot), write-protecting them when `protect`. A negative `first` reaches back into
  // the parts placed before, for one range over several.
  Part uffd(std::ptrdiff_t first, std::size_t count, bool protect) && {
    return std::move(*this).then([=](Scenario& s, char* p) {
      char* at = p + first * static_cast<std::ptrdiff_t>(page());
      bool ok = uffd_register(s, at, count * page(), protect);
      return ok ? std::string() : s.skip_reason();
    });
  }
  // UFFDIO_WRITEPROTECT of registered pages.
  Part uffd_protect(std::size_t first, std::size_t count) && {
    return std::move(*this).then([=](Scenario& s, char* p) {
      auto w = s.uffd()->uffd().write_protect(p + first * page(), count * page(), true);
      return w ? std::string() : "UFFDIO_WRITEPROTECT: " + w.error().message();
    });
  }
};

Part anon(std::string label, std::size_t pages, int prot = PROT_READ | PROT_WRITE) {
  return Part{Part::Kind::anon, std::move(label), pages, prot};
}
Part file(std::string label, std::size_t pages, bool shared, int prot = PROT_READ | PROT_WRITE) {
  return Part{Part::Kind::file, std::move(label), pages, prot, shared};
}
Part memfd(std::string label, std::size_t pages, bool shared, std::size_t filled = 0) {
  return Part{Part::Kind::memfd, std::move(label), pages, PROT_READ | PROT_WRITE, shared, filled};
}
Part hugetlb(std::string label, std::size_t count, bool shared) {
  return Part{Part::Kind::hugetlb, std::move(label), count, PROT_READ | PROT_WRITE, shared};
}
Part thp(std::string label, std::size_t blocks, std::vector<std::size_t> made_huge) {
  return Part{Part::Kind::thp,     std::move(label), blocks, PROT_READ | PROT_WRITE, false, 0,
              std::move(made_huge)};
}
Part huge_zero(std::string label, std::size_t blocks) {
  return Part{Part::Kind::huge_zero, std::move(label), blocks};
}
Part shm(std::string label, std::size_t pages) {
  return Part{Part::Kind::shm, std::move(label), pages};
}
Part gap(std::size_t pages) {
  return Part{Part::Kind::gap, "gap", pages};
}
Part align_pmd() {
  return Part{Part::Kind::align_pmd, "gap"};
}

// Maps the part at the layout's cursor; nullptr (reason in L.last_error()) on failure.
// Gaps return the cursor they leave unmapped, which no step touches.
char* place(Layout& L, const Part& part) {
  switch (part.kind) {
    case Part::Kind::anon:
      return L.anon(part.label, part.size, part.prot);
    case Part::Kind::file:
      return L.file(part.label, part.size, part.shared, part.prot);
    case Part::Kind::memfd:
      return L.memfd(part.label, part.size, part.shared, part.filled);
    case Part::Kind::hugetlb:
      return L.hugetlb(part.label, part.size, part.shared);
    case Part::Kind::thp:
      return L.thp(part.label, part.size, part.blocks);
    case Part::Kind::huge_zero:
      return L.huge_zero(part.label, part.size);
    case Part::Kind::shm:
      return L.shm(part.label, part.size);
    case Part::Kind::gap:
      L.gap(part.size);
      break;
    case Part::Kind::align_pmd:
      L.align(kPmd);
      break;
  }
  static char none;
  return &none;
}

// How a layout treats a part that cannot be mapped: the scenario is skipped, or (a
// best-effort layout, the kitchen sink) the part is omitted and the rest still built.
enum class Parts { required, best_effort };

// Builds `parts` one after another, then ends the window.
void build(Scenario& s, const std::vector<Part>& parts, Parts mode) {
  Layout L(s);
  for (const Part& part : parts) {
    char* p = place(L, part);
    if (!p && mode == Parts::required) return s.skip(L.last_error());
    if (!p) {
      L.omit(part.label);
      continue;
    }
    for (const PlannedStep& step : part.steps) {
      std::string why = step.run(s, p);
      if (why.empty() || step.on_fail == OnFail::ignore) continue;
      if (step.on_fail == OnFail::skip) return s.skip(why);
      s.omit(part.label + ": " + why);
      break;
    }
  }
  L.finish();
}

// A recipe from its parts; the huge pages it needs are those of its hugetlb parts.
Recipe layout_of(std::vector<Part> parts, Parts mode = Parts::required) {
  std::uint64_t huge_pages = 0;
  for (const Part& part : parts) {
    if (part.kind == Part::Kind::hugetlb) huge_pages += part.size;
  }
  return Recipe{[parts = std::move(parts), mode](Scenario& s) { build(s, parts, mode); },
                huge_pages};
}

// ---- steps of one scenario each ----

// Forks a process that keeps the pages of this process COW-shared until the scenario
// closes the lifeline pipe, or the process that built it dies in any way. (PR_SET_PDEATHSIG
// would not do: the kernel sends that signal with the dying parent's credentials, so a
// parent that dropped privileges could not kill a root holder.)
std::string hold_cow_shared(Scenario& s, char*) {
  int lifeline[2];
  if (::pipe2(lifeline, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
  pid_t holder = ::fork();
  if (holder < 0) {
    ::close(lifeline[0]);
    ::close(lifeline[1]);
    return std::string("fork: ") + std::strerror(errno);
  }
  if (holder == 0) {
    // Only async-signal-safe calls here. Keep the lifeline as stdin and close every other
    // fd, so no pipe a test runner waits on for EOF (stdout included) is held open.
    ::dup2(lifeline[0], 0);
    ::syscall(SYS_close_range, 1u, ~0u, 0u);
    char byte;
    while (::read(0, &byte, 1) != 0) {
    }
    ::_exit(0);
  }
  ::close(lifeline[0]);
  s.set_cow_holder(holder, lifeline[1]);
  return "";
}

// The part's pagemap shows the guard bit 58 on its guarded page `page_index`.
Step shows_guard_bit(std::size_t page_index) {
  return [=](Scenario&, char* p) {
    if (pagemap_entry(p + page_index * page()) & uapi::PM_GUARD_REGION) return std::string();
    return std::string("pagemap lacks the guard bit 58 (kernel before 6.15)");
  };
}

// The part (two THPs) is one VMA again, its second THP split to PTEs.
std::string second_thp_split(Scenario&, char* t) {
  auto v = vma_at(t);
  if (!v || v->start != reinterpret_cast<std::uint64_t>(t) ||
      v->end != reinterpret_cast<std::uint64_t>(t) + 2 * kPmd) {
    return "the VMAs did not merge back after the mprotect round trip";
  }
  if (v->anon_huge_pages != kPmd) return "the second THP was not split";
  return "";
}

// The [vvar] area the kernel maps (a PFNMAP the kernel's walk skips), not a Layout.
void build_vvar(Scenario& s) {
  auto vmas = proc::read_vmas(0, false);
  if (!vmas) return s.skip("cannot read /proc/self/maps: " + vmas.error().message());
  std::uint64_t start = 0, end = 0;
  for (const proc::Vma& v : *vmas) {
    bool vdso_area = v.path == "[vvar]" || v.path == "[vvar_vclock]" || v.path == "[vdso]";
    if (!vdso_area) continue;
    if (!start) start = v.start;
    if (end && v.start != end) break;  // only the contiguous run from [vvar]
    end = v.end;
    s.add_part(v.path, v.start, v.end);
  }
  if (!start) return s.skip("no [vvar] mapping in /proc/self/maps");
  s.set_window(start, end);
  s.set_slot(start, end);
}

Recipe hugetlb_recipe(bool shared) {
  return layout_of({anon("anon-before", 8).write(0, 8),
                    // huge page 0 written, 1 read, 2 untouched
                    hugetlb(shared ? "hugetlb-shared" : "hugetlb-private", 3, shared)
                        .write(0, 1)
                        .read(pmd_pages(1) + 1, 1),
                    anon("anon-after", 8).write(0, 4)});
}

Recipe file_recipe(bool shared) {
  const std::string label = shared ? "file-shared" : "file-private";
  // Private: written pages are copied into anonymous pages (§4.1 FILE).
  return layout_of({file(label, 32, shared).read(0, 8).write(8, 8).read(24, 1), gap(2),
                    file(label + "-readonly", 16, shared, PROT_READ).read(4, 4)});
}

Recipe memfd_recipe(bool shared) {
  // Pages 0-3 hold data, 4-7 are holes.
  return layout_of(
      {memfd(shared ? "memfd-shared" : "memfd-private", 32, shared, 4).read(0, 8).write(8, 8),
       anon("anon-after", 8).write(0, 8)});
}

// Two THPs in one VMA, the second split to PTEs and the VMA merged back: smaps counts one
// PMD-mapped THP but two blocks are fully present, so the emulator cannot tell which one
// is PMD-mapped (§6.2 HUGE (THP), §6.5). Split by an mprotect round trip, or by a partial
// uffd write-protect that protects only 100 of the second THP's PTEs.
Recipe thp_split_recipe(bool mixed_wp) {
  Part t = thp("thp", 2, {0, 1}).write(0, 1024);
  if (mixed_wp) {
    t = std::move(t).uffd(0, pmd_pages(2), false).uffd_protect(pmd_pages(1), 100);
  } else {
    t = std::move(t)
            .protect(pmd_pages(1) + 100, 4, PROT_READ)
            .protect(pmd_pages(1) + 100, 4, PROT_READ | PROT_WRITE);
  }
  return layout_of({std::move(t).then(second_thp_split)});
}

}  // namespace

const std::map<std::string, Recipe>& scan_recipes() {
  static const std::map<std::string, Recipe> r = {
      {"anon",
       layout_of({anon("anon-written", 16).write(0, 16), anon("anon-zero", 16).read(0, 16),
                  anon("anon-untouched", 16), anon("anon-mixed", 32).write(0, 32, 3).read(1, 31, 3),
                  gap(3), anon("anon-readonly-zero", 8, PROT_READ).read(0, 8),
                  anon("anon-readonly-untouched", 8, PROT_READ)})},
      // More regions than the kernel's bounce chunk holds (512): the walk restarts
      // internally and leaves the stale walk_end of §2.4; both backends must do the same.
      // Even pages written, pages 4k+1 read (the zero page), pages 4k+3 untouched.
      {"anon-alternating",
       layout_of({anon("anon-alternating", 1200).write(0, 1200, 2).read(1, 1199, 4)})},
      // Two THPs and an untouched block.
      {"thp", layout_of({anon("anon-before", 8).write(0, 8), thp("thp", 3, {0, 1}).write(0, 512),
                         anon("anon-after", 8).write(2, 4)})},
      {"huge-zero-page", layout_of({anon("anon-readonly-zero", 8, PROT_READ).read(0, 8),
                                    huge_zero("huge-zero", 2), anon("anon-after", 8).write(0, 8)})},
      {"hugetlb-private", hugetlb_recipe(false)},
      {"hugetlb-shared", hugetlb_recipe(true)},
      {"file-private", file_recipe(false)},
      {"file-shared", file_recipe(true)},
      {"memfd-shared", memfd_recipe(true)},
      {"memfd-private", memfd_recipe(false)},
      {"sysv-shm",
       layout_of({anon("anon-before", 4).write(0, 4), shm("sysv-shm", 16).write(0, 4).read(4, 2)})},
      // Swapped shmem alone in its PMD block: the page table keeps only empty entries.
      {"swapped",
       layout_of(
           {anon("anon-swapped", 32).write(0, 32).page_out(0, 24, true, OnFail::skip),
            anon("anon-resident", 8).write(0, 8), align_pmd(),
            memfd("memfd-swapped", 16, true).write(0, 16).page_out(0, 16, false, OnFail::omit),
            align_pmd(), anon("anon-after", 4).write(0, 4)})},
      {"guard", layout_of({anon("anon-guarded", 32)
                               .write(0, 32)
                               .guard(4, 4, OnFail::skip)
                               .guard(20, 1, OnFail::skip)
                               .then(shows_guard_bit(4)),
                           anon("anon-guarded-untouched", 16).guard(2, 4, OnFail::ignore),
                           file("file-guarded", 16, false).read(0, 16).guard(2, 2, OnFail::omit)})},
      // Slices that split the VMA, and one that is split and merged back (§7
      // userfaultfd_tests).
      {"mixed-protection",
       layout_of({anon("anon-slices", 48)
                      .write(0, 48)
                      .protect(8, 8, PROT_READ)
                      .protect(16, 8, PROT_NONE)
                      .protect(32, 8, PROT_READ)
                      .protect(32, 8, PROT_READ | PROT_WRITE)
                      .protect(40, 8, PROT_NONE),
                  anon("prot-none", 8, PROT_NONE), anon("anon-after", 8).write(0, 8)})},
      // Pages written again after protection are WRITTEN; the zero page read after it
      // stays protected (§4.3); pages 48-63 are not registered.
      {"uffd-registered",
       layout_of({anon("uffd-anon", 64)
                      .write(0, 16)
                      .uffd(0, 48, true)
                      .write(4, 4)
                      .write(20, 4)
                      .read(30, 4)
                      .write(50, 6),
                  memfd("uffd-memfd", 16, true).write(0, 8).uffd(0, 16, true).write(2, 4)})},
      {"vvar", {build_vvar}},
      // Every kind next to each other; what this machine cannot map is omitted. The THP
      // next to hugetlb, both registered with the uffd, merge under WPALLOWED (§3.3).
      {"kitchen-sink",
       layout_of(
           {anon("anon-written", 8).write(0, 8), anon("anon-zero", 8).read(0, 8),
            anon("prot-none", 4, PROT_NONE),
            anon("anon-slices", 12).write(0, 12).protect(4, 4, PROT_READ),
            file("file-private", 8, false).read(0, 4).write(4, 2),
            file("file-shared", 8, true).write(0, 3), memfd("memfd-shared", 8, true).write(1, 4),
            memfd("memfd-private", 8, false, 8).read(0, 4).write(4, 2),
            shm("sysv-shm", 4).write(0, 2),
            anon("anon-guarded", 8).write(0, 8).guard(2, 2, OnFail::omit),
            anon("uffd-anon", 16).write(0, 8).uffd(0, 16, true).write(2, 3),
            anon("anon-swapped", 8).write(0, 8).page_out(0, 6, true, OnFail::omit), gap(3),
            thp("thp", 1, {0}).write(0, 512).uffd(0, pmd_pages(1), false),
            hugetlb("hugetlb-private", 1, false).write(0, 1).uffd(0, pmd_pages(1), false),
            hugetlb("hugetlb-shared", 1, true), huge_zero("huge-zero", 1),
            anon("anon-after", 8).write(0, 8)},
           Parts::best_effort)},
      {"thp-split", thp_split_recipe(false)},
      {"thp-split-mixed-wp", thp_split_recipe(true)},
      // Pages of a populated VMA emptied by MADV_DONTNEED of less than a PMD: the PTE
      // table stays (CONFIG_PT_RECLAIM frees only tables of >= PMD_SIZE zaps), so the
      // kernel reports its empty entries WRITTEN, which pagemap cannot show (§4.3, §6.5).
      {"emptied-pte-table", layout_of({align_pmd(), anon("anon-populated", 512).write(0, 512, 8),
                                       anon("anon-emptied-block", 512).write(0, 64).dontneed(0, 64),
                                       anon("anon-hole-block", 512)})},
      // A VMA alone in its PMD block whose every page was written and then dropped:
      // nothing resident or swapped remains, yet the PTE table does.
      {"emptied-vma",
       layout_of(
           {align_pmd(), anon("anon-emptied-vma", 64).write(0, 64).dontneed(0, 64), align_pmd()})},
      // Anonymous pages shared copy-on-write with a forked process that keeps them:
      // present, not file, not exclusively mapped, and not the zero page (§6.2 PFNZERO
      // heuristic). Pages 8-11 are copied on write after the fork: exclusive again.
      {"cow-shared",
       layout_of({anon("anon-cow-shared", 32).write(0, 32).then(hold_cow_shared).write(8, 4),
                  anon("anon-zero", 8).read(0, 8), anon("anon-exclusive", 16).write(0, 16)})},
  };
  return r;
}

// Write-protect layouts: the same relative layout on every call.
const std::map<std::string, Recipe>& write_protect_recipes() {
  static const std::map<std::string, Recipe> r = {
      // Over 512 written regions: get-and-protect crosses the kernel's internal restarts.
      {"wp-anon", layout_of({anon("wp-anon", 1200)
                                 .write(0, 32)
                                 .uffd(0, 1200, true)
                                 .write(4, 8)
                                 .write(40, 8)
                                 .read(60, 4)
                                 .write(100, 1100, 2),
                             anon("anon-unregistered", 8).write(0, 8)})},
      // One THP per VMA: the smaps counter then names the PMD-mapped block exactly, before
      // and after a partial write-protect splits it (§6.2). The first THP's VMA takes in
      // the anonymous pages after it (both end MADV_NOHUGEPAGE): one range registers both.
      {"wp-thp",
       layout_of({thp("wp-thp-0", 1, {0}).write(0, 512),
                  anon("wp-anon-between", 16)
                      .write(0, 8)
                      .uffd(-static_cast<std::ptrdiff_t>(pmd_pages(1)), pmd_pages(1) + 16, false),
                  thp("wp-thp-1", 1, {0}).write(0, 512).uffd(0, pmd_pages(1), false)})},
      {"wp-hugetlb", layout_of({hugetlb("wp-hugetlb", 3, false)
                                    .uffd(0, pmd_pages(3), false)
                                    .write(0, 1)
                                    .write(pmd_pages(1), 1)})},
      {"wp-memfd",
       layout_of({memfd("wp-memfd", 32, true).write(0, 16).uffd(0, 32, true).write(4, 4)})},
  };
  return r;
}

}  // namespace pagescan::test::recipes
