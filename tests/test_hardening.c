/*
 * test_hardening.c - bug classes seen in other runtimes (tokio, Go, libdill,
 * libmill, neco), each closed by a test:
 *
 *  - a receive that loses a race or times out consumes no item; a wait that
 *    becomes ready and times out in the same round resumes once and loses
 *    nothing (1,000 rounds with random timing: sent = received + left);
 *  - a timeout whose future is ready at once wins even with a zero timeout;
 *    an unready one with a zero timeout fails at once, consuming nothing;
 *  - a million timeouts created and cancelled leave the timer count and the
 *    memory where they started;
 *  - fairness under load: tasks that keep waking each other forever do not
 *    delay a sleeper, nor a wake from another thread, by more than a few ms;
 *  - free stacks past the pool's bound give their memory back (in batches)
 *    and keep their guards (the stack pool, driven directly).
 * (The pending bounded send that ends other than by success is in
 * test_bounded.c; the floating-point environment per task in
 * test_runtime.c.)
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include "stack/stack.h"
#include "support.h"
#include "weft.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ---- receives that lose a race or time out consume nothing ------------- */

typedef struct feed {
    weft_sender *tx;
    int rounds;
    int sent;
} feed;

static void *feeder(void *arg)
{
    feed *f = arg;
    for (int i = 0; i < f->rounds; i++) {
        if (weft_sleep(xorshift() % 4) < 0) /* 0..3 ns: same-round ties */
            break;
        if (weft_send(f->tx, &i) == 0)
            f->sent++;
    }
    weft_sender_drop(f->tx);
    return NULL;
}

static void *root_no_loss(void *arg)
{
    (void)arg;
    weft_receiver *rx;
    feed f = {.rounds = 1000};
    cr_assert_eq(weft_channel(sizeof(int), &f.tx, &rx), 0);
    weft_task *t = weft_spawn(feeder, &f);
    int received = 0, next = 0, v = -1;
    for (int i = 0; i < 3000; i++) {
        int rc;
        if (i % 2) {
            rc = weft_timeout(weft_recv_future(rx, &v), xorshift() % 4, NULL);
        } else {
            weft_future *fs[2] = {weft_sleep_future(xorshift() % 4),
                                  weft_recv_future(rx, &v)};
            void *status = NULL;
            rc = weft_race(fs, 2, &status);
            /* The receive's status when it won: 1 item, 0 closed. */
            rc = rc == 1 ? (int)(intptr_t)status : -ETIMEDOUT;
        }
        if (rc == 1) {
            cr_assert_eq(v, next, "items out of order or lost");
            next++;
            received++;
        } else {
            cr_assert(rc == -ETIMEDOUT || rc == 0, "rc %d", rc);
        }
    }
    cr_assert_eq(weft_task_join(t, NULL), 0);
    int left = 0;
    while (weft_try_recv(rx, &v) == 1) {
        cr_assert_eq(v, next++);
        left++;
    }
    cr_assert_eq(f.sent, 1000);
    cr_assert_eq(f.sent, received + left, "sent %d, received %d, left %d",
                 f.sent, received, left);
    weft_receiver_drop(rx);
    return NULL;
}

Test(hardening, racing_receives_lose_nothing)
{
    run_virtual(root_no_loss, NULL);
}

/* ---- zero timeouts ------------------------------------------------------- */

static void *ready_now(void *arg) { return arg; }

static void *root_zero_timeout(void *arg)
{
    (void)arg;
    void *r = NULL;
    /* Ready at once: wins, even with a zero timeout. */
    cr_assert_eq(weft_timeout(weft_async(ready_now, (void *)7), 0, &r), 0);
    cr_assert_eq((intptr_t)r, 7);
    weft_sender *tx;
    weft_receiver *rx;
    cr_assert_eq(weft_channel(sizeof(int), &tx, &rx), 0);
    int v = 5, got = 0;
    weft_send(tx, &v);
    cr_assert_eq(weft_timeout(weft_recv_future(rx, &got), 0, NULL), 1);
    cr_assert_eq(got, 5);
    /* Not ready: fails at once, without suspending, consuming nothing. */
    uint64_t t0 = weft_now();
    cr_assert_eq(weft_timeout(weft_recv_future(rx, &got), 0, NULL), -ETIMEDOUT);
    cr_assert_eq(weft_now(), t0);
    v = 6;
    weft_send(tx, &v);
    cr_assert_eq(weft_try_recv(rx, &got), 1);
    cr_assert_eq(got, 6);
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    return NULL;
}

Test(hardening, zero_timeouts) { run_virtual(root_zero_timeout, NULL); }

/* ---- a million timeouts leave nothing behind --------------------------- */

static void *root_million(void *arg)
{
    (void)arg;
    int n = getenv("WEFT_TEST_VALGRIND") ? 20000 : 1000000;
    weft_stats before, after;
    weft_sender *tx;
    weft_receiver *rx;
    cr_assert_eq(weft_channel(sizeof(int), &tx, &rx), 0);
    int v = 0;
    /* Warm up: the timer heap and the pools reach their working size. */
    for (int i = 0; i < 1000; i++)
        weft_timeout(weft_recv_future(rx, &v), WEFT_SEC(1 + i % 7), NULL);
    cr_assert_eq(weft_runtime_stats(&before), 0);
    struct mallinfo2 m0 = mallinfo2();
    for (int i = 0; i < n; i++) {
        /* Created, armed and cancelled: the receive wins every time. */
        weft_send(tx, &i);
        cr_assert_eq(
            weft_timeout(weft_recv_future(rx, &v), WEFT_SEC(1 + i % 7), NULL),
            1);
    }
    struct mallinfo2 m1 = mallinfo2();
    cr_assert_eq(weft_runtime_stats(&after), 0);
    cr_assert_eq(after.timers, before.timers, "timers %zu -> %zu",
                 before.timers, after.timers);
    cr_assert_eq(after.timers, 0);
    long grown = (long)m1.uordblks - (long)m0.uordblks;
    cr_assert_lt(labs(grown), 64 * 1024, "heap in use changed by %ld bytes",
                 grown);
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    return NULL;
}

Test(hardening, million_timeouts_leave_nothing)
{
    run_virtual(root_million, NULL);
}

/* ---- fairness under load ------------------------------------------------- */

static atomic_int stop_spinning;

/* Two tasks that wake each other forever through a pair of channels. */
typedef struct spinner {
    weft_sender *tx;
    weft_receiver *rx;
    int first;
} spinner;

static void *spin(void *arg)
{
    spinner *s = arg;
    int v = 0;
    if (s->first)
        weft_send(s->tx, &v);
    while (!atomic_load(&stop_spinning) && weft_recv(s->rx, &v) > 0)
        if (weft_send(s->tx, &v) < 0)
            break;
    return NULL;
}

enum { CROSS_SENDS = 9 };

static void *cross_sender(void *arg)
{
    weft_sender *tx = arg;
    for (int i = 0; i < CROSS_SENDS; i++) {
        thread_sleep_ms(5);
        uint64_t at = real_now_ns();
        weft_send(tx, &at);
    }
    weft_sender_drop(tx);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void *root_fairness(void *arg)
{
    (void)arg;
    spinner a = {.first = 1}, b = {0};
    cr_assert_eq(weft_channel(sizeof(int), &a.tx, &b.rx), 0);
    cr_assert_eq(weft_channel(sizeof(int), &b.tx, &a.rx), 0);
    atomic_store(&stop_spinning, 0);
    weft_task *ta = weft_spawn(spin, &a), *tb = weft_spawn(spin, &b);
    weft_yield(); /* the spinners now keep the run queue busy forever */

    /* Starvation would make every sleep late; a loaded machine makes some
     * late by descheduling the whole process: the median tells them
     * apart. */
    enum { SLEEPS = 21 };
    uint64_t late[SLEEPS];
    for (int i = 0; i < SLEEPS; i++) {
        uint64_t t0 = weft_now();
        cr_assert_eq(weft_sleep(WEFT_MS(2)), 0);
        late[i] = weft_now() - t0 - WEFT_MS(2);
    }
    qsort(late, SLEEPS, sizeof late[0], cmp_u64);
    if (real_time_asserted())
        cr_assert_lt(late[SLEEPS / 2], WEFT_MS(3),
                     "busy tasks delayed a sleeper by %llu ns (median)",
                     (unsigned long long)late[SLEEPS / 2]);

    /* A wake from another thread is serviced too. */
    weft_sender *xtx;
    weft_receiver *xrx;
    cr_assert_eq(weft_channel(sizeof(uint64_t), &xtx, &xrx), 0);
    weft_sender_share(xtx);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, cross_sender, xtx), 0);
    uint64_t delay[CROSS_SENDS], sent_at;
    for (int i = 0; i < CROSS_SENDS; i++) {
        cr_assert_eq(weft_recv(xrx, &sent_at), 1);
        delay[i] = real_now_ns() - sent_at;
    }
    pthread_join(th, NULL);
    qsort(delay, CROSS_SENDS, sizeof delay[0], cmp_u64);
    if (real_time_asserted())
        cr_assert_lt(delay[CROSS_SENDS / 2], WEFT_MS(3),
                     "cross-thread wakes waited %llu ns behind busy tasks "
                     "(median)",
                     (unsigned long long)delay[CROSS_SENDS / 2]);
    weft_receiver_drop(xrx);

    atomic_store(&stop_spinning, 1);
    weft_task_abort(ta);
    weft_task_abort(tb);
    weft_task_join(ta, NULL);
    weft_task_join(tb, NULL);
    weft_sender_drop(a.tx);
    weft_sender_drop(b.tx);
    weft_receiver_drop(a.rx);
    weft_receiver_drop(b.rx);
    return NULL;
}

/* hardening_real: the 3 ms medians are tight real-time bounds (run
 * serially, asserted natively; support.h, "Real-clock assertions"). */
Test(hardening_real, busy_tasks_do_not_starve_timers_or_wakes)
{
    run_real(root_fairness, NULL);
}

/* ---- free stacks past the bound give their memory back ----------------- */

enum { STACKS = WEFT__STACK_HOT + 3 * WEFT__STACK_BATCH / 2, TOUCH = 16384 };

/* How many of the stacks still have a page of their touched top resident. */
static int resident_stacks(weft__stack **s, size_t page)
{
    int n = 0;
    unsigned char vec[TOUCH / 4096 + 1];
    for (int i = 0; i < STACKS; i++) {
        char *top = s[i]->lo + s[i]->size - TOUCH;
        cr_assert_eq(mincore(top, TOUCH, vec), 0);
        int any = 0;
        for (size_t j = 0; j < TOUCH / page; j++)
            any |= vec[j] & 1;
        n += any;
    }
    return n;
}

static sigjmp_buf probe_jmp;

static void probe_fault(int sig)
{
    (void)sig;
    siglongjmp(probe_jmp, 1);
}

/* 1 if the byte at p can be written, 0 if writing it faults (caught here,
 * in this process: forks are slow under valgrind). */
static int survives_write(char *p)
{
    struct sigaction sa = {.sa_handler = probe_fault}, old;
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGSEGV, &sa, &old), 0);
    volatile int ok = 0;
    if (sigsetjmp(probe_jmp, 1) == 0) {
        *(volatile char *)p = 1;
        ok = 1;
    }
    cr_assert_eq(sigaction(SIGSEGV, &old, NULL), 0);
    return ok;
}

Test(hardening, free_stacks_past_the_bound_give_memory_back)
{
    weft__stack_pool *p = malloc(sizeof *p);
    weft__stack *s[STACKS];
    cr_assert_not_null(p);
    weft__stack_pool_init(p);
    size_t size = weft__stack_round(p, 0);
    for (int i = 0; i < STACKS; i++) {
        s[i] = weft__stack_get(p, size);
        cr_assert_not_null(s[i]);
        memset(s[i]->lo + s[i]->size - TOUCH, 1, TOUCH);
    }
    /* Emulators may ignore MADV_DONTNEED: only the bookkeeping is checked. */
    int real = !getenv("WEFT_TEST_EMULATED");
    if (real)
        cr_assert_eq(resident_stacks(s, p->page), STACKS);
    /* All come back hot: the high-water mark (160 in use) leaves room. */
    for (int i = 0; i < STACKS; i++)
        weft__stack_put(p, s[i]);
    if (real)
        cr_assert_eq(resident_stacks(s, p->page), STACKS);
    /* A step halves the mark's excess over the stacks in use (0): room for
     * 80, the 80 others trimmed a batch (64) per call: the call asks to be
     * made again at once, then at the next step, a second later. */
    const uint64_t t0 = UINT64_C(5000000000), sec = WEFT__STACK_DECAY_NS;
    cr_assert_eq(weft__stack_trim(p, t0), t0);
    if (real)
        cr_assert_eq(resident_stacks(s, p->page), STACKS - WEFT__STACK_BATCH);
    cr_assert_eq(weft__stack_trim(p, t0 + 1), t0 + sec);
    if (real)
        cr_assert_eq(resident_stacks(s, p->page), STACKS / 2);
    cr_assert_eq(weft__stack_trim(p, t0 + sec / 2), t0 + sec);
    if (real)
        cr_assert_eq(resident_stacks(s, p->page), STACKS / 2);
    /* Room for 40: the floor of WEFT__STACK_HOT keep their memory. */
    cr_assert_eq(weft__stack_trim(p, t0 + sec), UINT64_MAX);
    if (real)
        cr_assert_eq(resident_stacks(s, p->page), WEFT__STACK_HOT);
    cr_assert_eq(weft__stack_trim(p, t0 + 3 * sec), UINT64_MAX);

    /* A wave of 160 again (the 64 hot ones first, then the cold ones),
     * and a step while 64 are still in use: the mark goes to 64 + 96 / 2 =
     * 112, and the hot ones past the room (64) are trimmed.  Of the 64
     * returned after it, the first 16 find no room (in use + hot = 112):
     * they go warm; then each leaves room for itself.  The next trim gives
     * back the warm ones and, at the step (mark 56), the hot ones past
     * WEFT__STACK_HOT. */
    for (int i = 0; i < STACKS; i++) {
        s[i] = weft__stack_get(p, size);
        cr_assert_not_null(s[i]);
        memset(s[i]->lo + s[i]->size - TOUCH, 1, TOUCH);
    }
    for (int i = 0; i < STACKS - 64; i++)
        weft__stack_put(p, s[i]);
    cr_assert_eq(weft__stack_trim(p, t0 + 4 * sec), UINT64_MAX);
    if (real)
        cr_assert_eq(resident_stacks(s, p->page), 64 + WEFT__STACK_HOT);
    for (int i = STACKS - 64; i < STACKS; i++)
        weft__stack_put(p, s[i]);
    if (real)
        cr_assert_eq(resident_stacks(s, p->page), 112 + 16);
    cr_assert_eq(weft__stack_trim(p, t0 + 5 * sec), UINT64_MAX);
    if (real)
        cr_assert_eq(resident_stacks(s, p->page), WEFT__STACK_HOT);

    /* Trimmed ranges spanned neighbours' guards: they must still fault. */
    int guarded = 0;
    for (int i = 0; i < STACKS; i += 37) {
        if (!s[i]->guard)
            continue; /* a canary stack (no guard could be made) */
        guarded++;
        cr_assert(!survives_write(s[i]->lo - 1),
                  "stack %d: the guard below it no longer faults", i);
        cr_assert(!survives_write(s[i]->lo - s[i]->guard),
                  "stack %d: the guard's low end no longer faults", i);
        cr_assert(survives_write(s[i]->lo), "stack %d: its body faults", i);
    }
    if (real)
        cr_assert_gt(guarded, 0);

    /* Every stack comes back (hot, then warm, then cold), usable. */
    for (int i = 0; i < STACKS; i++) {
        s[i] = weft__stack_get(p, size);
        cr_assert_not_null(s[i]);
        memset(s[i]->lo + s[i]->size - TOUCH, 2, TOUCH);
    }
    cr_assert_eq(p->total, (size_t)STACKS, "no stack was carved twice");
    for (int i = 0; i < STACKS; i++)
        weft__stack_put(p, s[i]);
    weft__stack_pool_destroy(p);
    free(p);
}
