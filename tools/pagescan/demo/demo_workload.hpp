// The demo's child process: a workload with a known memory layout to look at, and a
// write-tracked region it writes to while the demo runs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pagescan/result.hpp"

namespace pagescan::cli {

// The parts of the layout, each in a VMA of its own (PROT_NONE pages keep neighbours
// from merging with it).
enum class PartKind : std::uint32_t {
  written,    // 16 pages, every one written
  zero,       // 16 read-only pages, every one read (the zero page, where the kernel maps it)
  untouched,  // 16 pages never touched
  thp,        // one 2 MiB transparent huge page, written
  hugetlb,    // one default-size hugetlb page, written
  file,       // 16 pages of the pagescan binary, the first 8 read
  swapped,    // 16 written pages, 8 of them paged out with MADV_PAGEOUT
  guard,      // 16 written pages, guard markers on 4 of them
  tracked,    // 32 pages under a WriteWatch, 6 written since it was armed
};
inline constexpr std::size_t kPartKinds = 9;

// "written", "zero", ... (JSON keys and row names).
std::string_view part_name(PartKind kind);

struct DemoPart {
  PartKind kind = PartKind::written;
  bool available = false;
  std::string why_not;  // one line, when not available
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  // The pages the workload acted on: written, read, paged out (as the workload saw them
  // leave), guarded, or written since arming, by kind.
  std::uint64_t acted = 0;
  std::string engine;  // tracked: the WriteWatch engine
};

// What the parent decides before starting the child: which optional parts to build, and
// why not when not.
struct DemoPlan {
  bool thp = false;
  bool hugetlb = false;
  bool swap = false;
  bool guard = false;
  std::string thp_why, hugetlb_why, swap_why, guard_why;
};
DemoPlan plan_demo();  // from features(); hugetlb is the caller's to decide

// Pages [first, end) of the tracked region, by index.
struct PageSpan {
  std::uint64_t first = 0;
  std::uint64_t end = 0;
};
std::uint64_t span_pages(const std::vector<PageSpan>& spans);
// "1-3, 8, 20-21" (inclusive page numbers), "none" when empty.
std::string spans_text(const std::vector<PageSpan>& spans);

struct TrackingRound {
  std::vector<PageSpan> wrote;      // what the workload wrote since the last arm
  std::vector<PageSpan> collected;  // what collect() returned (and re-armed)
  bool more = false;                // collect() said pages remain unreported
};

struct Tracking {
  std::string engine;
  std::uint64_t pages = 0;  // the region's size in pages
  std::vector<TrackingRound> rounds;
};

// A running child; killed and reaped on destruction (and it dies with its parent).
class DemoWorkload {
 public:
  // Forks the child, which builds the planned parts and reports them. Parts the plan
  // leaves out come back unavailable with the plan's reason.
  static Result<DemoWorkload> start(const DemoPlan& plan);
  DemoWorkload(DemoWorkload&& other) noexcept;
  DemoWorkload(const DemoWorkload&) = delete;
  ~DemoWorkload();

  pid_t pid() const { return pid_; }
  const std::vector<DemoPart>& parts() const { return parts_; }
  const DemoPart& part(PartKind kind) const { return parts_[static_cast<std::size_t>(kind)]; }

  // Asks the child for its write-tracking rounds: collect what it wrote since arming
  // (re-arming it), write more, collect again. Fails when the tracked part is unavailable.
  Result<Tracking> track();

 private:
  DemoWorkload() = default;
  pid_t pid_ = -1;
  int report_ = -1;   // child -> parent
  int control_ = -1;  // parent -> child; closing it tells the child to exit
  std::vector<DemoPart> parts_;
};

}  // namespace pagescan::cli
