/*
 * Context switch for AArch64 (AAPCS64).
 *
 * Saved frame (176 bytes), from the saved stack pointer upwards:
 *   0: x19 x20  16: x21 x22  32: x23 x24  48: x25 x26  64: x27 x28
 *  80: x29 (frame pointer) x30 (return address)
 *  96: d8 d9  112: d10 d11  128: d12 d13  144: d14 d15  160: FPCR  168: spare
 * Only callee-saved state is kept, as for any function call.
 */
        .text

/* void weft__ctx_switch(weft__ctx *from [x0], weft__ctx *to [x1]) */
        .globl  weft__ctx_switch
        .hidden weft__ctx_switch
        .type   weft__ctx_switch, %function
        .p2align 4
weft__ctx_switch:
        .cfi_startproc
        sub     sp, sp, #176            /* room for the frame */
        .cfi_adjust_cfa_offset 176
        stp     x19, x20, [sp, #0]      /* callee-saved integer registers */
        stp     x21, x22, [sp, #16]
        stp     x23, x24, [sp, #32]
        stp     x25, x26, [sp, #48]
        stp     x27, x28, [sp, #64]
        stp     x29, x30, [sp, #80]     /* frame pointer, return address */
        stp     d8, d9, [sp, #96]       /* callee-saved low halves of v8-v15 */
        stp     d10, d11, [sp, #112]
        stp     d12, d13, [sp, #128]
        stp     d14, d15, [sp, #144]
        mrs     x9, fpcr                /* rounding mode and trap enables */
        str     x9, [sp, #160]
        mov     x10, sp
        str     x10, [x0]               /* from->sp = sp */
        ldr     x10, [x1]
        mov     sp, x10                 /* sp = to->sp: now on the other stack */
        ldr     x10, [sp, #160]         /* its FPCR */
        cmp     x9, x10
        b.eq    1f                      /* writing FPCR can be slow: skip */
        msr     fpcr, x10               /* when it is unchanged */
1:      ldp     x19, x20, [sp, #0]      /* its callee-saved registers */
        ldp     x21, x22, [sp, #16]
        ldp     x23, x24, [sp, #32]
        ldp     x25, x26, [sp, #48]
        ldp     x27, x28, [sp, #64]
        ldp     x29, x30, [sp, #80]
        ldp     d8, d9, [sp, #96]
        ldp     d10, d11, [sp, #112]
        ldp     d12, d13, [sp, #128]
        ldp     d14, d15, [sp, #144]
        add     sp, sp, #176
        ret                             /* to x30: where it switched away, or
                                           the trampoline on first entry */
        .cfi_endproc
        .size   weft__ctx_switch, .-weft__ctx_switch

/* First entry: weft__ctx_init left entry in x20 and its argument in x19. */
        .type   weft__ctx_trampoline, %function
        .p2align 4
weft__ctx_trampoline:
        .cfi_startproc
        .cfi_undefined x30              /* outermost frame for unwinders */
        mov     x0, x19                 /* arg */
        blr     x20                     /* entry(arg): never returns */
        brk     #0
        .cfi_endproc
        .size   weft__ctx_trampoline, .-weft__ctx_trampoline

/* void weft__ctx_init(weft__ctx *ctx [x0], void *stack_lo [x1],
 *                     size_t size [x2], void (*entry)(void *) [x3],
 *                     void *arg [x4]) */
        .globl  weft__ctx_init
        .hidden weft__ctx_init
        .type   weft__ctx_init, %function
        .p2align 4
weft__ctx_init:
        .cfi_startproc
        add     x9, x1, x2              /* top of the stack */
        and     x9, x9, #~15            /* 16-byte aligned */
        sub     x9, x9, #176            /* one saved frame */
        mov     x10, #0
        mov     x11, #22                /* clear the 22 slots */
        mov     x12, x9
2:      str     x10, [x12], #8
        subs    x11, x11, #1
        b.ne    2b
        stp     x4, x3, [x9, #0]        /* x19 = arg, x20 = entry */
        adr     x10, weft__ctx_trampoline
        str     x10, [x9, #88]          /* x30 = trampoline; x29 = 0 */
        str     x9, [x0]                /* ctx->sp; FPCR = 0: defaults */
        ret
        .cfi_endproc
        .size   weft__ctx_init, .-weft__ctx_init

        .section .note.GNU-stack,"",%progbits
