/*
 * timer.c - timers and sleeps (layer 4).
 *
 * Armed timers live in a 4-ary min-heap ordered by (deadline, seq): seq is
 * the arming order, so equal deadlines fire first-armed first.  A timer
 * lives in the sleeping coroutine's frame (or in a sleep future, a reactor
 * op): one per page when tasks sleep, so the heap never writes to it while
 * sifting.  Each armed timer holds a slot id instead: slot_pos[id] is its
 * entry's heap position, updated by every move, and slot_timer[id] the
 * timer, read when it fires.  Freed ids are reused last-freed first, so the
 * table's hot part stays small.  Cancelling is O(log n) and leaves nothing
 * behind.  A timer fires when the runtime clock is >= its deadline, never
 * earlier.  Arming allocates nothing except when the heap and the table
 * must grow (amortised; they never shrink while the runtime runs).
 */
#include "util/alloc.h"
#include "util/num.h"
#include "time/time.h"
#include "util/fmt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ARITY     4
#define NOT_ARMED WEFT__TIMER_NOT_ARMED
/* the most armed timers: ids and positions must fit a uint32_t below
 * NOT_ARMED */
#define MAX_TIMERS ((size_t)UINT32_MAX - 1)

/* Entries carry copies of their timer's (deadline, seq), so sifting
 * compares within the array: reading 4 children's keys from their timers
 * would miss the cache and the TLB at every level of a heap of 100,000. */
static int before(const weft__timer_entry *a, const weft__timer_entry *b)
{
    return a->deadline < b->deadline ||
           (a->deadline == b->deadline && a->seq < b->seq);
}

static void place(weft__rt *rt, size_t i, weft__timer_entry e)
{
    rt->time.heap[i] = e;
    rt->time.slot_pos[e.slot] = (uint32_t)i;
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

/* Makes room for one more armed timer: the heap and both slot arrays to
 * twice their capacity.  Each array that grows is kept even when a later one
 * fails (heap_cap changes only once all three have), so a failure leaves
 * the timers as they were.  0 or -ENOMEM. */
static int grow(weft__rt *rt)
{
    struct weft__rt_time *tm = &rt->time;
    if (tm->heap_cap >= MAX_TIMERS)
        return -ENOMEM;
    size_t cap = tm->heap_cap ? tm->heap_cap * 2 : 64;
    if (cap > MAX_TIMERS)
        cap = MAX_TIMERS;
    weft__timer_entry *h = weft__realloc(tm->heap, cap * sizeof *h);
    if (!h)
        return -ENOMEM;
    tm->heap = h;
    uint32_t *pos = weft__realloc(tm->slot_pos, cap * sizeof *pos);
    if (!pos)
        return -ENOMEM;
    tm->slot_pos = pos;
    weft__timer **owner = weft__realloc(tm->slot_timer, cap * sizeof *owner);
    if (!owner)
        return -ENOMEM;
    tm->slot_timer = owner;
    tm->heap_cap = cap;
    return 0;
}

void weft__timer_init(weft__timer *t)
{
    memset(t, 0, sizeof *t);
    t->slot = NOT_ARMED;
}

int weft__timer_arm(weft__rt *rt, weft__timer *t, uint64_t deadline,
                    weft__waker *w)
{
    struct weft__rt_time *tm = &rt->time;
    if (t->slot != NOT_ARMED)
        weft__timer_cancel(rt, t);
    if (tm->heap_len == tm->heap_cap) {
        int rc = grow(rt);
        if (rc)
            return rc;
    }
    /* a free id, last freed first; else a new one (slot_len <= heap_len
     * when none is free, so below heap_cap) */
    uint32_t id;
    if (tm->slot_free) {
        id = tm->slot_free - 1;
        tm->slot_free = tm->slot_pos[id];
    } else {
        id = tm->slot_len++;
    }
    tm->slot_timer[id] = t;
    t->deadline = deadline;
    t->waker = w;
    t->slot = id;
    t->fired = 0;
    weft__timer_entry e = {
        .deadline = deadline, .seq = tm->timer_seq++, .slot = id};
    sift_up(rt, tm->heap_len++, e);
    return 0;
}

void weft__timer_cancel(weft__rt *rt, weft__timer *t)
{
    struct weft__rt_time *tm = &rt->time;
    uint32_t id = t->slot;
    if (id == NOT_ARMED)
        return;
    size_t i = tm->slot_pos[id];
    t->slot = NOT_ARMED;
    t->waker = NULL;
    tm->slot_pos[id] = tm->slot_free;
    tm->slot_free = id + 1;
    weft__timer_entry last = tm->heap[--tm->heap_len];
    if (i == tm->heap_len)
        return;
    if (i > 0 && before(&last, &tm->heap[(i - 1) / ARITY]))
        sift_up(rt, i, last);
    else
        sift_down(rt, i, last);
}

size_t weft__timers_fire(weft__rt *rt, uint64_t now, size_t max)
{
    size_t n = 0;
    while (n < max && rt->time.heap_len && rt->time.heap[0].deadline <= now) {
        weft__timer *t = rt->time.slot_timer[rt->time.heap[0].slot];
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
    struct weft__rt_time *tm = &rt->time;
    weft__free(tm->heap);
    weft__free(tm->slot_pos);
    weft__free(tm->slot_timer);
    tm->heap = NULL;
    tm->slot_pos = NULL;
    tm->slot_timer = NULL;
    tm->heap_len = tm->heap_cap = 0;
    tm->slot_len = tm->slot_free = 0;
}

const char *weft__timers_check(const weft__rt *rt)
{
    const struct weft__rt_time *tm = &rt->time;
    if (tm->heap_len > tm->heap_cap || tm->slot_len > tm->heap_cap)
        return "heap_len or slot_len above heap_cap";
    if (tm->slot_len < tm->heap_len)
        return "fewer slot ids handed out than armed timers";
    for (size_t i = 0; i < tm->heap_len; i++) {
        const weft__timer_entry *e = &tm->heap[i];
        if (i > 0 && before(e, &tm->heap[(i - 1) / ARITY]))
            return "an entry is before its parent";
        if (e->seq >= tm->timer_seq)
            return "an entry's seq was never handed out";
        if (e->slot >= tm->slot_len)
            return "an entry's slot id was never handed out";
        if (tm->slot_pos[e->slot] != i)
            return "slot_pos of an entry's slot is not its position";
        const weft__timer *t = tm->slot_timer[e->slot];
        if (!t || t->slot != e->slot)
            return "the timer of an entry's slot does not hold that slot";
        if (t->deadline != e->deadline)
            return "an entry's deadline is not its timer's";
    }
    /* the free list: exactly the ids below slot_len not in the heap, once
     * each */
    unsigned char *seen = calloc(tm->slot_len ? tm->slot_len : 1, 1);
    if (!seen)
        return "no memory for the check";
    for (size_t i = 0; i < tm->heap_len; i++)
        seen[tm->heap[i].slot] = 1;
    size_t free_n = 0;
    const char *why = NULL;
    for (uint32_t next = tm->slot_free; next && !why; free_n++) {
        uint32_t id = next - 1;
        if (id >= tm->slot_len)
            why = "the free list holds an id never handed out";
        else if (seen[id])
            why = "the free list holds an id in use or twice";
        else {
            seen[id] = 1;
            next = tm->slot_pos[id];
        }
    }
    free(seen);
    if (why)
        return why;
    if (free_n != tm->slot_len - tm->heap_len)
        return "the free list misses free ids";
    return NULL;
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
    if (s->timer.slot == NOT_ARMED) {
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
    if (rt && s->timer.slot != NOT_ARMED)
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
