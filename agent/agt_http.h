/*
 * agt_http.h : the agent's HTTP receivers (OTLP/HTTP on 4318, Zipkin v2 on
 * 9411) as one small libmicrohttpd server per listen address.
 *
 * The server accepts POST bodies on a fixed list of paths, in any transfer
 * encoding microhttpd understands (chunked included: real SDKs send
 * chunked bodies; `Expect: 100-continue` is answered), inflates
 * `Content-Encoding: gzip` with a cap (a gzip bomb gets 413), and hands the
 * body to a handler that decodes it and fills the response. Everything is
 * bounded: body size, inflated size, connections, and a per-connection
 * timeout against slow clients.
 * Threads: microhttpd's internal threads call the handler, possibly
 * several at once: the handler must be thread-safe.
 * Ownership: the request body is valid during the handler call only.
 */
#ifndef AGT_HTTP_H
#define AGT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "kiseki/buf.h"
#include "kiseki/err.h"

typedef struct agt_http_req {
	const char *path;          /* e.g. "/v1/traces" */
	const char *content_type;  /* "" when absent; parameters kept */
	const uint8_t *body;       /* after gzip inflation */
	size_t len;
} agt_http_req;

typedef struct agt_http_resp {
	int status;                /* default 200 */
	const char *content_type;  /* default "application/json" */
	ksk_buf *body;             /* append the response body here */
} agt_http_resp;

typedef void (*agt_http_fn)(void *ctx, const agt_http_req *req, agt_http_resp *resp);

typedef struct agt_http_opts {
	const char *hostport;      /* "127.0.0.1:4318" */
	const char *const *paths;  /* NULL-terminated list of accepted paths */
	size_t max_body;           /* bytes on the wire (default 16 MiB) */
	size_t max_inflated;       /* bytes after gzip (default 64 MiB) */
	unsigned timeout_s;        /* per connection (default 30) */
	unsigned max_conns;        /* default 256 */
	agt_http_fn handle;
	void *ctx;
	const char *what;          /* "otlp" / "zipkin" for messages */
} agt_http_opts;

typedef struct agt_http agt_http;

/*! agt_http_start() : @return : KSK_OK; KSK_EINVAL (bad address); KSK_ENET. */
ksk_err agt_http_start(const agt_http_opts *o, agt_http **out, ksk_errinfo *ei);

/*! agt_http_port() : the bound port (useful with port 0). */
uint16_t agt_http_port(const agt_http *h);

/*! agt_http_stop() : stops and frees. NULL is a no-op. */
void agt_http_stop(agt_http *h);

/*! agt_gunzip() : inflates a gzip (or zlib) body into `out`, at most
 *  `max` bytes. @return : KSK_OK; KSK_ETOOBIG over `max`; KSK_EPARSE for
 *  a corrupt stream; KSK_ENOMEM. */
ksk_err agt_gunzip(const uint8_t *in, size_t len, size_t max, ksk_buf *out);

#endif /* AGT_HTTP_H */
