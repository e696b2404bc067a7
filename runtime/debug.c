/* Logging, error names, debug-mode helpers (stack-overflow reporter, timing). */
#include "debug.h"

#include "loop.h"
#include "stack.h"
#include "task.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

double cio__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cio__env_debug(void) {
    const char *v = getenv("CIO_DEBUG");
    return v && *v && strcmp(v, "0") != 0;
}

/* ---- errors ---- */

/* cio-curl names its codes (curl_easy_strerror) without the core linking
 * libcurl: it registers the namer when it starts. */
static const char *(*_Atomic curl_namer)(int code);

void cio__set_curl_strerror(const char *(*namer)(int code)) {
    curl_namer = namer;
}

/* "unknown error N" in a few buffers of the calling thread in turn, so that
 * two codes in one printf stay apart. */
static const char *unknown_code(int err) {
    static __thread char bufs[4][32];
    static __thread unsigned next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "unknown error %d", err);
    return b;
}

const char *cio_strerror(int err) {
    switch (err) {
    case 0:
        return "Success";
    case CIO_EWORKER:
        return "worker process died";
    case CIO_EBROKEN:
        return "broken barrier";
    case CIO_EINCOMPLETE:
        return "incomplete read: end of stream before the requested bytes";
    case CIO_ELIMIT:
        return "stream read limit exceeded";
    case CIO_ESHUTDOWN:
        return "shut down";
    case CIO_EUNAVAIL:
        return "the event-loop backend asked for cannot start here (CIO_DEBUG=1 says why)";
    case CIO_ELAGGED:
        return "receiver lagged: items were missed";
    case CIO_EOUTCAP:
        return "bytes job result larger than out_cap";
    case CIO_ETLS:
        return "TLS handshake or verification failed";
    case CIO_ELOOP:
        return "the future belongs to another loop";
    case -ETIMEDOUT: /* every timeout of cio, not only a connection's */
        return "timed out";
    }
    if (err < CIO_ECURL && err > CIO_ECURL - 1000) {
        const char *(*namer)(int) = curl_namer;
        return namer ? namer(CIO_ECURL - err) : "libcurl error";
    }
    if (err <= CIO_EGAI && err > CIO_EGAI - 100)
        return gai_strerror(err - CIO_EGAI);
    if (err < 0 && err > -4096) {
        const char *d = strerrordesc_np(-err);
        if (d)
            return d;
    }
    return unknown_code(err);
}

/* ---- logging ---- */

static cio_log_fn log_fn;
static void *log_user;

void cio_set_log_handler(cio_log_fn fn, void *user) {
    log_fn = fn;
    log_user = user;
}

static const char *level_name(int level) {
    static const char *names[] = {"debug", "info", "warning", "error"};
    return level >= 0 && level <= CIO_LOG_ERROR ? names[level] : "log";
}

void cio_log(int level, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_fn) {
        log_fn(level, msg, log_user);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    /* One write(2) per line keeps lines from several threads whole. */
    char line[1200];
    int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld cio %s: %s\n", tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, level_name(level), msg);
    if (n > (int)sizeof line - 1)
        n = (int)sizeof line - 1;
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}

void *cio_timed(const char *name, cio_fn fn, void *arg) {
    double t0 = cio__now();
    cio_log(CIO_LOG_INFO, "%s started", name);
    void *r = fn(arg);
    cio_log(CIO_LOG_INFO, "%s finished in %.3f s", name, cio__now() - t0);
    return r;
}

/* ---- stack overflow: name the task instead of a bare SIGSEGV ----
 *
 * On in every mode: it costs a sigaction and an alternate signal stack per
 * thread at its first task, nothing per task or per switch. The guard below
 * each stack (stack.c) turns an overflow into a SIGSEGV at an address just
 * below the running task's stack; anything else goes to the previous
 * handler. */

#define ALTSTACK_SIZE (64 * 1024)

static struct sigaction prev_segv;
static __thread bool reporter_ready;
static pthread_key_t altstack_key;
static pthread_once_t altstack_once = PTHREAD_ONCE_INIT;

static void write_str(const char *s) {
    if (write(STDERR_FILENO, s, strlen(s)) < 0)
        return;
}

static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    if (cio__stack_fault(si->si_addr))
        return; /* a trimmed stack (stack_trim.c), whole again: retry the access */
    cio__task *t = cio__task_current();
    if (t && t->stack) {
        char *lo = t->stack->lo;
        char *addr = si->si_addr;
        if (addr < lo && addr >= lo - cio__stack_guard_size()) {
            char name[CIO__TASK_NAME_MAX];
            if (!t->name)
                cio__task_default_name(t, name, sizeof name);
            write_str("cio: stack overflow in task '");
            write_str(t->name ? t->name : name);
            write_str("': raise cio_options.stack_size or the task's stack_size\n");
            abort();
        }
    }
    /* Not ours: let the previous disposition take the re-executed fault. */
    sigaction(sig, &prev_segv, NULL);
}

/* Thread exit: our alternate stack goes, unless someone replaced it. */
static void altstack_release(void *p) {
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == p) {
        stack_t off = {.ss_flags = SS_DISABLE};
        if (sigaltstack(&off, NULL) < 0)
            return; /* still in use: leaking it beats unmapping it */
    }
    munmap(p, ALTSTACK_SIZE);
}

static void altstack_key_make(void) {
    if (pthread_key_create(&altstack_key, altstack_release) != 0)
        altstack_key = (pthread_key_t)-1;
}

/* The faulting task has no stack left to run a handler on. A thread that
 * has an alternate stack already (ASan gives every thread one) keeps it. */
static bool ensure_altstack(void) {
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) && cur.ss_size >= 16384)
        return true;
    pthread_once(&altstack_once, altstack_key_make);
    if (altstack_key == (pthread_key_t)-1)
        return false;
    void *p = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return false;
    stack_t ss = {.ss_sp = p, .ss_size = ALTSTACK_SIZE};
    if (sigaltstack(&ss, NULL) < 0 || pthread_setspecific(altstack_key, p) != 0) {
        stack_t off = {.ss_flags = SS_DISABLE};
        sigaltstack(&off, NULL);
        munmap(p, ALTSTACK_SIZE);
        return false;
    }
    return true;
}

void cio__debug_install_overflow_handler(void) {
    if (!ensure_altstack())
        return;
    reporter_ready = true;
    /* Someone (a test harness) may have replaced us since: check, not a flag. */
    struct sigaction cur;
    if (sigaction(SIGSEGV, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
        cur.sa_sigaction == on_segv)
        return;
    struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_ONSTACK};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &prev_segv);
}

bool cio__debug_segv_hooked(void) {
    cio__debug_install_overflow_handler();
    struct sigaction cur;
    return sigaction(SIGSEGV, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
           cur.sa_sigaction == on_segv;
}

void cio__debug_overflow_reporter(void) {
    if (!reporter_ready)
        cio__debug_install_overflow_handler();
}
