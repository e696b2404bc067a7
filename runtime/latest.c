/* Latest-value channel (Tokio's watch): one slot that any thread may
 * overwrite, and waiters that want to hear about the newest value rather
 * than every value. A version number counts the sets, so a waiter that
 * remembers the version it saw never misses a change and never sees one
 * twice. */
#include "xwait.h"

#include "cio.h"

#include <errno.h>
#include <stdlib.h>

struct cio_latest {
    pthread_mutex_t mu;
    cio__xwaitq q;
    void *value;
    uint64_t version;
    bool closed;
};

cio_latest *cio_latest_new(void *initial) {
    cio_latest *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->value = initial;
    pthread_mutex_init(&w->mu, NULL);
    cio__xwaitq_init(&w->q, &w->mu);
    return w;
}

int cio_latest_set(cio_latest *w, void *value) {
    if (!w)
        return -EINVAL;
    pthread_mutex_lock(&w->mu);
    int r = CIO_ESHUTDOWN;
    if (!w->closed) {
        w->value = value;
        w->version++;
        cio__xwake_all(&w->q);
        r = 0;
    }
    pthread_mutex_unlock(&w->mu);
    return r;
}

void *cio_latest_get(cio_latest *w, uint64_t *version) {
    if (!w)
        return NULL;
    pthread_mutex_lock(&w->mu);
    void *v = w->value;
    if (version)
        *version = w->version;
    pthread_mutex_unlock(&w->mu);
    return v;
}

int cio_latest_changed(cio_latest *w, uint64_t *seen, void **value) {
    if (!w || !seen)
        return -EINVAL;
    pthread_mutex_lock(&w->mu);
    int r = 0;
    while (w->version == *seen && !w->closed && (r = cio__xwait(&w->q)) == 0)
        ;
    if (r == 0 && w->version == *seen)
        r = CIO_ESHUTDOWN;
    if (r == 0) {
        *seen = w->version;
        if (value)
            *value = w->value;
    }
    pthread_mutex_unlock(&w->mu);
    return r;
}

int cio_latest_close(cio_latest *w) {
    if (!w)
        return -EINVAL;
    pthread_mutex_lock(&w->mu);
    w->closed = true;
    cio__xwake_all(&w->q);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

void cio_latest_free(cio_latest *w) {
    if (!w)
        return;
    pthread_mutex_destroy(&w->mu);
    free(w);
}
