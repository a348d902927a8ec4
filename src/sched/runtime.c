/*
 * runtime.c - the core of the scheduler of one thread: coroutine switching,
 * the hand-over between queued tasks, the await of a leaf future, yield, the
 * clock, the cross-thread inbox and the cancellation of every task.  The
 * loop that drives it (weft_run) is loop/loop.c.
 *
 * The scheduler runs on the thread's own stack as the pseudo-coroutine
 * rt->main_co.  It resumes queued tasks in FIFO order (but for timer wakes
 * and hand-offs, see loop/loop.c); a task runs until it
 * suspends (back to the scheduler, or straight to the next queued task
 * while its batch lasts) or dies.
 */
#include "util/alloc.h"
#include "sched/core.h"
#include "util/sanitize.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

_Thread_local weft__rt *weft__tls_rt;

/* ---- switching ---------------------------------------------------------- */

#ifdef WEFT__ASAN
static void stack_bounds(weft__rt *rt, const weft__co *to, void **lo,
                         size_t *size)
{
    if (to == &rt->main_co) {
        *lo = rt->stacks.main_lo;
        *size = rt->stacks.main_size;
    } else {
        *lo = to->stack->lo;
        *size = to->stack->size;
    }
}
#endif

static inline __attribute__((always_inline)) void
switch_plain(weft__rt *rt, weft__co *from, weft__co *to, int final)
{
    rt->current = to;
    rt->back_from = from;
    from->saved_errno = errno;
#ifdef WEFT__TSAN
    WEFT__TSAN_SWITCH(to->tsan_fiber);
#endif
#ifdef WEFT__ASAN
    void *lo;
    size_t size;
    stack_bounds(rt, to, &lo, &size);
    WEFT__ASAN_START(final ? NULL : &from->asan_fake_stack, lo, size);
#else
    (void) final;
#endif
    weft__ctx_switch(&from->ctx, &to->ctx);
    /* Back in from: whoever switched here set rt->current. */
#ifdef WEFT__ASAN
    WEFT__ASAN_FINISH(from->asan_fake_stack);
#endif
    errno = from->saved_errno;
}

/* A switch in a runtime whose switches are watched (a timeline or the
 * slow-poll warning: rt->hooks.on_switch): its own function, so that the
 * common switch carries no call but the switch. */
static __attribute__((noinline, cold)) void
switch_traced(weft__rt *rt, weft__co *from, weft__co *to, int final)
{
    rt->hooks.on_switch(rt, from, to);
    switch_plain(rt, from, to, final);
}

static void switch_to(weft__rt *rt, weft__co *from, weft__co *to, int final)
{
    if (from->stack && weft__stack_smashed(from->stack))
        weft__report_overflow(from, NULL); /* unguarded stack: late check */
    if (__builtin_expect(rt->hooks.on_switch != NULL, 0)) {
        switch_traced(rt, from, to, final);
        return;
    }
    switch_plain(rt, from, to, final);
}

static void co_entry(void *p)
{
    weft__co *co = p;
    WEFT__ASAN_FINISH(NULL);
    errno = 0;
    co->result = co->fn(co->arg);
    co->status = co->cancel_seen ? -ECANCELED : 0;
    WEFT_ASSERT(co->state == WEFT__RUNNING);
    co->state = WEFT__DEAD;
    switch_to(weft__tls_rt, co, co->resumer, 1);
    abort(); /* a dead coroutine is never resumed */
}

int weft__cancelled(const weft__co *co)
{
    for (; co; co = co->parent)
        if (co->cancel)
            return 1;
    return 0;
}

int weft__cancel_point(weft__co *co)
{
    if (!weft__cancelled(co))
        return 0;
    co->cancel_seen = 1;
    return 1;
}

static void co_die_unrun(weft__co *co, int status)
{
    WEFT_ASSERT(co->state == WEFT__FRESH && !co->stack);
    co->state = WEFT__DEAD;
    co->status = status;
    if (co->drop_arg)
        co->drop_arg(co->arg);
}

/* Gives a FRESH coroutine its stack and first context; -ENOMEM when no
 * stack can be had (it stays FRESH, without a stack).  A prepared coroutine
 * is switched to at once: no FRESH coroutine holds a stack otherwise. */
static int co_prepare(weft__rt *rt, weft__co *co)
{
    size_t size = co->stack_size ? co->stack_size : rt->cfg.stack_size;
    co->stack = weft__stack_get(&rt->stacks.pool, size);
    if (!co->stack)
        return -ENOMEM;
    weft__ctx_init(&co->ctx, co->stack->lo, co->stack->size, co_entry, co);
#ifdef WEFT__TSAN
    co->tsan_fiber = WEFT__TSAN_CREATE();
#endif
    return 0;
}

void weft__co_resume(weft__rt *rt, weft__co *co)
{
    weft__co *self = rt->current;
    if (co->state == WEFT__FRESH) {
        if (weft__cancelled(co)) {
            co_die_unrun(co, -ECANCELED); /* never runs, as in tokio */
            return;
        }
        if (co_prepare(rt, co)) {
            co_die_unrun(co, -ENOMEM);
            return;
        }
    }
    WEFT_ASSERT(co->state == WEFT__FRESH || co->state == WEFT__SUSPENDED);
    WEFT_ASSERT(co != self && self->state == WEFT__RUNNING);
    co->resumer = self;
    co->state = WEFT__RUNNING;
    switch_to(rt, self, co, 0);
}

/*
 * The task the scheduler would resume next, taken off the run queue so that
 * a suspending task can switch to it directly: one switch instead of two
 * (through the scheduler and out again).  The order of runs is the
 * scheduler's own: the head of the queue, counted against the same batch.
 * NULL when the scheduler has something to do first: the batch is used up,
 * the queue is empty, or the head is a fresh task that is cancelled (it
 * dies unrun) or cannot get a stack (reported by the scheduler).
 */
static weft__co *take_next(weft__rt *rt)
{
    if (rt->batch_left == 0 || weft__list_empty(&rt->runq))
        return NULL;
    weft_task *t = weft__runq_next(rt);
    weft__co *co = &t->co;
    if (co->state == WEFT__FRESH) {
        if (weft__cancelled(co) || co_prepare(rt, co))
            return NULL;
        weft__batch_fresh(rt);
    }
    /* the head may be the suspending task itself, woken while it ran */
    WEFT_ASSERT(co->state == WEFT__FRESH || co->state == WEFT__SUSPENDED ||
                co == rt->current);
    weft__runq_pop(rt, t);
    rt->batch_left--;
    rt->stats.polls++;
    co->resumer = &rt->main_co;
    co->state = WEFT__RUNNING;
    return co;
}

void weft__co_suspend(weft__rt *rt)
{
    weft__co *self = rt->current;
    weft__co *to = self->resumer;
    WEFT_ASSERT(self != &rt->main_co && self->state == WEFT__RUNNING);
    if (to == &rt->main_co) { /* a task: hand over to the next one */
        /* A dump was asked for (WEFT_DUMP_SIGNAL): end the batch, so that
         * the scheduler writes it now, naming this task if it ran long. */
        if (__builtin_expect(rt->hooks.dump_pending != NULL, 0) &&
            rt->hooks.dump_pending(rt))
            rt->batch_left = 0;
        weft__co *next = take_next(rt);
        if (next == self)
            return; /* woken before it could suspend: runs on */
        if (next)
            to = next;
    }
    self->state = WEFT__SUSPENDED;
    switch_to(rt, self, to, 0);
}

void weft__co_release(weft__rt *rt, weft__co *co)
{
    WEFT_ASSERT(co->state == WEFT__DEAD);
#ifdef WEFT__TSAN
    if (co->tsan_fiber) {
        WEFT__TSAN_DESTROY(co->tsan_fiber);
        co->tsan_fiber = NULL;
    }
#endif
    if (co->stack) {
        weft__stack_put(&rt->stacks.pool, co->stack);
        co->stack = NULL;
    }
}

/* ---- the poll protocol: the await of a leaf ---------------------------- */

int weft__await_leaf(weft__rt *rt, weft_future *f)
{
    weft__co *co = rt->current;
    for (;;) {
        if (weft__cancelled(co)) {
            int completed = f->started && !f->done && f->ops->cancel(f, rt);
            f->done = 1;
            if (!completed) {
                co->cancel_seen = 1;
                f->status = -ECANCELED;
            }
            return f->status;
        }
        f->started = 1;
        if (f->ops->poll(f, rt, co->waker)) {
            f->done = 1;
            return f->status;
        }
        weft__park(rt, co, f->ops->what, WEFT__WAIT_LEAF, f);
    }
}

/* ---- yield -------------------------------------------------------------- */

/* Queues the caller behind every runnable task: its waker is called at once
 * (for an async block: its slot is marked and the owner woken), and the
 * task is queued after the runtime next services timers and the inbox,
 * then it suspends, as tokio's yield_now (which defers its wake until the
 * driver has been polled). */
int weft_yield(void)
{
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    weft__co *co = rt->current;
    if (weft__cancel_point(co))
        return -ECANCELED;
    weft__wake_behind(rt, co->waker); /* the task lands in rt->yielded */
    weft__park(rt, co, "yield", WEFT__WAIT_LEAF, NULL);
    return weft__cancel_point(co) ? -ECANCELED : 0;
}

/* ---- clock -------------------------------------------------------------- */

uint64_t weft__clock_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t weft__clock_now(weft__rt *rt)
{
    return rt->cfg.clock == WEFT_CLOCK_VIRTUAL ? rt->time.vnow
                                               : weft__clock_mono();
}

uint64_t weft_now(void)
{
    weft__rt *rt = weft__rt_here();
    if (!rt) {
        errno = EPERM;
        return 0;
    }
    return weft__clock_now(rt);
}

/* ---- cross-thread posts ------------------------------------------------- */

void weft__post(weft__rt *rt, weft__remote *r)
{
    weft__lock_acquire(&rt->inbox.lock);
    int was_empty = rt->inbox.head == NULL;
    r->next = rt->inbox.head;
    rt->inbox.head = r;
    __atomic_store_n(&rt->inbox.posted, 1, __ATOMIC_RELEASE);
    /* Written under the lock: rt cannot end before the drain that follows. */
    if (was_empty) {
        uint64_t one = 1;
        ssize_t n = write(rt->inbox.efd, &one, sizeof one);
        (void)n; /* a saturated counter still wakes the poll */
    }
    weft__lock_release(&rt->inbox.lock);
}

int weft__unpost(weft__rt *rt, weft__remote *r)
{
    int found = 0;
    weft__lock_acquire(&rt->inbox.lock);
    for (weft__remote **p = &rt->inbox.head; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            found = 1;
            break;
        }
    /* the eventfd may still wake the loop once: harmless */
    if (!rt->inbox.head)
        __atomic_store_n(&rt->inbox.posted, 0, __ATOMIC_RELEASE);
    weft__lock_release(&rt->inbox.lock);
    return found;
}

void weft__inbox_drain(weft__rt *rt)
{
    weft__lock_acquire(&rt->inbox.lock);
    weft__remote *r = rt->inbox.head;
    rt->inbox.head = NULL;
    __atomic_store_n(&rt->inbox.posted, 0, __ATOMIC_RELEASE);
    weft__lock_release(&rt->inbox.lock);
    /* Posted newest first: run them in posting order. */
    weft__remote *prev = NULL;
    while (r) {
        weft__remote *next = r->next;
        r->next = prev;
        prev = r;
        r = next;
    }
    while (prev) {
        weft__remote *next = prev->next;
        rt->stats.remote_wakes++;
        prev->run(rt, prev);
        prev = next;
    }
}

/* ---- cancellation of every task ----------------------------------------- */

void weft__cancel_all(weft__rt *rt)
{
    weft__link *l = rt->tasks.next;
    while (l != &rt->tasks) {
        weft_task *t = weft__container(l, weft_task, all);
        l = l->next; /* a cancelled blocking job may be freed at once */
        weft__task_cancel(rt, t);
    }
}

void weft__shutdown(weft__rt *rt)
{
    rt->shutting_down = 1;
    weft__cancel_all(rt);
}
