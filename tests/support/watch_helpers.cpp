// Helpers for write-tracking tests (see watch_helpers.hpp).
#include "support/watch_helpers.hpp"

#include <cstdlib>
#include <sstream>

#include "support/memory.hpp"

namespace pagescan::test {

std::string engine_test_name(const testing::TestParamInfo<WatchEngine>& info) {
  std::string name(to_string(info.param));
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

std::vector<Fact> engine_facts(WatchEngine engine) {
  switch (engine) {
    case WatchEngine::uffd:
      return {Fact::pagemap_scan, Fact::uffd_wp_async};
    case WatchEngine::soft_dirty:
      return {Fact::soft_dirty};
    default:
      return {};
  }
}

std::vector<std::uint64_t> harvest_pages(const Harvest& harvest) {
  std::vector<std::uint64_t> pages;
  for (const PageRange& r : harvest.ranges) {
    for (std::uint64_t a = r.start; a < r.end; a += page_size()) pages.push_back(a);
  }
  return pages;
}

Result<void> rearm(WriteWatch& watch, const std::string& call, void* base, std::size_t len) {
  if (call == "reset") return watch.reset(base, len);
  auto harvest = watch.collect(base, len);
  if (!harvest) return harvest.error();
  return {};
}

testing::AssertionResult well_formed(const Harvest& harvest, std::uint64_t lo, std::uint64_t hi) {
  const std::uint64_t mask = page_size() - 1;
  std::uint64_t total = 0;
  std::uint64_t previous_end = 0;
  for (std::size_t i = 0; i < harvest.ranges.size(); ++i) {
    const PageRange& r = harvest.ranges[i];
    std::ostringstream where;
    where << "range " << i << " [0x" << std::hex << r.start << "-0x" << r.end << ") of query [0x"
          << lo << "-0x" << hi << ")";
    if ((r.start & mask) || (r.end & mask)) {
      return testing::AssertionFailure() << where.str() << " is not page-aligned";
    }
    if (r.start >= r.end) return testing::AssertionFailure() << where.str() << " is empty";
    if (r.start < lo || r.end > hi) {
      return testing::AssertionFailure() << where.str() << " is not clipped to the query";
    }
    if (i > 0 && r.start < previous_end) {
      return testing::AssertionFailure() << where.str() << " overlaps or precedes the previous one";
    }
    previous_end = r.end;
    total += (r.end - r.start) / page_size();
  }
  if (total != harvest.pages) {
    return testing::AssertionFailure()
           << "harvest says " << harvest.pages << " pages, its ranges hold " << total;
  }
  return testing::AssertionSuccess();
}

std::optional<proc::Vma> vma_containing(std::uint64_t addr) {
  auto vmas = proc::read_vmas(0, true);
  if (!vmas) {
    ADD_FAILURE() << vmas.error().message();
    return std::nullopt;
  }
  for (const proc::Vma& v : *vmas) {
    if (addr >= v.start && addr < v.end) return v;
  }
  return std::nullopt;
}

ScopedEnv::ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
  if (const char* old = std::getenv(name)) previous_ = old;
  if (value) {
    ::setenv(name, value->c_str(), 1);
  } else {
    ::unsetenv(name);
  }
}

ScopedEnv::~ScopedEnv() {
  if (previous_) {
    ::setenv(name_.c_str(), previous_->c_str(), 1);
  } else {
    ::unsetenv(name_.c_str());
  }
}

}  // namespace pagescan::test
