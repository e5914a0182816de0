/*
 * test_otlp.c : OTLP JSON / protobuf and Zipkin v2 decoders against the
 * real client captures in tests/data/real-clients (KSK_FIXTURES_DIR), with
 * cross-checks between formats (same IDs, parents, names, times), plus
 * bad and hostile inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "agt_otlp.h"
#include "agt_parse.h"

#define TRACE "261a29797f8ccd0c40e1f4324600ecf2"
#define ROOT "4512b1eadf87b6d4"
#define CLIENT "42a4d8882d9d2a52"
#define SERVER "62bb6c1bacbc09c7"
#define NOW 1795978600000000000ull

typedef struct blob {
	uint8_t *p;
	size_t n;
} blob;

static blob load(const char *name)
{
	char path[512];
	blob b = {NULL, 0};
	snprintf(path, sizeof(path), "%s/%s", KSK_FIXTURES_DIR, name);
	FILE *f = fopen(path, "rb");
	if (!f) {
		print_error("cannot open %s\n", path);
		fail();
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b.p = malloc((size_t)n + 1);
	assert_non_null(b.p);
	assert_int_equal(fread(b.p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	b.n = (size_t)n;
	return b;
}

static blob gunzip(blob in)
{
	blob out = {malloc(1 << 20), 0};
	z_stream z;
	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
	z.next_in = in.p;
	z.avail_in = (uInt)in.n;
	z.next_out = out.p;
	z.avail_out = 1 << 20;
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	out.n = z.total_out;
	inflateEnd(&z);
	return out;
}

static char hb[8][40];
static int hi;

static const char *hx(const uint8_t *id, size_t n)
{
	char *b = hb[hi++ & 7];
	ksk_hex_encode(id, n, b);
	return b;
}

static void assert_str(ksk_str s, const char *want)
{
	size_t n = strlen(want);
	if (s.len != n || (n && memcmp(s.ptr, want, n) != 0)) {
		print_error("got \"%.*s\", want \"%s\"\n", (int)s.len,
		            s.ptr ? s.ptr : "", want);
		fail();
	}
}

static const ksk_span *find_span(const agt_otlp_out *o, const char *id)
{
	for (uint32_t i = 0; i < o->n_spans; i++)
		if (strcmp(hx(o->spans[i].span_id, 8), id) == 0)
			return &o->spans[i];
	print_error("span %s not found\n", id);
	fail();
	return NULL;
}

static const ksk_value *sattr(const ksk_attr *a, uint32_t n, const char *k)
{
	const ksk_attr *at = ksk_attrs_find(a, n, ksk_str_c(k));
	if (!at) {
		print_error("attribute %s missing\n", k);
		fail();
	}
	return &at->value;
}

static bool attrs_eq(const ksk_attr *a, uint32_t na, const ksk_attr *b,
                     uint32_t nb)
{
	if (na != nb)
		return false;
	for (uint32_t i = 0; i < na; i++)
		if (!ksk_str_eq(a[i].key, b[i].key) ||
		    !ksk_value_eq(&a[i].value, &b[i].value))
			return false;
	return true;
}

/* full equality of two decoded spans (JSON vs protobuf) */
static void assert_span_eq(const agt_otlp_out *oa, const ksk_span *a,
                           const agt_otlp_out *ob, const ksk_span *b)
{
	assert_memory_equal(a->trace_id, b->trace_id, 16);
	assert_memory_equal(a->span_id, b->span_id, 8);
	assert_int_equal(a->has_parent, b->has_parent);
	assert_memory_equal(a->parent_id, b->parent_id, 8);
	assert_true(ksk_str_eq(a->name, b->name));
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->start_ns, b->start_ns);
	assert_int_equal(a->end_ns, b->end_ns);
	assert_int_equal(a->status, b->status);
	assert_true(ksk_str_eq(a->status_msg, b->status_msg));
	assert_true(ksk_str_eq(a->trace_state, b->trace_state));
	assert_int_equal(a->flags, b->flags);
	assert_true(ksk_str_eq(a->scope_name, b->scope_name));
	assert_true(ksk_str_eq(a->scope_version, b->scope_version));
	assert_true(attrs_eq(a->attrs, a->n_attrs, b->attrs, b->n_attrs));
	assert_int_equal(a->n_events, b->n_events);
	for (uint32_t i = 0; i < a->n_events; i++) {
		assert_int_equal(a->events[i].time_ns, b->events[i].time_ns);
		assert_true(ksk_str_eq(a->events[i].name, b->events[i].name));
		assert_true(attrs_eq(a->events[i].attrs, a->events[i].n_attrs,
		                     b->events[i].attrs, b->events[i].n_attrs));
	}
	assert_int_equal(a->n_links, b->n_links);
	for (uint32_t i = 0; i < a->n_links; i++) {
		assert_memory_equal(a->links[i].trace_id, b->links[i].trace_id, 16);
		assert_memory_equal(a->links[i].span_id, b->links[i].span_id, 8);
		assert_int_equal(a->links[i].flags, b->links[i].flags);
		assert_true(attrs_eq(a->links[i].attrs, a->links[i].n_attrs,
		                     b->links[i].attrs, b->links[i].n_attrs));
	}
	const ksk_resource *ra = &oa->resources[a->resource];
	const ksk_resource *rb = &ob->resources[b->resource];
	assert_true(attrs_eq(ra->attrs, ra->n_attrs, rb->attrs, rb->n_attrs));
	assert_true(ksk_str_eq(ra->service, rb->service));
}

static ksk_arena *arena(void)
{
	ksk_arena *a;
	assert_int_equal(ksk_arena_create(NULL, 0, 64u << 20, &a), KSK_OK);
	return a;
}

/* ---- real clients --------------------------------------------------------- */

static void test_traces_json_fixtures(void **state)
{
	(void)state;
	ksk_arena *a = arena();
	ksk_errinfo ei;
	agt_otlp_out fo, bo;
	blob f = load("otel-js_frontend_otlp-traces.json");
	blob b = load("otel-js_backend_otlp-traces.json");
	assert_int_equal(agt_otlp_traces_json((char *)f.p, f.n, a, &fo, &ei), KSK_OK);
	assert_int_equal(agt_otlp_traces_json((char *)b.p, b.n, a, &bo, &ei), KSK_OK);
	assert_int_equal(fo.n_spans, 2);
	assert_int_equal(fo.n_resources, 1);
	assert_int_equal(fo.n_rejected, 0);
	assert_str(fo.resources[0].service, "frontend");
	const ksk_span *root = find_span(&fo, ROOT);
	assert_string_equal(hx(root->trace_id, 16), TRACE);
	assert_false(root->has_parent);
	assert_str(root->name, "GET /checkout");
	assert_int_equal(root->kind, KSK_KIND_SERVER);
	assert_int_equal(root->start_ns, 1795978554866000000ull);
	assert_int_equal(root->end_ns, 1795978554881037271ull);
	assert_int_equal(root->flags, 257);
	assert_str(root->scope_name, "interop-frontend");
	assert_str(root->scope_version, "0.1.0");
	assert_int_equal(root->n_attrs, 6);
	assert_int_equal(sattr(root->attrs, root->n_attrs, "http.response.status_code")->u.i, 200);
	assert_true(sattr(root->attrs, root->n_attrs, "user.premium")->u.b);
	assert_true(sattr(root->attrs, root->n_attrs, "cart.total")->u.d == 42.5);
	const ksk_value *items = sattr(root->attrs, root->n_attrs, "cart.items");
	assert_int_equal(items->type, KSK_VAL_ARRAY);
	assert_int_equal(items->u.arr.n, 2);
	assert_str(items->u.arr.items[1].u.s, "sku-2");
	assert_int_equal(root->n_events, 1);
	assert_str(root->events[0].name, "checkout.finished");
	assert_int_equal(root->events[0].time_ns, 1795978554881030378ull);
	const ksk_span *cl = find_span(&fo, CLIENT);
	assert_true(cl->has_parent);
	assert_string_equal(hx(cl->parent_id, 8), ROOT);
	assert_int_equal(cl->kind, KSK_KIND_CLIENT);
	assert_int_equal(sattr(cl->attrs, cl->n_attrs, "server.port")->u.i, 8080);

	assert_int_equal(bo.n_spans, 1);
	const ksk_span *sv = find_span(&bo, SERVER);
	assert_string_equal(hx(sv->parent_id, 8), CLIENT);
	assert_int_equal(sv->status, KSK_STATUS_ERROR);
	assert_str(sv->status_msg, "card declined");
	assert_str(sv->trace_state, "vendor1=opaque1");
	assert_int_equal(sv->flags, 769);
	assert_int_equal(sv->n_links, 1);
	assert_string_equal(hx(sv->links[0].span_id, 8), ROOT);
	assert_int_equal(sv->links[0].flags, 257);
	assert_int_equal(sv->n_events, 1);
	assert_int_equal(sv->events[0].n_attrs, 2);
	assert_str(bo.resources[sv->resource].service, "backend");
	free(f.p);
	free(b.p);
	ksk_arena_destroy(a);
}

static void cross_json_gz_pb(const char *svc)
{
	char n1[128], n2[128], n3[128];
	ksk_arena *a = arena();
	ksk_errinfo ei;
	agt_otlp_out jo, go, po;
	snprintf(n1, sizeof(n1), "otel-js_%s_otlp-traces.json", svc);
	snprintf(n2, sizeof(n2), "otel-js_%s_otlp-traces.json.gz", svc);
	snprintf(n3, sizeof(n3), "otel-js_%s_otlp-traces.pb", svc);
	blob j = load(n1), gz = load(n2), pb = load(n3);
	blob g = gunzip(gz);
	assert_int_equal(agt_otlp_traces_json((char *)j.p, j.n, a, &jo, &ei), KSK_OK);
	assert_int_equal(agt_otlp_traces_json((char *)g.p, g.n, a, &go, &ei), KSK_OK);
	assert_int_equal(agt_otlp_traces_pb(pb.p, pb.n, a, &po, &ei), KSK_OK);
	assert_int_equal(jo.n_spans, go.n_spans);
	assert_int_equal(jo.n_spans, po.n_spans);
	assert_int_equal(po.n_rejected, 0);
	for (uint32_t i = 0; i < jo.n_spans; i++) {
		const char *id = hx(jo.spans[i].span_id, 8);
		assert_span_eq(&jo, &jo.spans[i], &go, find_span(&go, id));
		assert_span_eq(&jo, &jo.spans[i], &po, find_span(&po, id));
	}
	free(j.p);
	free(gz.p);
	free(g.p);
	free(pb.p);
	ksk_arena_destroy(a);
}

static void test_traces_cross_json_gzip_protobuf(void **state)
{
	(void)state;
	cross_json_gz_pb("frontend");
	cross_json_gz_pb("backend");
}

static void test_traces_cross_zipkin(void **state)
{
	(void)state;
	const char *svcs[] = {"frontend", "backend"};
	for (int k = 0; k < 2; k++) {
		char n1[128], n2[128];
		ksk_arena *a = arena();
		ksk_errinfo ei;
		agt_otlp_out jo, zo;
		snprintf(n1, sizeof(n1), "otel-js_%s_otlp-traces.json", svcs[k]);
		snprintf(n2, sizeof(n2), "otel-js_%s_zipkin-v2.json", svcs[k]);
		blob j = load(n1), z = load(n2);
		assert_int_equal(agt_otlp_traces_json((char *)j.p, j.n, a, &jo, &ei), KSK_OK);
		assert_int_equal(agt_zipkin_json((char *)z.p, z.n, a, &zo, &ei), KSK_OK);
		assert_int_equal(zo.n_rejected, 0);
		assert_int_equal(jo.n_spans, zo.n_spans);
		assert_int_equal(zo.n_resources, 1);
		assert_str(zo.resources[0].service, svcs[k]);
		for (uint32_t i = 0; i < jo.n_spans; i++) {
			const ksk_span *js = &jo.spans[i];
			const ksk_span *zs = find_span(&zo, hx(js->span_id, 8));
			assert_memory_equal(js->trace_id, zs->trace_id, 16);
			assert_int_equal(js->has_parent, zs->has_parent);
			assert_memory_equal(js->parent_id, zs->parent_id, 8);
			assert_true(ksk_str_eq(js->name, zs->name));
			assert_int_equal(js->kind, zs->kind);
			assert_int_equal(js->start_ns / 1000, zs->start_ns / 1000);
			assert_int_equal(js->status, zs->status);
			assert_true(ksk_str_eq(js->status_msg, zs->status_msg));
			assert_int_equal(js->n_events, zs->n_events);
			for (uint32_t e = 0; e < js->n_events; e++) {
				assert_true(ksk_str_eq(js->events[e].name, zs->events[e].name));
				/* the JS Zipkin exporter rounds event times to µs */
				int64_t d = (int64_t)(js->events[e].time_ns / 1000) -
				            (int64_t)(zs->events[e].time_ns / 1000);
				assert_true(d >= -1 && d <= 1);
			}
			/* the JS Zipkin exporter stringifies tags */
			assert_int_equal(sattr(zs->attrs, zs->n_attrs, "service.name")->type,
			                 KSK_VAL_STR);
			assert_null(ksk_attrs_find(zs->attrs, zs->n_attrs, KSK_STR("error")));
			assert_null(ksk_attrs_find(zs->attrs, zs->n_attrs,
			                           KSK_STR("otel.status_code")));
		}
		free(j.p);
		free(z.p);
		ksk_arena_destroy(a);
	}
}

static void test_zipkin_pyzipkin(void **state)
{
	(void)state;
	ksk_arena *a = arena();
	ksk_errinfo ei;
	agt_otlp_out o;
	blob z = load("py-zipkin_py-gateway_zipkin-v2.json");
	assert_int_equal(agt_zipkin_json((char *)z.p, z.n, a, &o, &ei), KSK_OK);
	assert_int_equal(o.n_spans, 2);
	assert_int_equal(o.n_rejected, 0);
	assert_int_equal(o.n_resources, 1);
	const ksk_resource *r = &o.resources[0];
	assert_str(r->service, "py-gateway");
	assert_str(sattr(r->attrs, r->n_attrs, "net.host.ip")->u.s, "10.0.0.5");
	assert_int_equal(sattr(r->attrs, r->n_attrs, "net.host.port")->u.i, 8000);
	const ksk_span *cl = find_span(&o, "8d844b402763a0c1");
	assert_string_equal(hx(cl->trace_id, 16), "6b0c753c61bf33f2bd817a31b75d2805");
	assert_string_equal(hx(cl->parent_id, 8), "13426095ae640f30");
	assert_int_equal(cl->kind, KSK_KIND_CLIENT);
	assert_int_equal(cl->start_ns, 1795978556016435000ull);
	assert_int_equal(cl->end_ns, 1795978556016435000ull + 2248000ull);
	assert_str(sattr(cl->attrs, cl->n_attrs, "peer.service")->u.s, "postgres");
	assert_str(sattr(cl->attrs, cl->n_attrs, "net.peer.ip")->u.s, "10.0.0.9");
	assert_int_equal(sattr(cl->attrs, cl->n_attrs, "net.peer.port")->u.i, 5432);
	assert_int_equal(cl->n_events, 1);
	assert_str(cl->events[0].name, "db.query.sent");
	assert_int_equal(cl->events[0].time_ns, 1795978556016420000ull);
	const ksk_span *sv = find_span(&o, "13426095ae640f30");
	assert_false(sv->has_parent);
	assert_int_equal(sv->kind, KSK_KIND_SERVER);
	assert_str(sattr(sv->attrs, sv->n_attrs, "retries")->u.s, "3");
	assert_str(sattr(sv->attrs, sv->n_attrs, "http.path")->u.s, "/py");
	free(z.p);
	ksk_arena_destroy(a);
}

static void test_logs_fixtures_json_and_pb(void **state)
{
	(void)state;
	const char *svcs[] = {"frontend", "backend"};
	for (int k = 0; k < 2; k++) {
		char n1[128], n2[128];
		ksk_arena *a = arena();
		ksk_errinfo ei;
		agt_otlp_out jo, po;
		snprintf(n1, sizeof(n1), "otel-js_%s_otlp-logs.json", svcs[k]);
		snprintf(n2, sizeof(n2), "otel-js_%s_otlp-logs.pb", svcs[k]);
		blob j = load(n1), p = load(n2);
		assert_int_equal(agt_otlp_logs_json((char *)j.p, j.n, NOW, a, &jo, &ei),
		                 KSK_OK);
		assert_int_equal(agt_otlp_logs_pb(p.p, p.n, NOW, a, &po, &ei), KSK_OK);
		assert_int_equal(jo.n_logs, 1);
		assert_int_equal(po.n_logs, 1);
		const ksk_log *x = &jo.logs[0], *y = &po.logs[0];
		assert_string_equal(hx(x->trace_id, 16), TRACE);
		assert_true(x->has_trace && x->has_span);
		assert_string_equal(hx(x->span_id, 8), k == 0 ? ROOT : SERVER);
		assert_int_equal(x->severity, k == 0 ? 9 : 17);
		assert_str(x->severity_text, k == 0 ? "INFO" : "ERROR");
		assert_int_equal(x->flags, 1);
		assert_int_equal(x->observed_ns, x->time_ns);
		assert_str(jo.resources[x->resource].service, svcs[k]);
		assert_str(x->scope_name, k == 0 ? "interop-frontend" : "interop-backend");
		if (k == 0) {
			assert_int_equal(x->time_ns, 1795978554867000000ull);
			assert_str(x->body.u.s, "checkout started");
		} else {
			assert_int_equal(x->body.type, KSK_VAL_KVLIST);
			assert_str(x->body.u.kv.items[0].key, "msg");
			assert_int_equal(x->body.u.kv.items[1].value.u.i, 402);
		}
		/* JSON == protobuf */
		assert_int_equal(x->time_ns, y->time_ns);
		assert_int_equal(x->observed_ns, y->observed_ns);
		assert_int_equal(x->severity, y->severity);
		assert_true(ksk_str_eq(x->severity_text, y->severity_text));
		assert_true(ksk_value_eq(&x->body, &y->body));
		assert_true(attrs_eq(x->attrs, x->n_attrs, y->attrs, y->n_attrs));
		assert_memory_equal(x->trace_id, y->trace_id, 16);
		assert_memory_equal(x->span_id, y->span_id, 8);
		assert_int_equal(x->flags, y->flags);
		assert_true(ksk_str_eq(x->scope_name, y->scope_name));
		free(j.p);
		free(p.p);
		ksk_arena_destroy(a);
	}
}

/* the captured propagation headers carry the same IDs as the span bodies */
static void test_propagation_fixtures(void **state)
{
	(void)state;
	blob w3c = load("otel-js-propagation.json");
	blob b3 = load("pyzipkin-b3-headers.json");
	blob pz = load("py-zipkin_py-gateway_zipkin-v2.json");
	/* traceparent: the scanner finds it in the JSON text; strict parse too */
	agt_ids ids;
	agt_scan_ids((char *)w3c.p, w3c.n, &ids);
	assert_true(ids.has_trace && ids.has_span && ids.has_flags);
	assert_string_equal(hx(ids.trace_id, 16), TRACE);
	assert_string_equal(hx(ids.span_id, 8), CLIENT); /* the caller's span */
	assert_int_equal(ids.flags, 1);
	const char *tp = strstr((char *)w3c.p, "00-");
	uint8_t t[16], s[8], f;
	assert_true(agt_traceparent_parse(tp, 55, t, s, &f));
	assert_string_equal(hx(t, 16), TRACE);
	/* ... and the backend SERVER span's parent is that span */
	ksk_arena *a = arena();
	ksk_errinfo ei;
	agt_otlp_out o;
	blob b = load("otel-js_backend_otlp-traces.pb");
	assert_int_equal(agt_otlp_traces_pb(b.p, b.n, a, &o, &ei), KSK_OK);
	assert_memory_equal(o.spans[0].parent_id, ids.span_id, 8);
	assert_int_equal(o.spans[0].flags & 0x300, 0x300); /* parent is remote */
	/* B3 multi-headers (X-B3-TraceId / X-B3-SpanId) found by the scanner */
	agt_scan_ids((char *)b3.p, b3.n, &ids);
	assert_true(ids.has_trace && ids.has_span);
	assert_string_equal(hx(ids.trace_id, 16), "6b0c753c61bf33f2bd817a31b75d2805");
	assert_string_equal(hx(ids.span_id, 8), "6ca665959982e604");
	assert_int_equal(agt_zipkin_json((char *)pz.p, pz.n, a, &o, &ei), KSK_OK);
	assert_memory_equal(o.spans[0].trace_id, ids.trace_id, 16);
	free(w3c.p);
	free(b3.p);
	free(pz.p);
	free(b.p);
	ksk_arena_destroy(a);
}

/* ---- JSON variants and errors ------------------------------------------- */

static const char *span_json(char *buf, size_t n, const char *fields)
{
	snprintf(buf, n,
	         "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
	         "\"service.name\",\"value\":{\"stringValue\":\"svc\"}}]},"
	         "\"scopeSpans\":[{\"scope\":{\"name\":\"s\"},\"spans\":[%s]}]}]}",
	         fields);
	return buf;
}

#define GOOD "{\"traceId\":\"" TRACE "\",\"spanId\":\"" ROOT "\",\"name\":\"n\"," \
	"\"startTimeUnixNano\":\"10\",\"endTimeUnixNano\":20}"

static void test_traces_json_variants(void **state)
{
	(void)state;
	ksk_arena *a = arena();
	ksk_errinfo ei;
	agt_otlp_out o;
	char buf[4096];
	span_json(buf, sizeof(buf),
	          "{\"traceId\":\"261A29797F8CCD0C40E1F4324600ECF2\",\"spanId\":"
	          "\"4512B1EADF87B6D4\",\"parentSpanId\":\"\",\"kind\":\"SPAN_KIND_CLIENT\","
	          "\"startTimeUnixNano\":1795978554866000000,\"endTimeUnixNano\":"
	          "\"1795978554866000001\",\"status\":{\"code\":\"STATUS_CODE_ERROR\","
	          "\"message\":\"m\"},\"unknownField\":{\"x\":[1,2]},\"attributes\":["
	          "{\"key\":\"i\",\"value\":{\"intValue\":\"-42\"}},"
	          "{\"key\":\"nan\",\"value\":{\"doubleValue\":\"NaN\"}},"
	          "{\"key\":\"inf\",\"value\":{\"doubleValue\":\"-Infinity\"}},"
	          "{\"key\":\"b\",\"value\":{\"bytesValue\":\"aGVsbG8=\"}},"
	          "{\"key\":\"e\",\"value\":{}},"
	          "{\"key\":\"kv\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"a\","
	          "\"value\":{\"arrayValue\":{\"values\":[{\"boolValue\":false}]}}}]}}}]}");
	assert_int_equal(agt_otlp_traces_json(buf, strlen(buf), a, &o, &ei), KSK_OK);
	assert_int_equal(o.n_spans, 1);
	const ksk_span *s = &o.spans[0];
	assert_string_equal(hx(s->trace_id, 16), TRACE);
	assert_false(s->has_parent);
	assert_int_equal(s->kind, KSK_KIND_CLIENT);
	assert_int_equal(s->status, KSK_STATUS_ERROR);
	assert_int_equal(s->start_ns, 1795978554866000000ull);
	assert_int_equal(sattr(s->attrs, s->n_attrs, "i")->u.i, -42);
	assert_true(isnan(sattr(s->attrs, s->n_attrs, "nan")->u.d));
	assert_true(isinf(sattr(s->attrs, s->n_attrs, "inf")->u.d));
	const ksk_value *b = sattr(s->attrs, s->n_attrs, "b");
	assert_int_equal(b->type, KSK_VAL_BYTES);
	assert_int_equal(b->u.s.len, 5);
	assert_memory_equal(b->u.s.ptr, "hello", 5);
	assert_int_equal(sattr(s->attrs, s->n_attrs, "e")->type, KSK_VAL_EMPTY);
	const ksk_value *kv = sattr(s->attrs, s->n_attrs, "kv");
	assert_int_equal(kv->u.kv.items[0].value.u.arr.items[0].type, KSK_VAL_BOOL);
	/* empty request and empty arrays are fine */
	assert_int_equal(agt_otlp_traces_json("{}", 2, a, &o, &ei), KSK_OK);
	assert_int_equal(o.n_spans, 0);
	assert_int_equal(agt_otlp_traces_json("{\"resourceSpans\":[]}", 20, a, &o, &ei),
	                 KSK_OK);
	ksk_arena_destroy(a);
}

static void test_traces_json_errors(void **state)
{
	(void)state;
	ksk_arena *a = arena();
	ksk_errinfo ei;
	agt_otlp_out o;
	char buf[4096];
	/* body level */
	assert_int_equal(agt_otlp_traces_json("{\"resourceSpans\":[", 18, a, &o, &ei),
	                 KSK_EPARSE);
	assert_non_null(strstr(ei.msg, "otlp traces: invalid JSON at line 1"));
	assert_int_equal(agt_otlp_traces_json("[]", 2, a, &o, &ei), KSK_EPARSE);
	assert_string_equal(ei.msg, "otlp traces: top level must be an object");
	assert_int_equal(agt_otlp_traces_json("{\"resourceSpans\":{}}", 20, a, &o, &ei),
	                 KSK_EPARSE);
	assert_string_equal(ei.msg, "resourceSpans: must be an array");
	const char *nested = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":7}]}]}";
	assert_int_equal(agt_otlp_traces_json(nested, strlen(nested), a, &o, &ei),
	                 KSK_EPARSE);
	assert_string_equal(ei.msg, "resourceSpans[0].scopeSpans[0].spans: must be an array");
	assert_int_equal(agt_otlp_traces_json("\xff", 1, a, &o, &ei), KSK_EPARSE);
	/* record level: the good spans survive, the first bad one is described */
	struct {
		const char *span;
		const char *msg;
	} bad[] = {
		{"{\"traceId\":\"" TRACE "\",\"spanId\":\"4512b1eadf87b6d\"}",
		 "resourceSpans[0].scopeSpans[0].spans[1]: spanId: 15 hex digits, want 16"},
		{"{\"traceId\":\"00000000000000000000000000000000\",\"spanId\":\"" ROOT "\"}",
		 "resourceSpans[0].scopeSpans[0].spans[1]: traceId is all zero or missing"},
		{"{\"spanId\":\"" ROOT "\"}",
		 "resourceSpans[0].scopeSpans[0].spans[1]: traceId is all zero or missing"},
		{"{\"traceId\":\"" TRACE "\",\"spanId\":\"" ROOT "\",\"startTimeUnixNano\":\"5\","
		 "\"endTimeUnixNano\":\"4\"}",
		 "resourceSpans[0].scopeSpans[0].spans[1]: endTimeUnixNano 4 < startTimeUnixNano 5"},
		{"{\"traceId\":\"" TRACE "\",\"spanId\":\"" ROOT "\",\"kind\":9}",
		 "resourceSpans[0].scopeSpans[0].spans[1]: kind 9 out of range 0..5"},
		{"{\"traceId\":\"" TRACE "\",\"spanId\":\"" ROOT "\",\"kind\":\"SPAN_KIND_WHAT\"}",
		 "resourceSpans[0].scopeSpans[0].spans[1]: kind: unknown value \"SPAN_KIND_WHAT\""},
		{"{\"traceId\":\"" TRACE "\",\"spanId\":\"zz12b1eadf87b6d4\"}",
		 "resourceSpans[0].scopeSpans[0].spans[1]: spanId: \"zz12b1eadf87b6d4\" is not hex"},
		{"{\"traceId\":\"" TRACE "\",\"spanId\":\"" ROOT "\",\"startTimeUnixNano\":\"1x\"}",
		 "resourceSpans[0].scopeSpans[0].spans[1]: startTimeUnixNano: \"1x\" is not a decimal integer"},
		{"{\"traceId\":\"" TRACE "\",\"spanId\":\"" ROOT "\",\"attributes\":[{\"key\":\"k\","
		 "\"value\":{\"intValue\":\"12a\"}}]}",
		 "resourceSpans[0].scopeSpans[0].spans[1]: attributes[0] (k): intValue: \"12a\" is not a 64-bit integer"},
		{"{\"traceId\":\"" TRACE "\",\"spanId\":\"" ROOT "\",\"attributes\":[{\"key\":\"\","
		 "\"value\":{}}]}",
		 "resourceSpans[0].scopeSpans[0].spans[1]: attributes[0]: empty key"},
		{"{\"traceId\":\"" TRACE "\",\"spanId\":\"" ROOT "\",\"links\":[{\"traceId\":\"" TRACE "\"}]}",
		 "resourceSpans[0].scopeSpans[0].spans[1]: links[0]: traceId/spanId missing or zero"},
		{"7", "resourceSpans[0].scopeSpans[0].spans[1]: must be an object"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char spans[1024];
		snprintf(spans, sizeof(spans), "%s,%s,%s", GOOD, bad[i].span, GOOD);
		span_json(buf, sizeof(buf), spans);
		assert_int_equal(agt_otlp_traces_json(buf, strlen(buf), a, &o, &ei), KSK_OK);
		assert_int_equal(o.n_spans, 2);
		assert_int_equal(o.n_rejected, 1);
		assert_int_equal(o.reject.code, KSK_ERECORD);
		if (strcmp(o.reject.msg, bad[i].msg) != 0) {
			print_error("case %zu: got \"%s\"\n want \"%s\"\n", i, o.reject.msg,
			            bad[i].msg);
			fail();
		}
	}
	/* value nesting over the limit rejects the span */
	char deep[4096] = "";
	strcat(deep, "{\"traceId\":\"" TRACE "\",\"spanId\":\"" ROOT "\",\"attributes\":"
	             "[{\"key\":\"d\",\"value\":");
	for (int i = 0; i < 40; i++)
		strcat(deep, "{\"arrayValue\":{\"values\":[");
	for (int i = 0; i < 40; i++)
		strcat(deep, "]}}");
	strcat(deep, "}]}");
	span_json(buf, sizeof(buf), deep);
	assert_int_equal(agt_otlp_traces_json(buf, strlen(buf), a, &o, &ei), KSK_OK);
	assert_int_equal(o.n_rejected, 1);
	assert_non_null(strstr(o.reject.msg, "nested deeper than 16"));
	/* a bad resource rejects its spans */
	const char *br = "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":3}]},"
	                 "\"scopeSpans\":[{\"spans\":[" GOOD "," GOOD "]}]}]}";
	assert_int_equal(agt_otlp_traces_json(br, strlen(br), a, &o, &ei), KSK_OK);
	assert_int_equal(o.n_spans, 0);
	assert_int_equal(o.n_rejected, 2);
	assert_string_equal(o.reject.msg, "resourceSpans[0].resource: key: must be a string");
	/* arena cap */
	ksk_arena *small;
	assert_int_equal(ksk_arena_create(NULL, 256, 512, &small), KSK_OK);
	blob f = load("otel-js_frontend_otlp-traces.json");
	ksk_err rc = agt_otlp_traces_json((char *)f.p, f.n, small, &o, &ei);
	assert_int_equal(rc, KSK_ELIMIT);
	assert_int_equal(o.n_spans, 0);
	free(f.p);
	ksk_arena_destroy(small);
	ksk_arena_destroy(a);
}

static void test_logs_json_errors(void **state)
{
	(void)state;
	ksk_arena *a = arena();
	ksk_errinfo ei;
	agt_otlp_out o;
	const char *j = "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":["
	                "{\"severityNumber\":30,\"body\":{\"stringValue\":\"x\"}},"
	                "{\"severityNumber\":\"SEVERITY_NUMBER_WARN\",\"body\":{\"stringValue\":\"y\"},"
	                "\"traceId\":\"\",\"spanId\":\"\"},"
	                "{\"traceId\":\"abc\"}]}]}]}";
	assert_int_equal(agt_otlp_logs_json(j, strlen(j), NOW, a, &o, &ei), KSK_OK);
	assert_int_equal(o.n_logs, 1);
	assert_int_equal(o.n_rejected, 2);
	assert_string_equal(o.reject.msg, "resourceLogs[0].scopeLogs[0].logRecords[0]: "
	                                  "severityNumber 30 out of range 0..24");
	assert_int_equal(o.logs[0].severity, 13);
	assert_false(o.logs[0].has_trace);
	assert_int_equal(o.logs[0].observed_ns, NOW);
	assert_int_equal(agt_otlp_logs_json("nope", 4, NOW, a, &o, &ei), KSK_EPARSE);
	ksk_arena_destroy(a);
}

static void test_zipkin_errors(void **state)
{
	(void)state;
	ksk_arena *a = arena();
	ksk_errinfo ei;
	agt_otlp_out o;
	assert_int_equal(agt_zipkin_json("{}", 2, a, &o, &ei), KSK_EPARSE);
	assert_string_equal(ei.msg, "zipkin: top level must be a list of spans");
	const char *z = "[{\"traceId\":\"463ac35c9f6413ad\",\"id\":\"72485a3953bb6124\","
	                "\"timestamp\":1000,\"duration\":5,\"debug\":true,\"shared\":true,"
	                "\"tags\":{\"error\":\"\",\"n\":1.5,\"b\":false,\"z\":null}},"
	                "{\"traceId\":\"463ac35c9f6413a\",\"id\":\"72485a3953bb6124\"},"
	                "{\"traceId\":\"463ac35c9f6413ad\"},"
	                "{\"traceId\":\"463ac35c9f6413ad\",\"id\":\"72485a3953bb6124\",\"kind\":\"LOCAL\"},"
	                "{\"traceId\":\"463ac35c9f6413ad\",\"id\":\"72485a3953bb6124\",\"tags\":{\"a\":[1]}}]";
	assert_int_equal(agt_zipkin_json(z, strlen(z), a, &o, &ei), KSK_OK);
	assert_int_equal(o.n_spans, 1);
	assert_int_equal(o.n_rejected, 4);
	assert_string_equal(o.reject.msg, "spans[1]: traceId: 15 hex digits, want 16 or 32");
	const ksk_span *s = &o.spans[0];
	assert_string_equal(hx(s->trace_id, 16), "0000000000000000463ac35c9f6413ad");
	assert_int_equal(s->kind, KSK_KIND_INTERNAL);
	assert_int_equal(s->status, KSK_STATUS_ERROR);
	assert_int_equal(s->status_msg.len, 0);
	assert_int_equal(s->start_ns, 1000000);
	assert_int_equal(s->end_ns, 1005000);
	assert_str(sattr(s->attrs, s->n_attrs, "n")->u.s, "1.5");
	assert_str(sattr(s->attrs, s->n_attrs, "b")->u.s, "false");
	assert_true(sattr(s->attrs, s->n_attrs, "zipkin.debug")->u.b);
	assert_true(sattr(s->attrs, s->n_attrs, "zipkin.shared")->u.b);
	assert_int_equal(o.n_resources, 1);
	assert_int_equal(o.resources[0].service.len, 0);
	ksk_arena_destroy(a);
}

/* ---- protobuf hostile input ---------------------------------------------- */

typedef struct pbw {
	uint8_t b[8192];
	size_t n;
} pbw;

static void pv(pbw *w, uint64_t v)
{
	while (v >= 0x80) {
		w->b[w->n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	w->b[w->n++] = (uint8_t)v;
}

static void ptag(pbw *w, uint32_t f, uint32_t wt)
{
	pv(w, (uint64_t)f << 3 | wt);
}

static void pbytes(pbw *w, uint32_t f, const void *p, size_t n)
{
	ptag(w, f, 2);
	pv(w, n);
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void pfix64(pbw *w, uint32_t f, uint64_t v)
{
	ptag(w, f, 1);
	for (int i = 0; i < 8; i++)
		w->b[w->n++] = (uint8_t)(v >> (8 * i));
}

/* request{resource_spans{scope_spans{spans: <span>}}} */
static void wrap_span(pbw *out, const pbw *span)
{
	pbw ss = {.n = 0}, rs = {.n = 0};
	pbytes(&ss, 2, span->b, span->n);
	pbytes(&rs, 2, ss.b, ss.n);
	out->n = 0;
	pbytes(out, 1, rs.b, rs.n);
}

static void test_protobuf_hostile(void **state)
{
	(void)state;
	ksk_arena *a = arena();
	ksk_errinfo ei;
	agt_otlp_out o;
	blob pb = load("otel-js_frontend_otlp-traces.pb");
	/* every truncation: no crash; the full body decodes 2 spans */
	for (size_t n = 0; n < pb.n; n++) {
		ksk_err rc = agt_otlp_traces_pb(pb.p, n, a, &o, &ei);
		assert_true(rc == KSK_OK || rc == KSK_EPARSE);
		if (rc == KSK_OK)
			assert_true(o.n_spans <= 2);
		ksk_arena_reset(a);
	}
	/* every single-byte corruption */
	uint8_t *c = malloc(pb.n);
	for (size_t i = 0; i < pb.n; i++) {
		for (int v = 0; v < 256; v += 17) {
			memcpy(c, pb.p, pb.n);
			c[i] = (uint8_t)v;
			ksk_err rc = agt_otlp_traces_pb(c, pb.n, a, &o, &ei);
			assert_true(rc == KSK_OK || rc == KSK_EPARSE);
			for (uint32_t k = 0; k < o.n_spans; k++)
				assert_true(ksk_utf8_valid(o.spans[k].name.ptr,
				                           o.spans[k].name.len));
			ksk_arena_reset(a);
		}
	}
	free(c);
	assert_int_equal(agt_otlp_traces_pb(pb.p, pb.n, a, &o, &ei), KSK_OK);
	assert_int_equal(o.n_spans, 2);
	free(pb.p);

	uint8_t tid[16], sid[8];
	memset(tid, 0x11, 16);
	memset(sid, 0x22, 8);
	pbw span = {.n = 0}, req;
	/* a valid minimal span with unknown fields of every wire type */
	pbytes(&span, 1, tid, 16);
	pbytes(&span, 2, sid, 8);
	pbytes(&span, 5, "n\xff", 2); /* invalid UTF-8 name: repaired */
	pfix64(&span, 7, 100);
	pfix64(&span, 8, 200);
	ptag(&span, 99, 0);
	pv(&span, 12345);
	pfix64(&span, 100, 1);
	ptag(&span, 101, 5);
	memcpy(span.b + span.n, "abcd", 4);
	span.n += 4;
	pbytes(&span, 102, "zz", 2);
	ptag(&span, 6, 0);
	pv(&span, 0xffffffffffffffffull); /* kind -1 as a 10-byte varint */
	ptag(&span, 6, 0);
	pv(&span, 3); /* last wins */
	wrap_span(&req, &span);
	assert_int_equal(agt_otlp_traces_pb(req.b, req.n, a, &o, &ei), KSK_OK);
	assert_int_equal(o.n_spans, 1);
	assert_int_equal(o.spans[0].kind, KSK_KIND_CLIENT);
	assert_int_equal(o.spans[0].name.len, 4);
	/* span-level problems reject the span with a precise reason */
	pbw s2 = {.n = 0};
	pbytes(&s2, 1, tid, 15);
	pbytes(&s2, 2, sid, 8);
	wrap_span(&req, &s2);
	assert_int_equal(agt_otlp_traces_pb(req.b, req.n, a, &o, &ei), KSK_OK);
	assert_int_equal(o.n_rejected, 1);
	assert_string_equal(o.reject.msg, "resource_spans[0].scope_spans[0].spans[0]: "
	                                  "trace_id: 15 bytes, want 16");
	s2.n = 0;
	pbytes(&s2, 1, tid, 16);
	ptag(&s2, 2, 0);
	pv(&s2, 1);
	wrap_span(&req, &s2);
	assert_int_equal(agt_otlp_traces_pb(req.b, req.n, a, &o, &ei), KSK_OK);
	assert_string_equal(o.reject.msg, "resource_spans[0].scope_spans[0].spans[0]: "
	                                  "span_id (field 2): wire type 0, want 2");
	/* AnyValue nesting bomb */
	pbw v = {.n = 0}, t = {.n = 0};
	pbytes(&v, 1, "x", 1);
	for (int i = 0; i < 40; i++) {
		t.n = 0;
		pbytes(&t, 1, v.b, v.n); /* ArrayValue{values: v} */
		v.n = 0;
		pbytes(&v, 5, t.b, t.n); /* AnyValue{array_value} */
	}
	pbw kv = {.n = 0};
	pbytes(&kv, 1, "k", 1);
	pbytes(&kv, 2, v.b, v.n);
	s2.n = 0;
	pbytes(&s2, 1, tid, 16);
	pbytes(&s2, 2, sid, 8);
	pbytes(&s2, 9, kv.b, kv.n);
	wrap_span(&req, &s2);
	assert_int_equal(agt_otlp_traces_pb(req.b, req.n, a, &o, &ei), KSK_OK);
	assert_int_equal(o.n_rejected, 1);
	assert_non_null(strstr(o.reject.msg, "nested deeper than 16"));
	/* framing errors at the request level fail the body */
	const uint8_t overlong[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	                            0xff, 0xff, 0xff, 0x01};
	assert_int_equal(agt_otlp_traces_pb(overlong, sizeof(overlong), a, &o, &ei),
	                 KSK_EPARSE);
	assert_string_equal(ei.msg, "request: field 1: truncated length");
	const uint8_t past[] = {0x0a, 0x7f, 0x00};
	assert_int_equal(agt_otlp_traces_pb(past, sizeof(past), a, &o, &ei), KSK_EPARSE);
	assert_string_equal(ei.msg, "request: field 1: length 127 past the end (1 left)");
	const uint8_t group[] = {0x0b};
	assert_int_equal(agt_otlp_traces_pb(group, 1, a, &o, &ei), KSK_EPARSE);
	const uint8_t zero[] = {0x00, 0x00};
	assert_int_equal(agt_otlp_traces_pb(zero, 2, a, &o, &ei), KSK_EPARSE);
	assert_int_equal(agt_otlp_traces_pb(NULL, 0, a, &o, &ei), KSK_OK);
	assert_int_equal(o.n_spans, 0);
	/* logs protobuf: truncations */
	blob lb = load("otel-js_backend_otlp-logs.pb");
	for (size_t n = 0; n < lb.n; n++) {
		ksk_err rc = agt_otlp_logs_pb(lb.p, n, NOW, a, &o, &ei);
		assert_true(rc == KSK_OK || rc == KSK_EPARSE);
		ksk_arena_reset(a);
	}
	free(lb.p);
	ksk_arena_destroy(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_traces_json_fixtures),
		cmocka_unit_test(test_traces_cross_json_gzip_protobuf),
		cmocka_unit_test(test_traces_cross_zipkin),
		cmocka_unit_test(test_zipkin_pyzipkin),
		cmocka_unit_test(test_logs_fixtures_json_and_pb),
		cmocka_unit_test(test_propagation_fixtures),
		cmocka_unit_test(test_traces_json_variants),
		cmocka_unit_test(test_traces_json_errors),
		cmocka_unit_test(test_logs_json_errors),
		cmocka_unit_test(test_zipkin_errors),
		cmocka_unit_test(test_protobuf_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
