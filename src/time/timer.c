/*
 * timer.c - timers and sleeps (layer 4).
 *
 * Armed timers live in a 4-ary min-heap ordered by (deadline, seq): seq is
 * the arming order, so equal deadlines fire first-armed first.  Each timer
 * records its heap index, so cancelling is O(log n) and leaves nothing
 * behind.  A timer fires when the runtime clock is >= its deadline, never
 * earlier.  The timer itself lives in the sleeping coroutine's frame (or in
 * a sleep future): arming allocates nothing except when the heap array must
 * grow (amortised; it never shrinks below its peak while the runtime runs).
 */
#include "util/alloc.h"
#include "util/num.h"
#include "time/time.h"
#include "util/fmt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ARITY     4
#define NOT_ARMED SIZE_MAX

/* Entries carry copies of their timer's (deadline, seq), so sifting
 * compares within the array: a timer lives in a parked task's stack frame,
 * one page per task, and reading 4 children's keys from their timers would
 * miss the cache and the TLB at every level of a heap of 100,000. */
static int before(const weft__timer_entry *a, const weft__timer_entry *b)
{
    return a->deadline < b->deadline ||
           (a->deadline == b->deadline && a->seq < b->seq);
}

static void place(weft__rt *rt, size_t i, weft__timer_entry e)
{
    rt->time.heap[i] = e;
    e.timer->index = i;
}

static void sift_up(weft__rt *rt, size_t i, weft__timer_entry e)
{
    while (i > 0) {
        size_t parent = (i - 1) / ARITY;
        if (!before(&e, &rt->time.heap[parent]))
            break;
        place(rt, i, rt->time.heap[parent]);
        i = parent;
    }
    place(rt, i, e);
}

static void sift_down(weft__rt *rt, size_t i, weft__timer_entry e)
{
    for (;;) {
        size_t first = i * ARITY + 1, best = SIZE_MAX;
        for (size_t c = first; c < first + ARITY && c < rt->time.heap_len; c++)
            if (best == SIZE_MAX ||
                before(&rt->time.heap[c], &rt->time.heap[best]))
                best = c;
        if (best == SIZE_MAX || !before(&rt->time.heap[best], &e))
            break;
        place(rt, i, rt->time.heap[best]);
        i = best;
    }
    place(rt, i, e);
}

void weft__timer_init(weft__timer *t)
{
    memset(t, 0, sizeof *t);
    t->index = NOT_ARMED;
}

int weft__timer_arm(weft__rt *rt, weft__timer *t, uint64_t deadline,
                    weft__waker *w)
{
    if (t->index != NOT_ARMED)
        weft__timer_cancel(rt, t);
    if (rt->time.heap_len == rt->time.heap_cap) {
        size_t cap = rt->time.heap_cap ? rt->time.heap_cap * 2 : 64;
        weft__timer_entry *h = weft__realloc(rt->time.heap, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        rt->time.heap = h;
        rt->time.heap_cap = cap;
    }
    t->deadline = deadline;
    t->seq = rt->time.timer_seq++;
    t->waker = w;
    t->fired = 0;
    weft__timer_entry e = {.deadline = deadline, .seq = t->seq, .timer = t};
    sift_up(rt, rt->time.heap_len++, e);
    return 0;
}

void weft__timer_cancel(weft__rt *rt, weft__timer *t)
{
    size_t i = t->index;
    if (i == NOT_ARMED)
        return;
    t->index = NOT_ARMED;
    t->waker = NULL;
    weft__timer_entry last = rt->time.heap[--rt->time.heap_len];
    if (last.timer == t)
        return;
    if (i > 0 && before(&last, &rt->time.heap[(i - 1) / ARITY]))
        sift_up(rt, i, last);
    else
        sift_down(rt, i, last);
}

size_t weft__timers_fire(weft__rt *rt, uint64_t now, size_t max)
{
    size_t n = 0;
    while (n < max && rt->time.heap_len && rt->time.heap[0].deadline <= now) {
        weft__timer *t = rt->time.heap[0].timer;
        weft__waker *w = t->waker;
        weft__timer_cancel(rt, t);
        t->fired = 1;
        if (w)
            weft__wake(w);
        n++;
    }
    return n;
}

uint64_t weft__timers_next(const weft__rt *rt)
{
    return rt->time.heap_len ? rt->time.heap[0].deadline : UINT64_MAX;
}

void weft__timers_free(weft__rt *rt)
{
    weft__free(rt->time.heap);
    rt->time.heap = NULL;
    rt->time.heap_len = rt->time.heap_cap = 0;
}

/* ---- the sleep future --------------------------------------------------- */

/* Ready once the clock has reached the deadline (at once when it already
 * has, as tokio's Sleep); otherwise the timer is (re)armed for waker w. */
static int sleep_poll(weft_future *f, weft__rt *rt, weft__waker *w)
{
    weft__sleep_future *s = (weft__sleep_future *)f;
    uint64_t now = weft__clock_now(rt);
    if (s->relative) {
        s->deadline = weft__add_sat(now, s->deadline);
        s->relative = 0;
    }
    if (s->timer.fired || now >= s->deadline) {
        weft__timer_cancel(rt, &s->timer);
        f->status = 0;
        f->result = NULL;
        return 1;
    }
    if (s->timer.index == NOT_ARMED) {
        int rc = weft__timer_arm(rt, &s->timer, s->deadline, w);
        if (rc) {
            f->status = rc;
            f->result = (void *)(intptr_t)rc;
            return 1;
        }
    } else {
        s->timer.waker = w; /* polled by someone else now */
    }
    return 0;
}

static int sleep_cancel(weft_future *f, weft__rt *rt)
{
    weft__timer_cancel(rt, &((weft__sleep_future *)f)->timer);
    return 0;
}

static void sleep_cleanup(weft_future *f)
{
    weft__sleep_future *s = (weft__sleep_future *)f;
    weft__rt *rt = weft__tls_rt;
    if (rt && s->timer.index != NOT_ARMED)
        weft__timer_cancel(rt, &s->timer);
}

static void sleep_describe(const weft_future *f, weft__rt *rt, char *buf,
                           size_t n)
{
    const weft__sleep_future *s = (const weft__sleep_future *)f;
    char d[32];
    uint64_t now = weft__clock_now(rt);
    if (s->relative) {
        weft__fmt_ns(d, sizeof d, s->deadline);
        snprintf(buf, n, "sleep for %s", d);
    } else if (s->deadline == UINT64_MAX) {
        snprintf(buf, n, "sleep forever");
    } else if (s->deadline > now) {
        weft__fmt_ns(d, sizeof d, s->deadline - now);
        snprintf(buf, n, "sleep, due in %s", d);
    } else {
        weft__fmt_ns(d, sizeof d, now - s->deadline);
        snprintf(buf, n, "sleep, due %s ago", d);
    }
}

static const weft__future_ops sleep_ops = {
    .what = "sleep",
    .poll = sleep_poll,
    .cancel = sleep_cancel,
    .cleanup = sleep_cleanup,
    .describe = sleep_describe,
};

void weft__sleep_future_init(weft__sleep_future *f, uint64_t ns, int relative)
{
    memset(f, 0, sizeof *f);
    f->base.ops = &sleep_ops;
    f->base.magic = WEFT__FUTURE_MAGIC;
    weft__timer_init(&f->timer);
    f->deadline = ns;
    f->relative = relative;
}

static weft_future *sleep_future_new(uint64_t ns, int relative)
{
    weft__sleep_future *f = weft__malloc(sizeof *f);
    if (!f) {
        errno = ENOMEM;
        return NULL;
    }
    weft__sleep_future_init(f, ns, relative);
    return &f->base;
}

weft_future *weft_sleep_future(uint64_t ns) { return sleep_future_new(ns, 1); }

weft_future *weft_sleep_until_future(uint64_t deadline_ns)
{
    return sleep_future_new(deadline_ns, 0);
}

/* ---- blocking forms ----------------------------------------------------- */

static int sleep_common(uint64_t ns, int relative)
{
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    if (relative && ns == 0)
        return weft_yield();
    weft__sleep_future f;
    weft__sleep_future_init(&f, ns, relative);
    int rc = weft__await_leaf(rt, &f.base);
    sleep_cleanup(&f.base);
    return rc;
}

int weft_sleep(uint64_t ns) { return sleep_common(ns, 1); }

int weft_sleep_until(uint64_t deadline_ns)
{
    weft__rt *rt = weft__rt_here();
    if (rt && deadline_ns <= weft__clock_now(rt))
        return weft_yield();
    return sleep_common(deadline_ns, 0);
}
