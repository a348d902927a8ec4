/*
 * task.c - task lifecycle: spawn, join, abort, detach, and the task future.
 *
 * A task is on rt->tasks from spawn until it is freed, which happens once it
 * is both DEAD and released (its handle joined or detached); the root task
 * is never released and is freed with the runtime.  While queued it is also
 * on rt->runq (t->queued).  Waking a task queues it unless it is queued or
 * dead; a task woken while running is queued too, so it runs again after it
 * next suspends, as a tokio task woken during its own poll is re-polled.
 *
 * Freed task structs are kept on a per-runtime queue for reuse, with their
 * magic poisoned, so that joining a handle twice is reported (-EINVAL)
 * rather than followed -- until the struct is reused, which the queue
 * delays for as long as it can (first freed, first reused; see SLAB_MIN).
 */
#include "util/alloc.h"
#include "sched/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Task structs come from slabs, never returned before the runtime ends: a
 * freed struct is queued for reuse (first freed, first reused), so spawning
 * costs no allocation once the runtime has seen its peak number of tasks,
 * and a stale handle meets a poisoned struct for as long as possible.  The
 * memory of the peak is kept until weft_run returns.
 *
 * A slab is its own mapping, populated when it is made (MAP_POPULATE): on a
 * virtual machine a page first touched by the program costs ~1.5 us in the
 * fault, ~1 us when the kernel fills it in one go.  Slabs double from
 * SLAB_MIN up to SLAB_MAX bytes, so a runtime with few tasks maps 16 KiB and
 * at most one slab of up to 1 MiB (~4,800 structs) is populated ahead of
 * use. */
#define SLAB_MIN ((size_t)16 << 10)
#define SLAB_MAX ((size_t)1 << 20)

typedef struct weft__task_slab {
    struct weft__task_slab *next;
    size_t bytes; /* length of the mapping */
    size_t count; /* structs in it */
    weft_task tasks[];
} weft__task_slab;

/* Queues t unless it is queued, finished or a blocking job; 1 if it did. */
static inline int task_queue(weft_task *t)
{
    if (t->queued || t->co.state == WEFT__DEAD || t->blocking)
        return 0;
    t->queued = 1;
    /* Before rt->wake_at: the tail of the run queue; the queue's head while
     * the timers fire (what a timer wakes runs next); rt->yielded in
     * weft__wake_behind. */
    weft__list_push(t->rt->wake_at, &t->runq);
    return 1;
}

static void task_wake(weft__waker *w)
{
    task_queue(weft__container(w, weft_task, waker));
}

/* The waker of tasks of a traced runtime (chosen at spawn, so that an
 * untraced runtime's wakes pay nothing): records the flow arrow. */
static void task_wake_traced(weft__waker *w)
{
    weft_task *t = weft__container(w, weft_task, waker);
    /* Read first: emptied at the end of the run, when wakes of dead tasks
     * (task_queue: 0) may still come from the inbox. */
    void (*on_wake)(weft__rt *, weft_task *) = t->rt->hooks.on_wake;
    if (task_queue(t) && on_wake)
        on_wake(t->rt, t);
}

/* Takes t off the task list and releases what it owns but the struct. */
static void task_retire(weft_task *t)
{
    if (t->drop_result && !t->result_taken && t->co.state == WEFT__DEAD &&
        t->co.status == 0)
        t->drop_result(t->co.result); /* nobody will collect it */
    weft__list_remove(&t->all);
    weft__free((char *)t->co.name); /* a task owns its name */
    t->co.name = NULL;
    t->magic = WEFT__TASK_FREED;
}

static void task_free(weft__rt *rt, weft_task *t)
{
    task_retire(t);
    /* Queued at the tail, reused from the head. */
    t->co.arg = NULL; /* reuse a field as the list link */
    if (rt->task_mem.free_tail)
        rt->task_mem.free_tail->co.arg = t;
    else
        rt->task_mem.free = t;
    rt->task_mem.free_tail = t;
    rt->task_mem.free_count++;
}

/* A task struct: a freed one, or the next of the current slab. */
static weft_task *task_alloc(weft__rt *rt)
{
    weft_task *t = rt->task_mem.free;
    if (t) {
        rt->task_mem.free = t->co.arg;
        if (!rt->task_mem.free)
            rt->task_mem.free_tail = NULL;
        rt->task_mem.free_count--;
        return t;
    }
    if (!rt->task_mem.slabs ||
        rt->task_mem.slab_used == rt->task_mem.slabs->count) {
        size_t bytes =
            rt->task_mem.slabs ? rt->task_mem.slabs->bytes * 2 : SLAB_MIN;
        if (bytes > SLAB_MAX)
            bytes = SLAB_MAX;
        weft__task_slab *s =
            weft__mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (s == MAP_FAILED)
            return NULL;
        s->next = rt->task_mem.slabs;
        s->bytes = bytes;
        s->count = (bytes - sizeof *s) / sizeof s->tasks[0];
        rt->task_mem.slabs = s;
        rt->task_mem.slab_used = 0;
    }
    return &rt->task_mem.slabs->tasks[rt->task_mem.slab_used++];
}

weft_task *weft__task_new(weft__rt *rt, const weft_spawn_opts *opts,
                          weft_fn *fn, void *arg, int blocking)
{
    weft_task *t;
    char *name = NULL;
    size_t stack_size = 0;
    if (opts && opts->stack_size) {
        stack_size = weft__stack_round(&rt->stacks.pool, opts->stack_size);
        if (!stack_size) {
            errno = EINVAL;
            goto fail;
        }
    }
    if (opts && opts->name && !(name = weft__name_copy(opts->name)))
        goto fail_nomem;
    if (!(t = task_alloc(rt))) {
        weft__free(name);
        goto fail_nomem;
    }
    /* Every field, one by one: a memset of the whole struct compiles to a
     * rep stos, slow to start for a couple of hundred bytes. */
    weft__co *co = &t->co;
    co->ctx = (weft__ctx){0};
    co->stack = NULL;
    co->resumer = NULL;
    co->parent = NULL;
    co->waker = &t->waker;
    co->task = t;
    co->fn = fn;
    co->arg = arg;
    co->result = NULL;
    co->drop_arg = opts ? opts->drop_arg : NULL;
    co->stack_size = stack_size;
    co->name = name;
    co->wait = NULL;
    co->wait_obj = NULL;
    co->status = 0;
    co->saved_errno = 0;
    co->wait_kind = 0;
    co->state = WEFT__FRESH;
    co->cancel = 0;
    co->cancel_seen = 0;
#ifdef WEFT__ASAN
    co->asan_fake_stack = NULL;
#endif
#ifdef WEFT__TSAN
    co->tsan_fiber = NULL;
#endif
    t->magic = WEFT__TASK_MAGIC;
    t->queued = 0;
    t->released = 0;
    t->joining = 0;
    t->blocking = 0;
    t->job_taken = 0;
    t->result_taken = 0;
    t->handed = 0;
    t->rt = rt;
    t->id = rt->next_id++;
    t->waker.wake = rt->hooks.on_wake ? task_wake_traced : task_wake;
    t->join_waker = NULL;
    t->drop_result = NULL;
    weft__list_init(&t->runq);
    weft__list_push(&rt->tasks, &t->all);
    rt->live++;
    rt->stats.spawned++;
    t->blocking = blocking;
    if (blocking)
        return t;
    if (rt->shutting_down)
        t->co.cancel = 1; /* spawned while unwinding: never runs */
    task_wake(&t->waker);
    return t;
fail_nomem:
    errno = ENOMEM;
fail:
    if (opts && opts->drop_arg)
        opts->drop_arg(arg);
    return NULL;
}

void weft__task_finished(weft__rt *rt, weft_task *t)
{
    rt->live--;
    rt->stats.finished++;
    weft__co_release(rt, &t->co);
    if (t->queued)
        weft__runq_take(rt, t);
    if (t->join_waker && !t->blocking)
        weft__wake_hand(rt, t->join_waker); /* the joiner runs next */
    else if (t->join_waker)
        weft__wake(t->join_waker); /* a job's end comes from the inbox */
    if (t == rt->root)
        weft__shutdown(rt);
    else if (t->released)
        task_free(rt, t);
}

void weft__task_free_all(weft__rt *rt)
{
    weft__link *next;
    for (weft__link *l = rt->tasks.next; l != &rt->tasks; l = next) {
        next = l->next;
        task_retire(weft__container(l, weft_task, all));
    }
    while (rt->task_mem.slabs) {
        weft__task_slab *s = rt->task_mem.slabs;
        rt->task_mem.slabs = s->next;
        munmap(s, s->bytes);
    }
    rt->task_mem.free = rt->task_mem.free_tail = NULL;
    rt->task_mem.free_count = 0;
}

static int task_check(weft__rt *rt, const weft_task *t)
{
    if (!t || t->magic != WEFT__TASK_MAGIC || t->released)
        return -EINVAL;
    if (t->rt != rt)
        return -EPERM;
    return 0;
}

weft_task *weft_spawn_with(const weft_spawn_opts *opts, weft_fn *fn, void *arg)
{
    weft__rt *rt = weft__rt_here();
    int err = !fn ? EINVAL : !rt ? EPERM : 0;
    if (err) {
        if (opts && opts->drop_arg)
            opts->drop_arg(arg);
        errno = err;
        return NULL;
    }
    return weft__task_new(rt, opts, fn, arg, 0);
}

weft_task *weft_spawn(weft_fn *fn, void *arg)
{
    return weft_spawn_with(NULL, fn, arg);
}

void weft__task_detach_internal(weft_task *t)
{
    t->released = 1;
    if (t->co.state == WEFT__DEAD && t != t->rt->root)
        task_free(t->rt, t);
}

void weft_task_detach(weft_task *task)
{
    weft__rt *rt = weft__rt_here();
    if (task_check(rt, task) == 0 && !task->joining)
        weft__task_detach_internal(task);
}

void weft__task_cancel(weft__rt *rt, weft_task *t)
{
    if (t->co.state == WEFT__DEAD || t->co.cancel)
        return;
    if (t->blocking) {
        weft__blocking_cancel(rt, t); /* only if it has not started */
        return;
    }
    t->co.cancel = 1;
    weft__wake(&t->waker); /* so it observes the cancellation */
}

void weft_task_abort(weft_task *task)
{
    weft__rt *rt = weft__rt_here();
    if (task_check(rt, task) == 0)
        weft__task_cancel(rt, task);
}

int weft_task_is_finished(const weft_task *task)
{
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    int rc = task_check(rt, task);
    return rc ? rc : task->co.state == WEFT__DEAD;
}

int weft_is_cancelled(void)
{
    weft__rt *rt = weft__rt_here();
    return rt ? weft__cancel_point(rt->current) : 0;
}

/* ---- joining: the task future ------------------------------------------ */

typedef struct weft__task_future {
    weft_future base;
    weft_task *task;
} weft__task_future;

static int task_poll(weft_future *f, weft__rt *rt, weft__waker *w)
{
    weft__task_future *tf = (weft__task_future *)f;
    weft_task *t = tf->task;
    if (t->co.state != WEFT__DEAD) {
        t->join_waker = w;
        return 0;
    }
    t->join_waker = NULL;
    t->result_taken = 1;
    f->status = t->co.status;
    f->result = f->status == 0 ? t->co.result : (void *)(intptr_t)f->status;
    tf->task = NULL;
    t->joining = 0;
    (void)rt;
    weft__task_detach_internal(t); /* frees it: it is dead */
    return 1;
}

static int task_cancel(weft_future *f, weft__rt *rt)
{
    weft__task_future *tf = (weft__task_future *)f;
    (void)rt;
    if (tf->task)
        tf->task->join_waker = NULL;
    return 0;
}

/* Dropping an unfinished join detaches the task, as dropping a JoinHandle
 * does in tokio: the task keeps running. */
static void task_cleanup(weft_future *f)
{
    weft__task_future *tf = (weft__task_future *)f;
    weft_task *t = tf->task;
    if (t) {
        t->join_waker = NULL;
        t->joining = 0;
        tf->task = NULL;
        weft__task_detach_internal(t);
    }
}

static void task_describe(const weft_future *f, weft__rt *rt, char *buf,
                          size_t n)
{
    (void)rt;
    const weft_task *t = ((const weft__task_future *)f)->task;
    if (!t)
        snprintf(buf, n, "task join");
    else if (t->co.name)
        snprintf(buf, n, "task join of task %llu '%s'",
                 (unsigned long long)t->id, t->co.name);
    else
        snprintf(buf, n, "task join of task %llu", (unsigned long long)t->id);
}

static const weft__future_ops task_ops = {
    .what = "task join",
    .poll = task_poll,
    .cancel = task_cancel,
    .cleanup = task_cleanup,
    .describe = task_describe,
};

static void task_future_init(weft__task_future *f, weft_task *t)
{
    memset(f, 0, sizeof *f);
    f->base.ops = &task_ops;
    f->base.magic = WEFT__FUTURE_MAGIC;
    f->task = t;
    t->joining = 1;
}

int weft_task_join(weft_task *task, void **result)
{
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    int rc = task_check(rt, task);
    if (rc)
        return rc;
    if (task->joining)
        return -EINVAL; /* already being joined */
    if (task == rt->current->task || task == rt->root)
        return -EDEADLK; /* it would wait for itself */
    if (task->queued && task->co.state == WEFT__FRESH)
        weft__runq_hand(rt, task); /* not started: it runs next */
    weft__task_future f;
    task_future_init(&f, task);
    rc = weft__await_leaf(rt, &f.base);
    if (rc == 0 && result)
        *result = f.base.result;
    task_cleanup(&f.base);
    return rc;
}

weft_future *weft_task_future(weft_task *task)
{
    weft__rt *rt = weft__rt_here();
    int rc = rt ? task_check(rt, task) : -EPERM;
    if (rc == 0 && task->joining)
        rc = -EINVAL;
    if (rc) {
        errno = -rc;
        return NULL;
    }
    weft__task_future *f = weft__malloc(sizeof *f);
    if (!f) {
        weft__task_detach_internal(task); /* consumed, as documented */
        errno = ENOMEM;
        return NULL;
    }
    task_future_init(f, task);
    return &f->base;
}

char *weft__name_copy(const char *name)
{
    size_t n = strnlen(name, WEFT__NAME_MAX + 1);
    if (n > WEFT__NAME_MAX) {
        n = WEFT__NAME_MAX;
        while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
            n--; /* name[n] continues a character: cut before it */
    }
    char *p = weft__malloc(n + 1);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    memcpy(p, name, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == 0x7f)
            p[i] = '?';
    }
    p[n] = 0;
    return p;
}

const char *weft__task_name(const weft_task *t)
{
    return t->co.name ? t->co.name : "";
}
