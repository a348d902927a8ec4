/*
 * titles.c - fetch the titles of many pages at once: N page_title futures
 * under one weft_join_all (futures::future::join_all), all on one thread,
 * their transfers interleaved by weft's reactor.
 *
 *   titles N URL [URL...]
 *
 * Makes N requests, the i-th to URL number i modulo the number of URLs,
 * and prints one line per request in order: "URL: TITLE", "URL: (no
 * title)" or "URL: error: TEXT"; then "titles: N pages in MS ms (F
 * failed)" on stderr.  Exits 1 if any request failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>
#include <weft_http.h>

typedef struct page {
    const char *url;
    char *title;
    int err;
} page;

typedef struct job {
    int n;
    char **urls;
    int nurls;
} job;

static void *page_title(void *arg)
{
    page *p = arg;
    weft_http_response *r = NULL;
    p->err = weft_http_get(p->url, &r);
    if (p->err < 0)
        return NULL;
    size_t len = 0;
    const char *text = weft_http_response_text(r, &len);
    weft_html *doc = weft_html_parse(text, len);
    weft_http_response_free(r);
    p->title = doc ? weft_html_select_first(doc, "title") : NULL;
    weft_html_free(doc);
    return NULL;
}

static void *titles(void *arg)
{
    job *j = arg;
    page *pages = calloc((size_t)j->n, sizeof *pages);
    weft_future **fs = calloc((size_t)j->n, sizeof *fs);
    if (!pages || !fs) {
        free(pages);
        free(fs);
        return (void *)1;
    }
    for (int i = 0; i < j->n; i++) {
        pages[i].url = j->urls[i % j->nurls];
        fs[i] = weft_async(page_title, &pages[i]);
    }
    uint64_t t0 = weft_now();
    weft_join_all(fs, (size_t)j->n, NULL);
    uint64_t ms = (weft_now() - t0) / WEFT_MS(1);
    int failed = 0;
    for (int i = 0; i < j->n; i++) {
        if (pages[i].err < 0) {
            failed++;
            printf("%s: error: %s\n", pages[i].url,
                   weft_strerror(pages[i].err));
        } else if (pages[i].title) {
            printf("%s: %s\n", pages[i].url, pages[i].title);
        } else {
            printf("%s: (no title)\n", pages[i].url);
        }
        free(pages[i].title);
    }
    fprintf(stderr, "titles: %d pages in %llu ms (%d failed)\n", j->n,
            (unsigned long long)ms, failed);
    free(pages);
    free(fs);
    return failed ? (void *)1 : NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3 || atoi(argv[1]) <= 0) {
        fprintf(stderr, "usage: %s N URL [URL...]\n", argv[0]);
        return 2;
    }
    job j = {.n = atoi(argv[1]), .urls = argv + 2, .nurls = argc - 2};
    void *failed = NULL;
    int rc = weft_run(titles, &j, &failed);
    return rc < 0 || failed ? 1 : 0;
}
