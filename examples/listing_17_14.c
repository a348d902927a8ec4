/*
 * listing_17_14.c - Listing 17-14 of the Rust book (section 17.3): listing
 * 17-13 with the variadic trpl::join! macro instead of join3.  The macro
 * takes any number of futures; its C counterpart is weft_join_all over an
 * array, with the same fairness (children polled in array order).  Output
 * and timing are those of 17-13: the lines appear at 0, 0, 0.5, 1.0, 1.5,
 * 1.5, 3.0 and 4.5 s, then both senders are dropped and the program exits.
 *
 * Rust:
 *     trpl::run(async {
 *         let (tx, mut rx) = trpl::channel();
 *
 *         let tx1 = tx.clone();
 *         let tx1_fut = async move {
 *             let vals = vec![
 *                 String::from("hi"),
 *                 String::from("from"),
 *                 String::from("the"),
 *                 String::from("future"),
 *             ];
 *
 *             for val in vals {
 *                 tx1.send(val).unwrap();
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
 *         let tx_fut = async move {
 *             let vals = vec![
 *                 String::from("more"),
 *                 String::from("messages"),
 *                 String::from("for"),
 *                 String::from("you"),
 *             ];
 *
 *             for val in vals {
 *                 tx.send(val).unwrap();
 *                 trpl::sleep(Duration::from_millis(1500)).await;
 *             }
 *         };
 *
 *         trpl::join!(tx1_fut, tx_fut, rx_fut);
 *     });
 *
 * "Moving" a sender into a block is explicit in C: the block takes the
 * pointer out of the main block's variable (leaving NULL behind) and calls
 * weft_sender_drop when it finishes, also when it is cancelled.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

/* A failed .unwrap() (or an operation that cannot fail in Rust): panic. */
static void panic(const char *what, int err)
{
    fprintf(stderr, "listing 17-14: %s: %s\n", what, weft_strerror(err));
    exit(101); /* the exit status of a Rust panic */
}

/* The main block's locals that the async blocks capture. */
struct channel {
    weft_sender *tx;
    weft_sender *tx1;
    weft_receiver *rx;
};

/* let tx1_fut = async move { ... };  (owns tx1) */
static void *tx1_block(void *arg)
{
    struct channel *ch = arg;
    /* move: tx1 now belongs to this block */
    weft_sender *tx1 = ch->tx1;
    ch->tx1 = NULL;

    /* let vals = vec![String::from("hi"), ..., String::from("future")]; */
    static const char *const vals[] = {"hi", "from", "the", "future"};

    /* for val in vals { */
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        const char *val = vals[i];
        /* tx1.send(val).unwrap(); */
        int rc = weft_send(tx1, &val);
        if (rc < 0)
            panic("send", rc);
        /* trpl::sleep(Duration::from_millis(500)).await; */
        if (weft_sleep(WEFT_MS(500)) < 0)
            break; /* cancelled: the future is dropped, and tx1 with it */
    }
    /* end of the async move block: tx1 is dropped */
    weft_sender_drop(tx1);
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
    /* recv returned 0 (None): both senders are gone and the queue drained */
    return NULL;
}

/* let tx_fut = async move { ... };  (owns tx) */
static void *tx_block(void *arg)
{
    struct channel *ch = arg;
    /* move: tx now belongs to this block */
    weft_sender *tx = ch->tx;
    ch->tx = NULL;

    /* let vals = vec![String::from("more"), ..., String::from("you")]; */
    static const char *const vals[] = {"more", "messages", "for", "you"};

    /* for val in vals { */
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        const char *val = vals[i];
        /* tx.send(val).unwrap(); */
        int rc = weft_send(tx, &val);
        if (rc < 0)
            panic("send", rc);
        /* trpl::sleep(Duration::from_millis(1500)).await; */
        if (weft_sleep(WEFT_MS(1500)) < 0)
            break; /* cancelled: the future is dropped, and tx with it */
    }
    /* end of the async move block: tx is dropped */
    weft_sender_drop(tx);
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

    /* let tx1 = tx.clone(); */
    ch.tx1 = weft_sender_clone(ch.tx);
    if (ch.tx1 == NULL)
        panic("clone", -errno);

    /* let tx1_fut = async move { ... }; */
    weft_future *tx1_fut = weft_async(tx1_block, &ch);
    /* let rx_fut = async { ... }; */
    weft_future *rx_fut = weft_async(rx_block, &ch);
    /* let tx_fut = async move { ... }; */
    weft_future *tx_fut = weft_async(tx_block, &ch);

    /* trpl::join!(tx1_fut, tx_fut, rx_fut);  (any number of futures: an
     * array under weft_join_all, which consumes all three, also a NULL one;
     * the blocks return nothing, so no results array) */
    weft_future *futures[] = {tx1_fut, tx_fut, rx_fut};
    rc = weft_join_all(futures, sizeof futures / sizeof futures[0], NULL);

    /* A block that never ran (weft_async failed) still owns its sender:
     * Rust drops it with the future.  NULL (moved) is ignored. */
    weft_sender_drop(ch.tx1);
    weft_sender_drop(ch.tx);
    if (rc < 0)
        panic("join!", rc);

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
        fprintf(stderr, "listing 17-14: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
