/*
 * http.c - HTTP GET on libcurl's multi-socket interface, driven by weft's
 * reactor and timers (weft_http.h).
 *
 * One driver per runtime (found through a thread-local: a runtime lives on
 * one thread), created by the first request and destroyed by the runtime's
 * exit hook (weft__rt_on_exit), which runs after every task has returned:
 * curl_multi_cleanup then closes the idle connections through our
 * close-socket callback, while the reactor still exists to forget them.
 *
 * libcurl tells us what to wait for through two callbacks:
 *  - the socket callback: for each socket it wants watched, a sockw record
 *    (attached with curl_multi_assign) and a detached watcher task that
 *    races weft_fd_wait_future(fd, events) against a notify ("kick"); a
 *    change of events or a removal kicks it.  On readiness it calls
 *    curl_multi_socket_action.  A removed record is freed by its watcher
 *    when it exits, or at once when no watcher runs (cancelled at
 *    shutdown); the driver's list holds every record until then.
 *  - the timer callback: one deadline; one detached timer task, spawned
 *    with the driver and alive as long as its runtime, sleeps until it
 *    (kicked when it changes) and then calls
 *    curl_multi_socket_action(CURL_SOCKET_TIMEOUT).
 * Neither callback ever returns -1 (libcurl would then refuse every later
 * call on the multi handle): the timer callback allocates nothing, and a
 * socket callback that cannot allocate its watcher fails the transfer it
 * came for with -ENOMEM.  A watcher or the timer task that cannot make its
 * futures (or libcurl out of memory) fails every transfer in flight with
 * -ENOMEM, waits 1 ms and goes on: a failure is reported, never a hang.
 * After every socket_action the finished transfers are collected
 * (curl_multi_info_read): each is removed from the multi handle and its
 * request future woken.  libcurl's callbacks never suspend: everything runs
 * synchronously inside the task that called socket_action.
 *
 * A request is a leaf future (req): its first poll adds its easy handle;
 * cancel() removes it at once (libcurl closes a connection whose transfer
 * was cut short), cleanup() frees it.  Its status is weft_http_get's.
 */
#include "weft_http.h"

#include "io/io.h"
#include "loop/loop.h"
#include "sched/core.h"
#include "util/alloc.h"

#include <curl/curl.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NO_DEADLINE UINT64_MAX

typedef struct driver {
    weft__exit_hook hook; /* first: the hook is the driver */
    weft__rt *rt;
    CURLM *multi;
    uint64_t deadline; /* libcurl's timeout on the runtime clock, or none */
    weft_notify *timer_kick;
    int closing;      /* the exit hook runs: spawn nothing */
    weft__link socks; /* every sockw not yet freed */
    weft__link reqs;  /* every req in the multi handle */
} driver;

typedef struct sockw {
    weft__link link; /* in driver.socks */
    driver *d;
    curl_socket_t fd;
    int events;  /* WEFT_READABLE | WEFT_WRITABLE */
    int removed; /* libcurl no longer watches it */
    int running; /* its watcher task is alive */
    weft_notify *kick;
} sockw;

struct weft_http_response {
    int status;
    size_t len;
    char *body; /* len bytes and a NUL */
};

typedef struct req {
    weft_future base;
    weft__link link; /* in driver.reqs while in_multi */
    char *url;
    weft_http_response **out;
    driver *d;
    CURL *easy;
    weft__waker *waker; /* while pending */
    char *body;
    size_t len, cap;
    int in_multi; /* added and not yet removed */
    int finished; /* libcurl reported it done */
    int oom;      /* the write callback could not grow the body */
    int open_err; /* errno of a socket the open callback could not make */
    CURLcode rc;
} req;

static _Thread_local driver *tls_driver;

/* ---- errors ------------------------------------------------------------- */

static int map_error(const req *r)
{
    long os = 0;
    switch (r->rc) {
    case CURLE_OK:
        return 0;
    case CURLE_URL_MALFORMAT:
        return -EINVAL;
    case CURLE_UNSUPPORTED_PROTOCOL:
        /* The URL's scheme was checked before: the server answered in no
         * HTTP (libcurl: "Received HTTP/0.9"), or redirected elsewhere. */
        return -EPROTO;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return WEFT_EAI(EAI_NONAME);
    case CURLE_COULDNT_CONNECT:
        if (r->open_err)
            return -r->open_err;
        curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os);
        return os > 0 && os != EINPROGRESS ? -(int)os : -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    case CURLE_WRITE_ERROR:
        return r->oom ? -ENOMEM : -EIO;
    case CURLE_TOO_MANY_REDIRECTS:
        return -ELOOP;
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        return -ECONNRESET;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_BAD_CONTENT_ENCODING:
        return -EPROTO;
    default:
        return -EIO;
    }
}

/* ---- driving libcurl ---------------------------------------------------- */

/* Collects finished transfers: each leaves the multi handle and its future
 * is woken. */
static void collect(driver *d)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(d->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        CURLcode rc = m->data.result;
        req *r = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
        curl_multi_remove_handle(d->multi, easy); /* m is invalid now */
        if (!r)
            continue;
        r->in_multi = 0;
        weft__list_remove(&r->link);
        if (!r->finished) {
            r->finished = 1;
            r->rc = rc;
        }
        if (r->waker)
            weft__wake(r->waker);
    }
}

/* Ends r's transfer with rc now (its future is woken; its handle leaves
 * the multi handle when the future is cleaned up). */
static void fail_req(req *r, CURLcode rc)
{
    if (!r || r->finished)
        return;
    r->finished = 1;
    r->rc = rc;
    if (r->waker)
        weft__wake(r->waker);
}

static void fail_transfer(CURL *easy, CURLcode rc)
{
    req *r = NULL;
    if (easy &&
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r) == CURLE_OK)
        fail_req(r, rc);
}

/* The driver could not go on watching: every transfer fails with ENOMEM. */
static void fail_all(driver *d)
{
    for (weft__link *l = d->reqs.next; l != &d->reqs; l = l->next)
        fail_req(weft__container(l, req, link), CURLE_OUT_OF_MEMORY);
}

/* After fail_all: 1 ms before trying again (0), or -ECANCELED. */
static int backoff(driver *d)
{
    fail_all(d);
    return weft_sleep(WEFT_MS(1)) == -ECANCELED ? -ECANCELED : 0;
}

static void action(driver *d, curl_socket_t fd, int mask)
{
    int running = 0;
    CURLMcode mc = curl_multi_socket_action(d->multi, fd, mask, &running);
    collect(d);
    if (mc == CURLM_OUT_OF_MEMORY)
        fail_all(d);
}

static void sockw_free(sockw *w)
{
    weft__list_remove(&w->link);
    weft_notify_free(w->kick);
    weft__free(w);
}

static void *watcher(void *arg)
{
    sockw *w = arg;
    while (!w->removed) {
        if (w->events == 0) { /* CURL_POLL_NONE: only a kick matters */
            if (weft_notified(w->kick) < 0)
                break;
            continue;
        }
        weft_future *fs[2] = {weft_fd_wait_future(w->fd, w->events),
                              weft_notified_future(w->kick)};
        void *res = NULL;
        int i = weft_race(fs, 2, &res);
        if (i == -ECANCELED || w->removed)
            break; /* cancelled (shutdown), or removed */
        if (i < 0) {
            if (backoff(w->d) < 0)
                break;
            continue; /* out of memory */
        }
        if (i != 0)
            continue; /* kicked: events changed */
        int rc = (int)(intptr_t)res;
        if (rc == -EBADF)
            break; /* closed under us: libcurl removes it */
        if (rc < 0) {
            if (backoff(w->d) < 0) /* the reactor could not watch it */
                break;
            continue;
        }
        int mask = 0;
        if (rc > 0 && (rc & WEFT_READABLE))
            mask |= CURL_CSELECT_IN;
        if (rc > 0 && (rc & WEFT_WRITABLE))
            mask |= CURL_CSELECT_OUT;
        action(w->d, w->fd, mask);
    }
    w->running = 0;
    if (w->removed)
        sockw_free(w);
    return NULL;
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
                     void *socketp)
{
    driver *d = userp;
    sockw *w = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            curl_multi_assign(d->multi, s, NULL);
            w->removed = 1;
            if (w->running)
                weft_notify_one(w->kick);
            else
                sockw_free(w);
        }
        return 0;
    }
    int events = (what & CURL_POLL_IN ? WEFT_READABLE : 0) |
                 (what & CURL_POLL_OUT ? WEFT_WRITABLE : 0);
    if (w) {
        if (w->events != events) {
            w->events = events;
            weft_notify_one(w->kick);
        }
        return 0;
    }
    if (d->closing || d->rt->shutting_down)
        return 0;
    w = weft__calloc(1, sizeof *w);
    if (!w)
        goto oom;
    w->kick = weft_notify_new();
    if (!w->kick) {
        weft__free(w);
        goto oom;
    }
    w->d = d;
    w->fd = s;
    w->events = events;
    w->running = 1;
    weft__list_push(&d->socks, &w->link);
    weft_spawn_opts opts = {.name = "weft-http socket"};
    weft_task *t = weft_spawn_with(&opts, watcher, w);
    if (!t) {
        w->running = 0;
        sockw_free(w);
        goto oom;
    }
    weft_task_detach(t);
    curl_multi_assign(d->multi, s, w);
    return 0;
oom:
    /* Not -1: libcurl would refuse the multi handle from then on. */
    fail_transfer(easy, CURLE_OUT_OF_MEMORY);
    return 0;
}

static void *timer_task(void *arg)
{
    driver *d = arg;
    for (;;) {
        uint64_t dl = d->deadline;
        if (dl == NO_DEADLINE) {
            if (weft_notified(d->timer_kick) < 0)
                break; /* cancelled (shutdown) */
            continue;
        }
        if (weft_now() < dl) {
            weft_future *fs[2] = {weft_sleep_until_future(dl),
                                  weft_notified_future(d->timer_kick)};
            int i = weft_race(fs, 2, NULL);
            if (i == -ECANCELED)
                break; /* cancelled (shutdown) */
            if (i < 0) {
                if (backoff(d) < 0)
                    break;
                continue; /* out of memory */
            }
            if (i != 0 || d->deadline != dl)
                continue; /* the deadline changed */
        }
        d->deadline = NO_DEADLINE;
        action(d, CURL_SOCKET_TIMEOUT, 0);
    }
    return NULL;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    driver *d = userp;
    if (timeout_ms < 0) {
        d->deadline = NO_DEADLINE;
        return 0;
    }
    d->deadline = weft_now() + (uint64_t)timeout_ms * UINT64_C(1000000);
    weft_notify_one(d->timer_kick);
    return 0;
}

/* libcurl's sockets are ours: a number libcurl closes is forgotten by the
 * reactor first, so a later fd with the same number is a new fd. */
static curl_socket_t open_cb(void *clientp, curlsocktype purpose,
                             struct curl_sockaddr *addr)
{
    req *r = clientp; /* alive: its transfer is connecting */
    driver *d = r->d;
    (void)purpose;
    int fd = weft__socket(addr->family, addr->socktype | SOCK_CLOEXEC,
                          addr->protocol);
    if (fd < 0) {
        r->open_err = errno;
        return CURL_SOCKET_BAD;
    }
    if (d->rt->io)
        weft__io_forget(d->rt->io, fd); /* a stale record of the number */
    return fd;
}

static int close_cb(void *clientp, curl_socket_t fd)
{
    driver *d = clientp;
    /* libcurl removes a socket before closing it; if it did not, the
     * watcher sees -EBADF from the forget below. */
    for (weft__link *l = d->socks.next; l != &d->socks; l = l->next) {
        sockw *w = weft__container(l, sockw, link);
        if (w->fd == fd && !w->removed && w->running)
            weft_notify_one(w->kick);
    }
    if (d->rt->io)
        weft__io_forget(d->rt->io, fd);
    return close(fd);
}

static void driver_destroy(weft__rt *rt, weft__exit_hook *h)
{
    driver *d = (driver *)h;
    (void)rt;
    d->closing = 1;
    curl_multi_cleanup(d->multi); /* closes idle connections: close_cb */
    /* Records whose watcher was cancelled at shutdown: detach the list
     * from its sentinel first, then free each node after reading the next. */
    weft__link *l = d->socks.next;
    d->socks.prev->next = NULL;
    weft__list_init(&d->socks);
    while (l && l != &d->socks) {
        sockw *w = weft__container(l, sockw, link);
        l = l->next;
        weft_notify_free(w->kick);
        weft__free(w);
    }
    weft_notify_free(d->timer_kick);
    if (tls_driver == d)
        tls_driver = NULL;
    weft__free(d);
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_ALL); }

/* The driver of rt, created on first use.  NULL with errno ENOMEM (or
 * EMFILE: no fd for the reactor). */
static driver *driver_get(weft__rt *rt)
{
    if (tls_driver && tls_driver->rt == rt)
        return tls_driver;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        errno = ENOMEM;
        return NULL;
    }
    /* The reactor now, while fds are to be had: made lazily by the first
     * watcher, its epoll fd could meet EMFILE once libcurl's sockets had
     * taken the last ones, and fail every request. */
    if (!weft__io_get(rt))
        return NULL; /* errno ENOMEM or EMFILE */
    driver *d = weft__calloc(1, sizeof *d);
    if (!d)
        goto fail;
    d->rt = rt;
    d->deadline = NO_DEADLINE;
    weft__list_init(&d->socks);
    weft__list_init(&d->reqs);
    d->timer_kick = weft_notify_new();
    if (!d->timer_kick)
        goto free_d;
    d->multi = curl_multi_init();
    if (!d->multi)
        goto free_kick;
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
    /* Idle connections kept for reuse: libcurl's default (4 per easy
     * handle added) shrinks as requests end, so with requests coming and
     * going it closed and reopened connections (432 connects for 20,000
     * GETs, 200 at a time; 200 with this).  reqwest's pool keeps every
     * idle connection for 90 s; here up to 1,024, each closed after 118 s
     * idle (libcurl's CURLOPT_MAXAGE_CONN). */
    curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, 1024L);
    /* The timer task now: the timer callback must not fail. */
    weft_spawn_opts opts = {.name = "weft-http timer"};
    weft_task *t = weft_spawn_with(&opts, timer_task, d);
    if (!t)
        goto free_multi;
    weft_task_detach(t);
    d->hook.run = driver_destroy;
    weft__rt_on_exit(rt, &d->hook);
    tls_driver = d;
    return d;
free_multi:
    curl_multi_cleanup(d->multi);
free_kick:
    weft_notify_free(d->timer_kick);
free_d:
    weft__free(d);
fail:
    errno = ENOMEM;
    return NULL;
}

/* ---- the request future ------------------------------------------------- */

static size_t write_cb(char *data, size_t size, size_t n, void *userp)
{
    req *r = userp;
    size_t add = size * n;
    if (r->len + add + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + add + 1)
            cap *= 2;
        char *p = weft__realloc(r->body, cap);
        if (!p) {
            r->oom = 1;
            return 0; /* CURLE_WRITE_ERROR */
        }
        r->body = p;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, add);
    r->len += add;
    return add;
}

static int req_finish(req *r, int status)
{
    r->base.status = status;
    r->base.result = (void *)(intptr_t)status;
    r->waker = NULL;
    return 1;
}

/* A malformed URL fails at once, before libcurl is involved. */
static int url_ok(const char *url)
{
    CURLU *u = curl_url();
    if (!u)
        return -ENOMEM;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    char *scheme = NULL;
    int rc = uc == CURLUE_OK              ? 0
             : uc == CURLUE_OUT_OF_MEMORY ? -ENOMEM
                                          : -EINVAL;
    if (rc == 0 && curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK) {
        if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
            rc = -EINVAL;
        curl_free(scheme);
    }
    curl_url_cleanup(u);
    return rc;
}

static int req_start(weft__rt *rt, req *r)
{
    int rc = url_ok(r->url);
    if (rc)
        return rc;
    r->d = driver_get(rt);
    if (!r->d)
        return -errno;
    r->easy = curl_easy_init();
    if (!r->easy)
        return -ENOMEM;
    CURL *e = r->easy;
    if (curl_easy_setopt(e, CURLOPT_URL, r->url) != CURLE_OK)
        return -ENOMEM;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT,
                     "weft-http/"
                     "0.1");
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_cb);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, r);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_cb);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, r->d);
    CURLMcode mc = curl_multi_add_handle(r->d->multi, e);
    if (mc != CURLM_OK)
        return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
    r->in_multi = 1;
    weft__list_push(&r->d->reqs, &r->link);
    return 0;
}

static int req_done(req *r)
{
    int rc = map_error(r);
    if (rc)
        return rc;
    weft_http_response *resp = weft__calloc(1, sizeof *resp);
    if (!resp)
        return -ENOMEM;
    if (!r->body) {
        r->body = weft__malloc(1);
        if (!r->body) {
            weft__free(resp);
            return -ENOMEM;
        }
    }
    long code = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
    r->body[r->len] = '\0';
    resp->status = (int)code;
    resp->body = r->body;
    resp->len = r->len;
    r->body = NULL; /* the response owns it now */
    *r->out = resp;
    return 0;
}

static int req_poll(weft_future *f, weft__rt *rt, weft__waker *w)
{
    req *r = (req *)f;
    if (!r->easy) {
        int rc = req_start(rt, r);
        if (rc)
            return req_finish(r, rc);
    }
    if (!r->finished) {
        r->waker = w;
        return 0;
    }
    return req_finish(r, req_done(r));
}

static void req_remove(req *r)
{
    if (r->in_multi) {
        r->in_multi = 0;
        weft__list_remove(&r->link);
        curl_multi_remove_handle(r->d->multi, r->easy);
    }
}

static int req_cancel(weft_future *f, weft__rt *rt)
{
    (void)rt;
    req *r = (req *)f;
    r->waker = NULL;
    req_remove(r); /* a transfer cut short: libcurl closes its connection */
    return 0;
}

static void req_cleanup(weft_future *f)
{
    req *r = (req *)f;
    req_remove(r);
    if (r->easy)
        curl_easy_cleanup(r->easy);
    r->easy = NULL;
    weft__free(r->body);
    r->body = NULL;
    weft__free(r->url);
    r->url = NULL;
}

static const weft__future_ops req_ops = {
    .what = "HTTP GET",
    .poll = req_poll,
    .cancel = req_cancel,
    .cleanup = req_cleanup,
};

/* ---- the public functions ----------------------------------------------- */

weft_future *weft_http_get_future(const char *url, weft_http_response **resp)
{
    if (!url || !resp) {
        errno = EINVAL;
        return NULL;
    }
    req *r = weft__calloc(1, sizeof *r);
    if (!r) {
        errno = ENOMEM;
        return NULL;
    }
    size_t n = strlen(url) + 1;
    r->url = weft__malloc(n);
    if (!r->url) {
        weft__free(r);
        errno = ENOMEM;
        return NULL;
    }
    memcpy(r->url, url, n);
    r->out = resp;
    r->base.ops = &req_ops;
    r->base.magic = WEFT__FUTURE_MAGIC;
    return &r->base;
}

int weft_http_get(const char *url, weft_http_response **resp)
{
    if (!url || !resp)
        return -EINVAL;
    if (!weft__rt_here())
        return -EPERM;
    weft_future *f = weft_http_get_future(url, resp);
    if (!f)
        return -errno;
    return weft_await(f, NULL);
}

int weft_http_response_status(const weft_http_response *r)
{
    return r ? r->status : -EINVAL;
}

const char *weft_http_response_text(const weft_http_response *r, size_t *len)
{
    if (!r) {
        errno = EINVAL;
        return NULL;
    }
    if (len)
        *len = r->len;
    return r->body;
}

void weft_http_response_free(weft_http_response *r)
{
    if (!r)
        return;
    weft__free(r->body);
    weft__free(r);
}
