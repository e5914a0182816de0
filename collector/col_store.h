/*
 * col_store.h : the collector's storage engine.
 *
 * Exports col_store (opaque): open a data directory (recovering whatever a
 * crash left), append verified batches durably with deduplication, and
 * answer every query the collector serves: trace by ID (spans + logs),
 * trace search over per-trace summaries, services, operations, dependency
 * edges, log search and log counts. Sealing, retention and quarantine run
 * from col_store_tick().
 *
 * On disk (docs/STORAGE.md is the full description):
 *   DATA/wal-<n>.log      the open segment: a write-ahead log of frames
 *   DATA/seg-<n>.ksg      sealed segments: trace-grouped, compressed, with
 *                         a sorted trace-ID index and a filter
 *   DATA/quarantine/      sealed segments that failed their checks
 *
 * Durability: col_store_append() returns only when the batch is durable
 * under the fsync mode: COL_FSYNC_ALWAYS = fsync'd (group commit shares one
 * fsync among concurrent appends); COL_FSYNC_INTERVAL = written to the OS
 * (survives a process crash; a power loss may lose up to the interval).
 *
 * Threading: every function is thread-safe unless it says otherwise;
 * appends from many ingest workers and queries run concurrently.
 * Ownership: results are allocated from the caller's arena and are valid
 * until it is reset; the store keeps nothing of the caller's.
 */
#ifndef COL_STORE_H
#define COL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "col_types.h"
#include "kiseki/alloc.h"
#include "kiseki/arena.h"
#include "kiseki/clock.h"
#include "kiseki/err.h"
#include "kiseki/frame.h"
#include "kiseki/wire.h"

typedef enum col_fsync_mode {
	COL_FSYNC_ALWAYS = 0,
	COL_FSYNC_INTERVAL = 1,
} col_fsync_mode;

/* A sink for the store's messages (recovery, quarantine, retention).
 * level: 0 info, 1 warning, 2 error. May be NULL (silent). */
typedef void (*col_log_fn)(void *ctx, int level, const char *msg);

typedef struct col_store_opts {
	const char *data_dir;         /* created if missing */
	col_fsync_mode fsync_mode;
	uint64_t fsync_interval_ns;   /* COL_FSYNC_INTERVAL: at most this old (default 200 ms) */
	uint64_t segment_max_bytes;   /* seal the open segment past this (default 64 MiB),
	                                 or once its batches hold 8x this decompressed */
	uint64_t segment_max_records; /* ... or once it holds this many spans and logs
	                                 (default 1M; memory follows records) */
	uint64_t segment_max_age_ns;  /* ... or when older than this (default 10 min) */
	/* Sealing backlog. An append that finds the open segment past
	 * segment_max_bytes rotates it out itself (so a slow seal never lets
	 * the open segment grow without bound) and calls `wake` so the
	 * maintenance thread seals it now. With `max_sealing` segments
	 * already waiting (default 1), the append waits up to
	 * `backlog_wait_ns` (default 5 s; 0 = not at all) for a seal to
	 * finish, then fails with KSK_EBUSY: the agent keeps the batch in its
	 * spool and retries, so the data waits there, not in this memory. */
	uint32_t max_sealing;
	uint64_t backlog_wait_ns;
	void (*wake)(void *ctx);      /* may be NULL; called with the append
	                                 lock held, so it must only signal */
	void *wake_ctx;
	uint64_t retention_ns;        /* drop sealed segments older than this (0 = keep) */
	uint64_t max_disk_bytes;      /* drop oldest sealed segments past this (0 = no cap) */
	const ksk_clock *clock;       /* NULL = system clock */
	const ksk_alloc *alloc;       /* NULL = libc */
	col_log_fn log;
	void *log_ctx;
	/* Decode limits for replay, sealing and fetches from the open
	 * segment: NULL = the defaults. Give the ones ingest uses, or a frame
	 * accepted at ingest could fail to decode at recovery. Copied. */
	const ksk_frame_limits *frame_limits;
	const ksk_wire_limits *wire_limits;
} col_store_opts;

/*! col_store_opts_default() : the defaults above, data_dir NULL. */
void col_store_opts_default(col_store_opts *o);

typedef struct col_store col_store;

/*! col_store_open() : opens (creating if needed) the data directory and
 *  recovers: replays the write-ahead log (a torn tail is truncated, with a
 *  warning), rebuilds any missing index, opens every sealed segment (a
 *  corrupt one is moved to quarantine/ with an error message; the rest
 *  serve), and restores the dedupe set.
 *  @return : KSK_OK; KSK_ESYS/KSK_EIO (the directory is unusable);
 *            KSK_ENOMEM. */
ksk_err col_store_open(const col_store_opts *opts, col_store **out,
                       ksk_errinfo *ei);

/*! col_store_close() : flushes and fsyncs, then frees. NULL is a no-op.
 *  Not concurrent with any other call. */
void col_store_close(col_store *s);

typedef enum col_append_result {
	COL_APPEND_STORED = 0,
	COL_APPEND_DUPLICATE = 1, /* (agent ID, seq) was stored before */
} col_append_result;

/*! col_store_append() : stores one verified frame.
 *  @hdr, @frame, @len : the frame as received (already checked by
 *                       ksk_frame_parse_header) and its header.
 *  @batch : its decoded records (the caller decoded it to validate).
 *  Returns when durable (see the fsync modes). A duplicate is detected
 *  atomically: two concurrent appends of the same (agent, seq) store once.
 *  @return : KSK_OK with *res set; KSK_EIO/KSK_ESYS (nothing acked: the
 *            caller must not ack); KSK_EBUSY (the store is sealing and its
 *            queue is full: retry later). */
ksk_err col_store_append(col_store *s, const ksk_frame_hdr *hdr,
                         const uint8_t *frame, size_t len,
                         const ksk_batch *batch, col_append_result *res,
                         ksk_errinfo *ei);

/*! col_store_tick() : periodic work: seal the open segment when it is too
 *  big or too old, apply retention, fsync in interval mode. Called by the
 *  collector's maintenance thread about once a second, and by tests with a
 *  manual clock. */
ksk_err col_store_tick(col_store *s, ksk_errinfo *ei);

/*! col_store_seal_pending() : seals the rotated-out logs no other thread
 *  is sealing, one after the other; for extra sealer threads (the
 *  collector's --seal-threads), beside col_store_tick, which seals too.
 *  Several threads may call it at once: each log is sealed by one. */
ksk_err col_store_seal_pending(col_store *s, ksk_errinfo *ei);

/*! col_store_seal_now() : seals the open segment now (tests, shutdown). */
ksk_err col_store_seal_now(col_store *s, ksk_errinfo *ei);

/*! col_store_get_trace() : every span and log of a trace, from every
 *  segment that holds part of it.
 *  @start_hint, @end_hint : ns; when non-zero, segments outside the range
 *                           are skipped (like Jaeger's start/end hints).
 *  @return : KSK_OK; KSK_ENOTFOUND (no span and no log). */
ksk_err col_store_get_trace(col_store *s, const uint8_t trace_id[16],
                            uint64_t start_hint, uint64_t end_hint,
                            ksk_arena *a, col_trace *out, ksk_errinfo *ei);

/*! col_store_search() : trace summaries matching `q`, newest first, at most
 *  q->limit of them, the limit applied after every filter. */
ksk_err col_store_search(col_store *s, const col_search *q, ksk_arena *a,
                         col_summary **out, uint32_t *n, ksk_errinfo *ei);

/*! col_store_services() : every service name seen, sorted. */
ksk_err col_store_services(col_store *s, ksk_arena *a, ksk_str **out,
                           uint32_t *n);

/*! col_store_operations() : span names of `service` with their kinds,
 *  sorted by name then kind; `kind` -1 = every kind. */
ksk_err col_store_operations(col_store *s, ksk_str service, int kind,
                             ksk_arena *a, col_operation **out, uint32_t *n);

/*! col_store_edges() : service-to-service call edges for spans starting
 *  in [start_ns, end_ns]. */
ksk_err col_store_edges(col_store *s, uint64_t start_ns, uint64_t end_ns,
                        ksk_arena *a, col_edge **out, uint32_t *n);

/*! col_store_log_search() : logs matching `q`, newest first.
 *  @return : KSK_OK; KSK_EINVAL when the regex does not compile (message
 *            says where); KSK_ELIMIT when the regex hits its match limit. */
ksk_err col_store_log_search(col_store *s, const col_log_search *q,
                             ksk_arena *a, col_log_hit **out, uint32_t *n,
                             ksk_errinfo *ei);

/*! col_store_log_stats() : log counts per service and severity name for
 *  logs in [start_ns, end_ns] (0 = open). */
ksk_err col_store_log_stats(col_store *s, uint64_t start_ns, uint64_t end_ns,
                            ksk_arena *a, col_log_count **out, uint32_t *n);

/* Counters for metrics; read with col_store_stats(). */
typedef struct col_store_stats {
	uint64_t batches_stored;
	uint64_t batches_duplicate;
	uint64_t spans_stored;
	uint64_t logs_stored;
	uint64_t bytes_stored;        /* bytes of all live segment files */
	uint64_t segments_sealed;     /* live sealed segments */
	uint64_t segments_dropped;    /* by retention, since start */
	uint64_t segments_quarantined;
	uint64_t backlog_busy;        /* appends refused: sealing backlog */
	uint64_t segments_sealing;    /* rotated-out logs waiting to be sealed */
	uint64_t seals_from_log;      /* seals that read their log back (no
	                                 segment built at append time) */
	uint64_t fsyncs;
	uint64_t fsync_ns_sum;        /* total time in fsync */
	uint64_t fsync_ns_max;
	uint64_t wal_bytes;           /* size of the open segment */
	uint64_t open_raw_bytes;      /* its batches decompressed (it is full at
	                                 8x segment_max_bytes of these too) */
	uint64_t open_records;        /* spans and logs in it */
	bool open_full;               /* the open segment is full (an append
	                                 rotates it, or waits for room) */
} col_store_stats;

void col_store_stats_get(col_store *s, col_store_stats *out);

/*! col_store_test_fail_next_fsync() : test hook: the next fdatasync of the
 *  open segment's log reports EIO without calling the OS, so tests can
 *  check that a failed fsync is never acked and that the store then
 *  refuses appends until reopened. Thread-safe. */
void col_store_test_fail_next_fsync(col_store *s);

#endif /* COL_STORE_H */
