// The kernel's PAGEMAP_SCAN output assembly, re-implemented for the emulated backend.
#include "emulate/output_builder.hpp"

#include <algorithm>

namespace pagescan::emulate {

OutputBuilder::OutputBuilder(PageRegion* vec, std::uint64_t vec_len, std::uint64_t max_pages,
                             std::uint64_t return_mask, std::uint64_t page_size,
                             std::uint64_t chunk)
    : out_(vec),
      vec_len_(vec_len),
      max_pages_(max_pages ? max_pages : ~0ull),
      return_mask_(return_mask),
      page_size_(page_size),
      has_buffer_(vec_len != 0) {
  // No buffer at all: the kernel allocates none and output() does nothing (§3.4).
  if (has_buffer_) {
    chunk_len_ = static_cast<std::size_t>(std::min(vec_len, chunk));
    chunk_.assign(chunk_len_, PageRegion{});
  }
}

bool OutputBuilder::push_range(std::uint64_t categories, std::uint64_t addr, std::uint64_t end) {
  PageRegion* cur = &chunk_[index_];
  // An empty slot has end 0, which no real address equals.
  if (addr == cur->end && categories == cur->categories.bits()) {
    cur->end = end;
    return true;
  }
  if (cur->end) {
    if (index_ + 1 >= chunk_len_) return false;
    cur = &chunk_[++index_];
  }
  cur->start = addr;
  cur->end = end;
  cur->categories = Categories::from_bits(categories);
  return true;
}

int OutputBuilder::output(std::uint64_t categories, std::uint64_t addr, std::uint64_t* end) {
  if (!has_buffer_) return kContinue;
  categories &= return_mask_;
  std::uint64_t n_pages = (*end - addr) / page_size_;
  int ret = kContinue;
  std::uint64_t total = found_pages_ + n_pages;
  if (total < found_pages_ || total > max_pages_) {
    std::uint64_t too_many = total < found_pages_ ? n_pages : total - max_pages_;
    *end -= too_many * page_size_;
    n_pages -= too_many;
    ret = kStop;
  }
  if (!push_range(categories, addr, *end)) {
    *end = addr;
    n_pages = 0;
    ret = kStop;
  }
  found_pages_ += n_pages;
  if (ret == kStop) walk_end_ = *end;
  return ret;
}

void OutputBuilder::backout(std::uint64_t addr, std::uint64_t end) {
  if (!has_buffer_) return;
  PageRegion* cur = &chunk_[index_];
  if (cur->start != addr) {
    cur->end = addr;
  } else {
    *cur = PageRegion{};
  }
  found_pages_ -= (end - addr) / page_size_;
}

std::size_t OutputBuilder::flush() {
  if (!has_buffer_) return 0;
  std::size_t n = index_;
  if (chunk_[n].end != chunk_[n].start) ++n;
  if (n == 0) return 0;
  std::copy(chunk_.begin(), chunk_.begin() + static_cast<std::ptrdiff_t>(n), out_);
  out_ += n;
  vec_len_ -= n;
  index_ = 0;
  chunk_len_ = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_len_, vec_len_));
  chunk_[0] = PageRegion{};
  return n;
}

}  // namespace pagescan::emulate
