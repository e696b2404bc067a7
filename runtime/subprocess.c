/* Subprocesses: spawning (posix_spawn: glibc's is clone(CLONE_VM|CLONE_VFORK)
 * and reports an exec failure as the call's own error), waiting through a
 * pidfd polled on the loop, signals through the pidfd, and freeing (a child
 * still running goes to the background reaper).
 *
 * PIPE ends are AF_UNIX stream socketpairs rather than pipes: cio_stream is
 * built on recv/send, and a socket behaves like a pipe for the child (read,
 * write, EOF when the other end closes or shuts down). */
#include "subprocess.h"

#include "stream.h"
#include "task.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

extern char **environ;

int cio__reap_pidfd(int pidfd, int *returncode) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG) < 0) {
        if (errno != ECHILD)
            return -errno;
        *returncode = 255; /* somebody else reaped it: asyncio reports 255 */
        return 1;
    }
    if (si.si_pid == 0)
        return 0;
    *returncode = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
    return 1;
}

/* ---- spawning ---- */

/* What one of the child's fds 0-2 becomes. */
typedef struct stdio_plan {
    int parent; /* our end of a PIPE, or -1 */
    int child;  /* the fd dup2'ed onto 0-2 in the child, or -1 */
} stdio_plan;

static void plan_close(stdio_plan *s) {
    if (s->parent >= 0)
        close(s->parent);
    if (s->child >= 0)
        close(s->child);
    s->parent = s->child = -1;
}

/* The child's end must not be 0-2 itself: dup2 onto the same fd would keep
 * it close-on-exec. */
static int above_stdio(int fd) {
    if (fd > 2)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int e = errno;
    close(fd);
    errno = e;
    return moved;
}

static int plan_one(int mode, int target, stdio_plan *s) {
    s->parent = s->child = -1;
    switch (mode) {
    case CIO_STDIO_INHERIT:
        return 0;
    case CIO_STDIO_DEVNULL:
        s->child = above_stdio(open("/dev/null", (target ? O_WRONLY : O_RDONLY) | O_CLOEXEC));
        return s->child < 0 ? -errno : 0;
    case CIO_STDIO_PIPE: {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            return -errno;
        s->parent = sv[0];
        s->child = above_stdio(sv[1]);
        if (s->child < 0) {
            int e = errno;
            plan_close(s);
            return -e;
        }
        /* One direction each, as a pipe: the child sees EOF only from us. */
        shutdown(s->child, target ? SHUT_RD : SHUT_WR);
        shutdown(s->parent, target ? SHUT_WR : SHUT_RD);
        return 0;
    }
    case CIO_STDIO_STDOUT:
        return target == 2 ? 0 : -EINVAL;
    default:
        return -EINVAL;
    }
}

static int file_actions(posix_spawn_file_actions_t *fa, const stdio_plan plan[3],
                        const cio_process_options *o) {
    int r = 0;
    for (int i = 0; i < 3 && r == 0; i++)
        if (plan[i].child >= 0)
            r = posix_spawn_file_actions_adddup2(fa, plan[i].child, i);
    if (r == 0 && o->stderr_mode == CIO_STDIO_STDOUT)
        r = posix_spawn_file_actions_adddup2(fa, 1, 2);
    if (r == 0 && o->cwd)
        r = posix_spawn_file_actions_addchdir_np(fa, o->cwd);
    return -r;
}

static int spawn_attrs(posix_spawnattr_t *at) {
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE); /* ignored signals survive exec: undo the usual ones */
    sigaddset(&dfl, SIGXFSZ);
    int r = posix_spawnattr_setflags(at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (r == 0)
        r = posix_spawnattr_setsigmask(at, &none);
    if (r == 0)
        r = posix_spawnattr_setsigdefault(at, &dfl);
    return -r;
}

static int spawn(const char *const *argv, const cio_process_options *o, const stdio_plan plan[3],
                 pid_t *pid) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int r = -posix_spawn_file_actions_init(&fa);
    if (r < 0)
        return r;
    r = -posix_spawnattr_init(&at);
    if (r == 0) {
        r = file_actions(&fa, plan, o);
        if (r == 0)
            r = spawn_attrs(&at);
        char *const *envp = o->envp ? o->envp : environ;
        if (r == 0 && strchr(argv[0], '/'))
            r = -posix_spawn(pid, argv[0], &fa, &at, (char *const *)argv, envp);
        else if (r == 0)
            r = -posix_spawnp(pid, argv[0], &fa, &at, (char *const *)argv, envp);
        posix_spawnattr_destroy(&at);
    }
    posix_spawn_file_actions_destroy(&fa);
    return r;
}

/* A child we cannot watch must not be left behind. */
static void kill_and_reap(pid_t pid) {
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

static cio_stream **stream_slot(cio_process *p, int i) {
    return i == 0 ? &p->in : i == 1 ? &p->out : &p->err;
}

/* Wraps our ends into streams; on failure every fd of plan is closed. */
static int adopt_streams(cio_process *p, stdio_plan plan[3]) {
    int r = 0;
    for (int i = 0; i < 3; i++) {
        if (plan[i].child >= 0)
            close(plan[i].child);
        plan[i].child = -1;
        if (plan[i].parent < 0)
            continue;
        if (r == 0) {
            *stream_slot(p, i) = cio_stream_new(plan[i].parent); /* owns the fd even on ENOMEM */
            if (!*stream_slot(p, i))
                r = -errno;
        } else {
            close(plan[i].parent);
        }
        plan[i].parent = -1;
    }
    return r;
}

static int start(cio_process *p, const char *const *argv, const cio_process_options *o) {
    stdio_plan plan[3] = {{-1, -1}, {-1, -1}, {-1, -1}};
    int modes[3] = {o->stdin_mode, o->stdout_mode, o->stderr_mode};
    int r = 0;
    for (int i = 0; i < 3 && r == 0; i++)
        r = plan_one(modes[i], i, &plan[i]);
    if (r == 0)
        r = spawn(argv, o, plan, &p->pid);
    if (r == 0) {
        p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0); /* close-on-exec by definition */
        if (p->pidfd < 0) {
            r = -errno;
            kill_and_reap(p->pid);
        }
    }
    if (r == 0)
        r = adopt_streams(p, plan);
    for (int i = 0; i < 3; i++)
        plan_close(&plan[i]);
    return r;
}

cio_process *cio_subprocess_exec(const char *const *argv, const cio_process_options *opt) {
    static const cio_process_options defaults;
    const cio_process_options *o = opt ? opt : &defaults;
    if (!argv || !argv[0] || !argv[0][0]) {
        errno = EINVAL;
        return NULL;
    }
    cio_process *p = calloc(1, sizeof *p);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    p->pidfd = -1;
    int r = start(p, argv, o);
    if (r < 0) {
        if (p->pidfd >= 0) { /* the streams failed: nobody will ever wait for it */
            cio_process_free(p);
        } else {
            free(p);
        }
        errno = -r;
        return NULL;
    }
    return p;
}

cio_process *cio_subprocess_shell(const char *cmd, const cio_process_options *opt) {
    if (!cmd) {
        errno = EINVAL;
        return NULL;
    }
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    return cio_subprocess_exec(argv, opt);
}

/* ---- accessors ---- */

pid_t cio_process_pid(const cio_process *p) {
    return p ? p->pid : -EINVAL;
}

cio_stream *cio_process_stdin(cio_process *p) {
    return p ? p->in : NULL;
}

cio_stream *cio_process_stdout(cio_process *p) {
    return p ? p->out : NULL;
}

cio_stream *cio_process_stderr(cio_process *p) {
    return p ? p->err : NULL;
}

int cio_process_returncode(const cio_process *p, int *returncode) {
    if (!p)
        return -EINVAL;
    if (!p->exited)
        return -EAGAIN;
    if (returncode)
        *returncode = p->returncode;
    return 0;
}

/* ---- waiting ---- */

static int try_reap(cio_process *p) {
    if (p->exited)
        return 1;
    int r = cio__reap_pidfd(p->pidfd, &p->returncode);
    if (r > 0)
        p->exited = true;
    return r;
}

/* One waiter polls; the others park on the event, which the poller sets
 * whenever it stops polling (exit, or its own cancellation: then one of the
 * others takes over). */
static int wait_step(cio_process *p) {
    if (p->polling) {
        if (!p->exit_ev && !(p->exit_ev = cio_event_new()))
            return -ENOMEM;
        return cio_event_wait(p->exit_ev);
    }
    p->polling = true;
    int r = cio_poll(p->pidfd, POLLIN, -1);
    p->polling = false;
    if (p->exit_ev) {
        cio_event_set(p->exit_ev);
        cio_event_clear(p->exit_ev);
    }
    return r < 0 ? r : 0;
}

int cio_process_wait(cio_process *p, int *returncode) {
    if (!p)
        return -EINVAL;
    int r = try_reap(p);
    if (r == 0) {
        r = cio__task_require(__func__);
        if (r < 0)
            return r;
        while ((r = try_reap(p)) == 0)
            if ((r = wait_step(p)) < 0)
                break;
    }
    if (r < 0)
        return r;
    if (returncode)
        *returncode = p->returncode;
    return 0;
}

/* ---- signals ---- */

int cio_process_send_signal(cio_process *p, int sig) {
    if (!p || sig < 0 || sig >= NSIG)
        return -EINVAL;
    if (p->exited)
        return -ESRCH;
    if (syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) < 0)
        return -errno;
    return 0;
}

int cio_process_terminate(cio_process *p) {
    return cio_process_send_signal(p, SIGTERM);
}

int cio_process_kill(cio_process *p) {
    return cio_process_send_signal(p, SIGKILL);
}

/* ---- freeing ---- */

void cio_process_free(cio_process *p) {
    if (!p)
        return;
    for (int i = 0; i < 3; i++) {
        cio_stream **s = stream_slot(p, i);
        if (*s)
            cio__stream_abort(*s);
        *s = NULL;
    }
    if (p->exit_ev)
        cio_event_free(p->exit_ev);
    if (p->pidfd >= 0) {
        if (p->exited || try_reap(p) > 0)
            close(p->pidfd);
        else
            cio__reaper_adopt(p->pidfd);
    }
    free(p);
}
