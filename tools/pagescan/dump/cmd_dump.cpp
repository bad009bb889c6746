// `pagescan dump TARGET -o FILE`: a sparse ELF core of a live process, the target stopped
// only for the final pass (CoreDumper, core_dump.hpp); with --every, a series of
// standalone cores, each made from the one before plus the pages written since.
#include <fmt/core.h>

#include <memory>
#include <optional>

#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "dump/dump_arguments.hpp"
#include "dump/dump_clock.hpp"
#include "dump/dump_report.hpp"
#include "pagescan/core_dump.hpp"

namespace pagescan::cli {

namespace {

struct DumpOptionsText {
  SharedArguments shared;
  std::optional<std::string> output;
  std::optional<std::string> filter;
  bool no_precopy = false;
  std::optional<std::string> every;
  std::optional<std::string> count;
};

const CommandShape kShape{true, {"table", "json"}, false};

struct Plan {
  pid_t pid = 0;
  OutputName name;
  DumpOptions options;
  std::optional<double> every;
  std::optional<std::uint64_t> count;
};

// Every argument checked before the target is touched: each value first, then what
// they say together.
Parsed<Plan> plan_of(const DumpOptionsText& o, const Shared& shared) {
  Plan plan;
  auto pid = another_process(*shared.target, "dump");
  if (!pid.value) return {std::nullopt, pid.error};
  plan.pid = *pid.value;
  if (o.output) {
    auto name = OutputName::parse(*o.output);
    if (!name.value) return {std::nullopt, name.error};
    plan.name = *name.value;
  }
  if (o.filter) {
    auto filter = parse_coredump_filter(*o.filter);
    if (!filter.value) return {std::nullopt, filter.error};
    plan.options.coredump_filter = *filter.value;
  }
  if (o.every) {
    auto seconds = parse_seconds(*o.every, "--every", "30");
    if (!seconds.value) return {std::nullopt, seconds.error};
    plan.every = *seconds.value;
  }
  if (o.count) {
    auto count = parse_count(*o.count, "--count", "dumps");
    if (!count.value) return {std::nullopt, count.error};
    plan.count = *count.value;
  }
  if (!o.output) {
    return {std::nullopt, UsageError{"dump: missing -o FILE (where to write the core)"}};
  }
  if (o.count && !o.every) {
    return {std::nullopt,
            UsageError{"--count needs --every (a series of dumps is taken every SECONDS)"}};
  }
  plan.options.precopy = !o.no_precopy;
  // Tracking between dumps costs the target a fault per first write: only for a series.
  plan.options.incremental = plan.every && plan.count.value_or(2) > 1;
  return {plan, std::nullopt};
}

int run_dump(const DumpOptionsText& o) {
  auto shared = resolve_shared(o.shared);
  if (!shared.value) return report_usage(*shared.error);
  auto plan = plan_of(o, *shared.value);
  if (!plan.value) return report_usage(*plan.error);
  const Plan& p = *plan.value;
  const OutputCheck check = check_output_path(p.name.for_dump(1));
  if (check.usage) return report_usage(*check.usage);
  if (check.error) return report_error(*check.error);

  // Signals are taken over first: a Ctrl-C ends the series between dumps, never inside
  // one (a core is finished or not begun, and the target never left stopped).
  DumpClock clock(p.pid, p.every.value_or(1));
  if (!clock.ready())
    return report_error(Error::from_errno(errno, ErrorKind::kernel_failure, "signalfd"));
  auto dumper = CoreDumper::attach(p.pid, p.options);
  if (!dumper) return report_error(dumper.error());
  const DumpPrinter printer{shared.value->format, shared.value->width};

  for (std::uint64_t number = 1;; ++number) {
    auto report = dumper->dump(p.name.for_dump(number));
    if (!report) return report_error(report.error());
    print_dump(printer, p.pid, number, *report);
    if (!p.every) return kExitOk;
    if (p.count && number == *p.count) {
      print_dump_end(printer, p.pid, "count", number);
      return kExitOk;
    }
    const DumpWake wake = clock.signalled() ? DumpWake::signal : clock.wait_for(number + 1);
    if (wake != DumpWake::due) {
      print_dump_end(printer, p.pid, wake == DumpWake::exited ? "exited" : "signal", number);
      return kExitOk;
    }
  }
}

}  // namespace

Command add_dump_command(CLI::App& app) {
  auto o = std::make_shared<DumpOptionsText>();
  CLI::App* sub =
      app.add_subcommand("dump", "Write a sparse core file of a live process, stopping it briefly");
  sub->footer(
      "Examples:\n"
      "  pagescan dump 1234 -o core.1234          # then: gdb -c core.1234 PROGRAM\n"
      "  pagescan dump 1234 -o core.1234 --no-precopy --filter 0x3f\n"
      "  pagescan dump 1234 -o 'core.%n' --every 60 --count 10 --json\n"
      "\n"
      "The core is an ELF core file as the kernel and gdb's gcore write one (every thread's "
      "registers, the auxiliary vector, the mapped files), loadable by gdb and drgn. Only "
      "pages that hold data are written: the rest of each mapping is a hole in a sparse "
      "file, read as zeros and taking no disk space. Which mappings: as the kernel decides "
      "for a crash, from the target's /proc/PID/coredump_filter and MADV_DONTDUMP; --filter "
      "replaces the filter (bits in core(5)).\n\n"
      "By default the memory is copied while the target runs, with its writes tracked as "
      "'pagescan watch' does, until what it writes between passes stops shrinking; then "
      "every thread is stopped, the pages written since are copied, the registers read, and "
      "the target resumes exactly where it was. --no-precopy stops it for the whole copy. "
      "Each line says how long the target was stopped.\n\n"
      "--every SECONDS writes a series: '%n' in FILE is the dump's number (without it each "
      "core replaces the last), and each later core is made from the one before (a reflink "
      "where the file system has them) plus only the pages written since. Every core is "
      "complete on its own. The series ends after --count dumps, when the target exits, or "
      "on Ctrl-C or SIGTERM (after the dump in progress), all exit 0.\n\n"
      "A core is written under a temporary name and renamed when complete: a failure leaves "
      "nothing under FILE (exit 1). It is mode 0600: it holds the target's memory. --json prints a "
      "line per core {path, dump, pid, mappings, "
      "threads, data_bytes, hole_bytes, copied_bytes, stopped_seconds, elapsed_seconds, "
      "precopy_passes, incremental, reflinked} and with --every {pid, ended, dumps}, ended "
      "being count, exited or signal. Dumping needs ptrace rights over the target; a traced "
      "target (gdb) is refused.");
  add_shared_arguments(sub, kShape, o->shared);
  target_is_another_process(sub);
  add_value_option(sub, "-o,--output", o->output,
                   "the core file to write (required); %n: the dump number", "FILE");
  add_value_option(sub, "--filter", o->filter,
                   "coredump_filter bits to use instead of the target's, hex (core(5))", "HEX");
  sub->add_flag("--no-precopy", o->no_precopy,
                "stop the target for the whole copy instead of pre-copying while it runs");
  add_value_option(sub, "--every", o->every,
                   "write a core every SECONDS, each from the last plus what changed", "SECONDS");
  add_value_option(sub, "--count", o->count, "with --every: stop after N cores", "N");
  return Command{sub, [o] { return run_dump(*o); }};
}

}  // namespace pagescan::cli
