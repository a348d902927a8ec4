/*
 * listing_17_33.c - Listing 17-33 of the Rust book (section 17.4): a
 * channel's receiver as a stream (trpl::ReceiverStream).  get_messages
 * queues ten messages and returns the stream; its sender is dropped when
 * get_messages returns, so the stream ends once the ten are read:
 *
 *     Message: 'a'
 *     Message: 'b'
 *     ...
 *     Message: 'j'
 *
 * Rust:
 *     use trpl::{ReceiverStream, Stream, StreamExt};
 *
 *     fn main() {
 *         trpl::run(async {
 *             let mut messages = get_messages();
 *
 *             while let Some(message) = messages.next().await {
 *                 println!("{message}");
 *             }
 *         });
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
 * weft streams and channels copy items by value: a String becomes a fixed
 * struct msg holding the formatted text.
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
    fprintf(stderr, "listing 17-33: %s: %s\n", what, weft_strerror(err));
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
    /* let mut messages = get_messages(); */
    weft_stream *messages = get_messages();

    /* while let Some(message) = messages.next().await { */
    msg message;
    int rc;
    while ((rc = weft_stream_next(messages, &message)) == 1) {
        /* println!("{message}"); */
        printf("%s\n", message.text);
    }
    /* rc == 0: None, the channel is closed and drained */

    /* end of the block: the stream is dropped, and rx with it */
    weft_stream_drop(messages);
    if (rc < 0)
        panic("next", rc);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* trpl::run(async { ... }); */
    int rc = weft_run(async_main, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "listing 17-33: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
