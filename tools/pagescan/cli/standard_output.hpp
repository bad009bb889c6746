// Standard output that is never lost silently: every write's failure and the final flush
// are checked, and a failure is one "pagescan: cannot write standard output: <why>" line
// and exit 1, never an abort and never exit 0 (a full disk, a closed stdout, EPIPE with
// SIGPIPE ignored). stdio buffers output, so a small output's failure shows only at the
// final flush: finish_standard_output() is where it is caught.
#pragma once

#include <system_error>

namespace pagescan::cli {

// At start: 0 (stdin) and 2 (stderr) are opened on /dev/null when closed, so no file the
// command opens can land on them (an error message must never be written into an SVG
// being built); a closed stdout is reported (exit 1) before the command does anything.
// Returns 0, or the exit code to leave with.
int prepare_standard_streams();

// A write to standard output that failed where pagescan checks it itself (a flush after
// each round of `watch`): thrown, and recognised by report_failure() by its type.
class OutputError : public std::system_error {
 public:
  explicit OutputError(int err)
      : std::system_error(err, std::generic_category(), "cannot write standard output") {}
};

// A write that failed while the command ran (an OutputError, or {fmt}'s own
// std::system_error "cannot write to file"): the line and exit 1. Any other
// std::system_error is reported as itself, exit 1.
int report_failure(const std::system_error& error);

// After the command: flushes and closes stdout, checking both. Returns `exit_code`, or 1
// when output was lost (with the line on stderr). A command that already failed has said
// why (possibly this very failure, as `map --svg -` does) and keeps its own code.
int finish_standard_output(int exit_code);

}  // namespace pagescan::cli
