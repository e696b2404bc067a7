/* Task-local context (asyncio's contextvars): the runtime's side. */
#ifndef CIO_CONTEXT_H
#define CIO_CONTEXT_H

#include "cio.h"

#include <stdbool.h>

/* An immutable-once-shared set of (key, value) pairs. NULL is the empty
 * context: a task created from one costs nothing beyond a pointer copy. */
typedef struct cio__ctx cio__ctx;

/* The context a new task starts with: the creator's (the running task's, or
 * this thread's outside a task), shared with one more reference (NULL when
 * empty). */
cio__ctx *cio__context_inherit(void);
/* c with one more reference (c not NULL). */
cio__ctx *cio__context_ref(cio__ctx *c);
/* Task creation's fast path: the creating task's context c, shared. */
static inline cio__ctx *cio__context_share(cio__ctx *c) {
    return c ? cio__context_ref(c) : NULL;
}
/* Drops a reference (c not NULL). */
void cio__context_release(cio__ctx *c);
/* Drops *c's reference, if any, and sets *c to NULL. */
static inline void cio__context_drop(cio__ctx **c) {
    if (*c) {
        cio__context_release(*c);
        *c = NULL;
    }
}

/* Executors: fn(arg) wrapped to run with the submitter's context on the
 * worker thread, or NULL when the context is empty (submit fn(arg) as is;
 * errno 0) or out of memory (errno ENOMEM). The wrapper runs
 * cio__context_job_run(carry) and its memory is released by
 * cio__context_job_release(carry, ...) once the job's future is released. */
typedef struct cio__ctx_job cio__ctx_job;
cio__ctx_job *cio__context_job_new(cio_fn fn, void *arg);
void *cio__context_job_run(void *carry);
void cio__context_job_release(void *carry, bool loop_closed);
/* The function a pool's job (fn, arg) really runs: fn, or the one a carrier
 * wraps (for names in profiles, traces and cio_run's shutdown warning). */
cio_fn cio__context_job_fn(cio_fn fn, void *arg);

#endif
