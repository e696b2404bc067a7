/* Queues: FIFO (a ring), LIFO (a stack) and priority (a binary heap) of
 * void * items, with asyncio.Queue's waiting, task_done/join and 3.13
 * shutdown. Invariants that make hand-offs safe: getters wait only while
 * the queue is empty and putters only while it is full, so a put with a
 * waiting getter gives the item to that getter directly, and a get that
 * frees a slot fills it at once with the oldest putter's item. */
#include "waitq.h"

#include "cio.h"

#include <errno.h>
#include <stdlib.h>

enum { Q_FIFO, Q_LIFO, Q_PRIO };

struct cio_queue {
    void **items;
    size_t cap, head, len; /* FIFO: ring from head; LIFO/PRIO: items[0..len) */
    size_t maxsize;
    int kind;
    int (*cmp)(const void *, const void *);
    void (*drop)(void *);
    cio__waitq getters, putters, joiners;
    size_t unfinished;
    bool shutdown;
};

static cio_queue *queue_new(size_t maxsize, int kind, int (*cmp)(const void *, const void *)) {
    cio_queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->maxsize = maxsize;
    q->kind = kind;
    q->cmp = cmp;
    return q;
}

cio_queue *cio_queue_new(size_t maxsize) {
    return queue_new(maxsize, Q_FIFO, NULL);
}

cio_queue *cio_queue_new_lifo(size_t maxsize) {
    return queue_new(maxsize, Q_LIFO, NULL);
}

cio_queue *cio_queue_new_priority(size_t maxsize, int (*cmp)(const void *a, const void *b)) {
    if (!cmp) {
        errno = EINVAL;
        return NULL;
    }
    return queue_new(maxsize, Q_PRIO, cmp);
}

void cio_queue_set_drop(cio_queue *q, void (*drop)(void *item)) {
    if (q)
        q->drop = drop;
}

/* ---- storage ---- */

static int grow(cio_queue *q) {
    size_t cap = q->cap ? q->cap * 2 : 16;
    void **items = malloc(cap * sizeof *items);
    if (!items)
        return -ENOMEM;
    for (size_t i = 0; i < q->len; i++) /* unwraps the ring */
        items[i] = q->items[(q->head + i) % q->cap];
    free(q->items);
    q->items = items;
    q->cap = cap;
    q->head = 0;
    return 0;
}

static void swap(void **a, void **b) {
    void *t = *a;
    *a = *b;
    *b = t;
}

static void heap_up(cio_queue *q, size_t i) {
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (q->cmp(q->items[i], q->items[parent]) >= 0)
            break;
        swap(&q->items[i], &q->items[parent]);
        i = parent;
    }
}

static void heap_down(cio_queue *q, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < q->len && q->cmp(q->items[l], q->items[m]) < 0)
            m = l;
        if (r < q->len && q->cmp(q->items[r], q->items[m]) < 0)
            m = r;
        if (m == i)
            return;
        swap(&q->items[i], &q->items[m]);
        i = m;
    }
}

static int store(cio_queue *q, void *item) {
    if (q->len == q->cap && grow(q) < 0)
        return -ENOMEM;
    if (q->kind == Q_FIFO) {
        q->items[(q->head + q->len++) % q->cap] = item;
        return 0;
    }
    q->items[q->len++] = item;
    if (q->kind == Q_PRIO)
        heap_up(q, q->len - 1);
    return 0;
}

static void *take(cio_queue *q) {
    void *item;
    if (q->kind == Q_FIFO) {
        item = q->items[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
    } else if (q->kind == Q_LIFO) {
        item = q->items[--q->len];
    } else {
        item = q->items[0];
        q->items[0] = q->items[--q->len];
        heap_down(q, 0);
    }
    return item;
}

static bool is_full(const cio_queue *q) {
    return q->maxsize && q->len >= q->maxsize;
}

/* ---- put / get ---- */

int cio_queue_put_nowait(cio_queue *q, void *item) {
    if (!q)
        return -EINVAL;
    if (q->shutdown)
        return CIO_ESHUTDOWN;
    cio__waiter *w = cio__waitq_pop(&q->getters);
    if (w) {
        w->item = item;
        q->unfinished++;
        cio__waitq_wake(w, 0);
        return 0;
    }
    if (is_full(q))
        return -EAGAIN;
    int r = store(q, item);
    if (r == 0)
        q->unfinished++;
    return r;
}

int cio_queue_put(cio_queue *q, void *item) {
    int r = cio_queue_put_nowait(q, item);
    if (r != -EAGAIN)
        return r;
    r = cio__waitq_require(__func__);
    if (r < 0)
        return r;
    cio__waiter w = {.item = item};
    return cio__waitq_wait(&q->putters, &w); /* 0: a getter queued the item */
}

/* A slot was freed: it belongs to the oldest putter. */
static void admit_putter(cio_queue *q) {
    if (!cio__waitq_len(&q->putters) || is_full(q))
        return;
    cio__waiter *w = cio__waitq_pop(&q->putters);
    /* The slot just freed means store cannot need memory. */
    store(q, w->item);
    q->unfinished++;
    cio__waitq_wake(w, 0);
}

int cio_queue_get_nowait(cio_queue *q, void **item) {
    if (!q)
        return -EINVAL;
    if (q->len == 0)
        return q->shutdown ? CIO_ESHUTDOWN : -EAGAIN;
    void *it = take(q);
    if (item)
        *item = it;
    admit_putter(q);
    return 0;
}

int cio_queue_get(cio_queue *q, void **item) {
    int r = cio_queue_get_nowait(q, item);
    if (r != -EAGAIN)
        return r;
    r = cio__waitq_require(__func__);
    if (r < 0)
        return r;
    cio__waiter w = {0};
    r = cio__waitq_wait(&q->getters, &w);
    if (r == 0 && item)
        *item = w.item;
    return r;
}

/* ---- task_done / join ---- */

int cio_queue_task_done(cio_queue *q) {
    if (!q)
        return -EINVAL;
    if (q->unfinished == 0)
        return -EINVAL;
    if (--q->unfinished == 0)
        cio__waitq_wake_all(&q->joiners, 0);
    return 0;
}

int cio_queue_join(cio_queue *q) {
    if (!q)
        return -EINVAL;
    if (q->unfinished == 0)
        return 0;
    int r = cio__waitq_require(__func__);
    if (r < 0)
        return r;
    cio__waiter w = {0};
    return cio__waitq_wait(&q->joiners, &w);
}

/* ---- shutdown and teardown ---- */

static void discard_items(cio_queue *q) {
    while (q->len) {
        void *it = take(q);
        if (q->drop)
            q->drop(it);
        if (q->unfinished)
            q->unfinished--;
    }
}

void cio_queue_shutdown(cio_queue *q, bool immediate) {
    if (!q)
        return;
    q->shutdown = true;
    if (immediate) {
        discard_items(q);
        if (q->unfinished == 0)
            cio__waitq_wake_all(&q->joiners, 0);
    }
    cio__waitq_wake_all(&q->getters, CIO_ESHUTDOWN);
    cio__waitq_wake_all(&q->putters, CIO_ESHUTDOWN);
}

size_t cio_queue_size(const cio_queue *q) {
    return q ? q->len : 0;
}

size_t cio_queue_maxsize(const cio_queue *q) {
    return q ? q->maxsize : 0;
}

bool cio_queue_empty(const cio_queue *q) {
    return !q || q->len == 0;
}

bool cio_queue_full(const cio_queue *q) {
    return q && is_full(q);
}

void cio_queue_free(cio_queue *q) {
    if (!q)
        return;
    discard_items(q);
    cio__waitq_wake_all(&q->getters, CIO_ESHUTDOWN);
    cio__waitq_wake_all(&q->putters, CIO_ESHUTDOWN);
    cio__waitq_wake_all(&q->joiners, CIO_ESHUTDOWN);
    free(q->items);
    free(q);
}
