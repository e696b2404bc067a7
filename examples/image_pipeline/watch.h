/* The image pipeline's watch mode (watch.c). */
#ifndef IMAGE_WATCH_H
#define IMAGE_WATCH_H

/* Processes every PNG/JPEG already in `in` and each one that lands there
 * later, writing edges and thumbnails to out/processed, until `count`
 * images are done (0: until interrupted). 0 or a negative errno. */
int image_watch(const char *in, const char *out, int count);

#endif
