/*
 * test_trace_sampling.c : libkiseki-trace sampling: the trace-ID ratio
 * decision (its boundary, and the same decision for the same trace in two
 * "services" with the same ratio), parent-based decisions for remote and
 * local parents, and the root rate limit (token bucket) on a manual clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "trace_test_util.h"

#define N_TRACES 2000

static void test_ratio_boundary(void **state)
{
	(void)state;
	uint8_t tid[16];
	memset(tid, 0xab, sizeof(tid));
	assert_true(ksk_trace_ratio_sampled(tid, 1.0));
	assert_false(ksk_trace_ratio_sampled(tid, 0.0));
	memset(tid, 0xff, sizeof(tid));
	assert_false(ksk_trace_ratio_sampled(tid, 0.0)); /* even the largest value */
	memset(tid, 0, sizeof(tid));
	tid[0] = 0xff;                                    /* high bytes do not count */
	assert_false(ksk_trace_ratio_sampled(tid, 0.5));
	tid[9] = 0x80;                                    /* low 56 bits = 2^55 */
	assert_true(ksk_trace_ratio_sampled(tid, 0.5));
	tid[9] = 0x7f;
	memset(tid + 10, 0xff, 6);                        /* 2^55 - 1 */
	assert_false(ksk_trace_ratio_sampled(tid, 0.5));
	assert_true(ksk_trace_ratio_sampled(tid, 0.51));
	assert_false(ksk_trace_ratio_sampled(NULL, 1.0));
}

static ksk_trace_ctx remote_ctx(const uint8_t *tid, uint8_t flags)
{
	ksk_trace_ctx c;
	memset(&c, 0, sizeof(c));
	memcpy(c.trace_id, tid, 16);
	memset(c.span_id, 0x11, 8);
	c.flags = flags;
	c.remote = true;
	return c;
}

static void test_consistent_across_services(void **state)
{
	(void)state;
	static uint8_t tids[N_TRACES][16];
	static bool decided[N_TRACES];
	tt_cap *cap = tt_cap_new();
	ksk_trace_opts o;
	ksk_errinfo ei;

	/* service A: roots, ratio 0.25 */
	tt_opts(&o, cap);
	o.service_name = "svc-a";
	o.sample_ratio = 0.25;
	o.ring_slots = 4096;
	assert_int_equal(ksk_trace_init(&o, &ei), KSK_OK);
	uint32_t n_sampled = 0;
	for (int i = 0; i < N_TRACES; i++) {
		KSK_SPAN(sp, "a-root");
		memcpy(tids[i], sp->trace_id, 16);
		decided[i] = KSK_SPAN_RECORDING(sp);
		assert_int_equal(decided[i], ksk_trace_ratio_sampled(sp->trace_id, 0.25));
		assert_int_equal((sp->flags & 1) != 0, decided[i]);
		n_sampled += decided[i];
		/* a local child always follows its parent */
		KSK_SPAN(child, "a-child");
		assert_int_equal(KSK_SPAN_RECORDING(child), decided[i]);
	}
	assert_int_equal(ksk_trace_flush(5000), KSK_OK);
	assert_int_equal(cap->n, 2 * n_sampled);
	assert_true(n_sampled > N_TRACES / 5 && n_sampled < N_TRACES * 3 / 10);
	ksk_trace_shutdown();

	/* service B: not parent-based, same ratio: decides the same from the
	 * trace ID alone, whatever the incoming flag says */
	tt_cap_reset(cap);
	tt_opts(&o, cap);
	o.service_name = "svc-b";
	o.sample_ratio = 0.25;
	o.parent_based = false;
	o.ring_slots = 4096;
	assert_int_equal(ksk_trace_init(&o, &ei), KSK_OK);
	uint32_t same = 0;
	for (int i = 0; i < N_TRACES; i++) {
		ksk_trace_ctx c = remote_ctx(tids[i], (i & 1) ? 1 : 0);
		KSK_SPAN_CHILD(sp, "b-server", KSK_KIND_SERVER, &c);
		same += KSK_SPAN_RECORDING(sp) == decided[i];
	}
	assert_int_equal(same, N_TRACES);
	assert_int_equal(ksk_trace_flush(5000), KSK_OK);
	assert_int_equal(cap->n, n_sampled);
	assert_string_equal(cap->service, "svc-b");
	ksk_trace_shutdown();

	/* service C: parent-based (the default): the flag decides */
	tt_cap_reset(cap);
	tt_opts(&o, cap);
	o.sample_ratio = 0.25;
	assert_int_equal(ksk_trace_init(&o, &ei), KSK_OK);
	for (int i = 0; i < 200; i++) {
		ksk_trace_ctx c = remote_ctx(tids[i], (i & 1) ? 1 : 0);
		KSK_SPAN_CHILD(sp, "c-server", KSK_KIND_SERVER, &c);
		assert_int_equal(KSK_SPAN_RECORDING(sp), (i & 1) != 0);
	}
	ksk_trace_shutdown();
	tt_cap_free(cap);
}

static void test_rate_limit(void **state)
{
	(void)state;
	ksk_manual_clock mc;
	ksk_manual_clock_init(&mc, 1700000000000000000ull);
	ksk_trace_opts o;
	tt_opts(&o, NULL);
	o.clock = &mc.clock;
	o.rate_limit = 10; /* roots per second, bucket of 10 */
	ksk_errinfo ei;
	assert_int_equal(ksk_trace_init(&o, &ei), KSK_OK);
	int sampled = 0;
	for (int i = 0; i < 15; i++) {
		KSK_SPAN(sp, "root");
		sampled += KSK_SPAN_RECORDING(sp);
		if (i >= 10)
			assert_false(KSK_SPAN_RECORDING(sp)); /* the bucket is empty */
	}
	assert_int_equal(sampled, 10);
	ksk_trace_stats st;
	ksk_trace_stats_get(&st);
	assert_int_equal(st.rate_limited, 5);
	{
		ksk_trace_span r;
		KSK_SPAN_BEGIN(&r, "r", KSK_KIND_INTERNAL, NULL);
		assert_false(KSK_SPAN_RECORDING(&r));
		KSK_SPAN_END(&r);
	}
	ksk_manual_clock_advance(&mc, 100000000ull); /* 100 ms: one token */
	{
		KSK_SPAN(sp, "after-100ms");
		assert_true(KSK_SPAN_RECORDING(sp));
		for (int i = 0; i < 5; i++) {
			KSK_SPAN(child, "child");
			assert_true(KSK_SPAN_RECORDING(child)); /* not limited */
		}
	}
	{
		KSK_SPAN(sp, "no-token");
		assert_false(KSK_SPAN_RECORDING(sp));
	}
	ksk_manual_clock_advance(&mc, 5000000000ull); /* a full bucket, no more */
	sampled = 0;
	for (int i = 0; i < 20; i++) {
		KSK_SPAN(sp, "root");
		sampled += KSK_SPAN_RECORDING(sp);
	}
	assert_int_equal(sampled, 10);
	ksk_trace_shutdown();
}

static void test_ratio_zero_keeps_context(void **state)
{
	(void)state;
	ksk_trace_opts o;
	tt_opts(&o, NULL);
	o.sample_ratio = 0;
	ksk_errinfo ei;
	assert_int_equal(ksk_trace_init(&o, &ei), KSK_OK);
	{
		KSK_SPAN(sp, "root");
		assert_false(KSK_SPAN_RECORDING(sp));
		KSK_SPAN(child, "child");
		assert_false(KSK_SPAN_RECORDING(child));
		assert_memory_equal(child->trace_id, sp->trace_id, 16);
		assert_memory_equal(child->parent_id, sp->span_id, 8);
		assert_ptr_equal(ksk_trace_current(), child);
		ksk_trace_ctx c = ksk_trace_current_ctx();
		assert_true(ksk_trace_ctx_valid(&c));
		assert_int_equal(c.flags, KSK_TRACE_FLAG_RANDOM);
	}
	ksk_trace_stats st;
	ksk_trace_stats_get(&st);
	assert_int_equal(st.rate_limited, 0);
	ksk_trace_shutdown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ratio_boundary),
		cmocka_unit_test(test_consistent_across_services),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_ratio_zero_keeps_context),
	};
	return cmocka_run_group_tests_name("trace_sampling", tests, NULL, NULL);
}
