/*
 * listing_17_42.c - Listing 17-42 of the Rust book (section 17.6): the
 * channel is created before any runtime exists; an OS thread sends 1..10,
 * sleeping one second (blocking the thread) after each send, and then
 * drops its sender; the runtime receives and prints each number as it
 * comes, and ends when the channel is closed and drained:
 *
 *     1        (at 0 s)
 *     2        (at 1 s)
 *     ...
 *     10       (at 9 s; the program ends at 10 s)
 *
 * Rust:
 *     use std::{thread, time::Duration};
 *
 *     fn main() {
 *         let (tx, mut rx) = trpl::channel();
 *
 *         thread::spawn(move || {
 *             for i in 1..11 {
 *                 tx.send(i).unwrap();
 *                 thread::sleep(Duration::from_secs(1));
 *             }
 *         });
 *
 *         trpl::run(async {
 *             while let Some(message) = rx.recv().await {
 *                 println!("{message}");
 *             }
 *         });
 *     }
 *
 * A channel created outside any runtime is shared: while the thread holds
 * its sender, the runtime waits for it (in real time, also with
 * WEFT_CLOCK=virtual) instead of reporting a deadlock.  In Rust the thread
 * is detached; here main joins it after weft_run, when it has already
 * dropped its sender and is about to return.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <weft.h>

/* A failed .unwrap() (or an operation that cannot fail in Rust): panic. */
static void panic(const char *what, int err)
{
    fprintf(stderr, "listing 17-42: %s: %s\n", what, weft_strerror(err));
    exit(101); /* the exit status of a Rust panic */
}

/* thread::sleep(Duration::from_secs(s)): blocks the calling thread. */
static void thread_sleep_s(time_t s)
{
    struct timespec ts = {.tv_sec = s, .tv_nsec = 0};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* thread::spawn(move || { ... })  (owns tx) */
static void *sender_thread(void *arg)
{
    weft_sender *tx = arg;

    /* for i in 1..11 { */
    for (int i = 1; i < 11; i++) {
        /* tx.send(i).unwrap(); */
        int rc = weft_send(tx, &i);
        if (rc < 0)
            panic("send", rc); /* a panic in a thread: here, the process */
        /* thread::sleep(Duration::from_secs(1)); */
        thread_sleep_s(1);
    }
    /* end of the move closure: tx is dropped, the channel closes */
    weft_sender_drop(tx);
    return NULL;
}

/* trpl::run(async { ... }) - the main async block (borrows rx). */
static void *async_main(void *arg)
{
    weft_receiver *rx = arg;
    int message, rc;

    /* while let Some(message) = rx.recv().await { */
    while ((rc = weft_recv(rx, &message)) > 0) {
        /* println!("{message}"); */
        printf("%d\n", message);
    }
    /* rc == 0: None, the sender is gone and the queue drained */
    if (rc < 0 && rc != -ECANCELED) /* (cancelled: the block is dropped) */
        panic("recv", rc);
    return NULL;
}

int main(void)
{
    weft_sender *tx;
    weft_receiver *rx;

    setvbuf(stdout, NULL, _IOLBF, 0);

    /* let (tx, mut rx) = trpl::channel();  (outside any runtime) */
    int rc = weft_channel(sizeof(int), &tx, &rx);
    if (rc < 0)
        panic("channel", rc);

    /* thread::spawn(move || { ... }); */
    pthread_t thread;
    rc = pthread_create(&thread, NULL, sender_thread, tx);
    if (rc != 0) {
        weft_sender_drop(tx);
        weft_receiver_drop(rx);
        panic("thread::spawn", -rc);
    }

    /* trpl::run(async { ... }); */
    rc = weft_run(async_main, rx, NULL);

    /* end of main: rx is dropped; (C) the thread, already done, is joined */
    weft_receiver_drop(rx);
    pthread_join(thread, NULL);
    if (rc < 0) {
        fprintf(stderr, "listing 17-42: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
