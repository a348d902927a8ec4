/*
 * tests/test_model.c - randomized model-based test: random programs (spawn,
 * sleep, yield, send, recv, close, drop sender, abort, join, detach, race,
 * timeout, join of futures) run on weft under the virtual clock, and the
 * trace of observable events must equal the one a simple reference model of
 * weft.h predicts.  The generator, the executor and the model are in
 * tests/model_core.c (shared with the libFuzzer target tests/fuzz_model.c).
 * model.stream_seeds, model.multirun_seeds and model.shared_stream_seeds
 * add streams (merge, timeout, take over receivers and intervals, polled
 * directly and from async blocks under timeout, race and join_all), kept
 * across two weft_run calls and dropped in, between or after the runs.
 * model.coord_seeds adds cloned receivers, a semaphore and a task group.
 * model.io_seeds: socketpairs between tasks (reads and writes of random
 * sizes, big writes that block, read_all, shutdown, weft_close, timeouts,
 * cancellation in I/O); the model predicts the bytes each reader sees.
 *
 * Environment:
 *   WEFT_MODEL_SEEDS=N   seeds run by model.seeds (default 2000; 100 under
 *                        valgrind, WEFT_TEST_VALGRIND)
 *   WEFT_MODEL_FIRST=S   first seed (default 1)
 *   WEFT_MODEL_SEED=S    run only seed S and print its program and traces
 *   WEFT_MODEL_HEX=H     run only the program of fuzz input H (hex), verbose
 *   WEFT_MODEL_STREAM_SEEDS=N  seeds run by model.stream_seeds and by
 *                        model.multirun_seeds each (default 2000; 100 under
 *                        valgrind)
 *   WEFT_MODEL_COORD_SEEDS=N  seeds run by model.coord_seeds (default
 *                        1200; 100 under valgrind)
 *   WEFT_MODEL_IO_SEEDS=N  seeds run by model.io_seeds (default 1000; 60
 *                        under valgrind)
 *   WEFT_MODEL_MODE=M    what WEFT_MODEL_SEED / WEFT_MODEL_HEX generate:
 *                        0 programs of model.seeds (default), 1 stream
 *                        programs (model.stream_seeds), 2 stream programs
 *                        of two runs (model.multirun_seeds), 3 and 4 the
 *                        same with streams shared by every task
 *                        (model.shared_stream_seeds: odd and even seeds),
 *                        5 coordination programs (model.coord_seeds),
 *                        6 I/O programs (model.io_seeds)
 *   WEFT_MODEL_KNOWN_BUGS=1  also generate programs that use a task handle
 *                        after a join of it was cancelled; weft.h now says
 *                        such a join consumes the handle, so these programs
 *                        are invalid and expected to disagree (kept only to
 *                        reproduce the history of
 *                        cancelled_join_detaches_the_task)
 *
 * A failing seed is printed with its program and both traces from the first
 * difference; add it below as Test(model, regression_<seed>).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"
#include "support.h"
#include "weft.h"

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return dflt;
    return strtoull(s, NULL, 0);
}

static int known_bugs(void) { return env_u64("WEFT_MODEL_KNOWN_BUGS", 0) != 0; }

/* Generates the stream program of seed (mode 1: one run, 2: two runs),
 * runs it on weft and on the model; 0 when the traces agree. */
static int check_stream_seed(uint64_t seed, int mode, int verbose, m_cov *cov)
{
    static m_prog runs[M_MAX_RUNS];
    int n = m_gen_streams_seed(runs, seed, mode);
    char label[192];
    snprintf(label, sizeof label,
             "stream seed %llu%s%s (reproduce: WEFT_MODEL_MODE=%d "
             "WEFT_MODEL_SEED=%llu test_model)",
             (unsigned long long)seed, n == 2 ? ", two runs" : "",
             mode >= 3 ? ", shared streams" : "", mode,
             (unsigned long long)seed);
    return m_check_multi(runs, n, label, stderr, verbose, cov);
}

static void expect_stream_seed(uint64_t seed, int mode)
{
    int rc = check_stream_seed(seed, mode, 0, NULL);
    cr_assert_eq(rc, 0,
                 "stream seed %llu (mode %d): weft disagrees with the model "
                 "(see stderr)",
                 (unsigned long long)seed, mode);
}

static int model_mode(void) { return (int)env_u64("WEFT_MODEL_MODE", 0); }

/* Generates the coordination program of seed (mode 5), runs it on weft and
 * on the model; 0 when the traces agree. */
static int check_coord_seed(uint64_t seed, int verbose, m_cov *cov)
{
    m_prog p;
    m_gen_coord_seed(&p, seed);
    char label[192];
    snprintf(label, sizeof label,
             "coord seed %llu (reproduce: WEFT_MODEL_MODE=5 "
             "WEFT_MODEL_SEED=%llu test_model)",
             (unsigned long long)seed, (unsigned long long)seed);
    return m_check(&p, label, stderr, verbose, cov);
}

/* Generates the I/O program of seed (mode 6), runs it on weft, then on
 * the model; 0 when the traces agree. */
static int check_io_seed(uint64_t seed, int verbose, m_cov *cov)
{
    m_prog p;
    m_gen_io_seed(&p, seed);
    char label[192];
    snprintf(label, sizeof label,
             "io seed %llu (reproduce: WEFT_MODEL_MODE=6 "
             "WEFT_MODEL_SEED=%llu test_model)",
             (unsigned long long)seed, (unsigned long long)seed);
    return m_check_io(&p, label, stderr, verbose, cov);
}

static void expect_io_seed(uint64_t seed)
{
    cr_assert_eq(check_io_seed(seed, 0, NULL), 0,
                 "io seed %llu: weft disagrees with the model (see stderr)",
                 (unsigned long long)seed);
}

static void expect_coord_seed(uint64_t seed)
{
    cr_assert_eq(check_coord_seed(seed, 0, NULL), 0,
                 "coord seed %llu: weft disagrees with the model (see "
                 "stderr)",
                 (unsigned long long)seed);
}

/* Generates the program of seed, runs it on weft and on the model; 0 when
 * the traces agree. */
static int check_seed(uint64_t seed, int with_known_bugs, int verbose,
                      m_cov *cov)
{
    if (model_mode() == 5)
        return check_coord_seed(seed, verbose, cov);
    if (model_mode() == 6)
        return check_io_seed(seed, verbose, cov);
    if (model_mode())
        return check_stream_seed(seed, model_mode(), verbose, cov);
    m_prog p;
    m_gen_seed(&p, seed);
    p.abort_cancelled_join = with_known_bugs;
    char label[192];
    snprintf(label, sizeof label,
             "seed %llu%s (reproduce: WEFT_MODEL_SEED=%llu%s %s)",
             (unsigned long long)seed,
             with_known_bugs ? " with known-bug patterns" : "",
             (unsigned long long)seed,
             with_known_bugs ? " WEFT_MODEL_KNOWN_BUGS=1" : "", "test_model");
    return m_check(&p, label, stderr, verbose, cov);
}

static void expect_seed(uint64_t seed)
{
    int rc = check_seed(seed, 0, 0, NULL);
    cr_assert_eq(rc, 0, "seed %llu: weft disagrees with the model (see stderr)",
                 (unsigned long long)seed);
}

static int check_hex(const char *hex, int with_known_bugs, int verbose)
{
    static uint8_t buf[4096];
    size_t n = m_hex_decode(hex, buf, sizeof buf);
    if (model_mode() == 5) {
        m_prog p;
        m_gen_coord_bytes(&p, buf, n);
        return m_check(&p, "fuzz input (hex)", stderr, verbose, NULL);
    }
    if (model_mode() == 6) {
        m_prog p;
        m_gen_io_bytes(&p, buf, n);
        return m_check_io(&p, "fuzz input (hex)", stderr, verbose, NULL);
    }
    if (model_mode()) {
        static m_prog runs[M_MAX_RUNS];
        int nr = m_gen_streams_bytes(runs, buf, n, model_mode());
        return m_check_multi(runs, nr, "fuzz input (hex)", stderr, verbose,
                             NULL);
    }
    m_prog p;
    m_gen_bytes(&p, buf, n);
    p.abort_cancelled_join = with_known_bugs;
    return m_check(&p, "fuzz input (hex)", stderr, verbose, NULL);
}

/* A program from fuzz input bytes in hex, as fuzz_model prints them. */
static __attribute__((unused)) void expect_hex(const char *hex)
{
    cr_assert_eq(check_hex(hex, 0, 0), 0,
                 "fuzz input %s: weft disagrees with the model", hex);
}

Test(model, seeds, .timeout = 600)
{
    const char *hex = getenv("WEFT_MODEL_HEX");
    if (hex && *hex) {
        cr_assert_eq(check_hex(hex, known_bugs(), 1), 0,
                     "fuzz input: weft disagrees with the model");
        return;
    }
    const char *one = getenv("WEFT_MODEL_SEED");
    if (one && *one) {
        uint64_t seed = strtoull(one, NULL, 0);
        int rc = check_seed(seed, known_bugs(), 1, NULL);
        cr_assert_eq(rc, 0, "seed %llu: weft disagrees with the model",
                     (unsigned long long)seed);
        return;
    }
    uint64_t n =
        env_u64("WEFT_MODEL_SEEDS", getenv("WEFT_TEST_VALGRIND") ? 100 : 2000);
    uint64_t first = env_u64("WEFT_MODEL_FIRST", 1);
    int kb = known_bugs();
    m_cov cov;
    memset(&cov, 0, sizeof cov);
    uint64_t t0 = real_now_ns();
    for (uint64_t s = first; s < first + n; s++) {
        int rc = check_seed(s, kb, 0, &cov);
        if (rc != 0)
            cr_assert_fail("seed %llu: weft disagrees with the model; its "
                           "program and both traces are on stderr",
                           (unsigned long long)s);
    }
    uint64_t ms = (real_now_ns() - t0) / 1000000u;
    fprintf(stderr, "model.seeds: seeds %llu..%llu agree (%llu ms)\n",
            (unsigned long long)first, (unsigned long long)(first + n - 1),
            (unsigned long long)ms);
    m_cov_print(stderr, &cov);
}

/* Seeds of stream programs: odd seeds with mode_odd, even ones mode_even. */
static void run_stream_seeds(const char *name, int mode_odd, int mode_even)
{
    if (getenv("WEFT_MODEL_HEX") || getenv("WEFT_MODEL_SEED"))
        return; /* model.seeds runs the one program */
    uint64_t n = env_u64("WEFT_MODEL_STREAM_SEEDS",
                         getenv("WEFT_TEST_VALGRIND") ? 100 : 2000);
    uint64_t first = env_u64("WEFT_MODEL_FIRST", 1);
    m_cov cov;
    memset(&cov, 0, sizeof cov);
    uint64_t t0 = real_now_ns();
    for (uint64_t s = first; s < first + n; s++) {
        int mode = (s & 1) ? mode_odd : mode_even;
        int rc = check_stream_seed(s, mode, 0, &cov);
        if (rc != 0)
            cr_assert_fail("stream seed %llu (WEFT_MODEL_MODE=%d): weft "
                           "disagrees with the model; its program and both "
                           "traces are on stderr",
                           (unsigned long long)s, mode);
    }
    uint64_t ms = (real_now_ns() - t0) / 1000000u;
    fprintf(stderr, "model.%s: seeds %llu..%llu agree (%llu ms)\n", name,
            (unsigned long long)first, (unsigned long long)(first + n - 1),
            (unsigned long long)ms);
    m_cov_print(stderr, &cov);
}

/* Stream programs: merge / timeout / take over receivers and intervals,
 * next called directly and from an async block under timeout, race and
 * join_all, streams dropped in the run and after it. */
Test(model, stream_seeds, .timeout = 600)
{
    run_stream_seeds("stream_seeds", 1, 1);
}

/* Stream programs of two runs: the streams (and the channels feeding them)
 * are built in the first run or before it, and polled again in the second
 * run, on a new runtime whose clock starts at 0 again; dropped between the
 * runs, in the second or after it. */
Test(model, multirun_seeds, .timeout = 600)
{
    run_stream_seeds("multirun_seeds", 2, 2);
}

/* Stream programs in which every task may use every stream, one at a time
 * (an op on a stream in use by another task is skipped): a stream polled
 * by one task, then another, each call with its own waker.  Odd seeds run
 * once (WEFT_MODEL_MODE=3), even seeds in two runs (=4). */
Test(model, shared_stream_seeds, .timeout = 600)
{
    run_stream_seeds("shared_stream_seeds", 3, 4);
}

/* Coordination programs (WEFT_MODEL_MODE=5): cloned receivers (each item to
 * exactly one receive, waiting receives served in the order they began to
 * wait, the last handle's drop closes the channel), a semaphore (fair,
 * multi-permit; a cancelled or losing acquire takes nothing) and a task
 * group (join_next in completion order, abort_all, drop cancelling and
 * driving its members), under timeout and race so that cancellation
 * meets every wait. */
Test(model, coord_seeds, .timeout = 600)
{
    if (getenv("WEFT_MODEL_HEX") || getenv("WEFT_MODEL_SEED"))
        return; /* model.seeds runs the one program */
    uint64_t n = env_u64("WEFT_MODEL_COORD_SEEDS",
                         getenv("WEFT_TEST_VALGRIND") ? 100 : 1200);
    uint64_t first = env_u64("WEFT_MODEL_FIRST", 1);
    m_cov cov;
    memset(&cov, 0, sizeof cov);
    uint64_t t0 = real_now_ns();
    for (uint64_t s = first; s < first + n; s++) {
        if (check_coord_seed(s, 0, &cov) != 0)
            cr_assert_fail("coord seed %llu (WEFT_MODEL_MODE=5): weft "
                           "disagrees with the model; its program and both "
                           "traces are on stderr",
                           (unsigned long long)s);
    }
    uint64_t ms = (real_now_ns() - t0) / 1000000u;
    fprintf(stderr, "model.coord_seeds: seeds %llu..%llu agree (%llu ms)\n",
            (unsigned long long)first, (unsigned long long)(first + n - 1),
            (unsigned long long)ms);
    m_cov_print(stderr, &cov);
}

/* I/O programs (WEFT_MODEL_MODE=6): socketpairs between tasks, writes of
 * random sizes (big ones block their writer), reads of random sizes, read
 * until everything sent is read, shutdown, weft_close, reads and writes
 * under weft_timeout, tasks cancelled while blocked in I/O.  The model
 * predicts the byte stream each reader sees (a hash of every read, what is
 * left at the end) and when each call returns; how the kernel splits the
 * bytes is taken from the run and checked. */
Test(model, io_seeds, .timeout = 600)
{
    if (getenv("WEFT_MODEL_HEX") || getenv("WEFT_MODEL_SEED"))
        return; /* model.seeds runs the one program */
    uint64_t n = env_u64("WEFT_MODEL_IO_SEEDS",
                         getenv("WEFT_TEST_VALGRIND") ? 60 : 1000);
    uint64_t first = env_u64("WEFT_MODEL_FIRST", 1);
    m_cov cov;
    memset(&cov, 0, sizeof cov);
    uint64_t t0 = real_now_ns();
    for (uint64_t s = first; s < first + n; s++) {
        if (check_io_seed(s, 0, &cov) != 0)
            cr_assert_fail("io seed %llu (WEFT_MODEL_MODE=6): weft disagrees "
                           "with the model; its program and both traces are "
                           "on stderr",
                           (unsigned long long)s);
    }
    uint64_t ms = (real_now_ns() - t0) / 1000000u;
    fprintf(stderr, "model.io_seeds: seeds %llu..%llu agree (%llu ms)\n",
            (unsigned long long)first, (unsigned long long)(first + n - 1),
            (unsigned long long)ms);
    m_cov_print(stderr, &cov);
}

/* ------------------------------------------------------------------------ */
/* Regressions: fixed seeds that exercise interesting corners               */
/* ------------------------------------------------------------------------ */

/* 3 tasks blocked (joins in a cycle, a full bounded channel): the report
 * counts them, every blocked call returns -ECANCELED in spawn order,
 * weft_run returns -EDEADLK, the receiver's queued item is still there. */
Test(model, regression_deadlock_cancels_in_spawn_order) { expect_seed(2477); }

/* A bounded send waits; the root returns and cancels the sender, then
 * drains the channel before the sender resumes: the item was taken, so the
 * send returns 0, not -ECANCELED ("nothing is lost"). */
Test(model, regression_bounded_send_taken_then_cancelled)
{
    expect_seed(12181);
}

/* race(sleep 0, recv) with an item queued: both are ready at the first
 * poll and the earlier argument wins; the item stays queued. */
Test(model, regression_race_bias_zero_sleep) { expect_seed(53784); }

/* A task aborted before it started never runs (drop_arg once) and joins
 * with -ECANCELED. */
Test(model, regression_never_started_task_joined) { expect_seed(18520); }

/* A bounded send waits on a full channel; the receiver closes it: the send
 * fails with -EPIPE and the queued item is still received. */
Test(model, regression_close_fails_waiting_sender) { expect_seed(39858); }

/* The only sender is dropped: the receive returns 0 (closed, drained). */
Test(model, regression_sender_drop_closes) { expect_seed(38177); }

/* timeout(recv, 0) on an empty channel times out at once. */
Test(model, regression_timeout_zero) { expect_seed(5720); }

/* Hand-offs (#15): at 2 ms the timers wake t1, then t4; t1 spawns t5 and
 * joins it before it started: t5 runs next, but behind t4, which the timer
 * woke (weft.h, "Run order").  A model that put hand-offs at the very head
 * ran t5 before t4. */
Test(model, regression_handoff_behind_a_timer_wake) { expect_seed(15417); }

/* The same in a program of two runs with streams: t6 returns from its join
 * of t4 behind t5, whom a timer woke. */
Test(model, regression_handoff_behind_a_timer_wake_streams)
{
    expect_stream_seed(6745, 2);
}

/* ------------------------------------------------------------------------ */
/* Streams (#9): fixed seeds of model.stream_seeds (WEFT_MODEL_MODE=1) and   */
/* model.multirun_seeds (=2).  All but the last fail on the library before  */
/* the fix of #9 (ca5c702) under ASan.                                       */
/* ------------------------------------------------------------------------ */

/* s1 = merge(interval(1), from_receiver(c1)), polled by t5 from an async
 * block under weft_timeout at 4 ms: the interval side is ready (ticks 0, 1,
 * 2 come at once, a burst), the receive side was polled pending first.
 * Then t6 sends on c1: before the fix the receive was still registered with
 * the slot waker of the returned weft_timeout (ASan: stack-buffer-underflow
 * in weft__wake from weft_send). */
Test(model, regression_stream_merge_in_timeout_block)
{
    expect_stream_seed(28, 1);
}

/* s0 = timeout(timeout(from_receiver(c0), 1), 5), polled in run 1 directly
 * and from blocks under timeout, race and join_all, kept after weft_run
 * returned and dropped between the runs: before the fix its receive was
 * still on the ended runtime's list of channel waits (ASan:
 * heap-use-after-free in recv_cleanup).  In run 2 every send on c0 fails
 * with -EPIPE (the receiver was dropped with the stream). */
Test(model, regression_stream_dropped_between_runs)
{
    expect_stream_seed(6, 2);
}

/* s0 = merge(interval(4), merge(from_receiver(c0), from_receiver(c1)))
 * built in run 1, polled from blocks under join_all and race, and polled
 * again in run 2 by another task: before the fix a run-2 send found the
 * receive still registered with run 1's runtime and posted its wake there
 * (ASan: heap-use-after-free in weft__post).  The run-1 ticks (0, 4, 8 ms)
 * are due at once or soon in run 2. */
Test(model, regression_stream_polled_in_a_second_run)
{
    expect_stream_seed(12, 2);
}

/* t1 takes one element of s0 = merge(from_receiver(c0), interval(4)) from a
 * block under weft_timeout (the tick at 0 ms) and returns; t2 then sends on
 * c0: before the fix the receive side was still registered with the
 * returned block's waker (ASan: SEGV, a wild jump from weft_send).  Later
 * the root blocks in a send on c1, full, which feeds s1, polled by nobody:
 * a real deadlock, reported while both streams are alive (one task
 * blocked), as no registration of theirs remains. */
Test(model, regression_stream_deadlock_while_streams_live)
{
    expect_stream_seed(62, 1);
}

/* s0 = take(3, timeout(interval(5), 3)) carried into run 2: its next tick
 * (5 ms of run 1's clock) comes at 5 ms of run 2, and the timeout's
 * deadline set then (8 ms) passes inside a block under join_all, whose
 * next returns -ETIMEDOUT at 8 ms; s1, dropped between the runs, is
 * skipped. */
Test(model, regression_stream_deadlines_across_runs)
{
    expect_stream_seed(17, 2);
}

/* ------------------------------------------------------------------------ */
/* Coordination (WEFT_MODEL_MODE=5): fixed seeds, each the first that a      */
/* deliberately broken library (named) failed among the 1,200 (6,000 and     */
/* 20,000 for the last two) of model.coord_seeds.                            */
/* ------------------------------------------------------------------------ */

/* Fairness: an acquire that finds others queued waits behind them even
 * when the permits would do (broken: try_take ignoring the queue). */
Test(model, regression_coord_semaphore_no_barging) { expect_coord_seed(186); }

/* A granted acquire cancelled before it ran gives its permits back to the
 * next waiters (broken: sync_cancel keeping them). */
Test(model, regression_coord_cancelled_acquire_takes_nothing)
{
    expect_coord_seed(16);
}

/* A large request at the head is not overtaken by smaller ones behind it
 * (broken: dispatch granting any waiter that fits). */
Test(model, regression_coord_semaphore_head_first) { expect_coord_seed(237); }

/* Each item to exactly one receive (broken: a receive woken for an item
 * copying it without taking it). */
Test(model, regression_coord_item_received_once) { expect_coord_seed(60); }

/* An item is kept for the receive woken for it until that receive polls:
 * a receive just starting does not take it (broken: no owed items). */
Test(model, regression_coord_woken_receive_keeps_its_item)
{
    expect_coord_seed(18);
}

/* The last handle's drop closes the channel and ends the receive waiting
 * through another task's handle with 0 (broken: no wake). */
Test(model, regression_coord_last_receiver_drop_ends_receive)
{
    expect_coord_seed(291);
}

/* A receive that completes passes the baton: the next waiting receive is
 * woken when an item is there for it (broken: no pass_on). */
Test(model, regression_coord_receive_passes_on) { expect_coord_seed(171); }

/* join_next returns members in completion order (broken: last finished
 * first). */
Test(model, regression_coord_group_completion_order) { expect_coord_seed(231); }

/* Waiting receives are served in the order they began to wait (broken:
 * last first; found at seed 4019 of 6,000). */
Test(model, regression_coord_receivers_fifo) { expect_coord_seed(4019); }

/* join_next of a member cancelled while it ran: status -ECANCELED and a
 * NULL result (broken: its return value; seed 1784 of 20,000). */
Test(model, regression_coord_join_next_cancelled_member)
{
    expect_coord_seed(1784);
}

/* ------------------------------------------------------------------------ */
/* I/O (WEFT_MODEL_MODE=6): fixed seeds, each the first of model.io_seeds    */
/* (1..1000) that a deliberately broken src/io/reactor.c (named) failed.    */
/* ------------------------------------------------------------------------ */

/* A read cancelled while it waits takes no byte: t3's reads of e1 are
 * cancelled by the root's end, and what t1 sent stays for whoever reads
 * next (broken: op_cancel of a read that had begun recv()s one byte: 2383
 * bytes left at the end instead of 2384). */
Test(model, regression_io_cancelled_read_takes_nothing) { expect_io_seed(56); }

/* A write returns when all its bytes are taken, not before: the big
 * write of t5 blocks, the socket holding only part of it (broken: the
 * write op reporting done after a partial send, so weft_write returned at
 * once with the 219264 bytes the socket took). */
Test(model, regression_io_write_returns_when_all_sent) { expect_io_seed(12); }

/* End of file only after every byte: t3 sends 280 + 481 + 869 bytes
 * through e1 and shuts it down; t4's read of e0 under a zero timeout gets
 * 206 of them, its read_all at 4 ms the other 1424 (broken: a read that
 * returns 0 as soon as the peer has shut down, POLLRDHUP, before recv). */
Test(model, regression_io_eof_after_all_bytes) { expect_io_seed(8); }

/* ------------------------------------------------------------------------ */
/* Bugs the model found, now fixed                                           */
/* ------------------------------------------------------------------------ */

/* A write blocked on a full socket ends when the peer shuts down and then
 * closes, on both backends (test_model.io runs under WEFT_IO=uring too,
 * make test-uring): t4's big write to e4 blocks, t6 shuts e5 (its peer)
 * down and closes it, and the write returns -EPIPE at 0 ms.  Found under
 * io_uring (issue 11): the write's poll ended with POLLRDHUP alone at the
 * shutdown, nothing waited for writing any more and the write stayed
 * blocked until the root's end cancelled it at 35 ms. */
Test(model, regression_io_uring_write_woken_by_close_after_shutdown)
{
    expect_io_seed(266);
}

/* weft_close releases the socket at once, on both backends: t2's big
 * write to e0 times out at 3 ms while t1's read of e0 waits, t2 shuts e0
 * down and closes it, and t5's writes to e1 (e0's peer) fail with EPIPE.
 * Found under io_uring: the shutdown left a wakeup of the read's poll
 * pending, the IORING_OP_POLL_REMOVE of weft_close failed (-EALREADY), the
 * wakeup armed the poll again, and e0 stayed open: t5's writes succeeded. */
Test(model, regression_io_uring_close_releases_the_socket)
{
    expect_io_seed(5392);
}

/* Tasks whose waits one poll of the reactor finds ready are woken in the
 * order their waits began, on both backends (weft.h, "Wake order").  Found
 * under io_uring (issue 11): a poll armed on an fd already ready completed
 * at once, its completion posted ahead of those of earlier wakeups, and
 * weft woke the waiters in the order of the completions, not as epoll's
 * ready list.  In seed 36457, t3's read of e2 and t6's read of e1 end in
 * the same poll: woken in the other order, t3's read returned 65536 bytes
 * before t6 aborted t3, where it is cancelled. */
Test(model, regression_io_uring_wake_order_36457) { expect_io_seed(36457); }
Test(model, regression_io_uring_wake_order_101892) { expect_io_seed(101892); }
Test(model, regression_io_uring_wake_order_125003) { expect_io_seed(125003); }

static void *root_io_backend(void *arg)
{
    *(const char **)arg = weft_io_backend();
    return NULL;
}

/* make test-uring runs test_model.io with WEFT_IO=uring: the I/O programs
 * really ran on io_uring there (on epoll in make test-native). */
Test(model, io_backend_is_the_one_WEFT_IO_names)
{
    const char *v = getenv("WEFT_IO"), *want = "epoll", *name = NULL;
#ifdef WEFT_TEST_IO_URING
    if (v && (strcmp(v, "uring") == 0 || strcmp(v, "io_uring") == 0))
        want = "uring";
#endif
    cr_assert_eq(weft_run(root_io_backend, &name, NULL), 0);
    cr_assert_not_null(name);
    cr_assert_str_eq(name, want, "WEFT_IO=%s", v ? v : "(unset)");
}

/*
 * A join cancelled while waiting consumes the handle all the same (weft.h):
 * the joined task is detached, keeps running to its end and is freed by
 * the runtime; later spawns are unaffected.  (An earlier weft.h said the
 * handle stayed the caller's; the model's abort_cancelled_join pattern
 * generated programs that relied on it and is no longer used.)
 */
static weft_task *cj_child;
static int cj_child_done, cj_join_rc, cj_other_join;

static void *cj_quick(void *arg) { return arg; }

static void *cj_slow(void *arg)
{
    weft_sleep(WEFT_MS(3));
    cj_child_done = 1;
    return arg;
}

static void *cj_joiner(void *arg)
{
    (void)arg;
    cj_join_rc = weft_task_join(cj_child, NULL);
    return NULL;
}

static void *cj_root(void *arg)
{
    (void)arg;
    weft_task *j = weft_spawn(cj_joiner, NULL);
    cj_child = weft_spawn(cj_slow, (void *)(intptr_t)7);
    weft_yield();       /* j blocks in the join */
    weft_task_abort(j); /* its join returns -ECANCELED */
    weft_task_join(j, NULL);
    weft_task *other = weft_spawn(cj_quick, NULL);
    cj_other_join = weft_task_join(other, NULL);
    weft_sleep(WEFT_MS(5)); /* the detached child finishes meanwhile */
    return NULL;
}

Test(model, cancelled_join_detaches_the_task)
{
    cj_join_rc = cj_other_join = 99;
    cj_child_done = 0;
    run_virtual(cj_root, NULL);
    cr_assert_eq(cj_join_rc, -ECANCELED);
    cr_assert_eq(cj_child_done, 1, "the detached task must keep running");
    cr_assert_eq(cj_other_join, 0);
}

/*
 * weft_yield: "every task runnable now runs before the caller resumes, and
 * expired timers are serviced."  b and c sleep until 5 ms (b armed first);
 * at 5 ms only b's timer fires (one at a time when nothing else is
 * runnable); b's first yield must let c's expired timer fire and c run
 * before it returns.  (Found by the model: the runtime used to resume a
 * task yielding alone in the queue at once; yields are now queued after
 * the next timer service, and model_core.c models that.)
 */
static tlog yl;

static void *y_b(void *arg)
{
    (void)arg;
    weft_sleep(WEFT_MS(5));
    tlog_add(&yl, "b-woke");
    weft_yield();
    tlog_add(&yl, "b-yield1");
    weft_yield();
    tlog_add(&yl, "b-yield2");
    return NULL;
}

static void *y_c(void *arg)
{
    (void)arg;
    weft_sleep(WEFT_MS(5));
    tlog_add(&yl, "c-woke");
    return NULL;
}

static void *y_root(void *arg)
{
    (void)arg;
    weft_task *b = weft_spawn(y_b, NULL);
    weft_task *c = weft_spawn(y_c, NULL);
    weft_task_join(b, NULL);
    weft_task_join(c, NULL);
    return NULL;
}

Test(model, regression_yield_services_expired_timers)
{
    memset(&yl, 0, sizeof yl);
    run_virtual(y_root, NULL);
    const char *c = strstr(yl.buf, "c-woke");
    const char *y2 = strstr(yl.buf, "b-yield2");
    cr_assert(c && y2);
    cr_expect(c < y2,
              "c's timer expired at 5 ms, before b's first yield, so it must "
              "be serviced and c run before b's second yield returns; log: %s",
              yl.buf);
}
