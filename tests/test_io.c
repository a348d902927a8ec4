/*
 * test_io.c - the I/O layer: fd readiness, reads and writes, weft_close,
 * TCP and UDP on 127.0.0.1, signals, regular files, and the bug classes
 * other runtimes' users met (a reused fd number, a waiter on a closed fd,
 * EINTR, SIGPIPE, EMFILE on accept, a read that loses a race, half-close,
 * false deadlocks, the virtual clock with sockets), and the socket examples
 * (echo_server, chat_server, port_scan) run as programs.
 *
 * Real sockets, pipes and signals; exact bytes and return codes; every test
 * checks that no fd leaked (/proc/self/fd counted before and after).
 * Network traffic stays on 127.0.0.1.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"
#include "weft.h"

/* ---- helpers ------------------------------------------------------------ */

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the DIR's own fd */
}

/* Runs fn on the given clock, asserts weft_run returned 0 and that the
 * process holds as many fds afterwards as before. */
static void *run_io(int clock, weft_fn *fn, void *arg)
{
    int before = count_fds();
    void *result = NULL;
    int rc = run_clock(clock, fn, arg, &result);
    cr_assert_eq(rc, 0, "weft_run_with returned %d (%s)", rc,
                 weft_strerror(rc));
    cr_assert_eq(count_fds(), before, "fds leaked: %d before, %d after", before,
                 count_fds());
    return result;
}

static void pair(int sv[2])
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static uint16_t port_of(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

/* A listener on 127.0.0.1 (*l, with backlog) and a connection to it, not
 * yet accepted: the connected fd. */
static int tcp_client(int backlog, int *l)
{
    *l = weft_tcp_listen("127.0.0.1", 0, backlog);
    cr_assert_geq(*l, 0);
    int c = weft_tcp_connect("127.0.0.1", port_of(*l));
    cr_assert_geq(c, 0);
    return c;
}

/* ---- read and write ----------------------------------------------------- */

typedef struct rw {
    int fd;
    tlog log;
} rw;

static void *slow_writer(void *arg)
{
    rw *c = arg;
    cr_assert_eq(weft_sleep(WEFT_MS(10)), 0);
    tlog_add(&c->log, "write@%llu", (unsigned long long)weft_now() / 1000000);
    cr_assert_eq(weft_write(c->fd, "hello", 5), 5);
    cr_assert_eq(weft_sleep(WEFT_MS(10)), 0);
    cr_assert_eq(weft_write(c->fd, " world", 6), 6);
    cr_assert_eq(weft_close(c->fd), 0);
    return NULL;
}

static void *root_read_write(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    rw c = {.fd = sv[1]};
    weft_task *w = weft_spawn(slow_writer, &c);
    char buf[64];
    ssize_t n = weft_read(sv[0], buf, sizeof buf);
    tlog_add(&c.log, "read%zd@%llu", n,
             (unsigned long long)weft_now() / 1000000);
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(buf, "hello", 5), 0);
    n = weft_read(sv[0], buf, 3); /* less than is there: 3 of 6 */
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(buf, " wo", 3), 0);
    n = weft_read(sv[0], buf, sizeof buf);
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(buf, "rld", 3), 0);
    cr_assert_eq(weft_read(sv[0], buf, sizeof buf), 0); /* end of file */
    cr_assert_eq(weft_read(sv[0], buf, sizeof buf), 0);
    cr_assert_eq(weft_task_join(w, NULL), 0);
    cr_assert_str_eq(c.log.buf, "write@10 read5@10");
    cr_assert_eq(weft_close(sv[0]), 0);
    return NULL;
}

Test(io, read_suspends_until_data_then_eof)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_read_write, NULL);
}

typedef struct bulk {
    int fd;
    size_t len;
    unsigned long sum;
    size_t got;
} bulk;

static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 + 3); }

static void *bulk_reader(void *arg)
{
    bulk *b = arg;
    unsigned char buf[7000];
    for (;;) {
        ssize_t n = weft_read(b->fd, buf, sizeof buf);
        cr_assert_geq(n, 0, "read: %s", weft_strerror((int)n));
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            cr_assert_eq(buf[i], pattern(b->got + (size_t)i),
                         "byte %zu differs", b->got + (size_t)i);
        b->got += (size_t)n;
    }
    return NULL;
}

static void *root_write_all(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    size_t len = (size_t)4 << 20; /* far more than a socket buffer */
    unsigned char *data = malloc(len);
    cr_assert_not_null(data);
    for (size_t i = 0; i < len; i++)
        data[i] = pattern(i);
    bulk b = {.fd = sv[0]};
    weft_task *r = weft_spawn(bulk_reader, &b);
    cr_assert_eq(weft_write(sv[1], data, len), (ssize_t)len);
    cr_assert_eq(weft_close(sv[1]), 0);
    cr_assert_eq(weft_task_join(r, NULL), 0);
    cr_assert_eq(b.got, len);
    cr_assert_eq(weft_write(sv[0], data, 0), 0);
    free(data);
    cr_assert_eq(weft_close(sv[0]), 0);
    return NULL;
}

Test(io, write_is_write_all)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_write_all, NULL);
}

static void *root_pipe(void *arg)
{
    (void)arg;
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    bulk b = {.fd = p[0]};
    weft_task *r = weft_spawn(bulk_reader, &b);
    size_t len = 300000;
    unsigned char *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = pattern(i);
    cr_assert_eq(weft_write(p[1], data, len), (ssize_t)len);
    cr_assert_eq(weft_close(p[1]), 0);
    cr_assert_eq(weft_task_join(r, NULL), 0);
    cr_assert_eq(b.got, len);
    free(data);
    cr_assert_eq(weft_close(p[0]), 0);
    return NULL;
}

Test(io, pipes_work_too) { run_io(WEFT_CLOCK_VIRTUAL, root_pipe, NULL); }

static void *root_args(void *arg)
{
    (void)arg;
    char buf[4];
    cr_assert_eq(weft_read(-1, buf, 4), -EBADF);
    cr_assert_eq(weft_write(-1, buf, 4), -EBADF);
    cr_assert_eq(weft_close(-1), -EBADF);
    int sv[2];
    pair(sv);
    cr_assert_eq(weft_read(sv[0], NULL, 4), -EINVAL);
    cr_assert_eq(weft_write(sv[0], NULL, 4), -EINVAL);
    cr_assert_eq(weft_fd_wait(sv[0], 0, 0), -EINVAL);
    cr_assert_eq(weft_fd_wait(sv[0], 4, 0), -EINVAL);
    cr_assert_null(weft_fd_wait_future(sv[0], 0));
    cr_assert_eq(errno, EINVAL);
    cr_assert_null(weft_read_future(sv[0], NULL, 1));
    cr_assert_eq(weft_close(sv[0]), 0);
    cr_assert_eq(weft_close(sv[1]), 0);
    cr_assert_eq(weft_close(sv[1]), -EBADF); /* closed already */
    cr_assert_eq(weft_fd_wait(sv[1], WEFT_READABLE, 0), -EBADF);
    cr_assert_eq(weft_read(sv[1], buf, 4), -EBADF);
    return NULL;
}

Test(io, bad_arguments_and_closed_fds)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_args, NULL);
    char buf[4];
    cr_assert_eq(weft_read(0, buf, 1), -EPERM);
    cr_assert_eq(weft_write(1, buf, 1), -EPERM);
    cr_assert_eq(weft_fd_wait(0, WEFT_READABLE, 0), -EPERM);
    cr_assert_eq(weft_close(0), -EPERM);
    cr_assert_eq(weft_tcp_listen(NULL, 0, 1), -EPERM);
    cr_assert_eq(weft_tcp_connect("127.0.0.1", 1), -EPERM);
    cr_assert_eq(weft_signal_wait(SIGUSR1), -EPERM);
}

/* ---- weft_fd_wait ------------------------------------------------------- */

static void *root_fd_wait(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    /* Ready now wins over a zero timeout. */
    cr_assert_eq(weft_fd_wait(sv[0], WEFT_WRITABLE, 0), WEFT_WRITABLE);
    cr_assert_eq(weft_fd_wait(sv[0], WEFT_READABLE | WEFT_WRITABLE, 0),
                 WEFT_WRITABLE);
    cr_assert_eq(weft_fd_wait(sv[0], WEFT_READABLE, 0), -ETIMEDOUT);
    uint64_t t0 = weft_now();
    cr_assert_eq(weft_fd_wait(sv[0], WEFT_READABLE, WEFT_MS(50)), -ETIMEDOUT);
    cr_assert_eq(weft_now() - t0, WEFT_MS(50));
    /* Level-triggered: still readable until read. */
    cr_assert_eq(write(sv[1], "x", 1), 1);
    cr_assert_eq(weft_fd_wait(sv[0], WEFT_READABLE, WEFT_FOREVER),
                 WEFT_READABLE);
    cr_assert_eq(weft_fd_wait(sv[0], WEFT_READABLE, 0), WEFT_READABLE);
    char c;
    cr_assert_eq(weft_read(sv[0], &c, 1), 1);
    cr_assert_eq(weft_fd_wait(sv[0], WEFT_READABLE, 0), -ETIMEDOUT);
    /* Hang-up counts as ready for both. */
    cr_assert_eq(weft_close(sv[1]), 0);
    cr_assert_eq(weft_fd_wait(sv[0], WEFT_READABLE, WEFT_FOREVER),
                 WEFT_READABLE);
    cr_assert_eq(weft_close(sv[0]), 0);
    /* A regular file is always ready. */
    FILE *f = tmpfile();
    cr_assert_not_null(f);
    cr_assert_eq(weft_fd_wait(fileno(f), WEFT_READABLE | WEFT_WRITABLE, 0),
                 WEFT_READABLE | WEFT_WRITABLE);
    cr_assert_eq(weft_fd_forget(fileno(f)), 0);
    fclose(f);
    return NULL;
}

Test(io, fd_wait_level_timeout_hangup_file)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_fd_wait, NULL);
}

typedef struct dirs {
    int fd;
    tlog log;
} dirs;

static void *wait_readable(void *arg)
{
    dirs *d = arg;
    int rc = weft_fd_wait(d->fd, WEFT_READABLE, WEFT_FOREVER);
    tlog_add(&d->log, "readable=%d@%llu", rc,
             (unsigned long long)weft_now() / 1000000);
    return NULL;
}

static void *wait_writable(void *arg)
{
    dirs *d = arg;
    int rc = weft_fd_wait(d->fd, WEFT_WRITABLE, WEFT_FOREVER);
    tlog_add(&d->log, "writable=%d@%llu", rc,
             (unsigned long long)weft_now() / 1000000);
    return NULL;
}

static void *root_two_directions(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    /* Fill sv[0]'s send buffer: not writable. */
    static char junk[65536];
    size_t filled = 0;
    for (;;) {
        ssize_t n = send(sv[0], junk, sizeof junk, MSG_DONTWAIT);
        if (n < 0)
            break;
        filled += (size_t)n;
    }
    dirs d = {.fd = sv[0]};
    weft_task *r = weft_spawn(wait_readable, &d);
    weft_task *w = weft_spawn(wait_writable, &d);
    weft_task *r2 = weft_spawn(wait_readable, &d);
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    cr_assert_str_eq(d.log.buf, "");
    cr_assert_eq(write(sv[1], "a", 1), 1); /* readable: both readers */
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    cr_assert_str_eq(d.log.buf, "readable=1@5 readable=1@5");
    /* Drain the peer's receive side: writable. */
    char *buf = malloc(filled);
    size_t got = 0;
    while (got < filled) {
        ssize_t n = weft_read(sv[1], buf, filled - got);
        cr_assert_gt(n, 0);
        got += (size_t)n;
    }
    free(buf);
    cr_assert_eq(weft_task_join(w, NULL), 0);
    cr_assert_str_eq(d.log.buf, "readable=1@5 readable=1@5 writable=2@10");
    cr_assert_eq(weft_task_join(r, NULL), 0);
    cr_assert_eq(weft_task_join(r2, NULL), 0);
    cr_assert_eq(weft_close(sv[0]), 0);
    cr_assert_eq(weft_close(sv[1]), 0);
    return NULL;
}

Test(io, fd_wait_many_waiters_each_direction)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_two_directions, NULL);
}

/* ---- weft_close and reused numbers -------------------------------------- */

typedef struct closing {
    int fd;
    int read_rc, wait_rc;
} closing;

static void *blocked_reader(void *arg)
{
    closing *c = arg;
    char buf[8];
    c->read_rc = (int)weft_read(c->fd, buf, sizeof buf);
    return NULL;
}

static void *blocked_waiter(void *arg)
{
    closing *c = arg;
    c->wait_rc = weft_fd_wait(c->fd, WEFT_READABLE, WEFT_SEC(100));
    return NULL;
}

static void *root_close_wakes(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    closing c = {.fd = sv[0], .read_rc = 1, .wait_rc = 1};
    weft_task *a = weft_spawn(blocked_reader, &c);
    weft_task *b = weft_spawn(blocked_waiter, &c);
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0);
    cr_assert_eq(weft_close(sv[0]), 0);
    cr_assert_eq(weft_task_join(a, NULL), 0);
    cr_assert_eq(weft_task_join(b, NULL), 0);
    cr_assert_eq(c.read_rc, -EBADF);
    cr_assert_eq(c.wait_rc, -EBADF);
    cr_assert_eq(weft_now(), WEFT_MS(1)); /* at once, not at the timeout */
    cr_assert_eq(weft_close(sv[1]), 0);
    return NULL;
}

Test(io, close_wakes_every_waiter_with_ebadf)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_close_wakes, NULL);
}

static void *root_reuse(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    closing c = {.fd = sv[0], .read_rc = 1};
    weft_task *a = weft_spawn(blocked_reader, &c);
    cr_assert_eq(weft_yield(), 0); /* a is parked on sv[0] */
    /* Readiness is pending for sv[0] when it is closed. */
    cr_assert_eq(write(sv[1], "stale", 5), 5);
    int old = sv[0];
    cr_assert_eq(weft_close(old), 0);
    int nv[2];
    pair(nv);
    cr_assert_eq(nv[0], old, "the number was not reused");
    cr_assert_eq(weft_task_join(a, NULL), 0);
    cr_assert_eq(c.read_rc, -EBADF);
    /* No stale readiness, no stale waiter on the new fd. */
    cr_assert_eq(weft_fd_wait(nv[0], WEFT_READABLE, 0), -ETIMEDOUT);
    cr_assert_eq(weft_fd_wait(nv[0], WEFT_READABLE, WEFT_MS(20)), -ETIMEDOUT);
    char buf[8];
    cr_assert_eq(weft_timeout(weft_read_future(nv[0], buf, sizeof buf),
                              WEFT_MS(20), NULL),
                 -ETIMEDOUT);
    cr_assert_eq(weft_write(nv[1], "new", 3), 3);
    cr_assert_eq(weft_read(nv[0], buf, sizeof buf), 3);
    cr_assert_eq(memcmp(buf, "new", 3), 0);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(weft_close(nv[i]), 0);
    cr_assert_eq(weft_close(sv[1]), 0);
    return NULL;
}

Test(io, closed_fd_number_reused_sees_nothing_stale)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_reuse, NULL);
}

/* The old file lives on in a copy (a dup here, a child's copy after fork):
 * its events must not reach the new fd that got its number. */
static void *root_dup_copy(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    char buf[8];
    cr_assert_eq(weft_timeout(weft_read_future(sv[0], buf, sizeof buf),
                              WEFT_MS(1), NULL),
                 -ETIMEDOUT); /* registered now */
    int copy = dup(sv[0]);
    cr_assert_geq(copy, 0);
    int old = sv[0];
    cr_assert_eq(weft_close(old), 0);
    int nv[2];
    pair(nv);
    cr_assert_eq(nv[0], old);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) { /* writes into the old file's peer, then leaves */
        ssize_t n = write(sv[1], "old", 3);
        _exit(n == 3 ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert_eq(WEXITSTATUS(status), 0);
    cr_assert_eq(weft_fd_wait(nv[0], WEFT_READABLE, WEFT_MS(20)), -ETIMEDOUT);
    cr_assert_eq(read(copy, buf, sizeof buf), 3); /* it went to the copy */
    close(copy);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(weft_close(nv[i]), 0);
    cr_assert_eq(weft_close(sv[1]), 0);
    return NULL;
}

Test(io, events_of_a_copied_closed_fd_do_not_reach_the_new_one)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_dup_copy, NULL);
}

static void *root_forget(void *arg)
{
    (void)arg;
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    char c;
    cr_assert_eq(weft_timeout(weft_read_future(p[0], &c, 1), WEFT_MS(1), NULL),
                 -ETIMEDOUT);
    cr_assert_eq(weft_fd_forget(p[0]), 0);
    close(p[0]); /* plain close after forgetting: fine */
    close(p[1]);
    int q[2];
    cr_assert_eq(pipe2(q, O_CLOEXEC), 0); /* blocking pipe, same numbers */
    cr_assert_eq(q[0], p[0]);
    cr_assert_eq(weft_write(q[1], "z", 1), 1);
    cr_assert_eq(weft_read(q[0], &c, 1), 1);
    cr_assert_eq(c, 'z');
    cr_assert_eq(weft_timeout(weft_read_future(q[0], &c, 1), WEFT_MS(1), NULL),
                 -ETIMEDOUT); /* non-blocking: no stall */
    cr_assert_eq(weft_close(q[0]), 0);
    cr_assert_eq(weft_close(q[1]), 0);
    return NULL;
}

Test(io, forget_then_plain_close)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_forget, NULL);
}

/* ---- cancel safety ------------------------------------------------------ */

static void *root_cancel_safe(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    char buf[16];
    /* A read that times out takes nothing. */
    cr_assert_eq(weft_timeout(weft_read_future(sv[0], buf, sizeof buf),
                              WEFT_MS(5), NULL),
                 -ETIMEDOUT);
    cr_assert_eq(write(sv[1], "abc", 3), 3);
    /* A read that loses a race takes nothing: the sleep is first. */
    weft_future *fs[2] = {weft_sleep_future(0),
                          weft_read_future(sv[0], buf, sizeof buf)};
    cr_assert_eq(weft_race(fs, 2, NULL), 0);
    /* A read that is ready wins even a zero timeout (polled first). */
    void *res = NULL;
    cr_assert_eq(
        weft_timeout(weft_read_future(sv[0], buf, sizeof buf), 0, &res), 3);
    cr_assert_eq((intptr_t)res, 3);
    cr_assert_eq(memcmp(buf, "abc", 3), 0);
    /* A task blocked in weft_read and aborted takes nothing. */
    closing c = {.fd = sv[0], .read_rc = 1};
    weft_task *t = weft_spawn(blocked_reader, &c);
    cr_assert_eq(weft_yield(), 0);
    weft_task_abort(t);
    cr_assert_eq(write(sv[1], "defg", 4), 4);
    cr_assert_eq(weft_task_join(t, NULL), -ECANCELED);
    cr_assert_eq(c.read_rc, -ECANCELED);
    cr_assert_eq(weft_read(sv[0], buf, sizeof buf), 4);
    cr_assert_eq(memcmp(buf, "defg", 4), 0);
    /* A race between a read and a readiness wait of the same fd. */
    cr_assert_eq(write(sv[1], "hi", 2), 2);
    weft_future *gs[2] = {weft_fd_wait_future(sv[0], WEFT_READABLE),
                          weft_read_future(sv[0], buf, sizeof buf)};
    cr_assert_eq(weft_race(gs, 2, &res), 0);
    cr_assert_eq((intptr_t)res, WEFT_READABLE);
    cr_assert_eq(weft_read(sv[0], buf, sizeof buf), 2);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(weft_close(sv[i]), 0);
    return NULL;
}

Test(io, a_read_that_loses_takes_no_byte)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_cancel_safe, NULL);
}

static void *cancelled_body(void *arg)
{
    int *sv = arg;
    char buf[8];
    /* Once cancelled, every I/O call returns -ECANCELED at once. */
    while (weft_sleep(WEFT_SEC(1)) == 0) {
    }
    cr_assert_eq(weft_read(sv[0], buf, sizeof buf), -ECANCELED);
    cr_assert_eq(weft_write(sv[0], "x", 1), -ECANCELED);
    cr_assert_eq(weft_fd_wait(sv[0], WEFT_READABLE, 0), -ECANCELED);
    cr_assert_eq(weft_tcp_connect("127.0.0.1", 1), -ECANCELED);
    cr_assert_eq(weft_signal_wait(SIGUSR1), -ECANCELED);
    return NULL;
}

static void *root_cancelled(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    cr_assert_eq(write(sv[1], "data", 4), 4);
    weft_task *t = weft_spawn(cancelled_body, sv);
    cr_assert_eq(weft_yield(), 0);
    weft_task_abort(t);
    cr_assert_eq(weft_task_join(t, NULL), -ECANCELED);
    char buf[8];
    cr_assert_eq(weft_read(sv[0], buf, sizeof buf), 4); /* nothing taken */
    for (int i = 0; i < 2; i++)
        cr_assert_eq(weft_close(sv[i]), 0);
    return NULL;
}

Test(io, cancelled_task_io_returns_ecanceled)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_cancelled, NULL);
}

/* ---- SIGPIPE and EINTR -------------------------------------------------- */

static void *root_sigpipe(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    cr_assert_eq(weft_close(sv[1]), 0);
    cr_assert_eq(weft_write(sv[0], "x", 1), -EPIPE);
    cr_assert_eq(weft_close(sv[0]), 0);
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    cr_assert_eq(weft_close(p[0]), 0);
    cr_assert_eq(weft_write(p[1], "x", 1), -EPIPE);
    cr_assert_eq(weft_write(p[1], "y", 1), -EPIPE);
    cr_assert_eq(weft_close(p[1]), 0);
    sigset_t pending;
    sigpending(&pending);
    cr_assert_eq(sigismember(&pending, SIGPIPE), 0);
    return NULL;
}

Test(io, writes_to_a_gone_peer_return_epipe_never_sigpipe)
{
    /* The default action of SIGPIPE would kill this worker. */
    signal(SIGPIPE, SIG_DFL);
    run_io(WEFT_CLOCK_MONOTONIC, root_sigpipe, NULL);
}

/* A writer blocked on a full socket whose peer shuts down its write side
 * and then closes: the shutdown is an event of the writer's end (its read
 * side's end of file), not readiness to write; the close must still end
 * the write with -EPIPE at once.  Found by the model (io seed 266) under
 * WEFT_IO=uring (issue 11): io_uring adds EPOLLRDHUP to every poll, so the
 * writer's POLLOUT poll ended with POLLRDHUP alone and nothing waited for
 * the close any more; a plain re-arm would end at once again (a spin).
 * Both backends run it (make test-uring). */
static int hup_sv[2];
static ssize_t hup_rc;
static uint64_t hup_ms;

static void *hup_writer(void *arg)
{
    (void)arg;
    size_t len = (size_t)4 << 20; /* more than the socket holds */
    char *buf = calloc(1, len);
    cr_assert_not_null(buf);
    hup_rc = weft_write(hup_sv[0], buf, len);
    hup_ms = weft_now() / WEFT_MS(1);
    free(buf);
    return NULL;
}

static void *root_shutdown_then_close(void *arg)
{
    (void)arg;
    cr_assert_not_null(weft_io_backend());
    pair(hup_sv);
    weft_task *w = weft_spawn(hup_writer, NULL);
    cr_assert_not_null(w);
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0); /* the writer blocks */
    cr_assert_eq(shutdown(hup_sv[1], SHUT_WR), 0);
    cr_assert_eq(weft_yield(), 0);
    cr_assert_eq(weft_close(hup_sv[1]), 0);
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    weft_task_abort(w); /* if it still waits (then joins -ECANCELED) */
    weft_task_join(w, NULL);
    cr_assert_eq(hup_rc, -EPIPE, "the write returned %zd at %llu ms", hup_rc,
                 (unsigned long long)hup_ms);
    cr_assert_eq(hup_ms, 1);
    cr_assert_eq(weft_close(hup_sv[0]), 0);
    return NULL;
}

Test(io, blocked_write_ends_with_epipe_when_peer_shuts_down_then_closes)
{
    signal(SIGPIPE, SIG_DFL);
    run_io(WEFT_CLOCK_VIRTUAL, root_shutdown_then_close, NULL);
}

/* The writer above, blocked after the peer's shutdown, on the real clock:
 * the reactor waits for the next change without spinning (a few events in
 * 50 ms, where a poll re-armed at the level of POLLRDHUP would harvest
 * thousands), and a writer cancelled meanwhile leaves no poll behind that
 * would keep its socket open after weft_close: the peer then reads what
 * was sent and the end of file, not EAGAIN. */
static void *root_shutdown_no_spin(void *arg)
{
    (void)arg;
    cr_assert_not_null(weft_io_backend());
    pair(hup_sv);
    hup_rc = 1;
    weft_task *w = weft_spawn(hup_writer, NULL);
    cr_assert_not_null(w);
    cr_assert_eq(weft_yield(), 0); /* the writer fills the socket, blocks */
    cr_assert_eq(shutdown(hup_sv[1], SHUT_WR), 0);
    weft_stats before, after;
    cr_assert_eq(weft_runtime_stats(&before), 0);
    cr_assert_eq(weft_sleep(WEFT_MS(50)), 0);
    cr_assert_eq(weft_runtime_stats(&after), 0);
    cr_assert_eq(hup_rc, 1, "the write returned %zd", hup_rc);
    uint64_t events = after.io_events - before.io_events;
    cr_assert_leq(events, 4, "%llu reactor events in 50 ms (%s)",
                  (unsigned long long)events, weft_io_backend());
    weft_task_abort(w);
    weft_task_join(w, NULL);
    cr_assert_eq(hup_rc, -ECANCELED);
    cr_assert_eq(weft_close(hup_sv[0]), 0);
    static char buf[65536];
    size_t total = 0;
    ssize_t n;
    while ((n = recv(hup_sv[1], buf, sizeof buf, MSG_DONTWAIT)) > 0)
        total += (size_t)n;
    cr_assert_eq(n, 0, "the peer's read after %zu bytes: %zd (%s)", total, n,
                 n < 0 ? strerror(errno) : "");
    cr_assert_gt(total, 0);
    cr_assert_eq(weft_close(hup_sv[1]), 0);
    return NULL;
}

Test(io, blocked_write_after_peer_shutdown_does_not_spin_nor_leak_its_poll)
{
    signal(SIGPIPE, SIG_DFL);
    run_io(WEFT_CLOCK_MONOTONIC, root_shutdown_no_spin, NULL);
}

/* A peer that shuts down its write side and then reads everything: the
 * blocked writer is woken by the room its reads make and writes it all. */
static void *hup_reader(void *arg)
{
    size_t *total = arg;
    static char buf[65536];
    ssize_t n;
    while (*total < (size_t)4 << 20 &&
           (n = weft_read(hup_sv[1], buf, sizeof buf)) > 0)
        *total += (size_t)n;
    return NULL;
}

static void *root_shutdown_then_read(void *arg)
{
    (void)arg;
    pair(hup_sv);
    hup_rc = 1;
    weft_task *w = weft_spawn(hup_writer, NULL);
    cr_assert_not_null(w);
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0); /* the writer blocks */
    cr_assert_eq(shutdown(hup_sv[1], SHUT_WR), 0);
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0);
    cr_assert_eq(hup_rc, 1, "the write returned %zd", hup_rc);
    size_t total = 0;
    weft_task *r = weft_spawn(hup_reader, &total);
    cr_assert_not_null(r);
    cr_assert_eq(weft_task_join(r, NULL), 0);
    cr_assert_eq(weft_task_join(w, NULL), 0);
    cr_assert_eq(total, (size_t)4 << 20);
    cr_assert_eq(hup_rc, (ssize_t)4 << 20);
    cr_assert_eq(hup_ms, 2); /* virtual: no time passed while they talked */
    for (int i = 0; i < 2; i++)
        cr_assert_eq(weft_close(hup_sv[i]), 0);
    return NULL;
}

Test(io, blocked_write_after_peer_shutdown_ends_when_the_peer_reads)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_shutdown_then_read, NULL);
}

/* weft_close of a socket whose read waits, right after the socket's own
 * shutdown(SHUT_WR): the socket is released at once, so its peer's writes
 * fail with EPIPE.  Under io_uring the shutdown leaves a wakeup of the
 * read's poll pending, with no event; the poll withdrawn by weft_close
 * must end all the same, not be armed again with the file held (found by
 * test_model, io seed 5392: the peer's writes went on succeeding). */
static void *waiting_reader(void *arg)
{
    char b[64];
    return (void *)(intptr_t)weft_read(*(int *)arg, b, sizeof b);
}

static void *root_close_after_own_shutdown(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    weft_task *r = weft_spawn(waiting_reader, &sv[0]);
    cr_assert_not_null(r);
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0); /* the read waits */
    cr_assert_eq(shutdown(sv[0], SHUT_WR), 0);
    cr_assert_eq(weft_close(sv[0]), 0);
    void *res = NULL;
    cr_assert_eq(weft_task_join(r, &res), 0);
    cr_assert_eq((intptr_t)res, -EBADF);
    errno = 0;
    cr_assert_eq(send(sv[1], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT), -1,
                 "the closed socket is still open in the kernel (%s)",
                 weft_io_backend());
    cr_assert_eq(errno, EPIPE);
    cr_assert_eq(weft_close(sv[1]), 0);
    return NULL;
}

Test(io, close_right_after_own_shutdown_releases_the_socket)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_close_after_own_shutdown, NULL);
}

/* A poll that completed with an event after its waiter left, its
 * completion not yet harvested when the fd is waited on again (issue 11,
 * io_uring).  One batch of tasks, no harvest of the reactor in it:
 *   - b's reader is parked (its poll in the kernel); the peer writes to b,
 *     so that poll's completion is pending in the kernel;
 *   - weft_close(a) withdraws a's poll and, with it, has the kernel post
 *     every pending completion: b's poll completes (readable);
 *   - b's reader is aborted: its withdrawal finds nothing left to cancel;
 *   - the root drains b and waits on it again: a new poll, same fd, same
 *     generation, same direction.
 * The stale completion (readable) then wakes the new read, which meets
 * EAGAIN and waits again.  That stale completion must not be taken for the
 * new poll's: a second poll armed beside it would be left behind by
 * weft_close (one cancel withdraws one poll), holding the file, so the
 * peer would not see the socket close (its send would succeed). */
static int stale_a[2], stale_b[2];

static void *stale_closer(void *arg)
{
    (void)arg;
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0); /* the root waits on b */
    cr_assert_eq(weft_close(stale_b[0]), 0);
    return NULL;
}

static void *root_stale_completion(void *arg)
{
    (void)arg;
    pair(stale_a);
    pair(stale_b);
    weft_task *ra = weft_spawn(waiting_reader, &stale_a[0]);
    weft_task *rb = weft_spawn(waiting_reader, &stale_b[0]);
    cr_assert_not_null(ra);
    cr_assert_not_null(rb);
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0); /* both reads wait */
    cr_assert_eq(write(stale_b[1], "x", 1), 1);
    cr_assert_eq(weft_close(stale_a[0]), 0);
    weft_task_abort(rb);
    /* ra and rb end in this batch, and the root goes on in it. */
    cr_assert_eq(weft_task_join(rb, NULL), -ECANCELED);
    void *res = NULL;
    cr_assert_eq(weft_task_join(ra, &res), 0);
    cr_assert_eq((intptr_t)res, -EBADF);
    char c;
    cr_assert_eq(recv(stale_b[0], &c, 1, MSG_DONTWAIT), 1);
    weft_task *closer = weft_spawn(stale_closer, NULL);
    cr_assert_not_null(closer);
    char buf[8];
    cr_assert_eq(weft_read(stale_b[0], buf, sizeof buf), -EBADF);
    cr_assert_eq(weft_task_join(closer, NULL), 0);
    errno = 0;
    cr_assert_eq(send(stale_b[1], "y", 1, MSG_NOSIGNAL | MSG_DONTWAIT), -1,
                 "the closed socket is still open in the kernel (%s)",
                 weft_io_backend());
    cr_assert_eq(errno, EPIPE);
    cr_assert_eq(weft_close(stale_a[1]), 0);
    cr_assert_eq(weft_close(stale_b[1]), 0);
    return NULL;
}

Test(io, a_stale_poll_completion_leaves_no_poll_behind_close)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_stale_completion, NULL);
}

/* A wait that comes while the withdrawal of its direction's poll has not
 * ended yet (its -ECANCELED not harvested: under io_uring no new poll is
 * armed beside it, see above) is still served, and at once: the data
 * written in the same batch wakes it with no time passing. */
static int wd_sv[2];

static void *wd_wait(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)weft_fd_wait(wd_sv[0], WEFT_READABLE, WEFT_MS(5));
}

static void *wd_write(void *arg)
{
    (void)arg;
    cr_assert_eq(write(wd_sv[1], "x", 1), 1);
    return NULL;
}

static void *root_wait_during_withdrawal(void *arg)
{
    (void)arg;
    pair(wd_sv);
    weft_task *first = weft_spawn(wd_wait, NULL);
    cr_assert_not_null(first);
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0); /* its poll is in the kernel */
    uint64_t t0 = weft_now();
    weft_task_abort(first); /* withdraws the poll, when it runs */
    weft_task *second = weft_spawn(wd_wait, NULL);  /* then waits */
    weft_task *writer = weft_spawn(wd_write, NULL); /* then writes */
    cr_assert_not_null(second);
    cr_assert_not_null(writer);
    cr_assert_eq(weft_task_join(first, NULL), -ECANCELED);
    void *res = NULL;
    cr_assert_eq(weft_task_join(second, &res), 0);
    cr_assert_eq((intptr_t)res, WEFT_READABLE, "the wait returned %d (%s)",
                 (int)(intptr_t)res, weft_io_backend());
    cr_assert_eq(weft_now(), t0);
    cr_assert_eq(weft_task_join(writer, NULL), 0);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(weft_close(wd_sv[i]), 0);
    return NULL;
}

Test(io, a_wait_during_its_polls_withdrawal_is_served_at_once)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_wait_during_withdrawal, NULL);
}

/* ---- wake order --------------------------------------------------------- */

/* More sockets than epoll.c's batch of 64: one poll of the reactor takes
 * them all (weft.h, "Wake order"). */
#define WO_N 100

static int wo_sv[WO_N][2];
static int wo_order[WO_N], wo_n;

static void *wo_reader(void *arg)
{
    int i = (int)(intptr_t)arg;
    char c;
    cr_assert_eq(weft_read(wo_sv[i][0], &c, 1), 1);
    wo_order[wo_n++] = i;
    return NULL;
}

static void *root_wake_order(void *arg)
{
    (void)arg;
    weft_task *t[WO_N];
    wo_n = 0;
    for (int i = 0; i < WO_N; i++) {
        pair(wo_sv[i]);
        t[i] = weft_spawn(wo_reader, (void *)(intptr_t)i);
        cr_assert_not_null(t[i]);
    }
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0); /* all wait, 0 first */
    /* Ready in the reverse order, all before the next poll: the kernel
     * reports them (epoll's ready list, io_uring's completions) last
     * first, weft wakes them in the order their waits began. */
    for (int i = WO_N - 1; i >= 0; i--)
        cr_assert_eq(write(wo_sv[i][1], "x", 1), 1);
    for (int i = 0; i < WO_N; i++)
        cr_assert_eq(weft_task_join(t[i], NULL), 0);
    cr_assert_eq(wo_n, WO_N);
    for (int i = 0; i < WO_N; i++)
        cr_assert_eq(wo_order[i], i, "woken %d-th: reader %d (%s)", i,
                     wo_order[i], weft_io_backend());
    for (int i = 0; i < WO_N; i++)
        for (int k = 0; k < 2; k++)
            cr_assert_eq(weft_close(wo_sv[i][k]), 0);
    return NULL;
}

Test(io, one_poll_wakes_its_waiters_in_the_order_their_waits_began)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_wake_order, NULL);
}

static atomic_int interrupts;
static void on_usr2(int sig)
{
    (void)sig;
    atomic_fetch_add(&interrupts, 1);
}

typedef struct pester {
    int fd;
    pid_t pid;
} pester;

static void *pester_thread(void *arg)
{
    pester *p = arg;
    for (int i = 0; i < 20; i++) {
        kill(p->pid, SIGUSR2);
        thread_sleep_ms(2);
    }
    cr_assert_eq(write(p->fd, "after signals", 13), 13);
    return NULL;
}

static void *root_eintr(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    pester p = {.fd = sv[1], .pid = getpid()};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, pester_thread, &p), 0);
    char buf[32];
    ssize_t n = weft_read(sv[0], buf, sizeof buf);
    cr_assert_eq(n, 13);
    cr_assert_eq(memcmp(buf, "after signals", 13), 0);
    pthread_join(th, NULL);
    cr_assert_geq(atomic_load(&interrupts), 1);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(weft_close(sv[i]), 0);
    return NULL;
}

Test(io, signals_interrupting_the_wait_are_harmless)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr2; /* no SA_RESTART: epoll_wait sees EINTR */
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGUSR2, &sa, NULL), 0);
    run_io(WEFT_CLOCK_MONOTONIC, root_eintr, NULL);
}

/* ---- TCP ---------------------------------------------------------------- */

static void *echo_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    ssize_t n;
    while ((n = weft_read(fd, buf, sizeof buf)) > 0)
        cr_assert_eq(weft_write(fd, buf, (size_t)n), n);
    cr_assert_eq(n, 0);
    cr_assert_eq(weft_close(fd), 0);
    return NULL;
}

static void *echo_server(void *arg)
{
    int l = *(int *)arg;
    struct sockaddr_storage peer;
    int fd = weft_tcp_accept(l, &peer);
    cr_assert_geq(fd, 0, "accept: %s", weft_strerror(fd));
    cr_assert_eq(peer.ss_family, AF_INET);
    struct sockaddr_in *in = (struct sockaddr_in *)&peer;
    cr_assert_eq(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
    int fl = fcntl(fd, F_GETFL);
    cr_assert(fl & O_NONBLOCK);
    cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    return echo_conn((void *)(intptr_t)fd);
}

static void *root_tcp_echo(void *arg)
{
    (void)arg;
    int l = weft_tcp_listen("127.0.0.1", 0, 16);
    cr_assert_geq(l, 0, "listen: %s", weft_strerror(l));
    uint16_t port = port_of(l);
    weft_task *srv = weft_spawn(echo_server, &l);
    int c = weft_tcp_connect("127.0.0.1", port);
    cr_assert_geq(c, 0, "connect: %s", weft_strerror(c));
    const char *msgs[] = {"one", "two two", "three three three"};
    for (int i = 0; i < 3; i++) {
        size_t len = strlen(msgs[i]);
        cr_assert_eq(weft_write(c, msgs[i], len), (ssize_t)len);
        char buf[64];
        size_t got = 0;
        while (got < len) {
            ssize_t n = weft_read(c, buf + got, sizeof buf - got);
            cr_assert_gt(n, 0);
            got += (size_t)n;
        }
        cr_assert_eq(got, len);
        cr_assert_eq(memcmp(buf, msgs[i], len), 0);
    }
    cr_assert_eq(weft_close(c), 0);
    cr_assert_eq(weft_task_join(srv, NULL), 0);
    cr_assert_eq(weft_close(l), 0);
    return NULL;
}

Test(io, tcp_echo_on_loopback)
{
    run_io(WEFT_CLOCK_MONOTONIC, root_tcp_echo, NULL);
}

Test(io, tcp_echo_on_loopback_virtual_clock)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_tcp_echo, NULL);
}

typedef struct halfclose {
    int l;
    size_t got;
} halfclose;

static void *count_then_reply(void *arg)
{
    halfclose *h = arg;
    int fd = weft_tcp_accept(h->l, NULL);
    cr_assert_geq(fd, 0);
    char buf[8192];
    ssize_t n;
    while ((n = weft_read(fd, buf, sizeof buf)) > 0)
        h->got += (size_t)n;
    cr_assert_eq(n, 0);
    /* The peer only shut its write side: we can still answer. */
    char reply[32];
    int len = snprintf(reply, sizeof reply, "got %zu", h->got);
    cr_assert_eq(weft_write(fd, reply, (size_t)len), len);
    cr_assert_eq(weft_close(fd), 0);
    return NULL;
}

static void *root_half_close(void *arg)
{
    (void)arg;
    halfclose h = {.l = weft_tcp_listen("127.0.0.1", 0, 4)};
    cr_assert_geq(h.l, 0);
    weft_task *srv = weft_spawn(count_then_reply, &h);
    int c = weft_tcp_connect("127.0.0.1", port_of(h.l));
    cr_assert_geq(c, 0);
    size_t len = 1000000;
    char *data = calloc(1, len);
    cr_assert_eq(weft_write(c, data, len), (ssize_t)len);
    free(data);
    cr_assert_eq(shutdown(c, SHUT_WR), 0);
    char buf[64];
    size_t got = 0;
    ssize_t n;
    while ((n = weft_read(c, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    cr_assert_eq(n, 0);
    buf[got] = '\0';
    cr_assert_str_eq(buf, "got 1000000");
    cr_assert_eq(weft_task_join(srv, NULL), 0);
    cr_assert_eq(weft_close(c), 0);
    cr_assert_eq(weft_close(h.l), 0);
    return NULL;
}

Test(io, half_close_loses_no_data)
{
    run_io(WEFT_CLOCK_MONOTONIC, root_half_close, NULL);
}

/* After a short read of a TCP socket weft_read may wait for the next event
 * without trying recv(2) (the queue was empty).  Two cases where the data
 * or the end is already queued and no new edge comes: a FIN behind data,
 * and a read stopped short at the urgent mark (MSG_OOB).  Both must still
 * be read, not waited for. */
typedef struct shortreads {
    int fd;               /* the writer's end */
    int case_;            /* 0: data then FIN; 1: urgent data in the middle */
    weft_sender *read_ab; /* the reader has read "ab": write the rest */
    weft_receiver *may_go;
} shortreads;

static void *short_read_writer(void *arg)
{
    shortreads *w = arg;
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    cr_assert_eq(weft_write(w->fd, "ab", 2), 2);
    /* The rest only once the reader's short read has returned: not after a
     * sleep, which a slow run (valgrind) can outlast, so that "ab" and
     * "cd" were read at once. */
    int go;
    cr_assert_eq(weft_recv(w->may_go, &go), 1);
    if (w->case_ == 0) {
        cr_assert_eq(weft_write(w->fd, "cd", 2), 2);
        cr_assert_eq(shutdown(w->fd, SHUT_WR), 0);
        return NULL;
    }
    /* "ef", urgent "X", "gh" queued while the reader sleeps; the reader
     * answers once it has "abefgh": a read left waiting would stall both. */
    cr_assert_eq(weft_write(w->fd, "ef", 2), 2);
    cr_assert_eq(send(w->fd, "X", 1, MSG_OOB), 1);
    cr_assert_eq(weft_write(w->fd, "gh", 2), 2);
    cr_assert_eq(weft_fd_wait(w->fd, WEFT_READABLE, WEFT_MS(5000)),
                 WEFT_READABLE, "the reader never answered");
    char ok[2];
    cr_assert_eq(weft_read(w->fd, ok, 2), 2);
    cr_assert_eq(memcmp(ok, "ok", 2), 0);
    return NULL;
}

static void *root_short_reads(void *arg)
{
    int case_ = (int)(intptr_t)arg;
    int l = weft_tcp_listen("127.0.0.1", 0, 4);
    cr_assert_geq(l, 0);
    shortreads w = {.fd = weft_tcp_connect("127.0.0.1", port_of(l)),
                    .case_ = case_};
    cr_assert_geq(w.fd, 0);
    cr_assert_eq(weft_channel(sizeof(int), &w.read_ab, &w.may_go), 0);
    int s = weft_tcp_accept(l, NULL);
    cr_assert_geq(s, 0);
    weft_task *t = weft_spawn(short_read_writer, &w);
    char buf[64];
    /* Waits (registers the socket), then a short read: 2 of 64. */
    cr_assert_eq(weft_read(s, buf, sizeof buf), 2);
    cr_assert_eq(memcmp(buf, "ab", 2), 0);
    int go = 1;
    cr_assert_eq(weft_send(w.read_ab, &go), 0);
    /* Everything else arrives, and its events are taken, meanwhile. */
    cr_assert_eq(weft_sleep(WEFT_MS(30)), 0);
    if (case_ == 0) {
        cr_assert_eq(weft_read(s, buf, sizeof buf), 2);
        cr_assert_eq(memcmp(buf, "cd", 2), 0);
        cr_assert_eq(weft_read(s, buf, sizeof buf), 0); /* the FIN */
    } else {
        /* The first read stops at the urgent mark; the next one skips the
         * out-of-band byte (SO_OOBINLINE is off). */
        cr_assert_eq(weft_read(s, buf, sizeof buf), 2);
        cr_assert_eq(memcmp(buf, "ef", 2), 0);
        cr_assert_eq(weft_read(s, buf, sizeof buf), 2);
        cr_assert_eq(memcmp(buf, "gh", 2), 0);
        cr_assert_eq(weft_write(s, "ok", 2), 2);
    }
    cr_assert_eq(weft_task_join(t, NULL), 0);
    weft_sender_drop(w.read_ab);
    weft_receiver_drop(w.may_go);
    cr_assert_eq(weft_close(w.fd), 0);
    cr_assert_eq(weft_close(s), 0);
    cr_assert_eq(weft_close(l), 0);
    return NULL;
}

Test(io, short_tcp_reads_miss_no_queued_fin)
{
    run_io(WEFT_CLOCK_MONOTONIC, root_short_reads, (void *)0);
}

Test(io, short_tcp_reads_miss_no_data_after_urgent_mark)
{
    run_io(WEFT_CLOCK_MONOTONIC, root_short_reads, (void *)1);
}

static void run_io_uring(weft_fn *fn);

/* Test NAME runs fn on the default backend (epoll), NAME_on_io_uring on
 * io_uring. */
#define ON_BOTH_BACKENDS(name, fn)                                             \
    Test(io, name) { run_io(WEFT_CLOCK_MONOTONIC, fn, NULL); }                 \
    Test(io, name##_on_io_uring) { run_io_uring(fn); }

/* The same two cases on io_uring, where a poll's POLLPRI does not make
 * reads try first (uring.c, poll_bits): the lazy read's own poll must find
 * what is left behind the urgent mark, and the FIN. */
static void *root_short_reads_fin(void *arg)
{
    (void)arg;
    return root_short_reads((void *)0);
}

static void *root_short_reads_urgent(void *arg)
{
    (void)arg;
    return root_short_reads((void *)1);
}

Test(io, short_tcp_reads_miss_no_queued_fin_on_io_uring)
{
    run_io_uring(root_short_reads_fin);
}

Test(io, short_tcp_reads_miss_no_data_after_urgent_mark_on_io_uring)
{
    run_io_uring(root_short_reads_urgent);
}

/* Two tasks wait to read one TCP socket, and data and the FIN behind it
 * arrive before the next wait (one event: EPOLLIN|EPOLLRDHUP).  Both are
 * woken; the first reads the data (a short read: WEFT__R cleared) and then
 * the end (WEFT__TRY).  The second must see the end as well, not wait for an
 * edge that never comes. */
static void *fin_first_reader(void *arg)
{
    int fd = *(int *)arg;
    char buf[64];
    ssize_t n, total = 0;
    while ((n = weft_read(fd, buf, sizeof buf)) > 0)
        total += n;
    return (void *)(intptr_t)(n < 0 ? n : total);
}

static void *fin_second_reader(void *arg)
{
    int fd = *(int *)arg;
    char buf[64];
    void *res = NULL;
    int rc = weft_timeout(weft_read_future(fd, buf, sizeof buf), WEFT_MS(1000),
                          &res);
    return (void *)(intptr_t)rc;
}

static void *root_second_reader_fin(void *arg)
{
    (void)arg;
    int l;
    int c = tcp_client(4, &l);
    int s = weft_tcp_accept(l, NULL);
    cr_assert_geq(s, 0);
    weft_task *a = weft_spawn(fin_first_reader, &s);
    weft_task *b = weft_spawn(fin_second_reader, &s);
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0); /* both park */
    /* Plain calls, no wait between: on loopback both are queued at once. */
    cr_assert_eq(send(c, "abc", 3, 0), 3);
    cr_assert_eq(shutdown(c, SHUT_WR), 0);
    void *ra = NULL, *rb = NULL;
    cr_assert_eq(weft_task_join(a, &ra), 0);
    cr_assert_eq(weft_task_join(b, &rb), 0);
    ssize_t na = (ssize_t)(intptr_t)ra, nb = (ssize_t)(intptr_t)rb;
    cr_assert_geq(nb, 0, "the second reader: %zd (%s)", nb,
                  weft_strerror((int)nb));
    cr_assert_eq(na + nb, 3);
    cr_assert_eq(weft_close(c), 0);
    cr_assert_eq(weft_close(s), 0);
    cr_assert_eq(weft_close(l), 0);
    return NULL;
}

ON_BOTH_BACKENDS(a_second_reader_sees_a_fin_queued_behind_data,
                 root_second_reader_fin)

static void *root_connect_errors(void *arg)
{
    (void)arg;
    int l = weft_tcp_listen("127.0.0.1", 0, 1);
    cr_assert_geq(l, 0);
    uint16_t port = port_of(l);
    cr_assert_eq(weft_close(l), 0);
    cr_assert_eq(weft_tcp_connect("127.0.0.1", port), -ECONNREFUSED);
    cr_assert_eq(weft_tcp_connect(NULL, port), -EINVAL);
    int rc = weft_tcp_connect("no-such-host.invalid", 80);
    cr_assert(WEFT_IS_EAI(rc), "rc %d", rc);
    cr_assert_str_neq(weft_strerror(rc), "unknown error");
    /* A name is resolved (on the blocking pool). */
    l = weft_tcp_listen("localhost", 0, 1);
    cr_assert_geq(l, 0, "listen localhost: %s", weft_strerror(l));
    int c = weft_tcp_connect("localhost", port_of(l));
    cr_assert_geq(c, 0, "connect localhost: %s", weft_strerror(c));
    int a = weft_tcp_accept(l, NULL);
    cr_assert_geq(a, 0);
    for (int fd = 0; fd < 3; fd++)
        cr_assert_eq(weft_close(fd == 0 ? a : fd == 1 ? c : l), 0);
    /* Listening on a port in use. */
    l = weft_tcp_listen("127.0.0.1", 0, 1);
    int l2 = weft_tcp_listen("127.0.0.1", port_of(l), 1);
    cr_assert_eq(l2, -EADDRINUSE);
    cr_assert_eq(weft_close(l), 0);
    return NULL;
}

Test(io, connect_and_listen_errors)
{
    run_io(WEFT_CLOCK_MONOTONIC, root_connect_errors, NULL);
}

Test(io, strerror_describes_resolver_errors)
{
    cr_assert_str_eq(weft_strerror(WEFT_EAI(EAI_NONAME)),
                     gai_strerror(EAI_NONAME));
    cr_assert_str_eq(weft_strerror(WEFT_EAI(EAI_AGAIN)),
                     gai_strerror(EAI_AGAIN));
    cr_assert(WEFT_IS_EAI(WEFT_EAI(EAI_SERVICE)));
    cr_assert(!WEFT_IS_EAI(-ECONNREFUSED));
}

/* Out of fds: accept returns -EMFILE, closes the pending connection and
 * does not spin. */
static void *root_emfile(void *arg)
{
    (void)arg;
    int l;
    int c = tcp_client(8, &l);
    int fill[64], nfill = 0;
    for (;;) {
        int d = dup(0);
        if (d < 0) {
            cr_assert_eq(errno, EMFILE);
            break;
        }
        cr_assert_lt(nfill, 64);
        fill[nfill++] = d;
    }
    cr_assert_eq(weft_tcp_accept(l, NULL), -EMFILE);
    /* The pending connection was taken and closed: the client sees it. */
    char buf[4];
    ssize_t n = weft_read(c, buf, sizeof buf);
    cr_assert(n == 0 || n == -ECONNRESET, "read %zd", n);
    /* The listener is quiet now: no spin. */
    cr_assert_eq(weft_fd_wait(l, WEFT_READABLE, WEFT_MS(20)), -ETIMEDOUT);
    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    cr_assert_eq(weft_close(c), 0);
    /* With fds again, accept works. */
    c = weft_tcp_connect("127.0.0.1", port_of(l));
    cr_assert_geq(c, 0);
    int a = weft_tcp_accept(l, NULL);
    cr_assert_geq(a, 0);
    cr_assert_eq(weft_close(a), 0);
    cr_assert_eq(weft_close(c), 0);
    cr_assert_eq(weft_close(l), 0);
    return NULL;
}

Test(io, accept_on_emfile_returns_and_never_spins)
{
    struct rlimit old, low;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = (rlim_t)count_fds() + 16;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    run_io(WEFT_CLOCK_MONOTONIC, root_emfile, NULL);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
}

/* ---- UDP ---------------------------------------------------------------- */

static void *root_udp(void *arg)
{
    (void)arg;
    int a = weft_udp_bind("127.0.0.1", 0);
    int b = weft_udp_bind("127.0.0.1", 0);
    cr_assert_geq(a, 0);
    cr_assert_geq(b, 0);
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons(port_of(b)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char buf[64];
    struct sockaddr_storage from;
    /* A receive that times out takes no datagram. */
    weft_future *fs[2] = {weft_sleep_future(WEFT_MS(5)),
                          weft_read_future(b, buf, sizeof buf)};
    cr_assert_eq(weft_race(fs, 2, NULL), 0);
    cr_assert_eq(weft_sendto(a, "first", 5, (struct sockaddr *)&to, sizeof to),
                 5);
    cr_assert_eq(
        weft_sendto(a, "second!", 7, (struct sockaddr *)&to, sizeof to), 7);
    cr_assert_eq(weft_recvfrom(b, buf, sizeof buf, &from), 5);
    cr_assert_eq(memcmp(buf, "first", 5), 0);
    cr_assert_eq(ntohs(((struct sockaddr_in *)&from)->sin_port), port_of(a));
    cr_assert_eq(weft_recvfrom(b, buf, sizeof buf, NULL), 7);
    cr_assert_eq(memcmp(buf, "second!", 7), 0);
    cr_assert_eq(weft_fd_wait(b, WEFT_READABLE, 0), -ETIMEDOUT);
    cr_assert_eq(weft_close(a), 0);
    cr_assert_eq(weft_close(b), 0);
    return NULL;
}

Test(io, udp_datagrams) { run_io(WEFT_CLOCK_VIRTUAL, root_udp, NULL); }

/* ---- signals ------------------------------------------------------------ */

static void *raiser(void *arg)
{
    int sig = (int)(intptr_t)arg;
    cr_assert_eq(weft_sleep(WEFT_MS(30)), 0);
    cr_assert_eq(kill(getpid(), sig), 0);
    return NULL;
}

static void *root_signals(void *arg)
{
    (void)arg;
    weft_task *r = weft_spawn(raiser, (void *)(intptr_t)SIGUSR1);
    cr_assert_eq(weft_signal_wait(SIGUSR1), SIGUSR1);
    cr_assert_eq(weft_now(), WEFT_MS(30));
    cr_assert_eq(weft_task_join(r, NULL), 0);
    /* Deliveries while no task waits are kept (merged into one). */
    cr_assert_eq(raise(SIGUSR1), 0);
    cr_assert_eq(raise(SIGUSR1), 0);
    cr_assert_eq(weft_signal_wait(SIGUSR1), SIGUSR1);
    cr_assert_eq(
        weft_timeout(weft_signal_wait_future(SIGUSR1), WEFT_MS(10), NULL),
        -ETIMEDOUT);
    cr_assert_eq(weft_signal_wait(SIGKILL), -EINVAL);
    cr_assert_eq(weft_signal_wait(SIGSEGV), -EINVAL);
    cr_assert_eq(weft_signal_wait(0), -EINVAL);
    cr_assert_eq(weft_signal_wait(NSIG), -EINVAL);
    return NULL;
}

Test(io, signal_wait_and_kept_deliveries)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_signals, NULL);
    struct sigaction now;
    cr_assert_eq(sigaction(SIGUSR1, NULL, &now), 0);
    cr_assert_eq(now.sa_handler, SIG_DFL, "default action not restored");
}

typedef struct fanout {
    int hits;
} fanout;

static void *sig_waiter(void *arg)
{
    fanout *f = arg;
    if (weft_signal_wait(SIGUSR1) == SIGUSR1)
        f->hits++;
    return NULL;
}

static void *thread_kill_later(void *arg)
{
    int sig = (int)(intptr_t)arg;
    thread_sleep_ms(50);
    kill(getpid(), sig);
    return NULL;
}

static void *root_signal_from_outside(void *arg)
{
    (void)arg;
    fanout f = {0};
    weft_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = weft_spawn(sig_waiter, &f);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, thread_kill_later, (void *)SIGUSR1),
                 0);
    /* Nothing else can wake these tasks: a signal wait is a wake source,
     * not a deadlock. */
    for (int i = 0; i < 3; i++)
        cr_assert_eq(weft_task_join(t[i], NULL), 0);
    pthread_join(th, NULL);
    cr_assert_eq(f.hits, 3);
    return NULL;
}

Test(io, signal_wakes_every_waiter_and_is_no_deadlock)
{
    run_io(WEFT_CLOCK_MONOTONIC, root_signal_from_outside, NULL);
}

/* ---- deadlock detection and the virtual clock --------------------------- */

static void *thread_write_later(void *arg)
{
    int fd = (int)(intptr_t)arg;
    thread_sleep_ms(50);
    cr_assert_eq(write(fd, "late", 4), 4);
    return NULL;
}

static void *root_no_false_deadlock(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    pthread_t th;
    cr_assert_eq(
        pthread_create(&th, NULL, thread_write_later, (void *)(intptr_t)sv[1]),
        0);
    char buf[8];
    cr_assert_eq(weft_read(sv[0], buf, sizeof buf), 4);
    pthread_join(th, NULL);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(weft_close(sv[i]), 0);
    return NULL;
}

Test(io, waiting_on_an_fd_is_no_deadlock)
{
    run_io(WEFT_CLOCK_MONOTONIC, root_no_false_deadlock, NULL);
    run_io(WEFT_CLOCK_VIRTUAL, root_no_false_deadlock, NULL);
}

typedef struct pingpong {
    int fd;
    const char *name;
    tlog *log;
    uint64_t t0;
} pingpong;

/* Each side: sleep, send a number, wait for the other's number. */
static void *pinger(void *arg)
{
    pingpong *p = arg;
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(weft_sleep(WEFT_MS(100 + 50 * i)), 0);
        unsigned char v = (unsigned char)i;
        cr_assert_eq(weft_write(p->fd, &v, 1), 1);
        tlog_add(p->log, "%s>%d", p->name, i);
        cr_assert_eq(weft_read(p->fd, &v, 1), 1);
        tlog_add(p->log, "%s<%d", p->name, v);
    }
    return NULL;
}

static void *root_pingpong(void *arg)
{
    tlog *log = arg;
    int sv[2];
    pair(sv);
    uint64_t t0 = weft_now();
    pingpong a = {.fd = sv[0], .name = "a", .log = log, .t0 = t0};
    pingpong b = {.fd = sv[1], .name = "b", .log = log, .t0 = t0};
    cr_assert_eq(weft_join(weft_async(pinger, &a), weft_async(pinger, &b)), 0);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(weft_close(sv[i]), 0);
    return (void *)(uintptr_t)(weft_now() - t0);
}

Test(io, virtual_clock_with_sockets_same_order_instantly)
{
    tlog real = {0}, virt = {0};
    run_io(WEFT_CLOCK_MONOTONIC, root_pingpong, &real);
    uint64_t t0 = real_now_ns();
    void *elapsed = run_io(WEFT_CLOCK_VIRTUAL, root_pingpong, &virt);
    uint64_t took = real_now_ns() - t0;
    cr_assert_str_eq(virt.buf, real.buf);
    cr_assert_str_eq(virt.buf, "a>0 b>0 b<0 a<0 b>1 a>1 a<1 b<1 "
                               "a>2 b>2 b<2 a<2 b>3 a>3 a<3 b<3");
    cr_assert_eq((uintptr_t)elapsed, WEFT_MS(700)); /* 100+150+200+250 */
    /* 350 ms tells "ran" from "waited the 700 ms": natively only, as slow
     * builds cannot keep it (support.h, "Real-clock assertions") */
    if (real_time_asserted())
        cr_assert_lt(took, WEFT_MS(350), "the virtual run took %llu ns",
                     (unsigned long long)took);
}

/* ---- the cooperative budget --------------------------------------------- */

typedef struct budget {
    int fd;
    int ticks;
    int done;
} budget;

static void *ticker(void *arg)
{
    budget *b = arg;
    while (!b->done) {
        b->ticks++;
        if (weft_yield() < 0)
            break;
    }
    return NULL;
}

static void *root_budget(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    static char data[4096];
    cr_assert_eq(write(sv[1], data, sizeof data), (ssize_t)sizeof data);
    budget b = {.fd = sv[0]};
    weft_task *t = weft_spawn(ticker, &b);
    cr_assert_eq(weft_yield(), 0);
    int before = b.ticks;
    /* Always ready: without a budget the ticker would never run. */
    char c;
    for (int i = 0; i < 4 * WEFT_IO_BUDGET; i++)
        cr_assert_eq(weft_read(sv[0], &c, 1), 1);
    int ran = b.ticks - before;
    cr_assert(ran >= 3 && ran <= 5, "the ticker ran %d times", ran);
    b.done = 1;
    cr_assert_eq(weft_task_join(t, NULL), 0);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(weft_close(sv[i]), 0);
    return NULL;
}

Test(io, budget_makes_an_always_ready_reader_yield)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_budget, NULL);
}

/* ---- regular files ------------------------------------------------------ */

static void *ticking(void *arg)
{
    int *ticks = arg;
    for (int i = 0; i < 3; i++) {
        (*ticks)++;
        weft_yield();
    }
    return NULL;
}

static void *root_file(void *arg)
{
    (void)arg;
    char path[] = "/tmp/weft-io-test-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    unlink(path);
    size_t len = 600000; /* several pool jobs */
    unsigned char *data = malloc(len), *back = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = pattern(i);
    int ticks = 0;
    weft_task *t = weft_spawn(ticking, &ticks);
    cr_assert_eq(weft_write(fd, data, len), (ssize_t)len);
    cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
    size_t got = 0;
    ssize_t n;
    while ((n = weft_read(fd, back + got, len - got)) > 0)
        got += (size_t)n;
    cr_assert_eq(n, 0);
    cr_assert_eq(got, len);
    cr_assert_eq(memcmp(data, back, len), 0);
    cr_assert_eq(weft_task_join(t, NULL), 0);
    cr_assert_eq(ticks, 3); /* other tasks ran meanwhile */
    free(data);
    free(back);
    cr_assert_eq(weft_close(fd), 0);
    return NULL;
}

Test(io, regular_files_go_through_the_blocking_pool)
{
    run_io(WEFT_CLOCK_MONOTONIC, root_file, NULL);
}

/* ---- futures compose ---------------------------------------------------- */

static void *root_futures(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    char in[8] = {0};
    void *results[2];
    weft_future *fs[2] = {weft_read_future(sv[0], in, sizeof in),
                          weft_write_future(sv[1], "joined", 6)};
    cr_assert_eq(weft_join_all(fs, 2, results), 0);
    cr_assert_eq((intptr_t)results[0], 6);
    cr_assert_eq((intptr_t)results[1], 6);
    cr_assert_str_eq(in, "joined");
    cr_assert_eq(weft_await(weft_fd_wait_future(sv[1], WEFT_WRITABLE), NULL),
                 WEFT_WRITABLE);
    weft_future_drop(weft_read_future(sv[0], in, sizeof in)); /* never run */
    for (int i = 0; i < 2; i++)
        cr_assert_eq(weft_close(sv[i]), 0);
    return NULL;
}

Test(io, futures_compose_with_join_and_await)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_futures, NULL);
}

/* ---- examples/echo_server ----------------------------------------------- */

#ifdef WEFT_EXAMPLES_DIR
/* Starts echo_server 0; returns its pid and the port it printed. */
static pid_t start_echo_server(uint16_t *port)
{
    int out[2];
    cr_assert_eq(pipe(out), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execl(WEFT_EXAMPLES_DIR "/echo_server", "echo_server", "0",
              (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char line[128];
    size_t len = 0;
    while (len < sizeof line - 1) {
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        cr_assert_eq(poll(&p, 1, (int)(slow_ns(WEFT_SEC(10)) / 1000000)), 1,
                     "echo_server printed nothing");
        ssize_t n = read(out[0], line + len, 1);
        cr_assert_eq(n, 1, "echo_server ended before its line");
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    close(out[0]);
    unsigned p = 0;
    cr_assert_eq(sscanf(line, "echo_server: listening on 127.0.0.1:%u", &p), 1,
                 "unexpected line '%s'", line);
    *port = (uint16_t)p;
    return pid;
}

static int plain_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void plain_echo(int fd, const char *msg)
{
    size_t len = strlen(msg), got = 0;
    cr_assert_eq(write(fd, msg, len), (ssize_t)len);
    char buf[256];
    while (got < len) {
        ssize_t n = read(fd, buf + got, sizeof buf - got);
        cr_assert_gt(n, 0);
        got += (size_t)n;
    }
    cr_assert_eq(got, len);
    cr_assert_eq(memcmp(buf, msg, len), 0);
}

static void echo_server_run(int sig)
{
    uint16_t port;
    pid_t pid = start_echo_server(&port);
    int a = plain_connect(port), b = plain_connect(port);
    plain_echo(a, "hello from a");
    plain_echo(b, "hello from b");
    plain_echo(a, "again a");
    close(b); /* the server ends b's task */
    plain_echo(a, "still a");
    cr_assert_eq(kill(pid, sig), 0);
    int status = 0;
    uint64_t deadline = real_now_ns() + slow_ns(WEFT_SEC(10));
    pid_t r;
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 &&
           real_now_ns() < deadline)
        thread_sleep_ms(5);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        cr_assert_fail("echo_server did not exit after signal %d", sig);
    }
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "echo_server: status %#x", status);
    /* It closed a's connection before exiting. */
    char c;
    cr_assert_eq(read(a, &c, 1), 0);
    close(a);
}

Test(io, echo_server_example_echoes_and_exits_on_sigint_sigterm)
{
    echo_server_run(SIGINT);
    echo_server_run(SIGTERM);
}
#endif

/* ---- examples/chat_server and examples/port_scan ------------------------ */

#ifdef WEFT_EXAMPLES_DIR
/* Starts WEFT_EXAMPLES_DIR/prog with argv (NULL-terminated); its stdout and
 * stderr are pipes (*out, *err; err may be NULL: stderr is inherited). */
static pid_t start_example(const char *prog, char *const argv[], int *out,
                           int *err)
{
    int o[2], e[2] = {-1, -1};
    cr_assert_eq(pipe2(o, O_CLOEXEC), 0);
    if (err)
        cr_assert_eq(pipe2(e, O_CLOEXEC), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", WEFT_EXAMPLES_DIR, prog);
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* It dies with this test process, also when an assertion ends the
         * test early or the runner kills it on a timeout. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(o[1], 1);
        if (err)
            dup2(e[1], 2);
        execv(path, argv);
        _exit(127);
    }
    close(o[1]);
    *out = o[0];
    if (err) {
        close(e[1]);
        *err = e[0];
    }
    return pid;
}

/* Waits (bounded) for pid to exit; asserts it exited with status 0. */
static void expect_exit_0(pid_t pid, const char *what)
{
    int status = 0;
    uint64_t deadline = real_now_ns() + slow_ns(WEFT_SEC(20));
    pid_t r;
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 &&
           real_now_ns() < deadline)
        thread_sleep_ms(5);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        cr_assert_fail("%s did not exit", what);
    }
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: status %#x",
              what, status);
}

/* Starts chat_server 0; returns its pid and the port it printed. */
static pid_t start_chat_server(uint16_t *port)
{
    char *argv[] = {"chat_server", "0", NULL};
    int out;
    pid_t pid = start_example("chat_server", argv, &out, NULL);
    char line[128];
    size_t len = 0;
    while (len < sizeof line - 1) {
        struct pollfd p = {.fd = out, .events = POLLIN};
        cr_assert_eq(poll(&p, 1, (int)(slow_ns(WEFT_SEC(10)) / 1000000)), 1,
                     "chat_server printed nothing");
        cr_assert_eq(read(out, line + len, 1), 1,
                     "chat_server ended before its line");
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    close(out);
    unsigned p = 0;
    cr_assert_eq(sscanf(line, "chat_server: listening on 127.0.0.1:%u", &p), 1,
                 "unexpected line '%s'", line);
    *port = (uint16_t)p;
    return pid;
}

/* A chat client: everything it received, and how much of it was checked. */
typedef struct chat_client {
    int fd;
    char buf[8 << 20]; /* what the socket buffers of a slow client hold */
    size_t len, seen;
} chat_client;

/* Reads once more into c->buf (waiting at most the scaled 10 s); returns
 * read's result. */
static ssize_t chat_read(chat_client *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, (int)(slow_ns(WEFT_SEC(10)) / 1000000)), 1,
                 "client fd %d: nothing arrived (received so far: '%.*s')",
                 c->fd, (int)c->len, c->buf);
    cr_assert_lt(c->len, sizeof c->buf, "client fd %d: too much received",
                 c->fd);
    ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    cr_assert_geq(n, 0, "client fd %d: read: %s", c->fd, strerror(errno));
    c->len += (size_t)n;
    return n;
}

/* The next bytes c receives are exactly text. */
static void chat_expect(chat_client *c, const char *text)
{
    size_t n = strlen(text);
    while (c->len - c->seen < n)
        cr_assert_gt(chat_read(c), 0,
                     "client fd %d: end of stream, expected "
                     "'%s' (received so far: '%.*s')",
                     c->fd, text, (int)c->len, c->buf);
    cr_assert(memcmp(c->buf + c->seen, text, n) == 0,
              "client fd %d: expected '%s', got '%.*s'", c->fd, text, (int)n,
              c->buf + c->seen);
    c->seen += n;
}

/* c starts over on fd.  Field by field: a compound literal of 8 MiB would
 * be built on the stack first in an unoptimised build and overflow it. */
static void chat_open(chat_client *c, int fd)
{
    c->fd = fd;
    c->len = 0;
    c->seen = 0;
}

/* Nothing more arrives before the end of the stream. */
static void chat_expect_eof(chat_client *c)
{
    while (chat_read(c) > 0)
        ;
    cr_assert_eq(c->len, c->seen, "client fd %d: unexpected '%.*s'", c->fd,
                 (int)(c->len - c->seen), c->buf + c->seen);
    close(c->fd);
}

static void chat_write(chat_client *c, const char *text)
{
    size_t len = strlen(text);
    cr_assert_eq(write(c->fd, text, len), (ssize_t)len);
}

Test(io, chat_server_example_relays_lines_to_the_others_in_order)
{
    static chat_client a, b, c; /* 8 MiB each: not on the stack */
    uint16_t port;
    pid_t pid = start_chat_server(&port);
    chat_open(&a, plain_connect(port));
    chat_expect(&a, "* you are 1\n");
    chat_open(&b, plain_connect(port));
    chat_expect(&b, "* you are 2\n");
    chat_expect(&a, "* 2 joined\n");
    chat_open(&c, plain_connect(port));
    chat_expect(&c, "* you are 3\n");
    chat_expect(&a, "* 3 joined\n");
    chat_expect(&b, "* 3 joined\n");

    chat_write(&a, "hello from 1\n");
    chat_expect(&b, "[1] hello from 1\n");
    chat_expect(&c, "[1] hello from 1\n");
    chat_write(&b, "hi\r\n"); /* the "\r" is removed */
    chat_expect(&a, "[2] hi\n");
    chat_expect(&c, "[2] hi\n");
    chat_write(&c, "two lines\nin one write\n");
    chat_expect(&a, "[3] two lines\n[3] in one write\n");
    chat_expect(&b, "[3] two lines\n[3] in one write\n");
    chat_write(&a, "one line ");
    thread_sleep_ms(20); /* most likely its own segment */
    chat_write(&a, "in two writes\n");
    chat_expect(&b, "[1] one line in two writes\n");
    chat_expect(&c, "[1] one line in two writes\n");

    /* c leaves; its last line had no "\n": it is sent before the leave. */
    chat_write(&c, "bye");
    cr_assert_eq(shutdown(c.fd, SHUT_WR), 0);
    chat_expect(&a, "[3] bye\n* 3 left\n");
    chat_expect(&b, "[3] bye\n* 3 left\n");
    chat_expect_eof(&c); /* the server closed it after the leave */

    chat_write(&b, "still two of us\n");
    chat_expect(&a, "[2] still two of us\n");

    /* Nothing else reaches a or b, then the end of the stream; once they
     * have closed their side, the server, which waits for that (at most 2
     * s) before it closes its own, exits. */
    cr_assert_eq(kill(pid, SIGTERM), 0);
    chat_expect_eof(&a);
    chat_expect_eof(&b);
    expect_exit_0(pid, "chat_server");
}

/* Line k of the flood: 900 bytes, numbered. */
static void flood_line(char *buf, unsigned k)
{
    int n = snprintf(buf, 32, "line %06u ", k);
    memset(buf + n, 'a' + (char)(k % 26), 900 - (size_t)n - 1);
    buf[899] = '\n';
    buf[900] = '\0';
}

/* A blocking connect to 127.0.0.1:port with SO_RCVBUF rcvbuf (bytes). */
static int connect_rcvbuf(uint16_t port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf),
                 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

Test(io, chat_server_example_drops_a_client_that_does_not_read)
{
    static chat_client a, s, b;
    uint16_t port;
    pid_t pid = start_chat_server(&port);
    chat_open(&a, plain_connect(port));
    chat_expect(&a, "* you are 1\n");

    /* s reads nothing while a floods: small buffers, so the server's side
     * fills soon. */
    chat_open(&s, connect_rcvbuf(port, 4096));
    chat_expect(&a, "* 2 joined\n");

    char line[901];
    unsigned sent = 0;
    for (;;) {
        struct pollfd p = {.fd = a.fd, .events = POLLIN};
        cr_assert_geq(poll(&p, 1, 0), 0);
        if (p.revents)
            break; /* a hears of s */
        cr_assert_lt(sent, 20000u, "s was never dropped");
        flood_line(line, sent++);
        chat_write(&a, line);
    }
    chat_expect(&a, "* 2 left (too slow)\n");

    /* s got its welcome, then the flood in order, without a gap, then the
     * end of the stream (a last line may be cut where its socket was shut
     * down). */
    while (chat_read(&s) > 0)
        ;
    chat_expect(&s, "* you are 2\n");
    unsigned k = 0;
    char want[910];
    for (;; k++) {
        snprintf(want, sizeof want, "[1] ");
        flood_line(want + 4, k);
        size_t n = strlen(want), rest = s.len - s.seen;
        if (rest < n) {
            cr_assert(memcmp(s.buf + s.seen, want, rest) == 0,
                      "s: the cut line %u differs", k);
            break;
        }
        cr_assert(memcmp(s.buf + s.seen, want, n) == 0,
                  "s: line %u differs: '%.20s'", k, s.buf + s.seen);
        s.seen += n;
    }
    cr_assert_gt(k, 0u, "s received none of the flood");
    cr_assert_lt(k, sent, "s received all %u lines: it was not slow", sent);
    close(s.fd);

    /* The server goes on without s.  a wrote on until it heard of s, and
     * the server may not have read the rest of the flood yet when b joins
     * (run at load 4, it had not read 2.5 MB of it): the lines it reads
     * after b's join go to b.  So b gets a run of the flood that ends with
     * its last line, in order and without a gap (possibly none of it), then
     * a's line written after b's welcome; after that line nothing of a's is
     * left unread.  b's receive buffer is made large (8 MiB asked, the
     * kernel caps it), so that b is not dropped as too slow in the moment
     * before the test reads it. */
    chat_open(&b, connect_rcvbuf(port, 8 << 20));
    chat_expect(&b, "* you are 3\n");
    chat_write(&a, "end of the flood\n");
    static const char end[] = "[1] end of the flood\n";
    size_t end_len = strlen(end);
    while (b.len - b.seen < end_len ||
           memcmp(b.buf + b.len - end_len, end, end_len) != 0)
        cr_assert_gt(chat_read(&b), 0,
                     "b: end of stream before '%s' (received %zu bytes)", end,
                     b.len);
    unsigned first = sent; /* none of the flood */
    if (b.len - b.seen > end_len) {
        cr_assert_eq(sscanf(b.buf + b.seen, "[1] line %u ", &first), 1,
                     "b: unexpected '%.40s'", b.buf + b.seen);
        cr_assert_lt(first, sent, "b: unexpected '%.40s'", b.buf + b.seen);
    }
    for (k = first; k < sent; k++) {
        snprintf(want, sizeof want, "[1] ");
        flood_line(want + 4, k);
        size_t n = strlen(want);
        cr_assert(b.len - b.seen >= n && memcmp(b.buf + b.seen, want, n) == 0,
                  "b: flood line %u missing or different: '%.20s'", k,
                  b.buf + b.seen);
        b.seen += n;
    }
    chat_expect(&b, end);
    chat_expect(&a, "* 3 joined\n");
    chat_write(&b, "anyone?\n");
    chat_expect(&a, "[3] anyone?\n");

    /* Nothing of a's is left unread at the signal (closing a socket with
     * input unread resets it: a's read would fail with ECONNRESET).  The
     * end of the stream on a and b, then, once they have closed, the
     * server's exit (as in the test above). */
    cr_assert_eq(kill(pid, SIGINT), 0);
    chat_expect_eof(&a);
    chat_expect_eof(&b);
    expect_exit_0(pid, "chat_server");
}

Test(io, chat_server_example_ends_the_stream_of_a_client_not_yet_read)
{
    static chat_client a;
    uint16_t port;
    pid_t pid = start_chat_server(&port);
    chat_open(&a, plain_connect(port));
    chat_expect(&a, "* you are 1\n");
    /* 3.6 MB of lines (nobody else hears them), then the signal at once:
     * the server has not read most of them yet.  Closing its socket with
     * them unread would reset a (read fails with ECONNRESET); it shuts it
     * down and discards them instead, so a reads the end of the stream. */
    char line[901];
    for (unsigned k = 0; k < 4000; k++) {
        flood_line(line, k);
        chat_write(&a, line);
    }
    cr_assert_eq(kill(pid, SIGINT), 0);
    chat_expect_eof(&a);
    expect_exit_0(pid, "chat_server");
}

/* Whether a plain blocking connect to 127.0.0.1:port completes (a socket
 * connected to itself does not count, as in port_scan): 1 open, 0 closed,
 * -1 no answer within 2 s. */
static int plain_probe(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct timeval tv = {.tv_sec = 2};
    cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int r = connect(fd, (struct sockaddr *)&a, sizeof a);
    int e = errno, state;
    if (r == 0) {
        struct sockaddr_in me;
        socklen_t len = sizeof me;
        cr_assert_eq(getsockname(fd, (struct sockaddr *)&me, &len), 0);
        state = me.sin_port != a.sin_port; /* else: connected to itself */
    } else {
        cr_assert(e == ECONNREFUSED || e == EINPROGRESS || e == EAGAIN,
                  "connect to %u: %s", (unsigned)port, strerror(e));
        state = e == ECONNREFUSED ? 0 : -1;
    }
    close(fd);
    return state;
}

/* The open ports of first..first+n-1 as port_scan prints them; 0 if some
 * port gave no answer. */
static int expected_scan(uint16_t first, unsigned n, char *out, size_t size)
{
    size_t len = 0;
    unsigned open = 0;
    for (unsigned i = 0; i < n; i++) {
        int st = plain_probe((uint16_t)(first + i));
        if (st < 0)
            return 0;
        if (st) {
            len += (size_t)snprintf(out + len, size - len, "%u\n", first + i);
            open++;
        }
    }
    snprintf(out + len, size - len, "scanned %u ports: %u open\n", n, open);
    return 1;
}

/* Whether port is one of the lines of text. */
static int has_port(const char *text, uint16_t port)
{
    char line[16];
    int n = snprintf(line, sizeof line, "%u\n", (unsigned)port);
    for (const char *p = text; *p; p = strchr(p, '\n') + 1)
        if (strncmp(p, line, (size_t)n) == 0)
            return 1;
    return 0;
}

/* Accepts and closes what the probes left in l's queue. */
static void drain(int l)
{
    int fd;
    while ((fd = accept4(l, NULL, NULL, SOCK_CLOEXEC)) >= 0)
        close(fd);
    cr_assert(errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Runs port_scan with argv; returns its stdout and stderr (malloc'd),
 * asserting it exited 0 within the scaled 60 s. */
static void run_port_scan(char *const argv[], char **out, char **err)
{
    int fds[2];
    pid_t pid = start_example("port_scan", argv, &fds[0], &fds[1]);
    char *text[2] = {NULL, NULL};
    size_t len[2] = {0, 0}, cap[2] = {0, 0};
    int open = 2;
    uint64_t deadline = real_now_ns() + slow_ns(WEFT_SEC(60));
    while (open > 0) {
        struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN},
                              {.fd = fds[1], .events = POLLIN}};
        uint64_t now = real_now_ns();
        int r = now < deadline
                    ? poll(p, 2, (int)((deadline - now) / 1000000 + 1))
                    : 0;
        if (r == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            cr_assert_fail("port_scan did not finish");
        }
        cr_assert_gt(r, 0);
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !p[i].revents)
                continue;
            if (cap[i] - len[i] < 4096) {
                cap[i] = cap[i] * 2 + 8192;
                text[i] = realloc(text[i], cap[i]);
                cr_assert_not_null(text[i]);
            }
            ssize_t n = read(fds[i], text[i] + len[i], cap[i] - len[i] - 1);
            cr_assert_geq(n, 0);
            len[i] += (size_t)n;
            text[i][len[i]] = '\0';
            if (n == 0) {
                close(fds[i]);
                fds[i] = -1;
                open--;
            }
        }
    }
    expect_exit_0(pid, "port_scan");
    *out = text[0];
    *err = text[1];
}

/* A non-blocking listener on 127.0.0.1:port (0: a free one), or -1 if port
 * is taken. */
static int plain_listen(uint16_t port, int backlog)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    cr_assert_geq(l, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0) {
        cr_assert(port != 0 && errno == EADDRINUSE, "bind %u: %s",
                  (unsigned)port, strerror(errno));
        close(l);
        return -1;
    }
    cr_assert_eq(listen(l, backlog), 0);
    return l;
}

Test(io, port_scan_example_lists_exactly_the_open_ports)
{
    /* Three listeners: one on a free port P, two more at free ports of the
     * 300 around it. */
    enum { N = 300 };
    int ls[3];
    ls[0] = plain_listen(0, 64);
    uint16_t p0 = port_of(ls[0]);
    unsigned first = p0 > 1024 + 100 ? p0 - 100u : 1025u;
    if (first + N - 1 > 65535)
        first = 65535 - N + 1;
    unsigned at[2] = {first + 17, first + N - 40};
    for (int i = 1; i < 3; i++) {
        unsigned port = at[i - 1];
        while ((ls[i] = plain_listen((uint16_t)port, 64)) < 0)
            port++;
    }
    char f[16], l[16],
        *argv[] = {"port_scan", "127.0.0.1", f, l, "64", "5000", NULL};
    snprintf(f, sizeof f, "%u", first);
    snprintf(l, sizeof l, "%u", first + N - 1);

    /* Other programs on this machine may open or close ports in the range
     * meanwhile: the scan is compared with plain probes made just before
     * and just after it, when both agree (up to 5 tries). */
    static char before[N * 8 + 64], after[N * 8 + 64];
    int tries = 0, compared = 0;
    while (!compared && tries++ < 5) {
        int ok = expected_scan((uint16_t)first, N, before, sizeof before);
        for (int i = 0; i < 3; i++)
            drain(ls[i]);
        char *out, *err;
        run_port_scan(argv, &out, &err);
        for (int i = 0; i < 3; i++)
            drain(ls[i]);
        ok = ok && expected_scan((uint16_t)first, N, after, sizeof after);
        for (int i = 0; i < 3; i++)
            drain(ls[i]);
        if (ok && strcmp(before, after) == 0) {
            for (int i = 0; i < 3; i++)
                cr_assert(has_port(before, port_of(ls[i])),
                          "listener %u not seen by the probes",
                          (unsigned)port_of(ls[i]));
            cr_assert_str_eq(out, before, "stderr: %s", err);
            cr_assert(strstr(err, " 0 timed out, 0 failed\n") != NULL,
                      "stderr: %s", err);
            compared = 1;
        }
        free(out);
        free(err);
    }
    cr_assert(compared, "the ports of this machine kept changing");
    for (int i = 0; i < 3; i++)
        close(ls[i]);
}

Test(io, port_scan_example_times_out_on_a_port_that_never_answers)
{
    /* A listener whose accept queue is full: the kernel drops further SYNs,
     * so a connect to it never completes. */
    int l = plain_listen(0, 0);
    uint16_t port = port_of(l);
    int fill[8], nfill = 0, stuck = 0;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    while (!stuck && nfill < 8) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        cr_assert_geq(fd, 0);
        fill[nfill++] = fd;
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
            continue;
        cr_assert_eq(errno, EINPROGRESS);
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        stuck = poll(&p, 1, 300) == 0;
    }
    cr_assert(stuck, "the listener's queue never filled");
    char ps[16], *argv[] = {"port_scan", "127.0.0.1", ps, ps, "1", "200", NULL};
    snprintf(ps, sizeof ps, "%u", (unsigned)port);
    char *out, *err;
    run_port_scan(argv, &out, &err);
    cr_assert_str_eq(out, "scanned 1 ports: 0 open\n", "stderr: %s", err);
    cr_assert(strstr(err, ": 0 closed, 1 timed out, 0 failed\n") != NULL,
              "stderr: %s", err);
    free(out);
    free(err);
    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    close(l);
}
#endif

/* ---- more rules of the contract ----------------------------------------- */

static void *partial_writer(void *arg)
{
    closing *c = arg;
    size_t len = (size_t)8 << 20; /* far beyond the socket buffers */
    char *data = calloc(1, len);
    c->read_rc = (int)weft_write(c->fd, data, len);
    free(data);
    return NULL;
}

static void *root_write_cancelled(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    closing c = {.fd = sv[0], .read_rc = 1};
    weft_task *t = weft_spawn(partial_writer, &c);
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0); /* it is parked: buffer full */
    weft_task_abort(t);
    cr_assert_eq(weft_task_join(t, NULL), -ECANCELED);
    cr_assert_eq(c.read_rc, -ECANCELED);
    /* A prefix was written. */
    cr_assert_eq(weft_fd_wait(sv[1], WEFT_READABLE, 0), WEFT_READABLE);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(weft_close(sv[i]), 0);
    return NULL;
}

Test(io, write_cancelled_part_way_returns_ecanceled)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_write_cancelled, NULL);
}

static void *root_socket_flags(void *arg)
{
    (void)arg;
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    cr_assert_eq(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
    cr_assert_eq(weft_fd_wait(p[0], WEFT_READABLE, 0), -ETIMEDOUT);
    cr_assert_neq(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0,
                  "the first weft call makes the fd non-blocking");
    cr_assert_eq(weft_close(p[0]), 0);
    cr_assert_eq(weft_close(p[1]), 0);
    /* Every interface; port 0 picks one; SO_REUSEADDR, O_NONBLOCK,
     * FD_CLOEXEC. */
    int l = weft_tcp_listen(NULL, 0, 0);
    cr_assert_geq(l, 0, "listen: %s", weft_strerror(l));
    int one = 0;
    socklen_t len = sizeof one;
    cr_assert_eq(getsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, &len), 0);
    cr_assert_eq(one, 1);
    cr_assert(fcntl(l, F_GETFL) & O_NONBLOCK);
    cr_assert(fcntl(l, F_GETFD) & FD_CLOEXEC);
    struct sockaddr_storage ss;
    len = sizeof ss;
    cr_assert_eq(getsockname(l, (struct sockaddr *)&ss, &len), 0);
    uint16_t port =
        ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                       : ((struct sockaddr_in *)&ss)->sin_port);
    cr_assert_neq(port, 0);
    int c = weft_tcp_connect("127.0.0.1", port);
    cr_assert_geq(c, 0, "connect: %s", weft_strerror(c));
    int a = weft_tcp_accept(l, NULL);
    cr_assert_geq(a, 0);
    int nodelay = 0;
    len = sizeof nodelay;
    cr_assert_eq(getsockopt(a, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
    cr_assert_neq(nodelay, 0);
    cr_assert(fcntl(a, F_GETFL) & O_NONBLOCK);
    cr_assert(fcntl(a, F_GETFD) & FD_CLOEXEC);
    cr_assert(fcntl(c, F_GETFD) & FD_CLOEXEC);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(weft_close(i == 0 ? a : i == 1 ? c : l), 0);
    return NULL;
}

Test(io, socket_flags_and_listening_everywhere)
{
    run_io(WEFT_CLOCK_MONOTONIC, root_socket_flags, NULL);
}

/* Readiness and the timeout in the same instant: the read completes once,
 * either way, and no byte is lost. */
static void *late_writer(void *arg)
{
    int fd = *(int *)arg;
    cr_assert_eq(weft_sleep(WEFT_MS(10)), 0);
    cr_assert_eq(weft_write(fd, "tie", 3), 3);
    return NULL;
}

static void *root_tie(void *arg)
{
    (void)arg;
    for (int order = 0; order < 2; order++) {
        int sv[2];
        pair(sv);
        char buf[8];
        void *res = NULL;
        weft_task *w = NULL;
        if (order == 0) /* the writer's timer is armed first */
            w = weft_spawn(late_writer, &sv[1]);
        weft_future *f = weft_read_future(sv[0], buf, sizeof buf);
        if (order == 1) /* armed after the read's timeout */
            w = weft_spawn(late_writer, &sv[1]);
        int rc = weft_timeout(f, WEFT_MS(10), &res);
        cr_assert(rc == 3 || rc == -ETIMEDOUT, "rc %d", rc);
        cr_assert_eq(weft_task_join(w, NULL), 0);
        if (rc == -ETIMEDOUT)
            cr_assert_eq(weft_read(sv[0], buf, sizeof buf), 3);
        cr_assert_eq(memcmp(buf, "tie", 3), 0);
        cr_assert_eq(weft_fd_wait(sv[0], WEFT_READABLE, 0), -ETIMEDOUT);
        for (int i = 0; i < 2; i++)
            cr_assert_eq(weft_close(sv[i]), 0);
    }
    return NULL;
}

Test(io, readiness_racing_a_timeout_completes_once)
{
    run_io(WEFT_CLOCK_VIRTUAL, root_tie, NULL);
}

/* ---- backends: WEFT_IO=epoll|uring -------------------------------------- */

/* The backend WEFT_IO names in this build ("uring" only when built with
 * io_uring and the kernel lets this process set a ring up). */
static const char *expected_backend(void)
{
    const char *v = getenv("WEFT_IO");
#ifdef WEFT_TEST_IO_URING
    if (v && (strcmp(v, "uring") == 0 || strcmp(v, "io_uring") == 0))
        return "uring";
#else
    (void)v;
#endif
    return "epoll";
}

typedef struct backend_run {
    const char *name; /* weft_io_backend's answer */
    ssize_t echoed;   /* bytes read back by the parked reader */
    int timed_out;    /* weft_fd_wait's result with a timeout */
} backend_run;

static void *backend_reader(void *arg)
{
    int fd = *(int *)arg;
    char buf[16];
    ssize_t n = weft_read(fd, buf, sizeof buf); /* parks: nothing there yet */
    if (n == 4 && memcmp(buf, "ping", 4) != 0)
        n = -1;
    return (void *)(intptr_t)n;
}

static void *root_backend(void *arg)
{
    backend_run *r = arg;
    r->name = weft_io_backend();
    int sv[2];
    pair(sv);
    weft_task *t = weft_spawn(backend_reader, &sv[0]);
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0); /* the reader parks */
    cr_assert_eq(weft_write(sv[1], "ping", 4), 4);
    void *res = NULL;
    cr_assert_eq(weft_task_join(t, &res), 0);
    r->echoed = (ssize_t)(intptr_t)res;
    r->timed_out = weft_fd_wait(sv[0], WEFT_READABLE, WEFT_MS(5));
    for (int i = 0; i < 2; i++)
        cr_assert_eq(weft_close(sv[i]), 0);
    return NULL;
}

/* Runs root_backend on the real clock with stderr captured; returns what
 * was written to stderr (free it). */
static char *run_backend(backend_run *r)
{
    stderr_capture cap;
    capture_stderr_begin(&cap);
    int rc = run_clock(WEFT_CLOCK_MONOTONIC, root_backend, r, NULL);
    char *err = capture_stderr_end(&cap);
    cr_assert_eq(rc, 0, "weft_run_with returned %d", rc);
    cr_assert_eq(r->echoed, 4);
    cr_assert_eq(r->timed_out, -ETIMEDOUT);
    return err;
}

/* make test-uring runs this file with WEFT_IO=uring: this is what shows
 * that the backend under test really is io_uring there (and epoll in
 * make test-native). */
Test(io, the_backend_in_use_is_the_one_WEFT_IO_names)
{
    backend_run r = {0};
    char *err = run_backend(&r);
    cr_assert_str_eq(r.name, expected_backend(), "WEFT_IO=%s",
                     getenv("WEFT_IO") ? getenv("WEFT_IO") : "(unset)");
    cr_assert_str_empty(err);
    free(err);
}

Test(io, epoll_is_the_default)
{
    unsetenv("WEFT_IO");
    backend_run r = {0};
    char *err = run_backend(&r);
    cr_assert_str_eq(r.name, "epoll");
    cr_assert_str_empty(err);
    free(err);
    cr_assert_null(weft_io_backend()); /* outside a runtime */
    cr_assert_eq(errno, EPERM);
}

/* make test-valgrind stays on epoll, and the tests that choose io_uring
 * themselves step aside under valgrind: valgrind (3.19, Debian's) runs
 * io_uring_enter as a syscall that does not block ("[sync]" in
 * --trace-syscalls=yes, where epoll_wait is "[async]": its wrapper lacks
 * SfMayBlock), so while the runtime's thread waits in it, valgrind keeps
 * every signal blocked and its own lock held.  A signal's handler then
 * never runs, so nothing writes the wake fd and the wait never ends:
 * chat_server under valgrind with WEFT_IO=uring ignores the SIGTERM that
 * chat_server_example_drops_a_client_that_does_not_read sends it at the
 * end (a weft_signal_wait(SIGTERM) program does the same; it ends at once
 * without valgrind, or on epoll); and no other thread of the process (the
 * blocking pool, a thread posting a wake) can run meanwhile (liburing
 * issue 657: valgrind hangs in io_uring_wait_cqe while another thread
 * submits).  A limitation of valgrind, not of weft's backend: with the
 * fixes of issue 11 the drop itself passed there (one run, 412 s); the
 * test failed only at the SIGTERM. */
static void skip_uring_under_valgrind(void)
{
    if (getenv("WEFT_TEST_VALGRIND"))
        cr_skip_test("io_uring is not tested under valgrind");
}

/* Runs fn as run_io does, on the io_uring backend (skipped under
 * valgrind). */
static void run_io_uring(weft_fn *fn)
{
    skip_uring_under_valgrind();
    setenv("WEFT_IO", "uring", 1);
    run_io(WEFT_CLOCK_MONOTONIC, fn, NULL);
}

Test(io, WEFT_IO_uring_selects_io_uring)
{
    skip_uring_under_valgrind();
    setenv("WEFT_IO", "uring", 1);
    backend_run r = {0};
    char *err = run_backend(&r);
#ifdef WEFT_TEST_IO_URING
    cr_assert_str_eq(r.name, "uring");
    cr_assert_str_empty(err);
#else
    cr_assert_str_eq(r.name, "epoll");
    cr_assert_str_eq(err, "weft: WEFT_IO=uring: this build has no io_uring "
                          "backend (built without liburing); using epoll\n");
#endif
    free(err);
}

Test(io, a_bogus_WEFT_IO_gives_epoll_and_one_note)
{
    setenv("WEFT_IO", "kqueue", 1);
    backend_run r = {0};
    char *err = run_backend(&r);
    cr_assert_str_eq(r.name, "epoll");
    cr_assert_str_eq(err, "weft: WEFT_IO=kqueue not understood (epoll or "
                          "uring); using epoll\n");
    free(err);
    r = (backend_run){0};
    err = run_backend(&r); /* a second runtime: no second note */
    cr_assert_str_eq(r.name, "epoll");
    cr_assert_str_empty(err);
    free(err);
}

/* A wait that ends without its event (a timeout) leaves nothing behind in
 * the kernel: a plain close(2) afterwards really closes the socket (the
 * peer sees end-of-file at once), and so does weft_close while a task
 * waits; so does a wait that ends with its event, and a plain close(2) of
 * that fd, no task waiting (weft.h: fine).  io_uring's poll holds a
 * reference to the file until it is removed: a poll kept for the fd's
 * lifetime (as epoll's registration) would keep the socket open behind
 * close(2). */
static void *root_no_poll_outlives_its_wait(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    cr_assert_eq(weft_fd_wait(sv[0], WEFT_READABLE, WEFT_MS(5)), -ETIMEDOUT);
    cr_assert_eq(weft_fd_forget(sv[0]), 0);
    cr_assert_eq(close(sv[0]), 0);
    struct pollfd p = {.fd = sv[1], .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 0), 1, "the peer does not see the close");
    char c;
    cr_assert_eq(read(sv[1], &c, 1), 0);
    cr_assert_eq(close(sv[1]), 0);

    pair(sv);
    weft_task *t = weft_spawn(backend_reader, &sv[0]);
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0); /* the reader parks */
    cr_assert_eq(weft_close(sv[0]), 0);
    p.fd = sv[1];
    cr_assert_eq(poll(&p, 1, 0), 1, "the peer does not see weft_close");
    cr_assert_eq(read(sv[1], &c, 1), 0);
    void *res = NULL;
    cr_assert_eq(weft_task_join(t, &res), 0);
    cr_assert_eq((ssize_t)(intptr_t)res, -EBADF);
    cr_assert_eq(close(sv[1]), 0);

    pair(sv);
    t = weft_spawn(backend_reader, &sv[0]);
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0); /* the reader parks */
    cr_assert_eq(write(sv[1], "ping", 4), 4);
    cr_assert_eq(weft_task_join(t, &res), 0);
    cr_assert_eq((ssize_t)(intptr_t)res, 4);
    cr_assert_eq(close(sv[0]), 0); /* plain: weft still knows the number */
    p.fd = sv[1];
    cr_assert_eq(poll(&p, 1, 0), 1, "the peer does not see the plain close");
    cr_assert_eq(read(sv[1], &c, 1), 0);
    cr_assert_eq(close(sv[1]), 0);
    return NULL;
}

ON_BOTH_BACKENDS(no_poll_outlives_its_wait, root_no_poll_outlives_its_wait)

/* weft_read's lazy path (io.h): a TCP reader whose last read was short
 * parks without the recv(2) that would meet EAGAIN, on both backends: one
 * recv(2) per message and side once the connection is warm.  Counted by
 * this file's own recv, which the executable's definition puts in front of
 * libc's for every caller (weft reads sockets with recv), for the two fds
 * under test only.  On io_uring a poll's result carried POLLPRI with every
 * arrival of data, and that turned the lazy path off: 4 recv(2) per round
 * trip here. */
static int lazy_fds[2] = {-1, -1};
static atomic_ulong lazy_recvs;

/* The definition of name after this file's (a sanitizer's interceptor,
 * else libc's), looked up once into *cache; any thread may call. */
static void *next_definition(void **cache, const char *name)
{
    void *p = __atomic_load_n(cache, __ATOMIC_ACQUIRE);
    if (!p) {
        p = dlsym(RTLD_NEXT, name);
        __atomic_store_n(cache, p, __ATOMIC_RELEASE);
    }
    return p;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    if (fd >= 0 && (fd == lazy_fds[0] || fd == lazy_fds[1]))
        atomic_fetch_add_explicit(&lazy_recvs, 1, memory_order_relaxed);
    static void *next_recv;
    void *p = next_definition(&next_recv, "recv");
    ssize_t (*next)(int, void *, size_t, int);
    memcpy(&next, &p, sizeof next);
    return next(fd, buf, len, flags);
}

#define LAZY_ROUNDS 200

static void *lazy_echo(void *arg)
{
    int fd = weft_tcp_accept(*(int *)arg, NULL);
    cr_assert_geq(fd, 0);
    lazy_fds[1] = fd;
    return echo_conn((void *)(intptr_t)fd);
}

static void *root_lazy_reads(void *arg)
{
    (void)arg;
    int l = weft_tcp_listen("127.0.0.1", 0, 4);
    cr_assert_geq(l, 0);
    weft_task *srv = weft_spawn(lazy_echo, &l);
    int c = weft_tcp_connect("127.0.0.1", port_of(l));
    cr_assert_geq(c, 0);
    lazy_fds[0] = c;
    char msg[512] = {0}, buf[4096];
    unsigned long before = 0;
    for (int i = 0; i < LAZY_ROUNDS + 2; i++) {
        if (i == 2) /* warm: both sides have parked after a short read */
            before = atomic_load(&lazy_recvs);
        cr_assert_eq(weft_write(c, msg, sizeof msg), (ssize_t)sizeof msg);
        size_t got = 0;
        while (got < sizeof msg) {
            ssize_t n = weft_read(c, buf, sizeof buf);
            cr_assert_gt(n, 0);
            got += (size_t)n;
        }
        cr_assert_eq(got, sizeof msg);
    }
    unsigned long calls = atomic_load(&lazy_recvs) - before;
    cr_assert_eq(weft_close(c), 0);
    cr_assert_eq(weft_task_join(srv, NULL), 0);
    cr_assert_eq(weft_close(l), 0);
    lazy_fds[0] = lazy_fds[1] = -1;
    cr_assert_geq(calls, 2 * LAZY_ROUNDS);
    cr_assert_leq(calls, 2 * LAZY_ROUNDS + 4, "%lu recv(2) for %d round trips",
                  calls, LAZY_ROUNDS);
    return NULL;
}

ON_BOTH_BACKENDS(a_parked_tcp_reader_makes_one_recv_per_message,
                 root_lazy_reads)

/* A UDP socket with IP_RECVERR keeps an ICMP error on its error queue until
 * it is read with MSG_ERRQUEUE: POLLERR stays a level (datagram_poll), and
 * recvfrom(2) meets EAGAIN all the same.  A receiver then waiting for a
 * datagram must park, as on epoll (one EPOLLERR edge, then none), not spin:
 * on io_uring each wait's one-shot poll ended at once with POLLERR, the
 * recvfrom met EAGAIN, the next poll ended at once again (a busy loop of
 * ~150000 recvfrom(2) calls and 100% CPU per 300 ms).  Counted by this
 * file's own recvfrom, for that fd only. */
static int recverr_fd = -1;
static atomic_ulong recverr_calls;

ssize_t recvfrom(int fd, void *buf, size_t len, int flags,
                 struct sockaddr *addr, socklen_t *alen)
{
    if (fd >= 0 && fd == recverr_fd)
        atomic_fetch_add_explicit(&recverr_calls, 1, memory_order_relaxed);
    static void *next_recvfrom;
    void *p = next_definition(&next_recvfrom, "recvfrom");
    ssize_t (*next)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
    memcpy(&next, &p, sizeof next);
    return next(fd, buf, len, flags, addr, alen);
}

static void *recverr_receiver(void *arg)
{
    char buf[64];
    return (void *)(intptr_t)weft_recvfrom(*(int *)arg, buf, sizeof buf, NULL);
}

/* Spawns a receiver on u (*t) and counts its recvfrom(2) calls over a
 * 300 ms wait. */
static unsigned long recvfrom_calls_while_waiting(int *u, weft_task **t)
{
    recverr_fd = *u;
    unsigned long before = atomic_load(&recverr_calls);
    *t = weft_spawn(recverr_receiver, u);
    cr_assert_not_null(*t);
    cr_assert_eq(weft_sleep(WEFT_MS(300)), 0);
    unsigned long calls = atomic_load(&recverr_calls) - before;
    recverr_fd = -1;
    return calls;
}

static void *root_recverr_no_spin(void *arg)
{
    (void)arg;
    int u = weft_udp_bind("127.0.0.1", 0);
    cr_assert_geq(u, 0);
    int one = 1;
    cr_assert_eq(setsockopt(u, IPPROTO_IP, IP_RECVERR, &one, sizeof one), 0);
    /* A port nobody listens on: the datagram sent there comes back as an
     * ICMP port unreachable, on u's error queue. */
    int tmp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(tmp, 0);
    struct sockaddr_in dead = {.sin_family = AF_INET};
    dead.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(tmp, (struct sockaddr *)&dead, sizeof dead), 0);
    socklen_t dl = sizeof dead;
    cr_assert_eq(getsockname(tmp, (struct sockaddr *)&dead, &dl), 0);
    close(tmp);
    cr_assert_eq(weft_sendto(u, "x", 1, (struct sockaddr *)&dead, sizeof dead),
                 1);
    cr_assert_eq(weft_sleep(WEFT_MS(10)), 0);
    char buf[64];
    cr_assert_eq(weft_recvfrom(u, buf, sizeof buf, NULL), -ECONNREFUSED);
    /* The error is reported; its queue entry stays (POLLERR). */
    weft_task *t;
    unsigned long calls = recvfrom_calls_while_waiting(&u, &t);
    int tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(tx, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(port_of(u))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(sendto(tx, "hello", 5, 0, (struct sockaddr *)&a, sizeof a), 5);
    void *res = NULL;
    cr_assert_eq(weft_task_join(t, &res), 0);
    close(tx);
    cr_assert_eq(weft_close(u), 0);
    cr_assert_eq((intptr_t)res, 5);
    cr_assert_leq(calls, 4,
                  "%lu recvfrom(2) calls in a 300 ms wait: a busy loop", calls);
    return NULL;
}

ON_BOTH_BACKENDS(a_receiver_waits_without_spinning_on_a_queued_icmp_error,
                 root_recverr_no_spin)

/* The same with the receiver's own socket shut down for reading: POLLIN
 * and POLLRDHUP stay levels, recvfrom(2) meets EAGAIN; the wait ends with
 * weft_close (-EBADF). */
static void *root_shut_rd_no_spin(void *arg)
{
    (void)arg;
    int u = weft_udp_bind("127.0.0.1", 0);
    cr_assert_geq(u, 0);
    struct sockaddr_in self = {.sin_family = AF_INET,
                               .sin_port = htons(port_of(u))};
    self.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(u, (struct sockaddr *)&self, sizeof self), 0);
    cr_assert_eq(shutdown(u, SHUT_RD), 0); /* connected: no ENOTCONN */
    weft_task *t;
    unsigned long calls = recvfrom_calls_while_waiting(&u, &t);
    cr_assert_eq(weft_close(u), 0);
    void *res = NULL;
    cr_assert_eq(weft_task_join(t, &res), 0);
    cr_assert_eq((intptr_t)res, -EBADF);
    cr_assert_leq(calls, 4,
                  "%lu recvfrom(2) calls in a 300 ms wait: a busy loop", calls);
    return NULL;
}

ON_BOTH_BACKENDS(a_receiver_shut_down_for_reading_waits_without_spinning,
                 root_shut_rd_no_spin)

/* weft_close of a socket a receiver waits on must release the socket at
 * once (weft.h: "releases the file"; its port can be bound again), also
 * when many other polls were woken just before, on the runtime's thread,
 * with no reactor pass since.  On io_uring (DEFER_TASKRUN) each of those
 * wakeups is a deferred task work item, and the one io_uring_enter of
 * ur_disarm runs only so many of them (IO_LOCAL_TW_DEFAULT_MAX, FIFO): the
 * cancelled poll's own item, queued last, is left for the next wait, and
 * the poll keeps its reference to the file meanwhile (found by eyes3:
 * EADDRINUSE with 40 woken polls, every time; 38 or fewer passed on 6.18).
 * The same holds for the receiver's own TRY socket (a persistent poll) and
 * for a plain one: this one is plain. */
#define CROWD 64
static void *crowd_receiver(void *arg)
{
    char buf[8];
    return (void *)(intptr_t)weft_recvfrom(*(int *)arg, buf, sizeof buf, NULL);
}

static void *root_close_with_polls_woken(void *arg)
{
    (void)arg;
    int us[CROWD];
    weft_task *ts[CROWD];
    for (int i = 0; i < CROWD; i++) {
        us[i] = weft_udp_bind("127.0.0.1", 0);
        cr_assert_geq(us[i], 0);
        ts[i] = weft_spawn(crowd_receiver, &us[i]);
    }
    int u = weft_udp_bind("127.0.0.1", 0);
    cr_assert_geq(u, 0);
    uint16_t port = port_of(u);
    weft_task *tu = weft_spawn(crowd_receiver, &u);
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0); /* every receiver's poll armed */
    int tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(tx, 0);
    for (int i = 0; i < CROWD; i++) { /* wakes CROWD polls, no reactor pass */
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons(port_of(us[i]))};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        cr_assert_eq(sendto(tx, "c", 1, 0, (struct sockaddr *)&a, sizeof a), 1);
    }
    close(tx);
    cr_assert_eq(weft_close(u), 0);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(s, 0);
    struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = htons(port)};
    b.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int br = bind(s, (struct sockaddr *)&b, sizeof b);
    int err = errno;
    close(s);
    void *res = NULL;
    cr_assert_eq(weft_task_join(tu, &res), 0);
    cr_assert_eq((intptr_t)res, -EBADF);
    for (int i = 0; i < CROWD; i++) {
        cr_assert_eq(weft_task_join(ts[i], &res), 0);
        cr_assert_eq((intptr_t)res, 1);
        cr_assert_eq(weft_close(us[i]), 0);
    }
    cr_assert_eq(br, 0,
                 "port %u still bound right after weft_close (%s): a poll "
                 "kept the socket open",
                 port, strerror(err));
    return NULL;
}

ON_BOTH_BACKENDS(weft_close_releases_the_socket_with_many_polls_woken,
                 root_close_with_polls_woken)

/* A sandbox that refuses io_uring (a seccomp filter answering EPERM to
 * io_uring_setup, as Docker's default profile does since 2023): WEFT_IO=
 * uring falls back to epoll with one note, and I/O works. */
#if defined(__x86_64__) || defined(__aarch64__)
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#else
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

static void deny_io_uring_child(void *arg)
{
    (void)arg;
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K,
                 SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0],
                              .filter = code};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        _exit(10);
    if (syscall(__NR_io_uring_setup, 4, NULL) != -1 || errno != EPERM)
        _exit(11);
    setenv("WEFT_IO", "uring", 1);
    for (int i = 0; i < 2; i++) { /* the second runtime: no second note */
        backend_run r = {0};
        weft_config cfg = {0};
        void *res = NULL;
        if (weft_run_with(&cfg, root_backend, &r, &res) != 0)
            _exit(12);
        if (strcmp(r.name, "epoll") != 0 || r.echoed != 4 ||
            r.timed_out != -ETIMEDOUT)
            _exit(13);
    }
}

Test(io, io_uring_denied_by_seccomp_falls_back_to_epoll)
{
    child_proc c;
    child_start(&c, deny_io_uring_child, NULL);
    int status = 0;
    cr_assert(
        child_wait(&c, (unsigned)(slow_ns(WEFT_SEC(30)) / 1000000), &status),
        "the child did not end");
    char *err = child_stderr(&c);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 10 &&
        getenv("WEFT_TEST_EMULATED")) {
        free(err);
        cr_skip_test("qemu-user does not install seccomp filters");
    }
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "status %#x, stderr: %s", status, err);
#ifdef WEFT_TEST_IO_URING
    cr_assert_str_eq(err, "weft: WEFT_IO=uring: io_uring could not be set up "
                          "(Operation not permitted); using epoll\n");
#else
    cr_assert_str_eq(err, "weft: WEFT_IO=uring: this build has no io_uring "
                          "backend (built without liburing); using epoll\n");
#endif
    free(err);
}
#endif
