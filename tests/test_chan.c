/*
 * tests/test_chan.c - channels: FIFO, close, drop, try_ operations, NULL
 * handles, options, and senders on other threads.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "weft.h"

static void make_int_channel(weft_sender **tx, weft_receiver **rx)
{
    cr_assert_eq(weft_channel(sizeof(int), tx, rx), 0);
    cr_assert_not_null(*tx);
    cr_assert_not_null(*rx);
}

/* ------------------------------------------------------------------------ */
/* FIFO, send never suspends                                                */
/* ------------------------------------------------------------------------ */

static void *fifo_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    make_int_channel(&tx, &rx);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(weft_send(tx, &i), 0);
    for (int i = 0; i < 1000; i++) {
        int v = -1;
        cr_assert_eq(weft_recv(rx, &v), 1);
        cr_assert_eq(v, i);
    }
    weft_sender_drop(tx);
    int v;
    cr_assert_eq(weft_recv(rx, &v), 0);
    weft_receiver_drop(rx);
    return NULL;
}

Test(chan, fifo) { run_virtual(fifo_root, NULL); }

/* The ring grows while its items wrap around its end: order is kept. */
static void *grow_wrapped_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    make_int_channel(&tx, &rx);
    int next_in = 0, next_out = 0, v;
    for (int round = 0; round < 12; round++) {
        /* Take most of what is queued, then queue more than was taken. */
        for (int i = 0; i < 7 + round; i++, next_in++)
            cr_assert_eq(weft_send(tx, &next_in), 0);
        for (int i = 0; i < 5 + round / 2; i++, next_out++) {
            cr_assert_eq(weft_try_recv(rx, &v), 1);
            cr_assert_eq(v, next_out);
        }
        for (int i = 0; i < 3 * round; i++, next_in++)
            cr_assert_eq(weft_send(tx, &next_in), 0);
    }
    while (next_out < next_in) {
        cr_assert_eq(weft_try_recv(rx, &v), 1);
        cr_assert_eq(v, next_out, "item %d", next_out);
        next_out++;
    }
    cr_assert_eq(weft_try_recv(rx, &v), -EAGAIN);
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    return NULL;
}

Test(chan, ring_grows_while_wrapped) { run_virtual(grow_wrapped_root, NULL); }

struct big {
    uint64_t a;
    char text[40];
    double d;
};

static void *by_value_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    cr_assert_eq(weft_channel(sizeof(struct big), &tx, &rx), 0);
    struct big b = {.a = 1, .d = 2.5};
    strcpy(b.text, "first");
    cr_assert_eq(weft_send(tx, &b), 0);
    b.a = 2;
    strcpy(b.text, "second"); /* the queued copy is unaffected */
    cr_assert_eq(weft_send(tx, &b), 0);
    struct big out;
    memset(&out, 0, sizeof out);
    cr_assert_eq(weft_recv(rx, &out), 1);
    cr_assert_eq(out.a, 1);
    cr_assert_str_eq(out.text, "first");
    cr_assert_eq(out.d, 2.5);
    cr_assert_eq(weft_recv(rx, &out), 1);
    cr_assert_eq(out.a, 2);
    cr_assert_str_eq(out.text, "second");
    /* one-byte items */
    weft_sender *tx1;
    weft_receiver *rx1;
    cr_assert_eq(weft_channel(1, &tx1, &rx1), 0);
    char c = 'x', d = 0;
    cr_assert_eq(weft_send(tx1, &c), 0);
    cr_assert_eq(weft_recv(rx1, &d), 1);
    cr_assert_eq(d, 'x');
    weft_sender_drop(tx1);
    weft_receiver_drop(rx1);
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    return NULL;
}

Test(chan, items_are_copied_by_value) { run_virtual(by_value_root, NULL); }

static int other_ran;

static void *set_other(void *arg)
{
    (void)arg;
    other_ran = 1;
    return NULL;
}

static void *no_suspend_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    make_int_channel(&tx, &rx);
    other_ran = 0;
    weft_task *t = weft_spawn(set_other, NULL);
    for (int i = 0; i < 100000; i++)
        cr_assert_eq(weft_send(tx, &i), 0);
    cr_assert_eq(weft_try_send(tx, &other_ran), 0);
    cr_assert_eq(other_ran, 0, "an unbounded send suspended");
    /* receiving a ready item or a closed-and-drained status does not
     * suspend either */
    int v;
    cr_assert_eq(weft_recv(rx, &v), 1);
    cr_assert_eq(v, 0);
    cr_assert_eq(other_ran, 0, "recv of a queued item suspended");
    weft_receiver_drop(rx); /* discards 100000 queued items */
    cr_assert_eq(weft_send(tx, &v), -EPIPE);
    weft_sender_drop(tx);
    cr_assert_eq(other_ran, 0);
    cr_assert_eq(weft_task_join(t, NULL), 0);
    cr_assert_eq(other_ran, 1);
    return NULL;
}

Test(chan, send_never_suspends_on_unbounded)
{
    run_virtual(no_suspend_root, NULL);
}

/* ------------------------------------------------------------------------ */
/* Close and drop                                                           */
/* ------------------------------------------------------------------------ */

static int drop_calls;
static int drop_sum;

static void count_item_drop(void *item)
{
    drop_calls++;
    drop_sum += *(int *)item;
}

static void *send_after_close_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    weft_channel_opts o = {.drop = count_item_drop};
    cr_assert_eq(weft_channel_with(sizeof(int), &o, &tx, &rx), 0);
    int v = 5;
    cr_assert_eq(weft_send(tx, &v), 0);
    weft_receiver_close(rx);
    weft_receiver_close(rx); /* idempotent */
    v = 6;
    cr_assert_eq(weft_send(tx, &v), -EPIPE);
    cr_assert_eq(v, 6, "the item is still the caller's");
    cr_assert_eq(weft_try_send(tx, &v), -EPIPE);
    weft_sender *tx2 = weft_sender_clone(tx);
    cr_assert_not_null(tx2, "cloning after close works");
    cr_assert_eq(weft_send(tx2, &v), -EPIPE);
    cr_assert_eq(drop_calls, 0, "a refused item is not passed to drop");
    int got = 0;
    cr_assert_eq(weft_recv(rx, &got), 1, "close keeps queued items");
    cr_assert_eq(got, 5);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(weft_recv(rx, &got), 0, "closed and drained");
        cr_assert_eq(weft_try_recv(rx, &got), 0);
    }
    weft_sender_drop(tx);
    weft_sender_drop(tx2);
    weft_receiver_drop(rx);
    cr_assert_eq(drop_calls, 0);
    return NULL;
}

Test(chan, send_after_receiver_close_is_epipe)
{
    drop_calls = 0;
    run_virtual(send_after_close_root, NULL);
}

Test(chan, send_after_receiver_drop_is_epipe)
{
    weft_sender *tx;
    weft_receiver *rx;
    make_int_channel(&tx, &rx);
    weft_receiver_drop(rx);
    int v = 1;
    cr_assert_eq(weft_send(tx, &v), -EPIPE);
    cr_assert_eq(weft_try_send(tx, &v), -EPIPE);
    weft_sender_drop(tx);
}

static void *recv_closed_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    make_int_channel(&tx, &rx);
    int a = 1, b = 2, v = 0;
    cr_assert_eq(weft_send(tx, &a), 0);
    cr_assert_eq(weft_send(tx, &b), 0);
    weft_sender_drop(tx); /* last sender: closed, items stay */
    other_ran = 0;
    weft_task *t = weft_spawn(set_other, NULL);
    cr_assert_eq(weft_recv(rx, &v), 1);
    cr_assert_eq(v, 1);
    cr_assert_eq(weft_recv(rx, &v), 1);
    cr_assert_eq(v, 2);
    uint64_t now = weft_now();
    for (int i = 0; i < 5; i++)
        cr_assert_eq(weft_recv(rx, &v), 0);
    cr_assert_eq(weft_now(), now);
    cr_assert_eq(other_ran, 0, "recv on a closed, drained channel suspended");
    cr_assert_eq(weft_task_join(t, NULL), 0);
    cr_assert_eq(weft_recv(rx, &v), 0);
    weft_receiver_drop(rx);
    return NULL;
}

Test(chan, recv_after_close_and_drain_is_zero_every_time)
{
    run_virtual(recv_closed_root, NULL);
}

static void *clone_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    make_int_channel(&tx, &rx);
    weft_sender *tx2 = weft_sender_clone(tx);
    cr_assert_not_null(tx2);
    weft_sender_drop(tx);
    int v = 0;
    cr_assert_eq(weft_try_recv(rx, &v), -EAGAIN, "a clone keeps it open");
    int x = 10;
    cr_assert_eq(weft_send(tx2, &x), 0);
    weft_sender *tx3 = weft_sender_clone(tx2);
    weft_sender_drop(tx2);
    x = 11;
    cr_assert_eq(weft_send(tx3, &x), 0);
    weft_sender_drop(tx3);
    cr_assert_eq(weft_recv(rx, &v), 1);
    cr_assert_eq(v, 10);
    cr_assert_eq(weft_recv(rx, &v), 1);
    cr_assert_eq(v, 11);
    cr_assert_eq(weft_recv(rx, &v), 0, "last sender dropped: closed");
    weft_receiver_drop(rx);
    return NULL;
}

Test(chan, last_sender_drop_closes_and_clone_keeps_open)
{
    run_virtual(clone_root, NULL);
}

struct parked {
    weft_receiver *rx;
    int rc;
    int v;
};

static void *parked_receiver(void *arg)
{
    struct parked *p = arg;
    p->rc = weft_recv(p->rx, &p->v);
    return NULL;
}

static void *wake_by_close_root(void *arg)
{
    int by_receiver_close = (int)(intptr_t)arg;
    weft_sender *tx;
    struct parked p = {.rc = 7};
    make_int_channel(&tx, &p.rx);
    weft_task *t = weft_spawn(parked_receiver, &p);
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    cr_assert_eq(p.rc, 7, "the receiver is parked");
    if (by_receiver_close)
        weft_receiver_close(p.rx);
    else
        weft_sender_drop(tx);
    cr_assert_eq(weft_task_join(t, NULL), 0);
    cr_assert_eq(p.rc, 0, "the parked recv returned %d", p.rc);
    cr_assert_eq(weft_now(), WEFT_MS(5));
    if (by_receiver_close)
        weft_sender_drop(tx);
    weft_receiver_drop(p.rx);
    return NULL;
}

Test(chan, parked_receiver_woken_by_last_sender_drop)
{
    run_virtual(wake_by_close_root, (void *)0);
}

Test(chan, parked_receiver_woken_by_receiver_close)
{
    run_virtual(wake_by_close_root, (void *)1);
}

static void *wake_by_send_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    struct parked p = {.rc = 7};
    make_int_channel(&tx, &p.rx);
    weft_task *t = weft_spawn(parked_receiver, &p);
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    int v = 31;
    cr_assert_eq(weft_send(tx, &v), 0);
    cr_assert_eq(weft_task_join(t, NULL), 0);
    cr_assert_eq(p.rc, 1);
    cr_assert_eq(p.v, 31);
    weft_sender_drop(tx);
    weft_receiver_drop(p.rx);
    return NULL;
}

Test(chan, parked_receiver_woken_by_send)
{
    run_virtual(wake_by_send_root, NULL);
}

static void *cancelled_recv_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    struct parked p = {.rc = 7};
    make_int_channel(&tx, &p.rx);
    weft_task *t = weft_spawn(parked_receiver, &p);
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    weft_task_abort(t);
    cr_assert_eq(weft_task_join(t, NULL), -ECANCELED);
    cr_assert_eq(p.rc, -ECANCELED);
    int v = 44, got = 0;
    cr_assert_eq(weft_send(tx, &v), 0);
    cr_assert_eq(weft_try_recv(p.rx, &got), 1,
                 "the channel still works after a cancelled recv");
    cr_assert_eq(got, 44);
    weft_sender_drop(tx);
    weft_receiver_drop(p.rx);
    return NULL;
}

Test(chan, cancelled_recv_consumes_nothing)
{
    run_virtual(cancelled_recv_root, NULL);
}

/*
 * An item sent to a parked receive on the same runtime is handed to it (see
 * chan.c), but until that receive runs again the item is still the
 * channel's first: whatever takes it first gets it, and a cancelled or
 * losing receive leaves it queued.
 */

static void *handed_then_aborted_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    struct parked p = {.rc = 7, .v = -1};
    make_int_channel(&tx, &p.rx);
    weft_task *t = weft_spawn(parked_receiver, &p);
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    int v = 51;
    cr_assert_eq(weft_send(tx, &v), 0); /* wakes t; t has not run yet */
    v = 52;
    cr_assert_eq(weft_send(tx, &v), 0);
    weft_task_abort(t);
    cr_assert_eq(weft_task_join(t, NULL), -ECANCELED);
    cr_assert_eq(p.rc, -ECANCELED);
    cr_assert_eq(p.v, -1, "a cancelled receive writes nothing");
    int got = 0;
    cr_assert_eq(weft_try_recv(p.rx, &got), 1, "the first item is queued");
    cr_assert_eq(got, 51);
    cr_assert_eq(weft_recv(p.rx, &got), 1);
    cr_assert_eq(got, 52);
    cr_assert_eq(weft_try_recv(p.rx, &got), -EAGAIN);
    weft_sender_drop(tx);
    weft_receiver_drop(p.rx);
    return NULL;
}

Test(chan, item_sent_to_an_aborted_receive_stays_queued)
{
    run_virtual(handed_then_aborted_root, NULL);
}

static int dropped_ints[4], dropped_count;

static void record_int_drop(void *item)
{
    if (dropped_count < 4)
        dropped_ints[dropped_count] = *(int *)item;
    dropped_count++;
}

static void *handed_then_dropped_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_channel_opts o = {.drop = record_int_drop};
    struct parked p = {.rc = 7, .v = -1};
    cr_assert_eq(weft_channel_with(sizeof(int), &o, &tx, &p.rx), 0);
    weft_task *t = weft_spawn(parked_receiver, &p);
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    int v = 61;
    cr_assert_eq(weft_send(tx, &v), 0);
    v = 62;
    cr_assert_eq(weft_send(tx, &v), 0);
    weft_task_abort(t);
    cr_assert_eq(weft_task_join(t, NULL), -ECANCELED);
    weft_sender_drop(tx);
    dropped_count = 0;
    weft_receiver_drop(p.rx);
    cr_assert_eq(dropped_count, 2, "each queued item dropped once");
    cr_assert_eq(dropped_ints[0], 61);
    cr_assert_eq(dropped_ints[1], 62);
    return NULL;
}

Test(chan, item_sent_to_an_aborted_receive_is_dropped_with_the_receiver)
{
    run_virtual(handed_then_dropped_root, NULL);
}

static void *handed_then_taken_root(void *arg)
{
    int by_recv = (int)(intptr_t)arg;
    weft_sender *tx;
    struct parked p = {.rc = 7, .v = -1};
    make_int_channel(&tx, &p.rx);
    weft_task *t = weft_spawn(parked_receiver, &p);
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    int v = 71, got = 0;
    cr_assert_eq(weft_send(tx, &v), 0); /* wakes t; t has not run yet */
    /* The woken receive is no longer waiting: not -EBUSY. */
    if (by_recv)
        cr_assert_eq(weft_recv(p.rx, &got), 1);
    else
        cr_assert_eq(weft_try_recv(p.rx, &got), 1);
    cr_assert_eq(got, 71, "the first taker gets the first item");
    cr_assert_eq(weft_yield(), 0); /* t runs, finds nothing, parks again */
    cr_assert_eq(p.rc, 7, "the receiver is parked again");
    v = 72;
    cr_assert_eq(weft_send(tx, &v), 0);
    cr_assert_eq(weft_task_join(t, NULL), 0);
    cr_assert_eq(p.rc, 1);
    cr_assert_eq(p.v, 72);
    weft_sender_drop(tx);
    weft_receiver_drop(p.rx);
    return NULL;
}

Test(chan, item_sent_to_a_woken_receive_goes_to_try_recv_first)
{
    run_virtual(handed_then_taken_root, (void *)0);
}

Test(chan, item_sent_to_a_woken_receive_goes_to_another_recv_first)
{
    run_virtual(handed_then_taken_root, (void *)1);
}

struct send_and_return {
    weft_sender *tx;
    int v;
};

static void *send_and_return(void *arg)
{
    struct send_and_return *s = arg;
    cr_assert_eq(weft_send(s->tx, &s->v), 0); /* wakes the race's receive */
    return (void *)(intptr_t)5;               /* then wakes its task future */
}

static void *losing_receive_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    make_int_channel(&tx, &rx);
    struct send_and_return s = {.tx = tx, .v = 81};
    weft_task *t = weft_spawn(send_and_return, &s);
    int got = -1;
    weft_future *fs[2];
    fs[0] = weft_task_future(t);
    fs[1] = weft_recv_future(rx, &got);
    cr_assert_not_null(fs[0]);
    cr_assert_not_null(fs[1]);
    void *res = NULL;
    /* Both become ready while the race waits; the first argument wins. */
    cr_assert_eq(weft_race(fs, 2, &res), 0);
    cr_assert_eq((intptr_t)res, 5);
    cr_assert_eq(got, -1, "the losing receive wrote nothing");
    cr_assert_eq(weft_try_recv(rx, &got), 1, "and consumed nothing");
    cr_assert_eq(got, 81);
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    return NULL;
}

Test(chan, receive_losing_a_race_after_its_item_was_sent_consumes_nothing)
{
    run_virtual(losing_receive_root, NULL);
}

/* Receiver dropped with items queued: the drop callback gets each once. */

static int freed_strings;

static void free_string_item(void *item)
{
    char *s = *(char **)item;
    free(s);
    freed_strings++;
}

Test(chan, receiver_drop_passes_each_queued_item_to_drop_once)
{
    weft_sender *tx;
    weft_receiver *rx;
    weft_channel_opts o = {.capacity = 0, .drop = free_string_item};
    cr_assert_eq(weft_channel_with(sizeof(char *), &o, &tx, &rx), 0);
    freed_strings = 0;
    for (int i = 0; i < 5; i++) {
        char *s = malloc(16);
        cr_assert_not_null(s);
        snprintf(s, 16, "item%d", i);
        cr_assert_eq(weft_send(tx, &s), 0);
    }
    for (int i = 0; i < 2; i++) {
        char *s = NULL;
        cr_assert_eq(weft_try_recv(rx, &s), 1);
        char want[16];
        snprintf(want, sizeof want, "item%d", i);
        cr_assert_str_eq(s, want);
        free(s); /* received items are ours */
    }
    cr_assert_eq(freed_strings, 0);
    weft_receiver_drop(rx);
    cr_assert_eq(freed_strings, 3, "drop called %d times for 3 items",
                 freed_strings);
    char *late = "not sent";
    cr_assert_eq(weft_send(tx, &late), -EPIPE);
    weft_sender_drop(tx);
    cr_assert_eq(freed_strings, 3);
}

Test(chan, receiver_drop_with_int_items)
{
    weft_sender *tx;
    weft_receiver *rx;
    weft_channel_opts o = {.drop = count_item_drop};
    cr_assert_eq(weft_channel_with(sizeof(int), &o, &tx, &rx), 0);
    drop_calls = drop_sum = 0;
    for (int i = 1; i <= 10; i++)
        cr_assert_eq(weft_send(tx, &i), 0);
    weft_sender_drop(tx); /* closing keeps items: no drop calls */
    cr_assert_eq(drop_calls, 0);
    weft_receiver_drop(rx);
    cr_assert_eq(drop_calls, 10);
    cr_assert_eq(drop_sum, 55);
}

/* ------------------------------------------------------------------------ */
/* try_recv, try_send (any thread: no runtime here)                         */
/* ------------------------------------------------------------------------ */

Test(chan, try_recv_outside_runtime)
{
    weft_sender *tx;
    weft_receiver *rx;
    make_int_channel(&tx, &rx);
    int v = 0;
    cr_assert_eq(weft_try_recv(rx, &v), -EAGAIN);
    int x = 3;
    cr_assert_eq(weft_try_send(tx, &x), 0);
    x = 4;
    cr_assert_eq(weft_send(tx, &x), 0);
    cr_assert_eq(weft_try_recv(rx, &v), 1);
    cr_assert_eq(v, 3);
    cr_assert_eq(weft_try_recv(rx, &v), 1);
    cr_assert_eq(v, 4);
    cr_assert_eq(weft_try_recv(rx, &v), -EAGAIN);
    weft_sender_drop(tx);
    cr_assert_eq(weft_try_recv(rx, &v), 0);
    cr_assert_eq(weft_try_recv(rx, &v), 0);
    weft_receiver_drop(rx);
}

/* ------------------------------------------------------------------------ */
/* Argument checks                                                          */
/* ------------------------------------------------------------------------ */

static void *nulls_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    make_int_channel(&tx, &rx);
    int v = 1;
    cr_assert_eq(weft_recv(NULL, &v), -EINVAL);
    cr_assert_eq(weft_recv(rx, NULL), -EINVAL);
    errno = 0;
    cr_assert_null(weft_recv_future(NULL, &v));
    cr_assert_eq(errno, EINVAL);
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    return NULL;
}

Test(chan, null_handles_are_einval)
{
    weft_sender *tx = (weft_sender *)0x1;
    weft_receiver *rx = (weft_receiver *)0x1;
    weft_channel_opts o = {0};
    cr_assert_eq(weft_channel(sizeof(int), NULL, &rx), -EINVAL);
    cr_assert_eq(weft_channel(sizeof(int), &tx, NULL), -EINVAL);
    cr_assert_eq(weft_channel_with(sizeof(int), &o, NULL, &rx), -EINVAL);
    cr_assert_eq(weft_channel_with(sizeof(int), &o, &tx, NULL), -EINVAL);

    make_int_channel(&tx, &rx);
    int v = 1;
    errno = 0;
    cr_assert_null(weft_sender_clone(NULL));
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(weft_sender_share(NULL), -EINVAL);
    cr_assert_eq(weft_send(NULL, &v), -EINVAL);
    cr_assert_eq(weft_send(tx, NULL), -EINVAL);
    cr_assert_eq(weft_try_send(NULL, &v), -EINVAL);
    cr_assert_eq(weft_try_send(tx, NULL), -EINVAL);
    cr_assert_eq(weft_try_recv(NULL, &v), -EINVAL);
    cr_assert_eq(weft_try_recv(rx, NULL), -EINVAL);
    weft_sender_drop(NULL);
    weft_receiver_close(NULL);
    weft_receiver_drop(NULL);
    /* the channel is untouched by all that */
    cr_assert_eq(weft_try_recv(rx, &v), -EAGAIN);
    weft_sender_drop(tx);
    weft_receiver_drop(rx);

    run_virtual(nulls_root, NULL);
}

Test(chan, item_size_zero_is_einval)
{
    weft_sender *tx = NULL;
    weft_receiver *rx = NULL;
    weft_channel_opts o = {0};
    cr_assert_eq(weft_channel(0, &tx, &rx), -EINVAL);
    cr_assert_eq(weft_channel_with(0, &o, &tx, &rx), -EINVAL);
    cr_assert_eq(weft_channel_with(0, NULL, &tx, &rx), -EINVAL);
}

Test(chan, channel_with_null_opts_is_unbounded)
{
    weft_sender *tx;
    weft_receiver *rx;
    cr_assert_eq(weft_channel_with(sizeof(int), NULL, &tx, &rx), 0);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(weft_try_send(tx, &i), 0);
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
}

/* Bounded channels (tokio's mpsc::channel(capacity)). */

Test(chan, bounded_try_send_is_eagain_when_full)
{
    weft_sender *tx;
    weft_receiver *rx;
    weft_channel_opts o = {.capacity = 2};
    cr_assert_eq(weft_channel_with(sizeof(int), &o, &tx, &rx), 0);
    int a = 1, b = 2, c = 3, v = 0;
    cr_assert_eq(weft_try_send(tx, &a), 0);
    cr_assert_eq(weft_try_send(tx, &b), 0);
    cr_assert_eq(weft_try_send(tx, &c), -EAGAIN, "full at capacity 2");
    weft_sender *tx2 = weft_sender_clone(tx);
    cr_assert_not_null(tx2);
    cr_assert_eq(weft_try_send(tx2, &c), -EAGAIN, "a clone adds no slot");
    cr_assert_eq(weft_send(tx, &c), -EPERM,
                 "a send that would suspend outside a task is -EPERM");
    cr_assert_eq(weft_try_recv(rx, &v), 1);
    cr_assert_eq(v, 1);
    cr_assert_eq(weft_try_send(tx2, &c), 0, "room again");
    cr_assert_eq(weft_try_recv(rx, &v), 1);
    cr_assert_eq(v, 2);
    cr_assert_eq(weft_try_recv(rx, &v), 1);
    cr_assert_eq(v, 3);
    cr_assert_eq(weft_try_recv(rx, &v), -EAGAIN);
    weft_receiver_close(rx);
    cr_assert_eq(weft_try_send(tx, &a), -EPIPE);
    weft_sender_drop(tx);
    weft_sender_drop(tx2);
    weft_receiver_drop(rx);
}

Test(chan, bounded_capacity_too_large_is_einval)
{
    weft_sender *tx = NULL;
    weft_receiver *rx = NULL;
    weft_channel_opts o = {.capacity = ((size_t)1 << 40) / 4 + 1};
    cr_assert_eq(weft_channel_with(4, &o, &tx, &rx), -EINVAL);
    o.capacity = SIZE_MAX;
    cr_assert_eq(weft_channel_with(8, &o, &tx, &rx), -EINVAL);
}

struct bounded_producer {
    weft_sender *tx;
    int n;
    uint64_t sent_at[8];
    int rcs[8];
};

static void *bounded_producer_body(void *arg)
{
    struct bounded_producer *p = arg;
    for (int i = 0; i < p->n; i++) {
        int v = i + 1;
        p->rcs[i] = weft_send(p->tx, &v);
        p->sent_at[i] = weft_now();
    }
    weft_sender_drop(p->tx);
    return NULL;
}

static void *bounded_send_root(void *arg)
{
    (void)arg;
    weft_receiver *rx;
    weft_channel_opts o = {.capacity = 1};
    struct bounded_producer p = {.n = 4};
    cr_assert_eq(weft_channel_with(sizeof(int), &o, &p.tx, &rx), 0);
    weft_task *t = weft_spawn(bounded_producer_body, &p);
    int v, expect = 1;
    for (;;) {
        cr_assert_eq(weft_sleep(WEFT_MS(10)), 0);
        int rc = weft_recv(rx, &v);
        if (rc == 0)
            break;
        cr_assert_eq(rc, 1);
        cr_assert_eq(v, expect);
        expect++;
    }
    cr_assert_eq(expect, 5);
    cr_assert_eq(weft_task_join(t, NULL), 0);
    /* the first send fills the slot; each later one waits for a receive */
    static const uint64_t want[4] = {0, 10, 20, 30};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(p.rcs[i], 0);
        cr_assert_eq(p.sent_at[i], WEFT_MS(want[i]),
                     "send %d returned at %llu ns, expected %llu ms", i,
                     (unsigned long long)p.sent_at[i],
                     (unsigned long long)want[i]);
    }
    weft_receiver_drop(rx);
    return NULL;
}

Test(chan, bounded_send_suspends_while_full)
{
    run_virtual(bounded_send_root, NULL);
}

static void *bounded_waiting_root(void *arg)
{
    int how = (int)(intptr_t)arg; /* 0: receiver closes, 1: sender aborted */
    weft_receiver *rx;
    weft_channel_opts o = {.capacity = 1, .drop = count_item_drop};
    struct bounded_producer p = {.n = 2};
    cr_assert_eq(weft_channel_with(sizeof(int), &o, &p.tx, &rx), 0);
    p.rcs[1] = 7;
    drop_calls = 0;
    weft_task *t = weft_spawn(bounded_producer_body, &p);
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    cr_assert_eq(p.rcs[0], 0);
    cr_assert_eq(p.rcs[1], 7, "the second send waits for room");
    if (how == 0) {
        weft_receiver_close(rx);
        cr_assert_eq(weft_task_join(t, NULL), 0);
        cr_assert_eq(p.rcs[1], -EPIPE, "closed while waiting: %d", p.rcs[1]);
    } else {
        weft_task_abort(t);
        cr_assert_eq(weft_task_join(t, NULL), -ECANCELED);
        cr_assert_eq(p.rcs[1], -ECANCELED, "cancelled while waiting: %d",
                     p.rcs[1]);
    }
    cr_assert_eq(p.sent_at[1], WEFT_MS(5));
    int v = 0;
    cr_assert_eq(weft_recv(rx, &v), 1, "the queued item is still there");
    cr_assert_eq(v, 1);
    cr_assert_eq(weft_recv(rx, &v), 0, "the waiting item was not taken");
    weft_receiver_drop(rx);
    cr_assert_eq(drop_calls, 0);
    return NULL;
}

Test(chan, bounded_send_waiting_fails_with_epipe_on_close)
{
    run_virtual(bounded_waiting_root, (void *)0);
}

Test(chan, bounded_send_waiting_is_cancellable)
{
    run_virtual(bounded_waiting_root, (void *)1);
}

static void *second_receiver(void *arg)
{
    weft_receiver *rx = arg;
    int v;
    return (void *)(intptr_t)weft_recv(rx, &v);
}

static void *two_receivers_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    make_int_channel(&tx, &rx);
    weft_task *a = weft_spawn(second_receiver, rx);
    weft_task *b = weft_spawn(second_receiver, rx);
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0);
    int v = 3;
    cr_assert_eq(weft_send(tx, &v), 0);
    void *ra, *rb;
    cr_assert_eq(weft_task_join(a, &ra), 0);
    cr_assert_eq(weft_task_join(b, &rb), 0);
    cr_assert_eq((intptr_t)ra, 1, "the first receiver gets the item");
    cr_assert_eq((intptr_t)rb, -EBUSY, "a second waiting receive: %ld",
                 (long)(intptr_t)rb);
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    return NULL;
}

Test(chan, second_concurrent_receive_is_ebusy)
{
    run_virtual(two_receivers_root, NULL);
}

/* ------------------------------------------------------------------------ */
/* Other threads                                                            */
/* ------------------------------------------------------------------------ */

enum { PRODUCERS = 4, PER_PRODUCER = 100000 };

struct numbered {
    uint32_t producer;
    uint32_t seq;
};

struct producer {
    weft_sender *tx;
    uint32_t id;
    int failures;
};

static void *producer_thread(void *arg)
{
    struct producer *p = arg;
    for (uint32_t i = 0; i < PER_PRODUCER; i++) {
        struct numbered n = {p->id, i};
        if (weft_send(p->tx, &n) != 0)
            p->failures++;
    }
    weft_sender_drop(p->tx);
    return NULL;
}

static void *cross_thread_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    cr_assert_eq(weft_channel(sizeof(struct numbered), &tx, &rx), 0);
    struct producer ps[PRODUCERS];
    pthread_t tids[PRODUCERS];
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        ps[i].tx = weft_sender_clone(tx);
        cr_assert_not_null(ps[i].tx);
        cr_assert_eq(weft_sender_share(ps[i].tx), 0);
        ps[i].id = i;
        ps[i].failures = 0;
    }
    weft_sender_drop(tx); /* only the threads' senders remain */
    for (int i = 0; i < PRODUCERS; i++)
        cr_assert_eq(pthread_create(&tids[i], NULL, producer_thread, &ps[i]),
                     0);
    uint32_t next[PRODUCERS] = {0};
    long total = 0;
    struct numbered n;
    int rc;
    while ((rc = weft_recv(rx, &n)) > 0) {
        cr_assert_lt(n.producer, PRODUCERS);
        cr_assert_eq(n.seq, next[n.producer],
                     "producer %u: got item %u, expected %u", n.producer, n.seq,
                     next[n.producer]);
        next[n.producer]++;
        total++;
    }
    cr_assert_eq(rc, 0);
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(tids[i], NULL);
        cr_assert_eq(ps[i].failures, 0);
        cr_assert_eq(next[i], PER_PRODUCER);
    }
    cr_assert_eq(total, (long)PRODUCERS * PER_PRODUCER);
    weft_receiver_drop(rx);
    return NULL;
}

Test(chan, four_threads_send_100k_each) { run_real(cross_thread_root, NULL); }

Test(chan, four_threads_send_100k_each_virtual_clock)
{
    run_virtual(cross_thread_root, NULL);
}

struct late_sender {
    weft_sender *tx;
    unsigned delay_ms;
};

static void *late_sender_thread(void *arg)
{
    struct late_sender *l = arg;
    thread_sleep_ms(l->delay_ms);
    int v = 4242;
    cr_assert_eq(weft_send(l->tx, &v), 0);
    thread_sleep_ms(l->delay_ms);
    v = 4343;
    cr_assert_eq(weft_send(l->tx, &v), 0);
    weft_sender_drop(l->tx);
    return NULL;
}

static void *pthread_wake_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    make_int_channel(&tx, &rx);
    cr_assert_eq(weft_sender_share(tx), 0);
    struct late_sender l = {tx, 50};
    pthread_t tid;
    cr_assert_eq(pthread_create(&tid, NULL, late_sender_thread, &l), 0);
    uint64_t r0 = real_now_ns();
    int v = 0;
    cr_assert_eq(weft_recv(rx, &v), 1); /* parked until the thread sends */
    cr_assert_eq(v, 4242);
    cr_assert_geq(real_now_ns() - r0, WEFT_MS(40));
    cr_assert_eq(weft_recv(rx, &v), 1);
    cr_assert_eq(v, 4343);
    cr_assert_eq(weft_recv(rx, &v), 0, "the thread dropped the last sender");
    cr_assert_lt(real_now_ns() - r0, slow_ns(WEFT_SEC(5)));
    pthread_join(tid, NULL);
    weft_receiver_drop(rx);
    return NULL;
}

Test(chan, pthread_send_wakes_parked_receiver)
{
    run_real(pthread_wake_root, NULL);
}

Test(chan, pthread_send_wakes_parked_receiver_virtual_clock)
{
    run_virtual(pthread_wake_root, NULL);
}

/* A receiver parked in one runtime, fed from a task of a runtime on another
 * thread. */
struct other_rt {
    weft_sender *tx;
};

static void *other_rt_root(void *arg)
{
    struct other_rt *o = arg;
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(weft_sleep(WEFT_US(100)), 0);
        cr_assert_eq(weft_send(o->tx, &i), 0);
    }
    weft_sender_drop(o->tx);
    return NULL;
}

static void *other_rt_thread(void *arg)
{
    cr_assert_eq(weft_run(other_rt_root, arg, NULL), 0);
    return NULL;
}

static void *two_runtime_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    make_int_channel(&tx, &rx);
    cr_assert_eq(weft_sender_share(tx), 0);
    struct other_rt o = {tx};
    pthread_t tid;
    cr_assert_eq(pthread_create(&tid, NULL, other_rt_thread, &o), 0);
    int v, expect = 0;
    while (weft_recv(rx, &v) > 0) {
        cr_assert_eq(v, expect);
        expect++;
    }
    cr_assert_eq(expect, 100);
    pthread_join(tid, NULL);
    weft_receiver_drop(rx);
    return NULL;
}

Test(chan, sender_in_another_runtime) { run_real(two_runtime_root, NULL); }

/* ------------------------------------------------------------------------ */
/* Several receivers (weft_receiver_clone)                                  */
/* ------------------------------------------------------------------------ */

struct worker {
    int id;
    weft_receiver *rx;
    tlog *log;
    int got;
    uint64_t work_ns; /* slept after each item */
};

static void *clone_worker(void *arg)
{
    struct worker *w = arg;
    int v;
    int rc;
    while ((rc = weft_recv(w->rx, &v)) == 1) {
        tlog_add(w->log, "w%d:%d", w->id, v);
        w->got++;
        if (w->work_ns)
            cr_assert_eq(weft_sleep(w->work_ns), 0);
    }
    tlog_add(w->log, "w%d:end%d", w->id, rc);
    weft_receiver_drop(w->rx);
    return NULL;
}

/* Four workers wait, each on its own handle; each item wakes the one that
 * has waited longest, and keeps an item for it until it runs.  Workers that
 * take a while over each item (1 ms) so take turns in the order they began
 * to wait; workers that come straight back take what is not kept for a
 * woken one (and the woken ones still get one each, in order). */
static void *fair_workers_root(void *arg)
{
    uint64_t work_ns = *(uint64_t *)arg;
    static tlog lg;
    lg.len = 0;
    lg.buf[0] = '\0';
    weft_sender *tx;
    weft_receiver *rx;
    make_int_channel(&tx, &rx);
    struct worker ws[4];
    weft_task *ts[4];
    for (int i = 0; i < 4; i++) {
        ws[i] = (struct worker){.id = i, .log = &lg, .work_ns = work_ns};
        ws[i].rx = i == 0 ? rx : weft_receiver_clone(rx);
        cr_assert_not_null(ws[i].rx);
    }
    for (int i = 3; i >= 0; i--) /* they begin to wait in order 3 2 1 0 */
        ts[i] = weft_spawn(clone_worker, &ws[i]);
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0);
    for (int v = 1; v <= 8; v++)
        cr_assert_eq(weft_send(tx, &v), 0);
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    weft_sender_drop(tx); /* every waiting worker ends */
    for (int i = 0; i < 4; i++)
        cr_assert_eq(weft_task_join(ts[i], NULL), 0);
    cr_assert_str_eq(lg.buf, work_ns ? "w3:1 w2:2 w1:3 w0:4 w3:5 w2:6 w1:7 "
                                       "w0:8 w3:end0 w2:end0 w1:end0 w0:end0"
                                     : "w3:1 w3:2 w3:3 w3:4 w3:5 w2:6 w1:7 "
                                       "w0:8 w3:end0 w2:end0 w1:end0 w0:end0");
    return NULL;
}

Test(chan_clone, waiting_receivers_are_served_in_wait_order)
{
    uint64_t work = WEFT_MS(1);
    run_virtual(fair_workers_root, &work);
}

Test(chan_clone, woken_receivers_are_not_overtaken)
{
    uint64_t work = 0;
    run_virtual(fair_workers_root, &work);
}

static void *clone_lifetime_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    make_int_channel(&tx, &rx);
    weft_receiver *rx2 = weft_receiver_clone(rx);
    cr_assert_not_null(rx2);
    int v = 5, got = 0;
    weft_receiver_drop(rx); /* the first handle goes; the channel stays */
    cr_assert_eq(weft_send(tx, &v), 0);
    cr_assert_eq(weft_recv(rx2, &got), 1);
    cr_assert_eq(got, 5);
    weft_receiver *rx3 = weft_receiver_clone(rx2);
    weft_receiver_drop(rx2);
    cr_assert_eq(weft_send(tx, &v), 0);
    weft_receiver_drop(rx3); /* the last: closes, drops the queued item */
    cr_assert_eq(weft_send(tx, &v), -EPIPE);
    weft_sender_drop(tx);
    errno = 0;
    cr_assert_null(weft_receiver_clone(NULL));
    cr_assert_eq(errno, EINVAL);
    return NULL;
}

Test(chan_clone, channel_closes_when_the_last_receiver_goes)
{
    run_virtual(clone_lifetime_root, NULL);
}

static void *busy_receive(void *arg)
{
    int v;
    return (void *)(intptr_t)weft_recv(arg, &v);
}

/* -EBUSY is per handle: two receives through one handle conflict, through
 * two handles they both wait. */
static void *clone_busy_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    make_int_channel(&tx, &rx);
    weft_receiver *rx2 = weft_receiver_clone(rx);
    weft_task *a = weft_spawn(busy_receive, rx);
    weft_task *b = weft_spawn(busy_receive, rx);
    weft_task *c = weft_spawn(busy_receive, rx2);
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0);
    void *r;
    cr_assert_eq(weft_task_join(b, &r), 0);
    cr_assert_eq((intptr_t)r, -EBUSY);
    cr_assert_str_eq(weft_strerror(-EBUSY),
                     "busy: a runtime runs on this thread, or another call "
                     "waits");
    int v = 1;
    cr_assert_eq(weft_send(tx, &v), 0);
    cr_assert_eq(weft_send(tx, &v), 0);
    cr_assert_eq(weft_task_join(a, &r), 0);
    cr_assert_eq((intptr_t)r, 1);
    cr_assert_eq(weft_task_join(c, &r), 0);
    cr_assert_eq((intptr_t)r, 1);
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    weft_receiver_drop(rx2);
    return NULL;
}

Test(chan_clone, ebusy_is_per_handle) { run_virtual(clone_busy_root, NULL); }

struct race_rx {
    weft_receiver *rx;
    int rc;
    int v;
};

static void *racing_receive(void *arg)
{
    struct race_rx *r = arg;
    weft_future *fs[2] = {weft_recv_future(r->rx, &r->v),
                          weft_sleep_future(WEFT_MS(5))};
    void *res;
    r->rc = weft_race(fs, 2, &res);
    return NULL;
}

/* The first waiter loses its race (its sleep ends first) and leaves the
 * queue; the item sent later goes to the second, nothing is taken twice. */
static void *clone_cancel_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    make_int_channel(&tx, &rx);
    struct race_rx first = {.rx = rx, .rc = -100};
    struct race_rx second = {.rx = weft_receiver_clone(rx), .rc = -100};
    weft_task *a = weft_spawn(racing_receive, &first);
    cr_assert_eq(weft_sleep(WEFT_MS(1)), 0);
    weft_task *b = weft_spawn(busy_receive, second.rx);
    cr_assert_eq(weft_sleep(WEFT_MS(10)), 0); /* a's sleep won at 5 ms */
    cr_assert_eq(weft_task_join(a, NULL), 0);
    cr_assert_eq(first.rc, 1, "the sleep wins: %d", first.rc);
    int v = 9;
    cr_assert_eq(weft_send(tx, &v), 0);
    void *r;
    cr_assert_eq(weft_task_join(b, &r), 0);
    cr_assert_eq((intptr_t)r, 1);
    cr_assert_eq(weft_try_recv(rx, &v), -EAGAIN, "taken exactly once");
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    weft_receiver_drop(second.rx);
    return NULL;
}

Test(chan_clone, cancelled_waiter_leaves_the_queue)
{
    run_virtual(clone_cancel_root, NULL);
}

/* Receivers on three runtimes (two tasks each) and two plain-thread
 * senders: every item is received exactly once. */
#define MT_ITEMS 20000
static weft_receiver *mt_rx;
static int mt_seen[2 * MT_ITEMS];
static pthread_mutex_t mt_lock = PTHREAD_MUTEX_INITIALIZER;

static void *mt_consumer(void *arg)
{
    weft_receiver *rx = arg;
    int v;
    while (weft_recv(rx, &v) == 1) {
        pthread_mutex_lock(&mt_lock);
        mt_seen[v]++;
        pthread_mutex_unlock(&mt_lock);
        if (v % 7 == 0)
            weft_yield();
    }
    weft_receiver_drop(rx);
    return NULL;
}

static void *mt_runtime_root(void *arg)
{
    (void)arg;
    weft_task *a = weft_spawn(mt_consumer, weft_receiver_clone(mt_rx));
    weft_task *b = weft_spawn(mt_consumer, weft_receiver_clone(mt_rx));
    weft_task_join(a, NULL);
    weft_task_join(b, NULL);
    return NULL;
}

static void *mt_runtime_thread(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)weft_run(mt_runtime_root, NULL, NULL);
}

struct mt_sender {
    weft_sender *tx;
    int base;
};

static void *mt_sender_thread(void *arg)
{
    struct mt_sender *s = arg;
    for (int i = 0; i < MT_ITEMS; i++) {
        int v = s->base + i;
        if (weft_send(s->tx, &v) != 0)
            return (void *)1;
    }
    weft_sender_drop(s->tx);
    return NULL;
}

Test(chan_clone, receivers_on_three_runtimes_get_each_item_once)
{
    weft_sender *tx;
    make_int_channel(&tx, &mt_rx);
    memset(mt_seen, 0, sizeof mt_seen);
    pthread_t rts[3], snd[2];
    struct mt_sender ss[2] = {{weft_sender_clone(tx), 0},
                              {weft_sender_clone(tx), MT_ITEMS}};
    weft_sender_drop(tx);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pthread_create(&rts[i], NULL, mt_runtime_thread, NULL), 0);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&snd[i], NULL, mt_sender_thread, &ss[i]),
                     0);
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(snd[i], &r);
        cr_assert_null(r);
    }
    for (int i = 0; i < 3; i++) {
        void *r;
        pthread_join(rts[i], &r);
        cr_assert_null(r, "weft_run returned %ld", (long)(intptr_t)r);
    }
    for (int i = 0; i < 2 * MT_ITEMS; i++)
        cr_assert_eq(mt_seen[i], 1, "item %d received %d times", i, mt_seen[i]);
    weft_receiver_drop(mt_rx);
}

/* ------------------------------------------------------------------------ */
/* Plain threads: weft_send_blocking, weft_recv_blocking                    */
/* ------------------------------------------------------------------------ */

#define BL_ITEMS 20000
static weft_sender *bl_tx;
static weft_receiver *bl_rx;

static void *bl_producer_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < BL_ITEMS; i++)
        if (weft_send_blocking(bl_tx, &i) != 0)
            return (void *)1;
    weft_sender_drop(bl_tx);
    return NULL;
}

static void *bl_consumer_root(void *arg)
{
    (void)arg;
    int v, expect = 0;
    /* bounded(2): the producer cannot have finished, its sender lives */
    cr_assert_eq(weft_send_blocking(bl_tx, &expect), -EPERM, "in a task");
    cr_assert_eq(weft_recv_blocking(bl_rx, &v), -EPERM, "in a task");
    while (weft_recv(bl_rx, &v) == 1) {
        cr_assert_eq(v, expect, "got %d, expected %d", v, expect);
        expect++;
        if (expect % 1000 == 0) /* a slow consumer: the sender must wait */
            cr_assert_eq(weft_sleep(WEFT_MS(1)), 0);
    }
    cr_assert_eq(expect, BL_ITEMS);
    return NULL;
}

/* A plain thread feeds a bounded(2) channel with weft_send_blocking to a
 * task that pauses every 1,000 items: every item once, in order. */
Test(chan_blocking, thread_feeds_a_task_with_back_pressure)
{
    weft_channel_opts o = {.capacity = 2};
    cr_assert_eq(weft_channel_with(sizeof(int), &o, &bl_tx, &bl_rx), 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, bl_producer_thread, NULL), 0);
    cr_assert_eq(run_clock(WEFT_CLOCK_MONOTONIC, bl_consumer_root, NULL, NULL),
                 0);
    void *r;
    pthread_join(th, &r);
    cr_assert_null(r);
    weft_receiver_drop(bl_rx);
}

static void *bl_task_sender_root(void *arg)
{
    (void)arg;
    for (int i = 0; i < BL_ITEMS; i++)
        cr_assert_eq(weft_send(bl_tx, &i), 0);
    weft_sender_drop(bl_tx);
    return NULL;
}

static void *bl_consumer_thread(void *arg)
{
    (void)arg;
    int v, expect = 0, rc;
    while ((rc = weft_recv_blocking(bl_rx, &v)) == 1) {
        if (v != expect)
            return (void *)1;
        expect++;
    }
    return rc == 0 && expect == BL_ITEMS ? NULL : (void *)2;
}

/* The other way round: a task sends on a bounded(1) channel, a plain
 * thread receives with weft_recv_blocking (then the close ends it). */
Test(chan_blocking, task_feeds_a_thread)
{
    weft_channel_opts o = {.capacity = 1};
    cr_assert_eq(weft_channel_with(sizeof(int), &o, &bl_tx, &bl_rx), 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, bl_consumer_thread, NULL), 0);
    cr_assert_eq(
        run_clock(WEFT_CLOCK_MONOTONIC, bl_task_sender_root, NULL, NULL), 0);
    void *r;
    pthread_join(th, &r);
    cr_assert_null(r, "the thread's receives went wrong: %ld",
                   (long)(intptr_t)r);
    weft_receiver_drop(bl_rx);
}

static void *bl_close_later(void *arg)
{
    (void)arg;
    thread_sleep_ms(50);
    weft_receiver_close(bl_rx);
    return NULL;
}

/* A thread blocked in weft_send_blocking on a full channel is woken by the
 * close with -EPIPE; a thread blocked in weft_recv_blocking by the last
 * sender's drop with 0. */
Test(chan_blocking, close_wakes_blocked_threads)
{
    weft_channel_opts o = {.capacity = 1};
    cr_assert_eq(weft_channel_with(sizeof(int), &o, &bl_tx, &bl_rx), 0);
    int v = 1;
    cr_assert_eq(weft_send_blocking(bl_tx, &v), 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, bl_close_later, NULL), 0);
    cr_assert_eq(weft_send_blocking(bl_tx, &v), -EPIPE);
    pthread_join(th, NULL);
    cr_assert_eq(weft_recv_blocking(bl_rx, &v), 1, "the queued item");
    weft_sender_drop(bl_tx);
    cr_assert_eq(weft_recv_blocking(bl_rx, &v), 0);
    weft_receiver_drop(bl_rx);
    cr_assert_eq(weft_send_blocking(NULL, &v), -EINVAL);
    cr_assert_eq(weft_recv_blocking(NULL, &v), -EINVAL);
}

/* ------------------------------------------------------------------------ */
/* Dropping a receiver while a receive through it is in progress, and using */
/* a dropped end                                                            */
/* ------------------------------------------------------------------------ */

/* The last receiver dropped by another task while a task waits in
 * weft_recv through it: the channel closes, the waiter returns 0 (the
 * end), and the handle is released after it (ASan, valgrind: no access to
 * freed memory, nothing leaked). */
static void *drop_while_waiting_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    struct parked p = {.rc = 7, .v = -1};
    make_int_channel(&tx, &p.rx);
    weft_task *t = weft_spawn(parked_receiver, &p);
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    cr_assert_eq(p.rc, 7, "the receiver waits");
    weft_receiver_drop(p.rx);
    cr_assert_eq(weft_task_join(t, NULL), 0);
    cr_assert_eq(p.rc, 0, "the receive ends with the channel: %d", p.rc);
    cr_assert_eq(p.v, -1);
    int v = 3;
    cr_assert_eq(weft_send(tx, &v), -EPIPE);
    weft_sender_drop(tx);
    return NULL;
}

Test(chan, last_receiver_dropped_while_a_task_waits_ends_its_receive)
{
    run_virtual(drop_while_waiting_root, NULL);
}

/* An item handed to the waiting receive (sent on its runtime), then the
 * receiver dropped before that task runs: the item is discarded with the
 * channel (passed to drop once), the receive returns 0. */
static void *drop_after_handoff_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    struct parked p = {.rc = 7, .v = -1};
    weft_channel_opts o = {.drop = count_item_drop};
    cr_assert_eq(weft_channel_with(sizeof(int), &o, &tx, &p.rx), 0);
    drop_calls = drop_sum = 0;
    weft_task *t = weft_spawn(parked_receiver, &p);
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    int v = 41;
    cr_assert_eq(weft_send(tx, &v), 0); /* handed to p's receive */
    weft_receiver_drop(p.rx);           /* before p's task runs */
    cr_assert_eq(drop_calls, 1);
    cr_assert_eq(drop_sum, 41);
    cr_assert_eq(weft_task_join(t, NULL), 0);
    cr_assert_eq(p.rc, 0, "%d", p.rc);
    cr_assert_eq(p.v, -1, "the discarded item was not received");
    weft_sender_drop(tx);
    cr_assert_eq(drop_calls, 1);
    return NULL;
}

Test(chan, receiver_dropped_after_an_item_was_handed_to_its_receive)
{
    run_virtual(drop_after_handoff_root, NULL);
}

/* A clone dropped while its receive waits, the other receiver alive: the
 * receive in progress goes on and gets the next item; the channel stays
 * open for the other receiver. */
static void *drop_clone_while_waiting_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    make_int_channel(&tx, &rx);
    struct parked p = {.rc = 7, .v = -1};
    p.rx = weft_receiver_clone(rx);
    cr_assert_not_null(p.rx);
    weft_task *t = weft_spawn(parked_receiver, &p);
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    weft_receiver_drop(p.rx);
    cr_assert_eq(weft_sleep(WEFT_MS(5)), 0);
    cr_assert_eq(p.rc, 7, "still waiting: the channel is open");
    int v = 51;
    cr_assert_eq(weft_send(tx, &v), 0);
    cr_assert_eq(weft_task_join(t, NULL), 0);
    cr_assert_eq(p.rc, 1);
    cr_assert_eq(p.v, 51);
    v = 52;
    cr_assert_eq(weft_send(tx, &v), 0);
    int got = 0;
    cr_assert_eq(weft_recv(rx, &got), 1);
    cr_assert_eq(got, 52);
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    return NULL;
}

Test(chan, clone_dropped_while_its_receive_waits_still_receives)
{
    run_virtual(drop_clone_while_waiting_root, NULL);
}

/* A receive future made through a receiver that is then dropped: polling
 * it (under a timeout) and dropping it touch no freed memory. */
static void *future_outlives_handle_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    make_int_channel(&tx, &rx);
    weft_receiver *rx2 = weft_receiver_clone(rx);
    cr_assert_not_null(rx2);
    int got = -1;
    weft_future *f = weft_recv_future(rx2, &got);
    cr_assert_not_null(f);
    weft_receiver_drop(rx2);
    cr_assert_eq(weft_timeout(f, WEFT_MS(5), NULL), -ETIMEDOUT);
    int v = 61;
    cr_assert_eq(weft_send(tx, &v), 0);
    cr_assert_eq(weft_recv(rx, &got), 1);
    cr_assert_eq(got, 61);
    /* And the last receiver: its future ends with the channel. */
    f = weft_recv_future(rx, &got);
    cr_assert_not_null(f);
    weft_receiver_drop(rx);
    void *res = (void *)1;
    cr_assert_eq(weft_await(f, &res), 0);
    cr_assert_eq((intptr_t)res, 0, "the end");
    weft_sender_drop(tx);
    return NULL;
}

Test(chan, receive_future_outlives_its_dropped_receiver)
{
    run_virtual(future_outlives_handle_root, NULL);
}

/* A plain thread drops the last receiver while a task waits on it: the
 * task's runtime is woken (TSan: no race). */
static void *drop_rx_from_thread(void *arg)
{
    struct parked *p = arg;
    thread_sleep_ms(20);
    weft_receiver_drop(p->rx);
    return NULL;
}

static void *drop_from_thread_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    struct parked p = {.rc = 7, .v = -1};
    make_int_channel(&tx, &p.rx);
    /* Only a sender elsewhere counts as a wake source for a receive: say
     * there may be one, so the wait is not reported as a deadlock. */
    cr_assert_eq(weft_sender_share(tx), 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, drop_rx_from_thread, &p), 0);
    p.rc = weft_recv(p.rx, &p.v);
    cr_assert_eq(p.rc, 0, "%d", p.rc);
    pthread_join(th, NULL);
    weft_sender_drop(tx);
    return NULL;
}

Test(chan, receiver_dropped_by_a_thread_while_a_task_waits)
{
    cr_assert_eq(
        run_clock(WEFT_CLOCK_MONOTONIC, drop_from_thread_root, NULL, NULL), 0);
}

/* Dropped ends are kept poisoned for a while: a use after the drop is
 * -EINVAL (or NULL with EINVAL), not undefined behaviour. */
Test(chan, a_dropped_end_is_rejected)
{
    weft_sender *tx;
    weft_receiver *rx;
    make_int_channel(&tx, &rx);
    weft_sender *tx2 = weft_sender_clone(tx);
    weft_receiver *rx2 = weft_receiver_clone(rx);
    cr_assert_not_null(tx2);
    cr_assert_not_null(rx2);
    weft_sender_drop(tx2);
    weft_receiver_drop(rx2);
    int v = 1;
    cr_assert_eq(weft_try_send(tx2, &v), -EINVAL);
    cr_assert_eq(weft_try_recv(rx2, &v), -EINVAL);
    errno = 0;
    cr_assert_null(weft_receiver_clone(rx2));
    cr_assert_eq(errno, EINVAL);
    weft_sender_drop(tx2); /* a second drop is ignored */
    weft_receiver_drop(rx2);
    /* The whole channel gone (both first handles dropped): still
     * rejected, not followed. */
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    cr_assert_eq(weft_try_send(tx, &v), -EINVAL);
    cr_assert_eq(weft_try_recv(rx, &v), -EINVAL);
}
