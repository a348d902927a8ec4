/*
 * tests/support.c - helpers shared by the Criterion suites (see support.h).
 */
#define _GNU_SOURCE
#include "support.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int run_clock(int clock, weft_fn *fn, void *arg, void **result)
{
    weft_config cfg = {.clock = clock};
    return weft_run_with(&cfg, fn, arg, result);
}

static void *run_checked(int clock, weft_fn *fn, void *arg)
{
    void *result = NULL;
    int rc = run_clock(clock, fn, arg, &result);
    cr_assert_eq(rc, 0, "weft_run_with returned %d (%s), expected 0", rc,
                 weft_strerror(rc));
    return result;
}

void *run_virtual(weft_fn *fn, void *arg)
{
    return run_checked(WEFT_CLOCK_VIRTUAL, fn, arg);
}

void *run_real(weft_fn *fn, void *arg)
{
    return run_checked(WEFT_CLOCK_MONOTONIC, fn, arg);
}

uint64_t real_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static uint64_t slow_factor(void)
{
    const char *s = getenv("WEFT_TEST_SLOW");
    if (s && atoi(s) > 0)
        return (uint64_t)atoi(s);
    if (getenv("WEFT_TEST_VALGRIND"))
        return 20;
    if (getenv("WEFT_TEST_EMULATED"))
        return 10;
    if (getenv("WEFT_TEST_SANITIZE"))
        return 3;
    return 1;
}

uint64_t slow_ns(uint64_t ns) { return ns * slow_factor(); }

int real_time_asserted(void) { return slow_factor() == 1; }

void thread_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------------------ */

void capture_stderr_begin(stderr_capture *c)
{
    char path[] = "/tmp/weft-test-stderr-XXXXXX";
    fflush(stderr);
    c->file_fd = mkstemp(path);
    cr_assert_geq(c->file_fd, 0, "mkstemp: %s", strerror(errno));
    unlink(path);
    c->saved_fd = dup(2);
    cr_assert_geq(c->saved_fd, 0);
    cr_assert_geq(dup2(c->file_fd, 2), 0);
}

char *capture_stderr_end(stderr_capture *c)
{
    fflush(stderr);
    dup2(c->saved_fd, 2);
    close(c->saved_fd);
    off_t size = lseek(c->file_fd, 0, SEEK_END);
    cr_assert_geq(size, 0);
    char *text = malloc((size_t)size + 1);
    cr_assert_not_null(text);
    size_t got = 0;
    while (got < (size_t)size) {
        ssize_t n =
            pread(c->file_fd, text + got, (size_t)size - got, (off_t)got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    text[got] = '\0';
    close(c->file_fd);
    return text;
}

/* ------------------------------------------------------------------------ */

void child_start(child_proc *c, void (*fn)(void *arg), void *arg)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        dup2(fds[1], 1);
        close(fds[1]);
        fn(arg);
        fflush(stdout);
        fflush(stderr);
        _exit(0);
    }
    close(fds[1]);
    c->pid = pid;
    c->err_fd = fds[0];
    c->out = calloc(1, 1);
    c->len = 0;
    cr_assert_not_null(c->out);
}

/* Read what is available on the pipe; wait up to wait_ms for data.
 * Returns 0 at EOF, -1 when nothing came within wait_ms, 1 otherwise. */
static int child_pump(child_proc *c, int wait_ms)
{
    struct pollfd p = {.fd = c->err_fd, .events = POLLIN};
    int n = poll(&p, 1, wait_ms);
    if (n < 0)
        return errno == EINTR ? 1 : 0;
    if (n == 0)
        return -1;
    char buf[4096];
    ssize_t got = read(c->err_fd, buf, sizeof buf);
    if (got == 0)
        return 0;
    if (got < 0)
        return errno == EINTR || errno == EAGAIN;
    char *grown = realloc(c->out, c->len + (size_t)got + 1);
    cr_assert_not_null(grown);
    memcpy(grown + c->len, buf, (size_t)got);
    c->len += (size_t)got;
    grown[c->len] = '\0';
    c->out = grown;
    return 1;
}

int child_wait(child_proc *c, unsigned timeout_ms, int *status)
{
    uint64_t deadline = real_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        pid_t r = waitpid(c->pid, status, WNOHANG);
        if (r == c->pid)
            return 1;
        uint64_t now = real_now_ns();
        if (now >= deadline)
            return 0;
        uint64_t left_ms = (deadline - now) / 1000000u;
        if (child_pump(c, left_ms < 10 ? (int)left_ms : 10) == 0)
            thread_sleep_ms(5); /* EOF: the child is exiting */
    }
}

void child_kill(child_proc *c)
{
    int status;
    kill(c->pid, SIGKILL);
    while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {
    }
}

char *child_stderr(child_proc *c)
{
    while (child_pump(c, 2000) == 1) {
    }
    close(c->err_fd);
    c->err_fd = -1;
    char *out = c->out;
    c->out = NULL;
    return out;
}

/* ------------------------------------------------------------------------ */

void tlog_add(tlog *l, const char *fmt, ...)
{
    if (l->len > 0 && l->len + 1 < sizeof l->buf)
        l->buf[l->len++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->buf + l->len, sizeof l->buf - l->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        l->len += (size_t)n;
    if (l->len >= sizeof l->buf)
        l->len = sizeof l->buf - 1;
    l->buf[l->len] = '\0';
}
