/* CIO_PROFILE's table: one row per task name, the executors' jobs, the
 * loop's utilisation, and a line of advice per heavy row (the seeds'
 * question: is this work I/O-bound or CPU-bound?). */
#include "profile.h"

#include "debug.h"
#include "loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct line {
    char name[CIO__TASK_NAME_MAX];
    uint64_t tasks, steps;
    double cpu, blocked, preempted, longest, wait[CIO__WAIT_KINDS]; /* seconds */
} line;

/* The time a row accounts for itself (awaiting another task is that task's). */
static double own(const line *l) {
    return l->cpu + l->wait[CIO__WAIT_IO] + l->wait[CIO__WAIT_SLEEP] + l->wait[CIO__WAIT_SYNC] +
           l->wait[CIO__WAIT_EXEC];
}

static int by_own_time(const void *a, const void *b) {
    double x = own(a), y = own(b);
    return x < y ? 1 : x > y ? -1 : strcmp(((const line *)a)->name, ((const line *)b)->name);
}

static void add(line *to, const cio__prof_row *r, cio__prof *p) {
    to->tasks += r->tasks;
    to->steps += r->steps;
    to->cpu += cio__prof_secs(p, r->cpu);
    to->blocked += cio__prof_secs(p, r->blocked);
    to->preempted += cio__prof_secs(p, r->preempted);
    double longest = cio__prof_secs(p, r->longest);
    if (longest > to->longest)
        to->longest = longest;
    for (int k = 0; k < CIO__WAIT_KINDS; k++)
        to->wait[k] += cio__prof_secs(p, r->wait[k]);
}

/* Rows of the same display name summed (a named row and an unnamed one of
 * a function so named meet here). *n gets the count. */
static line *collect(cio__prof *p, size_t *n) {
    size_t cap = 0;
    for (size_t i = 0; i < CIO__PROF_BUCKETS; i++)
        for (cio__prof_row *r = p->rows[i]; r; r = r->next)
            cap++;
    line *ls = calloc(cap ? cap : 1, sizeof *ls);
    if (!ls)
        return NULL;
    *n = 0;
    for (size_t i = 0; i < CIO__PROF_BUCKETS; i++)
        for (cio__prof_row *r = p->rows[i]; r; r = r->next) {
            const char *name = cio__prof_row_name(r);
            size_t j = 0;
            while (j < *n && strcmp(ls[j].name, name) != 0)
                j++;
            if (j == *n) {
                snprintf(ls[j].name, sizeof ls[j].name, "%s", name);
                (*n)++;
            }
            add(&ls[j], r, p);
        }
    qsort(ls, *n, sizeof *ls, by_own_time);
    return ls;
}

/* A duration in a 9-character column. */
static const char *dur(double s, char buf[16]) {
    if (s <= 0)
        snprintf(buf, 16, "%9s", "-");
    else if (s >= 1)
        snprintf(buf, 16, "%7.3f s", s);
    else if (s >= 1e-3)
        snprintf(buf, 16, "%6.1f ms", s * 1e3);
    else
        snprintf(buf, 16, "%6.1f us", s * 1e6);
    return buf;
}

static void print_rows(FILE *f, const line *ls, size_t n) {
    fprintf(f, "%-24s %6s %8s %9s %9s %9s %9s %9s %9s %9s %9s\n", "task", "tasks", "steps",
            "on loop", "blocked", "longest", "I/O", "sleeping", "sync", "executor", "awaiting");
    for (size_t i = 0; i < n; i++) {
        const line *l = &ls[i];
        char b[8][16];
        fprintf(f, "%-24.24s %6llu %8llu %s %s %s %s %s %s %s %s\n", l->name,
                (unsigned long long)l->tasks, (unsigned long long)l->steps, dur(l->cpu, b[0]),
                dur(l->blocked, b[7]), dur(l->longest, b[1]), dur(l->wait[CIO__WAIT_IO], b[2]),
                dur(l->wait[CIO__WAIT_SLEEP], b[3]), dur(l->wait[CIO__WAIT_SYNC], b[4]),
                dur(l->wait[CIO__WAIT_EXEC], b[5]), dur(l->wait[CIO__WAIT_AWAIT], b[6]));
    }
}

static void print_execs(FILE *f, const cio__prof *p) {
    if (!p->execs)
        return;
    fprintf(f, "%-24s %6s %9s %9s %9s\n", "executor", "jobs", "queued", "running", "longest");
    for (const cio__prof_exec *e = p->execs; e; e = e->next) {
        char b[3][16];
        fprintf(f, "%-24.24s %6llu %s %s %s\n", e->name, (unsigned long long)e->jobs,
                dur((double)e->queued * 1e-9, b[0]), dur((double)e->running * 1e-9, b[1]),
                dur((double)e->longest * 1e-9, b[2]));
    }
}

/* Heavy: a tenth of the loop thread's CPU time in CPU work, or a tenth of
 * the run's wall time in blocking calls (at least this much either way), or
 * a fifth of it in waits. */
#define HEAVY_CPU 0.04

/* CPU-bound steps are this long on average (a long step among a million
 * short ones is a preemption or a one-off, not the task's nature). */
#define TYPICAL_STEP 0.001

/* A step this long keeps every other task (and every I/O completion) waiting. */
#define BLOCKING_STEP 0.010

/* "2.1 s", "180 ms", "0.4 ms": a duration in a sentence. */
static const char *said(double s, char buf[24]) {
    if (s >= 1)
        snprintf(buf, 24, "%.3g s", s);
    else
        snprintf(buf, 24, "%.3g ms", s * 1e3);
    return buf;
}

/* wall: the run's seconds; cpu: the loop thread's CPU seconds in them (on
 * a loaded machine far fewer: CPU work is weighed against it). */
static void advise(FILE *f, const line *l, double wall, double cpu, double busy) {
    double total = own(l), io = l->wait[CIO__WAIT_IO] + l->wait[CIO__WAIT_SLEEP];
    double pct = 100.0 / total;
    char a[24], b[24];
    /* Time on the loop is what hurts the other tasks: it is named first. */
    double work = l->cpu - l->blocked - l->preempted; /* on the CPU */
    bool blocking = l->blocked >= wall / 10 && l->blocked >= HEAVY_CPU;
    bool on_loop = work >= cpu / 10 && work >= HEAVY_CPU;
    if (blocking && l->blocked >= work)
        fprintf(f,
                "  `%s` held the loop for %s in blocking calls (steps of up to %s, off the "
                "CPU): every other task waited — use cio's own calls, or cio_to_thread for a "
                "call that must block\n",
                l->name, said(l->blocked, a), said(l->longest, b));
    else if (on_loop && l->longest >= BLOCKING_STEP && l->longest >= 0.8 * l->cpu)
        fprintf(f,
                "  `%s` held the loop for %s in one step of CPU work: the others waited "
                "meanwhile (CIO_DEBUG=1 names slow steps as they happen)\n",
                l->name, said(l->longest, a));
    else if (on_loop && l->longest >= BLOCKING_STEP && work / (double)l->steps >= TYPICAL_STEP)
        fprintf(f,
                "  `%s` spent %s on the loop in steps of up to %s: CPU-bound work blocks the "
                "loop — run it in a process pool (cio_process_pool_new)\n",
                l->name, said(l->cpu, a), said(l->longest, b));
    else if (on_loop && l->cpu >= total / 2)
        fprintf(f,
                "  `%s` spent %s on the loop in short steps (at most %s): it yields often, so "
                "it shares the loop (which was %.0f%% busy)\n",
                l->name, said(l->cpu, a), said(l->longest, b), busy * 100);
    else if (io >= total / 2)
        fprintf(f,
                "  `%s` spent %.0f%% waiting on I/O or timers: I/O-bound, tasks are the right "
                "tool\n",
                l->name, io * pct);
    else if (l->wait[CIO__WAIT_EXEC] >= total / 2)
        fprintf(f,
                "  `%s` spent %.0f%% waiting on executor jobs: its work runs in the pool: fine\n",
                l->name, l->wait[CIO__WAIT_EXEC] * pct);
    else if (l->wait[CIO__WAIT_SYNC] >= total / 2)
        fprintf(f,
                "  `%s` spent %.0f%% waiting on locks, queues or events: contention, not work "
                "(look at who holds them)\n",
                l->name, l->wait[CIO__WAIT_SYNC] * pct);
}

static void print_advice(FILE *f, const line *ls, size_t n, double wall, double cpu, double busy) {
    int shown = 0;
    for (size_t i = 0; i < n && shown < 8; i++) {
        double work = ls[i].cpu - ls[i].blocked - ls[i].preempted;
        if (!((work >= cpu / 10 && work >= HEAVY_CPU) ||
              (ls[i].blocked >= wall / 10 && ls[i].blocked >= HEAVY_CPU) ||
              own(&ls[i]) - ls[i].cpu >= wall / 5))
            continue;
        if (!shown++)
            fprintf(f, "advice:\n");
        advise(f, &ls[i], wall, cpu, busy);
    }
}

static int write_all(int fd, const char *s, size_t n) {
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

int cio__prof_report(cio_loop *loop, int fd) {
    cio__prof *p = loop->prof;
    size_t n = 0, size = 0;
    char *text = NULL;
    line *ls = collect(p, &n);
    FILE *f = ls ? open_memstream(&text, &size) : NULL;
    if (!f) {
        free(ls);
        return -ENOMEM;
    }
    uint64_t cpu_ns, vcsw;
    cio__prof_thread_usage(&cpu_ns, &vcsw);
    double wall = (double)(cio__prof_mono_ns() - p->ns0) * 1e-9;
    double cpu = cpu_ns > p->thread_cpu0 ? (double)(cpu_ns - p->thread_cpu0) * 1e-9 : wall;
    double asleep = cio__prof_secs(p, p->asleep), busy = wall > 0 ? 1 - asleep / wall : 0;
    fprintf(f,
            "cio profile (%s): %.3f s, loop busy %.3f s (%.0f%%), asleep %.3f s, its thread's "
            "CPU %.3f s; steps timed with %s\n",
            loop->backend ? loop->backend->ops->name : "closed", wall, wall - asleep, busy * 100,
            asleep, cpu,
#if defined(__x86_64__)
            "rdtsc"
#else
            "clock_gettime(CLOCK_MONOTONIC)"
#endif
    );
    print_rows(f, ls, n);
    print_execs(f, p);
    print_advice(f, ls, n, wall, cpu, busy);
    int r = fclose(f) == 0 ? write_all(fd, text, size) : -ENOMEM;
    free(text);
    free(ls);
    return r;
}
