/* Multishot accept for servers (see acceptor.c). Loop thread only. */
#ifndef CIO_ACCEPTOR_H
#define CIO_ACCEPTOR_H

#include "task.h"

typedef struct cio__acceptor cio__acceptor;

/* Accepts on the listening socket lfd (which the caller keeps and closes
 * after cio__acceptor_free). NULL on ENOMEM. */
cio__acceptor *cio__acceptor_new(cio_loop *loop, int lfd);
/* In a task: the next accepted fd (close-on-exec), or a negative errno
 * (EMFILE and the like once each, -ECANCELED). */
int cio__acceptor_next(cio__acceptor *a);
/* Stops accepting; fds accepted but not taken are closed. */
void cio__acceptor_free(cio__acceptor *a);

#endif
