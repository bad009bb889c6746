// pagescan demo run as a real binary: every part of the workload shown (or a one-line
// "not available" with the reason), each part's map counts equal to what the workload
// says it did, the write-tracking rounds collecting exactly the pages written, the
// hugetlb pool put back (also when the demo is interrupted), swapped pages when swap is
// active and a reason when it is not, and no process left behind.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "pagescan/features.hpp"
#include "pagescan/watch.hpp"
#include "support/cli_process_tree.hpp"
#include "support/cli_runner.hpp"
#include "support/io.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/system_settings.hpp"
#include "support/watch_helpers.hpp"

namespace pagescan::test {
namespace {

using nlohmann::json;

const std::vector<std::string> kParts = {"written", "zero",    "untouched", "thp",    "hugetlb",
                                         "file",    "swapped", "guard",     "tracked"};
const char* kNrHugepages = "/proc/sys/vm/nr_hugepages";

long read_long(const char* path) {
  std::ifstream in(path);
  long v = -1;
  in >> v;
  return v;
}

struct DemoRun {
  CliRun run;
  std::vector<pid_t> leftovers;  // processes the demo left behind (killed since)
};

// Runs the demo as a subreaper, so whatever it leaves behind becomes ours to see.
DemoRun run_demo(const std::vector<std::string>& extra = {},
                 const std::vector<std::string>& env = {}) {
  LeftoverCatcher catcher;
  std::vector<std::string> args = {"demo"};
  args.insert(args.end(), extra.begin(), extra.end());
  DemoRun d{run_cli(args, env), {}};
  d.leftovers = catcher.leftovers();
  return d;
}

const json& part(const json& demo, const std::string& name) {
  for (const json& p : demo["parts"]) {
    if (p["name"] == name) return p;
  }
  static const json none;
  ADD_FAILURE() << "no part named " << name;
  return none;
}

// A part's counts summed over the map's VMAs that overlap it, in pages (null columns
// stay null).
json part_counts(const json& demo, const json& p) {
  const std::uint64_t start = std::stoull(p["start"].get<std::string>(), nullptr, 16);
  const std::uint64_t end = std::stoull(p["end"].get<std::string>(), nullptr, 16);
  json sum = json::object();
  for (const json& v : demo["map"]["vmas"]) {
    const std::uint64_t vs = std::stoull(v["start"].get<std::string>(), nullptr, 16);
    const std::uint64_t ve = std::stoull(v["end"].get<std::string>(), nullptr, 16);
    if (!(vs < end && start < ve)) continue;
    for (auto& [name, count] : v["counts"].items()) {
      if (count.is_null()) {
        if (!sum.contains(name)) sum[name] = nullptr;
      } else {
        sum[name] =
            (sum.contains(name) && !sum[name].is_null() ? sum[name].get<std::uint64_t>() : 0) +
            count.get<std::uint64_t>();
      }
    }
  }
  return sum;
}

std::set<std::uint64_t> pages_of(const json& spans) {
  std::set<std::uint64_t> pages;
  for (const json& s : spans) {
    for (std::uint64_t i = s["first"]; i < s["end"].get<std::uint64_t>(); ++i) pages.insert(i);
  }
  return pages;
}

// The text with every run of spaces and newlines made one space.
std::string squeezed(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : c;
  }
  return out;
}

// The output's lines with each continuation line (indented by two spaces after a line of
// the demo's own text) joined to the line it continues.
std::vector<std::string> joined_lines(const CliRun& run) {
  std::vector<std::string> lines;
  for (const std::string& l : run.out_lines()) {
    if (!lines.empty() && l.rfind("  ", 0) == 0 && l.size() > 2 && l[2] != ' ' &&
        lines.back().rfind("round ", 0) == 0) {
      lines.back() += " " + l.substr(2);
    } else {
      lines.push_back(l);
    }
  }
  return lines;
}

struct CliDemo : ::testing::Test {
  static void SetUpTestSuite() { (void)features(); }  // probe before forking children
  void SetUp() override { PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan); }
};

TEST_F(CliDemo, RunsWithoutArgumentsAndLeavesNoProcessBehind) {
  DemoRun d = run_demo();
  EXPECT_TRUE(d.leftovers.empty()) << "the demo left " << d.leftovers.size() << " process(es)";
  ASSERT_EQ(d.run.exit_code, 0) << d.run.describe();
  EXPECT_EQ(d.run.err, "") << d.run.describe();
}

// The text a newcomer reads: the features, a map row (and heat strip) for each part or a
// one-line reason, and both tracking rounds.
TEST_F(CliDemo, TextShowsFeaturesEveryPartAndTheTrackingRounds) {
  DemoRun d = run_demo();
  ASSERT_EQ(d.run.exit_code, 0) << d.run.describe();
  DemoRun j = run_demo({"--json"});
  ASSERT_EQ(j.run.exit_code, 0) << j.run.describe();
  json demo = json::parse(j.run.out);
  const std::vector<std::string> lines = d.run.out_lines();
  auto has_line = [&](const std::string& prefix) {
    for (const std::string& l : lines) {
      if (l.rfind(prefix, 0) == 0) return true;
    }
    return false;
  };
  for (const char* row : {"PAGEMAP_SCAN ", "scan backend ", "write-tracking engine "}) {
    EXPECT_TRUE(has_line(row)) << row << "\n" << d.run.out;
  }
  EXPECT_TRUE(has_line("ADDRESS ")) << d.run.out;
  for (const std::string& name : kParts) {
    SCOPED_TRACE(name);
    // The two runs build the same layout; availability can only differ if hugetlb or
    // swap changed in between, so the text is checked against either form.
    const bool row = has_line("  " + name + " ");
    bool reason = false;
    for (const std::string& l : lines) {
      if (l.rfind(name + ": not available: ", 0) == 0 && l.size() > name.size() + 17) reason = true;
    }
    EXPECT_TRUE(row != reason) << "a part shows either a row or a reason:\n" << d.run.out;
    // The THP's counts may differ between two runs (a free 2 MiB block or not); the
    // other stories repeat in both. Wrapped or not, the words are the same.
    if (part(demo, name)["available"] == true && name != "thp") {
      EXPECT_NE(squeezed(d.run.out).find(squeezed(part(demo, name)["story"].get<std::string>())),
                std::string::npos)
          << d.run.out;
    }
  }
  // Parts every kernel with PAGEMAP_SCAN can show.
  for (const char* always : {"written", "zero", "untouched", "file", "tracked"}) {
    EXPECT_EQ(part(demo, always)["available"], true) << always << ": " << part(demo, always);
  }
  const std::string thp_mode = kernel_thp_mode();
  EXPECT_EQ(part(demo, "thp")["available"], thp_mode == "madvise" || thp_mode == "always");
  EXPECT_EQ(part(demo, "guard")["available"], kernel_has(Fact::guard_regions))
      << kernel_fact(Fact::guard_regions).finding;
  EXPECT_TRUE(has_line("round 1: wrote ")) << d.run.out;
  EXPECT_TRUE(has_line("round 2: wrote ")) << d.run.out;
}

// Each part's counts in the map equal what the workload reports doing there.
TEST_F(CliDemo, EachPartsMapCountsEqualWhatTheWorkloadDid) {
  DemoRun d = run_demo({"--json"});
  ASSERT_EQ(d.run.exit_code, 0) << d.run.describe();
  json demo = json::parse(d.run.out);
  const std::uint64_t page = page_size();
  struct Expect {
    std::string part;
    std::string column;
    bool of_acted;      // the count equals the part's "acted" (else: the part's page count)
    bool none = false;  // the count is 0 whatever the workload did
  };
  // The zero part's read pages are pfnzero only where read faults map the zero page.
  const bool no_zero_page = !kernel_has(Fact::zero_page);
  const std::vector<Expect> expectations = {
      {"written", "present", true},  {"zero", "pfnzero", true, no_zero_page},
      {"zero", "present", true},     {"thp", "present", false},
      {"hugetlb", "present", false}, {"hugetlb", "huge", false},
      {"file", "present", true},     {"file", "file", true},
      {"swapped", "swapped", true},  {"guard", "guard", true}};
  for (const Expect& e : expectations) {
    SCOPED_TRACE(e.part + " " + e.column);
    const json& p = part(demo, e.part);
    if (p["available"] != true) continue;  // its reason is checked elsewhere
    json counts = part_counts(demo, p);
    ASSERT_TRUE(counts.contains(e.column) && !counts[e.column].is_null()) << counts;
    if (e.none) {
      EXPECT_EQ(counts[e.column], 0) << p << "\n" << kernel_fact(Fact::zero_page).finding;
    } else {
      EXPECT_EQ(counts[e.column], e.of_acted ? p["acted"] : p["pages"]) << p;
    }
  }
  const json& untouched = part(demo, "untouched");
  EXPECT_EQ(part_counts(demo, untouched)["present"], 0);
  const json& swapped = part(demo, "swapped");
  if (swapped["available"] == true) {
    EXPECT_EQ(part_counts(demo, swapped)["present"],
              swapped["pages"].get<std::uint64_t>() - swapped["acted"].get<std::uint64_t>());
  }
  // A THP the kernel did not give is said, not hidden.
  const json& thp = part(demo, "thp");
  if (thp["available"] == true && part_counts(demo, thp)["huge"] != thp["pages"]) {
    EXPECT_FALSE(demo["findings"].empty()) << "THP not huge and no finding says so";
  }
  // WRITTEN is tracked only under uffd-wp: there the written count is round 1's pages.
  const json& tracked = part(demo, "tracked");
  json tracked_counts = part_counts(demo, tracked);
  if (tracked["engine"] == "uffd") {
    EXPECT_EQ(tracked_counts["written"], tracked["acted"]);
  } else {
    EXPECT_TRUE(tracked_counts["written"].is_null()) << tracked_counts;
  }
  EXPECT_EQ(tracked_counts["present"], tracked["acted"]);
  EXPECT_EQ(demo["map"]["page_size"], page);
}

// Each part's story states only what that run measured: every count it names is the map's
// count over the part's VMAs in the same JSON document, and the zero part says "shared
// zero page" only where pfnzero counted its pages.
TEST_F(CliDemo, EachStoryStatesOnlyWhatItsOwnRunCounted) {
  DemoRun d = run_demo({"--json"});
  ASSERT_EQ(d.run.exit_code, 0) << d.run.describe();
  json demo = json::parse(d.run.out);
  for (const json& p : demo["parts"]) {
    if (p["available"] != true) continue;
    const std::string name = p["name"], story = p["story"];
    SCOPED_TRACE(name + ": " + story);
    json counts = part_counts(demo, p);
    auto n = [&](const char* column) {
      return std::to_string(counts[column].get<std::uint64_t>());
    };
    std::vector<std::string> claims;
    if (name == "written" || name == "untouched" || name == "file") {
      claims.push_back("; " + n("present") + " present");
    } else if (name == "hugetlb") {
      claims.push_back("; " + n("present") + " pages present");
    } else if (name == "swapped") {
      claims.push_back("; " + n("swapped") + " SWAPPED");
    } else if (name == "guard") {
      claims.push_back(counts["guard"] == counts["swapped"]
                           ? ": " + n("guard") + " show as GUARD and as SWAPPED"
                           : ": " + n("guard") + " GUARD, " + n("swapped") + " SWAPPED");
    } else if (name == "tracked" && counts["swapped"] != 0) {
      claims.push_back("; " + n("swapped") + " SWAPPED");
    } else if (name == "thp") {
      claims.push_back(counts["huge"] == p["pages"] ? ": one huge page"
                       : counts["huge"] == 0        ? ": none huge"
                                                    : ": " + n("huge") + " pages huge");
    } else if (name == "zero") {
      const bool none = counts["pfnzero"] == 0;
      const bool all = counts["pfnzero"] == p["acted"];
      if (none) claims.push_back("each got a private page: none is pfnzero");
      if (all) claims.push_back("each maps the shared zero page");
      if (none) EXPECT_EQ(story.find("zero page"), std::string::npos);
      if (!all) EXPECT_EQ(story.find("each maps"), std::string::npos);
    }
    for (const std::string& claim : claims) {
      EXPECT_NE(story.find(claim), std::string::npos) << "expected '" << claim << "'; " << counts;
    }
  }
}

// The text's zero part says what this kernel does on a read fault (the tests' own probe).
TEST_F(CliDemo, TextZeroPartFollowsWhatReadFaultsMapHere) {
  DemoRun d = run_demo();
  ASSERT_EQ(d.run.exit_code, 0) << d.run.describe();
  const std::string text = squeezed(d.run.out);
  const std::string finding = kernel_fact(Fact::zero_page).finding;
  if (kernel_has(Fact::zero_page)) {
    EXPECT_NE(text.find("only read: each maps the shared zero page"), std::string::npos)
        << finding << "\n"
        << d.run.out;
  } else {
    EXPECT_NE(text.find("only read; each got a private page: none is pfnzero"), std::string::npos)
        << finding << "\n"
        << d.run.out;
    EXPECT_EQ(text.find("shared zero page"), std::string::npos) << finding << "\n" << d.run.out;
  }
}

// collect() returns exactly what the workload wrote, round after round: re-arming works
// (round 1's pages are not reported again unless rewritten).
TEST_F(CliDemo, TrackingRoundsCollectExactlyWhatTheChildWrote) {
  DemoRun d = run_demo({"--json"});
  ASSERT_EQ(d.run.exit_code, 0) << d.run.describe();
  json demo = json::parse(d.run.out);
  const json& t = demo["tracking"];
  ASSERT_EQ(t["available"], true) << t;
  if (t["engine"] == "everything") GTEST_SKIP() << "the 'everything' engine reports every page";
  ASSERT_EQ(t["rounds"].size(), 2u) << t;
  EXPECT_EQ(part(demo, "tracked")["acted"], t["rounds"][0]["wrote_pages"]);
  for (const json& round : t["rounds"]) {
    SCOPED_TRACE(round.dump());
    EXPECT_GT(round["wrote_pages"].get<std::uint64_t>(), 0u);
    EXPECT_EQ(pages_of(round["collected"]), pages_of(round["wrote"]));
    EXPECT_EQ(round["collected_pages"], round["wrote_pages"]);
    EXPECT_EQ(round["more"], false);
  }
  // The rounds prove re-arming only if round 1 wrote pages round 2 did not.
  std::set<std::uint64_t> first = pages_of(t["rounds"][0]["wrote"]);
  std::set<std::uint64_t> second = pages_of(t["rounds"][1]["wrote"]);
  bool only_first = false;
  for (std::uint64_t p : first) only_first = only_first || !second.count(p);
  EXPECT_TRUE(only_first);

  // The text says the same numbers.
  DemoRun text = run_demo();
  ASSERT_EQ(text.run.exit_code, 0) << text.run.describe();
  for (std::size_t i = 0; i < 2; ++i) {
    const json& round = t["rounds"][i];
    std::string expected = "round " + std::to_string(i + 1) + ": wrote " +
                           std::to_string(round["wrote_pages"].get<std::uint64_t>()) + " pages (";
    std::string collected = "collect() returned exactly these " +
                            std::to_string(round["collected_pages"].get<std::uint64_t>());
    bool found = false;
    for (const std::string& l : joined_lines(text.run)) {
      if (l.rfind(expected, 0) == 0 && l.find(collected) != std::string::npos) found = true;
    }
    EXPECT_TRUE(found) << expected << " ... " << collected << "\n" << text.run.out;
  }
}

// The rounds hold with each real engine, and the demo names the one it used.
TEST_F(CliDemo, ForcedMprotectEngineTracksExactlyToo) {
  PAGESCAN_SKIP_UNLESS_ENGINE(WatchEngine::mprotect);
  // An inherited value would win over ours (getenv takes the first).
  const char* inherited = std::getenv("PAGESCAN_WATCH_ENGINE");
  const std::string saved = inherited ? inherited : "";
  ::unsetenv("PAGESCAN_WATCH_ENGINE");
  DemoRun d = run_demo({"--json"}, {"PAGESCAN_WATCH_ENGINE=mprotect"});
  if (inherited) ::setenv("PAGESCAN_WATCH_ENGINE", saved.c_str(), 1);
  ASSERT_EQ(d.run.exit_code, 0) << d.run.describe();
  EXPECT_TRUE(d.leftovers.empty());
  json demo = json::parse(d.run.out);
  const json& t = demo["tracking"];
  ASSERT_EQ(t["available"], true) << t;
  EXPECT_EQ(t["engine"], "mprotect");
  for (const json& round : t["rounds"]) {
    EXPECT_EQ(pages_of(round["collected"]), pages_of(round["wrote"])) << round;
  }
}

// Swap on (a temporary swapfile, added by this test, never by the demo): pages paged out
// show as SWAPPED.
TEST_F(CliDemo, SwappedPagesShowWhenSwapIsActive) {
  PAGESCAN_REQUIRE_FACT(Fact::swap);  // active, or a swapfile can be added (root)
  SwapSpace swap;
  ASSERT_TRUE(swap.ok()) << swap.why_not();
  DemoRun d = run_demo({"--json"});
  ASSERT_EQ(d.run.exit_code, 0) << d.run.describe();
  json demo = json::parse(d.run.out);
  const json& p = part(demo, "swapped");
  ASSERT_EQ(p["available"], true) << p;
  EXPECT_GT(p["acted"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(part_counts(demo, p)["swapped"], p["acted"]);
}

// Swap off: one line says so, and the demo does not add any.
TEST_F(CliDemo, WithoutSwapOneLineSaysWhy) {
  if (meminfo_value("SwapTotal").value_or(0) > 0) {
    GTEST_SKIP() << "swap is active on this machine (the other branch is tested)";
  }
  DemoRun d = run_demo();
  ASSERT_EQ(d.run.exit_code, 0) << d.run.describe();
  EXPECT_NE(d.run.out.find("\nswapped: not available: no swap is active"), std::string::npos)
      << d.run.out;
  EXPECT_EQ(meminfo_value("SwapTotal").value_or(0), 0u) << "the demo added swap";
}

// vm.nr_hugepages reads the same after the demo as before. From 0 (as root) the demo
// borrows one page, and the pool's pages are all returned once the workload is gone.
TEST_F(CliDemo, HugetlbPoolIsPutBack) {
  if (kernel_hugetlb_page_size() == 0) GTEST_SKIP() << "no Hugepagesize: kernel without hugetlb";
  const long before = read_long(kNrHugepages);
  ASSERT_GE(before, 0);
  DemoRun d = run_demo({"--json"});
  ASSERT_EQ(d.run.exit_code, 0) << d.run.describe();
  EXPECT_EQ(read_long(kNrHugepages), before);
  json demo = json::parse(d.run.out);
  const json& p = part(demo, "hugetlb");
  if (before == 0) {
    EXPECT_EQ(meminfo_value("HugePages_Total"), 0u) << "the borrowed page was not freed";
    if (::geteuid() == 0) {
      EXPECT_TRUE(p["available"] == true ||
                  p["reason"].get<std::string>().find("contiguous") != std::string::npos)
          << p;
    } else {
      EXPECT_EQ(p["available"], false) << p;
    }
  }
  if (p["available"] == false) {
    EXPECT_FALSE(p["reason"].get<std::string>().empty());
  }
}

// Runs the demo traced (ptrace), stopping it at every system call, and sends SIGTERM at
// the first stop where the pool reads raised: the raise is a write(2), so the demo is
// held at that call's exit stop while the signal is queued, then let go. No window and no
// polling on time: the demo's own system calls are the events. Returns the demo's wait
// status; `caught` says whether the pool was ever seen raised.
int run_demo_interrupted_once_raised(const std::string& output_path, bool& caught) {
  caught = false;
  char* argv[] = {const_cast<char*>(PAGESCAN_CLI_PATH), const_cast<char*>("demo"), nullptr};
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    // Async-signal-safe calls only: the test process has threads.
    int out = ::open(output_path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (out < 0 || ::dup2(out, STDOUT_FILENO) < 0) ::_exit(126);
    if (::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) ::_exit(125);
    ::execve(PAGESCAN_CLI_PATH, argv, environ);  // stops with SIGTRAP once executed
    ::_exit(127);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status)) return status;
  ::ptrace(PTRACE_SETOPTIONS, pid, nullptr, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL);
  int deliver = 0;
  for (;;) {
    if (::ptrace(PTRACE_SYSCALL, pid, nullptr, deliver) != 0) break;
    deliver = 0;
    if (::waitpid(pid, &status, 0) != pid) break;
    if (WIFEXITED(status) || WIFSIGNALED(status)) return status;
    if (!WIFSTOPPED(status)) continue;
    const int sig = WSTOPSIG(status);
    if (sig == (SIGTRAP | 0x80)) {  // a system call stop
      if (read_long(kNrHugepages) == 1) {
        caught = true;
        ::kill(pid, SIGTERM);  // pending until it runs again
        ::ptrace(PTRACE_DETACH, pid, nullptr, 0);
        break;
      }
    } else if ((status >> 16) == 0) {
      deliver = sig;  // the demo's own signals (SIGCHLD, SIGPIPE...) go through
    }
  }
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// Interrupted while the pool is raised, the demo still puts it back and dies of the
// signal, leaving no workload behind.
TEST_F(CliDemo, InterruptedWhileThePoolIsRaisedPutsItBack) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to raise vm.nr_hugepages";
  PAGESCAN_REQUIRE_FACT(Fact::hugetlb);
  if (read_long(kNrHugepages) != 0) GTEST_SKIP() << "vm.nr_hugepages is not 0: the demo leaves it";
  char output[] = "/tmp/pagescan-demo-XXXXXX";
  int fd = ::mkstemp(output);
  ASSERT_GE(fd, 0);
  ::close(fd);
  bool caught = false;
  int status = 0;
  {
    LeftoverCatcher catcher;
    status = run_demo_interrupted_once_raised(output, caught);
    std::vector<pid_t> left = catcher.leftovers_once_exited();
    EXPECT_TRUE(left.empty()) << "the demo left its workload behind";
  }
  std::ifstream in(output);
  const std::string shown((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ::unlink(output);
  EXPECT_EQ(read_long(kNrHugepages), 0) << "vm.nr_hugepages not put back";
  EXPECT_EQ(meminfo_value("HugePages_Total"), 0u) << "the borrowed page was not freed";
  ASSERT_TRUE(caught) << "the demo never raised vm.nr_hugepages; status " << status
                      << "; it showed:\n"
                      << shown;
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << "status " << status;
}

}  // namespace
}  // namespace pagescan::test
