/* Tasks and futures: ordering, results, errors, cancellation, references. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct trace {
    char buf[256];
} trace;

static void mark(trace *t, const char *s) {
    strncat(t->buf, s, sizeof t->buf - strlen(t->buf) - 1);
}

/* ---- ordering ---- */

typedef struct named {
    trace *t;
    const char *name;
} named;

static void *log_and_yield(void *arg) {
    named *n = arg;
    mark(n->t, n->name);
    cio_yield();
    mark(n->t, n->name);
    return NULL;
}

static void *start_order(void *arg) {
    trace *t = arg;
    named a = {t, "a"}, b = {t, "b"}, c = {t, "c"};
    cio_future *fs[3] = {cio_create_task(log_and_yield, &a), cio_create_task(log_and_yield, &b),
                         cio_create_task(log_and_yield, &c)};
    mark(t, "M"); /* the creator runs on until it suspends */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cio_await(fs[i], NULL), 0);
        cio_future_unref(fs[i]);
    }
    return NULL;
}

static void test_tasks_start_in_creation_order(void **state) {
    (void)state;
    trace t = {0};
    assert_int_equal(cio_run(start_order, &t, NULL), 0);
    assert_string_equal(t.buf, "Mabcabc");
}

static void cb_mark(cio_future *f, void *arg) {
    (void)f;
    named *n = arg;
    mark(n->t, n->name);
}

static void *done_callback_order(void *arg) {
    trace *t = arg;
    cio_future *f = cio_future_new();
    named x = {t, "1"}, y = {t, "2"}, z = {t, "3"};
    cio_future_add_done_callback(f, cb_mark, &x);
    cio_future_add_done_callback(f, cb_mark, &y);
    cio_future_add_done_callback(f, cb_mark, &z);
    assert_int_equal(cio_future_remove_done_callback(f, cb_mark, &y), 1);
    cio_future_set_result(f, (void *)5);
    mark(t, "S"); /* callbacks never run inline */
    cio_yield();
    /* Registered on a done future: scheduled, not run inline either. */
    cio_future_add_done_callback(f, cb_mark, &y);
    mark(t, "L");
    cio_yield();
    cio_future_unref(f);
    return NULL;
}

static void test_done_callbacks_in_order(void **state) {
    (void)state;
    trace t = {0};
    assert_int_equal(cio_run(done_callback_order, &t, NULL), 0);
    assert_string_equal(t.buf, "S13L2");
}

/* ---- results and errors ---- */

static void *square(void *arg) {
    intptr_t x = (intptr_t)arg;
    cio_sleep(0.001);
    return (void *)(x * x);
}

static void *failing(void *arg) {
    cio_yield();
    return cio_fail((int)(intptr_t)arg);
}

static void *results(void *arg) {
    (void)arg;
    cio_future *a = cio_create_task(square, (void *)7);
    cio_future *b = cio_create_task(failing, (void *)(intptr_t)-EIO);
    void *r = NULL;
    assert_false(cio_future_done(a));
    assert_int_equal(cio_future_result(a, &r), -EAGAIN);
    assert_int_equal(cio_await(a, &r), 0);
    assert_int_equal((intptr_t)r, 49);
    assert_int_equal(cio_await(b, &r), -EIO);
    assert_true(cio_future_done(b));
    assert_false(cio_future_cancelled(b));
    assert_int_equal(cio_future_error(b), -EIO);
    /* awaiting a done future returns at once, again */
    assert_int_equal(cio_await(a, &r), 0);
    cio_future_unref(a);
    cio_future_unref(b);

    cio_future *f = cio_future_new();
    assert_int_equal(cio_future_set_error(f, -ENOENT), 0);
    assert_int_equal(cio_future_set_result(f, NULL), -EINVAL); /* InvalidStateError */
    assert_int_equal(cio_future_set_error(f, 5), -EINVAL);
    assert_int_equal(cio_future_result(f, &r), -ENOENT);
    cio_future_unref(f);
    assert_int_equal(cio_await(cio_current_task(), NULL), -EDEADLK);
    return NULL;
}

static void test_results_and_errors(void **state) {
    (void)state;
    assert_int_equal(cio_run(results, NULL, NULL), 0);
    assert_int_equal(cio_await(NULL, NULL), -EPERM); /* outside a task */
    assert_int_equal(cio_sleep(0.1), -EPERM);
}

static void *overlap(void *arg) {
    (void)arg;
    double t0 = cio_loop_time(cio_get_running_loop());
    cio_future *a = cio_create_task(square, (void *)1);
    cio_future *fs[2] = {a, cio_create_task(square, (void *)2)};
    for (int i = 0; i < 2; i++) {
        cio_await(fs[i], NULL);
        cio_future_unref(fs[i]);
    }
    return (void *)(intptr_t)((cio_loop_time(cio_get_running_loop()) - t0) * 1e6);
}

static void test_sleeps_overlap(void **state) {
    (void)state;
    void *us;
    assert_int_equal(cio_run(overlap, NULL, &us), 0);
    assert_true((intptr_t)us < 500000); /* two 1 ms sleeps, far from serial seconds */
}

/* ---- cancellation ---- */

static void *never_runs(void *arg) {
    ++*(int *)arg;
    return NULL;
}

static void *sleeper(void *arg) {
    int *phase = arg;
    *phase = 1;
    int r = cio_sleep(3600);
    *phase = r == -ECANCELED ? 2 : 3;
    return cio_fail(r);
}

static void *ignores_cancel(void *arg) {
    (void)arg;
    int r = cio_sleep(3600);
    assert_int_equal(r, -ECANCELED);
    return (void *)99; /* completes normally after all */
}

static void *awaits(void *arg) {
    return (void *)(intptr_t)cio_await(arg, NULL);
}

static void *cancellation(void *arg) {
    (void)arg;
    /* before it starts: the body never runs */
    int ran = 0;
    cio_future *t = cio_create_task(never_runs, &ran);
    assert_true(cio_cancel(t));
    assert_int_equal(cio_await(t, NULL), -ECANCELED);
    assert_true(cio_future_cancelled(t));
    assert_int_equal(ran, 0);
    assert_false(cio_cancel(t)); /* done: false */
    cio_future_unref(t);

    /* while suspended */
    int phase = 0;
    t = cio_create_task(sleeper, &phase);
    cio_yield();
    assert_int_equal(phase, 1);
    assert_true(cio_cancel(t));
    assert_int_equal(cio_task_cancelling(t), 1);
    assert_int_equal(cio_await(t, NULL), -ECANCELED);
    assert_int_equal(phase, 2);
    assert_true(cio_future_cancelled(t));
    cio_future_unref(t);

    /* ignored: completes normally */
    t = cio_create_task(ignores_cancel, NULL);
    cio_yield();
    cio_cancel(t);
    void *r;
    assert_int_equal(cio_await(t, &r), 0);
    assert_int_equal((intptr_t)r, 99);
    assert_false(cio_future_cancelled(t));
    cio_future_unref(t);

    /* cancelling a task that awaits a future cancels that future too */
    cio_future *f = cio_future_new();
    t = cio_create_task(awaits, f);
    cio_yield();
    cio_cancel(t);
    assert_int_equal(cio_await(t, &r), 0);
    assert_int_equal((intptr_t)r, -ECANCELED);
    assert_true(cio_future_cancelled(f));
    cio_future_unref(t);
    cio_future_unref(f);

    /* ... through a chain of tasks */
    phase = 0;
    cio_future *inner = cio_create_task(sleeper, &phase);
    t = cio_create_task(awaits, inner);
    cio_yield();
    cio_cancel(t);
    cio_await(t, &r);
    assert_int_equal((intptr_t)r, -ECANCELED);
    assert_true(cio_future_cancelled(inner));
    assert_int_equal(phase, 2);
    cio_future_unref(t);
    cio_future_unref(inner);
    return NULL;
}

static void test_cancellation(void **state) {
    (void)state;
    assert_int_equal(cio_run(cancellation, NULL, NULL), 0);
}

static void *self_cancel(void *arg) {
    (void)arg;
    cio_cancel(cio_current_task());
    assert_int_equal(cio_yield(), -ECANCELED);
    assert_int_equal(cio_yield(), 0); /* delivered once */
    cio_cancel(cio_current_task());
    assert_int_equal(cio_task_uncancel(cio_current_task()), 1);
    assert_int_equal(cio_task_uncancel(cio_current_task()), 0);
    assert_int_equal(cio_yield(), 0); /* rescinded before delivery */
    return NULL;
}

static void test_self_cancel_and_uncancel(void **state) {
    (void)state;
    assert_int_equal(cio_run(self_cancel, NULL, NULL), 0);
}

/* ---- names and bookkeeping ---- */

static void *names(void *arg) {
    (void)arg;
    assert_string_equal(cio_task_name(cio_current_task()), "main");
    cio_future *t = cio_create_task(square, (void *)3);
    assert_non_null(strstr(cio_task_name(t), "Task-"));
    cio_task_set_name(t, "worker");
    assert_string_equal(cio_task_name(t), "worker");
    cio_future *all[4];
    assert_int_equal(cio_all_tasks(cio_get_running_loop(), all, 4), 2);
    cio_await(t, NULL);
    assert_int_equal(cio_all_tasks(cio_get_running_loop(), all, 4), 1);
    assert_ptr_equal(all[0], cio_current_task());
    cio_future_unref(t);
    assert_null(cio_task_name(NULL));
    return NULL;
}

static void test_names_and_all_tasks(void **state) {
    (void)state;
    assert_int_equal(cio_run(names, NULL, NULL), 0);
}

/* ---- scale: 100,000 sleeping tasks (no mapping per stack) ---- */

static void *nap(void *arg) {
    (void)arg;
    return (void *)(intptr_t)cio_sleep(0.2);
}

static void *many_sleepers(void *arg) {
    size_t n = (size_t)arg;
    cio_future **fs = malloc(n * sizeof *fs);
    for (size_t i = 0; i < n; i++) {
        fs[i] = cio_create_task(nap, NULL);
        assert_non_null(fs[i]);
    }
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        void *r;
        if (cio_await(fs[i], &r) == 0 && r == NULL)
            ok++;
        cio_future_unref(fs[i]);
    }
    free(fs);
    return (void *)ok;
}

/* TSan models each task as a fiber and dies past 8,128 of them at once. */
#if defined(__SANITIZE_THREAD__)
#define SLEEPERS 2000
#else
#define SLEEPERS 100000
#endif

static void test_hundred_thousand_sleepers(void **state) {
    (void)state;
    void *ok;
    assert_int_equal(cio_run(many_sleepers, (void *)SLEEPERS, &ok), 0);
    assert_int_equal((size_t)ok, SLEEPERS);
}

/* Released while running: the loop keeps its own reference. */
static void *sets_flag(void *arg) {
    cio_sleep(0.001);
    *(int *)arg = 1;
    return NULL;
}

static void *unref_early(void *arg) {
    cio_future_unref(cio_create_task(sets_flag, arg));
    cio_sleep(0.01);
    return NULL;
}

static void test_unref_running_task(void **state) {
    (void)state;
    int flag = 0;
    assert_int_equal(cio_run(unref_early, &flag, NULL), 0);
    assert_int_equal(flag, 1);
}

/* ---- a future of another loop: refused at once, never a hang ---- */

typedef struct foreign {
    cio_future *f; /* a pending future of another loop */
    int r;
} foreign;

static void *awaits_foreign(void *arg) {
    foreign *fo = arg;
    fo->r = cio_await(fo->f, NULL);
    return NULL;
}

/* The await runs in a child task bounded by wait_for, so that the old
 * behaviour (a hang) fails the test instead of stalling it. */
static void *awaits_foreign_bounded(void *arg) {
    foreign *fo = arg;
    fo->r = 1;
    cio_future *t = cio_create_task(awaits_foreign, fo);
    int r = cio_wait_for(t, 2.0, NULL);
    cio_future_unref(t);
    return (void *)(intptr_t)r;
}

static char foreign_log[2048];

static void capture_log(int level, const char *msg, void *user) {
    (void)level;
    (void)user;
    strncat(foreign_log, msg, sizeof foreign_log - strlen(foreign_log) - 2);
    strcat(foreign_log, "\n");
}

static void test_await_future_of_another_loop(void **state) {
    (void)state;
    cio_loop *other = cio_loop_new(NULL);
    assert_non_null(other);
    foreign fo = {.f = cio_loop_future_new(other)};
    assert_non_null(fo.f);
    cio_set_log_handler(capture_log, NULL);
    cio_options opt = {.debug = 1};
    void *r = (void *)-1;
    assert_int_equal(cio_run_with(&opt, awaits_foreign_bounded, &fo, &r), 0);
    cio_set_log_handler(NULL, NULL);
    assert_int_equal((intptr_t)r, 0);
    assert_int_equal(fo.r, CIO_ELOOP);
    assert_false(cio_future_done(fo.f)); /* untouched by the refusal */
    assert_string_equal(cio_strerror(CIO_ELOOP), "the future belongs to another loop");
    char other_name[32];
    snprintf(other_name, sizeof other_name, "%p", (void *)other);
    assert_non_null(strstr(foreign_log, "belongs to loop"));
    assert_non_null(strstr(foreign_log, other_name));
    cio_future_unref(fo.f);
    assert_int_equal(cio_loop_close(other), 0);
}

/* The same across two loops running on two threads. */
typedef struct two_loops {
    cio_loop *loop;
    cio_future *f;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool ready, release;
} two_loops;

static void *holds_future(void *arg) {
    two_loops *tl = arg;
    tl->loop = cio_get_running_loop();
    tl->f = cio_future_new();
    pthread_mutex_lock(&tl->mu);
    tl->ready = true;
    pthread_cond_signal(&tl->cv);
    pthread_mutex_unlock(&tl->mu);
    bool release = false;
    while (!release) {
        cio_sleep(0.01);
        pthread_mutex_lock(&tl->mu);
        release = tl->release;
        pthread_mutex_unlock(&tl->mu);
    }
    cio_future_set_result(tl->f, (void *)7);
    cio_future_unref(tl->f);
    return NULL;
}

static void *run_holder(void *arg) {
    return (void *)(intptr_t)cio_run(holds_future, arg, NULL);
}

static void test_await_future_of_loop_on_other_thread(void **state) {
    (void)state;
    two_loops tl = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_holder, &tl), 0);
    pthread_mutex_lock(&tl.mu);
    while (!tl.ready)
        pthread_cond_wait(&tl.cv, &tl.mu);
    pthread_mutex_unlock(&tl.mu);
    foreign fo = {.f = tl.f};
    void *r = (void *)-1;
    assert_int_equal(cio_run(awaits_foreign_bounded, &fo, &r), 0);
    assert_int_equal((intptr_t)r, 0);
    assert_int_equal(fo.r, CIO_ELOOP);
    pthread_mutex_lock(&tl.mu);
    tl.release = true;
    pthread_mutex_unlock(&tl.mu);
    void *rr;
    assert_int_equal(pthread_join(th, &rr), 0);
    assert_int_equal((intptr_t)rr, 0);
}

/* ---- the default stack takes ordinary C, and costs only what is touched ---- */

static int sum_big_local(int seed) {
    volatile char buf[64 * 1024]; /* a common size for a read buffer */
    for (size_t i = 0; i < sizeof buf; i += 512)
        buf[i] = (char)(seed + (int)i);
    char line[256];
    snprintf(line, sizeof line, "%d %.3f %s", seed, seed / 3.0, "and printf on top");
    int s = (int)strlen(line);
    for (size_t i = 0; i < sizeof buf; i += 4096)
        s += buf[i];
    return s;
}

static void *big_local(void *arg) {
    cio_yield();
    return (void *)(intptr_t)sum_big_local((int)(intptr_t)arg);
}

static void *spawns_big_local(void *arg) {
    (void)arg;
    cio_future *t = cio_create_task(big_local, (void *)1);
    void *r = NULL;
    assert_int_equal(cio_await(t, &r), 0);
    cio_future_unref(t);
    return r;
}

static void test_default_stack_takes_a_64k_local(void **state) {
    (void)state;
    void *r = NULL;
    assert_int_equal(cio_run(spawns_big_local, NULL, &r), 0);
    assert_int_equal((intptr_t)r, sum_big_local(1));
}

/* Resident set plus page tables, in KiB. */
static long memory_kib(void) {
    FILE *f = fopen("/proc/self/status", "re");
    assert_non_null(f);
    char line[256];
    long total = 0, v;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &v) == 1 || sscanf(line, "VmPTE: %ld", &v) == 1)
            total += v;
    fclose(f);
    return total;
}

#define IDLE_TASKS 20000

static void *idle_memory(void *arg) {
    (void)arg;
    cio_future **fs = malloc(IDLE_TASKS * sizeof *fs);
    assert_non_null(fs);
    long before = memory_kib();
    for (size_t i = 0; i < IDLE_TASKS; i++)
        fs[i] = cio_create_task(nap, NULL);
    cio_sleep(0.05); /* every one has started and is asleep */
    long after = memory_kib();
    for (size_t i = 0; i < IDLE_TASKS; i++) {
        cio_cancel(fs[i]);
        cio_await(fs[i], NULL);
        cio_future_unref(fs[i]);
    }
    free(fs);
    return (void *)(intptr_t)((after - before) * 1024 / IDLE_TASKS);
}

static void test_idle_task_memory(void **state) {
    (void)state;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    skip(); /* shadow memory and fake stacks are counted too */
#endif
    void *per_task = NULL;
    assert_int_equal(cio_run(idle_memory, NULL, &per_task), 0);
    /* About one touched page each plus its share of page tables, whatever
     * the reserved size: far below a default stack. */
    print_message("idle task: %ld bytes\n", (long)(intptr_t)per_task);
    assert_true((intptr_t)per_task < 12 * 1024);
}

/* ---- default names say what runs ---- */

void *cio_test_exported_job(void *arg);
void *cio_test_exported_job(void *arg) {
    return arg;
}

static void *names_default(void *arg) {
    (void)arg;
    cio_future *a = cio_create_task(square, (void *)2);
    cio_future *b = cio_create_task(cio_test_exported_job, NULL);
    const cio_future *ca = a;
    char first[64];
    snprintf(first, sizeof first, "%s", cio_task_name(ca));
    assert_string_equal(first, "Task-2 (square)");
    /* Two names in one call stay apart (a shared buffer would not). */
    char both[160];
    snprintf(both, sizeof both, "%s|%s", cio_task_name(a), cio_task_name(b));
    assert_string_equal(both, "Task-2 (square)|Task-3 (cio_test_exported_job)");
    /* A name given later replaces the default; the default comes back with NULL. */
    cio_task_set_name(a, "given");
    assert_string_equal(cio_task_name(a), "given");
    cio_task_set_name(a, NULL);
    assert_string_equal(cio_task_name(a), first);
    cio_await(a, NULL);
    cio_await(b, NULL);
    cio_future_unref(a);
    cio_future_unref(b);
    return NULL;
}

static void test_default_task_names(void **state) {
    (void)state;
    assert_int_equal(cio_run(names_default, NULL, NULL), 0);
}

/* ---- a cancellation is delivered once; cleanup after it works ---- */

static void *cleans_up(void *arg) {
    int *steps = arg;
    assert_int_equal(cio_sleep(3600), -ECANCELED);
    (*steps)++;
    /* Cleanup: every kind of call works again. */
    assert_int_equal(cio_yield(), 0);
    assert_int_equal(cio_sleep(0.001), 0);
    cio_future *t = cio_create_task(square, (void *)5);
    void *r = NULL;
    assert_int_equal(cio_await(t, &r), 0);
    assert_int_equal((intptr_t)r, 25);
    cio_future_unref(t);
    (*steps)++;
    /* A second request is a second delivery. */
    assert_int_equal(cio_sleep(3600), -ECANCELED);
    (*steps)++;
    return cio_fail(-ECANCELED);
}

static void *cancels_twice(void *arg) {
    cio_future *t = cio_create_task(cleans_up, arg);
    cio_yield();
    assert_true(cio_cancel(t));
    while (*(int *)arg < 2)
        cio_yield();
    cio_yield();
    assert_true(cio_cancel(t));
    assert_int_equal(cio_await(t, NULL), -ECANCELED);
    assert_true(cio_future_cancelled(t));
    cio_future_unref(t);
    return NULL;
}

static void test_cancel_delivered_once(void **state) {
    (void)state;
    int steps = 0;
    assert_int_equal(cio_run(cancels_twice, &steps, NULL), 0);
    assert_int_equal(steps, 3);
}

/* ---- cio_create_task_with: options on the running loop ---- */

static void *own_name(void *arg) {
    (void)arg;
    return (void *)cio_task_name(cio_current_task());
}

static void *creates_with(void *arg) {
    (void)arg;
    cio_task_options opt = {.name = "with-opts", .stack_size = 512 * 1024};
    cio_future *t = cio_create_task_with(&opt, own_name, NULL);
    assert_non_null(t);
    void *r = NULL;
    assert_int_equal(cio_await(t, &r), 0);
    assert_string_equal((const char *)r, "with-opts");
    cio_future_unref(t);
    cio_future *u = cio_create_task_with(NULL, big_local, (void *)2); /* NULL: defaults */
    assert_int_equal(cio_await(u, &r), 0);
    assert_int_equal((intptr_t)r, sum_big_local(2));
    cio_future_unref(u);
    errno = 0;
    assert_null(cio_create_task_with(&opt, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    return NULL;
}

static void test_create_task_with(void **state) {
    (void)state;
    assert_int_equal(cio_run(creates_with, NULL, NULL), 0);
    errno = 0;
    assert_null(cio_create_task_with(NULL, own_name, NULL)); /* no running loop */
    assert_int_equal(errno, EPERM);
}

/* ---- NaN is not a duration ---- */

static void *sleeps_nan(void *arg) {
    (void)arg;
    assert_int_equal(cio_sleep(NAN), -EINVAL);
    assert_int_equal(cio_sleep(-NAN), -EINVAL);
    assert_int_equal(cio_sleep(0), 0);
    assert_int_equal(cio_sleep(-1), 0);
    return NULL;
}

static void test_sleep_nan(void **state) {
    (void)state;
    assert_int_equal(cio_run(sleeps_nan, NULL, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tasks_start_in_creation_order),
        cmocka_unit_test(test_done_callbacks_in_order),
        cmocka_unit_test(test_results_and_errors),
        cmocka_unit_test(test_sleeps_overlap),
        cmocka_unit_test(test_cancellation),
        cmocka_unit_test(test_self_cancel_and_uncancel),
        cmocka_unit_test(test_names_and_all_tasks),
        cmocka_unit_test(test_hundred_thousand_sleepers),
        cmocka_unit_test(test_unref_running_task),
        cmocka_unit_test(test_await_future_of_another_loop),
        cmocka_unit_test(test_await_future_of_loop_on_other_thread),
        cmocka_unit_test(test_sleep_nan),
        cmocka_unit_test(test_default_stack_takes_a_64k_local),
        cmocka_unit_test(test_idle_task_memory),
        cmocka_unit_test(test_default_task_names),
        cmocka_unit_test(test_cancel_delivered_once),
        cmocka_unit_test(test_create_task_with),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
