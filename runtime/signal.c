/* Unix signals as loop callbacks (asyncio's add_signal_handler): the
 * signals are blocked in the loop's thread and read from a signalfd by a
 * request kept in the ring, so a handler runs as an ordinary callback, free
 * to do anything, instead of in signal context.
 *
 * A process-directed signal goes to any thread that does not block it. The
 * pools' threads block everything, but a thread the program started itself
 * would take the default action (SIGTERM ends the process) or cio_run's
 * Ctrl-C handler would cancel the main task behind the handler's back. So
 * while a handler is set, the signal's process-wide action passes it on to
 * the loop's thread, where it waits, blocked, for the signalfd. */
#include "debug.h"
#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

typedef struct sig_state {
    cio__req req;
    cio_loop *loop;
    int fd;
    bool armed;
    sigset_t mask;    /* the signals we handle */
    sigset_t unblock; /* of those, the ones that were not blocked before */
    cio_cb cb[_NSIG];
    void *arg[_NSIG];
    struct sigaction old[_NSIG]; /* the actions ours replaced */
    struct signalfd_siginfo info;
} sig_state;

/* One forwarding target per signal for the process: the last loop thread
 * that set a handler for it. */
static _Atomic pthread_t forward_to[_NSIG];

static void forward(int sig) {
    int saved = errno; /* a handler must leave errno as it found it */
    pthread_kill(atomic_load(&forward_to[sig]), sig);
    errno = saved;
}

static void take_action(sig_state *s, int sig) {
    struct sigaction sa = {.sa_handler = forward, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    atomic_store(&forward_to[sig], pthread_self());
    if (sigaction(sig, &sa, &s->old[sig]) < 0)
        s->old[sig].sa_handler = forward; /* nothing to give back */
}

/* Gives the earlier action back, unless somebody replaced ours since (cio_run
 * puts its own back when it ends): theirs stays. */
static void give_action(sig_state *s, int sig) {
    struct sigaction cur;
    if (s->old[sig].sa_handler != forward && sigaction(sig, NULL, &cur) == 0 &&
        cur.sa_handler == forward)
        sigaction(sig, &s->old[sig], NULL);
}

static void sig_done(cio__req *req, int res, unsigned flags);

static void arm(sig_state *s) {
    if (s->armed || s->fd < 0)
        return;
    s->req = (cio__req){.done = sig_done,
                        .ctx = s,
                        .op = CIO__OP_READ,
                        .flags = CIO__REQ_BACKGROUND,
                        .fd = s->fd,
                        .addr = &s->info,
                        .len = sizeof s->info,
                        .off = CIO__OFF_CUR};
    if (cio__backend_submit(s->loop->backend, &s->req) < 0)
        return; /* retried when the next signal handler is added or removed */
    s->armed = true;
}

static void sig_done(cio__req *req, int res, unsigned flags) {
    (void)flags;
    sig_state *s = req->ctx;
    s->armed = false;
    if (res == (int)sizeof s->info) {
        int sig = (int)s->info.ssi_signo;
        if (sig > 0 && sig < _NSIG && s->cb[sig])
            cio_loop_call_soon(s->loop, s->cb[sig], s->arg[sig]);
    }
    bool transient = res >= 0 || res == -EINTR || res == -EAGAIN;
    if (transient && !atomic_load(&s->loop->closed))
        arm(s);
}

static void signals_close(cio_loop *loop, void *state);

static sig_state *state_of(cio_loop *loop) {
    sig_state *have = cio__loop_slot(loop, CIO__SLOT_SIGNALS);
    if (have)
        return have;
    sig_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = loop;
    s->fd = -1;
    sigemptyset(&s->mask);
    sigemptyset(&s->unblock);
    cio__loop_slot_set(loop, CIO__SLOT_SIGNALS, s, signals_close);
    return s;
}

int cio_loop_add_signal_handler(cio_loop *loop, int sig, cio_cb cb, void *arg) {
    if (!loop)
        return -EPERM;
    cio__loop_check_thread(loop, __func__);
    if (sig <= 0 || sig >= _NSIG || !cb || sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV ||
        sig == SIGBUS || sig == SIGFPE || sig == SIGILL)
        return -EINVAL;
    sig_state *s = state_of(loop);
    if (!s)
        return -ENOMEM;
    if (!sigismember(&s->mask, sig)) {
        sigset_t one, old;
        sigemptyset(&one);
        sigaddset(&one, sig);
        pthread_sigmask(SIG_BLOCK, &one, &old);
        if (!sigismember(&old, sig))
            sigaddset(&s->unblock, sig);
        sigaddset(&s->mask, sig);
        int fd = signalfd(s->fd, &s->mask, SFD_CLOEXEC);
        if (fd < 0) {
            int e = -errno;
            sigdelset(&s->mask, sig);
            if (sigismember(&s->unblock, sig)) {
                sigdelset(&s->unblock, sig);
                pthread_sigmask(SIG_UNBLOCK, &one, NULL);
            }
            return e;
        }
        if (s->fd < 0)
            cio__loop_fd_owned(loop, fd);
        s->fd = fd;
        take_action(s, sig); /* after the block: the loop's thread never runs it */
    }
    s->cb[sig] = cb;
    s->arg[sig] = arg;
    arm(s);
    return 0;
}

int cio_add_signal_handler(int sig, cio_cb cb, void *arg) {
    return cio_loop_add_signal_handler(cio__loop_running(), sig, cb, arg);
}

bool cio_loop_remove_signal_handler(cio_loop *loop, int sig) {
    sig_state *s = loop ? cio__loop_slot(loop, CIO__SLOT_SIGNALS) : NULL;
    if (sig <= 0 || sig >= _NSIG || !s || !sigismember(&s->mask, sig))
        return false; /* asyncio: False, nothing to remove */
    sigdelset(&s->mask, sig);
    s->cb[sig] = NULL;
    give_action(s, sig);
    signalfd(s->fd, &s->mask, SFD_CLOEXEC);
    if (sigismember(&s->unblock, sig)) {
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        sigdelset(&s->unblock, sig);
        pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    }
    arm(s);
    return true;
}

bool cio_remove_signal_handler(int sig) {
    return cio_loop_remove_signal_handler(cio__loop_running(), sig);
}

/* Loop close (the backend is gone already: no request is in flight). */
static void signals_close(cio_loop *loop, void *state) {
    (void)loop;
    sig_state *s = state;
    if (s->fd >= 0)
        close(s->fd);
    for (int sig = 1; sig < _NSIG; sig++)
        if (sigismember(&s->mask, sig))
            give_action(s, sig);
    pthread_sigmask(SIG_UNBLOCK, &s->unblock, NULL);
    free(s);
}
