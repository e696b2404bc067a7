/* The seeds' real-world case, end to end:
 *   1. a small HTTP/1.1 server on cio streams serves a directory of images
 *      (generated in the process pool when the directory is empty);
 *   2. the pipeline downloads them with an HTTP client on cio streams, at
 *      most 4 at once (a semaphore, as in the seed), and writes the
 *      originals with cio file I/O;
 *   3. each image is decoded and processed in the process pool (grayscale,
 *      Gaussian blur, Sobel edges, thumbnail), its bytes and pixels in cio
 *      shared memory, and the results are written with cio file I/O;
 *   4. the same work done fully sequentially, for comparison;
 *   5. a contact sheet of all thumbnails, for a person to look at.
 *
 *   image_pipeline [-n IMAGES] [-W WIDTH] [-H HEIGHT] [-w WORKERS] [-d DIR] [--check]
 *   image_pipeline --watch FOLDER [--count N] [-d DIR]   (watch.c: images as they land) */
#include "../common/http.h"
#include "imaging.h"
#include "watch.h"

#include <cio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_IMAGES 256

typedef struct config {
    int n, w, h;
    unsigned workers;
    const char *dir;
    int check;
} config;

static config cfg = {.n = 32, .w = 1600, .h = 1200, .workers = 2, .dir = "image_pipeline_out"};

typedef struct pipeline {
    cio_executor *pool; /* NULL: process in the loop thread (the sequential run) */
    cio_semaphore *downloads;
    unsigned port;
    img_job *jobs[MAX_IMAGES]; /* in shm */
    int downloaded, processed, written, failed;
    const char *label;
} pipeline;

static const char *ext(int i) {
    return i % 2 == 0 ? "png" : "jpg";
}

static int write_file(const char *path, const void *data, size_t len) {
    int fd = cio_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return fd;
    ssize_t n = cio_write_all(fd, data, len, 0);
    int r = n < 0 ? (int)n : (size_t)n < len ? -EIO : 0;
    int c = cio_close(fd);
    return r < 0 ? r : c;
}

static void progress(const pipeline *p, int final) {
    if (!final && !isatty(STDOUT_FILENO))
        return;
    printf("\r  %-10s downloaded %3d/%d  processed %3d/%d  written %3d/%d%s", p->label,
           p->downloaded, cfg.n, p->processed, cfg.n, p->written, cfg.n, final ? "\n" : "");
    fflush(stdout);
}

/* ---- generating the served pictures (CPU work: the pool does it) ---- */

typedef struct gen_job {
    int i;
    unsigned char *png; /* in shm */
    size_t len;
} gen_job;

static void *generate_job(void *arg) {
    gen_job *g = arg;
    unsigned char *p = imaging_generate(g->i, cfg.w, cfg.h, &g->len);
    if (!p)
        return (void *)(intptr_t)-ENOMEM;
    g->png = cio_shm_alloc(g->len);
    if (g->png)
        memcpy(g->png, p, g->len);
    free(p);
    return (void *)(intptr_t)(g->png ? 0 : -ENOMEM);
}

static int ensure_pictures(cio_executor *pool, const char *served) {
    cio_future *fs[MAX_IMAGES] = {0};
    gen_job *gs[MAX_IMAGES] = {0};
    int made = 0, r = 0;
    for (int i = 0; i < cfg.n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/img%03d.%s", served, i, ext(i));
        if (access(path, R_OK) == 0)
            continue;
        gs[i] = cio_shm_alloc(sizeof *gs[i]);
        if (!gs[i])
            return -ENOMEM;
        *gs[i] = (gen_job){.i = i};
        fs[i] = cio_run_in_executor(pool, generate_job, gs[i]);
    }
    for (int i = 0; i < cfg.n; i++) {
        if (!gs[i])
            continue;
        void *v = NULL;
        int e = fs[i] ? cio_await(fs[i], &v) : -errno;
        if (e == 0 && (intptr_t)v == 0) {
            char path[2048];
            snprintf(path, sizeof path, "%s/img%03d.%s", served, i, ext(i));
            e = write_file(path, gs[i]->png, gs[i]->len);
            made++;
        }
        r = r ? r : e ? e : (int)(intptr_t)v;
        cio_future_unref(fs[i]);
        cio_shm_free(gs[i]->png);
        cio_shm_free(gs[i]);
    }
    if (made)
        printf("generated %d test pictures of %dx%d in %s\n", made, cfg.w, cfg.h, served);
    return r;
}

/* ---- one image through the pipeline ---- */

typedef struct item {
    pipeline *p;
    int i;
} item;

static int fetch(pipeline *p, int i, http_mem_sink *m) {
    char path[64];
    snprintf(path, sizeof path, "/img%03d.%s", i, ext(i));
    http_conn *c = http_connect("127.0.0.1", p->port);
    if (!c)
        return -errno;
    size_t len;
    int status = http_get(c, path, http_sink_to_mem, m, &len);
    http_close(c);
    return status == 200 ? 0 : status < 0 ? status : -ENOENT;
}

static int save_results(const item *it, const img_job *j) {
    char path[2048];
    snprintf(path, sizeof path, "%s/processed/img%03d_edges.png", cfg.dir, it->i);
    int r = write_file(path, j->edges_png, j->edges_len);
    snprintf(path, sizeof path, "%s/processed/img%03d_thumb.png", cfg.dir, it->i);
    return r < 0 ? r : write_file(path, j->thumb_png, j->thumb_len);
}

static void *run_item(void *arg) {
    item *it = arg;
    pipeline *p = it->p;
    http_mem_sink m = {0};
    if (p->downloads)
        cio_semaphore_acquire(p->downloads);
    int r = fetch(p, it->i, &m);
    if (p->downloads)
        cio_semaphore_release(p->downloads);
    img_job *j = p->jobs[it->i];
    if (r == 0) {
        p->downloaded++;
        progress(p, 0);
        char path[2048];
        snprintf(path, sizeof path, "%s/downloaded/img%03d.%s", cfg.dir, it->i, ext(it->i));
        r = write_file(path, m.buf, m.len);
    }
    unsigned char *src = r == 0 ? cio_shm_alloc(m.len) : NULL;
    if (r == 0 && !src)
        r = -ENOMEM;
    if (r == 0) {
        memcpy(src, m.buf, m.len);
        *j = (img_job){.src = src, .src_len = m.len};
        void *v = NULL;
        if (p->pool) {
            cio_future *f = cio_run_in_executor(p->pool, imaging_process, j);
            r = f ? cio_await(f, &v) : -errno;
            cio_future_unref(f);
        } else {
            v = imaging_process(j);
        }
        r = r ? r : (int)(intptr_t)v;
        cio_shm_free(src);
        j->src = NULL;
    }
    free(m.buf);
    if (r == 0) {
        p->processed++;
        progress(p, 0);
        r = save_results(it, j);
    }
    if (r == 0)
        p->written++;
    else {
        p->failed++;
        fprintf(stderr, "\nimage %d: %s\n", it->i, cio_strerror(r));
    }
    progress(p, 0);
    return r ? cio_fail(r) : NULL;
}

static double run_pipeline(pipeline *p) {
    cio_loop *loop = cio_get_running_loop();
    double t0 = cio_loop_time(loop);
    item items[MAX_IMAGES];
    if (!p->pool) { /* the sequential run: one image after the other, all in the loop */
        for (int i = 0; i < cfg.n; i++) {
            items[i] = (item){p, i};
            run_item(&items[i]);
        }
    } else {
        cio_future *fs[MAX_IMAGES];
        for (int i = 0; i < cfg.n; i++) {
            items[i] = (item){p, i};
            fs[i] = cio_create_task(run_item, &items[i]);
        }
        for (int i = 0; i < cfg.n; i++) {
            cio_await(fs[i], NULL);
            cio_future_unref(fs[i]);
        }
    }
    progress(p, 1);
    return cio_loop_time(loop) - t0;
}

static int contact_sheet(pipeline *p) {
    unsigned char *thumbs[MAX_IMAGES];
    int ths[MAX_IMAGES], n = 0;
    for (int i = 0; i < cfg.n; i++)
        if (p->jobs[i]->thumb_rgb) {
            thumbs[n] = p->jobs[i]->thumb_rgb;
            ths[n++] = p->jobs[i]->th;
        }
    size_t len;
    unsigned char *png = n ? imaging_contact_sheet(thumbs, ths, n, 8, &len) : NULL;
    if (!png)
        return -ENOMEM;
    char path[2048];
    snprintf(path, sizeof path, "%s/contact_sheet.png", cfg.dir);
    int r = write_file(path, png, len);
    free(png);
    if (r == 0)
        printf("contact sheet of %d thumbnails: %s\n", n, path);
    return r;
}

static void *main_task(void *arg) {
    (void)arg;
    char served[1024];
    snprintf(served, sizeof served, "%s/served", cfg.dir);
    cio_executor *pool = cio_process_pool_new(cfg.workers);
    if (!pool)
        return cio_fail(-errno);
    int r = ensure_pictures(pool, served);
    http_server *srv = r == 0 ? http_serve_dir("127.0.0.1", 0, served, 0) : NULL;
    if (!srv) {
        r = r ? r : -errno;
        goto out;
    }
    pipeline seq = {.port = http_server_port(srv), .label = "sequential"};
    pipeline par = {
        .pool = pool, .port = seq.port, .label = "pipelined", .downloads = cio_semaphore_new(4)};
    for (int i = 0; i < cfg.n && r == 0; i++) {
        seq.jobs[i] = cio_shm_alloc(sizeof(img_job));
        par.jobs[i] = cio_shm_alloc(sizeof(img_job));
        if (!seq.jobs[i] || !par.jobs[i])
            r = -ENOMEM;
        else
            *seq.jobs[i] = *par.jobs[i] = (img_job){0};
    }
    double ts = r == 0 ? run_pipeline(&seq) : 0;
    double tp = r == 0 ? run_pipeline(&par) : 0;
    if (r == 0 && !seq.failed && !par.failed) {
        printf("\n%-12s %8s %8s\n", "run", "seconds", "speedup");
        printf("%-12s %8.2f %7.2fx\n", "sequential", ts, 1.0);
        printf("%-12s %8.2f %7.2fx   (%u worker processes, 4 downloads at once)\n", "pipelined", tp,
               ts / tp, cfg.workers);
        r = contact_sheet(&par);
        printf("originals in %s/downloaded, edge images in %s/processed\n", cfg.dir, cfg.dir);
    } else if (r == 0) {
        r = -EIO;
    }
    for (int i = 0; i < cfg.n; i++) {
        if (cfg.check && r == 0)
            printf("check img%03d %dx%d edges %llu\n", i, par.jobs[i]->w, par.jobs[i]->h,
                   (unsigned long long)par.jobs[i]->edge_sum);
        if (r == 0 && (par.jobs[i]->edge_sum != seq.jobs[i]->edge_sum))
            r = -EIO; /* the pool must compute exactly what the loop did */
        for (pipeline *p = &seq; p; p = p == &seq ? &par : NULL)
            if (p->jobs[i]) {
                imaging_release(p->jobs[i]);
                cio_shm_free(p->jobs[i]);
            }
    }
    cio_semaphore_free(par.downloads);
    http_server_stop(srv);
out:
    cio_executor_shutdown(pool, true, false);
    cio_executor_free(pool);
    return r ? cio_fail(r) : NULL;
}

static int mkdirs(void) {
    const char *subs[] = {"", "/served", "/downloaded", "/processed"};
    for (int i = 0; i < 4; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s%s", cfg.dir, subs[i]);
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            perror(path);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *watch_dir = NULL;
    int watch_count = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--check") == 0)
            cfg.check = 1;
        else if (v && strcmp(a, "--watch") == 0 && ++i)
            watch_dir = v;
        else if (v && strcmp(a, "--count") == 0 && ++i)
            watch_count = atoi(v);
        else if (v && strcmp(a, "-n") == 0 && ++i)
            cfg.n = atoi(v);
        else if (v && strcmp(a, "-W") == 0 && ++i)
            cfg.w = atoi(v);
        else if (v && strcmp(a, "-H") == 0 && ++i)
            cfg.h = atoi(v);
        else if (v && strcmp(a, "-w") == 0 && ++i)
            cfg.workers = (unsigned)atoi(v);
        else if (v && strcmp(a, "-d") == 0 && ++i)
            cfg.dir = v;
        else {
            fprintf(stderr,
                    "usage: %s [-n IMAGES] [-W WIDTH] [-H HEIGHT] [-w WORKERS] [-d DIR] "
                    "[--check]\n       %s --watch FOLDER [--count N] [-d DIR]\n",
                    argv[0], argv[0]);
            return 2;
        }
    }
    if (cfg.n < 1 || cfg.n > MAX_IMAGES || cfg.w < 16 || cfg.h < 16 || cfg.workers < 1) {
        fprintf(stderr, "need 1..%d images of at least 16x16 and 1 or more workers\n", MAX_IMAGES);
        return 2;
    }
    if (mkdirs() < 0)
        return 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (watch_dir) {
        int w = image_watch(watch_dir, cfg.dir, watch_count);
        if (w < 0)
            fprintf(stderr, "image_pipeline: %s\n", cio_strerror(w));
        return w < 0;
    }
    printf("image pipeline: %d pictures of %dx%d, %u worker processes, output in %s\n", cfg.n,
           cfg.w, cfg.h, cfg.workers, cfg.dir);
    int r = cio_run(main_task, NULL, NULL);
    if (r < 0)
        fprintf(stderr, "image_pipeline: %s\n", cio_strerror(r));
    return r < 0;
}
