/* Running other programs from tasks (asyncio.create_subprocess_exec/_shell):
 * an exit code, a pipe through `tr` with communicate, three `sleep`s at once
 * while the loop keeps ticking, and a process killed when its waiter is
 * cancelled by a timeout. */
#include "tutorial.h"

#include <cio.h>
#include <errno.h>

static void *exit_code(void) {
    cio_process *p = cio_subprocess_shell("echo 'hello from sh'; exit 3", NULL);
    if (!p)
        return cio_fail(-errno);
    int rc;
    cio_process_wait(p, &rc);
    printf("sh exited with %d\n", rc);
    cio_process_free(p);
    return NULL;
}

static void *through_tr(void) {
    const char *argv[] = {"tr", "a-z", "A-Z", NULL};
    cio_process_options o = {.stdin_mode = CIO_STDIO_PIPE, .stdout_mode = CIO_STDIO_PIPE};
    cio_process *p = cio_subprocess_exec(argv, &o);
    if (!p)
        return cio_fail(-errno);
    const char text[] = "pipes both ways, no deadlock\n";
    char *out;
    size_t len;
    int r = cio_process_communicate(p, text, sizeof text - 1, &out, &len, NULL, NULL);
    if (r == 0) {
        printf("tr said (%zu bytes): %s", len, out);
        free(out);
    }
    cio_process_free(p);
    return NULL;
}

static void *sleeper(void *arg) {
    char cmd[64];
    snprintf(cmd, sizeof cmd, "sleep %.3f", S(1));
    cio_process *p = cio_subprocess_shell(cmd, NULL);
    if (!p)
        return cio_fail(-errno);
    int rc;
    cio_process_wait(p, &rc);
    printf("sleeper %ld done (pid %d, code %d)\n", (long)arg, (int)cio_process_pid(p), rc);
    cio_process_free(p);
    return NULL;
}

static void *ticker(void *arg) {
    (void)arg;
    for (int i = 1; cio_sleep(S(0.25)) == 0; i++)
        printf("tick %d\n", i);
    return NULL;
}

/* asyncio leaves a process running when its waiter is cancelled; to kill
 * it instead, catch the cancellation, kill, and wait for the exit. */
static void *wait_or_kill(void *arg) {
    cio_process *p = arg;
    int rc, r = cio_process_wait(p, &rc);
    if (r == -ECANCELED) {
        cio_process_kill(p);
        cio_process_wait(p, &rc); /* the cancellation was delivered once: this waits */
        printf("cancelled: killed it, returncode %d\n", rc);
        return cio_fail(-ECANCELED);
    }
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    exit_code();
    through_tr();

    cio_future *tick = cio_create_task(ticker, NULL);
    cio_future *s[3];
    for (long i = 0; i < 3; i++)
        s[i] = cio_create_task(sleeper, (void *)i);
    cio_gather(s, 3, 0); /* about 1 s for all three, and the ticks go on */
    for (int i = 0; i < 3; i++)
        cio_future_unref(s[i]);
    cio_cancel(tick);
    cio_await(tick, NULL);
    cio_future_unref(tick);

    cio_process *p = cio_subprocess_shell("sleep 30", NULL);
    if (!p)
        return cio_fail(-errno);
    cio_future *w = cio_create_task(wait_or_kill, p);
    int r = cio_wait_for(w, S(1), NULL);
    printf("wait_for: %s\n", cio_strerror(r));
    cio_future_unref(w);
    cio_process_free(p);
    return NULL;
}

int main(int argc, char **argv) {
    tutorial_init(argc, argv);
    return cio_run(main_task, NULL, NULL) < 0;
}
