/* For tests: makes io_uring_setup fail with EPERM in this process and the
 * programs it execs, as Docker's default seccomp profile does. 0 or -1. */
#ifndef CIO_TEST_NO_IO_URING_H
#define CIO_TEST_NO_IO_URING_H

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Makes system call nr fail with EPERM from now on. 0 or -1. */
static inline int block_syscall(unsigned nr) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof *f, .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -1;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static inline int block_io_uring(void) {
    return block_syscall(__NR_io_uring_setup);
}

#endif
