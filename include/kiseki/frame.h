/*
 * kiseki/frame.h : the batch frame: a fixed little-endian header, a CRC-32
 * and a zstd-compressed msgpack payload (kiseki/wire.h).
 *
 *   off size field
 *    0   4  magic "KSKF"
 *    4   1  version (1)
 *    5   1  header length in bytes (56 in version 1; readers skip more)
 *    6   2  flags: bit 0 = payload is zstd-compressed; other bits must be 0
 *    8   4  record count (records in the payload, resources included)
 *   12   4  raw length: payload bytes after decompression
 *   16   4  payload length: bytes following the header
 *   20   4  CRC-32 (ISO-HDLC, as zlib) of the header with this field zeroed,
 *           followed by the payload
 *   24  16  agent ID
 *   40   8  batch sequence number (per agent, increasing)
 *   48   8  creation time, ns since the Unix epoch
 *   56   .  payload
 *
 * docs/WIRE.md has the same table and the rules for future versions.
 *
 * Decoding is hostile-safe: lengths are checked against the bytes present
 * and against caps before anything is allocated; the CRC is checked before
 * decompression; zstd's declared content size must be present, equal the
 * raw length and be under the cap; zstd's own content checksum is required.
 * Decompression is one-shot into a buffer of exactly the raw length, so
 * zstd allocates no window of its own: memory per frame is bounded by the
 * raw-length cap.
 *
 * Ownership: encoders and decoders own their output buffers; returned
 * pointers are valid until the next call on the same object or its
 * destruction. Threading: one owner thread per encoder/decoder.
 */
#ifndef KSK_FRAME_H
#define KSK_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiseki/alloc.h"
#include "kiseki/err.h"
#include "kiseki/wire.h"

#define KSK_FRAME_MAGIC0 'K'
#define KSK_FRAME_MAGIC1 'S'
#define KSK_FRAME_MAGIC2 'K'
#define KSK_FRAME_MAGIC3 'F'
#define KSK_FRAME_VERSION 1
#define KSK_FRAME_HDR_LEN 56
#define KSK_FRAME_FLAG_ZSTD 0x0001u
/* The payload uses an encoding that leaves parts of records out for the
 * reader to put back (log keys 15-17, docs/WIRE.md 2.5). A reader older
 * than these keys would skip them as unknown and store bodies without
 * their ID digits and logs without attributes; it refuses this flag
 * instead (KSK_EFLAGS), so such a frame is rejected, never misread. */
#define KSK_FRAME_FLAG_RESTORE 0x0002u
#define KSK_FRAME_FLAGS_KNOWN (KSK_FRAME_FLAG_ZSTD | KSK_FRAME_FLAG_RESTORE)
#define KSK_AGENT_ID_LEN 16

typedef struct ksk_frame_hdr {
	uint8_t version;
	uint8_t hdr_len;                    /* >= KSK_FRAME_HDR_LEN */
	uint16_t flags;
	uint32_t record_count;
	uint32_t raw_len;
	uint32_t payload_len;
	uint32_t checksum;
	uint8_t agent_id[KSK_AGENT_ID_LEN];
	uint64_t seq;
	uint64_t created_ns;
} ksk_frame_hdr;

typedef struct ksk_frame_limits {
	size_t max_frame;     /* whole frame bytes (header + payload) */
	size_t max_raw;       /* decompressed payload bytes */
	uint32_t max_records; /* records per frame */
} ksk_frame_limits;

/*! ksk_frame_limits_default() : 16 MiB frame, 64 MiB raw, 1M records. */
void ksk_frame_limits_default(ksk_frame_limits *l);

/*! ksk_frame_parse_header() : reads and checks the header of `buf` without
 *  allocating: magic, version, header length, flags, lengths against `len`
 *  and the caps, and the CRC over header and payload.
 *  @limits : NULL = defaults.
 *  @return : KSK_OK and *hdr filled; KSK_ETRUNC (fewer bytes than the header
 *            or than it declares), KSK_EMAGIC, KSK_EVERSION, KSK_EFLAGS,
 *            KSK_ETOOBIG, KSK_ECHECKSUM, KSK_ERECORD (inconsistent fields,
 *            e.g. raw length != payload length on an uncompressed frame or
 *            trailing bytes after the payload). */
ksk_err ksk_frame_parse_header(const uint8_t *buf, size_t len,
                               const ksk_frame_limits *limits,
                               ksk_frame_hdr *hdr, ksk_errinfo *ei);

/* ---- encoder ------------------------------------------------------------ */

typedef struct ksk_frame_enc ksk_frame_enc;

/*! ksk_frame_enc_create() : a frame builder.
 *  @level : zstd level (1 recommended; 0 = zstd's default).
 *  @return : KSK_OK or KSK_ENOMEM. */
ksk_err ksk_frame_enc_create(const ksk_alloc *alloc, int level,
                             ksk_frame_enc **out);

/*! ksk_frame_enc_destroy() : NULL is a no-op. */
void ksk_frame_enc_destroy(ksk_frame_enc *e);

/* What goes into one frame's header besides the payload. */
typedef struct ksk_frame_meta {
	uint8_t agent_id[KSK_AGENT_ID_LEN];
	uint64_t seq;
	uint64_t created_ns;
	uint32_t record_count;
	bool compress; /* false: store the payload as is (flag bit 0 clear) */
	bool restore;  /* the payload needs KSK_FRAME_FLAG_RESTORE
	                  (ksk_wire_enc_restore() of its encoder) */
} ksk_frame_meta;

/*! ksk_frame_encode() : builds a frame around `payload`.
 *  @out, @out_len : the frame, owned by the encoder, valid until the next
 *                   call or destroy.
 *  @return : KSK_OK; KSK_ETOOBIG when the payload is over 4 GiB - 1;
 *            KSK_ENOMEM; KSK_EIO when zstd fails (its message in `ei`). */
ksk_err ksk_frame_encode(ksk_frame_enc *e, const ksk_frame_meta *meta,
                         const uint8_t *payload, size_t len,
                         const uint8_t **out, size_t *out_len,
                         ksk_errinfo *ei);

/* ---- decoder ------------------------------------------------------------ */

typedef struct ksk_frame_dec ksk_frame_dec;

/*! ksk_frame_dec_create() : a reusable decoder.
 *  @limits : NULL = defaults; copied.
 *  @return : KSK_OK or KSK_ENOMEM. */
ksk_err ksk_frame_dec_create(const ksk_alloc *alloc, const ksk_frame_limits *limits,
                             ksk_frame_dec **out);

/*! ksk_frame_dec_destroy() : NULL is a no-op. */
void ksk_frame_dec_destroy(ksk_frame_dec *d);

/*! ksk_frame_open() : checks the header (ksk_frame_parse_header) and
 *  returns the raw msgpack payload, decompressing when flagged.
 *  @payload : borrowed: into `buf` for an uncompressed frame, else into the
 *             decoder's buffer (valid until the next call or destroy).
 *  @return : the parse_header errors, plus KSK_ETOOBIG (zstd content size
 *            unknown, over the cap, or different from the header's raw
 *            length) and KSK_EDECOMPRESS (zstd failed; message says why),
 *            KSK_ENOMEM. */
ksk_err ksk_frame_open(ksk_frame_dec *d, const uint8_t *buf, size_t len,
                       ksk_frame_hdr *hdr, const uint8_t **payload,
                       size_t *payload_len, ksk_errinfo *ei);

/*! ksk_frame_decode_batch() : ksk_frame_open() then ksk_wire_decode() with
 *  the header's record count. The batch lives as ksk_wire_decode() says
 *  and also only until the next call on `fd`.
 *  @return : any error of the two steps. */
ksk_err ksk_frame_decode_batch(ksk_frame_dec *fd, ksk_wire_dec *wd,
                               const uint8_t *buf, size_t len,
                               ksk_frame_hdr *hdr, const ksk_batch **batch,
                               ksk_errinfo *ei);

/*! ksk_crc32() : CRC-32 (ISO-HDLC) continuing from `crc` (start with 0). */
uint32_t ksk_crc32(uint32_t crc, const uint8_t *p, size_t n);

#endif /* KSK_FRAME_H */
