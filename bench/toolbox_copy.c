/* Copying a 1 GiB file: cio_copy_file in a task beside `cp --reflink=never`
 * (a process; its start-up is small next to the copy). Three interleaved
 * rounds, wall and CPU time, min / median / max.
 * Usage: toolbox_copy [-q] [dir]   (default /dev/shm: the page cache, not a
 * disk, so that other jobs on the machine do not decide the figure) */
#include "bench.h"

#include <cio.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

enum { ROUNDS = 3 };

static char src[256], dst[256];
static double cio_t, cio_cpu;

static double cpu_self(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_children(void) {
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static void *copy_task(void *arg) {
    (void)arg;
    double t0 = bench_now(), c0 = cpu_self();
    int r = cio_copy_file(src, dst, 0);
    cio_t = bench_now() - t0;
    cio_cpu = cpu_self() - c0;
    if (r < 0) {
        fprintf(stderr, "cio_copy_file: %s\n", cio_strerror(r));
        exit(1);
    }
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *impl, double *v, double *cpu) {
    qsort(v, ROUNDS, sizeof *v, cmp);
    qsort(cpu, ROUNDS, sizeof *cpu, cmp);
    printf("%-22s wall min %7.1f median %7.1f max %7.1f ms | cpu min %6.1f median %6.1f max "
           "%6.1f ms\n",
           impl, v[0] * 1e3, v[1] * 1e3, v[2] * 1e3, cpu[0] * 1e3, cpu[1] * 1e3, cpu[2] * 1e3);
    printf("RESULT copy %s %.3f ms\n", impl, v[1] * 1e3);
}

int main(int argc, char **argv) {
    long mib = bench_scale(argc, argv, 1000) + 24; /* 1 GiB, or ~124 MiB with -q */
    const char *dir = argc > 1 && argv[argc - 1][0] != '-' ? argv[argc - 1] : "/dev/shm";
    snprintf(src, sizeof src, "%s/cio_bench_copy_src.%d", dir, (int)getpid());
    snprintf(dst, sizeof dst, "%s/cio_bench_copy_dst.%d", dir, (int)getpid());
    int fd = open(src, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    char *buf = malloc(1 << 20);
    if (fd < 0 || !buf)
        return 1;
    for (long i = 0; i < mib; i++) {
        for (int k = 0; k < (1 << 20); k += 4096)
            memset(buf + k, (int)(i + k), 4096);
        if (write(fd, buf, 1 << 20) != 1 << 20)
            return 1;
    }
    close(fd);
    free(buf);
    char cp[600];
    snprintf(cp, sizeof cp, "cp --reflink=never %s %s", src, dst);
    double c[ROUNDS], cc[ROUNDS], p[ROUNDS], pc[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        unlink(dst);
        if (cio_run(copy_task, NULL, NULL) != 0)
            return 1;
        c[r] = cio_t;
        cc[r] = cio_cpu;
        unlink(dst);
        double t0 = bench_now(), c0 = cpu_children();
        if (system(cp) != 0)
            return 1;
        p[r] = bench_now() - t0;
        pc[r] = cpu_children() - c0;
    }
    printf("copy of %ld MiB in %s, %d interleaved rounds\n", mib, dir, ROUNDS);
    report("cio_copy_file", c, cc);
    report("cp --reflink=never", p, pc);
    unlink(dst);
    unlink(src);
    return 0;
}
