// `pagescan features`: what this machine's kernel offers pagescan (like `criu check`).
#include <fmt/core.h>

#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "output.hpp"
#include "pagescan/features.hpp"
#include "pagescan/watch.hpp"
#include "scan_report.hpp"

namespace pagescan::cli {

namespace {

struct FeaturesOptions {
  bool json = false;
};

struct Choice {
  std::string name;
  std::string reason;
};

// The backend `auto` uses for a request of every category, and why.
Choice scan_backend(const Features& f) {
  if (const char* env = std::getenv("PAGESCAN_BACKEND"); env && *env && std::string(env) != "auto") {
    return {env, "forced by PAGESCAN_BACKEND"};
  }
  if (!f.pagemap_scan) return {"emulated", "the kernel has no PAGEMAP_SCAN (Linux 6.7+)"};
  Categories missing = ~f.scan_categories;
  if (!missing.empty()) {
    return {"kernel", "PAGEMAP_SCAN; requests using " + to_string(missing) +
                          " are emulated (the kernel lacks them)"};
  }
  return {"kernel", "PAGEMAP_SCAN supports every category"};
}

// The write-tracking engine `auto` picks, and why the ones before it were passed over.
Choice watch_engine() {
  std::string passed_over;
  for (WatchEngine e : {WatchEngine::uffd, WatchEngine::mprotect, WatchEngine::soft_dirty,
                        WatchEngine::everything}) {
    auto ok = watch_engine_available(e);
    if (ok) {
      std::string why = "passed its self-test";
      if (!passed_over.empty()) why += "; " + passed_over;
      return {std::string(to_string(e)), why};
    }
    passed_over += (passed_over.empty() ? "" : "; ") + ok.error().message();
  }
  return {"none", passed_over};
}

nlohmann::ordered_json features_json(const Features& f) {
  return {{"kernel", f.kernel_release},
          {"page_size", f.page_size},
          {"pagemap_scan", f.pagemap_scan},
          {"scan_categories", category_list(f.scan_categories)},
          {"user_address_limit", hex(f.user_address_limit)},
          {"userfaultfd", f.userfaultfd},
          {"uffd_wp_async", f.uffd_wp_async},
          {"uffd_wp_unpopulated", f.uffd_wp_unpopulated},
          {"soft_dirty", f.soft_dirty},
          {"soft_dirty_detail", f.soft_dirty_detail},
          {"guard_regions", f.guard_regions},
          {"thp_mode", f.thp_mode},
          {"thp_pmd_size", f.thp_pmd_size},
          {"hugetlb_page_size", f.hugetlb_page_size},
          {"hugetlb_pages_total", f.hugetlb_pages_total},
          {"swap_bytes", f.swap_total_bytes},
          {"pfns_visible", f.pfns_visible},
          {"backend", {{"name", scan_backend(f).name}, {"reason", scan_backend(f).reason}}},
          {"watch_engine", {{"name", watch_engine().name}, {"reason", watch_engine().reason}}}};
}

int run_features(const FeaturesOptions& o) {
  const Features& f = features();
  if (o.json) {
    fmt::print("{}\n", features_json(f).dump(2));
    return kExitOk;
  }
  auto row = [](const char* name, bool ok, const std::string& detail) {
    fmt::print("{:<28} {:<4} {}\n", name, ok ? "yes" : "no", detail);
  };
  fmt::print("kernel {}, page size {}\n", f.kernel_release, f.page_size);
  row("PAGEMAP_SCAN", f.pagemap_scan,
      f.pagemap_scan ? "categories: " + to_string(f.scan_categories) : "needs Linux 6.7");
  row("userfaultfd WP_ASYNC", f.uffd_wp_async, f.userfaultfd_detail);
  row("userfaultfd WP_UNPOPULATED", f.uffd_wp_unpopulated, "");
  row("soft-dirty", f.soft_dirty, f.soft_dirty_detail);
  row("guard regions", f.guard_regions, "MADV_GUARD_INSTALL");
  row("transparent huge pages", !f.thp_mode.empty() && f.thp_mode != "never",
      f.thp_mode.empty() ? "absent" : "mode " + f.thp_mode);
  row("hugetlb pages", f.hugetlb_pages_total > 0,
      fmt::format("{} of {}", f.hugetlb_pages_total, human_size(f.hugetlb_page_size)));
  row("swap", f.swap_total_bytes > 0, human_size(f.swap_total_bytes));
  row("PFNs visible", f.pfns_visible,
      f.pfns_visible ? "exact zero-page detection" : "needs CAP_SYS_ADMIN");
  return kExitOk;
}

}  // namespace

Command add_features_command(CLI::App& app) {
  auto o = std::make_shared<FeaturesOptions>();
  CLI::App* sub = app.add_subcommand("features", "What this machine's kernel offers pagescan");
  sub->footer("Examples:\n  pagescan features\n  pagescan features --json");
  sub->add_flag("--json", o->json, "JSON output");
  return Command{sub, [o] { return run_features(*o); }};
}

}  // namespace pagescan::cli
