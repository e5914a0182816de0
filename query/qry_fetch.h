/*
 * qry_fetch.h : kiseki-query's fan-out to the collectors.
 *
 * kiseki-query is stateless: every answer is asked of every configured
 * collector (docs/WIRE.md section 3.2), in parallel, and merged here. A
 * collector that fails or does not answer within the timeout does not fail
 * the request: the others' answer comes back with a warning naming it
 * (qry_warns). Only when no collector answered is the call an error.
 *
 * Merging: services and operations are unions (sorted); edges and log
 * counts are summed; search summaries are deduplicated by trace ID
 * (counts added, time range widened) and cut to the limit newest first;
 * a trace's spans from several collectors are concatenated, exact copies
 * (same span ID, start, end, kind, name) dropped; logs are merged by time.
 *
 * Ownership: results live in the caller's arena or in a qry_tdata, which
 * owns every decoded chunk its pointers reach into. The backend owns a
 * pool of NNG clients per collector.
 * Threading: every function is thread-safe (the HTTP server calls them
 * from many threads); results are owned by the calling thread.
 */
#ifndef QRY_FETCH_H
#define QRY_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiseki/alloc.h"
#include "kiseki/arena.h"
#include "kiseki/err.h"
#include "kiseki/qproto.h"
#include "kiseki/record.h"
#include "qry_recon.h"

#define QRY_MAX_COLLECTORS 64
#define QRY_MAX_WARNS 16

/* Per-request warnings (a collector that failed, a limit that cut). */
typedef struct qry_warns {
	char msg[QRY_MAX_WARNS][256];
	uint32_t n;
} qry_warns;

/*! qry_warn() : appends a formatted warning (dropped past QRY_MAX_WARNS). */
void qry_warn(qry_warns *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct qry_backend qry_backend;

typedef struct qry_backend_opts {
	const char *const *urls; /* each collector's query address; copied */
	size_t n_urls;           /* 1..QRY_MAX_COLLECTORS */
	int timeout_ms;          /* per collector call; 0 = 10000 */
} qry_backend_opts;

/*! qry_backend_create() : dials nothing yet (clients are made on demand).
 *  @return : KSK_OK; KSK_EINVAL (no URL, too many); KSK_ENOMEM. */
ksk_err qry_backend_create(const qry_backend_opts *o, qry_backend **out, ksk_errinfo *ei);

/*! qry_backend_destroy() : closes idle clients. A client whose last call
 *  timed out is closed on a detached thread (nng 1.5.2 can hang closing a
 *  REQ socket with a request outstanding). NULL is a no-op. */
void qry_backend_destroy(qry_backend *b);

size_t qry_backend_count(const qry_backend *b);
const char *qry_backend_url(const qry_backend *b, size_t i);

/* One log with its resource's service and host. */
typedef struct qry_log_in {
	const ksk_log *log;
	ksk_str service;
	ksk_str host;
} qry_log_in;

/* A trace's (or a log search's) decoded records; owns their memory. */
typedef struct qry_tdata qry_tdata;

/*! qry_fetch_trace() : every span and log of the trace from every
 *  collector. `start_ns`/`end_ns` are hints (0 = none).
 *  @return : KSK_OK and *out; KSK_ENOTFOUND when no collector has it (and
 *            none failed); KSK_ENET/KSK_ETIMEDOUT when every collector
 *            failed (message says why); KSK_ENOMEM. */
ksk_err qry_fetch_trace(qry_backend *b, const uint8_t trace_id[KSK_TRACE_ID_LEN],
                        uint64_t start_ns, uint64_t end_ns, qry_tdata **out, qry_warns *w,
                        ksk_errinfo *ei);

/*! qry_fetch_logs() : a log search (KSK_Q_LOGS request `r`) merged newest
 *  first and cut to r->limit. */
ksk_err qry_fetch_logs(qry_backend *b, const ksk_qreq *r, qry_tdata **out, qry_warns *w,
                       ksk_errinfo *ei);

void qry_tdata_destroy(qry_tdata *t);

/*! The spans (input order = start order per collector) and the logs
 *  (oldest first for a trace, newest first for a log search). */
const qry_span_in *qry_tdata_spans(const qry_tdata *t, size_t *n);
const qry_log_in *qry_tdata_logs(const qry_tdata *t, size_t *n);
/*! qry_tdata_total_logs() : matches before the limit (log search). */
uint64_t qry_tdata_total_logs(const qry_tdata *t);

/* Search summaries (WIRE.md 3.2 `search`). */
typedef struct qry_summary {
	uint8_t trace_id[KSK_TRACE_ID_LEN];
	uint64_t start_ns, end_ns;
	uint32_t spans, errors, logs;
	ksk_str root_service, root_name;
	ksk_str *services;
	uint32_t n_services;
} qry_summary;

typedef struct qry_op {
	ksk_str name;
	int kind;
} qry_op;

typedef struct qry_edge {
	ksk_str parent, child;
	uint64_t calls, errors, duration_ns_sum;
} qry_edge;

typedef struct qry_logcount {
	ksk_str service, severity;
	uint64_t count;
} qry_logcount;

/*! Non-chunked answers, merged, allocated in `a`. Each returns KSK_OK when
 *  at least one collector answered (failures are in `w`), otherwise the
 *  first failure. */
ksk_err qry_fetch_search(qry_backend *b, const ksk_qreq *r, ksk_arena *a, qry_summary **out,
                         size_t *n, qry_warns *w, ksk_errinfo *ei);
ksk_err qry_fetch_services(qry_backend *b, ksk_arena *a, ksk_str **out, size_t *n,
                           qry_warns *w, ksk_errinfo *ei);
ksk_err qry_fetch_operations(qry_backend *b, ksk_str service, int kind, ksk_arena *a,
                             qry_op **out, size_t *n, qry_warns *w, ksk_errinfo *ei);
ksk_err qry_fetch_edges(qry_backend *b, uint64_t start_ns, uint64_t end_ns, ksk_arena *a,
                        qry_edge **out, size_t *n, qry_warns *w, ksk_errinfo *ei);
ksk_err qry_fetch_log_stats(qry_backend *b, uint64_t start_ns, uint64_t end_ns, ksk_arena *a,
                            qry_logcount **out, size_t *n, qry_warns *w, ksk_errinfo *ei);

#endif /* QRY_FETCH_H */
