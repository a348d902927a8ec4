/*
 * fmt.h - text helpers shared by every layer (util/fmt.c).
 */
#ifndef WEFT_UTIL_FMT_H
#define WEFT_UTIL_FMT_H

#include <stddef.h>
#include <stdint.h>

/* Formats a duration in ns as "1.250 s", "3.500 ms", "12.0 us" or "80 ns",
 * NUL-terminated in buf[0..n).  [any thread] */
void weft__fmt_ns(char *buf, size_t n, uint64_t ns);

#endif
