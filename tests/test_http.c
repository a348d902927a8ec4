/*
 * test_http.c - weft-http: HTTP GET on libcurl driven by weft's reactor
 * against a real local server (the http_server example, started per test
 * on an ephemeral 127.0.0.1 port, serving examples/www), and HTML parsing
 * and selection through gumbo.
 *
 * Exact status codes and body bytes; cancellation checked from the
 * server's side (its /stats route counts /slow requests whose client went
 * away); fds counted before and after weft_run.  Only generous wall-clock
 * bounds (slow_ns).  Network traffic stays on 127.0.0.1.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"
#include "weft.h"
#include "weft_http.h"

extern char **environ;

/* ---- the server --------------------------------------------------------- */

static pid_t server_pid;
static char base[64]; /* http://127.0.0.1:PORT */

/* Starts argv[0] with its stdout on a pipe (*out: the read end).  The
 * child dies with this test process, even when the runner kills it on a
 * timeout; it gets default dispositions and an empty mask for the signals
 * that stop it, whatever the runner set. */
static pid_t spawn_piped(char **argv, int *out)
{
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (dup2(p[1], 1) < 0)
            _exit(127);
        execve(argv[0], argv, environ);
        _exit(127);
    }
    close(p[1]);
    *out = p[0];
    return pid;
}

static void server_start(void)
{
    char prog[] = WEFT_EXAMPLES_DIR "/http_server";
    char dir[] = WEFT_HTTP_WWW;
    char port[] = "0";
    char *argv[] = {prog, dir, port, NULL};
    int p[2];
    server_pid = spawn_piped(argv, &p[0]);
    char line[32] = {0};
    size_t n = 0;
    while (n < sizeof line - 1 && !strchr(line, '\n')) {
        ssize_t r = read(p[0], line + n, sizeof line - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(p[0]);
    int portno = atoi(line);
    cr_assert_gt(portno, 0, "http_server printed no port: \"%s\"", line);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", portno);
}

static void server_stop(void)
{
    if (server_pid <= 0)
        return;
    /* SIGTERM (again every 100 ms, bounded), then SIGKILL. */
    int st;
    for (int i = 0; i < 100; i++) {
        kill(server_pid, SIGTERM);
        for (int j = 0; j < 10; j++) {
            if (waitpid(server_pid, &st, WNOHANG) == server_pid) {
                server_pid = 0;
                return;
            }
            thread_sleep_ms(10);
        }
    }
    kill(server_pid, SIGKILL);
    waitpid(server_pid, &st, 0);
    server_pid = 0;
}

TestSuite(http, .init = server_start, .fini = server_stop, .timeout = 120);

/* ---- helpers ------------------------------------------------------------ */

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the DIR's own fd */
}

/* Runs fn on the real clock; asserts weft_run returned 0 and that no fd
 * is left open afterwards. */
static void *run_http(weft_fn *fn, void *arg)
{
    int before = count_fds();
    void *result = run_real(fn, arg);
    cr_assert_eq(count_fds(), before, "fds leaked: %d before, %d after", before,
                 count_fds());
    return result;
}

static char *url_of(const char *path)
{
    char *u = NULL;
    cr_assert_gt(asprintf(&u, "%s%s", base, path), 0);
    return u;
}

static char *file_of(const char *name, size_t *len)
{
    char *path = NULL;
    cr_assert_gt(asprintf(&path, "%s/%s", WEFT_HTTP_WWW, name), 0);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    free(path);
    char *data = malloc(1 << 16);
    *len = fread(data, 1, 1 << 16, f);
    fclose(f);
    return data;
}

/* GET path; asserts success and the status; returns the response. */
static weft_http_response *get_ok(const char *path, int status)
{
    char *u = url_of(path);
    weft_http_response *r = NULL;
    int rc = weft_http_get(u, &r);
    cr_assert_eq(rc, 0, "GET %s: %d (%s)", u, rc, weft_strerror(rc));
    cr_assert_not_null(r);
    cr_assert_eq(weft_http_response_status(r), status, "GET %s: status %d", u,
                 weft_http_response_status(r));
    free(u);
    return r;
}

/* The server's count of /slow requests whose client went away. */
static long server_aborted(void)
{
    weft_http_response *r = get_ok("/stats", 200);
    long open = -1, aborted = -1;
    sscanf(weft_http_response_text(r, NULL), "open %ld aborted %ld", &open,
           &aborted);
    weft_http_response_free(r);
    return aborted;
}

/* Waits (polling /stats, bounded) until the server has seen n aborts. */
static void expect_aborted(long n)
{
    uint64_t until = weft_now() + slow_ns(WEFT_SEC(3));
    long seen;
    while ((seen = server_aborted()) < n && weft_now() < until)
        weft_sleep(WEFT_MS(10));
    cr_assert_eq(seen, n, "the server saw %ld closed slow requests, not %ld",
                 seen, n);
}

/* ---- HTTP --------------------------------------------------------------- */

static void *body_exact(void *arg)
{
    (void)arg;
    size_t flen;
    char *file = file_of("rust.html", &flen);
    weft_http_response *r = get_ok("/rust.html", 200);
    size_t len = 0;
    const char *text = weft_http_response_text(r, &len);
    cr_assert_eq(len, flen);
    cr_assert_eq(memcmp(text, file, len), 0);
    cr_assert_eq(text[len], '\0', "the body is NUL-terminated");
    weft_http_response_free(r);
    free(file);
    return NULL;
}

Test(http, status_and_exact_body) { run_http(body_exact, NULL); }

static void *title(void *arg)
{
    (void)arg;
    weft_http_response *r = get_ok("/", 200);
    size_t len;
    const char *text = weft_http_response_text(r, &len);
    weft_html *doc = weft_html_parse(text, len);
    weft_http_response_free(r);
    cr_assert_not_null(doc);
    char *t = weft_html_select_first(doc, "title");
    cr_assert_str_eq(t, "weft: an async runtime for C");
    free(t);
    weft_html_free(doc);
    return NULL;
}

Test(http, title_through_parse_and_select) { run_http(title, NULL); }

static void *redirect(void *arg)
{
    (void)arg;
    size_t flen;
    char *file = file_of("rust.html", &flen);
    weft_http_response *r =
        get_ok("/redirect?to=/redirect%3Fto=/rust.html", 200);
    size_t len;
    const char *text = weft_http_response_text(r, &len);
    cr_assert_eq(len, flen);
    cr_assert_eq(memcmp(text, file, len), 0);
    weft_http_response_free(r);
    free(file);
    return NULL;
}

Test(http, redirects_are_followed) { run_http(redirect, NULL); }

static void *not_found(void *arg)
{
    (void)arg;
    weft_http_response *r = get_ok("/no/such/page.html", 404);
    cr_assert_not_null(strstr(weft_http_response_text(r, NULL),
                              "<title>404 Not Found</title>"));
    weft_http_response_free(r);
    return NULL;
}

Test(http, not_found_is_a_response) { run_http(not_found, NULL); }

static void *errors(void *arg)
{
    (void)arg;
    /* A port nobody listens on: bound, never listening, then closed. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    cr_assert_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    getsockname(s, (struct sockaddr *)&sa, &sl);
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/", ntohs(sa.sin_port));
    weft_http_response *r = (weft_http_response *)&r; /* poison */
    int rc = weft_http_get(u, &r);
    close(s);
    cr_assert_eq(rc, -ECONNREFUSED, "%d (%s)", rc, weft_strerror(rc));
    cr_assert_eq(r, (weft_http_response *)&r, "*resp untouched on failure");

    cr_assert_eq(weft_http_get("http://[::1", &r), -EINVAL);
    cr_assert_eq(weft_http_get("not a url", &r), -EINVAL);
    cr_assert_eq(weft_http_get("ftp://127.0.0.1/", &r), -EINVAL);
    cr_assert_eq(weft_http_get(NULL, &r), -EINVAL);
    cr_assert_eq(weft_http_get(u, NULL), -EINVAL);
    cr_assert_null(weft_http_get_future(NULL, &r));
    cr_assert_eq(errno, EINVAL);

    rc = weft_http_get("http://no-such-host.invalid/", &r);
    cr_assert(WEFT_IS_EAI(rc), "a resolver failure: %d (%s)", rc,
              weft_strerror(rc));
    cr_assert_str_neq(weft_strerror(rc), "unknown error");
    return NULL;
}

Test(http, errors_are_negative_errnos) { run_http(errors, NULL); }

Test(http, outside_a_runtime)
{
    weft_http_response *r = NULL;
    cr_assert_eq(weft_http_get("http://127.0.0.1/", &r), -EPERM);
    weft_future_drop(weft_http_get_future("http://127.0.0.1/", &r));
    cr_assert_null(r);
}

/* ---- HTTPS: libcurl's TLS through weft's reactor ------------------------- */

/* A TLS server with a self-signed certificate (openssl s_server, its key
 * made here): the handshake runs through weft's reactor up to the
 * certificate check, which must fail (-EPROTO), as reqwest refuses an
 * untrusted certificate.  Skipped without the openssl program. */
static void *https_get(void *arg)
{
    const char *url = arg;
    weft_http_response *r = NULL;
    int rc = weft_http_get(url, &r);
    cr_assert_eq(rc, -EPROTO, "GET %s: %d (%s)", url, rc, weft_strerror(rc));
    cr_assert_null(r);
    return NULL;
}

Test(http, https_checks_the_certificate, .timeout = 60)
{
    if (access("/usr/bin/openssl", X_OK) != 0)
        cr_skip_test("no /usr/bin/openssl");
    char dir[] = "/tmp/weft-tls-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/openssl req -x509 -newkey ec -pkeyopt "
             "ec_paramgen_curve:prime256v1 -nodes -days 1 "
             "-subj /CN=127.0.0.1 -keyout %s/key.pem -out %s/cert.pem "
             ">/dev/null 2>&1",
             dir, dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    char cert[64], key[64];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);

    char *argv[] = {"/usr/bin/openssl",
                    "s_server",
                    "-accept",
                    "127.0.0.1:0",
                    "-cert",
                    cert,
                    "-key",
                    key,
                    "-www",
                    NULL};
    int p[2];
    pid_t pid = spawn_piped(argv, &p[0]);
    /* "ACCEPT 127.0.0.1:PORT", after other lines perhaps */
    char line[512] = {0};
    size_t n = 0;
    const char *acc = NULL;
    while (n < sizeof line - 1 &&
           !((acc = strstr(line, "ACCEPT ")) && strchr(acc, '\n'))) {
        ssize_t r = read(p[0], line + n, sizeof line - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(p[0]);
    const char *colon = acc ? strchr(acc, ':') : NULL;
    int port = colon ? atoi(colon + 1) : 0;
    if (port > 0) {
        char url[64];
        snprintf(url, sizeof url, "https://127.0.0.1:%d/", port);
        run_http(https_get, url);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    unlink(cert);
    unlink(key);
    rmdir(dir);
    cr_assert_gt(port, 0, "openssl s_server printed \"%s\"", line);
}

static void *timeout_closes(void *arg)
{
    (void)arg;
    char *u = url_of("/slow?ms=10000");
    weft_http_response *r = NULL;
    uint64_t t0 = weft_now();
    int rc = weft_timeout(weft_http_get_future(u, &r), WEFT_MS(100), NULL);
    cr_assert_eq(rc, -ETIMEDOUT, "%d (%s)", rc, weft_strerror(rc));
    cr_assert_null(r, "*resp untouched");
    cr_assert_lt(weft_now() - t0, slow_ns(WEFT_SEC(3)));
    expect_aborted(1); /* the server saw the connection close */
    free(u);
    return NULL;
}

Test(http, timeout_cancels_and_closes_the_connection)
{
    run_http(timeout_closes, NULL);
}

static void *race(void *arg)
{
    (void)arg;
    char *slow = url_of("/slow?ms=10000"), *fast = url_of("/rust.html");
    weft_http_response *rs = NULL, *rf = NULL;
    weft_future *fs[2] = {weft_http_get_future(slow, &rs),
                          weft_http_get_future(fast, &rf)};
    void *res = (void *)1;
    int i = weft_race(fs, 2, &res);
    cr_assert_eq(i, 1);
    cr_assert_eq((int)(intptr_t)res, 0, "the winner's status");
    cr_assert_null(rs, "the loser's *resp untouched");
    cr_assert_eq(weft_http_response_status(rf), 200);
    weft_http_response_free(rf);
    expect_aborted(1);
    free(slow);
    free(fast);
    return NULL;
}

Test(http, race_cancels_the_loser) { run_http(race, NULL); }

static void *slow_get(void *arg)
{
    weft_http_response **r = arg;
    char *u = url_of("/slow?ms=10000");
    int rc = weft_http_get(u, r);
    free(u);
    return (void *)(intptr_t)rc;
}

static void *abort_task(void *arg)
{
    (void)arg;
    weft_http_response *r = NULL;
    weft_task *t = weft_spawn(slow_get, &r);
    weft_sleep(WEFT_MS(100));
    weft_task_abort(t);
    void *res = NULL;
    cr_assert_eq(weft_task_join(t, &res), -ECANCELED);
    cr_assert_null(r);
    expect_aborted(1);
    return NULL;
}

Test(http, abort_stops_the_transfer) { run_http(abort_task, NULL); }

#define MANY 300

static void *many(void *arg)
{
    (void)arg;
    size_t alen, blen;
    char *a = file_of("index.html", &alen), *b = file_of("rust.html", &blen);
    char *ua = url_of("/"), *ub = url_of("/rust.html");
    static weft_http_response *rs[MANY];
    weft_future *fs[MANY];
    void *results[MANY];
    for (int i = 0; i < MANY; i++) {
        rs[i] = NULL;
        fs[i] = weft_http_get_future(i % 2 ? ub : ua, &rs[i]);
    }
    uint64_t t0 = weft_now();
    cr_assert_eq(weft_join_all(fs, MANY, results), 0);
    cr_assert_lt(weft_now() - t0, slow_ns(WEFT_SEC(20)));
    for (int i = 0; i < MANY; i++) {
        cr_assert_eq((int)(intptr_t)results[i], 0, "request %d", i);
        size_t len;
        const char *text = weft_http_response_text(rs[i], &len);
        cr_assert_eq(len, i % 2 ? blen : alen, "request %d", i);
        cr_assert_eq(memcmp(text, i % 2 ? b : a, len), 0, "request %d", i);
        weft_http_response_free(rs[i]);
    }
    free(a);
    free(b);
    free(ua);
    free(ub);
    return NULL;
}

Test(http, three_hundred_requests_in_flight_on_one_thread)
{
    run_http(many, NULL);
}

static void *sequential(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20; i++) {
        weft_http_response *r = get_ok(i % 2 ? "/" : "/rust.html", 200);
        weft_http_response_free(r);
    }
    return NULL;
}

static void *hangups(void *arg)
{
    (void)arg;
    /* The server closes each connection after its answer without saying
     * so: libcurl finds the kept-alive connection dead at the next
     * request, closes it (weft forgets the fd first) and opens a new
     * socket, which usually gets the same fd number back. */
    for (int i = 0; i < 20; i++) {
        weft_http_response *r = get_ok(i % 2 ? "/hangup" : "/rust.html", 200);
        if (i % 2)
            cr_assert_str_eq(weft_http_response_text(r, NULL), "bye\n");
        weft_http_response_free(r);
        weft_sleep(WEFT_MS(2)); /* let the server's close arrive */
    }
    return NULL;
}

Test(http, connections_closed_by_the_server_are_replaced)
{
    run_http(hangups, NULL);
}

Test(http, runtimes_in_turn_leave_no_fd)
{
    /* Each runtime has its own multi handle, destroyed when it ends (its
     * idle keep-alive connections closed): run_http checks the fds. */
    run_http(sequential, NULL);
    run_http(sequential, NULL);
}

/* ---- the 17.1 listings and titles against the server ----------------------
 */

/* Runs an example program with args; returns its stdout (free it) and sets
 * *status to its exit status (bounded: killed after 30 s). */
static char *run_prog(const char *name, char **args, int *status)
{
    char prog[512];
    snprintf(prog, sizeof prog, "%s/%s", WEFT_EXAMPLES_DIR, name);
    char *argv[8] = {prog};
    for (int i = 0; args[i] && i < 6; i++)
        argv[i + 1] = args[i];
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    pid_t pid;
    int rc = posix_spawn(&pid, prog, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    cr_assert_eq(rc, 0, "posix_spawn %s: %s", prog, strerror(rc));
    size_t cap = 1 << 16, n = 0;
    char *out = calloc(1, cap);
    ssize_t r;
    while (n < cap - 1 && (r = read(p[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return out;
}

static void expect_output(const char *name, char **args, const char *want)
{
    int st;
    char *out = run_prog(name, args, &st);
    cr_assert_eq(st, 0, "%s exited with %d; output: %s", name, st, out);
    cr_assert_str_eq(out, want, "%s", name);
    free(out);
}

Test(http, listings_17_01_to_17_04_print_the_title)
{
    char *u = url_of("/"), *none = url_of("/untitled.html");
    char *want = NULL, *want_none = NULL;
    cr_assert_gt(asprintf(&want,
                          "The title for %s was\n    weft: an async "
                          "runtime for C\n",
                          u),
                 0);
    cr_assert_gt(asprintf(&want_none, "%s had no title\n", none), 0);
    const char *names[] = {"listing_17_01", "listing_17_02", "listing_17_03",
                           "listing_17_04"};
    for (int i = 0; i < 4; i++) {
        char *args[] = {u, NULL}, *args_none[] = {none, NULL};
        expect_output(names[i], args, want);
        expect_output(names[i], args_none, want_none);
    }
    int st;
    char *args[] = {"http://[bad", NULL};
    free(run_prog("listing_17_01", args, &st));
    cr_assert_eq(st, 1, "a failed GET exits 1");
    free(u);
    free(none);
    free(want);
    free(want_none);
}

Test(http, listing_17_05_races_two_pages)
{
    char *slow = url_of("/slow?ms=10000"), *fast = url_of("/rust.html");
    char *none = url_of("/untitled.html");
    char *want = NULL;
    cr_assert_gt(asprintf(&want,
                          "%s returned first\nIts page title was: 'Rust "
                          "Programming Language'\n",
                          fast),
                 0);
    char *args[] = {slow, fast, NULL};
    expect_output("listing_17_05", args, want);
    free(want);
    cr_assert_gt(asprintf(&want, "%s returned first\nIt had no title.\n", none),
                 0);
    char *args2[] = {none, slow, NULL};
    expect_output("listing_17_05", args2, want);
    free(want);
    free(slow);
    free(fast);
    free(none);
}

Test(http, titles_fetches_many_pages_at_once)
{
    char *a = url_of("/"), *b = url_of("/rust.html");
    char *args[] = {"50", a, b, NULL};
    int st;
    char *out = run_prog("titles", args, &st);
    cr_assert_eq(st, 0, "%s", out);
    char *want = NULL;
    cr_assert_gt(asprintf(&want,
                          "%s: weft: an async runtime for C\n%s: Rust "
                          "Programming Language\n",
                          a, b),
                 0);
    size_t wl = strlen(want);
    cr_assert_eq(strlen(out), 25 * wl, "%s", out);
    for (int i = 0; i < 25; i++)
        cr_assert_eq(memcmp(out + (size_t)i * wl, want, wl), 0, "line pair %d",
                     i);
    free(out);
    free(want);
    free(a);
    free(b);
}

/* ---- HTML --------------------------------------------------------------- */

static char *sel(const char *html, const char *selector)
{
    weft_html *doc = weft_html_parse(html, strlen(html));
    cr_assert_not_null(doc);
    errno = 0;
    char *s = weft_html_select_first(doc, selector);
    int err = errno;
    weft_html_free(doc);
    errno = err;
    return s;
}

static void expect_sel(const char *html, const char *selector, const char *want)
{
    char *got = sel(html, selector);
    cr_assert_not_null(got, "%s: NULL (errno %d)", selector, errno);
    cr_assert_str_eq(got, want, "selector %s", selector);
    free(got);
}

static const char page[] =
    "<html><head><title>T</title></head><body>"
    "<div id=\"main\" class=\"box wide\"><p class=\"note\">one</p>"
    "<p id=\"second\" class=\"note x\">two <a href=\"/a\">link</a></p></div>"
    "<p class=\"note\">three</p><span class=\"note\">four</span>"
    "<section><div><p>deep</p></div></section>"
    "</body></html>";

Test(html, selectors_of_each_kind)
{
    expect_sel(page, "title", "T");
    expect_sel(page, "TITLE", "T");
    expect_sel(page, "#second", "two <a href=\"/a\">link</a>");
    expect_sel(page, ".note", "one");
    expect_sel(page, ".x", "two <a href=\"/a\">link</a>");
    expect_sel(page, "span.note", "four");
    expect_sel(page, "p#second", "two <a href=\"/a\">link</a>");
    expect_sel(page, "div#main.wide",
               "<p class=\"note\">one</p><p id=\"second\" "
               "class=\"note x\">two <a href=\"/a\">"
               "link</a></p>");
    expect_sel(page, "*#second a", "link");
}

Test(html, descendant_combinators)
{
    expect_sel(page, "div p", "one");
    expect_sel(page, "#main .x a", "link");
    expect_sel(page, "section p", "deep");
    expect_sel(page, "body  section   div p", "deep");
    expect_sel(page, "section div", "<p>deep</p>");
    cr_assert_null(sel(page, "section span"));
    cr_assert_eq(errno, ENOENT);
}

Test(html, inner_html_escapes_and_keeps_tags)
{
    expect_sel("<div id=d>a &amp; b &lt;c&gt; \"q\" <b class=\"x\">bold</b>"
               "<br><img src='a\"b&amp;c'> <!--note--> x\xc2\xa0y</div>",
               "#d",
               "a &amp; b &lt;c&gt; \"q\" <b class=\"x\">bold</b><br>"
               "<img src=\"a&quot;b&amp;c\"> <!--note--> x&nbsp;y");
    expect_sel("<title>A &amp; B &lt; C</title>", "title", "A &amp; B &lt; C");
    expect_sel("<script>if (a < b && c) x();</script>", "script",
               "if (a < b && c) x();");
    expect_sel("<p id=e></p>", "#e", "");
}

Test(html, malformed_input_is_repaired)
{
    /* The adoption agency algorithm, as html5ever and browsers. */
    expect_sel("<p>one<p>two<b>bold<i>both</b>italic</i>", "body",
               "<p>one</p><p>two<b>bold<i>both</i></b><i>italic</i></p>");
    expect_sel("<table><tr><td>cell</table>", "table",
               "<tbody><tr><td>cell</td></tr></tbody>");
    expect_sel("", "html", "<head></head><body></body>");
    expect_sel("<ul><li>a<li>b</ul>", "ul", "<li>a</li><li>b</li>");
}

Test(html, errors)
{
    cr_assert_null(sel(page, "table"));
    cr_assert_eq(errno, ENOENT);
    const char *bad[] = {"",  "   ", "div > p", "a[href]", "p:first-child",
                         "#", ".",   "p,div",   "p.",      "+p"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_null(sel(page, bad[i]), "selector \"%s\"", bad[i]);
        cr_assert_eq(errno, EINVAL, "selector \"%s\"", bad[i]);
    }
    errno = 0;
    cr_assert_null(weft_html_parse(NULL, 0));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_null(weft_html_select_first(NULL, "p"));
    cr_assert_eq(errno, EINVAL);
    weft_html_free(NULL);
}

/* ---- found by a new user's trial ---------------------------------------- */

/* 10,000 nested elements, in a task with the default stack: gumbo frees
 * its tree recursively and the selection walks recurse, which overflowed
 * the task's stack; parse errors (each unclosed tag one, each with a copy
 * of the open-element stack) made the unclosed form take 4 s and 800 MB. */
static void *deep_pages(void *arg)
{
    (void)arg;
    enum { DEPTH = 10000 };
    size_t cap = (size_t)DEPTH * 32 + 64, n = 0;
    char *closed = malloc(cap), *open_only = malloc(cap);
    cr_assert(closed && open_only);
    for (int i = 0; i < DEPTH; i++)
        n += (size_t)sprintf(closed + n, "<span class=\"d%d\">", i);
    memcpy(open_only, closed, n + 1);
    n += (size_t)sprintf(closed + n, "<i class=\"deep\">x</i>");
    for (int i = 0; i < DEPTH; i++)
        n += (size_t)sprintf(closed + n, "</span>");
    for (int pass = 0; pass < 2; pass++) {
        const char *text = pass ? open_only : closed;
        weft_html *doc = weft_html_parse(text, strlen(text));
        cr_assert_not_null(doc);
        char *last = weft_html_select_first(doc, ".d9999");
        cr_assert_not_null(last, "%s", strerror(errno));
        cr_assert_str_eq(last, pass ? "" : "<i class=\"deep\">x</i>");
        free(last);
        char *deep = weft_html_select_first(doc, "span i.deep");
        if (pass) {
            cr_assert_null(deep);
            cr_assert_eq(errno, ENOENT);
        } else {
            cr_assert_str_eq(deep, "x");
            free(deep);
        }
        char *outer = weft_html_select_first(doc, "span");
        cr_assert_not_null(outer);
        cr_assert(
            strncmp(outer, "<span class=\"d1\"><span class=\"d2\">", 34) == 0,
            "%.80s", outer);
        free(outer);
        weft_html_free(doc);
    }
    free(closed);
    free(open_only);
    return NULL;
}

Test(html, ten_thousand_levels_on_a_task_stack) { run_real(deep_pages, NULL); }

/* Accepts one connection, reads the request's head and answers with bytes
 * that are not HTTP. */
static void *not_http(void *arg)
{
    int l = (int)(intptr_t)arg;
    int s = weft_tcp_accept(l, NULL);
    cr_assert_geq(s, 0);
    char buf[1024];
    size_t n = 0;
    while (n < sizeof buf - 1) {
        ssize_t r = weft_read(s, buf + n, sizeof buf - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    static const char junk[] = "NOT HTTP AT ALL\r\n\r\n";
    weft_write(s, junk, sizeof junk - 1);
    weft_close(s);
    return NULL;
}

static void *garbage_reply(void *arg)
{
    (void)arg;
    int l = weft_tcp_listen("127.0.0.1", 0, 4);
    cr_assert_geq(l, 0);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    getsockname(l, (struct sockaddr *)&a, &len);
    weft_task *t = weft_spawn(not_http, (void *)(intptr_t)l);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(a.sin_port));
    weft_http_response *r = NULL;
    int rc = weft_http_get(url, &r);
    cr_assert_eq(rc, -EPROTO, "%d (%s)", rc, weft_strerror(rc));
    cr_assert_null(r);
    weft_task_join(t, NULL);
    weft_close(l);
    return NULL;
}

Test(http, an_answer_that_is_not_http_is_eproto)
{
    run_http(garbage_reply, NULL);
}

/* 20 GETs at once with 10 fds to spare, as the runtime's first I/O: the
 * requests that get a socket succeed, the others fail with -EMFILE (the
 * reactor's epoll fd was made lazily after libcurl's sockets had taken
 * the last fds: every request failed, some with -ENOMEM).  Nothing is
 * asserted while the limit is low: Criterion's own messages need fds. */
enum { FEW_N = 20 };

typedef struct few {
    char *url;
    int status[FEW_N];
    int http[FEW_N];
} few;

static void *few_fds(void *arg)
{
    few *f = arg;
    weft_future *fs[FEW_N];
    weft_http_response *rs[FEW_N];
    void *res[FEW_N];
    for (int i = 0; i < FEW_N; i++)
        fs[i] = weft_http_get_future(f->url, &rs[i]);
    weft_join_all(fs, FEW_N, res);
    for (int i = 0; i < FEW_N; i++) {
        f->status[i] = (int)(intptr_t)res[i];
        if (f->status[i] == 0) {
            f->http[i] = weft_http_response_status(rs[i]);
            weft_http_response_free(rs[i]);
        }
    }
    return NULL;
}

Test(http, running_out_of_fds_fails_only_the_requests_without_one)
{
    few f = {.url = url_of("/rust.html")};
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    struct rlimit low = {.rlim_cur = (rlim_t)count_fds() + 10,
                         .rlim_max = rl.rlim_max};
    int set = setrlimit(RLIMIT_NOFILE, &low);
    int rc = set == 0 ? weft_run(few_fds, &f, NULL) : -errno;
    setrlimit(RLIMIT_NOFILE, &rl);
    cr_assert_eq(set, 0, "setrlimit: %s", strerror(errno));
    cr_assert_eq(rc, 0, "weft_run: %d (%s)", rc, weft_strerror(rc));
    int ok = 0;
    for (int i = 0; i < FEW_N; i++) {
        cr_assert(f.status[i] == 0 || f.status[i] == -EMFILE,
                  "request %d: %d (%s)", i, f.status[i],
                  weft_strerror(f.status[i]));
        if (f.status[i] == 0) {
            ok++;
            cr_assert_eq(f.http[i], 200);
        }
    }
    cr_assert_gt(ok, 0, "no request got a socket");
    cr_assert_lt(ok, FEW_N, "the limit was not reached");
    free(f.url);
}
