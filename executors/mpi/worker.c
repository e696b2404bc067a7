/* A worker rank: receives jobs from rank 0, runs them one after another in
 * its main thread, and answers with results in order, several short ones per
 * message. It never blocks inside MPI while it waits: it sleeps on its
 * doorbell (bell.h), which rank 0 rings after sending it jobs, so an idle rank
 * leaves the CPU to the busy ones and still starts new jobs at once.
 *
 * A job that crashes the rank: a handler names the job on stderr and the rank
 * dies of the same signal; mpirun / srun then end the whole run. */
#include "bell.h"
#include "wire.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "cio.h"

#define FLUSH_BYTES (64 * 1024) /* results sent once this many bytes wait */
#define FLUSH_COUNT 64          /* ...or this many results */
#define FLUSH_NS 1000000        /* ...or the oldest waited 1 ms */
#define LONG_JOB_NS 50000       /* after a job this long, at once (batching gains nothing) */

typedef struct inmsg {
    int refs;                 /* jobs of it not run yet */
    _Alignas(16) char data[]; /* records are 8-aligned within */
} inmsg;

typedef struct local_job {
    const cio__mpi_wire_job *rec;
    inmsg *msg;
    long long arrived_ns;
} local_job;

typedef struct worker {
    local_job *q; /* ring of received jobs */
    size_t qhead, qlen, qcap;
    char *out; /* results not sent yet */
    size_t out_len, out_cap;
    unsigned out_n;
    long long oldest_ns;
    long long last_run_ns;
    /* Since when it has been ready to see a message: the start of the job
     * it runs, or the end of its last wait. A message it finds came after
     * that (at best): the time before is the transport's, after it this
     * rank's (rank 0 tells the two apart to size its windows). */
    long long ready_ns;
    bool stop;
} worker;

/* What the crash handler names. */
static volatile sig_atomic_t crash_rank;
static void *volatile crash_fn;
static volatile uint64_t crash_off;

static long long now_ns(void) {
    return cio__mpi_now_ns();
}

/* ---- crashes ---- */

static void on_crash(int sig) {
    char msg[512];
    Dl_info info = {0};
    const char *name = NULL;
    if (crash_fn && dladdr(crash_fn, &info) && info.dli_sname)
        name = info.dli_sname;
    int n;
    if (!crash_fn)
        n = snprintf(msg, sizeof msg, "cio-mpi: rank %d crashed outside a job (%s)\n",
                     (int)crash_rank, strsignal(sig));
    else if (name)
        n = snprintf(msg, sizeof msg, "cio-mpi: rank %d: job %s crashed (%s); the run ends\n",
                     (int)crash_rank, name, strsignal(sig));
    else
        n = snprintf(msg, sizeof msg,
                     "cio-mpi: rank %d: job at offset 0x%llx of the executable crashed (%s); "
                     "the run ends\n",
                     (int)crash_rank, (unsigned long long)crash_off, strsignal(sig));
    if (n > 0 && write(STDERR_FILENO, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg) < 0)
        n = 0;
    signal(sig, SIG_DFL);
    raise(sig);
}

static void crash_handlers(int rank) {
    static char alt[64 * 1024]; /* a stack overflow still gets its message */
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
    sigaltstack(&ss, NULL);
    crash_rank = rank;
    struct sigaction sa = {.sa_handler = on_crash, .sa_flags = SA_ONSTACK | SA_NODEFER};
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaction(sigs[i], &sa, NULL);
}

/* ---- results ---- */

static int reserve(worker *w, size_t more) {
    if (w->out_len + more <= w->out_cap)
        return 0;
    size_t cap = w->out_cap ? w->out_cap : 4096;
    while (cap < w->out_len + more)
        cap *= 2;
    char *b = realloc(w->out, cap);
    if (!b)
        return -ENOMEM;
    w->out = b;
    w->out_cap = cap;
    return 0;
}

static int self_rank;

/* Sends to rank 0 and rings its bell once the message is on its way. */
static void send_to_0(const void *buf, size_t len, int tag) {
    MPI_Request req;
    MPI_Isend(buf, (int)len, MPI_BYTE, 0, tag, MPI_COMM_WORLD, &req);
    cio__mpi_bell_ring(cio__mpi_bell_of(0));
    MPI_Wait(&req, MPI_STATUS_IGNORE);
    /* Again once it is out: MPI may have pushed it only inside MPI_Wait
     * (a full shared-memory queue, a rendezvous). */
    cio__mpi_bell_ring(cio__mpi_bell_of(0));
}

static void flush(worker *w) {
    if (!w->out_len)
        return;
    send_to_0(w->out, w->out_len, CIO__MPI_TAG_RESULTS);
    w->out_len = 0;
    w->out_n = 0;
}

#define CANARY 0x5AFEC0DEDEADBEEFull

/* Runs a bytes job writing straight into out (room for out_cap bytes and
 * a canary after them); the job's length, or its error, or CIO_EOUTCAP when
 * it claims more than out_cap or wrote past it. */
static ssize_t run_bytes(cio_bytes_fn fn, const cio__mpi_wire_job *h, char *out) {
    uint64_t canary = CANARY;
    memcpy(out + h->out_cap, &canary, sizeof canary);
    ssize_t n = fn(h + 1, h->in_len, out, h->out_cap);
    memcpy(&canary, out + h->out_cap, sizeof canary);
    if (n >= 0 && ((size_t)n > h->out_cap || canary != CANARY))
        return CIO_EOUTCAP;
    return n < INT32_MIN ? -EINVAL : n;
}

static void *job_fn(const cio__mpi_wire_job *h) {
    void *fn = cio__mpi_image_fn(h->fn);
    crash_fn = fn;
    crash_off = h->fn;
    return fn;
}

/* A big bytes job: the result travels alone, bytes first, record last. */
static void run_big(worker *w, const cio__mpi_wire_job *h, long long arrived_ns) {
    flush(w);
    size_t room = cio__mpi_pad8(h->out_cap) + 8;
    cio__mpi_wire_res r = {.kind = h->kind, .id = h->id, .err = reserve(w, room + sizeof r)};
    void *fn = job_fn(h);
    long long t0 = now_ns();
    ssize_t n = r.err ? r.err : fn ? run_bytes((cio_bytes_fn)fn, h, w->out) : -EINVAL;
    crash_fn = NULL;
    long long t1 = now_ns();
    w->last_run_ns = t1 - t0;
    r.run_ns = (uint64_t)w->last_run_ns;
    r.held_ns = (uint64_t)(t1 - arrived_ns);
    size_t len = 0;
    if (n < 0) {
        r.err = (int32_t)n;
    } else {
        r.out_len = (uint64_t)n;
        len = cio__mpi_pad8((size_t)n);
        memset(w->out + n, 0, len - (size_t)n);
    }
    if (len + sizeof r > w->out_cap && reserve(w, sizeof r) < 0)
        MPI_Abort(MPI_COMM_WORLD, ENOMEM);
    memcpy(w->out + len, &r, sizeof r);
    send_to_0(w->out, len + sizeof r, CIO__MPI_TAG_BIG);
}

static void run_job(worker *w, const cio__mpi_wire_job *h, long long arrived_ns) {
    bool bytes = h->kind == CIO__MPI_W_BYTES;
    if (bytes && h->out_cap > FLUSH_BYTES) {
        run_big(w, h, arrived_ns);
        return;
    }
    size_t at = w->out_len, room = bytes ? cio__mpi_pad8(h->out_cap) + 8 : 0;
    int err = reserve(w, sizeof(cio__mpi_wire_res) + room);
    if (err < 0 && reserve(w, sizeof(cio__mpi_wire_res)) < 0)
        MPI_Abort(MPI_COMM_WORLD, ENOMEM); /* not even 40 bytes: say so loudly */
    cio__mpi_wire_res *r = (cio__mpi_wire_res *)(w->out + at);
    *r = (cio__mpi_wire_res){.kind = h->kind, .id = h->id, .err = err};
    void *fn = job_fn(h);
    long long t0 = now_ns();
    if (err == 0 && !fn) {
        r->err = -EINVAL;
    } else if (err == 0 && bytes) {
        ssize_t n = run_bytes((cio_bytes_fn)fn, h, (char *)(r + 1));
        if (n < 0)
            r->err = (int32_t)n;
        else
            r->out_len = (uint64_t)n;
    } else if (err == 0) {
        r->value = (uint64_t)(uintptr_t)((cio_fn)fn)((void *)(uintptr_t)h->arg);
    }
    crash_fn = NULL;
    long long t1 = now_ns();
    w->last_run_ns = t1 - t0;
    r->run_ns = (uint64_t)w->last_run_ns;
    r->held_ns = (uint64_t)(t1 - arrived_ns);
    size_t pad = cio__mpi_pad8(r->out_len);
    memset((char *)(r + 1) + r->out_len, 0, pad - r->out_len);
    w->out_len = at + sizeof *r + pad;
    if (!w->out_n++)
        w->oldest_ns = now_ns();
}

/* ---- jobs in ---- */

static int push(worker *w, const cio__mpi_wire_job *rec, inmsg *m, long long arrived_ns) {
    if (w->qlen == w->qcap) {
        size_t cap = w->qcap ? w->qcap * 2 : 64;
        local_job *q = malloc(cap * sizeof *q);
        if (!q)
            return -ENOMEM;
        for (size_t i = 0; i < w->qlen; i++)
            q[i] = w->q[(w->qhead + i) % w->qcap];
        free(w->q);
        w->q = q;
        w->qhead = 0;
        w->qcap = cap;
    }
    w->q[(w->qhead + w->qlen++) % w->qcap] = (local_job){rec, m, arrived_ns};
    m->refs++;
    return 0;
}

static void take_message(worker *w, inmsg *m, size_t len) {
    long long arrived_ns = w->ready_ns ? w->ready_ns : now_ns();
    for (size_t at = 0; at + sizeof(cio__mpi_wire_job) <= len;) {
        const cio__mpi_wire_job *h = (const cio__mpi_wire_job *)(m->data + at);
        if (h->kind == CIO__MPI_W_STOP) {
            w->stop = true;
            break;
        }
        if (push(w, h, m, arrived_ns) < 0)
            MPI_Abort(MPI_COMM_WORLD, ENOMEM);
        at += sizeof *h + cio__mpi_pad8(h->in_len);
    }
    if (!m->refs)
        free(m);
}

/* Receives every message that is there; true when one came. */
static bool receive(worker *w) {
    bool got = false;
    while (!w->stop) {
        int flag = 0, n = 0;
        MPI_Status st;
        MPI_Iprobe(0, CIO__MPI_TAG_JOBS, MPI_COMM_WORLD, &flag, &st);
        if (!flag)
            break;
        MPI_Get_count(&st, MPI_BYTE, &n);
        inmsg *m = malloc(sizeof *m + (size_t)n);
        if (!m)
            MPI_Abort(MPI_COMM_WORLD, ENOMEM);
        m->refs = 0;
        MPI_Recv(m->data, n, MPI_BYTE, 0, CIO__MPI_TAG_JOBS, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        take_message(w, m, (size_t)n);
        got = true;
    }
    return got;
}

static void pause_for(worker *w, cio__mpi_backoff *b, uint32_t seen) {
    cio__mpi_bell_wait(cio__mpi_bell_of(self_rank), seen, cio__mpi_backoff_next(b));
    w->ready_ns = now_ns();
}

static bool should_flush(const worker *w) {
    return w->out_len && (!w->qlen || w->out_len >= FLUSH_BYTES || w->out_n >= FLUSH_COUNT ||
                          w->last_run_ns >= LONG_JOB_NS || now_ns() - w->oldest_ns >= FLUSH_NS);
}

static void run_next(worker *w) {
    local_job j = w->q[w->qhead];
    w->qhead = (w->qhead + 1) % w->qcap;
    w->qlen--;
    w->ready_ns = now_ns();
    run_job(w, j.rec, j.arrived_ns);
    if (--j.msg->refs == 0)
        free(j.msg);
}

int cio__mpi_serve(int rank) {
    worker w = {0};
    crash_handlers(rank);
    self_rank = rank;
    prctl(PR_SET_TIMERSLACK, 1000UL); /* its polls sleep microseconds: keep them short */
    cio__mpi_backoff b = {0};
    for (;;) {
        uint32_t seen = cio__mpi_bell_seen(cio__mpi_bell_of(rank));
        bool got = receive(&w);
        if (w.stop)
            break;
        if (w.qlen) {
            run_next(&w);
            cio__mpi_backoff_reset(&b);
        } else if (!got) {
            pause_for(&w, &b, seen);
        }
        if (should_flush(&w))
            flush(&w);
    }
    /* STOP: what is still queued here is dropped; what ran is answered. */
    while (w.qlen) {
        local_job j = w.q[w.qhead];
        w.qhead = (w.qhead + 1) % w.qcap;
        w.qlen--;
        if (--j.msg->refs == 0)
            free(j.msg);
    }
    flush(&w);
    cio__mpi_wire_res bye = {.kind = CIO__MPI_W_BYE};
    send_to_0(&bye, sizeof bye, CIO__MPI_TAG_RESULTS);
    free(w.q);
    free(w.out);
    return 0;
}
