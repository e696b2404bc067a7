/* Advice on many ranges in one system call: trimming, restoring and
 * releasing stacks by the 64 or the thousand (a zap is a TLB flush, 5-8 us
 * on the VMs cio is measured on). A page fault there costs ~22 us, while
 * MADV_POPULATE_WRITE of the same page costs 2.4 us alone and 0.8 us in a
 * batch: a restored stack gets its pages by advice, not by faults. (New
 * stack slots are not populated ahead: measured there, tasks parked on
 * pages populated ahead woke 15-25 us slower after seconds asleep.) */
#ifndef CIO_MADV_H
#define CIO_MADV_H

#include <stddef.h>
#include <sys/mman.h>
#include <sys/uio.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13; glibc 2.36 headers lack it */
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif

/* Applies advice to the n ranges of v: process_madvise(PIDFD_SELF) where
 * the kernel takes any advice that way (6.15), one madvise per range
 * elsewhere. 0, or the negative errno of the first range that failed
 * (ranges before it are advised, ranges after it are not). */
int cio__madvise_many(const struct iovec *v, size_t n, int advice);

/* Async-signal-safe: the page-aligned span around [p, p + len) made
 * resident and writable without a fault. Errors are ignored: a later
 * touch faults the pages in instead. */
void cio__madvise_populate(void *p, size_t len);
/* The whole pages around [p, p + len). Async-signal-safe. */
struct iovec cio__page_span(const void *p, size_t len);

#endif
