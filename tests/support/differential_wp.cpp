// Write-protect requests compared on two identically built copies of a layout.
#include <random>

#include "pagescan/features.hpp"
#include "pagescan/scan.hpp"
#include "support/backend_runs.hpp"
#include "support/differential.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/scan_model.hpp"
#include "support/scan_requests.hpp"

namespace pagescan::test {

using namespace diff;

namespace {

// Writes (or reads) the same random pages of both copies.
void mutate(const Scenario& a, const Scenario& b, std::mt19937_64& rng) {
  std::vector<const ScenarioPart*> parts;
  for (const ScenarioPart& p : a.parts()) {
    if (p.label != "gap") parts.push_back(&p);
  }
  if (parts.empty()) return;
  const std::uint64_t delta = b.window_start() - a.window_start();
  std::size_t n = rng() % 4;
  for (std::size_t i = 0; i < n; ++i) {
    const ScenarioPart& p = *parts[rng() % parts.size()];
    std::uint64_t pages = (p.end - p.start) / page_size();
    std::uint64_t addr = p.start + (rng() % pages) * page_size() + rng() % page_size();
    bool write = rng() % 100 < 75;
    for (std::uint64_t at : {addr, addr + delta}) {
      auto* c = reinterpret_cast<volatile char*>(at);
      if (write) {
        *c = static_cast<char>(i + 1);
      } else {
        (void)*c;
      }
    }
  }
}

// The scripted write-protect steps (see compare_write_protect_scenario()).
std::vector<PlannedRequest> scripted_write_protects(const Scenario& s) {
  const std::uint64_t W = s.window_start(), WE = s.window_end(), p = page_size();
  const std::uint64_t written = static_cast<std::uint64_t>(Category::written);
  std::uint64_t h = W + 8 * p, he = W + 40 * p;  // a stand-in where there is no huge page
  if (!s.huge_pages().empty()) {
    h = s.huge_pages().front().start;
    he = s.huge_pages().front().end;
  }
  auto make = [&](const char* origin, std::uint64_t start, std::uint64_t end,
                  std::uint64_t max_pages, bool anyof) {
    PlannedRequest r;
    r.origin = origin;
    r.args.flags = RawScanArgs::kWpMatching;
    r.args.start = start;
    r.args.end = end;
    r.args.max_pages = max_pages;
    r.args.vec_len = 4096;
    if (anyof) {
      r.args.category_anyof_mask = written;
      r.args.return_mask = accepted_scan_categories().bits();
    } else {
      r.args.category_mask = r.args.return_mask = written;
    }
    return r;
  };
  return {
      make("wp ends inside a huge page", W, h + (he - h) / 2, 0, false),
      make("wp starts inside a huge page", h + p, WE, 0, true),
      make("wp cut by max_pages", W, WE, 10, false),
      make("wp whole window", W, WE, 0, true),
  };
}

std::uint64_t huge_pages_of(const PageTruth& t) {
  std::uint64_t n = 0;
  for (const PageRegion& r : t.runs()) {
    if (r.categories.contains(Category::huge)) n += r.pages(t.page_size());
  }
  return n;
}

PlannedRequest moved(PlannedRequest r, std::uint64_t delta) {
  r.args.start += delta;
  r.args.end += delta;
  return r;
}

}  // namespace

bool compare_write_protect_scenario(const Process& process, const std::string& name,
                                    const DiffConfig& config, std::size_t steps, DiffReport& report,
                                    std::string& skip_reason) {
  std::unique_ptr<Scenario> a, b;
  std::string error;
  std::vector<PageRegion> ta, tb;
  for (int attempt = 0; attempt < 3; ++attempt) {
    a = build_write_protect_scenario(name);
    if (!a->built()) {
      skip_reason = a->skip_reason();
      return false;
    }
    b = build_write_protect_scenario(name);
    if (!b->built()) {
      skip_reason = b->skip_reason();
      return false;
    }
    auto ka = truth_of(process, a->window_start(), a->window_end(), BackendChoice::kernel, nullptr,
                       error);
    auto kb = truth_of(process, b->window_start(), b->window_end(), BackendChoice::kernel, nullptr,
                       error);
    if (!ka || !kb) {
      report.fail(name + ": complete scan failed: " + error);
      return true;
    }
    ta = ka->relative_to(a->window_start());
    tb = kb->relative_to(b->window_start());
    if (ta == tb) break;
  }
  if (ta != tb) {
    skip_reason = "two copies of " + name + " came out different three times (THP allocation?)";
    return false;
  }
  ++report.scenarios;
  const std::uint64_t A = a->window_start(), B = b->window_start(), delta = B - A;
  Categories seen;
  for (const PageRegion& r : ta) seen |= r.categories;
  RequestGenerator gen(*a, accepted_scan_categories(), seen, seed_for(name, config.seed));
  const bool no_buffer_ok = features().wp_without_buffer_safe;
  const std::string seed_text = " (seed " + hex(config.seed) + ")";

  std::vector<PlannedRequest> plan = scripted_write_protects(*a);
  const std::size_t scripted = plan.size();
  for (std::size_t i = 0; i < steps; ++i) plan.push_back(gen.random_write_protect(no_buffer_ok));
  std::uint64_t huge_before = huge_pages_of(PageTruth(ta, page_size()));

  for (std::size_t i = 0; i < plan.size(); ++i) {
    mutate(*a, *b, gen.rng());
    const PlannedRequest& r = plan[i];
    const std::string what = name + " step " + describe(r, A, i) + seed_text + ": ";
    ++report.write_protects;
    if (i % 2 == 1 && (i < scripted || i % 4 == 3)) {  // the complete scan with write-protect
      std::size_t chunk = (i / 4) % 2 ? 3 : 0;
      std::string trouble_k, trouble_e;
      Complete ck = run_scan(process, r.args, BackendChoice::kernel, chunk, A, trouble_k);
      Complete ce =
          run_scan(process, moved(r, delta).args, BackendChoice::emulated, chunk, B, trouble_e);
      ++report.scans;
      if (ck.withdrawn) ++report.hugetlb_withdrawals;
      if (!trouble_k.empty() || !trouble_e.empty()) report.fail(what + trouble_k + trouble_e);
      if (auto d = compare_complete("kernel on copy A", ck, "emulated on copy B", ce, 0);
          !d.empty()) {
        report.fail(what + "chunk " + std::to_string(chunk) + ": " + d);
      }
    } else {
      Outcome k = run_raw(process, r, BackendChoice::kernel);
      Outcome e = run_raw(process, moved(r, delta), BackendChoice::emulated);
      ++(k.ret > 0 ? report.with_regions : k.ret == 0 ? report.without_regions : report.errors);
      if (k.ret > static_cast<long>(features().chunk_regions())) ++report.restarts;
      for (const std::string& t : {k.trouble, e.trouble}) {
        if (!t.empty()) report.fail(what + t);
      }
      if (auto d = compare_outcomes("kernel on copy A", relative(k, A), "emulated on copy B",
                                    relative(e, B), 0);
          !d.empty()) {
        report.fail(what + d);
      }
    }
    // What both copies hold afterwards: every page's categories, by the kernel.
    auto ka = truth_of(process, A, a->window_end(), BackendChoice::kernel, nullptr, error);
    auto kb = truth_of(process, B, b->window_end(), BackendChoice::kernel, nullptr, error);
    if (!ka || !kb) {
      report.fail(what + "complete scan failed: " + error);
      return true;
    }
    PageTruth ra(ka->relative_to(A), page_size()), rb(kb->relative_to(B), page_size());
    // Only THPs lose HUGE (a hugetlb page is HUGE whatever happens to it).
    std::uint64_t huge_after = huge_pages_of(ra);
    if (huge_after < huge_before) ++report.thp_splits;
    huge_before = huge_after;
    if (ra.runs() != rb.runs()) {
      report.fail(what + "the copies differ afterwards (kernel scans, relative addresses):" +
                  truth_diff(ra, "copy A (kernel WP)", rb, "copy B (emulated WP)", ra, 0,
                             a->window_end() - A, 0, -1));
      return true;  // later steps would only repeat the divergence
    }
  }
  return true;
}

}  // namespace pagescan::test
