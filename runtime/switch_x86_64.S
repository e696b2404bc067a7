/* x86_64 System V: rbx, rbp, r12-r15 are callee-saved, and so are the
 * control bits of MXCSR and the x87 control word. The frame:
 *     [sp+0] MXCSR (4 bytes), x87 CW (2 bytes)
 *     [sp+8] r15, r14, r13, r12, rbx, rbp, return address
 * Resuming pops the return address and jumps: a `ret` into another context
 * always mispredicts the return-stack buffer. */
#if defined(__x86_64__)
    .text
    .globl cio__switch
    .hidden cio__switch
    .type cio__switch, @function
    .p2align 4
cio__switch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movl (%rsp), %r8d       /* the control words we leave, each loaded as it */
    movzwl 4(%rsp), %r9d    /* was stored: an 8-byte load would stall forwarding */
    movq %rsp, (%rdi)
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
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    movq %rdx, %rax
    popq %rcx
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
