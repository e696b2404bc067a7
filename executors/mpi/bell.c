/* Doorbells between the ranks of rank 0's host (bell.h). */
#include "bell.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static cio__mpi_bell dummy;
static cio__mpi_bell *bells;
static size_t bells_len; /* mapped bytes; 0 when bells is private */
static int nbells;

typedef struct where {
    char host[256];
    char name[64];
    int ok; /* rank 0 made the segment */
} where;

static void *map(int fd, size_t len) {
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

/* Rank 0: a new segment, named in w. */
static void *create(where *w, size_t len) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    snprintf(w->name, sizeof w->name, "/cio-mpi-%ld-%ld", (long)getpid(), (long)t.tv_nsec);
    int fd = shm_open(w->name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return NULL;
    if (ftruncate(fd, (off_t)len) < 0) {
        close(fd);
        shm_unlink(w->name);
        return NULL;
    }
    void *p = map(fd, len);
    if (!p)
        shm_unlink(w->name);
    w->ok = p != NULL;
    return p;
}

static void *join(const where *w, size_t len) {
    char host[sizeof w->host] = {0};
    if (!w->ok || gethostname(host, sizeof host - 1) < 0 || strcmp(host, w->host) != 0)
        return NULL;
    int fd = shm_open(w->name, O_RDWR, 0);
    return fd < 0 ? NULL : map(fd, len);
}

void cio__mpi_bells_init(int rank, int size) {
    size_t len = (size_t)size * sizeof(cio__mpi_bell);
    where w = {0};
    void *p = NULL;
    if (rank == 0 && gethostname(w.host, sizeof w.host - 1) == 0)
        p = create(&w, len);
    MPI_Bcast(&w, sizeof w, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (rank != 0)
        p = join(&w, len);
    MPI_Barrier(MPI_COMM_WORLD); /* every rank of the host has mapped it */
    if (rank == 0 && w.ok)
        shm_unlink(w.name);
    bells_len = p ? len : 0;
    bells = p ? p : calloc((size_t)size, sizeof *bells);
    nbells = bells ? size : 0;
}

void cio__mpi_bells_fini(void) {
    if (bells_len)
        munmap(bells, bells_len);
    else
        free(bells);
    bells = NULL;
    nbells = 0;
}

cio__mpi_bell *cio__mpi_bell_of(int r) {
    return r >= 0 && r < nbells ? &bells[r] : &dummy;
}

void cio__mpi_bell_wait(cio__mpi_bell *b, uint32_t seen, long timeout_ns) {
    struct timespec t = {timeout_ns / 1000000000L, timeout_ns % 1000000000L};
    atomic_fetch_add(&b->waiters, 1);
    /* EAGAIN: it rang since `seen`; EINTR, ETIMEDOUT: the caller polls anyway. */
    syscall(SYS_futex, &b->seq, FUTEX_WAIT, seen, timeout_ns < 0 ? NULL : &t, NULL, 0);
    atomic_fetch_sub(&b->waiters, 1);
}

void cio__mpi_bell_ring(cio__mpi_bell *b) {
    atomic_fetch_add(&b->seq, 1);
    if (atomic_load(&b->waiters))
        syscall(SYS_futex, &b->seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}
