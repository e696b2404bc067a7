/* Shared memory: blocks, bad input, threads and processes allocating at
 * once, frees across processes, a process dying while it holds the lock,
 * big blocks giving their pages back, a full region. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include "shm.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_blocks(void **state) {
    (void)state;
    size_t sizes[] = {1, 15, 16, 17, 100, 4096, 100000, 3 << 20};
    void *p[8];
    for (int i = 0; i < 8; i++) {
        assert_non_null(p[i] = cio_shm_alloc(sizes[i]));
        assert_int_equal((uintptr_t)p[i] & 15, 0);
        assert_true(cio__shm_contains(p[i]));
        memset(p[i], i + 1, sizes[i]);
    }
    for (int i = 0; i < 8; i++) { /* no block overlaps another */
        const unsigned char *c = p[i];
        assert_int_equal(c[0], i + 1);
        assert_int_equal(c[sizes[i] - 1], i + 1);
    }
    void *old = p[4];
    cio_shm_free(old);
    void *again = cio_shm_alloc(90); /* same class: the block comes back */
    assert_ptr_equal(again, old);
    cio_shm_free(again);
    for (int i = 0; i < 8; i++)
        if (i != 4)
            cio_shm_free(p[i]);
    assert_true(cio__shm_used() >= (3u << 20));
}

static void test_bad_input(void **state) {
    (void)state;
    errno = 0;
    assert_null(cio_shm_alloc(0));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(cio_shm_alloc(SIZE_MAX));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(cio_shm_alloc((size_t)1 << 40));
    assert_int_equal(errno, ENOMEM);
    /* what is not ours is ignored */
    cio_shm_free(NULL);
    int *heap = malloc(64);
    cio_shm_free(heap);
    free(heap);
    char *p = cio_shm_alloc(64);
    cio_shm_free(p + 8);  /* misaligned */
    cio_shm_free(p + 16); /* inside the block */
    cio_shm_free(p);
    cio_shm_free(p); /* twice: the list stays sane */
    void *a = cio_shm_alloc(64), *b = cio_shm_alloc(64);
    assert_ptr_equal(a, p);
    assert_ptr_not_equal(a, b);
    cio_shm_free(a);
    cio_shm_free(b);
}

/* ---- threads ---- */

static void *churn(void *arg) {
    uintptr_t id = (uintptr_t)arg;
    enum { KEEP = 64 };
    uintptr_t *held[KEEP] = {0};
    for (unsigned i = 0; i < 20000; i++) {
        unsigned k = i % KEEP;
        if (held[k]) {
            if (held[k][0] != id * 1000003 + k || held[k][1] != id)
                return (void *)1; /* somebody else wrote into our block */
            cio_shm_free(held[k]);
        }
        held[k] = cio_shm_alloc(16 + (i % 7) * 24);
        if (!held[k])
            return (void *)1;
        held[k][0] = id * 1000003 + k;
        held[k][1] = id;
    }
    for (unsigned k = 0; k < KEEP; k++)
        cio_shm_free(held[k]);
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    pthread_t th[4];
    for (uintptr_t i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, churn, (void *)i), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        assert_null(r);
    }
}

/* ---- processes ---- */

enum { CHILDREN = 4, PER_CHILD = 500 };

static void test_processes(void **state) {
    (void)state;
    int **table = cio_shm_alloc(CHILDREN * PER_CHILD * sizeof *table);
    assert_non_null(table);
    pid_t pids[CHILDREN];
    for (int c = 0; c < CHILDREN; c++) {
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0) {
            for (int i = 0; i < PER_CHILD; i++) {
                int *b = cio_shm_alloc(sizeof(int) * (1 + i % 5));
                if (!b)
                    _exit(1);
                *b = c * PER_CHILD + i;
                table[c * PER_CHILD + i] = b;
            }
            _exit(0);
        }
    }
    for (int c = 0; c < CHILDREN; c++) {
        int st;
        assert_int_equal(waitpid(pids[c], &st, 0), pids[c]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    /* every block the children made is intact, and the parent frees them */
    for (int i = 0; i < CHILDREN * PER_CHILD; i++) {
        assert_non_null(table[i]);
        assert_int_equal(*table[i], i);
    }
    for (int i = 0; i < CHILDREN * PER_CHILD; i++)
        cio_shm_free(table[i]);
    cio_shm_free(table);
}

/* A process that dies holding the allocator's lock (exiting, or killed)
 * does not wedge the others. */
static void test_holder_dies(void **state) {
    (void)state;
    void *warm = cio_shm_alloc(8);
    pid_t pid = fork();
    if (pid == 0) {
        cio__shm_lock();
        _exit(0);
    }
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    void *p = cio_shm_alloc(32);
    assert_non_null(p);
    cio_shm_free(p);

    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid = fork();
    if (pid == 0) {
        cio__shm_lock();
        if (write(ready[1], "x", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    p = cio_shm_alloc(32);
    assert_non_null(p);
    cio_shm_free(p);
    cio_shm_free(warm);
    close(ready[0]);
    close(ready[1]);
}

/* A freed big block's pages go back: reused, they read as zeroes again
 * (past the page that holds its header). */
static void test_big_blocks_release(void **state) {
    (void)state;
    size_t n = 4 << 20;
    unsigned char *p = cio_shm_alloc(n);
    assert_non_null(p);
    memset(p, 0xAB, n);
    cio_shm_free(p);
    unsigned char *q = cio_shm_alloc(n);
    assert_ptr_equal(q, p);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (size_t i = page; i < n; i += 4093)
        if (q[i] != 0)
            fail_msg("byte %zu kept its old value", i);
    cio_shm_free(q);
}

/* The region (4 GiB of address space here) fills up: ENOMEM, not a crash;
 * only the block headers' pages are ever touched. */
static void test_full(void **state) {
    (void)state;
    size_t half = ((size_t)1 << 31) - 64;
    void *a = cio_shm_alloc(half);
    assert_non_null(a);
    errno = 0;
    assert_null(cio_shm_alloc(half));
    assert_int_equal(errno, ENOMEM);
    void *small = cio_shm_alloc(100); /* what is left still serves */
    assert_non_null(small);
    cio_shm_free(small);
    cio_shm_free(a);
    void *b = cio_shm_alloc(half); /* and the freed block serves again */
    assert_ptr_equal(b, a);
    cio_shm_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks),      cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_threads),     cmocka_unit_test(test_processes),
        cmocka_unit_test(test_holder_dies), cmocka_unit_test(test_big_blocks_release),
        cmocka_unit_test(test_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
