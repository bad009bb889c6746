// The emulator's irreducible differences from the kernel (kernel-pagemap-scan.md §6.5),
// as rules that predict, page by page, what the emulated backend must answer given the
// kernel's answer and what pagemap and smaps show. A differential test holds the
// emulator to these predictions exactly: only the named categories may differ, and only
// on the pages a rule names.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pagescan/categories.hpp"
#include "support/scan_model.hpp"

namespace pagescan::test {

enum class Irreducible {
  // Without CAP_SYS_ADMIN pagemap hides PFNs: a present, non-file, not exclusively
  // mapped page of private anonymous memory is taken for the zero page (§6.2 PFNZERO).
  pfnzero_heuristic,
  // smaps counts PMD-mapped THP bytes per VMA, not which blocks: when that count differs
  // from the number of 2 MiB blocks that could be PMD-mapped (every page present with the
  // same pagemap flags), the emulator guesses (with PFNs: contiguous aligned PFN runs;
  // without: every such block) (§6.2 HUGE (THP)).  Only HUGE may differ.
  thp_huge_ambiguous,
  // An empty entry is WRITTEN when its PTE table exists (§4.3); pagemap cannot show a
  // table whose entries are all empty, so such blocks of non-uffd VMAs read not WRITTEN.
  written_hidden_pte_table,
};

std::string_view to_string(Irreducible rule);
// The one category a rule changes.
Category category_of(Irreducible rule);

// A run of pages on which one rule predicts a different answer than the kernel's.
struct PredictedDifference {
  Irreducible rule;
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  std::uint64_t kernel = 0;    // the kernel's categories of these pages
  std::uint64_t emulated = 0;  // what the emulator must answer
};

struct Prediction {
  PageTruth emulated;  // the kernel's truth with every predicted difference applied
  std::vector<PredictedDifference> differences;
  bool pfns_visible = false;
  // Union of the categories that differ anywhere.
  Categories categories() const;
  // Union of the categories that differ on pages of [start, end).
  Categories categories_in(std::uint64_t start, std::uint64_t end) const;
};

// Predicts the emulator's per-page answer over [start, end) of the calling process from
// the kernel's (`kernel`, every walked page), /proc/self/smaps and pagemap read through
// `pagemap_fd` (the fd the emulator reads, so PFN visibility is the same).
// `error` receives a message when the inputs cannot be read.
Prediction predict_emulated(const PageTruth& kernel, std::uint64_t start, std::uint64_t end,
                            int pagemap_fd, std::string& error);

}  // namespace pagescan::test
