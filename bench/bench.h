/*
 * bench.h - small shared helpers for the weft benchmarks (header only).
 *
 * Every benchmark prints one line:
 *   name=<bench> runtime=weft n=<N> secs=<s> ns_per_op=<ns> [k=v ...]
 * vmhwm_kib=<KiB> (the format of /work/shared/peers/README.md), and exits
 * non-zero when its result check fails.
 */
#ifndef WEFT_BENCH_H
#define WEFT_BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <weft.h>

#define BENCH_UNUSED __attribute__((unused))

/* Reads a decimal count with optional '_' separators ("1_000_000"). */
static BENCH_UNUSED uint64_t bench_parse_n(int argc, char **argv, uint64_t dflt)
{
    if (argc < 2)
        return dflt;
    char digits[64];
    size_t k = 0;
    for (const char *p = argv[1]; *p; p++) {
        if (*p == '_')
            continue;
        if (*p < '0' || *p > '9' || k + 1 >= sizeof digits)
            goto usage;
        digits[k++] = *p;
    }
    digits[k] = '\0';
    if (k == 0)
        goto usage;
    errno = 0;
    unsigned long long v = strtoull(digits, NULL, 10);
    if (errno || v == 0)
        goto usage;
    return (uint64_t)v;
usage:
    fprintf(stderr,
            "usage: %s [N] [variant]  (N > 0, '_' separators allowed)\n",
            argv[0]);
    exit(2);
}

static BENCH_UNUSED const char *bench_variant(int argc, char **argv,
                                              const char *dflt)
{
    return argc > 2 ? argv[2] : dflt;
}

/* CLOCK_MONOTONIC in ns (what std::time::Instant reads). */
static inline uint64_t bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static inline double bench_secs(uint64_t t0, uint64_t t1)
{
    return (double)(t1 - t0) / 1e9;
}

/* A field of /proc/self/status in KiB ("VmRSS", "VmHWM"); 0 if absent. */
static BENCH_UNUSED uint64_t bench_status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return 0;
    char line[256];
    size_t klen = strlen(key);
    uint64_t v = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = strtoull(line + klen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/*
 * Minor page faults of the whole process so far (getrusage(RUSAGE_SELF)
 * ru_minflt, every thread's).  On Linux a fault that makes a new anonymous
 * page present counts here, and so does a page that MAP_POPULATE or
 * MADV_POPULATE_WRITE makes present (the kernel counts those faults as the
 * caller's too): the delta around a phase is the number of fresh pages the
 * phase made present (issue 15's "distinct pages touched"), give or take
 * pages of a file mapping.  With multi-size THP one fault may map several
 * pages; bench/pages disables THP, the other benchmarks keep the default.
 */
static BENCH_UNUSED uint64_t bench_minflt(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_minflt;
}

/* Prints the result line.  extra: " k=v k=v" (may be "" or NULL), printf
 * style. */
static BENCH_UNUSED __attribute__((format(printf, 5, 6))) void
bench_report(const char *name, uint64_t n, double secs, double ops,
             const char *extra_fmt, ...)
{
    char extra[512] = "";
    if (extra_fmt) {
        va_list ap;
        va_start(ap, extra_fmt);
        vsnprintf(extra, sizeof extra, extra_fmt, ap);
        va_end(ap);
    }
    printf("name=%s runtime=weft n=%llu secs=%.6f ns_per_op=%.1f%s "
           "vmhwm_kib=%llu\n",
           name, (unsigned long long)n, secs, secs * 1e9 / ops, extra,
           (unsigned long long)bench_status_kib("VmHWM"));
    fflush(stdout);
}

static BENCH_UNUSED __attribute__((format(printf, 1, 2), noreturn)) void
bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* Runs body(arg) as weft's root task; dies when the runtime fails. */
static BENCH_UNUSED void bench_run(weft_fn *body, void *arg)
{
    int rc = weft_run(body, arg, NULL);
    if (rc != 0)
        bench_die("weft_run: %s (%d)", weft_strerror(rc), rc);
}

#define BENCH_CHECK(expr)                                                      \
    do {                                                                       \
        if (!(expr))                                                           \
            bench_die("%s:%d: check failed: %s", __FILE__, __LINE__, #expr);   \
    } while (0)

/* A negative weft status is fatal. */
#define BENCH_OK(call)                                                         \
    do {                                                                       \
        int bench_rc_ = (call);                                                \
        if (bench_rc_ < 0)                                                     \
            bench_die("%s:%d: %s: %s (%d)", __FILE__, __LINE__, #call,         \
                      weft_strerror(bench_rc_), bench_rc_);                    \
    } while (0)

#define BENCH_NONNULL(expr)                                                    \
    do {                                                                       \
        if (!(expr))                                                           \
            bench_die("%s:%d: %s: %s", __FILE__, __LINE__, #expr,              \
                      strerror(errno));                                        \
    } while (0)

#endif
