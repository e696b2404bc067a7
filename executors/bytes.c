/* Bytes jobs: the buffer (see bytes.h), cio_future_bytes, the helpers for
 * executors that implement submit_bytes, and cio_run_in_executor_bytes with
 * its default path through an executor's plain submit. */
#include "executor.h"
#include "bytes.h"
#include "future.h"
#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN16(n) (((n) + 15) & ~(size_t)15)

size_t cio__bytes_size(size_t out_cap, size_t in_len) {
    size_t max = SIZE_MAX / 4; /* far beyond any allocation: no overflow below */
    if (out_cap > max || in_len > max)
        return SIZE_MAX;
    return sizeof(cio__bytes) + ALIGN16(out_cap + sizeof(uint64_t)) + in_len;
}

static void *bytes_in(cio__bytes *b) {
    return (char *)cio__bytes_out(b) + ALIGN16(b->cap + sizeof(uint64_t));
}

static uint64_t *canary(cio__bytes *b) {
    return (uint64_t *)((char *)cio__bytes_out(b) + b->cap); /* maybe unaligned: memcpy only */
}

cio__bytes *cio__bytes_init(void *mem, size_t out_cap, const void *in, size_t in_len,
                            void (*release)(cio__bytes *b)) {
    cio__bytes *b = mem;
    *b = (cio__bytes){
        .magic = CIO__BYTES_MAGIC, .cap = out_cap, .in_len = in_len, .release = release};
    uint64_t c = CIO__BYTES_CANARY;
    memcpy(canary(b), &c, sizeof c);
    if (in_len)
        memcpy(bytes_in(b), in, in_len); /* the one copy the contract promises */
    return b;
}

ssize_t cio__bytes_run(cio_bytes_fn fn, cio__bytes *b) {
    return fn(bytes_in(b), b->in_len, cio__bytes_out(b), b->cap);
}

int cio__bytes_settle(cio__bytes *b, ssize_t n) {
    uint64_t c;
    memcpy(&c, canary(b), sizeof c);
    if (n < 0)
        return n < -INT32_MAX ? -EINVAL : (int)n;
    if ((size_t)n > b->cap || c != CIO__BYTES_CANARY)
        return CIO_EOUTCAP;
    b->len = (size_t)n;
    return 0;
}

/* The result destructor that marks a future as completed with bytes. */
static void bytes_dtor(void *out) {
    cio__bytes *b = (cio__bytes *)out - 1;
    b->release(b);
}

void cio__bytes_finish(cio_future *f, cio__bytes *b) {
    if (cio__future_finish(f, 0, cio__bytes_out(b)) < 0) {
        b->release(b); /* done already (cancelled): nobody will read it */
        return;
    }
    f->dtor = bytes_dtor;
}

int cio_future_bytes(cio_future *f, const void **data, size_t *len) {
    if (!f)
        return -EINVAL;
    void *out;
    int r = cio_future_result(f, &out);
    if (r < 0)
        return r;
    if (f->dtor != bytes_dtor)
        return -EINVAL;
    cio__bytes *b = (cio__bytes *)out - 1;
    if (data)
        *data = out;
    if (len)
        *len = b->len;
    return 0;
}

/* ---- buffers for other executors ---- */

static void heap_release(cio__bytes *b) {
    b->magic = 0;
    free(b);
}

cio__bytes *cio__bytes_new_heap(size_t out_cap, const void *in, size_t in_len) {
    size_t size = cio__bytes_size(out_cap, in_len);
    void *mem = size == SIZE_MAX ? NULL : malloc(size);
    return mem ? cio__bytes_init(mem, out_cap, in, in_len, heap_release) : NULL;
}

void *cio_bytes_alloc(size_t cap) {
    cio__bytes *b = cio__bytes_new_heap(cap, NULL, 0);
    if (!b) {
        errno = ENOMEM;
        return NULL;
    }
    return cio__bytes_out(b);
}

static cio__bytes *header_of(void *buf) {
    cio__bytes *b = buf ? (cio__bytes *)buf - 1 : NULL;
    return b && b->magic == CIO__BYTES_MAGIC ? b : NULL;
}

void cio_bytes_free(void *buf) {
    cio__bytes *b = header_of(buf);
    if (b)
        b->release(b);
}

int cio_future_set_bytes(cio_future *f, void *buf, size_t len) {
    cio__bytes *b = header_of(buf);
    if (!b)
        return -EINVAL;
    if (!f || cio_future_done(f) || len > b->cap) {
        b->release(b);
        return -EINVAL;
    }
    b->len = len;
    cio__bytes_finish(f, b);
    return 0;
}

/* ---- the default path: through ops->submit ----
 *
 * The job runs bytes_trampoline(b) on the executor. An executor may still
 * call a job whose future already ended (it was cancelled while queued, and
 * a simple executor never hears of it), or never call it at all: so the
 * trampoline first claims b in a registry of unclaimed buffers. Whichever
 * side comes second finds it gone: a job never claimed is freed by the loop
 * side once its future ended, and a late trampoline leaves it alone. A
 * claimed buffer is shared (two references) until both sides are done. */

#define BUCKETS 64

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct entry {
    struct entry *next;
    cio__bytes *b;
    cio_bytes_fn fn;
} * reg[BUCKETS];

static unsigned bucket(const cio__bytes *b) {
    return (unsigned)(((uintptr_t)b >> 4) % BUCKETS);
}

static int reg_add(cio__bytes *b, cio_bytes_fn fn) {
    struct entry *e = malloc(sizeof *e);
    if (!e)
        return -ENOMEM;
    pthread_mutex_lock(&reg_mu);
    *e = (struct entry){reg[bucket(b)], b, fn};
    reg[bucket(b)] = e;
    pthread_mutex_unlock(&reg_mu);
    return 0;
}

/* Takes b out of the registry: its job's function, or NULL if gone. */
static cio_bytes_fn reg_take(cio__bytes *b) {
    cio_bytes_fn fn = NULL;
    struct entry *gone = NULL;
    pthread_mutex_lock(&reg_mu);
    for (struct entry **e = &reg[bucket(b)]; *e; e = &(*e)->next)
        if ((*e)->b == b) {
            gone = *e;
            fn = gone->fn;
            *e = gone->next;
            break;
        }
    pthread_mutex_unlock(&reg_mu);
    free(gone);
    return fn;
}

static void shared_unref(cio__bytes *b) {
    if (atomic_fetch_sub(&b->refs, 1) == 1)
        heap_release(b);
}

static void shared_release(cio__bytes *b) {
    shared_unref(b);
}

static void *bytes_trampoline(void *arg) {
    cio__bytes *b = arg;
    cio_bytes_fn fn = reg_take(b);
    if (!fn)
        return NULL; /* its future ended before it started: b may be gone */
    ssize_t n = cio__bytes_run(fn, b);
    int err = cio__bytes_settle(b, n);
    shared_unref(b);
    /* b is still alive: the loop side holds its reference until it has seen
     * this job's future end. Error and success both travel in the result. */
    return (void *)(intptr_t)(err ? err : 1);
}

typedef struct relay {
    cio_future *outer, *inner;
    cio__bytes *b;
} relay;

static void relay_done(cio_future *inner, void *arg) {
    relay *r = arg;
    void *res = NULL;
    int err = cio_future_result(inner, &res);
    if (reg_take(r->b)) {   /* never claimed: taken now, it never runs */
        shared_unref(r->b); /* the job's reference */
        err = err ? err : -ECANCELED;
    } else if (err == 0) { /* see bytes_trampoline */
        err = (intptr_t)res == 1 ? 0 : (int)(intptr_t)res;
    }
    if (err == 0 && !cio_future_done(r->outer)) {
        cio__bytes_finish(r->outer, r->b); /* its destructor drops our reference */
    } else {
        if (!cio_future_done(r->outer))
            cio__future_finish(r->outer, err, NULL);
        shared_unref(r->b);
    }
    cio_future_unref(r->outer);
    cio_future_unref(inner);
    free(r);
}

static bool relay_cancel(cio_future *f, void *ctx) {
    relay *r = ctx;
    cio__future_finish(f, -ECANCELED, NULL);
    cio_cancel(r->inner); /* its end releases what the relay holds */
    return true;
}

static cio_future *submit_default(cio_executor *ex, cio_bytes_fn fn, const void *in, size_t in_len,
                                  size_t out_cap) {
    size_t size = cio__bytes_size(out_cap, in_len);
    void *mem = size == SIZE_MAX ? NULL : malloc(size);
    relay *r = mem ? malloc(sizeof *r) : NULL;
    cio_future *outer = r ? cio_future_new() : NULL;
    if (!outer || reg_add(mem, fn) < 0) {
        if (outer)
            cio_future_unref(outer);
        free(r);
        free(mem);
        errno = ENOMEM;
        return NULL;
    }
    cio__bytes *b = cio__bytes_init(mem, out_cap, in, in_len, shared_release);
    atomic_init(&b->refs, 2);
    cio_future *inner = ex->ops->submit(ex, bytes_trampoline, b);
    if (!inner || cio_future_add_done_callback(inner, relay_done, r) < 0) {
        int e = inner ? ENOMEM : errno;
        if (inner)
            cio_cancel(inner), cio_future_unref(inner);
        if (reg_take(b)) /* never ran: nobody else holds it */
            heap_release(b);
        else
            shared_unref(b);
        cio_future_unref(outer);
        free(r);
        errno = e;
        return NULL;
    }
    *r = (relay){.outer = outer, .inner = inner, .b = b};
    cio_future_ref(outer); /* the relay's */
    cio__future_set_cancel(outer, relay_cancel, r);
    return outer;
}

cio_future *cio_run_in_executor_bytes(cio_executor *ex, cio_bytes_fn fn, const void *in,
                                      size_t in_len, size_t out_cap) {
    cio_loop *loop = cio__loop_running();
    if (!loop || !fn || (!in && in_len)) {
        errno = loop ? EINVAL : EPERM;
        return NULL;
    }
    if (cio__bytes_size(out_cap, in_len) == SIZE_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    if (!ex && !(ex = cio__default_executor(loop)))
        return NULL;
    if (ex->ops->submit_bytes)
        return cio__job_future(ex->ops->submit_bytes(ex, fn, in, in_len, out_cap));
    return cio__job_future(submit_default(ex, fn, in, in_len, out_cap));
}
