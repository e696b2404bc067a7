/* TLS connections and servers: cio_open_connection and cio_start_server
 * with the handshake done before the stream is handed over. */
#include "stream.h"
#include "tls.h"

#include <errno.h>
#include <stdlib.h>

cio_stream *cio_open_connection_tls(const char *host, unsigned port, cio_tls *tls,
                                    const char *server_hostname) {
    const char *name = server_hostname ? server_hostname : host;
    if (!tls || tls->server || (tls->verify && !name)) {
        errno = EINVAL;
        return NULL;
    }
    cio_stream *s = cio_open_connection(host, port);
    if (!s)
        return NULL;
    int r = cio_stream_start_tls(s, tls, name);
    if (r < 0) {
        cio_stream_close(s); /* sends the alert that tells the peer why */
        errno = -r;
        return NULL;
    }
    return s;
}

typedef struct tls_server {
    cio_stream_handler handler;
    void *arg;
    cio_tls *tls;
} tls_server;

static void handle(cio_stream *s, void *arg) {
    tls_server *ts = arg;
    int r = cio_stream_start_tls(s, ts->tls, NULL);
    if (r == 0)
        ts->handler(s, ts->arg);
    else if (cio__tls_debug())
        cio_log(CIO_LOG_WARNING, "tls server: handshake with a client failed: %s", cio_strerror(r));
}

static void tls_server_free(void *arg) {
    tls_server *ts = arg;
    cio__tls_unref(ts->tls);
    free(ts);
}

cio_server *cio_start_server_tls(const char *host, unsigned port, cio_stream_handler handler,
                                 void *arg, cio_tls *tls) {
    if (!tls || !tls->server || !handler) {
        errno = EINVAL;
        return NULL;
    }
    tls_server *ts = malloc(sizeof *ts);
    if (!ts) {
        errno = ENOMEM;
        return NULL;
    }
    *ts = (tls_server){.handler = handler, .arg = arg, .tls = tls};
    cio__tls_ref(tls);
    cio_server *srv = cio_start_server(host, port, handle, ts);
    if (!srv) {
        int e = errno;
        tls_server_free(ts);
        errno = e;
        return NULL;
    }
    cio__server_set_arg_free(srv, tls_server_free);
    return srv;
}
