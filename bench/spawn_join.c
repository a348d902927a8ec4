/*
 * spawn_join - spawn N tasks that each return their index, then join them
 * in index order and sum the results.
 *
 * The handle array is allocated untimed.  t0; N spawns (spawn_secs); N joins
 * in order; secs = total, join_secs = secs - spawn_secs.  ops = N.
 * Check: sum == N(N-1)/2.  Nothing yields while spawning, so all N tasks
 * exist (unstarted, no stack yet) before the first one runs.
 * minflt_per_task: minor page faults (bench_minflt) from t0 to the last join,
 * per task; spawn_minflt_per_task: those of the spawns alone.
 *
 * usage: spawn_join [N=1_000_000]
 */
#include "bench.h"

typedef struct {
    uint64_t n;
    weft_task **h;
    double secs, spawn_secs;
    uint64_t sum, minflt, spawn_minflt;
} spawn_join;

static void *ret_index(void *arg) { return arg; }

static void *body(void *arg)
{
    spawn_join *s = arg;
    uint64_t f0 = bench_minflt(), t0 = bench_now();
    for (uint64_t i = 0; i < s->n; i++)
        BENCH_NONNULL(s->h[i] = weft_spawn(ret_index, (void *)(uintptr_t)i));
    uint64_t t1 = bench_now(), f1 = bench_minflt();
    uint64_t sum = 0;
    for (uint64_t i = 0; i < s->n; i++) {
        void *r = NULL; /* set by a successful join */
        BENCH_OK(weft_task_join(s->h[i], &r));
        sum += (uintptr_t)r;
    }
    uint64_t t2 = bench_now();
    s->minflt = bench_minflt() - f0;
    s->spawn_minflt = f1 - f0;
    s->spawn_secs = bench_secs(t0, t1);
    s->secs = bench_secs(t0, t2);
    s->sum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    spawn_join s = {.n = bench_parse_n(argc, argv, 1000000)};
    BENCH_NONNULL(s.h = malloc(s.n * sizeof *s.h));
    bench_run(body, &s);
    uint64_t want = s.n * (s.n - 1) / 2;
    if (s.sum != want)
        bench_die("spawn_join: sum = %llu, expected %llu",
                  (unsigned long long)s.sum, (unsigned long long)want);
    free(s.h);
    bench_report("spawn_join", s.n, s.secs, (double)s.n,
                 " spawn_secs=%.6f join_secs=%.6f minflt_per_task=%.3f"
                 " spawn_minflt_per_task=%.3f",
                 s.spawn_secs, s.secs - s.spawn_secs,
                 (double)s.minflt / (double)s.n,
                 (double)s.spawn_minflt / (double)s.n);
    return 0;
}
