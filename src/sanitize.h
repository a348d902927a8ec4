/*
 * sanitize.h - what the tools must be told about stack switching.
 *
 * ASan: every switch is bracketed by __sanitizer_start_switch_fiber (before,
 * naming the destination stack) and __sanitizer_finish_switch_fiber (after,
 * on the destination); a coroutine's first entry finishes the switch that
 * started it, and its last exit passes NULL so its fake stack is freed.
 * valgrind: each stack is registered once when it is carved.
 */
#ifndef WEFT_SANITIZE_H
#define WEFT_SANITIZE_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define WEFT__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT__ASAN 1
#endif
#endif

#ifdef WEFT__ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define WEFT__ASAN_START(save, lo, size)                                      \
    __sanitizer_start_switch_fiber((save), (lo), (size))
#define WEFT__ASAN_FINISH(save)                                               \
    __sanitizer_finish_switch_fiber((save), NULL, NULL)
#define WEFT__ASAN_UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define WEFT__ASAN_START(save, lo, size) ((void)(save), (void)(lo), (void)(size))
#define WEFT__ASAN_FINISH(save) ((void)(save))
#define WEFT__ASAN_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#ifdef WEFT_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#define WEFT__VG_REGISTER(lo, hi) VALGRIND_STACK_REGISTER((lo), (hi))
#define WEFT__VG_DEREGISTER(id) VALGRIND_STACK_DEREGISTER(id)
#else
#define WEFT__VG_REGISTER(lo, hi) ((void)(lo), (void)(hi), 0U)
#define WEFT__VG_DEREGISTER(id) ((void)(id))
#endif

#endif
