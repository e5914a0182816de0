/*
 * kiseki/wire.h : msgpack encoding and hostile-safe decoding of records.
 *
 * Exports: the batch payload encoder (ksk_wire_enc), the decoder
 * (ksk_wire_dec) that turns a payload into a ksk_batch, and the limits
 * every decode enforces. msgpack-c is hidden behind this header.
 *
 * Payload = a sequence of `count` msgpack maps, one per record, each with
 * small-integer keys; key 0 is the record type. docs/WIRE.md is the byte
 * level specification (keys, types, required fields, validation rules).
 * Resources are records too and are numbered in payload order; spans and
 * logs name their resource by that number, so a resource is written once
 * per batch.
 *
 * Decoding treats every byte as hostile: a structural pre-check bounds
 * every container count and nesting depth before msgpack-c allocates, every
 * record is validated (ID lengths, end >= start, enum ranges, counts,
 * string sizes, resource references), invalid UTF-8 in strings is replaced
 * by U+FFFD, and all memory comes from one capped arena per decoder.
 * Unknown keys are skipped (forward compatibility); unknown record types
 * are rejected.
 *
 * Threading: an encoder or decoder belongs to one thread at a time.
 */
#ifndef KSK_WIRE_H
#define KSK_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "kiseki/alloc.h"
#include "kiseki/err.h"
#include "kiseki/record.h"

/* Record types (key 0 of every record map). */
typedef enum ksk_rec_type {
	KSK_REC_RESOURCE = 1,
	KSK_REC_SPAN = 2,
	KSK_REC_LOG = 3,
} ksk_rec_type;

/* Limits enforced by the decoder (and checked by the encoder, so an agent
 * never produces a batch the collector would refuse). */
typedef struct ksk_wire_limits {
	uint32_t max_records;   /* records in one payload */
	uint32_t max_attrs;     /* attributes per record, event, link or resource */
	uint32_t max_events;    /* events per span */
	uint32_t max_links;     /* links per span */
	uint32_t max_str;       /* bytes in one string or bytes value */
	uint32_t max_depth;     /* nesting depth of attribute values */
	uint32_t max_container; /* elements in one msgpack array or map */
	size_t max_arena;       /* bytes of decoded structures per payload */
	bool enc_packer_only;   /* encoder: always through msgpack-c, never the
	                         * direct writer for scalar-only logs (tests
	                         * compare both; false by default) */
} ksk_wire_limits;

/*! ksk_wire_limits_default() : 1M records, 1024 attrs/events/links,
 *  1 MiB strings, depth 16, 65536 elements, 512 MiB arena. */
void ksk_wire_limits_default(ksk_wire_limits *l);

/* A decoded batch. Every pointer is borrowed from the decoder (arena) and
 * from the payload buffer given to ksk_wire_decode(); valid until the next
 * ksk_wire_decode() or ksk_wire_dec_destroy() on that decoder, and only
 * while the payload buffer is alive and unchanged. */
typedef struct ksk_batch {
	ksk_resource *resources;
	uint32_t n_resources;
	ksk_span *spans;
	uint32_t n_spans;
	ksk_log *logs;
	uint32_t n_logs;
} ksk_batch;

/* ---- encoder ------------------------------------------------------------ */

typedef struct ksk_wire_enc ksk_wire_enc;

/*! ksk_wire_enc_create() : an encoder writing into an owned buffer.
 *  @alloc     : NULL = libc; must outlive the encoder.
 *  @limits    : NULL = defaults; copied.
 *  @max_bytes : cap on the payload size (0 = none); an append that would
 *               pass it fails with KSK_ELIMIT and leaves the payload as it
 *               was before the call.
 *  @return : KSK_OK or KSK_ENOMEM. */
ksk_err ksk_wire_enc_create(const ksk_alloc *alloc, const ksk_wire_limits *limits,
                            size_t max_bytes, ksk_wire_enc **out);

/*! ksk_wire_enc_destroy() : frees the encoder. NULL is a no-op. */
void ksk_wire_enc_destroy(ksk_wire_enc *e);

/*! ksk_wire_enc_reset() : empties the payload (keeps the buffer). */
void ksk_wire_enc_reset(ksk_wire_enc *e);

/*! ksk_wire_enc_resource() : appends a resource record.
 *  @index : out, the number spans and logs use to refer to it.
 *  @return : KSK_OK, KSK_ELIMIT, KSK_ENOMEM, or KSK_EINVAL for a record the
 *            decoder would reject (the payload is then unchanged). */
ksk_err ksk_wire_enc_resource(ksk_wire_enc *e, const ksk_resource *r,
                              uint32_t *index);

/*! ksk_wire_enc_span() : appends a span. s->resource must name a resource
 *  already appended since the last reset. Same returns as above. Ignores
 *  the decode-only field has_parent: a non-zero parent_id is written. */
ksk_err ksk_wire_enc_span(ksk_wire_enc *e, const ksk_span *s);

/*! ksk_wire_enc_log() : appends a log record. Same rules as spans; trace
 *  and span IDs are written when non-zero. */
ksk_err ksk_wire_enc_log(ksk_wire_enc *e, const ksk_log *l);

/*! ksk_wire_enc_data() : the payload so far. Valid until the next append,
 *  reset or destroy. */
const uint8_t *ksk_wire_enc_data(const ksk_wire_enc *e, size_t *len);

/*! ksk_wire_enc_count() : records appended since the last reset. */
uint32_t ksk_wire_enc_count(const ksk_wire_enc *e);

/*! ksk_wire_enc_restore() : true when a record appended since the last
 *  reset left parts out for the reader to put back (log keys 15-17): its
 *  frame must carry KSK_FRAME_FLAG_RESTORE (ksk_frame_meta.restore). */
bool ksk_wire_enc_restore(const ksk_wire_enc *e);

/*! ksk_wire_enc_resources() : resources appended since the last reset. */
uint32_t ksk_wire_enc_resources(const ksk_wire_enc *e);

/* ---- decoder ------------------------------------------------------------ */

typedef struct ksk_wire_dec ksk_wire_dec;

/*! ksk_wire_dec_create() : a reusable decoder.
 *  @alloc  : NULL = libc; must outlive the decoder.
 *  @limits : NULL = defaults; copied.
 *  @return : KSK_OK or KSK_ENOMEM. */
ksk_err ksk_wire_dec_create(const ksk_alloc *alloc, const ksk_wire_limits *limits,
                            ksk_wire_dec **out);

/*! ksk_wire_dec_destroy() : frees the decoder and every batch it returned.
 *  NULL is a no-op. */
void ksk_wire_dec_destroy(ksk_wire_dec *d);

/*! ksk_wire_dec_set_slow_only() : for tests and fuzzing: decode every
 *  record through msgpack-c's object tree, never the direct path for plain
 *  log records, so the two can be compared. The result must not differ. */
void ksk_wire_dec_set_slow_only(ksk_wire_dec *d, bool on);

/*! ksk_wire_dec_direct_records() : records this decoder took the direct
 *  path for, since its creation (tests, benchmarks). */
uint64_t ksk_wire_dec_direct_records(const ksk_wire_dec *d);

/*! ksk_wire_decode() : decodes exactly `count` records from `payload`.
 *  The whole payload must be consumed: trailing bytes are an error.
 *  @out : set on success; see ksk_batch for its lifetime.
 *  @ei  : optional; on error holds the code and a message naming the record
 *         index and field ("record 3 (span): end_ns 5 < start_ns 9").
 *  @return : KSK_OK; KSK_EMSGPACK (malformed or hostile structure);
 *            KSK_ERECORD (a record fails validation); KSK_ECOUNT (fewer or
 *            more records than `count`); KSK_ELIMIT (a limit passed);
 *            KSK_ENOMEM. Any error leaves no batch. */
ksk_err ksk_wire_decode(ksk_wire_dec *d, const uint8_t *payload, size_t len,
                        uint32_t count, const ksk_batch **out, ksk_errinfo *ei);

/*! ksk_wire_guard() : the structural pre-check run on each record before
 *  msgpack-c sees it, exported for tests and fuzzing. Checks one top-level
 *  msgpack object at `p`: every container count fits the bytes left and
 *  `max_container`, nesting <= `max_depth`, no reserved byte 0xc1, every
 *  str/bin/ext length fits the input and `max_str`.
 *  @objects : out (may be NULL), number of msgpack objects in it, which
 *             bounds what msgpack-c will allocate.
 *  @return  : the object's byte length (> 0); 0 when truncated; -1 when
 *             malformed or over a limit. */
long ksk_wire_guard(const uint8_t *p, size_t len, const ksk_wire_limits *l,
                    uint64_t *objects);

#endif /* KSK_WIRE_H */
