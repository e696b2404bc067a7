/* Doorbells: how a rank that waits for messages sleeps without delaying them.
 *
 * Open MPI cannot block without spinning (its blocking calls poll, at best
 * with sched_yield), and polling with sleeps puts the sleep into every round
 * trip. So each rank has a bell: a futex word in memory shared by the ranks
 * of rank 0's host. A rank that finds no message reads its bell, polls once
 * more, then sleeps on the bell with a timeout; whoever sends it a message
 * rings the bell after the send. MPI still carries every byte: the bell only
 * wakes the sleeper early. A rank on another host has a bell of its own that
 * nobody rings: it wakes at its timeout (cio__mpi_backoff) as before.
 *
 * The futex is process-shared (not FUTEX_PRIVATE) on a MAP_SHARED mapping
 * that rank 0 creates with shm_open and unlinks once every rank of its host
 * has mapped it. */
#ifndef CIO_MPI_BELL_H
#define CIO_MPI_BELL_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct cio__mpi_bell {
    _Atomic uint32_t seq;     /* rung: +1 */
    _Atomic uint32_t waiters; /* sleeping on seq */
    char pad[56];             /* one cache line each */
} cio__mpi_bell;

/* Collective (every rank, after MPI_Init): maps the bells of rank 0's host.
 * Never fails: without shared memory every rank gets private bells (and
 * wakes at its timeouts). */
void cio__mpi_bells_init(int rank, int size);
/* Unmaps them (after the last ring). */
void cio__mpi_bells_fini(void);
/* Rank r's bell (a private dummy before init). */
cio__mpi_bell *cio__mpi_bell_of(int r);

static inline uint32_t cio__mpi_bell_seen(cio__mpi_bell *b) {
    return atomic_load(&b->seq);
}
/* Sleeps until the bell rings after `seen` was read, or timeout_ns (< 0:
 * no timeout) pass. */
void cio__mpi_bell_wait(cio__mpi_bell *b, uint32_t seen, long timeout_ns);
/* Wakes the bell's sleeper, if any (a syscall only then). */
void cio__mpi_bell_ring(cio__mpi_bell *b);

#endif
