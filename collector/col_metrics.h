/*
 * col_metrics.h : a tiny HTTP endpoint (libmicrohttpd) serving Prometheus
 * text on GET /metrics and a health document on GET /health.
 *
 * The content comes from a render callback called per request, so the
 * server knows nothing about what it reports; the collector renders its
 * store and ingest counters (col_metrics_render_collector). Bound to the
 * given host and port (port 0 = any free port); loopback by default.
 * Timeouts and a connection limit protect it from slow clients.
 * Threads: one internal microhttpd thread; the render callback runs on it.
 */
#ifndef COL_METRICS_H
#define COL_METRICS_H

#include <stdint.h>

#include "col_ingest.h"
#include "col_store.h"
#include "kiseki/buf.h"
#include "kiseki/err.h"

/* Appends the body for `path` ("/metrics" or "/health") to `out`; returns
 * the HTTP status (200, or 503 for an unhealthy /health). */
typedef int (*col_render_fn)(void *ctx, const char *path, ksk_buf *out);

typedef struct col_metrics col_metrics;

/*! col_metrics_start() : serves on `hostport` ("127.0.0.1:9464", ":0").
 *  @return : KSK_OK; KSK_EINVAL (bad address); KSK_ENET (bind failed). */
ksk_err col_metrics_start(const char *hostport, col_render_fn render, void *ctx,
                          col_metrics **out, ksk_errinfo *ei);

/*! col_metrics_port() : the bound port. */
uint16_t col_metrics_port(const col_metrics *m);

/*! col_metrics_stop() : stops and frees. NULL is a no-op. */
void col_metrics_stop(col_metrics *m);

/*! col_metrics_parse_hostport() : "HOST:PORT" or ":PORT" (host defaults
 *  to 127.0.0.1) into an IPv4 address. @return : KSK_OK or KSK_EINVAL. */
ksk_err col_metrics_parse_hostport(const char *s, uint32_t *ip_be,
                                   uint16_t *port);

/* What the collector reports. */
typedef struct col_report {
	col_store *store;        /* borrowed */
	col_ingest *ingest;      /* borrowed; may be NULL */
	uint64_t query_requests; /* filled by the query server, may stay 0 */
	uint64_t query_ns_sum;
	uint64_t query_errors;
	void (*query_stats)(void *ctx, uint64_t *req, uint64_t *ns_sum,
	                    uint64_t *errors);
	void *query_ctx;
} col_report;

/*! col_metrics_render_collector() : a col_render_fn for a col_report. */
int col_metrics_render_collector(void *ctx, const char *path, ksk_buf *out);

#endif /* COL_METRICS_H */
