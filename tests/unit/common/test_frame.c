/*
 * test_frame.c : the batch frame: round trips, and every way a hostile or
 * damaged frame must be refused (truncation at every offset, every bit
 * flipped, oversize declarations, wrong magic/version/flags, zstd frames
 * whose declared size is missing or lies, decompression bombs), plus
 * allocation-failure injection on the decode path.
 */
#define ZSTD_STATIC_LINKING_ONLY
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "kiseki/frame.h"

static ksk_frame_meta meta_for(uint64_t seq, uint32_t count, bool compress)
{
	ksk_frame_meta m;
	memset(&m, 0, sizeof(m));
	for (int i = 0; i < KSK_AGENT_ID_LEN; i++)
		m.agent_id[i] = (uint8_t)(0xa0 + i);
	m.seq = seq;
	m.created_ns = 1700000000123456789ull;
	m.record_count = count;
	m.compress = compress;
	return m;
}

static uint8_t *sample_payload(size_t n)
{
	uint8_t *p = malloc(n);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)("span-payload-"[i % 13] + (i / 1000));
	return p;
}

/* Writes a frame by hand (for payloads the encoder would never produce),
 * with a correct CRC. Returns malloc'd bytes. */
static uint8_t *hand_frame(const uint8_t *payload, size_t plen, uint32_t raw_len,
                           uint16_t flags, size_t *out_len)
{
	size_t n = KSK_FRAME_HDR_LEN + plen;
	uint8_t *f = calloc(1, n);
	memcpy(f, "KSKF", 4);
	f[4] = 1;
	f[5] = KSK_FRAME_HDR_LEN;
	f[6] = (uint8_t)flags;
	f[7] = (uint8_t)(flags >> 8);
	f[8] = 1; /* one record */
	for (int i = 0; i < 4; i++) {
		f[12 + i] = (uint8_t)(raw_len >> (8 * i));
		f[16 + i] = (uint8_t)(plen >> (8 * i));
	}
	memcpy(f + KSK_FRAME_HDR_LEN, payload, plen);
	uint32_t crc = ksk_crc32(0, f, KSK_FRAME_HDR_LEN);
	crc = ksk_crc32(crc, payload, plen);
	for (int i = 0; i < 4; i++)
		f[20 + i] = (uint8_t)(crc >> (8 * i));
	*out_len = n;
	return f;
}

static void test_roundtrip_compressed_and_plain(void **state)
{
	(void)state;
	ksk_frame_enc *e;
	ksk_frame_dec *d;
	assert_int_equal(ksk_frame_enc_create(NULL, 1, &e), KSK_OK);
	assert_int_equal(ksk_frame_dec_create(NULL, NULL, &d), KSK_OK);
	size_t sizes[] = {0, 1, 100, 65536, 1 << 20};
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		for (int c = 0; c < 2; c++) {
			uint8_t *p = sample_payload(sizes[k]);
			ksk_frame_meta m = meta_for(42 + k, 7, c);
			const uint8_t *f;
			size_t flen;
			ksk_errinfo ei;
			assert_int_equal(ksk_frame_encode(e, &m, p, sizes[k], &f, &flen, &ei), KSK_OK);
			if (c && sizes[k] >= 65536)
				assert_true(flen < sizes[k] / 2);
			ksk_frame_hdr h;
			const uint8_t *raw;
			size_t rlen;
			assert_int_equal(ksk_frame_open(d, f, flen, &h, &raw, &rlen, &ei), KSK_OK);
			assert_int_equal(rlen, sizes[k]);
			if (sizes[k])
				assert_memory_equal(raw, p, sizes[k]);
			assert_int_equal(h.seq, 42 + k);
			assert_int_equal(h.record_count, 7);
			assert_int_equal(h.created_ns, 1700000000123456789ull);
			assert_memory_equal(h.agent_id, m.agent_id, KSK_AGENT_ID_LEN);
			assert_int_equal(h.flags, c ? KSK_FRAME_FLAG_ZSTD : 0);
			/* and with the RESTORE flag */
			m.restore = true;
			assert_int_equal(ksk_frame_encode(e, &m, p, sizes[k], &f, &flen, &ei), KSK_OK);
			assert_int_equal(ksk_frame_open(d, f, flen, &h, &raw, &rlen, &ei), KSK_OK);
			assert_int_equal(h.flags, (c ? KSK_FRAME_FLAG_ZSTD : 0) | KSK_FRAME_FLAG_RESTORE);
			assert_int_equal(rlen, sizes[k]);
			free(p);
		}
	}
	ksk_frame_enc_destroy(e);
	ksk_frame_dec_destroy(d);
	ksk_frame_enc_destroy(NULL);
	ksk_frame_dec_destroy(NULL);
}

/* Encodes a small compressed frame into a malloc'd copy. */
static uint8_t *small_frame(size_t *len)
{
	ksk_frame_enc *e;
	assert_int_equal(ksk_frame_enc_create(NULL, 1, &e), KSK_OK);
	uint8_t *p = sample_payload(300);
	ksk_frame_meta m = meta_for(1, 3, true);
	const uint8_t *f;
	assert_int_equal(ksk_frame_encode(e, &m, p, 300, &f, len, NULL), KSK_OK);
	uint8_t *copy = malloc(*len);
	memcpy(copy, f, *len);
	free(p);
	ksk_frame_enc_destroy(e);
	return copy;
}

static void test_truncated_at_every_offset(void **state)
{
	(void)state;
	size_t len;
	uint8_t *f = small_frame(&len);
	ksk_frame_dec *d;
	assert_int_equal(ksk_frame_dec_create(NULL, NULL, &d), KSK_OK);
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *t = malloc(cut ? cut : 1); /* exact size so ASan sees overreads */
		memcpy(t, f, cut);
		ksk_frame_hdr h;
		const uint8_t *raw;
		size_t rlen;
		ksk_errinfo ei;
		ksk_err rc = ksk_frame_open(d, t, cut, &h, &raw, &rlen, &ei);
		assert_int_equal(rc, KSK_ETRUNC);
		assert_true(strlen(ei.msg) > 0);
		free(t);
	}
	/* one byte too many */
	uint8_t *longer = calloc(1, len + 1);
	memcpy(longer, f, len);
	ksk_frame_hdr h;
	assert_int_equal(ksk_frame_parse_header(longer, len + 1, NULL, &h, NULL), KSK_ERECORD);
	free(longer);
	ksk_frame_dec_destroy(d);
	free(f);
}

static void test_every_bit_flip_is_refused(void **state)
{
	(void)state;
	size_t len;
	uint8_t *f = small_frame(&len);
	ksk_frame_dec *d;
	assert_int_equal(ksk_frame_dec_create(NULL, NULL, &d), KSK_OK);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			f[i] ^= (uint8_t)(1u << bit);
			ksk_frame_hdr h;
			const uint8_t *raw;
			size_t rlen;
			ksk_errinfo ei;
			ksk_err rc = ksk_frame_open(d, f, len, &h, &raw, &rlen, &ei);
			/* a flip anywhere is caught: header fields by their own
			 * checks, everything else by the CRC */
			assert_int_not_equal(rc, KSK_OK);
			f[i] ^= (uint8_t)(1u << bit);
		}
	}
	ksk_frame_hdr h;
	const uint8_t *raw;
	size_t rlen;
	assert_int_equal(ksk_frame_open(d, f, len, &h, &raw, &rlen, NULL), KSK_OK);
	ksk_frame_dec_destroy(d);
	free(f);
}

static void test_header_field_errors(void **state)
{
	(void)state;
	size_t len;
	uint8_t *f = small_frame(&len);
	ksk_frame_hdr h;
	ksk_errinfo ei;

	f[0] = 'X';
	assert_int_equal(ksk_frame_parse_header(f, len, NULL, &h, &ei), KSK_EMAGIC);
	assert_non_null(strstr(ei.msg, "magic"));
	f[0] = 'K';
	f[4] = 2;
	assert_int_equal(ksk_frame_parse_header(f, len, NULL, &h, &ei), KSK_EVERSION);
	f[4] = 1;
	f[7] = 0x80;
	assert_int_equal(ksk_frame_parse_header(f, len, NULL, &h, &ei), KSK_EFLAGS);
	f[7] = 0;
	/* bit 1 (RESTORE) is known; bit 2 is not. The CRC covers the flags,
	 * so the flags word is checked before it: EFLAGS, not ECHECKSUM. */
	uint8_t f6 = f[6];
	f[6] = (uint8_t)(f6 | 0x04);
	assert_int_equal(ksk_frame_parse_header(f, len, NULL, &h, &ei), KSK_EFLAGS);
	assert_non_null(strstr(ei.msg, "unknown flag bits 0x0004"));
	f[6] = f6;
	f[5] = 20;
	assert_int_equal(ksk_frame_parse_header(f, len, NULL, &h, &ei), KSK_ERECORD);
	f[5] = KSK_FRAME_HDR_LEN;
	assert_int_equal(ksk_frame_parse_header(f, len, NULL, &h, &ei), KSK_OK);

	/* caps: frame size, raw size, record count */
	ksk_frame_limits lim;
	ksk_frame_limits_default(&lim);
	lim.max_frame = len - 1;
	assert_int_equal(ksk_frame_parse_header(f, len, &lim, &h, &ei), KSK_ETOOBIG);
	ksk_frame_limits_default(&lim);
	lim.max_raw = 299;
	assert_int_equal(ksk_frame_parse_header(f, len, &lim, &h, &ei), KSK_ETOOBIG);
	ksk_frame_limits_default(&lim);
	lim.max_records = 2;
	assert_int_equal(ksk_frame_parse_header(f, len, &lim, &h, &ei), KSK_ETOOBIG);

	/* a declared payload of 4 GiB - 1 is refused before anything else */
	f[16] = f[17] = f[18] = f[19] = 0xff;
	assert_int_equal(ksk_frame_parse_header(f, len, NULL, &h, &ei), KSK_ETOOBIG);
	free(f);
}

static void test_plain_frame_length_mismatch(void **state)
{
	(void)state;
	size_t n;
	uint8_t *f = hand_frame((const uint8_t *)"abcdef", 6, 7, 0, &n);
	ksk_frame_hdr h;
	ksk_errinfo ei;
	assert_int_equal(ksk_frame_parse_header(f, n, NULL, &h, &ei), KSK_ERECORD);
	free(f);
}

static void test_zstd_declarations_checked(void **state)
{
	(void)state;
	ksk_frame_dec *d;
	assert_int_equal(ksk_frame_dec_create(NULL, NULL, &d), KSK_OK);
	const uint8_t *raw;
	size_t rlen, n;
	ksk_frame_hdr h;
	ksk_errinfo ei;

	/* content size unknown: a streaming frame with no pledged size */
	uint8_t src[1000];
	memset(src, 'z', sizeof(src));
	uint8_t comp[2048];
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
	ZSTD_outBuffer out = {comp, sizeof(comp), 0};
	ZSTD_inBuffer in = {src, sizeof(src), 0};
	/* continue first: an e_end first call would record the size */
	assert_false(ZSTD_isError(ZSTD_compressStream2(cc, &out, &in, ZSTD_e_continue)));
	ZSTD_inBuffer none = {NULL, 0, 0};
	assert_int_equal(ZSTD_compressStream2(cc, &out, &none, ZSTD_e_end), 0);
	uint8_t *f = hand_frame(comp, out.pos, 1000, KSK_FRAME_FLAG_ZSTD, &n);
	assert_int_equal(ksk_frame_open(d, f, n, &h, &raw, &rlen, &ei), KSK_ETOOBIG);
	assert_non_null(strstr(ei.msg, "content size"));
	free(f);

	/* declared raw length disagrees with zstd's content size */
	size_t cn = ZSTD_compress(comp, sizeof(comp), src, sizeof(src), 1);
	assert_false(ZSTD_isError(cn));
	f = hand_frame(comp, cn, 999, KSK_FRAME_FLAG_ZSTD, &n);
	assert_int_equal(ksk_frame_open(d, f, n, &h, &raw, &rlen, &ei), KSK_ETOOBIG);
	free(f);

	/* no zstd checksum */
	ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 0);
	cn = ZSTD_compress2(cc, comp, sizeof(comp), src, sizeof(src));
	f = hand_frame(comp, cn, 1000, KSK_FRAME_FLAG_ZSTD, &n);
	assert_int_equal(ksk_frame_open(d, f, n, &h, &raw, &rlen, &ei), KSK_EDECOMPRESS);
	free(f);

	/* garbage where zstd data should be */
	f = hand_frame((const uint8_t *)"not zstd at all", 15, 10, KSK_FRAME_FLAG_ZSTD, &n);
	assert_int_equal(ksk_frame_open(d, f, n, &h, &raw, &rlen, &ei), KSK_EDECOMPRESS);
	free(f);
	ZSTD_freeCCtx(cc);
	ksk_frame_dec_destroy(d);
}

static void test_bomb_refused_before_allocating(void **state)
{
	(void)state;
	/* 256 MiB of zeros compresses to a few KiB; the frame declares it
	 * honestly, and the raw cap (64 MiB) refuses it from the header. */
	size_t big = 256u << 20;
	size_t bound = ZSTD_compressBound(big);
	uint8_t *zeros = calloc(1, big);
	uint8_t *comp = malloc(bound);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
	size_t cn = ZSTD_compress2(cc, comp, bound, zeros, big);
	assert_false(ZSTD_isError(cn));
	free(zeros);
	ZSTD_freeCCtx(cc);
	size_t n;
	/* honest raw length: refused by the header cap */
	uint8_t *f = hand_frame(comp, cn, (uint32_t)big, KSK_FRAME_FLAG_ZSTD, &n);
	ksk_failalloc fa;
	ksk_failalloc_init(&fa, 0, 0);
	ksk_frame_dec *d;
	assert_int_equal(ksk_frame_dec_create(&fa.table, NULL, &d), KSK_OK);
	unsigned long calls = fa.calls;
	ksk_frame_hdr h;
	const uint8_t *raw;
	size_t rlen;
	ksk_errinfo ei;
	assert_int_equal(ksk_frame_open(d, f, n, &h, &raw, &rlen, &ei), KSK_ETOOBIG);
	assert_int_equal(fa.calls, calls); /* nothing allocated */
	free(f);
	/* lying raw length: refused by zstd's own declaration */
	f = hand_frame(comp, cn, 1000, KSK_FRAME_FLAG_ZSTD, &n);
	assert_int_equal(ksk_frame_open(d, f, n, &h, &raw, &rlen, &ei), KSK_ETOOBIG);
	assert_int_equal(fa.calls, calls);
	free(f);
	free(comp);
	ksk_frame_dec_destroy(d);
	assert_int_equal(fa.live, 0);
}

static void test_alloc_failure_injection(void **state)
{
	(void)state;
	size_t len;
	uint8_t *f = small_frame(&len);
	int succeeded = 0;
	for (unsigned long k = 1; k < 200 && !succeeded; k++) {
		ksk_failalloc fa;
		ksk_failalloc_init(&fa, k, 1);
		ksk_frame_dec *d = NULL;
		ksk_err rc = ksk_frame_dec_create(&fa.table, NULL, &d);
		if (rc == KSK_OK) {
			ksk_frame_hdr h;
			const uint8_t *raw;
			size_t rlen;
			rc = ksk_frame_open(d, f, len, &h, &raw, &rlen, NULL);
			if (rc == KSK_OK)
				succeeded = 1;
			else
				assert_true(rc == KSK_ENOMEM || rc == KSK_EDECOMPRESS);
			ksk_frame_dec_destroy(d);
		} else {
			assert_int_equal(rc, KSK_ENOMEM);
		}
		assert_int_equal(fa.live, 0);
	}
	assert_true(succeeded);
	/* the encoder too */
	succeeded = 0;
	for (unsigned long k = 1; k < 200 && !succeeded; k++) {
		ksk_failalloc fa;
		ksk_failalloc_init(&fa, k, 1);
		ksk_frame_enc *e = NULL;
		if (ksk_frame_enc_create(&fa.table, 1, &e) == KSK_OK) {
			ksk_frame_meta m = meta_for(1, 1, true);
			const uint8_t *out;
			size_t olen;
			ksk_err rc = ksk_frame_encode(e, &m, (const uint8_t *)"abc", 3,
			                              &out, &olen, NULL);
			if (rc == KSK_OK)
				succeeded = 1;
			ksk_frame_enc_destroy(e);
		}
		assert_int_equal(fa.live, 0);
	}
	assert_true(succeeded);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_compressed_and_plain),
		cmocka_unit_test(test_truncated_at_every_offset),
		cmocka_unit_test(test_every_bit_flip_is_refused),
		cmocka_unit_test(test_header_field_errors),
		cmocka_unit_test(test_plain_frame_length_mismatch),
		cmocka_unit_test(test_zstd_declarations_checked),
		cmocka_unit_test(test_bomb_refused_before_allocating),
		cmocka_unit_test(test_alloc_failure_injection),
	};
	return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
