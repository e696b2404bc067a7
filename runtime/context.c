/* Task-local context (asyncio's contextvars). A context is a small array of
 * (key, value) pairs with a reference count: a new task shares its
 * creator's array (one reference more, nothing copied), and a set copies
 * it first unless the setter holds the only reference (copy on write). So
 * a task created with an empty context stores NULL and costs nothing, and
 * a context is never written while another task or thread can read it. */
#include "context.h"

#include "task.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct cio__ctx_entry {
    const cio_context_key *key;
    void *value;
} cio__ctx_entry;

struct cio__ctx {
    _Atomic unsigned refs;
    unsigned n, cap;
    cio__ctx_entry e[];
};

static cio__ctx *ctx_ref(cio__ctx *c) {
    if (c)
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

cio__ctx *cio__context_ref(cio__ctx *c) {
    return ctx_ref(c);
}

void cio__context_release(cio__ctx *c) {
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        free(c);
}

/* Outside a task (a loop callback, main before cio_run, a plain thread, an
 * executor job) the calling thread's own context is the current one. */
static __thread cio__ctx *thread_ctx;

/* A plain thread that set a value drops its context when it exits. */
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void thread_exit(void *unused) {
    (void)unused;
    cio__context_drop(&thread_ctx);
}

static void make_exit_key(void) {
    if (pthread_key_create(&exit_key, thread_exit) != 0)
        exit_key = (pthread_key_t)-1;
}

static void watch_thread_exit(void) {
    pthread_once(&exit_once, make_exit_key);
    if (exit_key != (pthread_key_t)-1 && !pthread_getspecific(exit_key))
        pthread_setspecific(exit_key, &thread_ctx);
}

static cio__ctx **current_slot(void) {
    cio__task *t = cio__task_current();
    return t ? &t->ctx : &thread_ctx;
}

cio__ctx *cio__context_inherit(void) {
    return ctx_ref(*current_slot());
}

static cio__ctx_entry *find(cio__ctx *c, const cio_context_key *key) {
    if (c)
        for (unsigned i = 0; i < c->n; i++)
            if (c->e[i].key == key)
                return &c->e[i];
    return NULL;
}

void *cio_context_get(const cio_context_key *key) {
    cio__ctx_entry *e = find(*current_slot(), key);
    return e ? e->value : NULL;
}

/* A private copy of c with room for one more entry. */
static cio__ctx *ctx_copy(const cio__ctx *c) {
    unsigned n = c ? c->n : 0, cap = n < 4 ? 4 : n + n / 2 + 1;
    cio__ctx *x = malloc(sizeof *x + cap * sizeof x->e[0]);
    if (!x)
        return NULL;
    atomic_init(&x->refs, 1);
    x->n = n;
    x->cap = cap;
    if (n)
        memcpy(x->e, c->e, n * sizeof x->e[0]);
    return x;
}

/* Makes *slot writable by this setter alone, with room for one more entry. */
static int make_private(cio__ctx **slot) {
    cio__ctx *c = *slot;
    bool alone = c && atomic_load_explicit(&c->refs, memory_order_acquire) == 1;
    if (alone && c->n < c->cap)
        return 0;
    cio__ctx *x = ctx_copy(c);
    if (!x)
        return -ENOMEM;
    cio__context_drop(slot);
    *slot = x;
    return 0;
}

static void remove_entry(cio__ctx **slot, cio__ctx_entry *e) {
    cio__ctx *c = *slot;
    *e = c->e[--c->n];
    if (!c->n)
        cio__context_drop(slot); /* empty again: children cost nothing */
}

int cio_context_set(const cio_context_key *key, void *value, void **old) {
    if (!key)
        return -EINVAL;
    cio__ctx **slot = current_slot();
    cio__ctx_entry *e = find(*slot, key);
    if (old)
        *old = e ? e->value : NULL;
    if (!e && !value)
        return 0;
    if (e && e->value == value)
        return 0;
    int r = make_private(slot);
    if (r < 0)
        return r;
    if (slot == &thread_ctx)
        watch_thread_exit();
    e = find(*slot, key);
    if (!value)
        remove_entry(slot, e);
    else if (e)
        e->value = value;
    else
        (*slot)->e[(*slot)->n++] = (cio__ctx_entry){key, value};
    return 0;
}

/* ---- executor jobs on threads ---- */

enum { JOB_NEW, JOB_STARTED, JOB_DROPPED };

struct cio__ctx_job {
    cio_fn fn;
    void *arg;
    cio__ctx *ctx;
    _Atomic int state;
    _Atomic int refs;          /* the run's and the future's */
    struct cio__ctx_job *next; /* in limbo */
};

cio__ctx_job *cio__context_job_new(cio_fn fn, void *arg) {
    cio__ctx *c = *current_slot();
    errno = 0;
    if (!c)
        return NULL;
    cio__ctx_job *j = malloc(sizeof *j);
    if (!j) {
        errno = ENOMEM;
        return NULL;
    }
    *j = (cio__ctx_job){.fn = fn, .arg = arg, .ctx = ctx_ref(c)};
    atomic_init(&j->state, JOB_NEW);
    atomic_init(&j->refs, 2);
    return j;
}

static void job_unref(cio__ctx_job *j) {
    if (atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) == 1) {
        cio__context_drop(&j->ctx);
        free(j);
    }
}

/* On the worker thread: the job sees the submitter's context; what it sets
 * stays its own, and the thread's context is back to what it was after. */
void *cio__context_job_run(void *carry) {
    cio__ctx_job *j = carry;
    int expect = JOB_NEW;
    atomic_compare_exchange_strong(&j->state, &expect, JOB_STARTED);
    cio__ctx *saved = thread_ctx;
    thread_ctx = ctx_ref(j->ctx);
    void *r = j->fn(j->arg);
    cio__context_drop(&thread_ctx);
    thread_ctx = saved;
    job_unref(j);
    return r;
}

cio_fn cio__context_job_fn(cio_fn fn, void *arg) {
    return fn == cio__context_job_run ? ((cio__ctx_job *)arg)->fn : fn;
}

/* Jobs whose loop closed before they started: the pool may still run them
 * (a worker had taken one as the loop closed), so they are kept here for
 * good, reachable, never freed: only jobs in flight as their loop closes. */
static _Atomic(cio__ctx_job *) limbo;

/* When the job's future goes while its loop is open, its pool is done with
 * the job (a thread pool holds a reference to the future until then): a
 * job that never started (cancelled in the queue) never will, so both
 * references go. */
void cio__context_job_release(void *carry, bool loop_closed) {
    cio__ctx_job *j = carry;
    if (loop_closed && atomic_load(&j->state) == JOB_NEW) {
        j->next = atomic_load(&limbo);
        while (!atomic_compare_exchange_weak(&limbo, &j->next, j))
            ;
        return;
    }
    int expect = JOB_NEW;
    if (atomic_compare_exchange_strong(&j->state, &expect, JOB_DROPPED))
        job_unref(j);
    job_unref(j);
}
