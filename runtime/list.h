/* One intrusive doubly-linked list for the whole runtime: the element embeds
 * a cio__list_node and the list keeps head, tail and a count, so linking and
 * unlinking are O(1) and allocate nothing. Not thread-safe: the owner's lock
 * or thread guards it. */
#ifndef CIO_LIST_H
#define CIO_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cio__list_node {
    struct cio__list_node *prev, *next;
} cio__list_node;

typedef struct cio__list {
    cio__list_node *head, *tail;
    size_t n;
} cio__list;

/* The element that embeds node as its member `member` (clang-format would
   take (node) for a cast). */
/* clang-format off */
#define cio__list_entry(node, type, member) \
    ((type *)(void *)((char *)(node) - offsetof(type, member)))
/* clang-format on */

/* Visits every node from the oldest; the body may unlink `it` (not `next`). */
#define cio__list_each(l, it, nx)                                                                  \
    for (cio__list_node *it = (l)->head, *nx = it ? it->next : NULL; it;                           \
         it = nx, nx = it ? it->next : NULL)

static inline bool cio__list_empty(const cio__list *l) {
    return l->head == NULL;
}

/* The two operations on any list shaped like this one (head/tail, elements
 * with prev/next): typed lists whose walkers follow element pointers (the
 * executors' jobs) use them too, so the logic is written once. */
#define cio__dlist_append(l, x)                                                                    \
    do {                                                                                           \
        (x)->next = NULL;                                                                          \
        (x)->prev = (l)->tail;                                                                     \
        if ((l)->tail)                                                                             \
            (l)->tail->next = (x);                                                                 \
        else                                                                                       \
            (l)->head = (x);                                                                       \
        (l)->tail = (x);                                                                           \
    } while (0)

#define cio__dlist_unlink(l, x)                                                                    \
    do {                                                                                           \
        if ((x)->prev)                                                                             \
            (x)->prev->next = (x)->next;                                                           \
        else                                                                                       \
            (l)->head = (x)->next;                                                                 \
        if ((x)->next)                                                                             \
            (x)->next->prev = (x)->prev;                                                           \
        else                                                                                       \
            (l)->tail = (x)->prev;                                                                 \
        (x)->prev = (x)->next = NULL;                                                              \
    } while (0)

static inline void cio__list_push_back(cio__list *l, cio__list_node *x) {
    cio__dlist_append(l, x);
    l->n++;
}

static inline void cio__list_push_front(cio__list *l, cio__list_node *x) {
    x->prev = NULL;
    x->next = l->head;
    if (l->head)
        l->head->prev = x;
    else
        l->tail = x;
    l->head = x;
    l->n++;
}

/* Unlinks x, which must be in l. */
static inline void cio__list_remove(cio__list *l, cio__list_node *x) {
    cio__dlist_unlink(l, x);
    l->n--;
}

/* Unlinks and returns the oldest node; NULL when l is empty. */
static inline cio__list_node *cio__list_pop_front(cio__list *l) {
    cio__list_node *x = l->head;
    if (x)
        cio__list_remove(l, x);
    return x;
}

/* Moves every node of from to the end of to, in order; from is left empty. */
static inline void cio__list_splice(cio__list *to, cio__list *from) {
    if (!from->head)
        return;
    from->head->prev = to->tail;
    if (to->tail)
        to->tail->next = from->head;
    else
        to->head = from->head;
    to->tail = from->tail;
    to->n += from->n;
    *from = (cio__list){0};
}

#endif
