/* AArch64 AAPCS64: x19-x29, x30 (the return address), d8-d15 and the FPCR
 * are kept across a call. The frame is 176 bytes:
 *     [sp+0]  x19..x28, x29, x30       [sp+96]  d8..d15       [sp+160] FPCR
 * Resuming returns with `ret` (BTI forbids `br` to a return address). The
 * CFI is exact at every instruction, so debuggers can unwind out of a switch. */
#if defined(__aarch64__)
    .text
    .globl cio__switch
    .hidden cio__switch
    .type cio__switch, %function
    .p2align 4
cio__switch:
    .cfi_startproc
    sub sp, sp, #176
    .cfi_def_cfa_offset 176
    stp x19, x20, [sp, #0]
    .cfi_offset x19, -176
    .cfi_offset x20, -168
    stp x21, x22, [sp, #16]
    .cfi_offset x21, -160
    .cfi_offset x22, -152
    stp x23, x24, [sp, #32]
    .cfi_offset x23, -144
    .cfi_offset x24, -136
    stp x25, x26, [sp, #48]
    .cfi_offset x25, -128
    .cfi_offset x26, -120
    stp x27, x28, [sp, #64]
    .cfi_offset x27, -112
    .cfi_offset x28, -104
    stp x29, x30, [sp, #80]
    .cfi_offset x29, -96
    .cfi_offset x30, -88
    stp d8, d9, [sp, #96]
    .cfi_offset d8, -80
    .cfi_offset d9, -72
    stp d10, d11, [sp, #112]
    .cfi_offset d10, -64
    .cfi_offset d11, -56
    stp d12, d13, [sp, #128]
    .cfi_offset d12, -48
    .cfi_offset d13, -40
    stp d14, d15, [sp, #144]
    .cfi_offset d14, -32
    .cfi_offset d15, -24
    mrs x9, fpcr
    str x9, [sp, #160]
    mov x10, sp
    str x10, [x0]
    /* The other side's frame has the same layout, so the CFI above stays
     * true from here on: it now describes the context being resumed. */
    mov sp, x1
    /* Writing FPCR can stall: only when it differs. */
    ldr x9, [sp, #160]
    mrs x10, fpcr
    cmp x9, x10
    b.eq 1f
    msr fpcr, x9
1:  ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    add sp, sp, #176
    .cfi_def_cfa_offset 0
    .cfi_restore x19
    .cfi_restore x20
    .cfi_restore x21
    .cfi_restore x22
    .cfi_restore x23
    .cfi_restore x24
    .cfi_restore x25
    .cfi_restore x26
    .cfi_restore x27
    .cfi_restore x28
    .cfi_restore x29
    .cfi_restore x30
    .cfi_restore d8
    .cfi_restore d9
    .cfi_restore d10
    .cfi_restore d11
    .cfi_restore d12
    .cfi_restore d13
    .cfi_restore d14
    .cfi_restore d15
    mov x0, x2
    ret
    .cfi_endproc
    .size cio__switch, .-cio__switch

/* First code of a fresh context: entry is in x19, val in x0. */
    .globl cio__ctx_trampoline
    .hidden cio__ctx_trampoline
    .type cio__ctx_trampoline, %function
    .p2align 4
cio__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    blr x19
    bl abort
    .cfi_endproc
    .size cio__ctx_trampoline, .-cio__ctx_trampoline
#endif
    .section .note.GNU-stack,"",%progbits
