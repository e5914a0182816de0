/*
 * test_cli_format.c : the `kiseki` CLI without a server: golden tests of
 * the text formatting (query/cli/cli_format.h) and unit tests of the
 * command line (cli_opts.h).
 *
 * Golden tests: fixed answers in tests/data/cli/ (NAME.json) are rendered with
 * fixed options and compared byte for byte with the NAME.txt beside it. A
 * mismatch prints the first differing line. TZ is set to UTC, so the
 * "local" times are the same everywhere. To re-create the expected files
 * after a deliberate change, run with KSK_UPDATE_GOLDEN=1 and review the
 * diff (git diff tests/data/cli) before committing it.
 *
 * Covered: a trace with nesting, errors, the critical path, a skewed span
 * with its warning, an orphan's warning, a cut label, logs interleaved
 * under their spans (before a later child, after the subtree, skew-shifted,
 * escaped), logs of no span; colour on and off; ASCII glyphs at a narrow
 * width; the search table; log lines oldest first; the dependency graph;
 * the service list. Also: a 5000-deep chain stays within the width, bad
 * answers are errors (not crashes), option parsing and its messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_format.h"
#include "cli_opts.h"

#ifndef CLI_DATA_DIR
#error CLI_DATA_DIR must name tests/data/cli
#endif

/* ---- helpers ---------------------------------------------------------------------------- */

static json_t *load(const char *name)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", CLI_DATA_DIR, name);
	json_error_t e;
	json_t *j = json_load_file(path, 0, &e);
	if (!j)
		fail_msg("%s: %s (line %d)", path, e.text, e.line);
	return j;
}

typedef struct out {
	char *buf;
	size_t len;
	FILE *f;
} out;

static void out_open(out *o)
{
	memset(o, 0, sizeof(*o));
	o->f = open_memstream(&o->buf, &o->len);
	assert_non_null(o->f);
}

static void out_close(out *o)
{
	assert_int_equal(fclose(o->f), 0);
	o->f = NULL;
}

/* compares `got` with tests/data/cli/<name> (or writes it, when asked) */
static void golden(const char *name, const char *got, size_t len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", CLI_DATA_DIR, name);
	const char *upd = getenv("KSK_UPDATE_GOLDEN");
	if (upd && *upd && strcmp(upd, "0") != 0) {
		FILE *f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(got, 1, len, f), len);
		fclose(f);
		fprintf(stderr, "updated %s\n", path);
		return;
	}
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("%s: missing (run with KSK_UPDATE_GOLDEN=1 to create it)", path);
	char *want = malloc(1 << 20);
	size_t wl = fread(want, 1, 1 << 20, f);
	fclose(f);
	if (wl == len && memcmp(want, got, len) == 0) {
		free(want);
		return;
	}
	/* the first differing line, both ways */
	size_t i = 0, line = 1, ls = 0;
	while (i < wl && i < len && want[i] == got[i]) {
		if (got[i] == '\n') {
			line++;
			ls = i + 1;
		}
		i++;
	}
	const char *we = memchr(want + ls, '\n', wl - ls);
	const char *ge = memchr(got + ls, '\n', len - ls);
	int wn = (int)(we ? (size_t)(we - want) - ls : wl - ls);
	int gn = (int)(ge ? (size_t)(ge - got) - ls : len - ls);
	fprintf(stderr, "---- %s differs at line %zu (byte %zu)\nwant: %.*s\ngot:  %.*s\n"
	                "---- whole output:\n%.*s----\n",
	        name, line, i, wn, want + ls, gn, got + ls, (int)len, got);
	free(want);
	fail_msg("%s: output differs from the golden file (line %zu)", name, line);
}

static cli_fmt_opts plain(unsigned width)
{
	cli_fmt_opts o = {.width = width, .color = false, .ascii = false, .utc = false,
	                  .wide = false};
	return o;
}

static int setup_tz(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

/* the display width of one line (code points; ESC sequences skipped) */
static size_t line_cols(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char b = (unsigned char)s[i];
		if (b == 0x1b) {
			while (i < n && s[i] != 'm')
				i++;
			continue;
		}
		if ((b & 0xc0) != 0x80)
			c++;
	}
	return c;
}

/* ---- golden: trace ------------------------------------------------------------------------ */

static void render_trace(const cli_fmt_opts *o, bool with_logs, out *r)
{
	json_t *t = load("trace.json");
	json_t *l = with_logs ? load("trace_logs.json") : NULL;
	out_open(r);
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	assert_int_equal(cli_fmt_trace(r->f, t, l, o, &ei), KSK_OK);
	out_close(r);
	json_decref(t);
	json_decref(l);
}

static void test_trace_plain(void **state)
{
	(void)state;
	cli_fmt_opts o = plain(100);
	out r;
	render_trace(&o, true, &r);
	golden("trace.txt", r.buf, r.len);
	/* no escape byte reaches the output, even from a log body holding one */
	assert_null(memchr(r.buf, 0x1b, r.len));
	assert_non_null(strstr(r.buf, "\\x1b[31m escape attempt"));
	/* every span line fits the width (logs are cut to it too) */
	for (char *p = r.buf; *p;) {
		char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (line_cols(p, n) > 100)
			fail_msg("line over 100 columns: %.*s", (int)n, p);
		p += n + (e != NULL);
	}
	free(r.buf);
}

static void test_trace_color(void **state)
{
	(void)state;
	cli_fmt_opts o = plain(100);
	o.color = true;
	out r;
	render_trace(&o, true, &r);
	golden("trace_color.txt", r.buf, r.len);
	/* the error span in red, the critical path in bold */
	assert_non_null(strstr(r.buf, "\x1b[1;31m!\x1b[0m"));
	assert_non_null(strstr(r.buf, "\x1b[1m*\x1b[0m"));
	free(r.buf);
}

static void test_trace_ascii_narrow_wide(void **state)
{
	(void)state;
	cli_fmt_opts o = plain(72);
	o.ascii = true;
	o.wide = true;
	out r;
	render_trace(&o, true, &r);
	golden("trace_ascii.txt", r.buf, r.len);
	for (size_t i = 0; i < r.len; i++)
		if ((unsigned char)r.buf[i] >= 0x80)
			fail_msg("non-ASCII byte at %zu in ASCII mode", i);
	/* --wide: the long log body is whole */
	assert_non_null(strstr(r.buf, "with an error banner for the user"));
	free(r.buf);
}

static void test_trace_no_logs(void **state)
{
	(void)state;
	cli_fmt_opts o = plain(100);
	out r;
	render_trace(&o, false, &r);
	golden("trace_nologs.txt", r.buf, r.len);
	assert_null(strstr(r.buf, "Logs "));
	free(r.buf);
}

/* ---- golden: search, logs, deps, services ------------------------------------------------- */

typedef ksk_err (*fmt_fn)(FILE *, const json_t *, const cli_fmt_opts *, ksk_errinfo *);

static void render_simple(const char *in, fmt_fn fn, const cli_fmt_opts *o, const char *want)
{
	json_t *j = load(in);
	out r;
	out_open(&r);
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	assert_int_equal(fn(r.f, j, o, &ei), KSK_OK);
	out_close(&r);
	golden(want, r.buf, r.len);
	if (!o->color)
		assert_null(memchr(r.buf, 0x1b, r.len));
	free(r.buf);
	json_decref(j);
}

static void test_search(void **state)
{
	(void)state;
	cli_fmt_opts o = plain(100);
	render_simple("search.json", cli_fmt_search, &o, "search.txt");
	o.wide = true;
	o.color = true;
	render_simple("search.json", cli_fmt_search, &o, "search_wide_color.txt");
}

static void test_logs(void **state)
{
	(void)state;
	cli_fmt_opts o = plain(100);
	render_simple("logs.json", cli_fmt_logs, &o, "logs.txt");
	o.color = true;
	render_simple("logs.json", cli_fmt_logs, &o, "logs_color.txt");
}

static void test_deps(void **state)
{
	(void)state;
	cli_fmt_opts o = plain(100);
	render_simple("deps.json", cli_fmt_deps, &o, "deps.txt");
	o.ascii = true;
	render_simple("deps.json", cli_fmt_deps, &o, "deps_ascii.txt");
}

static void test_services(void **state)
{
	(void)state;
	cli_fmt_opts o = plain(100);
	render_simple("services.json", cli_fmt_services, &o, "services.txt");
}

/* ---- robustness --------------------------------------------------------------------------- */

/* a chain of n spans, each the child of the one before */
static json_t *chain(size_t n)
{
	json_t *spans = json_array();
	for (size_t i = 0; i < n; i++) {
		char id[17];
		snprintf(id, sizeof(id), "%016zx", i + 1);
		json_t *s = json_pack("{s:s, s:I, s:I, s:i, s:s, s:s, s:I, s:I, s:I, s:b, s:b}",
		                      "spanID", id, "parent", (json_int_t)i - 1, "depth",
		                      (json_int_t)i, "service", 0, "name", "step", "kind", "internal",
		                      "start", (json_int_t)i, "duration", (json_int_t)(n - i), "self",
		                      (json_int_t)1, "error", 0, "critical", 1);
		json_array_append_new(spans, s);
	}
	json_t *tr = json_pack("{s:s, s:I, s:I, s:I, s:[s], s:[], s:o}", "traceID",
	                       "0123456789abcdef0123456789abcdef", "start", (json_int_t)1795946400000000,
	                       "duration", (json_int_t)n, "spanCount", (json_int_t)n, "services",
	                       "svc", "warnings", "spans", spans);
	return json_pack("{s:[o], s:i, s:i, s:i, s:n}", "data", tr, "total", 1, "limit", 0,
	                 "offset", 0, "errors");
}

static void test_deep_chain(void **state)
{
	(void)state;
	json_t *t = chain(5000);
	assert_non_null(t);
	cli_fmt_opts o = plain(100);
	out r;
	out_open(&r);
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	assert_int_equal(cli_fmt_trace(r.f, t, NULL, &o, &ei), KSK_OK);
	out_close(&r);
	size_t lines = 0, spans = 0;
	for (char *p = r.buf; *p;) {
		char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (line_cols(p, n) > 100)
			fail_msg("line %zu over 100 columns: %.*s", lines + 1, (int)n, p);
		if (n > 3 && memmem(p, n, "step", 4))
			spans++;
		lines++;
		p += n + (e != NULL);
	}
	assert_int_equal(spans, 5000);
	/* the last span is drawn with the cut marker before its last levels */
	assert_non_null(strstr(r.buf, "\xe2\x80\xa6"));
	free(r.buf);
	json_decref(t);
}

static void test_bad_answers(void **state)
{
	(void)state;
	const char *bad[] = {
		"{\"data\":null,\"total\":0,\"limit\":0,\"offset\":0,\"errors\":[{\"code\":404,"
		"\"msg\":\"trace not found\"}]}",
		"{\"data\":[]}",
		"{\"data\":[{\"traceID\":\"ab\"}]}",
		"[1,2,3]",
	};
	cli_fmt_opts o = plain(80);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = json_loads(bad[i], 0, NULL);
		assert_non_null(j);
		out r;
		out_open(&r);
		ksk_errinfo ei;
		ksk_errinfo_clear(&ei);
		assert_int_equal(cli_fmt_trace(r.f, j, NULL, &o, &ei), KSK_EPARSE);
		assert_true(strlen(ei.msg) > 0);
		assert_int_equal(cli_fmt_search(r.f, j, &o, &ei),
		                 i == 1 ? KSK_OK : i == 2 ? KSK_OK : KSK_EPARSE);
		out_close(&r);
		free(r.buf);
		json_decref(j);
	}
	/* parents that do not come first, unknown services: drawn as roots */
	json_t *j = json_loads(
		"{\"data\":[{\"traceID\":\"ab\",\"start\":0,\"duration\":10,\"services\":[\"a\"],"
		"\"spans\":[{\"spanID\":\"01\",\"parent\":1,\"service\":7,\"name\":\"x\",\"start\":0,"
		"\"duration\":10},{\"spanID\":\"02\",\"parent\":-5,\"name\":\"y\",\"start\":20,"
		"\"duration\":0}]}]}",
		0, NULL);
	assert_non_null(j);
	out r;
	out_open(&r);
	ksk_errinfo ei;
	assert_int_equal(cli_fmt_trace(r.f, j, NULL, &o, &ei), KSK_OK);
	out_close(&r);
	assert_non_null(strstr(r.buf, "a x"));
	assert_non_null(strstr(r.buf, "a y"));
	free(r.buf);
	json_decref(j);
	/* the error message of an envelope */
	j = json_loads(bad[0], 0, NULL);
	assert_string_equal(cli_answer_error(j), "trace not found");
	json_decref(j);
}

static void test_durations_and_times(void **state)
{
	(void)state;
	static const struct {
		int64_t us;
		const char *want;
	} v[] = {{0, "0\xc2\xb5s"}, {999, "999\xc2\xb5s"}, {1000, "1.00ms"}, {20951, "20.95ms"},
	         {999999, "999.99ms"}, {1520000, "1.52s"}, {59999999, "59.99s"},
	         {123000000, "2m03s"}, {3900000000, "1h05m"}, {-12000, "-12.00ms"},
	         {INT64_MIN, "-2562047788h00m"}};
	char b[64];
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		cli_fmt_duration(v[i].us, false, b, sizeof(b));
		assert_string_equal(b, v[i].want);
	}
	cli_fmt_duration(850, true, b, sizeof(b));
	assert_string_equal(b, "850us");
	cli_fmt_time(1795946400123456ull, true, 3, b, sizeof(b));
	assert_string_equal(b, "2026-11-29 10:00:00.123");
	cli_fmt_time(1795946400123456ull, true, 6, b, sizeof(b));
	assert_string_equal(b, "2026-11-29 10:00:00.123456");
	setenv("TZ", "Asia/Tokyo", 1);
	tzset();
	cli_fmt_time(1795946400123456ull, false, 0, b, sizeof(b));
	setenv("TZ", "UTC", 1);
	tzset();
	/* with zone data installed the local time moves; without, it is UTC */
	assert_true(strcmp(b, "2026-11-29 19:00:00") == 0 || strcmp(b, "2026-11-29 10:00:00") == 0);
}

/* ---- options ------------------------------------------------------------------------------ */

#define NOW_US 1795946400000000ull

static ksk_err parse(cli_args *a, ksk_errinfo *ei, const char *env, int n, ...)
{
	char *argv[40];
	argv[0] = "kiseki";
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		argv[i + 1] = va_arg(ap, char *);
	va_end(ap);
	argv[n + 1] = NULL;
	ksk_errinfo_clear(ei);
	return cli_args_parse(n + 1, argv, env, NOW_US, a, ei);
}

static void test_opts_ok(void **state)
{
	(void)state;
	cli_args a;
	ksk_errinfo ei;
	assert_int_equal(parse(&a, &ei, NULL, 2, "trace", "4BF92F3577B34DA6A3CE929D0E0E4736"),
	                 KSK_OK);
	assert_int_equal(a.cmd, CLI_CMD_TRACE);
	assert_string_equal(a.server, CLI_DEFAULT_SERVER);
	assert_string_equal(a.trace_id, "4BF92F3577B34DA6A3CE929D0E0E4736");
	assert_int_equal(a.timeout_ms, 30000);
	/* options before and after the command, both spellings, env server */
	assert_int_equal(parse(&a, &ei, "http://env:1", 12, "--color=always", "search", "--service",
	                       "api", "--tag", "http.status_code=500", "--tag=a=b=c",
	                       "--min-duration", "1.5s", "-n20", "--since", "2h"),
	                 KSK_OK);
	assert_int_equal(a.cmd, CLI_CMD_SEARCH);
	assert_string_equal(a.server, "http://env:1");
	assert_int_equal(a.color, CLI_COLOR_ALWAYS);
	assert_string_equal(a.service, "api");
	assert_int_equal(a.n_tags, 2);
	assert_string_equal(a.tags[1], "a=b=c");
	assert_int_equal(a.min_dur_ns, 1500000000ull);
	assert_true(a.has_limit);
	assert_int_equal(a.limit, 20);
	assert_true(a.has_since);
	assert_int_equal(a.since_us, NOW_US - 7200000000ull);
	assert_int_equal(parse(&a, &ei, "http://env:1", 4, "--server", "http://x:2", "logs", "-f"),
	                 KSK_OK);
	assert_string_equal(a.server, "http://x:2");
	assert_true(a.follow);
	assert_int_equal(parse(&a, &ei, NULL, 6, "logs", "--level", "warn", "--since",
	                       "2026-11-29T09:00:00Z", "--utc"),
	                 KSK_OK);
	assert_int_equal(a.since_us, NOW_US - 3600000000ull);
	assert_int_equal(parse(&a, &ei, NULL, 4, "logs", "--until", "2026-11-29 10:30", "--utc"),
	                 KSK_OK);
	assert_int_equal(a.until_us, NOW_US + 1800000000ull);
	assert_int_equal(parse(&a, &ei, NULL, 3, "deps", "--since", "2026-11-29T11:00:00+02:00"),
	                 KSK_OK);
	assert_int_equal(a.since_us, NOW_US - 3600000000ull);
	/* help wins */
	assert_int_equal(parse(&a, &ei, NULL, 3, "search", "--bogus-but-later", "-h"), KSK_EINVAL);
	assert_int_equal(parse(&a, &ei, NULL, 2, "search", "--help"), KSK_OK);
	assert_true(a.help);
	assert_int_equal(parse(&a, &ei, NULL, 1, "help"), KSK_OK);
	assert_true(a.help);
	assert_int_equal(parse(&a, &ei, NULL, 1, "-h"), KSK_OK);
	assert_true(a.help);
	assert_non_null(strstr(cli_usage(), "Exit status"));
}

static void expect_usage(const char *needle, ksk_err rc, const ksk_errinfo *ei)
{
	assert_int_equal(rc, KSK_EINVAL);
	if (!strstr(ei->msg, needle))
		fail_msg("message '%s' does not name '%s'", ei->msg, needle);
}

static void test_opts_errors(void **state)
{
	(void)state;
	cli_args a;
	ksk_errinfo ei;
	ksk_err rc;
	rc = parse(&a, &ei, NULL, 2, "search", "--frobnicate");
	expect_usage("--frobnicate", rc, &ei);
	rc = parse(&a, &ei, NULL, 3, "search", "--host", "h");
	expect_usage("--host", rc, &ei);
	rc = parse(&a, &ei, NULL, 3, "search", "--limit", "0");
	expect_usage("--limit", rc, &ei);
	rc = parse(&a, &ei, NULL, 3, "search", "-n", "1501");
	expect_usage("-n", rc, &ei);
	rc = parse(&a, &ei, NULL, 3, "logs", "--limit", "100001");
	expect_usage("--limit", rc, &ei);
	rc = parse(&a, &ei, NULL, 2, "search", "--limit");
	expect_usage("--limit", rc, &ei);
	rc = parse(&a, &ei, NULL, 3, "search", "--tag", "novalue");
	expect_usage("--tag", rc, &ei);
	rc = parse(&a, &ei, NULL, 3, "search", "--min-duration", "fast");
	expect_usage("--min-duration", rc, &ei);
	rc = parse(&a, &ei, NULL, 5, "search", "--min-duration", "2s", "--max-duration", "1s");
	expect_usage("--min-duration", rc, &ei);
	rc = parse(&a, &ei, NULL, 3, "logs", "--level", "loud");
	expect_usage("--level", rc, &ei);
	rc = parse(&a, &ei, NULL, 3, "logs", "--trace", "xyz");
	expect_usage("--trace", rc, &ei);
	rc = parse(&a, &ei, NULL, 3, "logs", "--since", "yesterday");
	expect_usage("--since", rc, &ei);
	rc = parse(&a, &ei, NULL, 5, "logs", "--since", "1h", "--until", "2h");
	expect_usage("--since", rc, &ei);
	rc = parse(&a, &ei, NULL, 4, "logs", "-f", "--until", "1m");
	expect_usage("--until", rc, &ei);
	rc = parse(&a, &ei, NULL, 2, "services", "--color=purple");
	expect_usage("--color", rc, &ei);
	rc = parse(&a, &ei, NULL, 2, "services", "--json=yes");
	expect_usage("--json", rc, &ei);
	rc = parse(&a, &ei, NULL, 3, "services", "--server", "ftp://x");
	expect_usage("--server", rc, &ei);
	rc = parse(&a, &ei, NULL, 3, "services", "--timeout", "0s");
	expect_usage("--timeout", rc, &ei);
	rc = parse(&a, &ei, NULL, 1, "trace");
	expect_usage("trace ID", rc, &ei);
	rc = parse(&a, &ei, NULL, 2, "trace", "not-hex");
	expect_usage("not-hex", rc, &ei);
	rc = parse(&a, &ei, NULL, 2, "trace", "000");
	expect_usage("000", rc, &ei);
	rc = parse(&a, &ei, NULL, 2, "trace", "0123456789abcdef0123456789abcdef0");
	expect_usage("0123456789abcdef0123456789abcdef0", rc, &ei);
	rc = parse(&a, &ei, NULL, 3, "trace", "ab", "extra");
	expect_usage("extra", rc, &ei);
	rc = parse(&a, &ei, NULL, 1, "tracez");
	expect_usage("tracez", rc, &ei);
	rc = parse(&a, &ei, NULL, 1, "--json");
	expect_usage("no command", rc, &ei);
	rc = parse(&a, &ei, NULL, 2, "logs", "-fx");
	expect_usage("-fx", rc, &ei);
}

static void test_parse_values(void **state)
{
	(void)state;
	uint64_t ns, us;
	assert_int_equal(cli_parse_dur("1h30m", &ns), KSK_OK);
	assert_int_equal(ns, 5400000000000ull);
	assert_int_equal(cli_parse_dur("250\xc2\xb5s", &ns), KSK_OK);
	assert_int_equal(ns, 250000ull);
	assert_int_equal(cli_parse_dur("", &ns), KSK_EINVAL);
	assert_int_equal(cli_parse_dur("-1s", &ns), KSK_EINVAL);
	assert_int_equal(cli_parse_time("15m", NOW_US, false, &us), KSK_OK);
	assert_int_equal(us, NOW_US - 900000000ull);
	assert_int_equal(cli_parse_time("2026-11-29T10:00:00.5Z", NOW_US, false, &us), KSK_OK);
	assert_int_equal(us, NOW_US + 500000ull);
	assert_int_equal(cli_parse_time("2026-11-29T10:00:00-0130", NOW_US, false, &us), KSK_OK);
	assert_int_equal(us, NOW_US + 5400000000ull);
	assert_int_equal(cli_parse_time("2026-11-29", NOW_US, true, &us), KSK_OK);
	assert_int_equal(us, NOW_US - 36000000000ull);
	assert_int_equal(cli_parse_time("2026-13-01", NOW_US, true, &us), KSK_EINVAL);
	assert_int_equal(cli_parse_time("2026-11-29T25:00", NOW_US, true, &us), KSK_EINVAL);
	assert_int_equal(cli_parse_time("2026-11-29T10:00Zjunk", NOW_US, true, &us), KSK_EINVAL);
	assert_true(cli_trace_id_ok("abc"));
	assert_true(cli_trace_id_ok("4BF92F3577B34DA6A3CE929D0E0E4736"));
	assert_false(cli_trace_id_ok(""));
	assert_false(cli_trace_id_ok("0000"));
	assert_false(cli_trace_id_ok("g1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trace_plain),
		cmocka_unit_test(test_trace_color),
		cmocka_unit_test(test_trace_ascii_narrow_wide),
		cmocka_unit_test(test_trace_no_logs),
		cmocka_unit_test(test_search),
		cmocka_unit_test(test_logs),
		cmocka_unit_test(test_deps),
		cmocka_unit_test(test_services),
		cmocka_unit_test(test_deep_chain),
		cmocka_unit_test(test_bad_answers),
		cmocka_unit_test(test_durations_and_times),
		cmocka_unit_test(test_opts_ok),
		cmocka_unit_test(test_opts_errors),
		cmocka_unit_test(test_parse_values),
	};
	return cmocka_run_group_tests(tests, setup_tz, NULL);
}
