/*
 * agt_intake.h : the agent's native span intake: an NNG PULL socket
 * (--intake, ipc:// by default) where instrumented services (the
 * libkiseki-trace exporter) push their span batches.
 *
 * Message = one batch frame (kiseki/frame.h, docs/WIRE.md section 4),
 * decoded with the same hostile-safe decoders as the collector's; each
 * good batch is handed to a callback, each bad one is counted by reason
 * and dropped (the sender cannot be told: PUSH has no reply).
 * When the agent's spool is full the callback returns KSK_EBUSY and the
 * batch is dropped and counted ("spool_full"): the service never blocks.
 * Threads: one receiver thread; the callback runs on it.
 */
#ifndef AGT_INTAKE_H
#define AGT_INTAKE_H

#include <stdint.h>

#include "kiseki/err.h"
#include "kiseki/wire.h"

typedef ksk_err (*agt_intake_fn)(void *ctx, const ksk_batch *b);

typedef struct agt_intake_opts {
	const char *url;     /* ipc:///path or tcp://127.0.0.1:port */
	size_t max_frame;    /* receive cap (default 4 MiB) */
	agt_intake_fn on_batch;
	void *ctx;
} agt_intake_opts;

typedef struct agt_intake agt_intake;

typedef struct agt_intake_stats {
	uint64_t frames, spans, logs;
	uint64_t rejected_by_code[KSK_ERR_COUNT_]; /* bad frames, by ksk_err */
	uint64_t dropped_busy;                      /* refused: spool full */
} agt_intake_stats;

/*! agt_intake_start() : @return : KSK_OK; KSK_ENET; KSK_ENOMEM. */
ksk_err agt_intake_start(const agt_intake_opts *o, agt_intake **out, ksk_errinfo *ei);

/*! agt_intake_url() : the listening URL (real port for tcp port 0). */
const char *agt_intake_url(const agt_intake *in);

/*! agt_intake_stats_get() : thread-safe snapshot. */
void agt_intake_stats_get(agt_intake *in, agt_intake_stats *out);

/*! agt_intake_stop() : stops the thread, closes, frees. NULL no-op. */
void agt_intake_stop(agt_intake *in);

#endif /* AGT_INTAKE_H */
