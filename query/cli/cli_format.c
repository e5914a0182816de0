/*
 * cli_format.c : kiseki-query's JSON answers as terminal text (cli_format.h).
 *
 * Data in: parsed answers (jansson) and cli_fmt_opts. Data out: text on a
 * FILE*.
 *
 * The waterfall. A line per span: 2 mark columns, a space, the label
 * column (tree + service + operation, cut to fit), START and DURATION
 * (9 columns each, right-aligned) and the bar between '|' characters:
 *
 *   width W = 2 + 1 + L + 1 + 9 + 1 + 9 + 1 + (B + 2),  B = max(10, 3W/10)
 *
 * The tree is drawn from the compact answer's parent positions (spans come
 * depth-first, a parent before its children): a stack holds the open
 * ancestors, so each line knows, per level, whether a vertical rule goes on
 * (the ancestor at that level has later siblings). Deep trees keep only the
 * last levels that fit in half the label column, after a '…'. A span's
 * logs are sorted by time and printed under it: those before a child's
 * start just before that child, the rest when the span's subtree closes.
 * No recursion: a 100,000-deep chain renders.
 *
 * Invariants: every byte of untrusted text goes through cli_text(), which
 * escapes control characters (C0, DEL, C1) and malformed UTF-8; colours are
 * written only when opts.color, and every colour is reset on its line.
 */
#include "cli_format.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiseki/record.h"

/* ---- text ------------------------------------------------------------------------------ */

#define CLI_NOLIMIT ((size_t)-1)

static void cli_sgr(FILE *f, const cli_fmt_opts *o, const char *code)
{
	if (o->color)
		fprintf(f, "\x1b[%sm", code);
}

static void cli_sgr0(FILE *f, const cli_fmt_opts *o)
{
	if (o->color)
		fputs("\x1b[0m", f);
}

static void cli_pad(FILE *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fputc(' ', f);
}

/* The unit of text at p (one code point, or one byte to escape): its byte
 * length in *bytes, its escaped form in esc ("" = copy the bytes), and its
 * width in columns as the return value. */
static size_t cli_unit(const unsigned char *p, size_t left, size_t *bytes, char esc[12])
{
	unsigned char b = p[0];
	esc[0] = '\0';
	*bytes = 1;
	if (b < 0x20 || b == 0x7f) {
		if (b == '\n')
			strcpy(esc, "\\n");
		else if (b == '\t')
			strcpy(esc, "\\t");
		else if (b == '\r')
			strcpy(esc, "\\r");
		else
			snprintf(esc, 12, "\\x%02x", b);
		return strlen(esc);
	}
	if (b < 0x80)
		return 1;
	size_t n = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 0;
	bool ok = n > 0 && n <= left;
	for (size_t i = 1; ok && i < n; i++)
		ok = (p[i] & 0xc0) == 0x80;
	if (!ok) {
		snprintf(esc, 12, "\\x%02x", b);
		return 4;
	}
	if (b == 0xc2 && p[1] < 0xa0) { /* C1 control */
		snprintf(esc, 12, "\\u%04x", p[1]);
		*bytes = 2;
		return 6;
	}
	*bytes = n;
	return 1;
}

static size_t cli_text_cols(const char *s, size_t len)
{
	size_t cols = 0, i = 0, b;
	char esc[12];
	while (i < len) {
		cols += cli_unit((const unsigned char *)s + i, len - i, &b, esc);
		i += b;
	}
	return cols;
}

/* Writes `s` escaped, in at most `max` columns (cut with an ellipsis).
 * @return : the columns written. */
static size_t cli_text(FILE *f, const cli_fmt_opts *o, const char *s, size_t len, size_t max)
{
	if (max == 0)
		return 0;
	size_t total = cli_text_cols(s, len);
	bool cut = total > max;
	size_t limit = cut ? max - 1 : total;
	size_t cols = 0, i = 0, b;
	char esc[12];
	while (i < len) {
		size_t w = cli_unit((const unsigned char *)s + i, len - i, &b, esc);
		if (cols + w > limit)
			break;
		if (esc[0])
			fputs(esc, f);
		else
			fwrite(s + i, 1, b, f);
		cols += w;
		i += b;
	}
	if (cut) {
		fputs(o->ascii ? "~" : "\xe2\x80\xa6", f);
		cols++;
	}
	return cols;
}

static size_t cli_textz(FILE *f, const cli_fmt_opts *o, const char *s, size_t max)
{
	return cli_text(f, o, s, strlen(s), max);
}

/* a cell of exactly `w` columns (cut or padded) */
static void cli_cell(FILE *f, const cli_fmt_opts *o, const char *s, size_t w, bool right)
{
	size_t c = cli_text_cols(s, strlen(s));
	if (right && c < w)
		cli_pad(f, w - c);
	size_t done = cli_textz(f, o, s, w);
	if (!right && done < w)
		cli_pad(f, w - done);
}

/* ---- JSON ------------------------------------------------------------------------------ */

static const char *cli_js(const json_t *o, const char *k, size_t *len)
{
	const json_t *v = json_object_get(o, k);
	if (!json_is_string(v)) {
		if (len)
			*len = 0;
		return "";
	}
	if (len)
		*len = json_string_length(v);
	return json_string_value(v);
}

static int64_t cli_ji(const json_t *o, const char *k, int64_t def)
{
	const json_t *v = json_object_get(o, k);
	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	return def;
}

static bool cli_jb(const json_t *o, const char *k)
{
	return json_is_true(json_object_get(o, k));
}

const char *cli_answer_error(const json_t *ans)
{
	const json_t *e = json_object_get(ans, "errors");
	if (!json_is_array(e) || json_array_size(e) == 0)
		return NULL;
	const json_t *m = json_object_get(json_array_get(e, 0), "msg");
	return json_is_string(m) ? json_string_value(m) : NULL;
}

/* the `data` member of an envelope, of type `type` */
static const json_t *cli_data(const json_t *ans, json_type type, const char *what,
                              ksk_errinfo *ei)
{
	const json_t *d = json_is_object(ans) ? json_object_get(ans, "data") : NULL;
	if (!d || json_typeof(d) != type) {
		ksk_errinfo_set(ei, KSK_EPARSE, "%s: the answer has no 'data' %s", what,
		                type == JSON_ARRAY ? "array" : "object");
		return NULL;
	}
	return d;
}

/* ---- values ------------------------------------------------------------------------------ */

void cli_fmt_duration(int64_t us, bool ascii, char *buf, size_t cap)
{
	const char *neg = us < 0 ? "-" : "";
	unsigned long long u = us < 0 ? (unsigned long long)(-(us + 1)) + 1u : (unsigned long long)us;
	if (u < 1000ull)
		snprintf(buf, cap, "%s%llu%s", neg, u, ascii ? "us" : "\xc2\xb5s");
	else if (u < 1000000ull)
		snprintf(buf, cap, "%s%llu.%02llums", neg, u / 1000ull, (u % 1000ull) / 10ull);
	else if (u < 60000000ull)
		snprintf(buf, cap, "%s%llu.%02llus", neg, u / 1000000ull, (u % 1000000ull) / 10000ull);
	else if (u < 3600000000ull)
		snprintf(buf, cap, "%s%llum%02llus", neg, u / 60000000ull, (u / 1000000ull) % 60ull);
	else
		snprintf(buf, cap, "%s%lluh%02llum", neg, u / 3600000000ull, (u / 60000000ull) % 60ull);
}

void cli_fmt_time(uint64_t us, bool utc, int digits, char *buf, size_t cap)
{
	time_t t = (time_t)(us / 1000000u);
	struct tm tm;
	bool ok = utc ? gmtime_r(&t, &tm) != NULL : localtime_r(&t, &tm) != NULL;
	char d[64];
	if (!ok || strftime(d, sizeof(d), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(d, sizeof(d), "@%llu", (unsigned long long)(us / 1000000u));
	unsigned long long frac = us % 1000000u;
	if (digits == 0)
		snprintf(buf, cap, "%s", d);
	else if (digits >= 6)
		snprintf(buf, cap, "%s.%06llu", d, frac);
	else
		snprintf(buf, cap, "%s.%03llu", d, frac / 1000u);
}

static const char *const cli_palette[] = {"36", "32", "35", "34", "33", "96", "92", "95", "94"};
#define CLI_PALETTE_N (sizeof(cli_palette) / sizeof(cli_palette[0]))

static int cli_sev_number(const json_t *rec)
{
	int64_t n = cli_ji(rec, "severityNumber", 0);
	if (n >= 1 && n <= 24)
		return (int)n;
	size_t len;
	const char *t = cli_js(rec, "severity", &len);
	return ksk_severity_from_text(t, len);
}

static const char *cli_sev_color(int sev)
{
	if (sev >= 21)
		return "1;31";
	if (sev >= 17)
		return "31";
	if (sev >= 13)
		return "33";
	if (sev >= 9)
		return "32";
	return "2";
}

/* the severity, upper-cased, padded to 5 columns, coloured.
 * @return : the columns written */
static size_t cli_severity(FILE *f, const cli_fmt_opts *o, const json_t *rec)
{
	size_t len;
	const char *t = cli_js(rec, "severity", &len);
	char up[32];
	size_t n = 0;
	for (size_t i = 0; i < len && n < sizeof(up) - 1; i++)
		up[n++] = (t[i] >= 'a' && t[i] <= 'z') ? (char)(t[i] - 32) : t[i];
	up[n] = '\0';
	if (n == 0)
		snprintf(up, sizeof(up), "-");
	cli_sgr(f, o, cli_sev_color(cli_sev_number(rec)));
	size_t c = cli_text(f, o, up, strlen(up), 12);
	cli_sgr0(f, o);
	if (c < 5)
		cli_pad(f, 5 - c);
	return c < 5 ? 5 : c;
}

/* ---- the waterfall ------------------------------------------------------------------------ */

typedef struct cli_tspan {
	const json_t *j;
	int32_t parent;     /* position, -1 = root */
	uint32_t depth;
	bool last;          /* last child of its parent */
	bool has_children;
	int64_t start, dur; /* µs from the trace start */
	int64_t skew;       /* µs applied by the server, 0 = none */
	uint32_t svc;
	bool error, critical;
	size_t log_at, log_end; /* its logs: positions in the sorted log array */
} cli_tspan;

typedef struct cli_tlog {
	const json_t *j;
	int64_t t;          /* µs from the trace start (shifted by the span's skew) */
	uint32_t span;      /* position; n = none */
	size_t ord;
} cli_tlog;

typedef struct cli_sid {
	const char *id;
	uint32_t pos;
} cli_sid;

static int cli_sid_cmp(const void *a, const void *b)
{
	const cli_sid *x = a, *y = b;
	int c = strcmp(x->id, y->id);
	return c ? c : (x->pos < y->pos ? -1 : x->pos > y->pos);
}

static int cli_tlog_cmp(const void *a, const void *b)
{
	const cli_tlog *x = a, *y = b;
	if (x->span != y->span)
		return x->span < y->span ? -1 : 1;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

typedef struct cli_wf {
	FILE *f;
	const cli_fmt_opts *o;
	unsigned W, L, B;
	const json_t *services;
	cli_tspan *sp;
	size_t n;
	cli_tlog *logs;
	size_t n_logs;
	uint32_t *stk;      /* stk[k] = open ancestor at depth k */
	int64_t total;      /* trace duration, µs */
} cli_wf;

static const char *cli_g(const cli_wf *w, int which)
{
	static const char *const utf[] = {"\xe2\x94\x82  ", "\xe2\x94\x9c\xe2\x94\x80 ",
	                                  "\xe2\x94\x94\xe2\x94\x80 ", "   "};
	static const char *const asc[] = {"|  ", "|- ", "`- ", "   "};
	return w->o->ascii ? asc[which] : utf[which];
}
enum { G_VERT, G_TEE, G_ELBOW, G_BLANK };

/* The tree prefix of a line at `levels` levels (level k = 1..levels): the
 * ancestor stk[k] continues (or not) for k < levels; the last token is
 * `lastg`. Cut to the last levels that fit in `cap` columns.
 * @return : columns written. */
static size_t cli_prefix(cli_wf *w, uint32_t levels, int lastg, size_t cap)
{
	if (levels == 0)
		return 0;
	uint32_t from = 1;
	size_t cols = 0;
	cli_sgr(w->f, w->o, "2");
	if ((size_t)levels * 3 > cap) {
		size_t keep = cap > 4 ? (cap - 1) / 3 : 1;
		from = levels - (uint32_t)keep + 1;
		fputs(w->o->ascii ? "~" : "\xe2\x80\xa6", w->f);
		cols++;
	}
	for (uint32_t k = from; k <= levels; k++) {
		int g = k < levels ? (w->sp[w->stk[k]].last ? G_BLANK : G_VERT) : lastg;
		fputs(cli_g(w, g), w->f);
		cols += 3;
	}
	cli_sgr0(w->f, w->o);
	return cols;
}

/* the prefix of a line under span `p` (a warning or a log): its levels,
 * then a rule when more children follow */
static size_t cli_subprefix(cli_wf *w, uint32_t p, bool more)
{
	return cli_prefix(w, w->sp[p].depth + 1, more ? G_VERT : G_BLANK, w->L / 2);
}

static void cli_bar(cli_wf *w, const cli_tspan *s)
{
	uint64_t B = w->B, c0, c1;
	if (w->total <= 0) {
		c0 = 0;
		c1 = B;
	} else {
		uint64_t T = (uint64_t)w->total;
		uint64_t st = s->start < 0 ? 0 : (uint64_t)s->start;
		uint64_t en = st + (s->dur < 0 ? 0 : (uint64_t)s->dur);
		c0 = st * B / T;
		c1 = (en * B + T - 1) / T;
		if (c1 > B)
			c1 = B;
		if (c0 >= B)
			c0 = B - 1;
		if (c1 <= c0)
			c1 = c0 + 1;
	}
	fputc('|', w->f);
	cli_pad(w->f, (size_t)c0);
	cli_sgr(w->f, w->o, s->error ? "31" : cli_palette[s->svc % CLI_PALETTE_N]);
	for (uint64_t i = c0; i < c1; i++)
		fputs(w->o->ascii ? "#" : "\xe2\x96\x88", w->f);
	cli_sgr0(w->f, w->o);
	cli_pad(w->f, (size_t)(B - c1));
	fputc('|', w->f);
}

static const char *cli_service_name(const cli_wf *w, uint32_t idx)
{
	const json_t *v = json_array_get(w->services, idx);
	return json_is_string(v) ? json_string_value(v) : "?";
}

static void cli_span_line(cli_wf *w, uint32_t j)
{
	const cli_tspan *s = &w->sp[j];
	FILE *f = w->f;
	const cli_fmt_opts *o = w->o;
	/* marks */
	if (s->critical) {
		cli_sgr(f, o, "1");
		fputc('*', f);
		cli_sgr0(f, o);
	} else {
		fputc(' ', f);
	}
	if (s->error) {
		cli_sgr(f, o, "1;31");
		fputc('!', f);
		cli_sgr0(f, o);
	} else {
		fputc(' ', f);
	}
	fputc(' ', f);
	/* label */
	size_t used = cli_prefix(w, s->depth, s->last ? G_ELBOW : G_TEE, w->L / 2);
	size_t avail = used < w->L ? w->L - used : 0;
	const char *svc = cli_service_name(w, s->svc);
	size_t oplen;
	const char *op = cli_js(s->j, "name", &oplen);
	size_t sc = cli_text_cols(svc, strlen(svc)), oc = cli_text_cols(op, oplen);
	size_t sbud = sc, obud = oc;
	if (sc + 1 + oc > avail) {
		/* the operation gives way first; the service keeps up to half */
		if (sc > avail / 2)
			sbud = avail / 2 ? avail / 2 : 1;
		obud = avail > sbud + 1 ? avail - sbud - 1 : 0;
	}
	cli_sgr(f, o, cli_palette[s->svc % CLI_PALETTE_N]);
	size_t c = cli_textz(f, o, svc, sbud);
	cli_sgr0(f, o);
	if (obud > 0) {
		fputc(' ', f);
		c++;
		const char *style = s->error ? (s->critical ? "1;31" : "31") : s->critical ? "1" : NULL;
		if (style)
			cli_sgr(f, o, style);
		c += cli_text(f, o, op, oplen, obud);
		if (style)
			cli_sgr0(f, o);
	}
	if (c < avail)
		cli_pad(f, avail - c);
	/* times */
	char b1[32], b2[32];
	cli_fmt_duration(s->start, o->ascii, b1, sizeof(b1));
	cli_fmt_duration(s->dur, o->ascii, b2, sizeof(b2));
	fputc(' ', f);
	cli_cell(f, o, b1, 9, true);
	fputc(' ', f);
	cli_cell(f, o, b2, 9, true);
	fputc(' ', f);
	cli_bar(w, s);
	fputc('\n', f);
}

static void cli_warn_mark(cli_wf *w)
{
	fputs(w->o->ascii ? "warning: " : "\xe2\x9a\xa0 ", w->f);
}

/* the warning line(s) under span j */
static void cli_span_warning(cli_wf *w, uint32_t j)
{
	const cli_tspan *s = &w->sp[j];
	size_t wl;
	const char *warn = cli_js(s->j, "warning", &wl);
	bool skew_said = wl && strstr(warn, "clock skew") != NULL;
	if (!wl && !s->skew)
		return;
	char text[1024];
	size_t tl = 0;
	if (wl)
		tl = (size_t)snprintf(text, sizeof(text), "%.*s", (int)(wl < 900 ? wl : 900), warn);
	if (s->skew && !skew_said) {
		char b[32];
		cli_fmt_duration(s->skew, w->o->ascii, b, sizeof(b));
		tl += (size_t)snprintf(text + tl, sizeof(text) - tl, "%sclock skew adjusted by %s%s%s",
		                       wl ? " (" : "", s->skew > 0 ? "+" : "", b, wl ? ")" : "");
	}
	fputs("   ", w->f);
	size_t used = 3 + cli_subprefix(w, j, s->has_children);
	cli_sgr(w->f, w->o, "33");
	cli_warn_mark(w);
	used += w->o->ascii ? 9 : 2;
	size_t max = w->o->wide ? CLI_NOLIMIT : (used + 10 < w->W ? w->W - used : 10);
	cli_text(w->f, w->o, text, strlen(text), max);
	cli_sgr0(w->f, w->o);
	fputc('\n', w->f);
}

/* one log line: "· +OFFSET LEVEL body" after `used` columns */
static void cli_log_tail(cli_wf *w, const cli_tlog *l, size_t used)
{
	FILE *f = w->f;
	const cli_fmt_opts *o = w->o;
	char b[32];
	cli_fmt_duration(l->t, o->ascii, b, sizeof(b));
	cli_sgr(f, o, "2");
	fputs(o->ascii ? "- " : "\xc2\xb7 ", f);
	fprintf(f, "%s%s", l->t >= 0 ? "+" : "", b);
	cli_sgr0(f, o);
	fputc(' ', f);
	used += 2 + cli_text_cols(b, strlen(b)) + (l->t >= 0) + 1;
	used += cli_severity(f, o, l->j) + 1;
	fputc(' ', f);
	size_t bl;
	const char *body = cli_js(l->j, "body", &bl);
	size_t max = o->wide ? CLI_NOLIMIT : (used + 10 < w->W ? w->W - used : 10);
	cli_text(f, o, body, bl, max);
	fputc('\n', f);
}

/* prints span p's logs with time < `before` (all when `all`) */
static void cli_flush_logs(cli_wf *w, uint32_t p, bool all, int64_t before, bool more)
{
	cli_tspan *s = &w->sp[p];
	while (s->log_at < s->log_end && (all || w->logs[s->log_at].t < before)) {
		fputs("   ", w->f);
		size_t used = 3 + cli_subprefix(w, p, more);
		cli_log_tail(w, &w->logs[s->log_at], used);
		s->log_at++;
	}
}

/* fills w->logs from the logs answer; attaches each to its span */
static ksk_err cli_wf_logs(cli_wf *w, const json_t *logs, uint64_t t0, ksk_errinfo *ei)
{
	const json_t *d = cli_data(logs, JSON_ARRAY, "trace logs", ei);
	if (!d)
		return KSK_EPARSE;
	size_t n = json_array_size(d);
	cli_sid *ids = calloc(w->n ? w->n : 1, sizeof(*ids));
	w->logs = calloc(n ? n : 1, sizeof(*w->logs));
	if (!ids || !w->logs) {
		free(ids);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < w->n; i++) {
		ids[i].id = cli_js(w->sp[i].j, "spanID", NULL);
		ids[i].pos = (uint32_t)i;
	}
	qsort(ids, w->n, sizeof(*ids), cli_sid_cmp);
	for (size_t i = 0; i < n; i++) {
		const json_t *r = json_array_get(d, i);
		if (!json_is_object(r))
			continue;
		cli_tlog *l = &w->logs[w->n_logs++];
		l->j = r;
		l->ord = i;
		l->span = (uint32_t)w->n;
		const char *sid = cli_js(r, "spanID", NULL);
		/* the last span with this ID (the server half of a shared ID) */
		size_t lo = 0, hi = w->n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (strcmp(ids[mid].id, sid) <= 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (*sid && lo > 0 && strcmp(ids[lo - 1].id, sid) == 0)
			l->span = ids[lo - 1].pos;
		int64_t ts = cli_ji(r, "timestamp", 0);
		l->t = ts - (int64_t)t0;
		if (l->span < w->n)
			l->t += w->sp[l->span].skew;
	}
	free(ids);
	qsort(w->logs, w->n_logs, sizeof(*w->logs), cli_tlog_cmp);
	for (size_t i = 0; i < w->n_logs; i++) {
		uint32_t p = w->logs[i].span;
		if (p >= w->n)
			continue;
		if (w->sp[p].log_end == 0)
			w->sp[p].log_at = i;
		w->sp[p].log_end = i + 1;
	}
	return KSK_OK;
}

static void cli_wf_header(cli_wf *w, const json_t *tr, bool with_logs, size_t errors)
{
	FILE *f = w->f;
	const cli_fmt_opts *o = w->o;
	char tb[64], db[32];
	cli_sgr(f, o, "1");
	fputs("Trace ", f);
	cli_textz(f, o, cli_js(tr, "traceID", NULL), 64);
	cli_sgr0(f, o);
	fputc('\n', f);
	cli_fmt_time((uint64_t)cli_ji(tr, "start", 0), o->utc, 6, tb, sizeof(tb));
	cli_fmt_duration(w->total, o->ascii, db, sizeof(db));
	fprintf(f, "Start %s  Duration %s  Spans %zu  Services %zu  ", tb, db, w->n,
	        json_array_size(w->services));
	if (errors)
		cli_sgr(f, o, "1;31");
	fprintf(f, "Errors %zu", errors);
	cli_sgr0(f, o);
	if (with_logs)
		fprintf(f, "  Logs %zu", w->n_logs);
	fputc('\n', f);
	const json_t *ws = json_object_get(tr, "warnings");
	for (size_t i = 0; i < json_array_size(ws); i++) {
		const json_t *s = json_array_get(ws, i);
		if (!json_is_string(s))
			continue;
		cli_sgr(f, o, "33");
		cli_warn_mark(w);
		cli_text(f, o, json_string_value(s), json_string_length(s), CLI_NOLIMIT);
		cli_sgr0(f, o);
		fputc('\n', f);
	}
	fputc('\n', f);
	/* column titles and the time scale */
	cli_sgr(f, o, "2");
	fputs("   ", f);
	cli_cell(f, o, "SERVICE OPERATION", w->L, false);
	fputc(' ', f);
	cli_cell(f, o, "START", 9, true);
	fputc(' ', f);
	cli_cell(f, o, "DURATION", 9, true);
	fputc(' ', f);
	size_t dc = cli_text_cols(db, strlen(db));
	fputs("0", f);
	if (w->B + 2 > dc + 1)
		cli_pad(f, w->B + 2 - dc - 1);
	fputs(db, f);
	cli_sgr0(f, o);
	fputc('\n', f);
}

ksk_err cli_fmt_trace(FILE *f, const json_t *trace, const json_t *logs, const cli_fmt_opts *o,
                      ksk_errinfo *ei)
{
	const json_t *d = cli_data(trace, JSON_ARRAY, "trace", ei);
	if (!d)
		return KSK_EPARSE;
	const json_t *tr = json_array_get(d, 0);
	const json_t *spans = json_object_get(tr, "spans");
	if (!json_is_object(tr) || !json_is_array(spans))
		return ksk_errinfo_set(ei, KSK_EPARSE, "trace: data[0] is not a compact trace (ask "
		                                       "with format=compact)");
	cli_wf w;
	memset(&w, 0, sizeof(w));
	w.f = f;
	w.o = o;
	w.W = o->width < 40 ? 40 : o->width;
	w.B = w.W * 3 / 10 < 10 ? 10 : w.W * 3 / 10;
	w.L = w.W > w.B + 26 + 16 ? w.W - w.B - 26 : 16;
	w.services = json_object_get(tr, "services");
	w.total = cli_ji(tr, "duration", 0);
	w.n = json_array_size(spans);
	w.sp = calloc(w.n ? w.n : 1, sizeof(*w.sp));
	w.stk = calloc(w.n + 1, sizeof(*w.stk));
	if (!w.sp || !w.stk) {
		free(w.sp);
		free(w.stk);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	}
	size_t errors = 0;
	for (size_t i = 0; i < w.n; i++) {
		cli_tspan *s = &w.sp[i];
		s->j = json_array_get(spans, i);
		int64_t p = cli_ji(s->j, "parent", -1);
		s->parent = (p >= 0 && (size_t)p < i) ? (int32_t)p : -1; /* parents come first */
		s->depth = s->parent < 0 ? 0 : w.sp[s->parent].depth + 1;
		int64_t sv = cli_ji(s->j, "service", 0);
		s->svc = sv >= 0 && (size_t)sv < json_array_size(w.services) ? (uint32_t)sv : 0;
		s->start = cli_ji(s->j, "start", 0);
		s->dur = cli_ji(s->j, "duration", 0);
		s->skew = cli_ji(s->j, "skew", 0);
		s->error = cli_jb(s->j, "error");
		s->critical = cli_jb(s->j, "critical");
		errors += s->error;
		if (s->parent >= 0)
			w.sp[s->parent].has_children = true;
	}
	/* last child: the last position naming each parent */
	{
		int32_t *lastc = calloc(w.n ? w.n : 1, sizeof(*lastc));
		if (!lastc) {
			free(w.sp);
			free(w.stk);
			return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
		}
		for (size_t i = 0; i < w.n; i++)
			lastc[i] = -1;
		for (size_t i = 0; i < w.n; i++)
			if (w.sp[i].parent >= 0)
				lastc[w.sp[i].parent] = (int32_t)i;
		for (size_t i = 0; i < w.n; i++)
			w.sp[i].last = w.sp[i].parent < 0 || lastc[w.sp[i].parent] == (int32_t)i;
		free(lastc);
	}
	ksk_err rc = KSK_OK;
	if (logs)
		rc = cli_wf_logs(&w, logs, (uint64_t)cli_ji(tr, "start", 0), ei);
	if (rc != KSK_OK) {
		free(w.sp);
		free(w.stk);
		free(w.logs);
		return rc;
	}
	cli_wf_header(&w, tr, logs != NULL, errors);
	/* the spans, depth-first, with the open ancestors on a stack */
	uint32_t top = 0; /* entries on the stack */
	for (size_t i = 0; i < w.n; i++) {
		cli_tspan *s = &w.sp[i];
		while (top > s->depth) {
			top--;
			cli_flush_logs(&w, w.stk[top], true, 0, false);
		}
		if (top > 0)
			cli_flush_logs(&w, w.stk[top - 1], false, s->start, true);
		w.stk[s->depth] = (uint32_t)i;
		top = s->depth + 1;
		cli_span_line(&w, (uint32_t)i);
		cli_span_warning(&w, (uint32_t)i);
	}
	while (top > 0) {
		top--;
		cli_flush_logs(&w, w.stk[top], true, 0, false);
	}
	/* logs that name no span of the trace */
	size_t first_free = w.n_logs;
	for (size_t i = 0; i < w.n_logs; i++)
		if (w.logs[i].span >= w.n) {
			first_free = i;
			break;
		}
	if (first_free < w.n_logs) {
		fputc('\n', f);
		cli_sgr(f, o, "2");
		fputs("Logs of no span in this trace:\n", f);
		cli_sgr0(f, o);
		for (size_t i = first_free; i < w.n_logs; i++) {
			fputs("   ", f);
			cli_log_tail(&w, &w.logs[i], 3);
		}
	}
	cli_sgr(f, o, "2");
	fputs("\n* critical path   ! error\n", f);
	cli_sgr0(f, o);
	free(w.sp);
	free(w.stk);
	free(w.logs);
	return KSK_OK;
}

/* ---- search ------------------------------------------------------------------------------ */

ksk_err cli_fmt_search(FILE *f, const json_t *ans, const cli_fmt_opts *o, ksk_errinfo *ei)
{
	const json_t *d = cli_data(ans, JSON_ARRAY, "search", ei);
	if (!d)
		return KSK_EPARSE;
	size_t n = json_array_size(d);
	if (n == 0)
		return KSK_OK;
	unsigned W = o->width < 40 ? 40 : o->width;
	/* 32 + 2 + 19 + 2 + 9 + 2 + 5 + 2 + 6 + 2 columns before ROOT */
	size_t fixed = 81, root_w = W > fixed + 12 ? W - fixed : 12;
	cli_sgr(f, o, "1");
	cli_cell(f, o, "TRACE ID", 32, false);
	fputs("  ", f);
	cli_cell(f, o, "START", 19, false);
	fputs("  ", f);
	cli_cell(f, o, "DURATION", 9, true);
	fputs("  ", f);
	cli_cell(f, o, "SPANS", 5, true);
	fputs("  ", f);
	cli_cell(f, o, "ERRORS", 6, true);
	fputs("  ROOT", f);
	cli_sgr0(f, o);
	fputc('\n', f);
	for (size_t i = 0; i < n; i++) {
		const json_t *r = json_array_get(d, i);
		char tb[64], db[32], nb[32];
		cli_cell(f, o, cli_js(r, "traceID", NULL), 32, false);
		fputs("  ", f);
		cli_fmt_time((uint64_t)cli_ji(r, "start", 0), o->utc, 0, tb, sizeof(tb));
		cli_cell(f, o, tb, 19, false);
		fputs("  ", f);
		cli_fmt_duration(cli_ji(r, "duration", 0), o->ascii, db, sizeof(db));
		cli_cell(f, o, db, 9, true);
		fputs("  ", f);
		snprintf(nb, sizeof(nb), "%lld", (long long)cli_ji(r, "spans", 0));
		cli_cell(f, o, nb, 5, true);
		fputs("  ", f);
		int64_t errs = cli_ji(r, "errors", 0);
		snprintf(nb, sizeof(nb), "%lld", (long long)errs);
		if (errs > 0)
			cli_sgr(f, o, "1;31");
		cli_cell(f, o, nb, 6, true);
		if (errs > 0)
			cli_sgr0(f, o);
		fputs("  ", f);
		size_t sl, nl;
		const char *svc = cli_js(r, "rootService", &sl);
		const char *name = cli_js(r, "rootName", &nl);
		size_t max = o->wide ? CLI_NOLIMIT : root_w;
		size_t c = 0;
		if (sl) {
			cli_sgr(f, o, "36");
			c = cli_text(f, o, svc, sl, max);
			cli_sgr0(f, o);
		}
		if (sl && nl && c == cli_text_cols(svc, sl) && (o->wide || c + 2 < max)) {
			fputs(": ", f);
			c += 2;
		}
		if (nl && (o->wide || c < max))
			cli_text(f, o, name, nl, o->wide ? CLI_NOLIMIT : max - c);
		if (!sl && !nl)
			fputc('-', f);
		fputc('\n', f);
	}
	return KSK_OK;
}

/* ---- logs --------------------------------------------------------------------------------- */

void cli_fmt_log_line(FILE *f, const json_t *rec, const cli_fmt_opts *o)
{
	char tb[64];
	cli_fmt_time((uint64_t)cli_ji(rec, "timestamp", 0), o->utc, 3, tb, sizeof(tb));
	cli_sgr(f, o, "2");
	fputs(tb, f);
	cli_sgr0(f, o);
	fputc(' ', f);
	cli_severity(f, o, rec);
	fputc(' ', f);
	size_t sl, hl, bl;
	const char *svc = cli_js(rec, "service", &sl);
	const char *host = cli_js(rec, "host", &hl);
	const char *body = cli_js(rec, "body", &bl);
	cli_sgr(f, o, "36");
	if (sl)
		cli_text(f, o, svc, sl, CLI_NOLIMIT);
	else
		fputc('-', f);
	cli_sgr0(f, o);
	fputc(' ', f);
	if (hl)
		cli_text(f, o, host, hl, CLI_NOLIMIT);
	else
		fputc('-', f);
	fputc(' ', f);
	cli_text(f, o, body, bl, CLI_NOLIMIT);
	size_t tl;
	const char *tid = cli_js(rec, "traceID", &tl);
	if (tl) {
		fputc(' ', f);
		cli_sgr(f, o, "2");
		fputs("trace=", f);
		cli_text(f, o, tid, tl, 64);
		cli_sgr0(f, o);
	}
	fputc('\n', f);
}

typedef struct cli_lref {
	const json_t *j;
	int64_t t;
	size_t ord;
} cli_lref;

static int cli_lref_cmp(const void *a, const void *b)
{
	const cli_lref *x = a, *y = b;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

ksk_err cli_fmt_logs(FILE *f, const json_t *ans, const cli_fmt_opts *o, ksk_errinfo *ei)
{
	const json_t *d = cli_data(ans, JSON_ARRAY, "logs", ei);
	if (!d)
		return KSK_EPARSE;
	size_t n = json_array_size(d);
	cli_lref *v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		v[i].j = json_array_get(d, i);
		v[i].t = cli_ji(v[i].j, "timestamp", 0);
		v[i].ord = n - 1 - i; /* newest first -> oldest first */
	}
	qsort(v, n, sizeof(*v), cli_lref_cmp);
	for (size_t i = 0; i < n; i++)
		cli_fmt_log_line(f, v[i].j, o);
	free(v);
	return KSK_OK;
}

/* ---- services and dependencies ------------------------------------------------------------ */

ksk_err cli_fmt_services(FILE *f, const json_t *ans, const cli_fmt_opts *o, ksk_errinfo *ei)
{
	const json_t *d = cli_data(ans, JSON_ARRAY, "services", ei);
	if (!d)
		return KSK_EPARSE;
	for (size_t i = 0; i < json_array_size(d); i++) {
		const json_t *s = json_array_get(d, i);
		if (!json_is_string(s))
			continue;
		cli_text(f, o, json_string_value(s), json_string_length(s), CLI_NOLIMIT);
		fputc('\n', f);
	}
	return KSK_OK;
}

typedef struct cli_edge {
	const char *parent, *child;
	int64_t calls, errors, avg;
} cli_edge;

static int cli_edge_cmp(const void *a, const void *b)
{
	const cli_edge *x = a, *y = b;
	int c = strcmp(x->parent, y->parent);
	return c ? c : strcmp(x->child, y->child);
}

ksk_err cli_fmt_deps(FILE *f, const json_t *ans, const cli_fmt_opts *o, ksk_errinfo *ei)
{
	const json_t *d = cli_data(ans, JSON_ARRAY, "dependencies", ei);
	if (!d)
		return KSK_EPARSE;
	size_t n = json_array_size(d);
	cli_edge *e = calloc(n ? n : 1, sizeof(*e));
	if (!e)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const json_t *r = json_array_get(d, i);
		e[i].parent = cli_js(r, "parent", NULL);
		e[i].child = cli_js(r, "child", NULL);
		e[i].calls = cli_ji(r, "callCount", 0);
		e[i].errors = cli_ji(r, "errorCount", 0);
		e[i].avg = cli_ji(r, "avgDurationMicros", -1);
	}
	qsort(e, n, sizeof(*e), cli_edge_cmp);
	for (size_t i = 0; i < n;) {
		size_t end = i;
		size_t namew = 0, callw = 0;
		while (end < n && strcmp(e[end].parent, e[i].parent) == 0) {
			size_t c = cli_text_cols(e[end].child, strlen(e[end].child));
			char nb[32];
			size_t cw = (size_t)snprintf(nb, sizeof(nb), "%lld", (long long)e[end].calls);
			namew = c > namew ? c : namew;
			callw = cw > callw ? cw : callw;
			end++;
		}
		cli_sgr(f, o, "1;36");
		cli_textz(f, o, e[i].parent, CLI_NOLIMIT);
		cli_sgr0(f, o);
		fputc('\n', f);
		for (size_t k = i; k < end; k++) {
			bool last = k + 1 == end;
			cli_sgr(f, o, "2");
			fputs(o->ascii ? (last ? "`- " : "|- ")
			               : (last ? "\xe2\x94\x94\xe2\x94\x80 " : "\xe2\x94\x9c\xe2\x94\x80 "),
			      f);
			cli_sgr0(f, o);
			cli_sgr(f, o, "36");
			size_t c = cli_textz(f, o, e[k].child, CLI_NOLIMIT);
			cli_sgr0(f, o);
			cli_pad(f, namew - c + 2);
			char nb[32];
			int cw = snprintf(nb, sizeof(nb), "%lld", (long long)e[k].calls);
			cli_pad(f, callw - (size_t)cw);
			fprintf(f, "%s call%s", nb, e[k].calls == 1 ? "" : "s");
			if (e[k].avg >= 0) {
				char db[32];
				cli_fmt_duration(e[k].avg, o->ascii, db, sizeof(db));
				fputs(e[k].calls == 1 ? "   avg " : "  avg ", f);
				cli_cell(f, o, db, 9, true);
			}
			if (e[k].errors > 0) {
				cli_sgr(f, o, "1;31");
				fprintf(f, "  %lld error%s", (long long)e[k].errors,
				        e[k].errors == 1 ? "" : "s");
				cli_sgr0(f, o);
			}
			fputc('\n', f);
		}
		i = end;
	}
	free(e);
	return KSK_OK;
}
