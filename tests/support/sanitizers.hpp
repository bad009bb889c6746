// Which sanitizer this test build runs under, for tests that scale their work down there.
#pragma once

namespace pagescan::test {

// GCC defines __SANITIZE_*__; clang answers __has_feature (and defines the macros only in
// newer versions), so both are asked.
#if defined(__has_feature)
#define PAGESCAN_HAS_FEATURE(x) __has_feature(x)
#else
#define PAGESCAN_HAS_FEATURE(x) 0
#endif

#if defined(__SANITIZE_ADDRESS__) || PAGESCAN_HAS_FEATURE(address_sanitizer)
inline constexpr bool kUnderAsan = true;
#else
inline constexpr bool kUnderAsan = false;
#endif

#if defined(__SANITIZE_THREAD__) || PAGESCAN_HAS_FEATURE(thread_sanitizer)
inline constexpr bool kUnderTsan = true;
#else
inline constexpr bool kUnderTsan = false;
#endif

#undef PAGESCAN_HAS_FEATURE

inline constexpr bool kUnderSanitizer = kUnderAsan || kUnderTsan;

}  // namespace pagescan::test
