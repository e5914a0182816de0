/*
 * fuzz_qproto.c : libFuzzer target for the query-protocol request decoder
 * (the collector's other network input). Oracle: a request that decodes
 * is re-encoded and must decode again to the same fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kiseki/qproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ksk_qreq r, r2;
	ksk_errinfo ei;
	if (ksk_qreq_decode(data, size, &r, &ei) != KSK_OK)
		return 0;
	ksk_buf b;
	ksk_buf_init(&b, NULL, 0);
	if (ksk_qreq_encode(&r, &b) != KSK_OK)
		abort();
	if (ksk_qreq_decode(b.data, b.len, &r2, &ei) != KSK_OK)
		abort();
	if (r2.op != r.op || r2.n_attrs != r.n_attrs || r2.start_ns != r.start_ns ||
	    r2.limit != r.limit || r2.kind != r.kind || !ksk_str_eq(r2.service, r.service) ||
	    !ksk_str_eq(r2.regex, r.regex) || r2.has_trace_id != r.has_trace_id)
		abort();
	ksk_buf_fini(&b);
	return 0;
}
