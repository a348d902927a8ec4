/*
 * listing_17_03.c - Listing 17-3: main calls page_title for the URL given
 * on the command line.  The book's `async fn main` does not compile; in C
 * the async part is an async block (weft_async) that main's runtime awaits.
 *
 *   listing_17_03 URL
 *
 * Prints "The title for URL was" and the title on the next line, indented,
 * or "URL had no title"; a failed GET goes to stderr (exit 1).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>
#include <weft_http.h>

typedef struct page {
    const char *url;
    char *title; /* out: NULL when the page has none */
    int err;     /* out: a failed GET */
} page;

/* async fn page_title(url) -> Option<String>, as an async block body. */
static void *page_title(void *arg)
{
    page *p = arg;
    weft_http_response *response = NULL;
    p->err = weft_http_get(p->url, &response);
    if (p->err < 0)
        return NULL;
    size_t len = 0;
    const char *text = weft_http_response_text(response, &len);
    weft_html *doc = weft_html_parse(text, len);
    weft_http_response_free(response);
    p->title = doc ? weft_html_select_first(doc, "title") : NULL;
    weft_html_free(doc);
    return p->title;
}

static void *run(void *arg)
{
    page p = {.url = arg};
    weft_await(weft_async(page_title, &p), NULL);
    if (p.err < 0) {
        fprintf(stderr, "%s: %s\n", p.url, weft_strerror(p.err));
        return (void *)1;
    }
    if (p.title)
        printf("The title for %s was\n    %s\n", p.url, p.title);
    else
        printf("%s had no title\n", p.url);
    free(p.title);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s URL\n", argv[0]);
        return 2;
    }
    void *failed = NULL;
    int rc = weft_run(run, argv[1], &failed);
    return rc < 0 || failed ? 1 : 0;
}
