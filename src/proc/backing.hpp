// What backs a VMA (heap, stack, anonymous, file, shared memory, special), from its maps
// line alone: shared by the memory map (smaps) and the page census (maps).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>

#include "pagescan/memory_map.hpp"
#include "proc/maps.hpp"

namespace pagescan::proc {

// (major, minor) of each tmpfs mount.
using TmpfsDevices = std::set<std::pair<std::uint32_t, std::uint32_t>>;

// The devices of the tmpfs mounts the process with /proc directory `dir` sees.
TmpfsDevices tmpfs_devices(const std::string& dir);

Backing classify(const Vma& v, const TmpfsDevices& tmpfs);

}  // namespace pagescan::proc
