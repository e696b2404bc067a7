/* The seeds' CPU-bound example: count primes below N by trial division,
 * split into K chunks, four ways:
 *   seq        in the loop thread, one chunk after another;
 *   blocking   the mistake: chunks run as tasks that never suspend, so the
 *              loop freezes (debug mode names the task that held it);
 *   threads    cio_to_thread on a thread pool of W workers;
 *   processes  cio_run_in_executor on a process pool of W workers;
 *   mpi        cio_run_in_executor on the ranks of an MPI run (cio-mpi):
 *              mpirun -np 3 prime_count --mode mpi (rank 0 runs the loop,
 *              ranks 1 and 2 count). The example references cio-mpi weakly:
 *              the build links it in when Open MPI is installed (mk/mpi.mk),
 *              and without it every other mode still builds and runs.
 * While the pools work, a ticker task on the loop keeps ticking: the loop
 * stays responsive. */
#include <cio.h>
#include <cio_mpi.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Present only when the build links cio-mpi (mk/mpi.mk). */
#pragma weak cio_mpi_main
#pragma weak cio_mpi_executor

typedef struct config {
    long n;
    long chunks;
    unsigned workers;
    const char *mode;
} config;

static config cfg = {.n = 1000000, .chunks = 64, .workers = 2, .mode = "all"};

/* The seed's function, kept naive on purpose: the work is the point. */
static int is_prime(long x) {
    if (x < 2)
        return 0;
    for (long d = 2; d * d <= x; d++)
        if (x % d == 0)
            return 0;
    return 1;
}

/* A chunk is encoded in the scalar argument: its index. A process-pool job
 * needs no pointer, so the same function serves every mode. */
static void *count_chunk(void *arg) {
    long i = (long)(intptr_t)arg;
    long lo = cfg.n * i / cfg.chunks, hi = cfg.n * (i + 1) / cfg.chunks;
    long count = 0;
    for (long x = lo; x < hi; x++)
        count += is_prime(x);
    return (void *)(intptr_t)count;
}

static long expected(long n) {
    switch (n) {
    case 1000000:
        return 78498;
    case 10000000:
        return 664579;
    case 100000:
        return 9592;
    default:
        return -1; /* unknown: not checked */
    }
}

/* ---- progress and the ticker ---- */

typedef struct progress {
    long done;
    long ticks;
} progress;

static void show(const progress *p, const char *mode) {
    if (!isatty(STDOUT_FILENO))
        return;
    int width = 30, fill = (int)(p->done * width / cfg.chunks);
    printf("\r  %-9s [%.*s%*s] %ld/%ld chunks", mode, fill, "##############################",
           width - fill, "", p->done, cfg.chunks);
    fflush(stdout);
}

static void *ticker(void *arg) {
    progress *p = arg;
    while (cio_sleep(0.05) == 0)
        p->ticks++;
    return NULL;
}

/* ---- the four modes ---- */

typedef struct run {
    const char *mode;
    cio_executor *ex; /* NULL: to_thread on the default pool */
    progress p;
    long total;
    int err;
} run;

static void *seq_mode(void *arg) {
    run *r = arg;
    for (long i = 0; i < cfg.chunks; i++) {
        r->total += (long)(intptr_t)count_chunk((void *)(intptr_t)i);
        r->p.done++;
    }
    return NULL;
}

/* The mistake: one task does all the CPU work without ever suspending, so
 * the ticker (and every other task) is frozen until it is done. */
static void *all_chunks(void *arg) {
    run *r = arg;
    cio_task_set_name(cio_current_task(), "cpu-heavy");
    for (long i = 0; i < cfg.chunks; i++) {
        r->total += (long)(intptr_t)count_chunk((void *)(intptr_t)i);
        r->p.done++;
    }
    return NULL;
}

static void *blocking_mode(void *arg) {
    run *r = arg;
    cio_future *tick = cio_create_task(ticker, &r->p);
    cio_future *work = cio_create_task(all_chunks, r);
    cio_await(work, NULL);
    cio_future_unref(work);
    cio_cancel(tick);
    cio_await(tick, NULL);
    cio_future_unref(tick);
    return NULL;
}

static void *pool_mode(void *arg) {
    run *r = arg;
    cio_future **fs = calloc((size_t)cfg.chunks, sizeof *fs);
    if (!fs)
        return cio_fail(-ENOMEM);
    cio_future *tick = cio_create_task(ticker, &r->p);
    for (long i = 0; i < cfg.chunks; i++) {
        fs[i] = cio_run_in_executor(r->ex, count_chunk, (void *)(intptr_t)i);
        if (!fs[i]) {
            r->err = -errno;
            break;
        }
    }
    for (long i = 0; i < cfg.chunks && fs[i]; i++) {
        void *v;
        int e = cio_await(fs[i], &v);
        if (e == 0)
            r->total += (long)(intptr_t)v;
        else if (!r->err)
            r->err = e;
        r->p.done++;
        show(&r->p, r->mode);
        cio_future_unref(fs[i]);
    }
    cio_cancel(tick); /* not wait for its current tick */
    cio_await(tick, NULL);
    cio_future_unref(tick);
    free(fs);
    return NULL;
}

/* ---- mpi: every rank runs main(); rank 0's loop hands the chunks out ---- */

typedef struct mpi_run {
    run r;
    double seconds;
} mpi_run;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *mpi_mode(void *arg) {
    mpi_run *m = arg;
    m->r.ex = cio_mpi_executor();
    if (!m->r.ex)
        return cio_fail(-errno);
    double t0 = now();
    pool_mode(&m->r);
    m->seconds = now() - t0;
    return NULL;
}

static int mpi_main(int *argc, char ***argv) {
    if (!cio_mpi_main) {
        fprintf(stderr, "--mode mpi: this prime_count was built without cio-mpi "
                        "(install libopenmpi-dev and rebuild)\n");
        return 2;
    }
    mpi_run m = {.r.mode = "mpi"};
    int e = cio_mpi_main(argc, argv, mpi_mode, &m, NULL);
    if (e == 0 && m.r.err == 0 && m.seconds == 0) /* a worker rank: rank 0 reports */
        return 0;
    if (e < 0 || m.r.err < 0) {
        int err = e < 0 ? e : m.r.err;
        fprintf(stderr, "mpi: %s%s\n", cio_strerror(err),
                err == -ENXIO ? " (start it with: mpirun -np 3 prime_count --mode mpi)" : "");
        return 1;
    }
    if (isatty(STDOUT_FILENO))
        printf("\r%60s\r", "");
    long want = expected(cfg.n);
    int ok = want < 0 || m.r.total == want;
    printf("primes below %ld in %ld chunks, %d worker ranks\n", cfg.n, cfg.chunks,
           cio_mpi_size() - 1);
    printf("%-10s %9s %8s %9s %s\n", "mode", "seconds", "speedup", "result", "loop ticks");
    printf("%-10s %9.3f %7.2fx %9ld %10ld%s\n", "mpi", m.seconds, 1.0, m.r.total, m.r.p.ticks,
           ok ? "" : "  WRONG RESULT");
    return !ok;
}

static double run_mode(const char *mode, long *total, long *ticks) {
    run r = {.mode = mode};
    cio_fn fn = pool_mode;
    cio_options opt = {.default_executor_workers = cfg.workers};
    if (strcmp(mode, "seq") == 0)
        fn = seq_mode;
    else if (strcmp(mode, "blocking") == 0) {
        fn = blocking_mode;
        opt.debug = 1; /* shows the slow-step warning: the loop was blocked */
        opt.slow_callback_duration = 0.05;
    } else if (strcmp(mode, "processes") == 0) {
        r.ex = cio_process_pool_new(cfg.workers);
        if (!r.ex) {
            fprintf(stderr, "process pool: %s\n", cio_strerror(-errno));
            return -1;
        }
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int e = cio_run_with(&opt, fn, &r, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (r.ex) {
        cio_executor_shutdown(r.ex, true, false);
        cio_executor_free(r.ex);
    }
    if (isatty(STDOUT_FILENO) && fn == pool_mode)
        printf("\r%60s\r", "");
    if (e < 0 || r.err < 0) {
        fprintf(stderr, "%s: %s\n", mode, cio_strerror(e < 0 ? e : r.err));
        return -1;
    }
    *total = r.total;
    *ticks = r.p.ticks;
    return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
}

static int usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s [-n N] [-k chunks] [-w workers] [--mode "
            "all|seq|blocking|threads|processes|mpi]\n"
            "       (mpi: mpirun -np 3 %s --mode mpi)\n",
            argv0, argv0);
    return 2;
}

static int parse(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return -1;
        if (strcmp(a, "-n") == 0)
            cfg.n = atol(v);
        else if (strcmp(a, "-k") == 0)
            cfg.chunks = atol(v);
        else if (strcmp(a, "-w") == 0)
            cfg.workers = (unsigned)atoi(v);
        else if (strcmp(a, "--mode") == 0)
            cfg.mode = v;
        else
            return -1;
        i++;
    }
    return cfg.n > 0 && cfg.chunks > 0 && cfg.workers > 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    if (parse(argc, argv) < 0)
        return usage(argv[0]);
    if (strcmp(cfg.mode, "mpi") == 0)
        return mpi_main(&argc, &argv);
    static const char *modes[] = {"seq", "blocking", "threads", "processes"};
    printf("primes below %ld in %ld chunks, %u workers\n", cfg.n, cfg.chunks, cfg.workers);
    printf("%-10s %9s %8s %9s %s\n", "mode", "seconds", "speedup", "result", "loop ticks");
    double base = 0;
    int bad = 0, ran = 0;
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        if (strcmp(cfg.mode, "all") != 0 && strcmp(cfg.mode, modes[m]) != 0)
            continue;
        ran++;
        long total = 0, ticks = 0;
        double t = run_mode(modes[m], &total, &ticks);
        if (t < 0) {
            bad = 1;
            continue;
        }
        if (base == 0)
            base = t;
        long want = expected(cfg.n);
        int ok = want < 0 || total == want;
        bad |= !ok;
        char tick_s[24] = "-";
        if (strcmp(modes[m], "seq") != 0)
            snprintf(tick_s, sizeof tick_s, "%ld", ticks);
        printf("%-10s %9.3f %7.2fx %9ld %10s%s\n", modes[m], t, base / t, total, tick_s,
               ok ? "" : "  WRONG RESULT");
    }
    if (!ran)
        return usage(argv[0]);
    return bad;
}
