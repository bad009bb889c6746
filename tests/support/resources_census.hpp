// What a library call could leave behind in this process, counted from /proc/self: open
// file descriptors (with what they point at), userfaultfds, mappings, VMAs still
// registered for uffd write-protect, and the SIGSEGV disposition. Tests take a census
// before a call and compare after it.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace pagescan::test::leaks {

// Open fds of this process and their /proc/self/fd link targets ("/proc/12/pagemap",
// "anon_inode:[userfaultfd]", ...), without the directory fd used to list them.
std::map<int, std::string> open_fds();

// How many open fds are userfaultfds (anon_inode:[userfaultfd]).
std::size_t userfaultfd_count();

// Lines of /proc/self/maps.
std::size_t mapping_count();
std::vector<std::string> mapping_lines();

// True when a VMA overlapping [start, end) carries the `uw` VmFlag (registered with a
// userfaultfd in write-protect mode), read from /proc/self/smaps.
bool uffd_wp_registered(std::uint64_t start, std::uint64_t end);

// The SIGSEGV disposition now.
struct sigaction sigsegv_disposition();

struct Census {
  std::map<int, std::string> fds;
  std::size_t userfaultfds = 0;
};

Census take_census();

// Success when the fds open now are exactly `before`'s (same numbers, same targets); the
// failure lists what leaked and what was closed.
testing::AssertionResult same_fds(const Census& before);

// Success when SIGSEGV's disposition is `before`'s (handler, flags, mask).
testing::AssertionResult same_disposition(const struct sigaction& before);

// Runs `body` in a forked child and returns what it reported: "" for success, else the
// failure text (a child that crashes or exits without reporting is a failure too).
// `body` returns "" or a failure message; it must not use gtest assertions.
std::string run_as_child(const std::function<std::string()>& body);

}  // namespace pagescan::test::leaks
