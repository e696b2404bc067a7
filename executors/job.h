/* What every executor's worker does around a job. */
#ifndef CIO_JOB_H
#define CIO_JOB_H

#include <stdint.h>
#include <time.h>

/* The error a job outside any task set with `return cio_fail(err);` (0:
 * none), and forgets it. Defined beside cio_fail in runtime/task.c. A worker
 * calls it before a job (a stale value) and after (the job's error). */
int cio__job_fail_take(void);

/* CLOCK_MONOTONIC in ns: the job observer's clock (system-wide, so a worker
 * process's readings compare with the loop's). */
static inline uint64_t cio__job_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
