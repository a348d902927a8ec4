/*
 * listing_17_11.c - Listing 17-11 of the Rust book (section 17.2): the
 * sending loop and the receiving loop in two async blocks under trpl::join,
 * so one line is printed every 500 ms.  Both blocks only borrow the
 * channel: tx stays alive in the main block, so the receive loop never sees
 * the channel close.  The Rust program never exits; weft reports the
 * deadlock on stderr once the sender has finished, and weft_run returns
 * -EDEADLK.
 *
 * Rust:
 *     trpl::run(async {
 *         let (tx, mut rx) = trpl::channel();
 *
 *         let tx_fut = async {
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
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

/* A failed .unwrap() (or an operation that cannot fail in Rust): panic. */
static void panic(const char *what, int err)
{
    fprintf(stderr, "listing 17-11: %s: %s\n", what, weft_strerror(err));
    exit(101); /* the exit status of a Rust panic */
}

/* The main block's locals that the async blocks borrow. */
struct channel {
    weft_sender *tx;
    weft_receiver *rx;
};

/* let tx_fut = async { ... };  (borrows tx) */
static void *tx_block(void *arg)
{
    struct channel *ch = arg;

    /* let vals = vec![String::from("hi"), ..., String::from("future")]; */
    static const char *const vals[] = {"hi", "from", "the", "future"};

    /* for val in vals { */
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        const char *val = vals[i];
        /* tx.send(val).unwrap(); */
        int rc = weft_send(ch->tx, &val);
        if (rc < 0)
            panic("send", rc);
        /* trpl::sleep(Duration::from_millis(500)).await; */
        if (weft_sleep(WEFT_MS(500)) < 0)
            return NULL; /* cancelled: Rust drops the future here */
    }
    return NULL; /* tx is only borrowed: it stays alive */
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
    /* Only reached when cancelled after the deadlock report. */
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

    /* let tx_fut = async { ... }; */
    weft_future *tx_fut = weft_async(tx_block, &ch);
    /* let rx_fut = async { ... }; */
    weft_future *rx_fut = weft_async(rx_block, &ch);

    /* trpl::join(tx_fut, rx_fut).await;  (never completes in Rust; here it
     * returns -ECANCELED once the runtime has reported the deadlock) */
    rc = weft_join(tx_fut, rx_fut);
    if (rc < 0 && rc != -ECANCELED)
        panic("join", rc);

    /* end of the block: tx and rx are dropped */
    weft_sender_drop(ch.tx);
    weft_receiver_drop(ch.rx);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* trpl::run(async { ... }); */
    int rc = weft_run(async_main, NULL, NULL);
    if (rc < 0) {
        /* expected here: -EDEADLK, after the runtime's report on stderr */
        fprintf(stderr, "listing 17-11: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
