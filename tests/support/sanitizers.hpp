// Which sanitizer this test build runs under, for tests that scale their work down there.
#pragma once

namespace pagescan::test {

// GCC defines __SANITIZE_*__; clang answers __has_feature (and defines the macros only in
// newer versions), so both are asked.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kUnderAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kUnderAsan = true;
#else
inline constexpr bool kUnderAsan = false;
#endif
#else
inline constexpr bool kUnderAsan = false;
#endif

#if defined(__SANITIZE_THREAD__)
inline constexpr bool kUnderTsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool kUnderTsan = true;
#else
inline constexpr bool kUnderTsan = false;
#endif
#else
inline constexpr bool kUnderTsan = false;
#endif

inline constexpr bool kUnderSanitizer = kUnderAsan || kUnderTsan;

}  // namespace pagescan::test
