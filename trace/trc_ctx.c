/*
 * trc_ctx.c : W3C Trace Context: traceparent and tracestate (trace.h).
 *
 * Data in: header values from an incoming request; data out: a remote
 * span context (ksk_trace_remote) and, for outgoing requests, the header
 * values of a context.
 *
 * traceparent (interop-specs 1a): spaces/tabs around the value are
 * ignored; version = 2 lowercase hex digits, "ff" invalid; version 00 is
 * exactly 55 characters; a higher version must be at least 55 characters
 * with '-' at 2, 35, 52 and, when longer, at 55, and is read at the
 * version-00 positions; trace-id 32 and parent-id 16 lowercase hex digits,
 * not all zero; flags 2 lowercase hex digits. Only the sampled and random
 * bits are kept (the others are reserved and never forwarded).
 * tracestate: comma-separated members, empty members and spaces/tabs
 * around members allowed, at most 32 members, keys unique, key =
 * [a-z0-9] then up to 255 of [a-z0-9_-*\/@], value = 1..256 printable
 * ASCII except ',' and '=', not ending in a space. Any bad member drops
 * the whole tracestate (never the traceparent). The kept text is
 * normalised (members joined by ','), and cut to 512 characters by
 * dropping whole members: those over 128 characters first, then from the
 * right.
 */
#include "trc_int.h"

#include <string.h>

#define TRC_TS_MAX_MEMBERS 32

static int trc_hexval_lower(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool trc_hex_lower(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = trc_hexval_lower(s[2 * i]);
		int lo = trc_hexval_lower(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static bool trc_ows(char c)
{
	return c == ' ' || c == '\t';
}

static void trc_trim(const char **p, size_t *n)
{
	while (*n && trc_ows(**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n && trc_ows((*p)[*n - 1]))
		(*n)--;
}

/* Parses one traceparent value into c. */
static bool trc_parse_traceparent(const char *p, size_t n, ksk_trace_ctx *c)
{
	trc_trim(&p, &n);
	uint8_t ver;
	if (n < 2 || !trc_hex_lower(p, 1, &ver) || ver == 0xff)
		return false;
	if (ver == 0 && n != KSK_TRACE_TRACEPARENT_LEN)
		return false;
	if (n < KSK_TRACE_TRACEPARENT_LEN)
		return false;
	if (p[2] != '-' || p[35] != '-' || p[52] != '-')
		return false;
	if (n > KSK_TRACE_TRACEPARENT_LEN && p[55] != '-')
		return false;
	uint8_t flags;
	if (!trc_hex_lower(p + 3, KSK_TRACE_ID_LEN, c->trace_id) ||
	    !trc_hex_lower(p + 36, KSK_SPAN_ID_LEN, c->span_id) ||
	    !trc_hex_lower(p + 53, 1, &flags))
		return false;
	c->flags = flags & (KSK_TRACE_FLAG_SAMPLED | KSK_TRACE_FLAG_RANDOM);
	return ksk_trace_ctx_valid(c);
}

static bool trc_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
	       c == '*' || c == '/' || c == '@';
}

/* One member "key=value" (already trimmed). */
static bool trc_member_ok(const char *m, size_t n, size_t *key_len)
{
	const char *eq = memchr(m, '=', n);
	if (!eq)
		return false;
	size_t kl = (size_t)(eq - m), vl = n - kl - 1;
	if (kl == 0 || kl > 256 || vl == 0 || vl > 256)
		return false;
	if (!((m[0] >= 'a' && m[0] <= 'z') || (m[0] >= '0' && m[0] <= '9')))
		return false;
	for (size_t i = 1; i < kl; i++)
		if (!trc_key_char(m[i]))
			return false;
	const char *v = eq + 1;
	for (size_t i = 0; i < vl; i++)
		if (v[i] < 0x20 || v[i] > 0x7e || v[i] == ',' || v[i] == '=')
			return false;
	if (v[vl - 1] == ' ')
		return false;
	*key_len = kl;
	return true;
}

typedef struct trc_member {
	const char *p;
	size_t n;
	size_t key_len;
} trc_member;

/* Splits the joined tracestate lines into members; false if invalid. */
static bool trc_ts_collect(const ksk_str *lines, size_t n_lines, trc_member *mem,
                           size_t *n_mem)
{
	size_t k = 0;
	for (size_t l = 0; l < n_lines; l++) {
		const char *p = lines[l].ptr ? lines[l].ptr : "";
		size_t n = lines[l].len;
		size_t i = 0;
		while (i <= n) {
			size_t j = i;
			while (j < n && p[j] != ',')
				j++;
			const char *m = p + i;
			size_t mn = j - i;
			trc_trim(&m, &mn);
			if (mn) {
				if (k == TRC_TS_MAX_MEMBERS)
					return false;
				if (!trc_member_ok(m, mn, &mem[k].key_len))
					return false;
				for (size_t q = 0; q < k; q++)
					if (mem[q].key_len == mem[k].key_len &&
					    memcmp(mem[q].p, m, mem[k].key_len) == 0)
						return false;
				mem[k].p = m;
				mem[k].n = mn;
				k++;
			}
			i = j + 1;
		}
	}
	*n_mem = k;
	return true;
}

/* Normalises into out (cap KSK_TRACE_STATE_MAX + 1), dropping whole
 * members when the result would pass 512 characters. */
static size_t trc_ts_len(const trc_member *mem, const bool *keep, size_t k)
{
	size_t total = 0, kept = 0;
	for (size_t i = 0; i < k; i++) {
		if (keep[i]) {
			total += mem[i].n;
			kept++;
		}
	}
	return kept ? total + kept - 1 : 0;
}

static size_t trc_ts_write(const trc_member *mem, size_t k, char *out)
{
	bool keep[TRC_TS_MAX_MEMBERS];
	for (size_t i = 0; i < k; i++)
		keep[i] = true;
	/* first drop members over 128 characters, from the right */
	for (size_t i = k; i-- > 0 && trc_ts_len(mem, keep, k) > KSK_TRACE_STATE_MAX;)
		if (mem[i].n > 128)
			keep[i] = false;
	for (size_t i = k; i-- > 0 && trc_ts_len(mem, keep, k) > KSK_TRACE_STATE_MAX;)
		keep[i] = false;
	size_t o = 0;
	for (size_t i = 0; i < k; i++) {
		if (!keep[i])
			continue;
		if (o)
			out[o++] = ',';
		memcpy(out + o, mem[i].p, mem[i].n);
		o += mem[i].n;
	}
	out[o] = '\0';
	return o;
}

ksk_err ksk_trace_extract_lines(const ksk_str *traceparent, size_t n_tp,
                                const ksk_str *tracestate, size_t n_ts,
                                ksk_trace_remote *out)
{
	if (!out)
		return KSK_EINVAL;
	memset(&out->ctx, 0, sizeof(out->ctx));
	out->tracestate[0] = '\0';
	if (n_tp == 0 || !traceparent)
		return KSK_ENOTFOUND;
	ksk_trace_ctx c;
	memset(&c, 0, sizeof(c));
	if (n_tp != 1 || !traceparent[0].ptr ||
	    !trc_parse_traceparent(traceparent[0].ptr, traceparent[0].len, &c))
		return KSK_EPARSE;
	c.remote = true;
	trc_member mem[TRC_TS_MAX_MEMBERS];
	size_t k = 0;
	if (tracestate && n_ts && trc_ts_collect(tracestate, n_ts, mem, &k) && k) {
		c.tracestate_len = (uint16_t)trc_ts_write(mem, k, out->tracestate);
		c.tracestate = c.tracestate_len ? out->tracestate : NULL;
	}
	out->ctx = c;
	return KSK_OK;
}

ksk_err ksk_trace_extract(const char *traceparent, const char *tracestate,
                          ksk_trace_remote *out)
{
	ksk_str tp = ksk_str_c(traceparent);
	ksk_str ts = ksk_str_c(tracestate);
	return ksk_trace_extract_lines(traceparent ? &tp : NULL, traceparent ? 1 : 0,
	                               tracestate ? &ts : NULL, tracestate ? 1 : 0, out);
}

ksk_err ksk_trace_inject(const ksk_trace_ctx *c,
                         char traceparent[KSK_TRACE_TRACEPARENT_LEN + 1],
                         char *tracestate, size_t ts_cap)
{
	if (tracestate && ts_cap)
		tracestate[0] = '\0';
	if (!traceparent || !ksk_trace_ctx_valid(c)) {
		if (traceparent)
			traceparent[0] = '\0';
		return KSK_EINVAL;
	}
	memcpy(traceparent, "00-", 3);
	ksk_hex_encode(c->trace_id, KSK_TRACE_ID_LEN, traceparent + 3);
	traceparent[35] = '-';
	ksk_hex_encode(c->span_id, KSK_SPAN_ID_LEN, traceparent + 36);
	traceparent[52] = '-';
	uint8_t fl = c->flags & (KSK_TRACE_FLAG_SAMPLED | KSK_TRACE_FLAG_RANDOM);
	ksk_hex_encode(&fl, 1, traceparent + 53);
	if (!tracestate)
		return KSK_OK;
	size_t n = c->tracestate ? c->tracestate_len : 0;
	if (n + 1 > ts_cap)
		return KSK_ELIMIT;
	if (n)
		memcpy(tracestate, c->tracestate, n);
	tracestate[n] = '\0';
	return KSK_OK;
}
