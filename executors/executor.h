/* The executor layer's shared internals (executor.c, bytes.c). */
#ifndef CIO_EXECUTOR_H
#define CIO_EXECUTOR_H

#include "loop.h"

/* The loop's default thread pool, made on first use (kept in the loop's
 * CIO__SLOT_EXECUTOR, shut down without waiting when the loop closes).
 * NULL and errno when it cannot be made. */
cio_executor *cio__default_executor(cio_loop *loop);

#endif
