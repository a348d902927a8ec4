/*
 * timers - N tasks each sleep d_i ms and measure how late they wake.
 *
 * d_i = 1 + (x_i mod 1000), x_i the i-th output of xorshift64 (13/7/17)
 * seeded with 42, all drawn before timing (dur_sum_ms lets another
 * implementation check its generator: 50,121,566 for N = 100,000).
 * t0; spawn N tasks; task i: deadline = now + d_i ms; sleep until deadline;
 * late_i = now - deadline (signed ns); counter++.  The parent joins the
 * handles in order.  secs = t0 .. all joined (ideal ~1.0 s).  Check:
 * counter == N.  Lateness mean/p50/p99/max/min in ms, percentile =
 * sorted[round((N-1) q)].  Extra: last_start_ms = when the last task first
 * ran, after t0 (how long it took to get every sleeper started);
 * minflt_per_task = minor page faults (bench_minflt) from t0 to the last
 * join, per task.
 *
 * usage: timers [N=100_000]
 */
#include "bench.h"

#include <math.h>

typedef struct {
    uint64_t dur_ms;
    uint64_t start_ns; /* when the task first ran (weft_now) */
    int64_t late_ns;
} sleeper;

typedef struct {
    uint64_t n;
    sleeper *s;
    weft_task **h;
    uint64_t counter;
    uint64_t t0; /* weft_now() just before the first spawn */
    uint64_t minflt;
    double secs;
} timers;

static timers *g_timers;

static uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void *sleep_task(void *arg)
{
    sleeper *s = arg;
    s->start_ns = weft_now();
    uint64_t deadline = s->start_ns + WEFT_MS(s->dur_ms);
    BENCH_OK(weft_sleep_until(deadline));
    uint64_t now = weft_now();
    s->late_ns = now >= deadline ? (int64_t)(now - deadline)
                                 : -(int64_t)(deadline - now);
    g_timers->counter++;
    return NULL;
}

static void *body(void *arg)
{
    timers *t = arg;
    uint64_t f0 = bench_minflt(), t0 = bench_now();
    t->t0 = weft_now();
    for (uint64_t i = 0; i < t->n; i++)
        BENCH_NONNULL(t->h[i] = weft_spawn(sleep_task, &t->s[i]));
    for (uint64_t i = 0; i < t->n; i++)
        BENCH_OK(weft_task_join(t->h[i], NULL));
    t->secs = bench_secs(t0, bench_now());
    t->minflt = bench_minflt() - f0;
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    timers t = {.n = bench_parse_n(argc, argv, 100000)};
    g_timers = &t;
    BENCH_NONNULL(t.s = calloc(t.n, sizeof *t.s));
    BENCH_NONNULL(t.h = malloc(t.n * sizeof *t.h));
    uint64_t rng = 42, dur_sum = 0;
    for (uint64_t i = 0; i < t.n; i++) {
        t.s[i].dur_ms = 1 + xorshift64(&rng) % 1000;
        dur_sum += t.s[i].dur_ms;
    }
    bench_run(body, &t);
    if (t.counter != t.n)
        bench_die("timers: counter = %llu, expected %llu",
                  (unsigned long long)t.counter, (unsigned long long)t.n);

    int64_t *late;
    BENCH_NONNULL(late = malloc(t.n * sizeof *late));
    double total = 0;
    uint64_t last_start = 0;
    for (uint64_t i = 0; i < t.n; i++) {
        late[i] = t.s[i].late_ns;
        total += (double)late[i];
        if (t.s[i].start_ns > last_start)
            last_start = t.s[i].start_ns;
    }
    qsort(late, t.n, sizeof *late, cmp_i64);
#define PCT(q) ((double)late[(size_t)llround((double)(t.n - 1) * (q))] / 1e6)
    bench_report("timers", t.n, t.secs, (double)t.n,
                 " late_mean_ms=%.3f late_p50_ms=%.3f late_p99_ms=%.3f "
                 "late_max_ms=%.3f late_min_ms=%.3f dur_sum_ms=%llu "
                 "last_start_ms=%.3f minflt_per_task=%.3f",
                 total / (double)t.n / 1e6, PCT(0.5), PCT(0.99),
                 (double)late[t.n - 1] / 1e6, (double)late[0] / 1e6,
                 (unsigned long long)dur_sum, (double)(last_start - t.t0) / 1e6,
                 (double)t.minflt / (double)t.n);
#undef PCT
    free(late);
    free(t.s);
    free(t.h);
    return 0;
}
