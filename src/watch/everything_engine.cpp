// The everything engine: every page counts as written, always. The honest last resort
// when nothing can track writes: a consumer copies more than it needs, never too little.
#include "watch/engine.hpp"

namespace pagescan::watch {

namespace {

class EverythingEngine final : public WriteWatch::Engine {
 public:
  WatchEngine kind() const override { return WatchEngine::everything; }

  Result<Harvest> collect(std::uint64_t lo, std::uint64_t hi, std::uint64_t max_pages,
                          bool) override {
    return whole_range(lo, hi, max_pages, page_size);
  }
  Result<void> reset(std::uint64_t, std::uint64_t) override { return {}; }
  Result<void> fold_back(const Harvest&) override { return {}; }
};

}  // namespace

Result<std::unique_ptr<WriteWatch::Engine>> make_everything_engine(std::uint64_t start,
                                                                   std::uint64_t end,
                                                                   const WatchOptions&) {
  auto e = std::make_unique<EverythingEngine>();
  e->start = start;
  e->end = end;
  return std::unique_ptr<WriteWatch::Engine>(std::move(e));
}

}  // namespace pagescan::watch
