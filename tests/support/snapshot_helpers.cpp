// Scaffolding for region snapshot tests: seeded contents, write patterns, pagemap bits.
#include "support/snapshot_helpers.hpp"

#include <algorithm>
#include <cstring>

#include "support/memory.hpp"

namespace pagescan::test {

namespace {

// `count` distinct indexes below `pages`, ascending (all of them when count >= pages).
std::vector<std::size_t> pick(std::size_t pages, std::mt19937_64& rng, std::size_t count) {
  std::vector<std::size_t> out;
  if (count >= pages) {
    out.resize(pages);
    for (std::size_t i = 0; i < pages; ++i) out[i] = i;
    return out;
  }
  if (count * 4 > pages) {
    // Dense: a partial shuffle.
    std::vector<std::size_t> all(pages);
    for (std::size_t i = 0; i < pages; ++i) all[i] = i;
    for (std::size_t i = 0; i < count; ++i) {
      std::uniform_int_distribution<std::size_t> d(i, pages - 1);
      std::swap(all[i], all[d(rng)]);
    }
    out.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(count));
  } else {
    // Sparse: draw until distinct (a 1 GiB region must not cost a 256 Ki-entry shuffle).
    std::uniform_int_distribution<std::size_t> d(0, pages - 1);
    while (out.size() < count) {
      std::size_t i = d(rng);
      if (std::find(out.begin(), out.end(), i) == out.end()) out.push_back(i);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void random_bytes(char* p, std::size_t n, std::mt19937_64& rng) {
  for (std::size_t off = 0; off < n; off += 8) {
    std::uint64_t v = rng();
    std::memcpy(p + off, &v, std::min<std::size_t>(8, n - off));
  }
}

}  // namespace

void RegionReference::fill_page(std::size_t i, std::mt19937_64& rng) {
  const std::size_t page = page_size();
  char* p = base_ + i * page;
  if (rng() % 2) {
    random_bytes(p, page, rng);
  } else {
    std::memset(p, 0, page);
    for (int k = 0; k < 3; ++k) p[rng() % page] = static_cast<char>(1 + rng() % 255);
  }
  p[rng() % page] = static_cast<char>(1 + rng() % 255);  // never all zero
  nonzero_[i].assign(p, p + page);
}

void RegionReference::populate(std::mt19937_64& rng, std::size_t count) {
  const std::size_t page = page_size();
  for (std::size_t i : pick(pages_, rng, count)) {
    switch (rng() % 4) {
      case 0:
      case 1:
        fill_page(i, rng);
        break;
      case 2:
        std::memset(base_ + i * page, 0, page);
        forget_page(i);
        break;
      default:
        (void)*static_cast<volatile char*>(base_ + i * page);
        break;
    }
  }
}

std::optional<std::size_t> RegionReference::first_mismatch() const {
  const std::size_t page = page_size();
  const std::vector<char> zeros(page, 0);
  for (std::size_t i = 0; i < pages_; ++i) {
    auto it = nonzero_.find(i);
    const char* expected = it == nonzero_.end() ? zeros.data() : it->second.data();
    if (std::memcmp(base_ + i * page, expected, page) != 0) return i;
  }
  return std::nullopt;
}

std::vector<std::size_t> scribble(char* base, std::size_t pages, std::mt19937_64& rng,
                                  std::size_t count) {
  const std::size_t page = page_size();
  auto written = pick(pages, rng, count);
  for (std::size_t i : written) {
    char* p = base + i * page;
    switch (rng() % 3) {
      case 0:
        std::memset(p, 0, page);
        break;
      case 1:
        random_bytes(p, page, rng);
        break;
      default:
        *static_cast<volatile char*>(p + rng() % page) = static_cast<char>(rng() % 256);
        break;
    }
  }
  return written;
}

std::string describe(const RestoreStats& s) {
  return "examined " + std::to_string(s.pages_examined) + " copied " +
         std::to_string(s.pages_copied) + " zeroed " + std::to_string(s.pages_zeroed) +
         " dropped " + std::to_string(s.pages_dropped);
}

bool page_present(const void* addr) {
  return pagemap_entry(addr) >> 63 & 1;
}

bool page_swapped(const void* addr) {
  return pagemap_entry(addr) >> 62 & 1;
}

}  // namespace pagescan::test
