/* Cross-thread channel throughput: 4 producer threads send 1,000,000
 * messages each into a bounded channel (capacity 1024) read by one task of a
 * loop, beside the classic mutex + two condvars bounded queue read by a
 * plain thread. Messages per second, three interleaved rounds, min / median
 * / max. */
#include "bench.h"

#include <cio.h>

#include <pthread.h>
#include <stdint.h>

enum { PRODUCERS = 4, CAP = 1024, ROUNDS = 3 };
static long per_producer;

/* ---- cio_chan ---- */

static void *chan_producer(void *arg) {
    for (long i = 0; i < per_producer; i++)
        if (cio_chan_send(arg, (void *)(intptr_t)(i + 1)) != 0)
            abort();
    return NULL;
}

static void *chan_receiver(void *arg) {
    cio_chan *ch = arg;
    void *item;
    long total = per_producer * PRODUCERS;
    for (long k = 0; k < total; k++)
        if (cio_chan_recv(ch, &item) != 0)
            abort();
    return NULL;
}

static double run_chan(void) {
    cio_chan *ch = cio_chan_new(CAP);
    pthread_t th[PRODUCERS];
    double t0 = bench_now();
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&th[i], NULL, chan_producer, ch);
    if (cio_run(chan_receiver, ch, NULL) != 0)
        abort();
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    double t = bench_now() - t0;
    cio_chan_free(ch);
    return (double)(per_producer * PRODUCERS) / t;
}

/* ---- mutex + condvar bounded queue ---- */

typedef struct mq {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    void *buf[CAP];
    size_t head, n;
} mq;

static void *mq_producer(void *arg) {
    mq *q = arg;
    for (long i = 0; i < per_producer; i++) {
        pthread_mutex_lock(&q->mu);
        while (q->n == CAP)
            pthread_cond_wait(&q->not_full, &q->mu);
        q->buf[(q->head + q->n++) % CAP] = (void *)(intptr_t)(i + 1);
        pthread_cond_signal(&q->not_empty);
        pthread_mutex_unlock(&q->mu);
    }
    return NULL;
}

static void *mq_receiver(void *arg) {
    mq *q = arg;
    long total = per_producer * PRODUCERS;
    for (long k = 0; k < total; k++) {
        pthread_mutex_lock(&q->mu);
        while (q->n == 0)
            pthread_cond_wait(&q->not_empty, &q->mu);
        q->head = (q->head + 1) % CAP;
        q->n--;
        pthread_cond_signal(&q->not_full);
        pthread_mutex_unlock(&q->mu);
    }
    return NULL;
}

static double run_mq(void) {
    static mq q;
    q = (mq){.mu = PTHREAD_MUTEX_INITIALIZER,
             .not_empty = PTHREAD_COND_INITIALIZER,
             .not_full = PTHREAD_COND_INITIALIZER};
    pthread_t th[PRODUCERS], rx;
    double t0 = bench_now();
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&th[i], NULL, mq_producer, &q);
    pthread_create(&rx, NULL, mq_receiver, &q);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    pthread_join(rx, NULL);
    return (double)(per_producer * PRODUCERS) / (bench_now() - t0);
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *impl, double *v) {
    qsort(v, ROUNDS, sizeof *v, cmp);
    printf("%-24s min %6.2f  median %6.2f  max %6.2f  M msg/s\n", impl, v[0] / 1e6, v[1] / 1e6,
           v[2] / 1e6);
    printf("RESULT chan %s %.0f msg/s\n", impl, v[1]);
}

int main(int argc, char **argv) {
    per_producer = bench_scale(argc, argv, 1000000);
    double c[ROUNDS], m[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        c[r] = run_chan();
        m[r] = run_mq();
    }
    printf("%d producers x %ld messages, capacity %d, %d interleaved rounds\n", PRODUCERS,
           per_producer, CAP, ROUNDS);
    report("cio_chan -> task", c);
    report("mutex+condvar -> thread", m);
    return 0;
}
