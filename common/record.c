/*
 * record.c : helpers over the record model: ID hex conversion, UTF-8
 * validation and repair, value equality, severity and kind names.
 *
 * Data in: borrowed views (ksk_str, byte arrays). Data out: booleans,
 * static strings, or new strings allocated from a caller's arena.
 * Invariants: nothing here keeps state; ksk_utf8_repair() output is always
 * valid UTF-8 and never longer than 3x its input (each bad byte becomes at
 * most one 3-byte U+FFFD).
 */
#include "kiseki/record.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

ksk_str ksk_str_c(const char *s)
{
	ksk_str r = {s, 0};
	if (s)
		r.len = (uint32_t)strlen(s);
	return r;
}

bool ksk_str_eq(ksk_str a, ksk_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* ---- ID digits cut out of a log body ----------------------------------- */

/* the 2n lowercase hex digits of id[0, n), no NUL */
static void ksk_hex_raw(const uint8_t *id, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[id[i] >> 4];
		out[2 * i + 1] = hx[id[i] & 15];
	}
}

/* true when b[end - 2n, end) is the lowercase hex of id[0, n) (n = 8 or
 * 16). Every log a writer encodes is checked, so with SSE2 8 ID bytes are
 * turned into their 16 digits and compared at once. */
static bool ksk_hex_at(ksk_str b, uint32_t end, const uint8_t *id, uint32_t n)
{
	if (end < 2 * n || end > b.len)
		return false;
	const char *p = b.ptr + end - 2 * n;
#if defined(__SSE2__)
	const __m128i lo4 = _mm_set1_epi8(0x0f), nine = _mm_set1_epi8(9);
	const __m128i zero = _mm_set1_epi8('0'), gap = _mm_set1_epi8('a' - '0' - 10);
	for (uint32_t i = 0; i < n; i += 8) {
		__m128i v = _mm_loadl_epi64((const __m128i *)(const void *)(id + i));
		__m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), lo4);
		__m128i lo = _mm_and_si128(v, lo4);
		__m128i nib = _mm_unpacklo_epi8(hi, lo); /* digit order: hi, lo */
		__m128i asc = _mm_add_epi8(_mm_add_epi8(nib, zero),
		                           _mm_and_si128(_mm_cmpgt_epi8(nib, nine), gap));
		__m128i got = _mm_loadu_si128((const __m128i *)(const void *)(p + 2 * i));
		if (_mm_movemask_epi8(_mm_cmpeq_epi8(asc, got)) != 0xffff)
			return false;
	}
	return true;
#else
	char hex[2 * KSK_TRACE_ID_LEN];
	ksk_hex_raw(id, n, hex);
	return memcmp(p, hex, 2 * n) == 0;
#endif
}

static void ksk_id_cut_sort(ksk_id_cut *c)
{
	if (c->n == 2 && c->at[1] < c->at[0]) {
		uint32_t a = c->at[0];
		uint8_t l = c->len[0];
		c->at[0] = c->at[1], c->len[0] = c->len[1];
		c->at[1] = a, c->len[1] = l;
	}
}

void ksk_log_id_cuts(const ksk_log *l, ksk_id_cut *c)
{
	c->n = 0;
	if (l->body.type != KSK_VAL_STR)
		return;
	bool t = l->trace_hex_end && !ksk_id_is_zero(l->trace_id, KSK_TRACE_ID_LEN) &&
	         ksk_hex_at(l->body.u.s, l->trace_hex_end, l->trace_id, KSK_TRACE_ID_LEN);
	bool s = l->span_hex_end && !ksk_id_is_zero(l->span_id, KSK_SPAN_ID_LEN) &&
	         ksk_hex_at(l->body.u.s, l->span_hex_end, l->span_id, KSK_SPAN_ID_LEN);
	uint32_t ta = t ? l->trace_hex_end - 32 : 0, sa = s ? l->span_hex_end - 16 : 0;
	if (t && s && sa < ta + 32 && ta < sa + 16)
		s = false;
	if (t)
		ksk_id_cut_add(c, ta, 32);
	if (s)
		ksk_id_cut_add(c, sa, 16);
	ksk_id_cut_sort(c);
}

void ksk_id_cut_add(ksk_id_cut *c, uint32_t at, uint8_t len)
{
	if (c->n < 2) {
		c->at[c->n] = at;
		c->len[c->n++] = len;
	}
}

uint32_t ksk_id_cut_fit(ksk_id_cut *c, uint32_t len)
{
	ksk_id_cut_sort(c);
	if (c->n >= 1 && c->at[0] > len)
		return 1;
	if (c->n == 2 &&
	    ((uint64_t)c->at[1] < (uint64_t)c->at[0] + c->len[0] || c->at[1] - c->len[0] > len))
		return 2;
	return 0;
}

uint32_t ksk_id_cut_split(const char *body, uint32_t len, const ksk_id_cut *c, char *out)
{
	uint32_t from = 0, w = 0;
	for (uint32_t i = 0; i < c->n; i++) {
		uint32_t piece = c->at[i] - from;
		if (piece)
			memcpy(out + w, body + from, piece);
		w += piece;
		from = c->at[i] + c->len[i];
	}
	if (len > from)
		memcpy(out + w, body + from, len - from);
	return w + (len > from ? len - from : 0);
}

uint32_t ksk_id_cut_join(const char *part, uint32_t len, const ksk_id_cut *c,
                         const uint8_t trace_id[KSK_TRACE_ID_LEN],
                         const uint8_t span_id[KSK_SPAN_ID_LEN], char *out, ksk_log *hints)
{
	uint32_t w = 0, r = 0; /* written; read from part */
	for (uint32_t i = 0; i < c->n; i++) {
		uint32_t piece = c->at[i] - w;
		if (piece)
			memcpy(out + w, part + r, piece);
		w += piece;
		r += piece;
		bool trace = c->len[i] == 2 * KSK_TRACE_ID_LEN;
		ksk_hex_raw(trace ? trace_id : span_id, c->len[i] / 2, out + w);
		w += c->len[i];
		if (hints && trace)
			hints->trace_hex_end = w;
		else if (hints)
			hints->span_hex_end = w;
	}
	if (len > r)
		memcpy(out + w, part + r, len - r);
	return w + (len - r);
}

void ksk_hex_encode(const uint8_t *id, size_t n, char *out)
{
	ksk_hex_raw(id, n, out);
	out[2 * n] = '\0';
}

static int ksk_hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool ksk_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t n,
                    bool pad)
{
	if (hexlen == 0 || hexlen > 2 * n || (hexlen != 2 * n && !pad))
		return false;
	/* Right-align the digits: a short (e.g. 64-bit) ID gets leading zeros.
	 * An odd digit count is treated as having one leading zero digit. */
	size_t digits = 2 * n;
	size_t skip = digits - hexlen;
	memset(out, 0, n);
	for (size_t i = 0; i < hexlen; i++) {
		int v = ksk_hex_val(hex[i]);
		if (v < 0)
			return false;
		size_t pos = skip + i;
		if (pos % 2 == 0)
			out[pos / 2] = (uint8_t)(v << 4);
		else
			out[pos / 2] |= (uint8_t)v;
	}
	return true;
}

/* Length of the well-formed UTF-8 sequence at s[0..len), or 0 when the
 * bytes there do not start one (RFC 3629 table, Unicode 3.9 D92). */
static size_t ksk_utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0;
	if (c < 0xE0) {
		if (len < 2 || (s[1] & 0xC0) != 0x80)
			return 0;
		return 2;
	}
	if (c < 0xF0) {
		if (len < 3)
			return 0;
		unsigned char lo = 0x80, hi = 0xBF;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F; /* no surrogates */
		if (s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80)
			return 0;
		return 3;
	}
	if (c < 0xF5) {
		if (len < 4)
			return 0;
		unsigned char lo = 0x80, hi = 0xBF;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F; /* <= U+10FFFF */
		if (s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80 ||
		    (s[3] & 0xC0) != 0x80)
			return 0;
		return 4;
	}
	return 0;
}

bool ksk_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < len) {
		/* fast path: 8 ASCII bytes at a time */
		while (i + 8 <= len) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (w & 0x8080808080808080ull)
				break;
			i += 8;
		}
		if (i >= len)
			break;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		size_t n = ksk_utf8_seq(s + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* Length of the maximal subpart of an ill-formed sequence starting at s
 * (Unicode "substitution of maximal subparts"): the longest prefix that
 * could still begin a valid sequence, at least 1. */
static size_t ksk_utf8_bad_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t want;
	unsigned char lo = 0x80, hi = 0xBF;
	if (c >= 0xC2 && c < 0xE0)
		want = 2;
	else if (c >= 0xE0 && c < 0xF0) {
		want = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c < 0xF5) {
		want = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 1;
	size_t i = 1;
	if (i < len && i < want && s[i] >= lo && s[i] <= hi) {
		i++;
		while (i < len && i < want && (s[i] & 0xC0) == 0x80)
			i++;
	}
	return i;
}

ksk_str ksk_utf8_repair(ksk_arena *a, const char *str, size_t len)
{
	ksk_str out = {NULL, 0};
	const unsigned char *s = (const unsigned char *)str;
	if (len > (SIZE_MAX - 1) / 3 || len * 3 > UINT32_MAX)
		return out;
	char *dst = ksk_arena_alloc(a, len * 3 + 1);
	if (!dst)
		return out;
	size_t i = 0, o = 0;
	while (i < len) {
		size_t n = ksk_utf8_seq(s + i, len - i);
		if (n) {
			memcpy(dst + o, s + i, n);
			o += n;
			i += n;
		} else {
			dst[o++] = (char)0xEF;
			dst[o++] = (char)0xBF;
			dst[o++] = (char)0xBD;
			i += ksk_utf8_bad_len(s + i, len - i);
		}
	}
	dst[o] = '\0';
	out.ptr = dst;
	out.len = (uint32_t)o;
	return out;
}

bool ksk_value_eq(const ksk_value *a, const ksk_value *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case KSK_VAL_EMPTY:
		return true;
	case KSK_VAL_STR:
	case KSK_VAL_BYTES:
		return ksk_str_eq(a->u.s, b->u.s);
	case KSK_VAL_BOOL:
		return a->u.b == b->u.b;
	case KSK_VAL_INT:
		return a->u.i == b->u.i;
	case KSK_VAL_DOUBLE:
		return memcmp(&a->u.d, &b->u.d, sizeof(double)) == 0;
	case KSK_VAL_ARRAY:
		if (a->u.arr.n != b->u.arr.n)
			return false;
		for (uint32_t i = 0; i < a->u.arr.n; i++)
			if (!ksk_value_eq(&a->u.arr.items[i], &b->u.arr.items[i]))
				return false;
		return true;
	case KSK_VAL_KVLIST:
		if (a->u.kv.n != b->u.kv.n)
			return false;
		for (uint32_t i = 0; i < a->u.kv.n; i++) {
			if (!ksk_str_eq(a->u.kv.items[i].key, b->u.kv.items[i].key))
				return false;
			if (!ksk_value_eq(&a->u.kv.items[i].value,
			                  &b->u.kv.items[i].value))
				return false;
		}
		return true;
	}
	return false;
}

const ksk_attr *ksk_attrs_find(const ksk_attr *attrs, uint32_t n, ksk_str key)
{
	for (uint32_t i = 0; i < n; i++)
		if (ksk_str_eq(attrs[i].key, key))
			return &attrs[i];
	return NULL;
}

typedef struct ksk_sev_word {
	const char *word;
	uint8_t sev;
} ksk_sev_word;

static const ksk_sev_word ksk_sev_words[] = {
	{"trace", 1},     {"trc", 1},     {"t", 1},       {"debug", 5},
	{"dbg", 5},       {"d", 5},       {"info", 9},    {"inf", 9},
	{"i", 9},         {"information", 9}, {"informational", 9},
	{"notice", 10},   {"warn", 13},   {"warning", 13}, {"wrn", 13},
	{"w", 13},        {"error", 17},  {"err", 17},    {"eror", 17},
	{"e", 17},        {"critical", 18}, {"crit", 18}, {"alert", 19},
	{"emerg", 21},    {"emergency", 21}, {"fatal", 21}, {"ftl", 21},
	{"f", 21},        {"panic", 21},  {"severe", 17},
};

uint8_t ksk_severity_from_text(const char *s, size_t len)
{
	char low[16];
	if (len == 0 || len >= sizeof(low))
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		low[i] = c;
	}
	low[len] = '\0';
	for (size_t i = 0; i < sizeof(ksk_sev_words) / sizeof(ksk_sev_words[0]); i++)
		if (strcmp(low, ksk_sev_words[i].word) == 0)
			return ksk_sev_words[i].sev;
	return 0;
}

const char *ksk_severity_name(uint8_t sev)
{
	static const char *const names[] = {"TRACE", "DEBUG", "INFO",
	                                    "WARN",  "ERROR", "FATAL"};
	if (sev == 0 || sev > 24)
		return "UNSPECIFIED";
	return names[(sev - 1) / 4];
}

const char *ksk_span_kind_name(ksk_span_kind k)
{
	static const char *const names[] = {"unspecified", "internal", "server",
	                                    "client",      "producer", "consumer"};
	if ((unsigned)k > 5)
		return "unknown";
	return names[k];
}
