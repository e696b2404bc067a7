/* TaskGroup: structured concurrency as asyncio 3.11+ builds it. The first
 * failure aborts the group (cancels the members) and cancels the parent so
 * that its body stops at its next suspension point; wait() later takes that
 * request back with uncancel(), so only cancellations from outside escape. */
#include "list.h"
#include "loop.h"
#include "task.h"
#include "vec.h"

#include "cio.h"

#include <errno.h>
#include <stdlib.h>

/* One per member; its done callback's argument. Recycled through the group. */
typedef struct member {
    cio__list_node link; /* in members, or in free_members */
    struct cio_task_group *g;
    cio_future *task;
} member;

struct cio_task_group {
    cio_future *parent;
    cio__list members, free_members;
    cio__task *waiter; /* the parent, parked in wait() */
    int first_error;   /* kept apart: the list may fail to grow */
    int *errors;
    size_t nerrors, cap_errors;
    bool exiting, aborting, finished, freed;
    bool parent_cancel_requested;
};

cio_task_group *cio_task_group_new(void) {
    int r = cio__task_require(__func__);
    if (r < 0) {
        errno = -r;
        return NULL;
    }
    cio_task_group *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->parent = cio_current_task();
    return g;
}

static void group_destroy(cio_task_group *g) {
    for (cio__list_node *x; (x = cio__list_pop_front(&g->free_members));)
        free(cio__list_entry(x, member, link));
    free(g->errors);
    free(g);
}

static void record_error(cio_task_group *g, int err) {
    if (!g->first_error)
        g->first_error = err;
    if (cio__vec_reserve(g->errors, &g->cap_errors, g->nerrors + 1, 4) == 0)
        g->errors[g->nerrors++] = err;
}

static void abort_members(cio_task_group *g) {
    g->aborting = true;
    cio__list_each(&g->members, it, next)
        cio_cancel(cio__list_entry(it, member, link)->task);
}

static void unlink_member(cio_task_group *g, member *m) {
    cio__list_remove(&g->members, &m->link);
    cio__list_push_front(&g->free_members, &m->link);
}

/* A member failed: stop the others, and interrupt the body if it is still
 * running (not yet in wait). */
static void on_failure(cio_task_group *g, int err) {
    record_error(g, err);
    if (g->aborting || g->freed)
        return;
    abort_members(g);
    if (!g->exiting && !cio_future_done(g->parent)) {
        g->parent_cancel_requested = true;
        cio_cancel(g->parent);
    }
}

static void member_done(cio_future *task, void *arg) {
    member *m = arg;
    cio_task_group *g = m->g;
    unlink_member(g, m);
    int err = cio_future_error(task);
    cio_future_unref(task);
    if (err && err != -ECANCELED)
        on_failure(g, err);
    if (g->members.n > 0)
        return;
    if (g->freed)
        group_destroy(g);
    else if (g->waiter)
        cio__task_wake(g->waiter, 0);
}

static member *member_get(cio_task_group *g) {
    cio__list_node *x = cio__list_pop_front(&g->free_members);
    return x ? cio__list_entry(x, member, link) : malloc(sizeof(member));
}

int cio_task_group_spawn(cio_task_group *g, cio_fn fn, void *arg, cio_future **task) {
    if (!g || !fn || g->freed)
        return -EINVAL;
    if (g->aborting || g->finished || (g->exiting && g->members.n == 0))
        return CIO_ESHUTDOWN;
    member *m = member_get(g);
    if (!m)
        return -ENOMEM;
    cio_future *t = cio_loop_create_task(cio_future_loop(g->parent), fn, arg);
    int r = t ? cio_future_add_done_callback(t, member_done, m) : -errno;
    if (r < 0) {
        cio_cancel(t); /* a member we cannot watch must not run */
        cio_future_unref(t);
        cio__list_push_front(&g->free_members, &m->link);
        return r;
    }
    *m = (member){.g = g, .task = t};
    cio__list_push_back(&g->members, &m->link);
    if (task) {
        cio_future_ref(t);
        *task = t;
    }
    return 0;
}

/* Parks until every member has ended; a cancellation of the parent from
 * outside aborts the group and is reported, after the members are gone. */
static bool wait_members(cio_task_group *g, cio__task *t) {
    bool outside_cancel = false;
    while (g->members.n > 0) {
        g->waiter = t;
        int r = cio__task_park(NULL, NULL);
        g->waiter = NULL;
        if (r == -ECANCELED && !g->aborting) {
            outside_cancel = true;
            abort_members(g);
        }
    }
    return outside_cancel;
}

int cio_task_group_wait(cio_task_group *g, int body_err) {
    if (!g || g->exiting || g->freed || g->parent != cio_current_task())
        return -EINVAL;
    g->exiting = true;
    bool propagate = body_err == -ECANCELED;
    if (body_err < 0 && !g->aborting)
        abort_members(g);
    propagate |= wait_members(g, (cio__task *)g->parent);
    if (g->parent_cancel_requested && cio_task_uncancel(g->parent) == 0)
        propagate = false; /* it was only ours */
    g->finished = true;
    if (body_err < 0 && body_err != -ECANCELED)
        record_error(g, body_err);
    if (g->first_error)
        return g->first_error;
    return propagate ? -ECANCELED : 0;
}

void cio_task_group_cancel(cio_task_group *g) {
    if (g && !g->freed)
        abort_members(g);
}

size_t cio_task_group_errors(const cio_task_group *g, int *errs, size_t cap) {
    if (!g)
        return 0;
    for (size_t i = 0; i < g->nerrors && i < cap; i++)
        errs[i] = g->errors[i];
    return g->nerrors;
}

void cio_task_group_free(cio_task_group *g) {
    if (!g)
        return;
    g->freed = true;
    if (g->members.n == 0) {
        group_destroy(g);
        return;
    }
    cio__list_each(&g->members, it, next)
        cio_cancel(cio__list_entry(it, member, link)->task);
}
