/*
 * agt_batch.h : the agent's batcher: records in, one frame out when the
 * batch is big enough or old enough.
 *
 * Records from every source (tailed log lines, span files, native intake,
 * OTLP/Zipkin receivers) are appended with the resource they belong to;
 * resources are deduplicated by content, so each is written once per
 * frame. Opaque "positions" (the tailer's checkpoints covered by the
 * records, fixed-size entries whose first `key_len` bytes identify a file)
 * ride along: the latest entry per key is kept and handed back with the
 * frame, so the caller can store them in its spool record.
 *
 * A frame is sealed when the raw payload reaches `max_bytes`, the batch
 * holds `max_records`, or its oldest record is `max_age_ns` old (read from
 * the injected clock). Instead of sealing (compressing here), a caller may
 * take the raw payload out (agt_batch_take) and compress it elsewhere: the
 * tail pipe hands it to the spooler thread (agt_spooler.h).
 * Ownership: records are copied into the payload at once (nothing
 * borrowed is kept). Sealed output is owned by the batcher and valid until
 * the next add or seal. Threading: one owner thread.
 */
#ifndef AGT_BATCH_H
#define AGT_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiseki/clock.h"
#include "kiseki/err.h"
#include "kiseki/frame.h"
#include "kiseki/record.h"

typedef struct agt_batch_opts {
	size_t max_bytes;        /* raw payload bytes per frame (default 256 KiB) */
	uint32_t max_records;    /* records per frame (default 65536) */
	uint64_t max_age_ns;     /* seal a batch this old (default 200 ms) */
	int zstd_level;          /* default 1 */
	size_t pos_size;         /* bytes per position entry (0 = no positions) */
	size_t pos_key_len;      /* leading bytes that identify a position's file */
	const ksk_clock *clock;  /* NULL = system */
} agt_batch_opts;

void agt_batch_opts_default(agt_batch_opts *o);

typedef struct agt_batch agt_batch;

/*! agt_batch_create() : @return : KSK_OK, KSK_EINVAL, KSK_ENOMEM. */
ksk_err agt_batch_create(const agt_batch_opts *o, agt_batch **out);

/*! agt_batch_destroy() : NULL is a no-op. */
void agt_batch_destroy(agt_batch *b);

/*! agt_batch_add_span() / agt_batch_add_log() : appends a record of
 *  resource `res` (its `resource` field is ignored).
 *  @return : KSK_OK; KSK_EINVAL when the record is invalid (the batch is
 *            unchanged: the caller counts and logs it); KSK_ELIMIT when the
 *            record alone is larger than max_bytes; KSK_ENOMEM. When the
 *            batch is full, the caller seals first (agt_batch_full). */
ksk_err agt_batch_add_span(agt_batch *b, const ksk_resource *res, const ksk_span *s);
ksk_err agt_batch_add_log(agt_batch *b, const ksk_resource *res, const ksk_log *l);

/*! agt_batch_res_hash() : the content hash by which resources are
 *  deduplicated (attributes with their values, in order). */
uint64_t agt_batch_res_hash(const ksk_resource *r);

/*! agt_batch_add_log_h() : agt_batch_add_log() with res_hash =
 *  agt_batch_res_hash(res) computed once by the caller (a resource that
 *  does not change, such as an input's). */
ksk_err agt_batch_add_log_h(agt_batch *b, const ksk_resource *res, uint64_t res_hash,
                            const ksk_log *l);

/*! agt_batch_add_pos() : records a position (pos_size bytes); a later
 *  position with the same key replaces the earlier one. */
ksk_err agt_batch_add_pos(agt_batch *b, const void *pos);

/*! agt_batch_count() : records in the open batch. */
uint32_t agt_batch_count(const agt_batch *b);

/*! agt_batch_full() : true when size or record count reached the limit. */
bool agt_batch_full(const agt_batch *b);

/*! agt_batch_deadline() : monotonic ns when the open batch becomes due by
 *  age; UINT64_MAX when it is empty. */
uint64_t agt_batch_deadline(const agt_batch *b);

/*! agt_batch_due() : full, or non-empty and at/after its deadline. */
bool agt_batch_due(const agt_batch *b);

/* A sealed batch. */
typedef struct agt_sealed {
	const uint8_t *frame;     /* the frame bytes */
	size_t frame_len;
	const uint8_t *pos;       /* n_pos entries of pos_size bytes */
	uint32_t n_pos;
	uint32_t records;         /* spans + logs (resources not counted) */
	uint32_t spans, logs;
} agt_sealed;

/*! agt_batch_seal() : builds the frame of the open batch with the given
 *  agent ID and sequence number, then empties the batch. Sealing an empty
 *  batch (no record) is allowed when it carries positions (e.g. lines that
 *  were all dropped), so checkpoints still advance.
 *  @return : KSK_OK; KSK_ESTATE (nothing to seal); KSK_ENOMEM (no zstd
 *            context: made at the first seal); frame errors. */
ksk_err agt_batch_seal(agt_batch *b, const uint8_t agent_id[KSK_AGENT_ID_LEN],
                       uint64_t seq, agt_sealed *out, ksk_errinfo *ei);

/* A batch taken out uncompressed. Borrowed from the batcher: valid until
 * the next add, seal or take. */
typedef struct agt_taken {
	const uint8_t *payload;   /* the msgpack payload (docs/WIRE.md section 2) */
	size_t payload_len;
	uint32_t record_count;    /* wire records, resources included (frame header) */
	bool restore;             /* the frame needs KSK_FRAME_FLAG_RESTORE */
	const uint8_t *pos;       /* n_pos entries of pos_size bytes */
	uint32_t n_pos;
	uint32_t records;         /* spans + logs */
	uint32_t spans, logs;
} agt_taken;

/*! agt_batch_take() : hands out the open batch's raw payload and positions
 *  (to be framed with ksk_frame_encode by the caller, record_count in the
 *  header), then empties the batch. Like seal, allowed with positions only.
 *  @return : KSK_OK; KSK_ESTATE (nothing to take). */
ksk_err agt_batch_take(agt_batch *b, agt_taken *out);

/*! agt_batch_view() : what agt_batch_take() would hand out, without
 *  emptying the batch. @return : KSK_OK; KSK_ESTATE (empty). */
ksk_err agt_batch_view(const agt_batch *b, agt_taken *out);

#endif /* AGT_BATCH_H */
