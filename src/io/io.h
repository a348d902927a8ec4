/*
 * io.h - the I/O reactor of a runtime (driver layer): epoll, per-fd
 * records, readiness waits, signals.  Internal to src/io/; the scheduler
 * sees nothing of it; the loop calls only the driver's hooks at the end of
 * this file (weft__io_poll, weft__io_waiting, weft__io_destroy).
 *
 * The reactor (struct weft__io) is created on a runtime's first I/O call,
 * so a program that never does I/O pays nothing.  It owns one epoll
 * instance or one io_uring ring (through the backend table below, chosen by
 * WEFT_IO), in which the runtime's eventfd (the cross-thread inbox and the
 * signal handler's wake fd) is registered too: the scheduler has a single
 * blocking point.
 *
 * Per-fd records (weft__iofd) are indexed by fd number, in chunks that are
 * never freed before the runtime ends (type-stable: a late event can never
 * reach freed memory).  A record is registered at most once per open file,
 * edge-triggered, for both directions (EPOLLIN|EPOLLOUT|EPOLLRDHUP|
 * EPOLLET, and EPOLLPRI: see WEFT__TRY).  The backend's token is the fd number
 * and the record's generation (its low 30 bits: io_uring keeps the direction in
 * the top two bits of its user_data): weft_close bumps the generation (and
 * deletes the registration before close(2)), so an event or a waiter of a
 * closed fd can never reach a new fd that got the same number.
 *
 * Readiness bits (rec->ready) are set by events and cleared by an
 * operation that met EAGAIN, or (WEFT__R) by a short read of a TCP socket,
 * which leaves its receive queue empty (as tokio's PollEvented::poll_read,
 * 1.24); an operation tries its system call first and parks only on EAGAIN
 * (speculative I/O, as Asio, Photon and tokio do), except weft_read without
 * a deadline on a registered TCP socket whose WEFT__R is clear: it parks
 * without the recv(2) that would only meet EAGAIN.
 * Events are harvested only by the scheduler while no task runs, so a
 * syscall, its EAGAIN and the clearing of the bit are never interleaved
 * with an event: an edge that arrives after the EAGAIN sets the bit again
 * and wakes the waiter.
 */
#ifndef WEFT_IO_IO_H
#define WEFT_IO_IO_H

#include "sched/core.h"

#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>

#define WEFT__IO_CHUNK 256 /* records per chunk */

enum {
    WEFT__FD_UNKNOWN = 0, /* never seen by weft, or forgotten */
    WEFT__FD_SOCKET,      /* send/recv with MSG_NOSIGNAL */
    WEFT__FD_FIFO,        /* a pipe: SIGPIPE blocked around writes */
    WEFT__FD_OTHER,       /* pollable: ttys, eventfds, character devices */
    WEFT__FD_FILE         /* regular file or block device: blocking pool */
};

/* Readiness bits: WEFT_READABLE and WEFT_WRITABLE of weft.h. */
#define WEFT__R 0x1
#define WEFT__W 0x2
/* Also in rec->ready (never in a waiter's direction): the fd reported a
 * hang-up, an error or TCP urgent data (EPOLLRDHUP, EPOLLHUP, EPOLLERR,
 * EPOLLPRI).  Sticky until the record is reset: a FIN queued behind data
 * already seen sends no new edge, and a read stops short at the urgent
 * mark with data left, so weft_read must then always try its recv(2) (as
 * tokio keeps READ_CLOSED).  io_uring's POLLPRI does not set it (every
 * arrival of data reports one there, and each wait's poll checks the
 * level: uring.c, poll_bits). */
#define WEFT__TRY 0x4

/* The WEFT__R / WEFT__W / WEFT__TRY bits of a readiness mask (poll(2)'s
 * POLL* bits, which epoll's EPOLL* bits equal: epoll.c checks): readers
 * wake on data, hang-up, error and urgent data; writers on room, hang-up
 * and error; TRY on hang-up, error and urgent data. */
static inline unsigned weft__io_bits(unsigned mask)
{
    unsigned bits = 0;
    if (mask & (POLLIN | POLLRDHUP | POLLPRI | POLLHUP | POLLERR))
        bits |= WEFT__R;
    if (mask & (POLLOUT | POLLHUP | POLLERR))
        bits |= WEFT__W;
    if (mask & (POLLRDHUP | POLLPRI | POLLHUP | POLLERR))
        bits |= WEFT__TRY;
    return bits;
}

typedef struct weft__iofd {
    weft__link waiters; /* weft__io_op parked on this fd, any direction */
    uint32_t gen;       /* bumped by weft_close and when forgotten */
    uint8_t kind;       /* WEFT__FD_* */
    uint8_t ready;      /* WEFT__R | WEFT__W (cleared on EAGAIN), WEFT__TRY */
    uint8_t registered; /* in the epoll set (io_uring: known pollable) */
    uint8_t owned;      /* created by weft (flags known) */
    uint8_t armed;      /* io_uring: polls outstanding, R | W, until their
                         * last completion is harvested (withdrawn or not) */
    uint8_t withdrawn;  /* io_uring: of armed, those disarm withdrew */
    uint8_t tcp;        /* 0 not asked yet, 1 a TCP socket, 2 not one */
    uint8_t hup;        /* io_uring: the last event with readiness reported
                         * a hang-up or an error (its WEFT__TRY bit) */
} weft__iofd;

/* The generation bits a token carries. */
#define WEFT__IO_GEN_MASK 0x3fffffffu

struct weft__io;

/*
 * A backend of the reactor: how fds are registered and readiness harvested.
 * epoll (epoll.c): each fd registered once, edge-triggered.  io_uring
 * (uring.c): a one-shot IORING_OP_POLL_ADD per fd and direction while a
 * task waits in that direction (arm/disarm below; a multishot one for
 * writing after the peer's shutdown), a multishot poll on the wake fd.  Chosen
 * when the reactor is created (WEFT_IO=epoll|uring; see weft__io_get).  Every
 * rule of weft.h's I/O section must hold whichever backend runs.
 */
typedef struct weft__io_backend {
    const char *name; /* "epoll" or "uring", as WEFT_IO spells them */
    /* Sets the backend up with the runtime's wake fd (its eventfd, also
     * the signal handler's) reported as WEFT__IO_WAKE_TOKEN.  0 or -errno. */
    int (*init)(struct weft__io *io, int wake_fd);
    void (*fini)(struct weft__io *io);
    /* Registers fd once, edge-triggered, for both directions; its events
     * carry token.  0 or -errno (-EPERM: fd cannot be polled). */
    int (*add)(struct weft__io *io, int fd, uint64_t token);
    /* Deletes fd's registration (before it is closed). */
    void (*del)(struct weft__io *io, int fd);
    /* NULL when add's registration covers every wait (epoll).  Else: a
     * task parks on fd for dir (WEFT__R or WEFT__W) and no interest of the
     * backend is outstanding in that direction (rec->armed): asks for one
     * event, which ends the interest (ready()'s done bits).  With persist,
     * the interest is one that a condition already true cannot end (the
     * peer's shutdown, which every io_uring poll reports: see uring.c): it
     * reports the next changes, as epoll's edge-triggered registration,
     * and stays until disarmed (or ended by the backend, done bits).  0 or
     * -errno. */
    int (*arm)(struct weft__io *io, int fd, uint64_t token, unsigned dir,
               int persist);
    /* With arm: withdraws the outstanding interest in dirs (the last
     * waiter in those directions left, or the fd is forgotten) before the
     * fd can be closed, so that none outlives its wait.  The interest's
     * end is still reported by wait() (its done bits, maybe with an event
     * it had before it was withdrawn); until then no other may be armed in
     * that direction with the same token (one withdrawal ends one
     * interest: see uring.c). */
    void (*disarm)(struct weft__io *io, uint64_t token, unsigned dirs);
    /* Waits at most until deadline_ns (CLOCK_MONOTONIC; 0: not at all;
     * UINT64_MAX: no limit) and calls ready() for each event with its
     * token, WEFT__R/WEFT__W bits (an error or hang-up: both) and the
     * directions whose armed interest the event ended (0 for epoll):
     * every event there is when it stops waiting (epoll: a full batch is
     * followed by another, not waiting), since one wait's waiters are
     * woken in the order their waits began (reactor.c, "Wake order").
     * Returns the number of events (0 on EINTR). */
    int (*wait)(struct weft__io *io, uint64_t deadline_ns,
                void (*ready)(struct weft__io *io, uint64_t token,
                              unsigned bits, unsigned done));
} weft__io_backend;

extern const weft__io_backend weft__io_epoll;
/* uring.c, or NULL (uring_off.c: a build without liburing).  *why gets
 * the reason it cannot be used, for the note on stderr. */
const weft__io_backend *weft__io_uring_backend(const char **why);

#define WEFT__IO_WAKE_TOKEN UINT64_MAX /* the runtime's eventfd */

/* One runtime's reactor. */
typedef struct weft__io {
    const weft__io_backend *be;
    int epfd;            /* the epoll instance (epoll backend) */
    void *ring;          /* the io_uring ring (uring backend) */
    int wake_fd;         /* the runtime's eventfd */
    weft__iofd **chunks; /* chunks[fd / WEFT__IO_CHUNK], NULL until used */
    size_t nchunks;
    size_t waiting;  /* ops parked on fds + signal waits: wake sources */
    int spare_fd;    /* reserved for accept on EMFILE, or -1 */
    unsigned budget; /* ready operations left to budget_task */
    const void *budget_task;
    /* Wake order (reactor.c, weft__io_poll): waits are numbered as they
     * begin; the ops one poll finds ready are collected on woken (in
     * order of arrival, woken_sorted while that is also the order of their
     * numbers) and woken in the order of their numbers when it ends. */
    uint64_t wait_seq;        /* the number of the last wait begun */
    struct io_op *woken;      /* made ready in this poll, not woken yet */
    struct io_op *woken_last; /* the last one on woken, or NULL */
    int woken_sorted;         /* woken is in the order of the numbers */
    /* signals (signal.c) */
    int sig_slot;            /* in the handler's table of wake fds, or -1 */
    weft__link sig_waiters;  /* weft__sig_wait of this runtime */
    uint8_t sig_used[NSIG];  /* this runtime installed the handler */
    uint64_t sig_seen[NSIG]; /* deliveries already consumed here */
} weft__io;

/* Cooperative budget: ready I/O operations a task may complete in a row
 * before it is made to yield (tokio's 128). */
#define WEFT__IO_BUDGET 128

/* The reactor of rt, created on first use; NULL with errno. */
weft__io *weft__io_get(weft__rt *rt);
/* The record of fd, created (and its kind probed, the fd made
 * non-blocking) on first use.  NULL with errno (EBADF, ENOMEM). */
weft__iofd *weft__io_fd(weft__io *io, int fd);
/* A fresh record for an fd weft has just created: kind known, already
 * non-blocking and close-on-exec.  NULL with errno. */
weft__iofd *weft__io_fd_new(weft__io *io, int fd, int kind);
/* Forgets fd: wakes its waiters with -EBADF, deletes the registration,
 * bumps the generation.  Does not close it. */
void weft__io_forget(weft__io *io, int fd);
/* weft_close without the runtime check. */
int weft__io_close(weft__io *io, int fd);

/*
 * Waits (parked in the calling coroutine) until fd is ready in direction
 * dir (WEFT__R or WEFT__W) after an operation met EAGAIN.  Returns 0 when
 * it may be ready, -EBADF when closed meanwhile, -ECANCELED, -ENOMEM (the
 * registration failed), -ETIMEDOUT (deadline_ns on the runtime clock
 * passed; UINT64_MAX: none).  [task]
 */
int weft__io_wait(weft__rt *rt, int fd, int dir, uint64_t deadline_ns);

/* A parked operation resets the budget of the running task. */
void weft__io_budget_reset(weft__rt *rt);

/* weft_tcp_accept's wait and accept4: the new fd (with a fresh record) or
 * -errno.  [task] */
int weft__io_accept(weft__rt *rt, int listener, struct sockaddr_storage *peer);
/* weft_recvfrom (send 0) and weft_sendto (send 1).  [task] */
ssize_t weft__io_dgram(weft__rt *rt, int fd, int send, void *buf, size_t len,
                       struct sockaddr_storage *from, const struct sockaddr *to,
                       socklen_t tolen);

/* signal.c: the signal part of weft__io_poll and weft__io_destroy. */
void weft__sig_dispatch(weft__rt *rt, weft__io *io);
void weft__sig_teardown(weft__io *io);
/* Installs the handler of signum for rt without a wait (WEFT_DUMP_SIGNAL:
 * each delivery wakes rt's scheduler); *seen gets the deliveries so far.
 * 0, -EINVAL (a signal weft cannot catch) or -errno. */
int weft__sig_watch(weft__rt *rt, int signum, uint64_t *seen);
/* Deliveries of signum so far, process-wide, and (when_ns non-NULL) the
 * CLOCK_MONOTONIC time of the last one.  [any thread] */
uint64_t weft__sig_deliveries(int signum, uint64_t *when_ns);

/* Runs fn(arg) on the blocking pool and waits for it; 0 or a negative
 * errno (-ECANCELED: the job is detached and drop(arg) frees arg when it
 * ends).  The result is fn's return value.  [task] */
int weft__io_offload(weft_fn *fn, void *arg, void (*drop)(void *),
                     void **result);

/* Maps a getaddrinfo error to weft's code (see weft.h, WEFT_EAI). */
int weft__eai_error(int eai, int saved_errno);

/* ---- the I/O reactor (io/reactor.c): the driver's hooks ---------------- */

/* Harvests fd readiness, signals and the eventfd (all in one epoll set),
 * waiting at most until deadline_ns on CLOCK_MONOTONIC (0: do not wait;
 * UINT64_MAX: no limit), and wakes the waiters of what is ready.  Returns
 * the number of events seen.  Only when rt->io is set. */
int weft__io_poll(weft__rt *rt, uint64_t deadline_ns);
/* 1 if a task waits on an fd or a signal here: a wake source outside the
 * runtime (never a deadlock while one exists). */
int weft__io_waiting(const weft__rt *rt);
/* Closes the reactor (rt->io may be NULL): at the end of weft_run, before
 * rt->inbox.efd is closed. */
void weft__io_destroy(weft__rt *rt);

#endif
