/*
 * agt_otlp.c : OTLP JSON (traces, logs) and Zipkin v2 JSON -> records.
 *
 * Data in: a whole body (or one span-file line), parsed by jansson
 * (JSON_ALLOW_NUL; jansson itself rejects invalid UTF-8 and nesting over
 * its 2048 limit; duplicate keys: last wins). Data out: agt_otlp_out,
 * every array and string in the caller's arena.
 *
 * Walk: counts the records first (array sizes), allocates the result
 * arrays once, then converts record by record. A record that breaks a
 * rule the collector enforces (kiseki/wire.h decoder) is skipped and
 * counted (agt__reject keeps the first reason with its JSON path), so one
 * bad span never costs the rest of the batch; a body whose SHAPE is wrong
 * (not an object / list, resourceSpans not an array, ...) fails whole
 * with KSK_EPARSE. See agt_otlp.h for the policy.
 *
 * OTLP JSON specifics handled: hex IDs in either case, "" parentSpanId for
 * roots, 64-bit integers as strings or numbers, enums as integers or
 * names, doubles as "NaN"/"Infinity"/"-Infinity", bytesValue in base64.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agt_otlp.h"
#include "agt_parse_int.h"

/* ---- shared helpers (also used by agt_otlp_pb.c) -------------------------- */

ksk_err agt__whyf(agt__why *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
	return KSK_ERECORD;
}

void agt__reject(struct agt_otlp_out *out, const char *where, const agt__why *w)
{
	if (out->n_rejected++ == 0)
		ksk_errinfo_set(&out->reject, KSK_ERECORD, "%s: %s", where, w->msg);
}

ksk_err agt__span_check(const ksk_span *s, agt__why *w)
{
	if (ksk_id_is_zero(s->trace_id, KSK_TRACE_ID_LEN))
		return agt__whyf(w, "traceId is all zero or missing");
	if (ksk_id_is_zero(s->span_id, KSK_SPAN_ID_LEN))
		return agt__whyf(w, "spanId is all zero or missing");
	if (s->end_ns < s->start_ns)
		return agt__whyf(w, "endTimeUnixNano %llu < startTimeUnixNano %llu",
		                 (unsigned long long)s->end_ns,
		                 (unsigned long long)s->start_ns);
	if ((unsigned)s->kind > KSK_KIND_CONSUMER)
		return agt__whyf(w, "kind %u out of range 0..5", (unsigned)s->kind);
	if ((unsigned)s->status > KSK_STATUS_ERROR)
		return agt__whyf(w, "status.code %u out of range 0..2",
		                 (unsigned)s->status);
	return KSK_OK;
}

void agt__resource_finish(ksk_resource *r)
{
	const ksk_attr *at = ksk_attrs_find(r->attrs, r->n_attrs,
	                                    KSK_STR("service.name"));
	if (at && at->value.type == KSK_VAL_STR)
		r->service = at->value.u.s;
	at = ksk_attrs_find(r->attrs, r->n_attrs, KSK_STR("host.name"));
	if (at && at->value.type == KSK_VAL_STR)
		r->host = at->value.u.s;
}

/* ---- JSON scalar readers -------------------------------------------------- */

typedef struct agt_oj {
	ksk_arena *a;       /* output arena */
	agt_otlp_out *out;  /* result */
	agt__why why;       /* reason of the current record's rejection */
} agt_oj;

static ksk_err agt_oj_arena(agt_oj *c)
{
	return agt__arena_err(c->a);
}

/* unsigned 64-bit: decimal string or non-negative JSON integer */
static ksk_err agt_j_u64(agt_oj *c, json_t *v, const char *field, uint64_t *out)
{
	*out = 0;
	if (!v || json_is_null(v))
		return KSK_OK;
	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);
		if (n < 0)
			return agt__whyf(&c->why, "%s: negative", field);
		*out = (uint64_t)n;
		return KSK_OK;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (!(d >= 0) || d >= 1.8446744073709552e19 || d != (double)(uint64_t)d)
			return agt__whyf(&c->why, "%s: not an unsigned integer", field);
		*out = (uint64_t)d;
		return KSK_OK;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);
		uint64_t r = 0;
		if (n == 0 || n > 20)
			return agt__whyf(&c->why, "%s: \"%.32s\" is not a decimal integer",
			                 field, s);
		for (size_t i = 0; i < n; i++) {
			if (s[i] < '0' || s[i] > '9')
				return agt__whyf(&c->why,
				                 "%s: \"%.32s\" is not a decimal integer",
				                 field, s);
			uint64_t d = (uint64_t)(s[i] - '0');
			if (r > (UINT64_MAX - d) / 10)
				return agt__whyf(&c->why, "%s: overflows 64 bits", field);
			r = r * 10 + d;
		}
		*out = r;
		return KSK_OK;
	}
	return agt__whyf(&c->why, "%s: must be a string or number", field);
}

static ksk_err agt_j_u32(agt_oj *c, json_t *v, const char *field, uint32_t *out)
{
	uint64_t x;
	KSK_TRY(agt_j_u64(c, v, field, &x));
	if (x > UINT32_MAX)
		return agt__whyf(&c->why, "%s: over 32 bits", field);
	*out = (uint32_t)x;
	return KSK_OK;
}

static ksk_err agt_j_i64(agt_oj *c, json_t *v, const char *field, int64_t *out)
{
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return KSK_OK;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (!(d >= -9.2233720368547758e18 && d < 9.2233720368547758e18) ||
		    d != (double)(int64_t)d)
			return agt__whyf(&c->why, "%s: not a 64-bit integer", field);
		*out = (int64_t)d;
		return KSK_OK;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);
		char *end;
		if (n == 0 || n > 20 || strlen(s) != n)
			return agt__whyf(&c->why, "%s: not a decimal integer", field);
		errno = 0;
		long long r = strtoll(s, &end, 10);
		if (errno || *end || !((s[0] >= '0' && s[0] <= '9') || s[0] == '-'))
			return agt__whyf(&c->why, "%s: \"%.32s\" is not a 64-bit integer",
			                 field, s);
		*out = r;
		return KSK_OK;
	}
	return agt__whyf(&c->why, "%s: must be a string or number", field);
}

/* (no libm: the agent core does not link it) */
/* an enum: integer, decimal string, or one of `names` (index = value) */
static ksk_err agt_j_enum(agt_oj *c, json_t *v, const char *field,
                          const char *const *names, uint32_t nn, uint32_t *out)
{
	*out = 0;
	if (!v || json_is_null(v))
		return KSK_OK;
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		for (uint32_t i = 0; i < nn; i++)
			if (names[i] && strcmp(s, names[i]) == 0) {
				*out = i;
				return KSK_OK;
			}
		if (!(s[0] >= '0' && s[0] <= '9'))
			return agt__whyf(&c->why, "%s: unknown value \"%.40s\"", field, s);
	}
	return agt_j_u32(c, v, field, out);
}

/* hex ID of n bytes; absent or "" allowed when !required (-> zeros) */
static ksk_err agt_j_id(agt_oj *c, json_t *v, const char *field, size_t n,
                        uint8_t *out, bool *present)
{
	memset(out, 0, n);
	if (present)
		*present = false;
	if (!v || json_is_null(v))
		return KSK_OK;
	if (!json_is_string(v))
		return agt__whyf(&c->why, "%s: must be a hex string", field);
	size_t l = json_string_length(v);
	if (l == 0)
		return KSK_OK;
	if (l != 2 * n)
		return agt__whyf(&c->why, "%s: %zu hex digits, want %zu", field, l,
		                 2 * n);
	if (!ksk_hex_decode(json_string_value(v), l, out, n, false))
		return agt__whyf(&c->why, "%s: \"%.40s\" is not hex", field,
		                 json_string_value(v));
	if (present)
		*present = true;
	return KSK_OK;
}

static ksk_err agt_j_str(agt_oj *c, json_t *v, const char *field, ksk_str *out)
{
	out->ptr = NULL;
	out->len = 0;
	if (!v || json_is_null(v))
		return KSK_OK;
	if (!json_is_string(v))
		return agt__whyf(&c->why, "%s: must be a string", field);
	size_t n = json_string_length(v);
	if (n > AGT__MAX_STR)
		return agt__whyf(&c->why, "%s: %zu bytes, over the %u limit", field, n,
		                 AGT__MAX_STR);
	if (!agt__str(c->a, json_string_value(v), n, out))
		return agt_oj_arena(c);
	return KSK_OK;
}

static const int8_t agt_b64[256] = {
	['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,
	['G'] = 7,  ['H'] = 8,  ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12,
	['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
	['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
	['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,
	['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
	['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
	['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
	['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
	['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60,
	['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64, ['-'] = 63, ['_'] = 64,
};

/* base64 (standard or URL alphabet, padding optional) */
static ksk_err agt_b64_decode(agt_oj *c, const char *s, size_t n, ksk_str *out)
{
	while (n && s[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return agt__whyf(&c->why, "bytesValue: bad base64 length");
	uint8_t *o = ksk_arena_alloc(c->a, n / 4 * 3 + 3);
	if (!o)
		return agt_oj_arena(c);
	size_t k = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = agt_b64[(uint8_t)s[i]];
		if (!v)
			return agt__whyf(&c->why, "bytesValue: bad base64 byte at %zu", i);
		acc = (acc << 6) | (uint32_t)(v - 1);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[k++] = (uint8_t)(acc >> bits);
		}
	}
	out->ptr = (const char *)o;
	out->len = (uint32_t)k;
	return KSK_OK;
}

/* ---- AnyValue / KeyValue ---------------------------------------------------- */

static ksk_err agt_j_attrs(agt_oj *c, json_t *arr, const char *field,
                           uint32_t depth, ksk_attr **items, uint32_t *n,
                           uint32_t *dropped);

static ksk_err agt_j_anyvalue(agt_oj *c, json_t *v, uint32_t depth,
                              ksk_value *out)
{
	json_t *x;
	memset(out, 0, sizeof(*out));
	if (depth > AGT__MAX_DEPTH)
		return agt__whyf(&c->why, "value nested deeper than %u",
		                 AGT__MAX_DEPTH);
	if (!v || json_is_null(v))
		return KSK_OK;
	if (!json_is_object(v))
		return agt__whyf(&c->why, "value: must be an AnyValue object");
	if ((x = json_object_get(v, "stringValue"))) {
		out->type = KSK_VAL_STR;
		return agt_j_str(c, x, "stringValue", &out->u.s);
	}
	if ((x = json_object_get(v, "boolValue"))) {
		if (!json_is_boolean(x))
			return agt__whyf(&c->why, "boolValue: must be true or false");
		*out = ksk_val_bool(json_is_true(x));
		return KSK_OK;
	}
	if ((x = json_object_get(v, "intValue"))) {
		int64_t i;
		KSK_TRY(agt_j_i64(c, x, "intValue", &i));
		*out = ksk_val_int(i);
		return KSK_OK;
	}
	if ((x = json_object_get(v, "doubleValue"))) {
		double d;
		if (json_is_number(x)) {
			d = json_number_value(x);
		} else if (json_is_string(x)) {
			const char *s = json_string_value(x);
			char *end;
			if (strcmp(s, "NaN") == 0)
				d = NAN;
			else if (strcmp(s, "Infinity") == 0)
				d = INFINITY;
			else if (strcmp(s, "-Infinity") == 0)
				d = -INFINITY;
			else {
				d = strtod(s, &end);
				if (!*s || *end)
					return agt__whyf(&c->why,
					                 "doubleValue: \"%.32s\" is not a number",
					                 s);
			}
		} else {
			return agt__whyf(&c->why, "doubleValue: must be a number");
		}
		*out = ksk_val_double(d);
		return KSK_OK;
	}
	if ((x = json_object_get(v, "bytesValue"))) {
		if (!json_is_string(x))
			return agt__whyf(&c->why, "bytesValue: must be a base64 string");
		if (json_string_length(x) > AGT__MAX_STR)
			return agt__whyf(&c->why, "bytesValue: over the size limit");
		out->type = KSK_VAL_BYTES;
		return agt_b64_decode(c, json_string_value(x), json_string_length(x),
		                      &out->u.s);
	}
	if ((x = json_object_get(v, "arrayValue"))) {
		json_t *vals = json_is_object(x) ? json_object_get(x, "values") : NULL;
		out->type = KSK_VAL_ARRAY;
		if (!json_is_object(x) || (vals && !json_is_array(vals)))
			return agt__whyf(&c->why, "arrayValue: must be {values: [...]}");
		size_t n = vals ? json_array_size(vals) : 0;
		if (n == 0)
			return KSK_OK;
		if (n > UINT32_MAX / 2)
			return agt__whyf(&c->why, "arrayValue: too many values");
		ksk_value *it = ksk_arena_calloc(c->a, n, sizeof(*it));
		if (!it)
			return agt_oj_arena(c);
		for (size_t i = 0; i < n; i++)
			KSK_TRY(agt_j_anyvalue(c, json_array_get(vals, i), depth + 1,
			                       &it[i]));
		out->u.arr.items = it;
		out->u.arr.n = (uint32_t)n;
		return KSK_OK;
	}
	if ((x = json_object_get(v, "kvlistValue"))) {
		json_t *vals = json_is_object(x) ? json_object_get(x, "values") : NULL;
		uint32_t dropped = 0;
		out->type = KSK_VAL_KVLIST;
		if (!json_is_object(x))
			return agt__whyf(&c->why, "kvlistValue: must be {values: [...]}");
		return agt_j_attrs(c, vals, "kvlistValue.values", depth + 1,
		                   &out->u.kv.items, &out->u.kv.n, &dropped);
	}
	return KSK_OK; /* {} = empty value; unknown kinds too */
}

static ksk_err agt_j_attrs(agt_oj *c, json_t *arr, const char *field,
                           uint32_t depth, ksk_attr **items, uint32_t *n,
                           uint32_t *dropped)
{
	*items = NULL;
	*n = 0;
	if (!arr || json_is_null(arr))
		return KSK_OK;
	if (!json_is_array(arr))
		return agt__whyf(&c->why, "%s: must be an array", field);
	size_t cnt = json_array_size(arr), keep = cnt;
	if (keep > AGT__MAX_ATTRS) {
		keep = AGT__MAX_ATTRS;
		*dropped += (uint32_t)(cnt - keep);
	}
	if (keep == 0)
		return KSK_OK;
	ksk_attr *it = ksk_arena_calloc(c->a, keep, sizeof(*it));
	if (!it)
		return agt_oj_arena(c);
	uint32_t k = 0;
	for (size_t i = 0; i < keep; i++) {
		json_t *kv = json_array_get(arr, i);
		if (!json_is_object(kv))
			return agt__whyf(&c->why, "%s[%zu]: must be {key, value}", field, i);
		KSK_TRY(agt_j_str(c, json_object_get(kv, "key"), "key", &it[k].key));
		if (it[k].key.len == 0)
			return agt__whyf(&c->why, "%s[%zu]: empty key", field, i);
		ksk_err rc = agt_j_anyvalue(c, json_object_get(kv, "value"), depth,
		                            &it[k].value);
		if (rc == KSK_ERECORD) {
			char tmp[sizeof(c->why.msg)];
			memcpy(tmp, c->why.msg, sizeof(tmp));
			return agt__whyf(&c->why, "%s[%zu] (%.*s): %s", field, i,
			                 (int)(it[k].key.len > 60 ? 60 : it[k].key.len),
			                 it[k].key.ptr, tmp);
		}
		if (rc != KSK_OK)
			return rc;
		k++;
	}
	*items = it;
	*n = k;
	return KSK_OK;
}

/* ---- OTLP JSON: resources and scopes ------------------------------------- */

static ksk_err agt_j_resource(agt_oj *c, json_t *res, ksk_resource *r)
{
	memset(r, 0, sizeof(*r));
	if (!res || json_is_null(res))
		return KSK_OK;
	if (!json_is_object(res))
		return agt__whyf(&c->why, "resource: must be an object");
	KSK_TRY(agt_j_u32(c, json_object_get(res, "droppedAttributesCount"),
	                  "droppedAttributesCount", &r->dropped_attrs));
	KSK_TRY(agt_j_attrs(c, json_object_get(res, "attributes"), "attributes", 0,
	                    &r->attrs, &r->n_attrs, &r->dropped_attrs));
	agt__resource_finish(r);
	return KSK_OK;
}

static ksk_err agt_j_scope(agt_oj *c, json_t *sc, ksk_str *name, ksk_str *ver)
{
	name->ptr = ver->ptr = NULL;
	name->len = ver->len = 0;
	if (!sc || json_is_null(sc))
		return KSK_OK;
	if (!json_is_object(sc))
		return agt__whyf(&c->why, "scope: must be an object");
	KSK_TRY(agt_j_str(c, json_object_get(sc, "name"), "scope.name", name));
	return agt_j_str(c, json_object_get(sc, "version"), "scope.version", ver);
}

static const char *const agt_kind_names[] = {
	"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
	"SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"};
static const char *const agt_status_names[] = {
	"STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"};
static const char *const agt_sev_names[] = {
	"SEVERITY_NUMBER_UNSPECIFIED",
	"SEVERITY_NUMBER_TRACE", "SEVERITY_NUMBER_TRACE2", "SEVERITY_NUMBER_TRACE3",
	"SEVERITY_NUMBER_TRACE4", "SEVERITY_NUMBER_DEBUG", "SEVERITY_NUMBER_DEBUG2",
	"SEVERITY_NUMBER_DEBUG3", "SEVERITY_NUMBER_DEBUG4", "SEVERITY_NUMBER_INFO",
	"SEVERITY_NUMBER_INFO2", "SEVERITY_NUMBER_INFO3", "SEVERITY_NUMBER_INFO4",
	"SEVERITY_NUMBER_WARN", "SEVERITY_NUMBER_WARN2", "SEVERITY_NUMBER_WARN3",
	"SEVERITY_NUMBER_WARN4", "SEVERITY_NUMBER_ERROR", "SEVERITY_NUMBER_ERROR2",
	"SEVERITY_NUMBER_ERROR3", "SEVERITY_NUMBER_ERROR4", "SEVERITY_NUMBER_FATAL",
	"SEVERITY_NUMBER_FATAL2", "SEVERITY_NUMBER_FATAL3", "SEVERITY_NUMBER_FATAL4"};

/* ---- OTLP JSON: spans ----------------------------------------------------- */

static ksk_err agt_j_event(agt_oj *c, json_t *e, size_t i, ksk_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (!json_is_object(e))
		return agt__whyf(&c->why, "events[%zu]: must be an object", i);
	KSK_TRY(agt_j_u64(c, json_object_get(e, "timeUnixNano"), "timeUnixNano",
	                  &ev->time_ns));
	KSK_TRY(agt_j_str(c, json_object_get(e, "name"), "name", &ev->name));
	KSK_TRY(agt_j_u32(c, json_object_get(e, "droppedAttributesCount"),
	                  "droppedAttributesCount", &ev->dropped_attrs));
	return agt_j_attrs(c, json_object_get(e, "attributes"), "attributes", 0,
	                   &ev->attrs, &ev->n_attrs, &ev->dropped_attrs);
}

static ksk_err agt_j_link(agt_oj *c, json_t *l, size_t i, ksk_link *lk)
{
	memset(lk, 0, sizeof(*lk));
	if (!json_is_object(l))
		return agt__whyf(&c->why, "links[%zu]: must be an object", i);
	KSK_TRY(agt_j_id(c, json_object_get(l, "traceId"), "traceId", 16,
	                 lk->trace_id, NULL));
	KSK_TRY(agt_j_id(c, json_object_get(l, "spanId"), "spanId", 8, lk->span_id,
	                 NULL));
	if (ksk_id_is_zero(lk->trace_id, 16) || ksk_id_is_zero(lk->span_id, 8))
		return agt__whyf(&c->why, "links[%zu]: traceId/spanId missing or zero",
		                 i);
	KSK_TRY(agt_j_str(c, json_object_get(l, "traceState"), "traceState",
	                  &lk->trace_state));
	KSK_TRY(agt_j_u32(c, json_object_get(l, "flags"), "flags", &lk->flags));
	KSK_TRY(agt_j_u32(c, json_object_get(l, "droppedAttributesCount"),
	                  "droppedAttributesCount", &lk->dropped_attrs));
	return agt_j_attrs(c, json_object_get(l, "attributes"), "attributes", 0,
	                   &lk->attrs, &lk->n_attrs, &lk->dropped_attrs);
}

static ksk_err agt_j_span(agt_oj *c, json_t *js, ksk_span *s)
{
	json_t *x;
	uint32_t u;
	bool has_parent = false;
	memset(s, 0, sizeof(*s));
	if (!json_is_object(js))
		return agt__whyf(&c->why, "must be an object");
	KSK_TRY(agt_j_id(c, json_object_get(js, "traceId"), "traceId", 16,
	                 s->trace_id, NULL));
	KSK_TRY(agt_j_id(c, json_object_get(js, "spanId"), "spanId", 8, s->span_id,
	                 NULL));
	KSK_TRY(agt_j_id(c, json_object_get(js, "parentSpanId"), "parentSpanId", 8,
	                 s->parent_id, &has_parent));
	s->has_parent = has_parent && !ksk_id_is_zero(s->parent_id, 8);
	KSK_TRY(agt_j_str(c, json_object_get(js, "traceState"), "traceState",
	                  &s->trace_state));
	KSK_TRY(agt_j_str(c, json_object_get(js, "name"), "name", &s->name));
	KSK_TRY(agt_j_enum(c, json_object_get(js, "kind"), "kind", agt_kind_names,
	                   6, &u));
	s->kind = (ksk_span_kind)u;
	KSK_TRY(agt_j_u64(c, json_object_get(js, "startTimeUnixNano"),
	                  "startTimeUnixNano", &s->start_ns));
	KSK_TRY(agt_j_u64(c, json_object_get(js, "endTimeUnixNano"),
	                  "endTimeUnixNano", &s->end_ns));
	KSK_TRY(agt_j_u32(c, json_object_get(js, "flags"), "flags", &s->flags));
	KSK_TRY(agt_j_u32(c, json_object_get(js, "droppedAttributesCount"),
	                  "droppedAttributesCount", &s->dropped_attrs));
	KSK_TRY(agt_j_u32(c, json_object_get(js, "droppedEventsCount"),
	                  "droppedEventsCount", &s->dropped_events));
	KSK_TRY(agt_j_u32(c, json_object_get(js, "droppedLinksCount"),
	                  "droppedLinksCount", &s->dropped_links));
	KSK_TRY(agt_j_attrs(c, json_object_get(js, "attributes"), "attributes", 0,
	                    &s->attrs, &s->n_attrs, &s->dropped_attrs));
	if ((x = json_object_get(js, "status")) && !json_is_null(x)) {
		if (!json_is_object(x))
			return agt__whyf(&c->why, "status: must be an object");
		KSK_TRY(agt_j_enum(c, json_object_get(x, "code"), "status.code",
		                   agt_status_names, 3, &u));
		s->status = (ksk_status_code)u;
		KSK_TRY(agt_j_str(c, json_object_get(x, "message"), "status.message",
		                  &s->status_msg));
	}
	if ((x = json_object_get(js, "events")) && !json_is_null(x)) {
		if (!json_is_array(x))
			return agt__whyf(&c->why, "events: must be an array");
		size_t n = json_array_size(x), keep = n > AGT__MAX_EVENTS ? AGT__MAX_EVENTS : n;
		s->dropped_events += (uint32_t)(n - keep);
		if (keep) {
			s->events = ksk_arena_calloc(c->a, keep, sizeof(ksk_event));
			if (!s->events)
				return agt_oj_arena(c);
			for (size_t i = 0; i < keep; i++)
				KSK_TRY(agt_j_event(c, json_array_get(x, i), i, &s->events[i]));
			s->n_events = (uint32_t)keep;
		}
	}
	if ((x = json_object_get(js, "links")) && !json_is_null(x)) {
		if (!json_is_array(x))
			return agt__whyf(&c->why, "links: must be an array");
		size_t n = json_array_size(x), keep = n > AGT__MAX_LINKS ? AGT__MAX_LINKS : n;
		s->dropped_links += (uint32_t)(n - keep);
		if (keep) {
			s->links = ksk_arena_calloc(c->a, keep, sizeof(ksk_link));
			if (!s->links)
				return agt_oj_arena(c);
			for (size_t i = 0; i < keep; i++)
				KSK_TRY(agt_j_link(c, json_array_get(x, i), i, &s->links[i]));
			s->n_links = (uint32_t)keep;
		}
	}
	return agt__span_check(s, &c->why);
}

static json_t *agt_j_load(const char *body, size_t len, ksk_errinfo *ei,
                          const char *what)
{
	json_error_t jerr;
	json_t *root = json_loadb(body ? body : "", len, JSON_ALLOW_NUL, &jerr);
	if (!root)
		ksk_errinfo_set(ei, KSK_EPARSE, "%s: invalid JSON at line %d col %d: %s",
		                what, jerr.line, jerr.column, jerr.text);
	return root;
}

/* the array at obj[key] (absent = empty), else an error */
static ksk_err agt_j_arr(json_t *obj, const char *key, const char *path,
                         json_t **out, ksk_errinfo *ei)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return KSK_OK;
	if (!json_is_array(v))
		return ksk_errinfo_set(ei, KSK_EPARSE, "%s%s: must be an array", path,
		                       key);
	*out = v;
	return KSK_OK;
}

static void agt_out_clear(agt_otlp_out *out)
{
	memset(out, 0, sizeof(*out));
	ksk_errinfo_clear(&out->reject);
}

/* shape pass: checks arrays and counts the leaf records */
static ksk_err agt_j_count(json_t *root, const char *top, const char *mid,
                           const char *leaf, size_t *n_res, size_t *n_leaf,
                           ksk_errinfo *ei)
{
	json_t *rs, *ss, *sp;
	char path[96];
	*n_res = *n_leaf = 0;
	KSK_TRY(agt_j_arr(root, top, "", &rs, ei));
	if (!rs)
		return KSK_OK;
	*n_res = json_array_size(rs);
	for (size_t i = 0; i < *n_res; i++) {
		json_t *r = json_array_get(rs, i);
		snprintf(path, sizeof(path), "%s[%zu].", top, i);
		if (!json_is_object(r))
			return ksk_errinfo_set(ei, KSK_EPARSE, "%s[%zu]: must be an object",
			                       top, i);
		KSK_TRY(agt_j_arr(r, mid, path, &ss, ei));
		for (size_t j = 0; ss && j < json_array_size(ss); j++) {
			json_t *s = json_array_get(ss, j);
			snprintf(path, sizeof(path), "%s[%zu].%s[%zu].", top, i, mid, j);
			if (!json_is_object(s))
				return ksk_errinfo_set(ei, KSK_EPARSE,
				                       "%s[%zu].%s[%zu]: must be an object",
				                       top, i, mid, j);
			KSK_TRY(agt_j_arr(s, leaf, path, &sp, ei));
			*n_leaf += sp ? json_array_size(sp) : 0;
		}
	}
	return KSK_OK;
}

/* ---- OTLP JSON: logs -------------------------------------------------------- */

static ksk_err agt_j_logrec(agt_oj *c, json_t *jl, uint64_t now_ns, ksk_log *l)
{
	uint32_t u;
	bool has = false;
	memset(l, 0, sizeof(*l));
	if (!json_is_object(jl))
		return agt__whyf(&c->why, "must be an object");
	KSK_TRY(agt_j_u64(c, json_object_get(jl, "timeUnixNano"), "timeUnixNano",
	                  &l->time_ns));
	KSK_TRY(agt_j_u64(c, json_object_get(jl, "observedTimeUnixNano"),
	                  "observedTimeUnixNano", &l->observed_ns));
	KSK_TRY(agt_j_enum(c, json_object_get(jl, "severityNumber"),
	                   "severityNumber", agt_sev_names, 25, &u));
	if (u > 24)
		return agt__whyf(&c->why, "severityNumber %u out of range 0..24", u);
	l->severity = (uint8_t)u;
	KSK_TRY(agt_j_str(c, json_object_get(jl, "severityText"), "severityText",
	                  &l->severity_text));
	KSK_TRY(agt_j_anyvalue(c, json_object_get(jl, "body"), 0, &l->body));
	KSK_TRY(agt_j_u32(c, json_object_get(jl, "droppedAttributesCount"),
	                  "droppedAttributesCount", &l->dropped_attrs));
	KSK_TRY(agt_j_attrs(c, json_object_get(jl, "attributes"), "attributes", 0,
	                    &l->attrs, &l->n_attrs, &l->dropped_attrs));
	KSK_TRY(agt_j_u32(c, json_object_get(jl, "flags"), "flags", &l->flags));
	KSK_TRY(agt_j_id(c, json_object_get(jl, "traceId"), "traceId", 16,
	                 l->trace_id, &has));
	l->has_trace = has && !ksk_id_is_zero(l->trace_id, 16);
	KSK_TRY(agt_j_id(c, json_object_get(jl, "spanId"), "spanId", 8, l->span_id,
	                 &has));
	l->has_span = has && !ksk_id_is_zero(l->span_id, 8);
	KSK_TRY(agt_j_str(c, json_object_get(jl, "eventName"), "eventName",
	                  &l->event_name));
	if (l->observed_ns == 0)
		l->observed_ns = l->time_ns ? l->time_ns : now_ns;
	return KSK_OK;
}

/* ---- OTLP JSON: the resource / scope / record walk ---------------------------- */

/* What differs between an ExportTraceServiceRequest and an
 * ExportLogsServiceRequest: the three array names and the record. */
typedef struct agt_ojkind {
	const char *what;             /* "otlp traces" */
	const char *top, *mid, *leaf; /* resourceSpans, scopeSpans, spans */
	bool logs;                    /* records are logs (else spans) */
} agt_ojkind;

static const agt_ojkind agt_oj_traces = {"otlp traces", "resourceSpans", "scopeSpans",
                                         "spans", false};
static const agt_ojkind agt_oj_logs = {"otlp logs", "resourceLogs", "scopeLogs",
                                       "logRecords", true};

/* Rejects every record under `scopes` (a bad resource) or `recs` (a bad
 * scope), each with `where` and the reason in c->why. */
static void agt_j_reject_all(agt_oj *c, json_t *scopes, const char *leaf, json_t *recs,
                             const char *where)
{
	for (size_t j = 0; scopes && j < json_array_size(scopes); j++) {
		json_t *r = json_object_get(json_array_get(scopes, j), leaf);
		for (size_t k = 0; k < (json_is_array(r) ? json_array_size(r) : 0); k++)
			agt__reject(c->out, where, &c->why);
	}
	for (size_t k = 0; recs && k < json_array_size(recs); k++)
		agt__reject(c->out, where, &c->why);
}

static ksk_err agt_otlp_json(const agt_ojkind *kd, const char *body, size_t len,
                             uint64_t now_ns, ksk_arena *a, agt_otlp_out *out, ksk_errinfo *ei)
{
	agt_oj c;
	size_t n_res, n_recs;
	ksk_err rc = KSK_OK;
	char where[128];
	if (!a || !out || (!body && len))
		return ksk_errinfo_set(ei, KSK_EINVAL, "otlp json: null argument");
	agt_out_clear(out);
	json_t *root = agt_j_load(body, len, ei, kd->what);
	if (!root)
		return KSK_EPARSE;
	memset(&c, 0, sizeof(c));
	c.a = a;
	c.out = out;
	if (!json_is_object(root)) {
		rc = ksk_errinfo_set(ei, KSK_EPARSE, "%s: top level must be an object", kd->what);
		goto done;
	}
	rc = agt_j_count(root, kd->top, kd->mid, kd->leaf, &n_res, &n_recs, ei);
	if (rc != KSK_OK)
		goto done;
	if (n_res > UINT32_MAX / 2 || n_recs > UINT32_MAX / 2) {
		rc = ksk_errinfo_set(ei, KSK_ELIMIT, "%s: too many records", kd->what);
		goto done;
	}
	if (n_res) {
		out->resources = ksk_arena_calloc(a, n_res, sizeof(ksk_resource));
		void *recs = kd->logs ? (void *)(out->logs = ksk_arena_calloc(
		                                     a, n_recs ? n_recs : 1, sizeof(ksk_log)))
		                      : (void *)(out->spans = ksk_arena_calloc(
		                                     a, n_recs ? n_recs : 1, sizeof(ksk_span)));
		if (!out->resources || !recs) {
			rc = ksk_errinfo_set(ei, agt__arena_err(a), "%s: arena full", kd->what);
			goto done;
		}
	}
	json_t *top = json_object_get(root, kd->top);
	for (size_t i = 0; i < n_res; i++) {
		json_t *r = json_array_get(top, i);
		ksk_resource *res = &out->resources[out->n_resources];
		rc = agt_j_resource(&c, json_object_get(r, "resource"), res);
		json_t *ss = json_object_get(r, kd->mid);
		size_t nss = json_is_array(ss) ? json_array_size(ss) : 0;
		if (rc == KSK_ERECORD) {
			/* a bad resource rejects all its records */
			snprintf(where, sizeof(where), "%s[%zu].resource", kd->top, i);
			agt_j_reject_all(&c, nss ? ss : NULL, kd->leaf, NULL, where);
			rc = KSK_OK;
			continue;
		}
		if (rc != KSK_OK)
			goto arena;
		uint32_t ridx = out->n_resources++;
		for (size_t j = 0; j < nss; j++) {
			json_t *s = json_array_get(ss, j);
			ksk_str sn, sv;
			json_t *rs = json_object_get(s, kd->leaf);
			size_t nr = json_is_array(rs) ? json_array_size(rs) : 0;
			rc = agt_j_scope(&c, json_object_get(s, "scope"), &sn, &sv);
			if (rc == KSK_ERECORD) {
				snprintf(where, sizeof(where), "%s[%zu].%s[%zu].scope", kd->top, i,
				         kd->mid, j);
				agt_j_reject_all(&c, NULL, NULL, nr ? rs : NULL, where);
				rc = KSK_OK;
				continue;
			}
			if (rc != KSK_OK)
				goto arena;
			for (size_t k = 0; k < nr; k++) {
				json_t *jr = json_array_get(rs, k);
				ksk_span *sp = kd->logs ? NULL : &out->spans[out->n_spans];
				ksk_log *lg = kd->logs ? &out->logs[out->n_logs] : NULL;
				rc = kd->logs ? agt_j_logrec(&c, jr, now_ns, lg) : agt_j_span(&c, jr, sp);
				if (rc == KSK_ERECORD) {
					snprintf(where, sizeof(where), "%s[%zu].%s[%zu].%s[%zu]", kd->top, i,
					         kd->mid, j, kd->leaf, k);
					agt__reject(out, where, &c.why);
					rc = KSK_OK;
					continue;
				}
				if (rc != KSK_OK)
					goto arena;
				if (kd->logs) {
					lg->scope_name = sn;
					lg->scope_version = sv;
					lg->resource = ridx;
					out->n_logs++;
				} else {
					sp->scope_name = sn;
					sp->scope_version = sv;
					sp->resource = ridx;
					out->n_spans++;
				}
			}
		}
	}
	goto done;
arena:
	rc = ksk_errinfo_set(ei, rc, "%s: arena full (%s)", kd->what, ksk_strerror(rc));
done:
	json_decref(root);
	if (rc != KSK_OK)
		agt_out_clear(out);
	return rc;
}

ksk_err agt_otlp_traces_json(const char *body, size_t len, ksk_arena *a,
                             agt_otlp_out *out, ksk_errinfo *ei)
{
	return agt_otlp_json(&agt_oj_traces, body, len, 0, a, out, ei);
}

ksk_err agt_otlp_logs_json(const char *body, size_t len, uint64_t now_ns,
                           ksk_arena *a, agt_otlp_out *out, ksk_errinfo *ei)
{
	return agt_otlp_json(&agt_oj_logs, body, len, now_ns, a, out, ei);
}

/* ---- Zipkin v2 JSON ----------------------------------------------------------- */

typedef struct agt_zep {
	ksk_str svc, ip4, ip6; /* copies in the arena */
	int64_t port;          /* 0 = absent */
} agt_zep;

static ksk_err agt_z_endpoint(agt_oj *c, json_t *e, const char *field,
                              agt_zep *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (!e || json_is_null(e))
		return KSK_OK;
	if (!json_is_object(e))
		return agt__whyf(&c->why, "%s: must be an object", field);
	KSK_TRY(agt_j_str(c, json_object_get(e, "serviceName"), "serviceName",
	                  &ep->svc));
	KSK_TRY(agt_j_str(c, json_object_get(e, "ipv4"), "ipv4", &ep->ip4));
	KSK_TRY(agt_j_str(c, json_object_get(e, "ipv6"), "ipv6", &ep->ip6));
	json_t *p = json_object_get(e, "port");
	if (p && !json_is_null(p)) {
		KSK_TRY(agt_j_i64(c, p, "port", &ep->port));
		if (ep->port < 0 || ep->port > 65535)
			return agt__whyf(&c->why, "%s.port: %lld out of range", field,
			                 (long long)ep->port);
	}
	return KSK_OK;
}

static bool agt_zep_eq(const agt_zep *a, const agt_zep *b)
{
	return ksk_str_eq(a->svc, b->svc) && ksk_str_eq(a->ip4, b->ip4) &&
	       ksk_str_eq(a->ip6, b->ip6) && a->port == b->port;
}

static ksk_err agt_z_resource(agt_oj *c, const agt_zep *ep, ksk_resource *r)
{
	memset(r, 0, sizeof(*r));
	ksk_attr *at = ksk_arena_calloc(c->a, 3, sizeof(*at));
	if (!at)
		return agt_oj_arena(c);
	uint32_t n = 0;
	if (ep->svc.len) {
		at[n].key = KSK_STR("service.name");
		at[n++].value = ksk_val_str(ep->svc);
	}
	if (ep->ip4.len || ep->ip6.len) {
		at[n].key = KSK_STR("net.host.ip");
		at[n++].value = ksk_val_str(ep->ip4.len ? ep->ip4 : ep->ip6);
	}
	if (ep->port) {
		at[n].key = KSK_STR("net.host.port");
		at[n++].value = ksk_val_int(ep->port);
	}
	r->attrs = at;
	r->n_attrs = n;
	agt__resource_finish(r);
	return KSK_OK;
}

/* µs value (integer or number) */
static ksk_err agt_z_us(agt_oj *c, json_t *v, const char *field, uint64_t *us)
{
	KSK_TRY(agt_j_u64(c, v, field, us));
	if (*us > UINT64_MAX / 1000)
		return agt__whyf(&c->why, "%s: too large", field);
	return KSK_OK;
}

static ksk_err agt_z_id(agt_oj *c, json_t *v, const char *field, size_t n,
                        bool allow16, uint8_t *out, bool *present)
{
	memset(out, 0, n);
	*present = false;
	if (!v || json_is_null(v))
		return KSK_OK;
	if (!json_is_string(v))
		return agt__whyf(&c->why, "%s: must be a hex string", field);
	size_t l = json_string_length(v);
	if (l == 0)
		return KSK_OK;
	if (!(l == 2 * n || (allow16 && l == 16)))
		return agt__whyf(&c->why, "%s: %zu hex digits, want %s", field, l,
		                 allow16 ? "16 or 32" : "16");
	if (!ksk_hex_decode(json_string_value(v), l, out, n, true))
		return agt__whyf(&c->why, "%s: \"%.40s\" is not hex", field,
		                 json_string_value(v));
	*present = true;
	return KSK_OK;
}

static ksk_err agt_z_span(agt_oj *c, json_t *js, ksk_span *s, agt_zep *lep)
{
	bool has = false;
	uint64_t ts = 0, dur = 0;
	json_t *x;
	memset(s, 0, sizeof(*s));
	if (!json_is_object(js))
		return agt__whyf(&c->why, "must be an object");
	KSK_TRY(agt_z_id(c, json_object_get(js, "traceId"), "traceId", 16, true,
	                 s->trace_id, &has));
	KSK_TRY(agt_z_id(c, json_object_get(js, "id"), "id", 8, false, s->span_id,
	                 &has));
	KSK_TRY(agt_z_id(c, json_object_get(js, "parentId"), "parentId", 8, false,
	                 s->parent_id, &has));
	s->has_parent = has && !ksk_id_is_zero(s->parent_id, 8);
	KSK_TRY(agt_j_str(c, json_object_get(js, "name"), "name", &s->name));
	s->kind = KSK_KIND_INTERNAL;
	if ((x = json_object_get(js, "kind")) && !json_is_null(x)) {
		const char *k = json_is_string(x) ? json_string_value(x) : "";
		if (strcmp(k, "CLIENT") == 0)
			s->kind = KSK_KIND_CLIENT;
		else if (strcmp(k, "SERVER") == 0)
			s->kind = KSK_KIND_SERVER;
		else if (strcmp(k, "PRODUCER") == 0)
			s->kind = KSK_KIND_PRODUCER;
		else if (strcmp(k, "CONSUMER") == 0)
			s->kind = KSK_KIND_CONSUMER;
		else
			return agt__whyf(&c->why, "kind: unknown value \"%.20s\"", k);
	}
	KSK_TRY(agt_z_us(c, json_object_get(js, "timestamp"), "timestamp", &ts));
	KSK_TRY(agt_z_us(c, json_object_get(js, "duration"), "duration", &dur));
	s->start_ns = ts * 1000;
	if (dur > (UINT64_MAX - s->start_ns) / 1000)
		return agt__whyf(&c->why, "duration: too large");
	s->end_ns = s->start_ns + dur * 1000;
	KSK_TRY(agt_z_endpoint(c, json_object_get(js, "localEndpoint"),
	                       "localEndpoint", lep));
	agt_zep rep;
	KSK_TRY(agt_z_endpoint(c, json_object_get(js, "remoteEndpoint"),
	                       "remoteEndpoint", &rep));
	json_t *tags = json_object_get(js, "tags");
	if (tags && !json_is_null(tags) && !json_is_object(tags))
		return agt__whyf(&c->why, "tags: must be an object");
	size_t ntags = tags ? json_object_size(tags) : 0;
	size_t cap = ntags + 5;
	if (cap > AGT__MAX_ATTRS)
		cap = AGT__MAX_ATTRS;
	ksk_attr *at = ksk_arena_calloc(c->a, cap, sizeof(*at));
	if (!at)
		return agt_oj_arena(c);
	uint32_t n = 0;
	const char *key;
	json_t *v;
	ksk_str err_msg = {NULL, 0};
	bool is_err = false, is_ok = false;
	if (tags) {
		json_object_foreach(tags, key, v) {
			size_t kl = strlen(key);
			ksk_str val;
			if (kl == 0)
				continue;
			if (json_is_string(v)) {
				KSK_TRY(agt_j_str(c, v, key, &val));
			} else if (json_is_number(v) || json_is_boolean(v)) {
				char *txt = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
				if (!txt)
					return KSK_ENOMEM;
				bool ok = agt__str(c->a, txt, strlen(txt), &val);
				free(txt);
				if (!ok)
					return agt_oj_arena(c);
			} else if (json_is_null(v)) {
				continue;
			} else {
				return agt__whyf(&c->why, "tags.%.40s: must be a string", key);
			}
			if (kl == 5 && memcmp(key, "error", 5) == 0) {
				is_err = true;
				err_msg = val;
				continue;
			}
			if (strcmp(key, "otel.status_code") == 0) {
				if (val.len == 5 && memcmp(val.ptr, "ERROR", 5) == 0)
					is_err = true;
				else if (val.len == 2 && memcmp(val.ptr, "OK", 2) == 0)
					is_ok = true;
				continue;
			}
			if (n >= cap) {
				s->dropped_attrs++;
				continue;
			}
			if (!agt__str(c->a, key, kl, &at[n].key))
				return agt_oj_arena(c);
			at[n++].value = ksk_val_str(val);
		}
	}
	if (is_err) {
		s->status = KSK_STATUS_ERROR;
		if (!(err_msg.len == 4 && memcmp(err_msg.ptr, "true", 4) == 0))
			s->status_msg = err_msg;
	} else if (is_ok) {
		s->status = KSK_STATUS_OK;
	}
	/* remote endpoint -> peer attributes (tags win) */
	if (rep.svc.len && n < cap &&
	    !ksk_attrs_find(at, n, KSK_STR("peer.service"))) {
		at[n].key = KSK_STR("peer.service");
		at[n++].value = ksk_val_str(rep.svc);
	}
	if ((rep.ip4.len || rep.ip6.len) && n < cap &&
	    !ksk_attrs_find(at, n, KSK_STR("net.peer.ip"))) {
		at[n].key = KSK_STR("net.peer.ip");
		at[n++].value = ksk_val_str(rep.ip4.len ? rep.ip4 : rep.ip6);
	}
	if (rep.port && n < cap && !ksk_attrs_find(at, n, KSK_STR("net.peer.port"))) {
		at[n].key = KSK_STR("net.peer.port");
		at[n++].value = ksk_val_int(rep.port);
	}
	if ((x = json_object_get(js, "shared")) && json_is_true(x) && n < cap) {
		at[n].key = KSK_STR("zipkin.shared");
		at[n++].value = ksk_val_bool(true);
	}
	if ((x = json_object_get(js, "debug")) && json_is_true(x) && n < cap) {
		at[n].key = KSK_STR("zipkin.debug");
		at[n++].value = ksk_val_bool(true);
	}
	s->attrs = n ? at : NULL;
	s->n_attrs = n;
	if ((x = json_object_get(js, "annotations")) && !json_is_null(x)) {
		if (!json_is_array(x))
			return agt__whyf(&c->why, "annotations: must be an array");
		size_t na = json_array_size(x), keep = na > AGT__MAX_EVENTS ? AGT__MAX_EVENTS : na;
		s->dropped_events = (uint32_t)(na - keep);
		if (keep) {
			s->events = ksk_arena_calloc(c->a, keep, sizeof(ksk_event));
			if (!s->events)
				return agt_oj_arena(c);
			for (size_t i = 0; i < keep; i++) {
				json_t *an = json_array_get(x, i);
				uint64_t at_us;
				if (!json_is_object(an))
					return agt__whyf(&c->why,
					                 "annotations[%zu]: must be an object", i);
				KSK_TRY(agt_z_us(c, json_object_get(an, "timestamp"),
				                 "annotations.timestamp", &at_us));
				s->events[i].time_ns = at_us * 1000;
				KSK_TRY(agt_j_str(c, json_object_get(an, "value"),
				                  "annotations.value", &s->events[i].name));
			}
			s->n_events = (uint32_t)keep;
		}
	}
	return agt__span_check(s, &c->why);
}

ksk_err agt_zipkin_json(const char *body, size_t len, ksk_arena *a,
                        agt_otlp_out *out, ksk_errinfo *ei)
{
	agt_oj c;
	ksk_err rc = KSK_OK;
	agt_zep *eps = NULL;
	char where[48];
	if (!a || !out || (!body && len))
		return ksk_errinfo_set(ei, KSK_EINVAL, "zipkin: null argument");
	agt_out_clear(out);
	json_t *root = agt_j_load(body, len, ei, "zipkin");
	if (!root)
		return KSK_EPARSE;
	memset(&c, 0, sizeof(c));
	c.a = a;
	c.out = out;
	if (!json_is_array(root)) {
		rc = ksk_errinfo_set(ei, KSK_EPARSE,
		                     "zipkin: top level must be a list of spans");
		goto done;
	}
	size_t n = json_array_size(root);
	if (n > UINT32_MAX / 2) {
		rc = ksk_errinfo_set(ei, KSK_ELIMIT, "zipkin: too many spans");
		goto done;
	}
	if (n) {
		out->spans = ksk_arena_calloc(a, n, sizeof(ksk_span));
		out->resources = ksk_arena_calloc(a, n, sizeof(ksk_resource));
		eps = ksk_arena_calloc(a, n, sizeof(agt_zep));
		if (!out->spans || !out->resources || !eps) {
			rc = ksk_errinfo_set(ei, agt__arena_err(a), "zipkin: arena full");
			goto done;
		}
	}
	for (size_t i = 0; i < n; i++) {
		ksk_span *s = &out->spans[out->n_spans];
		agt_zep lep;
		rc = agt_z_span(&c, json_array_get(root, i), s, &lep);
		if (rc == KSK_ERECORD) {
			snprintf(where, sizeof(where), "spans[%zu]", i);
			agt__reject(out, where, &c.why);
			rc = KSK_OK;
			continue;
		}
		if (rc != KSK_OK) {
			rc = ksk_errinfo_set(ei, rc, "zipkin: arena full");
			goto done;
		}
		/* one resource per distinct local endpoint; the search looks at
		 * the last 64 only, so hostile input stays linear */
		uint32_t r = out->n_resources, lo = r > 64 ? r - 64 : 0;
		while (r > lo && !agt_zep_eq(&eps[r - 1], &lep))
			r--;
		if (r > lo)
			r--;
		else
			r = out->n_resources;
		if (r == out->n_resources) {
			rc = agt_z_resource(&c, &lep, &out->resources[r]);
			if (rc != KSK_OK) {
				rc = ksk_errinfo_set(ei, rc, "zipkin: arena full");
				goto done;
			}
			eps[r] = lep;
			out->n_resources++;
		}
		s->resource = r;
		out->n_spans++;
	}
done:
	json_decref(root);
	if (rc != KSK_OK)
		agt_out_clear(out);
	return rc;
}
