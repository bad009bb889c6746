// The scan backend and write-tracking engine the library uses here, decided by the
// library's own readers of PAGESCAN_BACKEND and PAGESCAN_WATCH_ENGINE, so `features`
// never names a choice the library would not make (a forced engine the kernel lacks
// shows as "none", with the library's error, not as chosen).
#include <cstdlib>
#include <string>

#include "features/features_report.hpp"
#include "pagescan/watch.hpp"

namespace pagescan::cli {

namespace {

Choice backend_choice(const Features& f) {
  // resolve_shared() has rejected a bad value already; unset or empty reads as auto.
  const char* env = std::getenv("PAGESCAN_BACKEND");
  const auto forced = parse_backend_choice(env && *env ? env : "auto");
  const Categories missing = ~f.scan_categories;
  if (forced && *forced == BackendChoice::emulated)
    return {"emulated", "forced by PAGESCAN_BACKEND"};
  if (forced && *forced == BackendChoice::kernel) {
    if (!f.pagemap_scan) {
      return {"none",
              "PAGESCAN_BACKEND=kernel, and this kernel has no PAGEMAP_SCAN (Linux 6.7): every "
              "scan fails"};
    }
    if (!missing.empty()) {
      return {"kernel", "forced by PAGESCAN_BACKEND; requests using " + to_string(missing) +
                            " fail (the kernel lacks them)"};
    }
    return {"kernel", "forced by PAGESCAN_BACKEND"};
  }
  if (!f.pagemap_scan) return {"emulated", "the kernel has no PAGEMAP_SCAN (Linux 6.7+)"};
  if (!missing.empty()) {
    return {"kernel", "PAGEMAP_SCAN; requests using " + to_string(missing) +
                          " are emulated (the kernel lacks them)"};
  }
  return {"kernel", "PAGEMAP_SCAN supports every category"};
}

// A forced engine: WriteWatch::create() checks what it needs and fails every watch when
// that is missing; the self-test is reported beside it, since create() does not run it.
Choice forced_engine_choice(WatchEngine engine) {
  const std::string name(to_string(engine));
  if (auto needs = watch_engine_supported(engine); !needs) {
    return {"none", "PAGESCAN_WATCH_ENGINE=" + name +
                        ", which this kernel cannot run: every watch fails with '" +
                        needs.error().message() + "'"};
  }
  if (auto tested = watch_engine_available(engine); !tested) {
    return {name, "forced by PAGESCAN_WATCH_ENGINE, though it failed its self-test: " +
                      tested.error().message()};
  }
  return {name, "forced by PAGESCAN_WATCH_ENGINE; passed its self-test"};
}

}  // namespace

Parsed<Choices> library_choices(const Features& f) {
  auto requested = watch_engine_requested(WatchEngine::automatic);
  if (!requested) return {std::nullopt, UsageError{requested.error().message()}};
  Choices c;
  c.backend = backend_choice(f);
  if (*requested != WatchEngine::automatic) {
    c.engine = forced_engine_choice(*requested);
    return {std::move(c), std::nullopt};
  }
  std::string passed_over;
  // The order WriteWatch::create tries them in (watch.hpp).
  for (WatchEngine e : kAutomaticWatchOrder) {
    auto ok = watch_engine_available(e);
    if (ok) {
      std::string why = "passed its self-test";
      if (!passed_over.empty()) why += "; " + passed_over;
      c.engine = {std::string(to_string(e)), why};
      return {std::move(c), std::nullopt};
    }
    passed_over += (passed_over.empty() ? "" : "; ") + ok.error().message();
  }
  c.engine = {"none", passed_over};
  return {std::move(c), std::nullopt};
}

}  // namespace pagescan::cli
