// The watched process, the rounds' pacing and the per-mapping split (watch_session.hpp).
#include "watch/watch_session.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "cli/proc_text.hpp"
#include "cli/standard_output.hpp"
#include "cli/stop_signals.hpp"

namespace pagescan::cli {

namespace {

// Sorts and joins touching ranges.
std::vector<PageRange> coalesce(std::vector<PageRange> ranges) {
  std::sort(ranges.begin(), ranges.end(),
            [](const PageRange& a, const PageRange& b) { return a.start < b.start; });
  std::vector<PageRange> out;
  for (const PageRange& r : ranges) {
    if (!out.empty() && r.start <= out.back().end) {
      out.back().end = std::max(out.back().end, r.end);
    } else {
      out.push_back(r);
    }
  }
  return out;
}

}  // namespace

std::uint64_t page_size() {
  static const auto size = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

Result<WatchSet> WatchSet::attach(pid_t pid, std::vector<AddressRange> ranges,
                                  const ProcessWatchOptions& options) {
  WatchSet set;
  set.pid_ = pid;
  if (ranges.empty()) {
    auto watch = ProcessWriteWatch::attach(pid, 0, 0, options);
    if (!watch) return std::move(watch).error();
    set.watches_.push_back(std::move(*watch));
    return set;
  }
  std::vector<PageRange> pages;
  const std::uint64_t page = page_size();
  for (const AddressRange& r : ranges) {
    pages.push_back({r.start / page * page, (r.end + page - 1) / page * page});
  }
  for (const PageRange& r : coalesce(std::move(pages))) {
    auto watch = ProcessWriteWatch::attach(pid, r.start, r.end - r.start, options);
    if (!watch) return std::move(watch).error();
    set.watches_.push_back(std::move(*watch));
  }
  return set;
}

std::vector<PageRange> WatchSet::armed() const {
  std::vector<PageRange> all;
  for (const ProcessWriteWatch& w : watches_) {
    for (const PageRange& r : w.armed()) all.push_back(r);
  }
  std::sort(all.begin(), all.end(),
            [](const PageRange& a, const PageRange& b) { return a.start < b.start; });
  return all;
}

std::vector<UntrackedRange> WatchSet::untracked() const {
  std::vector<UntrackedRange> all;
  for (const ProcessWriteWatch& w : watches_) {
    for (const UntrackedRange& u : w.untracked()) all.push_back(u);
  }
  std::sort(all.begin(), all.end(), [](const UntrackedRange& a, const UntrackedRange& b) {
    return a.range.start < b.range.start;
  });
  return all;
}

Result<Harvest> WatchSet::collect() {
  Harvest merged;
  for (ProcessWriteWatch& w : watches_) {
    auto harvest = w.collect();
    if (!harvest) {
      ended_ = w.ended();
      return std::move(harvest).error();
    }
    for (const PageRange& r : harvest->ranges) merged.ranges.push_back(r);
  }
  merged.ranges = coalesce(std::move(merged.ranges));
  for (const PageRange& r : merged.ranges) merged.pages += (r.end - r.start) / page_size();
  return merged;
}

Result<Round> WatchSet::collect_round(const Process* maps_of) {
  auto harvest = collect();
  if (!harvest) return std::move(harvest).error();
  Round round{std::move(*harvest), {}};
  if (maps_of && round.harvest.pages > 0) {
    auto vmas = read_memory_map(*maps_of);
    // A map that cannot be read (the target is exiting) names every range "(unmapped)".
    round.by_mapping =
        split_by_mapping(round.harvest.ranges, vmas ? *vmas : std::vector<MappedRegion>{});
  }
  return round;
}

std::string end_reason(pid_t pid, WatchEnd end) {
  if (end != WatchEnd::exited) return std::string(to_string(end));
  const std::string stat =
      read_proc_text("/proc/" + std::to_string(pid) + "/stat").value_or(std::string());
  const std::size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return "exited";
  // Fields after the command name: state is field 3, exit_code (as waitpid reports it,
  // proc(5)) field 52.
  std::istringstream fields(stat.substr(paren + 1));
  std::vector<std::string> tokens;
  for (std::string t; fields >> t;) tokens.push_back(t);
  if (tokens.size() < 50 || tokens[0] != "Z") return "exited";
  const int status = std::atoi(tokens[49].c_str());
  return WIFSIGNALED(status) ? "killed" : "exited";
}

Pacer::Pacer(Mode mode, double seconds)
    : mode_(mode), seconds_(seconds), start_ns_(monotonic_ns()) {
  // Stdin is left alone by interval rounds, and keys come only from a terminal (/dev/null
  // or a pipe on stdin would wake every poll).
  if (mode_ == Mode::interval || (mode_ == Mode::keys && !::isatty(STDIN_FILENO))) {
    stdin_ended_ = true;
  }
}

Wake Pacer::wait() {
  key_ = 0;
  for (;;) {
    if (mode_ == Mode::stdin_lines) {
      if (pending_lines_ > 0) {
        --pending_lines_;
        return Wake::round;
      }
      if (stdin_ended_) return Wake::eof;
    }
    int timeout = -1;
    std::uint64_t deadline = 0;
    if (mode_ != Mode::stdin_lines) {
      deadline =
          start_ns_ + static_cast<std::uint64_t>(static_cast<double>(ticks_ + 1) * seconds_ * 1e9);
      const std::uint64_t now = monotonic_ns();
      if (now >= deadline) {
        // A round slower than the interval: the next one is the next whole interval.
        ticks_ = std::max<std::uint64_t>(
            ticks_ + 1,
            static_cast<std::uint64_t>(static_cast<double>(now - start_ns_) / (seconds_ * 1e9)));
        return Wake::round;
      }
      timeout = poll_timeout_until(deadline, now);
    }
    pollfd fds[2] = {{signals_.fd(), POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    const nfds_t count = stdin_ended_ ? 1 : 2;
    int ready = ::poll(fds, count, timeout);
    if (ready < 0 && errno != EINTR) return Wake::signal;  // cannot wait: end as if asked
    if (ready <= 0) continue;
    if (fds[0].revents & POLLIN) {
      signal_ = signals_.take();
      if (signal_ != 0) return Wake::signal;
    }
    if (count == 2 && fds[1].revents) {
      char buffer[4096];
      ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        stdin_ended_ = true;
        // A last line without its newline is a line too.
        if (mode_ == Mode::stdin_lines && !partial_.empty()) ++pending_lines_;
        partial_.clear();
        continue;
      }
      if (mode_ == Mode::keys) {
        key_ = buffer[n - 1];
        return Wake::key;
      }
      for (ssize_t i = 0; i < n; ++i) {
        if (buffer[i] == '\n') {
          ++pending_lines_;
          partial_.clear();
        } else {
          partial_ = "x";  // only whether a line has begun matters
        }
      }
    }
  }
}

std::vector<MappingWrites> split_by_mapping(const std::vector<PageRange>& written,
                                            const std::vector<MappedRegion>& vmas) {
  std::vector<MappingWrites> out;
  auto add = [&](const MappedRegion& vma, PageRange part) {
    if (out.empty() || out.back().vma.start != vma.start || out.back().vma.end != vma.end) {
      out.push_back({vma, {}, 0});
    }
    out.back().ranges.push_back(part);
    out.back().pages += (part.end - part.start) / page_size();
  };
  std::size_t v = 0;
  for (const PageRange& range : written) {
    std::uint64_t at = range.start;
    while (at < range.end) {
      while (v < vmas.size() && vmas[v].end <= at) ++v;
      if (v < vmas.size() && vmas[v].start <= at) {
        const std::uint64_t end = std::min(range.end, vmas[v].end);
        add(vmas[v], {at, end});
        at = end;
      } else {
        // Unmapped since the collect: a mapping of its own, named as gone.
        const std::uint64_t end = v < vmas.size() ? std::min(range.end, vmas[v].start) : range.end;
        MappedRegion gone;
        gone.start = at;
        gone.end = end;
        gone.perms = "----";
        gone.path = "(unmapped)";
        add(gone, {at, end});
        at = end;
      }
    }
  }
  return out;
}

void flush_round() {
  errno = 0;
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    const int err = errno ? errno : EIO;
    throw OutputError(err);  // report_failure() (standard_output.hpp) says so, exit 1
  }
}

}  // namespace pagescan::cli
