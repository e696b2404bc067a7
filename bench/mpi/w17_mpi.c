/* W17: cio-mpi beside the process pool, same run, rounds interleaved.
 *   w8     primes below 1,000,000 by trial division in 64 chunks: 2 MPI
 *          worker ranks vs a process pool of 2 workers (seconds);
 *   tiny   50,000 calls of x+1, at most 64 in flight (W7's shape) (calls/s);
 *   bytes  a 1 MiB bytes job that copies its input back, one at a time
 *          (µs per round trip): MPI, process pool, thread pool.
 * Each figure: min / median / max of the rounds (5; W17_ROUNDS=N, at most
 * 15); ratio of medians. W17_ROWS=w8,tiny,bytes picks rows.
 *
 *   build/bench/w17_mpi [-q]
 * starts itself under `mpirun --oversubscribe -np 3` when no MPI launcher
 * started it (as bench/run.sh runs it); -q divides the counts by 10. */
#include "../bench.h"
#include "../cio_in_flight.h"
#include "../prime_chunk.h"

#include <cio.h>
#include <cio_mpi.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define CHUNKS 64
#define MAX_ROUNDS 15
#define MIB (1u << 20)

static int rounds = 5;
static long limit = 1000000;
static long tiny_calls = 50000;
static int bytes_trips = 50;

static void *count_chunk(void *arg) {
    return (void *)(intptr_t)bench_primes_in_chunk(limit, (long)(intptr_t)arg, CHUNKS);
}

static ssize_t echo(const void *in, size_t len, void *out, size_t cap) {
    if (len > cap)
        return -ENOSPC;
    memcpy(out, in, len);
    return (ssize_t)len;
}

/* ---- one measurement each, in a task ---- */

static double w8(cio_executor *ex) {
    cio_future *f[CHUNKS];
    double t0 = bench_now();
    for (long i = 0; i < CHUNKS; i++)
        BENCH_CHECK((f[i] = cio_run_in_executor(ex, count_chunk, (void *)(intptr_t)i)));
    long total = 0;
    for (long i = 0; i < CHUNKS; i++) {
        void *v;
        BENCH_CHECK(cio_await(f[i], &v) == 0);
        total += (long)(intptr_t)v;
        cio_future_unref(f[i]);
    }
    double t = bench_now() - t0;
    BENCH_CHECK(limit != 1000000 || total == 78498);
    return t;
}

static double tiny(cio_executor *ex) {
    double t0 = bench_now();
    bench_calls_in_flight(ex, tiny_calls);
    return (double)tiny_calls / (bench_now() - t0);
}

static unsigned char *payload;

static double bytes_trip(cio_executor *ex) {
    double t0 = bench_now();
    for (int i = 0; i < bytes_trips; i++) {
        payload[0] = (unsigned char)i;
        cio_future *f = cio_run_in_executor_bytes(ex, echo, payload, MIB, MIB);
        BENCH_CHECK(f);
        BENCH_CHECK(cio_await(f, NULL) == 0);
        const void *out;
        size_t len;
        BENCH_CHECK(cio_future_bytes(f, &out, &len) == 0 && len == MIB);
        BENCH_CHECK(memcmp(out, payload, MIB) == 0);
        cio_future_unref(f);
    }
    return (bench_now() - t0) / bytes_trips * 1e6;
}

/* ---- rounds ---- */

enum { MPI_EX, PP_EX, TP_EX, NEX };
static const char *ex_name[NEX] = {"mpi", "process_pool", "thread_pool"};

typedef struct row {
    const char *workload, *unit;
    double (*fn)(cio_executor *);
    int nex; /* the first nex executors take part */
    double v[NEX][MAX_ROUNDS];
} row;

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_of(double *v, double *min, double *max) {
    double s[MAX_ROUNDS];
    memcpy(s, v, sizeof s);
    qsort(s, (size_t)rounds, sizeof *s, cmp);
    *min = s[0];
    *max = s[rounds - 1];
    return rounds % 2 ? s[rounds / 2] : (s[rounds / 2 - 1] + s[rounds / 2]) / 2;
}

static void report(row *r) {
    double med[NEX], lo, hi;
    for (int e = 0; e < r->nex; e++) {
        med[e] = median_of(r->v[e], &lo, &hi);
        printf("W17 %-6s %-13s min %10.4g  median %10.4g  max %10.4g  %s\n", r->workload,
               ex_name[e], lo, med[e], hi, r->unit);
        char impl[32];
        snprintf(impl, sizeof impl, "cio-%s", ex_name[e]);
        BENCH_RESULT(r->workload, impl, med[e], r->unit);
    }
    for (int e = 1; e < r->nex; e++)
        printf("W17 %-6s ratio mpi/%s of medians: %.3f\n", r->workload, ex_name[e],
               med[MPI_EX] / med[e]);
}

static void *bench_main(void *arg) {
    (void)arg;
    cio_executor *ex[NEX] = {cio_mpi_executor(), cio_process_pool_new(2), cio_thread_pool_new(2)};
    BENCH_CHECK(ex[MPI_EX] && ex[PP_EX] && ex[TP_EX]);
    BENCH_CHECK((payload = malloc(MIB)));
    for (size_t i = 0; i < MIB; i++)
        payload[i] = (unsigned char)(i * 7);
    row rows[] = {
        {"w8", "s", w8, 2, {{0}}},
        {"tiny", "calls/s", tiny, 2, {{0}}},
        {"bytes", "us/1MiB-trip", bytes_trip, 3, {{0}}},
    };
    size_t nrows = sizeof rows / sizeof *rows;
    const char *want = getenv("W17_ROWS");
    for (size_t k = 0; k < nrows; k++)
        if (want && !strstr(want, rows[k].workload))
            rows[k].nex = 0;
    for (size_t k = 0; k < nrows; k++) /* warm-up: workers started, windows sized */
        for (int e = 0; e < rows[k].nex; e++)
            rows[k].fn(ex[e]);
    for (int round = 0; round < rounds; round++)
        for (size_t k = 0; k < nrows; k++)
            for (int e = 0; e < rows[k].nex; e++) {
                int which = (e + round) % rows[k].nex; /* alternate who goes first */
                rows[k].v[which][round] = rows[k].fn(ex[which]);
            }
    printf("W17: %d rounds, interleaved; 2 MPI worker ranks vs 2 pool workers\n", rounds);
    for (size_t k = 0; k < nrows; k++)
        if (rows[k].nex)
            report(&rows[k]);
    for (int e = PP_EX; e < NEX; e++) {
        cio_executor_shutdown(ex[e], true, false);
        cio_executor_free(ex[e]);
    }
    free(payload);
    return NULL;
}

/* Not started by an MPI launcher: starts itself under mpirun on 3 ranks
 * (the machine's cores may be fewer: --oversubscribe). Returns only when
 * mpirun cannot be run. */
static void launch(int argc, char **argv) {
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK"))
        return;
    static char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        return;
    self[len] = 0;
    char *args[64];
    int n = 0;
    args[n++] = "mpirun";
    args[n++] = "--oversubscribe";
    if (geteuid() == 0)
        args[n++] = "--allow-run-as-root";
    args[n++] = "-np";
    args[n++] = "3";
    args[n++] = self;
    for (int i = 1; i < argc && n < 63; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    /* Shared-memory transfers without ptrace rights (containers). */
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);
    fflush(stdout);
    execvp("mpirun", args);
    perror("w17_mpi: mpirun");
}

int main(int argc, char **argv) {
    launch(argc, argv);
    const char *nr = getenv("W17_ROUNDS");
    if (nr && atoi(nr) >= 1)
        rounds = atoi(nr) < MAX_ROUNDS ? atoi(nr) : MAX_ROUNDS;
    tiny_calls = bench_scale(argc, argv, tiny_calls);
    if (tiny_calls != 50000) {
        limit /= 10;
        bytes_trips /= 10;
    }
    int r = cio_mpi_main(&argc, &argv, bench_main, NULL, NULL);
    if (r < 0)
        fprintf(stderr, "w17_mpi: %s (start it with mpirun -np 3)\n", cio_strerror(r));
    if (r == 0 && cio_mpi_rank() == 0 && cio_mpi_size() < 3)
        fprintf(stderr, "w17_mpi: wants 2 worker ranks (mpirun -np 3)\n");
    return r < 0;
}
