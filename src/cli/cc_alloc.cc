// zbuild-cc's operator new and delete (linked into zbuild-cc only; docs/runner.md, "Memory").
//
// A cold compile's scan makes ~40,000 small allocations (token and directive vectors, macro
// table nodes, path strings) and frees most of them again, and the process then exits without
// freeing the rest. glibc's malloc spent about a tenth of the runner's CPU on this (splitting,
// coalescing and consolidating chunks that are about to be thrown away) and faulted the heap in
// one 4 KiB page at a time. Here instead:
//   * sizes up to 512 bytes round up to a multiple of 16, larger ones up to 64 KiB to a power
//     of two; each such class takes blocks from 64 KiB runs of its own and keeps the blocks
//     freed back on a list of its own (no splitting, no coalescing, no headers);
//   * the runs come from one reserved address range (1 GiB, MAP_NORESERVE: only pages touched
//     are memory) that asks for transparent huge pages: its first 2 MiB are one fault;
//   * anything larger, over-aligned, or asked for when the range cannot be had or is used up,
//     is glibc's malloc; a pointer given back is ours exactly when it lies in the range.
// The runner starts no threads; should something ever start one, every call takes a spin lock
// from then on (glibc clears __libc_single_threaded before the new thread runs).
#include <sys/mman.h>
#include <sys/single_threaded.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace {

constexpr size_t kRange = size_t{1} << 30;
constexpr size_t kRun = size_t{64} << 10;
constexpr size_t kSmallMax = 512;        // classes 1..32: 16, 32, ..., 512 bytes
constexpr size_t kLargeMax = kRun;       // classes 33..39: 1, 2, 4, ..., 64 KiB
constexpr int kClasses = 40;             // class 0 unused (marks a run not yet handed out)

struct FreeBlock {
  FreeBlock* next;
};

struct Heap {
  char* base = nullptr;          // the reserved range; null: not tried yet
  bool failed = false;           // the range could not be reserved: everything is malloc's
  size_t used = 0;               // bytes of the range handed out as runs
  FreeBlock* free_list[kClasses] = {};
  char* cur[kClasses] = {};      // bump pointer into the class's current run
  char* end[kClasses] = {};
  uint8_t run_class[kRange / kRun] = {};
};

Heap g_heap;
std::atomic<bool> g_lock{false};

struct Guard {
  bool locked;
  Guard() : locked(!__libc_single_threaded) {
    if (locked)
      while (g_lock.exchange(true, std::memory_order_acquire)) {
      }
  }
  ~Guard() {
    if (locked) g_lock.store(false, std::memory_order_release);
  }
};

inline int class_of(size_t n) {
  if (n <= kSmallMax) [[likely]] return static_cast<int>((n + 15) >> 4) | (n == 0);
  int c = 33;
  for (size_t s = 1024; s < n; s <<= 1) ++c;
  return c;
}

inline size_t class_size(int c) { return c <= 32 ? static_cast<size_t>(c) * 16 : size_t{1024} << (c - 33); }

bool reserve() {
  if (g_heap.base || g_heap.failed) return g_heap.base != nullptr;
  // One extra 2 MiB so the range can start on a huge-page boundary.
  constexpr size_t kHuge = size_t{2} << 20;
  void* p = ::mmap(nullptr, kRange + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    g_heap.failed = true;
    return false;
  }
  auto at = reinterpret_cast<uintptr_t>(p);
  g_heap.base = reinterpret_cast<char*>((at + kHuge - 1) & ~(kHuge - 1));
  ::madvise(g_heap.base, kRange, MADV_HUGEPAGE);   // advice only: without it, 4 KiB pages
  return true;
}

void* take_from(int c) {
  if (FreeBlock* b = g_heap.free_list[c]) {
    g_heap.free_list[c] = b->next;
    return b;
  }
  size_t size = class_size(c);
  if (!g_heap.cur[c] || size > static_cast<size_t>(g_heap.end[c] - g_heap.cur[c])) [[unlikely]] {
    if (!reserve() || g_heap.used + kRun > kRange) return nullptr;
    char* run = g_heap.base + g_heap.used;
    g_heap.run_class[g_heap.used / kRun] = static_cast<uint8_t>(c);
    g_heap.used += kRun;
    g_heap.cur[c] = run;
    g_heap.end[c] = run + kRun;
  }
  void* p = g_heap.cur[c];
  g_heap.cur[c] += size;
  return p;
}

inline void* take(size_t n) {
  if (n > kLargeMax) [[unlikely]] return nullptr;
  int c = class_of(n);
  if (!__libc_single_threaded) [[unlikely]] {
    Guard g;
    return take_from(c);
  }
  return take_from(c);
}

void* allocate(size_t n) {
  if (void* p = take(n)) return p;
  return std::malloc(n == 0 ? 1 : n);
}

inline void give_back(void* p) {
  const size_t at = reinterpret_cast<uintptr_t>(p) - reinterpret_cast<uintptr_t>(g_heap.base);
  if (g_heap.base && at < kRange) [[likely]] {
    Guard g;
    int c = g_heap.run_class[at / kRun];
    auto* b = static_cast<FreeBlock*>(p);
    b->next = g_heap.free_list[c];
    g_heap.free_list[c] = b;
    return;
  }
  std::free(p);
}

void* allocate_or_throw(size_t n) {
  void* p = allocate(n);
  if (!p) throw std::bad_alloc();
  return p;
}

void* allocate_aligned(size_t n, std::align_val_t al) {
  auto a = static_cast<size_t>(al);
  if (a <= 16) return allocate(n);   // every block of a class is 16-byte aligned
  return std::aligned_alloc(a, (n + a - 1) / a * a);
}

}  // namespace

void* operator new(size_t n) { return allocate_or_throw(n); }
void* operator new[](size_t n) { return allocate_or_throw(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new[](size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new(size_t n, std::align_val_t a) {
  void* p = allocate_aligned(n, a);
  if (!p) throw std::bad_alloc();
  return p;
}
void* operator new[](size_t n, std::align_val_t a) { return operator new(n, a); }
void* operator new(size_t n, std::align_val_t a, const std::nothrow_t&) noexcept { return allocate_aligned(n, a); }
void* operator new[](size_t n, std::align_val_t a, const std::nothrow_t&) noexcept { return allocate_aligned(n, a); }

void operator delete(void* p) noexcept { give_back(p); }
void operator delete[](void* p) noexcept { give_back(p); }
void operator delete(void* p, size_t) noexcept { give_back(p); }
void operator delete[](void* p, size_t) noexcept { give_back(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { give_back(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { give_back(p); }
void operator delete(void* p, std::align_val_t) noexcept { give_back(p); }
void operator delete[](void* p, std::align_val_t) noexcept { give_back(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { give_back(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { give_back(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { give_back(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { give_back(p); }
