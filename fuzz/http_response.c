/* libFuzzer target: the input is a server's whole response to the examples'
 * HTTP client (examples/common/http.c, compiled into this file so that the
 * connection can be made over a socketpair instead of TCP: no ports, no
 * TIME_WAIT, thousands of runs a second).
 *
 * A peer task reads the request head, writes the input, and closes. The
 * client's http_get must end (no hang: libFuzzer's -timeout catches one),
 * without a crash or a leak, with either a negative errno or a status, and
 * the body it delivered can never be longer than the input. When it retries
 * a connection the peer closed (an empty answer), the retry goes to a bound
 * but not listening loopback port and is refused at once. */
#include "../examples/common/http.c"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#define REQUIRE(c)                                                                                 \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct fz {
    const uint8_t *data;
    size_t len;
    int fd[2];
    unsigned refused_port;
} fz;

/* Reads up to the end of the request head, then answers with the input. */
static void *peer(void *arg) {
    fz *z = arg;
    char req[1024];
    size_t have = 0;
    while (have < sizeof req - 1) {
        ssize_t n = cio_recv(z->fd[1], req + have, sizeof req - 1 - have, 0);
        if (n <= 0)
            break;
        have += (size_t)n;
        req[have] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    REQUIRE(strncmp(req, "GET /fuzz HTTP/1.1\r\n", 20) == 0);
    /* The client may stop reading early (an error): -EPIPE is fine then. */
    cio_send_all(z->fd[1], z->data, z->len, 0);
    close(z->fd[1]);
    return NULL;
}

static void *fuzz_main(void *arg) {
    fz *z = arg;
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, z->fd) == 0);
    http_conn *c = calloc(1, sizeof *c);
    REQUIRE(c && (c->host = strdup("127.0.0.1")));
    c->port = z->refused_port;
    c->s = cio_stream_new(z->fd[0]);
    REQUIRE(c->s);
    cio_future *p = cio_create_task(peer, z);
    REQUIRE(p);
    http_mem_sink body = {0};
    size_t len = 12345;
    int r = http_get(c, "/fuzz", http_sink_to_mem, &body, &len);
    REQUIRE(r < 0 || (r >= 0 && len <= z->len));
    REQUIRE(body.len == len || r < 0);
    REQUIRE(body.len <= z->len);
    http_close(c);
    REQUIRE(cio_await(p, NULL) == 0);
    cio_future_unref(p);
    free(body.buf);
    return NULL;
}

/* A loopback port with a bound socket that never listens: connects to it
   are refused at once. Kept for the process's life. */
static unsigned refused_port(void) {
    static unsigned port;
    if (port)
        return port;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    REQUIRE(getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
    port = ntohs(a.sin_port);
    return port;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz z = {.data = data, .len = size, .refused_port = refused_port()};
    REQUIRE(cio_run(fuzz_main, &z, NULL) == 0);
    return 0;
}
