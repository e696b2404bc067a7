/* The process pool. Beyond concurrent.futures.ProcessPoolExecutor:
 *   - a worker that dies during a job fails that job only (CIO_EWORKER); the
 *     worker is replaced, the queue goes on, the pool never turns "broken";
 *   - a running job can be cancelled: its worker is killed and replaced;
 *   - arguments and results are scalars or pointers into cio shared memory,
 *     never pickled.
 * This file is the loop's side (submit, cancel, completions) and the pool's
 * lifetime; process_pool_io.c is the I/O thread between the loop and the
 * workers, fork_server.c the processes. A job's slot in shared memory says
 * what really happened when a worker dies: finished, running, or never
 * started (then it is simply queued again). */
#include "bytes.h"
#include "debug.h"
#include "process_pool.h"
#include "shm.h"
#include "task.h"
#include "wait_thread.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

void cio__pp_unref(pp_pool *p) {
    if (atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    while (p->free_slots) {
        pp_slot *s = p->free_slots;
        p->free_slots = s->owner;
        cio_shm_free(s);
    }
    pthread_mutex_destroy(&p->mu);
    close(p->wake);
    free(p);
}

void cio__pp_poke(pp_pool *p) {
    uint64_t one = 1;
    if (write(p->wake, &one, sizeof one) < 0)
        return; /* the counter is saturated: it is awake anyway */
}

/* ---- the loop side ---- */

static pp_slot *slot_get(pp_pool *p) {
    pp_slot *s = p->free_slots;
    if (!s)
        return cio_shm_alloc(sizeof *s);
    p->free_slots = s->owner;
    return s;
}

static void slot_put(pp_pool *p, pp_slot *s) {
    s->owner = p->free_slots; /* the free list links through owner */
    p->free_slots = s;
}

static void job_release(pp_job *j) {
    pp_pool *p = j->pool;
    cio_loop *loop = j->loop;
    if (j->fut) /* pending only if its loop closed: a late cancel must not find j */
        cio__future_set_cancel(j->fut, NULL, NULL);
    cio_future_unref(j->fut);
    slot_put(p, j->slot);
    if (j->bytes)
        j->bytes->release(j->bytes);
    free(j);
    cio__loop_unref(loop);
    cio__pp_unref(p);
}

static void job_done(cio__mpsc_node *n) {
    pp_job *j = (pp_job *)n;
    if (!j->cancelled && !j->err)
        j->err = j->slot->err; /* the job's cio_fail */
    if (!j->cancelled && !j->err && j->bytes)
        j->err = cio__bytes_settle(j->bytes, (ssize_t)(intptr_t)j->slot->result);
    if (!j->cancelled && !j->err && j->bytes) {
        cio__bytes_finish(j->fut, j->bytes); /* the payload stays in cio_shm, in place */
        j->bytes = NULL;
    } else if (!j->cancelled) {
        cio__future_finish(j->fut, j->err, j->err ? NULL : j->slot->result);
    }
    job_release(j);
}

/* The job is at a worker: a slot not started yet is skipped by it, a
 * running one is stopped by killing its worker (the I/O thread hands the
 * job back when it sees the death). */
static void stop_at_worker(pp_job *j) {
    pp_pool *p = j->pool;
    int queued = SLOT_QUEUED;
    pp_worker *w = j->worker; /* cleared once the job is handed back */
    if (!atomic_compare_exchange_strong(&j->slot->state, &queued, SLOT_CANCELLED) &&
        atomic_load(&j->slot->state) == SLOT_RUNNING && w && w->fd >= 0) {
        if (w->pidfd >= 0) /* ESRCH: gone already, and its pid may be someone else's */
            syscall(SYS_pidfd_send_signal, w->pidfd, SIGKILL, NULL, 0);
        else if (p->ctl >= 0) /* no pidfd: the server knows whether pid is still its child */
            cio__fork_server_kill(p->ctl, w->pid);
    }
    j->cancelled = true;
}

static bool job_cancel(cio_future *f, void *ctx) {
    pp_job *j = ctx;
    pp_pool *p = j->pool;
    if (j->pending) { /* still ours alone: no lock */
        pp_list_unlink(&p->phead, &p->ptail, j);
        j->pending = false;
        cio__future_finish(f, -ECANCELED, NULL);
        job_release(j);
        return true;
    }
    pthread_mutex_lock(&p->mu);
    bool never_ran = j->queued;
    if (never_ran) {
        pp_list_unlink(&p->qhead, &p->qtail, j);
        j->queued = false;
    } else {
        stop_at_worker(j);
    }
    pthread_mutex_unlock(&p->mu);
    cio__future_finish(f, -ECANCELED, NULL);
    if (never_ran) {
        job_release(j);
    } else {
        /* The future is done: its reference goes now, on this thread, so
         * that the job's late return cannot outlive the loop holding it. */
        cio_future_unref(j->fut);
        j->fut = NULL;
    }
    return true;
}

/* slot: what the worker runs; b: a bytes job's buffer (owned from now on). */
static cio_future *submit(pp_pool *p, pp_slot slot, cio__bytes *b) {
    cio_loop *loop = cio__loop_running();
    if (p->shutdown) {
        if (b)
            b->release(b);
        errno = ESHUTDOWN;
        return NULL;
    }
    pp_job *j = malloc(sizeof *j);
    pp_slot *s = j ? slot_get(p) : NULL;
    cio_future *f = s ? cio_loop_future_new(loop) : NULL;
    if (!f) {
        if (s)
            slot_put(p, s);
        free(j);
        if (b)
            b->release(b);
        errno = ENOMEM;
        return NULL;
    }
    *s = slot;
    s->owner = j;
    atomic_init(&s->state, SLOT_QUEUED);
    *j = (pp_job){.node.fn = job_done, .pool = p, .loop = loop, .fut = f, .slot = s, .bytes = b};
    cio_future_ref(f);
    cio__future_set_cancel(f, job_cancel, j);
    cio__loop_ref(loop);
    atomic_fetch_add(&p->refs, 1);
    j->pending = true;
    pp_list_append(&p->phead, &p->ptail, j);
    cio__loop_defer_flush(loop, &p->flush);
    return f;
}

static cio_future *pp_submit(cio_executor *ex, cio_fn fn, void *arg) {
    return submit((pp_pool *)ex, (pp_slot){.fn = fn, .arg = arg}, NULL);
}

static void shm_release(cio__bytes *b) {
    b->magic = 0;
    cio_shm_free(b);
}

/* Input and result share one cio_shm block: the worker reads and writes
 * them in place, the channel carries only the slot's address. */
static cio_future *pp_submit_bytes(cio_executor *ex, cio_bytes_fn fn, const void *in, size_t in_len,
                                   size_t out_cap) {
    void *mem = cio_shm_alloc(cio__bytes_size(out_cap, in_len));
    if (!mem)
        return NULL; /* errno ENOMEM: the region is full */
    cio__bytes *b = cio__bytes_init(mem, out_cap, in, in_len, shm_release);
    return submit((pp_pool *)ex, (pp_slot){.bfn = fn, .arg = b}, b);
}

/* Once per loop iteration: this iteration's submissions join the queue
 * under one lock, with one wakeup. */
static void flush_pending(pp_pool *p) {
    if (!p->phead)
        return;
    for (pp_job *j = p->phead; j; j = j->next) {
        j->pending = false;
        j->queued = true;
    }
    pthread_mutex_lock(&p->mu);
    if (p->qtail) {
        p->qtail->next = p->phead;
        p->phead->prev = p->qtail;
    } else {
        p->qhead = p->phead;
    }
    p->qtail = p->ptail;
    pthread_mutex_unlock(&p->mu);
    p->phead = p->ptail = NULL;
    cio__pp_poke(p);
}

static void on_flush(cio__flush *f) {
    flush_pending((pp_pool *)((char *)f - offsetof(pp_pool, flush)));
}

/* ---- lifetime ---- */

/* Jobs whose loop had closed when they ended (see complete() in
 * process_pool_io.c): released here, on the owner's thread. */
static void release_orphans(pp_pool *p) {
    pthread_mutex_lock(&p->mu);
    pp_job *j = p->orphans;
    p->orphans = NULL;
    pthread_mutex_unlock(&p->mu);
    while (j) {
        pp_job *next = j->next;
        job_release(j);
        j = next;
    }
}

/* Jobs a worker holds but has not started are cancelled in their slots (the
 * worker skips them); their futures end here, the jobs come back later. */
static void cancel_held(pp_pool *p, cio_loop *loop) {
    pthread_mutex_lock(&p->mu);
    for (unsigned i = 0; i < p->nworkers; i++)
        for (pp_job *j = p->workers[i].head; j; j = j->next) {
            int queued = SLOT_QUEUED;
            if (j->loop != loop || j->cancelled ||
                !atomic_compare_exchange_strong(&j->slot->state, &queued, SLOT_CANCELLED))
                continue;
            j->cancelled = true;
            cio__future_finish(j->fut, -ECANCELED, NULL);
        }
    pthread_mutex_unlock(&p->mu);
}

/* concurrent.futures' cancel_futures: every job not started yet, of the
 * running loop (futures are finished on their own loop's thread). */
static void cancel_unstarted(pp_pool *p, cio_loop *loop) {
    for (;;) {
        pthread_mutex_lock(&p->mu);
        pp_job *j = p->qhead;
        while (j && j->loop != loop)
            j = j->next;
        pthread_mutex_unlock(&p->mu);
        if (!j)
            break;
        job_cancel(j->fut, j);
    }
    cancel_held(p, loop);
}

/* The I/O thread ends once nothing is in flight. The first to claim it
 * joins it (or, freeing the pool, detaches it). */
static bool stop_io_async(pp_pool *p, bool claim) {
    pthread_mutex_lock(&p->mu);
    bool mine = claim && !p->io_claimed;
    p->io_claimed |= claim;
    p->stopping = true;
    pthread_mutex_unlock(&p->mu);
    cio__pp_poke(p);
    return mine;
}

static void stop_io(pp_pool *p) {
    if (stop_io_async(p, true))
        pthread_join(p->io, NULL);
}

static void join_io(void *p) {
    stop_io(p);
}

static void drop_pool(void *p) {
    cio__pp_unref(p);
}

static int pp_shutdown(cio_executor *ex, bool wait, bool cancel_futures) {
    pp_pool *p = (pp_pool *)ex;
    p->shutdown = true;
    flush_pending(p); /* submitted before the shutdown: they run (or are cancelled below) */
    if (cancel_futures && cio__loop_running())
        cancel_unstarted(p, cio__loop_running());
    if (!wait)
        return 0;
    /* Waiting means: every job handed out is done, the workers and the fork
     * server are gone. In a task the loop goes on meanwhile (completions
     * arrive through it). */
    if (!cio__task_current()) {
        stop_io(p); /* not in a task: block */
    } else {
        atomic_fetch_add(&p->refs, 1); /* the waiting thread's: a cancelled waiter may free p */
        if (cio__wait_in_thread(join_io, drop_pool, p) == -ECANCELED) {
            stop_io_async(p, false); /* the pool winds down without the waiter */
            return -ECANCELED;
        }
    }
    release_orphans(p);
    return 0;
}

static void detach(pp_job *j) {
    for (; j; j = j->next)
        if (j->fut && atomic_load(&j->loop->closed)) {
            cio__future_set_cancel(j->fut, NULL, NULL);
            cio_future_unref(j->fut);
            j->fut = NULL;
            j->cancelled = true;
        }
}

/* Under the lock, before the owner lets go: jobs still in flight whose loop
 * has closed give up their future here, on the owner's thread; they would
 * end as orphans that only the I/O thread sees, which may not touch them. */
static void detach_closed(pp_pool *p) {
    detach(p->qhead);
    detach(p->dying);
    for (unsigned i = 0; i < p->nworkers; i++)
        detach(p->workers[i].head);
}

static void pp_destroy(cio_executor *ex) {
    pp_pool *p = (pp_pool *)ex;
    p->shutdown = true;
    flush_pending(p);
    if (p->flush.queued && cio__loop_running()) /* it would run after the pool is gone */
        cio__loop_cancel_flush(cio__loop_running(), &p->flush);
    /* Without waiting for the caller: queued and running jobs finish, then
     * the I/O thread, which holds a reference, lets the pool go. */
    pthread_mutex_lock(&p->mu);
    p->owner_gone = true;
    detach_closed(p);
    pthread_mutex_unlock(&p->mu);
    if (stop_io_async(p, true))
        pthread_detach(p->io);
    release_orphans(p);
    cio__pp_unref(p);
}

static const cio_executor_ops process_pool_ops = {
    .name = "process_pool",
    .submit = pp_submit,
    .shutdown = pp_shutdown,
    .destroy = pp_destroy,
    .submit_bytes = pp_submit_bytes,
};

static void *io_thread(void *arg) {
    pp_pool *p = arg;
    cio__pp_io_main(p);
    /* Orphans nobody will collect now, if the owner freed the pool without
     * joining us (else it releases them itself). Those detached from their
     * future go. One still holding its future (its loop closed after the
     * pool was freed) is left as it is, pool included: a late cio_cancel of
     * that future still finds a valid job. */
    pthread_mutex_lock(&p->mu);
    pp_job *j = p->owner_gone ? p->orphans : NULL;
    if (p->owner_gone)
        p->orphans = NULL;
    pthread_mutex_unlock(&p->mu);
    for (pp_job *next; j; j = next) {
        next = j->next;
        if (j->fut)
            continue;
        cio_shm_free(j->slot);
        if (j->bytes)
            j->bytes->release(j->bytes);
        cio__loop_unref(j->loop);
        free(j);
        cio__pp_unref(p);
    }
    cio__pp_unref(p);
    return NULL;
}

/* Forks the first workers through the server; 0 or -errno. */
static int first_workers(pp_pool *p, unsigned workers) {
    char req[PP_MAX_WORKERS];
    memset(req, 1, workers);
    if (send(p->ctl, req, workers, MSG_NOSIGNAL) != (ssize_t)workers)
        return -EPIPE;
    for (unsigned got = 0; got < workers;) {
        fs_msg m;
        int fd, pidfd, k = cio__fork_server_recv(p->ctl, &m, &fd, &pidfd);
        if (k <= 0)
            return k < 0 ? k : -EPIPE;
        if (m.type == MSG_FAILED)
            return m.status > 0 ? -m.status : -EAGAIN;
        if (m.type == MSG_SPAWNED)
            cio__pp_worker_init(p, &p->workers[got++], m.pid, fd, pidfd);
    }
    return 0;
}

/* Forks the server and the first workers, then starts the I/O thread. */
static int start(pp_pool *p, unsigned workers, size_t shm_size) {
    int r = cio__shm_init(shm_size); /* mapped before any fork: the same address everywhere */
    if (r < 0)
        return r;
    p->server = cio__fork_server_start(&p->ctl, &p->cfg);
    if (p->server < 0)
        return (int)p->server;
    p->nworkers = workers;
    for (unsigned i = 0; i < workers; i++)
        p->workers[i].fd = p->workers[i].pidfd = -1;
    r = first_workers(p, workers);
    atomic_fetch_add(&p->refs, 1);
    if (r == 0 && (r = -pthread_create(&p->io, NULL, io_thread, p)) == 0)
        return 0;
    atomic_fetch_sub(&p->refs, 1);
    for (unsigned i = 0; i < workers; i++)
        cio__pp_worker_close(&p->workers[i]);
    close(p->ctl);
    int st;
    while (waitpid(p->server, &st, 0) < 0 && errno == EINTR)
        ;
    return r;
}

static unsigned worker_count(const cio_process_pool_options *opt) {
    if (opt && opt->max_workers)
        return opt->max_workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

cio_executor *cio_process_pool_new_with(const cio_process_pool_options *opt) {
    unsigned workers = worker_count(opt);
    if (workers > PP_MAX_WORKERS) {
        errno = EINVAL;
        return NULL;
    }
    pp_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->base.ops = &process_pool_ops;
    p->flush.fn = on_flush;
    cio_loop *loop = cio__loop_running();
    p->debug = (loop && cio_loop_debug(loop)) || cio__env_debug();
    if (opt)
        p->cfg = (fs_config){opt->initializer, opt->initarg, opt->max_tasks_per_child};
    pthread_mutex_init(&p->mu, NULL);
    atomic_init(&p->refs, 1);
    p->wake = eventfd(0, EFD_CLOEXEC);
    int r = p->wake < 0 ? -errno : start(p, workers, opt ? opt->shm_size : 0);
    if (r < 0) {
        if (p->wake >= 0)
            close(p->wake);
        pthread_mutex_destroy(&p->mu);
        free(p);
        errno = -r;
        return NULL;
    }
    return &p->base;
}

cio_executor *cio_process_pool_new(unsigned max_workers) {
    cio_process_pool_options opt = {.max_workers = max_workers};
    return cio_process_pool_new_with(&opt);
}
