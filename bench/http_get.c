/*
 * http_get - N HTTP GETs of one small page through weft-http (libcurl's
 * multi-socket interface on weft's reactor), 200 in flight at once.
 *
 *   HTTP_GET_URL=http://127.0.0.1:PORT/index.html HTTP_GET_LEN=302 \
 *       http_get [N=20_000]
 *
 * The server is not part of this program: bench/http.sh starts
 * examples/http_server (the same binary for this benchmark and for its Go
 * port, bench/peers/go/cmd/http_get) and passes its URL in HTTP_GET_URL and
 * the page's size in bytes in HTTP_GET_LEN.
 *
 * 200 tasks each run N/200 weft_http_get calls one after the other (the
 * first N % 200 tasks one more), so 200 requests are in flight and libcurl
 * keeps up to 200 connections alive.  Timed from before the first spawn to
 * the last join: connection set-up is included.  ops = N.  Check: every
 * response has status 200 and a body of exactly HTTP_GET_LEN bytes, else
 * exit 1.
 *
 * Prints: name=http_get runtime=weft n=N secs=S ns_per_op=NS conc=200
 * req_per_sec=R vmhwm_kib=K
 */
#include "bench.h"

#include <weft_http.h>

#define CONC 200

typedef struct {
    const char *url;
    size_t want_len;
    uint64_t n;    /* requests of this worker */
    uint64_t ok;   /* checked responses */
    int err;       /* weft_http_get's error, 0 if none */
    int status;    /* the first wrong status, 0 if none */
    size_t badlen; /* the first wrong length (status 200) */
    int bad;       /* 1 once a check failed */
} worker;

static void *get_loop(void *arg)
{
    worker *w = arg;
    for (uint64_t i = 0; i < w->n; i++) {
        weft_http_response *resp;
        int rc = weft_http_get(w->url, &resp);
        if (rc < 0) {
            w->err = rc;
            w->bad = 1;
            return NULL;
        }
        size_t len = 0;
        int status = weft_http_response_status(resp);
        const char *body = weft_http_response_text(resp, &len);
        if (status != 200 || !body || len != w->want_len) {
            w->status = status;
            w->badlen = len;
            w->bad = 1;
            weft_http_response_free(resp);
            return NULL;
        }
        weft_http_response_free(resp);
        w->ok++;
    }
    return NULL;
}

typedef struct {
    worker w[CONC];
    double secs;
} run;

static void *body(void *arg)
{
    run *r = arg;
    weft_task *t[CONC];
    uint64_t t0 = bench_now();
    for (int i = 0; i < CONC; i++)
        BENCH_NONNULL(t[i] = weft_spawn(get_loop, &r->w[i]));
    for (int i = 0; i < CONC; i++)
        BENCH_OK(weft_task_join(t[i], NULL));
    r->secs = bench_secs(t0, bench_now());
    return NULL;
}

static const char *need_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        bench_die("http_get: set %s (usage: HTTP_GET_URL=http://HOST:PORT/PAGE"
                  " HTTP_GET_LEN=BYTES http_get [N])",
                  name);
    return v;
}

int main(int argc, char **argv)
{
    uint64_t n = bench_parse_n(argc, argv, 20000);
    const char *url = need_env("HTTP_GET_URL");
    const char *len_s = need_env("HTTP_GET_LEN");
    char *end;
    errno = 0;
    unsigned long long want = strtoull(len_s, &end, 10);
    if (errno || *end || end == len_s)
        bench_die("http_get: HTTP_GET_LEN='%s' is not a byte count", len_s);

    static run r;
    for (int i = 0; i < CONC; i++)
        r.w[i] = (worker){.url = url,
                          .want_len = (size_t)want,
                          .n = n / CONC + ((uint64_t)i < n % CONC)};
    bench_run(body, &r);

    uint64_t ok = 0;
    int failed = 0;
    for (int i = 0; i < CONC; i++) {
        worker *w = &r.w[i];
        ok += w->ok;
        if (!w->bad || failed++)
            continue; /* report the first failure only */
        if (w->err)
            fprintf(stderr, "http_get: GET %s: %s (%d)\n", url,
                    weft_strerror(w->err), w->err);
        else
            fprintf(stderr,
                    "http_get: GET %s: status %d, %zu bytes (expected 200, "
                    "%llu bytes)\n",
                    url, w->status, w->badlen, want);
    }
    if (failed || ok != n)
        bench_die("http_get: %llu of %llu requests checked, %d worker(s) "
                  "failed",
                  (unsigned long long)ok, (unsigned long long)n, failed);
    bench_report("http_get", n, r.secs, (double)n, " conc=%d req_per_sec=%.0f",
                 CONC, (double)n / r.secs);
    return 0;
}
