/* Shared memory for the process pool: one region mapped MAP_SHARED before
 * any worker exists, so it sits at the same address in every process. */
#ifndef CIO_SHM_H
#define CIO_SHM_H

#include <stddef.h>

/* Maps the region if it is not yet (idempotent, thread-safe). 0 or -errno. */
int cio__shm_init(size_t size); /* size 0: the default (4 GiB of address space) */
/* Whether p points into the region. */
int cio__shm_contains(const void *p);

#endif
