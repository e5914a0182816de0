/*
 * fuzz_wire.c : libFuzzer target for the record payload codec.
 *
 * Input: byte 0 picks the record count (low 7 bits) and the limits (high
 * bit set = small limits, to reach the limit paths); the rest is the
 * payload. Checks:
 *  - ksk_wire_guard() never claims more bytes than it was given;
 *  - ksk_wire_decode() never crashes, and fails with an error message;
 *  - round-trip oracle: a batch that decodes is re-encoded (resources,
 *    then spans, then logs) and must decode again, to an equal batch.
 * Any broken property calls abort(). Seeds: corpus/wire/ (written by
 * test_wire with KSK_WRITE_SEEDS=dir).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiseki/record.h"
#include "kiseki/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_wire: %s:%d: %s\n", __FILE__,    \
			        __LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

static int str_eq(ksk_str a, ksk_str b)
{
	return ksk_str_eq(a, b);
}

static int attrs_eq(const ksk_attr *a, uint32_t na, const ksk_attr *b,
                    uint32_t nb)
{
	if (na != nb)
		return 0;
	for (uint32_t i = 0; i < na; i++)
		if (!str_eq(a[i].key, b[i].key) ||
		    !ksk_value_eq(&a[i].value, &b[i].value))
			return 0;
	return 1;
}

static void span_eq(const ksk_span *x, const ksk_span *y)
{
	CHECK(memcmp(x->trace_id, y->trace_id, KSK_TRACE_ID_LEN) == 0);
	CHECK(memcmp(x->span_id, y->span_id, KSK_SPAN_ID_LEN) == 0);
	CHECK(memcmp(x->parent_id, y->parent_id, KSK_SPAN_ID_LEN) == 0);
	CHECK(x->has_parent == y->has_parent);
	CHECK(str_eq(x->name, y->name));
	CHECK(x->kind == y->kind);
	CHECK(x->start_ns == y->start_ns && x->end_ns == y->end_ns);
	CHECK(x->status == y->status);
	CHECK(str_eq(x->status_msg, y->status_msg));
	CHECK(str_eq(x->trace_state, y->trace_state));
	CHECK(x->flags == y->flags);
	CHECK(str_eq(x->scope_name, y->scope_name));
	CHECK(str_eq(x->scope_version, y->scope_version));
	CHECK(attrs_eq(x->attrs, x->n_attrs, y->attrs, y->n_attrs));
	CHECK(x->n_events == y->n_events);
	for (uint32_t i = 0; i < x->n_events; i++) {
		const ksk_event *a = &x->events[i], *b = &y->events[i];
		CHECK(a->time_ns == b->time_ns);
		CHECK(str_eq(a->name, b->name));
		CHECK(attrs_eq(a->attrs, a->n_attrs, b->attrs, b->n_attrs));
		CHECK(a->dropped_attrs == b->dropped_attrs);
	}
	CHECK(x->n_links == y->n_links);
	for (uint32_t i = 0; i < x->n_links; i++) {
		const ksk_link *a = &x->links[i], *b = &y->links[i];
		CHECK(memcmp(a->trace_id, b->trace_id, KSK_TRACE_ID_LEN) == 0);
		CHECK(memcmp(a->span_id, b->span_id, KSK_SPAN_ID_LEN) == 0);
		CHECK(str_eq(a->trace_state, b->trace_state));
		CHECK(a->flags == b->flags);
		CHECK(attrs_eq(a->attrs, a->n_attrs, b->attrs, b->n_attrs));
		CHECK(a->dropped_attrs == b->dropped_attrs);
	}
	CHECK(x->dropped_attrs == y->dropped_attrs);
	CHECK(x->dropped_events == y->dropped_events);
	CHECK(x->dropped_links == y->dropped_links);
	CHECK(x->resource == y->resource);
}

static void log_eq(const ksk_log *x, const ksk_log *y)
{
	CHECK(x->time_ns == y->time_ns && x->observed_ns == y->observed_ns);
	CHECK(x->severity == y->severity);
	CHECK(str_eq(x->severity_text, y->severity_text));
	CHECK(ksk_value_eq(&x->body, &y->body));
	CHECK(attrs_eq(x->attrs, x->n_attrs, y->attrs, y->n_attrs));
	CHECK(x->dropped_attrs == y->dropped_attrs);
	CHECK(memcmp(x->trace_id, y->trace_id, KSK_TRACE_ID_LEN) == 0);
	CHECK(memcmp(x->span_id, y->span_id, KSK_SPAN_ID_LEN) == 0);
	CHECK(x->has_trace == y->has_trace && x->has_span == y->has_span);
	CHECK(x->flags == y->flags);
	CHECK(str_eq(x->event_name, y->event_name));
	CHECK(str_eq(x->scope_name, y->scope_name));
	CHECK(str_eq(x->scope_version, y->scope_version));
	CHECK(x->resource == y->resource);
	/* where the digits were put back (keys 15, 16): the same either way */
	CHECK(x->trace_hex_end == y->trace_hex_end && x->span_hex_end == y->span_hex_end);
}

static void resource_eq(const ksk_resource *x, const ksk_resource *y)
{
	CHECK(attrs_eq(x->attrs, x->n_attrs, y->attrs, y->n_attrs));
	CHECK(x->dropped_attrs == y->dropped_attrs);
	CHECK(str_eq(x->service, y->service));
	CHECK(str_eq(x->host, y->host));
}

/* Two decodes of the same records agree on every field. */
static void batch_eq(const ksk_batch *a, const ksk_batch *b)
{
	CHECK(a->n_resources == b->n_resources && a->n_spans == b->n_spans &&
	      a->n_logs == b->n_logs);
	for (uint32_t i = 0; i < a->n_resources; i++)
		resource_eq(&a->resources[i], &b->resources[i]);
	for (uint32_t i = 0; i < a->n_spans; i++)
		span_eq(&a->spans[i], &b->spans[i]);
	for (uint32_t i = 0; i < a->n_logs; i++)
		log_eq(&a->logs[i], &b->logs[i]);
}

static void round_trip(const ksk_batch *b, const ksk_wire_limits *lim)
{
	ksk_wire_enc *e;
	CHECK(ksk_wire_enc_create(NULL, lim, 0, &e) == KSK_OK);
	for (uint32_t i = 0; i < b->n_resources; i++) {
		uint32_t idx = 0;
		CHECK(ksk_wire_enc_resource(e, &b->resources[i], &idx) == KSK_OK);
		CHECK(idx == i);
	}
	for (uint32_t i = 0; i < b->n_spans; i++)
		CHECK(ksk_wire_enc_span(e, &b->spans[i]) == KSK_OK);
	for (uint32_t i = 0; i < b->n_logs; i++)
		CHECK(ksk_wire_enc_log(e, &b->logs[i]) == KSK_OK);
	size_t len;
	const uint8_t *p = ksk_wire_enc_data(e, &len);

	/* Arena use depends on record order (the first slots of each array are
	 * sized by the records left), so the second decode gets room to spare;
	 * every other limit stays the same. */
	ksk_wire_limits lim2 = *lim;
	lim2.max_arena = (size_t)64 << 20;
	ksk_wire_dec *d2;
	CHECK(ksk_wire_dec_create(NULL, &lim2, &d2) == KSK_OK);
	const ksk_batch *b2 = NULL;
	ksk_errinfo ei;
	ksk_err rc = ksk_wire_decode(d2, p, len, ksk_wire_enc_count(e), &b2, &ei);
	if (rc != KSK_OK)
		fprintf(stderr, "fuzz_wire: re-decode failed: %s %s\n",
		        ksk_errname(rc), ei.msg);
	CHECK(rc == KSK_OK);
	batch_eq(b, b2);
	ksk_wire_dec_destroy(d2);
	ksk_wire_enc_destroy(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint32_t count = data[0] & 0x7f;
	const uint8_t *p = data + 1;
	size_t len = size - 1;

	ksk_wire_limits lim;
	ksk_wire_limits_default(&lim);
	lim.max_arena = (size_t)64 << 20;
	if (data[0] & 0x80) {
		lim.max_records = 64;
		lim.max_attrs = 4;
		lim.max_events = 2;
		lim.max_links = 2;
		lim.max_str = 24;
		lim.max_depth = 3;
		lim.max_container = 8;
		lim.max_arena = 16384;
	}

	uint64_t objs = 0;
	long g = ksk_wire_guard(p, len, &lim, &objs);
	CHECK(g >= -1 && g <= (long)len);
	if (g > 0)
		CHECK(objs >= 1 && objs <= (uint64_t)g);

	ksk_wire_dec *d;
	CHECK(ksk_wire_dec_create(NULL, &lim, &d) == KSK_OK);
	const ksk_batch *b = NULL;
	ksk_errinfo ei;
	ksk_err rc = ksk_wire_decode(d, p, len, count, &b, &ei);

	/* the direct path for plain logs must agree with msgpack-c's */
	ksk_wire_dec *ds;
	CHECK(ksk_wire_dec_create(NULL, &lim, &ds) == KSK_OK);
	ksk_wire_dec_set_slow_only(ds, true);
	const ksk_batch *bs = NULL;
	ksk_errinfo eis;
	ksk_err rcs = ksk_wire_decode(ds, p, len, count, &bs, &eis);
	CHECK(rc == rcs);
	if (rc != KSK_OK) {
		CHECK(strcmp(ei.msg, eis.msg) == 0);
	} else {
		batch_eq(b, bs);
	}
	ksk_wire_dec_destroy(ds);
	if (rc == KSK_OK) {
		CHECK(b != NULL);
		CHECK(b->n_resources + b->n_spans + b->n_logs == count);
		round_trip(b, &lim);
	} else {
		CHECK(b == NULL);
		CHECK(ei.code == rc && ei.msg[0] != '\0');
	}
	ksk_wire_dec_destroy(d);
	return 0;
}
