// The WriteWatch front end: argument checks, engine choice (forced, by environment, or
// the first of kAutomaticWatchOrder whose needs this kernel meets), and range checks on
// every call.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <mutex>
#include <optional>

#include "feature_probes.hpp"
#include "pagescan/watch.hpp"
#include "watch/engine.hpp"

namespace pagescan {

std::string_view to_string(WatchEngine engine) {
  switch (engine) {
    case WatchEngine::automatic:
      return "auto";
    case WatchEngine::uffd:
      return "uffd";
    case WatchEngine::soft_dirty:
      return "soft-dirty";
    case WatchEngine::mprotect:
      return "mprotect";
    case WatchEngine::everything:
      return "everything";
  }
  return "?";
}

Result<WatchEngine> parse_watch_engine(std::string_view name) {
  for (WatchEngine e : {WatchEngine::automatic, WatchEngine::uffd, WatchEngine::soft_dirty,
                        WatchEngine::mprotect, WatchEngine::everything}) {
    if (to_string(e) == name) return e;
  }
  if (name == "soft_dirty") return WatchEngine::soft_dirty;
  return Error(EINVAL, ErrorKind::invalid_argument,
               "unknown write-tracking engine '" + std::string(name) +
                   "' (expected auto, uffd, soft-dirty, mprotect or everything)");
}

namespace watch {

std::string describe(std::uint64_t start, std::uint64_t end) {
  char text[80];
  std::snprintf(text, sizeof text, "watch of [0x%" PRIx64 "-0x%" PRIx64 ")", start, end);
  return text;
}

Result<void> past_address_space(const char* what, std::uint64_t addr, std::uint64_t len,
                                std::uint64_t page) {
  // A length larger than the whole user address space, or one whose end (rounded up to
  // a page) wraps around, would otherwise wrap to a short or empty range. A range that
  // merely ends past the limit is left to the mapping check ("not wholly mapped").
  const std::uint64_t limit = probe::scanning().user_address_limit;
  const bool wraps = addr + len < addr || addr + len + page - 1 < addr;
  if (!wraps && len <= limit) return {};
  char text[200];
  std::snprintf(text, sizeof text,
                "%s of %" PRIu64 " bytes at 0x%" PRIx64
                ": the range runs past the end of the user address space (highest end 0x%" PRIx64
                ")",
                what, len, addr, limit);
  return Error(EINVAL, ErrorKind::invalid_argument, text);
}

Harvest whole_range(std::uint64_t lo, std::uint64_t hi, std::uint64_t max_pages,
                    std::uint64_t page_size) {
  Harvest h;
  std::uint64_t pages = (hi - lo) / page_size;
  if (max_pages && pages > max_pages) {
    pages = max_pages;
    h.more = true;
  }
  if (pages) h.ranges.push_back(PageRange{lo, lo + pages * page_size});
  h.pages = pages;
  return h;
}

void widen_to_granularity(Harvest& harvest, std::uint64_t granularity, std::uint64_t lo,
                          std::uint64_t hi, std::uint64_t page_size) {
  if (granularity <= page_size) return;
  std::vector<PageRange> out;
  for (PageRange r : harvest.ranges) {
    r.start = std::max(lo, r.start & ~(granularity - 1));
    r.end = std::min(hi, (r.end + granularity - 1) & ~(granularity - 1));
    if (!out.empty() && out.back().end >= r.start) {
      out.back().end = std::max(out.back().end, r.end);
    } else {
      out.push_back(r);
    }
  }
  harvest.pages = 0;
  for (const PageRange& r : out) harvest.pages += (r.end - r.start) / page_size;
  harvest.ranges = std::move(out);
}

}  // namespace watch

namespace {

using EngineFactory = Result<std::unique_ptr<WriteWatch::Engine>> (*)(std::uint64_t, std::uint64_t,
                                                                      const WatchOptions&);

EngineFactory factory_for(WatchEngine engine) {
  switch (engine) {
    case WatchEngine::uffd:
      return watch::make_uffd_engine;
    case WatchEngine::soft_dirty:
      return watch::make_soft_dirty_engine;
    case WatchEngine::mprotect:
      return watch::make_mprotect_engine;
    case WatchEngine::everything:
      return watch::make_everything_engine;
    case WatchEngine::automatic:
      break;
  }
  return nullptr;
}

std::uint64_t page_size() {
  return static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

// The self-test behind watch_engine_available() (never run by create(): it maps scratch
// memory, and for soft-dirty forks and writes clear_refs): on a scratch mapping, a
// written page is reported, re-arming clears it, and (uffd) a write by the kernel
// through read(2) is reported too.
Result<void> self_test(WatchEngine engine) {
  if (engine == WatchEngine::everything) return {};
  const std::uint64_t page = page_size();
  void* mem = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    return Error::from_errno(errno, ErrorKind::kernel_failure, "self-test mapping");
  }
  auto fail = [&](const std::string& why) -> Result<void> {
    return Error(EOPNOTSUPP, ErrorKind::unsupported,
                 std::string(to_string(engine)) + " engine failed its self-test: " + why);
  };
  Result<void> verdict;
  {
    auto start = reinterpret_cast<std::uint64_t>(mem);
    auto made = factory_for(engine)(start, start + 2 * page, WatchOptions{});
    if (!made) {
      ::munmap(mem, 2 * page);
      return made.error();
    }
    auto& e = *made;
    e->page_size = e->granularity = page;
    static_cast<volatile char*>(mem)[0] = 1;
    auto first = e->collect(start, start + 2 * page, 0, true);
    auto second = e->collect(start, start + 2 * page, 0, true);
    if (!first || !second) {
      verdict = (!first ? first.error() : second.error()).with_context("self-test collect");
    } else if (first->ranges != std::vector<PageRange>{{start, start + page}}) {
      verdict = fail("a written page was not reported alone");
    } else if (!second->ranges.empty()) {
      verdict = fail("re-arming did not clear the written page");
    } else if (engine == WatchEngine::uffd) {
      int fds[2];
      if (::pipe(fds) == 0) {
        (void)!::write(fds[1], "k", 1);
        ssize_t n = ::read(fds[0], static_cast<char*>(mem) + page, 1);
        ::close(fds[0]);
        ::close(fds[1]);
        auto third = e->collect(start, start + 2 * page, 0, true);
        if (n != 1 || !third ||
            third->ranges != std::vector<PageRange>{{start + page, start + 2 * page}}) {
          verdict = fail("a write by the kernel (read(2)) was not reported");
        }
      }
    }
  }
  ::munmap(mem, 2 * page);
  return verdict;
}

}  // namespace

// What the engine needs, checked from the cached probes (engine.hpp), without the
// self-test.
Result<void> watch_engine_supported(WatchEngine engine) {
  switch (engine) {
    case WatchEngine::uffd:
      return watch::uffd_engine_supported();
    case WatchEngine::soft_dirty:
      return watch::soft_dirty_engine_supported();
    default:
      return {};
  }
}

Result<WatchEngine> watch_engine_requested(WatchEngine requested) {
  if (requested != WatchEngine::automatic) return requested;
  const char* env = std::getenv("PAGESCAN_WATCH_ENGINE");
  if (!env || !*env) return requested;
  auto parsed = parse_watch_engine(env);
  if (!parsed) return parsed.error().with_context("PAGESCAN_WATCH_ENGINE");
  return *parsed;
}

Result<void> watch_engine_available(WatchEngine engine) {
  if (engine == WatchEngine::automatic) return {};
  static std::mutex mutex;
  static std::optional<Result<void>> cache[5];
  std::lock_guard lock(mutex);
  auto& slot = cache[static_cast<int>(engine)];
  if (!slot) slot = self_test(engine);
  return *slot;
}

WriteWatch::WriteWatch(std::unique_ptr<Engine> engine) : engine_(std::move(engine)) {}
WriteWatch::WriteWatch(WriteWatch&&) noexcept = default;
WriteWatch& WriteWatch::operator=(WriteWatch&&) noexcept = default;
WriteWatch::~WriteWatch() = default;

Result<WriteWatch> WriteWatch::create(void* base, std::size_t len, const WatchOptions& options) {
  const std::uint64_t page = page_size();
  auto addr = reinterpret_cast<std::uint64_t>(base);
  std::uint64_t start = addr & ~(page - 1);
  std::uint64_t end = (addr + len + page - 1) & ~(page - 1);
  if (len == 0) {
    return Error(EINVAL, ErrorKind::invalid_argument,
                 "watch of " + std::to_string(len) + " bytes: expected a length > 0");
  }
  if (auto past = watch::past_address_space("watch", addr, len, page); !past) return past.error();
  // msync() fails with ENOMEM when any page of the range is unmapped, changing nothing.
  if (::msync(reinterpret_cast<void*>(start), end - start, MS_ASYNC) != 0) {
    return Error(errno == ENOMEM ? EINVAL : errno, ErrorKind::invalid_argument,
                 watch::describe(start, end) + ": the range is not wholly mapped");
  }
  auto requested = watch_engine_requested(options.engine);
  if (!requested) return requested.error();
  const WatchEngine choice = *requested;
  // Automatic tries only the engines that keep the never-lost contract (watch.hpp):
  // soft-dirty's collect is not atomic (a write between reading bit 55 and writing
  // clear_refs is lost), so it is used only when asked for by name, which also keeps its
  // forking probe out of every other caller. No self-test runs here: each engine checks
  // the facts it needs, which have no side effects (features.hpp), and refuses if absent.
  std::vector<WatchEngine> order;
  if (choice == WatchEngine::automatic) {
    order.assign(std::begin(kAutomaticWatchOrder), std::end(kAutomaticWatchOrder));
  } else {
    order = {choice};
  }
  std::string reasons;
  for (WatchEngine e : order) {
    if (auto ok = watch_engine_supported(e); !ok) {
      if (choice != WatchEngine::automatic) {
        return ok.error().with_context(watch::describe(start, end));
      }
      reasons += "; " + ok.error().message();
      continue;
    }
    auto made = factory_for(e)(start, end, options);
    if (!made) {
      if (choice != WatchEngine::automatic) return made.error();
      reasons += "; " + made.error().message();
      continue;
    }
    (*made)->page_size = page;
    return WriteWatch(std::move(*made));
  }
  return Error(EOPNOTSUPP, ErrorKind::unsupported,
               watch::describe(start, end) + ": no engine available" + reasons);
}

WatchEngine WriteWatch::engine() const {
  return engine_->kind();
}
void* WriteWatch::base() const {
  return reinterpret_cast<void*>(engine_->start);
}
std::size_t WriteWatch::length() const {
  return engine_->end - engine_->start;
}
std::size_t WriteWatch::granularity() const {
  return engine_->granularity;
}

namespace {

// Rounds [base, base + len) out to pages and checks it lies inside the watch.
Result<PageRange> inside(const WriteWatch::Engine& e, void* base, std::size_t len) {
  auto addr = reinterpret_cast<std::uint64_t>(base);
  std::uint64_t start = addr & ~(e.page_size - 1);
  std::uint64_t end = (addr + len + e.page_size - 1) & ~(e.page_size - 1);
  if (len == 0 || end < addr || start < e.start || end > e.end) {
    char text[160];
    std::snprintf(text, sizeof text,
                  "range [0x%" PRIx64 "-0x%" PRIx64 ") is not inside the %s (length %zu)", start,
                  end, watch::describe(e.start, e.end).c_str(), len);
    return Error(EINVAL, ErrorKind::invalid_argument, text);
  }
  return PageRange{start, end};
}

// Re-arming needs every page of the range mapped. A collect with reset or a reset over a
// part unmapped since the watch was created fails alike on every engine, before the
// engine changes anything: ENOENT / invalid_argument, as userfaultfd answers a range it
// no longer has registered (docs/errors.md 4.24). msync() fails with ENOMEM when any
// page of its range is unmapped, changing nothing.
Result<void> still_mapped(const WriteWatch::Engine& e, const PageRange& r, const char* call) {
  if (::msync(reinterpret_cast<void*>(r.start), r.end - r.start, MS_ASYNC) == 0) return {};
  const std::string what = watch::describe(e.start, e.end) + ": " + call;
  if (errno != ENOMEM) return Error::from_errno(errno, ErrorKind::kernel_failure, what);
  return Error(ENOENT, ErrorKind::invalid_argument,
               what + ": the region is no longer wholly mapped (unmapped since)");
}

}  // namespace

Result<Harvest> WriteWatch::collect(void* base, std::size_t len, const CollectOptions& options) {
  auto range = inside(*engine_, base, len);
  if (!range) return range.error();
  if (options.reset) {
    if (auto mapped = still_mapped(*engine_, *range, "collect"); !mapped) return mapped.error();
  }
  auto harvest = engine_->collect(range->start, range->end, options.max_pages, options.reset);
  if (!harvest) return harvest.error();
  watch::widen_to_granularity(*harvest, engine_->granularity, range->start, range->end,
                              engine_->page_size);
  return harvest;
}

Result<void> WriteWatch::reset(void* base, std::size_t len) {
  auto range = inside(*engine_, base, len);
  if (!range) return range.error();
  if (auto mapped = still_mapped(*engine_, *range, "reset"); !mapped) return mapped.error();
  return engine_->reset(range->start, range->end);
}

Result<void> WriteWatch::fold_back(const Harvest& harvest) {
  for (const PageRange& r : harvest.ranges) {
    if (r.start < engine_->start || r.end > engine_->end || r.end < r.start) {
      char text[64];
      std::snprintf(text, sizeof text, "[0x%" PRIx64 "-0x%" PRIx64 ")", r.start, r.end);
      return Error(EINVAL, ErrorKind::invalid_argument,
                   "fold_back: harvested range " + std::string(text) + " is not inside the " +
                       watch::describe(engine_->start, engine_->end));
    }
  }
  return engine_->fold_back(harvest);
}

Result<void> WriteWatch::prepare_for_kernel_write(void* base, std::size_t len) {
  auto range = inside(*engine_, base, len);
  if (!range) return range.error();
  return engine_->prepare_for_kernel_write(range->start, range->end);
}

Result<void> WriteWatch::check_intact() const {
  // msync() fails with ENOMEM when any page of the range is unmapped, changing nothing.
  if (::msync(reinterpret_cast<void*>(engine_->start), engine_->end - engine_->start, MS_ASYNC) !=
      0) {
    return Error(ENOENT, ErrorKind::invalid_argument,
                 watch::describe(engine_->start, engine_->end) +
                     ": the region is no longer wholly mapped (unmapped since)");
  }
  return engine_->check_intact();
}

}  // namespace pagescan
