/*
 * arch.h - the context switch (layer 1).
 *
 * A context is the saved state of a suspended coroutine: the callee-saved
 * registers, the stack pointer and the floating-point control state (MXCSR
 * and the x87 control word on x86-64, FPCR on AArch64), all pushed on the
 * coroutine's own stack, so a context is just the saved stack pointer.  No
 * system call happens on the switch path.  The implementation is chosen by
 * CMake: src/arch/<abi>/switch.S, or src/arch/ucontext/switch.c (portable,
 * slower: swapcontext also saves the signal mask with a system call).
 */
#ifndef WEFT_ARCH_H
#define WEFT_ARCH_H

#include <stddef.h>

#if defined(WEFT_USE_UCONTEXT)
#include <ucontext.h>
typedef struct weft__ctx {
    ucontext_t uc;
} weft__ctx;
#else
typedef struct weft__ctx {
    void *sp; /* top of the registers pushed by weft__ctx_switch */
} weft__ctx;
#endif

/*
 * Prepares ctx so that the first switch to it calls entry(arg) on the stack
 * [stack_lo, stack_lo + size).  entry must never return: it ends by
 * switching away for the last time.  New contexts start with the default
 * floating-point control state (round to nearest, exceptions masked).
 */
void weft__ctx_init(weft__ctx *ctx, void *stack_lo, size_t size,
                    void (*entry)(void *), void *arg);

/* Saves the running context into from and resumes to. */
void weft__ctx_switch(weft__ctx *from, weft__ctx *to);

#endif
