/* Task-local context (contextvars): a new task gets a copy of its creator's
 * context, siblings are isolated, values survive suspensions, thread-pool
 * jobs see their submitter's values and leave the worker clean, process-pool
 * jobs carry nothing, and get/set outside a task use the thread's own. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>
#include "context.h" /* cio__context_job_fn: the wrapped job's name for tools */

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

static cio_context_key key_a = CIO_CONTEXT_KEY("a");
static cio_context_key key_b = CIO_CONTEXT_KEY("b");

#define V(n) ((void *)(intptr_t)(n))
#define N(p) ((int)(intptr_t)(p))

static void set_ok(const cio_context_key *k, void *v) {
    assert_int_equal(cio_context_set(k, v, NULL), 0);
}

/* ---- inheritance is a copy ---- */

static void *child_changes(void *arg) {
    (void)arg;
    assert_int_equal(N(cio_context_get(&key_a)), 1); /* inherited */
    void *old = V(-1);
    assert_int_equal(cio_context_set(&key_a, V(2), &old), 0);
    assert_int_equal(N(old), 1);
    set_ok(&key_b, V(3));
    assert_int_equal(N(cio_context_get(&key_a)), 2);
    assert_int_equal(N(cio_context_get(&key_b)), 3);
    return NULL;
}

static void *parent_sees_own(void *arg) {
    (void)arg;
    set_ok(&key_a, V(1));
    cio_future *c = cio_create_task(child_changes, NULL);
    assert_int_equal(cio_await(c, NULL), 0);
    cio_future_unref(c);
    assert_int_equal(N(cio_context_get(&key_a)), 1);
    assert_null(cio_context_get(&key_b));
    return NULL;
}

static void test_set_in_child_invisible_to_parent(void **state) {
    (void)state;
    assert_int_equal(cio_run(parent_sees_own, NULL, NULL), 0);
}

/* The copy is taken when the task is created, not when it starts. */
static void *reads_a(void *arg) {
    (void)arg;
    return cio_context_get(&key_a);
}

static void *changes_after_create(void *arg) {
    (void)arg;
    set_ok(&key_a, V(1));
    cio_future *c = cio_create_task(reads_a, NULL);
    set_ok(&key_a, V(5));
    cio_future *d = cio_create_task(reads_a, NULL);
    set_ok(&key_a, NULL);
    cio_future *e = cio_create_task(reads_a, NULL);
    void *r;
    assert_int_equal(cio_await(c, &r), 0);
    assert_int_equal(N(r), 1);
    assert_int_equal(cio_await(d, &r), 0);
    assert_int_equal(N(r), 5);
    assert_int_equal(cio_await(e, &r), 0);
    assert_null(r);
    cio_future_unref(c);
    cio_future_unref(d);
    cio_future_unref(e);
    return NULL;
}

static void test_copy_taken_at_creation(void **state) {
    (void)state;
    assert_int_equal(cio_run(changes_after_create, NULL, NULL), 0);
}

/* ---- siblings are isolated; values survive awaits ---- */

static void *sibling(void *arg) {
    int me = N(arg);
    assert_int_equal(N(cio_context_get(&key_a)), 7); /* the parent's */
    set_ok(&key_a, V(100 + me));
    for (int i = 0; i < 5; i++) {
        assert_int_equal(cio_sleep(i % 2 ? 0.001 : 0), 0);
        assert_int_equal(N(cio_context_get(&key_a)), 100 + me);
        set_ok(&key_b, V(1000 * me + i));
        assert_int_equal(cio_yield(), 0);
        assert_int_equal(N(cio_context_get(&key_b)), 1000 * me + i);
    }
    return V(me);
}

static void *siblings(void *arg) {
    (void)arg;
    set_ok(&key_a, V(7));
    cio_future *fs[8];
    for (int i = 0; i < 8; i++)
        assert_non_null(fs[i] = cio_create_task(sibling, V(i)));
    for (int i = 0; i < 8; i++) {
        void *r;
        assert_int_equal(cio_await(fs[i], &r), 0);
        assert_int_equal(N(r), i);
        cio_future_unref(fs[i]);
    }
    assert_int_equal(N(cio_context_get(&key_a)), 7);
    assert_null(cio_context_get(&key_b));
    return NULL;
}

static void test_siblings_isolated_across_awaits(void **state) {
    (void)state;
    assert_int_equal(cio_run(siblings, NULL, NULL), 0);
}

/* ---- many keys ---- */

#define NKEYS 100
static cio_context_key many[NKEYS];

static void *check_many(void *arg) {
    int removed_odd = N(arg);
    for (int i = 0; i < NKEYS; i++) {
        void *want = removed_odd && i % 2 ? NULL : V(i + 1);
        assert_ptr_equal(cio_context_get(&many[i]), want);
    }
    return NULL;
}

static void *many_keys(void *arg) {
    (void)arg;
    for (int i = 0; i < NKEYS; i++)
        set_ok(&many[i], V(i + 1));
    cio_future *all = cio_create_task(check_many, V(0));
    for (int i = 1; i < NKEYS; i += 2)
        set_ok(&many[i], NULL);
    check_many(V(1));
    cio_future *half = cio_create_task(check_many, V(1));
    assert_int_equal(cio_await(all, NULL), 0);
    assert_int_equal(cio_await(half, NULL), 0);
    cio_future_unref(all);
    cio_future_unref(half);
    return NULL;
}

static void test_many_keys(void **state) {
    (void)state;
    for (int i = 0; i < NKEYS; i++)
        many[i] = (cio_context_key)CIO_CONTEXT_KEY("many");
    assert_int_equal(cio_run(many_keys, NULL, NULL), 0);
}

/* ---- thread-pool jobs ---- */

static void *job_reads_and_sets(void *arg) {
    (void)arg;
    void *seen = cio_context_get(&key_a);
    set_ok(&key_b, V(99)); /* the job's own: not the task's, not the next job's */
    if (N(cio_context_get(&key_b)) != 99)
        return V(-1);
    return seen;
}

static void *job_reads_both(void *arg) {
    (void)arg;
    return V(N(cio_context_get(&key_a)) * 1000 + N(cio_context_get(&key_b)));
}

static void *to_thread_task(void *arg) {
    (void)arg;
    set_ok(&key_a, V(42));
    void *r;
    assert_int_equal(cio_to_thread(job_reads_and_sets, NULL, &r), 0);
    assert_int_equal(N(r), 42);
    assert_null(cio_context_get(&key_b));
    assert_int_equal(N(cio_context_get(&key_a)), 42); /* survived the await */
    return NULL;
}

static void test_to_thread_sees_value(void **state) {
    (void)state;
    assert_int_equal(cio_run(to_thread_task, NULL, NULL), 0);
}

static void *empty_ctx_job(void *arg) {
    (void)arg;
    void *r;
    assert_int_equal(cio_to_thread(job_reads_both, NULL, &r), 0);
    return r;
}

/* One worker thread runs both jobs: after a job with a context the worker's
 * own context is empty again. */
static void *worker_cleared(void *arg) {
    (void)arg;
    cio_executor *pool = cio_thread_pool_new(1);
    assert_non_null(pool);
    set_ok(&key_a, V(3));
    cio_future *f = cio_run_in_executor(pool, job_reads_and_sets, NULL);
    void *r;
    assert_int_equal(cio_await(f, &r), 0);
    assert_int_equal(N(r), 3);
    cio_future_unref(f);
    set_ok(&key_a, NULL); /* empty: the job is submitted as it is */
    f = cio_run_in_executor(pool, job_reads_both, NULL);
    assert_int_equal(cio_await(f, &r), 0);
    assert_int_equal(N(r), 0);
    cio_future_unref(f);
    assert_int_equal(cio_executor_shutdown(pool, true, false), 0);
    cio_executor_free(pool);
    /* The default pool too, from a task created with an empty context. */
    cio_future *t = cio_create_task(empty_ctx_job, NULL);
    assert_int_equal(cio_await(t, &r), 0);
    assert_int_equal(N(r), 0);
    cio_future_unref(t);
    return NULL;
}

static void test_worker_context_cleared_after_job(void **state) {
    (void)state;
    assert_int_equal(cio_run(worker_cleared, NULL, NULL), 0);
}

/* Tools that name a pool's jobs see through the carrier. */
static void *names_the_job(void *arg) {
    (void)arg;
    assert_true(cio__context_job_fn(job_reads_both, NULL) == job_reads_both);
    errno = EINVAL;
    assert_null(cio__context_job_new(job_reads_both, NULL)); /* empty: no carrier */
    assert_int_equal(errno, 0);
    set_ok(&key_a, V(1));
    cio__ctx_job *j = cio__context_job_new(job_reads_both, V(3));
    assert_non_null(j);
    assert_true(cio__context_job_fn(cio__context_job_run, j) == job_reads_both);
    cio__context_job_release(j, false); /* never submitted: both references go */
    return NULL;
}

static void test_job_name_seen_through(void **state) {
    (void)state;
    assert_int_equal(cio_run(names_the_job, NULL, NULL), 0);
}

/* A job cancelled while queued never runs: its carrier is released with its
 * future (LeakSanitizer checks). */
static sem_t gate;

static void *blocks_worker(void *arg) {
    while (sem_wait(&gate) < 0 && errno == EINTR)
        ;
    return arg;
}

static void *cancel_queued(void *arg) {
    (void)arg;
    cio_executor *pool = cio_thread_pool_new(1);
    assert_non_null(pool);
    set_ok(&key_a, V(1));
    cio_future *busy = cio_run_in_executor(pool, blocks_worker, V(5));
    cio_future *queued = cio_run_in_executor(pool, job_reads_both, NULL);
    assert_int_equal(cio_sleep(0.01), 0);
    assert_true(cio_cancel(queued));
    assert_int_equal(cio_await(queued, NULL), -ECANCELED);
    sem_post(&gate);
    void *r;
    assert_int_equal(cio_await(busy, &r), 0);
    assert_int_equal(N(r), 5);
    cio_future_unref(busy);
    cio_future_unref(queued);
    assert_int_equal(cio_executor_shutdown(pool, true, false), 0);
    cio_executor_free(pool);
    return NULL;
}

static void test_cancelled_queued_job_released(void **state) {
    (void)state;
    assert_int_equal(sem_init(&gate, 0, 0), 0);
    assert_int_equal(cio_run(cancel_queued, NULL, NULL), 0);
    sem_destroy(&gate);
}

/* The loop closes with a context-carrying job running and one queued: the
 * running one ends on its thread later, the queued one never runs, and
 * nothing is freed under either (ASan) nor leaked (LeakSanitizer). */
static atomic_int ran_after_close, first_started;

static void *blocks_then_counts(void *arg) {
    atomic_store(&first_started, 1);
    blocks_worker(arg);
    atomic_fetch_add(&ran_after_close, N(cio_context_get(&key_a)));
    return arg;
}

static void *submits_and_leaves(void *arg) {
    (void)arg;
    set_ok(&key_a, V(1));
    for (int i = 0; i < 2; i++) {
        cio_future *f = cio_run_in_executor(NULL, i ? job_reads_both : blocks_then_counts, NULL);
        assert_non_null(f);
        cio_future_unref(f);
    }
    while (!atomic_load(&first_started)) /* the first one starts */
        assert_int_equal(cio_sleep(0.001), 0);
    return NULL;
}

static void test_loop_closes_with_jobs_in_flight(void **state) {
    (void)state;
    assert_int_equal(sem_init(&gate, 0, 0), 0);
    cio_loop *loop = cio_loop_new(&(cio_options){.default_executor_workers = 1});
    assert_non_null(loop);
    cio_future *t = cio_loop_create_task(loop, submits_and_leaves, NULL);
    assert_int_equal(cio_loop_run_until_complete(loop, t), 0);
    cio_future_unref(t);
    assert_int_equal(cio_loop_close(loop), 0);
    sem_post(&gate);
    for (int i = 0; i < 500 && !atomic_load(&ran_after_close); i++)
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    assert_int_equal(atomic_load(&ran_after_close), 1); /* it still saw its context */
    nanosleep(&(struct timespec){0, 50000000}, NULL);   /* the worker lets the job go */
    sem_destroy(&gate);
}

/* ---- process pools carry nothing (as asyncio's) ---- */

static void *process_job(void *arg) {
    (void)arg;
    return cio_context_get(&key_a);
}

static void *in_process(void *arg) {
    (void)arg;
    cio_executor *pool = cio_process_pool_new(1);
    assert_non_null(pool);
    set_ok(&key_a, V(8));
    cio_future *f = cio_run_in_executor(pool, process_job, NULL);
    assert_non_null(f);
    void *r = V(-1);
    assert_int_equal(cio_await(f, &r), 0);
    assert_null(r);
    cio_future_unref(f);
    assert_int_equal(cio_executor_shutdown(pool, true, false), 0);
    cio_executor_free(pool);
    return NULL;
}

static void test_process_pool_carries_nothing(void **state) {
    (void)state;
    assert_int_equal(cio_run(in_process, NULL, NULL), 0);
}

/* ---- outside a task: the thread's own context ---- */

static void callback_reads(void *arg) {
    *(void **)arg = cio_context_get(&key_a);
}

static void *main_inherits(void *arg) {
    (void)arg;
    assert_int_equal(N(cio_context_get(&key_a)), 11); /* copied from the thread */
    set_ok(&key_a, V(12));
    void *seen = V(-1);
    assert_non_null(cio_call_soon(callback_reads, &seen).p);
    assert_int_equal(cio_sleep(0.001), 0);
    assert_int_equal(N(seen), 11); /* a callback runs in the thread's context */
    return NULL;
}

static void *plain_thread(void *arg) {
    (void)arg;
    if (cio_context_get(&key_a))
        return V(-1); /* another thread's value leaked in */
    if (cio_context_set(&key_a, V(21), NULL) < 0 || N(cio_context_get(&key_a)) != 21)
        return V(-2);
    return V(1); /* its context is released when it exits (LeakSanitizer) */
}

static void test_outside_a_task(void **state) {
    (void)state;
    void *old = V(-1);
    assert_int_equal(cio_context_set(&key_a, V(11), &old), 0);
    assert_null(old);
    assert_int_equal(cio_run(main_inherits, NULL, NULL), 0);
    assert_int_equal(N(cio_context_get(&key_a)), 11);
    pthread_t th;
    void *r;
    assert_int_equal(pthread_create(&th, NULL, plain_thread, NULL), 0);
    assert_int_equal(pthread_join(th, &r), 0);
    assert_int_equal(N(r), 1);
    assert_int_equal(N(cio_context_get(&key_a)), 11);
    set_ok(&key_a, NULL);
    assert_null(cio_context_get(&key_a));
}

static void test_bad_arguments(void **state) {
    (void)state;
    void *old = V(5);
    assert_int_equal(cio_context_set(NULL, V(1), &old), -EINVAL);
    assert_null(cio_context_get(NULL));
    /* Setting what is already there, or removing what is not, is fine. */
    assert_int_equal(cio_context_set(&key_b, NULL, &old), 0);
    assert_null(old);
    set_ok(&key_b, V(4));
    assert_int_equal(cio_context_set(&key_b, V(4), &old), 0);
    assert_int_equal(N(old), 4);
    set_ok(&key_b, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_in_child_invisible_to_parent),
        cmocka_unit_test(test_copy_taken_at_creation),
        cmocka_unit_test(test_siblings_isolated_across_awaits),
        cmocka_unit_test(test_many_keys),
        cmocka_unit_test(test_to_thread_sees_value),
        cmocka_unit_test(test_worker_context_cleared_after_job),
        cmocka_unit_test(test_job_name_seen_through),
        cmocka_unit_test(test_cancelled_queued_job_released),
        cmocka_unit_test(test_loop_closes_with_jobs_in_flight),
        cmocka_unit_test(test_process_pool_carries_nothing),
        cmocka_unit_test(test_outside_a_task),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
