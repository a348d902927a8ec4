/*
 * listing_17_41.c - Listing 17-41 of the Rust book (section 17.6): 17-40
 * with the interval producer on an OS thread instead of a task: a plain
 * pthread that sleeps 1 ms (nanosleep, blocking the thread, not the
 * runtime) between sends.  weft_send on an unbounded channel works from any
 * thread and wakes the runtime's receiver across threads.  With the real
 * clock the output is 17-40's (17-39's twenty elements, Problems on
 * stderr), plus, at the end:
 *
 *     Could not send interval N: channel closed
 *
 * because the thread goes on until a send fails: once the 20 elements are
 * taken the stream is dropped with its receiver, the thread's next send
 * returns -EPIPE, and it reports it and stops.  In Rust the thread is
 * detached and simply dies with the process; in C main joins it after
 * weft_run, so it always gets to that send (within about 1 ms) and the
 * program ends cleanly.
 *
 * With WEFT_CLOCK=virtual the runtime's clock jumps whenever it is idle,
 * while the thread sleeps in real time: the messages and their Problems
 * come as in 17-40 (all on the virtual clock), but the intervals are few
 * and late, and the 10 s interval timeout also fires (more Problem lines).
 * The interval values are still 1, 2, 3, ... in order, as always with
 * throttle.
 *
 * Rust (get_intervals; main and get_messages are 17-40's):
 *     fn get_intervals() -> impl Stream<Item = u32> {
 *         let (tx, rx) = trpl::channel();
 *
 *         // This is *not* `trpl::spawn` but `std::thread::spawn`!
 *         thread::spawn(move || {
 *             let mut count = 0;
 *             loop {
 *                 // Likewise, this is *not* `trpl::sleep` but
 *                 // `std::thread::sleep`!
 *                 thread::sleep(Duration::from_millis(1));
 *                 count += 1;
 *
 *                 if let Err(send_error) = tx.send(count) {
 *                     eprintln!(
 *                         "Could not send interval {count}: {send_error}"
 *                     );
 *                     break;
 *                 };
 *             }
 *         });
 *
 *         ReceiverStream::new(rx)
 *     }
 *
 * Rust (main, as 17-40):
 *     trpl::run(async {
 *         let messages = get_messages().timeout(Duration::from_millis(200));
 *         let intervals = get_intervals()
 *             .map(|count| format!("Interval: {count}"))
 *             .throttle(Duration::from_millis(100))
 *             .timeout(Duration::from_secs(10));
 *         let merged = messages.merge(intervals).take(20);
 *         let mut stream = pin!(merged);
 *
 *         while let Some(result) = stream.next().await {
 *             match result {
 *                 Ok(message) => println!("{message}"),
 *                 Err(reason) => eprintln!("Problem: {reason:?}"),
 *             }
 *         }
 *     })
 *
 * The sender is marked with weft_sender_share() before it is handed to the
 * thread, so that the runtime knows a thread outside it may still send (a
 * receiver waiting on it is then never reported as deadlocked).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <weft.h>

/* The streams' item: String, as a fixed buffer copied by value. */
typedef struct {
    char text[64];
} msg;

/* A failed .unwrap() (or an operation that cannot fail in Rust): panic. */
static void panic(const char *what, int err)
{
    fprintf(stderr, "listing 17-41: %s: %s\n", what, weft_strerror(err));
    exit(101); /* the exit status of a Rust panic */
}

/* Drops a task's captured sender if the task never runs. */
static void drop_sender(void *tx) { weft_sender_drop(tx); }

/* trpl::spawn_task(async move { ... }) in get_messages  (owns tx) */
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

        /* if let Err(send_error) =
         *     tx.send(format!("Message: '{message}'")) { */
        msg m;
        snprintf(m.text, sizeof m.text, "Message: '%s'", messages[index]);
        int send_error = weft_send(tx, &m);
        if (send_error < 0) {
            /* eprintln!("Cannot send message '{message}': {send_error}"); */
            fprintf(stderr, "Cannot send message '%s': %s\n", messages[index],
                    weft_strerror(send_error));
            /* break; */
            break;
        }
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

/* The interval thread, joined by main (Rust detaches it). */
static pthread_t interval_thread;
static int interval_thread_started;

/* thread::sleep(Duration::from_millis(ms)): blocks the calling thread. */
static void thread_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* thread::spawn(move || { ... })  (owns tx) */
static void *send_intervals(void *arg)
{
    weft_sender *tx = arg;

    /* let mut count = 0; */
    uint32_t count = 0;
    /* loop { */
    for (;;) {
        /* thread::sleep(Duration::from_millis(1)); */
        thread_sleep_ms(1);
        /* count += 1; */
        count += 1;

        /* if let Err(send_error) = tx.send(count) { */
        int send_error = weft_send(tx, &count);
        if (send_error < 0) {
            /* eprintln!("Could not send interval {count}: {send_error}"); */
            fprintf(stderr, "Could not send interval %" PRIu32 ": %s\n", count,
                    weft_strerror(send_error));
            /* break; */
            break;
        }
    }
    /* end of the move closure: tx is dropped */
    weft_sender_drop(tx);
    return NULL;
}

/* fn get_intervals() -> impl Stream<Item = u32>  (you own the stream) */
static weft_stream *get_intervals(void)
{
    weft_sender *tx;
    weft_receiver *rx;

    /* let (tx, rx) = trpl::channel(); */
    int rc = weft_channel(sizeof(uint32_t), &tx, &rx);
    if (rc < 0)
        panic("channel", rc);

    /* thread::spawn(move || { ... });  (C: the sender is marked as used
     * from outside the runtime first; the thread is joined by main) */
    rc = weft_sender_share(tx);
    if (rc < 0)
        panic("sender_share", rc);
    rc = pthread_create(&interval_thread, NULL, send_intervals, tx);
    if (rc != 0) {
        weft_sender_drop(tx);
        panic("thread::spawn", -rc);
    }
    interval_thread_started = 1;

    /* ReceiverStream::new(rx)  (the stream now owns rx) */
    weft_stream *stream = weft_stream_from_receiver(rx);
    if (stream == NULL)
        panic("ReceiverStream::new", -errno);
    return stream;
}

/* |count| format!("Interval: {count}") */
static void format_interval(const void *in, void *out, void *ctx)
{
    (void)ctx;
    msg *m = out;
    snprintf(m->text, sizeof m->text, "Interval: %" PRIu32,
             *(const uint32_t *)in);
}

/* trpl::run(async { ... }) - the main async block. */
static void *async_main(void *arg)
{
    (void)arg;

    /* let messages = get_messages().timeout(Duration::from_millis(200)); */
    weft_stream *messages = weft_stream_timeout(get_messages(), WEFT_MS(200));
    if (messages == NULL)
        panic("timeout", -errno);

    /* let intervals = get_intervals()
     *     .map(|count| format!("Interval: {count}"))
     *     .throttle(Duration::from_millis(100))
     *     .timeout(Duration::from_secs(10)); */
    weft_stream *intervals =
        weft_stream_map(get_intervals(), sizeof(msg), format_interval, NULL);
    if (intervals == NULL) {
        weft_stream_drop(messages);
        panic("map", -errno);
    }
    intervals = weft_stream_throttle(intervals, WEFT_MS(100));
    if (intervals == NULL) {
        weft_stream_drop(messages);
        panic("throttle", -errno);
    }
    intervals = weft_stream_timeout(intervals, WEFT_SEC(10));
    if (intervals == NULL) {
        weft_stream_drop(messages);
        panic("timeout", -errno);
    }

    /* let merged = messages.merge(intervals).take(20);
     * let mut stream = pin!(merged); */
    weft_stream *merged = weft_stream_merge(messages, intervals);
    if (merged == NULL)
        panic("merge", -errno);
    weft_stream *stream = weft_stream_take(merged, 20);
    if (stream == NULL)
        panic("take", -errno);

    /* while let Some(result) = stream.next().await { */
    msg message;
    int rc;
    while ((rc = weft_stream_next(stream, &message)) != 0) {
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
    /* rc == 0: None, 20 elements were taken */

    /* end of the block: the stream is dropped, and both receivers with it;
     * the messages task is cancelled at its sleep when the runtime ends,
     * the interval thread's next send fails */
    weft_stream_drop(stream);
    if (rc < 0 && rc != -ECANCELED) /* (cancelled: the block is dropped) */
        panic("next", rc);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* trpl::run(async { ... }) */
    int rc = weft_run(async_main, NULL, NULL);
    /* (C) wait for the interval thread: the stream, and with it the
     * receiver, is gone, so its next send fails and it stops */
    if (interval_thread_started)
        pthread_join(interval_thread, NULL);
    if (rc < 0) {
        fprintf(stderr, "listing 17-41: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
