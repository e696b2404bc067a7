/* Unix signals as loop callbacks (asyncio's add_signal_handler): the
 * signals are blocked in the loop's thread and read from a signalfd by a
 * request kept in the ring, so a handler runs as an ordinary callback, free
 * to do anything, instead of in signal context. */
#include "debug.h"
#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

typedef struct sig_state {
    cio__op op;
    cio_loop *loop;
    int fd;
    bool armed;
    sigset_t mask;    /* the signals we handle */
    sigset_t unblock; /* of those, the ones that were not blocked before */
    cio_cb cb[_NSIG];
    void *arg[_NSIG];
    struct signalfd_siginfo info;
} sig_state;

static void sig_done(cio__op *op, int res, uint32_t flags);

static void arm(sig_state *s) {
    if (s->armed || s->fd < 0)
        return;
    struct io_uring_sqe *sqe = cio__uring_sqe(s->loop->ring, &s->op);
    if (!sqe)
        return; /* retried when the next signal handler is added or removed */
    cio__sqe_prep(sqe, IORING_OP_READ, s->fd, &s->info, sizeof s->info, 0);
    s->armed = true;
}

static void sig_done(cio__op *op, int res, uint32_t flags) {
    (void)flags;
    sig_state *s = (sig_state *)op;
    s->armed = false;
    if (res == (int)sizeof s->info) {
        int sig = (int)s->info.ssi_signo;
        if (sig > 0 && sig < _NSIG && s->cb[sig])
            cio_loop_call_soon(s->loop, s->cb[sig], s->arg[sig]);
    }
    if (res >= 0 && !atomic_load(&s->loop->closed))
        arm(s);
}

static sig_state *state_of(cio_loop *loop) {
    if (loop->signals)
        return loop->signals;
    sig_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->op.done = sig_done;
    s->op.background = true;
    s->loop = loop;
    s->fd = -1;
    sigemptyset(&s->mask);
    sigemptyset(&s->unblock);
    loop->signals = s;
    return s;
}

int cio_add_signal_handler(int sig, cio_cb cb, void *arg) {
    cio_loop *loop = cio__loop_running();
    if (!loop)
        return -EPERM;
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
        s->fd = fd;
    }
    s->cb[sig] = cb;
    s->arg[sig] = arg;
    arm(s);
    return 0;
}

int cio_remove_signal_handler(int sig) {
    cio_loop *loop = cio__loop_running();
    sig_state *s = loop ? loop->signals : NULL;
    if (sig <= 0 || sig >= _NSIG)
        return -EINVAL;
    if (!s || !sigismember(&s->mask, sig))
        return 0; /* asyncio: False, nothing to remove */
    sigdelset(&s->mask, sig);
    s->cb[sig] = NULL;
    signalfd(s->fd, &s->mask, SFD_CLOEXEC);
    if (sigismember(&s->unblock, sig)) {
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        sigdelset(&s->unblock, sig);
        pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    }
    arm(s);
    return 1;
}

/* Loop close (the ring is gone already: no request is in flight). */
void cio__signals_close(cio_loop *loop) {
    sig_state *s = loop->signals;
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    pthread_sigmask(SIG_UNBLOCK, &s->unblock, NULL);
    free(s);
    loop->signals = NULL;
}
