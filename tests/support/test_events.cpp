// Linked into every test executable (an object, not part of the support archive, so its
// static initializer always runs): checks PAGESCAN_REQUIRE's names before any test,
// appends each skipped test with its reason to the file PAGESCAN_SKIP_LOG names, so CI
// can print how many tests skipped, by reason, and is the executables' main(), which
// tells ctest that a run skipped by its exit code.
//
// Why an exit code: gtest_discover_tests() marks a test skipped when "[  SKIPPED ]"
// appears anywhere in its output, even when the test failed, so a failing test that
// prints a child's gtest output (or any text with that marker) would read as skipped. A
// run whose tests all skipped and none failed exits kAllSkippedExitCode instead, and
// tests/CMakeLists.txt makes that code, and nothing in the output, mean "skipped".
//
// Log lines are "Suite.Test<TAB>reason\n", each appended with one write(2) to an O_APPEND
// file, so test processes running in parallel do not interleave within a line.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "support/kernel_facts.hpp"

namespace pagescan::test {

namespace {

// A skip's reason: the message of the test's skip part, or of its suite's (a skip in
// SetUpTestSuite() is recorded on the suite). One line, without gtest's "Skipped" prefix.
std::string skip_reason(const testing::TestResult& result) {
  for (int i = 0; i < result.total_part_count(); ++i) {
    const testing::TestPartResult& part = result.GetTestPartResult(i);
    if (!part.skipped()) continue;
    std::string text = part.message();
    for (char& c : text) {
      if (c == '\n' || c == '\t') c = ' ';
    }
    while (!text.empty() && text.front() == ' ') text.erase(0, 1);
    return text.empty() ? "(no reason given)" : text;
  }
  return "";
}

class SkipLog : public testing::EmptyTestEventListener {
 public:
  explicit SkipLog(std::string path) : path_(std::move(path)) {}

  void OnTestEnd(const testing::TestInfo& test) override {
    if (!test.result()->Skipped()) return;
    std::string reason = skip_reason(*test.result());
    if (reason.empty()) {
      const testing::TestSuite* suite = testing::UnitTest::GetInstance()->current_test_suite();
      if (suite) reason = skip_reason(suite->ad_hoc_test_result());
    }
    if (reason.empty()) reason = "(no reason given)";
    const std::string line =
        std::string(test.test_suite_name()) + "." + test.name() + "\t" + reason + "\n";
    int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    (void)!::write(fd, line.data(), line.size());
    ::close(fd);
  }

 private:
  std::string path_;
};

// Fails the run before any test when PAGESCAN_REQUIRE names a fact nobody knows: a typo
// there would otherwise quietly require nothing.
class RequiredNamesCheck : public testing::Environment {
 public:
  void SetUp() override {
    if (std::string unknown = unknown_required_names(); !unknown.empty()) FAIL() << unknown;
  }
};

[[maybe_unused]] const bool registered = [] {
  testing::AddGlobalTestEnvironment(new RequiredNamesCheck);
  if (const char* path = std::getenv("PAGESCAN_SKIP_LOG"); path && *path) {
    testing::UnitTest::GetInstance()->listeners().Append(new SkipLog(path));
  }
  return true;
}();

}  // namespace

}  // namespace pagescan::test

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  const int status = RUN_ALL_TESTS();
  const testing::UnitTest& run = *testing::UnitTest::GetInstance();
  // successful_test_count() leaves out skipped tests (gtest 1.10+).
  if (status == 0 && run.skipped_test_count() > 0 && run.successful_test_count() == 0) {
    return pagescan::test::kAllSkippedExitCode;
  }
  return status;
}
