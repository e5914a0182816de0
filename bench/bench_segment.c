/*
 * bench_segment.c : sealed-segment benchmark (issue 3 targets).
 *
 * Builds a store of N spans (default 10,000,000) as sealed segments of
 * --seg-spans spans each (default 500,000, about what a 64 MiB write-ahead
 * log holds), from traces crossing 5..50 services (~55 spans per trace,
 * 10 attributes and 2 events per span) plus one log per --log-every spans,
 * most logs carrying a trace ID. Then, page cache warm:
 *   bytes per span on disk (all files / spans; and without the log blocks)
 *     baselines: the raw msgpack payloads, and each payload zstd -1 (what
 *     the write-ahead log holds)
 *   trace by ID over every segment (filter, then index, then one block),
 *     p50/p99 for random existing IDs and random missing IDs
 *     baseline: a linear scan (zstd -1 payloads decompressed and decoded,
 *     measured on one segment's worth and multiplied by the segment count)
 *   search "service + min trace duration + one attribute, limit 20",
 *     newest first across segments, candidates verified by fetching as the
 *     store does; p50/p99 over several queries
 * Usage: bench_segment [N_SPANS] [--seg-spans N] [--level L] [--block KiB]
 *        [--log-block KiB] [--bpi B] [--log-every N] [--dir DIR] [--lookups N]
 *        [--round NS]   (--round 1000: span times as from microsecond clocks)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "col_segment.h"
#include "gen.h"
#include "kiseki/clock.h"
#include "kiseki/frame.h"
#include "kiseki/wire.h"

#define BASE_NS 1764000000000000000ull
#define BATCH_SPANS 5000u

typedef struct cfg {
	uint64_t spans;
	uint64_t seg_spans;
	int level;
	size_t block;
	size_t log_block;
	unsigned bpi;
	uint32_t log_every;
	const char *dir;
	uint32_t lookups;
	uint64_t round;    /* round span times down to this many ns (0 = no) */
} cfg;

static uint64_t now_ns(void)
{
	return ksk_clock_mono(ksk_clock_system());
}

static void die(const char *what, ksk_err rc, const ksk_errinfo *ei)
{
	fprintf(stderr, "bench_segment: %s: %s %s\n", what, ksk_errname(rc), ei ? ei->msg : "");
	exit(1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t pct(uint64_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i];
}

static uint64_t xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

typedef struct store {
	col_seg **seg;
	int n;
} store;

/* Trace by ID across every segment, as the store does it. */
static bool lookup(const store *st, const uint8_t id[16], ksk_arena *a)
{
	col_trace t;
	memset(&t, 0, sizeof(t));
	bool any = false;
	for (int i = st->n - 1; i >= 0; i--) {
		if (!col_seg_may_contain(st->seg[i], id))
			continue;
		bool found;
		ksk_errinfo ei;
		ksk_err rc = col_seg_get_trace(st->seg[i], id, a, &t, &found, &ei);
		if (rc)
			die("get_trace", rc, &ei);
		any = any || found;
	}
	return any;
}

typedef struct sctx {
	const store *st;
	const col_search *q;
	const col_seg *seg;
	ksk_arena *a;
	uint32_t hits, fetched;
} sctx;

static bool span_ok(const ksk_span *sp, const ksk_resource *r, const col_search *q)
{
	if (q->service.len && !ksk_str_eq(r->service, q->service))
		return false;
	for (uint32_t i = 0; i < q->n_attrs; i++) {
		const ksk_attr *at = ksk_attrs_find(sp->attrs, sp->n_attrs, q->attrs[i].key);
		if (!at)
			at = ksk_attrs_find(r->attrs, r->n_attrs, q->attrs[i].key);
		if (!at || at->value.type != KSK_VAL_STR || !ksk_str_eq(at->value.u.s, q->attrs[i].value))
			return false;
	}
	return true;
}

/* Verifies a candidate by fetching it (the store's job). */
static bool search_cb(void *ctx, const col_summary *sum)
{
	sctx *c = ctx;
	col_trace t;
	memset(&t, 0, sizeof(t));
	bool found;
	ksk_errinfo ei;
	c->fetched++;
	ksk_err rc = col_seg_get_trace(c->seg, sum->trace_id, c->a, &t, &found, &ei);
	if (rc)
		die("get_trace (search)", rc, &ei);
	bool ok = false;
	for (uint32_t i = 0; i < t.n_spans && !ok; i++)
		ok = span_ok(&t.spans[i], &t.resources[t.spans[i].resource], c->q);
	ksk_arena_reset(c->a);
	if (ok)
		c->hits++;
	return c->hits < 20;
}

static uint32_t search(const store *st, const col_search *q, ksk_arena *a, uint32_t *fetched)
{
	sctx c = {st, q, NULL, a, 0, 0};
	for (int i = st->n - 1; i >= 0 && c.hits < 20; i--) {
		c.seg = st->seg[i];
		ksk_errinfo ei;
		ksk_err rc = col_seg_search(st->seg[i], q, search_cb, &c, &ei);
		if (rc)
			die("search", rc, &ei);
	}
	*fetched = c.fetched;
	return c.hits;
}

int main(int argc, char **argv)
{
	cfg c = {10000000, 500000, 0, 0, 0, 0, 20, NULL, 20000, 0};
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seg-spans") && i + 1 < argc)
			c.seg_spans = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--level") && i + 1 < argc)
			c.level = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--block") && i + 1 < argc)
			c.block = strtoull(argv[++i], NULL, 10) * 1024;
		else if (!strcmp(argv[i], "--log-block") && i + 1 < argc)
			c.log_block = strtoull(argv[++i], NULL, 10) * 1024;
		else if (!strcmp(argv[i], "--bpi") && i + 1 < argc)
			c.bpi = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--log-every") && i + 1 < argc)
			c.log_every = (uint32_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			c.dir = argv[++i];
		else if (!strcmp(argv[i], "--round") && i + 1 < argc)
			c.round = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--lookups") && i + 1 < argc)
			c.lookups = (uint32_t)atoi(argv[++i]);
		else if (argv[i][0] != '-')
			c.spans = strtoull(argv[i], NULL, 10);
		else {
			fprintf(stderr, "usage: %s [N_SPANS] [--seg-spans N] [--level L] [--block KiB] "
			                "[--log-block KiB] [--bpi B] [--log-every N] [--dir DIR] "
			                "[--lookups N] [--round NS]\n", argv[0]);
			return 2;
		}
	}
	char dir[256];
	if (c.dir)
		snprintf(dir, sizeof(dir), "%s", c.dir);
	else {
		snprintf(dir, sizeof(dir), "/tmp/bench_segment-XXXXXX");
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			return 1;
		}
	}
	uint32_t log_per_batch = c.log_every ? BATCH_SPANS / c.log_every : 0;
	printf("== segment: %" PRIu64 " spans, segments of %" PRIu64 " spans, traces over 5..50 "
	       "services, %u logs per %u spans, dir %s ==\n",
	       c.spans, c.seg_spans, log_per_batch, BATCH_SPANS, dir);

	/* ---- build ---- */
	ksk_gen *g;
	ksk_wire_enc *enc;
	ksk_wire_dec *dec;
	ksk_err rc;
	if ((rc = ksk_gen_create(42, 64, &g)) || (rc = ksk_wire_enc_create(NULL, NULL, 0, &enc)) ||
	    (rc = ksk_wire_dec_create(NULL, NULL, &dec)))
		die("setup", rc, NULL);
	ZSTD_CCtx *zc = ZSTD_createCCtx();
	ZSTD_DCtx *zd = ZSTD_createDCtx();
	size_t zcap = 0;
	uint8_t *zbuf = NULL;
	uint64_t raw_bytes = 0, z1_bytes = 0, spans = 0, logs = 0, traces = 0;
	uint32_t n_ids_cap = c.lookups, n_ids = 0;
	uint8_t(*ids)[16] = calloc(n_ids_cap ? n_ids_cap : 1, 16);
	uint64_t rs = 0x9E3779B97F4A7C15ull;
	/* zstd -1 payloads of the first segment, for the scan baseline */
	uint8_t **scan_z = NULL;
	size_t *scan_zlen = NULL, *scan_raw = NULL;
	uint32_t *scan_cnt = NULL;
	size_t n_scan = 0, cap_scan = 0;
	int nseg = 0;
	store st = {calloc(c.spans / c.seg_spans + 2, sizeof(col_seg *)), 0};
	uint64_t t_build = now_ns(), t_seal = 0, batch_no = 0;
	while (spans < c.spans) {
		col_segw *w;
		if ((rc = col_segw_create(NULL, &w)))
			die("segw_create", rc, NULL);
		col_segw_tuning tu = {.zstd_level = c.level, .block_bytes = c.block,
		                      .log_block_bytes = c.log_block, .summary_bits_per_item = c.bpi};
		col_segw_set_tuning(w, &tu);
		uint64_t in_seg = 0;
		while (in_seg < c.seg_spans && spans < c.spans) {
			uint32_t n = BATCH_SPANS;
			if (n > c.spans - spans)
				n = (uint32_t)(c.spans - spans);
			rc = ksk_gen_batch_wide(g, enc, n, log_per_batch, BASE_NS + batch_no * 100000000ull, 5,
			                        50);
			if (rc)
				die("gen", rc, NULL);
			size_t len;
			const uint8_t *p = ksk_wire_enc_data(enc, &len);
			raw_bytes += len;
			if (ZSTD_compressBound(len) > zcap) {
				zcap = ZSTD_compressBound(len);
				zbuf = realloc(zbuf, zcap);
			}
			size_t zl = ZSTD_compressCCtx(zc, zbuf, zcap, p, len, 1);
			z1_bytes += zl;
			if (nseg == 0) {
				if (n_scan == cap_scan) {
					cap_scan = cap_scan ? cap_scan * 2 : 64;
					scan_z = realloc(scan_z, cap_scan * sizeof(*scan_z));
					scan_zlen = realloc(scan_zlen, cap_scan * sizeof(size_t));
					scan_raw = realloc(scan_raw, cap_scan * sizeof(size_t));
					scan_cnt = realloc(scan_cnt, cap_scan * sizeof(uint32_t));
				}
				scan_z[n_scan] = malloc(zl);
				memcpy(scan_z[n_scan], zbuf, zl);
				scan_zlen[n_scan] = zl;
				scan_raw[n_scan] = len;
				scan_cnt[n_scan] = ksk_wire_enc_count(enc);
				n_scan++;
			}
			const ksk_batch *b;
			ksk_errinfo ei;
			if ((rc = ksk_wire_decode(dec, p, len, ksk_wire_enc_count(enc), &b, &ei)))
				die("decode", rc, &ei);
			for (uint32_t i = 0; c.round > 1 && i < b->n_spans; i++) {
				/* as if the services' clocks ticked in c.round ns */
				ksk_span *sp = &b->spans[i];
				sp->start_ns -= sp->start_ns % c.round;
				sp->end_ns -= sp->end_ns % c.round;
				for (uint32_t j = 0; j < sp->n_events; j++)
					sp->events[j].time_ns -= sp->events[j].time_ns % c.round;
			}
			ksk_frame_hdr h;
			memset(&h, 0, sizeof(h));
			h.agent_id[0] = 1;
			h.seq = batch_no;
			if ((rc = col_segw_add(w, &h, b)))
				die("segw_add", rc, NULL);
			for (uint32_t i = 0; i < b->n_spans; i++) {
				if (b->spans[i].has_parent)
					continue;
				traces++;
				/* reservoir sample of existing trace IDs */
				if (n_ids < n_ids_cap)
					memcpy(ids[n_ids++], b->spans[i].trace_id, 16);
				else {
					uint64_t j = xs(&rs) % traces;
					if (j < n_ids_cap)
						memcpy(ids[j], b->spans[i].trace_id, 16);
				}
			}
			spans += b->n_spans;
			logs += b->n_logs;
			in_seg += b->n_spans;
			batch_no++;
		}
		char path[512];
		snprintf(path, sizeof(path), "%s/seg-%04d.ksg", dir, nseg);
		ksk_errinfo ei;
		uint64_t t0 = now_ns();
		if ((rc = col_segw_finish(w, path, BASE_NS, NULL, &ei)))
			die("finish", rc, &ei);
		t_seal += now_ns() - t0;
		col_segw_destroy(w);
		if ((rc = col_seg_open(NULL, path, &st.seg[st.n], &ei)))
			die("open", rc, &ei);
		st.n++;
		nseg++;
	}
	t_build = now_ns() - t_build;
	ksk_wire_dec_destroy(dec);
	ksk_wire_enc_destroy(enc);
	ksk_gen_destroy(g);

	/* ---- bytes ---- */
	col_seg_bytes tot;
	memset(&tot, 0, sizeof(tot));
	uint64_t file = 0;
	for (int i = 0; i < st.n; i++) {
		col_seg_bytes b;
		col_seg_bytes_get(st.seg[i], &b);
		tot.trace_blocks += b.trace_blocks;
		tot.log_blocks += b.log_blocks;
		tot.index += b.index;
		tot.search += b.search;
		tot.tables += b.tables;
		tot.other += b.other;
		tot.raw_trace_blocks += b.raw_trace_blocks;
		tot.raw_log_blocks += b.raw_log_blocks;
		file += col_seg_info_get(st.seg[i])->file_bytes;
	}
	double ds = (double)spans;
	printf("built %d segments: %" PRIu64 " spans, %" PRIu64 " traces (%.1f spans/trace), %" PRIu64
	       " logs in %.1f s (sealing %.1f s)\n",
	       st.n, spans, traces, ds / (double)traces, logs, (double)t_build / 1e9,
	       (double)t_seal / 1e9);
	printf("\n-- bytes per span on disk --\n");
	printf("  all files / spans            %7.2f B   (%.1f MiB)\n", (double)file / ds,
	       (double)file / 1048576.0);
	printf("  without log blocks           %7.2f B   (spans, index, search, tables)\n",
	       (double)(file - tot.log_blocks) / ds);
	printf("    trace blocks               %7.2f B   (raw before zstd %.1f B)\n",
	       (double)tot.trace_blocks / ds, (double)tot.raw_trace_blocks / ds);
	printf("    trace-ID index + filter    %7.2f B\n", (double)tot.index / ds);
	printf("    search summaries + blooms  %7.2f B\n", (double)tot.search / ds);
	printf("    dictionary + tables        %7.2f B\n", (double)tot.tables / ds);
	printf("  log blocks                   %7.2f B per log (%.1f raw)\n",
	       logs ? (double)tot.log_blocks / (double)logs : 0.0,
	       logs ? (double)tot.raw_log_blocks / (double)logs : 0.0);
	printf("  baseline: raw msgpack        %7.2f B per span (spans+logs payload / spans)\n",
	       (double)raw_bytes / ds);
	printf("  baseline: zstd -1 payloads   %7.2f B per span (the write-ahead log)\n",
	       (double)z1_bytes / ds);
	printf("  reference: Tempo Parquet ~58 B, Jaeger+ClickHouse ~76 B; target <= 40 B\n");

	/* ---- trace by ID ---- */
	ksk_arena *a;
	if ((rc = ksk_arena_create(NULL, 1u << 20, 0, &a)))
		die("arena", rc, NULL);
	uint32_t nl = n_ids;
	uint64_t *lat = malloc((size_t)(nl ? nl : 1) * sizeof(uint64_t));
	for (uint32_t i = 0; i < nl; i++) { /* warm-up pass */
		lookup(&st, ids[i], a);
		ksk_arena_reset(a);
	}
	uint32_t miss = 0;
	for (uint32_t i = 0; i < nl; i++) {
		uint32_t k = (uint32_t)(xs(&rs) % nl);
		uint64_t t0 = now_ns();
		bool ok = lookup(&st, ids[k], a);
		lat[i] = now_ns() - t0;
		miss += !ok;
		ksk_arena_reset(a);
	}
	uint64_t e50 = pct(lat, nl, 0.5), e99 = pct(lat, nl, 0.99), emax = pct(lat, nl, 1.0);
	uint64_t passed = 0; /* filter false positives */
	for (uint32_t i = 0; i < nl; i++) {
		uint8_t id[16];
		for (int k = 0; k < 16; k += 8) {
			uint64_t v = xs(&rs);
			memcpy(id + k, &v, 8);
		}
		for (int k = 0; k < st.n; k++)
			passed += col_seg_may_contain(st.seg[k], id);
		uint64_t t0 = now_ns();
		if (lookup(&st, id, a))
			miss += 1000000; /* a random ID must not be found */
		lat[i] = now_ns() - t0;
		ksk_arena_reset(a);
	}
	uint64_t m50 = pct(lat, nl, 0.5), m99 = pct(lat, nl, 0.99);
	printf("\n-- trace by ID over %d segments (warm), %u lookups each --\n", st.n, nl);
	printf("  existing IDs   p50 %8.1f us   p99 %8.1f us   max %8.1f us   (not found: %u)\n",
	       (double)e50 / 1e3, (double)e99 / 1e3, (double)emax / 1e3, miss);
	printf("  missing IDs    p50 %8.1f us   p99 %8.1f us   (trace-ID filter false positives "
	       "%.2f %%)\n",
	       (double)m50 / 1e3, (double)m99 / 1e3,
	       nl ? 100.0 * (double)passed / ((double)nl * st.n) : 0.0);
	/* baseline: linear scan of one segment's zstd -1 payloads, x segments */
	{
		ksk_wire_dec *d2;
		ksk_wire_dec_create(NULL, NULL, &d2);
		uint8_t *rb = NULL;
		size_t rcap = 0;
		uint64_t scans[3];
		for (int r = 0; r < 3; r++) {
			uint64_t t0 = now_ns();
			uint32_t seen = 0;
			for (size_t i = 0; i < n_scan; i++) {
				if (scan_raw[i] > rcap) {
					rcap = scan_raw[i];
					rb = realloc(rb, rcap);
				}
				size_t got = ZSTD_decompressDCtx(zd, rb, rcap, scan_z[i], scan_zlen[i]);
				const ksk_batch *b;
				if (ksk_wire_decode(d2, rb, got, scan_cnt[i], &b, NULL) == KSK_OK)
					for (uint32_t k = 0; k < b->n_spans; k++)
						seen += !memcmp(b->spans[k].trace_id, ids[0], 16);
			}
			scans[r] = now_ns() - t0;
			(void)seen;
		}
		uint64_t one = pct(scans, 3, 0.5);
		printf("  baseline: linear scan (zstd -1 + decode), %.1f ms per segment x %d = %.0f ms "
		       "per lookup\n",
		       (double)one / 1e6, st.n, (double)one * st.n / 1e6);
		free(rb);
		ksk_wire_dec_destroy(d2);
	}

	/* ---- search ---- */
	static const char *const svcs[] = {"payments", "orders", "gateway", "inventory",
	                                   "users-2", "search-5", "auth-3", "shipping-7"};
	static const char *const regions[] = {"eu-west-1", "us-east-1", "ap-south-1"};
	uint64_t slat[64];
	int nq = 0;
	uint32_t total_hits = 0, total_fetch = 0;
	for (int r = 0; r < 3; r++) {
		for (int i = 0; i < 8; i++) {
			col_search q;
			memset(&q, 0, sizeof(q));
			q.span_kind = -1;
			q.service = ksk_str_c(svcs[i]);
			q.min_duration_ns = 300000000; /* 300 ms */
			q.attrs[0] = (col_attr_filter){KSK_STR("cloud.region"), ksk_str_c(regions[i % 3])};
			q.n_attrs = 1;
			q.limit = 20;
			uint32_t fetched;
			uint64_t t0 = now_ns();
			uint32_t hits = search(&st, &q, a, &fetched);
			slat[nq++] = now_ns() - t0;
			if (r == 0) {
				total_hits += hits;
				total_fetch += fetched;
			}
		}
	}
	uint64_t s50 = pct(slat, (size_t)nq, 0.5), s99 = pct(slat, (size_t)nq, 1.0);
	printf("\n-- search: service + min duration 300 ms + cloud.region, limit 20, newest first --\n");
	printf("  p50 %8.2f ms   max %8.2f ms over %d queries (%u hits, %u candidates fetched per "
	       "round of 8)\n",
	       (double)s50 / 1e6, (double)s99 / 1e6, nq, total_hits, total_fetch);
	/* a rare attribute: one user */
	nq = 0;
	total_hits = total_fetch = 0;
	for (int i = 0; i < 16; i++) {
		char user[32];
		snprintf(user, sizeof(user), "user-%d", 1000 + i * 4099);
		col_search q;
		memset(&q, 0, sizeof(q));
		q.span_kind = -1;
		q.service = ksk_str_c(svcs[i % 8]);
		q.min_duration_ns = 20000000;
		q.attrs[0] = (col_attr_filter){KSK_STR("enduser.id"), ksk_str_c(user)};
		q.n_attrs = 1;
		uint32_t fetched;
		uint64_t t0 = now_ns();
		total_hits += search(&st, &q, a, &fetched);
		total_fetch += fetched;
		slat[nq++] = now_ns() - t0;
	}
	s50 = pct(slat, (size_t)nq, 0.5);
	s99 = pct(slat, (size_t)nq, 1.0);
	printf("  rare value (service + 20 ms + enduser.id=user-N): p50 %8.2f ms   max %8.2f ms "
	       "(%u hits, %u fetched over %d queries)\n",
	       (double)s50 / 1e6, (double)s99 / 1e6, total_hits, total_fetch, nq);

	for (int i = 0; i < st.n; i++)
		col_seg_close(st.seg[i]);
	ksk_arena_destroy(a);
	if (!c.dir) {
		for (int i = 0; i < nseg; i++) {
			char path[512];
			snprintf(path, sizeof(path), "%s/seg-%04d.ksg", dir, i);
			unlink(path);
		}
		rmdir(dir);
	}
	for (size_t i = 0; i < n_scan; i++)
		free(scan_z[i]);
	free(scan_z);
	free(scan_zlen);
	free(scan_raw);
	free(scan_cnt);
	free(zbuf);
	free(ids);
	free(lat);
	free(st.seg);
	ZSTD_freeCCtx(zc);
	ZSTD_freeDCtx(zd);
	return miss ? 1 : 0;
}
