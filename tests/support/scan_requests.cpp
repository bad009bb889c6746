// Requests for the differential tests: single categories and seeded random mixes.
#include "support/scan_requests.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "support/memory.hpp"

namespace pagescan::test {

namespace {

std::string offset(std::uint64_t addr, std::uint64_t base) {
  char buf[40];
  if (addr >= base) {
    std::snprintf(buf, sizeof buf, "W+0x%" PRIx64, addr - base);
  } else {
    std::snprintf(buf, sizeof buf, "W-0x%" PRIx64, base - addr);
  }
  return buf;
}

std::string cats(std::uint64_t bits) {
  return "{" + to_string(Categories::from_bits(bits)) + "}";
}

}  // namespace

std::string describe(const PlannedRequest& r, std::uint64_t base, std::size_t index) {
  const RawScanArgs& a = r.args;
  char buf[120];
  std::snprintf(buf, sizeof buf, " flags=0x%" PRIx64 " max_pages=%" PRIu64 " vec_len=%" PRIu64,
                a.flags, a.max_pages, a.vec_len);
  return "#" + std::to_string(index) + " (" + r.origin + ") [" + offset(a.start, base) + ", " +
         offset(a.end, base) + ")" + buf + " mask=" + cats(a.category_mask) +
         " anyof=" + cats(a.category_anyof_mask) + " inverted=" + cats(a.category_inverted) +
         " return=" + cats(a.return_mask) + (r.vec_pointer ? "" : " vec=NULL");
}

std::uint64_t seed_for(const std::string& name, std::uint64_t base_seed) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h ^ base_seed;
}

RequestGenerator::RequestGenerator(const Scenario& s, Categories supported, Categories present,
                                   std::uint64_t seed)
    : page_(page_size()),
      window_start_(s.window_start()),
      window_end_(s.window_end()),
      slot_start_(s.slot_start()),
      slot_end_(s.slot_end()),
      supported_(supported.bits()),
      present_(present.bits() & supported.bits()),
      rng_(seed) {
  for (const ScenarioPart& p : s.parts()) {
    anchors_.push_back(p.start);
    anchors_.push_back(p.end);
    part_pages_.push_back((p.end - p.start) / page_);
  }
  anchors_.push_back(window_start_);
  anchors_.push_back(window_end_);
  for (const ScenarioPart& h : s.huge_pages()) huge_.emplace_back(h.start, h.end);
}

std::vector<PlannedRequest> RequestGenerator::single_categories() const {
  std::vector<PlannedRequest> out;
  for (Category c : kAllCategories) {
    const std::uint64_t bit = static_cast<std::uint64_t>(c);
    if (!(supported_ & bit)) continue;
    for (int form = 0; form < 3; ++form) {
      PlannedRequest r;
      r.args.start = window_start_;
      r.args.end = window_end_;
      r.args.vec_len = 4096;
      r.args.return_mask = supported_;
      if (form == 0) r.args.category_mask = bit;
      if (form == 1) r.args.category_anyof_mask = bit;
      if (form == 2) r.args.category_mask = r.args.category_inverted = bit;
      r.origin = std::string(to_string(c)) + (form == 0   ? " all-of"
                                              : form == 1 ? " any-of"
                                                          : " inverted");
      out.push_back(r);
    }
  }
  return out;
}

std::uint64_t RequestGenerator::random_subset(unsigned percent_each) {
  std::uint64_t bits = 0;
  for (Category c : kAllCategories) {
    const std::uint64_t bit = static_cast<std::uint64_t>(c);
    if ((supported_ & bit) && chance(percent_each)) bits |= bit;
  }
  return bits;
}

std::uint64_t RequestGenerator::random_mask(unsigned percent_present, unsigned percent_absent) {
  std::uint64_t bits = 0;
  for (Category c : kAllCategories) {
    const std::uint64_t bit = static_cast<std::uint64_t>(c);
    if (!(supported_ & bit)) continue;
    if (chance((present_ & bit) ? percent_present : percent_absent)) bits |= bit;
  }
  return bits;
}

std::uint64_t RequestGenerator::random_max_pages() {
  const std::uint64_t r = pick(100);
  if (r < 35) return 0;
  if (r < 45) return 1;
  if (r < 55) return 2 + pick(2);
  if (r < 65) return 4 + pick(13);
  if (r < 80 && !part_pages_.empty()) {
    std::uint64_t size = part_pages_[pick(part_pages_.size())];
    return std::max<std::uint64_t>(1, size + pick(3) - 1);
  }
  if (r < 90) {
    static constexpr std::uint64_t kThpish[] = {256, 511, 512, 513, 1023, 1024};
    return kThpish[pick(6)];
  }
  return 1 + pick((window_end_ - window_start_) / page_);
}

std::uint64_t RequestGenerator::random_vec_len(bool allow_zero) {
  const std::uint64_t r = pick(100);
  if (allow_zero && r < 12) return 0;
  if (r < 22) return 1;
  if (r < 32) return 2;
  if (r < 40) return 3;
  if (r < 55) return 4 + pick(13);
  if (r < 65) return 512;
  if (r < 70) return 513;
  return 4096;
}

void RequestGenerator::random_range(RawScanArgs& a) {
  const std::uint64_t window_pages = (window_end_ - window_start_) / page_;
  const std::uint64_t r = pick(100);
  std::uint64_t start = 0, end = 0;
  auto near = [&](std::uint64_t addr) {
    std::int64_t delta = static_cast<std::int64_t>(pick(17)) - 8;
    return addr + static_cast<std::uint64_t>(delta * static_cast<std::int64_t>(page_));
  };
  if (r < 15) {
    start = window_start_;
    end = window_end_;
  } else if (r < 22) {  // the window and the empty slot around it
    start = window_start_ - std::min<std::uint64_t>(window_start_ - slot_start_, 64 * page_);
    end = window_end_ + std::min<std::uint64_t>(slot_end_ - window_end_, 64 * page_);
  } else if (r < 55 && !huge_.empty()) {  // edges inside huge pages
    auto [hs, he] = huge_[pick(huge_.size())];
    const std::uint64_t hp = (he - hs) / page_;
    start = chance(20) ? hs : hs + pick(hp) * page_;
    if (chance(50)) {
      auto [hs2, he2] = huge_[pick(huge_.size())];
      end = chance(20) ? he2 : hs2 + (1 + pick(hp)) * page_;
    } else {
      end = start + (1 + pick(2 * hp)) * page_;
    }
  } else if (r < 80) {  // around part edges, crossing VMAs and gaps
    start = near(anchors_[pick(anchors_.size())]);
    end = chance(50) ? near(anchors_[pick(anchors_.size())]) : start + (1 + pick(64)) * page_;
  } else {
    start = window_start_ + pick(window_pages) * page_;
    end = window_start_ + (1 + pick(window_pages)) * page_;
  }
  start = std::clamp(start, slot_start_, slot_end_);
  end = std::clamp(end, slot_start_, slot_end_);
  if (end < start) std::swap(start, end);
  if (chance(3)) end = start;
  if (end > start && chance(5)) end -= 1 + pick(page_ - 1);  // the kernel rounds end up
  a.start = start;
  a.end = end;
}

PlannedRequest RequestGenerator::random_scan() {
  PlannedRequest r;
  r.origin = "random";
  RawScanArgs& a = r.args;
  random_range(a);
  a.category_mask = random_mask(20, 3);
  a.category_anyof_mask = random_mask(25, 5);
  // Inverting an absent category matches everywhere, a present one narrows the match.
  a.category_inverted = (random_subset(40) & present_ & (a.category_mask | a.category_anyof_mask)) |
                        (random_subset(85) & ~present_ & (a.category_mask | a.category_anyof_mask));
  if (chance(10)) a.category_inverted |= random_subset(10);  // bits in no mask: no effect
  const std::uint64_t ret = pick(100);
  a.return_mask = ret < 15 ? 0 : ret < 50 ? supported_ : random_subset(50);
  a.max_pages = random_max_pages();
  a.vec_len = random_vec_len(true);
  r.vec_pointer = a.vec_len || chance(50);
  if (chance(10)) a.flags = RawScanArgs::kCheckWpAsync;
  return r;
}

PlannedRequest RequestGenerator::random_write_protect(bool allow_no_buffer) {
  PlannedRequest r;
  RawScanArgs& a = r.args;
  random_range(a);
  a.flags = RawScanArgs::kWpMatching | (chance(50) ? RawScanArgs::kCheckWpAsync : 0);
  const std::uint64_t written = static_cast<std::uint64_t>(Category::written);
  const std::uint64_t form = pick(100);
  if (form < 35) {  // the WRITTEN fast path (§3.7) and the usual get-and-reset
    r.origin = "wp fast path";
    a.category_mask = a.return_mask = written;
  } else if (form < 60) {
    r.origin = "wp any-of written";
    a.category_anyof_mask = written;
    a.return_mask = random_subset(50);
  } else if (form < 80) {
    r.origin = "wp random masks";
    a.category_mask = random_mask(20, 3);
    a.category_anyof_mask = random_mask(25, 5);
    a.category_inverted = random_subset(40) & (a.category_mask | a.category_anyof_mask);
    a.return_mask = random_subset(50);
  } else {
    r.origin = "wp every page";
    a.return_mask = chance(50) ? supported_ : random_subset(50);
  }
  a.max_pages = random_max_pages();
  a.vec_len = random_vec_len(allow_no_buffer);
  r.vec_pointer = a.vec_len || chance(50);
  return r;
}

}  // namespace pagescan::test
