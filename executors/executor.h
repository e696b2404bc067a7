/* The executor layer's shared internals (executor.c, bytes.c). */
#ifndef CIO_EXECUTOR_H
#define CIO_EXECUTOR_H

#include "loop.h"

#include <stdbool.h>
#include <stdint.h>

/* The loop's default thread pool, made on first use (kept in the loop's
 * CIO__SLOT_EXECUTOR, shut down without waiting when the loop closes).
 * NULL and errno when it cannot be made. */
cio_executor *cio__default_executor(cio_loop *loop);

/* A pool's default worker count: for threads concurrent.futures'
 * min(32, cpus + 4), for processes the number of online CPUs (at least 1). */
unsigned cio__default_workers(bool threads);

/* What one executor job cost, reported on its loop's thread when the job's
 * future completes. The pools fill it; the profiler and the tracer read it. */
typedef struct cio__job_times {
    const char *executor; /* "thread pool", "process pool", "mpi", ... */
    const void *fn;       /* the job's function (symbol lookup by the reader) */
    cio_future *future;
    uint64_t submitted_ns, started_ns, ended_ns; /* CLOCK_MONOTONIC, 0: unknown */
    long worker; /* the worker's thread index in its pool, or its pid/rank */
} cio__job_times;

/* NULL unless profiling or tracing is on: the job engine (jobs.c) calls it
 * from the loop's thread as it completes the future of a job that started
 * (one load per job when NULL). Only jobs submitted while it was set are
 * timed and reported. */
extern void (*cio__job_observer)(cio_loop *loop, const cio__job_times *t);

/* Marks a future as an executor job's (cio_run_in_executor and its bytes twin
 * do it for every executor). Returns f. */
cio_future *cio__job_future(cio_future *f);

#endif
