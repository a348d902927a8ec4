/*
 * tests/test_sync.c - semaphores, mutexes, notifies and task groups: exact
 * orders of service (fairness), cancellation that takes nothing and loses
 * nothing, timeouts on the virtual clock, releases and notifies from plain
 * threads, the deadlock report's words, completion order and drop of
 * groups, misuse, and the worker-pool example.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "weft.h"

static tlog lg;

#define LOG_IS(want)                                                           \
    cr_assert_str_eq(lg.buf, want, "order: \"%s\", want \"%s\"", lg.buf, want)

/* Runs fn under the virtual clock with WEFT_DEADLOCK_FAIL; returns
 * weft_run's status and what it wrote on stderr (free it). */
static int run_capture(weft_fn *fn, void *arg, char **err)
{
    stderr_capture cap;
    capture_stderr_begin(&cap);
    int rc = run_clock(WEFT_CLOCK_VIRTUAL, fn, arg, NULL);
    *err = capture_stderr_end(&cap);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Semaphore                                                                */
/* ------------------------------------------------------------------------ */

typedef struct sem_job {
    weft_semaphore *s;
    size_t n;
    int id;
    int rc;
    int cleaned; /* returned after its acquire */
} sem_job;

static void *sem_acquirer(void *arg)
{
    sem_job *j = arg;
    j->rc = weft_semaphore_acquire(j->s, j->n);
    tlog_add(&lg, "%d%s", j->id, j->rc == 0 ? "" : "x");
    j->cleaned = 1;
    return NULL;
}

static weft_task *spawn_acquirer(sem_job *j, weft_semaphore *s, size_t n,
                                 int id)
{
    j->s = s;
    j->n = n;
    j->id = id;
    j->rc = 1;
    weft_task *t = weft_spawn(sem_acquirer, j);
    cr_assert_not_null(t);
    return t;
}

/* Five tasks wait for one permit each: served in the order they began. */
static void *sem_fifo_root(void *arg)
{
    (void)arg;
    weft_semaphore *s = weft_semaphore_new(0);
    sem_job j[5];
    weft_task *t[5];
    for (int i = 0; i < 5; i++)
        t[i] = spawn_acquirer(&j[i], s, 1, i);
    weft_yield(); /* all five wait now */
    for (int i = 0; i < 5; i++) {
        weft_semaphore_release(s, 1);
        weft_yield();
    }
    for (int i = 0; i < 5; i++)
        cr_assert_eq(weft_task_join(t[i], NULL), 0);
    LOG_IS("0 1 2 3 4");
    cr_assert_eq(weft_semaphore_available(s), 0);
    weft_semaphore_free(s);
    return NULL;
}

Test(sync, semaphore_serves_waiters_in_order)
{
    memset(&lg, 0, sizeof lg);
    run_virtual(sem_fifo_root, NULL);
}

/* A request for 3 at the head is not overtaken by a request for 1 behind
 * it, nor by try_acquire; permits released meanwhile wait for it. */
static void *sem_big_head_root(void *arg)
{
    (void)arg;
    weft_semaphore *s = weft_semaphore_new(1);
    sem_job big, small;
    weft_task *tb = spawn_acquirer(&big, s, 3, 3);
    weft_task *ts = spawn_acquirer(&small, s, 1, 1);
    weft_yield();
    cr_assert_eq(big.rc, 1, "the big request must wait");
    cr_assert_eq(small.rc, 1, "the small one must not overtake it");
    cr_assert_eq(weft_semaphore_try_acquire(s, 1), -EAGAIN);
    cr_assert_eq(weft_semaphore_acquire(s, 0), 0, "0 permits: at once");
    weft_semaphore_release(s, 1); /* 2 free: still not enough */
    weft_yield();
    cr_assert_eq(big.rc, 1);
    cr_assert_eq(small.rc, 1);
    cr_assert_eq(weft_semaphore_available(s), 2);
    weft_semaphore_release(s, 1); /* 3: the head goes, the next waits */
    weft_yield();
    cr_assert_eq(big.rc, 0);
    cr_assert_eq(small.rc, 1);
    cr_assert_eq(weft_semaphore_available(s), 0);
    weft_semaphore_release(s, 3);
    weft_yield();
    cr_assert_eq(small.rc, 0);
    cr_assert_eq(weft_semaphore_available(s), 2);
    cr_assert_eq(weft_task_join(tb, NULL), 0);
    cr_assert_eq(weft_task_join(ts, NULL), 0);
    LOG_IS("3 1");
    cr_assert_eq(weft_semaphore_try_acquire(s, 2), 0);
    cr_assert_eq(weft_semaphore_try_acquire(s, 1), -EAGAIN);
    cr_assert_eq(weft_semaphore_acquire(s, 0), 0, "0 permits: at once");
    weft_semaphore_free(s);
    return NULL;
}

Test(sync, semaphore_large_request_is_not_overtaken)
{
    memset(&lg, 0, sizeof lg);
    run_virtual(sem_big_head_root, NULL);
}

/* A cancelled waiter takes nothing; cancelling the big head lets the small
 * request behind it go. */
static void *sem_cancel_root(void *arg)
{
    (void)arg;
    weft_semaphore *s = weft_semaphore_new(2);
    sem_job big, small;
    weft_task *tb = spawn_acquirer(&big, s, 5, 5);
    weft_task *ts = spawn_acquirer(&small, s, 1, 1);
    weft_yield();
    cr_assert_eq(small.rc, 1, "waits behind the head");
    weft_task_abort(tb);
    cr_assert_eq(weft_task_join(tb, NULL), -ECANCELED);
    cr_assert_eq(big.rc, -ECANCELED);
    cr_assert_eq(big.cleaned, 1);
    cr_assert_eq(weft_task_join(ts, NULL), 0);
    cr_assert_eq(small.rc, 0);
    cr_assert_eq(weft_semaphore_available(s), 1, "exactly one taken");
    weft_semaphore_free(s);
    return NULL;
}

Test(sync, semaphore_cancelled_waiter_takes_nothing)
{
    memset(&lg, 0, sizeof lg);
    run_virtual(sem_cancel_root, NULL);
}

/* The grant and the cancellation in the same instant: the waiter was
 * handed its permits, then aborted before it ran.  It returns -ECANCELED
 * and the permits go to the next waiter: none is lost. */
static void *sem_grant_cancel_root(void *arg)
{
    (void)arg;
    weft_semaphore *s = weft_semaphore_new(0);
    sem_job a, b;
    weft_task *ta = spawn_acquirer(&a, s, 2, 1);
    weft_task *tb = spawn_acquirer(&b, s, 2, 2);
    weft_yield();
    weft_semaphore_release(s, 2); /* granted to a */
    cr_assert_eq(weft_semaphore_available(s), 0);
    weft_task_abort(ta); /* before a ran */
    cr_assert_eq(weft_task_join(ta, NULL), -ECANCELED);
    cr_assert_eq(a.rc, -ECANCELED);
    cr_assert_eq(weft_task_join(tb, NULL), 0);
    cr_assert_eq(b.rc, 0, "a's permits passed on to b");
    weft_semaphore_release(s, 2);
    cr_assert_eq(weft_semaphore_available(s), 2);
    weft_semaphore_free(s);
    return NULL;
}

Test(sync, semaphore_grant_racing_cancel_is_given_back)
{
    memset(&lg, 0, sizeof lg);
    run_virtual(sem_grant_cancel_root, NULL);
}

static void *release_later(void *arg)
{
    weft_sleep(WEFT_MS(50));
    weft_semaphore_release(arg, 1);
    return NULL;
}

/* weft_timeout composes with the future form: a timed-out acquire takes
 * nothing, one released in time succeeds. */
static void *sem_timeout_root(void *arg)
{
    (void)arg;
    weft_semaphore *s = weft_semaphore_new(0);
    uint64_t t0 = weft_now();
    cr_assert_eq(
        weft_timeout(weft_semaphore_acquire_future(s, 1), WEFT_MS(100), NULL),
        -ETIMEDOUT);
    cr_assert_eq(weft_now() - t0, WEFT_MS(100));
    weft_semaphore_release(s, 1);
    cr_assert_eq(weft_semaphore_available(s), 1, "the timed out took none");
    cr_assert_eq(weft_semaphore_try_acquire(s, 1), 0);

    weft_task *t = weft_spawn(release_later, s);
    t0 = weft_now();
    cr_assert_eq(
        weft_timeout(weft_semaphore_acquire_future(s, 1), WEFT_MS(100), NULL),
        0);
    cr_assert_eq(weft_now() - t0, WEFT_MS(50));
    cr_assert_eq(weft_semaphore_available(s), 0, "held by the caller");
    cr_assert_eq(weft_task_join(t, NULL), 0);

    /* A race of two acquires: the one that loses takes nothing. */
    weft_semaphore *s2 = weft_semaphore_new(1);
    weft_future *fs[] = {weft_semaphore_acquire_future(s, 1),
                         weft_semaphore_acquire_future(s2, 1)};
    cr_assert_eq(weft_race(fs, 2, NULL), 1);
    cr_assert_eq(weft_semaphore_available(s2), 0);
    weft_semaphore_release(s, 1);
    cr_assert_eq(weft_semaphore_available(s), 1);
    weft_semaphore_free(s);
    weft_semaphore_free(s2);
    return NULL;
}

Test(sync, semaphore_timeout_and_race_virtual_clock)
{
    run_virtual(sem_timeout_root, NULL);
}

/* Released by a plain thread 20 ms later: the runtime waits (no deadlock
 * report) and the task is woken through its inbox. */
static void *thread_release(void *arg)
{
    thread_sleep_ms(20);
    weft_semaphore_release(arg, 2);
    return NULL;
}

static void *sem_thread_root(void *arg)
{
    weft_semaphore *s = arg ? arg : weft_semaphore_new(0);
    if (!arg)
        cr_assert_eq(weft_semaphore_share(s), 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, thread_release, s), 0);
    cr_assert_eq(weft_semaphore_acquire(s, 2), 0);
    pthread_join(th, NULL);
    if (!arg)
        weft_semaphore_free(s);
    return NULL;
}

Test(sync, semaphore_released_by_plain_thread)
{
    run_real(sem_thread_root, NULL);
    run_virtual(sem_thread_root, NULL);
    /* Created before weft_run: shared without being marked. */
    weft_semaphore *s = weft_semaphore_new(0);
    run_virtual(sem_thread_root, s);
    weft_semaphore_free(s);
}

/* A release from another thread marks the semaphore shared by itself: a
 * later wait for that thread is not a deadlock. */
static void *thread_release_twice(void *arg)
{
    weft_semaphore_release(arg, 1);
    thread_sleep_ms(20);
    weft_semaphore_release(arg, 1);
    return NULL;
}

static void *sem_marked_by_use_root(void *arg)
{
    (void)arg;
    weft_semaphore *s = weft_semaphore_new(0); /* in a runtime: not shared */
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, thread_release_twice, s), 0);
    while (weft_semaphore_try_acquire(s, 1) != 0)
        weft_yield(); /* never idle: no deadlock test until it is shared */
    cr_assert_eq(weft_semaphore_acquire(s, 1), 0);
    pthread_join(th, NULL);
    weft_semaphore_free(s);
    return NULL;
}

Test(sync, semaphore_used_from_thread_is_shared)
{
    run_virtual(sem_marked_by_use_root, NULL);
}

/* The root itself waits: once the deadlock is reported its wait returns
 * -ECANCELED and it frees what it made (a task left waiting would keep
 * the object from being freed). */
static void *sem_deadlock_root(void *arg)
{
    (void)arg;
    weft_semaphore *s = weft_semaphore_new(1);
    cr_assert_eq(weft_semaphore_acquire(s, 2), -ECANCELED);
    cr_assert_eq(weft_semaphore_available(s), 1);
    weft_semaphore_free(s);
    return NULL;
}

Test(sync, semaphore_deadlock_is_reported)
{
    char *err;
    int rc = run_capture(sem_deadlock_root, NULL, &err);
    cr_assert_eq(rc, -EDEADLK, "rc %d, stderr: %s", rc, err);
    cr_assert_not_null(strstr(err, "task 'main' (id 1)"), "%s", err);
    cr_assert_not_null(strstr(err, "waits on: semaphore 0x"), "%s", err);
    cr_assert_not_null(strstr(err, "(2 permits)"), "%s", err);
    free(err);
}

static void *sem_misuse_root(void *arg)
{
    (void)arg;
    cr_assert_eq(weft_semaphore_acquire(NULL, 1), -EINVAL);
    cr_assert_eq(weft_semaphore_try_acquire(NULL, 1), -EINVAL);
    cr_assert_eq(weft_semaphore_share(NULL), -EINVAL);
    errno = 0;
    cr_assert_null(weft_semaphore_acquire_future(NULL, 1));
    cr_assert_eq(errno, EINVAL);
    weft_semaphore *s = weft_semaphore_new(1);
    cr_assert_eq(weft_semaphore_acquire(s, WEFT_SEMAPHORE_MAX + 1), -EINVAL);
    weft_semaphore_release(NULL, 1);
    weft_semaphore_free(NULL);
    cr_assert_eq(weft_semaphore_available(NULL), 0);
    weft_semaphore_free(s);
    return NULL;
}

Test(sync, semaphore_misuse)
{
    errno = 0;
    cr_assert_null(weft_semaphore_new(WEFT_SEMAPHORE_MAX + 1));
    cr_assert_eq(errno, EINVAL);
    weft_semaphore *s = weft_semaphore_new(0);
    cr_assert_eq(weft_semaphore_acquire(s, 1), -EPERM, "outside a runtime");
    cr_assert_eq(weft_semaphore_try_acquire(s, 1), -EAGAIN);
    weft_semaphore_release(s, 1); /* any thread */
    cr_assert_eq(weft_semaphore_try_acquire(s, 1), 0);
    weft_semaphore_free(s);
    run_virtual(sem_misuse_root, NULL);
}

/* ------------------------------------------------------------------------ */
/* Mutex                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct mu_job {
    weft_mutex *m;
    int id;
    int rc;
    uint64_t hold_ns;
} mu_job;

static void *mu_locker(void *arg)
{
    mu_job *j = arg;
    j->rc = weft_mutex_lock(j->m);
    if (j->rc != 0) {
        tlog_add(&lg, "%dx", j->id);
        return NULL;
    }
    tlog_add(&lg, "%d+", j->id);
    weft_sleep(j->hold_ns); /* held across a suspension */
    tlog_add(&lg, "%d-", j->id);
    weft_mutex_unlock(j->m);
    return NULL;
}

static weft_task *spawn_locker(mu_job *j, weft_mutex *m, int id, uint64_t hold)
{
    j->m = m;
    j->id = id;
    j->rc = 1;
    j->hold_ns = hold;
    weft_task *t = weft_spawn(mu_locker, j);
    cr_assert_not_null(t);
    return t;
}

/* FIFO and no barging: the root unlocks and locks again at once; it gets
 * the mutex only after the three that were waiting. */
static void *mutex_fifo_root(void *arg)
{
    (void)arg;
    weft_mutex *m = weft_mutex_new();
    cr_assert_eq(weft_mutex_lock(m), 0);
    mu_job j[3];
    weft_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn_locker(&j[i], m, i, WEFT_MS(10));
    weft_sleep(WEFT_MS(1)); /* all three wait */
    cr_assert_eq(weft_mutex_try_lock(m), -EAGAIN);
    weft_mutex_unlock(m);
    cr_assert_eq(weft_mutex_try_lock(m), -EAGAIN, "handed to the first");
    cr_assert_eq(weft_mutex_lock(m), 0);
    tlog_add(&lg, "root+");
    weft_mutex_unlock(m);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(weft_task_join(t[i], NULL), 0);
    LOG_IS("0+ 0- 1+ 1- 2+ 2- root+");
    cr_assert_eq(weft_mutex_try_lock(m), 0);
    weft_mutex_unlock(m);
    weft_mutex_free(m);
    return NULL;
}

Test(sync, mutex_is_fifo_without_barging)
{
    memset(&lg, 0, sizeof lg);
    run_virtual(mutex_fifo_root, NULL);
}

/* A cancelled waiter does not hold it; one aborted in the instant the
 * mutex was handed to it passes it on to the next waiter. */
static void *mutex_cancel_root(void *arg)
{
    (void)arg;
    weft_mutex *m = weft_mutex_new();
    cr_assert_eq(weft_mutex_lock(m), 0);
    mu_job a, b, c;
    weft_task *ta = spawn_locker(&a, m, 1, 0);
    weft_task *tb = spawn_locker(&b, m, 2, 0);
    weft_task *tc = spawn_locker(&c, m, 3, 0);
    weft_yield();
    weft_task_abort(tb);  /* waiting: leaves the queue */
    weft_mutex_unlock(m); /* handed to a ... */
    weft_task_abort(ta);  /* ... which is aborted before it runs */
    cr_assert_eq(weft_task_join(ta, NULL), -ECANCELED);
    cr_assert_eq(weft_task_join(tb, NULL), -ECANCELED);
    cr_assert_eq(weft_task_join(tc, NULL), 0);
    cr_assert_eq(a.rc, -ECANCELED);
    cr_assert_eq(b.rc, -ECANCELED);
    cr_assert_eq(c.rc, 0);
    LOG_IS("2x 1x 3+ 3-"); /* b was aborted first */
    cr_assert_eq(weft_mutex_try_lock(m), 0, "nobody holds it");
    weft_mutex_unlock(m);

    /* A lock future that times out does not hold the mutex. */
    cr_assert_eq(weft_mutex_lock(m), 0);
    mu_job d;
    weft_task *td = spawn_locker(&d, m, 4, 0);
    weft_yield();
    cr_assert_eq(weft_timeout(weft_mutex_lock_future(m), WEFT_MS(5), NULL),
                 -ETIMEDOUT);
    weft_mutex_unlock(m);
    cr_assert_eq(weft_task_join(td, NULL), 0);
    cr_assert_eq(weft_timeout(weft_mutex_lock_future(m), WEFT_MS(5), NULL), 0);
    weft_mutex_unlock(m);
    weft_mutex_free(m);
    return NULL;
}

Test(sync, mutex_cancelled_waiter_does_not_hold_it)
{
    memset(&lg, 0, sizeof lg);
    run_virtual(mutex_cancel_root, NULL);
}

static void *mu_bad_unlocker(void *arg)
{
    weft_mutex_unlock(arg); /* held by the root, not by this task */
    return NULL;
}

static void *mutex_misuse_root(void *arg)
{
    (void)arg;
    weft_mutex *m = weft_mutex_new();
    weft_mutex_unlock(m); /* not locked */
    cr_assert_eq(weft_mutex_lock(m), 0);
    weft_task *t = weft_spawn(mu_bad_unlocker, m);
    cr_assert_eq(weft_task_join(t, NULL), 0);
    cr_assert_eq(weft_mutex_try_lock(m), -EAGAIN, "still held by the root");
    weft_mutex_free(m); /* locked: reported, kept */
    weft_mutex_unlock(m);
    cr_assert_eq(weft_mutex_lock(NULL), -EINVAL);
    cr_assert_eq(weft_mutex_try_lock(NULL), -EINVAL);
    errno = 0;
    cr_assert_null(weft_mutex_lock_future(NULL));
    cr_assert_eq(errno, EINVAL);
    weft_mutex_unlock(NULL);
    weft_mutex_free(NULL);
    weft_mutex_free(m);
    return NULL;
}

Test(sync, mutex_misuse_is_reported)
{
    char *err;
    int rc = run_capture(mutex_misuse_root, NULL, &err);
    cr_assert_eq(rc, 0, "stderr: %s", err);
    cr_assert_not_null(strstr(err, "weft_mutex_unlock(0x"), "%s", err);
    cr_assert_not_null(strstr(err, "it is not locked; ignored"), "%s", err);
    cr_assert_not_null(strstr(err, "the calling task does not hold it"), "%s",
                       err);
    cr_assert_not_null(strstr(err, "weft_mutex_free(0x"), "%s", err);
    free(err);
    weft_mutex *m = weft_mutex_new();
    cr_assert_eq(weft_mutex_lock(m), -EPERM);
    cr_assert_eq(weft_mutex_try_lock(m), -EPERM);
    weft_mutex_free(m);
}

/* The root holds the mutex and locks it again: it waits for itself, as in
 * tokio. */
static void *mutex_deadlock_root(void *arg)
{
    (void)arg;
    weft_mutex *m = weft_mutex_new();
    cr_assert_eq(weft_mutex_lock(m), 0);
    cr_assert_eq(weft_mutex_lock(m), -ECANCELED);
    weft_mutex_unlock(m); /* still held: the cancelled lock took nothing */
    weft_mutex_free(m);
    return NULL;
}

Test(sync, mutex_deadlock_is_reported)
{
    char *err;
    int rc = run_capture(mutex_deadlock_root, NULL, &err);
    cr_assert_eq(rc, -EDEADLK, "rc %d, stderr: %s", rc, err);
    cr_assert_not_null(strstr(err, "task 'main' (id 1) waits on: mutex 0x"),
                       "%s", err);
    cr_assert_null(strstr(err, "weft_mutex_"), "no misuse: %s", err);
    free(err);
}

/* ------------------------------------------------------------------------ */
/* Notify                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct nt_job {
    weft_notify *n;
    int id;
    int rc;
} nt_job;

static void *nt_waiter(void *arg)
{
    nt_job *j = arg;
    j->rc = weft_notified(j->n);
    tlog_add(&lg, "%d%s", j->id, j->rc == 0 ? "" : "x");
    return NULL;
}

static weft_task *spawn_nt(nt_job *j, weft_notify *n, int id)
{
    j->n = n;
    j->id = id;
    j->rc = 1;
    weft_task *t = weft_spawn(nt_waiter, j);
    cr_assert_not_null(t);
    return t;
}

static void *notify_root(void *arg)
{
    (void)arg;
    weft_notify *n = weft_notify_new();
    /* One stored permit, however many notify_one calls. */
    weft_notify_one(n);
    weft_notify_one(n);
    cr_assert_eq(weft_notified(n), 0, "the stored permit");
    cr_assert_eq(weft_timeout(weft_notified_future(n), WEFT_MS(5), NULL),
                 -ETIMEDOUT, "only one was stored");

    /* notify_one wakes the first waiter first. */
    nt_job j[3];
    weft_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn_nt(&j[i], n, i);
    weft_yield();
    for (int i = 0; i < 3; i++) {
        weft_notify_one(n);
        weft_yield();
    }
    for (int i = 0; i < 3; i++)
        cr_assert_eq(weft_task_join(t[i], NULL), 0);
    LOG_IS("0 1 2");

    /* notify_all wakes everyone waiting and stores nothing. */
    for (int i = 0; i < 3; i++)
        t[i] = spawn_nt(&j[i], n, i + 10);
    weft_yield();
    weft_notify_all(n);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(weft_task_join(t[i], NULL), 0);
    LOG_IS("0 1 2 10 11 12");
    cr_assert_eq(weft_timeout(weft_notified_future(n), WEFT_MS(5), NULL),
                 -ETIMEDOUT, "notify_all stores nothing");

    /* A future made before notify_all counts it, polled or not. */
    weft_future *f = weft_notified_future(n);
    weft_notify_all(n);
    cr_assert_eq(weft_await(f, NULL), 0);

    /* A waiter aborted in the instant notify_one reached it passes the
     * notification on to the next one. */
    weft_task *ta = spawn_nt(&j[0], n, 20);
    weft_task *tb = spawn_nt(&j[1], n, 21);
    weft_yield();
    weft_notify_one(n);  /* reaches 20 ... */
    weft_task_abort(ta); /* ... aborted before it ran */
    cr_assert_eq(weft_task_join(ta, NULL), -ECANCELED);
    cr_assert_eq(weft_task_join(tb, NULL), 0);
    cr_assert_eq(j[1].rc, 0);
    /* With nobody else waiting it is stored. */
    ta = spawn_nt(&j[0], n, 30);
    weft_yield();
    weft_notify_one(n);
    weft_task_abort(ta);
    cr_assert_eq(weft_task_join(ta, NULL), -ECANCELED);
    cr_assert_eq(weft_notified(n), 0, "forwarded to the permit");
    LOG_IS("0 1 2 10 11 12 20x 21 30x");
    weft_notify_free(n);
    return NULL;
}

Test(sync, notify_one_all_and_forwarding)
{
    memset(&lg, 0, sizeof lg);
    run_virtual(notify_root, NULL);
}

static void *thread_notify(void *arg)
{
    thread_sleep_ms(20);
    weft_notify_one(arg);
    thread_sleep_ms(20);
    weft_notify_all(arg);
    return NULL;
}

static void *notify_thread_root(void *arg)
{
    (void)arg;
    weft_notify *n = weft_notify_new();
    cr_assert_eq(weft_notify_share(n), 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, thread_notify, n), 0);
    cr_assert_eq(weft_notified(n), 0);
    cr_assert_eq(weft_notified(n), 0);
    pthread_join(th, NULL);
    weft_notify_free(n);
    return NULL;
}

Test(sync, notify_from_plain_thread)
{
    run_real(notify_thread_root, NULL);
    run_virtual(notify_thread_root, NULL);
}

static void *nt_stuck(void *arg)
{
    cr_assert_eq(weft_notified(arg), -ECANCELED);
    return NULL;
}

static void *notify_deadlock_root(void *arg)
{
    (void)arg;
    weft_notify *n = weft_notify_new();
    nt_stuck(n);
    weft_notify_free(n);
    return NULL;
}

Test(sync, notify_deadlock_is_reported_and_misuse)
{
    char *err;
    int rc = run_capture(notify_deadlock_root, NULL, &err);
    cr_assert_eq(rc, -EDEADLK, "rc %d, stderr: %s", rc, err);
    cr_assert_not_null(strstr(err, "waits on: notify 0x"), "%s", err);
    free(err);
    cr_assert_eq(weft_notified(NULL), -EINVAL);
    cr_assert_eq(weft_notify_share(NULL), -EINVAL);
    errno = 0;
    cr_assert_null(weft_notified_future(NULL));
    cr_assert_eq(errno, EINVAL);
    weft_notify_one(NULL);
    weft_notify_all(NULL);
    weft_notify_free(NULL);
    weft_notify *n = weft_notify_new();
    cr_assert_eq(weft_notified(n), -EPERM);
    weft_notify_free(n);
}

/* ------------------------------------------------------------------------ */
/* Task groups                                                              */
/* ------------------------------------------------------------------------ */

typedef struct member_arg {
    uint64_t sleep_ns;
    intptr_t value;
    int *unwound; /* counted when it returns cancelled */
} member_arg;

static void *member_body(void *arg)
{
    member_arg *a = arg;
    int rc = weft_sleep(a->sleep_ns);
    if (rc == -ECANCELED && a->unwound)
        (*a->unwound)++;
    return (void *)a->value;
}

/* Results come in the order the members finish, then 0. */
static void *group_order_root(void *arg)
{
    (void)arg;
    weft_group *g = weft_group_new();
    member_arg a[4] = {{WEFT_MS(30), 30, NULL},
                       {WEFT_MS(10), 10, NULL},
                       {WEFT_MS(40), 40, NULL},
                       {WEFT_MS(20), 20, NULL}};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(weft_group_spawn(g, member_body, &a[i]), 0);
    cr_assert_eq(weft_group_len(g), 4);
    void *r;
    int status;
    intptr_t want[] = {10, 20, 30, 40};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(weft_group_join_next_status(g, &r, &status), 1);
        cr_assert_eq((intptr_t)r, want[i]);
        cr_assert_eq(status, 0);
        cr_assert_eq(weft_now(), WEFT_MS(want[i]));
    }
    cr_assert_eq(weft_group_join_next(g, &r), 0, "empty");
    cr_assert_eq(weft_group_len(g), 0);

    /* abort_all: the members stay in the group and end cancelled. */
    int unwound = 0;
    member_arg b = {WEFT_SEC(100), 7, &unwound};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(weft_group_spawn(g, member_body, &b), 0);
    weft_yield();
    weft_group_abort_all(g);
    for (int i = 0; i < 3; i++) {
        r = (void *)1;
        cr_assert_eq(weft_group_join_next_status(g, &r, &status), 1);
        cr_assert_eq(status, -ECANCELED);
        cr_assert_null(r);
    }
    cr_assert_eq(unwound, 3);
    cr_assert_eq(weft_group_join_next(g, NULL), 0);

    /* A join_next that times out collects nothing; the member is kept. */
    member_arg c = {WEFT_MS(50), 5, NULL};
    cr_assert_eq(weft_group_spawn(g, member_body, &c), 0);
    cr_assert_eq(
        weft_timeout(weft_group_join_next_future(g, &r), WEFT_MS(10), NULL),
        -ETIMEDOUT);
    cr_assert_eq(weft_group_len(g), 1);
    r = NULL;
    void *fr;
    cr_assert_eq(
        weft_timeout(weft_group_join_next_future(g, &r), WEFT_MS(100), &fr), 1);
    cr_assert_eq((intptr_t)r, 5);
    weft_group_drop(g);
    return NULL;
}

Test(sync, group_results_in_completion_order)
{
    run_virtual(group_order_root, NULL);
}

/* drop cancels whatever still runs and returns after every member
 * unwound; finished members' results are discarded. */
static void *group_drop_root(void *arg)
{
    (void)arg;
    weft_stats st0, st;
    cr_assert_eq(weft_runtime_stats(&st0), 0);
    int unwound = 0;
    weft_group *g = weft_group_new();
    member_arg a = {WEFT_SEC(100), 1, &unwound};
    member_arg quick = {0, 2, NULL};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(weft_group_spawn(g, member_body, &a), 0);
    cr_assert_eq(weft_group_spawn(g, member_body, &quick), 0);
    weft_sleep(WEFT_MS(1)); /* all started, quick finished */
    /* One more that never started: it never runs, drop_arg is called. */
    cr_assert_eq(weft_group_spawn(g, member_body, &a), 0);
    uint64_t t0 = weft_now();
    weft_group_drop(g);
    cr_assert_eq(weft_now(), t0, "drop does not wait for time");
    cr_assert_eq(unwound, 5, "every started member unwound");
    cr_assert_eq(weft_runtime_stats(&st), 0);
    cr_assert_eq(st.tasks, st0.tasks, "no member task left");
    return NULL;
}

Test(sync, group_drop_cancels_and_waits) { run_virtual(group_drop_root, NULL); }

static int drop_arg_calls;
static void count_drop_arg(void *arg)
{
    (void)arg;
    drop_arg_calls++;
}

/* The owner of a group is an async block that times out: the block drops
 * its group while it is being cancelled, and when weft_timeout returns
 * every member has unwound. */
typedef struct owner_ctx {
    int unwound;
    int spawned;
} owner_ctx;

static void *group_owner(void *arg)
{
    owner_ctx *c = arg;
    weft_group *g = weft_group_new();
    static member_arg a;
    a = (member_arg){WEFT_SEC(100), 1, &c->unwound};
    for (int i = 0; i < 4; i++)
        if (weft_group_spawn(g, member_body, &a) == 0)
            c->spawned++;
    void *r;
    while (weft_group_join_next(g, &r) > 0) {
    }
    /* Cancelled now; one more member, which never starts. */
    weft_spawn_opts o = {.drop_arg = count_drop_arg};
    weft_group_spawn_with(g, &o, member_body, &a);
    weft_group_drop(g); /* after join_next returned -ECANCELED */
    return NULL;
}

static void *group_timeout_root(void *arg)
{
    (void)arg;
    owner_ctx c = {0};
    drop_arg_calls = 0;
    weft_stats st0, st;
    weft_runtime_stats(&st0);
    /* The members start in this turn: the block's join_next waits. */
    cr_assert_eq(weft_timeout(weft_async(group_owner, &c), WEFT_MS(10), NULL),
                 -ETIMEDOUT);
    cr_assert_eq(c.spawned, 4);
    cr_assert_eq(c.unwound, 4,
                 "all members unwound before the timeout "
                 "returned");
    cr_assert_eq(drop_arg_calls, 1);
    weft_runtime_stats(&st);
    cr_assert_eq(st.tasks, st0.tasks);
    return NULL;
}

Test(sync, group_dropped_by_timed_out_owner_leaves_nothing)
{
    run_virtual(group_timeout_root, NULL);
}

static void *group_join_stuck(void *arg)
{
    (void)arg;
    weft_group *g = weft_group_new();
    weft_notify *n = weft_notify_new();
    cr_assert_eq(weft_group_spawn(g, nt_stuck, n), 0);
    cr_assert_eq(weft_group_spawn(g, nt_stuck, n), 0);
    cr_assert_eq(weft_group_join_next(g, NULL), -ECANCELED);
    weft_group_drop(g);
    weft_notify_free(n);
    return NULL;
}

Test(sync, group_deadlock_is_reported)
{
    char *err;
    int rc = run_capture(group_join_stuck, NULL, &err);
    cr_assert_eq(rc, -EDEADLK, "rc %d, stderr: %s", rc, err);
    cr_assert_not_null(strstr(err, "waits on: task group 0x"), "%s", err);
    cr_assert_not_null(strstr(err, "(2 tasks)"), "%s", err);
    free(err);
}

static void *group_misuse_root(void *arg)
{
    (void)arg;
    cr_assert_eq(weft_group_spawn(NULL, member_body, NULL), -EINVAL);
    cr_assert_eq(weft_group_join_next(NULL, NULL), -EINVAL);
    errno = 0;
    cr_assert_null(weft_group_join_next_future(NULL, NULL));
    cr_assert_eq(errno, EINVAL);
    weft_group_abort_all(NULL);
    weft_group_drop(NULL);
    cr_assert_eq(weft_group_len(NULL), 0);
    weft_group *g = weft_group_new();
    drop_arg_calls = 0;
    weft_spawn_opts o = {.drop_arg = count_drop_arg};
    cr_assert_eq(weft_group_spawn_with(g, &o, NULL, NULL), -EINVAL);
    cr_assert_eq(drop_arg_calls, 1);
    cr_assert_eq(weft_group_join_next(g, NULL), 0);
    weft_group_drop(g);
    return NULL;
}

Test(sync, group_misuse)
{
    errno = 0;
    cr_assert_null(weft_group_new());
    cr_assert_eq(errno, EPERM);
    run_virtual(group_misuse_root, NULL);
}

/* ------------------------------------------------------------------------ */
/* The worker-pool example                                                  */
/* ------------------------------------------------------------------------ */

Test(sync, worker_pool_example)
{
    FILE *p =
        popen("WEFT_CLOCK=virtual " WEFT_EXAMPLES_DIR "/worker_pool", "r");
    cr_assert_not_null(p);
    char out[4096];
    size_t len = fread(out, 1, sizeof out - 1, p);
    out[len] = '\0';
    int st = pclose(p);
    cr_assert_eq(st, 0, "exit status %d, output:\n%s", st, out);
    cr_assert_not_null(strstr(out, "20 jobs, total 210"), "%s", out);
}

/* A member that drops its own group: reported, the members (itself
 * included) are cancelled, nothing is freed; the owner drops it later. */
static weft_group *self_group;

static void *self_dropper(void *arg)
{
    (void)arg;
    weft_group_drop(self_group);
    cr_assert_eq(weft_is_cancelled(), 1);
    return NULL;
}

static void *group_self_drop_root(void *arg)
{
    (void)arg;
    int unwound = 0;
    member_arg a = {WEFT_SEC(100), 1, &unwound};
    self_group = weft_group_new();
    cr_assert_eq(weft_group_spawn(self_group, member_body, &a), 0);
    cr_assert_eq(weft_group_spawn(self_group, self_dropper, NULL), 0);
    int status[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(weft_group_join_next_status(self_group, NULL, &status[i]),
                     1);
    cr_assert_eq(status[0], -ECANCELED);
    cr_assert_eq(status[1], -ECANCELED);
    cr_assert_eq(unwound, 1);
    weft_group_drop(self_group);
    return NULL;
}

Test(sync, group_dropped_by_its_own_member_is_reported)
{
    char *err;
    int rc = run_capture(group_self_drop_root, NULL, &err);
    cr_assert_eq(rc, 0, "stderr: %s", err);
    cr_assert_not_null(strstr(err, "called from its member task"), "%s", err);
    free(err);
}
