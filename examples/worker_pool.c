/*
 * worker_pool.c - four workers take 20 jobs from one channel and report in
 * the order they finish: a task group owns the workers (tokio's JoinSet),
 * and a mutex lets one worker at a time wait on the receiver (the Rust
 * book's Arc<Mutex<Receiver>> thread pool, chapter 21).  Job j takes j ms.
 * Output (any clock): one line per worker, then "20 jobs, total 210".
 */
#include <stdio.h>
#include <weft.h>

typedef struct pool {
    weft_receiver *jobs;
    weft_mutex *lock;
} pool;

static void *worker(void *arg)
{
    pool *p = arg;
    intptr_t sum = 0, n = 0;
    int job, rc;
    while (weft_mutex_lock(p->lock) == 0) {
        rc = weft_recv(p->jobs, &job); /* held while waiting: one taker */
        weft_mutex_unlock(p->lock);
        if (rc <= 0 || weft_sleep(WEFT_MS(job)) != 0)
            break; /* closed and drained, or cancelled */
        sum += job, n++;
    }
    return (void *)(sum << 8 | n);
}

static void *run(void *arg)
{
    (void)arg;
    weft_sender *tx;
    pool p = {.lock = weft_mutex_new()};
    weft_group *g = weft_group_new();
    if (!p.lock || !g || weft_channel(sizeof(int), &tx, &p.jobs) != 0)
        return (void *)1;
    for (int w = 0; w < 4; w++)
        weft_group_spawn(g, worker, &p);
    for (int job = 1; job <= 20; job++)
        weft_send(tx, &job);
    weft_sender_drop(tx); /* no more jobs: the workers end when drained */
    void *r;
    intptr_t total = 0, jobs = 0;
    while (weft_group_join_next(g, &r) > 0) {
        printf("a worker did %d jobs (%d ms)\n", (int)((intptr_t)r & 0xff),
               (int)((intptr_t)r >> 8));
        total += (intptr_t)r >> 8, jobs += (intptr_t)r & 0xff;
    }
    printf("%d jobs, total %d\n", (int)jobs, (int)total);
    weft_group_drop(g);
    weft_receiver_drop(p.jobs);
    weft_mutex_free(p.lock);
    return NULL;
}

int main(void) { return weft_run(run, NULL, NULL) == 0 ? 0 : 1; }
