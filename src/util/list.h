/*
 * list.h - the intrusive doubly linked list of every layer (base layer).
 *
 * A list is a ring with a sentinel: an empty list's link points at itself,
 * and so does a removed node, so removing twice is harmless and "is it
 * linked" is one comparison.  Nodes are embedded in the objects they link
 * (a task's runq and all links, a waiter on a channel or an fd): linking
 * allocates nothing.  [rt's thread] unless the list's owner says otherwise
 * (a lock held around it).
 */
#ifndef WEFT_UTIL_LIST_H
#define WEFT_UTIL_LIST_H

#include "util/assert.h"

#include <stddef.h>

typedef struct weft__link {
    struct weft__link *prev, *next;
} weft__link;

static inline void weft__list_init(weft__link *l) { l->prev = l->next = l; }
static inline int weft__list_empty(const weft__link *l) { return l->next == l; }
/* 1 when n is in no list: removed (linked to itself) or never linked
 * (zeroed, as a struct from calloc or an initializer). */
static inline int weft__list_unlinked(const weft__link *n)
{
    return n->next == n || (n->next == NULL && n->prev == NULL);
}
/* Appends n at l's tail.  n must be unlinked (checked by WEFT_ASSERT): a
 * node pushed twice would corrupt both lists. */
static inline void weft__list_push(weft__link *l, weft__link *n)
{
    WEFT_ASSERT(weft__list_unlinked(n));
    WEFT_ASSERT(l->prev->next == l && l->next->prev == l);
    n->prev = l->prev;
    n->next = l;
    l->prev->next = n;
    l->prev = n;
}
/* Unlinks n; n then points at itself, so removing it again is harmless.
 * Its neighbours must point back at it (WEFT_ASSERT). */
static inline void weft__list_remove(weft__link *n)
{
    WEFT_ASSERT(n->prev->next == n && n->next->prev == n);
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n; /* removed nodes point at themselves */
}
#define weft__container(ptr, type, member)                                     \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
