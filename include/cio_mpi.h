/*
 * cio-mpi — an executor on MPI ranks (Open MPI: Debian openmpi-bin,
 * libopenmpi-dev). Its own library: pkg-config cio-mpi.
 *
 * Every rank runs the same program, started by mpirun or srun. main() calls
 * cio_mpi_main() on every rank: rank 0 runs the loop, the other ranks serve
 * jobs that rank 0's tasks send them through cio_mpi_executor():
 *
 *     static void *count(void *arg) { ... return (void *)(intptr_t)n; }
 *     static void *main_task(void *arg) {
 *         cio_future *f = cio_run_in_executor(cio_mpi_executor(), count, (void *)7);
 *         ...cio_await(f, &v)...
 *     }
 *     int main(int argc, char **argv) {
 *         return cio_mpi_main(&argc, &argv, main_task, NULL, NULL) < 0;
 *     }
 *
 * A job is (fn, scalar): fn is a function of the program's executable (it
 * crosses as an offset into the executable's image; the ranks check at start
 * that they all run the same binary) and the argument and result are scalars
 * (intptr_t). Pointers mean nothing on another machine.
 *
 * How it runs:
 *   - Rank 0's loop never waits on MPI: a progress thread of rank 0 makes
 *     every MPI call (MPI_THREAD_SERIALIZED) and posts finished jobs to the
 *     loop in batches through cio_call_soon_threadsafe.
 *   - Each worker rank holds a few jobs at once (2 plus the measured round
 *     trip's worth of the function's jobs, at most 64 and near the end of a
 *     batch at most its share of what is left; run times measured per job
 *     function) so that no rank waits for a round trip; the others wait in
 *     rank 0's queue, FIFO, for the first rank with room.
 *   - Waiting ranks sleep on a doorbell (a futex in shared memory of rank
 *     0's host) that the sender rings, instead of spinning in MPI; ranks on
 *     other hosts wake by timeout (20 us doubling to 1 ms).
 *   - Cancelling a queued job removes it (it never runs); a job already on a
 *     rank cannot be stopped: its future ends cancelled and the result is
 *     dropped.
 *   - A job that crashes its rank (a signal: SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 *     SIGABRT) ends the whole run: the rank prints
 *     "cio-mpi: rank R: job NAME crashed (SIGNAL); the run ends" on stderr and
 *     dies of the signal, and mpirun (or srun) then stops every rank, so the
 *     caller never hangs. A job that calls exit() ends the run likewise.
 *   - When rank 0's main returns, jobs still queued are dropped, jobs running
 *     on ranks finish (their results are dropped), every rank finalises MPI
 *     and cio_mpi_main returns on every rank.
 */
#ifndef CIO_MPI_H
#define CIO_MPI_H

#include <cio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Called by main() on every rank (once per process): initialises MPI, checks
   that every rank runs the same binary, then rank 0 runs main(arg) under
   cio_run while the other ranks serve jobs until it returns; every rank
   finalises MPI before returning. Rank 0 returns what cio_run returns (and
   *result, may be NULL, gets main's result); the other ranks return 0.
   Errors, on every rank: -EINVAL (main NULL), -EALREADY (called before),
   -ENOEXEC (the ranks run different binaries: rank 0 names them on stderr),
   -ENOTSUP (this MPI lacks MPI_THREAD_SERIALIZED). */
CIO_API int cio_mpi_main(int *argc, char ***argv, cio_fn main, void *arg, void **result);

/* On rank 0, inside main: the executor whose workers are the other ranks.
   It belongs to cio_mpi_main: cio_executor_shutdown works as for the other
   pools (later submissions fail with ESHUTDOWN; cancel_futures cancels the
   queued jobs; wait returns once every job sent has come back), and
   cio_executor_free only shuts it down without waiting. Submissions must
   come from rank 0's loop; fn must lie in the executable (EINVAL for a
   function of a shared library). NULL and errno: EPERM outside rank 0's
   main, ENXIO when the run has no other rank (mpirun -np 1 or no mpirun);
   a bytes job with in_len or out_cap near 2 GiB or more fails to submit with
   EMSGSIZE (an MPI message counts its bytes in an int). */
CIO_API cio_executor *cio_mpi_executor(void);

/* This process's rank in MPI_COMM_WORLD (0 before cio_mpi_main). A job may
   call it to learn where it runs. Thread-safe. */
CIO_API int cio_mpi_rank(void);
/* The number of ranks (0 before cio_mpi_main). Thread-safe. */
CIO_API int cio_mpi_size(void);

#ifdef __cplusplus
}
#endif
#endif /* CIO_MPI_H */
