/* The fork server and the workers it forks (see fork_server.h). */
#include "fork_server.h"
#include "bytes.h"
#include "fault.h"
#include "job.h"
#include "loop.h"
#include "shm.h"
#include "switch.h"

#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define BATCH 64 /* slots a worker reads at once */

static bool no_pidfd; /* tests: behave as without pidfd_open */

void cio__fork_server_no_pidfd(bool on) {
    no_pidfd = on;
}

int cio__fork_server_kill(int ctl, pid_t pid) {
    char msg[1 + sizeof pid];
    msg[0] = CIO__FS_REQ_KILL;
    memcpy(msg + 1, &pid, sizeof pid);
    return send(ctl, msg, sizeof msg, MSG_NOSIGNAL) == (ssize_t)sizeof msg ? 0 : -EPIPE;
}

static int send_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL); /* the pool gone: EPIPE, not a signal */
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads at least one whole slot pointer; returns how many, 0 at EOF. */
static size_t read_slots(int ch, cio__pp_slot **in, size_t cap) {
    size_t got = 0, want = sizeof in[0];
    while (got < want) {
        ssize_t n = read(ch, (char *)in + got, cap * sizeof in[0] - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        got += (size_t)n;
        want = (got + sizeof in[0] - 1) / sizeof in[0] * sizeof in[0]; /* no pointer split */
    }
    return got / sizeof in[0];
}

static void run_slot(cio__pp_slot *s) {
    if (s->timed) {
        s->pid = getpid();
        s->started_ns = cio__job_now_ns();
    }
    cio__job_fail_take();
    s->result = s->bfn ? (void *)(intptr_t)cio__bytes_run(s->bfn, s->arg) : s->fn(s->arg);
    s->err = s->bfn ? 0 : cio__job_fail_take(); /* `return cio_fail(-EIO);` */
    if (s->timed)
        s->ended_ns = cio__job_now_ns();
    atomic_store(&s->state, CIO__PP_SLOT_DONE);
}

/* A worker: runs the slots named on its channel, in order, and names each
 * back when done. A slot cancelled before it started is skipped. The state
 * in shared memory, not the reply, is what the pool trusts if we die. With
 * a budget the worker leaves once it has taken that many slots (skipped ones
 * count: the pool counts what it sends, and both must agree, or a worker
 * would wait for slots the pool will never send it). */
static void worker_main(int ch, unsigned max_jobs) {
    cio__pp_slot *in[BATCH];
    unsigned taken = 0;
    for (;;) {
        size_t k = read_slots(ch, in, BATCH);
        if (k == 0)
            _exit(0); /* the pool closed the channel */
        size_t i = 0;
        for (; i < k && (!max_jobs || taken < max_jobs); i++, taken++) {
            cio__pp_slot *s = in[i];
            int queued = CIO__PP_SLOT_QUEUED;
            if (atomic_compare_exchange_strong(&s->state, &queued, CIO__PP_SLOT_RUNNING))
                run_slot(s);
        }
        if (send_all(ch, in, i * sizeof in[0]) < 0 || (max_jobs && taken >= max_jobs))
            _exit(0);
    }
}

/* The worker's channel and, when the kernel has them, a pidfd: opened here,
 * before this server can reap the worker, it names that process for good,
 * so the pool's kill can never hit a recycled pid. */
static int send_spawned(int ctl, pid_t pid, int ch, int pidfd) {
    cio__fs_msg m = {.type = CIO__FS_SPAWNED, .pid = pid};
    int fds[2] = {ch, pidfd};
    size_t nfds = pidfd >= 0 ? 2 : 1;
    struct iovec iov = {&m, sizeof m};
    char cbuf[CMSG_SPACE(sizeof fds)] = {0};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = cbuf,
                         .msg_controllen = CMSG_SPACE(nfds * sizeof(int))};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    return sendmsg(ctl, &msg, MSG_NOSIGNAL) == (ssize_t)sizeof m ? 0 : -1;
}

/* The server's state. It is single-threaded, so plain malloc is fine. */
typedef struct server {
    int ctl;
    int sigchld; /* signalfd: a worker ended */
    const cio__fs_config *cfg;
    pid_t *kids; /* workers not reaped yet */
    size_t nkids, cap;
} server;

static void forget(server *sv, pid_t pid) {
    for (size_t i = 0; i < sv->nkids; i++)
        if (sv->kids[i] == pid) {
            sv->kids[i] = sv->kids[--sv->nkids];
            return;
        }
}

/* Remembers pid, so that the server can kill it if the pool vanishes; false
 * when there is no memory for that (the worker is then not started). */
static bool remember(server *sv, pid_t pid) {
    if (sv->nkids == sv->cap) {
        size_t cap = sv->cap ? 2 * sv->cap : 16;
        pid_t *k = realloc(sv->kids, cap * sizeof *k);
        if (!k)
            return false;
        sv->kids = k;
        sv->cap = cap;
    }
    sv->kids[sv->nkids++] = pid;
    return true;
}

static void reap(server *sv) {
    struct signalfd_siginfo si;
    while (read(sv->sigchld, &si, sizeof si) == (ssize_t)sizeof si)
        ; /* drained: one wakeup may stand for many deaths */
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        forget(sv, pid);
        cio__fs_msg m = {.type = CIO__FS_DIED, .pid = pid, .status = st};
        if (send(sv->ctl, &m, sizeof m, MSG_NOSIGNAL) < 0)
            continue; /* the pool is gone; reaping goes on */
    }
}

static void spawn_failed(int ctl, int err) {
    cio__fs_msg m = {.type = CIO__FS_FAILED, .status = err};
    if (send(ctl, &m, sizeof m, MSG_NOSIGNAL) < 0)
        return; /* the pool is gone: the server is about to see EOF */
}

static void worker_start(server *sv, int ch) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL); /* the server blocks SIGCHLD for its signalfd */
    close(sv->sigchld);
    close(sv->ctl);
    free(sv->kids);
    if (sv->cfg->init)
        sv->cfg->init(sv->cfg->init_arg);
    worker_main(ch, sv->cfg->max_jobs);
}

/* The pool's kill without a pidfd: only a child not reaped yet is killed,
 * so the pid cannot have been reused by another process. */
static void kill_request(server *sv) {
    pid_t pid;
    size_t got = 0;
    while (got < sizeof pid) {
        ssize_t n = read(sv->ctl, (char *)&pid + got, sizeof pid - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* the pool is gone: the main loop sees EOF next */
        got += (size_t)n;
    }
    for (size_t i = 0; i < sv->nkids; i++)
        if (sv->kids[i] == pid)
            kill(pid, SIGKILL);
}

static void spawn(server *sv) {
    int ch[2];
    if (CIO__FAULT(CIO__FAULT_FORK)) {
        spawn_failed(sv->ctl, EAGAIN);
        return;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ch) < 0) {
        spawn_failed(sv->ctl, errno);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(ch[0]);
        worker_start(sv, ch[1]);
    }
    if (pid > 0 && remember(sv, pid)) {
        /* -1 on old kernels (and Valgrind): the pool then asks us to kill */
        int pidfd = no_pidfd ? -1 : (int)syscall(SYS_pidfd_open, pid, 0);
        send_spawned(sv->ctl, pid, ch[0], pidfd);
        if (pidfd >= 0)
            close(pidfd);
    } else {
        if (pid > 0)
            kill(pid, SIGKILL); /* reaped by the next reap() */
        spawn_failed(sv->ctl, pid > 0 ? ENOMEM : errno);
    }
    close(ch[0]);
    close(ch[1]);
}

/* Nothing of the parent's but the control socket and the standard streams
 * (not its ring, not its sockets), and default signal handling: a handler of
 * the parent's (a test harness's, a crash reporter's) must not run inside a
 * worker. Ctrl-C is the parent's to handle. */
static int server_setup(int ctl) {
    close_range(3, (unsigned)ctl - 1, 0);
    close_range((unsigned)ctl + 1, ~0U, 0);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    signal(SIGINT, SIG_IGN);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_SETMASK, &chld, NULL);
    return signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* Serves spawn requests until the pool closes its end. If the pool vanished
 * with work in flight (its process crashed), the workers still running are
 * killed: nobody is left to want their results. After an orderly shutdown
 * they are idle and exiting anyway. */
static void server_main(int ctl, const cio__fs_config *cfg) {
    server sv = {.ctl = ctl, .sigchld = server_setup(ctl), .cfg = cfg};
    if (sv.sigchld < 0)
        _exit(1); /* the pool reads EOF before any worker: creation fails */
    for (;;) {
        struct pollfd p[2] = {{.fd = ctl, .events = POLLIN}, {.fd = sv.sigchld, .events = POLLIN}};
        if (poll(p, 2, -1) < 0)
            continue;
        if (p[1].revents)
            reap(&sv);
        if (!p[0].revents)
            continue;
        char req;
        ssize_t n = read(ctl, &req, 1);
        if (n == 0 || (n < 0 && errno != EINTR))
            break;
        if (n == 1 && req == CIO__FS_REQ_SPAWN)
            spawn(&sv);
        else if (n == 1 && req == CIO__FS_REQ_KILL)
            kill_request(&sv);
    }
    for (size_t i = 0; i < sv.nkids; i++)
        kill(sv.kids[i], SIGKILL);
    int st;
    while (waitpid(-1, &st, 0) > 0 || errno == EINTR)
        ;
    _exit(0);
}

/* The server and its workers get a stack of their own, as big as a main
 * thread's (RLIMIT_STACK; 8 MiB if unlimited): forked from inside a task,
 * they would otherwise run jobs on what is left of that task's small stack,
 * and ordinary C (a big local buffer) would overflow it. Pages cost only
 * once touched; the lowest page is a guard. */
#define SERVER_STACK_DEFAULT ((size_t)8 << 20)

static int server_ctl;
static const cio__fs_config *server_cfg;

static void server_entry(void *unused) {
    (void)unused;
    server_main(server_ctl, server_cfg);
}

static void server_on_own_stack(int ctl, const cio__fs_config *cfg) {
    struct rlimit rl;
    size_t size = SERVER_STACK_DEFAULT, page = (size_t)sysconf(_SC_PAGESIZE);
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur >= 16 * page)
        size = (size_t)rl.rlim_cur & ~(page - 1);
    char *lo =
        mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (lo == MAP_FAILED || mprotect(lo, page, PROT_NONE) < 0)
        server_main(ctl, cfg); /* stay where we are: better than no server */
    server_ctl = ctl;
    server_cfg = cfg;
    void *unused_sp;
    cio__switch(&unused_sp, cio__ctx_make(lo + page, size - page, server_entry), NULL);
    _exit(1); /* server_main never returns */
}

pid_t cio__fork_server_start(int *ctl, const cio__fs_config *cfg) {
    if (CIO__FAULT(CIO__FAULT_FORK))
        return -EAGAIN;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    fflush(NULL); /* or the children would print the parent's buffered output again */
    /* The children's view of cio_shm starts from this thread's: one pass
     * through the allocator's lock orders it after every thread's earlier
     * change (so TSan in a worker sees no race on a reused block). */
    cio__shm_lock();
    cio__shm_unlock();
    pid_t pid = fork();
    if (pid < 0) {
        int e = -errno;
        close(sv[0]);
        close(sv[1]);
        return e;
    }
    if (pid == 0) {
        cio__loop_forget_after_fork(); /* forked from a task, maybe: its workers start clean */
        close(sv[0]);
        server_on_own_stack(sv[1], cfg);
    }
    close(sv[1]);
    *ctl = sv[0];
    return pid;
}

int cio__fork_server_recv(int ctl, cio__fs_msg *m, int *fd, int *pidfd) {
    char cbuf[CMSG_SPACE(2 * sizeof(int))];
    struct iovec iov = {m, sizeof *m};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    ssize_t n;
    do
        n = recvmsg(ctl, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n < 0 ? -errno : 0;
    int fds[2] = {-1, -1};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        memcpy(fds, CMSG_DATA(c), (k < 2 ? k : 2) * sizeof(int));
    }
    *fd = fds[0];
    *pidfd = fds[1];
    if (n != (ssize_t)sizeof *m) {
        if (fds[0] >= 0)
            close(fds[0]);
        if (fds[1] >= 0)
            close(fds[1]);
        return -EPROTO;
    }
    return 1;
}
