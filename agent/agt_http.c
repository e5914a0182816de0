/*
 * agt_http.c : POST receivers on libmicrohttpd (agt_http.h).
 *
 * Data in: HTTP requests. Data out: handler calls with whole bodies;
 * responses.
 * Per connection, the request body is collected into a capped buffer
 * (over max_body: 413 and the rest is discarded); when the body is
 * complete, a gzip Content-Encoding is inflated with its own cap, then the
 * handler runs. Anything but POST is 405 (with Allow), an unknown path
 * 404, an unsupported Content-Encoding 415.
 * Invariants: no allocation grows past the caps; every response has a
 * Content-Type; one handler call per complete request.
 */
#include "agt_http.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>
#include <zlib.h>

#include "kiseki/parse.h"

struct agt_http {
	agt_http_opts o;
	struct MHD_Daemon *d;
	uint16_t port;
};

/* per-request state (MHD's con_cls) */
typedef struct agt_http_conn {
	ksk_buf body;
	int too_big;
} agt_http_conn;

ksk_err agt_gunzip(const uint8_t *in, size_t len, size_t max, ksk_buf *out)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 15 + 32) != Z_OK) /* gzip or zlib header */
		return KSK_ENOMEM;
	ksk_buf_clear(out);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)(len > UINT32_MAX ? UINT32_MAX : len);
	ksk_err rc = KSK_OK;
	for (;;) {
		if (ksk_buf_reserve(out, 65536) != KSK_OK) {
			rc = KSK_ENOMEM;
			break;
		}
		size_t room = out->cap - out->len;
		if (out->len + room > max)
			room = max - out->len + 1; /* one byte past the cap detects overflow */
		z.next_out = out->data + out->len;
		z.avail_out = (uInt)room;
		int zr = inflate(&z, Z_NO_FLUSH);
		out->len += room - z.avail_out;
		if (out->len > max) {
			rc = KSK_ETOOBIG;
			break;
		}
		if (zr == Z_STREAM_END) {
			if (z.avail_in != 0)
				rc = KSK_EPARSE; /* trailing garbage */
			break;
		}
		if (zr != Z_OK || (z.avail_in == 0 && z.avail_out != 0)) {
			rc = KSK_EPARSE;
			break;
		}
	}
	inflateEnd(&z);
	return rc;
}

static enum MHD_Result agt_http_reply(struct MHD_Connection *c, unsigned status,
                                      const char *ctype, const void *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)(len ? body : ""),
	                                                         MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", ctype);
	if (status == 405)
		MHD_add_response_header(r, "Allow", "POST");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result agt_http_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
	char body[512];
	int n = snprintf(body, sizeof(body), "{\"code\":%u,\"message\":\"%s\"}", status, msg);
	return agt_http_reply(c, status, "application/json", body, (size_t)n);
}

static int agt_http_path_ok(const agt_http *h, const char *url)
{
	for (const char *const *p = h->o.paths; p && *p; p++)
		if (strcmp(*p, url) == 0)
			return 1;
	return 0;
}

static enum MHD_Result agt_http_handler(void *cls, struct MHD_Connection *c, const char *url,
                                        const char *method, const char *version,
                                        const char *upload_data, size_t *upload_size,
                                        void **con_cls)
{
	agt_http *h = cls;
	(void)version;
	agt_http_conn *st = *con_cls;
	if (!st) {
		/* first call: headers only */
		if (strcmp(method, "POST") != 0)
			return agt_http_error(c, 405, "only POST is accepted");
		if (!agt_http_path_ok(h, url))
			return agt_http_error(c, 404, "unknown path");
		st = calloc(1, sizeof(*st));
		if (!st)
			return MHD_NO;
		ksk_buf_init(&st->body, NULL, h->o.max_body);
		*con_cls = st;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!st->too_big && ksk_buf_append(&st->body, upload_data, *upload_size) != KSK_OK)
			st->too_big = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	if (st->too_big)
		return agt_http_error(c, 413, "request body over the size limit");
	const char *enc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding");
	const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	agt_http_req req = {url, ctype ? ctype : "", st->body.data, st->body.len};
	ksk_buf inflated;
	ksk_buf_init(&inflated, NULL, h->o.max_inflated + 65536);
	if (enc && *enc && strcasecmp(enc, "identity") != 0) {
		if (strcasecmp(enc, "gzip") != 0 && strcasecmp(enc, "deflate") != 0) {
			ksk_buf_fini(&inflated);
			return agt_http_error(c, 415, "unsupported Content-Encoding (gzip or identity)");
		}
		ksk_err rc = agt_gunzip(st->body.data, st->body.len, h->o.max_inflated, &inflated);
		if (rc != KSK_OK) {
			ksk_buf_fini(&inflated);
			return agt_http_error(c, rc == KSK_ETOOBIG ? 413 : 400,
			                      rc == KSK_ETOOBIG ? "inflated body over the size limit"
			                                        : "corrupt gzip body");
		}
		req.body = inflated.data;
		req.len = inflated.len;
	}
	ksk_buf out;
	ksk_buf_init(&out, NULL, 1u << 20);
	agt_http_resp resp = {200, "application/json", &out};
	h->o.handle(h->o.ctx, &req, &resp);
	enum MHD_Result ret = agt_http_reply(c, (unsigned)resp.status, resp.content_type,
	                                     out.data, out.len);
	ksk_buf_fini(&out);
	ksk_buf_fini(&inflated);
	return ret;
}

static void agt_http_done(void *cls, struct MHD_Connection *c, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	agt_http_conn *st = *con_cls;
	if (st) {
		ksk_buf_fini(&st->body);
		free(st);
		*con_cls = NULL;
	}
}

ksk_err agt_http_start(const agt_http_opts *o, agt_http **out, ksk_errinfo *ei)
{
	const char *what = o->what ? o->what : "http";
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	uint16_t port;
	if (ksk_parse_hostport(o->hostport, &sa.sin_addr.s_addr, &port) != KSK_OK)
		return ksk_errinfo_set(ei, KSK_EINVAL, "%s: bad address '%s' (want HOST:PORT)", what,
		                       o->hostport);
	sa.sin_port = htons(port);
	agt_http *h = calloc(1, sizeof(*h));
	if (!h)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "%s: no memory", what);
	h->o = *o;
	if (!h->o.max_body)
		h->o.max_body = 16u << 20;
	if (!h->o.max_inflated)
		h->o.max_inflated = 64u << 20;
	if (!h->o.timeout_s)
		h->o.timeout_s = 30;
	if (!h->o.max_conns)
		h->o.max_conns = 256;
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, ntohs(sa.sin_port),
	                        NULL, NULL, agt_http_handler, h, MHD_OPTION_SOCK_ADDR,
	                        (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT,
	                        h->o.timeout_s, MHD_OPTION_CONNECTION_LIMIT, h->o.max_conns,
	                        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)2,
	                        MHD_OPTION_NOTIFY_COMPLETED, agt_http_done, h, MHD_OPTION_END);
	if (!h->d) {
		free(h);
		return ksk_errinfo_set(ei, KSK_ENET, "%s: cannot listen on %s", what, o->hostport);
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : ntohs(sa.sin_port);
	*out = h;
	return KSK_OK;
}

uint16_t agt_http_port(const agt_http *h)
{
	return h->port;
}

void agt_http_stop(agt_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}
