/*
 * loop.c - the loop of one thread's runtime (weft_run): set-up, the
 * scheduling loop composing the core (sched/) and the driver (time/, io/,
 * the inbox), the idle wait, deadlock detection, shutdown.
 *
 * The scheduler runs on the thread's own stack as the pseudo-coroutine
 * rt->main_co.  It resumes queued tasks in FIFO order, but for those an
 * expiring timer wakes, which go to the head, and hand-offs, which go
 * behind them (sched/core.h, weft__runq_hand and weft__wake_hand); a task runs
 * until it suspends (back to the scheduler) or dies.  Every WEFT__BATCH task
 * runs, and whenever the queue empties, it services the cross-thread inbox and
 * fires expired timers, so neither can be starved by tasks that keep each other
 * busy.  When nothing is runnable it waits on its eventfd until the next
 * deadline (real clock), or jumps to the next deadline (virtual clock), or,
 * when no wake source is left, reports a deadlock.
 *
 * Shutdown: when the root task dies, every other live task is cancelled and
 * driven until it returns; weft_run returns once no task is alive.
 */
#include "util/alloc.h"
#include "chan/chan.h"
#include "io/io.h"
#include "loop/loop.h"
#include "sched/core.h"
#include "sync/sync.h"
#include "time/time.h"
#include "obs/obs.h"
#include "util/sanitize.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define WEFT__BATCH 64

/* ---- the loop ----------------------------------------------------------- */

/* Counts (and traces) what a poll of the reactor harvested. */
static int io_events(weft__rt *rt, int n)
{
    if (n > 0) {
        rt->stats.io_events += (uint64_t)n;
        if (rt->obs.state)
            weft__obs_instant(rt, "I/O events", n);
    }
    return n;
}

/* Waits for a cross-thread wake, at most until deadline (UINT64_MAX: no
 * limit), on the real clock. */
static void idle_wait(weft__rt *rt, uint64_t deadline)
{
    /* Nothing to run: a good moment to give back the memory of free stacks
     * past the room under the pool's decaying high-water mark; while some
     * is still held, wake for the mark's next step (see stack.h). */
    uint64_t step = weft__stack_trim(&rt->stacks.pool, weft__clock_mono());
    if (step < deadline)
        deadline = step;
    if (rt->io) { /* the reactor's epoll set holds the eventfd too */
        io_events(rt, weft__io_poll(rt, deadline));
        return;
    }
    struct pollfd pfd = {.fd = rt->inbox.efd, .events = POLLIN};
    struct timespec ts, *tsp = NULL;
    if (deadline != UINT64_MAX) {
        uint64_t now = weft__clock_mono();
        uint64_t d = deadline > now ? deadline - now : 0;
        ts.tv_sec = (time_t)(d / 1000000000u);
        ts.tv_nsec = (long)(d % 1000000000u);
        tsp = &ts;
    }
    if (ppoll(&pfd, 1, tsp, NULL) > 0) {
        uint64_t v;
        ssize_t n = read(rt->inbox.efd, &v, sizeof v); /* reset the counter */
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
    if (__atomic_load_n(&rt->inbox.posted, __ATOMIC_ACQUIRE))
        weft__inbox_drain(rt);
    int idle = weft__list_empty(&rt->runq) && weft__list_empty(&rt->yielded);
    size_t fired = 0;
    rt->now_cached = weft__clock_now(rt); /* once per round: wait times */
    /* Busy: the high-water marks still decay (no system call: the stacks
     * past the lower room are given back as they come back, a batch at a
     * time, or at the next idle moment). */
    if (rt->cfg.clock != WEFT_CLOCK_VIRTUAL &&
        rt->now_cached >= rt->stacks.pool.decay_at)
        weft__stack_step(&rt->stacks.pool, rt->now_cached);
    if (rt->time.heap_len) {
        /* What the timers wake goes ahead of the other queued tasks, in
         * firing order, behind what they woke before (as Go's runnext
         * takes a goroutine its timer readied): a timer is then late by
         * about a batch, not by the length of the queue (100k tasks not
         * yet started, say).  Nothing leaves the queue while timers fire,
         * so the link stays. */
        rt->wake_at = rt->timer_last ? rt->timer_last->next : rt->runq.next;
        fired = weft__timers_fire(rt, rt->now_cached, idle ? 1 : SIZE_MAX);
        if (rt->wake_at->prev != &rt->runq)
            rt->timer_last = rt->wake_at->prev;
        rt->wake_at = &rt->runq;
        rt->stats.timers_fired += fired;
        if (fired && rt->obs.state)
            weft__obs_instant(rt, "timers fired", (long)fired);
    }
    /* Readiness too, while tasks keep the runtime busy (bounded: once per
     * batch), so that sockets are not starved; when idle, the scheduler
     * is about to wait in the reactor anyway. */
    if ((!idle || fired) && weft__io_waiting(rt))
        io_events(rt, weft__io_poll(rt, 0));
    if (rt->obs.dump_signal || rt->obs.state)
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
    int full = 0;       /* the last batch used all its runs */
    uint64_t polls = 0; /* rt->stats.polls when it began */
    for (;;) {
        /* What a full batch that ran mostly timers' wakes owes the rest of
         * the queue (sched/core.h, WEFT__BEHIND_MIN). */
        unsigned behind = (unsigned)(rt->stats.polls - polls) - rt->timer_runs;
        rt->behind_owed =
            full && behind < WEFT__BEHIND_MIN ? WEFT__BEHIND_MIN - behind : 0;
        rt->timer_runs = 0;
        polls = rt->stats.polls;
        rt->batch_left = WEFT__BATCH;
        while (!weft__list_empty(&rt->runq) && rt->batch_left > 0) {
            weft_task *t = weft__runq_next(rt);
            if (t->co.state == WEFT__FRESH)
                weft__batch_fresh(rt);
            rt->batch_left--;
            weft__runq_pop(rt, t);
            run_task(rt, t);
            if (__builtin_expect(rt->obs.dump_signal != 0, 0) &&
                weft__obs_dump_pending(rt))
                break; /* the dump now, naming the task that ran last */
        }
        full = rt->batch_left == 0;
        service(rt);
        if (!weft__list_empty(&rt->runq))
            continue;
        if (rt->live == 0)
            return;

        /* Nothing runnable. */
        uint64_t next = weft__timers_next(rt);
        if (rt->blocking.jobs) {
            /* A job will post its end: wait for it, and on the virtual
             * clock do not let time jump past what the job may observe. */
            idle_wait(rt,
                      rt->cfg.clock == WEFT_CLOCK_VIRTUAL ? UINT64_MAX : next);
            continue;
        }
        /* A timer armed for UINT64_MAX (a saturated deadline) is still a
         * timer: test the heap, not the sentinel. */
        int timers = rt->time.heap_len > 0;
        if (rt->cfg.clock == WEFT_CLOCK_VIRTUAL && timers) {
            /* Time jumps only when no fd is ready now either. */
            if (weft__io_waiting(rt) &&
                io_events(rt, weft__io_poll(rt, 0)) > 0 &&
                !weft__list_empty(&rt->runq))
                continue;
            if (next > rt->time.vnow)
                rt->time.vnow = next; /* time jumps */
            continue;
        }
        if (!timers && !weft__external_waits(rt) &&
            !weft__sync_external_waits(rt) && !weft__io_waiting(rt)) {
            /* Re-check the inbox: a wake may have raced the test above. */
            if (__atomic_load_n(&rt->inbox.posted, __ATOMIC_ACQUIRE))
                continue;
            if (rt->cfg.deadlock == WEFT_DEADLOCK_FAIL) {
                if (rt->loop.deadlocked) {
                    fputs("weft: tasks still blocked after the deadlock "
                          "cancelled them; aborting\n",
                          stderr);
                    abort();
                }
                weft__report_deadlock(rt);
                rt->loop.deadlocked = 1;
                weft__cancel_all(rt);
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
    rt->wake_at = &rt->runq;
    weft__list_init(&rt->tasks);
    weft__list_init(&rt->chan.waits);
    weft__list_init(&rt->sync.waits); /* sync/sync.c */
    weft__stack_pool_init(&rt->stacks.pool);
    rt->cfg.stack_size =
        weft__stack_round(&rt->stacks.pool, rt->cfg.stack_size);
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
        pthread_attr_getstack(&attr, &rt->stacks.main_lo,
                              &rt->stacks.main_size);
        pthread_attr_destroy(&attr);
    }
#endif
    rt->inbox.efd = weft__eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (rt->inbox.efd < 0)
        return -errno;
    weft__lock_init(&rt->inbox.lock);
    int rc = weft__fault_setup(rt);
    if (rc) {
        close(rt->inbox.efd);
        return rc;
    }
    /* Dump signal, trace, slow-poll warning: after the fault handler, so
     * that rt_destroy undoes everything; weft_run_with's caller sees only
     * -ENOMEM from here (a bad variable is reported and ignored). */
    rc = weft__obs_start(rt);
    if (rc) {
        weft__io_destroy(rt);
        weft__fault_teardown(rt);
        close(rt->inbox.efd);
    }
    return rc;
}

void weft__rt_on_exit(weft__rt *rt, weft__exit_hook *h)
{
    h->next = rt->loop.exit_hooks;
    rt->loop.exit_hooks = h;
}

static void rt_destroy(weft__rt *rt)
{
    weft__blocking_destroy(rt);   /* every job has ended: live was 0 */
    weft__obs_stop(rt);           /* no pool thread writes events now */
    weft__inbox_drain(rt);        /* drop references posted by other threads */
    while (rt->loop.exit_hooks) { /* modules' own teardown, reactor still up */
        weft__exit_hook *h = rt->loop.exit_hooks;
        rt->loop.exit_hooks = h->next;
        h->run(rt, h);
    }
    weft__io_destroy(rt); /* before the eventfd it polls is closed */
    weft__task_free_all(rt);
    weft__timers_free(rt);
    weft__stack_pool_destroy(&rt->stacks.pool);
    weft__fault_teardown(rt);
    close(rt->inbox.efd);
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
    if (rt->loop.deadlocked)
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
    out->timers = rt->time.heap_len;
    out->stacks_in_use = weft__stack_in_use(&rt->stacks.pool);
    out->stacks_pooled = rt->stacks.pool.total - out->stacks_in_use;
    out->blocking_jobs = rt->blocking.jobs;
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
