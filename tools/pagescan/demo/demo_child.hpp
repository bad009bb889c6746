// The demo workload's side of the fork: what it builds and how it reports to the parent.
// Fixed-size records over pipes: the child is a fork of this same binary, so both sides
// agree on the layout of these structs.
#pragma once

#include <cstdint>

#include "demo/demo_workload.hpp"

namespace pagescan::cli::demo {

inline constexpr std::size_t kWhyChars = 160;
inline constexpr std::size_t kMaxSpans = 16;
inline constexpr std::size_t kTrackedPages = 32;
inline constexpr char kTrackCommand = 't';

struct WirePart {
  std::uint32_t available = 0;
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  std::uint64_t acted = 0;
  char why[kWhyChars] = {};
};

// Indexed by PartKind.
struct WireLayout {
  WirePart parts[kPartKinds];
  char engine[16] = {};  // the tracked part's WriteWatch engine
};

struct WireSpans {
  std::uint32_t count = 0;
  std::uint64_t first[kMaxSpans] = {};
  std::uint64_t end[kMaxSpans] = {};
};

struct WireRound {
  WireSpans wrote;
  WireSpans collected;
  std::uint32_t more = 0;
};

struct WireTracking {
  std::uint32_t ok = 0;
  char why[kWhyChars] = {};
  WireRound rounds[2];
};

// Runs in the forked child: builds the planned parts, writes a WireLayout to
// `report_fd`, then answers kTrackCommand on `control_fd` with a WireTracking, and exits
// when `control_fd` closes (or, by PR_SET_PDEATHSIG, when the parent dies). The CLI is
// single-threaded when it forks, so the child may allocate and use the library.
[[noreturn]] void run_child(const DemoPlan& plan, pid_t parent, int report_fd, int control_fd);

// Whole-record pipe I/O (short reads and writes and EINTR retried); false on EOF or error.
bool write_all(int fd, const void* data, std::size_t size);
bool read_all(int fd, void* data, std::size_t size);

}  // namespace pagescan::cli::demo
