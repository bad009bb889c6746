// `pagescan features` as a table or JSON, and the backend and engine choices it names.
#include <fmt/core.h>

#include <cstdlib>
#include <utility>
#include <vector>

#include "cli/output.hpp"
#include "features/features_report.hpp"
#include "pagescan/watch.hpp"
#include "scan/scan_report.hpp"

namespace pagescan::cli {

Choice scan_backend_choice(const Features& f) {
  if (const char* env = std::getenv("PAGESCAN_BACKEND");
      env && *env && std::string(env) != "auto") {
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

Choice watch_engine_choice() {
  if (const char* env = std::getenv("PAGESCAN_WATCH_ENGINE");
      env && *env && std::string(env) != "auto") {
    return {env, "forced by PAGESCAN_WATCH_ENGINE"};
  }
  std::string passed_over;
  // The order WriteWatch::create tries them in (watch.hpp).
  for (WatchEngine e : kAutomaticWatchOrder) {
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

namespace {

std::string sizes_text(const std::vector<std::uint64_t>& sizes) {
  std::string text;
  for (std::uint64_t s : sizes) text += (text.empty() ? "" : ", ") + human_size(s);
  return text;
}

}  // namespace

void render_features_table(const Features& f, bool colour, std::FILE* out,
                           std::size_t max_columns) {
  // "<name padded to 28> yes <detail>": the detail starts at column 33.
  auto row = [&](const char* name, bool ok, const std::string& detail) {
    const char* on = !colour ? "" : ok ? "\x1b[32m" : "\x1b[33m";
    fmt::print(out, "{:<28} {}{:<3}{}{}{}\n", name, on, ok ? "yes" : "no", colour ? "\x1b[0m" : "",
               detail.empty() ? "" : " ", wrap_words(detail, 33, max_columns));
  };
  fmt::print(out, "kernel {}, page size {}\n", f.kernel_release, human_size(f.page_size));
  row("PAGEMAP_SCAN", f.pagemap_scan,
      f.pagemap_scan ? "categories: " + to_string(f.scan_categories)
                     : fmt::format("needs Linux 6.7 (errno {})", f.pagemap_scan_errno));
  row("userfaultfd WP_ASYNC", f.uffd_wp_async, f.userfaultfd_detail);
  row("userfaultfd WP_UNPOPULATED", f.uffd_wp_unpopulated, "");
  row("soft-dirty", f.soft_dirty, f.soft_dirty_detail);
  row("guard regions", f.guard_regions, "MADV_GUARD_INSTALL (Linux 6.13)");
  std::string thp = f.thp_mode.empty() ? "absent" : "mode " + f.thp_mode;
  if (!f.thp_sizes.empty()) thp += "; sizes " + sizes_text(f.thp_sizes);
  row("transparent huge pages", !f.thp_mode.empty() && f.thp_mode != "never", thp);
  row("hugetlb pages", f.hugetlb_pages_total > 0,
      f.hugetlb_page_size == 0
          ? "absent"
          : fmt::format("{} of {} in the pool (vm.nr_hugepages), {} free", f.hugetlb_pages_total,
                        human_size(f.hugetlb_page_size), f.hugetlb_pages_free));
  row("swap", f.swap_total_bytes > 0,
      f.swap_total_bytes ? human_size(f.swap_total_bytes) : "no swap is active");
  row("PFNs visible", f.pfns_visible,
      f.pfns_visible ? "exact zero-page detection" : "needs CAP_SYS_ADMIN");
  const Choice backend = scan_backend_choice(f), engine = watch_engine_choice();
  for (const auto& [name, choice] :
       {std::pair{"scan backend", &backend}, std::pair{"write-tracking engine", &engine}}) {
    fmt::print(out, "{:<28} {}\n", name,
               wrap_words(choice->name + ": " + choice->reason, 29, max_columns));
  }
}

nlohmann::ordered_json render_features_json(const Features& f) {
  const Choice backend = scan_backend_choice(f), engine = watch_engine_choice();
  return {{"kernel", f.kernel_release},
          {"page_size", f.page_size},
          {"pagemap_scan", f.pagemap_scan},
          {"pagemap_scan_errno", f.pagemap_scan_errno},
          {"scan_categories", category_list(f.scan_categories)},
          {"user_address_limit", hex(f.user_address_limit)},
          {"userfaultfd", f.userfaultfd},
          {"userfaultfd_detail", f.userfaultfd_detail},
          {"uffd_wp_async", f.uffd_wp_async},
          {"uffd_wp_unpopulated", f.uffd_wp_unpopulated},
          {"soft_dirty", f.soft_dirty},
          {"soft_dirty_detail", f.soft_dirty_detail},
          {"guard_regions", f.guard_regions},
          {"thp_mode", f.thp_mode},
          {"thp_pmd_size", f.thp_pmd_size},
          {"thp_sizes", f.thp_sizes},
          {"hugetlb_page_size", f.hugetlb_page_size},
          {"hugetlb_pages_total", f.hugetlb_pages_total},
          {"hugetlb_pages_free", f.hugetlb_pages_free},
          {"swap_bytes", f.swap_total_bytes},
          {"pfns_visible", f.pfns_visible},
          {"backend", {{"name", backend.name}, {"reason", backend.reason}}},
          {"watch_engine", {{"name", engine.name}, {"reason", engine.reason}}}};
}

}  // namespace pagescan::cli
