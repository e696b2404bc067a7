/* The context switch and the stack pool on their own (no loop, no
 * io_uring), so the same test runs natively and for aarch64 under qemu-user:
 * values both ways, callee-saved integer and FP registers, each context's
 * own rounding mode, stack alignment, a million switches, many contexts,
 * 100,000 pooled stacks, and a guard page that really faults. */
#include "stack.h"
#include "switch.h"

#include <errno.h>
#include <fcntl.h>
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
#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
#include <sanitizer/tsan_interface.h>
#define TEST_TSAN 1
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

/* switch_fp: cio__switch with the frame pointer (rbp / x29) pinned to `fp`
 * across it, storing the frame pointer seen after the switch in *fp_after.
 * Compiled code may not touch rbp at all (or save it itself), so only asm
 * proves the switch keeps it. */
void *switch_fp(void **from, void *to, void *val, long fp, long *fp_after);
#if defined(__x86_64__)
__asm__(".text\n"
        ".globl switch_fp\n"
        ".hidden switch_fp\n"
        ".type switch_fp, @function\n"
        "switch_fp:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    subq $8, %rsp\n"
        "    movq %r8, %rbx\n"
        "    movq %rcx, %rbp\n"
        "    call cio__switch\n"
        "    movq %rbp, (%rbx)\n"
        "    addq $8, %rsp\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size switch_fp, .-switch_fp\n");
#elif defined(__aarch64__)
__asm__(".text\n"
        ".globl switch_fp\n"
        ".hidden switch_fp\n"
        ".type switch_fp, %function\n"
        "switch_fp:\n"
        "    stp x29, x30, [sp, #-32]!\n"
        "    str x19, [sp, #16]\n"
        "    mov x19, x4\n"
        "    mov x29, x3\n"
        "    bl cio__switch\n"
        "    str x29, [x19]\n"
        "    ldr x19, [sp, #16]\n"
        "    ldp x29, x30, [sp], #32\n"
        "    ret\n"
        ".size switch_fp, .-switch_fp\n");
#endif

static void *main_sp;
static cio__stacks pool;
#ifdef TEST_TSAN
static void *main_fiber;
#endif

/* One coroutine at a time, annotated for ASan and TSan like the runtime does
 * it. */
typedef struct coro {
    void *sp;
    cio__stack *stack;
    void *fiber; /* TSan's */
} coro;

/* TSan wants its fiber switch in the very function that switches stacks:
 * one more instrumented call in between and its shadow stack underflows. */
static void *raw_switch(void **from, void *to, void *val, long *fp, void *fiber) {
#ifdef TEST_TSAN
    __tsan_switch_to_fiber(fiber, 0);
#else
    (void)fiber;
#endif
    return fp ? switch_fp(from, to, val, *fp, fp) : cio__switch(from, to, val);
}

#ifdef TEST_ASAN
static const void *main_lo;
static size_t main_size;
#endif

static void *to_coro_fp(coro *c, void *val, long *fp) {
#ifdef TEST_TSAN
    void *fiber = c->fiber;
#else
    void *fiber = NULL;
#endif
#ifdef TEST_ASAN
    void *fake;
    __sanitizer_start_switch_fiber(&fake, c->stack->lo, c->stack->size);
    void *r = raw_switch(&main_sp, c->sp, val, fp, fiber);
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
    return r;
#else
    return raw_switch(&main_sp, c->sp, val, fp, fiber);
#endif
}

static void *to_main_fp(coro *c, void *val, long *fp) {
#ifdef TEST_TSAN
    void *fiber = main_fiber;
#else
    void *fiber = NULL;
#endif
#ifdef TEST_ASAN
    void *fake;
    __sanitizer_start_switch_fiber(&fake, main_lo, main_size);
    void *r = raw_switch(&c->sp, main_sp, val, fp, fiber);
    __sanitizer_finish_switch_fiber(fake, &main_lo, &main_size);
    return r;
#else
    return raw_switch(&c->sp, main_sp, val, fp, fiber);
#endif
}

static void *to_coro(coro *c, void *val) {
    return to_coro_fp(c, val, NULL);
}

static void *to_main(coro *c, void *val) {
    return to_main_fp(c, val, NULL);
}

/* A fresh context's first words: ASan hands over the main stack's bounds. */
static void coro_started(void) {
#ifdef TEST_ASAN
    __sanitizer_finish_switch_fiber(NULL, &main_lo, &main_size);
#endif
}

static coro *current;

static void start_sized(coro *c, void (*entry)(void *), size_t size) {
    c->stack = cio__stack_get(&pool, 0);
    c->sp = cio__ctx_make(c->stack->lo, size ? size : c->stack->size, entry);
#ifdef TEST_TSAN
    c->fiber = __tsan_create_fiber(0);
#endif
}

static void start(coro *c, void (*entry)(void *)) {
    start_sized(c, entry, 0);
}

/* Only from main, and only for a coroutine that is suspended. */
static void finish(coro *c) {
#ifdef TEST_TSAN
    __tsan_destroy_fiber(c->fiber);
#endif
    cio__stack_put(&pool, c->stack);
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
    finish(&c);
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
    finish(&c);
}

/* ---- the frame pointer (rbp / x29) survives too ---- */

#define FP_MAIN 0x5EED0BADC0FFEE11L
#define FP_CORO 0x0DDBA11CAFEF00DL
static int fp_ok_coro = 1;

static void fp_entry(void *val) {
    coro_started();
    (void)val;
    for (;;) {
        long fp = FP_CORO;
        to_main_fp(current, NULL, &fp);
        fp_ok_coro &= fp == FP_CORO;
    }
}

static void test_frame_pointer(void) {
    coro c;
    start(&c, fp_entry);
    current = &c;
    int ok = 1;
    for (int i = 0; i < 100; i++) {
        long fp = FP_MAIN;
        to_coro_fp(&c, NULL, &fp);
        ok &= fp == FP_MAIN;
    }
    CHECK(ok);
    CHECK(fp_ok_coro);
    finish(&c);
}

/* ---- each context keeps its own rounding mode ---- */

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* Whether the mode is in force everywhere: on x86_64 fegetround reads only
 * the x87 control word, so MXCSR is read too, and the division shows the
 * mode is really applied (Valgrind always rounds divisions to nearest). */
static int rounds(int mode, int up) {
    int ok = fegetround() == mode;
#if defined(__x86_64__)
    unsigned mxcsr;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    ok &= (int)((mxcsr >> 3) & 0xC00) == mode;
#endif
    volatile double one = 1.0, three = 3.0;
    volatile double q = one / three;
    if (!RUNNING_ON_VALGRIND)
        ok &= up ? q > 0.33333333333333331 : q < 0.33333333333333337;
    return ok;
}

static void rounding_entry(void *val) {
    coro_started();
    (void)val;
    fesetround(FE_UPWARD);
    for (;;)
        to_main(current, (void *)(intptr_t)rounds(FE_UPWARD, 1));
}

static void test_rounding(void) {
    coro c;
    start(&c, rounding_entry);
    current = &c;
    fesetround(FE_DOWNWARD);
    int ok = 1;
    for (int i = 0; i < 10000; i++) {
        ok &= (intptr_t)to_coro(&c, NULL) == 1;
        ok &= rounds(FE_DOWNWARD, 0);
    }
    fesetround(FE_TONEAREST);
    CHECK(ok);
    finish(&c);
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
    /* A top that is not 16-aligned is aligned down by cio__ctx_make. */
    for (size_t trim = 0; trim < 16; trim += 8) {
        coro c;
        start_sized(&c, align_entry, 64 * 1024 - 24 - trim);
        current = &c;
        CHECK((intptr_t)to_coro(&c, NULL) == 1);
        finish(&c);
    }
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
    finish(&c);
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
        finish(&many[i]);
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
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    /* Wider than a page: a frame of up to 64 KiB cannot jump over it. */
    CHECK(cio__stack_guard_size() >= 64 * 1024 && cio__stack_guard_size() % pg == 0);
    cio__stack *odd = cio__stack_get(&p, 10000); /* another size class, page-rounded */
    CHECK(odd && odd->size == (10000 + pg - 1) / pg * pg && (uintptr_t)odd->lo % pg == 0);
    if (odd) {
        ((char *)odd->lo)[0] = ((char *)odd->lo)[odd->size - 1] = 1;
        cio__stack_put(&p, odd);
        CHECK(cio__stack_get(&p, 10000) == odd);
    }
    errno = 0;
    CHECK(cio__stack_get(&p, SIZE_MAX - 100) == NULL && errno == ENOMEM);
    cio__stacks_destroy(&p);
    free(all);
}

/* A write at `below` bytes under a fresh stack's lo must fault. */
static void guard_faults_at(size_t below) {
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL); /* not a sanitizer's report: the plain fault */
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, STDERR_FILENO); /* qemu-user reports the expected crash */
        cio__stack *st = cio__stack_get(&pool, 0);
        ((volatile char *)st->lo)[-(intptr_t)below] = 1; /* into the guard */
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
}

static void test_guard_faults(void) {
    guard_faults_at(1);                       /* its top */
    guard_faults_at(cio__stack_guard_size()); /* its bottom: a 64 KiB frame lands here */
}

int main(void) {
#ifdef TEST_TSAN
    main_fiber = __tsan_get_current_fiber();
#endif
    cio__stacks_init(&pool, 0);
    test_values();
    test_registers();
    test_frame_pointer();
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
