/*
 * tests/test_task.c - tasks: spawn, join, abort, detach, is_finished,
 * cancellation, spawn options, many tasks, stacks and stack overflow.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "support.h"
#include "weft.h"

/* ------------------------------------------------------------------------ */
/* Spawn and join                                                           */
/* ------------------------------------------------------------------------ */

static int flag;

static void *set_flag(void *arg)
{
    flag = (int)(intptr_t)arg;
    return NULL;
}

static void *lazy_root(void *arg)
{
    (void)arg;
    flag = 0;
    weft_task *t = weft_spawn(set_flag, (void *)(intptr_t)5);
    cr_assert_not_null(t);
    cr_assert_eq(flag, 0, "the task ran inside weft_spawn");
    /* non-suspending calls do not run it either */
    cr_assert_eq(weft_task_is_finished(t), 0);
    (void)weft_now();
    cr_assert_eq(flag, 0, "the task ran before the spawner suspended");
    cr_assert_eq(weft_yield(), 0);
    cr_assert_eq(flag, 5, "the task did not run when the spawner yielded");
    cr_assert_eq(weft_task_join(t, NULL), 0);
    return NULL;
}

Test(task, spawn_starts_only_when_spawner_suspends)
{
    run_virtual(lazy_root, NULL);
}

/* ------------------------------------------------------------------------ */
/* Run order: hand-offs (weft.h, "Run order")                               */
/* ------------------------------------------------------------------------ */

static char order_log[64];

static void order_note(const char *what)
{
    if (order_log[0])
        strcat(order_log, " ");
    strcat(order_log, what);
}

static void *note_arg(void *arg)
{
    order_note(arg);
    return NULL;
}

static void *join_unstarted_root(void *arg)
{
    (void)arg;
    order_log[0] = 0;
    weft_task *a = weft_spawn(note_arg, "A");
    weft_task *b = weft_spawn(note_arg, "B");
    weft_task *c = weft_spawn(note_arg, "C");
    cr_assert(a && b && c);
    cr_assert_eq(weft_task_join(c, NULL), 0);
    order_note("main");
    cr_assert_eq(weft_yield(), 0);
    order_note("yielded");
    cr_assert_eq(weft_task_join(a, NULL), 0);
    cr_assert_eq(weft_task_join(b, NULL), 0);
    return NULL;
}

/* C, queued behind A and B, runs first because it is joined before it
 * started; main follows it at once, then the queue (A, B) before the yield
 * returns.  First in, first out would give "A B C main yielded". */
Test(task, joining_a_task_not_started_runs_it_next)
{
    run_virtual(join_unstarted_root, NULL);
    cr_assert_str_eq(order_log, "C main A B yielded");
}

static void *note_yield_note(void *arg)
{
    const char *name = arg;
    char a[8], b[8];
    snprintf(a, sizeof a, "%s1", name);
    snprintf(b, sizeof b, "%s2", name);
    order_note(a);
    cr_assert_eq(weft_yield(), 0);
    order_note(b);
    return NULL;
}

static void *join_started_root(void *arg)
{
    (void)arg;
    order_log[0] = 0;
    weft_task *a = weft_spawn(note_yield_note, "A");
    weft_task *b = weft_spawn(note_yield_note, "B");
    cr_assert(a && b);
    cr_assert_eq(weft_task_join(a, NULL), 0);
    order_note("main");
    cr_assert_eq(weft_task_join(b, NULL), 0);
    return NULL;
}

/* A returns while B is queued: main, joining A, runs before B. */
Test(task, a_task_that_returns_hands_over_to_its_joiner)
{
    run_virtual(join_started_root, NULL);
    cr_assert_str_eq(order_log, "A1 B1 A2 main B2");
}

static int chain_joins;
static int chain_seen = -1;

static void *see_chain(void *arg)
{
    (void)arg;
    chain_seen = chain_joins;
    return NULL;
}

/* Spawns and joins n children one at a time (fewer once see_chain has run,
 * with until_seen), counting them in chain_joins. */
static void join_children(int n, int until_seen)
{
    for (int i = 0; i < n && !(until_seen && chain_seen >= 0); i++) {
        weft_task *c = weft_spawn(note_arg, "");
        cr_assert_not_null(c);
        cr_assert_eq(weft_task_join(c, NULL), 0);
        chain_joins++;
    }
}

static void *chain_root(void *arg)
{
    (void)arg;
    chain_joins = 0;
    chain_seen = -1;
    weft_task *x = weft_spawn(see_chain, NULL);
    cr_assert_not_null(x);
    join_children(1000, 0);
    cr_assert_eq(weft_task_join(x, NULL), 0);
    return NULL;
}

/* Each spawn-and-join is two hand-offs (the child, then the root): after
 * 128 of them, 256 in a row, the next child is queued at the tail, behind
 * the task spawned before the loop, which then runs. */
Test(task, hand_offs_in_a_row_are_bounded)
{
    order_log[0] = 0;
    run_virtual(chain_root, NULL);
    cr_assert_eq(chain_seen, 128, "the task queued first ran after %d joins",
                 chain_seen);
}

static int ticker_stop;

static void *ticker(void *arg)
{
    (void)arg;
    while (!ticker_stop)
        cr_assert_eq(weft_sleep(1000), 0); /* 1 us: expired at each check */
    return NULL;
}

static void *chain_ticker_root(void *arg)
{
    (void)arg;
    chain_joins = 0;
    chain_seen = -1;
    ticker_stop = 0;
    weft_task *tk = weft_spawn(ticker, NULL);
    cr_assert_not_null(tk);
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0); /* the ticker is sleeping */
    weft_task *x = weft_spawn(see_chain, NULL);
    cr_assert_not_null(x);
    join_children(20000, 1);
    ticker_stop = 1;
    cr_assert_eq(weft_task_join(x, NULL), 0);
    cr_assert_eq(weft_task_join(tk, NULL), 0);
    return NULL;
}

/* The bound holds while a timer wakes a task between the hand-offs (the
 * real clock: a 1 us sleep has expired at every check of the timers): a
 * timer's run neither counts nor ends the row of hand-offs. */
Test(task, hand_offs_in_a_row_are_bounded_while_timers_fire)
{
    order_log[0] = 0;
    run_real(chain_ticker_root, NULL);
    cr_assert_eq(chain_seen, 128, "the task queued first ran after %d joins",
                 chain_seen);
}

enum { SLEEPERS = 100, SLEEPS = 300 };
static int sleeper_iters, iters_when_q_ran;

static void *busy_sleeper(void *arg)
{
    (void)arg;
    for (int i = 0; i < SLEEPS; i++) {
        cr_assert_eq(weft_sleep(1), 0); /* expired at every check */
        sleeper_iters++;
    }
    return NULL;
}

static void *mark_q(void *arg)
{
    (void)arg;
    iters_when_q_ran = sleeper_iters;
    return NULL;
}

static void *timer_flood_root(void *arg)
{
    (void)arg;
    weft_task *h[SLEEPERS];
    sleeper_iters = 0;
    iters_when_q_ran = -1;
    for (int i = 0; i < SLEEPERS; i++)
        cr_assert_not_null(h[i] = weft_spawn(busy_sleeper, NULL));
    while (sleeper_iters < 20 * SLEEPERS) /* every sleeper under way */
        cr_assert_eq(weft_sleep(1), 0);
    weft_task *q = weft_spawn(mark_q, NULL);
    cr_assert_not_null(q);
    for (int i = 0; i < SLEEPERS; i++)
        cr_assert_eq(weft_task_join(h[i], NULL), 0);
    cr_assert_eq(weft_task_join(q, NULL), 0);
    return NULL;
}

/* 100 tasks whose sleeps have always expired: the timers wake more than a
 * batch (64 runs) at every check.  A task queued without a timer still
 * runs, first in the batch after a full one that ran only timers' wakes;
 * before, it waited until every sleeper had finished (30,000 sleeps). */
Test(task, timers_waking_a_batch_every_batch_do_not_starve_the_queue)
{
    run_real(timer_flood_root, NULL);
    cr_assert_geq(iters_when_q_ran, 20 * SLEEPERS);
    cr_assert_lt(iters_when_q_ran, 30 * SLEEPERS,
                 "the task queued behind the timers ran after %d sleeps",
                 iters_when_q_ran);
}

static size_t tree_stacks_max;

static void *tree_node(void *arg)
{
    intptr_t depth = (intptr_t)arg;
    weft_stats st;
    cr_assert_eq(weft_runtime_stats(&st), 0);
    if (st.stacks_in_use > tree_stacks_max)
        tree_stacks_max = st.stacks_in_use;
    if (depth == 0)
        return (void *)1;
    weft_task *h[10];
    for (int i = 0; i < 10; i++)
        cr_assert_not_null(h[i] = weft_spawn(tree_node, (void *)(depth - 1)));
    intptr_t sum = 0;
    for (int i = 0; i < 10; i++) {
        void *r;
        cr_assert_eq(weft_task_join(h[i], &r), 0);
        sum += (intptr_t)r;
    }
    return (void *)sum;
}

static void *tree_root(void *arg)
{
    (void)arg;
    void *r;
    tree_stacks_max = 0;
    weft_task *t = weft_spawn(tree_node, (void *)4);
    cr_assert_not_null(t);
    cr_assert_eq(weft_task_join(t, &r), 0);
    cr_assert_eq((intptr_t)r, 10000);
    return NULL;
}

/* skynet's shape, 11,111 tasks: first in, first out starts all 1,111 inner
 * nodes before the first leaf returns, each holding a stack; depth first,
 * with a chain of hand-offs broken every 256 runs, 35 are in use at most. */
Test(task, a_tree_of_spawns_and_joins_runs_depth_first)
{
    run_virtual(tree_root, NULL);
    cr_assert_leq(tree_stacks_max, 64, "%zu stacks in use at once",
                  tree_stacks_max);
}

static void *sleep_then_value(void *arg)
{
    cr_assert_eq(weft_sleep(WEFT_MS(10)), 0);
    return (void *)((intptr_t)arg * 2);
}

static void *join_root(void *arg)
{
    (void)arg;
    weft_task *a = weft_spawn(sleep_then_value, (void *)(intptr_t)21);
    weft_task *b = weft_spawn(set_flag, (void *)(intptr_t)3);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    void *r = NULL;
    cr_assert_eq(weft_task_join(a, &r), 0);
    cr_assert_eq((intptr_t)r, 42);
    cr_assert_eq(weft_now(), WEFT_MS(10));
    cr_assert_eq(weft_task_join(b, NULL), 0, "join accepts a NULL result");
    cr_assert_eq(flag, 3);
    return NULL;
}

Test(task, join_returns_the_result) { run_virtual(join_root, NULL); }

/* ------------------------------------------------------------------------ */
/* Abort                                                                    */
/* ------------------------------------------------------------------------ */

struct sleeper_state {
    int started;
    int sleep_rc;
    int cancelled_before; /* weft_is_cancelled() before the sleep */
    int cancelled_after;  /* and after it returned */
    int cleaned;
};

static void *long_sleeper(void *arg)
{
    struct sleeper_state *s = arg;
    s->started++;
    s->cancelled_before = weft_is_cancelled();
    s->sleep_rc = weft_sleep(WEFT_SEC(3600));
    s->cancelled_after = weft_is_cancelled();
    s->cleaned++;
    return (void *)(intptr_t)123;
}

static void *abort_root(void *arg)
{
    (void)arg;
    struct sleeper_state s = {.sleep_rc = 1};
    weft_task *t = weft_spawn(long_sleeper, &s);
    cr_assert_not_null(t);
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    cr_assert_eq(s.started, 1);
    cr_assert_eq(weft_task_is_finished(t), 0);
    weft_task_abort(t);
    void *r = (void *)0x1;
    cr_assert_eq(weft_task_join(t, &r), -ECANCELED);
    cr_assert_eq(s.sleep_rc, -ECANCELED);
    cr_assert_eq(s.cleaned, 1, "the task must have unwound when join returns");
    cr_assert_eq(s.cancelled_before, 0);
    cr_assert_eq(s.cancelled_after, 1, "weft_is_cancelled in aborted task");
    cr_assert_eq(weft_is_cancelled(), 0, "the root is not cancelled");
    cr_assert_lt(weft_now(), WEFT_SEC(1), "abort must not wait for the timer");
    return NULL;
}

Test(task, join_of_aborted_task_is_ecanceled) { run_virtual(abort_root, NULL); }

static void *return_seven(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)7;
}

static void *abort_after_return_root(void *arg)
{
    (void)arg;
    weft_task *t = weft_spawn(return_seven, NULL);
    cr_assert_not_null(t);
    cr_assert_eq(weft_yield(), 0);
    cr_assert_eq(weft_task_is_finished(t), 1);
    weft_task_abort(t);
    weft_task_abort(t);
    cr_assert_eq(weft_task_is_finished(t), 1);
    void *r = NULL;
    cr_assert_eq(weft_task_join(t, &r), 0,
                 "a task that returned before abort joins with 0");
    cr_assert_eq((intptr_t)r, 7);
    return NULL;
}

Test(task, abort_after_return_joins_zero)
{
    run_virtual(abort_after_return_root, NULL);
}

static int never_body_runs;
static int never_drops;

static void *never_body(void *arg)
{
    (void)arg;
    never_body_runs++;
    return NULL;
}

static void never_drop(void *arg)
{
    cr_assert_eq((intptr_t)arg, 4242);
    never_drops++;
}

static void *abort_unstarted_root(void *arg)
{
    (void)arg;
    weft_spawn_opts o = {.name = "never", .drop_arg = never_drop};
    weft_task *t = weft_spawn_with(&o, never_body, (void *)(intptr_t)4242);
    cr_assert_not_null(t);
    weft_task_abort(t); /* it has not started: the spawner never suspended */
    weft_task_abort(t);
    cr_assert_eq(weft_yield(), 0);
    cr_assert_eq(weft_task_is_finished(t), 1,
                 "a task cancelled before it ran is finished");
    cr_assert_eq(weft_task_join(t, NULL), -ECANCELED);
    cr_assert_eq(never_body_runs, 0, "the body of an aborted idle task ran");
    cr_assert_eq(never_drops, 1, "drop_arg called %d times", never_drops);
    return NULL;
}

Test(task, abort_of_never_started_task)
{
    never_body_runs = never_drops = 0;
    run_virtual(abort_unstarted_root, NULL);
    cr_assert_eq(never_body_runs, 0);
    cr_assert_eq(never_drops, 1);
}

static void *idempotent_root(void *arg)
{
    (void)arg;
    struct sleeper_state s = {.sleep_rc = 1};
    weft_task *t = weft_spawn(long_sleeper, &s);
    cr_assert_not_null(t);
    cr_assert_eq(weft_yield(), 0);
    weft_task_abort(t);
    weft_task_abort(t);
    cr_assert_eq(weft_yield(), 0);
    weft_task_abort(t);
    cr_assert_eq(weft_task_join(t, NULL), -ECANCELED);
    cr_assert_eq(s.started, 1);
    cr_assert_eq(s.cleaned, 1);
    cr_assert_eq(s.sleep_rc, -ECANCELED);
    return NULL;
}

Test(task, abort_is_idempotent) { run_virtual(idempotent_root, NULL); }

static void *cancel_points_task(void *arg)
{
    int *rcs = arg;
    rcs[0] = weft_sleep(WEFT_SEC(10));
    uint64_t t = weft_now();
    rcs[1] = weft_sleep(WEFT_SEC(10)); /* cancelled: at once, every time */
    rcs[2] = weft_yield();
    rcs[3] = weft_sleep(0);
    weft_sender *tx;
    weft_receiver *rx;
    cr_assert_eq(weft_channel(sizeof(int), &tx, &rx), 0);
    int v = 9, got = 0;
    cr_assert_eq(weft_send(tx, &v), 0, "send does not suspend");
    rcs[4] = weft_recv(rx, &got);
    rcs[6] = weft_now() == t;
    cr_assert_eq(weft_try_recv(rx, &got), 1, "the cancelled recv took it");
    cr_assert_eq(got, 9);
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    return NULL;
}

static void *cancel_points_root(void *arg)
{
    (void)arg;
    int rcs[7] = {1, 1, 1, 1, 1, 1, 0};
    weft_task *t = weft_spawn(cancel_points_task, rcs);
    cr_assert_not_null(t);
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0);
    weft_task_abort(t);
    cr_assert_eq(weft_task_join(t, NULL), -ECANCELED);
    cr_assert_eq(rcs[0], -ECANCELED);
    cr_assert_eq(rcs[1], -ECANCELED, "second sleep: %d", rcs[1]);
    cr_assert_eq(rcs[2], -ECANCELED, "yield: %d", rcs[2]);
    cr_assert_eq(rcs[3], -ECANCELED, "sleep(0): %d", rcs[3]);
    cr_assert_eq(rcs[4], -ECANCELED, "recv with an item queued: %d", rcs[4]);
    cr_assert_eq(rcs[6], 1, "cancelled calls must return at once");
    return NULL;
}

Test(task, every_suspending_call_of_a_cancelled_task_is_ecanceled)
{
    run_virtual(cancel_points_root, NULL);
}

/* ------------------------------------------------------------------------ */
/* is_finished, detach, NULL handles                                        */
/* ------------------------------------------------------------------------ */

static void *is_finished_root(void *arg)
{
    (void)arg;
    weft_task *t = weft_spawn(sleep_then_value, (void *)(intptr_t)1);
    cr_assert_not_null(t);
    cr_assert_eq(weft_task_is_finished(t), 0, "not started yet");
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    cr_assert_eq(weft_task_is_finished(t), 0, "still sleeping");
    cr_assert_eq(weft_sleep(WEFT_MS(6)), 0);
    cr_assert_eq(weft_task_is_finished(t), 1, "returned at 10 ms");
    void *r;
    cr_assert_eq(weft_task_join(t, &r), 0);
    cr_assert_eq((intptr_t)r, 2);
    return NULL;
}

Test(task, is_finished) { run_virtual(is_finished_root, NULL); }

static int detached_done;

static void *detached_body(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++)
        cr_assert_eq(weft_sleep(WEFT_MS(10)), 0);
    detached_done = 1;
    return NULL;
}

static void *detach_root(void *arg)
{
    (void)arg;
    weft_task *t = weft_spawn(detached_body, NULL);
    cr_assert_not_null(t);
    weft_task_detach(t);
    cr_assert_eq(weft_sleep(WEFT_MS(29)), 0);
    cr_assert_eq(detached_done, 0);
    cr_assert_eq(weft_sleep(WEFT_MS(2)), 0);
    cr_assert_eq(detached_done, 1, "a detached task keeps running");
    return NULL;
}

Test(task, detach_keeps_it_running)
{
    detached_done = 0;
    run_virtual(detach_root, NULL);
    cr_assert_eq(detached_done, 1);
}

static void *nulls_root(void *arg)
{
    (void)arg;
    void *r = (void *)0x9;
    cr_assert_eq(weft_task_join(NULL, &r), -EINVAL);
    cr_assert_eq(r, (void *)0x9);
    weft_task_abort(NULL);
    weft_task_detach(NULL);
    cr_assert_eq(weft_task_is_finished(NULL), -EINVAL);

    errno = 0;
    cr_assert_null(weft_spawn(NULL, NULL));
    cr_assert_eq(errno, EINVAL);

    never_drops = 0;
    weft_spawn_opts o = {.drop_arg = never_drop};
    errno = 0;
    cr_assert_null(weft_spawn_with(&o, NULL, (void *)(intptr_t)4242));
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(never_drops, 1, "a failed spawn_with calls drop_arg once");

    errno = 0;
    cr_assert_null(weft_task_future(NULL));
    cr_assert_eq(errno, EINVAL);

    /* spawn_with(NULL opts) is spawn */
    weft_task *t = weft_spawn_with(NULL, return_seven, NULL);
    cr_assert_not_null(t);
    cr_assert_eq(weft_task_join(t, &r), 0);
    cr_assert_eq((intptr_t)r, 7);
    return NULL;
}

Test(task, null_handles_are_einval) { run_virtual(nulls_root, NULL); }

/* ------------------------------------------------------------------------ */
/* Names and stacks                                                         */
/* ------------------------------------------------------------------------ */

static void *park_on_own_channel(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    cr_assert_eq(weft_channel(sizeof(int), &tx, &rx), 0);
    int v;
    int rc = weft_recv(rx, &v);
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    return (void *)(intptr_t)rc;
}

static void *name_copy_root(void *arg)
{
    (void)arg;
    char name[32];
    strcpy(name, "copied-name-xyz");
    weft_spawn_opts o = {.name = name};
    weft_task *t = weft_spawn_with(&o, park_on_own_channel, NULL);
    cr_assert_not_null(t);
    memset(name, 'Q', sizeof name - 1); /* the library keeps a copy */
    name[sizeof name - 1] = '\0';
    int rc = weft_task_join(t, NULL);
    if (rc == -ECANCELED)
        weft_task_detach(t);
    return NULL;
}

Test(task, spawn_with_name_is_copied_and_reported)
{
    stderr_capture cap;
    capture_stderr_begin(&cap);
    int rc = run_clock(WEFT_CLOCK_VIRTUAL, name_copy_root, NULL, NULL);
    char *err = capture_stderr_end(&cap);
    cr_assert_eq(rc, -EDEADLK, "got %d; stderr: %s", rc, err);
    cr_assert_not_null(strstr(err, "copied-name-xyz"),
                       "the deadlock report must name the task: %s", err);
    cr_assert_null(strstr(err, "QQQQ"), "the name was not copied: %s", err);
    free(err);
}

/* Use about 40 KiB of stack: 10 frames of 4 KiB each. */
static unsigned deep(int depth)
{
    volatile unsigned char buf[4096];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i + (size_t)depth);
    unsigned sum = depth > 0 ? deep(depth - 1) : 0;
    for (size_t i = 0; i < sizeof buf; i += 64)
        sum += buf[i];
    return sum;
}

static void *deep_task(void *arg)
{
    int depth = (int)(intptr_t)arg;
    cr_assert_eq(weft_yield(), 0);
    unsigned s = deep(depth);
    cr_assert_eq(weft_yield(), 0); /* the stack survives a switch */
    return (void *)(uintptr_t)s;
}

static void *stack_root(void *arg)
{
    (void)arg;
    unsigned expect = deep(9);
    weft_spawn_opts o = {.name = "deep", .stack_size = 64 * 1024};
    weft_task *t = weft_spawn_with(&o, deep_task, (void *)(intptr_t)9);
    cr_assert_not_null(t);
    /* a tiny request is raised to WEFT_STACK_MIN (16 KiB): 8 KiB fits */
    weft_spawn_opts tiny = {.name = "tiny", .stack_size = 1};
    weft_task *u = weft_spawn_with(&tiny, deep_task, (void *)(intptr_t)1);
    cr_assert_not_null(u);
    void *r;
    cr_assert_eq(weft_task_join(t, &r), 0);
    cr_assert_eq((unsigned)(uintptr_t)r, expect);
    cr_assert_eq(weft_task_join(u, &r), 0);
    cr_assert_eq((unsigned)(uintptr_t)r, deep(1));
    return NULL;
}

Test(task, forty_kib_of_locals_in_a_64k_stack)
{
    run_virtual(stack_root, NULL);
}

static void *config_stack_root(void *arg)
{
    (void)arg;
    weft_task *t = weft_spawn(deep_task, (void *)(intptr_t)9);
    cr_assert_not_null(t);
    void *r;
    cr_assert_eq(weft_task_join(t, &r), 0);
    cr_assert_eq((unsigned)(uintptr_t)r, deep(9));
    return NULL;
}

Test(task, config_stack_size_is_the_default)
{
    weft_config cfg = {.stack_size = 64 * 1024, .clock = WEFT_CLOCK_VIRTUAL};
    cr_assert_eq(weft_run_with(&cfg, config_stack_root, NULL, NULL), 0);
}

/* Unbounded recursion that the compiler cannot turn into a loop. */
static volatile size_t overflow_limit = SIZE_MAX;

static size_t recurse_forever(size_t depth)
{
    volatile char pad[512];
    pad[0] = (char)depth;
    pad[sizeof pad - 1] = (char)depth;
    size_t r = depth < overflow_limit ? recurse_forever(depth + 1) : depth;
    return r + (size_t)pad[0] + (size_t)pad[sizeof pad - 1];
}

static void *overflower(void *arg)
{
    (void)arg;
    return (void *)recurse_forever(0);
}

static void *overflow_root(void *arg)
{
    (void)arg;
    weft_spawn_opts o = {.name = "overflower", .stack_size = 65536};
    weft_task *t = weft_spawn_with(&o, overflower, NULL);
    if (!t)
        _exit(4);
    weft_task_join(t, NULL);
    _exit(5); /* the overflow must not return */
}

static void run_overflow(void *arg)
{
    (void)arg;
    weft_run(overflow_root, NULL, NULL);
    _exit(6);
}

/* Does text contain a standalone decimal number other than except (the
 * task id, next to the stack size)?  Hex addresses ("0x7f...") do not count. */
static int has_other_number(const char *text, const char *except)
{
    const char *p = text;
    while (*p) {
        if (isalnum((unsigned char)*p)) {
            const char *start = p;
            int digits_only = 1;
            while (isalnum((unsigned char)*p)) {
                if (!isdigit((unsigned char)*p))
                    digits_only = 0;
                p++;
            }
            size_t len = (size_t)(p - start);
            if (digits_only &&
                !(len == strlen(except) && !strncmp(start, except, len)))
                return 1;
        } else {
            p++;
        }
    }
    return 0;
}

Test(task, stack_overflow_is_reported)
{
    if (getenv("WEFT_TEST_NO_GUARD"))
        cr_skip_test("WEFT_TEST_NO_GUARD: no guard pages here");
    child_proc c;
    child_start(&c, run_overflow, NULL);
    int status = 0;
    int ended = child_wait(&c, (unsigned)(slow_ns(20000)), &status);
    if (!ended)
        child_kill(&c);
    char *err = child_stderr(&c);
    cr_assert(ended, "the overflowing child hung; stderr: %s", err);
    cr_assert(WIFSIGNALED(status) ||
                  (WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
                   WEXITSTATUS(status) < 4),
              "the child must die (status %#x); stderr: %s", status, err);
    if (WIFSIGNALED(status))
        cr_assert_eq(WTERMSIG(status), SIGABRT,
                     "killed by signal %d, expected SIGABRT; stderr: %s",
                     WTERMSIG(status), err);
    cr_assert_not_null(strstr(err, "overflow"), "stderr: %s", err);
    cr_assert_not_null(strstr(err, "overflower"), "stderr: %s", err);
    cr_assert_not_null(strstr(err, "65536"),
                       "the stack size in bytes must be reported: %s", err);
    cr_assert(has_other_number(err, "65536"),
              "the task id must be reported: %s", err);
    free(err);
}

/* ------------------------------------------------------------------------ */
/* Many tasks                                                               */
/* ------------------------------------------------------------------------ */

static void *yield_and_double(void *arg)
{
    cr_assert_eq(weft_yield(), 0);
    return (void *)((intptr_t)arg * 2);
}

static void *ten_thousand_root(void *arg)
{
    (void)arg;
    enum { N = 10000 };
    weft_task **ts = malloc(N * sizeof *ts);
    cr_assert_not_null(ts);
    for (intptr_t i = 0; i < N; i++) {
        ts[i] = weft_spawn(yield_and_double, (void *)i);
        cr_assert_not_null(ts[i], "spawn %ld failed", (long)i);
    }
    int64_t sum = 0;
    for (int i = 0; i < N; i++) {
        void *r;
        cr_assert_eq(weft_task_join(ts[i], &r), 0);
        sum += (intptr_t)r;
    }
    free(ts);
    cr_assert_eq(sum, (int64_t)N * (N - 1), "sum %lld", (long long)sum);
    return NULL;
}

Test(task, ten_thousand_tasks_spawned_and_joined)
{
    run_virtual(ten_thousand_root, NULL);
}

/* 100,000 tasks parked at once; scaled down under valgrind, which registers
 * every stack and is far too slow for that many (the hint comes from CTest's
 * WEFT_TEST_VALGRIND). */
static int parked_count(void)
{
    return getenv("WEFT_TEST_VALGRIND") ? 5000 : 100000;
}

static int parked_now;

static void *parked_recv(void *arg)
{
    weft_receiver *rx = arg;
    parked_now++;
    int v = -1;
    int rc = weft_recv(rx, &v);
    parked_now--;
    weft_receiver_drop(rx);
    return (void *)(intptr_t)(rc == 1 ? v : -1000000);
}

static void *parked_recv_root(void *arg)
{
    (void)arg;
    const int n_parked = parked_count();
    weft_task **ts = malloc(n_parked * sizeof *ts);
    weft_sender **txs = malloc(n_parked * sizeof *txs);
    cr_assert_not_null(ts);
    cr_assert_not_null(txs);
    for (int i = 0; i < n_parked; i++) {
        weft_receiver *rx;
        cr_assert_eq(weft_channel(sizeof(int), &txs[i], &rx), 0);
        ts[i] = weft_spawn(parked_recv, rx);
        cr_assert_not_null(ts[i], "spawn %d failed: errno %d", i, errno);
    }
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0);
    cr_assert_eq(parked_now, n_parked, "all tasks are parked at once");
    for (int i = 0; i < n_parked; i++) {
        cr_assert_eq(weft_send(txs[i], &i), 0);
        weft_sender_drop(txs[i]);
    }
    int64_t sum = 0;
    for (int i = 0; i < n_parked; i++) {
        void *r;
        cr_assert_eq(weft_task_join(ts[i], &r), 0);
        sum += (intptr_t)r;
    }
    cr_assert_eq(parked_now, 0);
    cr_assert_eq(sum, (int64_t)n_parked * (n_parked - 1) / 2);
    free(ts);
    free(txs);
    return NULL;
}

Test(task, hundred_thousand_parked_on_receives)
{
    parked_now = 0;
    run_virtual(parked_recv_root, NULL);
}

static void *parked_sleep(void *arg)
{
    (void)arg;
    parked_now++;
    int rc = weft_sleep(WEFT_SEC(3600));
    parked_now--;
    return (void *)(intptr_t)(rc == 0 ? 1 : 0);
}

static void *parked_sleep_root(void *arg)
{
    (void)arg;
    const int n_parked = parked_count();
    weft_task **ts = malloc(n_parked * sizeof *ts);
    cr_assert_not_null(ts);
    for (int i = 0; i < n_parked; i++) {
        ts[i] = weft_spawn(parked_sleep, NULL);
        cr_assert_not_null(ts[i], "spawn %d failed: errno %d", i, errno);
    }
    cr_assert_eq(weft_sleep(WEFT_SEC(1)), 0);
    cr_assert_eq(parked_now, n_parked, "all tasks are parked at once");
    int64_t ok = 0;
    for (int i = 0; i < n_parked; i++) {
        void *r;
        cr_assert_eq(weft_task_join(ts[i], &r), 0);
        ok += (intptr_t)r;
    }
    cr_assert_eq(ok, n_parked);
    cr_assert_eq(weft_now(), WEFT_SEC(3600), "the sleeps end together");
    free(ts);
    return NULL;
}

Test(task, hundred_thousand_parked_on_sleeps)
{
    parked_now = 0;
    run_virtual(parked_sleep_root, NULL);
}

/* ---- the size limit: stacks of at most 1 TiB (WEFT__SIZE_LIMIT) --------- */

#define TIB ((size_t)1 << 40)

static int dropped;
static void count_drop(void *arg)
{
    (void)arg;
    dropped++;
}

static void *never_runs(void *arg)
{
    (void)arg;
    cr_assert_fail("a task or block that was never awaited ran");
    return NULL;
}

static void *stack_limit_root(void *arg)
{
    (void)arg;
    /* Just above the limit: EINVAL, nothing made, drop_arg called. */
    weft_spawn_opts over = {.stack_size = TIB + 1, .drop_arg = count_drop};
    errno = 0;
    cr_assert_null(weft_spawn_with(&over, never_runs, NULL));
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(dropped, 1);
    errno = 0;
    cr_assert_null(weft_async_with(&over, never_runs, NULL));
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(dropped, 2);
    /* At the limit: accepted.  Neither is started, so no stack of that
     * size is ever mapped: the task is aborted before it runs (it dies
     * unrun, as in tokio) and the block is dropped unpolled. */
    weft_spawn_opts at = {.stack_size = TIB, .drop_arg = count_drop};
    weft_task *t = weft_spawn_with(&at, never_runs, NULL);
    cr_assert_not_null(t, "errno %d", errno);
    weft_task_abort(t);
    cr_assert_eq(weft_task_join(t, NULL), -ECANCELED);
    weft_future *f = weft_async_with(&at, never_runs, NULL);
    cr_assert_not_null(f, "errno %d", errno);
    weft_future_drop(f);
    cr_assert_eq(dropped, 4);
    return NULL;
}

Test(task, stack_sizes_over_1_tib_are_einval)
{
    dropped = 0;
    weft_config over = {.stack_size = TIB + 1, .clock = WEFT_CLOCK_VIRTUAL};
    cr_assert_eq(weft_run_with(&over, never_runs, NULL, NULL), -EINVAL);
    run_virtual(stack_limit_root, NULL);
    cr_assert_eq(dropped, 4);
}
