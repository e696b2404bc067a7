/* Listing a directory of 100,000 entries (names and types): cio_scandir in a
 * task, beside `ls -f` (a process: its start-up is included, so it is also
 * timed on an empty directory and the difference reported) and Python's
 * os.scandir (timed inside the interpreter). Three interleaved rounds;
 * min / median / max per implementation.
 * Usage: toolbox_scandir [-q] [dir]   (default: a fresh directory in /dev/shm) */
#include "bench.h"

#include <cio.h>

#include <fcntl.h>
#include <unistd.h>

enum { ROUNDS = 3 };

#include <sys/resource.h>

static const char *dir;
static double cio_t, cio_cpu;

/* On a shared, loaded machine wall time mostly measures the CPU share a
 * process got; CPU time (user + system) is reported beside it. */
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

static void *list_task(void *arg) {
    (void)arg;
    cio_dirent *e;
    size_t n;
    double t0 = bench_now(), c0 = cpu_self();
    ssize_t r = cio_scandir(dir, &e, &n);
    cio_t = bench_now() - t0;
    cio_cpu = cpu_self() - c0;
    if (r < 0) {
        fprintf(stderr, "cio_scandir: %s\n", cio_strerror((int)r));
        exit(1);
    }
    cio_scandir_free(e, n);
    return NULL;
}

static double run_cmd(const char *cmd, double *cpu) {
    double t0 = bench_now(), c0 = cpu_children();
    if (system(cmd) != 0) {
        fprintf(stderr, "failed: %s\n", cmd);
        exit(1);
    }
    *cpu = cpu_children() - c0;
    return bench_now() - t0;
}

static double python_scandir(double *cpu) {
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import os,time\nt=time.perf_counter()\nc=time.process_time()\n"
             "n=sum(1 for e in os.scandir(\"%s\") if e.is_dir(follow_symlinks=False) or 1)\n"
             "print(time.perf_counter()-t, time.process_time()-c)'",
             dir);
    FILE *p = popen(cmd, "r");
    double t = -1;
    if (!p || fscanf(p, "%lf %lf", &t, cpu) != 2)
        exit(1);
    pclose(p);
    return t;
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
    printf("RESULT scandir %s %.3f ms\n", impl, v[1] * 1e3);
}

int main(int argc, char **argv) {
    long n = bench_scale(argc, argv, 100000);
    char made[64] = "";
    dir = argc > 1 && argv[argc - 1][0] != '-' ? argv[argc - 1] : NULL;
    if (!dir) {
        strcpy(made, "/dev/shm/cio_bench_scandir_XXXXXX");
        if (!mkdtemp(made))
            return 1;
        dir = made;
        for (long i = 0; i < n; i++) {
            char p[128];
            snprintf(p, sizeof p, "%s/entry%07ld", dir, i);
            close(open(p, O_CREAT | O_WRONLY, 0644));
        }
    }
    char ls[256], ls_empty[256];
    snprintf(ls, sizeof ls, "ls -f %s > /dev/null", dir);
    snprintf(ls_empty, sizeof ls_empty, "ls -f /var/empty > /dev/null 2>&1 || true");
    double c[ROUNDS], l[ROUNDS], le[ROUNDS], py[ROUNDS];
    double cc[ROUNDS], lc[ROUNDS], lec[ROUNDS], pyc[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        if (cio_run(list_task, NULL, NULL) != 0)
            return 1;
        c[r] = cio_t;
        cc[r] = cio_cpu;
        l[r] = run_cmd(ls, &lc[r]);
        le[r] = run_cmd(ls_empty, &lec[r]);
        py[r] = python_scandir(&pyc[r]);
    }
    printf("directory of %ld entries (%s), %d interleaved rounds\n", n, dir, ROUNDS);
    report("cio_scandir", c, cc);
    report("ls -f (with start-up)", l, lc);
    report("ls -f empty dir", le, lec);
    report("python os.scandir", py, pyc);
    if (made[0]) {
        char rm[128];
        snprintf(rm, sizeof rm, "rm -rf %s", made);
        return system(rm) != 0;
    }
    return 0;
}
