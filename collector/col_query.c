/*
 * col_query.c : the collector's query protocol server (col_query.h).
 *
 * Data in: request maps (kiseki/qproto.h) on an NNG REP socket (col_rep:
 * one context per worker thread, each with its own encoders).
 * Data out: reply maps. Every reply has "ok"; an error reply has "code"
 * (ksk_err), "name" and "error". Chunked answers (trace, logs) carry
 * "records" = one batch frame (resources first, then the chunk's spans
 * and logs), "count" (records in it), "total", and "next" (0 = last chunk).
 *
 * Result cache: a request at cursor 0 is always computed afresh (it sees
 * everything stored so far), into its own arena. When the answer needs more
 * than one chunk it is kept in a small table, keyed by the canonical request
 * (re-encoded with cursor 0) and a result ID, until its TTL passes; the
 * reply carries that ID as "result" and the following requests send it
 * back, so every chunk a client reads is cut from the same answer even
 * when another client asks the same question meanwhile; entries are reference-counted so a
 * worker can read one while another evicts it.
 * Invariants: every chunk advances the cursor by at least one record, so
 * a client always terminates; a reply never exceeds chunk_bytes plus one
 * record plus the resources. Locking: `mu` guards the cache and stats;
 * results are read without the lock while referenced.
 */
#include "col_query.h"

#include <msgpack.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "col_rep.h"
#include "kiseki/frame.h"
#include "kiseki/qproto.h"
#include "kiseki/wire.h"

#define COL_QCACHE_SLOTS 8

typedef struct col_qentry {
	uint8_t *key;           /* canonical request bytes (malloc'd) */
	size_t key_len;
	uint64_t expires;       /* mono ns */
	int refs;
	uint64_t id;            /* the reply's "result": which answer a cursor reads */
	ksk_arena *arena;       /* owns the result */
	col_trace trace;        /* KSK_Q_TRACE */
	col_log_hit *hits;      /* KSK_Q_LOGS */
	uint32_t n_hits;
} col_qentry;

struct col_query {
	col_store *store;       /* borrowed */
	col_query_opts opts;
	col_rep *rep;           /* NULL when used in-process only */
	pthread_mutex_t mu;     /* guards cache and stats */
	col_qentry *cache[COL_QCACHE_SLOTS];
	uint64_t next_id;       /* last result ID handed out */
	uint64_t requests, ns_sum, errors;
};

void col_query_opts_default(col_query_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->workers = 4;
	o->chunk_bytes = 1u << 20;
	o->cache_ttl_ns = 30000000000ull;
}

/* ---- reply building ------------------------------------------------------ */

static int col_q_write(void *data, const char *buf, size_t len)
{
	return ksk_buf_append(data, buf, len) == KSK_OK ? 0 : -1;
}

static void col_q_key(msgpack_packer *pk, const char *k)
{
	msgpack_pack_str_with_body(pk, k, strlen(k));
}

static void col_q_str(msgpack_packer *pk, ksk_str s)
{
	msgpack_pack_str_with_body(pk, s.ptr ? s.ptr : "", s.len);
}

static void col_q_error(ksk_buf *out, ksk_err rc, const char *msg)
{
	ksk_buf_clear(out);
	msgpack_packer pk;
	msgpack_packer_init(&pk, out, col_q_write);
	msgpack_pack_map(&pk, 4);
	col_q_key(&pk, "ok");
	msgpack_pack_false(&pk);
	col_q_key(&pk, "code");
	msgpack_pack_int(&pk, rc);
	col_q_key(&pk, "name");
	col_q_str(&pk, ksk_str_c(ksk_errname(rc)));
	col_q_key(&pk, "error");
	col_q_str(&pk, ksk_str_c(msg[0] ? msg : ksk_strerror(rc)));
}

/* ---- cache --------------------------------------------------------------- */

static void col_qentry_free(col_qentry *e)
{
	if (!e)
		return;
	ksk_arena_destroy(e->arena);
	free(e->key);
	free(e);
}

static void col_qentry_release(col_query *q, col_qentry *e)
{
	pthread_mutex_lock(&q->mu);
	int gone = --e->refs == 0;
	int cached = 0;
	for (int i = 0; i < COL_QCACHE_SLOTS; i++)
		if (q->cache[i] == e)
			cached = 1;
	pthread_mutex_unlock(&q->mu);
	if (gone && !cached)
		col_qentry_free(e);
}

static col_qentry *col_qcache_get(col_query *q, const ksk_buf *key, uint64_t id, uint64_t now)
{
	col_qentry *hit = NULL, *dead[COL_QCACHE_SLOTS];
	int nd = 0;
	pthread_mutex_lock(&q->mu);
	for (int i = 0; i < COL_QCACHE_SLOTS; i++) {
		col_qentry *e = q->cache[i];
		if (!e)
			continue;
		if (e->expires <= now) {
			q->cache[i] = NULL;
			if (e->refs == 0)
				dead[nd++] = e;
			continue;
		}
		if (e->key_len == key->len && memcmp(e->key, key->data, key->len) == 0 &&
		    (id ? e->id == id : (!hit || e->id > hit->id)))
			hit = e;
	}
	if (hit)
		hit->refs++;
	pthread_mutex_unlock(&q->mu);
	for (int i = 0; i < nd; i++)
		col_qentry_free(dead[i]);
	return hit;
}

/* Caches `e` (refs already 1 for the caller), evicting the entry that
 * expires first when full. */
static void col_qcache_put(col_query *q, col_qentry *e)
{
	col_qentry *evict = NULL;
	pthread_mutex_lock(&q->mu);
	int slot = -1;
	for (int i = 0; i < COL_QCACHE_SLOTS && slot < 0; i++)
		if (!q->cache[i])
			slot = i;
	if (slot < 0) {
		slot = 0;
		for (int i = 1; i < COL_QCACHE_SLOTS; i++)
			if (q->cache[i]->expires < q->cache[slot]->expires)
				slot = i;
		if (q->cache[slot]->refs == 0)
			evict = q->cache[slot];
	}
	q->cache[slot] = e;
	pthread_mutex_unlock(&q->mu);
	col_qentry_free(evict);
}

/* ---- chunked answers ------------------------------------------------------ */

static int col_span_cmp(const void *a, const void *b)
{
	const ksk_span *x = a, *y = b;
	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	return memcmp(x->span_id, y->span_id, KSK_SPAN_ID_LEN);
}

static int col_log_cmp(const void *a, const void *b)
{
	const ksk_log *x = a, *y = b;
	uint64_t tx = x->time_ns ? x->time_ns : x->observed_ns;
	uint64_t ty = y->time_ns ? y->time_ns : y->observed_ns;
	return tx < ty ? -1 : tx > ty;
}

/* Where a chunk's records come from. */
typedef struct col_chunk_src {
	ksk_resource *resources;  /* TRACE: the trace's resources */
	uint32_t n_resources;
	ksk_span *spans;
	uint32_t n_spans;
	ksk_log *logs;            /* TRACE */
	uint32_t n_logs;
	col_log_hit *hits;        /* LOGS */
	uint32_t n_hits;
} col_chunk_src;

typedef struct col_chunk_ctx {
	ksk_wire_enc *we;
	ksk_frame_enc *fe;
	ksk_arena *scratch;
} col_chunk_ctx;

/* Resource index for a log hit within this chunk (dedupe by pointer or by
 * service/host when the hit has no resource). */
static ksk_err col_hit_resource(ksk_wire_enc *we, ksk_arena *a, const col_log_hit *h,
                                const void **seen, uint32_t *n_seen, uint32_t max,
                                uint32_t *idx)
{
	for (uint32_t i = 0; i < *n_seen; i++)
		if (seen[i] == (const void *)h->resource && h->resource) {
			*idx = i;
			return KSK_OK;
		}
	ksk_resource r;
	if (h->resource) {
		r = *h->resource;
	} else {
		memset(&r, 0, sizeof(r));
		ksk_attr *at = ksk_arena_calloc(a, 2, sizeof(*at));
		if (!at)
			return KSK_ENOMEM;
		at[0] = (ksk_attr){KSK_STR("service.name"), ksk_val_str(h->service)};
		at[1] = (ksk_attr){KSK_STR("host.name"), ksk_val_str(h->host)};
		r.attrs = at;
		r.n_attrs = h->host.len ? 2 : 1;
	}
	KSK_TRY(ksk_wire_enc_resource(we, &r, idx));
	if (*n_seen < max)
		seen[(*n_seen)++] = h->resource;
	return KSK_OK;
}

static ksk_err col_q_chunk(col_query *q, col_chunk_ctx *cc, const col_chunk_src *src,
                           uint32_t cursor, uint64_t result, uint32_t *next, ksk_buf *out,
                           ksk_errinfo *ei)
{
	uint32_t total = src->hits ? src->n_hits : src->n_spans + src->n_logs;
	if (cursor > total)
		return ksk_errinfo_set(ei, KSK_EINVAL, "cursor %u past the end (%u records)", cursor, total);
	ksk_wire_enc_reset(cc->we);
	ksk_arena_reset(cc->scratch);
	uint32_t idx;
	for (uint32_t i = 0; i < src->n_resources; i++)
		KSK_TRY(ksk_wire_enc_resource(cc->we, &src->resources[i], &idx));
	const void *seen[256];
	uint32_t n_seen = 0;
	uint32_t i = cursor;
	size_t len = 0;
	for (; i < total; i++) {
		if (i > cursor && len >= q->opts.chunk_bytes)
			break;
		if (src->hits) {
			const col_log_hit *h = &src->hits[i];
			ksk_log l = h->log;
			if (n_seen == 256) { /* a new resource table for variety */
				break;
			}
			KSK_TRY(col_hit_resource(cc->we, cc->scratch, h, seen, &n_seen, 256, &idx));
			l.resource = idx;
			KSK_TRY(ksk_wire_enc_log(cc->we, &l));
		} else if (i < src->n_spans) {
			KSK_TRY(ksk_wire_enc_span(cc->we, &src->spans[i]));
		} else {
			KSK_TRY(ksk_wire_enc_log(cc->we, &src->logs[i - src->n_spans]));
		}
		ksk_wire_enc_data(cc->we, &len);
	}
	size_t plen;
	const uint8_t *p = ksk_wire_enc_data(cc->we, &plen);
	ksk_frame_meta m;
	memset(&m, 0, sizeof(m));
	m.seq = cursor;
	m.record_count = ksk_wire_enc_count(cc->we);
	m.compress = true;
	m.restore = ksk_wire_enc_restore(cc->we);
	const uint8_t *f;
	size_t flen;
	KSK_TRY(ksk_frame_encode(cc->fe, &m, p, plen, &f, &flen, ei));
	msgpack_packer pk;
	msgpack_packer_init(&pk, out, col_q_write);
	*next = i < total ? i : 0;
	msgpack_pack_map(&pk, (src->hits ? 5 : 7) + (*next != 0));
	col_q_key(&pk, "ok");
	msgpack_pack_true(&pk);
	col_q_key(&pk, "total");
	msgpack_pack_uint32(&pk, total);
	if (!src->hits) {
		col_q_key(&pk, "spans");
		msgpack_pack_uint32(&pk, src->n_spans);
		col_q_key(&pk, "logs");
		msgpack_pack_uint32(&pk, src->n_logs);
	}
	col_q_key(&pk, "count");
	msgpack_pack_uint32(&pk, m.record_count);
	col_q_key(&pk, "next");
	msgpack_pack_uint32(&pk, *next);
	if (*next) {
		col_q_key(&pk, "result");
		msgpack_pack_uint64(&pk, result);
	}
	col_q_key(&pk, "records");
	msgpack_pack_bin_with_body(&pk, f, flen);
	return out->err;
}

/* Gets (or computes and caches) the result for a chunked request. */
static ksk_err col_q_result(col_query *q, const ksk_qreq *r, col_qentry **out,
                            ksk_errinfo *ei)
{
	ksk_qreq canon = *r;
	canon.cursor = 0;
	canon.result = 0;
	ksk_buf key;
	ksk_buf_init(&key, NULL, KSK_Q_MAX_REQUEST);
	ksk_err rc = ksk_qreq_encode(&canon, &key);
	if (rc != KSK_OK) {
		ksk_buf_fini(&key);
		return ksk_errinfo_set(ei, rc, "request: cannot encode cache key");
	}
	const ksk_clock *clk = q->opts.clock ? q->opts.clock : ksk_clock_system();
	uint64_t now = ksk_clock_mono(clk);
	/* only the following chunks come from the cache: a new request
	 * (cursor 0) always sees the data stored since the last one */
	col_qentry *e = r->cursor != 0 ? col_qcache_get(q, &key, r->result, now) : NULL;
	if (e) {
		ksk_buf_fini(&key);
		*out = e;
		return KSK_OK;
	}
	if (r->cursor != 0) {
		ksk_buf_fini(&key);
		return ksk_errinfo_set(ei, KSK_ENOTFOUND,
		                       "cursor %u refers to a result no longer cached; start again at cursor 0",
		                       r->cursor);
	}
	e = calloc(1, sizeof(*e));
	if (!e || ksk_arena_create(NULL, 1 << 20, 0, &e->arena) != KSK_OK) {
		free(e);
		ksk_buf_fini(&key);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "query: no memory");
	}
	e->key = key.data; /* take the buffer */
	e->key_len = key.len;
	e->expires = now + q->opts.cache_ttl_ns;
	e->refs = 1;
	if (r->op == KSK_Q_TRACE) {
		rc = col_store_get_trace(q->store, r->trace_id, r->start_ns, r->end_ns, e->arena,
		                         &e->trace, ei);
		if (rc == KSK_OK && e->trace.n_spans > 1)
			qsort(e->trace.spans, e->trace.n_spans, sizeof(ksk_span), col_span_cmp);
		if (rc == KSK_OK && e->trace.n_logs > 1)
			qsort(e->trace.logs, e->trace.n_logs, sizeof(ksk_log), col_log_cmp);
	} else {
		col_log_search s;
		memset(&s, 0, sizeof(s));
		s.service = r->service;
		s.host = r->host;
		s.severity_min = r->severity_min;
		s.severity_max = r->severity_max;
		s.regex = r->regex;
		s.has_trace_id = r->has_trace_id;
		memcpy(s.trace_id, r->trace_id, KSK_TRACE_ID_LEN);
		s.start_ns = r->start_ns;
		s.end_ns = r->end_ns;
		s.limit = r->limit > 100000 ? 100000 : r->limit;
		rc = col_store_log_search(q->store, &s, e->arena, &e->hits, &e->n_hits, ei);
	}
	if (rc != KSK_OK) {
		col_qentry_free(e);
		return rc;
	}
	/* cached by the caller only when it needs more than one chunk */
	pthread_mutex_lock(&q->mu);
	e->id = ++q->next_id;
	pthread_mutex_unlock(&q->mu);
	*out = e;
	return KSK_OK;
}

/* ---- non-chunked answers --------------------------------------------------- */

static void col_q_summary(msgpack_packer *pk, const col_summary *s)
{
	msgpack_pack_map(pk, 9);
	col_q_key(pk, "trace_id");
	msgpack_pack_bin_with_body(pk, s->trace_id, KSK_TRACE_ID_LEN);
	col_q_key(pk, "start");
	msgpack_pack_uint64(pk, s->start_ns);
	col_q_key(pk, "end");
	msgpack_pack_uint64(pk, s->end_ns);
	col_q_key(pk, "spans");
	msgpack_pack_uint32(pk, s->span_count);
	col_q_key(pk, "errors");
	msgpack_pack_uint32(pk, s->error_count);
	col_q_key(pk, "logs");
	msgpack_pack_uint32(pk, s->log_count);
	col_q_key(pk, "root_service");
	col_q_str(pk, s->root_service);
	col_q_key(pk, "root_name");
	col_q_str(pk, s->root_name);
	col_q_key(pk, "services");
	msgpack_pack_array(pk, s->n_services);
	for (uint32_t i = 0; i < s->n_services; i++)
		col_q_str(pk, s->services[i]);
}

static ksk_err col_q_simple(col_query *q, const ksk_qreq *r, ksk_arena *a, ksk_buf *out,
                            ksk_errinfo *ei)
{
	msgpack_packer pk;
	msgpack_packer_init(&pk, out, col_q_write);
	ksk_err rc = KSK_OK;
	if (r->op == KSK_Q_SEARCH) {
		col_search s;
		memset(&s, 0, sizeof(s));
		s.service = r->service;
		s.operation = r->operation;
		s.span_kind = r->kind;
		for (uint32_t i = 0; i < r->n_attrs && i < COL_MAX_ATTR_FILTERS; i++) {
			s.attrs[i].key = r->attrs[i].key;
			s.attrs[i].value = r->attrs[i].value;
		}
		s.n_attrs = r->n_attrs < COL_MAX_ATTR_FILTERS ? r->n_attrs : COL_MAX_ATTR_FILTERS;
		s.min_duration_ns = r->min_duration_ns;
		s.max_duration_ns = r->max_duration_ns;
		s.min_spans = r->min_spans;
		s.max_spans = r->max_spans;
		s.errors_only = r->errors_only;
		s.start_ns = r->start_ns;
		s.end_ns = r->end_ns;
		s.limit = r->limit ? (r->limit > 10000 ? 10000 : r->limit) : 20;
		col_summary *sums;
		uint32_t n;
		KSK_TRY(col_store_search(q->store, &s, a, &sums, &n, ei));
		msgpack_pack_map(&pk, 2);
		col_q_key(&pk, "ok");
		msgpack_pack_true(&pk);
		col_q_key(&pk, "traces");
		msgpack_pack_array(&pk, n);
		for (uint32_t i = 0; i < n; i++)
			col_q_summary(&pk, &sums[i]);
	} else if (r->op == KSK_Q_SERVICES) {
		ksk_str *names;
		uint32_t n;
		KSK_TRY(col_store_services(q->store, a, &names, &n));
		msgpack_pack_map(&pk, 2);
		col_q_key(&pk, "ok");
		msgpack_pack_true(&pk);
		col_q_key(&pk, "services");
		msgpack_pack_array(&pk, n);
		for (uint32_t i = 0; i < n; i++)
			col_q_str(&pk, names[i]);
	} else if (r->op == KSK_Q_OPERATIONS) {
		col_operation *ops;
		uint32_t n;
		KSK_TRY(col_store_operations(q->store, r->service, r->kind, a, &ops, &n));
		msgpack_pack_map(&pk, 2);
		col_q_key(&pk, "ok");
		msgpack_pack_true(&pk);
		col_q_key(&pk, "operations");
		msgpack_pack_array(&pk, n);
		for (uint32_t i = 0; i < n; i++) {
			msgpack_pack_array(&pk, 2);
			col_q_str(&pk, ops[i].name);
			msgpack_pack_uint32(&pk, (uint32_t)ops[i].kind);
		}
	} else if (r->op == KSK_Q_EDGES) {
		col_edge *edges;
		uint32_t n;
		KSK_TRY(col_store_edges(q->store, r->start_ns, r->end_ns, a, &edges, &n));
		msgpack_pack_map(&pk, 2);
		col_q_key(&pk, "ok");
		msgpack_pack_true(&pk);
		col_q_key(&pk, "edges");
		msgpack_pack_array(&pk, n);
		for (uint32_t i = 0; i < n; i++) {
			msgpack_pack_array(&pk, 5);
			col_q_str(&pk, edges[i].parent);
			col_q_str(&pk, edges[i].child);
			msgpack_pack_uint64(&pk, edges[i].calls);
			msgpack_pack_uint64(&pk, edges[i].errors);
			msgpack_pack_uint64(&pk, edges[i].duration_ns_sum);
		}
	} else if (r->op == KSK_Q_LOG_STATS) {
		col_log_count *counts;
		uint32_t n;
		KSK_TRY(col_store_log_stats(q->store, r->start_ns, r->end_ns, a, &counts, &n));
		msgpack_pack_map(&pk, 2);
		col_q_key(&pk, "ok");
		msgpack_pack_true(&pk);
		col_q_key(&pk, "counts");
		msgpack_pack_array(&pk, n);
		for (uint32_t i = 0; i < n; i++) {
			msgpack_pack_array(&pk, 3);
			col_q_str(&pk, counts[i].service);
			col_q_str(&pk, ksk_str_c(counts[i].severity));
			msgpack_pack_uint64(&pk, counts[i].count);
		}
	} else {
		rc = ksk_errinfo_set(ei, KSK_EINVAL, "op %d not served", (int)r->op);
	}
	return rc != KSK_OK ? rc : out->err;
}

/* ---- dispatch -------------------------------------------------------------- */

static ksk_err col_q_dispatch(col_query *q, col_chunk_ctx *cc, const uint8_t *req,
                              size_t len, ksk_buf *out, ksk_errinfo *ei)
{
	ksk_qreq r;
	KSK_TRY(ksk_qreq_decode(req, len, &r, ei));
	if (r.op == KSK_Q_TRACE || r.op == KSK_Q_LOGS) {
		col_qentry *e = NULL;
		KSK_TRY(col_q_result(q, &r, &e, ei));
		col_chunk_src src;
		memset(&src, 0, sizeof(src));
		if (r.op == KSK_Q_TRACE) {
			src.resources = e->trace.resources;
			src.n_resources = e->trace.n_resources;
			src.spans = e->trace.spans;
			src.n_spans = e->trace.n_spans;
			src.logs = e->trace.logs;
			src.n_logs = e->trace.n_logs;
		} else {
			static col_log_hit none;
			src.hits = e->n_hits ? e->hits : &none;
			src.n_hits = e->n_hits;
		}
		uint32_t next = 0;
		ksk_err rc = col_q_chunk(q, cc, &src, r.cursor, e->id, &next, out, ei);
		/* a new answer that needs more chunks is kept for them */
		if (rc == KSK_OK && r.cursor == 0 && next != 0)
			col_qcache_put(q, e);
		col_qentry_release(q, e);
		return rc;
	}
	return col_q_simple(q, &r, cc->scratch, out, ei);
}

static ksk_err col_chunk_ctx_init(col_chunk_ctx *cc)
{
	memset(cc, 0, sizeof(*cc));
	ksk_err rc = ksk_wire_enc_create(NULL, NULL, 0, &cc->we);
	if (rc == KSK_OK)
		rc = ksk_frame_enc_create(NULL, 1, &cc->fe);
	if (rc == KSK_OK)
		rc = ksk_arena_create(NULL, 1 << 16, 0, &cc->scratch);
	return rc;
}

static void col_chunk_ctx_fini(col_chunk_ctx *cc)
{
	ksk_wire_enc_destroy(cc->we);
	ksk_frame_enc_destroy(cc->fe);
	ksk_arena_destroy(cc->scratch);
}

static ksk_err col_query_answer_cc(col_query *q, col_chunk_ctx *cc, const uint8_t *req,
                                   size_t len, ksk_buf *out)
{
	const ksk_clock *clk = q->opts.clock ? q->opts.clock : ksk_clock_system();
	uint64_t t0 = ksk_clock_mono(clk);
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	ksk_buf_clear(out);
	ksk_err rc = col_q_dispatch(q, cc, req, len, out, &ei);
	if (rc != KSK_OK)
		col_q_error(out, rc, ei.msg);
	ksk_arena_reset(cc->scratch);
	pthread_mutex_lock(&q->mu);
	q->requests++;
	q->ns_sum += ksk_clock_mono(clk) - t0;
	if (rc != KSK_OK)
		q->errors++;
	pthread_mutex_unlock(&q->mu);
	return rc;
}

ksk_err col_query_answer(col_query *q, const uint8_t *req, size_t len, ksk_buf *out)
{
	col_chunk_ctx cc;
	ksk_err rc = col_chunk_ctx_init(&cc);
	if (rc == KSK_OK)
		rc = col_query_answer_cc(q, &cc, req, len, out);
	col_chunk_ctx_fini(&cc);
	return rc;
}

static void *col_qworker_init(void *ctx)
{
	(void)ctx;
	col_chunk_ctx *cc = calloc(1, sizeof(*cc));
	if (!cc)
		return NULL;
	if (col_chunk_ctx_init(cc) != KSK_OK) {
		col_chunk_ctx_fini(cc);
		free(cc);
		return NULL;
	}
	return cc;
}

static void col_qworker_fini(void *ctx, void *state)
{
	(void)ctx;
	col_chunk_ctx_fini(state);
	free(state);
}

static void col_qworker_handle(void *ctx, void *state, const uint8_t *req, size_t len,
                               ksk_buf *reply)
{
	col_query_answer_cc(ctx, state, req, len, reply);
}

static void col_query_free(col_query *q)
{
	for (int i = 0; i < COL_QCACHE_SLOTS; i++)
		col_qentry_free(q->cache[i]);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

ksk_err col_query_start(col_store *store, const col_query_opts *opts, col_query **out,
                        ksk_errinfo *ei)
{
	col_query *q = calloc(1, sizeof(*q));
	if (!q)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "query: no memory");
	q->store = store;
	q->opts = *opts;
	if (!q->opts.workers)
		q->opts.workers = 4;
	if (!q->opts.chunk_bytes)
		q->opts.chunk_bytes = 1u << 20;
	if (!q->opts.cache_ttl_ns)
		q->opts.cache_ttl_ns = 30000000000ull;
	pthread_mutex_init(&q->mu, NULL);
	if (opts->listen_url) { /* else in-process use through col_query_answer */
		col_rep_opts ro = {
			.url = opts->listen_url,
			.workers = q->opts.workers,
			.recv_max = KSK_Q_MAX_REQUEST,
			.ctx = q,
			.worker_init = col_qworker_init,
			.worker_fini = col_qworker_fini,
			.handle = col_qworker_handle,
			.what = "query",
		};
		ksk_err rc = col_rep_start(&ro, &q->rep, ei);
		if (rc != KSK_OK) {
			col_query_free(q);
			return rc;
		}
	}
	*out = q;
	return KSK_OK;
}

const char *col_query_url(const col_query *q)
{
	return q->rep ? col_rep_url(q->rep) : "";
}

void col_query_stop(col_query *q)
{
	if (!q)
		return;
	col_rep_stop(q->rep);
	col_query_free(q);
}

void col_query_stats(void *arg, uint64_t *requests, uint64_t *ns_sum, uint64_t *errors)
{
	col_query *q = arg;
	pthread_mutex_lock(&q->mu);
	*requests = q->requests;
	*ns_sum = q->ns_sum;
	*errors = q->errors;
	pthread_mutex_unlock(&q->mu);
}
