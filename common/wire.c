/*
 * wire.c : the record payload codec (kiseki/wire.h, docs/WIRE.md section 2).
 *
 * Role: turn resources, spans and logs into a payload of `count` msgpack
 * maps, and turn an untrusted payload back into a ksk_batch.
 *
 * Encoder. Data in: caller-owned records (borrowed for the call only).
 * Data out: bytes in an owned ksk_buf. Each append first validates the
 * record with the decoder's rules, map sizes included (so an agent never
 * sends what a collector refuses), then packs it with a msgpack_packer
 * whose write callback appends to the ksk_buf. The buffer's error is
 * sticky, so the pack calls are not checked one by one: at the end of the
 * record a failure (ELIMIT from max_bytes, ENOMEM) rolls `len` back to
 * where the record started. A log record whose values are all strings,
 * bytes or booleans (every line an agent tails) skips the packer: its
 * exact size is computed, reserved once and the same bytes msgpack-c
 * would write (the smallest form of each value) are stored directly. Invariant: the buffer always holds exactly
 * `count` whole records; optional fields that are zero or empty are
 * omitted (and a log's observed_ns when it equals time_ns, which the
 * decoder restores); key 0 (the record type) comes first, then ascending
 * keys.
 *
 * Decoder. Data in: a payload and its record count. Data out: a ksk_batch
 * whose arrays and repaired strings live in the decoder's arena and whose
 * other strings and bytes point into the payload (zero copy). Per record:
 *   ksk_wire_guard()      bounds lengths, counts and depth (no allocation)
 *   msgpack_unpack()      builds the object tree in a msgpack_zone that is
 *                         cleared per record, so steady state reuses one
 *                         chunk and never mallocs; str/bin point into the
 *                         payload
 *   wd_record()           validates and converts into ksk_* structs
 * except that a plain log record (ascending integer keys, scalar values;
 * what agents send) is read straight from its bytes after the guard
 * (ksk_wdf_record, "direct path" below), with the same result;
 * The spans/logs/resources arrays grow inside the arena: the first
 * allocation takes min(records left, 1024) slots, later ones double, so a
 * batch of up to 1024 records never copies. The arena keeps one chunk
 * across resets; when a batch spilled over it, the next decode swaps in an
 * arena whose chunk holds that batch, so steady traffic decodes with no
 * malloc at all (re-allocating big chunks per batch cost ~20% in page
 * faults).
 * Invariants: every limit in ksk_wire_limits is enforced before the memory
 * it protects is used; arena bytes never pass max_arena; msgpack-c's zone
 * never holds more than 24 bytes per object of the current record, and the
 * guard's object count is checked against max_arena first. A failed decode
 * leaves no batch and the arena is reset on the next call.
 *
 * Exception to "all allocation through kiseki/alloc.h": msgpack-c's zone
 * calls libc malloc (msgpack-c has no allocator hook). It is bounded as
 * above and freed by ksk_wire_dec_destroy().
 *
 * No globals; the tables below are constant. One owner thread per encoder
 * or decoder.
 */
#include "kiseki/wire.h"

#include "kiseki/buf.h"

#include <msgpack.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Value nesting msgpack-c can parse: its stack is 32 containers, and a
 * value in an event's attributes already sits under 4 (record map, events
 * array, event map, attrs map). */
#define KSK_WIRE_VALUE_DEPTH_CAP 28u
#define KSK_WIRE_RECORD_LEVELS 4u
#define KSK_WIRE_FIRST_SLOTS 1024u
/* Arena chunk: starts at 256 KiB and grows (up to 32 MiB) to hold the last
 * batch in one chunk, which the arena keeps across resets: a steady batch
 * size then decodes without a single malloc. */
#define KSK_WIRE_CHUNK_MIN ((size_t)256 << 10)
#define KSK_WIRE_CHUNK_MAX ((size_t)32 << 20)

/* ---- key numbers (docs/WIRE.md section 2) -------------------------------- */

enum {
	KEY_TYPE = 0,
};

enum { /* resource */
	RK_ATTRS = 1,
	RK_DROPPED_ATTRS = 2,
	RK_MAX = 2,
};

enum { /* span */
	SK_TRACE_ID = 1,
	SK_SPAN_ID = 2,
	SK_PARENT_ID = 3,
	SK_NAME = 4,
	SK_KIND = 5,
	SK_START = 6,
	SK_END = 7,
	SK_STATUS = 8,
	SK_STATUS_MSG = 9,
	SK_ATTRS = 10,
	SK_EVENTS = 11,
	SK_LINKS = 12,
	SK_RESOURCE = 13,
	SK_TRACE_STATE = 14,
	SK_FLAGS = 15,
	SK_SCOPE_NAME = 16,
	SK_SCOPE_VERSION = 17,
	SK_DROPPED_ATTRS = 18,
	SK_DROPPED_EVENTS = 19,
	SK_DROPPED_LINKS = 20,
	SK_MAX = 20,
};

enum { /* span event */
	EK_TIME = 1,
	EK_NAME = 2,
	EK_ATTRS = 3,
	EK_DROPPED_ATTRS = 4,
	EK_MAX = 4,
};

enum { /* span link */
	LK_TRACE_ID = 1,
	LK_SPAN_ID = 2,
	LK_TRACE_STATE = 3,
	LK_FLAGS = 4,
	LK_ATTRS = 5,
	LK_DROPPED_ATTRS = 6,
	LK_MAX = 6,
};

enum { /* log */
	GK_TIME = 1,
	GK_OBSERVED = 2,
	GK_SEVERITY = 3,
	GK_SEVERITY_TEXT = 4,
	GK_BODY = 5,
	GK_ATTRS = 6,
	GK_TRACE_ID = 7,
	GK_SPAN_ID = 8,
	GK_FLAGS = 9,
	GK_RESOURCE = 10,
	GK_EVENT_NAME = 11,
	GK_SCOPE_NAME = 12,
	GK_SCOPE_VERSION = 13,
	GK_DROPPED_ATTRS = 14,
	GK_TRACE_AT = 15,
	GK_SPAN_AT = 16,
	GK_ATTRS_PREV = 17,
	GK_MAX = 17,
};

#define BIT(k) (1ull << (k))

static const char *const ksk_res_keys[RK_MAX + 1] = {
	"type", "attrs", "dropped_attrs"};

static const char *const ksk_span_keys[SK_MAX + 1] = {
	"type",          "trace_id",      "span_id",        "parent_id",
	"name",          "kind",          "start_ns",       "end_ns",
	"status",        "status_msg",    "attrs",          "events",
	"links",         "resource",      "trace_state",    "flags",
	"scope_name",    "scope_version", "dropped_attrs",  "dropped_events",
	"dropped_links"};

static const char *const ksk_event_keys[EK_MAX + 1] = {
	"?", "time_ns", "name", "attrs", "dropped_attrs"};

static const char *const ksk_link_keys[LK_MAX + 1] = {
	"?", "trace_id", "span_id", "trace_state", "flags", "attrs",
	"dropped_attrs"};

static const char *const ksk_log_keys[GK_MAX + 1] = {
	"type",          "time_ns",    "observed_ns",   "severity",
	"severity_text", "body",       "attrs",         "trace_id",
	"span_id",       "flags",      "resource",      "event_name",
	"scope_name",    "scope_version", "dropped_attrs", "trace_id_at",
	"span_id_at",    "attrs_prev"};

#define SPAN_REQUIRED                                                          \
	(BIT(SK_TRACE_ID) | BIT(SK_SPAN_ID) | BIT(SK_NAME) | BIT(SK_START) |   \
	 BIT(SK_END) | BIT(SK_RESOURCE))
#define LINK_REQUIRED (BIT(LK_TRACE_ID) | BIT(LK_SPAN_ID))
#define LOG_REQUIRED BIT(GK_RESOURCE)

void ksk_wire_limits_default(ksk_wire_limits *l)
{
	l->max_records = 1u << 20;
	l->max_attrs = 1024;
	l->max_events = 1024;
	l->max_links = 1024;
	l->max_str = 1u << 20;
	l->max_depth = 16;
	l->max_container = 65536;
	l->max_arena = (size_t)512 << 20;
	l->enc_packer_only = false;
}

static uint32_t ksk_wire_value_depth(const ksk_wire_limits *l)
{
	return l->max_depth < KSK_WIRE_VALUE_DEPTH_CAP ? l->max_depth
	                                              : KSK_WIRE_VALUE_DEPTH_CAP;
}

/* ======================================================================== */
/* encoder                                                                   */
/* ======================================================================== */

struct ksk_wire_enc {
	const ksk_alloc *alloc; /* borrowed; outlives the encoder */
	ksk_wire_limits lim;    /* copy of the caller's limits */
	uint32_t vdepth;        /* value nesting allowed (capped max_depth) */
	ksk_buf buf;            /* the payload; max = max_bytes */
	msgpack_packer pk;      /* writes into buf through ksk_we_write */
	uint32_t count;         /* records in buf */
	uint32_t n_resources;   /* resource records in buf */
	ksk_buf cut;            /* a log body without its ID digits (scratch) */
	size_t at0, at1;        /* the log being written: its key 6 and attribute
	                           map span buf[at0, at1) (at1 = at0: none) */
	size_t prev_at, prev_n; /* the previous log's key 6 and map in buf
	                           (prev_n = 0: it had none, or no log yet) */
	bool restore;           /* a record in buf uses keys 15-17 */
};

static int ksk_we_write(void *data, const char *p, size_t n)
{
	ksk_buf *b = data;
	if (b->err == KSK_OK && n <= b->cap - b->len) {
		/* the common case, without the calls into buf.c */
		if (n)
			memcpy(b->data + b->len, p, n);
		b->len += n;
		return 0;
	}
	return ksk_buf_append(b, p, n) == KSK_OK ? 0 : -1;
}

ksk_err ksk_wire_enc_create(const ksk_alloc *alloc, const ksk_wire_limits *limits,
                            size_t max_bytes, ksk_wire_enc **out)
{
	if (!out)
		return KSK_EINVAL;
	alloc = ksk_alloc_or_default(alloc);
	ksk_wire_enc *e = ksk_calloc(alloc, 1, sizeof(*e));
	if (!e)
		return KSK_ENOMEM;
	e->alloc = alloc;
	if (limits)
		e->lim = *limits;
	else
		ksk_wire_limits_default(&e->lim);
	e->vdepth = ksk_wire_value_depth(&e->lim);
	ksk_buf_init(&e->buf, alloc, max_bytes);
	ksk_buf_init(&e->cut, alloc, 0);
	msgpack_packer_init(&e->pk, &e->buf, ksk_we_write);
	*out = e;
	return KSK_OK;
}

void ksk_wire_enc_destroy(ksk_wire_enc *e)
{
	if (!e)
		return;
	ksk_buf_fini(&e->buf);
	ksk_buf_fini(&e->cut);
	ksk_free(e->alloc, e);
}

void ksk_wire_enc_reset(ksk_wire_enc *e)
{
	ksk_buf_clear(&e->buf);
	e->count = 0;
	e->n_resources = 0;
	e->prev_n = 0;
	e->restore = false;
}

bool ksk_wire_enc_restore(const ksk_wire_enc *e)
{
	return e->restore;
}

const uint8_t *ksk_wire_enc_data(const ksk_wire_enc *e, size_t *len)
{
	if (len)
		*len = e->buf.len;
	return e->buf.data;
}

uint32_t ksk_wire_enc_count(const ksk_wire_enc *e)
{
	return e->count;
}

uint32_t ksk_wire_enc_resources(const ksk_wire_enc *e)
{
	return e->n_resources;
}

/* ---- encoder validation: the decoder's rules, checked before writing ---- */

static bool ksk_we_str_ok(const ksk_wire_enc *e, ksk_str s)
{
	if (s.len && !s.ptr)
		return false;
	if (s.len > e->lim.max_str)
		return false;
	/* The decoder replaces each invalid byte by 3, and refuses a string
	 * that then passes max_str. Only long strings can get there. */
	if ((uint64_t)s.len * 3 > e->lim.max_str && !ksk_utf8_valid(s.ptr, s.len))
		return false;
	return true;
}

static bool ksk_we_key_ok(const ksk_wire_enc *e, ksk_str k)
{
	return k.len > 0 && ksk_we_str_ok(e, k);
}

static bool ksk_we_value_ok(const ksk_wire_enc *e, const ksk_value *v,
                            uint32_t depth)
{
	switch (v->type) {
	case KSK_VAL_EMPTY:
	case KSK_VAL_BOOL:
	case KSK_VAL_INT:
	case KSK_VAL_DOUBLE:
		return true;
	case KSK_VAL_STR:
		return ksk_we_str_ok(e, v->u.s);
	case KSK_VAL_BYTES:
		return (v->u.s.ptr || !v->u.s.len) && v->u.s.len <= e->lim.max_str;
	case KSK_VAL_ARRAY:
		if (depth >= e->vdepth || v->u.arr.n > e->lim.max_container ||
		    (v->u.arr.n && !v->u.arr.items))
			return false;
		for (uint32_t i = 0; i < v->u.arr.n; i++)
			if (!ksk_we_value_ok(e, &v->u.arr.items[i], depth + 1))
				return false;
		return true;
	case KSK_VAL_KVLIST:
		if (depth >= e->vdepth || v->u.kv.n > e->lim.max_container ||
		    (v->u.kv.n && !v->u.kv.items))
			return false;
		for (uint32_t i = 0; i < v->u.kv.n; i++)
			if (!ksk_we_key_ok(e, v->u.kv.items[i].key) ||
			    !ksk_we_value_ok(e, &v->u.kv.items[i].value, depth + 1))
				return false;
		return true;
	}
	return false;
}

static bool ksk_we_attrs_ok(const ksk_wire_enc *e, const ksk_attr *a, uint32_t n)
{
	if (n > e->lim.max_attrs || n > e->lim.max_container || (n && !a))
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (!ksk_we_key_ok(e, a[i].key) || !ksk_we_value_ok(e, &a[i].value, 0))
			return false;
	return true;
}

/* ---- packing ------------------------------------------------------------ */

static void ksk_we_key(msgpack_packer *pk, unsigned k)
{
	msgpack_pack_uint8(pk, (uint8_t)k);
}

static void ksk_we_str(msgpack_packer *pk, ksk_str s)
{
	msgpack_pack_str_with_body(pk, s.ptr, s.len);
}

static void ksk_we_value(msgpack_packer *pk, const ksk_value *v)
{
	switch (v->type) {
	case KSK_VAL_EMPTY:
		msgpack_pack_nil(pk);
		break;
	case KSK_VAL_STR:
		ksk_we_str(pk, v->u.s);
		break;
	case KSK_VAL_BOOL:
		if (v->u.b)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
		break;
	case KSK_VAL_INT:
		msgpack_pack_int64(pk, v->u.i);
		break;
	case KSK_VAL_DOUBLE:
		msgpack_pack_double(pk, v->u.d);
		break;
	case KSK_VAL_BYTES:
		msgpack_pack_bin_with_body(pk, v->u.s.ptr, v->u.s.len);
		break;
	case KSK_VAL_ARRAY:
		msgpack_pack_array(pk, v->u.arr.n);
		for (uint32_t i = 0; i < v->u.arr.n; i++)
			ksk_we_value(pk, &v->u.arr.items[i]);
		break;
	case KSK_VAL_KVLIST:
		msgpack_pack_map(pk, v->u.kv.n);
		for (uint32_t i = 0; i < v->u.kv.n; i++) {
			ksk_we_str(pk, v->u.kv.items[i].key);
			ksk_we_value(pk, &v->u.kv.items[i].value);
		}
		break;
	}
}

static void ksk_we_attrs(msgpack_packer *pk, const ksk_attr *a, uint32_t n)
{
	msgpack_pack_map(pk, n);
	for (uint32_t i = 0; i < n; i++) {
		ksk_we_str(pk, a[i].key);
		ksk_we_value(pk, &a[i].value);
	}
}

static void ksk_we_kid(msgpack_packer *pk, unsigned k, const uint8_t *id, size_t n)
{
	ksk_we_key(pk, k);
	msgpack_pack_bin_with_body(pk, id, n);
}

static void ksk_we_ku64(msgpack_packer *pk, unsigned k, uint64_t v)
{
	ksk_we_key(pk, k);
	msgpack_pack_uint64(pk, v);
}

static void ksk_we_kstr(msgpack_packer *pk, unsigned k, ksk_str s)
{
	ksk_we_key(pk, k);
	ksk_we_str(pk, s);
}

/* Common start of an append: room in the record count. */
static ksk_err ksk_we_begin(const ksk_wire_enc *e)
{
	if (e->count >= e->lim.max_records)
		return KSK_ELIMIT;
	return KSK_OK;
}

/* Common end of an append: commit the record or roll the buffer back. */
static ksk_err ksk_we_finish(ksk_wire_enc *e, size_t mark)
{
	if (e->buf.err != KSK_OK) {
		ksk_err rc = e->buf.err;
		e->buf.len = mark;
		e->buf.err = KSK_OK;
		return rc;
	}
	e->count++;
	return KSK_OK;
}

ksk_err ksk_wire_enc_resource(ksk_wire_enc *e, const ksk_resource *r,
                              uint32_t *index)
{
	if (!e || !r)
		return KSK_EINVAL;
	KSK_TRY(ksk_we_begin(e));
	if (!ksk_we_attrs_ok(e, r->attrs, r->n_attrs))
		return KSK_EINVAL;
	msgpack_packer *pk = &e->pk;
	size_t mark = e->buf.len;
	uint32_t n = 1 + (r->n_attrs != 0) + (r->dropped_attrs != 0);
	msgpack_pack_map(pk, n);
	ksk_we_ku64(pk, KEY_TYPE, KSK_REC_RESOURCE);
	if (r->n_attrs) {
		ksk_we_key(pk, RK_ATTRS);
		ksk_we_attrs(pk, r->attrs, r->n_attrs);
	}
	if (r->dropped_attrs)
		ksk_we_ku64(pk, RK_DROPPED_ATTRS, r->dropped_attrs);
	KSK_TRY(ksk_we_finish(e, mark));
	if (index)
		*index = e->n_resources;
	e->n_resources++;
	return KSK_OK;
}

static uint32_t ksk_we_event_pairs(const ksk_event *ev)
{
	return (ev->time_ns != 0) + (ev->name.len != 0) + (ev->n_attrs != 0) +
	       (ev->dropped_attrs != 0);
}

static uint32_t ksk_we_link_pairs(const ksk_link *lk)
{
	return 2 + (lk->trace_state.len != 0) + (lk->flags != 0) +
	       (lk->n_attrs != 0) + (lk->dropped_attrs != 0);
}

static uint32_t ksk_we_span_pairs(const ksk_span *s)
{
	/* always: type, trace_id, span_id, name, start, end, resource */
	return 7 + !ksk_id_is_zero(s->parent_id, KSK_SPAN_ID_LEN) +
	       (s->kind != 0) + (s->status != 0) + (s->status_msg.len != 0) +
	       (s->n_attrs != 0) + (s->n_events != 0) + (s->n_links != 0) +
	       (s->trace_state.len != 0) + (s->flags != 0) +
	       (s->scope_name.len != 0) + (s->scope_version.len != 0) +
	       (s->dropped_attrs != 0) + (s->dropped_events != 0) +
	       (s->dropped_links != 0);
}

/* observed_ns is left out when equal to time_ns: the decoder fills it in */
static bool ksk_we_log_observed(const ksk_log *l)
{
	return l->observed_ns != 0 && l->observed_ns != l->time_ns;
}

static uint32_t ksk_we_log_pairs(const ksk_log *l)
{
	/* always: type, resource */
	return 2 + (l->time_ns != 0) + ksk_we_log_observed(l) +
	       (l->severity != 0) + (l->severity_text.len != 0) +
	       (l->body.type != KSK_VAL_EMPTY) + (l->n_attrs != 0) +
	       !ksk_id_is_zero(l->trace_id, KSK_TRACE_ID_LEN) +
	       !ksk_id_is_zero(l->span_id, KSK_SPAN_ID_LEN) + (l->flags != 0) +
	       (l->event_name.len != 0) + (l->scope_name.len != 0) +
	       (l->scope_version.len != 0) + (l->dropped_attrs != 0);
}

static bool ksk_we_span_ok(const ksk_wire_enc *e, const ksk_span *s)
{
	const ksk_wire_limits *l = &e->lim;
	if (ksk_id_is_zero(s->trace_id, KSK_TRACE_ID_LEN) ||
	    ksk_id_is_zero(s->span_id, KSK_SPAN_ID_LEN))
		return false;
	if (s->end_ns < s->start_ns || (unsigned)s->kind > KSK_KIND_CONSUMER ||
	    (unsigned)s->status > KSK_STATUS_ERROR ||
	    s->resource >= e->n_resources)
		return false;
	if (!ksk_we_str_ok(e, s->name) || !ksk_we_str_ok(e, s->status_msg) ||
	    !ksk_we_str_ok(e, s->trace_state) || !ksk_we_str_ok(e, s->scope_name) ||
	    !ksk_we_str_ok(e, s->scope_version))
		return false;
	if (!ksk_we_attrs_ok(e, s->attrs, s->n_attrs))
		return false;
	if (s->n_events > l->max_events || s->n_events > l->max_container ||
	    (s->n_events && !s->events))
		return false;
	for (uint32_t i = 0; i < s->n_events; i++) {
		const ksk_event *ev = &s->events[i];
		if (!ksk_we_str_ok(e, ev->name) ||
		    !ksk_we_attrs_ok(e, ev->attrs, ev->n_attrs) ||
		    ksk_we_event_pairs(ev) > l->max_container)
			return false;
	}
	if (s->n_links > l->max_links || s->n_links > l->max_container ||
	    (s->n_links && !s->links))
		return false;
	for (uint32_t i = 0; i < s->n_links; i++) {
		const ksk_link *lk = &s->links[i];
		if (ksk_id_is_zero(lk->trace_id, KSK_TRACE_ID_LEN) ||
		    ksk_id_is_zero(lk->span_id, KSK_SPAN_ID_LEN) ||
		    !ksk_we_str_ok(e, lk->trace_state) ||
		    !ksk_we_attrs_ok(e, lk->attrs, lk->n_attrs) ||
		    ksk_we_link_pairs(lk) > l->max_container)
			return false;
	}
	return ksk_we_span_pairs(s) <= l->max_container;
}

static void ksk_we_event(msgpack_packer *pk, const ksk_event *ev)
{
	msgpack_pack_map(pk, ksk_we_event_pairs(ev));
	if (ev->time_ns)
		ksk_we_ku64(pk, EK_TIME, ev->time_ns);
	if (ev->name.len)
		ksk_we_kstr(pk, EK_NAME, ev->name);
	if (ev->n_attrs) {
		ksk_we_key(pk, EK_ATTRS);
		ksk_we_attrs(pk, ev->attrs, ev->n_attrs);
	}
	if (ev->dropped_attrs)
		ksk_we_ku64(pk, EK_DROPPED_ATTRS, ev->dropped_attrs);
}

static void ksk_we_link(msgpack_packer *pk, const ksk_link *lk)
{
	msgpack_pack_map(pk, ksk_we_link_pairs(lk));
	ksk_we_kid(pk, LK_TRACE_ID, lk->trace_id, KSK_TRACE_ID_LEN);
	ksk_we_kid(pk, LK_SPAN_ID, lk->span_id, KSK_SPAN_ID_LEN);
	if (lk->trace_state.len)
		ksk_we_kstr(pk, LK_TRACE_STATE, lk->trace_state);
	if (lk->flags)
		ksk_we_ku64(pk, LK_FLAGS, lk->flags);
	if (lk->n_attrs) {
		ksk_we_key(pk, LK_ATTRS);
		ksk_we_attrs(pk, lk->attrs, lk->n_attrs);
	}
	if (lk->dropped_attrs)
		ksk_we_ku64(pk, LK_DROPPED_ATTRS, lk->dropped_attrs);
}

ksk_err ksk_wire_enc_span(ksk_wire_enc *e, const ksk_span *s)
{
	if (!e || !s)
		return KSK_EINVAL;
	KSK_TRY(ksk_we_begin(e));
	if (!ksk_we_span_ok(e, s))
		return KSK_EINVAL;
	msgpack_packer *pk = &e->pk;
	size_t mark = e->buf.len;
	bool parent = !ksk_id_is_zero(s->parent_id, KSK_SPAN_ID_LEN);
	msgpack_pack_map(pk, ksk_we_span_pairs(s));
	ksk_we_ku64(pk, KEY_TYPE, KSK_REC_SPAN);
	ksk_we_kid(pk, SK_TRACE_ID, s->trace_id, KSK_TRACE_ID_LEN);
	ksk_we_kid(pk, SK_SPAN_ID, s->span_id, KSK_SPAN_ID_LEN);
	if (parent)
		ksk_we_kid(pk, SK_PARENT_ID, s->parent_id, KSK_SPAN_ID_LEN);
	ksk_we_kstr(pk, SK_NAME, s->name);
	if (s->kind)
		ksk_we_ku64(pk, SK_KIND, (uint64_t)s->kind);
	ksk_we_ku64(pk, SK_START, s->start_ns);
	ksk_we_ku64(pk, SK_END, s->end_ns);
	if (s->status)
		ksk_we_ku64(pk, SK_STATUS, (uint64_t)s->status);
	if (s->status_msg.len)
		ksk_we_kstr(pk, SK_STATUS_MSG, s->status_msg);
	if (s->n_attrs) {
		ksk_we_key(pk, SK_ATTRS);
		ksk_we_attrs(pk, s->attrs, s->n_attrs);
	}
	if (s->n_events) {
		ksk_we_key(pk, SK_EVENTS);
		msgpack_pack_array(pk, s->n_events);
		for (uint32_t i = 0; i < s->n_events; i++)
			ksk_we_event(pk, &s->events[i]);
	}
	if (s->n_links) {
		ksk_we_key(pk, SK_LINKS);
		msgpack_pack_array(pk, s->n_links);
		for (uint32_t i = 0; i < s->n_links; i++)
			ksk_we_link(pk, &s->links[i]);
	}
	ksk_we_ku64(pk, SK_RESOURCE, s->resource);
	if (s->trace_state.len)
		ksk_we_kstr(pk, SK_TRACE_STATE, s->trace_state);
	if (s->flags)
		ksk_we_ku64(pk, SK_FLAGS, s->flags);
	if (s->scope_name.len)
		ksk_we_kstr(pk, SK_SCOPE_NAME, s->scope_name);
	if (s->scope_version.len)
		ksk_we_kstr(pk, SK_SCOPE_VERSION, s->scope_version);
	if (s->dropped_attrs)
		ksk_we_ku64(pk, SK_DROPPED_ATTRS, s->dropped_attrs);
	if (s->dropped_events)
		ksk_we_ku64(pk, SK_DROPPED_EVENTS, s->dropped_events);
	if (s->dropped_links)
		ksk_we_ku64(pk, SK_DROPPED_LINKS, s->dropped_links);
	return ksk_we_finish(e, mark);
}

/* The key naming where cut `i` of `c` goes: 15 for trace ID digits, 16
 * for span ID digits. */
static unsigned ksk_w_cut_key(const ksk_id_cut *c, uint32_t i)
{
	return c->len[i] == 2 * KSK_TRACE_ID_LEN ? GK_TRACE_AT : GK_SPAN_AT;
}

/* The body without the cut digits, in e->cut. @return : false (no memory). */
static bool ksk_we_cut_body(ksk_wire_enc *e, ksk_str b, const ksk_id_cut *c, ksk_str *out)
{
	ksk_buf_clear(&e->cut);
	if (ksk_buf_reserve(&e->cut, b.len ? b.len : 1) != KSK_OK)
		return false;
	out->ptr = (const char *)e->cut.data;
	out->len = ksk_id_cut_split(b.ptr, b.len, c, (char *)e->cut.data);
	return true;
}

static bool ksk_we_log_ok(const ksk_wire_enc *e, const ksk_log *l)
{
	if ((l->time_ns == 0 && l->observed_ns == 0) || l->severity > 24 ||
	    l->resource >= e->n_resources)
		return false;
	if (!ksk_we_str_ok(e, l->severity_text) || !ksk_we_str_ok(e, l->event_name) ||
	    !ksk_we_str_ok(e, l->scope_name) || !ksk_we_str_ok(e, l->scope_version))
		return false;
	if (!ksk_we_value_ok(e, &l->body, 0) ||
	    !ksk_we_attrs_ok(e, l->attrs, l->n_attrs))
		return false;
	return ksk_we_log_pairs(l) <= e->lim.max_container;
}

/* ---- direct writing (logs of scalar values) ------------------------------ */

static size_t ksk_wx_uint_len(uint64_t v)
{
	return v < 128 ? 1 : v < 256 ? 2 : v < 65536 ? 3 : v < (1ull << 32) ? 5 : 9;
}

static size_t ksk_wx_str_len(uint32_t n)
{
	return (n < 32 ? 1u : n < 256 ? 2u : n < 65536 ? 3u : 5u) + (size_t)n;
}

static size_t ksk_wx_bin_len(uint32_t n)
{
	return (n < 256 ? 2u : n < 65536 ? 3u : 5u) + (size_t)n;
}

static size_t ksk_wx_map_len(uint32_t n)
{
	return n < 16 ? 1 : n < 65536 ? 3 : 5;
}

static uint8_t *ksk_wx_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static uint8_t *ksk_wx_uint(uint8_t *p, uint64_t v)
{
	if (v < 128) {
		*p++ = (uint8_t)v;
		return p;
	}
	if (v < 256) {
		*p++ = 0xcc;
		*p++ = (uint8_t)v;
		return p;
	}
	if (v < 65536) {
		*p++ = 0xcd;
		return ksk_wx_be(p, v, 2);
	}
	if (v < (1ull << 32)) {
		*p++ = 0xce;
		return ksk_wx_be(p, v, 4);
	}
	*p++ = 0xcf;
	return ksk_wx_be(p, v, 8);
}

static uint8_t *ksk_wx_map(uint8_t *p, uint32_t n)
{
	if (n < 16) {
		*p++ = (uint8_t)(0x80 | n);
		return p;
	}
	if (n < 65536) {
		*p++ = 0xde;
		return ksk_wx_be(p, n, 2);
	}
	*p++ = 0xdf;
	return ksk_wx_be(p, n, 4);
}

/* A str (tag8 0xd9) or bin (tag8 0xc4) header in its smallest form, then
 * the bytes; a str under 32 bytes is a fixstr. */
static uint8_t *ksk_wx_raw(uint8_t *p, uint8_t tag8, const void *s, uint32_t n)
{
	if (tag8 == 0xd9 && n < 32) {
		*p++ = (uint8_t)(0xa0 | n);
	} else if (n < 256) {
		*p++ = tag8;
		*p++ = (uint8_t)n;
	} else if (n < 65536) {
		*p++ = (uint8_t)(tag8 + 1);
		p = ksk_wx_be(p, n, 2);
	} else {
		*p++ = (uint8_t)(tag8 + 2);
		p = ksk_wx_be(p, n, 4);
	}
	if (n)
		memcpy(p, s, n);
	return p + n;
}

static uint8_t *ksk_wx_str(uint8_t *p, const char *s, uint32_t n)
{
	return ksk_wx_raw(p, 0xd9, s, n);
}

static uint8_t *ksk_wx_bin(uint8_t *p, const void *s, uint32_t n)
{
	return ksk_wx_raw(p, 0xc4, s, n);
}

/* bytes of a scalar value; 0 for a type the direct writer leaves to the
 * packer (ints, doubles, arrays, maps) */
static size_t ksk_wx_value_len(const ksk_value *v)
{
	switch (v->type) {
	case KSK_VAL_EMPTY:
	case KSK_VAL_BOOL:
		return 1;
	case KSK_VAL_STR:
		return ksk_wx_str_len(v->u.s.len);
	case KSK_VAL_BYTES:
		return ksk_wx_bin_len(v->u.s.len);
	default:
		return 0;
	}
}

static uint8_t *ksk_wx_value(uint8_t *p, const ksk_value *v)
{
	switch (v->type) {
	case KSK_VAL_EMPTY:
		*p++ = 0xc0;
		return p;
	case KSK_VAL_BOOL:
		*p++ = v->u.b ? 0xc3 : 0xc2;
		return p;
	case KSK_VAL_STR:
		return ksk_wx_str(p, v->u.s.ptr, v->u.s.len);
	case KSK_VAL_BYTES:
		return ksk_wx_bin(p, v->u.s.ptr, v->u.s.len);
	default:
		return p; /* not reached: ksk_wx_value_len() said 0 */
	}
}

/* Writes a validated log directly. @return : false (nothing written) when
 * a value needs the packer; else true, with e->buf.err set on failure. */
static bool ksk_wx_log(ksk_wire_enc *e, const ksk_log *l, bool trace, bool span,
                       const ksk_id_cut *cut)
{
	size_t n = 0, vl;
	uint32_t pairs = ksk_we_log_pairs(l) + cut->n;
	n += ksk_wx_map_len(pairs) + 2; /* map, type */
	if (l->time_ns)
		n += 1 + ksk_wx_uint_len(l->time_ns);
	if (ksk_we_log_observed(l))
		n += 1 + ksk_wx_uint_len(l->observed_ns);
	if (l->severity)
		n += 1 + ksk_wx_uint_len(l->severity);
	if (l->severity_text.len)
		n += 1 + ksk_wx_str_len(l->severity_text.len);
	if (l->body.type != KSK_VAL_EMPTY) {
		if (!(vl = ksk_wx_value_len(&l->body)))
			return false;
		n += 1 + vl;
	}
	if (l->n_attrs) {
		n += 1 + ksk_wx_map_len(l->n_attrs);
		for (uint32_t i = 0; i < l->n_attrs; i++) {
			if (!(vl = ksk_wx_value_len(&l->attrs[i].value)))
				return false;
			n += ksk_wx_str_len(l->attrs[i].key.len) + vl;
		}
	}
	if (trace)
		n += 1 + ksk_wx_bin_len(KSK_TRACE_ID_LEN);
	if (span)
		n += 1 + ksk_wx_bin_len(KSK_SPAN_ID_LEN);
	if (l->flags)
		n += 1 + ksk_wx_uint_len(l->flags);
	n += 1 + ksk_wx_uint_len(l->resource);
	if (l->event_name.len)
		n += 1 + ksk_wx_str_len(l->event_name.len);
	if (l->scope_name.len)
		n += 1 + ksk_wx_str_len(l->scope_name.len);
	if (l->scope_version.len)
		n += 1 + ksk_wx_str_len(l->scope_version.len);
	if (l->dropped_attrs)
		n += 1 + ksk_wx_uint_len(l->dropped_attrs);
	for (uint32_t i = 0; i < cut->n; i++)
		n += 1 + ksk_wx_uint_len(cut->at[i]);
	if (ksk_buf_reserve(&e->buf, n) != KSK_OK)
		return true; /* sticky error: the caller rolls back */
	uint8_t *p = e->buf.data + e->buf.len, *p0 = p;
	p = ksk_wx_map(p, pairs);
	*p++ = KEY_TYPE;
	*p++ = KSK_REC_LOG;
	if (l->time_ns) {
		*p++ = GK_TIME;
		p = ksk_wx_uint(p, l->time_ns);
	}
	if (ksk_we_log_observed(l)) {
		*p++ = GK_OBSERVED;
		p = ksk_wx_uint(p, l->observed_ns);
	}
	if (l->severity) {
		*p++ = GK_SEVERITY;
		p = ksk_wx_uint(p, l->severity);
	}
	if (l->severity_text.len) {
		*p++ = GK_SEVERITY_TEXT;
		p = ksk_wx_str(p, l->severity_text.ptr, l->severity_text.len);
	}
	if (l->body.type != KSK_VAL_EMPTY) {
		*p++ = GK_BODY;
		p = ksk_wx_value(p, &l->body);
	}
	e->at0 = e->at1 = 0;
	if (l->n_attrs) {
		e->at0 = (size_t)(p - e->buf.data);
		*p++ = GK_ATTRS;
		p = ksk_wx_map(p, l->n_attrs);
		for (uint32_t i = 0; i < l->n_attrs; i++) {
			p = ksk_wx_str(p, l->attrs[i].key.ptr, l->attrs[i].key.len);
			p = ksk_wx_value(p, &l->attrs[i].value);
		}
		e->at1 = (size_t)(p - e->buf.data);
	}
	if (trace) {
		*p++ = GK_TRACE_ID;
		p = ksk_wx_bin(p, l->trace_id, KSK_TRACE_ID_LEN);
	}
	if (span) {
		*p++ = GK_SPAN_ID;
		p = ksk_wx_bin(p, l->span_id, KSK_SPAN_ID_LEN);
	}
	if (l->flags) {
		*p++ = GK_FLAGS;
		p = ksk_wx_uint(p, l->flags);
	}
	*p++ = GK_RESOURCE;
	p = ksk_wx_uint(p, l->resource);
	if (l->event_name.len) {
		*p++ = GK_EVENT_NAME;
		p = ksk_wx_str(p, l->event_name.ptr, l->event_name.len);
	}
	if (l->scope_name.len) {
		*p++ = GK_SCOPE_NAME;
		p = ksk_wx_str(p, l->scope_name.ptr, l->scope_name.len);
	}
	if (l->scope_version.len) {
		*p++ = GK_SCOPE_VERSION;
		p = ksk_wx_str(p, l->scope_version.ptr, l->scope_version.len);
	}
	if (l->dropped_attrs) {
		*p++ = GK_DROPPED_ATTRS;
		p = ksk_wx_uint(p, l->dropped_attrs);
	}
	/* keys 15 then 16, whatever their order in the body */
	for (unsigned k = GK_TRACE_AT; k <= GK_SPAN_AT; k++)
		for (uint32_t i = 0; i < cut->n; i++)
			if (ksk_w_cut_key(cut, i) == k) {
				*p++ = (uint8_t)k;
				p = ksk_wx_uint(p, cut->at[i]);
			}
	e->buf.len += (size_t)(p - p0);
	return true;
}

/* The end of a log append: when its attributes are byte for byte those of
 * the previous log in the payload (a file's path on every line), key 6 and
 * the map make way for `17: true` (key 17 attrs_prev, at the end, so the
 * keys stay ascending and the pair count is the same); then commit.
 * `restore`: the record cut its body (keys 15, 16). */
static ksk_err ksk_we_log_finish(ksk_wire_enc *e, size_t mark, bool restore)
{
	if (e->buf.err != KSK_OK)
		return ksk_we_finish(e, mark);
	size_t n = e->at1 - e->at0;
	uint8_t *b = e->buf.data;
	if (n && n == e->prev_n && memcmp(b + e->at0, b + e->prev_at, n) == 0) {
		size_t end = e->buf.len;
		memmove(b + e->at0, b + e->at1, end - e->at1);
		end -= n;
		b[end++] = GK_ATTRS_PREV; /* n >= 2: the room is there */
		b[end++] = 0xc3;
		e->buf.len = end;
		restore = true;
	} else {
		e->prev_at = e->at0;
		e->prev_n = n;
	}
	ksk_err rc = ksk_we_finish(e, mark);
	if (rc == KSK_OK && restore)
		e->restore = true;
	return rc;
}

ksk_err ksk_wire_enc_log(ksk_wire_enc *e, const ksk_log *l)
{
	if (!e || !l)
		return KSK_EINVAL;
	KSK_TRY(ksk_we_begin(e));
	if (!ksk_we_log_ok(e, l))
		return KSK_EINVAL;
	msgpack_packer *pk = &e->pk;
	size_t mark = e->buf.len;
	bool trace = !ksk_id_is_zero(l->trace_id, KSK_TRACE_ID_LEN);
	bool span = !ksk_id_is_zero(l->span_id, KSK_SPAN_ID_LEN);
	ksk_id_cut cut;
	ksk_log_id_cuts(l, &cut);
	ksk_log lc;
	if (cut.n && ksk_we_log_pairs(l) + cut.n <= e->lim.max_container) {
		lc = *l;
		if (!ksk_we_cut_body(e, l->body.u.s, &cut, &lc.body.u.s))
			return KSK_ENOMEM;
		l = &lc;
	} else {
		cut.n = 0;
	}
	if (!e->lim.enc_packer_only && ksk_wx_log(e, l, trace, span, &cut))
		return ksk_we_log_finish(e, mark, cut.n != 0);
	msgpack_pack_map(pk, ksk_we_log_pairs(l) + cut.n);
	ksk_we_ku64(pk, KEY_TYPE, KSK_REC_LOG);
	if (l->time_ns)
		ksk_we_ku64(pk, GK_TIME, l->time_ns);
	if (ksk_we_log_observed(l))
		ksk_we_ku64(pk, GK_OBSERVED, l->observed_ns);
	if (l->severity)
		ksk_we_ku64(pk, GK_SEVERITY, l->severity);
	if (l->severity_text.len)
		ksk_we_kstr(pk, GK_SEVERITY_TEXT, l->severity_text);
	if (l->body.type != KSK_VAL_EMPTY) {
		ksk_we_key(pk, GK_BODY);
		ksk_we_value(pk, &l->body);
	}
	e->at0 = e->at1 = 0;
	if (l->n_attrs) {
		e->at0 = e->buf.len;
		ksk_we_key(pk, GK_ATTRS);
		ksk_we_attrs(pk, l->attrs, l->n_attrs);
		e->at1 = e->buf.len;
	}
	if (trace)
		ksk_we_kid(pk, GK_TRACE_ID, l->trace_id, KSK_TRACE_ID_LEN);
	if (span)
		ksk_we_kid(pk, GK_SPAN_ID, l->span_id, KSK_SPAN_ID_LEN);
	if (l->flags)
		ksk_we_ku64(pk, GK_FLAGS, l->flags);
	ksk_we_ku64(pk, GK_RESOURCE, l->resource);
	if (l->event_name.len)
		ksk_we_kstr(pk, GK_EVENT_NAME, l->event_name);
	if (l->scope_name.len)
		ksk_we_kstr(pk, GK_SCOPE_NAME, l->scope_name);
	if (l->scope_version.len)
		ksk_we_kstr(pk, GK_SCOPE_VERSION, l->scope_version);
	if (l->dropped_attrs)
		ksk_we_ku64(pk, GK_DROPPED_ATTRS, l->dropped_attrs);
	for (unsigned k = GK_TRACE_AT; k <= GK_SPAN_AT; k++)
		for (uint32_t i = 0; i < cut.n; i++)
			if (ksk_w_cut_key(&cut, i) == k)
				ksk_we_ku64(pk, k, cut.at[i]);
	return ksk_we_log_finish(e, mark, cut.n != 0);
}

/* ======================================================================== */
/* decoder                                                                   */
/* ======================================================================== */

struct ksk_wire_dec {
	const ksk_alloc *alloc;  /* borrowed; outlives the decoder */
	ksk_wire_limits lim;     /* copy of the caller's limits */
	ksk_wire_limits glim;    /* lim with max_depth widened for the guard */
	uint32_t vdepth;         /* value nesting allowed (capped max_depth) */
	ksk_arena *arena;        /* everything of the current batch */
	size_t chunk;            /* the arena's chunk size */
	size_t want_chunk;       /* chunk that would have held the last batch */
	msgpack_zone zone;       /* msgpack-c objects of the current record */
	ksk_batch batch;         /* the current batch (arrays in the arena) */
	uint32_t cap_res;        /* slots in batch.resources */
	uint32_t cap_spans;      /* slots in batch.spans */
	uint32_t cap_logs;       /* slots in batch.logs */
	bool slow_only;          /* tests: never take the direct log path */
	uint64_t direct;         /* records decoded by the direct path */
};

void ksk_wire_dec_set_slow_only(ksk_wire_dec *d, bool on)
{
	d->slow_only = on;
}

uint64_t ksk_wire_dec_direct_records(const ksk_wire_dec *d)
{
	return d->direct;
}

/* Per-decode state: where we are, for errors, and hot copies of limits. */
typedef struct ksk_wd {
	ksk_wire_dec *d;
	ksk_arena *ar;
	ksk_errinfo *ei;
	uint32_t max_str;
	uint32_t max_attrs;
	uint32_t vdepth;
	uint32_t rec;        /* record index */
	uint32_t left;       /* records still to decode, this one included */
	const char *rtype;   /* "span", "log", "resource"; NULL when unknown */
	const char *sub;     /* "event", "link" or NULL */
	uint32_t sub_i;      /* index of the event or link */
	unsigned fkey;       /* key of the field being decoded */
	const char *fname;   /* its name */
} ksk_wd;

ksk_err ksk_wire_dec_create(const ksk_alloc *alloc, const ksk_wire_limits *limits,
                            ksk_wire_dec **out)
{
	if (!out)
		return KSK_EINVAL;
	alloc = ksk_alloc_or_default(alloc);
	ksk_wire_dec *d = ksk_calloc(alloc, 1, sizeof(*d));
	if (!d)
		return KSK_ENOMEM;
	d->alloc = alloc;
	if (limits)
		d->lim = *limits;
	else
		ksk_wire_limits_default(&d->lim);
	d->vdepth = ksk_wire_value_depth(&d->lim);
	d->glim = d->lim;
	d->glim.max_depth = d->vdepth + KSK_WIRE_RECORD_LEVELS;
	d->chunk = d->want_chunk = KSK_WIRE_CHUNK_MIN;
	if (ksk_arena_create(alloc, d->chunk, d->lim.max_arena, &d->arena) != KSK_OK)
		goto fail_arena;
	if (!msgpack_zone_init(&d->zone, 64 * 1024))
		goto fail_zone;
	*out = d;
	return KSK_OK;
fail_zone:
	ksk_arena_destroy(d->arena);
fail_arena:
	ksk_free(alloc, d);
	return KSK_ENOMEM;
}

void ksk_wire_dec_destroy(ksk_wire_dec *d)
{
	if (!d)
		return;
	msgpack_zone_destroy(&d->zone);
	ksk_arena_destroy(d->arena);
	ksk_free(d->alloc, d);
}

/* ---- errors ------------------------------------------------------------- */

static const char *ksk_mp_type(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL: return "nil";
	case MSGPACK_OBJECT_BOOLEAN: return "bool";
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "int";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: return "float";
	case MSGPACK_OBJECT_STR: return "str";
	case MSGPACK_OBJECT_ARRAY: return "array";
	case MSGPACK_OBJECT_MAP: return "map";
	case MSGPACK_OBJECT_BIN: return "bin";
	case MSGPACK_OBJECT_EXT: return "ext";
	}
	return "?";
}

static ksk_err ksk_wd_fail(ksk_wd *c, ksk_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records `code` with "record N (type): [event I: ]<detail>". Cold path. */
static ksk_err ksk_wd_fail(ksk_wd *c, ksk_err code, const char *fmt, ...)
{
	if (!c->ei)
		return code;
	char detail[192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	char where[64];
	if (c->rtype)
		snprintf(where, sizeof(where), "record %u (%s)", c->rec, c->rtype);
	else
		snprintf(where, sizeof(where), "record %u", c->rec);
	if (c->sub)
		return ksk_errinfo_set(c->ei, code, "%s: %s %u: %s", where, c->sub,
		                       c->sub_i, detail);
	return ksk_errinfo_set(c->ei, code, "%s: %s", where, detail);
}

static ksk_err ksk_wd_arena_fail(ksk_wd *c)
{
	ksk_err rc = ksk_arena_error(c->ar);
	if (rc == KSK_ENOMEM)
		return ksk_wd_fail(c, KSK_ENOMEM, "out of memory");
	return ksk_wd_fail(c, KSK_ELIMIT, "decoded batch over max_arena (%zu bytes)",
	                   c->d->lim.max_arena);
}

static ksk_err ksk_wd_type_fail(ksk_wd *c, const char *want,
                                const msgpack_object *o)
{
	return ksk_wd_fail(c, KSK_ERECORD, "key %u (%s) must be %s, got %s",
	                   c->fkey, c->fname, want, ksk_mp_type(o));
}

/* ---- field decoders ----------------------------------------------------- */

/* Inline check for the common all-ASCII string, saving a call per field. */
static inline bool ksk_wd_ascii(const char *p, uint32_t n)
{
	return (ksk_or_bytes(p, n) & 0x8080808080808080ull) == 0;
}

/* Borrow `p` when it is valid UTF-8, else an arena copy with U+FFFD. */
static ksk_err ksk_wd_text(ksk_wd *c, const char *p, uint32_t n, ksk_str *out)
{
	if (n == 0 || ksk_wd_ascii(p, n) || ksk_utf8_valid(p, n)) {
		out->ptr = p;
		out->len = n;
		return KSK_OK;
	}
	ksk_str r = ksk_utf8_repair(c->ar, p, n);
	if (!r.ptr)
		return ksk_wd_arena_fail(c);
	if (r.len > c->max_str)
		return ksk_wd_fail(c, KSK_ELIMIT,
		                   "key %u (%s): string of %u bytes after UTF-8 "
		                   "repair over max_str %u",
		                   c->fkey, c->fname, r.len, c->max_str);
	*out = r;
	return KSK_OK;
}

static ksk_err ksk_wd_str(ksk_wd *c, const msgpack_object *o, ksk_str *out)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return ksk_wd_type_fail(c, "str", o);
	return ksk_wd_text(c, o->via.str.ptr, o->via.str.size, out);
}

static ksk_err ksk_wd_uint(ksk_wd *c, const msgpack_object *o, uint64_t max,
                           uint64_t *out)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return ksk_wd_type_fail(c, "uint", o);
	if (o->via.u64 > max)
		return ksk_wd_fail(c, KSK_ERECORD,
		                   "key %u (%s) = %llu out of range 0..%llu", c->fkey,
		                   c->fname, (unsigned long long)o->via.u64,
		                   (unsigned long long)max);
	*out = o->via.u64;
	return KSK_OK;
}

static ksk_err ksk_wd_u32(ksk_wd *c, const msgpack_object *o, uint32_t *out)
{
	uint64_t v = 0;
	KSK_TRY(ksk_wd_uint(c, o, UINT32_MAX, &v));
	*out = (uint32_t)v;
	return KSK_OK;
}

static ksk_err ksk_wd_id(ksk_wd *c, const msgpack_object *o, uint8_t *out,
                         uint32_t n)
{
	if (o->type != MSGPACK_OBJECT_BIN)
		return ksk_wd_type_fail(c, "bin", o);
	if (o->via.bin.size != n)
		return ksk_wd_fail(c, KSK_ERECORD, "%s must be %u bytes, got %u",
		                   c->fname, n, o->via.bin.size);
	memcpy(out, o->via.bin.ptr, n);
	return KSK_OK;
}

static ksk_err ksk_wd_key(ksk_wd *c, const msgpack_object *o, uint32_t i,
                          ksk_str *out)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return ksk_wd_fail(c, KSK_ERECORD,
		                   "key %u (%s): attribute %u key must be str, got %s",
		                   c->fkey, c->fname, i, ksk_mp_type(o));
	if (o->via.str.size == 0)
		return ksk_wd_fail(c, KSK_ERECORD,
		                   "key %u (%s): attribute %u key is empty", c->fkey,
		                   c->fname, i);
	return ksk_wd_text(c, o->via.str.ptr, o->via.str.size, out);
}

static ksk_err ksk_wd_value(ksk_wd *c, const msgpack_object *o, ksk_value *v,
                            uint32_t depth)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		v->type = KSK_VAL_EMPTY;
		v->u.i = 0;
		return KSK_OK;
	case MSGPACK_OBJECT_BOOLEAN:
		v->type = KSK_VAL_BOOL;
		v->u.b = o->via.boolean;
		return KSK_OK;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > (uint64_t)INT64_MAX)
			return ksk_wd_fail(c, KSK_ERECORD,
			                   "key %u (%s): integer %llu over INT64_MAX",
			                   c->fkey, c->fname,
			                   (unsigned long long)o->via.u64);
		v->type = KSK_VAL_INT;
		v->u.i = (int64_t)o->via.u64;
		return KSK_OK;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		v->type = KSK_VAL_INT;
		v->u.i = o->via.i64;
		return KSK_OK;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		v->type = KSK_VAL_DOUBLE;
		v->u.d = o->via.f64;
		return KSK_OK;
	case MSGPACK_OBJECT_STR:
		v->type = KSK_VAL_STR;
		return ksk_wd_text(c, o->via.str.ptr, o->via.str.size, &v->u.s);
	case MSGPACK_OBJECT_BIN:
		v->type = KSK_VAL_BYTES;
		v->u.s.ptr = o->via.bin.ptr;
		v->u.s.len = o->via.bin.size;
		return KSK_OK;
	case MSGPACK_OBJECT_ARRAY: {
		if (depth >= c->vdepth)
			goto too_deep;
		uint32_t n = o->via.array.size;
		ksk_value *items = NULL;
		if (n) {
			items = ksk_arena_alloc(c->ar, (size_t)n * sizeof(*items));
			if (!items)
				return ksk_wd_arena_fail(c);
			for (uint32_t i = 0; i < n; i++)
				KSK_TRY(ksk_wd_value(c, &o->via.array.ptr[i], &items[i],
				                     depth + 1));
		}
		v->type = KSK_VAL_ARRAY;
		v->u.arr.items = items;
		v->u.arr.n = n;
		return KSK_OK;
	}
	case MSGPACK_OBJECT_MAP: {
		if (depth >= c->vdepth)
			goto too_deep;
		uint32_t n = o->via.map.size;
		ksk_attr *items = NULL;
		if (n) {
			items = ksk_arena_alloc(c->ar, (size_t)n * sizeof(*items));
			if (!items)
				return ksk_wd_arena_fail(c);
			for (uint32_t i = 0; i < n; i++) {
				const msgpack_object_kv *kv = &o->via.map.ptr[i];
				KSK_TRY(ksk_wd_key(c, &kv->key, i, &items[i].key));
				KSK_TRY(ksk_wd_value(c, &kv->val, &items[i].value,
				                     depth + 1));
			}
		}
		v->type = KSK_VAL_KVLIST;
		v->u.kv.items = items;
		v->u.kv.n = n;
		return KSK_OK;
	}
	case MSGPACK_OBJECT_EXT:
		break;
	}
	return ksk_wd_fail(c, KSK_ERECORD,
	                   "key %u (%s): msgpack type %s is not a value type",
	                   c->fkey, c->fname, ksk_mp_type(o));
too_deep:
	return ksk_wd_fail(c, KSK_ELIMIT,
	                   "key %u (%s): value nested deeper than max_depth %u",
	                   c->fkey, c->fname, c->vdepth);
}

static ksk_err ksk_wd_attrs(ksk_wd *c, const msgpack_object *o,
                            ksk_attr **items, uint32_t *n_out)
{
	if (o->type != MSGPACK_OBJECT_MAP)
		return ksk_wd_type_fail(c, "map", o);
	uint32_t n = o->via.map.size;
	if (n > c->max_attrs)
		return ksk_wd_fail(c, KSK_ELIMIT,
		                   "key %u (%s): %u attributes over max_attrs %u",
		                   c->fkey, c->fname, n, c->max_attrs);
	ksk_attr *a = NULL;
	if (n) {
		a = ksk_arena_alloc(c->ar, (size_t)n * sizeof(*a));
		if (!a)
			return ksk_wd_arena_fail(c);
		const msgpack_object_kv *kv = o->via.map.ptr;
		for (uint32_t i = 0; i < n; i++) {
			KSK_TRY(ksk_wd_key(c, &kv[i].key, i, &a[i].key));
			KSK_TRY(ksk_wd_value(c, &kv[i].val, &a[i].value, 0));
		}
	}
	*items = a;
	*n_out = n;
	return KSK_OK;
}

/* Common per-pair step of every map with integer keys. Returns 1 when the
 * pair is a known key to decode (c->fkey/fname set), 0 to skip it, -1 on
 * error with *rc set. `seen` catches duplicate known keys; `self` is the
 * record-type pair, found earlier (its bit preset in `seen`), which is not
 * a duplicate of itself; NULL in events and links, where key 0 is unknown. */
static inline int ksk_wd_pair(ksk_wd *c, const msgpack_object_kv *kv, uint32_t j,
                              unsigned maxkey, const char *const *names,
                              uint64_t *seen, const msgpack_object_kv *self,
                              ksk_err *rc)
{
	if (kv->key.type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
		*rc = ksk_wd_fail(c, KSK_ERECORD,
		                  "map key at position %u must be uint, got %s", j,
		                  ksk_mp_type(&kv->key));
		return -1;
	}
	uint64_t key = kv->key.via.u64;
	if (key > maxkey || (key == 0 && !self))
		return 0; /* unknown: forward compatibility */
	if (*seen & BIT(key)) {
		if (kv == self)
			return 0;
		*rc = ksk_wd_fail(c, KSK_ERECORD, "duplicate key %u (%s)",
		                  (unsigned)key, names[key]);
		return -1;
	}
	*seen |= BIT(key);
	c->fkey = (unsigned)key;
	c->fname = names[key];
	return 1;
}

static ksk_err ksk_wd_missing(ksk_wd *c, uint64_t missing,
                              const char *const *names)
{
	unsigned k = (unsigned)__builtin_ctzll(missing);
	return ksk_wd_fail(c, KSK_ERECORD, "missing key %u (%s)", k, names[k]);
}

static ksk_err ksk_wd_event(ksk_wd *c, const msgpack_object *o, ksk_event *ev)
{
	if (o->type != MSGPACK_OBJECT_MAP)
		return ksk_wd_fail(c, KSK_ERECORD, "must be map, got %s",
		                   ksk_mp_type(o));
	uint64_t seen = 0;
	ksk_err rc = KSK_OK;
	const msgpack_object_map *m = &o->via.map;
	for (uint32_t j = 0; j < m->size; j++) {
		const msgpack_object_kv *kv = &m->ptr[j];
		int r = ksk_wd_pair(c, kv, j, EK_MAX, ksk_event_keys, &seen, NULL, &rc);
		if (r < 0)
			return rc;
		if (r == 0)
			continue;
		switch (c->fkey) {
		case EK_TIME:
			KSK_TRY(ksk_wd_uint(c, &kv->val, UINT64_MAX, &ev->time_ns));
			break;
		case EK_NAME:
			KSK_TRY(ksk_wd_str(c, &kv->val, &ev->name));
			break;
		case EK_ATTRS:
			KSK_TRY(ksk_wd_attrs(c, &kv->val, &ev->attrs, &ev->n_attrs));
			break;
		case EK_DROPPED_ATTRS:
			KSK_TRY(ksk_wd_u32(c, &kv->val, &ev->dropped_attrs));
			break;
		}
	}
	return KSK_OK;
}

static ksk_err ksk_wd_link(ksk_wd *c, const msgpack_object *o, ksk_link *lk)
{
	if (o->type != MSGPACK_OBJECT_MAP)
		return ksk_wd_fail(c, KSK_ERECORD, "must be map, got %s",
		                   ksk_mp_type(o));
	uint64_t seen = 0;
	ksk_err rc = KSK_OK;
	const msgpack_object_map *m = &o->via.map;
	for (uint32_t j = 0; j < m->size; j++) {
		const msgpack_object_kv *kv = &m->ptr[j];
		int r = ksk_wd_pair(c, kv, j, LK_MAX, ksk_link_keys, &seen, NULL, &rc);
		if (r < 0)
			return rc;
		if (r == 0)
			continue;
		switch (c->fkey) {
		case LK_TRACE_ID:
			KSK_TRY(ksk_wd_id(c, &kv->val, lk->trace_id, KSK_TRACE_ID_LEN));
			break;
		case LK_SPAN_ID:
			KSK_TRY(ksk_wd_id(c, &kv->val, lk->span_id, KSK_SPAN_ID_LEN));
			break;
		case LK_TRACE_STATE:
			KSK_TRY(ksk_wd_str(c, &kv->val, &lk->trace_state));
			break;
		case LK_FLAGS:
			KSK_TRY(ksk_wd_u32(c, &kv->val, &lk->flags));
			break;
		case LK_ATTRS:
			KSK_TRY(ksk_wd_attrs(c, &kv->val, &lk->attrs, &lk->n_attrs));
			break;
		case LK_DROPPED_ATTRS:
			KSK_TRY(ksk_wd_u32(c, &kv->val, &lk->dropped_attrs));
			break;
		}
	}
	if (LINK_REQUIRED & ~seen)
		return ksk_wd_missing(c, LINK_REQUIRED & ~seen, ksk_link_keys);
	if (ksk_id_is_zero(lk->trace_id, KSK_TRACE_ID_LEN))
		return ksk_wd_fail(c, KSK_ERECORD, "trace_id is all zero");
	if (ksk_id_is_zero(lk->span_id, KSK_SPAN_ID_LEN))
		return ksk_wd_fail(c, KSK_ERECORD, "span_id is all zero");
	return KSK_OK;
}

static ksk_err ksk_wd_events(ksk_wd *c, const msgpack_object *o, ksk_span *s)
{
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return ksk_wd_type_fail(c, "array", o);
	uint32_t n = o->via.array.size;
	uint32_t max = c->d->lim.max_events;
	if (n > max)
		return ksk_wd_fail(c, KSK_ELIMIT, "key %u (%s): %u events over max_events %u",
		                   c->fkey, c->fname, n, max);
	if (n == 0)
		return KSK_OK;
	ksk_event *ev = ksk_arena_calloc(c->ar, n, sizeof(*ev));
	if (!ev)
		return ksk_wd_arena_fail(c);
	c->sub = "event";
	for (uint32_t i = 0; i < n; i++) {
		c->sub_i = i;
		KSK_TRY(ksk_wd_event(c, &o->via.array.ptr[i], &ev[i]));
	}
	c->sub = NULL;
	s->events = ev;
	s->n_events = n;
	return KSK_OK;
}

static ksk_err ksk_wd_links(ksk_wd *c, const msgpack_object *o, ksk_span *s)
{
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return ksk_wd_type_fail(c, "array", o);
	uint32_t n = o->via.array.size;
	uint32_t max = c->d->lim.max_links;
	if (n > max)
		return ksk_wd_fail(c, KSK_ELIMIT, "key %u (%s): %u links over max_links %u",
		                   c->fkey, c->fname, n, max);
	if (n == 0)
		return KSK_OK;
	ksk_link *lk = ksk_arena_calloc(c->ar, n, sizeof(*lk));
	if (!lk)
		return ksk_wd_arena_fail(c);
	c->sub = "link";
	for (uint32_t i = 0; i < n; i++) {
		c->sub_i = i;
		KSK_TRY(ksk_wd_link(c, &o->via.array.ptr[i], &lk[i]));
	}
	c->sub = NULL;
	s->links = lk;
	s->n_links = n;
	return KSK_OK;
}

static ksk_err ksk_wd_resource_ref(ksk_wd *c, uint32_t idx)
{
	uint32_t have = c->d->batch.n_resources;
	if (idx >= have)
		return ksk_wd_fail(c, KSK_ERECORD,
		                   "resource %u not defined (%u resources so far)",
		                   idx, have);
	return KSK_OK;
}

static ksk_err ksk_wd_span(ksk_wd *c, const msgpack_object_map *m,
                           const msgpack_object_kv *self, ksk_span *s)
{
	memset(s, 0, sizeof(*s));
	uint64_t seen = BIT(KEY_TYPE), v = 0;
	ksk_err rc = KSK_OK;
	for (uint32_t j = 0; j < m->size; j++) {
		const msgpack_object_kv *kv = &m->ptr[j];
		int r = ksk_wd_pair(c, kv, j, SK_MAX, ksk_span_keys, &seen, self, &rc);
		if (r < 0)
			return rc;
		if (r == 0)
			continue;
		const msgpack_object *o = &kv->val;
		switch (c->fkey) {
		case SK_TRACE_ID:
			KSK_TRY(ksk_wd_id(c, o, s->trace_id, KSK_TRACE_ID_LEN));
			break;
		case SK_SPAN_ID:
			KSK_TRY(ksk_wd_id(c, o, s->span_id, KSK_SPAN_ID_LEN));
			break;
		case SK_PARENT_ID:
			KSK_TRY(ksk_wd_id(c, o, s->parent_id, KSK_SPAN_ID_LEN));
			s->has_parent = !ksk_id_is_zero(s->parent_id, KSK_SPAN_ID_LEN);
			break;
		case SK_NAME:
			KSK_TRY(ksk_wd_str(c, o, &s->name));
			break;
		case SK_KIND:
			KSK_TRY(ksk_wd_uint(c, o, KSK_KIND_CONSUMER, &v));
			s->kind = (ksk_span_kind)v;
			break;
		case SK_START:
			KSK_TRY(ksk_wd_uint(c, o, UINT64_MAX, &s->start_ns));
			break;
		case SK_END:
			KSK_TRY(ksk_wd_uint(c, o, UINT64_MAX, &s->end_ns));
			break;
		case SK_STATUS:
			KSK_TRY(ksk_wd_uint(c, o, KSK_STATUS_ERROR, &v));
			s->status = (ksk_status_code)v;
			break;
		case SK_STATUS_MSG:
			KSK_TRY(ksk_wd_str(c, o, &s->status_msg));
			break;
		case SK_ATTRS:
			KSK_TRY(ksk_wd_attrs(c, o, &s->attrs, &s->n_attrs));
			break;
		case SK_EVENTS:
			KSK_TRY(ksk_wd_events(c, o, s));
			break;
		case SK_LINKS:
			KSK_TRY(ksk_wd_links(c, o, s));
			break;
		case SK_RESOURCE:
			KSK_TRY(ksk_wd_u32(c, o, &s->resource));
			break;
		case SK_TRACE_STATE:
			KSK_TRY(ksk_wd_str(c, o, &s->trace_state));
			break;
		case SK_FLAGS:
			KSK_TRY(ksk_wd_u32(c, o, &s->flags));
			break;
		case SK_SCOPE_NAME:
			KSK_TRY(ksk_wd_str(c, o, &s->scope_name));
			break;
		case SK_SCOPE_VERSION:
			KSK_TRY(ksk_wd_str(c, o, &s->scope_version));
			break;
		case SK_DROPPED_ATTRS:
			KSK_TRY(ksk_wd_u32(c, o, &s->dropped_attrs));
			break;
		case SK_DROPPED_EVENTS:
			KSK_TRY(ksk_wd_u32(c, o, &s->dropped_events));
			break;
		case SK_DROPPED_LINKS:
			KSK_TRY(ksk_wd_u32(c, o, &s->dropped_links));
			break;
		}
	}
	if (SPAN_REQUIRED & ~seen)
		return ksk_wd_missing(c, SPAN_REQUIRED & ~seen, ksk_span_keys);
	if (ksk_id_is_zero(s->trace_id, KSK_TRACE_ID_LEN))
		return ksk_wd_fail(c, KSK_ERECORD, "trace_id is all zero");
	if (ksk_id_is_zero(s->span_id, KSK_SPAN_ID_LEN))
		return ksk_wd_fail(c, KSK_ERECORD, "span_id is all zero");
	if (s->end_ns < s->start_ns)
		return ksk_wd_fail(c, KSK_ERECORD, "end_ns %llu < start_ns %llu",
		                   (unsigned long long)s->end_ns,
		                   (unsigned long long)s->start_ns);
	return ksk_wd_resource_ref(c, s->resource);
}

/* ---- ID digits left out of a log body (keys 15 and 16) ------------------
 *
 * Both decode paths share these. The offsets are positions in the restored
 * body; the ranges [at, at + len) must not overlap and must fit: the first
 * at <= wire length, the second at - first len <= wire length. */

/* The whole body in the arena: `b` (blen bytes, `k` fits it) with the
 * digits put back, and l's hints set to them; NULL when the arena fails. */
static char *ksk_wd_cut_restore(ksk_arena *ar, ksk_log *l, const char *b, uint32_t blen,
                                const ksk_id_cut *k, uint32_t *n)
{
	uint32_t total = blen;
	for (uint32_t i = 0; i < k->n; i++)
		total += k->len[i];
	char *o = ksk_arena_alloc(ar, total ? total : 1);
	if (!o)
		return NULL;
	*n = ksk_id_cut_join(b, blen, k, l->trace_id, l->span_id, o, l);
	return o;
}

/* Slow path: restores l->body from the wire body's raw bytes (the value of
 * key 5 in `m`, before any UTF-8 repair), then checks it as any string. */
static ksk_err ksk_wd_log_cuts(ksk_wd *c, const msgpack_object_map *m, ksk_log *l,
                               ksk_id_cut *k, const unsigned key[2])
{
	const msgpack_object *body = NULL;
	for (uint32_t j = 0; j < m->size; j++)
		if (m->ptr[j].key.type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
		    m->ptr[j].key.via.u64 == GK_BODY)
			body = &m->ptr[j].val;
	for (uint32_t i = 0; i < k->n; i++) {
		if (!body || body->type != MSGPACK_OBJECT_STR)
			return ksk_wd_fail(c, KSK_ERECORD, "key %u (%s) needs a string body", key[i],
			                   ksk_log_keys[key[i]]);
		if (key[i] == GK_TRACE_AT ? !l->has_trace : !l->has_span)
			return ksk_wd_fail(c, KSK_ERECORD, "key %u (%s) needs a %s", key[i],
			                   ksk_log_keys[key[i]],
			                   key[i] == GK_TRACE_AT ? "trace_id" : "span_id");
	}
	const char *b = body->via.str.ptr;
	uint32_t blen = body->via.str.size;
	uint32_t bad = ksk_id_cut_fit(k, blen);
	if (bad) {
		unsigned bk = ksk_w_cut_key(k, bad - 1);
		return ksk_wd_fail(c, KSK_ERECORD,
		                   "key %u (%s) does not fit the body (%u bytes sent) and "
		                   "the other ID's digits", bk, ksk_log_keys[bk], blen);
	}
	uint64_t total = (uint64_t)blen + k->len[0] + (k->n == 2 ? k->len[1] : 0);
	if (total > c->max_str)
		return ksk_wd_fail(c, KSK_ELIMIT,
		                   "key 5 (body): %llu bytes with its ID digits put back, over "
		                   "max_str %u", (unsigned long long)total, c->max_str);
	uint32_t n = 0;
	char *o = ksk_wd_cut_restore(c->ar, l, b, blen, k, &n);
	if (!o)
		return ksk_wd_arena_fail(c);
	c->fkey = GK_BODY;
	c->fname = ksk_log_keys[GK_BODY];
	l->body.type = KSK_VAL_STR;
	KSK_TRY(ksk_wd_text(c, o, n, &l->body.u.s));
	if (l->body.u.s.ptr != o) /* repaired: the digits may have moved */
		l->trace_hex_end = l->span_hex_end = 0;
	return KSK_OK;
}

/* Key 17: the attributes of the previous log record in the payload (the
 * batch's last decoded log; `l` is the slot after it). */
static ksk_err ksk_wd_attrs_prev(ksk_wd *c, ksk_log *l, bool has_attrs)
{
	const ksk_batch *b = &c->d->batch;
	if (has_attrs)
		return ksk_wd_fail(c, KSK_ERECORD, "key 17 (attrs_prev) and key 6 (attrs) together");
	if (b->n_logs == 0)
		return ksk_wd_fail(c, KSK_ERECORD, "key 17 (attrs_prev): no log record before this one");
	l->attrs = b->logs[b->n_logs - 1].attrs;
	l->n_attrs = b->logs[b->n_logs - 1].n_attrs;
	return KSK_OK;
}

static ksk_err ksk_wd_log(ksk_wd *c, const msgpack_object_map *m,
                          const msgpack_object_kv *self, ksk_log *l)
{
	memset(l, 0, sizeof(*l));
	uint64_t seen = BIT(KEY_TYPE), v = 0;
	ksk_err rc = KSK_OK;
	ksk_id_cut cut = {0};
	unsigned cut_key[2] = {0, 0}; /* in read order, for messages */
	for (uint32_t j = 0; j < m->size; j++) {
		const msgpack_object_kv *kv = &m->ptr[j];
		int r = ksk_wd_pair(c, kv, j, GK_MAX, ksk_log_keys, &seen, self, &rc);
		if (r < 0)
			return rc;
		if (r == 0)
			continue;
		const msgpack_object *o = &kv->val;
		switch (c->fkey) {
		case GK_TIME:
			KSK_TRY(ksk_wd_uint(c, o, UINT64_MAX, &l->time_ns));
			break;
		case GK_OBSERVED:
			KSK_TRY(ksk_wd_uint(c, o, UINT64_MAX, &l->observed_ns));
			break;
		case GK_SEVERITY:
			KSK_TRY(ksk_wd_uint(c, o, 24, &v));
			l->severity = (uint8_t)v;
			break;
		case GK_SEVERITY_TEXT:
			KSK_TRY(ksk_wd_str(c, o, &l->severity_text));
			break;
		case GK_BODY:
			KSK_TRY(ksk_wd_value(c, o, &l->body, 0));
			break;
		case GK_ATTRS:
			KSK_TRY(ksk_wd_attrs(c, o, &l->attrs, &l->n_attrs));
			break;
		case GK_TRACE_ID:
			KSK_TRY(ksk_wd_id(c, o, l->trace_id, KSK_TRACE_ID_LEN));
			l->has_trace = !ksk_id_is_zero(l->trace_id, KSK_TRACE_ID_LEN);
			break;
		case GK_SPAN_ID:
			KSK_TRY(ksk_wd_id(c, o, l->span_id, KSK_SPAN_ID_LEN));
			l->has_span = !ksk_id_is_zero(l->span_id, KSK_SPAN_ID_LEN);
			break;
		case GK_FLAGS:
			KSK_TRY(ksk_wd_u32(c, o, &l->flags));
			break;
		case GK_RESOURCE:
			KSK_TRY(ksk_wd_u32(c, o, &l->resource));
			break;
		case GK_EVENT_NAME:
			KSK_TRY(ksk_wd_str(c, o, &l->event_name));
			break;
		case GK_SCOPE_NAME:
			KSK_TRY(ksk_wd_str(c, o, &l->scope_name));
			break;
		case GK_SCOPE_VERSION:
			KSK_TRY(ksk_wd_str(c, o, &l->scope_version));
			break;
		case GK_DROPPED_ATTRS:
			KSK_TRY(ksk_wd_u32(c, o, &l->dropped_attrs));
			break;
		case GK_TRACE_AT:
		case GK_SPAN_AT: {
			uint32_t at;
			KSK_TRY(ksk_wd_u32(c, o, &at));
			cut_key[cut.n] = c->fkey;
			ksk_id_cut_add(&cut, at, c->fkey == GK_TRACE_AT ? 32 : 16);
			break;
		}
		case GK_ATTRS_PREV:
			if (o->type != MSGPACK_OBJECT_BOOLEAN || !o->via.boolean)
				return ksk_wd_fail(c, KSK_ERECORD, "key 17 (attrs_prev) must be true");
			break;
		}
	}
	if (seen & BIT(GK_ATTRS_PREV))
		KSK_TRY(ksk_wd_attrs_prev(c, l, (seen & BIT(GK_ATTRS)) != 0));
	if (LOG_REQUIRED & ~seen)
		return ksk_wd_missing(c, LOG_REQUIRED & ~seen, ksk_log_keys);
	if (l->observed_ns == 0)
		l->observed_ns = l->time_ns;
	if (l->observed_ns == 0)
		return ksk_wd_fail(c, KSK_ERECORD,
		                   "time_ns and observed_ns are both 0 or absent");
	if (cut.n)
		KSK_TRY(ksk_wd_log_cuts(c, m, l, &cut, cut_key));
	return ksk_wd_resource_ref(c, l->resource);
}

static ksk_err ksk_wd_resource(ksk_wd *c, const msgpack_object_map *m,
                               const msgpack_object_kv *self, ksk_resource *r)
{
	memset(r, 0, sizeof(*r));
	uint64_t seen = BIT(KEY_TYPE);
	ksk_err rc = KSK_OK;
	for (uint32_t j = 0; j < m->size; j++) {
		const msgpack_object_kv *kv = &m->ptr[j];
		int k = ksk_wd_pair(c, kv, j, RK_MAX, ksk_res_keys, &seen, self, &rc);
		if (k < 0)
			return rc;
		if (k == 0)
			continue;
		if (c->fkey == RK_ATTRS)
			KSK_TRY(ksk_wd_attrs(c, &kv->val, &r->attrs, &r->n_attrs));
		else
			KSK_TRY(ksk_wd_u32(c, &kv->val, &r->dropped_attrs));
	}
	const ksk_str svc = KSK_STR("service.name"), host = KSK_STR("host.name");
	bool got_svc = false, got_host = false;
	for (uint32_t i = 0; i < r->n_attrs && !(got_svc && got_host); i++) {
		const ksk_attr *a = &r->attrs[i];
		if (a->value.type != KSK_VAL_STR)
			continue;
		if (!got_svc && ksk_str_eq(a->key, svc)) {
			r->service = a->value.u.s;
			got_svc = true;
		} else if (!got_host && ksk_str_eq(a->key, host)) {
			r->host = a->value.u.s;
			got_host = true;
		}
	}
	return KSK_OK;
}

/* Makes room for one more element in one of the batch arrays. */
static void *ksk_wd_slot(ksk_wd *c, void **arr, uint32_t *cap, uint32_t n,
                         size_t elem)
{
	if (n < *cap)
		return (char *)*arr + (size_t)n * elem;
	uint64_t ncap;
	if (*cap == 0)
		ncap = c->left < KSK_WIRE_FIRST_SLOTS ? c->left : KSK_WIRE_FIRST_SLOTS;
	else
		ncap = (uint64_t)*cap * 2;
	if (ncap > (uint64_t)n + c->left)
		ncap = (uint64_t)n + c->left;
	if (ncap <= n)
		ncap = (uint64_t)n + 1;
	void *p = ksk_arena_alloc(c->ar, (size_t)ncap * elem);
	if (!p)
		return NULL;
	if (n)
		memcpy(p, *arr, (size_t)n * elem);
	*arr = p;
	*cap = (uint32_t)ncap;
	return (char *)p + (size_t)n * elem;
}

static ksk_err ksk_wd_record(ksk_wd *c, const msgpack_object *o)
{
	ksk_wire_dec *d = c->d;
	ksk_batch *b = &d->batch;
	c->rtype = NULL;
	c->sub = NULL;
	c->fkey = 0;
	c->fname = "type";
	if (o->type != MSGPACK_OBJECT_MAP)
		return ksk_wd_fail(c, KSK_ERECORD, "must be a map, got %s",
		                   ksk_mp_type(o));
	const msgpack_object_map *m = &o->via.map;
	const msgpack_object_kv *self = NULL;
	/* writers put the type first; look further only when they did not */
	for (uint32_t j = 0; j < m->size; j++) {
		const msgpack_object *k = &m->ptr[j].key;
		if (k->type == MSGPACK_OBJECT_POSITIVE_INTEGER && k->via.u64 == 0) {
			self = &m->ptr[j];
			break;
		}
	}
	if (!self)
		return ksk_wd_fail(c, KSK_ERECORD, "missing key 0 (record type)");
	if (self->val.type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return ksk_wd_type_fail(c, "uint", &self->val);
	void *slot;
	switch (self->val.via.u64) {
	case KSK_REC_RESOURCE:
		c->rtype = "resource";
		slot = ksk_wd_slot(c, (void **)&b->resources, &d->cap_res,
		                   b->n_resources, sizeof(ksk_resource));
		if (!slot)
			return ksk_wd_arena_fail(c);
		KSK_TRY(ksk_wd_resource(c, m, self, slot));
		b->n_resources++;
		return KSK_OK;
	case KSK_REC_SPAN:
		c->rtype = "span";
		slot = ksk_wd_slot(c, (void **)&b->spans, &d->cap_spans, b->n_spans,
		                   sizeof(ksk_span));
		if (!slot)
			return ksk_wd_arena_fail(c);
		KSK_TRY(ksk_wd_span(c, m, self, slot));
		b->n_spans++;
		return KSK_OK;
	case KSK_REC_LOG:
		c->rtype = "log";
		slot = ksk_wd_slot(c, (void **)&b->logs, &d->cap_logs, b->n_logs,
		                   sizeof(ksk_log));
		if (!slot)
			return ksk_wd_arena_fail(c);
		KSK_TRY(ksk_wd_log(c, m, self, slot));
		b->n_logs++;
		return KSK_OK;
	}
	return ksk_wd_fail(c, KSK_ERECORD, "unknown record type %llu",
	                   (unsigned long long)self->val.via.u64);
}

/* ---- direct path for plain log records ----------------------------------
 *
 * Most records are logs an agent wrote: integer keys in ascending order,
 * scalar values, attributes of scalar values. Such a record is decoded
 * straight from its bytes, without msgpack-c's object tree (which cost
 * more than the rest of the decode). The guard has already checked the
 * record's structure and lengths. The direct path only takes a record it
 * can decode exactly as ksk_wd_log() would; at the first thing it does not
 * handle (another record type, a key out of order, an unknown key, a
 * signed or non-minimal integer where a uint is wanted, a value out of
 * range, a nested value, a string that is not valid UTF-8, a missing
 * resource, ...) it returns false before allocating anything or touching
 * the batch, and the record goes through msgpack-c and ksk_wd_record(),
 * which gives the same result or the error. test_wire and fuzz_wire
 * compare both paths on the same payloads. */

typedef struct ksk_wdf {
	const uint8_t *p, *end;
	ksk_err rc; /* an allocation failed (reported as ksk_wd_log would) */
} ksk_wdf;

static inline uint64_t ksk_wdf_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Takes `n` bytes; NULL when they are not there. */
static inline const uint8_t *ksk_wdf_take(ksk_wdf *r, size_t n)
{
	if ((size_t)(r->end - r->p) < n)
		return NULL;
	const uint8_t *q = r->p;
	r->p += n;
	return q;
}

/* A uint in the forms msgpack-c reads as POSITIVE_INTEGER without a sign. */
static bool ksk_wdf_uint(ksk_wdf *r, uint64_t *v)
{
	const uint8_t *t = ksk_wdf_take(r, 1);
	if (!t)
		return false;
	if (*t <= 0x7f) {
		*v = *t;
		return true;
	}
	unsigned n = *t == 0xcc ? 1 : *t == 0xcd ? 2 : *t == 0xce ? 4 : *t == 0xcf ? 8 : 0;
	const uint8_t *q = n ? ksk_wdf_take(r, n) : NULL;
	if (!q)
		return false;
	*v = ksk_wdf_be(q, n);
	return true;
}

/* The length of a str (0) or bin (1) header at r->p, or false. */
static bool ksk_wdf_len(ksk_wdf *r, int bin, uint32_t *len)
{
	const uint8_t *t = ksk_wdf_take(r, 1);
	if (!t)
		return false;
	if (!bin && (*t & 0xe0) == 0xa0) {
		*len = *t & 0x1f;
	} else {
		unsigned n = 0;
		uint8_t b8 = bin ? 0xc4 : 0xd9, b16 = bin ? 0xc5 : 0xda, b32 = bin ? 0xc6 : 0xdb;
		n = *t == b8 ? 1 : *t == b16 ? 2 : *t == b32 ? 4 : 0;
		const uint8_t *q = n ? ksk_wdf_take(r, n) : NULL;
		if (!q)
			return false;
		*len = (uint32_t)ksk_wdf_be(q, n);
	}
	return (size_t)(r->end - r->p) >= *len;
}

/* A str that is valid UTF-8 (ksk_wd_text would borrow it). */
static bool ksk_wdf_str(ksk_wdf *r, ksk_str *out)
{
	uint32_t n;
	if (!ksk_wdf_len(r, 0, &n))
		return false;
	const char *q = (const char *)r->p;
	if (n && !ksk_wd_ascii(q, n) && !ksk_utf8_valid(q, n))
		return false;
	r->p += n;
	out->ptr = q;
	out->len = n;
	return true;
}

/* A scalar value as ksk_wd_value() decodes it (nothing nested). */
static bool ksk_wdf_value(ksk_wdf *r, ksk_value *v)
{
	if (r->p >= r->end)
		return false;
	uint8_t t = *r->p;
	if ((t & 0xe0) == 0xa0 || (t >= 0xd9 && t <= 0xdb)) {
		v->type = KSK_VAL_STR;
		return ksk_wdf_str(r, &v->u.s);
	}
	if (t >= 0xc4 && t <= 0xc6) {
		uint32_t n;
		if (!ksk_wdf_len(r, 1, &n))
			return false;
		v->type = KSK_VAL_BYTES;
		v->u.s.ptr = (const char *)r->p;
		v->u.s.len = n;
		r->p += n;
		return true;
	}
	if (t <= 0x7f || (t >= 0xcc && t <= 0xcf)) {
		uint64_t u;
		if (!ksk_wdf_uint(r, &u) || u > (uint64_t)INT64_MAX)
			return false;
		v->type = KSK_VAL_INT;
		v->u.i = (int64_t)u;
		return true;
	}
	r->p++;
	const uint8_t *q;
	switch (t) {
	case 0xc0:
		v->type = KSK_VAL_EMPTY;
		v->u.i = 0;
		return true;
	case 0xc2:
	case 0xc3:
		v->type = KSK_VAL_BOOL;
		v->u.b = t == 0xc3;
		return true;
	case 0xca: {
		if (!(q = ksk_wdf_take(r, 4)))
			return false;
		uint32_t bits = (uint32_t)ksk_wdf_be(q, 4);
		float f;
		memcpy(&f, &bits, 4);
		v->type = KSK_VAL_DOUBLE;
		v->u.d = (double)f;
		return true;
	}
	case 0xcb: {
		if (!(q = ksk_wdf_take(r, 8)))
			return false;
		uint64_t bits = ksk_wdf_be(q, 8);
		v->type = KSK_VAL_DOUBLE;
		memcpy(&v->u.d, &bits, 8);
		return true;
	}
	case 0xd0:
	case 0xd1:
	case 0xd2:
	case 0xd3: {
		unsigned n = 1u << (t - 0xd0);
		if (!(q = ksk_wdf_take(r, n)))
			return false;
		uint64_t u = ksk_wdf_be(q, n);
		int64_t i = n == 8 ? (int64_t)u : (int64_t)(u << (64 - 8 * n)) >> (64 - 8 * n);
		v->type = KSK_VAL_INT;
		v->u.i = i;
		return true;
	}
	}
	if (t >= 0xe0) {
		v->type = KSK_VAL_INT;
		v->u.i = (int8_t)t;
		return true;
	}
	return false;
}

/* The header of a map at r->p: its size. */
static bool ksk_wdf_map(ksk_wdf *r, uint32_t *n)
{
	const uint8_t *t = ksk_wdf_take(r, 1);
	if (!t)
		return false;
	if ((*t & 0xf0) == 0x80) {
		*n = *t & 0x0f;
		return true;
	}
	unsigned w = *t == 0xde ? 2 : *t == 0xdf ? 4 : 0;
	const uint8_t *q = w ? ksk_wdf_take(r, w) : NULL;
	if (!q)
		return false;
	*n = (uint32_t)ksk_wdf_be(q, w);
	return true;
}

/* Attributes of scalar values: checked in a first pass (nothing
 * allocated if they do not qualify), then filled. */
static bool ksk_wdf_attrs(ksk_wd *c, ksk_wdf *r, ksk_attr **out, uint32_t *n_out)
{
	uint32_t n;
	if (!ksk_wdf_map(r, &n) || n > c->max_attrs)
		return false;
	ksk_wdf chk = *r;
	for (uint32_t i = 0; i < n; i++) {
		ksk_str k;
		ksk_value v;
		if (!ksk_wdf_str(&chk, &k) || k.len == 0 || !ksk_wdf_value(&chk, &v))
			return false;
	}
	ksk_attr *a = NULL;
	if (n) {
		a = ksk_arena_alloc(c->ar, (size_t)n * sizeof(*a));
		if (!a) {
			/* the same allocation, at the same point, as ksk_wd_attrs */
			r->rc = ksk_wd_arena_fail(c);
			return false;
		}
		for (uint32_t i = 0; i < n; i++) {
			ksk_wdf_str(r, &a[i].key);
			ksk_wdf_value(r, &a[i].value);
		}
	}
	*out = a;
	*n_out = n;
	return true;
}

/* A log record (fixmap, key 0 = 3 first), decoded into *l; false leaves
 * nothing behind but *l (the caller's slot, not yet counted). */
/* Direct path: restores the body when the slow path would give the same
 * string: a valid UTF-8 str body (ksk_wdf_value checked it), the IDs the
 * keys need, cuts that fit, and each insertion point at a character
 * boundary of the wire body (inserting ASCII there keeps it valid, so the
 * slow path would borrow the same bytes). Anything else: false. */
static bool ksk_wdf_log_cuts(ksk_wd *c, ksk_wdf *r, ksk_log *l, ksk_id_cut *k)
{
	if (l->body.type != KSK_VAL_STR)
		return false;
	for (uint32_t i = 0; i < k->n; i++)
		if (k->len[i] == 32 ? !l->has_trace : !l->has_span)
			return false;
	const char *b = l->body.u.s.ptr;
	uint32_t blen = l->body.u.s.len;
	if (ksk_id_cut_fit(k, blen))
		return false;
	uint32_t shift = 0;
	for (uint32_t i = 0; i < k->n; i++) {
		uint32_t w = k->at[i] - shift; /* the insertion point in b */
		if (w < blen && ((unsigned char)b[w] & 0xc0) == 0x80)
			return false;
		shift += k->len[i];
	}
	if ((uint64_t)blen + shift > c->max_str)
		return false;
	uint32_t n = 0;
	char *o = ksk_wd_cut_restore(c->ar, l, b, blen, k, &n);
	if (!o) {
		r->rc = ksk_wd_arena_fail(c);
		return false;
	}
	l->body.u.s.ptr = o;
	l->body.u.s.len = n;
	return true;
}

static bool ksk_wdf_log(ksk_wd *c, ksk_wdf *r, uint32_t pairs, ksk_log *l)
{
	memset(l, 0, sizeof(*l));
	unsigned last = 0;
	bool have_res = false;
	uint64_t v;
	ksk_id_cut cut = {0};
	bool have_attrs = false;
	for (uint32_t j = 1; j < pairs; j++) {
		const uint8_t *kp = ksk_wdf_take(r, 1);
		if (!kp || *kp <= last || *kp > GK_MAX)
			return false;
		last = *kp;
		switch (last) {
		case GK_TIME:
			if (!ksk_wdf_uint(r, &l->time_ns))
				return false;
			break;
		case GK_OBSERVED:
			if (!ksk_wdf_uint(r, &l->observed_ns))
				return false;
			break;
		case GK_SEVERITY:
			if (!ksk_wdf_uint(r, &v) || v > 24)
				return false;
			l->severity = (uint8_t)v;
			break;
		case GK_SEVERITY_TEXT:
		case GK_EVENT_NAME:
		case GK_SCOPE_NAME:
		case GK_SCOPE_VERSION: {
			ksk_str *dst = last == GK_SEVERITY_TEXT ? &l->severity_text
			             : last == GK_EVENT_NAME    ? &l->event_name
			             : last == GK_SCOPE_NAME    ? &l->scope_name
			                                        : &l->scope_version;
			if (!ksk_wdf_str(r, dst))
				return false;
			break;
		}
		case GK_BODY:
			if (!ksk_wdf_value(r, &l->body))
				return false;
			break;
		case GK_ATTRS:
			if (!ksk_wdf_attrs(c, r, &l->attrs, &l->n_attrs))
				return false;
			have_attrs = true;
			break;
		case GK_TRACE_ID:
		case GK_SPAN_ID: {
			uint32_t want = last == GK_TRACE_ID ? KSK_TRACE_ID_LEN : KSK_SPAN_ID_LEN;
			uint32_t n;
			if (!ksk_wdf_len(r, 1, &n) || n != want)
				return false;
			uint8_t *dst = last == GK_TRACE_ID ? l->trace_id : l->span_id;
			memcpy(dst, r->p, n);
			r->p += n;
			if (last == GK_TRACE_ID)
				l->has_trace = !ksk_id_is_zero(l->trace_id, KSK_TRACE_ID_LEN);
			else
				l->has_span = !ksk_id_is_zero(l->span_id, KSK_SPAN_ID_LEN);
			break;
		}
		case GK_FLAGS:
		case GK_RESOURCE:
		case GK_DROPPED_ATTRS:
			if (!ksk_wdf_uint(r, &v) || v > UINT32_MAX)
				return false;
			if (last == GK_FLAGS)
				l->flags = (uint32_t)v;
			else if (last == GK_RESOURCE)
				l->resource = (uint32_t)v, have_res = true;
			else
				l->dropped_attrs = (uint32_t)v;
			break;
		case GK_TRACE_AT:
		case GK_SPAN_AT:
			if (!ksk_wdf_uint(r, &v) || v > UINT32_MAX)
				return false;
			ksk_id_cut_add(&cut, (uint32_t)v, last == GK_TRACE_AT ? 32 : 16);
			break;
		case GK_ATTRS_PREV: {
			const uint8_t *t = ksk_wdf_take(r, 1);
			const ksk_batch *b = &c->d->batch;
			if (!t || *t != 0xc3 || have_attrs || b->n_logs == 0)
				return false;
			l->attrs = b->logs[b->n_logs - 1].attrs;
			l->n_attrs = b->logs[b->n_logs - 1].n_attrs;
			break;
		}
		default:
			return false;
		}
	}
	if (!have_res || r->p != r->end || l->resource >= c->d->batch.n_resources)
		return false;
	if (l->observed_ns == 0)
		l->observed_ns = l->time_ns;
	if (l->observed_ns == 0)
		return false;
	return cut.n == 0 || ksk_wdf_log_cuts(c, r, l, &cut);
}

/* The record p[0..g) when it is a plain log: decoded and counted (1).
 * 0: not taken (nothing changed that the slow path would not redo);
 * -1: an allocation failed, *rc set exactly as the slow path sets it. */
static int ksk_wdf_record(ksk_wd *c, const uint8_t *p, size_t g, ksk_err *rc)
{
	if (g < 3 || (p[0] & 0xf0) != 0x80 || p[1] != 0x00 || p[2] != KSK_REC_LOG)
		return 0;
	ksk_wire_dec *d = c->d;
	ksk_batch *b = &d->batch;
	c->rtype = "log";
	ksk_log *slot = ksk_wd_slot(c, (void **)&b->logs, &d->cap_logs, b->n_logs,
	                            sizeof(ksk_log));
	if (!slot) {
		*rc = ksk_wd_arena_fail(c);
		return -1;
	}
	ksk_wdf r = {p + 3, p + g, KSK_OK};
	if (!ksk_wdf_log(c, &r, p[0] & 0x0f, slot)) {
		if (r.rc != KSK_OK) {
			*rc = r.rc;
			return -1;
		}
		return 0;
	}
	b->n_logs++;
	d->direct++;
	return 1;
}

/* The guard said -1: find out whether a configured limit or the structure
 * itself is to blame, by asking again with the limits lifted. Cold path. */
static ksk_err ksk_wd_guard_fail(ksk_wd *c, const uint8_t *p, size_t left,
                                 size_t off)
{
	const ksk_wire_dec *d = c->d;
	ksk_wire_limits r = d->glim;
	r.max_str = UINT32_MAX;
	r.max_container = UINT32_MAX;
	r.max_depth = UINT32_MAX;
	if (ksk_wire_guard(p, left, &r, NULL) >= 0) {
		r.max_str = d->lim.max_str;
		if (ksk_wire_guard(p, left, &r, NULL) < 0)
			return ksk_wd_fail(c, KSK_ELIMIT,
			                   "a string, bytes or ext value over max_str %u "
			                   "at offset %zu", d->lim.max_str, off);
		r.max_container = d->lim.max_container;
		if (ksk_wire_guard(p, left, &r, NULL) < 0)
			return ksk_wd_fail(c, KSK_ELIMIT,
			                   "an array or map over max_container %u at "
			                   "offset %zu", d->lim.max_container, off);
		return ksk_wd_fail(c, KSK_ELIMIT,
		                   "nesting deeper than max_depth %u (+%u record "
		                   "levels) at offset %zu",
		                   d->vdepth, KSK_WIRE_RECORD_LEVELS, off);
	}
	return ksk_wd_fail(c, KSK_EMSGPACK,
	                   "malformed or hostile msgpack at offset %zu", off);
}

ksk_err ksk_wire_decode(ksk_wire_dec *d, const uint8_t *payload, size_t len,
                        uint32_t count, const ksk_batch **out, ksk_errinfo *ei)
{
	ksk_errinfo_clear(ei);
	if (out)
		*out = NULL;
	if (!d || !out || (!payload && len))
		return ksk_errinfo_set(ei, KSK_EINVAL, "null argument");
	if (d->want_chunk > d->chunk) {
		/* the last batch spilled over several chunks, all freed by the
		 * reset: swap in an arena whose kept chunk is big enough. The
		 * old batch dies here anyway. On failure keep the old one. */
		ksk_arena *na;
		if (ksk_arena_create(d->alloc, d->want_chunk, d->lim.max_arena,
		                     &na) == KSK_OK) {
			ksk_arena_destroy(d->arena);
			d->arena = na;
			d->chunk = d->want_chunk;
		}
	}
	ksk_arena_reset(d->arena);
	memset(&d->batch, 0, sizeof(d->batch));
	d->cap_res = d->cap_spans = d->cap_logs = 0;

	if (count > d->lim.max_records)
		return ksk_errinfo_set(ei, KSK_ELIMIT,
		                       "%u records over max_records %u", count,
		                       d->lim.max_records);
	if (count > len)
		return ksk_errinfo_set(ei, KSK_ECOUNT,
		                       "count %u but the payload has only %zu bytes",
		                       count, len);

	ksk_wd c;
	memset(&c, 0, sizeof(c));
	c.d = d;
	c.ar = d->arena;
	c.ei = ei;
	c.max_str = d->lim.max_str;
	c.max_attrs = d->lim.max_attrs;
	c.vdepth = d->vdepth;
	const size_t max_objs = d->lim.max_arena / sizeof(msgpack_object);

	size_t off = 0;
	ksk_err rc = KSK_OK;
	for (uint32_t i = 0; i < count; i++) {
		c.rec = i;
		c.left = count - i;
		c.rtype = NULL;
		c.sub = NULL;
		if (off == len) {
			rc = ksk_errinfo_set(ei, KSK_ECOUNT,
			                     "payload ends after %u records, count is %u",
			                     i, count);
			goto fail;
		}
		const uint8_t *p = payload + off;
		uint64_t objs = 0;
		long g = ksk_wire_guard(p, len - off, &d->glim, &objs);
		if (g < 0) {
			rc = ksk_wd_guard_fail(&c, p, len - off, off);
			goto fail;
		}
		if (g == 0) {
			rc = ksk_wd_fail(&c, KSK_EMSGPACK,
			                 "truncated: payload ends inside the record "
			                 "starting at offset %zu", off);
			goto fail;
		}
		if (objs > max_objs) {
			rc = ksk_wd_fail(&c, KSK_ELIMIT,
			                 "%llu msgpack objects need more than max_arena "
			                 "(%zu bytes)", (unsigned long long)objs,
			                 d->lim.max_arena);
			goto fail;
		}
			int direct = d->slow_only ? 0 : ksk_wdf_record(&c, p, (size_t)g, &rc);
		if (direct < 0)
			goto fail;
		if (direct > 0) {
			off += (size_t)g;
			continue;
		}
		msgpack_zone_clear(&d->zone);
		msgpack_object obj;
		size_t moff = 0;
		msgpack_unpack_return ur = msgpack_unpack((const char *)p, (size_t)g,
		                                          &moff, &d->zone, &obj);
		if (ur == MSGPACK_UNPACK_NOMEM_ERROR) {
			rc = ksk_wd_fail(&c, KSK_ENOMEM, "msgpack-c out of memory");
			goto fail;
		}
		if ((ur != MSGPACK_UNPACK_SUCCESS &&
		     ur != MSGPACK_UNPACK_EXTRA_BYTES) || moff != (size_t)g) {
			rc = ksk_wd_fail(&c, KSK_EMSGPACK,
			                 "msgpack-c rejected the record at offset %zu "
			                 "(code %d)", off, (int)ur);
			goto fail;
		}
		rc = ksk_wd_record(&c, &obj);
		if (rc != KSK_OK)
			goto fail;
		off += (size_t)g;
	}
	if (off != len) {
		rc = ksk_errinfo_set(ei, KSK_ECOUNT,
		                     "%zu bytes left after the %u records of count",
		                     len - off, count);
		goto fail;
	}
	msgpack_zone_clear(&d->zone);
	size_t used = ksk_arena_used(d->arena);
	if (used > d->chunk && d->chunk < KSK_WIRE_CHUNK_MAX) {
		size_t want = d->chunk;
		while (want < used + used / 8 && want < KSK_WIRE_CHUNK_MAX)
			want *= 2;
		if (d->lim.max_arena && want > d->lim.max_arena)
			want = d->lim.max_arena;
		d->want_chunk = want;
	}
	*out = &d->batch;
	return KSK_OK;
fail:
	msgpack_zone_clear(&d->zone);
	ksk_arena_reset(d->arena);
	memset(&d->batch, 0, sizeof(d->batch));
	return rc;
}
