/*
 * listing_17_38.c - Listing 17-38 of the Rust book (section 17.4): the
 * messages of 17-35 (with their 200 ms timeout) merged with an endless
 * stream of intervals: a task counts every 1 ms and sends the count on a
 * channel (17-36's get_intervals); each count is mapped to the text
 * `Interval: N` and given a 10 s timeout, so that both streams have the
 * same item type (String) and element type (Result), and merged
 * (StreamExt::merge).  About a hundred `Interval: N` lines come between two
 * messages; the message stream's `Problem: Elapsed` lines (stderr) still
 * appear before b, d, f, h and j.  After j the intervals go on: the program
 * never ends (`make demo` stops it after a few seconds).
 *
 * Not in the book: an optional argument N stops the loop cleanly after N
 * elements (items and Problems alike), for tests.
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
 *                 .timeout(Duration::from_secs(10));
 *             let merged = messages.merge(intervals);
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
 * In C every stream is a weft_stream * and every element is an int status
 * (1 Ok, -ETIMEDOUT Err(Elapsed), 0 None), so the 10 s timeout is not
 * needed to align any type here; it is kept because the book has it (it
 * never fires: an interval comes every 1 ms).  The map is needed: merge
 * takes streams of one item size (weft_stream_merge fails with EINVAL
 * otherwise, C's run-time counterpart of Rust's type error).
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
    fprintf(stderr, "listing 17-38: %s: %s\n", what, weft_strerror(err));
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

/* trpl::run(async { ... }) - the main async block.  arg points at the
 * number of elements after which to stop (SIZE_MAX: never). */
static void *async_main(void *arg)
{
    size_t limit = *(const size_t *)arg;

    /* let messages = get_messages().timeout(Duration::from_millis(200)); */
    weft_stream *messages = weft_stream_timeout(get_messages(), WEFT_MS(200));
    if (messages == NULL)
        panic("timeout", -errno);

    /* let intervals = get_intervals()
     *     .map(|count| format!("Interval: {count}"))
     *     .timeout(Duration::from_secs(10)); */
    weft_stream *intervals =
        weft_stream_map(get_intervals(), sizeof(msg), format_interval, NULL);
    if (intervals == NULL) {
        weft_stream_drop(messages);
        panic("map", -errno);
    }
    intervals = weft_stream_timeout(intervals, WEFT_SEC(10));
    if (intervals == NULL) {
        weft_stream_drop(messages);
        panic("timeout", -errno);
    }

    /* let merged = messages.merge(intervals);
     * let mut stream = pin!(merged); */
    weft_stream *stream = weft_stream_merge(messages, intervals);
    if (stream == NULL)
        panic("merge", -errno);

    /* while let Some(result) = stream.next().await { */
    msg message;
    int rc = 0;
    for (size_t n = 0; n < limit; n++) { /* (the optional stop) */
        rc = weft_stream_next(stream, &message);
        if (rc == 0)
            break; /* None: never, the intervals go on */
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

    /* end of the block: the stream is dropped, and both receivers with it;
     * the producers are cancelled at their sleeps when the runtime ends */
    weft_stream_drop(stream);
    if (rc < 0 && rc != -ETIMEDOUT && rc != -ECANCELED)
        panic("next", rc); /* (cancelled: the block is dropped) */
    return NULL;
}

int main(int argc, char **argv)
{
    /* listing_17_38 [elements] */
    size_t limit = SIZE_MAX;
    if (argc > 2) {
        fprintf(stderr, "usage: %s [elements]\n", argv[0]);
        return 2;
    }
    if (argc == 2) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(argv[1], &end, 10);
        if (errno != 0 || end == argv[1] || *end != '\0' || argv[1][0] == '-' ||
            v >= SIZE_MAX) {
            fprintf(stderr, "usage: %s [elements]\n", argv[0]);
            return 2;
        }
        limit = (size_t)v;
    }

    setvbuf(stdout, NULL, _IOLBF, 0);
    /* trpl::run(async { ... }) */
    int rc = weft_run(async_main, &limit, NULL);
    if (rc < 0) {
        fprintf(stderr, "listing 17-38: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
