/* Objects that belong to one loop (streams): debug mode names the misuse when
 * a task of another loop touches them. */
#ifndef CIO_OWNER_H
#define CIO_OWNER_H

#include "cio.h"

/* Debug mode (of either loop): aborts with a message when the loop running
 * on this thread is not owner (NULL owner: not bound yet, nothing to check). */
void cio__loop_check_owner(const cio_loop *owner, const char *fn);

#endif
