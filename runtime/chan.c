/* MPSC channels between threads and a loop's tasks. Senders on any thread
 * (tasks of any loop or plain threads) push without a lock: a bounded
 * channel is a ring of sequence-numbered cells (Vyukov), an unbounded one a
 * linked list of nodes (mpsc.h). The one receiver pops without a lock too;
 * the mutex is taken only on the slow paths: a receiver that finds nothing
 * and parks, a sender that finds the ring full and parks, and the wake-ups
 * of either, which are announced through atomic flags checked after a full
 * fence on both sides (so neither side can miss the other). */
#include "xwait.h"

#include "cio.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

/* A cell's seq is 2 * pos while free for position pos and 2 * pos + 1 once
 * filled at pos (Vyukov's pos / pos + 1 cannot tell the two apart when the
 * capacity is 1). */
typedef struct cell {
    _Atomic size_t seq;
    void *item;
} cell;

/* TSan rejects atomic_thread_fence; a locked read-modify-write is a full
 * barrier on the hardware TSan runs on, and TSan checks the data accesses
 * (ordered by the cells' acquire/release), not the fences. */
#if defined(__SANITIZE_THREAD__)
static _Atomic int fence_word;
#define FULL_FENCE() atomic_fetch_add(&fence_word, 0)
#else
#define FULL_FENCE() atomic_thread_fence(memory_order_seq_cst)
#endif

typedef struct node {
    cio__mpsc_node n; /* first */
    void *item;
} node;

struct cio_chan {
    size_t cap; /* 0: unbounded */
    cell *ring;
    _Alignas(64) _Atomic size_t tail; /* producers' position in the ring */
    _Alignas(64) _Atomic size_t head; /* the receiver's (atomic only for cio_chan_len) */
    cio__mpsc list;
    _Atomic long count; /* unbounded: items queued (may dip below 0 for a moment) */
    _Atomic int closed;
    _Atomic int receiving;     /* a receiver is inside recv */
    _Atomic int rx_waiting;    /* the receiver is (about to be) parked */
    _Atomic size_t tx_waiting; /* senders parked on a full ring */
    pthread_mutex_t mu;
    cio__xwaitq rxq, txq;
    void (*drop)(void *item);
};

cio_chan *cio_chan_new(size_t capacity) {
    cio_chan *ch = calloc(1, sizeof *ch);
    if (!ch)
        return NULL;
    ch->cap = capacity;
    if (capacity) {
        ch->ring = malloc(capacity * sizeof *ch->ring);
        if (!ch->ring) {
            free(ch);
            return NULL;
        }
        for (size_t i = 0; i < capacity; i++)
            atomic_init(&ch->ring[i].seq, 2 * i);
    }
    cio__mpsc_init(&ch->list);
    pthread_mutex_init(&ch->mu, NULL);
    cio__xwaitq_init(&ch->rxq, &ch->mu);
    cio__xwaitq_init(&ch->txq, &ch->mu);
    return ch;
}

void cio_chan_set_drop(cio_chan *ch, void (*drop)(void *item)) {
    if (ch)
        ch->drop = drop;
}

/* ---- the lock-free halves ---- */

static int ring_push(cio_chan *ch, void *item) {
    size_t pos = atomic_load_explicit(&ch->tail, memory_order_relaxed);
    for (;;) {
        cell *c = &ch->ring[pos % ch->cap];
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)(2 * pos);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&ch->tail, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed)) {
                c->item = item;
                atomic_store_explicit(&c->seq, 2 * pos + 1, memory_order_release);
                return 0;
            }
        } else if (dif < 0) {
            return -EAGAIN;
        } else {
            pos = atomic_load_explicit(&ch->tail, memory_order_relaxed);
        }
    }
}

/* 1 and *item, 0 when empty, -EAGAIN while a sender is between its steps. */
static int ring_pop(cio_chan *ch, void **item) {
    size_t head = atomic_load_explicit(&ch->head, memory_order_relaxed);
    cell *c = &ch->ring[head % ch->cap];
    size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    if (seq != 2 * head + 1)
        return atomic_load(&ch->tail) == head ? 0 : -EAGAIN;
    *item = c->item;
    atomic_store_explicit(&ch->head, head + 1, memory_order_relaxed);
    atomic_store_explicit(&c->seq, 2 * (head + ch->cap), memory_order_release);
    return 1;
}

static int list_pop(cio_chan *ch, void **item) {
    node *n = (node *)cio__mpsc_pop(&ch->list);
    if (!n)
        return cio__mpsc_empty(&ch->list) ? 0 : -EAGAIN;
    *item = n->item;
    free(n);
    atomic_fetch_sub_explicit(&ch->count, 1, memory_order_relaxed);
    return 1;
}

/* ---- sending ---- */

/* Whether the receiver announced that it parks (and this caller must wake it). */
static bool receiver_parked(cio_chan *ch) {
    FULL_FENCE();
    return atomic_load(&ch->rx_waiting) && atomic_exchange(&ch->rx_waiting, 0);
}

static int push(cio_chan *ch, void *item) {
    if (atomic_load(&ch->closed))
        return CIO_ESHUTDOWN;
    if (ch->cap) {
        int r = ring_push(ch, item);
        if (r < 0)
            return r;
    } else {
        node *n = malloc(sizeof *n);
        if (!n)
            return -ENOMEM;
        n->item = item;
        atomic_fetch_add_explicit(&ch->count, 1, memory_order_relaxed);
        cio__mpsc_push(&ch->list, &n->n);
    }
    return 0;
}

int cio_chan_try_send(cio_chan *ch, void *item) {
    if (!ch)
        return -EINVAL;
    int r = push(ch, item);
    if (r == 0 && receiver_parked(ch)) {
        pthread_mutex_lock(&ch->mu);
        cio__xwake_one(&ch->rxq);
        pthread_mutex_unlock(&ch->mu);
    }
    return r;
}

int cio_chan_send(cio_chan *ch, void *item) {
    int r = cio_chan_try_send(ch, item);
    if (r != -EAGAIN)
        return r;
    pthread_mutex_lock(&ch->mu);
    atomic_fetch_add(&ch->tx_waiting, 1);
    for (;;) {
        FULL_FENCE();
        r = push(ch, item);
        if (r == 0 && receiver_parked(ch))
            cio__xwake_one(&ch->rxq);
        if (r != -EAGAIN)
            break;
        r = cio__xwait(&ch->txq);
        if (r < 0)
            break;
    }
    atomic_fetch_sub(&ch->tx_waiting, 1);
    pthread_mutex_unlock(&ch->mu);
    return r;
}

/* ---- receiving ---- */

static int pop(cio_chan *ch, void **item) {
    int r = ch->cap ? ring_pop(ch, item) : list_pop(ch, item);
    if (r <= 0)
        return r;
    if (ch->cap) { /* a slot is free: tell a parked sender */
        FULL_FENCE();
        if (atomic_load(&ch->tx_waiting)) {
            pthread_mutex_lock(&ch->mu);
            cio__xwake_one(&ch->txq);
            pthread_mutex_unlock(&ch->mu);
        }
    }
    return 1;
}

/* A sender between its two steps finishes in a moment: let it. */
static void let_sender_finish(void) {
    if (cio_current_task())
        cio_yield();
    else
        sched_yield();
}

static int try_recv(cio_chan *ch, void **item) {
    for (;;) {
        int r = pop(ch, item);
        if (r == 1)
            return 0;
        if (r == 0)
            return atomic_load(&ch->closed) ? CIO_ESHUTDOWN : -EAGAIN;
        let_sender_finish();
    }
}

static int enter(cio_chan *ch) {
    if (!ch)
        return -EINVAL;
    return atomic_exchange(&ch->receiving, 1) ? -EBUSY : 0;
}

int cio_chan_try_recv(cio_chan *ch, void **item) {
    int r = enter(ch);
    if (r < 0)
        return r;
    r = item ? try_recv(ch, item) : -EINVAL;
    atomic_store(&ch->receiving, 0);
    return r;
}

/* Parks until a sender (or close) wakes the receiver, unless something
 * arrived between the failed pop and the announcement. */
static int park_receiver(cio_chan *ch) {
    pthread_mutex_lock(&ch->mu);
    atomic_store(&ch->rx_waiting, 1);
    FULL_FENCE();
    int r = 0;
    bool empty =
        ch->cap ? atomic_load(&ch->tail) == atomic_load(&ch->head) : cio__mpsc_empty(&ch->list);
    if (empty && !atomic_load(&ch->closed))
        r = cio__xwait(&ch->rxq);
    atomic_store(&ch->rx_waiting, 0);
    pthread_mutex_unlock(&ch->mu);
    return r;
}

int cio_chan_recv(cio_chan *ch, void **item) {
    int r = enter(ch);
    if (r < 0)
        return r;
    if (!item)
        r = -EINVAL;
    else
        while ((r = try_recv(ch, item)) == -EAGAIN && (r = park_receiver(ch)) == 0)
            ;
    atomic_store(&ch->receiving, 0);
    return r;
}

/* ---- the rest ---- */

int cio_chan_close(cio_chan *ch) {
    if (!ch)
        return -EINVAL;
    if (atomic_exchange(&ch->closed, 1))
        return 0;
    pthread_mutex_lock(&ch->mu);
    cio__xwake_all(&ch->rxq);
    cio__xwake_all(&ch->txq);
    pthread_mutex_unlock(&ch->mu);
    return 0;
}

bool cio_chan_closed(const cio_chan *ch) {
    return ch && atomic_load(&((cio_chan *)ch)->closed);
}

size_t cio_chan_len(const cio_chan *ch) {
    if (!ch)
        return 0;
    cio_chan *c = (cio_chan *)ch;
    if (c->cap) { /* head first: tail can only have grown since */
        size_t head = atomic_load(&c->head), tail = atomic_load(&c->tail);
        return tail - head > c->cap ? c->cap : tail - head;
    }
    long n = atomic_load_explicit(&c->count, memory_order_relaxed);
    return n > 0 ? (size_t)n : 0;
}

size_t cio_chan_capacity(const cio_chan *ch) {
    return ch ? ch->cap : 0;
}

void cio_chan_free(cio_chan *ch) {
    if (!ch)
        return;
    cio_chan_close(ch);
    void *item;
    int r;
    while ((r = ch->cap ? ring_pop(ch, &item) : list_pop(ch, &item)) != 0)
        if (r == 1 && ch->drop)
            ch->drop(item);
    pthread_mutex_destroy(&ch->mu);
    free(ch->ring);
    free(ch);
}
