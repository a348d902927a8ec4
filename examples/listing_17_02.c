/*
 * listing_17_02.c - Listing 17-2: page_title with the GET and the body
 * chained in one expression (trpl::get(url).await.text().await): in C a
 * helper that returns the body, owned by the caller.
 *
 *   listing_17_02 URL
 *
 * Prints "The title for URL was" and the title on the next line, indented,
 * or "URL had no title"; a failed GET goes to stderr (exit 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>
#include <weft_http.h>

/* get(url).text(): the body (free it) and its length, or NULL with *err. */
static char *get_text(const char *url, size_t *len, int *err)
{
    weft_http_response *r = NULL;
    *err = weft_http_get(url, &r);
    if (*err < 0)
        return NULL;
    const char *text = weft_http_response_text(r, len);
    char *copy = malloc(*len + 1);
    if (copy)
        memcpy(copy, text, *len + 1);
    weft_http_response_free(r);
    return copy;
}

static char *page_title(const char *url, int *err)
{
    size_t len = 0;
    char *response_text = get_text(url, &len, err);
    if (!response_text)
        return NULL;
    weft_html *doc = weft_html_parse(response_text, len);
    free(response_text);
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
    return rc < 0 || failed ? 1 : 0;
}
