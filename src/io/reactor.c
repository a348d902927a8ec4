/*
 * reactor.c - the I/O reactor of a runtime (driver layer, see io.h): per-fd
 * records and their generations, the poll hook the scheduler calls (through
 * the backend table: epoll.c), and the leaf futures for readiness waits,
 * reads, writes, accepts and datagrams.
 *
 * Every operation is one leaf future (io_op) whose poll tries the system
 * call and, on EAGAIN, clears the record's readiness bit for its direction,
 * makes sure the fd is registered, links itself on the record's waiter list
 * and returns pending.  An event sets the bit and wakes each waiter whose
 * direction it covers; the waiter's next poll tries again.  A cancelled op
 * unlinks itself; it has taken nothing (a read takes bytes only in the
 * poll that completes it), so reads, accepts and receives are cancel-safe.
 *
 * The blocking forms (weft_read, ...) run the same future on the caller's
 * stack through weft__await_leaf: a wait allocates nothing.
 *
 * Wake order (weft.h): an op's wait gets a number from io->wait_seq when
 * it begins (it joins rec->waiters).  While the backend's wait runs, the
 * events only collect the ops they make ready (fd_event, io->woken, linked
 * through the ops themselves: nothing allocated); when it returns,
 * weft__io_poll wakes them in the order of their numbers.  The list is
 * sorted only when the ops came in another order (woken_sorted), so the
 * common case costs one comparison per wake.  The kernels' own orders
 * differ (epoll: the order the fds became ready; io_uring: the order its
 * polls completed, a poll armed on a ready fd at once), and the model of
 * tests/model_core.c (m_io_harvest) predicts this one on both.
 *
 * Lists: rec->waiters holds the parked ops of that fd (any direction);
 * io->waiting counts them (and signal waits): the deadlock test's wake
 * sources.  io->woken holds, during a poll only, the ops it made ready.
 * Only the runtime's thread touches any of it.
 */
#include "io/io.h"
#include "time/time.h"
#include "util/num.h"
#include "util/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Bytes per blocking-pool job on a regular file. */
#define FILE_CHUNK ((size_t)256 * 1024)

/* ---- the op future (declared first: records wake it) ------------------- */

enum {
    OP_FDWAIT,   /* weft_fd_wait */
    OP_DIRWAIT,  /* weft__io_wait: readiness after an EAGAIN of the caller */
    OP_READ,     /* weft_read */
    OP_WRITE,    /* weft_write: write all */
    OP_ACCEPT,   /* weft_tcp_accept */
    OP_RECVFROM, /* weft_recvfrom */
    OP_SENDTO    /* weft_sendto */
};

typedef struct io_op {
    weft_future base;
    weft__link link; /* in rec->waiters while parked */
    weft__waker *waker;
    uint64_t seq;             /* when its wait began (io->wait_seq) */
    struct io_op *next_woken; /* on io->woken */
    weft__timer timer;        /* when a timeout applies */
    uint64_t deadline;        /* still relative if relative is set */
    int fd;
    int kind;         /* OP_* */
    int events;       /* OP_FDWAIT: the mask asked for */
    uint32_t gen;     /* the record's generation at the first poll */
    uint8_t dir;      /* direction waited for (WEFT__R, WEFT__W, both) */
    uint8_t parked;   /* on rec->waiters */
    uint8_t closed;   /* woken by weft_close / weft_fd_forget */
    uint8_t yielded;  /* the budget made it yield once */
    uint8_t checked;  /* OP_FDWAIT / OP_DIRWAIT: first check done */
    uint8_t has_to;   /* a timeout applies */
    uint8_t relative; /* deadline is still relative */
    uint8_t began;    /* polled once (gen recorded) */
    uint8_t lazy;     /* weft_read: may park untried after a short read */
    uint8_t queued;   /* on io->woken */
    char *buf;
    size_t len, done;
    struct sockaddr_storage *addr;
    const struct sockaddr *to;
    socklen_t tolen;
    int accepted; /* OP_ACCEPT: the new fd */
} io_op;

static void op_closed(io_op *op)
{
    op->parked = 0;
    op->closed = 1;
    if (op->waker)
        weft__wake(op->waker);
}

/* ---- records ------------------------------------------------------------ */

static uint64_t make_token(int fd, uint32_t gen)
{
    return (uint64_t)(gen & WEFT__IO_GEN_MASK) << 32 | (uint32_t)fd;
}

/* The record of fd, or NULL (create: allocate what is missing, errno
 * ENOMEM on failure). */
static weft__iofd *record(weft__io *io, int fd, int create)
{
    size_t c = (size_t)fd / WEFT__IO_CHUNK;
    if (c >= io->nchunks) {
        if (!create)
            return NULL;
        size_t n = io->nchunks ? io->nchunks : 4;
        while (n <= c)
            n *= 2;
        weft__iofd **p = weft__realloc(io->chunks, n * sizeof *p);
        if (!p) {
            errno = ENOMEM;
            return NULL;
        }
        memset(p + io->nchunks, 0, (n - io->nchunks) * sizeof *p);
        io->chunks = p;
        io->nchunks = n;
    }
    if (!io->chunks[c]) {
        if (!create)
            return NULL;
        weft__iofd *chunk = weft__calloc(WEFT__IO_CHUNK, sizeof *chunk);
        if (!chunk) {
            errno = ENOMEM;
            return NULL;
        }
        for (size_t i = 0; i < WEFT__IO_CHUNK; i++)
            weft__list_init(&chunk[i].waiters);
        io->chunks[c] = chunk;
    }
    return &io->chunks[c][(size_t)fd % WEFT__IO_CHUNK];
}

/* ---- the backend: WEFT_IO ----------------------------------------------- */

static int noted;        /* the note on stderr was written (once a process) */
static int uring_denied; /* io_uring_setup met EPERM/EACCES/ENOSYS: skip it */

/* Writes "weft: WEFT_IO=<value><rest>; using epoll" (once a process). */
static void note(const char *value, const char *rest)
{
    if (__atomic_exchange_n(&noted, 1, __ATOMIC_RELAXED))
        return;
    fprintf(stderr, "weft: WEFT_IO=%s%s; using epoll\n", value, rest);
}

/* The backend WEFT_IO asks for, if this build has it; else epoll, with a
 * note.  *asked gets the value when it names io_uring. */
static const weft__io_backend *choose(const char **asked)
{
    const char *v = getenv("WEFT_IO");
    *asked = NULL;
    if (!v || !*v || strcmp(v, "epoll") == 0)
        return &weft__io_epoll;
    if (strcmp(v, "uring") != 0 && strcmp(v, "io_uring") != 0) {
        note(v, " not understood (epoll or uring)");
        return &weft__io_epoll;
    }
    *asked = v;
    const char *why = NULL;
    const weft__io_backend *be = weft__io_uring_backend(&why);
    if (!be) {
        char rest[160];
        snprintf(rest, sizeof rest, ": %s", why);
        note(v, rest);
        return &weft__io_epoll;
    }
    if (__atomic_load_n(&uring_denied, __ATOMIC_RELAXED))
        return &weft__io_epoll; /* noted when it was denied */
    return be;
}

weft__io *weft__io_get(weft__rt *rt)
{
    if (rt->io)
        return rt->io;
    weft__io *io = weft__calloc(1, sizeof *io);
    if (!io) {
        errno = ENOMEM;
        return NULL;
    }
    const char *asked;
    io->be = choose(&asked);
    io->wake_fd = rt->inbox.efd;
    int rc = io->be->init(io, rt->inbox.efd);
    if (rc && io->be != &weft__io_epoll) {
        /* io_uring refused (an old kernel, a seccomp filter, a container
         * policy, io_uring_disabled, RLIMIT_MEMLOCK): epoll does the same
         * work, as monoio's and Seastar's fallbacks. */
        if (rc == -EPERM || rc == -EACCES || rc == -ENOSYS)
            __atomic_store_n(&uring_denied, 1, __ATOMIC_RELAXED);
        char rest[160];
        snprintf(rest, sizeof rest, ": io_uring could not be set up (%s)",
                 strerror(-rc));
        note(asked, rest);
        io->be = &weft__io_epoll;
        rc = io->be->init(io, rt->inbox.efd);
    }
    if (rc) {
        weft__free(io);
        errno = -rc;
        return NULL;
    }
    io->spare_fd = -1;
    io->sig_slot = -1;
    io->woken_sorted = 1;
    weft__list_init(&io->sig_waiters);
    rt->io = io;
    return io;
}

/* Wakes the waiters of rec with -EBADF and resets it (no close). */
static void reset(weft__io *io, int fd, weft__iofd *rec)
{
    while (!weft__list_empty(&rec->waiters)) {
        weft__link *l = rec->waiters.next;
        weft__list_remove(l);
        io->waiting--;
        op_closed(weft__container(l, io_op, link));
    }
    /* Withdrawn ones too: a withdrawal that found no free submission
     * entry left its poll in place (a second one finds nothing, harmless,
     * since no other poll is ever armed while one is outstanding). */
    if (rec->armed && io->be->disarm)
        io->be->disarm(io, make_token(fd, rec->gen), rec->armed);
    rec->armed = 0;
    rec->withdrawn = 0;
    if (rec->registered)
        io->be->del(io, fd);
    rec->gen++;
    rec->kind = WEFT__FD_UNKNOWN;
    rec->ready = 0;
    rec->registered = 0;
    rec->owned = 0;
    rec->tcp = 0;
    rec->hup = 0;
}

weft__iofd *weft__io_fd(weft__io *io, int fd)
{
    if (fd < 0) {
        errno = EBADF;
        return NULL;
    }
    weft__iofd *rec = record(io, fd, 1);
    if (!rec || rec->kind != WEFT__FD_UNKNOWN)
        return rec;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return NULL;
    int kind = S_ISSOCK(st.st_mode)                         ? WEFT__FD_SOCKET
               : S_ISFIFO(st.st_mode)                       ? WEFT__FD_FIFO
               : S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) ? WEFT__FD_FILE
                                                            : WEFT__FD_OTHER;
    if (kind != WEFT__FD_FILE) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 ||
            (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0))
            return NULL;
    }
    rec->kind = (uint8_t)kind;
    rec->ready = 0;
    rec->hup = 0;
    rec->tcp = 0;
    return rec;
}

weft__iofd *weft__io_fd_new(weft__io *io, int fd, int kind)
{
    weft__iofd *rec = record(io, fd, 1);
    if (!rec)
        return NULL;
    if (rec->kind != WEFT__FD_UNKNOWN) {
        /* The number was closed with close(2) behind weft's back: the old
         * registration died with its file (or lives on in a copy of it,
         * under the old generation, whose events are ignored). */
        rec->registered = 0;
        reset(io, fd, rec);
    }
    rec->kind = (uint8_t)kind;
    rec->owned = 1;
    rec->tcp = 0;
    return rec;
}

void weft__io_forget(weft__io *io, int fd)
{
    weft__iofd *rec = fd >= 0 ? record(io, fd, 0) : NULL;
    if (rec && rec->kind != WEFT__FD_UNKNOWN)
        reset(io, fd, rec);
}

int weft__io_close(weft__io *io, int fd)
{
    if (io)
        weft__io_forget(io, fd);
    if (close(fd) != 0 && errno != EINTR)
        return -errno;
    return 0;
}

/* Registers rec once for both directions, edge-triggered.  0, or -errno
 * (EPERM: the fd cannot be polled, e.g. a regular file). */
static int ensure_registered(weft__io *io, int fd, weft__iofd *rec)
{
    if (rec->registered)
        return 0;
    int rc = io->be->add(io, fd, make_token(fd, rec->gen));
    if (rc)
        return rc;
    rec->registered = 1;
    return 0;
}

/* ---- the poll hook ------------------------------------------------------ */

static void fd_event(weft__io *io, weft__iofd *rec, unsigned bits);
static int arm_dirs(weft__io *io, int fd, weft__iofd *rec, unsigned dirs,
                    int persist);

/* An interest ended (done bits) without an event of its direction, lost,
 * while tasks wait in it.  Withdrawn ones (withdrawn: a waiter left, and
 * others came while the withdrawal's end was pending, see on_event): ask
 * again as a wait would.  Others: with io_uring, the peer's shutdown
 * (POLLRDHUP) ends a poll for writing (see uring.c): ask again, for the
 * next change, as a plain re-arm would end at once on the same POLLRDHUP,
 * again and again.  If even that fails, the waiters are woken to try their
 * call again (and park, or fail, on their own). */
static void rearm_lost(weft__io *io, int fd, weft__iofd *rec, unsigned lost,
                       unsigned withdrawn)
{
    unsigned want = 0;
    for (weft__link *l = rec->waiters.next; l != &rec->waiters; l = l->next)
        want |= weft__container(l, io_op, link)->dir;
    lost &= want;
    unsigned again = lost & withdrawn, next = lost & ~withdrawn;
    if (again && arm_dirs(io, fd, rec, again, 0) != 0)
        fd_event(io, rec, again);
    if (next && arm_dirs(io, fd, rec, next, 1) != 0)
        fd_event(io, rec, next);
}

/* A backend's event: the wake fd, or an fd's readiness (done: the
 * one-shot interests it ended). */
static void on_event(weft__io *io, uint64_t tok, unsigned bits, unsigned done)
{
    if (tok == WEFT__IO_WAKE_TOKEN) {
        uint64_t v;
        ssize_t r = read(io->wake_fd, &v, sizeof v); /* reset the counter */
        (void)r;
        return;
    }
    int fd = (int)(uint32_t)tok;
    weft__iofd *rec = record(io, fd, 0);
    /* Events of an fd closed (or forgotten) since are dropped. */
    if (!rec || (rec->gen & WEFT__IO_GEN_MASK) != (uint32_t)(tok >> 32))
        return;
    /* An interest stays armed until its end is harvested, here, even
     * after it was withdrawn: until then no other is armed beside it (see
     * uring.c).  A withdrawn one's end may carry an event it had before
     * (harmless: a spurious wake), or none: its direction's new waiters,
     * if any came meanwhile, get a new interest now. */
    unsigned lost = done & rec->armed & ~bits;
    unsigned withdrawn = done & rec->withdrawn;
    rec->armed &= (uint8_t)~done;
    rec->withdrawn &= (uint8_t)~done;
    if (!rec->registered)
        return;
    if (bits) /* a withdrawn poll's end (no event) tells nothing */
        rec->hup = (bits & WEFT__TRY) != 0;
    fd_event(io, rec, bits);
    if (lost)
        rearm_lost(io, fd, rec, lost, withdrawn);
}

/* The ops on io->woken, merged in the order of their numbers (a and b
 * each in that order). */
static io_op *merge_woken(io_op *a, io_op *b)
{
    io_op *head = NULL, **tail = &head;
    while (a && b) {
        io_op **least = b->seq < a->seq ? &b : &a;
        *tail = *least;
        tail = &(*least)->next_woken;
        *least = (*least)->next_woken;
    }
    *tail = a ? a : b;
    return head;
}

/* Sorts a list of woken ops by their numbers (a merge sort: no memory). */
static io_op *sort_woken(io_op *l)
{
    if (!l || !l->next_woken)
        return l;
    io_op *mid = l, *fast = l->next_woken;
    while (fast && fast->next_woken) {
        mid = mid->next_woken;
        fast = fast->next_woken->next_woken;
    }
    io_op *b = mid->next_woken;
    mid->next_woken = NULL;
    return merge_woken(sort_woken(l), sort_woken(b));
}

int weft__io_poll(weft__rt *rt, uint64_t deadline_ns)
{
    weft__io *io = rt->io;
    int n = io->be->wait(io, deadline_ns, on_event);
    /* Wake order: the ops this poll found ready, in the order their waits
     * began, whatever order the backend reported their fds in. */
    io_op *op = io->woken_sorted ? io->woken : sort_woken(io->woken);
    io->woken = io->woken_last = NULL;
    io->woken_sorted = 1;
    while (op) {
        io_op *next = op->next_woken;
        op->next_woken = NULL;
        op->queued = 0;
        if (op->waker)
            weft__wake(op->waker);
        op = next;
    }
    if (!weft__list_empty(&io->sig_waiters))
        weft__sig_dispatch(rt, io);
    return n;
}

int weft__io_waiting(const weft__rt *rt)
{
    return rt->io && rt->io->waiting > 0;
}

void weft__io_destroy(weft__rt *rt)
{
    weft__io *io = rt->io;
    if (!io)
        return;
    weft__sig_teardown(io);
    for (size_t i = 0; i < io->nchunks; i++)
        weft__free(io->chunks[i]);
    weft__free(io->chunks);
    if (io->spare_fd >= 0)
        close(io->spare_fd);
    io->be->fini(io);
    weft__free(io);
    rt->io = NULL;
}

/* ---- budget ------------------------------------------------------------- */

/* 1 if the running task may complete one more ready operation now; 0 if
 * it has used its budget and must yield first (the budget is then
 * refilled for when it resumes). */
static int budget_take(weft__rt *rt, weft__io *io)
{
    const void *t = rt->current->task;
    if (io->budget_task != t) {
        io->budget_task = t;
        io->budget = WEFT__IO_BUDGET;
    }
    if (io->budget == 0) {
        io->budget = WEFT__IO_BUDGET;
        return 0;
    }
    io->budget--;
    return 1;
}

void weft__io_budget_reset(weft__rt *rt)
{
    if (rt->io) {
        rt->io->budget_task = rt->current->task;
        rt->io->budget = WEFT__IO_BUDGET;
    }
}

/* ---- the op future: system calls ---------------------------------------- */

/* An event of rec: its waiters whose direction it covers are collected on
 * io->woken, which weft__io_poll wakes when the backend's wait is over.
 * Only during a poll: no task runs, so none of them leaves rec->waiters
 * (or its stack) before it is woken. */
static void fd_event(weft__io *io, weft__iofd *rec, unsigned bits)
{
    rec->ready |= (uint8_t)bits;
    for (weft__link *l = rec->waiters.next; l != &rec->waiters; l = l->next) {
        io_op *op = weft__container(l, io_op, link);
        if (!(op->dir & bits) || !op->waker || op->queued)
            continue;
        op->queued = 1;
        if (io->woken_last) {
            io->woken_last->next_woken = op;
            if (op->seq < io->woken_last->seq)
                io->woken_sorted = 0;
        } else {
            io->woken = op;
        }
        io->woken_last = op;
    }
}

/* Backends with one-shot interest (io_uring): one outstanding for each
 * direction of dirs; persist: one that reports changes until disarmed (see
 * weft__io_backend.arm).  Also taken where a level that stays true would
 * end every one-shot poll at once while the call meets EAGAIN all the
 * same, again and again: for writing once the fd has reported a hang-up
 * (WEFT__TRY, sticky: the peer's shutdown, POLLRDHUP, stays); for reading
 * while its last event reported a hang-up or an error (rec->hup: a UDP
 * socket's queued ICMP error, POLLERR under IP_RECVERR, or its own
 * shutdown(SHUT_RD)), not for good: an error reported once and gone
 * (sk_err) leaves later waits on one-shot polls, which end with their
 * event where a persistent one costs a withdrawal.  0 or -errno. */
static int arm_dirs(weft__io *io, int fd, weft__iofd *rec, unsigned dirs,
                    int persist)
{
    if (!io->be->arm)
        return 0;
    for (unsigned d = WEFT__R; d <= WEFT__W; d <<= 1) {
        if (!(dirs & d) || (rec->armed & d))
            continue;
        int p = persist ||
                (d == WEFT__W ? (rec->ready & WEFT__TRY) != 0 : rec->hup != 0);
        int rc = io->be->arm(io, fd, make_token(fd, rec->gen), d, p);
        if (rc)
            return rc;
        rec->armed |= (uint8_t)d;
    }
    return 0;
}

/* op left rec's waiters: withdraws the interest in the directions no
 * other waiter wants, so that none outlives its wait.  It stays in
 * rec->armed (withdrawn) until its end is harvested (on_event). */
static void disarm_unwanted(weft__io *io, const io_op *op)
{
    weft__iofd *rec = record(io, op->fd, 0);
    if (!rec || rec->gen != op->gen ||
        !(rec->armed & ~rec->withdrawn & op->dir))
        return; /* reset (weft_close) withdrew it, or an event ended it,
                 * or it is being withdrawn */
    unsigned want = 0;
    for (weft__link *l = rec->waiters.next; l != &rec->waiters; l = l->next)
        want |= weft__container(l, io_op, link)->dir;
    unsigned drop = rec->armed & ~rec->withdrawn & op->dir & ~want;
    if (drop) {
        io->be->disarm(io, make_token(op->fd, rec->gen), drop);
        rec->withdrawn |= (uint8_t)drop;
    }
}

static void op_unpark(weft__rt *rt, io_op *op)
{
    WEFT_ASSERT(!op->queued); /* io->woken lives only during a poll */
    if (op->parked) {
        weft__list_remove(&op->link);
        op->parked = 0;
        rt->io->waiting--;
        if (rt->io->be->disarm)
            disarm_unwanted(rt->io, op);
    }
    if (op->has_to)
        weft__timer_cancel(rt, &op->timer);
}

static int op_finish(weft__rt *rt, io_op *op, int status)
{
    if (rt->io)
        op_unpark(rt, op);
    op->base.status = status;
    op->base.result = (void *)(intptr_t)status;
    return 1;
}

/* Writes to a pipe with SIGPIPE blocked in this thread; a SIGPIPE the write
 * raised is consumed, so none is ever delivered for it. */
static ssize_t write_fifo(int fd, const void *buf, size_t len)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    ssize_t n = write(fd, buf, len);
    int err = errno;
    if (n < 0 && err == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = err;
    return n;
}

/* Out of fds: accept the pending connection on the spare fd and close it,
 * so that the listener does not stay readable and spin (libuv's trick). */
static void accept_shed(weft__io *io, int fd)
{
    if (io->spare_fd < 0)
        return;
    close(io->spare_fd);
    int c = accept(fd, NULL, NULL);
    if (c >= 0)
        close(c);
    io->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* The level check of weft_fd_wait: the ready subset of op->events now. */
static int level_check(io_op *op)
{
    struct pollfd p = {.fd = op->fd};
    if (op->events & WEFT__R)
        p.events |= POLLIN | POLLRDHUP;
    if (op->events & WEFT__W)
        p.events |= POLLOUT;
    int r;
    while ((r = poll(&p, 1, 0)) < 0 && errno == EINTR) {
    }
    if (r < 0)
        return -errno;
    if (p.revents & POLLNVAL)
        return -EBADF;
    int ready = 0;
    if (p.revents & (POLLERR | POLLHUP))
        ready = op->events;
    if (p.revents & (POLLIN | POLLRDHUP))
        ready |= WEFT__R;
    if (p.revents & POLLOUT)
        ready |= WEFT__W;
    return ready & op->events;
}

/* One attempt of op's system call: >= 0 or -errno when done; -EAGAIN with
 * op->dir set when it must wait for readiness. */
static int op_attempt(weft__io *io, io_op *op, const weft__iofd *rec)
{
    int fd = op->fd;
    ssize_t n;
    for (;;) {
        switch (op->kind) {
        case OP_FDWAIT: {
            int ready = op->checked ? rec->ready & op->events : level_check(op);
            op->checked = 1;
            if (ready != 0)
                return ready;
            op->dir = (uint8_t)op->events;
            return -EAGAIN;
        }
        case OP_DIRWAIT:
            if (op->checked)
                return 0;
            op->checked = 1;
            return -EAGAIN; /* the caller has just met EAGAIN */
        case OP_READ:
            if (rec->kind == WEFT__FD_SOCKET)
                n = recv(fd, op->buf, op->len, MSG_DONTWAIT);
            else
                n = read(fd, op->buf, op->len);
            if (n >= 0)
                return (int)n;
            op->dir = WEFT__R;
            break;
        case OP_RECVFROM: {
            socklen_t sl = sizeof(struct sockaddr_storage);
            n = recvfrom(fd, op->buf, op->len, MSG_DONTWAIT,
                         (struct sockaddr *)op->addr, op->addr ? &sl : NULL);
            if (n >= 0)
                return (int)n;
            op->dir = WEFT__R;
            break;
        }
        case OP_SENDTO:
            n = sendto(fd, op->buf, op->len, MSG_DONTWAIT | MSG_NOSIGNAL,
                       op->to, op->tolen);
            if (n >= 0)
                return (int)n;
            op->dir = WEFT__W;
            break;
        case OP_WRITE:
            while (op->done < op->len) {
                const char *p = op->buf + op->done;
                size_t left = op->len - op->done;
                if (rec->kind == WEFT__FD_SOCKET)
                    n = send(fd, p, left, MSG_DONTWAIT | MSG_NOSIGNAL);
                else if (rec->kind == WEFT__FD_FIFO)
                    n = write_fifo(fd, p, left);
                else
                    n = write(fd, p, left);
                if (n < 0)
                    break;
                op->done += (size_t)n;
            }
            if (op->done == op->len)
                return op->len > INT_MAX ? INT_MAX : (int)op->len;
            op->dir = WEFT__W;
            break;
        case OP_ACCEPT: {
            socklen_t sl = sizeof(struct sockaddr_storage);
            int c = weft__accept4(fd, (struct sockaddr *)op->addr,
                                  op->addr ? &sl : NULL,
                                  SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c >= 0) {
                op->accepted = c;
                return 0;
            }
            if (errno == ECONNABORTED || errno == EPROTO)
                continue; /* gone before it was taken: the next one */
            if (errno == EMFILE || errno == ENFILE) {
                int err = errno;
                accept_shed(io, fd);
                return -err;
            }
            op->dir = WEFT__R;
            break;
        }
        default:
            return -EINVAL;
        }
        /* The system call failed. */
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        return -EAGAIN;
    }
}

/* ---- the op future: poll protocol --------------------------------------- */

/* 1 if fd is a TCP socket (asked once per record: SO_DOMAIN, SO_TYPE).  A
 * short read of one empties its receive queue: tcp_recvmsg copies until
 * len or an empty queue.  Not so for AF_UNIX streams, whose reads stop at
 * a message carrying fds or other credentials. */
static int is_tcp(weft__iofd *rec, int fd)
{
    if (rec->tcp == 0) {
        int dom = 0, type = 0;
        socklen_t dl = sizeof dom, tl = sizeof type;
        int ok = rec->kind == WEFT__FD_SOCKET &&
                 getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &dl) == 0 &&
                 getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
                 (dom == AF_INET || dom == AF_INET6) && type == SOCK_STREAM;
        rec->tcp = ok ? 1 : 2;
    }
    return rec->tcp == 1;
}

/* A connection was accepted: its fd gets a fresh record. */
static int accepted(weft__io *io, io_op *op)
{
    int c = op->accepted;
    int one = 1;
    op->accepted = -1;
    (void)setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!weft__io_fd_new(io, c, WEFT__FD_SOCKET)) {
        close(c);
        return -ENOMEM;
    }
    return c;
}

static int op_poll(weft_future *f, weft__rt *rt, weft__waker *w)
{
    io_op *op = (io_op *)f;
    weft__io *io = weft__io_get(rt);
    if (!io)
        return op_finish(rt, op, -errno);
    if (op->closed)
        return op_finish(rt, op, -EBADF);
    weft__iofd *rec = weft__io_fd(io, op->fd);
    if (!rec)
        return op_finish(rt, op, -errno);
    if (!op->began) {
        op->began = 1;
        op->gen = rec->gen;
        if (op->relative) {
            op->deadline = weft__add_sat(weft__clock_now(rt), op->deadline);
            op->relative = 0;
        }
    } else if (rec->gen != op->gen) {
        return op_finish(rt, op, -EBADF); /* closed and reused since */
    }
    if (op->parked) {
        if (!(rec->ready & op->dir)) {
            /* A spurious wake, or another waiter took the readiness. */
            if (op->has_to && op->timer.fired)
                return op_finish(rt, op, -ETIMEDOUT);
            int rc = arm_dirs(io, op->fd, rec, op->dir, 0);
            if (rc)
                return op_finish(rt, op, rc);
            op->waker = w;
            if (op->has_to)
                op->timer.waker = w;
            return 0;
        }
    } else if (!op->yielded && op->kind != OP_DIRWAIT && !budget_take(rt, io)) {
        /* Budget used up: behind every runnable task, then go on. */
        op->yielded = 1;
        weft__wake_behind(rt, w);
        return 0;
    }
    int r;
    if (op->lazy && !op->parked && op->len > 0 && rec->registered &&
        !(rec->ready & (WEFT__R | WEFT__TRY)) && rec->tcp == 1) {
        /* The last read left the queue empty and no event came since: the
         * recv(2) would meet EAGAIN.  Park at once (an event harvested
         * later sets WEFT__R and wakes this op, which then reads). */
        op->dir = WEFT__R;
        r = -EAGAIN;
    } else {
        r = op_attempt(io, op, rec);
    }
    if (r != -EAGAIN) {
        if (op->kind == OP_ACCEPT && r == 0)
            r = accepted(io, op);
        else if (op->kind == OP_READ && r > 0 && (size_t)r < op->len &&
                 !(rec->ready & WEFT__TRY) && is_tcp(rec, op->fd))
            /* The queue is empty now.  Not once the fd reported a hang-up,
             * an error or urgent data (TRY): the end, an error or data past
             * the mark is still there for the next read, and other waiters
             * woken by the same event must find it too (their wait goes on
             * only while the bit is clear, and no new edge comes). */
            rec->ready &= (uint8_t)~WEFT__R;
        return op_finish(rt, op, r);
    }
    rec->ready &= (uint8_t)~op->dir;
    int rc = ensure_registered(io, op->fd, rec);
    if (rc == -EPERM && op->kind == OP_FDWAIT)
        return op_finish(rt, op, op->events); /* not pollable: ready */
    if (rc)
        return op_finish(rt, op, rc);
    if (op->has_to && weft__clock_now(rt) >= op->deadline)
        return op_finish(rt, op, -ETIMEDOUT); /* readiness was checked */
    if (!op->parked) {
        weft__list_push(&rec->waiters, &op->link);
        op->parked = 1;
        op->seq = ++io->wait_seq; /* its wait begins: see weft__io_poll */
        io->waiting++;
    }
    rc = arm_dirs(io, op->fd, rec, op->dir, 0);
    if (rc)
        return op_finish(rt, op, rc);
    op->waker = w;
    if (op->has_to) {
        if (!weft__timer_armed(&op->timer)) {
            rc = weft__timer_arm(rt, &op->timer, op->deadline, w);
            if (rc)
                return op_finish(rt, op, rc);
        } else {
            op->timer.waker = w;
        }
    }
    weft__io_budget_reset(rt); /* it waits: a fresh budget when it runs */
    return 0;
}

static int op_cancel(weft_future *f, weft__rt *rt)
{
    io_op *op = (io_op *)f;
    if (rt->io)
        op_unpark(rt, op);
    return 0; /* nothing was taken: an accepted fd is kept in the same poll */
}

static void op_cleanup(weft_future *f)
{
    weft__rt *rt = weft__tls_rt;
    if (rt && rt->io)
        op_unpark(rt, (io_op *)f);
}

static void op_describe(const weft_future *f, weft__rt *rt, char *buf, size_t n)
{
    (void)rt;
    const io_op *op = (const io_op *)f;
    const char *dir = op->dir == (WEFT__R | WEFT__W) ? "reading or writing"
                      : op->dir == WEFT__W           ? "writing"
                                                     : "reading";
    snprintf(buf, n, "readiness of fd %d for %s", op->fd, dir);
}

static const weft__future_ops op_ops = {
    .describe = op_describe,
    .what = "I/O readiness",
    .poll = op_poll,
    .cancel = op_cancel,
    .cleanup = op_cleanup,
};

static void op_init(io_op *op, int kind, int fd)
{
    memset(op, 0, sizeof *op);
    op->base.ops = &op_ops;
    op->base.magic = WEFT__FUTURE_MAGIC;
    op->kind = kind;
    op->fd = fd;
    op->accepted = -1;
    weft__list_init(&op->link);
    weft__timer_init(&op->timer);
}

/* Runs op (on the caller's stack) to its end.  [task] */
static int op_run(weft__rt *rt, io_op *op)
{
    int rc = weft__await_leaf(rt, &op->base);
    op_cleanup(&op->base);
    return rc;
}

static io_op *op_new(int kind, int fd)
{
    io_op *op = weft__malloc(sizeof *op);
    if (!op) {
        errno = ENOMEM;
        return NULL;
    }
    op_init(op, kind, fd);
    return op;
}

/* ---- regular files: the blocking pool ----------------------------------- */

typedef struct file_job {
    int fd;
    int write;
    char *data;
    size_t len;
    size_t n; /* bytes read or written */
    int err;
} file_job;

static void file_job_free(void *p)
{
    file_job *j = p;
    weft__free(j->data);
    weft__free(j);
}

static void *file_job_run(void *p)
{
    file_job *j = p;
    while (j->write ? j->n < j->len : j->n == 0) {
        ssize_t r = j->write ? write(j->fd, j->data + j->n, j->len - j->n)
                             : read(j->fd, j->data, j->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            j->err = -errno;
            break;
        }
        j->n += (size_t)r;
        if (r == 0)
            break;
    }
    return j;
}

int weft__io_offload(weft_fn *fn, void *arg, void (*drop)(void *),
                     void **result)
{
    weft_spawn_opts o = {.name = "io", .drop_arg = drop};
    weft_task *t = weft_spawn_blocking_with(&o, fn, arg);
    if (!t)
        return -errno;     /* drop(arg) was called */
    t->drop_result = drop; /* if we stop waiting, the job frees arg */
    return weft_task_join(t, result);
}

/* weft_read / weft_write on a regular file: jobs of at most FILE_CHUNK
 * bytes, each on its own copy of the data (the caller's buffer may be gone
 * when a cancelled job ends). */
static ssize_t file_io(int fd, char *buf, size_t len, int write)
{
    size_t done = 0;
    if (len == 0)
        return 0;
    do {
        size_t chunk = len - done < FILE_CHUNK ? len - done : FILE_CHUNK;
        file_job *j = weft__calloc(1, sizeof *j);
        char *data = weft__malloc(chunk);
        if (!j || !data) {
            weft__free(j);
            weft__free(data);
            return -ENOMEM;
        }
        j->fd = fd;
        j->write = write;
        j->data = data;
        j->len = chunk;
        if (write)
            memcpy(data, buf + done, chunk);
        void *res = NULL;
        int rc = weft__io_offload(file_job_run, j, file_job_free, &res);
        if (rc < 0)
            return rc;
        if (j->err) {
            rc = j->err;
            file_job_free(j);
            return rc;
        }
        if (!write) {
            size_t n = j->n;
            memcpy(buf, j->data, n);
            file_job_free(j);
            return (ssize_t)n;
        }
        file_job_free(j);
        done += chunk;
    } while (done < len);
    return (ssize_t)len;
}

/* ---- public: readiness, read, write, close ------------------------------ */

int weft__io_wait(weft__rt *rt, int fd, int dir, uint64_t deadline_ns)
{
    io_op op;
    op_init(&op, OP_DIRWAIT, fd);
    op.dir = (uint8_t)dir;
    if (deadline_ns != UINT64_MAX) {
        op.has_to = 1;
        op.deadline = deadline_ns;
    }
    return op_run(rt, &op);
}

static int events_ok(int events)
{
    return events > 0 && (events & ~(WEFT_READABLE | WEFT_WRITABLE)) == 0;
}

int weft_fd_wait(int fd, int events, uint64_t timeout_ns)
{
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    if (!events_ok(events))
        return -EINVAL;
    io_op op;
    op_init(&op, OP_FDWAIT, fd);
    op.events = events;
    if (timeout_ns != WEFT_FOREVER) {
        op.has_to = 1;
        op.relative = 1;
        op.deadline = timeout_ns;
    }
    return op_run(rt, &op);
}

weft_future *weft_fd_wait_future(int fd, int events)
{
    if (!events_ok(events)) {
        errno = EINVAL;
        return NULL;
    }
    io_op *op = op_new(OP_FDWAIT, fd);
    if (!op)
        return NULL;
    op->events = events;
    return &op->base;
}

/* The record of fd for a blocking form: NULL with *rc set. */
static weft__iofd *fd_for_call(weft__rt *rt, int fd, int *rc)
{
    weft__io *io = weft__io_get(rt);
    weft__iofd *rec = io ? weft__io_fd(io, fd) : NULL;
    if (!rec)
        *rc = -errno;
    return rec;
}

ssize_t weft_read(int fd, void *buf, size_t len)
{
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    if (!buf && len)
        return -EINVAL;
    if (weft__cancel_point(rt->current))
        return -ECANCELED;
    int rc = 0;
    weft__iofd *rec = fd_for_call(rt, fd, &rc);
    if (!rec)
        return rc;
    if (len > INT_MAX)
        len = INT_MAX;
    if (rec->kind == WEFT__FD_FILE)
        return file_io(fd, buf, len, 0);
    io_op op;
    op_init(&op, OP_READ, fd);
    op.buf = buf;
    op.len = len;
    op.lazy = 1; /* no deadline, not a future that a race or timeout polls */
    return op_run(rt, &op);
}

ssize_t weft_write(int fd, const void *buf, size_t len)
{
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    if (!buf && len)
        return -EINVAL;
    if (weft__cancel_point(rt->current))
        return -ECANCELED;
    int rc = 0;
    weft__iofd *rec = fd_for_call(rt, fd, &rc);
    if (!rec)
        return rc;
    if (rec->kind == WEFT__FD_FILE)
        return file_io(fd, (char *)(uintptr_t)buf, len, 1);
    io_op op;
    op_init(&op, OP_WRITE, fd);
    op.buf = (char *)(uintptr_t)buf;
    op.len = len;
    rc = op_run(rt, &op);
    return rc < 0 ? rc : (ssize_t)op.done;
}

weft_future *weft_read_future(int fd, void *buf, size_t len)
{
    if ((!buf && len) || len > INT_MAX) {
        errno = EINVAL;
        return NULL;
    }
    io_op *op = op_new(OP_READ, fd);
    if (op) {
        op->buf = buf;
        op->len = len;
    }
    return op ? &op->base : NULL;
}

weft_future *weft_write_future(int fd, const void *buf, size_t len)
{
    if ((!buf && len) || len > INT_MAX) {
        errno = EINVAL;
        return NULL;
    }
    io_op *op = op_new(OP_WRITE, fd);
    if (op) {
        op->buf = (char *)(uintptr_t)buf;
        op->len = len;
    }
    return op ? &op->base : NULL;
}

const char *weft_io_backend(void)
{
    weft__rt *rt = weft__rt_here();
    if (!rt) {
        errno = EPERM;
        return NULL;
    }
    weft__io *io = weft__io_get(rt);
    return io ? io->be->name : NULL;
}

int weft_close(int fd)
{
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    if (fd < 0)
        return -EBADF;
    return weft__io_close(rt->io, fd);
}

int weft_fd_forget(int fd)
{
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    if (fd < 0)
        return -EBADF;
    if (rt->io)
        weft__io_forget(rt->io, fd);
    return 0;
}

/* ---- used by net.c ------------------------------------------------------ */

int weft__io_accept(weft__rt *rt, int listener, struct sockaddr_storage *peer)
{
    weft__io *io = weft__io_get(rt);
    if (!io)
        return -errno;
    if (io->spare_fd < 0)
        io->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    io_op op;
    op_init(&op, OP_ACCEPT, listener);
    op.addr = peer;
    return op_run(rt, &op);
}

ssize_t weft__io_dgram(weft__rt *rt, int fd, int send, void *buf, size_t len,
                       struct sockaddr_storage *from, const struct sockaddr *to,
                       socklen_t tolen)
{
    io_op op;
    op_init(&op, send ? OP_SENDTO : OP_RECVFROM, fd);
    op.buf = buf;
    op.len = len > INT_MAX ? INT_MAX : len;
    op.addr = from;
    op.to = to;
    op.tolen = tolen;
    return op_run(rt, &op);
}
