/*
 * listing_17_31.c - Listing 17-31 of the Rust book (section 17.4): a stream
 * over the numbers 1..10 doubled, read with `next` (StreamExt::next):
 *
 *     The value was: 2
 *     The value was: 4
 *     ...
 *     The value was: 20
 *
 * Rust:
 *     use trpl::StreamExt;
 *
 *     fn main() {
 *         trpl::run(async {
 *             let values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
 *             let iter = values.iter().map(|n| n * 2);
 *             let mut stream = trpl::stream_from_iter(iter);
 *
 *             while let Some(value) = stream.next().await {
 *                 println!("The value was: {value}");
 *             }
 *         });
 *     }
 *
 * C has no lazy iterators: the stream is made over the array
 * (weft_stream_from_array, which borrows it) and the iterator's map becomes
 * weft_stream_map on that stream, which yields the same items in the same
 * order, each doubled when it is taken, as the iterator would.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

/* A failed .unwrap() (or an operation that cannot fail in Rust): panic. */
static void panic(const char *what, int err)
{
    fprintf(stderr, "listing 17-31: %s: %s\n", what, weft_strerror(err));
    exit(101); /* the exit status of a Rust panic */
}

/* |n| n * 2 */
static void double_it(const void *in, void *out, void *ctx)
{
    (void)ctx;
    *(int *)out = *(const int *)in * 2;
}

/* trpl::run(async { ... }) - the main async block. */
static void *async_main(void *arg)
{
    (void)arg;
    /* let values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]; */
    static const int values[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

    /* let iter = values.iter().map(|n| n * 2);
     * let mut stream = trpl::stream_from_iter(iter); */
    weft_stream *stream = weft_stream_from_array(
        values, sizeof values / sizeof values[0], sizeof values[0]);
    if (stream == NULL)
        panic("stream_from_iter", -errno);
    stream = weft_stream_map(stream, sizeof(int), double_it, NULL);
    if (stream == NULL)
        panic("map", -errno);

    /* while let Some(value) = stream.next().await { */
    int value, rc;
    while ((rc = weft_stream_next(stream, &value)) == 1) {
        /* println!("The value was: {value}"); */
        printf("The value was: %d\n", value);
    }
    /* rc == 0: None, the stream has ended */

    /* end of the block: the stream is dropped */
    weft_stream_drop(stream);
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
        fprintf(stderr, "listing 17-31: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
