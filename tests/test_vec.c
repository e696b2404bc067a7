/* runtime/vec.h: the growable array of the runtime: room on demand,
 * doubling from a minimum, contents kept, and -ENOMEM with the array
 * untouched when the size cannot be had. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include "vec.h"

static void test_grows_and_keeps(void **state) {
    (void)state;
    int *a = NULL;
    size_t n = 0, cap = 0;
    assert_int_equal(cio__vec_reserve(a, &cap, 0, 4), 0); /* nothing asked: nothing made */
    assert_null(a);
    assert_int_equal(cap, 0);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(cio__vec_reserve(a, &cap, n + 1, 4), 0);
        assert_true(cap >= n + 1);
        a[n++] = i;
    }
    assert_int_equal(cap, 1024); /* 4, 8, ... doubled */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(a[i], i);
    int *before = a;
    assert_int_equal(cio__vec_reserve(a, &cap, 1000, 4), 0); /* fits: untouched */
    assert_ptr_equal(a, before);
    assert_int_equal(cio__vec_reserve(a, &cap, 5000, 4), 0); /* a big step at once */
    assert_int_equal(cap, 8192);
    assert_int_equal(a[999], 999);
    free(a);
}

static void test_impossible_size(void **state) {
    (void)state;
    uint64_t *a = NULL;
    size_t cap = 0;
    assert_int_equal(cio__vec_reserve(a, &cap, 2, 2), 0);
    a[0] = 7;
    uint64_t *before = a;
    assert_int_equal(cio__vec_reserve(a, &cap, SIZE_MAX / 4, 2), -ENOMEM); /* overflows */
    assert_ptr_equal(a, before);
    assert_int_equal(cap, 2);
    assert_int_equal(a[0], 7);
    free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grows_and_keeps),
        cmocka_unit_test(test_impossible_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
