/*
 * future.h - the combinators (future/future.c) as the layers above see
 * them: heap futures' release, and read-only accessors of async blocks and
 * combinator frames for the describers of obs/.  The future struct and the
 * poll protocol are the core's (sched/core.h).
 */
#ifndef WEFT_FUTURE_FUTURE_H
#define WEFT_FUTURE_FUTURE_H

#include "sched/core.h"

#include <stddef.h>

/* Cleans f up and frees it (heap futures). */
void weft__future_free(weft_future *f);
/* An async block's name and coroutine, or NULL for other futures. */
const char *weft__async_name(const weft_future *f);
const weft__co *weft__async_co(const weft_future *f);
/* A combinator frame parked in co->wait_obj (WEFT__WAIT_COMBINATOR): its
 * name ("join", "race", "timeout", ...), its size, and slot i's future (NULL
 * once that slot finished), for the describers of obs/. */
const char *weft__group_what(const void *group);
size_t weft__group_size(const void *group);
const weft_future *weft__group_slot(const void *group, size_t i);

#endif
