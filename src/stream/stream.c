/*
 * stream.c - streams and their adapters (layer 7), as tokio-stream's
 * StreamExt (trpl section 17.4).
 *
 * A stream is polled like a future, one element at a time: poll_next()
 * returns 0 (pending: the waker will be called) or 1 with *status set to 1
 * (an item was written to the caller's buffer), 0 (the stream has ended) or
 * a negative errno (an error element, e.g. -ETIMEDOUT from a timeout
 * adapter: an element like an item, and the stream goes on).  Adapters own
 * their inputs and poll them with the waker they were given, so a chain
 * allocates nothing per element.  Timers live inside the streams that need
 * them (interval, throttle, timeout) and are cancelled when the stream is
 * dropped or its caller is cancelled.
 */
#include "util/alloc.h"
#include "util/num.h"
#include "chan/chan.h"
#include "future/future.h"
#include "sched/core.h"
#include "time/time.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_MAGIC 0x7374726dU /* "strm" */

typedef struct stream_ops {
    int (*poll_next)(weft_stream *s, weft__rt *rt, weft__waker *w, void *item,
                     int *status);
    /* Forgets every registration (timers, channel waits); may be called
     * more than once. */
    void (*cancel)(weft_stream *s, weft__rt *rt);
    /* Frees what the stream owns, inputs included (not s itself). */
    void (*destroy)(weft_stream *s);
} stream_ops;

struct weft_stream {
    const stream_ops *ops;
    unsigned magic;
    size_t item_size;
};

static int stream_ok(const weft_stream *s)
{
    return s && s->magic == STREAM_MAGIC;
}

static void *stream_new(size_t size, const stream_ops *ops, size_t item_size)
{
    weft_stream *s = weft__calloc(1, size);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    s->ops = ops;
    s->magic = STREAM_MAGIC;
    s->item_size = item_size;
    return s;
}

void weft_stream_drop(weft_stream *s)
{
    if (!stream_ok(s))
        return;
    /* Nothing to cancel: no registration outlives weft_stream_next. */
    s->ops->destroy(s);
    s->magic = 0;
    weft__free(s);
}

int weft_stream_next(weft_stream *s, void *item)
{
    if (!stream_ok(s) || !item)
        return -EINVAL;
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    weft__co *co = rt->current;
    int status;
    for (;;) {
        if (weft__cancel_point(co)) {
            status = -ECANCELED;
            break;
        }
        if (s->ops->poll_next(s, rt, co->waker, item, &status))
            break;
        weft__park(rt, co, "stream next", WEFT__WAIT_LEAF, NULL);
    }
    /* Whatever the outcome, nothing stays registered: a waker given to a
     * side that did not produce this element belongs to the caller's frame,
     * which may be gone by the next call (a combinator that returned, a
     * runtime that ended).  The next call polls every side again. */
    s->ops->cancel(s, rt);
    return status;
}

size_t weft_stream_item_size(const weft_stream *s)
{
    return stream_ok(s) ? s->item_size : 0;
}

/* Consumes the inputs of a constructor that failed. */
static weft_stream *fail_drop(weft_stream *a, weft_stream *b, int err)
{
    weft_stream_drop(a);
    weft_stream_drop(b);
    errno = err;
    return NULL;
}

/* Arms t for deadline with waker w unless already armed for it. */
static int arm(weft__rt *rt, weft__timer *t, uint64_t deadline, weft__waker *w)
{
    if (weft__timer_armed(t) && t->deadline == deadline) {
        t->waker = w;
        return 0;
    }
    return weft__timer_arm(rt, t, deadline, w);
}

/* ---- from_array ---------------------------------------------------------- */

typedef struct array_stream {
    weft_stream base;
    const char *items;
    size_t n, next;
} array_stream;

static int array_poll(weft_stream *s, weft__rt *rt, weft__waker *w, void *item,
                      int *status)
{
    array_stream *a = (array_stream *)s;
    (void)rt;
    (void)w;
    if (a->next == a->n) {
        *status = 0;
        return 1;
    }
    memcpy(item, a->items + a->next++ * s->item_size, s->item_size);
    *status = 1;
    return 1;
}

static void nothing_to_cancel(weft_stream *s, weft__rt *rt)
{
    (void)s;
    (void)rt;
}

static void nothing_to_free(weft_stream *s) { (void)s; }

static const stream_ops array_ops = {array_poll, nothing_to_cancel,
                                     nothing_to_free};

weft_stream *weft_stream_from_array(const void *items, size_t n,
                                    size_t item_size)
{
    if (!item_size || (!items && n)) {
        errno = EINVAL;
        return NULL;
    }
    array_stream *a = stream_new(sizeof *a, &array_ops, item_size);
    if (!a)
        return NULL;
    a->items = items;
    a->n = n;
    return &a->base;
}

/* ---- from_receiver ------------------------------------------------------- */

typedef struct recv_stream {
    weft_stream base;
    weft_receiver *rx;
    weft_future *recv; /* a receive future, polled again and again */
} recv_stream;

static int recv_stream_poll(weft_stream *s, weft__rt *rt, weft__waker *w,
                            void *item, int *status)
{
    recv_stream *r = (recv_stream *)s;
    r->recv->started = 1;
    if (!r->recv->ops->poll(r->recv, rt, w))
        return 0;
    *status = r->recv->status;
    if (*status == 1)
        memcpy(item, (char *)r + sizeof *r, s->item_size);
    return 1;
}

static void recv_stream_cancel(weft_stream *s, weft__rt *rt)
{
    recv_stream *r = (recv_stream *)s;
    r->recv->ops->cancel(r->recv, rt);
}

static void recv_stream_destroy(weft_stream *s)
{
    recv_stream *r = (recv_stream *)s;
    weft__future_free(r->recv);
    weft_receiver_drop(r->rx);
}

static const stream_ops recv_stream_ops = {recv_stream_poll, recv_stream_cancel,
                                           recv_stream_destroy};

weft_stream *weft_stream_from_receiver(weft_receiver *rx)
{
    size_t size = weft__receiver_item_size(rx);
    if (!size) {
        errno = EINVAL;
        return NULL;
    }
    /* The item buffer follows the struct. */
    recv_stream *r = stream_new(sizeof *r + size, &recv_stream_ops, size);
    if (!r)
        goto fail;
    r->recv = weft_recv_future(rx, (char *)r + sizeof *r);
    if (!r->recv) {
        weft__free(r);
        goto fail;
    }
    r->rx = rx;
    return &r->base;
fail:
    weft_receiver_drop(rx);
    errno = ENOMEM;
    return NULL;
}

/* ---- interval ------------------------------------------------------------ */

typedef struct interval_stream {
    weft_stream base;
    uint64_t period, next;
    int missed;
    weft__timer timer;
} interval_stream;

static int interval_poll(weft_stream *s, weft__rt *rt, weft__waker *w,
                         void *item, int *status)
{
    interval_stream *iv = (interval_stream *)s;
    uint64_t now = weft__clock_now(rt);
    if (now < iv->next) {
        int rc = arm(rt, &iv->timer, iv->next, w);
        if (rc == 0)
            return 0;
        *status = rc;
        return 1;
    }
    weft__timer_cancel(rt, &iv->timer);
    uint64_t tick = iv->next;
    memcpy(item, &tick, sizeof tick);
    /* As tokio: a tick taken within 5 ms of its instant is on time. */
    int missed =
        now > weft__add_sat(tick, WEFT_MS(5)) ? iv->missed : WEFT_MISSED_BURST;
    switch (missed) {
    case WEFT_MISSED_DELAY: /* the next tick a period from now */
        iv->next = weft__add_sat(now, iv->period);
        break;
    case WEFT_MISSED_SKIP: /* the next multiple of the period after now */
        iv->next = weft__add_sat(tick, iv->period);
        if (iv->next <= now)
            iv->next =
                weft__add_sat(now, iv->period - (now - tick) % iv->period);
        break;
    default: /* burst: every missed tick, at once */
        iv->next = weft__add_sat(tick, iv->period);
        break;
    }
    *status = 1;
    return 1;
}

static void interval_cancel(weft_stream *s, weft__rt *rt)
{
    weft__timer_cancel(rt, &((interval_stream *)s)->timer);
}

static const stream_ops interval_ops = {interval_poll, interval_cancel,
                                        nothing_to_free};

weft_stream *weft_stream_interval_with(uint64_t period_ns, int missed)
{
    weft__rt *rt = weft__rt_here();
    if (!rt) {
        errno = EPERM;
        return NULL;
    }
    if (!period_ns || missed < WEFT_MISSED_BURST || missed > WEFT_MISSED_SKIP) {
        errno = EINVAL;
        return NULL;
    }
    interval_stream *iv =
        stream_new(sizeof *iv, &interval_ops, sizeof(uint64_t));
    if (!iv)
        return NULL;
    iv->period = period_ns;
    iv->missed = missed;
    iv->next = weft__clock_now(rt); /* the first tick completes at once */
    weft__timer_init(&iv->timer);
    return &iv->base;
}

weft_stream *weft_stream_interval(uint64_t period_ns)
{
    return weft_stream_interval_with(period_ns, WEFT_MISSED_BURST);
}

/* ---- adapters with one input --------------------------------------------- */

/* Every one-input adapter starts with this: base, then its input. */
typedef struct one_input {
    weft_stream base;
    weft_stream *in;
} one_input;

static void one_input_cancel(weft_stream *s, weft__rt *rt)
{
    weft_stream *in = ((one_input *)s)->in;
    in->ops->cancel(in, rt);
}

static void one_input_destroy(weft_stream *s)
{
    weft_stream_drop(((one_input *)s)->in);
}

/* ---- map and filter ------------------------------------------------------ */

typedef struct map_stream {
    weft_stream base;
    weft_stream *in;
    void (*fn)(const void *in, void *out, void *ctx);
    int (*keep)(const void *item, void *ctx);
    void *ctx;
    /* the input's item buffer follows the struct */
} map_stream;

static int map_poll(weft_stream *s, weft__rt *rt, weft__waker *w, void *item,
                    int *status)
{
    map_stream *m = (map_stream *)s;
    void *buf = (char *)m + sizeof *m;
    for (;;) {
        if (!m->in->ops->poll_next(m->in, rt, w, m->fn ? buf : item, status))
            return 0;
        if (*status != 1)
            return 1; /* end and error elements pass through */
        if (m->fn) {
            m->fn(buf, item, m->ctx);
            return 1;
        }
        if (m->keep(item, m->ctx))
            return 1;
    }
}

static const stream_ops map_ops = {map_poll, one_input_cancel,
                                   one_input_destroy};

weft_stream *weft_stream_map(weft_stream *s, size_t out_size,
                             void (*fn)(const void *in, void *out, void *ctx),
                             void *ctx)
{
    if (!stream_ok(s) || !fn || !out_size)
        return fail_drop(s, NULL, EINVAL);
    map_stream *m = stream_new(sizeof *m + s->item_size, &map_ops, out_size);
    if (!m)
        return fail_drop(s, NULL, ENOMEM);
    m->in = s;
    m->fn = fn;
    m->ctx = ctx;
    return &m->base;
}

weft_stream *weft_stream_filter(weft_stream *s,
                                int (*keep)(const void *item, void *ctx),
                                void *ctx)
{
    if (!stream_ok(s) || !keep)
        return fail_drop(s, NULL, EINVAL);
    map_stream *m = stream_new(sizeof *m, &map_ops, s->item_size);
    if (!m)
        return fail_drop(s, NULL, ENOMEM);
    m->in = s;
    m->keep = keep;
    m->ctx = ctx;
    return &m->base;
}

/* ---- take ---------------------------------------------------------------- */

typedef struct take_stream {
    weft_stream base;
    weft_stream *in;
    size_t left;
} take_stream;

static int take_poll(weft_stream *s, weft__rt *rt, weft__waker *w, void *item,
                     int *status)
{
    take_stream *t = (take_stream *)s;
    if (t->left == 0) { /* never polls its input again */
        *status = 0;
        return 1;
    }
    if (!t->in->ops->poll_next(t->in, rt, w, item, status))
        return 0;
    if (*status == 0)
        t->left = 0;
    else
        t->left--; /* items and error elements both count */
    return 1;
}

static const stream_ops take_ops = {take_poll, one_input_cancel,
                                    one_input_destroy};

weft_stream *weft_stream_take(weft_stream *s, size_t n)
{
    if (!stream_ok(s))
        return fail_drop(s, NULL, EINVAL);
    take_stream *t = stream_new(sizeof *t, &take_ops, s->item_size);
    if (!t)
        return fail_drop(s, NULL, ENOMEM);
    t->in = s;
    t->left = n;
    return &t->base;
}

/* ---- merge --------------------------------------------------------------- */

typedef struct merge_stream {
    weft_stream base;
    weft_stream *in[2];
    int ended[2];
    int first; /* which side is polled first this time: alternates */
} merge_stream;

static int merge_poll(weft_stream *s, weft__rt *rt, weft__waker *w, void *item,
                      int *status)
{
    merge_stream *m = (merge_stream *)s;
    int first = m->first;
    m->first ^= 1;
    for (int k = 0; k < 2; k++) {
        int i = first ^ k;
        if (m->ended[i])
            continue;
        if (!m->in[i]->ops->poll_next(m->in[i], rt, w, item, status))
            continue;
        if (*status != 0)
            return 1; /* an item or an error element */
        m->ended[i] = 1;
    }
    if (m->ended[0] && m->ended[1]) {
        *status = 0;
        return 1;
    }
    return 0;
}

static void merge_cancel(weft_stream *s, weft__rt *rt)
{
    merge_stream *m = (merge_stream *)s;
    for (int i = 0; i < 2; i++)
        m->in[i]->ops->cancel(m->in[i], rt);
}

static void merge_destroy(weft_stream *s)
{
    merge_stream *m = (merge_stream *)s;
    weft_stream_drop(m->in[0]);
    weft_stream_drop(m->in[1]);
}

static const stream_ops merge_ops = {merge_poll, merge_cancel, merge_destroy};

weft_stream *weft_stream_merge(weft_stream *a, weft_stream *b)
{
    if (!stream_ok(a) || !stream_ok(b) || a->item_size != b->item_size)
        return fail_drop(stream_ok(a) ? a : NULL, stream_ok(b) ? b : NULL,
                         EINVAL);
    merge_stream *m = stream_new(sizeof *m, &merge_ops, a->item_size);
    if (!m)
        return fail_drop(a, b, ENOMEM);
    m->in[0] = a;
    m->in[1] = b;
    return &m->base;
}

/* ---- throttle ------------------------------------------------------------ */

typedef struct throttle_stream {
    weft_stream base;
    weft_stream *in;
    uint64_t period, until; /* no poll of the input before until */
    weft__timer timer;
} throttle_stream;

static int throttle_poll(weft_stream *s, weft__rt *rt, weft__waker *w,
                         void *item, int *status)
{
    throttle_stream *t = (throttle_stream *)s;
    uint64_t now = weft__clock_now(rt);
    if (now < t->until) {
        int rc = arm(rt, &t->timer, t->until, w);
        if (rc == 0)
            return 0;
        *status = rc;
        return 1;
    }
    weft__timer_cancel(rt, &t->timer);
    if (!t->in->ops->poll_next(t->in, rt, w, item, status))
        return 0;
    if (*status != 0)
        t->until = weft__add_sat(now, t->period);
    return 1;
}

static void throttle_cancel(weft_stream *s, weft__rt *rt)
{
    throttle_stream *t = (throttle_stream *)s;
    weft__timer_cancel(rt, &t->timer);
    one_input_cancel(s, rt);
}

static const stream_ops throttle_ops = {throttle_poll, throttle_cancel,
                                        one_input_destroy};

weft_stream *weft_stream_throttle(weft_stream *s, uint64_t period_ns)
{
    if (!stream_ok(s))
        return fail_drop(s, NULL, EINVAL);
    if (!weft__rt_here())
        return fail_drop(s, NULL, EPERM);
    throttle_stream *t = stream_new(sizeof *t, &throttle_ops, s->item_size);
    if (!t)
        return fail_drop(s, NULL, ENOMEM);
    t->in = s;
    t->period = period_ns;
    weft__timer_init(&t->timer);
    return &t->base;
}

/* ---- timeout ------------------------------------------------------------- */

typedef struct timeout_stream {
    weft_stream base;
    weft_stream *in;
    uint64_t timeout, deadline;
    int armed; /* a deadline is pending (tokio-stream's poll_deadline) */
    weft__timer timer;
} timeout_stream;

static int timeout_poll(weft_stream *s, weft__rt *rt, weft__waker *w,
                        void *item, int *status)
{
    timeout_stream *t = (timeout_stream *)s;
    if (t->in->ops->poll_next(t->in, rt, w, item, status)) {
        if (*status != 0) { /* an element: the next one is due in time */
            t->deadline = weft__add_sat(weft__clock_now(rt), t->timeout);
            t->armed = 1;
        }
        weft__timer_cancel(rt, &t->timer);
        return 1;
    }
    if (!t->armed)
        return 0; /* timed out once already: wait for the next element */
    if (weft__clock_now(rt) >= t->deadline) {
        weft__timer_cancel(rt, &t->timer);
        t->armed = 0;
        *status = -ETIMEDOUT;
        return 1;
    }
    int rc = arm(rt, &t->timer, t->deadline, w);
    if (rc) {
        *status = rc;
        return 1;
    }
    return 0;
}

static void timeout_cancel(weft_stream *s, weft__rt *rt)
{
    timeout_stream *t = (timeout_stream *)s;
    weft__timer_cancel(rt, &t->timer);
    one_input_cancel(s, rt);
}

static const stream_ops timeout_ops = {timeout_poll, timeout_cancel,
                                       one_input_destroy};

weft_stream *weft_stream_timeout(weft_stream *s, uint64_t timeout_ns)
{
    if (!stream_ok(s))
        return fail_drop(s, NULL, EINVAL);
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return fail_drop(s, NULL, EPERM);
    timeout_stream *t = stream_new(sizeof *t, &timeout_ops, s->item_size);
    if (!t)
        return fail_drop(s, NULL, ENOMEM);
    t->in = s;
    t->timeout = timeout_ns;
    t->deadline = weft__add_sat(weft__clock_now(rt), timeout_ns); /* from now */
    t->armed = 1;
    weft__timer_init(&t->timer);
    return &t->base;
}
