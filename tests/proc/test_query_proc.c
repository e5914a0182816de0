/*
 * test_query_proc.c : the real kiseki-collector, kiseki-agent and
 * kiseki-query binaries together. Spans from the OpenTelemetry JS SDK
 * fixtures (two services, a remote parent) and OTLP logs arrive at the
 * agent over OTLP/HTTP, a service log line carrying the trace ID is
 * tailed; kiseki-query must answer the cross-service trace with its tree
 * and every correlated log, over the Jaeger and Zipkin APIs; it is
 * stateless (kill -9 and restart answer the same); bearer-token auth;
 * the UI files and no path traversal.
 */
#include <curl/curl.h>
#include <jansson.h>

#include "proc_util.h"

#define TRACE_ID "261a29797f8ccd0c40e1f4324600ecf2"

typedef struct http_ans {
	long status;
	char *body;
	size_t len;
	char ctype[128];
} http_ans;

static size_t ans_write(char *p, size_t sz, size_t n, void *ctx)
{
	http_ans *a = ctx;
	char *nb = realloc(a->body, a->len + sz * n + 1);
	if (!nb)
		return 0;
	a->body = nb;
	memcpy(a->body + a->len, p, sz * n);
	a->len += sz * n;
	a->body[a->len] = '\0';
	return sz * n;
}

/* GET or POST (body from a file) */
static http_ans http_do(const char *url, const char *post_file, const char *ctype,
                        const char *token)
{
	http_ans a;
	memset(&a, 0, sizeof(a));
	a.body = calloc(1, 1);
	CURL *c = curl_easy_init();
	assert_non_null(c);
	struct curl_slist *h = NULL;
	char *data = NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ans_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	if (post_file) {
		FILE *f = fopen(post_file, "rb");
		assert_non_null(f);
		fseek(f, 0, SEEK_END);
		long n = ftell(f);
		fseek(f, 0, SEEK_SET);
		data = malloc((size_t)n);
		assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
		fclose(f);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, n);
		char hd[128];
		snprintf(hd, sizeof(hd), "Content-Type: %s", ctype);
		h = curl_slist_append(h, hd);
	}
	if (token) {
		char hd[256];
		snprintf(hd, sizeof(hd), "Authorization: Bearer %s", token);
		h = curl_slist_append(h, hd);
	}
	if (h)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	CURLcode rc = curl_easy_perform(c);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
		char *ct = NULL;
		curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
		snprintf(a.ctype, sizeof(a.ctype), "%s", ct ? ct : "");
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(data);
	return a;
}

static kh_proc *query_start(env *e, const char *extra_opt, const char *extra_val,
                            char *base, size_t cap)
{
	const char *argv[12] = {QUERY_PATH, "--collector", e->query, "--listen", "127.0.0.1:0",
	                        "--ui-dir", UI_DIR};
	int n = 7;
	if (extra_opt) {
		argv[n++] = extra_opt;
		argv[n++] = extra_val;
	}
	argv[n] = NULL;
	kh_spawn_opts o;
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.name = "query";
	kh_proc *p;
	kh_msg m;
	if (kh_proc_spawn(&p, &o, &m) != 0)
		fail_msg("spawn query: %s", m.text);
	const char *nm, *addr;
	if (kh_proc_wait_ready(p, 30000, &nm, &addr, &m) != 0)
		fail_msg("query not ready: %s", m.text);
	assert_string_equal(nm, "kiseki-query");
	snprintf(base, cap, "%s", addr);
	return p;
}

static json_t *get_json(const char *base, const char *path, long want)
{
	char url[512];
	snprintf(url, sizeof(url), "%s%s", base, path);
	http_ans a = http_do(url, NULL, NULL, NULL);
	if (a.status != want)
		fail_msg("GET %s: HTTP %ld (want %ld): %.300s", path, a.status, want, a.body);
	json_error_t je;
	json_t *j = json_loadb(a.body, a.len, 0, &je);
	if (!j)
		fail_msg("GET %s: not JSON (%s): %.300s", path, je.text, a.body);
	free(a.body);
	return j;
}

static void post_fixture(env *e, const char *path, const char *file)
{
	char url[256], f[700];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", e->otlp_port, path);
	snprintf(f, sizeof(f), "%s/%s", FIXTURES_DIR, file);
	http_ans a = http_do(url, f, "application/json", NULL);
	if (a.status != 200)
		fail_msg("POST %s %s: HTTP %ld: %s", path, file, a.status, a.body);
	free(a.body);
}

/* waits until the trace has `spans` spans and `logs` logs */
static void wait_trace(const char *base, size_t spans, size_t logs)
{
	char url[512];
	size_t got_s = 0, got_l = 0;
	for (int waited = 0; waited < 30000; waited += 200) {
		snprintf(url, sizeof(url), "%s/api/traces/%s", base, TRACE_ID);
		http_ans a = http_do(url, NULL, NULL, NULL);
		json_t *j = a.status == 200 ? json_loadb(a.body, a.len, 0, NULL) : NULL;
		free(a.body);
		got_s = j ? json_array_size(json_object_get(
			            json_array_get(json_object_get(j, "data"), 0), "spans"))
		          : 0;
		json_decref(j);
		snprintf(url, sizeof(url), "%s/api/traces/%s/logs", base, TRACE_ID);
		a = http_do(url, NULL, NULL, NULL);
		j = a.status == 200 ? json_loadb(a.body, a.len, 0, NULL) : NULL;
		free(a.body);
		got_l = j ? json_array_size(json_object_get(j, "data")) : 0;
		json_decref(j);
		if (got_s >= spans && got_l >= logs)
			return;
		sleep_ms(200);
	}
	fail_msg("trace %s: %zu spans (want %zu), %zu logs (want %zu)", TRACE_ID, got_s, spans,
	         got_l, logs);
}

static void check_trace(const char *base)
{
	json_t *j = get_json(base, "/api/traces/" TRACE_ID, 200);
	json_t *tr = json_array_get(json_object_get(j, "data"), 0);
	json_t *spans = json_object_get(tr, "spans");
	assert_int_equal(json_array_size(spans), 3);
	/* the backend SERVER span's parent is the frontend CLIENT span */
	size_t i;
	json_t *s;
	bool linked = false;
	json_array_foreach(spans, i, s)
	{
		if (strcmp(json_string_value(json_object_get(s, "spanID")), "62bb6c1bacbc09c7") != 0)
			continue;
		json_t *r = json_array_get(json_object_get(s, "references"), 0);
		linked = strcmp(json_string_value(json_object_get(r, "spanID")), "42a4d8882d9d2a52") == 0;
		const char *pid = json_string_value(json_object_get(s, "processID"));
		json_t *p = json_object_get(json_object_get(tr, "processes"), pid);
		assert_string_equal(json_string_value(json_object_get(p, "serviceName")), "backend");
	}
	assert_true(linked);
	json_decref(j);

	j = get_json(base, "/api/traces/" TRACE_ID "?format=compact", 200);
	json_t *cs = json_object_get(json_array_get(json_object_get(j, "data"), 0), "spans");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(cs, 2), "depth")), 2);
	json_decref(j);

	/* one timeline: the two OTLP log records and the tailed line */
	j = get_json(base, "/api/traces/" TRACE_ID "/logs", 200);
	json_t *logs = json_object_get(j, "data");
	assert_int_equal(json_array_size(logs), 3);
	bool tailed = false;
	json_array_foreach(logs, i, s) if (strstr(json_string_value(json_object_get(s, "body")),
	                                         "charge declined by the bank")) tailed = true;
	assert_true(tailed);
	json_decref(j);

	j = get_json(base, "/api/v2/trace/" TRACE_ID, 200);
	assert_int_equal(json_array_size(j), 3);
	json_decref(j);
	j = get_json(base, "/api/services", 200);
	json_t *d = json_object_get(j, "data");
	/* services with spans (svc only wrote logs) */
	assert_int_equal(json_array_size(d), 2);
	json_decref(j);
	j = get_json(base, "/api/traces/00000000000000000000000000000bad", 404);
	json_decref(j);
	j = get_json(base, "/api/traces?service=frontend&limit=abc", 400);
	json_decref(j);
}

static void test_query_end_to_end(void **state)
{
	(void)state;
	env e;
	env_new(&e, "qry-e2e");
	col_start(&e);
	agt_start(&e, "app.log", NULL);
	post_fixture(&e, "/v1/traces", "otel-js_frontend_otlp-traces.json");
	post_fixture(&e, "/v1/traces", "otel-js_backend_otlp-traces.json");
	post_fixture(&e, "/v1/logs", "otel-js_frontend_otlp-logs.json");
	post_fixture(&e, "/v1/logs", "otel-js_backend_otlp-logs.json");
	FILE *f = open_log(&e, "app.log", "w");
	fprintf(f, "2026-11-29T10:00:00.000Z ERROR charge declined by the bank "
	           "traceparent=00-" TRACE_ID "-62bb6c1bacbc09c7-01\n");
	fclose(f);

	char base[128];
	kh_proc *q = query_start(&e, NULL, NULL, base, sizeof(base));
	wait_trace(base, 3, 3);
	check_trace(base);

	/* stateless: kill -9 and a new process answers the same */
	kh_exit ex;
	kh_msg m;
	kh_proc_signal(q, SIGKILL, &m);
	kh_proc_wait_exit(q, 10000, true, &ex, &m);
	kh_proc_destroy(q);
	q = query_start(&e, NULL, NULL, base, sizeof(base));
	check_trace(base);

	/* the UI's files; no way out of --ui-dir */
	char url[512];
	snprintf(url, sizeof(url), "%s/", base);
	http_ans a = http_do(url, NULL, NULL, NULL);
	assert_int_equal(a.status, 200);
	assert_non_null(strstr(a.ctype, "text/html"));
	free(a.body);
	snprintf(url, sizeof(url), "%s/trace/" TRACE_ID, base);
	a = http_do(url, NULL, NULL, NULL);
	assert_int_equal(a.status, 200);
	free(a.body);
	static const char *const evil[] = {"/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
	                                   "/..%2f..%2f..%2fetc%2fpasswd", "/etc/passwd",
	                                   "/app.js/../../../etc/passwd"};
	for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		snprintf(url, sizeof(url), "%s%s", base, evil[i]);
		a = http_do(url, NULL, NULL, NULL);
		assert_null(strstr(a.body, "root:"));
		free(a.body);
	}
	proc_stop(&q);

	/* bearer token */
	char tok[700];
	snprintf(tok, sizeof(tok), "%s/token", e.dir);
	f = fopen(tok, "w");
	fputs("s3cret-token\n", f);
	fclose(f);
	q = query_start(&e, "--auth-token-file", tok, base, sizeof(base));
	snprintf(url, sizeof(url), "%s/api/services", base);
	a = http_do(url, NULL, NULL, NULL);
	assert_int_equal(a.status, 401);
	free(a.body);
	a = http_do(url, NULL, NULL, "wrong");
	assert_int_equal(a.status, 401);
	free(a.body);
	a = http_do(url, NULL, NULL, "s3cret-token");
	assert_int_equal(a.status, 200);
	free(a.body);
	proc_stop(&q);

	proc_stop(&e.agt);
	proc_stop(&e.col);
	env_free(&e);
}

#ifdef DEMO_SVC_PATH
/* issue 6 end to end: C services instrumented with libkiseki-trace ->
 * agent (native intake + tailed logs) -> collector -> query: the trace
 * comes back with the right cross-service tree and its logs. */
static kh_proc *svc_start(env *e, const char *role, const char *listen, const char *call1,
                          const char *call2, const char *requests)
{
	char log[700], intake[700];
	snprintf(log, sizeof(log), "%s/%s.log", e->logs, role);
	snprintf(intake, sizeof(intake), "ipc://%s/intake.sock", e->dir);
	const char *argv[20] = {DEMO_SVC_PATH, "--role", role, "--log", log, "--agent", intake};
	int n = 7;
	if (listen) {
		argv[n++] = "--listen";
		argv[n++] = listen;
	}
	if (call1) {
		argv[n++] = "--call";
		argv[n++] = call1;
	}
	if (call2) {
		argv[n++] = "--call";
		argv[n++] = call2;
	}
	if (requests) {
		argv[n++] = "--requests";
		argv[n++] = requests;
		argv[n++] = "--drive";
		argv[n++] = "20";
	}
	argv[n] = NULL;
	return spawn_ready(argv, role);
}

static void test_demo_shop_end_to_end(void **state)
{
	(void)state;
	env e;
	env_new(&e, "qry-demo");
	col_start(&e);
	char intake[700], t1[700], t2[700], t3[700], t4[700];
	snprintf(intake, sizeof(intake), "ipc://%s/intake.sock", e.dir);
	snprintf(t1, sizeof(t1), "%s/gateway.log=gateway", e.logs);
	snprintf(t2, sizeof(t2), "%s/orders.log=orders", e.logs);
	snprintf(t3, sizeof(t3), "%s/payments.log=payments", e.logs);
	snprintf(t4, sizeof(t4), "%s/inventory.log=inventory", e.logs);
	const char *extra[] = {"--intake", intake, "--tail", t1, "--tail", t2, "--tail", t3,
	                       "--tail", t4, NULL};
	agt_start(&e, NULL, extra);
	char base[128];
	kh_proc *q = query_start(&e, NULL, NULL, base, sizeof(base));
	uint16_t p[3];
	kh_msg m;
	char u[3][64], c1[80], c2[80], c3[80];
	for (int i = 0; i < 3; i++) {
		assert_int_equal(kh_free_port(&p[i], &m), 0);
		snprintf(u[i], sizeof(u[i]), "tcp://127.0.0.1:%u", p[i]);
	}
	snprintf(c1, sizeof(c1), "payments=%s", u[0]);
	snprintf(c2, sizeof(c2), "inventory=%s", u[1]);
	snprintf(c3, sizeof(c3), "orders=%s", u[2]);
	kh_proc *pay = svc_start(&e, "payments", u[0], NULL, NULL, NULL);
	kh_proc *inv = svc_start(&e, "inventory", u[1], NULL, NULL, NULL);
	kh_proc *ord = svc_start(&e, "orders", u[2], c1, NULL, NULL);
	kh_proc *gw = svc_start(&e, "gateway", NULL, c3, c2, "40");
	kh_exit ex;
	assert_int_equal(kh_proc_wait_exit(gw, 60000, false, &ex, &m), 0);
	assert_int_equal(ex.code, 0);
	kh_proc_destroy(gw);

	/* 40 checkouts: each a trace of 12 spans over 4 services (11 when the
	 * card is declined: no INSERT) */
	json_t *j = NULL;
	size_t n = 0;
	for (int waited = 0; waited < 30000; waited += 300) {
		json_decref(j);
		j = get_json(base, "/api/search?service=gateway&limit=100&lookback=1h", 200);
		n = json_array_size(json_object_get(j, "data"));
		size_t full = 0, i;
		json_t *t;
		json_array_foreach(json_object_get(j, "data"), i, t) full +=
			(json_integer_value(json_object_get(t, "spans")) == 11 +
			 (json_integer_value(json_object_get(t, "errors")) == 0)) &&
			json_integer_value(json_object_get(t, "logs")) >= 4;
		if (n == 40 && full == 40)
			break;
		sleep_ms(300);
	}
	assert_int_equal(n, 40);
	const char *id = json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0),
	                                                   "traceID"));
	char path[160];
	snprintf(path, sizeof(path), "/api/traces/%s?format=compact", id);
	json_t *tr = get_json(base, path, 200);
	json_t *d = json_array_get(json_object_get(tr, "data"), 0);
	json_t *spans = json_object_get(d, "spans");
	json_t *svcs = json_object_get(d, "services");
	assert_true(json_array_size(spans) >= 11);
	/* the expected tree, depth-first, children by start (both shapes
	 * share these first ten) */
	static const struct { int depth; const char *svc, *name; } want[] = {
		{0, "gateway", "GET /checkout"},   {1, "gateway", "GET /stock"},
		{2, "inventory", "GET /stock"},    {3, "inventory", "SELECT stock"},
		{1, "gateway", "POST /orders"},    {2, "orders", "POST /orders"},
		{3, "orders", "validate cart"},    {3, "orders", "POST /charge"},
		{4, "payments", "POST /charge"},   {5, "payments", "fraud check"},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		json_t *s = json_array_get(spans, i);
		const char *sv = json_string_value(
			json_array_get(svcs, (size_t)json_integer_value(json_object_get(s, "service"))));
		if (json_integer_value(json_object_get(s, "depth")) != want[i].depth ||
		    strcmp(sv, want[i].svc) != 0 ||
		    strcmp(json_string_value(json_object_get(s, "name")), want[i].name) != 0)
			fail_msg("span %zu: depth %lld %s %s, want %d %s %s", i,
			         (long long)json_integer_value(json_object_get(s, "depth")), sv,
			         json_string_value(json_object_get(s, "name")), want[i].depth,
			         want[i].svc, want[i].name);
	}
	json_decref(tr);
	/* its logs, from four services' files, linked by trace ID */
	snprintf(path, sizeof(path), "/api/traces/%s/logs", id);
	tr = get_json(base, path, 200);
	json_t *logs = json_object_get(tr, "data");
	assert_true(json_array_size(logs) >= 4);
	size_t i;
	json_t *l;
	bool with_span = true;
	json_array_foreach(logs, i, l) with_span &= json_is_string(json_object_get(l, "spanID"));
	assert_true(with_span);
	json_decref(tr);
	json_decref(j);
	/* some checkouts failed: the error is on the root and in a log */
	j = get_json(base, "/api/search?service=gateway&errors=true&lookback=1h&limit=100", 200);
	assert_true(json_array_size(json_object_get(j, "data")) >= 1);
	json_decref(j);
	proc_stop(&ord);
	proc_stop(&inv);
	proc_stop(&pay);
	proc_stop(&q);
	proc_stop(&e.agt);
	proc_stop(&e.col);
	env_free(&e);
}
#endif

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_end_to_end),
#ifdef DEMO_SVC_PATH
		cmocka_unit_test(test_demo_shop_end_to_end),
#endif
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
