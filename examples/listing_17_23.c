/*
 * listing_17_23.c - Listing 17-23 of the Rust book (section 17.3): a race
 * of two async blocks that do blocking work, slow() (17-22: a real thread
 * sleep, then a line), with no await point between the steps.  A future
 * gives control back only at an await, so a runs all its slow steps before
 * it first suspends at its 50 ms sleep; only then does b start, and b in
 * turn runs all of its steps (450 ms of blocking) before it suspends.  a's
 * sleep has long expired by then, so a finishes and wins, and b is
 * cancelled at its sleep:
 *
 *     'a' started.          'b' ran for 75ms
 *     'a' ran for 30ms      'b' ran for 10ms
 *     'a' ran for 10ms      'b' ran for 15ms
 *     'a' ran for 20ms      'b' ran for 350ms
 *     'b' started.          'a' finished.
 *
 * With WEFT_CLOCK=virtual the order is the same (a's timer is armed first,
 * with the same virtual deadline as b's); the thread sleeps still take
 * real time, about 0.5 s in all.
 *
 * Rust:
 *     trpl::run(async {
 *         let a = async {
 *             println!("'a' started.");
 *             slow("a", 30);
 *             slow("a", 10);
 *             slow("a", 20);
 *             trpl::sleep(Duration::from_millis(50)).await;
 *             println!("'a' finished.");
 *         };
 *
 *         let b = async {
 *             println!("'b' started.");
 *             slow("b", 75);
 *             slow("b", 10);
 *             slow("b", 15);
 *             slow("b", 350);
 *             trpl::sleep(Duration::from_millis(50)).await;
 *             println!("'b' finished.");
 *         };
 *
 *         trpl::race(a, b).await;
 *     });
 *
 * with, from listing 17-22:
 *
 *     fn slow(name: &str, ms: u64) {
 *         thread::sleep(Duration::from_millis(ms));
 *         println!("'{name}' ran for {ms}ms");
 *     }
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <weft.h>

/* A failed .unwrap() (or an operation that cannot fail in Rust): panic. */
static void panic(const char *what, int err)
{
    fprintf(stderr, "listing 17-23: %s: %s\n", what, weft_strerror(err));
    exit(101); /* the exit status of a Rust panic */
}

/*
 * fn slow(name: &str, ms: u64) {
 *     thread::sleep(Duration::from_millis(ms));
 *     println!("'{name}' ran for {ms}ms");
 * }
 *
 * Blocking work: the OS thread sleeps, so the runtime (and every other
 * future of this task) stands still meanwhile.  A signal cannot shorten it:
 * nanosleep is resumed with the time that was left, as thread::sleep does.
 */
static void slow(const char *name, unsigned ms)
{
    /* thread::sleep(Duration::from_millis(ms)); */
    struct timespec left = {.tv_sec = ms / 1000,
                            .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        continue;
    /* println!("'{name}' ran for {ms}ms"); */
    printf("'%s' ran for %ums\n", name, ms);
}

/* let a = async { ... }; */
static void *a_block(void *arg)
{
    (void)arg;
    /* println!("'a' started."); */
    printf("'a' started.\n");
    /* slow("a", 30); */
    slow("a", 30);
    /* slow("a", 10); */
    slow("a", 10);
    /* slow("a", 20); */
    slow("a", 20);
    /* trpl::sleep(Duration::from_millis(50)).await; */
    if (weft_sleep(WEFT_MS(50)) < 0)
        return NULL; /* lost the race: cancelled */
    /* println!("'a' finished."); */
    printf("'a' finished.\n");
    return NULL;
}

/* let b = async { ... }; */
static void *b_block(void *arg)
{
    (void)arg;
    /* println!("'b' started."); */
    printf("'b' started.\n");
    /* slow("b", 75); */
    slow("b", 75);
    /* slow("b", 10); */
    slow("b", 10);
    /* slow("b", 15); */
    slow("b", 15);
    /* slow("b", 350); */
    slow("b", 350);
    /* trpl::sleep(Duration::from_millis(50)).await; */
    if (weft_sleep(WEFT_MS(50)) < 0)
        return NULL; /* lost the race: cancelled */
    /* println!("'b' finished."); */
    printf("'b' finished.\n");
    return NULL;
}

/* trpl::run(async { ... }) - the main async block. */
static void *async_main(void *arg)
{
    (void)arg;
    /* let a = async { ... }; */
    weft_future *a = weft_async(a_block, NULL);
    /* let b = async { ... }; */
    weft_future *b = weft_async(b_block, NULL);

    /* trpl::race(a, b).await;  (biased: a is polled first; the loser is
     * cancelled and unwound before race returns; the Either is ignored) */
    weft_future *futures[] = {a, b};
    int rc = weft_race(futures, 2, NULL);
    if (rc < 0)
        panic("race", rc);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* trpl::run(async { ... }); */
    int rc = weft_run(async_main, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "listing 17-23: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
