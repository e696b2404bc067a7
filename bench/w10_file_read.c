/* W10: a 1 GiB file (128 MiB with -q) read in 128 KiB blocks with 32 reads
 * in flight, warm (the file in the page cache) and cold (the file's pages
 * dropped first). Figure: GB/s. One round per run: bench/run.sh runs it, and
 * its peers, in interleaved rounds.
 *
 *   w10_file_read [-q]          cio: W10-warm, W10-cold (with the
 *                               POSIX_FADV_SEQUENTIAL hint fio gives by
 *                               default) and W10-read_file (cio_read_file,
 *                               one malloc'd buffer, warm)
 *   w10_file_read --peers [-q]  the same file through `dd bs=128k` (one
 *                               synchronous reader: the memcpy-bound limit)
 *                               and fio's io_uring engine with the same block
 *                               size and depth: warm with --invalidate=0,
 *                               cold after the same drop as cio's
 *
 * A cold run drops the file's pages with POSIX_FADV_DONTNEED (what fio's
 * default --invalidate=1 does) and checks with mincore that they are gone;
 * if some stay, it also writes 1 to /proc/sys/vm/drop_caches when it can. */
#include "bench.h"

#include <cio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
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

/* The fraction of the file's pages in the page cache. */
static double resident(void) {
    int fd = open(PATH, O_RDONLY);
    BENCH_CHECK(fd >= 0);
    void *map = mmap(NULL, (size_t)file_size, PROT_READ, MAP_SHARED, fd, 0);
    BENCH_CHECK(map != MAP_FAILED);
    long page = sysconf(_SC_PAGESIZE), pages = (long)((file_size + page - 1) / page), in = 0;
    unsigned char *vec = malloc((size_t)pages);
    BENCH_CHECK(vec && mincore(map, (size_t)file_size, vec) == 0);
    for (long i = 0; i < pages; i++)
        in += vec[i] & 1;
    free(vec);
    munmap(map, (size_t)file_size);
    close(fd);
    return (double)in / (double)pages;
}

static void drop_cache(void) {
    int fd = open(PATH, O_RDONLY);
    BENCH_CHECK(fd >= 0);
    BENCH_CHECK(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
    close(fd);
    if (resident() > 0.01) {
        sync();
        FILE *f = fopen("/proc/sys/vm/drop_caches", "w");
        if (f) {
            fputs("1\n", f);
            fclose(f);
        }
    }
    double left = resident();
    if (left > 0.01)
        fprintf(stderr, "W10: %.0f%% of the file is still cached after the drop\n", left * 100);
}

/* The file is read once untimed, so that it is all in the cache. */
static void warm_up(void) {
    int fd = open(PATH, O_RDONLY);
    BENCH_CHECK(fd >= 0);
    char *buf = malloc(1 << 20);
    while (read(fd, buf, 1 << 20) > 0)
        ;
    free(buf);
    close(fd);
}

static double timed_run(cio_fn fn) {
    double t0 = bench_now();
    BENCH_CHECK(cio_run(fn, NULL, NULL) == 0);
    return bench_now() - t0;
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
    BENCH_CHECK(fsync(fd) == 0); /* a dirty page cannot be dropped */
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
    BENCH_CHECK(kib > 0);
    return kib * 1024 / 1e9;
}

static double gbps(double seconds) {
    return (double)file_size / seconds / 1e9;
}

static void peers(void) {
    const char *dd = "dd if=" PATH " of=/dev/null bs=128k status=none";
    warm_up();
    BENCH_RESULT("W10-warm", "dd", gbps(run_cmd(dd)), "GB/s");
    if (system("command -v fio >/dev/null 2>&1") == 0)
        BENCH_RESULT("W10-warm", "fio", fio_gbps("--invalidate=0"), "GB/s");
    drop_cache();
    BENCH_RESULT("W10-cold", "dd", gbps(run_cmd(dd)), "GB/s");
    if (system("command -v fio >/dev/null 2>&1") == 0) {
        drop_cache();
        BENCH_RESULT("W10-cold", "fio", fio_gbps("--invalidate=1"), "GB/s");
    } else {
        fprintf(stderr, "W10: no fio (Debian: fio)\n");
    }
}

int main(int argc, char **argv) {
    file_size = bench_scale(argc, argv, 10) == 10 ? 1LL << 30 : 128LL << 20;
    make_file();
    if (argc > 1 && strcmp(argv[1], "--peers") == 0) {
        peers();
        return 0;
    }
    warm_up();
    BENCH_RESULT("W10-warm", "cio", gbps(timed_run(read_file)), "GB/s");
    BENCH_RESULT("W10-read_file", "cio", gbps(timed_run(whole_file)), "GB/s");
    drop_cache();
    cold = true;
    BENCH_RESULT("W10-cold", "cio", gbps(timed_run(read_file)), "GB/s");
    return 0;
}
