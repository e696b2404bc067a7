/* File-system calls that the kernel offers only as blocking syscalls, run on
 * the loop's default executor while the calling task waits. The caller's
 * arguments stay valid for the whole job: a cancelled caller whose job has
 * started waits for it to end (asking long jobs to stop through `stop`), so
 * a job never writes into a frame that has gone; a job that has not started
 * is skipped. */
#ifndef CIO_FSJOB_H
#define CIO_FSJOB_H

#include <stdatomic.h>
#include <stdbool.h>

typedef struct cio__fsjob cio__fsjob;
/* Runs on a pool thread; returns >= 0 or a negative errno (-ECANCELED when
 * it stopped because cio__fsjob_stopped said so). */
typedef long (*cio__fsjob_fn)(cio__fsjob *job, void *arg);

/* In a task: runs fn(job, arg) on the default executor and returns its
 * result; -ECANCELED if the caller was cancelled before the job started or
 * the job stopped for it (a job that completed anyway returns its result,
 * and the cancellation comes at the caller's next suspension point);
 * -EPERM outside a task; -ENOMEM. */
long cio__fsjob_run(const char *name, cio__fsjob_fn fn, void *arg);
/* On the pool thread: whether the caller asked the job to stop. */
bool cio__fsjob_stopped(cio__fsjob *job);

#endif
