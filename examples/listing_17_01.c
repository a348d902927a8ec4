/*
 * listing_17_01.c - Listing 17-1: page_title(url): GET the page, read its
 * body, parse it as HTML and take the inner HTML of its first <title>, as
 * trpl::get(url).await, response.text().await, Html::parse and
 * select_first("title").map(|t| t.inner_html()).
 *
 *   listing_17_01 URL
 *
 * Prints "The title for URL was" and the title on the next line, indented,
 * or "URL had no title".  A failed GET is reported on stderr (exit 1),
 * where the book's unwrap would panic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>
#include <weft_http.h>

/* The page's title (free it), or NULL; *err receives a failed GET's code. */
static char *page_title(const char *url, int *err)
{
    weft_http_response *response = NULL;
    *err = weft_http_get(url, &response);
    if (*err < 0)
        return NULL;
    size_t len = 0;
    const char *response_text = weft_http_response_text(response, &len);
    weft_html *doc = weft_html_parse(response_text, len);
    weft_http_response_free(response);
    char *title = doc ? weft_html_select_first(doc, "title") : NULL;
    weft_html_free(doc);
    return title;
}

static void *run(void *arg)
{
    const char *url = arg;
    int err = 0;
    char *title = page_title(url, &err);
    if (err < 0) {
        fprintf(stderr, "%s: %s\n", url, weft_strerror(err));
        return (void *)1;
    }
    if (title)
        printf("The title for %s was\n    %s\n", url, title);
    else
        printf("%s had no title\n", url);
    free(title);
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
    if (rc < 0)
        fprintf(stderr, "weft_run: %s\n", weft_strerror(rc));
    return rc < 0 || failed ? 1 : 0;
}
