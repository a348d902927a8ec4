/*
 * test_blocking.c - weft_spawn_blocking and weft_read_to_string.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"
#include "weft.h"

static atomic_int dropped;

static void count_drop(void *arg)
{
    (void)arg;
    atomic_fetch_add(&dropped, 1);
}

static void *sleepy_job(void *arg)
{
    thread_sleep_ms(200);
    return (void *)((intptr_t)arg * 2);
}

/* ---- a blocking job does not stall other tasks ------------------------- */

typedef struct ticks {
    int n;
    uint64_t at[8];
} ticks;

static void *ticker(void *arg)
{
    ticks *t = arg;
    for (int i = 0; i < 4; i++) {
        t->at[t->n++] = real_now_ns();
        if (weft_sleep(WEFT_MS(20)) < 0)
            break;
    }
    return NULL;
}

static void *root_no_stall(void *arg)
{
    (void)arg;
    ticks t = {0};
    uint64_t t0 = real_now_ns();
    weft_task *job = weft_spawn_blocking(sleepy_job, (void *)21);
    cr_assert_not_null(job);
    weft_task *tk = weft_spawn(ticker, &t);
    void *r = NULL;
    cr_assert_eq(weft_task_join(job, &r), 0);
    cr_assert_eq((intptr_t)r, 42);
    cr_assert_eq(weft_task_join(tk, NULL), 0);
    /* The ticker ticked 4 times, 20 ms apart, while the job slept 200 ms:
     * its last tick came long before the job ended.  A tight real-time
     * bound, the point of the test: asserted in the native build, alone
     * (suite blocking_real; tests/support.h, "Real-clock assertions"). */
    cr_assert_eq(t.n, 4);
    if (real_time_asserted())
        cr_assert_lt(t.at[3] - t0, WEFT_MS(150),
                     "ticks were stalled by the blocking job");
    cr_assert_geq(real_now_ns() - t0, WEFT_MS(200));
    return NULL;
}

Test(blocking_real, job_runs_without_stalling_tasks)
{
    run_real(root_no_stall, NULL);
}

/* ---- virtual clock: no jump while a job runs ---------------------------- */

static void *root_virtual(void *arg)
{
    (void)arg;
    uint64_t v0 = weft_now();
    weft_task *job = weft_spawn_blocking(sleepy_job, (void *)1);
    weft_task *tk = weft_spawn(ticker, &(ticks){0});
    cr_assert_eq(weft_task_join(job, NULL), 0);
    /* A ticker armed 20 ms timers meanwhile; time must not have jumped
     * while the job (200 ms of real time) was running. */
    cr_assert_eq(weft_now() - v0, 0, "virtual time jumped by %llu ns",
                 (unsigned long long)(weft_now() - v0));
    weft_task_join(tk, NULL);
    cr_assert_eq(weft_now() - v0, WEFT_MS(80));
    return NULL;
}

Test(blocking, virtual_clock_waits_for_jobs)
{
    run_virtual(root_virtual, NULL);
}

/* ---- abort prevents only jobs that have not started --------------------- */

static atomic_int gate_open, gated_started;

/* Holds its pool thread until the test opens the gate. */
static void *gated_job(void *arg)
{
    atomic_fetch_add(&gated_started, 1);
    while (!atomic_load(&gate_open))
        thread_sleep_ms(1);
    return (void *)((intptr_t)arg * 2);
}

static void *root_abort(void *arg)
{
    (void)arg;
    enum { N = 70 }; /* more than the pool's 64 threads */
    weft_spawn_opts o = {.drop_arg = count_drop};
    weft_task *t[N];
    atomic_store(&dropped, 0);
    atomic_store(&gate_open, 0);
    atomic_store(&gated_started, 0);
    for (int i = 0; i < N; i++) {
        t[i] = weft_spawn_blocking_with(&o, gated_job, (void *)(intptr_t)i);
        cr_assert_not_null(t[i]);
    }
    while (atomic_load(&gated_started) < 64) /* every thread holds a job */
        thread_sleep_ms(1);
    weft_task_abort(t[N - 1]); /* still queued: never runs */
    weft_task_abort(t[0]);     /* running: cannot be interrupted */
    void *r = NULL;
    cr_assert_eq(weft_task_join(t[N - 1], NULL), -ECANCELED);
    cr_assert_eq(atomic_load(&dropped), 1);
    atomic_store(&gate_open, 1);
    cr_assert_eq(weft_task_join(t[0], &r), 0);
    cr_assert_eq((intptr_t)r, 0);
    int sum = 0;
    for (int i = 1; i < N - 1; i++) {
        cr_assert_eq(weft_task_join(t[i], &r), 0);
        sum += (int)(intptr_t)r;
    }
    cr_assert_eq(sum, 2 * (N - 2) * (N - 1) / 2);
    return NULL;
}

Test(blocking, abort_prevents_only_unstarted_jobs)
{
    run_real(root_abort, NULL);
}

/* ---- shutdown drops queued jobs and waits for running ones -------------- */

static atomic_int finished_jobs;

static void *gated_counted_job(void *arg)
{
    gated_job(arg);
    atomic_fetch_add(&finished_jobs, 1);
    return NULL;
}

static void *root_shutdown(void *arg)
{
    (void)arg;
    weft_spawn_opts o = {.drop_arg = count_drop};
    for (int i = 0; i < 66; i++)
        weft_task_detach(weft_spawn_blocking_with(&o, gated_counted_job, NULL));
    while (atomic_load(&gated_started) < 64) /* all 64 threads busy */
        thread_sleep_ms(1);
    return NULL; /* shutdown: 2 jobs are still queued */
}

/* Opens the gate once shutdown has dropped the queued jobs. */
static void *gate_opener(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000 && atomic_load(&dropped) < 2; i++)
        thread_sleep_ms(1);
    atomic_store(&gate_open, 1);
    return NULL;
}

Test(blocking, shutdown_waits_for_running_and_drops_queued)
{
    atomic_store(&dropped, 0);
    atomic_store(&finished_jobs, 0);
    atomic_store(&gated_started, 0);
    atomic_store(&gate_open, 0);
    pthread_t opener;
    cr_assert_eq(pthread_create(&opener, NULL, gate_opener, NULL), 0);
    run_real(root_shutdown, NULL);
    pthread_join(opener, NULL);
    /* weft_run returned only after the 64 running jobs ended; the 2 that
     * had not started were dropped. */
    cr_assert_eq(atomic_load(&dropped), 2);
    cr_assert_eq(atomic_load(&finished_jobs), 64);
}

/* ---- errors -------------------------------------------------------------- */

static void *root_errors(void *arg)
{
    (void)arg;
    errno = 0;
    cr_assert_null(weft_spawn_blocking(NULL, NULL));
    cr_assert_eq(errno, EINVAL);
    char *d = (char *)"untouched";
    cr_assert_eq(weft_read_to_string(NULL, &d, NULL), -EINVAL);
    cr_assert_eq(weft_read_to_string("/", NULL, NULL), -EINVAL);
    cr_assert_eq(weft_read_to_string("/nonexistent/weft", &d, NULL), -ENOENT);
    cr_assert_eq(weft_read_to_string("/", &d, NULL), -EISDIR);
    cr_assert_str_eq(d, "untouched");
    return NULL;
}

Test(blocking, errors)
{
    errno = 0;
    cr_assert_null(weft_spawn_blocking(sleepy_job, NULL));
    cr_assert_eq(errno, EPERM);
    char *d;
    cr_assert_eq(weft_read_to_string("/etc/hostname", &d, NULL), -EPERM);
    run_virtual(root_errors, NULL);
}

/* ---- read_to_string ------------------------------------------------------ */

static void *root_read(void *arg)
{
    const char *path = arg;
    char *d = NULL;
    size_t n = 0;
    cr_assert_eq(weft_read_to_string(path, &d, &n), 0);
    cr_assert_eq(n, 100000);
    cr_assert_eq(strlen(d), n, "NUL-terminated at len");
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(d[i], 'a' + (char)(i % 26));
    free(d);
    return NULL;
}

Test(blocking, read_to_string_reads_whole_file)
{
    char path[] = "/tmp/weft-read-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    static char buf[100000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = 'a' + (char)(i % 26);
    cr_assert_eq(write(fd, buf, sizeof buf), (ssize_t)sizeof buf);
    close(fd);
    run_virtual(root_read, path);
    unlink(path);
}

static void *root_read_empty(void *arg)
{
    char *d = NULL;
    size_t n = 99;
    cr_assert_eq(weft_read_to_string(arg, &d, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_str_eq(d, "");
    free(d);
    return NULL;
}

Test(blocking, read_to_string_empty_file)
{
    char path[] = "/tmp/weft-empty-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    run_virtual(root_read_empty, path);
    unlink(path);
}

/* A reader cancelled while its read is running: -ECANCELED, and the buffer
 * the job produces is freed by the runtime (valgrind/ASan see no leak).
 * The file is a FIFO, so the job is held in open() until the test writes:
 * the read cannot finish before the cancellation. */
static int reader_rc = 1;
static char *reader_data = (char *)"untouched";

static void *reader(void *arg)
{
    reader_rc = weft_read_to_string(arg, &reader_data, NULL);
    return NULL;
}

static void *root_read_cancel(void *arg)
{
    weft_task *t = weft_spawn(reader, arg);
    weft_yield(); /* the reader submits its job and waits */
    weft_task_abort(t);
    /* It returned because of the cancellation. */
    cr_assert_eq(weft_task_join(t, NULL), -ECANCELED);
    cr_assert_eq(reader_rc, -ECANCELED);
    int fd = open(arg, O_WRONLY); /* meets the job's open, then EOF */
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "late data", 9), 9);
    close(fd);
    return NULL; /* shutdown waits for the job, which frees its buffer */
}

Test(blocking, read_to_string_cancelled_frees_everything)
{
    char dir[] = "/tmp/weft-fifo-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/fifo", dir);
    cr_assert_eq(mkfifo(path, 0600), 0);
    run_real(root_read_cancel, path);
    cr_assert_str_eq(reader_data, "untouched");
    unlink(path);
    rmdir(dir);
}

/* ---- no pool thread outlives weft_run ------------------------------------ */

static int count_threads(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    cr_assert_not_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void *quick_job(void *arg) { return arg; }

static void *root_many_jobs(void *arg)
{
    (void)arg;
    weft_task *t[64];
    for (int i = 0; i < 64; i++)
        t[i] = weft_spawn_blocking(quick_job, NULL);
    for (int i = 0; i < 64; i++)
        cr_assert_eq(weft_task_join(t[i], NULL), 0);
    return NULL;
}

/*
 * pthread_join returns once the kernel has cleared the thread's tid, a
 * moment before the thread leaves /proc/self/task (under qemu-user the host
 * thread behind a guest thread exits later still). A thread weft forgot to
 * join never leaves, so waiting up to 5 s for the count keeps the check.
 */
static int threads_settle_to(int want)
{
    int n = count_threads();
    for (int i = 0; i < 500 && n != want; i++) {
        usleep(10000);
        n = count_threads();
    }
    return n;
}

Test(blocking, pool_threads_are_joined_by_weft_run)
{
    int before = count_threads();
    for (int round = 0; round < 5; round++) {
        run_real(root_many_jobs, NULL);
        cr_assert_eq(threads_settle_to(before), before,
                     "pool threads still alive after weft_run returned");
    }
}
