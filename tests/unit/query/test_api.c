/*
 * test_api.c : kiseki-query's HTTP API (qry_api.h) against a real
 * collector core started in-process (inproc:// addresses, a temporary
 * data directory). Every Jaeger and Zipkin endpoint is checked against the
 * documented shapes (tracing-anchors.md section 2, docs/API.md), field by
 * field, plus the Kiseki extensions, the error cases (400 naming the
 * parameter, 404, 405), a collector that does not answer (the others'
 * answer plus an error naming it), and a 100K-span trace streamed in
 * bounded pieces.
 *
 * The data: trace A crosses gateway (host-a) -> orders (host-b), whose
 * clock runs 40 ms ahead; orders has an error span; two logs belong to
 * trace A. Trace B is a single inventory span.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "col_client.h"
#include "col_config.h"
#include "col_server.h"
#include "kiseki/frame.h"
#include "kiseki/wire.h"
#include "qry_api.h"
#include "qry_fetch.h"

#define MS 1000000ull

static char g_dir[256];
static col_server *g_col;
static qry_backend *g_b;
static qry_api *g_api;
static uint64_t g_t0;
static uint64_t g_seq;
static char g_intake[128], g_query[128];

static const uint8_t TA[16] = {0xa1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t TB[16] = {0xb2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t TBIG[16] = {0xc3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static void sid(uint8_t out[8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (56 - 8 * i));
}

static void send_enc(ksk_wire_enc *enc, uint32_t records)
{
	ksk_frame_enc *fe;
	assert_int_equal(ksk_frame_enc_create(NULL, 1, &fe), KSK_OK);
	size_t plen;
	const uint8_t *p = ksk_wire_enc_data(enc, &plen);
	ksk_frame_meta m;
	memset(&m, 0, sizeof(m));
	m.agent_id[0] = 0x42;
	m.seq = ++g_seq;
	m.created_ns = g_t0;
	m.record_count = records;
	m.compress = true;
	const uint8_t *f;
	size_t flen;
	assert_int_equal(ksk_frame_encode(fe, &m, p, plen, &f, &flen, NULL), KSK_OK);
	col_client *c;
	assert_int_equal(col_client_open(g_intake, 20000, &c, NULL), KSK_OK);
	ksk_ack ack;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	ksk_err rc = col_client_send_frame(c, f, flen, &ack, &ei);
	if (rc != KSK_OK)
		fprintf(stderr, "send: %s\n", ei.msg);
	assert_int_equal(rc, KSK_OK);
	if (ack.outcome != KSK_ACK_STORED)
		fprintf(stderr, "ack: %s\n", ack.msg);
	assert_int_equal(ack.outcome, KSK_ACK_STORED);
	col_client_close(c);
	ksk_frame_enc_destroy(fe);
}

static uint32_t add_res(ksk_wire_enc *e, const char *svc, const char *host)
{
	static ksk_attr at[2];
	at[0].key = KSK_STR("service.name");
	at[0].value = ksk_val_str(ksk_str_c(svc));
	at[1].key = KSK_STR("host.name");
	at[1].value = ksk_val_str(ksk_str_c(host));
	ksk_resource r;
	memset(&r, 0, sizeof(r));
	r.attrs = at;
	r.n_attrs = 2;
	uint32_t idx;
	assert_int_equal(ksk_wire_enc_resource(e, &r, &idx), KSK_OK);
	return idx;
}

static void add_span(ksk_wire_enc *e, const uint8_t *tid, uint64_t id, uint64_t parent,
                     const char *name, ksk_span_kind kind, uint64_t start, uint64_t end,
                     uint32_t res, bool error)
{
	ksk_span s;
	memset(&s, 0, sizeof(s));
	memcpy(s.trace_id, tid, 16);
	sid(s.span_id, id);
	if (parent) {
		sid(s.parent_id, parent);
		s.has_parent = true;
	}
	s.name = ksk_str_c(name);
	s.kind = kind;
	s.start_ns = start;
	s.end_ns = end;
	s.resource = res;
	s.flags = 1;
	ksk_attr at[1];
	at[0].key = KSK_STR("http.route");
	at[0].value = ksk_val_str(ksk_str_c(name));
	s.attrs = at;
	s.n_attrs = 1;
	if (error) {
		s.status = KSK_STATUS_ERROR;
		s.status_msg = KSK_STR("connection reset");
	}
	assert_int_equal(ksk_wire_enc_span(e, &s), KSK_OK);
}

static void add_log(ksk_wire_enc *e, const uint8_t *tid, uint64_t span, uint64_t t,
                    const char *body, uint8_t sev, uint32_t res)
{
	ksk_log l;
	memset(&l, 0, sizeof(l));
	l.time_ns = t;
	l.observed_ns = t;
	l.severity = sev;
	l.body = ksk_val_str(ksk_str_c(body));
	memcpy(l.trace_id, tid, 16);
	l.has_trace = true;
	sid(l.span_id, span);
	l.has_span = true;
	l.resource = res;
	assert_int_equal(ksk_wire_enc_log(e, &l), KSK_OK);
}

static int setup(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof(g_dir), "/tmp/ksk-qapi-XXXXXX");
	assert_non_null(mkdtemp(g_dir));
	snprintf(g_intake, sizeof(g_intake), "inproc://qapi-in-%d", (int)getpid());
	snprintf(g_query, sizeof(g_query), "inproc://qapi-q-%d", (int)getpid());
	char *argv[] = {"kiseki-collector", "--data-dir", g_dir, "--listen", g_intake,
	                "--query-listen", g_query};
	col_config cfg;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	assert_int_equal(col_config_parse(7, argv, &cfg, &ei), KSK_OK);
	assert_int_equal(col_server_start(&cfg, &g_col, &ei), KSK_OK);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	g_t0 = ((uint64_t)ts.tv_sec - 600) * 1000000000ull; /* 10 minutes ago */

	ksk_wire_enc *e;
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &e), KSK_OK);
	uint32_t gw = add_res(e, "gateway", "host-a");
	uint32_t od = add_res(e, "orders", "host-b");
	uint32_t inv = add_res(e, "inventory", "host-c");
	const uint64_t sk = 40 * MS; /* host-b's clock is 40 ms ahead */
	add_span(e, TA, 1, 0, "GET /checkout", KSK_KIND_SERVER, g_t0, g_t0 + 100 * MS, gw, false);
	add_span(e, TA, 2, 1, "POST orders", KSK_KIND_CLIENT, g_t0 + 10 * MS, g_t0 + 70 * MS, gw,
	         false);
	add_span(e, TA, 3, 2, "POST /orders", KSK_KIND_SERVER, g_t0 + 12 * MS + sk,
	         g_t0 + 68 * MS + sk, od, false);
	add_span(e, TA, 4, 3, "INSERT order", KSK_KIND_CLIENT, g_t0 + 20 * MS + sk,
	         g_t0 + 60 * MS + sk, od, true);
	add_span(e, TB, 9, 0, "GET /stock", KSK_KIND_SERVER, g_t0 + 5 * MS, g_t0 + 8 * MS, inv,
	         false);
	add_log(e, TA, 1, g_t0 + 1 * MS, "checkout started", 9, gw);
	add_log(e, TA, 4, g_t0 + 30 * MS + sk, "insert failed: connection reset", 17, od);
	send_enc(e, 10);
	ksk_wire_enc_destroy(e);

	const char *urls[] = {g_query};
	qry_backend_opts bo = {.urls = urls, .n_urls = 1, .timeout_ms = 20000};
	assert_int_equal(qry_backend_create(&bo, &g_b, &ei), KSK_OK);
	qry_api_opts ao = {.backend = g_b};
	assert_int_equal(qry_api_create(&ao, &g_api, &ei), KSK_OK);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	qry_api_destroy(g_api);
	qry_backend_destroy(g_b);
	col_server_stop(g_col);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* ---- calling the API ------------------------------------------------------------------ */

typedef struct answer {
	int status;
	char ctype[64];
	char *body;
	size_t len;
	size_t pieces, max_piece;
	json_t *json;
} answer;

static void answer_free(answer *a)
{
	json_decref(a->json);
	free(a->body);
}

/* GET path?k=v&k=v (values unescaped: tests use plain values) */
static answer call_api(qry_api *api, const char *method, const char *path, ...)
{
	qry_param ps[32];
	size_t n = 0;
	va_list ap;
	va_start(ap, path);
	const char *k;
	while ((k = va_arg(ap, const char *)) != NULL && n < 32) {
		ps[n].key = k;
		ps[n].value = va_arg(ap, const char *);
		n++;
	}
	va_end(ap);
	qry_request rq = {method, path, ps, n};
	qry_response rs;
	qry_response_init(&rs);
	qry_api_handle(api, &rq, &rs);
	answer a;
	memset(&a, 0, sizeof(a));
	a.status = rs.status;
	snprintf(a.ctype, sizeof(a.ctype), "%s", rs.content_type);
	size_t cap = 0;
	do {
		if (rs.body.len > a.max_piece)
			a.max_piece = rs.body.len;
		a.pieces++;
		if (a.len + rs.body.len + 1 > cap) {
			cap = (a.len + rs.body.len + 1) * 2;
			a.body = realloc(a.body, cap);
			assert_non_null(a.body);
		}
		if (rs.body.len)
			memcpy(a.body + a.len, rs.body.data, rs.body.len);
		a.len += rs.body.len;
	} while (qry_response_more(&rs));
	if (!a.body)
		a.body = calloc(1, 1);
	a.body[a.len] = '\0';
	qry_response_fini(&rs);
	if (strncmp(a.ctype, "application/json", 16) == 0) {
		json_error_t je;
		a.json = json_loadb(a.body, a.len, 0, &je);
		if (!a.json)
			fprintf(stderr, "invalid JSON (%s) at %d: %.300s\n", je.text, je.position,
			        a.body);
		assert_non_null(a.json);
	}
	return a;
}

#define GET(...) call_api(g_api, "GET", __VA_ARGS__, NULL)

static void hex(const uint8_t *id, size_t n, char *out)
{
	ksk_hex_encode(id, n, out);
}

/* the Jaeger envelope: data + total, limit, offset, errors */
static json_t *envelope(const answer *a)
{
	assert_true(json_is_object(a->json));
	assert_non_null(json_object_get(a->json, "data"));
	assert_true(json_is_integer(json_object_get(a->json, "total")));
	assert_true(json_is_integer(json_object_get(a->json, "limit")));
	assert_true(json_is_integer(json_object_get(a->json, "offset")));
	json_t *err = json_object_get(a->json, "errors");
	assert_true(err && (json_is_null(err) || json_is_array(err)));
	return json_object_get(a->json, "data");
}

static const char *first_error(const answer *a)
{
	json_t *e = json_array_get(json_object_get(a->json, "errors"), 0);
	return e ? json_string_value(json_object_get(e, "msg")) : NULL;
}

static bool str_in(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
		return true;
	return false;
}

static json_t *span_by_id(json_t *spans, const char *id, const char *key)
{
	size_t i;
	json_t *v;
	json_array_foreach(spans, i, v) if (strcmp(json_string_value(json_object_get(v, key)), id) ==
	                                    0) return v;
	return NULL;
}

/* ---- Jaeger ------------------------------------------------------------------------------ */

static void test_jaeger_services_operations(void **state)
{
	(void)state;
	answer a = GET("/api/services");
	assert_int_equal(a.status, 200);
	json_t *d = envelope(&a);
	assert_int_equal(json_array_size(d), 3);
	assert_string_equal(json_string_value(json_array_get(d, 0)), "gateway");
	assert_int_equal(json_integer_value(json_object_get(a.json, "total")), 3);
	answer_free(&a);

	a = GET("/api/services/gateway/operations");
	d = envelope(&a);
	assert_true(str_in(d, "GET /checkout"));
	assert_true(str_in(d, "POST orders"));
	assert_int_equal(json_array_size(d), 2);
	answer_free(&a);

	a = GET("/api/operations", "service", "gateway", "spanKind", "server");
	d = envelope(&a);
	assert_int_equal(json_array_size(d), 1);
	json_t *o = json_array_get(d, 0);
	assert_string_equal(json_string_value(json_object_get(o, "name")), "GET /checkout");
	assert_string_equal(json_string_value(json_object_get(o, "spanKind")), "server");
	answer_free(&a);

	a = GET("/api/operations");
	assert_int_equal(a.status, 400);
	assert_non_null(strstr(first_error(&a), "service"));
	answer_free(&a);
	a = GET("/api/operations", "service", "gateway", "spanKind", "sideways");
	assert_int_equal(a.status, 400);
	assert_non_null(strstr(first_error(&a), "spanKind"));
	answer_free(&a);
}

static void check_jaeger_span_shape(json_t *s)
{
	static const char *const keys[] = {"traceID", "spanID", "flags", "operationName",
	                                   "references", "startTime", "duration", "tags",
	                                   "logs", "processID", "warnings"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_non_null(json_object_get(s, keys[i]));
	assert_int_equal(strlen(json_string_value(json_object_get(s, "traceID"))), 32);
	assert_int_equal(strlen(json_string_value(json_object_get(s, "spanID"))), 16);
	assert_true(json_is_integer(json_object_get(s, "startTime")));
	assert_true(json_is_integer(json_object_get(s, "duration")));
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(s, "tags"), i, t)
	{
		assert_true(json_is_string(json_object_get(t, "key")));
		const char *ty = json_string_value(json_object_get(t, "type"));
		assert_non_null(ty);
		assert_true(strcmp(ty, "string") == 0 || strcmp(ty, "bool") == 0 ||
		            strcmp(ty, "int64") == 0 || strcmp(ty, "float64") == 0 ||
		            strcmp(ty, "binary") == 0);
		assert_non_null(json_object_get(t, "value"));
	}
}

static void test_jaeger_trace(void **state)
{
	(void)state;
	char id[33];
	hex(TA, 16, id);
	char path[80];
	snprintf(path, sizeof(path), "/api/traces/%s", id);
	answer a = GET(path);
	assert_int_equal(a.status, 200);
	json_t *d = envelope(&a);
	assert_int_equal(json_array_size(d), 1);
	json_t *tr = json_array_get(d, 0);
	assert_string_equal(json_string_value(json_object_get(tr, "traceID")), id);
	json_t *spans = json_object_get(tr, "spans");
	assert_int_equal(json_array_size(spans), 4);
	size_t i;
	json_t *s;
	json_array_foreach(spans, i, s) check_jaeger_span_shape(s);
	/* processes: one per service, each span points at one */
	json_t *procs = json_object_get(tr, "processes");
	assert_int_equal(json_object_size(procs), 2);
	json_t *srv = span_by_id(spans, "0000000000000003", "spanID");
	assert_non_null(srv);
	json_t *p = json_object_get(procs, json_string_value(json_object_get(srv, "processID")));
	assert_string_equal(json_string_value(json_object_get(p, "serviceName")), "orders");
	json_t *ptags = json_object_get(p, "tags");
	assert_string_equal(json_string_value(json_object_get(json_array_get(ptags, 0), "key")),
	                    "host.name");
	/* references: CHILD_OF the client span */
	json_t *ref = json_array_get(json_object_get(srv, "references"), 0);
	assert_string_equal(json_string_value(json_object_get(ref, "refType")), "CHILD_OF");
	assert_string_equal(json_string_value(json_object_get(ref, "spanID")), "0000000000000002");
	/* the 40 ms skew of host-b is removed, with a warning on the span */
	json_t *cli = span_by_id(spans, "0000000000000002", "spanID");
	json_int_t cs = json_integer_value(json_object_get(cli, "startTime"));
	json_int_t ss = json_integer_value(json_object_get(srv, "startTime"));
	json_int_t cd = json_integer_value(json_object_get(cli, "duration"));
	json_int_t sd = json_integer_value(json_object_get(srv, "duration"));
	assert_true(ss >= cs && ss + sd <= cs + cd);
	assert_true(json_is_array(json_object_get(srv, "warnings")));
	/* the error span has error=true */
	json_t *err = span_by_id(spans, "0000000000000004", "spanID");
	bool found = false;
	json_array_foreach(json_object_get(err, "tags"), i, s) if (
		strcmp(json_string_value(json_object_get(s, "key")), "error") == 0 &&
		json_is_true(json_object_get(s, "value"))) found = true;
	assert_true(found);
	answer_free(&a);

	/* raw=true: times as recorded, no warnings */
	a = GET(path, "raw", "true");
	spans = json_object_get(json_array_get(envelope(&a), 0), "spans");
	srv = span_by_id(spans, "0000000000000003", "spanID");
	assert_int_equal(json_integer_value(json_object_get(srv, "startTime")),
	                 (json_int_t)((g_t0 + 52 * MS) / 1000));
	assert_true(json_is_null(json_object_get(srv, "warnings")));
	answer_free(&a);

	/* a 64-bit ID is left-padded; unknown -> 404 with the trace ID */
	a = GET("/api/traces/0123456789abcdef");
	assert_int_equal(a.status, 404);
	json_t *e0 = json_array_get(json_object_get(a.json, "errors"), 0);
	assert_string_equal(json_string_value(json_object_get(e0, "traceID")),
	                    "00000000000000000123456789abcdef");
	answer_free(&a);
	a = GET("/api/traces/xyz");
	assert_int_equal(a.status, 400);
	answer_free(&a);
	a = GET(path, "raw", "maybe");
	assert_int_equal(a.status, 400);
	assert_non_null(strstr(first_error(&a), "raw"));
	answer_free(&a);
}

static void test_jaeger_search(void **state)
{
	(void)state;
	char start[32], end[32];
	snprintf(start, sizeof(start), "%llu", (unsigned long long)((g_t0 - 60000 * MS) / 1000));
	snprintf(end, sizeof(end), "%llu", (unsigned long long)((g_t0 + 60000 * MS) / 1000));
	answer a = GET("/api/traces", "service", "gateway", "start", start, "end", end, "limit",
	               "10");
	assert_int_equal(a.status, 200);
	json_t *d = envelope(&a);
	assert_int_equal(json_array_size(d), 1);
	assert_int_equal(json_array_size(json_object_get(json_array_get(d, 0), "spans")), 4);
	answer_free(&a);

	/* span-level minDuration (Jaeger semantics): a 100 ms gateway span */
	a = GET("/api/traces", "service", "gateway", "minDuration", "90ms");
	assert_int_equal(json_array_size(envelope(&a)), 1);
	answer_free(&a);
	a = GET("/api/traces", "service", "gateway", "minDuration", "0.2s");
	assert_int_equal(json_array_size(envelope(&a)), 0);
	answer_free(&a);
	/* orders only has 56 ms and 40 ms spans even though its trace is 100 ms */
	a = GET("/api/traces", "service", "orders", "minDuration", "60ms");
	assert_int_equal(json_array_size(envelope(&a)), 0);
	answer_free(&a);
	a = GET("/api/traces", "service", "orders", "operation", "INSERT order");
	assert_int_equal(json_array_size(envelope(&a)), 1);
	answer_free(&a);
	/* tags: tag=k:v and tags={json} */
	a = GET("/api/traces", "service", "gateway", "tag", "http.route:GET /checkout");
	assert_int_equal(json_array_size(envelope(&a)), 1);
	answer_free(&a);
	a = GET("/api/traces", "service", "gateway", "tags", "{\"http.route\":\"nope\"}");
	assert_int_equal(json_array_size(envelope(&a)), 0);
	answer_free(&a);

	/* errors name the parameter */
	static const char *const bad[][2] = {{"limit", "x"},          {"limit", "0"},
	                                     {"minDuration", "fast"}, {"start", "-5"},
	                                     {"tags", "{oops"},       {"tag", "nocolon"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = GET("/api/traces", "service", "gateway", bad[i][0], bad[i][1]);
		assert_int_equal(a.status, 400);
		assert_non_null(strstr(first_error(&a), bad[i][0]));
		answer_free(&a);
	}
	a = GET("/api/traces");
	assert_int_equal(a.status, 400);
	assert_non_null(strstr(first_error(&a), "service"));
	answer_free(&a);

	/* multi-get: found ones in data, missing ones in errors with traceID */
	char ida[33], idb[33];
	hex(TA, 16, ida);
	hex(TB, 16, idb);
	a = GET("/api/traces", "traceID", ida, "traceID", idb, "traceID", "feed");
	d = envelope(&a);
	assert_int_equal(json_array_size(d), 2);
	json_t *e0 = json_array_get(json_object_get(a.json, "errors"), 0);
	assert_string_equal(json_string_value(json_object_get(e0, "traceID")),
	                    "0000000000000000000000000000feed");
	answer_free(&a);

	/* Kiseki: summaries with trace-level filters */
	a = GET("/api/search", "service", "gateway", "minTraceDuration", "50ms", "start", start);
	d = envelope(&a);
	assert_int_equal(json_array_size(d), 1);
	json_t *s0 = json_array_get(d, 0);
	assert_string_equal(json_string_value(json_object_get(s0, "traceID")), ida);
	assert_int_equal(json_integer_value(json_object_get(s0, "spans")), 4);
	assert_int_equal(json_integer_value(json_object_get(s0, "errors")), 1);
	/* summaries come from the stored (unadjusted) times: host-b's 40 ms
	 * skew makes the trace 108 ms long here */
	assert_int_equal(json_integer_value(json_object_get(s0, "duration")), 108000);
	assert_string_equal(json_string_value(json_object_get(s0, "rootService")), "gateway");
	answer_free(&a);
	a = GET("/api/search", "service", "gateway", "minSpans", "5");
	assert_int_equal(json_array_size(envelope(&a)), 0);
	answer_free(&a);
	a = GET("/api/search", "errors", "true");
	assert_int_equal(json_array_size(envelope(&a)), 1);
	answer_free(&a);
}

static void test_jaeger_dependencies(void **state)
{
	(void)state;
	char end[32];
	snprintf(end, sizeof(end), "%llu", (unsigned long long)(g_t0 / MS + 60000));
	answer a = GET("/api/dependencies", "endTs", end, "lookback", "3600000");
	assert_int_equal(a.status, 200);
	json_t *d = envelope(&a);
	assert_int_equal(json_array_size(d), 1);
	json_t *e = json_array_get(d, 0);
	assert_string_equal(json_string_value(json_object_get(e, "parent")), "gateway");
	assert_string_equal(json_string_value(json_object_get(e, "child")), "orders");
	assert_int_equal(json_integer_value(json_object_get(e, "callCount")), 1);
	answer_free(&a);
	a = GET("/api/dependencies", "endTs", "soon");
	assert_int_equal(a.status, 400);
	assert_non_null(strstr(first_error(&a), "endTs"));
	answer_free(&a);
}

/* ---- Kiseki extensions ------------------------------------------------------------------------ */

static void test_trace_logs_stats_compact(void **state)
{
	(void)state;
	char id[33], path[120];
	hex(TA, 16, id);
	snprintf(path, sizeof(path), "/api/traces/%s/logs", id);
	answer a = GET(path);
	json_t *d = envelope(&a);
	assert_int_equal(json_array_size(d), 2);
	json_t *l0 = json_array_get(d, 0), *l1 = json_array_get(d, 1);
	static const char *const keys[] = {"timestamp", "service", "host", "severity",
	                                   "body", "traceID", "spanID", "attributes"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_non_null(json_object_get(l0, keys[i]));
	assert_string_equal(json_string_value(json_object_get(l0, "body")), "checkout started");
	assert_string_equal(json_string_value(json_object_get(l1, "severity")), "ERROR");
	assert_string_equal(json_string_value(json_object_get(l1, "host")), "host-b");
	assert_true(json_integer_value(json_object_get(l0, "timestamp")) <
	            json_integer_value(json_object_get(l1, "timestamp")));
	answer_free(&a);
	a = GET(path, "spanID", "0000000000000004");
	assert_int_equal(json_array_size(envelope(&a)), 1);
	answer_free(&a);
	a = GET(path, "spanID", "nothex");
	assert_int_equal(a.status, 400);
	answer_free(&a);

	snprintf(path, sizeof(path), "/api/traces/%s/critical-path", id);
	a = GET(path);
	d = envelope(&a);
	assert_true(json_array_size(d) >= 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(d, 0), "spanID")),
	                    "0000000000000001");
	answer_free(&a);

	snprintf(path, sizeof(path), "/api/traces/%s/stats", id);
	a = GET(path);
	d = envelope(&a);
	assert_int_equal(json_integer_value(json_object_get(d, "spans")), 4);
	assert_int_equal(json_integer_value(json_object_get(d, "errors")), 1);
	assert_int_equal(json_integer_value(json_object_get(d, "depth")), 4);
	assert_int_equal(json_integer_value(json_object_get(d, "logs")), 2);
	assert_true(json_array_size(json_object_get(d, "operations")) == 4);
	answer_free(&a);

	snprintf(path, sizeof(path), "/api/traces/%s", id);
	a = GET(path, "format", "compact");
	d = envelope(&a);
	json_t *tr = json_array_get(d, 0);
	json_t *spans = json_object_get(tr, "spans");
	assert_int_equal(json_array_size(spans), 4);
	/* depth-first order: parents before children, depth +1 */
	for (size_t i = 0; i < 4; i++) {
		json_t *s = json_array_get(spans, i);
		json_int_t par = json_integer_value(json_object_get(s, "parent"));
		assert_true(par < (json_int_t)i);
		if (par >= 0)
			assert_int_equal(json_integer_value(json_object_get(s, "depth")),
			                 json_integer_value(json_object_get(
				                 json_array_get(spans, (size_t)par), "depth")) + 1);
	}
	assert_true(json_is_true(json_object_get(json_array_get(spans, 0), "critical")));
	assert_true(json_is_true(json_object_get(json_array_get(spans, 3), "error")));
	assert_int_equal(json_integer_value(json_object_get(tr, "duration")), 100000);
	json_t *hosts = json_object_get(tr, "hosts");
	assert_int_equal(json_array_size(hosts), json_array_size(json_object_get(tr, "services")));
	assert_true(str_in(hosts, "host-a") && str_in(hosts, "host-b"));
	answer_free(&a);
	a = GET(path, "format", "xml");
	assert_int_equal(a.status, 400);
	assert_non_null(strstr(first_error(&a), "format"));
	answer_free(&a);
}

static void test_log_search_and_stats(void **state)
{
	(void)state;
	answer a = GET("/api/logs", "service", "orders");
	json_t *d = envelope(&a);
	assert_int_equal(json_array_size(d), 1);
	answer_free(&a);
	a = GET("/api/logs", "q", "fail(ed|ure)");
	assert_int_equal(json_array_size(envelope(&a)), 1);
	answer_free(&a);
	a = GET("/api/logs", "severity", "warn");
	assert_int_equal(json_array_size(envelope(&a)), 1);
	answer_free(&a);
	a = GET("/api/logs", "limit", "1");
	d = envelope(&a);
	assert_int_equal(json_array_size(d), 1);
	/* newest first */
	assert_string_equal(json_string_value(json_object_get(json_array_get(d, 0), "service")),
	                    "orders");
	answer_free(&a);
	char id[33];
	hex(TA, 16, id);
	a = GET("/api/logs", "traceID", id);
	assert_int_equal(json_array_size(envelope(&a)), 2);
	answer_free(&a);
	a = GET("/api/logs", "q", "(unclosed");
	assert_int_equal(a.status, 400);
	assert_non_null(strstr(first_error(&a), "q"));
	answer_free(&a);
	a = GET("/api/logs", "limit", "100001");
	assert_int_equal(a.status, 400);
	answer_free(&a);
	a = GET("/api/logs", "severity", "loud");
	assert_int_equal(a.status, 400);
	assert_non_null(strstr(first_error(&a), "severity"));
	answer_free(&a);

	/* a repeated search sees what was stored since (no stale cache) */
	{
		ksk_wire_enc *e;
		assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &e), KSK_OK);
		uint32_t od = add_res(e, "orders", "host-b");
		add_log(e, TB, 9, g_t0 + 90 * MS, "late arrival", 9, od);
		send_enc(e, 2);
		ksk_wire_enc_destroy(e);
		a = GET("/api/logs", "service", "orders");
		assert_int_equal(json_array_size(envelope(&a)), 2);
		answer_free(&a);
	}

	a = GET("/api/logs/stats");
	d = envelope(&a);
	assert_int_equal(json_array_size(d), 3); /* gateway INFO, orders ERROR, orders INFO */
	json_t *c = json_array_get(d, 0);
	assert_string_equal(json_string_value(json_object_get(c, "service")), "gateway");
	assert_string_equal(json_string_value(json_object_get(c, "severity")), "INFO");
	assert_int_equal(json_integer_value(json_object_get(c, "count")), 1);
	answer_free(&a);
}


/* ---- Zipkin ---------------------------------------------------------------------------------- */

static void test_zipkin(void **state)
{
	(void)state;
	answer a = GET("/api/v2/services");
	assert_true(json_is_array(a.json));
	assert_int_equal(json_array_size(a.json), 3);
	answer_free(&a);
	a = GET("/api/v2/spans", "serviceName", "orders");
	assert_true(str_in(a.json, "POST /orders"));
	assert_true(str_in(a.json, "INSERT order"));
	answer_free(&a);
	a = GET("/api/v2/spans");
	assert_int_equal(a.status, 400);
	answer_free(&a);
	a = GET("/api/v2/remoteServices", "serviceName", "gateway");
	assert_int_equal(json_array_size(a.json), 1);
	assert_string_equal(json_string_value(json_array_get(a.json, 0)), "orders");
	answer_free(&a);

	char id[33], path[80];
	hex(TA, 16, id);
	snprintf(path, sizeof(path), "/api/v2/trace/%s", id);
	a = GET(path);
	assert_int_equal(a.status, 200);
	assert_int_equal(json_array_size(a.json), 4);
	json_t *srv = span_by_id(a.json, "0000000000000003", "id");
	assert_string_equal(json_string_value(json_object_get(srv, "traceId")), id);
	assert_string_equal(json_string_value(json_object_get(srv, "parentId")),
	                    "0000000000000002");
	assert_string_equal(json_string_value(json_object_get(srv, "kind")), "SERVER");
	assert_true(json_is_integer(json_object_get(srv, "timestamp")));
	assert_true(json_integer_value(json_object_get(srv, "duration")) >= 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(srv, "localEndpoint"),
	                                                      "serviceName")),
	                    "orders");
	assert_true(json_is_object(json_object_get(srv, "tags")));
	json_t *root = span_by_id(a.json, "0000000000000001", "id");
	assert_null(json_object_get(root, "parentId"));
	json_t *err = span_by_id(a.json, "0000000000000004", "id");
	assert_string_equal(json_string_value(json_object_get(json_object_get(err, "tags"), "error")),
	                    "connection reset");
	answer_free(&a);
	a = GET("/api/v2/trace/00000000000000000000000000000bad");
	assert_int_equal(a.status, 404);
	assert_non_null(strstr(a.body, "not found"));
	answer_free(&a);

	char idb[33], many[80];
	hex(TB, 16, idb);
	snprintf(many, sizeof(many), "%s,%s", id, idb);
	a = GET("/api/v2/traceMany", "traceIds", many);
	assert_int_equal(json_array_size(a.json), 2);
	assert_true(json_is_array(json_array_get(a.json, 0)));
	answer_free(&a);
	a = GET("/api/v2/traceMany", "traceIds", "zz");
	assert_int_equal(a.status, 400);
	answer_free(&a);

	char end[32];
	snprintf(end, sizeof(end), "%llu", (unsigned long long)(g_t0 / MS + 60000));
	a = GET("/api/v2/traces", "serviceName", "orders", "endTs", end, "lookback", "3600000");
	assert_int_equal(json_array_size(a.json), 1);
	assert_int_equal(json_array_size(json_array_get(a.json, 0)), 4);
	answer_free(&a);
	/* Zipkin durations are microseconds */
	a = GET("/api/v2/traces", "serviceName", "gateway", "minDuration", "99000", "endTs", end);
	assert_int_equal(json_array_size(a.json), 1);
	answer_free(&a);
	a = GET("/api/v2/traces", "serviceName", "gateway", "minDuration", "101000", "endTs", end);
	assert_int_equal(json_array_size(a.json), 0);
	answer_free(&a);
	a = GET("/api/v2/traces", "annotationQuery", "http.route=INSERT order", "endTs", end);
	assert_int_equal(json_array_size(a.json), 1);
	answer_free(&a);

	a = GET("/api/v2/dependencies", "endTs", end, "lookback", "3600000");
	assert_int_equal(json_array_size(a.json), 1);
	json_t *e = json_array_get(a.json, 0);
	assert_string_equal(json_string_value(json_object_get(e, "parent")), "gateway");
	assert_int_equal(json_integer_value(json_object_get(e, "callCount")), 1);
	assert_true(json_is_integer(json_object_get(e, "errorCount")));
	answer_free(&a);
	a = GET("/api/v2/dependencies");
	assert_int_equal(a.status, 400);
	answer_free(&a);
}

static void test_errors(void **state)
{
	(void)state;
	answer a = GET("/api/nothing");
	assert_int_equal(a.status, 404);
	answer_free(&a);
	a = call_api(g_api, "POST", "/api/services", NULL);
	assert_int_equal(a.status, 405);
	answer_free(&a);
	a = GET("/index.html");
	assert_int_equal(a.status, 404); /* not an API path: the HTTP layer serves files */
	answer_free(&a);
}

/* one dead collector beside the live one: the answer plus an error naming it */
static void test_collector_down(void **state)
{
	(void)state;
	const char *urls[] = {g_query, "inproc://nobody-listens-here"};
	qry_backend_opts bo = {.urls = urls, .n_urls = 2, .timeout_ms = 300};
	qry_backend *b;
	qry_api *api;
	assert_int_equal(qry_backend_create(&bo, &b, NULL), KSK_OK);
	qry_api_opts ao = {.backend = b};
	assert_int_equal(qry_api_create(&ao, &api, NULL), KSK_OK);
	answer a = call_api(api, "GET", "/api/services", NULL);
	assert_int_equal(a.status, 200);
	assert_int_equal(json_array_size(envelope(&a)), 3);
	assert_non_null(strstr(first_error(&a), "nobody-listens-here"));
	answer_free(&a);
	char id[33], path[80];
	hex(TA, 16, id);
	snprintf(path, sizeof(path), "/api/traces/%s", id);
	a = call_api(api, "GET", path, NULL);
	assert_int_equal(a.status, 200);
	assert_int_equal(json_array_size(json_object_get(json_array_get(envelope(&a), 0), "spans")),
	                 4);
	assert_non_null(strstr(first_error(&a), "nobody-listens-here"));
	answer_free(&a);
	qry_api_destroy(api);
	qry_backend_destroy(b);

	/* only dead collectors: 502 */
	const char *dead[] = {"inproc://nobody-listens-here"};
	bo.urls = dead;
	bo.n_urls = 1;
	assert_int_equal(qry_backend_create(&bo, &b, NULL), KSK_OK);
	ao.backend = b;
	assert_int_equal(qry_api_create(&ao, &api, NULL), KSK_OK);
	a = call_api(api, "GET", "/api/services", NULL);
	assert_int_equal(a.status, 502);
	answer_free(&a);
	qry_api_destroy(api);
	qry_backend_destroy(b);
}

/* a 100K-span trace: streamed in pieces of about 64 KiB */
static void test_big_trace(void **state)
{
	(void)state;
	enum { N = 100000, PER = 10000 };
	for (uint32_t f = 0; f < N / PER; f++) {
		ksk_wire_enc *e;
		assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &e), KSK_OK);
		uint32_t r = add_res(e, "bulk", "host-z");
		for (uint32_t i = 0; i < PER; i++) {
			uint64_t id = (uint64_t)f * PER + i + 1;
			/* a wide tree: every span under one of the first 100 */
			uint64_t parent = id == 1 ? 0 : (id <= 100 ? 1 : (id % 99) + 2);
			add_span(e, TBIG, id, parent, "work", KSK_KIND_INTERNAL, g_t0 + id * 1000,
			         g_t0 + id * 1000 + 500, r, false);
		}
		send_enc(e, PER + 1);
		ksk_wire_enc_destroy(e);
	}
	char id[33], path[80];
	hex(TBIG, 16, id);
	snprintf(path, sizeof(path), "/api/traces/%s", id);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	answer a = GET(path, "format", "compact");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(a.status, 200);
	json_t *tr = json_array_get(envelope(&a), 0);
	assert_int_equal(json_array_size(json_object_get(tr, "spans")), N);
	fprintf(stderr, "  100K-span trace (compact): %zu bytes in %zu pieces (largest %zu), "
	        "%.0f ms\n", a.len, a.pieces, a.max_piece,
	        (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	assert_true(a.pieces > 10);
	assert_true(a.max_piece < 128 * 1024);
	answer_free(&a);
	a = GET(path);
	json_t *spans = json_object_get(json_array_get(envelope(&a), 0), "spans");
	assert_int_equal(json_array_size(spans), N);
	assert_true(a.max_piece < 128 * 1024);
	answer_free(&a);
}

/* the query protocol under the API: every chunk a client reads comes from
 * the answer its first chunk started, even when the same request is asked
 * again meanwhile; an unknown result is refused, not mixed */
static void test_chunk_results(void **state)
{
	(void)state;
	col_client *c;
	assert_int_equal(col_client_open(g_query, 20000, &c, NULL), KSK_OK);
	ksk_qreq q;
	ksk_qreq_init(&q, KSK_Q_TRACE);
	memcpy(q.trace_id, TBIG, 16);
	q.has_trace_id = true;
	ksk_buf b;
	ksk_buf_init(&b, NULL, 0);
	col_reply r1, r2, r3;
	assert_int_equal(col_client_request(c, &q, &b, NULL), KSK_OK);
	assert_int_equal(col_reply_parse(b.data, b.len, &r1), KSK_OK);
	assert_true(r1.ok && r1.next > 0 && r1.result != 0);
	assert_int_equal(col_client_request(c, &q, &b, NULL), KSK_OK);
	assert_int_equal(col_reply_parse(b.data, b.len, &r2), KSK_OK);
	assert_true(r2.ok && r2.result != r1.result); /* a fresh answer */
	q.cursor = r1.next;
	q.result = r1.result;
	assert_int_equal(col_client_request(c, &q, &b, NULL), KSK_OK);
	assert_int_equal(col_reply_parse(b.data, b.len, &r3), KSK_OK);
	assert_true(r3.ok && r3.next > r1.next && r3.result == r1.result);
	q.result = r2.result + 1000;
	assert_int_equal(col_client_request(c, &q, &b, NULL), KSK_OK);
	assert_int_equal(col_reply_parse(b.data, b.len, &r3), KSK_OK);
	assert_false(r3.ok);
	assert_int_equal(r3.code, KSK_ENOTFOUND);
	/* a one-chunk answer carries no result and is not kept */
	ksk_qreq_init(&q, KSK_Q_TRACE);
	memcpy(q.trace_id, TA, 16);
	q.has_trace_id = true;
	assert_int_equal(col_client_request(c, &q, &b, NULL), KSK_OK);
	assert_int_equal(col_reply_parse(b.data, b.len, &r1), KSK_OK);
	assert_true(r1.ok && r1.next == 0 && r1.result == 0);
	ksk_buf_fini(&b);
	col_client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jaeger_services_operations),
		cmocka_unit_test(test_jaeger_trace),
		cmocka_unit_test(test_jaeger_search),
		cmocka_unit_test(test_jaeger_dependencies),
		cmocka_unit_test(test_trace_logs_stats_compact),
		cmocka_unit_test(test_log_search_and_stats),
		cmocka_unit_test(test_zipkin),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_collector_down),
		cmocka_unit_test(test_big_trace),
		cmocka_unit_test(test_chunk_results),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
