/*
 * chan.c - multi-producer single-consumer channels (layer 6).
 *
 * A channel is a ring buffer of fixed-size items under a mutex, shared by
 * its sender handles and its receiver handle (reference counted: every
 * handle, plus one reference per pending cross-thread wake).  Senders work
 * from any thread.  The receiver registers at most one waker at a time
 * (rx_waker, with the runtime it belongs to); whoever makes the channel
 * ready (a send, the last sender's drop, a close) takes the waker:
 *
 *  - on the receiver's own runtime thread, it calls the waker directly;
 *  - from any other thread, it posts the channel to that runtime's inbox
 *    (under the channel lock, so the runtime cannot be gone: a runtime
 *    deregisters every receive before it ends; weft__post writes its eventfd
 *    when the inbox was empty).  The runtime drains its inbox and calls the
 *    waker.
 *
 * Bounded channels (bound > 0) have exactly bound slots.  A sender that
 * finds them full (or finds other senders already waiting: first come,
 * first served) queues a send_waiter on ch->send_waits and suspends.  When
 * the receiver takes an item, the first waiter's item is moved into the
 * freed slot under the lock and the waiter marked DONE and woken (through
 * its own remote node when it waits on another thread's runtime); a close
 * marks every waiter CLOSED (-EPIPE, the item still the sender's).  A
 * waiter is never freed while its remote node is on an inbox: a cancelled
 * waiter that was already posted drains its runtime's inbox first.
 *
 * Handoff (items of at most HANDOFF_MAX bytes): a send on the thread of the
 * parked receive, finding nothing queued, copies the item into ch->hslot and
 * gives the receive a ticket (ch->hticket, atomic; 0 = none).  The woken
 * receive claims the item without the lock by moving hticket from its ticket
 * to HT_CLAIMING with a compare-and-swap, copying hslot out, then storing 0.
 * Until it is claimed, the item in hslot is the channel's first item: any
 * receive that takes the lock first (another receive, try_recv, a receive
 * that was cancelled and polled again) takes it instead ("steals" it with the
 * same compare-and-swap, from the ticket to 0), and the receive that was
 * handed it finds nothing to claim and polls as usual.  A cancelled receive
 * simply forgets its ticket: the item stays first in the channel.  While
 * hticket is not 0, sends queue in the ring behind it.
 *
 * In a bounded channel an unclaimed handed item takes one of the bound slots
 * (occupied()); once it is being claimed (HT_CLAIMING) the slot is free.  A
 * claim frees it without the lock, so a sender about to wait and a claim
 * make sure one of them sees the other (seq_cst): the sender counts itself
 * in ch->nwait before it looks at hticket, the claim looks at nwait after
 * its compare-and-swap, and when there are waiters it takes the lock and
 * moves the first one's item in, as a pop does.
 *
 * A posted wake follows the receiver: when the receive it was posted for
 * has gone and another, on another runtime, registered meanwhile (a receiver
 * handed from one runtime to the next), the runtime that runs the post
 * passes it on to the new one instead of dropping it.
 *
 * A receiver handle records the receive in progress through it (waiting,
 * from its first wait to its end) and the receive futures made from it
 * (pins).  A drop while either exists does the channel's part at once (the
 * last receiver closes the channel and wakes the receive) and leaves the
 * handle, with its reference on the channel, to the last of them
 * (release_handle).  An item handed to that receive gets a ticket nobody
 * holds, so the receive polls under the lock and sees the drop; a claim
 * already running on another thread is waited for.  Freed channels and
 * handles pass through a quarantine first (see quarantine()).
 *
 * Deadlock detection (weft.h, weft_run_with) asks whether a wait may be
 * completed from outside its runtime.  The sender side is "shared" when the
 * channel was created outside a runtime, a sender was used from a thread
 * other than the creating one, or weft_sender_share() was called.  The
 * receiver side is tracked by use: rx_user is NULL while the receiver has
 * never been used (it may be on its way to another thread), the one runtime
 * it has been used on, or RX_ANYWHERE once it was used from a second thread
 * or marked with weft_receiver_share().  A receive waits on the senders, a
 * bounded send on the receiver.
 */
#include "util/alloc.h"
#include "chan/chan.h"

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SENDER_MAGIC   0x73656e64U /* "send" */
#define RECEIVER_MAGIC 0x72656376U /* "recv" */

/* A handle: the channel's first sender and its receiver live inside the
 * channel's own allocation (one malloc per channel, not three); clones are
 * allocated one by one. */
struct weft_sender {
    unsigned magic;
    weft__chan *ch;
};

struct weft_receiver {
    unsigned magic;
    weft__chan *ch;
    /* The receive in progress through this handle, from its first wait to
     * its end (under the channel lock; cleared without it by a claim, see
     * the top): one at a time, else -EBUSY.  A handle dropped while it is
     * set, or while receive futures made from it exist (pins), is released
     * by the last of them (see weft_receiver_drop). */
    const void *waiting;
    size_t pins; /* receive futures made through this handle, alive */
    int dropped; /* weft_receiver_drop was called; released later */
};

struct weft__chan {
    weft__lock lock; /* util/lock.h: 4 bytes, sleeps when contended */
    int closed;      /* receiver closed or dropped */
    int shared;      /* the sender side may act from outside (see top) */
    int wake_posted; /* post is on post_rt's inbox (or being run there) */
    size_t item_size;
    char *buf; /* ring of cap items */
    size_t cap, head, count;
    size_t bound;          /* capacity of a bounded channel; 0 = unbounded */
    weft__link send_waits; /* senders waiting for room, first come first */
    size_t senders;        /* live sender handles */
    size_t receivers;      /* live receiver handles (clones, see top) */
    weft__link rx_queue;   /* receives waiting behind rx_owner, oldest first */
    size_t owed;           /* receives woken for an item, not yet polled */
    size_t refs;           /* handles + pending inbox posts */
    void (*drop)(void *item);
    weft__waker *rx_waker;              /* the registered receive, if any */
    const struct recv_future *rx_owner; /* which receive registered it */
    weft__rt *rx_rt;                    /* the runtime of that receive */
    weft__rt *home;    /* runtime of the creating thread, or NULL */
    weft__rt *rx_user; /* the receiver's runtime so far (see top) */
    weft__remote post; /* on post_rt's inbox while wake_posted */
    weft__rt *post_rt; /* where post went: rx_rt when it was posted */
    uint64_t hticket;  /* atomic: ticket of the item in hslot, or 0 */
    uint64_t tickets;  /* last ticket given (under the lock) */
    size_t nwait;      /* atomic: senders queued or about to queue */
    weft_sender tx0;   /* the first sender, handed out by weft_channel */
    weft_receiver rx0; /* the receiver */
    _Alignas(max_align_t) char hslot[]; /* one item handed to a receive */
};

/* hticket while the receive it was handed to copies hslot out. */
#define HT_CLAIMING UINT64_MAX
/* ---- plain threads waiting (weft_send_blocking, weft_recv_blocking) ---- */

/* A waker that a plain thread sleeps on.  The sleeper returns only once
 * word is 1, which is the waker's last access to this memory (the futex
 * call after it uses only the address): a waker on the sleeper's stack is
 * never touched after the sleeper has gone. */
typedef struct thread_waker {
    weft__waker base;
    _Atomic uint32_t word;
} thread_waker;

static void thread_wake(weft__waker *w)
{
    thread_waker *t = (thread_waker *)w;
    atomic_store_explicit(&t->word, 1, memory_order_release);
    weft__futex(&t->word, FUTEX_WAKE, 1);
}

static void thread_sleep(thread_waker *t)
{
    while (!atomic_exchange_explicit(&t->word, 0, memory_order_acquire))
        weft__futex(&t->word, FUTEX_WAIT, 0);
}

/* The list a plain thread's receive is linked on while it waits (the
 * runtimes' chan.waits play this part for tasks). */
static weft__link *thread_waits(void)
{
    static _Thread_local weft__link list;
    if (!list.next)
        weft__list_init(&list);
    return &list;
}

/* rx_user once the receiver was used from more than one thread. */
#define RX_ANYWHERE ((weft__rt *)(uintptr_t)1)
/* Larger items are not handed off: hslot would cost too much memory. */
#define HANDOFF_MAX 256

/* A send or receive waiting in a runtime, on its rt->chan.waits list. */
typedef struct chan_wait {
    weft__link link;
    weft__chan *ch;
    int sending;
} chan_wait;

/* A receive; on its runtime's thread only, except for what is under the
 * channel lock (the registration: rx_owner, or a place on rx_queue). */
typedef struct recv_future {
    weft_future base;
    weft__chan *ch;
    weft_receiver *rx; /* the handle it receives through */
    void *item;
    chan_wait wait;      /* in rt->chan.waits while registered or queued */
    weft__link qlink;    /* on ch->rx_queue while queued */
    weft__waker *qwaker; /* while queued: its waker and runtime */
    weft__rt *qrt;
    uint64_t ticket; /* an item was handed to it in hslot (see top) */
    int owns_ref;    /* a heap future keeps the channel alive */
    int owed;        /* woken for an item (counted in ch->owed) */
} recv_future;

/* ---- helpers ------------------------------------------------------------ */

/*
 * Dropped channel ends are not freed at once: the last QUARANTINE blocks
 * (channels, whose first sender and receiver live inside them, and cloned
 * handles) wait in a ring, their magic poisoned, so that a use after the
 * drop meets a handle the API rejects (-EINVAL) rather than freed memory --
 * for as long as the ring keeps it, as task structs (sched/task.c).  The
 * ring is the library's only global state besides the fault counters; its
 * blocks are released from the fault build's allocation count when they
 * enter it (they are the library's no more).
 */
#define QUARANTINE 256

static weft__lock quarantine_lock; /* all-zero: unlocked */
static void *quarantine_ring[QUARANTINE];
static size_t quarantine_next;

static void quarantine(void *p)
{
    weft__alloc_handoff(p);
    weft__lock_acquire(&quarantine_lock);
    void *old = quarantine_ring[quarantine_next];
    quarantine_ring[quarantine_next] = p;
    quarantine_next = (quarantine_next + 1) % QUARANTINE;
    weft__lock_release(&quarantine_lock);
    free(old); /* not weft__free: handed off above */
}

static void chan_destroy(weft__chan *ch)
{
    weft__free(ch->buf);
    quarantine(ch);
}

/* Drops one reference; the caller holds the lock, which this releases. */
static void unref_unlock(weft__chan *ch)
{
    size_t left = --ch->refs;
    weft__lock_release(&ch->lock);
    if (left == 0)
        chan_destroy(ch);
}

/* The end of a receiver's drop that its last use deferred (see
 * weft_receiver_drop): its reference on the channel, and its memory. */
static void release_handle(weft_receiver *rx)
{
    weft__chan *ch = rx->ch;
    int clone = rx != &ch->rx0; /* rx0 goes with the channel */
    weft__lock_acquire(&ch->lock);
    unref_unlock(ch);
    if (clone)
        quarantine(rx);
}

static void note_thread(weft__chan *ch)
{
    if (weft__tls_rt != ch->home)
        ch->shared = 1;
}

/* The receiver is used on this thread (rt: its runtime, or NULL). */
static inline void note_receiver(weft__chan *ch, weft__rt *rt)
{
    if (ch->rx_user != rt)
        ch->rx_user = ch->rx_user || !rt ? RX_ANYWHERE : rt;
}

/* The first queued receive, if any, becomes the registered one (its
 * runtime and waker move to rx_rt and rx_waker).  Lock held. */
static void promote(weft__chan *ch)
{
    if (ch->rx_owner || weft__list_empty(&ch->rx_queue))
        return;
    recv_future *r = weft__container(ch->rx_queue.next, recv_future, qlink);
    weft__list_remove(&r->qlink);
    ch->rx_owner = r;
    ch->rx_waker = r->qwaker;
    ch->rx_rt = r->qrt;
}

/* The slot changed hands on this thread (clear_owner) while a wake posted
 * to this thread's runtime has not run yet.  Left there, it would reach
 * the new owner, a receive of another runtime, only when this runtime next
 * services its inbox, and until then no other wake is posted (wake_posted):
 * a runtime whose task runs long, or blocks, would hold up receives
 * elsewhere.  So the wake moves now to the new owner's runtime, or is
 * taken back when no receive waits.  A plain thread's receive in the slot
 * keeps it (posted_wake wakes a thread directly).  Lock held. */
static void retarget(weft__chan *ch)
{
    weft__rt *here = weft__tls_rt;
    if (!here || ch->post_rt != here ||
        (ch->rx_waker && (ch->rx_rt == here || !ch->rx_rt)))
        return;
    if (!weft__unpost(here, &ch->post))
        return; /* being run now: posted_wake forwards it */
    if (ch->rx_waker) {
        ch->post_rt = ch->rx_rt;
        weft__post(ch->rx_rt, &ch->post);
        return;
    }
    ch->wake_posted = 0;
    ch->refs--; /* the post's; the caller's receive holds the channel too */
}

/* The registered receive is woken (or withdrawn): it no longer waits, and
 * the next queued one takes its place.  Lock held. */
static inline void clear_owner(weft__chan *ch)
{
    ch->rx_waker = NULL;
    ch->rx_owner = NULL;
    if (!weft__list_empty(&ch->rx_queue))
        promote(ch);
    if (__builtin_expect(ch->wake_posted, 0))
        retarget(ch);
}

/* The registered receive is woken because something is there for it: until
 * it polls, one item is its own (see wait_for_item).  Lock held. */
static void wake_owner(weft__chan *ch)
{
    recv_future *r = (recv_future *)(uintptr_t)ch->rx_owner;
    if (ch->receivers > 1) { /* a single consumer overtakes nobody */
        r->owed = 1;
        ch->owed++;
    }
    clear_owner(ch);
}

/* Called with the lock held when the channel may have become ready for its
 * receiver.  Returns the waker to call after unlocking, or NULL. */
static weft__waker *take_waker(weft__chan *ch)
{
    weft__waker *w = ch->rx_waker;
    if (!w)
        return NULL;
    if (ch->rx_rt == weft__tls_rt || !ch->rx_rt) { /* NULL: a thread */
        wake_owner(ch);
        return w;
    }
    if (!ch->wake_posted) { /* the receiver's runtime will take it */
        ch->wake_posted = 1;
        ch->refs++;
        ch->post_rt = ch->rx_rt;
        weft__post(ch->rx_rt, &ch->post);
    }
    return NULL;
}

/* Runs on the receiver's runtime: the wake another thread posted. */
static void posted_wake(weft__rt *rt, weft__remote *r)
{
    weft__chan *ch = weft__container(r, weft__chan, post);
    weft__lock_acquire(&ch->lock);
    if (ch->rx_waker && ch->rx_rt && ch->rx_rt != rt) {
        /* The receiver moved on: the wake is the new runtime's (which
         * cannot end while its receive is registered). */
        ch->post_rt = ch->rx_rt;
        weft__post(ch->rx_rt, &ch->post);
        weft__lock_release(&ch->lock);
        return;
    }
    ch->wake_posted = 0;
    weft__waker *w = NULL;
    if (ch->rx_waker) { /* of this runtime, or a plain thread's */
        w = ch->rx_waker;
        wake_owner(ch);
    }
    unref_unlock(ch);
    if (w)
        weft__wake(w);
}

/* Grows the ring so one more item fits; 0 or -ENOMEM.  realloc: a large
 * ring is moved by remapping its pages, not by copying them. */
static int reserve(weft__chan *ch)
{
    if (ch->count < ch->cap)
        return 0;
    size_t sz = ch->item_size, old = ch->cap;
    size_t cap = old ? old * 2 : 16;
    char *buf = weft__realloc(ch->buf, cap * sz);
    if (!buf)
        return -ENOMEM;
    /* Full: the items run from head to the old end, then wrap around to
     * head - 1; the wrapped part moves to just after the old end. */
    if (ch->head)
        memcpy(buf + old * sz, buf, ch->head * sz);
    ch->buf = buf;
    ch->cap = cap;
    return 0;
}

/* Copies one item: the common small sizes without a call. */
static inline void copy_item(void *dst, const void *src, size_t size)
{
    switch (size) {
    case 8:
        memcpy(dst, src, 8);
        break;
    case 4:
        memcpy(dst, src, 4);
        break;
    case 16:
        memcpy(dst, src, 16);
        break;
    default:
        memcpy(dst, src, size);
        break;
    }
}

static inline void push(weft__chan *ch, const void *item)
{
    size_t tail = ch->head + ch->count;
    if (tail >= ch->cap)
        tail -= ch->cap;
    copy_item(ch->buf + tail * ch->item_size, item, ch->item_size);
    ch->count++;
}

static inline void pop(weft__chan *ch, void *item)
{
    copy_item(item, ch->buf + ch->head * ch->item_size, ch->item_size);
    if (++ch->head == ch->cap)
        ch->head = 0;
    ch->count--;
}

/* Items in a bounded channel, the one handed to a receive that has not
 * begun to claim it included.  Lock held. */
static size_t occupied(weft__chan *ch)
{
    uint64_t t = __atomic_load_n(&ch->hticket, __ATOMIC_SEQ_CST);
    return ch->count + (t != 0 && t != HT_CLAIMING);
}

/* Takes the item handed to a receive that has not claimed it yet: it is
 * the channel's first item.  Lock held; 1 if there was one. */
static inline int steal(weft__chan *ch, void *item)
{
    uint64_t t = __atomic_load_n(&ch->hticket, __ATOMIC_ACQUIRE);
    if (t == 0 || t == HT_CLAIMING ||
        !__atomic_compare_exchange_n(&ch->hticket, &t, 0, 0, __ATOMIC_ACQUIRE,
                                     __ATOMIC_ACQUIRE))
        return 0;
    copy_item(item, ch->hslot, ch->item_size);
    return 1;
}

/* Takes the channel's first item that is not kept for a woken receive
 * (ch->owed items are): the handed one while it is unclaimed, else the
 * ring's first.  Lock held; 1 if there was one.  The receive the item was
 * handed to claims it without the lock, so it can go between occupied()
 * and the steal: the ring is then looked at on its own. */
static int take_first(weft__chan *ch, void *item)
{
    if (occupied(ch) <= ch->owed)
        return 0;
    if (steal(ch, item))
        return 1;
    if (ch->count <= ch->owed)
        return 0;
    pop(ch, item);
    return 1;
}

/* A send may hand its item to the registered receive (see the top): that
 * receive is on this thread's runtime, nothing is queued ahead of the item
 * (in the ring, in hslot, or waiting to send), and the item fits in hslot.
 * Lock held. */
static int can_hand_off(const weft__chan *ch)
{
    return ch->rx_owner && ch->rx_rt && ch->rx_rt == weft__tls_rt &&
           !ch->count && ch->receivers == 1 && ch->item_size <= HANDOFF_MAX &&
           weft__list_empty(&ch->send_waits) &&
           weft__list_empty(&ch->rx_queue) && /* (a dropped handle's) */
           __atomic_load_n(&ch->hticket, __ATOMIC_ACQUIRE) == 0;
}

/* A send on the thread of the registered receive, with nothing queued:
 * item goes to hslot for that receive to claim without the lock.  Lock
 * held; returns the receive's waker, to call after unlocking. */
static weft__waker *hand_off(weft__chan *ch, const void *item)
{
    recv_future *r = (recv_future *)(uintptr_t)ch->rx_owner;
    weft__waker *w = ch->rx_waker;
    copy_item(ch->hslot, item, ch->item_size);
    r->ticket = ++ch->tickets;
    __atomic_store_n(&ch->hticket, r->ticket, __ATOMIC_RELEASE);
    ch->rx_waker = NULL; /* one receiver: no queue, no handle to clear */
    ch->rx_owner = NULL;
    weft__list_remove(&r->wait.link); /* this thread's runtime's list */
    return w;
}

/* The receive claims the item handed to it, without the lock: 1 if it was
 * still there (not stolen, not taken back by a drop of its handle), and
 * then its receive has ended: *senders says whether senders wait for the
 * slot the claim freed, and *dropped whether the handle was dropped before
 * the item was handed (then the caller releases it).  Both are read before
 * the slot is released: a drop of the handle on another thread waits for
 * that (weft_receiver_drop), and may free the channel right after. */
static int claim(recv_future *r, int *senders, int *dropped)
{
    weft__chan *ch = r->ch;
    uint64_t t = r->ticket;
    r->ticket = 0;
    if (!__atomic_compare_exchange_n(&ch->hticket, &t, HT_CLAIMING, 0,
                                     __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        return 0;
    copy_item(r->item, ch->hslot, ch->item_size);
    __atomic_store_n(&r->rx->waiting, NULL, __ATOMIC_RELAXED);
    *dropped = r->rx->dropped && !r->rx->pins;
    *senders = ch->bound && __atomic_load_n(&ch->nwait, __ATOMIC_SEQ_CST);
    __atomic_store_n(&ch->hticket, 0, __ATOMIC_RELEASE);
    return 1;
}

/* ---- waiting senders (bounded channels) --------------------------------- */

enum { SW_WAITING, SW_DONE, SW_CLOSED, SW_GONE };

typedef struct send_waiter {
    weft_future base;
    weft__chan *ch;
    const void *item; /* the caller's: copied in when room is made */
    weft__link link;  /* in ch->send_waits while SW_WAITING */
    chan_wait wait;   /* in rt->chan.waits while SW_WAITING */
    weft__waker *waker;
    weft__rt *rt;
    weft__remote post; /* wake from another thread */
    int state;
    int posted; /* post not yet run (under the lock) */
} send_waiter;

static void send_waiter_posted(weft__rt *rt, weft__remote *r)
{
    send_waiter *sw = weft__container(r, send_waiter, post);
    weft__chan *ch = sw->ch;
    (void)rt;
    weft__lock_acquire(&ch->lock);
    sw->posted = 0;
    weft__waker *w = sw->waker;
    weft__lock_release(&ch->lock);
    weft__wake(w);
}

/* Ends a waiter's wait with state (SW_DONE or SW_CLOSED), the lock held.
 * Returns the waker to call after unlocking when it waits here. */
static weft__waker *finish_waiter(send_waiter *sw, int state)
{
    weft__list_remove(&sw->link);
    __atomic_sub_fetch(&sw->ch->nwait, 1, __ATOMIC_RELAXED);
    sw->state = state;
    if (sw->rt == weft__tls_rt || !sw->rt) { /* NULL: a plain thread's */
        weft__list_remove(&sw->wait.link);
        return sw->waker;
    }
    /* sw->wait is on sw->rt->chan.waits, which only that runtime's thread
     * may touch (other channels' locks guard its other nodes): the waiter
     * unlinks it itself when it runs (send_poll, send_cancel). */
    sw->posted = 1;
    weft__post(sw->rt, &sw->post);
    return NULL;
}

/* After the receiver took an item: the first waiting sender's item takes
 * the freed slot.  Lock held; returns a waker to call after unlocking. */
static weft__waker *refill(weft__chan *ch)
{
    if (weft__list_empty(&ch->send_waits))
        return NULL;
    send_waiter *sw = weft__container(ch->send_waits.next, send_waiter, link);
    push(ch, sw->item);
    return finish_waiter(sw, SW_DONE);
}

/* On close: every waiting sender fails with -EPIPE.  Lock held; the
 * waiters of this thread's runtime are moved to local, to be woken with
 * wake_local() after unlocking. */
static void fail_waiters(weft__chan *ch, weft__link *local)
{
    while (!weft__list_empty(&ch->send_waits)) {
        send_waiter *sw =
            weft__container(ch->send_waits.next, send_waiter, link);
        if (finish_waiter(sw, SW_CLOSED))
            weft__list_push(local, &sw->link); /* woken after unlock */
    }
}

static void wake_local(weft__link *local)
{
    while (!weft__list_empty(local)) {
        send_waiter *sw = weft__container(local->next, send_waiter, link);
        weft__list_remove(&sw->link);
        weft__wake(sw->waker);
    }
}

static int send_poll(weft_future *f, weft__rt *rt, weft__waker *w)
{
    send_waiter *sw = (send_waiter *)f;
    weft__chan *ch = sw->ch;
    int status;
    weft__lock_acquire(&ch->lock);
    switch (sw->state) {
    case SW_WAITING:
        if (sw->link.next != &sw->link) { /* queued: still waiting */
            sw->waker = w;
            weft__lock_release(&ch->lock);
            return 0;
        }
        if (ch->closed) {
            status = -EPIPE;
            break;
        }
        /* Counted before looking at the room: see the top. */
        __atomic_add_fetch(&ch->nwait, 1, __ATOMIC_SEQ_CST);
        if (occupied(ch) < ch->bound && weft__list_empty(&ch->send_waits)) {
            __atomic_sub_fetch(&ch->nwait, 1, __ATOMIC_RELAXED);
            push(ch, sw->item);
            status = 0;
            weft__waker *rw = take_waker(ch);
            sw->state = SW_DONE;
            weft__lock_release(&ch->lock);
            if (rw)
                weft__wake(rw);
            goto ready;
        }
        sw->waker = w;
        sw->rt = rt;
        weft__list_push(&ch->send_waits, &sw->link);
        weft__list_push(&rt->chan.waits, &sw->wait.link);
        weft__lock_release(&ch->lock);
        return 0;
    case SW_DONE:
        status = 0;
        break;
    default:
        status = -EPIPE;
        break;
    }
    if (sw->posted) {
        /* Ended from another thread, and polled early (a wake left over
         * from before it parked): its post, which lives in this frame, is
         * still on the inbox.  Wait for it, then complete. */
        sw->waker = w;
        weft__lock_release(&ch->lock);
        return 0;
    }
    weft__list_remove(&sw->wait.link); /* if ended from another thread */
    weft__lock_release(&ch->lock);
ready:
    f->status = status;
    f->result = (void *)(intptr_t)status;
    return 1;
}

/* Withdraws a waiting send; returns 1 when it had completed already (the
 * receiver took the item), so the caller reports success, not -ECANCELED. */
static int send_cancel(weft_future *f, weft__rt *rt)
{
    send_waiter *sw = (send_waiter *)f;
    weft__chan *ch = sw->ch;
    weft__lock_acquire(&ch->lock);
    int state = sw->state;
    if (state == SW_WAITING && sw->link.next != &sw->link) {
        weft__list_remove(&sw->link);
        __atomic_sub_fetch(&ch->nwait, 1, __ATOMIC_RELAXED);
    }
    weft__list_remove(&sw->wait.link); /* this thread's runtime's list */
    int posted = sw->posted;
    sw->state = SW_GONE;
    weft__lock_release(&ch->lock);
    if (posted)
        weft__inbox_drain(rt); /* our node is on this runtime's inbox */
    if (state == SW_DONE || state == SW_CLOSED) {
        f->status = state == SW_DONE ? 0 : -EPIPE;
        f->result = (void *)(intptr_t)f->status;
        return 1;
    }
    return 0;
}

static void send_cleanup(weft_future *f) { (void)f; }

static void send_describe(const weft_future *f, weft__rt *rt, char *buf,
                          size_t n)
{
    (void)rt;
    snprintf(buf, n, "channel send on %p (full)",
             (const void *)((const send_waiter *)f)->ch);
}

static const weft__future_ops send_ops = {
    .describe = send_describe,
    .what = "channel send (full)",
    .poll = send_poll,
    .cancel = send_cancel,
    .cleanup = send_cleanup,
};

/* ---- creation ----------------------------------------------------------- */

int weft_channel_with(size_t item_size, const weft_channel_opts *opts,
                      weft_sender **tx, weft_receiver **rx)
{
    if (!item_size || !tx || !rx || item_size > ((size_t)1 << 30))
        return -EINVAL;
    size_t bound = opts ? opts->capacity : 0;
    if (bound && bound > WEFT__SIZE_LIMIT / item_size)
        return -EINVAL;
    size_t hslot = item_size <= HANDOFF_MAX ? item_size : 0;
    weft__chan *ch = weft__calloc(1, sizeof *ch + hslot);
    if (!ch)
        return -ENOMEM;
    weft_sender *s = &ch->tx0;
    weft_receiver *r = &ch->rx0;
    if (bound && !(ch->buf = weft__malloc(bound * item_size)))
        goto nomem;
    weft__lock_init(&ch->lock);
    ch->bound = ch->cap = bound;
    weft__list_init(&ch->send_waits);
    ch->item_size = item_size;
    ch->drop = opts ? opts->drop : NULL;
    ch->senders = 1;
    ch->receivers = 1;
    weft__list_init(&ch->rx_queue);
    ch->refs = 2;
    ch->home = weft__tls_rt;
    ch->shared = ch->home == NULL;
    ch->post.run = posted_wake;
    s->magic = SENDER_MAGIC;
    s->ch = ch;
    r->magic = RECEIVER_MAGIC;
    r->ch = ch;
    *tx = s;
    *rx = r;
    return 0;
nomem:
    weft__free(ch);
    return -ENOMEM;
}

int weft_channel(size_t item_size, weft_sender **tx, weft_receiver **rx)
{
    return weft_channel_with(item_size, NULL, tx, rx);
}

/* ---- senders ------------------------------------------------------------ */

static int sender_ok(const weft_sender *tx)
{
    return tx && tx->magic == SENDER_MAGIC;
}

weft_sender *weft_sender_clone(weft_sender *tx)
{
    if (!sender_ok(tx)) {
        errno = EINVAL;
        return NULL;
    }
    weft_sender *s = weft__malloc(sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    weft__chan *ch = tx->ch;
    weft__lock_acquire(&ch->lock);
    note_thread(ch);
    ch->senders++;
    ch->refs++;
    weft__lock_release(&ch->lock);
    s->magic = SENDER_MAGIC;
    s->ch = ch;
    return s;
}

void weft_sender_drop(weft_sender *tx)
{
    if (!sender_ok(tx))
        return;
    weft__chan *ch = tx->ch;
    tx->magic = 0;
    if (tx != &ch->tx0)
        quarantine(tx);
    weft__lock_acquire(&ch->lock);
    note_thread(ch);
    weft__waker *w = --ch->senders == 0 ? take_waker(ch) : NULL;
    unref_unlock(ch); /* the channel outlives this: the receiver holds it */
    if (w)
        weft__wake(w);
}

int weft_sender_share(weft_sender *tx)
{
    if (!sender_ok(tx))
        return -EINVAL;
    weft__lock_acquire(&tx->ch->lock);
    tx->ch->shared = 1;
    weft__lock_release(&tx->ch->lock);
    return 0;
}

int weft_try_send(weft_sender *tx, const void *item)
{
    if (!sender_ok(tx) || !item)
        return -EINVAL;
    weft__chan *ch = tx->ch;
    weft__lock_acquire(&ch->lock);
    note_thread(ch);
    int rc;
    if (ch->closed)
        rc = -EPIPE;
    else if (ch->bound)
        rc = occupied(ch) < ch->bound && weft__list_empty(&ch->send_waits)
                 ? 0
                 : -EAGAIN;
    else
        rc = reserve(ch);
    weft__waker *w = NULL;
    if (rc == 0) {
        if (can_hand_off(ch))
            w = hand_off(ch, item);
        else {
            push(ch, item);
            if (ch->rx_waker)
                w = take_waker(ch);
        }
    }
    weft__lock_release(&ch->lock);
    if (w)
        weft__wake(w);
    return rc;
}

int weft_send(weft_sender *tx, const void *item)
{
    int rc = weft_try_send(tx, item);
    if (rc != -EAGAIN)
        return rc; /* unbounded channels never get here: never suspends */
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM; /* full, and only a task may wait */
    send_waiter sw;
    memset(&sw, 0, sizeof sw);
    sw.base.ops = &send_ops;
    sw.base.magic = WEFT__FUTURE_MAGIC;
    sw.ch = tx->ch;
    sw.item = item;
    sw.post.run = send_waiter_posted;
    weft__list_init(&sw.link);
    weft__list_init(&sw.wait.link);
    sw.wait.ch = sw.ch;
    sw.wait.sending = 1;
    return weft__await_leaf(rt, &sw.base);
}

int weft_send_blocking(weft_sender *tx, const void *item)
{
    if (!sender_ok(tx) || !item)
        return -EINVAL;
    if (weft__tls_rt)
        return -EPERM; /* it would stall the runtime: use weft_send */
    int rc = weft_try_send(tx, item);
    if (rc != -EAGAIN)
        return rc;
    weft__chan *ch = tx->ch;
    thread_waker tw = {.base.wake = thread_wake};
    send_waiter sw;
    memset(&sw, 0, sizeof sw);
    sw.ch = ch;
    sw.item = item;
    sw.waker = &tw.base; /* sw.rt NULL: finish_waiter wakes it directly */
    weft__list_init(&sw.link);
    weft__list_init(&sw.wait.link);
    weft__lock_acquire(&ch->lock);
    /* Counted before looking at the room, as send_poll (see the top). */
    __atomic_add_fetch(&ch->nwait, 1, __ATOMIC_SEQ_CST);
    if (ch->closed) {
        rc = -EPIPE;
    } else if (occupied(ch) < ch->bound && weft__list_empty(&ch->send_waits)) {
        push(ch, item);
        rc = 0;
    } else {
        weft__list_push(&ch->send_waits, &sw.link);
        weft__lock_release(&ch->lock);
        thread_sleep(&tw); /* until finish_waiter: served or closed */
        return sw.state == SW_DONE ? 0 : -EPIPE;
    }
    __atomic_sub_fetch(&ch->nwait, 1, __ATOMIC_RELAXED);
    weft__waker *w = rc == 0 ? take_waker(ch) : NULL;
    weft__lock_release(&ch->lock);
    if (w)
        weft__wake(w);
    return rc;
}

/* ---- receiving ---------------------------------------------------------- */

static int receiver_ok(const weft_receiver *rx)
{
    return rx && rx->magic == RECEIVER_MAGIC;
}

/* 1 when a waiting receive would find something: an item (queued, or
 * handed to a receive that has not claimed it) or the end.  Lock held. */
static int rx_ready(weft__chan *ch)
{
    return occupied(ch) > ch->owed || ch->closed || ch->senders == 0;
}

/* r is polled: if it was woken for an item, that item is no longer kept for
 * it (it takes one now or waits again).  Lock held. */
static inline void settle(recv_future *r)
{
    if (r->owed) {
        r->owed = 0;
        r->ch->owed--;
    }
}

/* r stops waiting, because it completes or is withdrawn: off the slot (the
 * next queued receive takes it), off the queue, off its runtime's list.
 * Lock held. */
static void unregister(recv_future *r)
{
    weft__chan *ch = r->ch;
    settle(r);
    if (ch->rx_owner == r) {
        clear_owner(ch);
    } else if (r->qlink.next != &r->qlink) {
        weft__list_remove(&r->qlink);
    }
    weft__list_remove(&r->wait.link);
}

/* r's receive ends (lock held): it no longer uses its handle.  1 when the
 * handle was dropped meanwhile and this was its last use: the caller then
 * calls release_handle() after unlocking. */
static int leave(recv_future *r)
{
    weft_receiver *rx = r->rx;
    if (__atomic_load_n(&rx->waiting, __ATOMIC_RELAXED) != r)
        return 0;
    __atomic_store_n(&rx->waiting, NULL, __ATOMIC_RELAXED);
    return rx->dropped && !rx->pins;
}

/* Once a receive has left: when another waits and there is something for
 * it, wake it (the baton of several receivers: each wake serves one).
 * Lock held; returns the waker to call after unlocking. */
static weft__waker *pass_on(weft__chan *ch)
{
    return ch->rx_owner && rx_ready(ch) ? take_waker(ch) : NULL;
}

/* Makes r wait with waker w: it keeps its place if it has one (the slot or
 * the queue), else takes the slot if free or the back of the queue; 0, or
 * -EBUSY when another receive waits through the same handle.  Lock held. */
static int wait_for_item(recv_future *r, weft__rt *rt, weft__waker *w)
{
    weft__chan *ch = r->ch;
    if (ch->rx_owner == r) {
        ch->rx_waker = w;
        return 0;
    }
    if (r->qlink.next != &r->qlink) {
        r->qwaker = w;
        return 0;
    }
    /* One receive per handle at a time, as &mut self in tokio. */
    const void *busy = __atomic_load_n(&r->rx->waiting, __ATOMIC_RELAXED);
    if (busy && busy != r)
        return -EBUSY;
    __atomic_store_n(&r->rx->waiting, r, __ATOMIC_RELAXED);
    if (rt != ch->home)
        ch->shared = 1;
    weft__list_remove(&r->wait.link); /* a woken receive is still on it */
    weft__list_push(rt ? &rt->chan.waits : thread_waits(), &r->wait.link);
    if (!ch->rx_owner) {
        ch->rx_waker = w;
        ch->rx_owner = r;
        ch->rx_rt = rt;
    } else {
        r->qwaker = w;
        r->qrt = rt;
        weft__list_push(&ch->rx_queue, &r->qlink);
    }
    return 0;
}

static int recv_poll(weft_future *f, weft__rt *rt, weft__waker *w)
{
    recv_future *r = (recv_future *)f;
    weft__chan *ch = r->ch;
    int status = 1;
    weft__waker *sw = NULL;
    int senders, dropped;
    if (r->ticket && claim(r, &senders, &dropped)) {
        if (__builtin_expect(dropped, 0))
            release_handle(r->rx);
        /* Senders may wait for the slot the claim freed: see the top.
         * They hold the channel (their handles). */
        if (senders) {
            weft__lock_acquire(&ch->lock);
            if (occupied(ch) < ch->bound)
                sw = refill(ch);
            weft__lock_release(&ch->lock);
            if (sw)
                weft__wake(sw);
        }
        goto ready;
    }
    weft__lock_acquire(&ch->lock);
    note_receiver(ch, rt);
    settle(r);
    /* The first item may be one handed to a receive that did not claim it
     * (see the top); with several receivers, items kept for receives woken
     * before this one are theirs: one that waited is not overtaken. */
    int got = take_first(ch, r->item);
    if (got) {
        if (!weft__list_empty(&ch->send_waits))
            sw = refill(ch);
    } else if ((ch->closed || ch->senders == 0) && !occupied(ch)) {
        status = 0;
    } else {
        status = wait_for_item(r, rt, w);
        if (status == 0) {
            weft__lock_release(&ch->lock);
            return 0;
        }
    }
    if (r->wait.link.next != &r->wait.link) /* it waited */
        unregister(r);
    int release = leave(r);
    weft__waker *next = ch->rx_owner ? pass_on(ch) : NULL;
    weft__lock_release(&ch->lock);
    if (sw)
        weft__wake(sw);
    if (next)
        weft__wake(next);
    if (__builtin_expect(release, 0))
        release_handle(r->rx);
ready:
    f->status = status;
    f->result = (void *)(intptr_t)status;
    return 1;
}

/* Withdraws r; an item handed to it stays the channel's first.  Only a
 * receive that waits (or was woken and has not polled since) is on
 * rt->chan.waits, so any other needs no lock. */
static void withdraw_locked(recv_future *r);

static inline void withdraw(recv_future *r)
{
    int handed = r->ticket != 0; /* still in progress, though not linked */
    r->ticket = 0;
    if (__builtin_expect(r->wait.link.next != &r->wait.link || handed, 0))
        withdraw_locked(r);
}

/* withdraw()'s slow path: r waits, or an item was handed to it. */
static __attribute__((noinline)) void withdraw_locked(recv_future *r)
{
    weft__lock_acquire(&r->ch->lock);
    if (r->wait.link.next != &r->wait.link)
        unregister(r);
    int release = leave(r);
    weft__waker *next = pass_on(r->ch);
    weft__lock_release(&r->ch->lock);
    if (next)
        weft__wake(next);
    if (release)
        release_handle(r->rx);
}

static int recv_cancel(weft_future *f, weft__rt *rt)
{
    (void)rt;
    withdraw((recv_future *)f);
    return 0; /* a receive takes an item only when polled ready */
}

static void recv_cleanup(weft_future *f)
{
    recv_future *r = (recv_future *)f;
    withdraw(r);
    if (r->owns_ref) {
        weft_receiver *rx = r->rx;
        weft__lock_acquire(&r->ch->lock);
        r->owns_ref = 0;
        int release = --rx->pins == 0 && rx->dropped &&
                      !__atomic_load_n(&rx->waiting, __ATOMIC_RELAXED);
        unref_unlock(r->ch); /* the handle's reference keeps it */
        if (release)
            release_handle(rx);
    }
}

static void recv_describe(const weft_future *f, weft__rt *rt, char *buf,
                          size_t n)
{
    (void)rt;
    snprintf(buf, n, "channel receive on %p",
             (const void *)((const recv_future *)f)->ch);
}

static const weft__future_ops recv_ops = {
    .describe = recv_describe,
    .what = "channel receive",
    .poll = recv_poll,
    .cancel = recv_cancel,
    .cleanup = recv_cleanup,
};

static void recv_init(recv_future *r, weft_receiver *rx, void *item)
{
    /* Field by field: a memset here costs more than the rest of a ready
     * receive. */
    r->base.ops = &recv_ops;
    r->base.magic = WEFT__FUTURE_MAGIC;
    r->base.started = 0;
    r->base.claimed = 0;
    r->base.done = 0;
    r->base.status = 0;
    r->base.result = NULL;
    r->ch = rx->ch;
    r->rx = rx;
    r->item = item;
    weft__list_init(&r->wait.link);
    weft__list_init(&r->qlink);
    r->wait.ch = r->ch;
    r->wait.sending = 0;
    r->ticket = 0;
    r->owns_ref = 0;
    r->owed = 0;
}

int weft_recv(weft_receiver *rx, void *item)
{
    if (!receiver_ok(rx) || !item)
        return -EINVAL;
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    recv_future r;
    recv_init(&r, rx, item);
    int rc = weft__await_leaf(rt, &r.base);
    withdraw(&r); /* recv_cleanup: a receive on the stack owns no ref */
    return rc;
}

int weft_recv_blocking(weft_receiver *rx, void *item)
{
    if (!receiver_ok(rx) || !item)
        return -EINVAL;
    if (weft__tls_rt)
        return -EPERM; /* it would stall the runtime: use weft_recv */
    recv_future r;
    recv_init(&r, rx, item);
    thread_waker tw = {.base.wake = thread_wake};
    /* A receive with no runtime: registered with rx_rt NULL, woken
     * directly by whoever makes the channel ready. */
    while (!recv_poll(&r.base, NULL, &tw.base))
        thread_sleep(&tw);
    return r.base.status;
}

weft_future *weft_recv_future(weft_receiver *rx, void *item)
{
    if (!receiver_ok(rx) || !item) {
        errno = EINVAL;
        return NULL;
    }
    recv_future *r = weft__malloc(sizeof *r);
    if (!r) {
        errno = ENOMEM;
        return NULL;
    }
    recv_init(r, rx, item);
    weft__lock_acquire(&r->ch->lock);
    r->ch->refs++;
    rx->pins++;
    r->owns_ref = 1;
    weft__lock_release(&r->ch->lock);
    return &r->base;
}

int weft_try_recv(weft_receiver *rx, void *item)
{
    if (!receiver_ok(rx) || !item)
        return -EINVAL;
    weft__chan *ch = rx->ch;
    int rc;
    weft__waker *w = NULL;
    weft__lock_acquire(&ch->lock);
    note_receiver(ch, weft__tls_rt);
    if (take_first(ch, item)) { /* not an item kept for a woken receive */
        w = refill(ch);
        rc = 1;
    } else {
        rc = !occupied(ch) && (ch->closed || ch->senders == 0) ? 0 : -EAGAIN;
    }
    weft__lock_release(&ch->lock);
    if (w)
        weft__wake(w);
    return rc;
}

int weft_receiver_share(weft_receiver *rx)
{
    if (!receiver_ok(rx))
        return -EINVAL;
    weft__lock_acquire(&rx->ch->lock);
    rx->ch->rx_user = RX_ANYWHERE;
    weft__lock_release(&rx->ch->lock);
    return 0;
}

void weft_receiver_close(weft_receiver *rx)
{
    if (!receiver_ok(rx))
        return;
    weft__chan *ch = rx->ch;
    weft__link local;
    weft__list_init(&local);
    weft__lock_acquire(&ch->lock);
    ch->closed = 1;
    weft__waker *w = take_waker(ch);
    fail_waiters(ch, &local);
    weft__lock_release(&ch->lock);
    if (w)
        weft__wake(w);
    wake_local(&local);
}

weft_receiver *weft_receiver_clone(weft_receiver *rx)
{
    if (!receiver_ok(rx)) {
        errno = EINVAL;
        return NULL;
    }
    weft_receiver *r = weft__malloc(sizeof *r);
    if (!r) {
        errno = ENOMEM;
        return NULL;
    }
    weft__chan *ch = rx->ch;
    weft__lock_acquire(&ch->lock);
    ch->receivers++;
    ch->refs++;
    weft__lock_release(&ch->lock);
    r->magic = RECEIVER_MAGIC;
    r->ch = ch;
    r->waiting = NULL;
    r->pins = 0;
    r->dropped = 0;
    return r;
}

void weft_receiver_drop(weft_receiver *rx)
{
    if (!receiver_ok(rx))
        return;
    weft__chan *ch = rx->ch;
    int clone = rx != &ch->rx0; /* rx0 is freed with the channel */
    rx->magic = 0;
    weft__link local;
    weft__list_init(&local);
    _Alignas(max_align_t) char first[HANDOFF_MAX];
    weft__lock_acquire(&ch->lock);
    if (__atomic_load_n(&rx->waiting, __ATOMIC_RELAXED)) {
        /* A receive is in progress through rx.  If an item was handed to
         * it, it must not claim it without the lock any more: the item gets
         * a ticket nobody holds, so it stays the channel's first item and
         * the receive polls under the lock (and sees the drop).  A claim
         * running on another thread is waited for (a few stores). */
        uint64_t t;
        while ((t = __atomic_load_n(&ch->hticket, __ATOMIC_ACQUIRE)) ==
               HT_CLAIMING) {
            weft__lock_release(&ch->lock);
            sched_yield();
            weft__lock_acquire(&ch->lock);
        }
        if (t)
            __atomic_store_n(&ch->hticket, ++ch->tickets, __ATOMIC_RELEASE);
    }
    rx->dropped = 1;
    /* In use: the receive in progress or the last receive future made
     * through rx releases it (leave, recv_cleanup), with its reference. */
    int keep = __atomic_load_n(&rx->waiting, __ATOMIC_RELAXED) || rx->pins;
    if (--ch->receivers > 0) { /* others still receive: only the handle */
        if (keep)
            weft__lock_release(&ch->lock);
        else
            unref_unlock(ch);
        if (!keep && clone)
            quarantine(rx);
        return;
    }
    ch->closed = 1;
    weft__waker *w = take_waker(ch); /* a receive in progress: the end */
    fail_waiters(ch, &local);
    int handed = steal(ch, first); /* an unclaimed handed item is first */
    char *buf = ch->buf;
    size_t cap = ch->cap, head = ch->head, count = ch->count;
    ch->buf = NULL;
    ch->cap = ch->head = ch->count = 0;
    void (*drop)(void *) = ch->drop;
    size_t item_size = ch->item_size;
    if (keep)
        weft__lock_release(&ch->lock);
    else
        unref_unlock(ch);
    if (!keep && clone)
        quarantine(rx);
    if (w)
        weft__wake(w);
    wake_local(&local);
    /* Outside the lock: a drop callback may use other channels. */
    if (drop && handed)
        drop(first);
    for (size_t i = 0; drop && i < count; i++)
        drop(buf + ((head + i) % cap) * item_size);
    weft__free(buf);
}

size_t weft__receiver_item_size(const weft_receiver *rx)
{
    return receiver_ok(rx) ? rx->ch->item_size : 0;
}

/* ---- deadlock support --------------------------------------------------- */

int weft__external_waits(weft__rt *rt)
{
    int found = 0;
    for (weft__link *l = rt->chan.waits.next; l != &rt->chan.waits && !found;
         l = l->next) {
        chan_wait *w = weft__container(l, chan_wait, link);
        weft__chan *ch = w->ch;
        weft__lock_acquire(&ch->lock);
        /* A send can be completed by the receiver elsewhere, or by one not
         * used yet (see the top); a receive by a sender elsewhere, or, with
         * several receivers, by the baton: a wake posted to another runtime
         * and not yet run, or a receive there woken and not yet polled
         * (owed), will wake the next waiting receive when it is done. */
        if (w->sending)
            found = !ch->closed && ch->rx_user != rt;
        else
            found = ch->owed > 0 || ch->wake_posted ||
                    (!ch->closed && ch->shared && ch->senders > 0);
        weft__lock_release(&ch->lock);
    }
    return found;
}
