/*
 * trc_otlp.c : OTLP JSON lines for span record files (trc_int.h).
 *
 * Data in: spans in the record model; data out: one
 * ExportTraceServiceRequest per line, as the OpenTelemetry Collector's
 * file exporter writes them and as the agent's span-file input reads them
 * (agent/agt_otlp.c):
 *   {"resourceSpans":[{"resource":{"attributes":[...]},
 *     "scopeSpans":[{"scope":{"name":..,"version":..},"spans":[...]}]}]}
 * IDs in lowercase hex, parentSpanId omitted for roots, 64-bit integers
 * and timestamps as decimal strings, kind and status code as integers,
 * doubles as JSON numbers or "NaN"/"Infinity"/"-Infinity".
 * Invariant: the output is valid JSON and valid UTF-8 whatever the input:
 * control characters are escaped and each byte that does not start a
 * well-formed UTF-8 sequence becomes U+FFFD. Errors (buffer cap, memory)
 * are sticky in the ksk_buf; the caller checks b->err.
 */
#include "trc_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static void trc_j(ksk_buf *b, const char *s)
{
	ksk_buf_append(b, s, strlen(s));
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629), 0 if none. */
static size_t trc_utf8_seq(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	if (c < 0x80)
		return 1;
	size_t len;
	unsigned lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

static void trc_jstr(ksk_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	ksk_buf_reserve(b, n + 2);
	ksk_buf_append(b, "\"", 1);
	size_t run = 0; /* bytes copied as they are, pending */
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			run++;
			i++;
			continue;
		}
		if (c >= 0x80) {
			size_t l = trc_utf8_seq(p + i, n - i);
			if (l) {
				run += l;
				i += l;
				continue;
			}
		}
		if (run)
			ksk_buf_append(b, p + i - run, run);
		run = 0;
		char esc[6];
		if (c >= 0x80) {
			ksk_buf_append(b, "\xef\xbf\xbd", 3);
		} else if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			ksk_buf_append(b, esc, 2);
		} else if (c == '\n') {
			ksk_buf_append(b, "\\n", 2);
		} else if (c == '\t') {
			ksk_buf_append(b, "\\t", 2);
		} else if (c == '\r') {
			ksk_buf_append(b, "\\r", 2);
		} else {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			ksk_buf_append(b, esc, 6);
		}
		i++;
	}
	if (run)
		ksk_buf_append(b, p + n - run, run);
	ksk_buf_append(b, "\"", 1);
}

static void trc_ju64s(ksk_buf *b, uint64_t v)
{
	char t[32];
	int n = snprintf(t, sizeof(t), "\"%" PRIu64 "\"", v);
	ksk_buf_append(b, t, (size_t)n);
}

static void trc_ju64(ksk_buf *b, uint64_t v)
{
	char t[32];
	int n = snprintf(t, sizeof(t), "%" PRIu64, v);
	ksk_buf_append(b, t, (size_t)n);
}

static void trc_jhex(ksk_buf *b, const uint8_t *id, size_t n)
{
	char h[2 * KSK_TRACE_ID_LEN + 3];
	h[0] = '"';
	ksk_hex_encode(id, n, h + 1);
	h[2 * n + 1] = '"';
	ksk_buf_append(b, h, 2 * n + 2);
}

static void trc_jdouble(ksk_buf *b, double d)
{
	if (isnan(d)) {
		trc_j(b, "\"NaN\"");
	} else if (isinf(d)) {
		trc_j(b, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	} else {
		char t[40];
		int n = snprintf(t, sizeof(t), "%.17g", d);
		for (int i = 0; i < n; i++)
			if (t[i] == ',')
				t[i] = '.'; /* a locale's decimal comma */
		ksk_buf_append(b, t, (size_t)n);
	}
}

static void trc_jvalue(ksk_buf *b, const ksk_value *v)
{
	switch (v->type) {
	case KSK_VAL_STR:
		trc_j(b, "{\"stringValue\":");
		trc_jstr(b, v->u.s.ptr, v->u.s.len);
		break;
	case KSK_VAL_BOOL:
		trc_j(b, v->u.b ? "{\"boolValue\":true" : "{\"boolValue\":false");
		break;
	case KSK_VAL_INT: {
		char t[40];
		int n = snprintf(t, sizeof(t), "{\"intValue\":\"%" PRId64 "\"", v->u.i);
		ksk_buf_append(b, t, (size_t)n);
		break;
	}
	case KSK_VAL_DOUBLE:
		trc_j(b, "{\"doubleValue\":");
		trc_jdouble(b, v->u.d);
		break;
	default:
		trc_j(b, "{");
		break;
	}
	trc_j(b, "}");
}

static void trc_jattrs(ksk_buf *b, const ksk_attr *a, uint32_t n)
{
	trc_j(b, "[");
	for (uint32_t i = 0; i < n; i++) {
		trc_j(b, i ? ",{\"key\":" : "{\"key\":");
		trc_jstr(b, a[i].key.ptr, a[i].key.len);
		trc_j(b, ",\"value\":");
		trc_jvalue(b, &a[i].value);
		trc_j(b, "}");
	}
	trc_j(b, "]");
}

void trc_json_begin(ksk_buf *b, const ksk_resource *res, ksk_str scope_name,
                    ksk_str scope_version)
{
	trc_j(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":");
	trc_jattrs(b, res->attrs, res->n_attrs);
	trc_j(b, "},\"scopeSpans\":[{\"scope\":{\"name\":");
	trc_jstr(b, scope_name.ptr, scope_name.len);
	trc_j(b, ",\"version\":");
	trc_jstr(b, scope_version.ptr, scope_version.len);
	trc_j(b, "},\"spans\":[");
}

void trc_json_span(ksk_buf *b, const ksk_span *s, bool first)
{
	trc_j(b, first ? "{\"traceId\":" : ",{\"traceId\":");
	trc_jhex(b, s->trace_id, KSK_TRACE_ID_LEN);
	trc_j(b, ",\"spanId\":");
	trc_jhex(b, s->span_id, KSK_SPAN_ID_LEN);
	if (!ksk_id_is_zero(s->parent_id, KSK_SPAN_ID_LEN)) {
		trc_j(b, ",\"parentSpanId\":");
		trc_jhex(b, s->parent_id, KSK_SPAN_ID_LEN);
	}
	if (s->trace_state.len) {
		trc_j(b, ",\"traceState\":");
		trc_jstr(b, s->trace_state.ptr, s->trace_state.len);
	}
	trc_j(b, ",\"flags\":");
	trc_ju64(b, s->flags);
	trc_j(b, ",\"name\":");
	trc_jstr(b, s->name.ptr, s->name.len);
	trc_j(b, ",\"kind\":");
	trc_ju64(b, (uint64_t)s->kind);
	trc_j(b, ",\"startTimeUnixNano\":");
	trc_ju64s(b, s->start_ns);
	trc_j(b, ",\"endTimeUnixNano\":");
	trc_ju64s(b, s->end_ns);
	if (s->n_attrs) {
		trc_j(b, ",\"attributes\":");
		trc_jattrs(b, s->attrs, s->n_attrs);
	}
	if (s->dropped_attrs) {
		trc_j(b, ",\"droppedAttributesCount\":");
		trc_ju64(b, s->dropped_attrs);
	}
	if (s->n_events) {
		trc_j(b, ",\"events\":[");
		for (uint32_t i = 0; i < s->n_events; i++) {
			const ksk_event *e = &s->events[i];
			trc_j(b, i ? ",{\"timeUnixNano\":" : "{\"timeUnixNano\":");
			trc_ju64s(b, e->time_ns);
			trc_j(b, ",\"name\":");
			trc_jstr(b, e->name.ptr, e->name.len);
			if (e->n_attrs) {
				trc_j(b, ",\"attributes\":");
				trc_jattrs(b, e->attrs, e->n_attrs);
			}
			trc_j(b, "}");
		}
		trc_j(b, "]");
	}
	if (s->dropped_events) {
		trc_j(b, ",\"droppedEventsCount\":");
		trc_ju64(b, s->dropped_events);
	}
	if (s->status != KSK_STATUS_UNSET) {
		trc_j(b, ",\"status\":{\"code\":");
		trc_ju64(b, (uint64_t)s->status);
		if (s->status_msg.len) {
			trc_j(b, ",\"message\":");
			trc_jstr(b, s->status_msg.ptr, s->status_msg.len);
		}
		trc_j(b, "}");
	}
	trc_j(b, "}");
}

void trc_json_end(ksk_buf *b)
{
	trc_j(b, "]}]}]}\n");
}
