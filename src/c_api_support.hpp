// What the C API layers share: errors to -errno, and no exception crossing into C.
#pragma once

#include <cerrno>
#include <new>

#include "pagescan/result.hpp"

namespace pagescan::c_api {

// The engine bits of the flags both layers take (PAGESCAN_WATCH_AUTO .. _EVERYTHING).
inline constexpr unsigned kEngineMask = 0xffu;

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
