/*
 * test_dump.c : kiseki-dump's core: frames back to back printed as text,
 * and a damaged frame reported with its index and offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "gen.h"
#include "kiseki/frame.h"

/* two frames from a fixed seed and time, back to back */
static uint8_t *two_frames(size_t *len, size_t *first_len)
{
	ksk_gen *g;
	ksk_wire_enc *we;
	ksk_frame_enc *fe;
	assert_int_equal(ksk_gen_create(5, 3, &g), KSK_OK);
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &we), KSK_OK);
	assert_int_equal(ksk_frame_enc_create(NULL, 1, &fe), KSK_OK);
	uint8_t *all = NULL;
	*len = 0;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(ksk_gen_batch(g, we, 6, 2, 1764000000000000000ull), KSK_OK);
		size_t plen;
		const uint8_t *p = ksk_wire_enc_data(we, &plen);
		ksk_frame_meta m;
		memset(&m, 0, sizeof(m));
		m.seq = (uint64_t)i + 1;
		m.created_ns = 1764000000000000000ull;
		m.record_count = ksk_wire_enc_count(we);
		m.compress = i == 0;
		const uint8_t *f;
		size_t flen;
		assert_int_equal(ksk_frame_encode(fe, &m, p, plen, &f, &flen, NULL), KSK_OK);
		all = realloc(all, *len + flen);
		memcpy(all + *len, f, flen);
		if (i == 0)
			*first_len = flen;
		*len += flen;
	}
	ksk_frame_enc_destroy(fe);
	ksk_wire_enc_destroy(we);
	ksk_gen_destroy(g);
	return all;
}

static void test_prints_frames_and_records(void **state)
{
	(void)state;
	size_t len, first;
	uint8_t *buf = two_frames(&len, &first);
	char *text = NULL;
	size_t tlen = 0;
	FILE *out = open_memstream(&text, &tlen);
	size_t frames = 0;
	ksk_errinfo ei;
	assert_int_equal(ksk_dump_frames(out, buf, len, NULL, &frames, &ei), KSK_OK);
	fclose(out);
	assert_int_equal(frames, 2);
	assert_non_null(strstr(text, "frame 0 @0: v1 flags=zstd"));
	assert_non_null(strstr(text, "flags=none"));
	assert_non_null(strstr(text, "seq=2 created=2025-11-24T16:00:00.000000000Z"));
	assert_non_null(strstr(text, "resource 0 service.name=\"gateway\""));
	assert_non_null(strstr(text, "  span "));
	assert_non_null(strstr(text, "event +"));
	assert_non_null(strstr(text, "http.response.status_code="));
	assert_non_null(strstr(text, "  log 2025-11-24T16:00:00"));
	free(text);

	/* headers only */
	text = NULL;
	out = open_memstream(&text, &tlen);
	ksk_dump_opts o = {true};
	assert_int_equal(ksk_dump_frames(out, buf, len, &o, &frames, &ei), KSK_OK);
	fclose(out);
	assert_null(strstr(text, "  span "));
	free(text);
	free(buf);
}

static void test_damaged_second_frame(void **state)
{
	(void)state;
	size_t len, first;
	uint8_t *buf = two_frames(&len, &first);
	buf[first + 70] ^= 0x01; /* inside the second frame's payload */
	char *text = NULL;
	size_t tlen = 0;
	FILE *out = open_memstream(&text, &tlen);
	size_t frames = 0;
	ksk_errinfo ei;
	assert_int_equal(ksk_dump_frames(out, buf, len, NULL, &frames, &ei), KSK_ECHECKSUM);
	fclose(out);
	assert_int_equal(frames, 1);
	char want[64];
	snprintf(want, sizeof(want), "frame 1 at offset %zu: KSK_ECHECKSUM", first);
	assert_non_null(strstr(ei.msg, want));
	free(text);
	/* trailing garbage shorter than a header */
	out = open_memstream(&text, &tlen);
	assert_int_equal(ksk_dump_frames(out, buf, first + 5, NULL, &frames, &ei), KSK_ETRUNC);
	fclose(out);
	free(text);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prints_frames_and_records),
		cmocka_unit_test(test_damaged_second_frame),
	};
	return cmocka_run_group_tests_name("dump", tests, NULL, NULL);
}
