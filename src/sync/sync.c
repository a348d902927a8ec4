/*
 * sync.c - semaphores, mutexes and notifies (tokio::sync) as leaf futures.
 *
 * The three share one wait queue.  An object has a lock (util/lock.h), a
 * FIFO of waiters and its own state (free permits; the holder; one stored
 * notification).  A waiter is a leaf future, on the waiting coroutine's
 * stack for the blocking forms, on the heap for the future forms:
 *
 *   IDLE --poll, not ready--> WAITING --grant--> GRANTED --poll--> DONE
 *     \--poll, ready--> DONE      \--cancel--> GONE   \--cancel--> GONE
 *
 * A grant happens under the object's lock, by whoever makes the object
 * ready (a release, an unlock, a notify, or a cancel that lets the next
 * waiter go): it takes the waiter off the queue, gives it what it waited
 * for (the permits are taken, the mutex's holder is set) and wakes it:
 * directly on the waiter's own runtime thread (after unlocking), through
 * the waiter's runtime inbox from any other thread (weft__post under the
 * object's lock, as chan.c does: a runtime cancels every waiter before it
 * ends, so the target runtime cannot be gone).  A waiter whose node is on
 * an inbox drains that inbox before it completes or is cancelled, so the
 * node never outlives the waiter.
 *
 * Nothing is lost on cancellation: a WAITING waiter leaves the queue (and
 * the waiter behind it may now be served: a large request at the head no
 * longer blocks smaller ones); a GRANTED one gives back what it was given
 * (permits are released again, the mutex passes to the next waiter, a
 * notify_one notification goes to the next waiter or is stored, as tokio
 * forwards a dropped Notified's notification).
 *
 * Fairness (tokio's Semaphore and Mutex are fair): permits and the mutex are
 * handed to the head waiter only; a request never overtakes a queued one,
 * try_acquire and try_lock included.
 *
 * Deadlock detection: a waiting waiter is on its runtime's rt->sync.waits
 * (touched by that runtime's thread only).  An object is "shared" when it
 * was created outside a runtime, used from a thread other than the one
 * whose runtime created it, or marked with weft_semaphore_share /
 * weft_notify_share; a wait on a shared object is a wake source outside
 * the runtime (weft__sync_external_waits).
 *
 * The reports (deadlock, weft_dump) put a wait into words through the
 * future ops' describe hook ("semaphore 0x... (2 permits)"), formatted only
 * when a report asks: a wait formats nothing.
 */
#include "util/alloc.h"
#include "sync/sync.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define SEM_MAGIC        0x73656d61U /* "sema" */
#define MUTEX_MAGIC      0x6d757478U /* "mutx" */
#define NOTIFY_MAGIC     0x6e6f7466U /* "notf" */
#define SYNC_FREED_MAGIC 0x66726565U /* "free" */

enum { K_SEM, K_MUTEX, K_NOTIFY };

typedef struct sync_obj {
    weft__lock lock;
    unsigned magic;
    int kind;
    int shared;       /* waits on it are wake sources outside a runtime */
    weft__rt *home;   /* runtime of the creating thread, or NULL */
    weft__link queue; /* waiters, first come first */
} sync_obj;

struct weft_semaphore {
    sync_obj o;
    size_t permits; /* free, not granted to anyone */
};

struct weft_mutex {
    sync_obj o;
    int locked;
    weft__rt *owner_rt; /* the holder: a task of this runtime ... */
    uint64_t owner_id;  /* ... with this id */
};

struct weft_notify {
    sync_obj o;
    int permit;   /* one stored notify_one */
    uint64_t gen; /* notify_all calls so far */
};

enum { W_IDLE, W_WAITING, W_GRANTED, W_DONE, W_GONE };
enum { BY_ONE = 1, BY_ALL = 2 }; /* how a notify waiter was granted */

typedef struct waiter {
    weft_future base;
    sync_obj *obj;
    weft__link link; /* in obj->queue while WAITING; then a local list */
    weft__link reg;  /* in rt->sync.waits while WAITING (rt's thread) */
    weft__waker *waker;
    weft__rt *rt;      /* the runtime of the waiting coroutine */
    weft__remote post; /* a grant from another thread */
    size_t n;          /* permits wanted */
    uint64_t gen;      /* notify: gen when the waiter was made */
    uint64_t task_id;  /* mutex: the task that polled it */
    int state;         /* W_* */
    int how;           /* notify: BY_ONE or BY_ALL */
    int posted;        /* post not yet run (under the lock) */
} waiter;

/* ---- the wait queue ----------------------------------------------------- */

static void obj_init(sync_obj *o, unsigned magic, int kind)
{
    weft__lock_init(&o->lock);
    o->magic = magic;
    o->kind = kind;
    o->home = weft__tls_rt;
    o->shared = o->home == NULL;
    weft__list_init(&o->queue);
}

/* A use from a thread other than the home runtime's.  Lock held. */
static void note_thread(sync_obj *o)
{
    if (weft__tls_rt != o->home)
        o->shared = 1;
}

static void misuse(const char *fn, const void *obj, const char *what)
{
    fprintf(stderr, "weft: %s(%p): %s; ignored\n", fn, obj, what);
    fflush(stderr);
}

/* Ends w's wait with a grant, the lock held: a waiter of this thread's
 * runtime goes to local, to be woken after unlocking; another runtime's
 * is woken through its inbox. */
static void grant(waiter *w, weft__link *local)
{
    weft__list_remove(&w->link);
    w->state = W_GRANTED;
    if (w->rt == weft__tls_rt) {
        weft__list_remove(&w->reg);
        weft__list_push(local, &w->link);
        return;
    }
    w->posted = 1;
    weft__post(w->rt, &w->post);
}

static void wake_local(weft__link *local)
{
    while (!weft__list_empty(local)) {
        waiter *w = weft__container(local->next, waiter, link);
        weft__list_remove(&w->link);
        weft__wake(w->waker);
    }
}

/* Runs on the waiter's runtime: the grant another thread posted. */
static void waiter_posted(weft__rt *rt, weft__remote *r)
{
    waiter *w = weft__container(r, waiter, post);
    (void)rt;
    weft__lock_acquire(&w->obj->lock);
    w->posted = 0;
    weft__waker *wk = w->state == W_GRANTED ? w->waker : NULL;
    weft__lock_release(&w->obj->lock);
    if (wk)
        weft__wake(wk);
}

static waiter *head(sync_obj *o)
{
    return weft__list_empty(&o->queue)
               ? NULL
               : weft__container(o->queue.next, waiter, link);
}

static void notify_one_locked(weft_notify *n, weft__link *local)
{
    waiter *w = head(&n->o);
    if (!w) {
        n->permit = 1;
        return;
    }
    w->how = BY_ONE;
    grant(w, local);
}

/* Serves the queue from its head as far as the object allows.  Lock
 * held. */
static void dispatch(sync_obj *o, weft__link *local)
{
    waiter *w;
    if (o->kind == K_SEM) {
        weft_semaphore *s = (weft_semaphore *)o;
        while ((w = head(o)) && s->permits >= w->n) {
            s->permits -= w->n;
            grant(w, local);
        }
    } else if (o->kind == K_MUTEX) {
        weft_mutex *m = (weft_mutex *)o;
        if (!m->locked && (w = head(o))) {
            m->locked = 1;
            m->owner_rt = w->rt;
            m->owner_id = w->task_id;
            grant(w, local);
        }
    }
}

/* Takes at once what w wants, if nobody waits ahead of it.  Lock held. */
static int try_take(sync_obj *o, waiter *w, weft__rt *rt)
{
    if (o->kind == K_SEM) {
        weft_semaphore *s = (weft_semaphore *)o;
        if (w->n == 0)
            return 1; /* nothing to wait for, not even a queue */
        if (!weft__list_empty(&o->queue) || s->permits < w->n)
            return 0;
        s->permits -= w->n;
        return 1;
    }
    if (o->kind == K_MUTEX) {
        weft_mutex *m = (weft_mutex *)o;
        if (m->locked) /* unlocked implies nobody waits: see dispatch */
            return 0;
        m->locked = 1;
        m->owner_rt = rt;
        m->owner_id = w->task_id;
        return 1;
    }
    weft_notify *n = (weft_notify *)o;
    if (n->permit) {
        n->permit = 0;
        return 1;
    }
    return w->gen != n->gen; /* a notify_all since the waiter was made */
}

/* Gives back what a granted waiter got.  Lock held. */
static void give_back(sync_obj *o, waiter *w, weft__link *local)
{
    if (o->kind == K_SEM) {
        ((weft_semaphore *)o)->permits += w->n;
        dispatch(o, local);
    } else if (o->kind == K_MUTEX) {
        ((weft_mutex *)o)->locked = 0;
        dispatch(o, local);
    } else if (w->how == BY_ONE) {
        notify_one_locked((weft_notify *)o, local);
    }
}

/* For the reports: reads w->obj and w->n, fixed from waiter_init on. */
static void sync_describe(const weft_future *f, weft__rt *rt, char *buf,
                          size_t n)
{
    const waiter *w = (const waiter *)f;
    (void)rt;
    if (w->obj->kind == K_SEM)
        snprintf(buf, n, "semaphore %p (%zu permit%s)", (void *)w->obj, w->n,
                 w->n == 1 ? "" : "s");
    else
        snprintf(buf, n, "%s %p", f->ops->what, (void *)w->obj);
}

static int ready(weft_future *f, int status)
{
    f->status = status;
    f->result = (void *)(intptr_t)status;
    return 1;
}

static int sync_poll(weft_future *f, weft__rt *rt, weft__waker *wk)
{
    waiter *w = (waiter *)f;
    sync_obj *o = w->obj;
    weft__lock_acquire(&o->lock);
    switch (w->state) {
    case W_IDLE:
        if (rt != o->home)
            o->shared = 1;
        w->task_id = rt->current->task ? rt->current->task->id : 0;
        if (try_take(o, w, rt)) {
            w->state = W_DONE;
            weft__lock_release(&o->lock);
            return ready(f, 0);
        }
        w->state = W_WAITING;
        w->waker = wk;
        w->rt = rt;
        weft__list_push(&o->queue, &w->link);
        weft__list_push(&rt->sync.waits, &w->reg);
        weft__lock_release(&o->lock);
        return 0;
    case W_WAITING:
        w->waker = wk;
        weft__lock_release(&o->lock);
        return 0;
    case W_GRANTED: {
        int posted = w->posted;
        w->state = W_DONE;
        weft__list_remove(&w->reg); /* if granted from another thread */
        weft__lock_release(&o->lock);
        if (posted)
            weft__inbox_drain(rt); /* our node is on this runtime's inbox */
        return ready(f, 0);
    }
    default: /* DONE, GONE: not polled again by the protocol */
        weft__lock_release(&o->lock);
        return ready(f, f->status);
    }
}

/* Withdraws w: a waiting one leaves the queue, a granted one gives back
 * what it got.  It then holds nothing: -ECANCELED, never a late success. */
static int sync_cancel(weft_future *f, weft__rt *rt)
{
    waiter *w = (waiter *)f;
    sync_obj *o = w->obj;
    weft__link local;
    weft__list_init(&local);
    weft__lock_acquire(&o->lock);
    if (w->state == W_WAITING) {
        weft__list_remove(&w->link);
        dispatch(o, &local); /* the next may go now */
    } else if (w->state == W_GRANTED) {
        give_back(o, w, &local);
    }
    weft__list_remove(&w->reg); /* this thread's runtime's list */
    int posted = w->posted;
    w->state = W_GONE;
    weft__lock_release(&o->lock);
    wake_local(&local);
    if (posted)
        weft__inbox_drain(rt);
    return 0;
}

/* A heap future freed without having been cancelled (the protocol
 * cancels every started, unfinished future first): withdraw it all the
 * same.  The state is read under the lock: a grant may be changing it. */
static void sync_cleanup(weft_future *f)
{
    waiter *w = (waiter *)f;
    weft__lock_acquire(&w->obj->lock);
    int pending = w->state == W_WAITING || w->state == W_GRANTED;
    weft__lock_release(&w->obj->lock);
    if (pending && weft__tls_rt)
        sync_cancel(f, weft__tls_rt);
}

/* One per kind (K_*), so that `what` names the object's kind. */
static const weft__future_ops sync_ops[] = {
    [K_SEM] = {.what = "semaphore",
               .poll = sync_poll,
               .cancel = sync_cancel,
               .cleanup = sync_cleanup,
               .describe = sync_describe},
    [K_MUTEX] = {.what = "mutex",
                 .poll = sync_poll,
                 .cancel = sync_cancel,
                 .cleanup = sync_cleanup,
                 .describe = sync_describe},
    [K_NOTIFY] = {.what = "notify",
                  .poll = sync_poll,
                  .cancel = sync_cancel,
                  .cleanup = sync_cleanup,
                  .describe = sync_describe},
};

static void waiter_init(waiter *w, sync_obj *o, size_t n)
{
    memset(w, 0, sizeof *w);
    w->base.ops = &sync_ops[o->kind];
    w->base.magic = WEFT__FUTURE_MAGIC;
    w->obj = o;
    w->n = n;
    w->post.run = waiter_posted;
    weft__list_init(&w->link);
    weft__list_init(&w->reg);
    if (o->kind == K_NOTIFY) {
        weft__lock_acquire(&o->lock);
        w->gen = ((weft_notify *)o)->gen;
        weft__lock_release(&o->lock);
    }
}

static weft_future *waiter_new(sync_obj *o, size_t n)
{
    waiter *w = weft__malloc(sizeof *w);
    if (!w) {
        errno = ENOMEM;
        return NULL;
    }
    waiter_init(w, o, n);
    return &w->base;
}

/* The blocking form: a waiter on this stack. */
static int wait_here(sync_obj *o, size_t n)
{
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    waiter w;
    waiter_init(&w, o, n);
    return weft__await_leaf(rt, &w.base);
}

/* Frees o unless a task waits on it (then reports and keeps it). */
static void obj_free(sync_obj *o, const char *fn, int busy)
{
    weft__lock_acquire(&o->lock);
    busy = busy || !weft__list_empty(&o->queue);
    weft__lock_release(&o->lock);
    if (busy) {
        misuse(fn, o, "tasks still wait on it (or it is locked); not freed");
        return;
    }
    o->magic = SYNC_FREED_MAGIC;
    weft__free(o);
}

int weft__sync_external_waits(weft__rt *rt)
{
    for (weft__link *l = rt->sync.waits.next; l != &rt->sync.waits;
         l = l->next) {
        sync_obj *o = weft__container(l, waiter, reg)->obj;
        weft__lock_acquire(&o->lock);
        int shared = o->shared;
        weft__lock_release(&o->lock);
        if (shared)
            return 1;
    }
    return 0;
}

/* ---- semaphore ---------------------------------------------------------- */

static int sem_ok(const weft_semaphore *s)
{
    return s && s->o.magic == SEM_MAGIC;
}

weft_semaphore *weft_semaphore_new(size_t permits)
{
    if (permits > WEFT_SEMAPHORE_MAX) {
        errno = EINVAL;
        return NULL;
    }
    weft_semaphore *s = weft__calloc(1, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    obj_init(&s->o, SEM_MAGIC, K_SEM);
    s->permits = permits;
    return s;
}

int weft_semaphore_acquire(weft_semaphore *s, size_t n)
{
    if (!sem_ok(s) || n > WEFT_SEMAPHORE_MAX)
        return -EINVAL;
    return wait_here(&s->o, n);
}

weft_future *weft_semaphore_acquire_future(weft_semaphore *s, size_t n)
{
    if (!sem_ok(s) || n > WEFT_SEMAPHORE_MAX) {
        errno = EINVAL;
        return NULL;
    }
    return waiter_new(&s->o, n);
}

int weft_semaphore_try_acquire(weft_semaphore *s, size_t n)
{
    if (!sem_ok(s) || n > WEFT_SEMAPHORE_MAX)
        return -EINVAL;
    weft__lock_acquire(&s->o.lock);
    note_thread(&s->o);
    int rc = -EAGAIN;
    if (n == 0 || (weft__list_empty(&s->o.queue) && s->permits >= n)) {
        s->permits -= n;
        rc = 0;
    }
    weft__lock_release(&s->o.lock);
    return rc;
}

void weft_semaphore_release(weft_semaphore *s, size_t n)
{
    if (!sem_ok(s))
        return;
    weft__link local;
    weft__list_init(&local);
    weft__lock_acquire(&s->o.lock);
    note_thread(&s->o);
    int over = n > WEFT_SEMAPHORE_MAX - s->permits;
    s->permits = over ? WEFT_SEMAPHORE_MAX : s->permits + n;
    dispatch(&s->o, &local);
    weft__lock_release(&s->o.lock);
    wake_local(&local);
    if (over)
        misuse("weft_semaphore_release", s,
               "more than WEFT_SEMAPHORE_MAX permits; capped");
}

size_t weft_semaphore_available(const weft_semaphore *s)
{
    if (!sem_ok(s))
        return 0;
    weft__lock_acquire((weft__lock *)&s->o.lock);
    size_t n = s->permits;
    weft__lock_release((weft__lock *)&s->o.lock);
    return n;
}

int weft_semaphore_share(weft_semaphore *s)
{
    if (!sem_ok(s))
        return -EINVAL;
    weft__lock_acquire(&s->o.lock);
    s->o.shared = 1;
    weft__lock_release(&s->o.lock);
    return 0;
}

void weft_semaphore_free(weft_semaphore *s)
{
    if (sem_ok(s))
        obj_free(&s->o, "weft_semaphore_free", 0);
}

/* ---- mutex -------------------------------------------------------------- */

static int mutex_ok(const weft_mutex *m)
{
    return m && m->o.magic == MUTEX_MAGIC;
}

weft_mutex *weft_mutex_new(void)
{
    weft_mutex *m = weft__calloc(1, sizeof *m);
    if (!m) {
        errno = ENOMEM;
        return NULL;
    }
    obj_init(&m->o, MUTEX_MAGIC, K_MUTEX);
    return m;
}

int weft_mutex_lock(weft_mutex *m)
{
    if (!mutex_ok(m))
        return -EINVAL;
    return wait_here(&m->o, 1);
}

weft_future *weft_mutex_lock_future(weft_mutex *m)
{
    if (!mutex_ok(m)) {
        errno = EINVAL;
        return NULL;
    }
    return waiter_new(&m->o, 1);
}

int weft_mutex_try_lock(weft_mutex *m)
{
    if (!mutex_ok(m))
        return -EINVAL;
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    weft__lock_acquire(&m->o.lock);
    note_thread(&m->o);
    int rc = -EAGAIN;
    if (!m->locked) {
        m->locked = 1;
        m->owner_rt = rt;
        m->owner_id = rt->current->task->id;
        rc = 0;
    }
    weft__lock_release(&m->o.lock);
    return rc;
}

void weft_mutex_unlock(weft_mutex *m)
{
    if (!mutex_ok(m))
        return;
    weft__rt *rt = weft__rt_here();
    if (!rt) {
        misuse("weft_mutex_unlock", m, "called outside a task");
        return;
    }
    uint64_t id = rt->current->task->id;
    weft__link local;
    weft__list_init(&local);
    weft__lock_acquire(&m->o.lock);
    note_thread(&m->o);
    int held = m->locked && m->owner_rt == rt && m->owner_id == id;
    if (held) {
        m->locked = 0;
        dispatch(&m->o, &local); /* straight to the next waiter */
    }
    weft__lock_release(&m->o.lock);
    wake_local(&local);
    if (!held)
        misuse("weft_mutex_unlock", m,
               m->locked ? "the calling task does not hold it"
                         : "it is not locked");
}

void weft_mutex_free(weft_mutex *m)
{
    if (!mutex_ok(m))
        return;
    weft__lock_acquire(&m->o.lock);
    int locked = m->locked;
    weft__lock_release(&m->o.lock);
    obj_free(&m->o, "weft_mutex_free", locked);
}

/* ---- notify ------------------------------------------------------------- */

static int notify_ok(const weft_notify *n)
{
    return n && n->o.magic == NOTIFY_MAGIC;
}

weft_notify *weft_notify_new(void)
{
    weft_notify *n = weft__calloc(1, sizeof *n);
    if (!n) {
        errno = ENOMEM;
        return NULL;
    }
    obj_init(&n->o, NOTIFY_MAGIC, K_NOTIFY);
    return n;
}

int weft_notified(weft_notify *n)
{
    if (!notify_ok(n))
        return -EINVAL;
    return wait_here(&n->o, 0);
}

weft_future *weft_notified_future(weft_notify *n)
{
    if (!notify_ok(n)) {
        errno = EINVAL;
        return NULL;
    }
    return waiter_new(&n->o, 0);
}

void weft_notify_one(weft_notify *n)
{
    if (!notify_ok(n))
        return;
    weft__link local;
    weft__list_init(&local);
    weft__lock_acquire(&n->o.lock);
    note_thread(&n->o);
    notify_one_locked(n, &local);
    weft__lock_release(&n->o.lock);
    wake_local(&local);
}

void weft_notify_all(weft_notify *n)
{
    if (!notify_ok(n))
        return;
    weft__link local;
    weft__list_init(&local);
    weft__lock_acquire(&n->o.lock);
    note_thread(&n->o);
    n->gen++;
    waiter *w;
    while ((w = head(&n->o))) {
        w->how = BY_ALL;
        grant(w, &local);
    }
    weft__lock_release(&n->o.lock);
    wake_local(&local);
}

int weft_notify_share(weft_notify *n)
{
    if (!notify_ok(n))
        return -EINVAL;
    weft__lock_acquire(&n->o.lock);
    n->o.shared = 1;
    weft__lock_release(&n->o.lock);
    return 0;
}

void weft_notify_free(weft_notify *n)
{
    if (notify_ok(n))
        obj_free(&n->o, "weft_notify_free", 0);
}
