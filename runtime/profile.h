/* CIO_PROFILE and CIO_TRACE: where a loop's time goes. The hooks in the
 * scheduler cost one predictable branch on loop->prof when both are off. */
#ifndef CIO_PROFILE_H
#define CIO_PROFILE_H

#include "cio.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

struct cio__task;
struct cio__trace;

/* What a parked task waits for (cio__task.wait_kind, set before it parks). */
enum {
    CIO__WAIT_AWAIT, /* a future or another task (the default) */
    CIO__WAIT_IO,    /* a kernel request (runtime/io.c) */
    CIO__WAIT_SLEEP, /* cio_sleep's timer */
    CIO__WAIT_SYNC,  /* a lock, queue, event, ... (waitq.c, xwait.c) */
    CIO__WAIT_EXEC,  /* an executor job's future */
    CIO__WAIT_KINDS
};

/* One row of the table: the tasks of one name (or, unnamed, of one function). */
typedef struct cio__prof_row {
    struct cio__prof_row *next;          /* hash chain */
    const void *fn;                      /* the key of an unnamed task's row */
    char *name;                          /* the key of a named one's (owned) */
    char *label;                         /* an unnamed row's symbol, looked up once (owned) */
    uint64_t tasks, steps, cpu, longest; /* ticks */
    uint64_t blocked;                    /* ticks of cpu spent off the CPU in blocking calls */
    uint64_t preempted;                  /* ... and off it without asking (a loaded machine) */
    uint64_t wait[CIO__WAIT_KINDS];      /* ticks */
} cio__prof_row;

typedef struct cio__prof_exec {
    struct cio__prof_exec *next;
    const char *name;                        /* the pool's static name */
    uint64_t jobs, queued, running, longest; /* ns */
} cio__prof_exec;

#define CIO__PROF_BUCKETS 256

typedef struct cio__prof {
    bool report;              /* print the table when the loop closes */
    struct cio__trace *trace; /* NULL unless tracing */
    uint64_t last;            /* ticks: the end of the last step, or the last wake-up */
    uint64_t tick0, ns0;      /* the clock's calibration origin */
    uint64_t asleep;          /* ticks blocked in the backend */
    uint64_t thread_cpu0;     /* the loop thread's CPU ns when profiling began */
    double ns_per_tick;
    uint64_t long_step;           /* ticks: a step this long is checked for blocking */
    uint64_t cpu_mark, vcsw_mark; /* the thread's CPU ns and voluntary switches at the last
                                     wake-up or long step */
    cio__prof_row *rows[CIO__PROF_BUCKETS];
    cio__prof_exec *execs;
    cio__prof_row *last_row; /* the row found last */
} cio__prof;

/* The profiler's clock: the TSC on x86-64 (about 12 ns a read here, a
 * quarter of clock_gettime's), CLOCK_MONOTONIC elsewhere. */
static inline uint64_t cio__prof_ticks(void) {
#if defined(__x86_64__)
    return __rdtsc();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

/* CLOCK_MONOTONIC in ns (the executors' job times use it). */
uint64_t cio__prof_mono_ns(void);
/* ticks -> ns since the calibration origin's clock (CLOCK_MONOTONIC). */
uint64_t cio__prof_ns(cio__prof *p, uint64_t ticks);
/* Ticks to seconds (a duration). */
double cio__prof_secs(cio__prof *p, uint64_t ticks);

/* cio_loop_new: turns profiling/tracing on from the options or the
 * environment (loop->prof stays NULL otherwise). */
void cio__prof_open(cio_loop *loop);
/* cio_loop_close: prints the table, writes the trace, frees. */
void cio__prof_close(cio_loop *loop);
/* The loop starts running: the time before is nobody's. */
void cio__prof_mark(cio_loop *loop);
/* Around a task's step (task.c). */
void cio__prof_resume(cio_loop *loop, struct cio__task *t);
void cio__prof_suspend(cio_loop *loop, struct cio__task *t);
/* A profiled task got a new name: it moves to that row. */
void cio__prof_renamed(cio_loop *loop, struct cio__task *t);
/* The backend's run with a timeout, timed as the loop's sleep. */
int cio__prof_poll(cio_loop *loop, double timeout);
/* A row's display name: its tasks' name, or their function's symbol
 * (looked up on first use, then kept). */
const char *cio__prof_row_name(cio__prof_row *r);
/* The calling thread's CPU time (ns) and voluntary context switches. */
void cio__prof_thread_usage(uint64_t *cpu_ns, uint64_t *vcsw);
/* The table (profile_report.c). */
int cio__prof_report(cio_loop *loop, int fd);

#endif
