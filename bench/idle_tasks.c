/*
 * idle_tasks - what a parked task costs in memory.
 *
 *  1. rss0 = VmRSS (runtime up, nothing spawned).
 *  2. t0; for i < N: channel i, task i (parked++, then recv(channel i),
 *     return the value); the parent keeps sender i and handle i.
 *  3. wait until parked == N (1 ms sleeps), then 50 ms more (untimed).
 *  4. rss1 = VmRSS; kib_per_task = (rss1 - rss0) / N.
 *  5. t1; send i on channel i (and drop the sender: a oneshot), join all in
 *     order.  Check: sum == N(N-1)/2.
 * secs = spawn_secs + wake_secs; ops = N.
 * minflt_per_parked: minor page faults (bench_minflt) from step 2 to step 4
 * (spawned and parked), per task; minflt_per_wake: those of step 5, per
 * task.
 *
 * usage: idle_tasks [N=100_000]
 */
#include "bench.h"

typedef struct {
    uint64_t n, parked, sum;
    uint64_t rss0, rss1;
    uint64_t parked_minflt, wake_minflt;
    double spawn_secs, wake_secs;
} idle;

static idle *g_idle;

static void *parked_task(void *arg)
{
    weft_receiver *rx = arg;
    uint64_t v;
    g_idle->parked++;
    if (weft_recv(rx, &v) != 1)
        bench_die("idle_tasks: channel closed without a value");
    weft_receiver_drop(rx);
    return (void *)(uintptr_t)v;
}

static void *body(void *arg)
{
    idle *d = arg;
    d->rss0 = bench_status_kib("VmRSS");
    uint64_t f0 = bench_minflt(), t0 = bench_now();
    weft_sender **tx;
    weft_task **h;
    BENCH_NONNULL(tx = malloc(d->n * sizeof *tx));
    BENCH_NONNULL(h = malloc(d->n * sizeof *h));
    for (uint64_t i = 0; i < d->n; i++) {
        weft_receiver *rx;
        BENCH_OK(weft_channel(sizeof(uint64_t), &tx[i], &rx));
        BENCH_NONNULL(h[i] = weft_spawn(parked_task, rx));
    }
    d->spawn_secs = bench_secs(t0, bench_now());

    while (d->parked < d->n)
        BENCH_OK(weft_sleep(WEFT_MS(1)));
    BENCH_OK(weft_sleep(WEFT_MS(50)));
    d->rss1 = bench_status_kib("VmRSS");
    uint64_t f1 = bench_minflt();
    d->parked_minflt = f1 - f0;

    uint64_t t1 = bench_now();
    for (uint64_t i = 0; i < d->n; i++) {
        BENCH_OK(weft_send(tx[i], &i));
        weft_sender_drop(tx[i]);
    }
    uint64_t sum = 0;
    for (uint64_t i = 0; i < d->n; i++) {
        void *r = NULL; /* set by a successful join */
        BENCH_OK(weft_task_join(h[i], &r));
        sum += (uintptr_t)r;
    }
    d->wake_secs = bench_secs(t1, bench_now());
    d->wake_minflt = bench_minflt() - f1;
    d->sum = sum;
    free(tx);
    free(h);
    return NULL;
}

int main(int argc, char **argv)
{
    idle d = {.n = bench_parse_n(argc, argv, 100000)};
    g_idle = &d;
    bench_run(body, &d);
    uint64_t want = d.n * (d.n - 1) / 2;
    if (d.sum != want)
        bench_die("idle_tasks: sum = %llu, expected %llu",
                  (unsigned long long)d.sum, (unsigned long long)want);
    uint64_t delta = d.rss1 > d.rss0 ? d.rss1 - d.rss0 : 0;
    bench_report("idle_tasks", d.n, d.spawn_secs + d.wake_secs, (double)d.n,
                 " kib_per_task=%.3f rss_before_kib=%llu rss_parked_kib=%llu"
                 " spawn_secs=%.6f wake_secs=%.6f minflt_per_parked=%.3f"
                 " minflt_per_wake=%.3f",
                 (double)delta / (double)d.n, (unsigned long long)d.rss0,
                 (unsigned long long)d.rss1, d.spawn_secs, d.wake_secs,
                 (double)d.parked_minflt / (double)d.n,
                 (double)d.wake_minflt / (double)d.n);
    return 0;
}
