/*
 * num.h - arithmetic shared by every layer.
 */
#ifndef WEFT_UTIL_NUM_H
#define WEFT_UTIL_NUM_H

#include <stdint.h>

/* a + b, or UINT64_MAX when the sum does not fit: a deadline "now + d"
 * for a huge d (a timeout of UINT64_MAX ns: never) stays in the future
 * instead of wrapping into the past, as tokio's sleep takes
 * Instant::far_future() when now + duration overflows.  Units are the
 * caller's (ns on the runtime clock for deadlines).  [any thread] */
static inline uint64_t weft__add_sat(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

#endif
