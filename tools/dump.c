/*
 * dump.c : frames as readable text (tools/dump.h).
 *
 * Data in: bytes holding frames back to back. Data out: text on a FILE*.
 * Each frame's extent is taken from its header (header length + payload
 * length); the frame is then fully checked (CRC, zstd, records) before
 * anything of its records is printed, so a damaged frame prints its error
 * and nothing misleading. Strings are printed quoted with control bytes
 * escaped; bytes values as hex; times as RFC 3339 UTC with ns.
 */
#include "dump.h"
#include "kiseki/bytes.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiseki/frame.h"
#include "kiseki/wire.h"

static void dump_time(FILE *out, uint64_t ns)
{
	time_t sec = (time_t)(ns / 1000000000ull);
	struct tm tm;
	char buf[32];
	gmtime_r(&sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(out, "%s.%09" PRIu64 "Z", buf, (uint64_t)(ns % 1000000000ull));
}

static void dump_hex(FILE *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%02x", p[i]);
}

static void dump_qstr(FILE *out, ksk_str s)
{
	fputc('"', out);
	for (uint32_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.ptr[i];
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void dump_attrs(FILE *out, const ksk_attr *a, uint32_t n);

static void dump_value(FILE *out, const ksk_value *v)
{
	switch (v->type) {
	case KSK_VAL_EMPTY:
		fputs("(empty)", out);
		break;
	case KSK_VAL_STR:
		dump_qstr(out, v->u.s);
		break;
	case KSK_VAL_BOOL:
		fputs(v->u.b ? "true" : "false", out);
		break;
	case KSK_VAL_INT:
		fprintf(out, "%" PRId64, v->u.i);
		break;
	case KSK_VAL_DOUBLE: {
		/* the shortest of %.15g..%.17g that reads back exactly */
		char num[40];
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(num, sizeof(num), "%.*g", prec, v->u.d);
			if (strtod(num, NULL) == v->u.d)
				break;
		}
		fputs(num, out);
		break;
	}
	case KSK_VAL_BYTES:
		fputs("0x", out);
		dump_hex(out, (const uint8_t *)v->u.s.ptr, v->u.s.len);
		break;
	case KSK_VAL_ARRAY:
		fputc('[', out);
		for (uint32_t i = 0; i < v->u.arr.n; i++) {
			if (i)
				fputs(", ", out);
			dump_value(out, &v->u.arr.items[i]);
		}
		fputc(']', out);
		break;
	case KSK_VAL_KVLIST:
		fputc('{', out);
		dump_attrs(out, v->u.kv.items, v->u.kv.n);
		fputc('}', out);
		break;
	}
}

static void dump_attrs(FILE *out, const ksk_attr *a, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			fputc(' ', out);
		fwrite(a[i].key.ptr, 1, a[i].key.len, out);
		fputc('=', out);
		dump_value(out, &a[i].value);
	}
}

static void dump_ms(FILE *out, uint64_t ns)
{
	fprintf(out, "%" PRIu64 ".%03" PRIu64 "ms", ns / 1000000, (ns / 1000) % 1000);
}

static void dump_span(FILE *out, const ksk_span *s)
{
	static const char *const st[] = {"unset", "ok", "error"};
	fputs("  span ", out);
	dump_hex(out, s->trace_id, 16);
	fputc('/', out);
	dump_hex(out, s->span_id, 8);
	if (s->has_parent) {
		fputs(" parent ", out);
		dump_hex(out, s->parent_id, 8);
	}
	fputc(' ', out);
	dump_qstr(out, s->name);
	fprintf(out, " %s ", ksk_span_kind_name(s->kind));
	dump_time(out, s->start_ns);
	fputs(" +", out);
	dump_ms(out, s->end_ns - s->start_ns);
	fprintf(out, " status=%s", st[s->status]);
	if (s->status_msg.len) {
		fputc(' ', out);
		dump_qstr(out, s->status_msg);
	}
	fprintf(out, " resource=%u", s->resource);
	if (s->trace_state.len) {
		fputs(" tracestate=", out);
		dump_qstr(out, s->trace_state);
	}
	if (s->scope_name.len) {
		fputs(" scope=", out);
		dump_qstr(out, s->scope_name);
	}
	fputc('\n', out);
	if (s->n_attrs) {
		fputs("    attrs ", out);
		dump_attrs(out, s->attrs, s->n_attrs);
		fputc('\n', out);
	}
	for (uint32_t i = 0; i < s->n_events; i++) {
		const ksk_event *e = &s->events[i];
		fputs("    event ", out);
		if (e->time_ns >= s->start_ns) {
			fputc('+', out);
			dump_ms(out, e->time_ns - s->start_ns);
		} else {
			dump_time(out, e->time_ns);
		}
		fputc(' ', out);
		dump_qstr(out, e->name);
		if (e->n_attrs) {
			fputc(' ', out);
			dump_attrs(out, e->attrs, e->n_attrs);
		}
		fputc('\n', out);
	}
	for (uint32_t i = 0; i < s->n_links; i++) {
		const ksk_link *l = &s->links[i];
		fputs("    link ", out);
		dump_hex(out, l->trace_id, 16);
		fputc('/', out);
		dump_hex(out, l->span_id, 8);
		if (l->n_attrs) {
			fputc(' ', out);
			dump_attrs(out, l->attrs, l->n_attrs);
		}
		fputc('\n', out);
	}
	if (s->dropped_attrs || s->dropped_events || s->dropped_links)
		fprintf(out, "    dropped attrs=%u events=%u links=%u\n",
		        s->dropped_attrs, s->dropped_events, s->dropped_links);
}

static void dump_log(FILE *out, const ksk_batch *b, const ksk_log *l)
{
	fputs("  log ", out);
	dump_time(out, l->time_ns ? l->time_ns : l->observed_ns);
	fprintf(out, " %s", ksk_severity_name(l->severity));
	if (l->severity_text.len) {
		fputc('(', out);
		fwrite(l->severity_text.ptr, 1, l->severity_text.len, out);
		fputc(')', out);
	}
	const ksk_resource *r = &b->resources[l->resource];
	fputs(" [", out);
	fwrite(r->service.ptr, 1, r->service.len, out);
	fputc(']', out);
	if (l->has_trace) {
		fputs(" trace=", out);
		dump_hex(out, l->trace_id, 16);
	}
	if (l->has_span) {
		fputs(" span=", out);
		dump_hex(out, l->span_id, 8);
	}
	fputc(' ', out);
	dump_value(out, &l->body);
	fputc('\n', out);
	if (l->n_attrs) {
		fputs("    attrs ", out);
		dump_attrs(out, l->attrs, l->n_attrs);
		fputc('\n', out);
	}
}

ksk_err ksk_dump_frames(FILE *out, const uint8_t *buf, size_t len,
                        const ksk_dump_opts *opts, size_t *frames,
                        ksk_errinfo *ei)
{
	ksk_frame_dec *fd = NULL;
	ksk_wire_dec *wd = NULL;
	ksk_err rc = ksk_frame_dec_create(NULL, NULL, &fd);
	if (rc == KSK_OK)
		rc = ksk_wire_dec_create(NULL, NULL, &wd);
	size_t off = 0, n = 0;
	while (rc == KSK_OK && off < len) {
		size_t left = len - off, flen = left;
		/* the extent comes from the header; the full check follows */
		if (left >= 20)
			flen = (size_t)buf[off + 5] + ksk_get_le32(buf + off + 16);
		if (flen > left)
			flen = left;
		ksk_frame_hdr h;
		const ksk_batch *b = NULL;
		ksk_errinfo local;
		rc = ksk_frame_decode_batch(fd, wd, buf + off, flen, &h, &b, &local);
		if (rc != KSK_OK) {
			ksk_errinfo_set(ei, rc, "frame %zu at offset %zu: %s: %s", n,
			                off, ksk_errname(rc), local.msg);
			break;
		}
		fprintf(out, "frame %zu @%zu: v%u flags=%s agent=", n, off, h.version,
		        (h.flags & KSK_FRAME_FLAG_ZSTD) ? "zstd" : "none");
		dump_hex(out, h.agent_id, KSK_AGENT_ID_LEN);
		fprintf(out, " seq=%" PRIu64 " created=", h.seq);
		dump_time(out, h.created_ns);
		fprintf(out,
		        " records=%u raw=%u payload=%u crc=%08x resources=%u spans=%u logs=%u\n",
		        h.record_count, h.raw_len, h.payload_len, h.checksum,
		        b->n_resources, b->n_spans, b->n_logs);
		if (!opts || !opts->headers_only) {
			for (uint32_t i = 0; i < b->n_resources; i++) {
				fprintf(out, "  resource %u ", i);
				dump_attrs(out, b->resources[i].attrs,
				           b->resources[i].n_attrs);
				fputc('\n', out);
			}
			for (uint32_t i = 0; i < b->n_spans; i++)
				dump_span(out, &b->spans[i]);
			for (uint32_t i = 0; i < b->n_logs; i++)
				dump_log(out, b, &b->logs[i]);
		}
		off += flen;
		n++;
	}
	ksk_wire_dec_destroy(wd);
	ksk_frame_dec_destroy(fd);
	if (frames)
		*frames = n;
	return rc;
}
