/* Name resolution, the one resolver of the runtime (cio_getaddrinfo, and
 * cio__resolve for streams and servers): getaddrinfo blocks (DNS,
 * /etc/hosts, NSS modules), so it runs in the loop's default executor, as
 * asyncio's loop.getaddrinfo does.
 * The job owns copies of its inputs and its result: a caller cancelled while
 * the thread is still resolving leaves, and the job cleans up after itself
 * when the thread is done with it. */
#include "stream.h"
#include "task.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gai_job {
    char *host, *service;
    struct addrinfo hints;
    bool has_hints;
    struct addrinfo *res;
    int err, sys_errno;
} gai_job;

static void *gai_run(void *arg) {
    gai_job *j = arg;
    errno = 0;
    j->err = getaddrinfo(j->host, j->service, j->has_hints ? &j->hints : NULL, &j->res);
    j->sys_errno = errno;
    return NULL;
}

static void gai_free(gai_job *j) {
    if (j->res)
        freeaddrinfo(j->res);
    free(j->host);
    free(j->service);
    free(j);
}

static void gai_orphaned(cio_future *f, void *arg) {
    (void)f;
    gai_free(arg);
}

static gai_job *gai_new(const char *host, const char *service, const struct addrinfo *hints) {
    gai_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    if ((host && !(j->host = strdup(host))) || (service && !(j->service = strdup(service)))) {
        gai_free(j);
        return NULL;
    }
    if (hints) {
        /* Only the fields getaddrinfo reads: the caller's pointers are not ours. */
        j->hints = (struct addrinfo){.ai_flags = hints->ai_flags,
                                     .ai_family = hints->ai_family,
                                     .ai_socktype = hints->ai_socktype,
                                     .ai_protocol = hints->ai_protocol};
        j->has_hints = true;
    }
    return j;
}

/* The one mapping of getaddrinfo's answers. EAI_SYSTEM means "look at
 * errno" -- the errno of the thread that ran the lookup, saved there; one
 * left at 0 still must not look like success. */
static int map_gai_error(int eai, int sys_errno) {
    if (eai == 0)
        return 0;
    if (eai == EAI_SYSTEM)
        return sys_errno > 0 ? -sys_errno : -EIO;
    if (eai == EAI_MEMORY)
        return -ENOMEM;
    return CIO_EGAI + eai;
}

static int job_error(const gai_job *j) {
    return map_gai_error(j->err, j->sys_errno);
}

/* The job stays alive until the thread has finished with it. */
static void gai_abandon(cio_future *f, gai_job *j) {
    if (cio_future_done(f) || cio_future_add_done_callback(f, gai_orphaned, j) < 0) {
        while (!cio_future_done(f)) /* no memory for a callback: wait it out */
            cio_await(f, NULL);
        gai_free(j);
    }
}

int cio_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
                    struct addrinfo **res) {
    if (!res)
        return -EINVAL;
    *res = NULL;
    int r = cio__task_require(__func__);
    if (r < 0)
        return r;
    if (!host && !service)
        return CIO_EGAI + EAI_NONAME; /* what getaddrinfo itself says, without a thread */
    gai_job *j = gai_new(host, service, hints);
    if (!j)
        return -ENOMEM;
    cio_future *f = cio_run_in_executor(NULL, gai_run, j);
    if (!f) {
        r = errno > 0 ? -errno : -ENOMEM;
        gai_free(j);
        return r;
    }
    /* Shielded: a cancelled caller returns at once while the job runs on. */
    cio_future *shield = cio_shield(f);
    r = shield ? cio_await(shield, NULL) : -ENOMEM;
    if (shield)
        cio_future_unref(shield);
    if (r == 0) {
        r = job_error(j);
        if (r == 0) {
            *res = j->res;
            j->res = NULL;
        }
        gai_free(j);
    } else {
        gai_abandon(f, j);
    }
    cio_future_unref(f);
    return r;
}

/* Streams and servers: a literal address (or none, passive) resolves here
 * without a thread; a name goes through cio_getaddrinfo, so both paths give
 * the same answers. */
int cio__resolve(const char *host, unsigned port, bool passive, struct addrinfo **res) {
    if (port > 65535)
        return -EINVAL;
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0),
                             .ai_family = (passive && !host) ? AF_INET : AF_UNSPEC};
    struct addrinfo numeric = hints;
    numeric.ai_flags |= AI_NUMERICHOST;
    *res = NULL;
    errno = 0;
    int e = getaddrinfo(host, service, &numeric, res);
    if (e == EAI_NONAME && host)
        return cio_getaddrinfo(host, service, &hints, res);
    int r = map_gai_error(e, errno);
    if (r < 0)
        *res = NULL;
    return r;
}
