// The mirror test of remote write tracking (storm_mirror.hpp).
#include "support/storm_mirror.hpp"

#include <gtest/gtest.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <vector>

namespace pagescan::test {

StormMirror mirror_storm(TargetProcess& storm, std::uint64_t pages, int ms,
                         const std::function<Result<Harvest>()>& harvest) {
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t base = storm.region(), bytes = pages * page;
  auto read_pages = [&](std::uint64_t start, std::uint64_t end, char* into) {
    iovec local{into, end - start};
    iovec remote{reinterpret_cast<void*>(start), end - start};
    return ::process_vm_readv(storm.pid(), &local, 1, &remote, 1, 0) ==
           static_cast<ssize_t>(end - start);
  };
  StormMirror out;
  std::vector<char> mirror(bytes), control(bytes), memory(bytes);
  if (!read_pages(base, base + bytes, mirror.data())) {
    out.error = "cannot read the target's region";
    return out;
  }
  control = mirror;
  // Copies what a harvest reports into the mirror (and the control); false on failure.
  auto apply = [&](const Result<Harvest>& h, bool to_control) {
    if (!h) {
      out.error = h.error().message();
      return false;
    }
    for (const PageRange& r : h->ranges) {
      const std::uint64_t at = r.start - base;
      if (!read_pages(r.start, r.end, mirror.data() + at)) {
        out.error = "cannot read reported pages";
        return false;
      }
      if (to_control) std::copy_n(mirror.data() + at, r.end - r.start, control.data() + at);
    }
    return true;
  };
  if (!storm.send(std::to_string(ms))) {
    out.error = "cannot start the storm";
    return out;
  }
  while ((out.stopped = storm.read_line(1)).empty()) {
    if (!apply(harvest(), out.harvests++ % 2 == 0)) return out;
  }
  if (!apply(harvest(), true)) return out;
  if (!read_pages(base, base + bytes, memory.data())) {
    out.error = "cannot read the target's region";
    return out;
  }
  out.mirror_equal = mirror == memory;
  out.control_equal = control == memory;
  return out;
}

void expect_mirror_kept_up(const StormMirror& run) {
  ASSERT_EQ(run.error, "");
  EXPECT_EQ(run.stopped.rfind("stopped ", 0), 0u) << run.stopped;
  EXPECT_GT(run.harvests, 10) << "too few harvests raced the writer";
  EXPECT_TRUE(run.mirror_equal) << "the mirror lost writes";
  EXPECT_FALSE(run.control_equal) << "the negative control matched: the test proves nothing";
}

bool wait_state(pid_t pid, char state, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 1) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::size_t paren = stat.rfind(')');
    if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == state) {
      return true;
    }
    ::usleep(1'000);
  }
  return false;
}

}  // namespace pagescan::test
