// A child process whose memory exercises every column of `pagescan map`: swapped-out
// shmem (invisible to pagemap, counted by smaps' Swap), swapped-out anonymous pages,
// guard markers, a THP, uffd-wp markers and a file with a long path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pagescan::test::map_smaps {

// The parts; the child reports each as (start, end), (0, 0) when it could not build it.
enum Part : std::size_t { kShmem, kAnonSwap, kGuard, kThp, kUffd, kLongFile, kPartCount };
inline constexpr std::size_t kShmemPages = 32, kShmemOut = 16;  // written, then paged out
inline constexpr std::size_t kAnonPages = 32, kAnonOut = 16;
inline constexpr std::size_t kGuardPages = 16, kGuarded = 4;
inline constexpr std::size_t kUffdPages = 32, kUffdWritten = 16;  // the rest: markers

// Runs in the child (ChildProcess setup): 2 addresses per part, then one more word: 1 when
// every page-out left memory whole.
std::vector<std::uint64_t> build();

// "shmem" for kShmem, ...: for messages.
std::string part_name(Part part);

}  // namespace pagescan::test::map_smaps
