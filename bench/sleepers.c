/*
 * sleepers - scale: N tasks that each sleep 200 ms (issue 15).
 *
 * What a new user tries first: spawn many tasks that each sleep, wait for
 * them all.  Ten times the tasks should cost about ten times the time; the
 * issue measured 4.3 s for 100k and 102 s for 1M.
 *
 *  1. rss0 = VmRSS (runtime up, nothing spawned); the handle array is
 *     allocated and touched untimed.
 *  2. t0; spawn N tasks (spawn_secs); task i: weft_sleep(200 ms),
 *     counter++; the parent joins the handles in order.  secs = t0 .. all
 *     joined (ideal: 0.2 s plus the spawns).
 *  3. peak_kib = VmHWM after the joins.
 * ns_per_op = secs / N (time per task); over_ns_per_task = (secs - 0.2 s)
 * / N (what the runtime added to the one sleep every task waits);
 * kib_per_task = (VmHWM - rss0) / N (peak memory per task);
 * minflt_per_task = minor page faults (bench_minflt) from t0 to the last
 * join, per task.  Check: counter == N.
 *
 * usage: sleepers [N=100_000]
 */
#include "bench.h"

#define SLEEP_NS WEFT_MS(200)

typedef struct {
    uint64_t n, counter, minflt, rss0;
    weft_task **h;
    double secs, spawn_secs;
} sleepers;

static sleepers *g_sleepers;

static void *sleeper(void *arg)
{
    (void)arg;
    BENCH_OK(weft_sleep(SLEEP_NS));
    g_sleepers->counter++;
    return NULL;
}

static void *body(void *arg)
{
    sleepers *s = arg;
    s->rss0 = bench_status_kib("VmRSS");
    uint64_t f0 = bench_minflt(), t0 = bench_now();
    for (uint64_t i = 0; i < s->n; i++)
        BENCH_NONNULL(s->h[i] = weft_spawn(sleeper, NULL));
    s->spawn_secs = bench_secs(t0, bench_now());
    for (uint64_t i = 0; i < s->n; i++)
        BENCH_OK(weft_task_join(s->h[i], NULL));
    s->secs = bench_secs(t0, bench_now());
    s->minflt = bench_minflt() - f0;
    return NULL;
}

int main(int argc, char **argv)
{
    sleepers s = {.n = bench_parse_n(argc, argv, 100000)};
    g_sleepers = &s;
    BENCH_NONNULL(s.h = calloc(s.n, sizeof *s.h));
    memset(s.h, 0, s.n * sizeof *s.h); /* touch it: untimed */
    bench_run(body, &s);
    if (s.counter != s.n)
        bench_die("sleepers: counter = %llu, expected %llu",
                  (unsigned long long)s.counter, (unsigned long long)s.n);
    uint64_t hwm = bench_status_kib("VmHWM");
    free(s.h);
    double over = s.secs - (double)SLEEP_NS / 1e9;
    bench_report("sleepers", s.n, s.secs, (double)s.n,
                 " over_ns_per_task=%.1f spawn_secs=%.6f kib_per_task=%.3f"
                 " minflt_per_task=%.3f",
                 over * 1e9 / (double)s.n, s.spawn_secs,
                 (double)(hwm > s.rss0 ? hwm - s.rss0 : 0) / (double)s.n,
                 (double)s.minflt / (double)s.n);
    return 0;
}
