/*
 * qry_api.c : the routes of kiseki-query (qry_api.h, docs/API.md).
 *
 * Data in: a decoded HTTP request. Data out: a JSON (or text) response,
 * streamed for single traces. Every route validates its parameters first
 * (400 with a message naming the parameter), then asks the collectors
 * through qry_fetch, reconstructs traces with qry_recon, and writes JSON
 * with qry_json.
 *
 * Shapes: Jaeger's envelope {data, total, limit, offset, errors} for
 * /api/...; Zipkin v2 bare arrays for /api/v2/...; Kiseki extensions in
 * the Jaeger envelope. Times: Jaeger and Zipkin use microseconds since the
 * epoch (Jaeger's endTs/lookback and Zipkin's endTs/lookback are
 * milliseconds), as their APIs do.
 *
 * Invariants: a collector failure never fails a request that another
 * collector answered (the failure is reported in `errors` or in the
 * trace's `warnings`); the output of a route is valid JSON whatever bytes
 * the records hold (qry_json escapes and repairs).
 */
#include "qry_api.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiseki/parse.h"
#include "qry_json.h"
#include "qry_recon.h"

#define NS_PER_US 1000ull
#define NS_PER_MS 1000000ull
#define QRY_PIECE (64u * 1024u)
#define QRY_MAX_SEARCH 1500      /* traces per /api/traces answer */
#define QRY_MAX_LOGS 100000
#define QRY_DEF_LOOKBACK_NS (2ull * 24 * 3600 * 1000000000ull)

struct qry_api {
	qry_backend *b;
	const ksk_clock *clock;
	uint64_t max_skew_ns;
};

ksk_err qry_api_create(const qry_api_opts *o, qry_api **out, ksk_errinfo *ei)
{
	if (!o || !o->backend)
		return ksk_errinfo_set(ei, KSK_EINVAL, "api: no backend");
	qry_api *a = calloc(1, sizeof(*a));
	if (!a)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "api: out of memory");
	a->b = o->backend;
	a->clock = o->clock ? o->clock : ksk_clock_system();
	a->max_skew_ns = o->max_skew_ns ? o->max_skew_ns : 1000000000ull;
	*out = a;
	return KSK_OK;
}

void qry_api_destroy(qry_api *a)
{
	free(a);
}

/* ---- responses ------------------------------------------------------------------------ */

enum { GEN_JAEGER = 1, GEN_ZIPKIN = 2, GEN_COMPACT = 3 };

struct qry_gen {
	int kind;
	int stage;                 /* 0 head, 1 spans, 2 tail, 3 done */
	size_t i;                  /* next position in `order` */
	qry_json j;
	qry_tdata *td;
	qry_trace *tr;
	const qry_span_in *spans;
	const qry_node *nodes;
	const uint32_t *order;
	size_t n_order;
	uint32_t *proc;            /* process index per span */
	uint32_t *proc_first;      /* a span of each process */
	size_t n_proc;
	uint32_t *pos;             /* compact: output position per span */
	qry_warns warns;
	bool envelope;             /* Jaeger envelope around (JAEGER, COMPACT) */
};

static void qry_gen_free(qry_gen *g)
{
	if (!g)
		return;
	qry_trace_destroy(g->tr);
	qry_tdata_destroy(g->td);
	free(g->proc);
	free(g->proc_first);
	free(g->pos);
	free(g);
}

void qry_response_init(qry_response *r)
{
	memset(r, 0, sizeof(*r));
	r->status = 200;
	r->content_type = "application/json";
	ksk_buf_init(&r->body, NULL, 0);
}

void qry_response_fini(qry_response *r)
{
	qry_gen_free(r->gen);
	r->gen = NULL;
	ksk_buf_fini(&r->body);
}

static const char *qry_status_text(int st)
{
	switch (st) {
	case 400: return "bad request";
	case 401: return "unauthorized";
	case 404: return "not found";
	case 405: return "method not allowed";
	case 500: return "internal error";
	case 502: return "no collector answered";
	case 503: return "unavailable";
	default: return "error";
	}
}

/* an error in the Jaeger envelope; `trace_id` may be NULL */
static void qry_error(qry_response *rs, int status, const uint8_t *trace_id, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));
static void qry_error(qry_response *rs, int status, const uint8_t *trace_id, const char *fmt,
                      ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ksk_buf_clear(&rs->body);
	qry_gen_free(rs->gen);
	rs->gen = NULL;
	rs->status = status;
	rs->content_type = "application/json";
	qry_json j;
	qry_json_init(&j, &rs->body);
	qry_json_obj(&j);
	qry_json_key(&j, "data");
	qry_json_null(&j);
	qry_json_kv_u64(&j, "total", 0);
	qry_json_kv_u64(&j, "limit", 0);
	qry_json_kv_u64(&j, "offset", 0);
	qry_json_key(&j, "errors");
	qry_json_arr(&j);
	qry_json_obj(&j);
	qry_json_kv_u64(&j, "code", (uint64_t)status);
	qry_json_kv_cstr(&j, "msg", msg[0] ? msg : qry_status_text(status));
	if (trace_id) {
		qry_json_kv_hex(&j, "traceID", trace_id, KSK_TRACE_ID_LEN);
	}
	qry_json_obj_end(&j);
	qry_json_arr_end(&j);
	qry_json_obj_end(&j);
}

/* a plain-text error (Zipkin answers 404 as text) */
static void qry_text(qry_response *rs, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void qry_text(qry_response *rs, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = (int)sizeof(msg) - 1;
	ksk_buf_clear(&rs->body);
	rs->status = status;
	rs->content_type = "text/plain; charset=utf-8";
	ksk_buf_append(&rs->body, msg, (size_t)n);
}

/* the rest of the envelope after data */
static void qry_env_tail(qry_json *j, uint64_t total, uint64_t limit, const qry_warns *w)
{
	qry_json_kv_u64(j, "total", total);
	qry_json_kv_u64(j, "limit", limit);
	qry_json_kv_u64(j, "offset", 0);
	qry_json_key(j, "errors");
	if (!w || w->n == 0) {
		qry_json_null(j);
	} else {
		qry_json_arr(j);
		for (uint32_t i = 0; i < w->n; i++) {
			qry_json_obj(j);
			qry_json_kv_u64(j, "code", 502);
			qry_json_kv_cstr(j, "msg", w->msg[i]);
			qry_json_obj_end(j);
		}
		qry_json_arr_end(j);
	}
	qry_json_obj_end(j);
}

static int qry_status_of(ksk_err rc)
{
	switch (rc) {
	case KSK_ENOTFOUND: return 404;
	case KSK_EINVAL: return 400;
	case KSK_ENOMEM:
	case KSK_ELIMIT: return 503;
	default: return 502;
	}
}

/* ---- parameters ----------------------------------------------------------------------- */

static const char *qp_get(const qry_request *rq, const char *key)
{
	for (size_t i = 0; i < rq->n_params; i++)
		if (strcmp(rq->params[i].key, key) == 0)
			return rq->params[i].value ? rq->params[i].value : "";
	return NULL;
}

/* an unsigned decimal integer; false (and a 400) when malformed */
static bool qp_u64(const qry_request *rq, qry_response *rs, const char *key, uint64_t *out,
                   bool *present)
{
	const char *v = qp_get(rq, key);
	if (present)
		*present = v && *v;
	if (!v || !*v)
		return true;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (*end || errno || v[0] == '-' || !isdigit((unsigned char)v[0])) {
		qry_error(rs, 400, NULL, "parameter %s: '%s' is not a non-negative integer", key, v);
		return false;
	}
	*out = x;
	return true;
}

static bool qp_bool(const qry_request *rq, qry_response *rs, const char *key, bool *out)
{
	const char *v = qp_get(rq, key);
	if (!v)
		return true;
	if (!*v || strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
		*out = true;
		return true;
	}
	if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
		*out = false;
		return true;
	}
	qry_error(rs, 400, NULL, "parameter %s: '%s' is not true or false", key, v);
	return false;
}

/* a Go-style duration ("1.5s", "100ms", "250us"); a bare number is µs
 * when `bare_us` (Zipkin), else as ksk_parse_duration says */
static bool qp_duration(const qry_request *rq, qry_response *rs, const char *key, bool bare_us,
                        uint64_t *out)
{
	const char *v = qp_get(rq, key);
	if (!v || !*v)
		return true;
	char *end;
	errno = 0;
	if (bare_us) {
		unsigned long long x = strtoull(v, &end, 10);
		if (!*end && !errno && isdigit((unsigned char)v[0])) {
			*out = x * NS_PER_US;
			return true;
		}
	}
	/* decimals: <number>[.<frac>]<unit> */
	double num = strtod(v, &end);
	if (end != v && !errno && num >= 0 && *end) {
		static const struct { const char *u; double ns; } units[] = {
			{"ns", 1}, {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"ms", 1e6},
			{"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcmp(end, units[i].u) == 0 && num * units[i].ns < 1.8e19) {
				*out = (uint64_t)(num * units[i].ns + 0.5);
				return true;
			}
	}
	uint64_t ns;
	if (ksk_parse_duration(v, &ns) == KSK_OK) {
		*out = ns;
		return true;
	}
	qry_error(rs, 400, NULL, "parameter %s: '%s' is not a duration (e.g. 150ms, 1.5s)", key, v);
	return false;
}

static bool qp_trace_id(const char *s, uint8_t id[KSK_TRACE_ID_LEN])
{
	size_t n = strlen(s);
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	char lower[33];
	for (size_t i = 0; i < n; i++)
		lower[i] = (char)tolower((unsigned char)s[i]);
	lower[n] = '\0';
	/* shorter IDs (64-bit Zipkin/Jaeger) are left-padded with zeros */
	if (!ksk_hex_decode(lower, n, id, KSK_TRACE_ID_LEN, true))
		return false;
	return !ksk_id_is_zero(id, KSK_TRACE_ID_LEN);
}

static bool qp_span_id(const char *s, uint8_t id[KSK_SPAN_ID_LEN])
{
	size_t n = strlen(s);
	if (n == 0 || n > 16)
		return false;
	char lower[17];
	for (size_t i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return false;
		lower[i] = (char)tolower((unsigned char)s[i]);
	}
	lower[n] = '\0';
	return ksk_hex_decode(lower, n, id, KSK_SPAN_ID_LEN, true);
}

/* ---- values ---------------------------------------------------------------------------- */

static const char *qry_kind_lower(ksk_span_kind k)
{
	switch (k) {
	case KSK_KIND_INTERNAL: return "internal";
	case KSK_KIND_SERVER: return "server";
	case KSK_KIND_CLIENT: return "client";
	case KSK_KIND_PRODUCER: return "producer";
	case KSK_KIND_CONSUMER: return "consumer";
	default: return "unspecified";
	}
}

static void qry_b64(ksk_buf *out, const uint8_t *p, size_t n)
{
	static const char t[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		char o[4] = {t[(v >> 18) & 63], t[(v >> 12) & 63],
		             i + 1 < n ? t[(v >> 6) & 63] : '=', i + 2 < n ? t[v & 63] : '='};
		ksk_buf_append(out, o, 4);
	}
}

static void qry_value_json(qry_json *j, const ksk_value *v, int depth);

/* a value as JSON (arrays and maps nested) */
static void qry_value_json(qry_json *j, const ksk_value *v, int depth)
{
	switch (v->type) {
	case KSK_VAL_STR: qry_json_kstr(j, v->u.s); break;
	case KSK_VAL_BOOL: qry_json_bool(j, v->u.b); break;
	case KSK_VAL_INT: qry_json_i64(j, v->u.i); break;
	case KSK_VAL_DOUBLE: qry_json_dbl(j, v->u.d); break;
	case KSK_VAL_BYTES: {
		ksk_buf tmp;
		ksk_buf_init(&tmp, NULL, 0);
		qry_b64(&tmp, (const uint8_t *)v->u.s.ptr, v->u.s.len);
		qry_json_str(j, (const char *)tmp.data, tmp.len);
		ksk_buf_fini(&tmp);
		break;
	}
	case KSK_VAL_ARRAY:
		if (depth > 16) {
			qry_json_null(j);
			break;
		}
		qry_json_arr(j);
		for (uint32_t i = 0; i < v->u.arr.n; i++)
			qry_value_json(j, &v->u.arr.items[i], depth + 1);
		qry_json_arr_end(j);
		break;
	case KSK_VAL_KVLIST:
		if (depth > 16) {
			qry_json_null(j);
			break;
		}
		qry_json_obj(j);
		for (uint32_t i = 0; i < v->u.kv.n; i++) {
			char key[256];
			ksk_str k = v->u.kv.items[i].key;
			size_t n = k.len < sizeof(key) - 1 ? k.len : sizeof(key) - 1;
			memcpy(key, k.ptr ? k.ptr : "", n);
			key[n] = '\0';
			qry_json_key(j, key);
			qry_value_json(j, &v->u.kv.items[i].value, depth + 1);
		}
		qry_json_obj_end(j);
		break;
	default: qry_json_null(j); break;
	}
}

/* a value as a string (Zipkin tags, Jaeger string tags of arrays/maps) */
static void qry_value_string(qry_json *j, const ksk_value *v)
{
	char b[64];
	switch (v->type) {
	case KSK_VAL_STR: qry_json_kstr(j, v->u.s); return;
	case KSK_VAL_BOOL: qry_json_cstr(j, v->u.b ? "true" : "false"); return;
	case KSK_VAL_INT:
		snprintf(b, sizeof(b), "%lld", (long long)v->u.i);
		qry_json_cstr(j, b);
		return;
	case KSK_VAL_DOUBLE:
		snprintf(b, sizeof(b), "%.17g", v->u.d);
		qry_json_cstr(j, b);
		return;
	case KSK_VAL_EMPTY: qry_json_cstr(j, ""); return;
	default: {
		/* arrays, maps and bytes: their JSON text as the string */
		ksk_buf tmp;
		ksk_buf_init(&tmp, NULL, 1u << 20);
		qry_json t;
		qry_json_init(&t, &tmp);
		qry_value_json(&t, v, 0);
		qry_json_str(j, (const char *)tmp.data, tmp.len);
		ksk_buf_fini(&tmp);
	}
	}
}

static void qry_key_str(qry_json *j, ksk_str k)
{
	char key[256];
	size_t n = k.len < sizeof(key) - 1 ? k.len : sizeof(key) - 1;
	memcpy(key, k.ptr ? k.ptr : "", n);
	key[n] = '\0';
	qry_json_key(j, key);
}

/* one Jaeger KeyValue */
static void qry_jtag(qry_json *j, ksk_str key, const ksk_value *v)
{
	qry_json_obj(j);
	qry_json_kv_kstr(j, "key", key);
	qry_json_key(j, "type");
	switch (v->type) {
	case KSK_VAL_BOOL:
		qry_json_cstr(j, "bool");
		qry_json_kv_bool(j, "value", v->u.b);
		break;
	case KSK_VAL_INT:
		qry_json_cstr(j, "int64");
		qry_json_kv_i64(j, "value", v->u.i);
		break;
	case KSK_VAL_DOUBLE:
		qry_json_cstr(j, "float64");
		qry_json_key(j, "value");
		qry_json_dbl(j, v->u.d);
		break;
	case KSK_VAL_BYTES:
		qry_json_cstr(j, "binary");
		qry_json_key(j, "value");
		qry_value_json(j, v, 0);
		break;
	default:
		qry_json_cstr(j, "string");
		qry_json_key(j, "value");
		qry_value_string(j, v);
		break;
	}
	qry_json_obj_end(j);
}

static void qry_jtag_s(qry_json *j, const char *key, const char *val)
{
	ksk_value v = ksk_val_str(ksk_str_c(val));
	qry_jtag(j, ksk_str_c(key), &v);
}

static uint64_t qry_us(uint64_t ns)
{
	return ns / NS_PER_US;
}

/* a log record in the BRIEF's JSON shape */
static void qry_log_json(qry_json *j, const qry_log_in *l)
{
	const ksk_log *g = l->log;
	qry_json_obj(j);
	qry_json_kv_u64(j, "timestamp", qry_us(g->time_ns ? g->time_ns : g->observed_ns));
	qry_json_kv_kstr(j, "service", l->service);
	qry_json_kv_kstr(j, "host", l->host);
	qry_json_key(j, "severity");
	if (g->severity_text.len)
		qry_json_kstr(j, g->severity_text);
	else
		qry_json_cstr(j, ksk_severity_name(g->severity));
	qry_json_kv_u64(j, "severityNumber", g->severity);
	qry_json_key(j, "body");
	if (g->body.type == KSK_VAL_STR)
		qry_json_kstr(j, g->body.u.s);
	else
		qry_value_string(j, &g->body);
	qry_json_key(j, "traceID");
	if (g->has_trace)
		qry_json_hex(j, g->trace_id, KSK_TRACE_ID_LEN);
	else
		qry_json_null(j);
	qry_json_key(j, "spanID");
	if (g->has_span)
		qry_json_hex(j, g->span_id, KSK_SPAN_ID_LEN);
	else
		qry_json_null(j);
	qry_json_key(j, "attributes");
	qry_json_obj(j);
	for (uint32_t i = 0; i < g->n_attrs; i++) {
		qry_key_str(j, g->attrs[i].key);
		qry_value_json(j, &g->attrs[i].value, 0);
	}
	qry_json_obj_end(j);
	qry_json_obj_end(j);
}

/* ---- traces: reconstruction and processes ------------------------------------------------ */

static bool qry_res_same(const ksk_resource *a, const ksk_resource *b)
{
	if (a == b)
		return true;
	if (!a || !b || a->n_attrs != b->n_attrs)
		return false;
	for (uint32_t i = 0; i < a->n_attrs; i++)
		if (!ksk_str_eq(a->attrs[i].key, b->attrs[i].key) ||
		    !ksk_value_eq(&a->attrs[i].value, &b->attrs[i].value))
			return false;
	return true;
}

/* builds the generator state for a fetched trace (takes `td`) */
static ksk_err qry_gen_trace(qry_api *a, qry_tdata *td, bool raw, int kind, qry_gen **out,
                             ksk_errinfo *ei)
{
	qry_gen *g = calloc(1, sizeof(*g));
	if (!g) {
		qry_tdata_destroy(td);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	}
	g->kind = kind;
	g->td = td;
	size_t n;
	g->spans = qry_tdata_spans(td, &n);
	qry_recon_opts o = {.raw = raw, .max_skew_ns = a->max_skew_ns};
	ksk_err rc = qry_recon_build(g->spans, n, &o, &g->tr, ei);
	if (rc != KSK_OK) {
		qry_gen_free(g);
		return rc;
	}
	g->nodes = qry_trace_nodes(g->tr);
	g->order = qry_trace_order(g->tr, &g->n_order);
	g->proc = calloc(n ? n : 1, sizeof(uint32_t));
	g->proc_first = calloc(n ? n : 1, sizeof(uint32_t));
	g->pos = calloc(n ? n : 1, sizeof(uint32_t));
	if (!g->proc || !g->proc_first || !g->pos) {
		qry_gen_free(g);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	}
	/* processes: one per distinct resource (de-duplicated per trace) */
	const ksk_resource *last = NULL;
	uint32_t last_p = 0;
	for (size_t i = 0; i < n; i++) {
		const ksk_resource *r = g->spans[i].resource;
		if (last && qry_res_same(last, r) && ksk_str_eq(g->spans[g->proc_first[last_p]].service,
		                                                g->spans[i].service)) {
			g->proc[i] = last_p;
			continue;
		}
		size_t p = 0;
		for (; p < g->n_proc; p++) {
			const qry_span_in *f = &g->spans[g->proc_first[p]];
			if (ksk_str_eq(f->service, g->spans[i].service) && qry_res_same(f->resource, r))
				break;
		}
		if (p == g->n_proc)
			g->proc_first[g->n_proc++] = (uint32_t)i;
		g->proc[i] = (uint32_t)p;
		last = r;
		last_p = (uint32_t)p;
	}
	for (size_t k = 0; k < g->n_order; k++)
		g->pos[g->order[k]] = (uint32_t)k;
	*out = g;
	return KSK_OK;
}

/* ---- Jaeger trace ------------------------------------------------------------------------- */

/* Jaeger has no shared span IDs: the SERVER half of a Zipkin-style shared
 * ID gets a derived ID (top bit of the first byte flipped, as documented
 * in docs/API.md) and its children refer to that ID. */
static void qry_out_id(const qry_gen *g, uint32_t idx, uint8_t out[KSK_SPAN_ID_LEN])
{
	memcpy(out, g->spans[idx].span->span_id, KSK_SPAN_ID_LEN);
	if (g->nodes[idx].flags & QRY_F_SHARED)
		out[0] ^= 0x80;
}

static void qry_jaeger_span(qry_gen *g, qry_json *j, uint32_t idx)
{
	const ksk_span *s = g->spans[idx].span;
	const qry_node *nd = &g->nodes[idx];
	qry_json_obj(j);
	qry_json_kv_hex(j, "traceID", s->trace_id, KSK_TRACE_ID_LEN);
	uint8_t oid[KSK_SPAN_ID_LEN];
	qry_out_id(g, idx, oid);
	qry_json_kv_hex(j, "spanID", oid, KSK_SPAN_ID_LEN);
	qry_json_kv_u64(j, "flags", s->flags & 0xff);
	qry_json_kv_kstr(j, "operationName", s->name);
	qry_json_key(j, "references");
	qry_json_arr(j);
	if (s->has_parent) {
		uint8_t pid[KSK_SPAN_ID_LEN];
		if (nd->parent >= 0 && (g->nodes[nd->parent].flags & QRY_F_SHARED))
			qry_out_id(g, (uint32_t)nd->parent, pid);
		else
			memcpy(pid, s->parent_id, KSK_SPAN_ID_LEN);
		qry_json_obj(j);
		qry_json_kv_cstr(j, "refType", "CHILD_OF");
		qry_json_kv_hex(j, "traceID", s->trace_id, KSK_TRACE_ID_LEN);
		qry_json_kv_hex(j, "spanID", pid, KSK_SPAN_ID_LEN);
		qry_json_obj_end(j);
	}
	for (uint32_t i = 0; i < s->n_links; i++) {
		qry_json_obj(j);
		qry_json_kv_cstr(j, "refType", "FOLLOWS_FROM");
		qry_json_kv_hex(j, "traceID", s->links[i].trace_id, KSK_TRACE_ID_LEN);
		qry_json_kv_hex(j, "spanID", s->links[i].span_id, KSK_SPAN_ID_LEN);
		qry_json_obj_end(j);
	}
	qry_json_arr_end(j);
	qry_json_kv_u64(j, "startTime", qry_us(nd->start_ns));
	qry_json_kv_u64(j, "duration", qry_us(nd->end_ns - nd->start_ns));
	qry_json_key(j, "tags");
	qry_json_arr(j);
	for (uint32_t i = 0; i < s->n_attrs; i++)
		qry_jtag(j, s->attrs[i].key, &s->attrs[i].value);
	if (s->kind != KSK_KIND_UNSPECIFIED && s->kind != KSK_KIND_INTERNAL)
		qry_jtag_s(j, "span.kind", qry_kind_lower(s->kind));
	if (s->status == KSK_STATUS_ERROR) {
		ksk_value t = ksk_val_bool(true);
		qry_jtag(j, KSK_STR("error"), &t);
		qry_jtag_s(j, "otel.status_code", "ERROR");
	} else if (s->status == KSK_STATUS_OK) {
		qry_jtag_s(j, "otel.status_code", "OK");
	}
	if (s->status_msg.len) {
		ksk_value v = ksk_val_str(s->status_msg);
		qry_jtag(j, KSK_STR("otel.status_description"), &v);
	}
	if (s->scope_name.len) {
		ksk_value v = ksk_val_str(s->scope_name);
		qry_jtag(j, KSK_STR("otel.scope.name"), &v);
	}
	qry_json_arr_end(j);
	qry_json_key(j, "logs");
	qry_json_arr(j);
	for (uint32_t i = 0; i < s->n_events; i++) {
		const ksk_event *e = &s->events[i];
		qry_json_obj(j);
		qry_json_kv_u64(j, "timestamp", qry_us((uint64_t)((int64_t)e->time_ns + nd->skew_ns)));
		qry_json_key(j, "fields");
		qry_json_arr(j);
		ksk_value nm = ksk_val_str(e->name);
		qry_jtag(j, KSK_STR("event"), &nm);
		for (uint32_t k = 0; k < e->n_attrs; k++)
			qry_jtag(j, e->attrs[k].key, &e->attrs[k].value);
		qry_json_arr_end(j);
		qry_json_obj_end(j);
	}
	qry_json_arr_end(j);
	qry_json_key(j, "processID");
	qry_json_strf(j, "p%u", g->proc[idx] + 1);
	qry_json_key(j, "warnings");
	if (nd->warning) {
		qry_json_arr(j);
		qry_json_cstr(j, nd->warning);
		qry_json_arr_end(j);
	} else {
		qry_json_null(j);
	}
	qry_json_obj_end(j);
}

static void qry_jaeger_head(qry_gen *g, qry_json *j)
{
	qry_json_obj(j);
	qry_json_kv_hex(j, "traceID", g->spans[g->order[0]].span->trace_id, KSK_TRACE_ID_LEN);
	qry_json_key(j, "spans");
	qry_json_arr(j);
}

static void qry_jaeger_tail(qry_gen *g, qry_json *j)
{
	qry_json_arr_end(j);
	qry_json_key(j, "processes");
	qry_json_obj(j);
	for (size_t p = 0; p < g->n_proc; p++) {
		char key[24];
		snprintf(key, sizeof(key), "p%zu", p + 1);
		qry_json_key(j, key);
		const qry_span_in *f = &g->spans[g->proc_first[p]];
		qry_json_obj(j);
		qry_json_kv_kstr(j, "serviceName", f->service);
		qry_json_key(j, "tags");
		qry_json_arr(j);
		if (f->resource)
			for (uint32_t i = 0; i < f->resource->n_attrs; i++) {
				const ksk_attr *at = &f->resource->attrs[i];
				if (ksk_str_eq(at->key, KSK_STR("service.name")))
					continue;
				qry_jtag(j, at->key, &at->value);
			}
		qry_json_arr_end(j);
		qry_json_obj_end(j);
	}
	qry_json_obj_end(j);
	qry_json_key(j, "warnings");
	size_t nw;
	const char *const *tw = qry_trace_warnings(g->tr, &nw);
	if (nw == 0) {
		qry_json_null(j);
	} else {
		qry_json_arr(j);
		for (size_t i = 0; i < nw; i++)
			qry_json_cstr(j, tw[i]);
		qry_json_arr_end(j);
	}
	qry_json_obj_end(j);
}

/* ---- Zipkin trace ------------------------------------------------------------------------- */

static const char *qry_kind_zipkin(ksk_span_kind k)
{
	switch (k) {
	case KSK_KIND_SERVER: return "SERVER";
	case KSK_KIND_CLIENT: return "CLIENT";
	case KSK_KIND_PRODUCER: return "PRODUCER";
	case KSK_KIND_CONSUMER: return "CONSUMER";
	default: return NULL;
	}
}

static const ksk_attr *qry_attr(const ksk_span *s, const char *key)
{
	return ksk_attrs_find(s->attrs, s->n_attrs, ksk_str_c(key));
}

static void qry_zipkin_span(qry_gen *g, qry_json *j, uint32_t idx)
{
	const ksk_span *s = g->spans[idx].span;
	const qry_node *nd = &g->nodes[idx];
	qry_json_obj(j);
	qry_json_kv_hex(j, "traceId", s->trace_id, KSK_TRACE_ID_LEN);
	qry_json_kv_hex(j, "id", s->span_id, KSK_SPAN_ID_LEN);
	if (s->has_parent) {
		qry_json_kv_hex(j, "parentId", s->parent_id, KSK_SPAN_ID_LEN);
	}
	const char *k = qry_kind_zipkin(s->kind);
	if (k) {
		qry_json_kv_cstr(j, "kind", k);
	}
	qry_json_kv_kstr(j, "name", s->name);
	qry_json_kv_u64(j, "timestamp", qry_us(nd->start_ns));
	qry_json_key(j, "duration");
	uint64_t d = qry_us(nd->end_ns - nd->start_ns);
	qry_json_u64(j, d ? d : 1);
	if (nd->flags & QRY_F_SHARED) {
		qry_json_kv_bool(j, "shared", true);
	}
	qry_json_key(j, "localEndpoint");
	qry_json_obj(j);
	qry_json_kv_kstr(j, "serviceName", g->spans[idx].service);
	qry_json_obj_end(j);
	const ksk_attr *peer = qry_attr(s, "peer.service");
	if (!peer)
		peer = qry_attr(s, "server.address");
	if (peer && peer->value.type == KSK_VAL_STR) {
		qry_json_key(j, "remoteEndpoint");
		qry_json_obj(j);
		qry_json_kv_kstr(j, "serviceName", peer->value.u.s);
		qry_json_obj_end(j);
	}
	if (s->n_events) {
		qry_json_key(j, "annotations");
		qry_json_arr(j);
		for (uint32_t i = 0; i < s->n_events; i++) {
			qry_json_obj(j);
			qry_json_kv_u64(j, "timestamp", qry_us((uint64_t)((int64_t)s->events[i].time_ns + nd->skew_ns)));
			qry_json_kv_kstr(j, "value", s->events[i].name);
			qry_json_obj_end(j);
		}
		qry_json_arr_end(j);
	}
	qry_json_key(j, "tags");
	qry_json_obj(j);
	for (uint32_t i = 0; i < s->n_attrs; i++) {
		qry_key_str(j, s->attrs[i].key);
		qry_value_string(j, &s->attrs[i].value);
	}
	if (s->status == KSK_STATUS_ERROR) {
		qry_json_key(j, "error");
		if (s->status_msg.len)
			qry_json_kstr(j, s->status_msg);
		else
			qry_json_cstr(j, "true");
	}
	qry_json_obj_end(j);
	qry_json_obj_end(j);
}

/* ---- compact trace (Kiseki, for the UI and the CLI) --------------------------------------- */

static void qry_compact_head(qry_gen *g, qry_json *j)
{
	uint64_t t0 = qry_trace_start_ns(g->tr), t1 = qry_trace_end_ns(g->tr);
	qry_json_obj(j);
	qry_json_kv_hex(j, "traceID", g->spans[g->order[0]].span->trace_id, KSK_TRACE_ID_LEN);
	qry_json_kv_u64(j, "start", qry_us(t0));
	qry_json_kv_u64(j, "duration", qry_us(t1 - t0));
	qry_json_kv_u64(j, "spanCount", g->n_order);
	qry_json_key(j, "services");
	qry_json_arr(j);
	for (size_t p = 0; p < g->n_proc; p++)
		qry_json_kstr(j, g->spans[g->proc_first[p]].service);
	qry_json_arr_end(j);
	qry_json_key(j, "hosts"); /* host.name of each entry of services */
	qry_json_arr(j);
	for (size_t p = 0; p < g->n_proc; p++)
		qry_json_kstr(j, g->spans[g->proc_first[p]].host);
	qry_json_arr_end(j);
	qry_json_key(j, "warnings");
	size_t nw;
	const char *const *tw = qry_trace_warnings(g->tr, &nw);
	qry_json_arr(j);
	for (size_t i = 0; i < nw; i++)
		qry_json_cstr(j, tw[i]);
	for (uint32_t i = 0; i < g->warns.n; i++)
		qry_json_cstr(j, g->warns.msg[i]);
	qry_json_arr_end(j);
	qry_json_key(j, "spans");
	qry_json_arr(j);
}

static void qry_compact_span(qry_gen *g, qry_json *j, uint32_t idx)
{
	const ksk_span *s = g->spans[idx].span;
	const qry_node *nd = &g->nodes[idx];
	uint64_t t0 = qry_trace_start_ns(g->tr);
	uint8_t oid[KSK_SPAN_ID_LEN];
	qry_out_id(g, idx, oid);
	qry_json_obj(j);
	qry_json_kv_hex(j, "spanID", oid, KSK_SPAN_ID_LEN);
	qry_json_kv_i64(j, "parent", nd->parent < 0 ? -1 : (int64_t)g->pos[nd->parent]);
	qry_json_kv_u64(j, "depth", nd->depth);
	qry_json_kv_u64(j, "service", g->proc[idx]);
	qry_json_kv_kstr(j, "name", s->name);
	qry_json_kv_cstr(j, "kind", qry_kind_lower(s->kind));
	qry_json_kv_u64(j, "start", qry_us(nd->start_ns - t0));
	qry_json_kv_u64(j, "duration", qry_us(nd->end_ns - nd->start_ns));
	qry_json_kv_u64(j, "self", qry_us(nd->self_ns));
	qry_json_kv_bool(j, "error", s->status == KSK_STATUS_ERROR);
	qry_json_kv_bool(j, "critical", (nd->flags & QRY_F_CRITICAL) != 0);
	if (nd->skew_ns) {
		qry_json_kv_i64(j, "skew", nd->skew_ns / (int64_t)NS_PER_US);
	}
	if (nd->warning) {
		qry_json_kv_cstr(j, "warning", nd->warning);
	}
	qry_json_obj_end(j);
}

/* ---- the generator ------------------------------------------------------------------------ */

static void qry_gen_step(qry_gen *g)
{
	qry_json *j = &g->j;
	if (g->stage == 0) {
		if (g->envelope) {
			qry_json_obj(j);
			qry_json_key(j, "data");
		}
		qry_json_arr(j);
		if (g->kind == GEN_JAEGER)
			qry_jaeger_head(g, j);
		else if (g->kind == GEN_COMPACT)
			qry_compact_head(g, j);
		g->stage = 1;
		return;
	}
	if (g->stage == 1) {
		while (g->i < g->n_order && j->out->len < QRY_PIECE) {
			uint32_t idx = g->order[g->i++];
			if (g->kind == GEN_JAEGER)
				qry_jaeger_span(g, j, idx);
			else if (g->kind == GEN_ZIPKIN)
				qry_zipkin_span(g, j, idx);
			else
				qry_compact_span(g, j, idx);
		}
		if (g->i >= g->n_order)
			g->stage = 2;
		return;
	}
	if (g->stage == 2) {
		if (g->kind == GEN_JAEGER)
			qry_jaeger_tail(g, j);
		else if (g->kind == GEN_COMPACT) {
			qry_json_arr_end(j);
			qry_json_obj_end(j);
		}
		qry_json_arr_end(j);
		if (g->envelope)
			qry_env_tail(j, 1, 0, g->kind == GEN_COMPACT ? NULL : &g->warns);
		g->stage = 3;
	}
}

bool qry_response_more(qry_response *r)
{
	if (!r->gen)
		return false;
	ksk_buf_clear(&r->body);
	r->gen->j.out = &r->body;
	while (r->gen->stage < 3 && r->body.len < QRY_PIECE && r->body.err == KSK_OK)
		qry_gen_step(r->gen);
	return r->body.len > 0 && r->body.err == KSK_OK;
}

/* writes a whole trace (not streamed) into `j` (search answers) */
static void qry_gen_write_all(qry_gen *g, qry_json *j)
{
	g->j = *j;
	g->envelope = false;
	g->stage = 1;
	if (g->kind == GEN_JAEGER)
		qry_jaeger_head(g, &g->j);
	else if (g->kind == GEN_ZIPKIN)
		qry_json_arr(&g->j);
	else
		qry_compact_head(g, &g->j);
	while (g->i < g->n_order) {
		uint32_t idx = g->order[g->i++];
		if (g->kind == GEN_JAEGER)
			qry_jaeger_span(g, &g->j, idx);
		else if (g->kind == GEN_ZIPKIN)
			qry_zipkin_span(g, &g->j, idx);
		else
			qry_compact_span(g, &g->j, idx);
	}
	if (g->kind == GEN_JAEGER) {
		qry_jaeger_tail(g, &g->j);
	} else if (g->kind == GEN_ZIPKIN) {
		qry_json_arr_end(&g->j);
	} else {
		qry_json_arr_end(&g->j);
		qry_json_obj_end(&g->j);
	}
	*j = g->j;
}

/* the arena of a route's answer (strings of the merged replies); on
 * failure the response is already a 503 */
static ksk_arena *qry_route_arena(qry_response *rs)
{
	ksk_arena *ar = NULL;
	if (ksk_arena_create(NULL, 64 * 1024, 256u << 20, &ar) != KSK_OK) {
		qry_error(rs, 503, NULL, "out of memory");
		return NULL;
	}
	return ar;
}

/* ---- routes: traces ------------------------------------------------------------------------- */

static bool qry_path_id(const char *rest, char *id, size_t cap, const char **after)
{
	size_t n = strcspn(rest, "/");
	if (n == 0 || n >= cap)
		return false;
	memcpy(id, rest, n);
	id[n] = '\0';
	*after = rest + n;
	return true;
}

/* fetches and reconstructs; on failure fills rs */
static qry_gen *qry_load_trace(qry_api *a, const qry_request *rq, qry_response *rs,
                               const uint8_t id[KSK_TRACE_ID_LEN], int kind, bool zipkin)
{
	uint64_t start_us = 0, end_us = 0;
	bool raw = false;
	if (!qp_u64(rq, rs, "start", &start_us, NULL) || !qp_u64(rq, rs, "end", &end_us, NULL) ||
	    !qp_bool(rq, rs, "raw", &raw))
		return NULL;
	qry_warns w = {0};
	qry_tdata *td = NULL;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	ksk_err rc = qry_fetch_trace(a->b, id, start_us * NS_PER_US, end_us * NS_PER_US, &td, &w,
	                             &ei);
	if (rc == KSK_OK) {
		size_t n;
		qry_tdata_spans(td, &n);
		if (n == 0) {
			qry_tdata_destroy(td);
			rc = KSK_ENOTFOUND;
			ksk_errinfo_set(&ei, rc, "the trace has logs but no spans");
		}
	}
	char hex[33];
	ksk_hex_encode(id, KSK_TRACE_ID_LEN, hex);
	if (rc != KSK_OK) {
		if (zipkin && rc == KSK_ENOTFOUND)
			qry_text(rs, 404, "trace %s not found", hex);
		else if (rc == KSK_ENOTFOUND)
			qry_error(rs, 404, id, "trace not found");
		else
			qry_error(rs, qry_status_of(rc), id, "%s", ei.msg);
		return NULL;
	}
	qry_gen *g;
	rc = qry_gen_trace(a, td, raw, kind, &g, &ei);
	if (rc != KSK_OK) {
		qry_error(rs, qry_status_of(rc), id, "%s", ei.msg);
		return NULL;
	}
	g->warns = w;
	return g;
}

static void qry_route_trace(qry_api *a, const qry_request *rq, qry_response *rs,
                            const uint8_t id[KSK_TRACE_ID_LEN], bool zipkin)
{
	const char *fmt = qp_get(rq, "format");
	int kind = zipkin ? GEN_ZIPKIN : GEN_JAEGER;
	if (!zipkin && fmt && *fmt) {
		if (strcmp(fmt, "compact") == 0)
			kind = GEN_COMPACT;
		else if (strcmp(fmt, "jaeger") != 0) {
			qry_error(rs, 400, NULL, "parameter format: '%s' is not jaeger or compact",
			          fmt);
			return;
		}
	}
	qry_gen *g = qry_load_trace(a, rq, rs, id, kind, zipkin);
	if (!g)
		return;
	g->envelope = !zipkin;
	qry_json_init(&g->j, &rs->body);
	rs->gen = g;
	rs->status = 200;
	(void)qry_response_more(rs);
}

static void qry_route_trace_logs(qry_api *a, const qry_request *rq, qry_response *rs,
                                 const uint8_t id[KSK_TRACE_ID_LEN])
{
	uint8_t span[KSK_SPAN_ID_LEN];
	const char *sp = qp_get(rq, "spanID");
	bool by_span = sp && *sp;
	if (by_span && !qp_span_id(sp, span)) {
		qry_error(rs, 400, NULL, "parameter spanID: '%s' is not a span ID (16 hex digits)",
		          sp);
		return;
	}
	qry_warns w = {0};
	qry_tdata *td = NULL;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	ksk_err rc = qry_fetch_trace(a->b, id, 0, 0, &td, &w, &ei);
	if (rc == KSK_ENOTFOUND) {
		qry_error(rs, 404, id, "trace not found");
		return;
	}
	if (rc != KSK_OK) {
		qry_error(rs, qry_status_of(rc), id, "%s", ei.msg);
		return;
	}
	size_t n;
	const qry_log_in *logs = qry_tdata_logs(td, &n);
	qry_json j;
	qry_json_init(&j, &rs->body);
	qry_json_obj(&j);
	qry_json_key(&j, "data");
	qry_json_arr(&j);
	uint64_t cnt = 0;
	for (size_t i = 0; i < n; i++) {
		if (by_span && (!logs[i].log->has_span ||
		                memcmp(logs[i].log->span_id, span, KSK_SPAN_ID_LEN) != 0))
			continue;
		qry_log_json(&j, &logs[i]);
		cnt++;
	}
	qry_json_arr_end(&j);
	qry_env_tail(&j, cnt, 0, &w);
	qry_tdata_destroy(td);
}

static void qry_route_trace_stats(qry_api *a, const qry_request *rq, qry_response *rs,
                                  const uint8_t id[KSK_TRACE_ID_LEN], bool critical_only)
{
	qry_gen *g = qry_load_trace(a, rq, rs, id, GEN_COMPACT, false);
	if (!g)
		return;
	qry_json j;
	qry_json_init(&j, &rs->body);
	size_t ncp;
	const uint32_t *cp = qry_trace_critical(g->tr, &ncp);
	uint64_t t0 = qry_trace_start_ns(g->tr), t1 = qry_trace_end_ns(g->tr);
	qry_json_obj(&j);
	qry_json_key(&j, "data");
	if (critical_only) {
		qry_json_arr(&j);
	} else {
		uint32_t depth = 0, errors = 0;
		for (size_t i = 0; i < g->n_order; i++) {
			const qry_node *nd = &g->nodes[g->order[i]];
			if (nd->depth > depth)
				depth = nd->depth;
			errors += g->spans[g->order[i]].span->status == KSK_STATUS_ERROR;
		}
		qry_json_obj(&j);
		qry_json_kv_hex(&j, "traceID", id, KSK_TRACE_ID_LEN);
		qry_json_kv_u64(&j, "start", qry_us(t0));
		qry_json_kv_u64(&j, "duration", qry_us(t1 - t0));
		qry_json_kv_u64(&j, "spans", g->n_order);
		qry_json_kv_u64(&j, "services", g->n_proc);
		qry_json_kv_u64(&j, "depth", depth + 1);
		qry_json_kv_u64(&j, "errors", errors);
		size_t nl;
		qry_tdata_logs(g->td, &nl);
		qry_json_kv_u64(&j, "logs", nl);
		qry_json_key(&j, "operations");
		qry_json_arr(&j);
		size_t ns;
		const qry_stat *st = qry_trace_stats(g->tr, &ns);
		for (size_t i = 0; i < ns; i++) {
			qry_json_obj(&j);
			qry_json_kv_kstr(&j, "service", st[i].service);
			qry_json_kv_kstr(&j, "operation", st[i].operation);
			qry_json_kv_u64(&j, "count", st[i].count);
			qry_json_kv_u64(&j, "errors", st[i].errors);
			qry_json_kv_u64(&j, "totalDuration", qry_us(st[i].total_ns));
			qry_json_kv_u64(&j, "selfTime", qry_us(st[i].self_ns));
			qry_json_obj_end(&j);
		}
		qry_json_arr_end(&j);
		qry_json_key(&j, "criticalPath");
		qry_json_arr(&j);
	}
	for (size_t i = 0; i < ncp; i++) {
		const qry_node *nd = &g->nodes[cp[i]];
		const ksk_span *s = g->spans[cp[i]].span;
		qry_json_obj(&j);
		qry_json_kv_hex(&j, "spanID", s->span_id, KSK_SPAN_ID_LEN);
		qry_json_kv_kstr(&j, "service", g->spans[cp[i]].service);
		qry_json_kv_kstr(&j, "operation", s->name);
		qry_json_kv_u64(&j, "start", qry_us(nd->start_ns));
		qry_json_kv_u64(&j, "duration", qry_us(nd->end_ns - nd->start_ns));
		qry_json_kv_u64(&j, "selfTime", qry_us(nd->self_ns));
		qry_json_obj_end(&j);
	}
	qry_json_arr_end(&j);
	if (!critical_only)
		qry_json_obj_end(&j);
	qry_env_tail(&j, critical_only ? ncp : 1, 0, &g->warns);
	qry_gen_free(g);
}

/* ---- routes: search -------------------------------------------------------------------------- */

typedef struct qry_search_req {
	ksk_qreq q;
	uint64_t span_min_ns, span_max_ns; /* Jaeger/Zipkin span-level durations */
	char tagbuf[4096];                 /* storage for tag keys and values */
	size_t tagused;
	json_t *tags_json;
	const char *annotation;            /* Zipkin annotationQuery */
} qry_search_req;

static bool qry_tag_add(qry_search_req *s, qry_response *rs, const char *k, size_t kl,
                        const char *v, size_t vl)
{
	if (s->q.n_attrs >= KSK_Q_MAX_ATTRS) {
		qry_error(rs, 400, NULL, "parameter tags: at most %d tags", KSK_Q_MAX_ATTRS);
		return false;
	}
	if (kl == 0 || s->tagused + kl + vl + 2 > sizeof(s->tagbuf)) {
		qry_error(rs, 400, NULL, "parameter tags: empty key or tags too long");
		return false;
	}
	char *kp = s->tagbuf + s->tagused;
	memcpy(kp, k, kl);
	kp[kl] = '\0';
	char *vp = kp + kl + 1;
	memcpy(vp, v, vl);
	vp[vl] = '\0';
	s->tagused += kl + vl + 2;
	s->q.attrs[s->q.n_attrs].key = (ksk_str){kp, (uint32_t)kl};
	s->q.attrs[s->q.n_attrs].value = (ksk_str){vp, (uint32_t)vl};
	s->q.n_attrs++;
	return true;
}

/* Jaeger: tag=k:v (repeatable), tags={"k":"v"} */
static bool qry_parse_tags(const qry_request *rq, qry_response *rs, qry_search_req *s)
{
	for (size_t i = 0; i < rq->n_params; i++) {
		const qry_param *p = &rq->params[i];
		if (strcmp(p->key, "tag") == 0) {
			const char *c = strchr(p->value, ':');
			if (!c) {
				qry_error(rs, 400, NULL, "parameter tag: '%s' is not key:value",
				          p->value);
				return false;
			}
			if (!qry_tag_add(s, rs, p->value, (size_t)(c - p->value), c + 1, strlen(c + 1)))
				return false;
		} else if (strcmp(p->key, "tags") == 0 && p->value[0]) {
			json_error_t je;
			json_t *o = json_loads(p->value, 0, &je);
			if (!o || !json_is_object(o)) {
				json_decref(o);
				qry_error(rs, 400, NULL,
				          "parameter tags: not a JSON object of strings (%s)",
				          o ? "not an object" : je.text);
				return false;
			}
			const char *k;
			json_t *v;
			json_object_foreach(o, k, v)
			{
				char num[64];
				const char *vs = NULL;
				if (json_is_string(v))
					vs = json_string_value(v);
				else if (json_is_integer(v)) {
					snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
					vs = num;
				} else if (json_is_boolean(v))
					vs = json_is_true(v) ? "true" : "false";
				if (!vs) {
					json_decref(o);
					qry_error(rs, 400, NULL, "parameter tags: value of '%s' is not a string", k);
					return false;
				}
				if (!qry_tag_add(s, rs, k, strlen(k), vs, strlen(vs))) {
					json_decref(o);
					return false;
				}
			}
			json_decref(o);
		}
	}
	return true;
}

/* common search parameters (Jaeger names); `zipkin` switches names/units */
static bool qry_parse_search(qry_api *a, const qry_request *rq, qry_response *rs, bool zipkin,
                             qry_search_req *s)
{
	memset(s, 0, sizeof(*s));
	ksk_qreq_init(&s->q, KSK_Q_SEARCH);
	const char *svc = qp_get(rq, zipkin ? "serviceName" : "service");
	const char *op = qp_get(rq, zipkin ? "spanName" : "operation");
	if (svc && *svc)
		s->q.service = ksk_str_c(svc);
	if (op && *op && strcmp(op, "all") != 0)
		s->q.operation = ksk_str_c(op);
	uint64_t now_ns = ksk_clock_wall(a->clock);
	uint64_t limit = zipkin ? 10 : 20;
	bool has_limit;
	if (!qp_u64(rq, rs, "limit", &limit, &has_limit))
		return false;
	if (limit == 0 || limit > QRY_MAX_SEARCH) {
		qry_error(rs, 400, NULL, "parameter limit: %llu is not in 1..%d",
		          (unsigned long long)limit, QRY_MAX_SEARCH);
		return false;
	}
	s->q.limit = (uint32_t)limit;
	if (zipkin) {
		uint64_t end_ms = now_ns / NS_PER_MS, lookback_ms = 86400000ull;
		if (!qp_u64(rq, rs, "endTs", &end_ms, NULL) ||
		    !qp_u64(rq, rs, "lookback", &lookback_ms, NULL))
			return false;
		s->q.end_ns = end_ms * NS_PER_MS;
		s->q.start_ns = end_ms > lookback_ms ? (end_ms - lookback_ms) * NS_PER_MS : 1;
		if (!qp_duration(rq, rs, "minDuration", true, &s->span_min_ns) ||
		    !qp_duration(rq, rs, "maxDuration", true, &s->span_max_ns))
			return false;
		const char *aq = qp_get(rq, "annotationQuery");
		if (aq && *aq) {
			/* terms joined by " and ": k=v terms become tag filters;
			 * bare words are checked on the fetched traces */
			for (const char *t = aq; *t;) {
				const char *e = strstr(t, " and ");
				size_t len = e ? (size_t)(e - t) : strlen(t);
				const char *eq = memchr(t, '=', len);
				if (eq) {
					if (!qry_tag_add(s, rs, t, (size_t)(eq - t), eq + 1,
					                 len - (size_t)(eq - t) - 1))
						return false;
				} else if (len) {
					s->annotation = aq;
				}
				t += len;
				if (e)
					t += 5;
			}
		}
	} else {
		uint64_t start_us = 0, end_us = 0;
		bool has_start, has_end;
		if (!qp_u64(rq, rs, "start", &start_us, &has_start) ||
		    !qp_u64(rq, rs, "end", &end_us, &has_end))
			return false;
		uint64_t lookback_ns = QRY_DEF_LOOKBACK_NS;
		const char *lb = qp_get(rq, "lookback");
		if (lb && *lb && strcmp(lb, "custom") != 0 &&
		    !qp_duration(rq, rs, "lookback", false, &lookback_ns))
			return false;
		s->q.end_ns = has_end ? end_us * NS_PER_US : now_ns;
		s->q.start_ns = has_start ? start_us * NS_PER_US
		                          : (s->q.end_ns > lookback_ns ? s->q.end_ns - lookback_ns : 1);
		if (!qp_duration(rq, rs, "minDuration", false, &s->span_min_ns) ||
		    !qp_duration(rq, rs, "maxDuration", false, &s->span_max_ns) ||
		    !qp_duration(rq, rs, "minTraceDuration", false, &s->q.min_duration_ns) ||
		    !qp_duration(rq, rs, "maxTraceDuration", false, &s->q.max_duration_ns))
			return false;
		uint64_t v = 0;
		bool has;
		if (!qp_u64(rq, rs, "minSpans", &v, &has))
			return false;
		if (has)
			s->q.min_spans = (uint32_t)v;
		if (!qp_u64(rq, rs, "maxSpans", &v, &has))
			return false;
		if (has)
			s->q.max_spans = (uint32_t)v;
		if (!qp_bool(rq, rs, "errors", &s->q.errors_only))
			return false;
		const char *kind = qp_get(rq, "spanKind");
		if (kind && *kind) {
			static const char *const kinds[] = {"unspecified", "internal", "server",
			                                    "client", "producer", "consumer"};
			s->q.kind = -2;
			for (int k = 0; k < 6; k++)
				if (strcmp(kind, kinds[k]) == 0)
					s->q.kind = k;
			if (s->q.kind == -2) {
				qry_error(rs, 400, NULL, "parameter spanKind: '%s' is not a span kind",
				          kind);
				return false;
			}
		}
		if (!qry_parse_tags(rq, rs, s))
			return false;
	}
	if (s->q.start_ns && s->q.end_ns && s->q.start_ns > s->q.end_ns) {
		qry_error(rs, 400, NULL, "parameters start/end: start is after end");
		return false;
	}
	if (s->span_max_ns && s->span_min_ns > s->span_max_ns) {
		qry_error(rs, 400, NULL, "parameters minDuration/maxDuration: min is over max");
		return false;
	}
	/* a span of d implies a trace of at least d: a safe pre-filter */
	if (s->span_min_ns > s->q.min_duration_ns)
		s->q.min_duration_ns = s->span_min_ns;
	return true;
}

/* span-level checks that the collector's trace-level index cannot do:
 * one span of the service (and operation) whose duration is in range,
 * and Zipkin's bare annotation words */
static bool qry_trace_matches(const qry_search_req *s, const qry_span_in *sp, size_t n)
{
	if (!s->span_min_ns && !s->span_max_ns && !s->annotation)
		return true;
	for (size_t i = 0; i < n; i++) {
		const ksk_span *x = sp[i].span;
		if (s->q.service.len && !ksk_str_eq(sp[i].service, s->q.service))
			continue;
		if (s->q.operation.len && !ksk_str_eq(x->name, s->q.operation))
			continue;
		uint64_t d = x->end_ns - x->start_ns;
		if ((s->span_min_ns && d < s->span_min_ns) || (s->span_max_ns && d > s->span_max_ns))
			continue;
		if (s->annotation) {
			/* every bare term must be an event name or an attribute key */
			bool all = true;
			for (const char *t = s->annotation; *t && all;) {
				const char *e = strstr(t, " and ");
				size_t len = e ? (size_t)(e - t) : strlen(t);
				if (len && !memchr(t, '=', len)) {
					ksk_str w = {t, (uint32_t)len};
					bool hit = ksk_attrs_find(x->attrs, x->n_attrs, w) != NULL;
					for (uint32_t k = 0; !hit && k < x->n_events; k++)
						hit = ksk_str_eq(x->events[k].name, w);
					all = hit;
				}
				t += len;
				if (e)
					t += 5;
			}
			if (!all)
				continue;
		}
		return true;
	}
	return false;
}

/* One candidate trace of a search, fetched, checked and rendered by a
 * worker thread into its own buffer. */
typedef struct qry_sjob {
	const qry_summary *sum;
	ksk_buf out;          /* the trace's JSON; empty when it did not match */
	qry_warns warns;
	bool ok;
} qry_sjob;

typedef struct qry_spool {
	qry_api *a;
	const qry_search_req *s;
	bool zipkin;
	qry_sjob *jobs;
	size_t n;
	size_t stride, first; /* this worker's jobs: first, first + stride, ... */
} qry_spool;

static void qry_sjob_run(qry_api *a, const qry_search_req *s, bool zipkin, qry_sjob *jb)
{
	qry_tdata *td = NULL;
	ksk_errinfo te;
	ksk_errinfo_clear(&te);
	const qry_summary *q = jb->sum;
	if (qry_fetch_trace(a->b, q->trace_id, q->start_ns, q->end_ns, &td, &jb->warns, &te) !=
	    KSK_OK)
		return; /* expired between search and fetch */
	size_t ns;
	const qry_span_in *sp = qry_tdata_spans(td, &ns);
	if (ns == 0 || !qry_trace_matches(s, sp, ns)) {
		qry_tdata_destroy(td);
		return;
	}
	qry_gen *g;
	if (qry_gen_trace(a, td, false, zipkin ? GEN_ZIPKIN : GEN_JAEGER, &g, &te) != KSK_OK)
		return;
	qry_json tj;
	qry_json_init(&tj, &jb->out);
	qry_gen_write_all(g, &tj);
	qry_gen_free(g);
	jb->ok = jb->out.err == KSK_OK;
}

static void *qry_spool_main(void *arg)
{
	qry_spool *p = arg;
	for (size_t k = p->first; k < p->n; k += p->stride)
		qry_sjob_run(p->a, p->s, p->zipkin, &p->jobs[k]);
	return NULL;
}

#define QRY_SEARCH_THREADS 4

/* search, then the full traces (Jaeger /api/traces, Zipkin /api/v2/traces):
 * the candidates are fetched and rendered QRY_SEARCH_THREADS at a time, in
 * rounds of as many as are still wanted, and emitted in search order */
static void qry_route_search_traces(qry_api *a, const qry_request *rq, qry_response *rs,
                                    bool zipkin)
{
	qry_search_req s;
	if (!qry_parse_search(a, rq, rs, zipkin, &s))
		return;
	if (!s.q.service.len && !zipkin) {
		qry_error(rs, 400, NULL, "parameter service: required (or traceID)");
		return;
	}
	uint32_t want = s.q.limit;
	bool verify = s.span_min_ns || s.span_max_ns || s.annotation;
	if (verify) /* some candidates will fail the span-level check */
		s.q.limit = want * 4 > QRY_MAX_SEARCH ? QRY_MAX_SEARCH : want * 4;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	ksk_arena *ar = qry_route_arena(rs);
	if (!ar)
		return;
	qry_warns w = {0};
	qry_summary *sums = NULL;
	size_t n = 0;
	ksk_err rc = qry_fetch_search(a->b, &s.q, ar, &sums, &n, &w, &ei);
	qry_sjob *jobs = rc == KSK_OK ? calloc(n ? n : 1, sizeof(*jobs)) : NULL;
	if (rc == KSK_OK && !jobs)
		rc = ksk_errinfo_set(&ei, KSK_ENOMEM, "out of memory");
	if (rc != KSK_OK) {
		qry_error(rs, qry_status_of(rc), NULL, "%s", ei.msg);
		ksk_arena_destroy(ar);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		jobs[i].sum = &sums[i];
		ksk_buf_init(&jobs[i].out, NULL, 0);
	}
	qry_json j;
	qry_json_init(&j, &rs->body);
	if (!zipkin) {
		qry_json_obj(&j);
		qry_json_key(&j, "data");
	}
	qry_json_arr(&j);
	uint32_t emitted = 0;
	for (size_t next = 0; next < n && emitted < want;) {
		size_t round = want - emitted;
		if (round > n - next)
			round = n - next;
		qry_spool pool[QRY_SEARCH_THREADS];
		pthread_t th[QRY_SEARCH_THREADS];
		bool started[QRY_SEARCH_THREADS] = {false};
		size_t nt = round < QRY_SEARCH_THREADS ? round : QRY_SEARCH_THREADS;
		for (size_t t = 0; t < nt; t++) {
			pool[t] = (qry_spool){a, &s, zipkin, jobs + next, round, nt, t};
			if (t > 0)
				started[t] = pthread_create(&th[t], NULL, qry_spool_main, &pool[t]) == 0;
		}
		qry_spool_main(&pool[0]);
		for (size_t t = 1; t < nt; t++) {
			if (started[t])
				pthread_join(th[t], NULL);
			else
				qry_spool_main(&pool[t]);
		}
		for (size_t k = next; k < next + round; k++) {
			for (uint32_t x = 0; x < jobs[k].warns.n; x++)
				qry_warn(&w, "%s", jobs[k].warns.msg[x]);
			if (jobs[k].ok && emitted < want) {
				qry_json_raw(&j, jobs[k].out.data, jobs[k].out.len);
				emitted++;
			}
		}
		next += round;
	}
	for (size_t i = 0; i < n; i++)
		ksk_buf_fini(&jobs[i].out);
	free(jobs);
	qry_json_arr_end(&j);
	if (!zipkin)
		qry_env_tail(&j, emitted, want, &w);
	ksk_arena_destroy(ar);
}

/* Jaeger multi-get: /api/traces?traceID=a&traceID=b */
static void qry_route_multi_get(qry_api *a, const qry_request *rq, qry_response *rs)
{
	uint8_t ids[64][KSK_TRACE_ID_LEN];
	size_t n = 0;
	for (size_t i = 0; i < rq->n_params; i++) {
		if (strcmp(rq->params[i].key, "traceID") != 0)
			continue;
		if (n >= 64) {
			qry_error(rs, 400, NULL, "parameter traceID: at most 64");
			return;
		}
		if (!qp_trace_id(rq->params[i].value, ids[n])) {
			qry_error(rs, 400, NULL, "parameter traceID: '%s' is not a trace ID",
			          rq->params[i].value);
			return;
		}
		n++;
	}
	qry_json j;
	qry_json_init(&j, &rs->body);
	qry_json_obj(&j);
	qry_json_key(&j, "data");
	qry_json_arr(&j);
	qry_warns w = {0};
	uint8_t missing[64][KSK_TRACE_ID_LEN];
	size_t n_missing = 0, found = 0;
	for (size_t i = 0; i < n; i++) {
		qry_tdata *td = NULL;
		ksk_errinfo ei;
		ksk_errinfo_clear(&ei);
		ksk_err rc = qry_fetch_trace(a->b, ids[i], 0, 0, &td, &w, &ei);
		size_t ns = 0;
		if (rc == KSK_OK)
			qry_tdata_spans(td, &ns);
		if (rc != KSK_OK || ns == 0) {
			qry_tdata_destroy(td);
			memcpy(missing[n_missing++], ids[i], KSK_TRACE_ID_LEN);
			continue;
		}
		qry_gen *g;
		if (qry_gen_trace(a, td, false, GEN_JAEGER, &g, &ei) != KSK_OK)
			continue;
		qry_gen_write_all(g, &j);
		qry_gen_free(g);
		found++;
	}
	qry_json_arr_end(&j);
	qry_json_kv_u64(&j, "total", found);
	qry_json_kv_u64(&j, "limit", 0);
	qry_json_kv_u64(&j, "offset", 0);
	qry_json_key(&j, "errors");
	if (n_missing == 0 && w.n == 0) {
		qry_json_null(&j);
	} else {
		qry_json_arr(&j);
		for (size_t i = 0; i < n_missing; i++) {
			qry_json_obj(&j);
			qry_json_kv_u64(&j, "code", 404);
			qry_json_kv_cstr(&j, "msg", "trace not found");
			qry_json_kv_hex(&j, "traceID", missing[i], KSK_TRACE_ID_LEN);
			qry_json_obj_end(&j);
		}
		for (uint32_t i = 0; i < w.n; i++) {
			qry_json_obj(&j);
			qry_json_kv_u64(&j, "code", 502);
			qry_json_kv_cstr(&j, "msg", w.msg[i]);
			qry_json_obj_end(&j);
		}
		qry_json_arr_end(&j);
	}
	qry_json_obj_end(&j);
	if (found == 0 && n_missing == n)
		rs->status = 404;
}

/* Kiseki: /api/search, summaries only (fast; the UI and CLI list) */
static void qry_route_summaries(qry_api *a, const qry_request *rq, qry_response *rs)
{
	qry_search_req s;
	if (!qry_parse_search(a, rq, rs, false, &s))
		return;
	if (s.span_min_ns || s.span_max_ns) {
		qry_error(rs, 400, NULL, "parameters minDuration/maxDuration: /api/search filters "
		                         "on the trace: use minTraceDuration/maxTraceDuration");
		return;
	}
	ksk_arena *ar = qry_route_arena(rs);
	if (!ar)
		return;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	qry_warns w = {0};
	qry_summary *sums = NULL;
	size_t n = 0;
	ksk_err rc = qry_fetch_search(a->b, &s.q, ar, &sums, &n, &w, &ei);
	if (rc != KSK_OK) {
		qry_error(rs, qry_status_of(rc), NULL, "%s", ei.msg);
		ksk_arena_destroy(ar);
		return;
	}
	qry_json j;
	qry_json_init(&j, &rs->body);
	qry_json_obj(&j);
	qry_json_key(&j, "data");
	qry_json_arr(&j);
	for (size_t i = 0; i < n; i++) {
		const qry_summary *q = &sums[i];
		qry_json_obj(&j);
		qry_json_kv_hex(&j, "traceID", q->trace_id, KSK_TRACE_ID_LEN);
		qry_json_kv_u64(&j, "start", qry_us(q->start_ns));
		qry_json_kv_u64(&j, "duration", qry_us(q->end_ns - q->start_ns));
		qry_json_kv_u64(&j, "spans", q->spans);
		qry_json_kv_u64(&j, "errors", q->errors);
		qry_json_kv_u64(&j, "logs", q->logs);
		qry_json_kv_kstr(&j, "rootService", q->root_service);
		qry_json_kv_kstr(&j, "rootName", q->root_name);
		qry_json_key(&j, "services");
		qry_json_arr(&j);
		for (uint32_t k = 0; k < q->n_services; k++)
			qry_json_kstr(&j, q->services[k]);
		qry_json_arr_end(&j);
		qry_json_obj_end(&j);
	}
	qry_json_arr_end(&j);
	qry_env_tail(&j, n, s.q.limit, &w);
	ksk_arena_destroy(ar);
}

/* ---- routes: services, operations, dependencies --------------------------------------------- */

static void qry_route_services(qry_api *a, qry_response *rs, bool zipkin)
{
	ksk_arena *ar = qry_route_arena(rs);
	if (!ar)
		return;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	qry_warns w = {0};
	ksk_str *v;
	size_t n;
	ksk_err rc = qry_fetch_services(a->b, ar, &v, &n, &w, &ei);
	if (rc != KSK_OK) {
		qry_error(rs, qry_status_of(rc), NULL, "%s", ei.msg);
	} else {
		qry_json j;
		qry_json_init(&j, &rs->body);
		if (!zipkin) {
			qry_json_obj(&j);
			qry_json_key(&j, "data");
		}
		qry_json_arr(&j);
		for (size_t i = 0; i < n; i++)
			qry_json_kstr(&j, v[i]);
		qry_json_arr_end(&j);
		if (!zipkin)
			qry_env_tail(&j, n, 0, &w);
	}
	ksk_arena_destroy(ar);
}

/* mode 0: Jaeger legacy names; 1: Jaeger [{name, spanKind}]; 2: Zipkin names */
static void qry_route_operations(qry_api *a, const qry_request *rq, qry_response *rs,
                                 const char *service, int mode)
{
	int kind = -1;
	const char *k = qp_get(rq, "spanKind");
	if (mode == 1 && k && *k) {
		static const char *const kinds[] = {"unspecified", "internal", "server",
		                                    "client", "producer", "consumer"};
		kind = -2;
		for (int i = 0; i < 6; i++)
			if (strcmp(k, kinds[i]) == 0)
				kind = i;
		if (kind == -2) {
			qry_error(rs, 400, NULL, "parameter spanKind: '%s' is not a span kind", k);
			return;
		}
	}
	if (!service || !*service) {
		qry_error(rs, 400, NULL, "parameter %s: required",
		          mode == 2 ? "serviceName" : "service");
		return;
	}
	ksk_arena *ar = qry_route_arena(rs);
	if (!ar)
		return;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	qry_warns w = {0};
	qry_op *ops;
	size_t n;
	ksk_err rc = qry_fetch_operations(a->b, ksk_str_c(service), kind, ar, &ops, &n, &w, &ei);
	if (rc != KSK_OK) {
		qry_error(rs, qry_status_of(rc), NULL, "%s", ei.msg);
		ksk_arena_destroy(ar);
		return;
	}
	qry_json j;
	qry_json_init(&j, &rs->body);
	if (mode != 2) {
		qry_json_obj(&j);
		qry_json_key(&j, "data");
	}
	qry_json_arr(&j);
	size_t cnt = 0;
	for (size_t i = 0; i < n; i++) {
		if (mode != 1 && i > 0 && ksk_str_eq(ops[i - 1].name, ops[i].name))
			continue; /* names only: one per name */
		if (mode == 1) {
			qry_json_obj(&j);
			qry_json_kv_kstr(&j, "name", ops[i].name);
			qry_json_kv_cstr(&j, "spanKind", ops[i].kind == 0 ? "" : qry_kind_lower(ops[i].kind));
			qry_json_obj_end(&j);
		} else {
			qry_json_kstr(&j, ops[i].name);
		}
		cnt++;
	}
	qry_json_arr_end(&j);
	if (mode != 2)
		qry_env_tail(&j, cnt, 0, &w);
	ksk_arena_destroy(ar);
}

/* Jaeger /api/dependencies (mode 0), Zipkin /api/v2/dependencies (1),
 * Zipkin /api/v2/remoteServices (2) */
static void qry_route_deps(qry_api *a, const qry_request *rq, qry_response *rs, int mode)
{
	uint64_t now_ms = ksk_clock_wall(a->clock) / NS_PER_MS;
	uint64_t end_ms = now_ms, lookback_ms = 86400000ull;
	bool has_end;
	if (!qp_u64(rq, rs, "endTs", &end_ms, &has_end) ||
	    !qp_u64(rq, rs, "lookback", &lookback_ms, NULL))
		return;
	if (mode == 1 && !has_end) {
		qry_error(rs, 400, NULL, "parameter endTs: required (ms since the epoch)");
		return;
	}
	const char *svc = qp_get(rq, mode == 2 ? "serviceName" : "service");
	if (mode == 2 && (!svc || !*svc)) {
		qry_error(rs, 400, NULL, "parameter serviceName: required");
		return;
	}
	if (mode == 2)
		end_ms = now_ms, lookback_ms = 7ull * 86400000ull;
	uint64_t start_ns = end_ms > lookback_ms ? (end_ms - lookback_ms) * NS_PER_MS : 1;
	ksk_arena *ar = qry_route_arena(rs);
	if (!ar)
		return;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	qry_warns w = {0};
	qry_edge *e;
	size_t n;
	ksk_err rc = qry_fetch_edges(a->b, start_ns, end_ms * NS_PER_MS, ar, &e, &n, &w, &ei);
	if (rc != KSK_OK) {
		qry_error(rs, qry_status_of(rc), NULL, "%s", ei.msg);
		ksk_arena_destroy(ar);
		return;
	}
	qry_json j;
	qry_json_init(&j, &rs->body);
	if (mode == 0) {
		qry_json_obj(&j);
		qry_json_key(&j, "data");
	}
	qry_json_arr(&j);
	size_t cnt = 0;
	for (size_t i = 0; i < n; i++) {
		bool touches = svc && *svc && (ksk_str_eq(e[i].parent, ksk_str_c(svc)) ||
		                               ksk_str_eq(e[i].child, ksk_str_c(svc)));
		if (mode == 2) {
			if (ksk_str_eq(e[i].parent, ksk_str_c(svc)) &&
			    !ksk_str_eq(e[i].child, ksk_str_c(svc))) {
				qry_json_kstr(&j, e[i].child);
				cnt++;
			}
			continue;
		}
		if (mode == 0 && svc && *svc && !touches)
			continue;
		qry_json_obj(&j);
		qry_json_kv_kstr(&j, "parent", e[i].parent);
		qry_json_kv_kstr(&j, "child", e[i].child);
		qry_json_kv_u64(&j, "callCount", e[i].calls);
		qry_json_kv_u64(&j, "errorCount", e[i].errors);
		if (mode == 0) {
			qry_json_kv_u64(&j, "avgDurationMicros", e[i].calls ? qry_us(e[i].duration_ns_sum / e[i].calls) : 0);
		}
		qry_json_obj_end(&j);
		cnt++;
	}
	qry_json_arr_end(&j);
	if (mode == 0)
		qry_env_tail(&j, cnt, 0, &w);
	ksk_arena_destroy(ar);
}

/* Zipkin /api/v2/traceMany?traceIds=a,b */
static void qry_route_trace_many(qry_api *a, const qry_request *rq, qry_response *rs)
{
	const char *ids = qp_get(rq, "traceIds");
	if (!ids || !*ids) {
		qry_error(rs, 400, NULL, "parameter traceIds: required (comma-separated)");
		return;
	}
	char tmp[64 * 34];
	if (strlen(ids) >= sizeof(tmp)) {
		qry_error(rs, 400, NULL, "parameter traceIds: at most 64 IDs");
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s", ids);
	uint8_t v[64][KSK_TRACE_ID_LEN];
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n >= 64 || !qp_trace_id(t, v[n])) {
			qry_error(rs, 400, NULL, "parameter traceIds: '%s' is not a trace ID", t);
			return;
		}
		n++;
	}
	qry_json j;
	qry_json_init(&j, &rs->body);
	qry_json_arr(&j);
	for (size_t i = 0; i < n; i++) {
		qry_tdata *td = NULL;
		qry_warns w = {0};
		ksk_errinfo ei;
		ksk_errinfo_clear(&ei);
		if (qry_fetch_trace(a->b, v[i], 0, 0, &td, &w, &ei) != KSK_OK)
			continue;
		size_t ns;
		qry_tdata_spans(td, &ns);
		qry_gen *g;
		if (ns == 0) {
			qry_tdata_destroy(td);
			continue;
		}
		if (qry_gen_trace(a, td, false, GEN_ZIPKIN, &g, &ei) != KSK_OK)
			continue;
		qry_gen_write_all(g, &j);
		qry_gen_free(g);
	}
	qry_json_arr_end(&j);
}

/* ---- routes: logs ------------------------------------------------------------------------------ */

static void qry_route_logs(qry_api *a, const qry_request *rq, qry_response *rs)
{
	ksk_qreq q;
	ksk_qreq_init(&q, KSK_Q_LOGS);
	const char *v;
	if ((v = qp_get(rq, "service")) && *v)
		q.service = ksk_str_c(v);
	if ((v = qp_get(rq, "host")) && *v)
		q.host = ksk_str_c(v);
	if ((v = qp_get(rq, "q")) && *v)
		q.regex = ksk_str_c(v);
	if ((v = qp_get(rq, "traceID")) && *v) {
		if (!qp_trace_id(v, q.trace_id)) {
			qry_error(rs, 400, NULL, "parameter traceID: '%s' is not a trace ID", v);
			return;
		}
		q.has_trace_id = true;
	}
	if ((v = qp_get(rq, "severity")) && *v) {
		/* a name (at least that level) or a number 1..24 */
		char *end;
		unsigned long n = strtoul(v, &end, 10);
		uint8_t sev = (!*end && n >= 1 && n <= 24) ? (uint8_t)n
		                                           : ksk_severity_from_text(v, strlen(v));
		if (sev == 0) {
			qry_error(rs, 400, NULL,
			          "parameter severity: '%s' is not a level (trace, debug, info, warn, "
			          "error, fatal or 1..24)",
			          v);
			return;
		}
		q.severity_min = sev;
	}
	uint64_t start_us = 0, end_us = 0, limit = 100;
	bool has_end;
	if (!qp_u64(rq, rs, "start", &start_us, NULL) || !qp_u64(rq, rs, "end", &end_us, &has_end) ||
	    !qp_u64(rq, rs, "limit", &limit, NULL))
		return;
	if (limit == 0 || limit > QRY_MAX_LOGS) {
		qry_error(rs, 400, NULL, "parameter limit: %llu is not in 1..%d",
		          (unsigned long long)limit, QRY_MAX_LOGS);
		return;
	}
	if (has_end && start_us > end_us) {
		qry_error(rs, 400, NULL, "parameters start/end: start is after end");
		return;
	}
	q.start_ns = start_us * NS_PER_US;
	q.end_ns = end_us * NS_PER_US;
	q.limit = (uint32_t)limit;
	qry_warns w = {0};
	qry_tdata *td = NULL;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	ksk_err rc = qry_fetch_logs(a->b, &q, &td, &w, &ei);
	if (rc != KSK_OK) {
		/* a bad regex is the caller's error */
		qry_error(rs, rc == KSK_EINVAL ? 400 : qry_status_of(rc), NULL, "%s%s",
		          rc == KSK_EINVAL ? "parameter q: " : "", ei.msg);
		return;
	}
	size_t n;
	const qry_log_in *logs = qry_tdata_logs(td, &n);
	qry_json j;
	qry_json_init(&j, &rs->body);
	qry_json_obj(&j);
	qry_json_key(&j, "data");
	qry_json_arr(&j);
	for (size_t i = 0; i < n; i++)
		qry_log_json(&j, &logs[i]);
	qry_json_arr_end(&j);
	uint64_t total = qry_tdata_total_logs(td);
	qry_env_tail(&j, total > n ? total : n, limit, &w);
	qry_tdata_destroy(td);
}

static void qry_route_log_stats(qry_api *a, const qry_request *rq, qry_response *rs)
{
	uint64_t start_us = 0, end_us = 0;
	if (!qp_u64(rq, rs, "start", &start_us, NULL) || !qp_u64(rq, rs, "end", &end_us, NULL))
		return;
	if (end_us && start_us > end_us) {
		qry_error(rs, 400, NULL, "parameters start/end: start is after end");
		return;
	}
	ksk_arena *ar = qry_route_arena(rs);
	if (!ar)
		return;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	qry_warns w = {0};
	qry_logcount *c;
	size_t n;
	ksk_err rc = qry_fetch_log_stats(a->b, start_us * NS_PER_US, end_us * NS_PER_US, ar, &c, &n,
	                                 &w, &ei);
	if (rc != KSK_OK) {
		qry_error(rs, qry_status_of(rc), NULL, "%s", ei.msg);
		ksk_arena_destroy(ar);
		return;
	}
	const char *svc = qp_get(rq, "service");
	qry_json j;
	qry_json_init(&j, &rs->body);
	qry_json_obj(&j);
	qry_json_key(&j, "data");
	qry_json_arr(&j);
	size_t cnt = 0;
	for (size_t i = 0; i < n; i++) {
		if (svc && *svc && !ksk_str_eq(c[i].service, ksk_str_c(svc)))
			continue;
		qry_json_obj(&j);
		qry_json_kv_kstr(&j, "service", c[i].service);
		qry_json_kv_kstr(&j, "severity", c[i].severity);
		qry_json_kv_u64(&j, "count", c[i].count);
		qry_json_obj_end(&j);
		cnt++;
	}
	qry_json_arr_end(&j);
	qry_env_tail(&j, cnt, 0, &w);
	ksk_arena_destroy(ar);
}

/* ---- dispatch ------------------------------------------------------------------------------------ */

bool qry_api_is_api_path(const char *path)
{
	return strcmp(path, "/api") == 0 || strncmp(path, "/api/", 5) == 0;
}

void qry_api_handle(qry_api *a, const qry_request *rq, qry_response *rs)
{
	const char *p = rq->path;
	ksk_buf_clear(&rs->body);
	rs->status = 200;
	rs->content_type = "application/json";
	if (!qry_api_is_api_path(p)) {
		rs->status = 404;
		rs->content_type = "text/plain; charset=utf-8";
		return;
	}
	if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0) {
		qry_error(rs, 405, NULL, "method %s not allowed: the API is read-only", rq->method);
		return;
	}
	char id[80];
	const char *after;
	uint8_t tid[KSK_TRACE_ID_LEN];
	if (strncmp(p, "/api/v2/", 8) == 0) {
		const char *z = p + 8;
		if (strcmp(z, "services") == 0)
			qry_route_services(a, rs, true);
		else if (strcmp(z, "spans") == 0)
			qry_route_operations(a, rq, rs, qp_get(rq, "serviceName"), 2);
		else if (strcmp(z, "remoteServices") == 0)
			qry_route_deps(a, rq, rs, 2);
		else if (strcmp(z, "traces") == 0)
			qry_route_search_traces(a, rq, rs, true);
		else if (strcmp(z, "traceMany") == 0)
			qry_route_trace_many(a, rq, rs);
		else if (strcmp(z, "dependencies") == 0)
			qry_route_deps(a, rq, rs, 1);
		else if (strncmp(z, "trace/", 6) == 0 && qry_path_id(z + 6, id, sizeof(id), &after) &&
		         !*after) {
			if (!qp_trace_id(id, tid))
				qry_error(rs, 400, NULL, "trace ID '%s' is not 1 to 32 hex digits", id);
			else
				qry_route_trace(a, rq, rs, tid, true);
		} else
			qry_error(rs, 404, NULL, "no such endpoint: %s", p);
		return;
	}
	if (strcmp(p, "/api/services") == 0) {
		qry_route_services(a, rs, false);
	} else if (strncmp(p, "/api/services/", 14) == 0 &&
	           qry_path_id(p + 14, id, sizeof(id), &after) &&
	           strcmp(after, "/operations") == 0) {
		/* the service name may hold any character but '/' */
		qry_route_operations(a, rq, rs, id, 0);
	} else if (strcmp(p, "/api/operations") == 0) {
		qry_route_operations(a, rq, rs, qp_get(rq, "service"), 1);
	} else if (strcmp(p, "/api/traces") == 0) {
		if (qp_get(rq, "traceID"))
			qry_route_multi_get(a, rq, rs);
		else
			qry_route_search_traces(a, rq, rs, false);
	} else if (strncmp(p, "/api/traces/", 12) == 0 &&
	           qry_path_id(p + 12, id, sizeof(id), &after)) {
		if (!qp_trace_id(id, tid)) {
			qry_error(rs, 400, NULL, "trace ID '%s' is not 1 to 32 hex digits", id);
			return;
		}
		if (!*after)
			qry_route_trace(a, rq, rs, tid, false);
		else if (strcmp(after, "/logs") == 0)
			qry_route_trace_logs(a, rq, rs, tid);
		else if (strcmp(after, "/critical-path") == 0)
			qry_route_trace_stats(a, rq, rs, tid, true);
		else if (strcmp(after, "/stats") == 0)
			qry_route_trace_stats(a, rq, rs, tid, false);
		else
			qry_error(rs, 404, NULL, "no such endpoint: %s", p);
	} else if (strcmp(p, "/api/search") == 0) {
		qry_route_summaries(a, rq, rs);
	} else if (strcmp(p, "/api/dependencies") == 0) {
		qry_route_deps(a, rq, rs, 0);
	} else if (strcmp(p, "/api/logs") == 0) {
		qry_route_logs(a, rq, rs);
	} else if (strcmp(p, "/api/logs/stats") == 0) {
		qry_route_log_stats(a, rq, rs);
	} else {
		qry_error(rs, 404, NULL, "no such endpoint: %s", p);
	}
}
