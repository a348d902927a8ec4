/*
 * pages - what a fresh page costs on this machine (issue 15).
 *
 * A stackful task's first run writes to pages no one has touched yet (its
 * stack's top page, a task struct in a new slab), so how much a first touch
 * costs decides spawn_join, skynet, timers and idle_tasks.  That cost varies
 * by an order of magnitude between machines: about 1.5 us on a Firecracker
 * VM with hardware nested paging, 12-18 us where the hypervisor keeps shadow
 * page tables (issue 15), even right after MAP_POPULATE.  This program says
 * which kind of machine a RESULTS.md run had.
 *
 * Every figure is measured over a fresh private anonymous mapping of N pages
 * of 4 KiB (default 16,384 = 64 MiB), REPEATS times, and printed as the
 * median (min_ns / max_ns: the extremes of the repeats; cpu_ns_per_op: the
 * median of the thread's CPU time, CLOCK_THREAD_CPUTIME_ID, which leaves
 * out the time other processes ran on a busy machine but keeps time the
 * hypervisor took while this vCPU ran this thread; minflt_per_op: the
 * minor page faults the process counted, per page or call, mean of the
 * repeats), one line each:
 *
 *   name=pages_machine      cpu_model, hypervisor (the cpuinfo flag: 1 when
 *                           running under a hypervisor), kernel, THP mode
 *   name=pages_first_touch  one write per page of a new mapping (the fault:
 *                           allocate, zero, map)
 *   name=pages_second_touch one write per page again (TLB + cache only)
 *   name=pages_map_populate mmap(MAP_POPULATE), per page (the kernel
 *                           allocates and zeroes ahead)
 *   name=pages_touch_after_populate  one write per page after MAP_POPULATE
 *   name=pages_madv_populate_write   madvise(MADV_POPULATE_WRITE) over the
 *                           mapping, per page (Linux 5.14+; "unsupported=1"
 *                           when the kernel refuses it)
 *   name=pages_touch_after_madv_populate  one write per page after it
 *   name=pages_madv_dontneed  madvise(MADV_DONTNEED) of touched pages, per
 *                           page (what a stack trim gives back)
 *   name=pages_mprotect_guard  mprotect(PROT_NONE) of one page per call, one
 *                           page every 16 (stacks of 64 KiB: each call
 *                           splits the mapping), ns per call
 *   name=pages_madv_guard_install  madvise(MADV_GUARD_INSTALL) of one page
 *                           per call, same layout (Linux 6.13+; what weft's
 *                           stack pool uses), ns per call
 *   name=pages_munmap       munmap of a touched mapping, per page
 *
 * ns_per_op is ns per page (per call for the two guard lines); secs is the
 * median repeat's time.  Transparent huge pages are disabled for the process
 * (PR_SET_THP_DISABLE), so every figure is about 4 KiB pages whatever
 * /sys/kernel/mm/transparent_hugepage/enabled says.
 *
 * usage: pages [N=16_384]   (N pages per mapping)
 */
#include "bench.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define PAGE         4096
#define REPEATS      5
#define GUARD_STRIDE 16 /* pages per "stack" in the guard figures */

typedef struct {
    uint64_t ns[REPEATS];     /* wall clock */
    uint64_t cpu_ns[REPEATS]; /* this thread's CPU time */
    int count;
    uint64_t minflt; /* minor faults over every repeat */
} samples;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Prints one figure: the median of s over ops operations per repeat. */
static void report(const char *name, samples *s, uint64_t ops)
{
    qsort(s->ns, (size_t)s->count, sizeof s->ns[0], cmp_u64);
    qsort(s->cpu_ns, (size_t)s->count, sizeof s->cpu_ns[0], cmp_u64);
    uint64_t med = s->ns[(s->count - 1) / 2];
    bench_report(name, ops, (double)med / 1e9, (double)ops,
                 " cpu_ns_per_op=%.1f min_ns=%.1f max_ns=%.1f"
                 " minflt_per_op=%.3f repeats=%d",
                 (double)s->cpu_ns[(s->count - 1) / 2] / (double)ops,
                 (double)s->ns[0] / (double)ops,
                 (double)s->ns[s->count - 1] / (double)ops,
                 (double)s->minflt / (double)ops / s->count, s->count);
}

static void report_unsupported(const char *name, uint64_t ops, int err)
{
    const char *e = strerrorname_np(err);
    printf("name=%s runtime=weft n=%llu unsupported=1 errno=%s\n", name,
           (unsigned long long)ops, e ? e : "unknown");
    fflush(stdout);
}

/* When a repeat started: wall clock, this thread's CPU time, faults. */
typedef struct {
    uint64_t wall, cpu, minflt;
} stamp;

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static stamp stamp_now(void)
{
    stamp st = {.minflt = bench_minflt(), .cpu = thread_cpu_ns()};
    st.wall = bench_now();
    return st;
}

/* Adds a repeat that started at st. */
static void add(samples *s, const stamp *st)
{
    uint64_t wall = bench_now(), cpu = thread_cpu_ns();
    s->minflt += bench_minflt() - st->minflt;
    s->cpu_ns[s->count] = cpu - st->cpu;
    s->ns[s->count++] = wall - st->wall;
}

static char *map(size_t bytes, int extra_flags)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
    if (p == MAP_FAILED)
        bench_die("pages: mmap %zu bytes: %s", bytes, strerror(errno));
    return p;
}

static void unmap(char *p, size_t bytes)
{
    if (munmap(p, bytes) != 0)
        bench_die("pages: munmap: %s", strerror(errno));
}

/* One write per page, a repeat of s (s may be NULL: untimed). */
static void touch(samples *s, char *p, uint64_t pages, char v)
{
    volatile char *q = p;
    stamp st = stamp_now();
    for (uint64_t i = 0; i < pages; i++)
        q[i * PAGE] = v;
    if (s)
        add(s, &st);
}

/* The first "model name" (x86) or "Hardware"/"CPU part" line, spaces as '_';
 * *hyp = whether the flags carry "hypervisor". */
static void cpu_info(char *model, size_t cap, int *hyp)
{
    snprintf(model, cap, "unknown");
    *hyp = 0;
    FILE *f = fopen("/proc/cpuinfo", "re");
    if (!f)
        return;
    char line[4096];
    int have_model = 0;
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        if (!have_model && (strncmp(line, "model name", 10) == 0 ||
                            strncmp(line, "Hardware", 8) == 0)) {
            const char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t k = 0;
            for (; *v && *v != '\n' && k + 1 < cap; v++)
                model[k++] = (*v == ' ' || *v == '\t') ? '_' : *v;
            model[k] = '\0';
            have_model = k > 0;
        }
        if ((strncmp(line, "flags", 5) == 0) && strstr(colon, " hypervisor"))
            *hyp = 1;
    }
    fclose(f);
}

static void thp_mode(char *out, size_t cap)
{
    snprintf(out, cap, "unknown");
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");
    if (!f)
        return;
    char line[256];
    if (fgets(line, sizeof line, f)) {
        char *a = strchr(line, '['), *b = a ? strchr(a, ']') : NULL;
        if (a && b)
            snprintf(out, cap, "%.*s", (int)(b - a - 1), a + 1);
    }
    fclose(f);
}

static void machine(void)
{
    char model[256], thp[64];
    int hyp;
    struct utsname u;
    cpu_info(model, sizeof model, &hyp);
    thp_mode(thp, sizeof thp);
    if (uname(&u) != 0)
        snprintf(u.release, sizeof u.release, "unknown");
    int thp_off = prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0;
    printf("name=pages_machine runtime=weft cpu_model=%s hypervisor=%d "
           "nproc=%ld kernel=%s page_size=%ld thp=%s thp_disabled=%d\n",
           model, hyp, sysconf(_SC_NPROCESSORS_ONLN), u.release,
           sysconf(_SC_PAGESIZE), thp, thp_off);
    fflush(stdout);
}

static void touches(uint64_t pages)
{
    size_t bytes = (size_t)pages * PAGE;
    samples first = {0}, second = {0}, dontneed = {0}, unmapping = {0};
    for (int r = 0; r < REPEATS; r++) {
        char *p = map(bytes, 0);
        touch(&first, p, pages, 1);
        touch(&second, p, pages, 2);
        stamp st = stamp_now();
        if (madvise(p, bytes, MADV_DONTNEED) != 0)
            bench_die("pages: MADV_DONTNEED: %s", strerror(errno));
        add(&dontneed, &st);
        touch(NULL, p, pages, 3); /* refault, so munmap has pages to free */
        st = stamp_now();
        unmap(p, bytes);
        add(&unmapping, &st);
    }
    report("pages_first_touch", &first, pages);
    report("pages_second_touch", &second, pages);
    report("pages_madv_dontneed", &dontneed, pages);
    report("pages_munmap", &unmapping, pages);
}

static void populated(uint64_t pages)
{
    size_t bytes = (size_t)pages * PAGE;
    samples pop = {0}, after = {0};
    for (int r = 0; r < REPEATS; r++) {
        stamp st = stamp_now();
        char *p = map(bytes, MAP_POPULATE);
        add(&pop, &st);
        touch(&after, p, pages, 1);
        unmap(p, bytes);
    }
    report("pages_map_populate", &pop, pages);
    report("pages_touch_after_populate", &after, pages);
}

static void madv_populated(uint64_t pages)
{
    size_t bytes = (size_t)pages * PAGE;
    samples pop = {0}, after = {0};
    for (int r = 0; r < REPEATS; r++) {
        char *p = map(bytes, 0);
        stamp st = stamp_now();
        if (madvise(p, bytes, MADV_POPULATE_WRITE) != 0) {
            int err = errno;
            unmap(p, bytes);
            report_unsupported("pages_madv_populate_write", pages, err);
            report_unsupported("pages_touch_after_madv_populate", pages, err);
            return;
        }
        add(&pop, &st);
        touch(&after, p, pages, 1);
        unmap(p, bytes);
    }
    report("pages_madv_populate_write", &pop, pages);
    report("pages_touch_after_madv_populate", &after, pages);
}

/* One call per GUARD_STRIDE pages on the lowest page of each stride: with
 * mprotect, each call splits the mapping (a new VMA), as a guard per stack
 * does.  Returns 0, or the errno of a first call that failed (nothing is
 * reported then). */
static int guards(const char *name, uint64_t pages, int use_madvise)
{
    uint64_t calls = pages / GUARD_STRIDE;
    if (calls == 0)
        calls = 1;
    size_t bytes = (size_t)calls * GUARD_STRIDE * PAGE;
    samples s = {0};
    for (int r = 0; r < REPEATS; r++) {
        char *p = map(bytes, 0);
        stamp st = stamp_now();
        for (uint64_t i = 0; i < calls; i++) {
            char *g = p + i * GUARD_STRIDE * PAGE;
            int rc = use_madvise ? madvise(g, PAGE, MADV_GUARD_INSTALL)
                                 : mprotect(g, PAGE, PROT_NONE);
            if (rc != 0) {
                int err = errno;
                unmap(p, bytes);
                if (i == 0 && r == 0)
                    return err;
                bench_die("pages: %s call %llu: %s", name,
                          (unsigned long long)i, strerror(err));
            }
        }
        add(&s, &st);
        unmap(p, bytes);
    }
    report(name, &s, calls);
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t pages = bench_parse_n(argc, argv, 16384);
    if (sysconf(_SC_PAGESIZE) != PAGE)
        bench_die("pages: the page size is %ld, this program measures 4 KiB "
                  "pages",
                  sysconf(_SC_PAGESIZE));
    machine();
    touches(pages);
    populated(pages);
    madv_populated(pages);
    int err = guards("pages_mprotect_guard", pages, 0);
    if (err)
        bench_die("pages: mprotect: %s", strerror(err));
    err = guards("pages_madv_guard_install", pages, 1);
    if (err)
        report_unsupported("pages_madv_guard_install", pages / GUARD_STRIDE,
                           err);
    return 0;
}
