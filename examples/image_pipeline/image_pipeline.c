/* The seeds' real-world case, end to end:
 *   1. a small HTTP/1.1 server on cio streams serves a directory of images
 *      (generated in the process pool when the directory is empty);
 *   2. the pipeline downloads them with libcurl on the loop (cio-curl), at
 *      most 4 at once (a semaphore, as in the seed), and writes the
 *      originals with cio file I/O;
 *   3. each image is decoded and processed in the process pool (grayscale,
 *      Gaussian blur, Sobel edges, thumbnail), its bytes and pixels in cio
 *      shared memory, and the results are written with cio file I/O;
 *   4. the same work done fully sequentially, for comparison;
 *   5. a contact sheet of all thumbnails, for a person to look at.
 *
 * With --executor mpi, steps 1 and 3 run on the worker ranks of an MPI run
 * instead (cio-mpi): bytes jobs carry each image to a rank and its results
 * back (remote.c), since ranks share no memory with the loop:
 *   mpirun -np 3 image_pipeline --executor mpi ...   (rank 0 runs the loop)
 *
 *   image_pipeline [-n IMAGES] [-W WIDTH] [-H HEIGHT] [-w WORKERS] [-d DIR] [--check]
 *                  [--executor process|mpi]
 *   image_pipeline --watch FOLDER [--count N] [-d DIR]   (watch.c: images as they land) */
#include "../common/http.h"
#include "imaging.h"
#include "watch.h"

#include <cio.h>
#include <cio_curl.h>
#include <cio_mpi.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_IMAGES 256

/* Present only when the build links cio-mpi (mk/mpi.mk). */
#pragma weak cio_mpi_main
#pragma weak cio_mpi_executor
#pragma weak cio_mpi_size

typedef struct config {
    int n, w, h;
    unsigned workers;
    const char *dir;
    int check;
    int mpi; /* --executor mpi */
} config;

static config cfg = {.n = 32, .w = 1600, .h = 1200, .workers = 2, .dir = "image_pipeline_out"};

typedef struct pipeline {
    cio_executor *pool; /* NULL: process in the loop thread (the sequential run) */
    int remote;         /* pool is MPI ranks: bytes jobs, no shared memory */
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

/* The picture's bytes from a bytes job (MPI ranks) into g, as generate_job
 * leaves them. */
static int generated_bytes(cio_future *f, gen_job *g) {
    const void *out;
    size_t len;
    int e = cio_future_bytes(f, &out, &len);
    if (e == 0 && !(g->png = cio_shm_alloc(len)))
        e = -ENOMEM;
    if (e == 0) {
        memcpy(g->png, out, len);
        g->len = len;
    }
    return e;
}

static cio_future *start_generate(cio_executor *pool, int remote, gen_job *g) {
    if (!remote)
        return cio_run_in_executor(pool, generate_job, g);
    int32_t in[3] = {g->i, cfg.w, cfg.h};
    return cio_run_in_executor_bytes(pool, imaging_generate_bytes, in, sizeof in,
                                     imaging_generate_cap(cfg.w, cfg.h));
}

static int ensure_pictures(cio_executor *pool, int remote, const char *served) {
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
        fs[i] = start_generate(pool, remote, gs[i]);
    }
    for (int i = 0; i < cfg.n; i++) {
        if (!gs[i])
            continue;
        void *v = NULL;
        int e = fs[i] ? cio_await(fs[i], remote ? NULL : &v) : -errno;
        if (e == 0 && remote)
            e = generated_bytes(fs[i], gs[i]);
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

static size_t to_mem(char *data, size_t size, size_t n, void *arg) {
    return http_sink_to_mem(data, size * n, arg) == 0 ? size * n : 0;
}

static int fetch(pipeline *p, int i, http_mem_sink *m) {
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/img%03d.%s", p->port, i, ext(i));
    CURL *e = curl_easy_init();
    if (!e)
        return -ENOMEM;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, to_mem);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, m);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    int r = cio_curl_perform(e); /* suspends this task only */
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    return r < 0 ? r : status == 200 ? 0 : -ENOENT;
}

static int save_results(const item *it, const img_job *j) {
    char path[2048];
    snprintf(path, sizeof path, "%s/processed/img%03d_edges.png", cfg.dir, it->i);
    int r = write_file(path, j->edges_png, j->edges_len);
    snprintf(path, sizeof path, "%s/processed/img%03d_thumb.png", cfg.dir, it->i);
    return r < 0 ? r : write_file(path, j->thumb_png, j->thumb_len);
}

/* Step 3 on MPI ranks: the downloaded bytes go to a rank, the results come
 * back packed and land in j's shm outputs as with the process pool. */
static int process_remote(pipeline *p, img_job *j, const http_mem_sink *m) {
    cio_future *f = cio_run_in_executor_bytes(p->pool, imaging_process_bytes, m->buf, m->len,
                                              imaging_result_cap(m->buf, m->len));
    int r = f ? cio_await(f, NULL) : -errno;
    const void *out = NULL;
    size_t len = 0;
    if (r == 0)
        r = cio_future_bytes(f, &out, &len);
    if (r == 0)
        r = imaging_unpack(j, out, len);
    j->err = r;
    cio_future_unref(f);
    return r;
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
    unsigned char *src = r == 0 && !p->remote ? cio_shm_alloc(m.len) : NULL;
    if (r == 0 && p->remote) {
        r = process_remote(p, j, &m);
    } else if (r == 0 && !src) {
        r = -ENOMEM;
    } else if (r == 0) {
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
    cio_executor *pool = cfg.mpi ? cio_mpi_executor() : cio_process_pool_new(cfg.workers);
    if (!pool) {
        int e = -errno;
        if (cfg.mpi && e == -ENXIO)
            fprintf(stderr, "image_pipeline: no worker ranks (start it with: mpirun -np 3 "
                            "image_pipeline --executor mpi ...)\n");
        return cio_fail(e);
    }
    if (cfg.mpi)
        printf("image pipeline: %d pictures of %dx%d, %d MPI worker ranks, output in %s\n", cfg.n,
               cfg.w, cfg.h, cio_mpi_size() - 1, cfg.dir);
    else
        printf("image pipeline: %d pictures of %dx%d, %u worker processes, output in %s\n", cfg.n,
               cfg.w, cfg.h, cfg.workers, cfg.dir);
    int r = ensure_pictures(pool, cfg.mpi, served);
    http_server *srv = r == 0 ? http_serve_dir("127.0.0.1", 0, served, 0) : NULL;
    if (!srv) {
        r = r ? r : -errno;
        goto out;
    }
    pipeline seq = {.port = http_server_port(srv), .label = "sequential"};
    pipeline par = {.pool = pool,
                    .remote = cfg.mpi,
                    .port = seq.port,
                    .label = "pipelined",
                    .downloads = cio_semaphore_new(4)};
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
        if (cfg.mpi)
            printf("%-12s %8.2f %7.2fx   (%d MPI worker ranks, 4 downloads at once)\n", "pipelined",
                   tp, ts / tp, cio_mpi_size() - 1);
        else
            printf("%-12s %8.2f %7.2fx   (%u worker processes, 4 downloads at once)\n", "pipelined",
                   tp, ts / tp, cfg.workers);
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

static int is_executor(const char *name) {
    return strcmp(name, "process") == 0 || strcmp(name, "mpi") == 0;
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
        else if (v && strcmp(a, "--executor") == 0 && is_executor(v) && ++i)
            cfg.mpi = strcmp(v, "mpi") == 0;
        else {
            fprintf(stderr,
                    "usage: %s [-n IMAGES] [-W WIDTH] [-H HEIGHT] [-w WORKERS] [-d DIR] "
                    "[--check]\n          [--executor process|mpi]   (mpi: mpirun -np 3 %s "
                    "--executor mpi ...)\n       %s --watch FOLDER [--count N] [-d DIR]\n",
                    argv[0], argv[0], argv[0]);
            return 2;
        }
    }
    if (cfg.n < 1 || cfg.n > MAX_IMAGES || cfg.w < 16 || cfg.h < 16 || cfg.workers < 1) {
        fprintf(stderr, "need 1..%d images of at least 16x16 and 1 or more workers\n", MAX_IMAGES);
        return 2;
    }
    if (cfg.mpi && (watch_dir || !cio_mpi_main)) {
        fprintf(stderr, watch_dir ? "--executor mpi: not with --watch\n"
                                  : "--executor mpi: this image_pipeline was built without "
                                    "cio-mpi (install libopenmpi-dev and rebuild)\n");
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
    int r = cfg.mpi ? cio_mpi_main(&argc, &argv, main_task, NULL, NULL)
                    : cio_run(main_task, NULL, NULL);
    if (r < 0)
        fprintf(stderr, "image_pipeline: %s\n", cio_strerror(r));
    return r < 0;
}
