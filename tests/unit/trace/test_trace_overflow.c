/*
 * test_trace_overflow.c : libkiseki-trace under a full ring: span ends
 * never wait, the spans that do not fit are dropped and counted per
 * thread, the ones that fit are exported, and the ring is usable again
 * once drained.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "trace_test_util.h"

static void *burst(void *arg)
{
	int n = *(int *)arg;
	for (int i = 0; i < n; i++) {
		KSK_SPAN(sp, "thread-burst");
		KSK_SPAN_ATTR_INT(sp, "i", i);
	}
	return NULL;
}

static void test_overflow(void **state)
{
	(void)state;
	tt_cap *cap = tt_cap_new();
	ksk_trace_opts o;
	tt_opts(&o, cap);
	o.ring_slots = 8;
	o.flush_interval_ms = 60000; /* nothing drains until we flush */
	ksk_errinfo ei;
	assert_int_equal(ksk_trace_init(&o, &ei), KSK_OK);
	for (int i = 0; i < 100; i++) {
		KSK_SPAN(sp, "burst");
		KSK_SPAN_ATTR_INT(sp, "i", i);
	}
	ksk_trace_stats st;
	ksk_trace_stats_get(&st);
	assert_int_equal(st.dropped_ring_full, 92);
	assert_int_equal(st.spans_exported, 0);
	assert_int_equal(st.threads, 1);
	assert_int_equal(ksk_trace_flush(5000), KSK_OK);
	ksk_trace_stats_get(&st);
	assert_int_equal(st.spans_exported, 8);
	assert_int_equal(cap->n, 8);
	/* the first 8 are kept, in order */
	for (uint32_t i = 0; i < 8; i++)
		assert_int_equal(cap->spans[i].attrs[0].i, (int64_t)i);

	/* the drained ring takes 8 again; another thread has its own ring */
	tt_cap_reset(cap);
	for (int i = 0; i < 8; i++) {
		KSK_SPAN(sp, "again");
	}
	int n = 20;
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, burst, &n), 0);
	pthread_join(th, NULL);
	ksk_trace_stats_get(&st);
	assert_int_equal(st.dropped_ring_full, 92 + 12);
	assert_int_equal(ksk_trace_flush(5000), KSK_OK);
	assert_int_equal(tt_count(cap, "again"), 8);
	assert_int_equal(tt_count(cap, "thread-burst"), 8);
	/* the exited thread's ring is freed; its drops stay counted */
	assert_int_equal(ksk_trace_flush(5000), KSK_OK);
	ksk_trace_stats_get(&st);
	assert_int_equal(st.threads, 1);
	assert_int_equal(st.dropped_ring_full, 92 + 12);
	assert_int_equal(st.spans_exported, 8 + 16);
	ksk_trace_shutdown();
	tt_cap_free(cap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overflow),
	};
	return cmocka_run_group_tests_name("trace_overflow", tests, NULL, NULL);
}
