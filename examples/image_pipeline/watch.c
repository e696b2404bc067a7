/* The pipeline's watch mode: processes images as they land in a folder.
 * A task reads the folder's records (cio_watch); each image that is
 * complete (closed after writing, or renamed into the folder) goes through
 * the process pool like the downloaded ones, at most 2 per worker at once.
 * When the kernel reports an overflow, records were lost: the folder is
 * listed again (cio_scandir) and whatever was not seen yet is processed. */
#include "watch.h"

#include "imaging.h"

#include <cio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>

typedef struct watcher {
    const char *in, *out;
    cio_executor *pool;
    cio_semaphore *slots;
    char **seen;
    size_t nseen, cap;
    int done, failed, count;
    cio_event *finished;
} watcher;

static bool is_image(const char *name) {
    const char *dot = name ? strrchr(name, '.') : NULL;
    return dot && (!strcmp(dot, ".png") || !strcmp(dot, ".jpg") || !strcmp(dot, ".jpeg"));
}

/* Each name is processed once (an overflow rescan sees old ones again). */
static bool first_time(watcher *w, const char *name) {
    for (size_t i = 0; i < w->nseen; i++)
        if (!strcmp(w->seen[i], name))
            return false;
    if (w->nseen == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        char **s = realloc(w->seen, cap * sizeof *s);
        if (!s)
            return false;
        w->seen = s;
        w->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return false;
    w->seen[w->nseen++] = copy;
    return true;
}

static int write_out(const char *path, const void *data, size_t len) {
    int fd = cio_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return fd;
    ssize_t n = cio_write_all(fd, data, len, 0);
    int c = cio_close(fd);
    return n < 0 ? (int)n : (size_t)n < len ? -EIO : c;
}

static int process(watcher *w, const char *name) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", w->in, name);
    void *data;
    ssize_t len = cio_read_file(path, &data);
    if (len < 0)
        return (int)len;
    img_job *j = cio_shm_alloc(sizeof *j);
    unsigned char *src = j ? cio_shm_alloc((size_t)len ? (size_t)len : 1) : NULL;
    int r = src ? 0 : -ENOMEM;
    if (r == 0) {
        memcpy(src, data, (size_t)len);
        *j = (img_job){.src = src, .src_len = (size_t)len};
        void *v = NULL;
        cio_future *f = cio_run_in_executor(w->pool, imaging_process, j);
        r = f ? cio_await(f, &v) : -errno;
        cio_future_unref(f);
        r = r ? r : (int)(intptr_t)v;
    }
    if (r == 0) {
        snprintf(path, sizeof path, "%s/processed/%s_edges.png", w->out, name);
        r = write_out(path, j->edges_png, j->edges_len);
        snprintf(path, sizeof path, "%s/processed/%s_thumb.png", w->out, name);
        r = r ? r : write_out(path, j->thumb_png, j->thumb_len);
    }
    if (r == 0)
        printf("  %s: %dx%d, edges and thumbnail written\n", name, j->w, j->h);
    if (j) {
        imaging_release(j);
        cio_shm_free(j);
    }
    cio_shm_free(src);
    free(data);
    return r;
}

typedef struct one {
    watcher *w;
    char *name;
} one;

static void *process_task(void *arg) {
    one *o = arg;
    watcher *w = o->w;
    int r = cio_semaphore_acquire(w->slots);
    if (r == 0) {
        r = process(w, o->name);
        cio_semaphore_release(w->slots);
    }
    if (r < 0) {
        w->failed++;
        fprintf(stderr, "  %s: %s\n", o->name, cio_strerror(r));
    }
    if (++w->done == w->count)
        cio_event_set(w->finished);
    free(o->name);
    free(o);
    return NULL;
}

static void start(watcher *w, const char *name) {
    if (!is_image(name) || !first_time(w, name))
        return;
    one *o = malloc(sizeof *o);
    char *copy = strdup(name);
    cio_future *t = o && copy ? cio_create_task(process_task, o) : NULL;
    if (!t) {
        free(o);
        free(copy);
        w->failed++;
        w->done++;
        return;
    }
    *o = (one){w, copy};
    cio_future_unref(t); /* it runs on; `finished` says when enough are done */
}

static void rescan(watcher *w) {
    cio_dirent *e;
    size_t n;
    if (cio_scandir(w->in, &e, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (e[i].type == DT_REG)
            start(w, e[i].name);
    cio_scandir_free(e, n);
}

static void *read_records(void *arg) {
    watcher *w = arg;
    cio_watch *cw = cio_watch_new(w->in, CIO_WATCH_CLOSE_WRITE | CIO_WATCH_MOVE);
    if (!cw)
        return cio_fail(-errno);
    printf("watching %s: drop PNG or JPEG files into it (Ctrl-C ends)\n", w->in);
    rescan(w); /* what is there already */
    cio_watch_event ev;
    int r;
    while ((r = cio_watch_next(cw, &ev)) == 0) {
        if (ev.kind == CIO_WATCH_OVERFLOW)
            rescan(w);
        else if (ev.name && (ev.kind == CIO_WATCH_CLOSE_WRITE || ev.kind == CIO_WATCH_MOVE))
            start(w, ev.name);
    }
    cio_watch_free(cw);
    return r == -ECANCELED || r == CIO_ESHUTDOWN ? NULL : cio_fail(r);
}

static void *watch_main(void *arg) {
    watcher *w = arg;
    w->pool = cio_process_pool_new(0);
    w->slots = cio_semaphore_new(4);
    w->finished = cio_event_new();
    if (!w->pool || !w->slots || !w->finished)
        return cio_fail(-ENOMEM);
    cio_future *reader = cio_create_task(read_records, w);
    /* Until `count` images are done (never when count is 0), or the reader ends. */
    cio_future *waits[1] = {reader};
    while (!cio_future_done(reader) && !cio_event_is_set(w->finished))
        if (cio_wait(waits, 1, 0.2, CIO_FIRST_COMPLETED) < 0)
            break;
    cio_cancel(reader);
    int r = cio_await(reader, NULL);
    cio_future_unref(reader);
    while (w->done < (int)w->nseen) /* the images started are finished */
        cio_sleep(0.05);
    cio_executor_shutdown(w->pool, true, false);
    cio_executor_free(w->pool);
    cio_semaphore_free(w->slots);
    cio_event_free(w->finished);
    return r < 0 && r != -ECANCELED ? cio_fail(r) : NULL;
}

int image_watch(const char *in, const char *out, int count) {
    watcher w = {.in = in, .out = out, .count = count};
    int r = cio_run(watch_main, &w, NULL);
    printf("%d image(s) processed, %d failed\n", w.done - w.failed, w.failed);
    for (size_t i = 0; i < w.nseen; i++)
        free(w.seen[i]);
    free(w.seen);
    return r < 0 ? r : w.failed ? -EIO : 0;
}
