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
 *  7. Cloned receivers: two tasks on each of three runtimes receive from
 *     one channel fed by two plain threads (unbounded and bounded 4):
 *     every item exactly once, every receive ends with the close.
 *  8. A receiver used by 40 runtimes in turn, each on a new thread, each
 *     receiving under 1 ms timeouts while a plain thread sends: wakes
 *     posted to a runtime whose receive has gone reach the next one.
 *  9. Two plain threads weft_send_blocking into a bounded(1) channel read
 *     by a plain thread's weft_recv_blocking and a task: each item once.
 * 10. Plain threads release a semaphore (and one takes permits with
 *     try_acquire) while tasks acquire under 50 us timeouts, so grants race
 *     cancellations: every permit is counted exactly once at the end.
 * 11. A plain thread notifies a task (notify_one and notify_all by turns)
 *     in lock step, thousands of times.
 * 12. Tasks of two runtimes on two threads take turns on one mutex, holding
 *     it across a yield: a plain counter under it ends exact.
 * 13. I/O across threads: two runtimes on two threads each read a socket
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
#include <signal.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

static atomic_int s_bad = -1; /* a received value out of range, if any */

/* Counts v as seen; an item no sender sent is a failure, not a wild write. */
static void s_count(int v)
{
    if (v < 0 || v >= S_LOCAL + S_REMOTE) {
        int none = -1;
        atomic_compare_exchange_strong(&s_bad, &none, v);
        return;
    }
    atomic_fetch_add(&s_seen[v], 1);
}

static void *s_thief(void *arg)
{
    (void)arg;
    int v;
    while (!atomic_load(&s_stop))
        if (weft_try_recv(s_rx, &v) == 1)
            s_count(v);
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
        s_count(v);
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
    CHECK(atomic_load(&s_bad) == -1, "received %d, which nobody sent",
          atomic_load(&s_bad));
    for (size_t i = 0; i < S_LOCAL + S_REMOTE; i++) {
        int want = (i < s_local || (i >= S_LOCAL && i - S_LOCAL < s_remote));
        CHECK(atomic_load(&s_seen[i]) == want, "item %zu seen %d times", i,
              atomic_load(&s_seen[i]));
    }
    weft_receiver_drop(s_rx);
    return NULL;
}

/* ---- 7. cloned receivers on three runtimes, plain-thread senders -------- */

enum { C_SENDERS = 2, C_RUNTIMES = 2, C_TASKS = 2 };
#define C_ITEMS 100000
static size_t c_items;
static weft_receiver *c_rx;
static atomic_int c_seen[C_SENDERS * C_ITEMS];

static void *c_consumer(void *arg)
{
    weft_receiver *rx = arg;
    int v;
    int rc;
    while ((rc = weft_recv(rx, &v)) == 1) {
        atomic_fetch_add(&c_seen[v], 1);
        if (v % 5 == 0)
            weft_yield();
    }
    weft_receiver_drop(rx);
    return rc == 0 ? NULL : (void *)1;
}

static void *c_consumers_root(void *arg)
{
    (void)arg;
    weft_task *ts[C_TASKS];
    for (int i = 0; i < C_TASKS; i++) {
        weft_receiver *rx = weft_receiver_clone(c_rx);
        CHECK(rx, "receiver clone");
        ts[i] = weft_spawn(c_consumer, rx);
    }
    for (int i = 0; i < C_TASKS; i++) {
        void *r;
        CHECK(weft_task_join(ts[i], &r) == 0 && r == NULL, "consumer");
    }
    return NULL;
}

static void *c_runtime_thread(void *arg)
{
    (void)arg;
    void *res = (void *)1;
    int rc = weft_run(c_consumers_root, NULL, &res);
    return rc ? (void *)1 : res;
}

static void *c_sender(void *arg)
{
    weft_sender *tx = arg;
    static atomic_int next_base;
    int base = atomic_fetch_add(&next_base, 1) % C_SENDERS * C_ITEMS;
    for (size_t i = 0; i < c_items; i++) {
        int v = base + (int)i;
        int rc;
        while ((rc = weft_try_send(tx, &v)) == -EAGAIN) /* bounded, full */
            sched_yield();
        if (rc != 0)
            return (void *)1;
    }
    weft_sender_drop(tx);
    return NULL;
}

static void *cloned_receivers(void *arg)
{
    size_t capacity = (size_t)(intptr_t)arg;
    c_items = scaled(C_ITEMS);
    for (size_t i = 0; i < C_SENDERS * C_ITEMS; i++)
        atomic_store(&c_seen[i], 0);
    weft_sender *tx;
    weft_channel_opts o = {.capacity = capacity};
    CHECK(weft_channel_with(sizeof(int), &o, &tx, &c_rx) == 0, "channel");
    weft_sender_share(tx); /* plain threads will send (weft.h) */
    pthread_t rts[C_RUNTIMES], snd[C_SENDERS];
    for (int i = 0; i < C_RUNTIMES; i++)
        CHECK(pthread_create(&rts[i], NULL, c_runtime_thread, NULL) == 0,
              "pthread");
    for (int i = 0; i < C_SENDERS; i++)
        CHECK(pthread_create(&snd[i], NULL, c_sender, weft_sender_clone(tx)) ==
                  0,
              "pthread");
    weft_sender_drop(tx);
    void *mine = c_consumers_root(NULL); /* this runtime consumes too */
    for (int i = 0; i < C_SENDERS; i++) {
        void *r;
        pthread_join(snd[i], &r);
        CHECK(r == NULL, "sender thread");
    }
    for (int i = 0; i < C_RUNTIMES; i++) {
        void *r;
        pthread_join(rts[i], &r);
        CHECK(r == NULL, "runtime thread");
    }
    CHECK(mine == NULL, "this runtime's consumers");
    for (size_t k = 0; k < C_SENDERS; k++)
        for (size_t i = 0; i < C_ITEMS; i++) {
            int want = i < c_items;
            int got = atomic_load(&c_seen[k * C_ITEMS + i]);
            CHECK(got == want, "item %zu seen %d times", k * C_ITEMS + i, got);
        }
    weft_receiver_drop(c_rx);
    return NULL;
}

/* ---- 7b. a posted wake follows the slot when its runtime then blocks ---
 *
 * Receive c1 (runtime A) holds the slot, c3 (runtime B) waits behind it.  A
 * plain thread sends while A is busy: the wake is posted to A.  A's task c2
 * then aborts c1 (the slot passes to c3) and blocks A's thread.  The wake
 * must reach c3 now, not when A next services its inbox (never, here);
 * before the fix it stayed in A's inbox and c3 timed out. */

static weft_sender *p_tx;
static weft_receiver *p_rx[3]; /* c1's and c2's (A), c3's (B) */
static atomic_int p_stage;     /* 1: c1 waits; 2: c3 waits; 3: sent */
static sem_t p_release;        /* lets A's thread go on */

static int p_wait_stage(int stage)
{
    for (int i = 0; i < 20000 && atomic_load(&p_stage) < stage; i++) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return atomic_load(&p_stage) >= stage;
}

static void *p_c1(void *arg)
{
    (void)arg;
    int v;
    int rc = weft_recv(p_rx[0], &v); /* aborted while it waits */
    return rc == -ECANCELED ? NULL : (void *)1;
}

static void *p_c2(void *arg)
{
    weft_task *c1 = arg;
    atomic_store(&p_stage, 1); /* c1 ran before this: it holds the slot */
    /* Busy, without suspending, until the wake is posted to A. */
    uint64_t spins = 0;
    while (atomic_load(&p_stage) < 3 && ++spins < (1ull << 36))
        sched_yield(); /* the thread's, not the task's: A stays busy */
    CHECK(atomic_load(&p_stage) == 3, "the item was never sent");
    weft_task_abort(c1);
    void *r;
    CHECK(weft_task_join(c1, &r) == -ECANCELED || r == NULL, "c1");
    sem_wait(&p_release); /* A's thread blocks: its inbox waits */
    return NULL;
}

static void *p_root_a(void *arg)
{
    (void)arg;
    weft_task *c1 = weft_spawn(p_c1, NULL);
    weft_task *c2 = weft_spawn(p_c2, c1);
    void *r;
    CHECK(weft_task_join(c2, &r) == 0 && r == NULL, "c2");
    return NULL;
}

static void *p_c3(void *arg)
{
    (void)arg;
    int v = 0;
    void *res = NULL;
    int rc = weft_timeout(weft_recv_future(p_rx[2], &v), WEFT_SEC(10), &res);
    CHECK(rc == 1 && v == 42, "c3's receive: %d (%d)", rc, v);
    return NULL;
}

static void *p_root_b(void *arg)
{
    (void)arg;
    CHECK(p_wait_stage(1), "A never started");
    weft_task *c3 = weft_spawn(p_c3, NULL);
    weft_yield(); /* c3 runs first and waits behind c1 */
    atomic_store(&p_stage, 2);
    void *r;
    CHECK(weft_task_join(c3, &r) == 0, "c3");
    return r;
}

static void *p_run(void *root)
{
    void *res = (void *)1;
    int rc = weft_run((weft_fn *)root, NULL, &res);
    return rc ? (void *)1 : res;
}

static void *posted_wake_follows_the_slot(void)
{
    weft_receiver *rx;
    atomic_store(&p_stage, 0);
    CHECK(weft_channel(sizeof(int), &p_tx, &rx) == 0, "channel");
    weft_sender_share(p_tx);
    for (int i = 0; i < 3; i++)
        CHECK((p_rx[i] = weft_receiver_clone(rx)), "clone");
    CHECK(sem_init(&p_release, 0, 0) == 0, "sem_init");
    pthread_t a, b;
    CHECK(pthread_create(&a, NULL, p_run, (void *)p_root_a) == 0, "pthread");
    CHECK(pthread_create(&b, NULL, p_run, (void *)p_root_b) == 0, "pthread");
    int ok = p_wait_stage(2);
    int v = 42;
    int sent = ok ? weft_try_send(p_tx, &v) : -1;
    atomic_store(&p_stage, 3);
    void *rb, *ra;
    pthread_join(b, &rb);
    sem_post(&p_release);
    pthread_join(a, &ra);
    sem_destroy(&p_release);
    weft_sender_drop(p_tx);
    for (int i = 0; i < 3; i++)
        weft_receiver_drop(p_rx[i]);
    weft_receiver_drop(rx);
    CHECK(ok && sent == 0, "B never waited, or the send failed (%d)", sent);
    CHECK(rb == NULL, "runtime B");
    CHECK(ra == NULL, "runtime A");
    return NULL;
}

/* ---- 8. a receiver moves from runtime to runtime while a thread sends --- */

#define M_ROUNDS 40
static weft_receiver *m_rx;
static atomic_int m_received;
static size_t m_per_round;

/* Receives m_per_round items, each under a 1 ms timeout (so receives are
 * withdrawn with wakes from the sender thread in flight), then ends. */
static void *m_round_root(void *arg)
{
    (void)arg;
    size_t got = 0;
    while (got < m_per_round) {
        int v;
        void *res = NULL;
        int rc = weft_timeout(weft_recv_future(m_rx, &v), WEFT_MS(1), &res);
        if (rc == 1) { /* the receive's status: an item */
            got++;
            atomic_fetch_add(&m_received, 1);
        } else {
            CHECK(rc == -ETIMEDOUT, "receive: %d", rc);
        }
    }
    return NULL;
}

static void *m_round_thread(void *arg)
{
    (void)arg;
    void *res = (void *)1;
    int rc = weft_run(m_round_root, NULL, &res);
    return rc ? (void *)1 : res;
}

static void *m_sender(void *arg)
{
    weft_sender *tx = arg;
    for (size_t i = 0; i < M_ROUNDS * m_per_round; i++) {
        int v = (int)i;
        if (weft_send(tx, &v) != 0)
            return (void *)1;
        if (i % 64 == 0)
            sched_yield();
    }
    weft_sender_drop(tx);
    return NULL;
}

static void *moving_receiver(void *arg)
{
    (void)arg;
    m_per_round = scaled(2000);
    atomic_store(&m_received, 0);
    weft_sender *tx;
    CHECK(weft_channel(sizeof(int), &tx, &m_rx) == 0, "channel");
    pthread_t snd;
    CHECK(pthread_create(&snd, NULL, m_sender, tx) == 0, "pthread");
    for (int round = 0; round < M_ROUNDS; round++) {
        pthread_t th; /* a new thread, a new runtime, each round */
        CHECK(pthread_create(&th, NULL, m_round_thread, NULL) == 0, "pthread");
        void *r;
        pthread_join(th, &r);
        CHECK(r == NULL, "round %d", round);
    }
    void *r;
    pthread_join(snd, &r);
    CHECK(r == NULL, "sender thread");
    CHECK((size_t)atomic_load(&m_received) == M_ROUNDS * m_per_round,
          "received %d", atomic_load(&m_received));
    int v;
    CHECK(weft_try_recv(m_rx, &v) == 0, "closed and drained");
    weft_receiver_drop(m_rx);
    return NULL;
}

/* ---- 9. plain threads: blocking send and receive, with a runtime -------- */

#define B_ITEMS 50000
static size_t b_items;
static atomic_int b_seen[B_ITEMS];

static void *b_producer(void *arg)
{
    weft_sender *tx = arg;
    for (size_t i = 0; i < b_items; i++) {
        int v = (int)i;
        if (weft_send_blocking(tx, &v) != 0)
            return (void *)1;
    }
    weft_sender_drop(tx);
    return NULL;
}

static void *b_thread_consumer(void *arg)
{
    weft_receiver *rx = arg;
    int v, rc;
    while ((rc = weft_recv_blocking(rx, &v)) == 1)
        atomic_fetch_add(&b_seen[v], 1);
    weft_receiver_drop(rx);
    return rc == 0 ? NULL : (void *)1;
}

static void *blocking_threads(void *arg)
{
    (void)arg;
    b_items = scaled(B_ITEMS);
    for (size_t i = 0; i < B_ITEMS; i++)
        atomic_store(&b_seen[i], 0);
    weft_sender *tx;
    weft_receiver *rx;
    weft_channel_opts o = {.capacity = 1};
    CHECK(weft_channel_with(sizeof(int), &o, &tx, &rx) == 0, "channel");
    weft_sender_share(tx);
    pthread_t p1, p2, c1;
    CHECK(pthread_create(&c1, NULL, b_thread_consumer,
                         weft_receiver_clone(rx)) == 0,
          "pthread");
    CHECK(pthread_create(&p1, NULL, b_producer, weft_sender_clone(tx)) == 0,
          "pthread");
    CHECK(pthread_create(&p2, NULL, b_producer, tx) == 0, "pthread");
    int v;
    while (weft_recv(rx, &v) == 1) /* this task consumes too */
        atomic_fetch_add(&b_seen[v], 1);
    weft_receiver_drop(rx);
    void *r1, *r2, *r3;
    pthread_join(p1, &r1);
    pthread_join(p2, &r2);
    pthread_join(c1, &r3);
    CHECK(!r1 && !r2 && !r3, "threads");
    for (size_t i = 0; i < B_ITEMS; i++) { /* two producers send each i */
        int want = i < b_items ? 2 : 0;
        CHECK(atomic_load(&b_seen[i]) == want, "item %zu seen %d times", i,
              atomic_load(&b_seen[i]));
    }
    return NULL;
}

/* ---- 10-12. semaphore, notify, mutex across threads (src/sync) ---------- */

enum { X_RELEASERS = 2, X_TAKERS = 3 };
static weft_semaphore *x_sem;
static size_t x_per_thread;
static atomic_int x_stop;
static atomic_size_t x_thief_got;

static void *x_releaser(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < x_per_thread; i++) {
        weft_semaphore_release(x_sem, 1);
        if (i % 64 == 0)
            sched_yield();
    }
    return NULL;
}

static void *x_thief(void *arg)
{
    (void)arg;
    while (!atomic_load(&x_stop)) {
        if (weft_semaphore_try_acquire(x_sem, 1) == 0)
            atomic_fetch_add(&x_thief_got, 1);
        sched_yield();
    }
    return NULL;
}

static void *x_taker(void *arg)
{
    size_t *got = arg;
    for (;;) {
        int rc = weft_timeout(weft_semaphore_acquire_future(x_sem, 1),
                              WEFT_US(50), NULL);
        if (rc == 0)
            (*got)++;
        else if (rc != -ETIMEDOUT)
            return (void *)1;
        else if (atomic_load(&x_stop))
            return NULL;
    }
}

static void *semaphore_across_threads(void *arg)
{
    (void)arg;
    x_per_thread = scaled(50000);
    atomic_store(&x_stop, 0);
    atomic_store(&x_thief_got, 0);
    x_sem = weft_semaphore_new(0);
    CHECK(x_sem, "semaphore");
    size_t got[X_TAKERS] = {0};
    weft_task *t[X_TAKERS];
    for (int i = 0; i < X_TAKERS; i++)
        CHECK((t[i] = weft_spawn(x_taker, &got[i])), "spawn");
    pthread_t th[X_RELEASERS], thief;
    for (int i = 0; i < X_RELEASERS; i++)
        CHECK(pthread_create(&th[i], NULL, x_releaser, NULL) == 0, "pthread");
    CHECK(pthread_create(&thief, NULL, x_thief, NULL) == 0, "pthread");
    for (int i = 0; i < X_RELEASERS; i++)
        pthread_join(th[i], NULL);
    weft_sleep(WEFT_MS(5)); /* let the takers drain what is left */
    atomic_store(&x_stop, 1);
    pthread_join(thief, NULL);
    size_t total = 0;
    for (int i = 0; i < X_TAKERS; i++) {
        void *r;
        CHECK(weft_task_join(t[i], &r) == 0 && r == NULL, "taker %d", i);
        total += got[i];
    }
    size_t left = weft_semaphore_available(x_sem);
    size_t thief_got = atomic_load(&x_thief_got);
    CHECK(total + thief_got + left == X_RELEASERS * x_per_thread,
          "tasks %zu + thread %zu + left %zu != released %zu", total, thief_got,
          left, X_RELEASERS * x_per_thread);
    weft_semaphore_free(x_sem);
    return NULL;
}

static weft_notify *n_notify;
static atomic_size_t n_ack;
static size_t n_rounds;

static void *n_thread(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < n_rounds; i++) {
        if (i % 2)
            weft_notify_one(n_notify);
        else
            weft_notify_all(n_notify);
        while (atomic_load(&n_ack) < i + 1)
            sched_yield();
    }
    return NULL;
}

static void *notify_across_threads(void *arg)
{
    (void)arg;
    n_rounds = scaled(20000);
    atomic_store(&n_ack, 0);
    n_notify = weft_notify_new();
    CHECK(n_notify && weft_notify_share(n_notify) == 0, "notify");
    /* Each round's future is made before the thread may notify for that
     * round (before the thread starts, or before the previous round is
     * acked), so it counts the round's notify_all even if it was not
     * polled yet (and a notify_one before its first poll is a stored
     * permit). */
    weft_future *f = weft_notified_future(n_notify);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, n_thread, NULL) == 0, "pthread");
    for (size_t i = 0; i < n_rounds; i++) {
        CHECK(f && weft_await(f, NULL) == 0, "notified %zu", i);
        f = i + 1 < n_rounds ? weft_notified_future(n_notify) : NULL;
        atomic_store(&n_ack, i + 1);
    }
    pthread_join(th, NULL);
    weft_notify_free(n_notify);
    return NULL;
}

static weft_mutex *m_mutex;
static long m_counter; /* plain: the mutex guards it */
static size_t m_rounds;

static void *m_worker(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < m_rounds; i++) {
        CHECK(weft_mutex_lock(m_mutex) == 0, "lock");
        long v = m_counter;
        if (i % 4 == 0)
            weft_yield(); /* held across a suspension */
        m_counter = v + 1;
        weft_mutex_unlock(m_mutex);
    }
    return NULL;
}

static void *m_root(void *arg)
{
    (void)arg;
    weft_task *a = weft_spawn(m_worker, NULL);
    weft_task *b = weft_spawn(m_worker, NULL);
    void *ra, *rb;
    CHECK(a && b, "spawn");
    CHECK(weft_task_join(a, &ra) == 0 && ra == NULL, "worker a");
    CHECK(weft_task_join(b, &rb) == 0 && rb == NULL, "worker b");
    return NULL;
}

static void *m_thread(void *arg)
{
    void *res = (void *)1;
    int rc = weft_run(m_root, NULL, &res);
    *(int *)arg = rc == 0 && res == NULL;
    return NULL;
}

static void *mutex_across_runtimes(void *arg)
{
    (void)arg;
    m_rounds = scaled(20000);
    m_counter = 0;
    int other_ok = 0;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, m_thread, &other_ok) == 0, "pthread");
    void *r = m_root(NULL);
    pthread_join(th, NULL);
    CHECK(r == NULL && other_ok, "a runtime failed");
    CHECK(m_counter == (long)(4 * m_rounds), "counter %ld, want %zu", m_counter,
          4 * m_rounds);
    return NULL;
}

/* ---- 13. I/O and signals across threads -------------------------------- */

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
    setvbuf(stdout, NULL, _IOLBF, 0); /* a line per scenario as it ends */
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
    rc = weft_run(cloned_receivers, (void *)0, &res);
    report("cloned receivers on three runtimes (unbounded)", rc, res);

    res = posted_wake_follows_the_slot();
    report("a posted wake follows the slot when its runtime blocks", 0, res);

    res = (void *)1;
    rc = weft_run(cloned_receivers, (void *)4, &res);
    report("cloned receivers on three runtimes (bounded 4)", rc, res);

    res = (void *)1;
    rc = weft_run(moving_receiver, NULL, &res);
    report("a receiver moving between runtimes while a thread sends", rc, res);

    res = (void *)1;
    rc = weft_run(blocking_threads, NULL, &res);
    report("blocking send and receive on plain threads, with a runtime", rc,
           res);

    res = (void *)1;
    rc = weft_run(semaphore_across_threads, NULL, &res);
    report("semaphore released by threads, grants racing timeouts", rc, res);

    res = (void *)1;
    rc = weft_run(notify_across_threads, NULL, &res);
    report("notify_one and notify_all from a thread", rc, res);

    m_mutex = weft_mutex_new(); /* outside both runtimes: shared */
    res = (void *)1;
    rc = m_mutex ? weft_run(mutex_across_runtimes, NULL, &res) : -ENOMEM;
    report("one mutex, tasks of two runtimes", rc, res);
    weft_mutex_free(m_mutex);

    res = (void *)1;
    rc = io_across_threads(&res);
    report("I/O and signals across runtimes on two threads", rc, res);

    /* The same pool jobs on a traced runtime: pool threads write their
     * slices under the trace's lock while the runtime writes its own. */
    weft_config traced = {.trace_path = "/dev/null"};
    res = (void *)1;
    rc = weft_run_with(&traced, blocking_jobs, NULL, &res);
    report("blocking jobs on pool threads, traced", rc, res);

    printf("%d passed, %d failed\n", passes, failures);
    return failures != 0;
}
