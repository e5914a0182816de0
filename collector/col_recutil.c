/*
 * col_recutil.c : record helpers for the storage engine (col_recutil.h).
 *
 * Role: deep-copy decoded records into a caller's arena, give attribute
 * values their text form, hash bytes and attribute texts.
 * Data in: decoded records (borrowed). Data out: arena copies, text, hashes.
 * Invariants: a copy shares no pointer with its source; the attribute hash
 * of a record and of a search filter with the same "KEY=VALUE" text are
 * equal (both hash key, "=", value text in that order).
 * Locking: none; no state.
 */
#include "col_recutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

uint64_t col_ru_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

uint64_t col_ru_hash(const void *p, size_t n, uint64_t seed)
{
	const uint8_t *b = p;
	uint64_t h = seed ^ (0x9e3779b97f4a7c15ull + n);
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, b, 8);
		h = (h ^ col_ru_mix(v)) * 0x100000001b3ull;
		h ^= h >> 29;
		b += 8;
		n -= 8;
	}
	uint64_t t = 0;
	for (size_t i = 0; i < n; i++)
		t |= (uint64_t)b[i] << (8 * i);
	h = (h ^ col_ru_mix(t ^ ((uint64_t)n << 56))) * 0x100000001b3ull;
	return col_ru_mix(h);
}

bool col_ru_str(ksk_arena *a, ksk_str s, ksk_str *out)
{
	if (s.len == 0) {
		out->ptr = "";
		out->len = 0;
		return true;
	}
	char *p = ksk_arena_memdup(a, s.ptr, s.len);
	if (!p)
		return false;
	out->ptr = p;
	out->len = s.len;
	return true;
}

bool col_ru_value(ksk_arena *a, const ksk_value *src, ksk_value *dst)
{
	*dst = *src;
	switch (src->type) {
	case KSK_VAL_STR:
	case KSK_VAL_BYTES:
		return col_ru_str(a, src->u.s, &dst->u.s);
	case KSK_VAL_ARRAY:
		if (src->u.arr.n == 0) {
			dst->u.arr.items = NULL;
			return true;
		}
		dst->u.arr.items = ksk_arena_alloc(a, sizeof(ksk_value) * src->u.arr.n);
		if (!dst->u.arr.items)
			return false;
		for (uint32_t i = 0; i < src->u.arr.n; i++)
			if (!col_ru_value(a, &src->u.arr.items[i], &dst->u.arr.items[i]))
				return false;
		return true;
	case KSK_VAL_KVLIST:
		return col_ru_attrs(a, src->u.kv.items, src->u.kv.n, &dst->u.kv.items);
	default:
		return true;
	}
}

bool col_ru_attrs(ksk_arena *a, const ksk_attr *src, uint32_t n, ksk_attr **out)
{
	*out = NULL;
	if (n == 0)
		return true;
	ksk_attr *d = ksk_arena_alloc(a, sizeof(ksk_attr) * n);
	if (!d)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		if (!col_ru_str(a, src[i].key, &d[i].key) ||
		    !col_ru_value(a, &src[i].value, &d[i].value))
			return false;
	}
	*out = d;
	return true;
}

bool col_ru_span(ksk_arena *a, const ksk_span *src, ksk_span *dst)
{
	*dst = *src;
	if (!col_ru_str(a, src->name, &dst->name) ||
	    !col_ru_str(a, src->status_msg, &dst->status_msg) ||
	    !col_ru_str(a, src->trace_state, &dst->trace_state) ||
	    !col_ru_str(a, src->scope_name, &dst->scope_name) ||
	    !col_ru_str(a, src->scope_version, &dst->scope_version) ||
	    !col_ru_attrs(a, src->attrs, src->n_attrs, &dst->attrs))
		return false;
	dst->events = NULL;
	if (src->n_events) {
		dst->events = ksk_arena_alloc(a, sizeof(ksk_event) * src->n_events);
		if (!dst->events)
			return false;
		for (uint32_t i = 0; i < src->n_events; i++) {
			const ksk_event *e = &src->events[i];
			ksk_event *o = &dst->events[i];
			*o = *e;
			if (!col_ru_str(a, e->name, &o->name) ||
			    !col_ru_attrs(a, e->attrs, e->n_attrs, &o->attrs))
				return false;
		}
	}
	dst->links = NULL;
	if (src->n_links) {
		dst->links = ksk_arena_alloc(a, sizeof(ksk_link) * src->n_links);
		if (!dst->links)
			return false;
		for (uint32_t i = 0; i < src->n_links; i++) {
			const ksk_link *l = &src->links[i];
			ksk_link *o = &dst->links[i];
			*o = *l;
			if (!col_ru_str(a, l->trace_state, &o->trace_state) ||
			    !col_ru_attrs(a, l->attrs, l->n_attrs, &o->attrs))
				return false;
		}
	}
	return true;
}

bool col_ru_log(ksk_arena *a, const ksk_log *src, ksk_log *dst)
{
	*dst = *src;
	return col_ru_str(a, src->severity_text, &dst->severity_text) &&
	       col_ru_value(a, &src->body, &dst->body) &&
	       col_ru_attrs(a, src->attrs, src->n_attrs, &dst->attrs) &&
	       col_ru_str(a, src->event_name, &dst->event_name) &&
	       col_ru_str(a, src->scope_name, &dst->scope_name) &&
	       col_ru_str(a, src->scope_version, &dst->scope_version);
}

bool col_ru_resource(ksk_arena *a, const ksk_resource *src, ksk_resource *dst)
{
	*dst = *src;
	return col_ru_attrs(a, src->attrs, src->n_attrs, &dst->attrs) &&
	       col_ru_str(a, src->service, &dst->service) &&
	       col_ru_str(a, src->host, &dst->host);
}

/* A bounded writer: counts everything, stores what fits. */
typedef struct col_ru_out {
	char *buf;
	size_t cap;
	size_t n;
} col_ru_out;

static void ru_put(col_ru_out *o, const char *p, size_t n)
{
	if (o->n < o->cap) {
		size_t room = o->cap - o->n;
		memcpy(o->buf + o->n, p, n < room ? n : room);
	}
	o->n += n;
}

static void ru_putc(col_ru_out *o, char c)
{
	ru_put(o, &c, 1);
}

static void ru_value(col_ru_out *o, const ksk_value *v, int depth);

static void ru_quoted(col_ru_out *o, ksk_str s)
{
	ru_putc(o, '"');
	for (uint32_t i = 0; i < s.len; i++) {
		char c = s.ptr[i];
		if (c == '"' || c == '\\')
			ru_putc(o, '\\');
		ru_putc(o, c);
	}
	ru_putc(o, '"');
}

static void ru_elem(col_ru_out *o, const ksk_value *v, int depth)
{
	if (v->type == KSK_VAL_STR)
		ru_quoted(o, v->u.s);
	else
		ru_value(o, v, depth + 1);
}

static void ru_value(col_ru_out *o, const ksk_value *v, int depth)
{
	char tmp[40];
	int k;
	if (depth > 32) {
		ru_put(o, "...", 3);
		return;
	}
	switch (v->type) {
	case KSK_VAL_STR:
		ru_put(o, v->u.s.ptr, v->u.s.len);
		break;
	case KSK_VAL_BOOL:
		if (v->u.b)
			ru_put(o, "true", 4);
		else
			ru_put(o, "false", 5);
		break;
	case KSK_VAL_INT:
		k = snprintf(tmp, sizeof(tmp), "%" PRId64, v->u.i);
		ru_put(o, tmp, (size_t)k);
		break;
	case KSK_VAL_DOUBLE:
		k = snprintf(tmp, sizeof(tmp), "%.17g", v->u.d);
		ru_put(o, tmp, (size_t)k);
		break;
	case KSK_VAL_BYTES:
		for (uint32_t i = 0; i < v->u.s.len; i++) {
			k = snprintf(tmp, sizeof(tmp), "%02x", (unsigned)(uint8_t)v->u.s.ptr[i]);
			ru_put(o, tmp, (size_t)k);
		}
		break;
	case KSK_VAL_ARRAY:
		ru_putc(o, '[');
		for (uint32_t i = 0; i < v->u.arr.n; i++) {
			if (i)
				ru_putc(o, ',');
			ru_elem(o, &v->u.arr.items[i], depth);
		}
		ru_putc(o, ']');
		break;
	case KSK_VAL_KVLIST:
		ru_putc(o, '{');
		for (uint32_t i = 0; i < v->u.kv.n; i++) {
			if (i)
				ru_putc(o, ',');
			ru_quoted(o, v->u.kv.items[i].key);
			ru_putc(o, ':');
			ru_elem(o, &v->u.kv.items[i].value, depth);
		}
		ru_putc(o, '}');
		break;
	default:
		break;
	}
}

size_t col_ru_value_text(const ksk_value *v, char *buf, size_t cap)
{
	col_ru_out o = {buf, cap ? cap - 1 : 0, 0};
	ru_value(&o, v, 0);
	if (cap)
		buf[o.n < cap - 1 ? o.n : cap - 1] = '\0';
	return o.n;
}

static bool ru_scalar(const ksk_value *v)
{
	return v->type == KSK_VAL_STR || v->type == KSK_VAL_BOOL ||
	       v->type == KSK_VAL_INT || v->type == KSK_VAL_DOUBLE;
}

static uint64_t ru_kv_hash(ksk_str key, const char *val, size_t vlen)
{
	uint64_t h = col_ru_hash(key.ptr ? key.ptr : "", key.len, 0x6b736b);
	h = col_ru_hash("=", 1, h);
	h = col_ru_hash(val ? val : "", vlen, h);
	return h ? h : 1;
}

uint64_t col_ru_attr_hash(ksk_str key, const ksk_value *v)
{
	if (!ru_scalar(v))
		return 0;
	if (v->type == KSK_VAL_STR)
		return ru_kv_hash(key, v->u.s.ptr, v->u.s.len);
	char tmp[48];
	size_t n = col_ru_value_text(v, tmp, sizeof(tmp));
	if (n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	return ru_kv_hash(key, tmp, n);
}

uint64_t col_ru_filter_hash(const col_attr_filter *f)
{
	return ru_kv_hash(f->key, f->value.ptr, f->value.len);
}

bool col_ru_attr_matches(const ksk_attr *attrs, uint32_t n,
                         const col_attr_filter *f)
{
	for (uint32_t i = 0; i < n; i++) {
		const ksk_attr *at = &attrs[i];
		if (!ksk_str_eq(at->key, f->key))
			continue;
		if (at->value.type == KSK_VAL_STR) {
			if (ksk_str_eq(at->value.u.s, f->value))
				return true;
			continue;
		}
		if (!ru_scalar(&at->value))
			continue;
		char tmp[48];
		size_t k = col_ru_value_text(&at->value, tmp, sizeof(tmp));
		if (k == f->value.len && memcmp(tmp, f->value.ptr ? f->value.ptr : "", k) == 0)
			return true;
	}
	return false;
}

bool col_ru_grow(const ksk_alloc *al, void **arr, uint32_t *cap, uint32_t want,
                 size_t size)
{
	size_t c = *cap;
	if (!ksk_grow(al, arr, &c, want, size, 8))
		return false;
	if (c > UINT32_MAX) {
		/* keep the 32-bit capacity honest: the array is just bigger */
		c = UINT32_MAX;
	}
	*cap = (uint32_t)c;
	return true;
}
