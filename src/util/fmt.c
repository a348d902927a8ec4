/*
 * fmt.c - durations in words, for reports, dumps, traces and the
 * describers of leaf futures (a layer below all of them).
 */
#include "util/fmt.h"

#include <inttypes.h>
#include <stdio.h>

void weft__fmt_ns(char *buf, size_t n, uint64_t ns)
{
    if (ns >= 1000000000u)
        snprintf(buf, n, "%.3f s", (double)ns / 1e9);
    else if (ns >= 1000000u)
        snprintf(buf, n, "%.3f ms", (double)ns / 1e6);
    else if (ns >= 1000u)
        snprintf(buf, n, "%.1f us", (double)ns / 1e3);
    else
        snprintf(buf, n, "%" PRIu64 " ns", ns);
}
