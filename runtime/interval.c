/* Interval (Tokio's interval): ticks on a fixed schedule start + k * period,
 * computed from k rather than accumulated, so the schedule does not drift
 * however late the task wakes. When ticks were missed (the task was busy
 * for longer than a period) the policy decides what comes next. */
#include "cio.h"

#include <errno.h>

#include <stdlib.h>

struct cio_interval {
    double start, period;
    uint64_t k; /* the next tick is start + k * period */
    int policy;
};

cio_interval *cio_interval_new(double period, int policy) {
    cio_loop *loop = cio_get_running_loop();
    if (!loop) {
        errno = EPERM;
        return NULL;
    }
    if (!(period > 0 && period < 1e18) || policy < CIO_TICK_BURST || policy > CIO_TICK_SKIP) {
        errno = EINVAL;
        return NULL;
    }
    cio_interval *iv = malloc(sizeof *iv);
    if (!iv)
        return NULL;
    *iv = (cio_interval){.start = cio_loop_time(loop), .period = period, .policy = policy};
    return iv;
}

static double deadline(const cio_interval *iv) {
    return iv->start + (double)iv->k * iv->period;
}

int cio_interval_tick(cio_interval *iv, double *scheduled) {
    if (!iv)
        return -EINVAL;
    cio_loop *loop = cio_get_running_loop();
    if (!loop || !cio_current_task())
        return -EPERM;
    double when = deadline(iv);
    double now = cio_loop_time(loop);
    int r = when > now ? cio_sleep(when - now) : cio_yield();
    if (r < 0)
        return r; /* this tick is still due: the next call returns it */
    if (scheduled)
        *scheduled = when;
    now = cio_loop_time(loop);
    iv->k++;
    if (deadline(iv) <= now) { /* missed ticks */
        if (iv->policy == CIO_TICK_DELAY) {
            iv->start = now;
            iv->k = 1;
        } else if (iv->policy == CIO_TICK_SKIP) {
            iv->k = (uint64_t)((now - iv->start) / iv->period) + 1; /* >= 0: truncation floors */
        }
    }
    return 0;
}

void cio_interval_reset(cio_interval *iv) {
    cio_loop *loop = cio_get_running_loop();
    if (!iv || !loop)
        return;
    iv->start = cio_loop_time(loop);
    iv->k = 1;
}

double cio_interval_period(const cio_interval *iv) {
    return iv ? iv->period : 0;
}

void cio_interval_free(cio_interval *iv) {
    free(iv);
}
