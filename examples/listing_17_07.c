/*
 * listing_17_07.c - Listing 17-7 of the Rust book (section 17.2): as 17-6,
 * but the main block awaits the task's JoinHandle, so the spawned task
 * counts all the way to 9 (about 4.5 s in total).
 *
 * Rust:
 *     trpl::run(async {
 *         let handle = trpl::spawn_task(async {
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
 *
 *         handle.await.unwrap();
 *     });
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

/* A failed .unwrap() (or an operation that cannot fail in Rust): panic. */
static void panic(const char *what, int err)
{
    fprintf(stderr, "listing 17-07: %s: %s\n", what, weft_strerror(err));
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
            return NULL; /* cancelled: Rust drops the future here */
    }
    return NULL;
}

/* trpl::run(async { ... }) - the main async block. */
static void *async_main(void *arg)
{
    (void)arg;
    /* let handle = trpl::spawn_task(async { ... }); */
    weft_task *handle = weft_spawn(first_task, NULL);
    if (handle == NULL)
        panic("spawn_task", -errno);

    /* for i in 1..5 { */
    for (int i = 1; i < 5; i++) {
        /* println!("hi number {i} from the second task!"); */
        printf("hi number %d from the second task!\n", i);
        /* trpl::sleep(Duration::from_millis(500)).await; */
        if (weft_sleep(WEFT_MS(500)) < 0) {
            weft_task_detach(handle); /* dropping the JoinHandle */
            return NULL;
        }
    }

    /* handle.await.unwrap(); */
    int rc = weft_task_join(handle, NULL);
    if (rc < 0)
        panic("handle.await", rc);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* trpl::run(async { ... }); */
    int rc = weft_run(async_main, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "listing 17-07: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
