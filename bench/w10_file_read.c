/* W10: a 1 GiB file (128 MiB with -q), warm in the page cache, read in
 * 128 KiB blocks with 32 reads in flight. Figure: GB/s, beside `dd bs=128k`
 * (one synchronous reader: the memcpy-bound limit) and fio's io_uring engine
 * with the same block size and depth, on the same file, in the same run.
 *
 * Why fio's figure is low: fio drops the file's pages before it starts
 * (--invalidate=1 by default), so its "buffered read" reads from the disk,
 * whatever the cache held. So two more rows: W10-warm (fio told to keep the
 * cache) and W10-cold (cio also starting from a dropped cache, with the same
 * POSIX_FADV_SEQUENTIAL hint fio gives by default). W10-read_file is the
 * cio_read_file helper on the same file (one malloc'd 1 GiB buffer). */
#include "bench.h"

#include <cio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK (128 * 1024)
#define DEPTH 32
#define PATH "/tmp/cio-w10.bin"

static long long file_size;
static bool cold;

typedef struct reader {
    int fd;
    long idx;
    long long bytes;
} reader;

/* One of DEPTH tasks: blocks idx, idx + DEPTH, idx + 2 DEPTH, ... so that
 * DEPTH reads are in the ring at any moment. */
static void *read_stripe(void *arg) {
    reader *r = arg;
    char *buf = malloc(BLOCK);
    if (!buf)
        return cio_fail(-ENOMEM);
    for (long long off = (long long)r->idx * BLOCK; off < file_size;
         off += (long long)DEPTH * BLOCK) {
        ssize_t n = cio_read(r->fd, buf, BLOCK, (off_t)off);
        if (n < 0) {
            free(buf);
            return cio_fail((int)n);
        }
        r->bytes += n;
    }
    free(buf);
    return NULL;
}

static void *read_file(void *arg) {
    (void)arg;
    int fd = cio_open(PATH, O_RDONLY, 0);
    BENCH_CHECK(fd >= 0);
    if (cold)
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    reader rs[DEPTH];
    cio_future *fs[DEPTH];
    for (long i = 0; i < DEPTH; i++) {
        rs[i] = (reader){fd, i, 0};
        fs[i] = cio_create_task(read_stripe, &rs[i]);
    }
    long long total = 0;
    for (int i = 0; i < DEPTH; i++) {
        BENCH_CHECK(cio_await(fs[i], NULL) == 0);
        total += rs[i].bytes;
        cio_future_unref(fs[i]);
    }
    cio_close(fd);
    BENCH_CHECK(total == file_size);
    return NULL;
}

static void *whole_file(void *arg) {
    (void)arg;
    void *data;
    BENCH_CHECK(cio_read_file(PATH, &data) == file_size);
    free(data);
    return NULL;
}

/* What fio's --invalidate=1 does: the file's pages leave the page cache. */
static void drop_cache(void) {
    int fd = open(PATH, O_RDONLY);
    BENCH_CHECK(fd >= 0);
    BENCH_CHECK(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
    close(fd);
}

/* Best of n runs of fn in a fresh loop: the machine is shared. */
static double best_run(cio_fn fn, int n, bool drop) {
    double best = 1e9;
    for (int i = 0; i < n; i++) {
        if (drop)
            drop_cache();
        double t0 = bench_now();
        BENCH_CHECK(cio_run(fn, NULL, NULL) == 0);
        double dt = bench_now() - t0;
        best = dt < best ? dt : best;
    }
    return best;
}

static void make_file(void) {
    struct stat st;
    if (stat(PATH, &st) == 0 && st.st_size == file_size)
        return;
    int fd = open(PATH, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    BENCH_CHECK(fd >= 0);
    char *buf = malloc(1 << 20);
    for (int i = 0; i < (1 << 20); i++)
        buf[i] = (char)(i * 31 + 7);
    for (long long off = 0; off < file_size; off += 1 << 20)
        BENCH_CHECK(write(fd, buf, 1 << 20) == 1 << 20);
    free(buf);
    close(fd);
}

static double run_cmd(const char *cmd) {
    double t0 = bench_now();
    BENCH_CHECK(system(cmd) == 0);
    return bench_now() - t0;
}

/* fio's own figure (its start-up not counted): terse v3 field 7, KiB/s. */
static double fio_gbps(const char *extra) {
    char cmd[512];
    snprintf(
        cmd, sizeof cmd,
        "fio --name=w10 --filename=" PATH " --rw=read --bs=128k --iodepth=32 "
        "--ioengine=io_uring --direct=0 %s --output-format=terse --terse-version=3 2>/dev/null",
        extra);
    FILE *p = popen(cmd, "r");
    char line[8192] = {0};
    double kib = 0;
    if (p && fgets(line, sizeof line, p)) {
        char *f = line;
        for (int i = 1; i < 7 && f; i++)
            f = strchr(f, ';') ? strchr(f, ';') + 1 : NULL;
        kib = f ? atof(f) : 0;
    }
    if (p)
        pclose(p);
    return kib * 1024 / 1e9;
}

int main(int argc, char **argv) {
    file_size = bench_scale(argc, argv, 10) == 10 ? 1LL << 30 : 128LL << 20;
    make_file();
    run_cmd("cat " PATH " > /dev/null"); /* warm the page cache */
    /* cio and dd alternate, best of five each: the load of a shared machine
     * drifts, and both should see the same drift. */
    double best = 1e9, dd = 1e9;
    for (int i = 0; i < 5; i++) {
        double c = best_run(read_file, 1, false);
        double d = run_cmd("dd if=" PATH " of=/dev/null bs=128k status=none");
        best = c < best ? c : best;
        dd = d < dd ? d : dd;
    }
    BENCH_RESULT("W10", "cio", (double)file_size / best / 1e9, "GB/s");
    BENCH_RESULT("W10", "dd", (double)file_size / dd / 1e9, "GB/s");
    double whole = best_run(whole_file, 3, false);
    BENCH_RESULT("W10-read_file", "cio", (double)file_size / whole / 1e9, "GB/s");
    if (system("command -v fio >/dev/null 2>&1") == 0) {
        double fio_cold = fio_gbps("");
        BENCH_RESULT("W10", "fio", fio_cold, "GB/s");
        BENCH_RESULT("W10-warm", "fio", fio_gbps("--invalidate=0"), "GB/s");
        BENCH_RESULT("W10-warm", "cio", (double)file_size / best / 1e9, "GB/s");
        cold = true;
        double c = best_run(read_file, 3, true);
        cold = false;
        BENCH_RESULT("W10-cold", "cio", (double)file_size / c / 1e9, "GB/s");
        BENCH_RESULT("W10-cold", "fio", fio_cold, "GB/s");
    }
    return 0;
}
