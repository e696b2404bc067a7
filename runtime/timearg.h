/* The time-argument rule of cio.h's Conventions, in one place: NaN is
 * -EINVAL everywhere; a timeout that is negative or +infinity sets no limit;
 * a delay that is not positive means "as soon as possible". */
#ifndef CIO_TIMEARG_H
#define CIO_TIMEARG_H

#include <math.h>
#include <stdbool.h>

/* NaN: rejected with -EINVAL by every call that takes seconds. */
static inline bool cio__time_nan(double t) {
    return t != t;
}

/* A timeout (or deadline) that sets no limit: negative or +infinity. */
static inline bool cio__time_unlimited(double t) {
    return t < 0 || t == INFINITY;
}

#endif
