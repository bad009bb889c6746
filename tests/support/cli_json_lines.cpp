#include "support/cli_json_lines.hpp"

#include <gtest/gtest.h>

#include <cstdio>

namespace pagescan::test {

std::string hex(std::uint64_t v) {
  char text[32];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(v));
  return text;
}

std::vector<std::string> keys_of(const Json& j) {
  std::vector<std::string> keys;
  for (const auto& item : j.items()) keys.push_back(item.key());
  return keys;
}

Json parse_line(const std::string& line) {
  Json j = Json::parse(line, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: '" << line << "'";
  return j;
}

void target_does(TargetProcess& target, const std::string& command) {
  ASSERT_TRUE(target.send(command));
  ASSERT_EQ(target.read_line(), "done") << command;
}

}  // namespace pagescan::test
