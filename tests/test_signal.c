/* Signals as loop callbacks: delivery, replacement, removal, Ctrl-C taken
 * over from cio_run, and bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include <cio.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <unistd.h>

static int hits[4];

static void on_sig(void *arg) {
    hits[(intptr_t)arg]++;
}

static void *nothing(void *arg) {
    return arg;
}

static void *signals(void *arg) {
    (void)arg;
    assert_int_equal(cio_add_signal_handler(SIGUSR1, on_sig, (void *)0), 0);
    kill(getpid(), SIGUSR1);
    cio_sleep(0.02);
    assert_int_equal(hits[0], 1);
    /* replaced: the new callback gets the next one */
    assert_int_equal(cio_add_signal_handler(SIGUSR1, on_sig, (void *)1), 0);
    kill(getpid(), SIGUSR1);
    cio_sleep(0.02);
    assert_int_equal(hits[0], 1);
    assert_int_equal(hits[1], 1);
    /* a thread of the pool does not swallow it either */
    void *r;
    assert_int_equal(cio_to_thread(nothing, NULL, &r), 0);
    kill(getpid(), SIGUSR1);
    cio_sleep(0.02);
    assert_int_equal(hits[1], 2);
    assert_true(cio_remove_signal_handler(SIGUSR1));
    assert_false(cio_remove_signal_handler(SIGUSR1));
    /* Ctrl-C with our own handler: the main task is not cancelled */
    assert_int_equal(cio_add_signal_handler(SIGINT, on_sig, (void *)2), 0);
    kill(getpid(), SIGINT);
    assert_int_equal(cio_sleep(0.02), 0);
    assert_int_equal(hits[2], 1);
    assert_true(cio_remove_signal_handler(SIGINT));
    /* bad input */
    assert_false(cio_remove_signal_handler(0));
    assert_false(cio_remove_signal_handler(_NSIG));
    assert_int_equal(cio_add_signal_handler(SIGKILL, on_sig, NULL), -EINVAL);
    assert_int_equal(cio_add_signal_handler(SIGSEGV, on_sig, NULL), -EINVAL);
    assert_int_equal(cio_add_signal_handler(0, on_sig, NULL), -EINVAL);
    assert_int_equal(cio_add_signal_handler(SIGUSR2, NULL, NULL), -EINVAL);
    return NULL;
}

static void test_signals(void **state) {
    (void)state;
    assert_int_equal(cio_run(signals, NULL, NULL), 0);
    assert_int_equal(cio_add_signal_handler(SIGUSR1, on_sig, NULL), -EPERM);
    /* the loop gave the mask back: SIGUSR1 is not blocked any more */
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    assert_false(sigismember(&cur, SIGUSR1));
}

/* A thread the program started itself, not blocking anything: signals sent
 * to it reach the loop's handler instead of taking their default action
 * (SIGUSR2's ends the process) or cio_run's Ctrl-C handling. */
static atomic_int stop_thread;

static void *bystander(void *arg) {
    (void)arg;
    while (!atomic_load(&stop_thread))
        usleep(1000);
    return NULL;
}

static void *forwarded(void *arg) {
    pthread_t *th = arg;
    assert_int_equal(cio_add_signal_handler(SIGUSR2, on_sig, (void *)3), 0);
    assert_int_equal(cio_add_signal_handler(SIGINT, on_sig, (void *)2), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_kill(*th, SIGUSR2), 0);
        for (int k = 0; k < 100 && hits[3] <= i; k++)
            cio_sleep(0.001);
    }
    assert_int_equal(hits[3], 3);
    int before = hits[2];
    assert_int_equal(pthread_kill(*th, SIGINT), 0);
    for (int k = 0; k < 100 && hits[2] == before; k++)
        assert_int_equal(cio_sleep(0.001), 0); /* the main task is not cancelled */
    assert_int_equal(hits[2], before + 1);
    assert_true(cio_remove_signal_handler(SIGUSR2));
    assert_true(cio_remove_signal_handler(SIGINT));
    /* cio_run's own Ctrl-C handling is back */
    struct sigaction cur;
    sigaction(SIGINT, NULL, &cur);
    assert_true(cur.sa_handler != SIG_DFL);
    return NULL;
}

static void test_forwarded_from_other_threads(void **state) {
    (void)state;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bystander, NULL), 0);
    assert_int_equal(cio_run(forwarded, &th, NULL), 0);
    atomic_store(&stop_thread, 1);
    pthread_join(th, NULL);
    struct sigaction cur;
    sigaction(SIGUSR2, NULL, &cur);
    assert_true(cur.sa_handler == SIG_DFL); /* given back */
    sigaction(SIGINT, NULL, &cur);
    assert_true(cur.sa_handler == SIG_DFL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signals),
        cmocka_unit_test(test_forwarded_from_other_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
