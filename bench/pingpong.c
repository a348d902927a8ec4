/*
 * pingpong - two tasks bounce a counter over two channels.
 *
 *   pong: loop { v = recv(A); if A is closed, exit; send(B, v + 1) }
 *   ping: v = 0; N times { send(A, v); v = recv(B) }; close A; return v
 *
 * Timed from just before the two spawns until both are joined; ops = N round
 * trips.  Check: v == N.  Variants: unbounded (default; weft_channel) and
 * buf1 (capacity-1 channels).
 *
 * usage: pingpong [N=1_000_000] [unbounded|buf1]
 */
#include "bench.h"

typedef struct {
    uint64_t n;
    size_t capacity;
    weft_sender *a_tx, *b_tx;
    weft_receiver *a_rx, *b_rx;
    double secs;
    uint64_t v;
} pingpong;

static void *pong(void *arg)
{
    pingpong *p = arg;
    uint64_t v;
    int rc;
    while ((rc = weft_recv(p->a_rx, &v)) > 0) {
        v++;
        BENCH_OK(weft_send(p->b_tx, &v));
    }
    BENCH_OK(rc);
    weft_sender_drop(p->b_tx);
    weft_receiver_drop(p->a_rx);
    return NULL;
}

static void *ping(void *arg)
{
    pingpong *p = arg;
    uint64_t v = 0;
    for (uint64_t i = 0; i < p->n; i++) {
        BENCH_OK(weft_send(p->a_tx, &v));
        if (weft_recv(p->b_rx, &v) != 1)
            bench_die("pingpong: B closed early");
    }
    weft_sender_drop(p->a_tx); /* closes A: pong exits */
    weft_receiver_drop(p->b_rx);
    return (void *)(uintptr_t)v;
}

static void *body(void *arg)
{
    pingpong *p = arg;
    weft_channel_opts opts = {.capacity = p->capacity};
    BENCH_OK(weft_channel_with(sizeof(uint64_t), &opts, &p->a_tx, &p->a_rx));
    BENCH_OK(weft_channel_with(sizeof(uint64_t), &opts, &p->b_tx, &p->b_rx));

    uint64_t t0 = bench_now();
    weft_task *tpong, *tping;
    BENCH_NONNULL(tpong = weft_spawn(pong, p));
    BENCH_NONNULL(tping = weft_spawn(ping, p));
    void *res;
    BENCH_OK(weft_task_join(tping, &res));
    BENCH_OK(weft_task_join(tpong, NULL));
    p->secs = bench_secs(t0, bench_now());
    p->v = (uintptr_t)res;
    return NULL;
}

int main(int argc, char **argv)
{
    pingpong p = {.n = bench_parse_n(argc, argv, 1000000)};
    const char *variant = bench_variant(argc, argv, "unbounded");
    if (strcmp(variant, "unbounded") == 0) {
        p.capacity = 0;
    } else if (strcmp(variant, "buf1") == 0) {
        p.capacity = 1;
    } else {
        fprintf(stderr, "pingpong: unknown variant '%s' (unbounded|buf1)\n",
                variant);
        return 2;
    }
    bench_run(body, &p);
    if (p.v != p.n)
        bench_die("pingpong: v = %llu, expected %llu", (unsigned long long)p.v,
                  (unsigned long long)p.n);
    bench_report("pingpong", p.n, p.secs, (double)p.n, " variant=%s", variant);
    return 0;
}
