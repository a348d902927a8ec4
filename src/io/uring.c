/*
 * uring.c - the io_uring backend of the reactor (see io.h,
 * weft__io_backend), on liburing.  Chosen with WEFT_IO=uring; epoll stays
 * the default.
 *
 * Readiness, not completion: the reactor's operations still try their
 * system call first and wait only after EAGAIN (weft.h's I/O rules are the
 * same for both backends).  While a task waits on an fd in a direction, one
 * one-shot IORING_OP_POLL_ADD (level: it completes at once if the fd is
 * ready) is outstanding for that fd and direction; its completion ends it
 * and the next wait arms a new one (never before the last one's end is
 * harvested: see "One poll per user_data" below).  When the last waiter in a
 * direction leaves without its event (a timeout, a cancel, weft_close), an
 * IORING_OP_ASYNC_CANCEL of the poll's user_data withdraws it, submitted at
 * once: a pending poll holds a reference to the file, so a socket closed
 * with weft_close must not stay open in the kernel behind it.  Not
 * IORING_OP_POLL_REMOVE: it fails with -EALREADY when a wakeup of the poll
 * is pending (io_poll_disarm cannot take the request's ownership), and
 * that wakeup, finding no event (the fd's own shutdown(2) wakes its polls
 * with none), arms the poll again (IOU_POLL_REISSUE), or a multishot poll
 * goes on: the poll outlived its wait and the closed socket stayed open
 * (its peer could still write to it: io seed 5392 of test_model).  A
 * cancel marks the poll cancelled whoever owns it (io_poll_cancel_req),
 * and the pending wakeup then completes it with -ECANCELED.
 *
 * One poll per user_data (issue 11).  A cancel without
 * IORING_ASYNC_CANCEL_ALL ends the first poll it finds with that
 * user_data, and a poll's user_data is the same for every wait of that fd
 * and direction (the generation changes only with weft_close).  So no
 * poll is armed while another with its user_data may still be in the
 * kernel: the reactor's rec->armed bit stays set after a withdrawal
 * (rec->withdrawn) until the poll's last completion is harvested, its
 * -ECANCELED included (passed on with no event, where it used to be
 * dropped), and a waiter that comes meanwhile parks without arming; that
 * completion then arms a poll for it (reactor.c, on_event, rearm_lost).
 * Without this, a poll that completed with an event before its withdrawal
 * (the cancel then finds nothing: -ENOENT), its completion not yet
 * harvested, was taken for the end of the next poll armed with the same
 * user_data; that poll, still in the kernel, was forgotten, the next wait
 * armed another beside it, and weft_close's one cancel left one behind,
 * holding the closed socket open until it fired (its peer's send
 * succeeded; tests/test_io.c,
 * a_stale_poll_completion_leaves_no_poll_behind_close).  With
 * DEFER_TASKRUN, completions are posted only when the runtime's thread
 * enters the ring to get events: a withdrawal (disarm, which does) of one
 * fd posts the pending completions of all, which the next wait harvests.
 * The kernel posts exactly one completion without IORING_CQE_F_MORE per
 * poll, whatever ends it, so the bit always clears; IORING_ASYNC_CANCEL_ALL
 * (5.19) would only have hidden the duplicate at close.
 *
 * The runtime's wake fd has a multishot poll (IORING_POLL_ADD_MULTI),
 * re-armed if the kernel ends it.  Multishot polls came with Linux 5.13
 * (its IORING_FEAT_RSRC_TAGS tells): an older kernel gives epoll.
 *
 * The peer's shutdown (issue 11).  The kernel adds EPOLLERR, EPOLLHUP,
 * EPOLLNVAL and EPOLLRDHUP to the mask of every poll (IO_POLL_UNMASK in
 * io_uring/poll.c, io_init_poll_iocb), so once the peer has shut its write
 * side down a POLLOUT poll of a full socket ends with POLLRDHUP alone: an
 * event for readers, not for the writer, whose wait goes on; a one-shot
 * poll armed again would end at once with the same POLLRDHUP (it checks
 * the level when armed), again and again.  The reactor then asks for a
 * persistent interest (arm's persist; reactor.c, rearm_lost; also for any
 * later wait for writing on that fd, WEFT__TRY): a multishot poll.  Armed
 * with the level already true, it posts one completion at once and stays
 * (__io_arm_poll_handler: EPOLLET without EPOLLONESHOT), then one per
 * wakeup of the socket's wait queue whose key matches its mask or has none
 * (io_poll_wake): room to write, the peer's close (EPOLLHUP), not the
 * level it started with; its completions carry IORING_CQE_F_MORE, and one
 * without it ends the poll (liburing's io_uring_prep_poll_multishot(3)).
 * It stays until the waiter leaves (disarm: the cancel above), as an
 * edge-triggered epoll registration would; epoll itself never needs this,
 * since EPOLLOUT|EPOLLHUP arrive with the close.  Readers get the same
 * once the fd has reported a hang-up or an error (WEFT__TRY): a level that
 * stays true while the call meets EAGAIN would otherwise end each wait's
 * poll at once, a busy loop (a UDP socket's queued ICMP error, POLLERR
 * until read with MSG_ERRQUEUE under IP_RECVERR; its own shutdown(SHUT_RD),
 * POLLIN|POLLRDHUP; test_io.c, a_receiver_*_without_spinning, found by
 * helper-37).
 *
 * Polls are queued in the submission ring and go to the kernel with the
 * next wait: one io_uring_enter both submits and waits (with a timeout for
 * the deadline, in ns), as Seastar's and Photon's io_uring engines do.
 *
 * user_data: the reactor's token (fd, 30 bits of generation) with the
 * direction of the poll in its top two bits; direction 0 tags a
 * cancel's own completion (ignored); UINT64_MAX is the wake fd.
 *
 * The ring is set up with IORING_SETUP_SINGLE_ISSUER|DEFER_TASKRUN (only
 * the runtime's thread submits, and completions are worked at its waits;
 * Linux 6.1), else COOP_TASKRUN (5.19), else no flags; if none works the
 * reactor falls back to epoll (reactor.c).
 */
#include "io/io.h"
#include "util/alloc.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <sys/stat.h>
#include <time.h>

#define ENTRIES 256 /* submission ring; the completion ring is twice this */
/* A round of ur_wait that brings this many completions or more is
 * followed by another: a little below the 20 wakeups the kernel runs per
 * io_uring_enter, since a wakeup that finds no event posts none. */
#define MORE 16
/* io_uring_enter calls a withdrawal makes at most to see its polls end
 * (each runs about 20 pending wakeups; a full completion ring, whose
 * overflow the kernel keeps, stops the search short). */
#define DISARM_ROUNDS 64

#define DIR_SHIFT 62
#define DIR_MASK  ((uint64_t)3 << DIR_SHIFT)

static uint64_t user_data(uint64_t token, unsigned dir)
{
    return token | (uint64_t)dir << DIR_SHIFT;
}

/* A free submission entry, flushing the ring to the kernel when full;
 * NULL when even that fails. */
static struct io_uring_sqe *sqe_get(struct io_uring *ring)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe && io_uring_submit(ring) >= 0)
        sqe = io_uring_get_sqe(ring);
    return sqe;
}

static int arm_wake(struct io_uring *ring, int wake_fd)
{
    struct io_uring_sqe *sqe = sqe_get(ring);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_poll_multishot(sqe, wake_fd, POLLIN);
    io_uring_sqe_set_data64(sqe, WEFT__IO_WAKE_TOKEN);
    return 0;
}

static int ur_init(weft__io *io, int wake_fd)
{
    if (weft__uring_setup_fault() != 0)
        return -errno;
    struct io_uring *ring = weft__calloc(1, sizeof *ring);
    if (!ring)
        return -ENOMEM;
    int rc = io_uring_queue_init(
        ENTRIES, ring, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
    if (rc == -EINVAL) /* a kernel before 6.1 */
        rc = io_uring_queue_init(ENTRIES, ring, IORING_SETUP_COOP_TASKRUN);
    if (rc == -EINVAL) /* before 5.19 */
        rc = io_uring_queue_init(ENTRIES, ring, 0);
    if (rc < 0) {
        weft__free(ring);
        return rc;
    }
    /* Before 5.13 a multishot poll fails (-EINVAL): the wake fd's would be
     * armed again and again. */
    rc = ring->features & IORING_FEAT_RSRC_TAGS ? 0 : -ENOSYS;
    if (rc == 0)
        rc = arm_wake(ring, wake_fd);
    if (rc == 0)
        rc = io_uring_submit(ring) < 0 ? -EBUSY : 0;
    if (rc) {
        io_uring_queue_exit(ring);
        weft__free(ring);
        return rc;
    }
    io->ring = ring;
    return 0;
}

static void ur_fini(weft__io *io)
{
    /* Polls still outstanding end with the ring. */
    io_uring_queue_exit(io->ring);
    weft__free(io->ring);
    io->ring = NULL;
}

/* epoll refuses files that have no poll (EPERM); a poll of io_uring would
 * complete at once as ready.  Answer as epoll does, so that weft_fd_wait
 * behaves the same on both backends. */
static int ur_add(weft__io *io, int fd, uint64_t token)
{
    (void)io;
    (void)token;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || S_ISDIR(st.st_mode))
        return -EPERM;
    return 0;
}

/* The polls are the registration: disarm (called first) withdrew them. */
static void ur_del(weft__io *io, int fd)
{
    (void)io;
    (void)fd;
}

static int ur_arm(weft__io *io, int fd, uint64_t token, unsigned dir,
                  int persist)
{
    struct io_uring_sqe *sqe = sqe_get(io->ring);
    if (!sqe)
        return -ENOMEM;
    unsigned mask = dir == WEFT__R ? POLLIN | POLLRDHUP | POLLPRI : POLLOUT;
    if (persist)
        io_uring_prep_poll_multishot(sqe, fd, mask);
    else
        io_uring_prep_poll_add(sqe, fd, mask);
    io_uring_sqe_set_data64(sqe, user_data(token, dir));
    return 0;
}

/* 1 if the completion ring holds the last completion (no
 * IORING_CQE_F_MORE) of the poll with user_data ud; nothing is consumed
 * (harvest works them). */
static int ended(struct io_uring *ring, uint64_t ud)
{
    unsigned head;
    struct io_uring_cqe *cqe;
    io_uring_for_each_cqe(ring, head, cqe)
    {
        if (cqe->user_data == ud && !(cqe->flags & IORING_CQE_F_MORE))
            return 1;
    }
    return 0;
}

static void ur_disarm(weft__io *io, uint64_t token, unsigned dirs)
{
    struct io_uring *ring = io->ring;
    for (unsigned d = WEFT__R; d <= WEFT__W; d <<= 1) {
        if (!(dirs & d))
            continue;
        struct io_uring_sqe *sqe = sqe_get(ring);
        if (!sqe) /* a one-shot poll completes on its own, harmlessly; a
                   * multishot one (persist) ends with the ring */
            return;
        io_uring_prep_cancel64(sqe, user_data(token, d), 0);
        io_uring_sqe_set_data64(sqe, user_data(token, 0));
    }
    /* Now, with the deferred completions run: the cancelled poll lets go
     * of the file before the caller may close it.  One io_uring_enter runs
     * only so many of the pending wakeups (about 20: see MORE), and the
     * cancelled poll's end may be queued behind the wakeups of many other
     * polls: enter again until each withdrawn poll's last completion is
     * posted (test_io.c, weft_close_releases_the_socket_with_many_polls_
     * woken_on_io_uring, found by helper-38: 40 woken polls kept the
     * closed socket bound). */
    (void)io_uring_submit_and_get_events(ring);
    for (int round = 0; round < DISARM_ROUNDS; round++) {
        unsigned left = 0;
        for (unsigned d = WEFT__R; d <= WEFT__W; d <<= 1)
            if ((dirs & d) && !ended(ring, user_data(token, d)))
                left++;
        if (!left)
            break;
        (void)io_uring_get_events(ring);
    }
}

static int submit_wait(struct io_uring *ring, uint64_t deadline)
{
    if (deadline == 0)
        return io_uring_submit_and_get_events(ring);
    if (deadline == UINT64_MAX)
        return io_uring_submit_and_wait(ring, 1);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t n = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    uint64_t d = deadline > n ? deadline - n : 0;
    struct __kernel_timespec ts = {.tv_sec = (long long)(d / 1000000000u),
                                   .tv_nsec = (long long)(d % 1000000000u)};
    struct io_uring_cqe *cqe;
    return io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
}

/* The reactor's bits of a poll's result.  POLLPRI wakes readers but
 * does not set WEFT__TRY, which would stop weft_read's lazy path (parking
 * after a short TCP read without the recv(2) that meets EAGAIN) for the
 * fd's lifetime: a poll woken by the socket's wait queue reports the
 * wakeup's key, not a fresh poll of the socket (io_poll_wake keeps the
 * key's mask, io_poll_check_events polls only without one), and every
 * arrival of data wakes with EPOLLIN|EPOLLPRI|EPOLLRDNORM|EPOLLRDBAND
 * (sock_def_readable), urgent or not.  That cost a recv(2) per message
 * (2.00 per echo round trip against epoll's 1.00).  WEFT__TRY is there for
 * epoll's edge-triggered registration: a read stopped at the urgent mark
 * with data left sends no new edge.  Here each wait arms a poll that
 * checks the level at once, so the lazy read's next wait finds that
 * data. */
static unsigned poll_bits(unsigned res)
{
    return weft__io_bits(res & ~(unsigned)POLLPRI) |
           (res & POLLPRI ? WEFT__R : 0);
}

/* Works the completions there are: ready() for each poll's (and the wake
 * fd's); *rewake set if the wake fd's poll ended, *cqes incremented per
 * completion.  Returns the events: completions with readiness or an
 * error. */
static int harvest(weft__io *io, struct io_uring *ring,
                   void (*ready)(weft__io *io, uint64_t token, unsigned bits,
                                 unsigned done),
                   int *rewake, int *cqes)
{
    int n = 0;
    for (;;) {
        struct io_uring_cqe *cqe;
        if (io_uring_peek_cqe(ring, &cqe) != 0)
            break;
        ++*cqes;
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        int res = cqe->res;
        unsigned flags = cqe->flags;
        io_uring_cqe_seen(ring, cqe);
        if (ud == WEFT__IO_WAKE_TOKEN) {
            if (!(flags & IORING_CQE_F_MORE))
                *rewake = 1; /* the kernel ended the multishot poll */
            if (res >= 0) {
                ready(io, WEFT__IO_WAKE_TOKEN, WEFT__R, 0);
                n++;
            }
            continue;
        }
        unsigned dir = (unsigned)(ud >> DIR_SHIFT);
        if (dir == 0)
            continue; /* a cancel's own completion */
        /* An error: let the call tell.  -ECANCELED: the end of a poll
         * withdrawn (no event), which the reactor must see all the same
         * (its done bit): see "One poll per user_data" above. */
        unsigned bits = res == -ECANCELED ? 0 : WEFT__R | WEFT__W | WEFT__TRY;
        if (res >= 0)
            bits = poll_bits((unsigned)res);
        /* A multishot poll (persist) that goes on ends no interest. */
        ready(io, ud & ~DIR_MASK, bits, flags & IORING_CQE_F_MORE ? 0 : dir);
        if (bits)
            n++;
    }
    return n;
}

static int ur_wait(weft__io *io, uint64_t deadline,
                   void (*ready)(weft__io *io, uint64_t token, unsigned bits,
                                 unsigned done))
{
    struct io_uring *ring = io->ring;
    int n = 0, rewake = 0, rearms = 0, more = 0;
    /* Polls ready() armed again (the end of a withdrawn poll whose
     * direction has new waiters, a write's poll ended by POLLRDHUP) go out
     * in a further round, not waiting, so that a level already true is
     * seen in this wait, as a wait's own poll would be: under the virtual
     * clock, time must not jump past it.  At most two such rounds (a
     * re-arm ended at once by POLLRDHUP is armed once more, multishot);
     * what is left goes out with the next wait.  And a round that brought
     * MORE completions or more is followed by another, not waiting: with
     * DEFER_TASKRUN one io_uring_enter runs only so many of the pending
     * wakeups (20 since Linux 6.13, IO_LOCAL_TW_DEFAULT_MAX), and a wait
     * must take everything ready now (reactor.c, "Wake order"). */
    for (int round = 0;; round++) {
        int cqes = 0;
        if (round == 0) /* -ETIME (the deadline), -EINTR (a signal, whose
                         * handler wrote the wake fd): harvest what is there */
            (void)submit_wait(ring, deadline);
        else if ((io_uring_sq_ready(ring) > 0 && rearms++ < 2) || more)
            (void)io_uring_submit_and_get_events(ring);
        else
            break;
        n += harvest(io, ring, ready, &rewake, &cqes);
        more = cqes >= MORE;
    }
    if (rewake && arm_wake(ring, io->wake_fd) == 0)
        (void)io_uring_submit(ring);
    return n;
}

static const weft__io_backend uring_backend = {
    .name = "uring",
    .init = ur_init,
    .fini = ur_fini,
    .add = ur_add,
    .del = ur_del,
    .arm = ur_arm,
    .disarm = ur_disarm,
    .wait = ur_wait,
};

const weft__io_backend *weft__io_uring_backend(const char **why)
{
    (void)why;
    return &uring_backend;
}
