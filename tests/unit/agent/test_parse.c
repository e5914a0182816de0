/*
 * test_parse.c : agent log line parsers (auto, JSON, logfmt, regex, text),
 * trace/span ID extraction, timestamps, multiline grouping.
 *
 * Set KSK_BENCH_PARSE=1 to also print the AUTO parser's rate on ~200-byte
 * text lines with a trace_id (meaningful in a Release build).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agt_parse.h"

#define NOW 1795978554000000000ull /* 2026-11-29 */

typedef struct fx {
	ksk_arena *a;
	agt_parser *p;
} fx;

static char hexbuf[4][40];
static int hexi;

static const char *hx(const uint8_t *id, size_t n)
{
	char *b = hexbuf[hexi++ & 3];
	ksk_hex_encode(id, n, b);
	return b;
}

static ksk_str body_of(const ksk_log *l)
{
	assert_int_equal(l->body.type, KSK_VAL_STR);
	return l->body.u.s;
}

static void assert_str(ksk_str s, const char *want)
{
	size_t n = strlen(want);
	if (s.len != n || (n && memcmp(s.ptr, want, n) != 0)) {
		print_error("got \"%.*s\", want \"%s\"\n", (int)s.len,
		            s.ptr ? s.ptr : "", want);
		fail();
	}
}

static const ksk_attr *attr(const ksk_log *l, const char *k)
{
	return ksk_attrs_find(l->attrs, l->n_attrs, ksk_str_c(k));
}

static void assert_attr_str(const ksk_log *l, const char *k, const char *v)
{
	const ksk_attr *at = attr(l, k);
	if (!at) {
		print_error("attribute %s missing\n", k);
		fail();
	}
	assert_int_equal(at->value.type, KSK_VAL_STR);
	assert_str(at->value.u.s, v);
}

static ksk_err parse_with(agt_parser_opts *o, const char *line, ksk_log *l,
                          ksk_arena **ap, agt_parser **pp)
{
	ksk_errinfo ei;
	if (!*ap)
		assert_int_equal(ksk_arena_create(NULL, 0, 0, ap), KSK_OK);
	if (!*pp)
		assert_int_equal(agt_parser_create(NULL, o, pp, &ei), KSK_OK);
	return agt_parser_parse(*pp, line, strlen(line), NOW, *ap, l, &ei);
}

static void fx_free(ksk_arena *a, agt_parser *p)
{
	agt_parser_destroy(p);
	ksk_arena_destroy(a);
}

static uint64_t ts(const char *iso)
{
	uint64_t ns = 0;
	assert_true(agt_time_parse(NULL, iso, strlen(iso), 0, NOW, &ns, NULL));
	return ns;
}

/* ---- IDs ------------------------------------------------------------------ */

static void test_scan_traceparent(void **state)
{
	(void)state;
	agt_ids ids;
	const char *l = "GET /x 200 traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-"
	                "00f067aa0ba902b7-01 took 3ms";
	agt_scan_ids(l, strlen(l), &ids);
	assert_true(ids.has_trace && ids.has_span && ids.has_flags);
	assert_string_equal(hx(ids.trace_id, 16), "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_string_equal(hx(ids.span_id, 8), "00f067aa0ba902b7");
	assert_int_equal(ids.flags, 1);
	/* at the very start and the very end of the line */
	l = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
	agt_scan_ids(l, strlen(l), &ids);
	assert_true(ids.has_trace && ids.has_span);
	assert_int_equal(ids.flags, 0);
	/* in a JSON string */
	l = "{\"traceparent\":\"00-261a29797f8ccd0c40e1f4324600ecf2-42a4d8882d9d2a52-01\"}";
	agt_scan_ids(l, strlen(l), &ids);
	assert_string_equal(hx(ids.trace_id, 16), "261a29797f8ccd0c40e1f4324600ecf2");
	/* a higher version with more fields is accepted */
	l = "tp 01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz";
	agt_scan_ids(l, strlen(l), &ids);
	assert_true(ids.has_trace);
}

static void test_scan_traceparent_invalid(void **state)
{
	(void)state;
	agt_ids ids;
	const char *bad[] = {
		/* version ff */
		"x ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 y",
		/* zero trace id */
		"x 00-00000000000000000000000000000000-00f067aa0ba902b7-01 y",
		/* zero parent id */
		"x 00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01 y",
		/* uppercase hex */
		"x 00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01 y",
		/* version 00 followed by more */
		"x 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra y",
		/* short span */
		"x 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01 y",
		/* 40-hex git sha is not a trace id */
		"commit=da39a3ee5e6b4b0d3255bfef95601890afd80709 trace=1",
		/* key not at a word boundary */
		"mytrace_id=4bf92f3577b34da6a3ce929d0e0e4736",
		/* 31 digits */
		"trace_id=4bf92f3577b34da6a3ce929d0e0e473",
		/* hex run continues into letters */
		"trace_id=4bf92f3577b34da6a3ce929d0e0e4736zz",
		/* parent_span_id is not the span id */
		"parent_span_id=00f067aa0ba902b7",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		agt_scan_ids(bad[i], strlen(bad[i]), &ids);
		if (ids.has_trace || ids.has_span) {
			print_error("case %zu matched: %s\n", i, bad[i]);
			fail();
		}
	}
	uint8_t t[16], s[8], f;
	assert_true(agt_traceparent_parse(
		" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\t", 57, t,
		s, &f));
	assert_false(agt_traceparent_parse(
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 55, t, s,
		&f));
	assert_false(agt_traceparent_parse(
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.", 56, t, s,
		&f));
	assert_true(agt_traceparent_parse(
		"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what", 60, t,
		s, &f));
	assert_int_equal(f, 9);
}

static void test_scan_key_forms(void **state)
{
	(void)state;
	agt_ids ids;
	const char *T = "4bf92f3577b34da6a3ce929d0e0e4736";
	const char *forms[] = {
		"msg trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7",
		"msg traceId=4bf92f3577b34da6a3ce929d0e0e4736 spanId=00f067aa0ba902b7",
		"msg traceID=4bf92f3577b34da6a3ce929d0e0e4736 spanID=00f067aa0ba902b7",
		"msg trace.id=4bf92f3577b34da6a3ce929d0e0e4736 span.id=00f067aa0ba902b7",
		"msg trace_id: 4bf92f3577b34da6a3ce929d0e0e4736, span_id: 00f067aa0ba902b7",
		"msg trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\" span_id='00f067aa0ba902b7'",
		"{\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"00f067aa0ba902b7\"}",
		"{\"traceId\": \"4BF92F3577B34DA6A3CE929D0E0E4736\", \"spanId\" : \"00F067AA0BA902B7\"}",
		"[otel.trace_id=4bf92f3577b34da6a3ce929d0e0e4736 otel.span_id=00f067aa0ba902b7]",
		"TRACE_ID=4bf92f3577b34da6a3ce929d0e0e4736;SPAN-ID=00f067aa0ba902b7",
	};
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		agt_scan_ids(forms[i], strlen(forms[i]), &ids);
		if (!ids.has_trace || !ids.has_span) {
			print_error("case %zu not found: %s\n", i, forms[i]);
			fail();
		}
		assert_string_equal(hx(ids.trace_id, 16), T);
		assert_string_equal(hx(ids.span_id, 8), "00f067aa0ba902b7");
		assert_false(ids.has_flags);
	}
	/* 64-bit Zipkin trace id: left-padded */
	const char *z = "X-B3-TraceId: 463ac35c9f6413ad X-B3-SpanId: 72485a3953bb6124";
	agt_scan_ids(z, strlen(z), &ids);
	assert_true(ids.has_trace && ids.has_span);
	assert_string_equal(hx(ids.trace_id, 16), "0000000000000000463ac35c9f6413ad");
	/* all-zero key forms are ignored */
	z = "trace_id=00000000000000000000000000000000 span_id=0000000000000000";
	agt_scan_ids(z, strlen(z), &ids);
	assert_false(ids.has_trace || ids.has_span);
	/* the first one wins */
	z = "trace_id=11111111111111111111111111111111 trace_id=22222222222222222222222222222222";
	agt_scan_ids(z, strlen(z), &ids);
	assert_string_equal(hx(ids.trace_id, 16), "11111111111111111111111111111111");
}

/* ---- time ----------------------------------------------------------------- */

static void test_time_forms(void **state)
{
	(void)state;
	uint64_t ns;
	size_t used;
	const uint64_t base = 1705314225000000000ull; /* 2024-01-15T10:23:45Z */
	struct {
		const char *s;
		uint64_t want;
	} cases[] = {
		{"2024-01-15T10:23:45Z", base},
		{"2024-01-15T10:23:45.123Z", base + 123000000},
		{"2024-01-15T10:23:45.123456789Z", base + 123456789},
		{"2024-01-15T10:23:45.1234567891Z", base + 123456789},
		{"2024-01-15 10:23:45,5", base + 500000000},
		{"2024-01-15T12:23:45+02:00", base},
		{"2024-01-15T05:23:45-0500", base},
		{"2024-01-15T10:23:45 +0000", base},
		{"2024/01/15 10:23:45", base},
		{"15/Jan/2024:10:23:45 +0000", base},
		{"15/Jan/2024:11:23:45 +0100", base},
		{"1705314225", base},
		{"1705314225123", base + 123000000},
		{"1705314225123456", base + 123456000},
		{"1705314225123456789", base + 123456789},
		{"1705314225.25", base + 250000000},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ns = 0;
		if (!agt_time_parse(NULL, cases[i].s, strlen(cases[i].s), 0, NOW, &ns,
		                    &used) || ns != cases[i].want) {
			print_error("case %s: got %llu want %llu\n", cases[i].s,
			            (unsigned long long)ns,
			            (unsigned long long)cases[i].want);
			fail();
		}
	}
	/* syslog: year from now (2026); a December date seen in January is last year */
	assert_true(agt_time_parse(NULL, "Jan 15 10:23:45 host", 20, 0, NOW, &ns,
	                           &used));
	assert_int_equal(used, 15);
	assert_int_equal(ns, base + (uint64_t)(365 + 366) * 86400ull * 1000000000ull);
	assert_true(agt_time_parse(NULL, "Dec 31 23:59:59", 15, 0,
	                           1767312000000000000ull /* 2026-01-02 */, &ns,
	                           NULL));
	assert_int_equal(ns, 1767225599000000000ull); /* 2025-12-31T23:59:59Z */
	assert_true(agt_time_parse(NULL, "Jan  2 15:04:05", 15, 0, NOW, &ns, NULL));
	/* default zone for zone-less times */
	assert_true(agt_time_parse(NULL, "2024-01-15 11:23:45", 19, 60, NOW, &ns,
	                           NULL));
	assert_int_equal(ns, base);
	/* formats */
	assert_true(agt_time_parse("%d/%m/%Y %H:%M:%S", "15/01/2024 10:23:45.75",
	                           22, 0, NOW, &ns, NULL));
	assert_int_equal(ns, base + 750000000);
	assert_true(agt_time_parse("%Y%m%d-%H%M%S.%f %z", "20240115-102345.5 Z", 19,
	                           0, NOW, &ns, NULL));
	assert_int_equal(ns, base + 500000000);
	assert_true(agt_time_parse("%b %e %T", "Jan  5 10:23:45", 15, 0, NOW, &ns,
	                           NULL));
	assert_true(agt_time_parse("%s", "1705314225", 10, 0, NOW, &ns, NULL));
	assert_int_equal(ns, base);
	assert_true(agt_time_parse("%d-%b-%Y %I:%M:%S %p", "15-Jan-2024 10:23:45 AM",
	                           23, 0, NOW, &ns, NULL));
	assert_int_equal(ns, base);
	/* bad */
	assert_false(agt_time_parse(NULL, "2024-13-15T10:23:45Z", 20, 0, NOW, &ns, NULL));
	assert_false(agt_time_parse(NULL, "2024-02-30T10:23:45Z", 20, 0, NOW, &ns, NULL));
	assert_false(agt_time_parse(NULL, "2024-01-15T25:23:45Z", 20, 0, NOW, &ns, NULL));
	assert_false(agt_time_parse(NULL, "hello", 5, 0, NOW, &ns, NULL));
	assert_false(agt_time_parse(NULL, "1969-12-31T23:59:59Z", 20, 0, NOW, &ns, NULL));
	assert_false(agt_time_format_check("%Y %Q"));
	assert_true(agt_time_format_check("%Y-%m-%dT%H:%M:%S%z"));
}

/* ---- auto: text ------------------------------------------------------------ */

static void test_auto_text_formats(void **state)
{
	(void)state;
	ksk_arena *a = NULL;
	agt_parser *p = NULL;
	ksk_log l;
	/* Go-style / zap console */
	assert_int_equal(parse_with(NULL,
		"2024-01-15T10:23:45.123Z\tINFO\tmain.go:42\tserving request "
		"trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7",
		&l, &a, &p), KSK_OK);
	assert_int_equal(l.time_ns, ts("2024-01-15T10:23:45.123Z"));
	assert_int_equal(l.severity, 9);
	assert_str(l.severity_text, "INFO");
	assert_str(body_of(&l), "main.go:42\tserving request "
	           "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7");
	assert_true(l.has_trace && l.has_span);
	assert_int_equal(l.observed_ns, NOW);
	/* Java Spring Boot */
	assert_int_equal(parse_with(NULL,
		"2024-01-15 10:23:45.123  WARN 12345 --- [main] c.e.App : disk low",
		&l, &a, &p), KSK_OK);
	assert_int_equal(l.severity, 13);
	assert_str(body_of(&l), "12345 --- [main] c.e.App : disk low");
	assert_false(l.has_trace);
	/* log4j bracketed level */
	assert_int_equal(parse_with(NULL,
		"2024-01-15 10:23:45,123 [ERROR] com.example.Db - connection refused",
		&l, &a, &p), KSK_OK);
	assert_int_equal(l.severity, 17);
	assert_str(l.severity_text, "ERROR");
	assert_str(body_of(&l), "com.example.Db - connection refused");
	assert_int_equal(l.time_ns, ts("2024-01-15T10:23:45.123Z"));
	/* Python logging default format: level after the logger name */
	assert_int_equal(parse_with(NULL,
		"2024-01-15 10:23:45,123 - myapp.db - ERROR - query failed", &l, &a,
		&p), KSK_OK);
	assert_int_equal(l.severity, 17);
	assert_str(body_of(&l), "myapp.db - ERROR - query failed");
	/* Python basicConfig: LEVEL:logger:msg, no timestamp */
	assert_int_equal(parse_with(NULL, "WARNING:root:watch out", &l, &a, &p),
	                 KSK_OK);
	assert_int_equal(l.severity, 13);
	assert_str(body_of(&l), "root:watch out");
	assert_int_equal(l.time_ns, 0);
	/* bracketed timestamp */
	assert_int_equal(parse_with(NULL,
		"[2024-01-15T10:23:45Z] info: started", &l, &a, &p), KSK_OK);
	assert_int_equal(l.severity, 9);
	assert_str(body_of(&l), "started");
	assert_int_equal(l.time_ns, ts("2024-01-15T10:23:45Z"));
	/* syslog */
	assert_int_equal(parse_with(NULL,
		"Jan 15 10:23:45 web1 sshd[811]: Accepted publickey", &l, &a, &p),
		KSK_OK);
	assert_true(l.time_ns > 0);
	assert_int_equal(l.severity, 0);
	assert_str(body_of(&l), "web1 sshd[811]: Accepted publickey");
	/* klog (Kubernetes components) */
	assert_int_equal(parse_with(NULL,
		"E0115 10:23:45.123456    1234 controller.go:114] sync failed", &l,
		&a, &p), KSK_OK);
	assert_int_equal(l.severity, 17);
	assert_str(l.severity_text, "E");
	assert_str(body_of(&l), "1234 controller.go:114] sync failed");
	assert_int_equal(l.time_ns, ts("2026-01-15T10:23:45.123456Z"));
	/* nginx access log: no leading timestamp; body is the whole line */
	const char *ng = "127.0.0.1 - - [15/Jan/2024:10:23:45 +0000] \"GET /api HTTP/1.1\" "
	                 "200 612 \"-\" \"curl/8.0\" traceparent=\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"";
	assert_int_equal(parse_with(NULL, ng, &l, &a, &p), KSK_OK);
	assert_str(body_of(&l), ng);
	assert_true(l.has_trace && l.has_span);
	assert_int_equal(l.flags, 1);
	/* plain message, lowercase first word is not a level without a time */
	assert_int_equal(parse_with(NULL, "error budget is fine", &l, &a, &p), KSK_OK);
	assert_int_equal(l.severity, 0);
	assert_str(body_of(&l), "error budget is fine");
	/* "I" is not a level */
	assert_int_equal(parse_with(NULL, "I think so", &l, &a, &p), KSK_OK);
	assert_int_equal(l.severity, 0);
	/* empty line */
	assert_int_equal(parse_with(NULL, "", &l, &a, &p), KSK_OK);
	assert_int_equal(body_of(&l).len, 0);
	/* invalid UTF-8 is repaired */
	assert_int_equal(parse_with(NULL, "2024-01-15T10:23:45Z ERROR bad \xff\xfe byte",
	                            &l, &a, &p), KSK_OK);
	assert_true(ksk_utf8_valid(body_of(&l).ptr, body_of(&l).len));
	assert_str(body_of(&l), "bad \xef\xbf\xbd\xef\xbf\xbd byte");
	fx_free(a, p);
}

/* ---- auto: JSON ------------------------------------------------------------ */

/* the body's bytes just before its hint: the hex digits it points at */
static void assert_hint(const ksk_log *l, uint32_t end, const char *digits)
{
	ksk_str b = body_of(l);
	size_t n = strlen(digits);
	assert_true(end >= n && end <= b.len);
	assert_memory_equal(b.ptr + end - n, digits, n);
}

/* The encoder's hints (ksk_log.trace_hex_end / span_hex_end): set where
 * the body holds the IDs' lowercase digits, so the wire can leave them
 * out; never for digits outside the body, upper case, or 64-bit trace IDs. */
static void test_id_digit_hints(void **state)
{
	(void)state;
	ksk_arena *a = NULL;
	agt_parser *p = NULL;
	ksk_log l;
	const char *t = "4bf92f3577b34da6a3ce929d0e0e4736", *sp = "00f067aa0ba902b7";
	/* key forms in a text line: the body starts after the level */
	assert_int_equal(parse_with(NULL,
		"2024-01-15T10:23:45.123Z INFO served trace_id=4bf92f3577b34da6a3ce929d0e0e4736 "
		"span_id=00f067aa0ba902b7 ok", &l, &a, &p), KSK_OK);
	assert_str(body_of(&l), "served trace_id=4bf92f3577b34da6a3ce929d0e0e4736 "
	                        "span_id=00f067aa0ba902b7 ok");
	assert_int_equal(l.trace_hex_end, 16 + 32);
	assert_hint(&l, l.trace_hex_end, t);
	assert_hint(&l, l.span_hex_end, sp);
	/* traceparent */
	assert_int_equal(parse_with(NULL,
		"2024-01-15T10:23:45.123Z WARN tp "
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 x", &l, &a, &p), KSK_OK);
	assert_hint(&l, l.trace_hex_end, t);
	assert_hint(&l, l.span_hex_end, sp);
	/* upper-case digits and a 64-bit trace ID: IDs taken, no hint */
	assert_int_equal(parse_with(NULL,
		"2024-01-15T10:23:45.123Z INFO a trace_id=4BF92F3577B34DA6A3CE929D0E0E4736 "
		"span_id=00F067AA0BA902B7", &l, &a, &p), KSK_OK);
	assert_true(l.has_trace && l.has_span);
	assert_int_equal(l.trace_hex_end, 0);
	assert_int_equal(l.span_hex_end, 0);
	assert_int_equal(parse_with(NULL, "2024-01-15T10:23:45.123Z INFO a trace_id=a3ce929d0e0e4736",
	                            &l, &a, &p), KSK_OK);
	assert_true(l.has_trace);
	assert_int_equal(l.trace_hex_end, 0);
	/* JSON: the IDs are fields, not in the body */
	assert_int_equal(parse_with(NULL,
		"{\"msg\":\"hi\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}", &l, &a, &p),
		KSK_OK);
	assert_true(l.has_trace);
	assert_int_equal(l.trace_hex_end, 0);
	fx_free(a, p);
}

static void test_auto_json_libraries(void **state)
{
	(void)state;
	ksk_arena *a = NULL;
	agt_parser *p = NULL;
	ksk_log l;
	/* zap production */
	assert_int_equal(parse_with(NULL,
		"{\"level\":\"info\",\"ts\":1705314225.123456,\"caller\":\"main.go:42\","
		"\"msg\":\"request done\",\"status\":200,\"trace_id\":"
		"\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"00f067aa0ba902b7\"}",
		&l, &a, &p), KSK_OK);
	assert_int_equal(l.severity, 9);
	assert_str(l.severity_text, "info");
	assert_str(body_of(&l), "request done");
	assert_true(l.time_ns >= 1705314225123455000ull &&
	            l.time_ns <= 1705314225123457000ull);
	assert_true(l.has_trace && l.has_span);
	assert_string_equal(hx(l.trace_id, 16), "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_int_equal(l.n_attrs, 2);
	assert_attr_str(&l, "caller", "main.go:42");
	assert_int_equal(attr(&l, "status")->value.type, KSK_VAL_INT);
	assert_int_equal(attr(&l, "status")->value.u.i, 200);
	/* logrus */
	assert_int_equal(parse_with(NULL,
		"{\"level\":\"warning\",\"msg\":\"slow\",\"time\":\"2024-01-15T10:23:45+01:00\","
		"\"traceID\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}", &l, &a, &p), KSK_OK);
	assert_int_equal(l.severity, 13);
	assert_int_equal(l.time_ns, ts("2024-01-15T09:23:45Z"));
	assert_true(l.has_trace);
	assert_false(l.has_span);
	assert_int_equal(l.n_attrs, 0);
	/* pino: numeric level, ms epoch, nested object, array */
	assert_int_equal(parse_with(NULL,
		"{\"level\":50,\"time\":1705314225123,\"pid\":7,\"hostname\":\"h\","
		"\"req\":{\"method\":\"GET\",\"url\":\"/x\"},\"tags\":[\"a\",1,true,null],"
		"\"msg\":\"boom\",\"spanId\":\"00f067aa0ba902b7\"}", &l, &a, &p), KSK_OK);
	assert_int_equal(l.severity, 17);
	assert_str(l.severity_text, "50");
	assert_int_equal(l.time_ns, 1705314225123000000ull);
	assert_true(l.has_span);
	const ksk_attr *req = attr(&l, "req");
	assert_non_null(req);
	assert_int_equal(req->value.type, KSK_VAL_KVLIST);
	assert_int_equal(req->value.u.kv.n, 2);
	assert_str(req->value.u.kv.items[0].key, "method");
	const ksk_attr *tags = attr(&l, "tags");
	assert_int_equal(tags->value.type, KSK_VAL_ARRAY);
	assert_int_equal(tags->value.u.arr.n, 4);
	assert_int_equal(tags->value.u.arr.items[1].type, KSK_VAL_INT);
	assert_int_equal(tags->value.u.arr.items[2].type, KSK_VAL_BOOL);
	assert_int_equal(tags->value.u.arr.items[3].type, KSK_VAL_EMPTY);
	/* structlog: "event" is the message, ECS-ish dotted keys */
	assert_int_equal(parse_with(NULL,
		"{\"event\":\"user logged in\",\"level\":\"debug\",\"timestamp\":"
		"\"2024-01-15T10:23:45.000123Z\",\"trace.id\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
		"\"span.id\":\"00f067aa0ba902b7\",\"user\":\"bob\"}", &l, &a, &p), KSK_OK);
	assert_int_equal(l.severity, 5);
	assert_str(body_of(&l), "user logged in");
	assert_int_equal(l.time_ns, ts("2024-01-15T10:23:45.000123Z"));
	assert_true(l.has_trace && l.has_span);
	assert_int_equal(l.n_attrs, 1);
	/* @timestamp + message (ECS / logstash) with a traceparent value */
	assert_int_equal(parse_with(NULL,
		"{\"@timestamp\":\"2024-01-15T10:23:45Z\",\"message\":\"hi\",\"traceparent\":"
		"\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"}", &l, &a,
		&p), KSK_OK);
	assert_true(l.has_trace && l.has_span);
	assert_int_equal(l.flags, 1);
	/* trace id only inside a nested object: found by the line scan */
	assert_int_equal(parse_with(NULL,
		"{\"msg\":\"x\",\"ctx\":{\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}}",
		&l, &a, &p), KSK_OK);
	assert_true(l.has_trace);
	/* no message key: body is the line */
	assert_int_equal(parse_with(NULL, "{\"a\":1}", &l, &a, &p), KSK_OK);
	assert_str(body_of(&l), "{\"a\":1}");
	/* broken JSON in auto mode falls back to text */
	assert_int_equal(parse_with(NULL, "{not json trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
	                            &l, &a, &p), KSK_OK);
	assert_str(body_of(&l), "{not json trace_id=4bf92f3577b34da6a3ce929d0e0e4736");
	assert_true(l.has_trace);
	fx_free(a, p);
}

static void test_json_parser_errors(void **state)
{
	(void)state;
	ksk_arena *a = NULL;
	agt_parser *p = NULL;
	ksk_log l;
	agt_parser_opts o = {.kind = AGT_PARSER_JSON};
	ksk_errinfo ei;
	assert_int_equal(ksk_arena_create(NULL, 0, 0, &a), KSK_OK);
	assert_int_equal(agt_parser_create(NULL, &o, &p, &ei), KSK_OK);
	const char *bad = "{\"msg\": \"x\", trace_id=4bf92f3577b34da6a3ce929d0e0e4736";
	ksk_errinfo_clear(&ei);
	assert_int_equal(agt_parser_parse(p, bad, strlen(bad), NOW, a, &l, &ei),
	                 KSK_EPARSE);
	assert_non_null(strstr(ei.msg, "json: syntax error near byte"));
	assert_str(body_of(&l), bad); /* fallback record */
	assert_true(l.has_trace);
	assert_int_equal(agt_parser_parse(p, "[1,2]", 5, NOW, a, &l, &ei), KSK_EPARSE);
	assert_string_equal(ei.msg, "json: not an object");
	/* deep nesting: the attribute is dropped and counted */
	char deep[400];
	strcpy(deep, "{\"msg\":\"m\",\"d\":");
	for (int i = 0; i < 30; i++)
		strcat(deep, "[");
	for (int i = 0; i < 30; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	assert_int_equal(agt_parser_parse(p, deep, strlen(deep), NOW, a, &l, &ei),
	                 KSK_OK);
	assert_int_equal(l.n_attrs, 0);
	assert_int_equal(l.dropped_attrs, 1);
	/* invalid UTF-8 inside JSON: jansson refuses, fallback body repaired */
	const char *iu = "{\"msg\":\"\xff\"}";
	assert_int_equal(agt_parser_parse(p, iu, strlen(iu), NOW, a, &l, &ei),
	                 KSK_OK);
	assert_str(body_of(&l), "\xef\xbf\xbd");
	fx_free(a, p);
}

static void test_json_reader_strict(void **state)
{
	(void)state;
	ksk_arena *a = NULL;
	agt_parser *p = NULL;
	ksk_log l;
	agt_parser_opts o = {.kind = AGT_PARSER_JSON};
	/* escapes: \u, surrogate pairs, lone surrogates, \/ and controls */
	assert_int_equal(parse_with(&o,
		"{\"msg\":\"caf\\u00e9 \\ud83d\\ude00 \\ud800x \\/ \\t\\\"q\\\"\","
		"\"n\":-12,\"big\":123456789012345678901,\"e\":1.5e3,\"z\":0,"
		"\"nul\":\"a\\u0000b\"}", &l, &a, &p), KSK_OK);
	assert_str(body_of(&l), "caf\xc3\xa9 \xf0\x9f\x98\x80 \xef\xbf\xbdx / \t\"q\"");
	assert_int_equal(attr(&l, "n")->value.u.i, -12);
	assert_int_equal(attr(&l, "big")->value.type, KSK_VAL_DOUBLE);
	assert_true(attr(&l, "e")->value.u.d == 1500.0);
	assert_int_equal(attr(&l, "z")->value.u.i, 0);
	assert_int_equal(attr(&l, "nul")->value.u.s.len, 3);
	assert_int_equal(parse_with(&o, " {\"a\" : [ 1 , {\"b\" : null} ] } ", &l,
	                            &a, &p), KSK_OK);
	assert_int_equal(attr(&l, "a")->value.u.arr.n, 2);
	assert_int_equal(parse_with(&o, "{\"x\":-9223372036854775808}", &l, &a, &p),
	                 KSK_OK);
	assert_true(attr(&l, "x")->value.u.i == INT64_MIN);
	/* not JSON: every one falls back with KSK_EPARSE */
	const char *bad[] = {
		"{\"a\":1,}", "{'a':1}", "{\"a\":1} x", "{\"a\":01}", "{\"a\":1.}",
		"{\"a\":.5}", "{\"a\":\"x\ty\"}", "{\"a\":tru}", "{\"a\":\"\\x\"}",
		"{\"a\":\"\\u12G4\"}", "{\"a\" 1}", "{\"a\":[1,2}", "{\"a\":\"open",
		"{a:1}", "{\"a\":-}", "{\"a\":1e}", "{\"a\":NaN}", "{", "{\"a\":1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_with(&o, bad[i], &l, &a, &p) != KSK_EPARSE) {
			print_error("accepted: %s\n", bad[i]);
			fail();
		}
		assert_str(body_of(&l), bad[i]);
	}
	/* hard nesting limit: refused, not a stack overflow */
	static char deep[20000];
	size_t n = 0;
	deep[n++] = '{';
	memcpy(deep + n, "\"a\":", 4);
	n += 4;
	for (int i = 0; i < 5000; i++)
		deep[n++] = '[';
	for (int i = 0; i < 5000; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = 0;
	assert_int_equal(parse_with(&o, deep, &l, &a, &p), KSK_EPARSE);
	fx_free(a, p);
}

/* ---- logfmt ---------------------------------------------------------------- */

static void test_logfmt(void **state)
{
	(void)state;
	ksk_arena *a = NULL;
	agt_parser *p = NULL;
	ksk_log l;
	/* Go kit / logrus text formatter */
	assert_int_equal(parse_with(NULL,
		"time=\"2024-01-15T10:23:45Z\" level=error msg=\"db \\\"main\\\" down\\n\" "
		"err=timeout retries=3 trace_id=4bf92f3577b34da6a3ce929d0e0e4736 "
		"span_id=00f067aa0ba902b7 debug",
		&l, &a, &p), KSK_OK);
	assert_int_equal(l.time_ns, ts("2024-01-15T10:23:45Z"));
	assert_int_equal(l.severity, 17);
	assert_str(body_of(&l), "db \"main\" down\n");
	assert_true(l.has_trace && l.has_span);
	assert_int_equal(l.n_attrs, 3);
	assert_attr_str(&l, "err", "timeout");
	assert_attr_str(&l, "retries", "3");
	assert_int_equal(attr(&l, "debug")->value.type, KSK_VAL_BOOL);
	/* Heroku router */
	assert_int_equal(parse_with(NULL,
		"at=info method=GET path=\"/\" host=myapp.herokuapp.com "
		"request_id=8601b555-6a54-4d46-8a2e-8e3a0b1f2e3c fwd=\"1.2.3.4\" "
		"dyno=web.1 connect=1ms service=18ms status=200 bytes=13",
		&l, &a, &p), KSK_OK);
	assert_int_equal(l.severity, 9);
	assert_attr_str(&l, "path", "/");
	assert_attr_str(&l, "status", "200");
	assert_false(l.has_trace);
	assert_str(body_of(&l), "at=info method=GET path=\"/\" host=myapp.herokuapp.com "
	           "request_id=8601b555-6a54-4d46-8a2e-8e3a0b1f2e3c fwd=\"1.2.3.4\" "
	           "dyno=web.1 connect=1ms service=18ms status=200 bytes=13");
	/* ts as epoch, unterminated quote */
	assert_int_equal(parse_with(NULL, "ts=1705314225 lvl=warn msg=\"unterminated",
	                            &l, &a, &p), KSK_OK);
	assert_int_equal(l.time_ns, 1705314225000000000ull);
	assert_int_equal(l.severity, 13);
	assert_str(body_of(&l), "unterminated");
	/* mostly prose with one k=v: not logfmt */
	assert_int_equal(parse_with(NULL, "a=1 this is a sentence with words", &l, &a,
	                            &p), KSK_OK);
	assert_int_equal(l.n_attrs, 0);
	fx_free(a, p);
	/* the explicit logfmt parser refuses a line without pairs */
	a = NULL;
	p = NULL;
	agt_parser_opts o = {.kind = AGT_PARSER_LOGFMT};
	assert_int_equal(parse_with(&o, "just words", &l, &a, &p), KSK_EPARSE);
	assert_str(body_of(&l), "just words");
	fx_free(a, p);
}

/* ---- regex ----------------------------------------------------------------- */

static void test_regex(void **state)
{
	(void)state;
	ksk_arena *a = NULL;
	agt_parser *p = NULL;
	ksk_log l;
	agt_parser_opts o = {
		.kind = AGT_PARSER_REGEX,
		.pattern = "^(?<time>\\S+ \\S+) \\[(?<thread>[^\\]]+)\\] (?<level>\\w+)\\s+"
		           "(?<logger>\\S+) - (?:\\[tid=(?<trace_id>[0-9a-f]+)\\] )?(?<msg>.*)$",
		.time_format = "%d.%m.%Y %H:%M:%S",
	};
	assert_int_equal(parse_with(&o,
		"15.01.2024 10:23:45.500 [http-nio-8080-exec-1] ERROR c.e.Svc - "
		"[tid=4bf92f3577b34da6a3ce929d0e0e4736] failed span_id=00f067aa0ba902b7",
		&l, &a, &p), KSK_OK);
	assert_int_equal(l.time_ns, ts("2024-01-15T10:23:45.5Z"));
	assert_int_equal(l.severity, 17);
	assert_str(body_of(&l), "failed span_id=00f067aa0ba902b7");
	assert_true(l.has_trace);
	assert_true(l.has_span); /* scanned from the line */
	assert_int_equal(l.n_attrs, 2);
	assert_attr_str(&l, "thread", "http-nio-8080-exec-1");
	assert_attr_str(&l, "logger", "c.e.Svc");
	/* no match: fallback + EPARSE */
	assert_int_equal(parse_with(&o, "garbage", &l, &a, &p), KSK_EPARSE);
	assert_str(body_of(&l), "garbage");
	/* bad time in the group */
	assert_int_equal(parse_with(&o, "99.99.2024 10:23:45 [t] INFO x - m", &l, &a,
	                            &p), KSK_EPARSE);
	fx_free(a, p);
	/* pattern errors and ReDoS limit */
	ksk_errinfo ei;
	agt_parser_opts bad = {.kind = AGT_PARSER_REGEX, .pattern = "(?<x>unclosed"};
	assert_int_equal(agt_parser_create(NULL, &bad, &p, &ei), KSK_EINVAL);
	assert_non_null(strstr(ei.msg, "pattern error at offset"));
	agt_parser_opts nop = {.kind = AGT_PARSER_REGEX};
	assert_int_equal(agt_parser_create(NULL, &nop, &p, &ei), KSK_EINVAL);
	agt_parser_opts badtf = {.kind = AGT_PARSER_AUTO, .time_format = "%Q"};
	assert_int_equal(agt_parser_create(NULL, &badtf, &p, &ei), KSK_EINVAL);
	agt_parser_opts redos = {.kind = AGT_PARSER_REGEX,
	                         .pattern = "^(?<msg>(a+)+)$", .match_limit = 10000};
	a = NULL;
	p = NULL;
	char s[80];
	memset(s, 'a', 40);
	s[40] = 'b';
	s[41] = 0;
	assert_int_equal(parse_with(&redos, s, &l, &a, &p), KSK_EPARSE);
	fx_free(a, p);
}

/* ---- multiline ------------------------------------------------------------- */

typedef struct ml_out {
	char text[4096];
	uint32_t lines;
	uint64_t so, eo;
	int n;
} ml_out;

static void ml_take(ml_out *o, const agt_ml_rec *r)
{
	assert_true(r->len < sizeof(o->text));
	memcpy(o->text, r->text, r->len);
	o->text[r->len] = 0;
	o->lines = r->lines;
	o->so = r->start_off;
	o->eo = r->end_off;
	o->n++;
}

static void ml_feed_all(agt_ml *m, const char *const *lines, size_t n,
                        uint64_t *off, uint64_t now, ml_out *o)
{
	for (size_t i = 0; i < n; i++) {
		agt_ml_rec r;
		bool em;
		size_t len = strlen(lines[i]);
		assert_int_equal(agt_ml_feed(m, lines[i], len, *off, *off + len + 1, now,
		                             &r, &em), KSK_OK);
		if (em)
			ml_take(o, &r);
		*off += len + 1;
	}
}

static void test_multiline_java_start(void **state)
{
	(void)state;
	agt_ml_rule *rule;
	agt_ml *m;
	ksk_errinfo ei;
	agt_ml_opts o = {.preset = "timestamp", .timeout_ns = 1000000000ull};
	assert_int_equal(agt_ml_rule_create(NULL, &o, &rule, &ei), KSK_OK);
	assert_int_equal(agt_ml_create(NULL, rule, &m), KSK_OK);
	const char *lines[] = {
		"2024-01-15 10:23:45.123 ERROR [main] c.e.App - request failed",
		"java.lang.IllegalStateException: boom",
		"\tat com.example.App.handle(App.java:42)",
		"\tat com.example.App.main(App.java:10)",
		"Caused by: java.io.IOException: disk",
		"\t... 2 more",
		"2024-01-15 10:23:46.000 INFO  [main] c.e.App - next",
	};
	ml_out out = {0};
	uint64_t off = 0;
	ml_feed_all(m, lines, 7, &off, 100, &out);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.lines, 6);
	assert_int_equal(out.so, 0);
	assert_true(strncmp(out.text, "2024-01-15 10:23:45.123 ERROR", 29) == 0);
	assert_non_null(strstr(out.text, "\n\tat com.example.App.main(App.java:10)\n"
	                                 "Caused by: java.io.IOException: disk\n\t... 2 more"));
	/* the last one is pending until the timeout */
	uint64_t so;
	assert_true(agt_ml_pending(m, &so));
	assert_int_equal(so, out.eo);
	agt_ml_rec r;
	assert_false(agt_ml_flush_if_older(m, 100 + 999999999ull, &r));
	assert_true(agt_ml_flush_if_older(m, 100 + 1000000000ull, &r));
	ml_take(&out, &r);
	assert_int_equal(out.lines, 1);
	assert_string_equal(out.text, "2024-01-15 10:23:46.000 INFO  [main] c.e.App - next");
	assert_false(agt_ml_pending(m, NULL));
	assert_false(agt_ml_flush(m, &r));
	/* the parsed record of the stack trace keeps its time and level */
	ksk_arena *a = NULL;
	agt_parser *p = NULL;
	ksk_log l;
	assert_int_equal(parse_with(NULL, "2024-01-15 10:23:45 ERROR x\n\tat y", &l, &a,
	                            &p), KSK_OK);
	assert_int_equal(l.severity, 17);
	assert_str(body_of(&l), "x\n\tat y");
	fx_free(a, p);
	agt_ml_destroy(m);
	agt_ml_rule_destroy(rule);

	/* the java continuation preset on the same lines */
	agt_ml_opts j = {.preset = "java"};
	assert_int_equal(agt_ml_rule_create(NULL, &j, &rule, &ei), KSK_OK);
	assert_int_equal(agt_ml_create(NULL, rule, &m), KSK_OK);
	memset(&out, 0, sizeof(out));
	off = 0;
	ml_feed_all(m, lines, 7, &off, 100, &out);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.lines, 6);
	assert_true(agt_ml_flush(m, &r));
	assert_int_equal(r.lines, 1);
	agt_ml_destroy(m);
	agt_ml_rule_destroy(rule);
}

static void test_multiline_python_continuation(void **state)
{
	(void)state;
	agt_ml_rule *rule;
	agt_ml *m;
	ksk_errinfo ei;
	agt_ml_opts o = {.preset = "python"};
	assert_int_equal(agt_ml_rule_create(NULL, &o, &rule, &ei), KSK_OK);
	assert_int_equal(agt_ml_create(NULL, rule, &m), KSK_OK);
	const char *lines[] = {
		"ERROR:root:handler crashed",
		"Traceback (most recent call last):",
		"  File \"app.py\", line 3, in <module>",
		"    main()",
		"ValueError: bad value",
		"INFO:root:recovered",
	};
	ml_out out = {0};
	uint64_t off = 0;
	ml_feed_all(m, lines, 6, &off, 5, &out);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.lines, 5);
	assert_true(strstr(out.text, "ValueError: bad value") != NULL);
	agt_ml_rec r;
	assert_true(agt_ml_flush(m, &r));
	assert_int_equal(r.lines, 1);
	assert_int_equal(r.end_off, off);
	agt_ml_destroy(m);
	agt_ml_rule_destroy(rule);

	/* user continuation regex + limits */
	agt_ml_opts c = {.continuation = "^\\s", .max_lines = 3};
	assert_int_equal(agt_ml_rule_create(NULL, &c, &rule, &ei), KSK_OK);
	assert_int_equal(agt_ml_create(NULL, rule, &m), KSK_OK);
	const char *l2[] = {"head", " a", " b", " c", " d", "next"};
	memset(&out, 0, sizeof(out));
	off = 0;
	ml_feed_all(m, l2, 6, &off, 5, &out);
	assert_int_equal(out.n, 1);
	assert_string_equal(out.text, "head\n a\n b");
	agt_ml_destroy(m);
	agt_ml_rule_destroy(rule);

	/* errors */
	agt_ml_opts two = {.start = "a", .continuation = "b"};
	assert_int_equal(agt_ml_rule_create(NULL, &two, &rule, &ei), KSK_EINVAL);
	agt_ml_opts badp = {.preset = "cobol"};
	assert_int_equal(agt_ml_rule_create(NULL, &badp, &rule, &ei), KSK_EINVAL);
	agt_ml_opts badre = {.start = "("};
	assert_int_equal(agt_ml_rule_create(NULL, &badre, &rule, &ei), KSK_EINVAL);
	assert_non_null(strstr(ei.msg, "start pattern error"));
}

/* ---- limits / hostile ----------------------------------------------------- */

static void test_arena_cap_and_attrs(void **state)
{
	(void)state;
	ksk_arena *a;
	agt_parser *p;
	ksk_errinfo ei;
	ksk_log l;
	agt_parser_opts o = {.kind = AGT_PARSER_AUTO, .max_attrs = 4};
	assert_int_equal(agt_parser_create(NULL, &o, &p, &ei), KSK_OK);
	assert_int_equal(ksk_arena_create(NULL, 1024, 4096, &a), KSK_OK);
	const char *lf = "a=1 b=2 c=3 d=4 e=5 f=6 msg=hi";
	assert_int_equal(agt_parser_parse(p, lf, strlen(lf), NOW, a, &l, &ei), KSK_OK);
	assert_int_equal(l.n_attrs, 4);
	assert_int_equal(l.dropped_attrs, 2);
	char big[20000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	ksk_err rc = agt_parser_parse(p, big, strlen(big), NOW, a, &l, &ei);
	assert_true(rc == KSK_ELIMIT);
	/* every byte value: never crashes, always valid UTF-8 out */
	ksk_arena_reset(a);
	ksk_arena_destroy(a);
	assert_int_equal(ksk_arena_create(NULL, 0, 0, &a), KSK_OK);
	unsigned seed = 1;
	char line[256];
	for (int it = 0; it < 20000; it++) {
		size_t n = (size_t)(rand_r(&seed) % 200);
		for (size_t i = 0; i < n; i++) {
			int r = rand_r(&seed) % 10;
			line[i] = r < 3 ? "0123456789abcdef"[rand_r(&seed) % 16]
			        : r < 5 ? "{}\"=: -[]\\t_"[rand_r(&seed) % 12]
			                : (char)(rand_r(&seed) & 0xff);
		}
		rc = agt_parser_parse(p, line, n, NOW, a, &l, &ei);
		assert_true(rc == KSK_OK || rc == KSK_EPARSE);
		if (l.body.type == KSK_VAL_STR)
			assert_true(ksk_utf8_valid(l.body.u.s.ptr, l.body.u.s.len));
		if ((it & 255) == 0)
			ksk_arena_reset(a);
	}
	agt_parser_destroy(p);
	ksk_arena_destroy(a);
}

/* every allocation of parsers and multiline state fails once: ENOMEM, no leak */
static void test_alloc_failures(void **state)
{
	(void)state;
	agt_parser_opts ro = {.kind = AGT_PARSER_REGEX,
	                      .pattern = "^(?<level>\\w+) (?<who>\\w+) (?<msg>.*)$",
	                      .time_format = "%Y"};
	agt_ml_opts mo = {.preset = "java"};
	int succeeded = 0;
	for (unsigned long k = 1; k < 200 && succeeded < 3; k++) {
		ksk_failalloc fa;
		ksk_errinfo ei;
		ksk_failalloc_init(&fa, k, 0);
		agt_parser *p = NULL;
		ksk_err rc = agt_parser_create(&fa.table, &ro, &p, &ei);
		assert_true(rc == KSK_OK || rc == KSK_ENOMEM);
		agt_ml_rule *r = NULL;
		agt_ml *m = NULL;
		ksk_err rc2 = agt_ml_rule_create(&fa.table, &mo, &r, &ei);
		assert_true(rc2 == KSK_OK || rc2 == KSK_ENOMEM);
		ksk_err rc3 = KSK_ENOMEM;
		if (rc2 == KSK_OK)
			rc3 = agt_ml_create(&fa.table, r, &m);
		assert_true(rc3 == KSK_OK || rc3 == KSK_ENOMEM);
		if (rc3 == KSK_OK) {
			char big[600];
			memset(big, 'y', sizeof(big));
			agt_ml_rec rec;
			bool em;
			rc3 = agt_ml_feed(m, "x", 1, 0, 2, 1, &rec, &em);
			assert_true(rc3 == KSK_OK || rc3 == KSK_ENOMEM);
			rc3 = agt_ml_feed(m, big, sizeof(big), 2, 603, 1, &rec, &em);
			assert_true(rc3 == KSK_OK || rc3 == KSK_ENOMEM);
			rc3 = agt_ml_feed(m, big, sizeof(big), 603, 1204, 1, &rec, &em);
			assert_true(rc3 == KSK_OK || rc3 == KSK_ENOMEM);
		}
		if (rc == KSK_OK && rc2 == KSK_OK && rc3 == KSK_OK)
			succeeded++;
		agt_ml_destroy(m);
		agt_ml_rule_destroy(r);
		agt_parser_destroy(p);
		assert_int_equal(fa.live, 0);
	}
	assert_true(succeeded > 0);
}

/* ---- borrow, and IDs past the first 16 bytes --------------------------------- */

/* `borrow`: the same record as a copying parser, with body and level
 * pointing into the line; a repaired line is borrowed from its arena copy */
static void test_borrow_and_long_scan(void **state)
{
	(void)state;
	ksk_arena *a1, *a2;
	agt_parser *pc, *pb;
	ksk_errinfo ei;
	assert_int_equal(ksk_arena_create(NULL, 1 << 16, 0, &a1), KSK_OK);
	assert_int_equal(ksk_arena_create(NULL, 1 << 16, 0, &a2), KSK_OK);
	agt_parser_opts o;
	memset(&o, 0, sizeof(o));
	assert_int_equal(agt_parser_create(NULL, &o, &pc, &ei), KSK_OK);
	o.borrow = true;
	assert_int_equal(agt_parser_create(NULL, &o, &pb, &ei), KSK_OK);
	static const char *const lines[] = {
		"2024-01-15T10:23:01.123Z WARN [w-1] slow order=12 user=user-7 "
		"dur=1-2-3 a:b:c trace_id=4bf92f3577b34da6a3ce929d0e0e4736 "
		"span_id=00f067aa0ba902b7",
		/* the IDs far from the start, after many separators */
		"E0115 10:23:01.123456 1 a.go:9] x=1 y=2 z=3 -- a-b-c-d-e-f 1:2:3:4 "
		"k=v k=v k=v k=v k=v k=v k=v k=v k=v k=v k=v k=v k=v k=v k=v k=v "
		"traceparent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"level=info msg=\"hello there\" traceId: \"0af7651916cd43dd8448eb211c80319c\"",
		"2024-01-15 10:23:01 ERROR caf\xc3\xa9 \xff bad byte span.id=b7ad6b7169203331",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		size_t n = strlen(lines[i]);
		char *line = malloc(n);
		assert_non_null(line);
		memcpy(line, lines[i], n);
		ksk_log c, b;
		ksk_arena_reset(a1);
		ksk_arena_reset(a2);
		assert_int_equal(agt_parser_parse(pc, line, n, NOW, a1, &c, &ei), KSK_OK);
		assert_int_equal(agt_parser_parse(pb, line, n, NOW, a2, &b, &ei), KSK_OK);
		assert_true(ksk_value_eq(&c.body, &b.body));
		assert_true(ksk_str_eq(c.severity_text, b.severity_text));
		assert_int_equal(c.severity, b.severity);
		assert_int_equal(c.time_ns, b.time_ns);
		assert_memory_equal(c.trace_id, b.trace_id, 16);
		assert_memory_equal(c.span_id, b.span_id, 8);
		assert_int_equal(c.has_trace, b.has_trace);
		assert_int_equal(c.has_span, b.has_span);
		assert_true(c.has_span || i == 2);
		if (i < 3)
			assert_true(c.has_trace);
		if (i < 2) {
			/* text: borrowed inside the caller's line; copied: not */
			assert_true(b.body.u.s.ptr >= line && b.body.u.s.ptr < line + n);
			assert_true(b.severity_text.ptr >= line && b.severity_text.ptr < line + n);
			assert_false(c.body.u.s.ptr >= line && c.body.u.s.ptr < line + n);
		} else if (i == 3) {
			/* repaired (invalid byte): never points at the raw line */
			assert_false(b.body.u.s.ptr >= line && b.body.u.s.ptr < line + n);
		}
		free(line);
	}
	agt_ids ids;
	const char *tp = "x-y-z a=b c:d e=f 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
	agt_scan_ids(tp, strlen(tp), &ids);
	assert_true(ids.has_trace && ids.has_span && ids.has_flags);
	assert_string_equal(hx(ids.trace_id, 16), "0af7651916cd43dd8448eb211c80319c");
	agt_parser_destroy(pc);
	agt_parser_destroy(pb);
	ksk_arena_destroy(a1);
	ksk_arena_destroy(a2);
}

/* ---- rate ------------------------------------------------------------------ */

static void test_bench_auto(void **state)
{
	(void)state;
	if (!getenv("KSK_BENCH_PARSE"))
		skip();
	enum { N = 2000000, VARIANTS = 64 };
	static char lines[VARIANTS][256];
	size_t lens[VARIANTS];
	const char *lv[] = {"INFO", "WARN", "ERROR", "DEBUG"};
	for (int i = 0; i < VARIANTS; i++) {
		lens[i] = (size_t)snprintf(lines[i], sizeof(lines[i]),
			"2024-01-15T10:23:%02d.%03dZ %s [worker-%d] http.handler request "
			"completed method=GET path=/api/v1/orders/%d status=200 dur_ms=%d "
			"trace_id=4bf92f3577b34da6a3ce929d0e0e%04x span_id=00f067aa0ba9%04x",
			i % 60, i * 7 % 1000, lv[i % 4], i % 8, 1000 + i, i * 3 % 97,
			i + 1, i + 1);
	}
	ksk_arena *a;
	agt_parser *p;
	ksk_errinfo ei;
	ksk_log l;
	assert_int_equal(ksk_arena_create(NULL, 1 << 20, 0, &a), KSK_OK);
	assert_int_equal(agt_parser_create(NULL, NULL, &p, &ei), KSK_OK);
	struct timespec t0, t1;
	size_t bytes = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < N; i++) {
		int v = i & (VARIANTS - 1);
		if (agt_parser_parse(p, lines[v], lens[v], NOW, a, &l, &ei) != KSK_OK ||
		    !l.has_trace)
			fail();
		bytes += lens[v];
		if ((i & 1023) == 1023)
			ksk_arena_reset(a);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("auto text parse: %d lines of ~%zu B in %.3f s = %.2f M lines/s, %.0f MB/s\n",
	       N, bytes / N, s, N / s / 1e6, (double)bytes / s / 1e6);
	/* JSON lines */
	for (int i = 0; i < VARIANTS; i++)
		lens[i] = (size_t)snprintf(lines[i], sizeof(lines[i]),
			"{\"level\":\"info\",\"ts\":\"2024-01-15T10:23:%02d.%03dZ\",\"caller\":"
			"\"handler.go:%d\",\"msg\":\"request completed\",\"status\":200,"
			"\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e%04x\",\"span_id\":"
			"\"00f067aa0ba9%04x\"}", i % 60, i * 7 % 1000, i, i + 1, i + 1);
	int NJ = N / 10;
	bytes = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < NJ; i++) {
		int v = i & (VARIANTS - 1);
		if (agt_parser_parse(p, lines[v], lens[v], NOW, a, &l, &ei) != KSK_OK ||
		    !l.has_trace)
			fail();
		bytes += lens[v];
		if ((i & 1023) == 1023)
			ksk_arena_reset(a);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("auto JSON parse: %d lines of ~%zu B in %.3f s = %.2f M lines/s, %.0f MB/s\n",
	       NJ, bytes / NJ, s, NJ / s / 1e6, (double)bytes / s / 1e6);
	agt_parser_destroy(p);
	ksk_arena_destroy(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_traceparent),
		cmocka_unit_test(test_scan_traceparent_invalid),
		cmocka_unit_test(test_scan_key_forms),
		cmocka_unit_test(test_time_forms),
		cmocka_unit_test(test_auto_text_formats),
		cmocka_unit_test(test_id_digit_hints),
		cmocka_unit_test(test_auto_json_libraries),
		cmocka_unit_test(test_json_parser_errors),
		cmocka_unit_test(test_json_reader_strict),
		cmocka_unit_test(test_logfmt),
		cmocka_unit_test(test_regex),
		cmocka_unit_test(test_multiline_java_start),
		cmocka_unit_test(test_multiline_python_continuation),
		cmocka_unit_test(test_arena_cap_and_attrs),
		cmocka_unit_test(test_alloc_failures),
		cmocka_unit_test(test_borrow_and_long_scan),
		cmocka_unit_test(test_bench_auto),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
