// The recipes of the differential-test scenarios: what each layout maps and touches.
#include "support/scenario_recipes.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "kernel/uapi.hpp"
#include "pagescan/features.hpp"
#include "proc/maps.hpp"
#include "support/memory.hpp"
#include "support/scenario_layout.hpp"

namespace pagescan::test::recipes {

using namespace layout;

namespace {

std::uint64_t page() {
  return page_size();
}

// Fails the whole scenario with the layout's last error.
#define PAGESCAN_REQUIRE_PART(s, L, expr) \
  if (!(expr)) return (s).skip((L).last_error())

void build_anon(Scenario& s) {
  Layout L(s);
  char* w = L.anon("anon-written", 16);
  PAGESCAN_REQUIRE_PART(s, L, w);
  touch_write(w, 0, 16);
  char* z = L.anon("anon-zero", 16);
  PAGESCAN_REQUIRE_PART(s, L, z);
  touch_read(z, 0, 16);
  PAGESCAN_REQUIRE_PART(s, L, L.anon("anon-untouched", 16));
  char* m = L.anon("anon-mixed", 32);
  PAGESCAN_REQUIRE_PART(s, L, m);
  for (std::size_t i = 0; i < 32; ++i) {
    if (i % 3 == 0) touch_write(m, i, 1);
    if (i % 3 == 1) touch_read(m, i, 1);
  }
  L.gap(3);
  char* r = L.anon("anon-readonly-zero", 8, PROT_READ);
  PAGESCAN_REQUIRE_PART(s, L, r);
  touch_read(r, 0, 8);
  PAGESCAN_REQUIRE_PART(s, L, L.anon("anon-readonly-untouched", 8, PROT_READ));
  L.finish();
}

// More regions than the kernel's bounce chunk holds (512): the walk restarts internally
// and leaves the stale walk_end of §2.4; both backends must do the same.
void build_anon_alternating(Scenario& s) {
  Layout L(s);
  char* a = L.anon("anon-alternating", 1200);
  PAGESCAN_REQUIRE_PART(s, L, a);
  for (std::size_t i = 0; i < 1200; ++i) {
    if (i % 2 == 0) touch_write(a, i, 1);
    if (i % 4 == 1) touch_read(a, i, 1);  // zero page; pages 4k+3 stay untouched
  }
  L.finish();
}

void build_thp(Scenario& s) {
  Layout L(s);
  char* before = L.anon("anon-before", 8);
  PAGESCAN_REQUIRE_PART(s, L, before);
  touch_write(before, 0, 8);
  char* t = L.thp("thp", 3, {0, 1});  // two THPs and an untouched block
  PAGESCAN_REQUIRE_PART(s, L, t);
  touch_write(t, 0, 512);
  char* after = L.anon("anon-after", 8);
  PAGESCAN_REQUIRE_PART(s, L, after);
  touch_write(after, 2, 4);
  L.finish();
}

void build_huge_zero(Scenario& s) {
  Layout L(s);
  char* r = L.anon("anon-readonly-zero", 8, PROT_READ);
  PAGESCAN_REQUIRE_PART(s, L, r);
  touch_read(r, 0, 8);
  PAGESCAN_REQUIRE_PART(s, L, L.huge_zero("huge-zero", 2));
  char* after = L.anon("anon-after", 8);
  PAGESCAN_REQUIRE_PART(s, L, after);
  touch_write(after, 0, 8);
  L.finish();
}

void build_hugetlb(Scenario& s, bool shared) {
  Layout L(s);
  char* before = L.anon("anon-before", 8);
  PAGESCAN_REQUIRE_PART(s, L, before);
  touch_write(before, 0, 8);
  char* h = L.hugetlb(shared ? "hugetlb-shared" : "hugetlb-private", 3, shared);
  PAGESCAN_REQUIRE_PART(s, L, h);
  *static_cast<volatile char*>(h) = 1;                    // huge page 0: written
  (void)*static_cast<volatile char*>(h + kPmd + page());  // huge page 1: read
  char* after = L.anon("anon-after", 8);                  // huge page 2 stays untouched
  PAGESCAN_REQUIRE_PART(s, L, after);
  touch_write(after, 0, 4);
  L.finish();
}

void build_file(Scenario& s, bool shared) {
  Layout L(s);
  const char* label = shared ? "file-shared" : "file-private";
  char* f = L.file(label, 32, shared);
  PAGESCAN_REQUIRE_PART(s, L, f);
  touch_read(f, 0, 8);
  touch_write(f, 8, 8);  // private: copied on write into anonymous pages (§4.1 FILE)
  touch_read(f, 24, 1);
  L.gap(2);
  char* ro = L.file(std::string(label) + "-readonly", 16, shared, PROT_READ);
  PAGESCAN_REQUIRE_PART(s, L, ro);
  touch_read(ro, 4, 4);
  L.finish();
}

void build_memfd(Scenario& s, bool shared) {
  Layout L(s);
  char* m = L.memfd(shared ? "memfd-shared" : "memfd-private", 32, shared, 4);
  PAGESCAN_REQUIRE_PART(s, L, m);
  touch_read(m, 0, 8);  // pages 0-3 hold data, 4-7 are holes
  touch_write(m, 8, 8);
  char* after = L.anon("anon-after", 8);
  PAGESCAN_REQUIRE_PART(s, L, after);
  touch_write(after, 0, 8);
  L.finish();
}

void build_sysv_shm(Scenario& s) {
  Layout L(s);
  char* before = L.anon("anon-before", 4);
  PAGESCAN_REQUIRE_PART(s, L, before);
  touch_write(before, 0, 4);
  char* m = L.shm("sysv-shm", 16);
  PAGESCAN_REQUIRE_PART(s, L, m);
  touch_write(m, 0, 4);
  touch_read(m, 4, 2);
  L.finish();
}

void build_swapped(Scenario& s) {
  Layout L(s);
  char* a = L.anon("anon-swapped", 32);
  PAGESCAN_REQUIRE_PART(s, L, a);
  touch_write(a, 0, 32);
  char* r = L.anon("anon-resident", 8);
  PAGESCAN_REQUIRE_PART(s, L, r);
  touch_write(r, 0, 8);
  std::string why;
  if (!page_out(a, 0, 24, true, why)) return s.skip(why);
  // Swapped shmem alone in its PMD block: the page table keeps only empty entries.
  L.align(kPmd);
  char* m = L.memfd("memfd-swapped", 16, true);
  PAGESCAN_REQUIRE_PART(s, L, m);
  touch_write(m, 0, 16);
  if (!page_out(m, 0, 16, false, why)) L.omit("memfd-swapped (" + why + ")");
  L.align(kPmd);
  char* after = L.anon("anon-after", 4);
  PAGESCAN_REQUIRE_PART(s, L, after);
  touch_write(after, 0, 4);
  L.finish();
}

void build_guard(Scenario& s) {
  if (!features().guard_regions) return s.skip("kernel lacks MADV_GUARD_INSTALL");
  Layout L(s);
  char* g = L.anon("anon-guarded", 32);
  PAGESCAN_REQUIRE_PART(s, L, g);
  touch_write(g, 0, 32);
  if (!guard(g, 4, 4) || !guard(g, 20, 1)) {
    return s.skip(std::string("MADV_GUARD_INSTALL: ") + std::strerror(errno));
  }
  if (!(pagemap_entry(g + 4 * page()) & uapi::PM_GUARD_REGION)) {
    return s.skip("pagemap lacks the guard bit 58 (kernel before 6.15)");
  }
  char* u = L.anon("anon-guarded-untouched", 16);
  PAGESCAN_REQUIRE_PART(s, L, u);
  guard(u, 2, 4);
  char* f = L.file("file-guarded", 16, false);
  PAGESCAN_REQUIRE_PART(s, L, f);
  touch_read(f, 0, 16);
  if (!guard(f, 2, 2)) s.omit(std::string("guard in a file mapping: ") + std::strerror(errno));
  L.finish();
}

void build_mixed_protection(Scenario& s) {
  Layout L(s);
  char* m = L.anon("anon-slices", 48);
  PAGESCAN_REQUIRE_PART(s, L, m);
  touch_write(m, 0, 48);
  // Slices that split the VMA, and one that is split and merged back (§7 userfaultfd_tests).
  ::mprotect(m + 8 * page(), 8 * page(), PROT_READ);
  ::mprotect(m + 16 * page(), 8 * page(), PROT_NONE);
  ::mprotect(m + 32 * page(), 8 * page(), PROT_READ);
  ::mprotect(m + 32 * page(), 8 * page(), PROT_READ | PROT_WRITE);
  ::mprotect(m + 40 * page(), 8 * page(), PROT_NONE);
  PAGESCAN_REQUIRE_PART(s, L, L.anon("prot-none", 8, PROT_NONE));
  char* after = L.anon("anon-after", 8);
  PAGESCAN_REQUIRE_PART(s, L, after);
  touch_write(after, 0, 8);
  L.finish();
}

void build_uffd_registered(Scenario& s) {
  Layout L(s);
  char* u = L.anon("uffd-anon", 64);
  PAGESCAN_REQUIRE_PART(s, L, u);
  touch_write(u, 0, 16);
  if (!uffd_register(s, u, 48 * page(), true)) return;
  touch_write(u, 4, 4);  // written again after protection: WRITTEN
  touch_write(u, 20, 4);
  touch_read(u, 30, 4);   // the zero page, still protected (§4.3)
  touch_write(u, 50, 6);  // pages 48-63 are not registered
  char* m = L.memfd("uffd-memfd", 16, true);
  PAGESCAN_REQUIRE_PART(s, L, m);
  touch_write(m, 0, 8);
  if (!uffd_register(s, m, 16 * page(), true)) return;
  touch_write(m, 2, 4);
  L.finish();
}

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

void build_kitchen_sink(Scenario& s) {
  Layout L(s);
  if (char* p = L.anon("anon-written", 8)) touch_write(p, 0, 8);
  if (char* p = L.anon("anon-zero", 8)) touch_read(p, 0, 8);
  L.anon("prot-none", 4, PROT_NONE);
  if (char* p = L.anon("anon-slices", 12)) {
    touch_write(p, 0, 12);
    ::mprotect(p + 4 * page(), 4 * page(), PROT_READ);
  }
  if (char* p = L.file("file-private", 8, false)) {
    touch_read(p, 0, 4);
    touch_write(p, 4, 2);
  } else {
    L.omit("file-private");
  }
  if (char* p = L.file("file-shared", 8, true)) {
    touch_write(p, 0, 3);
  } else {
    L.omit("file-shared");
  }
  if (char* p = L.memfd("memfd-shared", 8, true)) touch_write(p, 1, 4);
  if (char* p = L.memfd("memfd-private", 8, false, 8)) {
    touch_read(p, 0, 4);
    touch_write(p, 4, 2);
  }
  if (char* p = L.shm("sysv-shm", 4)) {
    touch_write(p, 0, 2);
  } else {
    L.omit("sysv-shm");
  }
  if (char* p = L.anon("anon-guarded", 8)) {
    touch_write(p, 0, 8);
    if (!features().guard_regions || !guard(p, 2, 2)) s.omit("guard pages");
  }
  if (char* p = L.anon("uffd-anon", 16)) {
    touch_write(p, 0, 8);
    if (uffd_register(s, p, 16 * page(), true)) touch_write(p, 2, 3);
  }
  if (char* p = L.anon("anon-swapped", 8)) {
    touch_write(p, 0, 8);
    std::string why;
    if (!page_out(p, 0, 6, true, why)) s.omit("swapped pages (" + why + ")");
  }
  L.gap(3);
  // THP next to hugetlb, both registered with the uffd: they merge under WPALLOWED (§3.3).
  if (char* t = L.thp("thp", 1, {0})) {
    touch_write(t, 0, 512);
    uffd_register(s, t, kPmd, false);
  } else {
    L.omit("thp");
  }
  if (char* h = L.hugetlb("hugetlb-private", 1, false)) {
    *h = 1;
    uffd_register(s, h, kPmd, false);
  } else {
    L.omit("hugetlb-private");
  }
  if (!L.hugetlb("hugetlb-shared", 1, true)) L.omit("hugetlb-shared");
  if (!L.huge_zero("huge-zero", 1)) L.omit("huge-zero");
  if (char* p = L.anon("anon-after", 8)) touch_write(p, 0, 8);
  L.finish();
}

// Two THPs in one VMA, the second split to PTEs by an mprotect round trip (the VMA
// merges back): smaps counts one PMD-mapped THP but two blocks are fully present, so the
// emulator cannot tell which one is PMD-mapped (§6.2 HUGE (THP), §6.5).
void build_thp_split(Scenario& s, bool mixed_wp) {
  Layout L(s);
  char* t = L.thp("thp", 2, {0, 1});
  PAGESCAN_REQUIRE_PART(s, L, t);
  touch_write(t, 0, 1024);
  char* second = t + kPmd;
  if (mixed_wp) {
    // A partial uffd write-protect splits the PMD and protects only 100 of its PTEs.
    if (!uffd_register(s, t, 2 * kPmd, false)) return;
    auto w = s.uffd()->uffd().write_protect(second, 100 * page(), true);
    if (!w) return s.skip("UFFDIO_WRITEPROTECT: " + w.error().message());
  } else {
    ::mprotect(second + 100 * page(), 4 * page(), PROT_READ);
    ::mprotect(second + 100 * page(), 4 * page(), PROT_READ | PROT_WRITE);
  }
  auto v = vma_at(t);
  if (!v || v->start != reinterpret_cast<std::uint64_t>(t) ||
      v->end != reinterpret_cast<std::uint64_t>(t) + 2 * kPmd) {
    return s.skip("the VMAs did not merge back after the mprotect round trip");
  }
  if (v->anon_huge_pages != kPmd) return s.skip("the second THP was not split");
  L.finish();
}

// Pages of a populated VMA emptied by MADV_DONTNEED of less than a PMD: the PTE table
// stays (CONFIG_PT_RECLAIM frees only tables of >= PMD_SIZE zaps), so the kernel reports
// its empty entries WRITTEN, which pagemap cannot show (§4.3, §6.5).
void build_emptied_pte_table(Scenario& s) {
  Layout L(s);
  L.align(kPmd);
  char* a = L.anon("anon-populated", 512);
  PAGESCAN_REQUIRE_PART(s, L, a);
  for (std::size_t i = 0; i < 512; i += 8) touch_write(a, i, 1);
  char* e = L.anon("anon-emptied-block", 512);
  PAGESCAN_REQUIRE_PART(s, L, e);
  touch_write(e, 0, 64);
  ::madvise(e, 64 * page(), MADV_DONTNEED);
  PAGESCAN_REQUIRE_PART(s, L, L.anon("anon-hole-block", 512));
  L.finish();
}

// A VMA alone in its PMD block whose every page was written and then dropped: nothing
// resident or swapped remains, yet the PTE table does.
void build_emptied_vma(Scenario& s) {
  Layout L(s);
  L.align(kPmd);
  char* e = L.anon("anon-emptied-vma", 64);
  PAGESCAN_REQUIRE_PART(s, L, e);
  touch_write(e, 0, 64);
  ::madvise(e, 64 * page(), MADV_DONTNEED);
  L.align(kPmd);
  L.finish();
}

// Anonymous pages shared copy-on-write with a forked process that keeps them: present,
// not file, not exclusively mapped, and not the zero page (§6.2 PFNZERO heuristic).
void build_cow_shared(Scenario& s) {
  Layout L(s);
  char* c = L.anon("anon-cow-shared", 32);
  PAGESCAN_REQUIRE_PART(s, L, c);
  touch_write(c, 0, 32);
  char* z = L.anon("anon-zero", 8);
  PAGESCAN_REQUIRE_PART(s, L, z);
  touch_read(z, 0, 8);
  // The holder lives until the read end of this pipe sees EOF: when the scenario closes
  // the write end, or when the process that built it dies in any way. (PR_SET_PDEATHSIG
  // would not do: the kernel sends that signal with the dying parent's credentials, so
  // a parent that dropped privileges could not kill a root holder.)
  int lifeline[2];
  if (::pipe2(lifeline, O_CLOEXEC) != 0)
    return s.skip(std::string("pipe: ") + std::strerror(errno));
  pid_t holder = ::fork();
  if (holder < 0) {
    ::close(lifeline[0]);
    ::close(lifeline[1]);
    return s.skip(std::string("fork: ") + std::strerror(errno));
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
  char* x = L.anon("anon-exclusive", 16);
  PAGESCAN_REQUIRE_PART(s, L, x);
  touch_write(x, 0, 16);
  touch_write(c, 8, 4);  // copied on write: exclusive again
  L.finish();
}

// ---- write-protect layouts (identical relative layout on every call) ----

void build_wp_anon(Scenario& s) {
  Layout L(s);
  char* a = L.anon("wp-anon", 1200);
  PAGESCAN_REQUIRE_PART(s, L, a);
  touch_write(a, 0, 32);
  if (!uffd_register(s, a, 1200 * page(), true)) return;
  touch_write(a, 4, 8);
  touch_write(a, 40, 8);
  touch_read(a, 60, 4);
  // Over 512 written regions: get-and-protect crosses the kernel's internal restarts.
  for (std::size_t i = 100; i < 1200; i += 2) touch_write(a, i, 1);
  char* u = L.anon("anon-unregistered", 8);
  PAGESCAN_REQUIRE_PART(s, L, u);
  touch_write(u, 0, 8);
  L.finish();
}

void build_wp_thp(Scenario& s) {
  Layout L(s);
  // One THP per VMA: the smaps counter then names the PMD-mapped block exactly, before
  // and after a partial write-protect splits it (§6.2).
  char* t0 = L.thp("wp-thp-0", 1, {0});
  PAGESCAN_REQUIRE_PART(s, L, t0);
  touch_write(t0, 0, 512);
  char* between = L.anon("wp-anon-between", 16);
  PAGESCAN_REQUIRE_PART(s, L, between);
  touch_write(between, 0, 8);
  char* t1 = L.thp("wp-thp-1", 1, {0});
  PAGESCAN_REQUIRE_PART(s, L, t1);
  touch_write(t1, 0, 512);
  if (!uffd_register(s, t0, kPmd + 16 * page(), false)) return;
  if (!uffd_register(s, t1, kPmd, false)) return;
  L.finish();
}

void build_wp_hugetlb(Scenario& s) {
  Layout L(s);
  char* h = L.hugetlb("wp-hugetlb", 3, false);
  PAGESCAN_REQUIRE_PART(s, L, h);
  if (!uffd_register(s, h, 3 * kPmd, false)) return;
  *static_cast<volatile char*>(h) = 1;
  *static_cast<volatile char*>(h + kPmd) = 1;
  L.finish();
}

void build_wp_memfd(Scenario& s) {
  Layout L(s);
  char* m = L.memfd("wp-memfd", 32, true);
  PAGESCAN_REQUIRE_PART(s, L, m);
  touch_write(m, 0, 16);
  if (!uffd_register(s, m, 32 * page(), true)) return;
  touch_write(m, 4, 4);
  L.finish();
}

#undef PAGESCAN_REQUIRE_PART

}  // namespace

const std::map<std::string, Recipe>& scan_recipes() {
  static const std::map<std::string, Recipe> r = {
      {"anon", {build_anon}},
      {"anon-alternating", {build_anon_alternating}},
      {"thp", {build_thp}},
      {"huge-zero-page", {build_huge_zero}},
      {"hugetlb-private", {[](Scenario& s) { build_hugetlb(s, false); }, 3}},
      {"hugetlb-shared", {[](Scenario& s) { build_hugetlb(s, true); }, 3}},
      {"file-private", {[](Scenario& s) { build_file(s, false); }}},
      {"file-shared", {[](Scenario& s) { build_file(s, true); }}},
      {"memfd-shared", {[](Scenario& s) { build_memfd(s, true); }}},
      {"memfd-private", {[](Scenario& s) { build_memfd(s, false); }}},
      {"sysv-shm", {build_sysv_shm}},
      {"swapped", {build_swapped}},
      {"guard", {build_guard}},
      {"mixed-protection", {build_mixed_protection}},
      {"uffd-registered", {build_uffd_registered}},
      {"vvar", {build_vvar}},
      {"kitchen-sink", {build_kitchen_sink, 2}},
      {"thp-split", {[](Scenario& s) { build_thp_split(s, false); }}},
      {"thp-split-mixed-wp", {[](Scenario& s) { build_thp_split(s, true); }}},
      {"emptied-pte-table", {build_emptied_pte_table}},
      {"emptied-vma", {build_emptied_vma}},
      {"cow-shared", {build_cow_shared}},
  };
  return r;
}

const std::map<std::string, Recipe>& write_protect_recipes() {
  static const std::map<std::string, Recipe> r = {
      {"wp-anon", {build_wp_anon}},
      {"wp-thp", {build_wp_thp}},
      {"wp-hugetlb", {build_wp_hugetlb, 3}},
      {"wp-memfd", {build_wp_memfd}},
  };
  return r;
}

}  // namespace pagescan::test::recipes
