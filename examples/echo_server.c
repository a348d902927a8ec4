/*
 * echo_server.c - a TCP echo server on weft's reactor (tokio's echo
 * example, in C).
 *
 *   echo_server PORT
 *
 * Listens on 127.0.0.1:PORT (0: a free port), prints one line when it is
 * ready ("echo_server: listening on 127.0.0.1:PORT"), echoes every
 * connection until its peer closes, and on SIGINT or SIGTERM closes every
 * connection and the listener and exits 0.
 *
 * Tasks: the root spawns a signal task (waits on SIGINT or SIGTERM, a race
 * of two signal futures) and an acceptor task, which spawns one task per
 * connection.  When a signal arrives the root aborts the acceptor, whose
 * cancellation aborts and joins every connection task before it closes the
 * listener: nothing is left open when weft_run returns.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>

typedef struct server {
    int listener;
    weft_task **conns; /* connection tasks not yet joined */
    size_t n, cap;
} server;

static void *echo(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[16384];
    ssize_t n;
    while ((n = weft_read(fd, buf, sizeof buf)) > 0)
        if (weft_write(fd, buf, (size_t)n) < 0)
            break;
    weft_close(fd); /* end of stream, an error, or cancelled */
    return NULL;
}

/* Joins the connection tasks that have finished. */
static void reap(server *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (weft_task_is_finished(s->conns[i]) == 1)
            weft_task_join(s->conns[i], NULL);
        else
            s->conns[k++] = s->conns[i];
    }
    s->n = k;
}

static void *acceptor(void *arg)
{
    server *s = arg;
    for (;;) {
        int fd = weft_tcp_accept(s->listener, NULL);
        if (fd == -EMFILE || fd == -ENFILE) {
            if (weft_sleep(WEFT_MS(10)) < 0) /* out of fds: back off */
                break;
            continue;
        }
        if (fd < 0)
            break; /* -ECANCELED: shutting down */
        reap(s);
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 16;
            weft_task **c = realloc(s->conns, cap * sizeof *c);
            if (!c) {
                weft_close(fd);
                continue;
            }
            s->conns = c;
            s->cap = cap;
        }
        weft_spawn_opts o = {.name = "echo"};
        weft_task *t = weft_spawn_with(&o, echo, (void *)(intptr_t)fd);
        if (!t) {
            weft_close(fd);
            continue;
        }
        s->conns[s->n++] = t;
    }
    for (size_t i = 0; i < s->n; i++) {
        weft_task_abort(s->conns[i]);
        weft_task_join(s->conns[i], NULL);
    }
    free(s->conns);
    weft_close(s->listener);
    return NULL;
}

/* tokio::signal::ctrl_c(), or SIGTERM. */
static void *signals(void *arg)
{
    (void)arg;
    weft_future *fs[2] = {weft_signal_wait_future(SIGINT),
                          weft_signal_wait_future(SIGTERM)};
    void *sig = NULL;
    if (weft_race(fs, 2, &sig) < 0)
        return NULL;
    return sig;
}

static void *root(void *arg)
{
    int port = *(int *)arg;
    server s = {.listener = weft_tcp_listen("127.0.0.1", (uint16_t)port, 128)};
    if (s.listener < 0) {
        fprintf(stderr, "echo_server: listen: %s\n", weft_strerror(s.listener));
        return (void *)1;
    }
    weft_spawn_opts so = {.name = "signals"};
    weft_task *sig = weft_spawn_with(&so, signals, NULL);
    weft_yield(); /* the signal task is waiting: the handlers are in */
    struct sockaddr_in a = {0};
    socklen_t len = sizeof a;
    getsockname(s.listener, (struct sockaddr *)&a, &len);
    printf("echo_server: listening on 127.0.0.1:%u\n",
           (unsigned)ntohs(a.sin_port));
    fflush(stdout);
    weft_spawn_opts ao = {.name = "acceptor"};
    weft_task *acc = weft_spawn_with(&ao, acceptor, &s);
    void *got = NULL;
    weft_task_join(sig, &got);
    weft_task_abort(acc);
    weft_task_join(acc, NULL);
    fprintf(stderr, "echo_server: signal %d, closed everything\n",
            (int)(intptr_t)got);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: echo_server PORT\n");
        return 2;
    }
    char *end;
    long port = strtol(argv[1], &end, 10);
    if (*end || port < 0 || port > 65535) {
        fprintf(stderr, "echo_server: bad port '%s'\n", argv[1]);
        return 2;
    }
    int p = (int)port;
    void *result = NULL;
    int rc = weft_run(root, &p, &result);
    if (rc < 0) {
        fprintf(stderr, "echo_server: %s\n", weft_strerror(rc));
        return 1;
    }
    return result ? 1 : 0;
}
