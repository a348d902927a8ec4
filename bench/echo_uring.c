/*
 * echo_uring.c - the io_uring floor of the echo benchmark: a plain C echo
 * server on completion-based io_uring I/O, one thread, no weft (liburing).
 *
 *   echo_uring single      (bench/echo runs it: echo N connsC LABEL
 *   echo_uring multishot    build/bench/echo_uring MODE; bench/compare.sh's
 *                           c-uring column is multishot)
 *
 * Same contract as bench/echo_epoll.c: listens on 127.0.0.1 (a free port),
 * prints the port as a decimal line on stdout, then echoes every connection
 * until the peer closes, forever (the benchmark kills it).  Accepted sockets
 * get TCP_NODELAY.  Accept is one multishot ACCEPT SQE (re-armed if its CQE
 * lacks IORING_CQE_F_MORE).
 *
 * single:    per connection one RECV SQE into its own 4 KiB buffer; on its
 *            CQE a SEND SQE of the bytes (a short send resubmits the rest);
 *            when the send has completed, a new RECV.
 * multishot: one provided-buffer ring (1024 x 4 KiB, group 0) and one
 *            multishot RECV per connection (IOSQE_BUFFER_SELECT); each
 *            received chunk is sent straight from its provided buffer (one
 *            SEND in flight per connection, later chunks queued in order) and
 *            the buffer goes back to the ring when its SEND has completed.
 *            The recv is re-armed when its CQE lacks IORING_CQE_F_MORE
 *            (-ENOBUFS included: re-armed once buffers come back).
 *            LIMITATION: no backpressure.  The multishot recv is never
 *            paused, so a peer that writes more than QLEN chunks (16 x up
 *            to 4 KiB) ahead of reading overflows the queue; the server then
 *            gives up on it (start_close), and a check with a 100 KB blast
 *            hung instead of seeing EOF.  Fine for bench/echo (one 512-byte
 *            message in flight per connection); checked to echo exactly
 *            in lock-step up to 60 KB per message.
 *
 * Both: every SQE prepared while draining CQEs goes out in the one
 * io_uring_submit_and_wait(ring, 1) per loop iteration, so a round trip
 * costs the server a share of one io_uring_enter(2) (plus a setsockopt per
 * accepted connection).  The ring is set up with IORING_SETUP_SINGLE_ISSUER |
 * IORING_SETUP_DEFER_TASKRUN, else IORING_SETUP_COOP_TASKRUN, else no flags;
 * the one used is printed on stderr ("echo_uring: mode=... setup=...").
 * ECHO_URING_POLLFIRST=1 in the environment sets IORING_RECVSEND_POLL_FIRST
 * on the recvs (skip the first, usually futile, recv attempt).
 *
 * liburing 2.3 (Debian 12) has no io_uring_setup_buf_ring(): the buffer
 * ring is page-aligned memory of our own, registered with
 * io_uring_register_buf_ring() and filled with io_uring_buf_ring_add/advance.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF   4096
#define NBUFS 1024 /* provided buffers (power of 2) */
#define BGID  0
#define QLEN  16 /* chunks queued for sending per connection (multishot) */

enum { OP_ACCEPT = 0, OP_RECV = 1, OP_SEND = 2 };

typedef struct conn {
    int fd;
    int inflight;   /* SQEs of this connection not yet completed */
    int closing;    /* EOF or error seen: free when inflight is 0 */
    int recv_armed; /* multishot: the multishot recv is live */
    int starved;    /* multishot: recv ended on -ENOBUFS */
    struct conn *next_starved;
    /* single: buf[off, len) still to send.  multishot: the queue of
     * received chunks (buffer ids and lengths), q[qh] being sent from
     * offset off. */
    size_t off, len;
    unsigned qh, qn;
    unsigned short qbid[QLEN];
    unsigned qlen[QLEN];
    char buf[]; /* single: BUF bytes */
} conn;

static struct io_uring ring;
static int multishot;
static unsigned recv_ioprio;
static struct io_uring_buf_ring *br;
static char *bufs; /* NBUFS * BUF */
static conn *starved_list;

static struct io_uring_sqe *sqe_get(void)
{
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    if (!s) {
        io_uring_submit(&ring);
        s = io_uring_get_sqe(&ring);
        if (!s) {
            fprintf(stderr, "echo_uring: no SQE\n");
            exit(1);
        }
    }
    return s;
}

static void *tag(conn *c, int op)
{
    return (void *)((uintptr_t)c | (uintptr_t)op);
}

static void arm_accept(int l)
{
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_multishot_accept(s, l, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data(s, tag(NULL, OP_ACCEPT));
}

static void arm_recv(conn *c)
{
    struct io_uring_sqe *s = sqe_get();
    if (multishot) {
        io_uring_prep_recv_multishot(s, c->fd, NULL, 0, 0);
        s->flags |= IOSQE_BUFFER_SELECT;
        s->buf_group = BGID;
        c->recv_armed = 1;
    } else {
        io_uring_prep_recv(s, c->fd, c->buf, BUF, 0);
    }
    s->ioprio |= recv_ioprio;
    io_uring_sqe_set_data(s, tag(c, OP_RECV));
    c->inflight++;
}

static void arm_send(conn *c, const char *p, size_t n)
{
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_send(s, c->fd, p, n, MSG_NOSIGNAL);
    io_uring_sqe_set_data(s, tag(c, OP_SEND));
    c->inflight++;
}

static void ms_drop_queue(conn *c);
static void maybe_free(conn *c);

static void buf_return(unsigned short bid)
{
    io_uring_buf_ring_add(br, bufs + (size_t)bid * BUF, BUF, bid,
                          io_uring_buf_ring_mask(NBUFS), 0);
    io_uring_buf_ring_advance(br, 1);
    /* Connections whose recv ended on -ENOBUFS get it back. */
    while (starved_list) {
        conn *c = starved_list;
        starved_list = c->next_starved;
        c->starved = 0;
        if (!c->closing) {
            arm_recv(c);
        } else { /* closed while it waited for buffers: free it now */
            if (c->inflight == 0)
                ms_drop_queue(c);
            maybe_free(c);
        }
    }
}

static void maybe_free(conn *c)
{
    if (c->closing && c->inflight == 0 && !c->starved) {
        close(c->fd);
        free(c);
    }
}

static void start_close(conn *c)
{
    if (!c->closing) {
        c->closing = 1;
        /* Ends a live multishot recv (it completes without F_MORE). */
        if (c->recv_armed)
            shutdown(c->fd, SHUT_RDWR);
    }
}

static void on_accept(int l, struct io_uring_cqe *cqe)
{
    if (!(cqe->flags & IORING_CQE_F_MORE))
        arm_accept(l);
    if (cqe->res < 0)
        return;
    int fd = cqe->res, one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *c = calloc(1, sizeof *c + (multishot ? 0 : BUF));
    if (!c) {
        close(fd);
        return;
    }
    c->fd = fd;
    arm_recv(c);
}

/* ---- single ---------------------------------------------------------- */

static void single_cqe(conn *c, int op, int res)
{
    c->inflight--;
    if (op == OP_RECV) {
        if (res == -EAGAIN || res == -EINTR) {
            arm_recv(c);
            return;
        }
        if (res <= 0) {
            start_close(c);
            maybe_free(c);
            return;
        }
        c->off = 0;
        c->len = (size_t)res;
        arm_send(c, c->buf, c->len);
        return;
    }
    /* OP_SEND */
    if (res < 0 && res != -EAGAIN && res != -EINTR) {
        start_close(c);
        maybe_free(c);
        return;
    }
    if (res > 0)
        c->off += (size_t)res;
    if (c->off < c->len)
        arm_send(c, c->buf + c->off, c->len - c->off);
    else
        arm_recv(c);
}

/* ---- multishot ------------------------------------------------------- */

static void ms_send_head(conn *c)
{
    unsigned bid = c->qbid[c->qh];
    arm_send(c, bufs + (size_t)bid * BUF + c->off, c->qlen[c->qh] - c->off);
}

static void ms_drop_queue(conn *c)
{
    while (c->qn) {
        buf_return(c->qbid[c->qh]);
        c->qh = (c->qh + 1) % QLEN;
        c->qn--;
    }
}

static void ms_recv(conn *c, struct io_uring_cqe *cqe)
{
    int res = cqe->res;
    int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    if (!more) {
        c->inflight--;
        c->recv_armed = 0;
    }
    if (res > 0) {
        unsigned short bid =
            (unsigned short)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        if (c->closing || c->qn == QLEN) {
            buf_return(bid);
            start_close(c); /* queue overflow: give up on the peer */
        } else {
            unsigned t = (c->qh + c->qn) % QLEN;
            c->qbid[t] = bid;
            c->qlen[t] = (unsigned)res;
            if (c->qn++ == 0) {
                c->off = 0;
                ms_send_head(c);
            }
        }
        if (!more && !c->closing)
            arm_recv(c);
    } else if (res == -ENOBUFS && !c->closing) {
        c->starved = 1;
        c->next_starved = starved_list;
        starved_list = c;
    } else if ((res == -EAGAIN || res == -EINTR) && !c->closing && !more) {
        arm_recv(c);
    } else if (!more) {
        start_close(c); /* EOF or error */
    }
    if (c->closing && c->inflight == 0)
        ms_drop_queue(c);
    maybe_free(c);
}

static void ms_send(conn *c, int res)
{
    c->inflight--;
    if (res < 0 && res != -EAGAIN && res != -EINTR)
        start_close(c);
    if (c->closing) {
        if (c->inflight == 0)
            ms_drop_queue(c);
        maybe_free(c);
        return;
    }
    if (res > 0)
        c->off += (size_t)res;
    if (c->off < c->qlen[c->qh]) {
        ms_send_head(c);
        return;
    }
    buf_return(c->qbid[c->qh]);
    c->qh = (c->qh + 1) % QLEN;
    c->qn--;
    c->off = 0;
    if (c->qn)
        ms_send_head(c);
}

static int setup_buf_ring(void)
{
    size_t sz = NBUFS * sizeof(struct io_uring_buf);
    void *mem = mmap(NULL, sz, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return -errno;
    br = mem;
    struct io_uring_buf_reg reg = {
        .ring_addr = (uintptr_t)mem, .ring_entries = NBUFS, .bgid = BGID};
    int r = io_uring_register_buf_ring(&ring, &reg, 0);
    if (r != 0)
        return r;
    if (posix_memalign((void **)&bufs, 4096, (size_t)NBUFS * BUF) != 0)
        return -ENOMEM;
    io_uring_buf_ring_init(br);
    for (unsigned i = 0; i < NBUFS; i++)
        io_uring_buf_ring_add(br, bufs + (size_t)i * BUF, BUF,
                              (unsigned short)i, io_uring_buf_ring_mask(NBUFS),
                              (int)i);
    io_uring_buf_ring_advance(br, NBUFS);
    return 0;
}

static const char *setup_ring(void)
{
    static const struct {
        unsigned flags;
        const char *name;
    } tries[] = {
        {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
         "SINGLE_ISSUER|DEFER_TASKRUN"},
        {IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN"},
        {0, "none"},
    };
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = tries[i].flags | IORING_SETUP_CQSIZE;
        p.cq_entries = 16384;
        if (io_uring_queue_init_params(4096, &ring, &p) == 0)
            return tries[i].name;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2 ||
        (strcmp(argv[1], "single") && strcmp(argv[1], "multishot"))) {
        fprintf(stderr, "usage: echo_uring single|multishot\n");
        return 2;
    }
    multishot = strcmp(argv[1], "multishot") == 0;
    const char *pf = getenv("ECHO_URING_POLLFIRST");
    if (pf && *pf == '1')
        recv_ioprio = IORING_RECVSEND_POLL_FIRST;
    signal(SIGPIPE, SIG_IGN);

    const char *how = setup_ring();
    if (!how) {
        fprintf(stderr, "echo_uring: io_uring_queue_init failed\n");
        return 1;
    }
    if (multishot) {
        int r = setup_buf_ring();
        if (r != 0) {
            fprintf(stderr, "echo_uring: buffer ring: %s\n", strerror(-r));
            return 1;
        }
    }
    fprintf(stderr, "echo_uring: mode=%s setup=%s pollfirst=%d\n", argv[1], how,
            recv_ioprio != 0);

    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int one = 1;
    if (l < 0 ||
        setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 1024) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) != 0) {
        perror("echo_uring");
        return 1;
    }
    printf("%u\n", (unsigned)ntohs(a.sin_port));
    fflush(stdout);

    arm_accept(l);
    for (;;) {
        int r = io_uring_submit_and_wait(&ring, 1);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
            fprintf(stderr, "echo_uring: submit_and_wait: %s\n", strerror(-r));
            return 1;
        }
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            n++;
            uintptr_t ud = (uintptr_t)io_uring_cqe_get_data(cqe);
            int op = (int)(ud & 3);
            conn *c = (conn *)(ud & ~(uintptr_t)3);
            if (op == OP_ACCEPT)
                on_accept(l, cqe);
            else if (!multishot)
                single_cqe(c, op, cqe->res);
            else if (op == OP_RECV)
                ms_recv(c, cqe);
            else
                ms_send(c, cqe->res);
        }
        io_uring_cq_advance(&ring, n);
    }
}
