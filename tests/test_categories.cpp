// Category names, printing and parsing of filter lists.
#include <gtest/gtest.h>

#include "pagescan/categories.hpp"
#include "pagescan/scan.hpp"

using namespace pagescan;

TEST(Categories, NamesAreTheKernelsLowercased) {
  EXPECT_EQ(to_string(Category::soft_dirty), "soft-dirty");
  EXPECT_EQ(to_string(Category::pfnzero), "pfnzero");
  EXPECT_EQ(to_string(Categories::all_known()),
            "wpallowed,written,file,present,swapped,pfnzero,huge,soft-dirty,guard");
}

TEST(Categories, PrintsInBitOrderWithUnknownBitsInHex) {
  EXPECT_EQ(to_string(Category::present | Category::written), "written,present");
  EXPECT_EQ(to_string(Categories::from_bits(0x1008)), "present,0x1000");
  EXPECT_EQ(to_string(Categories()), "");
}

TEST(Categories, ParsesEveryNameAndRoundTrips) {
  for (Category c : kAllCategories) {
    auto parsed = parse_category(to_string(c));
    ASSERT_TRUE(parsed) << to_string(c);
    EXPECT_EQ(*parsed, c);
  }
  EXPECT_EQ(*parse_category("SOFT_DIRTY"), Category::soft_dirty);
}

TEST(Categories, FilterListWithInversion) {
  auto f = parse_category_filter("present, !file,!pfnzero");
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(f->set, Categories(Category::present));
  EXPECT_EQ(f->clear, Category::file | Category::pfnzero);
}

TEST(Categories, UnknownNameIsNamedInTheError) {
  auto f = parse_category_filter("present,dirty");
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(f.error().message().find("'dirty'"), std::string::npos) << f.error().message();
  EXPECT_NE(f.error().message().find("soft-dirty"), std::string::npos);
}

TEST(Categories, ContradictoryListIsRejected) {
  auto f = parse_category_filter("present,!present");
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message().find("both plain and inverted"), std::string::npos);
  EXPECT_FALSE(parse_category_filter(""));
  EXPECT_FALSE(parse_category_filter("present,,file"));
  EXPECT_FALSE(parse_category_filter("!all"));
  EXPECT_FALSE(parse_categories("!file"));
}

TEST(Categories, AllNamesEveryCategory) {
  auto c = parse_categories("all");
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, Categories::all_known());
}

TEST(ScanRequestBuilder, CommonFiltersSetTheKernelMasks) {
  auto r = ScanRequest::over(0x1000, 0x9000)
               .any_of(Category::present | Category::swapped)
               .none_of(Category::pfnzero | Category::file);
  EXPECT_EQ(r.category_anyof_mask, Category::present | Category::swapped);
  EXPECT_EQ(r.category_mask, Category::pfnzero | Category::file);
  EXPECT_EQ(r.category_inverted, Category::pfnzero | Category::file);
}

TEST(ScanRequestBuilder, MakeRequestRejectsASenseConflictAcrossLists) {
  auto all = *parse_category_filter("present");
  auto any = *parse_category_filter("!present,swapped");
  auto r = make_request(0, 0x1000, all, any, {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("present"), std::string::npos);
}
