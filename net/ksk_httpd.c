/*
 * ksk_httpd.c : /metrics and /health over libmicrohttpd (ksk_httpd.h).
 *
 * Data in: GET requests. Data out: the render callback's text.
 * Invariants: every response has a Content-Type; the body buffer is capped
 * (64 MiB) so a runaway renderer cannot exhaust memory.
 */
#include "ksk_httpd.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "kiseki/parse.h"

struct ksk_httpd {
	struct MHD_Daemon *d;
	ksk_httpd_render_fn render;
	void *ctx;
	uint16_t port;
};

static enum MHD_Result ksk_httpd_handler(void *cls, struct MHD_Connection *c,
                                         const char *url, const char *method,
                                         const char *version, const char *upload_data,
                                         size_t *upload_size, void **con_cls)
{
	ksk_httpd *h = cls;
	(void)version;
	(void)upload_data;
	(void)upload_size;
	(void)con_cls;
	int status;
	ksk_buf body;
	ksk_buf_init(&body, NULL, 64u << 20);
	const char *ctype = "text/plain; version=0.0.4; charset=utf-8";
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		status = 405;
		ksk_buf_append(&body, "method not allowed\n", 19);
	} else if (strcmp(url, "/metrics") == 0 || strcmp(url, "/health") == 0) {
		status = h->render(h->ctx, url, &body);
		if (strcmp(url, "/health") == 0)
			ctype = "application/json";
	} else {
		status = 404;
		ksk_buf_append(&body, "not found: try /metrics or /health\n", 35);
	}
	struct MHD_Response *r = MHD_create_response_from_buffer(
		body.len, body.len ? body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
	ksk_buf_fini(&body);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", ctype);
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

ksk_err ksk_httpd_start(const char *hostport, ksk_httpd_render_fn render, void *ctx,
                        ksk_httpd **out, ksk_errinfo *ei)
{
	uint32_t ip;
	uint16_t port;
	if (ksk_parse_hostport(hostport, &ip, &port) != KSK_OK)
		return ksk_errinfo_set(ei, KSK_EINVAL, "metrics: bad address '%s' (want HOST:PORT)",
		                       hostport ? hostport : "");
	ksk_httpd *h = calloc(1, sizeof(*h));
	if (!h)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "metrics: no memory");
	h->render = render;
	h->ctx = ctx;
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = ip;
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, port, NULL,
	                        NULL, ksk_httpd_handler, h, MHD_OPTION_SOCK_ADDR,
	                        (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT,
	                        (unsigned)10, MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
	                        MHD_OPTION_END);
	if (!h->d) {
		free(h);
		return ksk_errinfo_set(ei, KSK_ENET, "metrics: cannot listen on %s", hostport);
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : port;
	*out = h;
	return KSK_OK;
}

uint16_t ksk_httpd_port(const ksk_httpd *h)
{
	return h->port;
}

void ksk_httpd_stop(ksk_httpd *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}

void ksk_prom_printf(ksk_buf *b, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		ksk_buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

void ksk_prom_counter(ksk_buf *b, const char *name, const char *help, uint64_t v)
{
	ksk_prom_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
	                (unsigned long long)v);
}

void ksk_prom_gauge(ksk_buf *b, const char *name, const char *help, uint64_t v)
{
	ksk_prom_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name, name,
	                (unsigned long long)v);
}
