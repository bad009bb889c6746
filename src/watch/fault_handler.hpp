// The mprotect engine's process-wide SIGSEGV machinery: a lock-free registry of watched
// regions and the signal handler that marks a written page and lets the write through.
//
// The registry is a fixed array of slots, each {state, start, end, prot, bitmap}. The
// handler never allocates, locks or throws: it reads slots through atomics, calls
// mprotect(2), sets one bit with fetch_or, and returns so the faulting instruction runs
// again. Everything else (installing the handler, claiming and releasing slots) happens
// outside signal context under a mutex the handler never takes.
//
// A slot is read by the handler only while its state is kLive. Releasing a slot first
// takes it out of kLive, then waits until no handler is inside the registry (the
// `in_flight` count, raised before the handler reads any slot); all of these are
// sequentially consistent, so a handler either saw the slot leave kLive or is counted
// and waited for. Only then is the bitmap freed and the slot reused.
//
// Which faults are ours: si_code SEGV_ACCERR, a write access (decoded from the trap
// context on x86-64 and arm64; elsewhere every SEGV_ACCERR counts as a write), at an
// address inside a live slot. Everything else goes to the handler that was installed
// before ours, exactly as the kernel would have delivered it; when that was SIG_DFL or
// SIG_IGN (a real fault cannot be ignored: the kernel forces SIG_DFL), the default is
// restored and the fault repeats, so the process dies of the original signal.
//
// Header-only so src/CMakeLists.txt needs no new entry; only mprotect_engine.cpp
// includes it.
#pragma once

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>

#include "pagescan/result.hpp"

namespace pagescan::watch::fault {

inline constexpr int kSlots = 256;

using Word = std::atomic<std::uint64_t>;
static_assert(Word::is_always_lock_free, "the fault handler needs lock-free 64-bit atomics");
static_assert(std::atomic<int>::is_always_lock_free);
static_assert(std::atomic<Word*>::is_always_lock_free);

// One watched region. Bit i of the bitmap is page start + i * page_size.
struct Slot {
  std::atomic<int> state{0};
  std::atomic<std::uint64_t> start{0};
  std::atomic<std::uint64_t> end{0};
  std::atomic<int> prot{0};  // the region's own protection, restored on a write
  std::atomic<Word*> bits{nullptr};
  std::uint64_t bits_bytes = 0;  // under Registry::mutex only (overlap checks)
};

enum SlotState : int {
  kFree = 0,
  kClaimed = 1,  // being filled or being released: the handler skips it
  kLive = 2,
};

struct Registry {
  Slot slots[kSlots];
  std::atomic<int> high_water{0};  // slots at and above were never claimed
  std::atomic<int> in_flight{0};   // handlers reading slots right now
  std::atomic<std::uint64_t> page_size{0};

  // Outside signal context only.
  std::mutex mutex;
  int users = 0;                   // live watches; the handler is ours while > 0
  struct sigaction previous = {};  // written before ours is installed, then read-only
};

inline Registry& registry() {
  static Registry r;
  return r;
}

// Whether the faulting access was a write. Reads and instruction fetches never fault
// because of us (we only remove PROT_WRITE), so they are someone else's.
inline bool is_write_fault(const void* context) {
#if defined(__x86_64__)
  // The page-fault error code: bit 1 is set for a write access.
  const auto* uc = static_cast<const ucontext_t*>(context);
  return (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#elif defined(__aarch64__)
  // The ESR record in the signal frame's extension area: a data abort (EC 0x24, 0x25)
  // with WnR (bit 6) set is a write.
  const auto* uc = static_cast<const ucontext_t*>(context);
  const auto* area = reinterpret_cast<const unsigned char*>(uc->uc_mcontext.__reserved);
  const std::size_t size = sizeof uc->uc_mcontext.__reserved;
  for (std::size_t at = 0; at + 8 <= size;) {
    std::uint32_t magic = 0, length = 0;
    __builtin_memcpy(&magic, area + at, 4);
    __builtin_memcpy(&length, area + at + 4, 4);
    if (magic == 0 || length < 8) break;
    if (magic == 0x45535201u && length >= 16 && at + 16 <= size) {  // ESR_MAGIC
      std::uint64_t esr = 0;
      __builtin_memcpy(&esr, area + at + 8, 8);
      const std::uint64_t ec = esr >> 26;
      if (ec == 0x24 || ec == 0x25) return (esr & (1u << 6)) != 0;
      return false;
    }
    at += length;
  }
  return true;
#else
  (void)context;
  return true;
#endif
}

// Hands a fault that is not ours to the handler installed before ours.
inline void chain(int sig, siginfo_t* info, void* context) {
  const struct sigaction& prev = registry().previous;
  // sa_handler and sa_sigaction share storage: SIG_DFL / SIG_IGN read the same either way.
  if (prev.sa_handler == SIG_IGN && info->si_code <= 0) return;  // kill(): ignored as before
  if (prev.sa_handler == SIG_DFL || prev.sa_handler == SIG_IGN) {
    struct sigaction dfl = {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, nullptr);
    // A fault repeats when the instruction runs again and now kills the process with
    // this signal (and a core); a signal sent with kill() must be raised again. It is
    // blocked while this handler runs, so it arrives when the handler returns.
    if (info->si_code <= 0) raise(sig);
    return;
  }
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &prev.sa_mask, &old);
  if (prev.sa_flags & SA_SIGINFO) {
    prev.sa_sigaction(sig, info, context);
  } else {
    prev.sa_handler(sig);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

// Sets bits [first, last) of a bitmap (async-signal-safe).
inline void set_bits(Word* bits, std::uint64_t first, std::uint64_t last) {
  while (first < last) {
    const std::uint64_t word = first / 64, bit = first % 64;
    const std::uint64_t n = last - first < 64 - bit ? last - first : 64 - bit;
    const std::uint64_t mask = (n == 64 ? ~0ull : ((1ull << n) - 1)) << bit;
    bits[word].fetch_or(mask);
    first += n;
  }
}

// The write fault at `addr` in a live slot: make the page writable, then mark it. This
// order is what keeps a racing collect correct (see mprotect_engine.cpp).
inline bool record_write(Slot& slot, std::uint64_t addr, std::uint64_t page) {
  const std::uint64_t start = slot.start.load(), end = slot.end.load();
  const int prot = slot.prot.load();
  Word* bits = slot.bits.load();
  const std::uint64_t at = addr & ~(page - 1);
  if (::mprotect(reinterpret_cast<void*>(at), page, prot) == 0) {
    set_bits(bits, (at - start) / page, (at - start) / page + 1);
    return true;
  }
  // Out of VMAs (vm.max_map_count): unprotecting the whole region merges it back into
  // one VMA. Every page then counts as written, so nothing is lost.
  if (::mprotect(reinterpret_cast<void*>(start), end - start, prot) != 0) return false;
  set_bits(bits, 0, (end - start) / page);
  return true;
}

inline void on_sigsegv(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  Registry& r = registry();
  bool handled = false;
  if (info->si_code == SEGV_ACCERR && is_write_fault(context)) {
    const auto addr = reinterpret_cast<std::uint64_t>(info->si_addr);
    r.in_flight.fetch_add(1);
    const int n = r.high_water.load();
    const std::uint64_t page = r.page_size.load();
    for (int i = 0; i < n && !handled; ++i) {
      Slot& slot = r.slots[i];
      if (slot.state.load() != kLive) continue;
      if (addr < slot.start.load() || addr >= slot.end.load()) continue;
      handled = record_write(slot, addr, page);
      break;
    }
    r.in_flight.fetch_sub(1);
  }
  errno = saved_errno;
  if (!handled) chain(sig, info, context);
}

// A fork()ed child has only the forking thread: no handler of another thread is still
// inside the registry, and the mutex must be free.
inline void prepare_fork() {
  registry().mutex.lock();
}
inline void after_fork_parent() {
  registry().mutex.unlock();
}
inline void after_fork_child() {
  registry().in_flight.store(0);
  registry().mutex.unlock();
}

inline bool ours_installed() {
  struct sigaction current = {};
  sigaction(SIGSEGV, nullptr, &current);
  return (current.sa_flags & SA_SIGINFO) && current.sa_sigaction == on_sigsegv;
}

// Whether [start, end) overlaps a live watch (checked before reading the region's
// protection, which a watch changes).
inline bool overlaps_watch(std::uint64_t start, std::uint64_t end) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  for (int i = 0; i < r.high_water.load(); ++i) {
    const Slot& s = r.slots[i];
    if (s.state.load() == kLive && s.start.load() < end && start < s.end.load()) return true;
  }
  return false;
}

// Registers [start, end) (page-aligned, protection `prot`) with its bitmap of
// (end - start) / page bits, installing the handler for the first watch. Errors:
// invalid_argument when the region overlaps another mprotect watch or the memory the
// handler itself writes; unsupported when every slot is taken. Returns the slot index.
inline Result<int> attach(std::uint64_t start, std::uint64_t end, int prot, Word* bits,
                          std::uint64_t bits_bytes) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  static std::once_flag fork_hooks;
  std::call_once(fork_hooks,
                 [] { pthread_atfork(prepare_fork, after_fork_parent, after_fork_child); });
  auto overlaps = [&](std::uint64_t lo, std::uint64_t hi) { return lo < end && start < hi; };
  const auto self = reinterpret_cast<std::uint64_t>(&r);
  if (overlaps(self, self + sizeof r)) {
    return Error(EINVAL, ErrorKind::invalid_argument,
                 "the region holds the mprotect engine's own registry");
  }
  for (int i = 0; i < r.high_water.load(); ++i) {
    Slot& s = r.slots[i];
    if (s.state.load() != kLive) continue;
    const auto b = reinterpret_cast<std::uint64_t>(s.bits.load());
    if (overlaps(s.start.load(), s.end.load())) {
      return Error(EINVAL, ErrorKind::invalid_argument,
                   "the region overlaps another mprotect watch");
    }
    if (overlaps(b, b + s.bits_bytes)) {
      return Error(EINVAL, ErrorKind::invalid_argument,
                   "the region holds another mprotect watch's bitmap, which the SIGSEGV "
                   "handler writes");
    }
  }
  int index = -1;
  for (int i = 0; i < kSlots && index < 0; ++i) {
    int expected = kFree;
    if (r.slots[i].state.compare_exchange_strong(expected, kClaimed)) index = i;
  }
  if (index < 0) {
    return Error(ENOSPC, ErrorKind::unsupported,
                 "all " + std::to_string(kSlots) + " mprotect watch slots are in use");
  }
  if (r.users == 0 && !ours_installed()) {
    r.page_size.store(static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)));
    struct sigaction ours = {};
    ours.sa_sigaction = on_sigsegv;
    ours.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&ours.sa_mask);
    // Read the previous disposition before ours goes live, so the handler never sees
    // `previous` half-written.
    if (sigaction(SIGSEGV, nullptr, &r.previous) != 0 || sigaction(SIGSEGV, &ours, nullptr) != 0) {
      const int err = errno;
      r.slots[index].state.store(kFree);
      return Error::from_errno(err, ErrorKind::kernel_failure, "installing the SIGSEGV handler");
    }
  }
  ++r.users;
  Slot& slot = r.slots[index];
  slot.start.store(start);
  slot.end.store(end);
  slot.prot.store(prot);
  slot.bits.store(bits);
  slot.bits_bytes = bits_bytes;
  int high = r.high_water.load();
  while (high < index + 1 && !r.high_water.compare_exchange_weak(high, index + 1)) {
  }
  slot.state.store(kLive);
  return index;
}

// Takes slot `index` out of the registry and waits until no handler can still be using
// its bitmap; the last watch restores the handler that was there before ours (unless
// someone installed another one over ours since: theirs stays, and ours keeps chaining).
inline void detach(int index) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  Slot& slot = r.slots[index];
  slot.state.store(kClaimed);
  while (r.in_flight.load() != 0) sched_yield();
  slot.bits.store(nullptr);
  slot.bits_bytes = 0;
  slot.start.store(0);
  slot.end.store(0);
  slot.state.store(kFree);
  if (--r.users == 0 && ours_installed()) sigaction(SIGSEGV, &r.previous, nullptr);
}

}  // namespace pagescan::watch::fault
