/*
 * test_fault.c - every failure path runs: in a WEFT_FAULT_INJECTION build
 * (make test-fault, with ASan+UBSan) each scenario is run again and again
 * with the k-th injectable call (allocation, mmap, mprotect, eventfd,
 * pthread_create) failing, k = 1, 2, ... until a run completes without an
 * injected failure.  At every k: nothing crashes or hangs, the failure is
 * reported by the public call that met it (or by weft_run), and once
 * weft_run has returned the library holds no allocation.
 *
 * weft-http (when built) is walked too: a GET against a one-shot responder
 * in the same runtime, each failure reported by weft_http_get (-ENOMEM,
 * -EMFILE) or met by the responder, never a hang or an -EIO.
 *
 * In other builds the hooks do not exist and the walk is skipped.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "support.h"
#include "weft.h"
#ifdef WEFT_TEST_HTTP
#include "weft_http.h"
#endif

#ifdef WEFT_FAULT_INJECTION
#include "util/alloc.h"

/* What the scenario saw; assertions happen outside the runtime. */
typedef struct seen {
    int errors; /* failures reported by public calls */
    int bad;    /* a call failed with an unexpected code */
    char what[128];
} seen;

static seen S;

/* Notes a negative result; ENOMEM, EAGAIN, EMFILE are what injection gives
 * (ECANCELED: a task cancelled at shutdown after a failure elsewhere;
 * EINVAL: a combinator or adapter given the NULL of a failed constructor,
 * which it must reject while dropping its other arguments). */
static int note(int rc, const char *call)
{
    if (rc >= 0)
        return rc;
    int after_failure = S.errors > 0;
    S.errors++;
    if (rc != -ENOMEM && rc != -EAGAIN && rc != -EMFILE && rc != -ECANCELED &&
        !(rc == -EINVAL && after_failure) && !S.bad) {
        S.bad = 1;
        snprintf(S.what, sizeof S.what, "%s returned %d", call, rc);
    }
    return rc;
}

static void *note_null(void *p, const char *call)
{
    if (!p)
        note(-errno, call);
    return p;
}

/* ---- scenarios ----------------------------------------------------------- */

static void *sleeper(void *arg)
{
    note(weft_sleep(WEFT_MS(1)), "weft_sleep");
    return (void *)((intptr_t)arg + 1);
}

static void *spawn_and_join(void *arg)
{
    (void)arg;
    weft_task *t[8];
    for (int i = 0; i < 8; i++) {
        weft_spawn_opts o = {.name = "worker"};
        t[i] = note_null(weft_spawn_with(&o, sleeper, (void *)(intptr_t)i),
                         "weft_spawn_with");
    }
    for (int i = 0; i < 8; i++)
        if (t[i])
            note(weft_task_join(t[i], NULL), "weft_task_join");
    return NULL;
}

static void *async_joins(void *arg)
{
    (void)arg;
    void *results[5];
    weft_future *fs[5];
    for (int i = 0; i < 5; i++)
        fs[i] =
            note_null(weft_async(sleeper, (void *)(intptr_t)i), "weft_async");
    note(weft_join_all(fs, 5, results), "weft_join_all");
    note(weft_join(note_null(weft_async(sleeper, NULL), "weft_async"),
                   note_null(weft_sleep_future(WEFT_MS(2)), "sleep_future")),
         "weft_join");
    weft_future *r[2] = {
        note_null(weft_sleep_future(WEFT_MS(5)), "sleep_future"),
        note_null(weft_async(sleeper, NULL), "weft_async")};
    note(weft_race(r, 2, NULL), "weft_race");
    note(weft_timeout(note_null(weft_async(sleeper, NULL), "weft_async"),
                      WEFT_MS(10), NULL),
         "weft_timeout");
    return NULL;
}

static void *producer(void *arg)
{
    weft_sender *tx = arg;
    for (int i = 0; i < 100; i++)
        if (note(weft_send(tx, &i), "weft_send") < 0)
            break;
    weft_sender_drop(tx);
    return NULL;
}

static void *channel_traffic(void *arg)
{
    (void)arg;
    for (size_t cap = 0; cap <= 4; cap += 4) {
        weft_sender *tx;
        weft_receiver *rx;
        weft_channel_opts o = {.capacity = cap};
        if (note(weft_channel_with(sizeof(int), &o, &tx, &rx),
                 "weft_channel_with") < 0)
            continue;
        weft_sender *tx2 = note_null(weft_sender_clone(tx), "clone");
        weft_task *p = note_null(weft_spawn(producer, tx), "weft_spawn");
        if (!p)
            weft_sender_drop(tx);
        weft_task *p2 = NULL;
        if (tx2 && !(p2 = note_null(weft_spawn(producer, tx2), "weft_spawn")))
            weft_sender_drop(tx2);
        int v, rc;
        while ((rc = weft_recv(rx, &v)) > 0)
            ;
        note(rc, "weft_recv");
        if (p)
            note(weft_task_join(p, NULL), "weft_task_join");
        if (p2)
            note(weft_task_join(p2, NULL), "weft_task_join");
        weft_receiver_drop(rx);
    }
    return NULL;
}

static void *long_sleeper(void *arg)
{
    (void)arg;
    weft_sleep(WEFT_SEC(100));
    return NULL;
}

static void *abort_and_shutdown(void *arg)
{
    (void)arg;
    weft_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = note_null(weft_spawn(long_sleeper, NULL), "weft_spawn");
    weft_yield();
    for (int i = 0; i < 4; i++) {
        if (!t[i])
            continue;
        weft_task_abort(t[i]);
        int rc = weft_task_join(t[i], NULL); /* -ECANCELED: expected */
        if (rc != -ECANCELED)
            note(rc, "weft_task_join");
    }
    /* Left for shutdown: detached, sleeping, never joined. */
    weft_task *d = note_null(weft_spawn(long_sleeper, NULL), "weft_spawn");
    weft_task_detach(d);
    note_null(weft_spawn(long_sleeper, NULL), "weft_spawn"); /* not joined */
    weft_yield();
    return NULL;
}

static void *job(void *arg) { return arg; }

static void *blocking_and_streams(void *arg)
{
    (void)arg;
    weft_task *j = note_null(weft_spawn_blocking(job, NULL), "spawn_blocking");
    if (j)
        note(weft_task_join(j, NULL), "weft_task_join");
    int items[] = {1, 2, 3, 4, 5};
    weft_stream *s =
        note_null(weft_stream_take(
                      note_null(weft_stream_from_array(items, 5, sizeof(int)),
                                "from_array"),
                      3),
                  "stream_take");
    if (s)
        s = note_null(weft_stream_timeout(s, WEFT_MS(5)), "stream_timeout");
    if (s) {
        int v, rc;
        while ((rc = weft_stream_next(s, &v)) > 0)
            ;
        note(rc, "weft_stream_next");
        weft_stream_drop(s);
    }
    return NULL;
}

/* ---- I/O: epoll_create1, epoll_ctl, socket, accept4 and the record
 * chunks fail in turn.  Every wait has a timeout (virtual clock): a peer
 * that failed must not leave the other side waiting forever.  After a
 * failure, the other side may see it as end of file, -EPIPE, -ECONNRESET,
 * -ECONNREFUSED or -ETIMEDOUT. */

static int note_io(long rc, const char *call)
{
    if (S.errors > 0 &&
        (rc == -EPIPE || rc == -ECONNRESET || rc == -ETIMEDOUT ||
         rc == -EBADF || rc == -ECONNREFUSED))
        return (int)rc;
    return note((int)rc, call);
}

/* A read with a timeout: bytes, 0 at end, or a negative code.  (Not
 * weft_timeout: it reports a timer it could not arm as -ETIMEDOUT.) */
static long read_within(int fd, char *buf, size_t len)
{
    int rc = weft_fd_wait(fd, WEFT_READABLE, WEFT_SEC(1));
    if (rc < 0)
        return rc;
    return weft_read(fd, buf, len);
}

/* A listener on 127.0.0.1 at an ephemeral port (noted on failure). */
static int listen_local(int *port)
{
    int l = note(weft_tcp_listen("127.0.0.1", 0, 4), "weft_tcp_listen");
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    *port = l >= 0 && getsockname(l, (struct sockaddr *)&a, &len) == 0
                ? ntohs(a.sin_port)
                : 0;
    return l;
}

static void *io_writer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    for (int i = 0; i < 3; i++)
        if (note_io(weft_write(fd, "abc", 3), "weft_write") < 0)
            break;
    weft_close(fd);
    return NULL;
}

static void *io_client(void *arg)
{
    int port = (int)(intptr_t)arg;
    int c = note_io(weft_tcp_connect("127.0.0.1", (uint16_t)port),
                    "weft_tcp_connect");
    if (c < 0)
        return NULL;
    char buf[8];
    if (note_io(weft_write(c, "ping", 4), "weft_write") == 4)
        note_io(read_within(c, buf, sizeof buf), "weft_read");
    weft_close(c);
    return NULL;
}

static void *io_traffic(void *arg)
{
    (void)arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return NULL;
    weft_task *w =
        note_null(weft_spawn(io_writer, (void *)(intptr_t)sv[1]), "spawn");
    if (!w)
        close(sv[1]);
    char buf[16];
    long n;
    while ((n = read_within(sv[0], buf, sizeof buf)) > 0)
        ;
    note_io(n, "weft_read");
    weft_close(sv[0]);
    if (w)
        note(weft_task_join(w, NULL), "weft_task_join");

    int port;
    int l = listen_local(&port);
    if (l < 0)
        return NULL;
    weft_task *c =
        note_null(weft_spawn(io_client, (void *)(intptr_t)port), "spawn");
    int rc = note_io(weft_fd_wait(l, WEFT_READABLE, WEFT_SEC(1)), "fd_wait");
    int s = rc > 0 ? note(weft_tcp_accept(l, NULL), "weft_tcp_accept") : -1;
    if (s >= 0) {
        if (note_io(read_within(s, buf, sizeof buf), "weft_read") > 0)
            note_io(weft_write(s, "pong", 4), "weft_write");
        weft_close(s);
    }
    weft_close(l);
    if (c)
        note(weft_task_join(c, NULL), "weft_task_join");
    return NULL;
}

#ifdef WEFT_TEST_HTTP
/* ---- weft-http: libcurl on weft's reactor, against a one-shot responder -- */

/* Accepts one connection, reads a request's head and answers it; closes
 * the listener (its own) first, so that a client whose connection it could
 * not take is reset rather than left waiting. */
static void *http_responder(void *arg)
{
    int l = (int)(intptr_t)arg;
    int rc = note_io(weft_fd_wait(l, WEFT_READABLE, WEFT_SEC(2)), "fd_wait");
    int s = rc > 0 ? note(weft_tcp_accept(l, NULL), "weft_tcp_accept") : -1;
    weft_close(l);
    if (s < 0)
        return NULL;
    char buf[1024];
    size_t n = 0;
    long r;
    while (n < sizeof buf - 1 &&
           (r = read_within(s, buf + n, sizeof buf - 1 - n)) > 0) {
        n += (size_t)r;
        buf[n] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                 "Connection: close\r\n\r\nhello";
    if (strstr(buf, "\r\n\r\n"))
        note_io(weft_write(s, answer, sizeof answer - 1), "weft_write");
    weft_close(s);
    return NULL;
}

/* A failure the request met reaches its caller as ENOMEM/EMFILE (or a
 * connection error once the responder failed first), and a response that
 * arrives is exact. */
static void *http_traffic(void *arg)
{
    (void)arg;
    int port;
    int l = listen_local(&port);
    if (l < 0)
        return NULL;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
    weft_task *srv =
        note_null(weft_spawn(http_responder, (void *)(intptr_t)l), "spawn");
    if (!srv) {
        weft_close(l);
        return NULL;
    }
    weft_http_response *r = NULL;
    int rc = weft_http_get(url, &r);
    if (!(rc == -ECONNRESET && S.errors > 0))
        note_io(rc, "weft_http_get");
    if (rc == 0) {
        size_t blen = 0;
        const char *body = weft_http_response_text(r, &blen);
        if ((weft_http_response_status(r) != 200 || blen != 5 ||
             memcmp(body, "hello", 5) != 0) &&
            !S.bad) {
            S.bad = 1;
            snprintf(S.what, sizeof S.what, "status %d, %zu bytes",
                     weft_http_response_status(r), blen);
        }
        weft_http_response_free(r);
    }
    weft_task_abort(srv); /* when the request failed before connecting */
    weft_task_join(srv, NULL);
    return NULL;
}
#endif

/* ---- the walk ------------------------------------------------------------ */

typedef struct walk {
    unsigned long points; /* injection points walked */
} walk;

static const char *walk_trace; /* weft_config.trace_path of the walk */
static int walk_clock = WEFT_CLOCK_VIRTUAL;

static walk run_walk(const char *name, weft_fn *scenario, int must_report)
{
    walk w = {0};
    weft_config cfg = {.clock = walk_clock, .trace_path = walk_trace};
    for (unsigned long k = 1;; k++) {
        cr_assert_lt(k, 100000, "%s: the walk does not end", name);
        memset(&S, 0, sizeof S);
        weft_fault_fail_at(k);
        int rc = weft_run_with(&cfg, scenario, NULL, NULL);
        int injected = weft_fault_injected();
        weft_fault_fail_at(0);
        cr_assert_eq(weft_fault_live_allocations(), 0,
                     "%s, failure at call %lu: %ld allocations left", name, k,
                     weft_fault_live_allocations());
        cr_assert(rc == 0 || rc == -ENOMEM || rc == -EMFILE,
                  "%s, failure at call %lu: weft_run returned %d", name, k, rc);
        cr_assert(!S.bad, "%s, failure at call %lu: %s", name, k, S.what);
        if (!injected) {
            cr_assert_eq(rc, 0, "%s: the clean run failed", name);
            cr_assert_eq(S.errors, 0, "%s: the clean run saw errors", name);
            break;
        }
        if (must_report)
            cr_assert(rc < 0 || S.errors > 0,
                      "%s, failure at call %lu went unreported", name, k);
        w.points = k;
    }
    cr_log_info("%s: %lu injection points walked\n", name, w.points);
    printf("fault walk: %s: %lu injection points\n", name, w.points);
    return w;
}

Test(fault, spawn_and_join) { run_walk("spawn and join", spawn_and_join, 1); }
Test(fault, async_joins) { run_walk("join/race/timeout", async_joins, 1); }
Test(fault, channel_traffic)
{
    run_walk("channel traffic", channel_traffic, 1);
}
/* Failures in tasks left for shutdown have no caller to report to. */
Test(fault, abort_and_shutdown)
{
    run_walk("abort and shutdown", abort_and_shutdown, 0);
}
Test(fault, blocking_and_streams)
{
    run_walk("blocking and streams", blocking_and_streams, 1);
}

Test(fault, io_traffic) { run_walk("I/O traffic", io_traffic, 1); }

/* WEFT_IO=uring: a failure in setting the ring up (the injection point
 * before io_uring_setup, EMFILE, or the ring's allocation, ENOMEM) is not
 * an error of the program: the reactor falls back to epoll, notes it once
 * on stderr, and the run is clean.  Every other failure is reported as in
 * io_traffic. */
static const char *walk_backend; /* weft_io_backend() of the last run */

static void *io_traffic_named(void *arg)
{
    walk_backend = weft_io_backend();
    if (!walk_backend) {
        note(-errno, "weft_io_backend");
        return NULL;
    }
    return io_traffic(arg);
}

Test(fault, io_traffic_on_io_uring)
{
    setenv("WEFT_IO", "uring", 1);
    weft_config cfg = {.clock = WEFT_CLOCK_VIRTUAL};
    unsigned long fallbacks = 0, k;
    stderr_capture cap;
    capture_stderr_begin(&cap);
    for (k = 1;; k++) {
        cr_assert_lt(k, 100000, "the walk does not end");
        memset(&S, 0, sizeof S);
        walk_backend = NULL;
        weft_fault_fail_at(k);
        int rc = weft_run_with(&cfg, io_traffic_named, NULL, NULL);
        int injected = weft_fault_injected();
        weft_fault_fail_at(0);
        cr_assert_eq(weft_fault_live_allocations(), 0,
                     "failure at call %lu: %ld allocations left", k,
                     weft_fault_live_allocations());
        cr_assert(rc == 0 || rc == -ENOMEM || rc == -EMFILE,
                  "failure at call %lu: weft_run returned %d", k, rc);
        cr_assert(!S.bad, "failure at call %lu: %s", k, S.what);
        if (!injected) {
            cr_assert_eq(rc, 0, "the clean run failed");
            cr_assert_eq(S.errors, 0, "the clean run saw errors");
            break;
        }
        if (rc == 0 && S.errors == 0 && walk_backend &&
            strcmp(walk_backend, "epoll") == 0) {
            fallbacks++; /* the ring could not be set up: epoll did it */
            continue;
        }
        cr_assert(rc < 0 || S.errors > 0, "failure at call %lu went unreported",
                  k);
    }
    char *err = capture_stderr_end(&cap);
    unsetenv("WEFT_IO");
    printf("fault walk: I/O traffic on io_uring: %lu injection points, %lu "
           "fallbacks to epoll\n",
           k - 1, fallbacks);
#ifdef WEFT_TEST_IO_URING
    cr_assert_str_eq(walk_backend, "uring");
    /* The injection point, then the ring's allocation. */
    cr_assert_eq(fallbacks, 2, "%lu fallbacks", fallbacks);
    cr_assert_str_eq(err, "weft: WEFT_IO=uring: io_uring could not be set up "
                          "(Too many open files); using epoll\n");
#else
    cr_assert_str_eq(walk_backend, "epoll");
    cr_assert_eq(fallbacks, 0);
    cr_assert_str_eq(err, "weft: WEFT_IO=uring: this build has no io_uring "
                          "backend (built without liburing); using epoll\n");
#endif
    free(err);
}

/* The same with a timeline written (obs/trace.c: its buffers, the pool
 * threads' slices) and the dump signal armed (the reactor made for it). */
Test(fault, traced_run)
{
    walk_trace = "/dev/null";
    setenv("WEFT_DUMP_SIGNAL", "USR2", 1);
    run_walk("traced blocking and streams", blocking_and_streams, 1);
    unsetenv("WEFT_DUMP_SIGNAL");
    walk_trace = NULL;
}

#ifdef WEFT_TEST_HTTP
/* On the real clock: libcurl measures its own timeouts on it. */
Test(fault, http_get)
{
    walk_clock = WEFT_CLOCK_MONOTONIC;
    run_walk("HTTP GET", http_traffic, 1);
    walk_clock = WEFT_CLOCK_VIRTUAL;
}
#endif

#else

Test(fault, walk_needs_fault_injection_build)
{
    cr_skip_test("configure with -DWEFT_FAULT_INJECTION=ON (make test-fault)");
}

#endif
