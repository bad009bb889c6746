// A process's memory map from /proc/PID/smaps, with each VMA's backing classified.
#include "pagescan/memory_map.hpp"

#include "proc/backing.hpp"
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

Result<std::vector<MappedRegion>> read_memory_map(const Process& process) {
  const std::string context = "memory map of " + process.describe();
  auto dir = process.proc_dir();  // a live thread's once the main thread has exited
  if (!dir) return dir.error().with_context(context);
  auto vmas = proc::read_vmas_in(*dir, process.is_self() ? 0 : process.pid(), true);
  if (!vmas) return vmas.error().with_context(context);
  const proc::TmpfsDevices tmpfs = proc::tmpfs_devices(*dir);
  std::vector<MappedRegion> out;
  out.reserve(vmas->size());
  for (const proc::Vma& v : *vmas) {
    MappedRegion r;
    r.start = v.start;
    r.end = v.end;
    r.perms = v.perms;
    r.offset = v.offset;
    r.path = v.path;
    r.backing = proc::classify(v, tmpfs);
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
