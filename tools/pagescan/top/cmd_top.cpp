// `pagescan top TARGET`: which mappings of another process it writes, live: a screen
// redrawn every interval on a terminal, rounds as lines (watch's table) otherwise.
#include <fmt/core.h>
#include <time.h>

#include <memory>
#include <optional>

#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "top/terminal.hpp"
#include "top/top_view.hpp"
#include "watch/tracking_options.hpp"
#include "watch/watch_report.hpp"
#include "watch/watch_session.hpp"

namespace pagescan::cli {

namespace {

struct TopOptionsText {
  SharedArguments shared;
  std::optional<std::string> interval;
  bool ascii = false;
  TrackingText tracking;
};

const CommandShape kShape{true, {}, false};

double seconds_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

void draw(const std::vector<std::string>& lines) {
  // Home, each line over the old one (erasing its rest), then the rest of the screen.
  // "\n" alone: the terminal's output processing (ONLCR, left on) adds the "\r".
  std::string frame = "\x1b[H";
  for (std::size_t i = 0; i < lines.size(); ++i) {
    frame += lines[i] + "\x1b[K";
    if (i + 1 < lines.size()) frame += "\n";
  }
  frame += "\x1b[J";
  fmt::print("{}", frame);
  flush_round();
}

int run_top(const TopOptionsText& o) {
  auto shared = resolve_shared(o.shared);
  if (!shared.value) return report_usage(*shared.error);
  auto pid = another_process(*shared.value->target, "top");
  if (!pid.value) return report_usage(*pid.error);
  double seconds = 1;
  if (o.interval) {
    auto parsed = parse_seconds(*o.interval, "--interval", "0.5");
    if (!parsed.value) return report_usage(*parsed.error);
    seconds = *parsed.value;
  }
  auto tracking = resolve_tracking(o.tracking);
  if (!tracking.value) return report_usage(*tracking.error);
  Pacer pacer(Pacer::Mode::keys, seconds);
  if (!pacer.ready()) {
    return report_error(Error::from_errno(errno, ErrorKind::kernel_failure, "signalfd"));
  }
  auto attached = WatchSet::attach(*pid.value, {}, *tracking.value);
  if (!attached) return report_error(attached.error());
  std::optional<WatchSet> set(std::move(*attached));
  auto process = Process::attach(*pid.value);
  if (!process) return report_error(process.error());

  // From here the terminal is ours until the end of this scope, however it is left.
  TopTerminal terminal;
  const WatchPrinter lines{"table", shared.value->width};
  TopScreen screen{*pid.value,      std::string(to_string(set->engine())),
                   seconds,         shared.value->width,
                   terminal.rows(), o.ascii};
  TopModel model;
  if (terminal.screen()) {
    draw(render_top(model, screen));
  } else {
    print_armed(lines, *set);
  }
  std::string ended;
  double last = seconds_now();
  for (;;) {
    const Wake wake = pacer.wait();
    if (wake == Wake::signal) {
      ended = "signal";
      break;
    }
    if (wake == Wake::key) {
      if (pacer.key() == 'q' || pacer.key() == 'Q' || pacer.key() == 3) {
        ended = "quit";
        break;
      }
      continue;  // other keys: nothing yet
    }
    auto collected = set->collect_round(&*process);
    if (!collected) {
      if (set->ended() == WatchEnd::running) return report_error(collected.error());
      ended = end_reason(*pid.value, set->ended());
      break;
    }
    const double now = seconds_now();
    model.add_round(collected->by_mapping, now - last);
    last = now;
    if (terminal.screen()) {
      screen.rows = terminal.rows();
      draw(render_top(model, screen));
    } else {
      print_round(lines, *pid.value, model.rounds(), *collected);
    }
  }
  set.reset();
  if (!terminal.screen()) print_ended(lines, *pid.value, ended);
  return kExitOk;
}

}  // namespace

Command add_top_command(CLI::App& app) {
  auto o = std::make_shared<TopOptionsText>();
  CLI::App* sub = app.add_subcommand(
      "top", "Show live which mappings of another process it writes, and how fast");
  sub->footer(
      "Examples:\n"
      "  pagescan top 1234\n"
      "  pagescan top 1234 --interval 0.5\n"
      "  pagescan top 1234 > rounds.txt       # not a terminal: rounds as lines\n"
      "\n"
      "Every interval the screen shows, per mapping, the bytes written in the last interval "
      "(LAST) and per second (RATE), the bytes written since the start (TOTAL), and where in "
      "the mapping the last interval's writes fell (a heat strip), fastest first. A mapping "
      "that appears is counted whole once. q or Ctrl-C quits and puts the terminal back. "
      "When standard output is not a terminal, each round is printed as lines, as 'pagescan "
      "watch' does. The tracking is watch's, --engine and --max-mapping included: see 'pagescan "
      "watch --help'.");
  add_shared_arguments(sub, kShape, o->shared);
  target_is_another_process(sub);
  add_value_option(sub, "--interval", o->interval,
                   "seconds between refreshes, fractions allowed (default 1)", "SECONDS");
  sub->add_flag("--ascii", o->ascii, "heat strips in ASCII instead of Unicode blocks");
  add_tracking_options(sub, o->tracking);
  return Command{sub, [o] { return run_top(*o); }};
}

}  // namespace pagescan::cli
