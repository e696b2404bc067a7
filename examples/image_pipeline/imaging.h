/* The pixel work of the image pipeline, runnable in any process: decode,
 * grayscale, Gaussian blur, Sobel edges, thumbnail, encode. Inputs and
 * outputs live in cio shared memory, so a process-pool worker reads the
 * downloaded bytes and leaves its results without a copy through a pipe. */
#ifndef IMAGING_H
#define IMAGING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define THUMB_W 160

typedef struct img_job {
    /* in */
    const unsigned char *src; /* the encoded original (PNG or JPEG), in shm */
    size_t src_len;
    /* out, allocated in shm by whoever runs the job */
    int w, h;
    unsigned char *edges_png;
    size_t edges_len;
    unsigned char *thumb_rgb; /* THUMB_W x th, RGB */
    int th;
    unsigned char *thumb_png;
    size_t thumb_len;
    uint64_t edge_sum; /* a checksum of the edge image */
    int err;
} img_job;

/* The job: fills the outputs of the img_job that arg points to. Returns 0 or
 * a negative errno (also left in job->err). */
void *imaging_process(void *arg);

/* Makes test picture number i (a Mandelbrot view, different per i) of w x h
 * and encodes it: PNG for even i, JPEG for odd. Returns malloc'd bytes. */
unsigned char *imaging_generate(int i, int w, int h, size_t *len);

/* Tiles RGB thumbnails (each THUMB_W wide, heights ths[]) into one PNG
 * (malloc'd) with `cols` columns. */
unsigned char *imaging_contact_sheet(unsigned char *const *thumbs, const int *ths, int n, int cols,
                                     size_t *len);

/* Releases a job's shm outputs. */
void imaging_release(img_job *job);

/* ---- the same work as bytes jobs (remote.c): for workers that share no
 * memory with the loop (cio_mpi_executor's ranks) ---- */

/* A cio_bytes_fn: in is an encoded image; out gets imaging_process's results
 * packed. Its length, or imaging_process's error, or -ENOSPC (cap too small). */
ssize_t imaging_process_bytes(const void *in, size_t in_len, void *out, size_t cap);
/* Room enough for imaging_process_bytes's result on this image (read from
 * its header; a small one when it is no image the job can decode). */
size_t imaging_result_cap(const void *src, size_t len);
/* Fills job's outputs (in shm, as imaging_process does) from a packed
 * result: 0, -EPROTO (not one), or -ENOMEM. */
int imaging_unpack(img_job *job, const void *res, size_t len);
/* A cio_bytes_fn: in is int32_t {i, w, h}; out gets imaging_generate's
 * bytes. Their length, or -EINVAL, -ENOMEM, -ENOSPC. */
ssize_t imaging_generate_bytes(const void *in, size_t in_len, void *out, size_t cap);
/* Room enough for imaging_generate_bytes's result of w x h. */
size_t imaging_generate_cap(int w, int h);

#endif
