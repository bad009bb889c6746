// What the C API layers share: errors to -errno, and no exception crossing into C.
#pragma once

#include <cerrno>
#include <new>
#include <optional>

#include "pagescan/pagescan.h"
#include "pagescan/result.hpp"
#include "pagescan/watch.hpp"

namespace pagescan::c_api {

// The engine bits of the flags both layers take (PAGESCAN_WATCH_AUTO .. _EVERYTHING).
inline constexpr unsigned kEngineMask = 0xffu;

// The engine and huge-page choice of a flags word, or nullopt for unknown bits or engine.
inline std::optional<WatchOptions> watch_options_from_flags(unsigned flags) {
  const unsigned engine = flags & kEngineMask;
  if (engine > PAGESCAN_WATCH_EVERYTHING || (flags & ~(kEngineMask | PAGESCAN_WATCH_KEEP_HUGE))) {
    return std::nullopt;
  }
  static constexpr WatchEngine kEngines[] = {WatchEngine::automatic, WatchEngine::uffd,
                                             WatchEngine::soft_dirty, WatchEngine::mprotect,
                                             WatchEngine::everything};
  WatchOptions options;
  options.engine = kEngines[engine];
  options.keep_huge_pages = (flags & PAGESCAN_WATCH_KEEP_HUGE) != 0;
  return options;
}

inline int negative_errno(const Error& error) {
  if (error.kind() == ErrorKind::unsupported) return -ENOTSUP;
  return error.errno_value() > 0 ? -error.errno_value() : -EIO;
}

// No exception may cross into C: the only ones the layer can meet are allocation failures.
template <class F>
int guarded(F&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  } catch (...) {
    return -EIO;
  }
}

}  // namespace pagescan::c_api
