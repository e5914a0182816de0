/*
 * fuzz_otlp.c : libFuzzer target for the agent's intake decoders and log
 * line parser.
 *
 * Input: byte 0 picks the decoder (mod 8): OTLP JSON traces, OTLP JSON
 * logs, OTLP protobuf traces, OTLP protobuf logs, Zipkin v2 JSON, the AUTO
 * log line parser, the ID scanner, the JSON line reader differentially
 * against jansson; the rest is the body. Byte 0's high
 * bit selects a small arena cap (64 KiB) to reach the out-of-room paths.
 * Checks (abort() on failure):
 *  - the decoders never crash and return OK / EPARSE / ELIMIT / ENOMEM
 *    with a message;
 *  - on OK, every returned span has non-zero IDs, end >= start, kind and
 *    status in range, a valid resource index, and valid UTF-8 strings;
 *    every log has severity <= 24 and observed_ns != 0;
 *  - the line parser always yields a UTF-8 body;
 *  - differential: a line of <= 256 bytes of valid UTF-8 that jansson
 *    accepts as an object is accepted by the JSON line reader (the reader
 *    may accept more: lone surrogates, integers over 64 bits, NUL in keys).
 * Seeds: corpus/otlp/ (the real-client fixtures, prefixed by a selector).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agt_otlp.h"
#include "agt_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_otlp: %s:%d: %s\n", __FILE__,    \
			        __LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

static void check_str(ksk_str s)
{
	CHECK(s.len == 0 || s.ptr != NULL);
	CHECK(ksk_utf8_valid(s.ptr, s.len));
}

static void check_value(const ksk_value *v, int depth)
{
	CHECK(depth <= 20);
	switch (v->type) {
	case KSK_VAL_STR:
		check_str(v->u.s);
		break;
	case KSK_VAL_ARRAY:
		for (uint32_t i = 0; i < v->u.arr.n; i++)
			check_value(&v->u.arr.items[i], depth + 1);
		break;
	case KSK_VAL_KVLIST:
		for (uint32_t i = 0; i < v->u.kv.n; i++) {
			CHECK(v->u.kv.items[i].key.len > 0);
			check_str(v->u.kv.items[i].key);
			check_value(&v->u.kv.items[i].value, depth + 1);
		}
		break;
	default:
		break;
	}
}

static void check_attrs(const ksk_attr *a, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		CHECK(a[i].key.len > 0);
		check_str(a[i].key);
		check_value(&a[i].value, 0);
	}
}

static void check_out(const agt_otlp_out *o)
{
	for (uint32_t r = 0; r < o->n_resources; r++)
		check_attrs(o->resources[r].attrs, o->resources[r].n_attrs);
	for (uint32_t i = 0; i < o->n_spans; i++) {
		const ksk_span *s = &o->spans[i];
		CHECK(!ksk_id_is_zero(s->trace_id, KSK_TRACE_ID_LEN));
		CHECK(!ksk_id_is_zero(s->span_id, KSK_SPAN_ID_LEN));
		CHECK(s->end_ns >= s->start_ns);
		CHECK((unsigned)s->kind <= 5 && (unsigned)s->status <= 2);
		CHECK(s->resource < o->n_resources);
		check_str(s->name);
		check_str(s->status_msg);
		check_str(s->trace_state);
		check_attrs(s->attrs, s->n_attrs);
		for (uint32_t e = 0; e < s->n_events; e++) {
			check_str(s->events[e].name);
			check_attrs(s->events[e].attrs, s->events[e].n_attrs);
		}
		for (uint32_t l = 0; l < s->n_links; l++)
			check_attrs(s->links[l].attrs, s->links[l].n_attrs);
	}
	for (uint32_t i = 0; i < o->n_logs; i++) {
		const ksk_log *l = &o->logs[i];
		CHECK(l->severity <= 24);
		CHECK(l->observed_ns != 0);
		CHECK(l->resource < o->n_resources);
		check_value(&l->body, 0);
		check_attrs(l->attrs, l->n_attrs);
		check_str(l->severity_text);
	}
	if (o->n_rejected)
		CHECK(o->reject.code == KSK_ERECORD && o->reject.msg[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned sel = (data[0] & 0x7f) % 8;
	bool small = data[0] & 0x80;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	ksk_arena *a;
	if (ksk_arena_create(NULL, 4096, small ? 65536 : (256u << 20), &a) != KSK_OK)
		return 0;
	agt_otlp_out o;
	ksk_errinfo ei;
	ksk_err rc = KSK_OK;
	ksk_errinfo_clear(&ei);
	switch (sel) {
	case 0:
		rc = agt_otlp_traces_json((const char *)p, n, a, &o, &ei);
		break;
	case 1:
		rc = agt_otlp_logs_json((const char *)p, n, 1, a, &o, &ei);
		break;
	case 2:
		rc = agt_otlp_traces_pb(p, n, a, &o, &ei);
		break;
	case 3:
		rc = agt_otlp_logs_pb(p, n, 1, a, &o, &ei);
		break;
	case 4:
		rc = agt_zipkin_json((const char *)p, n, a, &o, &ei);
		break;
	case 5: {
		agt_parser *ps;
		ksk_log l;
		if (agt_parser_create(NULL, NULL, &ps, &ei) == KSK_OK) {
			rc = agt_parser_parse(ps, (const char *)p, n, 1, a, &l, &ei);
			CHECK(rc == KSK_OK || rc == KSK_EPARSE || rc == KSK_ELIMIT ||
			      rc == KSK_ENOMEM);
			if (rc == KSK_OK || rc == KSK_EPARSE) {
				check_value(&l.body, 0);
				check_attrs(l.attrs, l.n_attrs);
				check_str(l.severity_text);
				CHECK(!l.has_trace || !ksk_id_is_zero(l.trace_id, 16));
			}
			agt_parser_destroy(ps);
		}
		ksk_arena_destroy(a);
		return 0;
	}
	case 7: {
		agt_parser *ps;
		ksk_log l;
		agt_parser_opts po = {.kind = AGT_PARSER_JSON};
		if (agt_parser_create(NULL, &po, &ps, &ei) == KSK_OK) {
			rc = agt_parser_parse(ps, (const char *)p, n, 1, a, &l, &ei);
			CHECK(rc == KSK_OK || rc == KSK_EPARSE);
			if (n <= 256 && ksk_utf8_valid((const char *)p, n)) {
				json_error_t je;
				json_t *j = json_loadb((const char *)p, n, JSON_ALLOW_NUL, &je);
				if (j && json_is_object(j) && rc != KSK_OK) {
					fprintf(stderr, "jansson accepts, reader refuses: %s\n",
					        ei.msg);
					abort();
				}
				json_decref(j);
			}
			agt_parser_destroy(ps);
		}
		ksk_arena_destroy(a);
		return 0;
	}
	default: {
		agt_ids ids;
		agt_scan_ids((const char *)p, n, &ids);
		CHECK(!ids.has_trace || !ksk_id_is_zero(ids.trace_id, 16));
		CHECK(!ids.has_span || !ksk_id_is_zero(ids.span_id, 8));
		ksk_arena_destroy(a);
		return 0;
	}
	}
	CHECK(rc == KSK_OK || rc == KSK_EPARSE || rc == KSK_ELIMIT ||
	      rc == KSK_ENOMEM);
	if (rc == KSK_OK)
		check_out(&o);
	else
		CHECK(ei.code == rc && ei.msg[0] != '\0');
	ksk_arena_destroy(a);
	return 0;
}
