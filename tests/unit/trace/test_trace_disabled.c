/*
 * test_trace_disabled.c : built with -DKSK_TRACE_DISABLE: every macro is
 * gone (its arguments are not even evaluated), KSK_SPAN declares a NULL
 * span pointer that the functions accept, and nothing reaches the tracer
 * even though it is initialised.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "trace_test_util.h"

#ifndef KSK_TRACE_DISABLE
#error "this test must be built with -DKSK_TRACE_DISABLE"
#endif

static int evaluated;

__attribute__((unused)) static int side_effect(void)
{
	return ++evaluated;
}

static int work(void)
{
	KSK_SPAN_KIND(sp, "work", KSK_KIND_SERVER);
	KSK_SPAN_ATTR_INT(sp, "n", side_effect());
	KSK_SPAN_ATTR_STR(sp, "s", "x");
	KSK_SPAN_EVENT(sp, "e");
	KSK_SPAN_ERROR(sp, "no");
	ksk_trace_ctx c = ksk_trace_span_ctx(sp); /* functions take the NULL span */
	assert_false(ksk_trace_ctx_valid(&c));
	ksk_trace_end(sp);
	assert_null(sp);
	assert_false(KSK_SPAN_RECORDING(sp));
	assert_false(KSK_TRACE_ENABLED());
	return 1;
}

static void test_disabled(void **state)
{
	(void)state;
	tt_cap *cap = tt_cap_new();
	ksk_trace_opts o;
	tt_opts(&o, cap);
	ksk_errinfo ei;
	assert_int_equal(ksk_trace_init(&o, &ei), KSK_OK);
	assert_int_equal(work(), 1);
	assert_int_equal(evaluated, 0);
	assert_null(ksk_trace_current());
	ksk_trace_span sp;
	KSK_SPAN_BEGIN(&sp, "x", KSK_KIND_INTERNAL, NULL);
	KSK_SPAN_END(&sp);
	assert_int_equal(ksk_trace_flush(5000), KSK_OK);
	assert_int_equal(cap->n, 0);
	ksk_trace_shutdown();
	tt_cap_free(cap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disabled),
	};
	return cmocka_run_group_tests_name("trace_disabled", tests, NULL, NULL);
}
