/*
 * ack.c : encode/decode of the collector's per-batch reply (kiseki/ack.h).
 *
 * Data in: an ack struct, or bytes from the network. Data out: bytes, or a
 * filled struct. Invariants: a decoded message is always NUL-terminated and
 * never longer than KSK_ACK_MSG_MAX; every length is checked against the
 * bytes present.
 */
#include "kiseki/ack.h"

#include <string.h>

size_t ksk_ack_encode(const ksk_ack *a, uint8_t *out, size_t cap)
{
	size_t n = strnlen(a->msg, KSK_ACK_MSG_MAX);
	/* do not cut a UTF-8 sequence in half */
	while (n > 0 && n == KSK_ACK_MSG_MAX &&
	       ((unsigned char)a->msg[n] & 0xC0) == 0x80)
		n--;
	if (cap < KSK_ACK_HDR_LEN + n)
		return 0;
	memcpy(out, "KSKA", 4);
	out[4] = 1;
	out[5] = (uint8_t)a->outcome;
	out[6] = (uint8_t)a->code;
	out[7] = (uint8_t)((unsigned)a->code >> 8);
	for (int i = 0; i < 8; i++)
		out[8 + i] = (uint8_t)(a->seq >> (8 * i));
	memcpy(out + 16, a->agent_id, 16);
	out[32] = (uint8_t)n;
	out[33] = (uint8_t)(n >> 8);
	memcpy(out + KSK_ACK_HDR_LEN, a->msg, n);
	return KSK_ACK_HDR_LEN + n;
}

ksk_err ksk_ack_decode(const uint8_t *buf, size_t len, ksk_ack *out)
{
	if (len < KSK_ACK_HDR_LEN)
		return KSK_ETRUNC;
	if (memcmp(buf, "KSKA", 4) != 0)
		return KSK_EMAGIC;
	if (buf[4] != 1)
		return KSK_EVERSION;
	if (buf[5] > KSK_ACK_BUSY)
		return KSK_ERECORD;
	size_t n = (size_t)buf[32] | ((size_t)buf[33] << 8);
	if (n > KSK_ACK_MSG_MAX || len != KSK_ACK_HDR_LEN + n)
		return n > KSK_ACK_MSG_MAX ? KSK_ERECORD : KSK_ETRUNC;
	out->outcome = (ksk_ack_outcome)buf[5];
	out->code = (ksk_err)(buf[6] | (buf[7] << 8));
	out->seq = 0;
	for (int i = 0; i < 8; i++)
		out->seq |= (uint64_t)buf[8 + i] << (8 * i);
	memcpy(out->agent_id, buf + 16, 16);
	memcpy(out->msg, buf + KSK_ACK_HDR_LEN, n);
	out->msg[n] = '\0';
	return KSK_OK;
}

const char *ksk_ack_outcome_name(ksk_ack_outcome o)
{
	switch (o) {
	case KSK_ACK_STORED:
		return "stored";
	case KSK_ACK_DUPLICATE:
		return "duplicate";
	case KSK_ACK_REJECTED:
		return "rejected";
	case KSK_ACK_BUSY:
		return "busy";
	}
	return "unknown";
}
