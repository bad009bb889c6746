// What backs a VMA, from its maps line and the tmpfs mounts the process sees.
#include "proc/backing.hpp"

#include <cstdio>

#include "proc/proc_files.hpp"

namespace pagescan::proc {

static bool starts_with(const std::string& s, std::string_view prefix) {
  return s.rfind(prefix, 0) == 0;
}

// The devices of the tmpfs mounts the target sees (its mountinfo: "36 35 0:33 / /run rw
// - tmpfs tmpfs rw"). A file on one is shmem whatever its path (/tmp on many systems,
// /run): its pages are swap-backed and smaps counts them as Shmem, not as file pages.
// Unreadable mountinfo leaves only the path rules below: a label, never an error.
TmpfsDevices tmpfs_devices(const std::string& dir) {
  TmpfsDevices out;
  auto text = read_text_file(dir + "/mountinfo", FileRole::process);
  if (!text) return out;
  std::size_t at = 0;
  while (at < text->size()) {
    std::size_t nl = std::min(text->find('\n', at), text->size());
    const std::string line = text->substr(at, nl - at);
    at = nl + 1;
    const std::size_t dash = line.find(" - ");
    unsigned major = 0, minor = 0;
    if (dash == std::string::npos || line.compare(dash + 3, 6, "tmpfs ") != 0) continue;
    if (std::sscanf(line.c_str(), "%*u %*u %u:%u", &major, &minor) == 2) {
      out.insert({major, minor});
    }
  }
  return out;
}

Backing classify(const Vma& v, const TmpfsDevices& tmpfs) {
  if (v.path == "[heap]") return Backing::heap;
  if (starts_with(v.path, "[stack")) return Backing::stack;
  if (v.special()) return Backing::special;
  // Private MAP_HUGETLB memory shows as a deleted hugetlbfs file: it is anonymous.
  if (starts_with(v.path, "/anon_hugepage")) {
    return v.shared() ? Backing::shared_memory : Backing::anonymous;
  }
  bool shm_object = starts_with(v.path, "/memfd:") || starts_with(v.path, "/SYSV") ||
                    starts_with(v.path, "/dev/shm/") || starts_with(v.path, "/dev/zero");
  if (shm_object || (v.shared() && v.inode == 0)) return Backing::shared_memory;
  if (v.inode != 0 && tmpfs.count({v.dev_major, v.dev_minor})) return Backing::shared_memory;
  if (v.inode != 0) return Backing::file;
  return Backing::anonymous;
}

}  // namespace pagescan::proc
