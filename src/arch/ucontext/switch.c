/*
 * Portable context switch on ucontext (makecontext/swapcontext), for targets
 * without an assembly switch or when configured with WEFT_UCONTEXT=ON.
 * swapcontext saves and restores the signal mask (a system call per switch)
 * and, on glibc, the floating-point environment.
 */
#include "arch/arch.h"

#include <fenv.h>
#include <stdint.h>
#include <stdlib.h>

/* makecontext passes int arguments only: the pointers travel in halves. */
static void trampoline(unsigned int entry_hi, unsigned int entry_lo,
                       unsigned int arg_hi, unsigned int arg_lo)
{
    uintptr_t e = ((uintptr_t)entry_hi << 16 << 16) | entry_lo;
    uintptr_t a = ((uintptr_t)arg_hi << 16 << 16) | arg_lo;
    void (*entry)(void *);
    *(void **)&entry = (void *)e;
    fesetenv(FE_DFL_ENV); /* as the assembly switches: default FP state */
    entry((void *)a);
    abort(); /* entry never returns */
}

void weft__ctx_init(weft__ctx *ctx, void *stack_lo, size_t size,
                    void (*entry)(void *), void *arg)
{
    uintptr_t e = (uintptr_t) * (void **)&entry;
    uintptr_t a = (uintptr_t)arg;
    if (getcontext(&ctx->uc) != 0)
        abort();
    ctx->uc.uc_stack.ss_sp = stack_lo;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    makecontext(&ctx->uc, (void (*)(void))trampoline, 4,
                (unsigned int)(e >> 16 >> 16), (unsigned int)e,
                (unsigned int)(a >> 16 >> 16), (unsigned int)a);
}

void weft__ctx_switch(weft__ctx *from, weft__ctx *to)
{
    if (swapcontext(&from->uc, &to->uc) != 0)
        abort();
}
