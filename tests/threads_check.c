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
#include <string.h>
#include <time.h>

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

    printf("%d passed, %d failed\n", passes, failures);
    return failures != 0;
}
