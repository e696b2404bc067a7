/* The background reaper: processes freed while still running (and pidfds
 * nobody waits for) are reaped by one thread that polls their pidfds. It is
 * process-wide rather than per loop, so a loop that closes leaves no zombie
 * behind, and it exits (closing its eventfd) once nothing is left to reap. */
#include "subprocess.h"
#include "vec.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int *pidfds; /* guarded by mu */
static size_t npidfds, cap;
static int wake_fd = -1; /* set while the thread runs */

/* The thread's view of the set: slot 0 is the eventfd. */
static struct pollfd *snapshot(struct pollfd *pf, size_t *n) {
    pthread_mutex_lock(&mu);
    struct pollfd *grown = realloc(pf, (npidfds + 1) * sizeof *pf);
    if (grown) {
        pf = grown;
        pf[0] = (struct pollfd){.fd = wake_fd, .events = POLLIN};
        for (size_t i = 0; i < npidfds; i++)
            pf[i + 1] = (struct pollfd){.fd = pidfds[i], .events = POLLIN};
        *n = npidfds + 1;
    }
    pthread_mutex_unlock(&mu);
    return pf; /* out of memory: the old snapshot, still valid fds */
}

static void forget(int pidfd) {
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < npidfds; i++)
        if (pidfds[i] == pidfd) {
            pidfds[i] = pidfds[--npidfds];
            break;
        }
    pthread_mutex_unlock(&mu);
    close(pidfd);
}

/* Under mu: the thread leaves once the set is empty. */
static bool done_locked(void) {
    if (npidfds)
        return false;
    close(wake_fd);
    wake_fd = -1;
    return true;
}

static void *reaper_main(void *unused) {
    (void)unused;
    struct pollfd *pf = NULL;
    size_t n = 0;
    for (;;) {
        pf = snapshot(pf, &n);
        if (!pf || poll(pf, n, -1) < 0) {
            usleep(10000); /* EINTR, or ENOMEM for poll's copy: try again */
            continue;
        }
        if (pf[0].revents) {
            uint64_t v;
            if (read(pf[0].fd, &v, sizeof v) < 0) { /* nothing: spurious */
            }
        }
        for (size_t i = 1; i < n; i++) {
            int rc;
            if (pf[i].revents && cio__reap_pidfd(pf[i].fd, &rc) != 0)
                forget(pf[i].fd);
        }
        pthread_mutex_lock(&mu);
        bool done = done_locked();
        pthread_mutex_unlock(&mu);
        if (done)
            break;
    }
    free(pf);
    return NULL;
}

/* Under mu. The thread takes no signal meant for the program. */
static int start_locked(void) {
    wake_fd = eventfd(0, EFD_CLOEXEC);
    if (wake_fd < 0)
        return -errno;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    int r = pthread_create(&t, &attr, reaper_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        close(wake_fd);
        wake_fd = -1;
    }
    return -r;
}

static int add_locked(int pidfd) {
    if (cio__vec_reserve(pidfds, &cap, npidfds + 1, 16) < 0)
        return -ENOMEM;
    int r = wake_fd < 0 ? start_locked() : 0;
    if (r < 0)
        return r;
    pidfds[npidfds++] = pidfd;
    uint64_t one = 1;
    if (write(wake_fd, &one, sizeof one) < 0) { /* the counter is full: it wakes anyway */
    }
    return 0;
}

void cio__reaper_adopt(int pidfd) {
    int rc;
    if (cio__reap_pidfd(pidfd, &rc) != 0) {
        close(pidfd);
        return;
    }
    pthread_mutex_lock(&mu);
    int r = add_locked(pidfd);
    pthread_mutex_unlock(&mu);
    if (r == 0)
        return;
    /* No thread and no memory: block until it exits rather than leave a
     * zombie (the only place that may wait; it never happens in practice). */
    while (cio__reap_pidfd(pidfd, &rc) == 0) {
        struct pollfd pf = {.fd = pidfd, .events = POLLIN};
        poll(&pf, 1, -1);
    }
    close(pidfd);
}
