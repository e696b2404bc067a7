/* The process pool. Beyond concurrent.futures.ProcessPoolExecutor:
 *   - a worker that dies during a job fails that job only (CIO_EWORKER); the
 *     worker is replaced, the queue goes on, the pool never turns "broken";
 *   - a running job can be cancelled: its worker is killed and replaced;
 *   - arguments and results are scalars or pointers into cio shared memory,
 *     never pickled.
 * This file is the pool's hooks into the job engine (jobs.c: submit,
 * cancel, completions) and its start; process_pool_io.c is the I/O thread
 * between the loop and the workers, fork_server.c the processes. A job's slot in shared memory says
 * what really happened when a worker dies: finished, running, or never
 * started (then it is simply queued again). */
#include "bytes.h"
#include "debug.h"
#include "executor.h"
#include "process_pool.h"
#include "shm.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

void cio__pp_poke(cio__pp_pool *p) {
    uint64_t one = 1;
    if (write(p->wake, &one, sizeof one) < 0)
        return; /* the counter is saturated: it is awake anyway */
}

int cio__pp_ask_spawn(cio__pp_pool *p, unsigned n) {
    char req[CIO__PP_MAX_WORKERS];
    memset(req, CIO__FS_REQ_SPAWN, n);
    return send(p->ctl, req, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -EPIPE;
}

/* ---- slots (the home loop's cache) ---- */

static cio__pp_slot *slot_get(cio__pp_pool *p) {
    cio__pp_slot *s = p->free_slots;
    if (!s)
        return cio_shm_alloc(sizeof *s);
    p->free_slots = s->owner;
    return s;
}

static void slot_put(cio__pp_pool *p, cio__pp_slot *s) {
    s->owner = p->free_slots; /* the free list links through owner */
    p->free_slots = s;
}

/* ---- the engine's hooks ---- */

static int pp_queued(cio__jobs *e, unsigned n, unsigned *kick) {
    (void)e, (void)n;
    *kick = 1; /* the I/O thread dispatches */
    return 0;
}

static void pp_kick(cio__jobs *e, unsigned kick) {
    (void)kick;
    cio__pp_poke((cio__pp_pool *)e);
}

static bool pp_unstart(cio__job *j) {
    int queued = CIO__PP_SLOT_QUEUED;
    return atomic_compare_exchange_strong(&cio__pp_job_of(j)->slot->state, &queued,
                                          CIO__PP_SLOT_CANCELLED);
}

/* A slot not started yet is skipped by its worker; a running one is stopped
 * by killing the worker (the I/O thread hands the job back when it sees the
 * death). */
static void pp_stop(cio__job *job) {
    cio__pp_pool *p = (cio__pp_pool *)job->jobs;
    cio__pp_job *j = cio__pp_job_of(job);
    cio__pp_worker *w = j->worker; /* cleared once the job is handed back */
    if (!pp_unstart(job) && atomic_load(&j->slot->state) == CIO__PP_SLOT_RUNNING && w &&
        w->fd >= 0) {
        if (w->pidfd >= 0) /* ESRCH: gone already, and its pid may be someone else's */
            syscall(SYS_pidfd_send_signal, w->pidfd, SIGKILL, NULL, 0);
        else if (p->ctl >= 0) /* no pidfd: the server knows whether pid is still its child */
            cio__fork_server_kill(p->ctl, w->pid);
    }
}

/* The outcome is in the slot, in shared memory. */
static void pp_settle(cio__job *job) {
    cio__pp_slot *s = cio__pp_job_of(job)->slot;
    if (job->timed) {
        job->worker = s->pid;
        job->started_ns = s->started_ns;
        job->ended_ns = s->ended_ns;
    }
    if (job->cancelled)
        return;
    if (!job->err)
        job->err = s->err;       /* the job's cio_fail */
    if (!job->err && job->bytes) /* the payload stays in cio_shm, in place */
        job->err = cio__bytes_settle(job->bytes, (ssize_t)(intptr_t)s->result);
    else if (!job->err)
        job->result = s->result;
}

static void pp_release(cio__job *job, bool home) {
    cio__pp_slot *s = cio__pp_job_of(job)->slot;
    if (!s)
        return;
    if (home)
        slot_put((cio__pp_pool *)job->jobs, s);
    else
        cio_shm_free(s);
}

static void pp_each_held(cio__jobs *e, void (*visit)(cio__job *j, void *ctx), void *ctx) {
    cio__pp_pool *p = (cio__pp_pool *)e;
    for (cio__job *j = p->dying; j; j = j->next)
        visit(j, ctx);
    for (unsigned i = 0; i < p->nworkers; i++)
        for (cio__job *j = p->workers[i].held.head; j; j = j->next)
            visit(j, ctx);
}

/* The I/O thread ends once nothing is in flight. The first to claim it
 * joins it (or, freeing the pool, detaches it). */
static bool stop_io_async(cio__pp_pool *p, bool claim) {
    pthread_mutex_lock(&p->jobs.mu);
    bool mine = claim && !p->io_claimed;
    p->io_claimed |= claim;
    p->stopping = true;
    pthread_mutex_unlock(&p->jobs.mu);
    cio__pp_poke(p);
    return mine;
}

/* Waiting means: every job handed out is done, the workers and the fork
 * server are gone. */
static void pp_wait(cio__jobs *e) {
    cio__pp_pool *p = (cio__pp_pool *)e;
    if (stop_io_async(p, true))
        pthread_join(p->io, NULL);
}

/* Without waiting for the caller: queued and running jobs finish, then the
 * I/O thread, which holds a reference, lets the pool go. */
static void pp_abandon(cio__jobs *e) {
    cio__pp_pool *p = (cio__pp_pool *)e;
    if (stop_io_async(p, true))
        pthread_detach(p->io);
}

static void pp_free(cio__jobs *e) {
    cio__pp_pool *p = (cio__pp_pool *)e;
    while (p->free_slots) {
        cio__pp_slot *s = p->free_slots;
        p->free_slots = s->owner;
        cio_shm_free(s);
    }
    close(p->wake);
}

static const cio__jobs_ops pp_jobs_ops = {
    .name = "process pool",
    .job_size = sizeof(cio__pp_job),
    .queued = pp_queued,
    .kick = pp_kick,
    .stop = pp_stop,
    .unstart = pp_unstart,
    .settle = pp_settle,
    .release = pp_release,
    .each_held = pp_each_held,
    .wait = pp_wait,
    .abandon = pp_abandon,
    .free = pp_free,
};

/* ---- the executor ---- */

/* slot: what the worker runs; b: a bytes job's buffer (owned from now on). */
static cio_future *submit(cio__pp_pool *p, cio__pp_slot slot, const void *fn, cio__bytes *b) {
    cio__pp_job *j = (cio__pp_job *)cio__jobs_alloc(&p->jobs);
    cio__pp_slot *s = j ? slot_get(p) : NULL;
    if (!s) {
        free(j);
        if (b)
            b->release(b);
        if (j)
            errno = ENOMEM;
        return NULL;
    }
    *s = slot;
    s->owner = j;
    s->timed = j->job.timed;
    atomic_init(&s->state, CIO__PP_SLOT_QUEUED);
    j->slot = s;
    j->job.fn = fn;
    j->job.bytes = b;
    return cio__jobs_submit(&p->jobs, &j->job);
}

static cio_future *pp_submit(cio_executor *ex, cio_fn fn, void *arg) {
    return submit((cio__pp_pool *)ex, (cio__pp_slot){.fn = fn, .arg = arg}, (const void *)fn, NULL);
}

static void shm_release(cio__bytes *b) {
    b->magic = 0;
    cio_shm_free(b);
}

/* Input and result share one cio_shm block: the worker reads and writes
 * them in place, the channel carries only the slot's address. */
static cio_future *pp_submit_bytes(cio_executor *ex, cio_bytes_fn fn, const void *in, size_t in_len,
                                   size_t out_cap) {
    if (((cio__pp_pool *)ex)->jobs.shutdown) {
        errno = ESHUTDOWN;
        return NULL;
    }
    void *mem = cio_shm_alloc(cio__bytes_size(out_cap, in_len));
    if (!mem)
        return NULL; /* errno ENOMEM: the region is full */
    cio__bytes *b = cio__bytes_init(mem, out_cap, in, in_len, shm_release);
    return submit((cio__pp_pool *)ex, (cio__pp_slot){.bfn = fn, .arg = b}, (const void *)fn, b);
}

static const cio_executor_ops process_pool_ops = {
    .name = "process_pool",
    .submit = pp_submit,
    .shutdown = cio__jobs_shutdown,
    .destroy = cio__jobs_destroy,
    .submit_bytes = pp_submit_bytes,
};

/* ---- the pool's start ---- */

static void *io_thread(void *arg) {
    cio__pp_pool *p = arg;
    cio__pp_io_main(p);
    cio__jobs_unref(&p->jobs);
    return NULL;
}

/* Forks the first workers through the server; 0 or -errno. */
static int first_workers(cio__pp_pool *p, unsigned workers) {
    if (cio__pp_ask_spawn(p, workers) < 0)
        return -EPIPE;
    for (unsigned got = 0; got < workers;) {
        cio__fs_msg m;
        int fd, pidfd, k = cio__fork_server_recv(p->ctl, &m, &fd, &pidfd);
        if (k <= 0)
            return k < 0 ? k : -EPIPE;
        if (m.type == CIO__FS_FAILED)
            return m.status > 0 ? -m.status : -EAGAIN;
        if (m.type == CIO__FS_SPAWNED)
            cio__pp_worker_init(p, &p->workers[got++], m.pid, fd, pidfd);
    }
    return 0;
}

/* Forks the server and the first workers, then starts the I/O thread. */
static int start(cio__pp_pool *p, unsigned workers, size_t shm_size) {
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
    cio__jobs_ref(&p->jobs);
    if (r == 0 && (r = -pthread_create(&p->io, NULL, io_thread, p)) == 0)
        return 0;
    atomic_fetch_sub(&p->jobs.refs, 1);
    for (unsigned i = 0; i < workers; i++)
        cio__pp_worker_close(&p->workers[i]);
    close(p->ctl);
    int st;
    while (waitpid(p->server, &st, 0) < 0 && errno == EINTR)
        ;
    return r;
}

cio_executor *cio_process_pool_new_with(const cio_process_pool_options *opt) {
    unsigned workers = opt && opt->max_workers ? opt->max_workers : cio__default_workers(false);
    if (workers > CIO__PP_MAX_WORKERS) {
        errno = EINVAL;
        return NULL;
    }
    cio__pp_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    cio_loop *loop = cio__loop_running();
    p->debug = (loop && cio_loop_debug(loop)) || cio__env_debug();
    if (opt)
        p->cfg = (cio__fs_config){opt->initializer, opt->initarg, opt->max_tasks_per_child};
    cio__jobs_init(&p->jobs, &process_pool_ops, &pp_jobs_ops);
    p->wake = eventfd(0, EFD_CLOEXEC);
    int r = p->wake < 0 ? -errno : start(p, workers, opt ? opt->shm_size : 0);
    if (r < 0) {
        if (p->wake >= 0)
            close(p->wake);
        cio__jobs_fini(&p->jobs);
        free(p);
        errno = -r;
        return NULL;
    }
    return &p->jobs.base;
}

cio_executor *cio_process_pool_new(unsigned max_workers) {
    cio_process_pool_options opt = {.max_workers = max_workers};
    return cio_process_pool_new_with(&opt);
}
