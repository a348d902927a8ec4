/*
 * signal.c - weft_signal_wait: Unix signals as wake-ups of the reactor
 * (tokio::signal's model, not signalfd, which needs the signal blocked in
 * every thread, the program's own threads included).
 *
 * Process-wide state: for each signal, a delivery counter (incremented by
 * the handler) and the number of runtimes that installed the handler (the
 * previous disposition is restored when it drops to 0); a table of the
 * wake fds (each runtime's eventfd, which its epoll set holds) of runtimes
 * that wait on signals.  The handler only increments the counter and writes
 * to every fd of the table: async-signal-safe, no lock.  A runtime leaving
 * the table clears its entry and then waits until no handler is running,
 * so that no handler can write to its eventfd after it is closed (or to
 * another file that got its number).
 *
 * Per runtime (weft__io): the count of deliveries already consumed for
 * each signal (sig_seen) and the list of waits.  After each poll of the
 * reactor, a wait whose signal's counter moved past sig_seen is completed,
 * every wait on that signal at once; a wait that begins when the counter
 * has moved completes at once: deliveries are kept, merged into one.
 */
#include "io/io.h"
#include "util/alloc.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 64

static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction sig_old[NSIG]; /* under sig_lock */
static int sig_users[NSIG];            /* under sig_lock */
static uint64_t sig_count[NSIG];       /* atomic: deliveries so far */
static int sig_fds[SLOTS];             /* atomic: wake fd + 1, 0 = free */
static int sig_inflight;               /* atomic: handlers running */
static uint64_t sig_when[NSIG];        /* atomic: last delivery, monotonic */

static void on_signal(int sig)
{
    int saved = errno;
    __atomic_add_fetch(&sig_inflight, 1, __ATOMIC_SEQ_CST);
    struct timespec ts; /* clock_gettime is async-signal-safe */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    __atomic_store_n(&sig_when[sig],
                     (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec,
                     __ATOMIC_RELAXED);
    __atomic_add_fetch(&sig_count[sig], 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < SLOTS; i++) {
        int v = __atomic_load_n(&sig_fds[i], __ATOMIC_SEQ_CST);
        if (v > 0) {
            uint64_t one = 1;
            ssize_t n = write(v - 1, &one, sizeof one);
            (void)n; /* a full counter still wakes the poll */
        }
    }
    __atomic_sub_fetch(&sig_inflight, 1, __ATOMIC_SEQ_CST);
    errno = saved;
}

/* A signal weft_signal_wait accepts (tokio forbids the same ones). */
static int catchable(int signum)
{
    return signum > 0 && signum < NSIG && signum != SIGKILL &&
           signum != SIGSTOP && signum != SIGSEGV && signum != SIGBUS &&
           signum != SIGILL && signum != SIGFPE;
}

/* Installs what rt needs to wait on signum.  0 or -errno. */
static int sig_register(weft__rt *rt, weft__io *io, int signum)
{
    int rc = 0;
    pthread_mutex_lock(&sig_lock);
    if (io->sig_slot < 0) {
        for (int i = 0; i < SLOTS && io->sig_slot < 0; i++)
            if (__atomic_load_n(&sig_fds[i], __ATOMIC_SEQ_CST) == 0) {
                __atomic_store_n(&sig_fds[i], rt->inbox.efd + 1,
                                 __ATOMIC_SEQ_CST);
                io->sig_slot = i;
            }
        if (io->sig_slot < 0)
            rc = -ENOMEM;
    }
    if (rc == 0 && !io->sig_used[signum]) {
        if (sig_users[signum] == 0) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_signal;
            sa.sa_flags = SA_RESTART;
            sigemptyset(&sa.sa_mask);
            if (sigaction(signum, &sa, &sig_old[signum]) != 0)
                rc = -errno;
        }
        if (rc == 0) {
            sig_users[signum]++;
            io->sig_used[signum] = 1;
            io->sig_seen[signum] =
                __atomic_load_n(&sig_count[signum], __ATOMIC_SEQ_CST);
        }
    }
    pthread_mutex_unlock(&sig_lock);
    return rc;
}

void weft__sig_teardown(weft__io *io)
{
    pthread_mutex_lock(&sig_lock);
    for (int s = 1; s < NSIG; s++) {
        if (!io->sig_used[s])
            continue;
        io->sig_used[s] = 0;
        if (--sig_users[s] == 0)
            sigaction(s, &sig_old[s], NULL); /* the previous disposition */
    }
    if (io->sig_slot >= 0) {
        __atomic_store_n(&sig_fds[io->sig_slot], 0, __ATOMIC_SEQ_CST);
        io->sig_slot = -1;
        /* A handler that read our fd before it was cleared may still be
         * about to write to it: wait for it to end. */
        while (__atomic_load_n(&sig_inflight, __ATOMIC_SEQ_CST) != 0)
            sched_yield();
    }
    pthread_mutex_unlock(&sig_lock);
}

/* ---- the wait ----------------------------------------------------------- */

typedef struct sig_wait {
    weft_future base;
    weft__link link; /* in io->sig_waiters while parked */
    weft__waker *waker;
    int signum;
    int parked;
    int fired;
} sig_wait;

void weft__sig_dispatch(weft__rt *rt, weft__io *io)
{
    (void)rt;
    uint64_t now[NSIG];
    uint8_t hit[NSIG];
    memset(hit, 0, sizeof hit);
    weft__link *l = io->sig_waiters.next;
    while (l != &io->sig_waiters) {
        sig_wait *w = weft__container(l, sig_wait, link);
        l = l->next;
        int s = w->signum;
        if (!hit[s]) {
            now[s] = __atomic_load_n(&sig_count[s], __ATOMIC_SEQ_CST);
            hit[s] = now[s] != io->sig_seen[s] ? 1 : 2;
        }
        if (hit[s] != 1)
            continue;
        weft__list_remove(&w->link);
        w->parked = 0;
        w->fired = 1;
        io->waiting--;
        weft__wake(w->waker);
    }
    for (int s = 1; s < NSIG; s++)
        if (hit[s] == 1)
            io->sig_seen[s] = now[s];
}

static int sig_finish(sig_wait *w, int status)
{
    w->base.status = status;
    w->base.result = (void *)(intptr_t)status;
    return 1;
}

static int sig_poll(weft_future *f, weft__rt *rt, weft__waker *waker)
{
    sig_wait *w = (sig_wait *)f;
    if (w->fired)
        return sig_finish(w, w->signum);
    weft__io *io = weft__io_get(rt);
    if (!io)
        return sig_finish(w, -errno);
    if (!io->sig_used[w->signum]) {
        int rc = sig_register(rt, io, w->signum);
        if (rc)
            return sig_finish(w, rc);
    }
    if (!w->parked) {
        uint64_t c = __atomic_load_n(&sig_count[w->signum], __ATOMIC_SEQ_CST);
        if (c != io->sig_seen[w->signum]) { /* kept from before */
            io->sig_seen[w->signum] = c;
            return sig_finish(w, w->signum);
        }
        weft__list_push(&io->sig_waiters, &w->link);
        w->parked = 1;
        io->waiting++;
    }
    w->waker = waker;
    return 0;
}

static void sig_unpark(sig_wait *w)
{
    weft__rt *rt = weft__tls_rt;
    if (w->parked && rt && rt->io) {
        weft__list_remove(&w->link);
        w->parked = 0;
        rt->io->waiting--;
    }
}

static int sig_cancel(weft_future *f, weft__rt *rt)
{
    (void)rt;
    sig_unpark((sig_wait *)f);
    return 0;
}

static void sig_cleanup(weft_future *f) { sig_unpark((sig_wait *)f); }

static void sig_describe(const weft_future *f, weft__rt *rt, char *buf,
                         size_t n)
{
    (void)rt;
    int s = ((const sig_wait *)f)->signum;
    const char *abbrev = sigabbrev_np(s);
    if (abbrev)
        snprintf(buf, n, "signal SIG%s", abbrev);
    else
        snprintf(buf, n, "signal %d", s);
}

static const weft__future_ops sig_ops = {
    .describe = sig_describe,
    .what = "signal",
    .poll = sig_poll,
    .cancel = sig_cancel,
    .cleanup = sig_cleanup,
};

static void sig_init(sig_wait *w, int signum)
{
    memset(w, 0, sizeof *w);
    w->base.ops = &sig_ops;
    w->base.magic = WEFT__FUTURE_MAGIC;
    w->signum = signum;
    weft__list_init(&w->link);
}

int weft_signal_wait(int signum)
{
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    if (!catchable(signum))
        return -EINVAL;
    sig_wait w;
    sig_init(&w, signum);
    int rc = weft__await_leaf(rt, &w.base);
    sig_cleanup(&w.base);
    return rc;
}

weft_future *weft_signal_wait_future(int signum)
{
    if (!catchable(signum)) {
        errno = EINVAL;
        return NULL;
    }
    sig_wait *w = weft__malloc(sizeof *w);
    if (!w) {
        errno = ENOMEM;
        return NULL;
    }
    sig_init(w, signum);
    return &w->base;
}

/* ---- the dump signal (obs/) --------------------------------------------- */

int weft__sig_watch(weft__rt *rt, int signum, uint64_t *seen)
{
    if (!catchable(signum))
        return -EINVAL;
    weft__io *io = weft__io_get(rt);
    if (!io)
        return -errno;
    int rc = sig_register(rt, io, signum);
    if (rc == 0)
        *seen = io->sig_seen[signum];
    return rc;
}

uint64_t weft__sig_deliveries(int signum, uint64_t *when_ns)
{
    if (when_ns)
        *when_ns = __atomic_load_n(&sig_when[signum], __ATOMIC_RELAXED);
    return __atomic_load_n(&sig_count[signum], __ATOMIC_SEQ_CST);
}
