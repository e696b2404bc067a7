/* Fault injection: a per-point probability and one shared xorshift stream. */
#include "fault.h"

#ifdef CIO_FAULT_INJECTION

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic unsigned long long state = 0x9E3779B97F4A7C15ull;
static _Atomic unsigned probability_ppm[CIO__FAULT_POINTS];
static _Atomic unsigned long injected[CIO__FAULT_POINTS];
static atomic_flag env_read = ATOMIC_FLAG_INIT;

static const char *const names[CIO__FAULT_POINTS] = {"alloc", "sqe", "stack", "thread", "fork"};

static unsigned long long next(void) {
    unsigned long long x = atomic_load_explicit(&state, memory_order_relaxed), y;
    do {
        y = x;
        y ^= y << 13;
        y ^= y >> 7;
        y ^= y << 17;
    } while (!atomic_compare_exchange_weak(&state, &x, y));
    return y;
}

void cio__fault_set(int point, double probability, unsigned long seed) {
    if (point < 0 || point >= CIO__FAULT_POINTS)
        return;
    atomic_flag_test_and_set(&env_read); /* explicit settings win over the environment */
    atomic_store(&probability_ppm[point], (unsigned)(probability * 1e6));
    if (seed)
        atomic_store(&state, seed * 0x9E3779B97F4A7C15ull | 1);
}

unsigned long cio__fault_count(int point) {
    return point >= 0 && point < CIO__FAULT_POINTS ? atomic_load(&injected[point]) : 0;
}

static void read_env(void) {
    const char *spec = getenv("CIO_FAULT");
    if (!spec)
        return;
    char buf[256];
    strncpy(buf, spec, sizeof buf - 1);
    buf[sizeof buf - 1] = 0;
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            continue;
        *eq = 0;
        if (strcmp(tok, "seed") == 0)
            atomic_store(&state, strtoull(eq + 1, NULL, 10) * 0x9E3779B97F4A7C15ull | 1);
        for (int i = 0; i < CIO__FAULT_POINTS; i++)
            if (strcmp(tok, names[i]) == 0)
                atomic_store(&probability_ppm[i], (unsigned)(atof(eq + 1) * 1e6));
    }
}

bool cio__fault(int point) {
    if (!atomic_flag_test_and_set(&env_read))
        read_env();
    unsigned ppm = atomic_load_explicit(&probability_ppm[point], memory_order_relaxed);
    if (!ppm || next() % 1000000 >= ppm)
        return false;
    atomic_fetch_add(&injected[point], 1);
    return true;
}

#else
/* ISO C wants a translation unit to declare something. */
typedef int cio__fault_disabled;
#endif
