/*
 * bench_wire.c : wire-format benchmark.
 *
 * Measures, for a realistic span mix (10 attributes, 2 events per span,
 * traces of 5-20 spans over 8 services) and for ~200-byte log records:
 *   encode+compress  : ksk_span/ksk_log structs -> msgpack -> zstd-1 frame
 *   decompress+decode: frame -> CRC -> zstd -> guard -> msgpack -> structs
 * and, on the very same payload bytes in the same process, the baselines
 * libzstd level 1 compress and decompress alone (what `zstd -1` / `zstd -d`
 * do). Each figure is the median of REPS runs; ratios are ours/baseline.
 * With --write-payload FILE it also writes the raw msgpack payloads so the
 * script can run the zstd CLI (`zstd -b1`) on the same bytes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "gen.h"
#include "kiseki/clock.h"
#include "kiseki/frame.h"
#include "kiseki/wire.h"

#define REPS 7

typedef struct bench_set {
	const char *name;
	uint32_t batches;
	uint32_t per_batch;
	uint8_t **payload;   /* raw msgpack per batch */
	size_t *plen;
	uint8_t **frame;     /* encoded frame per batch */
	size_t *flen;
	size_t raw_total, frame_total;
	uint64_t records;    /* spans or logs (resources not counted) */
} bench_set;

static uint64_t now_ns(void)
{
	return ksk_clock_mono(ksk_clock_system());
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

static void die(const char *what, ksk_err rc, const ksk_errinfo *ei)
{
	fprintf(stderr, "bench_wire: %s: %s %s\n", what, ksk_errname(rc),
	        ei ? ei->msg : "");
	exit(1);
}

/* Builds the data: generated batches decoded back into structs once, so
 * the timed encode starts from structs, as an agent's would. */
static void build_set(bench_set *s, int logs)
{
	ksk_gen *g;
	ksk_wire_enc *we;
	ksk_frame_enc *fe;
	ksk_err rc;
	if ((rc = ksk_gen_create(42, 8, &g)) || (rc = ksk_wire_enc_create(NULL, NULL, 0, &we)) ||
	    (rc = ksk_frame_enc_create(NULL, 1, &fe)))
		die("setup", rc, NULL);
	s->payload = calloc(s->batches, sizeof(*s->payload));
	s->plen = calloc(s->batches, sizeof(*s->plen));
	s->frame = calloc(s->batches, sizeof(*s->frame));
	s->flen = calloc(s->batches, sizeof(*s->flen));
	for (uint32_t i = 0; i < s->batches; i++) {
		rc = ksk_gen_batch(g, we, logs ? 0 : s->per_batch, logs ? s->per_batch : 0,
		                   1764000000000000000ull + i * 1000000000ull);
		if (rc)
			die("generate", rc, NULL);
		size_t n;
		const uint8_t *p = ksk_wire_enc_data(we, &n);
		s->payload[i] = malloc(n);
		memcpy(s->payload[i], p, n);
		s->plen[i] = n;
		s->raw_total += n;
		ksk_frame_meta m = {.seq = i + 1, .record_count = ksk_wire_enc_count(we), .compress = true,
		                    .restore = ksk_wire_enc_restore(we)};
		const uint8_t *f;
		size_t fl;
		ksk_errinfo ei;
		if ((rc = ksk_frame_encode(fe, &m, p, n, &f, &fl, &ei)))
			die("frame", rc, &ei);
		s->frame[i] = malloc(fl);
		memcpy(s->frame[i], f, fl);
		s->flen[i] = fl;
		s->frame_total += fl;
		s->records += s->per_batch;
	}
	ksk_frame_enc_destroy(fe);
	ksk_wire_enc_destroy(we);
	ksk_gen_destroy(g);
}

static void run_set(bench_set *s)
{
	ksk_wire_dec *wd;
	ksk_frame_dec *fd;
	ksk_wire_enc *we;
	ksk_frame_enc *fe;
	ksk_err rc;
	if ((rc = ksk_wire_dec_create(NULL, NULL, &wd)) || (rc = ksk_frame_dec_create(NULL, NULL, &fd)) ||
	    (rc = ksk_wire_enc_create(NULL, NULL, 0, &we)) || (rc = ksk_frame_enc_create(NULL, 1, &fe)))
		die("setup", rc, NULL);
	/* structs to encode from: decode each payload once and keep the
	 * decoder per batch alive (batches borrow from it) */
	ksk_wire_dec **keep = calloc(s->batches, sizeof(*keep));
	const ksk_batch **batches = calloc(s->batches, sizeof(*batches));
	for (uint32_t i = 0; i < s->batches; i++) {
		ksk_errinfo ei;
		uint32_t count = 0;
		ksk_frame_hdr h;
		if ((rc = ksk_frame_parse_header(s->frame[i], s->flen[i], NULL, &h, &ei)))
			die("header", rc, &ei);
		count = h.record_count;
		if ((rc = ksk_wire_dec_create(NULL, NULL, &keep[i])) ||
		    (rc = ksk_wire_decode(keep[i], s->payload[i], s->plen[i], count, &batches[i], &ei)))
			die("decode", rc, &ei);
	}
	size_t cap = ZSTD_compressBound(1 << 24);
	uint8_t *zbuf = malloc(cap), *dbuf = malloc(1 << 26);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);

	uint64_t t_enc[REPS], t_dec[REPS], t_zc[REPS], t_zd[REPS];
	volatile size_t sink = 0;
	for (int r = 0; r < REPS; r++) {
		/* ours: encode + compress */
		uint64_t t = now_ns();
		for (uint32_t i = 0; i < s->batches; i++) {
			const ksk_batch *b = batches[i];
			ksk_wire_enc_reset(we);
			uint32_t idx;
			for (uint32_t k = 0; k < b->n_resources; k++)
				if ((rc = ksk_wire_enc_resource(we, &b->resources[k], &idx)))
					die("encode resource", rc, NULL);
			for (uint32_t k = 0; k < b->n_spans; k++)
				if ((rc = ksk_wire_enc_span(we, &b->spans[k])))
					die("encode span", rc, NULL);
			for (uint32_t k = 0; k < b->n_logs; k++)
				if ((rc = ksk_wire_enc_log(we, &b->logs[k])))
					die("encode log", rc, NULL);
			size_t n;
			const uint8_t *p = ksk_wire_enc_data(we, &n);
			ksk_frame_meta m = {.seq = i + 1, .record_count = ksk_wire_enc_count(we), .compress = true,
			                    .restore = ksk_wire_enc_restore(we)};
			const uint8_t *f;
			size_t fl;
			if ((rc = ksk_frame_encode(fe, &m, p, n, &f, &fl, NULL)))
				die("frame", rc, NULL);
			sink += fl;
		}
		t_enc[r] = now_ns() - t;
		/* ours: decompress + decode */
		t = now_ns();
		for (uint32_t i = 0; i < s->batches; i++) {
			ksk_frame_hdr h;
			const ksk_batch *b;
			ksk_errinfo ei;
			if ((rc = ksk_frame_decode_batch(fd, wd, s->frame[i], s->flen[i], &h, &b, &ei)))
				die("decode", rc, &ei);
			sink += b->n_spans + b->n_logs;
		}
		t_dec[r] = now_ns() - t;
		/* baseline: zstd level 1 alone on the same payload bytes */
		t = now_ns();
		for (uint32_t i = 0; i < s->batches; i++)
			sink += ZSTD_compress2(cc, zbuf, cap, s->payload[i], s->plen[i]);
		t_zc[r] = now_ns() - t;
		/* baseline: zstd decompress alone (of zstd's own frames) */
		uint64_t acc = 0;
		for (uint32_t i = 0; i < s->batches; i++) {
			size_t cn = ZSTD_compress2(cc, zbuf, cap, s->payload[i], s->plen[i]);
			t = now_ns();
			sink += ZSTD_decompressDCtx(dc, dbuf, 1 << 26, zbuf, cn);
			acc += now_ns() - t;
		}
		t_zd[r] = acc;
	}
	(void)sink;
	double mb = (double)s->raw_total / 1e6;
	double enc = (double)median(t_enc, REPS) / 1e9, dec = (double)median(t_dec, REPS) / 1e9;
	double zc = (double)median(t_zc, REPS) / 1e9, zd = (double)median(t_zd, REPS) / 1e9;
	printf("%s: %u batches x %u records, raw msgpack %.2f MB (%.1f B/record), "
	       "frames %.2f MB (ratio %.2f)\n",
	       s->name, s->batches, s->per_batch, mb, (double)s->raw_total / (double)s->records,
	       (double)s->frame_total / 1e6, (double)s->raw_total / (double)s->frame_total);
	printf("  encode+compress    %9.0f records/s %8.1f MB/s   | zstd -1 alone %8.1f MB/s | ratio %.2f\n",
	       (double)s->records / enc, mb / enc, mb / zc, zc / enc);
	printf("  decompress+decode  %9.0f records/s %8.1f MB/s   | zstd -d alone %8.1f MB/s | ratio %.2f\n",
	       (double)s->records / dec, mb / dec, mb / zd, zd / dec);
	for (uint32_t i = 0; i < s->batches; i++)
		ksk_wire_dec_destroy(keep[i]);
	free(keep);
	free(batches);
	free(zbuf);
	free(dbuf);
	ZSTD_freeCCtx(cc);
	ZSTD_freeDCtx(dc);
	ksk_wire_dec_destroy(wd);
	ksk_frame_dec_destroy(fd);
	ksk_wire_enc_destroy(we);
	ksk_frame_enc_destroy(fe);
}

static void write_payload(const bench_set *s, const char *path)
{
	FILE *f = fopen(path, "wb");
	if (!f) {
		perror(path);
		exit(1);
	}
	for (uint32_t i = 0; i < s->batches; i++)
		fwrite(s->payload[i], 1, s->plen[i], f);
	fclose(f);
}

static void free_set(bench_set *s)
{
	for (uint32_t i = 0; i < s->batches; i++) {
		free(s->payload[i]);
		free(s->frame[i]);
	}
	free(s->payload);
	free(s->plen);
	free(s->frame);
	free(s->flen);
}

int main(int argc, char **argv)
{
	const char *span_out = NULL, *log_out = NULL;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--write-span-payload") == 0)
			span_out = argv[i + 1];
		else if (strcmp(argv[i], "--write-log-payload") == 0)
			log_out = argv[i + 1];
	}
	printf("bench_wire: medians of %d runs; zstd %s; one thread\n", REPS, ZSTD_versionString());
	bench_set spans = {.name = "spans (10 attrs, 2 events)", .batches = 200, .per_batch = 1000};
	bench_set logs = {.name = "logs (~200 B body, 3 attrs)", .batches = 200, .per_batch = 1000};
	build_set(&spans, 0);
	build_set(&logs, 1);
	run_set(&spans);
	run_set(&logs);
	if (span_out)
		write_payload(&spans, span_out);
	if (log_out)
		write_payload(&logs, log_out);
	free_set(&spans);
	free_set(&logs);
	return 0;
}
