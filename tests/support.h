/*
 * tests/support.h - helpers shared by the Criterion suites of weft.
 *
 * Runners: run a root function on a fresh runtime (virtual or real clock) and
 * assert that weft_run_with returned 0.  Capture: redirect stderr into a
 * temporary file around a call, or run a scenario in a forked child whose
 * stderr is read through a pipe (for scenarios that abort or never end).
 * Log: a small append-only text log that tasks write into, so that a test can
 * compare an exact interleaving with one string.
 */
#ifndef WEFT_TESTS_SUPPORT_H
#define WEFT_TESTS_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "weft.h"

/* Run fn(arg) as the root task with the given clock; cr_assert that weft_run
 * returned 0.  Returns the root's result. */
void *run_virtual(weft_fn *fn, void *arg);
void *run_real(weft_fn *fn, void *arg);

/* As above without the assertion: returns weft_run_with's status. */
int run_clock(int clock, weft_fn *fn, void *arg, void **result);

/* CLOCK_MONOTONIC now, in ns (independent of any runtime). */
uint64_t real_now_ns(void);

/*
 * Real-clock assertions.  The suite must pass on a loaded 2-core machine
 * (load average 5 from other work), so an assertion on real elapsed time
 * is one of three kinds:
 *
 * - A lower bound ("a sleep never ends early"): holds under any load, in
 *   every build; never scaled.
 * - A tight upper bound that is the point of the test (a wake's lateness,
 *   a line's time, "took < 2 s for a 1 s sleep"): it lives in a suite named
 *   *_real, which CTest runs as its own entry NAME.real, one test at a time
 *   and with no other entry beside it (CMakeLists.txt: RUN_SERIAL, label
 *   real-clock), and it is asserted only where real_time_asserted() says so
 *   (the native builds).  The scenario itself still runs in every build.
 *   Margins: at least 3x the expected time, or +0.3 s on a line's time.
 * - A bound that only tells "ran" from "really waited" (a virtual-clock run
 *   took less real time than the virtual time it covers; a cancelled hour
 *   long timer was not waited for): stays in the parallel suites with
 *   slow_ns() and must stay far below the time it tells apart (10x at
 *   least).  Where the sanitizer build under load cannot keep such a bound
 *   below that time (the examples' 2 s for 4.5 s of virtual time, the
 *   sockets' 350 ms for 700 ms), it is asserted in the native build only,
 *   which runs the same test with the same bound.
 */

/* Scale a real-time upper bound for slow environments: x20 under valgrind
 * (WEFT_TEST_VALGRIND), x10 under emulation (WEFT_TEST_EMULATED), x3 under
 * sanitizers (WEFT_TEST_SANITIZE); the environment variable
 * WEFT_TEST_SLOW=N sets the factor explicitly.  Lower bounds are never
 * scaled. */
uint64_t slow_ns(uint64_t ns);

/* 1 when tight real-time upper bounds are asserted: a native build, that is
 * none of WEFT_TEST_VALGRIND, WEFT_TEST_EMULATED, WEFT_TEST_SANITIZE set and
 * no WEFT_TEST_SLOW above 1 (see "Real-clock assertions" above). */
int real_time_asserted(void);

/* Sleep the calling OS thread for ms milliseconds (real time). */
void thread_sleep_ms(unsigned ms);

/* ------------------------------------------------------------------------ */
/* stderr capture in this process                                           */
/* ------------------------------------------------------------------------ */

typedef struct stderr_capture {
    int saved_fd; /* the original fd 2 */
    int file_fd;  /* the temporary file fd 2 points at meanwhile */
} stderr_capture;

/* Point fd 2 at a fresh temporary file. */
void capture_stderr_begin(stderr_capture *c);
/* Restore fd 2 and return what was written meanwhile (malloc'd,
 * NUL-terminated; free it). */
char *capture_stderr_end(stderr_capture *c);

/* ------------------------------------------------------------------------ */
/* Forked children                                                          */
/* ------------------------------------------------------------------------ */

typedef struct child_proc {
    pid_t pid;
    int err_fd; /* read end of the pipe that is the child's stderr */
    char *out;  /* what was read from it so far (NUL-terminated) */
    size_t len;
} child_proc;

/* Fork; the child points fd 2 (and fd 1) at a pipe, calls fn(arg) and then
 * _exit(0).  The parent gets the child's pid and the pipe's read end. */
void child_start(child_proc *c, void (*fn)(void *arg), void *arg);

/* Wait up to timeout_ms for the child to end, reading its stderr meanwhile.
 * Returns 1 and *status when it ended, 0 if it is still running (then it is
 * left running). */
int child_wait(child_proc *c, unsigned timeout_ms, int *status);

/* Kill the child with SIGKILL and reap it. */
void child_kill(child_proc *c);

/* Once the child has ended (child_wait returned 1, or child_kill): read the
 * rest of its stderr until EOF, close the pipe and return all of it
 * (malloc'd, NUL-terminated; free it). */
char *child_stderr(child_proc *c);

/* ------------------------------------------------------------------------ */
/* Text log                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct tlog {
    char buf[16384];
    size_t len;
} tlog;

/* Append one space-separated word (printf format) to the log. */
void tlog_add(tlog *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* WEFT_TESTS_SUPPORT_H */
