// PLACEHOLDER, being written now: the mprotect engine. Until then it reports itself unavailable.
#include <cerrno>

#include "watch/engine.hpp"

namespace pagescan::watch {

Result<std::unique_ptr<WriteWatch::Engine>> make_mprotect_engine(std::uint64_t, std::uint64_t,
                                                                 const WatchOptions&) {
  return Error(EOPNOTSUPP, ErrorKind::unsupported, "mprotect engine: not built yet");
}

}  // namespace pagescan::watch
