/*
 * col_segment.c : sealed segments (col_segment.h), the collector's
 * long-term storage: a writer that seals records into one immutable file
 * and a reader that serves trace-by-ID, search, tables and logs from it.
 *
 * Data in (writer): decoded batches. Each span and log is kept as a
 * compact row (the segment codec in single-stream form, every string an
 * ordinal into the writer's intern table, which holds each distinct string
 * once and counts its uses): ~200 bytes per span instead of ~1 KiB of
 * structs. At the finish the rows are decoded again, grouped and
 * re-encoded with the final dictionary. Data out: one file, written
 * to PATH.tmp, fsync'd, renamed to PATH, directory fsync'd. Layout
 * (docs/STORAGE.md part 2 has the byte-level table):
 *
 *   header   "KSKSEG1\n" u32 version u32 0
 *   log blocks    zstd; logs in time order, record-oriented with an
 *                 offset table so one log decodes without the others
 *   trace blocks  ~128 KiB raw of traces sorted by trace ID; columnar:
 *                 trace count and per-trace headers (span count, log
 *                 refs, base time, stream lengths), then each stream
 *                 (col_seg_int.h) of every trace; each part its own zstd
 *                 frame, the frames concatenated
 *   sections      block table, trace-ID index (24 B entries), trace-ID
 *                 filter (blocked bloom), summaries (56 B rows, newest
 *                 first), summary service lists and blooms, dictionary,
 *                 resources, services, operations, edges, batch keys,
 *                 log block table; the small tables zstd-compressed
 *   footer   fixed size: magic, version, counts, time range, and per
 *            section offset/length/raw length/CRC/flags; its own CRC last
 *
 * Reader: mmaps the file read-only, verifies footer, every section's CRC
 * and every offset, count and ID in the index and tables at open (a block's
 * CRC when it is read), loads the small tables into memory, and then never
 * changes: every read function is safe from many threads. The only
 * mutable part is a mutex-protected pool of zstd decompression contexts.
 * Per-call memory goes to the caller's arena (or, for scans, a private
 * scratch buffer freed before returning).
 *
 * Seal (col_segw_finish): dictionary (strings used twice or more, most
 * used first) -> resources and services -> sort spans by (trace, start)
 * and logs by time, group by trace -> log blocks (so each log's position
 * is known) -> trace blocks, with per trace: index entry, summary row,
 * service list, search bloom, operations and edges -> tables -> footer.
 *
 * Invariants: the file is hostile on read (every value from it is
 * bounds-checked before use, no decode can read outside its block or
 * allocate more than the block's size allows); a writer's sticky error
 * (w->err) refuses further adds and the finish; the writer never leaves
 * PATH partially written (only PATH.tmp, removed on error).
 * No globals.
 */
#include "col_segment.h"

#include "col_seg_int.h"
#include "kiseki/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zstd_errors.h>

/* ---- file format constants ---------------------------------------------- */

#define SG_HEAD_MAGIC "KSKSEG1\n"
#define SG_FOOT_MAGIC "KSKSEGFT"
#define SG_VERSION 1u
#define SG_HEAD_LEN 16u

enum sg_sec {
	SEC_BLOCKS = 0, /* trace block table, SG_BLOCK_ENT each */
	SEC_INDEX,      /* trace-ID index, SG_INDEX_ENT each, sorted */
	SEC_FILTER,     /* blocked bloom over trace IDs, 64-byte blocks */
	SEC_SUMS,       /* summaries, SG_SUM_ENT each, start descending */
	SEC_SUMSVC,     /* per-summary service lists, delta varints */
	SEC_SUMBLOOM,   /* per-summary blooms, 64-bit words */
	SEC_DICT,       /* string dictionary (zstd) */
	SEC_RES,        /* resources (zstd) */
	SEC_SVCS,       /* service names, sorted (zstd) */
	SEC_OPS,        /* (service, operation, kind), sorted (zstd) */
	SEC_EDGES,      /* per-minute service edges (zstd) */
	SEC_KEYS,       /* (agent ID, seq), SG_KEY_ENT each */
	SEC_LOGBLOCKS,  /* log block table, SG_LBLOCK_ENT each */
	SG_NSEC
};

static const char *const sg_sec_names[SG_NSEC] = {
	"block table", "trace index", "trace filter", "summaries",
	"summary services", "summary blooms", "dictionary", "resources",
	"services", "operations", "edges", "batch keys", "log block table",
};

#define SG_SEC_ZSTD 1u
#define SG_SEC_ENT 32u
#define SG_FOOT_FIXED 88u
#define SG_FOOTER_LEN (SG_FOOT_FIXED + SG_NSEC * SG_SEC_ENT + 4u)
#define SG_BLOCK_ENT 24u
#define SG_INDEX_ENT 24u
#define SG_SUM_ENT 56u
#define SG_KEY_ENT 24u
#define SG_LBLOCK_ENT 40u
#define SG_LBLOCK_HDR 12u
#define SG_FENCE_STEP 256u
#define SG_MAX_RAW ((uint64_t)1 << 30) /* cap on any decompressed part */
#define SG_MINUTE_NS 60000000000ull

#define SG_DEFAULT_LEVEL 6
#define SG_DEFAULT_LOG_LEVEL 1 /* see col_segw_tuning.zstd_log_level */
#define SG_DEFAULT_BLOCK (128u * 1024u)
#define SG_DEFAULT_LOG_BLOCK (64u * 1024u)
#define SG_DEFAULT_SUM_BPI 12u
#define SG_DICT_MIN_USES 2u

/* ========================================================================
 * Writer
 * ======================================================================== */

/* qsort that accepts an empty (NULL) array. */
static void sg_qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

typedef struct sgw_res {
	ksk_resource r;  /* copied, strings interned */
	uint64_t hash;   /* over the interned pointers */
} sgw_res;

/* A piece of the row store: rows never straddle two. */
typedef struct sgw_chunk {
	uint8_t *p;
	size_t len, cap;
} sgw_chunk;

#define SG_ROW_CHUNK ((size_t)4 << 20)
#define SG_PREFETCH 16 /* keys ahead whose log position is prefetched */

/* Where an added span's row is, with what sorting needs. */
typedef struct sgw_srow {
	uint8_t tid[16];     /* trace ID */
	uint64_t start, end; /* span times */
	uint64_t off;        /* its row (sgw_keep_row) */
} sgw_srow;

/* Where an added log's row is. */
typedef struct sgw_lrow {
	uint8_t tid[16];     /* trace ID; meaningful with has_trace */
	uint64_t eff;        /* time_ns, or observed_ns when it is 0 */
	uint64_t off;        /* its row (sgw_keep_row) */
	bool has_trace;      /* the log carries a trace ID */
} sgw_lrow;

struct col_segw {
	const ksk_alloc *alloc;   /* borrowed, outlives the writer */
	ksk_arena *arena;         /* interned strings and resource copies */
	ksk_arena *tmp;           /* per batch / per trace scratch */
	sg_istr **itab;           /* open-addressing intern table */
	size_t icap, icount;
	ksk_buf rows;             /* the row being encoded */
	sgw_chunk *chunks;        /* every added span and log as a compact row,
	                             in chunks that never move (no realloc
	                             copies, no doubling slack) */
	size_t n_chunks, cap_chunks;
	sgw_srow *srows;          /* spans, add order */
	size_t n_spans, cap_spans;
	sgw_lrow *lrows;          /* logs, add order */
	size_t n_logs, cap_logs;
	sgw_res *res;             /* distinct resources */
	uint32_t n_res, cap_res;
	uint8_t *keys;            /* (agent ID, seq) rows, SG_KEY_ENT each */
	size_t n_keys, cap_keys;
	int level;                /* zstd level for trace blocks and tables */
	int log_level;            /* zstd level for log blocks */
	size_t block_bytes;       /* raw bytes per trace block */
	size_t log_block_bytes;   /* raw bytes per log block */
	unsigned sum_bpi;         /* summary bloom bits per item */
	ksk_err err;              /* sticky */
};

ksk_err col_segw_create(const ksk_alloc *alloc, col_segw **out)
{
	alloc = ksk_alloc_or_default(alloc);
	col_segw *w = ksk_calloc(alloc, 1, sizeof(*w));
	if (!w)
		return KSK_ENOMEM;
	w->alloc = alloc;
	if (ksk_arena_create(alloc, 1u << 20, 0, &w->arena) != KSK_OK) {
		ksk_free(alloc, w);
		return KSK_ENOMEM;
	}
	if (ksk_arena_create(alloc, 1u << 20, 0, &w->tmp) != KSK_OK) {
		ksk_arena_destroy(w->arena);
		ksk_free(alloc, w);
		return KSK_ENOMEM;
	}
	ksk_buf_init(&w->rows, alloc, 0);
	w->level = SG_DEFAULT_LEVEL;
	w->log_level = SG_DEFAULT_LOG_LEVEL;
	w->block_bytes = SG_DEFAULT_BLOCK;
	w->log_block_bytes = SG_DEFAULT_LOG_BLOCK;
	w->sum_bpi = SG_DEFAULT_SUM_BPI;
	*out = w;
	return KSK_OK;
}

void col_segw_destroy(col_segw *w)
{
	if (!w)
		return;
	ksk_free(w->alloc, w->itab);
	ksk_free(w->alloc, w->srows);
	ksk_free(w->alloc, w->lrows);
	ksk_buf_fini(&w->rows);
	for (size_t i = 0; i < w->n_chunks; i++)
		ksk_free(w->alloc, w->chunks[i].p);
	ksk_free(w->alloc, w->chunks);
	ksk_arena_destroy(w->tmp);
	ksk_free(w->alloc, w->res);
	ksk_free(w->alloc, w->keys);
	ksk_arena_destroy(w->arena);
	ksk_free(w->alloc, w);
}

void col_segw_set_tuning(col_segw *w, const col_segw_tuning *t)
{
	if (t->zstd_level)
		w->level = t->zstd_level;
	if (t->zstd_log_level)
		w->log_level = t->zstd_log_level;
	if (t->block_bytes)
		w->block_bytes = t->block_bytes;
	if (t->log_block_bytes)
		w->log_block_bytes = t->log_block_bytes;
	if (t->summary_bits_per_item)
		w->sum_bpi = t->summary_bits_per_item;
}

size_t col_segw_spans(const col_segw *w)
{
	return w->n_spans;
}

static bool sgw_grow(col_segw *w, void **arr, size_t *cap, size_t need, size_t elem)
{
	if (ksk_grow(w->alloc, arr, cap, need, elem, 1024))
		return true;
	w->err = KSK_ENOMEM;
	return false;
}

static ksk_str sgw_intern(col_segw *w, ksk_str s)
{
	ksk_str none = {NULL, 0};
	if (s.len == 0 || w->err)
		return none;
	if ((w->icount + 1) * 2 > w->icap) {
		size_t nc = w->icap ? w->icap * 2 : 4096;
		sg_istr **nt = ksk_calloc(w->alloc, nc, sizeof(*nt));
		if (!nt) {
			w->err = KSK_ENOMEM;
			return none;
		}
		for (size_t i = 0; i < w->icap; i++) {
			sg_istr *e = w->itab[i];
			if (!e)
				continue;
			size_t j = e->hash & (nc - 1);
			while (nt[j])
				j = (j + 1) & (nc - 1);
			nt[j] = e;
		}
		ksk_free(w->alloc, w->itab);
		w->itab = nt;
		w->icap = nc;
	}
	uint64_t h = col__seg_hash(s.ptr, s.len);
	size_t m = w->icap - 1, i = h & m;
	while (w->itab[i]) {
		sg_istr *e = w->itab[i];
		if (e->hash == h && e->len == s.len && memcmp(e->bytes, s.ptr, s.len) == 0) {
			e->uses++;
			return (ksk_str){e->bytes, e->len};
		}
		i = (i + 1) & m;
	}
	sg_istr *e = ksk_arena_alloc(w->arena, sizeof(*e) + s.len + 1);
	if (!e) {
		w->err = KSK_ENOMEM;
		return none;
	}
	e->hash = h;
	e->len = s.len;
	e->uses = 1;
	e->ord = (uint32_t)w->icount;
	e->id = e->ord; /* rows code strings by ordinal until the finish */
	memcpy(e->bytes, s.ptr, s.len);
	e->bytes[s.len] = '\0';
	w->itab[i] = e;
	w->icount++;
	return (ksk_str){e->bytes, e->len};
}

/* Moves the row just encoded in w->rows into the row store; *off gets
 * its place (chunk << 32 | position). False (w->err set) on failure. */
static bool sgw_keep_row(col_segw *w, uint64_t *off)
{
	if (w->rows.err) {
		w->err = w->rows.err;
		return false;
	}
	size_t n = w->rows.len;
	sgw_chunk *c = w->n_chunks ? &w->chunks[w->n_chunks - 1] : NULL;
	if (!c || c->cap - c->len < n) {
		if (w->n_chunks >= UINT32_MAX) {
			w->err = KSK_ELIMIT;
			return false;
		}
		if (!sgw_grow(w, (void **)&w->chunks, &w->cap_chunks, w->n_chunks + 1,
		              sizeof(sgw_chunk)))
			return false;
		size_t cap = n > SG_ROW_CHUNK ? n : SG_ROW_CHUNK;
		uint8_t *p = ksk_malloc(w->alloc, cap);
		if (!p) {
			w->err = KSK_ENOMEM;
			return false;
		}
		c = &w->chunks[w->n_chunks++];
		c->p = p;
		c->len = 0;
		c->cap = cap;
	}
	*off = (uint64_t)(w->n_chunks - 1) << 32 | c->len;
	memcpy(c->p + c->len, w->rows.data, n);
	c->len += n;
	return true;
}

static ksk_attr *sgw_copy_attrs(col_segw *w, ksk_arena *a, const ksk_attr *src, uint32_t n);

/* Copies a value into `a` with its strings interned. */
static void sgw_copy_value(col_segw *w, ksk_arena *a, ksk_value *d, const ksk_value *s)
{
	*d = *s;
	switch (s->type) {
	case KSK_VAL_STR:
	case KSK_VAL_BYTES:
		d->u.s = sgw_intern(w, s->u.s);
		break;
	case KSK_VAL_ARRAY:
		d->u.arr.items = NULL;
		if (s->u.arr.n) {
			d->u.arr.items = ksk_arena_calloc(a, s->u.arr.n, sizeof(ksk_value));
			if (!d->u.arr.items) {
				w->err = KSK_ENOMEM;
				d->u.arr.n = 0;
				return;
			}
			for (uint32_t i = 0; i < s->u.arr.n; i++)
				sgw_copy_value(w, a, &d->u.arr.items[i], &s->u.arr.items[i]);
		}
		break;
	case KSK_VAL_KVLIST:
		d->u.kv.items = sgw_copy_attrs(w, a, s->u.kv.items, s->u.kv.n);
		if (!d->u.kv.items)
			d->u.kv.n = 0;
		break;
	default:
		break;
	}
}

static ksk_attr *sgw_copy_attrs(col_segw *w, ksk_arena *ar, const ksk_attr *src, uint32_t n)
{
	if (n == 0)
		return NULL;
	ksk_attr *a = ksk_arena_calloc(ar, n, sizeof(*a));
	if (!a) {
		w->err = KSK_ENOMEM;
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++) {
		a[i].key = sgw_intern(w, src[i].key);
		sgw_copy_value(w, ar, &a[i].value, &src[i].value);
	}
	return a;
}

static uint64_t sgw_hash_value(uint64_t h, const ksk_value *v);

static uint64_t sgw_hash_attrs(uint64_t h, const ksk_attr *a, uint32_t n)
{
	h = sg_mix64(h ^ n);
	for (uint32_t i = 0; i < n; i++) {
		h = sg_mix64(h ^ (uint64_t)(uintptr_t)a[i].key.ptr);
		h = sgw_hash_value(h, &a[i].value);
	}
	return h;
}

static uint64_t sgw_hash_value(uint64_t h, const ksk_value *v)
{
	h = sg_mix64(h ^ ((uint64_t)v->type << 56));
	switch (v->type) {
	case KSK_VAL_STR:
	case KSK_VAL_BYTES:
		return sg_mix64(h ^ (uint64_t)(uintptr_t)v->u.s.ptr);
	case KSK_VAL_BOOL:
		return sg_mix64(h ^ (uint64_t)v->u.b);
	case KSK_VAL_INT:
		return sg_mix64(h ^ (uint64_t)v->u.i);
	case KSK_VAL_DOUBLE: {
		uint64_t b;
		memcpy(&b, &v->u.d, 8);
		return sg_mix64(h ^ b);
	}
	case KSK_VAL_ARRAY:
		for (uint32_t i = 0; i < v->u.arr.n; i++)
			h = sgw_hash_value(h, &v->u.arr.items[i]);
		return sg_mix64(h ^ v->u.arr.n);
	case KSK_VAL_KVLIST:
		return sgw_hash_attrs(h, v->u.kv.items, v->u.kv.n);
	default:
		return h;
	}
}

static bool sgw_res_eq(const ksk_resource *a, const ksk_resource *b)
{
	if (a->n_attrs != b->n_attrs || a->dropped_attrs != b->dropped_attrs)
		return false;
	for (uint32_t i = 0; i < a->n_attrs; i++)
		if (!ksk_str_eq(a->attrs[i].key, b->attrs[i].key) ||
		    !ksk_value_eq(&a->attrs[i].value, &b->attrs[i].value))
			return false;
	return true;
}

/* The first string value of `key` in `a`, interned. */
static ksk_str sgw_attr_str(const ksk_attr *a, uint32_t n, ksk_str key)
{
	const ksk_attr *f = ksk_attrs_find(a, n, key);
	if (f && f->value.type == KSK_VAL_STR)
		return f->value.u.s;
	return (ksk_str){NULL, 0};
}

static uint32_t sgw_add_resource(col_segw *w, const ksk_resource *src)
{
	ksk_resource r;
	memset(&r, 0, sizeof(r));
	r.attrs = sgw_copy_attrs(w, w->arena, src->attrs, src->n_attrs);
	r.n_attrs = r.attrs ? src->n_attrs : 0;
	r.dropped_attrs = src->dropped_attrs;
	r.service = sgw_attr_str(r.attrs, r.n_attrs, KSK_STR("service.name"));
	r.host = sgw_attr_str(r.attrs, r.n_attrs, KSK_STR("host.name"));
	if (w->err)
		return 0;
	uint64_t h = sgw_hash_attrs(r.dropped_attrs, r.attrs, r.n_attrs);
	for (uint32_t i = 0; i < w->n_res; i++)
		if (w->res[i].hash == h && sgw_res_eq(&w->res[i].r, &r))
			return i;
	size_t cap = w->cap_res;
	if (!sgw_grow(w, (void **)&w->res, &cap, (size_t)w->n_res + 1, sizeof(sgw_res)))
		return 0;
	w->cap_res = (uint32_t)cap;
	w->res[w->n_res].r = r;
	w->res[w->n_res].hash = h;
	return w->n_res++;
}

ksk_err col_segw_add(col_segw *w, const ksk_frame_hdr *hdr, const ksk_batch *b)
{
	if (w->err)
		return w->err;
	for (uint32_t i = 0; i < b->n_spans; i++)
		if (b->spans[i].resource >= b->n_resources)
			return KSK_EINVAL;
	for (uint32_t i = 0; i < b->n_logs; i++)
		if (b->logs[i].resource >= b->n_resources)
			return KSK_EINVAL;
	uint32_t *map = ksk_malloc(w->alloc, (size_t)b->n_resources * sizeof(uint32_t));
	if (!map)
		return KSK_ENOMEM;
	for (uint32_t i = 0; i < b->n_resources && !w->err; i++)
		map[i] = sgw_add_resource(w, &b->resources[i]);
	/* Each record: an interned copy in w->tmp, encoded at once into a
	 * compact row (the segment codec, single stream, strings by intern
	 * ordinal); the copy is dropped after the batch. */
	sg_enc e;
	e.tscale = 0;
	for (int k = 0; k < SG_NSTREAMS; k++)
		e.st[k] = &w->rows;
	if (!w->err &&
	    sgw_grow(w, (void **)&w->srows, &w->cap_spans, w->n_spans + b->n_spans, sizeof(sgw_srow)) &&
	    sgw_grow(w, (void **)&w->lrows, &w->cap_logs, w->n_logs + b->n_logs, sizeof(sgw_lrow))) {
		for (uint32_t i = 0; i < b->n_spans && !w->err; i++) {
			const ksk_span *s = &b->spans[i];
			ksk_span dd, *d = &dd;
			*d = *s;
			d->name = sgw_intern(w, s->name);
			d->status_msg = sgw_intern(w, s->status_msg);
			d->trace_state = sgw_intern(w, s->trace_state);
			d->scope_name = sgw_intern(w, s->scope_name);
			d->scope_version = sgw_intern(w, s->scope_version);
			d->attrs = sgw_copy_attrs(w, w->tmp, s->attrs, s->n_attrs);
			d->events = NULL;
			d->links = NULL;
			if (s->n_events) {
				d->events = ksk_arena_calloc(w->tmp, s->n_events, sizeof(ksk_event));
				if (!d->events) {
					w->err = KSK_ENOMEM;
					break;
				}
				for (uint32_t j = 0; j < s->n_events; j++) {
					d->events[j] = s->events[j];
					d->events[j].name = sgw_intern(w, s->events[j].name);
					d->events[j].attrs = sgw_copy_attrs(w, w->tmp, s->events[j].attrs,
					                                    s->events[j].n_attrs);
				}
			}
			if (s->n_links) {
				d->links = ksk_arena_calloc(w->tmp, s->n_links, sizeof(ksk_link));
				if (!d->links) {
					w->err = KSK_ENOMEM;
					break;
				}
				for (uint32_t j = 0; j < s->n_links; j++) {
					d->links[j] = s->links[j];
					d->links[j].trace_state = sgw_intern(w, s->links[j].trace_state);
					d->links[j].attrs = sgw_copy_attrs(w, w->tmp, s->links[j].attrs,
					                                   s->links[j].n_attrs);
				}
			}
			d->has_parent = !ksk_id_is_zero(s->parent_id, KSK_SPAN_ID_LEN);
			d->resource = map[s->resource];
			if (w->err)
				break;
			sgw_srow *r = &w->srows[w->n_spans];
			memcpy(r->tid, s->trace_id, 16);
			r->start = s->start_ns;
			r->end = s->end_ns;
			ksk_buf_clear(&w->rows);
			sg_enc_reset(&e);
			col__seg_enc_span(&e, d, 0, d->has_parent ? SG_PARENT_EXT : SG_PARENT_NONE, 0,
			            d->resource, NULL);
			if (!sgw_keep_row(w, &r->off))
				break;
			w->n_spans++;
		}
		for (uint32_t i = 0; i < b->n_logs && !w->err; i++) {
			const ksk_log *s = &b->logs[i];
			ksk_log dd, *d = &dd;
			*d = *s;
			d->severity_text = sgw_intern(w, s->severity_text);
			if (s->body.type != KSK_VAL_STR && s->body.type != KSK_VAL_BYTES)
				sgw_copy_value(w, w->tmp, &d->body, &s->body);
			/* else: encoded inline right below (col__seg_enc_log) */
			d->attrs = sgw_copy_attrs(w, w->tmp, s->attrs, s->n_attrs);
			d->event_name = sgw_intern(w, s->event_name);
			d->scope_name = sgw_intern(w, s->scope_name);
			d->scope_version = sgw_intern(w, s->scope_version);
			d->has_trace = !ksk_id_is_zero(s->trace_id, KSK_TRACE_ID_LEN);
			d->has_span = !ksk_id_is_zero(s->span_id, KSK_SPAN_ID_LEN);
			d->resource = map[s->resource];
			if (w->err)
				break;
			sgw_lrow *r = &w->lrows[w->n_logs];
			memcpy(r->tid, s->trace_id, 16);
			r->has_trace = d->has_trace;
			r->eff = d->time_ns ? d->time_ns : d->observed_ns;
			ksk_buf_clear(&w->rows);
			col__seg_enc_log(&e, d, 0, r->eff, d->resource, 0);
			if (!sgw_keep_row(w, &r->off))
				break;
			w->n_logs++;
		}
	}
	ksk_arena_reset(w->tmp);
	ksk_free(w->alloc, map);
	if (!w->err && hdr) {
		if (sgw_grow(w, (void **)&w->keys, &w->cap_keys, w->n_keys + 1, SG_KEY_ENT)) {
			uint8_t *k = w->keys + w->n_keys * SG_KEY_ENT;
			memcpy(k, hdr->agent_id, 16);
			ksk_put_le64(k + 16, hdr->seq);
			w->n_keys++;
		}
	}
	return w->err;
}

/* ---- finish: helpers ----------------------------------------------------- */

/* A 128-bit-key hash map to u32 (operations and edges). */
typedef struct sg_map {
	uint64_t *k1, *k2;      /* the two key halves per slot */
	uint32_t *v;            /* values; UINT32_MAX = empty slot */
	size_t cap, n;          /* slots (power of 2), used slots */
	const ksk_alloc *alloc; /* borrowed */
} sg_map;

static void sg_map_fini(sg_map *m)
{
	ksk_free(m->alloc, m->k1);
	ksk_free(m->alloc, m->k2);
	ksk_free(m->alloc, m->v);
	memset(m, 0, sizeof(*m));
}

/* @return : the value for (a, b), inserting `nv` when absent (*added set);
 *           UINT32_MAX on allocation failure. */
static uint32_t sg_map_get(sg_map *m, uint64_t a, uint64_t b, uint32_t nv, bool *added)
{
	*added = false;
	if ((m->n + 1) * 2 > m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 256;
		uint64_t *k1 = ksk_calloc(m->alloc, nc, 8), *k2 = ksk_calloc(m->alloc, nc, 8);
		uint32_t *v = ksk_malloc(m->alloc, nc * 4);
		if (!k1 || !k2 || !v) {
			ksk_free(m->alloc, k1);
			ksk_free(m->alloc, k2);
			ksk_free(m->alloc, v);
			return UINT32_MAX;
		}
		memset(v, 0xff, nc * 4);
		for (size_t i = 0; i < m->cap; i++) {
			if (m->v[i] == UINT32_MAX)
				continue;
			size_t j = sg_mix64(m->k1[i] * 31 + m->k2[i]) & (nc - 1);
			while (v[j] != UINT32_MAX)
				j = (j + 1) & (nc - 1);
			k1[j] = m->k1[i];
			k2[j] = m->k2[i];
			v[j] = m->v[i];
		}
		ksk_free(m->alloc, m->k1);
		ksk_free(m->alloc, m->k2);
		ksk_free(m->alloc, m->v);
		m->k1 = k1;
		m->k2 = k2;
		m->v = v;
		m->cap = nc;
	}
	size_t j = sg_mix64(a * 31 + b) & (m->cap - 1);
	while (m->v[j] != UINT32_MAX) {
		if (m->k1[j] == a && m->k2[j] == b)
			return m->v[j];
		j = (j + 1) & (m->cap - 1);
	}
	m->k1[j] = a;
	m->k2[j] = b;
	m->v[j] = nv;
	m->n++;
	*added = true;
	return nv;
}

typedef struct sgw_op {
	uint32_t svc;   /* service table index */
	ksk_str name;   /* interned */
	uint8_t kind;   /* ksk_span_kind */
	uint32_t final; /* index after sorting */
} sgw_op;

typedef struct sgw_edge {
	uint64_t minute;              /* child start / 60 s */
	uint32_t p, c;                /* parent and child service indexes */
	uint64_t calls, errors, dur;  /* child spans, ERROR ones, duration sum */
} sgw_edge;

/* A summary row before sorting (fields as in the file, see the docs). */
typedef struct sgw_sum {
	uint32_t ord, spans;          /* index entry, span count */
	uint64_t start, end;          /* trace start and end */
	uint32_t errors, logs;        /* ERROR spans, logs */
	uint32_t root_op;             /* provisional operation id */
	uint32_t svc_off, n_svc;      /* service list: byte offset, count */
	uint32_t bloom_off, bloom_words; /* search bloom: word offset, words */
} sgw_sum;

/* A sort key: a span or log by (trace ID, time, add order). */
typedef struct sgw_skey {
	uint8_t tid[16];              /* trace ID (unused for the time sort) */
	uint64_t t;                   /* start, or the log's time */
	uint32_t idx;                 /* index in w->srows / w->lrows */
} sgw_skey;

typedef struct sgw_trace {
	uint8_t tid[16];
	uint32_t s_lo, s_hi;  /* in the sorted span keys */
	uint32_t l_lo, l_hi;  /* in the sorted trace-log keys */
} sgw_trace;

/* State of one col_segw_finish(). */
/* Where a log went: its log block and its index in that block. */
typedef struct sgw_lpos {
	uint32_t blk, idx;
} sgw_lpos;

typedef struct sgw_fin {
	col_segw *w;               /* the writer being sealed */
	const ksk_alloc *alloc;    /* its allocator */
	int fd;                    /* PATH.tmp */
	uint64_t off;              /* file bytes written */
	ksk_buf out;               /* write buffer */
	ZSTD_CCtx *cctx;           /* owned: trace blocks and tables */
	ZSTD_CCtx *lcctx;          /* owned: log blocks */
	ksk_buf z;                 /* compression output */
	ksk_buf sec[SG_NSEC];      /* sections, raw */
	uint32_t *res_svc;         /* resource -> service index */
	ksk_str *svcs;             /* sorted service names */
	uint32_t n_svc;
	sgw_skey *sk;              /* spans by (trace, start) */
	sgw_skey *lk;              /* logs with a trace, by (trace, time) */
	size_t n_lk;
	sgw_skey *lt;              /* every log by time (tid unused) */
	sgw_trace *tr;             /* traces in ID order (= index order) */
	size_t n_tr;
	uint32_t *log_ord;         /* per log: its trace's ordinal */
	sgw_lpos *log_pos;         /* per log: where it was written */
	sg_map opmap, edgemap;     /* (service, name, kind) / (minute, p, c) -> row */
	sgw_op *ops;               /* distinct operations, first-seen order */
	size_t n_ops, cap_ops;
	sgw_edge *edges;           /* edge rows, first-seen order */
	size_t n_edges, cap_edges;
	sgw_sum *sums;             /* one per trace with spans */
	size_t n_sums;
	ksk_buf ts[SG_NSTREAMS];   /* streams of the trace block being filled */
	ksk_buf thdr;              /* its per-trace headers */
	ksk_buf blk;               /* raw block being assembled */
	ksk_buf rec;               /* log records of the block being filled */
	ksk_buf loff;              /* their offsets */
	uint32_t blk_traces;       /* traces in the block being filled */
	uint32_t n_blocks, n_lblocks; /* blocks written */
	uint64_t *items;           /* summary bloom items scratch */
	sg_map dkeymap;            /* keys seen with non-scalar values (by ordinal) */
	ksk_str *dkeys;            /* those keys */
	size_t n_dkeys, cap_dkeys;
	bool dkey_err;             /* an allocation for them failed */
	size_t cap_items;
	uint32_t *scratch;         /* per-trace u32 scratch (2 arrays) */
	size_t cap_scratch;
	uint64_t min_ns, max_ns;   /* time range of every record */
	ksk_str *ostr;             /* interned strings by ordinal */
	sg_dict odict;             /* the rows' dictionary (ostr) */
	ksk_errinfo *ei;           /* the caller's, may be NULL */
} sgw_fin;

/* A decoder over the row at `off`, strings pointing at the interned
 * bytes (so they re-encode with their final codes). */
static void sgf_row_dec(sgw_fin *f, uint64_t off, sg_dec *d, sg_rd *rd)
{
	memset(d, 0, sizeof(*d));
	const sgw_chunk *c = &f->w->chunks[off >> 32];
	rd->p = c->p + (uint32_t)off;
	rd->end = c->p + c->len;
	for (int k = 0; k < SG_NSTREAMS; k++)
		d->rs[k] = rd;
	d->dict = &f->odict;
	d->a = f->w->tmp;
}

static ksk_err sgf_row_err(sgw_fin *f, const sg_dec *d)
{
	if (d->nomem)
		return ksk_errinfo_set(f->ei, KSK_ENOMEM, "sealing: out of memory");
	return ksk_errinfo_set(f->ei, KSK_ESTATE, "sealing: a stored row does not decode: %s",
	                       d->why);
}

static ksk_err sgf_flush(sgw_fin *f)
{
	size_t done = 0;
	while (done < f->out.len) {
		ssize_t n = write(f->fd, f->out.data + done, f->out.len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ksk_errinfo_sys(f->ei, KSK_EIO, errno, "segment write");
		}
		done += (size_t)n;
	}
	ksk_buf_clear(&f->out);
	return KSK_OK;
}

static ksk_err sgf_write(sgw_fin *f, const void *p, size_t n)
{
	if (f->out.len + n > (4u << 20))
		KSK_TRY(sgf_flush(f));
	if (n > (4u << 20)) {
		ksk_err rc = ksk_buf_append(&f->out, p, n);
		if (rc)
			return rc;
		f->off += n;
		return sgf_flush(f);
	}
	KSK_TRY(ksk_buf_append(&f->out, p, n));
	f->off += n;
	return KSK_OK;
}

/* Compresses `n` bytes into f->z with `cctx`. */
static ksk_err sgf_compress_with(sgw_fin *f, ZSTD_CCtx *cctx, const uint8_t *p, size_t n)
{
	size_t bound = ZSTD_compressBound(n);
	ksk_buf_clear(&f->z);
	KSK_TRY(ksk_buf_reserve(&f->z, bound));
	size_t r = ZSTD_compress2(cctx, f->z.data, bound, p, n);
	if (ZSTD_isError(r))
		return ksk_errinfo_set(f->ei,
		                       ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? KSK_ENOMEM
		                                                                            : KSK_EIO,
		                       "zstd: %s", ZSTD_getErrorName(r));
	f->z.len = r;
	return KSK_OK;
}

/* Compresses `n` bytes into f->z (trace blocks and tables). */
static ksk_err sgf_compress(sgw_fin *f, const uint8_t *p, size_t n)
{
	return sgf_compress_with(f, f->cctx, p, n);
}

static int sgw_cmp_key(const void *a, const void *b)
{
	const sgw_skey *x = a, *y = b;
	int c = memcmp(x->tid, y->tid, 16);
	if (c)
		return c;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int sgw_cmp_time(const void *a, const void *b)
{
	const sgw_skey *x = a, *y = b;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Sorts keys by (trace ID, time, index): a counting pass on the first two
 * ID bytes, then each bucket by comparison. Trace IDs are random in
 * practice, so the buckets are small; a skewed set (one trace's logs) just
 * makes one big bucket that qsort handles. */
static ksk_err sgw_sort_keys(sgw_fin *f, sgw_skey *k, size_t n)
{
	if (n < 4096) {
		sg_qsort(k, n, sizeof(sgw_skey), sgw_cmp_key);
		return KSK_OK;
	}
	uint32_t *start = ksk_calloc(f->alloc, 65537, sizeof(uint32_t));
	sgw_skey *tmp = ksk_malloc(f->alloc, n * sizeof(sgw_skey));
	if (!start || !tmp) {
		ksk_free(f->alloc, start);
		ksk_free(f->alloc, tmp);
		return KSK_ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		start[((uint32_t)k[i].tid[0] << 8 | k[i].tid[1]) + 1]++;
	for (uint32_t b = 0; b < 65536; b++)
		start[b + 1] += start[b];
	for (size_t i = 0; i < n; i++)
		tmp[start[(uint32_t)k[i].tid[0] << 8 | k[i].tid[1]]++] = k[i];
	/* start[b] is now the end of bucket b */
	size_t lo = 0;
	for (uint32_t b = 0; b < 65536; b++) {
		size_t hi = start[b];
		sg_qsort(tmp + lo, hi - lo, sizeof(sgw_skey), sgw_cmp_key);
		lo = hi;
	}
	memcpy(k, tmp, n * sizeof(sgw_skey));
	ksk_free(f->alloc, start);
	ksk_free(f->alloc, tmp);
	return KSK_OK;
}

/* Sorts keys by (time, index). Logs mostly arrive in time order, so an
 * ordered run costs one pass. Otherwise (batches appended a little out of
 * order by concurrent workers: long sorted runs with jumps) an LSD radix
 * sort on the bytes of t that differ between the smallest and largest
 * time: stable, and the keys come in index order, so ties stay by index.
 * About 5 passes for a segment's ~1M logs, where qsort made ~20M calls
 * to the comparison (5% of a log-heavy collector's CPU). Falls back to
 * qsort when there is no memory for the second buffer. */
static void sgw_sort_time(const ksk_alloc *al, sgw_skey *k, size_t n)
{
	size_t i = 1;
	while (i < n && sgw_cmp_time(&k[i - 1], &k[i]) < 0)
		i++;
	if (i >= n)
		return;
	uint64_t lo = UINT64_MAX, hi = 0;
	for (size_t j = 0; j < n; j++) {
		lo = k[j].t < lo ? k[j].t : lo;
		hi = k[j].t > hi ? k[j].t : hi;
	}
	sgw_skey *tmp = n >= 1024 ? ksk_malloc(al, n * sizeof(sgw_skey)) : NULL;
	if (!tmp) {
		sg_qsort(k, n, sizeof(sgw_skey), sgw_cmp_time);
		return;
	}
	sgw_skey *src = k, *dst = tmp;
	uint64_t diff = lo ^ hi;
	for (unsigned sh = 0; sh < 64 && (diff >> sh); sh += 8) {
		size_t cnt[257] = {0};
		for (size_t j = 0; j < n; j++)
			cnt[((src[j].t >> sh) & 0xff) + 1]++;
		for (int b = 0; b < 256; b++)
			cnt[b + 1] += cnt[b];
		for (size_t j = 0; j < n; j++)
			dst[cnt[(src[j].t >> sh) & 0xff]++] = src[j];
		sgw_skey *x = src;
		src = dst;
		dst = x;
	}
	if (src != k)
		memcpy(k, src, n * sizeof(sgw_skey));
	ksk_free(al, tmp);
}

static int sgw_cmp_istr(const void *a, const void *b)
{
	const sg_istr *x = *(sg_istr *const *)a, *y = *(sg_istr *const *)b;
	if (x->uses != y->uses)
		return x->uses > y->uses ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static int sgw_cmp_str(ksk_str a, ksk_str b)
{
	uint32_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
	if (c)
		return c;
	return a.len < b.len ? -1 : a.len > b.len;
}

static int sgw_cmp_kstr(const void *a, const void *b)
{
	return sgw_cmp_str(*(const ksk_str *)a, *(const ksk_str *)b);
}

static int sgw_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int sgw_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void sgf_time(sgw_fin *f, uint64_t lo, uint64_t hi)
{
	if (f->min_ns == 0 || lo < f->min_ns)
		f->min_ns = lo;
	if (hi > f->max_ns)
		f->max_ns = hi;
}

/* Dictionary: strings used at least SG_DICT_MIN_USES times, most used
 * first (small ids for hot strings). */
static ksk_err sgf_dict(sgw_fin *f)
{
	col_segw *w = f->w;
	size_t n = 0;
	f->ostr = ksk_malloc(f->alloc, (w->icount ? w->icount : 1) * sizeof(ksk_str));
	if (!f->ostr)
		return KSK_ENOMEM;
	for (size_t i = 0; i < w->icap; i++) {
		sg_istr *e = w->itab[i];
		if (!e)
			continue;
		f->ostr[e->ord] = (ksk_str){e->bytes, e->len};
		e->id = UINT32_MAX;
		if (e->uses >= SG_DICT_MIN_USES)
			n++;
	}
	f->odict.strs = f->ostr;
	f->odict.n = (uint32_t)w->icount;
	sg_istr **v = ksk_malloc(f->alloc, (n ? n : 1) * sizeof(*v));
	if (!v)
		return KSK_ENOMEM;
	n = 0;
	for (size_t i = 0; i < w->icap; i++)
		if (w->itab[i] && w->itab[i]->uses >= SG_DICT_MIN_USES)
			v[n++] = w->itab[i];
	sg_qsort(v, n, sizeof(*v), sgw_cmp_istr);
	ksk_buf *b = &f->sec[SEC_DICT];
	col__seg_put_varint(b, n);
	for (size_t i = 0; i < n; i++) {
		v[i]->id = (uint32_t)i;
		col__seg_put_varint(b, v[i]->len);
	}
	for (size_t i = 0; i < n; i++)
		col__seg_put_raw(b, v[i]->bytes, v[i]->len);
	ksk_free(f->alloc, v);
	return b->err;
}

/* Services (sorted distinct service names of resources) and resources. */
static ksk_err sgf_resources(sgw_fin *f)
{
	col_segw *w = f->w;
	f->svcs = ksk_malloc(f->alloc, ((size_t)w->n_res + 1) * sizeof(ksk_str));
	f->res_svc = ksk_malloc(f->alloc, ((size_t)w->n_res + 1) * sizeof(uint32_t));
	if (!f->svcs || !f->res_svc)
		return KSK_ENOMEM;
	uint32_t n = 0;
	for (uint32_t i = 0; i < w->n_res; i++)
		f->svcs[n++] = w->res[i].r.service;
	sg_qsort(f->svcs, n, sizeof(ksk_str), sgw_cmp_kstr);
	uint32_t u = 0;
	for (uint32_t i = 0; i < n; i++)
		if (u == 0 || !ksk_str_eq(f->svcs[u - 1], f->svcs[i]))
			f->svcs[u++] = f->svcs[i];
	f->n_svc = u;
	ksk_buf *rb = &f->sec[SEC_RES];
	sg_enc e;
	e.tscale = 0;
	for (int k = 0; k < SG_NSTREAMS; k++)
		e.st[k] = rb;
	col__seg_put_varint(rb, w->n_res);
	for (uint32_t i = 0; i < w->n_res; i++) {
		const ksk_str *hit = bsearch(&w->res[i].r.service, f->svcs, u, sizeof(ksk_str),
		                             sgw_cmp_kstr);
		f->res_svc[i] = (uint32_t)(hit - f->svcs);
		col__seg_put_varint(rb, f->res_svc[i]);
		sg_enc_reset(&e);
		col__seg_enc_attrs(&e, w->res[i].r.attrs, w->res[i].r.n_attrs);
		col__seg_put_varint(rb, w->res[i].r.dropped_attrs);
	}
	return rb->err;
}

/* Sorts spans and logs and groups them by trace ID. */
static ksk_err sgf_group(sgw_fin *f)
{
	col_segw *w = f->w;
	size_t ns = w->n_spans, nl = w->n_logs;
	f->sk = ksk_malloc(f->alloc, (ns ? ns : 1) * sizeof(sgw_skey));
	f->lk = ksk_malloc(f->alloc, (nl ? nl : 1) * sizeof(sgw_skey));
	f->lt = ksk_malloc(f->alloc, (nl ? nl : 1) * sizeof(sgw_skey));
	f->log_ord = ksk_malloc(f->alloc, (nl ? nl : 1) * sizeof(uint32_t));
	f->log_pos = ksk_malloc(f->alloc, (nl ? nl : 1) * sizeof(sgw_lpos));
	f->tr = ksk_malloc(f->alloc, (ns + nl + 1) * sizeof(sgw_trace));
	if (!f->sk || !f->lk || !f->lt || !f->log_ord || !f->log_pos || !f->tr)
		return KSK_ENOMEM;
	for (size_t i = 0; i < ns; i++) {
		memcpy(f->sk[i].tid, w->srows[i].tid, 16);
		f->sk[i].t = w->srows[i].start;
		f->sk[i].idx = (uint32_t)i;
		sgf_time(f, w->srows[i].start, w->srows[i].end);
	}
	f->n_lk = 0;
	for (size_t i = 0; i < nl; i++) {
		uint64_t t = w->lrows[i].eff;
		f->lt[i].t = t;
		f->lt[i].idx = (uint32_t)i;
		f->log_ord[i] = UINT32_MAX;
		sgf_time(f, t, t);
		if (w->lrows[i].has_trace) {
			sgw_skey *k = &f->lk[f->n_lk++];
			memcpy(k->tid, w->lrows[i].tid, 16);
			k->t = t;
			k->idx = (uint32_t)i;
		}
	}
	KSK_TRY(sgw_sort_keys(f, f->sk, ns));
	KSK_TRY(sgw_sort_keys(f, f->lk, f->n_lk));
	sgw_sort_time(f->alloc, f->lt, nl);
	size_t i = 0, j = 0;
	f->n_tr = 0;
	while (i < ns || j < f->n_lk) {
		const uint8_t *tid;
		if (i < ns && j < f->n_lk)
			tid = memcmp(f->sk[i].tid, f->lk[j].tid, 16) <= 0 ? f->sk[i].tid : f->lk[j].tid;
		else
			tid = i < ns ? f->sk[i].tid : f->lk[j].tid;
		sgw_trace *t = &f->tr[f->n_tr];
		memcpy(t->tid, tid, 16);
		t->s_lo = (uint32_t)i;
		while (i < ns && memcmp(f->sk[i].tid, t->tid, 16) == 0)
			i++;
		t->s_hi = (uint32_t)i;
		t->l_lo = (uint32_t)j;
		while (j < f->n_lk && memcmp(f->lk[j].tid, t->tid, 16) == 0) {
			f->log_ord[f->lk[j].idx] = (uint32_t)f->n_tr;
			j++;
		}
		t->l_hi = (uint32_t)j;
		f->n_tr++;
	}
	if (f->n_tr > UINT32_MAX - 1)
		return KSK_ELIMIT;
	return KSK_OK;
}

static ksk_err sgf_block_entry(sgw_fin *f, ksk_buf *table, uint64_t off, size_t clen,
                               size_t rlen, uint32_t crc, uint32_t count,
                               const uint64_t *range)
{
	uint8_t e[SG_LBLOCK_ENT];
	ksk_put_le64(e, off);
	ksk_put_le32(e + 8, (uint32_t)clen);
	ksk_put_le32(e + 12, (uint32_t)rlen);
	ksk_put_le32(e + 16, crc);
	ksk_put_le32(e + 20, count);
	size_t n = SG_BLOCK_ENT;
	if (range) {
		ksk_put_le64(e + 24, range[0]);
		ksk_put_le64(e + 32, range[1]);
		n = SG_LBLOCK_ENT;
	}
	(void)f;
	return ksk_buf_append(table, e, n);
}

/* Compresses a raw log block and writes it; appends its table entry. */
static ksk_err sgf_put_block(sgw_fin *f, ksk_buf *table, const uint8_t *raw, size_t rlen,
                             uint32_t count, const uint64_t *range)
{
	if (rlen > SG_MAX_RAW)
		return ksk_errinfo_set(f->ei, KSK_ELIMIT, "a block of %zu raw bytes is over the cap", rlen);
	KSK_TRY(sgf_compress_with(f, f->lcctx, raw, rlen));
	uint64_t off = f->off;
	uint32_t crc = ksk_crc32(0, f->z.data, f->z.len);
	KSK_TRY(sgf_write(f, f->z.data, f->z.len));
	return sgf_block_entry(f, table, off, f->z.len, rlen, crc, count, range);
}

static ksk_err sgf_flush_log_block(sgw_fin *f, uint64_t base, uint64_t last)
{
	uint32_t n = (uint32_t)(f->loff.len / 4);
	if (n == 0)
		return KSK_OK;
	ksk_buf_clear(&f->blk);
	uint8_t h[SG_LBLOCK_HDR];
	ksk_put_le32(h, n);
	ksk_put_le64(h + 4, base);
	col__seg_put_raw(&f->blk, h, sizeof(h));
	col__seg_put_raw(&f->blk, f->loff.data, f->loff.len);
	col__seg_put_raw(&f->blk, f->rec.data, f->rec.len);
	KSK_TRY(f->blk.err);
	uint64_t range[2] = {base, last};
	KSK_TRY(sgf_put_block(f, &f->sec[SEC_LOGBLOCKS], f->blk.data, f->blk.len, n, range));
	f->n_lblocks++;
	ksk_buf_clear(&f->rec);
	ksk_buf_clear(&f->loff);
	return KSK_OK;
}

/* Log blocks: every log, in time order. */
static ksk_err sgf_logs(sgw_fin *f)
{
	col_segw *w = f->w;
	sg_enc e;
	e.tscale = 0;
	sg_enc_reset(&e);
	for (int k = 0; k < SG_NSTREAMS; k++)
		e.st[k] = &f->rec;
	uint64_t base = 0, last = 0;
	for (size_t i = 0; i < w->n_logs; i++) {
		const sgw_lrow *lr = &w->lrows[f->lt[i].idx];
		ksk_log lg;
		sg_dec d;
		sg_rd rd;
		sg_log_head h;
		ksk_arena_reset(w->tmp);
		sgf_row_dec(f, lr->off, &d, &rd);
		col__seg_dec_log_head(&d, &h, 0);
		col__seg_dec_log_rest(&d, &h, lr->tid, &lg);
		if (d.bad)
			return sgf_row_err(f, &d);
		lg.resource = h.res;
		const ksk_log *l = &lg;
		uint64_t t = f->lt[i].t;
		if (f->loff.len == 0)
			base = t;
		uint8_t o[4];
		ksk_put_le32(o, (uint32_t)f->rec.len);
		col__seg_put_raw(&f->loff, o, 4);
		f->log_pos[f->lt[i].idx].blk = f->n_lblocks;
		f->log_pos[f->lt[i].idx].idx = (uint32_t)(f->loff.len / 4 - 1);
		col__seg_enc_log(&e, l, base, t, l->resource, f->log_ord[f->lt[i].idx]);
		last = t;
		KSK_TRY(f->rec.err);
		KSK_TRY(f->loff.err);
		if (f->rec.len >= w->log_block_bytes)
			KSK_TRY(sgf_flush_log_block(f, base, last));
	}
	return sgf_flush_log_block(f, base, last);
}

static ksk_err sgf_flush_trace_block(sgw_fin *f)
{
	if (f->blk_traces == 0)
		return KSK_OK;
	/* Each part (count + headers, then each stream) is its own zstd frame,
	 * concatenated: one entropy table per kind of data compresses better
	 * than one frame over all of them, and zstd decompresses concatenated
	 * frames in one call. */
	ksk_buf_clear(&f->blk);
	col__seg_put_varint(&f->blk, f->blk_traces);
	col__seg_put_raw(&f->blk, f->thdr.data, f->thdr.len);
	KSK_TRY(f->blk.err);
	size_t rlen = f->blk.len;
	KSK_TRY(sgf_compress(f, f->blk.data, f->blk.len));
	ksk_buf_clear(&f->blk);
	col__seg_put_raw(&f->blk, f->z.data, f->z.len);
	for (int k = 0; k < SG_NSTREAMS; k++) {
		if (f->ts[k].len == 0)
			continue;
		rlen += f->ts[k].len;
		KSK_TRY(sgf_compress(f, f->ts[k].data, f->ts[k].len));
		col__seg_put_raw(&f->blk, f->z.data, f->z.len);
	}
	KSK_TRY(f->blk.err);
	if (rlen > SG_MAX_RAW)
		return ksk_errinfo_set(f->ei, KSK_ELIMIT, "a block of %zu raw bytes is over the cap", rlen);
	uint64_t off = f->off;
	uint32_t crc = ksk_crc32(0, f->blk.data, f->blk.len);
	KSK_TRY(sgf_write(f, f->blk.data, f->blk.len));
	KSK_TRY(sgf_block_entry(f, &f->sec[SEC_BLOCKS], off, f->blk.len, rlen, crc, f->blk_traces,
	                        NULL));
	f->n_blocks++;
	f->blk_traces = 0;
	ksk_buf_clear(&f->blk);
	ksk_buf_clear(&f->thdr);
	for (int k = 0; k < SG_NSTREAMS; k++)
		ksk_buf_clear(&f->ts[k]);
	return KSK_OK;
}

static bool sgf_items_room(sgw_fin *f, size_t need)
{
	return ksk_grow(f->alloc, (void **)&f->items, &f->cap_items, need, sizeof(*f->items),
	                1024);
}

static bool sgf_scratch_room(sgw_fin *f, size_t need)
{
	return ksk_grow(f->alloc, (void **)&f->scratch, &f->cap_scratch, need,
	                sizeof(*f->scratch), 1024);
}

/* Summary bloom items of attributes: "a:K=V" for scalars, "d:K" else. */
static size_t sgf_attr_items(sgw_fin *f, uint64_t *items, size_t n, const ksk_attr *a,
                             uint32_t na, ksk_str skip)
{
	char buf[32];
	for (uint32_t i = 0; i < na; i++) {
		if (skip.len && a[i].value.type == KSK_VAL_STR && a[i].value.u.s.ptr == skip.ptr &&
		    ksk_str_eq(a[i].key, KSK_STR("service.name"))) {
			skip.len = 0; /* the resource's service: exact in the service list */
			continue;
		}
		const char *txt;
		int len = col__seg_value_text(&a[i].value, buf, &txt);
		if (len >= 0) {
			items[n++] = col__seg_item_attr(a[i].key, txt, (size_t)len);
			continue;
		}
		items[n++] = col__seg_item_attr_key(a[i].key);
		/* remember the key: searches test "d:KEY" only for such keys */
		bool added;
		uint32_t v = sg_map_get(&f->dkeymap, sg_istr_of(a[i].key)->ord, 0,
		                        (uint32_t)f->n_dkeys, &added);
		if (v == UINT32_MAX) {
			f->dkey_err = true;
			continue;
		}
		if (added) {
			if (f->n_dkeys == f->cap_dkeys) {
				size_t nc = f->cap_dkeys ? f->cap_dkeys * 2 : 16;
				ksk_str *p = ksk_realloc(f->alloc, f->dkeys, nc * sizeof(ksk_str));
				if (!p) {
					f->dkey_err = true;
					continue;
				}
				f->dkeys = p;
				f->cap_dkeys = nc;
			}
			f->dkeys[f->n_dkeys++] = a[i].key;
		}
	}
	return n;
}

typedef struct sgw_pid {
	uint64_t id;   /* span ID bytes as a number */
	uint32_t idx;  /* span index in the trace */
} sgw_pid;

static int sgw_cmp_pid(const void *a, const void *b)
{
	const sgw_pid *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* One trace: its record, index entry, summary, operations and edges. */
/* The log references of trace `t` into the block's SG_S_LOGREF stream. */
static void sgf_logrefs(sgw_fin *f, const sgw_trace *t)
{
	int64_t prev = 0;
	for (uint32_t j = t->l_lo; j < t->l_hi; j++) {
		/* keys are in trace order, their logs in time order: each
		 * lookup is a cache miss, so fetch the one SG_PREFETCH ahead
		 * (it may belong to a later trace) */
		if (j + SG_PREFETCH < f->n_lk)
			__builtin_prefetch(&f->log_pos[f->lk[j + SG_PREFETCH].idx]);
		const sgw_lpos *lp = &f->log_pos[f->lk[j].idx];
		col__seg_put_varint(&f->ts[SG_S_LOGREF], sg_zigzag((int64_t)lp->blk - prev));
		col__seg_put_varint(&f->ts[SG_S_LOGREF], lp->idx);
		prev = lp->blk;
	}
}

/* The index entry of the trace just added to the block. */
static ksk_err sgf_index_entry(sgw_fin *f, const sgw_trace *t)
{
	uint8_t ie[SG_INDEX_ENT];
	memcpy(ie, t->tid, 16);
	ksk_put_le32(ie + 16, f->n_blocks);
	ksk_put_le32(ie + 20, f->blk_traces);
	KSK_TRY(ksk_buf_append(&f->sec[SEC_INDEX], ie, sizeof(ie)));
	f->blk_traces++;
	return KSK_OK;
}

/* A trace of logs only (a trace ID seen on log lines, no span: the common
 * case for unsampled requests): the same bytes sgf_trace would write for
 * it (a header of zeros but for the log reference count and the length of
 * its SG_S_LOGREF stream), without the span machinery. */
static ksk_err sgf_trace_logs_only(sgw_fin *f, const sgw_trace *t)
{
	size_t before = f->ts[SG_S_LOGREF].len;
	sgf_logrefs(f, t);
	KSK_TRY(f->ts[SG_S_LOGREF].err);
	uint8_t h[4 + SG_NSTREAMS + 2 * 10], *p = h;
	uint64_t nref = t->l_hi - t->l_lo, rlen = f->ts[SG_S_LOGREF].len - before;
	*p++ = 0; /* spans */
	for (; nref >= 0x80; nref >>= 7)
		*p++ = (uint8_t)(nref | 0x80);
	*p++ = (uint8_t)nref;
	*p++ = 0; /* base */
	*p++ = 0; /* time exponent */
	/* what the block's size counts, as in sgf_trace: the header up to
	 * here plus every stream */
	size_t bytes = f->thdr.len + (size_t)(p - h);
	for (int k = 0; k < SG_NSTREAMS; k++)
		bytes += f->ts[k].len;
	for (int k = 0; k < SG_NSTREAMS; k++) {
		if (k != SG_S_LOGREF) {
			*p++ = 0;
			continue;
		}
		for (; rlen >= 0x80; rlen >>= 7)
			*p++ = (uint8_t)(rlen | 0x80);
		*p++ = (uint8_t)rlen;
	}
	KSK_TRY(ksk_buf_append(&f->thdr, h, (size_t)(p - h)));
	KSK_TRY(sgf_index_entry(f, t));
	if (bytes >= f->w->block_bytes)
		return sgf_flush_trace_block(f);
	return KSK_OK;
}

static ksk_err sgf_trace(sgw_fin *f, uint32_t ord, sgw_pid **pids, size_t *cap_pids)
{
	col_segw *w = f->w;
	const sgw_trace *t = &f->tr[ord];
	uint32_t n = t->s_hi - t->s_lo;
	if (n == 0)
		return sgf_trace_logs_only(f, t);
	const sgw_skey *sk = f->sk + t->s_lo;
	uint64_t base = n ? w->srows[sk[0].idx].start : 0;

	/* the trace's spans, decoded from their rows in (start, add) order */
	ksk_arena_reset(w->tmp);
	static const uint64_t p10[10] = {1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull,
	                                 1000000ull, 10000000ull, 100000000ull, 1000000000ull};
	unsigned texp = 9; /* the largest 10^texp dividing every time of the trace */
	ksk_span *sp = ksk_arena_alloc(w->tmp, ((size_t)n + 1) * sizeof(ksk_span));
	if (!sp)
		return KSK_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		sg_dec d;
		sg_rd rd;
		uint32_t pp;
		sgf_row_dec(f, w->srows[sk[i].idx].off, &d, &rd);
		col__seg_dec_span(&d, &sp[i], t->tid, 0, 0, &pp, NULL, 0);
		if (d.bad)
			return sgf_row_err(f, &d);
		while (texp && (sp[i].start_ns % p10[texp] || sp[i].end_ns % p10[texp]))
			texp--;
		for (uint32_t j = 0; j < sp[i].n_events && texp; j++)
			while (texp && sp[i].events[j].time_ns % p10[texp])
				texp--;
	}
	if (n == 0)
		texp = 0;

	/* parent lookup by span ID */
	if (n > *cap_pids) {
		sgw_pid *p = ksk_realloc(f->alloc, *pids, (size_t)n * 2 * sizeof(sgw_pid));
		if (!p)
			return KSK_ENOMEM;
		*pids = p;
		*cap_pids = (size_t)n * 2;
	}
	for (uint32_t i = 0; i < n; i++) {
		memcpy(&(*pids)[i].id, sp[i].span_id, 8);
		(*pids)[i].idx = i;
	}
	sg_qsort(*pids, n, sizeof(sgw_pid), sgw_cmp_pid);
	if (!sgf_scratch_room(f, (size_t)n * 2 + 1))
		return KSK_ENOMEM;
	uint32_t *par = f->scratch, *svc = f->scratch + n;

	sg_enc e;
	e.tscale = p10[texp];
	sg_enc_reset(&e);
	size_t before[SG_NSTREAMS];
	for (int k = 0; k < SG_NSTREAMS; k++) {
		before[k] = f->ts[k].len;
		e.st[k] = &f->ts[k];
	}
	uint32_t root = UINT32_MAX, errors = 0;
	uint64_t end = base;
	for (uint32_t i = 0; i < n; i++) {
		const ksk_span *s = &sp[i];
		par[i] = SG_PARENT_NONE;
		if (s->has_parent) {
			sgw_pid key;
			memcpy(&key.id, s->parent_id, 8);
			const sgw_pid *hit = bsearch(&key, *pids, n, sizeof(sgw_pid), sgw_cmp_pid);
			par[i] = hit ? hit->idx : SG_PARENT_EXT;
		} else if (root == UINT32_MAX)
			root = i;
		svc[i] = f->res_svc[s->resource];
		if (s->end_ns > end)
			end = s->end_ns;
		if (s->status == KSK_STATUS_ERROR)
			errors++;
		col__seg_enc_span(&e, s, base, par[i], n, s->resource,
		            par[i] < i ? &sp[par[i]] : NULL);
	}
	if (root == UINT32_MAX)
		root = 0; /* no root span: the earliest span stands in */
	sgf_logrefs(f, t);
	for (int k = 0; k < SG_NSTREAMS; k++)
		KSK_TRY(f->ts[k].err);

	/* the record's header; its streams are already in the block's */
	col__seg_put_varint(&f->thdr, n);
	col__seg_put_varint(&f->thdr, t->l_hi - t->l_lo);
	col__seg_put_varint(&f->thdr, base);
	col__seg_put_varint(&f->thdr, texp);
	size_t bytes = f->thdr.len;
	for (int k = 0; k < SG_NSTREAMS; k++) {
		col__seg_put_varint(&f->thdr, f->ts[k].len - before[k]);
		bytes += f->ts[k].len;
	}
	KSK_TRY(f->thdr.err);
	KSK_TRY(sgf_index_entry(f, t));

	if (n == 0)
		goto flush;

	/* operations, edges, bloom items */
	size_t cap = (size_t)n * 2;
	for (uint32_t i = 0; i < n; i++)
		cap += sp[i].n_attrs;
	if (!sgf_items_room(f, cap))
		return KSK_ENOMEM;
	size_t ni = 0;
	uint32_t root_op = 0;
	for (uint32_t i = 0; i < n; i++) {
		const ksk_span *s = &sp[i];
		uint64_t nord = s->name.len ? sg_istr_of(s->name)->ord : UINT64_MAX >> 8;
		bool added;
		uint32_t op = sg_map_get(&f->opmap, svc[i], (nord << 3) | (uint64_t)s->kind,
		                         (uint32_t)f->n_ops, &added);
		if (op == UINT32_MAX)
			return KSK_ENOMEM;
		if (added) {
			if (!sgw_grow(w, (void **)&f->ops, &f->cap_ops, f->n_ops + 1, sizeof(sgw_op)))
				return KSK_ENOMEM;
			f->ops[f->n_ops] = (sgw_op){svc[i], s->name, (uint8_t)s->kind, 0};
			f->n_ops++;
		}
		if (i == root)
			root_op = op;
		f->items[ni++] = col__seg_item_op(f->svcs[svc[i]], s->name, (int)s->kind);
		ni = sgf_attr_items(f, f->items, ni, s->attrs, s->n_attrs, (ksk_str){NULL, 0});
		if (par[i] < n && svc[par[i]] != svc[i]) {
			uint64_t minute = s->start_ns / SG_MINUTE_NS;
			uint32_t ei = sg_map_get(&f->edgemap, minute,
			                         (uint64_t)svc[par[i]] << 32 | svc[i],
			                         (uint32_t)f->n_edges, &added);
			if (ei == UINT32_MAX)
				return KSK_ENOMEM;
			if (added) {
				if (!sgw_grow(w, (void **)&f->edges, &f->cap_edges, f->n_edges + 1,
				              sizeof(sgw_edge)))
					return KSK_ENOMEM;
				f->edges[f->n_edges] = (sgw_edge){minute, svc[par[i]], svc[i], 0, 0, 0};
				f->n_edges++;
			}
			f->edges[ei].calls++;
			f->edges[ei].errors += s->status == KSK_STATUS_ERROR;
			f->edges[ei].dur += s->end_ns - s->start_ns;
		}
	}
	/* resources of the trace: distinct ones, their attributes as items */
	{
		uint32_t *rs = par; /* parents are no longer needed */
		for (uint32_t i = 0; i < n; i++)
			rs[i] = sp[i].resource;
		sg_qsort(rs, n, sizeof(uint32_t), sgw_cmp_u32);
		for (uint32_t i = 0; i < n; i++) {
			if (i && rs[i] == rs[i - 1])
				continue;
			const ksk_resource *r = &w->res[rs[i]].r;
			if (!sgf_items_room(f, ni + r->n_attrs))
				return KSK_ENOMEM;
			ni = sgf_attr_items(f, f->items, ni, r->attrs, r->n_attrs, r->service);
		}
	}
	sg_qsort(f->items, ni, 8, sgw_cmp_u64);
	size_t nu = 0;
	for (size_t i = 0; i < ni; i++)
		if (nu == 0 || f->items[nu - 1] != f->items[i])
			f->items[nu++] = f->items[i];
	uint64_t bits = (uint64_t)nu * w->sum_bpi;
	uint32_t words = (uint32_t)((bits + 63) / 64);
	if (words == 0)
		words = 1;
	size_t boff = f->sec[SEC_SUMBLOOM].len;
	KSK_TRY(ksk_buf_reserve(&f->sec[SEC_SUMBLOOM], (size_t)words * 8));
	uint8_t *bb = f->sec[SEC_SUMBLOOM].data + boff;
	memset(bb, 0, (size_t)words * 8);
	f->sec[SEC_SUMBLOOM].len += (size_t)words * 8;
	for (size_t i = 0; i < nu; i++)
		col__seg_bloom_add(bb, words, f->items[i]);

	/* distinct services, delta-coded */
	sg_qsort(svc, n, sizeof(uint32_t), sgw_cmp_u32);
	size_t soff = f->sec[SEC_SUMSVC].len;
	uint32_t nsv = 0, prevs = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (i && svc[i] == svc[i - 1])
			continue;
		col__seg_put_varint(&f->sec[SEC_SUMSVC], svc[i] - prevs);
		prevs = svc[i];
		nsv++;
	}
	KSK_TRY(f->sec[SEC_SUMSVC].err);
	if (soff > UINT32_MAX || boff / 8 > UINT32_MAX)
		return KSK_ELIMIT;
	sgw_sum *sm = &f->sums[f->n_sums++];
	*sm = (sgw_sum){ord, n, base, end, errors, t->l_hi - t->l_lo, root_op,
	                (uint32_t)soff, nsv, (uint32_t)(boff / 8), words};
flush:
	if (bytes >= w->block_bytes)
		return sgf_flush_trace_block(f);
	return KSK_OK;
}

static int sgw_cmp_sum(const void *a, const void *b)
{
	const sgw_sum *x = a, *y = b;
	if (x->start != y->start)
		return x->start > y->start ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static int sgw_cmp_op(const void *a, const void *b)
{
	const sgw_op *x = *(const sgw_op *const *)a, *y = *(const sgw_op *const *)b;
	if (x->svc != y->svc)
		return x->svc < y->svc ? -1 : 1;
	int c = sgw_cmp_str(x->name, y->name);
	if (c)
		return c;
	return x->kind < y->kind ? -1 : x->kind > y->kind;
}

static int sgw_cmp_edge(const void *a, const void *b)
{
	const sgw_edge *x = a, *y = b;
	if (x->minute != y->minute)
		return x->minute < y->minute ? -1 : 1;
	if (x->p != y->p)
		return x->p < y->p ? -1 : 1;
	return x->c < y->c ? -1 : x->c > y->c;
}

/* Tables built after the traces: summaries, operations, edges, filter,
 * keys. */
static ksk_err sgf_tables(sgw_fin *f)
{
	col_segw *w = f->w;
	/* services, then the keys seen with non-scalar values, sorted */
	if (f->dkey_err)
		return KSK_ENOMEM;
	ksk_buf *vb = &f->sec[SEC_SVCS];
	col__seg_put_varint(vb, f->n_svc);
	for (uint32_t i = 0; i < f->n_svc; i++) {
		col__seg_put_varint(vb, f->svcs[i].len);
		col__seg_put_raw(vb, f->svcs[i].ptr, f->svcs[i].len);
	}
	sg_qsort(f->dkeys, f->n_dkeys, sizeof(ksk_str), sgw_cmp_kstr);
	col__seg_put_varint(vb, f->n_dkeys);
	for (size_t i = 0; i < f->n_dkeys; i++) {
		col__seg_put_varint(vb, f->dkeys[i].len);
		col__seg_put_raw(vb, f->dkeys[i].ptr, f->dkeys[i].len);
	}
	KSK_TRY(vb->err);

	/* operations, sorted; remap the summaries' provisional ids */
	sgw_op **ov = ksk_malloc(f->alloc, (f->n_ops ? f->n_ops : 1) * sizeof(*ov));
	if (!ov)
		return KSK_ENOMEM;
	for (size_t i = 0; i < f->n_ops; i++)
		ov[i] = &f->ops[i];
	sg_qsort(ov, f->n_ops, sizeof(*ov), sgw_cmp_op);
	ksk_buf *ob = &f->sec[SEC_OPS];
	col__seg_put_varint(ob, f->n_ops);
	for (size_t i = 0; i < f->n_ops; i++) {
		ov[i]->final = (uint32_t)i;
		col__seg_put_varint(ob, ov[i]->svc);
		col__seg_put_u8(ob, ov[i]->kind);
		col__seg_put_varint(ob, ov[i]->name.len);
		col__seg_put_raw(ob, ov[i]->name.ptr, ov[i]->name.len);
	}
	ksk_free(f->alloc, ov);
	KSK_TRY(ob->err);

	sg_qsort(f->sums, f->n_sums, sizeof(sgw_sum), sgw_cmp_sum);
	ksk_buf *sb = &f->sec[SEC_SUMS];
	KSK_TRY(ksk_buf_reserve(sb, f->n_sums * SG_SUM_ENT));
	for (size_t i = 0; i < f->n_sums; i++) {
		const sgw_sum *s = &f->sums[i];
		uint8_t r[SG_SUM_ENT];
		ksk_put_le32(r, s->ord);
		ksk_put_le32(r + 4, s->spans);
		ksk_put_le64(r + 8, s->start);
		ksk_put_le64(r + 16, s->end);
		ksk_put_le32(r + 24, s->errors);
		ksk_put_le32(r + 28, s->logs);
		ksk_put_le32(r + 32, f->ops[s->root_op].final);
		ksk_put_le32(r + 36, s->svc_off);
		ksk_put_le32(r + 40, s->n_svc);
		ksk_put_le32(r + 44, s->bloom_off);
		ksk_put_le32(r + 48, s->bloom_words);
		ksk_put_le32(r + 52, 0);
		col__seg_put_raw(sb, r, sizeof(r));
	}

	sg_qsort(f->edges, f->n_edges, sizeof(sgw_edge), sgw_cmp_edge);
	ksk_buf *eb = &f->sec[SEC_EDGES];
	col__seg_put_varint(eb, f->n_edges);
	for (size_t i = 0; i < f->n_edges; i++) {
		const sgw_edge *x = &f->edges[i];
		col__seg_put_varint(eb, x->minute);
		col__seg_put_varint(eb, x->p);
		col__seg_put_varint(eb, x->c);
		col__seg_put_varint(eb, x->calls);
		col__seg_put_varint(eb, x->errors);
		col__seg_put_varint(eb, x->dur);
	}
	KSK_TRY(eb->err);

	/* trace-ID filter */
	uint64_t blocks = ((uint64_t)f->n_tr * SG_TF_BITS_PER_KEY + 511) / 512;
	if (blocks == 0 && f->n_tr)
		blocks = 1;
	ksk_buf *fb = &f->sec[SEC_FILTER];
	if (blocks) {
		KSK_TRY(ksk_buf_reserve(fb, blocks * 64));
		memset(fb->data, 0, blocks * 64);
		fb->len = blocks * 64;
	}
	for (size_t i = 0; i < f->n_tr; i++)
		col__seg_tfilter_add(fb->data, (uint32_t)blocks, col__seg_trace_hash(f->tr[i].tid));

	if (w->n_keys)
		KSK_TRY(ksk_buf_append(&f->sec[SEC_KEYS], w->keys, w->n_keys * SG_KEY_ENT));
	return KSK_OK;
}

static const bool sg_sec_zstd[SG_NSEC] = {
	[SEC_DICT] = true, [SEC_RES] = true, [SEC_SVCS] = true,
	[SEC_OPS] = true,  [SEC_EDGES] = true,
};

/* Writes the sections and the footer. */
static ksk_err sgf_sections(sgw_fin *f, uint64_t created_ns)
{
	col_segw *w = f->w;
	uint8_t foot[SG_FOOTER_LEN];
	memset(foot, 0, sizeof(foot));
	memcpy(foot, SG_FOOT_MAGIC, 8);
	ksk_put_le32(foot + 8, SG_VERSION);
	ksk_put_le32(foot + 12, SG_FOOTER_LEN);
	ksk_put_le64(foot + 16, w->n_spans);
	ksk_put_le64(foot + 24, w->n_logs);
	ksk_put_le64(foot + 32, f->n_tr);
	ksk_put_le64(foot + 40, f->n_sums);
	ksk_put_le64(foot + 48, w->n_keys);
	ksk_put_le64(foot + 56, f->min_ns);
	ksk_put_le64(foot + 64, f->max_ns);
	ksk_put_le64(foot + 72, created_ns);
	ksk_put_le32(foot + 80, SG_NSEC);
	ksk_put_le32(foot + 84, 0);
	for (int i = 0; i < SG_NSEC; i++) {
		ksk_buf *b = &f->sec[i];
		KSK_TRY(b->err);
		const uint8_t *p = b->data;
		size_t len = b->len;
		uint32_t flags = 0;
		if (sg_sec_zstd[i]) {
			KSK_TRY(sgf_compress(f, b->data, b->len));
			p = f->z.data;
			len = f->z.len;
			flags = SG_SEC_ZSTD;
		}
		uint8_t *e = foot + SG_FOOT_FIXED + (size_t)i * SG_SEC_ENT;
		ksk_put_le64(e, f->off);
		ksk_put_le64(e + 8, len);
		ksk_put_le64(e + 16, b->len);
		ksk_put_le32(e + 24, ksk_crc32(0, p, len));
		ksk_put_le32(e + 28, flags);
		KSK_TRY(sgf_write(f, p, len));
	}
	ksk_put_le32(foot + SG_FOOTER_LEN - 4, ksk_crc32(0, foot, SG_FOOTER_LEN - 4));
	KSK_TRY(sgf_write(f, foot, sizeof(foot)));
	return sgf_flush(f);
}

static void sgf_fini(sgw_fin *f)
{
	const ksk_alloc *a = f->alloc;
	ksk_buf_fini(&f->out);
	ksk_buf_fini(&f->z);
	for (int i = 0; i < SG_NSEC; i++)
		ksk_buf_fini(&f->sec[i]);
	for (int i = 0; i < SG_NSTREAMS; i++)
		ksk_buf_fini(&f->ts[i]);
	ksk_buf_fini(&f->blk);
	ksk_buf_fini(&f->thdr);
	ksk_buf_fini(&f->rec);
	ksk_buf_fini(&f->loff);
	ZSTD_freeCCtx(f->cctx);
	ZSTD_freeCCtx(f->lcctx);
	ksk_free(a, f->res_svc);
	ksk_free(a, f->svcs);
	ksk_free(a, f->sk);
	ksk_free(a, f->lk);
	ksk_free(a, f->lt);
	ksk_free(a, f->tr);
	ksk_free(a, f->log_ord);
	ksk_free(a, f->log_pos);
	sg_map_fini(&f->opmap);
	sg_map_fini(&f->edgemap);
	sg_map_fini(&f->dkeymap);
	ksk_free(a, f->dkeys);
	ksk_free(a, f->ops);
	ksk_free(a, f->edges);
	ksk_free(a, f->sums);
	ksk_free(a, f->items);
	ksk_free(a, f->scratch);
	ksk_free(a, f->ostr);
}

static void *sg_zstd_alloc(void *opaque, size_t n)
{
	return ksk_malloc(opaque, n);
}

static void sg_zstd_free(void *opaque, void *p)
{
	ksk_free(opaque, p);
}

static ZSTD_customMem sg_zstd_mem(const ksk_alloc *a)
{
	ZSTD_customMem m = {sg_zstd_alloc, sg_zstd_free, (void *)(uintptr_t)a};
	return m;
}

/* Writes everything after the file is open. */
static ksk_err sgf_run(sgw_fin *f, uint64_t created_ns)
{
	col_segw *w = f->w;
	f->cctx = ZSTD_createCCtx_advanced(sg_zstd_mem(f->alloc));
	f->lcctx = ZSTD_createCCtx_advanced(sg_zstd_mem(f->alloc));
	if (!f->cctx || !f->lcctx)
		return KSK_ENOMEM;
	if (ZSTD_isError(ZSTD_CCtx_setParameter(f->cctx, ZSTD_c_compressionLevel, w->level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(f->cctx, ZSTD_c_contentSizeFlag, 1)))
		return ksk_errinfo_set(f->ei, KSK_EINVAL, "bad zstd level %d", w->level);
	if (ZSTD_isError(ZSTD_CCtx_setParameter(f->lcctx, ZSTD_c_compressionLevel, w->log_level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(f->lcctx, ZSTD_c_contentSizeFlag, 1)))
		return ksk_errinfo_set(f->ei, KSK_EINVAL, "bad zstd level %d", w->log_level);
	uint8_t head[SG_HEAD_LEN];
	memcpy(head, SG_HEAD_MAGIC, 8);
	ksk_put_le32(head + 8, SG_VERSION);
	ksk_put_le32(head + 12, 0);
	KSK_TRY(sgf_write(f, head, sizeof(head)));
	KSK_TRY(sgf_dict(f));
	KSK_TRY(sgf_resources(f));
	KSK_TRY(sgf_group(f));
	f->sums = ksk_malloc(f->alloc, (f->n_tr ? f->n_tr : 1) * sizeof(sgw_sum));
	if (!f->sums)
		return KSK_ENOMEM;
	KSK_TRY(sgf_logs(f));
	sgw_pid *pids = NULL;
	size_t cap_pids = 0;
	ksk_err rc = KSK_OK;
	for (size_t i = 0; i < f->n_tr && rc == KSK_OK; i++)
		rc = sgf_trace(f, (uint32_t)i, &pids, &cap_pids);
	ksk_free(f->alloc, pids);
	KSK_TRY(rc);
	KSK_TRY(sgf_flush_trace_block(f));
	KSK_TRY(sgf_tables(f));
	return sgf_sections(f, created_ns);
}

static ksk_err sg_fsync_dir(const char *path, ksk_errinfo *ei)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ksk_errinfo_sys(ei, KSK_ESYS, errno, "open directory %s", dir);
	int r = fsync(fd);
	int e = errno;
	close(fd);
	if (r != 0)
		return ksk_errinfo_sys(ei, KSK_EIO, e, "fsync directory %s", dir);
	return KSK_OK;
}

ksk_err col_segw_finish(col_segw *w, const char *path, uint64_t created_ns,
                        col_seg_info *info, ksk_errinfo *ei)
{
	if (w->err)
		return ksk_errinfo_set(ei, w->err, "segment writer failed earlier: %s",
		                       ksk_strerror(w->err));
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return ksk_errinfo_set(ei, KSK_EINVAL, "segment path too long");
	sgw_fin f;
	memset(&f, 0, sizeof(f));
	f.w = w;
	f.alloc = w->alloc;
	f.ei = ei;
	ksk_buf_init(&f.out, w->alloc, 0);
	ksk_buf_init(&f.z, w->alloc, 0);
	for (int i = 0; i < SG_NSEC; i++)
		ksk_buf_init(&f.sec[i], w->alloc, 0);
	for (int i = 0; i < SG_NSTREAMS; i++)
		ksk_buf_init(&f.ts[i], w->alloc, 0);
	ksk_buf_init(&f.blk, w->alloc, 0);
	ksk_buf_init(&f.thdr, w->alloc, 0);
	ksk_buf_init(&f.rec, w->alloc, 0);
	ksk_buf_init(&f.loff, w->alloc, 0);
	f.opmap.alloc = f.edgemap.alloc = f.dkeymap.alloc = w->alloc;
	f.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (f.fd < 0) {
		sgf_fini(&f);
		return ksk_errinfo_sys(ei, KSK_ESYS, errno, "create %s", tmp);
	}
	ksk_errinfo_clear(ei);
	ksk_err rc = sgf_run(&f, created_ns);
	if (rc == KSK_OK && fsync(f.fd) != 0)
		rc = ksk_errinfo_sys(ei, KSK_EIO, errno, "fsync %s", tmp);
	if (close(f.fd) != 0 && rc == KSK_OK)
		rc = ksk_errinfo_sys(ei, KSK_EIO, errno, "close %s", tmp);
	if (rc == KSK_OK && rename(tmp, path) != 0)
		rc = ksk_errinfo_sys(ei, KSK_ESYS, errno, "rename %s", tmp);
	if (rc == KSK_OK)
		rc = sg_fsync_dir(path, ei);
	if (rc != KSK_OK) {
		unlink(tmp);
		if (ei && ei->code == KSK_OK)
			ksk_errinfo_set(ei, rc, "sealing %s: %s", path, ksk_strerror(rc));
	} else if (info) {
		info->min_ns = f.min_ns;
		info->max_ns = f.max_ns;
		info->spans = w->n_spans;
		info->logs = w->n_logs;
		info->traces = f.n_tr;
		info->batches = w->n_keys;
		info->file_bytes = f.off;
		info->created_ns = created_ns;
	}
	sgf_fini(&f);
	return rc;
}

/* ========================================================================
 * Reader
 * ======================================================================== */

typedef struct sgr_op {
	uint32_t svc;  /* service index */
	ksk_str name;  /* into ops_raw */
	uint8_t kind;  /* ksk_span_kind */
} sgr_op;

typedef struct sgr_edge {
	uint64_t minute;              /* bucket: start / 60 s */
	uint32_t p, c;                /* parent and child service indexes */
	uint64_t calls, errors, dur;  /* as col_edge */
} sgr_edge;

#define SG_DCTX_POOL 8

struct col_seg {
	const ksk_alloc *alloc;     /* borrowed */
	char *path;                 /* owned copy, for messages */
	int fd;
	const uint8_t *map;         /* whole file, PROT_READ */
	size_t size;
	uint64_t data_end;          /* where the footer starts */
	col_seg_info info;
	col_seg_bytes bytes;
	const uint8_t *sec[SG_NSEC]; /* stored bytes of each section (in map) */
	uint64_t sec_len[SG_NSEC];
	const uint8_t *blocks;      /* SG_BLOCK_ENT each */
	uint32_t n_blocks;
	const uint8_t *index;       /* SG_INDEX_ENT each */
	uint32_t n_index;
	uint8_t *fence;             /* every SG_FENCE_STEP-th trace ID, owned */
	uint32_t n_fence;
	const uint8_t *filter;
	uint32_t filter_blocks;
	const uint8_t *sums;        /* SG_SUM_ENT each */
	uint32_t n_sums;
	const uint8_t *sumsvc;
	uint64_t sumsvc_len;
	const uint8_t *sumbloom;
	uint64_t sumbloom_words;
	const uint8_t *lblocks;     /* SG_LBLOCK_ENT each */
	uint32_t n_lblocks;
	const uint8_t *keys;
	uint32_t n_keys;
	uint8_t *dict_raw;          /* owned: decompressed dictionary */
	uint32_t *dict_off;         /* owned */
	sg_dict dict;
	uint8_t *res_raw;           /* owned: decompressed resources */
	size_t res_len;
	uint32_t *res_off;          /* owned: record offsets */
	uint32_t *res_svc;          /* owned */
	ksk_str *res_host;          /* owned array; strings in dict/res_raw */
	uint32_t n_res;
	ksk_arena *meta;            /* owned: resource decode at open */
	uint8_t *svc_raw;           /* owned */
	ksk_str *svcs;              /* owned array, sorted */
	uint32_t n_svc;
	ksk_str *dkeys;             /* owned array, sorted: keys with non-scalar values */
	uint32_t n_dkeys;
	uint8_t *ops_raw;           /* owned */
	sgr_op *ops;                /* owned */
	uint32_t n_ops;
	sgr_edge *edges;            /* owned */
	uint32_t n_edges;
	pthread_mutex_t pool_mu;    /* guards pool and n_pool */
	ZSTD_DCtx *pool[SG_DCTX_POOL]; /* idle decompression contexts */
	int n_pool;
};

static ksk_err sgr_corrupt(ksk_errinfo *ei, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static ksk_err sgr_corrupt(ksk_errinfo *ei, const char *path, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ksk_errinfo_set(ei, KSK_ECORRUPT, "segment %s: %s", path ? path : "?", msg);
}

const col_seg_info *col_seg_info_get(const col_seg *s)
{
	return &s->info;
}

void col_seg_bytes_get(const col_seg *s, col_seg_bytes *out)
{
	*out = s->bytes;
}

static ZSTD_DCtx *sgr_dctx_get(const col_seg *cs)
{
	col_seg *s = (col_seg *)(uintptr_t)cs; /* the pool is the one mutable part */
	ZSTD_DCtx *d = NULL;
	pthread_mutex_lock(&s->pool_mu);
	if (s->n_pool > 0)
		d = s->pool[--s->n_pool];
	pthread_mutex_unlock(&s->pool_mu);
	if (!d)
		d = ZSTD_createDCtx_advanced(sg_zstd_mem(s->alloc));
	return d;
}

static void sgr_dctx_put(const col_seg *cs, ZSTD_DCtx *d)
{
	col_seg *s = (col_seg *)(uintptr_t)cs;
	pthread_mutex_lock(&s->pool_mu);
	if (s->n_pool < SG_DCTX_POOL) {
		s->pool[s->n_pool++] = d;
		d = NULL;
	}
	pthread_mutex_unlock(&s->pool_mu);
	ZSTD_freeDCtx(d);
}

/* Decompresses exactly `rlen` bytes from `src` into `dst`. */
static bool sgr_unzstd(const col_seg *s, uint8_t *dst, size_t rlen, const uint8_t *src,
                       size_t clen, const char **why)
{
	unsigned long long cs = ZSTD_findDecompressedSize(src, clen);
	if (cs == ZSTD_CONTENTSIZE_ERROR || cs == ZSTD_CONTENTSIZE_UNKNOWN || cs != rlen) {
		*why = "zstd frame size does not match";
		return false;
	}
	ZSTD_DCtx *d = sgr_dctx_get(s);
	if (!d) {
		*why = NULL; /* out of memory, not corruption */
		return false;
	}
	size_t r = ZSTD_decompressDCtx(d, dst, rlen, src, clen);
	sgr_dctx_put(s, d);
	if (ZSTD_isError(r)) {
		*why = ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? NULL
		                                                            : ZSTD_getErrorName(r);
		return false;
	}
	if (r != rlen) {
		*why = "zstd output shorter than recorded";
		return false;
	}
	return true;
}

void col_seg_close(col_seg *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->n_pool; i++)
		ZSTD_freeDCtx(s->pool[i]);
	pthread_mutex_destroy(&s->pool_mu);
	if (s->map)
		munmap((void *)(uintptr_t)s->map, s->size);
	if (s->fd >= 0)
		close(s->fd);
	const ksk_alloc *a = s->alloc;
	ksk_free(a, s->path);
	ksk_free(a, s->fence);
	ksk_free(a, s->dict_raw);
	ksk_free(a, s->dict_off);
	ksk_free(a, s->res_raw);
	ksk_free(a, s->res_off);
	ksk_free(a, s->res_svc);
	ksk_free(a, s->res_host);
	ksk_arena_destroy(s->meta);
	ksk_free(a, s->svc_raw);
	ksk_free(a, s->svcs);
	ksk_free(a, s->dkeys);
	ksk_free(a, s->ops_raw);
	ksk_free(a, s->ops);
	ksk_free(a, s->edges);
	ksk_free(a, s);
}

/* Loads a compressed table section into an owned buffer. */
static ksk_err sgr_load_table(col_seg *s, int i, const char *path, uint8_t **out,
                              size_t *len, ksk_errinfo *ei)
{
	const uint8_t *e = s->map + s->data_end + SG_FOOT_FIXED + (size_t)i * SG_SEC_ENT;
	uint64_t raw = ksk_get_le64(e + 16);
	uint32_t flags = ksk_get_le32(e + 28);
	if (!(flags & SG_SEC_ZSTD))
		return sgr_corrupt(ei, path, "%s: not compressed as it must be", sg_sec_names[i]);
	if (raw > SG_MAX_RAW || raw > s->sec_len[i] * 4096 + 4096)
		return sgr_corrupt(ei, path, "%s: raw length %llu is implausible", sg_sec_names[i],
		                   (unsigned long long)raw);
	*out = ksk_malloc(s->alloc, raw + 1);
	if (!*out)
		return KSK_ENOMEM;
	const char *why = NULL;
	if (!sgr_unzstd(s, *out, raw, s->sec[i], s->sec_len[i], &why))
		return why ? sgr_corrupt(ei, path, "%s: %s", sg_sec_names[i], why) : KSK_ENOMEM;
	*len = raw;
	return KSK_OK;
}

static bool sgr_rd_str(sg_dec *d, sg_rd *r, ksk_str *out)
{
	uint64_t len = col__seg_get_varint(d, r);
	const uint8_t *p = col__seg_get_raw(d, r, len);
	if (d->bad)
		return false;
	out->ptr = (const char *)p;
	out->len = (uint32_t)len;
	return true;
}

static int sgr_cmp_name(const void *key, const void *el)
{
	return sgw_cmp_str(*(const ksk_str *)key, *(const ksk_str *)el);
}

/* Index of service `name`, or UINT32_MAX. */
static uint32_t sgr_svc_find(const col_seg *s, ksk_str name)
{
	const ksk_str *hit = bsearch(&name, s->svcs, s->n_svc, sizeof(ksk_str), sgr_cmp_name);
	return hit ? (uint32_t)(hit - s->svcs) : UINT32_MAX;
}

/* A count, then that many strings in strictly ascending order (the
 * services and the dictionary keys of a segment). */
static ksk_err sgr_sorted_strs(col_seg *s, sg_dec *d, sg_rd *r, const char *path,
                               const char *what, ksk_str **out, uint32_t *n_out,
                               ksk_errinfo *ei)
{
	uint64_t n = col__seg_get_varint(d, r);
	if (d->bad || n > sg_rd_left(r) || n >= UINT32_MAX)
		return sgr_corrupt(ei, path, "%s: bad count", what);
	*out = ksk_calloc(s->alloc, n ? n : 1, sizeof(ksk_str));
	if (!*out)
		return KSK_ENOMEM;
	for (uint64_t i = 0; i < n; i++) {
		if (!sgr_rd_str(d, r, &(*out)[i]))
			return sgr_corrupt(ei, path, "%s: truncated", what);
		if (i && sgw_cmp_str((*out)[i - 1], (*out)[i]) >= 0)
			return sgr_corrupt(ei, path, "%s: not sorted", what);
	}
	*n_out = (uint32_t)n;
	return KSK_OK;
}

static ksk_err sgr_tables(col_seg *s, const char *path, ksk_errinfo *ei)
{
	size_t len;
	sg_dec d;
	sg_rd r;
	memset(&d, 0, sizeof(d));
	for (int k = 0; k < SG_NSTREAMS; k++)
		d.rs[k] = &r;

	/* dictionary */
	KSK_TRY(sgr_load_table(s, SEC_DICT, path, &s->dict_raw, &len, ei));
	r = (sg_rd){s->dict_raw, s->dict_raw + len};
	uint64_t n = col__seg_get_varint(&d, &r);
	if (d.bad || n > sg_rd_left(&r) || n >= UINT32_MAX)
		return sgr_corrupt(ei, path, "dictionary: bad count");
	s->dict_off = ksk_malloc(s->alloc, (n + 1) * sizeof(uint32_t));
	if (!s->dict_off)
		return KSK_ENOMEM;
	uint64_t total = 0;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t l = col__seg_get_varint(&d, &r);
		if (d.bad || l > UINT32_MAX)
			return sgr_corrupt(ei, path, "dictionary: bad length of string %llu",
			                   (unsigned long long)i);
		s->dict_off[i] = (uint32_t)total;
		total += l;
		if (total > UINT32_MAX)
			return sgr_corrupt(ei, path, "dictionary: too large");
	}
	s->dict_off[n] = (uint32_t)total;
	if (total != sg_rd_left(&r))
		return sgr_corrupt(ei, path, "dictionary: %llu string bytes for %zu present",
		                   (unsigned long long)total, sg_rd_left(&r));
	s->dict.bytes = r.p;
	s->dict.off = s->dict_off;
	s->dict.n = (uint32_t)n;
	d.dict = &s->dict;

	/* services */
	KSK_TRY(sgr_load_table(s, SEC_SVCS, path, &s->svc_raw, &len, ei));
	r = (sg_rd){s->svc_raw, s->svc_raw + len};
	KSK_TRY(sgr_sorted_strs(s, &d, &r, path, "services", &s->svcs, &s->n_svc, ei));
	KSK_TRY(sgr_sorted_strs(s, &d, &r, path, "services: key list", &s->dkeys, &s->n_dkeys,
	                        ei));
	if (sg_rd_left(&r))
		return sgr_corrupt(ei, path, "services: trailing bytes");

	/* resources */
	KSK_TRY(sgr_load_table(s, SEC_RES, path, &s->res_raw, &s->res_len, ei));
	r = (sg_rd){s->res_raw, s->res_raw + s->res_len};
	n = col__seg_get_varint(&d, &r);
	if (d.bad || n > sg_rd_left(&r) || n >= UINT32_MAX)
		return sgr_corrupt(ei, path, "resources: bad count");
	s->res_off = ksk_malloc(s->alloc, (n ? n : 1) * sizeof(uint32_t));
	s->res_svc = ksk_malloc(s->alloc, (n ? n : 1) * sizeof(uint32_t));
	s->res_host = ksk_calloc(s->alloc, n ? n : 1, sizeof(ksk_str));
	if (!s->res_off || !s->res_svc || !s->res_host ||
	    ksk_arena_create(s->alloc, 0, 0, &s->meta) != KSK_OK)
		return KSK_ENOMEM;
	d.a = s->meta;
	for (uint64_t i = 0; i < n; i++) {
		s->res_off[i] = (uint32_t)(r.p - s->res_raw);
		uint64_t sv = col__seg_get_varint(&d, &r);
		sg_dec_reset(&d);
		uint32_t na;
		ksk_attr *at = col__seg_dec_attrs(&d, &na);
		col__seg_get_varint(&d, &r);
		if (d.nomem)
			return KSK_ENOMEM;
		if (d.bad)
			return sgr_corrupt(ei, path, "resource %llu: %s", (unsigned long long)i, d.why);
		if (sv >= s->n_svc)
			return sgr_corrupt(ei, path, "resource %llu: service %llu out of range",
			                   (unsigned long long)i, (unsigned long long)sv);
		s->res_svc[i] = (uint32_t)sv;
		const ksk_attr *h = ksk_attrs_find(at, na, KSK_STR("host.name"));
		if (h && h->value.type == KSK_VAL_STR)
			s->res_host[i] = h->value.u.s;
	}
	s->n_res = (uint32_t)n;

	/* operations */
	KSK_TRY(sgr_load_table(s, SEC_OPS, path, &s->ops_raw, &len, ei));
	r = (sg_rd){s->ops_raw, s->ops_raw + len};
	n = col__seg_get_varint(&d, &r);
	if (d.bad || n > sg_rd_left(&r) || n >= UINT32_MAX)
		return sgr_corrupt(ei, path, "operations: bad count");
	s->ops = ksk_calloc(s->alloc, n ? n : 1, sizeof(sgr_op));
	if (!s->ops)
		return KSK_ENOMEM;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t sv = col__seg_get_varint(&d, &r);
		uint8_t k = col__seg_get_u8(&d, &r);
		if (!sgr_rd_str(&d, &r, &s->ops[i].name) || sv >= s->n_svc || k > KSK_KIND_CONSUMER)
			return sgr_corrupt(ei, path, "operation %llu: bad entry", (unsigned long long)i);
		s->ops[i].svc = (uint32_t)sv;
		s->ops[i].kind = k;
	}
	s->n_ops = (uint32_t)n;

	/* edges */
	uint8_t *eraw = NULL;
	ksk_err rc = sgr_load_table(s, SEC_EDGES, path, &eraw, &len, ei);
	if (rc) {
		ksk_free(s->alloc, eraw);
		return rc;
	}
	r = (sg_rd){eraw, eraw + len};
	n = col__seg_get_varint(&d, &r);
	if (d.bad || n > sg_rd_left(&r) / 6 || n >= UINT32_MAX) {
		ksk_free(s->alloc, eraw);
		return sgr_corrupt(ei, path, "edges: bad count");
	}
	s->edges = ksk_calloc(s->alloc, n ? n : 1, sizeof(sgr_edge));
	if (!s->edges) {
		ksk_free(s->alloc, eraw);
		return KSK_ENOMEM;
	}
	for (uint64_t i = 0; i < n; i++) {
		sgr_edge *x = &s->edges[i];
		x->minute = col__seg_get_varint(&d, &r);
		uint64_t p = col__seg_get_varint(&d, &r), c = col__seg_get_varint(&d, &r);
		x->calls = col__seg_get_varint(&d, &r);
		x->errors = col__seg_get_varint(&d, &r);
		x->dur = col__seg_get_varint(&d, &r);
		if (d.bad || p >= s->n_svc || c >= s->n_svc) {
			ksk_free(s->alloc, eraw);
			return sgr_corrupt(ei, path, "edge %llu: bad entry", (unsigned long long)i);
		}
		x->p = (uint32_t)p;
		x->c = (uint32_t)c;
	}
	s->n_edges = (uint32_t)n;
	ksk_free(s->alloc, eraw);
	return KSK_OK;
}

/* Checks a block table entry; fills off/clen/rlen. */
static bool sgr_block_ok(const col_seg *s, const uint8_t *e, uint64_t *off, uint32_t *clen,
                         uint32_t *rlen)
{
	*off = ksk_get_le64(e);
	*clen = ksk_get_le32(e + 8);
	*rlen = ksk_get_le32(e + 12);
	return *off >= SG_HEAD_LEN && *off <= s->data_end && *clen <= s->data_end - *off &&
	       *rlen <= SG_MAX_RAW && *clen > 0;
}

static ksk_err sgr_verify(col_seg *s, const char *path, ksk_errinfo *ei)
{
	/* block tables */
	uint64_t raw_tb = 0, raw_lb = 0, ctb = 0, clb = 0;
	for (uint32_t i = 0; i < s->n_blocks; i++) {
		uint64_t off;
		uint32_t clen, rlen;
		if (!sgr_block_ok(s, s->blocks + (size_t)i * SG_BLOCK_ENT, &off, &clen, &rlen))
			return sgr_corrupt(ei, path, "trace block %u: offset/length out of the file", i);
		raw_tb += rlen;
		ctb += clen;
	}
	for (uint32_t i = 0; i < s->n_lblocks; i++) {
		const uint8_t *e = s->lblocks + (size_t)i * SG_LBLOCK_ENT;
		uint64_t off;
		uint32_t clen, rlen;
		if (!sgr_block_ok(s, e, &off, &clen, &rlen) || rlen < SG_LBLOCK_HDR)
			return sgr_corrupt(ei, path, "log block %u: offset/length out of the file", i);
		if (ksk_get_le64(e + 24) > ksk_get_le64(e + 32))
			return sgr_corrupt(ei, path, "log block %u: time range reversed", i);
		raw_lb += rlen;
		clb += clen;
	}
	s->bytes.trace_blocks = ctb;
	s->bytes.log_blocks = clb;
	s->bytes.raw_trace_blocks = raw_tb;
	s->bytes.raw_log_blocks = raw_lb;
	/* index: sorted, pointing inside its block */
	for (uint32_t i = 0; i < s->n_index; i++) {
		const uint8_t *e = s->index + (size_t)i * SG_INDEX_ENT;
		if (i && memcmp(e - SG_INDEX_ENT, e, 16) >= 0)
			return sgr_corrupt(ei, path, "trace index: entry %u out of order", i);
		uint32_t b = ksk_get_le32(e + 16), o = ksk_get_le32(e + 20);
		if (b >= s->n_blocks || o >= ksk_get_le32(s->blocks + (size_t)b * SG_BLOCK_ENT + 20))
			return sgr_corrupt(ei, path, "trace index: entry %u points outside the blocks", i);
	}
	s->n_fence = (s->n_index + SG_FENCE_STEP - 1) / SG_FENCE_STEP;
	s->fence = ksk_malloc(s->alloc, (size_t)(s->n_fence ? s->n_fence : 1) * 16);
	if (!s->fence)
		return KSK_ENOMEM;
	for (uint32_t i = 0; i < s->n_fence; i++)
		memcpy(s->fence + (size_t)i * 16, s->index + (size_t)i * SG_FENCE_STEP * SG_INDEX_ENT, 16);
	/* summaries */
	sg_dec d;
	sg_rd r;
	memset(&d, 0, sizeof(d));
	uint64_t prev_start = UINT64_MAX;
	for (uint32_t i = 0; i < s->n_sums; i++) {
		const uint8_t *e = s->sums + (size_t)i * SG_SUM_ENT;
		uint64_t st = ksk_get_le64(e + 8), en = ksk_get_le64(e + 16);
		uint32_t so = ksk_get_le32(e + 36), ns = ksk_get_le32(e + 40);
		uint32_t bo = ksk_get_le32(e + 44), bw = ksk_get_le32(e + 48);
		if (ksk_get_le32(e) >= s->n_index || en < st || st > prev_start ||
		    ksk_get_le32(e + 32) >= s->n_ops || so > s->sumsvc_len ||
		    (uint64_t)bo + bw > s->sumbloom_words || bw == 0)
			return sgr_corrupt(ei, path, "summary %u: field out of range", i);
		prev_start = st;
		if (ns > s->n_svc)
			return sgr_corrupt(ei, path, "summary %u: %u services of %u", i, ns, s->n_svc);
		r = (sg_rd){s->sumsvc + so, s->sumsvc + s->sumsvc_len};
		uint64_t sv = 0;
		for (uint32_t j = 0; j < ns; j++) {
			uint64_t delta = col__seg_get_varint(&d, &r);
			sv += delta;
			if (d.bad || sv >= s->n_svc || (j && delta == 0))
				return sgr_corrupt(ei, path, "summary %u: service list out of range", i);
		}
	}
	s->bytes.index = s->sec_len[SEC_BLOCKS] + s->sec_len[SEC_INDEX] + s->sec_len[SEC_FILTER] +
	                 s->sec_len[SEC_LOGBLOCKS];
	s->bytes.search = s->sec_len[SEC_SUMS] + s->sec_len[SEC_SUMSVC] + s->sec_len[SEC_SUMBLOOM];
	s->bytes.tables = s->sec_len[SEC_DICT] + s->sec_len[SEC_RES] + s->sec_len[SEC_SVCS] +
	                  s->sec_len[SEC_OPS] + s->sec_len[SEC_EDGES] + s->sec_len[SEC_KEYS];
	s->bytes.other = s->size - ctb - clb - s->bytes.index - s->bytes.search - s->bytes.tables;
	return KSK_OK;
}

static ksk_err sgr_open(col_seg *s, const char *path, ksk_errinfo *ei)
{
	s->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0)
		return ksk_errinfo_sys(ei, KSK_ESYS, errno, "open %s", path);
	struct stat st;
	if (fstat(s->fd, &st) != 0)
		return ksk_errinfo_sys(ei, KSK_ESYS, errno, "stat %s", path);
	if (st.st_size < (off_t)(SG_HEAD_LEN + SG_FOOTER_LEN))
		return sgr_corrupt(ei, path, "file of %lld bytes is shorter than header + footer",
		                   (long long)st.st_size);
	s->size = (size_t)st.st_size;
	void *m = mmap(NULL, s->size, PROT_READ, MAP_SHARED, s->fd, 0);
	if (m == MAP_FAILED)
		return ksk_errinfo_sys(ei, KSK_ESYS, errno, "mmap %s", path);
	s->map = m;
	if (memcmp(s->map, SG_HEAD_MAGIC, 8) != 0)
		return sgr_corrupt(ei, path, "bad header magic");
	if (ksk_get_le32(s->map + 8) != SG_VERSION)
		return ksk_errinfo_set(ei, KSK_ECORRUPT, "segment %s: unsupported version %u", path,
		                       ksk_get_le32(s->map + 8));
	s->data_end = s->size - SG_FOOTER_LEN;
	const uint8_t *f = s->map + s->data_end;
	if (memcmp(f, SG_FOOT_MAGIC, 8) != 0)
		return sgr_corrupt(ei, path, "bad footer magic (truncated or not a segment)");
	uint32_t crc = ksk_crc32(0, f, SG_FOOTER_LEN - 4);
	if (crc != ksk_get_le32(f + SG_FOOTER_LEN - 4))
		return sgr_corrupt(ei, path, "footer CRC mismatch (stored %08x, computed %08x)",
		                   ksk_get_le32(f + SG_FOOTER_LEN - 4), crc);
	if (ksk_get_le32(f + 8) != SG_VERSION || ksk_get_le32(f + 12) != SG_FOOTER_LEN ||
	    ksk_get_le32(f + 80) != SG_NSEC || ksk_get_le32(f + 84) != 0)
		return sgr_corrupt(ei, path, "footer version/length/section count not understood");
	s->info.spans = ksk_get_le64(f + 16);
	s->info.logs = ksk_get_le64(f + 24);
	s->info.traces = ksk_get_le64(f + 32);
	uint64_t n_sums = ksk_get_le64(f + 40);
	s->info.batches = ksk_get_le64(f + 48);
	s->info.min_ns = ksk_get_le64(f + 56);
	s->info.max_ns = ksk_get_le64(f + 64);
	s->info.created_ns = ksk_get_le64(f + 72);
	s->info.file_bytes = s->size;
	for (int i = 0; i < SG_NSEC; i++) {
		const uint8_t *e = f + SG_FOOT_FIXED + (size_t)i * SG_SEC_ENT;
		uint64_t off = ksk_get_le64(e), len = ksk_get_le64(e + 8);
		if (off < SG_HEAD_LEN || off > s->data_end || len > s->data_end - off)
			return sgr_corrupt(ei, path, "%s: offset %llu length %llu outside the file",
			                   sg_sec_names[i], (unsigned long long)off,
			                   (unsigned long long)len);
		if (ksk_get_le32(e + 28) & ~SG_SEC_ZSTD)
			return sgr_corrupt(ei, path, "%s: unknown flags", sg_sec_names[i]);
		uint32_t c = ksk_crc32(0, s->map + off, len);
		if (c != ksk_get_le32(e + 24))
			return sgr_corrupt(ei, path, "%s: CRC mismatch", sg_sec_names[i]);
		s->sec[i] = s->map + off;
		s->sec_len[i] = len;
		if (!(ksk_get_le32(e + 28) & SG_SEC_ZSTD) && ksk_get_le64(e + 16) != len)
			return sgr_corrupt(ei, path, "%s: raw length differs", sg_sec_names[i]);
	}
	struct {
		int sec;
		uint32_t width;
		uint64_t want;
	} fixed[] = {
		{SEC_BLOCKS, SG_BLOCK_ENT, UINT64_MAX}, {SEC_INDEX, SG_INDEX_ENT, s->info.traces},
		{SEC_SUMS, SG_SUM_ENT, n_sums},         {SEC_KEYS, SG_KEY_ENT, s->info.batches},
		{SEC_LOGBLOCKS, SG_LBLOCK_ENT, UINT64_MAX}, {SEC_FILTER, 64, UINT64_MAX},
		{SEC_SUMBLOOM, 8, UINT64_MAX},
	};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		uint64_t len = s->sec_len[fixed[i].sec];
		if (len % fixed[i].width || len / fixed[i].width >= UINT32_MAX ||
		    (fixed[i].want != UINT64_MAX && len / fixed[i].width != fixed[i].want))
			return sgr_corrupt(ei, path, "%s: length %llu does not fit its count",
			                   sg_sec_names[fixed[i].sec], (unsigned long long)len);
	}
	s->blocks = s->sec[SEC_BLOCKS];
	s->n_blocks = (uint32_t)(s->sec_len[SEC_BLOCKS] / SG_BLOCK_ENT);
	s->index = s->sec[SEC_INDEX];
	s->n_index = (uint32_t)s->info.traces;
	s->filter = s->sec[SEC_FILTER];
	s->filter_blocks = (uint32_t)(s->sec_len[SEC_FILTER] / 64);
	if (s->n_index && s->filter_blocks == 0)
		return sgr_corrupt(ei, path, "trace filter: empty for %u traces", s->n_index);
	s->sums = s->sec[SEC_SUMS];
	s->n_sums = (uint32_t)n_sums;
	s->sumsvc = s->sec[SEC_SUMSVC];
	s->sumsvc_len = s->sec_len[SEC_SUMSVC];
	s->sumbloom = s->sec[SEC_SUMBLOOM];
	s->sumbloom_words = s->sec_len[SEC_SUMBLOOM] / 8;
	s->lblocks = s->sec[SEC_LOGBLOCKS];
	s->n_lblocks = (uint32_t)(s->sec_len[SEC_LOGBLOCKS] / SG_LBLOCK_ENT);
	s->keys = s->sec[SEC_KEYS];
	s->n_keys = (uint32_t)s->info.batches;
	KSK_TRY(sgr_tables(s, path, ei));
	return sgr_verify(s, path, ei);
}

ksk_err col_seg_open(const ksk_alloc *alloc, const char *path, col_seg **out,
                     ksk_errinfo *ei)
{
	alloc = ksk_alloc_or_default(alloc);
	*out = NULL;
	col_seg *s = ksk_calloc(alloc, 1, sizeof(*s));
	if (!s)
		return KSK_ENOMEM;
	s->alloc = alloc;
	s->fd = -1;
	pthread_mutex_init(&s->pool_mu, NULL);
	size_t pl = strlen(path);
	s->path = ksk_malloc(alloc, pl + 1);
	if (!s->path) {
		col_seg_close(s);
		return KSK_ENOMEM;
	}
	memcpy(s->path, path, pl + 1);
	ksk_errinfo_clear(ei);
	ksk_err rc = sgr_open(s, path, ei);
	if (rc != KSK_OK) {
		if (rc == KSK_ENOMEM && ei && ei->code == KSK_OK)
			ksk_errinfo_set(ei, rc, "segment %s: out of memory", path);
		col_seg_close(s);
		return rc;
	}
	*out = s;
	return KSK_OK;
}

/* ---- trace lookup --------------------------------------------------------- */

/* Index entry number of `tid`, or UINT32_MAX. */
static uint32_t sgr_find(const col_seg *s, const uint8_t tid[16])
{
	if (s->n_index == 0)
		return UINT32_MAX;
	if (!col__seg_tfilter_test(s->filter, s->filter_blocks, col__seg_trace_hash(tid)))
		return UINT32_MAX;
	/* last fence <= tid */
	uint32_t lo = 0, hi = s->n_fence;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (memcmp(s->fence + (size_t)mid * 16, tid, 16) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return UINT32_MAX;
	uint32_t a = (lo - 1) * SG_FENCE_STEP;
	uint32_t b = a + SG_FENCE_STEP < s->n_index ? a + SG_FENCE_STEP : s->n_index;
	while (a < b) {
		uint32_t mid = a + (b - a) / 2;
		int c = memcmp(s->index + (size_t)mid * SG_INDEX_ENT, tid, 16);
		if (c == 0)
			return mid;
		if (c < 0)
			a = mid + 1;
		else
			b = mid;
	}
	return UINT32_MAX;
}

bool col_seg_may_contain(const col_seg *s, const uint8_t trace_id[16])
{
	return s->n_index &&
	       col__seg_tfilter_test(s->filter, s->filter_blocks, col__seg_trace_hash(trace_id));
}

/* Reads (CRC, decompress) block `b` of a table into `dst` (or a new
 * buffer from `a` when dst is NULL). */
static ksk_err sgr_block(const col_seg *s, bool logs, uint32_t b, ksk_arena *a, uint8_t *dst,
                         size_t dst_cap, const uint8_t **raw, size_t *rlen_out,
                         ksk_errinfo *ei)
{
	const uint8_t *e = logs ? s->lblocks + (size_t)b * SG_LBLOCK_ENT
	                        : s->blocks + (size_t)b * SG_BLOCK_ENT;
	const char *what = logs ? "log block" : "trace block";
	uint64_t off;
	uint32_t clen, rlen;
	if (!sgr_block_ok(s, e, &off, &clen, &rlen))
		return sgr_corrupt(ei, s->path, "%s %u: bad table entry", what, b);
	uint32_t crc = ksk_crc32(0, s->map + off, clen);
	if (crc != ksk_get_le32(e + 16))
		return sgr_corrupt(ei, s->path, "%s %u at offset %llu: CRC mismatch", what, b,
		                   (unsigned long long)off);
	if (!dst || dst_cap < rlen) {
		dst = ksk_arena_alloc(a, rlen ? rlen : 1);
		if (!dst)
			return ksk_errinfo_set(ei, ksk_arena_error(a), "%s %u: no room for %u bytes",
			                       what, b, rlen);
	}
	const char *why = NULL;
	if (!sgr_unzstd(s, dst, rlen, s->map + off, clen, &why))
		return why ? sgr_corrupt(ei, s->path, "%s %u: %s", what, b, why)
		           : ksk_errinfo_set(ei, KSK_ENOMEM, "%s %u: out of memory", what, b);
	*raw = dst;
	*rlen_out = rlen;
	return KSK_OK;
}

/* Decodes resource `r` into the arena. */
static ksk_err sgr_resource(const col_seg *s, uint32_t r, ksk_arena *a, ksk_resource *out)
{
	sg_dec d;
	sg_rd rd = {s->res_raw + s->res_off[r], s->res_raw + s->res_len};
	memset(&d, 0, sizeof(d));
	for (int k = 0; k < SG_NSTREAMS; k++)
		d.rs[k] = &rd;
	d.dict = &s->dict;
	d.a = a;
	d.copy_dict = d.copy_inline = true;
	memset(out, 0, sizeof(*out));
	col__seg_get_varint(&d, &rd);
	sg_dec_reset(&d);
	out->attrs = col__seg_dec_attrs(&d, &out->n_attrs);
	out->dropped_attrs = (uint32_t)col__seg_get_varint(&d, &rd);
	if (d.bad) /* verified at open; only memory can fail here */
		return d.nomem ? ksk_arena_error(a) : KSK_ECORRUPT;
	const ksk_attr *h = ksk_attrs_find(out->attrs, out->n_attrs, KSK_STR("service.name"));
	if (h && h->value.type == KSK_VAL_STR)
		out->service = h->value.u.s;
	h = ksk_attrs_find(out->attrs, out->n_attrs, KSK_STR("host.name"));
	if (h && h->value.type == KSK_VAL_STR)
		out->host = h->value.u.s;
	return KSK_OK;
}

/* Per-call map from segment resource index to the output's index. */
typedef struct sgr_resmap {
	uint32_t seg[64], outi[64]; /* segment index -> index in the output */
	uint32_t n;                 /* pairs held (more are decoded again) */
} sgr_resmap;

static ksk_err sgr_map_res(const col_seg *s, uint32_t r, ksk_arena *a, col_trace *out,
                           sgr_resmap *m, uint32_t *idx)
{
	for (uint32_t i = 0; i < m->n; i++)
		if (m->seg[i] == r) {
			*idx = m->outi[i];
			return KSK_OK;
		}
	ksk_resource *nr = ksk_arena_alloc(a, ((size_t)out->n_resources + 1) * sizeof(ksk_resource));
	if (!nr)
		return ksk_arena_error(a);
	if (out->n_resources)
		memcpy(nr, out->resources, out->n_resources * sizeof(ksk_resource));
	KSK_TRY(sgr_resource(s, r, a, &nr[out->n_resources]));
	out->resources = nr;
	*idx = out->n_resources++;
	if (m->n < 64) {
		m->seg[m->n] = r;
		m->outi[m->n] = *idx;
		m->n++;
	}
	return KSK_OK;
}

/* Parses a log block's header; the record at index `i` into *rd. */
static bool sgr_log_at(const uint8_t *raw, size_t rlen, uint32_t i, uint64_t *base, sg_rd *rd,
                       uint32_t *n_out)
{
	if (rlen < SG_LBLOCK_HDR)
		return false;
	uint32_t n = ksk_get_le32(raw);
	*base = ksk_get_le64(raw + 4);
	*n_out = n;
	if ((uint64_t)n * 4 > rlen - SG_LBLOCK_HDR)
		return false;
	if (i >= n)
		return false;
	size_t recs = SG_LBLOCK_HDR + (size_t)n * 4;
	uint32_t o = ksk_get_le32(raw + SG_LBLOCK_HDR + (size_t)i * 4);
	if (o >= rlen - recs)
		return false;
	rd->p = raw + recs + o;
	rd->end = raw + rlen;
	return true;
}

ksk_err col_seg_get_trace(const col_seg *s, const uint8_t trace_id[16],
                          ksk_arena *a, col_trace *out, bool *found,
                          ksk_errinfo *ei)
{
	*found = false;
	uint32_t ord = sgr_find(s, trace_id);
	if (ord == UINT32_MAX)
		return KSK_OK;
	const uint8_t *ie = s->index + (size_t)ord * SG_INDEX_ENT;
	uint32_t b = ksk_get_le32(ie + 16), off = ksk_get_le32(ie + 20);
	const uint8_t *raw;
	size_t rlen;
	KSK_TRY(sgr_block(s, false, b, a, NULL, 0, &raw, &rlen, ei));
	/* block: count, per-trace headers, then each stream of every trace */
	sg_dec d;
	sg_rd hr = {raw, raw + rlen}, rs[SG_NSTREAMS];
	memset(&d, 0, sizeof(d));
	d.dict = &s->dict;
	d.a = a;
	d.copy_dict = true;
	uint64_t nt = col__seg_get_varint(&d, &hr);
	if (d.bad || off >= nt || nt > rlen)
		return sgr_corrupt(ei, s->path, "trace block %u: trace %u of %llu", b, off,
		                   (unsigned long long)nt);
	uint64_t n = 0, nl = 0, base = 0, tscale = 1;
	uint64_t start[SG_NSTREAMS], total[SG_NSTREAMS], lens[SG_NSTREAMS];
	memset(start, 0, sizeof(start));
	memset(total, 0, sizeof(total));
	memset(lens, 0, sizeof(lens));
	for (uint64_t j = 0; j < nt && !d.bad; j++) {
		uint64_t tn = col__seg_get_varint(&d, &hr), tl = col__seg_get_varint(&d, &hr);
		uint64_t tb = col__seg_get_varint(&d, &hr);
		uint64_t te = col__seg_get_varint(&d, &hr);
		if (te > 9)
			col__seg_dec_fail(&d, "bad time exponent");
		for (int k = 0; k < SG_NSTREAMS; k++) {
			uint64_t l = col__seg_get_varint(&d, &hr);
			if (l > rlen)
				col__seg_dec_fail(&d, "stream length past the block");
			if (j < off)
				start[k] += l;
			else if (j == off)
				lens[k] = l;
			total[k] += l;
		}
		if (j == off) {
			n = tn;
			nl = tl;
			base = tb;
			for (uint64_t x = 0; x < te && x < 9; x++)
				tscale *= 10;
		}
	}
	uint64_t sum = 0;
	for (int k = 0; k < SG_NSTREAMS; k++)
		sum += total[k];
	if (d.bad || sum > sg_rd_left(&hr))
		return sgr_corrupt(ei, s->path, "trace block %u: headers do not fit the block", b);
	const uint8_t *p = hr.p;
	for (int k = 0; k < SG_NSTREAMS; k++) {
		rs[k] = (sg_rd){p + start[k], p + start[k] + lens[k]};
		d.rs[k] = &rs[k];
		p += total[k];
	}
	if (n > lens[SG_S_ID] / KSK_SPAN_ID_LEN || nl > lens[SG_S_LOGREF] / 2)
		return sgr_corrupt(ei, s->path, "trace block %u: counts of trace %u past the data", b, off);
	d.tscale = tscale;

	sgr_resmap rm;
	rm.n = 0;
	memcpy(out->trace_id, trace_id, 16);
	if (n) {
		ksk_span *sp = ksk_arena_alloc(a, (size_t)(out->n_spans + n) * sizeof(ksk_span));
		uint32_t *par = ksk_arena_alloc(a, (size_t)n * sizeof(uint32_t));
		if (!sp || !par)
			return ksk_errinfo_set(ei, ksk_arena_error(a), "trace of %llu spans: no room",
			                       (unsigned long long)n);
		if (out->n_spans)
			memcpy(sp, out->spans, out->n_spans * sizeof(ksk_span));
		ksk_span *ns = sp + out->n_spans;
		for (uint64_t i = 0; i < n && !d.bad; i++)
			col__seg_dec_span(&d, &ns[i], trace_id, base, (uint32_t)n, &par[i], ns, (uint32_t)i);
		if (d.bad)
			return d.nomem ? ksk_errinfo_set(ei, ksk_arena_error(a), "decoding a trace: no room")
			               : sgr_corrupt(ei, s->path, "trace block %u, trace at %u: %s", b, off,
			                             d.why);
		for (uint64_t i = 0; i < n; i++) {
			if (par[i] < n)
				memcpy(ns[i].parent_id, ns[par[i]].span_id, KSK_SPAN_ID_LEN);
			if (ns[i].resource >= s->n_res)
				return sgr_corrupt(ei, s->path, "trace block %u: resource %u out of range", b,
				                   ns[i].resource);
			KSK_TRY(sgr_map_res(s, ns[i].resource, a, out, &rm, &ns[i].resource));
		}
		out->spans = sp;
		out->n_spans += (uint32_t)n;
	}
	if (nl) {
		ksk_log *lg = ksk_arena_alloc(a, (size_t)(out->n_logs + nl) * sizeof(ksk_log));
		if (!lg)
			return ksk_errinfo_set(ei, ksk_arena_error(a), "logs of a trace: no room");
		if (out->n_logs)
			memcpy(lg, out->logs, out->n_logs * sizeof(ksk_log));
		ksk_log *nlg = lg + out->n_logs;
		int64_t blk = 0;
		int64_t cached = -1;
		const uint8_t *lraw = NULL;
		size_t llen = 0;
		for (uint64_t i = 0; i < nl; i++) {
			blk += sg_unzigzag(col__seg_get_varint(&d, &rs[SG_S_LOGREF]));
			uint64_t li = col__seg_get_varint(&d, &rs[SG_S_LOGREF]);
			if (d.bad || blk < 0 || blk >= s->n_lblocks || li > UINT32_MAX)
				return sgr_corrupt(ei, s->path, "trace block %u: log reference out of range", b);
			if (blk != cached) {
				KSK_TRY(sgr_block(s, true, (uint32_t)blk, a, NULL, 0, &lraw, &llen, ei));
				cached = blk;
			}
			uint64_t lbase;
			uint32_t cnt;
			sg_rd lr;
			if (!sgr_log_at(lraw, llen, (uint32_t)li, &lbase, &lr, &cnt))
				return sgr_corrupt(ei, s->path, "log block %lld: record %llu out of range",
				                   (long long)blk, (unsigned long long)li);
			sg_dec ld;
			memset(&ld, 0, sizeof(ld));
			for (int k = 0; k < SG_NSTREAMS; k++)
				ld.rs[k] = &lr;
			ld.dict = &s->dict;
			ld.a = a;
			ld.copy_dict = true;
			sg_log_head h;
			col__seg_dec_log_head(&ld, &h, lbase);
			if (!ld.bad && (!(h.fl & SG_LF_TRACE) || h.trace_ord != ord))
				col__seg_dec_fail(&ld, "log does not belong to the trace");
			col__seg_dec_log_rest(&ld, &h, trace_id, &nlg[i]);
			if (!ld.bad && h.res >= s->n_res)
				col__seg_dec_fail(&ld, "resource out of range");
			if (ld.bad)
				return ld.nomem ? ksk_errinfo_set(ei, ksk_arena_error(a), "logs: no room")
				                : sgr_corrupt(ei, s->path, "log block %lld record %llu: %s",
				                              (long long)blk, (unsigned long long)li, ld.why);
			KSK_TRY(sgr_map_res(s, h.res, a, out, &rm, &nlg[i].resource));
		}
		out->logs = lg;
		out->n_logs += (uint32_t)nl;
	}
	*found = true;
	return KSK_OK;
}

/* ---- search ---------------------------------------------------------------- */

ksk_err col_seg_search(const col_seg *s, const col_search *q,
                       col_summary_cb cb, void *ctx, ksk_errinfo *ei)
{
	uint32_t want_svc = UINT32_MAX;
	if (q->service.len) {
		want_svc = sgr_svc_find(s, q->service);
		if (want_svc == UINT32_MAX)
			return KSK_OK;
	}
	uint32_t na = q->n_attrs < COL_MAX_ATTR_FILTERS ? q->n_attrs : COL_MAX_ATTR_FILTERS;
	uint64_t ha[COL_MAX_ATTR_FILTERS], hd[COL_MAX_ATTR_FILTERS];
	bool svc_attr[COL_MAX_ATTR_FILTERS], dkey[COL_MAX_ATTR_FILTERS];
	for (uint32_t i = 0; i < na; i++) {
		svc_attr[i] = ksk_str_eq(q->attrs[i].key, KSK_STR("service.name"));
		dkey[i] = bsearch(&q->attrs[i].key, s->dkeys, s->n_dkeys, sizeof(ksk_str),
		                  sgr_cmp_name) != NULL;
		ha[i] = col__seg_item_attr(q->attrs[i].key, q->attrs[i].value.ptr, q->attrs[i].value.len);
		hd[i] = col__seg_item_attr_key(q->attrs[i].key);
	}
	ksk_str *names = ksk_malloc(s->alloc, ((size_t)s->n_svc + 1) * sizeof(ksk_str));
	uint32_t *ids = ksk_malloc(s->alloc, ((size_t)s->n_svc + 1) * sizeof(uint32_t));
	if (!names || !ids) {
		ksk_free(s->alloc, names);
		ksk_free(s->alloc, ids);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "search: out of memory");
	}
	/* first summary with start <= q->end_ns */
	uint32_t lo = 0, hi = s->n_sums;
	if (q->end_ns) {
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (ksk_get_le64(s->sums + (size_t)mid * SG_SUM_ENT + 8) > q->end_ns)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	sg_dec d;
	memset(&d, 0, sizeof(d));
	for (uint32_t i = lo; i < s->n_sums; i++) {
		const uint8_t *e = s->sums + (size_t)i * SG_SUM_ENT;
		uint64_t st = ksk_get_le64(e + 8), en = ksk_get_le64(e + 16), dur = en - st;
		uint32_t spans = ksk_get_le32(e + 4), errs = ksk_get_le32(e + 24);
		if (q->start_ns && st < q->start_ns)
			break;
		if ((q->min_duration_ns && dur < q->min_duration_ns) ||
		    (q->max_duration_ns && dur > q->max_duration_ns) ||
		    (q->min_spans && spans < q->min_spans) || (q->max_spans && spans > q->max_spans) ||
		    (q->errors_only && errs == 0))
			continue;
		uint32_t so = ksk_get_le32(e + 36), ns = ksk_get_le32(e + 40);
		sg_rd r = {s->sumsvc + so, s->sumsvc + s->sumsvc_len};
		uint64_t sv = 0;
		bool has = want_svc == UINT32_MAX;
		for (uint32_t j = 0; j < ns; j++) {
			sv += col__seg_get_varint(&d, &r); /* verified at open */
			ids[j] = (uint32_t)sv;
			if (sv == want_svc)
				has = true;
		}
		if (!has)
			continue;
		const uint8_t *bits = s->sumbloom + (size_t)ksk_get_le32(e + 44) * 8;
		uint32_t words = ksk_get_le32(e + 48);
		bool ok = true;
		if (q->operation.len) {
			ok = false;
			int k0 = q->span_kind >= 0 ? q->span_kind : 0;
			int k1 = q->span_kind >= 0 ? q->span_kind : KSK_KIND_CONSUMER;
			for (uint32_t j = 0; j < ns && !ok; j++) {
				if (want_svc != UINT32_MAX && ids[j] != want_svc)
					continue;
				for (int k = k0; k <= k1 && !ok; k++)
					ok = col__seg_bloom_test(bits, words,
					                   col__seg_item_op(s->svcs[ids[j]], q->operation, k));
			}
		}
		for (uint32_t j = 0; j < na && ok; j++) {
			ok = col__seg_bloom_test(bits, words, ha[j]) ||
			     (dkey[j] && col__seg_bloom_test(bits, words, hd[j]));
			/* a resource's service.name is not in the bloom: the list is exact */
			for (uint32_t k = 0; k < ns && !ok && svc_attr[j]; k++)
				ok = ksk_str_eq(s->svcs[ids[k]], q->attrs[j].value);
		}
		if (!ok)
			continue;
		col_summary sum;
		memcpy(sum.trace_id, s->index + (size_t)ksk_get_le32(e) * SG_INDEX_ENT, 16);
		sum.start_ns = st;
		sum.end_ns = en;
		sum.span_count = spans;
		sum.error_count = errs;
		sum.log_count = ksk_get_le32(e + 28);
		const sgr_op *op = &s->ops[ksk_get_le32(e + 32)];
		sum.root_service = s->svcs[op->svc];
		sum.root_name = op->name;
		for (uint32_t j = 0; j < ns; j++)
			names[j] = s->svcs[ids[j]];
		sum.services = names;
		sum.n_services = ns;
		if (!cb(ctx, &sum))
			break;
	}
	ksk_free(s->alloc, names);
	ksk_free(s->alloc, ids);
	return KSK_OK;
}

/* ---- tables ----------------------------------------------------------------- */

void col_seg_operations(const col_seg *s, col_op_cb cb, void *ctx)
{
	for (uint32_t i = 0; i < s->n_ops; i++)
		cb(ctx, s->svcs[s->ops[i].svc], s->ops[i].name, (ksk_span_kind)s->ops[i].kind);
}

void col_seg_edges(const col_seg *s, uint64_t start_ns, uint64_t end_ns,
                   col_edge_cb cb, void *ctx)
{
	for (uint32_t i = 0; i < s->n_edges; i++) {
		const sgr_edge *x = &s->edges[i];
		uint64_t lo = x->minute * SG_MINUTE_NS, hi = lo + SG_MINUTE_NS - 1;
		if ((end_ns && lo > end_ns) || (start_ns && hi < start_ns))
			continue;
		col_edge e = {s->svcs[x->p], s->svcs[x->c], x->calls, x->errors, x->dur};
		cb(ctx, &e);
	}
}

void col_seg_batch_keys(const col_seg *s, col_key_cb cb, void *ctx)
{
	for (uint32_t i = 0; i < s->n_keys; i++) {
		const uint8_t *k = s->keys + (size_t)i * SG_KEY_ENT;
		cb(ctx, k, ksk_get_le64(k + 16));
	}
}

/* ---- logs --------------------------------------------------------------------- */

ksk_err col_seg_logs(const col_seg *s, const col_log_search *q, ksk_arena *a,
                     col_log_cb cb, void *ctx, ksk_errinfo *ei)
{
	uint32_t want_ord = UINT32_MAX;
	if (q->has_trace_id) {
		want_ord = sgr_find(s, q->trace_id);
		if (want_ord == UINT32_MAX)
			return KSK_OK;
	}
	if (s->n_lblocks == 0)
		return KSK_OK;
	uint32_t want_svc = UINT32_MAX;
	if (q->service.len) {
		want_svc = sgr_svc_find(s, q->service);
		if (want_svc == UINT32_MAX)
			return KSK_OK;
	}
	/* per resource: allowed by service/host, decoded lazily */
	uint8_t *allow = ksk_calloc(s->alloc, (size_t)s->n_res + 1, 1);
	ksk_resource **rc_res = ksk_calloc(s->alloc, (size_t)s->n_res + 1, sizeof(*rc_res));
	uint8_t *buf = NULL;
	size_t cap = 0;
	ksk_err rc = KSK_OK;
	if (!allow || !rc_res) {
		rc = ksk_errinfo_set(ei, KSK_ENOMEM, "log search: out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < s->n_res; i++)
		allow[i] = (want_svc == UINT32_MAX || s->res_svc[i] == want_svc) &&
		           (q->host.len == 0 || ksk_str_eq(q->host, s->res_host[i]));
	bool stop = false;
	for (uint32_t bi = s->n_lblocks; bi-- > 0 && !stop;) {
		const uint8_t *e = s->lblocks + (size_t)bi * SG_LBLOCK_ENT;
		uint64_t bmin = ksk_get_le64(e + 24), bmax = ksk_get_le64(e + 32);
		if ((q->end_ns && bmin > q->end_ns) || (q->start_ns && bmax < q->start_ns))
			continue;
		uint32_t rlen = ksk_get_le32(e + 12);
		if (rlen > cap) {
			ksk_free(s->alloc, buf);
			cap = rlen;
			buf = ksk_malloc(s->alloc, cap);
			if (!buf) {
				cap = 0;
				rc = ksk_errinfo_set(ei, KSK_ENOMEM, "log search: out of memory");
				goto out;
			}
		}
		const uint8_t *raw;
		size_t len;
		rc = sgr_block(s, true, bi, a, buf, cap, &raw, &len, ei);
		if (rc)
			goto out;
		uint64_t base;
		uint32_t n;
		sg_rd rd;
		if (len < SG_LBLOCK_HDR || !sgr_log_at(raw, len, 0, &base, &rd, &n)) {
			if (len >= SG_LBLOCK_HDR && ksk_get_le32(raw) == 0)
				continue;
			rc = sgr_corrupt(ei, s->path, "log block %u: bad header", bi);
			goto out;
		}
		for (uint32_t j = n; j-- > 0;) {
			if (!sgr_log_at(raw, len, j, &base, &rd, &n)) {
				rc = sgr_corrupt(ei, s->path, "log block %u: record %u out of range", bi, j);
				goto out;
			}
			sg_dec d;
			memset(&d, 0, sizeof(d));
			for (int k = 0; k < SG_NSTREAMS; k++)
				d.rs[k] = &rd;
			d.dict = &s->dict;
			d.a = a;
			d.copy_dict = d.copy_inline = true;
			sg_log_head h;
			col__seg_dec_log_head(&d, &h, base);
			if (!d.bad && (h.res >= s->n_res ||
			               ((h.fl & SG_LF_TRACE) && h.trace_ord >= s->n_index)))
				col__seg_dec_fail(&d, "reference out of range");
			if (d.bad) {
				rc = sgr_corrupt(ei, s->path, "log block %u record %u: %s", bi, j, d.why);
				goto out;
			}
			if ((q->end_ns && h.eff > q->end_ns) || (q->start_ns && h.eff < q->start_ns))
				continue;
			if ((q->severity_min && h.severity < q->severity_min) ||
			    (q->severity_max && h.severity > q->severity_max) || !allow[h.res])
				continue;
			if (want_ord != UINT32_MAX && (!(h.fl & SG_LF_TRACE) || h.trace_ord != want_ord))
				continue;
			col_log_hit hit;
			memset(&hit, 0, sizeof(hit));
			col__seg_dec_log_rest(&d, &h,
			                      (h.fl & SG_LF_TRACE)
			                          ? s->index + (size_t)h.trace_ord * SG_INDEX_ENT
			                          : NULL,
			                      &hit.log);
			if (d.bad) {
				if (d.nomem)
					rc = ksk_errinfo_set(ei, ksk_arena_error(a), "log search: no room");
				else
					rc = sgr_corrupt(ei, s->path, "log block %u record %u: %s", bi, j, d.why);
				goto out;
			}
			if (!rc_res[h.res]) {
				ksk_resource *r = ksk_arena_alloc(a, sizeof(*r));
				if (!r) {
					rc = ksk_errinfo_set(ei, ksk_arena_error(a), "log search: no room");
					goto out;
				}
				rc = sgr_resource(s, h.res, a, r);
				if (rc) {
					ksk_errinfo_set(ei, rc, "log search: resource %u", h.res);
					goto out;
				}
				rc_res[h.res] = r;
			}
			hit.resource = rc_res[h.res];
			hit.service = hit.resource->service;
			hit.host = hit.resource->host;
			if (!cb(ctx, &hit)) {
				stop = true;
				break;
			}
		}
	}
out:
	ksk_free(s->alloc, allow);
	ksk_free(s->alloc, rc_res);
	ksk_free(s->alloc, buf);
	return rc;
}
