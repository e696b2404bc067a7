/* The seeds' generator example:
 *
 *     def func1():            def func2():
 *         yield 1                 yield 3
 *         yield from func2()      yield 4
 *         yield 2
 *     for item in func1():
 *         print(item)
 *
 * prints 1 3 4 2. The generator is a task that hands each value over a
 * queue of one place, so it runs only as far as the consumer has read (as
 * a generator does); `yield from` is a plain call in the same task. */
#include "tutorial.h"

#include <cio.h>
#include <errno.h>
#include <stdint.h>

static int yield(cio_queue *q, intptr_t value) {
    return cio_queue_put(q, (void *)value);
}

static int func2(cio_queue *q) {
    int r = yield(q, 3);
    return r < 0 ? r : yield(q, 4);
}

static void *func1(void *arg) {
    cio_queue *q = arg;
    if (yield(q, 1) == 0 && func2(q) == 0) /* yield from func2() */
        yield(q, 2);
    cio_queue_shutdown(q, false); /* StopIteration: the reader's get ends */
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    cio_queue *q = cio_queue_new(1);
    if (!q)
        return cio_fail(-ENOMEM);
    cio_future *gen = cio_create_task(func1, q);
    void *item;
    while (cio_queue_get(q, &item) == 0) /* for item in func1() */
        printf("%d\n", (int)(intptr_t)item);
    int r = cio_await(gen, NULL);
    cio_future_unref(gen);
    cio_queue_free(q);
    return r < 0 ? cio_fail(r) : NULL;
}

int main(int argc, char **argv) {
    tutorial_init(argc, argv);
    return tutorial_exit(cio_run(main_task, NULL, NULL));
}
