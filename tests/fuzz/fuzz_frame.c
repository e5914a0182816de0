/*
 * fuzz_frame.c : libFuzzer target for the frame decoder (the collector's
 * first contact with network bytes): header, CRC, zstd, then the record
 * decoder. Oracle: a frame that decodes is re-encoded from its batch and
 * must decode again to the same record counts; any crash, leak, UB or
 * unbounded allocation (ASan's RSS limit) is a finding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kiseki/frame.h"
#include "kiseki/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ksk_frame_dec *fd;
	static ksk_wire_dec *wd, *wd2;
	static ksk_wire_enc *we;
	static ksk_frame_enc *fe;
	if (!fd) {
		if (ksk_frame_dec_create(NULL, NULL, &fd) || ksk_wire_dec_create(NULL, NULL, &wd) ||
		    ksk_wire_dec_create(NULL, NULL, &wd2) || ksk_wire_enc_create(NULL, NULL, 0, &we) ||
		    ksk_frame_enc_create(NULL, 1, &fe))
			abort();
	}
	ksk_frame_hdr h;
	const ksk_batch *b;
	ksk_errinfo ei;
	if (ksk_frame_decode_batch(fd, wd, data, size, &h, &b, &ei) != KSK_OK)
		return 0;
	ksk_wire_enc_reset(we);
	uint32_t idx;
	for (uint32_t i = 0; i < b->n_resources; i++)
		if (ksk_wire_enc_resource(we, &b->resources[i], &idx) != KSK_OK)
			abort();
	for (uint32_t i = 0; i < b->n_spans; i++)
		if (ksk_wire_enc_span(we, &b->spans[i]) != KSK_OK)
			abort();
	for (uint32_t i = 0; i < b->n_logs; i++)
		if (ksk_wire_enc_log(we, &b->logs[i]) != KSK_OK)
			abort();
	size_t n;
	const uint8_t *p = ksk_wire_enc_data(we, &n);
	ksk_frame_meta m;
	memset(&m, 0, sizeof(m));
	memcpy(m.agent_id, h.agent_id, KSK_AGENT_ID_LEN);
	m.seq = h.seq;
	m.record_count = ksk_wire_enc_count(we);
	m.compress = true;
	const uint8_t *f;
	size_t flen;
	if (ksk_frame_encode(fe, &m, p, n, &f, &flen, NULL) != KSK_OK)
		abort();
	/* decode with a fresh frame decoder state: fd's buffer holds b's payload */
	ksk_frame_dec *fd2;
	if (ksk_frame_dec_create(NULL, NULL, &fd2) != KSK_OK)
		abort();
	ksk_frame_hdr h2;
	const ksk_batch *b2;
	if (ksk_frame_decode_batch(fd2, wd2, f, flen, &h2, &b2, &ei) != KSK_OK)
		abort();
	if (b2->n_spans != b->n_spans || b2->n_logs != b->n_logs ||
	    b2->n_resources != b->n_resources || h2.seq != h.seq)
		abort();
	ksk_frame_dec_destroy(fd2);
	return 0;
}
