// The category guide's text. Each definition follows kernel-pagemap-scan.md §4 (how the
// kernel computes each bit); `written` gets the most words because it is the one that
// surprises: it means "not write-protected", not "has been written to".
#include "help/category_guide.hpp"

#include <array>
#include <utility>

#include "cli/output.hpp"

namespace pagescan::cli {

namespace {

// Name column: "  soft-dirty  " is the widest.
constexpr std::size_t kNameColumn = 14;

constexpr std::array<std::pair<const char*, const char*>, 9> kDefinitions = {{
    {"wpallowed",
     "the page's VMA is registered for userfaultfd async write-protect (WP_ASYNC), so "
     "writes to it can be tracked; set on every page of such a VMA, holes included."},
    {"written",
     "not write-protected by userfaultfd; NOT \"has been written to\". Only in a "
     "wpallowed VMA does it mean a write since the pages were last re-armed. In a VMA no "
     "one tracks, every present or swapped page is written, and on kernels with the July "
     "2026 fix so is every untouched one: scan and map say when that is what they show."},
    {"file",
     "not anonymous memory: page cache, shmem and memfd, shared anonymous mappings, the "
     "vdso. A private file page that was written (copied on write) is anonymous."},
    {"present", "a page is mapped: including the shared zero page, THPs and the vdso."},
    {"swapped",
     "a non-present entry that is not empty: swapped out, being migrated, or a marker "
     "(guard, userfaultfd write-protect). A swapped-out shmem page is NOT swapped here: "
     "its page-table entry is empty (map shows it from smaps)."},
    {"pfnzero",
     "the shared zero page, mapped by a read fault on untouched private memory; some "
     "kernels map a private page instead ('pagescan features' says which)."},
    {"huge",
     "a PMD-mapped transparent huge page, or a hugetlb page. A THP split into base pages "
     "is not huge."},
    {"soft-dirty",
     "written since soft-dirty was last cleared (clear_refs); Linux 6.8+ built with "
     "CONFIG_MEM_SOFT_DIRTY. A new VMA is soft-dirty on every page until cleared."},
    {"guard",
     "a guard marker (MADV_GUARD_INSTALL): touching the page raises SIGSEGV. Reported "
     "from Linux 6.16; always also swapped and written."},
}};

}  // namespace

std::string category_guide(unsigned width) {
  std::string text = wrap_words(
      "The nine page categories of PAGEMAP_SCAN, as scan, map and --all-of/--any-of/--return "
      "name them:",
      0, width, true);
  text += "\n\n";
  for (const auto& [name, definition] : kDefinitions) {
    std::string label = std::string("  ") + name;
    label.resize(kNameColumn, ' ');
    text += label + wrap_words(definition, kNameColumn, width, true) + "\n";
  }
  text += "\n" +
          wrap_words(
              "In --all-of and --any-of, '!name' inverts a category. Quote it in a "
              "shell, where '!' starts history expansion: --all-of 'present,!file'.",
              0, width, true) +
          "\n";
  return text;
}

}  // namespace pagescan::cli
