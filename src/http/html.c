/*
 * html.c - HTML documents through gumbo (the HTML5 parsing algorithm, as
 * scraper's html5ever), a small selector language and inner_html
 * serialised as html5ever's serializer does (weft_http.h).
 *
 * A weft_html owns a copy of the input (gumbo's tree points into it for the
 * names of unknown tags) and gumbo's output; selection only reads the tree,
 * so one document may be searched from several threads at once.
 *
 * A selector is parsed into an array of compounds (tag or any, ids,
 * classes), the last one the subject; descendant combinators are matched
 * right to left, each compound against the nearest matching ancestor
 * (greedy matching is exact when every combinator is a descendant one).
 */
#include "weft_http.h"

#include "util/alloc.h"

#include <errno.h>
#include <gumbo.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct weft_html {
    char *text; /* the input, which gumbo's tree refers to */
    GumboOutput *out;
    size_t depth; /* of the tree: the recursion of its walks */
};

/* ---- deep trees ----------------------------------------------------------
 *
 * gumbo frees its tree recursively, and the walks below recurse too: a
 * hostile page of 10,000 nested elements would overflow a task's stack.
 * A tree deeper than DEEP levels is walked on a thread of its own whose
 * stack fits it (about STACK_PER_LEVEL bytes a level), joined at once. */
#define DEEP            64
#define STACK_PER_LEVEL 1024
#define STACK_MAX       ((size_t)1 << 30)

static const GumboVector *kids_of(const GumboNode *n)
{
    if (n->type == GUMBO_NODE_DOCUMENT)
        return &n->v.document.children;
    if (n->type == GUMBO_NODE_ELEMENT || n->type == GUMBO_NODE_TEMPLATE)
        return &n->v.element.children;
    return NULL;
}

/* The depth of the tree under root, walked without recursion. */
static size_t tree_depth(const GumboNode *root)
{
    size_t depth = 0, max = 0;
    const GumboNode *n = root;
    for (;;) {
        const GumboVector *k = kids_of(n);
        if (k && k->length > 0) {
            n = k->data[0];
            if (++depth > max)
                max = depth;
            continue;
        }
        for (;;) {
            if (n == root || !n->parent)
                return max;
            const GumboVector *sib = kids_of(n->parent);
            size_t next = n->index_within_parent + 1;
            if (sib && next < sib->length) {
                n = sib->data[next];
                break;
            }
            n = n->parent;
            depth--;
        }
    }
}

typedef struct deep_job {
    void (*fn)(void *);
    void *arg;
} deep_job;

static void *deep_run(void *p)
{
    deep_job *j = p;
    j->fn(j->arg);
    return NULL;
}

/* Runs fn(arg) here for a shallow tree, else on a thread with a stack for
 * depth levels.  0, or -ENOMEM when that thread cannot be made. */
static int deep_call(size_t depth, void (*fn)(void *), void *arg)
{
    if (depth <= DEEP) {
        fn(arg);
        return 0;
    }
    size_t stack = depth < (STACK_MAX - ((size_t)1 << 20)) / STACK_PER_LEVEL
                       ? depth * STACK_PER_LEVEL + ((size_t)1 << 20)
                       : STACK_MAX;
    pthread_attr_t at;
    if (pthread_attr_init(&at) != 0)
        return -ENOMEM;
    int rc = pthread_attr_setstacksize(&at, stack);
    pthread_t th;
    deep_job j = {fn, arg};
    if (rc == 0)
        rc = weft__pthread_create(&th, &at, deep_run, &j);
    pthread_attr_destroy(&at);
    if (rc != 0)
        return -ENOMEM;
    pthread_join(th, NULL);
    return 0;
}

weft_html *weft_html_parse(const char *text, size_t len)
{
    if (!text) {
        errno = EINVAL;
        return NULL;
    }
    weft_html *doc = weft__calloc(1, sizeof *doc);
    if (!doc)
        goto oom;
    doc->text = weft__malloc(len + 1);
    if (!doc->text)
        goto free_doc;
    memcpy(doc->text, text, len);
    doc->text[len] = '\0';
    /* Parse errors are not kept: weft never reads them, and with each one
     * holding a copy of the open-element stack, 10,000 unclosed tags took
     * 4 s and 800 MB. */
    GumboOptions opts = kGumboDefaultOptions;
    opts.max_errors = 0;
    doc->out = gumbo_parse_with_options(&opts, doc->text, len);
    if (!doc->out)
        goto free_text;
    doc->depth = tree_depth(doc->out->document);
    return doc;
free_text:
    weft__free(doc->text);
free_doc:
    weft__free(doc);
oom:
    errno = ENOMEM;
    return NULL;
}

static void destroy(void *out)
{
    gumbo_destroy_output(&kGumboDefaultOptions, out);
}

void weft_html_free(weft_html *doc)
{
    if (!doc)
        return;
    if (deep_call(doc->depth, destroy, doc->out) != 0)
        destroy(doc->out); /* no thread to be had: here, as for any tree */
    weft__free(doc->text);
    weft__free(doc);
}

/* ---- a growing string --------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t len, cap;
    int oom;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = weft__realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

/* Escapes as html5ever: & and U+00A0 always, < > in text, " in
 * attribute values. */
static void put_escaped(buf *b, const char *s, int attr)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = NULL;
        size_t skip = 1;
        if (*s == '&')
            rep = "&amp;";
        else if ((unsigned char)s[0] == 0xC2 && (unsigned char)s[1] == 0xA0) {
            rep = "&nbsp;";
            skip = 2;
        } else if (!attr && *s == '<')
            rep = "&lt;";
        else if (!attr && *s == '>')
            rep = "&gt;";
        else if (attr && *s == '"')
            rep = "&quot;";
        if (!rep)
            continue;
        put(b, run, (size_t)(s - run));
        puts_(b, rep);
        s += skip - 1;
        run = s + 1;
    }
    put(b, run, (size_t)(s - run));
}

/* ---- names -------------------------------------------------------------- */

/* The element's tag name, lower case, in out (size n). */
static const char *tag_name(const GumboElement *e, char *out, size_t n)
{
    if (e->tag != GUMBO_TAG_UNKNOWN)
        return gumbo_normalized_tagname(e->tag);
    GumboStringPiece piece = e->original_tag;
    gumbo_tag_from_original_text(&piece);
    size_t len = piece.length < n - 1 ? piece.length : n - 1;
    for (size_t i = 0; i < len; i++) {
        char c = piece.data[i];
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    out[len] = '\0';
    return out;
}

static int is_void(GumboTag t)
{
    switch (t) {
    case GUMBO_TAG_AREA:
    case GUMBO_TAG_BASE:
    case GUMBO_TAG_BASEFONT:
    case GUMBO_TAG_BGSOUND:
    case GUMBO_TAG_BR:
    case GUMBO_TAG_COL:
    case GUMBO_TAG_EMBED:
    case GUMBO_TAG_FRAME:
    case GUMBO_TAG_HR:
    case GUMBO_TAG_IMG:
    case GUMBO_TAG_INPUT:
    case GUMBO_TAG_KEYGEN:
    case GUMBO_TAG_LINK:
    case GUMBO_TAG_META:
    case GUMBO_TAG_PARAM:
    case GUMBO_TAG_SOURCE:
    case GUMBO_TAG_TRACK:
    case GUMBO_TAG_WBR:
        return 1;
    default:
        return 0;
    }
}

/* Text in these is written as is (html5ever; scripting enabled, as
 * scraper parses). */
static int is_raw_text(GumboTag t)
{
    switch (t) {
    case GUMBO_TAG_STYLE:
    case GUMBO_TAG_SCRIPT:
    case GUMBO_TAG_XMP:
    case GUMBO_TAG_IFRAME:
    case GUMBO_TAG_NOEMBED:
    case GUMBO_TAG_NOFRAMES:
    case GUMBO_TAG_PLAINTEXT:
    case GUMBO_TAG_NOSCRIPT:
        return 1;
    default:
        return 0;
    }
}

/* ---- serialisation ------------------------------------------------------ */

static void put_children(buf *b, const GumboNode *parent);

static void put_node(buf *b, const GumboNode *n, const GumboNode *parent)
{
    switch (n->type) {
    case GUMBO_NODE_ELEMENT:
    case GUMBO_NODE_TEMPLATE: {
        const GumboElement *e = &n->v.element;
        char name_buf[128];
        const char *name = tag_name(e, name_buf, sizeof name_buf);
        puts_(b, "<");
        puts_(b, name);
        for (unsigned i = 0; i < e->attributes.length; i++) {
            const GumboAttribute *a = e->attributes.data[i];
            puts_(b, " ");
            puts_(b, a->name);
            puts_(b, "=\"");
            put_escaped(b, a->value, 1);
            puts_(b, "\"");
        }
        puts_(b, ">");
        if (e->tag != GUMBO_TAG_UNKNOWN && is_void(e->tag))
            return;
        put_children(b, n);
        puts_(b, "</");
        puts_(b, name);
        puts_(b, ">");
        return;
    }
    case GUMBO_NODE_TEXT:
    case GUMBO_NODE_WHITESPACE:
    case GUMBO_NODE_CDATA:
        if (parent && (parent->type == GUMBO_NODE_ELEMENT) &&
            is_raw_text(parent->v.element.tag))
            puts_(b, n->v.text.text);
        else
            put_escaped(b, n->v.text.text, 0);
        return;
    case GUMBO_NODE_COMMENT:
        puts_(b, "<!--");
        puts_(b, n->v.text.text);
        puts_(b, "-->");
        return;
    default:
        return;
    }
}

static void put_children(buf *b, const GumboNode *parent)
{
    const GumboVector *kids = &parent->v.element.children;
    for (unsigned i = 0; i < kids->length; i++)
        put_node(b, kids->data[i], parent);
}

/* ---- selectors ---------------------------------------------------------- */

#define MAX_PARTS 16

typedef struct compound {
    const char *tag; /* NULL: any */
    size_t tag_len;
    const char *ids[MAX_PARTS], *classes[MAX_PARTS];
    size_t id_len[MAX_PARTS], class_len[MAX_PARTS];
    int nids, nclasses;
} compound;

static int ident_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c >= 0x80;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static size_t ident_len(const char *s)
{
    size_t n = 0;
    while (ident_char((unsigned char)s[n]))
        n++;
    return n;
}

/* Parses sel into cs (at most max); the count, or -1 when it is not in
 * the language. */
static int parse_selector(const char *sel, compound *cs, int max)
{
    int n = 0;
    const char *s = sel;
    for (;;) {
        while (is_space(*s))
            s++;
        if (!*s)
            break;
        if (n == max)
            return -1;
        compound *c = &cs[n];
        memset(c, 0, sizeof *c);
        int parts = 0;
        if (*s == '*') {
            s++;
            parts++;
        } else if (ident_char((unsigned char)*s)) {
            c->tag = s;
            c->tag_len = ident_len(s);
            s += c->tag_len;
            parts++;
        }
        while (*s == '#' || *s == '.') {
            int id = *s == '#';
            s++;
            size_t len = ident_len(s);
            if (len == 0)
                return -1;
            if (id) {
                if (c->nids == MAX_PARTS)
                    return -1;
                c->ids[c->nids] = s;
                c->id_len[c->nids++] = len;
            } else {
                if (c->nclasses == MAX_PARTS)
                    return -1;
                c->classes[c->nclasses] = s;
                c->class_len[c->nclasses++] = len;
            }
            s += len;
            parts++;
        }
        if (parts == 0 || (*s && !is_space(*s)))
            return -1; /* another combinator, [attr], :pseudo, ... */
        n++;
    }
    return n > 0 ? n : -1;
}

static const char *attr(const GumboElement *e, const char *name)
{
    const GumboAttribute *a = gumbo_get_attribute(&e->attributes, name);
    return a ? a->value : NULL;
}

static int has_class(const char *list, const char *cls, size_t len)
{
    const char *s = list;
    while (*s) {
        while (is_space(*s))
            s++;
        const char *w = s;
        while (*s && !is_space(*s))
            s++;
        if ((size_t)(s - w) == len && memcmp(w, cls, len) == 0)
            return 1;
    }
    return 0;
}

static int matches(const GumboNode *n, const compound *c)
{
    if (n->type != GUMBO_NODE_ELEMENT && n->type != GUMBO_NODE_TEMPLATE)
        return 0;
    const GumboElement *e = &n->v.element;
    if (c->tag) {
        char name_buf[128];
        const char *name = tag_name(e, name_buf, sizeof name_buf);
        if (strlen(name) != c->tag_len ||
            strncasecmp(name, c->tag, c->tag_len) != 0)
            return 0;
    }
    for (int i = 0; i < c->nids; i++) {
        const char *id = attr(e, "id");
        if (!id || strlen(id) != c->id_len[i] ||
            memcmp(id, c->ids[i], c->id_len[i]) != 0)
            return 0;
    }
    for (int i = 0; i < c->nclasses; i++) {
        const char *cl = attr(e, "class");
        if (!cl || !has_class(cl, c->classes[i], c->class_len[i]))
            return 0;
    }
    return 1;
}

/* n matches the whole selector cs[0..k]: cs[k] itself, the earlier
 * compounds by ancestors, right to left. */
static int matches_all(const GumboNode *n, const compound *cs, int k)
{
    if (!matches(n, &cs[k]))
        return 0;
    const GumboNode *a = n->parent;
    for (int i = k - 1; i >= 0; i--) {
        while (a && !matches(a, &cs[i]))
            a = a->parent;
        if (!a)
            return 0;
        a = a->parent;
    }
    return 1;
}

/* The first element in document order (pre-order) matching. */
static const GumboNode *find(const GumboNode *n, const compound *cs, int k)
{
    if (n->type != GUMBO_NODE_ELEMENT && n->type != GUMBO_NODE_TEMPLATE &&
        n->type != GUMBO_NODE_DOCUMENT)
        return NULL;
    if (n->type != GUMBO_NODE_DOCUMENT && matches_all(n, cs, k))
        return n;
    const GumboVector *kids = n->type == GUMBO_NODE_DOCUMENT
                                  ? &n->v.document.children
                                  : &n->v.element.children;
    for (unsigned i = 0; i < kids->length; i++) {
        const GumboNode *hit = find(kids->data[i], cs, k);
        if (hit)
            return hit;
    }
    return NULL;
}

typedef struct select_job {
    const GumboNode *root;
    const compound *cs;
    int k;
    const GumboNode *hit;
    buf b; /* the hit's inner HTML */
} select_job;

static void select_run(void *arg)
{
    select_job *j = arg;
    j->hit = find(j->root, j->cs, j->k);
    if (!j->hit)
        return;
    put(&j->b, "", 0); /* an empty inner HTML is "" */
    put_children(&j->b, j->hit);
}

char *weft_html_select_first(const weft_html *doc, const char *selector)
{
    if (!doc || !selector) {
        errno = EINVAL;
        return NULL;
    }
    compound cs[16];
    int n = parse_selector(selector, cs, 16);
    if (n < 0) {
        errno = EINVAL;
        return NULL;
    }
    select_job j = {.root = doc->out->document, .cs = cs, .k = n - 1};
    int rc = deep_call(doc->depth, select_run, &j);
    if (rc != 0) {
        errno = -rc;
        return NULL;
    }
    if (!j.hit) {
        errno = ENOENT;
        return NULL;
    }
    buf b = j.b;
    if (b.oom) {
        weft__free(b.p);
        errno = ENOMEM;
        return NULL;
    }
    /* The caller frees it with free(): hand over a malloc'd copy when the
     * allocator is weft's counting one. */
    char *s = malloc(b.len + 1);
    if (!s) {
        weft__free(b.p);
        errno = ENOMEM;
        return NULL;
    }
    memcpy(s, b.p, b.len + 1);
    weft__free(b.p);
    return s;
}
