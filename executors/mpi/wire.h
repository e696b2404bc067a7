/* cio-mpi's wire between rank 0 and the worker ranks, and the program image
 * that function pointers are offsets into.
 *
 * Rank 0 sends TAG_JOBS messages: a sequence of records, each a wire_job
 * header followed by in_len payload bytes, padded to 8. The last message to
 * a rank is one W_STOP record. A worker answers with TAG_RESULTS messages:
 * wire_res records (each followed by out_len bytes, padded to 8) in the order
 * its jobs ran, and finally one W_BYE record. A big bytes result travels
 * alone as TAG_BIG: its bytes first (padded to 8), the wire_res record last,
 * so that rank 0 receives it straight into the future's result buffer. Rank 0
 * receives with MPI_ANY_TAG, so MPI's non-overtaking rule keeps each rank's
 * messages in order: once rank 0 has the BYE of every rank, nothing is left
 * in flight and MPI_Finalize cannot hang. */
#ifndef CIO_MPI_WIRE_H
#define CIO_MPI_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum { CIO__MPI_TAG_JOBS = 7101, CIO__MPI_TAG_RESULTS = 7102, CIO__MPI_TAG_BIG = 7103 };
/* Most bytes in or out of one job: a message (record and padding included)
 * must stay below INT_MAX bytes. */
#define CIO__MPI_MAX_PAYLOAD ((size_t)0x7fff0000)

enum { CIO__MPI_W_SCALAR = 1, CIO__MPI_W_BYTES = 2, CIO__MPI_W_STOP = 3, CIO__MPI_W_BYE = 4 };

typedef struct cio__mpi_wire_job {
    uint32_t kind;
    uint32_t pad;
    uint64_t id;
    uint64_t fn; /* offset into the executable's image */
    uint64_t arg;
    uint64_t in_len;
    uint64_t out_cap;
} cio__mpi_wire_job;

typedef struct cio__mpi_wire_res {
    uint32_t kind;
    int32_t err; /* 0 or a negative errno */
    uint64_t id;
    uint64_t value; /* a scalar job's result */
    uint64_t out_len;
    uint64_t run_ns;  /* how long the job ran: rank 0 sizes its windows by it */
    uint64_t held_ns; /* from its message's arrival on the rank to its end */
} cio__mpi_wire_res;

/* Waiting for the other side without blocking inside MPI (Open MPI's
 * blocking calls spin, at best with sched_yield, and spinners crowd out the
 * ranks that compute on an oversubscribed machine: 3 ranks on 2 cores): a
 * rank that finds no message sleeps on its doorbell (bell.h), which the
 * sender rings, with a timeout of 20 us, 40 us, ... up to 1 ms from the last
 * activity on: the timeout is what wakes a rank on a host without bells. */
#define CIO__MPI_FIRST_SLEEP_NS 20000L
#define CIO__MPI_MAX_SLEEP_NS 1000000L

typedef struct cio__mpi_backoff {
    unsigned sleeps; /* since the last activity */
} cio__mpi_backoff;

static inline long long cio__mpi_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static inline void cio__mpi_backoff_reset(cio__mpi_backoff *b) {
    b->sleeps = 0;
}

/* Nanoseconds to sleep before the next poll. */
static inline long cio__mpi_backoff_next(cio__mpi_backoff *b) {
    long ns = CIO__MPI_FIRST_SLEEP_NS << (b->sleeps < 8 ? b->sleeps : 8);
    b->sleeps++;
    return ns < CIO__MPI_MAX_SLEEP_NS ? ns : CIO__MPI_MAX_SLEEP_NS;
}

static inline size_t cio__mpi_pad8(size_t n) {
    return (n + 7) & ~(size_t)7;
}

/* Finds the executable's executable segments; 0 or -ENOENT. Once per process. */
int cio__mpi_image_init(void);
/* fn as an offset into the image; -EINVAL when fn is not in the executable. */
int cio__mpi_image_offset(const void *fn, uint64_t *off);
/* The function at off, or NULL when off is not inside the executable's code. */
void *cio__mpi_image_fn(uint64_t off);
/* A 64-bit hash of /proc/self/exe's bytes; 0 or a negative errno. */
int cio__mpi_image_hash(uint64_t *hash);

#endif
