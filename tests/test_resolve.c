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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_cancelled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
