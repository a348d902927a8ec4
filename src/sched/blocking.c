/*
 * blocking.c - the blocking pool behind weft_spawn_blocking and
 * weft_read_to_string, as tokio's spawn_blocking.
 *
 * Each runtime gets a pool on its first blocking job: up to WEFT__POOL_MAX
 * threads, started on demand when no thread is idle, each exiting after
 * WEFT__POOL_IDLE_NS without work.  A job is a task whose body runs on a
 * pool thread instead of a coroutine: it sits on the pool's queue (under the
 * pool lock) until a thread takes it, and when its body returns the thread
 * posts the task's `done` node to the runtime, which finishes the task on
 * its own thread as it would a coroutine that returned.  A job that has
 * started cannot be interrupted; cancelling one that has not started removes
 * it from the queue and calls its drop_arg.
 *
 * The runtime counts its unfinished jobs (rt->blocking.jobs): while any
 * exists it is not deadlocked, and the virtual clock does not jump.  It
 * ends only after every job has finished, then stops the idle threads and
 * joins each of them: no pool thread outlives weft_run.
 */
#include "util/alloc.h"
#include "sched/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WEFT__POOL_MAX      64
#define WEFT__POOL_IDLE_SEC 10

/* A pool thread's slot: joinable threads, joined when their slot is reused
 * or when the pool is destroyed, so none outlives weft_run. */
enum { SLOT_FREE, SLOT_RUNNING, SLOT_EXITED };

typedef struct pool_slot {
    pthread_t thread;
    int state;
    struct weft__pool *pool;
} pool_slot;

typedef struct weft__pool {
    pthread_mutex_t lock;
    pthread_cond_t work; /* a job was queued, or stop */
    weft__link queue;    /* jobs not yet taken */
    size_t threads, idle;
    int stop;
    weft__rt *rt;
    pool_slot slots[WEFT__POOL_MAX];
} weft__pool;

static void job_done(weft__rt *rt, weft__remote *r);

static void *pool_thread(void *p)
{
    pool_slot *slot = p;
    weft__pool *pool = slot->pool;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (weft__list_empty(&pool->queue) && !pool->stop) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += WEFT__POOL_IDLE_SEC;
            pool->idle++;
            int rc = pthread_cond_timedwait(&pool->work, &pool->lock, &until);
            pool->idle--;
            if (rc == ETIMEDOUT && weft__list_empty(&pool->queue))
                goto out; /* idle for too long */
        }
        if (weft__list_empty(&pool->queue))
            goto out; /* stopping */
        weft__link *l = pool->queue.next;
        weft__list_remove(l);
        weft_task *t = weft__container(l, weft_task, runq);
        t->job_taken = 1; /* co.state is the runtime thread's */
        pthread_mutex_unlock(&pool->lock);
        weft__rt *rt = pool->rt;
        /* rt->hooks is filled before the first job and emptied after the
         * pool has stopped: stable while this thread runs. */
        void (*on_job)(weft__rt *, const weft_task *, uint64_t, uint64_t) =
            rt->hooks.on_job;
        uint64_t start = on_job ? weft__clock_mono() : 0;
        t->co.result = t->co.fn(t->co.arg);
        if (on_job)
            on_job(rt, t, start, weft__clock_mono());
        t->done.run = job_done; /* shares memory with t->runq, now unused */
        weft__post(pool->rt, &t->done);
        pthread_mutex_lock(&pool->lock);
    }
out:
    pool->threads--;
    slot->state = SLOT_EXITED; /* joined by whoever reuses the slot */
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/* Starts a pool thread in a free slot (joining an exited one first).  The
 * pool lock is held.  0 or -errno. */
static int thread_start(weft__pool *pool)
{
    pool_slot *slot = NULL;
    for (size_t i = 0; i < WEFT__POOL_MAX && !slot; i++)
        if (pool->slots[i].state != SLOT_RUNNING)
            slot = &pool->slots[i];
    if (!slot)
        return -EAGAIN;
    if (slot->state == SLOT_EXITED) {
        pthread_join(slot->thread, NULL); /* it is past its last unlock */
        slot->state = SLOT_FREE;
    }
    slot->pool = pool;
    int rc = weft__pthread_create(&slot->thread, NULL, pool_thread, slot);
    if (rc)
        return -rc;
    slot->state = SLOT_RUNNING;
    pool->threads++;
    return 0;
}

/* Runs on the runtime's thread: the job's body has returned. */
static void job_done(weft__rt *rt, weft__remote *r)
{
    weft_task *t = weft__container(r, weft_task, done);
    WEFT_ASSERT(t->co.state != WEFT__DEAD);
    t->co.state = WEFT__DEAD;
    t->co.status = 0; /* a started job always runs to its end */
    rt->blocking.jobs--;
    weft__task_finished(rt, t);
}

static weft__pool *pool_get(weft__rt *rt)
{
    if (rt->blocking.pool)
        return rt->blocking.pool;
    weft__pool *pool = weft__calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (pthread_mutex_init(&pool->lock, NULL) != 0)
        goto free_pool;
    if (pthread_cond_init(&pool->work, &attr) != 0)
        goto free_lock;
    pthread_condattr_destroy(&attr);
    weft__list_init(&pool->queue);
    pool->rt = rt;
    rt->blocking.pool = pool;
    return pool;
free_lock:
    pthread_mutex_destroy(&pool->lock);
free_pool:
    pthread_condattr_destroy(&attr);
    weft__free(pool);
    return NULL;
}

static int blocking_submit(weft__rt *rt, weft_task *t)
{
    weft__pool *pool = pool_get(rt);
    if (!pool)
        return -ENOMEM;
    int rc = 0;
    pthread_mutex_lock(&pool->lock);
    if (pool->idle == 0 && pool->threads < WEFT__POOL_MAX) {
        rc = thread_start(pool);
        if (rc && pool->threads > 0)
            rc = 0; /* the running threads will get to it */
    }
    if (rc == 0) {
        weft__list_push(&pool->queue, &t->runq);
        rt->blocking.jobs++;
        pthread_cond_signal(&pool->work);
    }
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

int weft__blocking_taken(weft__rt *rt, const weft_task *t)
{
    weft__pool *pool = rt->blocking.pool;
    if (!pool)
        return 0;
    pthread_mutex_lock(&pool->lock);
    int taken = t->job_taken;
    pthread_mutex_unlock(&pool->lock);
    return taken;
}

int weft__blocking_cancel(weft__rt *rt, weft_task *t)
{
    weft__pool *pool = rt->blocking.pool;
    int queued;
    pthread_mutex_lock(&pool->lock);
    queued = !t->job_taken;
    if (queued)
        weft__list_remove(&t->runq);
    pthread_mutex_unlock(&pool->lock);
    if (!queued)
        return 0; /* running: it cannot be interrupted */
    t->co.cancel = 1;
    WEFT_ASSERT(t->co.state != WEFT__DEAD);
    t->co.state = WEFT__DEAD;
    t->co.status = -ECANCELED;
    if (t->co.drop_arg)
        t->co.drop_arg(t->co.arg);
    rt->blocking.jobs--;
    weft__task_finished(rt, t);
    return 1;
}

void weft__blocking_destroy(weft__rt *rt)
{
    weft__pool *pool = rt->blocking.pool;
    if (!pool)
        return;
    /* Every job has ended (the runtime had no live task): each thread is
     * idle or exiting; join them all so none outlives weft_run. */
    int started[WEFT__POOL_MAX];
    pthread_mutex_lock(&pool->lock);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->work);
    for (size_t i = 0; i < WEFT__POOL_MAX; i++)
        started[i] = pool->slots[i].state != SLOT_FREE;
    pthread_mutex_unlock(&pool->lock);
    for (size_t i = 0; i < WEFT__POOL_MAX; i++)
        if (started[i])
            pthread_join(pool->slots[i].thread, NULL);
    pthread_cond_destroy(&pool->work);
    pthread_mutex_destroy(&pool->lock);
    weft__free(pool);
    rt->blocking.pool = NULL;
}

weft_task *weft_spawn_blocking_with(const weft_spawn_opts *opts, weft_fn *fn,
                                    void *arg)
{
    weft__rt *rt = weft__rt_here();
    int err = !fn ? EINVAL : !rt ? EPERM : 0;
    if (!err && rt->shutting_down) {
        err = ECANCELED;
        rt->current->cancel_seen = 1; /* the caller sees it (weft.h) */
    }
    if (err) {
        if (opts && opts->drop_arg)
            opts->drop_arg(arg);
        errno = err;
        return NULL;
    }
    weft_task *t = weft__task_new(rt, opts, fn, arg, 1);
    if (!t)
        return NULL;
    int rc = blocking_submit(rt, t);
    if (rc) {
        /* Never queued: finish it unrun, then drop the handle. */
        WEFT_ASSERT(t->co.state != WEFT__DEAD);
        t->co.state = WEFT__DEAD;
        t->co.status = rc;
        if (t->co.drop_arg)
            t->co.drop_arg(t->co.arg);
        t->co.drop_arg = NULL;
        weft__task_finished(rt, t);
        weft__task_detach_internal(t);
        errno = -rc;
        return NULL;
    }
    return t;
}

weft_task *weft_spawn_blocking(weft_fn *fn, void *arg)
{
    return weft_spawn_blocking_with(NULL, fn, arg);
}

/* ---- weft_read_to_string ------------------------------------------------ */

typedef struct read_job {
    char *path;
    char *data;
    size_t len;
    int err;
} read_job;

static void read_job_free(void *p)
{
    read_job *j = p;
    weft__free(j->data);
    weft__free(j->path);
    weft__free(j);
}

static void *read_job_run(void *p)
{
    read_job *j = p;
    int fd = open(j->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        j->err = -errno;
        return j;
    }
    struct stat st;
    size_t cap =
        fstat(fd, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    for (;;) {
        if (j->len + 1 >= cap || !j->data) {
            if (j->data)
                cap *= 2;
            char *d = weft__realloc(j->data, cap);
            if (!d) {
                j->err = -ENOMEM;
                break;
            }
            j->data = d;
        }
        ssize_t n = read(fd, j->data + j->len, cap - j->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            j->err = -errno;
            break;
        }
        if (n == 0)
            break;
        j->len += (size_t)n;
    }
    close(fd);
    if (j->err) {
        weft__free(j->data);
        j->data = NULL;
    } else {
        j->data[j->len] = '\0';
    }
    return j;
}

int weft_read_to_string(const char *path, char **data, size_t *len)
{
    if (!path || !data)
        return -EINVAL;
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    read_job *j = weft__calloc(1, sizeof *j);
    if (!j || !(j->path = weft__strdup(path))) {
        weft__free(j);
        return -ENOMEM;
    }
    weft_spawn_opts opts = {.name = "read_to_string",
                            .drop_arg = read_job_free};
    weft_task *t = weft_spawn_blocking_with(&opts, read_job_run, j);
    if (!t)
        return -errno;
    t->drop_result = read_job_free; /* if we stop waiting, the job frees */
    void *res = NULL;
    int rc = weft_task_join(t, &res);
    if (rc < 0)
        return rc; /* cancelled: the job was dropped or frees itself */
    rc = j->err;
    if (rc == 0) {
        weft__alloc_handoff(j->data); /* the caller's now */
        *data = j->data;
        if (len)
            *len = j->len;
        j->data = NULL;
    }
    read_job_free(j);
    return rc;
}
