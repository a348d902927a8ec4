/*
 * listing_17_05.c - Listing 17-5: race two page_title futures (trpl::race)
 * and print which URL answered first and its title.  The loser is
 * cancelled: its transfer stops and its connection is closed.
 *
 *   listing_17_05 URL1 URL2
 *
 * Prints "URL returned first" and then "Its page title was: 'T'" or "It
 * had no title."; a failed GET (of the winner) goes to stderr (exit 1).
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

/* async fn page_title(url) -> (url, Option<String>) */
static void *page_title(void *arg)
{
    page *p = arg;
    weft_http_response *response = NULL;
    p->err = weft_http_get(p->url, &response);
    if (p->err < 0)
        return p;
    size_t len = 0;
    const char *text = weft_http_response_text(response, &len);
    weft_html *doc = weft_html_parse(text, len);
    weft_http_response_free(response);
    p->title = doc ? weft_html_select_first(doc, "title") : NULL;
    weft_html_free(doc);
    return p;
}

static void *race_main(void *arg)
{
    char **urls = arg;
    page pages[2] = {{.url = urls[0]}, {.url = urls[1]}};
    weft_future *fs[2] = {weft_async(page_title, &pages[0]),
                          weft_async(page_title, &pages[1])};
    void *winner = NULL;
    int i = weft_race(fs, 2, &winner);
    if (i < 0) {
        fprintf(stderr, "race: %s\n", weft_strerror(i));
        return (void *)1;
    }
    page *p = winner;
    free(pages[1 - i].title); /* the loser's, if it finished meanwhile */
    if (p->err < 0) {
        fprintf(stderr, "%s: %s\n", p->url, weft_strerror(p->err));
        return (void *)1;
    }
    printf("%s returned first\n", p->url);
    if (p->title)
        printf("Its page title was: '%s'\n", p->title);
    else
        printf("It had no title.\n");
    free(p->title);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s URL1 URL2\n", argv[0]);
        return 2;
    }
    void *failed = NULL;
    int rc = weft_run(race_main, argv + 1, &failed);
    return rc < 0 || failed ? 1 : 0;
}
