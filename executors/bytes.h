/* Bytes jobs (cio_run_in_executor_bytes): the buffer every executor uses.
 *
 * One allocation holds a header, the result area (out_cap bytes and a
 * canary after them) and the copy of the input. The result pointer of the
 * job's future is the result area; the header sits just before it, and the
 * future's result destructor (bytes.c's bytes_dtor) is what marks a future as
 * completed with bytes. The process pool allocates the same layout in
 * cio_shm, so its workers read and write the payload in place. */
#ifndef CIO_BYTES_H
#define CIO_BYTES_H

#include "cio.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct cio__bytes {
    uint64_t magic;
    size_t len; /* result bytes, once the job has ended */
    size_t cap; /* out_cap */
    size_t in_len;
    void (*release)(struct cio__bytes *b); /* frees the whole buffer */
    _Atomic int refs;                      /* the default path's: the job and the loop side */
    int pad_;
} cio__bytes;

#define CIO__BYTES_MAGIC 0xC10B17E5C10B17E5ull
#define CIO__BYTES_CANARY 0x5AFEC0DEDEADBEEFull

/* Bytes for a buffer with room for out_cap result bytes and in_len input
 * bytes (SIZE_MAX on overflow). */
size_t cio__bytes_size(size_t out_cap, size_t in_len);
/* Lays a buffer out in mem (cio__bytes_size bytes): header, canary, and a
 * copy of in. */
cio__bytes *cio__bytes_init(void *mem, size_t out_cap, const void *in, size_t in_len,
                            void (*release)(cio__bytes *b));
static inline void *cio__bytes_out(cio__bytes *b) {
    return b + 1;
}
/* A buffer on the heap (NULL: no memory). */
cio__bytes *cio__bytes_new_heap(size_t out_cap, const void *in, size_t in_len);
/* Runs fn on the buffer (in the worker). Returns what the job returned. */
ssize_t cio__bytes_run(cio_bytes_fn fn, cio__bytes *b);
/* What a job's return value n means: 0 (b->len set), the job's error, or
 * CIO_EOUTCAP (more than out_cap, or the canary after out is overwritten). */
int cio__bytes_settle(cio__bytes *b, ssize_t n);
/* On the loop thread: completes f with b's result (f owns b from now on). */
void cio__bytes_finish(cio_future *f, cio__bytes *b);

#endif
