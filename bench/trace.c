/*
 * trace - what the timeline costs (WEFT_TRACE / weft_config.trace_path):
 * two tasks yield to each other N times, once untraced and once traced
 * into a file under /tmp; each line gives ns per task run (one yield is
 * one task run, so one slice of the timeline).
 *
 *   trace_off      untraced: the switch pays one predictable branch
 *   trace_devnull  traced into /dev/null: a clock read and a hand-formatted
 *                  event per run (the CPU cost of tracing)
 *   trace_file     traced into a file under /tmp: the same plus what the
 *                  machine's file system charges for ~90 bytes per run
 *
 * extra_ns_per_run is the difference with trace_off (the target:
 * under 100 ns).  The trace file is removed afterwards.
 *
 * usage: trace [N=1_000_000]
 */
#include "bench.h"

#include <unistd.h>

static void *yielder(void *arg)
{
    uint64_t n = (uintptr_t)arg;
    for (uint64_t i = 0; i < n; i++)
        BENCH_OK(weft_yield());
    return NULL;
}

static void *body(void *arg)
{
    uint64_t half = *(uint64_t *)arg / 2;
    weft_task *a, *b;
    BENCH_NONNULL(a = weft_spawn(yielder, (void *)(uintptr_t)half));
    BENCH_NONNULL(b = weft_spawn(yielder, (void *)(uintptr_t)half));
    BENCH_OK(weft_task_join(a, NULL));
    BENCH_OK(weft_task_join(b, NULL));
    return NULL;
}

static double run(uint64_t n, const char *path)
{
    weft_config cfg = {.trace_path = path};
    uint64_t t0 = bench_now();
    int rc = weft_run_with(&cfg, body, &n, NULL);
    if (rc != 0)
        bench_die("weft_run: %s (%d)", weft_strerror(rc), rc);
    return bench_secs(t0, bench_now());
}

int main(int argc, char **argv)
{
    uint64_t n = bench_parse_n(argc, argv, 1000000);
    n += n & 1;
    char path[] = "/tmp/weft-bench-trace-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        bench_die("mkstemp failed");
    close(fd);
    run(n / 10, NULL); /* warm: stacks and task structs pooled */
    double off = run(n, NULL);
    double null = run(n, "/dev/null");
    double file = run(n, path);
    unlink(path);
    bench_report("trace_off", n, off, (double)n, NULL);
    bench_report("trace_devnull", n, null, (double)n, " extra_ns_per_run=%.1f",
                 (null - off) * 1e9 / (double)n);
    bench_report("trace_file", n, file, (double)n, " extra_ns_per_run=%.1f",
                 (file - off) * 1e9 / (double)n);
    return 0;
}
