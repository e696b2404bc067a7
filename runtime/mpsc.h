/* Lock-free multi-producer single-consumer queue (intrusive, Vyukov-style).
 * Producers on any thread push; only the loop thread pops. Push is one atomic
 * exchange and never blocks, so it is usable from signal handlers too. */
#ifndef CIO_MPSC_H
#define CIO_MPSC_H

#include <stdatomic.h>
#include <stdbool.h>

typedef struct cio__mpsc_node {
    _Atomic(struct cio__mpsc_node *) next;
    /* Runs on the loop thread once the node is popped. May free the node. */
    void (*fn)(struct cio__mpsc_node *n);
} cio__mpsc_node;

typedef struct cio__mpsc {
    _Atomic(cio__mpsc_node *) head; /* producers' end */
    cio__mpsc_node *tail;           /* consumer's end */
    cio__mpsc_node sentinel;
} cio__mpsc;

void cio__mpsc_init(cio__mpsc *q);
/* Any thread. */
void cio__mpsc_push(cio__mpsc *q, cio__mpsc_node *n);
/* Consumer only. NULL when empty, or while a producer is between its two
 * steps (then cio__mpsc_empty() is false: poll again soon). */
cio__mpsc_node *cio__mpsc_pop(cio__mpsc *q);
/* Consumer only. */
bool cio__mpsc_empty(cio__mpsc *q);

#endif
