/* Stress for I/O: many concurrent echo connections over loopback with random
 * early disconnects, cancellation storms against pending pipe reads and
 * socket recvs (no byte lost or duplicated), the thread pool flooded with
 * jobs cancelled at random (every future ends), and memory steady across
 * cycles. The echo server runs in a forked child so that each process needs
 * one descriptor per connection, not two.
 * Prints what it did and its figures; exits non-zero on any wrong outcome.
 * CIO_STRESS_SHORT=1 runs a tenth of the counts (CI, sanitizers). */
#include <cio.h>

#include "stress.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long scale = 1;

static double now(void) {
    return stress_now();
}

static inline long rss_kib(void) {
    return stress_rss_kib();
}

/* Under ASan freed memory waits in a quarantine of up to 256 MiB, so RSS
   grows for a while without any leak: the memory check then compares the
   bytes live in the heap instead, which ASan counts exactly. */
#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
/* From the sanitizer runtime (gcc ships no header for it). */
size_t __sanitizer_get_current_allocated_bytes(void);
#define MEM_WHAT "heap in use (ASan)"
static long mem_kib(void) {
    return (long)(__sanitizer_get_current_allocated_bytes() / 1024);
}
#else
#define MEM_WHAT "RSS"
static long mem_kib(void) {
    return rss_kib();
}
#endif

static long peak_rss_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ---- the echo server, in a child process ---- */

static void echo_handler(cio_stream *s, void *arg) {
    (void)arg;
    char buf[4096];
    for (;;) {
        ssize_t n = cio_stream_read(s, buf, sizeof buf);
        if (n <= 0 || cio_stream_write(s, buf, (size_t)n) < 0 || cio_stream_drain(s) < 0)
            return;
    }
}

typedef struct server_ctl {
    int port_fd; /* the port goes to the parent through it */
    int stop_fd; /* EOF on it: the parent is done */
} server_ctl;

static void *server_main(void *arg) {
    server_ctl *ctl = arg;
    cio_server *srv = cio_start_server("127.0.0.1", 0, echo_handler, NULL);
    CHECK(srv);
    unsigned port = cio_server_port(srv);
    CHECK(write(ctl->port_fd, &port, sizeof port) == sizeof port);
    char c;
    CHECK(cio_read(ctl->stop_fd, &c, 1, -1) == 0);
    cio_server_free(srv);
    return NULL;
}

/* Forks the server; returns its port. *stop: close it to end the child. */
static unsigned start_server_process(pid_t *pid, int *stop) {
    int portp[2], stopp[2];
    CHECK(pipe(portp) == 0 && pipe(stopp) == 0);
    fflush(NULL);
    *pid = fork();
    CHECK(*pid >= 0);
    if (*pid == 0) {
        close(portp[0]);
        close(stopp[1]);
        server_ctl ctl = {portp[1], stopp[0]};
        _exit(cio_run(server_main, &ctl, NULL) == 0 ? 0 : 1);
    }
    close(portp[1]);
    close(stopp[0]);
    unsigned port = 0;
    CHECK(read(portp[0], &port, sizeof port) == sizeof port && port);
    close(portp[0]);
    *stop = stopp[1];
    return port;
}

static void stop_server_process(pid_t pid, int stop) {
    close(stop);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- echo clients ---- */

typedef struct echo_run {
    unsigned port;
    long conns, arrived, open, peak;
    long ok, dropped, failed, bytes;
    cio_event *all_open;
} echo_run;

/* Random-size messages, each echoed back intact; one in ten connections
   hangs up in the middle of a message instead. */
static int converse(echo_run *e, cio_stream *s) {
    char out[2048], in[2048]; /* per task: the tasks interleave */
    int rounds = 1 + (int)(next_rand() % 4);
    for (int i = 0; i < rounds; i++) {
        size_t len = 1 + next_rand() % sizeof out;
        unsigned char tag = (unsigned char)next_rand();
        memset(out, tag, len);
        if (cio_stream_write(s, out, len) < 0 || cio_stream_drain(s) < 0)
            return -1;
        if (next_rand() % 40 == 0)
            return 1; /* a random disconnect, the echo still on its way */
        size_t got = 0;
        if (cio_stream_readexactly(s, in, len, &got) != (ssize_t)len)
            return -1;
        for (size_t k = 0; k < len; k++)
            CHECK((unsigned char)in[k] == tag);
        e->bytes += (long)len;
    }
    return 0;
}

static void *echo_client(void *arg) {
    echo_run *e = arg;
    cio_stream *s = cio_open_connection("127.0.0.1", e->port);
    if (s && ++e->open > e->peak)
        e->peak = e->open;
    if (++e->arrived == e->conns)
        cio_event_set(e->all_open);
    if (!s) {
        e->failed++;
        return NULL;
    }
    CHECK(cio_event_wait(e->all_open) == 0); /* all connections open at once */
    int r = converse(e, s);
    e->open--;
    if (r < 0)
        e->failed++;
    else if (r > 0)
        e->dropped++;
    else
        e->ok++;
    cio_stream_close(s);
    return NULL;
}

static void *echo_main(void *arg) {
    echo_run *e = arg;
    e->all_open = cio_event_new();
    cio_future **ts = calloc((size_t)e->conns, sizeof *ts);
    CHECK(e->all_open && ts);
    for (long i = 0; i < e->conns; i++)
        CHECK((ts[i] = cio_create_task(echo_client, e)));
    for (long i = 0; i < e->conns; i++) {
        CHECK(cio_await(ts[i], NULL) == 0);
        cio_future_unref(ts[i]);
    }
    free(ts);
    cio_event_free(e->all_open);
    return NULL;
}

static void run_echo(unsigned port, long conns, bool print) {
    echo_run e = {.port = port, .conns = conns};
    double t0 = now();
    CHECK(cio_run(echo_main, &e, NULL) == 0);
    double dt = now() - t0;
    CHECK(e.failed == 0 && e.ok + e.dropped == conns && e.open == 0);
    if (print)
        printf("echo: %ld connections (%ld open at once), %ld complete, %ld dropped at random, "
               "%ld bytes echoed in %.2f s: %.0f connections/s\n",
               conns, e.peak, e.ok, e.dropped, e.bytes, dt, (double)conns / dt);
}

/* ---- cancellation storms: pending pipe reads and socket recvs ---- */

enum { CHANS = 64, STORM_WRITES = 20000 };

typedef struct chan {
    int rfd, wfd;
    bool sock;
    unsigned char wnext, rnext; /* the byte sequence: nothing lost, nothing twice */
    long written, got, cancelled;
    cio_future *reader;
} chan;

typedef struct storm {
    chan ch[CHANS];
    long writes, cancels;
    bool writing;
} storm;

static void *storm_reader(void *arg) {
    chan *c = arg;
    unsigned char buf[512];
    for (;;) {
        size_t n = 1 + next_rand() % sizeof buf;
        ssize_t r = c->sock ? cio_recv(c->rfd, buf, n, 0) : cio_read(c->rfd, buf, n, -1);
        if (r == -ECANCELED) {
            c->cancelled++;
            while (cio_task_cancelling(cio_current_task()) > 0)
                cio_task_uncancel(cio_current_task());
            continue;
        }
        CHECK(r >= 0);
        if (r == 0)
            return NULL;
        for (ssize_t k = 0; k < r; k++)
            CHECK(buf[k] == c->rnext++);
        c->got += r;
    }
}

static void *storm_writer(void *arg) {
    storm *st = arg;
    unsigned char buf[300];
    for (long i = 0; i < st->writes; i++) {
        chan *c = &st->ch[next_rand() % CHANS];
        size_t n = 1 + next_rand() % sizeof buf;
        for (size_t k = 0; k < n; k++)
            buf[k] = (unsigned char)(c->wnext + k);
        ssize_t w = c->sock ? cio_send_all(c->wfd, buf, n, 0) : cio_write(c->wfd, buf, n, -1);
        CHECK(w > 0); /* a pipe write of <= PIPE_BUF bytes is whole */
        CHECK(c->sock || w == (ssize_t)n);
        c->wnext = (unsigned char)(c->wnext + w);
        c->written += w;
        if (next_rand() % 4 == 0)
            CHECK(cio_yield() == 0);
    }
    st->writing = false;
    return NULL;
}

static void *storm_canceller(void *arg) {
    storm *st = arg;
    while (st->writing) {
        int burst = 1 + (int)(next_rand() % 8);
        for (int i = 0; i < burst; i++)
            st->cancels += cio_cancel(st->ch[next_rand() % CHANS].reader);
        CHECK(cio_yield() == 0);
    }
    return NULL;
}

static void *storm_main(void *arg) {
    storm *st = arg;
    for (int i = 0; i < CHANS; i++) {
        chan *c = &st->ch[i];
        int fds[2];
        c->sock = i % 2;
        CHECK((c->sock ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds)
                       : pipe2(fds, O_CLOEXEC)) == 0);
        c->rfd = fds[0];
        c->wfd = fds[1];
        CHECK((c->reader = cio_create_task(storm_reader, c)));
    }
    st->writing = true;
    cio_future *w = cio_create_task(storm_writer, st);
    cio_future *k = cio_create_task(storm_canceller, st);
    CHECK(w && k && cio_await(w, NULL) == 0 && cio_await(k, NULL) == 0);
    cio_future_unref(w);
    cio_future_unref(k);
    for (int i = 0; i < CHANS; i++) {
        chan *c = &st->ch[i];
        close(c->wfd); /* the reader then sees EOF */
        CHECK(cio_await(c->reader, NULL) == 0);
        cio_future_unref(c->reader);
        close(c->rfd);
        CHECK(c->got == c->written);
    }
    return NULL;
}

static void run_storm(bool print) {
    storm *st = calloc(1, sizeof *st);
    CHECK(st);
    st->writes = STORM_WRITES * 10 / scale;
    double t0 = now();
    CHECK(cio_run(storm_main, st, NULL) == 0);
    double dt = now() - t0;
    long bytes = 0, seen = 0;
    for (int i = 0; i < CHANS; i++) {
        bytes += st->ch[i].got;
        seen += st->ch[i].cancelled;
    }
    if (print)
        printf("storm: %d pipes/socketpairs, %ld writes, %ld bytes all read once in order, "
               "%ld cancels requested, %ld reads/recvs ended -ECANCELED, in %.2f s\n",
               CHANS, st->writes, bytes, st->cancels, seen, dt);
    free(st);
}

/* ---- the thread pool flooded ---- */

enum { BATCH = 10000 };

typedef struct flood {
    long jobs, done, cancelled;
} flood;

static void *job(void *arg) {
    return (void *)((intptr_t)arg * 2 + 1);
}

static void *flood_main(void *arg) {
    flood *fl = arg;
    cio_executor *pool = cio_thread_pool_new(4);
    cio_future **fs = malloc(BATCH * sizeof *fs);
    CHECK(pool && fs);
    for (long base = 0; base < fl->jobs; base += BATCH) {
        long n = fl->jobs - base < BATCH ? fl->jobs - base : BATCH;
        for (long i = 0; i < n; i++) {
            CHECK((fs[i] = cio_run_in_executor(pool, job, (void *)(intptr_t)(base + i))));
            if (next_rand() % 4 == 0)
                cio_cancel(fs[i]);
        }
        for (long i = 0; i < n; i++) {
            void *res = NULL;
            int r = cio_await(fs[i], &res);
            CHECK(cio_future_done(fs[i]));
            if (r == 0) {
                CHECK((intptr_t)res == (base + i) * 2 + 1);
                fl->done++;
            } else {
                CHECK(r == -ECANCELED && cio_future_cancelled(fs[i]));
                fl->cancelled++;
            }
            cio_future_unref(fs[i]);
        }
    }
    free(fs);
    CHECK(cio_executor_shutdown(pool, true, false) == 0);
    cio_executor_free(pool);
    return NULL;
}

static void run_flood(long jobs, bool print) {
    flood fl = {.jobs = jobs};
    double t0 = now();
    CHECK(cio_run(flood_main, &fl, NULL) == 0);
    double dt = now() - t0;
    CHECK(fl.done + fl.cancelled == jobs);
    if (print)
        printf("pool: %ld jobs, %ld results, %ld cancelled, every future ended, in %.2f s: "
               "%.0f jobs/s\n",
               jobs, fl.done, fl.cancelled, dt, (double)jobs / dt);
}

/* ---- main ---- */

/* Room for conns descriptors plus a margin, within the hard limit. */
static long raise_nofile(long conns) {
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rlim_t want = (rlim_t)conns + 256;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
        CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    }
    if (rl.rlim_cur < want) {
        long fit = (long)rl.rlim_cur - 256;
        printf("echo: RLIMIT_NOFILE hard limit %ld: %ld connections instead of %ld\n",
               (long)rl.rlim_max, fit, conns);
        return fit;
    }
    return conns;
}

int main(void) {
    const char *s = getenv("CIO_STRESS_SHORT");
    if (s && *s && *s != '0')
        scale = 10;
    signal(SIGPIPE, SIG_IGN);
    long conns = raise_nofile(10000 / scale);
    pid_t pid;
    int stop;
    unsigned port = start_server_process(&pid, &stop);

    run_echo(port, conns, true);
    run_storm(true);
    run_flood(1000000 / scale, true);

    /* Memory: the same mixed cycle ten times. */
    long rss_first = 0;
    double t0 = now();
    for (int cycle = 0; cycle < 10; cycle++) {
        run_echo(port, 1000 / scale, false);
        run_storm(false);
        run_flood(20000 / scale, false);
        if (cycle == 0)
            rss_first = mem_kib();
    }
    long rss_last = mem_kib();
    printf("memory: 10 cycles (echo %ld connections, storm, %ld pool jobs each) in %.2f s; %s "
           "after cycle 1 %ld KiB, after cycle 10 %ld KiB; peak RSS %ld KiB\n",
           1000 / scale, 20000 / scale, now() - t0, MEM_WHAT, rss_first, rss_last, peak_rss_kib());
    CHECK(rss_last <= rss_first + rss_first / 20 + 256);
    stop_server_process(pid, stop);
    return 0;
}
