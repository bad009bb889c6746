// Helpers shared by scan tests: the self handle, common requests, sparse reservations.
#include "support/scan_helpers.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace pagescan::test {

const Process& self_process() {
  static Process p = *Process::self();
  return p;
}

bool emulated_backend_forced() {
  const char* env = std::getenv("PAGESCAN_BACKEND");
  return env && std::string(env) == "emulated";
}

ScanRequest present_only(std::uint64_t start, std::uint64_t end) {
  return ScanRequest::over(start, end).all_of(Category::present).returning(Category::present);
}

std::optional<Mapping> reserve_sparse(std::size_t length, std::string& why) {
  void* p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    why = "cannot reserve " + std::to_string(length >> 40) + " TiB: " + std::strerror(errno);
    return std::nullopt;
  }
  return Mapping(p, length);
}

}  // namespace pagescan::test
