// The kernel's PAGEMAP_SCAN output assembly, re-implemented for the emulated backend.
//
// Mirrors pagemap_scan_output(), pagemap_scan_push_range(), pagemap_scan_backout_range()
// and pagemap_scan_flush_buffer() (kernel-pagemap-scan.md §2.4, §3.3-§3.6): regions are
// collected in a bounce chunk of min(vec_len, PMD_SIZE/PAGE_SIZE) entries; a run extends
// the current region only when it starts at its end with equal masked categories; a run
// that would overflow max_pages is cut at a page boundary; a region that finds the chunk
// full stops the walk with the stop address at its start. The stop address is kept
// across internal restarts, which is how the kernel's stale walk_end arises; we keep it
// too, so the emulated call returns what the kernel returns, quirks included.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "pagescan/scan.hpp"

namespace pagescan::emulate {

class OutputBuilder {
 public:
  // `vec` (caller memory, may be null when vec_len is 0) receives at most vec_len regions.
  OutputBuilder(PageRegion* vec, std::uint64_t vec_len, std::uint64_t max_pages,
                std::uint64_t return_mask, std::uint64_t page_size, std::uint64_t chunk);

  // Kernel return codes of the walk callbacks.
  static constexpr int kContinue = 0;
  static constexpr int kStop = -28;  // -ENOSPC: output buffer or page budget exhausted

  // Reports [addr, *end) with page categories `categories` (already found interesting).
  // May lower *end (a max_pages cut or a full chunk, then *end == addr). Returns kStop
  // when the walk must stop, recording the stop address.
  int output(std::uint64_t categories, std::uint64_t addr, std::uint64_t* end);

  // Withdraws [addr, end) just reported by output() (a partial huge page under WP).
  void backout(std::uint64_t addr, std::uint64_t end);

  // Copies the chunk to the caller's vec; returns the number of regions written.
  std::size_t flush();

  bool has_buffer() const { return has_buffer_; }
  std::uint64_t vec_len_left() const { return vec_len_; }
  std::uint64_t found_pages() const { return found_pages_; }
  std::uint64_t max_pages() const { return max_pages_; }
  std::uint64_t walk_end() const { return walk_end_; }
  void set_walk_end(std::uint64_t address) { walk_end_ = address; }

 private:
  bool push_range(std::uint64_t categories, std::uint64_t addr, std::uint64_t end);

  PageRegion* out_;
  std::uint64_t vec_len_;
  std::uint64_t max_pages_;
  std::uint64_t return_mask_;
  std::uint64_t page_size_;
  bool has_buffer_;
  std::vector<PageRegion> chunk_;  // the bounce buffer
  std::size_t chunk_len_ = 0;      // usable entries of chunk_
  std::size_t index_ = 0;
  std::uint64_t found_pages_ = 0;
  std::uint64_t walk_end_ = 0;
};

}  // namespace pagescan::emulate
