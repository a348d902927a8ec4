/*
 * listing_17_10.c - Listing 17-10 of the Rust book (section 17.2): send four
 * messages with a 500 ms sleep after each, then receive in a loop, all in
 * one async block.  There is no concurrency: the four lines appear together
 * after 2 s.  The program never exits in Rust (tx is still alive, so recv
 * waits forever); weft detects that no task can make progress, prints its
 * deadlock report on stderr, and weft_run returns -EDEADLK.
 *
 * Rust:
 *     trpl::run(async {
 *         let (tx, mut rx) = trpl::channel();
 *
 *         let vals = vec![
 *             String::from("hi"),
 *             String::from("from"),
 *             String::from("the"),
 *             String::from("future"),
 *         ];
 *
 *         for val in vals {
 *             tx.send(val).unwrap();
 *             trpl::sleep(Duration::from_millis(500)).await;
 *         }
 *
 *         while let Some(value) = rx.recv().await {
 *             println!("received '{value}'");
 *         }
 *     });
 */
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

/* A failed .unwrap() (or an operation that cannot fail in Rust): panic. */
static void panic(const char *what, int err)
{
    fprintf(stderr, "listing 17-10: %s: %s\n", what, weft_strerror(err));
    exit(101); /* the exit status of a Rust panic */
}

/* trpl::run(async { ... }) - the main async block. */
static void *async_main(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    const char *value;
    int rc;

    /* let (tx, mut rx) = trpl::channel(); */
    rc = weft_channel(sizeof(const char *), &tx, &rx);
    if (rc < 0)
        panic("channel", rc);

    /* let vals = vec![String::from("hi"), ..., String::from("future")]; */
    static const char *const vals[] = {"hi", "from", "the", "future"};

    /* for val in vals { */
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        const char *val = vals[i];
        /* tx.send(val).unwrap(); */
        rc = weft_send(tx, &val);
        if (rc < 0)
            panic("send", rc);
        /* trpl::sleep(Duration::from_millis(500)).await; */
        if (weft_sleep(WEFT_MS(500)) < 0)
            goto drop_channel; /* cancelled */
    }

    /* while let Some(value) = rx.recv().await { */
    while (weft_recv(rx, &value) > 0) {
        /* println!("received '{value}'"); */
        printf("received '%s'\n", value);
    }
    /* Only reached when the runtime cancels us after reporting the
     * deadlock: recv returned -ECANCELED.  The Rust program waits forever. */

drop_channel:
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
        /* expected here: -EDEADLK, after the runtime's report on stderr */
        fprintf(stderr, "listing 17-10: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
