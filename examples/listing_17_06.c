/*
 * listing_17_06.c - Listing 17-6 of the Rust book (section 17.2): a spawned
 * task counts 1..9 while the main task counts 1..4.
 *
 * The JoinHandle returned by trpl::spawn_task is dropped at once, so the
 * task is detached: it keeps running, and the runtime cancels it when the
 * main block returns.  It therefore prints only 4 or 5 of its 9 lines.
 *
 * Rust:
 *     trpl::run(async {
 *         trpl::spawn_task(async {
 *             for i in 1..10 {
 *                 println!("hi number {i} from the first task!");
 *                 trpl::sleep(Duration::from_millis(500)).await;
 *             }
 *         });
 *
 *         for i in 1..5 {
 *             println!("hi number {i} from the second task!");
 *             trpl::sleep(Duration::from_millis(500)).await;
 *         }
 *     });
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

/* A failed .unwrap() (or an operation that cannot fail in Rust): panic. */
static void panic(const char *what, int err)
{
    fprintf(stderr, "listing 17-06: %s: %s\n", what, weft_strerror(err));
    exit(101); /* the exit status of a Rust panic */
}

/* async { for i in 1..10 { ... } } - the body of the spawned task. */
static void *first_task(void *arg)
{
    (void)arg;
    /* for i in 1..10 { */
    for (int i = 1; i < 10; i++) {
        /* println!("hi number {i} from the first task!"); */
        printf("hi number %d from the first task!\n", i);
        /* trpl::sleep(Duration::from_millis(500)).await; */
        if (weft_sleep(WEFT_MS(500)) < 0)
            return NULL; /* cancelled at shutdown: Rust drops the future */
    }
    return NULL;
}

/* trpl::run(async { ... }) - the main async block. */
static void *async_main(void *arg)
{
    (void)arg;
    /* trpl::spawn_task(async { ... });  (the JoinHandle is dropped) */
    weft_task *handle = weft_spawn(first_task, NULL);
    if (handle == NULL)
        panic("spawn_task", -errno);
    weft_task_detach(handle);

    /* for i in 1..5 { */
    for (int i = 1; i < 5; i++) {
        /* println!("hi number {i} from the second task!"); */
        printf("hi number %d from the second task!\n", i);
        /* trpl::sleep(Duration::from_millis(500)).await; */
        if (weft_sleep(WEFT_MS(500)) < 0)
            return NULL;
    }
    /* end of the block: the runtime cancels the detached task */
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* trpl::run(async { ... }); */
    int rc = weft_run(async_main, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "listing 17-06: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
