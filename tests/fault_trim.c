/* Fault injection over stack trimming (built only by `make fault`, under
 * ASan): the copy-aside allocation fails at random, which must only skip
 * that trim. Every task must find its locals intact after every wake-up,
 * every future must end, and ASan must find no leak. */
#include "fault.h"

#include <cio.h>

#include "stress.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

size_t cio__stack_trim_count(void); /* internal (libcio.a) */

#define TASKS 100
#define LEN 256

static long intact_wakes, broken_wakes;

static void *sleeper(void *arg) {
    unsigned char pat[LEN];
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < LEN; i++)
        pat[i] = (unsigned char)(seed + (unsigned)i * 13);
    for (int k = 0; k < 20; k++) {
        int r = cio_sleep(0.002);
        CHECK(r == 0 || r == -ENOMEM);
        bool ok = true;
        for (int i = 0; i < LEN; i++)
            ok &= pat[i] == (unsigned char)(seed + (unsigned)i * 13);
        ok ? intact_wakes++ : broken_wakes++;
    }
    return NULL;
}

static void *spawner(void *arg) {
    (void)arg;
    cio_future *fs[TASKS];
    int n = 0;
    for (int i = 0; i < TASKS; i++)
        if ((fs[n] = cio_create_task(sleeper, (void *)(uintptr_t)i)))
            n++;
    for (int i = 0; i < n; i++) {
        CHECK(cio_await(fs[i], NULL) <= 0);
        CHECK(cio_future_done(fs[i]));
        cio_future_unref(fs[i]);
    }
    return NULL;
}

int main(void) {
    unsetenv("CIO_STACK_TRIM_AFTER");
    cio_options o = {.stack_trim_after = 1e-6};
    size_t trims = cio__stack_trim_count();
    for (unsigned long seed = 1; seed <= 5; seed++) {
        cio__fault_set(CIO__FAULT_ALLOC, 0.2, seed);
        CHECK(cio_run_with(&o, spawner, NULL, NULL) <= 0);
    }
    unsigned long injected = cio__fault_count(CIO__FAULT_ALLOC);
    cio__fault_set(CIO__FAULT_ALLOC, 0, 0);
    trims = cio__stack_trim_count() - trims;
    printf("fault_trim: %zu trims, %lu allocations failed, %ld wake-ups intact, %ld broken\n",
           trims, injected, intact_wakes, broken_wakes);
    CHECK(broken_wakes == 0 && intact_wakes > 0);
    CHECK(trims > 0 && injected > 0); /* both paths really ran */
    return 0;
}
