/*
 * micro - the costs of weft's basic operations, one line each:
 *
 *   micro_ctx      the bare context switch (src/arch): one resume + one
 *                  suspend of a coroutine that does nothing else, i.e. two
 *                  calls of weft__ctx_switch, with no scheduler around it
 *   micro_switch   two tasks yield to each other: ns per task-to-task switch
 *                  (one weft_yield; it passes through the run queue)
 *   micro_spawn    weft_spawn + the task's return + weft_task_join, one task
 *                  at a time (its stack comes from the pool's hot list)
 *   micro_timer    weft_race(sleep_future(1 s), ready recv_future): the
 *                  sleep is polled first, arms its timer, loses and is
 *                  cancelled (timer arm + cancel + two future allocations)
 *   micro_timeout  weft_timeout(ready recv_future, 1 s): the future wins on
 *                  its first poll, the timer is never armed (the fast path)
 *   micro_chan     weft_send + weft_recv on one task, uncontended (the
 *                  receive finds the item: no suspension)
 *
 * The ready receives of micro_timer / micro_timeout take items queued before
 * the timed loop.  Each line: name=micro_<op> runtime=weft n=<ops> secs=...
 * ns_per_op=... vmhwm_kib=...
 *
 * usage: micro [N=1_000_000] [all|ctx|switch|spawn|timer|timeout|chan]
 */
#include "bench.h"

#include "arch/arch.h" /* weft__ctx_*: the bare switch, for micro_ctx */

typedef struct {
    uint64_t n;
    const char *which;
} micro;

static int wanted(const micro *m, const char *name)
{
    return strcmp(m->which, "all") == 0 || strcmp(m->which, name) == 0;
}

/* ---- bare context switch (internal: src/arch.h) ---------------------------
 */

static weft__ctx ctx_main, ctx_co;

static void ctx_body(void *arg)
{
    (void)arg;
    for (;;)
        weft__ctx_switch(&ctx_co, &ctx_main);
}

static void bench_ctx(uint64_t n)
{
    size_t size = 64 * 1024;
    char *stack = malloc(size);
    BENCH_NONNULL(stack);
    weft__ctx_init(&ctx_co, stack, size, ctx_body, NULL);
    weft__ctx_switch(&ctx_main, &ctx_co); /* first entry, not timed */
    uint64_t t0 = bench_now();
    for (uint64_t i = 0; i < n; i++)
        weft__ctx_switch(&ctx_main, &ctx_co);
    double secs = bench_secs(t0, bench_now());
    free(stack); /* ctx_body is parked in it forever: never resumed again */
    bench_report("micro_ctx", n, secs, (double)n, NULL);
}

/* ---- switch ------------------------------------------------------------- */

static void *yielder(void *arg)
{
    uint64_t n = (uintptr_t)arg;
    for (uint64_t i = 0; i < n; i++)
        BENCH_OK(weft_yield());
    return NULL;
}

static void bench_switch(uint64_t n)
{
    uint64_t half = (n + 1) / 2;
    uint64_t t0 = bench_now();
    weft_task *a, *b;
    BENCH_NONNULL(a = weft_spawn(yielder, (void *)(uintptr_t)half));
    BENCH_NONNULL(b = weft_spawn(yielder, (void *)(uintptr_t)half));
    BENCH_OK(weft_task_join(a, NULL));
    BENCH_OK(weft_task_join(b, NULL));
    double secs = bench_secs(t0, bench_now());
    bench_report("micro_switch", 2 * half, secs, (double)(2 * half), NULL);
}

/* ---- spawn -------------------------------------------------------------- */

static void *ret_arg(void *arg) { return arg; }

static uint64_t spawn_loop(uint64_t n)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        weft_task *t;
        void *r;
        BENCH_NONNULL(t = weft_spawn(ret_arg, (void *)(uintptr_t)i));
        BENCH_OK(weft_task_join(t, &r));
        sum += (uintptr_t)r;
    }
    return sum;
}

static void bench_spawn(uint64_t n)
{
    spawn_loop(1000); /* warm: the pool has a hot stack, task structs cached */
    uint64_t t0 = bench_now();
    uint64_t sum = spawn_loop(n);
    double secs = bench_secs(t0, bench_now());
    BENCH_CHECK(sum == n * (n - 1) / 2);
    bench_report("micro_spawn", n, secs, (double)n, NULL);
}

/* ---- timer arm + cancel, timeout fast path ------------------------------ */

static void bench_timer(uint64_t n, int timeout_form)
{
    weft_sender *tx;
    weft_receiver *rx;
    BENCH_OK(weft_channel(sizeof(uint64_t), &tx, &rx));
    for (uint64_t i = 0; i < n; i++)
        BENCH_OK(weft_send(tx, &i));

    uint64_t sum = 0, v = 0;
    uint64_t t0 = bench_now();
    for (uint64_t i = 0; i < n; i++) {
        weft_future *recv;
        BENCH_NONNULL(recv = weft_recv_future(rx, &v));
        if (timeout_form) {
            int rc = weft_timeout(recv, WEFT_SEC(1), NULL);
            BENCH_CHECK(rc == 1); /* the receive's status: an item */
        } else {
            weft_future *fs[2];
            BENCH_NONNULL(fs[0] = weft_sleep_future(WEFT_SEC(1)));
            fs[1] = recv;
            void *res = NULL; /* set when the race succeeds */
            int rc = weft_race(fs, 2, &res);
            BENCH_CHECK(rc == 1 && (intptr_t)res == 1);
        }
        sum += v;
    }
    double secs = bench_secs(t0, bench_now());
    BENCH_CHECK(sum == n * (n - 1) / 2);
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    bench_report(timeout_form ? "micro_timeout" : "micro_timer", n, secs,
                 (double)n, NULL);
}

/* ---- uncontended channel ------------------------------------------------ */

static void bench_chan(uint64_t n)
{
    weft_sender *tx;
    weft_receiver *rx;
    BENCH_OK(weft_channel(sizeof(uint64_t), &tx, &rx));
    uint64_t sum = 0, v;
    for (uint64_t i = 0; i < 64; i++) { /* grow the ring once */
        BENCH_OK(weft_send(tx, &i));
        BENCH_CHECK(weft_recv(rx, &v) == 1);
    }
    uint64_t t0 = bench_now();
    for (uint64_t i = 0; i < n; i++) {
        BENCH_OK(weft_send(tx, &i));
        if (weft_recv(rx, &v) != 1)
            bench_die("micro_chan: receive failed");
        sum += v;
    }
    double secs = bench_secs(t0, bench_now());
    BENCH_CHECK(sum == n * (n - 1) / 2);
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    bench_report("micro_chan", n, secs, (double)n, NULL);
}

static void *body(void *arg)
{
    micro *m = arg;
    if (wanted(m, "ctx"))
        bench_ctx(m->n);
    if (wanted(m, "switch"))
        bench_switch(m->n);
    if (wanted(m, "spawn"))
        bench_spawn(m->n);
    if (wanted(m, "timer"))
        bench_timer(m->n, 0);
    if (wanted(m, "timeout"))
        bench_timer(m->n, 1);
    if (wanted(m, "chan"))
        bench_chan(m->n);
    return NULL;
}

int main(int argc, char **argv)
{
    micro m = {.n = bench_parse_n(argc, argv, 1000000),
               .which = bench_variant(argc, argv, "all")};
    static const char *const known[] = {"all",   "ctx",     "switch", "spawn",
                                        "timer", "timeout", "chan"};
    int ok = 0;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        ok |= strcmp(m.which, known[i]) == 0;
    if (!ok) {
        fprintf(stderr,
                "micro: unknown variant '%s' "
                "(all|ctx|switch|spawn|timer|timeout|chan)\n",
                m.which);
        return 2;
    }
    bench_run(body, &m);
    return 0;
}
