/* Rank 0's progress thread: the only thread that calls MPI while the loop
 * runs. It hands queued jobs to the ranks with room (several short jobs per
 * message), receives results, and posts them to the loop in batches. It never
 * blocks inside MPI: between rounds it sleeps on rank 0's doorbell (bell.h),
 * rung by the ranks when they send results and by the loop when it submits. */
#include "bell.h"
#include "rank0.h"

#include <errno.h>
#include <mpi.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#define BIG_RECORD (64 * 1024)   /* a record this big travels alone, from its own buffer */
#define BATCH_BYTES (256 * 1024) /* most bytes of small records per message */
#define RECV_PER_ROUND 64

typedef struct out_msg {
    int rank;
    void *buf;
    size_t len, cap;
} out_msg;

typedef struct send_req {
    MPI_Request req;
    void *buf;
    int rank;
} send_req;

typedef struct prog {
    cio__mpi_exec *x;
    out_msg *outs; /* this round's messages */
    size_t nouts, outs_cap;
    send_req *sends; /* posted, not complete */
    size_t nsends, sends_cap;
    size_t *open; /* [nranks]: each rank's batch being filled in outs */
    int byes;
    int rr; /* where the search for a rank with room starts */
} prog;

void cio__mpi_progress_kick(cio__mpi_exec *x) {
    (void)x;
    cio__mpi_bell_ring(cio__mpi_bell_of(0));
}

static void *grow(void *p, size_t *cap, size_t want, size_t size) {
    if (want <= *cap)
        return p;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < want)
        n *= 2;
    void *q = realloc(p, n * size);
    if (q)
        *cap = n;
    return q;
}

/* ---- dispatch (under mu) ---- */

static double *cost_of(cio__mpi_exec *x, uint64_t fn) {
    unsigned slot = (unsigned)((fn >> 4) ^ (fn >> 10)) % CIO__MPI_COSTS;
    if (x->costs[slot].fn != fn) {
        x->costs[slot].fn = fn;
        x->costs[slot].avg_ns = 0;
    }
    return &x->costs[slot].avg_ns;
}

/* A rank holds enough jobs to stay busy while its results travel to rank 0
 * and new jobs back (x->latency_ns, measured: tens of microseconds on an idle
 * machine, milliseconds on a loaded one): two, plus one per latency_ns worth
 * of this function's jobs, at most 64.
 * Few of long jobs, so that the last jobs of a batch spread over the ranks
 * instead of waiting behind one; a function not seen yet gets two. Sized per
 * job function: a batch of long jobs right after many short ones still
 * spreads. */
#define MAX_WINDOW 64

static unsigned window_for(cio__mpi_exec *x, const cio__mpi_job *j) {
    double avg = *cost_of(x, j->fn);
    if (avg <= 0)
        return 2;
    double w = 2 + x->latency_ns / avg;
    /* Near the end of a batch, no rank holds more than its share of what is
     * left (guided self-scheduling): the last jobs spread over the ranks
     * instead of queueing behind one while another idles. */
    unsigned workers = (unsigned)x->nranks - 1, left = x->queue.n + x->sent_total;
    unsigned share = (left + workers - 1) / workers;
    share = share > 2 ? share : 2;
    w = w < MAX_WINDOW ? w : MAX_WINDOW;
    return (unsigned)w < share ? (unsigned)w : share;
}

static int pick_rank(cio__mpi_exec *x, int *rr, unsigned window) {
    int best = -1;
    for (int k = 0; k < x->nranks - 1; k++) {
        int r = 1 + (*rr + k) % (x->nranks - 1);
        unsigned n = x->ranks[r].inflight.n;
        if (n < window && (best < 0 || n < x->ranks[best].inflight.n))
            best = r;
    }
    if (best > 0)
        *rr = best % (x->nranks - 1);
    return best;
}

static int add_out(prog *p, int rank, void *buf, size_t len) {
    out_msg *o = grow(p->outs, &p->outs_cap, p->nouts + 1, sizeof *o);
    if (!o)
        return -ENOMEM;
    p->outs = o;
    p->outs[p->nouts++] = (out_msg){rank, buf, len, len};
    return 0;
}

/* Appends j's record to the rank's open batch (the last out of that rank, if
 * it is a batch with room), or opens one. */
static int batch_add(prog *p, int rank, cio__mpi_job *j, size_t *open) {
    out_msg *o = open[rank] != SIZE_MAX ? &p->outs[open[rank]] : NULL;
    if (!o || o->len + j->msg_len > BATCH_BYTES) {
        size_t cap = j->msg_len > 4096 ? j->msg_len : 4096;
        void *b = malloc(cap);
        if (!b || add_out(p, rank, b, 0) < 0) {
            free(b);
            return -ENOMEM;
        }
        open[rank] = p->nouts - 1;
        o = &p->outs[open[rank]];
        o->cap = cap;
    }
    if (o->len + j->msg_len > o->cap) {
        size_t cap = o->cap * 2 >= o->len + j->msg_len ? o->cap * 2 : o->len + j->msg_len;
        void *b = realloc(o->buf, cap);
        if (!b)
            return -ENOMEM;
        o->buf = b;
        o->cap = cap;
    }
    memcpy((char *)o->buf + o->len, j->msg, j->msg_len);
    o->len += j->msg_len;
    free(j->msg);
    j->msg = NULL;
    return 0;
}

static void fail_job(cio__mpi_exec *x, cio__mpi_job *j, int err) {
    j->err = err;
    j->where = CIO__MPI_DONE;
    cio__mpi_list_append(&x->done, j);
}

static void dispatch(prog *p) {
    cio__mpi_exec *x = p->x;
    size_t *open = p->open;
    long long now = cio__mpi_now_ns();
    for (int r = 0; r < x->nranks; r++)
        open[r] = SIZE_MAX;
    int rank;
    while (x->queue.head && (rank = pick_rank(x, &p->rr, window_for(x, x->queue.head))) > 0) {
        cio__mpi_job *j = x->queue.head;
        cio__mpi_list_unlink(&x->queue, j);
        bool big = j->msg_len > BIG_RECORD;
        if (big)
            open[rank] = SIZE_MAX; /* later jobs go after it: the rank runs them in order */
        int e = big ? add_out(p, rank, j->msg, j->msg_len) : batch_add(p, rank, j, open);
        if (e < 0) {
            fail_job(x, j, e);
            continue;
        }
        if (big)
            j->msg = NULL; /* the send owns it now */
        j->where = CIO__MPI_SENT;
        j->rank = rank;
        j->sent_ns = now;
        cio__mpi_list_append(&x->ranks[rank].inflight, j);
        x->sent_total++;
    }
}

/* ---- MPI ---- */

static void post_sends(prog *p) {
    for (size_t i = 0; i < p->nouts; i++) {
        out_msg *o = &p->outs[i];
        send_req *s = grow(p->sends, &p->sends_cap, p->nsends + 1, sizeof *s);
        if (!s) { /* no room to track it: send it synchronously */
            MPI_Send(o->buf, (int)o->len, MPI_BYTE, o->rank, CIO__MPI_TAG_JOBS, MPI_COMM_WORLD);
            free(o->buf);
            continue;
        }
        p->sends = s;
        s = &p->sends[p->nsends++];
        s->buf = o->buf;
        s->rank = o->rank;
        MPI_Isend(o->buf, (int)o->len, MPI_BYTE, o->rank, CIO__MPI_TAG_JOBS, MPI_COMM_WORLD,
                  &s->req);
        cio__mpi_bell_ring(cio__mpi_bell_of(o->rank));
    }
    p->nouts = 0;
}

static void test_sends(prog *p) {
    size_t k = 0;
    for (size_t i = 0; i < p->nsends; i++) {
        int done = 0;
        MPI_Test(&p->sends[i].req, &done, MPI_STATUS_IGNORE);
        if (done) { /* MPI may have pushed it out only now: ring again */
            cio__mpi_bell_ring(cio__mpi_bell_of(p->sends[i].rank));
            free(p->sends[i].buf);
        } else
            p->sends[k++] = p->sends[i];
    }
    p->nsends = k;
}

static void send_stops(prog *p) {
    cio__mpi_wire_job stop = {.kind = CIO__MPI_W_STOP};
    for (int r = 1; r < p->x->nranks; r++) {
        void *b = malloc(sizeof stop);
        if (!b || add_out(p, r, b, sizeof stop) < 0) {
            free(b);
            MPI_Send(&stop, sizeof stop, MPI_BYTE, r, CIO__MPI_TAG_JOBS, MPI_COMM_WORLD);
            continue;
        }
        memcpy(b, &stop, sizeof stop);
    }
    post_sends(p);
}

/* Under mu: one result record of rank src; big is its bytes' buffer when it
 * came alone (TAG_BIG), else the bytes follow the record. */
static void take_result(prog *p, int src, const cio__mpi_wire_res *r, void *big, long long now) {
    cio__mpi_exec *x = p->x;
    if (r->kind == CIO__MPI_W_BYE) {
        x->ranks[src].bye = true;
        p->byes++;
        return;
    }
    cio__mpi_job *j = x->ranks[src].inflight.head;
    if (!j || j->id != r->id) { /* the wire is ordered: this cannot happen */
        fprintf(stderr, "cio-mpi: rank 0: unexpected result %llu from rank %d\n",
                (unsigned long long)r->id, src);
        abort();
    }
    cio__mpi_list_unlink(&x->ranks[src].inflight, j);
    x->sent_total--;
    double lat = (double)(now - j->sent_ns) - (double)r->held_ns, *lat_avg = &x->latency_ns;
    lat = lat > 0 ? lat : 0;
    *lat_avg = lat > *lat_avg ? 0.5 * *lat_avg + 0.5 * lat : 0.9 * *lat_avg + 0.1 * lat;
    double *avg = cost_of(x, j->fn);
    *avg = *avg > 0 ? 0.8 * *avg + 0.2 * (double)r->run_ns : (double)r->run_ns;
    j->err = r->err;
    j->value = r->value;
    j->out_len = r->out_len;
    if (big) {
        j->res_buf = big;
    } else if (r->out_len && !r->err) {
        j->res_buf = cio_bytes_alloc(r->out_len);
        if (j->res_buf)
            memcpy(j->res_buf, r + 1, r->out_len);
        else
            j->err = -ENOMEM;
    }
    j->where = CIO__MPI_DONE;
    cio__mpi_list_append(&x->done, j);
}

/* Under mu: what follows a result's arrival. */
static void after_results(cio__mpi_exec *x) {
    if (!x->queue.head && !x->sent_total)
        pthread_cond_broadcast(&x->idle);
}

static void take_batch(prog *p, int src, char *buf, size_t len) {
    cio__mpi_exec *x = p->x;
    long long now = cio__mpi_now_ns();
    pthread_mutex_lock(&x->mu);
    for (size_t at = 0; at + sizeof(cio__mpi_wire_res) <= len;) {
        const cio__mpi_wire_res *r = (const cio__mpi_wire_res *)(buf + at);
        take_result(p, src, r, NULL, now);
        at += sizeof *r + cio__mpi_pad8(r->out_len);
    }
    after_results(x);
    pthread_mutex_unlock(&x->mu);
}

/* A big result goes straight into a result buffer: its bytes come first. */
static int take_big(prog *p, const MPI_Status *st, size_t n) {
    cio__mpi_wire_res r;
    char *buf = n >= sizeof r ? cio_bytes_alloc(n) : NULL;
    if (!buf)
        return -ENOMEM;
    MPI_Recv(buf, (int)n, MPI_BYTE, st->MPI_SOURCE, CIO__MPI_TAG_BIG, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
    memcpy(&r, buf + n - sizeof r, sizeof r);
    long long now = cio__mpi_now_ns();
    pthread_mutex_lock(&p->x->mu);
    take_result(p, st->MPI_SOURCE, &r, buf, now);
    after_results(p->x);
    pthread_mutex_unlock(&p->x->mu);
    return 0;
}

static int take_small(prog *p, const MPI_Status *st, size_t n) {
    char *buf = malloc(n ? n : 1);
    if (!buf)
        return -ENOMEM;
    MPI_Recv(buf, (int)n, MPI_BYTE, st->MPI_SOURCE, CIO__MPI_TAG_RESULTS, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
    take_batch(p, st->MPI_SOURCE, buf, n);
    free(buf);
    return 0;
}

/* Every rank's messages in the order sent (MPI_ANY_TAG keeps it). A
 * message with no memory to receive it waits in MPI's hands. */
static int receive(prog *p) {
    int got = 0;
    for (; got < RECV_PER_ROUND; got++) {
        int flag = 0, n = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
        if (!flag)
            break;
        MPI_Get_count(&st, MPI_BYTE, &n);
        int e = st.MPI_TAG == CIO__MPI_TAG_BIG ? take_big(p, &st, (size_t)n)
                                               : take_small(p, &st, (size_t)n);
        if (e < 0)
            break;
    }
    return got;
}

/* ---- the thread ---- */

/* Under mu: schedules a delivery of the done list on the loop. */
static bool want_post(cio__mpi_exec *x) {
    if (!x->done.head || x->posted || x->stopping)
        return false;
    x->posted = true;
    return true;
}

static void post(cio__mpi_exec *x) {
    if (cio_call_soon_threadsafe(x->loop, cio__mpi_deliver, x) == 0)
        return;
    pthread_mutex_lock(&x->mu); /* tried again next round */
    x->posted = false;
    pthread_mutex_unlock(&x->mu);
}

/* Sleeps on rank 0's bell, which the ranks ring after sending results and
 * the loop after queueing what it could not send, with a growing timeout
 * while jobs are out, without one when nothing is. Without mpi_mu. */
static void pause_for(prog *p, cio__mpi_backoff *b, uint32_t seen) {
    cio__mpi_exec *x = p->x;
    pthread_mutex_lock(&x->mu);
    bool nothing_out =
        !x->queue.head && !x->sent_total && !x->stopping && !(x->done.head && !x->posted);
    pthread_mutex_unlock(&x->mu);
    cio__mpi_bell_wait(cio__mpi_bell_of(0), seen, nothing_out ? -1 : cio__mpi_backoff_next(b));
}

/* One round: dispatch, send, receive. True when something moved. */
static bool round_once(prog *p, bool *stop_sent) {
    cio__mpi_exec *x = p->x;
    pthread_mutex_lock(&x->mu);
    bool stop_now = x->stopping && !*stop_sent;
    if (!x->stopping)
        dispatch(p);
    bool post_now = want_post(x);
    pthread_mutex_unlock(&x->mu);
    bool moved = p->nouts > 0 || stop_now;
    post_sends(p);
    if (stop_now) {
        send_stops(p);
        *stop_sent = true;
    }
    if (post_now)
        post(x);
    moved |= receive(p) > 0;
    if (p->nsends)
        test_sends(p);
    return moved;
}

/* The loop thread, right after it queued jobs: sends what fits on the ranks
 * itself (MPI_THREAD_SERIALIZED: under mpi_mu), one thread hop fewer for
 * short jobs. When the progress thread holds MPI, it is woken instead. */
void cio__mpi_progress_send(cio__mpi_exec *x) {
    if (pthread_mutex_trylock(&x->mpi_mu) != 0) {
        cio__mpi_progress_kick(x);
        return;
    }
    prog *p = x->prog;
    if (p) {
        pthread_mutex_lock(&x->mu);
        if (!x->stopping)
            dispatch(p);
        pthread_mutex_unlock(&x->mu);
        post_sends(p);
        test_sends(p);
    }
    bool kick = !p || p->nsends; /* big sends move only while rank 0 polls */
    pthread_mutex_unlock(&x->mpi_mu);
    if (kick)
        cio__mpi_progress_kick(x);
}

static void *progress_main(void *arg) {
    prog p = {.x = arg};
    prctl(PR_SET_TIMERSLACK, 1000UL); /* its polls sleep microseconds: keep them short */
    p.open = malloc((size_t)p.x->nranks * sizeof *p.open);
    if (!p.open) {
        fprintf(stderr, "cio-mpi: rank 0: out of memory in the progress thread\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    bool stop_sent = false;
    cio__mpi_backoff b = {0};
    pthread_mutex_lock(&p.x->mpi_mu);
    p.x->prog = &p;
    while (!(stop_sent && p.byes == p.x->nranks - 1)) {
        uint32_t seen = cio__mpi_bell_seen(cio__mpi_bell_of(0));
        if (round_once(&p, &stop_sent)) {
            cio__mpi_backoff_reset(&b);
            continue;
        }
        bool sending = p.nsends > 0;
        pthread_mutex_unlock(&p.x->mpi_mu); /* the loop may send meanwhile */
        if (sending)                        /* big sends move only while this thread polls */
            sched_yield();
        else
            pause_for(&p, &b, seen);
        pthread_mutex_lock(&p.x->mpi_mu);
    }
    p.x->prog = NULL;
    for (size_t i = 0; i < p.nsends; i++) {
        MPI_Wait(&p.sends[i].req, MPI_STATUS_IGNORE);
        free(p.sends[i].buf);
    }
    pthread_mutex_unlock(&p.x->mpi_mu);
    free(p.sends);
    free(p.outs);
    free(p.open);
    return NULL;
}

int cio__mpi_progress_start(cio__mpi_exec *x) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* signals belong to the loop */
    int r = pthread_create(&x->progress, NULL, progress_main, x);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return -r;
}

void cio__mpi_progress_stop(cio__mpi_exec *x) {
    pthread_mutex_lock(&x->mu);
    x->stopping = true;
    cio__mpi_progress_kick(x);
    pthread_mutex_unlock(&x->mu);
    pthread_join(x->progress, NULL);
}
