/*
 * col_ingest.h : the collector's batch intake over NNG REQ/REP.
 *
 * Exports col_ingest (opaque): listen on a URL (tcp:// or ipc://) with a
 * receive size cap, run `workers` NNG contexts so that many batches are in
 * flight, and answer each frame with an ack (kiseki/ack.h): stored,
 * duplicate, rejected (error code and precise message) or busy.
 *
 * Per frame: header checks and CRC (ksk_frame_parse_header) -> zstd ->
 * record decode and validation -> col_store_append (durable, deduped) ->
 * ack. A bad frame is rejected alone: nothing else on the connection or in
 * the store is affected.
 *
 * Threads: `workers` threads, each owning one NNG context, one frame
 * decoder and one record decoder. Ownership: the store is borrowed and
 * must outlive the intake.
 */
#ifndef COL_INGEST_H
#define COL_INGEST_H

#include <stdint.h>

#include "col_store.h"
#include "kiseki/err.h"
#include "kiseki/frame.h"
#include "kiseki/wire.h"

typedef struct col_ingest_opts {
	const char *listen_url;       /* e.g. tcp://127.0.0.1:7070, ipc:///run/k.sock */
	uint32_t workers;             /* contexts in flight (default 8) */
	ksk_frame_limits frame_limits; /* caps; max_frame is also NNG's receive cap */
	ksk_wire_limits wire_limits;
} col_ingest_opts;

/*! col_ingest_opts_default() : 8 workers, default limits, no URL. */
void col_ingest_opts_default(col_ingest_opts *o);

typedef struct col_ingest col_ingest;

/*! col_ingest_start() : listens and starts the workers.
 *  @return : KSK_OK; KSK_ENET (bad URL, address in use: message says);
 *            KSK_ENOMEM. */
ksk_err col_ingest_start(col_store *store, const col_ingest_opts *opts,
                         col_ingest **out, ksk_errinfo *ei);

/*! col_ingest_url() : the listening URL with the real port when port 0
 *  was asked for. Valid while the intake lives. */
const char *col_ingest_url(const col_ingest *in);

/*! col_ingest_stop() : closes the socket, joins the workers, frees. A
 *  batch being stored finishes first; one not yet acked is resent by the
 *  agent (and deduplicated). NULL is a no-op. */
void col_ingest_stop(col_ingest *in);

typedef struct col_ingest_stats {
	uint64_t frames;                  /* frames received */
	uint64_t stored, duplicate, busy; /* acks by outcome */
	uint64_t rejected;
	uint64_t rejected_by_code[KSK_ERR_COUNT_]; /* rejections by ksk_err */
	uint64_t spans, logs;             /* records in stored frames */
	uint64_t bytes;                   /* frame bytes received */
} col_ingest_stats;

/*! col_ingest_stats_get() : a snapshot of the counters. Thread-safe. */
void col_ingest_stats_get(col_ingest *in, col_ingest_stats *out);

#endif /* COL_INGEST_H */
