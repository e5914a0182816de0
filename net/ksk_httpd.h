/*
 * ksk_httpd.h : the small read-only HTTP endpoint every Kiseki daemon
 * serves for operators: GET /metrics (Prometheus text) and GET /health
 * (JSON), on libmicrohttpd, loopback by default.
 *
 * The content comes from a render callback called per request, so this
 * server knows nothing about what it reports. Timeouts (10 s) and a
 * connection limit (64) protect it from slow clients; anything but
 * GET/HEAD is 405, any other path 404.
 * Threads: one internal microhttpd thread; the render callback runs on it
 * and must be thread-safe with respect to what it reads.
 */
#ifndef KSK_HTTPD_H
#define KSK_HTTPD_H

#include <stdint.h>

#include "kiseki/buf.h"
#include "kiseki/err.h"

/* Appends the body for `path` ("/metrics" or "/health") to `out`; returns
 * the HTTP status (200; 503 for an unhealthy /health). */
typedef int (*ksk_httpd_render_fn)(void *ctx, const char *path, ksk_buf *out);

typedef struct ksk_httpd ksk_httpd;

/*! ksk_httpd_start() : serves on `hostport` ("127.0.0.1:9464", ":0").
 *  @return : KSK_OK; KSK_EINVAL (bad address); KSK_ENET (bind failed). */
ksk_err ksk_httpd_start(const char *hostport, ksk_httpd_render_fn render, void *ctx,
                        ksk_httpd **out, ksk_errinfo *ei);

/*! ksk_httpd_port() : the bound port. */
uint16_t ksk_httpd_port(const ksk_httpd *h);

/*! ksk_httpd_stop() : stops and frees. NULL is a no-op. */
void ksk_httpd_stop(ksk_httpd *h);

/*! ksk_prom_counter() / ksk_prom_gauge() : append one metric with its HELP
 *  and TYPE lines. ksk_prom_printf() appends free text. */
void ksk_prom_counter(ksk_buf *b, const char *name, const char *help, uint64_t v);
void ksk_prom_gauge(ksk_buf *b, const char *name, const char *help, uint64_t v);
void ksk_prom_printf(ksk_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* KSK_HTTPD_H */
