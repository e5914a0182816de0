/*
 * col_mem.h : the in-memory index of the open segment (the "memtable").
 *
 * Exports col_mem (opaque). It indexes the batches appended to one
 * write-ahead log without keeping their records: per trace, the log
 * offsets of the frames that hold its spans and logs, a compact row per
 * span (IDs, service, name, kind, start, duration, error) and a small set
 * of hashes of its "KEY=VALUE" attribute texts; a time-ordered list of log
 * rows; the (service, operation, kind) set; an interned string pool.
 * Full records are fetched by the store: pread the frames listed here and
 * decode them.
 *
 * Everything a query needs that is not a full record comes from here:
 * trace summaries for search (computed on demand from the span rows, so a
 * parent span that arrives after its child is resolved), operations,
 * service-to-service edges, log rows for log search and log counts.
 *
 * Ownership: strings handed to callbacks live in the col_mem's pool and
 * are valid until col_mem_destroy(). Arrays returned through out params
 * are allocated with the col_mem's allocator and freed by the caller with
 * ksk_free().
 * Threading: col_mem_add() may run concurrently with every reader
 * (an internal rwlock); callers serialise col_mem_add() calls among
 * themselves. col_mem_destroy() is not concurrent with anything.
 */
#ifndef COL_MEM_H
#define COL_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "col_segment.h"
#include "col_types.h"
#include "kiseki/alloc.h"
#include "kiseki/arena.h"
#include "kiseki/err.h"
#include "kiseki/frame.h"
#include "kiseki/wire.h"

typedef struct col_mem col_mem;

/* Where a frame sits in the log. */
typedef struct col_mem_frame {
	uint64_t off;  /* offset of the frame's first byte */
	uint32_t len;  /* frame bytes */
} col_mem_frame;

/* A log row matched by col_mem_logs(). */
typedef struct col_mem_logref {
	uint64_t time_ns;   /* time_ns, or observed_ns when time_ns is 0 */
	col_mem_frame frame;
	uint32_t index;     /* index in the decoded batch's logs */
	uint32_t seq;       /* insertion order (tie-break) */
} col_mem_logref;

/*! col_mem_create() : an empty index. `alloc` NULL = libc.
 *  @return : KSK_OK or KSK_ENOMEM. */
ksk_err col_mem_create(const ksk_alloc *alloc, col_mem **out);

/*! col_mem_destroy() : NULL is a no-op. */
void col_mem_destroy(col_mem *m);

/*! col_mem_add() : indexes one stored batch whose frame is at [off,
 *  off+len) of the log. Copies what it keeps.
 *  @return : KSK_OK; KSK_ENOMEM (the index may then hold part of the
 *            batch: the store stops accepting appends until reopened). */
ksk_err col_mem_add(col_mem *m, const ksk_frame_hdr *hdr, const ksk_batch *b,
                    uint64_t off, uint32_t len);

/* Sizes and time bounds. */
typedef struct col_mem_info {
	uint64_t batches, spans, logs, traces;
	uint64_t min_ns, max_ns; /* earliest span start/log time, latest end */
	uint64_t bytes;          /* approximate heap bytes held */
} col_mem_info;

void col_mem_info_get(col_mem *m, col_mem_info *out);

/*! col_mem_has_trace() : true when any span or log of the trace is here. */
bool col_mem_has_trace(col_mem *m, const uint8_t trace_id[16]);

/*! col_mem_trace_frames() : the frames holding records of the trace, in
 *  log order, as a new array (caller frees with ksk_free(alloc)).
 *  @return : KSK_OK (n 0 when absent); KSK_ENOMEM. */
ksk_err col_mem_trace_frames(col_mem *m, const uint8_t trace_id[16],
                             const ksk_alloc *alloc, col_mem_frame **out,
                             uint32_t *n);

/*! col_mem_search() : calls `cb` for each trace whose summary passes the
 *  trace-level conditions of `q` and that has one span matching service,
 *  operation and kind together; attribute filters are checked against the
 *  trace's attribute hashes only (candidates: the caller verifies them).
 *  Newest first. The summary's `services` array is allocated in `a`; its
 *  strings live in the index. `cb` runs without the index lock, so it may
 *  call any reader of this index (not col_mem_add). */
ksk_err col_mem_search(col_mem *m, const col_search *q, ksk_arena *a,
                       col_summary_cb cb, void *ctx);

/*! col_mem_operations() : every (service, operation, kind). The callbacks
 *  of this and the functions below run under the index's read lock: they
 *  must not call into the same index. */
void col_mem_operations(col_mem *m, col_op_cb cb, void *ctx);

/*! col_mem_edges() : edges for child spans starting in [start_ns, end_ns]
 *  (end 0 = open), one call per (parent service, child service). */
ksk_err col_mem_edges(col_mem *m, uint64_t start_ns, uint64_t end_ns,
                      col_edge_cb cb, void *ctx);

/*! col_mem_logs() : rows of the logs that pass the cheap conditions of `q`
 *  (service, host, severity, trace ID, time), newest first, as a new array
 *  (caller frees with ksk_free(alloc)).
 *  @return : KSK_OK; KSK_ENOMEM. */
ksk_err col_mem_logs(col_mem *m, const col_log_search *q,
                     const ksk_alloc *alloc, col_mem_logref **out,
                     uint32_t *n);

/* Called for each (service, severity name) with its count. */
typedef void (*col_mem_count_cb)(void *ctx, ksk_str service,
                                 const char *severity, uint64_t count);

/*! col_mem_log_stats() : log counts per service and severity range for
 *  logs in [start_ns, end_ns] (0 = open). */
ksk_err col_mem_log_stats(col_mem *m, uint64_t start_ns, uint64_t end_ns,
                          col_mem_count_cb cb, void *ctx);

#endif /* COL_MEM_H */
