/* The image pipeline's jobs as bytes jobs (imaging.h), for executors whose
 * workers share no memory with the loop: MPI ranks, maybe on other hosts.
 * The encoded image goes in; the results come back packed behind a header
 * and are unpacked into the same shm outputs a process-pool job leaves, so
 * the rest of the pipeline does not know where the job ran. */
#include "imaging.h"

#include <cio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <stb/stb_image.h>

typedef struct packed {
    int32_t w, h, th, pad;
    uint64_t edges_len, thumb_len, edge_sum;
} packed; /* then edges_png, thumb_rgb (THUMB_W x th x 3), thumb_png */

static size_t thumb_rgb_len(int th) {
    return (size_t)THUMB_W * (size_t)th * 3;
}

ssize_t imaging_process_bytes(const void *in, size_t in_len, void *out, size_t cap) {
    img_job j = {.src = in, .src_len = in_len};
    int r = (int)(intptr_t)imaging_process(&j);
    size_t rgb = r == 0 ? thumb_rgb_len(j.th) : 0;
    size_t need = sizeof(packed) + j.edges_len + rgb + j.thumb_len;
    if (r == 0 && need > cap)
        r = -ENOSPC; /* imaging_result_cap guessed too low: say so, no truncation */
    if (r == 0) {
        packed h = {.w = j.w,
                    .h = j.h,
                    .th = j.th,
                    .edges_len = j.edges_len,
                    .thumb_len = j.thumb_len,
                    .edge_sum = j.edge_sum};
        char *o = out;
        memcpy(o, &h, sizeof h);
        memcpy(o + sizeof h, j.edges_png, j.edges_len);
        memcpy(o + sizeof h + j.edges_len, j.thumb_rgb, rgb);
        memcpy(o + sizeof h + j.edges_len + rgb, j.thumb_png, j.thumb_len);
    }
    imaging_release(&j);
    return r < 0 ? r : (ssize_t)need;
}

/* PNG (stb's deflate) grows incompressible pixels by well under 2x. */
static size_t png_bound(size_t w, size_t h, size_t ch) {
    return 2 * (w * ch + 1) * h + 4096;
}

size_t imaging_result_cap(const void *src, size_t len) {
    int w = 0, h = 0, ch = 0;
    if (len > INT32_MAX || !stbi_info_from_memory(src, (int)len, &w, &h, &ch) || w < 1 || h < 1)
        return sizeof(packed); /* the job will say what is wrong */
    int th = h * THUMB_W / w > 0 ? h * THUMB_W / w : 1;
    return sizeof(packed) + png_bound((size_t)w, (size_t)h, 1) + thumb_rgb_len(th) +
           png_bound(THUMB_W, (size_t)th, 3);
}

static void *shm_copy(const void *p, size_t n) {
    void *s = cio_shm_alloc(n ? n : 1);
    if (s)
        memcpy(s, p, n);
    return s;
}

int imaging_unpack(img_job *j, const void *res, size_t len) {
    packed h;
    if (len < sizeof h)
        return -EPROTO;
    memcpy(&h, res, sizeof h);
    const char *p = (const char *)res + sizeof h;
    size_t rgb = h.th > 0 ? thumb_rgb_len(h.th) : 0;
    if (h.th <= 0 || h.edges_len > len || h.thumb_len > len ||
        sizeof h + h.edges_len + rgb + h.thumb_len != len)
        return -EPROTO;
    j->w = h.w;
    j->h = h.h;
    j->th = h.th;
    j->edge_sum = h.edge_sum;
    j->edges_len = h.edges_len;
    j->thumb_len = h.thumb_len;
    j->edges_png = shm_copy(p, h.edges_len);
    j->thumb_rgb = shm_copy(p + h.edges_len, rgb);
    j->thumb_png = shm_copy(p + h.edges_len + rgb, h.thumb_len);
    j->err = j->edges_png && j->thumb_rgb && j->thumb_png ? 0 : -ENOMEM;
    if (j->err)
        imaging_release(j);
    return j->err;
}

ssize_t imaging_generate_bytes(const void *in, size_t in_len, void *out, size_t cap) {
    int32_t a[3];
    if (in_len != sizeof a)
        return -EINVAL;
    memcpy(a, in, sizeof a);
    size_t len = 0;
    unsigned char *png = imaging_generate(a[0], a[1], a[2], &len);
    if (!png)
        return -ENOMEM;
    ssize_t r = len <= cap ? (ssize_t)len : -ENOSPC;
    if (r > 0)
        memcpy(out, png, len);
    free(png);
    return r;
}

size_t imaging_generate_cap(int w, int h) {
    return png_bound((size_t)w, (size_t)h, 3);
}
