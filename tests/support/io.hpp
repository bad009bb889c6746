// Whole-buffer reads and writes on file descriptors, and /proc/meminfo fields, for tests
// that talk to forked children over pipes or watch the kernel's memory pools.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace pagescan::test {

// Writes all `size` bytes, retrying after EINTR and short writes. False on an error or
// when the fd takes no more (errno then says why, or is unchanged at end of file).
bool write_all(int fd, const void* data, std::size_t size);
bool write_all(int fd, const std::string& text);
// Reads exactly `size` bytes, retrying after EINTR and short reads. False on an error or
// at end of file before `size` bytes came.
bool read_all(int fd, void* data, std::size_t size);
// Reads until end of file, appending to `text`. False on a read error.
bool read_to_end(int fd, std::string& text);

// The number after `field` in /proc/meminfo ("HugePages_Free", no colon; kB for the
// sizes), or nullopt when the kernel does not list it.
std::optional<std::uint64_t> meminfo_value(const std::string& field);

}  // namespace pagescan::test
