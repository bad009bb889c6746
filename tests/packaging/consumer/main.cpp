// Packaging consumer: scans its own memory through the installed pagescan and checks that
// the one page it wrote, and only that page, is reported present. Exit 0 on success.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <vector>

#include <pagescan/categories.hpp>
#include <pagescan/process.hpp>
#include <pagescan/scan.hpp>

int main() {
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  void* memory =
      ::mmap(nullptr, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    std::perror("consumer: mmap");
    return 1;
  }
  const auto start = reinterpret_cast<std::uint64_t>(memory);
  static_cast<volatile char*>(memory)[page] = 1;  // page 1 only: pages 0, 2, 3 stay empty

  auto self = pagescan::Process::self();
  if (!self) {
    std::fprintf(stderr, "consumer: %s\n", self.error().message().c_str());
    return 1;
  }
  auto request = pagescan::ScanRequest::over(start, start + 4 * page)
                     .all_of(pagescan::Category::present)
                     .returning(pagescan::Category::present);
  auto result = pagescan::scan(*self, request);
  if (!result) {
    std::fprintf(stderr, "consumer: %s\n", result.error().message().c_str());
    return 1;
  }

  const std::vector<pagescan::PageRegion> expected = {
      {start + page, start + 2 * page, pagescan::Category::present}};
  if (result->regions != expected) {
    std::fprintf(stderr, "consumer: expected only page 1 of 0x%llx present, got %zu regions:\n",
                 static_cast<unsigned long long>(start), result->regions.size());
    for (const auto& r : result->regions) {
      std::fprintf(stderr, "  [0x%llx-0x%llx) %s\n", static_cast<unsigned long long>(r.start),
                   static_cast<unsigned long long>(r.end),
                   pagescan::to_string(r.categories).c_str());
    }
    return 1;
  }
  std::printf("consumer: written page reported present (%s backend)\n",
              std::string(pagescan::to_string(result->backend)).c_str());
  ::munmap(memory, 4 * page);
  return 0;
}
