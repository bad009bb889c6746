// A process's memory map from /proc/PID/smaps, with each VMA's backing classified.
#include "pagescan/memory_map.hpp"

#include <cstdio>
#include <set>

#include "proc/maps.hpp"
#include "proc/proc_files.hpp"

namespace pagescan {

std::string_view to_string(Backing backing) {
  switch (backing) {
    case Backing::anonymous:
      return "anon";
    case Backing::heap:
      return "heap";
    case Backing::stack:
      return "stack";
    case Backing::file:
      return "file";
    case Backing::shared_memory:
      return "shm";
    case Backing::special:
      return "special";
  }
  return "?";
}

static bool starts_with(const std::string& s, std::string_view prefix) {
  return s.rfind(prefix, 0) == 0;
}

namespace {

using Device = std::pair<std::uint32_t, std::uint32_t>;  // major, minor

// The devices of the tmpfs mounts the target sees (its mountinfo: "36 35 0:33 / /run rw
// - tmpfs tmpfs rw"). A file on one is shmem whatever its path (/tmp on many systems,
// /run): its pages are swap-backed and smaps counts them as Shmem, not as file pages.
// Unreadable mountinfo leaves only the path rules below: a label, never an error.
std::set<Device> tmpfs_devices(const std::string& dir) {
  std::set<Device> out;
  auto text = proc::read_text_file(dir + "/mountinfo", proc::FileRole::process);
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

}  // namespace

static Backing classify(const proc::Vma& v, const std::set<Device>& tmpfs) {
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

Result<std::vector<MappedRegion>> read_memory_map(const Process& process) {
  const std::string context = "memory map of " + process.describe();
  auto dir = process.proc_dir();  // a live thread's once the main thread has exited
  if (!dir) return dir.error().with_context(context);
  auto vmas = proc::read_vmas_in(*dir, process.is_self() ? 0 : process.pid(), true);
  if (!vmas) return vmas.error().with_context(context);
  const std::set<Device> tmpfs = tmpfs_devices(*dir);
  std::vector<MappedRegion> out;
  out.reserve(vmas->size());
  for (const proc::Vma& v : *vmas) {
    MappedRegion r;
    r.start = v.start;
    r.end = v.end;
    r.perms = v.perms;
    r.offset = v.offset;
    r.path = v.path;
    r.backing = classify(v, tmpfs);
    r.kernel_page_size = v.kernel_page_size;
    r.hugetlb = v.hugetlb();
    r.pfnmap = v.pfnmap();
    r.uffd_wp = v.uffd_wp();
    r.smaps = v.figures;
    out.push_back(std::move(r));
  }
  if (auto alive = process.check_alive(); !alive) return alive.error().with_context(context);
  return out;
}

}  // namespace pagescan
