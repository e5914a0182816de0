/*
 * test_record.c : ID hex conversion, UTF-8 validation and repair, value
 * equality, severity and kind names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "kiseki/record.h"

static void test_hex_roundtrip_and_errors(void **state)
{
	(void)state;
	uint8_t id[16], back[16];
	for (int i = 0; i < 16; i++)
		id[i] = (uint8_t)(i * 17 + 3);
	char hex[33];
	ksk_hex_encode(id, 16, hex);
	assert_int_equal(strlen(hex), 32);
	assert_true(ksk_hex_decode(hex, 32, back, 16, false));
	assert_memory_equal(id, back, 16);
	/* upper case accepted */
	assert_true(ksk_hex_decode("261A29797F8CCD0C40E1F4324600ECF2", 32, back, 16, false));
	ksk_hex_encode(back, 16, hex);
	assert_string_equal(hex, "261a29797f8ccd0c40e1f4324600ecf2");
	/* 64-bit Zipkin trace ID padded into 128 bits */
	assert_true(ksk_hex_decode("463ac35c9f6413ad", 16, back, 16, true));
	ksk_hex_encode(back, 16, hex);
	assert_string_equal(hex, "0000000000000000463ac35c9f6413ad");
	assert_false(ksk_hex_decode("463ac35c9f6413ad", 16, back, 16, false));
	/* odd length padded */
	assert_true(ksk_hex_decode("abc", 3, back, 2, true));
	assert_int_equal(back[0], 0x0a);
	assert_int_equal(back[1], 0xbc);
	assert_false(ksk_hex_decode("zz", 2, back, 1, false));
	assert_false(ksk_hex_decode("", 0, back, 1, true));
	assert_false(ksk_hex_decode("001122", 6, back, 2, true)); /* too long */
	uint8_t zero[8] = {0};
	assert_true(ksk_id_is_zero(zero, 8));
	zero[7] = 1;
	assert_false(ksk_id_is_zero(zero, 8));
}

static void test_utf8_valid(void **state)
{
	(void)state;
	struct {
		const char *s;
		size_t n;
		bool ok;
	} cases[] = {
		{"plain ascii text, longer than eight", 35, true},
		{"caf\xc3\xa9", 5, true},
		{"\xe2\x82\xac", 3, true},              /* euro sign */
		{"\xf0\x9f\x98\x80", 4, true},          /* emoji */
		{"a\0b", 3, true},                      /* NUL is valid */
		{"\xc0\xaf", 2, false},                 /* overlong */
		{"\xe0\x80\xaf", 3, false},             /* overlong */
		{"\xed\xa0\x80", 3, false},             /* surrogate */
		{"\xf4\x90\x80\x80", 4, false},         /* > U+10FFFF */
		{"\xf5\x80\x80\x80", 4, false},
		{"\x80", 1, false},                     /* lone continuation */
		{"abc\xc3", 4, false},                  /* truncated */
		{"\xff", 1, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(ksk_utf8_valid(cases[i].s, cases[i].n), cases[i].ok);
}

static void test_utf8_repair(void **state)
{
	(void)state;
	ksk_arena *a;
	assert_int_equal(ksk_arena_create(NULL, 0, 0, &a), KSK_OK);
	ksk_str r = ksk_utf8_repair(a, "ok\xff!", 4);
	assert_int_equal(r.len, 6);
	assert_memory_equal(r.ptr, "ok\xef\xbf\xbd!", 6);
	/* maximal subpart: E2 82 followed by 'x' is one replacement */
	r = ksk_utf8_repair(a, "\xe2\x82x", 3);
	assert_int_equal(r.len, 4);
	assert_memory_equal(r.ptr, "\xef\xbf\xbdx", 4);
	/* surrogate ED A0 80: three replacements (A0 is not a valid 2nd byte) */
	r = ksk_utf8_repair(a, "\xed\xa0\x80", 3);
	assert_int_equal(r.len, 9);
	assert_true(ksk_utf8_valid(r.ptr, r.len));
	/* every byte value alone and in pairs gives valid output */
	for (int i = 0; i < 256; i++)
		for (int j = 0; j < 256; j += 7) {
			char in[3] = {(char)i, (char)j, (char)0x80};
			ksk_str o = ksk_utf8_repair(a, in, 3);
			assert_non_null(o.ptr);
			assert_true(ksk_utf8_valid(o.ptr, o.len));
			assert_true(o.len <= 9);
		}
	ksk_arena_destroy(a);
}

static void test_value_eq_and_find(void **state)
{
	(void)state;
	ksk_value items1[2] = {ksk_val_int(1), ksk_val_str(KSK_STR("x"))};
	ksk_value items2[2] = {ksk_val_int(1), ksk_val_str(KSK_STR("x"))};
	ksk_value a = {.type = KSK_VAL_ARRAY, .u.arr = {items1, 2}};
	ksk_value b = {.type = KSK_VAL_ARRAY, .u.arr = {items2, 2}};
	assert_true(ksk_value_eq(&a, &b));
	items2[1] = ksk_val_str(KSK_STR("y"));
	assert_false(ksk_value_eq(&a, &b));
	ksk_value d1 = ksk_val_double(1.5), d2 = ksk_val_double(1.5);
	assert_true(ksk_value_eq(&d1, &d2));
	ksk_value i1 = ksk_val_int(1);
	assert_false(ksk_value_eq(&d1, &i1));
	ksk_attr attrs[2] = {{KSK_STR("service.name"), ksk_val_str(KSK_STR("web"))},
	                     {KSK_STR("n"), ksk_val_bool(true)}};
	ksk_value kv1 = {.type = KSK_VAL_KVLIST, .u.kv = {attrs, 2}};
	assert_true(ksk_value_eq(&kv1, &kv1));
	const ksk_attr *f = ksk_attrs_find(attrs, 2, KSK_STR("n"));
	assert_non_null(f);
	assert_true(f->value.u.b);
	assert_null(ksk_attrs_find(attrs, 2, KSK_STR("missing")));
	assert_true(ksk_str_eq(ksk_str_c("web"), KSK_STR("web")));
	assert_int_equal(ksk_str_c(NULL).len, 0);
}

static void test_severity_and_kind(void **state)
{
	(void)state;
	assert_int_equal(ksk_severity_from_text("INFO", 4), 9);
	assert_int_equal(ksk_severity_from_text("warning", 7), 13);
	assert_int_equal(ksk_severity_from_text("Error", 5), 17);
	assert_int_equal(ksk_severity_from_text("CRITICAL", 8), 18);
	assert_int_equal(ksk_severity_from_text("dbg", 3), 5);
	assert_int_equal(ksk_severity_from_text("FATAL", 5), 21);
	assert_int_equal(ksk_severity_from_text("hello", 5), 0);
	assert_int_equal(ksk_severity_from_text("", 0), 0);
	assert_string_equal(ksk_severity_name(9), "INFO");
	assert_string_equal(ksk_severity_name(12), "INFO");
	assert_string_equal(ksk_severity_name(18), "ERROR");
	assert_string_equal(ksk_severity_name(0), "UNSPECIFIED");
	assert_string_equal(ksk_severity_name(25), "UNSPECIFIED");
	assert_string_equal(ksk_span_kind_name(KSK_KIND_SERVER), "server");
	assert_string_equal(ksk_span_kind_name((ksk_span_kind)9), "unknown");
}

/* ksk_log_id_cuts / split / join: only checked lowercase digits are cut,
 * in body order; joining gives the body back and the hints; fit rules. */
static void test_id_cuts(void **state)
{
	(void)state;
	ksk_log l;
	memset(&l, 0, sizeof(l));
	for (int i = 0; i < 16; i++)
		l.trace_id[i] = (uint8_t)(0x10 + i);
	for (int i = 0; i < 8; i++)
		l.span_id[i] = (uint8_t)(0xe0 + i);
	char th[33], sh[17], body[128];
	ksk_hex_encode(l.trace_id, 16, th);
	ksk_hex_encode(l.span_id, 8, sh);
	int n = snprintf(body, sizeof(body), "s=%s t=%s.", sh, th);
	l.body = ksk_val_str(ksk_str_c(body));
	l.trace_hex_end = 2 + 16 + 3 + 32;
	l.span_hex_end = 2 + 16;
	ksk_id_cut c;
	ksk_log_id_cuts(&l, &c);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.at[0], 2); /* span first: body order */
	assert_int_equal(c.len[0], 16);
	assert_int_equal(c.at[1], 21);
	assert_int_equal(c.len[1], 32);
	char part[128], whole[128];
	uint32_t pn = ksk_id_cut_split(body, (uint32_t)n, &c, part);
	assert_int_equal(pn, (uint32_t)n - 48);
	assert_memory_equal(part, "s= t=.", pn);
	assert_int_equal(ksk_id_cut_fit(&c, pn), 0);
	ksk_log h;
	memset(&h, 0, sizeof(h));
	assert_int_equal(ksk_id_cut_join(part, pn, &c, l.trace_id, l.span_id, whole, &h), n);
	assert_memory_equal(whole, body, (size_t)n);
	assert_int_equal(h.trace_hex_end, l.trace_hex_end);
	assert_int_equal(h.span_hex_end, l.span_hex_end);
	/* unchecked hints are not cut: wrong place, zero ID, not a string */
	l.trace_hex_end++;
	ksk_log_id_cuts(&l, &c);
	assert_int_equal(c.n, 1);
	memset(l.span_id, 0, 8);
	ksk_log_id_cuts(&l, &c);
	assert_int_equal(c.n, 0);
	l.body = ksk_val_int(5);
	ksk_log_id_cuts(&l, &c);
	assert_int_equal(c.n, 0);
	/* fit: past the end, overlapping, touching */
	ksk_id_cut k = {0};
	ksk_id_cut_add(&k, 3, 32);
	assert_int_equal(ksk_id_cut_fit(&k, 2), 1);
	assert_int_equal(ksk_id_cut_fit(&k, 3), 0);
	ksk_id_cut_add(&k, 34, 16);
	assert_int_equal(ksk_id_cut_fit(&k, 3), 2);  /* starts inside the first */
	k.at[1] = 35;
	assert_int_equal(ksk_id_cut_fit(&k, 3), 0);  /* right after it, at the end */
	assert_int_equal(ksk_id_cut_fit(&k, 2), 1);
	k.at[1] = 0; /* sorted first: span digits at 0, trace at 3 would overlap */
	assert_int_equal(ksk_id_cut_fit(&k, 40), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_roundtrip_and_errors),
		cmocka_unit_test(test_id_cuts),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_utf8_repair),
		cmocka_unit_test(test_value_eq_and_find),
		cmocka_unit_test(test_severity_and_kind),
	};
	return cmocka_run_group_tests_name("record", tests, NULL, NULL);
}
