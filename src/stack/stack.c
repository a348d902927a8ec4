/*
 * stack.c - pooled coroutine stacks carved from large mappings.
 *
 * Layout of a chunk (addresses grow to the right; stacks grow to the left):
 *
 *   | guard | stack 0 ... | guard | stack 1 ... | ... | guard | stack n-1 |
 *
 * Invariants: a stack descriptor lives in its chunk's descriptor array and is
 * either handed out (in_use) or on exactly one of its size pool's hot, warm
 * or cold free lists.  Hot and warm stacks keep their memory (hot <= the
 * room under the high-water mark, at least HOT; warm < BATCH); cold ones
 * have been trimmed (MADV_DONTNEED).  Chunks are
 * unmapped only when the pool is destroyed.
 *
 * Trimming is batched: one madvise per stack cost a system call and a TLB
 * flush each (~1.85 us for a two-page stack); a batch of BATCH stacks, sorted
 * by address, neighbours in a chunk merged into one range, goes to the kernel
 * in one process_madvise (~0.5 us a stack) or, where that is unavailable,
 * one madvise per merged range.  BATCH = 64: per stack, batches of 64 cost
 * within 7% of batches of 256 (0.56 vs 0.52 us), at a quarter of the memory
 * that waits for a trim.  A merged range covers the guards between
 * neighbours: MADV_DONTNEED keeps MADV_GUARD_INSTALL guards (checked on
 * Linux 6.18: the guard still faults after the range is zapped), and a
 * canary stack's guard region is plain memory.  mprotect guards are separate
 * mappings, so under GUARD_MPROTECT only bodies are trimmed, one by one.
 *
 * Carving is batched the same way: once lightweight guards work, the guards
 * of the next slots of a chunk (as many as the pool has carved so far, at
 * most BATCH) are installed by one process_madvise (~0.6 us a guard, vs
 * ~0.75 us for one madvise each); chunk->guarded marks how far that went.
 * The top page of the same slots, the first that weft__ctx_init touches, is
 * committed by a second call (MADV_POPULATE_WRITE).
 */
#include "util/alloc.h"
#include "stack/stack.h"
#include "util/sanitize.h"
#include "weft.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef WEFT_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef PIDFD_SELF
#define PIDFD_SELF (-10000) /* Linux 6.14: the calling process, no fd */
#endif

#define CHUNK_BYTES ((size_t)64 << 20) /* reserved per chunk */
#define GUARD_PAGES                                                            \
    16 /* 64 KiB: bigger frames jump it (use -fstack-clash-protection) */

enum { GUARD_UNKNOWN, GUARD_MADVISE, GUARD_MPROTECT };

static atomic_int guard_mode = GUARD_UNKNOWN;
/* process_madvise(PIDFD_SELF, ...) with any advice: Linux 6.14+. */
enum { VECTOR_UNKNOWN, VECTOR_YES, VECTOR_NO };
static atomic_int vector_mode = VECTOR_UNKNOWN;
static atomic_long mprotect_guards; /* guards made with mprotect */
static long mprotect_budget = -1;   /* a quarter of vm.max_map_count */

static long read_max_map_count(void)
{
    long v = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = 65530;
        fclose(f);
    }
    return v;
}

void weft__stack_pool_init(weft__stack_pool *p)
{
    memset(p, 0, sizeof *p);
    p->page = (size_t)sysconf(_SC_PAGESIZE);
}

size_t weft__stack_round_page(size_t page, size_t size)
{
    if (size == 0)
        size = WEFT_STACK_DEFAULT;
    if (size < WEFT_STACK_MIN)
        size = WEFT_STACK_MIN;
    if (size > WEFT__SIZE_LIMIT)
        return 0;
    return (size + page - 1) & ~(page - 1);
}

/* Some emulators (qemu-user) answer 0 to every madvise without doing
 * anything: an advice that cannot exist tells them apart. */
static int madvise_is_real(char *addr, size_t len)
{
    return madvise(addr, len, 0x7fff) != 0;
}

/* Makes the guard below s; on failure s keeps a canary instead. */
static void install_guard(weft__stack *s, char *guard, size_t len)
{
    int mode = atomic_load(&guard_mode);
    if (mode == GUARD_UNKNOWN && !madvise_is_real(guard, len))
        atomic_store(&guard_mode, mode = GUARD_MPROTECT);
    if (mode != GUARD_MPROTECT) {
        if (madvise(guard, len, MADV_GUARD_INSTALL) == 0) {
            atomic_store(&guard_mode, GUARD_MADVISE);
            s->guard = len;
            return;
        }
        if (mode == GUARD_MADVISE) /* worked before: out of memory now */
            goto canary;
        atomic_store(&guard_mode, GUARD_MPROTECT);
    }
    if (mprotect_budget < 0)
        mprotect_budget = read_max_map_count() / 4;
    if (atomic_fetch_add(&mprotect_guards, 1) < mprotect_budget &&
        weft__mprotect(guard, len, PROT_NONE) == 0) {
        s->guard = len;
        return;
    }
    atomic_fetch_sub(&mprotect_guards, 1);
canary:
    s->guard = 0;
}

/*
 * Gives advice over n ranges of total bytes in one process_madvise call.
 * Returns 0 if the kernel did it all, -1 otherwise (the caller then falls
 * back to one madvise per range; both advices used here may be repeated).
 * Used only where madvise is real and guards are lightweight (so the kernel
 * is recent), and never under valgrind (which does not know the call).
 */
static int advise_vector(const struct iovec *iov, size_t n, int advice,
                         size_t total)
{
#ifdef SYS_process_madvise
    if (atomic_load(&guard_mode) != GUARD_MADVISE ||
        atomic_load(&vector_mode) == VECTOR_NO)
        return -1;
    if (RUNNING_ON_VALGRIND) {
        atomic_store(&vector_mode, VECTOR_NO);
        return -1;
    }
    long r = syscall(SYS_process_madvise, PIDFD_SELF, iov, n, advice, 0);
    if (r >= 0 && (size_t)r == total) {
        atomic_store(&vector_mode, VECTOR_YES);
        return 0;
    }
    /* Never worked (no such call, no PIDFD_SELF, advice refused on self):
     * stop trying.  Once it has worked, a failure is transient (ENOMEM). */
    if (r < 0 && atomic_load(&vector_mode) == VECTOR_UNKNOWN)
        atomic_store(&vector_mode, VECTOR_NO);
#else
    (void)iov, (void)n, (void)advice, (void)total;
#endif
    return -1;
}

static weft__chunk *chunk_new(weft__stack_pool *p, size_t size)
{
    size_t slot = size + GUARD_PAGES * p->page;
    size_t count = CHUNK_BYTES / slot;
    if (count < 1)
        count = 1;
    weft__chunk *c = weft__calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->stacks = weft__calloc(count, sizeof *c->stacks);
    if (!c->stacks)
        goto free_chunk;
    c->len = slot * count;
    c->base = weft__mmap(
        NULL, c->len, PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (c->base == MAP_FAILED)
        goto free_stacks;
    c->slot = slot;
    c->count = count;
    c->next = p->chunks;
    p->chunks = c;
    return c;
free_stacks:
    weft__free(c->stacks);
free_chunk:
    weft__free(c);
    errno = ENOMEM;
    return NULL;
}

static weft__size_pool *size_pool(weft__stack_pool *p, size_t size)
{
    for (size_t i = 0; i < p->nsizes; i++)
        if (p->sizes[i].size == size)
            return &p->sizes[i];
    weft__size_pool *n = weft__realloc(p->sizes, (p->nsizes + 1) * sizeof *n);
    if (!n)
        return NULL;
    p->sizes = n;
    memset(&n[p->nsizes], 0, sizeof *n);
    n[p->nsizes].size = size;
    return &n[p->nsizes++];
}

/*
 * Installs the guards of the next slots of c in one process_madvise: as
 * many slots as the pool has carved so far (so a program with few tasks
 * prepares few), at most WEFT__STACK_BATCH.  Only once lightweight guards
 * are known to work; on any failure carve falls back to one call a stack.
 */
static void guard_ahead(weft__stack_pool *p, weft__chunk *c, size_t size)
{
    size_t n = c->count - c->used, len = c->slot - size;
    if (n > p->total)
        n = p->total;
    if (n > WEFT__STACK_BATCH)
        n = WEFT__STACK_BATCH;
    if (n < 2 || atomic_load(&guard_mode) != GUARD_MADVISE ||
        atomic_load(&vector_mode) == VECTOR_NO)
        return;
    int saved = errno;
    for (size_t i = 0; i < n; i++) {
        p->iov[i].iov_base = c->base + (c->used + i) * c->slot;
        p->iov[i].iov_len = len;
    }
    if (advise_vector(p->iov, n, MADV_GUARD_INSTALL, n * len) == 0) {
        c->guarded = c->used + n;
        /* The top page is the first a coroutine touches (weft__ctx_init):
         * committing it here, in one call for the batch, is cheaper than a
         * page fault per stack (~1.3 vs ~1.7 us).  At most BATCH - 1 pages
         * are committed ahead of use. */
        for (size_t i = 0; i < n; i++) {
            p->iov[i].iov_base =
                c->base + (c->used + i + 1) * c->slot - p->page;
            p->iov[i].iov_len = p->page;
        }
        (void)advise_vector(p->iov, n, MADV_POPULATE_WRITE, n * p->page);
    }
    errno = saved;
}

static weft__stack *carve(weft__stack_pool *p, weft__size_pool *sp)
{
    weft__chunk *c = sp->chunk;
    if (!c || c->used == c->count) {
        c = chunk_new(p, sp->size);
        if (!c)
            return NULL;
        sp->chunk = c;
    }
    if (c->guarded <= c->used)
        guard_ahead(p, c, sp->size);
    weft__stack *s = &c->stacks[c->used];
    char *slot = c->base + c->used * c->slot;
    s->chunk = c;
    s->lo = slot + (c->slot - sp->size);
    s->size = sp->size;
    if (c->used < c->guarded)
        s->guard = c->slot - sp->size;
    else
        install_guard(s, slot, c->slot - sp->size);
    c->used++;
    s->valgrind_id = WEFT__VG_REGISTER(s->lo, s->lo + s->size);
    p->total++;
    return s;
}

weft__stack *weft__stack_get(weft__stack_pool *p, size_t size)
{
    weft__size_pool *sp = size_pool(p, size);
    if (!sp) {
        errno = ENOMEM;
        return NULL;
    }
    weft__stack *s = sp->hot;
    if (s) {
        sp->hot = s->next;
        sp->nhot--;
    } else if ((s = sp->warm) != NULL) {
        sp->warm = s->next;
        sp->nwarm--;
    } else if ((s = sp->cold) != NULL) {
        sp->cold = s->next;
    } else if ((s = carve(p, sp)) == NULL) {
        return NULL;
    }
    s->next = NULL;
    s->hot = 1;
    WEFT__ASAN_UNPOISON(s->lo, s->size);
    if (!s->guard)
        memcpy(s->lo, &(uint64_t){WEFT__CANARY}, sizeof(uint64_t));
    if (++sp->in_use > sp->peak)
        sp->peak = sp->in_use;
    return s;
}

static int by_address(const void *a, const void *b)
{
    const weft__stack *x = *(weft__stack *const *)a;
    const weft__stack *y = *(weft__stack *const *)b;
    return (x->lo > y->lo) - (x->lo < y->lo);
}

/* Gives back the memory of the stacks of the chain s (linked by next; at
 * most WEFT__STACK_BATCH of them), keeping the address ranges and the
 * guards, and moves them to sp's cold list. */
static void trim_batch(weft__stack_pool *p, weft__size_pool *sp, weft__stack *s)
{
    size_t n = 0, nr = 0, total = 0;
    int saved = errno;
    int merge = atomic_load(&guard_mode) != GUARD_MPROTECT;
    for (; s; s = s->next)
        p->scratch[n++] = s;
    qsort(p->scratch, n, sizeof *p->scratch, by_address);
    for (size_t i = 0; i < n; i++) {
        s = p->scratch[i];
        char *end = s->lo + s->size;
        if (merge && nr > 0 && s->chunk == p->scratch[i - 1]->chunk &&
            s->lo - p->scratch[i - 1]->lo == (ptrdiff_t)s->chunk->slot) {
            p->iov[nr - 1].iov_len =
                (size_t)(end - (char *)p->iov[nr - 1].iov_base);
        } else {
            p->iov[nr].iov_base = s->lo;
            p->iov[nr].iov_len = s->size;
            nr++;
        }
        s->hot = 0;
        s->next = sp->cold;
        sp->cold = s;
    }
    for (size_t i = 0; i < nr; i++)
        total += p->iov[i].iov_len;
    if (advise_vector(p->iov, nr, MADV_DONTNEED, total) != 0)
        for (size_t i = 0; i < nr; i++)
            madvise(p->iov[i].iov_base, p->iov[i].iov_len, MADV_DONTNEED);
    errno = saved;
}

static void trim_warm(weft__stack_pool *p, weft__size_pool *sp)
{
    trim_batch(p, sp, sp->warm); /* at most WEFT__STACK_BATCH */
    sp->warm = NULL;
    sp->nwarm = 0;
}

/* How many free stacks of sp keep their memory: the room under the mark. */
static size_t room(const weft__size_pool *sp)
{
    size_t r = sp->peak - sp->in_use;
    return r > WEFT__STACK_HOT ? r : WEFT__STACK_HOT;
}

void weft__stack_put(weft__stack_pool *p, weft__stack *s)
{
    weft__size_pool *sp = size_pool(p, s->size); /* exists: s came from it */
    sp->in_use--;
    if (sp->nhot < room(sp)) {
        s->next = sp->hot;
        sp->hot = s;
        sp->nhot++;
        return;
    }
    /* Past the room: the memory goes back to the kernel a batch at a time
     * (the address range stays reserved). */
    s->next = sp->warm;
    sp->warm = s;
    if (++sp->nwarm == WEFT__STACK_BATCH)
        trim_warm(p, sp);
}

size_t weft__stack_in_use(const weft__stack_pool *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nsizes; i++)
        n += p->sizes[i].in_use;
    return n;
}

void weft__stack_step(weft__stack_pool *p, uint64_t now)
{
    if (now < p->decay_at)
        return;
    for (size_t i = 0; i < p->nsizes; i++) {
        weft__size_pool *sp = &p->sizes[i];
        sp->peak = sp->in_use + (sp->peak - sp->in_use) / 2;
    }
    p->decay_at = now + WEFT__STACK_DECAY_NS;
}

uint64_t weft__stack_trim(weft__stack_pool *p, uint64_t now)
{
    int excess = 0, held = 0;
    weft__stack_step(p, now);
    for (size_t i = 0; i < p->nsizes; i++) {
        weft__size_pool *sp = &p->sizes[i];
        if (sp->nwarm)
            trim_warm(p, sp);
        size_t keep = room(sp);
        if (sp->nhot > keep) {
            /* One batch a call, from the head (the most recently
             * returned: the same pages as any other), so that a call
             * stays short; the caller comes back at once for the rest. */
            size_t n = sp->nhot - keep;
            if (n > WEFT__STACK_BATCH)
                n = WEFT__STACK_BATCH;
            weft__stack *first = sp->hot, *last = first;
            for (size_t k = 1; k < n; k++)
                last = last->next;
            sp->hot = last->next;
            last->next = NULL;
            sp->nhot -= n;
            trim_batch(p, sp, first);
        }
        excess |= sp->nhot > keep;
        held |= sp->nhot > WEFT__STACK_HOT;
    }
    return excess ? now : held ? p->decay_at : UINT64_MAX;
}

int weft__stack_smashed(const weft__stack *s)
{
    uint64_t v;
    if (s->guard)
        return 0;
    memcpy(&v, s->lo, sizeof v);
    return v != WEFT__CANARY;
}

void weft__stack_pool_destroy(weft__stack_pool *p)
{
    weft__chunk *c = p->chunks;
    while (c) {
        weft__chunk *next = c->next;
        for (size_t i = 0; i < c->used; i++) {
            WEFT__VG_DEREGISTER(c->stacks[i].valgrind_id);
            if (c->stacks[i].guard &&
                atomic_load(&guard_mode) == GUARD_MPROTECT)
                atomic_fetch_sub(&mprotect_guards, 1);
        }
        munmap(c->base, c->len);
        weft__free(c->stacks);
        weft__free(c);
        c = next;
    }
    weft__free(p->sizes);
    memset(p, 0, sizeof *p);
}
