// Page categories of PAGEMAP_SCAN (the kernel's PAGE_IS_* bits): names, sets, parsing.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "pagescan/result.hpp"

namespace pagescan {

// The kernel's bit values (include/uapi/linux/fs.h). soft_dirty needs 6.8, guard 6.16.
enum class Category : std::uint64_t {
  wpallowed = 1u << 0,   // the VMA is registered for async userfaultfd write-protect
  written = 1u << 1,     // the entry is not uffd write-protected (not "was written"!)
  file = 1u << 2,        // page cache, shmem, shared anonymous or special page
  present = 1u << 3,     // mapped in the page table
  swapped = 1u << 4,     // non-present, non-empty entry: swap, migration, markers
  pfnzero = 1u << 5,     // the shared zero page or the huge zero page
  huge = 1u << 6,        // PMD-mapped THP or hugetlb entry
  soft_dirty = 1u << 7,  // soft-dirty PTE bit or VM_SOFTDIRTY VMA
  guard = 1u << 8,       // MADV_GUARD_INSTALL marker
};

inline constexpr std::size_t kCategoryCount = 9;

// The nine categories in bit order.
inline constexpr std::array<Category, kCategoryCount> kAllCategories = {
    Category::wpallowed, Category::written,    Category::file,
    Category::present,   Category::swapped,    Category::pfnzero,
    Category::huge,      Category::soft_dirty, Category::guard};

// Lowercase kernel name: "wpallowed", ..., "soft-dirty", "guard".
std::string_view to_string(Category category);

// A set of categories. It can also hold bits no kernel knows, so that requests with
// unknown bits can be built and rejected exactly as the kernel rejects them.
class Categories {
 public:
  constexpr Categories() = default;
  constexpr Categories(Category c) : bits_(static_cast<std::uint64_t>(c)) {}
  static constexpr Categories from_bits(std::uint64_t bits) {
    Categories c;
    c.bits_ = bits;
    return c;
  }
  // Every category pagescan knows (0x1ff).
  static constexpr Categories all_known() { return from_bits(0x1ff); }

  constexpr std::uint64_t bits() const { return bits_; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr bool contains(Categories other) const { return (bits_ & other.bits_) == other.bits_; }
  constexpr bool intersects(Categories other) const { return (bits_ & other.bits_) != 0; }
  // Bits outside the nine known categories.
  constexpr Categories unknown() const { return from_bits(bits_ & ~all_known().bits_); }

  friend constexpr Categories operator|(Categories a, Categories b) {
    return from_bits(a.bits_ | b.bits_);
  }
  friend constexpr Categories operator&(Categories a, Categories b) {
    return from_bits(a.bits_ & b.bits_);
  }
  friend constexpr Categories operator^(Categories a, Categories b) {
    return from_bits(a.bits_ ^ b.bits_);
  }
  // Complement within the known categories.
  constexpr Categories operator~() const { return from_bits(~bits_ & all_known().bits_); }
  constexpr Categories& operator|=(Categories o) { return *this = *this | o; }
  constexpr Categories& operator&=(Categories o) { return *this = *this & o; }
  friend constexpr bool operator==(Categories a, Categories b) = default;

 private:
  std::uint64_t bits_ = 0;
};

constexpr Categories operator|(Category a, Category b) {
  return Categories(a) | Categories(b);
}

// Comma list in bit order ("written,present"); "" for the empty set; unknown bits as 0x... .
std::string to_string(Categories categories);

// Parses one category name (as printed by to_string; "soft_dirty" and upper case accepted).
Result<Category> parse_category(std::string_view name);

// A parsed filter list such as "present,!file": `set` must be set, `clear` must be clear.
struct CategoryFilter {
  Categories set;
  Categories clear;
  // All categories named, either sense.
  Categories named() const { return set | clear; }
};

// Parses a comma-separated list; "!" before a name inverts it. "all" names every known
// category (only without "!"). Errors name the bad element and list the valid names.
// A name given both plain and inverted is an error.
Result<CategoryFilter> parse_category_filter(std::string_view list);

// Parses a list without inversion ("written,present" or "all").
Result<Categories> parse_categories(std::string_view list);

}  // namespace pagescan
