// Running one request through a backend or the reference model, and comparing answers.
#include "support/backend_runs.hpp"

#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "kernel/uapi.hpp"
#include "pagescan/features.hpp"
#include "proc/maps.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"

namespace pagescan::test::diff {

using uapi::PAGE_IS_WPALLOWED;

const PageRegion kSentinel{0x5e5e5e5e5e5e5000ull, 0x5e5e5e5e5e5e6000ull,
                           Categories::from_bits(0xdead000)};

namespace {

std::uint64_t page() {
  return page_size();
}

RawScanArgs with_buffer(const PlannedRequest& r, std::vector<PageRegion>& vec) {
  RawScanArgs a = r.args;
  vec.assign(std::max<std::uint64_t>(a.vec_len, 1), kSentinel);
  a.vec = r.vec_pointer ? reinterpret_cast<std::uint64_t>(vec.data()) : 0;
  a.walk_end = kWalkEndSentinel;
  return a;
}

std::string outcome_text(const ScanOutcome& o, std::uint64_t base) {
  std::string s =
      "ret=" + std::to_string(o.ret) + " walk_end=" +
      (o.walk_end == kWalkEndSentinel ? std::string("<untouched>") : rel(o.walk_end, base)) +
      " regions:";
  std::size_t shown = 0;
  for (const PageRegion& r : o.vec) {
    if (r == kSentinel) continue;
    if (++shown > 12) {
      s += " ...";
      break;
    }
    s += " " + region_text(r, base);
  }
  return s;
}

std::string complete_text(const Complete& c, std::uint64_t base) {
  if (c.error) return "error " + std::to_string(c.error);
  std::string s = "walk_end=" + rel(c.walk_end, base) + " stop=" + std::string(to_string(c.stop)) +
                  " pages=" + std::to_string(c.pages) + " regions(" +
                  std::to_string(c.regions.size()) + "):";
  for (std::size_t i = 0; i < c.regions.size() && i < 12; ++i) {
    s += " " + region_text(c.regions[i], base);
  }
  return s;
}

ScanRequest to_request(const RawScanArgs& a) {
  ScanRequest r = ScanRequest::over(a.start, a.end);
  r.category_mask = Categories::from_bits(a.category_mask);
  r.category_anyof_mask = Categories::from_bits(a.category_anyof_mask);
  r.category_inverted = Categories::from_bits(a.category_inverted);
  r.return_mask = Categories::from_bits(a.return_mask);
  r.max_pages = a.max_pages;
  r.write_protect = a.flags & RawScanArgs::kWpMatching;
  r.check_wp_async = a.flags & RawScanArgs::kCheckWpAsync;
  return r;
}

}  // namespace

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

std::string rel(std::uint64_t addr, std::uint64_t base) {
  if (addr >= base) return "W+" + hex(addr - base);
  return "W-" + hex(base - addr);
}

std::string region_text(const PageRegion& r, std::uint64_t base) {
  if (r == kSentinel) return "<sentinel>";
  return "[" + rel(r.start, base) + "," + rel(r.end, base) + "){" + to_string(r.categories) + "}";
}

// Empty when equal; otherwise what differs, both sides shown relative to `base`.
std::string compare_outcomes(const char* a_name, const ScanOutcome& a, const char* b_name,
                             const ScanOutcome& b, std::uint64_t base) {
  std::string diff;
  if (a.ret != b.ret) diff += " return value;";
  if (a.walk_end != b.walk_end) diff += " walk_end;";
  if (a.vec.size() != b.vec.size()) {
    diff += " buffer size;";
  } else {
    for (std::size_t i = 0; i < a.vec.size(); ++i) {
      if (!(a.vec[i] == b.vec[i])) {
        diff += " vec[" + std::to_string(i) + "] " + region_text(a.vec[i], base) + " vs " +
                region_text(b.vec[i], base) + ";";
        break;
      }
    }
  }
  if (diff.empty()) return diff;
  return "differs in" + diff + "\n    " + a_name + ": " + outcome_text(a, base) + "\n    " +
         b_name + ": " + outcome_text(b, base);
}

// Entries past the returned count must still hold the sentinel (§3.4).
std::string check_untouched(const char* who, const ScanOutcome& o) {
  if (o.ret < 0) return "";
  for (std::size_t i = static_cast<std::size_t>(o.ret); i < o.vec.size(); ++i) {
    if (!(o.vec[i] == kSentinel)) {
      return std::string(who) + " wrote vec[" + std::to_string(i) + "] past its count " +
             std::to_string(o.ret);
    }
  }
  return "";
}

Outcome run_raw(const Process& process, const PlannedRequest& r, BackendChoice backend) {
  Outcome o;
  RawScanArgs a = with_buffer(r, o.vec);
  const RawScanArgs before = a;
  RawScanInfo info;
  info.backend = backend == BackendChoice::kernel ? Backend::emulated : Backend::kernel;
  auto n = scan_raw(process, a, ScanOptions{.backend = backend}, &info);
  o.ret = n ? static_cast<long>(*n) : -n.error().errno_value();
  o.walk_end = a.walk_end;
  RawScanArgs after = a;
  after.walk_end = before.walk_end;
  if (std::memcmp(&after, &before, sizeof after) != 0) o.trouble = "changed an input field";
  if (n) {
    o.approximate = info.approximate;
    Backend want = backend == BackendChoice::kernel ? Backend::kernel : Backend::emulated;
    if (info.backend != want) o.trouble = "answered by the wrong backend";
    if (want == Backend::kernel && !info.approximate.empty()) o.trouble = "kernel flagged";
  }
  return o;
}

ScanOutcome run_model(const PageTruth& truth, const std::vector<ModelVma>& vmas,
                      const PlannedRequest& r) {
  std::vector<PageRegion> vec;
  RawScanArgs a = with_buffer(r, vec);
  if (!r.vec_pointer) a.vec_len = 0;  // validation has passed: vec_len is 0 here
  return model_scan(truth, vmas, a, std::move(vec), features().chunk_regions());
}

std::uint64_t used_categories(const RawScanArgs& a) {
  return a.category_mask | a.category_anyof_mask | a.return_mask;
}

std::optional<PageTruth> truth_of(const Process& process, std::uint64_t start, std::uint64_t end,
                                  BackendChoice backend, Categories* approximate,
                                  std::string& error) {
  auto r = scan(process, ScanRequest::over(start, end).returning(accepted_scan_categories()),
                ScanOptions{.backend = backend});
  if (!r) {
    error = r.error().message();
    return std::nullopt;
  }
  if (approximate) *approximate = r->approximate;
  return PageTruth(r->regions, page());
}

std::vector<ModelVma> model_vmas(const PageTruth& truth, std::uint64_t start, std::uint64_t end) {
  std::vector<ModelVma> out;
  auto vmas = proc::read_vmas(0, true);
  if (!vmas) return out;
  for (const proc::Vma& v : *vmas) {
    if (v.end <= start || v.start >= end) continue;
    ModelVma m{v.start, v.end, v.pfnmap(), false};
    auto c = truth.at(std::max(v.start, start));
    m.wpallowed = c && (*c & PAGE_IS_WPALLOWED);
    out.push_back(m);
  }
  return out;
}

// Page-level differences between two truths, for messages.
std::string truth_diff(const PageTruth& want, const char* want_name, const PageTruth& got,
                       const char* got_name, const PageTruth& kernel, std::uint64_t start,
                       std::uint64_t end, std::uint64_t base, int pagemap_fd) {
  std::string out;
  std::size_t shown = 0;
  std::uint64_t run_start = 0, run_w = 0, run_g = 0, run_k = 0;
  bool in_run = false;
  auto flush = [&](std::uint64_t a) {
    if (!in_run) return;
    in_run = false;
    if (++shown > 10) return;
    std::uint64_t e = 0;
    ::pread(pagemap_fd, &e, 8, static_cast<off_t>(run_start / page() * 8));
    out += "\n    [" + rel(run_start, base) + "," + rel(a, base) + ") kernel {" +
           to_string(Categories::from_bits(run_k)) + "} " + want_name + " {" +
           to_string(Categories::from_bits(run_w)) + "} " + got_name + " {" +
           to_string(Categories::from_bits(run_g)) + "} pagemap " + hex(e);
  };
  for (std::uint64_t a = start; a < end; a += page()) {
    std::uint64_t w = want.at(a).value_or(~0ull), g = got.at(a).value_or(~0ull),
                  k = kernel.at(a).value_or(~0ull);
    if (w == g) {
      flush(a);
      continue;
    }
    if (in_run && w == run_w && g == run_g && k == run_k) continue;
    flush(a);
    in_run = true;
    run_start = a;
    run_w = w;
    run_g = g;
    run_k = k;
  }
  flush(end);
  if (shown > 10) out += "\n    ... " + std::to_string(shown - 10) + " more runs";
  return out;
}

Complete run_scan(const Process& process, const RawScanArgs& a, BackendChoice backend,
                  std::size_t chunk, std::uint64_t base, std::string& trouble) {
  Complete c;
  auto r = scan(process, to_request(a), ScanOptions{.chunk_regions = chunk, .backend = backend});
  if (!r) {
    c.error = r.error().errno_value();
    return c;
  }
  for (PageRegion x : r->regions) {
    x.start -= base;
    x.end -= base;
    c.regions.push_back(x);
  }
  c.walk_end = r->walk_end - base;
  c.stop = r->stop_reason;
  c.pages = r->pages;
  c.withdrawn = r->withdrawn_hugetlb_page ? r->withdrawn_hugetlb_page - base : 0;
  c.approximate = r->approximate;
  if (r->region_count != r->regions.size()) trouble = "region_count disagrees with regions";
  Backend want = backend == BackendChoice::kernel ? Backend::kernel : Backend::emulated;
  if (r->backend != want) trouble = "answered by the wrong backend";
  return c;
}

// What one unbounded call answers according to the model, as scan() reports it.
Complete model_complete(const PageTruth& truth, const std::vector<ModelVma>& vmas,
                        const RawScanArgs& args) {
  const std::uint64_t end = (args.end + page() - 1) & ~(page() - 1);
  RawScanArgs a = args;
  a.vec_len = (end > a.start ? (end - a.start) / page() : 0) + 2;
  std::vector<PageRegion> vec(a.vec_len, kSentinel);
  a.vec = reinterpret_cast<std::uint64_t>(vec.data());
  ScanOutcome o = model_scan(truth, vmas, a, std::move(vec), 0);
  Complete c;
  if (o.ret < 0) {
    c.error = static_cast<int>(-o.ret);
    return c;
  }
  c.regions.assign(o.vec.begin(), o.vec.begin() + o.ret);
  for (const PageRegion& r : c.regions) c.pages += r.pages(page());
  c.walk_end = o.walk_end;
  c.stop = o.walk_end >= end ? StopReason::complete : StopReason::max_pages;
  return c;
}

std::string compare_complete(const char* a_name, const Complete& a, const char* b_name,
                             const Complete& b, std::uint64_t base) {
  bool same = a.error == b.error && a.regions == b.regions && a.walk_end == b.walk_end &&
              a.stop == b.stop && a.pages == b.pages && a.withdrawn == b.withdrawn;
  if (same) return "";
  return std::string("scan() differs\n    ") + a_name + ": " + complete_text(a, base) +
         " withdrawn=" + hex(a.withdrawn) + "\n    " + b_name + ": " + complete_text(b, base) +
         " withdrawn=" + hex(b.withdrawn);
}

ScanOutcome relative(const ScanOutcome& o, std::uint64_t base) {
  ScanOutcome r = o;
  for (PageRegion& x : r.vec) {
    if (x == kSentinel) continue;
    x.start -= base;
    x.end -= base;
  }
  if (r.walk_end != kWalkEndSentinel) r.walk_end -= base;
  return r;
}

}  // namespace pagescan::test::diff
