/*
 * weft.h - the public interface of weft, an async runtime for C.
 *
 * weft runs tasks and async blocks written as ordinary straight-line C on
 * stackful coroutines, with the semantics of Rust's trpl/tokio/futures stack
 * (chapter 17 of the Rust book): lazy futures, fair join, biased race,
 * timeouts, timers and channels.  This header is the specification: every
 * sentence below is meant to be testable.
 *
 * Conventions (all functions):
 *  - int results: >= 0 is success, a negative errno value is failure
 *    (-EINVAL bad argument, -ENOMEM out of memory, -ECANCELED cancelled,
 *    -ETIMEDOUT, -EPIPE channel closed, -EDEADLK deadlock, -EPERM called
 *    outside a runtime, -EAGAIN would block, -EBUSY runtime already running
 *    or another receive / join_next already waiting on the same handle).
 *  - Pointer results: NULL on failure with errno set (read it before the next
 *    suspending call, which may change it).
 *  - Durations and instants are uint64_t nanoseconds.  Instants come from
 *    weft_now() and are on the runtime's clock.
 *  - [task]: only while weft_run() is running on the calling thread, from
 *    inside a task or an async block; elsewhere -EPERM (or NULL with errno
 *    EPERM).  [any thread]: from any thread, inside or outside a runtime.
 *  - Every suspending call is a cancellation point: once the calling task
 *    (or an async block, or any future enclosing it) is cancelled, it returns
 *    -ECANCELED at once, every time, so the code can unwind and free what it
 *    owns.
 *  - Handles are owned by the caller until a function that "consumes" them
 *    is called.  NULL handles are rejected with -EINVAL, never dereferenced.
 *    A consumed handle must not be used again: weft reports such a use
 *    (-EINVAL) as long as the handle's memory has not been reused by a
 *    later object (a runtime keeps its task structs until it ends and reuses
 *    them first-freed first-reused, so a stale task handle is caught until
 *    every struct freed before it has been reused); the same future given
 *    twice to a combinator is rejected with -EINVAL.
 *    A function that consumes several handles consumes all of them, also when
 *    it fails (a NULL among them is an -EINVAL, the others are dropped), so
 *    weft_join(weft_async(...), weft_async(...)) never leaks.
 *  - Each task (and async block) keeps its own errno and its own
 *    floating-point control state (rounding mode, exception masks,
 *    flush-to-zero) across suspensions.  The floating-point exception flags
 *    (fetestexcept) are not part of it: after a suspending call they may
 *    hold flags raised by other tasks.  Clear them (feclearexcept) and test
 *    them with no suspending call in between.
 *  - Scheduling is cooperative: a task runs until it reaches a suspending
 *    call that actually waits.  A loop whose operations are always ready
 *    (receiving from a channel that always has items, an interval that is
 *    behind) never lets other tasks run; call weft_yield() in such loops.
 *  - Run order: queued tasks run first queued, first run, but for those
 *    that expiring timers wake: they go ahead of the others, in deadline
 *    order (as Go runs a goroutine its timer readied next).  Expired timers
 *    are checked after every 64 task runs, so a timer is late by about one
 *    such batch, not by the length of the queue (100,000 tasks not yet
 *    started, say).  Hand-offs go ahead too, behind what the timers
 *    woke: a task that joins a task not yet started (weft_task_join) runs
 *    it next, and a task that returns is followed by the task joining it
 *    (weft_task_join, a task future in a combinator, weft_group_join_next)
 *    unless that task is queued already (woken by something else first:
 *    it keeps its place), as tokio's LIFO slot and Go's runnext run the
 *    task that the running one readied.  So a tree of tasks that spawn and
 *    join their children runs depth first, with few stacks in use at once.
 *    At most 256 hand-offs run in a row (runs of what timers woke, between
 *    them, neither count nor end the row); the next one is queued at the
 *    tail like any wake, so a task that spawns and joins in a loop cannot
 *    starve the tasks queued before.  Nor can timers: a batch of 64 runs
 *    that ran fewer than 8 tasks queued behind the timers' wakes owes them
 *    the difference, and the next batch runs them first, so they get at
 *    least 8 of every 64 runs however many tasks the timers wake.  On one
 *    thread the order is deterministic.
 *    I/O operations are the exception: as tokio's coop budget, a task
 *    that completes WEFT_IO_BUDGET (128) I/O operations in a row without
 *    waiting yields before its next one (see "I/O" below).  Channel
 *    receives and intervals have no budget.
 *  - Stacks: each task and each concurrently polled async block runs on its
 *    own stack (weft_config.stack_size, WEFT_STACK_DEFAULT) with a 64 KiB
 *    guard region below it.  An overflow into the guard is reported on
 *    stderr (task name, id, stack size) and the process aborts.  A single
 *    frame larger than the guard can jump over it into a neighbouring
 *    stack: compile code that uses large local arrays with
 *    -fstack-clash-protection, which makes such frames touch every page.
 *  - Out of memory (or of threads, mappings, file descriptors): the call
 *    that needed the resource fails with -ENOMEM (NULL, errno ENOMEM; or
 *    the failing call's errno: EAGAIN for a thread, EMFILE for the eventfd)
 *    and leaves nothing half-built: a failed spawn or constructor creates
 *    nothing and calls drop_arg; a failed send keeps the item the caller's;
 *    a failed weft_run runs nothing.  A task or async block whose stack
 *    cannot be had never runs: it joins/awaits with -ENOMEM.  A wait that
 *    needs memory (a timer heap that must grow) returns -ENOMEM from the
 *    waiting call.  Every one of these paths runs in the failure-injection
 *    test build (tests/test_fault.c).
 */
#ifndef WEFT_H
#define WEFT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>      /* FILE (weft_dump) */
#include <sys/socket.h> /* struct sockaddr_storage, socklen_t (I/O) */
#include <sys/types.h>  /* ssize_t */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(WEFT_BUILDING)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0

/* Durations in nanoseconds. */
#define WEFT_NS(n)  ((uint64_t)(n))
#define WEFT_US(n)  ((uint64_t)(n)*UINT64_C(1000))
#define WEFT_MS(n)  ((uint64_t)(n)*UINT64_C(1000000))
#define WEFT_SEC(n) ((uint64_t)(n)*UINT64_C(1000000000))

/* Returns "MAJOR.MINOR.PATCH" of the library linked in.  [any thread] */
WEFT_API const char *weft_version(void);

/*
 * weft_strerror - a short English description of an error code.
 *
 * Accepts the negative values this library returns (and positive errno values
 * alike), e.g. "channel closed" for -EPIPE, "operation cancelled" for
 * -ECANCELED, "deadlock: no task can make progress" for -EDEADLK; other
 * errno values (e.g. -EISDIR from weft_read_to_string) get the C library's
 * description; unknown codes and INT_MIN give "unknown error".  The string
 * is static; never free it.
 * [any thread]; modelled on libuv's uv_strerror.
 */
WEFT_API const char *weft_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Runtime (trpl::run / tokio's Runtime::block_on)                           */
/* ------------------------------------------------------------------------ */

/* Body of a task or an async block: receives arg, returns the result. */
typedef void *weft_fn(void *arg);

enum {
    WEFT_CLOCK_MONOTONIC = 0, /* real time: CLOCK_MONOTONIC                */
    WEFT_CLOCK_VIRTUAL = 1    /* time jumps to the next timer when idle    */
};

enum {
    WEFT_DEADLOCK_FAIL = 0, /* report, cancel everything, return -EDEADLK  */
    WEFT_DEADLOCK_WAIT = 1  /* wait forever, as tokio does                 */
};

typedef struct weft_config {
    /* Bytes of stack per task and per concurrently polled async block;
     * 0 = WEFT_STACK_DEFAULT.  Rounded up to whole pages; at least
     * WEFT_STACK_MIN.  Memory is committed by the kernel only when touched. */
    size_t stack_size;
    /* WEFT_CLOCK_MONOTONIC (0, default) or WEFT_CLOCK_VIRTUAL. */
    int clock;
    /* WEFT_DEADLOCK_FAIL (0, default) or WEFT_DEADLOCK_WAIT. */
    int deadlock;
    /* Where to write a timeline of the run (Chrome trace-event JSON, for
     * Perfetto); NULL = the WEFT_TRACE environment variable, if set.  See
     * "Observability".  Not copied: must live until weft_run returns. */
    const char *trace_path;
} weft_config;

#define WEFT_STACK_DEFAULT ((size_t)256 * 1024)
#define WEFT_STACK_MIN     ((size_t)16 * 1024)

/*
 * weft_run - run main(arg) as the root task on the calling thread and block
 * until the runtime is done.  As trpl::run / tokio's Runtime::block_on.
 *
 * When main returns, *result (if result is non-NULL) receives its return
 * value; every task still alive (detached, never joined, sleeping) is then
 * cancelled and driven until it has returned, so nothing leaks; only then does
 * weft_run return 0.
 *
 * Uses the default configuration, except that the environment variable
 * WEFT_CLOCK=virtual selects the virtual clock (so a program's timing can be
 * tested instantly; any other value, or none, keeps real time).  Threads
 * outside the runtime (a pthread that sleeps before it sends) still run in
 * real time.
 *
 * Returns 0; -EINVAL if main is NULL or the stack size is over 1 TiB; -EBUSY
 * if a runtime is already running
 * on this thread (a task calling weft_run); -ENOMEM (or another negative errno)
 * if the runtime could not be set up (nothing runs then); -EDEADLK if the
 * program deadlocked (see weft_run_with), in which case main may not have
 * returned and *result is left unchanged.  [any thread, one runtime each]
 */
WEFT_API int weft_run(weft_fn *main, void *arg, void **result);

/*
 * weft_run_with - weft_run with an explicit configuration (NULL = defaults;
 * the WEFT_CLOCK environment variable is NOT consulted).
 *
 * Virtual clock: time does not pass by itself; whenever no task is runnable,
 * no cross-thread wake is pending, no blocking job runs and no fd a task
 * waits on is ready now, the clock jumps to the earliest armed timer.  The
 * same program runs in the same order as with the real clock, but instantly
 * and deterministically.  It starts at 0.
 *
 * Deadlock: when no task is runnable, no timer is armed and no wake source
 * outside the runtime exists, no task can ever run again.  With
 * WEFT_DEADLOCK_FAIL the runtime prints a report on stderr that begins with
 * "weft: deadlock" and names each blocked task (id and name) and what it
 * waits on, then cancels all tasks, drives them to their return and returns
 * -EDEADLK.  With WEFT_DEADLOCK_WAIT it waits forever instead, as tokio does.
 *
 * The wake sources outside the runtime, which keep it waiting instead of
 * reporting a deadlock, are exactly:
 *  - a task parked in a receive on a channel that still has a sender, when
 *    the channel's sender side is "shared": the channel was created outside
 *    any runtime (e.g. before weft_run, listing 17-42) or on another thread,
 *    or a sender was ever used (send, clone, drop) from a thread other than
 *    the one it was created on, or weft_sender_share() was called; and, on
 *    a channel with several receivers, while a receive of it on another
 *    runtime has been woken (or a wake to one is on its way): it wakes the
 *    next waiting receive when it is done;
 *  - a task parked in a send on a full bounded channel whose receiver is
 *    open, unless every use of that receiver so far (receive, try_recv)
 *    was on this runtime: a receiver never used yet, used on another
 *    thread, or marked with weft_receiver_share() may be used from
 *    elsewhere;
 *  - a task waiting on a semaphore, a mutex or a notify that is "shared":
 *    created outside any runtime, or used (acquire, release, lock, notify,
 *    ...) from a thread other than the one whose runtime created it, or
 *    marked with weft_semaphore_share() / weft_notify_share();
 *  - a blocking job (weft_spawn_blocking) that has not finished;
 *  - a cross-thread wake that has been posted and not yet processed;
 *  - a task waiting on an fd (weft_fd_wait, weft_read, ...) or a signal
 *    (weft_signal_wait): see the I/O section.
 * Only a wait that is registered counts: nothing stays registered after
 * the call that made it returns (weft_stream_next included).  A sender
 * handed to a plain thread that will use it only later must be marked with
 * weft_sender_share() before the hand-over, and a receiver used here and
 * then handed to another thread with weft_receiver_share(); the runtime
 * cannot see such a thread otherwise.
 *
 * Returns as weft_run, plus -EINVAL for an unknown clock or deadlock value.
 * [any thread, one runtime each]
 */
WEFT_API int weft_run_with(const weft_config *config, weft_fn *main, void *arg,
                           void **result);

/*
 * weft_now - the current instant on the runtime's clock, in ns (as
 * tokio::time::Instant::now, which follows tokio's paused clock too): the
 * CLOCK_MONOTONIC reading (real clock) or the virtual time since the runtime
 * started.  Outside a runtime: 0 with errno = EPERM.  [task]
 */
WEFT_API uint64_t weft_now(void);

/* Counters of the calling task's runtime, for tests and monitoring. */
typedef struct weft_stats {
    size_t tasks;         /* tasks spawned and not yet freed (root too) */
    size_t timers;        /* timers armed now */
    size_t stacks_in_use; /* stacks held by running or parked coroutines */
    size_t stacks_pooled; /* stacks carved and free for reuse */
    size_t blocking_jobs; /* weft_spawn_blocking jobs not yet finished */
    /* Totals since weft_run began (what an operator graphs): */
    uint64_t tasks_spawned;  /* tasks and blocking jobs, the root included */
    uint64_t tasks_finished; /* of those, the ones that returned */
    uint64_t polls;          /* times a task was given the thread */
    uint64_t parks;          /* times a task or async block began to wait */
    uint64_t remote_wakes;   /* wakes and completions posted by other
                                threads (channels, sync, blocking jobs) */
    uint64_t timers_fired;
    uint64_t io_events; /* readiness events harvested by the reactor */
    /* The longest a task ran without suspending, in ns; measured only while
     * timing is on (WEFT_TRACE or WEFT_WARN_SLOW_MS), else 0. */
    uint64_t longest_run_ns;
} weft_stats;

/* weft_runtime_stats - fills *out with the runtime's counters (in the
 * spirit of tokio's RuntimeMetrics: counts, and one duration in ns).
 * Returns 0, -EINVAL (NULL out) or -EPERM outside a runtime.  [task] */
WEFT_API int weft_runtime_stats(weft_stats *out);

/* ------------------------------------------------------------------------ */
/* Tasks (trpl::spawn_task, JoinHandle)                                      */
/* ------------------------------------------------------------------------ */

typedef struct weft_task weft_task;
typedef struct weft_future weft_future;

typedef struct weft_spawn_opts {
    /* Shown in reports (deadlock, overflow), dumps and timelines.  Copied,
     * as shown: at most 96 bytes (cut at a UTF-8 character boundary),
     * control characters (newline, tab, ...) replaced by '?', so a report
     * keeps one line per task.  NULL = no name. */
    const char *name;
    /* Bytes of stack; 0 = the runtime's default (weft_config.stack_size). */
    size_t stack_size;
    /* Called exactly once with arg if the body never runs (cancelled before
     * it started, or the spawn/combinator failed), so nothing arg owns leaks.
     */
    void (*drop_arg)(void *arg);
} weft_spawn_opts;

/*
 * weft_spawn - start fn(arg) as a new task.  As trpl::spawn_task /
 * tokio::spawn.
 *
 * The task is queued; it starts no earlier than the spawner's next
 * suspension (in run order, see "Run order"), never inside weft_spawn.  It runs
 * concurrently whether or not its handle is joined. Its stack is taken from the
 * pool when it first runs.  You now own the returned handle: join it or detach
 * it.
 *
 * Returns the handle, or NULL with errno EINVAL (fn NULL, or a stack size
 * over 1 TiB), EPERM (outside a runtime) or ENOMEM.  On failure arg is not
 * touched (weft_spawn_with's drop_arg is called).  [task]
 */
WEFT_API weft_task *weft_spawn(weft_fn *fn, void *arg);

/* weft_spawn with options (opts may be NULL).  See weft_spawn_opts. [task] */
WEFT_API weft_task *weft_spawn_with(const weft_spawn_opts *opts, weft_fn *fn,
                                    void *arg);

/*
 * weft_task_join - wait for the task to return and free the handle.  As
 * awaiting tokio's JoinHandle.  A task that has not started yet runs next,
 * and the caller runs next once it returns (hand-offs, see "Run order").
 *
 * Returns 0 with *result (if non-NULL) = the task's return value; or
 * -ECANCELED if the task was aborted before it returned (it returned because
 * of cancellation, or never ran).  A task returned because of cancellation
 * when a call in it returned -ECANCELED or weft_is_cancelled() returned 1;
 * one aborted while its pending call completed (a bounded send served just
 * then) and that returned without seeing the cancellation completed, and
 * joins with 0.  A task that had returned before weft_task_abort was called
 * joins with 0.  The same rule gives an async block's status.  Consumes task,
 * except when the call returns -EINVAL (NULL task, or a handle already joined
 * or detached) or -EPERM (outside a runtime or another runtime's task).  When
 * the joining task is itself cancelled while waiting, the join returns
 * -ECANCELED and the handle is consumed all the same: the joined task is
 * detached and keeps running, as a JoinHandle dropped with the future awaiting
 * it in tokio.  -EDEADLK if task is the caller itself (or the root task).
 * Suspends.  [task]
 */
WEFT_API int weft_task_join(weft_task *task, void **result);

/*
 * weft_task_abort - request cancellation of the task: its current or next
 * suspending call returns -ECANCELED.  A task that has not started yet never
 * runs (its drop_arg is called).  Idempotent; a no-op on a finished task.
 * The handle must still be joined or detached.  NULL is ignored.  As tokio's
 * JoinHandle::abort.  [task, same runtime]
 */
WEFT_API void weft_task_abort(weft_task *task);

/*
 * weft_task_detach - give the handle up; the task keeps running (dropping a
 * JoinHandle in Rust).  A detached task still alive at shutdown is cancelled.
 * Consumes task.  NULL is ignored.  [task, same runtime]
 */
WEFT_API void weft_task_detach(weft_task *task);

/*
 * weft_spawn_blocking - run fn(arg) on a thread of the runtime's blocking
 * pool, so that blocking calls (a sleeping thread, a slow read) do not stall
 * the other tasks.  As tokio's spawn_blocking (trpl section 17.6).
 *
 * The pool starts threads on demand when none is idle, up to 64, and a
 * thread exits after 10 s without work.  The job is joined, detached and
 * aborted like any task; once started it cannot be interrupted: abort only
 * prevents a job that has not started (its drop_arg is then called and its
 * join returns -ECANCELED).  fn runs on another thread: it must not call
 * [task] functions; [any thread] ones (weft_send on an unbounded channel)
 * are fine.  While a job is unfinished the runtime is not deadlocked, and on
 * the virtual clock time does not jump.  The runtime ends only after every
 * job has returned.  You own the returned handle.
 *
 * Returns the handle, or NULL with errno EINVAL (fn NULL), EPERM (outside a
 * runtime), ECANCELED (the runtime is shutting down), ENOMEM or EAGAIN (no
 * thread could be started); on failure drop_arg (if given) is called.
 * [task]
 */
WEFT_API weft_task *weft_spawn_blocking(weft_fn *fn, void *arg);
WEFT_API weft_task *weft_spawn_blocking_with(const weft_spawn_opts *opts,
                                             weft_fn *fn, void *arg);

/*
 * weft_read_to_string - read the whole file at path on the blocking pool,
 * without stalling other tasks.  As trpl::read_to_string.
 *
 * On success *data is a NUL-terminated buffer you own (free it with free)
 * and *len (if len is non-NULL) its length without the NUL.  Returns 0; the
 * negative errno of the failing open/read (-ENOENT, -EACCES, -EISDIR, ...);
 * -ENOMEM; -EINVAL (NULL path or data); -EPERM outside a runtime;
 * -ECANCELED (the caller was cancelled: *data untouched, the read finishes
 * in the background and its buffer is freed).  Suspends.  [task]
 */
WEFT_API int weft_read_to_string(const char *path, char **data, size_t *len);

/* 1 if the task has returned, else 0 (a task aborted before it started
 * counts as finished once the scheduler has dropped it, at its next turn);
 * -EINVAL for NULL.  As JoinHandle::is_finished.  [task] */
WEFT_API int weft_task_is_finished(const weft_task *task);

/* 1 if cancellation was requested for the calling task or for any future
 * (Rust has no such query: a dropped future just stops being polled; this
 * is libdill's view, where a cancelled coroutine observes ECANCELED)
 * enclosing the caller, else 0 (also outside a runtime).  [task] */
WEFT_API int weft_is_cancelled(void);

/* ------------------------------------------------------------------------ */
/* Futures: async blocks, await, join, race, timeout                         */
/* ------------------------------------------------------------------------ */

/*
 * weft_async - a lazy async block: records fn and arg and does nothing until
 * the future is awaited or given to a combinator, which then runs fn(arg) as
 * a coroutine inside the calling task (Rust's `async { ... }`).  The block
 * may use the caller's locals: combinators return only after it has
 * finished or been cancelled and unwound.
 *
 * Returns the future (you own it: await it, give it to a combinator or drop
 * it), or NULL with errno EINVAL (fn NULL) or ENOMEM.  [any thread; run in a
 * task]
 */
WEFT_API weft_future *weft_async(weft_fn *fn, void *arg);

/* weft_async with options (name, stack size, drop_arg; opts may be NULL).
 * Returns as weft_async; NULL with errno EINVAL also for a stack size over
 * 1 TiB. */
WEFT_API weft_future *weft_async_with(const weft_spawn_opts *opts, weft_fn *fn,
                                      void *arg);

/*
 * weft_await - run the future to completion inside the calling task (`.await`).
 *
 * Returns the future's status: 0 for an async block that returned (*result,
 * if non-NULL, receives its return value), -ECANCELED if it returned because
 * of cancellation; for a leaf future the status of its operation (see the
 * leaf functions).  Consumes f, whatever it returns (NULL: -EINVAL; outside a
 * runtime: -EPERM, and f is dropped).  Suspends.  [task]
 */
WEFT_API int weft_await(weft_future *f, void **result);

/*
 * weft_future_drop - dispose of a future that will not be awaited, as
 * dropping a Rust future (drop(fut)).  If it
 * has started, it is cancelled and driven until its body returns; if it never
 * ran, its drop_arg is called.  Consumes f; NULL is ignored.  [task if the
 * future has started; any thread otherwise]
 */
WEFT_API void weft_future_drop(weft_future *f);

/*
 * weft_join, weft_join3, weft_join_all - run all futures concurrently inside
 * the calling task and return when all have completed.  As trpl::join /
 * futures::join! / futures::future::join_all.
 *
 * Fairness: children are first polled in argument order; afterwards,
 * whenever the join is woken, every child that was woken gets one turn, in
 * argument order, before any gets a second.  results[i] (if results is
 * non-NULL) receives child i's result: an async block's return value, or a
 * leaf future's status as (void *)(intptr_t)status, or a task future's
 * return value.  When the call returns, every child has finished or has been
 * cancelled and fully returned.
 *
 * Returns 0, or the status of the first child in argument order whose status
 * is negative (all children still ran to completion); -ECANCELED if the
 * calling task was cancelled (children are cancelled and unwound first);
 * -EINVAL if a future is NULL or fs is NULL with n > 0 (the others are
 * dropped); -EPERM outside a runtime.  n = 0 returns 0 at once.  Consumes
 * every future.  Suspends.  [task]
 */
WEFT_API int weft_join(weft_future *a, weft_future *b);
WEFT_API int weft_join3(weft_future *a, weft_future *b, weft_future *c);
WEFT_API int weft_join_all(weft_future **fs, size_t n, void **results);

/*
 * weft_race - run the futures until the first completes, then cancel the
 * others and wait until each has unwound.  As trpl::race / futures' select,
 * biased: children are polled in argument order, so when several are ready
 * in the same round the earliest argument wins.
 *
 * Returns the index of the winner (>= 0) with *result (if non-NULL) its
 * result (as for weft_join); -ECANCELED if the calling task was cancelled;
 * -EINVAL if fs is NULL, n is 0 or a future is NULL (the others dropped);
 * -EPERM outside a runtime.  Consumes every future.  Suspends.  [task]
 *
 * A loser may complete while it is being cancelled: a bounded send inside
 * it served by a receiver on another thread in that instant.  weft_race
 * still returns the winner; weft_race_outcomes says which losers did so.
 */
WEFT_API int weft_race(weft_future **fs, size_t n, void **result);

/*
 * weft_race_outcomes - weft_race that reports every child (weft's own; in
 * Rust a dropped loser has simply not completed, as tokio's bounded send
 * writes its item only when polled).  Returns the winner's index as
 * weft_race, and for every i (arrays of n entries, each may be NULL):
 * statuses[i] and results[i] the status and result of child i.  A loser's
 * status is -ECANCELED when it was cancelled before completing; any other
 * status means it completed while being cancelled (its effect happened:
 * statuses[i] and results[i] are its own, as the winner's).  Errors,
 * consumption and suspension as weft_race.  [task]
 */
WEFT_API int weft_race_outcomes(weft_future **fs, size_t n, int *statuses,
                                void **results);

/*
 * weft_timeout - run f for at most timeout_ns.  As tokio::time::timeout and
 * trpl::timeout.
 *
 * f is polled before the timer, so an f that is ready at once wins even with
 * a zero timeout.  If f completes first, returns what weft_await(f, result)
 * would have; otherwise f is cancelled and unwound and -ETIMEDOUT is
 * returned.  An f that completes while it is being cancelled (its pending
 * bounded send served by a receiver on another thread just as the timer
 * fired; an async block returned without seeing the cancellation) has
 * completed: its status and result are returned, never -ETIMEDOUT.  -ECANCELED
 * if the calling task was cancelled; -EINVAL for a NULL f; -EPERM outside a
 * runtime.  Consumes f.  Suspends.  [task]
 */
WEFT_API int weft_timeout(weft_future *f, uint64_t timeout_ns, void **result);

/* ------------------------------------------------------------------------ */
/* Time                                                                      */
/* ------------------------------------------------------------------------ */

/*
 * weft_sleep - suspend the calling task for at least ns nanoseconds (never
 * less; rounded up to the clock's resolution).  Timers with equal deadlines
 * fire in the order they were armed; the task resumes ahead of the tasks
 * queued without a timer (see "Run order" above).  weft_sleep(0) behaves
 * as weft_yield.
 * As trpl::sleep / tokio::time::sleep.  Allocates nothing.
 * Returns 0, -ECANCELED, -EPERM outside a runtime.  Suspends.  [task]
 */
WEFT_API int weft_sleep(uint64_t ns);

/* weft_sleep_until - as weft_sleep (tokio::time::sleep_until), until the
 * instant deadline_ns on the
 * runtime clock (weft_now()); a past deadline yields.  [task] */
WEFT_API int weft_sleep_until(uint64_t deadline_ns);

/*
 * weft_yield - go to the back of the run queue: every task runnable now runs
 * before the caller resumes, and expired timers are serviced.  As
 * trpl::yield_now / tokio::task::yield_now.  Returns 0, -ECANCELED,
 * -EPERM.  Suspends.  [task]
 */
WEFT_API int weft_yield(void);

/*
 * Future forms of the leaf operations (trpl::sleep(d), rx.recv() and a
 * JoinHandle used as futures), so they can be joined, raced or given
 * a timeout.  Each returns a new future that you own, or NULL with errno
 * (EINVAL for a NULL handle, ENOMEM).  Like every future they are lazy: the
 * sleep's deadline is taken when it is first polled.  Its status is what the
 * blocking form returns.
 *
 * weft_recv_future(rx, item): status 1 (item written to *item, which must stay
 * valid until the future completes), 0 (closed and drained) or <0.  A receive
 * that loses a race or is dropped consumes no item.
 *
 * weft_task_future(task): consumes task (also on failure: the task is
 * detached); completes when the task returns; its result is the task's
 * return value, its status that of weft_task_join.
 */
WEFT_API weft_future *weft_sleep_future(uint64_t ns);
WEFT_API weft_future *weft_sleep_until_future(uint64_t deadline_ns);

/* ------------------------------------------------------------------------ */
/* Channels (trpl::channel, tokio::sync::mpsc)                               */
/* ------------------------------------------------------------------------ */

typedef struct weft_sender weft_sender;
typedef struct weft_receiver weft_receiver;

typedef struct weft_channel_opts {
    /* 0 = unbounded (trpl::channel, tokio's unbounded_channel). */
    size_t capacity;
    /* Called on each item discarded unreceived (receiver dropped with items
     * queued); may be NULL.  Receives a pointer to the item's bytes. */
    void (*drop)(void *item);
} weft_channel_opts;

WEFT_API weft_future *weft_recv_future(weft_receiver *rx, void *item);
WEFT_API weft_future *weft_task_future(weft_task *task);

/*
 * weft_channel - create a multi-producer channel of items of item_size
 * bytes (copied in and out by value), with one receiver (more with
 * weft_receiver_clone).  As trpl::channel / tokio's
 * mpsc::unbounded_channel.
 *
 * On success *tx and *rx are new handles you own (drop each when done).
 * Returns 0; -EINVAL (item_size 0 or over 1 GiB, or a NULL out-pointer);
 * -ENOMEM.  A channel
 * created outside a runtime is shared (see weft_run_with).  [any thread]
 */
WEFT_API int weft_channel(size_t item_size, weft_sender **tx,
                          weft_receiver **rx);

/*
 * weft_channel_with - weft_channel with options (opts may be NULL).
 *
 * opts->capacity > 0 makes a bounded channel of exactly that many items (as
 * tokio's mpsc::channel(capacity); cloning senders adds no slots): the slots
 * are allocated now.  Returns as weft_channel; -EINVAL if capacity *
 * item_size exceeds 1 TiB.  [any thread]
 */
WEFT_API int weft_channel_with(size_t item_size, const weft_channel_opts *opts,
                               weft_sender **tx, weft_receiver **rx);

/* weft_sender_clone - another sender for the same channel (Sender::clone).
 * Returns it (you own it), or NULL with errno EINVAL or ENOMEM.  Cloning
 * after the receiver closed works; sends on it return -EPIPE.  [any thread] */
WEFT_API weft_sender *weft_sender_clone(weft_sender *tx);

/* weft_sender_drop - drop a sender, as drop(tx) in Rust.  When the last
 * sender is dropped the
 * channel is closed: queued items stay receivable, then weft_recv returns 0.
 * Consumes tx; NULL is ignored.  A dropped sender must not be used; a use
 * is rejected with -EINVAL while its memory is in the quarantine of
 * dropped ends (see weft_receiver_drop).  [any thread] */
WEFT_API void weft_sender_drop(weft_sender *tx);

/*
 * weft_sender_share - (weft's own: tokio waits forever instead of reporting
 * deadlocks, so it needs no such hint) declare that this channel is (or
 * will be) fed from a
 * thread outside the receiver's runtime, so that a receiver waiting on it is
 * never reported as deadlocked while a sender exists.  Needed only when a
 * sender is handed to a plain thread that uses it for the first time later;
 * a use from another thread marks the channel by itself.  Returns 0 or
 * -EINVAL.  [any thread]
 */
WEFT_API int weft_sender_share(weft_sender *tx);

/*
 * weft_send - send a copy of *item.  As tokio's UnboundedSender::send: on an
 * unbounded channel it never suspends and works from any thread (a plain
 * pthread included: a receiver parked on another thread's runtime is woken
 * through that runtime's eventfd).  FIFO per sender.
 *
 * On a bounded channel (tokio's Sender::send) it suspends while the channel
 * is full, or while other senders are already waiting: waiting senders are
 * served first come, first served, each item copied in as soon as the
 * receiver makes room.  *item must stay valid until the call returns.
 *
 * Returns 0; -EPIPE if the receiver was closed or dropped, also while the
 * sender waited (the item was not taken and is still the caller's); -EINVAL
 * (NULL tx or item); -ENOMEM (unbounded: the item was not taken);
 * -ECANCELED (bounded, cancelled while waiting: the item was not taken;
 * when the receiver took it just before the cancellation, 0 is returned:
 * nothing is lost); -EPERM (bounded and full, called outside a task: use
 * weft_try_send).  [any thread; suspends only on a full bounded channel]
 *
 * Unlike tokio, where a send future dropped before it completes has not
 * sent, a waiting bounded send is served by the receiver copying the item
 * in, so it can complete in the instant its caller is cancelled.  Then it
 * returns 0, and an async block that returns without seeing the
 * cancellation has completed: weft_timeout returns its result, not
 * -ETIMEDOUT, and weft_race_outcomes reports it (weft_race still returns
 * the winner).
 */
WEFT_API int weft_send(weft_sender *tx, const void *item);

/*
 * weft_send_blocking - weft_send for a plain thread, as tokio's
 * Sender::blocking_send: on a full bounded channel the calling thread
 * sleeps (in the kernel, never spinning) until the receiver makes room,
 * waiting in the same first-come-first-served line as senders in tasks, and
 * is woken by the receive that takes an item or by the close.  Returns 0,
 * -EPIPE (the receiver closed or dropped, before or while it waited: the
 * item was not taken), -EINVAL, -ENOMEM (unbounded), or -EPERM when called
 * on a thread running a runtime (in a task it would stall every other task:
 * use weft_send).  Not cancellable.  *item must stay valid until it
 * returns.  [a plain thread]
 */
WEFT_API int weft_send_blocking(weft_sender *tx, const void *item);

/* weft_try_send - as weft_send, never suspending: -EAGAIN when a bounded
 * channel is full or other senders are waiting for room (the item was not
 * taken).  As tokio's Sender::try_send.  [any thread] */
WEFT_API int weft_try_send(weft_sender *tx, const void *item);

/*
 * weft_recv - receive the next item into *item.  As trpl's Receiver::recv.
 *
 * Returns 1 with the item; 0 once the channel is closed (every sender dropped
 * or weft_receiver_close called) and drained, at once and every time
 * thereafter; -ECANCELED (no item consumed); -EINVAL (NULL rx or item);
 * -EPERM outside a runtime; -EBUSY if another receive through the same
 * handle rx is waiting (one receive per handle at a time: tokio's
 * Receiver::recv takes &mut self; give each consumer its own handle with
 * weft_receiver_clone).  Idiom: while (weft_recv(rx, &v) > 0) { ... }.
 * Allocates nothing.  Suspends while the channel is empty and open.  [task]
 */
WEFT_API int weft_recv(weft_receiver *rx, void *item);

/*
 * weft_recv_blocking - weft_recv for a plain thread, as tokio's
 * Receiver::blocking_recv: the calling thread sleeps (never spinning) while
 * the channel is empty and open, in the same line as receives in tasks
 * (several receivers), and is woken by the send or the close.  Returns 1
 * with the item, 0 (closed and drained), -EINVAL, -EBUSY (another receive
 * waits through rx), or -EPERM on a thread running a runtime (use
 * weft_recv).  Not cancellable.  [a plain thread]
 */
WEFT_API int weft_recv_blocking(weft_receiver *rx, void *item);

/* weft_try_recv - as weft_recv without suspending, as tokio's
 * Receiver::try_recv: 1 (item), 0 (closed and
 * drained), -EAGAIN (empty, still open), -EINVAL.  [any thread] */
WEFT_API int weft_try_recv(weft_receiver *rx, void *item);

/*
 * weft_receiver_share - (weft's own, as weft_sender_share) declare that rx
 * is (or will be) used from a thread outside the runtime that used it so
 * far, so that a bounded send waiting on the channel is never reported as
 * deadlocked while the receiver is open.  Needed only for a receiver used
 * on one runtime and then handed to another thread; one never used yet, or
 * used from a second thread, counts as such by itself.  Returns 0 or
 * -EINVAL.  [any thread]
 */
WEFT_API int weft_receiver_share(weft_receiver *rx);

/* weft_receiver_close - close the channel from the receiving side: sends fail
 * with -EPIPE from now on, queued items stay receivable.  Idempotent; NULL is
 * ignored.  As tokio's Receiver::close.  [any thread] */
WEFT_API void weft_receiver_close(weft_receiver *rx);

/*
 * weft_receiver_clone - another receiver of rx's channel, for several
 * consumers (Go's channels, async-channel's Receiver::clone): each item goes
 * to exactly one receive; receives waiting at once (on any handles, tasks,
 * runtimes) are served in the order they began to wait, one wake per item.
 * A woken receive keeps its item: an item kept for a receive that was woken
 * is not taken by one that did not wait (weft_try_recv returns -EAGAIN,
 * a receive just starting waits behind it).
 * The channel stays open for senders until its last receiver is dropped or
 * weft_receiver_close is called on any of them.  With several receivers,
 * items are not handed straight to a parked receive (the single-consumer
 * fast path): they always go through the queue.  Returns a new handle you
 * own (drop it with weft_receiver_drop), or NULL with errno EINVAL (invalid
 * rx) or ENOMEM.  [any thread]
 */
WEFT_API weft_receiver *weft_receiver_clone(weft_receiver *rx);

/*
 * weft_receiver_drop - drop a receiver, as drop(rx) in Rust.  While other
 * receivers of the channel (weft_receiver_clone) live, only this handle
 * goes.  Dropping the last one closes the channel and discards the queued
 * items (each passed once to opts.drop), an item already sent to a waiting
 * receive but not yet taken by it included.  Consumes rx; NULL is ignored.
 *
 * A receive in progress through rx (a task waiting in weft_recv, possibly
 * woken but not yet run; a receive future made from rx) goes on as if rx
 * were still there: after the last receiver's drop it returns 0 (the end,
 * as after weft_receiver_close), else it gets an item as usual.  rx's
 * memory is released when the last of them ends, never before.  Tokio
 * cannot express this (recv borrows the receiver); weft makes it safe.
 *
 * A dropped handle must not be used; a use is rejected (-EINVAL, or NULL
 * with errno EINVAL) as long as the handle's memory is kept poisoned: the
 * last 256 dropped channels and handles are (a quarantine, as for tasks).
 * [any thread] */
WEFT_API void weft_receiver_drop(weft_receiver *rx);

/* ------------------------------------------------------------------------ */
/* Coordination: semaphores, mutexes, notify, task groups (tokio::sync,      */
/* JoinSet)                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * Semaphores, mutexes and notifies are leaf operations: the blocking forms
 * (weft_semaphore_acquire, weft_mutex_lock, weft_notified) suspend the
 * calling task and allocate nothing; the future forms (..._future) can be
 * joined, raced or given a timeout.  Waiters are served first come, first
 * served.  Cancellation loses nothing: a wait that is cancelled (the task
 * aborted, a race lost, a timeout) returns -ECANCELED and holds nothing
 * (no permit, not the mutex, no notification), also when the object was
 * handed to it in the same instant: what it was given is passed on to the
 * next waiter (or stored), as if it had never waited.
 *
 * In the deadlock report a waiting task reads "semaphore 0x... (N
 * permits)", "mutex 0x...", "notify 0x..." or "task group 0x... (N
 * tasks)".  Such a wait is a wake source outside the runtime only when the
 * object is shared (see weft_run_with).
 *
 * An object must not be freed while a task waits on it or while a future of
 * it exists; freeing one that tasks wait on (or a locked mutex) is reported
 * on stderr and the object is kept (not freed), never corrupted.  A NULL or
 * freed handle is rejected (-EINVAL, NULL with errno EINVAL, or ignored by
 * the void functions) as long as its memory has not been reused.
 */

/* The most permits a semaphore holds (tokio's Semaphore::MAX_PERMITS). */
#define WEFT_SEMAPHORE_MAX (SIZE_MAX >> 3)

typedef struct weft_semaphore weft_semaphore;

/* weft_semaphore_new - a semaphore holding permits permits (tokio's
 * Semaphore::new).  You own it: free it with weft_semaphore_free.  NULL
 * with errno EINVAL (more than WEFT_SEMAPHORE_MAX) or ENOMEM.  A semaphore
 * created outside a runtime is shared.  [any thread] */
WEFT_API weft_semaphore *weft_semaphore_new(size_t permits);

/*
 * weft_semaphore_acquire - take n permits, suspending until they are free
 * and every earlier waiter has been served (tokio's acquire_many: fair, so
 * a large request at the head of the queue is not overtaken by smaller ones
 * behind it, and permits released meanwhile wait for it).  n = 0 is ready
 * at once.  The permits are the caller's until weft_semaphore_release gives
 * them back (a task that ends holding permits does not give them back).
 *
 * Returns 0; -ECANCELED (cancelled while waiting: no permit is taken);
 * -EINVAL (NULL or freed s, n over WEFT_SEMAPHORE_MAX); -EPERM outside a
 * runtime.  Allocates nothing.  Suspends.  [task]
 */
WEFT_API int weft_semaphore_acquire(weft_semaphore *s, size_t n);

/* weft_semaphore_acquire_future - weft_semaphore_acquire as a future (status
 * 0 once the n permits are the caller's).  A future that loses a race, times
 * out or is dropped takes no permit.  NULL with errno EINVAL or ENOMEM.  Poll
 * it from one runtime's tasks.  [any thread; run in a task] */
WEFT_API weft_future *weft_semaphore_acquire_future(weft_semaphore *s,
                                                    size_t n);

/* weft_semaphore_try_acquire - take n permits if they are free now and
 * nobody waits (tokio's try_acquire_many): 0 (always for n = 0), or -EAGAIN
 * (nothing taken), -EINVAL.  Never suspends.  [any thread] */
WEFT_API int weft_semaphore_try_acquire(weft_semaphore *s, size_t n);

/*
 * weft_semaphore_release - give n permits back (tokio's add_permits): the
 * waiters at the head of the queue whose requests now fit are served, in
 * order.  A waiter on another thread's runtime is woken through that
 * runtime (its eventfd); from a plain thread too.  More than
 * WEFT_SEMAPHORE_MAX permits in all is a misuse: reported on stderr, capped.
 * NULL is ignored.  Never suspends.  [any thread]
 */
WEFT_API void weft_semaphore_release(weft_semaphore *s, size_t n);

/* weft_semaphore_available - the permits free now (tokio's
 * available_permits); 0 for NULL.  [any thread] */
WEFT_API size_t weft_semaphore_available(const weft_semaphore *s);

/* weft_semaphore_share - (weft's own, as weft_sender_share) declare that the
 * semaphore will be released from a thread that has not used it yet, so a
 * task waiting on it is never reported as deadlocked.  0 or -EINVAL.
 * [any thread] */
WEFT_API int weft_semaphore_share(weft_semaphore *s);

/* weft_semaphore_free - free s (NULL is ignored).  See the rules above. */
WEFT_API void weft_semaphore_free(weft_semaphore *s);

typedef struct weft_mutex weft_mutex;

/* weft_mutex_new - an unlocked mutex (tokio::sync::Mutex, without the data:
 * it guards what you decide).  Free it with weft_mutex_free.  NULL with
 * errno ENOMEM.  [any thread] */
WEFT_API weft_mutex *weft_mutex_new(void);

/*
 * weft_mutex_lock - lock m for the calling task, suspending while another
 * task holds it.  As tokio's Mutex::lock: fair (waiters get it in the order
 * they began to wait: an unlock hands it straight to the first waiter, so a
 * task that locks again later cannot barge ahead), and it may be held across
 * suspending calls.  The holder is the task: any async block of the holding
 * task may unlock it.  A task locking a mutex it already holds waits for
 * itself (as in tokio); the deadlock report shows it.
 *
 * Returns 0 (the task holds m); -ECANCELED (cancelled while waiting: it does
 * not hold m); -EINVAL (NULL or freed m); -EPERM outside a runtime.
 * Allocates nothing.  Suspends.  [task]
 */
WEFT_API int weft_mutex_lock(weft_mutex *m);

/* weft_mutex_lock_future - weft_mutex_lock as a future: status 0 once the
 * task that polls it holds m; one that loses a race, times out or is
 * dropped does not hold it.  NULL with errno EINVAL or ENOMEM.  [any
 * thread; run in a task] */
WEFT_API weft_future *weft_mutex_lock_future(weft_mutex *m);

/* weft_mutex_try_lock - lock m if it is free and nobody waits (tokio's
 * try_lock): 0, -EAGAIN, -EINVAL, -EPERM.  Never suspends.  [task] */
WEFT_API int weft_mutex_try_lock(weft_mutex *m);

/*
 * weft_mutex_unlock - unlock m, held by the calling task; the first waiter,
 * if any, now holds it.  Unlocking a mutex that the calling task does not
 * hold (unlocked, or held by another task), or calling it outside a task,
 * is a misuse: reported on stderr ("weft: weft_mutex_unlock(0x...): ...;
 * ignored") and nothing changes.  NULL is ignored.  Never suspends.  [task]
 */
WEFT_API void weft_mutex_unlock(weft_mutex *m);

/* weft_mutex_free - free m (NULL is ignored); m must be unlocked, with no
 * waiter (else reported, not freed). */
WEFT_API void weft_mutex_free(weft_mutex *m);

typedef struct weft_notify weft_notify;

/* weft_notify_new - a notify with no stored permit (tokio's Notify::new).
 * Free it with weft_notify_free.  NULL with errno ENOMEM.  A notify created
 * outside a runtime is shared.  [any thread] */
WEFT_API weft_notify *weft_notify_new(void);

/*
 * weft_notified - wait for a notification (tokio's notified().await): returns
 * at once, consuming it, if a permit is stored (a weft_notify_one with
 * nobody waiting); else suspends until weft_notify_one picks this task (the
 * first waiter first) or weft_notify_all is called.  Returns 0; -ECANCELED
 * (cancelled while waiting: a weft_notify_one notification that reached it
 * in the same instant goes to the next waiter or is stored, as tokio does
 * for a dropped Notified); -EINVAL; -EPERM outside a runtime.  Allocates
 * nothing.  Suspends.  [task]
 */
WEFT_API int weft_notified(weft_notify *n);

/* weft_notified_future - weft_notified as a future.  As tokio's Notified, it
 * counts a weft_notify_all called after its creation, even before it is
 * first polled.  NULL with errno EINVAL or ENOMEM.  [any thread; run in a
 * task] */
WEFT_API weft_future *weft_notified_future(weft_notify *n);

/* weft_notify_one - wake the first waiting task, or, if none waits, store one
 * permit (at most one: further calls add nothing) for the next
 * weft_notified (tokio's notify_one).  NULL is ignored.  A waiter on another
 * runtime is woken through that runtime.  [any thread] */
WEFT_API void weft_notify_one(weft_notify *n);

/* weft_notify_all - wake every task waiting now (and every future made
 * before); store nothing (tokio's notify_waiters).  NULL is ignored.
 * [any thread] */
WEFT_API void weft_notify_all(weft_notify *n);

/* weft_notify_share - as weft_semaphore_share, for a notify that a thread
 * will notify later.  0 or -EINVAL.  [any thread] */
WEFT_API int weft_notify_share(weft_notify *n);

/* weft_notify_free - free n (NULL is ignored).  See the rules above. */
WEFT_API void weft_notify_free(weft_notify *n);

typedef struct weft_group weft_group;

/*
 * weft_group_new - an empty task group (tokio's JoinSet, Trio's nursery,
 * libdill's bundle) of the calling runtime.  It owns the tasks spawned into
 * it: nobody else can join, detach or outlive them.  Drop it with
 * weft_group_drop.  NULL with errno EPERM (outside a runtime) or ENOMEM.
 * [task]
 */
WEFT_API weft_group *weft_group_new(void);

/* weft_group_spawn - spawn fn(arg) as a task of the group (JoinSet::spawn);
 * it starts as weft_spawn's do.  Returns 0; -EINVAL (NULL or dropped g, NULL
 * fn); -EPERM (outside g's runtime); -ECANCELED (the group is being
 * dropped); -ENOMEM.  On failure fn never runs.  [task] */
WEFT_API int weft_group_spawn(weft_group *g, weft_fn *fn, void *arg);

/* weft_group_spawn_with - weft_group_spawn with options (name, stack size,
 * drop_arg: called if the body never runs, a failed spawn included). */
WEFT_API int weft_group_spawn_with(weft_group *g, const weft_spawn_opts *opts,
                                   weft_fn *fn, void *arg);

/*
 * weft_group_join_next - wait for the next member to finish and collect it
 * (JoinSet::join_next): members are returned in the order they finished.
 *
 * Returns 1 with *result (if non-NULL) = the member's return value (NULL if
 * it ended cancelled: aborted, never ran); 0 when the group has no member
 * left (at once); -ECANCELED (the caller was cancelled: no member is
 * collected); -EBUSY (another join_next waits on g); -EINVAL; -EPERM.
 * Suspends.  [task]
 */
WEFT_API int weft_group_join_next(weft_group *g, void **result);

/* weft_group_join_next_status - as weft_group_join_next, also storing in
 * *status (if non-NULL) how the member ended, as weft_task_join would have
 * returned: 0, -ECANCELED or -ENOMEM (its stack could not be had).  [task] */
WEFT_API int weft_group_join_next_status(weft_group *g, void **result,
                                         int *status);

/* weft_group_join_next_future - weft_group_join_next as a future (its
 * status is the return value; *result, which must stay valid until it
 * completes, is written when it completes with 1).  One that loses a race
 * collects no member.  Drop it before the group.  NULL with errno EINVAL,
 * EPERM or ENOMEM.  [task] */
WEFT_API weft_future *weft_group_join_next_future(weft_group *g, void **result);

/* weft_group_len - members not yet collected (running or finished); 0 for
 * an invalid group (JoinSet::len).  [task] */
WEFT_API size_t weft_group_len(const weft_group *g);

/* weft_group_abort_all - request cancellation of every running member
 * (JoinSet::abort_all); they stay in the group: join_next returns them
 * as they end.  Never suspends.  [task] */
WEFT_API void weft_group_abort_all(weft_group *g);

/*
 * weft_group_drop - cancel every member still running, wait until each has
 * returned, collect them all (results are discarded) and free the group
 * (dropping a JoinSet, which aborts its tasks; weft also waits, as a
 * nursery does).  The members are driven to their return by this call
 * itself, so it returns only after every member has unwound, also when the
 * caller is itself being cancelled (an async block that lost a race or
 * timed out): nothing of the group is left behind.  Called from one of its
 * own members, or while another coroutine waits in join_next on g, it
 * reports the misuse on stderr, cancels the members and frees nothing.
 * Consumes g; NULL is ignored.  [task]
 */
WEFT_API void weft_group_drop(weft_group *g);

/* ------------------------------------------------------------------------ */
/* Streams (trpl's Stream/StreamExt, tokio-stream; section 17.4)             */
/* ------------------------------------------------------------------------ */

/*
 * A stream yields elements one at a time through weft_stream_next.  An
 * element is an item (copied into the caller's buffer of the stream's item
 * size) or an error such as -ETIMEDOUT from weft_stream_timeout (tokio's
 * Result<Item, Elapsed>): an element like an item, after which the stream
 * goes on.  Streams are lazy: nothing happens until they are polled.
 *
 * Ownership: every constructor returns a new stream you own (drop it with
 * weft_stream_drop); adapters consume their input streams, also when they
 * fail (then they return NULL with errno EINVAL or ENOMEM and the inputs
 * are dropped).  Constructors that involve time (interval, throttle,
 * timeout) are [task]: elsewhere NULL with errno EPERM; the others
 * [any thread].  A stream is used by one task at a time.
 */
typedef struct weft_stream weft_stream;

enum {
    WEFT_MISSED_BURST = 0, /* missed ticks are delivered at once (default) */
    WEFT_MISSED_DELAY = 1, /* the next tick is a full period after a late one */
    WEFT_MISSED_SKIP = 2   /* missed ticks are skipped, the schedule kept   */
};

/*
 * weft_stream_next - the next element of s, written to *item.  As
 * StreamExt::next.  Returns 1 (an item), 0 (the stream has ended, and every
 * time thereafter), a negative error element (-ETIMEDOUT), -ECANCELED (the
 * caller was cancelled: no element is lost, polling may resume later),
 * -EINVAL (NULL s or item), -EPERM outside a runtime.  Suspends.  [task]
 *
 * Registrations: only while this call is suspended does s hold any (a
 * receive waiting on a channel, a timer armed for an interval, a throttle or
 * a timeout's deadline), all with the caller's waker; every one is
 * withdrawn before the call returns, whatever it returns, including the
 * sides of a merge that did not produce the element.  So between calls a
 * stream waits on nothing: it may be handed to another task or runtime,
 * kept after its runtime ends and dropped anywhere, and it keeps no
 * runtime from reporting a deadlock.  Deadlines (interval ticks, a
 * timeout's deadline, a throttle's pause) are values kept in the stream,
 * not timers: one that passes between calls is seen by the next call.
 */
WEFT_API int weft_stream_next(weft_stream *s, void *item);

/* weft_stream_drop - as dropping a Rust stream: free s and every input it
 * owns; a from_receiver stream drops its receiver.  NULL is ignored.  Not
 * while a weft_stream_next on s is suspended.  [any thread] */
WEFT_API void weft_stream_drop(weft_stream *s);

/* The size in bytes of s's items (0 for an invalid stream). [any thread] */
WEFT_API size_t weft_stream_item_size(const weft_stream *s);

/* weft_stream_from_array - the n items at items (item_size bytes each), in
 * order, then the end.  As trpl::stream_from_iter.  items is borrowed: it
 * must stay valid until the stream is dropped.  NULL with EINVAL for
 * item_size 0 or NULL items with n > 0. */
WEFT_API weft_stream *weft_stream_from_array(const void *items, size_t n,
                                             size_t item_size);

/* weft_stream_from_receiver - the items received from rx, ending when the
 * channel is closed and drained.  As tokio-stream's ReceiverStream.
 * Consumes rx (dropped with the stream, also on failure).  A stream over
 * a bounded channel that will be handed to another runtime after it was
 * polled here needs weft_receiver_share(rx) before this call, as the
 * receiver itself would (else a send waiting for that runtime may be
 * reported as a deadlock). */
WEFT_API weft_stream *weft_stream_from_receiver(weft_receiver *rx);

/*
 * weft_stream_interval - items of type uint64_t: the scheduled instant (ns,
 * runtime clock) of each tick; the first tick completes at once, then one
 * per period_ns.  Ticks missed by a slow consumer are delivered at once
 * until it has caught up (tokio's MissedTickBehavior::Burst).  The stream
 * never ends.  EINVAL for a zero period.  [task]
 */
WEFT_API weft_stream *weft_stream_interval(uint64_t period_ns);

/* weft_stream_interval_with - as weft_stream_interval with the behaviour for
 * missed ticks: WEFT_MISSED_BURST, WEFT_MISSED_DELAY (the next tick is
 * period_ns after the late one was taken) or WEFT_MISSED_SKIP (the next tick
 * is the next multiple of the period after now), as tokio's
 * MissedTickBehavior.  As in tokio, a tick is missed when it is taken more
 * than 5 ms after its instant; an on-time tick keeps the schedule.  EINVAL
 * for another value.  [task] */
WEFT_API weft_stream *weft_stream_interval_with(uint64_t period_ns, int missed);

/* weft_stream_map - each item of s passed through fn(in, out, ctx), which
 * writes an item of out_size bytes; error elements and the end pass through
 * untouched (fn sees only items).  As StreamExt::map.  Consumes s. */
WEFT_API weft_stream *
weft_stream_map(weft_stream *s, size_t out_size,
                void (*fn)(const void *in, void *out, void *ctx), void *ctx);

/* weft_stream_filter - the items of s for which keep(item, ctx) returns
 * non-zero; error elements pass through.  As StreamExt::filter.  Consumes
 * s. */
WEFT_API weft_stream *
weft_stream_filter(weft_stream *s, int (*keep)(const void *item, void *ctx),
                   void *ctx);

/* weft_stream_take - the first n elements of s (error elements count), then
 * the end; s is not polled again after the n-th.  take(s, 0) ends at once.
 * As StreamExt::take.  Consumes s. */
WEFT_API weft_stream *weft_stream_take(weft_stream *s, size_t n);

/* weft_stream_merge - the elements of a and b as they come, alternating
 * which side is polled first; error elements pass through; ends when both
 * have ended.  As tokio-stream's StreamExt::merge.  a and b must have the
 * same item size (else EINVAL).  Consumes a and b. */
WEFT_API weft_stream *weft_stream_merge(weft_stream *a, weft_stream *b);

/* weft_stream_throttle - the elements of s, the first at once, then at
 * most one per period_ns: after each element s is not polled again until
 * period_ns have passed, so nothing is lost (a channel behind it buffers).
 * As tokio-stream's StreamExt::throttle.  Consumes s.  [task] */
WEFT_API weft_stream *weft_stream_throttle(weft_stream *s, uint64_t period_ns);

/* weft_stream_timeout - the elements of s, plus one -ETIMEDOUT element when
 * no element arrived within timeout_ns of the previous one (or of this
 * call: the first deadline is armed now); after a timeout, the next
 * deadline starts with the next element.  As tokio-stream's
 * StreamExt::timeout.  Consumes s.  [task] */
WEFT_API weft_stream *weft_stream_timeout(weft_stream *s, uint64_t timeout_ns);

/* ------------------------------------------------------------------------ */
/* I/O: file descriptors, sockets, signals (tokio::net, AsyncFd,            */
/* tokio::signal)                                                            */
/* ------------------------------------------------------------------------ */

/*
 * weft works on plain file descriptors, as C programs do: a socket is an
 * int, and setsockopt, getsockname, shutdown and close apply.  Each runtime
 * has a reactor (created by the runtime's first I/O call; programs without
 * I/O pay nothing).  Operations try their system call first and wait for
 * readiness only when it would block (EAGAIN).
 *
 * The reactor has two backends, chosen when it is created by the
 * environment variable WEFT_IO (see weft_io_backend):
 *  - WEFT_IO=epoll (the default, also when unset or empty): one epoll
 *    instance in which every fd weft waits on is registered once,
 *    edge-triggered, for both directions (as Go's netpoller and mio).
 *  - WEFT_IO=uring: one io_uring ring (Linux 5.13+, with liburing); while a
 *    task waits on an fd, a one-shot IORING_OP_POLL_ADD is outstanding for
 *    that fd and direction, withdrawn (IORING_OP_ASYNC_CANCEL) when the wait
 *    ends without it (never two at once: the next is armed once the kernel
 *    reports the last one ended); the polls are submitted with the
 *    scheduler's wait, one io_uring_enter per park (as Seastar's and
 *    Photon's io_uring engines, readiness mode).
 * Any other value, a build without io_uring (CMake option WEFT_IO_URING
 * off: cross builds, or liburing missing) and a kernel or sandbox that
 * refuses io_uring (ENOSYS, EPERM from a seccomp filter or
 * kernel.io_uring_disabled, a ring that cannot be set up) give epoll, with
 * one note on stderr per process ("weft: WEFT_IO=...: ...; using epoll").
 * Behaviour is identical on both backends: every rule below, each
 * function's results, errors, cancel safety and wake order hold whichever
 * runs (the test suite runs test_io, test_http and test_examples under
 * both: make test-uring); only the cost per wait differs (bench/RESULTS.md).
 * (A write blocked on a full socket whose peer has shut its write side down
 * is still woken by the peer's reads or close on uring, where every poll
 * also ends on the shutdown: a multishot poll then waits for writing, as
 * src/io/uring.c describes; test_io.c, blocked_write_*.)
 *
 * Rules common to the functions below:
 *  - The first weft call on an fd makes it non-blocking (O_NONBLOCK); other
 *    code sharing the fd must expect that.  weft remembers the fd (its kind,
 *    its registration) until weft_close(fd) or weft_fd_forget(fd).  An fd
 *    closed with plain close(2) while no task waits on it is fine when its
 *    number comes back from weft_tcp_accept, weft_tcp_connect,
 *    weft_tcp_listen or weft_udp_bind (they start a fresh record); a number
 *    that comes back from your own socket(2), pipe(2) or open(2) must be
 *    forgotten first (weft_fd_forget before close(2)), or weft may treat the
 *    new fd as the old one.  Closing an fd that a task waits on with plain
 *    close(2) is not supported: use weft_close.
 *  - Every waiting call is a cancellation point (-ECANCELED); a readiness
 *    wait is a leaf future (the _future forms), so weft_race, weft_timeout
 *    and weft_join compose with it; a cancelled wait is unlinked at once.
 *  - -EBADF: the fd is not open, or it was closed with weft_close (by any
 *    task) while the call waited.
 *  - Wake order: the tasks whose waits one poll of the reactor finds ready
 *    (everything ready then: epoll_wait, called again without waiting while
 *    it fills its batch, or io_uring_enter and the completions it brings)
 *    are woken in the order their waits began, the same on both backends.
 *    The rule is weft's own (issue 11): epoll reports fds in the order they
 *    became ready, io_uring in the order its polls completed (at once for
 *    one armed on a ready fd), so neither kernel order holds on the other
 *    backend.
 *  - Cooperative budget: a task that completes WEFT_IO_BUDGET operations in
 *    a row without waiting (its sockets are always ready) yields before the
 *    next one, as tokio's coop budget, so one busy connection cannot starve
 *    the others, timers or cross-thread wakes.
 *  - Regular files (and block devices) cannot be polled: weft_read and
 *    weft_write run on them on the blocking pool (as tokio::fs), without
 *    stalling other tasks; weft_fd_wait reports them always ready.  The
 *    future forms read and write regular files directly on the runtime
 *    thread.
 *  - Writes never raise SIGPIPE: sockets are written with MSG_NOSIGNAL; for
 *    a pipe, SIGPIPE is blocked in the writing thread around the write(2)
 *    and a SIGPIPE that write raised is discarded (nothing else of the
 *    process's signal state changes).  -EPIPE is returned instead.
 *  - Deadlock detection: a task waiting on an fd or a signal is a wake
 *    source outside the runtime: no deadlock is reported while one exists
 *    (even when the other end of the socket is held by a blocked task).
 *  - Virtual clock: time jumps only when no task is runnable and no fd is
 *    ready now (the reactor is polled first), so tasks talking through
 *    sockets of the same runtime run in the same order as with the real
 *    clock, instantly.
 *  - Errors from name resolution (getaddrinfo) are returned as
 *    WEFT_EAI(code), a negative value below -3000 that weft_strerror
 *    describes (gai_strerror's text); EAI_SYSTEM gives the errno instead,
 *    EAI_MEMORY -ENOMEM.
 *  - fork() while a runtime runs: the child gets a copy of the calling
 *    thread only, and shares the runtime's epoll set (or io_uring ring)
 *    with the parent.  It
 *    must not use that runtime (no weft call, no return into the task it
 *    was forked from); it should only make async-signal-safe calls, then
 *    exec or _exit, as POSIX asks of multi-threaded programs.  Fds the child
 *    inherits keep their open file descriptions alive: weft_close in the
 *    parent still deletes the registration before closing, so the child's
 *    copy never makes events reach a later fd of the same number
 *    (test_io.c: events_of_a_copied_closed_fd_do_not_reach_the_new_one).
 */

/*
 * weft_io_backend - the name of the calling runtime's reactor backend:
 * "epoll" or "uring" (WEFT_IO's spelling; see above), creating the reactor
 * if this is the runtime's first I/O call, so the answer is the backend its
 * I/O uses (after any fallback to epoll).  The string is static.  Returns
 * NULL with errno EPERM outside a runtime, or with errno ENOMEM or EMFILE
 * when the reactor could not be created.  For tests and diagnostics (as
 * Seastar's --reactor-backend report).  [task]
 */
WEFT_API const char *weft_io_backend(void);

#define WEFT_READABLE  0x1
#define WEFT_WRITABLE  0x2
#define WEFT_FOREVER   UINT64_MAX /* no timeout */
#define WEFT_IO_BUDGET 128        /* ready operations before a forced yield */

/* Resolver errors: WEFT_EAI(EAI_NONAME) etc. (glibc's EAI_* are negative). */
#define WEFT_EAI_BASE   3000
#define WEFT_EAI(eai)   ((eai)-WEFT_EAI_BASE)
#define WEFT_IS_EAI(rc) ((rc) < -WEFT_EAI_BASE && (rc) >= -WEFT_EAI_BASE - 1000)

/*
 * weft_fd_wait - suspend until fd is ready for one of events (WEFT_READABLE,
 * WEFT_WRITABLE, or both) and return the ready subset of events (> 0).  As
 * tokio's AsyncFd::readable/writable and Go's pollDesc wait.
 *
 * Level-triggered: readiness is checked with poll(2) first, so an fd that is
 * ready now is reported at once (also with a zero timeout: readiness wins
 * over the timeout, as weft_timeout); otherwise the call waits for the next
 * edge.  An error or a hang-up on the fd counts as ready for both
 * directions.  Any number of tasks may wait on one fd, in either direction
 * (a reader and a writer of one socket, as tokio's split halves); each is
 * woken when its direction is ready.  Regular files are always ready.  As
 * with poll(2) and tokio's readable(), another task may take the data
 * between the wake-up and the caller's own read: a plain read(2) after it
 * must still expect EAGAIN.
 *
 * Returns the ready mask; -ETIMEDOUT after timeout_ns (WEFT_FOREVER: none);
 * -ECANCELED; -EBADF (not open, or closed by weft_close while waiting);
 * -EINVAL (events not a non-empty subset of READABLE|WRITABLE); -ENOMEM;
 * -EPERM outside a runtime.  Allocates nothing once the fd's record exists.
 * Cancel-safe (nothing is consumed).  Suspends.  [task]
 */
WEFT_API int weft_fd_wait(int fd, int events, uint64_t timeout_ns);

/*
 * weft_read - read up to len bytes from fd into buf.  As tokio's
 * AsyncReadExt::read.
 *
 * Reads what is available, suspending only while nothing is.  On a TCP
 * socket whose previous read was short (it emptied the receive queue) and
 * that has had no readiness event since, it suspends until the next event
 * without first trying the recv(2) that would only fail with EAGAIN, as
 * tokio's PollEvented::poll_read (1.24) does; after a hang-up or error
 * event on the socket it always tries first.  Returns the
 * number of bytes read (> 0), 0 at end of file (or for len 0), or a negative
 * errno: -ECONNRESET, -EBADF, -ECANCELED, -EINVAL (NULL buf with len > 0),
 * -EPERM outside a runtime, or the read's own error.  A single call reads at
 * most INT_MAX bytes.
 *
 * Cancel-safe: when it returns -ECANCELED (or its future loses a race or a
 * timeout) no byte was taken from the fd; the next read gets them.  (On a
 * regular file, which is read on the blocking pool, a cancelled read may
 * still complete in the background and advance the file offset.)
 * Suspends.  [task]
 */
WEFT_API ssize_t weft_read(int fd, void *buf, size_t len);

/*
 * weft_write - write all len bytes of buf to fd (tokio's write_all).
 *
 * Returns len; or a negative errno: -EPIPE when the peer has gone (never a
 * SIGPIPE), -ECONNRESET, -EBADF, -ECANCELED (cancelled part-way: a prefix
 * may have been written), -EINVAL (NULL buf with len > 0), -EPERM.  The
 * number of bytes written before an error is not reported.  Not cancel-safe
 * in that sense (as write_all).  Suspends while the fd is full.  [task]
 */
WEFT_API ssize_t weft_write(int fd, const void *buf, size_t len);

/*
 * Future forms: a readiness wait, a read and a write that weft_race,
 * weft_timeout and weft_join can compose.  Each returns a new future you
 * own, or NULL with errno ENOMEM (EINVAL for bad events, a NULL buf with len
 * > 0, or len > INT_MAX).  Lazy: nothing happens before the first poll.
 * Their status is what the blocking form returns (the read and write
 * futures: the byte count); buf must stay valid until the future is done.
 * A read future that loses a race or a timeout has taken no byte.
 */
WEFT_API weft_future *weft_fd_wait_future(int fd, int events);
WEFT_API weft_future *weft_read_future(int fd, void *buf, size_t len);
WEFT_API weft_future *weft_write_future(int fd, const void *buf, size_t len);

/*
 * weft_close - wake every task waiting on fd with -EBADF, forget fd (its
 * registration is deleted from the epoll set before close(2), and its
 * generation bumped, so that a later fd with the same number is a new fd: no
 * stale readiness, no stale waiter), then close it.  As Go's
 * netFD.Close/pollDesc.evict.  Returns 0, or the negative errno of close(2)
 * (-EBADF; EINTR counts as closed, as on Linux it is).  -EPERM outside a
 * runtime.  Does not suspend.  [task]
 */
WEFT_API int weft_close(int fd);

/*
 * weft_fd_forget - as weft_close without the close(2): wakes the fd's
 * waiters with -EBADF, deletes its registration and forgets it, so the fd
 * may then be closed or handed to code that closes it with close(2).  (As
 * libdill's fdclean.)  Returns 0, -EBADF for a negative fd, -EPERM outside a
 * runtime.  [task]
 */
WEFT_API int weft_fd_forget(int fd);

/*
 * weft_tcp_listen - a TCP socket listening on host:port.  As tokio's
 * TcpListener::bind.
 *
 * host NULL listens on every interface, else a numeric address or a name
 * (resolved on the blocking pool, never stalling other tasks; each address
 * is tried in turn until one binds).  port 0 picks a free port (read it
 * with getsockname).  SO_REUSEADDR is set; the fd is non-blocking and
 * close-on-exec.  backlog <= 0 means SOMAXCONN.  Returns the listening fd
 * (you own it: weft_close it), or a negative errno (-EADDRINUSE,
 * -EACCES, ...), or WEFT_EAI(...) for a name that does not resolve, or
 * -ECANCELED (then nothing is left open).  Suspends while resolving a name.
 * [task]
 */
WEFT_API int weft_tcp_listen(const char *host, uint16_t port, int backlog);

/*
 * weft_tcp_accept - the next connection on listener.  As tokio's
 * TcpListener::accept.
 *
 * Returns a connected fd (non-blocking, close-on-exec, TCP_NODELAY; you own
 * it), filling *peer (if non-NULL) with the peer's address.  Suspends while
 * no connection is pending.  Cancel-safe: a cancelled accept took no
 * connection.  Running out of fds returns -EMFILE (or -ENFILE) and never
 * spins: the pending connection is accepted on a reserved spare fd and
 * closed at once (libuv's trick), so the listener does not stay readable;
 * the caller decides how to back off.  Other errors: -EBADF, -EINVAL (not
 * listening), -ECANCELED, -EPERM.  Connections aborted before they were
 * accepted are skipped.  [task]
 */
WEFT_API int weft_tcp_accept(int listener, struct sockaddr_storage *peer);

/*
 * weft_tcp_connect - a TCP connection to host:port.  As tokio's
 * TcpStream::connect.
 *
 * host is a numeric address or a name, resolved on the blocking pool
 * without stalling other tasks (a cancelled resolve returns at once; the
 * lookup finishes in the background); each address is tried in turn.
 * Returns the connected fd (non-blocking, close-on-exec, TCP_NODELAY; you
 * own it), or the last address's negative errno (-ECONNREFUSED,
 * -ETIMEDOUT, -ENETUNREACH, ...), WEFT_EAI(...) for a name that does not
 * resolve (weft_strerror describes it), -EINVAL (NULL host), -ECANCELED
 * (nothing is left open), -EPERM.  Suspends.  [task]
 */
WEFT_API int weft_tcp_connect(const char *host, uint16_t port);

/*
 * weft_udp_bind - a UDP socket bound to host:port (host NULL: every
 * interface; port 0: a free port).  As tokio's UdpSocket::bind.  Returns the
 * fd (non-blocking, close-on-exec; you own it) or an error as
 * weft_tcp_listen.  [task]
 */
WEFT_API int weft_udp_bind(const char *host, uint16_t port);

/*
 * weft_recvfrom - receive one datagram into buf (a longer datagram is
 * truncated to len, as recvfrom(2)), filling *from (if non-NULL) with the
 * sender's address.  As tokio's UdpSocket::recv_from.  Returns its length
 * (>= 0), or a negative errno (-EBADF, -ECANCELED, -EPERM, ...).
 * Cancel-safe: a cancelled receive took no datagram.  Suspends while none
 * is queued.  [task]
 */
WEFT_API ssize_t weft_recvfrom(int fd, void *buf, size_t len,
                               struct sockaddr_storage *from);

/*
 * weft_sendto - send buf as one datagram to to (tolen bytes; NULL for a
 * connected socket).  As tokio's UdpSocket::send_to.  Returns the number of
 * bytes sent (the whole datagram), or a negative errno (-EMSGSIZE,
 * -ECONNREFUSED from an earlier ICMP error, -EBADF, -ECANCELED, -EPERM).
 * Suspends while the socket's buffer is full.  [task]
 */
WEFT_API ssize_t weft_sendto(int fd, const void *buf, size_t len,
                             const struct sockaddr *to, socklen_t tolen);

/*
 * weft_signal_wait - suspend until the process next receives signal signum
 * and return signum.  As tokio::signal::unix::signal(kind).recv() and
 * tokio::signal::ctrl_c() (SIGINT).
 *
 * From the first call in a runtime until that weft_run returns, signum's
 * disposition is replaced by a handler that only counts the delivery and
 * writes to the waiting runtimes' wake fd (never signalfd, which would need
 * the signal blocked in every thread); the previous disposition is restored
 * when the last runtime that used it returns from weft_run.  Deliveries
 * while no task waits are kept, at least one, for the next wait (several
 * deliveries may be merged into one, as Unix signals are).  Every task of
 * the runtime waiting on signum when it arrives is woken.
 *
 * Returns signum; -ECANCELED; -EINVAL for a signal that cannot be caught or
 * that weft needs (SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGILL, SIGFPE, as
 * tokio forbids) or out of range; -ENOMEM when more than 64 runtimes wait on
 * signals at once; -EPERM outside a runtime.  A task waiting here is a wake
 * source (no deadlock is reported).  Suspends.  [task]
 */
WEFT_API int weft_signal_wait(int signum);

/* weft_signal_wait as a future (status: as weft_signal_wait), for
 * weft_race and weft_timeout.  NULL with errno EINVAL or ENOMEM. */
WEFT_API weft_future *weft_signal_wait_future(int signum);

/* ------------------------------------------------------------------------ */
/* Observability: task dumps and timelines (tokio-console, Go's SIGQUIT     */
/* dump, Perfetto)                                                           */
/* ------------------------------------------------------------------------ */

/*
 * weft_dump - writes one line per live task of the calling runtime to out,
 * the caller included, as Go's goroutine dump and tokio-console's task list:
 *
 *     task 3 'fetch' waiting 1.250 s: join of 2 futures {[0] sleep, due in
 *     750.000 ms; [1] async block 'rx': channel receive on 0x55...}
 *
 * (one line; wrapped here).  Each line: "task", the id, the name in quotes
 * ('' when it has none), the state: running (the caller), runnable (woken,
 * queued), not started, "blocking job: queued for the pool" / "running on
 * the pool", or "waiting D: WHAT" where D is how long it has waited (to the
 * scheduler's last clock reading, at most one scheduling round early) and
 * WHAT is its wait in the deadlock report's words: a sleep and when it is
 * due, a channel receive or send and the channel, a task join and the task
 * joined, readiness of fd N for reading/writing, a signal, a semaphore,
 * mutex, notify or task group, a combinator (join, race, timeout, ...) of K
 * futures with each unfinished one in braces, and for an async block its
 * name and its own innermost wait.
 *
 * Returns the number of tasks listed, -EINVAL (NULL out), -EIO (out's error
 * indicator is set after the writes) or -EPERM outside a runtime.  Does not
 * suspend; the output is flushed.  [task]
 *
 * The same dump is written to stderr, after a line "weft: task dump on
 * SIGQUIT: N tasks", each time the process receives the signal named by
 * the environment variable WEFT_DUMP_SIGNAL (QUIT, USR1, USR2, SIGQUIT, or
 * a number; read when weft_run starts) while weft_run runs.  The handler
 * only wakes the runtime; the dump is written at its next scheduling point,
 * between task runs, and the runtime goes on.  A task that holds the thread
 * delays the dump until it suspends; the dump then says for how long the
 * thread was held and which task ran last.  The signal stays caught until
 * weft_run returns (then its previous disposition is restored); a
 * catchable signal is needed (not KILL, STOP, SEGV, BUS, ILL, FPE) and an
 * unusable value is reported on stderr and ignored.
 *
 * Timeline: with WEFT_TRACE=path in the environment (or
 * weft_config.trace_path), weft_run writes a Chrome trace-event JSON file
 * that Perfetto (ui.perfetto.dev) and chrome://tracing open: one track per
 * runtime thread and per blocking-pool thread, a slice each time a task ran
 * without suspending (named after the task, "task N" without a name), a
 * flow arrow from the task that woke another to the woken task's next
 * slice, instant events for timer firings and I/O readiness, and a counter
 * of runnable and parked tasks (at most once per ms).  Buffered; the file
 * is complete, valid JSON when weft_run returns (a deadlock included).
 * Each weft_run writes `path` (replacing an earlier run's file), except
 * while another runtime of the process writes a trace: then `path.TID`,
 * TID being its thread's id.  A file that cannot be created is reported
 * on stderr and the run goes on untraced.  Tracing off costs one
 * predictable branch per task switch; the cost with it on is measured in
 * bench/ (see bench/RESULTS.md).
 *
 * Slow-poll warning: with WEFT_WARN_SLOW_MS=N, a task that runs N ms or
 * more without suspending gets one line on stderr naming it and its run
 * time (once per task), as tokio-console's "busy" lint, so that a missing
 * weft_yield in a long loop shows at once.
 */
WEFT_API int weft_dump(FILE *out);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_H */
