/*
 * tests/test_future.c - async blocks, await, join (fairness), join3,
 * join_all, race, timeout, leaf futures, dropping futures, structured
 * cancellation.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "weft.h"

static tlog lg;

/* An async block that logs "<name>-start", sleeps ms, logs "<name>-end" and
 * returns value.  On cancellation it records the status and unwinds. */
struct step {
    const char *name;
    uint64_t ms;
    intptr_t value;
    int runs;
    int sleep_rc;
    int cleaned;
};

#define STEP(n, dur_ms, v)                                                     \
    {                                                                          \
        .name = (n), .ms = (dur_ms), .value = (v)                              \
    }

static void *step_block(void *arg)
{
    struct step *s = arg;
    s->runs++;
    tlog_add(&lg, "%s-start", s->name);
    s->sleep_rc = weft_sleep(WEFT_MS(s->ms));
    if (s->sleep_rc == 0)
        tlog_add(&lg, "%s-end", s->name);
    s->cleaned++;
    return (void *)s->value;
}

static weft_future *step(struct step *s)
{
    s->sleep_rc = 1;
    weft_future *f = weft_async(step_block, s);
    cr_assert_not_null(f);
    return f;
}

static int ran;
static int drops;

static void *count_run(void *arg)
{
    ran++;
    return arg;
}

static void count_drop(void *arg)
{
    (void)arg;
    drops++;
}

static weft_future *droppable(void)
{
    weft_spawn_opts o = {.drop_arg = count_drop};
    weft_future *f = weft_async_with(&o, count_run, NULL);
    cr_assert_not_null(f);
    return f;
}

static void reset(void)
{
    memset(&lg, 0, sizeof lg);
    ran = drops = 0;
}

/* ------------------------------------------------------------------------ */
/* Laziness and await                                                       */
/* ------------------------------------------------------------------------ */

static void *lazy_root(void *arg)
{
    (void)arg;
    weft_future *f = weft_async(count_run, (void *)(intptr_t)31);
    cr_assert_not_null(f);
    cr_assert_eq(ran, 0, "weft_async ran the block");
    cr_assert_eq(weft_yield(), 0);
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0);
    cr_assert_eq(ran, 0, "an unawaited future ran");
    void *r = NULL;
    cr_assert_eq(weft_await(f, &r), 0);
    cr_assert_eq(ran, 1);
    cr_assert_eq((intptr_t)r, 31);
    return NULL;
}

Test(future, async_is_lazy)
{
    reset();
    run_virtual(lazy_root, NULL);
}

static void *await_root(void *arg)
{
    (void)arg;
    struct step s = {.name = "a", .ms = 20, .value = 99};
    void *r = NULL;
    cr_assert_eq(weft_await(step(&s), &r), 0);
    cr_assert_eq((intptr_t)r, 99);
    cr_assert_eq(weft_now(), WEFT_MS(20));
    cr_assert_eq(weft_await(step(&s), NULL), 0, "NULL result is accepted");
    cr_assert_eq(weft_await(NULL, &r), -EINVAL);
    /* leaf futures awaited directly */
    cr_assert_eq(weft_await(weft_sleep_future(WEFT_MS(5)), &r), 0);
    cr_assert_eq((intptr_t)r, 0);
    cr_assert_eq(weft_now(), WEFT_MS(45));
    errno = 0;
    cr_assert_null(weft_async(NULL, NULL));
    cr_assert_eq(errno, EINVAL);
    return NULL;
}

Test(future, await_returns_the_value)
{
    reset();
    run_virtual(await_root, NULL);
}

static void *inner_block(void *arg) { return (void *)((intptr_t)arg + 1); }

static void *outer_block(void *arg)
{
    weft_future *f = weft_async(inner_block, arg);
    void *r = NULL;
    cr_assert_eq(weft_await(f, &r), 0);
    return (void *)((intptr_t)r * 10);
}

static void *await_nested_root(void *arg)
{
    (void)arg;
    void *r = NULL;
    cr_assert_eq(weft_await(weft_async(outer_block, (void *)(intptr_t)4), &r),
                 0);
    cr_assert_eq((intptr_t)r, 50);
    return NULL;
}

Test(future, await_inside_an_async_block)
{
    run_virtual(await_nested_root, NULL);
}

/* ------------------------------------------------------------------------ */
/* join: listing 17-8                                                       */
/* ------------------------------------------------------------------------ */

struct counter {
    const char *prefix;
    int n;
};

static void *count_block(void *arg)
{
    struct counter *c = arg;
    for (int i = 1; i <= c->n; i++) {
        tlog_add(&lg, "%s%d", c->prefix, i);
        cr_assert_eq(weft_sleep(WEFT_MS(500)), 0);
    }
    return NULL;
}

static void *listing_17_8_root(void *arg)
{
    (void)arg;
    struct counter c1 = {"f", 9}, c2 = {"s", 4};
    cr_assert_eq(
        weft_join(weft_async(count_block, &c1), weft_async(count_block, &c2)),
        0);
    cr_assert_eq(weft_now(), WEFT_MS(4500));
    return NULL;
}

Test(future, join_fairness_listing_17_8)
{
    reset();
    run_virtual(listing_17_8_root, NULL);
    cr_assert_str_eq(lg.buf, "f1 s1 f2 s2 f3 s3 f4 s4 f5 f6 f7 f8 f9");
}

Test(future, join_fairness_listing_17_8_every_time)
{
    for (int i = 0; i < 20; i++) {
        reset();
        run_virtual(listing_17_8_root, NULL);
        cr_assert_str_eq(lg.buf, "f1 s1 f2 s2 f3 s3 f4 s4 f5 f6 f7 f8 f9",
                         "run %d", i);
    }
}

/* Fairness without timers: yielding children alternate in argument order. */
static void *yield_block(void *arg)
{
    struct counter *c = arg;
    for (int i = 1; i <= c->n; i++) {
        tlog_add(&lg, "%s%d", c->prefix, i);
        cr_assert_eq(weft_yield(), 0);
    }
    return NULL;
}

static void *join3_yield_root(void *arg)
{
    (void)arg;
    struct counter a = {"a", 3}, b = {"b", 1}, c = {"c", 2};
    cr_assert_eq(weft_join3(weft_async(yield_block, &a),
                            weft_async(yield_block, &b),
                            weft_async(yield_block, &c)),
                 0);
    return NULL;
}

Test(future, join3_yielding_children_take_turns)
{
    reset();
    run_virtual(join3_yield_root, NULL);
    cr_assert_str_eq(lg.buf, "a1 b1 c1 a2 c2 a3");
}

/* ------------------------------------------------------------------------ */
/* join3, join_all: results and statuses                                    */
/* ------------------------------------------------------------------------ */

static void *join3_root(void *arg)
{
    (void)arg;
    struct step a = STEP("a", 30, 1), b = STEP("b", 10, 2),
                c = STEP("c", 20, 3);
    cr_assert_eq(weft_join3(step(&a), step(&b), step(&c)), 0);
    cr_assert_eq(weft_now(), WEFT_MS(30));
    cr_assert_eq(a.cleaned + b.cleaned + c.cleaned, 3);
    cr_assert_str_eq(lg.buf, "a-start b-start c-start b-end c-end a-end");
    return NULL;
}

Test(future, join3_runs_all_concurrently)
{
    reset();
    run_virtual(join3_root, NULL);
}

static void *join_all_root(void *arg)
{
    (void)arg;
    enum { N = 6 };
    struct step s[N];
    weft_future *fs[N];
    void *results[N];
    static const char *names[N] = {"p0", "p1", "p2", "p3", "p4", "p5"};
    for (int i = 0; i < N; i++) {
        s[i] = (struct step)STEP(names[i], (uint64_t)(N - i) * 10, 100 + i);
        fs[i] = step(&s[i]);
        results[i] = NULL;
    }
    cr_assert_eq(weft_join_all(fs, N, results), 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq((intptr_t)results[i], 100 + i, "results[%d] = %ld", i,
                     (long)(intptr_t)results[i]);
    cr_assert_eq(weft_now(), WEFT_MS(60));
    cr_assert_str_eq(lg.buf, "p0-start p1-start p2-start p3-start p4-start "
                             "p5-start p5-end p4-end p3-end p2-end p1-end "
                             "p0-end");
    /* results may be NULL */
    for (int i = 0; i < N; i++)
        fs[i] = step(&s[i]);
    cr_assert_eq(weft_join_all(fs, N, NULL), 0);
    return NULL;
}

Test(future, join_all_results_in_input_order)
{
    reset();
    run_virtual(join_all_root, NULL);
}

static void *join_all_zero_root(void *arg)
{
    (void)arg;
    void *results[1] = {(void *)0x7};
    weft_future *fs[1] = {NULL};
    cr_assert_eq(weft_join_all(NULL, 0, NULL), 0);
    cr_assert_eq(weft_join_all(fs, 0, results), 0);
    cr_assert_eq(results[0], (void *)0x7);
    cr_assert_eq(weft_now(), 0);
    cr_assert_eq(weft_join_all(NULL, 2, results), -EINVAL);
    return NULL;
}

Test(future, join_all_of_nothing) { run_virtual(join_all_zero_root, NULL); }

static void *abortee(void *arg)
{
    (void)arg;
    weft_sleep(WEFT_SEC(100));
    return (void *)(intptr_t)5;
}

static void *join_status_root(void *arg)
{
    (void)arg;
    weft_task *t = weft_spawn(abortee, NULL);
    cr_assert_not_null(t);
    cr_assert_eq(weft_yield(), 0);
    weft_task_abort(t);
    struct step a = STEP("a", 10, 1), c = STEP("c", 40, 3);
    weft_future *fs[3] = {step(&a), weft_task_future(t), step(&c)};
    cr_assert_not_null(fs[1]);
    void *results[3] = {0};
    int rc = weft_join_all(fs, 3, results);
    cr_assert_eq(rc, -ECANCELED, "join_all returned %d", rc);
    cr_assert_eq(c.cleaned, 1, "the others still ran to completion");
    cr_assert_eq(c.sleep_rc, 0, "and were not cancelled");
    cr_assert_eq((intptr_t)results[0], 1);
    cr_assert_eq((intptr_t)results[2], 3);
    cr_assert_eq(weft_now(), WEFT_MS(40));
    return NULL;
}

Test(future, join_returns_first_negative_status)
{
    reset();
    run_virtual(join_status_root, NULL);
}

static void *join_leaf_status_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    cr_assert_eq(weft_channel(sizeof(int), &tx, &rx), 0);
    int v = 8, got = 0, got2 = 0;
    cr_assert_eq(weft_send(tx, &v), 0);
    weft_sender_drop(tx);
    weft_future *fs[3] = {weft_recv_future(rx, &got),
                          weft_sleep_future(WEFT_MS(3)),
                          weft_recv_future(rx, &got2)};
    cr_assert_not_null(fs[0]);
    void *results[3] = {(void *)9, (void *)9, (void *)9};
    cr_assert_eq(weft_join_all(fs, 3, results), 0);
    cr_assert_eq((intptr_t)results[0], 1, "recv status 1");
    cr_assert_eq(got, 8);
    cr_assert_eq((intptr_t)results[1], 0, "sleep status 0");
    cr_assert_eq((intptr_t)results[2], 0, "recv on closed+drained: 0");
    weft_receiver_drop(rx);
    return NULL;
}

Test(future, join_all_leaf_results_are_statuses)
{
    run_virtual(join_leaf_status_root, NULL);
}

/* NULL among the futures: -EINVAL and the others dropped, never run. */
static void *null_args_root(void *arg)
{
    (void)arg;
    cr_assert_eq(weft_join(droppable(), NULL), -EINVAL);
    cr_assert_eq(weft_join(NULL, droppable()), -EINVAL);
    cr_assert_eq(weft_join3(droppable(), NULL, droppable()), -EINVAL);
    weft_future *fs[4] = {droppable(), droppable(), NULL, droppable()};
    cr_assert_eq(weft_join_all(fs, 4, NULL), -EINVAL);
    weft_future *rs[3] = {droppable(), NULL, droppable()};
    void *r = (void *)0x3;
    cr_assert_eq(weft_race(rs, 3, &r), -EINVAL);
    cr_assert_eq(r, (void *)0x3);
    cr_assert_eq(weft_race(NULL, 2, &r), -EINVAL);
    weft_future *none[1] = {NULL};
    cr_assert_eq(weft_race(none, 0, &r), -EINVAL, "race of nothing");
    cr_assert_eq(weft_timeout(NULL, WEFT_MS(1), &r), -EINVAL);
    cr_assert_eq(weft_await(NULL, NULL), -EINVAL);
    cr_assert_eq(ran, 0, "a future given with a NULL one ran");
    cr_assert_eq(drops, 1 + 1 + 2 + 3 + 2,
                 "each other future must be dropped once: drop_arg ran %d "
                 "times",
                 drops);
    return NULL;
}

Test(future, null_future_is_einval_and_others_are_dropped)
{
    reset();
    run_virtual(null_args_root, NULL);
    cr_assert_eq(drops, 9);
}

/* ------------------------------------------------------------------------ */
/* race                                                                     */
/* ------------------------------------------------------------------------ */

static void *race_root(void *arg)
{
    (void)arg;
    struct step a = STEP("a", 30, 1), b = STEP("b", 10, 2),
                c = STEP("c", 20, 3);
    weft_future *fs[3] = {step(&a), step(&b), step(&c)};
    void *r = NULL;
    cr_assert_eq(weft_race(fs, 3, &r), 1);
    cr_assert_eq((intptr_t)r, 2);
    cr_assert_eq(weft_now(), WEFT_MS(10));
    /* the losers were cancelled and unwound before race returned */
    cr_assert_eq(a.cleaned, 1);
    cr_assert_eq(c.cleaned, 1);
    cr_assert_eq(a.sleep_rc, -ECANCELED);
    cr_assert_eq(c.sleep_rc, -ECANCELED);
    cr_assert_eq(b.sleep_rc, 0);
    cr_assert_str_eq(lg.buf, "a-start b-start c-start b-end");
    /* and nothing of theirs happens later */
    cr_assert_eq(weft_sleep(WEFT_MS(100)), 0);
    cr_assert_str_eq(lg.buf, "a-start b-start c-start b-end");
    return NULL;
}

Test(future, race_returns_winner_and_unwinds_losers)
{
    reset();
    run_virtual(race_root, NULL);
}

static void *race_tie_root(void *arg)
{
    (void)arg;
    struct step a = STEP("a", 10, 1), b = STEP("b", 10, 2);
    weft_future *fs[2] = {step(&a), step(&b)};
    void *r = NULL;
    cr_assert_eq(weft_race(fs, 2, &r), 0, "ties go to the first argument");
    cr_assert_eq((intptr_t)r, 1);
    cr_assert_eq(b.cleaned, 1);

    fs[0] = step(&b);
    fs[1] = step(&a);
    cr_assert_eq(weft_race(fs, 2, &r), 0, "ties go to the first argument");
    cr_assert_eq((intptr_t)r, 2);

    /* ready at once */
    fs[0] = weft_async(count_run, (void *)(intptr_t)11);
    fs[1] = weft_async(count_run, (void *)(intptr_t)12);
    cr_assert_eq(weft_race(fs, 2, &r), 0);
    cr_assert_eq((intptr_t)r, 11);

    /* leaf futures with equal deadlines */
    fs[0] = weft_sleep_future(WEFT_MS(5));
    fs[1] = weft_sleep_future(WEFT_MS(5));
    r = (void *)0x9;
    cr_assert_eq(weft_race(fs, 2, &r), 0);
    cr_assert_eq((intptr_t)r, 0, "a sleep's status");

    /* a single future */
    fs[0] = weft_async(count_run, (void *)(intptr_t)13);
    cr_assert_eq(weft_race(fs, 1, &r), 0);
    cr_assert_eq((intptr_t)r, 13);
    return NULL;
}

Test(future, race_ties_go_to_the_first_argument)
{
    reset();
    run_virtual(race_tie_root, NULL);
}

/* Listing 17-21. */
struct named_sleep {
    const char *name;
    uint64_t ms;
};

static void *slow_block(void *arg)
{
    struct named_sleep *s = arg;
    tlog_add(&lg, "'%s' started.", s->name);
    if (weft_sleep(WEFT_MS(s->ms)) == 0)
        tlog_add(&lg, "'%s' finished.", s->name);
    return (void *)s->name;
}

static void *listing_17_21_root(void *arg)
{
    int swapped = (int)(intptr_t)arg;
    struct named_sleep slow = {"slow", 100}, fast = {"fast", 50};
    weft_future *fs[2];
    fs[swapped ? 1 : 0] = weft_async(slow_block, &slow);
    fs[swapped ? 0 : 1] = weft_async(slow_block, &fast);
    void *r = NULL;
    int idx = weft_race(fs, 2, &r);
    cr_assert_eq(idx, swapped ? 0 : 1);
    cr_assert_str_eq((const char *)r, "fast");
    cr_assert_eq(weft_now(), WEFT_MS(50));
    cr_assert_eq(weft_sleep(WEFT_MS(200)), 0); /* slow never finishes */
    return NULL;
}

Test(future, race_listing_17_21)
{
    reset();
    run_virtual(listing_17_21_root, (void *)0);
    cr_assert_str_eq(lg.buf,
                     "'slow' started. 'fast' started. 'fast' finished.");
}

Test(future, race_listing_17_21_swapped)
{
    reset();
    run_virtual(listing_17_21_root, (void *)1);
    cr_assert_str_eq(lg.buf,
                     "'fast' started. 'slow' started. 'fast' finished.");
}

/* ------------------------------------------------------------------------ */
/* timeout                                                                  */
/* ------------------------------------------------------------------------ */

static void *timeout_root(void *arg)
{
    (void)arg;
    struct step s = STEP("inner", 5000, 1);
    void *r = (void *)0x4;
    cr_assert_eq(weft_timeout(step(&s), WEFT_SEC(2), &r), -ETIMEDOUT);
    cr_assert_eq(weft_now(), WEFT_SEC(2));
    cr_assert_eq(s.sleep_rc, -ECANCELED, "inner must be cancelled");
    cr_assert_eq(s.cleaned, 1, "inner must be unwound before the return");

    struct step t = STEP("quick", 1000, 17);
    cr_assert_eq(weft_timeout(step(&t), WEFT_SEC(2), &r), 0);
    cr_assert_eq((intptr_t)r, 17);
    cr_assert_eq(weft_now(), WEFT_SEC(3));
    cr_assert_eq(t.sleep_rc, 0);
    /* the timer of the finished timeout does not linger */
    cr_assert_eq(weft_sleep(WEFT_SEC(5)), 0);
    cr_assert_str_eq(lg.buf, "inner-start quick-start quick-end");
    return NULL;
}

Test(future, timeout_expires_or_inner_wins)
{
    reset();
    run_virtual(timeout_root, NULL);
}

static void *timeout_zero_root(void *arg)
{
    (void)arg;
    void *r = NULL;
    cr_assert_eq(
        weft_timeout(weft_async(count_run, (void *)(intptr_t)5), 0, &r), 0,
        "a ready inner wins even with a zero timeout");
    cr_assert_eq((intptr_t)r, 5);

    weft_sender *tx;
    weft_receiver *rx;
    cr_assert_eq(weft_channel(sizeof(int), &tx, &rx), 0);
    int v = 77, got = 0;
    cr_assert_eq(weft_send(tx, &v), 0);
    cr_assert_eq(weft_timeout(weft_recv_future(rx, &got), 0, &r), 1,
                 "a ready receive wins with a zero timeout");
    cr_assert_eq(got, 77);
    cr_assert_eq((intptr_t)r, 1);

    /* pending inner, zero timeout: times out, nothing consumed */
    got = 0;
    cr_assert_eq(weft_timeout(weft_recv_future(rx, &got), 0, &r), -ETIMEDOUT);
    cr_assert_eq(weft_send(tx, &v), 0);
    cr_assert_eq(weft_try_recv(rx, &got), 1);
    cr_assert_eq(got, 77);

    struct step s = STEP("s", 1, 1);
    cr_assert_eq(weft_timeout(step(&s), 0, &r), -ETIMEDOUT);
    cr_assert_eq(s.sleep_rc, -ECANCELED);
    cr_assert_eq(s.cleaned, 1);
    cr_assert_eq(weft_now(), 0);
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    return NULL;
}

Test(future, timeout_zero)
{
    reset();
    run_virtual(timeout_zero_root, NULL);
}

/* ------------------------------------------------------------------------ */
/* Leaf futures                                                             */
/* ------------------------------------------------------------------------ */

static void *sleep_future_root(void *arg)
{
    (void)arg;
    weft_future *a = weft_sleep_future(WEFT_MS(100));
    cr_assert_not_null(a);
    cr_assert_eq(weft_sleep(WEFT_MS(50)), 0);
    /* lazy: the deadline is taken when first polled, i.e. now (50 ms) */
    cr_assert_eq(weft_join(a, weft_sleep_future(WEFT_MS(300))), 0);
    cr_assert_eq(weft_now(), WEFT_MS(350));
    weft_future *fs[2] = {weft_sleep_future(WEFT_MS(20)),
                          weft_sleep_until_future(WEFT_MS(360))};
    cr_assert_not_null(fs[1]);
    void *r = (void *)7;
    cr_assert_eq(weft_race(fs, 2, &r), 1);
    cr_assert_eq(weft_now(), WEFT_MS(360));
    cr_assert_eq((intptr_t)r, 0);
    return NULL;
}

Test(future, sleep_future_is_lazy_and_joinable)
{
    run_virtual(sleep_future_root, NULL);
}

struct delayed_send {
    weft_sender *tx;
    uint64_t ms;
    int value;
};

static void *delayed_sender(void *arg)
{
    struct delayed_send *d = arg;
    cr_assert_eq(weft_sleep(WEFT_MS(d->ms)), 0);
    cr_assert_eq(weft_send(d->tx, &d->value), 0);
    return NULL;
}

static void *recv_future_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    cr_assert_eq(weft_channel(sizeof(int), &tx, &rx), 0);

    /* the receive wins: status 1, item written */
    struct delayed_send d = {tx, 10, 555};
    weft_task *t = weft_spawn(delayed_sender, &d);
    int got = 0;
    weft_future *fs[2] = {weft_sleep_future(WEFT_SEC(1)),
                          weft_recv_future(rx, &got)};
    void *r = NULL;
    cr_assert_eq(weft_race(fs, 2, &r), 1);
    cr_assert_eq((intptr_t)r, 1);
    cr_assert_eq(got, 555);
    cr_assert_eq(weft_task_join(t, NULL), 0);

    /* the receive loses while empty; a later item is still receivable */
    d = (struct delayed_send){tx, 50, 666};
    t = weft_spawn(delayed_sender, &d);
    got = 0;
    fs[0] = weft_recv_future(rx, &got);
    fs[1] = weft_sleep_future(WEFT_MS(10));
    cr_assert_eq(weft_race(fs, 2, &r), 1);
    cr_assert_eq(got, 0);
    cr_assert_eq(weft_task_join(t, NULL), 0);
    int v = 0;
    cr_assert_eq(weft_recv(rx, &v), 1);
    cr_assert_eq(v, 666, "the losing receive consumed the item");

    /* the receive loses with an item queued: it consumes nothing */
    v = 777;
    cr_assert_eq(weft_send(tx, &v), 0);
    got = 0;
    fs[0] = weft_async(count_run, (void *)(intptr_t)1);
    fs[1] = weft_recv_future(rx, &got);
    cr_assert_eq(weft_race(fs, 2, &r), 0, "biased: the first ready wins");
    cr_assert_eq(got, 0);
    v = 0;
    cr_assert_eq(weft_try_recv(rx, &v), 1,
                 "the losing receive consumed the queued item");
    cr_assert_eq(v, 777);

    /* a dropped receive future consumes nothing */
    v = 888;
    cr_assert_eq(weft_send(tx, &v), 0);
    weft_future_drop(weft_recv_future(rx, &got));
    v = 0;
    cr_assert_eq(weft_try_recv(rx, &v), 1);
    cr_assert_eq(v, 888);

    /* closed and drained: status 0 */
    weft_sender_drop(tx);
    r = (void *)9;
    cr_assert_eq(weft_await(weft_recv_future(rx, &got), &r), 0);
    errno = 0;
    cr_assert_null(weft_recv_future(NULL, &got));
    cr_assert_eq(errno, EINVAL);
    weft_receiver_drop(rx);
    return NULL;
}

Test(future, recv_future_in_race)
{
    ran = 0;
    run_virtual(recv_future_root, NULL);
}

static void *task_sleep_value(void *arg)
{
    intptr_t ms = (intptr_t)arg;
    if (weft_sleep(WEFT_MS(ms)) != 0)
        return (void *)(intptr_t)-1;
    return (void *)(ms * 10);
}

static void *task_future_root(void *arg)
{
    (void)arg;
    weft_future *fs[3] = {
        weft_task_future(weft_spawn(task_sleep_value, (void *)20)),
        weft_task_future(weft_spawn(task_sleep_value, (void *)10)),
        weft_task_future(weft_spawn(task_sleep_value, (void *)30)),
    };
    void *results[3];
    cr_assert_eq(weft_join_all(fs, 3, results), 0);
    cr_assert_eq((intptr_t)results[0], 200);
    cr_assert_eq((intptr_t)results[1], 100);
    cr_assert_eq((intptr_t)results[2], 300);
    cr_assert_eq(weft_now(), WEFT_MS(30));

    weft_future *rs[2] = {
        weft_task_future(weft_spawn(task_sleep_value, (void *)50)),
        weft_task_future(weft_spawn(task_sleep_value, (void *)5)),
    };
    void *r = NULL;
    cr_assert_eq(weft_race(rs, 2, &r), 1);
    cr_assert_eq((intptr_t)r, 50);
    cr_assert_eq(weft_now(), WEFT_MS(35));

    /* a task that finished before its future was made */
    weft_task *t = weft_spawn(count_run, (void *)(intptr_t)3);
    cr_assert_eq(weft_yield(), 0);
    cr_assert_eq(weft_task_is_finished(t), 1);
    cr_assert_eq(weft_await(weft_task_future(t), &r), 0);
    cr_assert_eq((intptr_t)r, 3);
    return NULL;
}

Test(future, task_future_in_join_and_race)
{
    ran = 0;
    run_virtual(task_future_root, NULL);
}

/* ------------------------------------------------------------------------ */
/* weft_future_drop                                                         */
/* ------------------------------------------------------------------------ */

Test(future, drop_never_started_outside_runtime)
{
    reset();
    weft_future_drop(droppable());
    cr_assert_eq(ran, 0);
    cr_assert_eq(drops, 1);
    weft_future_drop(NULL);
    weft_future *f = weft_async(count_run, NULL); /* no drop_arg */
    cr_assert_not_null(f);
    weft_future_drop(f);
    cr_assert_eq(ran, 0);
    weft_future_drop(weft_sleep_future(WEFT_MS(1)));
}

static int dropped_task_done;

static void *dropped_task_body(void *arg)
{
    (void)arg;
    if (weft_sleep(WEFT_MS(10)) == 0)
        dropped_task_done = 1;
    return NULL;
}

static void *drop_root(void *arg)
{
    (void)arg;
    weft_future_drop(droppable());
    weft_future_drop(droppable());
    cr_assert_eq(drops, 2);
    cr_assert_eq(ran, 0);
    cr_assert_eq(weft_yield(), 0);
    cr_assert_eq(ran, 0, "a dropped future ran later");
    weft_future_drop(weft_sleep_future(WEFT_SEC(10)));

    /* a task future over a running task: dropping it releases the handle
     * (like dropping a JoinHandle); the task keeps running */
    weft_task *t = weft_spawn(dropped_task_body, NULL);
    cr_assert_eq(weft_yield(), 0); /* started */
    weft_future_drop(weft_task_future(t));
    cr_assert_eq(weft_sleep(WEFT_MS(20)), 0);
    cr_assert_eq(dropped_task_done, 1);
    return NULL;
}

Test(future, drop_in_a_task)
{
    reset();
    dropped_task_done = 0;
    run_virtual(drop_root, NULL);
    cr_assert_eq(drops, 2);
}

/* ------------------------------------------------------------------------ */
/* Nesting and structured cancellation                                      */
/* ------------------------------------------------------------------------ */

struct pair {
    struct step *x, *y;
};

static void *join_pair_block(void *arg)
{
    struct pair *p = arg;
    int rc = weft_join(step(p->x), step(p->y));
    return (void *)(intptr_t)rc;
}

static void *nested_root(void *arg)
{
    (void)arg;
    struct step a1 = STEP("a1", 10, 0), a2 = STEP("a2", 20, 0);
    struct step b1 = STEP("b1", 15, 0), b2 = STEP("b2", 5, 0);
    struct pair a = {&a1, &a2}, b = {&b1, &b2};
    weft_future *fs[2] = {weft_async(join_pair_block, &a),
                          weft_async(join_pair_block, &b)};
    void *results[2] = {(void *)1, (void *)1};
    cr_assert_eq(weft_join_all(fs, 2, results), 0);
    cr_assert_eq((intptr_t)results[0], 0);
    cr_assert_eq((intptr_t)results[1], 0);
    cr_assert_eq(weft_now(), WEFT_MS(20));
    cr_assert_str_eq(lg.buf, "a1-start a2-start b1-start b2-start b2-end "
                             "a1-end b1-end a2-end");
    return NULL;
}

Test(future, nested_joins)
{
    reset();
    run_virtual(nested_root, NULL);
}

struct parent_state {
    struct step x, y;
    int combinator_rc;
    int cleaned;
};

static void *join_parent(void *arg)
{
    struct parent_state *p = arg;
    p->combinator_rc = weft_join(step(&p->x), step(&p->y));
    p->cleaned++;
    return NULL;
}

static void *race_parent(void *arg)
{
    struct parent_state *p = arg;
    weft_future *fs[2] = {step(&p->x), step(&p->y)};
    p->combinator_rc = weft_race(fs, 2, NULL);
    p->cleaned++;
    return NULL;
}

static void *timeout_parent(void *arg)
{
    struct parent_state *p = arg;
    p->combinator_rc = weft_timeout(step(&p->x), WEFT_SEC(7200), NULL);
    p->y.cleaned = 1;
    p->y.sleep_rc = -ECANCELED;
    p->cleaned++;
    return NULL;
}

static void *cancel_children_root(void *arg)
{
    weft_fn *parent = (weft_fn *)arg;
    struct parent_state p = {
        .x = STEP("x", 3600 * 1000, 0),
        .y = STEP("y", 3600 * 1000, 0),
        .combinator_rc = 1,
    };
    weft_task *t = weft_spawn(parent, &p);
    cr_assert_not_null(t);
    cr_assert_eq(weft_sleep(WEFT_MS(10)), 0); /* parked in the combinator */
    weft_task_abort(t);
    cr_assert_eq(weft_task_join(t, NULL), -ECANCELED);
    cr_assert_eq(p.x.sleep_rc, -ECANCELED, "child x: %d", p.x.sleep_rc);
    cr_assert_eq(p.y.sleep_rc, -ECANCELED, "child y: %d", p.y.sleep_rc);
    cr_assert_eq(p.x.cleaned, 1);
    cr_assert_eq(p.y.cleaned, 1);
    cr_assert_eq(p.combinator_rc, -ECANCELED, "the combinator returned %d",
                 p.combinator_rc);
    cr_assert_eq(p.cleaned, 1);
    cr_assert_eq(weft_now(), WEFT_MS(10));
    return NULL;
}

Test(future, cancelled_caller_cancels_join_children)
{
    reset();
    run_virtual(cancel_children_root, (void *)join_parent);
}

Test(future, cancelled_caller_cancels_race_children)
{
    reset();
    run_virtual(cancel_children_root, (void *)race_parent);
}

Test(future, cancelled_caller_cancels_timeout_child)
{
    reset();
    run_virtual(cancel_children_root, (void *)timeout_parent);
}

/* A child may use the caller's locals; they stay valid until the
 * combinator returns, including for cancelled losers. */
static void *use_local_block(void *arg)
{
    int *counter = arg;
    for (;;) {
        (*counter)++;
        if (weft_sleep(WEFT_MS(1)) != 0)
            break;
    }
    (*counter) += 1000; /* touches the caller's local while unwinding */
    return NULL;
}

static void *locals_root(void *arg)
{
    (void)arg;
    int counter = 0;
    weft_future *fs[2] = {weft_async(use_local_block, &counter),
                          weft_sleep_future(WEFT_MS(5) + 1)};
    cr_assert_eq(weft_race(fs, 2, NULL), 1);
    cr_assert_eq(counter, 1006);
    return NULL;
}

Test(future, children_use_the_callers_locals)
{
    run_virtual(locals_root, NULL);
}

/* ---- the same future twice ----------------------------------------------- */

static void *dup_body(void *arg) { return arg; }

static void *root_duplicates(void *arg)
{
    (void)arg;
    weft_future *f = weft_async(dup_body, NULL);
    cr_assert_eq(weft_join(f, f), -EINVAL); /* f dropped once */
    weft_future *g = weft_async(dup_body, NULL);
    weft_future *fs[3] = {g, NULL, g};
    cr_assert_eq(weft_race(fs, 3, NULL), -EINVAL);
    weft_future *h = weft_async(dup_body, NULL);
    weft_future *hs[2] = {h, h};
    cr_assert_eq(weft_join_all(hs, 2, NULL), -EINVAL);
    return NULL;
}

/* Rejected, each distinct future dropped exactly once (valgrind and ASan
 * see a double free otherwise). */
Test(future, same_future_twice_is_einval)
{
    run_virtual(root_duplicates, NULL);
}
