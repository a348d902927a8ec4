/*
 * tests/test_time.c - sleeps, sleep_until, yield ordering, the virtual
 * clock, timer cleanup, and a few real-clock checks with generous bounds;
 * and the timer heap itself (time/timer.c), driven directly against a
 * sorted reference and checked by weft__timers_check after every step.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"
#include "time/time.h"
#include "weft.h"

static tlog lg;

/* ------------------------------------------------------------------------ */
/* Real clock                                                               */
/* ------------------------------------------------------------------------ */

static void *never_early_root(void *arg)
{
    (void)arg;
    static const unsigned ms[] = {1, 2, 3, 5, 10, 20, 1, 7};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        uint64_t ns = WEFT_MS(ms[i]);
        uint64_t r0 = real_now_ns();
        uint64_t before = weft_now();
        cr_assert_eq(weft_sleep(ns), 0);
        uint64_t after = weft_now();
        uint64_t r1 = real_now_ns();
        cr_assert_geq(after - before, ns,
                      "sleep(%u ms) ended early on weft_now: %llu ns", ms[i],
                      (unsigned long long)(after - before));
        cr_assert_geq(r1 - r0, ns,
                      "sleep(%u ms) ended early on CLOCK_MONOTONIC: %llu ns",
                      ms[i], (unsigned long long)(r1 - r0));
    }
    /* sub-millisecond sleeps, too */
    for (int i = 1; i <= 50; i++) {
        uint64_t ns = WEFT_US(i * 13);
        uint64_t before = weft_now();
        cr_assert_eq(weft_sleep(ns), 0);
        cr_assert_geq(weft_now() - before, ns);
    }
    return NULL;
}

Test(time, sleep_never_ends_early_real_clock)
{
    run_real(never_early_root, NULL);
}

static void *concurrent_sleeper(void *arg)
{
    unsigned ms = (unsigned)(uintptr_t)arg;
    uint64_t before = weft_now();
    cr_assert_eq(weft_sleep(WEFT_MS(ms)), 0);
    return (void *)(uintptr_t)(weft_now() - before >= WEFT_MS(ms));
}

static void *never_early_many_root(void *arg)
{
    (void)arg;
    enum { N = 200 };
    weft_task *ts[N];
    for (unsigned i = 0; i < N; i++) {
        ts[i] = weft_spawn(concurrent_sleeper, (void *)(uintptr_t)(1 + i % 20));
        cr_assert_not_null(ts[i]);
    }
    for (int i = 0; i < N; i++) {
        void *r;
        cr_assert_eq(weft_task_join(ts[i], &r), 0);
        cr_assert_eq((uintptr_t)r, 1, "task %d woke early", i);
    }
    return NULL;
}

Test(time, concurrent_sleeps_never_end_early_real_clock)
{
    run_real(never_early_many_root, NULL);
}

/* The suite time_real holds the tight real-time upper bounds: run serially,
 * asserted in the native build only (support.h, "Real-clock assertions"). */

static void *bounded_root(void *arg)
{
    (void)arg;
    uint64_t r0 = real_now_ns();
    cr_assert_eq(weft_sleep(WEFT_MS(50)), 0);
    uint64_t dt = real_now_ns() - r0;
    cr_assert_geq(dt, WEFT_MS(50));
    if (real_time_asserted())
        cr_assert_lt(dt, WEFT_SEC(1), "sleep(50 ms) took %llu ns",
                     (unsigned long long)dt);
    return NULL;
}

Test(time_real, sleep_50ms_takes_less_than_a_second)
{
    run_real(bounded_root, NULL);
}

/* A task that only yields never starves a timer (real clock). */
static int timer_fired;

static void *set_after_5ms(void *arg)
{
    (void)arg;
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    timer_fired = 1;
    return NULL;
}

static void *yield_spin_root(void *arg)
{
    (void)arg;
    timer_fired = 0;
    weft_task *t = weft_spawn(set_after_5ms, NULL);
    cr_assert_not_null(t);
    uint64_t r0 = real_now_ns();
    long spins = 0;
    /* a starved timer never fires: the cap only ends the loop */
    while (!timer_fired && real_now_ns() - r0 < slow_ns(WEFT_SEC(20))) {
        cr_assert_eq(weft_yield(), 0);
        spins++;
    }
    cr_assert_eq(timer_fired, 1, "a yield loop starved the timer");
    uint64_t dt = real_now_ns() - r0;
    if (real_time_asserted())
        cr_assert_lt(dt, WEFT_SEC(1),
                     "a 5 ms timer fired after %llu ns of yields",
                     (unsigned long long)dt);
    cr_assert_gt(spins, 0);
    cr_assert_eq(weft_task_join(t, NULL), 0);
    return NULL;
}

Test(time_real, yield_loop_does_not_starve_timers)
{
    run_real(yield_spin_root, NULL);
}

/* What a timer wakes runs ahead of the tasks queued before it fired: a
 * sleeper behind 300 tasks that have never run resumes after the batch in
 * which its deadline passed (at most 64 runs), not after the 300.  The first
 * queued task holds the CPU until the deadline has passed, so the order does
 * not depend on the machine's speed. */
#define TF_QUEUED 300
static uint64_t tf_deadline;
static int tf_order[512], tf_ran; /* every run of both tests below */

static void *tf_sleeper(void *arg)
{
    (void)arg;
    tf_deadline = weft_now() + WEFT_MS(1);
    cr_assert_eq(weft_sleep_until(tf_deadline), 0);
    cr_assert_geq(weft_now(), tf_deadline, "woken early");
    tf_order[tf_ran++] = -1;
    return NULL;
}

static void *tf_queued(void *arg)
{
    while (weft_now() < tf_deadline + WEFT_US(100))
        ; /* only the first one waits: the CPU held past the deadline */
    tf_order[tf_ran++] = (int)(intptr_t)arg;
    return NULL;
}

static void *timer_first_root(void *arg)
{
    (void)arg;
    static weft_task *h[TF_QUEUED + 1];
    tf_ran = 0;
    tf_deadline = UINT64_MAX;
    cr_assert_not_null(h[0] = weft_spawn(tf_sleeper, NULL));
    for (int i = 0; i < TF_QUEUED; i++)
        cr_assert_not_null(h[i + 1] =
                               weft_spawn(tf_queued, (void *)(intptr_t)i));
    for (int i = 0; i <= TF_QUEUED; i++)
        cr_assert_eq(weft_task_join(h[i], NULL), 0);
    cr_assert_eq(tf_ran, TF_QUEUED + 1);
    int at = -1;
    for (int i = 0; i <= TF_QUEUED; i++) {
        if (tf_order[i] == -1)
            at = i;
        else /* the queued tasks keep their FIFO order among themselves */
            cr_assert_eq(tf_order[i], i - (at >= 0));
    }
    cr_assert(at >= 1 && at <= 64,
              "the sleeper ran after %d of the queued tasks (not within "
              "the batch in which its timer expired)",
              at);
    return NULL;
}

Test(time_real, timer_wakes_run_ahead_of_the_queue)
{
    run_real(timer_first_root, NULL);
}

/* ... and they keep deadline order when more expire than a batch runs:
 * 100 sleepers expire together, the first to run holds the CPU until a
 * later sleeper's deadline has passed too; that one, woken by the next
 * service, runs after the 36 still queued, not ahead of them.  (On a
 * machine too slow to arm all 100 within 20 ms, those armed late yield
 * instead and are left out.) */
#define TF_EARLY 100
static uint64_t tf_later;

static void *tf_early(void *arg)
{
    /* A sleeper that arms after the deadline (a slow machine) only yields:
     * it is not one of the timers whose order is checked. */
    int timed = weft_now() < tf_deadline;
    cr_assert_eq(weft_sleep_until(tf_deadline), 0);
    while (weft_now() < tf_later + WEFT_US(100))
        ; /* only the first to run waits */
    tf_order[tf_ran++] = (int)(intptr_t)arg + (timed ? 0 : 2000);
    return NULL;
}

static void *tf_late(void *arg)
{
    (void)arg;
    cr_assert_eq(weft_sleep_until(tf_later), 0);
    tf_order[tf_ran++] = -1;
    return NULL;
}

static void *deadline_order_root(void *arg)
{
    (void)arg;
    static weft_task *h[TF_EARLY + 1 + TF_QUEUED];
    int n = 0;
    tf_ran = 0;
    tf_deadline = weft_now() + WEFT_MS(20);
    tf_later = tf_deadline + WEFT_MS(1);
    for (int i = 0; i < TF_EARLY; i++)
        cr_assert_not_null(h[n++] = weft_spawn(tf_early, (void *)(intptr_t)i));
    cr_assert_not_null(h[n++] = weft_spawn(tf_late, NULL));
    /* keeps the queue busy: the first holds the CPU past tf_deadline */
    for (int i = 0; i < TF_QUEUED; i++)
        cr_assert_not_null(
            h[n++] = weft_spawn(tf_queued, (void *)(intptr_t)(1000 + i)));
    for (int i = 0; i < n; i++)
        cr_assert_eq(weft_task_join(h[i], NULL), 0);
    cr_assert_eq(tf_ran, n);
    int early = -1, late_at = -1;
    for (int i = 0; i < n; i++) {
        if (tf_order[i] == -1)
            late_at = i;
        else if (tf_order[i] < TF_EARLY) { /* in arming order */
            cr_assert_gt(tf_order[i], early);
            early = tf_order[i];
        }
    }
    cr_assert_geq(late_at, 0);
    int early_after = 0;
    for (int i = late_at + 1; i < n; i++)
        early_after += tf_order[i] >= 0 && tf_order[i] < TF_EARLY;
    cr_assert_eq(early_after, 0,
                 "%d sleepers woken before the later one ran after it",
                 early_after);
    return NULL;
}

Test(time_real, timer_wakes_keep_deadline_order_across_batches)
{
    run_real(deadline_order_root, NULL);
}

/* ------------------------------------------------------------------------ */
/* Ordering (virtual clock)                                                 */
/* ------------------------------------------------------------------------ */

enum { EQ = 100 };
static int order[EQ];
static int order_n;

static void *record_after_sleep(void *arg)
{
    cr_assert_eq(weft_sleep(WEFT_MS(10)), 0);
    order[order_n++] = (int)(intptr_t)arg;
    return NULL;
}

static void *equal_deadlines_root(void *arg)
{
    (void)arg;
    weft_task *ts[EQ];
    for (intptr_t i = 0; i < EQ; i++)
        ts[i] = weft_spawn(record_after_sleep, (void *)i);
    for (int i = 0; i < EQ; i++)
        cr_assert_eq(weft_task_join(ts[i], NULL), 0);
    cr_assert_eq(weft_now(), WEFT_MS(10));
    return NULL;
}

Test(time, equal_deadlines_fire_in_arming_order)
{
    order_n = 0;
    run_virtual(equal_deadlines_root, NULL);
    cr_assert_eq(order_n, EQ);
    for (int i = 0; i < EQ; i++)
        cr_assert_eq(order[i], i, "position %d woke task %d", i, order[i]);
}

/* Arm in reverse spawn order: task i yields EQ-1-i times first, then all
 * sleep until the same instant. */
static void *record_after_sleep_until(void *arg)
{
    int i = (int)(intptr_t)arg;
    for (int k = 0; k < EQ - 1 - i; k++)
        cr_assert_eq(weft_yield(), 0);
    cr_assert_eq(weft_sleep_until(WEFT_MS(10)), 0);
    order[order_n++] = i;
    return NULL;
}

static void *reverse_arming_root(void *arg)
{
    (void)arg;
    weft_task *ts[EQ];
    for (intptr_t i = 0; i < EQ; i++)
        ts[i] = weft_spawn(record_after_sleep_until, (void *)i);
    for (int i = 0; i < EQ; i++)
        cr_assert_eq(weft_task_join(ts[i], NULL), 0);
    cr_assert_eq(weft_now(), WEFT_MS(10));
    return NULL;
}

Test(time, equal_deadlines_fire_in_arming_order_not_spawn_order)
{
    order_n = 0;
    run_virtual(reverse_arming_root, NULL);
    cr_assert_eq(order_n, EQ);
    for (int i = 0; i < EQ; i++)
        cr_assert_eq(order[i], EQ - 1 - i, "position %d woke task %d", i,
                     order[i]);
}

static void *record_ms(void *arg)
{
    cr_assert_eq(weft_sleep(WEFT_MS((intptr_t)arg)), 0);
    tlog_add(&lg, "%ld@%llu", (long)(intptr_t)arg,
             (unsigned long long)(weft_now() / WEFT_MS(1)));
    return NULL;
}

static void *distinct_root(void *arg)
{
    (void)arg;
    static const intptr_t ms[] = {30, 10, 20, 5, 25, 15};
    weft_task *ts[6];
    for (int i = 0; i < 6; i++)
        ts[i] = weft_spawn(record_ms, (void *)ms[i]);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(weft_task_join(ts[i], NULL), 0);
    return NULL;
}

Test(time, timers_fire_in_deadline_order)
{
    memset(&lg, 0, sizeof lg);
    run_virtual(distinct_root, NULL);
    cr_assert_str_eq(lg.buf, "5@5 10@10 15@15 20@20 25@25 30@30");
}

struct looper {
    char name;
    int rounds;
    int use_sleep0;
};

static void *looper_body(void *arg)
{
    struct looper *l = arg;
    for (int k = 0; k < l->rounds; k++) {
        tlog_add(&lg, "%c%d", l->name, k);
        int rc = l->use_sleep0 ? weft_sleep(0) : weft_yield();
        cr_assert_eq(rc, 0);
    }
    return NULL;
}

static void *interleave_root(void *arg)
{
    int use_sleep0 = (int)(intptr_t)arg;
    struct looper l[3] = {
        {'A', 3, use_sleep0}, {'B', 3, use_sleep0}, {'C', 3, use_sleep0}};
    weft_task *ts[3];
    for (int i = 0; i < 3; i++)
        ts[i] = weft_spawn(looper_body, &l[i]);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(weft_task_join(ts[i], NULL), 0);
    cr_assert_eq(weft_now(), 0, "yield and sleep(0) take no virtual time");
    return NULL;
}

Test(time, yield_goes_behind_all_runnable_tasks)
{
    memset(&lg, 0, sizeof lg);
    run_virtual(interleave_root, (void *)0);
    cr_assert_str_eq(lg.buf, "A0 B0 C0 A1 B1 C1 A2 B2 C2");
}

Test(time, sleep_zero_acts_like_yield)
{
    memset(&lg, 0, sizeof lg);
    run_virtual(interleave_root, (void *)1);
    cr_assert_str_eq(lg.buf, "A0 B0 C0 A1 B1 C1 A2 B2 C2");
}

/* A task spawned by a yielding task runs before the yielder resumes. */
static void *log_word(void *arg)
{
    tlog_add(&lg, "%s", (const char *)arg);
    return NULL;
}

static void *yield_spawn_root(void *arg)
{
    (void)arg;
    weft_task *a = weft_spawn(log_word, "a");
    weft_task *b = weft_spawn(log_word, "b");
    tlog_add(&lg, "root0");
    cr_assert_eq(weft_yield(), 0);
    tlog_add(&lg, "root1");
    cr_assert_eq(weft_task_join(a, NULL), 0);
    cr_assert_eq(weft_task_join(b, NULL), 0);
    return NULL;
}

Test(time, yield_runs_every_runnable_task_first)
{
    memset(&lg, 0, sizeof lg);
    run_virtual(yield_spawn_root, NULL);
    cr_assert_str_eq(lg.buf, "root0 a b root1");
}

static int past_flag;

static void *set_past_flag(void *arg)
{
    (void)arg;
    past_flag = 1;
    return NULL;
}

static void *sleep_until_root(void *arg)
{
    (void)arg;
    cr_assert_eq(weft_sleep(WEFT_MS(10)), 0);
    past_flag = 0;
    weft_task *t = weft_spawn(set_past_flag, NULL);
    cr_assert_eq(weft_sleep_until(WEFT_MS(5)), 0);
    cr_assert_eq(weft_now(), WEFT_MS(10), "a past deadline takes no time");
    cr_assert_eq(past_flag, 1, "a past deadline yields");
    cr_assert_eq(weft_sleep_until(weft_now()), 0);
    cr_assert_eq(weft_sleep_until(0), 0);
    cr_assert_eq(weft_now(), WEFT_MS(10));
    cr_assert_eq(weft_sleep_until(WEFT_MS(25)), 0);
    cr_assert_eq(weft_now(), WEFT_MS(25));
    cr_assert_eq(weft_task_join(t, NULL), 0);
    return NULL;
}

Test(time, sleep_until_past_deadline_yields)
{
    run_virtual(sleep_until_root, NULL);
}

/* ------------------------------------------------------------------------ */
/* Virtual clock                                                            */
/* ------------------------------------------------------------------------ */

static void *second_ticker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3600; i++)
        cr_assert_eq(weft_sleep(WEFT_SEC(1)), 0);
    return NULL;
}

static void *hour_root(void *arg)
{
    (void)arg;
    weft_task *t = weft_spawn(second_ticker, NULL);
    cr_assert_not_null(t);
    for (int i = 0; i < 60; i++) {
        cr_assert_eq(weft_sleep(WEFT_SEC(59)), 0);
        cr_assert_eq(weft_sleep(WEFT_SEC(1)), 0);
        cr_assert_eq(weft_now(), WEFT_SEC(60) * (uint64_t)(i + 1));
    }
    cr_assert_eq(weft_task_join(t, NULL), 0);
    cr_assert_eq(weft_now(), WEFT_SEC(3600));
    return (void *)(uintptr_t)weft_now();
}

Test(time, virtual_hour_takes_no_real_time)
{
    uint64_t r0 = real_now_ns();
    void *r = run_virtual(hour_root, NULL);
    uint64_t dt = real_now_ns() - r0;
    cr_assert_eq((uint64_t)(uintptr_t)r, WEFT_SEC(3600));
    cr_assert_lt(dt, slow_ns(WEFT_SEC(1)),
                 "a virtual hour took %llu ns of real time",
                 (unsigned long long)dt);
}

static void *many_deadlines_root(void *arg)
{
    (void)arg;
    /* deadlines far apart and close together, in a scrambled order */
    static const uint64_t ms[] = {86400000, 1, 3600000, 2, 60000, 1000, 0, 7};
    weft_future *fs[8];
    void *res[8];
    for (int i = 0; i < 8; i++)
        fs[i] = weft_sleep_future(WEFT_MS(ms[i]));
    cr_assert_eq(weft_join_all(fs, 8, res), 0);
    cr_assert_eq(weft_now(), WEFT_MS(86400000));
    /* very long timers are fine too */
    cr_assert_eq(weft_sleep(WEFT_SEC(86400) * 365 * 10), 0);
    cr_assert_eq(weft_now(), WEFT_SEC(86400) * 3651);
    return NULL;
}

Test(time, virtual_clock_jumps_over_any_length)
{
    run_virtual(many_deadlines_root, NULL);
}

/* ------------------------------------------------------------------------ */
/* Cancelled timers leave nothing behind                                    */
/* ------------------------------------------------------------------------ */

enum { MANY = 10000 };

static void *sleep_long(void *arg)
{
    intptr_t i = (intptr_t)arg;
    int rc = weft_sleep(WEFT_SEC(3600) + WEFT_MS(i));
    return (void *)(intptr_t)rc;
}

static void *aborted_timers_root(void *arg)
{
    (void)arg;
    weft_task **ts = malloc(MANY * sizeof *ts);
    cr_assert_not_null(ts);
    for (intptr_t i = 0; i < MANY; i++) {
        ts[i] = weft_spawn(sleep_long, (void *)i);
        cr_assert_not_null(ts[i]);
    }
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0); /* all are armed */
    for (int i = 0; i < MANY; i++)
        weft_task_abort(ts[i]);
    for (int i = 0; i < MANY; i++)
        cr_assert_eq(weft_task_join(ts[i], NULL), -ECANCELED);
    free(ts);
    uint64_t before = weft_now();
    uint64_t r0 = real_now_ns();
    cr_assert_eq(weft_sleep(WEFT_MS(2)), 0);
    if (real_time_asserted())
        cr_assert_lt(real_now_ns() - r0, WEFT_MS(500),
                     "a short sleep after the aborts was slow");
    return (void *)(uintptr_t)(weft_now() - before);
}

Test(time, aborted_timers_leave_nothing_virtual)
{
    void *r = run_virtual(aborted_timers_root, NULL);
    cr_assert_eq((uint64_t)(uintptr_t)r, WEFT_MS(2));
}

/* The 10 s bound tells "done" from "waited for the hour-long timers": far
 * apart, so it stays in every build (slow_ns). */
Test(time, aborted_timers_leave_nothing_real)
{
    uint64_t r0 = real_now_ns();
    void *r = run_real(aborted_timers_root, NULL);
    cr_assert_geq((uint64_t)(uintptr_t)r, WEFT_MS(2));
    cr_assert_lt(real_now_ns() - r0, slow_ns(WEFT_SEC(10)),
                 "weft_run waited for cancelled timers");
}

/* After aborting every sleeper, a deadlock must be reported at once: a
 * cancelled timer left armed would keep the runtime (and the virtual clock)
 * going instead. */
static void *stale_timer_root(void *arg)
{
    uint64_t *now_at_deadlock = arg;
    weft_task **ts = malloc(1000 * sizeof *ts);
    cr_assert_not_null(ts);
    for (intptr_t i = 0; i < 1000; i++)
        ts[i] = weft_spawn(sleep_long, (void *)i);
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0);
    for (int i = 0; i < 1000; i++)
        weft_task_abort(ts[i]);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(weft_task_join(ts[i], NULL), -ECANCELED);
    free(ts);
    weft_sender *tx;
    weft_receiver *rx;
    cr_assert_eq(weft_channel(sizeof(int), &tx, &rx), 0);
    int v;
    int rc = weft_recv(rx, &v); /* deadlock: our own sender is alive */
    *now_at_deadlock = weft_now();
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    return (void *)(intptr_t)rc;
}

Test(time, aborted_timers_do_not_hide_a_deadlock)
{
    uint64_t now_at = 0;
    stderr_capture cap;
    capture_stderr_begin(&cap);
    int rc = run_clock(WEFT_CLOCK_VIRTUAL, stale_timer_root, &now_at, NULL);
    char *err = capture_stderr_end(&cap);
    cr_assert_eq(rc, -EDEADLK, "got %d; stderr: %s", rc, err);
    cr_assert_eq(now_at, WEFT_MS(1),
                 "the virtual clock ran on to %llu ns: cancelled timers "
                 "stayed armed",
                 (unsigned long long)now_at);
    free(err);
}

/* ------------------------------------------------------------------------ */
/* Cancellation of a sleep                                                  */
/* ------------------------------------------------------------------------ */

static void *sleep_twice(void *arg)
{
    int *rcs = arg;
    rcs[0] = weft_sleep(WEFT_SEC(10));
    rcs[1] = weft_sleep(WEFT_SEC(10));
    rcs[2] = weft_sleep_until(WEFT_SEC(100));
    rcs[3] = weft_yield();
    return NULL;
}

static void *sleep_cancel_root(void *arg)
{
    (void)arg;
    int rcs[4] = {1, 1, 1, 1};
    weft_task *t = weft_spawn(sleep_twice, rcs);
    cr_assert_eq(weft_sleep(WEFT_MS(3)), 0);
    weft_task_abort(t);
    cr_assert_eq(weft_task_join(t, NULL), -ECANCELED);
    cr_assert_eq(weft_now(), WEFT_MS(3));
    for (int i = 0; i < 4; i++)
        cr_assert_eq(rcs[i], -ECANCELED, "call %d returned %d", i, rcs[i]);
    return NULL;
}

Test(time, cancelled_sleep_returns_ecanceled_at_once_every_time)
{
    run_virtual(sleep_cancel_root, NULL);
}

/* ---- a saturated deadline is still a timer ------------------------------ */

static void *sleep_forever(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)weft_sleep(UINT64_MAX);
}

Test(time, sleep_of_uint64_max_completes_on_virtual_clock)
{
    void *r = (void *)1;
    weft_config cfg = {.clock = WEFT_CLOCK_VIRTUAL};
    /* Not a deadlock: the clock jumps to the (saturated) deadline. */
    cr_assert_eq(weft_run_with(&cfg, sleep_forever, NULL, &r), 0);
    cr_assert_eq((intptr_t)r, 0);
}

static void run_lone_sleep(void *arg)
{
    (void)arg;
    int rc = weft_run(sleep_forever, NULL, NULL);
    _exit(rc == 0 ? 0 : 3); /* never reached: it sleeps */
}

Test(time, lone_sleep_of_uint64_max_is_not_a_deadlock)
{
    child_proc c;
    child_start(&c, run_lone_sleep, NULL);
    int status;
    int ended = child_wait(&c, 300, &status);
    if (!ended)
        child_kill(&c);
    char *err = child_stderr(&c);
    cr_assert(!ended, "the runtime gave up on a pending sleep: status %d, %s",
              status, err);
    cr_assert_null(strstr(err, "deadlock"), "stderr: %s", err);
    free(err);
}

/* ------------------------------------------------------------------------ */
/* The timer heap (time/timer.c) against a reference                        */
/* ------------------------------------------------------------------------ */

/* The timers are armed on the runtime of a root task that never yields, with
 * no waker and deadlines far beyond the virtual clock, and fired by calling
 * weft__timers_fire with a "now" of the test's own: the loop never sees one
 * due.  The test only passes rt to the library's functions (it reads none of
 * its fields), so it needs none of the library's layout definitions.  The
 * reference is a sorted array of (deadline, arming order). */

#define HEAP_BASE WEFT_SEC(1000000) /* 11.6 virtual days: never due */

typedef struct ref_entry {
    uint64_t deadline, seq;
    size_t t; /* index in hm->timers */
} ref_entry;

typedef struct heap_model {
    weft__rt *rt;
    weft__timer *timers;
    unsigned char *armed; /* per timer: in the reference */
    size_t nt;
    ref_entry *ref;
    size_t len;
    uint64_t seq;
} heap_model;

static uint64_t rng_next(uint64_t *s) /* xorshift64 */
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void hm_init(heap_model *m, size_t nt)
{
    memset(m, 0, sizeof *m);
    m->rt = weft__rt_here();
    cr_assert_not_null(m->rt);
    cr_assert_eq(weft__timers_next(m->rt), UINT64_MAX, "a timer was armed");
    m->nt = nt;
    m->timers = calloc(nt, sizeof *m->timers);
    m->armed = calloc(nt, 1);
    m->ref = calloc(nt, sizeof *m->ref);
    cr_assert(m->timers && m->armed && m->ref);
    for (size_t i = 0; i < nt; i++)
        weft__timer_init(&m->timers[i]);
}

/* Heap and table consistent, the earliest deadline the reference's, and
 * exactly the reference's timers armed (that scan when full is set). */
static void hm_check(heap_model *m, int full)
{
    const char *why = weft__timers_check(m->rt);
    cr_assert_null(why, "weft__timers_check: %s", why);
    cr_assert_eq(weft__timers_next(m->rt),
                 m->len ? m->ref[0].deadline : UINT64_MAX);
    if (full)
        for (size_t i = 0; i < m->nt; i++)
            cr_assert_eq(weft__timer_armed(&m->timers[i]), m->armed[i],
                         "timer %zu: armed %d, reference %d", i,
                         weft__timer_armed(&m->timers[i]), m->armed[i]);
}

static void ref_remove_at(heap_model *m, size_t k)
{
    m->armed[m->ref[k].t] = 0;
    memmove(&m->ref[k], &m->ref[k + 1], (m->len - k - 1) * sizeof *m->ref);
    m->len--;
}

static void ref_remove(heap_model *m, size_t t)
{
    if (!m->armed[t])
        return;
    for (size_t k = 0; k < m->len; k++)
        if (m->ref[k].t == t) {
            ref_remove_at(m, k);
            return;
        }
    cr_assert_fail("timer %zu not in the reference", t);
}

static void hm_arm(heap_model *m, size_t t, uint64_t deadline)
{
    cr_assert_eq(weft__timer_arm(m->rt, &m->timers[t], deadline, NULL), 0);
    ref_remove(m, t); /* re-arming cancels first */
    size_t k = m->len;
    while (k > 0 && m->ref[k - 1].deadline > deadline) /* after ties */
        k--;
    memmove(&m->ref[k + 1], &m->ref[k], (m->len - k) * sizeof *m->ref);
    m->ref[k] = (ref_entry){.deadline = deadline, .seq = m->seq++, .t = t};
    m->len++;
    m->armed[t] = 1;
    cr_assert(weft__timer_armed(&m->timers[t]));
    cr_assert_eq(m->timers[t].fired, 0);
}

static void hm_cancel(heap_model *m, size_t t)
{
    weft__timer_cancel(m->rt, &m->timers[t]);
    ref_remove(m, t);
    cr_assert(!weft__timer_armed(&m->timers[t]));
}

/* Fires at most max timers due at now: exactly the reference's first ones,
 * and with max 1, exactly its first. */
static void hm_fire(heap_model *m, uint64_t now, size_t max)
{
    size_t due = 0;
    while (due < m->len && due < max && m->ref[due].deadline <= now)
        due++;
    cr_assert_eq(weft__timers_fire(m->rt, now, max), due);
    for (size_t k = 0; k < due; k++) {
        const weft__timer *t = &m->timers[m->ref[k].t];
        cr_assert(t->fired && !weft__timer_armed(t),
                  "reference entry %zu (timer %zu, deadline %llu) did not "
                  "fire",
                  k, m->ref[k].t, (unsigned long long)m->ref[k].deadline);
    }
    for (size_t k = 0; k < due; k++)
        ref_remove_at(m, 0);
}

/* Fires one by one until nothing is due at now: the exact order. */
static void hm_drain(heap_model *m, uint64_t now)
{
    while (m->len && m->ref[0].deadline <= now) {
        hm_fire(m, now, 1);
        hm_check(m, 0);
    }
    cr_assert_eq(weft__timers_fire(m->rt, now, 1), 0);
}

static void hm_done(heap_model *m)
{
    for (size_t t = 0; t < m->nt; t++)
        hm_cancel(m, t);
    cr_assert_eq(m->len, 0);
    hm_check(m, 1);
    free(m->timers);
    free(m->armed);
    free(m->ref);
}

/* Random arm / re-arm / cancel (top, last, anywhere) / fire (one by one or
 * in batches) sequences, deadlines from a narrow window so ties abound. */
static void *heap_random_root(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg, s = seed;
    heap_model m;
    hm_init(&m, 300);
    uint64_t now = HEAP_BASE;
    for (int step = 0; step < 6000; step++) {
        uint64_t r = rng_next(&s) % 100;
        if (r < 45) {
            size_t t = rng_next(&s) % m.nt;
            uint64_t d = now + rng_next(&s) % 120;
            if (rng_next(&s) % 16 == 0)
                d = now - rng_next(&s) % 50; /* already due */
            hm_arm(&m, t, d);
        } else if (r < 70) {
            if (m.len) {
                size_t k = rng_next(&s) % 4 == 0   ? 0
                           : rng_next(&s) % 3 == 0 ? m.len - 1
                                                   : rng_next(&s) % m.len;
                hm_cancel(&m, m.ref[k].t);
            } else {
                hm_cancel(&m, rng_next(&s) % m.nt); /* not armed: no-op */
            }
        } else if (r < 85) {
            now += rng_next(&s) % 12;
            hm_fire(&m, now, 1);
        } else if (r < 97) {
            now += rng_next(&s) % 12;
            hm_fire(&m, now, 1 + rng_next(&s) % 8);
        } else {
            now += rng_next(&s) % 40;
            hm_drain(&m, now);
        }
        hm_check(&m, step % 16 == 0);
    }
    hm_drain(&m, UINT64_MAX);
    hm_done(&m);
    return NULL;
}

Test(timer_heap, random_sequences_fire_as_a_sorted_reference)
{
    static const uint64_t seeds[] = {1, 42, 0x9e3779b97f4a7c15ull, 20261205,
                                     777};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
        run_virtual(heap_random_root, (void *)(uintptr_t)seeds[i]);
}

/* Armed in deadline order, timer i sits at heap position i (no sift moves
 * it): cancel the last position, the top, then the middle, and the rest
 * still fires in order. */
static void *heap_cancel_positions_root(void *arg)
{
    (void)arg;
    enum { N = 100 };
    heap_model m;
    hm_init(&m, N);
    for (size_t t = 0; t < N; t++)
        hm_arm(&m, t, HEAP_BASE + t * 10);
    hm_check(&m, 1);
    hm_cancel(&m, N - 1); /* the last position: nothing to move */
    hm_check(&m, 1);
    hm_cancel(&m, 0); /* the top */
    hm_check(&m, 1);
    hm_cancel(&m, N / 2); /* the middle */
    hm_check(&m, 1);
    hm_cancel(&m, N / 2); /* twice: nothing */
    hm_check(&m, 1);
    cr_assert_eq(weft__timers_next(m.rt), HEAP_BASE + 10);
    hm_drain(&m, UINT64_MAX);
    cr_assert_eq(m.len, 0);
    hm_done(&m);
    return NULL;
}

Test(timer_heap, cancel_from_last_top_and_middle)
{
    run_virtual(heap_cancel_positions_root, NULL);
}

/* Freed slot ids are reused last-freed first, so a steady number of armed
 * timers keeps using the same few ids. */
static void *heap_slot_reuse_root(void *arg)
{
    (void)arg;
    heap_model m;
    hm_init(&m, 8);
    weft__timer *t = m.timers;
    hm_arm(&m, 0, HEAP_BASE + 3);
    hm_arm(&m, 1, HEAP_BASE + 1);
    hm_arm(&m, 2, HEAP_BASE + 2);
    uint32_t a = t[0].slot, b = t[1].slot, c = t[2].slot;
    cr_assert(a != b && b != c && a != c);
    hm_cancel(&m, 1);
    hm_arm(&m, 3, HEAP_BASE + 5);
    cr_assert_eq(t[3].slot, b, "the freed id is reused");
    hm_cancel(&m, 0);
    hm_cancel(&m, 2);
    hm_arm(&m, 4, HEAP_BASE + 4);
    cr_assert_eq(t[4].slot, c, "the last freed id first");
    hm_arm(&m, 5, HEAP_BASE + 4);
    cr_assert_eq(t[5].slot, a);
    hm_check(&m, 1);
    /* firing frees ids too, and re-arming keeps them within {a, b, c} */
    uint32_t max = a > b ? a : b;
    max = max > c ? max : c;
    for (int round = 0; round < 200; round++) {
        hm_fire(&m, HEAP_BASE + 4, 1); /* timer 4, or 5 after it */
        size_t fired = m.armed[4] ? 5 : 4;
        cr_assert(!m.armed[fired]);
        hm_arm(&m, fired, HEAP_BASE + 4);
        for (size_t i = 3; i <= 5; i++)
            cr_assert_leq(t[i].slot, max, "round %d: timer %zu got id %u",
                          round, i, t[i].slot);
        hm_check(&m, 1);
    }
    hm_done(&m);
    return NULL;
}

Test(timer_heap, freed_slot_ids_are_reused_last_freed_first)
{
    run_virtual(heap_slot_reuse_root, NULL);
}

/* Equal deadlines fire in arming order, whatever the timers' order in
 * memory; re-arming one for the same deadline puts it last. */
static void *heap_ties_root(void *arg)
{
    (void)arg;
    enum { N = 200 };
    heap_model m;
    hm_init(&m, N);
    uint64_t s = 7;
    size_t perm[N];
    for (size_t i = 0; i < N; i++)
        perm[i] = i;
    for (size_t i = N - 1; i > 0; i--) {
        size_t j = rng_next(&s) % (i + 1), x = perm[i];
        perm[i] = perm[j];
        perm[j] = x;
    }
    for (size_t i = 0; i < N; i++)
        hm_arm(&m, perm[i], HEAP_BASE);
    hm_arm(&m, perm[0], HEAP_BASE);         /* now last of the ties */
    hm_arm(&m, perm[N / 2], HEAP_BASE - 1); /* earlier: first */
    hm_check(&m, 1);
    size_t expect[N], n = 0;
    expect[n++] = perm[N / 2];
    for (size_t i = 1; i < N; i++)
        if (i != N / 2)
            expect[n++] = perm[i];
    expect[n++] = perm[0];
    cr_assert_eq(n, N);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(m.ref[0].t, expect[i]); /* the reference agrees */
        hm_fire(&m, HEAP_BASE, 1);
        cr_assert(m.timers[expect[i]].fired, "%zu-th to fire: timer %zu", i,
                  expect[i]);
    }
    hm_done(&m);
    return NULL;
}

Test(timer_heap, ties_fire_first_armed_first)
{
    run_virtual(heap_ties_root, NULL);
}

/* Past several doublings of the heap and the slot table (64 to 8192): all
 * stays consistent, then everything fires in order, then the emptied table
 * is refilled from its free list. */
static void *heap_growth_root(void *arg)
{
    (void)arg;
    enum { N = 5000 };
    heap_model m;
    hm_init(&m, N);
    uint64_t s = 99;
    for (size_t t = 0; t < N; t++) {
        hm_arm(&m, t, HEAP_BASE + rng_next(&s) % 1000);
        if ((t & (t + 1)) == 0 || t % 500 == 0) /* 2^k - 1: before a growth */
            hm_check(&m, 0);
    }
    hm_check(&m, 1);
    for (size_t t = 0; t < N; t += 3)
        hm_cancel(&m, t);
    hm_check(&m, 1);
    for (uint64_t now = HEAP_BASE; now < HEAP_BASE + 1000; now += 97)
        hm_fire(&m, now, SIZE_MAX); /* in batches */
    hm_check(&m, 1);
    hm_drain(&m, UINT64_MAX);
    for (size_t t = 0; t < N; t++) {
        hm_arm(&m, t, HEAP_BASE + rng_next(&s) % 1000);
        cr_assert_lt(m.timers[t].slot, N, "ids come from the free list");
    }
    hm_check(&m, 1);
    hm_drain(&m, UINT64_MAX);
    hm_done(&m);
    return NULL;
}

Test(timer_heap, growth_past_several_resizes)
{
    run_virtual(heap_growth_root, NULL);
}
