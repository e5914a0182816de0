/*
 * test_mem.c : the in-memory index of the open segment (collector/col_mem.h):
 * frame lists per trace, summaries and search conditions (same-span rule,
 * attributes, trace-level filters), operations, edges with a parent that
 * arrives after its child, log rows and log counts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "col_mem.h"
#include "gen.h"
#include "kiseki/wire.h"
#include "col_test_rec.h"

typedef struct fx {
	ksk_wire_enc *enc;
	ksk_wire_dec *dec;
	col_mem *m;
	ksk_arena *a;
	uint64_t off;
} fx;

static int setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &f->enc), KSK_OK);
	assert_int_equal(ksk_wire_dec_create(NULL, NULL, &f->dec), KSK_OK);
	assert_int_equal(col_mem_create(NULL, &f->m), KSK_OK);
	assert_int_equal(ksk_arena_create(NULL, 0, 0, &f->a), KSK_OK);
	f->off = 32;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	ksk_wire_enc_destroy(f->enc);
	ksk_wire_dec_destroy(f->dec);
	col_mem_destroy(f->m);
	ksk_arena_destroy(f->a);
	free(f);
	return 0;
}

/* Decodes the encoder's payload and indexes it at a fake offset. */
static uint64_t add_payload(fx *f)
{
	size_t len;
	const uint8_t *p = ksk_wire_enc_data(f->enc, &len);
	const ksk_batch *b;
	assert_int_equal(ksk_wire_decode(f->dec, p, len, ksk_wire_enc_count(f->enc), &b, NULL),
	                 KSK_OK);
	ksk_frame_hdr hdr;
	memset(&hdr, 0, sizeof(hdr));
	uint64_t at = f->off;
	assert_int_equal(col_mem_add(f->m, &hdr, b, at, (uint32_t)len + 56), KSK_OK);
	f->off += len + 64;
	return at;
}

static uint32_t res(fx *f, const char *svc, const char *host)
{
	return ctr_res(f->enc, svc, host);
}

static void span(fx *f, uint8_t trace, uint8_t id, uint8_t parent, uint32_t r,
                 const char *name, ksk_span_kind kind, uint64_t start, uint64_t end,
                 bool err, int64_t status_code)
{
	ksk_span s;
	memset(&s, 0, sizeof(s));
	memset(s.trace_id, trace, 16);
	memset(s.span_id, id, 8);
	if (parent)
		memset(s.parent_id, parent, 8);
	s.name = ksk_str_c(name);
	s.kind = kind;
	s.start_ns = start;
	s.end_ns = end;
	s.status = err ? KSK_STATUS_ERROR : KSK_STATUS_OK;
	ksk_attr at[1];
	at[0].key = KSK_STR("http.status_code");
	at[0].value = ksk_val_int(status_code);
	s.attrs = at;
	s.n_attrs = status_code ? 1 : 0;
	s.resource = r;
	assert_int_equal(ksk_wire_enc_span(f->enc, &s), KSK_OK);
}

static void logrec(fx *f, uint32_t r, uint64_t t, uint8_t sev, uint8_t trace,
                   const char *body)
{
	ctr_log(f->enc, r, t, sev, trace, body);
}

typedef struct sums {
	col_summary s[64];
	uint32_t n;
	uint32_t stop_after;
} sums;

static bool sum_cb(void *ctx, const col_summary *s)
{
	sums *x = ctx;
	x->s[x->n++] = *s;
	return !(x->stop_after && x->n >= x->stop_after);
}

static uint32_t search(fx *f, const col_search *q, sums *out)
{
	memset(out, 0, sizeof(*out));
	assert_int_equal(col_mem_search(f->m, q, f->a, sum_cb, out), KSK_OK);
	return out->n;
}

static void qinit(col_search *q)
{
	memset(q, 0, sizeof(*q));
	q->span_kind = -1;
}

/* Trace 1: A (root, server) -> B client (error, status 500) -> B internal.
 * Trace 2: C child arrives in batch 1, its parent (A) in batch 2.
 * Trace 3: A only, long. */
static void build(fx *f)
{
	ksk_wire_enc_reset(f->enc);
	uint32_t ra = res(f, "svc-a", "host-1"), rb = res(f, "svc-b", "host-2");
	uint32_t rc = res(f, "svc-c", "host-3");
	span(f, 1, 1, 0, ra, "GET /", KSK_KIND_SERVER, 1000, 5000, false, 200);
	span(f, 1, 2, 1, rb, "SELECT", KSK_KIND_CLIENT, 1500, 3000, true, 500);
	span(f, 1, 3, 2, rb, "parse", KSK_KIND_INTERNAL, 1600, 1700, false, 0);
	span(f, 2, 5, 4, rc, "consume", KSK_KIND_CONSUMER, 20000, 21000, false, 0);
	logrec(f, ra, 1200, 9, 1, "request handled ok");
	logrec(f, rb, 1600, 17, 1, "query failed: timeout");
	logrec(f, rc, 900, 13, 0, "slow disk");
	add_payload(f);
	ksk_wire_enc_reset(f->enc);
	ra = res(f, "svc-a", "host-1");
	span(f, 2, 4, 0, ra, "publish", KSK_KIND_PRODUCER, 19000, 19500, false, 0);
	span(f, 3, 9, 0, ra, "GET /", KSK_KIND_SERVER, 50000, 950000, false, 200);
	logrec(f, ra, 60000, 9, 3, "long request");
	add_payload(f);
}

static void test_frames_and_info(void **state)
{
	fx *f = *state;
	build(f);
	col_mem_info mi;
	col_mem_info_get(f->m, &mi);
	assert_int_equal(mi.batches, 2);
	assert_int_equal(mi.spans, 6);
	assert_int_equal(mi.logs, 4);
	assert_int_equal(mi.traces, 3);
	assert_int_equal(mi.min_ns, 900);
	assert_int_equal(mi.max_ns, 950000);
	uint8_t t2[16];
	memset(t2, 2, 16);
	col_mem_frame *fr;
	uint32_t n;
	assert_int_equal(col_mem_trace_frames(f->m, t2, NULL, &fr, &n), KSK_OK);
	assert_int_equal(n, 2);
	assert_int_equal(fr[0].off, 32);
	assert_true(fr[1].off > fr[0].off);
	free(fr);
	uint8_t t9[16];
	memset(t9, 9, 16);
	assert_false(col_mem_has_trace(f->m, t9));
	assert_int_equal(col_mem_trace_frames(f->m, t9, NULL, &fr, &n), KSK_OK);
	assert_int_equal(n, 0);
}

static void test_search(void **state)
{
	fx *f = *state;
	build(f);
	col_search q;
	sums r;
	qinit(&q);
	assert_int_equal(search(f, &q, &r), 3);
	/* newest first */
	assert_int_equal(r.s[0].trace_id[0], 3);
	assert_int_equal(r.s[1].trace_id[0], 2);
	assert_int_equal(r.s[2].trace_id[0], 1);
	/* trace 1's summary */
	const col_summary *s1 = &r.s[2];
	assert_int_equal(s1->start_ns, 1000);
	assert_int_equal(s1->end_ns, 5000);
	assert_int_equal(s1->span_count, 3);
	assert_int_equal(s1->error_count, 1);
	assert_int_equal(s1->log_count, 2);
	assert_true(ksk_str_eq(s1->root_service, KSK_STR("svc-a")));
	assert_true(ksk_str_eq(s1->root_name, KSK_STR("GET /")));
	assert_int_equal(s1->n_services, 2);
	/* trace 2: the late parent became the root */
	assert_true(ksk_str_eq(r.s[1].root_service, KSK_STR("svc-a")));
	assert_true(ksk_str_eq(r.s[1].root_name, KSK_STR("publish")));
	assert_int_equal(r.s[1].start_ns, 19000);
	/* span-level conditions hold on one span */
	qinit(&q);
	q.service = KSK_STR("svc-b");
	assert_int_equal(search(f, &q, &r), 1);
	q.operation = KSK_STR("SELECT");
	q.span_kind = KSK_KIND_CLIENT;
	assert_int_equal(search(f, &q, &r), 1);
	q.span_kind = KSK_KIND_SERVER;
	assert_int_equal(search(f, &q, &r), 0);
	qinit(&q);
	q.service = KSK_STR("svc-a");
	q.operation = KSK_STR("SELECT");
	assert_int_equal(search(f, &q, &r), 0);
	q.service = KSK_STR("nope");
	q.operation.len = 0;
	assert_int_equal(search(f, &q, &r), 0);
	/* attributes: span (int as decimal) and resource */
	qinit(&q);
	q.attrs[0].key = KSK_STR("http.status_code");
	q.attrs[0].value = KSK_STR("500");
	q.n_attrs = 1;
	assert_int_equal(search(f, &q, &r), 1);
	assert_int_equal(r.s[0].trace_id[0], 1);
	q.attrs[1].key = KSK_STR("region");
	q.attrs[1].value = KSK_STR("eu-west-1");
	q.n_attrs = 2;
	assert_int_equal(search(f, &q, &r), 1);
	q.attrs[1].value = KSK_STR("us-east-1");
	assert_int_equal(search(f, &q, &r), 0);
	/* trace-level: duration is the trace's, not a span's */
	qinit(&q);
	q.min_duration_ns = 3000;
	assert_int_equal(search(f, &q, &r), 2); /* traces 1 (4000) and 3 */
	q.max_duration_ns = 5000;
	assert_int_equal(search(f, &q, &r), 1);
	assert_int_equal(r.s[0].trace_id[0], 1);
	qinit(&q);
	q.min_spans = 2;
	assert_int_equal(search(f, &q, &r), 2);
	q.max_spans = 2;
	assert_int_equal(search(f, &q, &r), 1);
	assert_int_equal(r.s[0].trace_id[0], 2);
	qinit(&q);
	q.errors_only = true;
	assert_int_equal(search(f, &q, &r), 1);
	qinit(&q);
	q.start_ns = 10000;
	q.end_ns = 40000;
	assert_int_equal(search(f, &q, &r), 1);
	assert_int_equal(r.s[0].trace_id[0], 2);
	/* the callback can stop the scan */
	qinit(&q);
	memset(&r, 0, sizeof(r));
	r.stop_after = 1;
	assert_int_equal(col_mem_search(f->m, &q, f->a, sum_cb, &r), KSK_OK);
	assert_int_equal(r.n, 1);
}

typedef struct ops {
	char names[32][64];
	int kinds[32];
	uint32_t n;
} ops;

static void op_cb(void *ctx, ksk_str svc, ksk_str op, ksk_span_kind kind)
{
	ops *o = ctx;
	snprintf(o->names[o->n], 64, "%.*s/%.*s", (int)svc.len, svc.ptr, (int)op.len, op.ptr);
	o->kinds[o->n++] = kind;
}

static bool has_op(const ops *o, const char *name, int kind)
{
	for (uint32_t i = 0; i < o->n; i++)
		if (!strcmp(o->names[i], name) && o->kinds[i] == kind)
			return true;
	return false;
}

typedef struct edges {
	col_edge e[16];
	char p[16][16], c[16][16];
	uint32_t n;
} edges;

static void edge_cb(void *ctx, const col_edge *e)
{
	edges *x = ctx;
	x->e[x->n] = *e;
	snprintf(x->p[x->n], 16, "%.*s", (int)e->parent.len, e->parent.ptr);
	snprintf(x->c[x->n], 16, "%.*s", (int)e->child.len, e->child.ptr);
	x->n++;
}

static void test_ops_edges(void **state)
{
	fx *f = *state;
	build(f);
	ops o = {.n = 0};
	col_mem_operations(f->m, op_cb, &o);
	assert_int_equal(o.n, 5);
	assert_true(has_op(&o, "svc-a/GET /", KSK_KIND_SERVER));
	assert_true(has_op(&o, "svc-b/SELECT", KSK_KIND_CLIENT));
	assert_true(has_op(&o, "svc-b/parse", KSK_KIND_INTERNAL));
	assert_true(has_op(&o, "svc-c/consume", KSK_KIND_CONSUMER));
	assert_true(has_op(&o, "svc-a/publish", KSK_KIND_PRODUCER));
	edges e = {.n = 0};
	assert_int_equal(col_mem_edges(f->m, 0, 0, edge_cb, &e), KSK_OK);
	assert_int_equal(e.n, 2);
	for (uint32_t i = 0; i < e.n; i++) {
		assert_string_equal(e.p[i], "svc-a");
		if (!strcmp(e.c[i], "svc-b")) {
			assert_int_equal(e.e[i].calls, 1);
			assert_int_equal(e.e[i].errors, 1);
			assert_int_equal(e.e[i].duration_ns_sum, 1500);
		} else {
			assert_string_equal(e.c[i], "svc-c"); /* late parent resolved */
			assert_int_equal(e.e[i].calls, 1);
			assert_int_equal(e.e[i].errors, 0);
		}
	}
	/* time range on the child's start */
	e.n = 0;
	assert_int_equal(col_mem_edges(f->m, 10000, 30000, edge_cb, &e), KSK_OK);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.c[0], "svc-c");
}

typedef struct counts {
	char k[16][48];
	uint64_t c[16];
	uint32_t n;
} counts;

static void count_cb(void *ctx, ksk_str svc, const char *sev, uint64_t n)
{
	counts *x = ctx;
	snprintf(x->k[x->n], 48, "%.*s/%s", (int)svc.len, svc.ptr, sev);
	x->c[x->n++] = n;
}

static uint64_t count_of(const counts *x, const char *k)
{
	for (uint32_t i = 0; i < x->n; i++)
		if (!strcmp(x->k[i], k))
			return x->c[i];
	return 0;
}

static void test_logs(void **state)
{
	fx *f = *state;
	build(f);
	col_log_search q;
	memset(&q, 0, sizeof(q));
	col_mem_logref *r;
	uint32_t n;
	assert_int_equal(col_mem_logs(f->m, &q, NULL, &r, &n), KSK_OK);
	assert_int_equal(n, 4);
	assert_int_equal(r[0].time_ns, 60000); /* newest first */
	assert_int_equal(r[3].time_ns, 900);
	free(r);
	q.service = KSK_STR("svc-b");
	assert_int_equal(col_mem_logs(f->m, &q, NULL, &r, &n), KSK_OK);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].index, 1);
	free(r);
	memset(&q, 0, sizeof(q));
	q.host = KSK_STR("host-1");
	assert_int_equal(col_mem_logs(f->m, &q, NULL, &r, &n), KSK_OK);
	assert_int_equal(n, 2);
	free(r);
	memset(&q, 0, sizeof(q));
	q.severity_min = 13;
	assert_int_equal(col_mem_logs(f->m, &q, NULL, &r, &n), KSK_OK);
	assert_int_equal(n, 2);
	free(r);
	memset(&q, 0, sizeof(q));
	q.has_trace_id = true;
	memset(q.trace_id, 1, 16);
	assert_int_equal(col_mem_logs(f->m, &q, NULL, &r, &n), KSK_OK);
	assert_int_equal(n, 2);
	free(r);
	memset(&q, 0, sizeof(q));
	q.start_ns = 1000;
	q.end_ns = 2000;
	assert_int_equal(col_mem_logs(f->m, &q, NULL, &r, &n), KSK_OK);
	assert_int_equal(n, 2);
	free(r);
	memset(&q, 0, sizeof(q));
	q.host = KSK_STR("unknown-host");
	assert_int_equal(col_mem_logs(f->m, &q, NULL, &r, &n), KSK_OK);
	assert_int_equal(n, 0);
	counts c = {.n = 0};
	assert_int_equal(col_mem_log_stats(f->m, 0, 0, count_cb, &c), KSK_OK);
	assert_int_equal(c.n, 3);
	assert_int_equal(count_of(&c, "svc-a/INFO"), 2);
	assert_int_equal(count_of(&c, "svc-b/ERROR"), 1);
	assert_int_equal(count_of(&c, "svc-c/WARN"), 1);
	c.n = 0;
	assert_int_equal(col_mem_log_stats(f->m, 1000, 0, count_cb, &c), KSK_OK);
	assert_int_equal(count_of(&c, "svc-c/WARN"), 0);
}

static void test_generated(void **state)
{
	fx *f = *state;
	ksk_gen *g;
	assert_int_equal(ksk_gen_create(7, 12, &g), KSK_OK);
	uint64_t spans = 0;
	for (int i = 0; i < 20; i++) {
		assert_int_equal(ksk_gen_batch(g, f->enc, 500, 100, 1700000000000000000ull +
		                                                    (uint64_t)i * 1000000000ull),
		                 KSK_OK);
		add_payload(f);
		spans += 500;
	}
	col_mem_info mi;
	col_mem_info_get(f->m, &mi);
	assert_int_equal(mi.spans, spans);
	assert_int_equal(mi.logs, 2000);
	col_search q;
	qinit(&q);
	q.limit = 1000000;
	sums r;
	memset(&r, 0, sizeof(r));
	r.stop_after = 64;
	assert_int_equal(col_mem_search(f->m, &q, f->a, sum_cb, &r), KSK_OK);
	assert_int_equal(r.n, 64);
	for (uint32_t i = 1; i < r.n; i++)
		assert_true(r.s[i - 1].start_ns >= r.s[i].start_ns);
	ksk_gen_destroy(g);
}

static void test_enomem(void **state)
{
	fx *f = *state;
	ksk_gen *g;
	assert_int_equal(ksk_gen_create(9, 6, &g), KSK_OK);
	assert_int_equal(ksk_gen_batch(g, f->enc, 200, 40, 1700000000000000000ull), KSK_OK);
	size_t len;
	const uint8_t *p = ksk_wire_enc_data(f->enc, &len);
	const ksk_batch *b;
	assert_int_equal(ksk_wire_decode(f->dec, p, len, ksk_wire_enc_count(f->enc), &b, NULL),
	                 KSK_OK);
	ksk_frame_hdr hdr;
	memset(&hdr, 0, sizeof(hdr));
	int oks = 0, fails = 0;
	for (unsigned long k = 1; k < 400; k++) {
		ksk_failalloc fa;
		ksk_failalloc_init(&fa, k, 1);
		col_mem *m = NULL;
		if (col_mem_create(&fa.table, &m) != KSK_OK) {
			fails++;
			assert_int_equal(fa.live, 0);
			continue;
		}
		ksk_err rc = col_mem_add(m, &hdr, b, 32, (uint32_t)len);
		if (rc == KSK_OK) {
			oks++;
			col_search q;
			qinit(&q);
			sums r;
			memset(&r, 0, sizeof(r));
			r.stop_after = 3;
			ksk_err sr = col_mem_search(m, &q, f->a, sum_cb, &r);
			assert_true(sr == KSK_OK || sr == KSK_ENOMEM);
		} else {
			assert_int_equal(rc, KSK_ENOMEM);
			fails++;
		}
		col_mem_destroy(m);
		assert_int_equal(fa.live, 0);
	}
	assert_true(oks > 0);
	assert_true(fails > 0);
	ksk_gen_destroy(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_frames_and_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ops_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enomem, setup, teardown),
	};
	return cmocka_run_group_tests_name("col_mem", tests, NULL, NULL);
}
