/* cio_mpi_main: MPI's start and end on every rank, the check that every
 * rank runs the same binary, then rank 0's loop or a worker's service.
 *
 * Thread use: MPI_THREAD_SERIALIZED. On rank 0 the main thread calls MPI
 * before the progress thread starts and after it has been joined; the
 * progress thread makes every call in between. Workers are single-threaded. */
#include "bell.h"
#include "cio_mpi.h"
#include "rank0.h"

#include <errno.h>
#include <limits.h>
#include <mpi.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cio__mpi_serve(int rank);

static _Atomic int started;
static _Atomic int my_rank, nranks;
static cio__mpi_exec exec0;
static bool exec_ready; /* rank 0, while its main runs */
static cio_fn user_main;

typedef struct ident {
    uint64_t hash;
    int32_t err; /* hashing /proc/self/exe failed */
    char path[244];
} ident;

int cio_mpi_rank(void) {
    return atomic_load(&my_rank);
}

int cio_mpi_size(void) {
    return atomic_load(&nranks);
}

/* Every rank learns whether all run rank 0's binary; rank 0 names the odd
 * ones. 0, or -ENOEXEC on every rank. */
static int same_binary(int rank, int size) {
    ident me = {0}, *all = calloc((size_t)size, sizeof *all);
    me.err = cio__mpi_image_hash(&me.hash);
    ssize_t n = readlink("/proc/self/exe", me.path, sizeof me.path - 1);
    if (n < 0)
        strcpy(me.path, "?");
    int bad = !all;
    MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (bad) { /* no room to compare: refuse rather than guess */
        free(all);
        return -ENOMEM;
    }
    MPI_Allgather(&me, sizeof me, MPI_BYTE, all, sizeof me, MPI_BYTE, MPI_COMM_WORLD);
    for (int r = 0; r < size; r++) {
        if (all[r].err == 0 && all[r].hash == all[0].hash)
            continue;
        bad = 1;
        if (rank == 0 && all[r].err)
            fprintf(stderr, "cio-mpi: rank %d cannot read its binary %s: %s\n", r, all[r].path,
                    strerror(-all[r].err));
        else if (rank == 0)
            fprintf(stderr,
                    "cio-mpi: rank %d runs %s, a different binary than rank 0's %s: every rank "
                    "must run the same program (function pointers cross as offsets into it)\n",
                    r, all[r].path, all[0].path);
    }
    free(all);
    return bad ? -ENOEXEC : 0;
}

static int start_mpi(int *argc, char ***argv, int *rank, int *size) {
    int provided = 0;
    MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    atomic_store(&my_rank, *rank);
    atomic_store(&nranks, *size);
    if (provided < MPI_THREAD_SERIALIZED) {
        if (*rank == 0)
            fprintf(stderr, "cio-mpi: this MPI does not provide MPI_THREAD_SERIALIZED\n");
        return -ENOTSUP;
    }
    if (cio__mpi_image_init() < 0) {
        if (*rank == 0)
            fprintf(stderr, "cio-mpi: cannot find the executable's code segments\n");
        return -ENOEXEC;
    }
    int r = same_binary(*rank, *size);
    if (r == 0)
        cio__mpi_bells_init(*rank, *size);
    return r;
}

static void *rank0_main(void *arg) {
    exec0.loop = cio_get_running_loop();
    if (!(exec0.keepalive = cio_loop_future_new(exec0.loop)))
        return cio_fail(-ENOMEM);
    exec_ready = true;
    void *r = user_main(arg);
    exec_ready = false;
    return r;
}

static int run_rank0(cio_fn main, void *arg, void **result, int size) {
    int r = cio__mpi_exec_init(&exec0, size);
    if (r == 0 && size > 1)
        r = cio__mpi_progress_start(&exec0);
    if (r < 0) {
        fprintf(stderr, "cio-mpi: rank 0 cannot start: %s\n", strerror(-r));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    user_main = main;
    r = cio_run(rank0_main, arg, result);
    exec_ready = false;
    if (size > 1)
        cio__mpi_progress_stop(&exec0);
    cio__mpi_exec_release(&exec0);
    return r;
}

int cio_mpi_main(int *argc, char ***argv, cio_fn main, void *arg, void **result) {
    if (!main)
        return -EINVAL;
    int expect = 0;
    if (!atomic_compare_exchange_strong(&started, &expect, 1))
        return -EALREADY;
    int rank = 0, size = 0;
    int r = start_mpi(argc, argv, &rank, &size);
    if (r == 0)
        r = rank == 0 ? run_rank0(main, arg, result, size) : cio__mpi_serve(rank);
    MPI_Finalize();
    cio__mpi_bells_fini();
    return r;
}

cio_executor *cio_mpi_executor(void) {
    if (!exec_ready || cio_get_running_loop() != exec0.loop) {
        errno = EPERM;
        return NULL;
    }
    if (exec0.nranks < 2) {
        errno = ENXIO;
        return NULL;
    }
    return &exec0.base;
}
