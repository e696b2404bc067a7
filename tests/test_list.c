/* runtime/list.h: the intrusive list every runtime module links through:
 * order, counts, unlinking anywhere (also while visiting), splicing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include "cio_test.h" /* cmocka, each test in its own process */

#include "list.h"

typedef struct item {
    int v;
    cio__list_node link;
} item;

static int at(const cio__list *l, size_t i) {
    cio__list_node *x = l->head;
    while (i--)
        x = x->next;
    return cio__list_entry(x, item, link)->v;
}

/* Walks both ways: the links agree with each other and with n. */
static void check(const cio__list *l, const int *want, size_t n) {
    assert_int_equal(l->n, n);
    assert_true(cio__list_empty(l) == (n == 0));
    size_t i = 0;
    cio__list_node *prev = NULL;
    for (cio__list_node *x = l->head; x; prev = x, x = x->next, i++) {
        assert_true(i < n);
        assert_int_equal(cio__list_entry(x, item, link)->v, want[i]);
        assert_ptr_equal(x->prev, prev);
    }
    assert_int_equal(i, n);
    assert_ptr_equal(l->tail, prev);
    for (cio__list_node *x = l->tail; x; x = x->prev)
        assert_int_equal(cio__list_entry(x, item, link)->v, want[--i]);
    assert_int_equal(i, 0);
}

static void test_push_pop_remove(void **state) {
    (void)state;
    item it[5];
    cio__list l = {0};
    check(&l, NULL, 0);
    assert_null(cio__list_pop_front(&l));
    for (int i = 0; i < 4; i++) {
        it[i].v = i;
        cio__list_push_back(&l, &it[i].link);
    }
    it[4].v = 4;
    cio__list_push_front(&l, &it[4].link);
    check(&l, (int[]){4, 0, 1, 2, 3}, 5);
    cio__list_remove(&l, &it[1].link); /* middle */
    check(&l, (int[]){4, 0, 2, 3}, 4);
    cio__list_remove(&l, &it[3].link); /* tail */
    check(&l, (int[]){4, 0, 2}, 3);
    assert_null(it[3].link.next);
    assert_null(it[3].link.prev);
    assert_int_equal(cio__list_entry(cio__list_pop_front(&l), item, link)->v, 4); /* head */
    check(&l, (int[]){0, 2}, 2);
    cio__list_remove(&l, &it[0].link);
    cio__list_remove(&l, &it[2].link);
    check(&l, NULL, 0);
    assert_null(l.head);
    assert_null(l.tail);
}

static void test_each_may_unlink(void **state) {
    (void)state;
    item it[6];
    cio__list l = {0};
    for (int i = 0; i < 6; i++) {
        it[i].v = i;
        cio__list_push_back(&l, &it[i].link);
    }
    int seen = 0;
    cio__list_each(&l, x, next) {
        item *e = cio__list_entry(x, item, link);
        assert_int_equal(e->v, seen++);
        if (e->v % 2 == 0)
            cio__list_remove(&l, x);
    }
    assert_int_equal(seen, 6);
    check(&l, (int[]){1, 3, 5}, 3);
    assert_int_equal(at(&l, 1), 3);
}

static void test_splice(void **state) {
    (void)state;
    item it[4];
    cio__list a = {0}, b = {0};
    for (int i = 0; i < 4; i++) {
        it[i].v = i;
        cio__list_push_back(i < 2 ? &a : &b, &it[i].link);
    }
    cio__list_splice(&a, &b);
    check(&a, (int[]){0, 1, 2, 3}, 4);
    check(&b, NULL, 0);
    cio__list_splice(&a, &b); /* an empty source: nothing moves */
    check(&a, (int[]){0, 1, 2, 3}, 4);
    cio__list_splice(&b, &a); /* into an empty list */
    check(&b, (int[]){0, 1, 2, 3}, 4);
    check(&a, NULL, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_pop_remove),
        cmocka_unit_test(test_each_may_unlink),
        cmocka_unit_test(test_splice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
