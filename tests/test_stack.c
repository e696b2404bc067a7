/* Stack trimming: tasks parked in every kind of wait give their stack pages
 * back (stack_trim_after tiny, so every park longer than two loop iterations
 * is trimmed) and find every local as they left it, including the locals that
 * other tasks, timers, the kernel and threads wrote while they were parked. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h"    /* cmocka, each test in its own process */
#include "no_io_uring.h" /* block_syscall */

#include <cio.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Internal (libcio.a): trims done so far in this process, free stacks
 * whose pages were given back. */
size_t cio__stack_trim_count(void);
size_t cio__stack_release_count(void);

#define PATTERN_LEN 300

static void fill(unsigned char *p, unsigned seed) {
    for (int i = 0; i < PATTERN_LEN; i++)
        p[i] = (unsigned char)(seed * 31 + (unsigned)i * 7);
}

static bool intact(const unsigned char *p, unsigned seed) {
    for (int i = 0; i < PATTERN_LEN; i++)
        if (p[i] != (unsigned char)(seed * 31 + (unsigned)i * 7))
            return false;
    return true;
}

/* The environment would override the option. */
static int run_trimmed(cio_fn fn, void *arg, void **result) {
    unsetenv("CIO_STACK_TRIM_AFTER");
    cio_options o = {.stack_trim_after = 1e-6};
    return cio_run_with(&o, fn, arg, result);
}

/* ---- sleep, and cancellation of a trimmed sleeper ---- */

enum { N = 200 };
static bool sleepers_done;

/* Sleeps until told, checking its locals after every wake-up. */
static void *sleeper(void *arg) {
    unsigned char pat[PATTERN_LEN];
    fill(pat, (unsigned)(uintptr_t)arg);
    while (!sleepers_done) {
        int r = cio_sleep(0.01);
        if (r < 0)
            return (void *)(intptr_t)r;
        if (!intact(pat, (unsigned)(uintptr_t)arg))
            return NULL;
    }
    return (void *)1;
}

/* Until N trims happened (forever if none can: the test's time limit), or
 * a fixed while when trimming is off. */
static void *many_sleepers(void *arg) {
    bool expect_trims = arg != NULL;
    cio_future *fs[N];
    sleepers_done = false;
    size_t before = cio__stack_trim_count();
    for (unsigned i = 0; i < N; i++)
        fs[i] = cio_create_task(sleeper, (void *)(uintptr_t)i);
    if (expect_trims)
        while (cio__stack_trim_count() - before < N)
            cio_sleep(0.005);
    else
        cio_sleep(0.1);
    sleepers_done = true;
    long ok = 0;
    for (unsigned i = 0; i < N; i++) {
        void *r = NULL;
        if (cio_await(fs[i], &r) == 0 && r == (void *)1)
            ok++;
        cio_future_unref(fs[i]);
    }
    return (void *)ok;
}

static void test_sleepers_trimmed_and_intact(void **state) {
    (void)state;
    size_t before = cio__stack_trim_count();
    void *ok = NULL;
    assert_int_equal(run_trimmed(many_sleepers, (void *)1, &ok), 0);
    assert_int_equal((long)ok, N);
    assert_true(cio__stack_trim_count() - before >= N);
}

static void test_never_when_negative(void **state) {
    (void)state;
    size_t before = cio__stack_trim_count();
    unsetenv("CIO_STACK_TRIM_AFTER");
    cio_options o = {.stack_trim_after = -1};
    void *ok = NULL;
    assert_int_equal(cio_run_with(&o, many_sleepers, NULL, &ok), 0);
    assert_int_equal((long)ok, N);
    assert_int_equal(cio__stack_trim_count(), before);
}

/* ---- eager trimming: a sleep of trim_after or more is trimmed at once ---- */

enum { LONG = 100, SHORT = 50 };

static void *event_waiter(void *arg) {
    unsigned char pat[PATTERN_LEN];
    fill(pat, 77);
    int r = cio_event_wait(arg);
    return r == 0 && intact(pat, 77) ? (void *)1 : NULL;
}

static void *sleeper_for(void *arg) {
    unsigned char pat[PATTERN_LEN];
    fill(pat, 55);
    int r = cio_sleep(*(double *)arg);
    return intact(pat, 55) ? (void *)(intptr_t)(r == -ECANCELED ? 2 : 1) : NULL;
}

/* trim_after is 30 s here, so no sweep can trim anything while this runs:
 * every trim counted is an eager one. Sleeps of 60 s (>= 30) are trimmed as
 * they park; sleeps of 1 s and waits on an event are not. */
static void *eager_kinds(void *arg) {
    (void)arg;
    static double long_s = 60, short_s = 0.2;
    cio_event *ev = cio_event_new();
    cio_future *lf[LONG], *sf[SHORT], *ef[SHORT];
    size_t before = cio__stack_trim_count();
    for (int i = 0; i < LONG; i++)
        lf[i] = cio_create_task(sleeper_for, &long_s);
    for (int i = 0; i < SHORT; i++) {
        sf[i] = cio_create_task(sleeper_for, &short_s);
        ef[i] = cio_create_task(event_waiter, ev);
    }
    cio_sleep(0.01); /* all of them start and park */
    size_t eager = cio__stack_trim_count() - before;
    for (int i = 0; i < LONG; i++)
        cio_cancel(lf[i]); /* restored, then woken: all in one iteration */
    cio_event_set(ev);
    long ok = 0;
    for (int i = 0; i < LONG; i++) {
        void *r = NULL;
        ok += cio_await(lf[i], &r) == -ECANCELED || r == (void *)2;
        cio_future_unref(lf[i]);
    }
    for (int i = 0; i < SHORT; i++) {
        void *r1 = NULL, *r2 = NULL;
        ok += cio_await(sf[i], &r1) == 0 && r1 == (void *)1;
        ok += cio_await(ef[i], &r2) == 0 && r2 == (void *)1;
        cio_future_unref(sf[i]);
        cio_future_unref(ef[i]);
    }
    cio_event_free(ev);
    return eager == LONG && ok == LONG + 2 * SHORT ? (void *)1 : NULL;
}

static void test_eager_long_sleeps(void **state) {
    (void)state;
    unsetenv("CIO_STACK_TRIM_AFTER");
    cio_options o = {.stack_trim_after = 30};
    void *ok = NULL;
    assert_int_equal(cio_run_with(&o, eager_kinds, NULL, &ok), 0);
    assert_ptr_equal(ok, (void *)1);
}

/* Containers may refuse process_madvise: trimming then advises range by
 * range, with the same results. */
static void test_without_process_madvise(void **state) {
    (void)state;
#ifdef __NR_process_madvise
    assert_int_equal(block_syscall(__NR_process_madvise), 0);
#endif
    size_t before = cio__stack_trim_count();
    void *ok = NULL;
    assert_int_equal(run_trimmed(many_sleepers, (void *)1, &ok), 0);
    assert_int_equal((long)ok, N);
    assert_true(cio__stack_trim_count() - before >= N);
}

/* ---- free stacks give their pages back ---- */

enum { BURST = 500, KEPT = 64 };

static long rss_bytes(void) {
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

static void *patterned(void *arg) {
    unsigned char pat[PATTERN_LEN];
    fill(pat, (unsigned)(uintptr_t)arg);
    cio_yield();
    return intact(pat, (unsigned)(uintptr_t)arg) ? arg : NULL;
}

/* Two bursts of tasks: after each, all but the 64 most recently freed
 * stacks give their pages back (RSS falls by at least half a page each),
 * and the second burst runs on released stacks with its locals intact. */
static void *bursts(void *arg) {
    (void)arg;
    static cio_future *fs[BURST];
    for (int round = 0; round < 2; round++) {
        size_t before = cio__stack_release_count();
        for (uintptr_t i = 0; i < BURST; i++)
            fs[i] = cio_create_task(patterned, (void *)(i + 1));
        for (uintptr_t i = 0; i < BURST; i++) {
            void *r = NULL;
            if (cio_await(fs[i], &r) != 0 || r != (void *)(i + 1))
                return NULL;
            cio_future_unref(fs[i]);
        }
        long busy = rss_bytes();
        while (cio__stack_release_count() - before < BURST - KEPT)
            cio_sleep(0.005);
        long idle = rss_bytes();
        if (busy - idle < (BURST - KEPT) * sysconf(_SC_PAGESIZE) / 2)
            return NULL;
    }
    return (void *)1;
}

static void test_free_stacks_released(void **state) {
    (void)state;
    unsetenv("CIO_STACK_TRIM_AFTER");
    cio_options o = {.stack_trim_after = 0.01};
    void *ok = NULL;
    assert_int_equal(cio_run_with(&o, bursts, NULL, &ok), 0);
    assert_ptr_equal(ok, (void *)1);
}

static void *long_sleeper(void *arg) {
    unsigned char pat[PATTERN_LEN];
    fill(pat, 9);
    int r = cio_sleep(100);
    *(bool *)arg = intact(pat, 9);
    return (void *)(intptr_t)r;
}

/* The parent waits on an event nobody sets, so that only the child's trim
 * counts; a timer checks the count and cancels the child once trimmed. */
typedef struct canceller {
    cio_future *child;
    size_t before;
} canceller;

static void cancel_when_trimmed(void *arg) {
    canceller *c = arg;
    if (cio__stack_trim_count() - c->before >= 2) /* the child's and the parent's */
        cio_cancel(c->child);
    else
        cio_call_later(0.005, cancel_when_trimmed, c);
}

static void *cancel_trimmed(void *arg) {
    (void)arg;
    bool ok = false;
    canceller *c = malloc(sizeof *c);
    c->before = cio__stack_trim_count();
    c->child = cio_create_task(long_sleeper, &ok);
    cio_call_later(0.005, cancel_when_trimmed, c);
    void *res = NULL;
    int r = cio_await(c->child, &res);
    cio_future_unref(c->child);
    free(c);
    return (void *)(intptr_t)(r == 0 && (intptr_t)res == -ECANCELED && ok ? 1 : 0);
}

static void test_cancel_while_trimmed(void **state) {
    (void)state;
    void *ok = NULL;
    assert_int_equal(run_trimmed(cancel_trimmed, NULL, &ok), 0);
    assert_ptr_equal(ok, (void *)1);
}

/* ---- future await; children and timers writing into a parked parent ---- */

static void set_later(void *arg) {
    cio_future_set_result(arg, (void *)42);
}

typedef struct slot {
    int value;
    unsigned char pad[64];
} slot;

static void *child_writes(void *arg) {
    slot *s = arg;
    cio_sleep(0.03);
    unsigned char pat[PATTERN_LEN];
    fill(pat, 3);
    s->value = 1000 + s->value; /* read and written while the parent is trimmed */
    memset(s->pad, 0x5a, sizeof s->pad);
    return intact(pat, 3) ? (void *)1 : NULL;
}

static void *await_kinds(void *arg) {
    (void)arg;
    unsigned char pat[PATTERN_LEN];
    fill(pat, 5);
    size_t before = cio__stack_trim_count();
    /* a plain future, completed by a timer */
    cio_future *f = cio_future_new();
    cio_call_later(0.03, set_later, f);
    void *r = NULL;
    if (cio_await(f, &r) != 0 || r != (void *)42)
        return (void *)1;
    cio_future_unref(f);
    /* gather: children write into our locals while we are parked */
    slot slots[3] = {{.value = 1}, {.value = 2}, {.value = 3}};
    cio_future *fs[3];
    for (int i = 0; i < 3; i++)
        fs[i] = cio_create_task(child_writes, &slots[i]);
    if (cio_gather(fs, 3, 0) != 0)
        return (void *)2;
    for (int i = 0; i < 3; i++) {
        void *cr = NULL;
        cio_future_result(fs[i], &cr);
        if (cr != (void *)1 || slots[i].value != 1001 + i || slots[i].pad[63] != 0x5a)
            return (void *)3;
        cio_future_unref(fs[i]);
    }
    /* wait with a timeout: the children again */
    for (int i = 0; i < 3; i++)
        fs[i] = cio_create_task(child_writes, &slots[i]);
    if (cio_wait(fs, 3, 10.0, CIO_ALL_COMPLETED) != 3)
        return (void *)4;
    for (int i = 0; i < 3; i++) {
        if (slots[i].value != 2001 + i)
            return (void *)5;
        cio_future_unref(fs[i]);
    }
    if (!intact(pat, 5))
        return (void *)6;
    return cio__stack_trim_count() - before >= 3 ? NULL : (void *)7;
}

static void test_await_gather_wait(void **state) {
    (void)state;
    void *r = (void *)-1;
    assert_int_equal(run_trimmed(await_kinds, NULL, &r), 0);
    assert_null(r);
}

/* ---- wait queues: lock, event, queue, semaphore ---- */

typedef struct prims {
    cio_lock *lock;
    cio_event *event;
    cio_queue *queue;
    cio_semaphore *sem;
    int order;
} prims;

static void *prim_waiter(void *arg) {
    prims *p = arg;
    unsigned char pat[PATTERN_LEN];
    fill(pat, 11);
    if (cio_lock_acquire(p->lock) < 0)
        return NULL;
    p->order++;
    cio_lock_release(p->lock);
    if (cio_event_wait(p->event) < 0)
        return NULL;
    void *item = NULL;
    if (cio_queue_get(p->queue, &item) < 0 || item != (void *)77)
        return NULL;
    if (cio_semaphore_acquire(p->sem) < 0)
        return NULL;
    return intact(pat, 11) ? (void *)1 : NULL;
}

static void *prim_kinds(void *arg) {
    (void)arg;
    prims p = {cio_lock_new(), cio_event_new(), cio_queue_new(0), cio_semaphore_new(0), 0};
    size_t before = cio__stack_trim_count();
    cio_lock_acquire(p.lock);
    cio_future *w = cio_create_task(prim_waiter, &p);
    cio_sleep(0.03); /* the waiter parks on the lock and is trimmed */
    cio_lock_release(p.lock);
    cio_sleep(0.03);
    cio_event_set(p.event);
    cio_sleep(0.03);
    cio_queue_put(p.queue, (void *)77);
    cio_sleep(0.03);
    cio_semaphore_release(p.sem);
    void *r = NULL;
    int e = cio_await(w, &r);
    cio_future_unref(w);
    long trims = (long)(cio__stack_trim_count() - before);
    cio_lock_free(p.lock);
    cio_event_free(p.event);
    cio_queue_free(p.queue);
    cio_semaphore_free(p.sem);
    return e == 0 && r == (void *)1 && p.order == 1 && trims >= 4 ? (void *)1 : NULL;
}

static void test_wait_queues(void **state) {
    (void)state;
    void *ok = NULL;
    assert_int_equal(run_trimmed(prim_kinds, NULL, &ok), 0);
    assert_ptr_equal(ok, (void *)1);
}

/* ---- I/O: a buffer on the stack (the kernel writes it), streams ---- */

static void *recv_own_buffer(void *arg) {
    int fd = *(int *)arg;
    char buf[4096];
    memset(buf, 0, sizeof buf);
    ssize_t n = cio_recv(fd, buf, sizeof buf, 0);
    return n == 5 && memcmp(buf, "hello", 5) == 0 ? (void *)1 : NULL;
}

typedef struct into {
    int fd;
    char *buf;
} into;

static void *recv_into_parent(void *arg) {
    into *in = arg;
    return (void *)(intptr_t)cio_recv(in->fd, in->buf, 64, 0);
}

static void *io_kinds(void *arg) {
    (void)arg;
    int sv[2], sv2[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv2) < 0)
        return NULL;
    cio_future *own = cio_create_task(recv_own_buffer, &sv[0]);
    char parent_buf[64] = {0};
    into in = {sv2[0], parent_buf};
    cio_future *child = cio_create_task(recv_into_parent, &in);
    cio_sleep(0.05); /* many sweeps: neither buffer's stack may go */
    if (write(sv[1], "hello", 5) != 5 || write(sv2[1], "world", 5) != 5)
        return NULL;
    void *r1 = NULL, *r2 = NULL;
    cio_await(own, &r1);
    /* The parent parks now, its buffer still in the child's request. */
    cio_await(child, &r2);
    cio_future_unref(own);
    cio_future_unref(child);
    close(sv[0]);
    close(sv[1]);
    close(sv2[0]);
    close(sv2[1]);
    return r1 == (void *)1 && (intptr_t)r2 == 5 && memcmp(parent_buf, "world", 5) == 0 ? (void *)1
                                                                                       : NULL;
}

static void test_io_buffers(void **state) {
    (void)state;
    void *ok = NULL;
    assert_int_equal(run_trimmed(io_kinds, NULL, &ok), 0);
    assert_ptr_equal(ok, (void *)1);
}

static void *stream_reader(void *arg) {
    cio_stream *s = arg;
    unsigned char pat[PATTERN_LEN];
    fill(pat, 21);
    char got[16] = {0};
    size_t n = 0;
    ssize_t r = cio_stream_readexactly(s, got, 10, &n);
    if (r != 10 || memcmp(got, "0123456789", 10) != 0 || !intact(pat, 21))
        return NULL;
    r = cio_stream_readexactly(s, got, 6, &n); /* a second idle wait */
    return r == 6 && memcmp(got, "abcdef", 6) == 0 && intact(pat, 21) ? (void *)1 : NULL;
}

static void *stream_kinds(void *arg) {
    (void)arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
        return NULL;
    cio_stream *s = cio_stream_new(sv[0]);
    size_t before = cio__stack_trim_count();
    cio_future *rd = cio_create_task(stream_reader, s);
    cio_sleep(0.05);
    size_t mid = cio__stack_trim_count();
    if (write(sv[1], "01234", 5) != 5)
        return NULL;
    cio_sleep(0.05);
    if (write(sv[1], "56789abc", 8) != 8)
        return NULL;
    cio_sleep(0.05);
    if (write(sv[1], "def", 3) != 3)
        return NULL;
    void *r = NULL;
    cio_await(rd, &r);
    cio_future_unref(rd);
    cio_stream_close(s);
    close(sv[1]);
    return r == (void *)1 && mid > before && cio__stack_trim_count() > mid ? (void *)1 : NULL;
}

static void test_stream_reads(void **state) {
    (void)state;
    void *ok = NULL;
    assert_int_equal(run_trimmed(stream_kinds, NULL, &ok), 0);
    assert_ptr_equal(ok, (void *)1);
}

/* ---- timeout scopes and executor jobs: others write into a parked stack ---- */

static void *timed_out(void *arg) {
    (void)arg;
    unsigned char pat[PATTERN_LEN];
    fill(pat, 31);
    cio_timeout to; /* the scope's timer writes it while we are trimmed */
    int r = cio_timeout_enter(&to, 0.05);
    if (r == 0)
        r = cio_timeout_exit(&to, cio_sleep(100));
    return r == -ETIMEDOUT && cio_timeout_expired(&to) && intact(pat, 31) ? (void *)1 : NULL;
}

typedef struct job {
    int in, out;
} job;

static void *job_fn(void *arg) {
    job *j = arg;
    usleep(50000);
    j->out = j->in * 2; /* a thread writes into the parked task's stack */
    return NULL;
}

static void *thread_kinds(void *arg) {
    (void)arg;
    size_t before = cio__stack_trim_count();
    cio_future *t = cio_create_task(timed_out, NULL);
    void *r = NULL;
    cio_await(t, &r);
    cio_future_unref(t);
    if (r != (void *)1 || cio__stack_trim_count() == before)
        return NULL;
    job j = {.in = 21};
    if (cio_to_thread(job_fn, &j, NULL) != 0 || j.out != 42)
        return NULL;
    return (void *)1;
}

static void test_timeout_and_jobs(void **state) {
    (void)state;
    void *ok = NULL;
    assert_int_equal(run_trimmed(thread_kinds, NULL, &ok), 0);
    assert_ptr_equal(ok, (void *)1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sleepers_trimmed_and_intact),
        cmocka_unit_test(test_never_when_negative),
        cmocka_unit_test(test_eager_long_sleeps),
        cmocka_unit_test(test_without_process_madvise),
        cmocka_unit_test(test_free_stacks_released),
        cmocka_unit_test(test_cancel_while_trimmed),
        cmocka_unit_test(test_await_gather_wait),
        cmocka_unit_test(test_wait_queues),
        cmocka_unit_test(test_io_buffers),
        cmocka_unit_test(test_stream_reads),
        cmocka_unit_test(test_timeout_and_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
