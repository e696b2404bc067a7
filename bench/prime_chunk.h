/* W8's unit of work, shared by its process-pool program and cio-mpi's W17:
 * the primes of chunk i of [0, limit) in CHUNKS chunks, by trial division. */
#ifndef CIO_BENCH_PRIME_CHUNK_H
#define CIO_BENCH_PRIME_CHUNK_H

static inline long bench_primes_in_chunk(long limit, long i, long chunks) {
    long lo = limit * i / chunks, hi = limit * (i + 1) / chunks, n = 0;
    for (long x = lo < 2 ? 2 : lo; x < hi; x++) {
        int prime = 1;
        for (long d = 2; d * d <= x; d++)
            if (x % d == 0) {
                prime = 0;
                break;
            }
        n += prime;
    }
    return n;
}

#endif
