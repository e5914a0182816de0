/*
 * col_mem.c : the in-memory index of the open segment (col_mem.h).
 *
 * Role: make the write-ahead log queryable without keeping decoded records
 * in memory. Data in: decoded batches plus where their frame sits in the
 * log. Data out: frame lists per trace, summaries, operations, edges, log
 * rows and counts.
 *
 * Layout:
 *   strs/strmap   interned strings (service, host and span names); the
 *                 bytes live in chunks that never move, so a ksk_str
 *                 handed out stays valid until destroy.
 *   traces/tmap   one 36-byte mem_trace per trace ID: the first frame
 *                 index inline, counts, and the index of its mem_tx in
 *                 `xs`, made only for a trace with spans or a second
 *                 frame: the other frame indexes (deduplicated against the
 *                 last one added), span rows, an open-addressing set of
 *                 attribute hashes. tmap slots keep the 32-bit hash (probe
 *                 start and tag), so growing never reads a trace.
 *   frames        (offset, length) of every frame added.
 *   logs          one row per log (time, frame, index in the batch,
 *                 service, host, severity, trace).
 *   ops           set of (service, name, kind) packed into a u64.
 *
 * Invariants: every index stored in a row is < the size of its table;
 * tables only grow; a trace's frame list is in log order.
 * Summaries, edges and counts are computed at query time from the rows,
 * so late parents and late spans are always reflected.
 *
 * Locking: `lk` (rwlock): col_mem_add() holds it for writing while it
 * indexes one batch; readers hold it for reading. The operations, edges
 * and log-count callbacks run under the read lock (they must not call
 * back into this index); the search callback runs without it, so it may
 * fetch from this index (the store verifies candidates that way): trace
 * indexes and pooled strings stay valid while appends go on.
 */
#include "col_mem.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "col_recutil.h"

typedef struct mem_span {
	uint64_t id;        /* span ID, as 8 bytes */
	uint64_t parent;    /* parent span ID (0 = none) */
	uint64_t start;     /* start ns */
	uint64_t dur;       /* end - start */
	uint32_t svc;       /* string index */
	uint32_t name;      /* string index */
	uint8_t kind;       /* ksk_span_kind */
	uint8_t err;        /* status ERROR */
	uint8_t has_parent; /* parent is set */
} mem_span;

/* A trace: 36 bytes, because most trace IDs in the open segment are only
 * ever seen on a log line or two (unsampled traces, one ID per request):
 * the first frame is inline and everything else lives in a mem_tx that
 * only traces with spans or a second frame get. */
typedef struct mem_trace {
	uint8_t tid[16];   /* trace ID */
	uint32_t frame0;   /* first frame index (when n_frames > 0) */
	uint32_t n_frames; /* frame indexes, log order, no adjacent repeats */
	uint32_t n_spans;  /* span rows (in the mem_tx) */
	uint32_t n_logs;   /* logs carrying this trace ID */
	uint32_t x;        /* 1 + index of its mem_tx in m->xs; 0 = none */
} mem_trace;

/* The rest of a trace (see mem_trace). */
typedef struct mem_tx {
	uint32_t *frames;  /* frames after frame0 */
	uint32_t cap_frames;
	uint32_t cap_spans;
	mem_span *spans;   /* span rows */
	uint64_t *ah;      /* attribute hash set (0 = empty slot) */
	uint32_t ah_n, ah_cap;
} mem_tx;

typedef struct mem_log {
	uint64_t time;  /* time_ns or observed_ns */
	uint32_t frame; /* frame index */
	uint32_t index; /* index in its batch's logs */
	uint32_t svc;   /* string index */
	uint32_t host;  /* string index */
	uint32_t trace; /* trace index or UINT32_MAX */
	uint8_t sev;    /* severity number */
} mem_log;

/* Open-addressing map from a stored item to its index: slot v = index+1.
 * The 32-bit hash kept in the slot is both the probe start and the tag
 * checked before the item itself, so growth never looks at the items. */
typedef struct mem_slot {
	uint32_t h; /* the item's 32-bit hash */
	uint32_t v; /* index + 1; 0 = empty */
} mem_slot;

typedef struct mem_map {
	mem_slot *s;
	uint32_t cap; /* power of two, or 0 */
	uint32_t n;
} mem_map;

/* Open-addressing u64 -> u32 map (v = value + 1; 0 = empty). */
typedef struct mem_u64map {
	uint64_t *k;
	uint32_t *v;
	uint32_t cap;
	uint32_t n;
} mem_u64map;

struct col_mem {
	const ksk_alloc *al;     /* resolved allocator */
	pthread_rwlock_t lk;     /* see the design comment */
	char **chunks;           /* string bytes */
	uint32_t n_chunks, cap_chunks;
	size_t chunk_used, chunk_cap; /* of the last chunk */
	ksk_str *strs;           /* interned strings */
	uint32_t n_strs, cap_strs;
	mem_map strmap;
	mem_trace *traces;
	uint32_t n_traces, cap_traces;
	mem_map tmap;
	mem_tx *xs;              /* see mem_trace */
	uint32_t n_xs, cap_xs;
	col_mem_frame *frames;
	uint32_t n_frames, cap_frames;
	mem_log *logs;
	uint32_t n_logs, cap_logs;
	mem_u64map ops;          /* (svc << 36 | name << 4 | kind) -> 0 */
	uint64_t batches, spans; /* counts */
	uint64_t min_ns, max_ns; /* time bounds (min UINT64_MAX when empty) */
	uint64_t bytes;          /* approximate heap bytes */
};

/* ---- maps ----------------------------------------------------------------- */

typedef bool (*mem_eq_fn)(const col_mem *m, uint32_t idx, const void *key);

static uint32_t map_find(const col_mem *m, const mem_map *mp, uint32_t h,
                         mem_eq_fn eq, const void *key)
{
	if (!mp->cap)
		return UINT32_MAX;
	uint32_t mask = mp->cap - 1, i = h & mask;
	while (mp->s[i].v) {
		if (mp->s[i].h == h && eq(m, mp->s[i].v - 1, key))
			return mp->s[i].v - 1;
		i = (i + 1) & mask;
	}
	return UINT32_MAX;
}

/* Room for `n` items at a load of at most 3/4. */
static bool map_reserve(col_mem *m, mem_map *mp, uint64_t n)
{
	if (n * 4 <= (uint64_t)mp->cap * 3)
		return true;
	uint64_t nc = mp->cap ? mp->cap : 64;
	while (n * 4 > nc * 3)
		nc *= 2;
	if (nc > (1ull << 31))
		return false;
	mem_slot *ns = ksk_calloc(m->al, (size_t)nc, sizeof(mem_slot));
	if (!ns)
		return false;
	uint32_t mask = (uint32_t)nc - 1;
	for (uint32_t j = 0; j < mp->cap; j++) {
		if (!mp->s[j].v)
			continue;
		uint32_t k = mp->s[j].h & mask;
		while (ns[k].v)
			k = (k + 1) & mask;
		ns[k] = mp->s[j];
	}
	ksk_free(m->al, mp->s);
	m->bytes += (nc - mp->cap) * sizeof(mem_slot);
	mp->s = ns;
	mp->cap = (uint32_t)nc;
	return true;
}

/* The caller found no item with this key. */
static bool map_insert(col_mem *m, mem_map *mp, uint32_t h, uint32_t idx)
{
	if (!map_reserve(m, mp, (uint64_t)mp->n + 1))
		return false;
	uint32_t mask = mp->cap - 1, i = h & mask;
	while (mp->s[i].v)
		i = (i + 1) & mask;
	mp->s[i].h = h;
	mp->s[i].v = idx + 1;
	mp->n++;
	return true;
}

static uint64_t u64_hash(uint64_t k)
{
	return col_ru_mix(k + 0x9e3779b97f4a7c15ull);
}

static uint32_t u64map_get(const mem_u64map *mp, uint64_t k)
{
	if (!mp->cap)
		return UINT32_MAX;
	uint32_t mask = mp->cap - 1, i = (uint32_t)u64_hash(k) & mask;
	while (mp->v[i]) {
		if (mp->k[i] == k)
			return mp->v[i] - 1;
		i = (i + 1) & mask;
	}
	return UINT32_MAX;
}

static bool u64map_put(const ksk_alloc *al, mem_u64map *mp, uint64_t k, uint32_t val)
{
	if ((uint64_t)(mp->n + 1) * 4 > (uint64_t)mp->cap * 3) {
		uint32_t nc = mp->cap ? mp->cap * 2 : 64;
		uint64_t *nk = ksk_calloc(al, nc, sizeof(uint64_t));
		uint32_t *nv = ksk_calloc(al, nc, sizeof(uint32_t));
		if (!nk || !nv) {
			ksk_free(al, nk);
			ksk_free(al, nv);
			return false;
		}
		for (uint32_t j = 0; j < mp->cap; j++) {
			if (!mp->v[j])
				continue;
			uint32_t i = (uint32_t)u64_hash(mp->k[j]) & (nc - 1);
			while (nv[i])
				i = (i + 1) & (nc - 1);
			nk[i] = mp->k[j];
			nv[i] = mp->v[j];
		}
		ksk_free(al, mp->k);
		ksk_free(al, mp->v);
		mp->k = nk;
		mp->v = nv;
		mp->cap = nc;
	}
	uint32_t mask = mp->cap - 1, i = (uint32_t)u64_hash(k) & mask;
	while (mp->v[i]) {
		if (mp->k[i] == k) {
			mp->v[i] = val + 1;
			return true;
		}
		i = (i + 1) & mask;
	}
	mp->k[i] = k;
	mp->v[i] = val + 1;
	mp->n++;
	return true;
}

static void u64map_free(const ksk_alloc *al, mem_u64map *mp)
{
	ksk_free(al, mp->k);
	ksk_free(al, mp->v);
	memset(mp, 0, sizeof(*mp));
}

/* ---- strings -------------------------------------------------------------- */

static uint32_t str_hash(ksk_str s)
{
	return (uint32_t)col_ru_hash(s.ptr ? s.ptr : "", s.len, 0x737472);
}

static bool str_eq(const col_mem *m, uint32_t idx, const void *key)
{
	return ksk_str_eq(m->strs[idx], *(const ksk_str *)key);
}

static uint32_t str_lookup(const col_mem *m, ksk_str s)
{
	return map_find(m, &m->strmap, str_hash(s), str_eq, &s);
}

static uint32_t str_intern(col_mem *m, ksk_str s)
{
	uint32_t h = str_hash(s);
	uint32_t idx = map_find(m, &m->strmap, h, str_eq, &s);
	if (idx != UINT32_MAX)
		return idx;
	if (m->n_chunks == 0 || m->chunk_cap - m->chunk_used < (size_t)s.len + 1) {
		size_t sz = s.len + 1 > 65536 ? (size_t)s.len + 1 : 65536;
		if (!col_ru_grow(m->al, (void **)&m->chunks, &m->cap_chunks,
		                 m->n_chunks + 1, sizeof(char *)))
			return UINT32_MAX;
		char *c = ksk_malloc(m->al, sz);
		if (!c)
			return UINT32_MAX;
		m->chunks[m->n_chunks++] = c;
		m->chunk_used = 0;
		m->chunk_cap = sz;
		m->bytes += sz;
	}
	if (!col_ru_grow(m->al, (void **)&m->strs, &m->cap_strs, m->n_strs + 1,
	                 sizeof(ksk_str)))
		return UINT32_MAX;
	char *p = m->chunks[m->n_chunks - 1] + m->chunk_used;
	if (s.len)
		memcpy(p, s.ptr, s.len);
	p[s.len] = '\0';
	m->chunk_used += (size_t)s.len + 1;
	idx = m->n_strs;
	m->strs[idx].ptr = p;
	m->strs[idx].len = s.len;
	if (!map_insert(m, &m->strmap, h, idx))
		return UINT32_MAX;
	m->n_strs++;
	return idx;
}

/* ---- traces --------------------------------------------------------------- */

/* Trace IDs are random 128-bit values in practice, but they come from
 * clients, so both halves go through the mixer. */
static uint32_t tid_hash(const uint8_t *tid)
{
	uint64_t a, b;
	memcpy(&a, tid, 8);
	memcpy(&b, tid + 8, 8);
	return (uint32_t)col_ru_mix(a ^ col_ru_mix(b ^ 0x747261));
}

static bool tid_eq(const col_mem *m, uint32_t idx, const void *key)
{
	return memcmp(m->traces[idx].tid, key, 16) == 0;
}

static uint32_t trace_lookup(const col_mem *m, const uint8_t *tid)
{
	return map_find(m, &m->tmap, tid_hash(tid), tid_eq, tid);
}

/* The trace `tid` (hash `h`), added if new. */
static uint32_t trace_get(col_mem *m, const uint8_t *tid, uint32_t h)
{
	uint32_t idx = map_find(m, &m->tmap, h, tid_eq, tid);
	if (idx != UINT32_MAX)
		return idx;
	if (!col_ru_grow(m->al, (void **)&m->traces, &m->cap_traces,
	                 m->n_traces + 1, sizeof(mem_trace)))
		return UINT32_MAX;
	idx = m->n_traces;
	mem_trace *t = &m->traces[idx];
	memcpy(t->tid, tid, 16);
	t->frame0 = 0;
	t->n_frames = t->n_spans = t->n_logs = t->x = 0;
	if (!map_insert(m, &m->tmap, h, idx))
		return UINT32_MAX;
	m->n_traces++;
	m->bytes += sizeof(mem_trace);
	return idx;
}

/* The mem_tx of `t`, or NULL if it has none. */
static mem_tx *tx_of(const col_mem *m, const mem_trace *t)
{
	return t->x ? &m->xs[t->x - 1] : NULL;
}

/* The mem_tx of `t`, made if missing (NULL only when out of memory). */
static mem_tx *tx_get(col_mem *m, mem_trace *t)
{
	if (t->x)
		return &m->xs[t->x - 1];
	if (!col_ru_grow(m->al, (void **)&m->xs, &m->cap_xs, m->n_xs + 1, sizeof(mem_tx)))
		return NULL;
	mem_tx *x = &m->xs[m->n_xs++];
	memset(x, 0, sizeof(*x));
	t->x = m->n_xs;
	m->bytes += sizeof(mem_tx);
	return x;
}

/* The span rows of `t` (NULL when it has none). */
static const mem_span *t_spans(const col_mem *m, const mem_trace *t)
{
	const mem_tx *x = tx_of(m, t);
	return x ? x->spans : NULL;
}

/* Frame number `i` of `t` (< n_frames). */
static uint32_t t_frame(const col_mem *m, const mem_trace *t, uint32_t i)
{
	return i == 0 ? t->frame0 : m->xs[t->x - 1].frames[i - 1];
}

static bool trace_add_frame(col_mem *m, mem_trace *t, uint32_t f)
{
	if (t->n_frames == 0) {
		t->frame0 = f;
		t->n_frames = 1;
		return true;
	}
	if (t_frame(m, t, t->n_frames - 1) == f)
		return true;
	mem_tx *x = tx_get(m, t);
	if (!x || !col_ru_grow(m->al, (void **)&x->frames, &x->cap_frames,
	                       t->n_frames, sizeof(uint32_t)))
		return false;
	x->frames[t->n_frames - 1] = f;
	t->n_frames++;
	m->bytes += sizeof(uint32_t);
	return true;
}

static bool ah_has(const mem_tx *t, uint64_t h)
{
	if (!t || !t->ah_cap)
		return false;
	uint32_t mask = t->ah_cap - 1, i = (uint32_t)h & mask;
	while (t->ah[i]) {
		if (t->ah[i] == h)
			return true;
		i = (i + 1) & mask;
	}
	return false;
}

static bool ah_add(col_mem *m, mem_tx *t, uint64_t h)
{
	if (!h)
		return true;
	if ((t->ah_n + 1) * 4 > t->ah_cap * 3) {
		uint32_t nc = t->ah_cap ? t->ah_cap * 2 : 16;
		uint64_t *n = ksk_calloc(m->al, nc, sizeof(uint64_t));
		if (!n)
			return false;
		for (uint32_t j = 0; j < t->ah_cap; j++) {
			if (!t->ah[j])
				continue;
			uint32_t i = (uint32_t)t->ah[j] & (nc - 1);
			while (n[i])
				i = (i + 1) & (nc - 1);
			n[i] = t->ah[j];
		}
		ksk_free(m->al, t->ah);
		m->bytes += (uint64_t)(nc - t->ah_cap) * sizeof(uint64_t);
		t->ah = n;
		t->ah_cap = nc;
	}
	uint32_t mask = t->ah_cap - 1, i = (uint32_t)h & mask;
	while (t->ah[i]) {
		if (t->ah[i] == h)
			return true;
		i = (i + 1) & mask;
	}
	t->ah[i] = h;
	t->ah_n++;
	return true;
}

/* ---- lifecycle ------------------------------------------------------------ */

ksk_err col_mem_create(const ksk_alloc *alloc, col_mem **out)
{
	const ksk_alloc *al = ksk_alloc_or_default(alloc);
	col_mem *m = ksk_calloc(al, 1, sizeof(*m));
	if (!m)
		return KSK_ENOMEM;
	m->al = al;
	m->min_ns = UINT64_MAX;
	if (pthread_rwlock_init(&m->lk, NULL) != 0) {
		ksk_free(al, m);
		return KSK_ENOMEM;
	}
	*out = m;
	return KSK_OK;
}

void col_mem_destroy(col_mem *m)
{
	if (!m)
		return;
	const ksk_alloc *al = m->al;
	for (uint32_t i = 0; i < m->n_xs; i++) {
		ksk_free(al, m->xs[i].frames);
		ksk_free(al, m->xs[i].spans);
		ksk_free(al, m->xs[i].ah);
	}
	ksk_free(al, m->xs);
	for (uint32_t i = 0; i < m->n_chunks; i++)
		ksk_free(al, m->chunks[i]);
	ksk_free(al, m->chunks);
	ksk_free(al, m->strs);
	ksk_free(al, m->strmap.s);
	ksk_free(al, m->traces);
	ksk_free(al, m->tmap.s);
	ksk_free(al, m->frames);
	ksk_free(al, m->logs);
	u64map_free(al, &m->ops);
	pthread_rwlock_destroy(&m->lk);
	ksk_free(al, m);
}

/* how many logs ahead mem_add_locked prefetches a trace slot */
#define MEM_PREFETCH 8

static uint64_t id8(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static ksk_err mem_add_locked(col_mem *m, const ksk_batch *b, uint64_t off,
                              uint32_t len)
{
	const ksk_alloc *al = m->al;
	if (!col_ru_grow(al, (void **)&m->frames, &m->cap_frames, m->n_frames + 1,
	                 sizeof(col_mem_frame)))
		return KSK_ENOMEM;
	uint32_t fidx = m->n_frames++;
	m->frames[fidx].off = off;
	m->frames[fidx].len = len;
	m->bytes += sizeof(col_mem_frame);

	/* per resource: service, host, attribute hashes */
	uint32_t nr = b->n_resources;
	uint32_t *rsvc = NULL, *rhost = NULL, *rh_start = NULL;
	uint64_t *rh = NULL;
	uint32_t *lh = NULL; /* trace ID hash per log */
	uint32_t n_rh = 0;
	ksk_err rc = KSK_ENOMEM;
	if (nr) {
		rsvc = ksk_calloc(al, nr, sizeof(uint32_t));
		rhost = ksk_calloc(al, nr, sizeof(uint32_t));
		rh_start = ksk_calloc(al, (size_t)nr + 1, sizeof(uint32_t));
		uint64_t tot = 0;
		for (uint32_t i = 0; i < nr; i++)
			tot += b->resources[i].n_attrs;
		rh = ksk_calloc(al, tot ? tot : 1, sizeof(uint64_t));
		if (!rsvc || !rhost || !rh_start || !rh)
			goto out;
		for (uint32_t i = 0; i < nr; i++) {
			const ksk_resource *r = &b->resources[i];
			rsvc[i] = str_intern(m, r->service);
			rhost[i] = str_intern(m, r->host);
			if (rsvc[i] == UINT32_MAX || rhost[i] == UINT32_MAX)
				goto out;
			rh_start[i] = n_rh;
			for (uint32_t j = 0; j < r->n_attrs; j++)
				rh[n_rh++] = col_ru_attr_hash(r->attrs[j].key, &r->attrs[j].value);
		}
		rh_start[nr] = n_rh;
	}

	for (uint32_t i = 0; i < b->n_spans; i++) {
		const ksk_span *sp = &b->spans[i];
		if (sp->resource >= nr)
			continue; /* the decoder guarantees this never happens */
		uint32_t ti = trace_get(m, sp->trace_id, tid_hash(sp->trace_id));
		uint32_t name = str_intern(m, sp->name);
		if (ti == UINT32_MAX || name == UINT32_MAX)
			goto out;
		mem_trace *t = &m->traces[ti];
		if (!trace_add_frame(m, t, fidx))
			goto out;
		mem_tx *x = tx_get(m, t);
		if (!x || !col_ru_grow(al, (void **)&x->spans, &x->cap_spans, t->n_spans + 1,
		                       sizeof(mem_span)))
			goto out;
		mem_span *row = &x->spans[t->n_spans++];
		m->bytes += sizeof(mem_span);
		row->id = id8(sp->span_id);
		row->parent = sp->has_parent ? id8(sp->parent_id) : 0;
		row->has_parent = sp->has_parent;
		row->start = sp->start_ns;
		row->dur = sp->end_ns - sp->start_ns;
		row->svc = rsvc[sp->resource];
		row->name = name;
		row->kind = (uint8_t)sp->kind;
		row->err = sp->status == KSK_STATUS_ERROR;
		for (uint32_t j = 0; j < sp->n_attrs; j++)
			if (!ah_add(m, x, col_ru_attr_hash(sp->attrs[j].key, &sp->attrs[j].value)))
				goto out;
		for (uint32_t j = rh_start[sp->resource]; j < rh_start[sp->resource + 1]; j++)
			if (!ah_add(m, x, rh[j]))
				goto out;
		uint64_t opk = (uint64_t)row->svc << 36 | (uint64_t)name << 4 | (row->kind & 15u);
		if (u64map_get(&m->ops, opk) == UINT32_MAX && !u64map_put(al, &m->ops, opk, 0))
			goto out;
		if (sp->start_ns < m->min_ns)
			m->min_ns = sp->start_ns;
		if (sp->end_ns > m->max_ns)
			m->max_ns = sp->end_ns;
		m->spans++;
	}

	/* Logs: one trace lookup each, and with one trace ID per request most
	 * are new, so each is a cache miss in a large table. The hashes are
	 * computed first and the table sized for the whole batch, so the slot
	 * of the log MEM_PREFETCH ahead can be prefetched. */
	if (b->n_logs) {
		lh = ksk_malloc(al, (size_t)b->n_logs * sizeof(uint32_t));
		if (!lh || !col_ru_grow(al, (void **)&m->logs, &m->cap_logs,
		                        m->n_logs + b->n_logs, sizeof(mem_log)))
			goto out;
		uint32_t with_trace = 0;
		for (uint32_t i = 0; i < b->n_logs; i++) {
			lh[i] = b->logs[i].has_trace ? tid_hash(b->logs[i].trace_id) : 0;
			with_trace += b->logs[i].has_trace;
		}
		if (!map_reserve(m, &m->tmap, (uint64_t)m->tmap.n + with_trace))
			goto out;
	}
	for (uint32_t i = 0; i < b->n_logs; i++) {
		const ksk_log *lg = &b->logs[i];
		if (i + MEM_PREFETCH < b->n_logs && b->logs[i + MEM_PREFETCH].has_trace)
			__builtin_prefetch(&m->tmap.s[lh[i + MEM_PREFETCH] & (m->tmap.cap - 1)]);
		if (lg->resource >= nr)
			continue;
		uint32_t ti = UINT32_MAX;
		if (lg->has_trace) {
			ti = trace_get(m, lg->trace_id, lh[i]);
			if (ti == UINT32_MAX || !trace_add_frame(m, &m->traces[ti], fidx))
				goto out;
			m->traces[ti].n_logs++;
		}
		mem_log *row = &m->logs[m->n_logs++];
		m->bytes += sizeof(mem_log);
		row->time = lg->time_ns ? lg->time_ns : lg->observed_ns;
		row->frame = fidx;
		row->index = i;
		row->svc = rsvc[lg->resource];
		row->host = rhost[lg->resource];
		row->trace = ti;
		row->sev = lg->severity;
		if (row->time < m->min_ns)
			m->min_ns = row->time;
		if (row->time > m->max_ns)
			m->max_ns = row->time;
	}
	m->batches++;
	rc = KSK_OK;
out:
	ksk_free(al, rsvc);
	ksk_free(al, rhost);
	ksk_free(al, rh_start);
	ksk_free(al, rh);
	ksk_free(al, lh);
	return rc;
}

ksk_err col_mem_add(col_mem *m, const ksk_frame_hdr *hdr, const ksk_batch *b,
                    uint64_t off, uint32_t len)
{
	(void)hdr;
	pthread_rwlock_wrlock(&m->lk);
	ksk_err rc = mem_add_locked(m, b, off, len);
	pthread_rwlock_unlock(&m->lk);
	return rc;
}

void col_mem_info_get(col_mem *m, col_mem_info *out)
{
	pthread_rwlock_rdlock(&m->lk);
	out->batches = m->batches;
	out->spans = m->spans;
	out->logs = m->n_logs;
	out->traces = m->n_traces;
	out->min_ns = m->min_ns == UINT64_MAX ? 0 : m->min_ns;
	out->max_ns = m->max_ns;
	out->bytes = m->bytes;
	pthread_rwlock_unlock(&m->lk);
}

bool col_mem_has_trace(col_mem *m, const uint8_t trace_id[16])
{
	pthread_rwlock_rdlock(&m->lk);
	bool r = trace_lookup(m, trace_id) != UINT32_MAX;
	pthread_rwlock_unlock(&m->lk);
	return r;
}

ksk_err col_mem_trace_frames(col_mem *m, const uint8_t trace_id[16],
                             const ksk_alloc *alloc, col_mem_frame **out,
                             uint32_t *n)
{
	const ksk_alloc *al = ksk_alloc_or_default(alloc);
	*out = NULL;
	*n = 0;
	ksk_err rc = KSK_OK;
	pthread_rwlock_rdlock(&m->lk);
	uint32_t ti = trace_lookup(m, trace_id);
	if (ti != UINT32_MAX && m->traces[ti].n_frames) {
		const mem_trace *t = &m->traces[ti];
		col_mem_frame *f = ksk_calloc(al, t->n_frames, sizeof(col_mem_frame));
		if (!f) {
			rc = KSK_ENOMEM;
		} else {
			for (uint32_t i = 0; i < t->n_frames; i++)
				f[i] = m->frames[t_frame(m, t, i)];
			*out = f;
			*n = t->n_frames;
		}
	}
	pthread_rwlock_unlock(&m->lk);
	return rc;
}

/* ---- search --------------------------------------------------------------- */

typedef struct mem_cand {
	uint64_t start;
	uint32_t trace;
} mem_cand;

static int cand_cmp(const void *a, const void *b)
{
	const mem_cand *x = a, *y = b;
	if (x->start != y->start)
		return x->start > y->start ? -1 : 1;
	return x->trace < y->trace ? -1 : x->trace > y->trace;
}

typedef struct mem_tsum {
	uint64_t start, end;
	uint32_t errors;
	uint32_t root; /* span row index */
} mem_tsum;

static void trace_sum(const col_mem *m, const mem_trace *t, mem_tsum *s)
{
	const mem_span *spans = t_spans(m, t);
	s->start = UINT64_MAX;
	s->end = 0;
	s->errors = 0;
	s->root = 0;
	bool root_is_root = false;
	for (uint32_t i = 0; i < t->n_spans; i++) {
		const mem_span *r = &spans[i];
		if (r->start < s->start)
			s->start = r->start;
		if (r->start + r->dur > s->end)
			s->end = r->start + r->dur;
		s->errors += r->err;
		bool is_root = !r->has_parent;
		const mem_span *cur = &spans[s->root];
		if (i == 0 || (is_root && !root_is_root) ||
		    (is_root == root_is_root && r->start < cur->start)) {
			s->root = i;
			root_is_root = is_root;
		}
	}
}

static bool sum_passes(const col_search *q, const mem_tsum *s, uint32_t n_spans)
{
	uint64_t d = s->end - s->start;
	if (q->start_ns && s->start < q->start_ns)
		return false;
	if (q->end_ns && s->start > q->end_ns)
		return false;
	if (q->min_duration_ns && d < q->min_duration_ns)
		return false;
	if (q->max_duration_ns && d > q->max_duration_ns)
		return false;
	if (q->min_spans && n_spans < q->min_spans)
		return false;
	if (q->max_spans && n_spans > q->max_spans)
		return false;
	if (q->errors_only && s->errors == 0)
		return false;
	return true;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

ksk_err col_mem_search(col_mem *m, const col_search *q, ksk_arena *a,
                       col_summary_cb cb, void *ctx)
{
	ksk_err rc = KSK_OK;
	mem_cand *c = NULL;
	uint32_t *svcs = NULL;
	pthread_rwlock_rdlock(&m->lk);
	uint32_t want_svc = UINT32_MAX, want_op = UINT32_MAX;
	bool none = false;
	if (q->service.len && (want_svc = str_lookup(m, q->service)) == UINT32_MAX)
		none = true;
	if (q->operation.len && (want_op = str_lookup(m, q->operation)) == UINT32_MAX)
		none = true;
	uint64_t fh[COL_MAX_ATTR_FILTERS];
	uint32_t nf = q->n_attrs < COL_MAX_ATTR_FILTERS ? q->n_attrs : COL_MAX_ATTR_FILTERS;
	for (uint32_t i = 0; i < nf; i++)
		fh[i] = col_ru_filter_hash(&q->attrs[i]);
	bool span_cond = want_svc != UINT32_MAX || want_op != UINT32_MAX || q->span_kind >= 0;
	uint32_t nc = 0;
	if (none || m->n_traces == 0)
		goto done;
	c = ksk_calloc(m->al, m->n_traces, sizeof(mem_cand));
	if (!c) {
		rc = KSK_ENOMEM;
		goto done;
	}
	for (uint32_t ti = 0; ti < m->n_traces; ti++) {
		const mem_trace *t = &m->traces[ti];
		if (!t->n_spans)
			continue;
		mem_tsum s;
		trace_sum(m, t, &s);
		if (!sum_passes(q, &s, t->n_spans))
			continue;
		if (span_cond) {
			bool hit = false;
			for (uint32_t i = 0; i < t->n_spans && !hit; i++) {
				const mem_span *r = &t_spans(m, t)[i];
				hit = (want_svc == UINT32_MAX || r->svc == want_svc) &&
				      (want_op == UINT32_MAX || r->name == want_op) &&
				      (q->span_kind < 0 || r->kind == q->span_kind);
			}
			if (!hit)
				continue;
		}
		bool ok = true;
		for (uint32_t i = 0; i < nf && ok; i++)
			ok = ah_has(tx_of(m, t), fh[i]);
		if (!ok)
			continue;
		c[nc].start = s.start;
		c[nc].trace = ti;
		nc++;
	}
	qsort(c, nc, sizeof(mem_cand), cand_cmp);
	/* the callback runs without the lock (it may fetch from this index);
	 * trace indexes and pooled strings stay valid while appends go on */
	pthread_rwlock_unlock(&m->lk);
	for (uint32_t k = 0; k < nc; k++) {
		col_summary sum;
		memset(&sum, 0, sizeof(sum));
		pthread_rwlock_rdlock(&m->lk);
		const mem_trace *t = &m->traces[c[k].trace];
		mem_tsum s;
		trace_sum(m, t, &s);
		memcpy(sum.trace_id, t->tid, 16);
		sum.start_ns = s.start;
		sum.end_ns = s.end;
		sum.span_count = t->n_spans;
		sum.error_count = s.errors;
		sum.log_count = t->n_logs;
		const mem_span *spans = t_spans(m, t);
		sum.root_service = m->strs[spans[s.root].svc];
		sum.root_name = m->strs[spans[s.root].name];
		ksk_free(m->al, svcs);
		svcs = ksk_calloc(m->al, t->n_spans, sizeof(uint32_t));
		uint32_t nd = 0;
		if (svcs) {
			for (uint32_t i = 0; i < t->n_spans; i++)
				svcs[i] = spans[i].svc;
			qsort(svcs, t->n_spans, sizeof(uint32_t), u32_cmp);
			for (uint32_t i = 0; i < t->n_spans; i++)
				if (i == 0 || svcs[i] != svcs[i - 1])
					svcs[nd++] = svcs[i];
			sum.services = ksk_arena_alloc(a, sizeof(ksk_str) * (nd ? nd : 1));
			for (uint32_t i = 0; i < nd && sum.services; i++)
				sum.services[i] = m->strs[svcs[i]];
			sum.n_services = nd;
		}
		pthread_rwlock_unlock(&m->lk);
		if (!svcs) {
			rc = KSK_ENOMEM;
			break;
		}
		if (!sum.services) {
			rc = ksk_arena_error(a);
			break;
		}
		if (!cb(ctx, &sum))
			break;
	}
	ksk_free(m->al, c);
	ksk_free(m->al, svcs);
	return rc;
done:
	pthread_rwlock_unlock(&m->lk);
	ksk_free(m->al, c);
	ksk_free(m->al, svcs);
	return rc;
}

void col_mem_operations(col_mem *m, col_op_cb cb, void *ctx)
{
	pthread_rwlock_rdlock(&m->lk);
	for (uint32_t i = 0; i < m->ops.cap; i++) {
		if (!m->ops.v[i])
			continue;
		uint64_t k = m->ops.k[i];
		uint32_t svc = (uint32_t)(k >> 36);
		uint32_t name = (uint32_t)((k >> 4) & 0xffffffffu);
		cb(ctx, m->strs[svc], m->strs[name], (ksk_span_kind)(k & 15u));
	}
	pthread_rwlock_unlock(&m->lk);
}

typedef struct mem_idsvc {
	uint64_t id;
	uint32_t svc;
} mem_idsvc;

static int idsvc_cmp(const void *a, const void *b)
{
	const mem_idsvc *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

typedef struct mem_edge_acc {
	uint32_t parent, child;
	uint64_t calls, errors, dur;
} mem_edge_acc;

ksk_err col_mem_edges(col_mem *m, uint64_t start_ns, uint64_t end_ns,
                      col_edge_cb cb, void *ctx)
{
	ksk_err rc = KSK_OK;
	mem_idsvc *ids = NULL;
	uint32_t cap_ids = 0;
	mem_edge_acc *acc = NULL;
	uint32_t n_acc = 0, cap_acc = 0;
	mem_u64map map = {0};
	pthread_rwlock_rdlock(&m->lk);
	for (uint32_t ti = 0; ti < m->n_traces; ti++) {
		const mem_trace *t = &m->traces[ti];
		if (t->n_spans < 2)
			continue;
		if (!col_ru_grow(m->al, (void **)&ids, &cap_ids, t->n_spans, sizeof(mem_idsvc))) {
			rc = KSK_ENOMEM;
			goto out;
		}
		for (uint32_t i = 0; i < t->n_spans; i++) {
			ids[i].id = t_spans(m, t)[i].id;
			ids[i].svc = t_spans(m, t)[i].svc;
		}
		qsort(ids, t->n_spans, sizeof(mem_idsvc), idsvc_cmp);
		for (uint32_t i = 0; i < t->n_spans; i++) {
			const mem_span *r = &t_spans(m, t)[i];
			if (!r->has_parent)
				continue;
			if (r->start < start_ns || (end_ns && r->start > end_ns))
				continue;
			mem_idsvc key = {r->parent, 0};
			const mem_idsvc *p = bsearch(&key, ids, t->n_spans, sizeof(mem_idsvc), idsvc_cmp);
			if (!p || p->svc == r->svc)
				continue;
			uint64_t k = (uint64_t)p->svc << 32 | r->svc;
			uint32_t e = u64map_get(&map, k);
			if (e == UINT32_MAX) {
				if (!col_ru_grow(m->al, (void **)&acc, &cap_acc, n_acc + 1,
				                 sizeof(mem_edge_acc)) ||
				    !u64map_put(m->al, &map, k, n_acc)) {
					rc = KSK_ENOMEM;
					goto out;
				}
				e = n_acc++;
				memset(&acc[e], 0, sizeof(acc[e]));
				acc[e].parent = p->svc;
				acc[e].child = r->svc;
			}
			acc[e].calls++;
			acc[e].errors += r->err;
			acc[e].dur += r->dur;
		}
	}
	for (uint32_t i = 0; i < n_acc; i++) {
		col_edge e = {m->strs[acc[i].parent], m->strs[acc[i].child], acc[i].calls,
		              acc[i].errors, acc[i].dur};
		cb(ctx, &e);
	}
out:
	pthread_rwlock_unlock(&m->lk);
	ksk_free(m->al, ids);
	ksk_free(m->al, acc);
	u64map_free(m->al, &map);
	return rc;
}

static int logref_cmp(const void *a, const void *b)
{
	const col_mem_logref *x = a, *y = b;
	if (x->time_ns != y->time_ns)
		return x->time_ns > y->time_ns ? -1 : 1;
	return x->seq > y->seq ? -1 : x->seq < y->seq;
}

ksk_err col_mem_logs(col_mem *m, const col_log_search *q,
                     const ksk_alloc *alloc, col_mem_logref **out, uint32_t *n)
{
	const ksk_alloc *al = ksk_alloc_or_default(alloc);
	*out = NULL;
	*n = 0;
	ksk_err rc = KSK_OK;
	pthread_rwlock_rdlock(&m->lk);
	uint32_t svc = UINT32_MAX, host = UINT32_MAX, tr = UINT32_MAX;
	if (q->service.len && (svc = str_lookup(m, q->service)) == UINT32_MAX)
		goto out;
	if (q->host.len && (host = str_lookup(m, q->host)) == UINT32_MAX)
		goto out;
	if (q->has_trace_id && (tr = trace_lookup(m, q->trace_id)) == UINT32_MAX)
		goto out;
	col_mem_logref *r = NULL;
	uint32_t nr = 0, cap = 0;
	for (uint32_t i = 0; i < m->n_logs; i++) {
		const mem_log *l = &m->logs[i];
		if ((svc != UINT32_MAX && l->svc != svc) ||
		    (host != UINT32_MAX && l->host != host) ||
		    (tr != UINT32_MAX && l->trace != tr) ||
		    (q->severity_min && l->sev < q->severity_min) ||
		    (q->severity_max && l->sev > q->severity_max) ||
		    (q->start_ns && l->time < q->start_ns) ||
		    (q->end_ns && l->time > q->end_ns))
			continue;
		if (!col_ru_grow(al, (void **)&r, &cap, nr + 1, sizeof(col_mem_logref))) {
			ksk_free(al, r);
			rc = KSK_ENOMEM;
			goto out;
		}
		r[nr].time_ns = l->time;
		r[nr].frame = m->frames[l->frame];
		r[nr].index = l->index;
		r[nr].seq = i;
		nr++;
	}
	if (nr)
		qsort(r, nr, sizeof(col_mem_logref), logref_cmp);
	*out = r;
	*n = nr;
out:
	pthread_rwlock_unlock(&m->lk);
	return rc;
}

ksk_err col_mem_log_stats(col_mem *m, uint64_t start_ns, uint64_t end_ns,
                          col_mem_count_cb cb, void *ctx)
{
	ksk_err rc = KSK_OK;
	mem_u64map map = {0};
	uint64_t *cnt = NULL;
	uint64_t *keys = NULL;
	uint32_t nk = 0, cap = 0, capk = 0;
	pthread_rwlock_rdlock(&m->lk);
	for (uint32_t i = 0; i < m->n_logs; i++) {
		const mem_log *l = &m->logs[i];
		if ((start_ns && l->time < start_ns) || (end_ns && l->time > end_ns))
			continue;
		uint32_t range = l->sev == 0 ? 0 : (uint32_t)(l->sev - 1) / 4 + 1;
		uint64_t k = (uint64_t)l->svc << 8 | range;
		uint32_t e = u64map_get(&map, k);
		if (e == UINT32_MAX) {
			if (!col_ru_grow(m->al, (void **)&cnt, &cap, nk + 1, sizeof(uint64_t)) ||
			    !col_ru_grow(m->al, (void **)&keys, &capk, nk + 1, sizeof(uint64_t)) ||
			    !u64map_put(m->al, &map, k, nk)) {
				rc = KSK_ENOMEM;
				goto out;
			}
			e = nk++;
			cnt[e] = 0;
			keys[e] = (uint64_t)l->svc << 8 | l->sev;
		}
		cnt[e]++;
	}
	for (uint32_t i = 0; i < nk; i++)
		cb(ctx, m->strs[keys[i] >> 8], ksk_severity_name((uint8_t)(keys[i] & 0xff)),
		   cnt[i]);
out:
	pthread_rwlock_unlock(&m->lk);
	u64map_free(m->al, &map);
	ksk_free(m->al, cnt);
	ksk_free(m->al, keys);
	return rc;
}
