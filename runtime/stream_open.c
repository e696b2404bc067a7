/* Name resolution for streams and servers, and cio_open_connection.
 *
 * Literal addresses resolve on the spot. Names go to the default executor;
 * the job writes into memory of the waiting task, so the task waits for the
 * job to be over even when it is cancelled meanwhile (the cancellation is
 * then reported once the job is done), the same rule the loop follows for
 * kernel requests. */
#include "stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct gai_job {
    const char *host;
    const char *service;
    struct addrinfo hints;
    struct addrinfo *res;
    int err;
} gai_job;

static void *gai_run(void *arg) {
    gai_job *j = arg;
    j->err = getaddrinfo(j->host, j->service, &j->hints, &j->res);
    return NULL;
}

typedef struct job_wait {
    cio__task *task;
    bool over, cancelled;
} job_wait;

static void job_over(cio_future *f, void *arg) {
    (void)f;
    job_wait *w = arg;
    w->over = true;
    cio__task_wake(w->task, 0);
}

static void note_cancel(cio__task *t, void *ctx) {
    (void)t;
    ((job_wait *)ctx)->cancelled = true;
}

/* In a task: runs the lookup in the default executor and waits for it to be
 * over whatever happens (cancellations are noted, not obeyed, meanwhile). */
static int gai_in_executor(gai_job *j) {
    int r = cio__task_require("cio_open_connection");
    if (r < 0)
        return r;
    cio_future *f = cio_run_in_executor(NULL, gai_run, j);
    if (!f)
        return -errno;
    job_wait w = {.task = cio__task_current()};
    if (cio_future_add_done_callback(f, job_over, &w) == 0) {
        while (!w.over)
            if (cio__task_park(note_cancel, &w) == -ECANCELED)
                w.cancelled = true;
    }
    while (!cio_future_done(f)) /* out of memory for the callback: poll */
        if (cio_sleep(0.01) == -ECANCELED)
            w.cancelled = true;
    int err = cio_future_error(f);
    cio_future_unref(f);
    if (w.cancelled || err == -ECANCELED) {
        if (j->res)
            freeaddrinfo(j->res);
        j->res = NULL;
        return -ECANCELED;
    }
    return err;
}

int cio__resolve(const char *host, unsigned port, bool passive, struct addrinfo **res) {
    if (port > 65535)
        return -EINVAL;
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    gai_job j = {.host = host, .service = service};
    j.hints.ai_socktype = SOCK_STREAM;
    j.hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    j.hints.ai_family = (passive && !host) ? AF_INET : AF_UNSPEC;
    struct addrinfo numeric = j.hints;
    numeric.ai_flags |= AI_NUMERICHOST;
    int e = getaddrinfo(host, service, &numeric, &j.res);
    if (e == EAI_NONAME && host) {
        j.res = NULL;
        int r = gai_in_executor(&j);
        if (r < 0)
            return r;
        e = j.err;
    }
    if (e == EAI_SYSTEM)
        return errno ? -errno : -EIO;
    if (e)
        return CIO_EGAI + e;
    *res = j.res;
    return 0;
}

/* Tries each address in turn, as asyncio does; the last error wins. */
static int connect_any(struct addrinfo *ai) {
    int err = -EHOSTUNREACH;
    for (; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = -errno;
            continue;
        }
        err = cio_connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (err == 0)
            return fd;
        close(fd);
        if (err == -ECANCELED)
            break;
    }
    return err;
}

cio_stream *cio_open_connection(const char *host, unsigned port) {
    int r = cio__task_require(__func__);
    struct addrinfo *res = NULL;
    if (r == 0)
        r = cio__resolve(host, port, false, &res);
    if (r == 0) {
        r = connect_any(res);
        freeaddrinfo(res);
    }
    if (r < 0) {
        errno = -r;
        return NULL;
    }
    return cio__stream_adopt(r, false);
}
