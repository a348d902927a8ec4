/*
 * listing_17_27.c - Listings 17-27, 17-28 and 17-29 of the Rust book
 * (section 17.3): a `timeout` function built from the two combinators the
 * section introduced, race and sleep, then used on a future that takes 5 s
 * under a 2 s limit.  The sleep wins, the slow future is cancelled, and the
 * program prints, after 2 s:
 *
 *     Failed after 2 seconds
 *
 * (weft has weft_timeout built in; this is the book's own version, for the
 * exercise.)  Not in the book: an optional argument sets another limit in
 * whole seconds; with 5 or more the slow future wins and the program
 * prints `Succeeded with 'Finally finished'` after 5 s.
 *
 * Rust (17-27, the caller):
 *     trpl::run(async {
 *         let slow = async {
 *             trpl::sleep(Duration::from_secs(5)).await;
 *             "Finally finished"
 *         };
 *
 *         match timeout(slow, Duration::from_secs(2)).await {
 *             Ok(message) => println!("Succeeded with '{message}'"),
 *             Err(duration) => {
 *                 println!("Failed after {} seconds", duration.as_secs())
 *             }
 *         }
 *     });
 *
 * Rust (17-28, the signature, and 17-29, the body):
 *     async fn timeout<F: Future>(
 *         future_to_try: F,
 *         max_time: Duration,
 *     ) -> Result<F::Output, Duration> {
 *         match trpl::race(future_to_try, trpl::sleep(max_time)).await {
 *             Either::Left(output) => Ok(output),
 *             Either::Right(_) => Err(max_time),
 *         }
 *     }
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

/* A failed .unwrap() (or an operation that cannot fail in Rust): panic. */
static void panic(const char *what, int err)
{
    fprintf(stderr, "listing 17-27: %s: %s\n", what, weft_strerror(err));
    exit(101); /* the exit status of a Rust panic */
}

/* Result<F::Output, Duration>: Ok(ok) when is_ok, else Err(err). */
struct timeout_result {
    int is_ok;
    void *ok;     /* F::Output: the future's result */
    uint64_t err; /* Duration: the limit that ran out, in ns */
};

/*
 * async fn timeout<F: Future>(future_to_try: F, max_time: Duration)
 *     -> Result<F::Output, Duration>
 *
 * An async fn is a function that suspends: calling it from a task is
 * `timeout(...).await`.  Consumes future_to_try.  Returns 0 with *out set,
 * or a negative errno if the race itself failed (out of memory, or the
 * caller was cancelled), which cannot happen in the Rust version.
 */
static int timeout(weft_future *future_to_try, uint64_t max_time,
                   struct timeout_result *out)
{
    /* trpl::race(future_to_try, trpl::sleep(max_time)).await
     * (future_to_try is polled first; a NULL sleep future fails the race
     * with -EINVAL, and future_to_try is dropped) */
    weft_future *futures[] = {future_to_try, weft_sleep_future(max_time)};
    void *output;
    int winner = weft_race(futures, 2, &output);
    if (winner < 0)
        return winner;

    /* match ... { */
    if (winner == 0) {
        /* Either::Left(output) => Ok(output), */
        out->is_ok = 1;
        out->ok = output;
    } else {
        /* Either::Right(_) => Err(max_time), */
        out->is_ok = 0;
        out->err = max_time;
    }
    return 0;
}

/* let slow = async { trpl::sleep(Duration::from_secs(5)).await;
 *                    "Finally finished" }; */
static void *slow_block(void *arg)
{
    (void)arg;
    /* trpl::sleep(Duration::from_secs(5)).await; */
    if (weft_sleep(WEFT_SEC(5)) < 0)
        return NULL; /* timed out: cancelled, as Rust drops the future */
    /* "Finally finished"  (the block's value) */
    return (void *)"Finally finished";
}

/* trpl::run(async { ... }) - the main async block.  arg points at the
 * limit in seconds (2, as in the book, unless given on the command line). */
static void *async_main(void *arg)
{
    uint64_t limit_s = *(const uint64_t *)arg;

    /* let slow = async { ... }; */
    weft_future *slow = weft_async(slow_block, NULL);

    /* match timeout(slow, Duration::from_secs(2)).await { */
    struct timeout_result result;
    int rc = timeout(slow, WEFT_SEC(limit_s), &result);
    if (rc < 0)
        panic("timeout", rc);
    if (result.is_ok) {
        /* Ok(message) => println!("Succeeded with '{message}'"), */
        const char *message = result.ok;
        printf("Succeeded with '%s'\n", message);
    } else {
        /* Err(duration) => {
         *     println!("Failed after {} seconds", duration.as_secs())
         * } */
        uint64_t duration = result.err;
        printf("Failed after %" PRIu64 " seconds\n",
               duration / WEFT_SEC(1)); /* as_secs(): whole seconds */
    }
    return NULL;
}

int main(int argc, char **argv)
{
    /* listing_17_27 [limit in seconds]  (default 2, the book's) */
    uint64_t limit_s = 2;
    if (argc > 2) {
        fprintf(stderr, "usage: %s [seconds]\n", argv[0]);
        return 2;
    }
    if (argc == 2) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(argv[1], &end, 10);
        if (errno != 0 || end == argv[1] || *end != '\0' || v > 1000000) {
            fprintf(stderr, "usage: %s [seconds]\n", argv[0]);
            return 2;
        }
        limit_s = v;
    }

    setvbuf(stdout, NULL, _IOLBF, 0);
    /* trpl::run(async { ... }); */
    int rc = weft_run(async_main, &limit_s, NULL);
    if (rc < 0) {
        fprintf(stderr, "listing 17-27: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
