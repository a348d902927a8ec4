/*
 * assert.c - the report of a failed WEFT_ASSERT (util/assert.h).
 */
#include "util/assert.h"

#include <stdio.h>
#include <stdlib.h>

_Noreturn void weft__assert_fail(const char *cond, const char *file, int line,
                                 const char *func)
{
    /* One fprintf: stderr is unbuffered, so the line is written whole. */
    fprintf(stderr, "weft: internal assertion failed: %s (%s:%d, %s)\n", cond,
            file, line, func);
    abort();
}
