/*
 * listing_17_32.c - Listing 17-32 of the Rust book (section 17.4): a stream
 * over 1..100 doubled, filtered (StreamExt::filter) to the multiples of 3
 * or 5:
 *
 *     The value was: 6
 *     The value was: 10
 *     The value was: 12
 *     The value was: 18
 *     ...
 *     The value was: 200
 *
 * Rust:
 *     use trpl::StreamExt;
 *
 *     fn main() {
 *         trpl::run(async {
 *             let values = 1..101;
 *             let iter = values.map(|n| n * 2);
 *             let stream = trpl::stream_from_iter(iter);
 *
 *             let mut filtered =
 *                 stream.filter(|value| value % 3 == 0 || value % 5 == 0);
 *
 *             while let Some(value) = filtered.next().await {
 *                 println!("The value was: {value}");
 *             }
 *         });
 *     }
 *
 * C has no ranges or lazy iterators: the range 1..101 becomes an array
 * filled with 1..=100, the stream is made over it (weft_stream_from_array,
 * which borrows it) and the iterator's map becomes weft_stream_map, which
 * yields the same items in the same order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

/* A failed .unwrap() (or an operation that cannot fail in Rust): panic. */
static void panic(const char *what, int err)
{
    fprintf(stderr, "listing 17-32: %s: %s\n", what, weft_strerror(err));
    exit(101); /* the exit status of a Rust panic */
}

/* |n| n * 2 */
static void double_it(const void *in, void *out, void *ctx)
{
    (void)ctx;
    *(int *)out = *(const int *)in * 2;
}

/* |value| value % 3 == 0 || value % 5 == 0 */
static int multiple_of_3_or_5(const void *item, void *ctx)
{
    (void)ctx;
    int value = *(const int *)item;
    return value % 3 == 0 || value % 5 == 0;
}

/* trpl::run(async { ... }) - the main async block. */
static void *async_main(void *arg)
{
    (void)arg;
    /* let values = 1..101; */
    int values[100];
    for (int n = 1; n < 101; n++)
        values[n - 1] = n;

    /* let iter = values.map(|n| n * 2);
     * let stream = trpl::stream_from_iter(iter); */
    weft_stream *stream = weft_stream_from_array(
        values, sizeof values / sizeof values[0], sizeof values[0]);
    if (stream == NULL)
        panic("stream_from_iter", -errno);
    stream = weft_stream_map(stream, sizeof(int), double_it, NULL);
    if (stream == NULL)
        panic("map", -errno);

    /* let mut filtered =
     *     stream.filter(|value| value % 3 == 0 || value % 5 == 0); */
    weft_stream *filtered =
        weft_stream_filter(stream, multiple_of_3_or_5, NULL);
    if (filtered == NULL)
        panic("filter", -errno);

    /* while let Some(value) = filtered.next().await { */
    int value, rc;
    while ((rc = weft_stream_next(filtered, &value)) == 1) {
        /* println!("The value was: {value}"); */
        printf("The value was: %d\n", value);
    }
    /* rc == 0: None, the stream has ended */

    /* end of the block: the stream is dropped (before values, which it
     * borrows) */
    weft_stream_drop(filtered);
    if (rc < 0)
        panic("next", rc);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* trpl::run(async { ... }); */
    int rc = weft_run(async_main, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "listing 17-32: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
