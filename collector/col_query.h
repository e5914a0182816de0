/*
 * col_query.h : the collector's query protocol server (NNG REP).
 *
 * Exports col_query (opaque): listens on a URL and answers the requests of
 * kiseki/qproto.h from a col_store. Large answers (a trace's records, a log
 * search) are sent in chunks of about `chunk_bytes`, each a complete batch
 * frame (kiseki/frame.h) inside the reply; the client asks for the next
 * chunk with the reply's cursor. A finished result is kept briefly in a
 * small cache so later chunks do not redo the work.
 * docs/WIRE.md section 3 specifies the reply maps.
 *
 * Threads: `workers` threads, each with one NNG context. The store is
 * borrowed and must outlive the server.
 */
#ifndef COL_QUERY_H
#define COL_QUERY_H

#include <stdint.h>

#include "col_store.h"
#include "kiseki/buf.h"
#include "kiseki/err.h"

typedef struct col_query_opts {
	const char *listen_url;
	uint32_t workers;       /* default 4 */
	uint32_t chunk_bytes;   /* raw payload bytes per chunk (default 1 MiB) */
	uint64_t cache_ttl_ns;  /* how long a chunked result is kept (default 30 s) */
	const ksk_clock *clock; /* NULL = system */
} col_query_opts;

void col_query_opts_default(col_query_opts *o);

typedef struct col_query col_query;

/*! col_query_start() : listens and starts the workers.
 *  @return : KSK_OK; KSK_ENET; KSK_ENOMEM. */
ksk_err col_query_start(col_store *store, const col_query_opts *opts,
                        col_query **out, ksk_errinfo *ei);

/*! col_query_url() : the URL with the real port. */
const char *col_query_url(const col_query *q);

/*! col_query_stop() : NULL is a no-op. */
void col_query_stop(col_query *q);

/*! col_query_stats() : requests answered, total ns spent, errors.
 *  Signature fits col_report.query_stats. Thread-safe. */
void col_query_stats(void *q, uint64_t *requests, uint64_t *ns_sum,
                     uint64_t *errors);

/*! col_query_answer() : the transport-free core: answers one request
 *  message into `out` (a msgpack reply). Exposed for in-process tests. */
ksk_err col_query_answer(col_query *q, const uint8_t *req, size_t len,
                         ksk_buf *out);

#endif /* COL_QUERY_H */
