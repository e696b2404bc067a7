/* The process pool. Beyond concurrent.futures.ProcessPoolExecutor:
 *   - a worker that dies during a job fails that job only (CIO_EWORKER); the
 *     worker is replaced, the queue goes on, the pool never turns "broken";
 *   - a running job can be cancelled: its worker is killed and replaced;
 *   - arguments and results are scalars or pointers into cio shared memory,
 *     never pickled.
 * One I/O thread per pool feeds the workers through their channels (for
 * short jobs up to PIPELINE queued at each, so a worker never waits for the
 * parent; for long ones only two, so no worker sits on work another could
 * take),
 * collects results, notices deaths, and posts completions to the loop. The
 * job's slot in shared memory says what really happened when a worker dies:
 * finished, running, or never started (then it is simply queued again). */
#include "fork_server.h"
#include "future.h"
#include "loop.h"
#include "shm.h"
#include "task.h"

#include <errno.h>
#include <stddef.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PIPELINE 32
#define MAX_WORKERS 256

typedef struct pp_job {
    cio__mpsc_node node; /* first: the completion */
    struct pp_job *next, *prev;
    struct pp_pool *pool;
    cio_loop *loop;
    cio_future *fut;
    pp_slot *slot;
    struct pp_worker *worker; /* NULL while queued in the pool */
    double sent;              /* when it went to the worker */
    int err;
    bool queued;    /* in the pool's queue */
    bool pending;   /* submitted this iteration, not yet handed to the I/O thread */
    bool cancelled; /* its future ended already */
} pp_job;

typedef struct pp_worker {
    pid_t pid;
    int fd;              /* -1: dead, a replacement requested */
    pp_job *head, *tail; /* sent, not answered, in order */
    int nout;
    size_t partial; /* bytes of a reply pointer already read */
    double last_reply;
    char rbuf[sizeof(void *)];
} pp_worker;

typedef struct pp_pool {
    cio_executor base;
    pthread_mutex_t mu;
    pp_job *qhead, *qtail;
    pp_worker workers[MAX_WORKERS];
    unsigned nworkers;
    int ctl;
    pid_t server;
    int wake;               /* eventfd: the I/O thread has news */
    double job_time;        /* moving average of a job's run time, seconds */
    unsigned respawns;      /* replacements asked for again after a failed fork */
    unsigned fork_failures; /* in a row */
    pthread_t io;
    bool shutdown, stopping, debug;
    _Atomic long refs; /* owner + live jobs + the I/O thread */
    /* Loop thread only: a submission pokes the I/O thread once per loop
     * iteration, and slots are reused without the shm allocator's lock. */
    cio__flush flush;
    pp_slot *free_slots;
    pp_job *phead, *ptail;
} pp_pool;

static void pool_unref(pp_pool *p) {
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

static void list_append(pp_job **h, pp_job **t, pp_job *j) {
    j->next = NULL;
    j->prev = *t;
    if (*t)
        (*t)->next = j;
    else
        *h = j;
    *t = j;
}

static void list_unlink(pp_job **h, pp_job **t, pp_job *j) {
    if (j->prev)
        j->prev->next = j->next;
    else
        *h = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        *t = j->prev;
    j->next = j->prev = NULL;
}

static void poke(pp_pool *p) {
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

static void job_release(pp_job *j) {
    pp_pool *p = j->pool;
    cio_loop *loop = j->loop;
    cio_future_unref(j->fut);
    j->slot->owner = p->free_slots; /* the free list links through owner */
    p->free_slots = j->slot;
    free(j);
    cio__loop_unref(loop);
    pool_unref(p);
}

static void job_done(cio__mpsc_node *n) {
    pp_job *j = (pp_job *)n;
    if (!j->cancelled)
        cio__future_finish(j->fut, j->err, j->err ? NULL : j->slot->result);
    job_release(j);
}

static bool job_cancel(cio_future *f, void *ctx) {
    pp_job *j = ctx;
    pp_pool *p = j->pool;
    if (j->pending) { /* still ours alone: no lock */
        list_unlink(&p->phead, &p->ptail, j);
        j->pending = false;
        cio__future_finish(f, -ECANCELED, NULL);
        job_release(j);
        return true;
    }
    pthread_mutex_lock(&p->mu);
    bool never_ran = j->queued;
    if (never_ran) {
        list_unlink(&p->qhead, &p->qtail, j);
        j->queued = false;
    } else {
        int queued = SLOT_QUEUED;
        /* At a worker: skipped if not started; killed (and replaced) if running. */
        if (!atomic_compare_exchange_strong(&j->slot->state, &queued, SLOT_CANCELLED) &&
            atomic_load(&j->slot->state) == SLOT_RUNNING && j->worker && j->worker->pid > 0)
            kill(j->worker->pid, SIGKILL);
        j->cancelled = true; /* the I/O thread still hands it back when it ends */
    }
    pthread_mutex_unlock(&p->mu);
    cio__future_finish(f, -ECANCELED, NULL);
    if (never_ran)
        job_release(j);
    return true;
}

static cio_future *pp_submit(cio_executor *ex, cio_fn fn, void *arg) {
    pp_pool *p = (pp_pool *)ex;
    cio_loop *loop = cio__loop_running();
    if (p->shutdown) {
        errno = ESHUTDOWN;
        return NULL;
    }
    pp_job *j = malloc(sizeof *j);
    pp_slot *s = j ? slot_get(p) : NULL;
    cio_future *f = s ? cio_loop_future_new(loop) : NULL;
    if (!f) {
        if (s) {
            s->owner = p->free_slots;
            p->free_slots = s;
        }
        free(j);
        errno = ENOMEM;
        return NULL;
    }
    *s = (pp_slot){.fn = fn, .arg = arg, .owner = j};
    atomic_init(&s->state, SLOT_QUEUED);
    *j = (pp_job){.node.fn = job_done, .pool = p, .loop = loop, .fut = f, .slot = s};
    cio_future_ref(f);
    cio__future_set_cancel(f, job_cancel, j);
    cio__loop_ref(loop);
    atomic_fetch_add(&p->refs, 1);
    j->pending = true;
    list_append(&p->phead, &p->ptail, j);
    cio__loop_defer_flush(loop, &p->flush);
    return f;
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
    poke(p);
}

static void on_flush(cio__flush *f) {
    flush_pending((pp_pool *)((char *)f - offsetof(pp_pool, flush)));
}

/* ---- the I/O thread ---- */

/* Hands a finished (or failed, or cancelled) job back to its loop. */
static void complete(pp_job *j, int err) {
    j->err = err;
    cio_loop *loop = j->loop;
    cio__loop_ref(loop); /* across the post: the loop may drop the job's own */
    if (cio__loop_post(loop, &j->node) < 0) {
        /* the loop is closed: only the job's memory is ours to free */
        cio_shm_free(j->slot);
        pp_pool *p = j->pool;
        free(j);
        cio__loop_unref(loop);
        pool_unref(p);
    }
    cio__loop_unref(loop);
}

static void write_slots(pp_worker *w, pp_slot **s, int n) {
    size_t len = (size_t)n * sizeof *s;
    const char *b = (const char *)s;
    while (len > 0) {
        ssize_t k = send(w->fd, b, len, MSG_NOSIGNAL); /* a dead worker: EPIPE, no SIGPIPE */
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return; /* dead: its EOF is noticed by poll, and the jobs requeued */
        b += k;
        len -= (size_t)k;
    }
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* How many jobs a worker may hold: enough to cover ~1 ms of short jobs (the
 * round trip through the parent is then hidden), two of long ones. */
static int depth(const pp_pool *p) {
    if (p->job_time <= 0)
        return 2;
    double d = 1e-3 / p->job_time;
    return d < 2 ? 2 : d > PIPELINE ? PIPELINE : (int)d;
}

/* Under the lock: queued jobs to workers with room, least loaded first. */
static void dispatch(pp_pool *p) {
    int limit = depth(p);
    double t = now();
    for (;;) {
        pp_worker *best = NULL;
        for (unsigned i = 0; i < p->nworkers; i++) {
            pp_worker *w = &p->workers[i];
            if (w->fd >= 0 && w->nout < limit && (!best || w->nout < best->nout))
                best = w;
        }
        if (!best || !p->qhead)
            return;
        pp_slot *batch[PIPELINE];
        int n = 0;
        int share = limit - best->nout;
        while (p->qhead && n < share) {
            pp_job *j = p->qhead;
            list_unlink(&p->qhead, &p->qtail, j);
            j->queued = false;
            j->worker = best;
            j->sent = t;
            list_append(&best->head, &best->tail, j);
            best->nout++;
            batch[n++] = j->slot;
        }
        write_slots(best, batch, n);
    }
}

static void reply(pp_pool *p, pp_worker *w, pp_slot *s) {
    pp_job *j = w->head;
    if (!j || j->slot != s)
        return; /* not what we sent: the channel is confused; its death will tell */
    list_unlink(&w->head, &w->tail, j);
    w->nout--;
    /* Run time: since it was sent, or since the job before it came back. */
    double t = now(), start = j->sent > w->last_reply ? j->sent : w->last_reply;
    w->last_reply = t;
    p->job_time = p->job_time > 0 ? 0.9 * p->job_time + 0.1 * (t - start) : t - start;
    complete(j, 0);
}

/* 0 when the channel reached EOF (the worker is gone). */
static int read_replies(pp_pool *p, pp_worker *w) {
    char buf[PIPELINE * sizeof(void *)];
    ssize_t n = read(w->fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
        return 1;
    if (n <= 0)
        return 0;
    for (ssize_t i = 0; i < n; i++) {
        w->rbuf[w->partial++] = buf[i];
        if (w->partial == sizeof w->rbuf) {
            pp_slot *s;
            memcpy(&s, w->rbuf, sizeof s);
            w->partial = 0;
            reply(p, w, s);
        }
    }
    return 1;
}

/* A worker is gone: its jobs end by what their slots say. */
static void worker_died(pp_pool *p, pp_worker *w) {
    close(w->fd);
    w->fd = -1;
    w->partial = 0;
    while (w->head) {
        pp_job *j = w->head;
        list_unlink(&w->head, &w->tail, j);
        int st = atomic_load(&j->slot->state);
        if (st == SLOT_DONE)
            complete(j, 0);
        else if (st == SLOT_RUNNING || j->cancelled)
            complete(j, j->cancelled ? -ECANCELED : CIO_EWORKER);
        else { /* never started: it goes first in line again */
            j->worker = NULL;
            j->queued = true;
            j->next = p->qhead;
            j->prev = NULL;
            if (p->qhead)
                p->qhead->prev = j;
            else
                p->qtail = j;
            p->qhead = j;
        }
    }
    w->nout = 0;
    if (!p->stopping) {
        char one = 1;
        if (send(p->ctl, &one, 1, MSG_NOSIGNAL) < 0)
            return;
    }
}

static void control_message(pp_pool *p) {
    fs_msg m;
    int fd = -1;
    if (cio__fork_server_recv(p->ctl, &m, &fd) <= 0) {
        p->ctl = -1; /* the server is gone: no more replacements */
        return;
    }
    if (m.type == MSG_SPAWNED) {
        for (unsigned i = 0; i < p->nworkers; i++)
            if (p->workers[i].fd < 0 && !p->workers[i].head) {
                p->workers[i] = (pp_worker){.pid = m.pid, .fd = fd};
                p->fork_failures = 0;
                return;
            }
        close(fd);
    } else if (m.type == MSG_FAILED) {
        p->respawns++; /* asked again after a pause (io_main) */
        p->fork_failures++;
    } else if (m.type == MSG_DIED && WIFSIGNALED(m.status) && p->debug) {
        cio_log(CIO_LOG_WARNING, "process pool: worker %d died from signal %d (%s)", (int)m.pid,
                WTERMSIG(m.status), strsignal(WTERMSIG(m.status)));
    }
}

/* No worker left and none can be forked (for ~5 s): rather than let the
 * queue wait forever, its jobs fail with -EAGAIN. */
static void fail_if_no_workers(pp_pool *p) {
    if (p->fork_failures < 50)
        return;
    for (unsigned i = 0; i < p->nworkers; i++)
        if (p->workers[i].fd >= 0)
            return;
    while (p->qhead) {
        pp_job *j = p->qhead;
        list_unlink(&p->qhead, &p->qtail, j);
        j->queued = false;
        complete(j, -EAGAIN);
    }
}

static bool busy(pp_pool *p) {
    if (p->qhead)
        return true;
    for (unsigned i = 0; i < p->nworkers; i++)
        if (p->workers[i].head)
            return true;
    return false;
}

static void *io_main(void *arg) {
    pp_pool *p = arg;
    struct pollfd fds[MAX_WORKERS + 2];
    pthread_mutex_lock(&p->mu);
    for (;;) {
        dispatch(p);
        if (p->stopping && !busy(p))
            break;
        unsigned n = 0;
        fds[n++] = (struct pollfd){.fd = p->wake, .events = POLLIN};
        fds[n++] = (struct pollfd){.fd = p->ctl, .events = POLLIN};
        for (unsigned i = 0; i < p->nworkers; i++)
            fds[n++] = (struct pollfd){.fd = p->workers[i].fd, .events = POLLIN};
        pthread_mutex_unlock(&p->mu);
        int r = poll(fds, n, p->respawns ? 100 : -1);
        pthread_mutex_lock(&p->mu);
        fail_if_no_workers(p);
        for (; p->respawns && p->ctl >= 0 && !p->stopping; p->respawns--) {
            char one = 1;
            if (send(p->ctl, &one, 1, MSG_NOSIGNAL) < 0)
                break;
        }
        if (r < 0)
            continue;
        if (fds[0].revents) {
            uint64_t v;
            if (read(p->wake, &v, sizeof v) < 0)
                v = 0;
        }
        if (fds[1].revents && p->ctl >= 0)
            control_message(p);
        for (unsigned i = 0; i < p->nworkers; i++) {
            pp_worker *w = &p->workers[i];
            short ev = fds[2 + i].revents;
            if (w->fd < 0 || w->fd != fds[2 + i].fd || !ev)
                continue;
            if (!read_replies(p, w) || (ev & (POLLHUP | POLLERR) && !(ev & POLLIN)))
                worker_died(p, w);
        }
    }
    /* Done: close the channels (workers exit), then the control socket
     * (the server reaps them and exits). */
    for (unsigned i = 0; i < p->nworkers; i++)
        if (p->workers[i].fd >= 0)
            close(p->workers[i].fd);
    if (p->ctl >= 0)
        close(p->ctl);
    pthread_mutex_unlock(&p->mu);
    int st;
    waitpid(p->server, &st, 0);
    return NULL;
}

/* ---- lifetime ---- */

static void cancel_queued(pp_pool *p) {
    for (;;) {
        pthread_mutex_lock(&p->mu);
        pp_job *j = p->qhead;
        pthread_mutex_unlock(&p->mu);
        if (!j)
            return;
        job_cancel(j->fut, j);
    }
}

static void stop_io(pp_pool *p) {
    pthread_mutex_lock(&p->mu);
    bool first = !p->stopping;
    p->stopping = true;
    pthread_mutex_unlock(&p->mu);
    poke(p);
    if (first)
        pthread_join(p->io, NULL);
}

static void *join_job(void *arg) {
    stop_io(arg);
    return NULL;
}

static int pp_shutdown(cio_executor *ex, bool wait, bool cancel_futures) {
    pp_pool *p = (pp_pool *)ex;
    p->shutdown = true;
    flush_pending(p); /* submitted before the shutdown: they run (or are cancelled below) */
    if (cancel_futures && cio__loop_running())
        cancel_queued(p);
    if (!wait)
        return 0;
    /* Waiting means: every job handed out is done, the workers and the fork
     * server are gone. In a task the loop goes on meanwhile (completions
     * arrive through it). */
    if (cio__task_current()) {
        void *unused;
        int r = cio_to_thread(join_job, p, &unused);
        if (r == 0)
            return 0;
    }
    stop_io(p);
    return 0;
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
    bool joined = p->stopping;
    p->stopping = true;
    pthread_mutex_unlock(&p->mu);
    poke(p);
    if (!joined)
        pthread_detach(p->io);
    pool_unref(p);
}

static const cio_executor_ops process_pool_ops = {
    .name = "process_pool",
    .submit = pp_submit,
    .shutdown = pp_shutdown,
    .destroy = pp_destroy,
};

static void *io_thread(void *arg) {
    pp_pool *p = arg;
    io_main(p);
    pool_unref(p);
    return NULL;
}

/* Fork the server and the first workers, then start the I/O thread. */
static int start(pp_pool *p, unsigned workers, const fs_config *cfg, size_t shm_size) {
    int r = cio__shm_init(shm_size); /* mapped before any fork: the same address everywhere */
    if (r < 0)
        return r;
    p->server = cio__fork_server_start(&p->ctl, cfg);
    if (p->server < 0)
        return (int)p->server;
    p->nworkers = workers;
    for (unsigned i = 0; i < workers; i++)
        p->workers[i].fd = -1;
    char req[MAX_WORKERS];
    memset(req, 1, workers);
    r = send(p->ctl, req, workers, MSG_NOSIGNAL) == (ssize_t)workers ? 0 : -EPIPE;
    for (unsigned got = 0; r == 0 && got < workers;) {
        fs_msg m;
        int fd;
        int k = cio__fork_server_recv(p->ctl, &m, &fd);
        if (k <= 0)
            r = k < 0 ? k : -EPIPE;
        else if (m.type == MSG_SPAWNED)
            p->workers[got++] = (pp_worker){.pid = m.pid, .fd = fd};
        else if (m.type == MSG_FAILED)
            r = -(m.status ? m.status : EAGAIN);
    }
    atomic_fetch_add(&p->refs, 1);
    if (r == 0 && (r = -pthread_create(&p->io, NULL, io_thread, p)) == 0)
        return 0;
    atomic_fetch_sub(&p->refs, 1);
    for (unsigned i = 0; i < workers; i++)
        if (p->workers[i].fd >= 0)
            close(p->workers[i].fd);
    close(p->ctl);
    int st;
    waitpid(p->server, &st, 0);
    return r;
}

cio_executor *cio_process_pool_new_with(const cio_process_pool_options *opt) {
    unsigned workers = opt && opt->max_workers ? opt->max_workers : 0;
    if (!workers) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        workers = n > 0 ? (unsigned)n : 1;
    }
    if (workers > MAX_WORKERS) {
        errno = EINVAL;
        return NULL;
    }
    pp_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->base.ops = &process_pool_ops;
    p->flush.fn = on_flush;
    p->debug = cio__loop_running() ? cio_loop_get_debug(cio__loop_running()) : false;
    const char *env = getenv("CIO_DEBUG");
    p->debug |= env && *env && strcmp(env, "0") != 0;
    pthread_mutex_init(&p->mu, NULL);
    atomic_init(&p->refs, 1);
    p->wake = eventfd(0, EFD_CLOEXEC);
    fs_config cfg = {0};
    if (opt)
        cfg = (fs_config){opt->initializer, opt->initarg, opt->max_tasks_per_child};
    int r = p->wake < 0 ? -errno : start(p, workers, &cfg, opt ? opt->shm_size : 0);
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
