/*
 * epoll.c - the epoll backend of the reactor (see io.h, weft__io_backend).
 *
 * One epoll instance per runtime.  The runtime's wake fd (its eventfd) is
 * registered edge-triggered for input; every other fd once, edge-triggered,
 * for both directions (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET, as mio and Go's
 * netpoller, plus EPOLLPRI: TCP urgent data sets WEFT__TRY, see io.h).  Waits
 * take a deadline in ns: epoll_pwait2 where the kernel (and valgrind) has it,
 * else epoll_wait with the timeout rounded up to the millisecond, so a wait
 * never ends before its deadline.  A wait that fills its batch (BATCH) is
 * followed by another with no timeout until one does not: the reactor
 * wakes the waiters of one wait in the order their waits began (reactor.c,
 * "Wake order"), so one wait must take everything that is ready.
 */
#include "io/io.h"
#include "util/alloc.h"

#include <errno.h>
#include <limits.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64 /* events harvested per epoll_wait call */

/* weft__io_bits reads EPOLL* masks as POLL* ones. */
_Static_assert(EPOLLIN == POLLIN && EPOLLPRI == POLLPRI &&
                   EPOLLOUT == POLLOUT && EPOLLERR == POLLERR &&
                   EPOLLHUP == POLLHUP && EPOLLRDHUP == POLLRDHUP,
               "epoll's event bits are poll's");

static int ep_init(weft__io *io, int wake_fd)
{
    io->epfd = weft__epoll_create1(EPOLL_CLOEXEC);
    if (io->epfd < 0)
        return -errno;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET,
                             .data.u64 = WEFT__IO_WAKE_TOKEN};
    if (weft__epoll_ctl(io->epfd, EPOLL_CTL_ADD, wake_fd, &ev) != 0) {
        int err = errno;
        close(io->epfd);
        return -err;
    }
    return 0;
}

static void ep_fini(weft__io *io) { close(io->epfd); }

static int ep_add(weft__io *io, int fd, uint64_t token)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP |
                                       EPOLLPRI | EPOLLET,
                             .data.u64 = token};
    if (weft__epoll_ctl(io->epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
        return 0;
    if (errno != EEXIST)
        return -errno;
    /* Still in the set from before a plain close(2) of another file with
     * this number that a copy keeps alive: take it over. */
    if (weft__epoll_ctl(io->epfd, EPOLL_CTL_MOD, fd, &ev) != 0)
        return -errno;
    return 0;
}

/* Not an injection point: a failed DEL would only leave events that the
 * generation check drops. */
static void ep_del(weft__io *io, int fd)
{
    epoll_ctl(io->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static int no_pwait2; /* epoll_pwait2 is missing (old kernel, valgrind) */

static int wait_events(int epfd, struct epoll_event *evs, uint64_t deadline)
{
    if (deadline == 0)
        return epoll_wait(epfd, evs, BATCH, 0);
    if (deadline == UINT64_MAX)
        return epoll_wait(epfd, evs, BATCH, -1);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t n = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    uint64_t d = deadline > n ? deadline - n : 0;
    if (!__atomic_load_n(&no_pwait2, __ATOMIC_RELAXED)) {
        struct timespec ts = {.tv_sec = (time_t)(d / 1000000000u),
                              .tv_nsec = (long)(d % 1000000000u)};
        int r = epoll_pwait2(epfd, evs, BATCH, &ts, NULL);
        if (r >= 0 || errno != ENOSYS)
            return r;
        __atomic_store_n(&no_pwait2, 1, __ATOMIC_RELAXED);
    }
    /* Milliseconds, rounded up: never wake before the deadline. */
    uint64_t ms = (d + 999999u) / 1000000u;
    return epoll_wait(epfd, evs, BATCH, ms > INT_MAX ? INT_MAX : (int)ms);
}

static int ep_wait(weft__io *io, uint64_t deadline,
                   void (*ready)(weft__io *io, uint64_t token, unsigned bits,
                                 unsigned done))
{
    struct epoll_event evs[BATCH];
    int total = 0;
    int n = wait_events(io->epfd, evs, deadline);
    /* n < 0: EINTR, a signal, whose handler wrote the wake fd. */
    while (n > 0) {
        for (int i = 0; i < n; i++)
            ready(io, evs[i].data.u64, weft__io_bits(evs[i].events), 0);
        total += n;
        /* A full batch may have left events on the ready list: a wait is
         * everything ready now (the reactor's wake order, reactor.c), so
         * take the rest without waiting. */
        n = n == BATCH ? epoll_wait(io->epfd, evs, BATCH, 0) : 0;
    }
    return total;
}

const weft__io_backend weft__io_epoll = {
    .name = "epoll",
    .init = ep_init,
    .fini = ep_fini,
    .add = ep_add,
    .del = ep_del,
    .wait = ep_wait,
};
