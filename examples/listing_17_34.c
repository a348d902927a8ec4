/*
 * listing_17_34.c - Listing 17-34 of the Rust book (section 17.4): 17-33's
 * stream through a 200 ms per-item timeout (StreamExt::timeout).  Every
 * element is now a Result: Ok(message), or Err(Elapsed) when no message
 * came within 200 ms of the previous one.  All ten messages are queued
 * before the first read, so none is late and the output is 17-33's:
 *
 *     Message: 'a'
 *     ...
 *     Message: 'j'
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
 *         let messages = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
 *         for message in messages {
 *             tx.send(format!("Message: '{message}'")).unwrap();
 *         }
 *
 *         ReceiverStream::new(rx)
 *     }
 *
 * The Result is weft_stream_next's return value: 1 is Ok (the message is in
 * the buffer), -ETIMEDOUT is Err(Elapsed), printed as `Problem: Elapsed`
 * (Rust's Debug form is `Elapsed(())`), 0 is None.  pin! has no C
 * counterpart: a weft_stream never moves.
 */
#include <errno.h>
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
    fprintf(stderr, "listing 17-34: %s: %s\n", what, weft_strerror(err));
    exit(101); /* the exit status of a Rust panic */
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

    /* let messages = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]; */
    static const char *const messages[] = {"a", "b", "c", "d", "e",
                                           "f", "g", "h", "i", "j"};
    /* for message in messages { */
    for (size_t i = 0; i < sizeof messages / sizeof messages[0]; i++) {
        /* tx.send(format!("Message: '{message}'")).unwrap(); */
        msg m;
        snprintf(m.text, sizeof m.text, "Message: '%s'", messages[i]);
        rc = weft_send(tx, &m);
        if (rc < 0)
            panic("send", rc);
    }

    /* ReceiverStream::new(rx)  (the stream now owns rx) */
    weft_stream *stream = weft_stream_from_receiver(rx);
    if (stream == NULL)
        panic("ReceiverStream::new", -errno);

    /* end of get_messages: tx is dropped, so the channel closes; the ten
     * queued messages stay receivable */
    weft_sender_drop(tx);
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
    if (rc < 0)
        panic("next", rc);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* trpl::run(async { ... }) */
    int rc = weft_run(async_main, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "listing 17-34: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
