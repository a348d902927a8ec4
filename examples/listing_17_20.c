/*
 * listing_17_20.c - Listing 17-20 of the Rust book (section 17.3): trpl::join!
 * of three futures whose outputs have three different types, a u32, a &str
 * and a bool, collected into a tuple and printed: `1, Hello!, true`.
 *
 * Rust:
 *     trpl::run(async {
 *         let a = async { 1u32 };
 *         let b = async { "Hello!" };
 *         let c = async { true };
 *
 *         let (a_result, b_result, c_result) = trpl::join!(a, b, c);
 *         println!("{a_result}, {b_result}, {c_result}");
 *     });
 *
 * An async block's output is a void * in C, so each block packs its value
 * into one (the integers through uintptr_t, the string as its pointer) and
 * the caller unpacks each result into its real type: the tuple's element
 * types live in the code that reads results[i].
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

/* A failed .unwrap() (or an operation that cannot fail in Rust): panic. */
static void panic(const char *what, int err)
{
    fprintf(stderr, "listing 17-20: %s: %s\n", what, weft_strerror(err));
    exit(101); /* the exit status of a Rust panic */
}

/* let a = async { 1u32 }; */
static void *a_block(void *arg)
{
    (void)arg;
    uint32_t value = 1;
    return (void *)(uintptr_t)value;
}

/* let b = async { "Hello!" };  (a &'static str: a string literal) */
static void *b_block(void *arg)
{
    (void)arg;
    const char *value = "Hello!";
    return (void *)value;
}

/* let c = async { true }; */
static void *c_block(void *arg)
{
    (void)arg;
    bool value = true;
    return (void *)(uintptr_t)value;
}

/* trpl::run(async { ... }) - the main async block. */
static void *async_main(void *arg)
{
    (void)arg;
    /* let a = async { 1u32 }; */
    weft_future *a = weft_async(a_block, NULL);
    /* let b = async { "Hello!" }; */
    weft_future *b = weft_async(b_block, NULL);
    /* let c = async { true }; */
    weft_future *c = weft_async(c_block, NULL);

    /* let (a_result, b_result, c_result) = trpl::join!(a, b, c);
     * (weft_join_all consumes all three, also a NULL one, and writes each
     * block's output into results[i]) */
    weft_future *futures[] = {a, b, c};
    void *results[3];
    int rc = weft_join_all(futures, 3, results);
    if (rc < 0)
        panic("join!", rc);
    uint32_t a_result = (uint32_t)(uintptr_t)results[0];
    const char *b_result = results[1];
    bool c_result = (bool)(uintptr_t)results[2];

    /* println!("{a_result}, {b_result}, {c_result}");  (a bool displays
     * as true/false) */
    printf("%" PRIu32 ", %s, %s\n", a_result, b_result,
           c_result ? "true" : "false");
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* trpl::run(async { ... }); */
    int rc = weft_run(async_main, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "listing 17-20: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
