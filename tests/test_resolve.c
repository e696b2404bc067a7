/* Name resolution in the default executor: names, numeric addresses of both
 * families, services, errors as CIO_EGAI + EAI_x, bad input, and callers
 * cancelled while the lookup runs (nothing leaks, the loop stays usable). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>

static void *lookups(void *arg) {
    (void)arg;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    assert_int_equal(cio_getaddrinfo("localhost", "80", &hints, &res), 0);
    assert_non_null(res);
    assert_int_equal(res->ai_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port), 80);
    freeaddrinfo(res);

    hints = (struct addrinfo){.ai_family = AF_INET6, .ai_flags = AI_NUMERICHOST};
    assert_int_equal(cio_getaddrinfo("::1", NULL, &hints, &res), 0);
    assert_int_equal(res->ai_family, AF_INET6);
    struct in6_addr lo = IN6ADDR_LOOPBACK_INIT;
    assert_memory_equal(&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, &lo, sizeof lo);
    freeaddrinfo(res);

    /* no hints at all, a service only (a passive address for a server) */
    assert_int_equal(cio_getaddrinfo(NULL, "8080", NULL, &res), 0);
    assert_non_null(res);
    freeaddrinfo(res);
    return NULL;
}

static void test_lookups(void **state) {
    (void)state;
    assert_int_equal(cio_run(lookups, NULL, NULL), 0);
}

static void *errors(void *arg) {
    (void)arg;
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST}, *res = (struct addrinfo *)&hints;
    int r = cio_getaddrinfo("not an address", NULL, &hints, &res);
    assert_int_equal(r, CIO_EGAI + EAI_NONAME);
    assert_null(res);                                /* never left dangling */
    assert_non_null(strstr(cio_strerror(r), "ame")); /* "Name or service not known" */
    hints = (struct addrinfo){.ai_family = 12345};
    r = cio_getaddrinfo("localhost", NULL, &hints, &res);
    assert_int_equal(r, CIO_EGAI + EAI_FAMILY);
    hints = (struct addrinfo){.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    r = cio_getaddrinfo("127.0.0.1", "http", &hints, &res);
    assert_int_equal(r, CIO_EGAI + EAI_NONAME);
    assert_int_equal(cio_getaddrinfo(NULL, NULL, NULL, &res), CIO_EGAI + EAI_NONAME);
    assert_int_equal(cio_getaddrinfo("localhost", NULL, NULL, NULL), -EINVAL);
    return NULL;
}

static void test_errors(void **state) {
    (void)state;
    assert_int_equal(cio_run(errors, NULL, NULL), 0);
    struct addrinfo *res;
    assert_int_equal(cio_getaddrinfo("localhost", NULL, NULL, &res), -EPERM);
}

/* Callers cancelled at once: each returns -ECANCELED at once while its
 * lookup finishes in a thread and is freed there (ASan checks the leak). */
#define LOOKUPS 64

static void *resolve_one(void *arg) {
    (void)arg;
    struct addrinfo *res;
    int r = cio_getaddrinfo("localhost", "443", NULL, &res);
    if (r == 0)
        freeaddrinfo(res);
    return (void *)(intptr_t)r;
}

static void *cancelled(void *arg) {
    (void)arg;
    cio_future *fs[LOOKUPS];
    for (int i = 0; i < LOOKUPS; i++)
        fs[i] = cio_create_task(resolve_one, NULL);
    cio_yield(); /* every task is in its lookup now */
    for (int i = 0; i < LOOKUPS; i += 2)
        cio_cancel(fs[i]);
    for (int i = 0; i < LOOKUPS; i++) {
        void *v;
        int r = cio_await(fs[i], &v);
        if (i % 2)
            assert_true(r == 0 && (intptr_t)v == 0);
        else /* cancelled in the lookup, or before the task started */
            assert_true(r == -ECANCELED || (r == 0 && (intptr_t)v == -ECANCELED));
        cio_future_unref(fs[i]);
    }
    /* still works afterwards */
    assert_int_equal(resolve_one(NULL), NULL);
    return NULL;
}

static void test_cancelled(void **state) {
    (void)state;
    assert_int_equal(cio_run(cancelled, NULL, NULL), 0);
}

/* ---- one resolver for cio_getaddrinfo and the streams ----
 *
 * The test program's own getaddrinfo comes before libc's (libcio.a is linked
 * into it), so two made-up names fail the way a resolver can: EAI_SYSTEM with
 * errno set on the thread that ran the lookup, and EAI_MEMORY. Everything
 * else goes to libc. */

#define FAKE_SYSTEM "eai-system.cio.invalid"
#define FAKE_MEMORY "eai-memory.cio.invalid"

static int (*real_getaddrinfo)(const char *, const char *, const struct addrinfo *,
                               struct addrinfo **);

/* Before any thread: the workers only read it. */
__attribute__((constructor)) static void find_real_getaddrinfo(void) {
    *(void **)&real_getaddrinfo = dlsym(RTLD_NEXT, "getaddrinfo");
}

int getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
                struct addrinfo **res) {
    bool numeric = hints && (hints->ai_flags & AI_NUMERICHOST);
    if (host && !numeric && strcmp(host, FAKE_SYSTEM) == 0) {
        errno = EMFILE; /* on this (the worker) thread only */
        return EAI_SYSTEM;
    }
    if (host && !numeric && strcmp(host, FAKE_MEMORY) == 0)
        return EAI_MEMORY;
    return real_getaddrinfo(host, service, hints, res);
}

static void *resolver_faults(void *arg) {
    (void)arg;
    struct addrinfo *res = NULL;
    errno = 0;
    assert_int_equal(cio_getaddrinfo(FAKE_SYSTEM, "80", NULL, &res), -EMFILE);
    assert_int_equal(cio_getaddrinfo(FAKE_MEMORY, "80", NULL, &res), -ENOMEM);
    /* The streams resolve through the same code, with the same answers. */
    errno = 0;
    assert_null(cio_open_connection(FAKE_SYSTEM, 80));
    assert_int_equal(errno, EMFILE);
    assert_null(cio_open_connection(FAKE_MEMORY, 80));
    assert_int_equal(errno, ENOMEM);
    assert_null(cio_open_connection("no-such-host.invalid", 80));
    assert_true(-errno <= CIO_EGAI && -errno > CIO_EGAI - 100);
    return NULL;
}

static void test_one_resolver(void **state) {
    (void)state;
    assert_int_equal(cio_run(resolver_faults, NULL, NULL), 0);
}

/* A stream's lookup cancelled while it runs: the caller returns, nothing leaks. */
static void *connects(void *arg) {
    (void)arg;
    cio_stream *s = cio_open_connection("localhost", 9); /* discard: refused or not */
    int e = s ? 0 : errno;
    if (s)
        cio_stream_close(s);
    return (void *)(intptr_t)e;
}

static void *cancels_connect(void *arg) {
    (void)arg;
    cio_future *t = cio_create_task(connects, NULL);
    cio_yield(); /* in its lookup */
    cio_cancel(t);
    void *v = NULL;
    int r = cio_await(t, &v);
    assert_true(r == -ECANCELED || (r == 0 && (intptr_t)v == ECANCELED));
    cio_future_unref(t);
    return NULL;
}

static void test_stream_lookup_cancelled(void **state) {
    (void)state;
    assert_int_equal(cio_run(cancels_connect, NULL, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_cancelled),
        cmocka_unit_test(test_one_resolver),
        cmocka_unit_test(test_stream_lookup_cancelled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
