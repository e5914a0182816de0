/*
 * col_metrics.c : the collector's /metrics and /health content
 * (col_metrics.h).
 *
 * Data in: counter snapshots from the store, the intake and the query
 * server. Data out: Prometheus text (counters and gauges with HELP/TYPE)
 * and a small JSON health document.
 * Invariants: reads only thread-safe snapshots; never blocks on the store
 * beyond its stats lock.
 */
#include "col_metrics.h"

#include <string.h>

#include "ksk_httpd.h"

int col_metrics_render_collector(void *ctx, const char *path, ksk_buf *out)
{
	col_report *r = ctx;
	col_store_stats s;
	col_store_stats_get(r->store, &s);
	if (strcmp(path, "/health") == 0) {
		ksk_prom_printf(out, "{\"status\":\"ok\",\"wal_bytes\":%llu,\"segments\":%llu}\n",
		        (unsigned long long)s.wal_bytes,
		        (unsigned long long)s.segments_sealed);
		return 200;
	}
	col_ingest_stats is;
	memset(&is, 0, sizeof(is));
	if (r->ingest)
		col_ingest_stats_get(r->ingest, &is);
	ksk_prom_counter(out, "kiseki_collector_frames_received_total", "Batch frames received.", is.frames);
	ksk_prom_counter(out, "kiseki_collector_frame_bytes_total", "Bytes of batch frames received.", is.bytes);
	ksk_prom_counter(out, "kiseki_collector_batches_accepted_total", "Batches stored (acked stored).", is.stored);
	ksk_prom_counter(out, "kiseki_collector_batches_duplicate_total", "Resent batches already stored (acked duplicate).", is.duplicate);
	ksk_prom_counter(out, "kiseki_collector_batches_busy_total", "Batches answered busy (not stored, retry).", is.busy);
	ksk_prom_counter(out, "kiseki_collector_spans_accepted_total", "Spans in stored batches.", is.spans);
	ksk_prom_counter(out, "kiseki_collector_logs_accepted_total", "Log records in stored batches.", is.logs);
	ksk_prom_printf(out, "# HELP kiseki_collector_batches_rejected_total Batches rejected, by reason.\n"
	             "# TYPE kiseki_collector_batches_rejected_total counter\n");
	for (int c = 0; c < KSK_ERR_COUNT_; c++)
		if (is.rejected_by_code[c])
			ksk_prom_printf(out, "kiseki_collector_batches_rejected_total{reason=\"%s\"} %llu\n",
			        ksk_errname((ksk_err)c), (unsigned long long)is.rejected_by_code[c]);
	ksk_prom_printf(out, "kiseki_collector_batches_rejected_total{reason=\"all\"} %llu\n",
	        (unsigned long long)is.rejected);
	ksk_prom_counter(out, "kiseki_collector_store_batches_total", "Batches appended to the store.", s.batches_stored);
	ksk_prom_counter(out, "kiseki_collector_store_spans_total", "Spans appended to the store.", s.spans_stored);
	ksk_prom_counter(out, "kiseki_collector_store_logs_total", "Logs appended to the store.", s.logs_stored);
	ksk_prom_gauge(out, "kiseki_collector_bytes_stored", "Bytes of live segment files and the open WAL.", s.bytes_stored);
	ksk_prom_gauge(out, "kiseki_collector_segments", "Live sealed segments.", s.segments_sealed);
	ksk_prom_gauge(out, "kiseki_collector_segments_sealing", "Full open segments rotated out and waiting to be sealed.", s.segments_sealing);
	ksk_prom_gauge(out, "kiseki_collector_wal_bytes", "Bytes in the open write-ahead segment.", s.wal_bytes);
	ksk_prom_gauge(out, "kiseki_collector_open_segment_raw_bytes",
	               "Decompressed payload bytes of the batches in the open segment.", s.open_raw_bytes);
	ksk_prom_counter(out, "kiseki_collector_segments_dropped_total", "Sealed segments dropped by retention.", s.segments_dropped);
	ksk_prom_counter(out, "kiseki_collector_segments_quarantined_total", "Sealed segments quarantined as corrupt.", s.segments_quarantined);
	ksk_prom_counter(out, "kiseki_collector_seals_from_log_total", "Seals that read their write-ahead log back (the open segment had spans, or the collector restarted).", s.seals_from_log);
	ksk_prom_counter(out, "kiseki_collector_backlog_busy_total", "Appends refused (busy) because the open segment was full and the sealing backlog too.", s.backlog_busy);
	ksk_prom_counter(out, "kiseki_collector_fsync_total", "fsync calls on the write-ahead log.", s.fsyncs);
	ksk_prom_printf(out, "# HELP kiseki_collector_fsync_seconds_sum Time spent in fsync.\n"
	             "# TYPE kiseki_collector_fsync_seconds_sum counter\n"
	             "kiseki_collector_fsync_seconds_sum %.6f\n",
	        (double)s.fsync_ns_sum / 1e9);
	ksk_prom_printf(out, "# HELP kiseki_collector_fsync_seconds_max Longest fsync since start.\n"
	             "# TYPE kiseki_collector_fsync_seconds_max gauge\n"
	             "kiseki_collector_fsync_seconds_max %.6f\n",
	        (double)s.fsync_ns_max / 1e9);
	if (r->query_stats) {
		uint64_t req = 0, ns = 0, errs = 0;
		r->query_stats(r->query_ctx, &req, &ns, &errs);
		ksk_prom_counter(out, "kiseki_collector_query_requests_total", "Query protocol requests.", req);
		ksk_prom_counter(out, "kiseki_collector_query_errors_total", "Query protocol requests that failed.", errs);
		ksk_prom_printf(out, "# HELP kiseki_collector_query_seconds_sum Time spent answering queries.\n"
		             "# TYPE kiseki_collector_query_seconds_sum counter\n"
		             "kiseki_collector_query_seconds_sum %.6f\n",
		        (double)ns / 1e9);
	}
	return 200;
}
