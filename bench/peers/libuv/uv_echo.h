/* The libuv echo server of W9 and W11: libuv's usual shape (a buffer per
 * read from alloc_cb, one uv_write per read), TCP_NODELAY like the others,
 * and flow control: reading stops while more than 64 KiB wait to be sent. */
#ifndef CIO_BENCH_UV_ECHO_H
#define CIO_BENCH_UV_ECHO_H

#include "../../echo_client.h"

#include <uv.h>

enum { UV_HIGH = 64 * 1024, UV_LOW = 16 * 1024 };

typedef struct uv_echo_write {
    uv_write_t req;
    char *base;
} uv_echo_write;

static void uv_echo_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void uv_echo_closed(uv_handle_t *h) {
    free(h);
}

static void uv_echo_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void uv_echo_written(uv_write_t *req, int status) {
    uv_echo_write *w = (uv_echo_write *)req;
    uv_stream_t *s = req->handle;
    free(w->base);
    free(w);
    /* s->data marks a stream whose reading was stopped by the high mark. */
    if (status == 0 && s->data && !uv_is_closing((uv_handle_t *)s) &&
        uv_stream_get_write_queue_size(s) <= UV_LOW) {
        s->data = NULL;
        uv_read_start(s, uv_echo_alloc, uv_echo_read);
    }
}

static void uv_echo_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    if (n <= 0) {
        free(buf->base);
        if (n < 0 && !uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, uv_echo_closed);
        return;
    }
    uv_echo_write *w = malloc(sizeof *w);
    w->base = buf->base;
    uv_buf_t out = uv_buf_init(buf->base, (unsigned)n);
    if (uv_write(&w->req, s, &out, 1, uv_echo_written) < 0) {
        free(w->base);
        free(w);
        return;
    }
    if (uv_stream_get_write_queue_size(s) > UV_HIGH) {
        uv_read_stop(s);
        s->data = s;
    }
}

static void uv_echo_connection(uv_stream_t *server, int status) {
    if (status < 0)
        return;
    uv_tcp_t *c = malloc(sizeof *c);
    uv_tcp_init(server->loop, c);
    c->data = NULL;
    if (uv_accept(server, (uv_stream_t *)c) == 0) {
        uv_tcp_nodelay(c, 1);
        uv_read_start((uv_stream_t *)c, uv_echo_alloc, uv_echo_read);
    } else {
        uv_close((uv_handle_t *)c, uv_echo_closed);
    }
}

/* Runs the server in this (child) process; writes the port to port_fd. */
static void uv_echo_serve(int port_fd) {
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    if (uv_tcp_bind(&server, (const struct sockaddr *)&a, 0) ||
        uv_listen((uv_stream_t *)&server, 4096, uv_echo_connection))
        ec_die("libuv listen");
    int len = sizeof a;
    uv_tcp_getsockname(&server, (struct sockaddr *)&a, &len);
    unsigned port = ntohs(a.sin_port);
    if (write(port_fd, &port, sizeof port) != sizeof port)
        ec_die("write port");
    uv_run(loop, UV_RUN_DEFAULT);
}

#endif
