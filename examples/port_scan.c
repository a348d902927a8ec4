/*
 * port_scan.c - a TCP connect scanner: hundreds of connects in flight on
 * one thread, each under a deadline.
 *
 *   port_scan HOST FIRST LAST [CONCURRENCY] [TIMEOUT_MS]
 *
 * Tries a TCP connection to every port FIRST..LAST of HOST (a numeric
 * address or a name, resolved once before the scan), at most CONCURRENCY
 * (default 100) at a time, each given TIMEOUT_MS (default 1000) to
 * complete.  Prints on stdout the open ports in ascending order, one per
 * line, then "scanned N ports: K open".  On stderr: a line with the
 * closed (refused) and timed-out counts, and one line per port that failed
 * otherwise.  Exits 0 when every port was either open, closed or timed
 * out; 1 when some connect failed otherwise (out of fds, no route, ...:
 * those ports are not listed); 2 on bad arguments.
 *
 * A port counts as open when the connection completes, unless it connected
 * to itself: connecting to a port of the local host that is free, the
 * kernel may pick that same port as the source port, and TCP's simultaneous
 * open then connects the socket to itself; that port is counted as closed.
 *
 * Tasks: CONCURRENCY workers take the next port from a shared counter (all
 * tasks run on the runtime's one thread, so a plain variable is enough);
 * each connect is an async block (weft_tcp_connect) under weft_timeout,
 * which cancels it at the deadline: the half-open socket is closed.  The
 * results go into an array indexed by port, printed once every worker has
 * been joined.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <weft.h>

enum { UNTRIED, OPEN, CLOSED, TIMED_OUT, FAILED };

typedef struct scan {
    char host[INET6_ADDRSTRLEN]; /* numeric */
    long first, last, next;
    uint64_t timeout_ns;
    size_t workers;
    unsigned char *state; /* per port, from first */
    int *error;           /* per port: the errno of a FAILED connect */
} scan;

typedef struct attempt {
    const scan *s;
    uint16_t port;
} attempt;

/* 1 if fd is connected to itself (see above). */
static int self_connected(int fd)
{
    struct sockaddr_storage a, b;
    socklen_t la = sizeof a, lb = sizeof b;
    if (getsockname(fd, (struct sockaddr *)&a, &la) < 0 ||
        getpeername(fd, (struct sockaddr *)&b, &lb) < 0)
        return 0;
    return la == lb && memcmp(&a, &b, la) == 0;
}

/* The async block: the connect's fd or negative errno, as a pointer. */
static void *connect_block(void *arg)
{
    const attempt *a = arg;
    return (void *)(intptr_t)weft_tcp_connect(a->s->host, a->port);
}

static void *worker(void *arg)
{
    scan *s = arg;
    while (s->next <= s->last) {
        long port = s->next++;
        attempt a = {s, (uint16_t)port};
        weft_future *f = weft_async(connect_block, &a);
        void *res = NULL;
        int rc = f ? weft_timeout(f, s->timeout_ns, &res) : -ENOMEM;
        if (rc == 0)
            rc = (int)(intptr_t)res;
        unsigned char *st = &s->state[port - s->first];
        if (rc == -ECANCELED && weft_is_cancelled())
            break;
        if (rc >= 0) {
            *st = self_connected(rc) ? CLOSED : OPEN;
            weft_close(rc);
        } else if (rc == -ECONNREFUSED) {
            *st = CLOSED;
        } else if (rc == -ETIMEDOUT) {
            *st = TIMED_OUT;
        } else {
            *st = FAILED;
            s->error[port - s->first] = rc;
        }
    }
    return NULL;
}

static void *root(void *arg)
{
    scan *s = arg;
    size_t n = (size_t)(s->last - s->first + 1);
    size_t workers = s->workers;
    if (workers > n)
        workers = n;
    weft_group *g = weft_group_new();
    if (!g) {
        fprintf(stderr, "port_scan: group: %s\n", strerror(errno));
        return (void *)1;
    }
    for (size_t i = 0; i < workers; i++) {
        weft_spawn_opts o = {.name = "worker"};
        int rc = weft_group_spawn_with(g, &o, worker, s);
        if (rc < 0) {
            fprintf(stderr, "port_scan: spawn: %s (%zu workers)\n",
                    weft_strerror(rc), i);
            if (i == 0) {
                weft_group_drop(g);
                return (void *)1;
            }
            break; /* fewer workers, same scan */
        }
    }
    while (weft_group_join_next(g, NULL) > 0)
        ;
    weft_group_drop(g);
    return NULL;
}

static long number(const char *text, const char *what, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (!*text || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "port_scan: bad %s '%s' (%ld..%ld)\n", what, text, lo,
                hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 6) {
        fprintf(
            stderr,
            "usage: port_scan HOST FIRST LAST [CONCURRENCY] [TIMEOUT_MS]\n");
        return 2;
    }
    scan s = {0};
    s.first = number(argv[2], "first port", 1, 65535);
    s.last = number(argv[3], "last port", s.first, 65535);
    long conc = argc > 4 ? number(argv[4], "concurrency", 1, 65536) : 100;
    long ms = argc > 5 ? number(argv[5], "timeout", 1, 3600000) : 1000;
    s.next = s.first;
    s.workers = (size_t)conc;
    s.timeout_ns = WEFT_MS((uint64_t)ms);

    /* Resolved once, here, before the runtime starts: every connect then
     * takes a numeric address, which weft uses on the spot. */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int eai = getaddrinfo(argv[1], NULL, &hints, &ai);
    if (eai != 0) {
        fprintf(stderr, "port_scan: %s: %s\n", argv[1], gai_strerror(eai));
        return 1;
    }
    eai = getnameinfo(ai->ai_addr, ai->ai_addrlen, s.host, sizeof s.host, NULL,
                      0, NI_NUMERICHOST);
    freeaddrinfo(ai);
    if (eai != 0) {
        fprintf(stderr, "port_scan: %s: %s\n", argv[1], gai_strerror(eai));
        return 1;
    }

    size_t n = (size_t)(s.last - s.first + 1);
    s.state = calloc(n, 1);
    s.error = calloc(n, sizeof *s.error);
    if (!s.state || !s.error) {
        fprintf(stderr, "port_scan: out of memory\n");
        return 1;
    }
    void *result = NULL;
    int rc = weft_run(root, &s, &result);
    if (rc < 0 || result) {
        if (rc < 0)
            fprintf(stderr, "port_scan: %s\n", weft_strerror(rc));
        free(s.state);
        free(s.error);
        return 1;
    }

    size_t open = 0, closed = 0, timed_out = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        long port = s.first + (long)i;
        switch (s.state[i]) {
        case OPEN:
            printf("%ld\n", port);
            open++;
            break;
        case CLOSED:
            closed++;
            break;
        case TIMED_OUT:
            timed_out++;
            break;
        case FAILED:
            fprintf(stderr, "port_scan: port %ld: %s\n", port,
                    weft_strerror(s.error[i]));
            failed++;
            break;
        default: /* UNTRIED: cannot happen once the workers are joined */
            fprintf(stderr, "port_scan: port %ld: not tried\n", port);
            failed++;
            break;
        }
    }
    printf("scanned %zu ports: %zu open\n", n, open);
    fprintf(stderr, "port_scan: %s: %zu closed, %zu timed out, %zu failed\n",
            s.host, closed, timed_out, failed);
    free(s.state);
    free(s.error);
    if (fflush(stdout) != 0) {
        perror("port_scan: stdout");
        return 1;
    }
    return failed ? 1 : 0;
}
