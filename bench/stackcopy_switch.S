/*
 * stackcopy_switch.S - the context switch of bench/stackcopy.c (x86-64
 * System V only; empty elsewhere, where stackcopy reports itself skipped).
 *
 * A prototype's switch, not weft's (src/arch/x86_64/switch.S): it keeps the
 * six callee-saved registers and the stack pointer, not the FP control
 * state, which no coroutine of the benchmark changes.  Saved frame, from
 * the saved stack pointer upwards:
 *   0: r15  8: r14  16: r13  24: r12  32: rbx  40: rbp  48: return address
 */
#if defined(__x86_64__)
        .text

/* void stackcopy_switch(void **from_sp [rdi], void *to_sp [rsi]) */
        .globl  stackcopy_switch
        .hidden stackcopy_switch
        .type   stackcopy_switch, @function
        .p2align 4
stackcopy_switch:
        .cfi_startproc
        pushq   %rbp                    /* callee-saved registers */
        .cfi_adjust_cfa_offset 8
        pushq   %rbx
        .cfi_adjust_cfa_offset 8
        pushq   %r12
        .cfi_adjust_cfa_offset 8
        pushq   %r13
        .cfi_adjust_cfa_offset 8
        pushq   %r14
        .cfi_adjust_cfa_offset 8
        pushq   %r15
        .cfi_adjust_cfa_offset 8
        movq    %rsp, (%rdi)            /* *from_sp = rsp */
        movq    %rsi, %rsp              /* now on the other stack */
        popq    %r15                    /* its callee-saved registers */
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        popq    %rcx                    /* where it switched away, or the */
        jmp     *%rcx                   /* trampoline: an indirect jmp is
                                           predicted, a ret across stacks
                                           is not */
        .cfi_endproc
        .size   stackcopy_switch, .-stackcopy_switch

/*
 * First entry: the frame stackcopy.c's co_init builds leaves entry in r13
 * and its argument in r12, with rsp 16-byte aligned here.
 */
        .globl  stackcopy_trampoline
        .hidden stackcopy_trampoline
        .type   stackcopy_trampoline, @function
        .p2align 4
stackcopy_trampoline:
        .cfi_startproc
        .cfi_undefined rip              /* outermost frame for unwinders */
        movq    %r12, %rdi              /* arg */
        callq   *%r13                   /* entry(arg): never returns */
        ud2
        .cfi_endproc
        .size   stackcopy_trampoline, .-stackcopy_trampoline

        .section .note.GNU-stack,"",@progbits
#endif
