/* Test helpers shared by the cio-tls and cio-curl tests: throwaway
 * certificates made with the openssl command line, free loopback ports, and
 * peer processes (openssl s_server, nginx) started and stopped by the test.
 * Everything here is plain blocking code, called outside the loop or from
 * a thread (cio_to_thread). */
#ifndef CIO_TEST_PEERS_H
#define CIO_TEST_PEERS_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A temporary directory with: ca.pem/ca.key (a throwaway CA), good.pem/key
 * (localhost and 127.0.0.1, by the CA), wrong.pem/key (wrong.example, by
 * the CA), expired.pem/key (localhost, by the CA, expired), other-ca.pem (a
 * CA nobody used). 0 or -1. */
static int peers_make_certs(char *dir, size_t cap) {
    snprintf(dir, cap, "/tmp/cio-tls-test-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "set -e; cd '%s'; exec >log 2>&1\n"
             "key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $1; }\n"
             "key ca.key; key other-ca.key; key good.key; key wrong.key; key expired.key\n"
             "openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj /CN=cio-test-CA\n"
             "openssl req -x509 -new -key other-ca.key -out other-ca.pem -days 2 "
             "-subj /CN=cio-other-CA\n"
             "sign() { openssl req -new -key $1.key -out $1.csr -subj /CN=$2;\n"
             "  printf 'subjectAltName=%%s\\n' \"$3\" > $1.ext;\n"
             "  openssl x509 -req -in $1.csr -CA ca.pem -CAkey ca.key -set_serial $5 "
             "-out $1.pem -days $4 -extfile $1.ext; }\n"
             "sign good localhost DNS:localhost,IP:127.0.0.1 2 11\n"
             "sign wrong wrong.example DNS:wrong.example 2 12\n"
             "sign expired localhost DNS:localhost,IP:127.0.0.1 -1 13\n",
             dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void peers_rm_dir(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static void peers_path(char *out, size_t cap, const char *dir, const char *name) {
    snprintf(out, cap, "%s/%s", dir, name);
}

/* A port that was free a moment ago. */
static unsigned peers_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* Waits (blocking, up to 10 s) until 127.0.0.1:port accepts. 0 or -1. */
static int peers_wait_port(unsigned port) {
    for (int i = 0; i < 400; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int r = connect(fd, (struct sockaddr *)&a, sizeof a);
        close(fd);
        if (r == 0)
            return 0;
        struct timespec ts = {0, 25 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* Starts argv with stdin from in_fd (-1: /dev/null) and stdout+stderr to
 * out_path (NULL: /dev/null). The pid, or -1. */
static pid_t peers_spawn(char *const argv[], int in_fd, const char *out_path) {
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int in = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY);
    int out = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
        _exit(126);
    execvp(argv[0], argv);
    _exit(127);
}

static void peers_stop(pid_t pid) {
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    int st;
    for (int i = 0; i < 200; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
}

/* nginx serving dir/www on 127.0.0.1:port (TLS with good.pem when tls,
 * HTTP/2 too when http2), one process, its files all in dir. The pid, or
 * -1. */
static pid_t peers_nginx(const char *dir, unsigned port, int tls, int http2) {
    char conf[512], www[512];
    peers_path(conf, sizeof conf, dir, "nginx.conf");
    peers_path(www, sizeof www, dir, "www");
    mkdir(www, 0755);
    FILE *f = fopen(conf, "w");
    if (!f)
        return -1;
    fprintf(f,
            "daemon off; master_process off; worker_processes 1;\n"
            "pid %s/nginx.pid; error_log %s/nginx-error.log;\n"
            "events { worker_connections 2048; }\n"
            "http { access_log off; sendfile on; keepalive_requests 100000;\n"
            "  client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s;\n"
            "  uwsgi_temp_path %s; scgi_temp_path %s;\n"
            "  server { listen 127.0.0.1:%u%s%s; root %s;\n",
            dir, dir, dir, dir, dir, dir, dir, port, tls ? " ssl" : "", http2 ? " http2" : "", www);
    if (tls)
        fprintf(f, "    ssl_certificate %s/good.pem; ssl_certificate_key %s/good.key;\n", dir, dir);
    fprintf(f, "  }\n}\n");
    fclose(f);
    char *argv[] = {"nginx", "-c", conf, "-p", (char *)dir, NULL};
    char log[512];
    peers_path(log, sizeof log, dir, "nginx.out");
    pid_t pid = peers_spawn(argv, -1, log);
    if (pid > 0 && peers_wait_port(port) < 0) {
        peers_stop(pid);
        return -1;
    }
    return pid;
}

/* Writes n bytes of a reproducible pattern to path. 0 or -1. */
static unsigned char peers_pattern(size_t i, unsigned seed) {
    return (unsigned char)((i * 131 + seed * 7 + (i >> 12)) % 251);
}

static int peers_write_file(const char *path, size_t n, unsigned seed) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    for (size_t i = 0; i < n; i++)
        fputc(peers_pattern(i, seed), f);
    return fclose(f) == 0 ? 0 : -1;
}

#endif
