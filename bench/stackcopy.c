/*
 * stackcopy - below a page per parked task? (issue 15, a prototype)
 *
 * A model of two ways to keep N parked coroutines, outside the library (no
 * weft code runs: its own switch, bench/stackcopy_switch.S, x86-64 only):
 *
 *   own   weft's design: each coroutine has its own stack (64 KiB slots of
 *         one MAP_NORESERVE mapping, no guards), so a parked coroutine
 *         keeps the pages its frames touched: one at least.
 *   copy  every coroutine runs on ONE shared stack.  When another one
 *         needs the stack, the owner's used part (its saved stack pointer,
 *         rounded down to 16, up to the top) is memcpy'd into a malloc'd
 *         buffer of exactly that size, kept with the coroutine (grown when
 *         a deeper park needs more); the next resume copies it back.
 *         As libaco's shared stacks, written afresh: the copies are made by
 *         the scheduler on the thread's own stack, lazily (a coroutine
 *         resumed while it still owns the stack copies nothing).
 *
 * Each coroutine parks at a realistic depth: DEPTH (3) nested calls, each
 * with used/3 bytes of locals (a VLA filled with a per-coroutine pattern,
 * checked when the calls return: a wrong copy fails the run), then a
 * suspend loop.  saved_bytes is what a park really leaves on the stack
 * (locals + return addresses + saved registers + the switch frame).
 *
 * One line per (mode, used), each measured in a child process of its own:
 *   kib_per_parked    VmRSS delta from before the first run of the N
 *                     coroutines (structs already written) until all are
 *                     parked, per coroutine: stack pages (own) or copy
 *                     buffers with malloc's header (copy).  weft's task
 *                     struct comes on top in both.
 *   minflt_per_parked minor faults over that phase, per coroutine
 *   park_secs         that phase's time (first run + park of all N)
 *   ns_per_op         ns per suspend + resume round trip, every coroutine
 *                     resumed in turn (PASSES over all N): cold stacks or
 *                     buffers, as when parked tasks are woken
 *   rt_hot_ns         the same over 4 coroutines only (caches warm): the
 *                     switch's own cost, plus the two copies for copy
 *
 * Transparent huge pages stay as configured (bench/pages disables them).
 *
 * usage: stackcopy [N=100_000] [used=all|BYTES]   (all: 256, 1024, 4096)
 */
#include "bench.h"

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__)

#define DEPTH     3
#define OWN_STACK (64 * 1024)
#define SHARED    (64 * 1024)
#define HOT       4
#define RT_TOTAL  1000000 /* round trips per figure */

void stackcopy_switch(void **from_sp, void *to_sp);
void stackcopy_trampoline(void);

typedef struct co {
    void *sp;    /* saved stack pointer while suspended */
    char *top;   /* own: its stack's top; copy: NULL */
    char *buf;   /* copy: the used stack while it is copied out */
    size_t size; /* copy: bytes in buf; 0 while never copied out */
    size_t cap;  /* copy: bytes buf can hold */
    uint32_t id;
    uint8_t fresh, done;
} co;

static struct {
    int copy;          /* mode */
    size_t frame;      /* bytes of locals per nested call */
    void *main_sp;     /* the scheduler's saved stack pointer */
    char *shared_top;  /* copy: top of the shared stack */
    co *owner;         /* copy: whose frames are on the shared stack */
    int quit;          /* coroutines return when resumed */
    uint64_t bad;      /* pattern bytes found wrong */
    uint64_t copied;   /* bytes copied out, over every copy-out */
    uint64_t copyouts; /* copy-outs */
} g;

static char *volatile sink; /* makes the locals escape: kept, not folded */

/* A fresh frame for entry(arg) at top (16-byte aligned): what
 * stackcopy_switch pops, then the trampoline as return address. */
static void *co_init(char *top, void (*entry)(void *), void *arg)
{
    uintptr_t *sp = (uintptr_t *)top;
    *--sp = (uintptr_t)stackcopy_trampoline; /* rsp 16-aligned after it */
    *--sp = 0;                               /* rbp */
    *--sp = 0;                               /* rbx */
    *--sp = (uintptr_t)arg;                  /* r12 */
    *--sp = (uintptr_t)entry;                /* r13 */
    *--sp = 0;                               /* r14 */
    *--sp = 0;                               /* r15 */
    return sp;
}

static __attribute__((noinline)) void nest(co *c, int depth)
{
    char pad[g.frame];
    memset(pad, (int)(c->id + (uint32_t)depth), sizeof pad);
    sink = pad;
    if (depth + 1 < DEPTH)
        nest(c, depth + 1);
    else
        while (!g.quit)
            stackcopy_switch(&c->sp, g.main_sp); /* park */
    for (size_t i = 0; i < sizeof pad; i++)
        if (pad[i] != (char)(c->id + (uint32_t)depth))
            g.bad++;
}

static void co_main(void *arg)
{
    co *c = arg;
    nest(c, 0);
    c->done = 1;
    stackcopy_switch(&c->sp, g.main_sp); /* never resumed */
}

/* copy: the owner's used stack into its buffer. */
static void copy_out(co *c)
{
    char *lo = (char *)((uintptr_t)c->sp & ~(uintptr_t)15);
    size_t n = (size_t)(g.shared_top - lo);
    if (n > c->cap) {
        free(c->buf);
        BENCH_NONNULL(c->buf = malloc(n));
        c->cap = n;
    }
    memcpy(c->buf, lo, n);
    c->size = n;
    g.copied += n;
    g.copyouts++;
}

static void resume(co *c)
{
    if (g.copy && g.owner != c) {
        if (g.owner && !g.owner->done)
            copy_out(g.owner);
        if (!c->fresh)
            memcpy(g.shared_top - c->size, c->buf, c->size);
        g.owner = c;
    }
    if (c->fresh) /* its first write to its stack: timed, counted */
        c->sp = co_init(g.copy ? g.shared_top : c->top, co_main, c);
    c->fresh = 0;
    stackcopy_switch(&g.main_sp, c->sp);
}

static void *map(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    BENCH_CHECK(p != MAP_FAILED);
    return p;
}

/* One (mode, used) measurement; prints its line. */
static void measure(uint64_t n, int copy, size_t used)
{
    g.copy = copy;
    g.frame = used / DEPTH;
    co *cs;
    BENCH_NONNULL(cs = malloc(n * sizeof *cs));
    size_t stacks_len = copy ? SHARED : (size_t)n * OWN_STACK;
    char *stacks = map(stacks_len);
    g.shared_top = stacks + SHARED;
    for (uint64_t i = 0; i < n; i++) {
        co *c = &cs[i];
        *c = (co){.id = (uint32_t)i, .fresh = 1};
        if (!copy)
            c->top = stacks + (i + 1) * OWN_STACK;
    }

    uint64_t rss0 = bench_status_kib("VmRSS"), f0 = bench_minflt();
    uint64_t t0 = bench_now();
    for (uint64_t i = 0; i < n; i++)
        resume(&cs[i]);
    uint64_t t1 = bench_now();
    uint64_t rss1 = bench_status_kib("VmRSS"), f1 = bench_minflt();
    double saved = copy ? (double)g.copied / (double)g.copyouts
                        : (double)(uintptr_t)(cs[0].top - (char *)cs[0].sp);

    uint64_t passes = RT_TOTAL / n ? RT_TOTAL / n : 1;
    uint64_t t2 = bench_now();
    for (uint64_t p = 0; p < passes; p++)
        for (uint64_t i = 0; i < n; i++)
            resume(&cs[i]);
    uint64_t t3 = bench_now();
    uint64_t hot = n < HOT ? n : HOT;
    for (uint64_t i = 0; i < RT_TOTAL; i++)
        resume(&cs[i % hot]);
    uint64_t t4 = bench_now();

    g.quit = 1;
    for (uint64_t i = 0; i < n; i++) {
        resume(&cs[i]);
        BENCH_CHECK(cs[i].done);
        free(cs[i].buf);
    }
    if (g.bad)
        bench_die("stackcopy: %llu bytes of parked frames came back wrong",
                  (unsigned long long)g.bad);
    munmap(stacks, stacks_len);
    free(cs);

    uint64_t delta = rss1 > rss0 ? rss1 - rss0 : 0;
    double rts = (double)(passes * n);
    bench_report("stackcopy", n, bench_secs(t2, t3), rts,
                 " variant=%s-u%zu used_bytes=%zu saved_bytes=%.0f"
                 " kib_per_parked=%.3f minflt_per_parked=%.3f"
                 " park_secs=%.6f rt_hot_ns=%.1f",
                 copy ? "copy" : "own", used, used, saved,
                 (double)delta / (double)n, (double)(f1 - f0) / (double)n,
                 bench_secs(t0, t1), (double)(t4 - t3) / (double)RT_TOTAL);
}

int main(int argc, char **argv)
{
    uint64_t n = bench_parse_n(argc, argv, 100000);
    const char *which = bench_variant(argc, argv, "all");
    size_t sizes[] = {256, 1024, 4096}, nsizes = 3;
    if (strcmp(which, "all") != 0) {
        char *end;
        sizes[0] = strtoul(which, &end, 10);
        if (*end || sizes[0] < DEPTH || sizes[0] > SHARED / 2)
            bench_die("usage: stackcopy [N] [all|BYTES (3-%d)]", SHARED / 2);
        nsizes = 1;
    }
    int failed = 0;
    for (size_t s = 0; s < nsizes; s++)
        for (int copy = 0; copy < 2; copy++) {
            fflush(stdout);
            pid_t pid = fork(); /* a fresh heap and RSS for each */
            BENCH_CHECK(pid >= 0);
            if (pid == 0) {
                measure(n, copy, sizes[s]);
                exit(0);
            }
            int st;
            BENCH_CHECK(waitpid(pid, &st, 0) == pid);
            failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
        }
    return failed;
}

#else

int main(void)
{
    printf("# stackcopy: skipped (x86-64 only)\n");
    return 0;
}

#endif
