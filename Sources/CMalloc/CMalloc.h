// glibc's allocator controls for LoanScoreServer, the only module that imports this.
//
// Swift's Glibc module does not expose <malloc.h> (mallinfo2, malloc_trim, mallopt), so each
// call LoanScoreServer needs has a `static inline` shim here named `CMalloc_<what>`. On a C
// library other than glibc (macOS, musl) the shims report "not available" and do nothing.

#ifndef CMALLOC_H
#define CMALLOC_H

#include <stddef.h>
#include <stdint.h>

#if defined(__linux__)
#include <features.h>  // defines __GLIBC__ on glibc
#endif
#if defined(__GLIBC__)
#include <malloc.h>
#endif

/// What the allocator holds, in bytes (from glibc's mallinfo2).
typedef struct {
    /// 1 when the figures below are real (glibc 2.33 or newer), 0 otherwise.
    int available;
    /// Bytes handed out by malloc and not freed yet (small chunks and mmapped ones).
    uint64_t in_use;
    /// Bytes freed but kept by the allocator in its arenas (reusable, still counted in RSS
    /// unless trimmed or never touched).
    uint64_t free_held;
    /// Bytes of the arenas' heaps (sbrk and mmapped heaps, not the large mmapped chunks).
    uint64_t arena;
    /// Bytes of chunks served by their own mmap (large allocations).
    uint64_t mmapped;
} CMalloc_statistics;

static inline CMalloc_statistics CMalloc_statistics_now(void) {
    CMalloc_statistics result = {0, 0, 0, 0, 0};
#if defined(__GLIBC__) && ((__GLIBC__ > 2) || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 info = mallinfo2();
    result.available = 1;
    result.in_use = (uint64_t)info.uordblks + (uint64_t)info.hblkhd;
    result.free_held = (uint64_t)info.fordblks;
    result.arena = (uint64_t)info.arena;
    result.mmapped = (uint64_t)info.hblkhd;
#endif
    return result;
}

/// Returns the free memory of every arena to the system (malloc_trim(0)); 1 when some was
/// released, 0 when none was or the C library has no such call.
static inline int CMalloc_trim(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}

/// Caps the number of malloc arenas (mallopt(M_ARENA_MAX)); 1 on success, 0 when refused or
/// not available. Only arenas created after the call are limited.
static inline int CMalloc_set_arena_max(int arenas) {
#if defined(__GLIBC__)
    return mallopt(M_ARENA_MAX, arenas);
#else
    (void)arenas;
    return 0;
#endif
}

#endif
