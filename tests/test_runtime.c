/*
 * tests/test_runtime.c - weft_run / weft_run_with, the clocks, [task] calls
 * outside a runtime, weft_strerror, shutdown, deadlock detection, and the
 * per-task errno and floating-point state.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <fenv.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "support.h"
#include "weft.h"

/* ------------------------------------------------------------------------ */
/* weft_run / weft_run_with: results and argument checks                     */
/* ------------------------------------------------------------------------ */

static int root_calls;

static void *return_arg_plus_one(void *arg)
{
    root_calls++;
    return (void *)((intptr_t)arg + 1);
}

Test(runtime, run_passes_arg_and_result)
{
    void *result = NULL;
    root_calls = 0;
    cr_assert_eq(weft_run(return_arg_plus_one, (void *)(intptr_t)41, &result),
                 0);
    cr_assert_eq((intptr_t)result, 42);
    cr_assert_eq(root_calls, 1);

    /* result may be NULL */
    cr_assert_eq(weft_run(return_arg_plus_one, NULL, NULL), 0);
    cr_assert_eq(root_calls, 2);
}

Test(runtime, run_with_passes_result_and_accepts_null_config)
{
    void *result = NULL;
    weft_config cfg = {.clock = WEFT_CLOCK_VIRTUAL,
                       .deadlock = WEFT_DEADLOCK_FAIL};
    root_calls = 0;
    cr_assert_eq(
        weft_run_with(&cfg, return_arg_plus_one, (void *)(intptr_t)9, &result),
        0);
    cr_assert_eq((intptr_t)result, 10);
    cr_assert_eq(
        weft_run_with(NULL, return_arg_plus_one, (void *)(intptr_t)1, &result),
        0);
    cr_assert_eq((intptr_t)result, 2);
    cr_assert_eq(root_calls, 2);
}

Test(runtime, run_sequentially_many_times)
{
    root_calls = 0;
    for (int i = 0; i < 50; i++) {
        void *result = NULL;
        cr_assert_eq(
            weft_run(return_arg_plus_one, (void *)(intptr_t)i, &result), 0);
        cr_assert_eq((intptr_t)result, i + 1);
    }
    cr_assert_eq(root_calls, 50);
}

Test(runtime, null_main_is_einval)
{
    void *result = (void *)0x5;
    weft_config cfg = {0};
    cr_assert_eq(weft_run(NULL, NULL, &result), -EINVAL);
    cr_assert_eq(weft_run_with(&cfg, NULL, NULL, &result), -EINVAL);
    cr_assert_eq(weft_run_with(NULL, NULL, NULL, &result), -EINVAL);
    cr_assert_eq(result, (void *)0x5, "result must be left unchanged");
}

Test(runtime, bad_config_is_einval_and_main_never_runs)
{
    static const weft_config bad[] = {
        {.clock = 2},     {.clock = -1},
        {.clock = 1000},  {.deadlock = 2},
        {.deadlock = -1}, {.clock = WEFT_CLOCK_VIRTUAL, .deadlock = 77},
    };
    root_calls = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *result = (void *)0x5;
        int rc = weft_run_with(&bad[i], return_arg_plus_one, NULL, &result);
        cr_assert_eq(rc, -EINVAL, "config %zu: got %d", i, rc);
        cr_assert_eq(result, (void *)0x5);
    }
    cr_assert_eq(root_calls, 0, "main ran despite a bad config");
}

static int nested_rc[2];

static void *nested_root(void *arg)
{
    (void)arg;
    weft_config cfg = {.clock = WEFT_CLOCK_VIRTUAL};
    nested_rc[0] = weft_run(return_arg_plus_one, NULL, NULL);
    nested_rc[1] = weft_run_with(&cfg, return_arg_plus_one, NULL, NULL);
    return (void *)(intptr_t)7;
}

static void *nested_in_task(void *arg)
{
    weft_task *t = weft_spawn(nested_root, arg);
    cr_assert_not_null(t);
    void *r = NULL;
    cr_assert_eq(weft_task_join(t, &r), 0);
    return r;
}

Test(runtime, nested_run_is_ebusy)
{
    root_calls = 0;
    nested_rc[0] = nested_rc[1] = 1;
    void *r = run_virtual(nested_root, NULL);
    cr_assert_eq((intptr_t)r, 7);
    cr_assert_eq(nested_rc[0], -EBUSY, "weft_run in the root task: %d",
                 nested_rc[0]);
    cr_assert_eq(nested_rc[1], -EBUSY, "weft_run_with in the root task: %d",
                 nested_rc[1]);

    /* the same from a spawned task */
    nested_rc[0] = nested_rc[1] = 1;
    r = run_virtual(nested_in_task, NULL);
    cr_assert_eq((intptr_t)r, 7);
    cr_assert_eq(nested_rc[0], -EBUSY);
    cr_assert_eq(nested_rc[1], -EBUSY);
    cr_assert_eq(root_calls, 0, "a nested runtime ran its main");

    /* and the thread can run a runtime again afterwards */
    cr_assert_eq(weft_run(return_arg_plus_one, NULL, NULL), 0);
    cr_assert_eq(root_calls, 1);
}

/* Two runtimes on two threads, overlapping in time. */

static atomic_int two_arrived;

static void *count_worker(void *arg)
{
    intptr_t i = (intptr_t)arg;
    for (int k = 0; k < 3; k++)
        cr_assert_eq(weft_yield(), 0);
    return (void *)(i * 3);
}

static void *two_root(void *arg)
{
    intptr_t base = (intptr_t)arg;
    atomic_fetch_add(&two_arrived, 1);
    /* wait (in runtime time) until the other runtime is running too */
    int spins = 0;
    while (atomic_load(&two_arrived) < 2 && spins++ < 5000)
        cr_assert_eq(weft_sleep(WEFT_MS(1)), 0);
    if (atomic_load(&two_arrived) < 2)
        return (void *)(intptr_t)-1;

    enum { N = 200 };
    weft_task *ts[N];
    for (intptr_t i = 0; i < N; i++) {
        ts[i] = weft_spawn(count_worker, (void *)(base + i));
        cr_assert_not_null(ts[i]);
    }
    intptr_t sum = 0;
    for (int i = 0; i < N; i++) {
        void *r;
        cr_assert_eq(weft_task_join(ts[i], &r), 0);
        sum += (intptr_t)r;
    }
    cr_assert_eq(weft_sleep(WEFT_MS(2)), 0);
    return (void *)sum;
}

struct two_thread {
    intptr_t base;
    int rc;
    void *result;
};

static void *two_thread_main(void *arg)
{
    struct two_thread *t = arg;
    t->rc = weft_run(two_root, (void *)t->base, &t->result);
    return NULL;
}

Test(runtime, independent_runtimes_on_two_threads)
{
    struct two_thread th[2] = {{.base = 0}, {.base = 1000}};
    pthread_t tid[2];
    atomic_store(&two_arrived, 0);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&tid[i], NULL, two_thread_main, &th[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(tid[i], NULL);
    for (int i = 0; i < 2; i++) {
        intptr_t expect = 0;
        for (intptr_t k = 0; k < 200; k++)
            expect += (th[i].base + k) * 3;
        cr_assert_eq(th[i].rc, 0, "runtime %d returned %d", i, th[i].rc);
        cr_assert_eq((intptr_t)th[i].result, expect,
                     "runtime %d: sum %ld, expected %ld (-1: the two "
                     "runtimes never ran at the same time)",
                     i, (long)(intptr_t)th[i].result, (long)expect);
    }
}

/* ------------------------------------------------------------------------ */
/* Clocks                                                                   */
/* ------------------------------------------------------------------------ */

static void *monotonic_root(void *arg)
{
    (void)arg;
    uint64_t prev = weft_now();
    cr_assert_gt(prev, 0, "the real clock reads CLOCK_MONOTONIC");
    for (int i = 0; i < 2000; i++) {
        if (i % 100 == 0)
            cr_assert_eq(weft_sleep(WEFT_US(50)), 0);
        else
            cr_assert_eq(weft_yield(), 0);
        uint64_t n = weft_now();
        cr_assert_geq(n, prev, "weft_now went backwards: %llu < %llu",
                      (unsigned long long)n, (unsigned long long)prev);
        prev = n;
    }
    /* it is a CLOCK_MONOTONIC reading (allow for a cached reading) */
    uint64_t r0 = real_now_ns();
    uint64_t w = weft_now();
    uint64_t r1 = real_now_ns();
    cr_assert_leq(w, r1, "weft_now %llu is ahead of CLOCK_MONOTONIC %llu",
                  (unsigned long long)w, (unsigned long long)r1);
    if (real_time_asserted())
        cr_assert_geq(w + WEFT_MS(100), r0,
                      "weft_now %llu lags CLOCK_MONOTONIC %llu by > 100 ms",
                      (unsigned long long)w, (unsigned long long)r0);
    return NULL;
}

/* runtime_real: the lag bound is a tight real-time bound (run serially,
 * asserted natively; support.h, "Real-clock assertions"). */
Test(runtime_real, now_real_is_monotonic) { run_real(monotonic_root, NULL); }

static void *sleep_2s(void *arg)
{
    (void)arg;
    cr_assert_eq(weft_sleep(WEFT_SEC(2)), 0);
    return NULL;
}

static void *virtual_root(void *arg)
{
    (void)arg;
    cr_assert_eq(weft_now(), 0, "the virtual clock starts at 0");
    cr_assert_eq(weft_yield(), 0);
    cr_assert_eq(weft_now(), 0, "a yield does not advance virtual time");
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    cr_assert_eq(weft_now(), WEFT_MS(5));
    cr_assert_eq(weft_sleep(WEFT_NS(1)), 0);
    cr_assert_eq(weft_now(), WEFT_MS(5) + 1);
    weft_task *t = weft_spawn(sleep_2s, NULL);
    cr_assert_not_null(t);
    cr_assert_eq(weft_task_join(t, NULL), 0);
    cr_assert_eq(weft_now(), WEFT_SEC(2) + WEFT_MS(5) + 1);
    cr_assert_eq(weft_sleep_until(WEFT_SEC(10)), 0);
    cr_assert_eq(weft_now(), WEFT_SEC(10));
    cr_assert_eq(weft_sleep(WEFT_SEC(86400)), 0);
    cr_assert_eq(weft_now(), WEFT_SEC(10) + WEFT_SEC(86400));
    return NULL;
}

Test(runtime, now_virtual_starts_at_zero_and_advances_exactly)
{
    uint64_t t0 = real_now_ns();
    run_virtual(virtual_root, NULL);
    /* and a second runtime starts at 0 again */
    run_virtual(virtual_root, NULL);
    cr_assert_lt(real_now_ns() - t0, slow_ns(WEFT_SEC(2)),
                 "virtual sleeps took real time");
}

static uint64_t env_now_end;

static void *env_root(void *arg)
{
    (void)arg;
    cr_assert_eq(weft_sleep(WEFT_SEC(3600)), 0);
    env_now_end = weft_now();
    return NULL;
}

static uint64_t env_now_start;

static void *env_start_root(void *arg)
{
    (void)arg;
    env_now_start = weft_now();
    return NULL;
}

Test(runtime, weft_clock_env_selects_virtual_for_weft_run_only)
{
    cr_assert_eq(setenv("WEFT_CLOCK", "virtual", 1), 0);
    uint64_t t0 = real_now_ns();
    cr_assert_eq(weft_run(env_root, NULL, NULL), 0);
    cr_assert_lt(real_now_ns() - t0, slow_ns(WEFT_SEC(2)));
    cr_assert_eq(env_now_end, WEFT_SEC(3600));

    /* weft_run_with does not consult the environment */
    weft_config cfg = {.clock = WEFT_CLOCK_MONOTONIC};
    env_now_start = 0;
    cr_assert_eq(weft_run_with(&cfg, env_start_root, NULL, NULL), 0);
    cr_assert_gt(env_now_start, WEFT_MS(1),
                 "weft_run_with(MONOTONIC) used the virtual clock");
    unsetenv("WEFT_CLOCK");
}

/* ------------------------------------------------------------------------ */
/* [task] calls outside a runtime                                           */
/* ------------------------------------------------------------------------ */

static int body_runs;
static int drops;

static void *counted_body(void *arg)
{
    (void)arg;
    body_runs++;
    return NULL;
}

static void count_drop(void *arg)
{
    (void)arg;
    drops++;
}

static weft_future *counted_future(void)
{
    weft_spawn_opts o = {.name = "outside", .drop_arg = count_drop};
    weft_future *f = weft_async_with(&o, counted_body, NULL);
    cr_assert_not_null(f, "weft_async_with works on any thread");
    return f;
}

/* All [task] entry points, called where no runtime runs on this thread. */
static void check_all_eperm(void)
{
    body_runs = drops = 0;

    errno = 0;
    cr_assert_null(weft_spawn(counted_body, NULL));
    cr_assert_eq(errno, EPERM);

    weft_spawn_opts o = {.drop_arg = count_drop};
    errno = 0;
    cr_assert_null(weft_spawn_with(&o, counted_body, NULL));
    cr_assert_eq(errno, EPERM);
    cr_assert_eq(drops, 1, "spawn_with failure must call drop_arg once");

    cr_assert_eq(weft_sleep(WEFT_MS(1)), -EPERM);
    cr_assert_eq(weft_sleep(0), -EPERM);
    cr_assert_eq(weft_sleep_until(WEFT_MS(1)), -EPERM);
    cr_assert_eq(weft_yield(), -EPERM);

    errno = 0;
    cr_assert_eq(weft_now(), 0);
    cr_assert_eq(errno, EPERM);
    cr_assert_eq(weft_is_cancelled(), 0);

    weft_sender *tx;
    weft_receiver *rx;
    cr_assert_eq(weft_channel(sizeof(int), &tx, &rx), 0);
    int v = 0;
    cr_assert_eq(weft_recv(rx, &v), -EPERM);
    int one = 1;
    cr_assert_eq(weft_send(tx, &one), 0, "send is [any thread]");
    cr_assert_eq(weft_recv(rx, &v), -EPERM, "recv is [task] even with items");
    cr_assert_eq(weft_try_recv(rx, &v), 1, "try_recv is [any thread]");
    cr_assert_eq(v, 1);
    weft_sender_drop(tx);
    weft_receiver_drop(rx);

    drops = 0;
    cr_assert_eq(weft_await(counted_future(), NULL), -EPERM);
    cr_assert_eq(weft_join(counted_future(), counted_future()), -EPERM);
    cr_assert_eq(
        weft_join3(counted_future(), counted_future(), counted_future()),
        -EPERM);
    weft_future *fs[3] = {counted_future(), counted_future(), counted_future()};
    void *results[3];
    cr_assert_eq(weft_join_all(fs, 3, results), -EPERM);
    weft_future *rs[2] = {counted_future(), counted_future()};
    cr_assert_eq(weft_race(rs, 2, NULL), -EPERM);
    cr_assert_eq(weft_timeout(counted_future(), WEFT_MS(1), NULL), -EPERM);
    cr_assert_eq(body_runs, 0, "a future ran outside a runtime");
    cr_assert_eq(drops, 1 + 2 + 3 + 3 + 2 + 1,
                 "every consumed future must be dropped once (drop_arg "
                 "called %d times)",
                 drops);

    int jrc = weft_task_join(NULL, NULL);
    cr_assert(jrc == -EPERM || jrc == -EINVAL, "task_join(NULL): %d", jrc);
}

Test(runtime, task_calls_outside_runtime_are_eperm) { check_all_eperm(); }

static void *noop_root(void *arg)
{
    (void)arg;
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0);
    return NULL;
}

Test(runtime, task_calls_after_runtime_ended_are_eperm)
{
    run_virtual(noop_root, NULL);
    check_all_eperm();
}

static void *foreign_thread_checks(void *arg)
{
    (void)arg;
    check_all_eperm();
    return (void *)(intptr_t)1;
}

static void *foreign_root(void *arg)
{
    (void)arg;
    pthread_t tid;
    cr_assert_eq(pthread_create(&tid, NULL, foreign_thread_checks, NULL), 0);
    void *r = NULL;
    pthread_join(tid, &r); /* blocks this runtime briefly; fine here */
    cr_assert_eq((intptr_t)r, 1);
    return NULL;
}

Test(runtime, task_calls_from_a_plain_thread_are_eperm)
{
    /* a runtime running on another thread does not make calls legal here */
    run_virtual(foreign_root, NULL);
}

/* ------------------------------------------------------------------------ */
/* weft_strerror                                                            */
/* ------------------------------------------------------------------------ */

Test(runtime, strerror_names_every_code)
{
    static const int codes[] = {EINVAL,  ENOMEM, ECANCELED, ETIMEDOUT, EPIPE,
                                EDEADLK, EPERM,  EAGAIN,    EBUSY,     ENOTSUP};
    enum { NC = sizeof codes / sizeof codes[0] };
    const char *s[NC];
    for (int i = 0; i < NC; i++) {
        s[i] = weft_strerror(-codes[i]);
        cr_assert_not_null(s[i]);
        cr_assert_gt(strlen(s[i]), 0);
        cr_assert_str_neq(s[i], "unknown error", "code -%d is unknown",
                          codes[i]);
        cr_assert_str_eq(weft_strerror(codes[i]), s[i],
                         "positive and negative values must agree for %d",
                         codes[i]);
        for (int j = 0; j < i; j++)
            cr_assert_str_neq(s[i], s[j], "codes %d and %d share \"%s\"",
                              codes[i], codes[j], s[i]);
    }
    cr_assert_str_eq(weft_strerror(-EPIPE), "channel closed");
    cr_assert_str_eq(weft_strerror(-ECANCELED), "operation cancelled");
    cr_assert_str_eq(weft_strerror(-EDEADLK),
                     "deadlock: no task can make progress");
    cr_assert_str_eq(weft_strerror(-987654), "unknown error");
    cr_assert_str_eq(weft_strerror(987654), "unknown error");
    cr_assert_str_eq(weft_strerror(INT_MIN), "unknown error");
    /* Errors passed on from the system (weft_read_to_string) are named. */
    cr_assert_str_neq(weft_strerror(-EISDIR), "unknown error");
    cr_assert_str_neq(weft_strerror(-EIO), "unknown error");
}

Test(runtime, version_matches_macros)
{
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", WEFT_VERSION_MAJOR,
             WEFT_VERSION_MINOR, WEFT_VERSION_PATCH);
    cr_assert_str_eq(weft_version(), want);
}

/* ------------------------------------------------------------------------ */
/* Shutdown                                                                 */
/* ------------------------------------------------------------------------ */

struct shutdown_state {
    int started;
    int first_ecanceled; /* the parked call returned -ECANCELED */
    int again_ecanceled; /* a second suspending call did too, at once */
    int cleaned;         /* reached the end of the body */
    int late_body_runs;  /* the never-started task's body */
    int late_drops;      /* its drop_arg */
};

static struct shutdown_state sd;

static void note_unwind(int rc)
{
    if (rc == -ECANCELED)
        sd.first_ecanceled++;
    if (weft_sleep(WEFT_MS(1)) == -ECANCELED && weft_yield() == -ECANCELED)
        sd.again_ecanceled++;
    sd.cleaned++;
}

static void *sd_sleeper(void *arg)
{
    (void)arg;
    sd.started++;
    note_unwind(weft_sleep(WEFT_SEC(3600)));
    return NULL;
}

static void *sd_looper(void *arg)
{
    (void)arg;
    sd.started++;
    int rc;
    while ((rc = weft_sleep(WEFT_MS(1))) == 0) {
    }
    note_unwind(rc);
    return NULL;
}

static void *sd_receiver(void *arg)
{
    (void)arg;
    sd.started++;
    weft_sender *tx;
    weft_receiver *rx;
    cr_assert_eq(weft_channel(sizeof(int), &tx, &rx), 0);
    int v;
    int rc = weft_recv(rx, &v); /* own sender alive: parked forever */
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    note_unwind(rc);
    return NULL;
}

static void *sd_joiner(void *arg)
{
    (void)arg;
    sd.started++;
    int rc = weft_join(weft_sleep_future(WEFT_SEC(7200)),
                       weft_sleep_future(WEFT_SEC(9000)));
    note_unwind(rc);
    return NULL;
}

static void *sd_late_body(void *arg)
{
    (void)arg;
    sd.late_body_runs++;
    return NULL;
}

static void sd_late_drop(void *arg)
{
    cr_assert_eq((intptr_t)arg, 77);
    sd.late_drops++;
}

static void *shutdown_root(void *arg)
{
    (void)arg;
    weft_task *never_joined = weft_spawn(sd_sleeper, NULL);
    cr_assert_not_null(never_joined);
    weft_task *d = weft_spawn(sd_sleeper, NULL);
    cr_assert_not_null(d);
    weft_task_detach(d);
    weft_task_detach(weft_spawn(sd_looper, NULL));
    weft_task_detach(weft_spawn(sd_receiver, NULL));
    weft_task_detach(weft_spawn(sd_joiner, NULL));
    cr_assert_eq(weft_sleep(WEFT_MS(10)), 0); /* all are parked now */
    cr_assert_eq(sd.started, 5);
    cr_assert_eq(sd.cleaned, 0);

    weft_spawn_opts o = {.name = "late", .drop_arg = sd_late_drop};
    weft_task *late = weft_spawn_with(&o, sd_late_body, (void *)(intptr_t)77);
    cr_assert_not_null(late);
    weft_task_detach(late);
    (void)never_joined; /* left to the runtime */
    return (void *)(intptr_t)99;
}

Test(runtime, shutdown_cancels_and_unwinds_every_task)
{
    memset(&sd, 0, sizeof sd);
    void *r = run_virtual(shutdown_root, NULL);
    cr_assert_eq((intptr_t)r, 99);
    cr_assert_eq(sd.started, 5);
    cr_assert_eq(sd.first_ecanceled, 5,
                 "each parked task's call must return -ECANCELED (%d did)",
                 sd.first_ecanceled);
    cr_assert_eq(sd.again_ecanceled, 5,
                 "later suspending calls must return -ECANCELED at once (%d "
                 "did)",
                 sd.again_ecanceled);
    cr_assert_eq(sd.cleaned, 5, "every task unwinds before weft_run returns");
    cr_assert_eq(sd.late_body_runs, 0,
                 "a task cancelled before it started never runs");
    cr_assert_eq(sd.late_drops, 1, "its drop_arg is called exactly once");
}

Test(runtime, shutdown_real_clock_returns_promptly)
{
    memset(&sd, 0, sizeof sd);
    uint64_t t0 = real_now_ns();
    void *r = run_real(shutdown_root, NULL);
    cr_assert_eq((intptr_t)r, 99);
    cr_assert_lt(real_now_ns() - t0, slow_ns(WEFT_SEC(2)),
                 "shutdown must not wait for the cancelled timers");
    cr_assert_eq(sd.cleaned, 5);
    cr_assert_eq(sd.first_ecanceled, 5);
    cr_assert_eq(sd.late_drops, 1);
}

/* ------------------------------------------------------------------------ */
/* Deadlock detection                                                       */
/* ------------------------------------------------------------------------ */

struct dl_state {
    int recv_rc;
    int join_rc;
    int receiver_cleaned;
    int root_returned;
};

static struct dl_state dl;

static void *dl_receiver(void *arg)
{
    weft_receiver *rx = arg;
    int v;
    dl.recv_rc = weft_recv(rx, &v);
    weft_receiver_drop(rx); /* ours: the root may be unwound before us */
    dl.receiver_cleaned++;
    return NULL;
}

static void *deadlock_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    cr_assert_eq(weft_channel(sizeof(int), &tx, &rx), 0);
    weft_spawn_opts o = {.name = "stuck-receiver-17"};
    weft_task *t = weft_spawn_with(&o, dl_receiver, rx);
    cr_assert_not_null(t);
    dl.join_rc = weft_task_join(t, NULL); /* tx is alive: nobody can send */
    /* Cancelled while waiting, the join consumed the handle all the same. */
    weft_sender_drop(tx);
    dl.root_returned++;
    return (void *)(intptr_t)1;
}

static void check_deadlock(int clock)
{
    memset(&dl, 0, sizeof dl);
    dl.recv_rc = dl.join_rc = 1;
    weft_config cfg = {.clock = clock, .deadlock = WEFT_DEADLOCK_FAIL};
    void *result = (void *)0x5;
    stderr_capture cap;
    uint64_t t0 = real_now_ns();
    capture_stderr_begin(&cap);
    int rc = weft_run_with(&cfg, deadlock_root, NULL, &result);
    char *err = capture_stderr_end(&cap);
    cr_assert_lt(real_now_ns() - t0, slow_ns(WEFT_SEC(5)));
    cr_assert_eq(rc, -EDEADLK, "weft_run_with returned %d, stderr: %s", rc,
                 err);
    cr_assert_eq(result, (void *)0x5, "*result must be left unchanged");
    cr_assert_not_null(strstr(err, "weft: deadlock"),
                       "report must contain \"weft: deadlock\": %s", err);
    cr_assert_not_null(strstr(err, "stuck-receiver-17"),
                       "report must name the blocked task: %s", err);
    cr_assert_eq(dl.recv_rc, -ECANCELED, "the blocked recv returned %d",
                 dl.recv_rc);
    cr_assert_eq(dl.receiver_cleaned, 1);
    cr_assert_eq(dl.join_rc, -ECANCELED, "the blocked join returned %d",
                 dl.join_rc);
    cr_assert_eq(dl.root_returned, 1, "the root must be unwound too");
    free(err);
}

Test(runtime, deadlock_is_detected_and_reported)
{
    check_deadlock(WEFT_CLOCK_MONOTONIC);
}

Test(runtime, deadlock_is_detected_with_virtual_clock)
{
    check_deadlock(WEFT_CLOCK_VIRTUAL);
}

static void *self_deadlock_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    cr_assert_eq(weft_channel(sizeof(int), &tx, &rx), 0);
    int v;
    dl.recv_rc = weft_recv(rx, &v); /* the root itself holds the sender */
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    dl.root_returned++;
    return NULL;
}

Test(runtime, deadlock_of_the_root_alone)
{
    memset(&dl, 0, sizeof dl);
    stderr_capture cap;
    capture_stderr_begin(&cap);
    int rc = run_clock(WEFT_CLOCK_VIRTUAL, self_deadlock_root, NULL, NULL);
    char *err = capture_stderr_end(&cap);
    cr_assert_eq(rc, -EDEADLK, "got %d", rc);
    cr_assert_not_null(strstr(err, "weft: deadlock"), "stderr: %s", err);
    cr_assert_eq(dl.recv_rc, -ECANCELED);
    cr_assert_eq(dl.root_returned, 1);
    free(err);
}

static void run_deadlock_wait(void *arg)
{
    (void)arg;
    weft_config cfg = {.deadlock = WEFT_DEADLOCK_WAIT};
    int rc = weft_run_with(&cfg, deadlock_root, NULL, NULL);
    _exit(rc == 0 ? 0 : 3); /* never reached if it waits */
}

Test(runtime, deadlock_wait_waits_forever)
{
    child_proc c;
    child_start(&c, run_deadlock_wait, NULL);
    int status = 0;
    int ended = child_wait(&c, 300, &status);
    if (!ended)
        child_kill(&c);
    char *err = child_stderr(&c);
    cr_assert_eq(ended, 0,
                 "WEFT_DEADLOCK_WAIT: the runtime ended (status %#x) instead "
                 "of waiting; stderr: %s",
                 status, err);
    cr_assert_null(strstr(err, "deadlock"),
                   "WEFT_DEADLOCK_WAIT must not report: %s", err);
    free(err);
}

/* No false deadlock 1: channel created before weft_run (listing 17-42). */

struct feeder {
    weft_sender *tx;
    int first_delay_ms;
    int gap_ms;
    int count;
};

static void *feeder_thread(void *arg)
{
    struct feeder *f = arg;
    thread_sleep_ms((unsigned)f->first_delay_ms);
    for (int i = 1; i <= f->count; i++) {
        if (i > 1)
            thread_sleep_ms((unsigned)f->gap_ms);
        cr_assert_eq(weft_send(f->tx, &i), 0);
    }
    weft_sender_drop(f->tx);
    return NULL;
}

struct collect {
    weft_receiver *rx;
    int got[16];
    int n;
    int last_rc;
};

static void *collect_root(void *arg)
{
    struct collect *c = arg;
    int v, rc;
    while ((rc = weft_recv(c->rx, &v)) > 0 && c->n < 16)
        c->got[c->n++] = v;
    c->last_rc = rc;
    return NULL;
}

Test(runtime, no_false_deadlock_channel_created_before_run)
{
    weft_sender *tx;
    weft_receiver *rx;
    cr_assert_eq(weft_channel(sizeof(int), &tx, &rx), 0);
    struct feeder f = {
        .tx = tx, .first_delay_ms = 100, .gap_ms = 100, .count = 3};
    pthread_t tid;
    cr_assert_eq(pthread_create(&tid, NULL, feeder_thread, &f), 0);
    struct collect c = {.rx = rx};
    int rc = weft_run(collect_root, &c, NULL);
    pthread_join(tid, NULL);
    weft_receiver_drop(rx);
    cr_assert_eq(rc, 0, "weft_run returned %d", rc);
    cr_assert_eq(c.n, 3);
    cr_assert_eq(c.last_rc, 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(c.got[i], i + 1);
}

Test(runtime, no_false_deadlock_prerun_channel_virtual_clock)
{
    weft_sender *tx;
    weft_receiver *rx;
    cr_assert_eq(weft_channel(sizeof(int), &tx, &rx), 0);
    struct feeder f = {
        .tx = tx, .first_delay_ms = 100, .gap_ms = 100, .count = 3};
    pthread_t tid;
    cr_assert_eq(pthread_create(&tid, NULL, feeder_thread, &f), 0);
    struct collect c = {.rx = rx};
    int rc = run_clock(WEFT_CLOCK_VIRTUAL, collect_root, &c, NULL);
    pthread_join(tid, NULL);
    weft_receiver_drop(rx);
    cr_assert_eq(rc, 0, "weft_run_with returned %d", rc);
    cr_assert_eq(c.n, 3);
    cr_assert_eq(c.last_rc, 0);
}

/* No false deadlock 2: sender marked shared, first used 300 ms later. */

static pthread_t share_tid;
static struct feeder share_feeder;

static void *share_root(void *arg)
{
    struct collect *c = arg;
    weft_sender *tx;
    cr_assert_eq(weft_channel(sizeof(int), &tx, &c->rx), 0);
    cr_assert_eq(weft_sender_share(tx), 0);
    share_feeder = (struct feeder){
        .tx = tx, .first_delay_ms = 300, .gap_ms = 10, .count = 3};
    cr_assert_eq(pthread_create(&share_tid, NULL, feeder_thread, &share_feeder),
                 0);
    collect_root(c);
    weft_receiver_drop(c->rx);
    return NULL;
}

Test(runtime, no_false_deadlock_shared_sender_used_late)
{
    struct collect c = {0};
    uint64_t t0 = real_now_ns();
    int rc = weft_run(share_root, &c, NULL);
    pthread_join(share_tid, NULL);
    cr_assert_eq(rc, 0, "weft_run returned %d", rc);
    cr_assert_eq(c.n, 3);
    cr_assert_eq(c.last_rc, 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(c.got[i], i + 1);
    cr_assert_geq(real_now_ns() - t0, WEFT_MS(300));
}

Test(runtime, no_false_deadlock_shared_sender_virtual_clock)
{
    struct collect c = {0};
    int rc = run_clock(WEFT_CLOCK_VIRTUAL, share_root, &c, NULL);
    pthread_join(share_tid, NULL);
    cr_assert_eq(rc, 0, "weft_run_with returned %d", rc);
    cr_assert_eq(c.n, 3);
    cr_assert_eq(c.last_rc, 0);
}

Test(runtime, sender_share_null_is_einval)
{
    cr_assert_eq(weft_sender_share(NULL), -EINVAL);
}

/* ------------------------------------------------------------------------ */
/* Per-task errno and floating-point state                                  */
/* ------------------------------------------------------------------------ */

static int errno_seen[4];

static void *errno_b(void *arg)
{
    (void)arg;
    errno = 42;
    cr_assert_eq(weft_yield(), 0);
    errno_seen[2] = errno;
    cr_assert_eq(weft_sleep(WEFT_MS(3)), 0);
    errno_seen[3] = errno;
    return NULL;
}

static void *errno_a(void *arg)
{
    (void)arg;
    weft_task *b = weft_spawn(errno_b, NULL);
    cr_assert_not_null(b);
    errno = 1234;
    cr_assert_eq(weft_yield(), 0); /* b runs and sets errno = 42 */
    errno_seen[0] = errno;
    errno = 5678;
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    errno_seen[1] = errno;
    cr_assert_eq(weft_task_join(b, NULL), 0);
    return NULL;
}

Test(runtime, errno_is_per_task)
{
    memset(errno_seen, 0, sizeof errno_seen);
    run_virtual(errno_a, NULL);
    cr_assert_eq(errno_seen[0], 1234, "task A's errno after a yield: %d",
                 errno_seen[0]);
    cr_assert_eq(errno_seen[1], 5678, "task A's errno after a sleep: %d",
                 errno_seen[1]);
    cr_assert_eq(errno_seen[2], 42, "task B's errno after a yield: %d",
                 errno_seen[2]);
    cr_assert_eq(errno_seen[3], 42, "task B's errno after a sleep: %d",
                 errno_seen[3]);
}

static int round_seen[3];

static void *fenv_b(void *arg)
{
    (void)arg;
    round_seen[1] = fegetround();
    fesetround(FE_DOWNWARD);
    cr_assert_eq(weft_yield(), 0);
    round_seen[2] = fegetround();
    fesetround(FE_TONEAREST);
    return NULL;
}

static void *fenv_a(void *arg)
{
    (void)arg;
    weft_task *b = weft_spawn(fenv_b, NULL);
    cr_assert_not_null(b);
    cr_assert_eq(fesetround(FE_UPWARD), 0);
    cr_assert_eq(weft_yield(), 0); /* b runs */
    round_seen[0] = fegetround();
    /* the mode really applies to arithmetic in this task (valgrind only
     * does SSE arithmetic to nearest, whatever the mode) */
    volatile double one = 1.0, three = 3.0;
    volatile double up = one / three;
    fesetround(FE_TONEAREST);
    volatile double near = one / three;
    if (!getenv("WEFT_TEST_VALGRIND"))
        cr_assert_gt(up, near, "FE_UPWARD division must round up");
    cr_assert_eq(weft_task_join(b, NULL), 0);
    return NULL;
}

Test(runtime, rounding_mode_is_per_task)
{
    cr_assert_eq(fegetround(), FE_TONEAREST);
    memset(round_seen, 0, sizeof round_seen);
    run_virtual(fenv_a, NULL);
    fesetround(FE_TONEAREST);
    cr_assert_eq(round_seen[0], FE_UPWARD,
                 "task A lost its rounding mode across a yield");
    cr_assert_eq(round_seen[1], FE_TONEAREST,
                 "task B inherited task A's rounding mode");
    cr_assert_eq(round_seen[2], FE_DOWNWARD,
                 "task B lost its rounding mode across a yield");
}
