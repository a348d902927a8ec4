/*
 * chat_server.c - a line-based chat server on weft's sockets and channels
 * (tokio's chat example, in C).
 *
 *   chat_server PORT
 *
 * Listens on 127.0.0.1:PORT (0: a free port) and prints one line when it is
 * ready ("chat_server: listening on 127.0.0.1:PORT").  Clients are numbered
 * from 1 in the order they connect.  A new client N is greeted with
 * "* you are N" and the others are told "* N joined"; every line a client
 * sends is sent to every other client as "[N] line"; when it disconnects
 * the others are told "* N left".  Lines end with "\n" (a "\r" before it is
 * removed); a line longer than MAX_LINE bytes is sent in pieces of MAX_LINE
 * bytes, each as a line of its own; a last line without "\n" before the
 * client closes is sent as a line.  On SIGINT or SIGTERM the server stops
 * relaying, closes every connection as below and the listener, and exits 0
 * (1 if it could not start).
 *
 * Closing a connection (at a signal, or once a client has left or been
 * dropped): its socket is shut down for writing, so the client reads what
 * was written to it and then the end of the stream; what the client still
 * sends is read and discarded until it closes its side, or for at most
 * LINGER_MS; only then is the fd closed.  Linux (as RFC 1122 4.2.2.13 asks)
 * answers a close(2) with unread input, or input arriving after it, with a
 * reset: the client gets ECONNRESET instead of the end of the stream, and
 * what the server had written that it had not yet received is lost.  A
 * plain close would reset every client that had sent lines the server had
 * not read yet when the signal came.  A client that goes on sending for
 * LINGER_MS after the end of the stream is still reset, and so is a client
 * dropped as too slow that sends after its drop (its socket is shut down
 * in both directions, so its input is not waited for).
 *
 * Tasks and channels: one hub task owns the list of clients, each with its
 * outbox, a bounded channel (OUTBOX_CAP lines) that the client's writer
 * drains onto its socket.  Connections talk to the hub only through the
 * hub's channel (join, line, leave events), so no list is shared.  Each
 * connection is a task running two async blocks under weft_join: a reader
 * (the socket's lines to the hub) and a writer (the outbox to the socket).
 * The hub never waits for a client: it puts lines into outboxes with
 * weft_try_send, so a slow client cannot hold up the others.
 *
 * Policy when an outbox is full: the client is dropped.  The hub yields
 * every HUB_BATCH events, so the writers keep the outboxes drained into the
 * sockets; a client that has not taken OUTBOX_CAP lines beyond what its
 * socket buffers hold is disconnected (shutdown(2) of its socket, which ends
 * its reader and writer) and the others are told "* N left (too slow)".  No
 * line is ever skipped for a client that stays connected.
 *
 * A connection's fd is closed only after the hub has removed the client (its
 * writer ends when the hub drops the outbox's sender), so the fd the hub
 * shuts down is always the client's own.  On a signal the root cancels the
 * hub first, then the acceptor, then tells every connection to stop (a
 * notify each races its reader and writer against; not a cancellation, so
 * that the connection can still close its socket as above) and joins each.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <weft.h>

#define MAX_LINE   1024 /* longest line relayed as one line, in bytes */
#define OUTBOX_CAP 64   /* lines queued for one client before it is dropped */
#define HUB_CAP    64   /* events queued for the hub before readers wait */
#define HUB_BATCH  16   /* events the hub handles before it yields */
#define LINGER_MS  2000 /* closing: longest wait for the client's end */

/* The root's order to stop, for the connections: set is 1 once the
 * notify has been notified (a connection that makes its notified future
 * after that checks set instead). */
typedef struct stop_order {
    weft_notify *notify;
    int set;
} stop_order;

/* An outbox item: one line, "\n" included, ready to write. */
typedef struct line {
    size_t len;
    char text[MAX_LINE + 32];
} line;

/* A hub item. */
enum { EV_JOIN, EV_LINE, EV_LEAVE };
typedef struct event {
    int kind;
    unsigned id;
    int fd;              /* EV_JOIN: the client's socket */
    weft_sender *outbox; /* EV_JOIN: the hub owns it from then on */
    size_t len;          /* EV_LINE: the line, without its "\n" */
    char text[MAX_LINE];
} event;

typedef struct client {
    unsigned id;
    int fd;
    weft_sender *outbox;
    int slow; /* its outbox was full: to be dropped */
} client;

typedef struct hub {
    client *clients;
    size_t n, cap;
} hub;

/* A join event the hub never received: its outbox sender is dropped with
 * it (the hub channel's drop callback). */
static void drop_event(void *item)
{
    event *ev = item;
    if (ev->kind == EV_JOIN)
        weft_sender_drop(ev->outbox);
}

/* Queues a line for c; marks it slow when its outbox is full.  -EPIPE (its
 * writer is gone: the connection is ending) is ignored: its leave event
 * follows. */
static void deliver(client *c, const line *l)
{
    if (c->slow)
        return;
    if (weft_try_send(c->outbox, l) == -EAGAIN)
        c->slow = 1;
}

static void broadcast(hub *h, unsigned from, const line *l)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->clients[i].id != from)
            deliver(&h->clients[i], l);
}

static void announce(hub *h, unsigned id, const char *what)
{
    line l;
    l.len = (size_t)snprintf(l.text, sizeof l.text, "* %u %s\n", id, what);
    broadcast(h, id, &l);
}

/* Removes client i; its writer drains what is queued and ends. */
static void remove_client(hub *h, size_t i)
{
    weft_sender_drop(h->clients[i].outbox);
    h->clients[i] = h->clients[--h->n];
}

/* Drops the clients marked slow, announcing each (which may mark more). */
static void drop_slow(hub *h)
{
    for (size_t i = 0; i < h->n;) {
        if (!h->clients[i].slow) {
            i++;
            continue;
        }
        unsigned id = h->clients[i].id;
        if (shutdown(h->clients[i].fd, SHUT_RDWR) < 0)
            perror("chat_server: shutdown");
        fprintf(stderr, "chat_server: client %u too slow, dropped\n", id);
        remove_client(h, i);
        announce(h, id, "left (too slow)");
        i = 0; /* the announcement may have marked an earlier client */
    }
}

static size_t find(const hub *h, unsigned id)
{
    size_t i = 0;
    while (i < h->n && h->clients[i].id != id)
        i++;
    return i;
}

static void handle(hub *h, event *ev)
{
    line l;
    switch (ev->kind) {
    case EV_JOIN:
        if (h->n == h->cap) {
            size_t cap = h->cap ? h->cap * 2 : 16;
            client *c = realloc(h->clients, cap * sizeof *c);
            if (!c) {
                fprintf(stderr,
                        "chat_server: out of memory: client %u "
                        "refused\n",
                        ev->id);
                shutdown(ev->fd, SHUT_RDWR);
                weft_sender_drop(ev->outbox);
                return;
            }
            h->clients = c;
            h->cap = cap;
        }
        h->clients[h->n++] = (client){ev->id, ev->fd, ev->outbox, 0};
        l.len =
            (size_t)snprintf(l.text, sizeof l.text, "* you are %u\n", ev->id);
        deliver(&h->clients[h->n - 1], &l);
        announce(h, ev->id, "joined");
        break;
    case EV_LINE:
        l.len = (size_t)snprintf(l.text, sizeof l.text, "[%u] %.*s\n", ev->id,
                                 (int)ev->len, ev->text);
        broadcast(h, ev->id, &l);
        break;
    case EV_LEAVE: {
        size_t i = find(h, ev->id);
        if (i == h->n)
            return; /* already dropped as too slow */
        remove_client(h, i);
        announce(h, ev->id, "left");
        break;
    }
    }
    drop_slow(h);
}

/* The hub: owns its receiver and every client's outbox sender. */
static void *hub_task(void *arg)
{
    weft_receiver *rx = arg;
    hub h = {0};
    event ev;
    unsigned batch = 0;
    while (weft_recv(rx, &ev) > 0) { /* 0: every sender dropped */
        handle(&h, &ev);
        /* A receive with events queued does not suspend: let the writers
         * drain their outboxes now and then, so that an outbox fills only
         * when its client's socket is full, not when many lines come in a
         * burst. */
        if (++batch == HUB_BATCH) {
            batch = 0;
            if (weft_yield() < 0)
                break;
        }
    }
    for (size_t i = 0; i < h.n; i++) /* cancelled: shutting down */
        weft_sender_drop(h.clients[i].outbox);
    free(h.clients);
    weft_receiver_drop(rx); /* queued join events: drop_event */
    return NULL;
}

/* ---- one connection ----------------------------------------------------- */

typedef struct conn {
    int fd;
    unsigned id;
    weft_sender *hub;      /* the connection's own clone */
    weft_receiver *outbox; /* drained by the writer */
    stop_order *stop;      /* the root's */
} conn;

static int send_line(conn *c, const char *text, size_t len)
{
    event ev = {.kind = EV_LINE, .id = c->id, .len = len};
    if (len && text[len - 1] == '\r')
        ev.len--;
    memcpy(ev.text, text, ev.len);
    return weft_send(c->hub, &ev);
}

/* The socket's lines to the hub; then the leave event. */
static void *reader(void *arg)
{
    conn *c = arg;
    char buf[MAX_LINE];
    size_t have = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 &&
           (n = weft_read(c->fd, buf + have, sizeof buf - have)) > 0) {
        have += (size_t)n;
        size_t start = 0;
        for (size_t i = start; rc == 0 && i < have; i++) {
            if (buf[i] == '\n') {
                rc = send_line(c, buf + start, i - start);
                start = i + 1;
            }
        }
        if (rc == 0 && start == 0 && have == sizeof buf) {
            rc = send_line(c, buf, have); /* too long: a piece of it */
            start = have;
        }
        memmove(buf, buf + start, have - start);
        have -= start;
    }
    if (rc == 0 && n == 0 && have > 0)
        rc = send_line(c, buf, have); /* the last line had no "\n" */
    if (weft_is_cancelled())
        return NULL;
    /* End of stream, a read error, or the hub is gone (-EPIPE). */
    event ev = {.kind = EV_LEAVE, .id = c->id};
    weft_send(c->hub, &ev);
    return NULL;
}

/* The outbox to the socket, until the hub drops the client.  After a write
 * error it goes on draining (the hub still counts the client until its
 * leave event), so that the connection closes its fd only once the hub has
 * forgotten it. */
static void *writer(void *arg)
{
    conn *c = arg;
    line l;
    int ok = 1;
    while (weft_recv(c->outbox, &l) > 0) {
        if (ok && weft_write(c->fd, l.text, l.len) < 0) {
            ok = 0;
            shutdown(c->fd, SHUT_RDWR); /* ends the reader too */
        }
    }
    return NULL;
}

/* The connection's work: its reader and writer. */
static void *serve(void *arg)
{
    conn *c = arg;
    weft_future *r = weft_async(reader, c), *w = weft_async(writer, c);
    return (void *)(intptr_t)weft_join(r, w);
}

/* Reads and discards what arrives on the fd, until its end or an error. */
static void *discard(void *arg)
{
    int fd = *(int *)arg;
    char buf[4096];
    while (weft_read(fd, buf, sizeof buf) > 0)
        ;
    return NULL;
}

/* Closes a connection's socket without resetting it (see the top of the
 * file): shutdown for writing, then discard the client's input until it
 * closes its side or LINGER_MS have passed, then close. */
static void close_gracefully(int fd)
{
    shutdown(fd, SHUT_WR); /* fails only if the connection is gone */
    weft_timeout(weft_async(discard, &fd), WEFT_MS(LINGER_MS), NULL);
    weft_close(fd);
}

static void *connection(void *arg)
{
    conn *c = arg;
    weft_sender *out_tx = NULL;
    weft_channel_opts oo = {.capacity = OUTBOX_CAP};
    int rc = weft_channel_with(sizeof(line), &oo, &out_tx, &c->outbox);
    if (rc < 0) {
        fprintf(stderr, "chat_server: client %u: outbox: %s\n", c->id,
                weft_strerror(rc));
        goto out;
    }
    event ev = {.kind = EV_JOIN, .id = c->id, .fd = c->fd, .outbox = out_tx};
    rc = weft_send(c->hub, &ev);
    if (rc < 0) { /* the hub is gone, or we are cancelled */
        weft_sender_drop(out_tx);
        goto out;
    }
    /* The stop's future first, so that a stop after it counts; a stop
     * before it is seen in set.  Until the root's stop, serve; then the
     * hub is gone, so no fd of ours is in its hands. */
    weft_future *fs[2] = {weft_notified_future(c->stop->notify),
                          weft_async(serve, c)};
    void *res = NULL;
    if (c->stop->set) {
        weft_future_drop(fs[0]);
        weft_future_drop(fs[1]);
    } else {
        rc = weft_race(fs, 2, &res);
        if (rc == 1) /* serve's status (0: told to stop) */
            rc = (int)(intptr_t)res;
        if (rc < 0 && rc != -ECANCELED)
            fprintf(stderr, "chat_server: client %u: %s\n", c->id,
                    weft_strerror(rc));
    }
out:
    weft_receiver_drop(c->outbox);
    weft_sender_drop(c->hub);
    close_gracefully(c->fd);
    free(c);
    return NULL;
}

/* drop_arg of a connection task that never ran. */
static void drop_conn(void *arg)
{
    conn *c = arg;
    weft_sender_drop(c->hub);
    close(c->fd);
    free(c);
}

/* ---- the acceptor, signals, the root ------------------------------------ */

typedef struct server {
    int listener;
    stop_order stop;
    weft_sender *hub;
    weft_task **conns; /* connection tasks not yet joined */
    size_t n, cap;
} server;

/* Joins the connection tasks that have finished. */
static void reap(server *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (weft_task_is_finished(s->conns[i]) == 1)
            weft_task_join(s->conns[i], NULL);
        else
            s->conns[k++] = s->conns[i];
    }
    s->n = k;
}

static void *acceptor(void *arg)
{
    server *s = arg;
    unsigned next_id = 1;
    for (;;) {
        int fd = weft_tcp_accept(s->listener, NULL);
        if (fd == -EMFILE || fd == -ENFILE) {
            fprintf(stderr, "chat_server: accept: %s\n", weft_strerror(fd));
            if (weft_sleep(WEFT_MS(10)) < 0) /* out of fds: back off */
                break;
            continue;
        }
        if (fd < 0) {
            if (fd != -ECANCELED)
                fprintf(stderr, "chat_server: accept: %s\n", weft_strerror(fd));
            break;
        }
        reap(s);
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 16;
            weft_task **t = realloc(s->conns, cap * sizeof *t);
            if (!t) {
                fprintf(stderr, "chat_server: out of memory: connection "
                                "refused\n");
                weft_close(fd);
                continue;
            }
            s->conns = t;
            s->cap = cap;
        }
        conn *c = malloc(sizeof *c);
        if (!c) {
            fprintf(stderr, "chat_server: out of memory: connection "
                            "refused\n");
            weft_close(fd);
            continue;
        }
        *c = (conn){.fd = fd,
                    .id = next_id,
                    .hub = weft_sender_clone(s->hub),
                    .stop = &s->stop};
        if (!c->hub) {
            fprintf(stderr, "chat_server: sender: %s\n", strerror(errno));
            weft_close(fd);
            free(c);
            continue;
        }
        weft_spawn_opts o = {.name = "connection", .drop_arg = drop_conn};
        weft_task *t = weft_spawn_with(&o, connection, c);
        if (!t) { /* drop_conn has run */
            fprintf(stderr, "chat_server: spawn: %s\n", strerror(errno));
            continue;
        }
        s->conns[s->n++] = t;
        next_id++;
    }
    return NULL;
}

/* tokio::signal::ctrl_c(), or SIGTERM. */
static void *signals(void *arg)
{
    (void)arg;
    weft_future *fs[2] = {weft_signal_wait_future(SIGINT),
                          weft_signal_wait_future(SIGTERM)};
    void *sig = NULL;
    if (weft_race(fs, 2, &sig) < 0)
        return NULL;
    return sig;
}

static void *root(void *arg)
{
    int port = *(int *)arg;
    server s = {.listener = weft_tcp_listen("127.0.0.1", (uint16_t)port, 128)};
    if (s.listener < 0) {
        fprintf(stderr, "chat_server: listen: %s\n", weft_strerror(s.listener));
        return (void *)1;
    }
    struct sockaddr_in a = {0};
    socklen_t len = sizeof a;
    if (getsockname(s.listener, (struct sockaddr *)&a, &len) < 0) {
        perror("chat_server: getsockname");
        weft_close(s.listener);
        return (void *)1;
    }
    s.stop.notify = weft_notify_new();
    if (!s.stop.notify) {
        fprintf(stderr, "chat_server: notify: %s\n", strerror(errno));
        weft_close(s.listener);
        return (void *)1;
    }
    weft_receiver *hub_rx;
    weft_channel_opts ho = {.capacity = HUB_CAP, .drop = drop_event};
    int rc = weft_channel_with(sizeof(event), &ho, &s.hub, &hub_rx);
    if (rc < 0) {
        fprintf(stderr, "chat_server: channel: %s\n", weft_strerror(rc));
        weft_notify_free(s.stop.notify);
        weft_close(s.listener);
        return (void *)1;
    }
    weft_spawn_opts hs = {.name = "hub"};
    weft_task *hubt = weft_spawn_with(&hs, hub_task, hub_rx);
    weft_spawn_opts so = {.name = "signals"};
    weft_task *sig = weft_spawn_with(&so, signals, NULL);
    if (!hubt || !sig) {
        fprintf(stderr, "chat_server: spawn: %s\n", strerror(errno));
        if (!hubt)
            weft_receiver_drop(hub_rx);
        weft_task_abort(hubt);
        weft_task_join(hubt, NULL);
        weft_task_abort(sig);
        weft_task_join(sig, NULL);
        weft_sender_drop(s.hub);
        weft_notify_free(s.stop.notify);
        weft_close(s.listener);
        return (void *)1;
    }
    weft_yield(); /* the signal task is waiting: the handlers are in */
    printf("chat_server: listening on 127.0.0.1:%u\n",
           (unsigned)ntohs(a.sin_port));
    fflush(stdout);
    weft_spawn_opts ao = {.name = "acceptor"};
    weft_task *acc = weft_spawn_with(&ao, acceptor, &s);
    if (!acc)
        fprintf(stderr, "chat_server: spawn: %s\n", strerror(errno));
    void *got = NULL;
    weft_task_join(sig, &got);
    /* The hub first: once it is gone no fd of a client is in its hands. */
    weft_task_abort(hubt);
    weft_task_join(hubt, NULL);
    weft_task_abort(acc);
    weft_task_join(acc, NULL);
    /* Each connection stops serving, closes its socket (LINGER_MS at most)
     * and returns. */
    s.stop.set = 1;
    weft_notify_all(s.stop.notify);
    for (size_t i = 0; i < s.n; i++)
        weft_task_join(s.conns[i], NULL);
    free(s.conns);
    weft_notify_free(s.stop.notify);
    weft_sender_drop(s.hub);
    weft_close(s.listener);
    fprintf(stderr, "chat_server: signal %d, closed everything\n",
            (int)(intptr_t)got);
    return acc ? NULL : (void *)1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: chat_server PORT\n");
        return 2;
    }
    char *end;
    long port = strtol(argv[1], &end, 10);
    if (!*argv[1] || *end || port < 0 || port > 65535) {
        fprintf(stderr, "chat_server: bad port '%s'\n", argv[1]);
        return 2;
    }
    int p = (int)port;
    void *result = NULL;
    int rc = weft_run(root, &p, &result);
    if (rc < 0) {
        fprintf(stderr, "chat_server: %s\n", weft_strerror(rc));
        return 1;
    }
    return result ? 1 : 0;
}
