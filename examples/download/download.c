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
 *   download [--cacert FILE] URL...          download http:// and https:// URLs
 *                                            (certificates checked against the
 *                                            system's CAs, or FILE's)
 *
 * The transfers are libcurl's, run on the loop by cio-curl
 * (cio_curl_perform): HTTP/1.1 and HTTP/2, TLS, redirects, all of curl.
 * Every download is logged with its start, finish and elapsed time
 * (cio_timed), big ones report their progress, and generated files are
 * checked byte for byte (a 64-bit FNV-1a hash of what was served against
 * what arrived). */
#include "../common/http.h"

#include <cio.h>
#include <cio_curl.h>

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
    char url[2048];
    char name[256]; /* the last part of the path */
    char out[1024];
    uint64_t hash; /* of what arrived */
    size_t bytes;
    int status; /* the HTTP status, or a negative error */
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

static const char *cacert; /* --cacert */

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

enum { PROGRESS_MIN = 4 << 20 }; /* files from this size report 25/50/75 % */

typedef struct fetch {
    job *j;
    int fd;
    off_t off;
    int quarter;
} fetch;

/* curl's callbacks run from a loop callback, where nothing may suspend: the
 * bytes go to the page cache with a plain pwrite (microseconds), not with
 * cio_write. */
static size_t on_body(char *data, size_t size, size_t n, void *arg) {
    fetch *f = arg;
    size_t len = size * n;
    f->j->hash = fnv(f->j->hash, data, len);
    for (size_t done = 0; done < len;) {
        ssize_t w = pwrite(f->fd, data + done, len - done, f->off);
        if (w <= 0)
            return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
        done += (size_t)w;
        f->off += w;
    }
    f->j->bytes += len;
    return len;
}

static int on_progress(void *arg, curl_off_t total, curl_off_t now, curl_off_t ut, curl_off_t un) {
    (void)ut;
    (void)un;
    fetch *f = arg;
    if (total < PROGRESS_MIN)
        return 0;
    while (f->quarter < 3 && now * 4 >= total * (f->quarter + 1)) {
        f->quarter++;
        printf("  %s: %d%% of %.1f MiB\n", f->j->name, f->quarter * 25, (double)total / (1 << 20));
    }
    return 0;
}

static void *download_one(void *arg) {
    job *j = arg;
    fetch f = {.j = j, .fd = cio_open(j->out, O_WRONLY | O_CREAT | O_TRUNC, 0644)};
    if (f.fd < 0)
        return cio_fail(j->status = f.fd);
    j->hash = FNV_START;
    j->bytes = 0;
    CURL *e = curl_easy_init();
    if (!e) {
        cio_close(f.fd);
        return cio_fail(j->status = -ENOMEM);
    }
    curl_easy_setopt(e, CURLOPT_URL, j->url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, &f);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "cio-download/0.1");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);           /* no SIGPIPE juggling per call */
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L << 10); /* fewer, larger reads */
    if (cacert)
        curl_easy_setopt(e, CURLOPT_CAINFO, cacert);
    int r = cio_curl_perform(e);
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(e);
    cio_close(f.fd);
    j->status = r < 0 ? r : (int)code;
    return j->status == 200 ? NULL : cio_fail(r < 0 ? r : -EPROTO);
}

static void *timed_download(void *arg) {
    job *j = arg;
    char name[600];
    snprintf(name, sizeof name, "download %s", j->name);
    return cio_timed(name, download_one, j);
}

static int report(plan *p, const char *mode, double seconds) {
    size_t total = 0;
    int bad = 0;
    for (int i = 0; i < p->n; i++) {
        job *j = &p->jobs[i];
        total += j->bytes;
        if (j->status != 200) {
            if (j->status < 0)
                printf("  %s: failed (%s)\n", j->url, cio_strerror(j->status));
            else
                printf("  %s: failed (HTTP %d)\n", j->url, j->status);
            bad = 1;
        } else if (p->expect[i] && p->expect[i] != j->hash) {
            printf("  %s: CONTENT DIFFERS from the served file\n", j->url);
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
            snprintf(j->url, sizeof j->url, "http://127.0.0.1:%u/file%d.bin",
                     http_server_port(p->server), i + 1);
            snprintf(j->name, sizeof j->name, "file%d.bin", i + 1);
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

/* http:// and https:// URLs; the file is named after the path's last part. */
static int parse_url(const char *url, job *j) {
    const char *rest = strncmp(url, "http://", 7) == 0    ? url + 7
                       : strncmp(url, "https://", 8) == 0 ? url + 8
                                                          : NULL;
    if (!rest || !*rest || *rest == '/' || strlen(url) >= sizeof j->url)
        return -EINVAL;
    snprintf(j->url, sizeof j->url, "%s", url);
    const char *path = strchr(rest, '/');
    size_t plen = path ? strcspn(path, "?#") : 0;
    const char *base = path ? path + plen : NULL;
    while (base && base > path && base[-1] != '/')
        base--;
    size_t blen = base ? (size_t)(path + plen - base) : 0;
    if (blen == 0 || blen >= sizeof j->name)
        snprintf(j->name, sizeof j->name, "index.html");
    else
        snprintf(j->name, sizeof j->name, "%.*s", (int)blen, base);
    snprintf(j->out, sizeof j->out, "%s", j->name);
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
        else if (strcmp(argv[i], "--cacert") == 0 && i + 1 < argc)
            cacert = argv[++i];
        else if (urls < MAX_FILES && parse_url(argv[i], &p.jobs[urls]) == 0)
            urls++;
        else {
            fprintf(stderr,
                    "usage: %s [-n FILES] [-m MB] [-r MIB_PER_S] [-d DIR]\n"
                    "       %s [--cacert FILE] http[s]://URL...\n",
                    argv[0], argv[0]);
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
