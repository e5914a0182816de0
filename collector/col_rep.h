/*
 * col_rep.h : an NNG REP server with a pool of worker threads, shared by
 * the collector's intake and query endpoints.
 *
 * Each worker owns one NNG context and its own state (made by
 * `worker_init`), receives a request, calls `handle` to fill the reply and
 * sends it. The receive size cap is set on the socket and the listener
 * (NNG 1.5's default is unlimited). Port 0 in a tcp:// URL is resolved:
 * col_rep_url() gives the real address.
 * Threads: `workers` threads; `handle` runs on them concurrently with one
 * state per worker. The caller's ctx must be safe for that.
 */
#ifndef COL_REP_H
#define COL_REP_H

#include <stddef.h>
#include <stdint.h>

#include "kiseki/buf.h"
#include "kiseki/err.h"

/* Fills `reply` (cleared before the call) for one request. */
typedef void (*col_rep_handle_fn)(void *ctx, void *worker, const uint8_t *req,
                                  size_t len, ksk_buf *reply);

typedef struct col_rep_opts {
	const char *url;          /* tcp:// or ipc:// */
	uint32_t workers;         /* >= 1 */
	size_t recv_max;          /* largest request accepted */
	void *ctx;                /* passed to every callback */
	/* per-worker state; NULL return = failure (KSK_ENOMEM). Optional. */
	void *(*worker_init)(void *ctx);
	void (*worker_fini)(void *ctx, void *worker);
	col_rep_handle_fn handle;
	const char *what;         /* "intake" / "query", for messages */
} col_rep_opts;

typedef struct col_rep col_rep;

/*! col_rep_start() : listens and starts the workers.
 *  @return : KSK_OK; KSK_ENET (bad URL, address in use); KSK_ENOMEM. */
ksk_err col_rep_start(const col_rep_opts *o, col_rep **out, ksk_errinfo *ei);

/*! col_rep_url() : the listening URL with the real port. */
const char *col_rep_url(const col_rep *r);

/*! col_rep_stop() : stops the workers (a request being handled finishes;
 *  its reply is dropped and the client resends), joins them, closes the
 *  socket, frees. NULL no-op. */
void col_rep_stop(col_rep *r);

#endif /* COL_REP_H */
