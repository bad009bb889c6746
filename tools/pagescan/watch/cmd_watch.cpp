// `pagescan watch TARGET`: the pages another process writes, round after round, through
// an injected userfaultfd (ProcessWriteWatch). Rounds come every --interval seconds or
// on each line of stdin; the watch ends with the target, after --rounds, at the end of
// stdin, or on SIGINT/SIGTERM, always destroying the watch so the target is left clean.
#include <fmt/core.h>

#include <memory>
#include <optional>

#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/vma_selection.hpp"
#include "watch/tracking_options.hpp"
#include "watch/watch_report.hpp"
#include "watch/watch_session.hpp"

namespace pagescan::cli {

namespace {

struct WatchOptionsText {
  SharedArguments shared;
  std::vector<std::string> ranges;
  std::optional<std::string> vma;
  std::optional<std::string> interval;
  std::optional<std::string> trigger;
  std::optional<std::string> rounds;
  TrackingText tracking;
};

const CommandShape kShape{true, {"table", "json", "csv"}, false};

// --range and --vma as address ranges (--vma needs the target's map: read here).
Parsed<std::vector<AddressRange>> chosen_ranges(const WatchOptionsText& o, pid_t pid,
                                                std::optional<Error>& error) {
  std::vector<AddressRange> ranges;
  for (const std::string& text : o.ranges) {
    auto range = parse_range(text);
    if (!range.value) return {std::nullopt, range.error};
    if (range.value->end == range.value->start) {
      return {std::nullopt,
              UsageError{"bad range '" + text + "': it is empty (expected END > START)"}};
    }
    ranges.push_back(*range.value);
  }
  if (!o.vma) return {ranges, std::nullopt};
  auto selector = parse_vma_selector(*o.vma);
  if (!selector.value) return {std::nullopt, selector.error};
  auto process = Process::attach(pid);
  if (!process) {
    error = process.error();
    return {};
  }
  auto vmas = read_memory_map(*process);
  if (!vmas) {
    error = vmas.error();
    return {};
  }
  auto chosen = select_vmas(*selector.value, *vmas, pid);
  if (!chosen.value) return {std::nullopt, chosen.error};
  return {std::vector<AddressRange>{chosen.value->range}, std::nullopt};
}

int run_watch(const WatchOptionsText& o) {
  auto shared = resolve_shared(o.shared);
  if (!shared.value) return report_usage(*shared.error);
  auto pid = another_process(*shared.value->target, "watch");
  if (!pid.value) return report_usage(*pid.error);
  if (o.interval && o.trigger) {
    return report_usage(
        UsageError{"--interval contradicts --trigger stdin (a round comes either "
                   "every interval or on each line of stdin: give one)"});
  }
  if (o.trigger && *o.trigger != "stdin") {
    return report_usage(UsageError{"bad --trigger '" + *o.trigger + "': expected stdin"});
  }
  double seconds = 1;
  if (o.interval) {
    auto parsed = parse_seconds(*o.interval, "--interval", "0.5");
    if (!parsed.value) return report_usage(*parsed.error);
    seconds = *parsed.value;
  }
  std::optional<std::uint64_t> max_rounds;
  if (o.rounds) {
    auto parsed = parse_count(*o.rounds, "--rounds", "rounds");
    if (!parsed.value) return report_usage(*parsed.error);
    max_rounds = *parsed.value;
  }
  if (o.vma && !o.ranges.empty()) return report_usage(vma_contradicts_range(*o.vma, o.ranges[0]));
  auto tracking = resolve_tracking(o.tracking);
  if (!tracking.value) return report_usage(*tracking.error);
  std::optional<Error> error;
  auto ranges = chosen_ranges(o, *pid.value, error);
  if (error) return report_error(*error);
  if (!ranges.value) return report_usage(*ranges.error);

  // Signals are taken over before the attach: from then on a Ctrl-C must end the watch
  // through its destructor, never kill pagescan with the target still armed.
  Pacer pacer(o.trigger ? Pacer::Mode::stdin_lines : Pacer::Mode::interval, seconds);
  if (!pacer.ready())
    return report_error(Error::from_errno(errno, ErrorKind::kernel_failure, "signalfd"));
  auto attached = WatchSet::attach(*pid.value, *ranges.value, *tracking.value);
  if (!attached) return report_error(attached.error());
  std::optional<WatchSet> set(std::move(*attached));
  const WatchPrinter printer{shared.value->format, shared.value->width};
  print_armed(printer, *set);

  // The map is read only for rounds with writes, and only by the formats that name mappings.
  std::optional<Process> process;
  if (printer.format != "json") {
    if (auto p = Process::attach(*pid.value)) process.emplace(std::move(*p));
  }
  std::string ended;
  for (std::uint64_t round = 1;; ++round) {
    if (max_rounds && round > *max_rounds) {
      ended = "rounds";
      break;
    }
    const Wake wake = pacer.wait();
    if (wake == Wake::eof) {
      ended = "eof";
      break;
    }
    if (wake == Wake::signal) {
      ended = "signal";
      break;
    }
    auto collected = set->collect_round(process ? &*process : nullptr);
    if (!collected) {
      if (set->ended() == WatchEnd::running) return report_error(collected.error());
      ended = end_reason(*pid.value, set->ended());
      break;
    }
    print_round(printer, *pid.value, round, *collected);
  }
  // Unregistered before the ended line: whoever reads it may look at the target at once.
  set.reset();
  print_ended(printer, *pid.value, ended);
  return kExitOk;
}

}  // namespace

Command add_watch_command(CLI::App& app) {
  auto o = std::make_shared<WatchOptionsText>();
  CLI::App* sub = app.add_subcommand(
      "watch", "Report the pages another process writes, round after round (no change to it)");
  sub->footer(
      "Examples:\n"
      "  pagescan watch 1234                   # every second, the whole process\n"
      "  pagescan watch 1234 --vma heap --interval 0.5 --rounds 10\n"
      "  pagescan watch 1234 --range 0x7f0000000000-0x7f0000100000 --json\n"
      "  pagescan watch 1234 --trigger stdin --format csv   # a round per line read\n"
      "  pagescan watch 1234 --engine soft-dirty --max-mapping 512M\n"
      "\n"
      "pagescan makes a userfaultfd inside the target for about a millisecond (ptrace, no "
      "byte of it written) and write-protects the watched memory; each round reports and "
      "re-arms exactly the pages written since the round before, by the process or by the "
      "kernel for it. The first write to an armed page costs the target a fault. Without "
      "--range or --vma the whole process is watched and followed: a writable mapping that "
      "appears is reported whole once. Several --range options are watched each on its own.\n\n"
      "--engine soft-dirty (auto's choice only where the kernel lacks uffd's needs) writes 4 to "
      "the target's clear_refs instead: it never stops the target, but it is weaker: a write "
      "racing a round can be lost, every round clears the soft-dirty bits of the WHOLE target "
      "(another soft-dirty user of it, such as a checkpointer, loses its state), and a new or "
      "changed mapping is reported whole. A writable mapping larger than --max-mapping "
      "(default 16G) is not armed but listed as untracked, with why.\n\n"
      "--json prints JSON Lines: the armed line {pid, engine, armed, untracked}, a line per "
      "round {round, pid, pages, written} and {pid, ended}, ended being exited, exec, "
      "killed, rounds, eof or signal. CSV has a row per written range: "
      "round,start,end,pages,mapping. Every round is flushed at once.\n\n"
      "The watch ends when the target exits ('killed' when it is still a zombie killed by a "
      "signal; once reaped it reads as exited) or execs, after --rounds, at the end of "
      "standard input with --trigger stdin, or on Ctrl-C or SIGTERM: all exit 0 with the "
      "target left as it was. Watching needs ptrace rights over the target (same user and "
      "Yama ptrace_scope, or CAP_SYS_PTRACE); a traced target (gdb) is refused. Soft-dirty "
      "needs only the right to read its pagemap and write its clear_refs.");
  add_shared_arguments(sub, kShape, o->shared);
  target_is_another_process(sub);
  sub->add_option("--range", o->ranges,
                  "watch only START-END, hex (0x...) or decimal; may repeat (default: all)")
      ->type_name("START-END")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  add_value_option(sub, "--vma", o->vma,
                   "watch only one mapping: heap, stack, a file name (libc) or path, or an address "
                   "in it",
                   "NAME|ADDR");
  add_value_option(sub, "--interval", o->interval,
                   "seconds between rounds, fractions allowed (default 1)", "SECONDS");
  add_value_option(sub, "--trigger", o->trigger,
                   "stdin: a round for each line read on standard input, until its end", "stdin");
  add_value_option(sub, "--rounds", o->rounds, "stop after N rounds", "N");
  add_tracking_options(sub, o->tracking);
  return Command{sub, [o] { return run_watch(*o); }};
}

}  // namespace pagescan::cli
