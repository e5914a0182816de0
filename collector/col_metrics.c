/*
 * col_metrics.c : Prometheus text and /health over libmicrohttpd.
 *
 * Data in: GET requests. Data out: the render callback's text.
 * Only GET /metrics and GET /health exist; anything else is 404, other
 * methods 405. microhttpd runs one internal polling thread with a 10 s
 * connection timeout and a 64-connection limit.
 * The collector renderer reads counters from col_store_stats_get and
 * col_ingest_stats_get (both thread-safe snapshots).
 */
#include "col_metrics.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

struct col_metrics {
	struct MHD_Daemon *d;
	col_render_fn render;
	void *ctx;
	uint16_t port;
};

ksk_err col_metrics_parse_hostport(const char *s, uint32_t *ip_be, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	if (!colon)
		return KSK_EINVAL;
	char host[64];
	size_t hl = (size_t)(colon - s);
	if (hl >= sizeof(host))
		return KSK_EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (hl == 0 || strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	struct in_addr a;
	if (inet_pton(AF_INET, host, &a) != 1)
		return KSK_EINVAL;
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || p < 0 || p > 65535)
		return KSK_EINVAL;
	*ip_be = a.s_addr;
	*port = (uint16_t)p;
	return KSK_OK;
}

static enum MHD_Result col_metrics_handler(void *cls, struct MHD_Connection *c,
                                           const char *url, const char *method,
                                           const char *version,
                                           const char *upload_data,
                                           size_t *upload_size, void **con_cls)
{
	col_metrics *m = cls;
	(void)version;
	(void)upload_data;
	(void)upload_size;
	(void)con_cls;
	int status;
	ksk_buf body;
	ksk_buf_init(&body, NULL, 64u << 20);
	const char *ctype = "text/plain; version=0.0.4; charset=utf-8";
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		status = 405;
		ksk_buf_append(&body, "method not allowed\n", 19);
	} else if (strcmp(url, "/metrics") == 0 || strcmp(url, "/health") == 0) {
		status = m->render(m->ctx, url, &body);
		if (strcmp(url, "/health") == 0)
			ctype = "application/json";
	} else {
		status = 404;
		ksk_buf_append(&body, "not found: try /metrics or /health\n", 35);
	}
	struct MHD_Response *r = MHD_create_response_from_buffer(
		body.len, body.len ? body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
	ksk_buf_fini(&body);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", ctype);
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

ksk_err col_metrics_start(const char *hostport, col_render_fn render, void *ctx,
                          col_metrics **out, ksk_errinfo *ei)
{
	uint32_t ip;
	uint16_t port;
	if (col_metrics_parse_hostport(hostport, &ip, &port) != KSK_OK)
		return ksk_errinfo_set(ei, KSK_EINVAL,
		                       "metrics: bad address '%s' (want HOST:PORT)", hostport);
	col_metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "metrics: no memory");
	m->render = render;
	m->ctx = ctx;
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = ip;
	m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
	                        port, NULL, NULL, col_metrics_handler, m,
	                        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	                        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
	                        MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
	                        MHD_OPTION_END);
	if (!m->d) {
		free(m);
		return ksk_errinfo_set(ei, KSK_ENET, "metrics: cannot listen on %s", hostport);
	}
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
	m->port = info ? info->port : port;
	*out = m;
	return KSK_OK;
}

uint16_t col_metrics_port(const col_metrics *m)
{
	return m->port;
}

void col_metrics_stop(col_metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->d);
	free(m);
}

static void col_put(ksk_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void col_put(ksk_buf *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		ksk_buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void col_counter(ksk_buf *b, const char *name, const char *help, uint64_t v)
{
	col_put(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name,
	        name, (unsigned long long)v);
}

static void col_gauge(ksk_buf *b, const char *name, const char *help, uint64_t v)
{
	col_put(b, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name,
	        name, (unsigned long long)v);
}

int col_metrics_render_collector(void *ctx, const char *path, ksk_buf *out)
{
	col_report *r = ctx;
	col_store_stats s;
	col_store_stats_get(r->store, &s);
	if (strcmp(path, "/health") == 0) {
		col_put(out, "{\"status\":\"ok\",\"wal_bytes\":%llu,\"segments\":%llu}\n",
		        (unsigned long long)s.wal_bytes,
		        (unsigned long long)s.segments_sealed);
		return 200;
	}
	col_ingest_stats is;
	memset(&is, 0, sizeof(is));
	if (r->ingest)
		col_ingest_stats_get(r->ingest, &is);
	col_counter(out, "kiseki_collector_frames_received_total", "Batch frames received.", is.frames);
	col_counter(out, "kiseki_collector_frame_bytes_total", "Bytes of batch frames received.", is.bytes);
	col_counter(out, "kiseki_collector_batches_accepted_total", "Batches stored (acked stored).", is.stored);
	col_counter(out, "kiseki_collector_batches_duplicate_total", "Resent batches already stored (acked duplicate).", is.duplicate);
	col_counter(out, "kiseki_collector_batches_busy_total", "Batches answered busy (not stored, retry).", is.busy);
	col_counter(out, "kiseki_collector_spans_accepted_total", "Spans in stored batches.", is.spans);
	col_counter(out, "kiseki_collector_logs_accepted_total", "Log records in stored batches.", is.logs);
	col_put(out, "# HELP kiseki_collector_batches_rejected_total Batches rejected, by reason.\n"
	             "# TYPE kiseki_collector_batches_rejected_total counter\n");
	for (int c = 0; c < KSK_ERR_COUNT_; c++)
		if (is.rejected_by_code[c])
			col_put(out, "kiseki_collector_batches_rejected_total{reason=\"%s\"} %llu\n",
			        ksk_errname((ksk_err)c), (unsigned long long)is.rejected_by_code[c]);
	col_put(out, "kiseki_collector_batches_rejected_total{reason=\"all\"} %llu\n",
	        (unsigned long long)is.rejected);
	col_counter(out, "kiseki_collector_store_batches_total", "Batches appended to the store.", s.batches_stored);
	col_counter(out, "kiseki_collector_store_spans_total", "Spans appended to the store.", s.spans_stored);
	col_counter(out, "kiseki_collector_store_logs_total", "Logs appended to the store.", s.logs_stored);
	col_gauge(out, "kiseki_collector_bytes_stored", "Bytes of live segment files and the open WAL.", s.bytes_stored);
	col_gauge(out, "kiseki_collector_segments", "Live sealed segments.", s.segments_sealed);
	col_gauge(out, "kiseki_collector_wal_bytes", "Bytes in the open write-ahead segment.", s.wal_bytes);
	col_counter(out, "kiseki_collector_segments_dropped_total", "Sealed segments dropped by retention.", s.segments_dropped);
	col_counter(out, "kiseki_collector_segments_quarantined_total", "Sealed segments quarantined as corrupt.", s.segments_quarantined);
	col_counter(out, "kiseki_collector_fsync_total", "fsync calls on the write-ahead log.", s.fsyncs);
	col_put(out, "# HELP kiseki_collector_fsync_seconds_sum Time spent in fsync.\n"
	             "# TYPE kiseki_collector_fsync_seconds_sum counter\n"
	             "kiseki_collector_fsync_seconds_sum %.6f\n",
	        (double)s.fsync_ns_sum / 1e9);
	col_put(out, "# HELP kiseki_collector_fsync_seconds_max Longest fsync since start.\n"
	             "# TYPE kiseki_collector_fsync_seconds_max gauge\n"
	             "kiseki_collector_fsync_seconds_max %.6f\n",
	        (double)s.fsync_ns_max / 1e9);
	if (r->query_stats) {
		uint64_t req = 0, ns = 0, errs = 0;
		r->query_stats(r->query_ctx, &req, &ns, &errs);
		col_counter(out, "kiseki_collector_query_requests_total", "Query protocol requests.", req);
		col_counter(out, "kiseki_collector_query_errors_total", "Query protocol requests that failed.", errs);
		col_put(out, "# HELP kiseki_collector_query_seconds_sum Time spent answering queries.\n"
		             "# TYPE kiseki_collector_query_seconds_sum counter\n"
		             "kiseki_collector_query_seconds_sum %.6f\n",
		        (double)ns / 1e9);
	}
	return 200;
}
