/* The context switch and the stack pool on their own (no loop, no
 * io_uring), so the same test runs natively and for aarch64 under qemu-user:
 * values both ways, callee-saved integer and FP registers, each context's
 * own rounding mode, stack alignment, a million switches, many contexts,
 * 100,000 pooled stacks, and a guard page that really faults. */
#include "stack.h"
#include "switch.h"

#include <fenv.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#include <sanitizer/common_interface_defs.h>
#define TEST_ASAN 1
#endif

static int passed, failed;

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (c) {                                                                                   \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #c);                        \
        }                                                                                          \
    } while (0)

static void *main_sp;
static cio__stacks pool;

/* One coroutine at a time, annotated for ASan like the runtime does it. */
typedef struct coro {
    void *sp;
    cio__stack *stack;
} coro;

static void *to_coro(coro *c, void *val) {
#ifdef TEST_ASAN
    void *fake;
    __sanitizer_start_switch_fiber(&fake, c->stack->lo, c->stack->size);
    void *r = cio__switch(&main_sp, c->sp, val);
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
    return r;
#else
    return cio__switch(&main_sp, c->sp, val);
#endif
}

#ifdef TEST_ASAN
static const void *main_lo;
static size_t main_size;
#endif

static void *to_main(coro *c, void *val) {
#ifdef TEST_ASAN
    void *fake;
    __sanitizer_start_switch_fiber(&fake, main_lo, main_size);
    void *r = cio__switch(&c->sp, main_sp, val);
    __sanitizer_finish_switch_fiber(fake, &main_lo, &main_size);
    return r;
#else
    return cio__switch(&c->sp, main_sp, val);
#endif
}

static void coro_started(void) {
#ifdef TEST_ASAN
    __sanitizer_finish_switch_fiber(NULL, &main_lo, &main_size);
#endif
}

static coro *current;

static void start(coro *c, void (*entry)(void *)) {
    c->stack = cio__stack_get(&pool, 0);
    c->sp = cio__ctx_make(c->stack->lo, c->stack->size, entry);
}

/* ---- values both ways ---- */

static void echo_entry(void *val) {
    coro_started();
    intptr_t v = (intptr_t)val;
    for (;;)
        v = (intptr_t)to_main(current, (void *)(v * 2));
}

static void test_values(void) {
    coro c;
    start(&c, echo_entry);
    current = &c;
    for (intptr_t i = 1; i < 100; i++)
        CHECK((intptr_t)to_coro(&c, (void *)i) == 2 * i);
    cio__stack_put(&pool, c.stack);
}

/* ---- registers survive: callee-saved registers pinned to known values ---- */

#if defined(__x86_64__)
#define TRASH_REGS()                                                                               \
    __asm__ volatile("mov $-1, %%rbx; mov $-1, %%r12; mov $-1, %%r13; mov $-1, %%r14;"             \
                     "mov $-1, %%r15" ::                                                           \
                         : "rbx", "r12", "r13", "r14", "r15", "memory")
#elif defined(__aarch64__)
#define TRASH_REGS()                                                                               \
    __asm__ volatile("mov x19, #-1; mov x20, #-1; mov x21, #-1; mov x22, #-1; mov x23, #-1;"       \
                     "mov x24, #-1; mov x25, #-1; mov x26, #-1; mov x27, #-1; mov x28, #-1;"       \
                     "fmov d8, #-1.0; fmov d9, #-1.0; fmov d10, #-1.0; fmov d11, #-1.0;"           \
                     "fmov d12, #-1.0; fmov d13, #-1.0; fmov d14, #-1.0; fmov d15, #-1.0" ::       \
                         : "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28",   \
                           "d8", "d9", "d10", "d11", "d12", "d13", "d14", "d15", "memory")
#endif

static void trash_entry(void *val) {
    coro_started();
    (void)val;
    for (;;) {
        TRASH_REGS();
        to_main(current, NULL);
    }
}

static int __attribute__((noinline)) regs_survive(coro *c) {
    int ok = 1;
    for (int round = 0; round < 100; round++) {
#if defined(__x86_64__)
        register long rbx __asm__("rbx") = 0x1b;
        register long r12 __asm__("r12") = 0x12;
        register long r13 __asm__("r13") = 0x13;
        register long r14 __asm__("r14") = 0x14;
        register long r15 __asm__("r15") = 0x15;
        __asm__ volatile("" : "+r"(rbx), "+r"(r12), "+r"(r13), "+r"(r14), "+r"(r15));
        to_coro(c, NULL);
        __asm__ volatile("" : "+r"(rbx), "+r"(r12), "+r"(r13), "+r"(r14), "+r"(r15));
        ok &= rbx == 0x1b && r12 == 0x12 && r13 == 0x13 && r14 == 0x14 && r15 == 0x15;
#elif defined(__aarch64__)
        register long x19 __asm__("x19") = 19, x20 __asm__("x20") = 20, x21 __asm__("x21") = 21;
        register long x22 __asm__("x22") = 22, x23 __asm__("x23") = 23, x24 __asm__("x24") = 24;
        register long x25 __asm__("x25") = 25, x26 __asm__("x26") = 26, x27 __asm__("x27") = 27;
        register long x28 __asm__("x28") = 28;
        register double d8 __asm__("d8") = 8.5, d9 __asm__("d9") = 9.5, d10 __asm__("d10") = 10.5;
        register double d11 __asm__("d11") = 11.5, d12 __asm__("d12") = 12.5;
        register double d13 __asm__("d13") = 13.5, d14 __asm__("d14") = 14.5;
        register double d15 __asm__("d15") = 15.5;
        __asm__ volatile(""
                         : "+r"(x19), "+r"(x20), "+r"(x21), "+r"(x22), "+r"(x23), "+r"(x24),
                           "+r"(x25), "+r"(x26), "+r"(x27), "+r"(x28));
        __asm__ volatile(""
                         : "+w"(d8), "+w"(d9), "+w"(d10), "+w"(d11), "+w"(d12), "+w"(d13),
                           "+w"(d14), "+w"(d15));
        to_coro(c, NULL);
        __asm__ volatile(""
                         : "+r"(x19), "+r"(x20), "+r"(x21), "+r"(x22), "+r"(x23), "+r"(x24),
                           "+r"(x25), "+r"(x26), "+r"(x27), "+r"(x28));
        __asm__ volatile(""
                         : "+w"(d8), "+w"(d9), "+w"(d10), "+w"(d11), "+w"(d12), "+w"(d13),
                           "+w"(d14), "+w"(d15));
        ok &= x19 == 19 && x20 == 20 && x21 == 21 && x22 == 22 && x23 == 23 && x24 == 24 &&
              x25 == 25 && x26 == 26 && x27 == 27 && x28 == 28;
        ok &= d8 == 8.5 && d9 == 9.5 && d10 == 10.5 && d11 == 11.5 && d12 == 12.5 && d13 == 13.5 &&
              d14 == 14.5 && d15 == 15.5;
#endif
    }
    return ok;
}

static void test_registers(void) {
    coro c;
    start(&c, trash_entry);
    current = &c;
    CHECK(regs_survive(&c));
    cio__stack_put(&pool, c.stack);
}

/* ---- each context keeps its own rounding mode ---- */

static void rounding_entry(void *val) {
    coro_started();
    (void)val;
    fesetround(FE_UPWARD);
    for (;;) {
        volatile double one = 1.0, three = 3.0;
        volatile double q = one / three;
        to_main(current, (void *)(intptr_t)(fegetround() == FE_UPWARD && q > 0.33333333333333331));
    }
}

static void test_rounding(void) {
    coro c;
    start(&c, rounding_entry);
    current = &c;
    fesetround(FE_DOWNWARD);
    int ok = 1;
    for (int i = 0; i < 10000; i++) {
        ok &= (intptr_t)to_coro(&c, NULL) == 1;
        /* fegetround reads one control register; the division uses the SSE one */
        volatile double one = 1.0, three = 3.0;
        volatile double q = one / three;
        ok &= fegetround() == FE_DOWNWARD && q < 0.33333333333333337;
    }
    fesetround(FE_TONEAREST);
    CHECK(ok);
    cio__stack_put(&pool, c.stack);
}

/* ---- alignment and printf with doubles inside a context ---- */

static void align_entry(void *val) {
    coro_started();
    (void)val;
    _Alignas(16) char probe[16];
    char buf[64];
    snprintf(buf, sizeof buf, "%.3f %Lf", 3.14159, (long double)2.5);
    int ok = ((uintptr_t)probe % 16 == 0) && strcmp(buf, "3.142 2.500000") == 0;
    for (;;)
        to_main(current, (void *)(intptr_t)ok);
}

static void test_alignment(void) {
    coro c;
    start(&c, align_entry);
    current = &c;
    CHECK((intptr_t)to_coro(&c, NULL) == 1);
    cio__stack_put(&pool, c.stack);
}

/* ---- a million switches ---- */

static void pingpong_entry(void *val) {
    coro_started();
    (void)val;
    for (;;)
        to_main(current, NULL);
}

static void test_million(void) {
    coro c;
    start(&c, pingpong_entry);
    current = &c;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 1000000; i++)
        to_coro(&c, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 2e6;
    printf("info: %.1f ns per switch (not a pass/fail figure)\n", ns);
    CHECK(1);
    cio__stack_put(&pool, c.stack);
}

/* ---- many contexts alive at once ---- */

#define MANY 1000
static coro many[MANY];

static void many_entry(void *val) {
    coro_started();
    intptr_t id = (intptr_t)val;
    for (intptr_t round = 0;; round++)
        to_main(&many[id], (void *)(id * 1000 + round));
}

static void test_many(void) {
    for (int i = 0; i < MANY; i++)
        start(&many[i], many_entry);
    int ok = 1;
    for (intptr_t round = 0; round < 5; round++)
        for (intptr_t i = 0; i < MANY; i++)
            ok &= (intptr_t)to_coro(&many[i], (void *)i) == i * 1000 + round;
    CHECK(ok);
    for (int i = 0; i < MANY; i++)
        cio__stack_put(&pool, many[i].stack);
}

/* ---- the pool: 100,000 stacks at once, LIFO reuse ---- */

#define NSTACKS 100000

static void test_pool(void) {
    cio__stacks p;
    cio__stacks_init(&p, 0);
    cio__stack **all = malloc(NSTACKS * sizeof *all);
    int ok = 1;
    for (int i = 0; i < NSTACKS; i++) {
        all[i] = cio__stack_get(&p, 0);
        if (!all[i]) {
            ok = 0;
            break;
        }
        ((char *)all[i]->lo)[0] = 1;
        ((char *)all[i]->lo)[all[i]->size - 1] = 1;
    }
    CHECK(ok);
    for (int i = 0; ok && i < NSTACKS; i++)
        cio__stack_put(&p, all[i]);
    for (int i = NSTACKS - 1; ok && i >= NSTACKS - 100; i--)
        ok &= cio__stack_get(&p, 0) == all[i];
    CHECK(ok);
    cio__stack *odd = cio__stack_get(&p, 10000); /* another size class, page-rounded */
    CHECK(odd && odd->size == 12288);
    cio__stacks_destroy(&p);
    free(all);
}

static void test_guard_faults(void) {
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL); /* not a sanitizer's report: the plain fault */
        cio__stack *st = cio__stack_get(&pool, 0);
        ((volatile char *)st->lo)[-1] = 1; /* into the guard */
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
}

int main(void) {
    cio__stacks_init(&pool, 0);
    test_values();
    test_registers();
    test_rounding();
    test_alignment();
    test_million();
    test_many();
    test_pool();
    test_guard_faults();
    cio__stacks_destroy(&pool);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
