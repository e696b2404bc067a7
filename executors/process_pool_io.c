/* The process pool's I/O thread. It feeds the workers through their
 * channels (for short jobs up to CIO__PP_PIPELINE queued at each, so a worker
 * never waits for the parent; for long ones two), lets an idle worker steal
 * a job another one holds behind a long-running job, collects results,
 * notices deaths, asks the fork server for replacements, and posts
 * completions to the loops. Everything here runs under the pool's mutex,
 * released only around ppoll(). */
#include "debug.h"
#include "process_pool.h"
#include "shm.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STEAL_AFTER 1e-4     /* seconds a worker's job runs before jobs it holds may move */
#define PIPELINE_COVER 1e-3  /* seconds of short jobs a worker holds (the round trip hidden) */
#define PIPELINE_MIN 2       /* jobs a worker holds at least: one running, one next */
#define JOB_TIME_WEIGHT 0.1  /* a new run time's weight in the moving average */
#define BACKOFF_BASE 0.03125 /* seconds: a failed spawn's pause is this times 2^fails... */
#define BACKOFF_MAX_SHIFT 5  /* ...up to 2^5 (62 ms .. 1 s) */
enum { FD_WAKE, FD_CTL, FD_WORKERS }; /* the ppoll set: then one per worker place */

/* Hands a finished (or failed, or cancelled) job back to its loop (the job
 * engine keeps it if that loop has closed). */
static void complete(cio__pp_pool *p, cio__pp_job *j, int err) {
    j->job.err = err;
    j->job.where = CIO__JOB_NOWHERE;
    j->worker = NULL; /* its place may get a new process: a late cancel must not kill that */
    cio__jobs_post(&p->jobs, &j->job, true);
}

static void write_slots(cio__pp_worker *w, cio__pp_slot **s, int n) {
    size_t len = (size_t)n * sizeof *s;
    const char *b = (const char *)s;
    while (len > 0) {
        ssize_t k = send(w->fd, b, len, MSG_NOSIGNAL); /* a dead worker: EPIPE, no SIGPIPE */
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return; /* dead: poll reports its EOF and its jobs are settled then */
        b += k;
        len -= (size_t)k;
    }
}

/* How many jobs a worker may hold: enough to cover ~1 ms of short jobs (the
 * round trip through the parent is then hidden), two of long ones. */
static int depth(const cio__pp_pool *p) {
    if (p->job_time <= 0)
        return PIPELINE_MIN;
    double d = PIPELINE_COVER / p->job_time;
    return d < PIPELINE_MIN ? PIPELINE_MIN : d > CIO__PP_PIPELINE ? CIO__PP_PIPELINE : (int)d;
}

static cio__pp_worker *least_loaded(cio__pp_pool *p, int limit) {
    cio__pp_worker *best = NULL;
    for (unsigned i = 0; i < p->nworkers; i++) {
        cio__pp_worker *w = &p->workers[i];
        if (w->fd >= 0 && w->jobs_left && w->nout < limit && (!best || w->nout < best->nout))
            best = w;
    }
    return best;
}

static void send_job(cio__pp_worker *w, cio__pp_job *j, double t) {
    j->worker = w;
    j->sent = t;
    cio__job_list_append(&w->held, &j->job);
    w->nout++;
    if (w->jobs_left != UINT_MAX)
        w->jobs_left--;
}

/* When w's running job started: its reply-time estimate, as in reply(). */
static double head_started(const cio__pp_worker *w) {
    const cio__pp_job *j = cio__pp_job_of(w->held.head);
    return j->sent > w->last_reply ? j->sent : w->last_reply;
}

/* The worker holding the most jobs behind one that has run for STEAL_AFTER
 * already. One whose job is younger may be done soon: *recheck gets the
 * moment it would qualify (short jobs are never stolen, a stuck one is). */
static cio__pp_worker *victim(cio__pp_pool *p, double now, double *recheck) {
    cio__pp_worker *v = NULL;
    for (unsigned i = 0; i < p->nworkers; i++) {
        cio__pp_worker *w = &p->workers[i];
        if (w->fd < 0 || w->nout < 2 || w->nstolen == CIO__PP_PIPELINE)
            continue;
        double ripe = head_started(w) + STEAL_AFTER;
        if (ripe > now)
            *recheck = *recheck && *recheck < ripe ? *recheck : ripe;
        else if (!v || w->nout > v->nout)
            v = w;
    }
    return v;
}

/* Work stealing: an idle worker takes the last job another one holds behind
 * a job that runs long, so a short job never waits for a long one while a
 * worker is free. The old slot is cancelled in place (its worker skips it)
 * and the job goes out again in a fresh slot. */
static bool steal(cio__pp_pool *p, cio__pp_worker *thief, double now) {
    cio__pp_worker *v = victim(p, now, &p->steal_at);
    cio__pp_job *j = v ? cio__pp_job_of(v->held.tail) : NULL;
    cio__pp_slot *fresh = j ? cio_shm_alloc(sizeof *fresh) : NULL;
    int queued = CIO__PP_SLOT_QUEUED;
    if (!fresh ||
        !atomic_compare_exchange_strong(&j->slot->state, &queued, CIO__PP_SLOT_CANCELLED)) {
        cio_shm_free(fresh); /* nothing unstarted there (its tail runs), or no memory */
        return false;
    }
    *fresh = (cio__pp_slot){.fn = j->slot->fn,
                            .bfn = j->slot->bfn,
                            .arg = j->slot->arg,
                            .owner = j,
                            .timed = j->job.timed};
    atomic_init(&fresh->state, CIO__PP_SLOT_QUEUED);
    v->stolen[v->nstolen++] = j->slot;
    cio__job_list_unlink(&v->held, &j->job);
    v->nout--;
    j->slot = fresh;
    send_job(thief, j, now);
    write_slots(thief, &fresh, 1);
    return true;
}

static void steal_for_idle(cio__pp_pool *p) {
    double now = cio__now();
    for (unsigned i = 0; i < p->nworkers; i++) {
        cio__pp_worker *w = &p->workers[i];
        if (w->fd >= 0 && w->nout == 0 && w->jobs_left && !steal(p, w, now))
            return;
    }
}

/* Queued jobs to workers with room, least loaded first; with the queue
 * empty, idle workers steal. */
static void dispatch(cio__pp_pool *p) {
    int limit = depth(p);
    double t = cio__now();
    cio__pp_worker *w;
    while (p->jobs.queue.head && (w = least_loaded(p, limit))) {
        cio__pp_slot *batch[CIO__PP_PIPELINE];
        int n = 0;
        unsigned share = (unsigned)(limit - w->nout);
        share = share < w->jobs_left ? share : w->jobs_left;
        while (p->jobs.queue.head && (unsigned)n < share) {
            cio__pp_job *j = cio__pp_job_of(cio__jobs_take(&p->jobs));
            send_job(w, j, t);
            batch[n++] = j->slot;
        }
        write_slots(w, batch, n);
    }
    p->steal_at = 0;
    if (!p->jobs.queue.head)
        steal_for_idle(p);
}

/* A reply for a slot stolen from w: w has passed it (skipping it) and
 * never looks at it again, so it is freed. Anything else not at the head
 * would mean a confused channel: ignored, the worker's death will tell. */
static void stolen_passed(cio__pp_worker *w, cio__pp_slot *s) {
    for (unsigned i = 0; i < w->nstolen; i++)
        if (w->stolen[i] == s) {
            w->stolen[i] = w->stolen[--w->nstolen];
            cio_shm_free(s);
            return;
        }
}

static void reply(cio__pp_pool *p, cio__pp_worker *w, cio__pp_slot *s) {
    cio__pp_job *j = cio__pp_job_of(w->held.head);
    if (!j || j->slot != s) {
        stolen_passed(w, s);
        return;
    }
    cio__job_list_unlink(&w->held, &j->job);
    w->nout--;
    w->replies++;
    p->spawn_fails = 0; /* workers do run jobs */
    /* Run time: since it was sent, or since the job before it came back. */
    double t = cio__now(), start = j->sent > w->last_reply ? j->sent : w->last_reply;
    w->last_reply = t;
    double run = t - start;
    p->job_time = p->job_time > 0 ? p->job_time + JOB_TIME_WEIGHT * (run - p->job_time) : run;
    complete(p, j, 0);
}

/* 0 when the channel reached EOF (the worker is gone). */
static int read_replies(cio__pp_pool *p, cio__pp_worker *w) {
    char buf[CIO__PP_PIPELINE * sizeof(void *)];
    ssize_t n = read(w->fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 1;
    if (n <= 0)
        return 0;
    for (ssize_t i = 0; i < n; i++) {
        w->rbuf[w->partial++] = buf[i];
        if (w->partial == sizeof w->rbuf) {
            cio__pp_slot *s;
            memcpy(&s, w->rbuf, sizeof s);
            w->partial = 0;
            reply(p, w, s);
        }
    }
    return 1;
}

static bool any_worker(const cio__pp_pool *p) {
    for (unsigned i = 0; i < p->nworkers; i++)
        if (p->workers[i].fd >= 0)
            return true;
    return false;
}

/* With no worker alive and none to be had, waiting would be a hang: the
 * queued jobs fail instead. Jobs submitted later try again. */
static void fail_queued(cio__pp_pool *p, int err) {
    if (p->jobs.queue.head)
        CIO__DEBUG(p, "process pool: no worker can be started (%s); failing the queued jobs",
                   cio_strerror(err));
    while (p->jobs.queue.head)
        complete(p, cio__pp_job_of(cio__jobs_take(&p->jobs)), err);
}

/* A fork failed, or a worker died before running anything (its initializer
 * crashed, say): ask again after a growing pause, not in a tight loop. */
static void spawn_failed(cio__pp_pool *p, int err) {
    p->spawn_fails++;
    unsigned shift = p->spawn_fails < BACKOFF_MAX_SHIFT ? p->spawn_fails : BACKOFF_MAX_SHIFT;
    p->spawn_at = cio__now() + BACKOFF_BASE * (1u << shift);
    if (p->spawn_fails >= CIO__PP_SPAWN_TRIES && !any_worker(p))
        fail_queued(p, err);
}

void cio__pp_worker_init(const cio__pp_pool *p, cio__pp_worker *w, pid_t pid, int fd, int pidfd) {
    unsigned budget = p->cfg.max_jobs ? p->cfg.max_jobs : UINT_MAX;
    *w = (cio__pp_worker){.pid = pid, .fd = fd, .pidfd = pidfd, .jobs_left = budget};
}

void cio__pp_worker_close(cio__pp_worker *w) {
    while (w->nstolen) /* the process is gone, or past them (see busy) */
        cio_shm_free(w->stolen[--w->nstolen]);
    if (w->fd >= 0)
        close(w->fd);
    if (w->pidfd >= 0)
        close(w->pidfd);
    w->fd = w->pidfd = -1;
    w->partial = 0;
}

/* A job that was running when its worker died ends once the fork server
 * has reported that death (so debug mode has named the signal before the
 * job's future fails), or at once when the report is in already. */
static void bury(cio__pp_pool *p, cio__pp_job *j, bool reported) {
    int err = j->job.cancelled ? -ECANCELED : CIO_EWORKER;
    if (reported || p->ctl < 0) {
        complete(p, j, err);
        return;
    }
    j->worker = NULL; /* a late cancel must not kill the next process in its place */
    j->job.next = p->dying;
    p->dying = &j->job;
}

/* The server reported pid's end (pid 0: the server is gone, every one). */
static void end_dying(cio__pp_pool *p, pid_t pid) {
    for (cio__job **jp = &p->dying; *jp;) {
        cio__pp_job *j = cio__pp_job_of(*jp);
        if (pid && j->grave != pid) {
            jp = &j->job.next;
            continue;
        }
        *jp = j->job.next;
        complete(p, j, j->job.cancelled ? -ECANCELED : CIO_EWORKER);
    }
}

/* A worker is gone: each of its jobs ends as its slot says. reported: the
 * server's report of its death is in. */
static void worker_died(cio__pp_pool *p, cio__pp_worker *w, bool reported) {
    pid_t pid = w->pid;
    cio__pp_worker_close(w);
    bool started = w->replies > 0;
    cio__job_list unstarted = {0};
    while (w->held.head) {
        cio__pp_job *j = cio__pp_job_of(w->held.head);
        cio__job_list_unlink(&w->held, &j->job);
        int st = atomic_load(&j->slot->state);
        started |= st == CIO__PP_SLOT_RUNNING || st == CIO__PP_SLOT_DONE;
        if (st == CIO__PP_SLOT_DONE) {
            complete(p, j, 0);
        } else if (st == CIO__PP_SLOT_RUNNING || j->job.cancelled) {
            j->grave = pid;
            bury(p, j, reported);
        } else {
            j->worker = NULL;
            cio__job_list_append(&unstarted, &j->job);
        }
    }
    w->nout = 0;
    cio__jobs_requeue_front(&p->jobs, &unstarted); /* in their order: they never started */
    p->want++; /* asked for only while there is work (see ask_for_workers) */
    if (!started)
        spawn_failed(p, CIO_EWORKER);
}

static void adopt(cio__pp_pool *p, pid_t pid, int fd, int pidfd) {
    for (unsigned i = 0; i < p->nworkers; i++)
        if (p->workers[i].fd < 0 && !p->workers[i].held.head) {
            cio__pp_worker_init(p, &p->workers[i], pid, fd, pidfd);
            return;
        }
    cio__pp_worker spare;
    cio__pp_worker_init(p, &spare, pid, fd, pidfd);
    cio__pp_worker_close(&spare); /* no place for it: a closed channel makes it exit */
}

/* The server reaped pid: debug mode says how it ended, then the jobs it
 * was running end (its channel's EOF may not have been seen yet). */
static void worker_reaped(cio__pp_pool *p, pid_t pid, int status) {
    if (WIFSIGNALED(status))
        CIO__DEBUG(p, "process pool: worker %d died from signal %d (%s)", (int)pid,
                   WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (WEXITSTATUS(status))
        CIO__DEBUG(p, "process pool: worker %d exited with status %d", (int)pid,
                   WEXITSTATUS(status));
    for (unsigned i = 0; i < p->nworkers; i++)
        if (p->workers[i].fd >= 0 && p->workers[i].pid == pid)
            worker_died(p, &p->workers[i], true);
    end_dying(p, pid);
}

static void control_message(cio__pp_pool *p) {
    cio__fs_msg m;
    int fd = -1, pidfd = -1;
    if (cio__fork_server_recv(p->ctl, &m, &fd, &pidfd) <= 0) {
        close(p->ctl);
        p->ctl = -1; /* the server is gone: no more replacements */
        p->want = 0;
        end_dying(p, 0);
        if (!any_worker(p))
            fail_queued(p, CIO_EWORKER);
        return;
    }
    if (m.type == CIO__FS_SPAWNED) {
        adopt(p, m.pid, fd, pidfd);
    } else if (m.type == CIO__FS_FAILED) {
        p->want++;
        spawn_failed(p, m.status > 0 ? -m.status : -EAGAIN);
    } else if (m.type == CIO__FS_DIED) {
        worker_reaped(p, m.pid, m.status);
    }
}

/* Replacements are asked for once their backoff has passed. Returns the
 * time to come back for the rest (0: nothing to wait for). */
static double ask_for_workers(cio__pp_pool *p) {
    if (!p->want || p->ctl < 0 || (p->stopping && !p->jobs.queue.head))
        return 0;
    if (p->spawn_at > cio__now())
        return p->spawn_at;
    if (cio__pp_ask_spawn(p, p->want) == 0)
        p->want = 0;
    return 0;
}

/* How long poll may sleep: until the earlier of two deadlines (0: none);
 * NULL when there is none at all. */
static struct timespec *until(double a, double b, struct timespec *ts) {
    double when = !a ? b : !b ? a : a < b ? a : b;
    if (!when)
        return NULL;
    double d = when - cio__now();
    d = d > 0 ? d : 0;
    ts->tv_sec = (time_t)d;
    ts->tv_nsec = (long)((d - (double)ts->tv_sec) * 1e9);
    return ts;
}

static bool busy(const cio__pp_pool *p) {
    if (p->jobs.queue.head || p->dying)
        return true;
    for (unsigned i = 0; i < p->nworkers; i++)
        if (p->workers[i].held.head || p->workers[i].nstolen)
            return true; /* a stolen slot is freed only once its old worker passed it */
    return false;
}

/* One poll() and what it reported. */
static void wait_and_handle(cio__pp_pool *p) {
    struct pollfd fds[FD_WORKERS + CIO__PP_MAX_WORKERS];
    unsigned n = 0;
    struct timespec ts;
    /* steal_at: a worker is idle while another may be stuck, look again then */
    struct timespec *timeout = until(ask_for_workers(p), p->steal_at, &ts);
    fds[n++] = (struct pollfd){.fd = p->wake, .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = p->ctl, .events = POLLIN};
    for (unsigned i = 0; i < p->nworkers; i++)
        fds[n++] = (struct pollfd){.fd = p->workers[i].fd, .events = POLLIN};
    pthread_mutex_unlock(&p->jobs.mu);
    int r = ppoll(fds, n, timeout, NULL);
    pthread_mutex_lock(&p->jobs.mu);
    if (r <= 0)
        return;
    uint64_t v;
    if (fds[FD_WAKE].revents && read(p->wake, &v, sizeof v) < 0)
        v = 0; /* a spurious wakeup: nothing to do */
    if (fds[FD_CTL].revents && p->ctl >= 0)
        control_message(p);
    for (unsigned i = 0; i < p->nworkers; i++) {
        cio__pp_worker *w = &p->workers[i];
        short ev = fds[FD_WORKERS + i].revents;
        if (w->fd < 0 || w->fd != fds[FD_WORKERS + i].fd || !ev)
            continue;
        if (!read_replies(p, w) || (ev & (POLLHUP | POLLERR) && !(ev & POLLIN)))
            worker_died(p, w, false);
    }
}

void cio__pp_io_main(cio__pp_pool *p) {
    pthread_mutex_lock(&p->jobs.mu);
    for (;;) {
        dispatch(p);
        if (p->stopping && !busy(p))
            break;
        if (!any_worker(p) && p->ctl < 0)
            fail_queued(p, CIO_EWORKER);
        wait_and_handle(p);
    }
    /* Done: closing the channels makes the workers exit, closing the
     * control socket makes the server reap them and exit. */
    for (unsigned i = 0; i < p->nworkers; i++)
        cio__pp_worker_close(&p->workers[i]);
    if (p->ctl >= 0)
        close(p->ctl);
    p->ctl = -1;
    pthread_mutex_unlock(&p->jobs.mu);
    int st;
    while (waitpid(p->server, &st, 0) < 0 && errno == EINTR)
        ;
}
