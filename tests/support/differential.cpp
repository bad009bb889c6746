// The differential comparison of the emulated backend with the kernel's PAGEMAP_SCAN.
#include "support/differential.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>

#include "pagescan/features.hpp"
#include "pagescan/scan.hpp"
#include "support/backend_runs.hpp"
#include "support/irreducible.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/scan_model.hpp"
#include "support/scan_requests.hpp"

namespace pagescan::test {

using namespace diff;

DiffConfig DiffConfig::from_environment() {
  DiffConfig c;
  if (const char* seed = std::getenv("PAGESCAN_DIFF_SEED"); seed && *seed) {
    c.seed = std::strtoull(seed, nullptr, 0);
  }
  if (const char* n = std::getenv("PAGESCAN_DIFF_REQUESTS"); n && *n) {
    c.random_requests = std::strtoull(n, nullptr, 0);
  }
  return c;
}

// ---- DiffReport ----

void DiffReport::fail(std::string what) {
  constexpr std::size_t kMaxFailures = 25;  // enough to diagnose, not a flood
  if (failures.size() < kMaxFailures) failures.push_back(std::move(what));
}

void DiffReport::merge(const DiffReport& o) {
  scenarios += o.scenarios;
  requests += o.requests;
  scans += o.scans;
  write_protects += o.write_protects;
  thp_splits += o.thp_splits;
  restarts += o.restarts;
  hugetlb_withdrawals += o.hugetlb_withdrawals;
  with_regions += o.with_regions;
  without_regions += o.without_regions;
  errors += o.errors;
  for (const std::string& f : o.failures) fail(f);
  differences.insert(differences.end(), o.differences.begin(), o.differences.end());
  notes.insert(notes.end(), o.notes.begin(), o.notes.end());
}

std::string DiffReport::summary() const {
  std::string s =
      std::to_string(scenarios) + " scenarios, " + std::to_string(requests) + " raw requests, " +
      std::to_string(scans) + " complete scans, " + std::to_string(write_protects) +
      " write-protect requests compared (kernel: " + std::to_string(with_regions) +
      " with regions, " + std::to_string(without_regions) + " without, " + std::to_string(errors) +
      " errors, " + std::to_string(restarts) + " internal restarts; " + std::to_string(thp_splits) +
      " THP splits and " + std::to_string(hugetlb_withdrawals) +
      " hugetlb withdrawals under WP); " + std::to_string(failures.size()) + " failures";
  for (const std::string& d : differences) s += "\n  irreducible: " + d;
  for (const std::string& n : notes) s += "\n  note: " + n;
  for (const std::string& f : failures) s += "\n  FAILURE: " + f;
  return s;
}

namespace {

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', '\x1f');
  return s;
}

std::string restore_lines(std::string s) {
  std::replace(s.begin(), s.end(), '\x1f', '\n');
  return s;
}

}  // namespace

std::string DiffReport::serialize() const {
  std::string out = "C " + std::to_string(scenarios) + " " + std::to_string(requests) + " " +
                    std::to_string(scans) + " " + std::to_string(write_protects) + " " +
                    std::to_string(with_regions) + " " + std::to_string(without_regions) + " " +
                    std::to_string(errors) + " " + std::to_string(restarts) + "\n";
  for (const std::string& f : failures) out += "F " + one_line(f) + "\n";
  for (const std::string& d : differences) out += "D " + one_line(d) + "\n";
  for (const std::string& n : notes) out += "N " + one_line(n) + "\n";
  return out;
}

DiffReport DiffReport::parse(std::string_view text) {
  DiffReport r;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() < 2) continue;
    std::string rest = restore_lines(line.substr(2));
    switch (line[0]) {
      case 'C':
        std::istringstream(rest) >> r.scenarios >> r.requests >> r.scans >> r.write_protects >>
            r.with_regions >> r.without_regions >> r.errors >> r.restarts;
        break;
      case 'F':
        r.failures.push_back(rest);
        break;
      case 'D':
        r.differences.push_back(rest);
        break;
      case 'N':
        r.notes.push_back(rest);
        break;
    }
  }
  return r;
}

void compare_scan_scenario(const Process& process, const Scenario& s, const DiffConfig& config,
                           DiffReport& report) {
  const std::uint64_t W = s.window_start();
  const std::string who = s.name();
  auto fd = process.pagemap_fd();
  if (!fd) return report.fail(who + ": no pagemap fd: " + fd.error().message());
  for (const std::string& o : s.omitted()) report.notes.push_back(who + ": omitted " + o);
  ++report.scenarios;

  // Every page's categories from each backend, and the prediction for the emulator.
  std::string error;
  Categories truth_approximate;
  // Only the window holds VMAs: the rest of the slot is a gap (scenarios.hpp).
  const std::uint64_t WE = s.window_end();
  auto kernel = truth_of(process, W, WE, BackendChoice::kernel, nullptr, error);
  auto emulated = truth_of(process, W, WE, BackendChoice::emulated, &truth_approximate, error);
  if (!kernel || !emulated) return report.fail(who + ": complete scan failed: " + error);
  Prediction predicted = predict_emulated(*kernel, W, WE, *fd, error);
  if (!error.empty()) return report.fail(who + ": cannot predict: " + error);
  if (emulated->runs() != predicted.emulated.runs()) {
    report.fail(
        who + ": the emulator's page categories differ from the prediction (kernel " +
        "plus the irreducible differences of §6.5):" +
        truth_diff(predicted.emulated, "predicted", *emulated, "emulated", *kernel, W, WE, W, *fd) +
        "\n  " + s.describe());
  }
  for (const PredictedDifference& d : predicted.differences) {
    report.differences.push_back(
        who + ": " + std::string(to_string(d.rule)) + " on [" + rel(d.start, W) + "," +
        rel(d.end, W) + ") (" + std::to_string((d.end - d.start) / page_size()) +
        " pages): kernel {" + to_string(Categories::from_bits(d.kernel)) + "} emulated {" +
        to_string(Categories::from_bits(d.emulated)) + "}");
  }
  if (!truth_approximate.contains(predicted.categories())) {
    report.fail(who + ": the emulator answered {" + to_string(predicted.categories()) +
                "} differently from the kernel but flagged only {" + to_string(truth_approximate) +
                "} approximate");
  }
  Categories seen;
  for (const PageRegion& r : kernel->runs()) seen |= r.categories;
  report.notes.push_back(who + ": the kernel reports " + std::to_string(kernel->runs().size()) +
                         " runs with categories {" + to_string(seen) + "}; emulator flags {" +
                         to_string(truth_approximate) + "} approximate");
  const bool exact = predicted.differences.empty();
  std::vector<ModelVma> vmas = model_vmas(*kernel, s.slot_start(), s.slot_end());

  RequestGenerator gen(s, accepted_scan_categories(), seen, seed_for(who, config.seed));
  std::vector<PlannedRequest> requests = gen.single_categories();
  for (std::size_t i = 0; i < config.random_requests; ++i) requests.push_back(gen.random_scan());
  const std::string seed_text = " (seed " + hex(config.seed) + ")";

  for (std::size_t i = 0; i < requests.size(); ++i) {
    const PlannedRequest& r = requests[i];
    const std::string what = who + " " + describe(r, W, i) + seed_text + ": ";
    Outcome k = run_raw(process, r, BackendChoice::kernel);
    Outcome e = run_raw(process, r, BackendChoice::emulated);
    ++report.requests;
    ++(k.ret > 0 ? report.with_regions : k.ret == 0 ? report.without_regions : report.errors);
    if (k.ret > static_cast<long>(features().chunk_regions())) ++report.restarts;
    for (const std::string& t : {k.trouble, e.trouble}) {
      if (!t.empty()) report.fail(what + t);
    }
    for (const std::string& t : {check_untouched("kernel", k), check_untouched("emulated", e)}) {
      if (!t.empty()) report.fail(what + t);
    }
    ScanOutcome mk = run_model(*kernel, vmas, r);
    if (auto d = compare_outcomes("kernel", k, "model", mk, W); !d.empty()) {
      report.fail(what + "the reference model disagrees with the kernel: " + d);
    }
    if (exact) {
      if (auto d = compare_outcomes("kernel", k, "emulated", e, W); !d.empty())
        report.fail(what + d);
    } else {
      ScanOutcome me = run_model(predicted.emulated, vmas, r);
      if (auto d = compare_outcomes("predicted", me, "emulated", e, W); !d.empty()) {
        report.fail(what + "not the predicted irreducible difference: " + d);
      }
      Categories expected = predicted.categories_in(r.args.start, r.args.end) &
                            Categories::from_bits(used_categories(r.args));
      bool differs = !compare_outcomes("k", k, "e", e, W).empty();
      if (differs && !e.approximate.intersects(expected)) {
        report.fail(what + "differs from the kernel in {" + to_string(expected) +
                    "} but flags only {" + to_string(e.approximate) + "} approximate");
      }
    }
    if (i % config.scan_every != 0) continue;
    // The complete scan over the same request, with a chunk size that varies.
    // Small chunks make scan() resume many times; each emulated call reads smaps, so
    // they are kept to answers of a few dozen regions.
    static constexpr std::size_t kChunks[] = {0, 1, 3, 512};
    std::size_t chunk = kChunks[(i / config.scan_every) % 4];
    std::string trouble_k, trouble_e;
    Complete ck = run_scan(process, r.args, BackendChoice::kernel, chunk, 0, trouble_k);
    if (chunk && chunk < 8 && ck.regions.size() > 24 * chunk) {
      chunk = 0;
      ck = run_scan(process, r.args, BackendChoice::kernel, chunk, 0, trouble_k);
    }
    Complete ce = run_scan(process, r.args, BackendChoice::emulated, chunk, 0, trouble_e);
    ++report.scans;
    if (!trouble_k.empty() || !trouble_e.empty()) report.fail(what + trouble_k + trouble_e);
    std::string chunk_text = "chunk " + std::to_string(chunk) + ": ";
    if (exact) {
      if (auto d = compare_complete("kernel", ck, "emulated", ce, W); !d.empty()) {
        report.fail(what + chunk_text + d);
      }
    } else {
      Complete pk = model_complete(*kernel, vmas, r.args);
      Complete pe = model_complete(predicted.emulated, vmas, r.args);
      if (auto d = compare_complete("model", pk, "kernel", ck, W); !d.empty()) {
        report.fail(what + chunk_text + "the reference model disagrees with the kernel: " + d);
      }
      if (auto d = compare_complete("predicted", pe, "emulated", ce, W); !d.empty()) {
        report.fail(what + chunk_text + "not the predicted irreducible difference: " + d);
      }
    }
  }
}

}  // namespace pagescan::test
