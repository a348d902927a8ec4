/*
 * lock.h - a small mutex for the structures other threads may touch
 * (channels, a runtime's inbox).
 *
 * Four bytes instead of pthread_mutex_t's forty, and a handful of
 * instructions: taking a free lock is one compare-and-swap, releasing it one
 * exchange (plain stores while the process has one thread, see below).  A
 * thread that finds it taken spins for a bounded few microseconds, then
 * sleeps in the kernel (futex) until the holder releases it, and spins
 * again when woken; a holder preempted on a busy machine costs its waiters
 * at most one short spin per wake.  This is the classic three-state futex
 * mutex (Drepper, "Futexes Are Tricky", 2011) with the spin-then-sleep
 * shape of Go's runtime lock (lock_futex.go) and glibc's adaptive mutex:
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

/* A hint for a spin loop: x86's pause (lets the sibling hyperthread run,
 * saves power), AArch64's yield; nothing elsewhere. */
static inline void weft__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Spins of the contended path before each sleep: 128 pauses are about
 * 2-10 us, longer than the critical sections this lock guards. */
enum { WEFT__LOCK_SPINS = 128 };

/* The contended path: spin until the lock looks free and take it, or give
 * up and mark it as having sleepers and sleep until a release wakes us;
 * then spin again.  It is taken as 2 (maybe sleepers): a release then
 * wakes the next sleeper, if any.
 *
 * Why spin after a wake: a release frees the lock and then wakes one
 * sleeper, which takes microseconds to get a CPU.  A thread that takes and
 * releases the lock in a loop (a plain thread polling weft_try_recv) takes
 * it again long before that, and a sleeper that only tried once per wake
 * found it taken every time: threads_check scenario 6 starved a runtime's
 * receive for minutes under ThreadSanitizer.  Spinning, the woken thread
 * sees one of the loop's free moments. */
static inline void weft__lock_wait(weft__lock *l)
{
    for (;;) {
        for (int i = 0; i < WEFT__LOCK_SPINS; i++) {
            uint32_t s = atomic_load_explicit(&l->state, memory_order_relaxed);
            if (s == 0 && atomic_compare_exchange_weak_explicit(
                              &l->state, &s, 2, memory_order_acquire,
                              memory_order_relaxed))
                return;
            weft__cpu_relax();
        }
        if (atomic_exchange_explicit(&l->state, 2, memory_order_acquire) == 0)
            return;
        weft__futex(&l->state, FUTEX_WAIT, 2);
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
        weft__lock_wait(l);
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
