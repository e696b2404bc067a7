/* Fresh contexts: a first frame laid out exactly as cio__switch leaves one,
 * so that the first switch "returns" into the trampoline. */
#include "switch.h"

#include <stdint.h>
#include <string.h>

void cio__ctx_trampoline(void);

#if defined(__x86_64__)
void *cio__ctx_make(void *lo, size_t size, void (*entry)(void *val)) {
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)top;
    /* After the trampoline's address is popped rsp == top: 16-aligned at
     * its call, as the ABI wants. */
    *--sp = (uint64_t)(uintptr_t)cio__ctx_trampoline;
    *--sp = 0;                           /* rbp: ends frame-pointer walks */
    *--sp = 0;                           /* rbx */
    *--sp = (uint64_t)(uintptr_t)entry;  /* r12 */
    *--sp = 0;                           /* r13 */
    *--sp = 0;                           /* r14 */
    *--sp = 0;                           /* r15 */
    *--sp = 0x1F80u | (0x037Full << 32); /* default MXCSR and x87 CW */
    return sp;
}
#elif defined(__aarch64__)
void *cio__ctx_make(void *lo, size_t size, void (*entry)(void *val)) {
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    uint64_t *frame = (uint64_t *)(top - 176);
    memset(frame, 0, 176);
    frame[0] = (uint64_t)(uintptr_t)entry;                /* x19 */
    frame[11] = (uint64_t)(uintptr_t)cio__ctx_trampoline; /* x30 */
    frame[20] = 0;                                        /* FPCR: defaults */
    return frame;
}
#else
#error "cio: no context switch for this architecture (x86_64 and aarch64 only)"
#endif
