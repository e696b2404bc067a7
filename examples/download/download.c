/* The seeds' first example: download files one after another, then all at
 * once, and compare. While one download waits for the network, the others
 * proceed, so the concurrent run takes about as long as the longest file,
 * not the sum.
 *
 *   download [-n FILES] [-m MB] [-r RATE] [-d DIR]
 *                                            serve FILES generated files of MB
 *                                            MiB from DIR (a temp dir by
 *                                            default) on 127.0.0.1 at RATE
 *                                            MiB/s per connection (a slow
 *                                            link; 0: unlimited), download
 *   download URL...                          download http://host:port/path
 *
 * Every download is logged with its start, finish and elapsed time
 * (cio_timed), and the files are checked byte for byte (a 64-bit FNV-1a
 * hash of what was served against what arrived). */
#include "../common/http.h"

#include <cio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILES 16

typedef struct job {
    char host[256];
    unsigned port;
    char path[512];
    char out[1024];
    uint64_t hash; /* of what arrived */
    size_t bytes;
    int status;
} job;

typedef struct plan {
    job jobs[MAX_FILES];
    int n;
    uint64_t expect[MAX_FILES]; /* hashes of the generated files (0: unknown) */
    const char *dir;
    long mb;
    double rate;
    http_server *server;
} plan;

static uint64_t fnv(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

#define FNV_START 0xcbf29ce484222325ull

/* ---- generating the served files ---- */

static int generate(const char *path, long mb, uint64_t seed, uint64_t *hash) {
    int fd = cio_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return fd;
    enum { BLK = 1 << 20 };
    uint64_t *buf = malloc(BLK);
    int r = buf ? 0 : -ENOMEM;
    *hash = FNV_START;
    uint64_t x = seed * 0x9E3779B97F4A7C15ull | 1;
    for (long i = 0; r == 0 && i < mb; i++) {
        for (size_t k = 0; k < BLK / 8; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[k] = x;
        }
        *hash = fnv(*hash, buf, BLK);
        ssize_t n = cio_write_all(fd, buf, BLK, (off_t)i * BLK);
        r = n < 0 ? (int)n : n < BLK ? -EIO : 0;
    }
    free(buf);
    int c = cio_close(fd);
    return r < 0 ? r : c;
}

/* ---- downloading ---- */

typedef struct hashing_sink {
    http_file_sink file;
    uint64_t hash;
} hashing_sink;

static int sink(const void *data, size_t len, void *arg) {
    hashing_sink *s = arg;
    s->hash = fnv(s->hash, data, len);
    return http_sink_to_file(data, len, &s->file);
}

static void *download_one(void *arg) {
    job *j = arg;
    http_conn *c = http_connect(j->host, j->port);
    if (!c)
        return cio_fail(-errno);
    hashing_sink s = {.file.fd = cio_open(j->out, O_WRONLY | O_CREAT | O_TRUNC, 0644),
                      .hash = FNV_START};
    if (s.file.fd < 0) {
        http_close(c);
        return cio_fail(s.file.fd);
    }
    j->status = http_get(c, j->path, sink, &s, &j->bytes);
    j->hash = s.hash;
    cio_close(s.file.fd);
    http_close(c);
    return j->status == 200 ? NULL : cio_fail(j->status < 0 ? j->status : -EPROTO);
}

static void *timed_download(void *arg) {
    job *j = arg;
    char name[600];
    snprintf(name, sizeof name, "download %s", j->path);
    return cio_timed(name, download_one, j);
}

static int report(plan *p, const char *mode, double seconds) {
    size_t total = 0;
    int bad = 0;
    for (int i = 0; i < p->n; i++) {
        job *j = &p->jobs[i];
        total += j->bytes;
        if (j->status != 200) {
            printf("  %s: failed (%s)\n", j->path,
                   j->status < 0 ? cio_strerror(j->status) : "HTTP error");
            bad = 1;
        } else if (p->expect[i] && p->expect[i] != j->hash) {
            printf("  %s: CONTENT DIFFERS from the served file\n", j->path);
            bad = 1;
        }
    }
    printf("%-11s %d files, %.1f MiB in %.2f s (%.0f MiB/s)%s\n", mode, p->n,
           (double)total / (1 << 20), seconds, (double)total / (1 << 20) / seconds,
           bad ? "" : ", all identical to the source");
    return bad;
}

static void *run_all(void *arg) {
    plan *p = arg;
    cio_loop *loop = cio_get_running_loop();
    if (p->dir) { /* our own server over generated files */
        for (int i = 0; i < p->n; i++) {
            char path[1024];
            snprintf(path, sizeof path, "%s/file%d.bin", p->dir, i + 1);
            int r = generate(path, p->mb, (uint64_t)i + 1, &p->expect[i]);
            if (r < 0) {
                fprintf(stderr, "generating %s: %s\n", path, cio_strerror(r));
                return cio_fail(r);
            }
        }
        p->server = http_serve_dir("127.0.0.1", 0, p->dir, 0);
        if (!p->server)
            return cio_fail(-errno);
        http_server_set_rate(p->server, p->rate);
        for (int i = 0; i < p->n; i++) {
            job *j = &p->jobs[i];
            snprintf(j->host, sizeof j->host, "127.0.0.1");
            j->port = http_server_port(p->server);
            snprintf(j->path, sizeof j->path, "/file%d.bin", i + 1);
            snprintf(j->out, sizeof j->out, "%s/downloaded%d.bin", p->dir, i + 1);
        }
        printf("serving %d files of %ld MiB from %s on 127.0.0.1:%u", p->n, p->mb, p->dir,
               http_server_port(p->server));
        if (p->rate > 0)
            printf(" at %.0f MiB/s per connection (a slow link)", p->rate);
        printf("\n");
    }
    int bad = 0;
    double t0 = cio_loop_time(loop);
    for (int i = 0; i < p->n; i++)
        timed_download(&p->jobs[i]);
    bad |= report(p, "sequential:", cio_loop_time(loop) - t0);

    t0 = cio_loop_time(loop);
    cio_future *fs[MAX_FILES];
    for (int i = 0; i < p->n; i++)
        fs[i] = cio_create_task(timed_download, &p->jobs[i]);
    for (int i = 0; i < p->n; i++) {
        cio_await(fs[i], NULL);
        cio_future_unref(fs[i]);
    }
    bad |= report(p, "concurrent:", cio_loop_time(loop) - t0);
    if (p->server)
        http_server_stop(p->server);
    return bad ? cio_fail(-EIO) : NULL;
}

static int parse_url(const char *url, job *j) {
    if (strncmp(url, "http://", 7) != 0)
        return -EINVAL;
    const char *hostp = url + 7, *slash = strchr(hostp, '/'), *colon = strchr(hostp, ':');
    if (!slash)
        slash = hostp + strlen(hostp);
    size_t hl = (size_t)((colon && colon < slash ? colon : slash) - hostp);
    if (hl == 0 || hl >= sizeof j->host)
        return -EINVAL;
    memcpy(j->host, hostp, hl);
    j->host[hl] = 0;
    j->port = colon && colon < slash ? (unsigned)atoi(colon + 1) : 80;
    snprintf(j->path, sizeof j->path, "%s", *slash ? slash : "/");
    const char *base = strrchr(j->path, '/');
    snprintf(j->out, sizeof j->out, "%s", base && base[1] ? base + 1 : "index.html");
    return 0;
}

int main(int argc, char **argv) {
    static plan p = {.n = 3, .mb = 200, .rate = 100};
    char tmpl[] = "/tmp/cio-download-XXXXXX";
    int urls = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            p.n = atoi(argv[++i]);
        else if (strcmp(argv[i], "-m") == 0 && i + 1 < argc)
            p.mb = atol(argv[++i]);
        else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
            p.dir = argv[++i];
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            p.rate = atof(argv[++i]);
        else if (urls < MAX_FILES && parse_url(argv[i], &p.jobs[urls]) == 0)
            urls++;
        else {
            fprintf(stderr, "usage: %s [-n FILES] [-m MB] [-r MIB_PER_S] [-d DIR] | URL...\n",
                    argv[0]);
            return 2;
        }
    }
    if (urls) {
        p.n = urls;
        p.dir = NULL;
    } else if (p.n < 1 || p.n > MAX_FILES || p.mb < 1) {
        fprintf(stderr, "-n must be 1..%d and -m at least 1\n", MAX_FILES);
        return 2;
    } else if (!p.dir && !(p.dir = mkdtemp(tmpl))) {
        perror("mkdtemp");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int r = cio_run(run_all, &p, NULL);
    if (p.dir == tmpl) { /* remove what we generated */
        for (int i = 0; i < p.n; i++) {
            char path[1100];
            snprintf(path, sizeof path, "%s/file%d.bin", p.dir, i + 1);
            unlink(path);
            unlink(p.jobs[i].out);
        }
        rmdir(p.dir);
    }
    return r < 0;
}
