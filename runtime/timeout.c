/* Timeout scopes (asyncio.timeout / timeout_at): the deadline cancels the
 * task; the scope's exit tells its own cancellation apart from everybody
 * else's by the task's count of cancellation requests, as asyncio 3.11+
 * does, which is what makes nested scopes and TaskGroups compose. */
#include "loop.h"
#include "timearg.h"
#include "task.h"

#include "cio.h"

#include <errno.h>

enum { T_ENTERED = 1, T_EXPIRING, T_EXPIRED, T_EXITED };

static void timeout_fire(void *arg) {
    cio_timeout *s = arg;
    s->timer = (cio_handle){0};
    if (s->state != T_ENTERED)
        return;
    s->state = T_EXPIRING;
    cio_cancel(s->task);
}

static int arm(cio_timeout *s, double when) {
    cio_handle_cancel(s->timer);
    s->timer = (cio_handle){0};
    s->when = cio__time_unlimited(when) ? -1 : when;
    if (s->when < 0)
        return 0;
    s->timer = cio_loop_call_at(cio_future_loop(s->task), when, timeout_fire, s);
    return s->timer.p ? 0 : -ENOMEM;
}

int cio_timeout_enter_at(cio_timeout *scope, double when) {
    int r = cio__task_require(__func__);
    if (r < 0)
        return r;
    if (!scope || cio__time_nan(when))
        return -EINVAL;
    cio_future *task = cio_current_task();
    *scope = (cio_timeout){.task = task, .state = T_ENTERED};
    scope->cancelling = cio_task_cancelling(task);
    r = arm(scope, when);
    if (r < 0)
        scope->state = T_EXITED;
    return r;
}

int cio_timeout_enter(cio_timeout *scope, double delay) {
    cio_loop *loop = cio_get_running_loop();
    if (!loop || cio__time_nan(delay) || cio__time_unlimited(delay))
        return cio_timeout_enter_at(scope, delay); /* NaN gets its -EINVAL there */
    return cio_timeout_enter_at(scope, cio_loop_time(loop) + delay);
}

int cio_timeout_reschedule(cio_timeout *scope, double when) {
    if (!scope || scope->state != T_ENTERED || cio__time_nan(when))
        return -EINVAL;
    return arm(scope, when);
}

double cio_timeout_when(const cio_timeout *scope) {
    return scope ? scope->when : -1;
}

bool cio_timeout_expired(const cio_timeout *scope) {
    return scope && (scope->state == T_EXPIRING || scope->state == T_EXPIRED);
}

int cio_timeout_exit(cio_timeout *scope, int err) {
    if (!scope || scope->task != cio_current_task())
        return -EINVAL;
    if (scope->state == T_ENTERED) {
        cio_handle_cancel(scope->timer);
        scope->timer = (cio_handle){0};
        scope->state = T_EXITED;
        return err;
    }
    if (scope->state != T_EXPIRING)
        return -EINVAL;
    scope->state = T_EXPIRED;
    /* Taking our request back rescinds it if it was not delivered yet. */
    if (cio_task_uncancel(scope->task) <= scope->cancelling && err == -ECANCELED)
        return -ETIMEDOUT;
    return err;
}
