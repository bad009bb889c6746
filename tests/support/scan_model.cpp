// A reference model of one PAGEMAP_SCAN call over known per-page categories.
#include "support/scan_model.hpp"

#include <algorithm>
#include <cerrno>
#include <limits>

namespace pagescan::test {

PageTruth::PageTruth(std::vector<PageRegion> runs, std::uint64_t page_size)
    : runs_(std::move(runs)), page_size_(page_size) {
  normalize();
}

void PageTruth::normalize() {
  std::sort(runs_.begin(), runs_.end(),
            [](const PageRegion& a, const PageRegion& b) { return a.start < b.start; });
  std::vector<PageRegion> merged;
  for (const PageRegion& r : runs_) {
    if (r.start == r.end) continue;
    if (!merged.empty() && merged.back().end == r.start &&
        merged.back().categories == r.categories) {
      merged.back().end = r.end;
    } else {
      merged.push_back(r);
    }
  }
  runs_ = std::move(merged);
}

std::optional<std::uint64_t> PageTruth::at(std::uint64_t addr) const {
  auto it = std::upper_bound(runs_.begin(), runs_.end(), addr,
                             [](std::uint64_t a, const PageRegion& r) { return a < r.start; });
  if (it == runs_.begin()) return std::nullopt;
  --it;
  if (addr >= it->end) return std::nullopt;
  return it->categories.bits();
}

void PageTruth::set(std::uint64_t start, std::uint64_t end, std::uint64_t categories) {
  std::vector<PageRegion> out;
  for (const PageRegion& r : runs_) {
    if (r.end <= start || r.start >= end) {
      out.push_back(r);
      continue;
    }
    if (r.start < start) out.push_back(PageRegion{r.start, start, r.categories});
    if (r.end > end) out.push_back(PageRegion{end, r.end, r.categories});
  }
  out.push_back(PageRegion{start, end, Categories::from_bits(categories)});
  runs_ = std::move(out);
  normalize();
}

std::vector<PageRegion> PageTruth::relative_to(std::uint64_t base) const {
  std::vector<PageRegion> out = runs_;
  for (PageRegion& r : out) {
    r.start -= base;
    r.end -= base;
  }
  return out;
}

namespace {

constexpr long kNoSpace = -ENOSPC;

bool interesting(std::uint64_t c, const RawScanArgs& a) {
  c ^= a.category_inverted;
  if ((c & a.category_mask) != a.category_mask) return false;
  return !a.category_anyof_mask || (c & a.category_anyof_mask);
}

// The kernel's output side: bounce chunk, merging, page budget, stop address.
class Output {
 public:
  Output(std::vector<PageRegion>& vec, const RawScanArgs& a, std::uint64_t page, std::size_t chunk)
      : vec_(vec),
        vec_len_(a.vec_len),
        max_pages_(a.max_pages ? a.max_pages : std::numeric_limits<std::uint64_t>::max()),
        return_mask_(a.return_mask),
        page_(page),
        has_buffer_(a.vec_len != 0) {
    if (has_buffer_) {
      buf_len_ = chunk ? std::min<std::uint64_t>(vec_len_, chunk) : vec_len_;
      buf_.assign(buf_len_, PageRegion{});
    }
  }

  // One interesting page: 0, or kNoSpace when the walk must stop.
  long page(std::uint64_t categories, std::uint64_t addr) {
    if (!has_buffer_) return 0;  // no output buffer at all (§3.4)
    categories &= return_mask_;
    std::uint64_t end = addr + page_;
    long ret = 0;
    if (found_ + 1 > max_pages_) {  // the run is cut to nothing (§3.5)
      end = addr;
      ret = kNoSpace;
    }
    if (!push(categories, addr, end)) {  // the chunk is full (§2.4)
      end = addr;
      ret = kNoSpace;
    }
    if (end > addr) ++found_;
    if (ret) stop_ = end;
    return ret;
  }

  std::size_t flush() {
    if (!has_buffer_) return 0;
    std::size_t n = index_;
    if (buf_[n].end != buf_[n].start) ++n;
    if (!n) return 0;
    std::copy(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(n),
              vec_.begin() + static_cast<std::ptrdiff_t>(written_));
    written_ += n;
    vec_len_ -= n;
    index_ = 0;
    buf_len_ = std::min<std::uint64_t>(buf_len_, vec_len_);
    buf_[0] = PageRegion{};
    return n;
  }

  bool exhausted() const { return vec_len_ == 0 || found_ == max_pages_; }
  std::uint64_t stop() const { return stop_; }

 private:
  bool push(std::uint64_t categories, std::uint64_t addr, std::uint64_t end) {
    PageRegion* cur = &buf_[index_];
    if (addr == cur->end && categories == cur->categories.bits()) {
      cur->end = end;
      return true;
    }
    if (cur->end) {
      if (index_ + 1 >= buf_len_) return false;
      cur = &buf_[++index_];
    }
    *cur = PageRegion{addr, end, Categories::from_bits(categories)};
    return true;
  }

  std::vector<PageRegion>& vec_;
  std::uint64_t vec_len_;
  std::uint64_t max_pages_;
  std::uint64_t return_mask_;
  std::uint64_t page_;
  bool has_buffer_;
  std::vector<PageRegion> buf_;
  std::uint64_t buf_len_ = 0;
  std::size_t index_ = 0;
  std::size_t written_ = 0;
  std::uint64_t found_ = 0;
  std::uint64_t stop_ = 0;
};

// One walk_page_range() over [start, end): 0, kNoSpace, or -EPERM.
long walk(const PageTruth& truth, const std::vector<ModelVma>& vmas, const RawScanArgs& a,
          Output& out, std::uint64_t start, std::uint64_t end) {
  const std::uint64_t page = truth.page_size();
  for (const ModelVma& v : vmas) {
    if (v.end <= start || v.start >= end) continue;
    // The WP-allowed test comes before the VM_PFNMAP skip (§2.2, §3.2).
    if ((a.flags & (RawScanArgs::kWpMatching | RawScanArgs::kCheckWpAsync)) && !v.wpallowed) {
      if (a.flags & RawScanArgs::kCheckWpAsync) return -EPERM;
      continue;
    }
    if (v.pfnmap) continue;
    for (std::uint64_t p = std::max(v.start, start); p < std::min(v.end, end); p += page) {
      auto c = truth.at(p);
      if (!c) return -EIO;  // the truth does not cover a walked page: a test setup error
      if (!interesting(*c, a)) continue;
      if (long r = out.page(*c, p)) return r;
    }
  }
  return 0;
}

}  // namespace

ScanOutcome model_scan(const PageTruth& truth, const std::vector<ModelVma>& vmas,
                       const RawScanArgs& args, std::vector<PageRegion> vec, std::size_t chunk) {
  std::vector<ModelVma> sorted = vmas;
  std::sort(sorted.begin(), sorted.end(),
            [](const ModelVma& a, const ModelVma& b) { return a.start < b.start; });
  const std::uint64_t page = truth.page_size();
  const std::uint64_t end = (args.end + page - 1) & ~(page - 1);
  Output out(vec, args, page, chunk);
  long ret = 0;
  std::size_t total = 0;
  // do_pagemap_scan(): walk, flush, and restart at the stop address while the chunk
  // filled and room and budget remain (§3.6).
  for (std::uint64_t ws = args.start; ws < end; ws = out.stop()) {
    ret = walk(truth, sorted, args, out, ws, end);
    total += out.flush();
    if (ret != kNoSpace) break;
    if (out.exhausted()) break;
  }
  ScanOutcome o;
  o.ret = (ret == 0 || ret == kNoSpace) ? static_cast<long>(total) : ret;
  o.walk_end = out.stop() ? out.stop() : end;
  o.vec = std::move(vec);
  return o;
}

}  // namespace pagescan::test
