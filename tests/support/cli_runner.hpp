// Runs the built pagescan binary and captures what it printed and how it exited.
#pragma once

#include <string>
#include <vector>

namespace pagescan::test {

struct CliRun {
  int exit_code = -1;  // -1: did not exit normally
  std::string out;
  std::string err;
};

// Runs PAGESCAN_CLI_PATH with `args` (no shell), with `env` added to the environment.
CliRun run_cli(const std::vector<std::string>& args, const std::vector<std::string>& env = {});

// The stderr text as one line, or "" when it is not exactly one line.
std::string single_line(const std::string& text);

}  // namespace pagescan::test
