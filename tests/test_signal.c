/* Signals as loop callbacks: delivery, replacement, removal, Ctrl-C taken
 * over from cio_run, and bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cio.h>

#include <errno.h>
#include <signal.h>
#include <unistd.h>

static int hits[3];

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
    assert_int_equal(cio_remove_signal_handler(SIGUSR1), 1);
    assert_int_equal(cio_remove_signal_handler(SIGUSR1), 0);
    /* Ctrl-C with our own handler: the main task is not cancelled */
    assert_int_equal(cio_add_signal_handler(SIGINT, on_sig, (void *)2), 0);
    kill(getpid(), SIGINT);
    assert_int_equal(cio_sleep(0.02), 0);
    assert_int_equal(hits[2], 1);
    assert_int_equal(cio_remove_signal_handler(SIGINT), 1);
    /* bad input */
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

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_signals)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
