/*
 * tests/test_stream.c - streams and their adapters (src/stream/stream.c):
 * the edge cases of each constructor and adapter, their timing under the
 * virtual clock, invalid arguments, and cancellation of weft_stream_next.
 *
 * Times are asserted exactly: every test that involves time runs on the
 * virtual clock, which starts at 0 and jumps from deadline to deadline.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "weft.h"

#define MS(ns) ((ns) / UINT64_C(1000000))

/* A stream of the ints sent on a fresh channel; *tx is the sender. */
static weft_stream *int_channel_stream(weft_sender **tx)
{
    weft_receiver *rx;
    cr_assert_eq(weft_channel(sizeof(int), tx, &rx), 0);
    weft_stream *s = weft_stream_from_receiver(rx);
    cr_assert_not_null(s);
    return s;
}

/* 1 if the channel behind tx has lost its receiver: a send fails with
 * -EPIPE.  (A live receiver would get the probe item queued: the callers
 * treat that as a failure anyway.) */
static int receiver_gone(weft_sender *tx)
{
    int probe = -1;
    return weft_send(tx, &probe) == -EPIPE;
}

/* One element as seen by the consumer: status, item, and when (ms). */
struct elem {
    int rc;
    int value;
    uint64_t at_ms;
};

/* Reads up to max elements of s (int items) until the end, recording each
 * (the end included, as rc 0).  Returns how many were recorded. */
static size_t collect(weft_stream *s, struct elem *out, size_t max)
{
    size_t n = 0;
    while (n < max) {
        int v = -1;
        int rc = weft_stream_next(s, &v);
        out[n].rc = rc;
        out[n].value = rc == 1 ? v : 0;
        out[n].at_ms = MS(weft_now());
        n++;
        if (rc == 0 || rc == -ECANCELED || rc == -EINVAL || rc == -EPERM)
            break;
    }
    return n;
}

/* "rc:value@ms ..." for failure messages and exact comparisons. */
static const char *elems_str(const struct elem *e, size_t n)
{
    static tlog lg;
    lg.len = 0;
    lg.buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (e[i].rc == 1)
            tlog_add(&lg, "%d@%llu", e[i].value,
                     (unsigned long long)e[i].at_ms);
        else if (e[i].rc == 0)
            tlog_add(&lg, "end@%llu", (unsigned long long)e[i].at_ms);
        else if (e[i].rc == -ETIMEDOUT)
            tlog_add(&lg, "timeout@%llu", (unsigned long long)e[i].at_ms);
        else
            tlog_add(&lg, "err%d@%llu", e[i].rc,
                     (unsigned long long)e[i].at_ms);
    }
    return lg.buf;
}

static void assert_elems(const struct elem *e, size_t n, const char *want)
{
    const char *got = elems_str(e, n);
    cr_assert_str_eq(got, want, "elements: got \"%s\", expected \"%s\"", got,
                     want);
}

/* A task that sends 0, 1, 2, ... at the given instants (ms), then drops
 * its sender (unless keep_open). */
struct timed_sender {
    weft_sender *tx;
    const uint64_t *at_ms;
    size_t n;
    int keep_open;
};

static void *timed_send(void *arg)
{
    struct timed_sender *ts = arg;
    for (size_t i = 0; i < ts->n; i++) {
        if (weft_sleep_until(WEFT_MS(ts->at_ms[i])) < 0)
            break;
        int v = (int)i;
        cr_assert_eq(weft_send(ts->tx, &v), 0);
    }
    if (!ts->keep_open) {
        weft_sender_drop(ts->tx);
        ts->tx = NULL;
    }
    return NULL;
}

/* Counting map and filter functions (ctx points at the counter). */
static void times_ten(const void *in, void *out, void *ctx)
{
    ++*(int *)ctx;
    *(int *)out = *(const int *)in * 10;
}

static int keep_even(const void *item, void *ctx)
{
    ++*(int *)ctx;
    return *(const int *)item % 2 == 0;
}

static const int one_to_ten[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

/* ------------------------------------------------------------------------ */
/* from_array                                                               */
/* ------------------------------------------------------------------------ */

static void *array_empty_root(void *arg)
{
    (void)arg;
    weft_stream *s = weft_stream_from_array(NULL, 0, sizeof(int));
    cr_assert_not_null(s, "an empty array (NULL, 0) is valid");
    cr_assert_eq(weft_stream_item_size(s), sizeof(int));
    for (int i = 0; i < 5; i++) {
        int v = 42;
        cr_assert_eq(weft_stream_next(s, &v), 0, "poll %d after the end", i);
        cr_assert_eq(v, 42, "an end wrote to the item buffer");
    }
    weft_stream_drop(s);
    return NULL;
}

Test(stream_array, empty_input_ends_at_once_and_every_time)
{
    run_virtual(array_empty_root, NULL);
}

static void *array_items_root(void *arg)
{
    (void)arg;
    weft_stream *s = weft_stream_from_array(one_to_ten, 3, sizeof(int));
    cr_assert_not_null(s);
    struct elem e[8];
    size_t n = collect(s, e, 8);
    assert_elems(e, n, "1@0 2@0 3@0 end@0");
    for (int i = 0; i < 3; i++) {
        int v;
        cr_assert_eq(weft_stream_next(s, &v), 0, "the end is repeated");
    }
    weft_stream_drop(s);
    return NULL;
}

Test(stream_array, items_in_order_then_the_end_repeated)
{
    run_virtual(array_items_root, NULL);
}

Test(stream_array, invalid_arguments)
{
    errno = 0;
    cr_assert_null(weft_stream_from_array(one_to_ten, 3, 0));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_null(weft_stream_from_array(NULL, 1, sizeof(int)));
    cr_assert_eq(errno, EINVAL);
    /* [any thread]: also outside a runtime */
    weft_stream *s = weft_stream_from_array(one_to_ten, 3, sizeof(int));
    cr_assert_not_null(s);
    weft_stream_drop(s);
}

/* ------------------------------------------------------------------------ */
/* from_receiver                                                            */
/* ------------------------------------------------------------------------ */

static void *receiver_end_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_stream *s = int_channel_stream(&tx);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(weft_send(tx, &i), 0);
    /* a task sends 3 at 50 ms, then drops its clone at 80 ms; the first
     * sender is dropped at once: the stream ends only when both are gone
     * and the queue is drained */
    static const uint64_t at[] = {50};
    struct timed_sender ts = {
        .tx = weft_sender_clone(tx), .at_ms = at, .n = 1, .keep_open = 1};
    cr_assert_not_null(ts.tx);
    weft_task *t = weft_spawn(timed_send, &ts);
    cr_assert_not_null(t);
    weft_sender_drop(tx);

    struct elem e[8];
    size_t n = collect(s, e, 4);
    assert_elems(e, n, "0@0 1@0 2@0 0@50");
    cr_assert_eq(weft_task_join(t, NULL), 0);
    cr_assert_eq(weft_sleep(WEFT_MS(30)), 0);
    weft_sender_drop(ts.tx); /* at 80 ms: the channel closes */
    n = collect(s, e, 8);
    assert_elems(e, n, "end@80");
    int v;
    cr_assert_eq(weft_stream_next(s, &v), 0, "the end is repeated");
    weft_stream_drop(s);
    return NULL;
}

Test(stream_receiver, ends_when_closed_and_drained)
{
    run_virtual(receiver_end_root, NULL);
}

static int dropped_items;

static void count_drop(void *item)
{
    (void)item;
    dropped_items++;
}

static void *receiver_drop_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    weft_channel_opts opts = {.drop = count_drop};
    cr_assert_eq(weft_channel_with(sizeof(int), &opts, &tx, &rx), 0);
    weft_stream *s = weft_stream_from_receiver(rx);
    cr_assert_not_null(s);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(weft_send(tx, &i), 0);
    int v;
    cr_assert_eq(weft_stream_next(s, &v), 1);
    cr_assert_eq(v, 0);
    dropped_items = 0;
    weft_stream_drop(s); /* drops rx: the two queued items are discarded */
    cr_assert_eq(dropped_items, 2);
    v = 7;
    cr_assert_eq(weft_send(tx, &v), -EPIPE,
                 "a send after the stream was dropped must fail");
    weft_sender_drop(tx);
    return NULL;
}

Test(stream_receiver, dropping_the_stream_drops_the_receiver)
{
    run_virtual(receiver_drop_root, NULL);
}

Test(stream_receiver, null_receiver)
{
    errno = 0;
    cr_assert_null(weft_stream_from_receiver(NULL));
    cr_assert_eq(errno, EINVAL);
}

/* ------------------------------------------------------------------------ */
/* map and filter                                                           */
/* ------------------------------------------------------------------------ */

static void *map_root(void *arg)
{
    (void)arg;
    int calls = 0;
    weft_stream *s = weft_stream_from_array(one_to_ten, 3, sizeof(int));
    s = weft_stream_map(s, sizeof(int), times_ten, &calls);
    cr_assert_not_null(s);
    struct elem e[8];
    size_t n = collect(s, e, 8);
    assert_elems(e, n, "10@0 20@0 30@0 end@0");
    cr_assert_eq(calls, 3, "fn sees only items, once each");
    weft_stream_drop(s);
    return NULL;
}

Test(stream_map, maps_items_and_passes_the_end) { run_virtual(map_root, NULL); }

/* A timeout element passes through map untouched, without a call of fn. */
static void *map_timeout_root(void *arg)
{
    (void)arg;
    int calls = 0;
    weft_sender *tx;
    weft_stream *s = weft_stream_timeout(int_channel_stream(&tx), WEFT_MS(100));
    cr_assert_not_null(s);
    s = weft_stream_map(s, sizeof(int), times_ten, &calls);
    cr_assert_not_null(s);
    static const uint64_t at[] = {150, 160};
    struct timed_sender ts = {.tx = tx, .at_ms = at, .n = 2};
    weft_task *t = weft_spawn(timed_send, &ts);
    cr_assert_not_null(t);
    struct elem e[8];
    int v = 1234;
    cr_assert_eq(weft_stream_next(s, &v), -ETIMEDOUT);
    cr_assert_eq(v, 1234, "an error element wrote to the item buffer");
    cr_assert_eq(weft_now(), WEFT_MS(100));
    cr_assert_eq(calls, 0, "fn was called for an error element");
    size_t n = collect(s, e, 8);
    assert_elems(e, n, "0@150 10@160 end@160");
    cr_assert_eq(calls, 2);
    cr_assert_eq(weft_task_join(t, NULL), 0);
    weft_stream_drop(s);
    return NULL;
}

Test(stream_map, error_elements_pass_untouched)
{
    run_virtual(map_timeout_root, NULL);
}

struct wide {
    int value;
    char text[20];
};

static void to_wide(const void *in, void *out, void *ctx)
{
    (void)ctx;
    struct wide *w = out;
    w->value = *(const int *)in;
    snprintf(w->text, sizeof w->text, "n=%d", w->value);
}

static void *map_size_root(void *arg)
{
    (void)arg;
    weft_stream *s = weft_stream_from_array(one_to_ten, 2, sizeof(int));
    s = weft_stream_map(s, sizeof(struct wide), to_wide, NULL);
    cr_assert_not_null(s);
    cr_assert_eq(weft_stream_item_size(s), sizeof(struct wide));
    struct wide w;
    cr_assert_eq(weft_stream_next(s, &w), 1);
    cr_assert_eq(w.value, 1);
    cr_assert_str_eq(w.text, "n=1");
    cr_assert_eq(weft_stream_next(s, &w), 1);
    cr_assert_str_eq(w.text, "n=2");
    cr_assert_eq(weft_stream_next(s, &w), 0);
    weft_stream_drop(s);
    return NULL;
}

Test(stream_map, output_item_size) { run_virtual(map_size_root, NULL); }

static void *filter_root(void *arg)
{
    (void)arg;
    int calls = 0;
    weft_stream *s = weft_stream_from_array(one_to_ten, 10, sizeof(int));
    s = weft_stream_filter(s, keep_even, &calls);
    cr_assert_not_null(s);
    cr_assert_eq(weft_stream_item_size(s), sizeof(int));
    struct elem e[12];
    size_t n = collect(s, e, 12);
    assert_elems(e, n, "2@0 4@0 6@0 8@0 10@0 end@0");
    cr_assert_eq(calls, 10, "keep is called once per item");
    weft_stream_drop(s);

    /* nothing kept: the end */
    calls = 0;
    s = weft_stream_from_array(one_to_ten, 1, sizeof(int));
    s = weft_stream_filter(s, keep_even, &calls);
    int v;
    cr_assert_eq(weft_stream_next(s, &v), 0);
    cr_assert_eq(calls, 1);
    weft_stream_drop(s);
    return NULL;
}

Test(stream_filter, keeps_matching_items) { run_virtual(filter_root, NULL); }

static void *filter_timeout_root(void *arg)
{
    (void)arg;
    int calls = 0;
    weft_sender *tx;
    weft_stream *s = weft_stream_timeout(int_channel_stream(&tx), WEFT_MS(100));
    s = weft_stream_filter(s, keep_even, &calls);
    cr_assert_not_null(s);
    /* 0 (kept) at 10, 1 (dropped) at 20, then nothing until 200 */
    static const uint64_t at[] = {10, 20, 200};
    struct timed_sender ts = {.tx = tx, .at_ms = at, .n = 3};
    weft_task *t = weft_spawn(timed_send, &ts);
    struct elem e[8];
    size_t n = collect(s, e, 8);
    /* the item at 20 resets the deadline to 120 though it is filtered
     * out: the timeout sits below the filter */
    assert_elems(e, n, "0@10 timeout@120 2@200 end@200");
    cr_assert_eq(calls, 3, "keep was called for the error element");
    cr_assert_eq(weft_task_join(t, NULL), 0);
    weft_stream_drop(s);
    return NULL;
}

Test(stream_filter, error_elements_pass_through)
{
    run_virtual(filter_timeout_root, NULL);
}

/* ------------------------------------------------------------------------ */
/* take                                                                     */
/* ------------------------------------------------------------------------ */

static void *take_zero_root(void *arg)
{
    (void)arg;
    int calls = 0;
    weft_stream *s = weft_stream_from_array(one_to_ten, 10, sizeof(int));
    s = weft_stream_map(s, sizeof(int), times_ten, &calls);
    s = weft_stream_take(s, 0);
    cr_assert_not_null(s);
    for (int i = 0; i < 3; i++) {
        int v = 5;
        cr_assert_eq(weft_stream_next(s, &v), 0);
        cr_assert_eq(v, 5);
    }
    cr_assert_eq(calls, 0, "take(0) polled its input");
    weft_stream_drop(s);
    return NULL;
}

Test(stream_take, zero_ends_at_once_without_polling)
{
    run_virtual(take_zero_root, NULL);
}

static void *take_three_root(void *arg)
{
    (void)arg;
    int calls = 0;
    weft_stream *s = weft_stream_from_array(one_to_ten, 10, sizeof(int));
    s = weft_stream_map(s, sizeof(int), times_ten, &calls);
    s = weft_stream_take(s, 3);
    cr_assert_not_null(s);
    struct elem e[8];
    size_t n = collect(s, e, 8);
    assert_elems(e, n, "10@0 20@0 30@0 end@0");
    int v;
    cr_assert_eq(weft_stream_next(s, &v), 0);
    cr_assert_eq(calls, 3, "the input was polled after the n-th element");
    weft_stream_drop(s);
    return NULL;
}

Test(stream_take, stops_polling_after_n) { run_virtual(take_three_root, NULL); }

static void *take_short_root(void *arg)
{
    (void)arg;
    weft_stream *s = weft_stream_from_array(one_to_ten, 3, sizeof(int));
    s = weft_stream_take(s, 5);
    cr_assert_not_null(s);
    struct elem e[8];
    size_t n = collect(s, e, 8);
    assert_elems(e, n, "1@0 2@0 3@0 end@0");
    int v;
    cr_assert_eq(weft_stream_next(s, &v), 0);
    weft_stream_drop(s);
    return NULL;
}

Test(stream_take, input_ending_early) { run_virtual(take_short_root, NULL); }

static void *take_errors_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_stream *s = weft_stream_timeout(int_channel_stream(&tx), WEFT_MS(200));
    s = weft_stream_take(s, 3);
    cr_assert_not_null(s);
    static const uint64_t at[] = {300, 900};
    struct timed_sender ts = {.tx = tx, .at_ms = at, .n = 2};
    weft_task *t = weft_spawn(timed_send, &ts);
    struct elem e[8];
    size_t n = collect(s, e, 8);
    /* timeout, item, timeout: three elements, then the end at once */
    assert_elems(e, n, "timeout@200 0@300 timeout@500 end@500");
    /* the task would send again at 900 ms: stop it at its sleep */
    weft_stream_drop(s);
    weft_task_abort(t);
    weft_task_join(t, NULL);
    if (ts.tx)
        weft_sender_drop(ts.tx);
    return NULL;
}

Test(stream_take, error_elements_count) { run_virtual(take_errors_root, NULL); }

/* ------------------------------------------------------------------------ */
/* merge                                                                    */
/* ------------------------------------------------------------------------ */

static const int hundreds[] = {101, 102, 103};

static void *merge_ended_root(void *arg)
{
    (void)arg;
    weft_stream *m =
        weft_stream_merge(weft_stream_from_array(NULL, 0, sizeof(int)),
                          weft_stream_from_array(NULL, 0, sizeof(int)));
    cr_assert_not_null(m);
    for (int i = 0; i < 3; i++) {
        int v;
        cr_assert_eq(weft_stream_next(m, &v), 0);
    }
    weft_stream_drop(m);
    return NULL;
}

Test(stream_merge, two_ended_streams_end)
{
    run_virtual(merge_ended_root, NULL);
}

static void *merge_alternate_root(void *arg)
{
    (void)arg;
    weft_stream *m =
        weft_stream_merge(weft_stream_from_array(one_to_ten, 3, sizeof(int)),
                          weft_stream_from_array(hundreds, 3, sizeof(int)));
    cr_assert_not_null(m);
    struct elem e[10];
    size_t n = collect(m, e, 10);
    assert_elems(e, n, "1@0 101@0 2@0 102@0 3@0 103@0 end@0");
    weft_stream_drop(m);

    /* one side ends first: the other goes on alone */
    m = weft_stream_merge(weft_stream_from_array(one_to_ten, 4, sizeof(int)),
                          weft_stream_from_array(hundreds, 1, sizeof(int)));
    cr_assert_not_null(m);
    n = collect(m, e, 10);
    assert_elems(e, n, "1@0 101@0 2@0 3@0 4@0 end@0");
    weft_stream_drop(m);
    return NULL;
}

Test(stream_merge, alternates_which_side_is_polled_first)
{
    run_virtual(merge_alternate_root, NULL);
}

static void *merge_timeout_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_stream *a = weft_stream_timeout(int_channel_stream(&tx), WEFT_MS(100));
    weft_stream *m = weft_stream_merge(
        a, weft_stream_from_array(one_to_ten, 1, sizeof(int)));
    cr_assert_not_null(m);
    static const uint64_t at[] = {250};
    struct timed_sender ts = {.tx = tx, .at_ms = at, .n = 1};
    weft_task *t = weft_spawn(timed_send, &ts);
    struct elem e[8];
    size_t n = collect(m, e, 8);
    assert_elems(e, n, "1@0 timeout@100 0@250 end@250");
    cr_assert_eq(weft_task_join(t, NULL), 0);
    weft_stream_drop(m);
    return NULL;
}

Test(stream_merge, passes_error_elements)
{
    run_virtual(merge_timeout_root, NULL);
}

/* Both sides wait on channels: each item comes when it is sent. */
static void *merge_waits_root(void *arg)
{
    (void)arg;
    weft_sender *tx1, *tx2;
    weft_stream *m =
        weft_stream_merge(int_channel_stream(&tx1), int_channel_stream(&tx2));
    cr_assert_not_null(m);
    static const uint64_t at1[] = {10, 30}, at2[] = {20, 40, 50};
    struct timed_sender ts1 = {.tx = tx1, .at_ms = at1, .n = 2};
    struct timed_sender ts2 = {.tx = tx2, .at_ms = at2, .n = 3};
    weft_task *t1 = weft_spawn(timed_send, &ts1);
    weft_task *t2 = weft_spawn(timed_send, &ts2);
    struct elem e[10];
    size_t n = collect(m, e, 10);
    assert_elems(e, n, "0@10 0@20 1@30 1@40 2@50 end@50");
    cr_assert_eq(weft_task_join(t1, NULL), 0);
    cr_assert_eq(weft_task_join(t2, NULL), 0);
    weft_stream_drop(m);
    return NULL;
}

Test(stream_merge, items_as_they_come) { run_virtual(merge_waits_root, NULL); }

static void *merge_sizes_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_stream *a = int_channel_stream(&tx);
    weft_stream *b = weft_stream_from_array(one_to_ten, 2, 2 * sizeof(int));
    errno = 0;
    cr_assert_null(weft_stream_merge(a, b));
    cr_assert_eq(errno, EINVAL);
    cr_assert(receiver_gone(tx), "merge failed but kept its input");
    weft_sender_drop(tx);
    return NULL;
}

Test(stream_merge, different_item_sizes_are_einval_and_drop_both)
{
    run_virtual(merge_sizes_root, NULL);
}

/* ------------------------------------------------------------------------ */
/* throttle                                                                 */
/* ------------------------------------------------------------------------ */

static void *throttle_burst_root(void *arg)
{
    (void)arg;
    weft_stream *s = weft_stream_from_array(one_to_ten, 10, sizeof(int));
    s = weft_stream_throttle(s, WEFT_MS(100));
    cr_assert_not_null(s);
    struct elem e[12];
    size_t n = collect(s, e, 12);
    /* the first at once, then one per period, none lost; the end is
     * also asked of the input only a period after the last item */
    assert_elems(e, n,
                 "1@0 2@100 3@200 4@300 5@400 6@500 7@600 8@700 9@800 "
                 "10@900 end@1000");
    weft_stream_drop(s);
    return NULL;
}

Test(stream_throttle, burst_is_spread_one_per_period)
{
    run_virtual(throttle_burst_root, NULL);
}

/* A channel behind the throttle buffers: items sent every 10 ms are all
 * read, in order, one per 100 ms; a slow input is not delayed further. */
static void *throttle_channel_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_stream *s =
        weft_stream_throttle(int_channel_stream(&tx), WEFT_MS(100));
    cr_assert_not_null(s);
    static const uint64_t at[] = {10, 20, 30, 450};
    struct timed_sender ts = {.tx = tx, .at_ms = at, .n = 4};
    weft_task *t = weft_spawn(timed_send, &ts);
    struct elem e[8];
    size_t n = collect(s, e, 8);
    assert_elems(e, n, "0@10 1@110 2@210 3@450 end@550");
    cr_assert_eq(weft_task_join(t, NULL), 0);
    weft_stream_drop(s);
    return NULL;
}

Test(stream_throttle, loses_nothing_from_a_channel)
{
    run_virtual(throttle_channel_root, NULL);
}

/* ------------------------------------------------------------------------ */
/* timeout                                                                  */
/* ------------------------------------------------------------------------ */

static void *timeout_rearm_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_stream *s = weft_stream_timeout(int_channel_stream(&tx), WEFT_MS(200));
    cr_assert_not_null(s);
    static const uint64_t at[] = {50, 100, 350};
    struct timed_sender ts = {.tx = tx, .at_ms = at, .n = 3};
    weft_task *t = weft_spawn(timed_send, &ts);
    struct elem e[8];
    size_t n = collect(s, e, 8);
    /* deadlines 200 -> 250 -> 300: one timeout at 300, then none until
     * the next item (tokio-stream does not re-arm after Elapsed) */
    assert_elems(e, n, "0@50 1@100 timeout@300 2@350 end@350");
    cr_assert_eq(weft_task_join(t, NULL), 0);
    weft_stream_drop(s);
    return NULL;
}

Test(stream_timeout, rearmed_after_each_item)
{
    run_virtual(timeout_rearm_root, NULL);
}

/* The first deadline is armed when the adapter is made, not when first
 * polled. */
static void *timeout_first_deadline_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_stream *s = weft_stream_timeout(int_channel_stream(&tx), WEFT_MS(200));
    cr_assert_not_null(s);
    cr_assert_eq(weft_sleep(WEFT_MS(150)), 0);
    int v;
    cr_assert_eq(weft_stream_next(s, &v), -ETIMEDOUT);
    cr_assert_eq(weft_now(), WEFT_MS(200));
    v = 5;
    cr_assert_eq(weft_send(tx, &v), 0);
    cr_assert_eq(weft_stream_next(s, &v), 1); /* next deadline: 400 ms */
    /* past that deadline, an item ready at once still wins: the input is
     * polled before the deadline */
    cr_assert_eq(weft_sleep(WEFT_MS(500)), 0);
    v = 6;
    cr_assert_eq(weft_send(tx, &v), 0);
    v = 0;
    cr_assert_eq(weft_stream_next(s, &v), 1);
    cr_assert_eq(v, 6);
    cr_assert_eq(weft_now(), WEFT_MS(700));
    weft_sender_drop(tx);
    cr_assert_eq(weft_stream_next(s, &v), 0);
    weft_stream_drop(s);
    return NULL;
}

Test(stream_timeout, first_deadline_from_creation)
{
    run_virtual(timeout_first_deadline_root, NULL);
}

/* ------------------------------------------------------------------------ */
/* interval                                                                 */
/* ------------------------------------------------------------------------ */

/* A tick as (scheduled instant, instant taken), in ms. */
struct tick {
    uint64_t value_ms, at_ms;
};

/* interval(100 ms, missed) made at 10 ms; the first tick is taken at once,
 * then the consumer sleeps 350 ms and takes n more. */
static void interval_ticks(int missed, struct tick *out, size_t n)
{
    cr_assert_eq(weft_sleep(WEFT_MS(10)), 0);
    weft_stream *s = weft_stream_interval_with(WEFT_MS(100), missed);
    cr_assert_not_null(s);
    cr_assert_eq(weft_stream_item_size(s), sizeof(uint64_t));
    uint64_t v;
    cr_assert_eq(weft_stream_next(s, &v), 1);
    cr_assert_eq(v, WEFT_MS(10), "the first tick is the creation instant");
    cr_assert_eq(weft_now(), WEFT_MS(10), "the first tick waited");
    cr_assert_eq(weft_sleep(WEFT_MS(350)), 0);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(weft_stream_next(s, &v), 1);
        out[i].value_ms = MS(v);
        out[i].at_ms = MS(weft_now());
    }
    weft_stream_drop(s);
}

static const char *ticks_str(const struct tick *t, size_t n)
{
    static tlog lg;
    lg.len = 0;
    lg.buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        tlog_add(&lg, "%llu@%llu", (unsigned long long)t[i].value_ms,
                 (unsigned long long)t[i].at_ms);
    return lg.buf;
}

static void *interval_root(void *arg)
{
    const int missed = (int)(intptr_t)arg;
    struct tick t[6];
    interval_ticks(missed, t, 6);
    const char *got = ticks_str(t, 6);
    const char *want =
        /* 110, 210, 310 were missed: delivered at once at 360 */
        missed == WEFT_MISSED_BURST ? "110@360 210@360 310@360 410@410 "
                                      "510@510 610@610"
        /* the late tick, then each a full period after the previous */
        : missed == WEFT_MISSED_DELAY
            ? "110@360 460@460 560@560 660@660 "
              "760@760 860@860"
            /* the late tick, then the schedule's next instant after now */
            : "110@360 410@410 510@510 610@610 "
              "710@710 810@810";
    cr_assert_str_eq(got, want, "ticks: got \"%s\", expected \"%s\"", got,
                     want);
    return NULL;
}

Test(stream_interval, burst)
{
    run_virtual(interval_root, (void *)(intptr_t)WEFT_MISSED_BURST);
}

Test(stream_interval, delay)
{
    run_virtual(interval_root, (void *)(intptr_t)WEFT_MISSED_DELAY);
}

Test(stream_interval, skip)
{
    run_virtual(interval_root, (void *)(intptr_t)WEFT_MISSED_SKIP);
}

/* A consumer that keeps up sees every multiple of the period, with every
 * behaviour, and the default is burst. */
static void *interval_on_time_root(void *arg)
{
    (void)arg;
    for (int missed = -1; missed <= WEFT_MISSED_SKIP; missed++) {
        uint64_t t0 = weft_now();
        weft_stream *s = missed < 0
                             ? weft_stream_interval(WEFT_MS(100))
                             : weft_stream_interval_with(WEFT_MS(100), missed);
        cr_assert_not_null(s);
        for (uint64_t k = 0; k < 5; k++) {
            uint64_t v;
            cr_assert_eq(weft_stream_next(s, &v), 1);
            cr_assert_eq(v, t0 + k * WEFT_MS(100), "missed %d tick %llu",
                         missed, (unsigned long long)k);
            cr_assert_eq(weft_now(), v);
        }
        weft_stream_drop(s);
    }
    return NULL;
}

Test(stream_interval, on_time_consumer_sees_every_tick)
{
    run_virtual(interval_on_time_root, NULL);
}

static void *interval_invalid_root(void *arg)
{
    (void)arg;
    errno = 0;
    cr_assert_null(weft_stream_interval(0));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_null(weft_stream_interval_with(WEFT_MS(1), 3));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_null(weft_stream_interval_with(WEFT_MS(1), -1));
    cr_assert_eq(errno, EINVAL);
    return NULL;
}

Test(stream_interval, invalid_arguments)
{
    run_virtual(interval_invalid_root, NULL);
}

/* ------------------------------------------------------------------------ */
/* Invalid arguments and calls outside a runtime                            */
/* ------------------------------------------------------------------------ */

static void *null_args_root(void *arg)
{
    (void)arg;
    int v, calls = 0;
    weft_sender *tx;
    weft_stream *s;

    cr_assert_eq(weft_stream_next(NULL, &v), -EINVAL);
    s = weft_stream_from_array(one_to_ten, 1, sizeof(int));
    cr_assert_eq(weft_stream_next(s, NULL), -EINVAL);
    cr_assert_eq(weft_stream_next(s, &v), 1, "the failed call took an item");
    weft_stream_drop(s);
    weft_stream_drop(NULL);
    cr_assert_eq(weft_stream_item_size(NULL), 0);

    /* NULL inputs: NULL with EINVAL */
    errno = 0;
    cr_assert_null(weft_stream_map(NULL, sizeof(int), times_ten, &calls));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_null(weft_stream_filter(NULL, keep_even, &calls));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_null(weft_stream_take(NULL, 1));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_null(weft_stream_throttle(NULL, WEFT_MS(1)));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_null(weft_stream_timeout(NULL, WEFT_MS(1)));
    cr_assert_eq(errno, EINVAL);

    /* merge with one NULL input drops the other */
    s = int_channel_stream(&tx);
    errno = 0;
    cr_assert_null(weft_stream_merge(NULL, s));
    cr_assert_eq(errno, EINVAL);
    cr_assert(receiver_gone(tx), "merge(NULL, b) kept b");
    weft_sender_drop(tx);
    s = int_channel_stream(&tx);
    errno = 0;
    cr_assert_null(weft_stream_merge(s, NULL));
    cr_assert_eq(errno, EINVAL);
    cr_assert(receiver_gone(tx), "merge(a, NULL) kept a");
    weft_sender_drop(tx);
    errno = 0;
    cr_assert_null(weft_stream_merge(NULL, NULL));
    cr_assert_eq(errno, EINVAL);

    /* a bad function or size drops the input */
    s = int_channel_stream(&tx);
    errno = 0;
    cr_assert_null(weft_stream_map(s, sizeof(int), NULL, NULL));
    cr_assert_eq(errno, EINVAL);
    cr_assert(receiver_gone(tx), "map with a NULL fn kept its input");
    weft_sender_drop(tx);
    s = int_channel_stream(&tx);
    errno = 0;
    cr_assert_null(weft_stream_map(s, 0, times_ten, &calls));
    cr_assert_eq(errno, EINVAL);
    cr_assert(receiver_gone(tx), "map with out_size 0 kept its input");
    weft_sender_drop(tx);
    s = int_channel_stream(&tx);
    errno = 0;
    cr_assert_null(weft_stream_filter(s, NULL, NULL));
    cr_assert_eq(errno, EINVAL);
    cr_assert(receiver_gone(tx), "filter with a NULL keep kept its input");
    weft_sender_drop(tx);
    cr_assert_eq(calls, 0);
    return NULL;
}

Test(stream_args, null_and_invalid_arguments)
{
    run_virtual(null_args_root, NULL);
}

Test(stream_args, task_constructors_outside_a_runtime_are_eperm)
{
    weft_sender *tx;
    weft_receiver *rx;
    weft_stream *s;

    errno = 0;
    cr_assert_null(weft_stream_interval(WEFT_MS(1)));
    cr_assert_eq(errno, EPERM);
    errno = 0;
    cr_assert_null(weft_stream_interval_with(WEFT_MS(1), WEFT_MISSED_SKIP));
    cr_assert_eq(errno, EPERM);

    /* throttle and timeout consume their input also when they fail */
    cr_assert_eq(weft_channel(sizeof(int), &tx, &rx), 0);
    s = weft_stream_from_receiver(rx);
    cr_assert_not_null(s, "from_receiver is [any thread]");
    errno = 0;
    cr_assert_null(weft_stream_throttle(s, WEFT_MS(1)));
    cr_assert_eq(errno, EPERM);
    cr_assert(receiver_gone(tx), "throttle outside a runtime kept its input");
    weft_sender_drop(tx);

    cr_assert_eq(weft_channel(sizeof(int), &tx, &rx), 0);
    s = weft_stream_from_receiver(rx);
    errno = 0;
    cr_assert_null(weft_stream_timeout(s, WEFT_MS(1)));
    cr_assert_eq(errno, EPERM);
    cr_assert(receiver_gone(tx), "timeout outside a runtime kept its input");
    weft_sender_drop(tx);

    /* the other adapters are [any thread]; next is [task] */
    s = weft_stream_from_array(one_to_ten, 3, sizeof(int));
    s = weft_stream_take(
        weft_stream_merge(weft_stream_filter(s, keep_even, NULL),
                          weft_stream_from_array(one_to_ten, 1, sizeof(int))),
        2);
    cr_assert_not_null(s);
    int v;
    cr_assert_eq(weft_stream_next(s, &v), -EPERM);
    weft_stream_drop(s);
}

/* ------------------------------------------------------------------------ */
/* Cancellation of weft_stream_next                                         */
/* ------------------------------------------------------------------------ */

enum waiter_kind { WAIT_INTERVAL, WAIT_THROTTLE, WAIT_TIMEOUT, WAIT_RECEIVE };

struct waiter {
    weft_stream *s;
    int rcs[3];
};

/* Takes what is ready at once, then waits (and is aborted meanwhile). */
static void *stream_waiter(void *arg)
{
    struct waiter *w = arg;
    int64_t item[2]; /* room for an int or a uint64_t */
    uint64_t t0 = weft_now();
    int rc;
    while ((rc = weft_stream_next(w->s, item)) == 1 && weft_now() == t0) {
    }
    w->rcs[0] = rc;
    w->rcs[1] = weft_stream_next(w->s, item); /* every time */
    w->rcs[2] = weft_sleep(WEFT_MS(1));
    return NULL;
}

struct cancel_case {
    enum waiter_kind kind;
    uint64_t now_at_deadlock; /* out */
};

/*
 * A task waits in weft_stream_next (on a timer 1 s ahead, or on a
 * channel); the root aborts it at 10 ms.  Its call returns -ECANCELED, and
 * again at once when called again.  No timer stays armed: the root then
 * blocks on a receive that can never complete, and the runtime reports the
 * deadlock at once instead of letting the virtual clock jump to the
 * abandoned deadline.
 */
static void *cancel_root(void *arg)
{
    struct cancel_case *c = arg;
    weft_sender *tx = NULL, *own_tx;
    weft_receiver *own_rx;
    struct waiter w = {.rcs = {1, 1, 1}};
    static const int two[] = {1, 2};

    switch (c->kind) {
    case WAIT_INTERVAL: /* tick 0 at once, then a timer at 1 s */
        w.s = weft_stream_interval(WEFT_SEC(1));
        break;
    case WAIT_THROTTLE: /* item 1 at once, then a timer at 1 s */
        w.s = weft_stream_throttle(weft_stream_from_array(two, 2, sizeof(int)),
                                   WEFT_SEC(1));
        break;
    case WAIT_TIMEOUT: /* an empty channel and a deadline at 1 s */
        w.s = weft_stream_timeout(int_channel_stream(&tx), WEFT_SEC(1));
        break;
    case WAIT_RECEIVE: /* an empty channel */
        w.s = int_channel_stream(&tx);
        break;
    }
    cr_assert_not_null(w.s);

    weft_task *t = weft_spawn(stream_waiter, &w);
    cr_assert_not_null(t);
    cr_assert_eq(weft_sleep(WEFT_MS(10)), 0);
    weft_task_abort(t);
    cr_assert_eq(weft_task_join(t, NULL), -ECANCELED);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(w.rcs[i], -ECANCELED, "call %d returned %d", i, w.rcs[i]);
    cr_assert_eq(weft_now(), WEFT_MS(10));

    /* deadlock: our own sender is alive and no timer may be armed */
    cr_assert_eq(weft_channel(sizeof(int), &own_tx, &own_rx), 0);
    int v;
    int rc = weft_recv(own_rx, &v);
    c->now_at_deadlock = weft_now();
    weft_sender_drop(own_tx);
    weft_receiver_drop(own_rx);
    cr_assert_eq(rc, -ECANCELED);
    weft_sender_drop(tx); /* NULL for the interval and the throttle */
    weft_stream_drop(w.s);
    return NULL;
}

static void cancel_case_run(enum waiter_kind kind)
{
    struct cancel_case c = {.kind = kind, .now_at_deadlock = UINT64_MAX};
    stderr_capture cap;
    capture_stderr_begin(&cap);
    int rc = run_clock(WEFT_CLOCK_VIRTUAL, cancel_root, &c, NULL);
    char *err = capture_stderr_end(&cap);
    cr_assert_eq(rc, -EDEADLK, "weft_run_with returned %d; stderr: %s", rc,
                 err);
    cr_assert(strstr(err, "weft: deadlock") != NULL, "stderr: %s", err);
    cr_assert_eq(c.now_at_deadlock, WEFT_MS(10),
                 "the virtual clock ran on to %llu ns: the cancelled "
                 "stream left a timer armed",
                 (unsigned long long)c.now_at_deadlock);
    free(err);
}

Test(stream_cancel, interval_wait_leaves_no_timer)
{
    cancel_case_run(WAIT_INTERVAL);
}

Test(stream_cancel, throttle_wait_leaves_no_timer)
{
    cancel_case_run(WAIT_THROTTLE);
}

Test(stream_cancel, timeout_wait_leaves_no_timer)
{
    cancel_case_run(WAIT_TIMEOUT);
}

Test(stream_cancel, receive_wait_leaves_no_registration)
{
    cancel_case_run(WAIT_RECEIVE);
}

/* After a cancelled next, another task polls the same stream: the wait
 * was forgotten (no -EBUSY from the receive) and no element was lost. */
static void *resume_root(void *arg)
{
    (void)arg;
    weft_sender *tx;
    struct waiter w = {.rcs = {1, 1, 1}};
    w.s = int_channel_stream(&tx);
    weft_task *t = weft_spawn(stream_waiter, &w);
    cr_assert_eq(weft_sleep(WEFT_MS(10)), 0);
    weft_task_abort(t);
    cr_assert_eq(weft_task_join(t, NULL), -ECANCELED);
    cr_assert_eq(w.rcs[0], -ECANCELED);

    static const uint64_t at[] = {20, 30};
    struct timed_sender ts = {.tx = tx, .at_ms = at, .n = 2};
    weft_task *t2 = weft_spawn(timed_send, &ts);
    struct elem e[4];
    size_t n = collect(w.s, e, 4);
    assert_elems(e, n, "0@20 1@30 end@30");
    cr_assert_eq(weft_task_join(t2, NULL), 0);
    weft_stream_drop(w.s);

    /* an interval resumes with the tick it was waiting for */
    w.s = weft_stream_interval(WEFT_MS(100)); /* at 30 ms */
    w.rcs[0] = w.rcs[1] = w.rcs[2] = 1;
    t = weft_spawn(stream_waiter, &w);
    cr_assert_eq(weft_sleep(WEFT_MS(10)), 0);
    weft_task_abort(t);
    cr_assert_eq(weft_task_join(t, NULL), -ECANCELED);
    cr_assert_eq(w.rcs[0], -ECANCELED);
    uint64_t v;
    cr_assert_eq(weft_stream_next(w.s, &v), 1);
    cr_assert_eq(v, WEFT_MS(130));
    cr_assert_eq(weft_now(), WEFT_MS(130));
    weft_stream_drop(w.s);
    return NULL;
}

Test(stream_cancel, polling_resumes_after_a_cancelled_next)
{
    run_virtual(resume_root, NULL);
}
