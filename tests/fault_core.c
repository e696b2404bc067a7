/* Fault injection over the core (built only by `make fault`, with
 * -DCIO_FAULT_INJECTION, under ASan): allocation, SQE acquisition, stack
 * mappings and thread creation fail at random while tasks sleep, yield,
 * await, call back and use the thread pool. Every call must then return a
 * clean error, cio_run must return, every future must end, and ASan must
 * find no leak. */
#include "fault.h"

#include <cio.h>

#include "stress.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define TASKS 400

typedef struct tally {
    long ok, errors, callbacks;
    cio_future *fs[TASKS];
    int nfs;
} tally;

static void *plus_one(void *arg) {
    return (void *)((intptr_t)arg + 1);
}

static void count_cb(void *arg) {
    ((tally *)arg)->callbacks++;
}

/* Each step is an API call whose failure must be an ordinary error. */
static void *worker(void *arg) {
    tally *t = arg;
    intptr_t id = (intptr_t)cio_current_task() & 0xff;
    for (int i = 0; i < 5; i++) {
        int r;
        switch ((id + i) % 5) {
        case 0:
            r = cio_sleep(0.001);
            break;
        case 1:
            r = cio_yield();
            break;
        case 2: {
            void *v;
            r = cio_to_thread(plus_one, (void *)41, &v);
            CHECK(r < 0 || (intptr_t)v == 42);
            break;
        }
        case 3: {
            cio_future *f = cio_future_new();
            r = f ? 0 : -errno;
            if (f) {
                cio_call_soon(count_cb, t);
                CHECK(cio_future_set_result(f, (void *)7) == 0);
                void *v;
                r = cio_await(f, &v);
                CHECK(r < 0 || v == (void *)7);
                cio_future_unref(f);
            }
            break;
        }
        default: {
            cio_handle h = cio_call_later(0.0005, count_cb, t);
            r = h.p ? cio_sleep(0.001) : -ENOMEM;
        }
        }
        CHECK(r <= 0);
        if (r == 0)
            t->ok++;
        else
            t->errors++;
    }
    return NULL;
}

static void *spawner(void *arg) {
    tally *t = arg;
    for (int i = 0; i < TASKS; i++) {
        cio_future *f = cio_create_task(worker, t);
        if (!f) {
            CHECK(errno == ENOMEM);
            t->errors++;
            continue;
        }
        t->fs[t->nfs++] = f;
    }
    for (int i = 0; i < t->nfs; i++) {
        int r = cio_await(t->fs[i], NULL);
        CHECK(r <= 0);
    }
    return NULL;
}

/* The process pool with forks failing at random: creation fails cleanly
 * or the pool works; every job ends with its result or an error. */
static void *pool_jobs(void *arg) {
    cio_executor *pool = arg;
    enum { N = 200 };
    cio_future *fs[N];
    int n = 0, ok = 0;
    for (intptr_t i = 0; i < N; i++)
        if ((fs[n] = cio_run_in_executor(pool, plus_one, (void *)i)))
            n++;
    for (int i = 0; i < n; i++) {
        void *v;
        int r = cio_await(fs[i], &v);
        CHECK(r <= 0);
        ok += r == 0;
        CHECK(cio_future_done(fs[i]));
        cio_future_unref(fs[i]);
    }
    return (void *)(intptr_t)ok;
}

static void fault_process_pool(void) {
    int made = 0, failed = 0;
    long jobs_ok = 0;
    for (unsigned long seed = 1; seed <= 6; seed++) {
        cio__fault_set(CIO__FAULT_FORK, 0.3, seed);
        cio_executor *pool = cio_process_pool_new(2);
        if (!pool) {
            CHECK(errno != 0);
            failed++;
            continue;
        }
        made++;
        void *ok;
        CHECK(cio_run(pool_jobs, pool, &ok) <= 0);
        jobs_ok += (intptr_t)ok;
        cio_executor_shutdown(pool, true, false);
        cio_executor_free(pool);
    }
    cio__fault_set(CIO__FAULT_FORK, 0, 0);
    printf("fault_core: process pools under fork failures: %d made, %d refused cleanly, "
           "%ld jobs done\n",
           made, failed, jobs_ok);
}

int main(void) {
    long runs_ok = 0, runs_failed = 0, ok = 0, errors = 0;
    for (unsigned long seed = 1; seed <= 30; seed++) {
        /* The last runs starve the ring: the wakeup and cancels must retry. */
        cio__fault_set(CIO__FAULT_ALLOC, 0.01, seed);
        cio__fault_set(CIO__FAULT_SQE, seed > 25 ? 0.5 : 0.03, 0);
        cio__fault_set(CIO__FAULT_STACK, 0.02, 0);
        cio__fault_set(CIO__FAULT_THREAD, 0.3, 0);
        tally t = {0};
        int r = cio_run(spawner, &t, NULL);
        CHECK(r <= 0);
        if (r == 0)
            runs_ok++;
        else
            runs_failed++;
        /* cio_run has closed the loop: whatever was left ended, cancelled. */
        for (int i = 0; i < t.nfs; i++) {
            CHECK(cio_future_done(t.fs[i]));
            cio_future_unref(t.fs[i]);
        }
        ok += t.ok;
        errors += t.errors;
    }
    for (int p = 0; p < CIO__FAULT_POINTS; p++)
        cio__fault_set(p, 0, 0);
    printf("fault_core: 30 runs (%ld returned 0, %ld an error); %ld calls succeeded, %ld failed "
           "cleanly; injected: alloc %lu, sqe %lu, stack %lu, thread %lu\n",
           runs_ok, runs_failed, ok, errors, cio__fault_count(CIO__FAULT_ALLOC),
           cio__fault_count(CIO__FAULT_SQE), cio__fault_count(CIO__FAULT_STACK),
           cio__fault_count(CIO__FAULT_THREAD));
    CHECK(errors > 0 && ok > 0); /* faults really happened, and work really ran */
    fault_process_pool();
    return 0;
}
