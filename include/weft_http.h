/*
 * weft_http.h - weft-http: HTTP GET and HTML selection for weft (chapter
 * 17.1 of the Rust book: trpl::get, Response::text, Html::parse,
 * select_first, inner_html).
 *
 * A second library (libweft_http.a, pkg-config name weft-http) built on
 * libweft when libcurl and gumbo are present.  It uses the runtime's
 * internal reactor and exit hook, so it links the static libweft: link
 * with `pkg-config --cflags --libs weft-http` (-lweft_http -l:libweft.a
 * -lcurl -lgumbo), not with libweft.so.
 *
 * HTTP runs on libcurl's multi-socket interface driven by the calling
 * runtime: one curl multi handle per runtime, created by the first request
 * and destroyed (idle connections closed) when that weft_run returns.
 * libcurl's sockets are waited on in weft's reactor (one small task per
 * socket libcurl asks to watch) and its timeouts on a weft timer (one task
 * per runtime while a timeout is armed): no thread per request, no busy
 * loop; hundreds of requests run concurrently on one thread.  libcurl's
 * sockets are opened and closed by weft-http (libcurl's open/close-socket
 * callbacks), which forgets each fd in the reactor before close(2).
 * Timeouts of libcurl follow the runtime's clock: use the real clock
 * (WEFT_CLOCK_MONOTONIC) for HTTP.
 *
 * Errors are negative errno values, described by weft_strerror (resolver
 * errors are WEFT_EAI(...) codes, as weft_tcp_connect returns them).
 */
#ifndef WEFT_HTTP_H
#define WEFT_HTTP_H

#include <stddef.h>

#include "weft.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_http_response weft_http_response;

/*
 * weft_http_get - GET url and wait for the whole response.  As trpl::get
 * (reqwest's get): redirects are followed (at most 10, as reqwest's
 * default policy; more is -ELOOP), an HTTP error status is a response (a
 * 404 returns 0 with status 404), the body is read completely.  http and
 * https (libcurl's TLS, the system's CA store) only.
 *
 * On success *resp receives a response you now own (free it with
 * weft_http_response_free).  Returns 0, or a negative errno, *resp then
 * untouched:
 *  -EINVAL       NULL url or resp, a malformed URL or a scheme other than
 *                http/https;
 *  -ECONNREFUSED (or the connect's own errno: -ENETUNREACH, ...);
 *  -ETIMEDOUT    libcurl's connect timeout (300 s) passed;
 *  WEFT_EAI(EAI_NONAME)  the host name does not resolve (weft_strerror
 *                gives gai_strerror's text);
 *  -ELOOP        more than 10 redirects;
 *  -ECONNRESET   the connection broke or closed before a whole response;
 *  -EPROTO       a TLS or HTTP protocol failure (bad certificate, an
 *                answer that is not HTTP, a redirect to another scheme,
 *                reply);
 *  -ENOMEM       out of memory: this request's, or the runtime's HTTP
 *                driver's (it could not watch a socket or arm libcurl's
 *                timer: every request in flight then fails with -ENOMEM,
 *                and later ones are tried afresh);
 *  -EMFILE       no fd left for the connection's socket;
 *  -EIO          any other libcurl failure;
 *  -ECANCELED    the calling task was cancelled: the transfer stopped at
 *                once and its connection was closed;
 *  -EPERM        outside a runtime.
 * Suspends.  [task]
 */
WEFT_API int weft_http_get(const char *url, weft_http_response **resp);

/*
 * weft_http_get_future - weft_http_get as a leaf future, for weft_race,
 * weft_timeout, weft_join_all.  Lazy: nothing is sent before the first
 * poll.  Its status (weft_await's return value, weft_join_all's
 * results[i] as (void *)(intptr_t)status) is weft_http_get's; *resp is set
 * only when the status is 0.  url is copied; resp must stay valid until
 * the future is done.  Cancelled (a lost race, a timeout, an abort, a
 * drop) the transfer is removed from libcurl at once: its connection is
 * closed, nothing leaks, *resp is untouched and the status is -ECANCELED.
 * Returns the future (you own it), or NULL with errno EINVAL (NULL url or
 * resp) or ENOMEM.  [any thread; run in a task]
 */
WEFT_API weft_future *weft_http_get_future(const char *url,
                                           weft_http_response **resp);

/* weft_http_response_status - the final response's HTTP status (after
 * redirects), e.g. 200 or 404 (reqwest's Response::status); -EINVAL for
 * NULL.  [any thread] */
WEFT_API int weft_http_response_status(const weft_http_response *r);

/* weft_http_response_text - the body (as trpl's Response::text, without
 * charset decoding: the bytes as received, after libcurl's transfer
 * decoding), NUL-terminated; *len (if len is non-NULL) receives its length
 * in bytes without the NUL (a body may itself contain NUL bytes).  Owned by
 * r: valid until weft_http_response_free(r).  NULL (errno EINVAL) for a
 * NULL r.  [any thread] */
WEFT_API const char *weft_http_response_text(const weft_http_response *r,
                                             size_t *len);

/* weft_http_response_free - free r and its body.  NULL is ignored.
 * [any thread] */
WEFT_API void weft_http_response_free(weft_http_response *r);

typedef struct weft_html weft_html;

/*
 * weft_html_parse - parse len bytes of text (UTF-8) as an HTML document
 * with gumbo, which follows the HTML5 parsing algorithm as scraper's
 * html5ever does (Html::parse): any input gives a document, malformed
 * markup is repaired as browsers repair it (missing <html>, <head>, <body>
 * and end tags added, misnested tags fixed).  text is copied: it may be
 * freed at once.  Returns the document you now own (free it with
 * weft_html_free), or NULL with errno EINVAL (NULL text) or ENOMEM (gumbo
 * itself aborts the process when its own allocations fail).  Does not
 * suspend; CPU-bound (about the input's length; parse errors are not
 * kept).  Any depth of nesting is safe on a task's stack: a document
 * deeper than 64 levels is walked and freed on a thread of its own with a
 * stack that fits it (about 1 KiB a level), joined at once.  [any thread]
 */
WEFT_API weft_html *weft_html_parse(const char *text, size_t len);

/*
 * weft_html_select_first - the inner HTML of the first element, in
 * document order, that matches selector: scraper's
 * doc.select(&Selector::parse(selector)).next().map(|e| e.inner_html()).
 *
 * Selectors: a compound selector is a tag name or `*`, optionally followed
 * by any number of `#id` and `.class` parts (`title`, `#main`, `.note`,
 * `p.note`, `div#main.wide`); compounds separated by whitespace are
 * descendant combinators (`div p`, `#main .note a`).  Tag names match
 * case-insensitively, ids and classes exactly (class against each
 * whitespace-separated word of the class attribute).
 *
 * The inner HTML is serialised as html5ever does: the element's children,
 * text with & < > (and U+00A0 as &nbsp;) escaped except inside script,
 * style and the other raw-text elements, elements with their attributes
 * (values escaped with &amp; &quot; &nbsp;) and end tags (none for void
 * elements such as br and img), comments as <!--...-->.
 *
 * Returns a NUL-terminated string you own (free it with free()), or NULL
 * with errno ENOENT (no element matches), EINVAL (NULL doc or selector, or
 * a selector outside the language above: empty, other combinators,
 * attribute selectors, pseudo-classes; more than 16 compounds, or more
 * than 16 ids or classes in one) or ENOMEM.  Does not modify doc:
 * threads may select from one document at once.  [any thread]
 */
WEFT_API char *weft_html_select_first(const weft_html *doc,
                                      const char *selector);

/* weft_html_free - free the document.  NULL is ignored.  [any thread] */
WEFT_API void weft_html_free(weft_html *doc);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_HTTP_H */
