/* Other threads talking to a loop: run_coroutine_threadsafe from 4 threads
 * (results checked), cio_future_wait timeouts, cancellation from threads,
 * submissions after close, a loop closing under a waiting thread, thread-safe
 * references (the last one dropped on another thread), call_soon_threadsafe
 * from a signal handler without allocating, and debug mode's abort on a
 * reference dropped twice. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- counting allocations of one thread (not under sanitizers, which own malloc) ---- */

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static __thread int counting;
static __thread long allocs;

void *malloc(size_t n) {
    allocs += counting;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t m) {
    allocs += counting;
    return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n) {
    allocs += counting;
    return __libc_realloc(p, n);
}
void free(void *p) {
    __libc_free(p);
}
#endif

/* ---- a loop running on its own thread ---- */

typedef struct bg_loop {
    cio_loop *loop;
    pthread_t thread;
    atomic_int ready;
    int run_result;
} bg_loop;

static void *loop_thread(void *arg) {
    bg_loop *b = arg;
    b->loop = cio_loop_new(NULL);
    assert_non_null(b->loop);
    atomic_store(&b->ready, 1);
    b->run_result = cio_loop_run_forever(b->loop);
    return NULL;
}

static void start_loop(bg_loop *b) {
    memset(b, 0, sizeof *b);
    assert_int_equal(pthread_create(&b->thread, NULL, loop_thread, b), 0);
    while (!atomic_load(&b->ready))
        usleep(100);
}

static void stop_cb(void *arg) {
    cio_loop_stop(arg);
}

/* Stops the loop, joins its thread, closes the loop from here. */
static void stop_loop(bg_loop *b, bool close) {
    assert_int_equal(cio_call_soon_threadsafe(b->loop, stop_cb, b->loop), 0);
    pthread_join(b->thread, NULL);
    assert_int_equal(b->run_result, 0);
    if (close)
        assert_int_equal(cio_loop_close(b->loop), 0);
}

/* ---- 4 threads x 1000 submissions ---- */

/* TSan makes every task a fiber that costs milliseconds to create: fewer
 * there, so that the binary stays well under a minute. */
#ifdef __SANITIZE_THREAD__
enum { THREADS = 4, PER_THREAD = 200 };
#else
enum { THREADS = 4, PER_THREAD = 1000 };
#endif

static void *double_it(void *arg) {
    if (cio_yield() < 0) /* a real task: it suspends once */
        return cio_fail(-ECANCELED);
    return (void *)((intptr_t)arg * 2);
}

typedef struct submitter {
    cio_loop *loop;
    int id, ok;
} submitter;

static void *submit_many(void *arg) {
    submitter *s = arg;
    cio_future **fs = malloc(PER_THREAD * sizeof *fs);
    /* Half waited one by one, half submitted in a burst and then waited. */
    for (int i = 0; i < PER_THREAD / 2; i++) {
        intptr_t v = s->id * 100000 + i;
        cio_future *f = cio_run_coroutine_threadsafe(s->loop, double_it, (void *)v);
        void *res = NULL;
        if (f && cio_future_wait(f, -1, &res) == 0 && (intptr_t)res == 2 * v)
            s->ok++;
        cio_future_unref(f); /* often the last reference: released on the loop */
    }
    for (int i = PER_THREAD / 2; i < PER_THREAD; i++)
        fs[i] = cio_run_coroutine_threadsafe(s->loop, double_it,
                                             (void *)(intptr_t)(s->id * 100000 + i));
    for (int i = PER_THREAD / 2; i < PER_THREAD; i++) {
        void *res = NULL;
        intptr_t v = s->id * 100000 + i;
        if (fs[i] && cio_future_wait(fs[i], -1, &res) == 0 && (intptr_t)res == 2 * v)
            s->ok++;
        cio_future_unref(fs[i]);
    }
    free(fs);
    return NULL;
}

static void test_many_threads(void **state) {
    (void)state;
    bg_loop b;
    start_loop(&b);
    pthread_t t[THREADS];
    submitter s[THREADS];
    for (int i = 0; i < THREADS; i++) {
        s[i] = (submitter){.loop = b.loop, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, submit_many, &s[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(s[i].ok, PER_THREAD);
    }
    stop_loop(&b, true);
}

/* ---- timeouts, cancellation, errors ---- */

static void *sleep_long(void *arg) {
    (void)arg;
    int r = cio_sleep(30);
    return r < 0 ? cio_fail(r) : (void *)1;
}

static void *fail_eio(void *arg) {
    (void)arg;
    return cio_fail(-EIO);
}

static void test_timeout_and_cancel(void **state) {
    (void)state;
    bg_loop b;
    start_loop(&b);
    cio_future *f = cio_run_coroutine_threadsafe(b.loop, sleep_long, NULL);
    assert_non_null(f);
    void *res = (void *)7;
    assert_int_equal(cio_future_wait(f, 0, &res), -ETIMEDOUT);
    assert_int_equal(cio_future_wait(f, 0.05, &res), -ETIMEDOUT);
    assert_ptr_equal(res, (void *)7);
    assert_true(cio_cancel_threadsafe(f));
    assert_int_equal(cio_future_wait(f, -1, &res), -ECANCELED);
    assert_false(cio_cancel_threadsafe(f)); /* done */
    cio_future_unref(f);

    f = cio_run_coroutine_threadsafe(b.loop, fail_eio, NULL);
    assert_non_null(f);
    assert_int_equal(cio_future_wait(f, -1, NULL), -EIO);
    cio_future_unref(f);

    assert_int_equal(cio_future_wait(NULL, 1, NULL), -EINVAL);
    assert_null(cio_run_coroutine_threadsafe(NULL, fail_eio, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(cio_run_coroutine_threadsafe(b.loop, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    stop_loop(&b, true);
}

/* ---- after close ---- */

static void *return_arg(void *arg) {
    return arg;
}

static void test_after_close(void **state) {
    (void)state;
    bg_loop b;
    start_loop(&b);
    cio_future *keep = cio_run_coroutine_threadsafe(b.loop, return_arg, (void *)5);
    assert_non_null(keep); /* also keeps the loop's memory valid after close */
    void *res;
    assert_int_equal(cio_future_wait(keep, -1, &res), 0);
    assert_ptr_equal(res, (void *)5);
    stop_loop(&b, true);
    errno = 0;
    assert_null(cio_run_coroutine_threadsafe(b.loop, return_arg, NULL));
    assert_int_equal(errno, ESHUTDOWN);
    assert_int_equal(cio_call_soon_threadsafe(b.loop, stop_cb, b.loop), -ESHUTDOWN);
    assert_false(cio_cancel_threadsafe(keep));
    assert_int_equal(cio_future_wait(keep, 0, &res), 0); /* still readable */
    cio_future_unref(keep);                              /* the last: the loop goes too */
}

/* A thread waits without a limit; the loop is closed under it: it returns. */
typedef struct waiter {
    cio_future *f;
    int r;
} waiter;

static void *wait_forever(void *arg) {
    waiter *w = arg;
    w->r = cio_future_wait(w->f, -1, NULL);
    return NULL;
}

static void test_close_under_waiter(void **state) {
    (void)state;
    bg_loop b;
    start_loop(&b);
    waiter w = {.f = cio_run_coroutine_threadsafe(b.loop, sleep_long, NULL), .r = 1};
    assert_non_null(w.f);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wait_forever, &w), 0);
    stop_loop(&b, true); /* the task is abandoned: the future ends cancelled */
    pthread_join(t, NULL);
    assert_int_equal(w.r, -ECANCELED);
    cio_future_unref(w.f);
}

/* ---- references across threads ---- */

static pthread_t dtor_thread;
static atomic_int dtor_runs;

static void record_dtor(void *result) {
    (void)result;
    dtor_thread = pthread_self();
    atomic_fetch_add(&dtor_runs, 1);
}

static void *pound_refs(void *arg) {
    cio_future *f = arg;
    for (int i = 0; i < 20000; i++) {
        cio_future_ref(f);
        cio_future_unref(f);
    }
    return NULL;
}

typedef struct made {
    cio_future *f;
} made;

static void make_future(void *arg) {
    made *m = arg;
    m->f = cio_future_new();
    cio_future_set_result_dtor(m->f, record_dtor);
    cio_future_set_result(m->f, (void *)9);
}

static void test_refs_across_threads(void **state) {
    (void)state;
    bg_loop b;
    start_loop(&b);
    made m = {0};
    assert_int_equal(cio_call_soon_threadsafe(b.loop, make_future, &m), 0);
    cio_future *probe = cio_run_coroutine_threadsafe(b.loop, return_arg, NULL);
    assert_int_equal(cio_future_wait(probe, -1, NULL), 0); /* make_future ran before it */
    cio_future_unref(probe);
    assert_non_null(m.f);
    void *res;
    assert_int_equal(cio_future_wait(m.f, 0, &res), 0);
    assert_ptr_equal(res, (void *)9);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, pound_refs, m.f), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&dtor_runs), 0);
    cio_future_unref(m.f); /* the last reference, off the loop's thread */
    probe = cio_run_coroutine_threadsafe(b.loop, return_arg, NULL);
    assert_int_equal(cio_future_wait(probe, -1, NULL), 0);
    cio_future_unref(probe);
    assert_int_equal(atomic_load(&dtor_runs), 1);
    assert_true(pthread_equal(dtor_thread, b.thread)); /* released on the loop's thread */
    stop_loop(&b, true);
}

/* ---- from a loop thread ---- */

static void *wait_on_loop(void *arg) {
    (void)arg;
    cio_future *f = cio_create_task(return_arg, NULL);
    assert_int_equal(cio_future_wait(f, 1, NULL), -EDEADLK);
    assert_int_equal(cio_await(f, NULL), 0);
    assert_true(cio_cancel_threadsafe(f) == false);
    cio_future_unref(f);
    return NULL;
}

static void test_wait_on_loop_thread(void **state) {
    (void)state;
    assert_int_equal(cio_run(wait_on_loop, NULL, NULL), 0);
}

/* ---- call_soon_threadsafe from a signal handler ---- */

enum { FROM_SIGNAL = 200, FLOOD = 1000 };
static cio_loop *sig_loop;
static int sig_posted, order_ok, ran;

static void count_cb(void *arg) {
    order_ok += (intptr_t)arg == ran;
    ran++;
}

static void on_usr1(int sig) {
    (void)sig;
    for (int i = 0; i < FROM_SIGNAL; i++)
        sig_posted += cio_call_soon_threadsafe(sig_loop, count_cb, (void *)(intptr_t)i) == 0;
}

static void *run_posted(void *arg) {
    (void)arg;
    return NULL; /* the posted callbacks run before main's task ends */
}

static void test_signal_handler(void **state) {
    (void)state;
    sig_loop = cio_loop_new(NULL);
    assert_non_null(sig_loop);
    struct sigaction sa = {.sa_handler = on_usr1}, old;
    sigaction(SIGUSR1, &sa, &old);
#ifdef COUNT_ALLOCS
    allocs = 0;
    counting = 1;
    free(malloc(16)); /* the counter itself works */
    counting = 0;
    assert_int_equal(allocs, 1);
    allocs = 0;
    counting = 1;
#endif
    raise(SIGUSR1); /* the handler runs before raise returns */
#ifdef COUNT_ALLOCS
    counting = 0;
    assert_int_equal(allocs, 0); /* no malloc on that path */
#endif
    sigaction(SIGUSR1, &old, NULL);
    assert_int_equal(sig_posted, FROM_SIGNAL);
    /* Beyond the preallocated slots: still accepted, in order. */
    for (int i = FROM_SIGNAL; i < FLOOD; i++)
        assert_int_equal(cio_call_soon_threadsafe(sig_loop, count_cb, (void *)(intptr_t)i), 0);
    cio_future *f = cio_loop_create_task(sig_loop, run_posted, NULL);
    assert_int_equal(cio_loop_run_until_complete(sig_loop, f), 0);
    cio_future_unref(f);
    assert_int_equal(ran, FLOOD);
    assert_int_equal(order_ok, FLOOD);
    assert_int_equal(cio_loop_close(sig_loop), 0);
}

/* ---- debug mode: a reference dropped twice aborts with a message ---- */

static void *double_unref_future(void *arg) {
    (void)arg;
    cio_future *f = cio_future_new();
    cio_future_unref(f);
    cio_future_unref(f); /* aborts here */
    return NULL;
}

static void *double_unref_task(void *arg) {
    (void)arg;
    cio_future *t = cio_create_task(return_arg, NULL);
    cio_future_unref(t);
    cio_future_unref(t); /* the loop's reference: aborts */
    return NULL;
}

static int child_status(cio_fn body, bool debug) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(2); /* the message is not the test's output */
        cio_options o = {.debug = debug};
        cio_run_with(&o, body, NULL, NULL);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

static void test_double_unref_aborts(void **state) {
    (void)state;
    int st = child_status(double_unref_future, true);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    st = child_status(double_unref_task, true);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_threads),        cmocka_unit_test(test_timeout_and_cancel),
        cmocka_unit_test(test_after_close),         cmocka_unit_test(test_close_under_waiter),
        cmocka_unit_test(test_refs_across_threads), cmocka_unit_test(test_wait_on_loop_thread),
        cmocka_unit_test(test_signal_handler),      cmocka_unit_test(test_double_unref_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
