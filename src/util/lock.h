/*
 * lock.h - a small mutex for the structures other threads may touch
 * (channels, a runtime's inbox).
 *
 * Four bytes instead of pthread_mutex_t's forty, and a handful of
 * instructions: taking a free lock is one compare-and-swap, releasing it one
 * exchange (plain stores while the process has one thread, see below).  A
 * thread that finds it taken sleeps in the kernel (futex) until the holder
 * releases it; it never spins, so a holder preempted on a busy machine costs
 * its waiters nothing but the wait.  This is the classic three-state futex
 * mutex (Drepper, "Futexes Are Tricky", 2011):
 *
 *   0  free
 *   1  taken, nobody sleeping
 *   2  taken, and a thread may be sleeping on it: the release wakes one
 *
 * Acquire/release ordering on the state word is what makes the protected
 * data visible from one holder to the next (ThreadSanitizer understands the
 * C11 atomics, so it checks the users of this lock too).  Not recursive;
 * no owner check: weft's own code takes it around short critical sections
 * that never suspend and never call out.
 */
#ifndef WEFT_LOCK_H
#define WEFT_LOCK_H

#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct weft__lock {
    _Atomic uint32_t state;
} weft__lock;

#define WEFT__LOCK_INIT                                                        \
    {                                                                          \
        0                                                                      \
    }

static inline void weft__lock_init(weft__lock *l) { atomic_init(&l->state, 0); }

static inline void weft__futex(_Atomic uint32_t *addr, int op, uint32_t val)
{
    /* Private: the word is never shared with another process.  EINTR and
     * EAGAIN (the word changed before the sleep) just mean: look again. */
    syscall(SYS_futex, (uint32_t *)addr, op | FUTEX_PRIVATE_FLAG, val, NULL,
            NULL, 0);
}

/* The contended path: mark the lock as having sleepers, then sleep until
 * an exchange finds it free (and takes it, still marked: a release must
 * then wake the next sleeper, if any). */
static inline void weft__lock_wait(weft__lock *l, uint32_t seen)
{
    if (seen != 2)
        seen = atomic_exchange_explicit(&l->state, 2, memory_order_acquire);
    while (seen != 0) {
        weft__futex(&l->state, FUTEX_WAIT, 2);
        seen = atomic_exchange_explicit(&l->state, 2, memory_order_acquire);
    }
}

/* While the process has a single thread, glibc says so in
 * __libc_single_threaded, and nobody can contend: the lock is then taken and
 * released with plain stores (as glibc's own locks do), which saves two
 * locked instructions per critical section.  The flag turns false before a
 * second thread starts and never turns back; release reads it again, so a
 * lock taken alone and released after a thread appeared is released with
 * the atomic exchange. */
#if defined(__has_include)
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#define WEFT__SINGLE_THREADED() (__libc_single_threaded != 0)
#endif
#endif
#ifndef WEFT__SINGLE_THREADED
#define WEFT__SINGLE_THREADED() 0
#endif

static inline void weft__lock_acquire(weft__lock *l)
{
    if (WEFT__SINGLE_THREADED()) {
        atomic_store_explicit(&l->state, 1, memory_order_relaxed);
        return;
    }
    uint32_t seen = 0;
    if (!atomic_compare_exchange_strong_explicit(
            &l->state, &seen, 1, memory_order_acquire, memory_order_relaxed))
        weft__lock_wait(l, seen);
}

static inline void weft__lock_release(weft__lock *l)
{
    if (WEFT__SINGLE_THREADED()) {
        atomic_store_explicit(&l->state, 0, memory_order_relaxed);
        return;
    }
    if (atomic_exchange_explicit(&l->state, 0, memory_order_release) == 2)
        weft__futex(&l->state, FUTEX_WAKE, 1);
}

#endif
