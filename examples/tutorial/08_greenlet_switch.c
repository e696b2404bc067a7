/* Explicit switching, greenlet style (the seeds' history of coroutines):
 *
 *     def func1():              def func2():
 *         print(1)                  print(3)
 *         gr2.switch()              gr1.switch()
 *         print(2)                  print(4)
 *         gr2.switch()
 *     gr1 = greenlet(func1); gr2 = greenlet(func2); gr1.switch()
 *
 * prints 1 3 2 4. Here each greenlet is a task parked on an event of its
 * own: switch(to) sets to's event and waits on ours. A greenlet that ends
 * returns to its parent (main), as greenlet does; func1 is then left
 * suspended in its second switch, and main cancels it. */
#include "tutorial.h"

#include <cio.h>
#include <errno.h>

typedef struct greenlet {
    cio_event *resume;
    void (*run)(struct greenlet *self);
    struct greenlet *parent;
} greenlet;

static greenlet main_g, gr1, gr2;

/* Hands control to `to`; returns when someone switches back (< 0: cancelled). */
static int greenlet_switch(greenlet *self, greenlet *to) {
    cio_event_set(to->resume);
    int r = cio_event_wait(self->resume);
    if (r == 0)
        cio_event_clear(self->resume);
    return r;
}

static void *greenlet_task(void *arg) {
    greenlet *g = arg;
    if (cio_event_wait(g->resume) < 0) /* not started before main ended */
        return NULL;
    cio_event_clear(g->resume);
    g->run(g);
    cio_event_set(g->parent->resume); /* finished: back to the parent */
    return NULL;
}

static void func1(greenlet *self) {
    printf("1\n");
    if (greenlet_switch(self, &gr2) < 0)
        return;
    printf("2\n");
    greenlet_switch(self, &gr2);
}

static void func2(greenlet *self) {
    printf("3\n");
    if (greenlet_switch(self, &gr1) < 0)
        return;
    printf("4\n");
}

static void *main_task(void *arg) {
    (void)arg;
    greenlet *all[] = {&main_g, &gr1, &gr2};
    for (int i = 0; i < 3; i++)
        if (!(all[i]->resume = cio_event_new()))
            return cio_fail(-ENOMEM);
    gr1 = (greenlet){gr1.resume, func1, &main_g};
    gr2 = (greenlet){gr2.resume, func2, &main_g};
    cio_future *t1 = cio_create_task(greenlet_task, &gr1);
    cio_future *t2 = cio_create_task(greenlet_task, &gr2);
    greenlet_switch(&main_g, &gr1); /* gr1.switch() */
    cio_cancel(t1);                 /* func1 still waits in its second switch */
    cio_await(t1, NULL);
    cio_await(t2, NULL);
    cio_future_unref(t1);
    cio_future_unref(t2);
    for (int i = 0; i < 3; i++)
        cio_event_free(all[i]->resume);
    return NULL;
}

int main(int argc, char **argv) {
    tutorial_init(argc, argv);
    return tutorial_exit(cio_run(main_task, NULL, NULL));
}
