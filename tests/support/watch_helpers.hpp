// Helpers for write-tracking tests: the engines to run on, skipping unavailable ones
// with the self-test's reason, harvests as page lists, well-formedness checks, VMA
// flags and a scoped environment variable.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pagescan/watch.hpp"
#include "proc/maps.hpp"
#include "support/kernel_facts.hpp"

namespace pagescan::test {

// Every engine a caller can force (not `automatic`).
inline constexpr WatchEngine kForcibleEngines[] = {WatchEngine::uffd, WatchEngine::soft_dirty,
                                                   WatchEngine::mprotect, WatchEngine::everything};

// "uffd", "soft_dirty", ... for parameterised test names.
std::string engine_test_name(const testing::TestParamInfo<WatchEngine>& info);

// The kernel facts an engine needs: uffd the PAGEMAP_SCAN ioctl and async uffd-wp,
// soft_dirty working soft-dirty bits; mprotect and everything none.
std::vector<Fact> engine_facts(WatchEngine engine);

// Skips the current test when the kernel lacks a fact `engine` needs, naming the tests'
// own finding (fails it when PAGESCAN_REQUIRE names the fact). When the kernel has them
// all, the engine must pass the library's self-test: a refusal then fails the test, since
// the library's probe, not the kernel, is wrong.
#define PAGESCAN_SKIP_UNLESS_ENGINE(engine)                                       \
  for (::pagescan::test::Fact needed_ : ::pagescan::test::engine_facts(engine)) { \
    PAGESCAN_REQUIRE_FACT(needed_);                                               \
  }                                                                               \
  if (auto available_ = ::pagescan::watch_engine_available(engine); !available_)  \
  GTEST_FAIL() << ::pagescan::to_string(engine)                                   \
               << " engine refused although the kernel has what it needs: "       \
               << available_.error().message()

// The page addresses a harvest covers, ascending.
std::vector<std::uint64_t> harvest_pages(const Harvest& harvest);

// What a re-arming call over [base, base + len) answered: `call` is "collect" (with
// reset, the harvest dropped) or "reset".
Result<void> rearm(WriteWatch& watch, const std::string& call, void* base, std::size_t len);

// Ranges ascending, disjoint, page-aligned, inside [lo, hi), and
// `pages` equal to their total.
testing::AssertionResult well_formed(const Harvest& harvest, std::uint64_t lo, std::uint64_t hi);

// The VMA of this process containing `addr` (from smaps), if any.
std::optional<proc::Vma> vma_containing(std::uint64_t addr);

// Sets (or unsets, with nullopt) an environment variable while it lives.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> previous_;
};

}  // namespace pagescan::test
