/* Subprocesses: the process object shared by subprocess.c (spawning,
 * waiting, signals), subprocess_io.c (communicate) and reaper.c (processes
 * freed while still running). */
#ifndef CIO_SUBPROCESS_H
#define CIO_SUBPROCESS_H

#include "cio.h"
#include <stdbool.h>
#include <sys/types.h>

struct cio_process {
    pid_t pid;
    int pidfd;
    cio_stream *in, *out, *err;
    bool exited;
    int returncode;
    bool polling;       /* one waiter polls the pidfd; the others park on exit_ev */
    cio_event *exit_ev; /* made by the second concurrent waiter */
};

/* Any thread: the process behind pidfd is no longer anybody's; reap it once
 * it exits (a background thread, started on demand). Takes pidfd over. */
void cio__reaper_adopt(int pidfd);
/* Reaps the process behind pidfd if it has exited. 1 and *returncode
 * (asyncio's), 0 while it runs, or a negative errno. */
int cio__reap_pidfd(int pidfd, int *returncode);

#endif
