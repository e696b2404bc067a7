/* The load client of W9 and W11, the same for every server (cio, libuv,
 * Tokio, Go, asyncio, uvloop): one thread, plain epoll to connect and for
 * W9's bulk stream, io_uring for the ping-pong (echo_uring.h says why), so
 * that it measures the server and not itself. Each bench program runs it
 * against its own server; the peers run it as
 * `<build>/bench/w9_echo client PORT IMPL [-q]` (and w11_idle alike).
 * EC_CPU=1 prints the client's and the server's CPU time per message. */
#ifndef CIO_BENCH_ECHO_CLIENT_H
#define CIO_BENCH_ECHO_CLIENT_H

#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

enum { EC_MSG = 64, EC_CHUNK = 256 * 1024 };

static inline void ec_die(const char *what) {
    fprintf(stderr, "echo client: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* epoll_wait, again after an interruption: the io_uring client's ring
 * (echo_uring.h) is torn down in the background with task work that
 * interrupts this process's next blocking call. */
static inline int ec_epoll_wait(int ep, struct epoll_event *evs, int n, int ms) {
    int k;
    while ((k = epoll_wait(ep, evs, n, ms)) < 0 && errno == EINTR)
        ;
    return k;
}

/* More descriptors than the 1024 default: W11 holds 10,000 connections. */
static inline void ec_raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* A non-blocking socket whose connect to 127.0.0.1:port is under way. */
static inline int ec_connect_start(unsigned port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        ec_die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS)
        ec_die("connect");
    return fd;
}

/* Connects n sockets, at most `batch` in progress at a time. */
static inline void ec_connect_many(unsigned port, int *fds, long n, long batch) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event evs[256];
    for (long base = 0; base < n; base += batch) {
        long end = base + batch < n ? base + batch : n, pending = end - base;
        for (long i = base; i < end; i++) {
            fds[i] = ec_connect_start(port);
            struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fds[i]};
            epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
        }
        while (pending > 0) {
            int k = ec_epoll_wait(ep, evs, 256, 10000);
            if (k <= 0)
                ec_die("connect timed out");
            for (int j = 0; j < k; j++) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(evs[j].data.fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err) {
                    errno = err;
                    ec_die("connect");
                }
                epoll_ctl(ep, EPOLL_CTL_DEL, evs[j].data.fd, NULL);
                pending--;
            }
        }
    }
    close(ep);
}

static pid_t ec_server_pid; /* 0: unknown (client mode) */

/* CPU seconds (user + system) process pid has used; -1 if unknown. */
static inline double ec_cpu_of(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = pid > 0 ? fopen(path, "r") : NULL;
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The 64 bytes connection i sends in round r: different for every
 * connection and round, so an echo of the wrong bytes, of another
 * connection's bytes or of an earlier round's is caught. */
static inline void ec_message(char *msg, long i, long r) {
    for (int j = 0; j < EC_MSG; j++)
        msg[j] = (char)(i * 131 + r * 7 + j * 13 + (j >> 3));
}

/* A ping-pong's state: connection i has `left[i]` rounds to go, its message
 * in flight at out + i * EC_MSG and got[i] bytes of the echo at in + i * EC_MSG. */
typedef struct ec_pp {
    long *left, *got, active;
    char *in, *out;
} ec_pp;

static inline void ec_pp_init(ec_pp *p, long n, long rounds) {
    p->left = calloc((size_t)n, sizeof *p->left);
    p->got = calloc((size_t)n, sizeof *p->got);
    p->in = malloc((size_t)n * EC_MSG);
    p->out = malloc((size_t)n * EC_MSG);
    if (!p->left || !p->got || !p->in || !p->out)
        ec_die("ping-pong set-up");
    p->active = n;
    for (long i = 0; i < n; i++) {
        p->left[i] = rounds;
        ec_message(p->out + i * EC_MSG, i, rounds);
    }
}

static inline void ec_pp_free(ec_pp *p) {
    free(p->left);
    free(p->got);
    free(p->in);
    free(p->out);
}

/* r bytes of connection i's echo came: checks a whole echo against what was
 * sent. 1: its next message is at out + i * EC_MSG (send it); 0: more of
 * this echo is due; -1: the connection has done its rounds. */
static inline int ec_pp_take(ec_pp *p, long i, const char *data, long r) {
    BENCH_CHECK(p->got[i] + r <= EC_MSG); /* never more than was sent */
    memcpy(p->in + i * EC_MSG + p->got[i], data, (size_t)r);
    p->got[i] += r;
    if (p->got[i] < EC_MSG)
        return 0;
    BENCH_CHECK(memcmp(p->in + i * EC_MSG, p->out + i * EC_MSG, EC_MSG) == 0);
    p->got[i] = 0;
    if (--p->left[i] == 0) {
        p->active--;
        return -1;
    }
    ec_message(p->out + i * EC_MSG, i, p->left[i]);
    return 1;
}

#include "echo_uring.h"

static inline double ec_pingpong_epoll(int *fds, long n, long rounds) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        ec_die("epoll_create1");
    ec_pp p;
    ec_pp_init(&p, n, rounds);
    char buf[EC_MSG * 4];
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
        if (write(fds[i], p.out + i * EC_MSG, EC_MSG) != EC_MSG)
            ec_die("write");
    }
    struct epoll_event evs[256];
    while (p.active > 0) {
        int k = ec_epoll_wait(ep, evs, 256, 10000);
        if (k <= 0)
            ec_die("ping-pong stalled");
        for (int j = 0; j < k; j++) {
            long i = (long)evs[j].data.u64;
            ssize_t r = read(fds[i], buf, sizeof buf);
            if (r <= 0)
                ec_die("read");
            int next = ec_pp_take(&p, i, buf, r);
            if (next < 0)
                epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
            else if (next && write(fds[i], p.out + i * EC_MSG, EC_MSG) != EC_MSG)
                ec_die("write");
        }
    }
    double dt = bench_now() - t0;
    ec_pp_free(&p);
    close(ep);
    return dt;
}

/* Every connection sends one 64-byte message and waits for its echo, `rounds`
 * times; every echoed byte is compared with what was sent. Returns the
 * seconds taken. On io_uring (echo_uring.h), else on epoll. */
static inline double ec_pingpong(int *fds, long n, long rounds) {
    double c0 = bench_cpu_seconds(), s0 = ec_cpu_of(ec_server_pid);
    double dt = ecu_pingpong(fds, n, rounds);
    if (dt < 0)
        dt = ec_pingpong_epoll(fds, n, rounds);
    double per = 1e6 / (double)(n * rounds);
    if (getenv("EC_CPU") && ec_server_pid) /* the server's pid is known */
        fprintf(stderr, "cpu per message: client %.2f us, server %.2f us\n",
                (bench_cpu_seconds() - c0) * per, (ec_cpu_of(ec_server_pid) - s0) * per);
    else if (getenv("EC_CPU"))
        fprintf(stderr, "cpu per message: client %.2f us\n", (bench_cpu_seconds() - c0) * per);
    return dt;
}

/* The bulk stream: byte k is pattern[k % EC_PERIOD]. The period is prime and
 * not a divisor of any read or write size, so a lost, repeated or reordered
 * run of bytes shows. */
enum { EC_PERIOD = 1000003 };

static inline char *ec_pattern(void) {
    char *p = malloc(EC_PERIOD + EC_CHUNK);
    if (!p)
        ec_die("malloc");
    uint32_t x = 2463534242u;
    for (long i = 0; i < EC_PERIOD; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        p[i] = (char)x;
    }
    memcpy(p + EC_PERIOD, p, EC_CHUNK); /* any chunk can start anywhere */
    return p;
}

/* One connection streams `total` bytes through the echo server while reading
 * the echo back. Returns the seconds taken; checks every byte that came back. */
static inline double ec_bulk(unsigned port, long long total) {
    int fd;
    ec_connect_many(port, &fd, 1, 1);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    char *pattern = ec_pattern(), *in = malloc(EC_CHUNK);
    if (!in)
        ec_die("malloc");
    long long sent = 0, recvd = 0;
    double t0 = bench_now();
    while (recvd < total) {
        struct epoll_event evs[1];
        if (ec_epoll_wait(ep, evs, 1, 10000) <= 0)
            ec_die("bulk stalled");
        if ((evs[0].events & EPOLLOUT) && sent < total) {
            size_t n = total - sent < EC_CHUNK ? (size_t)(total - sent) : EC_CHUNK;
            ssize_t w = write(fd, pattern + sent % EC_PERIOD, n);
            if (w < 0 && errno != EAGAIN)
                ec_die("write");
            sent += w > 0 ? w : 0;
            if (sent == total) {
                ev.events = EPOLLIN;
                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
            }
        }
        if (evs[0].events & EPOLLIN) {
            ssize_t r = read(fd, in, EC_CHUNK);
            if (r <= 0 && !(r < 0 && errno == EAGAIN))
                ec_die("read");
            if (r > 0) {
                BENCH_CHECK(recvd + r <= sent);
                BENCH_CHECK(memcmp(in, pattern + recvd % EC_PERIOD, (size_t)r) == 0);
                recvd += r;
            }
        }
    }
    double dt = bench_now() - t0;
    BENCH_CHECK(recvd == total);
    free(pattern);
    free(in);
    close(ep);
    close(fd);
    return dt;
}

/* VmRSS of another process, in bytes. */
static inline long ec_rss_of(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib * 1024;
}

/* W9 figures against a server listening on port. */
static inline void ec_run_w9(unsigned port, const char *impl, long conns, long rounds,
                             long long bulk) {
    ec_raise_nofile();
    int *fds = malloc((size_t)conns * sizeof *fds);
    ec_connect_many(port, fds, conns, conns);
    double dt = ec_pingpong(fds, conns, rounds);
    for (long i = 0; i < conns; i++)
        close(fds[i]);
    free(fds);
    BENCH_RESULT("W9-msgs", impl, (double)(conns * rounds) / dt, "msgs/s");
    dt = ec_bulk(port, bulk);
    BENCH_RESULT("W9-bulk", impl, (double)bulk / dt / 1e9, "GB/s");
}

/* W11 figures against a server (process server_pid) listening on port. */
static inline void ec_run_w11(unsigned port, pid_t server_pid, const char *impl, long n) {
    ec_raise_nofile();
    int *fds = malloc((size_t)n * sizeof *fds);
    usleep(200000);
    long before = ec_rss_of(server_pid);
    ec_connect_many(port, fds, n, 500);
    usleep(1000000); /* the server accepts the backlog and settles */
    long idle = ec_rss_of(server_pid);
    double dt = ec_pingpong(fds, n, 1);
    /* The server settles again: the connections are idle (cio trims a stack
     * parked 0.1 to 0.2 s here, see cio_echo_server.h, then drops it). */
    usleep(500000);
    long after = ec_rss_of(server_pid);
    for (long i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    fprintf(stderr, "%s W11: server RSS %ld -> %ld idle -> %ld after the round\n", impl, before,
            idle, after);
    BENCH_RESULT("W11-rss-idle", impl, (double)(idle - before) / (double)n, "bytes/conn");
    BENCH_RESULT("W11-rss-after", impl, (double)(after - before) / (double)n, "bytes/conn");
    BENCH_RESULT("W11-round", impl, dt, "s");
}

/* In a server's child: it dies with the client, so a client that fails
 * (ec_die) leaves no server behind. */
static inline void ec_die_with(pid_t client) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != client)
        _exit(1);
}

/* Starts a server in a child process: serve(port_fd) must write the bound
 * port (an unsigned) to port_fd and then serve until killed. */
static inline pid_t ec_spawn_server(void (*serve)(int port_fd), unsigned *port) {
    int p[2];
    if (pipe(p) < 0)
        ec_die("pipe");
    pid_t client = getpid(), pid = fork();
    if (pid < 0)
        ec_die("fork");
    if (pid == 0) {
        ec_die_with(client);
        close(p[0]);
        ec_raise_nofile();
        serve(p[1]);
        _exit(0);
    }
    close(p[1]);
    if (read(p[0], port, sizeof *port) != (ssize_t)sizeof *port)
        ec_die("the server did not start");
    close(p[0]);
    ec_server_pid = pid;
    return pid;
}

/* Starts a peer's server program (argv, searched on PATH) that prints its
 * port on the first line of its stdout and then serves until killed. */
static inline pid_t ec_spawn_cmd(char *const argv[], unsigned *port) {
    int p[2];
    if (pipe(p) < 0)
        ec_die("pipe");
    pid_t client = getpid(), pid = fork();
    if (pid < 0)
        ec_die("fork");
    if (pid == 0) {
        ec_die_with(client);
        close(p[0]);
        if (dup2(p[1], 1) < 0)
            _exit(127);
        close(p[1]);
        ec_raise_nofile();
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(p[1]);
    char line[32];
    size_t len = 0;
    while (len < sizeof line - 1) {
        ssize_t r = read(p[0], line + len, 1);
        if (r <= 0 || line[len] == '\n')
            break;
        len++;
    }
    line[len] = 0;
    close(p[0]);
    *port = (unsigned)atoi(line);
    if (*port == 0 || *port > 65535) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fprintf(stderr, "%s did not print its port\n", argv[0]);
        exit(2);
    }
    ec_server_pid = pid;
    return pid;
}

/* For `PROG peer IMPL [-q] -- CMD...`: the index of CMD in argv, or 0 when
 * argv is not of that form. */
static inline int ec_command_start(int argc, char **argv) {
    if (argc < 5 || strcmp(argv[1], "peer") != 0)
        return 0;
    for (int i = 3; i < argc - 1; i++)
        if (strcmp(argv[i], "--") == 0)
            return i + 1;
    return 0;
}

static inline void ec_stop_server(pid_t pid) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* Runs `<dir of this program>/<rel>` with args and waits for it. */
static inline int ec_run_sibling(const char *rel, char *const args[]) {
    char self[PATH_MAX], path[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        ec_die("readlink");
    self[n] = 0;
    char *slash = strrchr(self, '/');
    *slash = 0;
    snprintf(path, sizeof path, "%s/%s", self, rel);
    pid_t pid = fork();
    if (pid == 0) {
        execv(path, args);
        fprintf(stderr, "cannot run %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

#endif
