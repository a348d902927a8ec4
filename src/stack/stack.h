/*
 * stack.h - coroutine stacks (layer 2).
 *
 * Stacks are carved from large anonymous mappings ("chunks") reserved with
 * MAP_NORESERVE: the kernel commits a page only when it is first touched.
 * Below each stack lies a guard region.  Where the kernel has lightweight
 * guard regions (MADV_GUARD_INSTALL, Linux 6.13+) a guard costs no VMA, so
 * a million guarded stacks fit under the default vm.max_map_count (65530).
 * Otherwise guards are made with mprotect (each splits the mapping: two VMAs
 * per stack) while a budget of a quarter of vm.max_map_count lasts; past it,
 * stacks get a canary word at their low end instead, checked when the
 * coroutine switches out (a late, best-effort overflow report).  Where the
 * kernel lets a process give itself advice on many ranges in one call
 * (process_madvise with PIDFD_SELF, Linux 6.14+), guards are installed and
 * memory is trimmed a batch of stacks at a time; the top page of each stack
 * of a batch of new ones is committed in the same way, ahead of use, so at
 * most WEFT__STACK_BATCH - 1 pages per stack size are committed for stacks
 * not handed out yet.
 *
 * A pool belongs to one runtime (one thread): no locking.  Free stacks are
 * kept per size and reused most recently returned first.  Those that keep
 * their memory are "hot": as many as the size's decaying high-water mark
 * of stacks in use leaves room for (peak - in_use), at least
 * WEFT__STACK_HOT, so that the tasks of the next wave find the stacks of
 * the last one warm instead of writing fresh pages (1-18 us each,
 * bench/pages).  The mark is the most stacks in use at once; a step
 * (weft__stack_step, at most once per WEFT__STACK_DECAY_NS, also while the
 * runtime is busy) halves its excess over the stacks in use now.  When the
 * runtime is idle, weft__stack_trim gives back the memory of the hot
 * stacks past the room (MADV_DONTNEED, one system call per batch of
 * WEFT__STACK_BATCH where the kernel allows): they turn "cold".  A returned
 * stack past the room ("warm") keeps its memory until WEFT__STACK_BATCH
 * have accumulated or the next trim.  So after a wave, the memory of its
 * stacks goes back within about log2(wave / HOT) seconds of idle trims,
 * down to WEFT__STACK_HOT free stacks per size; a busy runtime gives back
 * what comes back past the lowered room.  A stack
 * is handed out hot first, then warm, then cold, then newly carved.
 */
#ifndef WEFT_STACK_H
#define WEFT_STACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define WEFT__STACK_HOT      64 /* free stacks per size that keep memory */
#define WEFT__STACK_DECAY_NS 1000000000u /* a step of the high-water mark */
#define WEFT__STACK_BATCH    64 /* stacks trimmed / guarded per system call */
#define WEFT__CANARY         UINT64_C(0x77656674b10cb10c)

typedef struct weft__stack {
    char *lo;                 /* lowest usable byte */
    size_t size;              /* usable bytes */
    size_t guard;             /* guard bytes below lo (0: canary only) */
    struct weft__stack *next; /* free list */
    struct weft__chunk *chunk;
    unsigned valgrind_id;
    int hot; /* memory still committed */
} weft__stack;

typedef struct weft__chunk {
    struct weft__chunk *next;
    char *base;
    size_t len;
    size_t slot;         /* bytes per stack including its guard */
    size_t count;        /* stacks the mapping has room for */
    size_t used;         /* stacks carved so far: slots [0, used) */
    size_t guarded;      /* slots [0, guarded) have their guard already */
    weft__stack *stacks; /* descriptors, count of them */
} weft__chunk;

typedef struct weft__size_pool {
    size_t size;
    weft__stack *hot, *warm, *cold; /* free stacks */
    size_t nhot, nwarm;
    size_t in_use, peak; /* handed out; the decaying high-water mark */
    weft__chunk *chunk;  /* the chunk being carved */
} weft__size_pool;

typedef struct weft__stack_pool {
    weft__chunk *chunks;    /* every chunk, for teardown */
    weft__size_pool *sizes; /* one per distinct stack size */
    size_t nsizes;
    size_t page;
    size_t total;      /* stacks carved */
    uint64_t decay_at; /* the next step of the marks (CLOCK_MONOTONIC ns) */
    /* Room to build one batch of system-call arguments. */
    weft__stack *scratch[WEFT__STACK_BATCH];
    struct iovec iov[WEFT__STACK_BATCH];
} weft__stack_pool;

void weft__stack_pool_init(weft__stack_pool *p);
/* Unmaps everything; every stack must have been returned. */
void weft__stack_pool_destroy(weft__stack_pool *p);
/* A stack of at least size bytes, or NULL with errno (ENOMEM). */
weft__stack *weft__stack_get(weft__stack_pool *p, size_t size);
void weft__stack_put(weft__stack_pool *p, weft__stack *s);
/* Stacks handed out and not yet returned (every size). */
size_t weft__stack_in_use(const weft__stack_pool *p);
/* At now (CLOCK_MONOTONIC ns), once WEFT__STACK_DECAY_NS have passed
 * since the last step: halves each size's high-water mark's excess over
 * the stacks in use.  No system call: for a runtime that stays busy, once
 * a round. */
void weft__stack_step(weft__stack_pool *p, uint64_t now);
/* At now: gives back the memory of the warm stacks, takes a step
 * (weft__stack_step), and trims at most WEFT__STACK_BATCH hot stacks per
 * size past the room (so a call stays short: ~30 us).  Returns when a call
 * has work: now while hot stacks past the room remain, the next step while
 * a size holds more than WEFT__STACK_HOT free stacks' memory, else
 * UINT64_MAX.  For when the runtime goes idle (it then waits at most until
 * that instant).  Cheap when there is nothing to trim. */
uint64_t weft__stack_trim(weft__stack_pool *p, uint64_t now);
/* Rounds a requested stack size (bytes; 0: WEFT_STACK_DEFAULT) up to whole
 * pages of page bytes (a power of two: the system's page), at least
 * WEFT_STACK_MIN.  0 when size is over WEFT__SIZE_LIMIT.  Needs no pool, so
 * that a future made outside a runtime can round its size. */
size_t weft__stack_round_page(size_t page, size_t size);
/* weft__stack_round_page with p's page. */
static inline size_t weft__stack_round(const weft__stack_pool *p, size_t size)
{
    return weft__stack_round_page(p->page, size);
}
/* 1 if the canary of an unguarded stack was overwritten. */
int weft__stack_smashed(const weft__stack *s);

#endif
