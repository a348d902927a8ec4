/*
 * listing_17_18.c - Listings 17-18 and 17-19 of the Rust book (section
 * 17.3): the two producers and the consumer of 17-13, now both senders
 * sleeping 1 s, collected into a Vec of pinned futures and run by
 * trpl::join_all.  The Vec needs one element type, so 17-18 pins each block
 * (pin!) and 17-19 names the type, Vec<Pin<&mut dyn Future<Output = ()>>>.
 * In C every async block already has one type, weft_future *, so the vector
 * is a plain array given to weft_join_all, polled in array order: tx1_fut,
 * rx_fut, tx_fut.
 *
 * Both timers of a round share their deadline; tx1's was armed first, so
 * its value arrives first: hi, more (0 s), from, messages (1 s), the, for
 * (2 s), future, you (3 s).  Both blocks are `async move`, so the senders
 * are dropped when they end (at 4 s) and the program exits.
 *
 * Rust:
 *     trpl::run(async {
 *         let (tx, mut rx) = trpl::channel();
 *
 *         let tx1 = tx.clone();
 *         let tx1_fut = pin!(async move {
 *             let vals = vec![
 *                 String::from("hi"),
 *                 String::from("from"),
 *                 String::from("the"),
 *                 String::from("future"),
 *             ];
 *
 *             for val in vals {
 *                 tx1.send(val).unwrap();
 *                 trpl::sleep(Duration::from_secs(1)).await;
 *             }
 *         });
 *
 *         let rx_fut = pin!(async {
 *             while let Some(value) = rx.recv().await {
 *                 println!("received '{value}'");
 *             }
 *         });
 *
 *         let tx_fut = pin!(async move {
 *             let vals = vec![
 *                 String::from("more"),
 *                 String::from("messages"),
 *                 String::from("for"),
 *                 String::from("you"),
 *             ];
 *
 *             for val in vals {
 *                 tx.send(val).unwrap();
 *                 trpl::sleep(Duration::from_secs(1)).await;
 *             }
 *         });
 *
 *         let futures: Vec<Pin<&mut dyn Future<Output = ()>>> =
 *             vec![tx1_fut, rx_fut, tx_fut];
 *
 *         trpl::join_all(futures).await;
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
    fprintf(stderr, "listing 17-18: %s: %s\n", what, weft_strerror(err));
    exit(101); /* the exit status of a Rust panic */
}

/* The main block's locals that the async blocks capture. */
struct channel {
    weft_sender *tx;
    weft_sender *tx1;
    weft_receiver *rx;
};

/* let tx1_fut = pin!(async move { ... });  (owns tx1) */
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
        /* trpl::sleep(Duration::from_secs(1)).await; */
        if (weft_sleep(WEFT_SEC(1)) < 0)
            break; /* cancelled: the future is dropped, and tx1 with it */
    }
    /* end of the async move block: tx1 is dropped */
    weft_sender_drop(tx1);
    return NULL;
}

/* let rx_fut = pin!(async { ... });  (borrows rx) */
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

/* let tx_fut = pin!(async move { ... });  (owns tx) */
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
        /* trpl::sleep(Duration::from_secs(1)).await; */
        if (weft_sleep(WEFT_SEC(1)) < 0)
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

    /* let tx1_fut = pin!(async move { ... });  (a weft_future never moves:
     * pinning needs no code in C) */
    weft_future *tx1_fut = weft_async(tx1_block, &ch);
    /* let rx_fut = pin!(async { ... }); */
    weft_future *rx_fut = weft_async(rx_block, &ch);
    /* let tx_fut = pin!(async move { ... }); */
    weft_future *tx_fut = weft_async(tx_block, &ch);

    /* let futures: Vec<Pin<&mut dyn Future<Output = ()>>> =
     *     vec![tx1_fut, rx_fut, tx_fut];
     * (one element type, weft_future *, for every async block) */
    weft_future *futures[] = {tx1_fut, rx_fut, tx_fut};

    /* trpl::join_all(futures).await;  (consumes every future, also a NULL
     * one; the blocks return (), so no results array) */
    rc = weft_join_all(futures, sizeof futures / sizeof futures[0], NULL);

    /* A block that never ran (weft_async failed) still owns its sender:
     * Rust drops it with the future.  NULL (moved) is ignored. */
    weft_sender_drop(ch.tx1);
    weft_sender_drop(ch.tx);
    if (rc < 0)
        panic("join_all", rc);

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
        fprintf(stderr, "listing 17-18: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
