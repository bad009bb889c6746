// The kernel's smaps figures by name, smaps_rollup, and the split of non-present entries
// into swap entries and PTE markers from the swap type pagemap shows to CAP_SYS_ADMIN.
#include "pagescan/smaps.hpp"

#include <unistd.h>

#include <cerrno>
#include <vector>

#include "kernel/uapi.hpp"
#include "proc/maps.hpp"
#include "proc/proc_files.hpp"

namespace pagescan {

namespace {

constexpr std::array<std::string_view, kSmapsFieldCount> kNames = {"Rss",
                                                                   "Pss",
                                                                   "Pss_Dirty",
                                                                   "Pss_Anon",
                                                                   "Pss_File",
                                                                   "Pss_Shmem",
                                                                   "Shared_Clean",
                                                                   "Shared_Dirty",
                                                                   "Private_Clean",
                                                                   "Private_Dirty",
                                                                   "Referenced",
                                                                   "Anonymous",
                                                                   "KSM",
                                                                   "LazyFree",
                                                                   "AnonHugePages",
                                                                   "ShmemPmdMapped",
                                                                   "FilePmdMapped",
                                                                   "Shared_Hugetlb",
                                                                   "Private_Hugetlb",
                                                                   "Swap",
                                                                   "SwapPss",
                                                                   "Locked"};
static_assert(kSmapsFieldCount <= 32, "SmapsFigures::shown has a bit per field");

// The swap type of a pagemap entry's frame field (bits 0-4) and its offset (bits 5-54).
// The kernel numbers special swap types down from the top of the 5-bit space: the PTE
// marker type is MAX_SWAPFILES + hwpoison + migration + device types = 31 whatever the
// configuration (include/linux/swap.h, SWP_PTE_MARKER). Marker kinds are offset bits
// (include/linux/swapops.h: PTE_MARKER_UFFD_WP 1, PTE_MARKER_POISONED 2, PTE_MARKER_GUARD 4).
// Seen here: a uffd-wp marker reads frame 0x3f, a guard marker 0x9f
// (kernel-pagemap-scan.md §6.1).
constexpr std::uint64_t kSwapTypeMask = 0x1f;
constexpr std::uint64_t kPteMarkerType = 31;
constexpr std::uint64_t kMarkerUffdWp = 1, kMarkerGuard = 4;

}  // namespace

std::string_view smaps_name(SmapsField field) {
  return kNames[static_cast<std::size_t>(field)];
}

std::optional<SmapsField> smaps_field_named(std::string_view name) {
  for (std::size_t i = 0; i < kSmapsFieldCount; ++i) {
    if (kNames[i] == name) return static_cast<SmapsField>(i);
  }
  return std::nullopt;
}

void SmapsFigures::add(const SmapsFigures& other) {
  for (std::size_t i = 0; i < kSmapsFieldCount; ++i) bytes[i] += other.bytes[i];
  shown |= other.shown;
}

Result<SmapsFigures> read_smaps_rollup(const Process& process) {
  const std::string context = "smaps_rollup of " + process.describe();
  auto dir = process.proc_dir();
  if (!dir) return dir.error().with_context(context);
  auto text = proc::read_text_file(*dir + "/smaps_rollup", process.is_self()
                                                               ? proc::FileRole::kernel_interface
                                                               : proc::FileRole::process);
  if (!text) return text.error().with_context(context);
  auto records = proc::parse_maps(*text);
  if (!records) return records.error().with_context(context);
  // A process without an mm (exiting) shows an empty file.
  if (records->empty()) {
    if (auto alive = process.check_alive(); !alive) return alive.error().with_context(context);
    return SmapsFigures{};
  }
  return records->front().figures;
}

Result<NonPresentEntries> count_non_present(const Process& process, std::uint64_t start,
                                            std::uint64_t end) {
  const std::string context = "non-present entries of " + process.describe();
  auto fd = process.pagemap_fd();
  if (!fd) return fd.error().with_context(context);
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  NonPresentEntries out;
  std::vector<std::uint64_t> entries(4096);
  for (std::uint64_t at = start; at < end;) {
    const std::uint64_t n = std::min<std::uint64_t>(entries.size(), (end - at) / page);
    ssize_t got = ::pread(*fd, entries.data(), n * 8, static_cast<off_t>(at / page * 8));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      return proc::file_error(errno, proc::FileRole::process, "read pagemap").with_context(context);
    }
    if (got == 0) break;  // past the end of user space
    const auto read = static_cast<std::uint64_t>(got) / 8;
    for (std::uint64_t i = 0; i < read; ++i) {
      const std::uint64_t e = entries[i];
      if (!(e & uapi::PM_SWAP)) continue;
      const std::uint64_t frame = e & uapi::PM_PFN_MASK;
      // Swap offset 0 holds the swap header and a marker always has a kind bit, so a
      // swapped entry with a zero frame is one whose frame the kernel hid from us.
      if (frame == 0) {
        return Error(EPERM, ErrorKind::unsupported,
                     context +
                         ": pagemap hides swap types from callers without CAP_SYS_ADMIN, so "
                         "markers cannot be told from swap entries");
      }
      if ((frame & kSwapTypeMask) != kPteMarkerType) {
        ++out.swap;
      } else if ((frame >> 5) & kMarkerGuard) {
        ++out.guard_markers;
      } else if ((frame >> 5) & kMarkerUffdWp) {
        ++out.uffd_wp_markers;
      } else {
        ++out.other_markers;
      }
    }
    at += read * page;
  }
  if (auto alive = process.check_alive(); !alive) return alive.error().with_context(context);
  return out;
}

}  // namespace pagescan
