/*
 * test_arena.c : arena, growable buffer, allocator tables and the manual
 * clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "kiseki/arena.h"
#include "kiseki/buf.h"
#include "kiseki/clock.h"

static void test_arena_alignment_and_reuse(void **state)
{
	(void)state;
	ksk_arena *a;
	assert_int_equal(ksk_arena_create(NULL, 1024, 0, &a), KSK_OK);
	for (int i = 1; i < 200; i++) {
		unsigned char *p = ksk_arena_alloc(a, (size_t)i);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 16, 0);
		memset(p, 0xab, (size_t)i);
	}
	size_t held = ksk_arena_held(a);
	assert_true(held > 1024);
	ksk_arena_reset(a);
	assert_int_equal(ksk_arena_used(a), 0);
	assert_true(ksk_arena_held(a) < held);
	/* a big request gets its own chunk */
	void *big = ksk_arena_alloc(a, 100000);
	assert_non_null(big);
	char *s = ksk_arena_memdup(a, "hello", 5);
	assert_string_equal(s, "hello");
	unsigned char *z = ksk_arena_calloc(a, 10, 10);
	for (int i = 0; i < 100; i++)
		assert_int_equal(z[i], 0);
	assert_null(ksk_arena_calloc(a, SIZE_MAX / 2, 4));
	assert_int_equal(ksk_arena_error(a), KSK_ELIMIT);
	ksk_arena_destroy(a);
	ksk_arena_destroy(NULL);
}

static void test_arena_cap(void **state)
{
	(void)state;
	ksk_arena *a;
	assert_int_equal(ksk_arena_create(NULL, 4096, 16384, &a), KSK_OK);
	size_t got = 0;
	while (ksk_arena_alloc(a, 1000))
		got += 1000;
	assert_int_equal(ksk_arena_error(a), KSK_ELIMIT);
	assert_true(got >= 8000 && got <= 16384);
	assert_true(ksk_arena_held(a) <= 16384);
	ksk_arena_reset(a);
	assert_int_equal(ksk_arena_error(a), KSK_OK);
	assert_non_null(ksk_arena_alloc(a, 1000));
	ksk_arena_destroy(a);
}

static void test_arena_enomem_injection(void **state)
{
	(void)state;
	for (unsigned long k = 1; k <= 6; k++) {
		ksk_failalloc fa;
		ksk_failalloc_init(&fa, k, 1);
		ksk_arena *a = NULL;
		ksk_err rc = ksk_arena_create(&fa.table, 256, 0, &a);
		if (rc == KSK_OK) {
			int failed = 0;
			for (int i = 0; i < 10; i++) {
				if (!ksk_arena_alloc(a, 300)) {
					assert_int_equal(ksk_arena_error(a), KSK_ENOMEM);
					failed = 1;
					break;
				}
			}
			assert_true(failed || k > 11);
			ksk_arena_destroy(a);
		} else {
			assert_int_equal(rc, KSK_ENOMEM);
		}
		assert_int_equal(fa.live, 0);
	}
}

static void test_buf_growth_cap_and_sticky_error(void **state)
{
	(void)state;
	ksk_buf b;
	ksk_buf_init(&b, NULL, 1000);
	for (int i = 0; i < 100; i++)
		assert_int_equal(ksk_buf_append(&b, "0123456789", 10), KSK_OK);
	assert_int_equal(b.len, 1000);
	assert_int_equal(ksk_buf_append(&b, "x", 1), KSK_ELIMIT);
	assert_int_equal(ksk_buf_append(&b, "", 0), KSK_ELIMIT); /* sticky */
	ksk_buf_clear(&b);
	assert_int_equal(ksk_buf_append(&b, "abc", 3), KSK_OK);
	assert_memory_equal(b.data, "abc", 3);
	ksk_buf_fini(&b);
	ksk_buf_fini(&b);

	ksk_failalloc fa;
	ksk_failalloc_init(&fa, 1, 0);
	ksk_buf_init(&b, &fa.table, 0);
	assert_int_equal(ksk_buf_append(&b, "abc", 3), KSK_ENOMEM);
	ksk_buf_clear(&b);
	assert_int_equal(ksk_buf_append(&b, "abc", 3), KSK_OK);
	ksk_buf_fini(&b);
	assert_int_equal(fa.live, 0);
}

static void test_grow(void **state)
{
	(void)state;
	int *arr = NULL;
	size_t cap = 0;
	assert_true(ksk_grow(ksk_alloc_default(), (void **)&arr, &cap, 3, sizeof(int), 4));
	assert_int_equal(cap, 4);
	for (int i = 0; i < 4; i++)
		arr[i] = i;
	assert_true(ksk_grow(ksk_alloc_default(), (void **)&arr, &cap, 4, sizeof(int), 4));
	assert_int_equal(cap, 4); /* already room */
	assert_true(ksk_grow(ksk_alloc_default(), (void **)&arr, &cap, 9, sizeof(int), 4));
	assert_int_equal(cap, 16);
	assert_int_equal(arr[3], 3); /* contents kept */
	/* overflow and allocation failure leave the array untouched */
	int *before = arr;
	assert_false(ksk_grow(ksk_alloc_default(), (void **)&arr, &cap, SIZE_MAX / 2, sizeof(int), 4));
	assert_ptr_equal(arr, before);
	assert_int_equal(cap, 16);
	ksk_failalloc fa;
	ksk_failalloc_init(&fa, 1, 0);
	void *p = NULL;
	size_t pc = 0;
	assert_false(ksk_grow(&fa.table, &p, &pc, 10, 8, 0));
	assert_null(p);
	assert_int_equal(pc, 0);
	assert_true(ksk_grow(&fa.table, &p, &pc, 10, 8, 0));
	assert_int_equal(pc, 16);
	ksk_free(&fa.table, p);
	assert_int_equal(fa.live, 0);
	free(arr);
}

static void test_manual_clock(void **state)
{
	(void)state;
	ksk_manual_clock mc;
	ksk_manual_clock_init(&mc, 1000);
	const ksk_clock *c = &mc.clock;
	assert_int_equal(ksk_clock_wall(c), 1000);
	assert_int_equal(ksk_clock_mono(c), 0);
	ksk_manual_clock_advance(&mc, 500);
	assert_int_equal(ksk_clock_wall(c), 1500);
	assert_int_equal(ksk_clock_mono(c), 500);
	const ksk_clock *sys = ksk_clock_system();
	uint64_t m1 = ksk_clock_mono(sys), m2 = ksk_clock_mono(sys);
	assert_true(m2 >= m1);
	assert_true(ksk_clock_wall(sys) > 1600000000ull * 1000000000ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arena_alignment_and_reuse),
		cmocka_unit_test(test_arena_cap),
		cmocka_unit_test(test_arena_enomem_injection),
		cmocka_unit_test(test_buf_growth_cap_and_sticky_error),
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_manual_clock),
	};
	return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
