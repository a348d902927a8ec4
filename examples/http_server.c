/*
 * http_server.c - a small HTTP/1.1 server on weft's sockets: serves a
 * directory, keeps connections alive, parses requests with Debian's
 * http_parser (libhttp-parser-dev), one task per connection.
 *
 *   http_server DIR PORT
 *
 * Listens on 127.0.0.1:PORT (0: a free port) and prints the port on the
 * first line of stdout (then "http_server: serving DIR on
 * http://127.0.0.1:PORT/" on stderr).  GET and HEAD only.  Routes:
 *   /PATH              the file DIR/PATH (a directory: its index.html);
 *                      missing: a 404 page with a <title>
 *   /redirect?to=URL   302 Found to URL
 *   /slow?ms=N         "slow N\n" after N ms; ends early, counted as
 *                      aborted, when the client closes the connection
 *   /stats             "open O aborted A\n": connections open now (this
 *                      one included) and /slow requests aborted so far
 *   /hangup            "bye\n", then the connection is closed although the
 *                      response did not say so (a client must notice
 *                      that the connection it keeps alive is dead)
 * On SIGINT or SIGTERM it returns from the root task: the runtime cancels
 * every connection task, each closes its socket, and the program exits 0.
 *
 * Request handling runs inside http_parser's on_message_complete callback:
 * a weft task has its own stack, so a callback may suspend (write, sleep).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <weft.h>

static const char *root_dir;
static long n_open, n_aborted;

typedef struct conn {
    int fd;
    http_parser parser;
    char url[2048];
    size_t url_len;
    int url_too_long;
    int close_after; /* respond, then close */
    int failed;      /* a write failed: stop */
} conn;

static int send_response(conn *c, int status, const char *reason,
                         const char *type, const char *extra_headers,
                         const char *body, size_t len, int head_only)
{
    char hdr[1024];
    int n = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\n%s%s\r\n",
                     status, reason, type, len, extra_headers,
                     c->close_after ? "Connection: close\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof hdr)
        return -1;
    if (weft_write(c->fd, hdr, (size_t)n) < 0 ||
        (!head_only && len && weft_write(c->fd, body, len) < 0)) {
        c->failed = 1;
        return -1;
    }
    return 0;
}

static int hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Decodes %XX escapes in place. */
static void percent_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (s[0] == '%' && hex(s[1]) >= 0 && hex(s[2]) >= 0) {
            *o++ = (char)(hex(s[1]) * 16 + hex(s[2]));
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

/* The value of key in the query string q (copied into out, %XX decoded),
 * or NULL. */
static const char *query_arg(const char *q, const char *key, char *out,
                             size_t n)
{
    size_t klen = strlen(key);
    while (q && *q) {
        if (strncmp(q, key, klen) == 0 && q[klen] == '=') {
            const char *v = q + klen + 1;
            size_t len = strcspn(v, "&");
            if (len >= n)
                len = n - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            percent_decode(out);
            return out;
        }
        q = strchr(q, '&');
        if (q)
            q++;
    }
    return NULL;
}

static const char *content_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot)
        return "application/octet-stream";
    if (!strcmp(dot, ".html") || !strcmp(dot, ".htm"))
        return "text/html; charset=utf-8";
    if (!strcmp(dot, ".txt"))
        return "text/plain; charset=utf-8";
    if (!strcmp(dot, ".css"))
        return "text/css";
    if (!strcmp(dot, ".js"))
        return "text/javascript";
    return "application/octet-stream";
}

static void not_found(conn *c, int head)
{
    static const char page[] =
        "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>"
        "<body><h1>Not Found</h1></body></html>\n";
    send_response(c, 404, "Not Found", "text/html; charset=utf-8", "", page,
                  sizeof page - 1, head);
}

/* /slow?ms=N: waits N ms, or until the client goes away. */
static void slow(conn *c, const char *query, int head)
{
    char arg[32];
    long ms = query_arg(query, "ms", arg, sizeof arg) ? atol(arg) : 1000;
    uint64_t until = weft_now() + WEFT_MS(ms < 0 ? 0 : ms);
    while (weft_now() < until) {
        weft_future *fs[2] = {weft_sleep_until_future(until),
                              weft_fd_wait_future(c->fd, WEFT_READABLE)};
        int i = weft_race(fs, 2, NULL);
        if (i < 0) {
            c->failed = 1;
            return;
        }
        if (i == 1) {
            char b;
            ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                n_aborted++; /* the client went away */
                c->failed = 1;
                return;
            }
            if (n > 0) /* a pipelined request: keep waiting for the time */
                weft_sleep_until(until);
        }
    }
    char body[64];
    int n = snprintf(body, sizeof body, "slow %ld\n", ms);
    send_response(c, 200, "OK", "text/plain", "", body, (size_t)n, head);
}

static void serve_file(conn *c, const char *path, int head)
{
    /* Reject anything that could leave DIR. */
    if (path[0] != '/' || strstr(path, "..") || strchr(path, '%')) {
        not_found(c, head);
        return;
    }
    char full[4096];
    size_t plen = strlen(path);
    int n = snprintf(full, sizeof full, "%s%s%s", root_dir, path,
                     path[plen - 1] == '/' ? "index.html" : "");
    if (n < 0 || (size_t)n >= sizeof full) {
        not_found(c, head);
        return;
    }
    char *data = NULL;
    size_t len = 0;
    int rc = weft_read_to_string(full, &data, &len);
    if (rc == -EISDIR) {
        char loc[2200];
        snprintf(loc, sizeof loc, "Location: %s/\r\n", path);
        send_response(c, 301, "Moved Permanently", "text/plain", loc, "", 0,
                      head);
        return;
    }
    if (rc < 0) {
        not_found(c, head);
        return;
    }
    send_response(c, 200, "OK", content_type(full), "", data, len, head);
    free(data);
}

static void handle(conn *c)
{
    int method = c->parser.method;
    int head = method == HTTP_HEAD;
    if (!http_should_keep_alive(&c->parser))
        c->close_after = 1;
    if (c->url_too_long) {
        c->close_after = 1;
        send_response(c, 414, "URI Too Long", "text/plain", "", "", 0, head);
        return;
    }
    if (method != HTTP_GET && method != HTTP_HEAD) {
        send_response(c, 405, "Method Not Allowed", "text/plain",
                      "Allow: GET, HEAD\r\n", "", 0, head);
        return;
    }
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(c->url, c->url_len, 0, &u) != 0 ||
        !(u.field_set & (1 << UF_PATH))) {
        c->close_after = 1;
        send_response(c, 400, "Bad Request", "text/plain", "", "", 0, head);
        return;
    }
    char path[2048], query[2048] = "";
    memcpy(path, c->url + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
    path[u.field_data[UF_PATH].len] = '\0';
    if (u.field_set & (1 << UF_QUERY)) {
        memcpy(query, c->url + u.field_data[UF_QUERY].off,
               u.field_data[UF_QUERY].len);
        query[u.field_data[UF_QUERY].len] = '\0';
    }
    char arg[2048];
    if (!strcmp(path, "/redirect")) {
        char loc[2200];
        snprintf(loc, sizeof loc, "Location: %s\r\n",
                 query_arg(query, "to", arg, sizeof arg) ? arg : "/");
        send_response(c, 302, "Found", "text/plain", loc, "", 0, head);
    } else if (!strcmp(path, "/slow")) {
        slow(c, query, head);
    } else if (!strcmp(path, "/hangup")) {
        send_response(c, 200, "OK", "text/plain", "", "bye\n", 4, head);
        c->failed = 1; /* close without having said so */
    } else if (!strcmp(path, "/stats")) {
        char body[128];
        int n = snprintf(body, sizeof body, "open %ld aborted %ld\n", n_open,
                         n_aborted);
        send_response(c, 200, "OK", "text/plain", "", body, (size_t)n, head);
    } else {
        serve_file(c, path, head);
    }
}

static int on_message_begin(http_parser *p)
{
    conn *c = p->data;
    c->url_len = 0;
    c->url_too_long = 0;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    conn *c = p->data;
    if (c->url_len + len >= sizeof c->url) {
        c->url_too_long = 1;
        return 0;
    }
    memcpy(c->url + c->url_len, at, len);
    c->url_len += len;
    c->url[c->url_len] = '\0';
    return 0;
}

static int on_message_complete(http_parser *p)
{
    conn *c = p->data;
    handle(c);
    return c->failed || c->close_after; /* non-zero: stop parsing */
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_message_complete = on_message_complete,
};

static void *connection(void *arg)
{
    conn *c = arg;
    n_open++;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    char buf[16384];
    for (;;) {
        ssize_t n = weft_read(c->fd, buf, sizeof buf);
        if (n < 0)
            break; /* reset, or cancelled at shutdown */
        size_t done =
            http_parser_execute(&c->parser, &settings, buf, (size_t)n);
        if (c->failed || c->close_after || n == 0)
            break;
        if (c->parser.http_errno != HPE_OK || done != (size_t)n) {
            c->close_after = 1;
            send_response(c, 400, "Bad Request", "text/plain", "", "", 0, 0);
            break;
        }
    }
    weft_close(c->fd);
    n_open--;
    free(c);
    return NULL;
}

static void drop_conn(void *arg)
{
    conn *c = arg;
    weft_close(c->fd);
    free(c);
}

static void *acceptor(void *arg)
{
    int listener = (int)(intptr_t)arg;
    for (;;) {
        int fd = weft_tcp_accept(listener, NULL);
        if (fd == -ECANCELED)
            break;
        if (fd < 0) {
            weft_sleep(WEFT_MS(10)); /* out of fds: back off */
            continue;
        }
        conn *c = calloc(1, sizeof *c);
        if (!c) {
            weft_close(fd);
            continue;
        }
        c->fd = fd;
        weft_spawn_opts opts = {.name = "connection", .drop_arg = drop_conn};
        weft_task *t = weft_spawn_with(&opts, connection, c);
        if (t)
            weft_task_detach(t);
    }
    return NULL;
}

static void *wait_stop(void *arg)
{
    (void)arg;
    weft_future *sigs[2] = {weft_signal_wait_future(SIGINT),
                            weft_signal_wait_future(SIGTERM)};
    weft_race(sigs, 2, NULL);
    return NULL;
}

static void *server(void *arg)
{
    int port = (int)(intptr_t)arg;
    int listener = weft_tcp_listen("127.0.0.1", (uint16_t)port, 0);
    if (listener < 0) {
        fprintf(stderr, "http_server: listen: %s\n", weft_strerror(listener));
        return (void *)1;
    }
    /* Catch the stop signals before saying we are ready: a SIGTERM sent
     * right after the port line must not be missed. */
    weft_task *sig = weft_spawn(wait_stop, NULL);
    if (!sig) {
        weft_close(listener);
        return (void *)1;
    }
    weft_yield(); /* wait_stop polls its futures: the handlers are set */
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    getsockname(listener, (struct sockaddr *)&sa, &sl);
    printf("%d\n", ntohs(sa.sin_port));
    fflush(stdout);
    fprintf(stderr, "http_server: serving %s on http://127.0.0.1:%d/\n",
            root_dir, ntohs(sa.sin_port));
    weft_task *acc = weft_spawn(acceptor, (void *)(intptr_t)listener);
    if (!acc) {
        weft_task_abort(sig);
        weft_task_join(sig, NULL);
        weft_close(listener);
        return (void *)1;
    }
    weft_task_join(sig, NULL);
    weft_task_abort(acc);
    weft_task_join(acc, NULL);
    weft_close(listener);
    fprintf(stderr, "http_server: stopped\n");
    /* Returning cancels every connection task: each closes its socket. */
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DIR PORT\n", argv[0]);
        return 2;
    }
    root_dir = argv[1];
    void *res = NULL;
    int rc = weft_run(server, (void *)(intptr_t)atoi(argv[2]), &res);
    if (rc < 0) {
        fprintf(stderr, "http_server: %s\n", weft_strerror(rc));
        return 1;
    }
    return res ? 1 : 0;
}
