/*
 * test_recon.c : trace reconstruction (query/qry_recon.h): tree order,
 * orphans, duplicate IDs, parent cycles, clock skew (injected offsets,
 * bound, raw, async), critical path, self time, statistics, 100K-span
 * traces and allocation failures.
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

#include "kiseki/alloc.h"
#include "qry_recon.h"

#define MS 1000000ull
#define T0 1700000000000000000ull /* a plausible epoch in ns */

/* ---- a small trace builder ---------------------------------------------- */

typedef struct tb {
	ksk_span *sp;
	qry_span_in *in;
	size_t n, cap;
} tb;

static void put_id(uint8_t *dst, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		dst[i] = (uint8_t)(v >> (56 - 8 * i));
}

static void tb_init(tb *t, size_t cap)
{
	t->sp = calloc(cap, sizeof(*t->sp));
	t->in = calloc(cap, sizeof(*t->in));
	assert_non_null(t->sp);
	assert_non_null(t->in);
	t->n = 0;
	t->cap = cap;
}

static void tb_free(tb *t)
{
	free(t->sp);
	free(t->in);
}

/* Adds a span; parent 0 = root. Returns its index. */
static uint32_t tb_add(tb *t, uint64_t id, uint64_t parent, ksk_span_kind kind, uint64_t start,
                       uint64_t end, const char *svc, const char *host, const char *name)
{
	assert_true(t->n < t->cap);
	ksk_span *s = &t->sp[t->n];
	memset(s, 0, sizeof(*s));
	s->trace_id[15] = 1;
	put_id(s->span_id, id);
	if (parent) {
		put_id(s->parent_id, parent);
		s->has_parent = true;
	}
	s->kind = kind;
	s->start_ns = start;
	s->end_ns = end;
	s->name = ksk_str_c(name ? name : "op");
	t->in[t->n].span = s;
	t->in[t->n].service = ksk_str_c(svc ? svc : "");
	t->in[t->n].host = ksk_str_c(host ? host : "");
	return (uint32_t)t->n++;
}

static qry_trace *tb_build(tb *t, const qry_recon_opts *o)
{
	qry_trace *tr = NULL;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	ksk_err rc = qry_recon_build(t->in, t->n, o, &tr, &ei);
	if (rc != KSK_OK)
		fail_msg("build: %s %s", ksk_errname(rc), ei.msg);
	assert_non_null(tr);
	return tr;
}

static bool has_warning(const qry_trace *tr, const char *needle)
{
	size_t n;
	const char *const *w = qry_trace_warnings(tr, &n);
	for (size_t i = 0; i < n; i++)
		if (strstr(w[i], needle))
			return true;
	return false;
}

static bool node_warns(const qry_node *nd, const char *needle)
{
	return nd->warning && strstr(nd->warning, needle);
}

/* Structural invariants every trace must satisfy. */
static void check_tree(const qry_trace *tr)
{
	size_t n, no, nr;
	n = qry_trace_size(tr);
	const qry_node *nd = qry_trace_nodes(tr);
	const uint32_t *ord = qry_trace_order(tr, &no);
	const uint32_t *roots = qry_trace_roots(tr, &nr);
	assert_int_equal(no, n);
	uint32_t *pos = malloc((n ? n : 1) * sizeof(uint32_t));
	assert_non_null(pos);
	for (size_t i = 0; i < n; i++)
		pos[i] = UINT32_MAX;
	for (size_t k = 0; k < n; k++) {
		assert_true(ord[k] < n);
		assert_int_equal(pos[ord[k]], UINT32_MAX); /* a permutation */
		pos[ord[k]] = (uint32_t)k;
	}
	size_t nroots = 0;
	for (size_t i = 0; i < n; i++) {
		assert_true(nd[i].end_ns >= nd[i].start_ns);
		if (nd[i].parent < 0) {
			nroots++;
			assert_int_equal(nd[i].depth, 0);
		} else {
			assert_true(pos[nd[i].parent] < pos[i]);
			assert_int_equal(nd[i].depth, nd[nd[i].parent].depth + 1);
		}
		/* children: linked, ordered by start, pointing back */
		uint64_t last = 0;
		for (int32_t c = nd[i].first_child; c >= 0; c = nd[c].next_sibling) {
			assert_int_equal(nd[c].parent, (int32_t)i);
			assert_true(nd[c].start_ns >= last);
			last = nd[c].start_ns;
		}
		if (!(nd[i].flags & QRY_F_SKEW))
			assert_int_equal(nd[i].skew_ns, 0);
		assert_false(nd[i].flags & QRY_F_SYNTH_ROOT);
	}
	assert_int_equal(nroots, nr);
	for (size_t r = 0; r < nr; r++) {
		if (r + 1 < nr)
			assert_true(nd[roots[r]].start_ns <= nd[roots[r + 1]].start_ns);
		assert_int_equal(nd[roots[r]].next_sibling, r + 1 < nr ? (int32_t)roots[r + 1] : -1);
	}
	free(pos);
}

/* ---- tree ------------------------------------------------------------------ */

static void test_simple_tree(void **state)
{
	(void)state;
	tb t;
	tb_init(&t, 8);
	uint32_t r = tb_add(&t, 1, 0, KSK_KIND_SERVER, T0 + 1000, T0 + 2000, "a", "h", "root");
	uint32_t a = tb_add(&t, 2, 1, KSK_KIND_INTERNAL, T0 + 1100, T0 + 1500, "a", "h", "A");
	uint32_t b = tb_add(&t, 3, 1, KSK_KIND_INTERNAL, T0 + 1050, T0 + 1900, "a", "h", "B");
	uint32_t c = tb_add(&t, 4, 2, KSK_KIND_INTERNAL, T0 + 1200, T0 + 1300, "a", "h", "C");
	qry_trace *tr = tb_build(&t, NULL);
	check_tree(tr);
	const qry_node *nd = qry_trace_nodes(tr);
	size_t n;
	const uint32_t *ord = qry_trace_order(tr, &n);
	uint32_t want[] = {r, b, a, c};
	for (size_t k = 0; k < 4; k++)
		assert_int_equal(ord[k], want[k]);
	assert_int_equal(nd[r].parent, -1);
	assert_int_equal(nd[a].parent, (int32_t)r);
	assert_int_equal(nd[c].parent, (int32_t)a);
	assert_int_equal(nd[r].first_child, (int32_t)b);
	assert_int_equal(nd[b].next_sibling, (int32_t)a);
	assert_int_equal(nd[a].next_sibling, -1);
	assert_int_equal(nd[c].depth, 2);
	for (size_t i = 0; i < 4; i++) {
		assert_null(nd[i].warning);
		assert_false(nd[i].flags & (QRY_F_ORPHAN | QRY_F_DUP_ID | QRY_F_CYCLE | QRY_F_SKEW |
		                            QRY_F_ASYNC));
	}
	qry_trace_warnings(tr, &n);
	assert_int_equal(n, 0);
	qry_trace_roots(tr, &n);
	assert_int_equal(n, 1);
	assert_int_equal(qry_trace_start_ns(tr), T0 + 1000);
	assert_int_equal(qry_trace_end_ns(tr), T0 + 2000);
	qry_trace_destroy(tr);
	qry_trace_destroy(NULL);
	tb_free(&t);
}

static void test_empty_and_bad_args(void **state)
{
	(void)state;
	qry_trace *tr = NULL;
	assert_int_equal(qry_recon_build(NULL, 0, NULL, &tr, NULL), KSK_OK);
	size_t n = 99;
	qry_trace_order(tr, &n);
	assert_int_equal(n, 0);
	qry_trace_critical(tr, &n);
	assert_int_equal(n, 0);
	qry_trace_stats(tr, &n);
	assert_int_equal(n, 0);
	assert_int_equal(qry_trace_start_ns(tr), 0);
	assert_int_equal(qry_trace_end_ns(tr), 0);
	qry_trace_destroy(tr);
	ksk_errinfo ei;
	assert_int_equal(qry_recon_build(NULL, 3, NULL, &tr, &ei), KSK_EINVAL);
	assert_null(tr);
	qry_span_in in[1];
	memset(in, 0, sizeof(in));
	assert_int_equal(qry_recon_build(in, 1, NULL, &tr, &ei), KSK_EINVAL);
	assert_non_null(strstr(ei.msg, "span 0"));
	/* end before start is normalised, not an error */
	tb t;
	tb_init(&t, 2);
	tb_add(&t, 1, 0, KSK_KIND_SERVER, T0 + 100, T0 + 50, "a", "h", "r");
	tr = tb_build(&t, NULL);
	assert_int_equal(qry_trace_nodes(tr)[0].end_ns, T0 + 100);
	qry_trace_destroy(tr);
	tb_free(&t);
}

/* ---- orphans ------------------------------------------------------------- */

static void test_orphans(void **state)
{
	(void)state;
	tb t;
	tb_init(&t, 8);
	uint32_t r2 = tb_add(&t, 9, 0, KSK_KIND_SERVER, T0 + 500, T0 + 900, "b", "h2", "late root");
	uint32_t r = tb_add(&t, 1, 0, KSK_KIND_SERVER, T0 + 100, T0 + 1000, "a", "h", "root");
	uint32_t o = tb_add(&t, 2, 0x00f067aa0ba902b7ull, KSK_KIND_INTERNAL, T0 + 200, T0 + 300, "a",
	                    "h", "orphan");
	uint32_t k = tb_add(&t, 3, 2, KSK_KIND_INTERNAL, T0 + 210, T0 + 220, "a", "h", "kid");
	qry_trace *tr = tb_build(&t, NULL);
	check_tree(tr);
	const qry_node *nd = qry_trace_nodes(tr);
	/* two true roots kept; the orphan hangs under the earliest */
	size_t n;
	const uint32_t *roots = qry_trace_roots(tr, &n);
	assert_int_equal(n, 2);
	assert_int_equal(roots[0], r);
	assert_int_equal(roots[1], r2);
	assert_int_equal(nd[o].parent, (int32_t)r);
	assert_true(nd[o].flags & QRY_F_ORPHAN);
	assert_true(node_warns(&nd[o], "parent 00f067aa0ba902b7 missing; attached under root "
	                               "0000000000000001"));
	assert_int_equal(nd[k].parent, (int32_t)o);
	assert_false(nd[k].flags & QRY_F_ORPHAN);
	assert_null(nd[k].warning);
	assert_true(has_warning(tr, "2 root spans"));
	assert_true(has_warning(tr, "1 spans have a parent that is not in the trace"));
	qry_trace_destroy(tr);

	/* no root at all: the orphans are the roots */
	t.n = 0;
	uint32_t o1 = tb_add(&t, 2, 0x77, KSK_KIND_INTERNAL, T0 + 200, T0 + 300, "a", "h", "o1");
	uint32_t o2 = tb_add(&t, 4, 0x78, KSK_KIND_INTERNAL, T0 + 100, T0 + 300, "a", "h", "o2");
	tb_add(&t, 5, 4, KSK_KIND_INTERNAL, T0 + 150, T0 + 160, "a", "h", "kid");
	tr = tb_build(&t, NULL);
	check_tree(tr);
	nd = qry_trace_nodes(tr);
	roots = qry_trace_roots(tr, &n);
	assert_int_equal(n, 2);
	assert_int_equal(roots[0], o2);
	assert_int_equal(roots[1], o1);
	assert_true(nd[o1].flags & QRY_F_ORPHAN);
	assert_true(node_warns(&nd[o1], "parent 0000000000000077 missing; shown as a root"));
	assert_true(has_warning(tr, "no root span"));
	qry_trace_destroy(tr);
	tb_free(&t);
}

/* ---- duplicate IDs -------------------------------------------------------- */

static void test_dup_zipkin_shared(void **state)
{
	(void)state;
	tb t;
	tb_init(&t, 8);
	/* the server half is listed first, with the client's parent ID (B3) */
	uint32_t s = tb_add(&t, 2, 1, KSK_KIND_SERVER, T0 + 120, T0 + 480, "b", "hb", "get");
	uint32_t r = tb_add(&t, 1, 0, KSK_KIND_SERVER, T0 + 0, T0 + 1000, "a", "ha", "root");
	uint32_t c = tb_add(&t, 2, 1, KSK_KIND_CLIENT, T0 + 100, T0 + 500, "a", "ha", "get");
	uint32_t k = tb_add(&t, 3, 2, KSK_KIND_INTERNAL, T0 + 200, T0 + 300, "b", "hb", "db");
	/* recorded on the client's host: stays on the client's side */
	uint32_t w = tb_add(&t, 4, 2, KSK_KIND_INTERNAL, T0 + 490, T0 + 495, "a", "ha", "decode");
	qry_trace *tr = tb_build(&t, NULL);
	check_tree(tr);
	const qry_node *nd = qry_trace_nodes(tr);
	assert_int_equal(nd[c].parent, (int32_t)r);
	assert_int_equal(nd[s].parent, (int32_t)c);
	assert_int_equal(nd[k].parent, (int32_t)s);
	assert_int_equal(nd[k].depth, 3);
	assert_int_equal(nd[w].parent, (int32_t)c);
	assert_true(nd[s].flags & QRY_F_SHARED);
	assert_false(nd[c].flags & QRY_F_SHARED);
	for (size_t i = 0; i < 5; i++)
		assert_false(nd[i].flags & QRY_F_DUP_ID);
	size_t n;
	qry_trace_warnings(tr, &n);
	assert_int_equal(n, 0);
	qry_trace_destroy(tr);

	/* a third copy of the ID is a plain duplicate */
	uint32_t x = tb_add(&t, 2, 1, KSK_KIND_SERVER, T0 + 130, T0 + 470, "b", "hb2", "get");
	tr = tb_build(&t, NULL);
	check_tree(tr);
	nd = qry_trace_nodes(tr);
	assert_int_equal(nd[s].parent, (int32_t)c);
	assert_int_equal(nd[k].parent, (int32_t)s);
	assert_true(nd[x].flags & QRY_F_DUP_ID);
	assert_false(nd[s].flags & QRY_F_DUP_ID);
	assert_int_equal(nd[x].parent, (int32_t)r); /* by its own parent ID */
	assert_true(node_warns(&nd[x], "span ID 0000000000000002 is used by 3 spans"));
	qry_trace_destroy(tr);
	tb_free(&t);
}

static void test_dup_plain(void **state)
{
	(void)state;
	tb t;
	tb_init(&t, 8);
	uint32_t r = tb_add(&t, 1, 0, KSK_KIND_SERVER, T0, T0 + 1000, "a", "h", "root");
	uint32_t d1 = tb_add(&t, 5, 1, KSK_KIND_INTERNAL, T0 + 100, T0 + 400, "a", "h", "x");
	uint32_t d2 = tb_add(&t, 5, 1, KSK_KIND_INTERNAL, T0 + 50, T0 + 300, "a", "h", "x");
	uint32_t e = tb_add(&t, 6, 5, KSK_KIND_INTERNAL, T0 + 150, T0 + 200, "a", "h", "kid");
	qry_trace *tr = tb_build(&t, NULL);
	check_tree(tr);
	const qry_node *nd = qry_trace_nodes(tr);
	assert_true(nd[d1].flags & QRY_F_DUP_ID);
	assert_true(nd[d2].flags & QRY_F_DUP_ID);
	assert_int_equal(nd[d1].parent, (int32_t)r);
	assert_int_equal(nd[d2].parent, (int32_t)r);
	assert_int_equal(nd[e].parent, (int32_t)d2); /* the copy that starts first */
	assert_true(node_warns(&nd[d2], "duplicate span ID 0000000000000005 (2 spans share it); "
	                                "children naming it attach here"));
	assert_true(node_warns(&nd[d1], "attach to the copy that starts first"));
	assert_false(nd[e].flags & QRY_F_DUP_ID);
	assert_true(has_warning(tr, "1 span IDs are shared"));
	qry_trace_destroy(tr);
	tb_free(&t);
}

/* ---- cycles ---------------------------------------------------------------- */

static void test_cycles(void **state)
{
	(void)state;
	tb t;
	tb_init(&t, 16);
	uint32_t r = tb_add(&t, 1, 0, KSK_KIND_SERVER, T0, T0 + 1000, "a", "h", "root");
	uint32_t a = tb_add(&t, 2, 3, KSK_KIND_INTERNAL, T0 + 200, T0 + 300, "a", "h", "A");
	uint32_t b = tb_add(&t, 3, 2, KSK_KIND_INTERNAL, T0 + 100, T0 + 400, "a", "h", "B");
	uint32_t s = tb_add(&t, 7, 7, KSK_KIND_INTERNAL, T0 + 500, T0 + 600, "a", "h", "self");
	uint32_t k = tb_add(&t, 8, 2, KSK_KIND_INTERNAL, T0 + 210, T0 + 220, "a", "h", "tail");
	qry_trace *tr = tb_build(&t, NULL);
	check_tree(tr);
	const qry_node *nd = qry_trace_nodes(tr);
	/* 2-cycle cut at its earliest span (B), which hangs under the root */
	assert_true(nd[a].flags & QRY_F_CYCLE);
	assert_true(nd[b].flags & QRY_F_CYCLE);
	assert_int_equal(nd[b].parent, (int32_t)r);
	assert_int_equal(nd[a].parent, (int32_t)b);
	assert_true(node_warns(&nd[b], "parent 0000000000000002 is its own descendant"));
	assert_null(nd[a].warning);
	assert_int_equal(nd[k].parent, (int32_t)a);
	/* self-parent */
	assert_true(nd[s].flags & QRY_F_CYCLE);
	assert_int_equal(nd[s].parent, (int32_t)r);
	assert_true(has_warning(tr, "2 parent cycles cut"));
	qry_trace_destroy(tr);
	tb_free(&t);

	/* a 1000-span cycle with no root, plus a chain hanging off it */
	tb_init(&t, 1100);
	for (uint64_t i = 0; i < 1000; i++)
		tb_add(&t, 100 + i, 100 + (i + 1) % 1000, KSK_KIND_INTERNAL, T0 + 1000 - i,
		       T0 + 3000 + i, "a", "h", "c");
	for (uint64_t i = 0; i < 50; i++)
		tb_add(&t, 5000 + i, i ? 5000 + i - 1 : 500, KSK_KIND_INTERNAL, T0 + 2000 + i,
		       T0 + 2100 - i, "a", "h", "t");
	tr = tb_build(&t, NULL);
	check_tree(tr);
	nd = qry_trace_nodes(tr);
	size_t n;
	const uint32_t *roots = qry_trace_roots(tr, &n);
	assert_int_equal(n, 1);
	assert_int_equal(roots[0], 999); /* the earliest start */
	assert_true(nd[999].flags & QRY_F_CYCLE);
	uint32_t maxd = 0;
	for (size_t i = 0; i < t.n; i++)
		if (nd[i].depth > maxd)
			maxd = nd[i].depth;
	assert_int_equal(maxd, 999);
	assert_true(has_warning(tr, "no root span"));
	assert_true(has_warning(tr, "1 parent cycles cut"));
	qry_trace_destroy(tr);
	tb_free(&t);
}

/* ---- clock skew ------------------------------------------------------------ */

typedef struct truth {
	uint64_t s, e; /* true times */
} truth;

/* Hosts a (reference), b (+50 ms), c (-30 ms). Four a->b calls, each making
 * a b->c call; latencies slightly asymmetric (0.2 ms). */
static size_t skew_trace(tb *t, truth *tt, int64_t off_b, int64_t off_c)
{
	t->n = 0;
	uint64_t id = 1;
	int64_t off[3] = {0, off_b, off_c};
#define ADD(parent, kind, s_, e_, hi, svc, name)                                          \
	(tt[t->n].s = (s_), tt[t->n].e = (e_),                                            \
	 tb_add(t, id++, parent, kind, (uint64_t)((int64_t)(s_) + off[hi]),               \
	        (uint64_t)((int64_t)(e_) + off[hi]), svc, (const char *[]){"a", "b", "c"}[hi], \
	        name))
	ADD(0, KSK_KIND_SERVER, T0, T0 + 200 * MS, 0, "front", "GET /");
	for (uint64_t k = 0; k < 4; k++) {
		uint64_t cs = T0 + 10 * MS + 45 * MS * k, ce = cs + 40 * MS;
		uint64_t lat = 1 * MS + k * 100000, asym = 200000;
		uint64_t ca = id;
		ADD(1, KSK_KIND_CLIENT, cs, ce, 0, "front", "call b");
		uint64_t ss = cs + lat + asym, se = ce - lat + asym;
		uint64_t sb = id;
		ADD(ca, KSK_KIND_SERVER, ss, se, 1, "back", "serve");
		ADD(sb, KSK_KIND_INTERNAL, ss + 1 * MS, ss + 5 * MS, 1, "back", "work");
		uint64_t c2s = ss + 6 * MS, c2e = ss + 30 * MS;
		uint64_t cb = id;
		ADD(sb, KSK_KIND_CLIENT, c2s, c2e, 1, "back", "call c");
		uint64_t sc = id;
		ADD(cb, KSK_KIND_SERVER, c2s + 500000 - asym, c2e - 500000 - asym, 2, "db", "query");
		ADD(sc, KSK_KIND_INTERNAL, c2s + 1500000, c2s + 9 * MS, 2, "db", "scan");
	}
#undef ADD
	return t->n;
}

static int host_of(const tb *t, size_t i)
{
	return t->in[i].host.ptr[0] - 'a';
}

static void test_skew_injected(void **state)
{
	(void)state;
	tb t;
	tb_init(&t, 64);
	truth tt[64];
	skew_trace(&t, tt, 50 * (int64_t)MS, -30 * (int64_t)MS);
	qry_trace *tr = tb_build(&t, NULL);
	check_tree(tr);
	const qry_node *nd = qry_trace_nodes(tr);
	uint64_t worst = 0;
	for (size_t i = 0; i < t.n; i++) {
		int64_t err = (int64_t)(nd[i].start_ns - tt[i].s);
		uint64_t ae = err < 0 ? (uint64_t)-err : (uint64_t)err;
		if (ae > worst)
			worst = ae;
		assert_int_equal(nd[i].end_ns - nd[i].start_ns, tt[i].e - tt[i].s);
		int h = host_of(&t, i);
		if (h == 0) {
			assert_false(nd[i].flags & QRY_F_SKEW);
			assert_int_equal(nd[i].skew_ns, 0);
		} else {
			assert_true(nd[i].flags & QRY_F_SKEW);
			assert_non_null(nd[i].warning);
			assert_true(node_warns(&nd[i], "clock skew adjusted by "));
			assert_true(node_warns(&nd[i], h == 1 ? "(host a -> host b)"
			                                      : "(host b -> host c)"));
			int64_t want = h == 1 ? -50 * (int64_t)MS : 30 * (int64_t)MS;
			assert_true(llabs(nd[i].skew_ns - want) < (long long)MS);
		}
		/* no child before (or after) its parent */
		if (nd[i].parent >= 0) {
			assert_true(nd[i].start_ns >= nd[nd[i].parent].start_ns);
			assert_true(nd[i].end_ns <= nd[nd[i].parent].end_ns);
		}
	}
	print_message("    clock skew: worst residual error %.3f ms over %zu spans\n",
	              (double)worst / 1e6, t.n);
	assert_true(worst < MS);
	size_t nc;
	const qry_clock *ck = qry_trace_clocks(tr, &nc);
	assert_int_equal(nc, 3);
	assert_string_equal(ck[0].name, "host a");
	assert_int_equal(ck[0].state, QRY_CLOCK_REF);
	assert_int_equal(ck[1].state, QRY_CLOCK_OK);
	assert_int_equal(ck[1].samples, 4);
	assert_true(llabs(ck[1].offset_ns + 50 * (int64_t)MS) < (long long)MS);
	assert_true(llabs(ck[2].offset_ns - 30 * (int64_t)MS) < (long long)MS);
	assert_true(has_warning(tr, "clock skew: host b adjusted by -"));
	assert_true(has_warning(tr, "relative to host a (4 client/server pairs)"));
	assert_false(has_warning(tr, "outside their parent"));
	qry_trace_destroy(tr);

	/* raw mode: nothing moves, the inconsistency is reported */
	qry_recon_opts o;
	qry_recon_opts_default(&o);
	o.raw = true;
	tr = tb_build(&t, &o);
	check_tree(tr);
	nd = qry_trace_nodes(tr);
	for (size_t i = 0; i < t.n; i++) {
		assert_int_equal(nd[i].start_ns, t.sp[i].start_ns);
		assert_int_equal(nd[i].end_ns, t.sp[i].end_ns);
		assert_int_equal(nd[i].skew_ns, 0);
		assert_false(nd[i].flags & QRY_F_SKEW);
		assert_null(nd[i].warning);
	}
	qry_trace_clocks(tr, &nc);
	assert_int_equal(nc, 0);
	assert_true(has_warning(tr, "outside their parent span as recorded"));
	qry_trace_destroy(tr);

	/* consistent clocks (a tiny offset that keeps every server inside its
	 * client): nothing is moved */
	skew_trace(&t, tt, 100000, -100000);
	tr = tb_build(&t, NULL);
	nd = qry_trace_nodes(tr);
	for (size_t i = 0; i < t.n; i++) {
		assert_int_equal(nd[i].start_ns, t.sp[i].start_ns);
		assert_false(nd[i].flags & QRY_F_SKEW);
	}
	ck = qry_trace_clocks(tr, &nc);
	assert_int_equal(ck[1].state, QRY_CLOCK_OK);
	assert_int_equal(ck[1].offset_ns, 0);
	qry_trace_destroy(tr);
	tb_free(&t);
}

static void test_skew_bound(void **state)
{
	(void)state;
	tb t;
	tb_init(&t, 64);
	truth tt[64];
	/* b is 2 s ahead: over the default 1 s bound; c's clock agrees with b's */
	skew_trace(&t, tt, 2000 * (int64_t)MS, 2000 * (int64_t)MS);
	qry_trace *tr = tb_build(&t, NULL);
	check_tree(tr);
	const qry_node *nd = qry_trace_nodes(tr);
	for (size_t i = 0; i < t.n; i++) {
		int h = host_of(&t, i);
		if (h == 1) {
			assert_false(nd[i].flags & QRY_F_SKEW);
			assert_int_equal(nd[i].start_ns, t.sp[i].start_ns);
			assert_true(node_warns(&nd[i], "clock skew of -2.000s (host a -> host b) exceeds "
			                               "the bound of 1.000s; not adjusted"));
		}
	}
	size_t nc;
	const qry_clock *ck = qry_trace_clocks(tr, &nc);
	assert_int_equal(ck[1].state, QRY_CLOCK_OVER_BOUND);
	assert_int_equal(ck[1].offset_ns, 0);
	assert_true(llabs(ck[1].estimate_ns + 2000 * (int64_t)MS) < (long long)MS);
	assert_true(has_warning(tr, "over the bound of 1.000s; not adjusted"));
	assert_true(has_warning(tr, "outside their parent span after clock-skew adjustment"));
	/* c stays where it is, consistent with b as recorded */
	assert_int_equal(ck[2].state, QRY_CLOCK_OK);
	assert_int_equal(ck[2].offset_ns, 0);
	for (size_t i = 0; i < t.n; i++) {
		if (host_of(&t, i) == 2) {
			assert_int_equal(nd[i].start_ns, t.sp[i].start_ns);
			assert_true(nd[i].start_ns >= nd[nd[i].parent].start_ns);
			assert_true(nd[i].end_ns <= nd[nd[i].parent].end_ns);
		}
	}
	qry_trace_destroy(tr);

	/* c on true time: relative to b as recorded it is 2 s off too */
	skew_trace(&t, tt, 2000 * (int64_t)MS, 0);
	tr = tb_build(&t, NULL);
	ck = qry_trace_clocks(tr, &nc);
	assert_int_equal(ck[1].state, QRY_CLOCK_OVER_BOUND);
	assert_int_equal(ck[2].state, QRY_CLOCK_OVER_BOUND);
	nd = qry_trace_nodes(tr);
	for (size_t i = 0; i < t.n; i++) {
		assert_int_equal(nd[i].start_ns, t.sp[i].start_ns);
		if (host_of(&t, i) == 2)
			assert_true(node_warns(&nd[i], "(host b -> host c) exceeds the bound"));
	}
	qry_trace_destroy(tr);
	skew_trace(&t, tt, 2000 * (int64_t)MS, 2000 * (int64_t)MS);

	/* a 5 s bound lets it through */
	qry_recon_opts o;
	qry_recon_opts_default(&o);
	o.max_skew_ns = 5000 * MS;
	tr = tb_build(&t, &o);
	nd = qry_trace_nodes(tr);
	for (size_t i = 0; i < t.n; i++) {
		int64_t err = (int64_t)(nd[i].start_ns - tt[i].s);
		assert_true(llabs(err) < (long long)MS);
	}
	qry_trace_destroy(tr);
	tb_free(&t);
}

static void test_async_not_moved(void **state)
{
	(void)state;
	tb t;
	tb_init(&t, 16);
	uint32_t r = tb_add(&t, 1, 0, KSK_KIND_SERVER, T0, T0 + 20 * MS, "a", "ha", "root");
	uint32_t p = tb_add(&t, 2, 1, KSK_KIND_PRODUCER, T0 + 1 * MS, T0 + 2 * MS, "a", "ha", "send");
	uint32_t q = tb_add(&t, 3, 2, KSK_KIND_CONSUMER, T0 + 50 * MS, T0 + 60 * MS, "w", "hw", "recv");
	/* same host, starts after its parent ended: fire-and-forget */
	uint32_t f = tb_add(&t, 4, 1, KSK_KIND_INTERNAL, T0 + 30 * MS, T0 + 31 * MS, "a", "ha", "later");
	/* follows-from link to the parent, on another host, inside the parent */
	uint32_t l = tb_add(&t, 5, 1, KSK_KIND_INTERNAL, T0 + 5 * MS, T0 + 40 * MS, "x", "hx", "linked");
	ksk_link lk;
	memset(&lk, 0, sizeof(lk));
	lk.trace_id[15] = 1;
	put_id(lk.span_id, 1);
	t.sp[l].links = &lk;
	t.sp[l].n_links = 1;
	/* a server after its client ended on another host is skew, not async */
	uint32_t c = tb_add(&t, 6, 1, KSK_KIND_CLIENT, T0 + 3 * MS, T0 + 8 * MS, "a", "ha", "call");
	uint32_t s = tb_add(&t, 7, 6, KSK_KIND_SERVER, T0 + 12 * MS, T0 + 15 * MS, "y", "hy", "serve");
	qry_trace *tr = tb_build(&t, NULL);
	check_tree(tr);
	const qry_node *nd = qry_trace_nodes(tr);
	assert_true(nd[q].flags & QRY_F_ASYNC);
	assert_true(nd[f].flags & QRY_F_ASYNC);
	assert_true(nd[l].flags & QRY_F_ASYNC);
	assert_false(nd[s].flags & QRY_F_ASYNC);
	assert_false(nd[p].flags & QRY_F_ASYNC);
	assert_int_equal(nd[q].start_ns, T0 + 50 * MS);
	assert_int_equal(nd[f].start_ns, T0 + 30 * MS);
	assert_int_equal(nd[l].start_ns, T0 + 5 * MS);
	assert_false(nd[q].flags & (QRY_F_SKEW | QRY_F_CRITICAL));
	assert_false(nd[l].flags & QRY_F_CRITICAL);
	/* the server was moved inside its client (centred: 3 + (5 - 3) / 2) */
	assert_true(nd[s].flags & QRY_F_SKEW);
	assert_int_equal(nd[s].start_ns, T0 + 4 * MS);
	assert_int_equal(nd[s].skew_ns, -8 * (int64_t)MS);
	(void)r;
	(void)c;
	qry_trace_destroy(tr);

	/* a consumer on a host whose offset is known from a call moves by that
	 * host offset only, and stays after its producer */
	t.n = 0;
	tb_add(&t, 1, 0, KSK_KIND_SERVER, T0, T0 + 20 * MS, "a", "ha", "root");
	tb_add(&t, 2, 1, KSK_KIND_PRODUCER, T0 + 1 * MS, T0 + 2 * MS, "a", "ha", "send");
	q = tb_add(&t, 3, 2, KSK_KIND_CONSUMER, T0 + 100 * MS, T0 + 110 * MS, "w", "hw", "recv");
	tb_add(&t, 4, 1, KSK_KIND_CLIENT, T0 + 10 * MS, T0 + 14 * MS, "a", "ha", "call");
	s = tb_add(&t, 5, 4, KSK_KIND_SERVER, T0 + 61 * MS, T0 + 63 * MS, "w", "hw", "serve");
	tr = tb_build(&t, NULL);
	check_tree(tr);
	nd = qry_trace_nodes(tr);
	assert_int_equal(nd[s].skew_ns, -50 * (int64_t)MS);
	assert_int_equal(nd[q].skew_ns, -50 * (int64_t)MS);
	assert_true(nd[q].flags & QRY_F_ASYNC);
	assert_int_equal(nd[q].start_ns, T0 + 50 * MS); /* not pulled into [1, 2] ms */
	qry_trace_destroy(tr);
	tb_free(&t);
}

/* ---- critical path, self time, stats --------------------------------------- */

static void expect_crit(const qry_trace *tr, const uint32_t *want, size_t nwant)
{
	size_t n;
	const uint32_t *c = qry_trace_critical(tr, &n);
	assert_int_equal(n, nwant);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(c[i], want[i]);
	const qry_node *nd = qry_trace_nodes(tr);
	size_t cnt = 0;
	for (size_t i = 0; i < qry_trace_size(tr); i++)
		cnt += (nd[i].flags & QRY_F_CRITICAL) != 0;
	assert_int_equal(cnt, nwant);
}

static void expect_segs(const qry_trace *tr, const uint64_t (*want)[3], size_t nwant)
{
	size_t n;
	const qry_crit_seg *s = qry_trace_critical_segments(tr, &n);
	assert_int_equal(n, nwant);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(s[i].node, want[i][0]);
		assert_int_equal(s[i].start_ns, T0 + want[i][1]);
		assert_int_equal(s[i].end_ns, T0 + want[i][2]);
	}
}

static void test_critical_path(void **state)
{
	(void)state;
	tb t;
	tb_init(&t, 16);
	/* sequential children: both critical */
	tb_add(&t, 1, 0, KSK_KIND_SERVER, T0, T0 + 100, "a", "h", "root");
	tb_add(&t, 2, 1, KSK_KIND_INTERNAL, T0 + 10, T0 + 40, "a", "h", "A");
	tb_add(&t, 3, 1, KSK_KIND_INTERNAL, T0 + 50, T0 + 90, "a", "h", "B");
	qry_trace *tr = tb_build(&t, NULL);
	expect_crit(tr, (uint32_t[]){0, 1, 2}, 3);
	static const uint64_t seq[][3] = {{0, 0, 10}, {1, 10, 40}, {0, 40, 50}, {2, 50, 90},
	                                  {0, 90, 100}};
	expect_segs(tr, seq, 5);
	qry_trace_destroy(tr);

	/* parallel children: only the one finishing last */
	t.n = 0;
	tb_add(&t, 1, 0, KSK_KIND_SERVER, T0, T0 + 100, "a", "h", "root");
	tb_add(&t, 2, 1, KSK_KIND_INTERNAL, T0 + 10, T0 + 80, "a", "h", "A");
	tb_add(&t, 3, 1, KSK_KIND_INTERNAL, T0 + 10, T0 + 60, "a", "h", "B");
	tr = tb_build(&t, NULL);
	expect_crit(tr, (uint32_t[]){0, 1}, 2);
	static const uint64_t par[][3] = {{0, 0, 10}, {1, 10, 80}, {0, 80, 100}};
	expect_segs(tr, par, 3);
	qry_trace_destroy(tr);

	/* a child outliving its parent is clipped; the overlapped sibling is not
	 * critical; a grandchild and an async child */
	t.n = 0;
	tb_add(&t, 1, 0, KSK_KIND_SERVER, T0, T0 + 100, "a", "h", "root");
	tb_add(&t, 2, 1, KSK_KIND_INTERNAL, T0 + 10, T0 + 150, "a", "h", "A");
	tb_add(&t, 3, 1, KSK_KIND_INTERNAL, T0 + 20, T0 + 50, "a", "h", "B");
	tb_add(&t, 4, 2, KSK_KIND_INTERNAL, T0 + 60, T0 + 120, "a", "h", "A1");
	tb_add(&t, 5, 1, KSK_KIND_PRODUCER, T0 + 5, T0 + 8, "a", "h", "P");
	tb_add(&t, 6, 5, KSK_KIND_CONSUMER, T0 + 5, T0 + 99, "a", "h", "C");
	tr = tb_build(&t, NULL);
	check_tree(tr);
	expect_crit(tr, (uint32_t[]){0, 4, 1, 3}, 4);
	static const uint64_t out[][3] = {{0, 0, 5}, {4, 5, 8}, {0, 8, 10}, {1, 10, 60},
	                                  {3, 60, 100}};
	expect_segs(tr, out, 5);
	qry_trace_destroy(tr);

	/* several roots: the path crosses from one to the other */
	t.n = 0;
	tb_add(&t, 1, 0, KSK_KIND_SERVER, T0, T0 + 50, "a", "h", "r1");
	tb_add(&t, 2, 0, KSK_KIND_SERVER, T0 + 60, T0 + 100, "a", "h", "r2");
	tr = tb_build(&t, NULL);
	expect_crit(tr, (uint32_t[]){0, 1}, 2);
	qry_trace_destroy(tr);
	tb_free(&t);
}

static void test_self_and_stats(void **state)
{
	(void)state;
	tb t;
	tb_init(&t, 16);
	uint32_t r = tb_add(&t, 1, 0, KSK_KIND_SERVER, T0, T0 + 100, "front", "h", "GET");
	uint32_t a = tb_add(&t, 2, 1, KSK_KIND_CLIENT, T0 + 10, T0 + 40, "front", "h", "db");
	uint32_t b = tb_add(&t, 3, 1, KSK_KIND_CLIENT, T0 + 30, T0 + 60, "front", "h", "db");
	uint32_t c = tb_add(&t, 4, 1, KSK_KIND_INTERNAL, T0 + 90, T0 + 130, "front", "h", "tail");
	uint32_t g = tb_add(&t, 5, 2, KSK_KIND_INTERNAL, T0 + 15, T0 + 20, "back", "h", "x");
	t.sp[b].status = KSK_STATUS_ERROR;
	qry_trace *tr = tb_build(&t, NULL);
	const qry_node *nd = qry_trace_nodes(tr);
	/* union of [10,40], [30,60], [90,100] (clipped) = 30+20+10 = 60 */
	assert_int_equal(nd[r].self_ns, 40);
	assert_int_equal(nd[a].self_ns, 25);
	assert_int_equal(nd[b].self_ns, 30);
	assert_int_equal(nd[c].self_ns, 40);
	assert_int_equal(nd[g].self_ns, 5);
	assert_true(nd[b].flags & QRY_F_ERROR);
	assert_false(nd[a].flags & QRY_F_ERROR);
	size_t n;
	const qry_stat *st = qry_trace_stats(tr, &n);
	assert_int_equal(n, 4);
	/* sorted: back/x, front/GET, front/db, front/tail */
	assert_string_equal(st[0].service.ptr, "back");
	assert_string_equal(st[0].operation.ptr, "x");
	assert_string_equal(st[1].operation.ptr, "GET");
	assert_string_equal(st[2].service.ptr, "front");
	assert_string_equal(st[2].operation.ptr, "db");
	assert_int_equal(st[2].count, 2);
	assert_int_equal(st[2].errors, 1);
	assert_int_equal(st[2].total_ns, 60);
	assert_int_equal(st[2].self_ns, 55);
	assert_int_equal(st[3].operation.len, 4);
	assert_int_equal(st[1].errors, 0);
	qry_trace_destroy(tr);
	tb_free(&t);
}

/* ---- 100K spans ------------------------------------------------------------ */

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#define BIG 100000

static const char *const hosts[] = {"h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7",
                                    "h8", "h9", "h10", "h11", "h12", "h13", "h14", "h15"};

static double timed_build(tb *t, qry_trace **out)
{
	double best = 1e9;
	for (int rep = 0; rep < 3; rep++) {
		qry_trace *tr = NULL;
		double t0 = now_ms();
		assert_int_equal(qry_recon_build(t->in, t->n, NULL, &tr, NULL), KSK_OK);
		double dt = now_ms() - t0;
		if (dt < best)
			best = dt;
		/* loose: catches a quadratic step (minutes), not noise (ASan ~150 ms) */
		assert_true(dt < 2000.0);
		if (rep < 2)
			qry_trace_destroy(tr);
		else
			*out = tr;
	}
	return best;
}

static void test_big_wide(void **state)
{
	(void)state;
	tb t;
	tb_init(&t, BIG);
	uint64_t rs = 0x9e3779b97f4a7c15ull;
	/* a random tree: parent among the previous 64 spans or the root, a
	 * third of the edges cross to another host (with a per-host offset) */
	uint64_t *ts = malloc(BIG * sizeof(uint64_t)), *te = malloc(BIG * sizeof(uint64_t));
	int *hs = malloc(BIG * sizeof(int));
	int64_t hoff[16];
	for (int h = 0; h < 16; h++)
		hoff[h] = h ? (int64_t)(rng_next(&rs) % (100 * MS)) - 50 * (int64_t)MS : 0;
	ts[0] = T0;
	te[0] = T0 + 100000 * MS;
	hs[0] = 0;
	tb_add(&t, 1, 0, KSK_KIND_SERVER, ts[0], te[0], "svc0", hosts[0], "root");
	for (size_t i = 1; i < BIG; i++) {
		size_t p = rng_next(&rs) % 8 == 0 ? 0 : i - 1 - rng_next(&rs) % (i < 64 ? i : 64);
		uint64_t d = te[p] - ts[p];
		uint64_t len = d / 2 + rng_next(&rs) % (d / 2 + 1) / 2;
		uint64_t room = d - len;
		ts[i] = ts[p] + room / 2; /* centred: latency split evenly */
		te[i] = ts[i] + len;
		bool cross = rng_next(&rs) % 3 == 0;
		hs[i] = cross ? (int)(rng_next(&rs) % 16) : hs[p];
		tb_add(&t, i + 1, p + 1, cross ? KSK_KIND_SERVER : KSK_KIND_INTERNAL,
		       ts[i] + (uint64_t)hoff[hs[i]], te[i] + (uint64_t)hoff[hs[i]],
		       hs[i] ? "svcX" : "svc0", hosts[hs[i]], i % 7 ? "op" : "op7");
	}
	qry_trace *tr;
	double ms = timed_build(&t, &tr);
	print_message("    100K-span random tree (16 hosts, skewed): build %.2f ms\n", ms);
	check_tree(tr);
	const qry_node *nd = qry_trace_nodes(tr);
	size_t n;
	qry_trace_critical(tr, &n);
	assert_true(n >= 1);
	qry_trace_stats(tr, &n);
	assert_int_equal(n, 5); /* svc0/{root,op,op7}, svcX/{op,op7} */
	/* host offsets recovered */
	size_t bad = 0;
	for (size_t i = 0; i < BIG; i++) {
		int64_t err = (int64_t)(nd[i].start_ns - ts[i]);
		bad += llabs(err) >= (long long)MS;
	}
	print_message("    spans off by >= 1 ms after adjustment: %zu\n", bad);
	assert_int_equal(bad, 0);
	qry_trace_destroy(tr);
	free(ts);
	free(te);
	free(hs);

	/* flat: one root, 99,999 children */
	t.n = 0;
	tb_add(&t, 1, 0, KSK_KIND_SERVER, T0, T0 + BIG * 10, "a", "h", "root");
	for (size_t i = 1; i < BIG; i++)
		tb_add(&t, i + 1, 1, KSK_KIND_INTERNAL, T0 + (i * 7919) % (BIG * 10 - 5),
		       T0 + (i * 7919) % (BIG * 10 - 5) + 5, "a", "h", "leaf");
	ms = timed_build(&t, &tr);
	print_message("    100K-span flat trace: build %.2f ms\n", ms);
	check_tree(tr);
	qry_trace_destroy(tr);
	tb_free(&t);
}

static void test_big_deep(void **state)
{
	(void)state;
	tb t;
	tb_init(&t, BIG);
	/* a 100K-deep chain alternating hosts a and b (b 5 ms ahead): every
	 * edge a->b or b->a is a call nested 1 us on each side */
	for (size_t i = 0; i < BIG; i++) {
		bool onb = (i / 2) % 2 == 1;
		uint64_t off = onb ? 5 * MS : 0;
		tb_add(&t, i + 1, i, i % 2 ? KSK_KIND_CLIENT : KSK_KIND_SERVER, T0 + i * 1000 + off,
		       T0 + (2 * BIG - i) * 1000 + off, onb ? "b" : "a", onb ? "b" : "a", "hop");
	}
	qry_trace *tr;
	double ms = timed_build(&t, &tr);
	print_message("    100K-deep chain (2 hosts, skewed): build %.2f ms\n", ms);
	check_tree(tr);
	const qry_node *nd = qry_trace_nodes(tr);
	assert_int_equal(nd[BIG - 1].depth, BIG - 1);
	for (size_t i = 0; i < BIG; i++)
		assert_int_equal(nd[i].start_ns, T0 + i * 1000);
	size_t n;
	const uint32_t *c = qry_trace_critical(tr, &n);
	assert_int_equal(n, BIG);
	assert_int_equal(c[0], 0);
	qry_trace_critical_segments(tr, &n);
	assert_int_equal(n, 2 * BIG - 1);
	qry_trace_destroy(tr);
	tb_free(&t);
}

/* ---- allocation failures --------------------------------------------------- */

static void test_alloc_failures(void **state)
{
	(void)state;
	tb t;
	tb_init(&t, 128);
	truth tt[64];
	skew_trace(&t, tt, 50 * (int64_t)MS, -30 * (int64_t)MS);
	/* plus every repair path: orphan, duplicates, a cycle, a shared ID */
	tb_add(&t, 500, 0x4242, KSK_KIND_INTERNAL, T0 + 5, T0 + 6, "a", "a", "orphan");
	tb_add(&t, 501, 1, KSK_KIND_INTERNAL, T0 + 5, T0 + 6, "a", "a", "dup");
	tb_add(&t, 501, 1, KSK_KIND_INTERNAL, T0 + 7, T0 + 8, "a", "a", "dup");
	tb_add(&t, 502, 503, KSK_KIND_INTERNAL, T0 + 5, T0 + 6, "a", "a", "cyc");
	tb_add(&t, 503, 502, KSK_KIND_INTERNAL, T0 + 5, T0 + 6, "a", "a", "cyc");
	tb_add(&t, 504, 1, KSK_KIND_CLIENT, T0 + 5, T0 + 9, "a", "a", "cli");
	tb_add(&t, 504, 1, KSK_KIND_SERVER, T0 + 6, T0 + 8, "z", "z", "srv");
	for (int after = 0; after <= 1; after++) {
		unsigned long k;
		for (k = 1; k < 10000; k++) {
			ksk_failalloc fa;
			ksk_failalloc_init(&fa, k, after);
			qry_recon_opts o;
			qry_recon_opts_default(&o);
			o.alloc = &fa.table;
			qry_trace *tr = NULL;
			ksk_errinfo ei;
			ksk_err rc = qry_recon_build(t.in, t.n, &o, &tr, &ei);
			if (rc == KSK_OK) {
				check_tree(tr);
				qry_trace_destroy(tr);
				assert_int_equal(fa.live, 0);
				break;
			}
			assert_int_equal(rc, KSK_ENOMEM);
			assert_null(tr);
			assert_int_equal(fa.live, 0);
		}
		assert_true(k > 10);
		assert_true(k < 10000);
	}
	tb_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_tree),
		cmocka_unit_test(test_empty_and_bad_args),
		cmocka_unit_test(test_orphans),
		cmocka_unit_test(test_dup_zipkin_shared),
		cmocka_unit_test(test_dup_plain),
		cmocka_unit_test(test_cycles),
		cmocka_unit_test(test_skew_injected),
		cmocka_unit_test(test_skew_bound),
		cmocka_unit_test(test_async_not_moved),
		cmocka_unit_test(test_critical_path),
		cmocka_unit_test(test_self_and_stats),
		cmocka_unit_test(test_big_wide),
		cmocka_unit_test(test_big_deep),
		cmocka_unit_test(test_alloc_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
