// Which mappings a core holds, decided as the kernel decides (fs/binfmt_elf.c
// vma_dump_size()) from what /proc shows of them.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "pagescan/scan.hpp"
#include "proc/maps.hpp"

namespace pagescan::dump {

// coredump_filter bits (core(5)).
enum FilterBit : std::uint32_t {
  kAnonPrivate = 1u << 0,
  kAnonShared = 1u << 1,
  kMappedPrivate = 1u << 2,
  kMappedShared = 1u << 3,
  kElfHeaders = 1u << 4,
  kHugetlbPrivate = 1u << 5,
  kHugetlbShared = 1u << 6,
};

enum class DumpExtent {
  none,        // a PT_LOAD with p_filesz 0
  first_page,  // the ELF header page of a file mapping (p_filesz one page)
  whole,       // p_filesz == p_memsz
};

// What decides one mapping, gathered by the caller.
struct MappingFacts {
  // Whether the mapping has an anon_vma (was written, copy-on-write or anonymous): not
  // visible in /proc; taken as "holds a page of data that is not page cache" (anonymous
  // or COW'd: PAGEMAP_SCAN's file category clear). A mapping written and then wholly
  // dropped (MADV_DONTNEED) thus counts as never written; it reads as zeros either way.
  bool anon_data = false;
};

// The kernel's choice for `vma`: always whole for the vDSO and other named special
// mappings; never for VM_DONTDUMP (smaps "dd") or VM_IO ("io"); hugetlb by bits 5/6;
// shared by bit 1 (its file has no links: shmem, memfd, deleted) or 3; private by bit 0
// when written, else bit 2 when file-backed; else, with bit 4, the first page of a
// readable file mapping at offset 0 when it starts with the ELF magic
// (`starts_with_elf` is asked only then).
DumpExtent dump_extent(pid_t pid, const proc::Vma& vma, std::uint32_t filter,
                       const MappingFacts& facts,
                       const std::function<bool(std::uint64_t address)>& starts_with_elf);

// Whether the file behind a shared mapping has no links (shmem from
// MAP_SHARED|MAP_ANONYMOUS, memfd, SysV shm, a deleted file): the kernel's test for
// "anonymous shared" (bit 1) against "file shared" (bit 3).
bool file_unlinked(pid_t pid, const proc::Vma& vma);

// Whether a dumped mapping's whole range is its contents, read whatever the state of its
// page table: file-backed memory (the kernel's core reads it through the page cache; a
// page never faulted in still holds the file's bytes, not zeros) and the vDSO. Reading
// it allocates no anonymous memory in the target. Anonymous memory, shared or not, holds
// data only where pagemap shows it.
bool contents_are_whole_range(pid_t pid, const proc::Vma& vma);

// [vsyscall] lies above the user address space: neither PAGEMAP_SCAN nor
// process_vm_readv reach it (vsyscall=xonly), so the core leaves it out (as a core
// without it loses nothing: its code is the kernel's, at a fixed address).
bool left_out(const proc::Vma& vma);

}  // namespace pagescan::dump
