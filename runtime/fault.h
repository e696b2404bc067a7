/* Fault injection (build with -DCIO_FAULT_INJECTION): allocation, SQE
 * acquisition, stack mappings, thread creation and fork can be made to fail
 * at random, to prove that every public call then returns an error instead
 * of crashing, leaking or leaving a future pending. Configured by
 * cio__fault_set() or the environment:
 *     CIO_FAULT="alloc=0.01,sqe=0.05,stack=0.02,thread=0.2,fork=0.2,seed=7" */
#ifndef CIO_FAULT_H
#define CIO_FAULT_H

#include <stdbool.h>

enum {
    CIO__FAULT_ALLOC,
    CIO__FAULT_SQE,
    CIO__FAULT_STACK,
    CIO__FAULT_THREAD,
    CIO__FAULT_FORK,
    CIO__FAULT_POINTS
};

#ifdef CIO_FAULT_INJECTION
/* Whether this call at `point` should fail. Thread-safe. */
bool cio__fault(int point);
/* probability in [0, 1]; seed 0 keeps the current sequence. */
void cio__fault_set(int point, double probability, unsigned long seed);
/* How many failures were injected at `point` so far. */
unsigned long cio__fault_count(int point);
#define CIO__FAULT(point) cio__fault(point)
#else
#define CIO__FAULT(point) false
#endif

#endif
