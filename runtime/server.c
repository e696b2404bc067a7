/* Servers: asyncio.start_server. One accept task per server, one task per
 * connection running the user's handler.
 *
 * Each task cleans up at the end of its body. A task cancelled before it
 * ever ran never executes its body, so a done callback does the cleanup in
 * that case; the body removes the callback when it gets to run. */
#include "acceptor.h"
#include "list.h"
#include "stream.h"

#include "debug.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct conn {
    struct cio_server *srv;
    cio_stream *s;
    cio_future *task;
    cio__list_node link; /* in srv->conns */
} conn;

struct cio_server {
    cio_loop *loop;
    int lfd;
    cio__acceptor *acceptor_ring; /* the multishot accept, while accepting */
    unsigned port;
    cio_stream_handler handler;
    void *arg;
    cio_future *acceptor; /* NULL once it has ended */
    cio__list conns;      /* handlers still running */
    bool closing, freed;
    cio__waitq closing_waiters;  /* serve_forever */
    cio__waitq closed_waiters;   /* wait_closed */
    void (*arg_free)(void *arg); /* a module's wrapper of handler and arg */
};

enum { BACKLOG = 4096 };
static const double BACKOFF_MIN = 0.01, BACKOFF_MAX = 1.0;

static bool fully_closed(const cio_server *srv) {
    return srv->closing && !srv->acceptor && cio__list_empty(&srv->conns);
}

/* Waiters are woken only once the state they wait for is final, so they never
 * look at the server again (it may be freed right after). */
static void server_free_mem(cio_server *srv) {
    if (srv->arg_free)
        srv->arg_free(srv->arg);
    free(srv);
}

static void check_closed(cio_server *srv) {
    if (!fully_closed(srv))
        return;
    cio__waitq_wake_all(&srv->closed_waiters, 0);
    if (srv->freed)
        server_free_mem(srv);
}

/* ---- connections ---- */

static void conn_unlink(conn *c) {
    cio__list_remove(&c->srv->conns, &c->link);
}

static void conn_done(cio_future *f, void *arg);

static void *conn_main(void *arg) {
    conn *c = arg;
    cio_server *srv = c->srv;
    cio_future_remove_done_callback(c->task, conn_done, c);
    srv->handler(c->s, srv->arg);
    /* A cancelled connection (close_clients, shutdown) must not wait on its peer. */
    cio__stream_finish(c->s, cio_task_cancelling(c->task) > 0);
    conn_unlink(c);
    cio_future_unref(c->task); /* the loop holds its own until we return */
    free(c);
    check_closed(srv);
    return NULL;
}

/* Only for a task that was cancelled before its body ran. */
static void conn_done(cio_future *f, void *arg) {
    conn *c = arg;
    cio_server *srv = c->srv;
    cio__stream_finish(c->s, true);
    conn_unlink(c);
    cio_future_unref(f);
    free(c);
    check_closed(srv);
}

static void conn_start(cio_server *srv, int fd) {
    conn *c = calloc(1, sizeof *c);
    cio_stream *s = c ? cio__stream_adopt(fd, true) : NULL;
    cio_future *t = s ? cio_loop_create_task(srv->loop, conn_main, c) : NULL;
    if (!t || cio_future_add_done_callback(t, conn_done, c) < 0) {
        if (t) {
            cio_cancel(t); /* it will not run its body: nothing else uses c */
            cio_future_unref(t);
        }
        if (s)
            cio__stream_finish(s, true);
        else if (!c)
            close(fd);
        free(c);
        cio_log(CIO_LOG_WARNING, "server: dropped a connection: out of memory");
        return;
    }
    *c = (conn){.srv = srv, .s = s, .task = t};
    cio__list_push_back(&srv->conns, &c->link);
}

/* ---- accepting ---- */

/* Out of descriptors or memory: the pending connection waits in the backlog
 * while the server backs off, and is served once resources free up. */
static bool accept_transient(int err) {
    return err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM;
}

/* The connection died in the backlog, or a signal: just accept the next. */
static bool accept_skip(int err) {
    return err == -ECONNABORTED || err == -EINTR || err == -EAGAIN || err == -EPROTO ||
           err == -EPERM || err == -ENETDOWN || err == -EHOSTUNREACH || err == -ENETUNREACH;
}

static void accept_done(cio_future *f, void *arg);

/* The listening socket goes, and with it the server unless connections run. */
static void accept_over(cio_server *srv) {
    cio__acceptor_free(srv->acceptor_ring); /* before the fd it accepts on goes */
    srv->acceptor_ring = NULL;
    cio__loop_fd_closing(srv->loop, srv->lfd);
    close(srv->lfd);
    srv->lfd = -1;
    cio_future_unref(srv->acceptor);
    srv->acceptor = NULL;
    srv->closing = true; /* an accept error ends the server like a close */
    cio__waitq_wake_all(&srv->closing_waiters, 0);
    check_closed(srv);
}

static void *accept_main(void *arg) {
    cio_server *srv = arg;
    cio_future_remove_done_callback(srv->acceptor, accept_done, srv);
    double backoff = BACKOFF_MIN;
    /* One multishot request accepts for the server's whole life; plain
     * accepts if there is no memory for it. */
    srv->acceptor_ring = cio__acceptor_new(srv->loop, srv->lfd);
    while (!srv->closing) {
        int fd = srv->acceptor_ring ? cio__acceptor_next(srv->acceptor_ring)
                                    : cio_accept(srv->lfd, NULL, NULL);
        if (fd >= 0) {
            backoff = BACKOFF_MIN;
            conn_start(srv, fd);
        } else if (accept_transient(fd)) {
            CIO__DEBUG(srv->loop, "server: accept: %s; retrying in %.2f s", cio_strerror(fd),
                       backoff);
            if (cio_sleep(backoff) < 0)
                break;
            backoff = backoff * 2 < BACKOFF_MAX ? backoff * 2 : BACKOFF_MAX;
        } else if (!accept_skip(fd)) {
            if (fd != -ECANCELED)
                cio_log(CIO_LOG_ERROR, "server: accept failed: %s", cio_strerror(fd));
            break;
        }
    }
    accept_over(srv);
    return NULL;
}

/* Only for an accept task cancelled before its body ran. */
static void accept_done(cio_future *f, void *arg) {
    (void)f;
    accept_over(arg);
}

/* ---- setup ---- */

static int listen_on(struct addrinfo *ai, const cio_server_options *o, unsigned *port) {
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* Each loop's socket gets its own share of the connections (the kernel
     * hashes them across the sockets bound to the port). */
    if (o->reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int backlog = o->backlog > 0 ? o->backlog : BACKLOG;
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* Starts the accepting task. 0 or -ENOMEM (nothing started then). */
static int start_accepting(cio_server *srv) {
    srv->acceptor = cio_loop_create_task(srv->loop, accept_main, srv);
    if (!srv->acceptor)
        return -ENOMEM;
    if (cio_future_add_done_callback(srv->acceptor, accept_done, srv) < 0) {
        cio_cancel(srv->acceptor); /* never started: it does not touch srv */
        cio_future_unref(srv->acceptor);
        return -ENOMEM;
    }
    return 0;
}

static int server_listen(cio_server *srv, const cio_server_options *o, const char *host,
                         unsigned port) {
    struct addrinfo *res = NULL;
    int r = cio__resolve(host, port, true, &res);
    if (r < 0)
        return r;
    r = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai && r < 0; ai = ai->ai_next)
        r = listen_on(ai, o, &srv->port);
    freeaddrinfo(res);
    return r;
}

cio_server *cio_start_server_with(const cio_server_options *opt, const char *host, unsigned port,
                                  cio_stream_handler handler, void *arg) {
    static const cio_server_options defaults;
    const cio_server_options *o = opt ? opt : &defaults;
    cio_loop *loop = cio__loop_running();
    int r = !loop ? -EPERM : !handler || o->backlog < 0 ? -EINVAL : 0;
    cio_server *srv = r ? NULL : calloc(1, sizeof *srv);
    if (!r && !srv)
        r = -ENOMEM;
    if (!r) {
        *srv = (cio_server){.loop = loop, .handler = handler, .arg = arg};
        r = srv->lfd = server_listen(srv, o, host, port);
    }
    if (r >= 0) {
        r = start_accepting(srv);
        if (r < 0)
            close(srv->lfd); /* nothing waited on it yet */
    }
    if (r < 0) {
        free(srv);
        errno = -r;
        return NULL;
    }
    return srv;
}

cio_server *cio_start_server(const char *host, unsigned port, cio_stream_handler handler,
                             void *arg) {
    return cio_start_server_with(NULL, host, port, handler, arg);
}

/* ---- control ---- */

unsigned cio_server_port(const cio_server *srv) {
    if (!srv)
        return 0;
    return srv->port;
}

size_t cio_server_connections(const cio_server *srv) {
    if (!srv)
        return 0;
    return srv->conns.n;
}

int cio_server_close(cio_server *srv) {
    if (!srv)
        return -EINVAL;
    if (srv->closing)
        return 0;
    srv->closing = true;
    if (srv->acceptor)
        cio_cancel(srv->acceptor);
    cio__waitq_wake_all(&srv->closing_waiters, 0);
    return 0;
}

void cio_server_close_clients(cio_server *srv) {
    if (!srv)
        return;
    cio__list_each(&srv->conns, it, next)
        cio_cancel(cio__list_entry(it, conn, link)->task);
}

int cio_server_wait_closed(cio_server *srv) {
    int r = srv ? cio__task_require(__func__) : -EINVAL;
    if (r < 0 || fully_closed(srv))
        return r;
    return cio__waitq_wait(&srv->closed_waiters, &(cio__waiter){0});
}

int cio_server_serve_forever(cio_server *srv) {
    int r = srv ? cio__task_require(__func__) : -EINVAL;
    if (r < 0 || srv->closing)
        return r;
    r = cio__waitq_wait(&srv->closing_waiters, &(cio__waiter){0});
    if (r == -ECANCELED)
        cio_server_close(srv);
    return r;
}

void cio_server_free(cio_server *srv) {
    if (!srv)
        return;
    cio_server_close(srv);
    cio_server_close_clients(srv);
    srv->freed = true;
    if (fully_closed(srv))
        server_free_mem(srv);
}

void cio__server_set_arg_free(cio_server *srv, void (*arg_free)(void *arg)) {
    srv->arg_free = arg_free;
}

/* A server over a socket that is listening already (unix.c's); it owns lfd
 * from now on (closed on failure too). */
cio_server *cio__server_adopt(int lfd, cio_stream_handler handler, void *arg) {
    cio_loop *loop = cio__loop_running();
    int r = !loop ? -EPERM : !handler ? -EINVAL : 0;
    cio_server *srv = r ? NULL : calloc(1, sizeof *srv);
    if (!r && !srv)
        r = -ENOMEM;
    if (!r) {
        *srv = (cio_server){.loop = loop, .lfd = lfd, .handler = handler, .arg = arg};
        r = start_accepting(srv);
    }
    if (r < 0) {
        close(lfd);
        free(srv);
        errno = -r;
        return NULL;
    }
    return srv;
}
