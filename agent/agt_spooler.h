/*
 * agt_spooler.h : the tail pipe's second stage: compress, spool, fsync on
 * a thread of its own, and hand the durable positions back.
 *
 *   tail thread                         spooler thread
 *   batch full ─ agt_spooler_push() ──> [slot ring] ── zstd frame
 *                                                        agt_spool_append (fsync)
 *   agt_spooler_reclaim() <── positions of durable frames ─┘
 *   └─> agt_tail_commit() (on the tail thread, as the tailer requires)
 *
 * The producer (the agent's tail thread) builds batches with agt_batch and
 * pushes each full one: its raw payload and positions are copied into one
 * of `slots` slots (the batch is emptied). The spooler thread takes the
 * slots in push order, frames each (ksk_frame_encode, zstd), appends it to
 * the spool (fsync per the spool's policy) and marks it done with its seq.
 * The producer then reclaims done slots, oldest first: for each it gets
 * the positions, which it commits to the tailer; the slot is free again.
 *
 * Invariants:
 *  - positions come back only for frames that agt_spool_append() accepted
 *    (durable under the spool's policy), and in push order, so a file's
 *    checkpoint never passes a line whose frame is not in the spool;
 *  - a slot that could not be spooled (spool full, I/O error) is retried
 *    (50 ms apart) and blocks the slots behind it: order is kept and the
 *    producer sees no room (backpressure: the files are the buffer);
 *  - a slot is dropped (its positions never handed back) only by
 *    agt_spooler_drain() running out of time or by agt_spooler_stop(); the
 *    lines it held are then read again after a restart or a reload, since
 *    no checkpoint covers them.
 * With `compressors` > 1, helper threads compress the slots waiting behind
 * the one being appended (each with its own zstd context); appends stay
 * on the spooler thread, in push order.
 * Memory: `slots` payload copies (each up to the batch's size) and frame
 * buffers, one zstd context per compressor.
 * Threading: push, room, wait_room, reclaim, drain belong to ONE producer
 * thread (or to whoever runs when it is stopped); the spooler thread is
 * internal. Stats are readable from any thread.
 */
#ifndef AGT_SPOOLER_H
#define AGT_SPOOLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agt_batch.h"
#include "agt_spool.h"
#include "kiseki/clock.h"
#include "kiseki/err.h"

typedef struct agt_spooler_opts {
	agt_spool *spool;        /* borrowed; must outlive the spooler */
	uint32_t slots;          /* batches queued (default 2, at most 64) */
	uint32_t compressors;    /* threads compressing frames, the spooler
	                          * thread included (default 1, at most 16) */
	int zstd_level;          /* default 1 */
	size_t pos_size;         /* bytes per position entry (as the batch's) */
	const ksk_clock *clock;  /* NULL = system (frame creation time) */
	agt_spool_log_fn log;    /* NULL = silent */
	void *log_ctx;
} agt_spooler_opts;

typedef struct agt_spooler agt_spooler;

/*! agt_spooler_start() : allocates the slots and starts the thread.
 *  @return : KSK_OK; KSK_EINVAL (no spool); KSK_ENOMEM; KSK_ESYS. */
ksk_err agt_spooler_start(const agt_spooler_opts *o, agt_spooler **out, ksk_errinfo *ei);

/*! agt_spooler_room() : true when a push would find a free slot
 *  (reclaim first: done slots are free only once reclaimed). */
bool agt_spooler_room(agt_spooler *q);

/*! agt_spooler_push() : takes the open batch of `b` (agt_batch_take) into a
 *  free slot and wakes the thread.
 *  @return : KSK_OK (b is empty); KSK_EBUSY (no free slot: b unchanged);
 *            KSK_ESTATE (b had nothing); KSK_ENOMEM (b unchanged). */
ksk_err agt_spooler_push(agt_spooler *q, agt_batch *b);

/* Gets the positions of one spooled frame (n entries of pos_size bytes,
 * valid during the call) and its seq. */
typedef void (*agt_spooler_pos_fn)(void *ctx, uint64_t seq, const uint8_t *pos, size_t n);

/*! agt_spooler_reclaim() : calls fn for every slot spooled since the last
 *  reclaim, oldest first (dropped slots are skipped), and frees them.
 *  @return : the number of slots freed. */
size_t agt_spooler_reclaim(agt_spooler *q, agt_spooler_pos_fn fn, void *ctx);

/*! agt_spooler_wait_room() : waits up to max_ns for a pushed slot to be
 *  spooled (so that reclaim frees one). @return : true when a slot is
 *  waiting for reclaim or free. */
bool agt_spooler_wait_room(agt_spooler *q, uint64_t max_ns);

/*! agt_spooler_idle() : true when every pushed slot is spooled. */
bool agt_spooler_idle(agt_spooler *q);

/*! agt_spooler_drain() : waits up to max_ns until every pushed slot is
 *  spooled. On timeout the slots not yet spooled are dropped (after the
 *  append in progress, if any, ends). Reclaim afterwards.
 *  @return : true when everything was spooled. */
bool agt_spooler_drain(agt_spooler *q, uint64_t max_ns);

/*! agt_spooler_stop() : drops what is not spooled, joins the thread, frees.
 *  NULL is a no-op. */
void agt_spooler_stop(agt_spooler *q);

typedef struct agt_spooler_stats {
	uint64_t frames;         /* frames appended to the spool */
	uint64_t spool_full;     /* appends refused with KSK_EBUSY (retried) */
	uint64_t errors;         /* other failed appends or encodes (retried) */
	uint64_t dropped;        /* slots dropped by drain timeout or stop */
	uint64_t helper_frames;  /* frames compressed by helper threads */
} agt_spooler_stats;

/*! agt_spooler_get_stats() : any thread. */
void agt_spooler_get_stats(agt_spooler *q, agt_spooler_stats *out);

#endif /* AGT_SPOOLER_H */
