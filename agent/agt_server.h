/*
 * agt_server.h : kiseki-agent as a whole.
 *
 *   files ──tail thread──> parse / multiline / OTLP lines ──> tail batcher
 *                 ┌──────── durable positions (commit) <────────┐    │ raw batches
 *                 v                                             │    v
 *               tailer                      spooler thread: zstd, spool append ─┐
 *   services ──NNG PULL (intake thread)──────────────────────> net batcher ────┤
 *   SDKs ──OTLP/HTTP, Zipkin (microhttpd threads)────────────> net batcher ────┤
 *                                                                            v
 *                     spool (disk, fsync) ──> shipper thread ──NNG REQ──> collectors
 *
 * The tail thread owns the tailer and the tail batcher; it also seals the
 * net batcher by age. Full tail batches go to the spooler thread, which
 * compresses and appends them (agt_spooler.h). A frame is appended to the
 * spool before any checkpoint moves; the tail thread commits the positions
 * of spooled frames to the tailer and saves them about once a second, then
 * the spool is told (agt_spool_checkpoint_saved), so after any crash
 * nothing is lost and nothing is read twice into a new frame. When the
 * spool is full the tail thread stops reading (the files are the buffer),
 * the intake drops and counts, and the HTTP receivers answer 503.
 *
 * main.c: agt_config_load -> agt_server_start -> print the ready line ->
 * wait for signals: SIGTERM/SIGINT -> agt_server_stop (flush, checkpoint,
 * exit 0); SIGHUP -> agt_server_reload (inputs only).
 */
#ifndef AGT_SERVER_H
#define AGT_SERVER_H

#include <stdint.h>

#include "agt_config.h"
#include "kiseki/err.h"

typedef struct agt_server agt_server;

/*! agt_server_start() : opens the spool (replaying it), starts the shipper,
 *  the tailer, the intake, the HTTP receivers and the metrics endpoint.
 *  `cfg` is borrowed and must outlive the server (until stop).
 *  @return : KSK_OK or the first failure, everything started undone. */
ksk_err agt_server_start(const agt_config *cfg, agt_server **out, ksk_errinfo *ei);

/*! agt_server_intake_url() : the native intake address. */
const char *agt_server_intake_url(const agt_server *s);

/*! agt_server_otlp_port() / _zipkin_port() / _metrics_port() : bound
 *  ports, 0 when off. */
uint16_t agt_server_otlp_port(const agt_server *s);
uint16_t agt_server_zipkin_port(const agt_server *s);
uint16_t agt_server_metrics_port(const agt_server *s);

/*! agt_server_reload() : replaces the tailed inputs with those of `cfg`
 *  (the other settings stay): everything read so far is sealed, spooled
 *  and checkpointed first, so no file is read again. `cfg` must outlive
 *  the server; the previous one may be freed after the call.
 *  @return : KSK_OK; on error the previous inputs keep running. */
ksk_err agt_server_reload(agt_server *s, const agt_config *cfg, ksk_errinfo *ei);

/*! agt_server_stop() : stops intake and receivers, flushes partial lines
 *  and pending multiline records, seals and spools everything, saves the
 *  checkpoint, waits up to `flush_ns` for the collectors' acks, closes.
 *  NULL is a no-op. */
void agt_server_stop(agt_server *s, uint64_t flush_ns);

#endif /* AGT_SERVER_H */
