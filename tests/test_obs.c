/*
 * test_obs.c - observability: weft_dump's lines, the dump signal, the
 * trace-event timeline (valid JSON, slices named after tasks, after a
 * deadlock too), the slow-poll warning and the counters of
 * weft_runtime_stats.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"
#include "weft.h"

#define MS  1000000ull
#define SEC 1000000000ull

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The line of s that contains needle, copied (static buffer), or "". */
static const char *line_with(const char *s, const char *needle)
{
    static char line[1024];
    const char *p = strstr(s, needle);
    if (!p)
        return "";
    const char *b = p;
    while (b > s && b[-1] != '\n')
        b--;
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - b) : strlen(b);
    if (n >= sizeof line)
        n = sizeof line - 1;
    memcpy(line, b, n);
    line[n] = 0;
    return line;
}

/* ---- weft_dump ----------------------------------------------------------- */

typedef struct world {
    weft_sender *tx, *tx2;
    weft_receiver *rx, *rx2;
    weft_task *sleeper;
    char *dump;
    int listed;
} world;

static void *sleeper(void *arg)
{
    (void)arg;
    weft_sleep(5 * SEC);
    return NULL;
}

static void *receiver(void *arg)
{
    world *w = arg;
    int v;
    weft_recv(w->rx, &v);
    return NULL;
}

static void *joiner(void *arg)
{
    world *w = arg;
    weft_task_join(w->sleeper, NULL);
    return NULL;
}

static void *inner(void *arg)
{
    world *w = arg;
    int v;
    weft_recv(w->rx2, &v);
    return NULL;
}

static void *racer(void *arg)
{
    world *w = arg;
    weft_spawn_opts o = {.name = "inner"};
    weft_future *fs[2] = {weft_sleep_future(3 * SEC),
                          weft_async_with(&o, inner, w)};
    weft_race(fs, 2, NULL);
    return NULL;
}

static void *spinner(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++)
        weft_yield();
    return NULL;
}

static weft_task *spawn_named(const char *name, weft_fn *fn, void *arg)
{
    weft_spawn_opts o = {.name = name};
    weft_task *t = weft_spawn_with(&o, fn, arg);
    cr_assert_not_null(t);
    return t;
}

static void *root_dump(void *arg)
{
    world *w = arg;
    cr_assert_eq(weft_channel(sizeof(int), &w->tx, &w->rx), 0);
    cr_assert_eq(weft_channel(sizeof(int), &w->tx2, &w->rx2), 0);
    w->sleeper = spawn_named("sleeper", sleeper, w);
    weft_task *r = spawn_named("receiver", receiver, w);
    weft_task *j = spawn_named("joiner", joiner, w);
    weft_task *c = spawn_named("racer", racer, w);
    weft_sleep(1 * SEC); /* every task is parked, for 1 s */
    weft_task *f = spawn_named("fresh", spinner, w); /* not started */

    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    cr_assert_not_null(out);
    w->listed = weft_dump(out);
    fclose(out);
    w->dump = buf;

    weft_task_abort(r);
    weft_task_abort(c);
    weft_task_join(f, NULL);
    weft_task_join(j, NULL);
    weft_task_join(r, NULL);
    weft_task_join(c, NULL);
    weft_sender_drop(w->tx);
    weft_receiver_drop(w->rx);
    weft_sender_drop(w->tx2);
    weft_receiver_drop(w->rx2);
    return NULL;
}

Test(dump, lists_every_task_with_its_state_and_wait_in_words)
{
    world w = {0};
    run_virtual(root_dump, &w);
    const char *d = w.dump;
    cr_assert_eq(w.listed, 6, "%d tasks listed:\n%s", w.listed, d);
    cr_assert_eq(count_lines(d), 6, "one line per task:\n%s", d);
    cr_assert_str_eq(line_with(d, "'main'"), "  task 1 'main' running", "%s",
                     d);
    cr_assert_str_eq(line_with(d, "'sleeper'"),
                     "  task 2 'sleeper' waiting 1.000 s: sleep, due in "
                     "4.000 s",
                     "%s", d);
    cr_assert(strstr(line_with(d, "'receiver'"),
                     "task 3 'receiver' waiting 1.000 s: channel receive on "
                     "0x"),
              "%s", d);
    cr_assert_str_eq(line_with(d, "'joiner'"),
                     "  task 4 'joiner' waiting 1.000 s: task join of task 2 "
                     "'sleeper'",
                     "%s", d);
    const char *racer_line = line_with(d, "'racer'");
    cr_assert(strstr(racer_line, "task 5 'racer' waiting 1.000 s: race of 2 "
                                 "futures {[0] sleep, due in 2.000 s; [1] "
                                 "async block 'inner': channel receive on "
                                 "0x"),
              "%s", d);
    cr_assert(racer_line[strlen(racer_line) - 1] == '}', "%s", d);
    cr_assert_str_eq(line_with(d, "'fresh'"), "  task 6 'fresh' not started",
                     "%s", d);
    free(w.dump);
}

static void *root_dump_errors(void *arg)
{
    (void)arg;
    cr_assert_eq(weft_dump(NULL), -EINVAL);
    FILE *ro = fopen("/dev/null", "r"); /* writes fail: error indicator */
    cr_assert_not_null(ro);
    cr_assert_eq(weft_dump(ro), -EIO);
    fclose(ro);
    return NULL;
}

Test(dump, reports_its_errors)
{
    cr_assert_eq(weft_dump(stdout), -EPERM, "outside a runtime");
    run_virtual(root_dump_errors, NULL);
}

static void *root_runnable(void *arg)
{
    char **out = arg;
    weft_task *t = spawn_named("spinner", spinner, NULL);
    weft_yield(); /* spinner runs and yields: queued again */
    size_t len;
    FILE *f = open_memstream(out, &len);
    cr_assert_eq(weft_dump(f), 2);
    fclose(f);
    weft_task_join(t, NULL);
    return NULL;
}

Test(dump, a_woken_task_is_runnable)
{
    char *d = NULL;
    run_virtual(root_runnable, &d);
    cr_assert_str_eq(line_with(d, "'spinner'"), "  task 2 'spinner' runnable",
                     "%s", d);
    free(d);
}

/* ---- the deadlock report uses the same words ------------------------------
 */

static void *root_deadlock(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    cr_assert_eq(weft_channel(sizeof(int), &tx, &rx), 0);
    weft_task *t = spawn_named("sleeper", sleeper, NULL);
    int v;
    weft_join(weft_task_future(t),
              weft_recv_future(
                  rx, &v)); /* the sleeper ends; the receive never does */
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    return NULL;
}

static void deadlock_child(void *arg)
{
    (void)arg;
    weft_config cfg = {.clock = WEFT_CLOCK_VIRTUAL};
    int rc = weft_run_with(&cfg, root_deadlock, NULL, NULL);
    _exit(rc == -EDEADLK ? 0 : 1);
}

Test(dump, the_deadlock_report_names_leaves_in_the_same_words)
{
    child_proc c;
    child_start(&c, deadlock_child, NULL);
    int status;
    cr_assert(child_wait(&c, 10000, &status));
    char *err = child_stderr(&c);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", err);
    cr_assert(strstr(err, "task 'main' (id 1) waits on: join of 2 futures\n"
                          "    [0] finished\n"
                          "    [1] channel receive on 0x"),
              "%s", err);
    free(err);
}

/* ---- the dump signal ------------------------------------------------------
 */

static void *sig_root(void *arg)
{
    (void)arg;
    spawn_named("napper", sleeper, NULL);
    weft_yield(); /* the napper runs and parks first (FIFO) */
    /* Tell the parent we are parked, then wait for its signal. */
    fputs("ready\n", stdout);
    fflush(stdout);
    weft_sleep(SEC);
    /* Still going after the dump: this line follows it. */
    fputs("after the dump\n", stderr);
    return NULL;
}

static void sig_child(void *arg)
{
    (void)arg;
    setenv("WEFT_DUMP_SIGNAL", "USR1", 1);
    _exit(weft_run(sig_root, NULL, NULL) == 0 ? 0 : 1);
}

Test(dump_signal, dumps_on_the_signal_while_every_task_sleeps_and_goes_on)
{
    child_proc c;
    child_start(&c, sig_child, NULL);
    int status;
    /* Wait until the child is parked in its sleep (it printed "ready"). */
    for (int i = 0; i < 500 && !strstr(c.out ? c.out : "", "ready"); i++)
        child_wait(&c, 10, &status);
    cr_assert(strstr(c.out ? c.out : "", "ready"), "child never got ready");
    cr_assert_eq(kill(c.pid, SIGUSR1), 0);
    cr_assert(child_wait(&c, 20000, &status));
    char *err = child_stderr(&c);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the signal killed the program or the run failed:\n%s", err);
    const char *h = strstr(err, "weft: task dump on SIGUSR1: 2 tasks\n");
    cr_assert(h, "%s", err);
    cr_assert(strstr(h, "  task 1 'main' waiting "), "%s", err);
    cr_assert(strstr(h, ": sleep, due in "), "%s", err);
    cr_assert(strstr(h, "  task 2 'napper' waiting "), "%s", err);
    cr_assert(strstr(h, "after the dump\n"), "the runtime did not go on:\n%s",
              err);
    free(err);
}

static void *busy(void *arg)
{
    (void)arg;
    fputs("hogging\n", stdout);
    fflush(stdout);
    uint64_t until = real_now_ns() + 300 * MS;
    while (real_now_ns() < until) {
    }
    return NULL;
}

static void *hog_root(void *arg)
{
    (void)arg;
    weft_task_join(spawn_named("busy", busy, NULL), NULL);
    return NULL;
}

static void hog_child(void *arg)
{
    (void)arg;
    setenv("WEFT_DUMP_SIGNAL", "SIGUSR2", 1);
    _exit(weft_run(hog_root, NULL, NULL) == 0 ? 0 : 1);
}

Test(dump_signal, a_task_holding_the_thread_delays_the_dump_and_is_named)
{
    child_proc c;
    child_start(&c, hog_child, NULL);
    int status;
    for (int i = 0; i < 500 && !strstr(c.out ? c.out : "", "hogging"); i++)
        child_wait(&c, 10, &status);
    cr_assert(strstr(c.out ? c.out : "", "hogging"), "child never hogged");
    cr_assert_eq(kill(c.pid, SIGUSR2), 0);
    cr_assert(child_wait(&c, 20000, &status));
    char *err = child_stderr(&c);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", err);
    /* busy has returned by then: main, woken by its end, is listed */
    const char *h = strstr(err, "weft: task dump on SIGUSR2: 1 task\n"
                                "weft: the thread was held for ");
    cr_assert(h, "%s", err);
    cr_assert(strstr(h, "the last task to run was task 2 'busy'\n"), "%s", err);
    cr_assert(strstr(h, "  task 1 'main' runnable\n"), "%s", err);
    free(err);
}

static void bad_signal_child(void *arg)
{
    (void)arg;
    setenv("WEFT_DUMP_SIGNAL", "KILL", 1);
    _exit(weft_run(sig_root, NULL, NULL) == 0 ? 0 : 1);
}

Test(dump_signal, an_unusable_signal_is_reported_and_ignored)
{
    child_proc c;
    child_start(&c, bad_signal_child, NULL);
    int status;
    cr_assert(child_wait(&c, 20000, &status));
    char *err = child_stderr(&c);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", err);
    cr_assert(strstr(err, "weft: WEFT_DUMP_SIGNAL=KILL ignored"), "%s", err);
    free(err);
}

/* ---- the timeline ---------------------------------------------------------
 */

/* A small JSON checker: returns the end of the value at p, or NULL. */
static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

static const char *json_value(const char *p, int depth);

static const char *json_string(const char *p)
{
    if (*p != '"')
        return NULL;
    for (p++; *p && *p != '"'; p++) {
        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\') {
            p++;
            if (!*p)
                return NULL;
        }
    }
    return *p == '"' ? p + 1 : NULL;
}

static const char *json_value(const char *p, int depth)
{
    if (depth > 64)
        return NULL;
    p = skip_ws(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = skip_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (close == '}') {
                p = json_string(skip_ws(p));
                if (!p)
                    return NULL;
                p = skip_ws(p);
                if (*p++ != ':')
                    return NULL;
            }
            p = json_value(p, depth + 1);
            if (!p)
                return NULL;
            p = skip_ws(p);
            if (*p == close)
                return p + 1;
            if (*p++ != ',')
                return NULL;
        }
    }
    if (*p == '"')
        return json_string(p);
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
        char *end;
        strtod(p, &end);
        return end == p ? NULL : end;
    }
    if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0)
        return p + 4;
    if (strncmp(p, "false", 5) == 0)
        return p + 5;
    return NULL;
}

static int json_valid(const char *s)
{
    const char *e = json_value(s, 0);
    return e && *skip_ws(e) == 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
        size_t n = fread(buf + len, 1, 4096, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    buf[len] = 0;
    return buf;
}

static int count_str(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void *ping(void *arg)
{
    weft_receiver *rx = arg;
    int v;
    while (weft_recv(rx, &v) == 1) {
    }
    return NULL;
}

static void *blocking_job(void *arg) { return arg; }

static void *root_traced(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    cr_assert_eq(weft_channel(sizeof(int), &tx, &rx), 0);
    weft_task *t = spawn_named("pong \"quoted\"", ping, rx);
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(weft_send(tx, &i), 0);
        weft_sleep(MS);
    }
    weft_spawn_opts o = {.name = "job"};
    weft_task *j = weft_spawn_blocking_with(&o, blocking_job, NULL);
    cr_assert_eq(weft_task_join(j, NULL), 0);
    weft_sender_drop(tx);
    weft_task_join(t, NULL);
    weft_receiver_drop(rx);
    return NULL;
}

Test(trace, a_run_writes_valid_json_with_slices_named_after_tasks)
{
    char path[] = "/tmp/weft-trace-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    weft_config cfg = {.trace_path = path};
    cr_assert_eq(weft_run_with(&cfg, root_traced, NULL, NULL), 0);
    char *j = slurp(path);
    unlink(path);
    cr_assert_not_null(j);
    cr_assert(json_valid(j), "not valid JSON:\n%.2000s", j);
    cr_assert(strstr(j, "\"traceEvents\":["), "%.500s", j);
    /* the root's slices and the receiver's, with its name escaped */
    cr_assert_geq(count_str(j, "\"ph\":\"X\""), 200, "%.2000s", j);
    cr_assert(strstr(j, "\"name\":\"main\""), "%.2000s", j);
    cr_assert_geq(count_str(j, "\"name\":\"pong \\\"quoted\\\"\""), 100,
                  "%.2000s", j);
    /* the root's sends woke the receiver: flow arrows both ends */
    cr_assert_geq(count_str(j, "\"ph\":\"s\""), 50, "%.2000s", j);
    cr_assert_geq(count_str(j, "\"ph\":\"f\""), 50, "%.2000s", j);
    cr_assert_geq(count_str(j, "\"name\":\"timers fired\""), 50, "%.2000s", j);
    /* the blocking job on a pool thread's track */
    cr_assert(strstr(j, "\"name\":\"weft blocking pool\""), "%.2000s", j);
    cr_assert(strstr(j, "\"cat\":\"blocking\",\"name\":\"job\""), "%.2000s", j);
    free(j);
}

static void *root_stuck(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    cr_assert_eq(weft_channel(sizeof(int), &tx, &rx), 0);
    int v;
    weft_recv(rx, &v); /* tx is alive in this very task: deadlock */
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    return NULL;
}

static void stuck_child(void *arg)
{
    setenv("WEFT_TRACE", arg, 1);
    setenv("WEFT_CLOCK", "virtual", 1);
    _exit(weft_run(root_stuck, NULL, NULL) == -EDEADLK ? 0 : 1);
}

Test(trace, the_file_is_valid_json_after_a_deadlock_too)
{
    char path[] = "/tmp/weft-trace-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    child_proc c;
    child_start(&c, stuck_child, path);
    int status;
    cr_assert(child_wait(&c, 20000, &status));
    char *err = child_stderr(&c);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", err);
    cr_assert(strstr(err, "weft: deadlock"), "%s", err);
    free(err);
    char *j = slurp(path);
    unlink(path);
    cr_assert_not_null(j);
    cr_assert(json_valid(j), "not valid JSON:\n%.2000s", j);
    cr_assert(strstr(j, "\"ph\":\"X\""), "%s", j);
    cr_assert(strstr(j, "\"name\":\"main\""), "%s", j);
    free(j);
}

static void *root_trivial(void *arg) { return arg; }

static pthread_barrier_t both_running;

static void *root_nap(void *arg)
{
    (void)arg;
    /* Both runtimes have opened their trace before their root runs: meet
     * here (blocking the thread is fine for this test). */
    pthread_barrier_wait(&both_running);
    return NULL;
}

static void *traced_thread(void *arg)
{
    weft_config cfg = {.trace_path = arg};
    return (void *)(intptr_t)weft_run_with(&cfg, root_nap, NULL, NULL);
}

Test(trace, concurrent_runtimes_write_two_files_and_a_bad_path_is_reported)
{
    char dir[] = "/tmp/weft-tracedir-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char base[256];
    snprintf(base, sizeof base, "%s/t.json", dir);
    /* Two runs in a row: the second replaces the first's file. */
    weft_config cfg = {.trace_path = base};
    cr_assert_eq(weft_run_with(&cfg, root_trivial, NULL, NULL), 0);
    cr_assert_eq(weft_run_with(&cfg, root_trivial, NULL, NULL), 0);
    char *j = slurp(base);
    cr_assert_not_null(j);
    cr_assert(json_valid(j), "%s", j);
    free(j);
    unlink(base);
    /* Two at once: base and base.TID. */
    pthread_t th[2];
    pthread_barrier_init(&both_running, NULL, 2);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, traced_thread, base), 0);
    for (int i = 0; i < 2; i++) {
        void *rc;
        pthread_join(th[i], &rc);
        cr_assert_eq((intptr_t)rc, 0);
    }
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int files = 0, plain = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        plain += strcmp(e->d_name, "t.json") == 0;
        cr_assert_eq(strncmp(e->d_name, "t.json", 6), 0, "%s", e->d_name);
        j = slurp(path);
        cr_assert_not_null(j);
        cr_assert(json_valid(j), "%s: not valid JSON:\n%s", path, j);
        cr_assert(strstr(j, "\"name\":\"main\""), "%s", j);
        free(j);
        unlink(path);
        files++;
    }
    closedir(d);
    pthread_barrier_destroy(&both_running);
    cr_assert_eq(files, 2, "two runtimes at once, two files");
    cr_assert_eq(plain, 1);
    rmdir(dir);

    stderr_capture cap;
    capture_stderr_begin(&cap);
    weft_config bad = {.trace_path = "/nonexistent-dir/trace.json"};
    int rc = weft_run_with(&bad, root_trivial, NULL, NULL);
    char *err = capture_stderr_end(&cap);
    cr_assert_eq(rc, 0, "an untraceable run still runs");
    cr_assert(strstr(err, "weft: cannot write the trace to "
                          "/nonexistent-dir/trace.json"),
              "%s", err);
    free(err);
}

/* ---- the slow-poll warning and the counters -------------------------------
 */

static void *hog(void *arg)
{
    (void)arg;
    uint64_t until = real_now_ns() + 30 * MS;
    while (real_now_ns() < until) {
    }
    return NULL;
}

static void *root_slow(void *arg)
{
    weft_stats *st = arg;
    weft_task *t = spawn_named("hog", hog, NULL);
    weft_task_join(t, NULL);
    for (int i = 0; i < 3; i++)
        weft_sleep(MS);
    cr_assert_eq(weft_runtime_stats(st), 0);
    return NULL;
}

Test(slow_poll_real, a_task_that_hogs_the_thread_is_named_once)
{
    setenv("WEFT_WARN_SLOW_MS", "10", 1);
    stderr_capture cap;
    capture_stderr_begin(&cap);
    weft_stats st;
    run_real(root_slow, &st);
    char *err = capture_stderr_end(&cap);
    unsetenv("WEFT_WARN_SLOW_MS");
    cr_assert(strstr(err, "weft: task 2 'hog' ran "), "%s", err);
    cr_assert(strstr(err, " without suspending (WEFT_WARN_SLOW_MS)"), "%s",
              err);
    cr_assert_eq(count_str(err, "'hog' ran "), 1, "%s", err);
    /* and no other task ran 10 ms without suspending: a real-time upper
     * bound (support.h, "Real-clock assertions") */
    if (real_time_asserted())
        cr_assert_eq(count_str(err, "weft: task"), 1, "%s", err);
    cr_assert_geq(st.longest_run_ns, 30 * MS);
    free(err);
}

static void *counted_child(void *arg)
{
    (void)arg;
    weft_sleep(MS);
    return NULL;
}

static void *root_counts(void *arg)
{
    weft_stats *st = arg;
    weft_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = weft_spawn(counted_child, NULL);
    for (int i = 0; i < 3; i++)
        weft_task_join(t[i], NULL);
    cr_assert_eq(weft_runtime_stats(st), 0);
    return NULL;
}

Test(stats, counts_spawns_finishes_polls_parks_and_timers)
{
    weft_stats st;
    run_virtual(root_counts, &st);
    cr_assert_eq(st.tasks_spawned, 4, "%llu",
                 (unsigned long long)st.tasks_spawned);
    cr_assert_eq(st.tasks_finished, 3);
    cr_assert_eq(st.timers_fired, 3);
    /* each child: parked in its sleep once; the root in each join */
    cr_assert_geq(st.parks, 3 + 1);
    /* each child ran twice (start, after its timer); the root at least
     * twice */
    cr_assert_geq(st.polls, 3 * 2 + 2);
    cr_assert_eq(st.longest_run_ns, 0, "timing is off");
    cr_assert_eq(st.io_events, 0);
}

/* ---- names as shown: one line, at most 96 bytes, whole characters -------- */

/* 1 when s is well-formed UTF-8 (no character cut in two). */
static int utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int more = *p < 0x80             ? 0
                   : (*p & 0xE0) == 0xC0 ? 1
                   : (*p & 0xF0) == 0xE0 ? 2
                   : (*p & 0xF8) == 0xF0 ? 3
                                         : -1;
        if (more < 0)
            return 0;
        for (p++; more > 0; more--, p++)
            if ((*p & 0xC0) != 0x80)
                return 0;
    }
    return 1;
}

enum { NAME_JOBS = 300 }; /* more pool slices than the pool buffer holds */

typedef struct names_world {
    char accents[401]; /* 200 x "é", 2 bytes each */
    char controls[301];
    char *dump;
} names_world;

static void *parked(void *arg)
{
    weft_sleep(*(uint64_t *)arg);
    return NULL;
}

static void *root_names(void *arg)
{
    names_world *w = arg;
    /* An hour: a real-clock sleep short enough to end before the dump on a
     * slow run (valgrind on a loaded machine) would take its task out of
     * it; the tasks are aborted after the dump. */
    static uint64_t nap = 3600 * 1000 * MS;
    weft_task *t[4];
    t[0] = spawn_named("two\nlines\tand a tab", parked, &nap);
    t[1] = spawn_named(w->accents, parked, &nap);
    t[2] = spawn_named(w->controls, parked, &nap);
    t[3] = spawn_named("it's \"quoted\" \\ here", parked, &nap);
    weft_yield(); /* every one parks in its sleep */
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    cr_assert_not_null(out);
    cr_assert_eq(weft_dump(out), 5);
    fclose(out);
    w->dump = buf;
    for (int i = 0; i < 4; i++) {
        weft_task_abort(t[i]);
        cr_assert_eq(weft_task_join(t[i], NULL), -ECANCELED);
    }
    for (int i = 0; i < NAME_JOBS; i++) {
        weft_spawn_opts o = {.name = w->accents};
        weft_task *j = weft_spawn_blocking_with(&o, blocking_job, NULL);
        cr_assert_not_null(j);
        cr_assert_eq(weft_task_join(j, NULL), 0);
    }
    return NULL;
}

Test(names, are_shown_on_one_line_cut_at_96_bytes_on_a_character_boundary)
{
    names_world w = {0};
    for (int i = 0; i < 200; i++)
        memcpy(w.accents + 2 * i, "\xc3\xa9", 2);
    memset(w.controls, '\n', 300);
    char path[] = "/tmp/weft-trace-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    weft_config cfg = {.trace_path = path};
    cr_assert_eq(weft_run_with(&cfg, root_names, &w, NULL), 0);

    /* The dump: one line per task, control characters as '?'. */
    const char *d = w.dump;
    cr_assert_eq(count_lines(d), 5, "%s", d);
    cr_assert(strstr(d, "'two?lines?and a tab' waiting"), "%s", d);
    char shown[128] = "'";
    for (int i = 0; i < 48; i++) /* 96 bytes: 48 whole characters */
        strcat(shown, "\xc3\xa9");
    strcat(shown, "' waiting");
    cr_assert(strstr(d, shown), "%s", d);
    char qs[100] = "'";
    memset(qs + 1, '?', 96);
    strcpy(qs + 97, "' ");
    cr_assert(strstr(d, qs), "%s", d);
    cr_assert(strstr(d, "'it's \"quoted\" \\ here' waiting"), "%s", d);
    cr_assert(utf8_valid(d), "%s", d);
    free(w.dump);

    /* The timeline: valid JSON and UTF-8, every pool slice kept, the pool
     * thread's track named once per thread (not once per slice). */
    char *j = slurp(path);
    unlink(path);
    cr_assert_not_null(j);
    cr_assert(json_valid(j), "not valid JSON:\n%.3000s", j);
    cr_assert(utf8_valid(j), "not valid UTF-8");
    char named[128] = "\"name\":\"";
    strcat(named, shown + 1);
    *strchr(named, '\'') = 0;
    strcat(named, "\"");
    cr_assert_eq(count_str(j, "\"cat\":\"blocking\""), NAME_JOBS);
    cr_assert_geq(count_str(j, named), NAME_JOBS + 1, "%.3000s", j);
    cr_assert(strstr(j, "\"name\":\"two?lines?and a tab\""), "%.3000s", j);
    cr_assert(strstr(j, "\"name\":\"it's \\\"quoted\\\" \\\\ here\""),
              "%.3000s", j);
    int tracks = count_str(j, "\"name\":\"weft blocking pool\"");
    cr_assert(tracks >= 1 && tracks <= 8, "%d track names", tracks);
    free(j);
}

static void *root_nothing(void *arg) { return arg; }

Test(slow_poll, a_bad_threshold_is_reported_and_ignored)
{
    static const char *const bad[] = {
        "-5", "0", "ten", "5ms", "99999999999999999999", "18446744073710"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("WEFT_WARN_SLOW_MS", bad[i], 1);
        stderr_capture cap;
        capture_stderr_begin(&cap);
        int rc = weft_run(root_nothing, NULL, NULL);
        char *err = capture_stderr_end(&cap);
        cr_assert_eq(rc, 0);
        char want[128];
        snprintf(want, sizeof want, "weft: WEFT_WARN_SLOW_MS=%s ignored",
                 bad[i]);
        cr_assert(strstr(err, want), "%s: %s", bad[i], err);
        free(err);
    }
    unsetenv("WEFT_WARN_SLOW_MS");
}

/* ---- examples/observe.c -------------------------------------------------- */

/* The example on the virtual clock: weft_dump's lines at 250 ms on stdout,
 * the signal dump's on stderr, the counters, and a timeline that parses. */
Test(observe, the_example_dumps_its_tasks_and_writes_a_timeline, .timeout = 60)
{
    char out[] = "/tmp/weft-observe-out-XXXXXX";
    char err[] = "/tmp/weft-observe-err-XXXXXX";
    char trace[] = "/tmp/weft-observe-json-XXXXXX";
    int fo = mkstemp(out), fe = mkstemp(err), ft = mkstemp(trace);
    cr_assert(fo >= 0 && fe >= 0 && ft >= 0);
    close(ft);
    char prog[] = WEFT_EXAMPLES_DIR "/observe";
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(fo, 1);
        dup2(fe, 2);
        setenv("WEFT_CLOCK", "virtual", 1);
        unsetenv("WEFT_TRACE");
        char *argv[] = {prog, trace, NULL};
        execv(prog, argv);
        _exit(127);
    }
    close(fo);
    close(fe);
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "observe: status %#x", st);
    char *o = slurp(out), *e = slurp(err), *j = slurp(trace);
    unlink(out);
    unlink(err);
    unlink(trace);

    cr_assert(strstr(o, "consumer: reading 2 is 4\n-- weft_dump at 250 ms:\n"
                        "  task 1 'main' running\n"
                        "  task 2 'producer' waiting 50.000 ms: sleep, due "
                        "in 50.000 ms\n"
                        "  task 3 'consumer' waiting 50.000 ms: channel "
                        "receive on 0x"),
              "%s", o);
    cr_assert_str_eq(line_with(o, "'ticker'"),
                     "  task 4 'ticker' waiting 250.000 ms: sleep, due in "
                     "150.000 ms",
                     "%s", o);
    cr_assert(strstr(o, "consumer: reading 5 is 25\n-- counters: 4 tasks "
                        "spawned, 3 finished"),
              "%s", o);
    cr_assert(strstr(o, "-- timeline written to /tmp/weft-observe-json-"), "%s",
              o);
    /* (A line saying how long the thread was held may come between: the
     * dump waits for the next scheduling point.) */
    cr_assert(strstr(e, "weft: task dump on SIGUSR1: 4 tasks\n"), "%s", e);
    cr_assert(strstr(e, "\n  task 1 'main' waiting 0 ns: sleep, due in "
                        "1.000 ms\n"),
              "%s", e);
    cr_assert(json_valid(j), "not valid JSON:\n%.2000s", j);
    cr_assert(strstr(j, "\"consumer\"") && strstr(j, "\"producer\""), "%s", j);
    free(o);
    free(e);
    free(j);
}
