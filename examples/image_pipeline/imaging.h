/* The pixel work of the image pipeline, runnable in any process: decode,
 * grayscale, Gaussian blur, Sobel edges, thumbnail, encode. Inputs and
 * outputs live in cio shared memory, so a process-pool worker reads the
 * downloaded bytes and leaves its results without a copy through a pipe. */
#ifndef IMAGING_H
#define IMAGING_H

#include <stddef.h>
#include <stdint.h>

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

#endif
