/*
 * kiseki/ack.h : the collector's reply to one batch frame.
 *
 * Layout (little-endian; docs/WIRE.md section 3):
 *   off size field
 *    0   4  magic "KSKA"
 *    4   1  version (1)
 *    5   1  outcome: 0 stored, 1 duplicate, 2 rejected, 3 busy
 *    6   2  error code (ksk_err) when rejected or busy, else 0
 *    8   8  batch sequence number, echoed (0 if the frame was unreadable)
 *   16  16  agent ID, echoed (zeros if unreadable)
 *   32   2  message length N (<= KSK_ACK_MSG_MAX)
 *   34   N  message, UTF-8 (why it was rejected / busy)
 *
 * Meaning for the sender: stored and duplicate both mean "durable, delete
 * it from the spool"; rejected means "never retry this frame" (dead-letter
 * it); busy means "not stored, retry later with backoff".
 * Pure code, no allocation; thread-safe.
 */
#ifndef KSK_ACK_H
#define KSK_ACK_H

#include <stddef.h>
#include <stdint.h>

#include "kiseki/err.h"

#define KSK_ACK_HDR_LEN 34
#define KSK_ACK_MSG_MAX 1024
#define KSK_ACK_MAX (KSK_ACK_HDR_LEN + KSK_ACK_MSG_MAX)

typedef enum ksk_ack_outcome {
	KSK_ACK_STORED = 0,
	KSK_ACK_DUPLICATE = 1,
	KSK_ACK_REJECTED = 2,
	KSK_ACK_BUSY = 3,
} ksk_ack_outcome;

typedef struct ksk_ack {
	ksk_ack_outcome outcome;
	ksk_err code;
	uint64_t seq;
	uint8_t agent_id[16];
	char msg[KSK_ACK_MSG_MAX + 1]; /* NUL-terminated */
} ksk_ack;

/*! ksk_ack_encode() : writes `a` into out[0..cap); the message is cut at
 *  KSK_ACK_MSG_MAX bytes (on a UTF-8 boundary).
 *  @return : bytes written, or 0 when cap < KSK_ACK_HDR_LEN + message. */
size_t ksk_ack_encode(const ksk_ack *a, uint8_t *out, size_t cap);

/*! ksk_ack_decode() : parses an ack.
 *  @return : KSK_OK; KSK_ETRUNC, KSK_EMAGIC, KSK_EVERSION, KSK_ERECORD
 *            (unknown outcome or a length that disagrees). */
ksk_err ksk_ack_decode(const uint8_t *buf, size_t len, ksk_ack *out);

/*! ksk_ack_outcome_name() : "stored", "duplicate", "rejected", "busy". */
const char *ksk_ack_outcome_name(ksk_ack_outcome o);

#endif /* KSK_ACK_H */
