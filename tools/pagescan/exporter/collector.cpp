// The exporter's collections (collector.hpp).
#include "exporter/collector.hpp"

#include <chrono>

namespace pagescan::cli {

std::string_view to_string(SkipReason reason) {
  switch (reason) {
    case SkipReason::exited:
      return "exited";
    case SkipReason::permission:
      return "permission";
    case SkipReason::failed:
      return "failed";
  }
  return "failed";
}

namespace {

SkipReason reason_of(const Error& error) {
  switch (error.kind()) {
    case ErrorKind::no_such_process:
      return SkipReason::exited;
    case ErrorKind::permission:
      return SkipReason::permission;
    default:
      return SkipReason::failed;
  }
}

}  // namespace

Collection Collector::run_once() {
  const auto began = std::chrono::steady_clock::now();
  Collection c;
  std::vector<std::optional<ProcessInfo>> infos;
  const InfoWanted wanted = info_for(options_.group_by);
  const std::vector<pid_t> pids = select_processes(options_.selection, wanted, infos);
  CensusOptions census_options;
  census_options.backend = options_.backend;
  std::uint64_t longest_ns = 0;
  for (std::size_t i = 0; i < pids.size(); ++i) {
    const auto skip = [&](SkipReason reason) { ++c.skipped[static_cast<std::size_t>(reason)]; };
    auto process = Process::attach(pids[i]);
    if (!process) {
      // A kernel thread has no memory to count: not a process this exporter looks at.
      if (process.error().kind() != ErrorKind::invalid_argument) skip(reason_of(process.error()));
      continue;
    }
    // What the grouping needs, read once the pid is known to be a process (attached: a
    // pid reused after this read is caught by the census's liveness check).
    if (!infos[i]) infos[i] = read_process_info(pids[i], wanted);
    if (!infos[i]) {
      skip(SkipReason::exited);
      continue;
    }
    auto census = take_census(*process, census_options);
    if (!census) {
      skip(reason_of(census.error()));
      continue;
    }
    GroupTotals& group = c.groups[group_of(*infos[i], options_.group_by)];
    group.census.add(*census);
    ++group.processes;
    ++c.scanned;
    c.kernel_calls += census->kernel_calls;
    longest_ns = std::max(longest_ns, census->longest_call_ns);
    c.backends.insert(std::string(to_string(census->backend)));
  }
  c.longest_call_seconds = static_cast<double>(longest_ns) / 1e9;
  c.duration_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  return c;
}

std::shared_ptr<const Collection> Collector::collect() {
  std::unique_lock lock(mutex_);
  if (running_) {
    const std::uint64_t waiting_for = generation_;
    done_.wait(lock, [&] { return generation_ != waiting_for; });
    return last_;
  }
  running_ = true;
  lock.unlock();
  std::shared_ptr<Collection> fresh;
  try {
    fresh = std::make_shared<Collection>(run_once());
  } catch (...) {
    // Waiters must not wait forever: they get the previous result (or none).
    lock.lock();
    running_ = false;
    ++generation_;
    done_.notify_all();
    throw;
  }
  lock.lock();
  for (std::size_t r = 0; r < kSkipReasonCount; ++r) skipped_total_[r] += fresh->skipped[r];
  fresh->skipped_total = skipped_total_;
  fresh->collections_total = generation_ + 1;
  last_ = std::move(fresh);
  ++generation_;
  running_ = false;
  done_.notify_all();
  return last_;
}

}  // namespace pagescan::cli
