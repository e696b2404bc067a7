/* Shared by the tutorial programs: `-s SCALE` multiplies every delay, so
 * `make demo` can run the walk-through in a fraction of real time. */
#ifndef CIO_TUTORIAL_H
#define CIO_TUTORIAL_H

#include <cio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double tutorial_scale = 1.0;

static inline void tutorial_init(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "-s") == 0)
            tutorial_scale = atof(argv[i + 1]);
    if (!(tutorial_scale > 0))
        tutorial_scale = 1.0;
    setvbuf(stdout, NULL, _IOLBF, 0);
}

/* Seconds as the Python original says them, scaled. */
static inline double S(double seconds) {
    return seconds * tutorial_scale;
}

/* main's exit status: a failed run says why instead of exiting silently. */
static inline int tutorial_exit(int r) {
    if (r < 0)
        fprintf(stderr, "cio_run: %s\n", cio_strerror(r));
    return r < 0;
}

#endif
