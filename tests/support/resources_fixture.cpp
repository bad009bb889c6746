// Warm-up, baselines and the fresh-watch check for resource-leak tests.
#include "support/resources_fixture.hpp"

#include <sys/mman.h>

#include <set>

#include "pagescan/features.hpp"
#include "pagescan/pagescan.h"
#include "pagescan/scan.hpp"
#include "pagescan/snapshot.hpp"
#include "support/memory.hpp"
#include "support/watch_helpers.hpp"

namespace pagescan::test::leaks {

namespace {

// The sanitizers' allocators map and unmap memory as allocation patterns change
// (AddressSanitizer's primary space at 0x600000000000 and secondary mappings anywhere),
// which moves the count of mappings with no library call involved; only uninstrumented
// builds compare it.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kMappingsAreStable = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kMappingsAreStable = false;
#else
constexpr bool kMappingsAreStable = true;
#endif
#else
constexpr bool kMappingsAreStable = true;
#endif

struct sigaction g_sigsegv_before = {};

void warm_up_once() {
  g_sigsegv_before = sigsegv_disposition();
  (void)features();
  // Free pages on both sides: restore then asks PROCMAP_QUERY whether the region grew.
  Mapping m = isolated_mapping(8);
  for (WatchEngine e : kForcibleEngines) {
    if (!watch_engine_available(e)) continue;
    {
      auto w = WriteWatch::create(m.data(), m.length(), WatchOptions{e});
      if (w) {
        m.write_page(0);
        (void)w->collect(m.data(), m.length());
      }
    }
    SnapshotOptions options;
    options.watch.engine = e;
    auto s = RegionSnapshot::capture(m.data(), m.length(), options);
    if (s) {
      m.write_page(1);
      (void)s->restore();
      (void)s->first_difference();
    }
  }
  pagescan_watch* w = nullptr;
  if (pagescan_watch_create(m.data(), m.length(), PAGESCAN_WATCH_AUTO, &w) == 0) {
    pagescan_watch_destroy(w);
  }
  if (auto self = Process::self()) {
    for (BackendChoice b : {BackendChoice::kernel, BackendChoice::emulated}) {
      ScanOptions options;
      options.backend = b;
      (void)scan(*self, ScanRequest::over(m.start(), m.end()).all_of(Category::present), options);
    }
  }
}

}  // namespace

void warm_up_for_leak_checks() {
  static const bool done = (warm_up_once(), true);
  (void)done;
}

const struct sigaction& sigsegv_before_any_watch() {
  warm_up_for_leak_checks();
  return g_sigsegv_before;
}

Mapping isolated_mapping(std::size_t pages) {
  const std::size_t page = page_size();
  void* p = ::mmap(nullptr, (pages + 2) * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
  if (p == MAP_FAILED) {
    ADD_FAILURE() << "mmap of " << pages + 2 << " pages failed";
    return Mapping();
  }
  char* base = static_cast<char*>(p);
  ::munmap(base, page);
  ::munmap(base + (pages + 1) * page, page);
  return Mapping(base + page, pages * page);
}

Baseline::Baseline() {
  census_ = take_census();
  mappings_ = mapping_lines();
  sigsegv_ = sigsegv_disposition();
}

testing::AssertionResult Baseline::same_userfaultfds() const {
  const std::size_t now = userfaultfd_count();
  if (now == census_.userfaultfds) return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << now << " userfaultfds open, " << census_.userfaultfds << " before";
}

testing::AssertionResult Baseline::same_mappings() const {
  if (!kMappingsAreStable) return testing::AssertionSuccess() << "not compared under a sanitizer";
  const std::vector<std::string> now = mapping_lines();
  if (now.size() == mappings_.size()) return testing::AssertionSuccess();
  auto failure = testing::AssertionFailure();
  failure << now.size() << " mappings, " << mappings_.size() << " before;";
  std::set<std::string> old(mappings_.begin(), mappings_.end()), fresh(now.begin(), now.end());
  for (const std::string& line : now) {
    if (!old.count(line)) failure << "\n  new: " << line;
  }
  for (const std::string& line : mappings_) {
    if (!fresh.count(line)) failure << "\n  gone: " << line;
  }
  return failure;
}

testing::AssertionResult Baseline::unchanged() const {
  for (auto check : {&Baseline::same_fds, &Baseline::same_userfaultfds, &Baseline::same_mappings,
                     &Baseline::same_sigsegv}) {
    if (auto r = (this->*check)(); !r) return r;
  }
  return testing::AssertionSuccess();
}

testing::AssertionResult no_uffd_wp(std::uint64_t start, std::uint64_t end) {
  if (!uffd_wp_registered(start, end)) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "a VMA in [0x" << std::hex << start << "-0x" << end
                                     << ") is still registered for uffd write-protect (uw)";
}

testing::AssertionResult fresh_watch_works(WatchEngine engine, std::uint64_t start,
                                           std::uint64_t end) {
  void* base = reinterpret_cast<void*>(start);
  const std::size_t len = end - start;
  auto watch = WriteWatch::create(base, len, WatchOptions{engine});
  if (!watch) return testing::AssertionFailure() << "create: " << watch.error().message();
  auto quiet = watch->collect(base, len);
  if (!quiet) return testing::AssertionFailure() << "collect: " << quiet.error().message();
  if (!quiet->ranges.empty()) {
    return testing::AssertionFailure() << quiet->pages << " pages written before any write";
  }
  const std::uint64_t page = page_size(), target = start + (len / page / 2) * page;
  auto* byte = reinterpret_cast<volatile char*>(target);
  *byte = static_cast<char>(*byte + 1);
  auto written = watch->collect(base, len);
  if (!written) return testing::AssertionFailure() << "collect: " << written.error().message();
  if (written->ranges != std::vector<PageRange>{{target, target + page}}) {
    return testing::AssertionFailure()
           << "after one write to 0x" << std::hex << target << ": " << std::dec << written->pages
           << " pages in " << written->ranges.size() << " ranges";
  }
  auto again = watch->collect(base, len);
  if (!again || !again->ranges.empty()) {
    return testing::AssertionFailure() << "re-arming did not clear the written page";
  }
  return testing::AssertionSuccess();
}

}  // namespace pagescan::test::leaks
