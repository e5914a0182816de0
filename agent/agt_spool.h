/*
 * agt_spool.h : the agent's crash-safe disk spool of frames.
 *
 * Exports agt_spool (opaque): every frame the agent builds is appended here
 * (durably, per the fsync policy) before it is sent, stays until the
 * collector has acked it (or it was dead-lettered) AND the caller has saved
 * the tailer checkpoint that covers it, and is replayed after a restart.
 * The spool also owns the agent's identity: the agent ID and the batch
 * sequence counter (a seq is never handed out twice, even across crashes).
 * Hides: file layout, record format, the in-memory index. docs/AGENT.md section 5
 * is the full description.
 *
 * Caller protocol for checkpoints (the invariant: after any crash, the union
 * of the tailer's state file and the positions of the frames still in the
 * spool covers every line that was put in a frame):
 *   1. agt_spool_append(frame, positions) : `positions` is an opaque blob
 *      (the tailer's file offsets covered by this frame). Returns the seq.
 *   2. Only after append returned KSK_OK (and, for a non-"always" fsync
 *      policy, agt_spool_durable_seq() >= that seq) may the caller fold the
 *      positions into the tailer state it writes to disk.
 *   3. After the tailer state file holding the positions of every frame
 *      with seq <= X is durable (write, fsync, rename), the caller calls
 *      agt_spool_checkpoint_saved(X). The spool deletes a segment only when
 *      every frame in it is done (acked or dead-lettered) and every frame in
 *      it that has a non-empty positions blob has seq <= X.
 *   4. At startup, agt_spool_open() hands every positions blob still in the
 *      spool (done or not) to the caller's callback, oldest first; the
 *      tailer resumes each file at the furthest of (its state file, those
 *      blobs). X starts at 0 after a restart: once the tailer has restored
 *      and saved its state, it calls agt_spool_checkpoint_saved() again.
 *
 * Threading: every function is thread-safe (one mutex inside), except
 * open/close. Ownership: the spool copies what it is given; nothing it
 * returns is borrowed unless said.
 */
#ifndef AGT_SPOOL_H
#define AGT_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiseki/alloc.h"
#include "kiseki/clock.h"
#include "kiseki/err.h"
#include "kiseki/frame.h"

/* A sink for messages. level: 0 info, 1 warning, 2 error. NULL = silent. */
typedef void (*agt_spool_log_fn)(void *ctx, int level, const char *msg);

typedef enum agt_fsync_policy {
	AGT_FSYNC_ALWAYS = 0,   /* fdatasync before append returns (default) */
	AGT_FSYNC_INTERVAL = 1, /* at most fsync_interval_ns old (append / tick) */
	AGT_FSYNC_NEVER = 2,    /* the OS decides; survives a process crash only */
} agt_fsync_policy;

typedef struct agt_spool_opts {
	const char *dir;              /* --spool-dir; created if missing */
	uint64_t max_bytes;           /* --spool-max (default 1 GiB) */
	uint64_t segment_bytes;       /* roll a segment past this (default 4 MiB) */
	agt_fsync_policy fsync;       /* default AGT_FSYNC_ALWAYS */
	uint64_t fsync_interval_ns;   /* AGT_FSYNC_INTERVAL (default 200 ms) */
	uint32_t max_frame;           /* largest frame accepted (default 16 MiB) */
	uint32_t max_positions;       /* largest positions blob (default 1 MiB) */
	uint64_t seq_block;           /* seqs reserved per state write (default 10000) */
	const ksk_clock *clock;       /* NULL = system clock */
	const ksk_alloc *alloc;       /* NULL = libc */
	agt_spool_log_fn log;         /* NULL = silent */
	void *log_ctx;
} agt_spool_opts;

/*! agt_spool_opts_default() : the defaults above, dir NULL. */
void agt_spool_opts_default(agt_spool_opts *o);

/* Called by agt_spool_open() once per frame found in the spool, in spool
 * order (oldest first), with its positions blob (valid during the call).
 * `done` is true when the frame was already acked or dead-lettered. */
typedef void (*agt_spool_positions_fn)(void *ctx, uint64_t seq, bool done,
                                       const uint8_t *pos, size_t len);

typedef struct agt_spool agt_spool;

/*! agt_spool_open() : opens (creating) the spool directory, loads or makes
 *  the agent ID, restores the seq counter, and replays the segments: every
 *  record is CRC-checked; a torn tail is truncated; a corrupt record in the
 *  middle is skipped (warning + counter). Frame bodies are not kept in
 *  memory: only an index of (seq, file, offset). `cb` (may be NULL) gets
 *  every positions blob.
 *  @return : KSK_OK; KSK_ESYS / KSK_EIO (unusable directory, message says
 *            which file); KSK_ENOMEM; KSK_EINVAL (bad options). */
ksk_err agt_spool_open(const agt_spool_opts *opts, agt_spool_positions_fn cb,
                       void *cb_ctx, agt_spool **out, ksk_errinfo *ei);

/*! agt_spool_close() : fsyncs and frees. NULL is a no-op. Not concurrent
 *  with any other call. */
void agt_spool_close(agt_spool *sp);

/*! agt_spool_agent_id() : the agent ID (16 bytes) into `out`. */
void agt_spool_agent_id(const agt_spool *sp, uint8_t out[KSK_AGENT_ID_LEN]);

/*! agt_spool_append() : stamps the agent ID and the next seq into the frame
 *  header of `frame` (in place, overwriting whatever the builder put there;
 *  its CRC is recomputed), then appends frame and positions as one record,
 *  durable per the fsync policy.
 *  @frame : a whole frame (ksk_frame_encode output copied into a caller
 *           buffer); modified in place; the caller keeps it.
 *  @pos, @pos_len : opaque positions blob (may be empty); copied to disk.
 *  @dest : the destination collector index, kept with the frame.
 *  @seq_out : the seq given to the frame (may be NULL).
 *  @return : KSK_OK; KSK_EBUSY (the spool is at max_bytes or the disk is
 *            full: nothing was written and no seq used, the caller keeps
 *            the frame and retries after acks free space); KSK_EINVAL (not a
 *            frame, or over max_frame / max_positions); KSK_EIO / KSK_ESYS. */
ksk_err agt_spool_append(agt_spool *sp, uint8_t *frame, size_t len,
                         const uint8_t *pos, size_t pos_len, uint32_t dest,
                         uint64_t *seq_out, ksk_errinfo *ei);

/*! agt_spool_durable_seq() : every frame with seq <= this is durable on
 *  disk per the policy (equal to the last appended seq under "always"). */
uint64_t agt_spool_durable_seq(agt_spool *sp);

/*! agt_spool_last_seq() : the last seq handed out (0 = none yet). */
uint64_t agt_spool_last_seq(agt_spool *sp);

/*! agt_spool_checkpoint_saved() : the caller's tailer state covering the
 *  positions of every frame with seq <= `seq` is durable (step 3 above).
 *  Never moves backwards. May delete segments. */
void agt_spool_checkpoint_saved(agt_spool *sp, uint64_t seq);

/* ---- shipper side ------------------------------------------------------- */

/* One frame handed to the shipper. */
typedef struct agt_spool_item {
	uint64_t seq;
	uint32_t dest;        /* as given to append */
	uint32_t len;         /* frame bytes */
	uint64_t created_ns;  /* wall time of the append (from the frame header) */
} agt_spool_item;

/*! agt_spool_claim() : the oldest frame that is neither done nor claimed,
 *  now marked claimed (so it is handed out once).
 *  @return : KSK_OK; KSK_ENOTFOUND (nothing to send). */
ksk_err agt_spool_claim(agt_spool *sp, agt_spool_item *out);

/*! agt_spool_unclaim() : gives a claimed frame back (shipper stopping). */
void agt_spool_unclaim(agt_spool *sp, uint64_t seq);

/*! agt_spool_read() : copies frame `seq` (exactly item.len bytes) into
 *  `dst`, checking the record's CRC again.
 *  @return : KSK_OK; KSK_ENOTFOUND; KSK_EINVAL (cap too small);
 *            KSK_ECORRUPT (the record changed on disk: dead-letter it);
 *            KSK_ESYS. */
ksk_err agt_spool_read(agt_spool *sp, uint64_t seq, uint8_t *dst, size_t cap,
                       ksk_errinfo *ei);

/*! agt_spool_acked() : the collector acked frame `seq` (stored/duplicate).
 *  Appends an ACK record (not fsync'd: a lost ACK only means a resend,
 *  which the collector dedupes) and may delete segments.
 *  @return : KSK_OK; KSK_ENOTFOUND; KSK_EIO (ACK not written; the frame
 *            is still marked done in memory). */
ksk_err agt_spool_acked(agt_spool *sp, uint64_t seq, ksk_errinfo *ei);

/*! agt_spool_dead_letter() : writes frame `seq` to DIR/dead/<agent>-<seq>.frame
 *  and `reason` to <agent>-<seq>.txt beside it (both fsync'd), then marks
 *  it done like agt_spool_acked(). When the frame cannot be read the .txt
 *  is still written and the frame marked done.
 *  @return : KSK_OK; KSK_ENOTFOUND; KSK_ESYS (dead/ unwritable: the frame
 *            stays claimed and is NOT marked done). */
ksk_err agt_spool_dead_letter(agt_spool *sp, uint64_t seq, const char *reason,
                              ksk_errinfo *ei);

/* Called after each successful append, under the spool's lock: it must be
 * quick and must not call any agt_spool_* function. */
typedef void (*agt_spool_notify_fn)(void *ctx);

/*! agt_spool_set_notify() : one listener (the shipper); NULL clears. When
 *  it returns, no call to the previous listener is in progress. */
void agt_spool_set_notify(agt_spool *sp, agt_spool_notify_fn fn, void *ctx);

/*! agt_spool_tick() : periodic work: interval fsync, segment deletion. */
void agt_spool_tick(agt_spool *sp);

/* ---- metrics -------------------------------------------------------------- */

typedef struct agt_spool_stats {
	uint64_t bytes;            /* on disk: segments + ack files */
	uint64_t max_bytes;        /* the cap */
	uint32_t segments;         /* segment files */
	uint64_t frames;           /* frames in the spool (any state) */
	uint64_t frames_pending;   /* not yet acked / dead-lettered */
	uint64_t appended_frames;  /* since open */
	uint64_t appended_bytes;
	uint64_t full_events;      /* appends refused with KSK_EBUSY */
	uint64_t corrupt_records;  /* skipped at replay or read */
	uint64_t torn_bytes;       /* truncated at replay */
	uint64_t dead_lettered;
	uint64_t deleted_segments;
	uint64_t oldest_pending_ns; /* wall time of the oldest pending frame, 0 = none */
	uint64_t last_seq;
} agt_spool_stats;

/*! agt_spool_get_stats() : a consistent snapshot. */
void agt_spool_get_stats(agt_spool *sp, agt_spool_stats *out);

/* ---- tests only ------------------------------------------------------------- */

/*! agt_spool_test_crash_at() : the next seq reservation stops after step
 *  `step` (1 tmp written but not synced and cut short, 2 tmp synced, 3
 *  renamed, 4 directory synced) and fails with KSK_EIO, as if the process
 *  died there; the spool must then be closed. 0 disarms. */
void agt_spool_test_crash_at(agt_spool *sp, int step);

#endif /* AGT_SPOOL_H */
