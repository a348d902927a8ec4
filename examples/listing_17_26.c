/*
 * listing_17_26.c - Listing 17-26 of the Rust book (section 17.3): how much
 * an await point costs.  999 sleeps of 1 ns, then 999 yields, each loop in
 * an async block that is awaited at once, each timed:
 *
 *     'sleep' version finished after S seconds.
 *     'yield' version finished after Y seconds.
 *
 * A sleep of 1 ns still goes through the timer and never ends early; a
 * yield only goes to the back of the run queue, so Y is smaller than S.
 * How much smaller depends on the timer: tokio's has 1 ms granularity, so
 * in Rust each 1 ns sleep lasts about 1 ms and S is about 1 s; weft's
 * timers have the clock's resolution (1 ns), so here a sleep costs only a
 * trip through the timer heap and S is about twice Y.  The times are taken
 * with weft_now(), the runtime's clock: with WEFT_CLOCK=virtual the sleeps
 * advance the virtual clock by exactly what they slept (S = 0.000000999)
 * and the yields not at all (Y = 0).
 *
 * Rust:
 *     trpl::run(async {
 *         let one_ns = Duration::from_nanos(1);
 *         let start = Instant::now();
 *         async {
 *             for _ in 1..1000 {
 *                 trpl::sleep(one_ns).await;
 *             }
 *         }
 *         .await;
 *         let time = Instant::now() - start;
 *         println!(
 *             "'sleep' version finished after {} seconds.",
 *             time.as_secs_f32()
 *         );
 *
 *         let start = Instant::now();
 *         async {
 *             for _ in 1..1000 {
 *                 trpl::yield_now().await;
 *             }
 *         }
 *         .await;
 *         let time = Instant::now() - start;
 *         println!(
 *             "'yield' version finished after {} seconds.",
 *             time.as_secs_f32()
 *         );
 *     });
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

/* A failed .unwrap() (or an operation that cannot fail in Rust): panic. */
static void panic(const char *what, int err)
{
    fprintf(stderr, "listing 17-26: %s: %s\n", what, weft_strerror(err));
    exit(101); /* the exit status of a Rust panic */
}

/*
 * time.as_secs_f32() printed with {}: Rust's Display of a float is a plain
 * decimal without exponent and without trailing zeros ("0.0012345", "0",
 * "1.5").  Here the exact nanosecond count is written that way, into
 * buf (at least 32 bytes).
 */
static const char *format_secs(uint64_t ns, char *buf, size_t size)
{
    snprintf(buf, size, "%" PRIu64 ".%09" PRIu64, ns / UINT64_C(1000000000),
             ns % UINT64_C(1000000000));
    size_t len = strlen(buf);
    while (buf[len - 1] == '0') /* the integer part keeps its digit */
        buf[--len] = '\0';
    if (buf[len - 1] == '.')
        buf[--len] = '\0';
    return buf;
}

/* async { for _ in 1..1000 { trpl::sleep(one_ns).await; } } */
static void *sleep_block(void *arg)
{
    /* the block borrows the main block's one_ns */
    const uint64_t one_ns = *(const uint64_t *)arg;
    /* for _ in 1..1000 { */
    for (int i = 1; i < 1000; i++) {
        /* trpl::sleep(one_ns).await; */
        if (weft_sleep(one_ns) < 0)
            return NULL; /* cancelled: Rust drops the future here */
    }
    return NULL;
}

/* async { for _ in 1..1000 { trpl::yield_now().await; } } */
static void *yield_block(void *arg)
{
    (void)arg;
    /* for _ in 1..1000 { */
    for (int i = 1; i < 1000; i++) {
        /* trpl::yield_now().await; */
        if (weft_yield() < 0)
            return NULL;
    }
    return NULL;
}

/* trpl::run(async { ... }) - the main async block. */
static void *async_main(void *arg)
{
    (void)arg;
    char secs[32];

    /* let one_ns = Duration::from_nanos(1); */
    uint64_t one_ns = WEFT_NS(1);
    /* let start = Instant::now(); */
    uint64_t start = weft_now();
    /* async { ... }.await; */
    int rc = weft_await(weft_async(sleep_block, &one_ns), NULL);
    if (rc < 0)
        panic("await", rc);
    /* let time = Instant::now() - start; */
    uint64_t time = weft_now() - start;
    /* println!("'sleep' version finished after {} seconds.",
     *          time.as_secs_f32()); */
    printf("'sleep' version finished after %s seconds.\n",
           format_secs(time, secs, sizeof secs));

    /* let start = Instant::now(); */
    start = weft_now();
    /* async { ... }.await; */
    rc = weft_await(weft_async(yield_block, NULL), NULL);
    if (rc < 0)
        panic("await", rc);
    /* let time = Instant::now() - start; */
    time = weft_now() - start;
    /* println!("'yield' version finished after {} seconds.",
     *          time.as_secs_f32()); */
    printf("'yield' version finished after %s seconds.\n",
           format_secs(time, secs, sizeof secs));
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* trpl::run(async { ... }); */
    int rc = weft_run(async_main, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "listing 17-26: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
