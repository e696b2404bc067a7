/* Stress for the core: tasks churned through create / await / cancel in
 * random orders, timers with random cancels, memory steady across cycles.
 * Prints what it did and its figures; exits non-zero on any wrong outcome.
 * CIO_STRESS_SHORT=1 runs a tenth of the counts (CI, sanitizers). */
#include <cio.h>

#include "stress.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static long scale = 1;

static double now(void) {
    return stress_now();
}

static long rss_kib(void) {
    return stress_rss_kib();
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ---- tasks ---- */

typedef struct churn_stats {
    long ok, cancelled, failed;
} churn_stats;

static void *body(void *arg) {
    intptr_t kind = (intptr_t)arg;
    switch (kind % 4) {
    case 0:
        return arg; /* returns at once */
    case 1:
        if (cio_yield() < 0)
            return cio_fail(-ECANCELED);
        return arg;
    case 2:
        if (cio_sleep(0.0005) < 0)
            return cio_fail(-ECANCELED);
        return arg;
    default:
        cio_yield();
        return cio_fail(-EIO);
    }
}

static void *churn(void *arg) {
    churn_stats *st = arg;
    enum { WINDOW = 2000 };
    cio_future *live[WINDOW] = {0};
    intptr_t kinds[WINDOW];
    long total = 1000000 / scale;
    for (long i = 0; i < total + WINDOW; i++) {
        size_t slot = (size_t)(i % WINDOW);
        cio_future *f = live[slot];
        if (f) {
            if (next_rand() % 3 == 0)
                cio_cancel(f);
            void *r = NULL;
            int e = cio_await(f, &r);
            if (e == 0) {
                CHECK(r == (void *)kinds[slot]);
                st->ok++;
            } else if (e == -ECANCELED) {
                CHECK(cio_future_cancelled(f));
                st->cancelled++;
            } else {
                CHECK(e == -EIO && kinds[slot] % 4 == 3);
                st->failed++;
            }
            cio_future_unref(f);
            live[slot] = NULL;
        }
        if (i < total) {
            kinds[slot] = (intptr_t)(next_rand() % 1000);
            live[slot] = cio_create_task(body, (void *)kinds[slot]);
            CHECK(live[slot] != NULL);
            if (next_rand() % 8 == 0)
                cio_cancel(live[slot]); /* before it starts: never runs */
        }
        if (next_rand() % 64 == 0)
            cio_yield();
    }
    return NULL;
}

static void stress_tasks(void) {
    long rss_first = 0;
    for (int cycle = 0; cycle < 10; cycle++) {
        churn_stats st = {0};
        double t0 = now();
        CHECK(cio_run(churn, &st, NULL) == 0);
        double dt = now() - t0;
        long n = st.ok + st.cancelled + st.failed;
        CHECK(n == 1000000 / scale);
        if (cycle == 0) {
            rss_first = rss_kib();
            printf(
                "tasks: %ld churned (%ld ok, %ld cancelled, %ld failed) in %.2f s: %.0f tasks/s\n",
                n, st.ok, st.cancelled, st.failed, dt, (double)n / dt);
        }
    }
    long rss_last = rss_kib();
    printf("tasks: RSS after cycle 1 %ld KiB, after cycle 10 %ld KiB\n", rss_first, rss_last);
    CHECK(rss_last <= rss_first + rss_first / 20 + 256);
}

/* ---- timers ---- */

typedef struct timer_state {
    long fired, expected;
    cio_loop *loop;
} timer_state;

static void fire(void *arg) {
    timer_state *s = arg;
    if (++s->fired == s->expected)
        cio_loop_stop(s->loop);
}

static void stress_timers(void) {
    long n = 1000000 / scale;
    cio_loop *loop = cio_loop_new(NULL);
    CHECK(loop);
    timer_state s = {.loop = loop};
    cio_handle *hs = malloc((size_t)n * sizeof *hs);
    double t0 = now(), base = cio_loop_time(loop);
    for (long i = 0; i < n; i++)
        hs[i] = cio_loop_call_at(loop, base + (double)(next_rand() % 200) * 1e-3, fire, &s);
    long cancelled = 0;
    for (long i = 0; i < n; i++)
        if (next_rand() % 4 == 0 && cio_handle_cancel(hs[(long)(next_rand() % (uint64_t)n)]))
            cancelled++;
    s.expected = n - cancelled;
    CHECK(cio_loop_run_forever(loop) == 0);
    double dt = now() - t0;
    CHECK(s.fired == s.expected);
    cio_loop_close(loop);
    free(hs);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf(
        "timers: %ld scheduled, %ld cancelled at random, %ld fired in %.2f s; peak RSS %ld KiB\n",
        n, cancelled, s.fired, dt, ru.ru_maxrss);
}

int main(void) {
    const char *s = getenv("CIO_STRESS_SHORT");
    if (s && *s == '1')
        scale = 10;
    stress_tasks();
    stress_timers();
    printf("stress_core: ok\n");
    return 0;
}
