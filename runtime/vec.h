/* One growable array for the whole runtime: the owner keeps its own typed
 * pointer and a size_t capacity, and asks for room before it stores.
 * Capacity doubles from a minimum, so n appends cost O(n) copying in all. */
#ifndef CIO_VEC_H
#define CIO_VEC_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* The array data (capacity *cap elements of size bytes) reallocated for at
 * least need > *cap elements, or NULL (data and *cap unchanged). */
static inline void *cio__vec_grow(void *data, size_t *cap, size_t need, size_t size,
                                  size_t min_cap) {
    size_t ncap = *cap ? *cap : min_cap;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    if (ncap > SIZE_MAX / size)
        return NULL;
    void *grown = realloc(data, ncap * size);
    if (grown)
        *cap = ncap;
    return grown;
}

/* Makes room for at least need elements in the typed array ptr (an lvalue)
 * of capacity *cap (a size_t), doubling from min_cap. 0, or -ENOMEM with the
 * array unchanged. New elements are uninitialized. */
#define cio__vec_reserve(ptr, cap, need, min_cap)                                                  \
    __extension__({                                                                                \
        int cio__r = 0;                                                                            \
        size_t cio__need = (need);                                                                 \
        if (cio__need > *(cap)) {                                                                  \
            void *cio__g = cio__vec_grow((ptr), (cap), cio__need, sizeof *(ptr), (min_cap));       \
            if (cio__g)                                                                            \
                (ptr) = cio__g;                                                                    \
            else                                                                                   \
                cio__r = -ENOMEM;                                                                  \
        }                                                                                          \
        cio__r;                                                                                    \
    })

#endif
