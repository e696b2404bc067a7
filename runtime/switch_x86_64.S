/* x86_64 System V: rbx, rbp, r12-r15 are callee-saved, and so are the
 * control bits of MXCSR and the x87 control word. The frame:
 *     [sp+0] MXCSR (4 bytes), x87 CW (2 bytes)
 *     [sp+8] r15, r14, r13, r12, rbx, rbp, return address
 * Resuming pops the return address and jumps: a `ret` into another context
 * always mispredicts the return-stack buffer. The CFI is exact at every
 * instruction, so debuggers and profilers can unwind out of a switch. */
#if defined(__x86_64__)
    .text
    .globl cio__switch
    .hidden cio__switch
    .type cio__switch, @function
    .p2align 4
cio__switch:
    .cfi_startproc
    pushq %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbp, 0
    pushq %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbx, 0
    pushq %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r12, 0
    pushq %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r13, 0
    pushq %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r14, 0
    pushq %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r15, 0
    subq $8, %rsp
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movl (%rsp), %r8d       /* the control words we leave, each loaded as it */
    movzwl 4(%rsp), %r9d    /* was stored: an 8-byte load would stall forwarding */
    movq %rsp, (%rdi)
    /* The other side's frame has the same layout, so the CFI above stays
     * true from here on: it now describes the context being resumed. */
    movq %rsi, %rsp
    /* ldmxcsr costs ~100 ns: only when a control bit differs (bits 0-5 are
     * sticky status flags, not state to carry). The words just saved are the
     * current ones, so the registers are not read twice. */
    xorl (%rsp), %r8d
    testl $0xFFC0, %r8d
    jz 1f
    ldmxcsr (%rsp)
1:  cmpw 4(%rsp), %r9w
    je 2f
    fldcw 4(%rsp)
2:  addq $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq %r15
    .cfi_adjust_cfa_offset -8
    .cfi_restore r15
    popq %r14
    .cfi_adjust_cfa_offset -8
    .cfi_restore r14
    popq %r13
    .cfi_adjust_cfa_offset -8
    .cfi_restore r13
    popq %r12
    .cfi_adjust_cfa_offset -8
    .cfi_restore r12
    popq %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbx
    popq %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbp
    movq %rdx, %rax
    popq %rcx
    .cfi_adjust_cfa_offset -8
    .cfi_register rip, rcx
    jmp *%rcx
    .cfi_endproc
    .size cio__switch, .-cio__switch

/* First code of a fresh context: entry is in r12, val in rax. */
    .globl cio__ctx_trampoline
    .hidden cio__ctx_trampoline
    .type cio__ctx_trampoline, @function
    .p2align 4
cio__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq %rax, %rdi
    callq *%r12
    callq abort@PLT
    ud2
    .cfi_endproc
    .size cio__ctx_trampoline, .-cio__ctx_trampoline
#endif
    .section .note.GNU-stack,"",%progbits
