/* The process pool and shared memory: results, pointers through shm both
 * ways, a crashing worker failing only its job, a killed worker, cancelling
 * queued and running jobs, random SIGKILLs under load, and no process left
 * behind. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include "loop.h" /* cio__loop_slot: the default pool's slot */

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bytes_jobs.h"

bool cio__shm_contains(const void *p); /* executors/shm.h: the payload stays in cio_shm */

static void *plus_one(void *arg) {
    return (void *)((intptr_t)arg + 1);
}

static void *my_pid(void *arg) {
    (void)arg;
    return (void *)(intptr_t)getpid();
}

static void *crash(void *arg) {
    (void)arg;
    raise(SIGSEGV);
    return NULL;
}

static void *nap_ms(void *arg) {
    long ms = (long)(intptr_t)arg;
    struct timespec ts = {ms / 1000, ms % 1000 * 1000000L};
    nanosleep(&ts, NULL);
    return arg;
}

/* Children of this process still alive (the fork server counts). */
static int live_children(void) {
    char path[300], buf[512];
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        int ppid = 0;
        if (fgets(buf, sizeof buf, f)) {
            char *close_paren = strrchr(buf, ')');
            if (close_paren)
                sscanf(close_paren + 2, "%*c %d", &ppid);
        }
        fclose(f);
        n += ppid == getpid();
    }
    closedir(d);
    return n;
}

/* ---- results, and memory that means the same in every process ---- */

typedef struct sum_job {
    const int *data;
    size_t n;
    long *out; /* allocated by the worker, in shm */
} sum_job;

static void *sum_in_worker(void *arg) {
    sum_job *j = arg;
    long *r = cio_shm_alloc(sizeof *r);
    if (!r)
        return (void *)(intptr_t)-ENOMEM;
    *r = 0;
    for (size_t i = 0; i < j->n; i++)
        *r += j->data[i];
    j->out = r;
    return r;
}

static void *results(void *arg) {
    cio_executor *pool = arg;
    enum { N = 10000 };
    cio_future **fs = malloc(N * sizeof *fs);
    for (intptr_t i = 0; i < N; i++)
        assert_non_null(fs[i] = cio_run_in_executor(pool, plus_one, (void *)i));
    for (intptr_t i = 0; i < N; i++) {
        void *r;
        assert_int_equal(cio_await(fs[i], &r), 0);
        assert_int_equal((intptr_t)r, i + 1);
        cio_future_unref(fs[i]);
    }
    free(fs);
    /* it really is another process */
    cio_future *f = cio_run_in_executor(pool, my_pid, NULL);
    void *pid;
    assert_int_equal(cio_await(f, &pid), 0);
    assert_int_not_equal((intptr_t)pid, getpid());
    cio_future_unref(f);
    /* a megabyte in, a result allocated by the worker out */
    size_t n = 256 * 1024;
    int *data = cio_shm_alloc(n * sizeof *data);
    long expect = 0;
    for (size_t i = 0; i < n; i++)
        expect += data[i] = (int)(i % 1000);
    sum_job *job = cio_shm_alloc(sizeof *job);
    *job = (sum_job){data, n, NULL};
    f = cio_run_in_executor(pool, sum_in_worker, job);
    void *r;
    assert_int_equal(cio_await(f, &r), 0);
    assert_ptr_equal(r, job->out);
    assert_int_equal(*(long *)r, expect);
    cio_future_unref(f);
    cio_shm_free(job->out);
    cio_shm_free(job);
    cio_shm_free(data);
    return NULL;
}

static void test_results_and_shm(void **state) {
    (void)state;
    cio_executor *pool = cio_process_pool_new(2);
    assert_non_null(pool);
    assert_int_equal(cio_run(results, pool, NULL), 0);
    assert_int_equal(cio_executor_shutdown(pool, true, false), 0);
    cio_executor_free(pool);
    assert_int_equal(live_children(), 0);
}

/* ---- crashes and kills fail one job; the pool goes on ---- */

static void *crashes(void *arg) {
    cio_executor *pool = arg;
    cio_future *bad = cio_run_in_executor(pool, crash, NULL);
    cio_future *good = cio_run_in_executor(pool, plus_one, (void *)41);
    void *r;
    assert_int_equal(cio_await(bad, NULL), CIO_EWORKER);
    assert_int_equal(cio_await(good, &r), 0);
    assert_int_equal((intptr_t)r, 42);
    cio_future_unref(bad);
    cio_future_unref(good);
    /* a running job cancelled: its worker is killed */
    cio_future *slow = cio_run_in_executor(pool, nap_ms, (void *)2000);
    cio_sleep(0.05);
    assert_true(cio_cancel(slow)); /* kills its worker: cancelled at once */
    assert_int_equal(cio_await(slow, NULL), -ECANCELED);
    cio_future_unref(slow);
    /* the pool still works, with as many workers */
    cio_future *fs[8];
    for (intptr_t i = 0; i < 8; i++)
        fs[i] = cio_run_in_executor(pool, plus_one, (void *)i);
    for (intptr_t i = 0; i < 8; i++) {
        assert_int_equal(cio_await(fs[i], &r), 0);
        assert_int_equal((intptr_t)r, i + 1);
        cio_future_unref(fs[i]);
    }
    return NULL;
}

static void test_crash_and_cancel_running(void **state) {
    (void)state;
    cio_executor *pool = cio_process_pool_new(2);
    assert_int_equal(cio_run(crashes, pool, NULL), 0);
    cio_executor_shutdown(pool, true, false);
    cio_executor_free(pool);
    assert_int_equal(live_children(), 0);
}

/* ---- cancelling queued jobs; shutdown both ways ---- */

/* Says it started (in shm), then naps 100 ms. */
static void *flag_and_nap(void *arg) {
    atomic_store((_Atomic int *)arg, 1);
    return nap_ms((void *)100);
}

static void *queued_and_shutdown(void *arg) {
    (void)arg;
    cio_executor *pool = cio_process_pool_new(1);
    _Atomic int *started = cio_shm_alloc(sizeof *started);
    atomic_init(started, 0);
    cio_future *busy = cio_run_in_executor(pool, flag_and_nap, started);
    cio_future *waiting[4];
    for (int i = 0; i < 4; i++)
        waiting[i] = cio_run_in_executor(pool, nap_ms, (void *)(intptr_t)(10 + i));
    while (!atomic_load(started)) /* a loaded machine may take long to fork the worker */
        cio_sleep(0.005);
    cio_shm_free(started);
    assert_true(cio_cancel(waiting[1]));
    assert_true(cio_future_cancelled(waiting[1]));
    /* cancel_futures: the queued ones end cancelled, the running one finishes */
    assert_int_equal(cio_executor_shutdown(pool, true, true), 0);
    void *r;
    assert_int_equal(cio_await(busy, &r), 0);
    assert_int_equal((intptr_t)r, 100);
    for (int i = 0; i < 4; i++) { /* also the one the worker held, unstarted */
        assert_int_equal(cio_await(waiting[i], &r), -ECANCELED);
        cio_future_unref(waiting[i]);
    }
    cio_future_unref(busy);
    errno = 0;
    assert_null(cio_run_in_executor(pool, plus_one, NULL));
    assert_int_equal(errno, ESHUTDOWN);
    cio_executor_free(pool);
    return NULL;
}

static void test_queued_cancel_and_shutdown(void **state) {
    (void)state;
    assert_int_equal(cio_run(queued_and_shutdown, NULL, NULL), 0);
    assert_int_equal(live_children(), 0);
}

/* ---- random SIGKILLs while 10,000 jobs run ---- */

static void *random_kills(void *arg) {
    cio_executor *pool = arg;
    enum { N = 10000 };
    cio_future **fs = malloc(N * sizeof *fs);
    for (intptr_t i = 0; i < N; i++)
        fs[i] = cio_run_in_executor(pool, i % 50 == 0 ? my_pid : plus_one, (void *)i);
    int ok = 0, died = 0;
    unsigned seed = 12345;
    for (intptr_t i = 0; i < N; i++) {
        void *r;
        int e = cio_await(fs[i], &r);
        if (e == 0 && i % 50 == 0) {
            pid_t pid = (pid_t)(intptr_t)r;
            if (rand_r(&seed) % 4 == 0 && pid != getpid())
                kill(pid, SIGKILL); /* some worker, at some moment */
            ok++;
        } else if (e == 0) {
            assert_int_equal((intptr_t)r, i + 1); /* every result that comes is right */
            ok++;
        } else {
            assert_int_equal(e, CIO_EWORKER); /* or the job's worker died */
            died++;
        }
        cio_future_unref(fs[i]);
    }
    free(fs);
    assert_int_equal(ok + died, N);
    /* and the pool works afterwards */
    cio_future *f = cio_run_in_executor(pool, plus_one, (void *)1);
    void *r;
    assert_int_equal(cio_await(f, &r), 0);
    assert_int_equal((intptr_t)r, 2);
    cio_future_unref(f);
    return NULL;
}

static void test_random_sigkills(void **state) {
    (void)state;
    cio_executor *pool = cio_process_pool_new(2);
    assert_int_equal(cio_run(random_kills, pool, NULL), 0);
    cio_executor_shutdown(pool, true, false);
    cio_executor_free(pool);
    assert_int_equal(live_children(), 0);
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1); /* no zombie either */
    assert_int_equal(errno, ECHILD);
}

static int inits;
static void count_init(void *arg) {
    (*(int *)arg)++;
}

static void *read_inits(void *arg) {
    return (void *)(intptr_t) * (int *)arg;
}

static void *initializer(void *arg) {
    cio_executor *pool = arg;
    cio_future *f = cio_run_in_executor(pool, read_inits, &inits);
    void *r;
    assert_int_equal(cio_await(f, &r), 0);
    assert_int_equal((intptr_t)r, 1); /* ran once in that worker, not in the parent */
    cio_future_unref(f);
    return NULL;
}

static void test_initializer(void **state) {
    (void)state;
    cio_process_pool_options opt = {.max_workers = 1, .initializer = count_init, .initarg = &inits};
    cio_executor *pool = cio_process_pool_new_with(&opt);
    assert_non_null(pool);
    assert_int_equal(cio_run(initializer, pool, NULL), 0);
    assert_int_equal(inits, 0);
    cio_executor_shutdown(pool, true, false);
    cio_executor_free(pool);
}

/* ---- a worker SIGKILLed in the middle of its job ---- */

typedef struct mid_job {
    _Atomic int pid; /* set by the worker once it runs */
} mid_job;

static void *report_and_nap(void *arg) {
    mid_job *m = arg;
    atomic_store(&m->pid, (int)getpid());
    struct timespec ts = {5, 0};
    nanosleep(&ts, NULL);
    return NULL;
}

static void *sigkill_mid_job(void *arg) {
    cio_executor *pool = arg;
    mid_job *m = cio_shm_alloc(sizeof *m);
    atomic_init(&m->pid, 0);
    cio_future *f = cio_run_in_executor(pool, report_and_nap, m);
    while (!atomic_load(&m->pid))
        cio_sleep(0.005);
    kill(atomic_load(&m->pid), SIGKILL);
    assert_int_equal(cio_await(f, NULL), CIO_EWORKER);
    cio_future_unref(f);
    cio_shm_free(m);
    void *r;
    f = cio_run_in_executor(pool, plus_one, (void *)6);
    assert_int_equal(cio_await(f, &r), 0);
    assert_int_equal((intptr_t)r, 7);
    cio_future_unref(f);
    return NULL;
}

static void test_sigkill_mid_job(void **state) {
    (void)state;
    cio_executor *pool = cio_process_pool_new(1);
    assert_int_equal(cio_run(sigkill_mid_job, pool, NULL), 0);
    assert_int_equal(cio_executor_shutdown(pool, true, false), 0);
    cio_executor_free(pool);
    assert_int_equal(live_children(), 0);
}

/* ---- cancelled queued jobs never run, not even those a worker holds ---- */

static void *set_flag(void *arg) {
    atomic_store((_Atomic int *)arg, 1);
    return arg;
}

static void *queued_never_run(void *arg) {
    cio_executor *pool = arg;
    enum { N = 10 };
    _Atomic int *flags = cio_shm_alloc(N * sizeof *flags);
    for (int i = 0; i < N; i++)
        atomic_init(&flags[i], 0);
    cio_future *busy = cio_run_in_executor(pool, nap_ms, (void *)200);
    cio_future *fs[N];
    for (int i = 0; i < N; i++)
        fs[i] = cio_run_in_executor(pool, set_flag, &flags[i]);
    cio_sleep(0.03); /* the first of them are at the worker by now */
    for (int i = 0; i < N; i++)
        assert_true(cio_cancel(fs[i]));
    assert_int_equal(cio_await(busy, NULL), 0);
    cio_future *after = cio_run_in_executor(pool, plus_one, NULL); /* the worker is past them */
    assert_int_equal(cio_await(after, NULL), 0);
    for (int i = 0; i < N; i++) {
        assert_true(cio_future_cancelled(fs[i]));
        assert_int_equal(atomic_load(&flags[i]), 0);
        cio_future_unref(fs[i]);
    }
    cio_future_unref(busy);
    cio_future_unref(after);
    cio_shm_free(flags);
    return NULL;
}

static void test_cancelled_queued_never_run(void **state) {
    (void)state;
    cio_executor *pool = cio_process_pool_new(1);
    assert_int_equal(cio_run(queued_never_run, pool, NULL), 0);
    cio_executor_shutdown(pool, true, false);
    cio_executor_free(pool);
}

/* ---- a short job held behind a long one moves to an idle worker ---- */

static void *no_head_of_line(void *arg) {
    cio_executor *pool = arg;
    /* handed out together: one worker gets [long, s[0]], the other the rest */
    cio_future *slow = cio_run_in_executor(pool, nap_ms, (void *)1500);
    cio_future *s[3];
    for (intptr_t i = 0; i < 3; i++)
        s[i] = cio_run_in_executor(pool, plus_one, (void *)i);
    for (intptr_t i = 0; i < 3; i++) {
        void *r;
        assert_int_equal(cio_await(s[i], &r), 0);
        assert_int_equal((intptr_t)r, i + 1);
        cio_future_unref(s[i]);
    }
    assert_false(cio_future_done(slow)); /* s[0] did not wait for it */
    void *r;
    assert_int_equal(cio_await(slow, &r), 0);
    assert_int_equal((intptr_t)r, 1500);
    cio_future_unref(slow);
    return NULL;
}

static void test_work_stealing(void **state) {
    (void)state;
    cio_executor *pool = cio_process_pool_new(2);
    assert_int_equal(cio_run(no_head_of_line, pool, NULL), 0);
    assert_int_equal(cio_executor_shutdown(pool, true, false), 0);
    cio_executor_free(pool);
    assert_int_equal(live_children(), 0);
}

/* ---- max_tasks_per_child: workers retire, nothing is lost ---- */

static void *retiring(void *arg) {
    cio_executor *pool = arg;
    enum { N = 40 };
    cio_future *fs[N];
    for (int i = 0; i < N; i++)
        fs[i] = cio_run_in_executor(pool, my_pid, NULL);
    pid_t seen[N];
    int count[N] = {0}, distinct = 0;
    for (int i = 0; i < N; i++) {
        void *r;
        assert_int_equal(cio_await(fs[i], &r), 0);
        int k = 0;
        while (k < distinct && seen[k] != (pid_t)(intptr_t)r)
            k++;
        if (k == distinct)
            seen[distinct++] = (pid_t)(intptr_t)r;
        assert_true(++count[k] <= 3);
        cio_future_unref(fs[i]);
    }
    assert_true(distinct >= (N + 2) / 3);
    return NULL;
}

/* A job cancelled while its worker held it still counts against that
 * worker's budget: the worker retires, and later jobs are not stranded. */
static void *retiring_with_cancel(void *arg) {
    cio_executor *pool = arg;
    _Atomic int *flag = cio_shm_alloc(sizeof *flag);
    atomic_init(flag, 0);
    cio_future *busy = cio_run_in_executor(pool, nap_ms, (void *)100);
    cio_future *held = cio_run_in_executor(pool, set_flag, (void *)flag);
    cio_sleep(0.03); /* both at the worker, the first running */
    assert_true(cio_cancel(held));
    assert_int_equal(cio_await(busy, NULL), 0);
    for (intptr_t i = 0; i < 3; i++) {
        void *r;
        cio_future *f = cio_run_in_executor(pool, plus_one, (void *)i);
        assert_int_equal(cio_wait_for(f, 10, &r), 0);
        assert_int_equal((intptr_t)r, i + 1);
        cio_future_unref(f);
    }
    assert_int_equal(atomic_load(flag), 0);
    cio_future_unref(busy);
    cio_future_unref(held);
    cio_shm_free((void *)flag);
    return NULL;
}

static void test_max_tasks_with_cancel(void **state) {
    (void)state;
    cio_process_pool_options opt = {.max_workers = 1, .max_tasks_per_child = 2};
    cio_executor *pool = cio_process_pool_new_with(&opt);
    assert_int_equal(cio_run(retiring_with_cancel, pool, NULL), 0);
    cio_executor_shutdown(pool, true, false);
    cio_executor_free(pool);
    assert_int_equal(live_children(), 0);
}

static void test_max_tasks_per_child(void **state) {
    (void)state;
    cio_process_pool_options opt = {.max_workers = 2, .max_tasks_per_child = 3};
    cio_executor *pool = cio_process_pool_new_with(&opt);
    assert_non_null(pool);
    assert_int_equal(cio_run(retiring, pool, NULL), 0);
    cio_executor_shutdown(pool, true, false);
    cio_executor_free(pool);
    assert_int_equal(live_children(), 0);
}

/* ---- an initializer that crashes: jobs fail, nothing hangs or spins ---- */

static void crashing_init(void *arg) {
    (void)arg;
    raise(SIGSEGV);
}

static void *doomed(void *arg) {
    cio_executor *pool = arg;
    cio_future *fs[3];
    for (int i = 0; i < 3; i++)
        fs[i] = cio_run_in_executor(pool, plus_one, (void *)1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cio_await(fs[i], NULL), CIO_EWORKER);
        cio_future_unref(fs[i]);
    }
    return NULL;
}

static void test_initializer_crashes(void **state) {
    (void)state;
    cio_process_pool_options opt = {.max_workers = 2, .initializer = crashing_init};
    cio_executor *pool = cio_process_pool_new_with(&opt);
    assert_non_null(pool);
    assert_int_equal(cio_run(doomed, pool, NULL), 0);
    cio_executor_shutdown(pool, true, false);
    cio_executor_free(pool);
    assert_int_equal(live_children(), 0);
}

/* ---- the loop goes on while the workers compute, and while it waits for
 *      a shutdown ---- */

static void *spin_ms(void *arg) {
    double end = (double)(intptr_t)arg / 1e3;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    volatile unsigned long x = 0;
    do {
        for (int i = 0; i < 10000; i++)
            x += (unsigned long)i;
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) * 1e-9 < end);
    (void)x;
    return arg;
}

static void *ticker(void *arg) {
    int *ticks = arg;
    for (;;) {
        if (cio_sleep(0.01) < 0)
            return NULL;
        (*ticks)++;
    }
}

static void *loop_goes_on(void *arg) {
    (void)arg;
    cio_executor *pool = cio_process_pool_new(2);
    int ticks = 0;
    cio_future *t = cio_create_task(ticker, &ticks);
    cio_future *a = cio_run_in_executor(pool, spin_ms, (void *)300);
    cio_future *b = cio_run_in_executor(pool, spin_ms, (void *)300);
    void *r;
    assert_int_equal(cio_await(a, &r), 0);
    assert_int_equal((intptr_t)r, 300);
    assert_true(ticks >= 3); /* 30 possible: the loop was not blocked */
    int before = ticks;
    cio_future *c = cio_run_in_executor(pool, nap_ms, (void *)1000);
    assert_int_equal(cio_executor_shutdown(pool, true, false), 0); /* waits in a task */
    assert_true(cio_future_done(b) && cio_future_done(c));
    assert_true(ticks - before >= 10); /* of ~100 (loose: 2 shared cores, sanitizers) */
    cio_cancel(t);
    cio_await(t, NULL);
    cio_future_unref(t);
    cio_future_unref(a);
    cio_future_unref(b);
    cio_future_unref(c);
    cio_executor_free(pool);
    return NULL;
}

static void test_loop_goes_on(void **state) {
    (void)state;
    assert_int_equal(cio_run(loop_goes_on, NULL, NULL), 0);
    assert_int_equal(live_children(), 0);
}

/* ---- a shutdown whose waiting task is cancelled ---- */

static void *shut_down_waiting(void *arg) {
    return (void *)(intptr_t)cio_executor_shutdown(arg, true, false);
}

static void *cancelled_shutdown(void *arg) {
    (void)arg;
    cio_executor *pool = cio_process_pool_new(1);
    cio_future *job = cio_run_in_executor(pool, nap_ms, (void *)300);
    cio_future *waiter = cio_create_task(shut_down_waiting, pool);
    cio_sleep(0.05);
    cio_cancel(waiter);
    void *r;
    assert_int_equal(cio_await(waiter, &r), 0);
    assert_int_equal((intptr_t)r, -ECANCELED);
    assert_int_equal(cio_await(job, &r), 0); /* the job still ends normally */
    assert_int_equal((intptr_t)r, 300);
    cio_future_unref(waiter);
    cio_future_unref(job);
    cio_executor_free(pool);
    return NULL;
}

static void test_cancelled_shutdown_wait(void **state) {
    (void)state;
    assert_int_equal(cio_run(cancelled_shutdown, NULL, NULL), 0);
    for (int i = 0; i < 500 && live_children() > 0; i++)
        nap_ms((void *)10);
    assert_int_equal(live_children(), 0);
}

/* ---- debug mode names the signal that killed a worker ---- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static bool saw_signal;

static void catch_log(int level, const char *msg, void *user) {
    (void)level, (void)user;
    pthread_mutex_lock(&log_mu); /* the pool's I/O thread logs */
    saw_signal |= strstr(msg, "signal 11") != NULL;
    pthread_mutex_unlock(&log_mu);
}

static void *crash_in_debug(void *arg) {
    (void)arg;
    cio_executor *pool = cio_process_pool_new(1); /* inherits the loop's debug mode */
    cio_future *f = cio_run_in_executor(pool, crash, NULL);
    assert_int_equal(cio_await(f, NULL), CIO_EWORKER);
    cio_future_unref(f);
    for (int i = 0; i < 200; i++) { /* the fork server reaps on its next beat */
        pthread_mutex_lock(&log_mu);
        bool seen = saw_signal;
        pthread_mutex_unlock(&log_mu);
        if (seen)
            break;
        cio_sleep(0.01);
    }
    cio_executor_shutdown(pool, true, false);
    cio_executor_free(pool);
    return NULL;
}

/* Every time, and before the job's future fails (issue 14 #14): the
 * program may well end right after the await. */
static void *crash_and_check_at_once(void *arg) {
    (void)arg;
    for (int round = 0; round < 20; round++) {
        pthread_mutex_lock(&log_mu);
        saw_signal = false;
        pthread_mutex_unlock(&log_mu);
        cio_executor *pool = cio_process_pool_new(1);
        assert_non_null(pool);
        cio_future *f = cio_run_in_executor(pool, crash, NULL);
        assert_int_equal(cio_await(f, NULL), CIO_EWORKER);
        cio_future_unref(f);
        pthread_mutex_lock(&log_mu);
        bool seen = saw_signal;
        pthread_mutex_unlock(&log_mu);
        if (!seen)
            fail_msg("round %d: no 'died from signal' line when the job failed", round);
        cio_executor_free(pool);
    }
    return NULL;
}

static void test_debug_signal_every_time(void **state) {
    (void)state;
    cio_set_log_handler(catch_log, NULL);
    cio_options opt = {.debug = 1};
    assert_int_equal(cio_run_with(&opt, crash_and_check_at_once, NULL, NULL), 0);
    cio_set_log_handler(NULL, NULL);
    for (int i = 0; i < 500 && live_children() > 0; i++)
        nap_ms((void *)10);
    assert_int_equal(live_children(), 0);
}

static void test_debug_names_signal(void **state) {
    (void)state;
    cio_set_log_handler(catch_log, NULL);
    cio_options opt = {.debug = 1};
    assert_int_equal(cio_run_with(&opt, crash_in_debug, NULL, NULL), 0);
    cio_set_log_handler(NULL, NULL);
    assert_true(saw_signal);
}

/* ---- a loop that closes with jobs in flight; a pool freed unwaited ---- */

static void *fire_and_forget(void *arg) {
    cio_executor *pool = arg;
    cio_future_unref(cio_run_in_executor(pool, nap_ms, (void *)100));
    cio_future *kept = cio_run_in_executor(pool, nap_ms, (void *)100);
    return kept; /* still referenced after the loop has closed */
}

static void test_loop_closes_first(void **state) {
    (void)state;
    cio_executor *pool = cio_process_pool_new(2);
    void *kept;
    assert_int_equal(cio_run(fire_and_forget, pool, &kept), 0);
    assert_int_equal(cio_executor_shutdown(pool, true, false), 0);
    assert_false(cio_future_done(kept)); /* its loop is gone: it stays pending */
    assert_true(cio_cancel(kept));       /* a late cancel finds no freed job */
    assert_true(cio_future_cancelled(kept));
    cio_future_unref(kept);
    cio_executor_free(pool);
    assert_int_equal(live_children(), 0);

    pool = cio_process_pool_new(2);
    assert_int_equal(cio_run(fire_and_forget, pool, &kept), 0);
    cio_executor_free(pool); /* no wait: the processes go in the background */
    cio_future_unref(kept);
    for (int i = 0; i < 500 && live_children() > 0; i++)
        nap_ms((void *)10);
    assert_int_equal(live_children(), 0);
}

static void *outside_loop(void *arg) {
    (void)arg;
    return NULL;
}

static void test_bad_input(void **state) {
    (void)state;
    cio_process_pool_options opt = {.max_workers = 100000};
    errno = 0;
    assert_null(cio_process_pool_new_with(&opt));
    assert_int_equal(errno, EINVAL);
    cio_executor *pool = cio_process_pool_new(1);
    errno = 0;
    assert_null(cio_run_in_executor(pool, outside_loop, NULL)); /* no running loop */
    assert_int_equal(errno, EPERM);
    cio_executor_free(pool);
}

/* ---- no descriptor stays open once the pool is gone ---- */

static int open_fds(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void test_no_fd_left(void **state) {
    (void)state;
    int before = open_fds();
    cio_executor *pool = cio_process_pool_new(2);
    assert_int_equal(cio_run(crashes, pool, NULL), 0); /* replacements included */
    assert_int_equal(cio_executor_shutdown(pool, true, false), 0);
    cio_executor_free(pool);
    assert_int_equal(open_fds(), before);
}

/* ---- a parent that dies abruptly leaves no worker running ---- */

#if defined(__SANITIZE_THREAD__)
#define TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#endif
#endif
#ifndef TSAN_BUILD
#define TSAN_BUILD 0
#endif

static bool process_gone(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    bool zombie = false;
    if (fgets(buf, sizeof buf, f)) {
        char *paren = strrchr(buf, ')');
        zombie = paren && paren[1] == ' ' && paren[2] == 'Z';
    }
    fclose(f);
    return zombie;
}

static void *parent_crashes(void *arg) {
    mid_job *m = arg;
    cio_executor *pool = cio_process_pool_new(1);
    cio_future *f = cio_run_in_executor(pool, report_and_nap, m);
    while (!atomic_load(&m->pid))
        cio_sleep(0.005);
    _exit(0); /* no shutdown, no free: as if it had crashed */
    return f;
}

static void test_parent_dies(void **state) {
    (void)state;
#if TSAN_BUILD
    /* The "parent" here is a fork of this multi-threaded test process that
     * then starts the pool's thread: TSan does not support threads started
     * after a multi-threaded fork (die_after_fork). The pool itself never
     * does that (its fork server is single-threaded). */
    skip();
#endif
    mid_job *m = cio_shm_alloc(sizeof *m); /* the region exists before the fork below */
    atomic_init(&m->pid, 0);
    pid_t parent = fork();
    if (parent == 0)
        cio_run(parent_crashes, m, NULL);
    assert_int_equal(waitpid(parent, NULL, 0), parent);
    pid_t worker = atomic_load(&m->pid);
    assert_true(worker > 0);
    for (int i = 0; i < 300 && !process_gone(worker); i++)
        nap_ms((void *)10);
    assert_true(process_gone(worker)); /* well before its 5 s job would have ended */
    cio_shm_free(m);
}

/* ---- a job can fail (issue 14 #10) ---- */

static void *fails_eio(void *arg) {
    (void)arg;
    return cio_fail(-EIO);
}

static void *returns_null(void *arg) {
    (void)arg;
    return NULL;
}

static void *failing_jobs(void *arg) {
    cio_executor *pool = arg;
    for (int round = 0; round < 20; round++) {
        cio_future *bad = cio_run_in_executor(pool, fails_eio, NULL);
        cio_future *ok = cio_run_in_executor(pool, returns_null, NULL);
        void *r = (void *)1;
        assert_int_equal(cio_await(bad, &r), -EIO);
        assert_int_equal(cio_await(ok, &r), 0);
        assert_null(r);
        cio_future_unref(bad), cio_future_unref(ok);
    }
    return NULL;
}

static void test_job_can_fail(void **state) {
    (void)state;
    cio_executor *pool = cio_process_pool_new(1);
    assert_non_null(pool);
    assert_int_equal(cio_run(failing_jobs, pool, NULL), 0);
    assert_int_equal(cio_executor_shutdown(pool, true, false), 0);
    cio_executor_free(pool);
}

/* ---- a worker starts clean, also when the pool is made in a task (issue 14 #1) ---- */

static void *inner_main(void *arg) {
    if (cio_sleep(0.001) < 0)
        return cio_fail(-EIO);
    return (void *)((intptr_t)arg * 2);
}

/* In the worker: no loop, no task; a loop of its own runs and returns. */
static void *own_loop_job(void *arg) {
    if (cio_get_running_loop() || cio_current_task())
        return (void *)(intptr_t)-1;
    void *r = NULL;
    int e = cio_run(inner_main, arg, &r);
    if (e < 0)
        return (void *)(intptr_t)e;
    if (cio_get_running_loop())
        return (void *)(intptr_t)-2;
    return r;
}

/* Ordinary C in a job: a big local buffer (the worker is not on a task's stack). */
static void *big_locals(void *arg) {
    volatile char buf[512 * 1024];
    for (size_t i = 0; i < sizeof buf; i += 4096)
        buf[i] = (char)i;
    return (void *)((intptr_t)arg + buf[4096] - (char)4096);
}

static void *pool_in_task(void *arg) {
    (void)arg;
    cio_executor *pool = cio_process_pool_new(2);
    assert_non_null(pool);
    for (intptr_t i = 1; i <= 30; i++) {
        cio_future *f = cio_run_in_executor(pool, own_loop_job, (void *)i);
        void *r;
        assert_int_equal(cio_await(f, &r), 0);
        assert_int_equal((intptr_t)r, 2 * i);
        cio_future_unref(f);
    }
    cio_future *f = cio_run_in_executor(pool, big_locals, (void *)7);
    void *r;
    assert_int_equal(cio_await(f, &r), 0);
    assert_int_equal((intptr_t)r, 7);
    cio_future_unref(f);
    f = cio_run_in_executor(pool, fails_eio, NULL); /* cio_fail finds no task of the parent's */
    assert_int_equal(cio_await(f, NULL), -EIO);
    cio_future_unref(f);
    assert_int_equal(cio_executor_shutdown(pool, true, false), 0);
    cio_executor_free(pool);
    return (void *)1;
}

static void test_worker_starts_clean(void **state) {
    (void)state;
    void *r;
    assert_int_equal(cio_run(pool_in_task, NULL, &r), 0);
    assert_ptr_equal(r, (void *)1);
    assert_int_equal(live_children(), 0);
}

/* ---- without pidfd_open (old kernels, Valgrind); SIGTERM (issue 14 #13) ---- */

void cio__fork_server_no_pidfd(bool on); /* executors/fork_server.h: the fallback, forced */

static int pidfds_open(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[300], target[64];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t k = readlink(path, target, sizeof target - 1);
        if (k > 0) {
            target[k] = '\0';
            n += strstr(target, "pidfd") != NULL;
        }
    }
    closedir(d);
    return n;
}

static void *pool_without_pidfd(void *arg) {
    cio_executor *pool = arg;
    cio_future *bad = cio_run_in_executor(pool, crash, NULL);
    assert_int_equal(cio_await(bad, NULL), CIO_EWORKER);
    cio_future_unref(bad);
    for (int round = 0; round < 3; round++) { /* a running job cancelled: the server kills it */
        cio_future *slow = cio_run_in_executor(pool, nap_ms, (void *)20000);
        cio_sleep(0.05);
        assert_true(cio_cancel(slow));
        assert_int_equal(cio_await(slow, NULL), -ECANCELED);
        cio_future_unref(slow);
    }
    cio_future *fs[16];
    for (intptr_t i = 0; i < 16; i++)
        fs[i] = cio_run_in_executor(pool, plus_one, (void *)i);
    for (intptr_t i = 0; i < 16; i++) {
        void *r;
        assert_int_equal(cio_await(fs[i], &r), 0);
        assert_int_equal((intptr_t)r, i + 1);
        cio_future_unref(fs[i]);
    }
    /* shutdown(wait) returns: the 20 s jobs' workers really were killed */
    assert_int_equal(cio_executor_shutdown(pool, true, false), 0);
    return NULL;
}

static void test_without_pidfd(void **state) {
    (void)state;
    cio__fork_server_no_pidfd(true);
    int before = pidfds_open();
    cio_executor *pool = cio_process_pool_new(2);
    assert_non_null(pool);
    assert_int_equal(pidfds_open(), before); /* really the fallback */
    assert_int_equal(cio_run(pool_without_pidfd, pool, NULL), 0);
    cio_executor_free(pool);
    cio__fork_server_no_pidfd(false);
    assert_int_equal(live_children(), 0);
}

static void *pool_until_term(void *arg) {
    int ready = (int)(intptr_t)arg;
    cio_executor *pool = cio_process_pool_new(2);
    cio_future *f = cio_run_in_executor(pool, nap_ms, (void *)20000);
    cio_sleep(0.05);
    if (write(ready, "x", 1) != 1)
        return NULL;
    cio_await(f, NULL); /* SIGTERM ends the process here */
    return NULL;
}

/* A program using a pool dies of SIGTERM as any program does, in both modes. */
static void test_sigterm_kills(void **state) {
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        int ready[2];
        assert_int_equal(pipe(ready), 0);
        pid_t pid = fork();
        if (pid == 0) {
            cio__fork_server_no_pidfd(mode == 1);
            cio_run(pool_until_term, (void *)(intptr_t)ready[1], NULL);
            _exit(3);
        }
        char c;
        assert_int_equal(read(ready[0], &c, 1), 1);
        kill(pid, SIGTERM);
        int st = 0;
        pid_t got = 0;
        for (int i = 0; i < 1000 && (got = waitpid(pid, &st, WNOHANG)) == 0; i++)
            nap_ms((void *)10);
        if (got == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fail_msg("mode %d: SIGTERM was ignored", mode);
        }
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
        close(ready[0]);
        close(ready[1]);
    }
}

/* ---- the pool waits with a thread of its own, not the default pool (issue 15 #1) ---- */

static void *shutdown_waits_alone(void *arg) {
    (void)arg;
    cio_executor *pool = cio_process_pool_new(1);
    cio_future *f = cio_run_in_executor(pool, nap_ms, (void *)50);
    assert_int_equal(cio_executor_shutdown(pool, true, false), 0);
    assert_true(cio_future_done(f)); /* waited for */
    assert_int_equal(cio_await(f, NULL), 0);
    cio_future_unref(f);
    assert_null(cio__loop_slot(cio_get_running_loop(), CIO__SLOT_EXECUTOR));
    cio_executor_free(pool);
    return NULL;
}

static void test_no_default_pool_used(void **state) {
    (void)state;
    assert_int_equal(cio_run(shutdown_waits_alone, NULL, NULL), 0);
    assert_int_equal(live_children(), 0);
}

/* ---- bytes jobs ---- */

static ssize_t bj_crash(const void *in, size_t n, void *out, size_t cap) {
    (void)in, (void)n, (void)out, (void)cap;
    raise(SIGSEGV);
    return 0;
}

/* The worker's pid, as 8 bytes. */
static ssize_t bj_pid(const void *in, size_t n, void *out, size_t cap) {
    (void)in, (void)n;
    int64_t pid = getpid();
    if (cap < sizeof pid)
        return -ENOSPC;
    memcpy(out, &pid, sizeof pid);
    return sizeof pid;
}

static void *bytes_in_pool(void *arg) {
    cio_executor *pool = arg;
    bytes_jobs_check(pool);
    cio_future *f = cio_run_in_executor_bytes(pool, bj_pid, NULL, 0, 8);
    const void *data;
    size_t len;
    assert_int_equal(cio_await(f, NULL), 0);
    assert_int_equal(cio_future_bytes(f, &data, &len), 0);
    assert_true(cio__shm_contains(data)); /* written in place by the worker */
    int64_t pid;
    memcpy(&pid, data, sizeof pid);
    assert_int_not_equal(pid, getpid());
    cio_future_unref(f);
    /* a crash fails its job only; a cancelled queued one never runs */
    cio_future *bad = cio_run_in_executor_bytes(pool, bj_crash, "x", 1, 1);
    cio_future *good = cio_run_in_executor_bytes(pool, bj_reverse, "abc", 3, 3);
    assert_int_equal(cio_await(bad, NULL), CIO_EWORKER);
    assert_int_equal(cio_await(good, NULL), 0);
    assert_int_equal(cio_future_bytes(good, &data, &len), 0);
    assert_memory_equal(data, "cba", 3);
    cio_future_unref(bad), cio_future_unref(good);
    cio_future *slow[4];
    for (int i = 0; i < 4; i++)
        slow[i] = cio_run_in_executor_bytes(pool, bj_slow_count, "abcd", 4, 4);
    assert_true(cio_cancel(slow[3]));
    assert_true(cio_cancel(slow[0]));
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cio_await(slow[i], NULL), i == 0 || i == 3 ? -ECANCELED : 0);
        cio_future_unref(slow[i]);
    }
    return NULL;
}

static void test_bytes_jobs(void **state) {
    (void)state;
    cio_executor *pool = cio_process_pool_new(2);
    assert_non_null(pool);
    assert_int_equal(cio_run(bytes_in_pool, pool, NULL), 0);
    assert_int_equal(cio_executor_shutdown(pool, true, false), 0);
    cio_executor_free(pool);
    assert_int_equal(live_children(), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_fd_left), /* first: no earlier pool winds down meanwhile */
        cmocka_unit_test(test_results_and_shm),
        cmocka_unit_test(test_bytes_jobs),
        cmocka_unit_test(test_job_can_fail),
        cmocka_unit_test(test_worker_starts_clean),
        cmocka_unit_test(test_without_pidfd),
        cmocka_unit_test(test_sigterm_kills),
        cmocka_unit_test(test_no_default_pool_used),
        cmocka_unit_test(test_crash_and_cancel_running),
        cmocka_unit_test(test_queued_cancel_and_shutdown),
        cmocka_unit_test(test_random_sigkills),
        cmocka_unit_test(test_initializer),
        cmocka_unit_test(test_sigkill_mid_job),
        cmocka_unit_test(test_cancelled_queued_never_run),
        cmocka_unit_test(test_work_stealing),
        cmocka_unit_test(test_max_tasks_per_child),
        cmocka_unit_test(test_max_tasks_with_cancel),
        cmocka_unit_test(test_initializer_crashes),
        cmocka_unit_test(test_loop_goes_on),
        cmocka_unit_test(test_cancelled_shutdown_wait),
        cmocka_unit_test(test_debug_names_signal),
        cmocka_unit_test(test_debug_signal_every_time),
        cmocka_unit_test(test_loop_closes_first),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_parent_dies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
