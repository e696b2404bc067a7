/* Shared by W15 (TLS echo) and W16 (downloads): throwaway certificates made
 * with the openssl command line, child processes (peer servers, nginx),
 * free ports, and min/median/max over interleaved rounds. */
#ifndef CIO_BENCH_TLS_H
#define CIO_BENCH_TLS_H

#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* dir/ca.pem and dir/server.pem + server.key (localhost, 127.0.0.1). */
static inline int bt_make_certs(const char *dir) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "set -e; cd '%s'; exec >openssl.log 2>&1\n"
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout ca.key -out ca.pem -days 1 -subj /CN=bench-CA\n"
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key "
             "-out server.csr -subj /CN=localhost\n"
             "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > server.ext\n"
             "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 1 "
             "-days 1 -extfile server.ext -out server.pem\n",
             dir);
    return system(cmd) == 0 ? 0 : -1;
}

static inline void bt_rm_dir(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static inline unsigned bt_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return 0;
    close(fd);
    return ntohs(a.sin_port);
}

static inline int bt_wait_port(unsigned port) {
    for (int i = 0; i < 1000; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int r = connect(fd, (struct sockaddr *)&a, sizeof a);
        close(fd);
        if (r == 0)
            return 0;
        usleep(20000);
    }
    return -1;
}

static inline pid_t bt_spawn(char *const argv[], const char *log) {
    pid_t pid = fork();
    if (pid == 0) {
        int out = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (out >= 0) {
            dup2(out, 1);
            dup2(out, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static inline void bt_stop(pid_t pid) {
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    int st;
    for (int i = 0; i < 300; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
}

static inline int bt_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Prints "label impl: min median max unit" to stderr and the median as the
 * RESULT line; returns the median. */
static inline double bt_report(const char *workload, const char *impl, double *v, int n,
                               const char *unit) {
    qsort(v, (size_t)n, sizeof *v, bt_cmp);
    double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    fprintf(stderr, "%-10s %-12s min %.4g  median %.4g  max %.4g %s (%d rounds)\n", workload, impl,
            v[0], med, v[n - 1], unit, n);
    BENCH_RESULT(workload, impl, med, unit);
    return med;
}

/* Debian's python3 (which has uvloop), else the one on PATH. */
static inline const char *bt_python(void) {
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

/* A script of bench/peers/tls/, found beside the source tree of this
 * program (<top>/<build>/bench/PROG -> <top>/bench/peers/tls/NAME), else
 * relative to the current directory. */
static inline void bt_script(char *out, size_t cap, const char *name) {
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    for (int i = 0; i < 2; i++) {
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
    }
    snprintf(out, cap, "%s/../bench/peers/tls/%s", self, name);
    if (access(out, R_OK) != 0)
        snprintf(out, cap, "bench/peers/tls/%s", name);
}

#endif
