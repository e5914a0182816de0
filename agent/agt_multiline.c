/*
 * agt_multiline.c : grouping physical lines into one log record (stack
 * traces), per file.
 *
 * A rule (agt_ml_rule: compiled regex, read-only, shareable) decides for
 * each line whether it STARTS a record (start mode: the line matches) or
 * CONTINUES the previous one (continuation mode: the line matches). The
 * per-file state (agt_ml) holds the pending record:
 *
 *     (empty) --feed--> (pending) --feed start line--> emit, new pending
 *                        |  ^ feed continuation line: append "\n" + line
 *                        +--flush / flush_if_older(now - last >= timeout)--> emit -> (empty)
 *
 * A line that continues nothing (no pending record) starts one. Time is the
 * caller's (now_ns given to each call); no clock is read. The emitted
 * record is a view into one of two buffers that swap roles, so it stays
 * valid while the next line is buffered, until the next call.
 * Limits: max_bytes / max_lines per record; extra lines are dropped and
 * counted (their offsets still move end_off, so checkpoints advance).
 */
#include <stdlib.h>
#include <string.h>

#include <pcre2.h>

#include "agt_parse.h"
#include "agt_parse_int.h"

struct agt_ml_rule {
	const ksk_alloc *alloc;    /* allocator of this object */
	pcre2_general_context *gctx; /* PCRE2 memory via alloc */
	pcre2_code *re;            /* start or continuation pattern */
	bool is_start;             /* true: matching lines start a record */
	uint64_t timeout_ns;       /* idle time before a pending record is emitted */
	size_t max_bytes;          /* bytes per record */
	uint32_t max_lines;        /* lines per record */
	uint32_t match_limit;      /* PCRE2 match limit */
};

typedef struct agt_ml_buf {
	char *p;      /* owned */
	size_t len;   /* bytes used */
	size_t cap;   /* bytes allocated */
} agt_ml_buf;

struct agt_ml {
	const ksk_alloc *alloc;      /* allocator of this object */
	const agt_ml_rule *rule;     /* borrowed */
	pcre2_general_context *gctx; /* PCRE2 memory via alloc */
	pcre2_match_data *md;        /* owned, this state's match data */
	pcre2_match_context *mctx;   /* owned, match limit */
	agt_ml_buf buf[2];           /* pending / last emitted */
	int cur;                     /* index of the pending buffer */
	bool pending;                /* buf[cur] holds a record */
	uint32_t lines, dropped;     /* of the pending record */
	uint64_t start_off, end_off; /* of the pending record */
	uint64_t last_ns;            /* when its last line was fed */
};

static const char *agt_ml_preset(const char *name, bool *is_start)
{
	if (strcmp(name, "timestamp") == 0) {
		*is_start = true;
		return "^(?:\\[?\\d{4}[-/]\\d{2}[-/]\\d{2}[T ]\\d{2}:\\d{2}"
		       "|[A-Z][a-z]{2} [ \\d]\\d \\d{2}:\\d{2}:\\d{2}"
		       "|\\[?\\d{2}:\\d{2}:\\d{2})";
	}
	if (strcmp(name, "java") == 0) {
		*is_start = false;
		return "^(?:\\s+at\\s|\\s+\\.\\.\\.\\s+\\d+\\s+(?:more|common)"
		       "|Caused by:|\\s*Suppressed:|\\s+|$"
		       "|[A-Za-z_$][\\w$.]*(?:Exception|Error|Throwable)(?::|$))";
	}
	if (strcmp(name, "python") == 0) {
		*is_start = false;
		return "^(?:Traceback \\(most recent call last\\):|\\s+"
		       "|[A-Za-z_][\\w.]*(?:Error|Exception|Exit|Interrupt|Warning)\\b"
		       "|During handling of the above exception"
		       "|The above exception was the direct cause|$)";
	}
	return NULL;
}

ksk_err agt_ml_rule_create(const ksk_alloc *alloc, const agt_ml_opts *o,
                           agt_ml_rule **out, ksk_errinfo *ei)
{
	const char *pat = NULL;
	bool is_start = false;
	int nset;
	if (!o || !out)
		return ksk_errinfo_set(ei, KSK_EINVAL, "multiline: null argument");
	*out = NULL;
	nset = (o->start != NULL) + (o->continuation != NULL) + (o->preset != NULL);
	if (nset != 1)
		return ksk_errinfo_set(ei, KSK_EINVAL,
		                       "multiline: give exactly one of start, "
		                       "continuation or preset");
	if (o->start) {
		pat = o->start;
		is_start = true;
	} else if (o->continuation) {
		pat = o->continuation;
	} else {
		pat = agt_ml_preset(o->preset, &is_start);
		if (!pat)
			return ksk_errinfo_set(ei, KSK_EINVAL,
			                       "multiline: unknown preset \"%s\" "
			                       "(timestamp, java, python)", o->preset);
	}
	alloc = ksk_alloc_or_default(alloc);
	agt_ml_rule *r = ksk_calloc(alloc, 1, sizeof(*r));
	if (!r)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "multiline: out of memory");
	r->alloc = alloc;
	int ec;
	PCRE2_SIZE eo;
	r->gctx = agt__pcre2_gctx(alloc);
	pcre2_compile_context *cc = r->gctx ? pcre2_compile_context_create(r->gctx)
	                                    : NULL;
	if (!cc) {
		agt_ml_rule_destroy(r);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "multiline: out of memory");
	}
	r->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF |
	                      PCRE2_MATCH_INVALID_UTF, &ec, &eo, cc);
	pcre2_compile_context_free(cc);
	if (!r->re && ec == AGT__PCRE2_ENOMEM) {
		agt_ml_rule_destroy(r);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "multiline: out of memory");
	}
	if (!r->re) {
		PCRE2_UCHAR buf[160];
		pcre2_get_error_message(ec, buf, sizeof(buf));
		agt_ml_rule_destroy(r);
		return ksk_errinfo_set(ei, KSK_EINVAL,
		                       "multiline: %s pattern error at offset %zu: %s",
		                       is_start ? "start" : "continuation",
		                       (size_t)eo, (const char *)buf);
	}
	(void)pcre2_jit_compile(r->re, PCRE2_JIT_COMPLETE);
	r->is_start = is_start;
	r->timeout_ns = o->timeout_ns ? o->timeout_ns : 1000000000ull;
	r->max_bytes = o->max_bytes ? o->max_bytes : (1u << 20);
	r->max_lines = o->max_lines ? o->max_lines : 1000;
	r->match_limit = o->match_limit ? o->match_limit : 100000;
	*out = r;
	return KSK_OK;
}

void agt_ml_rule_destroy(agt_ml_rule *r)
{
	if (!r)
		return;
	pcre2_code_free(r->re);
	pcre2_general_context_free(r->gctx);
	ksk_free(r->alloc, r);
}

ksk_err agt_ml_create(const ksk_alloc *alloc, const agt_ml_rule *rule,
                      agt_ml **out)
{
	if (!rule || !out)
		return KSK_EINVAL;
	*out = NULL;
	alloc = ksk_alloc_or_default(alloc);
	agt_ml *m = ksk_calloc(alloc, 1, sizeof(*m));
	if (!m)
		return KSK_ENOMEM;
	m->alloc = alloc;
	m->rule = rule;
	m->gctx = agt__pcre2_gctx(alloc);
	m->md = m->gctx ? pcre2_match_data_create(4, m->gctx) : NULL;
	m->mctx = m->gctx ? pcre2_match_context_create(m->gctx) : NULL;
	if (!m->md || !m->mctx) {
		agt_ml_destroy(m);
		return KSK_ENOMEM;
	}
	pcre2_set_match_limit(m->mctx, rule->match_limit);
	*out = m;
	return KSK_OK;
}

void agt_ml_destroy(agt_ml *m)
{
	if (!m)
		return;
	pcre2_match_data_free(m->md);
	pcre2_match_context_free(m->mctx);
	pcre2_general_context_free(m->gctx);
	ksk_free(m->alloc, m->buf[0].p);
	ksk_free(m->alloc, m->buf[1].p);
	ksk_free(m->alloc, m);
}

static bool agt_ml_match(agt_ml *m, const char *line, size_t len)
{
	int r = pcre2_match(m->rule->re, (PCRE2_SPTR)(line ? line : ""), len, 0, 0,
	                    m->md, m->mctx);
	return r >= 0; /* errors (match limit) count as no match */
}

static ksk_err agt_ml_append(agt_ml *m, agt_ml_buf *b, const char *s, size_t n,
                             bool sep)
{
	size_t need = b->len + n + (sep ? 1 : 0);
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < need)
			cap *= 2;
		char *np = ksk_realloc(m->alloc, b->p, cap);
		if (!np)
			return KSK_ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	if (sep)
		b->p[b->len++] = '\n';
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	return KSK_OK;
}

static void agt_ml_emit(agt_ml *m, agt_ml_rec *out)
{
	agt_ml_buf *b = &m->buf[m->cur];
	out->text = b->p;
	out->len = b->len;
	out->lines = m->lines;
	out->dropped = m->dropped;
	out->start_off = m->start_off;
	out->end_off = m->end_off;
	m->pending = false;
	m->cur ^= 1; /* the emitted buffer stays intact until the next call */
}

static ksk_err agt_ml_start(agt_ml *m, const char *line, size_t len,
                            uint64_t so, uint64_t eo, uint64_t now_ns)
{
	agt_ml_buf *b = &m->buf[m->cur];
	b->len = 0;
	size_t n = len > m->rule->max_bytes ? m->rule->max_bytes : len;
	KSK_TRY(agt_ml_append(m, b, line, n, false));
	m->pending = true;
	m->lines = 1;
	m->dropped = 0;
	m->start_off = so;
	m->end_off = eo;
	m->last_ns = now_ns;
	return KSK_OK;
}

ksk_err agt_ml_feed(agt_ml *m, const char *line, size_t len,
                    uint64_t start_off, uint64_t end_off, uint64_t now_ns,
                    agt_ml_rec *out, bool *emitted)
{
	*emitted = false;
	bool match = agt_ml_match(m, line, len);
	bool cont = m->rule->is_start ? !match : match;
	if (cont && m->pending) {
		agt_ml_buf *b = &m->buf[m->cur];
		m->end_off = end_off;
		m->last_ns = now_ns;
		if (m->lines >= m->rule->max_lines ||
		    b->len + 1 + len > m->rule->max_bytes) {
			m->dropped++;
			return KSK_OK;
		}
		KSK_TRY(agt_ml_append(m, b, line, len, true));
		m->lines++;
		return KSK_OK;
	}
	if (m->pending) {
		/* make sure the next buffer can take the line before emitting */
		agt_ml_buf *nb = &m->buf[m->cur ^ 1];
		size_t n = len > m->rule->max_bytes ? m->rule->max_bytes : len;
		if (nb->cap < n) {
			char *np = ksk_realloc(m->alloc, nb->p, n ? n : 1);
			if (!np)
				return KSK_ENOMEM;
			nb->p = np;
			nb->cap = n ? n : 1;
		}
		agt_ml_emit(m, out);
		*emitted = true;
	}
	return agt_ml_start(m, line, len, start_off, end_off, now_ns);
}

bool agt_ml_flush_if_older(agt_ml *m, uint64_t now_ns, agt_ml_rec *out)
{
	if (!m->pending || now_ns < m->last_ns ||
	    now_ns - m->last_ns < m->rule->timeout_ns)
		return false;
	agt_ml_emit(m, out);
	return true;
}

bool agt_ml_flush(agt_ml *m, agt_ml_rec *out)
{
	if (!m->pending)
		return false;
	agt_ml_emit(m, out);
	return true;
}

bool agt_ml_pending(const agt_ml *m, uint64_t *start_off)
{
	if (m->pending && start_off)
		*start_off = m->start_off;
	return m->pending;
}
