// The demo's child process, seen from the parent: plan it, fork it, read what it built,
// ask for its write-tracking rounds, and kill and reap it at the end.
#include "demo/demo_workload.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "demo/demo_child.hpp"
#include "pagescan/features.hpp"

namespace pagescan::cli {

std::string_view part_name(PartKind kind) {
  static constexpr std::string_view kNames[kPartKinds] = {
      "written", "zero", "untouched", "thp", "hugetlb", "file", "swapped", "guard", "tracked"};
  return kNames[static_cast<std::size_t>(kind)];
}

DemoPlan plan_demo() {
  const Features& f = features();
  DemoPlan plan;
  plan.thp = f.thp_mode == "always" || f.thp_mode == "madvise";
  if (!plan.thp) {
    plan.thp_why = f.thp_mode.empty() ? "the kernel has no transparent huge pages"
                                      : "transparent huge pages are off (mode " + f.thp_mode + ")";
  }
  plan.swap = f.swap_total_bytes > 0;
  if (!plan.swap) {
    plan.swap_why = "no swap is active (the demo never adds any; swapon(8) some to see this part)";
  }
  plan.guard = f.guard_regions;
  if (!plan.guard)
    plan.guard_why = "MADV_GUARD_INSTALL failed on a scratch page (it needs Linux 6.13)";
  plan.hugetlb_why = "not planned";
  return plan;
}

std::uint64_t span_pages(const std::vector<PageSpan>& spans) {
  std::uint64_t n = 0;
  for (const PageSpan& s : spans) n += s.end - s.first;
  return n;
}

std::string spans_text(const std::vector<PageSpan>& spans) {
  std::string text;
  for (const PageSpan& s : spans) {
    if (!text.empty()) text += ", ";
    text += std::to_string(s.first);
    if (s.end - s.first > 1) text += "-" + std::to_string(s.end - 1);
  }
  return text.empty() ? "none" : text;
}

namespace {

std::vector<PageSpan> spans_of(const demo::WireSpans& w) {
  std::vector<PageSpan> spans;
  for (std::uint32_t i = 0; i < w.count && i < demo::kMaxSpans; ++i) {
    spans.push_back(PageSpan{w.first[i], w.end[i]});
  }
  return spans;
}

std::string text_of(const char* why, std::size_t size) {
  return std::string(why, ::strnlen(why, size));
}

}  // namespace

Result<DemoWorkload> DemoWorkload::start(const DemoPlan& plan) {
  int report[2], control[2];
  if (::pipe2(report, O_CLOEXEC) != 0)
    return Error::from_errno(errno, ErrorKind::kernel_failure, "demo: pipe");
  if (::pipe2(control, O_CLOEXEC) != 0) {
    int err = errno;
    ::close(report[0]);
    ::close(report[1]);
    return Error::from_errno(err, ErrorKind::kernel_failure, "demo: pipe");
  }
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    for (int fd : {report[0], report[1], control[0], control[1]}) ::close(fd);
    return Error::from_errno(err, ErrorKind::kernel_failure, "demo: fork");
  }
  if (pid == 0) {
    ::close(report[0]);
    ::close(control[1]);
    demo::run_child(plan, parent, report[1], control[0]);
  }
  ::close(report[1]);
  ::close(control[0]);
  DemoWorkload w;  // from here its destructor kills and reaps the child
  w.pid_ = pid;
  w.report_ = report[0];
  w.control_ = control[1];
  demo::WireLayout layout;
  if (!demo::read_all(w.report_, &layout, sizeof layout)) {
    int status = 0;
    std::string how = "exited";
    if (::waitpid(pid, &status, 0) == pid) {
      w.pid_ = -1;
      if (WIFSIGNALED(status)) how = "was killed by signal " + std::to_string(WTERMSIG(status));
    }
    return Error(EIO, ErrorKind::kernel_failure,
                 "demo: the workload (pid " + std::to_string(pid) + ") " + how +
                     " before reporting its layout");
  }
  const std::pair<bool, const std::string*> planned[kPartKinds] = {
      {true, nullptr},
      {true, nullptr},
      {true, nullptr},
      {plan.thp, &plan.thp_why},
      {plan.hugetlb, &plan.hugetlb_why},
      {true, nullptr},
      {plan.swap, &plan.swap_why},
      {plan.guard, &plan.guard_why},
      {true, nullptr}};
  for (std::size_t i = 0; i < kPartKinds; ++i) {
    const demo::WirePart& in = layout.parts[i];
    DemoPart p;
    p.kind = static_cast<PartKind>(i);
    p.available = in.available != 0;
    p.start = in.start;
    p.end = in.end;
    p.acted = in.acted;
    if (!p.available) {
      p.why_not = planned[i].first ? text_of(in.why, sizeof in.why) : *planned[i].second;
    }
    if (p.kind == PartKind::tracked) p.engine = text_of(layout.engine, sizeof layout.engine);
    w.parts_.push_back(std::move(p));
  }
  return w;
}

Result<Tracking> DemoWorkload::track() {
  const DemoPart& tracked = part(PartKind::tracked);
  if (!tracked.available) {
    return Error(EOPNOTSUPP, ErrorKind::unsupported, "no write-tracked region: " + tracked.why_not);
  }
  demo::WireTracking wire;
  // The child may be gone: a write to its pipe must fail with EPIPE, not kill us.
  struct sigaction ignore {
  }, previous{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &previous);
  bool asked = demo::write_all(control_, &demo::kTrackCommand, 1);
  ::sigaction(SIGPIPE, &previous, nullptr);
  if (!asked || !demo::read_all(report_, &wire, sizeof wire)) {
    return Error(EIO, ErrorKind::kernel_failure, "demo: the workload stopped answering");
  }
  if (!wire.ok) {
    return Error(
        EIO, ErrorKind::kernel_failure,
        "demo: write tracking failed in the workload: " + text_of(wire.why, sizeof wire.why));
  }
  Tracking t;
  t.engine = tracked.engine;
  t.pages = demo::kTrackedPages;
  for (const demo::WireRound& r : wire.rounds) {
    t.rounds.push_back(TrackingRound{spans_of(r.wrote), spans_of(r.collected), r.more != 0});
  }
  return t;
}

DemoWorkload::DemoWorkload(DemoWorkload&& other) noexcept
    : pid_(other.pid_),
      report_(other.report_),
      control_(other.control_),
      parts_(std::move(other.parts_)) {
  other.pid_ = -1;
  other.report_ = -1;
  other.control_ = -1;
}

DemoWorkload::~DemoWorkload() {
  if (control_ >= 0) ::close(control_);
  if (report_ >= 0) ::close(report_);
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

}  // namespace pagescan::cli
