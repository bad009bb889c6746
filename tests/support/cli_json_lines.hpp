// What the tests of long-running commands over another process (watch, dump) share: their
// JSON Lines read line by line, addresses as the CLI writes them, the pagescan binary run
// with pipes, and a target told to do something.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/piped_program.hpp"
#include "support/target_process.hpp"

namespace pagescan::test {

using Json = nlohmann::ordered_json;

// "0x7f12a000", as the CLI writes addresses.
std::string hex(std::uint64_t v);
// The keys of an object, in order.
std::vector<std::string> keys_of(const Json& j);
// A line of JSON Lines, parsed (a discarded value, failing the test, when it is not JSON).
Json parse_line(const std::string& line);

// pagescan with pipes (COLUMNS unset), for commands that go on round after round.
struct Pagescan : PipedProgram {
  explicit Pagescan(const std::vector<std::string>& args)
      : PipedProgram(PAGESCAN_CLI_PATH, args, {"COLUMNS="}) {}
};

// The target does `command` and says it is done (a test failure otherwise).
void target_does(TargetProcess& target, const std::string& command);

}  // namespace pagescan::test
