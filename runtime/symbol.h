/* Function names from addresses (default task names, the overflow report). */
#ifndef CIO_SYMBOL_H
#define CIO_SYMBOL_H

#include <stdbool.h>
#include <stddef.h>

/* Copies the name of the function that starts at addr into buf (cut to
 * cap - 1 bytes); false when none is known (a stripped binary). Allocates
 * nothing and keeps no state: usable from the overflow reporter's handler. */
bool cio__symbol_name(const void *addr, char *buf, size_t cap);

#endif
