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

typedef struct weft__timer {
    uint64_t deadline;  /* ns on the runtime clock */
    uint64_t seq;       /* arming order: ties fire first-armed first */
    size_t index;       /* position in the heap; SIZE_MAX when not armed */
    weft__waker *waker; /* woken when it fires */
    int fired;
} weft__timer;

/* A heap slot: the timer and a copy of its key, compared in place. */
typedef struct weft__timer_entry {
    uint64_t deadline, seq;
    weft__timer *timer;
} weft__timer_entry;

void weft__timer_init(weft__timer *t);
int weft__timer_arm(weft__rt *rt, weft__timer *t, uint64_t deadline,
                    weft__waker *w);
void weft__timer_cancel(weft__rt *rt, weft__timer *t);
/* Fires, in (deadline, arming) order, at most max of the timers whose
 * deadline is <= now; returns how many fired. */
size_t weft__timers_fire(weft__rt *rt, uint64_t now, size_t max);
/* Earliest deadline, or UINT64_MAX when no timer is armed. */
uint64_t weft__timers_next(const weft__rt *rt);
void weft__timers_free(weft__rt *rt);

/* ---- the sleep leaf ----------------------------------------------------- */

typedef struct weft__sleep_future {
    weft_future base;
    weft__timer timer;
    uint64_t deadline; /* absolute, or relative until the first poll */
    int relative;
} weft__sleep_future;
void weft__sleep_future_init(weft__sleep_future *f, uint64_t ns, int relative);

#endif
