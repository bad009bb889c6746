// PLACEHOLDER, being written now: the soft_dirty engine. Until then it reports itself unavailable.
#include <cerrno>

#include "watch/engine.hpp"

namespace pagescan::watch {

Result<std::unique_ptr<WriteWatch::Engine>> make_soft_dirty_engine(std::uint64_t, std::uint64_t,
                                                                   const WatchOptions&) {
  return Error(EOPNOTSUPP, ErrorKind::unsupported, "soft_dirty engine: not built yet");
}

}  // namespace pagescan::watch
