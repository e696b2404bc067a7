/* Shared memory for the process pool: one region mapped MAP_SHARED before
 * any worker exists, so it sits at the same address in every process. */
#ifndef CIO_SHM_H
#define CIO_SHM_H

#include <stdbool.h>
#include <stddef.h>

/* Maps the region if it is not yet (idempotent, thread-safe). size is its
 * address space (0: the default, 4 GiB; rounded up to 1 MiB at least); it
 * only matters to the call that maps it. 0 or -errno. */
int cio__shm_init(size_t size);
/* Whether p points into the region. */
bool cio__shm_contains(const void *p);
/* The allocator's robust process-shared lock (the region must exist). A
 * holder that dies leaves it to the next locker, who repairs it. */
void cio__shm_lock(void);
void cio__shm_unlock(void);
/* Bytes of the region handed out so far (its high-water mark). */
size_t cio__shm_used(void);
/* For tests: walks the blocks and the free lists; 0 with the free bytes and
 * free blocks (adjacent free blocks count as an error: they must have
 * merged), -EUCLEAN when anything is inconsistent. */
int cio__shm_check(size_t *free_bytes, size_t *free_blocks);
/* For tests: this process _exits at allocator step n (1..9) while holding
 * the lock, half-way through a change (0: never). */
void cio__shm_die_at(int step);

#endif
