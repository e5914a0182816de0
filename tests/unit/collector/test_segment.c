/*
 * test_segment.c : unit tests of sealed segments (collector/col_segment.h).
 *
 * Builds segments from generated batches (tools/gen.h) plus a hand-made
 * batch that uses every field and value type, reopens them and checks,
 * against the input: every trace span for span and log for log, missing
 * IDs, search (each condition, newest first, the limit applied after the
 * filters by verifying candidates as the store does), operations, edges,
 * batch keys and log search. Then damages files: flipped bytes in the
 * footer, index and blocks, random flips everywhere, flips with fixed-up
 * checksums (hostile content), truncation; and an empty segment.
 * Each test works in its own mkdtemp directory and removes it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "col_segment.h"
#include "gen.h"
#include "kiseki/frame.h"
#include "kiseki/wire.h"

#define BASE_NS 1764000000000000000ull
#define MAX_BATCHES 16

/* ---- fixture: input batches kept alive for comparison --------------------- */

typedef struct fx {
	char dir[64];
	char path[128];
	ksk_wire_dec *dec[MAX_BATCHES];
	uint8_t *payload[MAX_BATCHES];
	const ksk_batch *b[MAX_BATCHES];
	ksk_frame_hdr hdr[MAX_BATCHES];
	int nb;
	ksk_arena *arena; /* for the hand-made batch */
} fx;

static void fx_rmdir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char p[512];
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static void fx_free(fx *f)
{
	for (int i = 0; i < f->nb; i++) {
		ksk_wire_dec_destroy(f->dec[i]);
		free(f->payload[i]);
	}
	ksk_arena_destroy(f->arena);
	fx_rmdir(f->dir);
	free(f);
}

static fx *fx_new(void)
{
	fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kseg-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/seg-1.ksg", f->dir);
	assert_int_equal(ksk_arena_create(NULL, 0, 0, &f->arena), KSK_OK);
	return f;
}

/* Decodes a payload from `enc` into a kept batch. */
static void fx_keep(fx *f, ksk_wire_enc *enc, uint64_t seq)
{
	assert_true(f->nb < MAX_BATCHES);
	size_t len;
	const uint8_t *p = ksk_wire_enc_data(enc, &len);
	int i = f->nb++;
	f->payload[i] = malloc(len ? len : 1);
	memcpy(f->payload[i], p, len);
	assert_int_equal(ksk_wire_dec_create(NULL, NULL, &f->dec[i]), KSK_OK);
	ksk_errinfo ei;
	ksk_err rc = ksk_wire_decode(f->dec[i], f->payload[i], len, ksk_wire_enc_count(enc),
	                             &f->b[i], &ei);
	if (rc)
		fail_msg("decode: %s %s", ksk_errname(rc), ei.msg);
	memset(&f->hdr[i], 0, sizeof(f->hdr[i]));
	f->hdr[i].agent_id[0] = 0xA1;
	f->hdr[i].agent_id[15] = (uint8_t)i;
	f->hdr[i].seq = seq;
}

static void fx_gen(fx *f, int batches, uint32_t spans, uint32_t logs, uint32_t services)
{
	ksk_gen *g;
	ksk_wire_enc *enc;
	assert_int_equal(ksk_gen_create(7, services, &g), KSK_OK);
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &enc), KSK_OK);
	for (int i = 0; i < batches; i++) {
		assert_int_equal(ksk_gen_batch(g, enc, spans, logs, BASE_NS + (uint64_t)i * 7000000000ull),
		                 KSK_OK);
		fx_keep(f, enc, 100 + (uint64_t)i);
	}
	ksk_wire_enc_destroy(enc);
	ksk_gen_destroy(g);
}

static const uint8_t T1[16] = {0x11, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t T2[16] = {0x22, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t TX[16] = {0x33, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};

/* A batch with every field and value type. */
static void fx_special(fx *f)
{
	ksk_arena *a = f->arena;
	ksk_wire_enc *enc;
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &enc), KSK_OK);
	ksk_attr *ra = ksk_arena_calloc(a, 4, sizeof(ksk_attr));
	ra[0] = (ksk_attr){KSK_STR("service.name"), ksk_val_str(KSK_STR("svc-a"))};
	ra[1] = (ksk_attr){KSK_STR("host.name"), ksk_val_str(KSK_STR("host-1"))};
	ra[2] = (ksk_attr){KSK_STR("k8s.pod.uid"), ksk_val_int(-77)};
	ra[3] = (ksk_attr){KSK_STR("region"), ksk_val_str(KSK_STR("moon"))};
	ksk_resource r0 = {.attrs = ra, .n_attrs = 4};
	ksk_attr *rb = ksk_arena_calloc(a, 1, sizeof(ksk_attr));
	rb[0] = (ksk_attr){KSK_STR("service.name"), ksk_val_str(KSK_STR("svc-b"))};
	ksk_resource r1 = {.attrs = rb, .n_attrs = 1, .dropped_attrs = 3};
	ksk_resource r2 = {0};
	uint32_t i0, i1, i2;
	assert_int_equal(ksk_wire_enc_resource(enc, &r0, &i0), KSK_OK);
	assert_int_equal(ksk_wire_enc_resource(enc, &r1, &i1), KSK_OK);
	assert_int_equal(ksk_wire_enc_resource(enc, &r2, &i2), KSK_OK);

	/* every value type */
	ksk_value *arr = ksk_arena_calloc(a, 3, sizeof(ksk_value));
	ksk_value *inner = ksk_arena_calloc(a, 2, sizeof(ksk_value));
	inner[0] = ksk_val_double(0.1);
	inner[1] = ksk_val_bool(false);
	arr[0] = ksk_val_int(42);
	arr[1] = ksk_val_str(KSK_STR("x"));
	arr[2].type = KSK_VAL_ARRAY;
	arr[2].u.arr.items = inner;
	arr[2].u.arr.n = 2;
	ksk_attr *kv2 = ksk_arena_calloc(a, 1, sizeof(ksk_attr));
	kv2[0] = (ksk_attr){KSK_STR("c"), ksk_val_str(KSK_STR("deep"))};
	ksk_attr *kv = ksk_arena_calloc(a, 2, sizeof(ksk_attr));
	kv[0] = (ksk_attr){KSK_STR("a"), ksk_val_int(1)};
	kv[1].key = KSK_STR("b");
	kv[1].value.type = KSK_VAL_KVLIST;
	kv[1].value.u.kv.items = kv2;
	kv[1].value.u.kv.n = 1;
	static const char bytes[] = {0, 1, 2, (char)0xff, 0};
	ksk_attr *at = ksk_arena_calloc(a, 18, sizeof(ksk_attr));
	int n = 0;
	at[n++] = (ksk_attr){KSK_STR("s"), ksk_val_str(KSK_STR("hello world"))};
	at[n++] = (ksk_attr){KSK_STR("t"), ksk_val_bool(true)};
	at[n++] = (ksk_attr){KSK_STR("f"), ksk_val_bool(false)};
	at[n++] = (ksk_attr){KSK_STR("neg"), ksk_val_int(-5)};
	at[n++] = (ksk_attr){KSK_STR("min"), ksk_val_int(INT64_MIN)};
	at[n++] = (ksk_attr){KSK_STR("max"), ksk_val_int(INT64_MAX)};
	at[n++] = (ksk_attr){KSK_STR("d"), ksk_val_double(12.34)};
	at[n++] = (ksk_attr){KSK_STR("nan"), ksk_val_double(NAN)};
	at[n++] = (ksk_attr){KSK_STR("negzero"), ksk_val_double(-0.0)};
	at[n++] = (ksk_attr){KSK_STR("inf"), ksk_val_double(-INFINITY)};
	at[n++] = (ksk_attr){KSK_STR("big"), ksk_val_double(1e300)};
	at[n++] = (ksk_attr){KSK_STR("tiny"), ksk_val_double(5e-324)};
	at[n++] = (ksk_attr){KSK_STR("third"), ksk_val_double(1.0 / 3.0)};
	at[n].key = KSK_STR("bytes");
	at[n].value.type = KSK_VAL_BYTES;
	at[n].value.u.s = (ksk_str){bytes, sizeof(bytes)};
	n++;
	at[n].key = KSK_STR("empty");
	at[n].value.type = KSK_VAL_EMPTY;
	n++;
	at[n].key = KSK_STR("arr");
	at[n].value.type = KSK_VAL_ARRAY;
	at[n].value.u.arr.items = arr;
	at[n].value.u.arr.n = 3;
	n++;
	at[n].key = KSK_STR("kv");
	at[n].value.type = KSK_VAL_KVLIST;
	at[n].value.u.kv.items = kv;
	at[n].value.u.kv.n = 2;
	n++;
	at[n++] = (ksk_attr){KSK_STR("s"), ksk_val_str(KSK_STR("duplicate key kept"))};

	ksk_attr *ea = ksk_arena_calloc(a, 1, sizeof(ksk_attr));
	ea[0] = (ksk_attr){KSK_STR("exception.type"), ksk_val_str(KSK_STR("IOError"))};
	ksk_event *ev = ksk_arena_calloc(a, 3, sizeof(ksk_event));
	uint64_t t0 = BASE_NS + 500000000ull;
	ev[0] = (ksk_event){.time_ns = t0 + 10, .name = KSK_STR("exception"), .attrs = ea, .n_attrs = 1,
	                    .dropped_attrs = 4};
	ev[1] = (ksk_event){.time_ns = t0 + 1000000, .name = KSK_STR("")};
	ev[2] = (ksk_event){.time_ns = t0 + 2000000, .name = KSK_STR("done")};
	ksk_link *lk = ksk_arena_calloc(a, 2, sizeof(ksk_link));
	memcpy(lk[0].trace_id, T1, 16);
	memset(lk[0].span_id, 0x5b, 8);
	memcpy(lk[1].trace_id, TX, 16);
	memset(lk[1].span_id, 0x6c, 8);
	lk[1].trace_state = KSK_STR("vendor=1");
	lk[1].flags = 1;
	lk[1].attrs = ea;
	lk[1].n_attrs = 1;
	lk[1].dropped_attrs = 2;

	ksk_span s;
	memset(&s, 0, sizeof(s));
	memcpy(s.trace_id, T1, 16);
	memset(s.span_id, 0x5a, 8);
	s.name = KSK_STR("root-op");
	s.kind = KSK_KIND_SERVER;
	s.start_ns = t0;
	s.end_ns = t0 + 3000000000ull; /* 3 s: the longest trace */
	s.status = KSK_STATUS_ERROR;
	s.status_msg = KSK_STR("boom");
	s.trace_state = KSK_STR("ro=1");
	s.flags = 0x301;
	s.scope_name = KSK_STR("scope");
	s.scope_version = KSK_STR("9.9");
	s.attrs = at;
	s.n_attrs = (uint32_t)n;
	s.events = ev;
	s.n_events = 3;
	s.links = lk;
	s.n_links = 2;
	s.dropped_attrs = 1;
	s.dropped_events = 2;
	s.dropped_links = 3;
	s.resource = i0;
	assert_int_equal(ksk_wire_enc_span(enc, &s), KSK_OK);

	ksk_span c;
	memset(&c, 0, sizeof(c));
	memcpy(c.trace_id, T1, 16);
	memset(c.span_id, 0x5b, 8);
	memset(c.parent_id, 0x5a, 8);
	c.name = KSK_STR("child-op");
	c.kind = KSK_KIND_CONSUMER;
	c.start_ns = t0 + 5;
	c.end_ns = t0 + 5;
	c.resource = i1;
	assert_int_equal(ksk_wire_enc_span(enc, &c), KSK_OK);
	memset(c.span_id, 0x5c, 8);
	memset(c.parent_id, 0x99, 8); /* parent not in the trace */
	c.name = KSK_STR("orphan");
	c.kind = KSK_KIND_UNSPECIFIED;
	c.resource = i2;
	c.status = KSK_STATUS_OK;
	assert_int_equal(ksk_wire_enc_span(enc, &c), KSK_OK);

	ksk_log l;
	memset(&l, 0, sizeof(l));
	l.time_ns = t0 + 7;
	l.observed_ns = t0 + 3;
	l.severity = 17;
	l.severity_text = KSK_STR("ERROR");
	l.body = ksk_val_str(KSK_STR("it broke"));
	l.attrs = at;
	l.n_attrs = 3;
	memcpy(l.trace_id, T1, 16);
	memset(l.span_id, 0x5a, 8);
	l.flags = 1;
	l.event_name = KSK_STR("ev.name");
	l.scope_name = KSK_STR("logscope");
	l.dropped_attrs = 9;
	l.resource = i0;
	assert_int_equal(ksk_wire_enc_log(enc, &l), KSK_OK);
	memset(&l, 0, sizeof(l)); /* time 0, kvlist body, trace T2 with no spans */
	l.observed_ns = t0 + 100;
	l.severity = 9;
	l.body.type = KSK_VAL_KVLIST;
	l.body.u.kv.items = kv;
	l.body.u.kv.n = 2;
	memcpy(l.trace_id, T2, 16);
	l.resource = i1;
	assert_int_equal(ksk_wire_enc_log(enc, &l), KSK_OK);
	memset(&l, 0, sizeof(l)); /* no trace, int body, scope version only */
	l.time_ns = t0 + 50;
	l.severity = 5;
	l.body = ksk_val_int(-3);
	l.scope_version = KSK_STR("v2");
	l.resource = i2;
	assert_int_equal(ksk_wire_enc_log(enc, &l), KSK_OK);
	fx_keep(f, enc, 999);
	ksk_wire_enc_destroy(enc);
}

static void fx_write(fx *f, col_seg_info *info)
{
	col_segw *w;
	assert_int_equal(col_segw_create(NULL, &w), KSK_OK);
	col_segw_tuning t = {.block_bytes = 64 * 1024, .log_block_bytes = 16 * 1024};
	col_segw_set_tuning(w, &t);
	for (int i = 0; i < f->nb; i++)
		assert_int_equal(col_segw_add(w, &f->hdr[i], f->b[i]), KSK_OK);
	ksk_errinfo ei;
	ksk_err rc = col_segw_finish(w, f->path, 12345, info, &ei);
	if (rc)
		fail_msg("finish: %s %s", ksk_errname(rc), ei.msg);
	col_segw_destroy(w);
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
	assert_int_not_equal(access(tmp, F_OK), 0);
}

static col_seg *fx_open(fx *f)
{
	col_seg *s;
	ksk_errinfo ei;
	ksk_err rc = col_seg_open(NULL, f->path, &s, &ei);
	if (rc)
		fail_msg("open: %s %s", ksk_errname(rc), ei.msg);
	return s;
}

/* ---- comparisons ------------------------------------------------------------ */

static bool attrs_eq(const ksk_attr *a, uint32_t na, const ksk_attr *b, uint32_t nb)
{
	if (na != nb)
		return false;
	for (uint32_t i = 0; i < na; i++)
		if (!ksk_str_eq(a[i].key, b[i].key) || !ksk_value_eq(&a[i].value, &b[i].value))
			return false;
	return true;
}

static bool res_eq(const ksk_resource *a, const ksk_resource *b)
{
	return attrs_eq(a->attrs, a->n_attrs, b->attrs, b->n_attrs) &&
	       a->dropped_attrs == b->dropped_attrs && ksk_str_eq(a->service, b->service) &&
	       ksk_str_eq(a->host, b->host);
}

static void span_check(const ksk_span *x, const ksk_resource *xr, const ksk_span *y,
                       const ksk_resource *yr)
{
	assert_memory_equal(x->trace_id, y->trace_id, 16);
	assert_memory_equal(x->span_id, y->span_id, 8);
	assert_memory_equal(x->parent_id, y->parent_id, 8);
	assert_int_equal(x->has_parent, y->has_parent);
	assert_true(ksk_str_eq(x->name, y->name));
	assert_int_equal(x->kind, y->kind);
	assert_int_equal(x->start_ns, y->start_ns);
	assert_int_equal(x->end_ns, y->end_ns);
	assert_int_equal(x->status, y->status);
	assert_true(ksk_str_eq(x->status_msg, y->status_msg));
	assert_true(ksk_str_eq(x->trace_state, y->trace_state));
	assert_int_equal(x->flags, y->flags);
	assert_true(ksk_str_eq(x->scope_name, y->scope_name));
	assert_true(ksk_str_eq(x->scope_version, y->scope_version));
	assert_true(attrs_eq(x->attrs, x->n_attrs, y->attrs, y->n_attrs));
	assert_int_equal(x->n_events, y->n_events);
	for (uint32_t i = 0; i < x->n_events; i++) {
		assert_int_equal(x->events[i].time_ns, y->events[i].time_ns);
		assert_true(ksk_str_eq(x->events[i].name, y->events[i].name));
		assert_true(attrs_eq(x->events[i].attrs, x->events[i].n_attrs, y->events[i].attrs,
		                     y->events[i].n_attrs));
		assert_int_equal(x->events[i].dropped_attrs, y->events[i].dropped_attrs);
	}
	assert_int_equal(x->n_links, y->n_links);
	for (uint32_t i = 0; i < x->n_links; i++) {
		const ksk_link *p = &x->links[i], *q = &y->links[i];
		assert_memory_equal(p->trace_id, q->trace_id, 16);
		assert_memory_equal(p->span_id, q->span_id, 8);
		assert_true(ksk_str_eq(p->trace_state, q->trace_state));
		assert_int_equal(p->flags, q->flags);
		assert_true(attrs_eq(p->attrs, p->n_attrs, q->attrs, q->n_attrs));
		assert_int_equal(p->dropped_attrs, q->dropped_attrs);
	}
	assert_int_equal(x->dropped_attrs, y->dropped_attrs);
	assert_int_equal(x->dropped_events, y->dropped_events);
	assert_int_equal(x->dropped_links, y->dropped_links);
	assert_true(res_eq(xr, yr));
}

static void log_check(const ksk_log *x, const ksk_resource *xr, const ksk_log *y,
                      const ksk_resource *yr)
{
	assert_int_equal(x->time_ns, y->time_ns);
	assert_int_equal(x->observed_ns, y->observed_ns);
	assert_int_equal(x->severity, y->severity);
	assert_true(ksk_str_eq(x->severity_text, y->severity_text));
	assert_true(ksk_value_eq(&x->body, &y->body));
	assert_true(attrs_eq(x->attrs, x->n_attrs, y->attrs, y->n_attrs));
	assert_int_equal(x->dropped_attrs, y->dropped_attrs);
	assert_memory_equal(x->trace_id, y->trace_id, 16);
	assert_memory_equal(x->span_id, y->span_id, 8);
	assert_int_equal(x->has_trace, y->has_trace);
	assert_int_equal(x->has_span, y->has_span);
	assert_int_equal(x->flags, y->flags);
	assert_true(ksk_str_eq(x->event_name, y->event_name));
	assert_true(ksk_str_eq(x->scope_name, y->scope_name));
	assert_true(ksk_str_eq(x->scope_version, y->scope_version));
	assert_true(res_eq(xr, yr));
}

static uint64_t log_eff(const ksk_log *l)
{
	return l->time_ns ? l->time_ns : l->observed_ns;
}

/* Checks one trace fetched from `s` against every input record. */
static void check_trace(fx *f, const col_seg *s, const uint8_t tid[16], ksk_arena *a)
{
	col_trace t;
	memset(&t, 0, sizeof(t));
	bool found;
	ksk_errinfo ei;
	ksk_err rc = col_seg_get_trace(s, tid, a, &t, &found, &ei);
	if (rc)
		fail_msg("get_trace: %s %s", ksk_errname(rc), ei.msg);
	assert_true(found);
	assert_memory_equal(t.trace_id, tid, 16);
	uint32_t ns = 0, nl = 0;
	uint64_t last_eff = 0;
	for (int bi = 0; bi < f->nb; bi++) {
		const ksk_batch *b = f->b[bi];
		for (uint32_t i = 0; i < b->n_spans; i++) {
			const ksk_span *x = &b->spans[i];
			if (memcmp(x->trace_id, tid, 16))
				continue;
			ns++;
			uint32_t j = 0;
			while (j < t.n_spans && memcmp(t.spans[j].span_id, x->span_id, 8))
				j++;
			assert_true(j < t.n_spans);
			assert_true(t.spans[j].resource < t.n_resources);
			span_check(&t.spans[j], &t.resources[t.spans[j].resource], x,
			           &b->resources[x->resource]);
		}
	}
	assert_int_equal(ns, t.n_spans);
	/* logs: time order, ties in input order */
	for (uint32_t j = 0; j < t.n_logs; j++) {
		assert_true(log_eff(&t.logs[j]) >= last_eff);
		last_eff = log_eff(&t.logs[j]);
	}
	for (int bi = 0; bi < f->nb; bi++) {
		const ksk_batch *b = f->b[bi];
		for (uint32_t i = 0; i < b->n_logs; i++) {
			const ksk_log *x = &b->logs[i];
			if (!x->has_trace || memcmp(x->trace_id, tid, 16))
				continue;
			nl++;
			/* find the output log equal to it */
			bool hit = false;
			for (uint32_t j = 0; j < t.n_logs && !hit; j++) {
				const ksk_log *y = &t.logs[j];
				if (y->observed_ns == x->observed_ns && y->time_ns == x->time_ns &&
				    ksk_value_eq(&y->body, &x->body)) {
					log_check(y, &t.resources[y->resource], x, &b->resources[x->resource]);
					hit = true;
				}
			}
			assert_true(hit);
		}
	}
	assert_int_equal(nl, t.n_logs);
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_roundtrip(void **state)
{
	(void)state;
	fx *f = fx_new();
	fx_gen(f, 4, 1500, 300, 8);
	fx_special(f);
	col_seg_info info;
	fx_write(f, &info);
	col_seg *s = fx_open(f);
	const col_seg_info *si = col_seg_info_get(s);
	uint64_t spans = 0, logs = 0;
	for (int i = 0; i < f->nb; i++) {
		spans += f->b[i]->n_spans;
		logs += f->b[i]->n_logs;
	}
	assert_int_equal(si->spans, spans);
	assert_int_equal(si->logs, logs);
	assert_int_equal(si->batches, (uint64_t)f->nb);
	assert_int_equal(si->created_ns, 12345);
	assert_int_equal(si->traces, info.traces);
	assert_int_equal(si->file_bytes, info.file_bytes);
	assert_true(si->min_ns <= BASE_NS + 10);
	ksk_arena *a;
	assert_int_equal(ksk_arena_create(NULL, 0, 0, &a), KSK_OK);
	/* every trace of every batch, spans and logs */
	uint32_t checked = 0;
	for (int bi = 0; bi < f->nb; bi++) {
		const ksk_batch *b = f->b[bi];
		for (uint32_t i = 0; i < b->n_spans; i++) {
			if (i && !memcmp(b->spans[i - 1].trace_id, b->spans[i].trace_id, 16))
				continue;
			check_trace(f, s, b->spans[i].trace_id, a);
			ksk_arena_reset(a);
			checked++;
		}
	}
	assert_true(checked > 400);
	check_trace(f, s, T2, a); /* logs only */
	ksk_arena_reset(a);
	/* appending to a trace already holding records shifts resource indexes */
	col_trace t;
	memset(&t, 0, sizeof(t));
	bool found;
	assert_int_equal(col_seg_get_trace(s, T1, a, &t, &found, NULL), KSK_OK);
	uint32_t n1 = t.n_spans, r1 = t.n_resources;
	assert_int_equal(col_seg_get_trace(s, T1, a, &t, &found, NULL), KSK_OK);
	assert_int_equal(t.n_spans, 2 * n1);
	assert_int_equal(t.n_resources, 2 * r1);
	for (uint32_t i = 0; i < n1; i++)
		assert_true(res_eq(&t.resources[t.spans[i].resource],
		                   &t.resources[t.spans[n1 + i].resource]));
	assert_true(t.spans[n1].resource >= r1);
	ksk_arena_reset(a);
	/* missing IDs: not found, and the filter refuses most of them */
	uint64_t x = 88172645463325252ull;
	int refused = 0;
	for (int i = 0; i < 2000; i++) {
		uint8_t id[16];
		for (int k = 0; k < 16; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			id[k] = (uint8_t)x;
		}
		memset(&t, 0, sizeof(t));
		assert_int_equal(col_seg_get_trace(s, id, a, &t, &found, NULL), KSK_OK);
		assert_false(found);
		assert_int_equal(t.n_spans, 0);
		refused += !col_seg_may_contain(s, id);
	}
	assert_true(refused > 1900);
	memset(&t, 0, sizeof(t));
	assert_int_equal(col_seg_get_trace(s, TX, a, &t, &found, NULL), KSK_OK);
	assert_false(found);
	col_seg_bytes by;
	col_seg_bytes_get(s, &by);
	assert_int_equal(by.trace_blocks + by.log_blocks + by.index + by.search + by.tables + by.other,
	                 si->file_bytes);
	ksk_arena_destroy(a);
	col_seg_close(s);
	fx_free(f);
}

/* ---- search -------------------------------------------------------------------------- */

typedef struct cand {
	col_summary v[4096];
	bool svc_ok[4096];
	ksk_str want; /* a service every candidate must list */
	int n;
} cand;

static bool cand_cb(void *ctx, const col_summary *sum)
{
	cand *c = ctx;
	if (c->n < 4096) {
		c->v[c->n] = *sum;
		c->v[c->n].services = NULL; /* valid only during the call */
		c->svc_ok[c->n] = c->want.len == 0;
		for (uint32_t k = 0; k < sum->n_services; k++)
			c->svc_ok[c->n] = c->svc_ok[c->n] || ksk_str_eq(sum->services[k], c->want);
		c->n++;
	}
	return true;
}

/* Whether one span of the trace satisfies every span-level condition. */
static bool span_match(const ksk_span *sp, const ksk_resource *r, const col_search *q)
{
	if (q->service.len && !ksk_str_eq(r->service, q->service))
		return false;
	if (q->operation.len && !ksk_str_eq(sp->name, q->operation))
		return false;
	if (q->span_kind >= 0 && (int)sp->kind != q->span_kind)
		return false;
	for (uint32_t i = 0; i < q->n_attrs; i++) {
		bool ok = false;
		for (int pass = 0; pass < 2 && !ok; pass++) {
			const ksk_attr *at = pass ? r->attrs : sp->attrs;
			uint32_t n = pass ? r->n_attrs : sp->n_attrs;
			for (uint32_t j = 0; j < n && !ok; j++) {
				if (!ksk_str_eq(at[j].key, q->attrs[i].key))
					continue;
				char buf[64];
				const ksk_value *v = &at[j].value;
				if (v->type == KSK_VAL_STR)
					ok = ksk_str_eq(v->u.s, q->attrs[i].value);
				else {
					if (v->type == KSK_VAL_INT)
						snprintf(buf, sizeof(buf), "%lld", (long long)v->u.i);
					else if (v->type == KSK_VAL_BOOL)
						snprintf(buf, sizeof(buf), "%s", v->u.b ? "true" : "false");
					else if (v->type == KSK_VAL_DOUBLE)
						snprintf(buf, sizeof(buf), "%.17g", v->u.d);
					else
						continue;
					ok = ksk_str_eq(ksk_str_c(buf), q->attrs[i].value);
				}
			}
		}
		if (!ok)
			return false;
	}
	return true;
}

/* Truth by brute force over the input: traces (by first span) matching
 * q, as (start, trace id) sorted newest first. */
typedef struct truth {
	uint8_t tid[4096][16];
	uint64_t start[4096];
	int n;
} truth;

static void brute(fx *f, const col_search *q, truth *t)
{
	t->n = 0;
	for (int bi = 0; bi < f->nb; bi++) {
		const ksk_batch *b = f->b[bi];
		uint32_t i = 0;
		while (i < b->n_spans) {
			uint32_t j = i;
			while (j < b->n_spans && !memcmp(b->spans[j].trace_id, b->spans[i].trace_id, 16))
				j++;
			uint64_t st = UINT64_MAX, en = 0;
			uint32_t errs = 0;
			bool span_ok = false;
			for (uint32_t k = i; k < j; k++) {
				const ksk_span *sp = &b->spans[k];
				st = sp->start_ns < st ? sp->start_ns : st;
				en = sp->end_ns > en ? sp->end_ns : en;
				errs += sp->status == KSK_STATUS_ERROR;
				span_ok = span_ok || span_match(sp, &b->resources[sp->resource], q);
			}
			uint64_t dur = en - st;
			uint32_t n = j - i;
			bool ok = span_ok && (!q->min_duration_ns || dur >= q->min_duration_ns) &&
			          (!q->max_duration_ns || dur <= q->max_duration_ns) &&
			          (!q->min_spans || n >= q->min_spans) && (!q->max_spans || n <= q->max_spans) &&
			          (!q->errors_only || errs) && (!q->start_ns || st >= q->start_ns) &&
			          (!q->end_ns || st <= q->end_ns);
			if (ok && t->n < 4096) {
				memcpy(t->tid[t->n], b->spans[i].trace_id, 16);
				t->start[t->n++] = st;
			}
			i = j;
		}
	}
}

/* Runs q; checks no false negatives, trace-level filters exact, newest
 * first; then applies verification + limit like the store and compares
 * with the truth's first `limit`. */
static void check_search(fx *f, const col_seg *s, const col_search *q, int want_min)
{
	static cand c;
	static truth t;
	c.n = 0;
	c.want = q->service;
	assert_int_equal(col_seg_search(s, q, cand_cb, &c, NULL), KSK_OK);
	brute(f, q, &t);
	assert_true(t.n >= want_min);
	for (int i = 1; i < c.n; i++)
		assert_true(c.v[i - 1].start_ns >= c.v[i].start_ns);
	for (int i = 0; i < c.n; i++) {
		uint64_t d = c.v[i].end_ns - c.v[i].start_ns;
		assert_true(!q->min_duration_ns || d >= q->min_duration_ns);
		assert_true(!q->max_duration_ns || d <= q->max_duration_ns);
		assert_true(!q->min_spans || c.v[i].span_count >= q->min_spans);
		assert_true(!q->max_spans || c.v[i].span_count <= q->max_spans);
		assert_true(!q->errors_only || c.v[i].error_count > 0);
		assert_true(c.svc_ok[i]);
	}
	for (int i = 0; i < t.n; i++) {
		bool hit = false;
		for (int j = 0; j < c.n && !hit; j++)
			hit = !memcmp(c.v[j].trace_id, t.tid[i], 16);
		assert_true(hit);
	}
	/* verification + limit, as the store does */
	ksk_arena *a;
	assert_int_equal(ksk_arena_create(NULL, 0, 0, &a), KSK_OK);
	uint32_t limit = q->limit ? q->limit : 20;
	uint32_t got = 0;
	static uint8_t res[4096][16];
	for (int j = 0; j < c.n && got < limit; j++) {
		col_trace tr;
		memset(&tr, 0, sizeof(tr));
		bool found;
		assert_int_equal(col_seg_get_trace(s, c.v[j].trace_id, a, &tr, &found, NULL), KSK_OK);
		bool ok = false;
		for (uint32_t k = 0; k < tr.n_spans && !ok; k++)
			ok = span_match(&tr.spans[k], &tr.resources[tr.spans[k].resource], q);
		if (ok)
			memcpy(res[got++], c.v[j].trace_id, 16);
		ksk_arena_reset(a);
	}
	/* the truth sorted newest first: compare the first `got` */
	for (uint32_t k = 0; k < got; k++) {
		int best = -1;
		for (int i = 0; i < t.n; i++) {
			if (t.start[i] == UINT64_MAX)
				continue;
			if (best < 0 || t.start[i] > t.start[best] ||
			    (t.start[i] == t.start[best] && memcmp(t.tid[i], t.tid[best], 16) < 0))
				best = i;
		}
		assert_true(best >= 0);
		assert_memory_equal(res[k], t.tid[best], 16);
		t.start[best] = UINT64_MAX;
	}
	assert_int_equal(got, (uint32_t)t.n < limit ? (uint32_t)t.n : limit);
	ksk_arena_destroy(a);
}

static void test_search(void **state)
{
	(void)state;
	fx *f = fx_new();
	fx_gen(f, 3, 2000, 100, 8);
	fx_special(f);
	fx_write(f, NULL);
	col_seg *s = fx_open(f);
	col_search q;
	memset(&q, 0, sizeof(q));
	q.span_kind = -1;
	check_search(f, s, &q, 100); /* everything, limit 20 */
	q.limit = 5;
	check_search(f, s, &q, 100);
	q.limit = 0;
	q.service = KSK_STR("payments");
	check_search(f, s, &q, 10);
	q.min_duration_ns = 150000000; /* 150 ms */
	check_search(f, s, &q, 1);
	q.attrs[0] = (col_attr_filter){KSK_STR("cloud.region"), KSK_STR("eu-west-1")};
	q.n_attrs = 1;
	check_search(f, s, &q, 1);
	memset(&q, 0, sizeof(q));
	q.span_kind = -1;
	q.attrs[0] = (col_attr_filter){KSK_STR("http.response.status_code"), KSK_STR("503")};
	q.n_attrs = 1;
	q.limit = 1000;
	check_search(f, s, &q, 10);
	q.attrs[0] = (col_attr_filter){KSK_STR("app.cache_hit"), KSK_STR("true")};
	check_search(f, s, &q, 10);
	q.attrs[0] = (col_attr_filter){KSK_STR("host.name"), KSK_STR("node-03")}; /* resource */
	check_search(f, s, &q, 10);
	q.attrs[0] = (col_attr_filter){KSK_STR("service.name"), KSK_STR("orders")};
	check_search(f, s, &q, 10);
	q.attrs[0] = (col_attr_filter){KSK_STR("service.name"), KSK_STR("nope")};
	check_search(f, s, &q, 0);
	q.attrs[0] = (col_attr_filter){KSK_STR("d"), KSK_STR("12.34")}; /* a double, as text */
	check_search(f, s, &q, 1);
	q.attrs[0] = (col_attr_filter){KSK_STR("min"), KSK_STR("-9223372036854775808")};
	check_search(f, s, &q, 1);
	q.attrs[0] = (col_attr_filter){KSK_STR("region"), KSK_STR("moon")};
	q.attrs[1] = (col_attr_filter){KSK_STR("t"), KSK_STR("true")};
	q.n_attrs = 2;
	check_search(f, s, &q, 1);
	q.attrs[1] = (col_attr_filter){KSK_STR("t"), KSK_STR("false")};
	check_search(f, s, &q, 0);
	memset(&q, 0, sizeof(q));
	q.span_kind = -1;
	q.errors_only = true;
	q.limit = 1000;
	check_search(f, s, &q, 5);
	q.errors_only = false;
	q.min_spans = 15;
	q.max_spans = 17;
	check_search(f, s, &q, 5);
	q.min_spans = q.max_spans = 0;
	q.max_duration_ns = 20000000;
	check_search(f, s, &q, 5);
	q.max_duration_ns = 0;
	q.start_ns = BASE_NS + 7000000000ull;
	q.end_ns = BASE_NS + 7500000000ull;
	check_search(f, s, &q, 5);
	q.start_ns = q.end_ns = 0;
	q.operation = KSK_STR("redis GET");
	check_search(f, s, &q, 5);
	q.span_kind = KSK_KIND_CLIENT;
	check_search(f, s, &q, 1);
	q.service = KSK_STR("orders");
	check_search(f, s, &q, 1);
	q.operation = KSK_STR("child-op");
	q.span_kind = KSK_KIND_CONSUMER;
	q.service = KSK_STR("svc-b");
	check_search(f, s, &q, 1);
	q.service = KSK_STR("svc-a"); /* op exists, but not in that service */
	check_search(f, s, &q, 0);
	q.service = KSK_STR("no-such-service");
	check_search(f, s, &q, 0);
	/* summary fields of the special trace */
	memset(&q, 0, sizeof(q));
	q.span_kind = -1;
	q.min_duration_ns = 2900000000ull;
	static cand c;
	c.n = 0;
	c.want = (ksk_str){0};
	assert_int_equal(col_seg_search(s, &q, cand_cb, &c, NULL), KSK_OK);
	assert_int_equal(c.n, 1);
	assert_memory_equal(c.v[0].trace_id, T1, 16);
	assert_int_equal(c.v[0].span_count, 3);
	assert_int_equal(c.v[0].error_count, 1);
	assert_int_equal(c.v[0].log_count, 1);
	assert_int_equal(c.v[0].n_services, 3);
	assert_true(ksk_str_eq(c.v[0].root_service, KSK_STR("svc-a")));
	assert_true(ksk_str_eq(c.v[0].root_name, KSK_STR("root-op")));
	col_seg_close(s);
	fx_free(f);
}

/* ---- tables ---------------------------------------------------------------------------- */

typedef struct opset {
	char v[512][96];
	int n;
} opset;

static void opset_add(opset *o, ksk_str svc, ksk_str op, int kind)
{
	char k[96];
	snprintf(k, sizeof(k), "%.*s|%.*s|%d", (int)svc.len, svc.ptr ? svc.ptr : "", (int)op.len,
	         op.ptr ? op.ptr : "", kind);
	for (int i = 0; i < o->n; i++)
		if (!strcmp(o->v[i], k))
			return;
	assert_true(o->n < 512);
	strcpy(o->v[o->n++], k);
}

static void op_cb(void *ctx, ksk_str service, ksk_str op, ksk_span_kind kind)
{
	opset_add(ctx, service, op, (int)kind);
}

typedef struct edgesum {
	char p[32][32], c[32][32];
	uint64_t calls[32], errors[32], dur[32];
	int n;
} edgesum;

static void edge_add(edgesum *e, ksk_str p, ksk_str c, uint64_t calls, uint64_t errors,
                     uint64_t dur)
{
	char pp[32], cc[32];
	snprintf(pp, sizeof(pp), "%.*s", (int)p.len, p.ptr ? p.ptr : "");
	snprintf(cc, sizeof(cc), "%.*s", (int)c.len, c.ptr ? c.ptr : "");
	int i = 0;
	while (i < e->n && (strcmp(e->p[i], pp) || strcmp(e->c[i], cc)))
		i++;
	if (i == e->n) {
		assert_true(e->n < 32 * 32);
		if (e->n == 32)
			fail_msg("too many edges");
		strcpy(e->p[i], pp);
		strcpy(e->c[i], cc);
		e->calls[i] = e->errors[i] = e->dur[i] = 0;
		e->n++;
	}
	e->calls[i] += calls;
	e->errors[i] += errors;
	e->dur[i] += dur;
}

static void edge_cb(void *ctx, const col_edge *x)
{
	edge_add(ctx, x->parent, x->child, x->calls, x->errors, x->duration_ns_sum);
}

typedef struct keyset {
	uint8_t agent[64][16];
	uint64_t seq[64];
	int n;
} keyset;

static void key_cb(void *ctx, const uint8_t agent_id[16], uint64_t seq)
{
	keyset *k = ctx;
	memcpy(k->agent[k->n], agent_id, 16);
	k->seq[k->n++] = seq;
}

static void test_tables(void **state)
{
	(void)state;
	fx *f = fx_new();
	fx_gen(f, 3, 1000, 50, 6);
	fx_special(f);
	fx_write(f, NULL);
	col_seg *s = fx_open(f);
	static opset want, got;
	want.n = got.n = 0;
	static edgesum ew, eg;
	ew.n = eg.n = 0;
	for (int bi = 0; bi < f->nb; bi++) {
		const ksk_batch *b = f->b[bi];
		for (uint32_t i = 0; i < b->n_spans; i++) {
			const ksk_span *sp = &b->spans[i];
			ksk_str svc = b->resources[sp->resource].service;
			opset_add(&want, svc, sp->name, (int)sp->kind);
			if (!sp->has_parent)
				continue;
			for (uint32_t j = 0; j < b->n_spans; j++) {
				const ksk_span *p = &b->spans[j];
				if (memcmp(p->trace_id, sp->trace_id, 16) || memcmp(p->span_id, sp->parent_id, 8))
					continue;
				ksk_str ps = b->resources[p->resource].service;
				if (!ksk_str_eq(ps, svc))
					edge_add(&ew, ps, svc, 1, sp->status == KSK_STATUS_ERROR,
					         sp->end_ns - sp->start_ns);
				break;
			}
		}
	}
	col_seg_operations(s, op_cb, &got);
	assert_int_equal(got.n, want.n);
	for (int i = 0; i < want.n; i++) {
		bool hit = false;
		for (int j = 0; j < got.n && !hit; j++)
			hit = !strcmp(want.v[i], got.v[j]);
		assert_true(hit);
	}
	col_seg_edges(s, 0, 0, edge_cb, &eg);
	assert_int_equal(eg.n, ew.n);
	for (int i = 0; i < ew.n; i++) {
		int j = 0;
		while (j < eg.n && (strcmp(ew.p[i], eg.p[j]) || strcmp(ew.c[i], eg.c[j])))
			j++;
		assert_true(j < eg.n);
		assert_int_equal(ew.calls[i], eg.calls[j]);
		assert_int_equal(ew.errors[i], eg.errors[j]);
		assert_int_equal(ew.dur[i], eg.dur[j]);
	}
	/* a time range: only buckets overlapping it; outside the data: none */
	eg.n = 0;
	col_seg_edges(s, BASE_NS - 3600000000000ull, BASE_NS - 120000000000ull, edge_cb, &eg);
	assert_int_equal(eg.n, 0);
	eg.n = 0;
	col_seg_edges(s, BASE_NS, BASE_NS + 1, edge_cb, &eg);
	uint64_t c1 = 0, call = 0;
	for (int i = 0; i < eg.n; i++)
		c1 += eg.calls[i];
	for (int i = 0; i < ew.n; i++)
		call += ew.calls[i];
	assert_true(c1 > 0 && c1 <= call);
	eg.n = 0;
	col_seg_edges(s, BASE_NS + 7000000000ull * 2 + 60000000000ull * 5, 0, edge_cb, &eg);
	assert_int_equal(eg.n, 0);
	/* batch keys */
	static keyset ks;
	ks.n = 0;
	col_seg_batch_keys(s, key_cb, &ks);
	assert_int_equal(ks.n, f->nb);
	for (int i = 0; i < f->nb; i++) {
		assert_memory_equal(ks.agent[i], f->hdr[i].agent_id, 16);
		assert_int_equal(ks.seq[i], f->hdr[i].seq);
	}
	col_seg_close(s);
	fx_free(f);
}

/* ---- logs ------------------------------------------------------------------------------ */

typedef struct loghits {
	uint64_t eff[8192];
	uint8_t sev[8192];
	int n, stop_at;
} loghits;

static bool log_cb(void *ctx, const col_log_hit *h)
{
	loghits *l = ctx;
	if (l->n < 8192) {
		l->eff[l->n] = log_eff(&h->log);
		l->sev[l->n] = h->log.severity;
	}
	l->n++;
	assert_non_null(h->resource);
	assert_true(ksk_str_eq(h->service, h->resource->service));
	return l->stop_at == 0 || l->n < l->stop_at;
}

static void test_logs(void **state)
{
	(void)state;
	fx *f = fx_new();
	fx_gen(f, 3, 500, 700, 6);
	fx_special(f);
	fx_write(f, NULL);
	col_seg *s = fx_open(f);
	ksk_arena *a;
	assert_int_equal(ksk_arena_create(NULL, 0, 0, &a), KSK_OK);
	uint32_t total = 0, err_logs = 0, payments = 0, host3 = 0;
	for (int bi = 0; bi < f->nb; bi++)
		for (uint32_t i = 0; i < f->b[bi]->n_logs; i++) {
			const ksk_log *l = &f->b[bi]->logs[i];
			const ksk_resource *r = &f->b[bi]->resources[l->resource];
			total++;
			err_logs += l->severity >= 17;
			payments += ksk_str_eq(r->service, KSK_STR("payments"));
			host3 += ksk_str_eq(r->host, KSK_STR("node-03"));
		}
	static loghits h;
	col_log_search q;
	memset(&q, 0, sizeof(q));
	h.n = 0;
	h.stop_at = 0;
	assert_int_equal(col_seg_logs(s, &q, a, log_cb, &h, NULL), KSK_OK);
	assert_int_equal(h.n, total);
	for (int i = 1; i < h.n; i++)
		assert_true(h.eff[i - 1] >= h.eff[i]);
	ksk_arena_reset(a);
	h.n = 0;
	q.severity_min = 17;
	assert_int_equal(col_seg_logs(s, &q, a, log_cb, &h, NULL), KSK_OK);
	assert_int_equal(h.n, err_logs);
	ksk_arena_reset(a);
	h.n = 0;
	q.severity_min = 0;
	q.service = KSK_STR("payments");
	assert_int_equal(col_seg_logs(s, &q, a, log_cb, &h, NULL), KSK_OK);
	assert_int_equal(h.n, payments);
	ksk_arena_reset(a);
	h.n = 0;
	q.service = (ksk_str){0};
	q.host = KSK_STR("node-03");
	assert_int_equal(col_seg_logs(s, &q, a, log_cb, &h, NULL), KSK_OK);
	assert_int_equal(h.n, host3);
	ksk_arena_reset(a);
	h.n = 0;
	q.host = (ksk_str){0};
	q.has_trace_id = true;
	memcpy(q.trace_id, T2, 16);
	assert_int_equal(col_seg_logs(s, &q, a, log_cb, &h, NULL), KSK_OK);
	assert_int_equal(h.n, 1);
	ksk_arena_reset(a);
	h.n = 0;
	memcpy(q.trace_id, TX, 16);
	assert_int_equal(col_seg_logs(s, &q, a, log_cb, &h, NULL), KSK_OK);
	assert_int_equal(h.n, 0);
	/* time range and early stop */
	q.has_trace_id = false;
	q.start_ns = BASE_NS + 7000000000ull;
	q.end_ns = BASE_NS + 7000000000ull + 300000000ull;
	h.n = 0;
	assert_int_equal(col_seg_logs(s, &q, a, log_cb, &h, NULL), KSK_OK);
	assert_true(h.n > 0);
	for (int i = 0; i < h.n; i++)
		assert_true(h.eff[i] >= q.start_ns && h.eff[i] <= q.end_ns);
	memset(&q, 0, sizeof(q));
	h.n = 0;
	h.stop_at = 10;
	assert_int_equal(col_seg_logs(s, &q, a, log_cb, &h, NULL), KSK_OK);
	assert_int_equal(h.n, 10);
	ksk_arena_destroy(a);
	col_seg_close(s);
	fx_free(f);
}

/* ---- damage ----------------------------------------------------------------------------- */

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	*len = (size_t)ftell(fp);
	fseek(fp, 0, SEEK_SET);
	uint8_t *p = malloc(*len);
	assert_int_equal(fread(p, 1, *len, fp), *len);
	fclose(fp);
	return p;
}

static void spit(const char *path, const uint8_t *p, size_t len)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(p, 1, len, fp), len);
	fclose(fp);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

#define FOOT_LEN (88 + 13 * 32 + 4)

/* After opening a damaged file: either ECORRUPT, or every read gives the
 * right data or ECORRUPT. Returns the number of corrupt reads. */
static int probe(fx *f, const char *path, bool strict)
{
	col_seg *s;
	ksk_errinfo ei;
	ksk_err rc = col_seg_open(NULL, path, &s, &ei);
	if (rc != KSK_OK) {
		assert_int_equal(rc, KSK_ECORRUPT);
		assert_true(strlen(ei.msg) > 0);
		return -1;
	}
	ksk_arena *a;
	assert_int_equal(ksk_arena_create(NULL, 0, 1u << 28, &a), KSK_OK);
	int bad = 0;
	for (int bi = 0; bi < f->nb; bi++) {
		const ksk_batch *b = f->b[bi];
		for (uint32_t i = 0; i < b->n_spans; i += 7) {
			col_trace t;
			memset(&t, 0, sizeof(t));
			bool found;
			rc = col_seg_get_trace(s, b->spans[i].trace_id, a, &t, &found, &ei);
			if (rc != KSK_OK) {
				assert_true(rc == KSK_ECORRUPT || !strict);
				bad++;
			} else if (strict) {
				ksk_arena_reset(a);
				check_trace(f, s, b->spans[i].trace_id, a);
			}
			ksk_arena_reset(a);
		}
	}
	col_search q;
	memset(&q, 0, sizeof(q));
	q.span_kind = -1;
	static cand c;
	c.n = 0;
	c.want = (ksk_str){0};
	col_seg_search(s, &q, cand_cb, &c, NULL);
	col_log_search lq;
	memset(&lq, 0, sizeof(lq));
	static loghits h;
	h.n = 0;
	h.stop_at = 0;
	col_seg_logs(s, &lq, a, log_cb, &h, NULL);
	static opset o;
	o.n = 0;
	col_seg_operations(s, op_cb, &o);
	ksk_arena_destroy(a);
	col_seg_close(s);
	return bad;
}

/* Many logs carrying trace IDs and no spans (one ID per request, as from
 * unsampled services): more keys than the sort's counting pass needs, IDs
 * sharing their first bytes (one big bucket) or not, traces of one to
 * three logs, bodies repeated and unique. Every trace gets its logs back,
 * in time order, with their bodies. */
static void test_log_only_traces(void **state)
{
	(void)state;
	fx *f = fx_new();
	ksk_wire_enc *enc;
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &enc), KSK_OK);
	enum { NB = 3, PER = 3000 };
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint8_t first[16] = {0};
	for (int bi = 0; bi < NB; bi++) {
		ksk_attr ra[1] = {{KSK_STR("service.name"), ksk_val_str(KSK_STR("shop"))}};
		ksk_resource r = {.attrs = ra, .n_attrs = 1};
		uint32_t ri;
		assert_int_equal(ksk_wire_enc_resource(enc, &r, &ri), KSK_OK);
		char body[64];
		for (uint32_t i = 0; i < PER; i++) {
			ksk_log l;
			memset(&l, 0, sizeof(l));
			l.resource = ri;
			l.time_ns = BASE_NS + (uint64_t)bi * 1000000000ull + i * 1000ull;
			l.severity = 9;
			for (int k = 0; k < 16; k++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				l.trace_id[k] = (uint8_t)x;
			}
			if (i % 5 == 0) /* a fifth share one 2-byte prefix */
				l.trace_id[0] = 0xab, l.trace_id[1] = 0xcd;
			if (bi == 0 && i == 0)
				memcpy(first, l.trace_id, 16);
			if (i % 7 == 3) /* some traces with logs in every batch */
				memcpy(l.trace_id, first, 16);
			l.has_trace = true;
			memset(l.span_id, 0x42, 8);
			l.has_span = true;
			if (i % 2)
				snprintf(body, sizeof(body), "GET /api/orders/%u done", i * 7 + (uint32_t)bi);
			else
				snprintf(body, sizeof(body), "cache miss"); /* repeated */
			l.body = ksk_val_str((ksk_str){body, strlen(body)});
			assert_int_equal(ksk_wire_enc_log(enc, &l), KSK_OK);
		}
		fx_keep(f, enc, 500 + (uint64_t)bi);
		ksk_wire_enc_reset(enc);
	}
	ksk_wire_enc_destroy(enc);
	fx_write(f, NULL);
	col_seg *s = fx_open(f);
	assert_int_equal(col_seg_info_get(s)->logs, (uint64_t)NB * PER);
	ksk_arena *a;
	assert_int_equal(ksk_arena_create(NULL, 0, 0, &a), KSK_OK);
	for (int bi = 0; bi < NB; bi++)
		for (uint32_t i = bi; i < f->b[bi]->n_logs; i += 11) {
			check_trace(f, s, f->b[bi]->logs[i].trace_id, a);
			ksk_arena_reset(a);
		}
	ksk_arena_destroy(a);
	col_seg_close(s);
	fx_free(f);
}

/* fills `f` with NB batches of logs whose bodies carry their IDs' digits
 * (key form, a traceparent, upper case, none), hinted when `hint` */
static void fx_digit_logs(fx *f, bool hint)
{
	ksk_wire_enc *enc;
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &enc), KSK_OK);
	uint64_t x = 0x2545f4914f6cdd1dull;
	for (int bi = 0; bi < 2; bi++) {
		ksk_attr ra[1] = {{KSK_STR("service.name"), ksk_val_str(KSK_STR("shop"))}};
		ksk_resource r = {.attrs = ra, .n_attrs = 1};
		uint32_t ri;
		assert_int_equal(ksk_wire_enc_resource(enc, &r, &ri), KSK_OK);
		for (uint32_t i = 0; i < 2000; i++) {
			ksk_log l;
			memset(&l, 0, sizeof(l));
			l.resource = ri;
			l.time_ns = BASE_NS + (uint64_t)bi * 1000000000ull + i * 1000ull;
			uint8_t ids[24];
			for (int k = 0; k < 24; k++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				ids[k] = (uint8_t)x;
			}
			memcpy(l.trace_id, ids, 16);
			memcpy(l.span_id, ids + 16, 8);
			if (i % 4 == 1) /* a trace with many logs */
				memset(l.trace_id, 0x5a, 16);
			char th[33], sh[17], body[200];
			ksk_hex_encode(l.trace_id, 16, th);
			ksk_hex_encode(l.span_id, 8, sh);
			int n;
			switch (i % 4) {
			case 0:
			case 1:
				n = snprintf(body, sizeof(body), "GET /o/%u trace_id=%s span_id=%s ok", i, th, sh);
				l.trace_hex_end = (uint32_t)(strstr(body, th) - body) + 32;
				l.span_hex_end = (uint32_t)n - 3;
				break;
			case 2:
				snprintf(body, sizeof(body), "00-%s-%s-01 \xc3\xa9", th, sh);
				l.trace_hex_end = 35;
				l.span_hex_end = 52;
				break;
			default: /* upper case: never cut */
				for (int k = 0; k < 32; k++)
					th[k] = (char)toupper((unsigned char)th[k]);
				snprintf(body, sizeof(body), "x trace_id=%s", th);
				l.trace_hex_end = 2 + 9 + 32;
				break;
			}
			if (!hint)
				l.trace_hex_end = l.span_hex_end = 0;
			l.body = ksk_val_str(ksk_str_c(body));
			assert_int_equal(ksk_wire_enc_log(enc, &l), KSK_OK);
		}
		fx_keep(f, enc, 700 + (uint64_t)bi);
		ksk_wire_enc_reset(enc);
	}
	ksk_wire_enc_destroy(enc);
}

typedef struct bodyset {
	const fx *f;
	int n;
} bodyset;

/* every hit is one of the fixture's logs, body and all */
static bool body_cb(void *ctx, const col_log_hit *h)
{
	bodyset *b = ctx;
	const ksk_log *g = &h->log;
	bool found = false;
	for (int bi = 0; bi < b->f->nb && !found; bi++)
		for (uint32_t i = 0; i < b->f->b[bi]->n_logs && !found; i++) {
			const ksk_log *w = &b->f->b[bi]->logs[i];
			if (w->time_ns == g->time_ns) {
				assert_true(ksk_value_eq(&w->body, &g->body));
				assert_memory_equal(w->trace_id, g->trace_id, 16);
				found = true;
			}
		}
	assert_true(found);
	b->n++;
	return true;
}

/* Bodies stored without their ID digits (SG_LF_CUT): the segment gives
 * every body back byte for byte (trace fetch and log search), and is
 * smaller than the same logs stored whole. */
static void test_id_digits_cut(void **state)
{
	(void)state;
	fx *whole = fx_new();
	fx_digit_logs(whole, false);
	col_seg_info iw, ic;
	fx_write(whole, &iw);
	fx *f = fx_new();
	fx_digit_logs(f, true);
	fx_write(f, &ic);
	struct stat stw, stc;
	assert_int_equal(stat(whole->path, &stw), 0);
	assert_int_equal(stat(f->path, &stc), 0);
	/* 3 of 4 logs lose 48 random digits (~24 bytes compressed each) */
	if (!(stc.st_size + 3000 * 16 < stw.st_size))
		fail_msg("cut %lld bytes, whole %lld", (long long)stc.st_size, (long long)stw.st_size);
	print_message("segment: %lld bytes with the digits cut, %lld whole\n", (long long)stc.st_size, (long long)stw.st_size);
	col_seg *s = fx_open(f);
	ksk_arena *a;
	assert_int_equal(ksk_arena_create(NULL, 0, 0, &a), KSK_OK);
	for (int bi = 0; bi < f->nb; bi++)
		for (uint32_t i = bi; i < f->b[bi]->n_logs; i += 7) {
			check_trace(f, s, f->b[bi]->logs[i].trace_id, a);
			ksk_arena_reset(a);
		}
	col_log_search q;
	memset(&q, 0, sizeof(q));
	bodyset b = {f, 0};
	assert_int_equal(col_seg_logs(s, &q, a, body_cb, &b, NULL), KSK_OK);
	assert_int_equal(b.n, 4000);
	ksk_arena_destroy(a);
	col_seg_close(s);
	fx_free(f);
	fx_free(whole);
}

static void test_corrupt(void **state)
{
	(void)state;
	fx *f = fx_new();
	fx_gen(f, 2, 400, 100, 6);
	fx_special(f);
	fx_write(f, NULL);
	size_t len;
	uint8_t *orig = slurp(f->path, &len);
	uint8_t *buf = malloc(len);
	char path[160];
	snprintf(path, sizeof(path), "%s/bad.ksg", f->dir);
	assert_true(probe(f, f->path, true) == 0);

	/* every byte of the footer */
	for (size_t i = len - FOOT_LEN; i < len; i++) {
		memcpy(buf, orig, len);
		buf[i] ^= 0x40;
		spit(path, buf, len);
		assert_int_equal(probe(f, path, true), -1);
	}
	/* the header magic and version */
	for (size_t i = 0; i < 12; i++) {
		memcpy(buf, orig, len);
		buf[i] ^= 0x01;
		spit(path, buf, len);
		assert_int_equal(probe(f, path, true), -1);
	}
	/* every section: a flip in it fails its CRC at open */
	const uint8_t *foot = orig + len - FOOT_LEN;
	for (int sec = 0; sec < 13; sec++) {
		uint64_t off = rd64(foot + 88 + sec * 32), sl = rd64(foot + 88 + sec * 32 + 8);
		if (sl == 0)
			continue;
		for (int k = 0; k < 5; k++) {
			memcpy(buf, orig, len);
			buf[off + (sl * (uint64_t)k) / 5] ^= 0x08;
			spit(path, buf, len);
			assert_int_equal(probe(f, path, true), -1);
		}
	}
	/* a trace block: open works, reads from it report ECORRUPT */
	uint64_t boff = rd64(foot + 88 + 0 * 32);
	uint64_t b0 = rd64(orig + boff);
	uint32_t b0len = rd32(orig + boff + 8);
	memcpy(buf, orig, len);
	buf[b0 + b0len / 2] ^= 0x10;
	spit(path, buf, len);
	assert_true(probe(f, path, true) > 0);
	/* a log block */
	uint64_t lbo = rd64(foot + 88 + 12 * 32);
	memcpy(buf, orig, len);
	buf[rd64(orig + lbo) + 3] ^= 0x10;
	spit(path, buf, len);
	{
		col_seg *s;
		assert_int_equal(col_seg_open(NULL, path, &s, NULL), KSK_OK);
		ksk_arena *a;
		assert_int_equal(ksk_arena_create(NULL, 0, 0, &a), KSK_OK);
		col_log_search lq;
		memset(&lq, 0, sizeof(lq));
		static loghits h;
		h.n = 0;
		h.stop_at = 0;
		ksk_errinfo ei;
		assert_int_equal(col_seg_logs(s, &lq, a, log_cb, &h, &ei), KSK_ECORRUPT);
		assert_non_null(strstr(ei.msg, "log block"));
		ksk_arena_destroy(a);
		col_seg_close(s);
	}
	/* random flips anywhere: never a crash, never wrong data */
	uint64_t x = 0x2545F4914F6CDD1Dull;
	for (int r = 0; r < 300; r++) {
		memcpy(buf, orig, len);
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[x % len] ^= (uint8_t)(1u << (x >> 60 & 7));
		spit(path, buf, len);
		probe(f, path, true);
	}
	int opened = 0, readbad = 0;
	/* hostile content with valid checksums: flip a byte inside a section
	 * or block and fix up every CRC; only "no crash" is asked */
	for (int r = 0; r < 300; r++) {
		memcpy(buf, orig, len);
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size_t pos = 16 + x % (len - FOOT_LEN - 16);
		buf[pos] ^= (uint8_t)(1u << (x >> 60 & 7));
		uint8_t *ft = buf + len - FOOT_LEN;
		/* block tables first (their entries carry block CRCs) */
		int tabs[2] = {0, 12};
		for (int ti = 0; ti < 2; ti++) {
			uint64_t to = rd64(ft + 88 + tabs[ti] * 32), tl = rd64(ft + 88 + tabs[ti] * 32 + 8);
			uint32_t w = tabs[ti] ? 40 : 24;
			for (uint64_t e = to; e + w <= to + tl; e += w) {
				uint64_t bo = rd64(buf + e);
				uint32_t bl = rd32(buf + e + 8);
				if (bo + bl <= len)
					wr32(buf + e + 16, ksk_crc32(0, buf + bo, bl));
			}
		}
		for (int sec = 0; sec < 13; sec++) {
			uint64_t so = rd64(ft + 88 + sec * 32), sl = rd64(ft + 88 + sec * 32 + 8);
			wr32(ft + 88 + sec * 32 + 24, ksk_crc32(0, buf + so, sl));
		}
		wr32(ft + FOOT_LEN - 4, ksk_crc32(0, ft, FOOT_LEN - 4));
		spit(path, buf, len);
		int pr = probe(f, path, false);
		opened += pr >= 0;
		readbad += pr > 0 ? pr : 0;
	}
	print_message("hostile files: %d of 300 opened, %d reads refused\n", opened, readbad);
	/* hostile decompressed content: a block or table is decompressed, a
	 * few bytes changed, recompressed and placed before the footer with
	 * every offset and checksum made consistent */
	int hopen = 0, hbad = 0;
	for (int r = 0; r < 400; r++) {
		const uint8_t *ft0 = orig + len - FOOT_LEN;
		int kind = r % 4; /* 0 trace block, 1 log block, 2 dictionary, 3 resources */
		uint64_t src_off, src_len, raw_len;
		uint8_t *entry = NULL; /* in buf */
		memcpy(buf, orig, len);
		uint8_t *ft = buf + len - FOOT_LEN;
		if (kind <= 1) {
			int sec = kind ? 12 : 0;
			uint32_t w = kind ? 40 : 24;
			uint64_t to = rd64(ft0 + 88 + sec * 32), tl = rd64(ft0 + 88 + sec * 32 + 8);
			uint64_t ne = tl / w;
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			entry = buf + to + (x % ne) * w;
			src_off = rd64(entry);
			src_len = rd32(entry + 8);
			raw_len = rd32(entry + 12);
		} else {
			int sec = kind == 2 ? 6 : 7;
			entry = ft + 88 + sec * 32;
			src_off = rd64(entry);
			src_len = rd64(entry + 8);
			raw_len = rd64(entry + 16);
		}
		uint8_t *raw = malloc(raw_len + 1);
		assert_int_equal(ZSTD_decompress(raw, raw_len, orig + src_off, src_len), raw_len);
		int flips = 1 + (int)(x >> 61);
		for (int k = 0; k < flips; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			uint8_t v = (uint8_t)(x >> 40);
			raw[x % raw_len] = (x >> 33) & 1 ? v : (uint8_t)(raw[x % raw_len] ^ (1u << (v & 7)));
		}
		size_t zb = ZSTD_compressBound(raw_len);
		uint8_t *z = malloc(zb);
		size_t zl = ZSTD_compress(z, zb, raw, raw_len, 3);
		assert_false(ZSTD_isError(zl));
		uint64_t data_end = len - FOOT_LEN;
		if (kind <= 1) {
			uint8_t tmp[8];
			for (int i = 0; i < 8; i++)
				tmp[i] = (uint8_t)(data_end >> (8 * i));
			memcpy(entry, tmp, 8);
			wr32(entry + 8, (uint32_t)zl);
			wr32(entry + 16, ksk_crc32(0, z, zl));
			int sec = kind ? 12 : 0;
			uint64_t to = rd64(ft + 88 + sec * 32), tl = rd64(ft + 88 + sec * 32 + 8);
			wr32(ft + 88 + sec * 32 + 24, ksk_crc32(0, buf + to, tl));
		} else {
			for (int i = 0; i < 8; i++) {
				entry[i] = (uint8_t)(data_end >> (8 * i));
				entry[8 + i] = (uint8_t)((uint64_t)zl >> (8 * i));
			}
			wr32(entry + 24, ksk_crc32(0, z, zl));
		}
		wr32(ft + FOOT_LEN - 4, ksk_crc32(0, ft, FOOT_LEN - 4));
		uint8_t *nf = malloc(len + zl);
		memcpy(nf, buf, data_end);
		memcpy(nf + data_end, z, zl);
		memcpy(nf + data_end + zl, ft, FOOT_LEN);
		spit(path, nf, len + zl);
		int pr = probe(f, path, false);
		hopen += pr >= 0;
		hbad += pr > 0 ? pr : 0;
		free(nf);
		free(z);
		free(raw);
	}
	print_message("hostile decompressed content: %d of 400 opened, %d reads refused\n", hopen,
	              hbad);
	/* truncation at many lengths */
	for (size_t cut = 0; cut < len; cut += len / 97 + 1) {
		spit(path, orig, cut);
		assert_int_equal(probe(f, path, true), -1);
	}
	spit(path, orig, len - 1);
	assert_int_equal(probe(f, path, true), -1);
	/* not there */
	col_seg *s;
	ksk_errinfo ei;
	snprintf(path, sizeof(path), "%s/none.ksg", f->dir);
	assert_int_equal(col_seg_open(NULL, path, &s, &ei), KSK_ESYS);
	free(buf);
	free(orig);
	fx_free(f);
}

static bool stop_cb(void *ctx, const col_summary *sum)
{
	(void)sum;
	(*(int *)ctx)++;
	return true;
}

static void test_empty(void **state)
{
	(void)state;
	fx *f = fx_new();
	col_segw *w;
	assert_int_equal(col_segw_create(NULL, &w), KSK_OK);
	col_seg_info info;
	assert_int_equal(col_segw_finish(w, f->path, 1, &info, NULL), KSK_OK);
	col_segw_destroy(w);
	assert_int_equal(info.traces, 0);
	col_seg *s = fx_open(f);
	const col_seg_info *si = col_seg_info_get(s);
	assert_int_equal(si->spans, 0);
	assert_int_equal(si->logs, 0);
	assert_int_equal(si->traces, 0);
	assert_false(col_seg_may_contain(s, T1));
	ksk_arena *a;
	assert_int_equal(ksk_arena_create(NULL, 0, 0, &a), KSK_OK);
	col_trace t;
	memset(&t, 0, sizeof(t));
	bool found = true;
	assert_int_equal(col_seg_get_trace(s, T1, a, &t, &found, NULL), KSK_OK);
	assert_false(found);
	col_search q;
	memset(&q, 0, sizeof(q));
	q.span_kind = -1;
	int n = 0;
	assert_int_equal(col_seg_search(s, &q, stop_cb, &n, NULL), KSK_OK);
	assert_int_equal(n, 0);
	col_log_search lq;
	memset(&lq, 0, sizeof(lq));
	static loghits h;
	h.n = 0;
	assert_int_equal(col_seg_logs(s, &lq, a, log_cb, &h, NULL), KSK_OK);
	assert_int_equal(h.n, 0);
	static opset o;
	o.n = 0;
	col_seg_operations(s, op_cb, &o);
	assert_int_equal(o.n, 0);
	ksk_arena_destroy(a);
	col_seg_close(s);
	/* a segment of logs only */
	ksk_wire_enc *enc;
	ksk_gen *g;
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &enc), KSK_OK);
	assert_int_equal(ksk_gen_create(3, 4, &g), KSK_OK);
	assert_int_equal(ksk_gen_batch(g, enc, 0, 50, BASE_NS), KSK_OK);
	fx_keep(f, enc, 1);
	ksk_gen_destroy(g);
	ksk_wire_enc_destroy(enc);
	fx_write(f, NULL);
	s = fx_open(f);
	assert_int_equal(col_seg_info_get(s)->logs, 50);
	assert_int_equal(ksk_arena_create(NULL, 0, 0, &a), KSK_OK);
	h.n = 0;
	assert_int_equal(col_seg_logs(s, &lq, a, log_cb, &h, NULL), KSK_OK);
	assert_int_equal(h.n, 50);
	ksk_arena_destroy(a);
	col_seg_close(s);
	fx_free(f);
}

/* Rounds every time of batch `bi` down to a multiple of `q` (a µs or ms
 * clock), in place. */
static void fx_round(fx *f, int bi, uint64_t q)
{
	const ksk_batch *b = f->b[bi];
	for (uint32_t i = 0; i < b->n_spans; i++) {
		ksk_span *sp = &b->spans[i];
		sp->start_ns -= sp->start_ns % q;
		sp->end_ns -= sp->end_ns % q;
		for (uint32_t j = 0; j < sp->n_events; j++)
			sp->events[j].time_ns -= sp->events[j].time_ns % q;
	}
}

/* Traces whose clocks tick in µs or ms are stored scaled; same data back. */
static void test_time_scale(void **state)
{
	(void)state;
	fx *f = fx_new();
	fx_gen(f, 3, 800, 50, 6);
	fx_round(f, 0, 1000);
	fx_round(f, 1, 1000000);
	fx_write(f, NULL);
	col_seg *s = fx_open(f);
	ksk_arena *a;
	assert_int_equal(ksk_arena_create(NULL, 0, 0, &a), KSK_OK);
	for (int bi = 0; bi < f->nb; bi++) {
		const ksk_batch *b = f->b[bi];
		for (uint32_t i = 0; i < b->n_spans; i++) {
			if (i && !memcmp(b->spans[i - 1].trace_id, b->spans[i].trace_id, 16))
				continue;
			check_trace(f, s, b->spans[i].trace_id, a);
			ksk_arena_reset(a);
		}
	}
	ksk_arena_destroy(a);
	col_seg_close(s);
	fx_free(f);
}

/* One span of trace TS with span ID k (parent p, 0 = root) in a new
 * batch of its own, optionally with a log of the trace. */
static const uint8_t TS[16] = {0x44, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4};

static void fx_split_batch(fx *f, const char *svc, uint8_t k, uint8_t p, uint64_t t,
                           ksk_span_kind kind, bool with_log)
{
	ksk_wire_enc *enc;
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &enc), KSK_OK);
	ksk_attr ra[1] = {{KSK_STR("service.name"), ksk_val_str(ksk_str_c(svc))}};
	ksk_resource r = {.attrs = ra, .n_attrs = 1};
	uint32_t ri;
	assert_int_equal(ksk_wire_enc_resource(enc, &r, &ri), KSK_OK);
	ksk_span sp;
	memset(&sp, 0, sizeof(sp));
	memcpy(sp.trace_id, TS, 16);
	sp.span_id[7] = k;
	sp.parent_id[7] = p;
	sp.name = KSK_STR("step");
	sp.kind = kind;
	sp.start_ns = t;
	sp.end_ns = t + 1000 * k;
	sp.resource = ri;
	assert_int_equal(ksk_wire_enc_span(enc, &sp), KSK_OK);
	if (with_log) {
		ksk_log l;
		memset(&l, 0, sizeof(l));
		l.time_ns = t + 1;
		l.severity = 9;
		l.body = ksk_val_str(KSK_STR("split"));
		memcpy(l.trace_id, TS, 16);
		l.span_id[7] = k;
		l.resource = ri;
		assert_int_equal(ksk_wire_enc_log(enc, &l), KSK_OK);
	}
	fx_keep(f, enc, 500 + k);
	ksk_wire_enc_destroy(enc);
}

/* A trace whose spans and logs arrive in different batches (as the
 * write-ahead log holds them) is one trace in the segment. */
static void test_split_trace(void **state)
{
	(void)state;
	fx *f = fx_new();
	fx_split_batch(f, "front", 3, 2, BASE_NS + 3000, KSK_KIND_SERVER, true);
	fx_split_batch(f, "front", 1, 0, BASE_NS + 1000, KSK_KIND_SERVER, false);
	fx_gen(f, 1, 300, 20, 4);
	fx_split_batch(f, "front", 2, 1, BASE_NS + 2000, KSK_KIND_CLIENT, true);
	fx_split_batch(f, "back", 4, 3, BASE_NS + 3500, KSK_KIND_CLIENT, false);
	fx_write(f, NULL);
	col_seg *s = fx_open(f);
	ksk_arena *a;
	assert_int_equal(ksk_arena_create(NULL, 0, 0, &a), KSK_OK);
	check_trace(f, s, TS, a);
	col_trace t;
	memset(&t, 0, sizeof(t));
	bool found;
	assert_int_equal(col_seg_get_trace(s, TS, a, &t, &found, NULL), KSK_OK);
	assert_int_equal(t.n_spans, 4);
	assert_int_equal(t.n_logs, 2);
	assert_true(t.logs[0].time_ns < t.logs[1].time_ns);
	col_search q;
	memset(&q, 0, sizeof(q));
	q.span_kind = -1;
	q.service = KSK_STR("back");
	static cand c;
	c.n = 0;
	c.want = q.service;
	assert_int_equal(col_seg_search(s, &q, cand_cb, &c, NULL), KSK_OK);
	assert_int_equal(c.n, 1);
	assert_memory_equal(c.v[0].trace_id, TS, 16);
	assert_int_equal(c.v[0].span_count, 4);
	assert_int_equal(c.v[0].log_count, 2);
	assert_int_equal(c.v[0].n_services, 2);
	assert_int_equal(c.v[0].start_ns, BASE_NS + 1000);
	assert_int_equal(c.v[0].end_ns, BASE_NS + 7500);
	assert_true(ksk_str_eq(c.v[0].root_service, KSK_STR("front")));
	static edgesum eg;
	eg.n = 0;
	col_seg_edges(s, 0, 0, edge_cb, &eg);
	int hit = 0;
	for (int i = 0; i < eg.n; i++)
		if (!strcmp(eg.p[i], "front") && !strcmp(eg.c[i], "back")) {
			assert_int_equal(eg.calls[i], 1);
			assert_int_equal(eg.dur[i], 4000);
			hit++;
		}
	assert_int_equal(hit, 1);
	ksk_arena_destroy(a);
	col_seg_close(s);
	fx_free(f);
}

/* Many readers at once on one segment. */
typedef struct thr {
	fx *f;
	col_seg *s;
	int id;
	int errors;
} thr;

static void *reader(void *arg)
{
	thr *t = arg;
	ksk_arena *a;
	if (ksk_arena_create(NULL, 0, 0, &a) != KSK_OK)
		return NULL;
	for (int bi = 0; bi < t->f->nb; bi++) {
		const ksk_batch *b = t->f->b[bi];
		for (uint32_t i = (uint32_t)t->id; i < b->n_spans; i += 5) {
			col_trace tr;
			memset(&tr, 0, sizeof(tr));
			bool found;
			if (col_seg_get_trace(t->s, b->spans[i].trace_id, a, &tr, &found, NULL) ||
			    !found)
				t->errors++;
			else {
				bool hit = false;
				for (uint32_t k = 0; k < tr.n_spans; k++)
					hit = hit || !memcmp(tr.spans[k].span_id, b->spans[i].span_id, 8);
				t->errors += !hit;
			}
			ksk_arena_reset(a);
		}
	}
	ksk_arena_destroy(a);
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	fx *f = fx_new();
	fx_gen(f, 2, 1000, 100, 8);
	fx_write(f, NULL);
	col_seg *s = fx_open(f);
	pthread_t th[4];
	thr ts[4];
	for (int i = 0; i < 4; i++) {
		ts[i] = (thr){f, s, i, 0};
		assert_int_equal(pthread_create(&th[i], NULL, reader, &ts[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(ts[i].errors, 0);
	}
	col_seg_close(s);
	fx_free(f);
}

/* Every allocation failing in turn: ENOMEM, no leak, no crash. */
static void test_enomem(void **state)
{
	(void)state;
	fx *f = fx_new();
	fx_gen(f, 1, 200, 30, 4);
	fx_special(f);
	int fails = 0;
	for (unsigned long at = 1;; at++) {
		ksk_failalloc fa;
		ksk_failalloc_init(&fa, at, 1);
		col_segw *w;
		ksk_err rc = col_segw_create(&fa.table, &w);
		if (rc == KSK_OK) {
			for (int i = 0; i < f->nb && rc == KSK_OK; i++)
				rc = col_segw_add(w, &f->hdr[i], f->b[i]);
			if (rc == KSK_OK)
				rc = col_segw_finish(w, f->path, 1, NULL, NULL);
			col_segw_destroy(w);
		}
		if (rc != KSK_OK && rc != KSK_ENOMEM)
			fail_msg("writer, allocation %lu failing: %s", at, ksk_errname(rc));
		assert_int_equal(fa.live, 0);
		if (rc == KSK_OK && fa.calls < at)
			break;
		fails++;
	}
	assert_true(fails > 10);
	ksk_arena *a;
	assert_int_equal(ksk_arena_create(NULL, 0, 0, &a), KSK_OK);
	fails = 0;
	for (unsigned long at = 1;; at++) {
		ksk_failalloc fa;
		ksk_failalloc_init(&fa, at, 1);
		col_seg *s;
		ksk_err rc = col_seg_open(&fa.table, f->path, &s, NULL);
		bool all_ok = rc == KSK_OK;
		if (rc == KSK_OK) {
			col_trace t;
			memset(&t, 0, sizeof(t));
			bool found;
			rc = col_seg_get_trace(s, T1, a, &t, &found, NULL);
			assert_true(rc == KSK_OK || rc == KSK_ENOMEM);
			all_ok = all_ok && rc == KSK_OK;
			col_search q;
			memset(&q, 0, sizeof(q));
			q.span_kind = -1;
			int n = 0;
			rc = col_seg_search(s, &q, stop_cb, &n, NULL);
			assert_true(rc == KSK_OK || rc == KSK_ENOMEM);
			all_ok = all_ok && rc == KSK_OK;
			col_log_search lq;
			memset(&lq, 0, sizeof(lq));
			static loghits h;
			h.n = 0;
			h.stop_at = 0;
			rc = col_seg_logs(s, &lq, a, log_cb, &h, NULL);
			assert_true(rc == KSK_OK || rc == KSK_ENOMEM);
			all_ok = all_ok && rc == KSK_OK;
			col_seg_close(s);
			ksk_arena_reset(a);
		} else
			assert_int_equal(rc, KSK_ENOMEM);
		assert_int_equal(fa.live, 0);
		if (all_ok && fa.calls < at)
			break;
		fails++;
	}
	assert_true(fails > 5);
	ksk_arena_destroy(a);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_search),
		cmocka_unit_test(test_tables),    cmocka_unit_test(test_logs),
		cmocka_unit_test(test_corrupt),   cmocka_unit_test(test_empty),
		cmocka_unit_test(test_threads),   cmocka_unit_test(test_enomem),
		cmocka_unit_test(test_time_scale), cmocka_unit_test(test_split_trace),
		cmocka_unit_test(test_log_only_traces),
		cmocka_unit_test(test_id_digits_cut),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
