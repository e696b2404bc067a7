/* The ping-pong of echo_client.h on io_uring: one multishot receive per
 * connection into a ring of provided buffers, and every send of a batch of
 * completions submitted in one system call.
 *
 * Why not plain epoll: a client that pays a readiness wait, a read and a
 * write per message costs what an epoll server costs, so on two cores both
 * processes saturated a core each at the same CPU per message (EC_CPU=1
 * prints both), and every server at least as cheap as the client tied with
 * it: W9 measured the client. This one makes about one system call per
 * batch of messages; against Tokio's and Go's servers it has time to spare.
 * The work is the same for every server: each connection sends 64 bytes,
 * waits for their echo and checks every byte. Where io_uring cannot start
 * (or with EC_EPOLL=1) the epoll client runs. */
#ifndef CIO_BENCH_ECHO_URING_H
#define CIO_BENCH_ECHO_URING_H

#include <liburing.h>

enum { ECU_BUFS = 4096, ECU_BUFSZ = 128, ECU_GROUP = 7 };

typedef struct ecu {
    struct io_uring ring;
    struct io_uring_buf_ring *br;
    char *mem;
} ecu;

/* io_uring with a provided-buffer ring; -1 where io_uring cannot start. */
static inline int ecu_init(ecu *u) {
    struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                                         IORING_SETUP_CQSIZE,
                                .cq_entries = 4 * ECU_BUFS};
    if (io_uring_queue_init_params(1024, &u->ring, &p) < 0)
        return -1;
    if (posix_memalign((void **)&u->br, 4096, ECU_BUFS * sizeof(struct io_uring_buf)) ||
        !(u->mem = malloc((size_t)ECU_BUFS * ECU_BUFSZ)))
        ec_die("malloc");
    io_uring_buf_ring_init(u->br);
    struct io_uring_buf_reg reg = {
        .ring_addr = (unsigned long)u->br, .ring_entries = ECU_BUFS, .bgid = ECU_GROUP};
    if (io_uring_register_buf_ring(&u->ring, &reg, 0) < 0) {
        io_uring_queue_exit(&u->ring);
        free(u->br);
        free(u->mem);
        return -1;
    }
    for (int i = 0; i < ECU_BUFS; i++)
        io_uring_buf_ring_add(u->br, u->mem + (size_t)i * ECU_BUFSZ, ECU_BUFSZ, (unsigned short)i,
                              io_uring_buf_ring_mask(ECU_BUFS), i);
    io_uring_buf_ring_advance(u->br, ECU_BUFS);
    return 0;
}

static inline struct io_uring_sqe *ecu_sqe(ecu *u) {
    struct io_uring_sqe *e = io_uring_get_sqe(&u->ring);
    if (!e) {
        io_uring_submit(&u->ring);
        e = io_uring_get_sqe(&u->ring);
    }
    return e;
}

/* Connection i's receive: user data i, buffers from the ring. */
static inline void ecu_recv(ecu *u, int fd, long i) {
    struct io_uring_sqe *e = ecu_sqe(u);
    io_uring_prep_recv(e, fd, NULL, 0, 0);
    e->ioprio |= IORING_RECV_MULTISHOT;
    e->flags |= IOSQE_BUFFER_SELECT;
    e->buf_group = ECU_GROUP;
    io_uring_sqe_set_data64(e, (uint64_t)i);
}

/* All of msg, or a completion (user data ~0) with the error. */
static inline void ecu_send(ecu *u, int fd, const char *msg) {
    struct io_uring_sqe *e = ecu_sqe(u);
    io_uring_prep_send(e, fd, msg, EC_MSG, MSG_WAITALL | MSG_NOSIGNAL);
    e->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(e, ~(uint64_t)0);
}

/* The kernel cancels the receives after the ring closes, in the background;
 * the buffers can go at once since every echo is in and nothing more comes. */
static inline void ecu_done(ecu *u) {
    io_uring_queue_exit(&u->ring);
    free(u->br);
    free(u->mem);
}

/* Until a completion is there (submitting what is queued). The client
 * blocks: spinning instead spared servers the loopback wake-ups, but on these
 * VMs a spinning vCPU slows the other (asyncio's server ran at half speed). */
static inline void ecu_wait(ecu *u) {
    struct io_uring_cqe *c;
    struct __kernel_timespec ts = {.tv_sec = 10};
    int e = io_uring_submit_and_wait_timeout(&u->ring, &c, 1, &ts, NULL);
    if (e < 0) {
        errno = -e;
        ec_die(e == -ETIME ? "ping-pong stalled" : "io_uring_enter");
    }
}

/* ec_pingpong on io_uring; -1 (nothing sent) where io_uring cannot start. */
static inline double ecu_pingpong(int *fds, long n, long rounds) {
    ecu u;
    if (getenv("EC_EPOLL") || ecu_init(&u) < 0)
        return -1;
    ec_pp p;
    ec_pp_init(&p, n, rounds);
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        ecu_recv(&u, fds[i], i);
        ecu_send(&u, fds[i], p.out + i * EC_MSG);
    }
    while (p.active > 0) {
        struct io_uring_cqe *c;
        ecu_wait(&u);
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&u.ring, head, c) {
            seen++;
            long i = (long)c->user_data;
            if (c->user_data == ~(uint64_t)0) { /* only a failed send completes */
                errno = -c->res;
                ec_die("send");
            }
            if (c->res == -ENOBUFS) { /* the ring ran dry: receive again */
                ecu_recv(&u, fds[i], i);
                continue;
            }
            if (c->res <= 0) {
                errno = c->res < 0 ? -c->res : EPIPE;
                ec_die("recv");
            }
            unsigned bid = c->flags >> IORING_CQE_BUFFER_SHIFT;
            char *b = u.mem + (size_t)bid * ECU_BUFSZ;
            int next = ec_pp_take(&p, i, b, c->res);
            io_uring_buf_ring_add(u.br, b, ECU_BUFSZ, (unsigned short)bid,
                                  io_uring_buf_ring_mask(ECU_BUFS), 0);
            io_uring_buf_ring_advance(u.br, 1);
            if (!(c->flags & IORING_CQE_F_MORE))
                ecu_recv(&u, fds[i], i);
            if (next > 0)
                ecu_send(&u, fds[i], p.out + i * EC_MSG);
        }
        io_uring_cq_advance(&u.ring, seen);
    }
    double dt = bench_now() - t0;
    ecu_done(&u);
    ec_pp_free(&p);
    return dt;
}
#endif
