/*
 * future.c - async blocks, await and the combinators (layer 5).
 *
 * An async block is a coroutine that its poller resumes: polling it runs the
 * body until its next suspension (pending) or its return (ready).  Awaited
 * alone, a default-stack block runs inline on the awaiting coroutine's stack:
 * with no concurrency to provide, it needs no stack of its own.
 *
 * The combinators share one engine, group_run(), whose frame lives on the
 * calling coroutine's stack: one slot per child, each with a waker that marks
 * the slot and wakes the owner.  Each round polls, in argument order, every
 * unfinished child whose slot was woken (all of them in the first round):
 * that is futures::join's fairness and select's bias without polling idle
 * children, and a round costs O(k log n) for k woken children.  When the owner
 * is cancelled, the unfinished children are cancelled in order, each driven
 * until it has returned, before the call returns: children never outlive the
 * call, so they may use its locals.
 */
#include "util/alloc.h"
#include "future/future.h"
#include "time/time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- generic ------------------------------------------------------------ */

void weft__future_free(weft_future *f)
{
    f->ops->cleanup(f);
    f->magic = 0;
    weft__free(f);
}

static int future_ok(const weft_future *f)
{
    return f && f->magic == WEFT__FUTURE_MAGIC;
}

void weft_future_drop(weft_future *f)
{
    if (!future_ok(f))
        return;
    if (f->started && !f->done) {
        weft__rt *rt = weft__rt_here();
        if (!rt)
            return; /* started futures only exist inside their runtime */
        f->ops->cancel(f, rt);
        f->done = 1;
    }
    weft__future_free(f);
}

/* ---- async blocks ------------------------------------------------------- */

typedef struct async_future {
    weft_future base;
    weft__co co;
    char *name;
} async_future;

static int async_poll(weft_future *f, weft__rt *rt, weft__waker *w)
{
    async_future *a = (async_future *)f;
    weft__co *co = &a->co;
    if (co->state == WEFT__FRESH) {
        co->parent = rt->current;
        co->task = rt->current->task;
    }
    co->waker = w;
    weft__co_resume(rt, co);
    if (co->state != WEFT__DEAD)
        return 0;
    weft__co_release(rt, co);
    f->status = co->status;
    f->result = co->result;
    return 1;
}

/* The block completed while it was being cancelled when its body returned
 * without any call in it seeing the cancellation (its pending operation had
 * completed: a bounded send served by a receiver on another thread): then
 * its result stands, as any completed child's. */
static int async_cancel(weft_future *f, weft__rt *rt)
{
    async_future *a = (async_future *)f;
    a->co.cancel = 1;
    /* Every suspending call returns at once now; loop in case the body
     * suspends again through a combinator that is itself unwinding. */
    while (a->co.state != WEFT__DEAD)
        weft__co_resume(rt, &a->co);
    weft__co_release(rt, &a->co);
    f->status = a->co.status;
    f->result = a->co.result;
    return a->co.status != -ECANCELED;
}

static void async_cleanup(weft_future *f)
{
    async_future *a = (async_future *)f;
    if (a->co.state == WEFT__FRESH && a->co.drop_arg)
        a->co.drop_arg(a->co.arg); /* the body never ran */
    a->co.state = WEFT__DEAD;
    weft__free(a->name);
    a->name = NULL;
    a->co.name = NULL;
}

static const weft__future_ops async_ops = {
    .what = "async block",
    .poll = async_poll,
    .cancel = async_cancel,
    .cleanup = async_cleanup,
};

weft_future *weft_async_with(const weft_spawn_opts *opts, weft_fn *fn,
                             void *arg)
{
    void (*drop_arg)(void *) = opts ? opts->drop_arg : NULL;
    async_future *a = NULL;
    if (!fn) {
        errno = EINVAL;
        goto fail;
    }
    size_t stack_size = opts ? opts->stack_size : 0;
    if (stack_size > WEFT__SIZE_LIMIT) {
        errno = EINVAL;
        goto fail;
    }
    if (!(a = weft__calloc(1, sizeof *a)))
        goto fail_nomem;
    if (opts && opts->name && !(a->name = weft__name_copy(opts->name)))
        goto fail_nomem;
    a->co.name = a->name;
    a->base.ops = &async_ops;
    a->base.magic = WEFT__FUTURE_MAGIC;
    a->co.fn = fn;
    a->co.arg = arg;
    a->co.drop_arg = drop_arg;
    a->co.state = WEFT__FRESH;
    if (stack_size) {
        /* Made outside a runtime too: the system's page then. */
        weft__rt *rt = weft__tls_rt;
        size_t page = rt ? rt->stacks.pool.page : (size_t)sysconf(_SC_PAGESIZE);
        a->co.stack_size = weft__stack_round_page(page, stack_size);
    }
    return &a->base;
fail_nomem:
    weft__free(a);
    errno = ENOMEM;
fail:
    if (drop_arg)
        drop_arg(arg);
    return NULL;
}

weft_future *weft_async(weft_fn *fn, void *arg)
{
    return weft_async_with(NULL, fn, arg);
}

const char *weft__async_name(const weft_future *f)
{
    return f->ops == &async_ops ? ((const async_future *)f)->name : NULL;
}

const weft__co *weft__async_co(const weft_future *f)
{
    return f->ops == &async_ops ? &((const async_future *)f)->co : NULL;
}

/* Runs a fresh default-stack async block inline: no stack of its own. */
static int await_inline(weft__rt *rt, async_future *a, void **result)
{
    weft__co *co = rt->current;
    int status;
    a->base.started = 1;
    if (weft__cancel_point(co)) {
        status = -ECANCELED; /* never runs; cleanup calls drop_arg */
    } else {
        a->co.state = WEFT__RUNNING; /* cleanup must not call drop_arg */
        void *r = a->co.fn(a->co.arg);
        status = co->cancel_seen ? -ECANCELED : 0;
        if (status == 0 && result)
            *result = r;
    }
    weft__future_free(&a->base);
    return status;
}

int weft_await(weft_future *f, void **result)
{
    if (!future_ok(f))
        return -EINVAL;
    weft__rt *rt = weft__rt_here();
    if (!rt) {
        if (!f->started)
            weft__future_free(f);
        return -EPERM;
    }
    if (f->ops == &async_ops && !f->started &&
        ((async_future *)f)->co.stack_size == 0)
        return await_inline(rt, (async_future *)f, result);
    int status = weft__await_leaf(rt, f);
    if (status >= 0 && result)
        *result = f->result;
    weft__future_free(f);
    return status;
}

/* ---- the combinator engine ---------------------------------------------- */

typedef struct slot {
    weft__waker waker; /* first: the waker is the slot */
    struct group *g;
    weft_future *f;
    size_t index;
    int woken;
    int done;
    int completed; /* done while being cancelled: its result stands */
} slot;

/*
 * The woken slots are kept by index, so a round costs O(k log n) for k
 * woken children rather than a scan of all n: `heap` holds, as a min-heap,
 * the slots still to poll in this round (index >= next_min); `later` the
 * ones woken outside a round or for an index already passed, polled next
 * round.  Both arrays have room for n (a slot is on at most one, once).
 */
typedef struct group {
    weft__co *owner;
    slot *slots;
    size_t n;
    const char *what;
    size_t *heap, hlen;
    size_t *later, nlater;
    size_t next_min;
    int in_round;
} group;

enum { JOIN, RACE };

static void heap_push(group *g, size_t v)
{
    size_t i = g->hlen++;
    while (i > 0 && g->heap[(i - 1) / 2] > v) {
        g->heap[i] = g->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    g->heap[i] = v;
}

static size_t heap_pop(group *g)
{
    size_t top = g->heap[0], v = g->heap[--g->hlen], i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= g->hlen)
            break;
        if (c + 1 < g->hlen && g->heap[c + 1] < g->heap[c])
            c++;
        if (g->heap[c] >= v)
            break;
        g->heap[i] = g->heap[c];
        i = c;
    }
    if (g->hlen)
        g->heap[i] = v;
    return top;
}

static void slot_wake(weft__waker *w)
{
    slot *s = (slot *)w;
    group *g = s->g;
    if (!s->woken) {
        s->woken = 1;
        if (g->in_round && s->index >= g->next_min)
            heap_push(g, s->index); /* still ahead in this round */
        else
            g->later[g->nlater++] = s->index;
    }
    weft__wake(g->owner->waker);
}

static void cancel_unfinished(weft__rt *rt, group *g)
{
    for (size_t i = 0; i < g->n; i++) {
        slot *s = &g->slots[i];
        if (s->done)
            continue;
        s->completed = s->f->started && s->f->ops->cancel(s->f, rt);
        s->f->done = 1;
        if (!s->completed) {
            s->f->status = -ECANCELED;
            s->f->result = (void *)(intptr_t)-ECANCELED;
        }
        s->done = 1;
    }
}

/*
 * Runs the children of slots[0..n) under the owner (the running coroutine).
 * JOIN: until all are done; returns 0.  RACE: until one is done; cancels the
 * rest; returns the winner's index.  Either: -ECANCELED when the owner is
 * cancelled (children cancelled and unwound first).  Futures are not freed.
 */
static int group_run(weft__rt *rt, slot *slots, size_t n, size_t *work,
                     int mode, const char *what)
{
    weft__co *self = rt->current;
    group g = {.owner = self,
               .slots = slots,
               .n = n,
               .what = what,
               .heap = work,
               .later = work + n};
    size_t remaining = n;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        slots[i].waker.wake = slot_wake;
        slots[i].g = &g;
        slots[i].index = i;
        slots[i].woken = 1; /* everyone gets a first poll */
        slots[i].done = 0;
        slots[i].completed = 0;
        g.later[g.nlater++] = i;
    }
    for (;;) {
        if (weft__cancelled(self)) {
            self->cancel_seen = 1;
            rc = -ECANCELED;
            break;
        }
        /* One round: the woken children, in argument order. */
        for (size_t k = 0; k < g.nlater; k++)
            heap_push(&g, g.later[k]);
        g.nlater = 0;
        g.next_min = 0;
        g.in_round = 1;
        while (g.hlen) {
            size_t i = heap_pop(&g);
            slot *s = &slots[i];
            g.next_min = i + 1;
            if (s->done || !s->woken)
                continue;
            s->woken = 0;
            s->f->started = 1;
            if (!s->f->ops->poll(s->f, rt, &s->waker))
                continue;
            s->done = s->f->done = 1;
            remaining--;
            if (mode == RACE) {
                rc = (int)i;
                goto finish;
            }
        }
        g.in_round = 0;
        if (remaining == 0)
            break;
        weft__park(rt, self, what, WEFT__WAIT_COMBINATOR, &g);
    }
finish:
    cancel_unfinished(rt, &g);
    for (size_t i = 0; i < n; i++)
        slots[i].g = NULL; /* g dies with this frame */
    return rc;
}

const char *weft__group_what(const void *gp)
{
    return ((const group *)gp)->what;
}

size_t weft__group_size(const void *gp) { return ((const group *)gp)->n; }

const weft_future *weft__group_slot(const void *gp, size_t i)
{
    const group *g = gp;
    return g->slots[i].done ? NULL : g->slots[i].f;
}

/* Validates fs[0..n): on a NULL (or already consumed) entry every valid one
 * is dropped and -EINVAL returned. */
/* Validates fs[0..n): a NULL, consumed or repeated entry makes the call
 * fail with -EINVAL after every distinct valid future was dropped once. */
static int check_all(weft_future **fs, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (!future_ok(fs[i]) || fs[i]->claimed)
            bad++;
        else
            fs[i]->claimed = 1;
    }
    if (!bad) {
        for (size_t i = 0; i < n; i++)
            fs[i]->claimed = 0;
        return 0;
    }
    /* Collect the distinct futures before freeing any: a later repeat
     * must not be read once its future is gone. */
    weft_future **uniq = weft__malloc((n ? n : 1) * sizeof *uniq);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!future_ok(fs[i]) || fs[i]->claimed != 1)
            continue;
        fs[i]->claimed = 0;
        if (uniq) {
            uniq[k++] = fs[i];
            continue;
        }
        /* Out of memory: drop it now unless a repeat of it is still ahead
         * (then that repeat, which reads it first, drops it). */
        size_t j = i + 1;
        while (j < n && fs[j] != fs[i])
            j++;
        if (j == n)
            weft_future_drop(fs[i]);
        else
            fs[i]->claimed = 1;
    }
    for (size_t i = 0; i < k; i++)
        weft_future_drop(uniq[i]);
    weft__free(uniq);
    return -EINVAL;
}

/* results[i] (JOIN, OUTCOMES) and statuses[i] (OUTCOMES) receive each
 * child's result and status, if non-NULL; *result the winner's (RACE). */
static int combine(weft_future **fs, size_t n, int mode, void **results,
                   void **result, int *statuses)
{
    if (!fs && n)
        return -EINVAL;
    int rc = check_all(fs, n);
    if (rc)
        return rc;
    weft__rt *rt = weft__rt_here();
    if (!rt) {
        for (size_t i = 0; i < n; i++)
            weft_future_drop(fs[i]);
        return -EPERM;
    }
    if (n == 0)
        return mode == RACE ? -EINVAL : 0;
    slot small[4];
    size_t small_work[8];
    slot *slots = small;
    size_t *work = small_work;
    if (n > 4) { /* slots, then 2n indices for the round bookkeeping */
        slots = weft__malloc(n * (sizeof *slots + 2 * sizeof *work));
        work = slots ? (size_t *)(void *)(slots + n) : NULL;
    }
    if (!slots) {
        for (size_t i = 0; i < n; i++)
            weft_future_drop(fs[i]);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        slots[i].f = fs[i];
    rc = group_run(rt, slots, n, work, mode, mode == JOIN ? "join" : "race");
    if (mode == JOIN && rc == 0) {
        for (size_t i = 0; i < n && rc == 0; i++)
            if (fs[i]->status < 0)
                rc = fs[i]->status;
    }
    if (rc >= 0 && result)
        *result = fs[rc]->result;
    for (size_t i = 0; i < n; i++) {
        if (statuses)
            statuses[i] = fs[i]->status;
        if (results)
            results[i] = fs[i]->result;
        weft__future_free(fs[i]);
    }
    if (slots != small)
        weft__free(slots);
    return rc;
}

int weft_join_all(weft_future **fs, size_t n, void **results)
{
    return combine(fs, n, JOIN, results, NULL, NULL);
}

int weft_join(weft_future *a, weft_future *b)
{
    weft_future *fs[] = {a, b};
    return combine(fs, 2, JOIN, NULL, NULL, NULL);
}

int weft_join3(weft_future *a, weft_future *b, weft_future *c)
{
    weft_future *fs[] = {a, b, c};
    return combine(fs, 3, JOIN, NULL, NULL, NULL);
}

int weft_race(weft_future **fs, size_t n, void **result)
{
    if (!fs || n == 0)
        return -EINVAL;
    return combine(fs, n, RACE, NULL, result, NULL);
}

int weft_race_outcomes(weft_future **fs, size_t n, int *statuses,
                       void **results)
{
    if (!fs || n == 0)
        return -EINVAL;
    return combine(fs, n, RACE, results, NULL, statuses);
}

/*
 * A timeout is a biased race of f against a sleep: f is polled first, so an
 * f that is ready at once wins even with a zero timeout, and the sleep is
 * ready on its first poll when the deadline has already passed, so an
 * unready f with a zero timeout fails at once.
 */
int weft_timeout(weft_future *f, uint64_t timeout_ns, void **result)
{
    if (!future_ok(f))
        return -EINVAL;
    weft__rt *rt = weft__rt_here();
    if (!rt) {
        weft_future_drop(f);
        return -EPERM;
    }
    weft__sleep_future timer;
    weft__sleep_future_init(&timer, timeout_ns, 1);
    slot slots[2] = {{.f = f}, {.f = &timer.base}};
    size_t work[4];
    int rc = group_run(rt, slots, 2, work, RACE, "timeout");
    if (rc == 1 && slots[0].completed)
        rc = 0; /* f completed while it was being cancelled: it wins */
    if (rc == 0) {
        rc = f->status;
        if (rc >= 0 && result)
            *result = f->result;
    } else if (rc == 1) {
        rc = -ETIMEDOUT;
    }
    timer.base.ops->cleanup(&timer.base);
    weft__future_free(f);
    return rc;
}
