// Soft-dirty over another process (soft_dirty_remote.hpp). All watches of this process
// that use soft-dirty are in one list under one mutex: a clear_refs of target P must
// first let every other watch of P keep its written pages (the in-process engine,
// src/watch/soft_dirty_engine.cpp, does the same for /proc/self).
#include "remote/soft_dirty_remote.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <limits>
#include <mutex>
#include <string>

#include "feature_probes.hpp"
#include "pagescan/scan.hpp"
#include "proc/proc_files.hpp"
#include "remote/page_ranges.hpp"

namespace pagescan::remote {

Result<void> soft_dirty_works() {
  const Features& sd = probe::soft_dirty();
  if (sd.soft_dirty) return {};
  // The probe's child found bit 55 never set on a written page: the kernel has no
  // soft-dirty at all (features.cpp, probe_soft_dirty). Any other failure is its reason.
  if (sd.soft_dirty_detail.rfind("pagemap bit 55 never set", 0) == 0) {
    return Error(EOPNOTSUPP, ErrorKind::unsupported,
                 "soft-dirty is not built into this kernel (CONFIG_MEM_SOFT_DIRTY): pagemap "
                 "bit 55 never set");
  }
  return Error(EOPNOTSUPP, ErrorKind::unsupported,
               "soft-dirty does not work on this kernel: " + sd.soft_dirty_detail);
}

struct SoftDirtyTarget::Impl {
  pid_t pid = -1;
  int clear_refs = -1;
  const Process* process = nullptr;
  // Under the list's mutex: another watch of the target reads them before its clear.
  std::vector<PageRange> armed;
  std::vector<PageRange> pending;  // written, not yet reported

  // The soft-dirty pages of `ranges`.
  Result<std::vector<PageRange>> dirty(const std::vector<PageRange>& ranges) const {
    std::vector<PageRange> out;
    for (const PageRange& r : ranges) {
      // PAGEMAP_SCAN where the kernel has the soft-dirty category (6.8+), else pagemap
      // bit 55 read entry by entry: the library's automatic backend chooses.
      auto result = scan(*process, ScanRequest::over(r.start, r.end)
                                       .all_of(Category::soft_dirty)
                                       .returning(Category::soft_dirty));
      if (!result) return result.error();
      for (const PageRegion& region : result->regions) add_range(out, region.start, region.end);
    }
    return out;
  }

  // Folds the soft-dirty pages of `ranges` into pending.
  Result<void> keep(const std::vector<PageRange>& ranges) {
    auto bits = dirty(ranges);
    if (!bits) return bits.error();
    for (const PageRange& r : *bits) add_range(pending, r.start, r.end);
    return {};
  }

  Result<void> clear() const {
    if (::write(clear_refs, "4", 1) != 1) {
      return Error::from_errno(errno, ErrorKind::kernel_failure,
                               "writing 4 to /proc/" + std::to_string(pid) + "/clear_refs");
    }
    return {};
  }
};

namespace {

struct Live {
  std::mutex mutex;
  std::vector<SoftDirtyTarget::Impl*> watches;
};

Live& live() {
  static Live l;
  return l;
}

// Before a clear of `self`'s target: every other watch of it keeps all its written pages,
// `self` those outside [lo, hi), which the caller is consuming. Under the mutex.
Result<void> keep_others(SoftDirtyTarget::Impl& self, std::uint64_t lo, std::uint64_t hi) {
  for (SoftDirtyTarget::Impl* other : live().watches) {
    if (other == &self || other->pid != self.pid) continue;
    if (auto ok = other->keep(other->armed); !ok) return ok;
  }
  return self.keep(subtract(self.armed, PageRange{lo, hi}));
}

}  // namespace

Result<std::unique_ptr<SoftDirtyTarget>> SoftDirtyTarget::open(pid_t pid, const Process& process) {
  auto dir = process.proc_dir();
  if (!dir) return dir.error();
  const std::string path = *dir + "/clear_refs";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return proc::file_error(errno, proc::FileRole::process, "open " + path);
  std::unique_ptr<SoftDirtyTarget> target(new SoftDirtyTarget());
  target->impl_ = std::make_unique<Impl>();
  target->impl_->pid = pid;
  target->impl_->clear_refs = fd;
  target->impl_->process = &process;
  return target;
}

SoftDirtyTarget::~SoftDirtyTarget() {
  if (!impl_) return;
  {
    std::lock_guard lock(live().mutex);
    std::erase(live().watches, impl_.get());
  }
  ::close(impl_->clear_refs);
}

Result<void> SoftDirtyTarget::arm() {
  std::lock_guard lock(live().mutex);
  constexpr std::uint64_t kAll = std::numeric_limits<std::uint64_t>::max();
  if (auto ok = keep_others(*impl_, 0, kAll); !ok) return ok;
  if (auto ok = impl_->clear(); !ok) return ok;
  live().watches.push_back(impl_.get());
  return {};
}

Result<Harvest> SoftDirtyTarget::collect(std::uint64_t lo, std::uint64_t hi,
                                         std::uint64_t max_pages, bool reset) {
  std::lock_guard lock(live().mutex);
  Impl& s = *impl_;
  const std::vector<PageRange> in_query = clipped(s.armed, lo, hi);
  auto written = s.dirty(in_query);
  if (!written) return written.error();
  for (const PageRange& p : intersect(s.pending, in_query)) add_range(*written, p.start, p.end);

  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  Harvest h;
  std::vector<PageRange> left;  // written, beyond max_pages: reported next time
  for (const PageRange& r : *written) {
    std::uint64_t pages = (r.end - r.start) / page;
    if (max_pages && h.pages + pages > max_pages) {
      const std::uint64_t take = max_pages - h.pages;
      if (take) h.ranges.push_back(PageRange{r.start, r.start + take * page});
      left.push_back(PageRange{r.start + take * page, r.end});
      h.pages += take;
      h.more = true;
      continue;
    }
    h.ranges.push_back(r);
    h.pages += pages;
  }
  if (!reset) return h;
  s.pending = subtract(s.pending, PageRange{lo, hi});
  for (const PageRange& r : left) add_range(s.pending, r.start, r.end);
  // Pages reported are consumed; if the clear fails they stay soft-dirty and are
  // reported again: nothing is lost either way.
  if (auto ok = keep_others(s, lo, hi); !ok) return ok.error();
  if (auto ok = s.clear(); !ok) return ok.error();
  return h;
}

Result<void> SoftDirtyTarget::reset(std::uint64_t lo, std::uint64_t hi) {
  std::lock_guard lock(live().mutex);
  impl_->pending = subtract(impl_->pending, PageRange{lo, hi});
  if (auto ok = keep_others(*impl_, lo, hi); !ok) return ok;
  return impl_->clear();
}

void SoftDirtyTarget::set_armed(const std::vector<PageRange>& armed) {
  std::lock_guard lock(live().mutex);
  impl_->armed = armed;
  impl_->pending = intersect(impl_->pending, armed);
}

}  // namespace pagescan::remote
