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

#endif
