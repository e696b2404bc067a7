/* The context switch: a few lines of assembly per architecture
 * (switch_x86_64.S, switch_aarch64.S). No ucontext (a syscall per switch),
 * no setjmp/longjmp (breaks under _FORTIFY_SOURCE and TSan). */
#ifndef CIO_SWITCH_H
#define CIO_SWITCH_H

#include <stddef.h>

/* Saves the callee-saved registers and the FP control state on the current
 * stack, stores the stack pointer in *from_sp, switches to to_sp and resumes
 * there; val becomes the return value of the cio__switch that suspended the
 * other side (or entry's argument for a fresh context). Returns the val of
 * whoever switches back. */
void *cio__switch(void **from_sp, void *to_sp, void *val);

/* Prepares a fresh context on [lo, lo + size): the first switch to the
 * returned sp calls entry(val) there with default FP control. entry must not
 * return (the trampoline aborts if it does). */
void *cio__ctx_make(void *lo, size_t size, void (*entry)(void *val));

#endif
