/* The name of the function at an address, for messages about jobs. */
#ifndef CIO_SYMBOL_H
#define CIO_SYMBOL_H

#include <stddef.h>

/* Writes "name" (or "name+0xoff") for the function containing addr into buf:
 * the dynamic symbol table first (dladdr), then the static one of the object
 * file on disk (a program's own static functions); "0x<addr>" when neither
 * knows it. Returns buf. Not for hot paths: it may read the file. */
const char *cio__symbol_name(const void *addr, char *buf, size_t cap);

#endif
