/*
 * trc_int.h : internals of libkiseki-trace shared by its .c files.
 *
 * Exports: the tracer (trc_tracer: options, sampling state, the ring
 * registry, exporter state, counters), the per-thread ring (trc_ring), the
 * clock and calibration helpers, and the module entry points:
 *   trc_core.c   init/shutdown, begin/end, TLS, rings, sampling, fork
 *   trc_ctx.c    W3C traceparent / tracestate
 *   trc_export.c the exporter thread and its sinks
 *   trc_otlp.c   OTLP JSON lines writer
 *   trc_sp.c     the built-in SP PUSH client (fork-safe, no libnng)
 * Nothing here is part of the installed API.
 */
#ifndef TRC_INT_H
#define TRC_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include "kiseki/arena.h"
#include "kiseki/buf.h"
#include "kiseki/frame.h"
#include "kiseki/trace.h"
#include "kiseki/wire.h"

#define TRC_CACHELINE 64

/* ---- the per-thread ring ------------------------------------------------- */

/* Single producer (the owning thread) / single consumer (the exporter).
 * head and tail count slots since creation; slot i is slots[i & mask].
 * The producer publishes a slot with a release store of head; the consumer
 * frees slots with a release store of tail. */
typedef struct trc_ring {
	uint64_t head;       /* producer: written with release */
	uint64_t tail_cache; /* producer-private copy of tail */
	uint64_t dropped;    /* producer-only writes (ring full), relaxed */
	char pad0_[TRC_CACHELINE - 3 * sizeof(uint64_t)];
	uint64_t tail;       /* consumer: written with release */
	char pad1_[TRC_CACHELINE - sizeof(uint64_t)];
	uint64_t mask;
	uint64_t cap;
	int dead;            /* its thread exited: drain, then free */
	struct trc_ring *next;
	void *raw;           /* the allocation (slots are cache-line aligned) */
	ksk_trace_span *slots;
} trc_ring;

/* ---- built-in SP PUSH client (trc_sp.c) --------------------------------- */

typedef struct trc_sp trc_sp;

/*! trc_sp_create() : a disconnected client for an ipc:// or tcp:// URL.
 *  @return : KSK_OK; KSK_EINVAL (URL); KSK_ENOMEM. */
ksk_err trc_sp_create(const ksk_alloc *a, const char *url, trc_sp **out,
                      ksk_errinfo *ei);

/*! trc_sp_destroy() : closes the socket. Bytes already written reach the
 *  peer; a partly written message is lost. NULL no-op. */
void trc_sp_destroy(trc_sp *sp);

/*! trc_sp_pump() : advances connect / handshake / a pending write, waiting
 *  at most wait_ms for progress. @return : true when ready to send. */
bool trc_sp_pump(trc_sp *sp, uint32_t wait_ms);

/*! trc_sp_send() : sends one message: written whole, or the rest queued
 *  (then the next sends are refused until trc_sp_pump() finished it).
 *  @tag : added to the lost count if the queued rest is lost later.
 *  @return : KSK_OK; KSK_EBUSY (not connected, or a write pending): the
 *            message was not taken. */
ksk_err trc_sp_send(trc_sp *sp, const uint8_t *p, size_t n, uint64_t tag);

/*! trc_sp_take_lost() : sum of the tags of taken messages lost since the
 *  last call (connection lost before they were written whole). */
uint64_t trc_sp_take_lost(trc_sp *sp);

/*! trc_sp_idle() : nothing pending (every accepted message written). */
bool trc_sp_idle(const trc_sp *sp);

/*! trc_sp_forked() : in a forked child: forget the parent's connection
 *  (closes this process's copy of the descriptor). */
void trc_sp_forked(trc_sp *sp);

/* ---- OTLP JSON (trc_otlp.c) --------------------------------------------- */

/*! trc_json_begin() : opens one ExportTraceServiceRequest line for
 *  `res` and the scope. */
void trc_json_begin(ksk_buf *b, const ksk_resource *res, ksk_str scope_name,
                    ksk_str scope_version);

/*! trc_json_span() : appends one span (first = no leading comma). */
void trc_json_span(ksk_buf *b, const ksk_span *s, bool first);

/*! trc_json_end() : closes the line and appends '\n'. */
void trc_json_end(ksk_buf *b);

/* ---- the tracer ----------------------------------------------------------- */

enum { TRC_CLOCK_TSC = 1, TRC_CLOCK_REALTIME = 2, TRC_CLOCK_CUSTOM = 3 };

#define TRC_CHUNK 256 /* spans converted and handed to the sinks at once */

typedef struct trc_tracer {
	/* read-only after init (hot path) */
	uint32_t gen;               /* changes at init and in a forked child */
	int clock_mode;
	bool parent_based;
	uint64_t ratio_threshold;   /* sampled when low 56 bits >= this */
	uint64_t rate_interval_ns;  /* 0 = no rate limit */
	uint64_t rate_burst_ns;
	const ksk_clock *clock;
	const ksk_alloc *alloc;
	uint32_t ring_slots;

	/* shared atomics, apart from the read-only part */
	char pad0_[TRC_CACHELINE];
	uint64_t rate_tat;          /* GCRA theoretical arrival time, ns */
	uint64_t drop_stale;
	uint64_t drop_nomem;
	uint64_t rate_limited;
	uint64_t rng_seq;           /* per-thread seeds */
	uint64_t seed;
	char pad1_[TRC_CACHELINE];

	/* ring registry */
	pthread_mutex_t reg_mu;
	trc_ring *rings;            /* pushed at the head; only the exporter unlinks */
	uint32_t n_rings;
	uint64_t dead_dropped;      /* ring-full drops of freed rings */
	pthread_key_t key;          /* destructor marks a thread's ring dead */
	bool key_ok;

	/* exporter control */
	pthread_mutex_t ex_mu;
	pthread_cond_t ex_cv;       /* wakes the exporter */
	pthread_cond_t done_cv;     /* flush done */
	pthread_t ex_thread;
	bool ex_running;
	bool stop;
	uint64_t flush_req, flush_done;
	uint32_t interval_ms;
	uint32_t shutdown_ms;

	/* exporter counters (written by the exporter, read with atomics) */
	uint64_t st_exported, st_encode, st_frames, st_agent_sent, st_agent_drop;
	uint64_t st_file_written, st_file_drop;

	/* clock calibration (exporter) */
	uint64_t cal_tsc0, cal_raw0;   /* first pair: TSC, CLOCK_MONOTONIC_RAW */
	uint64_t cal_tsc, cal_real;    /* latest pair: TSC, CLOCK_REALTIME */
	double ns_per_tick;

	/* identity (strings in res_arena) */
	ksk_arena *res_arena;
	ksk_str scope_name, scope_version;
	ksk_attr *res_attrs;
	uint32_t n_res_attrs;
	int pid_attr;                  /* index of process.pid, -1 if the user's */
	ksk_resource resource;
	uint8_t agent_id[KSK_AGENT_ID_LEN];
	uint64_t seq;

	/* agent sink */
	const char *agent_url;         /* NULL = no agent sink (in res_arena) */
	bool use_builtin;
	bool nng_open;
	nng_socket nng_sock;
	trc_sp *sp;
	ksk_wire_enc *we;
	ksk_frame_enc *fe;
	uint32_t frame_spans;          /* spans in the open payload */
	size_t max_frame;

	/* file sink */
	int file_fd;                   /* -1 = none */
	const char *file_path;         /* in res_arena; reopened when renamed */
	ksk_buf json;                  /* lines not written yet */
	uint32_t json_spans;           /* spans in `json` */
	size_t json_line_start;        /* offset of the open line */
	uint32_t json_line_spans;      /* spans in the open line (0 = none open) */
	size_t file_max_line;

	/* callback sink */
	ksk_trace_export_fn on_export;
	void *on_export_ctx;

	/* exporter scratch: one chunk of converted spans */
	ksk_span *cv_spans;            /* TRC_CHUNK */
	ksk_attr *cv_attrs;            /* TRC_CHUNK * KSK_TRACE_MAX_ATTRS */
	ksk_event *cv_events;          /* TRC_CHUNK * KSK_TRACE_MAX_EVENTS */
} trc_tracer;

/* ---- core helpers used by the exporter (trc_core.c) ---------------------- */

/*! trc_ticks_to_ns() : a clock reading of the hot path -> ns since epoch. */
uint64_t trc_ticks_to_ns(const trc_tracer *tr, uint64_t ticks);

/*! trc_calibrate() : refreshes the TSC calibration (exporter thread). */
void trc_calibrate(trc_tracer *tr);

/*! trc_rng_bytes() : `n` random bytes from the process seed (not hot). */
void trc_rng_bytes(trc_tracer *tr, uint8_t *out, size_t n);

/* ---- exporter (trc_export.c) --------------------------------------------- */

/*! trc_export_setup() : sinks and encoders from the options. */
ksk_err trc_export_setup(trc_tracer *tr, const ksk_trace_opts *o, ksk_errinfo *ei);

/*! trc_export_resource() : (re)builds the resource (process.pid etc.). */
ksk_err trc_export_resource(trc_tracer *tr, const ksk_trace_opts *o, ksk_errinfo *ei);

/*! trc_export_start() : starts the exporter thread. */
ksk_err trc_export_start(trc_tracer *tr, ksk_errinfo *ei);

/*! trc_export_stop() : final drain and send, then joins the thread. */
void trc_export_stop(trc_tracer *tr);

/*! trc_export_teardown() : closes sinks, frees encoders and resource. */
void trc_export_teardown(trc_tracer *tr);

/*! trc_export_forked() : in a forked child, with the locks held by this
 *  thread: forget the parent's sink state and restart the exporter. */
void trc_export_forked(trc_tracer *tr);

/* ---- W3C helpers (trc_ctx.c) --------------------------------------------- */

/*! trc_hex_lower() : 2n lowercase hex digits -> n bytes; false on anything
 *  else (uppercase included). */
bool trc_hex_lower(const char *s, size_t n, uint8_t *out);

#endif /* TRC_INT_H */
