/*
 * Context switch for x86-64 System V.
 *
 * Saved frame, from the saved stack pointer upwards:
 *   0: MXCSR (4 bytes)   4: x87 control word (2 bytes, 2 spare)
 *   8: r15  16: r14  24: r13  32: r12  40: rbx  48: rbp  56: return address
 * Only callee-saved state is kept: the caller of weft__ctx_switch has already
 * saved whatever else it needs, as for any function call.
 *
 * Two things keep a switch near 8 ns (resume + suspend) rather than 29:
 *  - it leaves through an indirect jmp, not ret: a ret to another stack's
 *    caller always misses the CPU's return-stack predictor, while the jmp's
 *    target is predicted from its own history (tasks that alternate repeat);
 *  - the FP control state is loaded only when it differs from the one being
 *    saved (ldmxcsr and fldcw are slow, slower still when they change the
 *    register; the control state rarely differs between tasks).  What is
 *    compared and loaded is the control part: MXCSR bits 6-15 (DAZ, masks,
 *    rounding, FTZ) and the x87 control word.  MXCSR's exception flags
 *    (bits 0-5) stay the thread's: any inexact division sets one, and
 *    restoring them per task would make nearly every switch reload MXCSR.
 *    The compare reads the fields as they were stored: one 8-byte read of
 *    the pair would miss store-to-load forwarding.
 */
        .text

/* void weft__ctx_switch(weft__ctx *from [rdi], weft__ctx *to [rsi]) */
        .globl  weft__ctx_switch
        .hidden weft__ctx_switch
        .type   weft__ctx_switch, @function
        .p2align 4
weft__ctx_switch:
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
        subq    $8, %rsp                /* room for the FP control state */
        .cfi_adjust_cfa_offset 8
        stmxcsr (%rsp)                  /* SSE rounding mode and masks */
        fnstcw  4(%rsp)                 /* x87 precision and rounding */
        movl    (%rsp), %eax            /* the state now in force */
        movzwl  4(%rsp), %edx
        movq    %rsp, (%rdi)            /* from->sp = rsp */
        movq    (%rsi), %rsp            /* rsp = to->sp: now on the other stack */
        movl    (%rsp), %ecx            /* its FP control state, if different */
        xorl    %eax, %ecx
        testl   $0xffc0, %ecx           /* MXCSR control bits (6-15) */
        jne     1f
        cmpw    4(%rsp), %dx
        jne     1f
2:      addq    $8, %rsp
        popq    %r15                    /* its callee-saved registers */
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        popq    %rcx                    /* where it switched away, or the */
        jmp     *%rcx                   /* trampoline on first entry */
1:      andl    $0x3f, %eax             /* keep the thread's exception */
        movl    (%rsp), %ecx            /* flags (bits 0-5): they are not */
        andl    $-0x40, %ecx            /* part of a task's state */
        orl     %eax, %ecx
        movl    %ecx, (%rsp)
        ldmxcsr (%rsp)
        fldcw   4(%rsp)
        jmp     2b
        .cfi_endproc
        .size   weft__ctx_switch, .-weft__ctx_switch

/*
 * First entry of a context: weft__ctx_init left entry in r13, its argument
 * in r12, and the stack aligned so that the call below is ABI-conformant.
 */
        .type   weft__ctx_trampoline, @function
        .p2align 4
weft__ctx_trampoline:
        .cfi_startproc
        .cfi_undefined rip              /* outermost frame for unwinders */
        movq    %r12, %rdi              /* arg */
        callq   *%r13                   /* entry(arg): never returns */
        ud2
        .cfi_endproc
        .size   weft__ctx_trampoline, .-weft__ctx_trampoline

/* void weft__ctx_init(weft__ctx *ctx [rdi], void *stack_lo [rsi],
 *                     size_t size [rdx], void (*entry)(void *) [rcx],
 *                     void *arg [r8]) */
        .globl  weft__ctx_init
        .hidden weft__ctx_init
        .type   weft__ctx_init, @function
        .p2align 4
weft__ctx_init:
        .cfi_startproc
        leaq    (%rsi,%rdx), %rax       /* top of the stack */
        andq    $-16, %rax              /* 16-byte aligned */
        subq    $8, %rax                /* return-address slot: after the ret
                                           rsp is 16-aligned for the call */
        leaq    weft__ctx_trampoline(%rip), %r9
        movq    %r9, (%rax)             /* return address = trampoline */
        movq    $0, -8(%rax)            /* rbp = 0 ends frame chains */
        movq    $0, -16(%rax)           /* rbx */
        movq    %r8, -24(%rax)          /* r12 = arg */
        movq    %rcx, -32(%rax)         /* r13 = entry */
        movq    $0, -40(%rax)           /* r14 */
        movq    $0, -48(%rax)           /* r15 */
        movl    $0x1f80, -56(%rax)      /* default MXCSR */
        movl    $0x037f, -52(%rax)      /* default x87 control word */
        subq    $56, %rax
        movq    %rax, (%rdi)            /* ctx->sp */
        ret
        .cfi_endproc
        .size   weft__ctx_init, .-weft__ctx_init

        .section .note.GNU-stack,"",@progbits
