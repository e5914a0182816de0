/*
 * test_trace_ctx.c : W3C Trace Context in libkiseki-trace: traceparent
 * and tracestate extract/inject against the valid and invalid cases of the
 * W3C specification and its test suite (interop-specs 1a). Pure functions:
 * no tracer is needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "kiseki/trace.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define PID "00f067aa0ba902b7"

static ksk_err ex(const char *tp, const char *ts, ksk_trace_remote *r)
{
	return ksk_trace_extract(tp, ts, r);
}

static void test_valid_traceparent(void **state)
{
	(void)state;
	ksk_trace_remote r;
	assert_int_equal(ex("00-" TID "-" PID "-01", NULL, &r), KSK_OK);
	assert_true(ksk_trace_ctx_valid(&r.ctx));
	assert_true(r.ctx.remote);
	assert_int_equal(r.ctx.flags, 1);
	uint8_t tid[16], pid[8];
	ksk_hex_decode(TID, 32, tid, 16, false);
	ksk_hex_decode(PID, 16, pid, 8, false);
	assert_memory_equal(r.ctx.trace_id, tid, 16);
	assert_memory_equal(r.ctx.span_id, pid, 8);
	assert_int_equal(r.ctx.tracestate_len, 0);

	assert_int_equal(ex("00-" TID "-" PID "-00", NULL, &r), KSK_OK);
	assert_int_equal(r.ctx.flags, 0);
	/* random flag kept; unknown (reserved) bits dropped */
	assert_int_equal(ex("00-" TID "-" PID "-03", NULL, &r), KSK_OK);
	assert_int_equal(r.ctx.flags, 3);
	assert_int_equal(ex("00-" TID "-" PID "-ff", NULL, &r), KSK_OK);
	assert_int_equal(r.ctx.flags, 3);
	assert_int_equal(ex("00-" TID "-" PID "-08", NULL, &r), KSK_OK);
	assert_int_equal(r.ctx.flags, 0);
	/* spaces and tabs around the value */
	assert_int_equal(ex(" \t00-" TID "-" PID "-01\t ", NULL, &r), KSK_OK);
	assert_int_equal(r.ctx.flags, 1);
	/* higher versions: parsed at the version-00 positions, rest ignored */
	assert_int_equal(ex("cc-" TID "-" PID "-01-what-the-future-will-be-like", NULL, &r),
	                 KSK_OK);
	assert_memory_equal(r.ctx.trace_id, tid, 16);
	assert_int_equal(ex("01-" TID "-" PID "-01", NULL, &r), KSK_OK);
	assert_int_equal(ex("fe-" TID "-" PID "-09-", NULL, &r), KSK_OK);
	assert_int_equal(r.ctx.flags, 1);
}

static void test_invalid_traceparent(void **state)
{
	(void)state;
	static const char *const bad[] = {
		/* version ff is forbidden; bad version forms */
		"ff-" TID "-" PID "-01",
		"0-" TID "-" PID "-01",
		"000-" TID "-" PID "-01",
		"0g-" TID "-" PID "-01",
		"AA-" TID "-" PID "-01",
		/* uppercase hex anywhere */
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-" PID "-01",
		"00-" TID "-00F067AA0BA902B7-01",
		"00-" TID "-" PID "-0A",
		/* all-zero IDs */
		"00-00000000000000000000000000000000-" PID "-01",
		"00-" TID "-0000000000000000-01",
		/* wrong lengths */
		"00-4bf92f3577b34da6a3ce929d0e0e473-" PID "-01",
		"00-4bf92f3577b34da6a3ce929d0e0e47366-" PID "-01",
		"00-" TID "-00f067aa0ba902b-01",
		"00-" TID "-00f067aa0ba902b77-01",
		"00-" TID "-" PID "-1",
		"00-" TID "-" PID "-011",
		/* non-hex characters, wrong separators */
		"00-" TID "-" PID "-0g",
		"00-" TID "-" PID "-.1",
		"00-4bf92f3577b34da6a3ce929d0e0e473x-" PID "-01",
		"00_" TID "-" PID "-01",
		"00-" TID "_" PID "-01",
		"00-" TID "-" PID "_01",
		/* version 00 with anything after the flags */
		"00-" TID "-" PID "-01-extra",
		"00-" TID "-" PID "-01.",
		/* higher version: too short, or flags not followed by '-' */
		"cc-" TID "-" PID "-0",
		"cc-" TID "-" PID "-01.what-the-future-will-be-like",
		"cc-" TID "-" PID "-0x-what",
		/* empty and junk */
		"",
		"   ",
		"00",
		"00-",
		"hello world",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ksk_trace_remote r;
		memset(&r, 0x55, sizeof(r));
		ksk_err rc = ex(bad[i], "foo=bar", &r);
		if (rc != KSK_EPARSE)
			fail_msg("accepted or wrong code %d: \"%s\"", (int)rc, bad[i]);
		assert_false(ksk_trace_ctx_valid(&r.ctx));
		assert_int_equal(r.ctx.tracestate_len, 0); /* tracestate ignored */
		assert_string_equal(r.tracestate, "");
	}
	ksk_trace_remote r;
	assert_int_equal(ex(NULL, "foo=bar", &r), KSK_ENOTFOUND);
	assert_false(ksk_trace_ctx_valid(&r.ctx));
	/* two traceparent header lines: invalid */
	ksk_str two[2] = {KSK_STR("00-" TID "-" PID "-01"), KSK_STR("00-" TID "-" PID "-01")};
	assert_int_equal(ksk_trace_extract_lines(two, 2, NULL, 0, &r), KSK_EPARSE);
	assert_int_equal(ksk_trace_extract_lines(two, 1, NULL, 0, &r), KSK_OK);
}

static const char *ts_of(const char *ts)
{
	static ksk_trace_remote r;
	assert_int_equal(ex("00-" TID "-" PID "-01", ts, &r), KSK_OK);
	assert_int_equal(r.ctx.tracestate_len, strlen(r.tracestate));
	if (r.ctx.tracestate_len)
		assert_ptr_equal(r.ctx.tracestate, r.tracestate);
	return r.tracestate;
}

static void test_tracestate(void **state)
{
	(void)state;
	assert_string_equal(ts_of("foo=1,bar=2"), "foo=1,bar=2");
	assert_string_equal(ts_of(" foo=1 ,\t, bar=2 ,,"), "foo=1,bar=2");
	assert_string_equal(ts_of(""), "");
	assert_string_equal(ts_of("tenant@vendor=x,a_b-c*d/e=y,0k=z"),
	                    "tenant@vendor=x,a_b-c*d/e=y,0k=z");
	assert_string_equal(ts_of("k=v with spaces"), "k=v with spaces");
	/* any bad member drops the whole tracestate, never the traceparent */
	static const char *const bad[] = {
		"Foo=1",           /* uppercase key */
		"_foo=1",          /* key must start with a-z or 0-9 */
		"foo=1,foo=2",     /* duplicate key */
		"foo",             /* no '=' */
		"=1",              /* empty key */
		"foo=",            /* empty value */
		"foo=a=b",         /* '=' in the value */
		"foo=\x01",        /* control character */
		"foo=\x7f",
		"fo o=1",
		"foo=1;bar=2",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *got = ts_of(bad[i]);
		if (*got)
			fail_msg("kept bad tracestate \"%s\" as \"%s\"", bad[i], got);
	}
	/* 32 members are fine, 33 are not */
	char buf[2048];
	size_t o = 0;
	for (int i = 0; i < 33; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%sk%d=v", i ? "," : "", i);
	assert_string_equal(ts_of(buf), "");
	char *last = strrchr(buf, ',');
	*last = '\0';
	assert_string_equal(ts_of(buf), buf);
	/* key length 256 ok, 257 not; value 256 ok, 257 not */
	char k[300];
	memset(k, 'k', sizeof(k));
	snprintf(buf, sizeof(buf), "%.256s=v", k);
	assert_true(strlen(ts_of(buf)) == 258);
	snprintf(buf, sizeof(buf), "%.257s=v", k);
	assert_string_equal(ts_of(buf), "");
	snprintf(buf, sizeof(buf), "k=%.256s", k);
	assert_true(strlen(ts_of(buf)) == 258);
	snprintf(buf, sizeof(buf), "k=%.257s", k);
	assert_string_equal(ts_of(buf), "");
	/* several header lines are joined */
	ksk_trace_remote r;
	ksk_str tp = KSK_STR("00-" TID "-" PID "-01");
	ksk_str lines[3] = {KSK_STR("foo=1"), KSK_STR(""), KSK_STR("bar=2, baz=3")};
	assert_int_equal(ksk_trace_extract_lines(&tp, 1, lines, 3, &r), KSK_OK);
	assert_string_equal(r.tracestate, "foo=1,bar=2,baz=3");
}

static void test_tracestate_truncation(void **state)
{
	(void)state;
	/* 100 + 200 + 100 + 200 chars: over 512, so members over 128 go first,
	 * from the right: the last big one is enough */
	char buf[2048], v[300];
	memset(v, 'x', sizeof(v));
	snprintf(buf, sizeof(buf), "a=%.98s,b=%.198s,c=%.98s,d=%.198s", v, v, v, v);
	char want[2048];
	snprintf(want, sizeof(want), "a=%.98s,b=%.198s,c=%.98s", v, v, v);
	assert_string_equal(ts_of(buf), want);
	/* 32 members of 20 characters (671 with commas): whole members are
	 * dropped from the right down to 24 (503) */
	size_t o = 0, w = 0;
	for (int i = 0; i < 32; i++) {
		char m[32];
		snprintf(m, sizeof(m), "k%02d=%.16s", i, v);
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", i ? "," : "", m);
		if (i < 24)
			w += (size_t)snprintf(want + w, sizeof(want) - w, "%s%s", i ? "," : "", m);
	}
	const char *got = ts_of(buf);
	assert_string_equal(got, want);
	assert_true(strlen(got) <= KSK_TRACE_STATE_MAX);
}

static void test_inject(void **state)
{
	(void)state;
	ksk_trace_remote r;
	char tp[KSK_TRACE_TRACEPARENT_LEN + 1], ts[KSK_TRACE_STATE_MAX + 1];
	/* round trip */
	assert_int_equal(ex("00-" TID "-" PID "-01", "rojo=00f067aa0ba902b7", &r), KSK_OK);
	assert_int_equal(ksk_trace_inject(&r.ctx, tp, ts, sizeof(ts)), KSK_OK);
	assert_string_equal(tp, "00-" TID "-" PID "-01");
	assert_int_equal(strlen(tp), KSK_TRACE_TRACEPARENT_LEN);
	assert_string_equal(ts, "rojo=00f067aa0ba902b7");
	/* a higher version is re-emitted as 00; reserved flag bits as 0 */
	assert_int_equal(ex("cc-" TID "-" PID "-ff-future", NULL, &r), KSK_OK);
	assert_int_equal(ksk_trace_inject(&r.ctx, tp, ts, sizeof(ts)), KSK_OK);
	assert_string_equal(tp, "00-" TID "-" PID "-03");
	assert_string_equal(ts, "");
	/* tracestate buffer too small */
	assert_int_equal(ex("00-" TID "-" PID "-01", "foo=bar", &r), KSK_OK);
	char small[4];
	assert_int_equal(ksk_trace_inject(&r.ctx, tp, small, sizeof(small)), KSK_ELIMIT);
	assert_string_equal(small, "");
	assert_string_equal(tp, "00-" TID "-" PID "-01"); /* traceparent written */
	/* no tracestate wanted */
	assert_int_equal(ksk_trace_inject(&r.ctx, tp, NULL, 0), KSK_OK);
	/* invalid context */
	ksk_trace_ctx z;
	memset(&z, 0, sizeof(z));
	assert_int_equal(ksk_trace_inject(&z, tp, ts, sizeof(ts)), KSK_EINVAL);
	assert_string_equal(tp, "");
	assert_int_equal(ksk_trace_inject(NULL, tp, ts, sizeof(ts)), KSK_EINVAL);
	memcpy(z.trace_id, r.ctx.trace_id, 16); /* span ID still zero */
	assert_int_equal(ksk_trace_inject(&z, tp, ts, sizeof(ts)), KSK_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_traceparent),
		cmocka_unit_test(test_invalid_traceparent),
		cmocka_unit_test(test_tracestate),
		cmocka_unit_test(test_tracestate_truncation),
		cmocka_unit_test(test_inject),
	};
	return cmocka_run_group_tests_name("trace_ctx", tests, NULL, NULL);
}
