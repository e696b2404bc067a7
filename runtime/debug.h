/* Logging and debug-mode helpers. */
#ifndef CIO_DEBUG_H
#define CIO_DEBUG_H

#include "cio.h"

/* Log only when the loop is in debug mode. */
#define CIO__DEBUG(loop, ...)                                                                      \
    do {                                                                                           \
        if ((loop) && (loop)->debug)                                                               \
            cio_log(CIO_LOG_WARNING, __VA_ARGS__);                                                 \
    } while (0)

/* Monotonic seconds. */
double cio__now(void);
/* Installs the stack-overflow reporter (debug mode; idempotent per thread). */
void cio__debug_install_overflow_handler(void);
/* Whether env CIO_DEBUG=1. */
int cio__env_debug(void);
/* cio-curl registers the names of CIO_ECURL - CURLcode for cio_strerror.
 * Exported for the optional module, not public API. */
CIO_API void cio__set_curl_strerror(const char *(*namer)(int code));

struct cio__task;
/* Room for a default task name: "Task-N (function)", cut to fit. */
#define CIO__TASK_NAME_MAX 128
/* Writes t's default name into buf (task.c); returns its length. No
 * allocation: the overflow reporter's signal handler uses it. */
size_t cio__task_default_name(const struct cio__task *t, char *buf, size_t cap);
/* Makes sure this thread reports a task's stack overflow by name (the
 * handler and an alternate signal stack); cheap after the first call. */
void cio__debug_overflow_reporter(void);
/* Installs the handler if another replaced it; whether a SIGSEGV now reaches
 * it (stack trimming depends on that). */
bool cio__debug_segv_hooked(void);

#endif
