/*
 * chan_throughput - P producer tasks send 0..N-1 over one channel of u64 to
 * one consumer task, which sums and counts until the channel is closed.
 *
 * Producer k sends k*(N/P) .. (k+1)*(N/P)-1 in order (the last one also the
 * remainder up to N-1), then drops its sender.  Timed from just before the
 * consumer is spawned (first, then the producers) until the consumer has
 * been joined.  ops = N; msgs_per_sec = N / secs.  Check: count == N and
 * sum == N(N-1)/2.
 *
 * Variants: 1p, 4p (unbounded: weft_channel) and 1p-b1024, 4p-b1024
 * (capacity 1024).
 *
 * usage: chan_throughput [N=10_000_000] [1p|4p|1p-b1024|4p-b1024]
 */
#include "bench.h"

#define MAX_PRODUCERS 64

typedef struct {
    weft_sender *tx;
    uint64_t lo, hi; /* values [lo, hi) */
} producer;

typedef struct {
    uint64_t n;
    unsigned p;
    size_t capacity;
    weft_receiver *rx;
    uint64_t sum, count;
    double secs;
    producer prod[MAX_PRODUCERS];
} chan_bench;

static void *produce(void *arg)
{
    producer *pr = arg;
    for (uint64_t v = pr->lo; v < pr->hi; v++)
        BENCH_OK(weft_send(pr->tx, &v));
    weft_sender_drop(pr->tx);
    return NULL;
}

static void *consume(void *arg)
{
    chan_bench *c = arg;
    uint64_t v, sum = 0, count = 0;
    int rc;
    while ((rc = weft_recv(c->rx, &v)) > 0) {
        sum += v;
        count++;
    }
    BENCH_OK(rc);
    weft_receiver_drop(c->rx);
    c->sum = sum;
    c->count = count;
    return NULL;
}

static void *body(void *arg)
{
    chan_bench *c = arg;
    weft_sender *tx;
    weft_channel_opts opts = {.capacity = c->capacity};
    BENCH_OK(weft_channel_with(sizeof(uint64_t), &opts, &tx, &c->rx));
    uint64_t share = c->n / c->p;
    for (unsigned k = 0; k < c->p; k++) {
        c->prod[k].lo = k * share;
        c->prod[k].hi = k + 1 == c->p ? c->n : (k + 1) * share;
        /* the last producer takes the original sender */
        if (k + 1 == c->p)
            c->prod[k].tx = tx;
        else
            BENCH_NONNULL(c->prod[k].tx = weft_sender_clone(tx));
    }

    weft_task *prod[MAX_PRODUCERS], *cons;
    uint64_t t0 = bench_now();
    BENCH_NONNULL(cons = weft_spawn(consume, c));
    for (unsigned k = 0; k < c->p; k++)
        BENCH_NONNULL(prod[k] = weft_spawn(produce, &c->prod[k]));
    BENCH_OK(weft_task_join(cons, NULL));
    c->secs = bench_secs(t0, bench_now());
    for (unsigned k = 0; k < c->p; k++)
        BENCH_OK(weft_task_join(prod[k], NULL));
    return NULL;
}

int main(int argc, char **argv)
{
    chan_bench c = {.n = bench_parse_n(argc, argv, 10000000)};
    const char *variant = bench_variant(argc, argv, "1p");
    if (strcmp(variant, "1p") == 0)
        c.p = 1;
    else if (strcmp(variant, "4p") == 0)
        c.p = 4;
    else if (strcmp(variant, "1p-b1024") == 0)
        c.p = 1, c.capacity = 1024;
    else if (strcmp(variant, "4p-b1024") == 0)
        c.p = 4, c.capacity = 1024;
    else {
        fprintf(stderr,
                "chan_throughput: unknown variant '%s' "
                "(1p|4p|1p-b1024|4p-b1024)\n",
                variant);
        return 2;
    }
    bench_run(body, &c);
    uint64_t want = c.n * (c.n - 1) / 2;
    if (c.count != c.n || c.sum != want)
        bench_die("chan_throughput: count = %llu sum = %llu, expected %llu "
                  "and %llu",
                  (unsigned long long)c.count, (unsigned long long)c.sum,
                  (unsigned long long)c.n, (unsigned long long)want);
    bench_report("chan_throughput", c.n, c.secs, (double)c.n,
                 " variant=%s msgs_per_sec=%.0f", variant,
                 (double)c.n / c.secs);
    return 0;
}
