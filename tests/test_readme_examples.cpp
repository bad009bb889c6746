// The README's examples run as written: every line of a ```sh block that starts with
// `pagescan ` is run by bash, as a person pasting it would (history expansion on, so an
// unquoted '!file' fails as it does at a prompt; pipefail, so a pagescan failing before a
// pipe is seen), in a fresh directory, with the built binary first on PATH. Each must exit
// 0, print something and say nothing on stderr.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "pagescan/categories.hpp"
#include "support/cli_runner.hpp"
#include "support/temp_dir.hpp"

namespace pagescan::test {
namespace {

std::vector<std::string> readme_examples() {
  std::ifstream in(std::string(PAGESCAN_SOURCE_DIR) + "/README.md");
  std::vector<std::string> examples;
  bool in_sh = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("```", 0) == 0) {
      in_sh = !in_sh && line == "```sh";
      continue;
    }
    if (in_sh && line.rfind("pagescan ", 0) == 0) examples.push_back(line);
  }
  return examples;
}

std::string directory_of(const std::string& path) {
  return path.substr(0, path.rfind('/'));
}

TEST(ReadmeExamples, TheReadmeHasExamplesOfEveryCommand) {
  std::string all;
  for (const std::string& line : readme_examples()) all += line + "\n";
  for (const char* command : {"scan", "map", "features", "demo", "watch", "help"}) {
    EXPECT_NE(all.find(std::string("pagescan ") + command), std::string::npos)
        << "no example of " << command << " in:\n"
        << all;
  }
}

// The README's category table defines the categories the library knows, each once, as
// `pagescan help categories` does.
TEST(ReadmeExamples, TheCategoryTableDefinesEveryCategoryOnce) {
  std::ifstream in(std::string(PAGESCAN_SOURCE_DIR) + "/README.md");
  std::vector<std::string> rows;
  bool in_section = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("## ", 0) == 0) in_section = line == "## Page categories";
    if (in_section && line.rfind("| `", 0) == 0) rows.push_back(line);
  }
  ASSERT_EQ(rows.size(), kAllCategories.size()) << "rows of the README's category table";
  for (Category c : kAllCategories) {
    const std::string cell = "| `" + std::string(to_string(c)) + "` |";
    std::size_t found = 0;
    for (const std::string& row : rows) found += row.rfind(cell, 0) == 0;
    EXPECT_EQ(found, 1u) << to_string(c);
  }
}

TEST(ReadmeExamples, EachRunsAsWrittenInBash) {
  const std::vector<std::string> examples = readme_examples();
  ASSERT_FALSE(examples.empty()) << "no ```sh lines starting with 'pagescan ' in README.md";
  for (const std::string& example : examples) {
    SCOPED_TRACE(example);
    TempDir dir;
    {
      std::ofstream script(dir / "example.sh");
      script << "set -o pipefail\ncd " << dir.path() << "\n" << example << "\n";
    }
    const std::string path = "PATH=" + directory_of(PAGESCAN_CLI_PATH) + ":/usr/bin:/bin";
    CliRun run = run_program("/bin/bash", {"-H", "-o", "history", dir / "example.sh"}, {path}, 120);
    EXPECT_EQ(run.exit_code, 0) << run.describe();
    EXPECT_EQ(run.err, "") << run.describe();
    EXPECT_FALSE(run.out.empty()) << run.describe();
  }
}

}  // namespace
}  // namespace pagescan::test
