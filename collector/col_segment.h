/*
 * col_segment.h : sealed segments, the collector's long-term storage.
 *
 * Exports a writer (col_segw) that turns the records of a closed
 * write-ahead log into one immutable file, and a reader (col_seg) that
 * serves every query from it without scanning: trace by ID through a
 * per-segment filter and a sorted trace-ID index, search over per-trace
 * summaries, services/operations/edges from small tables, logs by time.
 *
 * The file layout is docs/STORAGE.md's "Sealed segment" section. In short:
 * spans and logs grouped by trace into compressed blocks; a sorted trace-ID
 * index pointing into them; a filter over trace IDs; per-trace summaries;
 * dictionaries of services and operations; an edge table; the
 * (agent ID, seq) keys of every batch it holds (for dedupe after restart);
 * a footer with offsets and checksums. Every part is checksummed so a
 * damaged file is reported as KSK_ECORRUPT, never served wrongly.
 *
 * Ownership: a writer copies what it is given; a reader owns its file
 * mapping. Results go to the caller's arena (valid until its reset).
 * Threading: a writer belongs to one thread. A reader is immutable after
 * open: every read function may be called from many threads at once.
 */
#ifndef COL_SEGMENT_H
#define COL_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "col_types.h"
#include "kiseki/alloc.h"
#include "kiseki/arena.h"
#include "kiseki/err.h"
#include "kiseki/frame.h"
#include "kiseki/wire.h"

/* What a segment holds, from its footer. */
typedef struct col_seg_info {
	uint64_t min_ns, max_ns;   /* earliest span start / log time, latest end */
	uint64_t spans, logs, traces, batches;
	uint64_t file_bytes;
	uint64_t created_ns;       /* when it was sealed */
} col_seg_info;

/* ---- writer ------------------------------------------------------------ */

typedef struct col_segw col_segw;

/*! col_segw_create() : a writer. `alloc` NULL = libc. */
ksk_err col_segw_create(const ksk_alloc *alloc, col_segw **out);

/*! col_segw_destroy() : frees the writer (after finish or to abandon it). */
void col_segw_destroy(col_segw *w);

/*! col_segw_add() : adds one stored batch. Copies everything it needs.
 *  @hdr : gives the (agent ID, seq) dedupe key (NULL: no key recorded).
 *  @return : KSK_OK; KSK_EINVAL (a record names a resource the batch does
 *            not have; nothing was added); KSK_ENOMEM (the writer is then
 *            unusable: destroy it). */
ksk_err col_segw_add(col_segw *w, const ksk_frame_hdr *hdr,
                     const ksk_batch *b);

/* Tuning knobs (an addition for benchmarks and tests); 0 = default. */
typedef struct col_segw_tuning {
	int zstd_level;                 /* trace blocks and tables (default 6) */
	int zstd_log_level;             /* log blocks (default 1: see STORAGE.md) */
	size_t block_bytes;             /* raw bytes per trace block (128 KiB) */
	size_t log_block_bytes;         /* raw bytes per log block (64 KiB) */
	unsigned summary_bits_per_item; /* search bloom density (12) */
} col_segw_tuning;

/*! col_segw_set_tuning() : applies the non-zero fields of `t` (copied).
 *  Call before col_segw_finish(). */
void col_segw_set_tuning(col_segw *w, const col_segw_tuning *t);

/*! col_segw_spans() : spans added so far (to decide when to seal). */
size_t col_segw_spans(const col_segw *w);

/*! col_segw_finish() : writes the segment to `path` atomically (a
 *  temporary file, fsync, rename, fsync of the directory).
 *  @created_ns : the seal time recorded in the footer.
 *  @info : out (may be NULL).
 *  @return : KSK_OK; KSK_EIO/KSK_ESYS (PATH.tmp is removed, PATH is not
 *            touched); KSK_ENOMEM; KSK_ELIMIT (one trace block over
 *            1 GiB raw, or more than 2^32 traces). */
ksk_err col_segw_finish(col_segw *w, const char *path, uint64_t created_ns,
                        col_seg_info *info, ksk_errinfo *ei);

/* ---- reader ------------------------------------------------------------ */

typedef struct col_seg col_seg;

/*! col_seg_open() : opens and verifies a segment (footer, index, tables;
 *  block checksums are verified when each block is read).
 *  @return : KSK_OK; KSK_ECORRUPT (message says which part failed);
 *            KSK_EIO/KSK_ESYS; KSK_ENOMEM. */
ksk_err col_seg_open(const ksk_alloc *alloc, const char *path, col_seg **out,
                     ksk_errinfo *ei);

/*! col_seg_close() : NULL is a no-op. Not concurrent with reads. */
void col_seg_close(col_seg *s);

/*! col_seg_info_get() : the footer's counts. */
const col_seg_info *col_seg_info_get(const col_seg *s);

/* On-disk bytes by part (an addition for benchmarks and tools). */
typedef struct col_seg_bytes {
	uint64_t trace_blocks;   /* compressed trace blocks */
	uint64_t log_blocks;     /* compressed log blocks */
	uint64_t index;          /* trace-ID index + filter + block tables */
	uint64_t search;         /* summaries, their service lists and blooms */
	uint64_t tables;         /* dictionary, resources, services, ops, edges, keys */
	uint64_t other;          /* header and footer */
	uint64_t raw_trace_blocks; /* trace blocks before compression */
	uint64_t raw_log_blocks;   /* log blocks before compression */
} col_seg_bytes;

/*! col_seg_bytes_get() : where the file's bytes go. Thread-safe. */
void col_seg_bytes_get(const col_seg *s, col_seg_bytes *out);

/*! col_seg_may_contain() : false when the trace is certainly absent. */
bool col_seg_may_contain(const col_seg *s, const uint8_t trace_id[16]);

/*! col_seg_get_trace() : appends the trace's spans, logs and their
 *  resources to `out` (arrays grown in `a`; `out` may already hold records
 *  from other segments, which are kept: resource indexes of the appended
 *  records are shifted accordingly).
 *  @found : set true when the segment held any record of the trace.
 *  @return : KSK_OK; KSK_ECORRUPT (a block failed its checksum). */
ksk_err col_seg_get_trace(const col_seg *s, const uint8_t trace_id[16],
                          ksk_arena *a, col_trace *out, bool *found,
                          ksk_errinfo *ei);

/* Called for each candidate summary; return false to stop. The summary's
 * strings live in the segment (valid while it is open); its `services`
 * array itself is valid only during the call (copy it to keep it). */
typedef bool (*col_summary_cb)(void *ctx, const col_summary *sum);

/*! col_seg_search() : calls `cb` for every trace whose summary passes the
 *  trace-level conditions of `q` (time, duration, span count, errors) and
 *  whose span-level conditions (service, operation, kind, attributes)
 *  may hold (the segment's indexes may give false positives; the store
 *  verifies candidates by fetching them). Newest first. */
ksk_err col_seg_search(const col_seg *s, const col_search *q,
                       col_summary_cb cb, void *ctx, ksk_errinfo *ei);

/* Called for each distinct (service, operation, kind). */
typedef void (*col_op_cb)(void *ctx, ksk_str service, ksk_str op,
                          ksk_span_kind kind);

/*! col_seg_operations() : every (service, operation, kind) in the segment. */
void col_seg_operations(const col_seg *s, col_op_cb cb, void *ctx);

/* Called for each edge row (per segment, possibly per time bucket). */
typedef void (*col_edge_cb)(void *ctx, const col_edge *e);

/*! col_seg_edges() : edges for spans starting in [start_ns, end_ns]
 *  (0 = open), at minute granularity: one call per (minute, parent, child)
 *  row whose minute overlaps the range; the caller sums rows. */
void col_seg_edges(const col_seg *s, uint64_t start_ns, uint64_t end_ns,
                   col_edge_cb cb, void *ctx);

/* Called for each dedupe key the segment holds. */
typedef void (*col_key_cb)(void *ctx, const uint8_t agent_id[16], uint64_t seq);

/*! col_seg_batch_keys() : every (agent ID, seq) stored in the segment. */
void col_seg_batch_keys(const col_seg *s, col_key_cb cb, void *ctx);

/* Called for each log in a time range; return false to stop. The hit's
 * strings are in `a`. */
typedef bool (*col_log_cb)(void *ctx, const col_log_hit *hit);

/*! col_seg_logs() : decodes the logs whose time is in [start_ns, end_ns]
 *  (0 = open), newest first, and calls `cb` for each that passes the
 *  cheap conditions of `q` (service, host, severity, trace ID); the caller
 *  applies the regex. */
ksk_err col_seg_logs(const col_seg *s, const col_log_search *q, ksk_arena *a,
                     col_log_cb cb, void *ctx, ksk_errinfo *ei);

#endif /* COL_SEGMENT_H */
