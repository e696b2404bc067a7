/* Pixel work for the image pipeline (see imaging.h). Codecs are Debian's
 * stb (libstb-dev); the filters are plain loops. */
#include "imaging.h"

#include <cio.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

typedef struct membuf {
    unsigned char *p;
    size_t len, cap;
    int oom;
} membuf;

static void to_mem(void *ctx, void *data, int size) {
    membuf *m = ctx;
    if (m->oom || size <= 0)
        return;
    if (m->len + (size_t)size > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1 << 16;
        while (cap < m->len + (size_t)size)
            cap *= 2;
        unsigned char *np = realloc(m->p, cap);
        if (!np) {
            m->oom = 1;
            return;
        }
        m->p = np;
        m->cap = cap;
    }
    memcpy(m->p + m->len, data, (size_t)size);
    m->len += (size_t)size;
}

/* ---- filters ---- */

static void grayscale(const unsigned char *rgb, int n, float *g) {
    for (int i = 0; i < n; i++)
        g[i] = 0.299f * rgb[3 * i] + 0.587f * rgb[3 * i + 1] + 0.114f * rgb[3 * i + 2];
}

/* Separable 5-tap binomial kernel (1 4 6 4 1)/16: a Gaussian, sigma ~1. */
static void blur(const float *in, float *tmp, float *out, int w, int h) {
    static const float k[5] = {1 / 16.f, 4 / 16.f, 6 / 16.f, 4 / 16.f, 1 / 16.f};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float s = 0;
            for (int d = -2; d <= 2; d++) {
                int xx = x + d < 0 ? 0 : x + d >= w ? w - 1 : x + d;
                s += k[d + 2] * in[y * w + xx];
            }
            tmp[y * w + x] = s;
        }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float s = 0;
            for (int d = -2; d <= 2; d++) {
                int yy = y + d < 0 ? 0 : y + d >= h ? h - 1 : y + d;
                s += k[d + 2] * tmp[yy * w + x];
            }
            out[y * w + x] = s;
        }
}

static uint64_t sobel(const float *g, unsigned char *e, int w, int h) {
    uint64_t sum = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            if (x == 0 || y == 0 || x == w - 1 || y == h - 1) {
                e[y * w + x] = 0;
                continue;
            }
            const float *p = g + y * w + x;
            float gx = -p[-w - 1] - 2 * p[-1] - p[w - 1] + p[-w + 1] + 2 * p[1] + p[w + 1];
            float gy = -p[-w - 1] - 2 * p[-w] - p[-w + 1] + p[w - 1] + 2 * p[w] + p[w + 1];
            float m = sqrtf(gx * gx + gy * gy);
            e[y * w + x] = (unsigned char)(m > 255 ? 255 : m);
            sum += e[y * w + x];
        }
    return sum;
}

/* Box-filter downscale to THUMB_W wide. */
static void thumbnail(const unsigned char *rgb, int w, int h, unsigned char *t, int th) {
    for (int ty = 0; ty < th; ty++)
        for (int tx = 0; tx < THUMB_W; tx++) {
            int x0 = tx * w / THUMB_W, x1 = (tx + 1) * w / THUMB_W;
            int y0 = ty * h / th, y1 = (ty + 1) * h / th;
            x1 = x1 > x0 ? x1 : x0 + 1;
            y1 = y1 > y0 ? y1 : y0 + 1;
            for (int c = 0; c < 3; c++) {
                unsigned s = 0;
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++)
                        s += rgb[3 * (y * w + x) + c];
                t[3 * (ty * THUMB_W + tx) + c] =
                    (unsigned char)(s / (unsigned)((x1 - x0) * (y1 - y0)));
            }
        }
}

/* ---- the job ---- */

static void *copy_to_shm(const void *p, size_t n) {
    void *s = cio_shm_alloc(n);
    if (s)
        memcpy(s, p, n);
    return s;
}

static int process(img_job *j) {
    int w, h, ch;
    unsigned char *rgb = stbi_load_from_memory(j->src, (int)j->src_len, &w, &h, &ch, 3);
    if (!rgb)
        return -EILSEQ; /* not an image stb can decode */
    size_t n = (size_t)w * (size_t)h;
    float *g = malloc(n * sizeof *g), *tmp = malloc(n * sizeof *tmp), *b = malloc(n * sizeof *b);
    unsigned char *e = malloc(n);
    int r = g && tmp && b && e ? 0 : -ENOMEM;
    if (r == 0) {
        grayscale(rgb, (int)n, g);
        blur(g, tmp, b, w, h);
        j->edge_sum = sobel(b, e, w, h);
        membuf m = {0};
        stbi_write_png_to_func(to_mem, &m, w, h, 1, e, w);
        j->edges_png = m.oom ? NULL : copy_to_shm(m.p, m.len);
        j->edges_len = m.len;
        free(m.p);
        j->th = h * THUMB_W / w > 0 ? h * THUMB_W / w : 1;
        j->thumb_rgb = cio_shm_alloc((size_t)THUMB_W * (size_t)j->th * 3);
        if (j->thumb_rgb) {
            thumbnail(rgb, w, h, j->thumb_rgb, j->th);
            membuf t = {0};
            stbi_write_png_to_func(to_mem, &t, THUMB_W, j->th, 3, j->thumb_rgb, THUMB_W * 3);
            j->thumb_png = t.oom ? NULL : copy_to_shm(t.p, t.len);
            j->thumb_len = t.len;
            free(t.p);
        }
        r = j->edges_png && j->thumb_rgb && j->thumb_png ? 0 : -ENOMEM;
    }
    j->w = w;
    j->h = h;
    free(g), free(tmp), free(b), free(e);
    stbi_image_free(rgb);
    return r;
}

void *imaging_process(void *arg) {
    img_job *j = arg;
    j->err = process(j);
    return (void *)(intptr_t)j->err;
}

void imaging_release(img_job *j) {
    cio_shm_free(j->edges_png);
    cio_shm_free(j->thumb_rgb);
    cio_shm_free(j->thumb_png);
    j->edges_png = j->thumb_rgb = j->thumb_png = NULL;
}

/* ---- test pictures ---- */

unsigned char *imaging_generate(int i, int w, int h, size_t *len) {
    unsigned char *rgb = malloc((size_t)w * (size_t)h * 3);
    if (!rgb)
        return NULL;
    /* Each picture zooms into a different spot of the Mandelbrot set. */
    double cx = -0.745 + 0.01 * (i % 7), cy = 0.11 + 0.005 * (i % 5);
    double scale = 3.0 / (w * (1 + i % 4 * 3));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double zr = 0, zi = 0, cr = cx + (x - w / 2) * scale, ci = cy + (y - h / 2) * scale;
            int it = 0;
            while (it < 64 && zr * zr + zi * zi < 4) {
                double t = zr * zr - zi * zi + cr;
                zi = 2 * zr * zi + ci;
                zr = t;
                it++;
            }
            unsigned char *p = rgb + 3 * ((size_t)y * w + x);
            p[0] = (unsigned char)(it * 4 * (i % 3 + 1));
            p[1] = (unsigned char)(it * 9);
            p[2] = (unsigned char)(255 - it * 3);
        }
    membuf m = {0};
    if (i % 2 == 0)
        stbi_write_png_to_func(to_mem, &m, w, h, 3, rgb, w * 3);
    else
        stbi_write_jpg_to_func(to_mem, &m, w, h, 3, rgb, 90);
    free(rgb);
    if (m.oom) {
        free(m.p);
        return NULL;
    }
    *len = m.len;
    return m.p;
}

unsigned char *imaging_contact_sheet(unsigned char *const *thumbs, const int *ths, int n, int cols,
                                     size_t *len) {
    int rows = (n + cols - 1) / cols, cell_h = 0;
    for (int i = 0; i < n; i++)
        cell_h = ths[i] > cell_h ? ths[i] : cell_h;
    int pad = 4, W = cols * (THUMB_W + pad) + pad, H = rows * (cell_h + pad) + pad;
    unsigned char *sheet = calloc((size_t)W * (size_t)H, 3);
    if (!sheet)
        return NULL;
    memset(sheet, 40, (size_t)W * (size_t)H * 3);
    for (int i = 0; i < n; i++) {
        int ox = pad + (i % cols) * (THUMB_W + pad), oy = pad + (i / cols) * (cell_h + pad);
        for (int y = 0; y < ths[i]; y++)
            memcpy(sheet + 3 * ((size_t)(oy + y) * W + ox), thumbs[i] + 3 * (size_t)y * THUMB_W,
                   THUMB_W * 3);
    }
    membuf m = {0};
    stbi_write_png_to_func(to_mem, &m, W, H, 3, sheet, W * 3);
    free(sheet);
    if (m.oom) {
        free(m.p);
        return NULL;
    }
    *len = m.len;
    return m.p;
}
