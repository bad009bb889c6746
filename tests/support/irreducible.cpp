// Predicting the emulator's irreducible differences from the kernel, page by page.
#include "support/irreducible.hpp"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "kernel/uapi.hpp"
#include "proc/maps.hpp"

namespace pagescan::test {

std::string_view to_string(Irreducible rule) {
  switch (rule) {
    case Irreducible::pfnzero_heuristic:
      return "pfnzero-heuristic";
    case Irreducible::thp_huge_ambiguous:
      return "thp-huge-ambiguous";
    case Irreducible::written_hidden_pte_table:
      return "written-hidden-pte-table";
  }
  return "?";
}

Category category_of(Irreducible rule) {
  switch (rule) {
    case Irreducible::pfnzero_heuristic:
      return Category::pfnzero;
    case Irreducible::thp_huge_ambiguous:
      return Category::huge;
    case Irreducible::written_hidden_pte_table:
      return Category::written;
  }
  return Category::wpallowed;
}

Categories Prediction::categories() const {
  Categories c;
  for (const PredictedDifference& d : differences) c |= category_of(d.rule);
  return c;
}

Categories Prediction::categories_in(std::uint64_t start, std::uint64_t end) const {
  Categories c;
  for (const PredictedDifference& d : differences) {
    if (d.start < end && d.end > start) c |= category_of(d.rule);
  }
  return c;
}

namespace {

using namespace uapi;

constexpr std::uint64_t kPopulated = PM_PRESENT | PM_SWAP;

class Entries {
 public:
  Entries(int fd, std::uint64_t lo, std::uint64_t hi, std::uint64_t page)
      : lo_(lo), page_(page), e_((hi - lo) / page, 0) {
    std::size_t done = 0;
    while (done < e_.size()) {
      ssize_t got = ::pread(fd, e_.data() + done, (e_.size() - done) * 8,
                            static_cast<off_t>((lo / page + done) * 8));
      if (got <= 0) break;
      done += static_cast<std::size_t>(got) / 8;
    }
    ok_ = done == e_.size();
  }
  bool ok() const { return ok_; }
  std::uint64_t at(std::uint64_t addr) const { return e_[(addr - lo_) / page_]; }

 private:
  std::uint64_t lo_, page_;
  std::vector<std::uint64_t> e_;
  bool ok_ = false;
};

// The blocks of a VMA the emulator takes for PMD-mapped THPs, and whether that is a guess.
struct ThpGuess {
  std::set<std::uint64_t> blocks;
  bool ambiguous = false;
};

bool huge_zero_block(const proc::Vma& v, const Entries& e, std::uint64_t blk, std::uint64_t pmd) {
  if (!v.private_anonymous() || blk < v.start || blk + pmd > v.end) return false;
  std::uint64_t first = e.at(blk);
  // pagemap marks the huge zero page "file" in private anonymous memory (§6.2 FILE).
  return (first & PM_PRESENT) && (first & PM_FILE);
}

ThpGuess guess_thp(const proc::Vma& v, const Entries& e, std::uint64_t page, std::uint64_t pmd,
                   bool pfns_visible) {
  ThpGuess g;
  if (v.pmd_mapped_bytes() == 0) return g;  // exact: nothing is PMD-mapped
  const std::uint64_t per = pmd / page;
  std::vector<std::uint64_t> full, contiguous;
  for (std::uint64_t blk = (v.start + pmd - 1) & ~(pmd - 1); blk + pmd <= v.end; blk += pmd) {
    // One PMD maps the whole block, so pagemap gives all its pages the same flags: a
    // block whose entries differ (say, some uffd-wp protected) is certainly PTE-mapped.
    // Only exclusivity is per page (§6.1 bit 56), so it is left out of the comparison.
    const std::uint64_t flags = e.at(blk) & ~PM_PFN_MASK & ~PM_MMAP_EXCLUSIVE;
    const std::uint64_t first = e.at(blk) & PM_PFN_MASK;
    bool candidate = (flags & PM_PRESENT) != 0, run = true;
    for (std::uint64_t i = 0; i < per && candidate; ++i) {
      std::uint64_t x = e.at(blk + i * page);
      candidate = (x & ~PM_PFN_MASK & ~PM_MMAP_EXCLUSIVE) == flags;
      if ((x & PM_PFN_MASK) != first + i) run = false;
    }
    if (!candidate || huge_zero_block(v, e, blk, pmd)) continue;
    full.push_back(blk);
    if (run && first && first % per == 0) contiguous.push_back(blk);
  }
  if (full.size() == v.pmd_mapped_bytes() / pmd) {
    g.blocks.insert(full.begin(), full.end());
    return g;
  }
  g.ambiguous = true;
  const auto& chosen = pfns_visible ? contiguous : full;
  g.blocks.insert(chosen.begin(), chosen.end());
  return g;
}

bool block_empty(const Entries& e, std::uint64_t blk, std::uint64_t page, std::uint64_t pmd) {
  for (std::uint64_t a = blk; a < blk + pmd; a += page) {
    if (e.at(a) & kPopulated) return false;
  }
  return true;
}

void record(std::vector<PredictedDifference>& out, Irreducible rule, std::uint64_t addr,
            std::uint64_t page, std::uint64_t kernel, std::uint64_t emulated) {
  if (!out.empty()) {
    PredictedDifference& last = out.back();
    if (last.rule == rule && last.end == addr && last.kernel == kernel &&
        last.emulated == emulated) {
      last.end += page;
      return;
    }
  }
  out.push_back(PredictedDifference{rule, addr, addr + page, kernel, emulated});
}

}  // namespace

Prediction predict_emulated(const PageTruth& kernel, std::uint64_t start, std::uint64_t end,
                            int pagemap_fd, std::string& error) {
  const std::uint64_t page = kernel.page_size();
  const std::uint64_t pmd = page * (page / 8);
  Prediction p;
  p.emulated = kernel;
  auto vmas = proc::read_vmas(0, true);
  if (!vmas) {
    error = vmas.error().message();
    return p;
  }
  // Whole PMD blocks around every VMA in range: THP guesses and table guesses look at
  // entries outside [start, end).
  std::uint64_t lo = start & ~(pmd - 1), hi = (end + pmd - 1) & ~(pmd - 1);
  for (const proc::Vma& v : *vmas) {
    if (v.end <= start || v.start >= end) continue;
    lo = std::min(lo, v.start & ~(pmd - 1));
    hi = std::max(hi, (v.end + pmd - 1) & ~(pmd - 1));
  }
  Entries e(pagemap_fd, lo, hi, page);
  if (!e.ok()) {
    error = "cannot read pagemap";
    return p;
  }
  for (std::uint64_t a = lo; a < hi && !p.pfns_visible; a += page) {
    std::uint64_t x = e.at(a);
    if ((x & PM_PRESENT) && (x & PM_PFN_MASK)) p.pfns_visible = true;
  }

  std::vector<std::pair<std::uint64_t, std::uint64_t>> changed;  // (page, categories)
  for (const proc::Vma& v : *vmas) {
    if (v.end <= start || v.start >= end || v.pfnmap() || v.hugetlb()) continue;
    ThpGuess thp = guess_thp(v, e, page, pmd, p.pfns_visible);
    for (std::uint64_t a = std::max(v.start, start); a < std::min(v.end, end); a += page) {
      auto k = kernel.at(a);
      if (!k) {
        error = "the kernel's truth lacks a walked page";
        return p;
      }
      const std::uint64_t blk = a & ~(pmd - 1), entry = e.at(a);
      if (huge_zero_block(v, e, blk, pmd)) continue;  // exact (§6.2 FILE exception)
      std::uint64_t c = *k;
      const bool guessed = thp.blocks.count(blk) != 0;
      if (guessed != ((c & PAGE_IS_HUGE) != 0)) {
        std::uint64_t n = guessed ? c | PAGE_IS_HUGE : c & ~PAGE_IS_HUGE;
        record(p.differences, Irreducible::thp_huge_ambiguous, a, page, c, n);
        c = n;
      }
      if (!guessed) {
        const bool present = entry & PM_PRESENT;
        if (!p.pfns_visible && present && !(entry & PM_FILE) && !(entry & PM_MMAP_EXCLUSIVE) &&
            v.private_anonymous() && !(c & PAGE_IS_PFNZERO)) {
          record(p.differences, Irreducible::pfnzero_heuristic, a, page, c, c | PAGE_IS_PFNZERO);
          c |= PAGE_IS_PFNZERO;
        }
        if (!(entry & kPopulated) && !v.uffd_wp() && (c & PAGE_IS_WRITTEN) &&
            block_empty(e, blk, page, pmd)) {
          record(p.differences, Irreducible::written_hidden_pte_table, a, page, c,
                 c & ~PAGE_IS_WRITTEN);
          c &= ~PAGE_IS_WRITTEN;
        }
      }
      if (c != *k) changed.emplace_back(a, c);
    }
  }
  for (auto [a, c] : changed) p.emulated.set(a, a + page, c);
  return p;
}

}  // namespace pagescan::test
