/* Shared by the benchmark programs: the clock, peak RSS, the quick flag and
 * the one machine-readable line each prints: RESULT <workload> <impl> <value> <unit>. */
#ifndef CIO_BENCH_H
#define CIO_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* -q divides the counts by 10 (a quick run); it is printed, never silent. */
static inline long bench_scale(int argc, char **argv, long n) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-q") == 0) {
            fprintf(stderr, "quick run: counts divided by 10\n");
            return n / 10;
        }
    return n;
}

/* CPU seconds (user + system) this process has used so far. */
static inline double bench_cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static inline long bench_peak_rss_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Current resident set in bytes (VmRSS). */
static inline long bench_rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * 4096;
}

#define BENCH_RESULT(workload, impl, value, unit)                                                  \
    printf("RESULT %s %s %.6g %s\n", workload, impl, (double)(value), unit)

#define BENCH_CHECK(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: wrong result: %s\n", __FILE__, __LINE__, #cond);               \
            exit(2);                                                                               \
        }                                                                                          \
    } while (0)

#endif
