/* The profiler's accounting: per task name, the steps a task ran on the
 * loop and the time it spent parked, by what it waited for; per executor,
 * its jobs' queue and run times; the loop's sleep in the backend.
 *
 * One clock read per step: a step runs from the end of the previous one (or
 * the loop's last wake-up) to the task's switch back, so the loop's own
 * dispatch between two steps is charged to the second. */
#include "profile.h"

#include "backend.h"
#include "debug.h"
#include "executor.h"
#include "loop.h"
#include "symbol.h"
#include "task.h"
#include "trace.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

uint64_t cio__prof_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A simultaneous reading of both clocks: the tightest of a few ticks-ns-ticks
 * brackets (a bracket that the thread was preempted inside is wide, and
 * would skew the rate on a loaded machine). */
static void clock_pair(uint64_t *ticks, uint64_t *ns) {
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 8; i++) {
        uint64_t a = cio__prof_ticks(), n = cio__prof_mono_ns(), b = cio__prof_ticks();
        if (b - a < best) {
            best = b - a;
            *ticks = a + (b - a) / 2;
            *ns = n;
        }
    }
}

/* The TSC's rate, measured over everything since the loop opened (at least
 * a millisecond: a shorter run waits for it once). */
static void calibrate(cio__prof *p) {
    uint64_t t = 0, n = 0;
    do
        clock_pair(&t, &n);
    while (n - p->ns0 < 1000000 || t == p->tick0);
    p->ns_per_tick = (double)(n - p->ns0) / (double)(t - p->tick0);
}

uint64_t cio__prof_ns(cio__prof *p, uint64_t ticks) {
    if (ticks < p->tick0)
        return p->ns0;
    return p->ns0 + (uint64_t)((double)(ticks - p->tick0) * p->ns_per_tick);
}

double cio__prof_secs(cio__prof *p, uint64_t ticks) {
    return (double)ticks * p->ns_per_tick * 1e-9;
}

static bool env_on(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

static void observe_job(cio_loop *loop, const cio__job_times *j);
#define thread_usage cio__prof_thread_usage

static void install_observer(void) {
    cio__job_observer = observe_job;
}

/* Loops tracing at once (cio_run_threads) write beside each other: the
 * second open one to "path.1", and so on. */
static _Atomic int traces_open;

static void open_trace(cio__prof *p, const char *path, const char *backend) {
    int nth = atomic_fetch_add(&traces_open, 1);
    char numbered[4096];
    if (nth > 0 && snprintf(numbered, sizeof numbered, "%s.%d", path, nth) < (int)sizeof numbered)
        path = numbered;
    if (!(p->trace = cio__trace_open(path, p, backend))) {
        atomic_fetch_sub(&traces_open, 1);
        cio_log(CIO_LOG_WARNING, "cio: CIO_TRACE: cannot write %s: %s", path, strerror(errno));
    }
}

void cio__prof_open(cio_loop *loop) {
    bool report = loop->opts.profile || env_on("CIO_PROFILE");
    const char *path = loop->opts.trace_path;
    if (!path || !*path)
        path = getenv("CIO_TRACE");
    if (!report && !(path && *path))
        return;
    cio__prof *p = calloc(1, sizeof *p);
    if (!p) {
        cio_log(CIO_LOG_WARNING, "cio: profiling off: out of memory");
        return;
    }
    p->report = report;
    clock_pair(&p->tick0, &p->ns0);
    p->last = p->tick0;
    p->ns_per_tick = 1.0;
    calibrate(p); /* once, a millisecond: the long-step threshold needs the rate */
    p->long_step = (uint64_t)(1e6 / p->ns_per_tick);
    thread_usage(&p->cpu_mark, &p->vcsw_mark);
    p->thread_cpu0 = p->cpu_mark;
    if (path && *path)
        open_trace(p, path, loop->backend->ops->name);
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install_observer);
    loop->prof = p;
}

static void free_rows(cio__prof *p) {
    for (size_t i = 0; i < CIO__PROF_BUCKETS; i++)
        while (p->rows[i]) {
            cio__prof_row *r = p->rows[i];
            p->rows[i] = r->next;
            free(r->name);
            free(r->label);
            free(r);
        }
    while (p->execs) {
        cio__prof_exec *e = p->execs;
        p->execs = e->next;
        free(e);
    }
}

void cio__prof_close(cio_loop *loop) {
    cio__prof *p = loop->prof;
    calibrate(p);
    if (p->report)
        cio__prof_report(loop, STDERR_FILENO);
    if (p->trace) {
        if (cio__trace_close(p->trace) < 0)
            cio_log(CIO_LOG_WARNING, "cio: CIO_TRACE: the trace could not be written in full");
        atomic_fetch_sub(&traces_open, 1);
    }
    loop->prof = NULL;
    free_rows(p);
    free(p);
}

/* The thread's CPU time and voluntary context switches (a step that made
 * some slept in a blocking call; preemption is involuntary). */
void cio__prof_thread_usage(uint64_t *cpu_ns, uint64_t *vcsw) {
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) < 0) {
        *cpu_ns = *vcsw = 0;
        return;
    }
    *cpu_ns = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u +
              (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
    *vcsw = (uint64_t)ru.ru_nvcsw;
}

void cio__prof_mark(cio_loop *loop) {
    cio__prof *p = loop->prof;
    p->last = cio__prof_ticks();
    thread_usage(&p->cpu_mark, &p->vcsw_mark);
}

/* A long step: did it block? If the thread slept voluntarily since the last
 * mark, the step's time off the CPU was a blocking call's. One getrusage
 * per step of a millisecond or more (and per wake-up from a sleep). */
static void check_blocking(cio__prof *p, cio__prof_row *r, uint64_t took) {
    uint64_t cpu, vcsw;
    thread_usage(&cpu, &vcsw);
    double wall_ns = (double)took * p->ns_per_tick, used = (double)(cpu - p->cpu_mark);
    if (r && used < wall_ns) {
        uint64_t off = (uint64_t)((wall_ns - used) / p->ns_per_tick);
        if (vcsw > p->vcsw_mark)
            r->blocked += off;
        else
            r->preempted += off;
    }
    p->cpu_mark = cpu;
    p->vcsw_mark = vcsw;
}

/* ---- rows ---- */

static size_t hash_key(const void *fn, const char *name) {
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    if (name)
        for (const char *s = name; *s; s++)
            h = (h ^ (unsigned char)*s) * 1099511628211u;
    else
        h = (uint64_t)(uintptr_t)fn * 0x9e3779b97f4a7c15u >> 24;
    return (size_t)(h % CIO__PROF_BUCKETS);
}

static cio__prof_row *find_row(cio__prof *p, const void *fn, const char *name) {
    size_t b = hash_key(fn, name);
    for (cio__prof_row *r = p->rows[b]; r; r = r->next)
        if (name ? r->name && strcmp(r->name, name) == 0 : !r->name && r->fn == fn)
            return r;
    cio__prof_row *r = calloc(1, sizeof *r);
    if (!r || (name && !(r->name = strdup(name)))) {
        free(r);
        return NULL;
    }
    r->fn = name ? NULL : fn;
    r->next = p->rows[b];
    p->rows[b] = r;
    return r;
}

static cio__prof_row *task_row(cio__prof *p, cio__task *t) {
    union {
        cio_fn fn;
        const void *p;
    } fn = {.fn = t->fn};
    /* Spawned tasks come in runs of one function: the last row is likely. */
    cio__prof_row *r = !t->name && p->last_row && p->last_row->fn == fn.p && !p->last_row->name
                           ? p->last_row
                           : find_row(p, fn.p, t->name);
    if (r) {
        p->last_row = r;
        r->tasks++;
        if (p->trace)
            cio__trace_task(p->trace, r, t->id);
    }
    return r;
}

const char *cio__prof_row_name(cio__prof_row *r) {
    if (r->name)
        return r->name;
    if (!r->label) {
        char buf[CIO__TASK_NAME_MAX];
        r->label = strdup(cio__symbol_name(r->fn, buf, sizeof buf));
    }
    return r->label ? r->label : "?";
}

void cio__prof_renamed(cio_loop *loop, cio__task *t) {
    cio__prof_row *old = t->prof_row;
    if (!loop->prof)
        return;
    old->tasks--;
    t->prof_row = task_row(loop->prof, t);
}

/* ---- the hooks ---- */

void cio__prof_resume(cio_loop *loop, cio__task *t) {
    cio__prof *p = loop->prof;
    if (!t->prof_row)
        t->prof_row = task_row(p, t);
    if (!t->prof_park)
        return;
    cio__prof_row *r = t->prof_row;
    uint64_t waited = p->last > t->prof_park ? p->last - t->prof_park : 0;
    if (r)
        r->wait[t->prof_kind] += waited;
    if (p->trace)
        cio__trace_wait(p->trace, t->id, t->prof_kind, t->prof_op, t->prof_park, p->last);
    t->prof_park = 0;
}

static int wait_kind(const cio__task *t) {
    if (t->wait_kind != CIO__WAIT_AWAIT)
        return t->wait_kind;
    return t->awaiting && t->awaiting->is_job ? CIO__WAIT_EXEC : CIO__WAIT_AWAIT;
}

void cio__prof_suspend(cio_loop *loop, cio__task *t) {
    cio__prof *p = loop->prof;
    uint64_t now = cio__prof_ticks(), start = p->last;
    uint64_t took = now > start ? now - start : 0;
    cio__prof_row *r = t->prof_row;
    if (r) {
        r->steps++;
        r->cpu += took;
        if (took >= p->long_step)
            check_blocking(p, r, took);
        if (took > r->longest)
            r->longest = took;
    }
    if (p->trace)
        cio__trace_step(p->trace, r, t->id, start, now);
    p->last = now;
    if (t->tstate == CIO__T_PARKED) {
        t->prof_park = now;
        t->prof_kind = (uint8_t)wait_kind(t);
        t->prof_op = t->prof_kind == CIO__WAIT_IO && t->io_req ? (int8_t)t->io_req->op : -1;
    }
    t->wait_kind = CIO__WAIT_AWAIT;
}

int cio__prof_poll(cio_loop *loop, double timeout) {
    cio__prof *p = loop->prof;
    uint64_t t0 = cio__prof_ticks();
    int r = cio__backend_run(loop->backend, timeout);
    uint64_t t1 = cio__prof_ticks();
    p->asleep += t1 - t0;
    p->last = t1;
    thread_usage(&p->cpu_mark, &p->vcsw_mark);
    if (p->trace)
        cio__trace_poll(p->trace, t0, t1);
    return r;
}

/* ---- executors ---- */

static cio__prof_exec *find_exec(cio__prof *p, const char *name) {
    for (cio__prof_exec *e = p->execs; e; e = e->next)
        if (e->name == name || strcmp(e->name, name) == 0)
            return e;
    cio__prof_exec *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->name = name;
    e->next = p->execs;
    p->execs = e;
    return e;
}

static void observe_job(cio_loop *loop, const cio__job_times *j) {
    cio__prof *p = loop ? loop->prof : NULL;
    if (!p || !j)
        return;
    cio__prof_exec *e = find_exec(p, j->executor ? j->executor : "executor");
    if (e) {
        e->jobs++;
        if (j->started_ns && j->submitted_ns && j->started_ns > j->submitted_ns)
            e->queued += j->started_ns - j->submitted_ns;
        if (j->ended_ns && j->started_ns && j->ended_ns > j->started_ns) {
            uint64_t run = j->ended_ns - j->started_ns;
            e->running += run;
            if (run > e->longest)
                e->longest = run;
        }
    }
    if (p->trace)
        cio__trace_job(p->trace, j);
}

/* ---- the public calls ---- */

int cio_profile_task_stats(cio_loop *loop, const char *name, cio_profile_stats *out) {
    if (!loop || !name || !out)
        return -EINVAL;
    cio__prof *p = loop->prof;
    if (!p)
        return -ENODATA;
    calibrate(p);
    uint64_t tasks = 0, steps = 0, cpu = 0, blocked = 0, longest = 0, wait[CIO__WAIT_KINDS] = {0};
    for (size_t i = 0; i < CIO__PROF_BUCKETS; i++)
        for (cio__prof_row *r = p->rows[i]; r; r = r->next) {
            if (strcmp(cio__prof_row_name(r), name) != 0)
                continue;
            tasks += r->tasks;
            steps += r->steps;
            cpu += r->cpu;
            blocked += r->blocked;
            longest = r->longest > longest ? r->longest : longest;
            for (int k = 0; k < CIO__WAIT_KINDS; k++)
                wait[k] += r->wait[k];
        }
    if (!tasks)
        return -ENOENT;
    *out = (cio_profile_stats){.tasks = tasks,
                               .steps = steps,
                               .cpu = cio__prof_secs(p, cpu),
                               .longest = cio__prof_secs(p, longest),
                               .blocked = cio__prof_secs(p, blocked),
                               .io = cio__prof_secs(p, wait[CIO__WAIT_IO]),
                               .sleeping = cio__prof_secs(p, wait[CIO__WAIT_SLEEP]),
                               .sync = cio__prof_secs(p, wait[CIO__WAIT_SYNC]),
                               .executor = cio__prof_secs(p, wait[CIO__WAIT_EXEC]),
                               .awaiting = cio__prof_secs(p, wait[CIO__WAIT_AWAIT])};
    return 0;
}

int cio_profile_executor_stats(cio_loop *loop, const char *executor, cio_profile_exec_stats *out) {
    if (!loop || !executor || !out)
        return -EINVAL;
    if (!loop->prof)
        return -ENODATA;
    for (cio__prof_exec *e = loop->prof->execs; e; e = e->next)
        if (strcmp(e->name, executor) == 0) {
            *out = (cio_profile_exec_stats){.jobs = e->jobs,
                                            .queued = (double)e->queued * 1e-9,
                                            .running = (double)e->running * 1e-9,
                                            .longest = (double)e->longest * 1e-9};
            return 0;
        }
    return -ENOENT;
}

int cio_profile_print(cio_loop *loop, int fd) {
    if (!loop || fd < 0)
        return -EINVAL;
    if (!loop->prof)
        return -ENODATA;
    calibrate(loop->prof);
    return cio__prof_report(loop, fd);
}

bool cio_profile_enabled(const cio_loop *loop) {
    return loop && loop->prof;
}
