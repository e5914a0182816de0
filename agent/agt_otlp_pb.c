/*
 * agt_otlp_pb.c : OTLP protobuf ExportTraceServiceRequest /
 * ExportLogsServiceRequest -> records, with a small hand-written reader.
 *
 * Reader: a message is a byte range [p, end). agt_pb_next() yields one
 * field (number, wire type, value) at a time, bounds-checked: varints of at
 * most 10 bytes (the 10th <= 1), fixed64/fixed32 need their bytes,
 * length-delimited values must fit the enclosing range. Wire types 0, 1, 2
 * and 5 are read; 3/4 (groups) and field number 0 are malformed. Unknown
 * fields of every wire type are skipped. Nothing is allocated before the
 * bytes it describes are known to exist, and every array is sized by a
 * counting pass over bytes already present, so allocation is bounded by
 * the input size (and the arena cap).
 *
 * Nesting is fixed by the schema except AnyValue (array/kvlist), which is
 * limited to AGT__MAX_DEPTH levels; recursion depth is therefore bounded.
 *
 * Errors: broken framing at the request / ResourceSpans / ScopeSpans level
 * fails the body (KSK_EPARSE); anything wrong inside one span or log
 * record (framing included: its bytes are bounded by its own length)
 * rejects that record only (see agt_otlp.h). Singular fields given twice:
 * the last wins; nested messages given twice merge.
 */
#include <stdio.h>
#include <string.h>

#include "agt_otlp.h"
#include "agt_parse_int.h"

typedef struct agt_pb {
	const uint8_t *p;   /* next byte */
	const uint8_t *end; /* one past the last byte */
} agt_pb;

typedef struct agt_pbf {
	uint32_t num;       /* field number */
	uint32_t wt;        /* wire type */
	uint64_t u;         /* varint / fixed value */
	agt_pb sub;         /* length-delimited bytes */
} agt_pbf;

typedef struct agt_pc {
	ksk_arena *a;       /* output arena */
	agt_otlp_out *out;  /* result */
	agt__why why;       /* current problem */
	uint64_t now_ns;    /* logs: fallback observed time */
} agt_pc;

static bool agt_pb_varint(agt_pb *m, uint64_t *v)
{
	uint64_t r = 0;
	for (int i = 0; i < 10; i++) {
		if (m->p >= m->end)
			return false;
		uint8_t b = *m->p++;
		if (i == 9 && b > 1)
			return false;
		r |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*v = r;
			return true;
		}
	}
	return false;
}

/* 1 = a field, 0 = end of message, -1 = malformed (w says why) */
static int agt_pb_next(agt_pb *m, agt_pbf *f, agt__why *w)
{
	uint64_t tag, v;
	if (m->p >= m->end)
		return 0;
	size_t off = 0;
	if (!agt_pb_varint(m, &tag)) {
		agt__whyf(w, "truncated or overlong tag varint");
		return -1;
	}
	f->num = (uint32_t)(tag >> 3);
	f->wt = (uint32_t)(tag & 7);
	if ((tag >> 3) == 0 || (tag >> 3) > 536870911u) {
		agt__whyf(w, "bad field number %llu", (unsigned long long)(tag >> 3));
		return -1;
	}
	(void)off;
	switch (f->wt) {
	case 0:
		if (!agt_pb_varint(m, &f->u)) {
			agt__whyf(w, "field %u: truncated or overlong varint", f->num);
			return -1;
		}
		return 1;
	case 1:
		if (m->end - m->p < 8) {
			agt__whyf(w, "field %u: truncated fixed64", f->num);
			return -1;
		}
		v = 0;
		for (int i = 7; i >= 0; i--)
			v = (v << 8) | m->p[i];
		f->u = v;
		m->p += 8;
		return 1;
	case 5:
		if (m->end - m->p < 4) {
			agt__whyf(w, "field %u: truncated fixed32", f->num);
			return -1;
		}
		f->u = (uint64_t)m->p[0] | ((uint64_t)m->p[1] << 8) |
		       ((uint64_t)m->p[2] << 16) | ((uint64_t)m->p[3] << 24);
		m->p += 4;
		return 1;
	case 2:
		if (!agt_pb_varint(m, &v)) {
			agt__whyf(w, "field %u: truncated length", f->num);
			return -1;
		}
		if (v > (uint64_t)(m->end - m->p)) {
			agt__whyf(w, "field %u: length %llu past the end (%zu left)",
			          f->num, (unsigned long long)v, (size_t)(m->end - m->p));
			return -1;
		}
		f->sub.p = m->p;
		f->sub.end = m->p + v;
		m->p += v;
		return 1;
	default:
		agt__whyf(w, "field %u: unsupported wire type %u", f->num, f->wt);
		return -1;
	}
}

/* counts occurrences of field `num` (length-delimited); -1 if malformed */
static long agt_pb_count(agt_pb m, uint32_t num, agt__why *w)
{
	agt_pbf f;
	long n = 0;
	int r;
	while ((r = agt_pb_next(&m, &f, w)) > 0)
		if (f.num == num && f.wt == 2)
			n++;
	return r < 0 ? -1 : n;
}

static ksk_err agt_pb_wt(agt_pc *c, const agt_pbf *f, uint32_t want,
                         const char *name)
{
	if (f->wt != want)
		return agt__whyf(&c->why, "%s (field %u): wire type %u, want %u", name,
		                 f->num, f->wt, want);
	return KSK_OK;
}

static ksk_err agt_pb_str(agt_pc *c, const agt_pbf *f, const char *name,
                          ksk_str *out)
{
	KSK_TRY(agt_pb_wt(c, f, 2, name));
	size_t n = (size_t)(f->sub.end - f->sub.p);
	if (n > AGT__MAX_STR)
		return agt__whyf(&c->why, "%s: %zu bytes, over the %u limit", name, n,
		                 AGT__MAX_STR);
	if (!agt__str(c->a, (const char *)f->sub.p, n, out))
		return agt__arena_err(c->a);
	return KSK_OK;
}

/* bytes ID: exactly n bytes, or empty when allowed; *present when n bytes */
static ksk_err agt_pb_id(agt_pc *c, const agt_pbf *f, const char *name,
                         size_t n, uint8_t *out, bool *present)
{
	KSK_TRY(agt_pb_wt(c, f, 2, name));
	size_t l = (size_t)(f->sub.end - f->sub.p);
	if (l == 0) {
		memset(out, 0, n);
		if (present)
			*present = false;
		return KSK_OK;
	}
	if (l != n)
		return agt__whyf(&c->why, "%s: %zu bytes, want %zu", name, l, n);
	memcpy(out, f->sub.p, n);
	if (present)
		*present = true;
	return KSK_OK;
}

static ksk_err agt_pb_u32(agt_pc *c, const agt_pbf *f, const char *name,
                          uint32_t *out)
{
	KSK_TRY(agt_pb_wt(c, f, 0, name));
	*out = (uint32_t)f->u; /* proto3 uint32/enum: truncate like protobuf */
	if (f->u > UINT32_MAX && (int64_t)f->u >= 0)
		return agt__whyf(&c->why, "%s: %llu over 32 bits", name,
		                 (unsigned long long)f->u);
	return KSK_OK;
}

/* ---- AnyValue / KeyValue ---------------------------------------------------- */

static ksk_err agt_pb_kvs(agt_pc *c, agt_pb m, uint32_t num, uint32_t depth,
                          ksk_attr **items, uint32_t *n, uint32_t *dropped);

static ksk_err agt_pb_anyvalue(agt_pc *c, agt_pb m, uint32_t depth,
                               ksk_value *out)
{
	agt_pbf f;
	int r;
	memset(out, 0, sizeof(*out));
	if (depth > AGT__MAX_DEPTH)
		return agt__whyf(&c->why, "value nested deeper than %u",
		                 AGT__MAX_DEPTH);
	while ((r = agt_pb_next(&m, &f, &c->why)) > 0) {
		switch (f.num) {
		case 1:
			memset(out, 0, sizeof(*out));
			out->type = KSK_VAL_STR;
			KSK_TRY(agt_pb_str(c, &f, "string_value", &out->u.s));
			break;
		case 2:
			KSK_TRY(agt_pb_wt(c, &f, 0, "bool_value"));
			*out = ksk_val_bool(f.u != 0);
			break;
		case 3:
			KSK_TRY(agt_pb_wt(c, &f, 0, "int_value"));
			*out = ksk_val_int((int64_t)f.u);
			break;
		case 4: {
			double d;
			KSK_TRY(agt_pb_wt(c, &f, 1, "double_value"));
			memcpy(&d, &f.u, sizeof(d));
			*out = ksk_val_double(d);
			break;
		}
		case 5: {
			KSK_TRY(agt_pb_wt(c, &f, 2, "array_value"));
			long cnt = agt_pb_count(f.sub, 1, &c->why);
			if (cnt < 0)
				return KSK_ERECORD;
			memset(out, 0, sizeof(*out));
			out->type = KSK_VAL_ARRAY;
			if (cnt == 0)
				break;
			ksk_value *it = ksk_arena_calloc(c->a, (size_t)cnt, sizeof(*it));
			if (!it)
				return agt__arena_err(c->a);
			agt_pb sm = f.sub;
			agt_pbf g;
			uint32_t k = 0;
			while (agt_pb_next(&sm, &g, &c->why) > 0)
				if (g.num == 1 && g.wt == 2)
					KSK_TRY(agt_pb_anyvalue(c, g.sub, depth + 1, &it[k++]));
			out->u.arr.items = it;
			out->u.arr.n = k;
			break;
		}
		case 6: {
			uint32_t dropped = 0;
			KSK_TRY(agt_pb_wt(c, &f, 2, "kvlist_value"));
			memset(out, 0, sizeof(*out));
			out->type = KSK_VAL_KVLIST;
			KSK_TRY(agt_pb_kvs(c, f.sub, 1, depth + 1, &out->u.kv.items,
			                   &out->u.kv.n, &dropped));
			break;
		}
		case 7:
			KSK_TRY(agt_pb_wt(c, &f, 2, "bytes_value"));
			if ((size_t)(f.sub.end - f.sub.p) > AGT__MAX_STR)
				return agt__whyf(&c->why, "bytes_value: over the size limit");
			memset(out, 0, sizeof(*out));
			out->type = KSK_VAL_BYTES;
			if (f.sub.end > f.sub.p) {
				char *b = ksk_arena_memdup(c->a, f.sub.p,
				                           (size_t)(f.sub.end - f.sub.p));
				if (!b)
					return agt__arena_err(c->a);
				out->u.s.ptr = b;
				out->u.s.len = (uint32_t)(f.sub.end - f.sub.p);
			}
			break;
		default:
			break;
		}
	}
	return r < 0 ? KSK_ERECORD : KSK_OK;
}

static ksk_err agt_pb_kv(agt_pc *c, agt_pb m, uint32_t depth, ksk_attr *at)
{
	agt_pbf f;
	int r;
	memset(at, 0, sizeof(*at));
	while ((r = agt_pb_next(&m, &f, &c->why)) > 0) {
		if (f.num == 1) {
			KSK_TRY(agt_pb_str(c, &f, "key", &at->key));
		} else if (f.num == 2) {
			KSK_TRY(agt_pb_wt(c, &f, 2, "value"));
			ksk_err rc = agt_pb_anyvalue(c, f.sub, depth, &at->value);
			if (rc == KSK_ERECORD) {
				char tmp[sizeof(c->why.msg)];
				memcpy(tmp, c->why.msg, sizeof(tmp));
				return agt__whyf(&c->why, "attribute \"%.*s\": %s",
				                 (int)(at->key.len > 60 ? 60 : at->key.len),
				                 at->key.ptr ? at->key.ptr : "", tmp);
			}
			if (rc != KSK_OK)
				return rc;
		}
	}
	if (r < 0)
		return KSK_ERECORD;
	if (at->key.len == 0)
		return agt__whyf(&c->why, "attribute with an empty key");
	return KSK_OK;
}

/* every length-delimited field `num` of m as a KeyValue */
static ksk_err agt_pb_kvs(agt_pc *c, agt_pb m, uint32_t num, uint32_t depth,
                          ksk_attr **items, uint32_t *n, uint32_t *dropped)
{
	long cnt = agt_pb_count(m, num, &c->why);
	*items = NULL;
	*n = 0;
	if (cnt < 0)
		return KSK_ERECORD;
	if (cnt == 0)
		return KSK_OK;
	size_t keep = (size_t)cnt > AGT__MAX_ATTRS ? AGT__MAX_ATTRS : (size_t)cnt;
	*dropped += (uint32_t)((size_t)cnt - keep);
	ksk_attr *it = ksk_arena_calloc(c->a, keep, sizeof(*it));
	if (!it)
		return agt__arena_err(c->a);
	agt_pbf f;
	uint32_t k = 0;
	while (k < keep && agt_pb_next(&m, &f, &c->why) > 0)
		if (f.num == num && f.wt == 2)
			KSK_TRY(agt_pb_kv(c, f.sub, depth, &it[k++]));
	*items = it;
	*n = k;
	return KSK_OK;
}

/* ---- resource / scope -------------------------------------------------------- */

static ksk_err agt_pb_resource(agt_pc *c, agt_pb m, ksk_resource *r)
{
	agt_pbf f;
	int rr;
	agt_pb scan = m;
	while ((rr = agt_pb_next(&scan, &f, &c->why)) > 0)
		if (f.num == 2)
			KSK_TRY(agt_pb_u32(c, &f, "dropped_attributes_count",
			                   &r->dropped_attrs));
	if (rr < 0)
		return KSK_ERECORD;
	KSK_TRY(agt_pb_kvs(c, m, 1, 0, &r->attrs, &r->n_attrs, &r->dropped_attrs));
	agt__resource_finish(r);
	return KSK_OK;
}

static ksk_err agt_pb_scope(agt_pc *c, agt_pb m, ksk_str *name, ksk_str *ver)
{
	agt_pbf f;
	int r;
	while ((r = agt_pb_next(&m, &f, &c->why)) > 0) {
		if (f.num == 1)
			KSK_TRY(agt_pb_str(c, &f, "scope.name", name));
		else if (f.num == 2)
			KSK_TRY(agt_pb_str(c, &f, "scope.version", ver));
	}
	return r < 0 ? KSK_ERECORD : KSK_OK;
}

/* ---- spans ------------------------------------------------------------------ */

static ksk_err agt_pb_event(agt_pc *c, agt_pb m, ksk_event *ev)
{
	agt_pbf f;
	int r;
	agt_pb all = m;
	memset(ev, 0, sizeof(*ev));
	while ((r = agt_pb_next(&m, &f, &c->why)) > 0) {
		switch (f.num) {
		case 1:
			KSK_TRY(agt_pb_wt(c, &f, 1, "event.time_unix_nano"));
			ev->time_ns = f.u;
			break;
		case 2:
			KSK_TRY(agt_pb_str(c, &f, "event.name", &ev->name));
			break;
		case 4:
			KSK_TRY(agt_pb_u32(c, &f, "event.dropped_attributes_count",
			                   &ev->dropped_attrs));
			break;
		default:
			break;
		}
	}
	if (r < 0)
		return KSK_ERECORD;
	return agt_pb_kvs(c, all, 3, 0, &ev->attrs, &ev->n_attrs,
	                  &ev->dropped_attrs);
}

static ksk_err agt_pb_link(agt_pc *c, agt_pb m, ksk_link *lk)
{
	agt_pbf f;
	int r;
	agt_pb all = m;
	memset(lk, 0, sizeof(*lk));
	while ((r = agt_pb_next(&m, &f, &c->why)) > 0) {
		switch (f.num) {
		case 1:
			KSK_TRY(agt_pb_id(c, &f, "link.trace_id", 16, lk->trace_id, NULL));
			break;
		case 2:
			KSK_TRY(agt_pb_id(c, &f, "link.span_id", 8, lk->span_id, NULL));
			break;
		case 3:
			KSK_TRY(agt_pb_str(c, &f, "link.trace_state", &lk->trace_state));
			break;
		case 5:
			KSK_TRY(agt_pb_u32(c, &f, "link.dropped_attributes_count",
			                   &lk->dropped_attrs));
			break;
		case 6:
			KSK_TRY(agt_pb_wt(c, &f, 5, "link.flags"));
			lk->flags = (uint32_t)f.u;
			break;
		default:
			break;
		}
	}
	if (r < 0)
		return KSK_ERECORD;
	if (ksk_id_is_zero(lk->trace_id, 16) || ksk_id_is_zero(lk->span_id, 8))
		return agt__whyf(&c->why, "link: trace_id/span_id missing or zero");
	return agt_pb_kvs(c, all, 4, 0, &lk->attrs, &lk->n_attrs, &lk->dropped_attrs);
}

static ksk_err agt_pb_status(agt_pc *c, agt_pb m, ksk_span *s)
{
	agt_pbf f;
	int r;
	uint32_t u;
	while ((r = agt_pb_next(&m, &f, &c->why)) > 0) {
		if (f.num == 2) {
			KSK_TRY(agt_pb_str(c, &f, "status.message", &s->status_msg));
		} else if (f.num == 3) {
			KSK_TRY(agt_pb_u32(c, &f, "status.code", &u));
			s->status = (ksk_status_code)u;
		}
	}
	return r < 0 ? KSK_ERECORD : KSK_OK;
}

static ksk_err agt_pb_span(agt_pc *c, agt_pb m, ksk_span *s)
{
	agt_pbf f;
	int r;
	uint32_t u;
	bool has_parent = false;
	agt_pb all = m;
	long n_ev = 0, n_ln = 0;
	memset(s, 0, sizeof(*s));
	while ((r = agt_pb_next(&m, &f, &c->why)) > 0) {
		switch (f.num) {
		case 1:
			KSK_TRY(agt_pb_id(c, &f, "trace_id", 16, s->trace_id, NULL));
			break;
		case 2:
			KSK_TRY(agt_pb_id(c, &f, "span_id", 8, s->span_id, NULL));
			break;
		case 3:
			KSK_TRY(agt_pb_str(c, &f, "trace_state", &s->trace_state));
			break;
		case 4:
			KSK_TRY(agt_pb_id(c, &f, "parent_span_id", 8, s->parent_id,
			                  &has_parent));
			break;
		case 5:
			KSK_TRY(agt_pb_str(c, &f, "name", &s->name));
			break;
		case 6:
			KSK_TRY(agt_pb_u32(c, &f, "kind", &u));
			s->kind = (ksk_span_kind)u;
			break;
		case 7:
			KSK_TRY(agt_pb_wt(c, &f, 1, "start_time_unix_nano"));
			s->start_ns = f.u;
			break;
		case 8:
			KSK_TRY(agt_pb_wt(c, &f, 1, "end_time_unix_nano"));
			s->end_ns = f.u;
			break;
		case 10:
			KSK_TRY(agt_pb_u32(c, &f, "dropped_attributes_count",
			                   &s->dropped_attrs));
			break;
		case 11:
			KSK_TRY(agt_pb_wt(c, &f, 2, "events"));
			n_ev++;
			break;
		case 12:
			KSK_TRY(agt_pb_u32(c, &f, "dropped_events_count",
			                   &s->dropped_events));
			break;
		case 13:
			KSK_TRY(agt_pb_wt(c, &f, 2, "links"));
			n_ln++;
			break;
		case 14:
			KSK_TRY(agt_pb_u32(c, &f, "dropped_links_count", &s->dropped_links));
			break;
		case 15:
			KSK_TRY(agt_pb_wt(c, &f, 2, "status"));
			KSK_TRY(agt_pb_status(c, f.sub, s));
			break;
		case 16:
			KSK_TRY(agt_pb_wt(c, &f, 5, "flags"));
			s->flags = (uint32_t)f.u;
			break;
		default:
			break;
		}
	}
	if (r < 0)
		return KSK_ERECORD;
	s->has_parent = has_parent && !ksk_id_is_zero(s->parent_id, 8);
	KSK_TRY(agt_pb_kvs(c, all, 9, 0, &s->attrs, &s->n_attrs, &s->dropped_attrs));
	if (n_ev) {
		size_t keep = n_ev > AGT__MAX_EVENTS ? AGT__MAX_EVENTS : (size_t)n_ev;
		s->dropped_events += (uint32_t)((size_t)n_ev - keep);
		s->events = ksk_arena_calloc(c->a, keep, sizeof(ksk_event));
		if (!s->events)
			return agt__arena_err(c->a);
	}
	if (n_ln) {
		size_t keep = n_ln > AGT__MAX_LINKS ? AGT__MAX_LINKS : (size_t)n_ln;
		s->dropped_links += (uint32_t)((size_t)n_ln - keep);
		s->links = ksk_arena_calloc(c->a, keep, sizeof(ksk_link));
		if (!s->links)
			return agt__arena_err(c->a);
	}
	m = all;
	while (agt_pb_next(&m, &f, &c->why) > 0) {
		if (f.num == 11 && s->n_events < AGT__MAX_EVENTS && s->events) {
			KSK_TRY(agt_pb_event(c, f.sub, &s->events[s->n_events]));
			s->n_events++;
		} else if (f.num == 13 && s->n_links < AGT__MAX_LINKS && s->links) {
			KSK_TRY(agt_pb_link(c, f.sub, &s->links[s->n_links]));
			s->n_links++;
		}
	}
	return agt__span_check(s, &c->why);
}

/* ---- logs ----------------------------------------------------------------- */

static ksk_err agt_pb_logrec(agt_pc *c, agt_pb m, ksk_log *l)
{
	agt_pbf f;
	int r;
	uint32_t u;
	bool has = false;
	agt_pb all = m;
	memset(l, 0, sizeof(*l));
	while ((r = agt_pb_next(&m, &f, &c->why)) > 0) {
		switch (f.num) {
		case 1:
			KSK_TRY(agt_pb_wt(c, &f, 1, "time_unix_nano"));
			l->time_ns = f.u;
			break;
		case 11:
			KSK_TRY(agt_pb_wt(c, &f, 1, "observed_time_unix_nano"));
			l->observed_ns = f.u;
			break;
		case 2:
			KSK_TRY(agt_pb_u32(c, &f, "severity_number", &u));
			if (u > 24)
				return agt__whyf(&c->why,
				                 "severity_number %u out of range 0..24", u);
			l->severity = (uint8_t)u;
			break;
		case 3:
			KSK_TRY(agt_pb_str(c, &f, "severity_text", &l->severity_text));
			break;
		case 5:
			KSK_TRY(agt_pb_wt(c, &f, 2, "body"));
			KSK_TRY(agt_pb_anyvalue(c, f.sub, 0, &l->body));
			break;
		case 7:
			KSK_TRY(agt_pb_u32(c, &f, "dropped_attributes_count",
			                   &l->dropped_attrs));
			break;
		case 8:
			KSK_TRY(agt_pb_wt(c, &f, 5, "flags"));
			l->flags = (uint32_t)f.u;
			break;
		case 9:
			KSK_TRY(agt_pb_id(c, &f, "trace_id", 16, l->trace_id, &has));
			l->has_trace = has && !ksk_id_is_zero(l->trace_id, 16);
			break;
		case 10:
			KSK_TRY(agt_pb_id(c, &f, "span_id", 8, l->span_id, &has));
			l->has_span = has && !ksk_id_is_zero(l->span_id, 8);
			break;
		case 12:
			KSK_TRY(agt_pb_str(c, &f, "event_name", &l->event_name));
			break;
		default:
			break;
		}
	}
	if (r < 0)
		return KSK_ERECORD;
	KSK_TRY(agt_pb_kvs(c, all, 6, 0, &l->attrs, &l->n_attrs, &l->dropped_attrs));
	if (l->observed_ns == 0)
		l->observed_ns = l->time_ns ? l->time_ns : c->now_ns;
	return KSK_OK;
}

/* ---- request walk (shared by traces and logs) ---------------------------- */

typedef struct agt_pb_kind {
	const char *top, *mid, *leaf; /* names for messages */
	bool logs;                    /* leaf = LogRecord, else Span */
} agt_pb_kind;

/* counts resources (field 1) and leaves (1 -> 2 -> 2); framing checked */
static ksk_err agt_pb_shape(agt_pb req, const agt_pb_kind *k, size_t *n_res,
                            size_t *n_leaf, ksk_errinfo *ei)
{
	agt_pbf f, g, h;
	agt__why w;
	int r;
	*n_res = *n_leaf = 0;
	while ((r = agt_pb_next(&req, &f, &w)) > 0) {
		if (f.num != 1)
			continue;
		if (f.wt != 2)
			return ksk_errinfo_set(ei, KSK_EPARSE, "%s[%zu]: wire type %u, want 2",
			                       k->top, *n_res, f.wt);
		agt_pb rs = f.sub;
		size_t j = 0;
		int r2;
		while ((r2 = agt_pb_next(&rs, &g, &w)) > 0) {
			if (g.num != 2)
				continue;
			if (g.wt != 2)
				return ksk_errinfo_set(ei, KSK_EPARSE,
				                       "%s[%zu].%s[%zu]: wire type %u, want 2",
				                       k->top, *n_res, k->mid, j, g.wt);
			agt_pb ss = g.sub;
			int r3;
			while ((r3 = agt_pb_next(&ss, &h, &w)) > 0)
				if (h.num == 2 && h.wt == 2)
					(*n_leaf)++;
			if (r3 < 0)
				return ksk_errinfo_set(ei, KSK_EPARSE, "%s[%zu].%s[%zu]: %s",
				                       k->top, *n_res, k->mid, j, w.msg);
			j++;
		}
		if (r2 < 0)
			return ksk_errinfo_set(ei, KSK_EPARSE, "%s[%zu]: %s", k->top,
			                       *n_res, w.msg);
		(*n_res)++;
	}
	if (r < 0)
		return ksk_errinfo_set(ei, KSK_EPARSE, "request: %s", w.msg);
	return KSK_OK;
}

static ksk_err agt_pb_request(const uint8_t *body, size_t len,
                              const agt_pb_kind *k, uint64_t now_ns,
                              ksk_arena *a, agt_otlp_out *out, ksk_errinfo *ei)
{
	agt_pc c;
	agt_pb req = {body, body + len};
	size_t n_res, n_leaf;
	ksk_err rc;
	char where[128];
	if (!a || !out || (!body && len))
		return ksk_errinfo_set(ei, KSK_EINVAL, "otlp protobuf: null argument");
	if (!body)
		req.p = req.end = (const uint8_t *)"";
	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	c.a = a;
	c.out = out;
	c.now_ns = now_ns;
	KSK_TRY(agt_pb_shape(req, k, &n_res, &n_leaf, ei));
	if (n_res == 0)
		return KSK_OK;
	out->resources = ksk_arena_calloc(a, n_res, sizeof(ksk_resource));
	if (k->logs)
		out->logs = ksk_arena_calloc(a, n_leaf ? n_leaf : 1, sizeof(ksk_log));
	else
		out->spans = ksk_arena_calloc(a, n_leaf ? n_leaf : 1, sizeof(ksk_span));
	if (!out->resources || (k->logs ? !out->logs : !out->spans)) {
		rc = agt__arena_err(a);
		memset(out, 0, sizeof(*out));
		return ksk_errinfo_set(ei, rc, "otlp protobuf: arena full");
	}
	agt_pbf f, g, h;
	size_t i = 0;
	while (agt_pb_next(&req, &f, &c.why) > 0) {
		if (f.num != 1)
			continue;
		ksk_resource *res = &out->resources[out->n_resources];
		agt_pb rs = f.sub;
		bool bad_res = false;
		memset(res, 0, sizeof(*res));
		while (agt_pb_next(&rs, &g, &c.why) > 0) {
			if (g.num != 1)
				continue;
			rc = agt_pb_wt(&c, &g, 2, "resource");
			if (rc == KSK_OK)
				rc = agt_pb_resource(&c, g.sub, res);
			if (rc == KSK_ERECORD) {
				bad_res = true;
				snprintf(where, sizeof(where), "%s[%zu].resource", k->top, i);
			} else if (rc != KSK_OK) {
				goto arena;
			}
		}
		uint32_t ridx = out->n_resources;
		if (!bad_res)
			out->n_resources++;
		rs = f.sub;
		size_t j = 0;
		while (agt_pb_next(&rs, &g, &c.why) > 0) {
			if (g.num != 2)
				continue;
			ksk_str sn = {NULL, 0}, sv = {NULL, 0};
			agt_pb ss = g.sub;
			bool bad_scope = bad_res;
			while (!bad_scope && agt_pb_next(&ss, &h, &c.why) > 0) {
				if (h.num != 1)
					continue;
				rc = agt_pb_wt(&c, &h, 2, "scope");
				if (rc == KSK_OK)
					rc = agt_pb_scope(&c, h.sub, &sn, &sv);
				if (rc == KSK_ERECORD) {
					bad_scope = true;
					snprintf(where, sizeof(where), "%s[%zu].%s[%zu].scope",
					         k->top, i, k->mid, j);
				} else if (rc != KSK_OK) {
					goto arena;
				}
			}
			agt__why saved = c.why;
			ss = g.sub;
			size_t n = 0;
			while (agt_pb_next(&ss, &h, &c.why) > 0) {
				if (h.num != 2 || h.wt != 2)
					continue;
				if (bad_scope) {
					agt__reject(out, where, &saved);
					n++;
					continue;
				}
				if (k->logs) {
					ksk_log *o = &out->logs[out->n_logs];
					rc = agt_pb_logrec(&c, h.sub, o);
					if (rc == KSK_OK) {
						o->scope_name = sn;
						o->scope_version = sv;
						o->resource = ridx;
						out->n_logs++;
					}
				} else {
					ksk_span *o = &out->spans[out->n_spans];
					rc = agt_pb_span(&c, h.sub, o);
					if (rc == KSK_OK) {
						o->scope_name = sn;
						o->scope_version = sv;
						o->resource = ridx;
						out->n_spans++;
					}
				}
				if (rc == KSK_ERECORD) {
					char w2[128];
					snprintf(w2, sizeof(w2), "%s[%zu].%s[%zu].%s[%zu]", k->top,
					         i, k->mid, j, k->leaf, n);
					agt__reject(out, w2, &c.why);
				} else if (rc != KSK_OK) {
					goto arena;
				}
				n++;
			}
			j++;
		}
		i++;
	}
	return KSK_OK;
arena:
	memset(out, 0, sizeof(*out));
	return ksk_errinfo_set(ei, rc, "otlp protobuf: arena full (%s)",
	                       ksk_strerror(rc));
}

ksk_err agt_otlp_traces_pb(const uint8_t *body, size_t len, ksk_arena *a,
                           agt_otlp_out *out, ksk_errinfo *ei)
{
	static const agt_pb_kind k = {"resource_spans", "scope_spans", "spans",
	                              false};
	return agt_pb_request(body, len, &k, 0, a, out, ei);
}

ksk_err agt_otlp_logs_pb(const uint8_t *body, size_t len, uint64_t now_ns,
                         ksk_arena *a, agt_otlp_out *out, ksk_errinfo *ei)
{
	static const agt_pb_kind k = {"resource_logs", "scope_logs", "log_records",
	                              true};
	return agt_pb_request(body, len, &k, now_ns, a, out, ei);
}
