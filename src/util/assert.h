/*
 * assert.h - WEFT_ASSERT, the runtime's internal invariant checks (base
 * layer).
 *
 * WEFT_ASSERT(cond) checks an invariant of the runtime's own state (a
 * coroutine's state change, a link not already linked), never a user's
 * input: misuse of the API returns an error instead.  It is on when the
 * library is built with WEFT_ASSERTS defined (CMake: WEFT_BUILD_TESTS=ON or
 * WEFT_ASSERTS=ON; the fuzz build of the Makefile), and then a failed check
 * writes "weft: internal assertion failed: COND (FILE:LINE, FUNCTION)" to
 * stderr and aborts, as assert(3) (C11 7.2.1.1) does.  Unlike assert(3) it
 * does not follow NDEBUG: the tests' RelWithDebInfo builds keep it, and a
 * user's build (Release, or any build without those options) compiles it
 * to nothing: cond is then not evaluated (it stays an operand of sizeof, so
 * it is still type-checked and its variables count as used).  [any thread]
 */
#ifndef WEFT_UTIL_ASSERT_H
#define WEFT_UTIL_ASSERT_H

/* Reports a failed check and aborts (util/assert.c).  Never returns. */
_Noreturn void weft__assert_fail(const char *cond, const char *file, int line,
                                 const char *func);

#ifdef WEFT_ASSERTS
#define WEFT_ASSERT(cond)                                                      \
    (__builtin_expect(!!(cond), 1)                                             \
         ? (void)0                                                             \
         : weft__assert_fail(#cond, __FILE__, __LINE__, __func__))
#else
#define WEFT_ASSERT(cond) ((void)sizeof(!(cond)))
#endif

#endif
