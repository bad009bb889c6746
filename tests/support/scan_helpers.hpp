// Helpers shared by scan tests: the self handle, the skip for kernels without the ioctl,
// common requests and huge sparse reservations.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <optional>
#include <string>

#include "pagescan/features.hpp"
#include "pagescan/scan.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"

namespace pagescan::test {

// One Process::self() handle for the whole test binary .
const Process& self_process();

// Skips the current test, naming the tests' own finding, when the kernel has no
// PAGEMAP_SCAN (fails it when PAGESCAN_REQUIRE names pagemap_scan).
#define PAGESCAN_SKIP_WITHOUT_SCAN() PAGESCAN_REQUIRE_FACT(::pagescan::test::Fact::pagemap_scan)

// Present pages of [start, end), returning only PRESENT.
ScanRequest present_only(std::uint64_t start, std::uint64_t end);
inline ScanRequest present_only(const Mapping& m) {
  return present_only(m.start(), m.end());
}

// True when PAGESCAN_BACKEND forces the emulated backend for this run.
bool emulated_backend_forced();

// Skips a test whose range is too large to emulate: the emulator reads 8 bytes of
// pagemap for every page of a VMA in range (there is no faster way before 6.7).
#define PAGESCAN_SKIP_IF_EMULATED_HUGE_RANGE()                                        \
  if (::pagescan::test::emulated_backend_forced())                                    \
  GTEST_SKIP() << "the emulated backend reads 8 bytes of pagemap per page of a VMA: " \
                  "a multi-TiB reservation is too slow to emulate"

// A MAP_NORESERVE anonymous reservation (64 TiB for ASan-shadow shapes); nullopt with the
// reason in `why` when the address space cannot hold it (e.g. under a sanitizer).
std::optional<Mapping> reserve_sparse(std::size_t length, std::string& why);

}  // namespace pagescan::test
