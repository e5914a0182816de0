/*
 * cli_http.h : the CLI's HTTP client of kiseki-query (libcurl).
 *
 * Exports cli_http (one reusable libcurl easy handle bound to a server base
 * URL and an optional bearer token) and cli_http_get(): GET base + path +
 * an encoded query string, answer status and body out. Formatting lives in
 * cli_format.h; this file only moves bytes.
 *
 * The caller calls curl_global_init() once before the first
 * cli_http_create() (main.c does).
 * Ownership: the client copies the base URL and the token. Bodies go into
 * a caller-owned ksk_buf (capped at CLI_HTTP_MAX_BODY).
 * Threading: one thread at a time per client.
 */
#ifndef CLI_HTTP_H
#define CLI_HTTP_H

#include <stddef.h>

#include "kiseki/buf.h"
#include "kiseki/err.h"

#define CLI_HTTP_MAX_BODY ((size_t)1 << 30)

typedef struct cli_http cli_http;

typedef struct cli_param {
	const char *key;
	const char *value; /* URL-encoded by cli_http_get */
} cli_param;

/*! cli_http_create() : a client of `base_url` ("http://host:port", a path
 *  prefix allowed; no scheme means http://).
 *  @token : NULL or the bearer token (sent as "Authorization: Bearer ...").
 *  @timeout_ms : for each whole request (connecting included).
 *  @return : KSK_OK; KSK_ENOMEM; KSK_EINVAL (an unusable URL). */
ksk_err cli_http_create(const char *base_url, const char *token, long timeout_ms,
                        cli_http **out, ksk_errinfo *ei);

/*! cli_http_destroy() : NULL is a no-op. */
void cli_http_destroy(cli_http *h);

/*! cli_http_url() : the base URL in use (with the scheme, no trailing '/'). */
const char *cli_http_url(const cli_http *h);

/*! cli_http_get() : GET base + `path` (starting with '/') + "?k=v&..." for
 *  the `n` params whose value is not NULL.
 *  @status : the HTTP status on KSK_OK (any status, 4xx and 5xx included).
 *  @body : cleared, then the answer's body (NUL-terminated: a 0 byte is
 *          appended but not counted in len).
 *  @return : KSK_OK; KSK_ENET (no connection, timeout, broken transfer:
 *            the message names the URL and libcurl's reason); KSK_ELIMIT
 *            (body over CLI_HTTP_MAX_BODY); KSK_ENOMEM. */
ksk_err cli_http_get(cli_http *h, const char *path, const cli_param *params, size_t n,
                     long *status, ksk_buf *body, ksk_errinfo *ei);

#endif /* CLI_HTTP_H */
