/* The epoll backend's threads for file operations: epoll cannot wait for a
 * regular file, so an open, a stat, an fsync or a read that misses the page
 * cache runs as a plain blocking syscall on one of up to four threads (as
 * libuv does), and the loop hears of it through an eventfd. A request a
 * thread has started runs to its end: its memory stays the caller's. */
#include "backend_epoll.h"

#include "fault.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

enum { MAX_THREADS = sizeof(((cio__ep_pool *)0)->threads) / sizeof(pthread_t) };

static ssize_t rw(const cio__req *r) {
    struct iovec one = {r->addr, r->len};
    bool vec = r->op == CIO__OP_READV || r->op == CIO__OP_WRITEV;
    const struct iovec *iov = vec ? r->addr : &one;
    int n = vec ? (int)r->len : 1;
    off_t off = r->off == CIO__OFF_CUR ? -1 : (off_t)r->off;
    if (r->op == CIO__OP_READ || r->op == CIO__OP_READV)
        return preadv2(r->fd, iov, n, off, 0);
    return pwritev2(r->fd, iov, n, off, 0);
}

int cio__ep_blocking(cio__req *r) {
    long n;
    switch (r->op) {
    case CIO__OP_READ:
    case CIO__OP_READV:
    case CIO__OP_WRITE:
    case CIO__OP_WRITEV:
        n = rw(r);
        break;
    case CIO__OP_OPENAT:
        n = openat(AT_FDCWD, r->addr, r->arg, (mode_t)r->len);
        break;
    case CIO__OP_FSYNC:
        n = r->arg & CIO__FSYNC_DATA ? fdatasync(r->fd) : fsync(r->fd);
        break;
    case CIO__OP_STATX:
        n = statx(r->fd, r->addr, r->arg, STATX_BASIC_STATS, r->addr2);
        break;
    case CIO__OP_UNLINKAT:
        n = unlinkat(AT_FDCWD, r->addr, r->arg);
        break;
    case CIO__OP_RENAMEAT:
        n = renameat(AT_FDCWD, r->addr, AT_FDCWD, r->addr2);
        break;
    case CIO__OP_MKDIRAT:
        n = mkdirat(AT_FDCWD, r->addr, (mode_t)r->len);
        break;
    default:
        return -EINVAL;
    }
    if (n < 0)
        return -errno;
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

static void *worker(void *arg) {
    cio__ep_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (cio__list_empty(&p->queue) && !p->stop) {
            p->idle++;
            pthread_cond_wait(&p->cv, &p->mu);
            p->idle--;
        }
        if (cio__list_empty(&p->queue))
            break;
        cio__req *r = CIO__EP_REQ(cio__list_pop_front(&p->queue));
        pthread_mutex_unlock(&p->mu);
        r->bres = cio__ep_blocking(r);
        pthread_mutex_lock(&p->mu);
        bool was_empty = cio__list_empty(&p->done);
        cio__list_push_back(&p->done, &r->blink);
        if (was_empty) {
            uint64_t one = 1;
            if (write(p->efd, &one, sizeof one) < 0) {
                /* the counter cannot overflow here; nothing else can fail */
            }
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int cio__ep_pool_init(cio__ep_pool *p) {
    *p = (cio__ep_pool){0};
    p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->efd < 0)
        return -errno;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    return 0;
}

/* A thread with every signal blocked: signals are the loop thread's. */
static int start_thread(cio__ep_pool *p) {
    if (CIO__FAULT(CIO__FAULT_THREAD))
        return -EAGAIN;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int r = pthread_create(&p->threads[p->nthreads], NULL, worker, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r)
        return -r;
    p->nthreads++;
    return 0;
}

int cio__ep_pool_submit(cio__ep_pool *p, cio__req *r) {
    pthread_mutex_lock(&p->mu);
    int e = 0;
    if (!p->idle && p->nthreads < MAX_THREADS)
        e = start_thread(p);
    if (e < 0 && !p->nthreads) {
        pthread_mutex_unlock(&p->mu);
        return e; /* no thread at all: the request cannot run */
    }
    cio__list_push_back(&p->queue, &r->blink);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

bool cio__ep_pool_cancel(cio__ep_pool *p, cio__req *r) {
    pthread_mutex_lock(&p->mu);
    bool found = false;
    cio__list_each(&p->queue, it, next) {
        if (it == &r->blink) {
            cio__list_remove(&p->queue, it);
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return found;
}

void cio__ep_pool_cancel_all(cio__ep_pool *p, cio__list *out) {
    pthread_mutex_lock(&p->mu);
    cio__list_splice(out, &p->queue);
    pthread_mutex_unlock(&p->mu);
}

void cio__ep_pool_take_done(cio__ep_pool *p, cio__list *out) {
    uint64_t n;
    if (read(p->efd, &n, sizeof n) < 0) {
        /* EAGAIN: a batch already taken with an earlier wakeup */
    }
    pthread_mutex_lock(&p->mu);
    cio__list_splice(out, &p->done);
    pthread_mutex_unlock(&p->mu);
}

void cio__ep_pool_destroy(cio__ep_pool *p) {
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    p->queue = (cio__list){0}; /* never started: nobody waits for them now */
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    close(p->efd);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}
