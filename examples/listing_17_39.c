/*
 * listing_17_39.c - Listing 17-39 of the Rust book (section 17.4): 17-38
 * with the intervals throttled to one per 100 ms (StreamExt::throttle) and
 * only the first 20 elements of the merged stream taken (StreamExt::take),
 * so the program ends:
 *
 *     Interval: 1
 *     Message: 'a'
 *     Interval: 2
 *     Interval: 3
 *     Problem: Elapsed      (on stderr)
 *     Interval: 4
 *     Message: 'b'
 *     Interval: 5
 *     Message: 'c'
 *     Interval: 6
 *     Interval: 7
 *     Problem: Elapsed
 *     Interval: 8
 *     Message: 'd'
 *     Interval: 9
 *     Message: 'e'
 *     Interval: 10
 *     Interval: 11
 *     Problem: Elapsed
 *     Interval: 12
 *
 * Throttle loses nothing: the producer still sends a count every 1 ms into
 * an unbounded channel, and the throttled stream reads the buffered counts
 * 1, 2, 3, ... one per 100 ms.  When the 20th element has been taken the
 * stream is dropped with both receivers, the block returns and the runtime
 * cancels the two producers at their sleeps.
 *
 * Rust:
 *     use std::{pin::pin, time::Duration};
 *     use trpl::{ReceiverStream, Stream, StreamExt};
 *
 *     fn main() {
 *         trpl::run(async {
 *             let messages =
 *                 get_messages().timeout(Duration::from_millis(200));
 *             let intervals = get_intervals()
 *                 .map(|count| format!("Interval: {count}"))
 *                 .throttle(Duration::from_millis(100))
 *                 .timeout(Duration::from_secs(10));
 *             let merged = messages.merge(intervals).take(20);
 *             let mut stream = pin!(merged);
 *
 *             while let Some(result) = stream.next().await {
 *                 match result {
 *                     Ok(message) => println!("{message}"),
 *                     Err(reason) => eprintln!("Problem: {reason:?}"),
 *                 }
 *             }
 *         })
 *     }
 *
 *     fn get_messages() -> impl Stream<Item = String> {
 *         let (tx, rx) = trpl::channel();
 *
 *         trpl::spawn_task(async move {
 *             let messages =
 *                 ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
 *             for (index, message) in messages.into_iter().enumerate() {
 *                 let time_to_sleep = if index % 2 == 0 { 100 } else { 300 };
 *                 trpl::sleep(Duration::from_millis(time_to_sleep)).await;
 *
 *                 tx.send(format!("Message: '{message}'")).unwrap();
 *             }
 *         });
 *
 *         ReceiverStream::new(rx)
 *     }
 *
 *     fn get_intervals() -> impl Stream<Item = u32> {
 *         let (tx, rx) = trpl::channel();
 *
 *         trpl::spawn_task(async move {
 *             let mut count = 0;
 *             loop {
 *                 trpl::sleep(Duration::from_millis(1)).await;
 *                 count += 1;
 *                 tx.send(count).unwrap();
 *             }
 *         });
 *
 *         ReceiverStream::new(rx)
 *     }
 *
 * The Result is weft_stream_next's return value: 1 is Ok, -ETIMEDOUT is
 * Err(Elapsed), printed as `Problem: Elapsed` (Rust's Debug form is
 * `Elapsed(())`), 0 is None.  A timeout is an element, so take counts it.
 * Pinning has no C counterpart: a weft_stream never moves.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

/* The streams' item: String, as a fixed buffer copied by value. */
typedef struct {
    char text[64];
} msg;

/* A failed .unwrap() (or an operation that cannot fail in Rust): panic. */
static void panic(const char *what, int err)
{
    fprintf(stderr, "listing 17-39: %s: %s\n", what, weft_strerror(err));
    exit(101); /* the exit status of a Rust panic */
}

/* Drops a task's captured sender if the task never runs. */
static void drop_sender(void *tx) { weft_sender_drop(tx); }

/* trpl::spawn_task(async move { ... }) in get_messages  (owns tx) */
static void *send_messages(void *arg)
{
    weft_sender *tx = arg;

    /* let messages = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]; */
    static const char *const messages[] = {"a", "b", "c", "d", "e",
                                           "f", "g", "h", "i", "j"};
    /* for (index, message) in messages.into_iter().enumerate() { */
    for (size_t index = 0; index < sizeof messages / sizeof messages[0];
         index++) {
        /* let time_to_sleep = if index % 2 == 0 { 100 } else { 300 }; */
        uint64_t time_to_sleep = index % 2 == 0 ? 100 : 300;
        /* trpl::sleep(Duration::from_millis(time_to_sleep)).await; */
        if (weft_sleep(WEFT_MS(time_to_sleep)) < 0)
            break; /* cancelled: the task is dropped, and tx with it */

        /* tx.send(format!("Message: '{message}'")).unwrap(); */
        msg m;
        snprintf(m.text, sizeof m.text, "Message: '%s'", messages[index]);
        int rc = weft_send(tx, &m);
        if (rc < 0)
            panic("send", rc);
    }
    /* end of the async move block: tx is dropped, the channel closes */
    weft_sender_drop(tx);
    return NULL;
}

/* fn get_messages() -> impl Stream<Item = String>  (you own the stream) */
static weft_stream *get_messages(void)
{
    weft_sender *tx;
    weft_receiver *rx;

    /* let (tx, rx) = trpl::channel(); */
    int rc = weft_channel(sizeof(msg), &tx, &rx);
    if (rc < 0)
        panic("channel", rc);

    /* trpl::spawn_task(async move { ... });  (the handle is dropped) */
    weft_spawn_opts opts = {.name = "get_messages", .drop_arg = drop_sender};
    weft_task *task = weft_spawn_with(&opts, send_messages, tx);
    if (task == NULL)
        panic("spawn_task", -errno); /* tx was dropped by drop_arg */
    weft_task_detach(task);

    /* ReceiverStream::new(rx)  (the stream now owns rx) */
    weft_stream *stream = weft_stream_from_receiver(rx);
    if (stream == NULL)
        panic("ReceiverStream::new", -errno);
    return stream;
}

/* trpl::spawn_task(async move { ... }) in get_intervals  (owns tx) */
static void *send_intervals(void *arg)
{
    weft_sender *tx = arg;

    /* let mut count = 0; */
    uint32_t count = 0;
    /* loop { */
    for (;;) {
        /* trpl::sleep(Duration::from_millis(1)).await; */
        if (weft_sleep(WEFT_MS(1)) < 0)
            break; /* cancelled: the task is dropped, and tx with it */
        /* count += 1; */
        count += 1;
        /* tx.send(count).unwrap(); */
        int rc = weft_send(tx, &count);
        if (rc < 0)
            panic("send", rc);
    }
    weft_sender_drop(tx);
    return NULL;
}

/* fn get_intervals() -> impl Stream<Item = u32>  (you own the stream) */
static weft_stream *get_intervals(void)
{
    weft_sender *tx;
    weft_receiver *rx;

    /* let (tx, rx) = trpl::channel(); */
    int rc = weft_channel(sizeof(uint32_t), &tx, &rx);
    if (rc < 0)
        panic("channel", rc);

    /* trpl::spawn_task(async move { ... });  (the handle is dropped) */
    weft_spawn_opts opts = {.name = "get_intervals", .drop_arg = drop_sender};
    weft_task *task = weft_spawn_with(&opts, send_intervals, tx);
    if (task == NULL)
        panic("spawn_task", -errno); /* tx was dropped by drop_arg */
    weft_task_detach(task);

    /* ReceiverStream::new(rx)  (the stream now owns rx) */
    weft_stream *stream = weft_stream_from_receiver(rx);
    if (stream == NULL)
        panic("ReceiverStream::new", -errno);
    return stream;
}

/* |count| format!("Interval: {count}") */
static void format_interval(const void *in, void *out, void *ctx)
{
    (void)ctx;
    msg *m = out;
    snprintf(m->text, sizeof m->text, "Interval: %" PRIu32,
             *(const uint32_t *)in);
}

/* trpl::run(async { ... }) - the main async block. */
static void *async_main(void *arg)
{
    (void)arg;

    /* let messages = get_messages().timeout(Duration::from_millis(200)); */
    weft_stream *messages = weft_stream_timeout(get_messages(), WEFT_MS(200));
    if (messages == NULL)
        panic("timeout", -errno);

    /* let intervals = get_intervals()
     *     .map(|count| format!("Interval: {count}"))
     *     .throttle(Duration::from_millis(100))
     *     .timeout(Duration::from_secs(10)); */
    weft_stream *intervals =
        weft_stream_map(get_intervals(), sizeof(msg), format_interval, NULL);
    if (intervals == NULL) {
        weft_stream_drop(messages);
        panic("map", -errno);
    }
    intervals = weft_stream_throttle(intervals, WEFT_MS(100));
    if (intervals == NULL) {
        weft_stream_drop(messages);
        panic("throttle", -errno);
    }
    intervals = weft_stream_timeout(intervals, WEFT_SEC(10));
    if (intervals == NULL) {
        weft_stream_drop(messages);
        panic("timeout", -errno);
    }

    /* let merged = messages.merge(intervals).take(20);
     * let mut stream = pin!(merged); */
    weft_stream *merged = weft_stream_merge(messages, intervals);
    if (merged == NULL)
        panic("merge", -errno);
    weft_stream *stream = weft_stream_take(merged, 20);
    if (stream == NULL)
        panic("take", -errno);

    /* while let Some(result) = stream.next().await { */
    msg message;
    int rc;
    while ((rc = weft_stream_next(stream, &message)) != 0) {
        /* match result { */
        if (rc == 1) {
            /* Ok(message) => println!("{message}"), */
            printf("%s\n", message.text);
        } else if (rc == -ETIMEDOUT) {
            /* Err(reason) => eprintln!("Problem: {reason:?}"), */
            fprintf(stderr, "Problem: Elapsed\n");
        } else {
            break; /* not an element: the call failed (rc < 0) */
        }
    }
    /* rc == 0: None, 20 elements were taken */

    /* end of the block: the stream is dropped, and both receivers with it;
     * the producers are cancelled at their sleeps when the runtime ends */
    weft_stream_drop(stream);
    if (rc < 0 && rc != -ECANCELED) /* (cancelled: the block is dropped) */
        panic("next", rc);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* trpl::run(async { ... }) */
    int rc = weft_run(async_main, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "listing 17-39: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
