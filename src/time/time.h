/*
 * time.h - timers and sleep (time/timer.c): the driver's timer heap and the
 * sleep leaf.  The clock itself (weft__clock_now, weft__clock_mono) is read
 * by the core and declared in sched/core.h; the heap's storage lives in
 * struct weft__rt (rt->time.heap), named there by an incomplete type.
 */
#ifndef WEFT_TIME_TIME_H
#define WEFT_TIME_TIME_H

#include "sched/core.h"

#include <stddef.h>
#include <stdint.h>

/* A timer: lives wherever its owner puts it (a sleeping task's frame, a
 * sleep future, a reactor op), so it is cold: the heap touches it only when
 * it is armed, cancelled or fired, never while sifting. */
typedef struct weft__timer {
    uint64_t deadline;  /* ns on the runtime clock */
    weft__waker *waker; /* woken when it fires */
    uint32_t slot;      /* its id in the slot table; NOT_ARMED when not */
    int fired;
} weft__timer;

#define WEFT__TIMER_NOT_ARMED UINT32_MAX

/* A heap entry: a copy of its timer's key (deadline, then seq, the arming
 * order: ties fire first-armed first), compared in place, and the timer's
 * slot id; rt->time.slot_pos[slot] is the entry's position. */
typedef struct weft__timer_entry {
    uint64_t deadline, seq;
    uint32_t slot;
} weft__timer_entry;

static inline int weft__timer_armed(const weft__timer *t)
{
    return t->slot != WEFT__TIMER_NOT_ARMED;
}

void weft__timer_init(weft__timer *t);
/* Arms t (cancelling it first if armed) to wake w at deadline; 0, or
 * -ENOMEM when the heap or the slot table cannot grow (t then unarmed). */
int weft__timer_arm(weft__rt *rt, weft__timer *t, uint64_t deadline,
                    weft__waker *w);
/* Disarms t; nothing when it is not armed. */
void weft__timer_cancel(weft__rt *rt, weft__timer *t);
/* Fires, in (deadline, arming) order, at most max of the timers whose
 * deadline is <= now; returns how many fired. */
size_t weft__timers_fire(weft__rt *rt, uint64_t now, size_t max);
/* Earliest deadline, or UINT64_MAX when no timer is armed. */
uint64_t weft__timers_next(const weft__rt *rt);
void weft__timers_free(weft__rt *rt);
/* Checks the heap and the slot table against each other in O(n): heap
 * order, every entry's slot id in use and pointing back at its position,
 * its timer holding that id with the same deadline, the free list holding
 * exactly the other ids.  NULL when all hold, else which one broke (a
 * static string).  For tests. */
const char *weft__timers_check(const weft__rt *rt);

/* ---- the sleep leaf ----------------------------------------------------- */

typedef struct weft__sleep_future {
    weft_future base;
    weft__timer timer;
    uint64_t deadline; /* absolute, or relative until the first poll */
    int relative;
} weft__sleep_future;
void weft__sleep_future_init(weft__sleep_future *f, uint64_t ns, int relative);

#endif
