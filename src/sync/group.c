/*
 * group.c - task groups: tokio's JoinSet, Trio's nursery, libdill's bundle.
 *
 * A group owns the tasks spawned into it.  Each member is a task whose
 * handle the group keeps (t->joining, so nobody else joins or detaches it)
 * with a member node whose waker is the task's join waker: when the task
 * dies, weft__task_finished calls it, and the node moves from g->running to
 * g->done, in completion order, and wakes the join_next waiting, if any.
 * join_next takes the first node of g->done and frees the task as a join
 * does.
 *
 * weft_group_drop cancels every member still running and drives each one
 * itself (weft__co_resume from the dropping coroutine) until it has
 * returned, then frees the group: it does not wait for the scheduler, so it
 * also works while its caller is itself being cancelled and unwound (a
 * group owned by an async block that lost a race or timed out): a cancelled
 * task returns from every suspending call at once, so driving it ends.
 *
 * Everything here runs on the group's runtime thread: a group is [task].
 */
#include "util/alloc.h"
#include "sched/core.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define GROUP_MAGIC 0x67727570U /* "grup" */
#define GROUP_FREED 0x67646564U /* "gded" */

struct weft_group {
    unsigned magic;
    int dropping;
    weft__rt *rt;
    weft__link running;       /* members not yet finished */
    weft__link done;          /* finished, not collected: completion order */
    size_t nrunning;          /* on running */
    weft__waker *joiner;      /* the join_next waiting, if any */
    const void *joiner_owner; /* which join_next */
};

typedef struct member {
    weft__waker waker; /* first: the task's join waker */
    weft__link link;   /* on g->running, then g->done */
    weft_task *task;
    weft_group *g;
} member;

static void member_wake(weft__waker *w)
{
    member *m = (member *)w;
    weft_group *g = m->g;
    weft__list_remove(&m->link);
    weft__list_push(&g->done, &m->link);
    g->nrunning--;
    weft__waker *j = g->joiner;
    g->joiner = NULL;
    g->joiner_owner = NULL;
    if (j)
        weft__wake(j);
}

/* The group if it is valid and belongs to the calling runtime; else NULL
 * with *err set. */
static weft__rt *group_rt(const weft_group *g, int *err)
{
    if (!g || g->magic != GROUP_MAGIC) {
        *err = -EINVAL;
        return NULL;
    }
    weft__rt *rt = weft__rt_here();
    if (!rt || rt != g->rt) {
        *err = -EPERM;
        return NULL;
    }
    return rt;
}

weft_group *weft_group_new(void)
{
    weft__rt *rt = weft__rt_here();
    if (!rt) {
        errno = EPERM;
        return NULL;
    }
    weft_group *g = weft__calloc(1, sizeof *g);
    if (!g) {
        errno = ENOMEM;
        return NULL;
    }
    g->magic = GROUP_MAGIC;
    g->rt = rt;
    weft__list_init(&g->running);
    weft__list_init(&g->done);
    return g;
}

int weft_group_spawn_with(weft_group *g, const weft_spawn_opts *opts,
                          weft_fn *fn, void *arg)
{
    int rc = 0;
    weft__rt *rt = group_rt(g, &rc);
    if (rt && !fn)
        rc = -EINVAL;
    else if (rt && g->dropping)
        rc = -ECANCELED;
    member *m = rc == 0 ? weft__malloc(sizeof *m) : NULL;
    if (!m) {
        if (opts && opts->drop_arg)
            opts->drop_arg(arg);
        return rc ? rc : -ENOMEM;
    }
    weft_task *t = weft__task_new(rt, opts, fn, arg, 0);
    if (!t) { /* drop_arg was called */
        weft__free(m);
        return -errno;
    }
    m->waker.wake = member_wake;
    m->task = t;
    m->g = g;
    weft__list_init(&m->link);
    t->joining = 1;
    t->join_waker = &m->waker;
    weft__list_push(&g->running, &m->link);
    g->nrunning++;
    return 0;
}

int weft_group_spawn(weft_group *g, weft_fn *fn, void *arg)
{
    return weft_group_spawn_with(g, NULL, fn, arg);
}

/* Frees a finished member and its task; returns the task's status and
 * stores its result (NULL unless it returned normally). */
static int collect(member *m, void **result)
{
    weft_task *t = m->task;
    int status = t->co.status;
    void *r = status == 0 ? t->co.result : NULL;
    weft__list_remove(&m->link);
    t->join_waker = NULL;
    t->joining = 0;
    t->result_taken = 1;
    weft__task_detach_internal(t); /* frees it: it is dead */
    weft__free(m);
    if (result)
        *result = r;
    return status;
}

/* ---- join_next: a leaf future ------------------------------------------- */

typedef struct join_future {
    weft_future base;
    weft__future_ops ops; /* a copy whose `what` is this wait's text */
    weft_group *g;
    void **result;
    int *status;
    char what[64];
} join_future;

static int join_poll(weft_future *f, weft__rt *rt, weft__waker *w)
{
    join_future *jf = (join_future *)f;
    weft_group *g = jf->g;
    (void)rt;
    int rc;
    if (!weft__list_empty(&g->done)) {
        member *m = weft__container(g->done.next, member, link);
        void *r;
        int status = collect(m, &r);
        if (jf->result)
            *jf->result = r;
        if (jf->status)
            *jf->status = status;
        rc = 1;
    } else if (weft__list_empty(&g->running)) {
        rc = 0;
    } else if (g->joiner && g->joiner_owner != jf) {
        rc = -EBUSY; /* another join_next is waiting on this group */
    } else {
        g->joiner = w;
        g->joiner_owner = jf;
        snprintf(jf->what, sizeof jf->what, "task group %p (%zu task%s)",
                 (void *)g, g->nrunning, g->nrunning == 1 ? "" : "s");
        return 0;
    }
    if (g->joiner_owner == jf) {
        g->joiner = NULL;
        g->joiner_owner = NULL;
    }
    f->status = rc;
    f->result = (void *)(intptr_t)rc;
    return 1;
}

static int join_cancel(weft_future *f, weft__rt *rt)
{
    join_future *jf = (join_future *)f;
    (void)rt;
    if (jf->g->magic == GROUP_MAGIC && jf->g->joiner_owner == jf) {
        jf->g->joiner = NULL;
        jf->g->joiner_owner = NULL;
    }
    return 0; /* a join takes a member only when polled ready */
}

static void join_cleanup(weft_future *f) { join_cancel(f, NULL); }

static const weft__future_ops join_ops = {
    .what = "task group join",
    .poll = join_poll,
    .cancel = join_cancel,
    .cleanup = join_cleanup,
};

static void join_init(join_future *jf, weft_group *g, void **result,
                      int *status)
{
    memset(jf, 0, sizeof *jf);
    jf->ops = join_ops;
    jf->ops.what = jf->what;
    snprintf(jf->what, sizeof jf->what, "task group %p", (void *)g);
    jf->base.ops = &jf->ops;
    jf->base.magic = WEFT__FUTURE_MAGIC;
    jf->g = g;
    jf->result = result;
    jf->status = status;
}

int weft_group_join_next_status(weft_group *g, void **result, int *status)
{
    int rc = 0;
    weft__rt *rt = group_rt(g, &rc);
    if (!rt)
        return rc;
    join_future jf;
    join_init(&jf, g, result, status);
    rc = weft__await_leaf(rt, &jf.base);
    join_cancel(&jf.base, rt);
    return rc;
}

int weft_group_join_next(weft_group *g, void **result)
{
    return weft_group_join_next_status(g, result, NULL);
}

weft_future *weft_group_join_next_future(weft_group *g, void **result)
{
    int rc = 0;
    if (!group_rt(g, &rc)) {
        errno = -rc;
        return NULL;
    }
    join_future *jf = weft__malloc(sizeof *jf);
    if (!jf) {
        errno = ENOMEM;
        return NULL;
    }
    join_init(jf, g, result, NULL);
    return &jf->base;
}

/* ---- abort and drop ----------------------------------------------------- */

size_t weft_group_len(const weft_group *g)
{
    int rc = 0;
    if (!group_rt(g, &rc))
        return 0;
    size_t n = g->nrunning;
    for (const weft__link *l = g->done.next; l != &g->done; l = l->next)
        n++;
    return n;
}

void weft_group_abort_all(weft_group *g)
{
    int rc = 0;
    weft__rt *rt = group_rt(g, &rc);
    if (!rt)
        return;
    for (weft__link *l = g->running.next; l != &g->running; l = l->next)
        weft__task_cancel(rt, weft__container(l, member, link)->task);
}

void weft_group_drop(weft_group *g)
{
    int rc = 0;
    weft__rt *rt = group_rt(g, &rc);
    if (!rt) {
        if (rc == -EPERM)
            fprintf(stderr,
                    "weft: weft_group_drop(%p): called outside a "
                    "task of the group's runtime; ignored\n",
                    (void *)g);
        return;
    }
    weft_group_abort_all(g);
    /* A member that is running now is the caller or drives it: it cannot
     * be driven from here. */
    for (weft__link *l = g->running.next; l != &g->running; l = l->next) {
        weft_task *t = weft__container(l, member, link)->task;
        if (t->co.state == WEFT__RUNNING) {
            fprintf(stderr,
                    "weft: weft_group_drop(%p): called from its member "
                    "task '%s' (id %llu); the members are cancelled, the "
                    "group is not freed\n",
                    (void *)g, weft__task_name(t), (unsigned long long)t->id);
            return;
        }
    }
    if (g->joiner) { /* another coroutine waits in join_next on it */
        fprintf(stderr,
                "weft: weft_group_drop(%p): a join_next is waiting on it; "
                "the members are cancelled, the group is not freed\n",
                (void *)g);
        return;
    }
    g->dropping = 1;
    while (!weft__list_empty(&g->running)) {
        weft_task *t = weft__container(g->running.next, member, link)->task;
        while (t->co.state != WEFT__DEAD)
            weft__co_resume(rt, &t->co);
        weft__task_finished(rt, t); /* moves its node to g->done */
    }
    weft__link *next;
    for (weft__link *l = g->done.next; l != &g->done; l = next) {
        next = l->next; /* collect unlinks and frees l's member */
        collect(weft__container(l, member, link), NULL);
    }
    g->magic = GROUP_FREED;
    weft__free(g);
}
