/*
 * frame.c : the batch frame (kiseki/frame.h): header encode/parse, CRC-32,
 * zstd compression and bounded decompression.
 *
 * Data in:  a msgpack payload plus frame metadata (encode); a byte string
 *           from the network or disk (decode).
 * Data out: a frame in the encoder's buffer; a header struct and the raw
 *           payload (borrowed from the input, or in the decoder's buffer).
 *
 * Decode order (each step bounds the next; nothing is allocated before the
 * header and CRC are known good):
 *   1. header: length >= 8, magic, version, header length, flags;
 *   2. declared lengths against the bytes present and the caps;
 *   3. CRC over the header (checksum field zeroed) and the payload;
 *   4. zstd frame header: content size present, == raw length, <= cap;
 *   5. decompress one-shot into a buffer of exactly raw length (zstd then
 *      needs no window buffer of its own), the zstd content checksum
 *      verified by zstd itself.
 * Invariants: the decoder's output buffer never exceeds limits.max_raw; a
 * failed decode leaves no output; encoders always set zstd's content size
 * and checksum so their frames pass step 4.
 */
#define ZSTD_STATIC_LINKING_ONLY
#include "kiseki/frame.h"
#include "kiseki/bytes.h"

#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "kiseki/buf.h"

void ksk_frame_limits_default(ksk_frame_limits *l)
{
	l->max_frame = 16u << 20;
	l->max_raw = 64u << 20;
	l->max_records = 1u << 20;
}

uint32_t ksk_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
	/* zlib's crc32 takes uInt lengths: feed it in slices */
	uLong c = crc;
	while (n) {
		uInt step = n > (1u << 30) ? (1u << 30) : (uInt)n;
		c = crc32(c, p, step);
		p += step;
		n -= step;
	}
	return (uint32_t)c;
}

/* CRC of header bytes [0, hdr_len) with bytes 20..23 taken as zero, then
 * the payload. */
static uint32_t ksk_frame_crc(const uint8_t *buf, size_t hdr_len,
                              const uint8_t *payload, size_t payload_len)
{
	static const uint8_t zero[4] = {0, 0, 0, 0};
	uint32_t c = ksk_crc32(0, buf, 20);
	c = ksk_crc32(c, zero, 4);
	c = ksk_crc32(c, buf + 24, hdr_len - 24);
	return ksk_crc32(c, payload, payload_len);
}

ksk_err ksk_frame_parse_header(const uint8_t *buf, size_t len,
                               const ksk_frame_limits *limits,
                               ksk_frame_hdr *hdr, ksk_errinfo *ei)
{
	ksk_frame_limits dl;
	if (!limits) {
		ksk_frame_limits_default(&dl);
		limits = &dl;
	}
	if (len < 8)
		return ksk_errinfo_set(ei, KSK_ETRUNC,
		                       "frame: %zu bytes, header needs %d", len,
		                       KSK_FRAME_HDR_LEN);
	if (buf[0] != KSK_FRAME_MAGIC0 || buf[1] != KSK_FRAME_MAGIC1 ||
	    buf[2] != KSK_FRAME_MAGIC2 || buf[3] != KSK_FRAME_MAGIC3)
		return ksk_errinfo_set(ei, KSK_EMAGIC,
		                       "frame: magic %02x%02x%02x%02x, want 4b534b46 (\"KSKF\")",
		                       buf[0], buf[1], buf[2], buf[3]);
	if (buf[4] != KSK_FRAME_VERSION)
		return ksk_errinfo_set(ei, KSK_EVERSION,
		                       "frame: version %u, this reader knows %d",
		                       buf[4], KSK_FRAME_VERSION);
	size_t hlen = buf[5];
	if (hlen < KSK_FRAME_HDR_LEN)
		return ksk_errinfo_set(ei, KSK_ERECORD,
		                       "frame: header length %zu < %d", hlen,
		                       KSK_FRAME_HDR_LEN);
	uint16_t flags = ksk_get_le16(buf + 6);
	if (flags & ~KSK_FRAME_FLAGS_KNOWN)
		return ksk_errinfo_set(ei, KSK_EFLAGS,
		                       "frame: unknown flag bits 0x%04x",
		                       (unsigned)(flags & ~KSK_FRAME_FLAGS_KNOWN));
	if (len < hlen)
		return ksk_errinfo_set(ei, KSK_ETRUNC,
		                       "frame: %zu bytes, header declares %zu", len,
		                       hlen);
	hdr->version = buf[4];
	hdr->hdr_len = (uint8_t)hlen;
	hdr->flags = flags;
	hdr->record_count = ksk_get_le32(buf + 8);
	hdr->raw_len = ksk_get_le32(buf + 12);
	hdr->payload_len = ksk_get_le32(buf + 16);
	hdr->checksum = ksk_get_le32(buf + 20);
	memcpy(hdr->agent_id, buf + 24, KSK_AGENT_ID_LEN);
	hdr->seq = ksk_get_le64(buf + 40);
	hdr->created_ns = ksk_get_le64(buf + 48);

	size_t total = hlen + (size_t)hdr->payload_len;
	if (total > limits->max_frame)
		return ksk_errinfo_set(ei, KSK_ETOOBIG,
		                       "frame: %zu bytes declared, cap %zu", total,
		                       limits->max_frame);
	if (hdr->raw_len > limits->max_raw)
		return ksk_errinfo_set(ei, KSK_ETOOBIG,
		                       "frame: raw length %u over the cap %zu",
		                       hdr->raw_len, limits->max_raw);
	if (hdr->record_count > limits->max_records)
		return ksk_errinfo_set(ei, KSK_ETOOBIG,
		                       "frame: %u records declared, cap %u",
		                       hdr->record_count, limits->max_records);
	if (len < total)
		return ksk_errinfo_set(ei, KSK_ETRUNC,
		                       "frame: %zu bytes present, %zu declared", len,
		                       total);
	if (len > total)
		return ksk_errinfo_set(ei, KSK_ERECORD,
		                       "frame: %zu trailing bytes after the payload",
		                       len - total);
	if (!(flags & KSK_FRAME_FLAG_ZSTD) && hdr->raw_len != hdr->payload_len)
		return ksk_errinfo_set(ei, KSK_ERECORD,
		                       "frame: uncompressed payload %u bytes but raw length %u",
		                       hdr->payload_len, hdr->raw_len);
	uint32_t crc = ksk_frame_crc(buf, hlen, buf + hlen, hdr->payload_len);
	if (crc != hdr->checksum)
		return ksk_errinfo_set(ei, KSK_ECHECKSUM,
		                       "frame: CRC-32 %08x, header says %08x", crc,
		                       hdr->checksum);
	return KSK_OK;
}

/* ---- encoder ------------------------------------------------------------ */

struct ksk_frame_enc {
	const ksk_alloc *alloc; /* borrowed */
	ZSTD_CCtx *cctx;        /* owned */
	ksk_buf out;            /* the frame being built */
	int level;
};

static void *ksk_zstd_alloc(void *opaque, size_t size)
{
	return ksk_malloc(opaque, size);
}

static void ksk_zstd_free(void *opaque, void *p)
{
	ksk_free(opaque, p);
}

static ZSTD_customMem ksk_zstd_mem(const ksk_alloc *a)
{
	ZSTD_customMem m = {ksk_zstd_alloc, ksk_zstd_free, (void *)a};
	return m;
}

ksk_err ksk_frame_enc_create(const ksk_alloc *alloc, int level,
                             ksk_frame_enc **out)
{
	alloc = ksk_alloc_or_default(alloc);
	ksk_frame_enc *e = ksk_calloc(alloc, 1, sizeof(*e));
	if (!e)
		return KSK_ENOMEM;
	e->alloc = alloc;
	e->level = level;
	e->cctx = ZSTD_createCCtx_advanced(ksk_zstd_mem(alloc));
	if (!e->cctx) {
		ksk_free(alloc, e);
		return KSK_ENOMEM;
	}
	if (ZSTD_isError(ZSTD_CCtx_setParameter(e->cctx, ZSTD_c_compressionLevel,
	                                        level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(e->cctx, ZSTD_c_checksumFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(e->cctx, ZSTD_c_contentSizeFlag, 1))) {
		ZSTD_freeCCtx(e->cctx);
		ksk_free(alloc, e);
		return KSK_EINVAL;
	}
	ksk_buf_init(&e->out, alloc, 0);
	*out = e;
	return KSK_OK;
}

void ksk_frame_enc_destroy(ksk_frame_enc *e)
{
	if (!e)
		return;
	ZSTD_freeCCtx(e->cctx);
	ksk_buf_fini(&e->out);
	ksk_free(e->alloc, e);
}

ksk_err ksk_frame_encode(ksk_frame_enc *e, const ksk_frame_meta *meta,
                         const uint8_t *payload, size_t len,
                         const uint8_t **out, size_t *out_len,
                         ksk_errinfo *ei)
{
	if (len > UINT32_MAX)
		return ksk_errinfo_set(ei, KSK_ETOOBIG,
		                       "frame: payload %zu bytes over 4 GiB", len);
	size_t bound = meta->compress ? ZSTD_compressBound(len) : len;
	if (bound > UINT32_MAX)
		return ksk_errinfo_set(ei, KSK_ETOOBIG,
		                       "frame: payload %zu bytes too large", len);
	ksk_buf_clear(&e->out);
	ksk_err rc = ksk_buf_reserve(&e->out, KSK_FRAME_HDR_LEN + bound);
	if (rc != KSK_OK)
		return ksk_errinfo_set(ei, rc, "frame: no room for %zu bytes",
		                       KSK_FRAME_HDR_LEN + bound);
	uint8_t *h = e->out.data;
	uint8_t *body = h + KSK_FRAME_HDR_LEN;
	size_t plen;
	if (meta->compress) {
		plen = ZSTD_compress2(e->cctx, body, bound, payload, len);
		if (ZSTD_isError(plen))
			return ksk_errinfo_set(ei, KSK_EIO, "frame: zstd: %s",
			                       ZSTD_getErrorName(plen));
	} else {
		if (len)
			memcpy(body, payload, len);
		plen = len;
	}
	memset(h, 0, KSK_FRAME_HDR_LEN);
	h[0] = KSK_FRAME_MAGIC0;
	h[1] = KSK_FRAME_MAGIC1;
	h[2] = KSK_FRAME_MAGIC2;
	h[3] = KSK_FRAME_MAGIC3;
	h[4] = KSK_FRAME_VERSION;
	h[5] = KSK_FRAME_HDR_LEN;
	ksk_put_le16(h + 6, (uint16_t)((meta->compress ? KSK_FRAME_FLAG_ZSTD : 0) |
	                              (meta->restore ? KSK_FRAME_FLAG_RESTORE : 0)));
	ksk_put_le32(h + 8, meta->record_count);
	ksk_put_le32(h + 12, (uint32_t)len);
	ksk_put_le32(h + 16, (uint32_t)plen);
	memcpy(h + 24, meta->agent_id, KSK_AGENT_ID_LEN);
	ksk_put_le64(h + 40, meta->seq);
	ksk_put_le64(h + 48, meta->created_ns);
	ksk_put_le32(h + 20, ksk_frame_crc(h, KSK_FRAME_HDR_LEN, body, plen));
	e->out.len = KSK_FRAME_HDR_LEN + plen;
	*out = e->out.data;
	*out_len = e->out.len;
	return KSK_OK;
}

/* ---- decoder ------------------------------------------------------------ */

struct ksk_frame_dec {
	const ksk_alloc *alloc; /* borrowed */
	ksk_frame_limits limits;
	ZSTD_DCtx *dctx;        /* owned */
	uint8_t *raw;           /* owned decompression buffer */
	size_t raw_cap;
};

ksk_err ksk_frame_dec_create(const ksk_alloc *alloc, const ksk_frame_limits *limits,
                             ksk_frame_dec **out)
{
	alloc = ksk_alloc_or_default(alloc);
	ksk_frame_dec *d = ksk_calloc(alloc, 1, sizeof(*d));
	if (!d)
		return KSK_ENOMEM;
	d->alloc = alloc;
	if (limits)
		d->limits = *limits;
	else
		ksk_frame_limits_default(&d->limits);
	d->dctx = ZSTD_createDCtx_advanced(ksk_zstd_mem(alloc));
	if (!d->dctx) {
		ksk_free(alloc, d);
		return KSK_ENOMEM;
	}
	*out = d;
	return KSK_OK;
}

void ksk_frame_dec_destroy(ksk_frame_dec *d)
{
	if (!d)
		return;
	ZSTD_freeDCtx(d->dctx);
	ksk_free(d->alloc, d->raw);
	ksk_free(d->alloc, d);
}

ksk_err ksk_frame_open(ksk_frame_dec *d, const uint8_t *buf, size_t len,
                       ksk_frame_hdr *hdr, const uint8_t **payload,
                       size_t *payload_len, ksk_errinfo *ei)
{
	KSK_TRY(ksk_frame_parse_header(buf, len, &d->limits, hdr, ei));
	const uint8_t *body = buf + hdr->hdr_len;
	if (!(hdr->flags & KSK_FRAME_FLAG_ZSTD)) {
		*payload = body;
		*payload_len = hdr->payload_len;
		return KSK_OK;
	}
	/* zstd's own header must agree with ours before we allocate */
	ZSTD_frameHeader zfh;
	size_t zr = ZSTD_getFrameHeader(&zfh, body, hdr->payload_len);
	if (ZSTD_isError(zr))
		return ksk_errinfo_set(ei, KSK_EDECOMPRESS, "frame: zstd header: %s",
		                       ZSTD_getErrorName(zr));
	if (zr != 0)
		return ksk_errinfo_set(ei, KSK_EDECOMPRESS,
		                       "frame: zstd header truncated (%u bytes)",
		                       hdr->payload_len);
	if (zfh.frameType != ZSTD_frame)
		return ksk_errinfo_set(ei, KSK_EDECOMPRESS,
		                       "frame: payload is a skippable zstd frame");
	if (zfh.frameContentSize == ZSTD_CONTENTSIZE_UNKNOWN)
		return ksk_errinfo_set(ei, KSK_ETOOBIG,
		                       "frame: zstd content size not declared");
	if (zfh.frameContentSize != hdr->raw_len)
		return ksk_errinfo_set(ei, KSK_ETOOBIG,
		                       "frame: zstd declares %llu bytes, header %u",
		                       (unsigned long long)zfh.frameContentSize,
		                       hdr->raw_len);
	if (!zfh.checksumFlag)
		return ksk_errinfo_set(ei, KSK_EDECOMPRESS,
		                       "frame: zstd content checksum missing");
	if (hdr->raw_len > d->raw_cap) {
		uint8_t *nb = ksk_realloc(d->alloc, d->raw, hdr->raw_len);
		if (!nb)
			return ksk_errinfo_set(ei, KSK_ENOMEM,
			                       "frame: no memory for %u raw bytes",
			                       hdr->raw_len);
		d->raw = nb;
		d->raw_cap = hdr->raw_len;
	}
	size_t n = ZSTD_decompressDCtx(d->dctx, d->raw, hdr->raw_len, body,
	                               hdr->payload_len);
	if (ZSTD_isError(n))
		return ksk_errinfo_set(ei, KSK_EDECOMPRESS, "frame: zstd: %s",
		                       ZSTD_getErrorName(n));
	if (n != hdr->raw_len)
		return ksk_errinfo_set(ei, KSK_EDECOMPRESS,
		                       "frame: zstd gave %zu bytes, header says %u",
		                       n, hdr->raw_len);
	*payload = d->raw;
	*payload_len = n;
	return KSK_OK;
}

ksk_err ksk_frame_decode_batch(ksk_frame_dec *fd, ksk_wire_dec *wd,
                               const uint8_t *buf, size_t len,
                               ksk_frame_hdr *hdr, const ksk_batch **batch,
                               ksk_errinfo *ei)
{
	const uint8_t *payload = NULL;
	size_t plen = 0;
	KSK_TRY(ksk_frame_open(fd, buf, len, hdr, &payload, &plen, ei));
	return ksk_wire_decode(wd, payload, plen, hdr->record_count, batch, ei);
}
