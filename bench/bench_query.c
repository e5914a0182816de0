/*
 * bench_query.c : kiseki-query through its HTTP API (docs/BENCHMARKS.md).
 *
 * In one process: a collector core (temporary data directory, loopback
 * TCP) loaded with `background` generated spans (ksk_gen, 5 services) plus
 * three traces of 1K, 10K and 100K spans; kiseki-query's backend, API and
 * HTTP server on 127.0.0.1:0; libcurl as the client.
 *
 * Measured, medians of `reps` runs: GET /api/traces/{id} (Jaeger JSON) and
 * ?format=compact for each big trace (latency, bytes), beside the baseline
 * in the same run: fetching the same trace over the collector's query
 * protocol (col_client_fetch: NNG + decode, no reconstruction or JSON).
 * Then search latency: /api/search (summaries) and /api/traces (full
 * Jaeger traces) for one service, limit 20.
 *
 * Usage: bench_query [background_spans] [reps]
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "col_client.h"
#include "col_config.h"
#include "col_server.h"
#include "gen.h"
#include "kiseki/frame.h"
#include "kiseki/wire.h"
#include "qry_api.h"
#include "qry_fetch.h"
#include "qry_http.h"

#define MS 1000000ull

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static double median_ms(uint64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	return (double)v[n / 2] / 1e6;
}

static uint64_t g_seq;

static void die(const char *what, const ksk_errinfo *ei)
{
	fprintf(stderr, "bench_query: %s: %s\n", what, ei ? ei->msg : "");
	exit(1);
}

static void send_payload(col_client *c, ksk_frame_enc *fe, ksk_wire_enc *e, uint32_t records)
{
	size_t plen;
	const uint8_t *p = ksk_wire_enc_data(e, &plen);
	ksk_frame_meta m;
	memset(&m, 0, sizeof(m));
	m.agent_id[0] = 0xbe;
	m.seq = ++g_seq;
	m.record_count = records;
	m.compress = true;
	m.restore = ksk_wire_enc_restore(e);
	const uint8_t *f;
	size_t flen;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	if (ksk_frame_encode(fe, &m, p, plen, &f, &flen, &ei) != KSK_OK)
		die("encode", &ei);
	ksk_ack ack;
	if (col_client_send_frame(c, f, flen, &ack, &ei) != KSK_OK || ack.outcome != KSK_ACK_STORED)
		die("send", &ei);
}

/* one trace of n spans over 4 services (a wide, 4-level tree) */
static void send_big_trace(col_client *c, ksk_frame_enc *fe, const uint8_t tid[16], uint32_t n,
                           uint64_t t0)
{
	enum { PER = 10000 };
	static const char *const svcs[] = {"edge", "api", "db", "cache"};
	for (uint32_t base = 0; base < n; base += PER) {
		ksk_wire_enc *e;
		if (ksk_wire_enc_create(NULL, NULL, 0, &e) != KSK_OK)
			die("enc", NULL);
		uint32_t res[4];
		for (int k = 0; k < 4; k++) {
			ksk_attr at[2] = {{KSK_STR("service.name"), ksk_val_str(ksk_str_c(svcs[k]))},
			                  {KSK_STR("host.name"), ksk_val_str(KSK_STR("bench-host"))}};
			ksk_resource r;
			memset(&r, 0, sizeof(r));
			r.attrs = at;
			r.n_attrs = 2;
			ksk_wire_enc_resource(e, &r, &res[k]);
		}
		uint32_t cnt = 0;
		for (uint32_t i = base; i < n && i < base + PER; i++, cnt++) {
			uint64_t id = (uint64_t)i + 1;
			uint64_t parent = id == 1 ? 0 : (id <= 10 ? 1 : (id <= 200 ? id % 9 + 2 : id % 190 + 11));
			ksk_span s;
			memset(&s, 0, sizeof(s));
			memcpy(s.trace_id, tid, 16);
			for (int b = 0; b < 8; b++) {
				s.span_id[b] = (uint8_t)(id >> (56 - 8 * b));
				s.parent_id[b] = (uint8_t)(parent >> (56 - 8 * b));
			}
			s.has_parent = parent != 0;
			s.name = KSK_STR("SELECT item");
			s.kind = KSK_KIND_CLIENT;
			s.start_ns = t0 + id * 1000;
			s.end_ns = s.start_ns + 5 * MS;
			ksk_attr at[2] = {{KSK_STR("db.system"), ksk_val_str(KSK_STR("postgresql"))},
			                  {KSK_STR("rows"), ksk_val_int((int64_t)(id % 100))}};
			s.attrs = at;
			s.n_attrs = 2;
			s.resource = res[id % 4];
			if (ksk_wire_enc_span(e, &s) != KSK_OK)
				die("span", NULL);
		}
		send_payload(c, fe, e, cnt + 4);
		ksk_wire_enc_destroy(e);
	}
}

typedef struct sink {
	size_t bytes;
} sink;

static size_t sink_write(char *p, size_t sz, size_t n, void *ctx)
{
	(void)p;
	((sink *)ctx)->bytes += sz * n;
	return sz * n;
}

/* one GET; returns ns, sets *bytes; exits on a non-200 */
static uint64_t http_get(CURL *cu, const char *url, size_t *bytes)
{
	sink s = {0};
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, &s);
	uint64_t t = mono_ns();
	CURLcode rc = curl_easy_perform(cu);
	t = mono_ns() - t;
	long code = 0;
	curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &code);
	if (rc != CURLE_OK || code != 200) {
		fprintf(stderr, "bench_query: GET %s: %s, HTTP %ld\n", url, curl_easy_strerror(rc), code);
		exit(1);
	}
	*bytes = s.bytes;
	return t;
}

typedef struct counter {
	size_t spans;
} counter;

static void count_cb(void *ctx, const ksk_batch *b)
{
	((counter *)ctx)->spans += b->n_spans;
}

int main(int argc, char **argv)
{
	uint32_t background = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1000000;
	int reps = argc > 2 ? atoi(argv[2]) : 9;
	if (reps < 1)
		reps = 1;
	char dir[] = "/tmp/ksk-bench-query-XXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp", NULL);
	char *cargv[] = {"kiseki-collector", "--data-dir", dir, "--listen", "tcp://127.0.0.1:0",
	                 "--query-listen", "tcp://127.0.0.1:0"};
	col_config cfg;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	if (col_config_parse(7, cargv, &cfg, &ei) != KSK_OK)
		die("config", &ei);
	col_server *col;
	if (col_server_start(&cfg, &col, &ei) != KSK_OK)
		die("collector", &ei);
	col_client *c;
	if (col_client_open(col_server_ingest_url(col), 60000, &c, &ei) != KSK_OK)
		die("client", &ei);
	ksk_frame_enc *fe;
	if (ksk_frame_enc_create(NULL, 1, &fe) != KSK_OK)
		die("frame enc", NULL);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t t0 = ((uint64_t)now.tv_sec - 3600) * 1000000000ull;

	/* background data */
	ksk_gen *g;
	ksk_gen_create(7, 5, &g);
	ksk_wire_enc *e;
	ksk_wire_enc_create(NULL, NULL, 0, &e);
	uint64_t tl = mono_ns();
	for (uint32_t sent = 0; sent < background; sent += 10000) {
		if (ksk_gen_batch(g, e, 10000, 2000, t0 + (uint64_t)sent * 20000) != KSK_OK)
			die("gen", NULL);
		size_t plen;
		ksk_wire_enc_data(e, &plen);
		send_payload(c, fe, e, 10000 + 2000 + ksk_wire_enc_resources(e));
	}
	ksk_wire_enc_destroy(e);
	ksk_gen_destroy(g);
	static const uint32_t sizes[3] = {1000, 10000, 100000};
	uint8_t tids[3][16];
	for (int k = 0; k < 3; k++) {
		memset(tids[k], 0x5a, 16);
		tids[k][0] = (uint8_t)(0x10 + k);
		send_big_trace(c, fe, tids[k], sizes[k], t0 + 1800ull * 1000000000ull);
	}
	col_client_close(c);
	ksk_frame_enc_destroy(fe);
	printf("store: %u background spans + traces of 1K, 10K, 100K spans, loaded in %.1f s\n",
	       background, (double)(mono_ns() - tl) / 1e9);

	const char *urls[] = {col_server_query_url(col)};
	qry_backend_opts bo = {.urls = urls, .n_urls = 1, .timeout_ms = 60000};
	qry_backend *b;
	qry_api *api;
	qry_http *http;
	if (qry_backend_create(&bo, &b, &ei) != KSK_OK)
		die("backend", &ei);
	qry_api_opts ao = {.backend = b};
	if (qry_api_create(&ao, &api, &ei) != KSK_OK)
		die("api", &ei);
	qry_http_opts ho = {.listen = "127.0.0.1:0"};
	if (qry_http_start(&ho, api, &http, &ei) != KSK_OK)
		die("http", &ei);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *cu = curl_easy_init();
	col_client *qc;
	if (col_client_open(col_server_query_url(col), 60000, &qc, &ei) != KSK_OK)
		die("query client", &ei);

	printf("\n%-8s %-26s %10s %12s %10s\n", "spans", "request", "median ms", "bytes",
	       "vs fetch");
	uint64_t *v = calloc((size_t)reps, sizeof(uint64_t));
	for (int k = 0; k < 3; k++) {
		char hex[33], url[256];
		ksk_hex_encode(tids[k], 16, hex);
		/* baseline: the collector protocol alone */
		for (int r = 0; r < reps; r++) {
			ksk_qreq q;
			ksk_qreq_init(&q, KSK_Q_TRACE);
			memcpy(q.trace_id, tids[k], 16);
			q.has_trace_id = true;
			counter cnt = {0};
			uint64_t t = mono_ns();
			if (col_client_fetch(qc, &q, count_cb, &cnt, &ei) != KSK_OK || cnt.spans != sizes[k])
				die("fetch", &ei);
			v[r] = mono_ns() - t;
		}
		double base = median_ms(v, reps);
		printf("%-8u %-26s %10.2f %12s %10s\n", sizes[k], "collector fetch (baseline)", base,
		       "-", "1.00x");
		static const char *const fmts[2] = {"", "?format=compact"};
		static const char *const names[2] = {"GET /api/traces/{id}", "  ?format=compact"};
		for (int f = 0; f < 2; f++) {
			snprintf(url, sizeof(url), "http://127.0.0.1:%u/api/traces/%s%s",
			         (unsigned)qry_http_port(http), hex, fmts[f]);
			size_t bytes = 0;
			for (int r = 0; r < reps; r++)
				v[r] = http_get(cu, url, &bytes);
			double ms = median_ms(v, reps);
			printf("%-8u %-26s %10.2f %12zu %9.2fx\n", sizes[k], names[f], ms, bytes,
			       ms / base);
		}
	}
	static const char *const searches[2][2] = {
		{"/api/search?service=gateway&limit=20&lookback=48h", "GET /api/search (summaries)"},
		{"/api/traces?service=gateway&limit=20&lookback=48h", "GET /api/traces (20 traces)"}};
	printf("\n%-36s %10s %12s\n", "search (limit 20)", "median ms", "bytes");
	for (int s = 0; s < 2; s++) {
		char url[256];
		snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)qry_http_port(http),
		         searches[s][0]);
		size_t bytes = 0;
		for (int r = 0; r < reps; r++)
			v[r] = http_get(cu, url, &bytes);
		printf("%-36s %10.2f %12zu\n", searches[s][1], median_ms(v, reps), bytes);
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("\npeak RSS of the whole process (collector + query + client): %.1f MiB\n",
	       (double)ru.ru_maxrss / 1024.0);
	free(v);
	col_client_close(qc);
	curl_easy_cleanup(cu);
	curl_global_cleanup();
	qry_http_stop(http);
	qry_api_destroy(api);
	qry_backend_destroy(b);
	col_server_stop(col);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_query: could not remove %s\n", dir);
	return 0;
}
