/* Once-cell for the tasks of one loop (Tokio's OnceCell): the first caller
 * runs the initializer (which may suspend); callers that come meanwhile wait
 * for it. A failed or cancelled initialization leaves the cell empty and
 * hands the turn to the next waiter, so a value is set at most once and
 * nobody waits on an attempt that is over. */
#include "waitq.h"

#include "cio.h"

#include <errno.h>
#include <stdlib.h>

enum { TURN = 0, READY = 1 }; /* what a woken waiter is told */

struct cio_once {
    cio__waitq q;
    void *value;
    bool set, running;
};

cio_once *cio_once_new(void) {
    return calloc(1, sizeof(cio_once));
}

bool cio_once_get(const cio_once *o, void **value) {
    if (!o || !o->set)
        return false;
    if (value)
        *value = o->value;
    return true;
}

int cio_once_set(cio_once *o, void *value) {
    if (!o)
        return -EINVAL;
    if (o->set || o->running)
        return -EEXIST;
    o->value = value;
    o->set = true;
    return 0;
}

static int run_init(cio_once *o, int (*init)(void *arg, void **value), void *arg) {
    o->running = true;
    void *v = NULL;
    int r = init(arg, &v);
    o->running = false;
    if (r == 0) {
        o->value = v;
        o->set = true;
        cio__waitq_wake_all(&o->q, READY);
        return 0;
    }
    cio__waiter *w = cio__waitq_pop(&o->q);
    if (w) {
        o->running = true; /* the turn goes to w before anyone can barge in */
        cio__waitq_wake(w, TURN);
    }
    return r;
}

int cio_once_get_or_init(cio_once *o, int (*init)(void *arg, void **value), void *arg,
                         void **value) {
    if (!o || !init)
        return -EINVAL;
    if (!o->set) {
        int r;
        if (o->running) {
            if ((r = cio__waitq_require(__func__)) < 0)
                return r;
            cio__waiter w = {0};
            r = cio__waitq_wait(&o->q, &w);
            if (r < 0)
                return r;
            if (r == TURN && !o->set) {
                o->running = false;
                r = run_init(o, init, arg);
            }
        } else {
            r = run_init(o, init, arg);
        }
        if (r < 0)
            return r;
    }
    if (value)
        *value = o->value;
    return 0;
}

void cio_once_free(cio_once *o) {
    if (!o)
        return;
    cio__waitq_wake_all(&o->q, CIO_ESHUTDOWN);
    free(o);
}
