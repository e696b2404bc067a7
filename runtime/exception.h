/* The loop's exception handler: the runtime's reports. */
#ifndef CIO_EXCEPTION_H
#define CIO_EXCEPTION_H

#include "cio.h"

/* Fills a cio_exception_context and calls loop's handler (the default when
 * none is set). f may be NULL; cb NULL when no callback is involved. */
void cio__report_exception(cio_loop *loop, cio_exception_kind kind, const char *message, int err,
                           cio_future *f, cio_cb cb, void *cb_arg);

#endif
