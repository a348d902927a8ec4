/*
 * sanitize.h - what the tools must be told about stack switching.
 *
 * ASan: every switch is bracketed by __sanitizer_start_switch_fiber (before,
 * naming the destination stack) and __sanitizer_finish_switch_fiber (after,
 * on the destination); a coroutine's first entry finishes the switch that
 * started it, and its last exit passes NULL so its fake stack is freed.
 * TSan: every coroutine is a fiber (see below).
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
#define WEFT__ASAN_START(save, lo, size)                                       \
    __sanitizer_start_switch_fiber((save), (lo), (size))
#define WEFT__ASAN_FINISH(save)                                                \
    __sanitizer_finish_switch_fiber((save), NULL, NULL)
#define WEFT__ASAN_UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define WEFT__ASAN_START(save, lo, size)                                       \
    ((void)(save), (void)(lo), (void)(size))
#define WEFT__ASAN_FINISH(save)   ((void)(save))
#define WEFT__ASAN_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#if defined(__SANITIZE_THREAD__)
#define WEFT__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT__TSAN 1
#endif
#endif

/* TSan: each coroutine is a fiber, created on first run, switched to
 * before every context switch, destroyed once dead. */
#ifdef WEFT__TSAN
#include <sanitizer/tsan_interface.h>
#define WEFT__TSAN_CURRENT()  __tsan_get_current_fiber()
#define WEFT__TSAN_CREATE()   __tsan_create_fiber(0)
#define WEFT__TSAN_SWITCH(f)  __tsan_switch_to_fiber((f), 0)
#define WEFT__TSAN_DESTROY(f) __tsan_destroy_fiber(f)
#else
#define WEFT__TSAN_CURRENT()  NULL
#define WEFT__TSAN_CREATE()   NULL
#define WEFT__TSAN_SWITCH(f)  ((void)(f))
#define WEFT__TSAN_DESTROY(f) ((void)(f))
#endif

#ifdef WEFT_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#define WEFT__VG_REGISTER(lo, hi) VALGRIND_STACK_REGISTER((lo), (hi))
#define WEFT__VG_DEREGISTER(id)   VALGRIND_STACK_DEREGISTER(id)
#else
#define WEFT__VG_REGISTER(lo, hi) ((void)(lo), (void)(hi), 0U)
#define WEFT__VG_DEREGISTER(id)   ((void)(id))
#endif

#endif
