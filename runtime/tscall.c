#include "tscall.h"

cio__ts_call *cio__ts_claim(cio__ts_slots *t) {
    for (int w = 0; w < CIO__TS_SLOTS / 64; w++) {
        uint64_t v = atomic_load_explicit(&t->used[w], memory_order_relaxed);
        while (~v) {
            int bit = __builtin_ctzll(~v);
            /* acquire: the loop's release of this slot happened before we reuse it */
            if (atomic_compare_exchange_weak_explicit(&t->used[w], &v, v | (1ULL << bit),
                                                      memory_order_acquire, memory_order_relaxed))
                return &t->calls[w * 64 + bit];
        }
    }
    return NULL;
}

void cio__ts_release(cio__ts_slots *t, cio__ts_call *c) {
    int i = (int)(c - t->calls);
    atomic_fetch_and_explicit(&t->used[i / 64], ~(1ULL << (i % 64)), memory_order_release);
}
