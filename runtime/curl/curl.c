/* cio-curl: one curl multi handle per loop, driven by loop callbacks.
 *
 * curl tells us which sockets to watch (socket callback -> cio_add_reader /
 * cio_add_writer) and when to call it back (timer callback ->
 * cio_call_later); each readiness or timer callback calls
 * curl_multi_socket_action, then collects finished transfers and completes
 * the future their task awaits. A task that is cancelled removes its easy
 * handle itself, in the task, so no curl callback ever runs for it later.
 *
 * The per-loop state lives in a thread-local list (a loop runs on one
 * thread) and goes when the loop's last transfer ends: the core has no
 * at-close hook to hang a longer life on. */
#include "debug.h"
#include "list.h"

#include "cio_curl.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>

typedef struct xfer {
    CURL *easy;
    cio_future *done;
    CURLcode result;
    cio__list_node link; /* in the loop's xfers */
} xfer;

typedef struct curl_loop {
    cio_loop *loop;
    CURLM *multi;
    cio_handle timer;
    bool timer_set;
    cio__list xfers;          /* transfers in the multi handle */
    cio__list socks;          /* watched sockets (curl_sock.link) */
    struct curl_sock *firing; /* the socket whose callback runs (NULL once curl drops it) */
    struct curl_loop *next;
} curl_loop;

/* One watched socket of curl's. */
typedef struct curl_sock {
    curl_loop *cl;
    curl_socket_t fd;
    int what; /* CURL_POLL_IN / OUT / INOUT */
    cio__list_node link;
} curl_sock;

static __thread curl_loop *loops;

/* ---- finished transfers ---- */

static void collect(curl_loop *cl) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(cl->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        cio__list_each(&cl->xfers, it, next) {
            xfer *x = cio__list_entry(it, xfer, link);
            if (x->easy == m->easy_handle && !cio_future_done(x->done)) {
                x->result = m->data.result;
                cio_future_set_result(x->done, NULL);
                break;
            }
        }
    }
}

static void socket_action(curl_loop *cl, curl_socket_t fd, int ev) {
    int running;
    curl_multi_socket_action(cl->multi, fd, ev, &running);
    collect(cl);
}

/* ---- sockets ---- */

enum { DRAIN_MAX = 16 };

/* curl reads one buffer per call on a plain socket: while the socket still
 * has data (a poll(2) that does not wait), calling again is cheaper than a
 * trip round the loop for each buffer. */
static void on_readable(void *arg) {
    curl_sock *cs = arg;
    curl_loop *cl = cs->cl;
    curl_socket_t fd = cs->fd;
    cl->firing = cs;
    for (int i = 0; i < DRAIN_MAX; i++) {
        socket_action(cl, fd, CURL_CSELECT_IN);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (cl->firing != cs || !(cs->what & CURL_POLL_IN) || poll(&p, 1, 0) != 1 ||
            !(p.revents & POLLIN))
            break;
    }
    cl->firing = NULL;
}

static void on_writable(void *arg) {
    curl_sock *cs = arg;
    socket_action(cs->cl, cs->fd, CURL_CSELECT_OUT);
}

static void sock_forget(curl_loop *cl, curl_sock *cs) {
    if (cl->firing == cs)
        cl->firing = NULL;
    if (cs->what & CURL_POLL_IN)
        cio_remove_reader(cs->fd);
    if (cs->what & CURL_POLL_OUT)
        cio_remove_writer(cs->fd);
    cio__list_remove(&cl->socks, &cs->link);
    free(cs);
}

/* Watches exactly what curl asks for now. 0 or -1 (curl then fails the
 * transfer). */
static int sock_watch(curl_sock *cs, int what) {
    int r = 0;
    if ((what & CURL_POLL_IN) && !(cs->what & CURL_POLL_IN))
        r = cio_add_reader(cs->fd, on_readable, cs);
    else if (!(what & CURL_POLL_IN) && (cs->what & CURL_POLL_IN))
        cio_remove_reader(cs->fd);
    if (r == 0 && (what & CURL_POLL_OUT) && !(cs->what & CURL_POLL_OUT))
        r = cio_add_writer(cs->fd, on_writable, cs);
    else if (!(what & CURL_POLL_OUT) && (cs->what & CURL_POLL_OUT))
        cio_remove_writer(cs->fd);
    cs->what = what;
    return r < 0 ? -1 : 0;
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    (void)easy;
    curl_loop *cl = userp;
    curl_sock *cs = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (cs)
            sock_forget(cl, cs);
        curl_multi_assign(cl->multi, fd, NULL);
        return 0;
    }
    if (!cs) {
        cs = calloc(1, sizeof *cs);
        if (!cs)
            return -1;
        *cs = (curl_sock){.cl = cl, .fd = fd};
        cio__list_push_back(&cl->socks, &cs->link);
        curl_multi_assign(cl->multi, fd, cs);
    }
    return sock_watch(cs, what);
}

/* ---- the timer ---- */

static void on_timeout(void *arg) {
    curl_loop *cl = arg;
    cl->timer_set = false;
    socket_action(cl, CURL_SOCKET_TIMEOUT, 0);
}

static int timer_cb(CURLM *multi, long ms, void *userp) {
    (void)multi;
    curl_loop *cl = userp;
    if (cl->timer_set)
        cio_handle_cancel(cl->timer);
    cl->timer_set = false;
    if (ms < 0)
        return 0;
    cl->timer = cio_call_later((double)ms / 1000.0, on_timeout, cl);
    cl->timer_set = cl->timer.p != NULL;
    return cl->timer_set ? 0 : -1;
}

/* ---- per-loop state ---- */

static const char *curl_name(int code) {
    return curl_easy_strerror((CURLcode)code);
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_result;

static void global_init(void) {
    global_result = curl_global_init(CURL_GLOBAL_DEFAULT);
    cio__set_curl_strerror(curl_name);
}

static curl_loop *loop_get(cio_loop *loop) {
    for (curl_loop *cl = loops; cl; cl = cl->next)
        if (cl->loop == loop)
            return cl;
    pthread_once(&global_once, global_init);
    if (global_result != CURLE_OK)
        return NULL;
    curl_loop *cl = calloc(1, sizeof *cl);
    if (!cl || !(cl->multi = curl_multi_init())) {
        free(cl);
        return NULL;
    }
    cl->loop = loop;
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
    cl->next = loops;
    loops = cl;
    return cl;
}

static void loop_free(curl_loop *cl) {
    curl_multi_cleanup(cl->multi); /* closes cached connections (may call socket_cb) */
    while (cl->socks.head)
        sock_forget(cl, cio__list_entry(cl->socks.head, curl_sock, link));
    if (cl->timer_set)
        cio_handle_cancel(cl->timer);
    for (curl_loop **p = &loops; *p; p = &(*p)->next)
        if (*p == cl) {
            *p = cl->next;
            break;
        }
    free(cl);
}

/* ---- performing ---- */

static void xfer_unlink(curl_loop *cl, xfer *x) {
    cio__list_remove(&cl->xfers, &x->link);
}

static int add(curl_loop *cl, xfer *x) {
    CURLMcode mc = curl_multi_add_handle(cl->multi, x->easy);
    if (mc != CURLM_OK)
        return mc == CURLM_ADDED_ALREADY ? -EBUSY : mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
    cio__list_push_back(&cl->xfers, &x->link);
    return 0;
}

int cio_curl_perform(CURL *easy) {
    if (!easy)
        return -EINVAL;
    cio_loop *loop = cio_get_running_loop();
    if (!loop || !cio_current_task())
        return -EPERM;
    curl_loop *cl = loop_get(loop);
    if (!cl)
        return -ENOMEM;
    xfer x = {.easy = easy, .done = cio_future_new()};
    int r = x.done ? add(cl, &x) : -ENOMEM;
    if (r == 0) {
        r = cio_await(x.done, NULL);
        /* Done or cancelled, the handle leaves the multi here, in the task,
         * never inside one of curl's callbacks. */
        curl_multi_remove_handle(cl->multi, easy);
        xfer_unlink(cl, &x);
        if (r == 0 && x.result != CURLE_OK)
            r = CIO_ECURL - (int)x.result;
    }
    if (x.done)
        cio_future_unref(x.done);
    if (cio__list_empty(&cl->xfers))
        loop_free(cl);
    return r;
}
