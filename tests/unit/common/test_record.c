/*
 * test_record.c : ID hex conversion, UTF-8 validation and repair, value
 * equality, severity and kind names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_roundtrip_and_errors),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_utf8_repair),
		cmocka_unit_test(test_value_eq_and_find),
		cmocka_unit_test(test_severity_and_kind),
	};
	return cmocka_run_group_tests_name("record", tests, NULL, NULL);
}
