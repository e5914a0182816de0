/*
 * test_qproto.c : query-protocol requests: round trip of every field,
 * version and op checks, type errors named by key, hostile input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "kiseki/qproto.h"

static void test_roundtrip(void **state)
{
	(void)state;
	ksk_qreq r, d;
	ksk_qreq_init(&r, KSK_Q_SEARCH);
	r.service = KSK_STR("orders");
	r.operation = KSK_STR("GET /api/orders/{id}");
	r.kind = 2;
	r.attrs[0] = (ksk_qattr){KSK_STR("http.response.status_code"), KSK_STR("503")};
	r.attrs[1] = (ksk_qattr){KSK_STR("cloud.region"), KSK_STR("eu-west-1")};
	r.n_attrs = 2;
	r.min_duration_ns = 5000000;
	r.max_duration_ns = 9000000000ull;
	r.min_spans = 3;
	r.max_spans = 50;
	r.errors_only = true;
	r.start_ns = 1764000000000000000ull;
	r.end_ns = 1764000100000000000ull;
	r.limit = 20;
	ksk_buf b;
	ksk_buf_init(&b, NULL, 0);
	assert_int_equal(ksk_qreq_encode(&r, &b), KSK_OK);
	ksk_errinfo ei;
	assert_int_equal(ksk_qreq_decode(b.data, b.len, &d, &ei), KSK_OK);
	assert_int_equal(d.op, KSK_Q_SEARCH);
	assert_true(ksk_str_eq(d.service, r.service));
	assert_true(ksk_str_eq(d.operation, r.operation));
	assert_int_equal(d.kind, 2);
	assert_int_equal(d.n_attrs, 2);
	assert_true(ksk_str_eq(d.attrs[1].value, KSK_STR("eu-west-1")));
	assert_int_equal(d.min_duration_ns, r.min_duration_ns);
	assert_int_equal(d.max_duration_ns, r.max_duration_ns);
	assert_int_equal(d.min_spans, 3);
	assert_int_equal(d.max_spans, 50);
	assert_true(d.errors_only);
	assert_int_equal(d.start_ns, r.start_ns);
	assert_int_equal(d.end_ns, r.end_ns);
	assert_int_equal(d.limit, 20);

	ksk_qreq_init(&r, KSK_Q_LOGS);
	r.has_trace_id = true;
	memset(r.trace_id, 0xab, 16);
	r.host = KSK_STR("node-01");
	r.regex = KSK_STR("(?i)timeout");
	r.severity_min = 13;
	r.severity_max = 24;
	r.cursor = 500;
	r.result = 0x1234567890ull;
	ksk_buf_clear(&b);
	assert_int_equal(ksk_qreq_encode(&r, &b), KSK_OK);
	assert_int_equal(ksk_qreq_decode(b.data, b.len, &d, &ei), KSK_OK);
	assert_int_equal(d.op, KSK_Q_LOGS);
	assert_true(d.has_trace_id);
	assert_int_equal(d.trace_id[15], 0xab);
	assert_true(ksk_str_eq(d.regex, r.regex));
	assert_int_equal(d.severity_min, 13);
	assert_int_equal(d.cursor, 500);
	assert_int_equal(d.result, 0x1234567890ull);
	assert_int_equal(d.kind, -1);
	ksk_buf_fini(&b);
	assert_string_equal(ksk_qop_name(KSK_Q_EDGES), "edges");
	assert_string_equal(ksk_qop_name((ksk_qop)99), "unknown");
}

/* hand-written maps for the error paths */
static void test_errors(void **state)
{
	(void)state;
	ksk_qreq d;
	ksk_errinfo ei;
	/* {"v":1,"op":"fly"} */
	const uint8_t bad_op[] = {0x82, 0xa1, 'v', 0x01, 0xa2, 'o', 'p', 0xa3, 'f', 'l', 'y'};
	assert_int_equal(ksk_qreq_decode(bad_op, sizeof(bad_op), &d, &ei), KSK_EINVAL);
	assert_non_null(strstr(ei.msg, "fly"));
	/* {"v":2,"op":"services"} */
	const uint8_t bad_v[] = {0x82, 0xa1, 'v', 0x02, 0xa2, 'o', 'p', 0xa8,
	                         's', 'e', 'r', 'v', 'i', 'c', 'e', 's'};
	assert_int_equal(ksk_qreq_decode(bad_v, sizeof(bad_v), &d, &ei), KSK_EVERSION);
	/* {"v":1,"op":"trace"} without trace_id */
	const uint8_t no_id[] = {0x82, 0xa1, 'v', 0x01, 0xa2, 'o', 'p', 0xa5, 't', 'r', 'a', 'c', 'e'};
	assert_int_equal(ksk_qreq_decode(no_id, sizeof(no_id), &d, &ei), KSK_EINVAL);
	assert_non_null(strstr(ei.msg, "trace_id"));
	/* {"v":1,"op":"services","limit":"x"} */
	const uint8_t bad_type[] = {0x83, 0xa1, 'v', 0x01, 0xa2, 'o', 'p', 0xa8, 's', 'e', 'r', 'v',
	                            'i', 'c', 'e', 's', 0xa5, 'l', 'i', 'm', 'i', 't', 0xa1, 'x'};
	assert_int_equal(ksk_qreq_decode(bad_type, sizeof(bad_type), &d, &ei), KSK_EINVAL);
	assert_non_null(strstr(ei.msg, "limit"));
	/* not a map, truncated, hostile count, trailing bytes */
	const uint8_t arr[] = {0x91, 0x01};
	assert_int_equal(ksk_qreq_decode(arr, sizeof(arr), &d, &ei), KSK_EMSGPACK);
	assert_int_equal(ksk_qreq_decode(bad_op, sizeof(bad_op) - 1, &d, &ei), KSK_EMSGPACK);
	const uint8_t hostile[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
	assert_int_equal(ksk_qreq_decode(hostile, sizeof(hostile), &d, &ei), KSK_EMSGPACK);
	uint8_t trailing[sizeof(no_id) + 1];
	memcpy(trailing, no_id, sizeof(no_id));
	trailing[sizeof(no_id)] = 0x00;
	assert_int_equal(ksk_qreq_decode(trailing, sizeof(trailing), &d, &ei), KSK_EMSGPACK);
	uint8_t big[KSK_Q_MAX_REQUEST + 1];
	memset(big, 0, sizeof(big));
	assert_int_equal(ksk_qreq_decode(big, sizeof(big), &d, &ei), KSK_ETOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests_name("qproto", tests, NULL, NULL);
}
