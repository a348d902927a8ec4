/*
 * net.c - TCP and UDP sockets on the reactor: name resolution, listen,
 * accept, connect, datagrams (tokio::net's TcpListener, TcpStream,
 * UdpSocket).
 *
 * Resolution: a numeric address (or no host, for a passive socket) is
 * converted on the runtime's thread (getaddrinfo with AI_NUMERICHOST never
 * blocks); a name goes to the blocking pool, so that a slow resolver never
 * stalls other tasks.  A cancelled lookup returns at once; the job ends in
 * the background and frees its own result.
 *
 * Every socket weft creates gets a fresh record (weft__io_fd_new): its
 * number may have been used by an fd that was closed with close(2).
 */
#include "io/io.h"
#include "util/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int weft__eai_error(int eai, int saved_errno)
{
    switch (eai) {
    case 0:
        return 0;
    case EAI_SYSTEM:
        return saved_errno ? -saved_errno : -EIO;
    case EAI_MEMORY:
        return -ENOMEM;
    default:
        return WEFT_EAI(eai);
    }
}

/* ---- resolution --------------------------------------------------------- */

typedef struct lookup {
    char *host; /* NULL: passive, every interface */
    char port[8];
    struct addrinfo hints;
    struct addrinfo *res;
    int rc; /* weft's code */
} lookup;

static void lookup_free(void *p)
{
    lookup *l = p;
    if (l->res)
        freeaddrinfo(l->res);
    weft__free(l->host);
    weft__free(l);
}

static void *lookup_run(void *p)
{
    lookup *l = p;
    errno = 0;
    int eai = getaddrinfo(l->host, l->port, &l->hints, &l->res);
    l->rc = weft__eai_error(eai, errno);
    return l;
}

/* The addresses of host:port for sockets of type socktype; 0 and *out
 * (free with freeaddrinfo), or a negative code.  [task] */
static int resolve(const char *host, uint16_t port, int socktype, int passive,
                   struct addrinfo **out)
{
    struct addrinfo hints = {.ai_socktype = socktype,
                             .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG};
    if (passive)
        hints.ai_flags |= AI_PASSIVE;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
    /* Numeric (or absent) hosts never touch the resolver. */
    struct addrinfo numeric = hints;
    numeric.ai_flags |= AI_NUMERICHOST;
    numeric.ai_flags &= ~AI_ADDRCONFIG;
    errno = 0;
    int eai = getaddrinfo(host, portstr, &numeric, out);
    if (eai != EAI_NONAME || !host)
        return weft__eai_error(eai, errno);
    lookup *l = weft__calloc(1, sizeof *l);
    if (!l || !(l->host = weft__strdup(host))) {
        weft__free(l);
        return -ENOMEM;
    }
    memcpy(l->port, portstr, sizeof l->port);
    l->hints = hints;
    void *res = NULL;
    int rc = weft__io_offload(lookup_run, l, lookup_free, &res);
    if (rc < 0)
        return rc; /* cancelled: the job frees l */
    rc = l->rc;
    *out = l->res;
    l->res = NULL;
    lookup_free(l);
    return rc;
}

/* ---- sockets ------------------------------------------------------------ */

static int sock_new(weft__io *io, const struct addrinfo *ai)
{
    int s = weft__socket(ai->ai_family,
                         ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                         ai->ai_protocol);
    if (s < 0)
        return -errno;
    if (!weft__io_fd_new(io, s, WEFT__FD_SOCKET)) {
        close(s);
        return -ENOMEM;
    }
    return s;
}

/* A socket bound to host:port (listening for TCP), or a negative code. */
static int bound(const char *host, uint16_t port, int socktype, int backlog)
{
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    if (weft__cancel_point(rt->current))
        return -ECANCELED;
    weft__io *io = weft__io_get(rt);
    if (!io)
        return -errno;
    struct addrinfo *res = NULL;
    int rc = resolve(host, port, socktype, 1, &res);
    if (rc < 0)
        return rc;
    rc = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int s = sock_new(io, ai);
        if (s < 0) {
            rc = s;
            continue;
        }
        int one = 1;
        if (socktype == SOCK_STREAM)
            (void)setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(s, ai->ai_addr, ai->ai_addrlen) == 0 &&
            (socktype != SOCK_STREAM ||
             listen(s, backlog > 0 ? backlog : SOMAXCONN) == 0)) {
            rc = s;
            break;
        }
        rc = -errno;
        weft__io_close(io, s);
    }
    freeaddrinfo(res);
    if (rc >= 0 && socktype == SOCK_STREAM && io->spare_fd < 0)
        io->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return rc;
}

int weft_tcp_listen(const char *host, uint16_t port, int backlog)
{
    return bound(host, port, SOCK_STREAM, backlog);
}

int weft_udp_bind(const char *host, uint16_t port)
{
    return bound(host, port, SOCK_DGRAM, 0);
}

int weft_tcp_accept(int listener, struct sockaddr_storage *peer)
{
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    return weft__io_accept(rt, listener, peer);
}

/* Connects s to ai: 0 or a negative errno (s is left open). */
static int connect_one(weft__rt *rt, int s, const struct addrinfo *ai)
{
    if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EINTR)
        return -errno;
    int rc = weft__io_wait(rt, s, WEFT__W, UINT64_MAX);
    if (rc < 0)
        return rc;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return -errno;
    return -err;
}

int weft_tcp_connect(const char *host, uint16_t port)
{
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    if (!host)
        return -EINVAL;
    if (weft__cancel_point(rt->current))
        return -ECANCELED;
    weft__io *io = weft__io_get(rt);
    if (!io)
        return -errno;
    struct addrinfo *res = NULL;
    int rc = resolve(host, port, SOCK_STREAM, 0, &res);
    if (rc < 0)
        return rc;
    rc = -ECONNREFUSED;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int s = sock_new(io, ai);
        if (s < 0) {
            rc = s;
            continue;
        }
        rc = connect_one(rt, s, ai);
        if (rc == 0) {
            int one = 1;
            (void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            rc = s;
            break;
        }
        weft__io_close(io, s);
        if (rc == -ECANCELED || rc == -ENOMEM)
            break;
    }
    freeaddrinfo(res);
    return rc;
}

ssize_t weft_recvfrom(int fd, void *buf, size_t len,
                      struct sockaddr_storage *from)
{
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    if (!buf && len)
        return -EINVAL;
    return weft__io_dgram(rt, fd, 0, buf, len, from, NULL, 0);
}

ssize_t weft_sendto(int fd, const void *buf, size_t len,
                    const struct sockaddr *to, socklen_t tolen)
{
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    if (!buf && len)
        return -EINVAL;
    return weft__io_dgram(rt, fd, 1, (void *)(uintptr_t)buf, len, NULL, to,
                          tolen);
}
