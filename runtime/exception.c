/* The loop's exception handler (asyncio's loop.set_exception_handler): the
 * runtime hands what went wrong unseen (an error nobody read, a task that
 * never finished) to a function of the user's as a struct; the default
 * handler logs the lines cio always logged. */
#include "exception.h"

#include "debug.h"
#include "loop.h"

#include <stdio.h>

void cio_loop_set_exception_handler(cio_loop *loop, cio_exception_handler fn, void *arg) {
    if (!loop)
        return;
    loop->exc_handler = fn;
    loop->exc_arg = fn ? arg : NULL;
}

cio_exception_handler cio_loop_exception_handler(const cio_loop *loop, void **arg) {
    if (arg)
        *arg = loop ? loop->exc_arg : NULL;
    return loop ? loop->exc_handler : NULL;
}

/* Kinds the runtime reports with a line of its own (unchanged wording). */
static bool known_line(cio_loop *loop, const cio_exception_context *c) {
    const char *err = cio_strerror(c->error);
    switch (c->kind) {
    case CIO_EXC_NEVER_RETRIEVED:
        if (c->task_name)
            cio_log(CIO_LOG_ERROR, "Task exception was never retrieved: task '%s' failed: %s",
                    c->task_name, err);
        else
            cio_log(CIO_LOG_ERROR, "Future exception was never retrieved: future %p failed: %s",
                    (void *)c->future, err);
        return true;
    case CIO_EXC_PENDING_TASK:
        CIO__DEBUG(loop, "Task was destroyed but it is pending! task '%s'", c->task_name);
        return true;
    case CIO_EXC_SHUTDOWN:
        cio_log(CIO_LOG_ERROR, "unhandled error in task '%s' during shutdown: %s", c->task_name,
                err);
        return true;
    default:
        return false;
    }
}

/* Anything else: the message, then what it is about, then the error. */
static void generic_line(const cio_exception_context *c) {
    char about[160] = "";
    if (c->task_name)
        snprintf(about, sizeof about, ": task '%s'", c->task_name);
    else if (c->future)
        snprintf(about, sizeof about, ": future %p", (void *)c->future);
    char cb[64] = "";
    if (c->callback) {
        union {
            cio_cb fn;
            void *p;
        } u = {.fn = c->callback};
        snprintf(cb, sizeof cb, "%s callback %p(%p)", about[0] ? "," : ":", u.p, c->callback_arg);
    }
    cio_log(CIO_LOG_ERROR, "%s%s%s%s%s", c->message ? c->message : "unknown exception", about, cb,
            c->error ? ": " : "", c->error ? cio_strerror(c->error) : "");
}

void cio_loop_default_exception_handler(cio_loop *loop, const cio_exception_context *ctx) {
    if (!ctx)
        return;
    if (!known_line(loop, ctx))
        generic_line(ctx);
}

void cio_loop_call_exception_handler(cio_loop *loop, const cio_exception_context *ctx) {
    if (!ctx)
        return;
    if (!loop)
        loop = cio_get_running_loop();
    if (loop && loop->exc_handler)
        loop->exc_handler(loop, ctx, loop->exc_arg);
    else
        cio_loop_default_exception_handler(loop, ctx);
}

void cio__report_exception(cio_loop *loop, cio_exception_kind kind, const char *message, int err,
                           cio_future *f, cio_cb cb, void *cb_arg) {
    if (kind == CIO_EXC_PENDING_TASK && !loop->exc_handler && !loop->debug)
        return; /* the default is silent: spare the name's symbol lookup at close */
    cio_exception_context c = {
        .kind = kind,
        .message = message,
        .error = err,
        .future = f,
        .task_name = cio_task_name(f),
        .callback = cb,
        .callback_arg = cb_arg,
    };
    cio_loop_call_exception_handler(loop, &c);
}
