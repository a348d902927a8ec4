/*
 * test_bounded.c - bounded channels: exact capacity, suspension while full,
 * first come first served, -EAGAIN, -EPIPE on close, cancellation that loses
 * nothing, and senders on another runtime's thread.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "support.h"
#include "weft.h"

static weft_sender *TX;
static weft_receiver *RX;

static void make(size_t cap)
{
    weft_channel_opts o = {.capacity = cap};
    cr_assert_eq(weft_channel_with(sizeof(int), &o, &TX, &RX), 0);
}

static void drop_both(void)
{
    weft_sender_drop(TX);
    weft_receiver_drop(RX);
}

/* ---- capacity is exact, clones add no slots ----------------------------- */

static void *root_capacity(void *arg)
{
    (void)arg;
    make(3);
    weft_sender *tx2 = weft_sender_clone(TX);
    int v = 7;
    for (int i = 0; i < 2; i++)
        cr_assert_eq(weft_try_send(TX, &v), 0);
    cr_assert_eq(weft_try_send(tx2, &v), 0);
    cr_assert_eq(weft_try_send(TX, &v), -EAGAIN);
    cr_assert_eq(weft_try_send(tx2, &v), -EAGAIN);
    int x;
    cr_assert_eq(weft_try_recv(RX, &x), 1);
    cr_assert_eq(weft_try_send(tx2, &v), 0);
    cr_assert_eq(weft_try_send(TX, &v), -EAGAIN);
    weft_sender_drop(tx2);
    drop_both();
    return NULL;
}

Test(bounded, capacity_is_exact) { run_virtual(root_capacity, NULL); }

/* ---- a full channel suspends the sender; FIFO among waiting senders ------ */

typedef struct prod {
    int id;
    tlog *log;
} prod;

static void *producer(void *arg)
{
    prod *p = arg;
    for (int i = 0; i < 3; i++) {
        int v = p->id * 10 + i;
        cr_assert_eq(weft_send(TX, &v), 0);
        tlog_add(p->log, "s%d", v);
    }
    return NULL;
}

static void *root_fifo(void *arg)
{
    tlog *log = arg;
    make(1);
    prod a = {1, log}, b = {2, log};
    weft_task *ta = weft_spawn(producer, &a);
    weft_task *tb = weft_spawn(producer, &b);
    weft_sleep(WEFT_MS(1)); /* both run: a fills the slot, both then wait */
    int x;
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(weft_recv(RX, &x), 1);
        tlog_add(log, "r%d", x);
        weft_sleep(WEFT_MS(1));
    }
    cr_assert_eq(weft_task_join(ta, NULL), 0);
    cr_assert_eq(weft_task_join(tb, NULL), 0);
    drop_both();
    return NULL;
}

Test(bounded, waiting_senders_are_served_in_order)
{
    tlog log = {0};
    run_virtual(root_fifo, &log);
    /* a sends 10 into the free slot; a waits with 11, b waits with 20; each
     * receive moves the first waiter's item in; a then queues behind b. */
    cr_assert_str_eq(log.buf, "s10 r10 s11 r11 s20 r20 s12 r12 s21 r21 s22 "
                              "r22");
}

/* ---- close and drop: waiting senders get -EPIPE, items stay theirs ------- */

static int blocked_rc = 1;

static void *blocked_sender(void *arg)
{
    (void)arg;
    int v = 99;
    blocked_rc = weft_send(TX, &v);
    return NULL;
}

static void *root_close(void *arg)
{
    int drop_rx = arg != NULL;
    make(1);
    int v = 1;
    cr_assert_eq(weft_send(TX, &v), 0);
    weft_task *t = weft_spawn(blocked_sender, NULL);
    weft_yield(); /* it blocks: the channel is full */
    cr_assert_eq(weft_task_is_finished(t), 0);
    int x = 0;
    if (drop_rx) {
        weft_receiver_drop(RX);
        RX = NULL;
    } else {
        weft_receiver_close(RX);
    }
    cr_assert_eq(weft_task_join(t, NULL), 0);
    cr_assert_eq(blocked_rc, -EPIPE);
    if (!drop_rx) {
        /* The queued item is still delivered; 99 was never taken. */
        cr_assert_eq(weft_recv(RX, &x), 1);
        cr_assert_eq(x, 1);
        cr_assert_eq(weft_recv(RX, &x), 0);
    }
    cr_assert_eq(weft_send(TX, &v), -EPIPE);
    cr_assert_eq(weft_try_send(TX, &v), -EPIPE);
    weft_sender_drop(TX);
    weft_receiver_drop(RX);
    return NULL;
}

Test(bounded, close_fails_waiting_senders)
{
    blocked_rc = 1;
    run_virtual(root_close, NULL);
}

Test(bounded, drop_fails_waiting_senders)
{
    blocked_rc = 1;
    run_virtual(root_close, (void *)1);
}

/* ---- cancellation of a waiting send ------------------------------------ */

static void *root_timeout_send(void *arg)
{
    (void)arg;
    make(1);
    int v = 1, x;
    cr_assert_eq(weft_send(TX, &v), 0);
    /* A send that times out takes nothing and leaves the order intact. */
    weft_future *f = weft_async(blocked_sender, NULL);
    blocked_rc = 1;
    cr_assert_eq(weft_timeout(f, WEFT_MS(5), NULL), -ETIMEDOUT);
    cr_assert_eq(blocked_rc, -ECANCELED);
    cr_assert_eq(weft_try_recv(RX, &x), 1);
    cr_assert_eq(x, 1);
    cr_assert_eq(weft_try_recv(RX, &x), -EAGAIN);
    /* A receiver waiting for "closed" still wakes when the last sender
     * goes, after a cancelled send. */
    weft_sender_drop(TX);
    TX = NULL;
    cr_assert_eq(weft_recv(RX, &x), 0);
    weft_receiver_drop(RX);
    return NULL;
}

Test(bounded, timed_out_send_takes_nothing)
{
    run_virtual(root_timeout_send, NULL);
}

static void *root_abort_send(void *arg)
{
    (void)arg;
    make(1);
    int v = 1, x;
    cr_assert_eq(weft_send(TX, &v), 0);
    blocked_rc = 1;
    weft_task *t = weft_spawn(blocked_sender, NULL);
    weft_yield();
    weft_task_abort(t);
    cr_assert_eq(weft_task_join(t, NULL), -ECANCELED);
    cr_assert_eq(blocked_rc, -ECANCELED);
    cr_assert_eq(weft_try_recv(RX, &x), 1);
    cr_assert_eq(weft_try_recv(RX, &x), -EAGAIN);
    drop_both();
    return NULL;
}

Test(bounded, aborted_send_takes_nothing)
{
    run_virtual(root_abort_send, NULL);
}

/* The receiver makes room (the waiter's item is moved in) and the waiting
 * task is aborted in the same round: the send reports success, the item is
 * received exactly once. */
static void *root_ready_and_cancelled(void *arg)
{
    (void)arg;
    make(1);
    int v = 1, x;
    cr_assert_eq(weft_send(TX, &v), 0);
    blocked_rc = 1;
    weft_task *t = weft_spawn(blocked_sender, NULL);
    weft_yield();                           /* blocked with 99 */
    cr_assert_eq(weft_try_recv(RX, &x), 1); /* 99 moves in */
    weft_task_abort(t);                     /* before it runs again */
    weft_task_join(t, NULL);
    cr_assert_eq(blocked_rc, 0, "the item was taken: the send succeeded");
    cr_assert_eq(weft_try_recv(RX, &x), 1);
    cr_assert_eq(x, 99);
    cr_assert_eq(weft_try_recv(RX, &x), -EAGAIN);
    drop_both();
    return NULL;
}

Test(bounded, ready_and_cancelled_loses_nothing)
{
    run_virtual(root_ready_and_cancelled, NULL);
}

/* ---- outside a task ------------------------------------------------------ */

Test(bounded, full_send_outside_a_task_is_eperm)
{
    make(1);
    int v = 5, x;
    cr_assert_eq(weft_send(TX, &v), 0); /* room: fine from anywhere */
    cr_assert_eq(weft_send(TX, &v), -EPERM);
    cr_assert_eq(weft_try_recv(RX, &x), 1);
    cr_assert_eq(x, 5);
    drop_both();
}

/* ---- an item sent to a parked receive (handed to it, see chan.c) -------- */

struct one_recv {
    int rc, v;
};

static void *receive_one(void *arg)
{
    struct one_recv *r = arg;
    r->rc = weft_recv(RX, &r->v);
    return NULL;
}

static int second_rc = 1;

static void *send_second(void *arg)
{
    (void)arg;
    int v = 2;
    second_rc = weft_send(TX, &v);
    return NULL;
}

/* Until the woken receive runs, its item takes the one slot; when it runs,
 * a sender waiting for that slot gets it at once, as after any receive; an
 * aborted receive leaves the item, and its slot, in the channel. */
static void *root_handed_item_takes_a_slot(void *arg)
{
    int abort_receive = (int)(intptr_t)arg;
    make(1);
    struct one_recv r = {.rc = 7, .v = -1};
    weft_task *rt = weft_spawn(receive_one, &r);
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0); /* the receive parks */
    int v = 1, x = 0;
    cr_assert_eq(weft_send(TX, &v), 0); /* wakes it; it has not run yet */
    cr_assert_eq(weft_try_send(TX, &v), -EAGAIN, "the slot is taken");
    if (abort_receive) {
        second_rc = 1;
        weft_task *st = weft_spawn(send_second, NULL);
        weft_task_abort(rt);
        cr_assert_eq(weft_task_join(rt, NULL), -ECANCELED);
        cr_assert_eq(r.v, -1);
        cr_assert_eq(weft_yield(), 0);
        cr_assert_eq(second_rc, 1, "still full: the sender waits");
        cr_assert_eq(weft_try_recv(RX, &x), 1, "the item stayed queued");
        cr_assert_eq(x, 1);
        cr_assert_eq(weft_task_join(st, NULL), 0);
        cr_assert_eq(second_rc, 0);
    } else {
        /* Waits here, before the receive runs: its receive frees the slot
         * and moves this item in. */
        v = 2;
        cr_assert_eq(weft_send(TX, &v), 0);
        cr_assert_eq(weft_task_join(rt, NULL), 0);
        cr_assert_eq(r.rc, 1);
        cr_assert_eq(r.v, 1);
    }
    cr_assert_eq(weft_try_send(TX, &v), -EAGAIN);
    cr_assert_eq(weft_try_recv(RX, &x), 1);
    cr_assert_eq(x, 2);
    cr_assert_eq(weft_try_recv(RX, &x), -EAGAIN);
    drop_both();
    return NULL;
}

Test(bounded, item_sent_to_a_parked_receive_takes_a_slot)
{
    run_virtual(root_handed_item_takes_a_slot, (void *)0);
}

Test(bounded, item_sent_to_an_aborted_receive_keeps_its_slot)
{
    run_virtual(root_handed_item_takes_a_slot, (void *)1);
}

/* ---- senders waiting on another runtime's thread ------------------------ */

enum { CROSS_N = 20000 };

static void *cross_sender_root(void *arg)
{
    weft_sender *tx = arg;
    for (int i = 0; i < CROSS_N; i++)
        cr_assert_eq(weft_send(tx, &i), 0);
    weft_sender_drop(tx);
    return NULL;
}

static void *cross_thread(void *arg)
{
    int rc = weft_run(cross_sender_root, arg, NULL);
    return (void *)(intptr_t)rc;
}

static void *root_cross(void *arg)
{
    (void)arg;
    make(4);
    weft_sender *tx = TX;
    weft_sender_share(tx);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, cross_thread, tx), 0);
    int x, expect = 0;
    while (weft_recv(RX, &x) > 0) {
        cr_assert_eq(x, expect);
        expect++;
    }
    cr_assert_eq(expect, CROSS_N);
    void *rc;
    pthread_join(th, &rc);
    cr_assert_eq((intptr_t)rc, 0);
    weft_receiver_drop(RX);
    return NULL;
}

Test(bounded, sender_on_another_runtime) { run_real(root_cross, NULL); }

/*
 * The same while the senders' runtime also has receives of its own coming
 * and going: the receiver here ends each send's wait from this thread, and
 * must not touch the other runtime's list of waits (which that runtime's
 * receives change under other channels' locks).  A data race found under
 * ThreadSanitizer with this scenario; here it checks that nothing is lost.
 */

struct busy {
    weft_sender *tx;  /* bounded: TX */
    weft_receiver *c; /* unbounded, fed from the receiving runtime */
    int c_got;
};

static void *busy_sender(void *arg)
{
    struct busy *b = arg;
    for (int i = 0; i < CROSS_N; i++)
        cr_assert_eq(weft_send(b->tx, &i), 0);
    weft_sender_drop(b->tx);
    return NULL;
}

static void *busy_c_receiver(void *arg)
{
    struct busy *b = arg;
    int v;
    while (weft_recv(b->c, &v) > 0)
        b->c_got++;
    return NULL;
}

static void *busy_root(void *arg)
{
    struct busy *b = arg;
    weft_task *s = weft_spawn(busy_sender, b);
    weft_task *c = weft_spawn(busy_c_receiver, b);
    cr_assert_eq(weft_task_join(s, NULL), 0);
    cr_assert_eq(weft_task_join(c, NULL), 0);
    return NULL;
}

static void *busy_thread(void *arg)
{
    int rc = weft_run(busy_root, arg, NULL);
    return (void *)(intptr_t)rc;
}

static void *root_cross_busy(void *arg)
{
    (void)arg;
    make(1);
    weft_sender *c_tx;
    struct busy b = {.tx = TX};
    cr_assert_eq(weft_channel(sizeof(int), &c_tx, &b.c), 0);
    weft_sender_share(TX);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, busy_thread, &b), 0);
    int x, expect = 0;
    while (weft_recv(RX, &x) > 0) {
        cr_assert_eq(x, expect);
        expect++;
        cr_assert_eq(weft_send(c_tx, &x), 0); /* wakes the other runtime */
    }
    cr_assert_eq(expect, CROSS_N);
    weft_sender_drop(c_tx);
    void *rc;
    pthread_join(th, &rc);
    cr_assert_eq((intptr_t)rc, 0);
    cr_assert_eq(b.c_got, CROSS_N);
    weft_receiver_drop(b.c);
    weft_receiver_drop(RX);
    return NULL;
}

Test(bounded, sender_on_another_runtime_with_its_own_receives)
{
    run_real(root_cross_busy, NULL);
}
