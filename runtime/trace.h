/* CIO_TRACE: the Chrome trace event format ({"traceEvents": [...]}), which
 * Perfetto and chrome://tracing open. Events are kept raw in a bounded
 * buffer and formatted into a buffered file when it fills and at the end. */
#ifndef CIO_TRACE_H
#define CIO_TRACE_H

#include "profile.h"

#include <stdint.h>

typedef struct cio__trace cio__trace;
struct cio__job_times;

/* Opens path for writing (NULL and errno on failure). p converts ticks. */
cio__trace *cio__trace_open(const char *path, cio__prof *p, const char *backend);
/* A task's step on the loop's thread (ticks). */
void cio__trace_step(cio__trace *tr, cio__prof_row *row, uint64_t task, uint64_t start,
                     uint64_t end);
/* A task's wait, on its own track (ticks); op: the I/O request's, or -1. */
void cio__trace_wait(cio__trace *tr, uint64_t task, int kind, int op, uint64_t start, uint64_t end);
/* Names a task's track (once per task, at its first step). */
void cio__trace_task(cio__trace *tr, cio__prof_row *row, uint64_t task);
/* The loop blocked in the backend (ticks). */
void cio__trace_poll(cio__trace *tr, uint64_t start, uint64_t end);
/* An executor job on its worker's track (CLOCK_MONOTONIC ns). */
void cio__trace_job(cio__trace *tr, const struct cio__job_times *j);
/* Writes what is left and the closing brackets, closes and frees. 0 or a
 * negative errno (the file is then incomplete). */
int cio__trace_close(cio__trace *tr);

#endif
