/*
 * listing_17_12.c - Listing 17-12 of the Rust book (section 17.2): as 17-11,
 * but the sending block is `async move`: it owns tx and drops it when it
 * ends, which closes the channel, ends the receive loop, and lets the
 * program exit cleanly after the fourth line.
 *
 * Rust:
 *     trpl::run(async {
 *         let (tx, mut rx) = trpl::channel();
 *
 *         let tx_fut = async move {
 *             let vals = vec![
 *                 String::from("hi"),
 *                 String::from("from"),
 *                 String::from("the"),
 *                 String::from("future"),
 *             ];
 *
 *             for val in vals {
 *                 tx.send(val).unwrap();
 *                 trpl::sleep(Duration::from_millis(500)).await;
 *             }
 *         };
 *
 *         let rx_fut = async {
 *             while let Some(value) = rx.recv().await {
 *                 println!("received '{value}'");
 *             }
 *         };
 *
 *         trpl::join(tx_fut, rx_fut).await;
 *     });
 *
 * "Moving" tx into the block is explicit in C: the block takes the pointer
 * out of the main block's variable (leaving NULL behind) and calls
 * weft_sender_drop when it finishes, also when it is cancelled.
 */
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

/* A failed .unwrap() (or an operation that cannot fail in Rust): panic. */
static void panic(const char *what, int err)
{
    fprintf(stderr, "listing 17-12: %s: %s\n", what, weft_strerror(err));
    exit(101); /* the exit status of a Rust panic */
}

/* The main block's locals that the async blocks capture. */
struct channel {
    weft_sender *tx;
    weft_receiver *rx;
};

/* let tx_fut = async move { ... };  (owns tx) */
static void *tx_block(void *arg)
{
    struct channel *ch = arg;
    /* move: tx now belongs to this block */
    weft_sender *tx = ch->tx;
    ch->tx = NULL;

    /* let vals = vec![String::from("hi"), ..., String::from("future")]; */
    static const char *const vals[] = {"hi", "from", "the", "future"};

    /* for val in vals { */
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        const char *val = vals[i];
        /* tx.send(val).unwrap(); */
        int rc = weft_send(tx, &val);
        if (rc < 0)
            panic("send", rc);
        /* trpl::sleep(Duration::from_millis(500)).await; */
        if (weft_sleep(WEFT_MS(500)) < 0)
            break; /* cancelled: the future is dropped, and tx with it */
    }
    /* end of the async move block: tx is dropped, the channel closes */
    weft_sender_drop(tx);
    return NULL;
}

/* let rx_fut = async { ... };  (borrows rx) */
static void *rx_block(void *arg)
{
    struct channel *ch = arg;
    const char *value;

    /* while let Some(value) = rx.recv().await { */
    while (weft_recv(ch->rx, &value) > 0) {
        /* println!("received '{value}'"); */
        printf("received '%s'\n", value);
    }
    /* recv returned 0 (None): every sender is gone and the queue drained */
    return NULL;
}

/* trpl::run(async { ... }) - the main async block. */
static void *async_main(void *arg)
{
    (void)arg;
    struct channel ch;

    /* let (tx, mut rx) = trpl::channel(); */
    int rc = weft_channel(sizeof(const char *), &ch.tx, &ch.rx);
    if (rc < 0)
        panic("channel", rc);

    /* let tx_fut = async move { ... }; */
    weft_future *tx_fut = weft_async(tx_block, &ch);
    /* let rx_fut = async { ... }; */
    weft_future *rx_fut = weft_async(rx_block, &ch);

    /* trpl::join(tx_fut, rx_fut).await; */
    rc = weft_join(tx_fut, rx_fut);

    /* A tx_fut that never ran (weft_async failed) still owns tx: Rust drops
     * it with the future.  NULL (moved) is ignored. */
    weft_sender_drop(ch.tx);
    if (rc < 0)
        panic("join", rc);

    /* end of the block: rx is dropped */
    weft_receiver_drop(ch.rx);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* trpl::run(async { ... }); */
    int rc = weft_run(async_main, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "listing 17-12: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
