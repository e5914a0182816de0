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
 * the injected clock).
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
 *  @return : KSK_OK; KSK_ESTATE (nothing to seal); frame errors. */
ksk_err agt_batch_seal(agt_batch *b, const uint8_t agent_id[KSK_AGENT_ID_LEN],
                       uint64_t seq, agt_sealed *out, ksk_errinfo *ei);

#endif /* AGT_BATCH_H */
