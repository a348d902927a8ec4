/*
 * worker_pool - a feeder task sends N jobs over one job channel that 8
 * worker tasks share; each worker does the job and sends its result over one
 * result channel to the collector (the root task).
 *
 *   job j (0 <= j < N): x = j + 1; 20 times { x ^= x << 13; x ^= x >> 7;
 *                       x ^= x << 17 } (xorshift64); the result is x
 *   feeder:    sends 0..N-1 in order on the job channel, drops its sender
 *   worker w:  until the job channel is closed and drained: take a job, send
 *              its result; then drop its result sender, return its count
 *   collector: receives until the result channel is closed (every worker
 *              gone), adding the results (mod 2^64) and counting them
 *
 * Both channels are bounded, capacity 128 (Go's channels are always
 * bounded; every port uses that capacity).  The workers are a task group
 * (weft_group); the collector joins them all after the result channel is
 * closed.  Timed from just before the group is made (then the workers and
 * the feeder are spawned) until every worker is joined; ops = N jobs.
 * Check: count == N, sum == the sum of the N results computed again
 * afterwards, every worker's counts add up to N.  jobs_min/jobs_max: the
 * fewest and most jobs one worker did.
 *
 * Variants, how the workers share the job channel:
 *   clone  each worker has its own receiver (weft_receiver_clone): Go's
 *          shared chan, async-channel's Receiver::clone
 *   mutex  one receiver behind a weft_mutex, held while a worker waits in
 *          weft_recv (the Rust book's Arc<Mutex<Receiver>>;
 *          examples/worker_pool.c)
 *
 * usage: worker_pool [N=10_000] [clone|mutex]
 */
#include "bench.h"

#define WORKERS    8
#define CAPACITY   128
#define JOB_ROUNDS 20

typedef struct {
    uint64_t n;
    int use_mutex;
    weft_sender *job_tx;
    weft_receiver *job_rx[WORKERS];
    weft_sender *res_tx[WORKERS];
    weft_receiver *res_rx;
    weft_mutex *lock; /* mutex variant: guards job_rx[0] */
    double secs;
    uint64_t sum, count, jobs_min, jobs_max, jobs_total;
} pool_bench;

typedef struct {
    pool_bench *b;
    unsigned w;
} worker_arg;

/* The job: JOB_ROUNDS steps of Marsaglia's xorshift64 (13/7/17) from j + 1
 * (never 0: 0 is xorshift's fixed point). */
static uint64_t job(uint64_t j)
{
    uint64_t x = j + 1;
    for (int i = 0; i < JOB_ROUNDS; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

static void *feed(void *arg)
{
    pool_bench *b = arg;
    for (uint64_t j = 0; j < b->n; j++)
        BENCH_OK(weft_send(b->job_tx, &j));
    weft_sender_drop(b->job_tx);
    return NULL;
}

/* One job from the shared channel: 1, or 0 once it is closed and drained. */
static int take(pool_bench *b, unsigned w, uint64_t *j)
{
    if (!b->use_mutex)
        return weft_recv(b->job_rx[w], j);
    BENCH_OK(weft_mutex_lock(b->lock));
    int rc = weft_recv(b->job_rx[0], j); /* held while waiting: one taker */
    weft_mutex_unlock(b->lock);
    return rc;
}

static void *work(void *arg)
{
    worker_arg *wa = arg;
    pool_bench *b = wa->b;
    uint64_t j, done = 0;
    int rc;
    while ((rc = take(b, wa->w, &j)) > 0) {
        uint64_t r = job(j);
        BENCH_OK(weft_send(b->res_tx[wa->w], &r));
        done++;
    }
    BENCH_OK(rc);
    weft_sender_drop(b->res_tx[wa->w]);
    return (void *)(uintptr_t)done;
}

static void *body(void *arg)
{
    pool_bench *b = arg;
    weft_channel_opts opts = {.capacity = CAPACITY};
    BENCH_OK(
        weft_channel_with(sizeof(uint64_t), &opts, &b->job_tx, &b->job_rx[0]));
    BENCH_OK(
        weft_channel_with(sizeof(uint64_t), &opts, &b->res_tx[0], &b->res_rx));
    for (unsigned w = 1; w < WORKERS; w++) {
        if (!b->use_mutex)
            BENCH_NONNULL(b->job_rx[w] = weft_receiver_clone(b->job_rx[0]));
        BENCH_NONNULL(b->res_tx[w] = weft_sender_clone(b->res_tx[0]));
    }
    if (b->use_mutex)
        BENCH_NONNULL(b->lock = weft_mutex_new());
    worker_arg wa[WORKERS];

    uint64_t t0 = bench_now();
    weft_group *g;
    weft_task *feeder;
    BENCH_NONNULL(g = weft_group_new());
    for (unsigned w = 0; w < WORKERS; w++) {
        wa[w] = (worker_arg){b, w};
        BENCH_OK(weft_group_spawn(g, work, &wa[w]));
    }
    BENCH_NONNULL(feeder = weft_spawn(feed, b));
    uint64_t r, sum = 0, count = 0;
    int rc;
    while ((rc = weft_recv(b->res_rx, &r)) > 0) {
        sum += r;
        count++;
    }
    BENCH_OK(rc);
    void *done;
    b->jobs_min = UINT64_MAX;
    while ((rc = weft_group_join_next(g, &done)) > 0) {
        uint64_t d = (uintptr_t)done;
        b->jobs_total += d;
        b->jobs_min = d < b->jobs_min ? d : b->jobs_min;
        b->jobs_max = d > b->jobs_max ? d : b->jobs_max;
    }
    BENCH_OK(rc);
    b->secs = bench_secs(t0, bench_now());

    BENCH_OK(weft_task_join(feeder, NULL));
    weft_group_drop(g);
    for (unsigned w = 0; w < WORKERS; w++)
        weft_receiver_drop(b->job_rx[w]); /* NULL (mutex variant) ignored */
    weft_receiver_drop(b->res_rx);
    weft_mutex_free(b->lock);
    b->sum = sum;
    b->count = count;
    return NULL;
}

int main(int argc, char **argv)
{
    pool_bench b = {.n = bench_parse_n(argc, argv, 10000)};
    const char *variant = bench_variant(argc, argv, "clone");
    if (strcmp(variant, "clone") == 0) {
        b.use_mutex = 0;
    } else if (strcmp(variant, "mutex") == 0) {
        b.use_mutex = 1;
    } else {
        fprintf(stderr, "worker_pool: unknown variant '%s' (clone|mutex)\n",
                variant);
        return 2;
    }
    bench_run(body, &b);
    uint64_t want = 0;
    for (uint64_t j = 0; j < b.n; j++)
        want += job(j);
    if (b.count != b.n || b.sum != want || b.jobs_total != b.n)
        bench_die("worker_pool: count = %llu sum = %llu jobs = %llu, "
                  "expected %llu, %llu and %llu",
                  (unsigned long long)b.count, (unsigned long long)b.sum,
                  (unsigned long long)b.jobs_total, (unsigned long long)b.n,
                  (unsigned long long)want, (unsigned long long)b.n);
    bench_report("worker_pool", b.n, b.secs, (double)b.n,
                 " variant=%s workers=%d jobs_min=%llu jobs_max=%llu", variant,
                 WORKERS, (unsigned long long)b.jobs_min,
                 (unsigned long long)b.jobs_max);
    return 0;
}
