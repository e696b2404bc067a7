/* Broadcast channel (Tokio's broadcast): every receiver sees every value
 * sent after it subscribed, out of a ring of the last `capacity` values. A
 * sender never waits: a receiver that falls more than capacity behind loses
 * the oldest values and is told how many (lag), then goes on from the oldest
 * value still kept. Senders and receivers may be on any thread; the ring is
 * under one mutex (values are pointers, so the critical sections are a few
 * loads and stores). */
#include "xwait.h"

#include "cio.h"

#include <errno.h>
#include <stdlib.h>

struct cio_bcast {
    pthread_mutex_t mu;
    cio__xwaitq q;
    void **ring;
    size_t cap;
    uint64_t tail; /* values ever sent */
    size_t nrx;    /* receivers alive */
    bool closed, freed;
};

struct cio_bcast_rx {
    cio_bcast *b;
    uint64_t next;
};

cio_bcast *cio_bcast_new(size_t capacity) {
    if (!capacity) {
        errno = EINVAL;
        return NULL;
    }
    cio_bcast *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->ring = calloc(capacity, sizeof *b->ring);
    if (!b->ring) {
        free(b);
        return NULL;
    }
    b->cap = capacity;
    pthread_mutex_init(&b->mu, NULL);
    cio__xwaitq_init(&b->q, &b->mu);
    return b;
}

int cio_bcast_send(cio_bcast *b, void *item) {
    if (!b)
        return -EINVAL;
    pthread_mutex_lock(&b->mu);
    int r = CIO_ESHUTDOWN;
    if (!b->closed) {
        b->ring[b->tail++ % b->cap] = item;
        r = (int)(b->nrx > INT32_MAX ? INT32_MAX : b->nrx);
        cio__xwake_all(&b->q);
    }
    pthread_mutex_unlock(&b->mu);
    return r;
}

cio_bcast_rx *cio_bcast_subscribe(cio_bcast *b) {
    if (!b) {
        errno = EINVAL;
        return NULL;
    }
    cio_bcast_rx *rx = malloc(sizeof *rx);
    if (!rx)
        return NULL;
    pthread_mutex_lock(&b->mu);
    *rx = (cio_bcast_rx){.b = b, .next = b->tail};
    b->nrx++;
    pthread_mutex_unlock(&b->mu);
    return rx;
}

/* Under the mutex: 0 and *item, CIO_ELAGGED, CIO_ESHUTDOWN, or -EAGAIN. */
static int take(cio_bcast_rx *rx, void **item, uint64_t *lagged) {
    cio_bcast *b = rx->b;
    if (b->tail - rx->next > b->cap) {
        uint64_t oldest = b->tail - b->cap;
        if (lagged)
            *lagged = oldest - rx->next;
        rx->next = oldest;
        return CIO_ELAGGED;
    }
    if (rx->next < b->tail) {
        *item = b->ring[rx->next++ % b->cap];
        return 0;
    }
    return b->closed ? CIO_ESHUTDOWN : -EAGAIN;
}

int cio_bcast_try_recv(cio_bcast_rx *rx, void **item, uint64_t *lagged) {
    if (!rx || !item)
        return -EINVAL;
    pthread_mutex_lock(&rx->b->mu);
    int r = take(rx, item, lagged);
    pthread_mutex_unlock(&rx->b->mu);
    return r;
}

int cio_bcast_recv(cio_bcast_rx *rx, void **item, uint64_t *lagged) {
    if (!rx || !item)
        return -EINVAL;
    pthread_mutex_lock(&rx->b->mu);
    int r;
    while ((r = take(rx, item, lagged)) == -EAGAIN && (r = cio__xwait(&rx->b->q)) == 0)
        ;
    pthread_mutex_unlock(&rx->b->mu);
    return r;
}

static void destroy(cio_bcast *b) {
    pthread_mutex_destroy(&b->mu);
    free(b->ring);
    free(b);
}

void cio_bcast_rx_free(cio_bcast_rx *rx) {
    if (!rx)
        return;
    cio_bcast *b = rx->b;
    pthread_mutex_lock(&b->mu);
    bool last = --b->nrx == 0 && b->freed;
    pthread_mutex_unlock(&b->mu);
    free(rx);
    if (last)
        destroy(b);
}

int cio_bcast_close(cio_bcast *b) {
    if (!b)
        return -EINVAL;
    pthread_mutex_lock(&b->mu);
    b->closed = true;
    cio__xwake_all(&b->q);
    pthread_mutex_unlock(&b->mu);
    return 0;
}

void cio_bcast_free(cio_bcast *b) {
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->closed = b->freed = true;
    cio__xwake_all(&b->q);
    bool last = b->nrx == 0;
    pthread_mutex_unlock(&b->mu);
    if (last)
        destroy(b);
}
