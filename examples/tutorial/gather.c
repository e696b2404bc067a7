/* gather: run several tasks concurrently and wait for all of them; with and
 * without an error among them. */
#include "tutorial.h"

#include <cio.h>

#include <errno.h>

static void *fetch(void *arg) {
    long seconds = (long)arg;
    printf("fetching for %ld s...\n", seconds);
    cio_sleep(S((double)seconds));
    printf("done after %ld s\n", seconds);
    return (void *)(seconds * 10);
}

static void *fail_fast(void *arg) {
    cio_sleep(S((double)(long)arg));
    printf("failing after %ld s\n", (long)arg);
    return cio_fail(-EIO);
}

static void report(cio_future **fs, int n) {
    for (int i = 0; i < n; i++) {
        void *r;
        int e = cio_future_result(fs[i], &r);
        if (e == 0)
            printf("  result %d: %ld\n", i, (long)r);
        else
            printf("  result %d: error %s\n", i, cio_strerror(e));
        cio_future_unref(fs[i]);
    }
}

static void *main_task(void *arg) {
    (void)arg;
    cio_future *fs[3] = {cio_create_task(fetch, (void *)3L), cio_create_task(fetch, (void *)1L),
                         cio_create_task(fetch, (void *)2L)};
    int r = cio_gather(fs, 3, 0);
    printf("gather: %s (about 3 s, not 6)\n", r == 0 ? "all done" : cio_strerror(r));
    report(fs, 3);

    fs[0] = cio_create_task(fetch, (void *)2L);
    fs[1] = cio_create_task(fail_fast, (void *)1L);
    r = cio_gather(fs, 2, 0);
    printf("gather without return_exceptions: %s, at once; the other still runs\n",
           cio_strerror(r));
    cio_await(fs[0], NULL);
    report(fs, 2);

    fs[0] = cio_create_task(fetch, (void *)2L);
    fs[1] = cio_create_task(fail_fast, (void *)1L);
    r = cio_gather(fs, 2, CIO_RETURN_EXCEPTIONS);
    printf("gather with return_exceptions: %d, errors stay in the results\n", r);
    report(fs, 2);
    return NULL;
}

int main(int argc, char **argv) {
    tutorial_init(argc, argv);
    return tutorial_exit(cio_run(main_task, NULL, NULL));
}
