/*
 * core.h - the core (sched/): the scheduler of one thread.  Coroutines,
 * tasks, wakers, the run queue, the poll protocol (future ops, the await of
 * a leaf, park), cancellation, the clock read, the one cross-thread wake
 * path (the inbox), and the runtime struct every layer is handed.
 *
 * Lowest layer but the base (util/, arch/, stack/): it includes only their
 * headers.  The layers above declare their own internals beside their
 * sources (time/time.h, io/io.h, chan/chan.h, future/future.h,
 * sync/sync.h, obs/obs.h, loop/loop.h) and include this one; a higher
 * module's state kept in struct weft__rt is named here by an incomplete
 * type only (struct weft__timer_entry, struct weft__timer, struct weft__io,
 * struct weft__obs, struct weft__pool, struct weft__exit_hook), so this header
 * never needs theirs.
 *
 * Objects and who owns them:
 *
 * Objects and who owns them:
 *
 *  weft__rt    one per thread running weft_run; lives on that thread's
 *              stack for the duration of the call; found via a thread-local.
 *  weft__co    a coroutine: a body (fn, arg) run on a pooled stack.  Every
 *              task is a coroutine resumed by the scheduler; an async block
 *              polled by a combinator is a coroutine resumed by the
 *              coroutine running that combinator (its "resumer").  Suspending
 *              always switches back to the resumer.
 *  weft_task   a task: a coroutine plus a handle, on the runtime's task list
 *              from spawn until it is both finished and released (joined or
 *              detached).
 *  weft__waker the thing a leaf operation calls when it may have become
 *              ready.  A task's waker queues the task; a combinator slot's
 *              waker marks the slot and calls its owner's current waker.
 *              Wakers are embedded in longer-lived objects (the task, the
 *              combinator's frame on the owner's stack): a wait allocates
 *              nothing.  A leaf holds a waker pointer only while registered
 *              and forgets it when it completes or is cancelled.
 *
 * Coroutine states: FRESH (never ran: no stack yet), RUNNING (on the CPU or
 * resuming a child), SUSPENDED (waiting to be resumed), DEAD (body returned;
 * its stack goes back to the pool, released by its resumer).
 *
 * Cancellation of a coroutine is visible to it and to everything it polls:
 * weft__cancelled() walks the chain of pollers (parent pointers).
 */
#ifndef WEFT_SCHED_CORE_H
#define WEFT_SCHED_CORE_H

#include "arch/arch.h"
#include "stack/stack.h"
#include "util/list.h"
#include "util/lock.h"
#include "util/sanitize.h"
#include "weft.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct weft__rt weft__rt;
typedef struct weft__co weft__co;
typedef struct weft__waker weft__waker;
typedef struct weft__chan weft__chan;
struct weft__pool;
struct weft__io;
struct weft__obs;
struct weft__exit_hook;
struct weft__timer_entry;
struct weft__timer;

/* ---- cross-thread posts ------------------------------------------------- */

/* A node another thread posts to a runtime's inbox; the runtime calls run()
 * on its own thread.  The poster keeps the node alive until run() is called
 * (a runtime drains its inbox before it ends). */
typedef struct weft__remote {
    struct weft__remote *next;
    void (*run)(weft__rt *rt, struct weft__remote *r);
} weft__remote;

/* ---- the core's hooks: how the layers above watch it -------------------- */

/*
 * Calls the core (sched/) makes into whoever watches it, without naming it:
 * obs/ fills rt->hooks at the start of weft_run when a timeline, the
 * slow-poll warning or the dump signal is asked for, and empties it at the
 * end (weft__obs_start, weft__obs_stop).  As tokio's runtime hooks and Go's
 * trace hooks are called from the scheduler without it knowing the tracer,
 * and as the Rules of docs/DESIGN.md ask: a lower layer takes what it needs
 * from above as a callback in a table it owns.
 *
 * Each pointer is NULL while off, and the core tests it before the call:
 * one predictable branch on the switch and on a task's wake (the waker is
 * chosen at spawn), nothing more.  Set and cleared only on rt's thread
 * while no blocking job runs (the pool starts after weft__obs_start and has
 * stopped before weft__obs_stop), so pool threads read them unlocked.
 */
typedef struct weft__hooks {
    /* A switch from `from` to `to` on rt's thread, before it happens
     * (timeline slices, the slow-poll warning, the longest run). */
    void (*on_switch)(weft__rt *rt, const weft__co *from, const weft__co *to);
    /* Task t of rt was queued by its waker (the timeline's flow arrow). */
    void (*on_wake)(weft__rt *rt, weft_task *t);
    /* Blocking job t ran on a pool thread from start_ns to end_ns
     * (CLOCK_MONOTONIC, weft__clock_mono).  [any thread] */
    void (*on_job)(weft__rt *rt, const weft_task *t, uint64_t start_ns,
                   uint64_t end_ns);
    /* 1 if a dump was asked for since the last one: a handing-over task
     * then ends its batch, so that the loop writes the dump now. */
    int (*dump_pending)(const weft__rt *rt);
} weft__hooks;

/* ---- wakers ------------------------------------------------------------- */

struct weft__waker {
    void (*wake)(weft__waker *w);
};

static inline void weft__wake(weft__waker *w) { w->wake(w); }

/* ---- coroutines --------------------------------------------------------- */

enum { WEFT__FRESH, WEFT__RUNNING, WEFT__SUSPENDED, WEFT__DEAD };

struct weft__co {
    weft__ctx ctx;      /* saved registers while not running */
    weft__stack *stack; /* NULL until first run, and after death */
    weft__co *resumer;  /* who resumed it: where a suspend returns to */
    weft__co *parent;   /* enclosing coroutine (cancellation), or NULL */
    weft__waker *waker; /* current waker, set by whoever polls it */
    weft_task *task;    /* the task this coroutine belongs to */
    weft_fn *fn;
    void *arg;
    void *result;
    void (*drop_arg)(void *);
    size_t stack_size;    /* 0 = the runtime's default */
    const char *name;     /* the task's or async block's name, or NULL;
                             a task owns its copy (freed with the task) */
    const char *wait;     /* what it waits on while suspended (reports) */
    const void *wait_obj; /* the leaf future or the combinator frame */
    uint64_t wait_since;  /* rt->now_cached when the wait began (dumps) */
    int status;           /* when DEAD: 0, or -ECANCELED */
    int saved_errno;
    uint8_t wait_kind;   /* WEFT__WAIT_* */
    uint8_t state;       /* WEFT__FRESH ... */
    uint8_t cancel;      /* cancellation requested on this coroutine */
    uint8_t cancel_seen; /* a call in its body returned -ECANCELED (or
                            weft_is_cancelled 1): it returns because of a
                            cancellation, with status -ECANCELED */
#ifdef WEFT__ASAN
    void *asan_fake_stack;
#endif
#ifdef WEFT__TSAN
    void *tsan_fiber;
#endif
};

enum { WEFT__WAIT_LEAF, WEFT__WAIT_COMBINATOR };

/* ---- tasks -------------------------------------------------------------- */

#define WEFT__TASK_MAGIC 0x7461736bU /* "task" */
#define WEFT__TASK_FREED 0x64656164U /* "dead" */

/* Kept small: a million parked tasks cost a million of these (flags are
 * bytes, the name lives in co.name, sanitizer fields only in sanitizer
 * builds, a blocking job's two links share memory). */
struct weft_task {
    weft__co co;
    unsigned magic;
    uint8_t queued;   /* on the run queue */
    uint8_t released; /* handle joined or detached */
    uint8_t joining;  /* a join (or task future) is waiting on it */
    /* blocking jobs (sched/blocking.c) */
    uint8_t blocking;     /* runs on the blocking pool, not as a coroutine */
    uint8_t job_taken;    /* a pool thread took it (under the pool lock) */
    uint8_t result_taken; /* a join collected the result */
    uint8_t slow_warned;  /* the slow-poll warning named it (obs/) */
    uint8_t flow_pending; /* traced: woken, its flow arrow not ended */
    uint8_t handed;       /* queued by a hand-off (weft__runq_hand) */
    weft__rt *rt;
    uint64_t id;
    weft__waker waker;       /* queues the task */
    weft__waker *join_waker; /* the coroutine waiting in a join, if any */
    union {
        weft__link runq;   /* in rt->runq while queued; a blocking job: in
                              the pool's queue until a thread takes it */
        weft__remote done; /* a blocking job, once taken: posted by the
                              pool thread when it returns */
    };
    weft__link all;                    /* in rt->tasks from spawn to free */
    void (*drop_result)(void *result); /* frees an uncollected result */
};

/* ---- the runtime -------------------------------------------------------- */

/* Counters behind weft_runtime_stats (a plain increment each, no clock). */
typedef struct weft__counters {
    uint64_t spawned, finished, polls, parks, remote_wakes, timers_fired,
        io_events;
    uint64_t longest_run_ns; /* measured while obs timing is on */
} weft__counters;

/*
 * The runtime: one sub-struct per module, each owned (written) by that
 * module and read by the few listed beside it.  The core's own fields come
 * first, the switch path's in the first cache lines (main_co, current,
 * back_from, batch_left, runq, yielded); the counters, the clock read of the
 * round and the hooks that every switch and park touch stay together.  A
 * module above the core keeps its state here by value, typed by fields the
 * core never reads (time, inbox, chan, sync, loop, obs), or by a pointer to
 * an incomplete type it defines (io): so this header includes none of theirs.
 */
struct weft__rt {
    /* core (sched/runtime.c, sched/task.c): the switch and the run queue */
    weft__co main_co;  /* the scheduler, on the thread's own stack */
    weft__co *current; /* the coroutine on the CPU */
    weft_task *root;
    weft__co *back_from; /* the coroutine that last switched away */
    unsigned batch_left; /* runs left in this batch (see sched_loop) */
    weft__link runq;     /* FIFO of queued tasks */
    weft__link yielded;  /* tasks that yielded: queued after the timers */
    /* A woken task is queued before this link: &runq (the tail) but while
     * the timers fire (the head, behind what timers woke before: see
     * loop.c's service) and while a yield queues its own task (&yielded). */
    weft__link *wake_at;
    /* The last of the tasks at the head of runq that timers woke, or NULL
     * when none is queued (weft__runq_take keeps it on the queue). */
    weft__link *timer_last;
    /* Runs in a row of tasks queued by a hand-off (weft__runq_hand). */
    unsigned handoff_run;
    /* Runs in this batch of tasks that timers woke, and how many runs the
     * batch still owes the tasks queued behind them (weft__runq_next). */
    unsigned timer_runs, behind_owed;
    weft__link tasks; /* every task not yet freed */
    size_t live;      /* tasks not yet DEAD */
    uint64_t next_id;
    weft_config cfg;
    int shutting_down;

    /* driver: the clock and the timer heap (time/timer.c; vnow is read and
     * advanced by sched/runtime.c's clock and by the loop) */
    struct weft__rt_time {
        uint64_t vnow; /* virtual clock */
        uint64_t timer_seq;
        struct weft__timer_entry *heap; /* 4-ary min-heap on (deadline, seq) */
        size_t heap_len, heap_cap;
        /* the slot table, heap_cap long: slot_pos[id] is the heap position
         * of the timer holding slot id (while id is free: the next free
         * id + 1, 0 ending the list), slot_timer[id] that timer; slot_len
         * ids handed out so far, the free ones in a LIFO list from
         * slot_free (id + 1; 0 when none is free) */
        uint32_t *slot_pos;
        struct weft__timer **slot_timer;
        uint32_t slot_len, slot_free;
    } time;

    /* stacks (stack/, used by sched/runtime.c and the loop) */
    struct weft__rt_stacks {
        weft__stack_pool pool;
        void *main_lo; /* the thread's stack, for sanitizers */
        size_t main_size;
    } stacks;

    /* driver: the inbox, the one cross-thread wake path (sched/runtime.c):
     * work posted by other threads, run here; efd is also registered in
     * the reactor (io/) */
    struct weft__rt_inbox {
        weft__lock lock;
        weft__remote *head; /* LIFO of posted nodes */
        int posted;         /* head non-empty (under lock) */
        int efd;            /* eventfd written when the inbox fills */
    } inbox;

    /* blocking jobs (sched/blocking.c) */
    struct weft__rt_blocking {
        struct weft__pool *pool; /* spawn_blocking threads, or NULL */
        size_t jobs;             /* spawned and not yet finished */
    } blocking;

    /* leaves and sync: who waits here (the loop's deadlock test reads them) */
    struct weft__rt_chan {
        weft__link waits; /* channel sends and receives (chan/chan.c) */
    } chan;
    struct weft__rt_sync {
        weft__link waits; /* semaphore, mutex and notify waits (sync/) */
    } sync;

    /* driver: the I/O reactor (io/), NULL until first used */
    struct weft__io *io;

    /* the loop (loop/loop.c) */
    struct weft__rt_loop {
        struct weft__exit_hook *exit_hooks; /* run by rt_destroy
                                               (weft__rt_on_exit) */
        int deadlocked;
    } loop;

    /* core, read by obs/: the clock read once per scheduling round (wait
     * durations), the counters of weft_runtime_stats, and the hooks the
     * core calls (obs/ fills them) */
    uint64_t now_cached;
    weft__counters stats;
    weft__hooks hooks;

    /* obs/'s own state, which the core never reads */
    struct weft__rt_obs {
        int dump_signal;         /* WEFT_DUMP_SIGNAL's number, or 0 */
        uint64_t dump_seen;      /* its deliveries already answered */
        struct weft__obs *state; /* trace/slow-poll state, NULL unless on */
    } obs;

    /* task structs recycled within this runtime (sched/task.c) */
    struct weft__rt_task_mem {
        weft_task *free;      /* oldest first: reused first-in first-out */
        weft_task *free_tail; /* newest */
        size_t free_count;
        struct weft__task_slab *slabs; /* where task structs come from */
        size_t slab_used;              /* structs handed out of the first */
    } task_mem;

    /* the overflow report (sched/report.c) */
    struct weft__rt_fault {
        void *altstack; /* signal stack for the overflow report */
        stack_t old_altstack;
    } fault;
};

extern _Thread_local weft__rt *weft__tls_rt;

/* ---- scheduler (sched/runtime.c, sched/task.c) -------------------------- */

/* The runtime of this thread if called from one of its coroutines. */
static inline weft__rt *weft__rt_here(void)
{
    weft__rt *rt = weft__tls_rt;
    return rt && rt->current != &rt->main_co ? rt : NULL;
}

/* A task's first run takes a stack and writes a page that may be new
 * (1-18 us, bench/pages): while a timer is armed it counts WEFT__FRESH_RUN
 * runs of the batch (see loop.c's sched_loop), so that expired timers are
 * checked after 8 such starts rather than 64.  Called before the run's own
 * count. */
#define WEFT__FRESH_RUN 8u
static inline void weft__batch_fresh(weft__rt *rt)
{
    if (rt->time.heap_len && rt->batch_left > WEFT__FRESH_RUN)
        rt->batch_left -= WEFT__FRESH_RUN - 1;
}

/* Wakes w with its task queued in rt->yielded, behind what the timers and
 * the inbox wake next (a yield; the I/O budget), as tokio defers
 * yield_now's wake. */
static inline void weft__wake_behind(weft__rt *rt, weft__waker *w)
{
    rt->wake_at = &rt->yielded;
    weft__wake(w);
    rt->wake_at = &rt->runq;
}

/* Takes t (queued) off rt->runq. */
static inline void weft__runq_take(weft__rt *rt, weft_task *t)
{
    if (rt->timer_last == &t->runq) /* the timers' segment ends earlier */
        rt->timer_last = t->runq.prev == &rt->runq ? NULL : t->runq.prev;
    weft__list_remove(&t->runq);
    t->queued = 0;
}

/* Takes t off rt->runq to run it now (weft__runq_next's choice).  Counts
 * the hand-offs run in a row; the run of a task that a timer woke (the head
 * while the timers' segment is queued) neither counts nor ends the row, so
 * frequent timers cannot lift the bound. */
static inline void weft__runq_pop(weft__rt *rt, weft_task *t)
{
    if (__builtin_expect(rt->timer_last != NULL, 0)) {
        if (rt->runq.next == &t->runq) { /* a timer's wake */
            rt->timer_runs++;
            weft__runq_take(rt, t);
            return;
        }
        rt->behind_owed--; /* weft__runq_next's choice */
    }
    if (__builtin_expect(t->handed, 0)) {
        rt->handoff_run++;
        t->handed = 0;
    } else {
        rt->handoff_run = 0;
    }
    weft__runq_take(rt, t);
}

/*
 * Timers cannot starve the queue: a batch that used all its runs but ran
 * fewer than WEFT__BEHIND_MIN tasks queued behind the timers' wakes (runs,
 * rt->stats.polls, less rt->timer_runs) owes them the difference in the
 * next batch (loop.c): its first runs take the first task behind the
 * timers' segment instead of the head.  So when
 * timers wake a batch of tasks at every check, the rest of the queue still
 * gets 8 of every 64 runs.
 */
#define WEFT__BEHIND_MIN 8u

/* The task to run next: the head of rt->runq (not empty), or the first
 * task behind the timers' wakes while the batch owes them runs. */
static inline weft_task *weft__runq_next(weft__rt *rt)
{
    weft__link *l = rt->runq.next;
    if (__builtin_expect(rt->timer_last != NULL, 0) && rt->behind_owed &&
        rt->timer_last->next != &rt->runq)
        l = rt->timer_last->next;
    return weft__container(l, weft_task, runq);
}

/*
 * Hand-offs: depth first where one task waits on another.  A task that
 * joins a task not yet started runs it next (weft_task_join:
 * weft__runq_hand); a task that returns hands over to the task joining it
 * (weft__task_finished: weft__wake_hand).  Both queue at the head of the
 * run queue, behind what the timers woke, as tokio's LIFO slot and Go's
 * runnext take the task the running one readied.  At most
 * WEFT__HANDOFF_MAX hand-offs run in a row (rt->handoff_run, counted by
 * weft__runq_pop): then the next one is an ordinary wake, queued at the
 * tail, so that a chain of hand-offs (a task that spawns and joins in a
 * loop) cannot starve the queue.  256: skynet's subtrees of 111 tasks (221
 * runs) fit in one chain; with 128, skynet peaked at 78 MiB, not 17.
 */
#define WEFT__HANDOFF_MAX 256u
static inline weft__link *weft__handoff_at(weft__rt *rt)
{
    return rt->timer_last ? rt->timer_last->next : rt->runq.next;
}

/* Moves t (queued) to the hand-off place, if a hand-off may run now. */
static inline void weft__runq_hand(weft__rt *rt, weft_task *t)
{
    if (rt->handoff_run >= WEFT__HANDOFF_MAX)
        return;
    weft__runq_take(rt, t);
    weft__list_push(weft__handoff_at(rt), &t->runq);
    t->queued = 1;
    t->handed = 1;
}

/* Wakes w as a hand-off if one may run now (its task queued at the
 * hand-off place, marked), else as any wake. */
static inline void weft__wake_hand(weft__rt *rt, weft__waker *w)
{
    if (rt->handoff_run >= WEFT__HANDOFF_MAX) {
        weft__wake(w);
        return;
    }
    weft__link *saved = rt->wake_at, *at = weft__handoff_at(rt);
    weft__link *before = at->prev;
    rt->wake_at = at;
    weft__wake(w);
    rt->wake_at = saved;
    if (at->prev != before) /* a task was queued there: mark it */
        weft__container(at->prev, weft_task, runq)->handed = 1;
}

int weft__cancelled(const weft__co *co);
/* A cancellation point in co's body: as weft__cancelled, and when 1 the
 * body has seen its cancellation (its status will be -ECANCELED). */
int weft__cancel_point(weft__co *co);
void weft__co_suspend(weft__rt *rt);
/* Parks the running coroutine co until its waker is called: records what it
 * waits on for reports and dumps (what: a static string; kind WEFT__WAIT_*;
 * obj: the leaf future or the combinator frame, NULL for none), suspends,
 * and clears the record once resumed.  The one park of every wait. */
static inline void weft__park(weft__rt *rt, weft__co *co, const char *what,
                              int kind, const void *obj);
/* Resumes co (FRESH or SUSPENDED) from the running coroutine until it
 * suspends or dies; a FRESH co that is already cancelled dies unrun. */
void weft__co_resume(weft__rt *rt, weft__co *co);
/* Gives a dead coroutine's stack back to the pool. */
void weft__co_release(weft__rt *rt, weft__co *co);
uint64_t weft__clock_now(weft__rt *rt);
/* CLOCK_MONOTONIC in ns, whatever rt's clock (the idle wait's deadlines). */
uint64_t weft__clock_mono(void);
void weft__task_detach_internal(weft_task *t);
/* A new task on rt->tasks; queued unless blocking.  NULL with errno. */
weft_task *weft__task_new(weft__rt *rt, const weft_spawn_opts *opts,
                          weft_fn *fn, void *arg, int blocking);
void weft__task_finished(weft__rt *rt, weft_task *t);
/* Frees every task struct (at the end of weft_run). */
void weft__task_free_all(weft__rt *rt);
/* Requests the cancellation of every task of rt (the deadlock report). */
void weft__cancel_all(weft__rt *rt);
/* The root returned: cancel every other task. */
void weft__shutdown(weft__rt *rt);
/* The task's name for reports ("" when it has none). */
const char *weft__task_name(const weft_task *t);
/* Names (of tasks and async blocks) are kept to this many bytes. */
#define WEFT__NAME_MAX 96
/* A copy of name as reports, dumps and timelines show it: at most
 * WEFT__NAME_MAX bytes, cut at a UTF-8 character boundary, with control
 * characters (newlines, tabs, escapes) shown as '?', so that a report line
 * stays one line.  NULL with errno ENOMEM. */
char *weft__name_copy(const char *name);
/* Requests cancellation (abort, shutdown, deadlock). */
void weft__task_cancel(weft__rt *rt, weft_task *t);
/* The blocking pool: cancel a job if not started, tear down. */
int weft__blocking_cancel(weft__rt *rt, weft_task *t);
/* 1 when a pool thread has taken job t (read under the pool's lock). */
int weft__blocking_taken(weft__rt *rt, const weft_task *t);
void weft__blocking_destroy(weft__rt *rt);
/* ---- futures (future/future.c) ------------------------------------------ */

/*
 * The poll protocol.  poll() is called from the coroutine that owns the
 * future (the caller of a combinator) with the waker to register; it returns
 * 1 when the future is done (status and result set) or 0 when pending (the
 * waker will be called once it may make progress).  cancel() is called on a
 * started, unfinished future: it deregisters everything and, for an async
 * block, drives the body until it has returned; it returns 1 when the
 * operation turned out to have completed already (a bounded send whose item
 * a receiver took), with status and result set: nothing is lost then. cleanup()
 * releases what the future holds (calling drop_arg when an async body never
 * ran, detaching a task that was not joined) without freeing the future itself,
 * so leaf futures can live on the waiting coroutine's stack.
 */
typedef struct weft__future_ops {
    const char *what; /* for reports: "sleep", "channel receive", ... */
    int (*poll)(weft_future *f, weft__rt *rt, weft__waker *w);
    int (*cancel)(weft_future *f, weft__rt *rt);
    void (*cleanup)(weft_future *f);
    /* Optional: what a parked f waits on, in words, with its details ("sleep
     * until 2.000 s", "join of task 7"), NUL-terminated in buf[0..n).  When
     * NULL, reports print `what`.  Reads f only: never changes state. */
    void (*describe)(const weft_future *f, weft__rt *rt, char *buf, size_t n);
} weft__future_ops;

#define WEFT__FUTURE_MAGIC 0x66757475U /* "futu" */

struct weft_future {
    const weft__future_ops *ops;
    unsigned magic;
    int started; /* polled at least once */
    int claimed; /* seen by a combinator's argument check */
    int done;
    int status;
    void *result;
};

/* ---- cross-thread posts (sched/runtime.c) ------------------------------ */

/* Posts r to rt's inbox and wakes rt's thread if it may be waiting.
 * [any thread] */
void weft__post(weft__rt *rt, weft__remote *r);
/* Takes r back out of rt's inbox: 1, or 0 when it is not there (never
 * posted, or already taken by a drain that is about to run it).
 * [rt's thread] */
int weft__unpost(weft__rt *rt, weft__remote *r);
/* Runs every node posted to rt's inbox.  [rt's thread] */
void weft__inbox_drain(weft__rt *rt);

static inline void weft__park(weft__rt *rt, weft__co *co, const char *what,
                              int kind, const void *obj)
{
    co->wait = what;
    co->wait_kind = (uint8_t)kind;
    co->wait_obj = obj;
    co->wait_since = rt->now_cached;
    rt->stats.parks++;
    weft__co_suspend(rt);
    co->wait = NULL;
    co->wait_obj = NULL;
}

/* ---- the await of a leaf (sched/runtime.c) ----------------------------- */

/* Blocking form of a leaf: poll f with the current coroutine's waker until
 * it is done or the coroutine is cancelled (then f is cancelled and
 * -ECANCELED returned).  Does not clean f up.  The one wait of every
 * blocking form: sleep, send, receive, join, fd and signal waits. */
int weft__await_leaf(weft__rt *rt, weft_future *f);

/* ---- faults (sched/report.c) -------------------------------------------- */

int weft__fault_setup(weft__rt *rt);
void weft__fault_teardown(weft__rt *rt);
/* Reports a stack overflow of co (addr: the faulting address, or NULL for
 * an overwritten canary) and aborts. */
void weft__report_overflow(const weft__co *co, const void *addr);

#endif
