#include "mpsc.h"

#include <stddef.h>

void cio__mpsc_init(cio__mpsc *q) {
    atomic_store_explicit(&q->sentinel.next, NULL, memory_order_relaxed);
    atomic_store_explicit(&q->head, &q->sentinel, memory_order_relaxed);
    q->tail = &q->sentinel;
}

void cio__mpsc_push(cio__mpsc *q, cio__mpsc_node *n) {
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    /* seq_cst: pairs with the loop's store to `sleeping` (see cio__loop_post). */
    cio__mpsc_node *prev = atomic_exchange(&q->head, n);
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

cio__mpsc_node *cio__mpsc_pop(cio__mpsc *q) {
    cio__mpsc_node *tail = q->tail;
    cio__mpsc_node *next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (tail == &q->sentinel) {
        if (!next)
            return NULL;
        q->tail = tail = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next) {
        q->tail = next;
        return tail;
    }
    /* tail is the last node: a producer may be between exchange and link. */
    if (tail != atomic_load(&q->head))
        return NULL;
    cio__mpsc_push(q, &q->sentinel);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (!next)
        return NULL;
    q->tail = next;
    return tail;
}

bool cio__mpsc_empty(cio__mpsc *q) {
    return q->tail == &q->sentinel && atomic_load(&q->head) == &q->sentinel;
}
