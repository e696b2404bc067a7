/* What every executor's worker does around a job. */
#ifndef CIO_JOB_H
#define CIO_JOB_H

/* The error a job outside any task set with `return cio_fail(err);` (0:
 * none), and forgets it. Defined beside cio_fail in runtime/task.c. A worker
 * calls it before a job (a stale value) and after (the job's error). */
int cio__job_fail_take(void);

#endif
