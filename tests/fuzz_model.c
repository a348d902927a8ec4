/*
 * tests/fuzz_model.c - libFuzzer target for the model-based test: the fuzz
 * input drives the program generator of tests/model_core.c (one byte per
 * random choice; an exhausted input ends every list), the program runs on
 * weft under the virtual clock and on the reference model, and the traces
 * must agree.  On a disagreement it prints the program, both traces from the
 * first difference and the input in hex, then aborts (libFuzzer saves the
 * input).  Reproduce or turn into a regression test with
 *   WEFT_MODEL_HEX=<hex> tests/test_model      (or expect_hex() there).
 *
 * Not built by CMake (test_*.c are).  By hand, x86_64:
 *   clang -O1 -g -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *       -DWEFT_BUILDING=1 -Iinclude -Isrc -Itests tests/fuzz_model.c \
 *       src/chan/chan.c src/future/future.c src/sched/[a-z]*.c \
 *       src/stack/stack.c src/stream/stream.c src/time/timer.c \
 *       src/util/[a-z]*.c src/arch/x86_64/switch.S -lpthread \
 *       -o /tmp/fuzz_model
 *   /tmp/fuzz_model -runs=20000
 * (every src/ .c file except src/arch/; on aarch64 src/arch/aarch64/switch.S;
 * the library must be built with -fsanitize=address too, so that it tells
 * ASan about its stack switches.)
 * WEFT_MODEL_KNOWN_BUGS=1 also generates the pattern of a known weft bug.
 * WEFT_MODEL_MODE=1 generates stream programs (m_gen_streams), =2 stream
 * programs of two runs, =3 and =4 the same with streams shared by every
 * task, =5 coordination programs (m_gen_coord: cloned receivers, a
 * semaphore, a task group), =6 I/O programs (m_gen_io: socketpairs between
 * tasks, checked with m_check_io); reproduce with the same WEFT_MODEL_MODE.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "model.h"

static int fuzz_known_bugs, fuzz_mode;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *kb = getenv("WEFT_MODEL_KNOWN_BUGS");
    fuzz_known_bugs = kb && atoi(kb) != 0;
    const char *mode = getenv("WEFT_MODEL_MODE");
    fuzz_mode = mode ? atoi(mode) : 0;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static m_prog p[M_MAX_RUNS];
    int n = 1;
    if (fuzz_mode == 6) {
        m_gen_io_bytes(&p[0], data, size);
        int rc = m_check_io(&p[0], "fuzz input", stderr, 0, NULL);
        if (rc != 0) {
            fputs("fuzz input (hex): ", stderr);
            m_hex_print(stderr, data, size);
            fputs("\nreproduce: WEFT_MODEL_MODE=6 WEFT_MODEL_HEX=<that hex> "
                  "tests/test_model\n",
                  stderr);
            abort();
        }
        return 0;
    }
    if (fuzz_mode == 5) {
        m_gen_coord_bytes(&p[0], data, size);
    } else if (fuzz_mode) {
        n = m_gen_streams_bytes(p, data, size, fuzz_mode);
    } else {
        m_gen_bytes(&p[0], data, size);
        p[0].abort_cancelled_join = fuzz_known_bugs;
    }
    int rc = m_check_multi(p, n, "fuzz input", stderr, 0, NULL);
    if (rc != 0) {
        fputs("fuzz input (hex): ", stderr);
        m_hex_print(stderr, data, size);
        fprintf(stderr,
                "\nreproduce: WEFT_MODEL_MODE=%d WEFT_MODEL_HEX=<that hex> "
                "tests/test_model\n",
                fuzz_mode);
        abort();
    }
    return 0;
}
