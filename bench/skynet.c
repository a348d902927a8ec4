/*
 * skynet - a tree of tasks: skynet(num, size) spawns 10 children
 * skynet(num + i*size/10, size/10) and returns the sum of their results;
 * a leaf (size 1) returns num.  Every node, leaves included, is a task;
 * a parent keeps its 10 join handles and joins them in order.
 *
 * Root skynet(0, N) is itself spawned.  Timed from just before spawning the
 * root to receiving its result.  For N = 10^6: 1,111,111 tasks, result
 * 499999500000.  ops = number of tasks.  The check compares with the same
 * recursion done as plain function calls.  minflt_per_task: minor page
 * faults (bench_minflt) over the timed part, per task.
 *
 * usage: skynet [N=1_000_000]
 */
#include "bench.h"

#define DIV 10

static uint64_t g_tasks;

/* num and size packed in one word: both < 2^32. */
static void *node(void *arg)
{
    uint64_t packed = (uintptr_t)arg;
    uint64_t num = packed >> 32, size = packed & 0xffffffffu;
    g_tasks++;
    if (size == 1)
        return (void *)(uintptr_t)num;
    uint64_t sub = size / DIV, sum = 0;
    weft_task *h[DIV];
    for (uint64_t i = 0; i < DIV; i++) {
        uint64_t child = (num + i * sub) << 32 | sub;
        BENCH_NONNULL(h[i] = weft_spawn(node, (void *)(uintptr_t)child));
    }
    for (int i = 0; i < DIV; i++) {
        void *r;
        BENCH_OK(weft_task_join(h[i], &r));
        sum += (uintptr_t)r;
    }
    return (void *)(uintptr_t)sum;
}

static uint64_t plain(uint64_t num, uint64_t size, uint64_t *count)
{
    ++*count;
    if (size == 1)
        return num;
    uint64_t sub = size / DIV, sum = 0;
    for (uint64_t i = 0; i < DIV; i++)
        sum += plain(num + i * sub, sub, count);
    return sum;
}

typedef struct {
    uint64_t n, sum, minflt;
    double secs;
} skynet;

static void *body(void *arg)
{
    skynet *s = arg;
    uint64_t f0 = bench_minflt(), t0 = bench_now();
    weft_task *root;
    BENCH_NONNULL(root = weft_spawn(node, (void *)(uintptr_t)s->n));
    void *r;
    BENCH_OK(weft_task_join(root, &r));
    s->secs = bench_secs(t0, bench_now());
    s->minflt = bench_minflt() - f0;
    s->sum = (uintptr_t)r;
    return NULL;
}

int main(int argc, char **argv)
{
    skynet s = {.n = bench_parse_n(argc, argv, 1000000)};
    if (s.n >= (UINT64_C(1) << 32))
        bench_die("skynet: N must be < 2^32");
    uint64_t want_tasks = 0, want = plain(0, s.n, &want_tasks);
    bench_run(body, &s);
    if (s.sum != want || g_tasks != want_tasks)
        bench_die("skynet: sum = %llu tasks = %llu, expected %llu and %llu",
                  (unsigned long long)s.sum, (unsigned long long)g_tasks,
                  (unsigned long long)want, (unsigned long long)want_tasks);
    bench_report("skynet", s.n, s.secs, (double)g_tasks,
                 " tasks=%llu sum=%llu minflt_per_task=%.3f",
                 (unsigned long long)g_tasks, (unsigned long long)s.sum,
                 (double)s.minflt / (double)g_tasks);
    return 0;
}
