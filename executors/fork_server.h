/* The process pool's fork server: a single-threaded child created with the
 * pool, before the pool starts any thread, that forks the workers. A worker
 * therefore never inherits a lock some other parent thread held, and never
 * touches the parent's io_uring ring (nothing in it calls the loop). */
#ifndef CIO_FORK_SERVER_H
#define CIO_FORK_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A job as both sides see it: it lives in cio shared memory. */
enum { CIO__PP_SLOT_QUEUED, CIO__PP_SLOT_RUNNING, CIO__PP_SLOT_DONE, CIO__PP_SLOT_CANCELLED };

typedef struct cio__pp_slot {
    void *(*fn)(void *);
    /* A bytes job instead (fn NULL): runs on the buffer at arg and returns
     * its count as the result (see bytes.h). */
    ssize_t (*bfn)(const void *in, size_t in_len, void *out, size_t out_cap);
    void *arg;
    void *result;
    int err; /* the job's cio_fail, once done */
    _Atomic int state;
    void *owner; /* the parent's job record: opaque to the worker */
    bool timed;  /* the job observer wants its times: the worker records them */
    pid_t pid;   /* when timed: who ran it, from when to when (CLOCK_MONOTONIC) */
    uint64_t started_ns, ended_ns;
} cio__pp_slot;

/* Messages from the fork server to the pool. */
enum { CIO__FS_SPAWNED = 1, CIO__FS_DIED = 2, CIO__FS_FAILED = 3 };
typedef struct cio__fs_msg {
    int type;
    pid_t pid;
    int status; /* CIO__FS_DIED: the wait status; CIO__FS_FAILED: the errno */
} cio__fs_msg;

/* What every worker is made with. */
typedef struct cio__fs_config {
    void (*init)(void *); /* runs in each worker before its first job */
    void *init_arg;
    unsigned max_jobs; /* a worker exits after running this many (0: never) */
} cio__fs_config;

/* Forks the server. *ctl gets the pool's end of the control socket. The
 * pool asks for a worker by writing one byte; the server answers
 * CIO__FS_SPAWNED with the worker's channel attached (SCM_RIGHTS), or
 * CIO__FS_FAILED when it could not fork, and reports each reaped worker with
 * CIO__FS_DIED. Closing ctl makes it wait for its workers and exit. Returns
 * the server's pid or -errno. */
pid_t cio__fork_server_start(int *ctl, const cio__fs_config *cfg);
/* Requests on the control socket: one byte each; a kill is followed by the
 * pid's bytes. */
enum { CIO__FS_REQ_SPAWN = 1, CIO__FS_REQ_KILL = 2 };
/* Asks the server to SIGKILL worker pid: the pool's way without a pidfd
 * (the server kills only a child it has not reaped, so a recycled pid is
 * never hit). 0, or -EPIPE when the server is gone. */
int cio__fork_server_kill(int ctl, pid_t pid);
/* For tests: the servers made from now on act as on a kernel without
 * pidfd_open (the fallback path). */
void cio__fork_server_no_pidfd(bool on);
/* Receives one message; for CIO__FS_SPAWNED also the worker's channel (*fd)
 * and a pidfd for it (*pidfd, -1 if the kernel has none). 0 on EOF. */
int cio__fork_server_recv(int ctl, cio__fs_msg *m, int *fd, int *pidfd);

#endif
