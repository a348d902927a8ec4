/*
 * listing_17_35.c - Listing 17-35 of the Rust book (section 17.4): the
 * messages are now sent by a spawned task that sleeps 100 ms before each
 * message of even index and 300 ms before each of odd index, so under the
 * 200 ms timeout every odd-index message is preceded by an Err(Elapsed):
 *
 *     Message: 'a'          (at 100 ms)
 *     Problem: Elapsed      (300 ms, on stderr)
 *     Message: 'b'          (400 ms)
 *     Message: 'c'          (500 ms)
 *     Problem: Elapsed      (700 ms)
 *     Message: 'd'          (800 ms)
 *     ...
 *     Problem: Elapsed      (1900 ms)
 *     Message: 'j'          (2000 ms)
 *
 * then the task ends, its sender is dropped, the stream ends and so does
 * the program.
 *
 * Rust:
 *     use std::{pin::pin, time::Duration};
 *     use trpl::{ReceiverStream, Stream, StreamExt};
 *
 *     fn main() {
 *         trpl::run(async {
 *             let mut messages =
 *                 pin!(get_messages().timeout(Duration::from_millis(200)));
 *
 *             while let Some(result) = messages.next().await {
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
 * The Result is weft_stream_next's return value: 1 is Ok, -ETIMEDOUT is
 * Err(Elapsed), printed as `Problem: Elapsed` (Rust's Debug form is
 * `Elapsed(())`), 0 is None.  The task's JoinHandle is dropped: the task is
 * detached and owns tx (`async move`), dropping it when it ends, also when
 * it is cancelled at shutdown or never runs (drop_arg).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

/* The stream's item: String, as a fixed buffer copied by value. */
typedef struct {
    char text[64];
} msg;

/* A failed .unwrap() (or an operation that cannot fail in Rust): panic. */
static void panic(const char *what, int err)
{
    fprintf(stderr, "listing 17-35: %s: %s\n", what, weft_strerror(err));
    exit(101); /* the exit status of a Rust panic */
}

/* Drops a task's captured sender if the task never runs. */
static void drop_sender(void *tx) { weft_sender_drop(tx); }

/* trpl::spawn_task(async move { ... })  (owns tx) */
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

/* trpl::run(async { ... }) - the main async block. */
static void *async_main(void *arg)
{
    (void)arg;
    /* let mut messages =
     *     pin!(get_messages().timeout(Duration::from_millis(200))); */
    weft_stream *messages = weft_stream_timeout(get_messages(), WEFT_MS(200));
    if (messages == NULL)
        panic("timeout", -errno);

    /* while let Some(result) = messages.next().await { */
    msg message;
    int rc;
    while ((rc = weft_stream_next(messages, &message)) != 0) {
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

    /* end of the block: the stream is dropped, and rx with it */
    weft_stream_drop(messages);
    if (rc < 0 && rc != -ECANCELED) /* cancelled: the block is dropped */
        panic("next", rc);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* trpl::run(async { ... }) */
    int rc = weft_run(async_main, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "listing 17-35: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
