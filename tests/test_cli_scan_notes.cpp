// What `pagescan scan` says beside its answer, through the real binary: the note under the
// table when WRITTEN is set on pages nobody tracks, the --write-protect warning when the
// range has no async write-protected VMA, --max-pages 0 and the help.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "support/child_process.hpp"
#include "support/cli_runner.hpp"
#include "support/error_matrix_state.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"

namespace pagescan::test {
namespace {

using nlohmann::json;

// "0x7f12a000", as the CLI prints addresses.
std::string hex(std::uint64_t v) {
  return hex_address(v);
}

// 8 anonymous pages, the first 4 written; nobody tracks them.
std::vector<std::uint64_t> untracked_layout() {
  Mapping m = Mapping::anonymous(8);
  ::madvise(m.data(), m.length(), MADV_NOHUGEPAGE);
  m.write_pages(0, 4);
  std::vector<std::uint64_t> a = {m.start(), m.end()};
  m.release();
  return a;
}

// 8 anonymous pages registered for async uffd-wp and protected, then 2 written: WRITTEN is
// tracked there. The userfaultfd stays open for the child's life.
std::vector<std::uint64_t> tracked_layout() {
  Mapping m = Mapping::anonymous(8);
  ::madvise(m.data(), m.length(), MADV_NOHUGEPAGE);
  auto* wp = new std::optional<AsyncWp>(AsyncWp::create());  // kept: closing it unregisters
  if (!*wp) return {};
  (*wp)->init(m.data(), m.length());
  m.write_pages(0, 2);
  std::vector<std::uint64_t> a = {m.start(), m.end()};
  m.release();
  return a;
}

// The pages of the regions carrying WRITTEN in a `scan --json` answer.
std::uint64_t written_pages(const json& answer) {
  std::uint64_t pages = 0;
  for (const json& r : answer["regions"]) {
    for (const json& c : r["categories"]) {
      if (c == "written") pages += r["pages"].get<std::uint64_t>();
    }
  }
  return pages;
}

// A child with untracked_layout(), and its pid and range as the CLI takes them.
struct UntrackedChild : ::testing::Test {
  void SetUp() override {
    PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
    child.emplace(untracked_layout);
    pid = std::to_string(child->pid());
    range = hex(child->addresses()[0]) + "-" + hex(child->addresses()[1]);
  }
  std::optional<ChildProcess> child;
  std::string pid, range;
};

const std::string kNoteEnd =
    " lie in VMAs no one tracks (not registered for userfaultfd write-protect), where the "
    "kernel reports every page as written: there, written does not mean the page was "
    "written to.";

}  // namespace

using CliScanNotes = UntrackedChild;

TEST_F(CliScanNotes, WrittenOnUntrackedPagesIsNotedUnderTheTable) {
  CliRun js = run_cli({"scan", pid, "--range", range, "--json"});
  ASSERT_EQ(js.exit_code, 0) << js.describe();
  const std::uint64_t written = written_pages(json::parse(js.out));
  ASSERT_GE(written, 4u) << js.out;
  CliRun table = run_cli({"scan", pid, "--range", range, "--width", "1000"});
  ASSERT_EQ(table.exit_code, 0) << table.describe();
  EXPECT_EQ(table.out_lines().back(),
            "note: " + std::to_string(written) + " of the written pages" + kNoteEnd)
      << table.out;
  // Wrapped at 80 columns, the note keeps its words.
  CliRun narrow = run_cli({"scan", pid, "--range", range, "--width", "80"});
  ASSERT_EQ(narrow.exit_code, 0);
  for (const std::string& line : narrow.out_lines()) {
    // Display columns: the header's '·' is two bytes, one column.
    std::size_t columns = 0;
    for (char c : line) columns += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    EXPECT_LE(columns, 80u) << line;
  }
  EXPECT_NE(narrow.out.find("note: " + std::to_string(written) + " of the written pages"),
            std::string::npos);
  // Nothing WRITTEN reported, nothing to explain.
  CliRun present = run_cli({"scan", pid, "--range", range, "--return", "present"});
  ASSERT_EQ(present.exit_code, 0);
  EXPECT_EQ(present.out.find("note:"), std::string::npos) << present.out;
}

TEST(CliScanTrackedMemory, WrittenPagesGetNoNoteAndWriteProtectNoWarning) {
  PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
  PAGESCAN_REQUIRE_FACT(Fact::uffd_wp_async);
  ChildProcess child(tracked_layout);
  ASSERT_EQ(child.addresses().size(), 2u) << "the child could not register async uffd-wp";
  const std::string pid = std::to_string(child.pid());
  const std::string range = hex(child.addresses()[0]) + "-" + hex(child.addresses()[1]);
  CliRun js = run_cli({"scan", pid, "--range", range, "--json"});
  ASSERT_EQ(js.exit_code, 0) << js.describe();
  EXPECT_EQ(written_pages(json::parse(js.out)), 2u) << js.out;
  CliRun table = run_cli({"scan", pid, "--range", range});
  ASSERT_EQ(table.exit_code, 0) << table.describe();
  EXPECT_EQ(table.out.find("note:"), std::string::npos) << table.out;
  // The range is async write-protected: --write-protect re-arms the 2 pages, no warning.
  CliRun wp =
      run_cli({"scan", pid, "--range", range, "--all-of", "written", "--write-protect", "--json"});
  ASSERT_EQ(wp.exit_code, 0) << wp.describe();
  EXPECT_EQ(wp.err, "");
  EXPECT_EQ(json::parse(wp.out)["totals"]["pages"], 2) << wp.out;
  // Nothing written any more: no regions, yet still no warning (the range is protectable).
  CliRun again =
      run_cli({"scan", pid, "--range", range, "--all-of", "written", "--write-protect", "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.describe();
  EXPECT_TRUE(json::parse(again.out)["regions"].empty()) << again.out;
  EXPECT_EQ(again.err, "");
}

TEST(CliScanWriteProtect, OnSelfWithoutTrackedMemoryWarnsOnStderr) {
  PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
  CliRun run = run_cli({"scan", "self", "--all-of", "written", "--write-protect", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  EXPECT_TRUE(json::parse(run.out)["regions"].empty());
  const std::string line = single_line(run.err);
  EXPECT_EQ(line.rfind("pagescan: warning: --write-protect protected nothing: no VMA in [0x0-", 0),
            0u)
      << run.err;
  const std::string end =
      "is registered for async userfaultfd write-protect, and the kernel skips the others; the "
      "process itself must register the range (userfaultfd with UFFD_FEATURE_WP_ASYNC, e.g. "
      "pagescan's WriteWatch with the uffd engine)";
  ASSERT_GE(line.size(), end.size());
  EXPECT_EQ(line.substr(line.size() - end.size()), end) << line;
}

TEST_F(CliScanNotes, MaxPagesZeroMeansNoLimitAsTheHelpSays) {
  CliRun all = run_cli({"scan", pid, "--range", range, "--json"});
  CliRun zero = run_cli({"scan", pid, "--range", range, "--max-pages", "0", "--json"});
  ASSERT_EQ(all.exit_code, 0) << all.describe();
  ASSERT_EQ(zero.exit_code, 0) << zero.describe();
  EXPECT_EQ(json::parse(zero.out)["complete"], true);
  EXPECT_EQ(json::parse(zero.out)["totals"], json::parse(all.out)["totals"]);
  CliRun help = run_cli({"scan", "--help", "--width", "1000"});
  ASSERT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("(0, the default: no limit)"), std::string::npos) << help.out;
  for (const char* text :
       {"--with-vma", "--vma NAME|ADDR", "--vma heap --with-vma",
        "written means \"not write-protected by userfaultfd\"", "'!pfnzero,!file'"}) {
    EXPECT_NE(help.out.find(text), std::string::npos) << text << "\n" << help.out;
  }
}

}  // namespace pagescan::test
