/*
 * col_metrics.h : what kiseki-collector reports on /metrics and /health
 * (served by net/ksk_httpd).
 *
 * col_metrics_render_collector() is a ksk_httpd_render_fn over a
 * col_report: the store's and the intake's counters (thread-safe
 * snapshots) and the query server's totals.
 */
#ifndef COL_METRICS_H
#define COL_METRICS_H

#include <stdint.h>

#include "col_ingest.h"
#include "col_store.h"
#include "kiseki/buf.h"

/* What the collector reports. Pointers are borrowed. */
typedef struct col_report {
	col_store *store;
	col_ingest *ingest;      /* may be NULL */
	void (*query_stats)(void *ctx, uint64_t *req, uint64_t *ns_sum,
	                    uint64_t *errors); /* may be NULL */
	void *query_ctx;
} col_report;

/*! col_metrics_render_collector() : a ksk_httpd_render_fn for a col_report. */
int col_metrics_render_collector(void *ctx, const char *path, ksk_buf *out);

#endif /* COL_METRICS_H */
