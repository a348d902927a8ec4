/*
 * runtime.c - the scheduler of one thread: coroutine switching, the run
 * queue, the await of a leaf future, the clock, the idle wait, deadlock
 * detection and shutdown.
 *
 * The scheduler runs on the thread's own stack as the pseudo-coroutine
 * rt->main_co.  It resumes queued tasks in FIFO order; a task runs until it
 * suspends (back to the scheduler) or dies.  Every WEFT__BATCH task runs, and
 * whenever the queue empties, it services the cross-thread inbox and fires
 * expired timers, so neither can be starved by tasks that keep each other
 * busy.  When nothing is runnable it waits on its eventfd until the next
 * deadline (real clock), or jumps to the next deadline (virtual clock), or,
 * when no wake source is left, reports a deadlock.
 *
 * Shutdown: when the root task dies, every other live task is cancelled and
 * driven until it returns; weft_run returns once no task is alive.
 */
#include "util/alloc.h"
#include "rt.h"
#include "obs/obs.h"
#include "sanitize.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define WEFT__BATCH 64

_Thread_local weft__rt *weft__tls_rt;

/* ---- switching ---------------------------------------------------------- */

#ifdef WEFT__ASAN
static void stack_bounds(weft__rt *rt, const weft__co *to, void **lo,
                         size_t *size)
{
    if (to == &rt->main_co) {
        *lo = rt->main_stack_lo;
        *size = rt->main_stack_size;
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

/* A switch in a runtime with a timeline or the slow-poll warning: its own
 * function, so that the common switch carries no call but the switch. */
static __attribute__((noinline, cold)) void
switch_traced(weft__rt *rt, weft__co *from, weft__co *to, int final)
{
    weft__obs_switch(rt, from, to);
    switch_plain(rt, from, to, final);
}

static void switch_to(weft__rt *rt, weft__co *from, weft__co *to, int final)
{
    if (from->stack && weft__stack_smashed(from->stack))
        weft__report_overflow(from, NULL); /* unguarded stack: late check */
    if (__builtin_expect(rt->obs != NULL, 0)) {
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
    co->stack = weft__stack_get(&rt->pool, size);
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
    weft_task *t = weft__container(rt->runq.next, weft_task, runq);
    weft__co *co = &t->co;
    if (co->state == WEFT__FRESH && (weft__cancelled(co) || co_prepare(rt, co)))
        return NULL;
    weft__list_remove(&t->runq);
    t->queued = 0;
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
    if (to == &rt->main_co) { /* a task: hand over to the next one */
        /* A dump was asked for (WEFT_DUMP_SIGNAL): end the batch, so that
         * the scheduler writes it now, naming this task if it ran long. */
        if (__builtin_expect(rt->dump_signal != 0, 0) &&
            weft__obs_dump_pending(rt))
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
#ifdef WEFT__TSAN
    if (co->tsan_fiber) {
        WEFT__TSAN_DESTROY(co->tsan_fiber);
        co->tsan_fiber = NULL;
    }
#endif
    if (co->stack) {
        weft__stack_put(&rt->pool, co->stack);
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

/* ---- clock -------------------------------------------------------------- */

static uint64_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t weft__clock_now(weft__rt *rt)
{
    return rt->cfg.clock == WEFT_CLOCK_VIRTUAL ? rt->vnow : mono_now();
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
    weft__lock_acquire(&rt->inbox_lock);
    int was_empty = rt->inbox == NULL;
    r->next = rt->inbox;
    rt->inbox = r;
    __atomic_store_n(&rt->inbox_posted, 1, __ATOMIC_RELEASE);
    /* Written under the lock: rt cannot end before the drain that follows. */
    if (was_empty) {
        uint64_t one = 1;
        ssize_t n = write(rt->efd, &one, sizeof one);
        (void)n; /* a saturated counter still wakes the poll */
    }
    weft__lock_release(&rt->inbox_lock);
}

int weft__unpost(weft__rt *rt, weft__remote *r)
{
    int found = 0;
    weft__lock_acquire(&rt->inbox_lock);
    for (weft__remote **p = &rt->inbox; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            found = 1;
            break;
        }
    if (!rt->inbox) /* the eventfd may still wake the loop once: harmless */
        __atomic_store_n(&rt->inbox_posted, 0, __ATOMIC_RELEASE);
    weft__lock_release(&rt->inbox_lock);
    return found;
}

void weft__inbox_drain(weft__rt *rt)
{
    weft__lock_acquire(&rt->inbox_lock);
    weft__remote *r = rt->inbox;
    rt->inbox = NULL;
    __atomic_store_n(&rt->inbox_posted, 0, __ATOMIC_RELEASE);
    weft__lock_release(&rt->inbox_lock);
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

/* ---- the loop ----------------------------------------------------------- */

static void cancel_all(weft__rt *rt)
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
    cancel_all(rt);
}

/* Counts (and traces) what a poll of the reactor harvested. */
static int io_events(weft__rt *rt, int n)
{
    if (n > 0) {
        rt->stats.io_events += (uint64_t)n;
        if (rt->obs)
            weft__obs_instant(rt, "I/O events", n);
    }
    return n;
}

/* Waits for a cross-thread wake, at most until deadline (UINT64_MAX: no
 * limit), on the real clock. */
static void idle_wait(weft__rt *rt, uint64_t deadline)
{
    /* Nothing to run: a good moment to give back the memory of stacks
     * freed past the pool's hot bound (see stack.h). */
    weft__stack_trim(&rt->pool);
    if (rt->io) { /* the reactor's epoll set holds the eventfd too */
        io_events(rt, weft__io_poll(rt, deadline));
        return;
    }
    struct pollfd pfd = {.fd = rt->efd, .events = POLLIN};
    struct timespec ts, *tsp = NULL;
    if (deadline != UINT64_MAX) {
        uint64_t now = mono_now();
        uint64_t d = deadline > now ? deadline - now : 0;
        ts.tv_sec = (time_t)(d / 1000000000u);
        ts.tv_nsec = (long)(d % 1000000000u);
        tsp = &ts;
    }
    if (ppoll(&pfd, 1, tsp, NULL) > 0) {
        uint64_t v;
        ssize_t n = read(rt->efd, &v, sizeof v); /* reset the counter */
        (void)n;
    }
}

/*
 * Services the inbox, the timers and the tasks that yielded.  When tasks are
 * still queued (a batch
 * ended) every expired timer fires, so none waits behind a busy queue for
 * long.  When the queue is empty, only the first expired timer fires: its
 * consequences run before the next timer fires, as they would if the two
 * deadlines were a hair apart, which they are with a real clock (each sleep
 * starts a little after the previous one ended).  So listing 17-13 prints
 * 'messages' (armed first) before 'future' under the virtual clock too.
 */
static void service(weft__rt *rt)
{
    if (__atomic_load_n(&rt->inbox_posted, __ATOMIC_ACQUIRE))
        weft__inbox_drain(rt);
    int idle = weft__list_empty(&rt->runq) && weft__list_empty(&rt->yielded);
    size_t fired = 0;
    rt->now_cached = weft__clock_now(rt); /* once per round: wait times */
    if (rt->heap_len) {
        fired = weft__timers_fire(rt, rt->now_cached, idle ? 1 : SIZE_MAX);
        rt->stats.timers_fired += fired;
        if (fired && rt->obs)
            weft__obs_instant(rt, "timers fired", (long)fired);
    }
    /* Readiness too, while tasks keep the runtime busy (bounded: once per
     * batch), so that sockets are not starved; when idle, the scheduler
     * is about to wait in the reactor anyway. */
    if ((!idle || fired) && weft__io_waiting(rt))
        io_events(rt, weft__io_poll(rt, 0));
    if (rt->dump_signal || rt->obs)
        weft__obs_round(rt);
    /* Tasks that yielded go behind everything the timers and the inbox
     * made runnable: a yield services expired timers. */
    while (!weft__list_empty(&rt->yielded)) {
        weft__link *l = rt->yielded.next;
        weft__list_remove(l);
        weft__list_push(&rt->runq, l);
    }
}

/* Resumes t; tasks may then hand over to each other (weft__co_suspend)
 * until one dies or the batch ends, back here.  A task that died is
 * finished here, off its stack. */
static void run_task(weft__rt *rt, weft_task *t)
{
    rt->back_from = &t->co; /* if it dies unrun, without a switch */
    rt->stats.polls++;
    weft__co_resume(rt, &t->co);
    weft__co *back = rt->back_from;
    if (back->state == WEFT__DEAD)
        weft__task_finished(rt, back->task);
}

static void sched_loop(weft__rt *rt)
{
    for (;;) {
        rt->batch_left = WEFT__BATCH;
        while (!weft__list_empty(&rt->runq) && rt->batch_left > 0) {
            rt->batch_left--;
            weft__link *l = rt->runq.next;
            weft__list_remove(l);
            weft_task *t = weft__container(l, weft_task, runq);
            t->queued = 0;
            run_task(rt, t);
            if (__builtin_expect(rt->dump_signal != 0, 0) &&
                weft__obs_dump_pending(rt))
                break; /* the dump now, naming the task that ran last */
        }
        service(rt);
        if (!weft__list_empty(&rt->runq))
            continue;
        if (rt->live == 0)
            return;

        /* Nothing runnable. */
        uint64_t next = weft__timers_next(rt);
        if (rt->blocking_jobs) {
            /* A job will post its end: wait for it, and on the virtual
             * clock do not let time jump past what the job may observe. */
            idle_wait(rt,
                      rt->cfg.clock == WEFT_CLOCK_VIRTUAL ? UINT64_MAX : next);
            continue;
        }
        /* A timer armed for UINT64_MAX (a saturated deadline) is still a
         * timer: test the heap, not the sentinel. */
        int timers = rt->heap_len > 0;
        if (rt->cfg.clock == WEFT_CLOCK_VIRTUAL && timers) {
            /* Time jumps only when no fd is ready now either. */
            if (weft__io_waiting(rt) &&
                io_events(rt, weft__io_poll(rt, 0)) > 0 &&
                !weft__list_empty(&rt->runq))
                continue;
            if (next > rt->vnow)
                rt->vnow = next; /* time jumps */
            continue;
        }
        if (!timers && !weft__external_waits(rt) &&
            !weft__sync_external_waits(rt) && !weft__io_waiting(rt)) {
            /* Re-check the inbox: a wake may have raced the test above. */
            if (__atomic_load_n(&rt->inbox_posted, __ATOMIC_ACQUIRE))
                continue;
            if (rt->cfg.deadlock == WEFT_DEADLOCK_FAIL) {
                if (rt->deadlocked) {
                    fputs("weft: tasks still blocked after the deadlock "
                          "cancelled them; aborting\n",
                          stderr);
                    abort();
                }
                weft__report_deadlock(rt);
                rt->deadlocked = 1;
                cancel_all(rt);
                continue;
            }
        }
        idle_wait(rt, next);
    }
}

/* ---- weft_run ----------------------------------------------------------- */

static int rt_init(weft__rt *rt, const weft_config *cfg)
{
    memset(rt, 0, sizeof *rt);
    if (cfg)
        rt->cfg = *cfg;
    weft__list_init(&rt->runq);
    weft__list_init(&rt->yielded);
    weft__list_init(&rt->tasks);
    weft__list_init(&rt->chan_waits);
    weft__list_init(&rt->sync_waits); /* sync/sync.c */
    weft__stack_pool_init(&rt->pool);
    rt->cfg.stack_size = weft__stack_round(&rt->pool, rt->cfg.stack_size);
    if (!rt->cfg.stack_size)
        return -EINVAL;
    rt->next_id = 1;
    rt->current = &rt->main_co;
    rt->main_co.state = WEFT__RUNNING;
#ifdef WEFT__TSAN
    rt->main_co.tsan_fiber = WEFT__TSAN_CURRENT();
#endif
#ifdef WEFT__ASAN
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &rt->main_stack_lo, &rt->main_stack_size);
        pthread_attr_destroy(&attr);
    }
#endif
    rt->efd = weft__eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (rt->efd < 0)
        return -errno;
    weft__lock_init(&rt->inbox_lock);
    int rc = weft__fault_setup(rt);
    if (rc) {
        close(rt->efd);
        return rc;
    }
    /* Dump signal, trace, slow-poll warning: after the fault handler, so
     * that rt_destroy undoes everything; weft_run_with's caller sees only
     * -ENOMEM from here (a bad variable is reported and ignored). */
    rc = weft__obs_start(rt);
    if (rc) {
        weft__io_destroy(rt);
        weft__fault_teardown(rt);
        close(rt->efd);
    }
    return rc;
}

void weft__rt_on_exit(weft__rt *rt, weft__exit_hook *h)
{
    h->next = rt->exit_hooks;
    rt->exit_hooks = h;
}

static void rt_destroy(weft__rt *rt)
{
    weft__blocking_destroy(rt); /* every job has ended: live was 0 */
    weft__obs_stop(rt);         /* no pool thread writes events now */
    weft__inbox_drain(rt);      /* drop references posted by other threads */
    while (rt->exit_hooks) {    /* modules' own teardown, reactor still up */
        weft__exit_hook *h = rt->exit_hooks;
        rt->exit_hooks = h->next;
        h->run(rt, h);
    }
    weft__io_destroy(rt); /* before the eventfd it polls is closed */
    weft__task_free_all(rt);
    weft__timers_free(rt);
    weft__stack_pool_destroy(&rt->pool);
    weft__fault_teardown(rt);
    close(rt->efd);
}

int weft_run_with(const weft_config *config, weft_fn *main, void *arg,
                  void **result)
{
    if (!main)
        return -EINVAL;
    if (config && ((config->clock != WEFT_CLOCK_MONOTONIC &&
                    config->clock != WEFT_CLOCK_VIRTUAL) ||
                   (config->deadlock != WEFT_DEADLOCK_FAIL &&
                    config->deadlock != WEFT_DEADLOCK_WAIT)))
        return -EINVAL;
    if (weft__tls_rt)
        return -EBUSY;

    weft__rt *rt = weft__malloc(sizeof *rt);
    if (!rt)
        return -ENOMEM;
    int rc = rt_init(rt, config);
    if (rc) {
        weft__free(rt);
        return rc;
    }
    weft__tls_rt = rt;
    weft_spawn_opts opts = {.name = "main"};
    weft_task *root = weft__task_new(rt, &opts, main, arg, 0);
    if (!root) {
        rc = -errno;
        goto out;
    }
    rt->root = root;
    sched_loop(rt);
    if (rt->deadlocked)
        rc = -EDEADLK;
    else if (root->co.status == -ENOMEM && !root->co.result)
        rc = -ENOMEM; /* its stack could not be had: main never ran */
    else if (result)
        *result = root->co.result;
out:
    rt_destroy(rt);
    weft__tls_rt = NULL;
    weft__free(rt);
    return rc;
}

int weft_runtime_stats(weft_stats *out)
{
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    if (!out)
        return -EINVAL;
    size_t tasks = 0;
    for (weft__link *l = rt->tasks.next; l != &rt->tasks; l = l->next)
        tasks++;
    out->tasks = tasks;
    out->timers = rt->heap_len;
    out->stacks_in_use = rt->pool.in_use;
    out->stacks_pooled = rt->pool.total - rt->pool.in_use;
    out->blocking_jobs = rt->blocking_jobs;
    out->tasks_spawned = rt->stats.spawned;
    out->tasks_finished = rt->stats.finished;
    out->polls = rt->stats.polls;
    out->parks = rt->stats.parks;
    out->remote_wakes = rt->stats.remote_wakes;
    out->timers_fired = rt->stats.timers_fired;
    out->io_events = rt->stats.io_events;
    out->longest_run_ns = rt->stats.longest_run_ns;
    return 0;
}

int weft_run(weft_fn *main, void *arg, void **result)
{
    weft_config cfg = {0};
    const char *clock = getenv("WEFT_CLOCK");
    if (clock && strcmp(clock, "virtual") == 0)
        cfg.clock = WEFT_CLOCK_VIRTUAL;
    return weft_run_with(&cfg, main, arg, result);
}
