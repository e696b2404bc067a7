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
#include <stdio.h>
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

/* ---- freed space serves any size (issue 14 #3) ---- */

/* Nothing allocated any more: the blocks form one free run, consistent. */
static void expect_all_free(void) {
    size_t bytes, blocks;
    assert_int_equal(cio__shm_check(&bytes, &blocks), 0);
    assert_true(blocks <= 1);
    assert_int_equal(bytes, cio__shm_used());
}

/* 31 blocks of 64 MiB, freed, then 200 MiB; and 64 MiB takes 64 MiB, not
 * 128 (consecutive blocks are 64 MiB plus a header apart). Only the
 * headers' pages are touched. */
static void test_big_freed_serve_bigger(void **state) {
    (void)state;
    enum { N = 31 };
    size_t mib64 = (size_t)64 << 20;
    char *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = cio_shm_alloc(mib64);
        assert_non_null(p[i]);
    }
    for (int i = 1; i < N; i++) {
        size_t gap = (size_t)(p[i] > p[i - 1] ? p[i] - p[i - 1] : p[i - 1] - p[i]);
        assert_true(gap >= mib64 && gap <= mib64 + 80);
    }
    for (int i = 0; i < N; i++)
        cio_shm_free(p[i]);
    void *big = cio_shm_alloc((size_t)200 << 20);
    assert_non_null(big);
    cio_shm_free(big);
    /* four 1 GiB blocks fit in the 4 GiB region less a little */
    void *g[3];
    for (int i = 0; i < 3; i++)
        assert_non_null(g[i] = cio_shm_alloc((size_t)1 << 30));
    for (int i = 0; i < 3; i++)
        cio_shm_free(g[i]);
    expect_all_free();
}

/* The region filled to the brim with 1000-byte blocks, all freed: a 1 MiB
 * block fits. A filler block takes all but 32 MiB of the region first, so
 * only 32 MiB of small blocks are touched (the shape of the issue's
 * 4,194,303 x 1000 B at 1/128 of the count). */
static void test_small_freed_serve_big(void **state) {
    (void)state;
    cio_shm_free(cio_shm_alloc(1));         /* the region exists even when this test runs alone */
    expect_all_free();                      /* so the region's 4 GiB are free... */
    size_t room = ((size_t)1 << 32) - 4096; /* ...but for its header (< 4 KiB) */
    void *filler = cio_shm_alloc(room - ((size_t)32 << 20));
    assert_non_null(filler);
    size_t cap = 40000, n = 0;
    void **small = malloc(cap * sizeof *small);
    while (n < cap && (small[n] = cio_shm_alloc(1000)))
        n++;
    assert_int_equal(errno, ENOMEM);
    assert_true(n > 30000 && n < cap); /* 1024 bytes each: 1000 + header, rounded */
    errno = 0;
    assert_null(cio_shm_alloc((size_t)1 << 20));
    for (size_t i = 0; i < n; i++)
        cio_shm_free(small[i]);
    void *mib = cio_shm_alloc((size_t)1 << 20);
    assert_non_null(mib);
    cio_shm_free(mib);
    cio_shm_free(filler);
    free(small);
    expect_all_free();
}

/* Every size costs at most 78 bytes more than asked (header, rounding, an
 * unsplittable leftover): blocks carved one after another are adjacent. */
static void test_waste_bounded(void **state) {
    (void)state;
    enum { N = 600 };
    char *p[N];
    size_t size[N];
    for (int i = 0; i < N; i++) {
        size[i] = 1 + (size_t)i * 97 % 70000;
        assert_non_null(p[i] = cio_shm_alloc(size[i]));
    }
    for (int i = 1; i < N; i++) {
        assert_true(p[i] > p[i - 1]);
        assert_true((size_t)(p[i] - p[i - 1]) - size[i - 1] <= 78);
    }
    /* freed in a scattered order, everything merges back into one run */
    for (int i = 0; i < N; i += 2)
        cio_shm_free(p[i]);
    size_t blocks;
    assert_int_equal(cio__shm_check(NULL, &blocks), 0);
    assert_true(blocks >= N / 2);
    for (int i = 1; i < N; i += 2)
        cio_shm_free(p[i]);
    expect_all_free();
}

/* A process killed half-way through any step of a change leaves a heap the
 * next locker rebuilds: consistent, the others' blocks intact, everything
 * usable. Each step runs in a fresh process of this program (its own
 * region), where a child dies at that step. */
static int die_at_step(int k) {
    char *mine[3];
    for (int i = 0; i < 3; i++) {
        mine[i] = cio_shm_alloc(300);
        if (!mine[i])
            return 10;
        memset(mine[i], 'a' + i, 300);
    }
    pid_t pid = fork();
    if (pid == 0) {
        cio__shm_die_at(k);
        char *x = cio_shm_alloc(4000), *y = cio_shm_alloc(4000); /* 1, 2: the top grows */
        cio_shm_free(y);                                         /* 7 */
        char *z = cio_shm_alloc(10000);                          /* 3: the free last block grows */
        cio_shm_free(x);
        char *w = cio_shm_alloc(1000); /* 4, 5: x's block split */
        char *v = cio_shm_alloc(2960); /* 6: the rest, taken whole */
        cio_shm_free(w);
        cio_shm_free(v);              /* 9: merges with w */
        char *u = cio_shm_alloc(100); /* split again */
        cio_shm_free(u);              /* 8: merges with the rest after it */
        (void)z;
        _exit(3); /* step k never came */
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 11;
    size_t bytes, blocks;
    if (cio__shm_check(&bytes, &blocks) < 0)
        return 12;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 300; j++)
            if (mine[i][j] != 'a' + i)
                return 13;
    void *more[8];
    for (int i = 0; i < 8; i++)
        if (!(more[i] = cio_shm_alloc(500 * (size_t)(i + 1))))
            return 14;
    for (int i = 0; i < 8; i++)
        cio_shm_free(more[i]);
    for (int i = 0; i < 3; i++)
        cio_shm_free(mine[i]);
    return cio__shm_check(&bytes, &blocks) < 0 ? 15 : 0;
}

static void test_death_at_every_step(void **state) {
    (void)state;
    for (int k = 1; k <= 9; k++) {
        char arg[8];
        snprintf(arg, sizeof arg, "%d", k);
        pid_t pid = fork();
        if (pid == 0) {
            execl("/proc/self/exe", "test_shm", "--die-at", arg, (char *)NULL);
            _exit(127);
        }
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("step %d: status %d", k, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--die-at") == 0)
        return die_at_step(atoi(argv[2]));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_processes),
        cmocka_unit_test(test_holder_dies),
        cmocka_unit_test(test_big_blocks_release),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_big_freed_serve_bigger),
        cmocka_unit_test(test_small_freed_serve_big),
        cmocka_unit_test(test_waste_bounded),
        cmocka_unit_test(test_death_at_every_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
