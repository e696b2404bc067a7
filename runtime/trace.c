/* CIO_TRACE's writer. Events are recorded raw (a few words each, ticks
 * unconverted) into a fixed buffer; when it fills, and when the loop
 * closes, they are formatted into the file through a large stdio buffer:
 * no syscall per event, bounded memory. Every event is complete ("X", with
 * its duration) or metadata ("M"), so no begin lacks its end. */
#include "trace.h"

#include "debug.h"
#include "executor.h"
#include "symbol.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { EV_STEP, EV_WAIT, EV_TASK, EV_POLL, EV_JOB };

typedef struct ev {
    uint8_t type;
    int8_t kind, op;
    long worker;
    uint64_t a, b; /* start, end: ticks (a job's: CLOCK_MONOTONIC ns) */
    uint64_t task; /* a job's: its submission time */
    void *ptr;     /* the row (step, task), the function (job) */
    const char *executor;
} ev;

#define EVENTS 8192           /* 384 KiB of raw events */
#define FILE_BUFFER (1 << 20) /* the file is written a MiB at a time */
#define WORKERS 256           /* worker tracks named (more are drawn unnamed) */
#define TASK_TID 1000000      /* a task's track: TASK_TID + its id */
#define WORKER_TID 2000000    /* a thread pool worker's: WORKER_TID + its index */

struct cio__trace {
    FILE *f;
    char *fbuf;
    cio__prof *p;
    int err;
    long pid, tid;
    size_t n;
    struct {
        const char *executor;
        long worker;
    } seen[WORKERS];
    size_t nseen;
    ev evs[EVENTS];
};

static const char *const kind_names[CIO__WAIT_KINDS] = {"awaiting", "I/O", "sleeping", "sync",
                                                        "executor"};
static const char *const op_names[CIO__OP_COUNT] = {
    "nop",     "read",    "write",  "readv",    "writev",   "recv",   "send",
    "recvmsg", "sendmsg", "accept", "connect",  "shutdown", "poll",   "openat",
    "close",   "fsync",   "statx",  "unlinkat", "renameat", "mkdirat"};

static void put_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* Microseconds since the loop opened (the format's unit). */
static double us(cio__trace *tr, uint64_t ns) {
    return ns > tr->p->ns0 ? (double)(ns - tr->p->ns0) / 1000.0 : 0;
}

static void put_x(cio__trace *tr, const char *name, const char *cat, long pid, long tid,
                  uint64_t start_ns, uint64_t end_ns) {
    double ts = us(tr, start_ns), end = us(tr, end_ns);
    fprintf(tr->f,
            ",\n{\"ph\":\"X\",\"cat\":\"%s\",\"pid\":%ld,\"tid\":%ld,\"ts\":%.3f,\"dur\":%.3f,"
            "\"name\":",
            cat, pid, tid, ts, end > ts ? end - ts : 0);
    put_string(tr->f, name);
}

static void put_meta(cio__trace *tr, const char *what, long pid, long tid, const char *name,
                     long sort) {
    fprintf(tr->f,
            ",\n{\"ph\":\"M\",\"pid\":%ld,\"tid\":%ld,\"name\":\"%s\",\"args\":{\"name\":", pid,
            tid, what);
    put_string(tr->f, name);
    fprintf(tr->f, "}}");
    if (sort >= 0)
        fprintf(tr->f,
                ",\n{\"ph\":\"M\",\"pid\":%ld,\"tid\":%ld,\"name\":\"thread_sort_index\","
                "\"args\":{\"sort_index\":%ld}}",
                pid, tid, sort);
}

/* A process pool's worker is a process (its track: its pid); a thread
 * pool's is a thread of ours (its track: its index). */
static bool worker_is_process(const char *executor) {
    return strstr(executor, "process") != NULL;
}

static void name_worker(cio__trace *tr, const char *executor, long worker, long pid, long tid) {
    for (size_t i = 0; i < tr->nseen; i++)
        if (tr->seen[i].worker == worker && strcmp(tr->seen[i].executor, executor) == 0)
            return;
    if (tr->nseen == WORKERS)
        return;
    tr->seen[tr->nseen].executor = executor;
    tr->seen[tr->nseen++].worker = worker;
    char name[96];
    snprintf(name, sizeof name, "%s worker %ld", executor, worker);
    if (pid != tr->pid)
        put_meta(tr, "process_name", pid, tid, name, -1);
    put_meta(tr, "thread_name", pid, tid, name, WORKER_TID + worker);
}

static void put_job(cio__trace *tr, const ev *e) {
    const char *executor = e->executor ? e->executor : "executor";
    bool process = worker_is_process(executor);
    long pid = process ? e->worker : tr->pid;
    long tid = process ? e->worker : WORKER_TID + e->worker;
    name_worker(tr, executor, e->worker, pid, tid);
    char sym[CIO__TASK_NAME_MAX];
    cio__symbol_name(e->ptr, sym, sizeof sym);
    put_x(tr, sym, "job", pid, tid, e->a, e->b);
    fprintf(tr->f, ",\"args\":{\"executor\":");
    put_string(tr->f, executor);
    fprintf(tr->f, ",\"queued_ms\":%.3f}}", e->task && e->a > e->task ? (e->a - e->task) / 1e6 : 0);
}

static void put_event(cio__trace *tr, const ev *e) {
    cio__prof *p = tr->p;
    const char *row = e->ptr ? cio__prof_row_name(e->ptr) : "?";
    char name[CIO__TASK_NAME_MAX + 32];
    switch (e->type) {
    case EV_STEP:
        put_x(tr, row, "step", tr->pid, tr->tid, cio__prof_ns(p, e->a), cio__prof_ns(p, e->b));
        fprintf(tr->f, ",\"args\":{\"task\":%llu}}", (unsigned long long)e->task);
        break;
    case EV_WAIT:
        snprintf(name, sizeof name, "%s%s%s", kind_names[e->kind], e->op >= 0 ? " " : "",
                 e->op >= 0 && e->op < CIO__OP_COUNT ? op_names[e->op] : "");
        put_x(tr, name, "wait", tr->pid, TASK_TID + (long)e->task, cio__prof_ns(p, e->a),
              cio__prof_ns(p, e->b));
        fprintf(tr->f, "}");
        break;
    case EV_TASK:
        snprintf(name, sizeof name, "task %llu: %s", (unsigned long long)e->task, row);
        put_meta(tr, "thread_name", tr->pid, TASK_TID + (long)e->task, name,
                 TASK_TID + (long)e->task);
        break;
    case EV_POLL:
        put_x(tr, "asleep", "loop", tr->pid, tr->tid, cio__prof_ns(p, e->a), cio__prof_ns(p, e->b));
        fprintf(tr->f, "}");
        break;
    case EV_JOB:
        put_job(tr, e);
        break;
    }
}

static void flush_events(cio__trace *tr) {
    for (size_t i = 0; i < tr->n; i++)
        put_event(tr, &tr->evs[i]);
    tr->n = 0;
    if (ferror(tr->f) && !tr->err)
        tr->err = -EIO;
}

static ev *next_event(cio__trace *tr, int type) {
    if (tr->n == EVENTS)
        flush_events(tr);
    ev *e = &tr->evs[tr->n++];
    e->type = (uint8_t)type;
    return e;
}

cio__trace *cio__trace_open(const char *path, cio__prof *p, const char *backend) {
    cio__trace *tr = calloc(1, sizeof *tr);
    if (!tr)
        return NULL;
    tr->f = fopen(path, "we");
    tr->fbuf = malloc(FILE_BUFFER);
    if (!tr->f || !tr->fbuf || setvbuf(tr->f, tr->fbuf, _IOFBF, FILE_BUFFER) != 0) {
        int e = tr->f && !tr->fbuf ? ENOMEM : errno;
        if (tr->f)
            fclose(tr->f);
        free(tr->fbuf);
        free(tr);
        errno = e;
        return NULL;
    }
    tr->p = p;
    tr->pid = getpid();
    tr->tid = (long)syscall(SYS_gettid);
    char name[64];
    snprintf(name, sizeof name, "cio loop (%s)", backend);
    fprintf(tr->f, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n");
    fprintf(tr->f,
            "{\"ph\":\"M\",\"pid\":%ld,\"tid\":%ld,\"name\":\"process_name\","
            "\"args\":{\"name\":\"cio\"}}",
            tr->pid, tr->tid);
    put_meta(tr, "thread_name", tr->pid, tr->tid, name, 0);
    return tr;
}

void cio__trace_step(cio__trace *tr, cio__prof_row *row, uint64_t task, uint64_t start,
                     uint64_t end) {
    ev *e = next_event(tr, EV_STEP);
    e->ptr = row;
    e->task = task;
    e->a = start;
    e->b = end;
}

void cio__trace_wait(cio__trace *tr, uint64_t task, int kind, int op, uint64_t start,
                     uint64_t end) {
    ev *e = next_event(tr, EV_WAIT);
    e->task = task;
    e->kind = (int8_t)kind;
    e->op = (int8_t)op;
    e->a = start;
    e->b = end;
}

void cio__trace_task(cio__trace *tr, cio__prof_row *row, uint64_t task) {
    ev *e = next_event(tr, EV_TASK);
    e->ptr = row;
    e->task = task;
}

void cio__trace_poll(cio__trace *tr, uint64_t start, uint64_t end) {
    ev *e = next_event(tr, EV_POLL);
    e->a = start;
    e->b = end;
}

void cio__trace_job(cio__trace *tr, const cio__job_times *j) {
    if (!j->started_ns || j->ended_ns < j->started_ns)
        return; /* a job that never ran has nothing to draw */
    ev *e = next_event(tr, EV_JOB);
    e->ptr = (void *)(uintptr_t)j->fn;
    e->executor = j->executor;
    e->worker = j->worker;
    e->task = j->submitted_ns;
    e->a = j->started_ns;
    e->b = j->ended_ns;
}

int cio__trace_close(cio__trace *tr) {
    flush_events(tr);
    fprintf(tr->f, "\n]}\n");
    int r = tr->err;
    if (fclose(tr->f) != 0 && !r)
        r = -errno;
    free(tr->fbuf);
    free(tr);
    return r;
}
