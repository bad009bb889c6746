// The pre-6.7 way to answer a scan request: pread /proc/self/pagemap over the VMAs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pagescan/scan.hpp"

namespace pagescan::bench {

// What a tool without PAGEMAP_SCAN does (CRIU's fallback, page-types, vmtouch-like
// tools): list the VMAs from /proc/self/maps so gaps are skipped, pread the 8-byte
// pagemap entry of every page of every VMA in 64 KiB chunks, decode the bits and
// coalesce matching pages into regions with the request's mask semantics.
//
// Decoded categories: present (bit 63), swapped (bit 62), file (bit 61), pfnzero (PFN of
// the zero page, when PFNs are visible), written (populated and uffd-wp bit 57 clear).
// The kernel computes more (huge, wpallowed, soft-dirty, guard, written for empty PTEs in
// a table, §3.7/§4.1), so for requests returning those the region lists can differ.
class PreadScanner {
 public:
  // Opens /proc/self/pagemap and learns the zero page's PFN as CRIU does (a read fault on
  // a fresh anonymous page). Returns an empty string on success, else why not.
  std::string open();
  ~PreadScanner();

  // Scans [request.start, request.end) into `out` (cleared first). Returns false with
  // `error` set on a failed read.
  bool scan(const ScanRequest& request, std::vector<PageRegion>& out, std::string& error);

  std::uint64_t preads() const { return preads_; }  // pread calls of the last scan
  std::uint64_t zero_pfn() const { return zero_pfn_; }

 private:
  struct Vma {
    std::uint64_t start;
    std::uint64_t end;
  };
  bool read_vmas(std::uint64_t start, std::uint64_t end, std::string& error);
  std::uint64_t decode(std::uint64_t entry) const;

  int fd_ = -1;
  std::uint64_t page_size_ = 0;
  std::uint64_t zero_pfn_ = 0;
  std::uint64_t preads_ = 0;
  std::string maps_;
  std::vector<Vma> vmas_;
  std::vector<std::uint64_t> entries_;
};

}  // namespace pagescan::bench
