/*
 * qry_http.c : the HTTP front of kiseki-query (qry_http.h).
 *
 * Data in: HTTP requests. Data out: API answers (streamed through
 * MHD_create_response_from_callback, one qry_response piece at a time)
 * and the UI's files. Invariants: only names in qry_ui_files are opened,
 * joined to ui_dir (no part of the URL reaches the filesystem); a request
 * body is never read (the API is GET-only); the auth token is compared in
 * constant time.
 */
#include "qry_http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kiseki/parse.h"

const char *const qry_ui_files[][2] = {
	{"index.html", "text/html; charset=utf-8"},
	{"app.js", "text/javascript; charset=utf-8"},
	{"style.css", "text/css; charset=utf-8"},
	{"favicon.svg", "image/svg+xml"},
	{NULL, NULL},
};

#define QRY_MAX_PARAMS 128

struct qry_http {
	struct MHD_Daemon *d;
	qry_api *api;
	char *ui_dir;
	char *token;
	uint16_t port;
};

typedef struct qry_params {
	qry_param v[QRY_MAX_PARAMS];
	size_t n;
	bool overflow;
} qry_params;

static enum MHD_Result qry_http_param(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
	(void)kind;
	qry_params *p = cls;
	if (p->n >= QRY_MAX_PARAMS) {
		p->overflow = true;
		return MHD_NO;
	}
	p->v[p->n].key = key;
	p->v[p->n].value = value ? value : "";
	p->n++;
	return MHD_YES;
}

static bool qry_token_ok(const qry_http *h, struct MHD_Connection *c)
{
	if (!h->token)
		return true;
	const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	if (!a || strncmp(a, "Bearer ", 7) != 0)
		return false;
	a += 7;
	size_t n = strlen(h->token), m = strlen(a);
	unsigned char diff = (unsigned char)(n != m);
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(h->token[i] ^ (i < m ? a[i] : 0));
	return diff == 0;
}

static enum MHD_Result qry_http_send(struct MHD_Connection *c, int status, const char *ctype,
                                     const void *body, size_t len)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, len ? (void *)body : (void *)"",
		                                MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", ctype);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

/* streaming: MHD pulls bytes; we hand it the current piece */
typedef struct qry_stream {
	qry_response rs;
	size_t off;
	bool done;
} qry_stream;

static ssize_t qry_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	qry_stream *s = cls;
	while (s->off >= s->rs.body.len) {
		if (s->done || !qry_response_more(&s->rs)) {
			s->done = true;
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		s->off = 0;
	}
	size_t n = s->rs.body.len - s->off;
	if (n > max)
		n = max;
	memcpy(buf, s->rs.body.data + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static void qry_stream_free(void *cls)
{
	qry_stream *s = cls;
	qry_response_fini(&s->rs);
	free(s);
}

static enum MHD_Result qry_http_file(qry_http *h, struct MHD_Connection *c, const char *url)
{
	if (!h->ui_dir)
		return qry_http_send(c, 404, "text/plain", "no UI configured (--ui-dir)\n", 28);
	const char *name = url[0] == '/' ? url + 1 : url;
	size_t k = 0;
	for (; qry_ui_files[k][0]; k++)
		if (strcmp(name, qry_ui_files[k][0]) == 0)
			break;
	if (!qry_ui_files[k][0]) {
		/* the UI's own routes (/, /search, /trace/<id>) load the app;
		 * a missing asset-like name is a 404 */
		if (strchr(name, '.'))
			return qry_http_send(c, 404, "text/plain", "not found\n", 10);
		k = 0;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", h->ui_dir, qry_ui_files[k][0]);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return qry_http_send(c, 404, "text/plain", "not found\n", 10);
	}
	struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
	if (!r) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", qry_ui_files[k][1]);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	enum MHD_Result ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result qry_http_handler(void *cls, struct MHD_Connection *c, const char *url,
                                        const char *method, const char *version,
                                        const char *upload, size_t *upload_size, void **state)
{
	(void)version;
	(void)upload;
	qry_http *h = cls;
	if (*state == NULL) {
		/* first call: headers only; bodies are not read */
		*state = (void *)1;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0; /* discard any body */
		return MHD_YES;
	}
	if (qry_api_is_api_path(url) && !qry_token_ok(h, c)) {
		static const char msg[] = "{\"data\":null,\"total\":0,\"limit\":0,\"offset\":0,"
		                          "\"errors\":[{\"code\":401,\"msg\":\"missing or wrong "
		                          "bearer token\"}]}";
		struct MHD_Response *r = MHD_create_response_from_buffer(
			sizeof(msg) - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
		MHD_add_response_header(r, "Content-Type", "application/json");
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
		enum MHD_Result ret = MHD_queue_response(c, 401, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (!qry_api_is_api_path(url)) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return qry_http_send(c, 405, "text/plain", "method not allowed\n", 19);
		return qry_http_file(h, c, url);
	}
	qry_params *ps = calloc(1, sizeof(*ps));
	qry_stream *s = calloc(1, sizeof(*s));
	if (!ps || !s) {
		free(ps);
		free(s);
		return MHD_NO;
	}
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, qry_http_param, ps);
	qry_response_init(&s->rs);
	if (ps->overflow) {
		static const char msg[] = "{\"data\":null,\"total\":0,\"limit\":0,\"offset\":0,"
		                          "\"errors\":[{\"code\":400,\"msg\":\"too many query "
		                          "parameters\"}]}";
		ksk_buf_append(&s->rs.body, msg, sizeof(msg) - 1);
		s->rs.status = 400;
	} else {
		qry_request rq = {method, url, ps->v, ps->n};
		qry_api_handle(h->api, &rq, &s->rs);
	}
	free(ps);
	enum MHD_Result ret;
	if (!s->rs.gen) {
		ret = qry_http_send(c, s->rs.status, s->rs.content_type, s->rs.body.data,
		                    s->rs.body.len);
		qry_stream_free(s);
		return ret;
	}
	int status = s->rs.status;
	const char *ctype = s->rs.content_type;
	struct MHD_Response *r = MHD_create_response_from_callback(
		MHD_SIZE_UNKNOWN, 64 * 1024, qry_stream_read, s, qry_stream_free);
	if (!r) {
		qry_stream_free(s);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", ctype);
	ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

ksk_err qry_http_start(const qry_http_opts *o, qry_api *api, qry_http **out, ksk_errinfo *ei)
{
	uint32_t ip;
	uint16_t port;
	if (!o || !o->listen || ksk_parse_hostport(o->listen, &ip, &port) != KSK_OK)
		return ksk_errinfo_set(ei, KSK_EINVAL, "query: bad listen address '%s' (HOST:PORT)",
		                       o && o->listen ? o->listen : "");
	qry_http *h = calloc(1, sizeof(*h));
	if (!h)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "query: out of memory");
	h->api = api;
	if (o->ui_dir)
		h->ui_dir = strdup(o->ui_dir);
	if (o->auth_token && *o->auth_token)
		h->token = strdup(o->auth_token);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = ip;
	unsigned threads = o->threads ? o->threads : 4;
	h->d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, port, NULL, NULL,
		qry_http_handler, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_TIMEOUT,
		o->timeout_s ? o->timeout_s : 30u, MHD_OPTION_CONNECTION_LIMIT,
		o->conn_limit ? o->conn_limit : 256u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)(128 * 1024), MHD_OPTION_END);
	if (!h->d) {
		qry_http_stop(h);
		return ksk_errinfo_set(ei, KSK_ENET, "query: cannot listen on %s", o->listen);
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : port;
	*out = h;
	return KSK_OK;
}

uint16_t qry_http_port(const qry_http *h)
{
	return h->port;
}

void qry_http_stop(qry_http *h)
{
	if (!h)
		return;
	if (h->d)
		MHD_stop_daemon(h->d);
	free(h->ui_dir);
	free(h->token);
	free(h);
}
