/*
 * agt_parse.c : log line -> ksk_log (auto, JSON, logfmt, regex parsers)
 * and the trace/span ID scanner.
 *
 * Data in: one line without its newline, any bytes. Data out: a ksk_log
 * whose strings are all copies in the caller's arena (with `borrow`: the
 * body and level may point into the line instead), valid UTF-8 (the line
 * is validated once; invalid bytes become U+FFFD).
 *
 * The AUTO path is the hot path (`--tail`): no regex and no allocation
 * besides the arena. It looks at the first non-blank byte:
 *   '{'            -> JSON object (hand-written reader); not JSON -> text
 *   first token k=v and at least half the tokens k=v -> logfmt
 *   klog/glog      -> Lmmdd hh:mm:ss.uuuuuu ... (level letter, time)
 *   otherwise      -> text: [ '[' ] timestamp [ ']' ] [ severity ] body
 * and then, unless the record already has IDs from its own keys, scans
 * the whole line once with agt_scan_ids(): a single pass over the bytes
 * that can precede an ID ('=' ':' '-', 16 at a time with SSE2); only a
 * run of exactly 16 or 32 hex digits after one of them, bounded by
 * non-alphanumerics, looks at its neighbours (traceparent shape, or a
 * trace/span key before the separator), and is decoded without a branch
 * per digit.
 * Cost per line matters here (it is the tail thread's budget): the line is
 * checked for UTF-8 once, and the body and level cut from it are not
 * checked again; with `borrow` they are not even copied.
 *
 * REGEX: compiled once (UTF, JIT), one match_data per parser, match and
 * depth limits from the options; group roles are resolved from the name
 * table at creation, so a match only reads the ovector.
 *
 * A line that does not fit its parser still yields a record (body = the
 * whole line) and KSK_EPARSE, so the tailer never loses a line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcre2.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "agt_parse.h"
#include "agt_parse_int.h"

/* byte classes: 1 = hex digit, 2 = alphanumeric or '_', 4 = a byte that
 * can come just before an ID's hex digits ('=' ':' after a key, '-' in a
 * traceparent) */
#define AGT_C_HEX 1
#define AGT_C_WORD 2
#define AGT_C_SEP 4
#define H (AGT_C_HEX | AGT_C_WORD)
#define W AGT_C_WORD
static const uint8_t agt_cls[256] = {
	['='] = AGT_C_SEP, [':'] = AGT_C_SEP, ['-'] = AGT_C_SEP,
	['0'] = H, ['1'] = H, ['2'] = H, ['3'] = H, ['4'] = H, ['5'] = H,
	['6'] = H, ['7'] = H, ['8'] = H, ['9'] = H, ['a'] = H, ['b'] = H,
	['c'] = H, ['d'] = H, ['e'] = H, ['f'] = H, ['A'] = H, ['B'] = H,
	['C'] = H, ['D'] = H, ['E'] = H, ['F'] = H, ['g'] = W, ['h'] = W,
	['i'] = W, ['j'] = W, ['k'] = W, ['l'] = W, ['m'] = W, ['n'] = W,
	['o'] = W, ['p'] = W, ['q'] = W, ['r'] = W, ['s'] = W, ['t'] = W,
	['u'] = W, ['v'] = W, ['w'] = W, ['x'] = W, ['y'] = W, ['z'] = W,
	['G'] = W, ['H'] = W, ['I'] = W, ['J'] = W, ['K'] = W, ['L'] = W,
	['M'] = W, ['N'] = W, ['O'] = W, ['P'] = W, ['Q'] = W, ['R'] = W,
	['S'] = W, ['T'] = W, ['U'] = W, ['V'] = W, ['W'] = W, ['X'] = W,
	['Y'] = W, ['Z'] = W, ['_'] = W,
};
#undef H
#undef W

/* hex digit values; 0x10 = not a hex digit */
#define X 0x10
static const uint8_t agt_hexv[256] = {
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, X, X, X, X, X, X,
	X, 10, 11, 12, 13, 14, 15, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, 10, 11, 12, 13, 14, 15, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
};
#undef X

/* ksk_hex_decode(h, hl, out, n, pad) for an even hl <= 2n, without a
 * branch per digit (IDs are random: a branchy decoder mispredicts on
 * every other digit). Digits are right-aligned, leading bytes zero. */
static bool agt_hexdec(const char *h, size_t hl, uint8_t *out, size_t n)
{
	if ((hl & 1) || hl > 2 * n || hl == 0)
		return ksk_hex_decode(h, hl, out, n, true);
	size_t skip = n - hl / 2;
	memset(out, 0, skip);
	const uint8_t *u = (const uint8_t *)h;
	uint8_t bad = 0;
	for (size_t i = 0; i < hl / 2; i++) {
		uint8_t hi = agt_hexv[u[2 * i]], lo = agt_hexv[u[2 * i + 1]];
		bad |= hi | lo;
		out[skip + i] = (uint8_t)((hi << 4) | (lo & 15));
	}
	return !(bad & 0x10);
}

static bool agt_lchex(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int agt_low(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* ---- trace IDs ----------------------------------------------------------- */

/* 55 bytes at p: VV-32-16-FF, lowercase hex, valid values */
static bool agt_tp_core(const uint8_t *p, uint8_t *trace, uint8_t *span,
                        uint8_t *flags, bool *v00)
{
	static const uint8_t dash[3] = {2, 35, 52};
	for (int i = 0; i < 55; i++) {
		bool is_dash = i == dash[0] || i == dash[1] || i == dash[2];
		if (is_dash ? p[i] != '-' : !agt_lchex(p[i]))
			return false;
	}
	if (p[0] == 'f' && p[1] == 'f')
		return false;
	if (!agt_hexdec((const char *)p + 3, 32, trace, 16) ||
	    !agt_hexdec((const char *)p + 36, 16, span, 8))
		return false;
	uint8_t f;
	if (!agt_hexdec((const char *)p + 53, 2, &f, 1))
		return false;
	if (ksk_id_is_zero(trace, 16) || ksk_id_is_zero(span, 8))
		return false;
	*flags = f;
	*v00 = p[0] == '0' && p[1] == '0';
	return true;
}

bool agt_traceparent_parse(const char *s, size_t len,
                           uint8_t trace_id[KSK_TRACE_ID_LEN],
                           uint8_t span_id[KSK_SPAN_ID_LEN], uint8_t *flags)
{
	while (len && (s[0] == ' ' || s[0] == '\t')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len < 55)
		return false;
	uint8_t t[16], sp[8], f;
	bool v00;
	if (!agt_tp_core((const uint8_t *)s, t, sp, &f, &v00))
		return false;
	if (v00 ? len != 55 : (len > 55 && s[55] != '-'))
		return false;
	memcpy(trace_id, t, 16);
	memcpy(span_id, sp, 8);
	*flags = f;
	return true;
}

/* the key before a hex run starting at i: 1 = trace, 2 = span, 0 = none */
static int agt_id_key(const uint8_t *p, size_t i)
{
	size_t k = i;
	if (k > 0 && (p[k - 1] == '"' || p[k - 1] == '\''))
		k--;
	while (k > 0 && (p[k - 1] == ' ' || p[k - 1] == '\t'))
		k--;
	if (k == 0 || (p[k - 1] != '=' && p[k - 1] != ':'))
		return 0;
	k--;
	while (k > 0 && (p[k - 1] == ' ' || p[k - 1] == '\t'))
		k--;
	if (k > 0 && (p[k - 1] == '"' || p[k - 1] == '\''))
		k--;
	if (k < 6 || agt_low(p[k - 1]) != 'd' || agt_low(p[k - 2]) != 'i')
		return 0;
	k -= 2;
	if (p[k - 1] == '_' || p[k - 1] == '.' || p[k - 1] == '-')
		k--;
	int kind;
	size_t ks;
	if (k >= 5 && agt_low(p[k - 5]) == 't' && agt_low(p[k - 4]) == 'r' &&
	    agt_low(p[k - 3]) == 'a' && agt_low(p[k - 2]) == 'c' &&
	    agt_low(p[k - 1]) == 'e') {
		kind = 1;
		ks = k - 5;
	} else if (k >= 4 && agt_low(p[k - 4]) == 's' && agt_low(p[k - 3]) == 'p' &&
	           agt_low(p[k - 2]) == 'a' && agt_low(p[k - 1]) == 'n') {
		kind = 2;
		ks = k - 4;
	} else {
		return 0;
	}
	if (ks > 0 && (agt_cls[p[ks - 1]] & AGT_C_WORD))
		return 0;
	return kind;
}

/* i + n when p[i, i + n) has no upper-case hex digit (so it is the
 * lowercase hex of the ID decoded from it), else 0. For the encoder's
 * hint (ksk_log.trace_hex_end): the wire leaves such digits out. */
static uint32_t agt_lower_end(const uint8_t *p, size_t i, size_t n)
{
	if (i + n > UINT32_MAX)
		return 0;
	for (size_t k = i; k < i + n; k++)
		if (p[k] >= 'A' && p[k] <= 'F')
			return 0;
	return (uint32_t)(i + n);
}

/* The candidate separator at k: measures the hex run after it and takes
 * the ID it holds. *resume is set past what was examined (a traceparent,
 * a run of 16 or 32). @return : true when both IDs are known. */
static bool agt_id_at(const uint8_t *p, size_t len, size_t k, agt_ids *o, size_t *resume)
{
	size_t i = k + 1;
	if (p[k] != '-') {
		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		if (i < len && (p[i] == '"' || p[i] == '\''))
			i++;
	}
	/* a run of 16 or 32 has a hex digit at i + 15: most runs after a
	 * separator (dates, times, numbers) are shorter and stop here */
	if (i + 16 > len || !(agt_cls[p[i + 15]] & AGT_C_HEX) || !(agt_cls[p[i]] & AGT_C_HEX))
		return false;
	/* p[i - 1] is a separator, a blank or a quote: the run starts at a
	 * word boundary */
	size_t j = i + 1;
	while (j < len && (agt_cls[p[j]] & AGT_C_HEX))
		j++;
	size_t n = j - i;
	if ((n != 32 && n != 16) || (j < len && (agt_cls[p[j]] & AGT_C_WORD)))
		return false;
	*resume = j;
	if (p[i - 1] == '-') {
		/* traceparent: the 32-run is the trace-id field */
		if (n != 32 || i < 3 || len - (i - 3) < 55 ||
		    (i > 3 && (agt_cls[p[i - 4]] & AGT_C_WORD)))
			return false;
		uint8_t t[16], sp[8], f;
		bool v00;
		if (!agt_tp_core(p + i - 3, t, sp, &f, &v00))
			return false;
		size_t e = i - 3 + 55;
		bool end_ok = e == len || !(agt_cls[p[e]] & AGT_C_WORD);
		if (v00 && e < len && p[e] == '-')
			end_ok = false;
		if (!end_ok)
			return false;
		if (!o->has_trace) {
			memcpy(o->trace_id, t, 16);
			o->has_trace = true;
			o->flags = f;
			o->has_flags = true;
			o->trace_end = agt_lower_end(p, i, 32);
		}
		if (!o->has_span) {
			memcpy(o->span_id, sp, 8);
			o->has_span = true;
			o->span_end = agt_lower_end(p, i + 33, 16);
		}
		*resume = e;
		return o->has_trace && o->has_span;
	}
	int kind = agt_id_key(p, i);
	if (kind == 1 && !o->has_trace) {
		if (agt_hexdec((const char *)p + i, n, o->trace_id, 16) &&
		    !ksk_id_is_zero(o->trace_id, 16)) {
			o->has_trace = true;
			if (n == 32)
				o->trace_end = agt_lower_end(p, i, 32);
		}
	} else if (kind == 2 && n == 16 && !o->has_span) {
		if (agt_hexdec((const char *)p + i, n, o->span_id, 8) &&
		    !ksk_id_is_zero(o->span_id, 8)) {
			o->has_span = true;
			o->span_end = agt_lower_end(p, i, 16);
		}
	}
	return o->has_trace && o->has_span;
}

/* One pass over the separators ('=' ':' '-'), not over every hex run: an
 * ID's run of 16 or 32 hex digits is always right after one of them (key
 * form: `=`/`:`, blanks, an optional quote; traceparent: `-`), so only the
 * run after each separator is measured. Candidates come in line order,
 * hence the same "first occurrence wins" as a scan of every run. With
 * SSE2 the separators of 16 bytes are found at once and visited by bit. */
void agt_scan_ids(const char *s, size_t len, agt_ids *o)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t k = 0, resume = 0;
	memset(o, 0, sizeof(*o));
#if defined(__SSE2__)
	const __m128i eq = _mm_set1_epi8('='), co = _mm_set1_epi8(':'), da = _mm_set1_epi8('-');
	for (; k + 16 <= len; k += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + k));
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, eq), _mm_cmpeq_epi8(v, co)),
		                         _mm_cmpeq_epi8(v, da));
		unsigned bits = (unsigned)_mm_movemask_epi8(m);
		while (bits) {
			size_t c = k + (size_t)__builtin_ctz(bits);
			bits &= bits - 1;
			if (c >= resume && agt_id_at(p, len, c, o, &resume))
				return;
		}
	}
#endif
	for (; k < len; k++)
		if ((agt_cls[p[k]] & AGT_C_SEP) && k >= resume && agt_id_at(p, len, k, o, &resume))
			return;
	if (!o->has_trace)
		memset(o->trace_id, 0, 16);
	if (!o->has_span)
		memset(o->span_id, 0, 8);
}

/* ---- shared helpers ------------------------------------------------------ */

ksk_err agt__arena_err(ksk_arena *a)
{
	ksk_err e = ksk_arena_error(a);
	return e == KSK_OK ? KSK_ENOMEM : e;
}

bool agt__str(ksk_arena *a, const char *s, size_t len, ksk_str *out)
{
	if (len == 0) {
		out->ptr = NULL;
		out->len = 0;
		return true;
	}
	if (len > UINT32_MAX / 2)
		return false;
	if (ksk_utf8_valid(s, len)) {
		char *c = ksk_arena_memdup(a, s, len);
		if (!c)
			return false;
		out->ptr = c;
		out->len = (uint32_t)len;
		return true;
	}
	ksk_str r = ksk_utf8_repair(a, s, len);
	if (!r.ptr)
		return false;
	*out = r;
	return true;
}

static void *agt_pcre_malloc(PCRE2_SIZE n, void *ctx)
{
	return ksk_malloc((const ksk_alloc *)ctx, n);
}

static void agt_pcre_free(void *p, void *ctx)
{
	ksk_free((const ksk_alloc *)ctx, p);
}

pcre2_general_context *agt__pcre2_gctx(const ksk_alloc *alloc)
{
	return pcre2_general_context_create(agt_pcre_malloc, agt_pcre_free,
	                                    (void *)(uintptr_t)alloc);
}

/* ---- parser object ------------------------------------------------------- */

enum { AGT_R_ATTR = 0, AGT_R_TIME, AGT_R_LEVEL, AGT_R_BODY, AGT_R_TRACE,
       AGT_R_SPAN };

typedef struct agt_group {
	uint32_t num;     /* capture group number */
	int role;         /* AGT_R_* */
	const char *name; /* points into the pattern's name table */
	uint32_t name_len;
} agt_group;

struct agt_parser {
	const ksk_alloc *alloc;     /* allocator of this object */
	agt_parser_kind kind;       /* which parser */
	char *time_format;          /* owned copy, NULL = auto */
	int32_t tz_min;             /* zone for zone-less times */
	uint32_t max_attrs;         /* attributes kept per record */
	bool no_id_scan;            /* never scan the whole line */
	bool borrow;                /* strings may point into the line */
	pcre2_general_context *gctx; /* REGEX: PCRE2 memory via alloc */
	pcre2_code *re;             /* REGEX: compiled pattern */
	pcre2_match_data *md;       /* REGEX: this parser's match data */
	pcre2_match_context *mctx;  /* REGEX: limits */
	agt_group *groups;          /* REGEX: named groups */
	uint32_t n_groups;
	uint32_t n_attr_groups;     /* groups with role ATTR */
};

const char *agt_parser_kind_name(agt_parser_kind k)
{
	switch (k) {
	case AGT_PARSER_AUTO: return "auto";
	case AGT_PARSER_JSON: return "json";
	case AGT_PARSER_LOGFMT: return "logfmt";
	case AGT_PARSER_REGEX: return "regex";
	case AGT_PARSER_TEXT: return "text";
	}
	return "unknown";
}

bool agt_parser_kind_from_name(const char *name, agt_parser_kind *k)
{
	for (int i = AGT_PARSER_AUTO; i <= AGT_PARSER_TEXT; i++) {
		if (name && strcmp(name, agt_parser_kind_name((agt_parser_kind)i)) == 0) {
			*k = (agt_parser_kind)i;
			return true;
		}
	}
	return false;
}

static bool agt_name_is(const char *n, size_t len, const char *const *list)
{
	for (; *list; list++)
		if (strlen(*list) == len && memcmp(*list, n, len) == 0)
			return true;
	return false;
}

static const char *const agt_time_keys[] = {"time", "timestamp", "ts",
                                            "@timestamp", NULL};
static const char *const agt_level_keys[] = {"level", "severity", "lvl",
                                             "loglevel", "log.level", NULL};
static const char *const agt_msg_keys[] = {"msg", "message", NULL};

/* trace + [_.-] + id, any case, whole key: 1 trace, 2 span */
static int agt_id_key_name(const char *k, size_t n)
{
	const char *w;
	size_t wl;
	int kind;
	if (n >= 7 && agt_low(k[0]) == 't') {
		w = "trace";
		wl = 5;
		kind = 1;
	} else if (n >= 6 && agt_low(k[0]) == 's') {
		w = "span";
		wl = 4;
		kind = 2;
	} else {
		return 0;
	}
	for (size_t i = 0; i < wl; i++)
		if (agt_low(k[i]) != w[i])
			return 0;
	size_t p = wl;
	if (n == wl + 3) {
		if (k[p] != '_' && k[p] != '.' && k[p] != '-')
			return 0;
		p++;
	} else if (n != wl + 2) {
		return 0;
	}
	return (agt_low(k[p]) == 'i' && agt_low(k[p + 1]) == 'd') ? kind : 0;
}

static ksk_err agt_regex_setup(agt_parser *p, const char *pattern,
                               const agt_parser_opts *o, ksk_errinfo *ei)
{
	int ec;
	PCRE2_SIZE eo;
	p->gctx = agt__pcre2_gctx(p->alloc);
	pcre2_compile_context *cc = p->gctx ? pcre2_compile_context_create(p->gctx)
	                                    : NULL;
	if (!cc)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "regex parser: out of memory");
	p->re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
	                      PCRE2_UTF, &ec, &eo, cc);
	pcre2_compile_context_free(cc);
	if (!p->re && ec == AGT__PCRE2_ENOMEM)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "regex parser: out of memory");
	if (!p->re) {
		PCRE2_UCHAR buf[160];
		pcre2_get_error_message(ec, buf, sizeof(buf));
		return ksk_errinfo_set(ei, KSK_EINVAL,
		                       "regex parser: pattern error at offset %zu: %s",
		                       (size_t)eo, (const char *)buf);
	}
	(void)pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE); /* interpreter if no JIT */
	p->md = pcre2_match_data_create_from_pattern(p->re, p->gctx);
	p->mctx = pcre2_match_context_create(p->gctx);
	if (!p->md || !p->mctx)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "regex parser: out of memory");
	pcre2_set_match_limit(p->mctx, o->match_limit ? o->match_limit : 100000);
	pcre2_set_depth_limit(p->mctx, o->depth_limit ? o->depth_limit : 10000);
	uint32_t count = 0, esize = 0;
	PCRE2_SPTR table = NULL;
	pcre2_pattern_info(p->re, PCRE2_INFO_NAMECOUNT, &count);
	pcre2_pattern_info(p->re, PCRE2_INFO_NAMEENTRYSIZE, &esize);
	pcre2_pattern_info(p->re, PCRE2_INFO_NAMETABLE, &table);
	if (count == 0)
		return KSK_OK;
	p->groups = ksk_calloc(p->alloc, count, sizeof(*p->groups));
	if (!p->groups)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "regex parser: out of memory");
	for (uint32_t i = 0; i < count; i++) {
		PCRE2_SPTR e = table + (size_t)i * esize;
		agt_group *g = &p->groups[i];
		g->num = ((uint32_t)e[0] << 8) | e[1];
		g->name = (const char *)e + 2;
		g->name_len = (uint32_t)strlen(g->name);
		static const char *const tk[] = {"time", "timestamp", NULL};
		static const char *const lk[] = {"level", "severity", "lvl", NULL};
		static const char *const bk[] = {"message", "msg", "body", NULL};
		if (agt_name_is(g->name, g->name_len, tk))
			g->role = AGT_R_TIME;
		else if (agt_name_is(g->name, g->name_len, lk))
			g->role = AGT_R_LEVEL;
		else if (agt_name_is(g->name, g->name_len, bk))
			g->role = AGT_R_BODY;
		else if (agt_id_key_name(g->name, g->name_len) == 1)
			g->role = AGT_R_TRACE;
		else if (agt_id_key_name(g->name, g->name_len) == 2)
			g->role = AGT_R_SPAN;
		else {
			g->role = AGT_R_ATTR;
			p->n_attr_groups++;
		}
	}
	p->n_groups = count;
	return KSK_OK;
}

ksk_err agt_parser_create(const ksk_alloc *alloc, const agt_parser_opts *o,
                          agt_parser **out, ksk_errinfo *ei)
{
	agt_parser_opts def;
	ksk_err rc;
	if (!out)
		return ksk_errinfo_set(ei, KSK_EINVAL, "parser: null argument");
	*out = NULL;
	if (!o) {
		memset(&def, 0, sizeof(def));
		o = &def;
	}
	if ((unsigned)o->kind > AGT_PARSER_TEXT)
		return ksk_errinfo_set(ei, KSK_EINVAL, "parser: unknown kind %d",
		                       (int)o->kind);
	if (o->time_format && *o->time_format &&
	    !agt_time_format_check(o->time_format))
		return ksk_errinfo_set(ei, KSK_EINVAL,
		                       "parser: unsupported time format \"%s\"",
		                       o->time_format);
	if (o->kind == AGT_PARSER_REGEX && (!o->pattern || !*o->pattern))
		return ksk_errinfo_set(ei, KSK_EINVAL,
		                       "regex parser: no pattern given");
	alloc = ksk_alloc_or_default(alloc);
	agt_parser *p = ksk_calloc(alloc, 1, sizeof(*p));
	if (!p)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "parser: out of memory");
	p->alloc = alloc;
	p->kind = o->kind;
	p->tz_min = o->tz_min;
	p->max_attrs = o->max_attrs ? o->max_attrs : 128;
	if (p->max_attrs > AGT__MAX_ATTRS)
		p->max_attrs = AGT__MAX_ATTRS;
	p->no_id_scan = o->no_id_scan;
	p->borrow = o->borrow;
	if (o->time_format && *o->time_format) {
		size_t n = strlen(o->time_format);
		p->time_format = ksk_malloc(alloc, n + 1);
		if (!p->time_format) {
			agt_parser_destroy(p);
			return ksk_errinfo_set(ei, KSK_ENOMEM, "parser: out of memory");
		}
		memcpy(p->time_format, o->time_format, n + 1);
	}
	if (o->kind == AGT_PARSER_REGEX) {
		rc = agt_regex_setup(p, o->pattern, o, ei);
		if (rc != KSK_OK) {
			agt_parser_destroy(p);
			return rc;
		}
	}
	*out = p;
	return KSK_OK;
}

void agt_parser_destroy(agt_parser *p)
{
	if (!p)
		return;
	pcre2_match_data_free(p->md);
	pcre2_match_context_free(p->mctx);
	pcre2_code_free(p->re);
	pcre2_general_context_free(p->gctx);
	ksk_free(p->alloc, p->groups);
	ksk_free(p->alloc, p->time_format);
	ksk_free(p->alloc, p);
}

/* ---- record building ----------------------------------------------------- */

/* a parse in progress */
typedef struct agt_pc {
	agt_parser *p;
	ksk_arena *a;
	const char *line;   /* the line, valid UTF-8 (maybe a repaired copy) */
	size_t len;
	uint64_t now_ns;
	ksk_log *out;
	ksk_attr *attrs;    /* capacity cap */
	uint32_t cap;
	bool have_ids;      /* IDs came from the record's own fields */
	size_t body_off;    /* the body is line[body_off, + body_len) ... */
	size_t body_len;    /* ... when body_len > 0 */
} agt_pc;

static bool agt_attr_room(agt_pc *c)
{
	if (c->out->n_attrs < c->cap)
		return true;
	c->out->dropped_attrs++;
	return false;
}

static ksk_err agt_add_str_attr(agt_pc *c, const char *k, size_t kl,
                                const char *v, size_t vl)
{
	if (kl == 0 || !agt_attr_room(c))
		return KSK_OK;
	ksk_attr *at = &c->attrs[c->out->n_attrs];
	if (!agt__str(c->a, k, kl, &at->key))
		return agt__arena_err(c->a);
	at->value.type = KSK_VAL_STR;
	if (!agt__str(c->a, v, vl, &at->value.u.s))
		return agt__arena_err(c->a);
	c->out->n_attrs++;
	return KSK_OK;
}

static ksk_err agt_attrs_alloc(agt_pc *c, size_t want)
{
	if (want > c->p->max_attrs)
		want = c->p->max_attrs;
	c->cap = (uint32_t)want;
	c->attrs = NULL;
	if (want == 0)
		return KSK_OK;
	c->attrs = ksk_arena_alloc(c->a, want * sizeof(ksk_attr));
	if (!c->attrs)
		return agt__arena_err(c->a);
	c->out->attrs = c->attrs;
	return KSK_OK;
}

/* A piece of the line: c->line is valid UTF-8 (checked or repaired once)
 * and every piece starts and ends at a character boundary (after or
 * before an ASCII delimiter, or a PCRE2 UTF group), so it is not checked
 * again; borrowed when the parser allows it, else copied. */
static bool agt_sub(agt_pc *c, const char *s, size_t n, ksk_str *out)
{
	if (n == 0) {
		out->ptr = NULL;
		out->len = 0;
		return true;
	}
	if (n > UINT32_MAX / 2)
		return false;
	if (c->p->borrow) {
		out->ptr = s;
	} else {
		char *d = ksk_arena_memdup(c->a, s, n);
		if (!d)
			return false;
		out->ptr = d;
	}
	out->len = (uint32_t)n;
	return true;
}

static ksk_err agt_set_body(agt_pc *c, const char *s, size_t n)
{
	/* a slice of the line? (compared as integers: s may point elsewhere) */
	uintptr_t ps = (uintptr_t)s, pl = (uintptr_t)c->line;
	c->body_len = 0;
	if (ps >= pl && n <= c->len && ps - pl <= c->len - n) {
		c->body_off = (size_t)(ps - pl);
		c->body_len = n;
	}
	c->out->body.type = KSK_VAL_STR;
	if (!agt_sub(c, s, n, &c->out->body.u.s))
		return agt__arena_err(c->a);
	return KSK_OK;
}

/* severity words of ksk_severity_from_text(), without its 30 strcmp */
static uint8_t agt_sev(const char *s, size_t n)
{
	char w[16];
	if (n == 0 || n >= sizeof(w))
		return 0;
	for (size_t i = 0; i < n; i++)
		w[i] = (char)agt_low((unsigned char)s[i]);
#define AGT_IS(lit) (memcmp(w, lit, sizeof(lit) - 1) == 0)
	switch (n) {
	case 1:
		switch (w[0]) {
		case 't': return 1;
		case 'd': return 5;
		case 'i': return 9;
		case 'w': return 13;
		case 'e': return 17;
		case 'f': return 21;
		}
		return 0;
	case 3:
		return AGT_IS("trc") ? 1 : AGT_IS("dbg") ? 5 : AGT_IS("inf") ? 9 :
		       AGT_IS("wrn") ? 13 : AGT_IS("err") ? 17 : AGT_IS("ftl") ? 21 : 0;
	case 4:
		return AGT_IS("info") ? 9 : AGT_IS("warn") ? 13 : AGT_IS("eror") ? 17 :
		       AGT_IS("crit") ? 18 : 0;
	case 5:
		return AGT_IS("trace") ? 1 : AGT_IS("debug") ? 5 : AGT_IS("error") ? 17 :
		       AGT_IS("alert") ? 19 : AGT_IS("emerg") ? 21 : AGT_IS("fatal") ? 21 :
		       AGT_IS("panic") ? 21 : 0;
	case 6:
		return AGT_IS("notice") ? 10 : AGT_IS("severe") ? 17 : 0;
	case 7:
		return AGT_IS("warning") ? 13 : 0;
	case 8:
		return AGT_IS("critical") ? 18 : 0;
	case 9:
		return AGT_IS("emergency") ? 21 : 0;
	case 11:
		return AGT_IS("information") ? 9 : 0;
	case 13:
		return AGT_IS("informational") ? 9 : 0;
	}
#undef AGT_IS
	return 0;
}

/* level text and its severity number (sev: agt_sev() of the same text) */
static ksk_err agt_set_level_sev(agt_pc *c, const char *s, size_t n, uint8_t sev)
{
	c->out->severity = sev;
	if (!agt_sub(c, s, n, &c->out->severity_text))
		return agt__arena_err(c->a);
	return KSK_OK;
}

static ksk_err agt_set_level(agt_pc *c, const char *s, size_t n)
{
	return agt_set_level_sev(c, s, n, agt_sev(s, n));
}

/* hex ID value of a trace/span field (key forms already matched) */
static bool agt_id_value(agt_pc *c, int kind, const char *v, size_t n)
{
	ksk_log *o = c->out;
	while (n && (*v == ' ' || *v == '"')) {
		v++;
		n--;
	}
	while (n && (v[n - 1] == ' ' || v[n - 1] == '"'))
		n--;
	if (kind == 1 && (n == 32 || n == 16) &&
	    agt_hexdec(v, n, o->trace_id, 16) &&
	    !ksk_id_is_zero(o->trace_id, 16)) {
		o->has_trace = true;
		return true;
	}
	if (kind == 2 && n == 16 && agt_hexdec(v, n, o->span_id, 8) &&
	    !ksk_id_is_zero(o->span_id, 8)) {
		o->has_span = true;
		return true;
	}
	if (kind == 1)
		memset(o->trace_id, 0, 16);
	else
		memset(o->span_id, 0, 8);
	return false;
}

/* The encoder's hint for ID digits ending at line offset `end` (0 =
 * none): the same end as an offset in the body, when the body is the
 * line slice set by agt_set_body() and holds all n digits; else 0. The
 * body and the line have the same bytes there (a borrowed or copied
 * slice); the encoder checks the digits again anyway. */
static uint32_t agt_body_hint(const agt_pc *c, uint32_t end, uint32_t n)
{
	if (!end || !c->body_len || c->out->body.type != KSK_VAL_STR || end < n ||
	    end - n < c->body_off || end > c->body_off + c->body_len)
		return 0;
	return (uint32_t)(end - c->body_off);
}

static void agt_finish_ids(agt_pc *c)
{
	ksk_log *o = c->out;
	if (c->p->no_id_scan || (o->has_trace && o->has_span))
		return;
	agt_ids ids;
	agt_scan_ids(c->line, c->len, &ids);
	if (!o->has_trace && ids.has_trace) {
		memcpy(o->trace_id, ids.trace_id, 16);
		o->has_trace = true;
		if (ids.has_flags)
			o->flags = ids.flags;
		o->trace_hex_end = agt_body_hint(c, ids.trace_end, 32);
	}
	if (!o->has_span && ids.has_span) {
		memcpy(o->span_id, ids.span_id, 8);
		o->has_span = true;
		o->span_hex_end = agt_body_hint(c, ids.span_end, 16);
	}
}

static bool agt_time_value(agt_pc *c, const char *s, size_t n, uint64_t *ns)
{
	size_t used = 0;
	bool ok;
	if (c->p->time_format)
		ok = agt_time_parse(c->p->time_format, s, n, c->p->tz_min, c->now_ns,
		                    ns, &used);
	else
		ok = agt__time_auto(s, n, true, c->p->tz_min, c->now_ns, ns, &used);
	return ok && used == n;
}

/* ---- text ---------------------------------------------------------------- */

static bool agt_is_ws(char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool agt_is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static ksk_err agt_parse_text(agt_pc *c)
{
	const char *s = c->line;
	size_t len = c->len, p = 0, used = 0;
	uint64_t ns;
	bool have_time = false;
	while (p < len && agt_is_ws(s[p]))
		p++;
	/* klog / glog: Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg */
	if (len - p > 21 && strchr("IWEF", s[p]) && s[p] && s[p + 5] == ' ' &&
	    s[p + 1] >= '0' && s[p + 1] <= '1' &&
	    agt_time_parse("%m%d %H:%M:%S", s + p + 1, len - p - 1, c->p->tz_min,
	                   c->now_ns, &ns, &used)) {
		KSK_TRY(agt_set_level(c, s + p, 1));
		c->out->time_ns = ns;
		p += 1 + used;
		while (p < len && agt_is_ws(s[p]))
			p++;
		return agt_set_body(c, s + p, len - p);
	}
	/* timestamp, maybe in brackets */
	if (p < len && s[p] == '[') {
		if (agt__time_auto(s + p + 1, len - p - 1, false, c->p->tz_min,
		                   c->now_ns, &ns, &used) &&
		    p + 1 + used < len && s[p + 1 + used] == ']') {
			p += used + 2;
			have_time = true;
		}
	} else if (c->p->time_format) {
		if (agt_time_parse(c->p->time_format, s + p, len - p, c->p->tz_min,
		                   c->now_ns, &ns, &used)) {
			p += used;
			have_time = true;
		}
	} else if (agt__time_auto(s + p, len - p, false, c->p->tz_min, c->now_ns,
	                          &ns, &used)) {
		p += used;
		have_time = true;
	}
	if (have_time) {
		c->out->time_ns = ns;
		while (p < len && agt_is_ws(s[p]))
			p++;
		/* a separator after the time: "ts - name - LEVEL - msg" */
		if (p + 1 < len && (s[p] == '-' || s[p] == '|' || s[p] == ':') &&
		    agt_is_ws(s[p + 1])) {
			p += 2;
			while (p < len && agt_is_ws(s[p]))
				p++;
		}
	}
	size_t body = have_time ? p : 0;
	/* severity: [WORD], level=WORD, WORD (upper case, or after a time) */
	for (int tok = 0; tok < 4 && p < len; tok++) {
		size_t ws = p, we, next;
		bool bracket = false;
		if (s[p] == '[' || s[p] == '<' || s[p] == '(') {
			bracket = true;
			ws = p + 1;
		} else if (len - p > 6 && (memcmp(s + p, "level=", 6) == 0)) {
			ws = p + 6;
		} else if (len - p > 4 && memcmp(s + p, "lvl=", 4) == 0) {
			ws = p + 4;
		}
		we = ws;
		while (we < len && agt_is_alpha(s[we]) && we - ws < 12)
			we++;
		size_t wl = we - ws;
		next = we;
		bool ok = wl > 0 && (we == len || !agt_is_alpha(s[we]));
		if (ok && bracket) {
			ok = we < len && (s[we] == ']' || s[we] == '>' || s[we] == ')');
			next = we + 1;
		}
		uint8_t sev = ok ? agt_sev(s + ws, wl) : 0;
		if (sev && !bracket && ws == p) {
			bool upper = true;
			for (size_t i = ws; i < we; i++)
				if (s[i] >= 'a' && s[i] <= 'z')
					upper = false;
			bool colon = we < len && s[we] == ':';
			if (wl < 3 && !(colon && upper))
				sev = 0;
			else if (!upper && !(tok == 0 && (have_time || colon)))
				sev = 0;
		}
		if (sev) {
			KSK_TRY(agt_set_level_sev(c, s + ws, wl, sev));
			if (tok == 0) {
				p = next;
				if (p < len && s[p] == ':')
					p++;
				while (p < len && (agt_is_ws(s[p]) ||
				                   (s[p] == '-' && p + 1 < len &&
				                    agt_is_ws(s[p + 1]))))
					p++;
				body = p;
			}
			break;
		}
		if (!have_time)
			break; /* without a timestamp only the first token counts */
		/* skip this token and its separators */
		while (p < len && !agt_is_ws(s[p]))
			p++;
		while (p < len && (agt_is_ws(s[p]) || s[p] == '-' || s[p] == '|'))
			p++;
	}
	return agt_set_body(c, s + body, len - body);
}

/* ---- logfmt -------------------------------------------------------------- */

#define AGT_LF_MAX 256

typedef struct agt_lf_tok {
	uint32_t ks, kl;   /* key */
	uint32_t vs, vl;   /* raw value (inside quotes when quoted) */
	bool has_val;      /* '=' present */
	bool quoted;       /* value was quoted: unescape */
} agt_lf_tok;

static bool agt_lf_keych(char ch)
{
	return ch != ' ' && ch != '\t' && ch != '=' && ch != '"';
}

/* tokenises; returns the number of tokens (<= max), *total all tokens */
static uint32_t agt_lf_tokens(const char *s, size_t len, agt_lf_tok *t,
                              uint32_t max, uint32_t *total, uint32_t *kv)
{
	size_t p = 0;
	uint32_t n = 0, all = 0, nkv = 0;
	while (p < len) {
		while (p < len && agt_is_ws(s[p]))
			p++;
		if (p >= len)
			break;
		agt_lf_tok k = {0};
		size_t ks = p;
		while (p < len && agt_lf_keych(s[p]))
			p++;
		k.ks = (uint32_t)ks;
		k.kl = (uint32_t)(p - ks);
		if (p < len && s[p] == '=' && k.kl > 0) {
			p++;
			k.has_val = true;
			nkv++;
			if (p < len && s[p] == '"') {
				p++;
				k.quoted = true;
				k.vs = (uint32_t)p;
				while (p < len && s[p] != '"') {
					if (s[p] == '\\' && p + 1 < len)
						p++;
					p++;
				}
				k.vl = (uint32_t)(p - k.vs);
				if (p < len)
					p++;
			} else {
				k.vs = (uint32_t)p;
				while (p < len && !agt_is_ws(s[p]))
					p++;
				k.vl = (uint32_t)(p - k.vs);
			}
		} else if (k.kl == 0) {
			/* a stray '"' or '=': skip to the next blank */
			if (p < len && s[p] == '"') {
				p++;
				while (p < len && s[p] != '"')
					p++;
				if (p < len)
					p++;
			}
			while (p < len && !agt_is_ws(s[p]))
				p++;
			all++;
			continue;
		} else {
			while (p < len && !agt_is_ws(s[p]))
				p++;
			k.kl = (uint32_t)(p - ks);
		}
		if (n < max)
			t[n++] = k;
		all++;
	}
	*total = all;
	*kv = nkv;
	return n;
}

/* unescaped copy of a quoted logfmt value */
static bool agt_lf_unquote(agt_pc *c, const char *v, size_t n, ksk_str *out)
{
	if (!memchr(v, '\\', n))
		return agt__str(c->a, v, n, out);
	char *b = ksk_arena_alloc(c->a, n + 1);
	if (!b)
		return false;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = v[i];
		if (ch == '\\' && i + 1 < n) {
			char e = v[++i];
			switch (e) {
			case 'n': ch = '\n'; break;
			case 't': ch = '\t'; break;
			case 'r': ch = '\r'; break;
			default: ch = e; break;
			}
		}
		b[o++] = ch;
	}
	return agt__str(c->a, b, o, out);
}

/* a logfmt line: the first token is k=v and at least half are k=v */
static bool agt_looks_logfmt(const char *s, size_t len)
{
	size_t p = 0;
	while (p < len && agt_is_ws(s[p]))
		p++;
	size_t ks = p;
	while (p < len && agt_lf_keych(s[p]))
		p++;
	if (p == ks || p >= len || s[p] != '=')
		return false;
	/* count tokens and k=v tokens cheaply (quotes respected) */
	uint32_t tokens = 0, kv = 0;
	bool in_tok = false, in_q = false, tok_kv = false;
	for (size_t i = ks; i < len; i++) {
		char ch = s[i];
		if (in_q) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_q = false;
			continue;
		}
		if (agt_is_ws(ch)) {
			in_tok = false;
			continue;
		}
		if (!in_tok) {
			in_tok = true;
			tokens++;
			tok_kv = false;
		}
		if (ch == '"')
			in_q = true;
		else if (ch == '=' && !tok_kv) {
			tok_kv = true;
			kv++;
		}
	}
	return kv * 2 >= tokens;
}

static ksk_err agt_parse_logfmt(agt_pc *c)
{
	agt_lf_tok toks[AGT_LF_MAX];
	uint32_t total, nkv;
	const char *s = c->line;
	uint32_t n = agt_lf_tokens(s, c->len, toks, AGT_LF_MAX, &total, &nkv);
	int msg = -1, lvl = -1, tim = -1;
	if (nkv == 0)
		return KSK_EPARSE;
	KSK_TRY(agt_attrs_alloc(c, n));
	c->out->dropped_attrs += total - n;
	for (uint32_t i = 0; i < n; i++) {
		agt_lf_tok *t = &toks[i];
		const char *k = s + t->ks;
		if (!t->has_val)
			continue;
		if (msg < 0 && agt_name_is(k, t->kl, agt_msg_keys))
			msg = (int)i;
		else if (lvl < 0 && (agt_name_is(k, t->kl, agt_level_keys) ||
		                     (t->kl == 2 && memcmp(k, "at", 2) == 0 &&
		                      agt_sev(s + t->vs, t->vl))))
			lvl = (int)i;
		else if (tim < 0 && agt_name_is(k, t->kl, agt_time_keys))
			tim = (int)i;
	}
	for (uint32_t i = 0; i < n; i++) {
		agt_lf_tok *t = &toks[i];
		const char *k = s + t->ks, *v = s + t->vs;
		int idk = t->has_val ? agt_id_key_name(k, t->kl) : 0;
		if ((int)i == msg) {
			c->out->body.type = KSK_VAL_STR;
			if (!agt_lf_unquote(c, v, t->vl, &c->out->body.u.s))
				return agt__arena_err(c->a);
			continue;
		}
		if ((int)i == lvl) {
			KSK_TRY(agt_set_level(c, v, t->vl));
			continue;
		}
		if ((int)i == tim) {
			uint64_t ns;
			if (agt_time_value(c, v, t->vl, &ns)) {
				c->out->time_ns = ns;
				continue;
			}
		}
		if (idk == 1 && !c->out->has_trace && agt_id_value(c, 1, v, t->vl))
			continue;
		if (idk == 2 && !c->out->has_span && agt_id_value(c, 2, v, t->vl))
			continue;
		if (!agt_attr_room(c))
			continue;
		ksk_attr *at = &c->attrs[c->out->n_attrs];
		if (!agt__str(c->a, k, t->kl, &at->key))
			return agt__arena_err(c->a);
		if (!t->has_val) {
			at->value = ksk_val_bool(true);
		} else {
			at->value.type = KSK_VAL_STR;
			bool ok = t->quoted ? agt_lf_unquote(c, v, t->vl, &at->value.u.s)
			                    : agt__str(c->a, v, t->vl, &at->value.u.s);
			if (!ok)
				return agt__arena_err(c->a);
		}
		c->out->n_attrs++;
	}
	if (msg < 0)
		return agt_set_body(c, s, c->len);
	return KSK_OK;
}

/* ---- JSON ---------------------------------------------------------------- */

/*
 * A hand-written JSON reader for log lines (jansson parses ~50 MB/s, this
 * several times that). Strict RFC 8259 syntax (a line jansson would refuse
 * is refused, except: lone \u surrogates become U+FFFD and integers beyond
 * 64 bits become doubles). The line is already valid UTF-8, so unescaped
 * strings are copied as they are. Values are built directly as ksk_value
 * in the arena; nesting deeper than AGT__MAX_DEPTH is still parsed (up to
 * AGT_JS_HARD_DEPTH, then the line is refused) but not kept.
 */
#define AGT_JS_HARD_DEPTH 256

typedef struct agt_js {
	const char *s;  /* the line */
	size_t len;     /* its length */
	size_t p;       /* read position */
	ksk_arena *a;   /* output arena */
	bool too_deep;  /* a kept value passed AGT__MAX_DEPTH */
	uint32_t dropped; /* top-level pairs left out for nesting */
} agt_js;

static void agt_js_ws(agt_js *j)
{
	while (j->p < j->len && (j->s[j->p] == ' ' || j->s[j->p] == '\t' ||
	                         j->s[j->p] == '\n' || j->s[j->p] == '\r'))
		j->p++;
}

static int agt_hex4(const char *s)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		int c = (unsigned char)s[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static size_t agt_utf8_put(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* a string at j->p ('"'); keep = copy it into *out */
static ksk_err agt_js_string(agt_js *j, bool keep, ksk_str *out)
{
	const char *s = j->s;
	size_t st = ++j->p;
	bool esc = false;
	while (j->p < j->len) {
		unsigned char ch = (unsigned char)s[j->p];
		if (ch == '"')
			break;
		if (ch < 0x20)
			return KSK_EPARSE;
		if (ch == '\\') {
			esc = true;
			j->p += 2;
			continue;
		}
		j->p++;
	}
	if (j->p >= j->len)
		return KSK_EPARSE;
	size_t end = j->p++;
	if (!esc) {
		if (!keep)
			return KSK_OK;
		if (end - st > AGT__MAX_STR)
			return KSK_ERECORD;
		out->ptr = NULL;
		out->len = (uint32_t)(end - st);
		if (end == st)
			return KSK_OK;
		/* the line is valid UTF-8, so is this slice (ASCII delimiters) */
		out->ptr = ksk_arena_memdup(j->a, s + st, end - st);
		return out->ptr ? KSK_OK : agt__arena_err(j->a);
	}
	char *o = keep ? ksk_arena_alloc(j->a, end - st + 1) : NULL;
	size_t k = 0;
	if (keep && !o)
		return agt__arena_err(j->a);
	for (size_t i = st; i < end; i++) {
		char ch = s[i];
		if (ch != '\\') {
			if (o)
				o[k] = ch;
			k++;
			continue;
		}
		char e = s[++i];
		char tmp[4];
		size_t n = 1;
		switch (e) {
		case '"': tmp[0] = '"'; break;
		case '\\': tmp[0] = '\\'; break;
		case '/': tmp[0] = '/'; break;
		case 'b': tmp[0] = '\b'; break;
		case 'f': tmp[0] = '\f'; break;
		case 'n': tmp[0] = '\n'; break;
		case 'r': tmp[0] = '\r'; break;
		case 't': tmp[0] = '\t'; break;
		case 'u': {
			if (end - i < 5)
				return KSK_EPARSE;
			int v = agt_hex4(s + i + 1);
			if (v < 0)
				return KSK_EPARSE;
			i += 4;
			uint32_t cp = (uint32_t)v;
			if (cp >= 0xd800 && cp <= 0xdbff && end - i >= 7 &&
			    s[i + 1] == '\\' && s[i + 2] == 'u') {
				int lo = agt_hex4(s + i + 3);
				if (lo >= 0xdc00 && lo <= 0xdfff) {
					cp = 0x10000 + ((cp - 0xd800) << 10) +
					     (uint32_t)(lo - 0xdc00);
					i += 6;
				}
			}
			if (cp >= 0xd800 && cp <= 0xdfff)
				cp = 0xfffd; /* lone surrogate */
			n = agt_utf8_put(tmp, cp);
			break;
		}
		default:
			return KSK_EPARSE;
		}
		if (o)
			memcpy(o + k, tmp, n);
		k += n;
	}
	if (keep) {
		if (k > AGT__MAX_STR)
			return KSK_ERECORD;
		o[k] = '\0';
		out->ptr = k ? o : NULL;
		out->len = (uint32_t)k;
	}
	return KSK_OK;
}

static ksk_err agt_js_number(agt_js *j, ksk_value *v)
{
	const char *s = j->s;
	size_t st = j->p, p = j->p;
	bool neg = false, is_int = true;
	uint64_t acc = 0;
	bool ovf = false;
	if (p < j->len && s[p] == '-') {
		neg = true;
		p++;
	}
	if (p >= j->len || s[p] < '0' || s[p] > '9')
		return KSK_EPARSE;
	if (s[p] == '0') {
		p++;
	} else {
		while (p < j->len && s[p] >= '0' && s[p] <= '9') {
			uint64_t d = (uint64_t)(s[p] - '0');
			if (acc > (UINT64_MAX - d) / 10)
				ovf = true;
			else
				acc = acc * 10 + d;
			p++;
		}
	}
	if (p < j->len && s[p] == '.') {
		is_int = false;
		p++;
		if (p >= j->len || s[p] < '0' || s[p] > '9')
			return KSK_EPARSE;
		while (p < j->len && s[p] >= '0' && s[p] <= '9')
			p++;
	}
	if (p < j->len && (s[p] == 'e' || s[p] == 'E')) {
		is_int = false;
		p++;
		if (p < j->len && (s[p] == '+' || s[p] == '-'))
			p++;
		if (p >= j->len || s[p] < '0' || s[p] > '9')
			return KSK_EPARSE;
		while (p < j->len && s[p] >= '0' && s[p] <= '9')
			p++;
	}
	j->p = p;
	if (is_int && !ovf &&
	    (neg ? acc <= (uint64_t)INT64_MAX + 1 : acc <= (uint64_t)INT64_MAX)) {
		*v = ksk_val_int(neg ? (int64_t)(0 - acc) : (int64_t)acc);
		return KSK_OK;
	}
	char buf[64];
	size_t n = p - st;
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1; /* only digits beyond double precision lost */
	memcpy(buf, s + st, n);
	buf[n] = '\0';
	*v = ksk_val_double(strtod(buf, NULL));
	return KSK_OK;
}

static bool agt_js_lit(agt_js *j, const char *w, size_t n)
{
	if (j->len - j->p < n || memcmp(j->s + j->p, w, n) != 0)
		return false;
	j->p += n;
	return true;
}

/* a growable array in the arena (doubling; old copies are abandoned) */
static void *agt_js_grow(ksk_arena *a, void *old, uint32_t n, uint32_t *cap,
                         size_t elem)
{
	if (n < *cap)
		return old;
	uint32_t nc = *cap ? *cap * 2 : 4;
	void *p = ksk_arena_alloc(a, (size_t)nc * elem);
	if (!p)
		return NULL;
	if (old && n)
		memcpy(p, old, (size_t)n * elem);
	*cap = nc;
	return p;
}

static ksk_err agt_js_value(agt_js *j, uint32_t depth, bool keep, ksk_value *v);

static ksk_err agt_js_object(agt_js *j, uint32_t depth, bool keep, ksk_value *v)
{
	ksk_attr *items = NULL;
	uint32_t n = 0, cap = 0;
	j->p++; /* '{' */
	agt_js_ws(j);
	if (j->p < j->len && j->s[j->p] == '}') {
		j->p++;
		goto done;
	}
	for (;;) {
		ksk_str k = {NULL, 0};
		ksk_value val;
		agt_js_ws(j);
		if (j->p >= j->len || j->s[j->p] != '"')
			return KSK_EPARSE;
		KSK_TRY(agt_js_string(j, keep, &k));
		agt_js_ws(j);
		if (j->p >= j->len || j->s[j->p] != ':')
			return KSK_EPARSE;
		j->p++;
		bool was_deep = j->too_deep;
		j->too_deep = false;
		KSK_TRY(agt_js_value(j, depth + 1, keep, &val));
		if (depth == 0 && j->too_deep) {
			j->dropped++; /* a top-level pair nested too deep: left out */
			k.len = 0;
		}
		j->too_deep = j->too_deep || was_deep;
		if (keep && k.len > 0) {
			items = agt_js_grow(j->a, items, n, &cap, sizeof(*items));
			if (!items)
				return agt__arena_err(j->a);
			items[n].key = k;
			items[n].value = val;
			n++;
		}
		agt_js_ws(j);
		if (j->p < j->len && j->s[j->p] == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->len && j->s[j->p] == '}') {
			j->p++;
			break;
		}
		return KSK_EPARSE;
	}
done:
	v->type = KSK_VAL_KVLIST;
	v->u.kv.items = items;
	v->u.kv.n = n;
	return KSK_OK;
}

static ksk_err agt_js_array(agt_js *j, uint32_t depth, bool keep, ksk_value *v)
{
	ksk_value *items = NULL;
	uint32_t n = 0, cap = 0;
	j->p++; /* '[' */
	agt_js_ws(j);
	if (j->p < j->len && j->s[j->p] == ']') {
		j->p++;
		goto done;
	}
	for (;;) {
		ksk_value val;
		KSK_TRY(agt_js_value(j, depth + 1, keep, &val));
		if (keep) {
			items = agt_js_grow(j->a, items, n, &cap, sizeof(*items));
			if (!items)
				return agt__arena_err(j->a);
			items[n++] = val;
		}
		agt_js_ws(j);
		if (j->p < j->len && j->s[j->p] == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->len && j->s[j->p] == ']') {
			j->p++;
			break;
		}
		return KSK_EPARSE;
	}
done:
	v->type = KSK_VAL_ARRAY;
	v->u.arr.items = items;
	v->u.arr.n = n;
	return KSK_OK;
}

/* depth: of the value; keep false once over AGT__MAX_DEPTH (parsed only) */
static ksk_err agt_js_value(agt_js *j, uint32_t depth, bool keep, ksk_value *v)
{
	memset(v, 0, sizeof(*v));
	if (depth > AGT_JS_HARD_DEPTH)
		return KSK_EPARSE;
	if (keep && depth > AGT__MAX_DEPTH) {
		keep = false;
		j->too_deep = true;
	}
	agt_js_ws(j);
	if (j->p >= j->len)
		return KSK_EPARSE;
	switch (j->s[j->p]) {
	case '{':
		return agt_js_object(j, depth, keep, v);
	case '[':
		return agt_js_array(j, depth, keep, v);
	case '"':
		v->type = KSK_VAL_STR;
		return agt_js_string(j, keep, &v->u.s);
	case 't':
		*v = ksk_val_bool(true);
		return agt_js_lit(j, "true", 4) ? KSK_OK : KSK_EPARSE;
	case 'f':
		*v = ksk_val_bool(false);
		return agt_js_lit(j, "false", 5) ? KSK_OK : KSK_EPARSE;
	case 'n':
		v->type = KSK_VAL_EMPTY;
		return agt_js_lit(j, "null", 4) ? KSK_OK : KSK_EPARSE;
	default:
		return agt_js_number(j, v);
	}
}

static const char *const agt_pino_levels[] = {"trace", "debug", "info",
                                              "warn",  "error", "fatal"};

static bool agt_key_is(ksk_str k, const char *const *list)
{
	return agt_name_is(k.ptr ? k.ptr : "", k.len, list);
}

static ksk_err agt_json_level(agt_pc *c, const ksk_value *v, ksk_str raw)
{
	if (v->type == KSK_VAL_STR) {
		c->out->severity = ksk_severity_from_text(v->u.s.ptr, v->u.s.len);
		c->out->severity_text = v->u.s;
		return KSK_OK;
	}
	if (v->type == KSK_VAL_INT && v->u.i >= 10 && v->u.i <= 60 &&
	    v->u.i % 10 == 0) { /* pino / bunyan */
		const char *w = agt_pino_levels[v->u.i / 10 - 1];
		c->out->severity = ksk_severity_from_text(w, strlen(w));
		char buf[8];
		int l = snprintf(buf, sizeof(buf), "%d", (int)v->u.i);
		(void)raw;
		if (!agt__str(c->a, buf, (size_t)l, &c->out->severity_text))
			return agt__arena_err(c->a);
		return KSK_OK;
	}
	return KSK_EPARSE;
}

static bool agt_json_time(agt_pc *c, const ksk_value *v, uint64_t *ns)
{
	if (v->type == KSK_VAL_STR)
		return agt_time_value(c, v->u.s.ptr, v->u.s.len, ns);
	if (v->type == KSK_VAL_INT && v->u.i >= 0) {
		uint64_t iv = (uint64_t)v->u.i;
		*ns = iv < 100000000000ull ? iv * 1000000000ull
		    : iv < 100000000000000ull ? iv * 1000000ull
		    : iv < 100000000000000000ull ? iv * 1000ull : iv;
		return true;
	}
	if (v->type == KSK_VAL_DOUBLE) {
		*ns = agt_epoch_to_ns(v->u.d);
		return *ns != 0;
	}
	return false;
}

static ksk_err agt_parse_json(agt_pc *c, ksk_errinfo *ei)
{
	agt_js j = {c->line, c->len, 0, c->a, false, 0};
	ksk_value root;
	agt_js_ws(&j);
	if (j.p >= j.len || j.s[j.p] != '{')
		return ksk_errinfo_set(ei, KSK_EPARSE, "json: not an object");
	ksk_err rc = agt_js_value(&j, 0, true, &root);
	if (rc == KSK_OK) {
		agt_js_ws(&j);
		if (j.p != j.len)
			rc = KSK_EPARSE;
	}
	if (rc == KSK_EPARSE || rc == KSK_ERECORD)
		return ksk_errinfo_set(ei, KSK_EPARSE,
		                       "json: syntax error near byte %zu", j.p);
	if (rc != KSK_OK)
		return rc;
	ksk_attr *kv = root.u.kv.items;
	uint32_t n = root.u.kv.n;
	int msg = -1, lvl = -1, tim = -1, evt = -1;
	for (uint32_t i = 0; i < n; i++) {
		ksk_str k = kv[i].key;
		if (msg < 0 && agt_key_is(k, agt_msg_keys))
			msg = (int)i;
		else if (lvl < 0 && agt_key_is(k, agt_level_keys))
			lvl = (int)i;
		else if (tim < 0 && agt_key_is(k, agt_time_keys))
			tim = (int)i;
		else if (evt < 0 && k.len == 5 && memcmp(k.ptr, "event", 5) == 0 &&
		         kv[i].value.type == KSK_VAL_STR)
			evt = (int)i;
	}
	if (msg < 0)
		msg = evt; /* structlog */
	if (lvl >= 0 && agt_json_level(c, &kv[lvl].value, kv[lvl].key) != KSK_OK)
		lvl = -1;
	if (tim >= 0) {
		uint64_t ns = 0;
		if (agt_json_time(c, &kv[tim].value, &ns))
			c->out->time_ns = ns;
		else
			tim = -1;
	}
	if (msg >= 0)
		c->out->body = kv[msg].value;
	/* attributes: compact the pairs in place */
	uint32_t na = 0;
	for (uint32_t i = 0; i < n; i++) {
		ksk_str k = kv[i].key;
		ksk_value *v = &kv[i].value;
		if ((int)i == msg || (int)i == lvl || (int)i == tim)
			continue;
		int idk = agt_id_key_name(k.ptr, k.len);
		if (idk && v->type == KSK_VAL_STR &&
		    !(idk == 1 ? c->out->has_trace : c->out->has_span) &&
		    agt_id_value(c, idk, v->u.s.ptr ? v->u.s.ptr : "", v->u.s.len))
			continue;
		uint8_t tf;
		if (k.len == 11 && memcmp(k.ptr, "traceparent", 11) == 0 &&
		    v->type == KSK_VAL_STR && !c->out->has_trace &&
		    agt_traceparent_parse(v->u.s.ptr ? v->u.s.ptr : "", v->u.s.len,
		                          c->out->trace_id, c->out->span_id, &tf)) {
			c->out->has_trace = c->out->has_span = true;
			c->out->flags = tf;
			continue;
		}
		if (na >= c->p->max_attrs) {
			c->out->dropped_attrs++;
			continue;
		}
		kv[na++] = kv[i];
	}
	c->out->attrs = na ? kv : NULL;
	c->out->n_attrs = na;
	c->out->dropped_attrs += j.dropped;
	if (msg < 0)
		return agt_set_body(c, c->line, c->len);
	return KSK_OK;
}

/* ---- regex --------------------------------------------------------------- */

static ksk_err agt_parse_regex(agt_pc *c, ksk_errinfo *ei)
{
	agt_parser *p = c->p;
	int r = pcre2_match(p->re, (PCRE2_SPTR)c->line, c->len, 0,
	                    PCRE2_NO_UTF_CHECK, p->md, p->mctx);
	if (r < 0) {
		if (r == PCRE2_ERROR_NOMATCH)
			return ksk_errinfo_set(ei, KSK_EPARSE, "regex: no match");
		PCRE2_UCHAR buf[120];
		pcre2_get_error_message(r, buf, sizeof(buf));
		return ksk_errinfo_set(ei, KSK_EPARSE, "regex: %s", (const char *)buf);
	}
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);
	uint32_t ovn = pcre2_get_ovector_count(p->md);
	bool have_body = false;
	KSK_TRY(agt_attrs_alloc(c, p->n_attr_groups));
	for (uint32_t i = 0; i < p->n_groups; i++) {
		agt_group *g = &p->groups[i];
		if (g->num >= ovn || ov[2 * g->num] == PCRE2_UNSET)
			continue;
		const char *v = c->line + ov[2 * g->num];
		size_t vl = ov[2 * g->num + 1] - ov[2 * g->num];
		switch (g->role) {
		case AGT_R_TIME: {
			uint64_t ns;
			size_t used = 0;
			bool ok = p->time_format
			        ? agt_time_parse(p->time_format, v, vl, p->tz_min,
			                         c->now_ns, &ns, &used)
			        : agt__time_auto(v, vl, true, p->tz_min, c->now_ns,
			                         &ns, &used);
			if (!ok)
				return ksk_errinfo_set(ei, KSK_EPARSE,
				                       "regex: group \"%s\": bad time \"%.*s\"",
				                       g->name, (int)(vl > 64 ? 64 : vl), v);
			c->out->time_ns = ns;
			break;
		}
		case AGT_R_LEVEL:
			KSK_TRY(agt_set_level(c, v, vl));
			break;
		case AGT_R_BODY:
			KSK_TRY(agt_set_body(c, v, vl));
			have_body = true;
			break;
		case AGT_R_TRACE:
			if (!c->out->has_trace)
				agt_id_value(c, 1, v, vl);
			break;
		case AGT_R_SPAN:
			if (!c->out->has_span)
				agt_id_value(c, 2, v, vl);
			break;
		default:
			KSK_TRY(agt_add_str_attr(c, g->name, g->name_len, v, vl));
			break;
		}
	}
	if (!have_body)
		KSK_TRY(agt_set_body(c, c->line, c->len));
	return KSK_OK;
}

/* ---- entry --------------------------------------------------------------- */

static void agt_log_reset(ksk_log *o, uint64_t now_ns)
{
	memset(o, 0, sizeof(*o));
	o->observed_ns = now_ns;
	o->body.type = KSK_VAL_STR;
}

ksk_err agt_parser_parse(agt_parser *p, const char *line, size_t len,
                         uint64_t now_ns, ksk_arena *a, ksk_log *out,
                         ksk_errinfo *ei)
{
	agt_pc c;
	ksk_err rc;
	if (!p || !a || !out || (!line && len))
		return ksk_errinfo_set(ei, KSK_EINVAL, "parser: null argument");
	agt_log_reset(out, now_ns);
	memset(&c, 0, sizeof(c));
	c.p = p;
	c.a = a;
	c.line = line ? line : "";
	c.len = len;
	c.now_ns = now_ns;
	c.out = out;
	if (!ksk_utf8_valid(c.line, len)) {
		ksk_str r = ksk_utf8_repair(a, c.line, len);
		if (!r.ptr)
			return ksk_errinfo_set(ei, agt__arena_err(a),
			                       "parser: arena full");
		c.line = r.ptr;
		c.len = r.len;
	}
	size_t lead = 0;
	while (lead < c.len && agt_is_ws(c.line[lead]))
		lead++;
	switch (p->kind) {
	case AGT_PARSER_AUTO:
		if (lead < c.len && c.line[lead] == '{') {
			rc = agt_parse_json(&c, NULL);
			if (rc == KSK_OK || (rc != KSK_EPARSE))
				break;
			agt_log_reset(out, now_ns);
			rc = agt_parse_text(&c);
		} else if (agt_looks_logfmt(c.line, c.len)) {
			rc = agt_parse_logfmt(&c);
		} else {
			rc = agt_parse_text(&c);
		}
		break;
	case AGT_PARSER_TEXT:
		rc = agt_parse_text(&c);
		break;
	case AGT_PARSER_JSON:
		rc = agt_parse_json(&c, ei);
		break;
	case AGT_PARSER_LOGFMT:
		rc = agt_parse_logfmt(&c);
		if (rc == KSK_EPARSE)
			ksk_errinfo_set(ei, KSK_EPARSE, "logfmt: no key=value pair");
		break;
	case AGT_PARSER_REGEX:
		rc = agt_parse_regex(&c, ei);
		break;
	default:
		rc = ksk_errinfo_set(ei, KSK_EINVAL, "parser: bad kind");
		break;
	}
	if (rc == KSK_EPARSE) {
		/* fallback record: the whole line */
		agt_log_reset(out, now_ns);
		ksk_err r2 = agt_set_body(&c, c.line, c.len);
		if (r2 != KSK_OK)
			return ksk_errinfo_set(ei, r2, "parser: arena full");
		agt_finish_ids(&c);
		return KSK_EPARSE;
	}
	if (rc != KSK_OK) {
		if (rc == KSK_ENOMEM || rc == KSK_ELIMIT)
			return ksk_errinfo_set(ei, rc, "parser: arena full");
		return rc;
	}
	agt_finish_ids(&c);
	return KSK_OK;
}
