// What `pagescan top` shows: per mapping, the pages written in the last interval, the
// rate, the total since the start and where in the mapping the last interval's writes
// fell, sorted by rate; and the screen drawn from it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "watch/watch_session.hpp"

namespace pagescan::cli {

struct TopRow {
  MappedRegion vma;
  std::uint64_t last_pages = 0;        // written in the last interval
  std::uint64_t total_pages = 0;       // written since the start
  std::vector<PageRange> last_ranges;  // where, for the heat strip
};

class TopModel {
 public:
  // One round: `by_mapping` written in `seconds`.
  void add_round(const std::vector<MappingWrites>& by_mapping, double seconds);
  // Rows by rate (last interval), then total, then address.
  std::vector<const TopRow*> sorted() const;
  std::uint64_t rounds() const { return rounds_; }
  double seconds() const { return seconds_; }
  std::uint64_t last_pages() const { return last_pages_; }
  std::uint64_t total_pages() const { return total_pages_; }

 private:
  std::vector<TopRow> rows_;
  std::uint64_t rounds_ = 0;
  double seconds_ = 0;  // the last interval as measured
  std::uint64_t last_pages_ = 0;
  std::uint64_t total_pages_ = 0;
};

struct TopScreen {
  pid_t pid = 0;
  std::string engine;
  double interval = 1;
  unsigned width = 80;
  unsigned rows = 24;
  bool ascii = false;
};
// The screen's lines, at most `rows` of them, none wider than `width` columns.
std::vector<std::string> render_top(const TopModel& model, const TopScreen& screen);

}  // namespace pagescan::cli
