// The recipes of the differential-test scenarios, by name (scenarios.hpp lists them).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "support/scenarios.hpp"

namespace pagescan::test::recipes {

struct Recipe {
  std::function<void(Scenario&)> build;
  std::uint64_t hugetlb_pages = 0;  // default-size huge pages one build needs
};

const std::map<std::string, Recipe>& scan_recipes();
const std::map<std::string, Recipe>& write_protect_recipes();

}  // namespace pagescan::test::recipes
