/*
 * listing_17_04.c - Listing 17-4: the runtime made explicit: main hands the
 * async work to trpl::run, here weft_run, which blocks until the root task
 * has printed the title.  page_title returns a future (a lazy async block)
 * that the root awaits.
 *
 *   listing_17_04 URL
 *
 * Prints "The title for URL was" and the title on the next line, indented,
 * or "URL had no title"; a failed GET goes to stderr (exit 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>
#include <weft_http.h>

typedef struct page {
    const char *url;
    char *title;
    int err;
} page;

static void *page_title_body(void *arg)
{
    page *p = arg;
    weft_http_response *response = NULL;
    p->err = weft_await(weft_http_get_future(p->url, &response), NULL);
    if (p->err < 0)
        return NULL;
    size_t len = 0;
    const char *text = weft_http_response_text(response, &len);
    weft_html *doc = weft_html_parse(text, len);
    weft_http_response_free(response);
    p->title = doc ? weft_html_select_first(doc, "title") : NULL;
    weft_html_free(doc);
    return NULL;
}

/* page_title(url): a future; nothing happens until it is awaited. */
static weft_future *page_title(page *p)
{
    return weft_async(page_title_body, p);
}

static void *async_main(void *arg)
{
    page p = {.url = arg};
    weft_await(page_title(&p), NULL);
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
    int rc = weft_run(async_main, argv[1], &failed);
    return rc < 0 || failed ? 1 : 0;
}
