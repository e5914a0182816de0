/*
 * qry_recon.c : trace reconstruction (qry_recon.h).
 *
 * Data in: the n spans of one trace, borrowed for the call. Data out: a
 * qry_trace owning one node per span (same index), the tree order, the
 * critical path, statistics, clock domains and warnings. Message strings
 * and copied names live in one arena; everything else is a handful of
 * O(n) arrays. Temporaries are freed before returning. Nothing recurses:
 * every walk uses an explicit stack or array, so a 100K-deep chain is fine.
 *
 * Phases (each O(n) except the radix sorts, which are O(n) passes too):
 *
 * 1. IDs. One open-addressing table (span ID -> the span children attach
 *    to). Spans sharing an ID form a group:
 *    - a group with a CLIENT and a SERVER span is a Zipkin shared span: the
 *      (earliest) SERVER becomes the child of the (earliest) CLIENT and gets
 *      QRY_F_SHARED; children naming the ID attach to the SERVER half (the
 *      deeper one), except a child in the client half's clock domain (and
 *      not the server's), which stays under the CLIENT half as Zipkin keys
 *      shared spans by (ID, endpoint). Further members are duplicates;
 *    - otherwise every member gets QRY_F_DUP_ID and a warning, and children
 *      attach to the member that starts first (ties: lowest index).
 *    "Earliest" always means (raw start, index), so the result does not
 *    depend on the order spans were fetched in except for exact ties.
 * 2. Parents. No parent ID -> a true root. A parent ID not in the table ->
 *    QRY_F_ORPHAN ("detached").
 * 3. Cycles. Parent links form a functional graph; each node is walked up
 *    once (colours + an explicit path stack). A cycle found is cut at its
 *    earliest span, which becomes detached; all its members get QRY_F_CYCLE.
 * 4. Roots. The main root is the earliest true root. When one exists,
 *    detached spans hang under it (several true roots all stay roots; no
 *    synthetic node is ever added, QRY_F_SYNTH_ROOT is never set). When
 *    there is no true root, the detached spans are the roots. Each detached
 *    span gets a warning naming its missing parent.
 * 5. Clock domains (computed first, used from phase 2 on): host.name,
 *    else service.name, else unknown (never adjusted, and treated as the
 *    parent's clock for rule 6).
 * 6. Async edges (raw times), QRY_F_ASYNC on the child: parent PRODUCER or
 *    child CONSUMER; or a link of the child names its parent span (the OTel
 *    form of a follows-from reference); or the child starts at or after the
 *    end of a parent of non-zero length, when both share a clock domain or
 *    the kinds are not a call (parent not CLIENT and child not SERVER).
 *    Edges to detached spans are synthetic: never async, never sampled.
 * 7. Clock skew (skipped when raw). Every synchronous edge parent -> child
 *    between two known, different domains with dur(child) <= dur(parent)
 *    is a sample of the offset theta = clock(child) - clock(parent):
 *    NTP-style, theta = mid(child) - mid(parent) (latency split evenly),
 *    and it bounds the offsets that keep the child inside the parent:
 *    end(c) - end(p) <= theta <= start(c) - start(p). Samples are grouped
 *    per unordered domain pair (the reverse direction negates). Per pair:
 *    if 0 is inside every sample's bounds the raw data is consistent and
 *    theta = 0 (nothing is moved that the data does not prove wrong); else
 *    if the bounds intersect, theta = median clamped into the intersection;
 *    else (contradictory samples) theta = median, with a trace warning.
 *    Then a breadth-first walk over the domain graph from the earliest
 *    root's domain (offset 0) gives every reachable domain one offset,
 *    offset(y) = offset(x) - theta(x->y), applied to ALL spans of that
 *    domain (so a host's spans move together, wherever they sit in the
 *    tree, async children included: they get their host's offset but are
 *    never centred). An offset with |offset| > max_skew_ns is not applied
 *    (the domain stays raw, state QRY_CLOCK_OVER_BOUND, warning) and the
 *    walk continues from the domain as recorded, so its callees stay
 *    consistent with it. Unreached domains (no usable pair) stay raw.
 *    The walk follows a maximum spanning forest of the domain graph by
 *    sample count (Kruskal), so offsets compose along the best-supported
 *    pairs; with cycles in the host graph (a->b, b->c, a->c) the pairs off
 *    the forest are not guaranteed nested: a trace warning counts the
 *    synchronous cross-host children still outside their parent.
 *    Other components of the domain graph are anchored at the domain of
 *    their top-most span (roots, then detached spans, then first seen).
 * 8. Order. A stable LSD radix sort of (adjusted start, index) gives every
 *    child list by counting sort, roots by start, first_child/next_sibling,
 *    then an explicit-stack preorder gives the order and depths.
 * 9. Self time: children are sorted by start, so one sweep per parent
 *    merges their intervals clipped to the parent; self = dur - union.
 * 10. Critical path (the Jaeger UI algorithm, iterative). Each span's
 *    interval is clipped to its parent's clipped interval; async children
 *    and children left empty by the clip are dropped (with their subtrees).
 *    A virtual parent spanning [trace start, trace end] has the roots as
 *    children, so several roots are handled. Per parent, the children are
 *    listed by clipped end descending (ties: earlier start first). Walk
 *    with a cursor starting at the parent's end: take the next listed child
 *    whose end <= cursor (children ending after the cursor overlap work
 *    already on the path and are skipped for good, as the cursor only
 *    decreases); the gap [child end, cursor] is the parent's own critical
 *    section; descend into the child with cursor = its end; on return the
 *    cursor becomes the child's start. When no child qualifies, [start,
 *    cursor] of the span is critical and the walk returns to its parent.
 *    Every span descended into is QRY_F_CRITICAL. O(n) after the sort.
 * 11. Stats: a (service, name) table; strings copied; sorted by name.
 *
 * Invariants on success: every node's parent chain ends at a root (cycles
 * were cut), the order is a permutation of 0..n-1, end_ns >= start_ns,
 * skew_ns == 0 unless QRY_F_SKEW, and nodes only point into the trace.
 */
#include "qry_recon.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiseki/arena.h"

#define QRY_NONE UINT32_MAX

enum { QRY_DET_NONE = 0, QRY_DET_MISSING = 1, QRY_DET_CYCLE = 2 };

struct qry_trace {
	const ksk_alloc *alloc;   /* borrowed */
	ksk_arena *arena;         /* messages, names */
	size_t n;
	qry_node *nodes;          /* n */
	uint32_t *order;          /* n */
	uint32_t *roots;          /* n_roots */
	size_t n_roots;
	uint32_t *crit;           /* n_crit */
	size_t n_crit;
	qry_crit_seg *segs;       /* n_segs (cap_segs) */
	size_t n_segs, cap_segs;
	qry_stat *stats;          /* n_stats (cap_stats) */
	size_t n_stats, cap_stats;
	qry_clock *clocks;        /* n_clocks */
	size_t n_clocks;
	const char **warns;       /* n_warns (cap_warns) */
	size_t n_warns, cap_warns;
	uint64_t start_ns, end_ns;
};

/* A key plus a payload, the unit of the radix sort. */
typedef struct qry_kv {
	uint64_t k;
	uint32_t v;
} qry_kv;

/* An interning table of string pairs (clock domains, stat keys). Ids
 * start at 1; 0 is "none". */
typedef struct qry_pairtab {
	uint32_t *slot;           /* id, 0 = empty */
	size_t mask;
	ksk_str *a, *b;           /* [id], borrowed from the input */
	uint64_t *h;              /* [id] */
	size_t n, cap;            /* ids used (including 0), capacity */
} qry_pairtab;

/* One offset sample between two clock domains (a < c). */
typedef struct qry_sample {
	int64_t theta, lo, hi;    /* clock(c) - clock(a): estimate, bounds */
} qry_sample;

/* The decision for one domain pair (a < c). */
typedef struct qry_pair {
	uint32_t a, c, samples;
	bool contradictory;
	int64_t theta;            /* clock(c) - clock(a) */
} qry_pair;

/* Build state: the trace being built plus every temporary. */
typedef struct qry_b {
	qry_trace *t;
	const qry_span_in *in;
	size_t n;
	const ksk_alloc *a;
	bool raw;
	uint64_t max_skew;
	uint32_t main_root;       /* QRY_NONE when no true root */
	/* phase 1 */
	uint32_t *idslot;         /* index + 1, 0 = empty */
	uint64_t *idkey;
	size_t idmask;
	uint32_t *dnext;          /* next member of an ID group */
	/* phases 2-4 */
	uint8_t *det;             /* QRY_DET_* */
	uint32_t *stack;          /* n + 1 */
	/* phases 5-7 */
	uint32_t *dom;            /* domain per node, 0 = unknown */
	qry_pairtab doms;
	/* phase 8+ */
	qry_kv *sorted;           /* (start, index) ascending */
	qry_kv *kvtmp;
	uint32_t *coff;           /* n + 3 */
	uint32_t *clist;          /* n */
	uint64_t *cs, *ce;        /* clipped interval, n + 1 */
} qry_b;

/* ---- small helpers ------------------------------------------------------ */

static uint64_t qry_id64(const uint8_t *id)
{
	uint64_t v;
	memcpy(&v, id, sizeof(v));
	return v;
}

static uint64_t qry_mix64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return k;
}

static uint64_t qry_strhash(ksk_str s, uint64_t h)
{
	for (uint32_t i = 0; i < s.len; i++) {
		h ^= (unsigned char)s.ptr[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static bool qry_streq(ksk_str x, ksk_str y)
{
	return x.len == y.len && (x.len == 0 || memcmp(x.ptr, y.ptr, x.len) == 0);
}

static int qry_strcmp(ksk_str x, ksk_str y)
{
	uint32_t m = x.len < y.len ? x.len : y.len;
	int c = m ? memcmp(x.ptr, y.ptr, m) : 0;
	if (c)
		return c;
	return x.len < y.len ? -1 : x.len > y.len;
}

static size_t qry_pow2_at_least(size_t want)
{
	size_t c = 16;
	while (c < want)
		c *= 2;
	return c;
}

/* Stable LSD radix sort of a[0..n) by k (8 passes of 8 bits, passes where
 * every key has the same byte skipped). tmp holds n entries. */
static void qry_radix(qry_kv *a, qry_kv *tmp, size_t n)
{
	uint32_t cnt[8][256];
	memset(cnt, 0, sizeof(cnt));
	for (size_t i = 0; i < n; i++) {
		uint64_t k = a[i].k;
		for (int p = 0; p < 8; p++)
			cnt[p][(k >> (8 * p)) & 255]++;
	}
	qry_kv *src = a, *dst = tmp;
	for (int p = 0; p < 8 && n > 1; p++) {
		if (cnt[p][(src[0].k >> (8 * p)) & 255] == n)
			continue;
		uint32_t pos = 0;
		for (int x = 0; x < 256; x++) {
			uint32_t c = cnt[p][x];
			cnt[p][x] = pos;
			pos += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[cnt[p][(src[i].k >> (8 * p)) & 255]++] = src[i];
		qry_kv *sw = src;
		src = dst;
		dst = sw;
	}
	if (src != a)
		memcpy(a, src, n * sizeof(*a));
}

/* Signed value as an unsigned key with the same order. */
static uint64_t qry_skey(int64_t v)
{
	return (uint64_t)v ^ (1ull << 63);
}

static bool qry_iabs_over(int64_t v, uint64_t bound)
{
	uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	return m > bound;
}

/* "+1.204ms" style. */
static void qry_fmt_dur(char *buf, size_t cap, int64_t d, bool sign)
{
	uint64_t m = d < 0 ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;
	const char *s = d < 0 ? "-" : (sign ? "+" : "");
	if (m >= 1000000000ull)
		snprintf(buf, cap, "%s%llu.%03llus", s, (unsigned long long)(m / 1000000000ull),
		         (unsigned long long)(m % 1000000000ull / 1000000ull));
	else if (m >= 1000000ull)
		snprintf(buf, cap, "%s%llu.%03llums", s, (unsigned long long)(m / 1000000ull),
		         (unsigned long long)(m % 1000000ull / 1000ull));
	else
		snprintf(buf, cap, "%s%llu.%03lluus", s, (unsigned long long)(m / 1000ull),
		         (unsigned long long)(m % 1000ull));
}

/* A formatted string in the trace's arena, or NULL when out of memory. */
static const char *qry_fmt(qry_b *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static const char *qry_fmt(qry_b *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0)
		len = 0;
	char *p = ksk_arena_alloc(b->t->arena, (size_t)len + 1);
	if (!p)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)len + 1, fmt, ap);
	va_end(ap);
	return p;
}

static ksk_err qry_trace_warn(qry_b *b, const char *msg)
{
	qry_trace *t = b->t;
	if (!msg)
		return KSK_ENOMEM;
	if (!ksk_grow(t->alloc, (void **)&t->warns, &t->cap_warns, t->n_warns + 1,
	              sizeof(*t->warns), 8))
		return KSK_ENOMEM;
	t->warns[t->n_warns++] = msg;
	return KSK_OK;
}

/* Attaches `msg` (in the arena, possibly shared) to node i; joins with
 * "; " when the node already has one. */
static ksk_err qry_node_warn(qry_b *b, uint32_t i, const char *msg)
{
	qry_node *nd = &b->t->nodes[i];
	if (!msg)
		return KSK_ENOMEM;
	if (!nd->warning) {
		nd->warning = msg;
		return KSK_OK;
	}
	const char *j = qry_fmt(b, "%s; %s", nd->warning, msg);
	if (!j)
		return KSK_ENOMEM;
	nd->warning = j;
	return KSK_OK;
}

static void qry_hex(const uint8_t *id, char out[2 * KSK_SPAN_ID_LEN + 1])
{
	ksk_hex_encode(id, KSK_SPAN_ID_LEN, out);
}

/* true when node i sorts before j by (raw start, index); j may be NONE. */
static bool qry_before(const qry_b *b, uint32_t i, uint32_t j)
{
	if (j == QRY_NONE)
		return true;
	uint64_t si = b->t->nodes[i].start_ns, sj = b->t->nodes[j].start_ns;
	return si < sj || (si == sj && i < j);
}

/* ---- pair interning ------------------------------------------------------ */

static ksk_err qry_pairtab_init(qry_pairtab *pt, const ksk_alloc *a, size_t n)
{
	size_t cap = qry_pow2_at_least(2 * n + 2);
	pt->slot = ksk_calloc(a, cap, sizeof(uint32_t));
	if (!pt->slot)
		return KSK_ENOMEM;
	pt->mask = cap - 1;
	pt->n = 1; /* id 0 = none */
	pt->cap = 0;
	return KSK_OK;
}

static void qry_pairtab_free(qry_pairtab *pt, const ksk_alloc *a)
{
	ksk_free(a, pt->slot);
	ksk_free(a, pt->a);
	ksk_free(a, pt->b);
	ksk_free(a, pt->h);
	memset(pt, 0, sizeof(*pt));
}

/* The id of (x, y), added when new. 0 on allocation failure. The table
 * never holds more than the n + 1 ids it was sized for. */
static uint32_t qry_pairtab_get(qry_pairtab *pt, const ksk_alloc *a, ksk_str x, ksk_str y)
{
	uint64_t h = qry_strhash(y, qry_strhash(x, 0xcbf29ce484222325ull) ^ 0xff);
	h = qry_mix64(h);
	size_t i = (size_t)h & pt->mask;
	for (;;) {
		uint32_t id = pt->slot[i];
		if (!id)
			break;
		if (pt->h[id] == h && qry_streq(pt->a[id], x) && qry_streq(pt->b[id], y))
			return id;
		i = (i + 1) & pt->mask;
	}
	size_t id = pt->n;
	if (id >= pt->cap) {
		size_t c1 = pt->cap, c2 = pt->cap, c3 = pt->cap;
		if (!ksk_grow(a, (void **)&pt->a, &c1, id + 1, sizeof(ksk_str), 16) ||
		    !ksk_grow(a, (void **)&pt->b, &c2, id + 1, sizeof(ksk_str), 16) ||
		    !ksk_grow(a, (void **)&pt->h, &c3, id + 1, sizeof(uint64_t), 16)) {
			/* keep the smallest capacity that all three arrays have */
			size_t m = c1 < c2 ? c1 : c2;
			pt->cap = m < c3 ? m : c3;
			return 0;
		}
		pt->cap = c1;
	}
	pt->a[id] = x;
	pt->b[id] = y;
	pt->h[id] = h;
	pt->slot[i] = (uint32_t)id;
	pt->n++;
	return (uint32_t)id;
}

/* ---- phase 1: span IDs and duplicate groups ----------------------------- */

static uint32_t qry_id_find(const qry_b *b, uint64_t key)
{
	size_t i = (size_t)qry_mix64(key) & b->idmask;
	for (;;) {
		uint32_t s = b->idslot[i];
		if (!s)
			return QRY_NONE;
		if (b->idkey[i] == key)
			return s - 1;
		i = (i + 1) & b->idmask;
	}
}

static ksk_err qry_dup_group(qry_b *b, size_t slot, size_t *groups)
{
	qry_node *nd = b->t->nodes;
	uint32_t h = b->idslot[slot] - 1;
	uint32_t cli = QRY_NONE, srv = QRY_NONE, first = QRY_NONE, cnt = 0;
	for (uint32_t j = h; j != QRY_NONE; j = b->dnext[j]) {
		cnt++;
		ksk_span_kind k = b->in[j].span->kind;
		if (k == KSK_KIND_CLIENT && qry_before(b, j, cli))
			cli = j;
		if (k == KSK_KIND_SERVER && qry_before(b, j, srv))
			srv = j;
		if (qry_before(b, j, first))
			first = j;
	}
	char hex[2 * KSK_SPAN_ID_LEN + 1];
	qry_hex(b->in[h].span->span_id, hex);
	uint32_t target;
	if (cli != QRY_NONE && srv != QRY_NONE) {
		target = srv;
		nd[srv].parent = (int32_t)cli;
		nd[srv].flags |= QRY_F_SHARED;
		if (cnt > 2) {
			(*groups)++;
			const char *m = qry_fmt(b,
			    "span ID %s is used by %u spans; only one client/server pair is joined, "
			    "this copy is a duplicate", hex, cnt);
			for (uint32_t j = h; j != QRY_NONE; j = b->dnext[j]) {
				if (j == cli || j == srv)
					continue;
				nd[j].flags |= QRY_F_DUP_ID;
				KSK_TRY(qry_node_warn(b, j, m));
			}
		}
	} else {
		target = first;
		(*groups)++;
		const char *mt = qry_fmt(b,
		    "duplicate span ID %s (%u spans share it); children naming it attach here", hex, cnt);
		const char *mo = qry_fmt(b,
		    "duplicate span ID %s (%u spans share it); children naming it attach to the copy "
		    "that starts first", hex, cnt);
		for (uint32_t j = h; j != QRY_NONE; j = b->dnext[j]) {
			nd[j].flags |= QRY_F_DUP_ID;
			KSK_TRY(qry_node_warn(b, j, j == target ? mt : mo));
		}
	}
	b->idslot[slot] = target + 1;
	return KSK_OK;
}

static ksk_err qry_phase_ids(qry_b *b)
{
	size_t n = b->n, cap = qry_pow2_at_least(2 * n);
	b->idmask = cap - 1;
	b->idslot = ksk_calloc(b->a, cap, sizeof(uint32_t));
	b->idkey = ksk_calloc(b->a, cap, sizeof(uint64_t));
	b->dnext = ksk_calloc(b->a, n, sizeof(uint32_t));
	if (!b->idslot || !b->idkey || !b->dnext)
		return KSK_ENOMEM;
	bool dups = false;
	for (size_t i = 0; i < n; i++) {
		uint64_t key = qry_id64(b->in[i].span->span_id);
		size_t s = (size_t)qry_mix64(key) & b->idmask;
		b->dnext[i] = QRY_NONE;
		for (;;) {
			if (!b->idslot[s]) {
				b->idslot[s] = (uint32_t)i + 1;
				b->idkey[s] = key;
				break;
			}
			if (b->idkey[s] == key) {
				uint32_t h = b->idslot[s] - 1;
				b->dnext[i] = b->dnext[h];
				b->dnext[h] = (uint32_t)i;
				dups = true;
				break;
			}
			s = (s + 1) & b->idmask;
		}
	}
	if (!dups)
		return KSK_OK;
	size_t groups = 0;
	for (size_t s = 0; s <= b->idmask; s++) {
		if (b->idslot[s] && b->dnext[b->idslot[s] - 1] != QRY_NONE)
			KSK_TRY(qry_dup_group(b, s, &groups));
	}
	if (groups)
		KSK_TRY(qry_trace_warn(b, qry_fmt(b,
		    "%zu span IDs are shared by several spans that are not a client/server pair",
		    groups)));
	return KSK_OK;
}

/* ---- phases 2-4: parents, cycles, roots ------------------------------- */

static void qry_phase_parents(qry_b *b)
{
	qry_node *nd = b->t->nodes;
	for (size_t i = 0; i < b->n; i++) {
		const ksk_span *sp = b->in[i].span;
		if (nd[i].flags & QRY_F_SHARED)
			continue;
		if (!sp->has_parent || ksk_id_is_zero(sp->parent_id, KSK_SPAN_ID_LEN))
			continue;
		uint32_t p = qry_id_find(b, qry_id64(sp->parent_id));
		if (p != QRY_NONE && (nd[p].flags & QRY_F_SHARED)) {
			/* a shared ID: a child on the client's side stays there */
			uint32_t cli = (uint32_t)nd[p].parent;
			if (b->dom[i] && b->dom[i] == b->dom[cli] && b->dom[i] != b->dom[p])
				p = cli;
		}
		if (p == QRY_NONE) {
			b->det[i] = QRY_DET_MISSING;
			nd[i].flags |= QRY_F_ORPHAN;
		} else {
			nd[i].parent = (int32_t)p;
		}
	}
}

/* Walks every node up its parent chain once; cuts each cycle found at its
 * earliest member. Returns the number of cycles cut. */
static size_t qry_phase_cycles(qry_b *b)
{
	qry_node *nd = b->t->nodes;
	uint8_t *state = (uint8_t *)b->clist; /* scratch: 0 new, 1 on path, 2 done */
	memset(state, 0, b->n);
	size_t cycles = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (state[i])
			continue;
		size_t top = 0;
		int32_t j = (int32_t)i;
		while (j >= 0 && state[j] == 0) {
			state[j] = 1;
			b->stack[top++] = (uint32_t)j;
			j = nd[j].parent;
		}
		if (j >= 0 && state[j] == 1) {
			/* j is on a cycle: every node from j around back to j */
			uint32_t cut = (uint32_t)j;
			int32_t k = (int32_t)j;
			do {
				nd[k].flags |= QRY_F_CYCLE;
				if (qry_before(b, (uint32_t)k, cut))
					cut = (uint32_t)k;
				k = nd[k].parent;
			} while (k != j);
			nd[cut].parent = -1;
			b->det[cut] = QRY_DET_CYCLE;
			cycles++;
		}
		while (top)
			state[b->stack[--top]] = 2;
	}
	return cycles;
}

static ksk_err qry_phase_roots(qry_b *b, size_t cycles)
{
	qry_node *nd = b->t->nodes;
	uint32_t mroot = QRY_NONE;
	size_t true_roots = 0, detached = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (nd[i].parent < 0 && b->det[i] == QRY_DET_NONE) {
			true_roots++;
			if (qry_before(b, (uint32_t)i, mroot))
				mroot = (uint32_t)i;
		}
		if (b->det[i])
			detached++;
	}
	b->main_root = mroot;
	char rhex[2 * KSK_SPAN_ID_LEN + 1] = "", phex[2 * KSK_SPAN_ID_LEN + 1];
	if (mroot != QRY_NONE)
		qry_hex(b->in[mroot].span->span_id, rhex);
	for (size_t i = 0; i < b->n && detached; i++) {
		if (!b->det[i])
			continue;
		qry_hex(b->in[i].span->parent_id, phex);
		const char *m;
		if (mroot != QRY_NONE) {
			nd[i].parent = (int32_t)mroot;
			if (b->det[i] == QRY_DET_MISSING)
				m = qry_fmt(b, "parent %s missing; attached under root %s", phex, rhex);
			else
				m = qry_fmt(b, "parent %s is its own descendant (a parent cycle): cut here; "
				            "attached under root %s", phex, rhex);
		} else {
			if (b->det[i] == QRY_DET_MISSING)
				m = qry_fmt(b, "parent %s missing; shown as a root (the trace has no root span)",
				            phex);
			else
				m = qry_fmt(b, "parent %s is its own descendant (a parent cycle): cut here; "
				            "shown as a root (the trace has no root span)", phex);
		}
		KSK_TRY(qry_node_warn(b, (uint32_t)i, m));
	}
	if (true_roots == 0 && b->n)
		KSK_TRY(qry_trace_warn(b, qry_fmt(b,
		    "trace has no root span: %zu spans whose parent is missing or cyclic are shown as roots",
		    detached)));
	else if (true_roots > 1)
		KSK_TRY(qry_trace_warn(b, qry_fmt(b, "trace has %zu root spans", true_roots)));
	size_t missing = 0;
	for (size_t i = 0; i < b->n; i++)
		missing += b->det[i] == QRY_DET_MISSING;
	if (missing && mroot != QRY_NONE)
		KSK_TRY(qry_trace_warn(b, qry_fmt(b,
		    "%zu spans have a parent that is not in the trace; attached under root %s",
		    missing, rhex)));
	if (cycles)
		KSK_TRY(qry_trace_warn(b, qry_fmt(b, "%zu parent cycles cut", cycles)));
	return KSK_OK;
}

/* ---- phases 5-6: clock domains, async edges ---------------------------- */

static ksk_err qry_phase_domains(qry_b *b)
{
	KSK_TRY(qry_pairtab_init(&b->doms, b->a, b->n));
	ksk_str none = {"", 0}, lastx = {NULL, 0}, lasty = {NULL, 0};
	uint32_t last = QRY_NONE;
	for (size_t i = 0; i < b->n; i++) {
		ksk_str x = b->in[i].host, y = none;
		if (!x.len) {
			x = none;
			y = b->in[i].service;
		}
		if (!x.len && !y.len) {
			b->dom[i] = 0;
			continue;
		}
		/* fast path: the same strings as the previous span */
		if (last != QRY_NONE && x.ptr == lastx.ptr && x.len == lastx.len &&
		    y.ptr == lasty.ptr && y.len == lasty.len) {
			b->dom[i] = last;
			continue;
		}
		uint32_t id = qry_pairtab_get(&b->doms, b->a, x, y);
		if (!id)
			return KSK_ENOMEM;
		b->dom[i] = last = id;
		lastx = x;
		lasty = y;
	}
	return KSK_OK;
}

static bool qry_follows_from(const ksk_span *sp)
{
	for (uint32_t l = 0; l < sp->n_links; l++) {
		const ksk_link *lk = &sp->links[l];
		if (memcmp(lk->span_id, sp->parent_id, KSK_SPAN_ID_LEN) == 0 &&
		    memcmp(lk->trace_id, sp->trace_id, KSK_TRACE_ID_LEN) == 0)
			return true;
	}
	return false;
}

static void qry_phase_async(qry_b *b)
{
	qry_node *nd = b->t->nodes;
	for (size_t i = 0; i < b->n; i++) {
		int32_t p = nd[i].parent;
		if (p < 0 || b->det[i])
			continue;
		const ksk_span *c = b->in[i].span, *ps = b->in[p].span;
		bool async = ps->kind == KSK_KIND_PRODUCER || c->kind == KSK_KIND_CONSUMER ||
		             (c->n_links && qry_follows_from(c));
		if (!async && nd[i].start_ns >= nd[p].end_ns && nd[p].end_ns > nd[p].start_ns) {
			bool same = b->dom[i] == b->dom[p] || b->dom[i] == 0 || b->dom[p] == 0;
			bool call = ps->kind == KSK_KIND_CLIENT || c->kind == KSK_KIND_SERVER;
			async = same || !call;
		}
		if (async)
			nd[i].flags |= QRY_F_ASYNC;
	}
}

/* ---- phase 7: clock skew ---------------------------------------------- */

static const char *qry_dom_name(qry_b *b, uint32_t d)
{
	if (d == 0)
		return "";
	ksk_str x = b->doms.a[d], y = b->doms.b[d];
	if (x.len)
		return qry_fmt(b, "host %.*s", (int)x.len, x.ptr);
	return qry_fmt(b, "service %.*s", (int)y.len, y.ptr);
}

/* Collects the samples, sorted by (pair, theta). Returns the count; *keys
 * gets the pair key of each sample. */
static ksk_err qry_collect_samples(qry_b *b, qry_sample **out, qry_kv **keys, size_t *ns)
{
	qry_node *nd = b->t->nodes;
	size_t n = b->n, m = 0;
	qry_sample *raw = ksk_calloc(b->a, n ? n : 1, sizeof(*raw));
	qry_sample *smp = ksk_calloc(b->a, n ? n : 1, sizeof(*smp));
	qry_kv *kv = ksk_calloc(b->a, n ? n : 1, sizeof(*kv));
	uint64_t *pk = ksk_calloc(b->a, n ? n : 1, sizeof(*pk));
	if (!raw || !smp || !kv || !pk) {
		ksk_free(b->a, raw);
		ksk_free(b->a, smp);
		ksk_free(b->a, kv);
		ksk_free(b->a, pk);
		return KSK_ENOMEM;
	}
	const int64_t lim = INT64_C(1) << 61;
	for (size_t i = 0; i < n; i++) {
		int32_t p = nd[i].parent;
		if (p < 0 || b->det[i] || (nd[i].flags & QRY_F_ASYNC))
			continue;
		uint32_t dp = b->dom[p], dc = b->dom[i];
		if (!dp || !dc || dp == dc)
			continue;
		uint64_t durp = nd[p].end_ns - nd[p].start_ns, durc = nd[i].end_ns - nd[i].start_ns;
		if (durc > durp)
			continue;
		int64_t ds = (int64_t)(nd[i].start_ns - nd[p].start_ns);
		int64_t de = (int64_t)(nd[i].end_ns - nd[p].end_ns);
		if (ds > lim || ds < -lim || de > lim || de < -lim)
			continue;
		qry_sample s = {(ds + de) / 2, de, ds};
		if (dp < dc) {
			pk[m] = (uint64_t)dp << 32 | dc;
		} else {
			pk[m] = (uint64_t)dc << 32 | dp;
			s.theta = -s.theta;
			s.lo = -ds;
			s.hi = -de;
		}
		raw[m] = s;
		kv[m].k = qry_skey(s.theta);
		kv[m].v = (uint32_t)m;
		m++;
	}
	/* by theta, then stably by pair */
	qry_radix(kv, b->kvtmp, m);
	for (size_t j = 0; j < m; j++)
		kv[j].k = pk[kv[j].v];
	qry_radix(kv, b->kvtmp, m);
	for (size_t j = 0; j < m; j++)
		smp[j] = raw[kv[j].v];
	ksk_free(b->a, raw);
	ksk_free(b->a, pk);
	*out = smp;
	*keys = kv;
	*ns = m;
	return KSK_OK;
}

/* Turns sorted samples into one decision per domain pair. */
static ksk_err qry_make_pairs(qry_b *b, const qry_sample *smp, const qry_kv *keys, size_t m,
                              qry_pair *pairs, size_t *np)
{
	size_t k = 0;
	for (size_t j = 0; j < m;) {
		size_t e = j;
		int64_t lo = INT64_MIN, hi = INT64_MAX;
		while (e < m && keys[e].k == keys[j].k) {
			if (smp[e].lo > lo)
				lo = smp[e].lo;
			if (smp[e].hi < hi)
				hi = smp[e].hi;
			e++;
		}
		size_t cnt = e - j;
		int64_t med = smp[j + cnt / 2].theta;
		if (cnt % 2 == 0) {
			int64_t x = smp[j + cnt / 2 - 1].theta;
			med = x / 2 + med / 2 + (x % 2 + med % 2) / 2;
		}
		qry_pair *pr = &pairs[k++];
		pr->a = (uint32_t)(keys[j].k >> 32);
		pr->c = (uint32_t)keys[j].k;
		pr->samples = (uint32_t)cnt;
		pr->contradictory = false;
		if (lo <= 0 && 0 <= hi) {
			pr->theta = 0;
		} else if (lo <= hi) {
			pr->theta = med < lo ? lo : (med > hi ? hi : med);
		} else {
			pr->theta = med;
			pr->contradictory = true;
		}
		j = e;
	}
	*np = k;
	for (size_t j = 0; j < k; j++) {
		if (!pairs[j].contradictory)
			continue;
		char buf[48];
		qry_fmt_dur(buf, sizeof(buf), pairs[j].theta, true);
		const char *na = qry_dom_name(b, pairs[j].a), *nc = qry_dom_name(b, pairs[j].c);
		if (!na || !nc)
			return KSK_ENOMEM;
		KSK_TRY(qry_trace_warn(b, qry_fmt(b,
		    "clock skew: the %u client/server pairs between %s and %s cannot all be nested "
		    "by one offset; their median %s was used", pairs[j].samples, na, nc, buf)));
	}
	return KSK_OK;
}

/* Breadth-first walk of the domain graph; fills the clocks and the
 * per-domain delta and messages. */
static ksk_err qry_walk_domains(qry_b *b, const qry_pair *pairs, size_t np, uint32_t *from,
                                uint32_t *ecount)
{
	qry_trace *t = b->t;
	size_t nd_ = b->doms.n; /* ids 0..nd_-1 */
	uint32_t *off = ksk_calloc(b->a, nd_ + 1, sizeof(uint32_t));
	uint32_t *adj = ksk_calloc(b->a, 2 * np + 1, sizeof(uint32_t));
	uint32_t *queue = ksk_calloc(b->a, nd_ + 1, sizeof(uint32_t));
	bool *seen = ksk_calloc(b->a, nd_ + 1, sizeof(bool));
	qry_kv *kv = ksk_calloc(b->a, np + 1, sizeof(*kv));
	qry_kv *kvt = ksk_calloc(b->a, np + 1, sizeof(*kvt));
	uint32_t *uf = ksk_calloc(b->a, nd_ + 1, sizeof(uint32_t));
	ksk_err rc = KSK_ENOMEM;
	if (!off || !adj || !queue || !seen || !kv || !kvt || !uf)
		goto out;
	/* maximum spanning forest by sample count (Kruskal): the offsets are
	 * composed along the best-supported pairs */
	for (size_t j = 0; j < np; j++) {
		kv[j].k = UINT32_MAX - pairs[j].samples;
		kv[j].v = (uint32_t)j;
	}
	qry_radix(kv, kvt, np);
	for (size_t d = 0; d < nd_; d++)
		uf[d] = (uint32_t)d;
	size_t nuse = 0;
	for (size_t j = 0; j < np; j++) {
		uint32_t x = pairs[kv[j].v].a, y = pairs[kv[j].v].c;
		while (uf[x] != x)
			x = uf[x] = uf[uf[x]];
		while (uf[y] != y)
			y = uf[y] = uf[uf[y]];
		if (x == y)
			continue;
		uf[x] = y;
		kv[nuse++].v = kv[j].v; /* kept edges, best first */
	}
	for (size_t j = 0; j < nuse; j++) {
		off[pairs[kv[j].v].a + 1]++;
		off[pairs[kv[j].v].c + 1]++;
	}
	for (size_t d = 0; d < nd_; d++)
		off[d + 1] += off[d];
	for (size_t j = nuse; j-- > 0;) {
		/* fill from the end of each bucket: off[d+1] counts down */
		adj[--off[pairs[kv[j].v].a + 1]] = kv[j].v;
		adj[--off[pairs[kv[j].v].c + 1]] = kv[j].v;
	}
	np = nuse;
	/* after the fill, off[d+1] is the start of bucket d; bucket d ends at
	 * the start of bucket d+1, i.e. off[d+2], or 2*np for the last */
	qry_clock *ck = t->clocks; /* [d - 1] */
	for (size_t d = 1; d < nd_; d++) {
		ck[d - 1].state = QRY_CLOCK_UNKNOWN;
		from[d] = 0;
		ecount[d] = 0;
	}
	/* seeds: earliest root, other roots, detached spans, then all domains */
	uint32_t first_root = QRY_NONE;
	for (size_t i = 0; i < b->n; i++)
		if (t->nodes[i].parent < 0 && qry_before(b, (uint32_t)i, first_root))
			first_root = (uint32_t)i;
	bool first_seed = true;
	for (size_t pass = 0; pass < 4; pass++) {
		size_t lim = pass == 0 ? (first_root != QRY_NONE) : (pass == 3 ? nd_ : b->n);
		for (size_t s = 0; s < lim; s++) {
			uint32_t d;
			if (pass == 0)
				d = b->dom[first_root];
			else if (pass == 1)
				d = t->nodes[s].parent < 0 ? b->dom[s] : 0;
			else if (pass == 2)
				d = b->det[s] ? b->dom[s] : 0;
			else
				d = (uint32_t)s;
			if (d == 0 || seen[d])
				continue;
			seen[d] = true;
			size_t d_end = d + 1 < nd_ ? off[d + 2] : 2 * np;
			bool has_edges = off[d + 1] < d_end;
			if (!has_edges && !first_seed)
				continue; /* stays QRY_CLOCK_UNKNOWN */
			first_seed = false;
			ck[d - 1].state = QRY_CLOCK_REF;
			ck[d - 1].offset_ns = ck[d - 1].estimate_ns = 0;
			size_t qh = 0, qt = 0;
			queue[qt++] = d;
			while (qh < qt) {
				uint32_t x = queue[qh++];
				size_t xe = x + 1 < nd_ ? off[x + 2] : 2 * np;
				for (size_t e = off[x + 1]; e < xe; e++) {
					const qry_pair *pr = &pairs[adj[e]];
					uint32_t y = pr->a == x ? pr->c : pr->a;
					if (seen[y])
						continue;
					seen[y] = true;
					/* theta = clock(c) - clock(a) */
					int64_t th = pr->a == x ? pr->theta : -pr->theta;
					int64_t base = ck[x - 1].offset_ns;
					int64_t want = base - th;
					ck[y - 1].estimate_ns = want;
					ck[y - 1].samples = pr->samples;
					from[y] = x;
					ecount[y] = pr->samples;
					if (qry_iabs_over(want, b->max_skew)) {
						ck[y - 1].state = QRY_CLOCK_OVER_BOUND;
						ck[y - 1].offset_ns = 0;
					} else {
						ck[y - 1].state = QRY_CLOCK_OK;
						ck[y - 1].offset_ns = want;
					}
					queue[qt++] = y;
				}
			}
		}
	}
	rc = KSK_OK;
out:
	ksk_free(b->a, off);
	ksk_free(b->a, adj);
	ksk_free(b->a, queue);
	ksk_free(b->a, seen);
	ksk_free(b->a, kv);
	ksk_free(b->a, kvt);
	ksk_free(b->a, uf);
	return rc;
}

static uint64_t qry_shift(uint64_t v, int64_t d)
{
	if (d < 0) {
		uint64_t m = (uint64_t)0 - (uint64_t)d;
		return v > m ? v - m : 0;
	}
	uint64_t m = (uint64_t)d;
	return v > UINT64_MAX - m ? UINT64_MAX : v + m;
}

static ksk_err qry_phase_skew(qry_b *b)
{
	qry_trace *t = b->t;
	size_t ndom = b->doms.n - 1; /* real domains */
	t->clocks = ksk_calloc(t->alloc, ndom ? ndom : 1, sizeof(qry_clock));
	if (!t->clocks)
		return KSK_ENOMEM;
	t->n_clocks = ndom;
	for (size_t d = 1; d <= ndom; d++) {
		t->clocks[d - 1].name = qry_dom_name(b, (uint32_t)d);
		if (!t->clocks[d - 1].name)
			return KSK_ENOMEM;
	}
	qry_sample *smp = NULL;
	qry_kv *keys = NULL;
	qry_pair *pairs = NULL;
	uint32_t *from = NULL, *ecount = NULL;
	const char **msg = NULL;
	size_t m = 0, np = 0;
	ksk_err rc = qry_collect_samples(b, &smp, &keys, &m);
	if (rc)
		return rc;
	rc = KSK_ENOMEM;
	pairs = ksk_calloc(b->a, m ? m : 1, sizeof(*pairs));
	from = ksk_calloc(b->a, ndom + 1, sizeof(uint32_t));
	ecount = ksk_calloc(b->a, ndom + 1, sizeof(uint32_t));
	msg = ksk_calloc(b->a, ndom + 1, sizeof(*msg));
	if (!pairs || !from || !ecount || !msg)
		goto out;
	rc = qry_make_pairs(b, smp, keys, m, pairs, &np);
	if (rc)
		goto out;
	rc = qry_walk_domains(b, pairs, np, from, ecount);
	if (rc)
		goto out;
	rc = KSK_ENOMEM;
	char bound[48];
	qry_fmt_dur(bound, sizeof(bound), (int64_t)(b->max_skew > INT64_MAX ? INT64_MAX : b->max_skew),
	            false);
	for (size_t d = 1; d <= ndom; d++) {
		qry_clock *c = &t->clocks[d - 1];
		char buf[48];
		qry_fmt_dur(buf, sizeof(buf), c->estimate_ns, true);
		const char *fn = from[d] ? t->clocks[from[d] - 1].name : "";
		if (c->state == QRY_CLOCK_OK && c->offset_ns != 0) {
			msg[d] = qry_fmt(b, "clock skew adjusted by %s (%s -> %s)", buf, fn, c->name);
			if (!msg[d] || qry_trace_warn(b, qry_fmt(b,
			    "clock skew: %s adjusted by %s relative to %s (%u client/server pairs)",
			    c->name, buf, fn, ecount[d])))
				goto out;
		} else if (c->state == QRY_CLOCK_OVER_BOUND) {
			msg[d] = qry_fmt(b, "clock skew of %s (%s -> %s) exceeds the bound of %s; "
			                 "not adjusted", buf, fn, c->name, bound);
			if (!msg[d] || qry_trace_warn(b, qry_fmt(b,
			    "clock skew: %s is off by %s relative to %s (%u client/server pairs), over "
			    "the bound of %s; not adjusted", c->name, buf, fn, ecount[d], bound)))
				goto out;
		}
	}
	for (size_t i = 0; i < b->n; i++) {
		uint32_t d = b->dom[i];
		if (!d || !msg[d])
			continue;
		qry_node *nd = &t->nodes[i];
		int64_t delta = t->clocks[d - 1].offset_ns;
		if (delta) {
			nd->start_ns = qry_shift(nd->start_ns, delta);
			nd->end_ns = qry_shift(nd->end_ns, delta);
			nd->skew_ns = delta;
			nd->flags |= QRY_F_SKEW;
		}
		if (qry_node_warn(b, (uint32_t)i, msg[d]))
			goto out;
	}
	rc = KSK_OK;
out:
	ksk_free(b->a, smp);
	ksk_free(b->a, keys);
	ksk_free(b->a, pairs);
	ksk_free(b->a, from);
	ksk_free(b->a, ecount);
	ksk_free(b->a, msg);
	return rc;
}

/* Synchronous cross-domain children that lie outside their parent (the
 * spans a skew adjustment is about), counted after the adjustment. */
static ksk_err qry_check_nesting(qry_b *b)
{
	const qry_node *nd = b->t->nodes;
	size_t bad = 0;
	for (size_t i = 0; i < b->n; i++) {
		int32_t p = nd[i].parent;
		if (p < 0 || b->det[i] || (nd[i].flags & QRY_F_ASYNC) || b->dom[i] == b->dom[p] ||
		    !b->dom[i] || !b->dom[p])
			continue;
		if (nd[i].end_ns - nd[i].start_ns > nd[p].end_ns - nd[p].start_ns)
			continue;
		bad += nd[i].start_ns < nd[p].start_ns || nd[i].end_ns > nd[p].end_ns;
	}
	if (!bad)
		return KSK_OK;
	return qry_trace_warn(b, qry_fmt(b,
	    "%zu spans from another host lie outside their parent span%s", bad,
	    b->raw ? " as recorded (raw: no clock-skew adjustment)" : " after clock-skew adjustment"));
}

/* ---- phase 8: order ----------------------------------------------------- */

/* Counting sort of the nodes listed in kv order (only those with keep[v]
 * when keep != NULL) into per-parent buckets; the virtual parent n holds
 * the roots. Bucket p is clist[coff[p] .. coff[p+1]). */
static void qry_buckets(qry_b *b, const qry_kv *kv, size_t m, bool reverse)
{
	size_t n = b->n;
	uint32_t *off = b->coff;
	memset(off, 0, (n + 3) * sizeof(uint32_t));
	for (size_t j = 0; j < m; j++) {
		int32_t p = b->t->nodes[kv[j].v].parent;
		off[(p < 0 ? n : (size_t)p) + 2]++;
	}
	for (size_t p = 2; p < n + 3; p++)
		off[p] += off[p - 1];
	for (size_t j = 0; j < m; j++) {
		uint32_t v = kv[reverse ? m - 1 - j : j].v;
		int32_t p = b->t->nodes[v].parent;
		b->clist[off[(p < 0 ? n : (size_t)p) + 1]++] = v;
	}
}

static ksk_err qry_phase_order(qry_b *b)
{
	qry_trace *t = b->t;
	qry_node *nd = t->nodes;
	size_t n = b->n;
	for (size_t i = 0; i < n; i++) {
		b->sorted[i].k = nd[i].start_ns;
		b->sorted[i].v = (uint32_t)i;
	}
	qry_radix(b->sorted, b->kvtmp, n);
	qry_buckets(b, b->sorted, n, false);
	uint32_t *off = b->coff;
	for (size_t p = 0; p <= n; p++) {
		for (uint32_t e = off[p]; e < off[p + 1]; e++) {
			int32_t next = e + 1 < off[p + 1] ? (int32_t)b->clist[e + 1] : -1;
			nd[b->clist[e]].next_sibling = next;
		}
		if (p < n)
			nd[p].first_child = off[p] < off[p + 1] ? (int32_t)b->clist[off[p]] : -1;
	}
	t->n_roots = off[n + 1] - off[n];
	t->roots = ksk_calloc(t->alloc, t->n_roots ? t->n_roots : 1, sizeof(uint32_t));
	t->order = ksk_calloc(t->alloc, n ? n : 1, sizeof(uint32_t));
	if (!t->roots || !t->order)
		return KSK_ENOMEM;
	memcpy(t->roots, b->clist + off[n], t->n_roots * sizeof(uint32_t));
	/* preorder with an explicit stack: push children in reverse */
	size_t top = 0, k = 0;
	for (size_t r = t->n_roots; r-- > 0;)
		b->stack[top++] = t->roots[r];
	while (top) {
		uint32_t v = b->stack[--top];
		t->order[k++] = v;
		nd[v].depth = nd[v].parent < 0 ? 0 : nd[nd[v].parent].depth + 1;
		for (uint32_t e = off[v + 1]; e-- > off[v];)
			b->stack[top++] = b->clist[e];
	}
	/* k == n: the cycle phase guarantees every node reaches a root */
	t->start_ns = n ? UINT64_MAX : 0;
	t->end_ns = 0;
	for (size_t i = 0; i < n; i++) {
		if (nd[i].start_ns < t->start_ns)
			t->start_ns = nd[i].start_ns;
		if (nd[i].end_ns > t->end_ns)
			t->end_ns = nd[i].end_ns;
	}
	return k == n ? KSK_OK : KSK_ECORRUPT;
}

/* ---- phase 9: self time ------------------------------------------------- */

static void qry_phase_self(qry_b *b)
{
	qry_node *nd = b->t->nodes;
	for (size_t p = 0; p < b->n; p++) {
		uint64_t s0 = nd[p].start_ns, e0 = nd[p].end_ns, cur = s0, covered = 0;
		for (uint32_t e = b->coff[p]; e < b->coff[p + 1]; e++) {
			const qry_node *c = &nd[b->clist[e]];
			uint64_t s = c->start_ns > s0 ? c->start_ns : s0;
			uint64_t x = c->end_ns < e0 ? c->end_ns : e0;
			if (x <= s || x <= cur)
				continue;
			covered += x - (s > cur ? s : cur);
			cur = x;
		}
		nd[p].self_ns = (e0 - s0) - covered;
	}
}

/* ---- phase 10: critical path ------------------------------------------- */

typedef struct qry_frame {
	uint32_t node, pos, end;
	uint64_t cursor;
} qry_frame;

static bool qry_seg(qry_trace *t, uint32_t node, uint64_t s, uint64_t e)
{
	if (e <= s)
		return true;
	if (!ksk_grow(t->alloc, (void **)&t->segs, &t->cap_segs, t->n_segs + 1, sizeof(*t->segs),
	              64))
		return false;
	t->segs[t->n_segs].node = node;
	t->segs[t->n_segs].start_ns = s;
	t->segs[t->n_segs].end_ns = e;
	t->n_segs++;
	return true;
}

static ksk_err qry_phase_critical(qry_b *b)
{
	qry_trace *t = b->t;
	qry_node *nd = t->nodes;
	size_t n = b->n;
	if (n == 0)
		return KSK_OK;
	uint64_t *cs = b->cs, *ce = b->ce;
	bool *ok = (bool *)b->dnext; /* scratch: eligible */
	cs[n] = t->start_ns;
	ce[n] = t->end_ns;
	for (size_t k = 0; k < n; k++) {
		uint32_t i = t->order[k];
		size_t p = nd[i].parent < 0 ? n : (size_t)nd[i].parent;
		bool pok = p == n || ok[p];
		uint64_t s = nd[i].start_ns > cs[p] ? nd[i].start_ns : cs[p];
		uint64_t e = nd[i].end_ns < ce[p] ? nd[i].end_ns : ce[p];
		cs[i] = s;
		ce[i] = e;
		ok[i] = pok && !(nd[i].flags & QRY_F_ASYNC) && s < e;
	}
	/* eligible nodes by clipped end; input in descending start so that,
	 * listed in reverse, ties come out by ascending start */
	qry_kv *kv = b->kvtmp + 0; /* kvtmp is n long; the radix needs another n */
	qry_kv *tmp = ksk_calloc(b->a, n, sizeof(*tmp));
	if (!tmp)
		return KSK_ENOMEM;
	size_t m = 0;
	for (size_t j = n; j-- > 0;) {
		uint32_t i = b->sorted[j].v;
		if (ok[i]) {
			kv[m].k = ce[i];
			kv[m].v = i;
			m++;
		}
	}
	qry_radix(kv, tmp, m);
	ksk_free(b->a, tmp);
	qry_buckets(b, kv, m, true);
	uint32_t *off = b->coff;
	qry_frame *fr = ksk_calloc(b->a, n + 1, sizeof(*fr));
	if (!fr)
		return KSK_ENOMEM;
	size_t top = 0;
	fr[top++] = (qry_frame){(uint32_t)n, off[n], off[n + 1], ce[n]};
	ksk_err rc = KSK_OK;
	while (top) {
		qry_frame *f = &fr[top - 1];
		uint64_t lo = cs[f->node];
		if (f->cursor > lo)
			while (f->pos < f->end && ce[b->clist[f->pos]] > f->cursor)
				f->pos++;
		if (f->cursor <= lo || f->pos == f->end) {
			if (f->node != n && !qry_seg(t, f->node, lo, f->cursor)) {
				rc = KSK_ENOMEM;
				break;
			}
			top--;
			if (top)
				fr[top - 1].cursor = lo;
			continue;
		}
		uint32_t c = b->clist[f->pos++];
		if (f->node != n && !qry_seg(t, f->node, ce[c], f->cursor)) {
			rc = KSK_ENOMEM;
			break;
		}
		nd[c].flags |= QRY_F_CRITICAL;
		fr[top++] = (qry_frame){c, off[c], off[c + 1], ce[c]};
	}
	ksk_free(b->a, fr);
	if (rc)
		return rc;
	/* segments were produced backwards in time */
	for (size_t i = 0, j = t->n_segs; i + 1 < j; i++, j--) {
		qry_crit_seg x = t->segs[i];
		t->segs[i] = t->segs[j - 1];
		t->segs[j - 1] = x;
	}
	size_t nc = 0;
	for (size_t i = 0; i < n; i++)
		nc += (nd[i].flags & QRY_F_CRITICAL) != 0;
	t->crit = ksk_calloc(t->alloc, nc ? nc : 1, sizeof(uint32_t));
	if (!t->crit)
		return KSK_ENOMEM;
	for (size_t k = 0; k < n; k++)
		if (nd[t->order[k]].flags & QRY_F_CRITICAL)
			t->crit[t->n_crit++] = t->order[k];
	return KSK_OK;
}

/* ---- phase 11: statistics ----------------------------------------------- */

static int qry_stat_cmp(const void *x, const void *y)
{
	const qry_stat *a = x, *b = y;
	int c = qry_strcmp(a->service, b->service);
	return c ? c : qry_strcmp(a->operation, b->operation);
}

static ksk_err qry_phase_stats(qry_b *b)
{
	qry_trace *t = b->t;
	qry_pairtab pt = {0};
	ksk_err rc = qry_pairtab_init(&pt, b->a, b->n);
	if (rc)
		return rc;
	rc = KSK_ENOMEM;
	for (size_t i = 0; i < b->n; i++) {
		const ksk_span *sp = b->in[i].span;
		uint32_t id = qry_pairtab_get(&pt, b->a, b->in[i].service, sp->name);
		if (!id)
			goto out;
		if (id > t->n_stats) { /* new: ids are dense from 1 */
			if (!ksk_grow(t->alloc, (void **)&t->stats, &t->cap_stats, id, sizeof(qry_stat), 16))
				goto out;
			memset(&t->stats[id - 1], 0, sizeof(qry_stat));
			t->n_stats = id;
		}
		qry_stat *st = &t->stats[id - 1];
		const qry_node *nd = &t->nodes[i];
		st->count++;
		st->errors += sp->status == KSK_STATUS_ERROR;
		st->total_ns += nd->end_ns - nd->start_ns;
		st->self_ns += nd->self_ns;
	}
	for (size_t s = 0; s < t->n_stats; s++) {
		ksk_str x = pt.a[s + 1], y = pt.b[s + 1];
		char *cx = ksk_arena_memdup(t->arena, x.len ? x.ptr : "", x.len);
		char *cy = ksk_arena_memdup(t->arena, y.len ? y.ptr : "", y.len);
		if (!cx || !cy)
			goto out;
		t->stats[s].service = (ksk_str){cx, x.len};
		t->stats[s].operation = (ksk_str){cy, y.len};
	}
	if (t->n_stats > 1)
		qsort(t->stats, t->n_stats, sizeof(qry_stat), qry_stat_cmp);
	rc = KSK_OK;
out:
	qry_pairtab_free(&pt, b->a);
	return rc;
}

/* ---- build -------------------------------------------------------------- */

void qry_recon_opts_default(qry_recon_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_skew_ns = QRY_DEFAULT_MAX_SKEW_NS;
}

static void qry_b_free(qry_b *b)
{
	const ksk_alloc *a = b->a;
	ksk_free(a, b->idslot);
	ksk_free(a, b->idkey);
	ksk_free(a, b->dnext);
	ksk_free(a, b->det);
	ksk_free(a, b->stack);
	ksk_free(a, b->dom);
	qry_pairtab_free(&b->doms, a);
	ksk_free(a, b->sorted);
	ksk_free(a, b->kvtmp);
	ksk_free(a, b->coff);
	ksk_free(a, b->clist);
	ksk_free(a, b->cs);
	ksk_free(a, b->ce);
}

static ksk_err qry_build(qry_b *b)
{
	const ksk_alloc *a = b->a;
	size_t n = b->n;
	qry_trace *t = ksk_calloc(a, 1, sizeof(*t));
	if (!t)
		return KSK_ENOMEM;
	b->t = t;
	t->alloc = a;
	t->n = n;
	KSK_TRY(ksk_arena_create(a, 0, 0, &t->arena));
	t->nodes = ksk_calloc(a, n ? n : 1, sizeof(qry_node));
	b->det = ksk_calloc(a, n ? n : 1, 1);
	b->stack = ksk_calloc(a, n + 1, sizeof(uint32_t));
	b->dom = ksk_calloc(a, n ? n : 1, sizeof(uint32_t));
	b->sorted = ksk_calloc(a, n ? n : 1, sizeof(qry_kv));
	b->kvtmp = ksk_calloc(a, n ? n : 1, sizeof(qry_kv));
	b->coff = ksk_calloc(a, n + 3, sizeof(uint32_t));
	b->clist = ksk_calloc(a, n ? n : 1, sizeof(uint32_t));
	b->cs = ksk_calloc(a, n + 1, sizeof(uint64_t));
	b->ce = ksk_calloc(a, n + 1, sizeof(uint64_t));
	if (!t->nodes || !b->det || !b->stack || !b->dom || !b->sorted || !b->kvtmp || !b->coff ||
	    !b->clist || !b->cs || !b->ce)
		return KSK_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const ksk_span *sp = b->in[i].span;
		qry_node *nd = &t->nodes[i];
		nd->parent = nd->first_child = nd->next_sibling = -1;
		nd->start_ns = sp->start_ns;
		nd->end_ns = sp->end_ns > sp->start_ns ? sp->end_ns : sp->start_ns;
		if (sp->status == KSK_STATUS_ERROR)
			nd->flags |= QRY_F_ERROR;
	}
	KSK_TRY(qry_phase_domains(b));
	KSK_TRY(qry_phase_ids(b));
	qry_phase_parents(b);
	size_t cycles = qry_phase_cycles(b);
	KSK_TRY(qry_phase_roots(b, cycles));
	qry_phase_async(b);
	if (!b->raw)
		KSK_TRY(qry_phase_skew(b));
	KSK_TRY(qry_check_nesting(b));
	KSK_TRY(qry_phase_order(b));
	qry_phase_self(b);
	KSK_TRY(qry_phase_critical(b));
	return qry_phase_stats(b);
}

ksk_err qry_recon_build(const qry_span_in *in, size_t n, const qry_recon_opts *o,
                        qry_trace **out, ksk_errinfo *ei)
{
	if (!out)
		return ksk_errinfo_set(ei, KSK_EINVAL, "qry_recon_build: no output pointer");
	*out = NULL;
	if (n && !in)
		return ksk_errinfo_set(ei, KSK_EINVAL, "qry_recon_build: %zu spans but no array", n);
	if (n >= (size_t)INT32_MAX)
		return ksk_errinfo_set(ei, KSK_ELIMIT, "qry_recon_build: %zu spans (limit %d)", n,
		                       INT32_MAX - 1);
	for (size_t i = 0; i < n; i++)
		if (!in[i].span)
			return ksk_errinfo_set(ei, KSK_EINVAL, "qry_recon_build: span %zu is NULL", i);
	qry_recon_opts def;
	if (!o) {
		qry_recon_opts_default(&def);
		o = &def;
	}
	qry_b b;
	memset(&b, 0, sizeof(b));
	b.in = in;
	b.n = n;
	b.a = ksk_alloc_or_default(o->alloc);
	b.raw = o->raw;
	b.max_skew = o->max_skew_ns ? o->max_skew_ns : QRY_DEFAULT_MAX_SKEW_NS;
	b.main_root = QRY_NONE;
	ksk_err rc = qry_build(&b);
	qry_b_free(&b);
	if (rc != KSK_OK) {
		qry_trace_destroy(b.t);
		if (rc == KSK_ENOMEM)
			return ksk_errinfo_set(ei, rc, "qry_recon_build: out of memory for %zu spans", n);
		return ksk_errinfo_set(ei, rc, "qry_recon_build: internal error (%s)",
		                       ksk_strerror(rc));
	}
	*out = b.t;
	return KSK_OK;
}

/* ---- accessors ---------------------------------------------------------- */

void qry_trace_destroy(qry_trace *t)
{
	if (!t)
		return;
	const ksk_alloc *a = t->alloc;
	ksk_arena_destroy(t->arena);
	ksk_free(a, t->nodes);
	ksk_free(a, t->order);
	ksk_free(a, t->roots);
	ksk_free(a, t->crit);
	ksk_free(a, t->segs);
	ksk_free(a, t->stats);
	ksk_free(a, t->clocks);
	ksk_free(a, (void *)t->warns);
	ksk_free(a, t);
}

size_t qry_trace_size(const qry_trace *t)
{
	return t->n;
}

const qry_node *qry_trace_nodes(const qry_trace *t)
{
	return t->nodes;
}

const uint32_t *qry_trace_order(const qry_trace *t, size_t *n)
{
	*n = t->n;
	return t->order;
}

const uint32_t *qry_trace_roots(const qry_trace *t, size_t *n)
{
	*n = t->n_roots;
	return t->roots;
}

const uint32_t *qry_trace_critical(const qry_trace *t, size_t *n)
{
	*n = t->n_crit;
	return t->crit;
}

const qry_crit_seg *qry_trace_critical_segments(const qry_trace *t, size_t *n)
{
	*n = t->n_segs;
	return t->segs;
}

const qry_stat *qry_trace_stats(const qry_trace *t, size_t *n)
{
	*n = t->n_stats;
	return t->stats;
}

const qry_clock *qry_trace_clocks(const qry_trace *t, size_t *n)
{
	*n = t->n_clocks;
	return t->clocks;
}

const char *const *qry_trace_warnings(const qry_trace *t, size_t *n)
{
	*n = t->n_warns;
	return t->warns;
}

uint64_t qry_trace_start_ns(const qry_trace *t)
{
	return t->start_ns;
}

uint64_t qry_trace_end_ns(const qry_trace *t)
{
	return t->end_ns;
}
