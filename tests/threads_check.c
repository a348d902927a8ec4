/*
 * threads_check.c - the cross-thread scenarios, as a plain program so that
 * it also runs under ThreadSanitizer (Criterion's runner cannot start under
 * TSan).  Built by CMake as `threads_check` and run by CTest in every
 * build; `make test-tsan` runs it built with -fsanitize=thread.
 *
 * Scenarios:
 *  1. 4 plain threads each send 250,000 numbered items into one channel
 *     while a runtime receives: every item exactly once, each sender's
 *     items in order.
 *  2. Two runtimes on two threads send to each other (ping-pong), over
 *     unbounded and over bounded (capacity 1) channels.
 *  3. Senders cloned and dropped from other threads while the receiver
 *     closes: no item is lost or received twice, nothing leaks or races.
 *  4. Blocking jobs finishing on pool threads while the runtime runs.
 *  5. A bounded sender parked on runtime A, its receiver on runtime B: B's
 *     receives end A's waits while A's own tasks register and end other
 *     channel waits (A's list of waits must only be touched by A).
 *  6. A plain thread calls weft_try_recv in a loop while a task's sends are
 *     handed straight to the parked receive on the same runtime (and a
 *     second thread sends too): every item is received exactly once.
 *  7. I/O across threads: two runtimes on two threads each read a socket
 *     fed by a plain thread and wait for SIGUSR1, which that thread sends
 *     to the process until both have seen it (the signal handler writes
 *     both runtimes' wake fds).
 *
 * Prints one line per scenario and a closing "N passed, N failed" line;
 * exits non-zero on any failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "weft.h"

static int failures, passes;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);               \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            return (void *)1;                                                  \
        }                                                                      \
    } while (0)

static void report(const char *name, int rc, void *result)
{
    if (rc == 0 && result == NULL) {
        passes++;
        printf("ok   %s\n", name);
    } else {
        failures++;
        printf("FAIL %s (weft_run %d)\n", name, rc);
    }
}

static size_t scaled(size_t n)
{
    const char *s = getenv("WEFT_THREADS_SCALE"); /* e.g. 10 under valgrind */
    size_t div = s ? strtoul(s, NULL, 10) : 1;
    return div > 1 ? n / div : n;
}

/* ---- 1. four producer threads, one receiving runtime -------------------- */

enum { PRODUCERS = 4 };
static size_t per_producer;

typedef struct item {
    uint32_t producer;
    uint32_t seq;
} item;

static void *producer_thread(void *arg)
{
    weft_sender *tx = arg;
    static atomic_uint next_id;
    uint32_t id = atomic_fetch_add(&next_id, 1) % PRODUCERS;
    for (size_t i = 0; i < per_producer; i++) {
        item it = {id, (uint32_t)i};
        if (weft_send(tx, &it) != 0)
            return (void *)1;
    }
    weft_sender_drop(tx);
    return NULL;
}

static void *many_producers(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    CHECK(weft_channel(sizeof(item), &tx, &rx) == 0, "channel");
    pthread_t th[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        weft_sender *c = weft_sender_clone(tx);
        CHECK(c, "clone");
        weft_sender_share(c);
        CHECK(pthread_create(&th[i], NULL, producer_thread, c) == 0, "pthread");
    }
    weft_sender_drop(tx);
    uint32_t next[PRODUCERS] = {0};
    size_t total = 0;
    item it;
    int rc;
    while ((rc = weft_recv(rx, &it)) > 0) {
        CHECK(it.producer < PRODUCERS, "bad producer %u", it.producer);
        CHECK(it.seq == next[it.producer], "producer %u: got %u, want %u",
              it.producer, it.seq, next[it.producer]);
        next[it.producer]++;
        total++;
    }
    CHECK(rc == 0, "recv ended with %d", rc);
    for (int i = 0; i < PRODUCERS; i++) {
        void *r;
        pthread_join(th[i], &r);
        CHECK(r == NULL, "producer %d failed", i);
    }
    CHECK(total == PRODUCERS * per_producer, "received %zu of %zu", total,
          PRODUCERS * per_producer);
    weft_receiver_drop(rx);
    return NULL;
}

/* ---- 2. two runtimes ping-pong ------------------------------------------- */

typedef struct pp {
    weft_sender *tx;   /* to the other runtime */
    weft_receiver *rx; /* from it */
    size_t rounds;
    int starter;
} pp;

static void *pp_root(void *arg)
{
    pp *p = arg;
    uint64_t v = 0;
    if (p->starter)
        CHECK(weft_send(p->tx, &v) == 0, "first send");
    for (size_t i = 0; i < p->rounds; i++) {
        CHECK(weft_recv(p->rx, &v) == 1, "recv %zu", i);
        v++;
        if (!p->starter || i + 1 < p->rounds)
            CHECK(weft_send(p->tx, &v) == 0, "send %zu", i);
    }
    CHECK(v == (p->starter ? 2 * p->rounds : 2 * p->rounds - 1),
          "final value %llu", (unsigned long long)v);
    weft_sender_drop(p->tx);
    weft_receiver_drop(p->rx);
    return NULL;
}

static void *pp_thread(void *arg)
{
    void *res = (void *)1;
    int rc = weft_run(pp_root, arg, &res);
    return rc ? (void *)1 : res;
}

static void *two_runtimes(void *arg)
{
    size_t capacity = (size_t)(uintptr_t)arg;
    weft_channel_opts o = {.capacity = capacity};
    pp a = {.rounds = scaled(20000), .starter = 1}, b = {.rounds = a.rounds};
    CHECK(weft_channel_with(sizeof(uint64_t), &o, &a.tx, &b.rx) == 0, "ab");
    CHECK(weft_channel_with(sizeof(uint64_t), &o, &b.tx, &a.rx) == 0, "ba");
    pthread_t ta, tb;
    CHECK(pthread_create(&tb, NULL, pp_thread, &b) == 0, "thread b");
    CHECK(pthread_create(&ta, NULL, pp_thread, &a) == 0, "thread a");
    void *ra, *rb;
    pthread_join(ta, &ra);
    pthread_join(tb, &rb);
    CHECK(ra == NULL && rb == NULL, "a %p b %p", ra, rb);
    return NULL;
}

/* ---- 3. clone and drop from threads while the receiver closes ----------- */

static atomic_size_t sent_ok;

static void *churn_thread(void *arg)
{
    weft_sender *tx = arg;
    for (int i = 0; i < 2000; i++) {
        weft_sender *c = weft_sender_clone(tx);
        if (!c)
            return (void *)1;
        int v = i;
        int rc = weft_send(c, &v);
        if (rc == 0)
            atomic_fetch_add(&sent_ok, 1);
        else if (rc != -EPIPE)
            return (void *)1;
        weft_sender_drop(c);
    }
    weft_sender_drop(tx);
    return NULL;
}

static void *clone_drop_close(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    CHECK(weft_channel(sizeof(int), &tx, &rx) == 0, "channel");
    atomic_store(&sent_ok, 0);
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        weft_sender *c = weft_sender_clone(tx);
        weft_sender_share(c);
        CHECK(pthread_create(&th[i], NULL, churn_thread, c) == 0, "pthread");
    }
    weft_sender_drop(tx);
    size_t got = 0;
    int v;
    for (int i = 0; i < 500 && weft_recv(rx, &v) > 0; i++)
        got++;
    weft_receiver_close(rx); /* while the threads still clone and send */
    while (weft_recv(rx, &v) > 0)
        got++;
    for (int i = 0; i < 3; i++) {
        void *r;
        pthread_join(th[i], &r);
        CHECK(r == NULL, "thread %d failed", i);
    }
    CHECK(got == atomic_load(&sent_ok), "received %zu, sent %zu", got,
          atomic_load(&sent_ok));
    weft_receiver_drop(rx);
    return NULL;
}

/* ---- 4. blocking jobs ---------------------------------------------------- */

static void *job(void *arg)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
    return (void *)((uintptr_t)arg + 1);
}

static void *blocking_jobs(void *arg)
{
    (void)arg;
    enum { N = 200 };
    weft_task *t[N];
    for (int i = 0; i < N; i++) {
        t[i] = weft_spawn_blocking(job, (void *)(uintptr_t)i);
        CHECK(t[i], "spawn_blocking %d", i);
    }
    for (int i = 0; i < N; i++) {
        void *r;
        CHECK(weft_task_join(t[i], &r) == 0, "join %d", i);
        CHECK((uintptr_t)r == (uintptr_t)i + 1, "result %d", i);
    }
    return NULL;
}

/* ---- 5. bounded waits ended from another runtime ------------------------ */

static weft_sender *w_btx, *w_ctx;
static weft_receiver *w_brx, *w_crx;
static atomic_int w_done;
static size_t w_n;

static void *w_b_body(void *arg)
{
    (void)arg;
    int v;
    size_t n = 0;
    while (weft_recv(w_brx, &v) > 0)
        n++;
    CHECK(n == w_n, "runtime B received %zu of %zu", n, w_n);
    return NULL;
}

static void *w_b_thread(void *arg)
{
    (void)arg;
    void *res = (void *)1;
    int rc = weft_run(w_b_body, NULL, &res);
    return rc == 0 ? res : (void *)1;
}

static void *w_feeder(void *arg) /* keeps runtime A's receive waiting */
{
    (void)arg;
    int i = 0;
    while (!atomic_load(&w_done)) {
        weft_send(w_ctx, &i);
        i++;
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    weft_sender_drop(w_ctx);
    return NULL;
}

static void *w_sender(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < w_n; i++) {
        int v = (int)i;
        CHECK(weft_send(w_btx, &v) == 0, "bounded send %zu", i);
    }
    weft_sender_drop(w_btx);
    atomic_store(&w_done, 1);
    return NULL;
}

static void *w_receiver(void *arg)
{
    (void)arg;
    int v;
    while (weft_recv(w_crx, &v) > 0)
        ;
    return NULL;
}

static void *waits_across_runtimes(void *arg)
{
    (void)arg;
    w_n = scaled(5000);
    atomic_store(&w_done, 0);
    weft_channel_opts one = {.capacity = 1};
    CHECK(weft_channel_with(sizeof(int), &one, &w_btx, &w_brx) == 0, "channel");
    CHECK(weft_channel(sizeof(int), &w_ctx, &w_crx) == 0, "channel");
    weft_sender_share(w_ctx);
    pthread_t tb, tf;
    CHECK(pthread_create(&tb, NULL, w_b_thread, NULL) == 0, "pthread");
    CHECK(pthread_create(&tf, NULL, w_feeder, NULL) == 0, "pthread");
    weft_task *s = weft_spawn(w_sender, NULL);
    weft_task *r = weft_spawn(w_receiver, NULL);
    void *rs, *rr, *rb;
    CHECK(weft_task_join(s, &rs) == 0 && rs == NULL, "sender failed");
    CHECK(weft_task_join(r, &rr) == 0 && rr == NULL, "receiver failed");
    pthread_join(tb, &rb);
    pthread_join(tf, NULL);
    CHECK(rb == NULL, "runtime B failed");
    weft_receiver_drop(w_brx);
    weft_receiver_drop(w_crx);
    return NULL;
}

/* ---- 6. try_recv from a thread racing same-runtime handoffs ------------- */

enum { S_LOCAL = 200000, S_REMOTE = 100000 };
static atomic_int s_seen[S_LOCAL + S_REMOTE];
static atomic_int s_stop;
static size_t s_local, s_remote;
static weft_sender *s_tx, *s_xtx;
static weft_receiver *s_rx;

static void *s_thief(void *arg)
{
    (void)arg;
    int v;
    while (!atomic_load(&s_stop))
        if (weft_try_recv(s_rx, &v) == 1)
            atomic_fetch_add(&s_seen[v], 1);
    return NULL;
}

static void *s_xsender(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < s_remote; i++) {
        int v = (int)(S_LOCAL + i);
        if (weft_send(s_xtx, &v) != 0)
            return (void *)1;
    }
    weft_sender_drop(s_xtx);
    return NULL;
}

static void *s_receiver(void *arg)
{
    (void)arg;
    int v, rc;
    while ((rc = weft_recv(s_rx, &v)) > 0)
        atomic_fetch_add(&s_seen[v], 1);
    CHECK(rc == 0, "receive ended with %d", rc);
    return NULL;
}

static void *s_sender(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < s_local; i++) {
        int v = (int)i;
        CHECK(weft_send(s_tx, &v) == 0, "send %zu", i);
        if (i % 3 == 0)
            weft_yield(); /* the receive parks: the next send hands off */
    }
    weft_sender_drop(s_tx);
    return NULL;
}

static void *try_recv_races_handoffs(void *arg)
{
    (void)arg;
    s_local = scaled(S_LOCAL);
    s_remote = scaled(S_REMOTE);
    atomic_store(&s_stop, 0);
    CHECK(weft_channel(sizeof(int), &s_tx, &s_rx) == 0, "channel");
    s_xtx = weft_sender_clone(s_tx);
    CHECK(s_xtx, "clone");
    weft_sender_share(s_tx);
    pthread_t th, xs;
    CHECK(pthread_create(&th, NULL, s_thief, NULL) == 0, "pthread");
    CHECK(pthread_create(&xs, NULL, s_xsender, NULL) == 0, "pthread");
    weft_task *r = weft_spawn(s_receiver, NULL);
    weft_task *s = weft_spawn(s_sender, NULL);
    void *rs, *rr, *rx;
    CHECK(weft_task_join(s, &rs) == 0 && rs == NULL, "sender failed");
    CHECK(weft_task_join(r, &rr) == 0 && rr == NULL, "receiver failed");
    atomic_store(&s_stop, 1);
    pthread_join(th, NULL);
    pthread_join(xs, &rx);
    CHECK(rx == NULL, "thread sender failed");
    for (size_t i = 0; i < S_LOCAL + S_REMOTE; i++) {
        int want = (i < s_local || (i >= S_LOCAL && i - S_LOCAL < s_remote));
        CHECK(atomic_load(&s_seen[i]) == want, "item %zu seen %d times", i,
              atomic_load(&s_seen[i]));
    }
    weft_receiver_drop(s_rx);
    return NULL;
}

/* ---- 7. I/O and signals across threads --------------------------------- */

static atomic_int io_got;
static int io_sv[2][2];

static void *io_body(void *arg)
{
    int k = (int)(intptr_t)arg;
    char buf[8];
    ssize_t n = weft_read(io_sv[k][0], buf, sizeof buf);
    CHECK(n == 5 && memcmp(buf, "hello", 5) == 0, "runtime %d read %zd", k, n);
    CHECK(weft_signal_wait(SIGUSR1) == SIGUSR1, "runtime %d: signal", k);
    atomic_fetch_add(&io_got, 1);
    CHECK(weft_close(io_sv[k][0]) == 0, "close");
    return NULL;
}

static void *io_runtime(void *arg)
{
    void *res = (void *)1;
    int rc = weft_run(io_body, arg, &res);
    return rc == 0 ? res : (void *)1;
}

static void *io_feeder(void *arg)
{
    (void)arg;
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
    for (int k = 0; k < 2; k++)
        if (write(io_sv[k][1], "hello", 5) != 5)
            return (void *)1;
    while (atomic_load(&io_got) < 2) {
        kill(getpid(), SIGUSR1);
        nanosleep(&ms, NULL);
    }
    return NULL;
}

static void ignore_signal(int sig) { (void)sig; }

static int io_across_threads(void **result)
{
    /* A late SIGUSR1, after both runtimes restored the disposition, must
     * not kill the process. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ignore_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    for (int k = 0; k < 2; k++)
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, io_sv[k]) != 0)
            return -errno;
    pthread_t rt[2], feeder;
    void *res[3] = {(void *)1, (void *)1, (void *)1};
    for (int k = 0; k < 2; k++)
        pthread_create(&rt[k], NULL, io_runtime, (void *)(intptr_t)k);
    pthread_create(&feeder, NULL, io_feeder, NULL);
    for (int k = 0; k < 2; k++)
        pthread_join(rt[k], &res[k]);
    pthread_join(feeder, &res[2]);
    for (int k = 0; k < 2; k++)
        close(io_sv[k][1]);
    *result = res[0] || res[1] || res[2] ? (void *)1 : NULL;
    return 0;
}

int main(void)
{
    void *res;
    int rc;
    per_producer = scaled(250000);

    res = (void *)1;
    rc = weft_run(many_producers, NULL, &res);
    report("four producer threads into one channel", rc, res);

    res = (void *)1;
    rc = weft_run(two_runtimes, (void *)0, &res);
    report("two runtimes ping-pong (unbounded)", rc, res);

    res = (void *)1;
    rc = weft_run(two_runtimes, (void *)1, &res);
    report("two runtimes ping-pong (bounded 1)", rc, res);

    res = (void *)1;
    rc = weft_run(clone_drop_close, NULL, &res);
    report("clone and drop from threads while the receiver closes", rc, res);

    res = (void *)1;
    rc = weft_run(blocking_jobs, NULL, &res);
    report("blocking jobs on pool threads", rc, res);

    res = (void *)1;
    rc = weft_run(waits_across_runtimes, NULL, &res);
    report("bounded waits ended from another runtime", rc, res);

    res = (void *)1;
    rc = weft_run(try_recv_races_handoffs, NULL, &res);
    report("try_recv from a thread racing same-runtime handoffs", rc, res);

    res = (void *)1;
    rc = io_across_threads(&res);
    report("I/O and signals across runtimes on two threads", rc, res);

    printf("%d passed, %d failed\n", passes, failures);
    return failures != 0;
}
