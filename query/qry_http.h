/*
 * qry_http.h : kiseki-query's HTTP server (libmicrohttpd).
 *
 * Serves the API (qry_api.h) and the web UI's files from `ui_dir` (a fixed
 * list of names with their content types; any other path under / that is
 * not an API path gets index.html, so the UI's own routes like
 * /trace/<id> load the UI; nothing outside the list is ever opened, so
 * there is no path traversal). Timeouts and a connection limit protect it
 * from slow or too many clients. Optional bearer-token auth: every API
 * request must carry `Authorization: Bearer <token>` (the UI's files are
 * served without it; the UI asks for the token when the API says 401).
 *
 * Ownership: the server borrows `api` (it must outlive the server).
 * Threading: a pool of libmicrohttpd worker threads (`threads`); every
 * handler calls qry_api_handle(), which is thread-safe.
 */
#ifndef QRY_HTTP_H
#define QRY_HTTP_H

#include <stdint.h>

#include "kiseki/err.h"
#include "qry_api.h"

typedef struct qry_http_opts {
	const char *listen;        /* "127.0.0.1:16686", ":0" */
	const char *ui_dir;        /* NULL = no UI (API only) */
	const char *auth_token;    /* NULL/"" = no auth */
	unsigned threads;          /* 0 = 4 */
	unsigned conn_limit;       /* 0 = 256 */
	unsigned timeout_s;        /* idle connection timeout; 0 = 30 */
} qry_http_opts;

typedef struct qry_http qry_http;

/*! qry_http_start() : binds and serves.
 *  @return : KSK_OK; KSK_EINVAL (bad address); KSK_ENET (bind failed). */
ksk_err qry_http_start(const qry_http_opts *o, qry_api *api, qry_http **out, ksk_errinfo *ei);

uint16_t qry_http_port(const qry_http *h);

/*! qry_http_stop() : stops serving and frees. NULL is a no-op. */
void qry_http_stop(qry_http *h);

/* The UI files served (name, content type), NULL-terminated. */
extern const char *const qry_ui_files[][2];

#endif /* QRY_HTTP_H */
