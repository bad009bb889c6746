// The demo's child process: a workload with a known memory layout to look at.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pagescan/result.hpp"

namespace pagescan::cli {

struct DemoPart {
  std::string name;         // "written anonymous pages"
  std::string explanation;  // what a scan should show
  std::uint64_t start = 0;
  std::uint64_t end = 0;
};

// A running child; killed and reaped on destruction (and it dies with its parent).
class DemoWorkload {
 public:
  static Result<DemoWorkload> start();
  DemoWorkload(DemoWorkload&& other) noexcept;
  DemoWorkload(const DemoWorkload&) = delete;
  ~DemoWorkload();

  pid_t pid() const { return pid_; }
  const std::vector<DemoPart>& parts() const { return parts_; }

 private:
  DemoWorkload() = default;
  pid_t pid_ = -1;
  int control_ = -1;
  std::vector<DemoPart> parts_;
};

}  // namespace pagescan::cli
