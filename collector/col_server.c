/*
 * col_server.c : wires the collector's parts together (col_server.h).
 *
 * Data in: a col_config. Data out: running listeners; log lines on stderr.
 * Threads started here: the maintenance thread, which calls
 * col_store_tick() once a second, or at once when the store rotated a full
 * segment out (sealing, retention, interval fsync)
 * until stopped; the intake and query servers start their own workers.
 * Stop order: intake (so no batch is acked after the store closes), query,
 * metrics, maintenance, store.
 */
#include "col_server.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "col_metrics.h"
#include "ksk_httpd.h"

struct col_server {
	col_store *store;
	col_ingest *ingest;
	col_query *query;
	ksk_httpd *metrics;
	col_report report;
	pthread_t maint;
	int maint_started;
	int wake;             /* mu: the store asked for a tick now */
	int seal_wake;        /* mu: ... and for the extra sealers */
	pthread_t sealers[16];/* --seal-threads - 1 extra sealer threads */
	uint32_t n_sealers;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stopping;
};

static void col_server_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	static const char *const names[] = {"info", "warning", "error"};
	fprintf(stderr, "kiseki-collector: %s: %s\n", names[level < 0 ? 0 : level > 2 ? 2 : level], msg);
}

/* The store rotated a full segment out: seal it now, not at the next tick. */
static void col_server_wake(void *arg)
{
	col_server *s = arg;
	pthread_mutex_lock(&s->mu);
	s->wake = 1;
	s->seal_wake = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* The loop of the maintenance thread (`work` = col_store_tick, woken by
 * `wake`) and of each extra sealer (--seal-threads > 1: `work` =
 * col_store_seal_pending, which seals segments no other thread has
 * claimed; woken by `seal_wake`): once a second, or when woken. */
static void col_server_loop(col_server *s, int *flag,
                            ksk_err (*work)(col_store *, ksk_errinfo *))
{
	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		if (!*flag)
			pthread_cond_timedwait(&s->cv, &s->mu, &ts);
		*flag = 0;
		if (s->stopping)
			break;
		pthread_mutex_unlock(&s->mu);
		ksk_errinfo ei;
		ksk_errinfo_clear(&ei);
		if (work(s->store, &ei) != KSK_OK)
			col_server_log(NULL, 2, ei.msg);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
}

static void *col_server_sealer(void *arg)
{
	col_server *s = arg;
	col_server_loop(s, &s->seal_wake, col_store_seal_pending);
	return NULL;
}

static void *col_server_maint(void *arg)
{
	col_server *s = arg;
	col_server_loop(s, &s->wake, col_store_tick);
	return NULL;
}

ksk_err col_server_start(const col_config *cfg, col_server **out, ksk_errinfo *ei)
{
	col_server *s = calloc(1, sizeof(*s));
	if (!s)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "no memory");
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	/* one set of limits for intake, replay and sealing, so a frame
	 * accepted at intake always decodes again at recovery */
	col_ingest_opts io;
	col_ingest_opts_default(&io);
	io.listen_url = cfg->listen;
	io.workers = cfg->workers;
	io.frame_limits.max_frame = cfg->max_frame_bytes;
	col_store_opts so;
	col_store_opts_default(&so);
	so.frame_limits = &io.frame_limits;
	so.wire_limits = &io.wire_limits;
	so.data_dir = cfg->data_dir;
	so.fsync_mode = cfg->fsync_mode;
	so.fsync_interval_ns = cfg->fsync_interval_ns;
	so.segment_max_bytes = cfg->segment_max_bytes;
	so.segment_max_age_ns = cfg->segment_max_age_ns;
	if (cfg->segment_max_records)
		so.segment_max_records = cfg->segment_max_records;
	so.retention_ns = cfg->retention_ns;
	so.max_disk_bytes = cfg->max_disk_bytes;
	so.log = col_server_log;
	so.max_sealing = cfg->seal_threads;
	so.wake = col_server_wake;
	so.wake_ctx = s;
	ksk_err rc = col_store_open(&so, &s->store, ei);
	if (rc == KSK_OK) {
		col_query_opts qo;
		col_query_opts_default(&qo);
		qo.listen_url = cfg->query_listen;
		rc = col_query_start(s->store, &qo, &s->query, ei);
	}
	if (rc == KSK_OK)
		rc = col_ingest_start(s->store, &io, &s->ingest, ei);
	s->report.store = s->store;
	s->report.ingest = s->ingest;
	s->report.query_stats = col_query_stats;
	s->report.query_ctx = s->query;
	if (rc == KSK_OK && cfg->metrics_listen)
		rc = ksk_httpd_start(cfg->metrics_listen, col_metrics_render_collector,
		                       &s->report, &s->metrics, ei);
	if (rc == KSK_OK) {
		if (pthread_create(&s->maint, NULL, col_server_maint, s) == 0)
			s->maint_started = 1;
		else
			rc = ksk_errinfo_set(ei, KSK_ESYS, "cannot start the maintenance thread");
	}
	for (uint32_t i = 1; rc == KSK_OK && i < cfg->seal_threads && i <= 16; i++) {
		if (pthread_create(&s->sealers[s->n_sealers], NULL, col_server_sealer, s) == 0)
			s->n_sealers++;
		else
			rc = ksk_errinfo_set(ei, KSK_ESYS, "cannot start a sealer thread");
	}
	if (rc != KSK_OK) {
		col_server_stop(s);
		return rc;
	}
	*out = s;
	return KSK_OK;
}

const char *col_server_ingest_url(const col_server *s)
{
	return col_ingest_url(s->ingest);
}

const char *col_server_query_url(const col_server *s)
{
	return col_query_url(s->query);
}

uint16_t col_server_metrics_port(const col_server *s)
{
	return s->metrics ? ksk_httpd_port(s->metrics) : 0;
}

void col_server_stop(col_server *s)
{
	if (!s)
		return;
	col_ingest_stop(s->ingest);
	col_query_stop(s->query);
	ksk_httpd_stop(s->metrics);
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->maint_started)
		pthread_join(s->maint, NULL);
	for (uint32_t i = 0; i < s->n_sealers; i++)
		pthread_join(s->sealers[i], NULL);
	col_store_close(s->store);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
