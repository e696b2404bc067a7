/* Shared by the stress and fault programs (plain mains, not cmocka): a
 * check that exits, the clock, and the resident set. */
#ifndef CIO_TESTS_STRESS_H
#define CIO_TESTS_STRESS_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static inline double stress_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Resident set in KiB (VmRSS). */
static inline long stress_rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long a = 0, b = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &a, &b) != 2)
            b = 0;
        fclose(f);
    }
    return b * 4;
}

#endif
