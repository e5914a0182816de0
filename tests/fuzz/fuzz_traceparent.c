/*
 * fuzz_traceparent.c : libFuzzer target for libkiseki-trace's W3C trace
 * context parser, which reads headers from untrusted callers. Input: the
 * traceparent value, then (after the first newline) the tracestate value.
 * Oracle: an accepted context injects and extracts again to the same IDs,
 * flags and tracestate; the parser never reads past the strings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kiseki/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	char *ts = memchr(buf, '\n', size);
	if (ts)
		*ts++ = '\0';
	ksk_trace_remote r, r2;
	if (ksk_trace_extract(buf, ts, &r) == KSK_OK) {
		char tp[KSK_TRACE_TRACEPARENT_LEN + 1], st[KSK_TRACE_STATE_MAX + 1];
		if (ksk_trace_inject(&r.ctx, tp, st, sizeof(st)) != KSK_OK)
			abort();
		if (ksk_trace_extract(tp, st, &r2) != KSK_OK)
			abort();
		if (memcmp(r.ctx.trace_id, r2.ctx.trace_id, KSK_TRACE_ID_LEN) != 0 ||
		    memcmp(r.ctx.span_id, r2.ctx.span_id, KSK_SPAN_ID_LEN) != 0 ||
		    r.ctx.flags != r2.ctx.flags || r.ctx.tracestate_len != r2.ctx.tracestate_len ||
		    (r.ctx.tracestate_len &&
		     memcmp(r.ctx.tracestate, r2.ctx.tracestate, r.ctx.tracestate_len) != 0))
			abort();
	}
	free(buf);
	return 0;
}
