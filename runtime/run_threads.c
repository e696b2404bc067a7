/* One loop per core: the same main on n loops, each on its own thread. */
#include "cio.h"
#include "executor.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

enum { MAX_LOOPS = 1024 };

static __thread int tls_index = -1;

typedef struct runner {
    pthread_t thread;
    int index, err;
    bool started;
    const cio_options *opt;
    cio_fn main;
    void *arg, *result;
} runner;

static void *run_one(void *p) {
    runner *r = p;
    tls_index = r->index;
    r->err = cio_run_with(r->opt, r->main, r->arg, &r->result);
    return NULL;
}

int cio_thread_index(void) {
    return tls_index;
}

int cio_run_threads(unsigned n, const cio_options *opt, cio_fn main, void *arg, void **results) {
    if (!main || n > MAX_LOOPS)
        return -EINVAL;
    if (n == 0) {
        n = cio__default_workers(false); /* one loop per CPU */
        n = n > MAX_LOOPS ? MAX_LOOPS : n;
    }
    runner *rs = calloc(n, sizeof *rs);
    if (!rs)
        return -ENOMEM;
    int err = 0;
    for (unsigned i = 0; i < n && !err; i++) {
        rs[i] = (runner){.index = (int)i, .opt = opt, .main = main, .arg = arg};
        err = -pthread_create(&rs[i].thread, NULL, run_one, &rs[i]);
        rs[i].started = err == 0;
    }
    for (unsigned i = 0; i < n; i++) {
        if (!rs[i].started)
            continue;
        pthread_join(rs[i].thread, NULL);
        if (!err)
            err = rs[i].err;
        if (results)
            results[i] = rs[i].result;
    }
    free(rs);
    return err;
}
