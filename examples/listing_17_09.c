/*
 * listing_17_09.c - Listing 17-9 of the Rust book (section 17.2): an async
 * channel inside one async block.  The send does not suspend (the channel
 * is unbounded); the receive finds the message at once.
 *
 * Rust:
 *     trpl::run(async {
 *         let (tx, mut rx) = trpl::channel();
 *
 *         let val = String::from("hi");
 *         tx.send(val).unwrap();
 *
 *         let received = rx.recv().await.unwrap();
 *         println!("received '{received}'");
 *     });
 *
 * Items of the channel are `const char *` pointing at string literals.
 */
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

/* A failed .unwrap() (or an operation that cannot fail in Rust): panic. */
static void panic(const char *what, const char *why)
{
    fprintf(stderr, "listing 17-09: %s: %s\n", what, why);
    exit(101); /* the exit status of a Rust panic */
}

/* trpl::run(async { ... }) - the main async block. */
static void *async_main(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    int rc;

    /* let (tx, mut rx) = trpl::channel(); */
    rc = weft_channel(sizeof(const char *), &tx, &rx);
    if (rc < 0)
        panic("channel", weft_strerror(rc));

    /* let val = String::from("hi"); */
    const char *val = "hi";
    /* tx.send(val).unwrap(); */
    rc = weft_send(tx, &val);
    if (rc < 0)
        panic("send", weft_strerror(rc));

    /* let received = rx.recv().await.unwrap(); */
    const char *received;
    rc = weft_recv(rx, &received);
    if (rc <= 0)
        panic("recv", rc == 0 ? "channel closed" : weft_strerror(rc));
    /* println!("received '{received}'"); */
    printf("received '%s'\n", received);

    /* end of the block: tx and rx are dropped */
    weft_sender_drop(tx);
    weft_receiver_drop(rx);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* trpl::run(async { ... }); */
    int rc = weft_run(async_main, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "listing 17-09: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
