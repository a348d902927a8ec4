/*
 * listing_17_24.c - Listing 17-24 of the Rust book (section 17.3): 17-23
 * with an await point after every blocking step, a 1 ms trpl::sleep, and
 * no 50 ms sleeps.  Each sleep hands control back to race, which then polls
 * the other block, so the two take turns, one slow step each:
 *
 *     'a' started.          'a' ran for 10ms
 *     'a' ran for 30ms      'b' ran for 10ms
 *     'b' started.          'a' ran for 20ms
 *     'b' ran for 75ms      'b' ran for 15ms
 *                           'a' finished.
 *
 * a finishes (and wins) after its third step; b is cancelled at the sleep
 * after its third step, so its 350 ms step never runs.  With
 * WEFT_CLOCK=virtual both blocks' 1 ms timers share each deadline and a's is
 * always armed first, so the order is the same; the thread sleeps still
 * take real time, about 160 ms in all.
 *
 * Rust:
 *     trpl::run(async {
 *         let one_ms = Duration::from_millis(1);
 *
 *         let a = async {
 *             println!("'a' started.");
 *             slow("a", 30);
 *             trpl::sleep(one_ms).await;
 *             slow("a", 10);
 *             trpl::sleep(one_ms).await;
 *             slow("a", 20);
 *             trpl::sleep(one_ms).await;
 *             println!("'a' finished.");
 *         };
 *
 *         let b = async {
 *             println!("'b' started.");
 *             slow("b", 75);
 *             trpl::sleep(one_ms).await;
 *             slow("b", 10);
 *             trpl::sleep(one_ms).await;
 *             slow("b", 15);
 *             trpl::sleep(one_ms).await;
 *             slow("b", 350);
 *             trpl::sleep(one_ms).await;
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
    fprintf(stderr, "listing 17-24: %s: %s\n", what, weft_strerror(err));
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
    /* the block borrows the main block's one_ms */
    const uint64_t one_ms = *(const uint64_t *)arg;
    /* println!("'a' started."); */
    printf("'a' started.\n");
    /* slow("a", 30); */
    slow("a", 30);
    /* trpl::sleep(one_ms).await; */
    if (weft_sleep(one_ms) < 0)
        return NULL; /* lost the race: cancelled */
    /* slow("a", 10); */
    slow("a", 10);
    /* trpl::sleep(one_ms).await; */
    if (weft_sleep(one_ms) < 0)
        return NULL;
    /* slow("a", 20); */
    slow("a", 20);
    /* trpl::sleep(one_ms).await; */
    if (weft_sleep(one_ms) < 0)
        return NULL;
    /* println!("'a' finished."); */
    printf("'a' finished.\n");
    return NULL;
}

/* let b = async { ... }; */
static void *b_block(void *arg)
{
    /* the block borrows the main block's one_ms */
    const uint64_t one_ms = *(const uint64_t *)arg;
    /* println!("'b' started."); */
    printf("'b' started.\n");
    /* slow("b", 75); */
    slow("b", 75);
    /* trpl::sleep(one_ms).await; */
    if (weft_sleep(one_ms) < 0)
        return NULL; /* lost the race: cancelled */
    /* slow("b", 10); */
    slow("b", 10);
    /* trpl::sleep(one_ms).await; */
    if (weft_sleep(one_ms) < 0)
        return NULL;
    /* slow("b", 15); */
    slow("b", 15);
    /* trpl::sleep(one_ms).await; */
    if (weft_sleep(one_ms) < 0)
        return NULL;
    /* slow("b", 350); */
    slow("b", 350);
    /* trpl::sleep(one_ms).await; */
    if (weft_sleep(one_ms) < 0)
        return NULL;
    /* println!("'b' finished."); */
    printf("'b' finished.\n");
    return NULL;
}

/* trpl::run(async { ... }) - the main async block. */
static void *async_main(void *arg)
{
    (void)arg;
    /* let one_ms = Duration::from_millis(1); */
    uint64_t one_ms = WEFT_MS(1);

    /* let a = async { ... };  (captures one_ms by reference) */
    weft_future *a = weft_async(a_block, &one_ms);
    /* let b = async { ... }; */
    weft_future *b = weft_async(b_block, &one_ms);

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
        fprintf(stderr, "listing 17-24: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
