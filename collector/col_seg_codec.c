/*
 * col_seg_codec.c : the record codec of sealed segments, and the hashes
 * and filters the writer and reader share.
 *
 * Role: turn spans, logs, attribute values and resources into the compact
 * transformed encoding of docs/STORAGE.md part 2 ("Trace record", "Log
 * record", "Values"), and back. Writer side: data in = records whose
 * strings are interned (col_seg_int.h sg_istr), data out = bytes appended
 * to ksk_bufs, one per stream or all into one. Reader side: data in =
 * untrusted bytes (a block that passed its CRC may still be hostile),
 * data out = records in a caller's arena.
 *
 * Encodings: unsigned varints (LEB128, at most 10 bytes), signed as
 * zigzag; a string is a "code" varint: dictionary id << 1, or
 * len << 1 | 1 with the bytes in the RAW stream; a double is a decimal
 * exponent e (0..15) and the zigzag mantissa m when m / 10^e reproduces
 * the exact bits, else 0xFF and the 8 raw bytes.
 *
 * Invariants (reader): every read is bounds-checked against its stream;
 * a failure sets d->bad and later reads return zero; every count is
 * checked against the bytes left in the stream its elements consume
 * (>= 1 byte each) before anything is allocated, so allocation is bounded
 * by the decompressed block size; dictionary ids are checked against the
 * dictionary; value nesting is bounded (SG_MAX_DEPTH).
 * No state, no globals (constant tables only).
 */
#include "col_seg_int.h"

#include <stdio.h>

#define SG_MAX_DEPTH 64

/* ---- writer primitives --------------------------------------------------- */

void col__seg_put_u8(ksk_buf *b, uint8_t v)
{
	if (b->len < b->cap) {
		b->data[b->len++] = v;
		return;
	}
	ksk_buf_append(b, &v, 1);
}

void col__seg_put_varint(ksk_buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	while (v >= 0x80) {
		tmp[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t)v;
	if (b->cap - b->len >= n) {
		memcpy(b->data + b->len, tmp, n);
		b->len += n;
		return;
	}
	ksk_buf_append(b, tmp, n);
}

void col__seg_put_raw(ksk_buf *b, const void *p, size_t n)
{
	if (n)
		ksk_buf_append(b, p, n);
}

/* Moves entry k of a recent list to the front, or pushes `id`. */
static void sg_recent_front(uint32_t *r, uint32_t *n, uint32_t k, uint32_t id)
{
	if (k == UINT32_MAX) {
		k = *n < SG_RECENT ? (*n)++ : SG_RECENT - 1;
	}
	memmove(r + 1, r, k * sizeof(*r));
	r[0] = id;
}

/* String code: tag in the low 2 bits: 0 dictionary id, 1 inline length
 * (bytes in RAW), 2 position in the recent list. */
void col__seg_enc_str(sg_enc *e, int stream, ksk_str s)
{
	if (s.len == 0) {
		col__seg_put_varint(e->st[stream], 1);
		return;
	}
	const sg_istr *is = sg_istr_of(s);
	if (is->id != UINT32_MAX) {
		if (stream != SG_S_KEY) {
			for (uint32_t k = 0; k < e->n_recent; k++)
				if (e->recent[k] == is->id) {
					col__seg_put_varint(e->st[stream], ((uint64_t)k << 2) | 2);
					sg_recent_front(e->recent, &e->n_recent, k, is->id);
					return;
				}
			sg_recent_front(e->recent, &e->n_recent, UINT32_MAX, is->id);
		}
		col__seg_put_varint(e->st[stream], (uint64_t)is->id << 2);
		return;
	}
	col__seg_put_varint(e->st[stream], ((uint64_t)s.len << 2) | 1);
	col__seg_put_raw(e->st[SG_S_RAW], s.ptr, s.len);
}

static const double sg_p10[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                  1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

static void sg_enc_double(ksk_buf *b, double d)
{
	for (int e = 0; e <= 9; e++) {
		double m = d * sg_p10[e];
		if (!(m < 9.0e15 && m > -9.0e15))
			break; /* also NaN */
		/* round half away from zero; any error just fails the check */
		int64_t mi = m >= 0 ? (int64_t)(m + 0.5) : -(int64_t)(-m + 0.5);
		double back = (double)mi / sg_p10[e];
		if (memcmp(&back, &d, sizeof(d)) == 0) {
			col__seg_put_u8(b, (uint8_t)e);
			col__seg_put_varint(b, sg_zigzag(mi));
			return;
		}
	}
	uint8_t raw[8];
	uint64_t bits;
	memcpy(&bits, &d, 8);
	ksk_put_le64(raw, bits);
	col__seg_put_u8(b, 0xFF);
	col__seg_put_raw(b, raw, 8);
}

void col__seg_enc_value(sg_enc *e, const ksk_value *v)
{
	switch (v->type) {
	case KSK_VAL_STR:
	case KSK_VAL_BYTES:
		col__seg_put_u8(e->st[SG_S_VT], (uint8_t)v->type);
		col__seg_enc_str(e, SG_S_VS, v->u.s);
		return;
	case KSK_VAL_BOOL:
		col__seg_put_u8(e->st[SG_S_VT], (uint8_t)(KSK_VAL_BOOL | (v->u.b ? 0x10 : 0)));
		return;
	case KSK_VAL_INT:
		col__seg_put_u8(e->st[SG_S_VT], KSK_VAL_INT);
		col__seg_put_varint(e->st[SG_S_VI], sg_zigzag(v->u.i));
		return;
	case KSK_VAL_DOUBLE:
		col__seg_put_u8(e->st[SG_S_VT], KSK_VAL_DOUBLE);
		sg_enc_double(e->st[SG_S_VD], v->u.d);
		return;
	case KSK_VAL_ARRAY:
		col__seg_put_u8(e->st[SG_S_VT], KSK_VAL_ARRAY);
		col__seg_put_varint(e->st[SG_S_VI], v->u.arr.n);
		for (uint32_t i = 0; i < v->u.arr.n; i++)
			col__seg_enc_value(e, &v->u.arr.items[i]);
		return;
	case KSK_VAL_KVLIST:
		col__seg_put_u8(e->st[SG_S_VT], KSK_VAL_KVLIST);
		col__seg_enc_attrs(e, v->u.kv.items, v->u.kv.n);
		return;
	case KSK_VAL_EMPTY:
	default:
		col__seg_put_u8(e->st[SG_S_VT], KSK_VAL_EMPTY);
		return;
	}
}

void col__seg_enc_attrs(sg_enc *e, const ksk_attr *a, uint32_t n)
{
	col__seg_put_varint(e->st[SG_S_NATTR], n);
	for (uint32_t i = 0; i < n; i++) {
		col__seg_enc_str(e, SG_S_KEY, a[i].key);
		col__seg_enc_value(e, &a[i].value);
	}
}

/* extra-field bits of a span (in MISC after the kind byte says "extra") */
#define SG_SX_STATUS_MSG 0x01u
#define SG_SX_TRACE_STATE 0x02u
#define SG_SX_DROP_ATTRS 0x04u
#define SG_SX_DROP_EVENTS 0x08u
#define SG_SX_DROP_LINKS 0x10u
#define SG_SX_LINKS 0x20u

/* Times (docs: "Span times"): start is relative to the parent's start
 * when the parent was encoded earlier in the trace (spans are sorted by
 * start, so the delta is >= 0), else to the trace base; a SERVER span under
 * a CLIENT span stores the difference of their durations (RPC pairs nest
 * tightly), others their duration; event times are deltas from the
 * previous event (the first from the span start). All of these are
 * divided by e->tscale, a power of 10 dividing every time of the trace. */
static bool sg_rpc_pair(const ksk_span *s, const ksk_span *ps)
{
	return ps && s->kind == KSK_KIND_SERVER && ps->kind == KSK_KIND_CLIENT;
}

void col__seg_enc_span(sg_enc *e, const ksk_span *s, uint64_t base, uint32_t parent,
                 uint32_t n_spans, uint32_t res, const ksk_span *ps)
{
	uint8_t x = 0;
	if (s->status_msg.len)
		x |= SG_SX_STATUS_MSG;
	if (s->trace_state.len)
		x |= SG_SX_TRACE_STATE;
	if (s->dropped_attrs)
		x |= SG_SX_DROP_ATTRS;
	if (s->dropped_events)
		x |= SG_SX_DROP_EVENTS;
	if (s->dropped_links)
		x |= SG_SX_DROP_LINKS;
	if (s->n_links)
		x |= SG_SX_LINKS;
	col__seg_put_raw(e->st[SG_S_ID], s->span_id, KSK_SPAN_ID_LEN);
	if (parent == SG_PARENT_NONE)
		col__seg_put_varint(e->st[SG_S_PARENT], 0);
	else if (parent == SG_PARENT_EXT) {
		col__seg_put_varint(e->st[SG_S_PARENT], (uint64_t)n_spans + 1);
		col__seg_put_raw(e->st[SG_S_XID], s->parent_id, KSK_SPAN_ID_LEN);
	} else
		col__seg_put_varint(e->st[SG_S_PARENT], (uint64_t)parent + 1);
	col__seg_enc_str(e, SG_S_NAME, s->name);
	col__seg_put_u8(e->st[SG_S_KIND], (uint8_t)((unsigned)s->kind | (unsigned)s->status << 3 |
	                                      (x ? 0x20u : 0u)));
	uint64_t sc = e->tscale ? e->tscale : 1;
	uint64_t dur = s->end_ns - s->start_ns;
	col__seg_put_varint(e->st[SG_S_START], (s->start_ns - (ps ? ps->start_ns : base)) / sc);
	if (sg_rpc_pair(s, ps))
		col__seg_put_varint(e->st[SG_S_DUR],
		                    sg_zigzag((int64_t)((ps->end_ns - ps->start_ns) - dur) / (int64_t)sc));
	else
		col__seg_put_varint(e->st[SG_S_DUR], dur / sc);
	col__seg_put_varint(e->st[SG_S_RES], res);
	col__seg_put_varint(e->st[SG_S_MISC], s->flags);
	col__seg_enc_str(e, SG_S_MISC, s->scope_name);
	col__seg_enc_str(e, SG_S_MISC, s->scope_version);
	if (x) {
		col__seg_put_u8(e->st[SG_S_MISC], x);
		if (x & SG_SX_STATUS_MSG)
			col__seg_enc_str(e, SG_S_MISC, s->status_msg);
		if (x & SG_SX_TRACE_STATE)
			col__seg_enc_str(e, SG_S_MISC, s->trace_state);
		if (x & SG_SX_DROP_ATTRS)
			col__seg_put_varint(e->st[SG_S_MISC], s->dropped_attrs);
		if (x & SG_SX_DROP_EVENTS)
			col__seg_put_varint(e->st[SG_S_MISC], s->dropped_events);
		if (x & SG_SX_DROP_LINKS)
			col__seg_put_varint(e->st[SG_S_MISC], s->dropped_links);
	}
	col__seg_enc_attrs(e, s->attrs, s->n_attrs);
	col__seg_put_varint(e->st[SG_S_EV], s->n_events);
	uint64_t tprev = s->start_ns;
	for (uint32_t i = 0; i < s->n_events; i++) {
		const ksk_event *ev = &s->events[i];
		col__seg_put_varint(e->st[SG_S_EVT], sg_zigzag((int64_t)(ev->time_ns - tprev) / (int64_t)sc));
		tprev = ev->time_ns;
		col__seg_enc_str(e, SG_S_EVNAME, ev->name);
		col__seg_enc_attrs(e, ev->attrs, ev->n_attrs);
		col__seg_put_varint(e->st[SG_S_EV], ev->dropped_attrs);
	}
	if (x & SG_SX_LINKS) {
		col__seg_put_varint(e->st[SG_S_MISC], s->n_links);
		for (uint32_t i = 0; i < s->n_links; i++) {
			const ksk_link *l = &s->links[i];
			bool same = memcmp(l->trace_id, s->trace_id, KSK_TRACE_ID_LEN) == 0;
			col__seg_put_u8(e->st[SG_S_MISC], same ? 1 : 0);
			if (!same)
				col__seg_put_raw(e->st[SG_S_XID], l->trace_id, KSK_TRACE_ID_LEN);
			col__seg_put_raw(e->st[SG_S_XID], l->span_id, KSK_SPAN_ID_LEN);
			col__seg_enc_str(e, SG_S_MISC, l->trace_state);
			col__seg_put_varint(e->st[SG_S_MISC], l->flags);
			col__seg_enc_attrs(e, l->attrs, l->n_attrs);
			col__seg_put_varint(e->st[SG_S_MISC], l->dropped_attrs);
		}
	}
}

void col__seg_enc_log(sg_enc *e, const ksk_log *l, uint64_t base, uint64_t eff,
                uint32_t res, uint32_t trace_ord)
{
	ksk_buf *b = e->st[0];
	uint8_t fl = 0;
	sg_enc_reset(e);
	if (l->time_ns == 0)
		fl |= SG_LF_TIME0;
	if (l->has_trace)
		fl |= SG_LF_TRACE;
	if (l->has_span)
		fl |= SG_LF_SPAN;
	if (l->severity_text.len)
		fl |= SG_LF_SEVTEXT;
	if (l->event_name.len)
		fl |= SG_LF_EVNAME;
	if (l->scope_name.len || l->scope_version.len)
		fl |= SG_LF_SCOPE;
	if (l->dropped_attrs)
		fl |= SG_LF_DROPPED;
	/* the ID digits the body can go without (checked hints) */
	ksk_id_cut cut;
	ksk_log_id_cuts(l, &cut);
	if (cut.n && (fl & SG_LF_TRACE) == 0)
		cut.n = 0; /* the reader gets trace_id from the index entry */
	if (cut.n)
		fl |= SG_LF_CUT;
	col__seg_put_u8(b, fl);
	col__seg_put_varint(b, eff - base);
	col__seg_put_varint(b, sg_zigzag((int64_t)(l->observed_ns - eff)));
	col__seg_put_u8(b, l->severity);
	col__seg_put_varint(b, res);
	if (fl & SG_LF_TRACE)
		col__seg_put_varint(b, trace_ord);
	if (fl & SG_LF_SPAN)
		col__seg_put_raw(b, l->span_id, KSK_SPAN_ID_LEN);
	if (fl & SG_LF_SEVTEXT)
		col__seg_enc_str(e, 0, l->severity_text);
	if (l->body.type == KSK_VAL_STR || l->body.type == KSK_VAL_BYTES) {
		/* a string body is always inline: log lines rarely repeat
		 * exactly, so the writer does not intern them (zstd finds what
		 * repeats within a block) */
		ksk_str bs = l->body.u.s;
		col__seg_put_u8(e->st[SG_S_VT], (uint8_t)l->body.type);
		if (cut.n) {
			/* the body without the digits, then where they go:
			 * varint 1 + offset (0 = none) for trace, then span */
			uint32_t left = bs.len, at1[2] = {0, 0};
			for (uint32_t i = 0; i < cut.n; i++) {
				left -= cut.len[i];
				at1[cut.len[i] == 32 ? 0 : 1] = cut.at[i] + 1;
			}
			col__seg_put_varint(e->st[SG_S_VS], ((uint64_t)left << 2) | 1);
			ksk_buf *raw = e->st[SG_S_RAW];
			if (ksk_buf_reserve(raw, bs.len) == KSK_OK) /* else raw->err is set */
				raw->len += ksk_id_cut_split(bs.ptr, bs.len, &cut, (char *)raw->data + raw->len);
			col__seg_put_varint(b, at1[0]);
			col__seg_put_varint(b, at1[1]);
		} else {
			col__seg_put_varint(e->st[SG_S_VS], ((uint64_t)bs.len << 2) | 1);
			col__seg_put_raw(e->st[SG_S_RAW], bs.ptr, bs.len);
		}
	} else {
		col__seg_enc_value(e, &l->body);
	}
	col__seg_enc_attrs(e, l->attrs, l->n_attrs);
	col__seg_put_varint(b, l->flags);
	if (fl & SG_LF_EVNAME)
		col__seg_enc_str(e, 0, l->event_name);
	if (fl & SG_LF_SCOPE) {
		col__seg_enc_str(e, 0, l->scope_name);
		col__seg_enc_str(e, 0, l->scope_version);
	}
	if (fl & SG_LF_DROPPED)
		col__seg_put_varint(b, l->dropped_attrs);
}

/* ---- reader primitives --------------------------------------------------- */

void col__seg_dec_fail(sg_dec *d, const char *why)
{
	if (!d->bad) {
		d->bad = true;
		d->why = why;
	}
}

uint8_t col__seg_get_u8(sg_dec *d, sg_rd *r)
{
	if (d->bad || r->p >= r->end) {
		col__seg_dec_fail(d, "truncated field");
		return 0;
	}
	return *r->p++;
}

uint64_t col__seg_get_varint(sg_dec *d, sg_rd *r)
{
	uint64_t v = 0;
	if (d->bad)
		return 0;
	for (unsigned shift = 0; shift < 70; shift += 7) {
		if (r->p >= r->end) {
			col__seg_dec_fail(d, "truncated varint");
			return 0;
		}
		uint8_t c = *r->p++;
		if (shift == 63 && c > 1) {
			col__seg_dec_fail(d, "varint overflow");
			return 0;
		}
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
	}
	col__seg_dec_fail(d, "varint too long");
	return 0;
}

const uint8_t *col__seg_get_raw(sg_dec *d, sg_rd *r, size_t n)
{
	if (d->bad || sg_rd_left(r) < n) {
		col__seg_dec_fail(d, "truncated bytes");
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += n;
	return p;
}

static void *sg_dec_alloc(sg_dec *d, size_t n, size_t size)
{
	if (d->bad)
		return NULL;
	if (n == 0)
		return NULL;
	void *p = ksk_arena_calloc(d->a, n, size);
	if (!p) {
		d->nomem = true;
		col__seg_dec_fail(d, "out of memory");
	}
	return p;
}

ksk_str col__seg_dec_str(sg_dec *d, int stream)
{
	ksk_str s = {NULL, 0};
	uint64_t c = col__seg_get_varint(d, d->rs[stream]);
	if (d->bad)
		return s;
	const uint8_t *p;
	size_t len;
	bool copy;
	if ((c & 3) == 1) {
		len = (size_t)(c >> 2);
		if (len > UINT32_MAX) {
			col__seg_dec_fail(d, "string too long");
			return s;
		}
		p = col__seg_get_raw(d, d->rs[SG_S_RAW], len);
		copy = d->copy_inline;
	} else {
		uint64_t id = c >> 2;
		if ((c & 3) == 3 || (stream == SG_S_KEY && (c & 3) == 2)) {
			col__seg_dec_fail(d, "bad string code");
			return s;
		}
		if ((c & 3) == 2) {
			if (id >= d->n_recent) {
				col__seg_dec_fail(d, "recent string out of range");
				return s;
			}
			uint32_t k = (uint32_t)id;
			id = d->recent[k];
			sg_recent_front(d->recent, &d->n_recent, k, (uint32_t)id);
		} else if (id < d->dict->n && stream != SG_S_KEY)
			sg_recent_front(d->recent, &d->n_recent, UINT32_MAX, (uint32_t)id);
		if (id >= d->dict->n) {
			col__seg_dec_fail(d, "dictionary id out of range");
			return s;
		}
		if (d->dict->strs) {
			p = (const uint8_t *)d->dict->strs[id].ptr;
			len = d->dict->strs[id].len;
		} else {
			p = d->dict->bytes + d->dict->off[id];
			len = d->dict->off[id + 1] - d->dict->off[id];
		}
		copy = d->copy_dict;
	}
	if (d->bad || len == 0)
		return s;
	if (copy) {
		char *q = ksk_arena_memdup(d->a, p, len);
		if (!q) {
			d->nomem = true;
			col__seg_dec_fail(d, "out of memory");
			return s;
		}
		s.ptr = q;
	} else
		s.ptr = (const char *)p;
	s.len = (uint32_t)len;
	return s;
}

static double sg_dec_double(sg_dec *d, sg_rd *r)
{
	uint8_t e = col__seg_get_u8(d, r);
	if (e == 0xFF) {
		const uint8_t *p = col__seg_get_raw(d, r, 8);
		if (!p)
			return 0;
		uint64_t bits = ksk_get_le64(p);
		double v;
		memcpy(&v, &bits, 8);
		return v;
	}
	if (e > 15) {
		col__seg_dec_fail(d, "bad double exponent");
		return 0;
	}
	int64_t m = sg_unzigzag(col__seg_get_varint(d, r));
	return (double)m / sg_p10[e];
}

void col__seg_dec_value(sg_dec *d, ksk_value *v)
{
	memset(v, 0, sizeof(*v));
	uint8_t t = col__seg_get_u8(d, d->rs[SG_S_VT]);
	if (d->bad)
		return;
	switch (t & 0x0f) {
	case KSK_VAL_EMPTY:
		v->type = KSK_VAL_EMPTY;
		break;
	case KSK_VAL_STR:
	case KSK_VAL_BYTES:
		v->type = (ksk_val_type)(t & 0x0f);
		v->u.s = col__seg_dec_str(d, SG_S_VS);
		break;
	case KSK_VAL_BOOL:
		v->type = KSK_VAL_BOOL;
		v->u.b = (t & 0x10) != 0;
		break;
	case KSK_VAL_INT:
		v->type = KSK_VAL_INT;
		v->u.i = sg_unzigzag(col__seg_get_varint(d, d->rs[SG_S_VI]));
		break;
	case KSK_VAL_DOUBLE:
		v->type = KSK_VAL_DOUBLE;
		v->u.d = sg_dec_double(d, d->rs[SG_S_VD]);
		break;
	case KSK_VAL_ARRAY: {
		v->type = KSK_VAL_ARRAY;
		uint64_t n = col__seg_get_varint(d, d->rs[SG_S_VI]);
		if (d->bad)
			return;
		if (n > sg_rd_left(d->rs[SG_S_VT])) {
			col__seg_dec_fail(d, "array count past the data");
			return;
		}
		if (++d->depth > SG_MAX_DEPTH) {
			col__seg_dec_fail(d, "values nested too deep");
			return;
		}
		ksk_value *items = sg_dec_alloc(d, n, sizeof(*items));
		for (uint64_t i = 0; i < n && !d->bad; i++)
			col__seg_dec_value(d, &items[i]);
		d->depth--;
		v->u.arr.items = items;
		v->u.arr.n = d->bad ? 0 : (uint32_t)n;
		break;
	}
	case KSK_VAL_KVLIST: {
		v->type = KSK_VAL_KVLIST;
		if (++d->depth > SG_MAX_DEPTH) {
			col__seg_dec_fail(d, "values nested too deep");
			return;
		}
		uint32_t n = 0;
		v->u.kv.items = col__seg_dec_attrs(d, &n);
		v->u.kv.n = n;
		d->depth--;
		break;
	}
	default:
		col__seg_dec_fail(d, "unknown value type");
		break;
	}
	if (!d->bad && (t & 0xf0) && (t & 0x0f) != KSK_VAL_BOOL)
		col__seg_dec_fail(d, "bad value type bits");
}

ksk_attr *col__seg_dec_attrs(sg_dec *d, uint32_t *n_out)
{
	*n_out = 0;
	uint64_t n = col__seg_get_varint(d, d->rs[SG_S_NATTR]);
	if (d->bad || n == 0)
		return NULL;
	if (n > sg_rd_left(d->rs[SG_S_KEY])) {
		col__seg_dec_fail(d, "attribute count past the data");
		return NULL;
	}
	ksk_attr *a = sg_dec_alloc(d, n, sizeof(*a));
	for (uint64_t i = 0; i < n && !d->bad; i++) {
		a[i].key = col__seg_dec_str(d, SG_S_KEY);
		col__seg_dec_value(d, &a[i].value);
	}
	if (d->bad)
		return NULL;
	*n_out = (uint32_t)n;
	return a;
}

static uint32_t sg_get_u32v(sg_dec *d, sg_rd *r)
{
	uint64_t v = col__seg_get_varint(d, r);
	if (v > UINT32_MAX) {
		col__seg_dec_fail(d, "count over 32 bits");
		return 0;
	}
	return (uint32_t)v;
}

void col__seg_dec_span(sg_dec *d, ksk_span *s, const uint8_t tid[16], uint64_t base,
                 uint32_t n_spans, uint32_t *parent, const ksk_span *done, uint32_t i_self)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->trace_id, tid, KSK_TRACE_ID_LEN);
	*parent = SG_PARENT_NONE;
	const uint8_t *id = col__seg_get_raw(d, d->rs[SG_S_ID], KSK_SPAN_ID_LEN);
	if (id)
		memcpy(s->span_id, id, KSK_SPAN_ID_LEN);
	uint64_t pc = col__seg_get_varint(d, d->rs[SG_S_PARENT]);
	if (pc == (uint64_t)n_spans + 1) {
		const uint8_t *p = col__seg_get_raw(d, d->rs[SG_S_XID], KSK_SPAN_ID_LEN);
		if (p)
			memcpy(s->parent_id, p, KSK_SPAN_ID_LEN);
		s->has_parent = true;
		*parent = SG_PARENT_EXT;
	} else if (pc > n_spans + 1ull) {
		col__seg_dec_fail(d, "parent index out of range");
	} else if (pc > 0) {
		*parent = (uint32_t)(pc - 1);
		s->has_parent = true;
	}
	s->name = col__seg_dec_str(d, SG_S_NAME);
	uint8_t k = col__seg_get_u8(d, d->rs[SG_S_KIND]);
	if ((k & 7) > KSK_KIND_CONSUMER || ((k >> 3) & 3) > KSK_STATUS_ERROR || (k & 0xC0))
		col__seg_dec_fail(d, "bad kind/status byte");
	s->kind = (ksk_span_kind)(k & 7);
	s->status = (ksk_status_code)((k >> 3) & 3);
	const ksk_span *ps = *parent < i_self ? &done[*parent] : NULL;
	uint64_t sc = d->tscale ? d->tscale : 1;
	uint64_t from = ps ? ps->start_ns : base;
	uint64_t st = col__seg_get_varint(d, d->rs[SG_S_START]);
	uint64_t du = col__seg_get_varint(d, d->rs[SG_S_DUR]);
	if (sg_rpc_pair(s, ps)) {
		int64_t diff = sg_unzigzag(du);
		du = (ps->end_ns - ps->start_ns) - (uint64_t)diff * sc; /* wraps, checked below */
	} else if (du > UINT64_MAX / sc)
		col__seg_dec_fail(d, "span duration overflows");
	else
		du *= sc;
	if (st > UINT64_MAX / sc)
		col__seg_dec_fail(d, "span start overflows");
	st *= sc;
	if (st > UINT64_MAX - from || du > UINT64_MAX - from - st)
		col__seg_dec_fail(d, "span time overflows");
	s->start_ns = from + st;
	s->end_ns = s->start_ns + du;
	s->resource = sg_get_u32v(d, d->rs[SG_S_RES]);
	s->flags = sg_get_u32v(d, d->rs[SG_S_MISC]);
	s->scope_name = col__seg_dec_str(d, SG_S_MISC);
	s->scope_version = col__seg_dec_str(d, SG_S_MISC);
	uint8_t x = 0;
	if (k & 0x20) {
		x = col__seg_get_u8(d, d->rs[SG_S_MISC]);
		if (x & SG_SX_STATUS_MSG)
			s->status_msg = col__seg_dec_str(d, SG_S_MISC);
		if (x & SG_SX_TRACE_STATE)
			s->trace_state = col__seg_dec_str(d, SG_S_MISC);
		if (x & SG_SX_DROP_ATTRS)
			s->dropped_attrs = sg_get_u32v(d, d->rs[SG_S_MISC]);
		if (x & SG_SX_DROP_EVENTS)
			s->dropped_events = sg_get_u32v(d, d->rs[SG_S_MISC]);
		if (x & SG_SX_DROP_LINKS)
			s->dropped_links = sg_get_u32v(d, d->rs[SG_S_MISC]);
	}
	s->attrs = col__seg_dec_attrs(d, &s->n_attrs);
	uint64_t ne = col__seg_get_varint(d, d->rs[SG_S_EV]);
	if (!d->bad && ne > sg_rd_left(d->rs[SG_S_EVNAME]))
		col__seg_dec_fail(d, "event count past the data");
	if (!d->bad && ne) {
		s->events = sg_dec_alloc(d, ne, sizeof(ksk_event));
		uint64_t tprev = s->start_ns;
		for (uint64_t i = 0; i < ne && !d->bad; i++) {
			ksk_event *ev = &s->events[i];
			int64_t dt = sg_unzigzag(col__seg_get_varint(d, d->rs[SG_S_EVT]));
			ev->time_ns = tprev + (uint64_t)dt * sc; /* wraps on hostile input only */
			tprev = ev->time_ns;
			ev->name = col__seg_dec_str(d, SG_S_EVNAME);
			ev->attrs = col__seg_dec_attrs(d, &ev->n_attrs);
			ev->dropped_attrs = sg_get_u32v(d, d->rs[SG_S_EV]);
		}
		if (!d->bad)
			s->n_events = (uint32_t)ne;
	}
	if (x & SG_SX_LINKS) {
		uint64_t nl = col__seg_get_varint(d, d->rs[SG_S_MISC]);
		if (!d->bad && nl > sg_rd_left(d->rs[SG_S_XID]) / KSK_SPAN_ID_LEN)
			col__seg_dec_fail(d, "link count past the data");
		if (!d->bad && nl) {
			s->links = sg_dec_alloc(d, nl, sizeof(ksk_link));
			for (uint64_t i = 0; i < nl && !d->bad; i++) {
				ksk_link *l = &s->links[i];
				uint8_t same = col__seg_get_u8(d, d->rs[SG_S_MISC]);
				if (same > 1)
					col__seg_dec_fail(d, "bad link flag");
				const uint8_t *t = same ? tid : col__seg_get_raw(d, d->rs[SG_S_XID], KSK_TRACE_ID_LEN);
				if (t)
					memcpy(l->trace_id, t, KSK_TRACE_ID_LEN);
				const uint8_t *sp = col__seg_get_raw(d, d->rs[SG_S_XID], KSK_SPAN_ID_LEN);
				if (sp)
					memcpy(l->span_id, sp, KSK_SPAN_ID_LEN);
				l->trace_state = col__seg_dec_str(d, SG_S_MISC);
				l->flags = sg_get_u32v(d, d->rs[SG_S_MISC]);
				l->attrs = col__seg_dec_attrs(d, &l->n_attrs);
				l->dropped_attrs = sg_get_u32v(d, d->rs[SG_S_MISC]);
			}
			if (!d->bad)
				s->n_links = (uint32_t)nl;
		}
	}
}

void col__seg_dec_log_head(sg_dec *d, sg_log_head *h, uint64_t base)
{
	sg_rd *r = d->rs[0];
	memset(h, 0, sizeof(*h));
	sg_dec_reset(d);
	h->fl = col__seg_get_u8(d, r);
	uint64_t dt = col__seg_get_varint(d, r);
	if (dt > UINT64_MAX - base)
		col__seg_dec_fail(d, "log time overflows");
	h->eff = base + dt;
	h->observed_ns = h->eff + (uint64_t)sg_unzigzag(col__seg_get_varint(d, r));
	h->time_ns = (h->fl & SG_LF_TIME0) ? 0 : h->eff;
	h->severity = col__seg_get_u8(d, r);
	if (h->severity > 24)
		col__seg_dec_fail(d, "bad severity");
	h->res = sg_get_u32v(d, r);
	if (h->fl & SG_LF_TRACE)
		h->trace_ord = sg_get_u32v(d, r);
}

/* Puts back the ID digits of a body stored without them (SG_LF_CUT): reads
 * where they go (1 + offset or 0, trace then span) and rebuilds the body in
 * d->a from l's IDs, setting its hints. */
static void sg_dec_uncut(sg_dec *d, const sg_log_head *h, ksk_log *l)
{
	sg_rd *r = d->rs[0];
	uint64_t t1 = col__seg_get_varint(d, r), s1 = col__seg_get_varint(d, r);
	if (d->bad)
		return;
	ksk_id_cut c = {0};
	if (t1)
		ksk_id_cut_add(&c, (uint32_t)(t1 - 1), 32);
	if (s1)
		ksk_id_cut_add(&c, (uint32_t)(s1 - 1), 16);
	if (c.n == 0 || t1 > UINT32_MAX || s1 > UINT32_MAX || l->body.type != KSK_VAL_STR ||
	    (t1 && !(h->fl & SG_LF_TRACE)) || (s1 && !(h->fl & SG_LF_SPAN)) ||
	    ksk_id_cut_fit(&c, l->body.u.s.len)) {
		col__seg_dec_fail(d, "bad ID digit offsets");
		return;
	}
	uint32_t n = l->body.u.s.len + c.len[0] + (c.n == 2 ? c.len[1] : 0);
	char *o = sg_dec_alloc(d, n, 1);
	if (!o)
		return;
	l->body.u.s.len = ksk_id_cut_join(l->body.u.s.ptr, l->body.u.s.len, &c, l->trace_id,
	                                  l->span_id, o, l);
	l->body.u.s.ptr = o;
}

void col__seg_dec_log_rest(sg_dec *d, const sg_log_head *h, const uint8_t *trace_id,
                           ksk_log *l)
{
	sg_rd *r = d->rs[0];
	memset(l, 0, sizeof(*l));
	l->time_ns = h->time_ns;
	l->observed_ns = h->observed_ns;
	l->severity = h->severity;
	l->has_trace = (h->fl & SG_LF_TRACE) != 0;
	if (l->has_trace && trace_id)
		memcpy(l->trace_id, trace_id, KSK_TRACE_ID_LEN);
	if (h->fl & SG_LF_SPAN) {
		const uint8_t *p = col__seg_get_raw(d, r, KSK_SPAN_ID_LEN);
		if (p)
			memcpy(l->span_id, p, KSK_SPAN_ID_LEN);
		l->has_span = true;
	}
	if (h->fl & SG_LF_SEVTEXT)
		l->severity_text = col__seg_dec_str(d, 0);
	col__seg_dec_value(d, &l->body);
	if (h->fl & SG_LF_CUT) {
		if (!trace_id)
			col__seg_dec_fail(d, "bad ID digit offsets");
		else
			sg_dec_uncut(d, h, l);
	}
	l->attrs = col__seg_dec_attrs(d, &l->n_attrs);
	l->flags = sg_get_u32v(d, r);
	if (h->fl & SG_LF_EVNAME)
		l->event_name = col__seg_dec_str(d, 0);
	if (h->fl & SG_LF_SCOPE) {
		l->scope_name = col__seg_dec_str(d, 0);
		l->scope_version = col__seg_dec_str(d, 0);
	}
	if (h->fl & SG_LF_DROPPED)
		l->dropped_attrs = sg_get_u32v(d, r);
}

/* ---- hashing and filters ------------------------------------------------- */

uint64_t col__seg_hash_feed(uint64_t h, const void *p, size_t n)
{
	const uint8_t *s = p;
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, s, 8);
		h = (h ^ w) * 0x9E3779B97F4A7C15ull;
		h ^= h >> 29;
		s += 8;
		n -= 8;
	}
	uint64_t w = 0;
	for (size_t i = 0; i < n; i++)
		w |= (uint64_t)s[i] << (8 * i);
	h = (h ^ w ^ ((uint64_t)n << 59)) * 0xC2B2AE3D27D4EB4Full;
	h ^= h >> 31;
	return h;
}

uint64_t col__seg_hash(const void *p, size_t n)
{
	return sg_hash_end(col__seg_hash_feed(SG_HASH_SEED, p, n));
}

int col__seg_value_text(const ksk_value *v, char *buf, const char **txt)
{
	switch (v->type) {
	case KSK_VAL_STR:
		*txt = v->u.s.ptr ? v->u.s.ptr : "";
		return (int)v->u.s.len;
	case KSK_VAL_BOOL:
		*txt = v->u.b ? "true" : "false";
		return v->u.b ? 4 : 5;
	case KSK_VAL_INT: {
		/* decimal, fast path without printf */
		char tmp[24];
		int n = 0;
		uint64_t u = v->u.i < 0 ? 0 - (uint64_t)v->u.i : (uint64_t)v->u.i;
		do {
			tmp[n++] = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		int o = 0;
		if (v->u.i < 0)
			buf[o++] = '-';
		while (n)
			buf[o++] = tmp[--n];
		*txt = buf;
		return o;
	}
	default:
		return -1;
	}
}

uint64_t col__seg_item_op(ksk_str svc, ksk_str name, int kind)
{
	uint8_t k = (uint8_t)kind;
	uint64_t h = col__seg_hash_feed(SG_HASH_SEED, "op:", 3);
	h = col__seg_hash_feed(h, svc.ptr, svc.len);
	h = col__seg_hash_feed(h, "/", 1);
	h = col__seg_hash_feed(h, name.ptr, name.len);
	h = col__seg_hash_feed(h, &k, 1);
	return sg_hash_end(h);
}

uint64_t col__seg_item_attr(ksk_str key, const char *val, size_t vlen)
{
	uint64_t h = col__seg_hash_feed(SG_HASH_SEED, "a:", 2);
	h = col__seg_hash_feed(h, key.ptr, key.len);
	h = col__seg_hash_feed(h, "=", 1);
	h = col__seg_hash_feed(h, val, vlen);
	return sg_hash_end(h);
}

uint64_t col__seg_item_attr_key(ksk_str key)
{
	uint64_t h = col__seg_hash_feed(SG_HASH_SEED, "d:", 2);
	h = col__seg_hash_feed(h, key.ptr, key.len);
	return sg_hash_end(h);
}

void col__seg_bloom_add(uint8_t *bits, uint32_t words, uint64_t h)
{
	uint64_t nbits = (uint64_t)words * 64;
	uint64_t a = h, b = sg_mix64(h ^ 0x5851f42d4c957f2dull) | 1;
	for (int i = 0; i < SG_SUM_K; i++) {
		uint64_t bit = (a + (uint64_t)i * b) % nbits;
		bits[bit >> 3] |= (uint8_t)(1u << (bit & 7));
	}
}

bool col__seg_bloom_test(const uint8_t *bits, uint32_t words, uint64_t h)
{
	if (words == 0)
		return false;
	uint64_t nbits = (uint64_t)words * 64;
	uint64_t a = h, b = sg_mix64(h ^ 0x5851f42d4c957f2dull) | 1;
	for (int i = 0; i < SG_SUM_K; i++) {
		uint64_t bit = (a + (uint64_t)i * b) % nbits;
		if (!(bits[bit >> 3] & (1u << (bit & 7))))
			return false;
	}
	return true;
}

uint64_t col__seg_trace_hash(const uint8_t tid[16])
{
	return col__seg_hash(tid, 16);
}

void col__seg_tfilter_add(uint8_t *bits, uint32_t blocks, uint64_t h)
{
	uint64_t blk = ((h >> 32) * (uint64_t)blocks) >> 32;
	uint8_t *b = bits + blk * 64;
	uint64_t g = sg_mix64(h);
	uint32_t p = (uint32_t)g & 511, step = (uint32_t)(g >> 9) | 1;
	for (int i = 0; i < SG_TF_K; i++) {
		uint32_t bit = (p + (uint32_t)i * step) & 511;
		b[bit >> 3] |= (uint8_t)(1u << (bit & 7));
	}
}

bool col__seg_tfilter_test(const uint8_t *bits, uint32_t blocks, uint64_t h)
{
	if (blocks == 0)
		return false;
	uint64_t blk = ((h >> 32) * (uint64_t)blocks) >> 32;
	const uint8_t *b = bits + blk * 64;
	uint64_t g = sg_mix64(h);
	uint32_t p = (uint32_t)g & 511, step = (uint32_t)(g >> 9) | 1;
	for (int i = 0; i < SG_TF_K; i++) {
		uint32_t bit = (p + (uint32_t)i * step) & 511;
		if (!(b[bit >> 3] & (1u << (bit & 7))))
			return false;
	}
	return true;
}
