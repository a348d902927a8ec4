/*
 * listing_17_21.c - Listing 17-21 of the Rust book (section 17.3):
 * trpl::race of a slow (100 ms) and a fast (50 ms) async block.  race polls
 * its arguments in order, so the first argument starts first; the fast one
 * finishes first and wins, and the slow one is cancelled at its sleep, so
 * it never prints "finished":
 *
 *     'slow' started.
 *     'fast' started.
 *     'fast' finished.
 *
 * Run with the argument `swap` to call race(fast, slow) instead: the two
 * "started" lines swap, and fast still wins.
 *
 * Rust:
 *     trpl::run(async {
 *         let slow = async {
 *             println!("'slow' started.");
 *             trpl::sleep(Duration::from_millis(100)).await;
 *             println!("'slow' finished.");
 *         };
 *
 *         let fast = async {
 *             println!("'fast' started.");
 *             trpl::sleep(Duration::from_millis(50)).await;
 *             println!("'fast' finished.");
 *         };
 *
 *         trpl::race(slow, fast).await;
 *     });
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

/* A failed .unwrap() (or an operation that cannot fail in Rust): panic. */
static void panic(const char *what, int err)
{
    fprintf(stderr, "listing 17-21: %s: %s\n", what, weft_strerror(err));
    exit(101); /* the exit status of a Rust panic */
}

/* let slow = async { ... }; */
static void *slow_block(void *arg)
{
    (void)arg;
    /* println!("'slow' started."); */
    printf("'slow' started.\n");
    /* trpl::sleep(Duration::from_millis(100)).await; */
    if (weft_sleep(WEFT_MS(100)) < 0)
        return NULL; /* lost the race: cancelled, as Rust drops the future */
    /* println!("'slow' finished."); */
    printf("'slow' finished.\n");
    return NULL;
}

/* let fast = async { ... }; */
static void *fast_block(void *arg)
{
    (void)arg;
    /* println!("'fast' started."); */
    printf("'fast' started.\n");
    /* trpl::sleep(Duration::from_millis(50)).await; */
    if (weft_sleep(WEFT_MS(50)) < 0)
        return NULL;
    /* println!("'fast' finished."); */
    printf("'fast' finished.\n");
    return NULL;
}

/* trpl::run(async { ... }) - the main async block.  arg points at an int:
 * non-zero to swap the race's arguments (not in the book). */
static void *async_main(void *arg)
{
    int swap = *(const int *)arg;

    /* let slow = async { ... }; */
    weft_future *slow = weft_async(slow_block, NULL);
    /* let fast = async { ... }; */
    weft_future *fast = weft_async(fast_block, NULL);

    /* trpl::race(slow, fast).await;  (biased: polled in argument order;
     * the loser is cancelled and unwound before race returns; the result,
     * an Either, is ignored as in the book) */
    weft_future *futures[2] = {slow, fast};
    if (swap) {
        futures[0] = fast; /* trpl::race(fast, slow).await; */
        futures[1] = slow;
    }
    int rc = weft_race(futures, 2, NULL);
    if (rc < 0)
        panic("race", rc);
    return NULL;
}

int main(int argc, char **argv)
{
    /* listing_17_21 [swap] */
    int swap = argc > 1 && strcmp(argv[1], "swap") == 0;
    if (argc > 2 || (argc == 2 && !swap)) {
        fprintf(stderr, "usage: %s [swap]\n", argv[0]);
        return 2;
    }

    setvbuf(stdout, NULL, _IOLBF, 0);
    /* trpl::run(async { ... }); */
    int rc = weft_run(async_main, &swap, NULL);
    if (rc < 0) {
        fprintf(stderr, "listing 17-21: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
