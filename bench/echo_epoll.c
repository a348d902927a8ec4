/*
 * echo_epoll.c - the no-runtime floor of the echo benchmark: a plain C
 * echo server, one thread, one level-triggered epoll loop, no weft.
 *
 *   echo_epoll        (bench/echo runs it: echo N connsC c-epoll echo_epoll)
 *
 * Listens on 127.0.0.1 (a free port), prints the port as a decimal line on
 * stdout, then echoes every connection until the peer closes, forever (the
 * benchmark kills it).  Per readiness event of a connection: ONE read(2) of
 * up to 4 KiB and a write(2) of what it read, so a 512-byte round trip costs
 * the server a read, a write and its share of one epoll_wait(2): no read
 * that meets EAGAIN (level-triggered epoll reports the fd again if more is
 * left).  A short write keeps the rest, watches EPOLLOUT instead of EPOLLIN
 * until it is written, then reads again: the echo stays exact under
 * backpressure.  Accepted sockets get TCP_NODELAY, as weft's, Go's and the
 * tokio peer's do.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 4096

typedef struct conn {
    int fd;
    size_t off, len; /* bytes of buf still to write: buf[off, len) */
    char buf[BUF];
} conn;

static void drop(int ep, conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* Writes what is left of c->buf; 1: all written, 0: EAGAIN, -1: error. */
static int flush(conn *c)
{
    while (c->off < c->len) {
        ssize_t w = write(c->fd, c->buf + c->off, c->len - c->off);
        if (w < 0)
            return errno == EAGAIN ? 0 : -1;
        c->off += (size_t)w;
    }
    c->off = c->len = 0;
    return 1;
}

static void watch(int ep, conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void accept_all(int ep, int l)
{
    for (;;) {
        int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or EMFILE & co: the next event retries */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn *c = calloc(1, sizeof *c);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
        }
    }
}

static void on_event(int ep, conn *c, uint32_t events)
{
    if (c->len > 0) { /* waiting for EPOLLOUT */
        int f = flush(c);
        if (f < 0)
            drop(ep, c);
        else if (f > 0)
            watch(ep, c, EPOLLIN);
        return;
    }
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        return;
    ssize_t r = read(c->fd, c->buf, BUF);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        drop(ep, c);
        return;
    }
    if (r < 0)
        return;
    c->off = 0;
    c->len = (size_t)r;
    int f = flush(c);
    if (f < 0)
        drop(ep, c);
    else if (f == 0)
        watch(ep, c, EPOLLOUT);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int one = 1;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (l < 0 || ep < 0 ||
        setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 1024) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) != 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, l, &lev) != 0) {
        perror("echo_epoll");
        return 1;
    }
    printf("%u\n", (unsigned)ntohs(a.sin_port));
    fflush(stdout);

    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0 && errno != EINTR) {
            perror("echo_epoll: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL)
                accept_all(ep, l);
            else
                on_event(ep, evs[i].data.ptr, evs[i].events);
        }
    }
}
