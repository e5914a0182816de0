/*
 * qry_api.h : kiseki-query's HTTP API, independent of the HTTP server.
 *
 * A request (method, path, decoded query parameters) goes in; a response
 * (status, content type, body) comes out. The routes are the Jaeger query
 * API, the Zipkin v2 read API and the Kiseki extensions; docs/API.md lists
 * every path, parameter and field. The HTTP layer (qry_http.c) only
 * parses, authenticates and streams, so every route is testable in-process
 * against collectors started by the test.
 *
 * Large answers stream: a trace's JSON is produced piece by piece by
 * qry_response_more(), so a 100K-span trace costs the decoded trace plus
 * one piece (about 64 KiB) of output, not the whole JSON text.
 *
 * Ownership: qry_api borrows the backend and the clock (they outlive it).
 * A response owns its body and whatever its generator holds; free it with
 * qry_response_fini(). Threading: qry_api_handle() is thread-safe.
 */
#ifndef QRY_API_H
#define QRY_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiseki/buf.h"
#include "kiseki/clock.h"
#include "kiseki/err.h"
#include "qry_fetch.h"

typedef struct qry_api_opts {
	qry_backend *backend;     /* borrowed */
	const ksk_clock *clock;   /* borrowed; NULL = system */
	uint64_t max_skew_ns;     /* clock-skew adjustment bound; 0 = 1 s */
} qry_api_opts;

typedef struct qry_api qry_api;

ksk_err qry_api_create(const qry_api_opts *o, qry_api **out, ksk_errinfo *ei);
void qry_api_destroy(qry_api *a);

typedef struct qry_param {
	const char *key;          /* borrowed, decoded */
	const char *value;        /* borrowed, decoded; "" when absent */
} qry_param;

typedef struct qry_request {
	const char *method;       /* "GET", "HEAD", ... */
	const char *path;         /* decoded path, no query string */
	const qry_param *params;  /* in URL order; keys may repeat */
	size_t n_params;
} qry_request;

typedef struct qry_gen qry_gen; /* a streaming body's state (private) */

typedef struct qry_response {
	int status;
	const char *content_type; /* static string */
	ksk_buf body;             /* the body, or its first piece */
	qry_gen *gen;             /* NULL, or more pieces to come */
} qry_response;

void qry_response_init(qry_response *r);
void qry_response_fini(qry_response *r);

/*! qry_response_more() : clears r->body and appends the next piece.
 *  @return : true when a piece was appended, false when the body is
 *            complete (or its generation failed: the output is then cut,
 *            which the client sees as a truncated JSON text). */
bool qry_response_more(qry_response *r);

/*! qry_api_handle() : answers one request. Always fills `rs` (errors are
 *  JSON answers with 4xx/5xx statuses). Paths not under /api return 404
 *  with rs->status 404 and an empty body, so the caller can serve files. */
void qry_api_handle(qry_api *a, const qry_request *rq, qry_response *rs);

/*! qry_api_is_api_path() : true for paths this module answers. */
bool qry_api_is_api_path(const char *path);

#endif /* QRY_API_H */
