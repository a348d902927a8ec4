/*
 * listing_17_08.c - Listing 17-8 of the Rust book (section 17.2): two lazy
 * async blocks run concurrently inside one task by trpl::join.  join is
 * fair, so the order is the same every time: first 1, second 1, first 2,
 * second 2, ... second 4, then first 5..9.
 *
 * Rust:
 *     trpl::run(async {
 *         let fut1 = async {
 *             for i in 1..10 {
 *                 println!("hi number {i} from the first task!");
 *                 trpl::sleep(Duration::from_millis(500)).await;
 *             }
 *         };
 *
 *         let fut2 = async {
 *             for i in 1..5 {
 *                 println!("hi number {i} from the second task!");
 *                 trpl::sleep(Duration::from_millis(500)).await;
 *             }
 *         };
 *
 *         trpl::join(fut1, fut2).await;
 *     });
 */
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

/* A failed .unwrap() (or an operation that cannot fail in Rust): panic. */
static void panic(const char *what, int err)
{
    fprintf(stderr, "listing 17-08: %s: %s\n", what, weft_strerror(err));
    exit(101); /* the exit status of a Rust panic */
}

/* let fut1 = async { for i in 1..10 { ... } }; */
static void *fut1_block(void *arg)
{
    (void)arg;
    /* for i in 1..10 { */
    for (int i = 1; i < 10; i++) {
        /* println!("hi number {i} from the first task!"); */
        printf("hi number %d from the first task!\n", i);
        /* trpl::sleep(Duration::from_millis(500)).await; */
        if (weft_sleep(WEFT_MS(500)) < 0)
            return NULL; /* cancelled: Rust drops the future here */
    }
    return NULL;
}

/* let fut2 = async { for i in 1..5 { ... } }; */
static void *fut2_block(void *arg)
{
    (void)arg;
    /* for i in 1..5 { */
    for (int i = 1; i < 5; i++) {
        /* println!("hi number {i} from the second task!"); */
        printf("hi number %d from the second task!\n", i);
        /* trpl::sleep(Duration::from_millis(500)).await; */
        if (weft_sleep(WEFT_MS(500)) < 0)
            return NULL;
    }
    return NULL;
}

/* trpl::run(async { ... }) - the main async block. */
static void *async_main(void *arg)
{
    (void)arg;
    /* let fut1 = async { ... };  (lazy: nothing runs yet) */
    weft_future *fut1 = weft_async(fut1_block, NULL);
    /* let fut2 = async { ... }; */
    weft_future *fut2 = weft_async(fut2_block, NULL);

    /* trpl::join(fut1, fut2).await;  (consumes both, also a NULL one) */
    int rc = weft_join(fut1, fut2);
    if (rc < 0)
        panic("join", rc);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* trpl::run(async { ... }); */
    int rc = weft_run(async_main, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "listing 17-08: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
