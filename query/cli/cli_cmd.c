/*
 * cli_cmd.c : the commands of `kiseki` (cli_cmd.h).
 *
 * Data in: cli_args and a cli_env. Data out: text or JSON on env->out,
 * messages on env->err, an exit code.
 *
 * Each command is: parameters -> cli_fetch() (GET, status and envelope
 * checks, JSON parse) -> cli_format (or the raw JSON). Exit codes: a 404 on
 * a trace is 1; any other non-200 status or a transport failure is 3, with
 * the status and the server's errors[0].msg; errors listed in a 200 answer
 * (a collector did not answer) are printed as warnings.
 *
 * `logs -f`: the first answer is printed like `logs`; then every poll asks
 * for the records from (newest seen - CLI_FOLLOW_OVERLAP_US) on, pages back
 * while a page is full, drops what was printed already (a set of 64-bit
 * hashes of the records' canonical JSON, pruned as the window moves) and
 * prints the rest oldest first. Every poll sends a different `end` (now +
 * one day): the collector caches an identical LOGS request for 30 s, which
 * would hide new records. A failed poll is reported once and retried.
 * Invariants: a record is printed at most once while its time stays inside
 * the window; records older than the window are never printed late.
 */
#include "cli_cmd.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define US_PER_DAY 86400000000ull

/* ---- fetching --------------------------------------------------------------------------- */

/* a message on e->err ("kiseki: ..."); none while e->err is NULL */
static void cli_msg(const cli_env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cli_msg(const cli_env *e, const char *fmt, ...)
{
	if (!e->err)
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("kiseki: ", e->err);
	vfprintf(e->err, fmt, ap);
	fputc('\n', e->err);
	va_end(ap);
}

/* GET + checks. @return : CLI_EXIT_OK with *out (caller decrefs) and the
 * raw body in `raw`; CLI_EXIT_NOTFOUND for a 404 when `nf` is set (nothing
 * printed); CLI_EXIT_SERVER (explained on e->err). */
static int cli_fetch(cli_env *e, const char *path, const cli_param *p, size_t n, bool nf,
                     json_t **out, ksk_buf *raw)
{
	*out = NULL;
	long status = 0;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	if (cli_http_get(e->http, path, p, n, &status, raw, &ei) != KSK_OK) {
		cli_msg(e, "%s", ei.msg);
		return CLI_EXIT_SERVER;
	}
	json_error_t je;
	json_t *j = json_loadb((const char *)raw->data, raw->len, 0, &je);
	if (status == 404 && nf) {
		json_decref(j);
		return CLI_EXIT_NOTFOUND;
	}
	if (status != 200) {
		const char *msg = j ? cli_answer_error(j) : NULL;
		char text[300];
		if (!msg) {
			/* not our envelope (a proxy, a UI server): the start of the body */
			size_t k = 0;
			for (size_t i = 0; i < raw->len && k < 200; i++)
				text[k++] = (raw->data[i] < 0x20 || raw->data[i] == 0x7f) ? ' '
				                                                          : (char)raw->data[i];
			text[k] = '\0';
			msg = k ? text : "(empty answer)";
		}
		cli_msg(e, "HTTP %ld from %s%s: %s", status, cli_http_url(e->http), path, msg);
		json_decref(j);
		return CLI_EXIT_SERVER;
	}
	if (!j) {
		cli_msg(e, "the answer of %s%s is not JSON: %s (line %d)", cli_http_url(e->http), path,
		        je.text, je.line);
		return CLI_EXIT_SERVER;
	}
	const json_t *errs = json_object_get(j, "errors");
	for (size_t i = 0; json_is_array(errs) && i < json_array_size(errs); i++) {
		const json_t *m = json_object_get(json_array_get(errs, i), "msg");
		if (json_is_string(m))
			cli_msg(e, "warning: %s", json_string_value(m));
	}
	*out = j;
	return CLI_EXIT_OK;
}

static uint64_t cli_now_us(const cli_env *e)
{
	return ksk_clock_wall(e->clock) / 1000u;
}

static void cli_u64s(char *buf, size_t cap, uint64_t v)
{
	snprintf(buf, cap, "%llu", (unsigned long long)v);
}

/* prints the raw body with a final newline */
static void cli_put_raw(cli_env *e, const ksk_buf *raw)
{
	fwrite(raw->data, 1, raw->len, e->out);
	if (raw->len == 0 || raw->data[raw->len - 1] != '\n')
		fputc('\n', e->out);
}

static int cli_format_failed(cli_env *e, const ksk_errinfo *ei)
{
	cli_msg(e, "unexpected answer: %s", ei->msg);
	return CLI_EXIT_SERVER;
}

/* ---- trace ---------------------------------------------------------------------------------- */

static int cli_cmd_trace(const cli_args *a, cli_env *e)
{
	char path[128];
	snprintf(path, sizeof(path), "/api/traces/%s", a->trace_id);
	cli_param p[] = {{"format", "compact"}, {"raw", a->raw ? "true" : NULL}};
	ksk_buf raw;
	ksk_buf_init(&raw, NULL, 0);
	json_t *tr = NULL, *logs = NULL;
	int rc = cli_fetch(e, path, p, 2, true, &tr, &raw);
	if (rc == CLI_EXIT_NOTFOUND)
		cli_msg(e, "trace %s not found", a->trace_id);
	if (rc == CLI_EXIT_OK && !a->no_logs) {
		snprintf(path, sizeof(path), "/api/traces/%s/logs", a->trace_id);
		/* the trace is there: a failure here costs the logs, not the trace */
		int lrc = cli_fetch(e, path, NULL, 0, true, &logs, &raw);
		if (lrc != CLI_EXIT_OK)
			cli_msg(e, "warning: the trace's logs are not shown");
	}
	if (rc == CLI_EXIT_OK) {
		if (a->json) {
			json_t *both = json_object();
			json_object_set(both, "trace", tr);
			json_object_set(both, "logs", logs ? logs : json_null());
			json_dumpf(both, e->out, JSON_COMPACT | JSON_PRESERVE_ORDER);
			fputc('\n', e->out);
			json_decref(both);
		} else {
			ksk_errinfo ei;
			ksk_errinfo_clear(&ei);
			if (cli_fmt_trace(e->out, tr, logs, &e->fmt, &ei) != KSK_OK)
				rc = cli_format_failed(e, &ei);
		}
	}
	json_decref(tr);
	json_decref(logs);
	ksk_buf_fini(&raw);
	return rc;
}

/* GET `path` and print it: the raw JSON with --json, else through `fmt`;
 * `empty` (may be NULL) is said when the answer's data is empty. */
typedef ksk_err (*cli_fmt_fn)(FILE *f, const json_t *ans, const cli_fmt_opts *o,
                              ksk_errinfo *ei);

static int cli_show(const cli_args *a, cli_env *e, const char *path, const cli_param *p,
                    size_t n, cli_fmt_fn fmt, const char *empty)
{
	ksk_buf raw;
	ksk_buf_init(&raw, NULL, 0);
	json_t *j = NULL;
	int rc = cli_fetch(e, path, p, n, false, &j, &raw);
	if (rc == CLI_EXIT_OK) {
		if (a->json) {
			cli_put_raw(e, &raw);
		} else {
			ksk_errinfo ei;
			ksk_errinfo_clear(&ei);
			if (fmt(e->out, j, &e->fmt, &ei) != KSK_OK)
				rc = cli_format_failed(e, &ei);
			else if (empty && json_array_size(json_object_get(j, "data")) == 0)
				cli_msg(e, "%s", empty);
		}
	}
	json_decref(j);
	ksk_buf_fini(&raw);
	return rc;
}

/* ---- search ------------------------------------------------------------------------------- */

static int cli_cmd_search(const cli_args *a, cli_env *e)
{
	uint64_t now = cli_now_us(e);
	uint64_t end = a->has_until ? a->until_us : now;
	uint64_t start = a->has_since ? a->since_us : (end > 3600000000ull ? end - 3600000000ull : 0);
	char sb[32], eb[32], lb[32], minb[40], maxb[40];
	cli_u64s(sb, sizeof(sb), start);
	cli_u64s(eb, sizeof(eb), end);
	cli_u64s(lb, sizeof(lb), a->has_limit ? a->limit : 20);
	snprintf(minb, sizeof(minb), "%lluns", (unsigned long long)a->min_dur_ns);
	snprintf(maxb, sizeof(maxb), "%lluns", (unsigned long long)a->max_dur_ns);
	char *tags = NULL;
	if (a->n_tags) {
		json_t *t = json_object();
		for (size_t i = 0; i < a->n_tags; i++) {
			const char *eq = strchr(a->tags[i], '=');
			char key[256];
			snprintf(key, sizeof(key), "%.*s", (int)(eq - a->tags[i]), a->tags[i]);
			json_object_set_new(t, key, json_string(eq + 1));
		}
		tags = json_dumps(t, JSON_COMPACT);
		json_decref(t);
	}
	cli_param p[] = {
		{"service", a->service},
		{"operation", a->operation},
		{"tags", tags},
		{"minTraceDuration", a->min_dur_ns ? minb : NULL},
		{"maxTraceDuration", a->max_dur_ns ? maxb : NULL},
		{"errors", a->errors ? "true" : NULL},
		{"start", sb},
		{"end", eb},
		{"limit", lb},
	};
	int rc = cli_show(a, e, "/api/search", p, sizeof(p) / sizeof(p[0]), cli_fmt_search,
	                  "no traces found");
	free(tags);
	return rc;
}

/* ---- logs --------------------------------------------------------------------------------- */

typedef struct cli_seen {
	uint64_t h;
	int64_t ts;
} cli_seen;

typedef struct cli_follow {
	cli_seen *seen;      /* sorted by h after each poll */
	size_t n_seen, cap_seen;
	int64_t cursor;      /* newest time printed (or the start time), µs */
	int64_t floor;       /* never print records older than this */
} cli_follow;

static int cli_seen_cmp(const void *a, const void *b)
{
	const cli_seen *x = a, *y = b;
	return x->h < y->h ? -1 : x->h > y->h;
}

static uint64_t cli_rec_hash(const json_t *r)
{
	char *s = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
	uint64_t h = 1469598103934665603ull;
	for (const char *p = s; p && *p; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ull;
	}
	free(s);
	return h;
}

static bool cli_seen_has(const cli_follow *f, uint64_t h)
{
	if (f->n_seen == 0)
		return false;
	cli_seen key = {h, 0};
	return bsearch(&key, f->seen, f->n_seen, sizeof(*f->seen), cli_seen_cmp) != NULL;
}

typedef struct cli_newrec {
	json_t *j; /* a reference */
	int64_t ts;
	size_t ord;
	uint64_t h;
} cli_newrec;

static int cli_newrec_cmp(const void *a, const void *b)
{
	const cli_newrec *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

typedef struct cli_batch {
	cli_newrec *v;
	size_t n, cap;
} cli_batch;

/* adds the records of `d` (newest first) not seen and not in `b` */
static bool cli_batch_take(cli_batch *b, const cli_follow *f, const json_t *d, size_t *ord)
{
	size_t n = json_array_size(d);
	for (size_t i = 0; i < n; i++) {
		json_t *r = json_array_get(d, i);
		int64_t ts = json_integer_value(json_object_get(r, "timestamp"));
		if (ts < f->floor)
			continue;
		uint64_t h = cli_rec_hash(r);
		if (cli_seen_has(f, h))
			continue;
		bool dup = false;
		for (size_t k = b->n; k-- > 0 && !dup;)
			dup = b->v[k].h == h && b->v[k].ts == ts;
		if (dup)
			continue;
		if (b->n == b->cap) {
			size_t nc = b->cap ? b->cap * 2 : 256;
			cli_newrec *nv = realloc(b->v, nc * sizeof(*nv));
			if (!nv)
				return false;
			b->v = nv;
			b->cap = nc;
		}
		/* a later page is older: order by a running counter from the end */
		b->v[b->n++] = (cli_newrec){json_incref(r), ts, SIZE_MAX - (*ord)++, h};
	}
	return true;
}

/* prints the batch oldest first, remembers it, moves the window */
static bool cli_batch_emit(cli_env *e, bool json, cli_batch *b, cli_follow *f)
{
	if (b->n)
		qsort(b->v, b->n, sizeof(*b->v), cli_newrec_cmp);
	for (size_t i = 0; i < b->n; i++) {
		if (json) {
			json_dumpf(b->v[i].j, e->out, JSON_COMPACT | JSON_PRESERVE_ORDER);
			fputc('\n', e->out);
		} else {
			cli_fmt_log_line(e->out, b->v[i].j, &e->fmt);
		}
		if (b->v[i].ts > f->cursor)
			f->cursor = b->v[i].ts;
	}
	fflush(e->out);
	/* forget what fell out of the window, remember the batch */
	int64_t keep = f->cursor - (int64_t)CLI_FOLLOW_OVERLAP_US - 1000000;
	size_t w = 0;
	for (size_t i = 0; i < f->n_seen; i++)
		if (f->seen[i].ts >= keep)
			f->seen[w++] = f->seen[i];
	f->n_seen = w;
	bool ok = true;
	for (size_t i = 0; i < b->n; i++) {
		if (f->n_seen == f->cap_seen) {
			size_t nc = f->cap_seen ? f->cap_seen * 2 : 1024;
			cli_seen *ns = realloc(f->seen, nc * sizeof(*ns));
			if (!ns) {
				ok = false;
				break;
			}
			f->seen = ns;
			f->cap_seen = nc;
		}
		f->seen[f->n_seen++] = (cli_seen){b->v[i].h, b->v[i].ts};
	}
	if (f->n_seen)
		qsort(f->seen, f->n_seen, sizeof(*f->seen), cli_seen_cmp);
	for (size_t i = 0; i < b->n; i++)
		json_decref(b->v[i].j);
	b->n = 0;
	return ok;
}

/* sleeps `ms` in short steps; false when asked to stop */
static bool cli_nap(cli_env *e, unsigned ms)
{
	for (unsigned done = 0; done < ms; done += 50) {
		if (e->stop && *e->stop)
			return false;
		struct timespec ts = {0, (long)(ms - done < 50 ? ms - done : 50) * 1000000L};
		nanosleep(&ts, NULL);
	}
	return !(e->stop && *e->stop);
}

/* the filter parameters shared by every logs request: p[0..5] */
static size_t cli_logs_params(const cli_args *a, cli_param *p)
{
	p[0] = (cli_param){"service", a->service};
	p[1] = (cli_param){"host", a->host};
	p[2] = (cli_param){"severity", a->level};
	p[3] = (cli_param){"q", a->grep};
	p[4] = (cli_param){"traceID", a->trace_id};
	return 5;
}

static int cli_follow_loop(const cli_args *a, cli_env *e, cli_follow *f)
{
	cli_batch b = {0};
	bool failing = false;
	size_t ord = 0;
	while (cli_nap(e, e->poll_ms ? e->poll_ms : 1000)) {
		uint64_t now = cli_now_us(e);
		int64_t start = f->cursor - (int64_t)CLI_FOLLOW_OVERLAP_US;
		if (start < f->floor)
			start = f->floor;
		if (start < 0)
			start = 0;
		uint64_t end = now + US_PER_DAY;
		char sb[32], eb[32], lb[32];
		cli_u64s(sb, sizeof(sb), (uint64_t)start);
		cli_u64s(lb, sizeof(lb), CLI_FOLLOW_PAGE);
		bool ok = true;
		for (int page = 0; page < 100; page++) {
			cli_param p[8];
			size_t n = cli_logs_params(a, p);
			cli_u64s(eb, sizeof(eb), end);
			p[n++] = (cli_param){"start", sb};
			p[n++] = (cli_param){"end", eb};
			p[n++] = (cli_param){"limit", lb};
			ksk_buf raw;
			ksk_buf_init(&raw, NULL, 0);
			json_t *j = NULL;
			FILE *err = e->err;
			if (failing) /* reported once per failure streak */
				e->err = NULL;
			int rc = cli_fetch(e, "/api/logs", p, n, false, &j, &raw);
			e->err = err;
			ksk_buf_fini(&raw);
			if (rc != CLI_EXIT_OK) {
				if (!failing)
					cli_msg(e, "still following; retrying every second");
				failing = true;
				ok = false;
				break;
			}
			if (failing)
				cli_msg(e, "the server answers again");
			failing = false;
			const json_t *d = json_object_get(j, "data");
			size_t got = json_array_size(d);
			int64_t oldest = INT64_MAX;
			for (size_t i = 0; i < got; i++) {
				int64_t ts = json_integer_value(json_object_get(json_array_get(d, i),
				                                                "timestamp"));
				oldest = ts < oldest ? ts : oldest;
			}
			bool took = cli_batch_take(&b, f, d, &ord);
			json_decref(j);
			if (!took) {
				cli_msg(e, "out of memory");
				free(b.v);
				return CLI_EXIT_SERVER;
			}
			/* a full page: older records may be missing; ask again below it */
			if (got < CLI_FOLLOW_PAGE || (uint64_t)oldest + 1 >= end)
				break;
			end = (uint64_t)oldest + 1;
		}
		if (ok && !cli_batch_emit(e, a->json, &b, f)) {
			cli_msg(e, "out of memory");
			free(b.v);
			return CLI_EXIT_SERVER;
		}
		if (!ok) {
			for (size_t i = 0; i < b.n; i++)
				json_decref(b.v[i].j);
			b.n = 0;
		}
	}
	free(b.v);
	return CLI_EXIT_OK;
}

static int cli_cmd_logs(const cli_args *a, cli_env *e)
{
	uint64_t now = cli_now_us(e);
	char sb[32], eb[32], lb[32];
	uint64_t limit = a->has_limit ? a->limit : 100;
	cli_u64s(sb, sizeof(sb), a->since_us);
	/* no --until: an end far enough ahead to include every record, and
	 * different on every call (see the top of this file) */
	cli_u64s(eb, sizeof(eb), a->has_until ? a->until_us : now + US_PER_DAY);
	cli_u64s(lb, sizeof(lb), limit);
	cli_param p[8];
	size_t n = cli_logs_params(a, p);
	p[n++] = (cli_param){"start", a->has_since ? sb : NULL};
	p[n++] = (cli_param){"end", eb};
	p[n++] = (cli_param){"limit", lb};
	ksk_buf raw;
	ksk_buf_init(&raw, NULL, 0);
	json_t *j = NULL;
	int rc = cli_fetch(e, "/api/logs", p, n, false, &j, &raw);
	if (rc != CLI_EXIT_OK) {
		ksk_buf_fini(&raw);
		return rc;
	}
	if (!a->follow) {
		if (a->json) {
			cli_put_raw(e, &raw);
		} else {
			ksk_errinfo ei;
			ksk_errinfo_clear(&ei);
			if (cli_fmt_logs(e->out, j, &e->fmt, &ei) != KSK_OK)
				rc = cli_format_failed(e, &ei);
		}
		json_decref(j);
		ksk_buf_fini(&raw);
		return rc;
	}
	ksk_buf_fini(&raw);
	cli_follow f;
	memset(&f, 0, sizeof(f));
	f.floor = a->has_since ? (int64_t)a->since_us : 0;
	const json_t *d = json_object_get(j, "data");
	size_t got = json_array_size(d);
	cli_batch b = {0};
	size_t ord = 0;
	bool ok = cli_batch_take(&b, &f, d, &ord);
	if (got > 0 && got >= limit) {
		/* the first answer was cut by --limit: older records stay unshown */
		int64_t oldest = INT64_MAX;
		for (size_t i = 0; i < got; i++) {
			int64_t ts = json_integer_value(json_object_get(json_array_get(d, i), "timestamp"));
			oldest = ts < oldest ? ts : oldest;
		}
		/* (the rest of the oldest microsecond was cut too) */
		if (oldest + 1 > f.floor)
			f.floor = oldest + 1;
	}
	json_decref(j);
	if (ok) {
		/* continue from the newest record shown, else from now */
		bool none = b.n == 0;
		f.cursor = 0;
		ok = cli_batch_emit(e, a->json, &b, &f);
		if (none)
			f.cursor = (int64_t)now;
	}
	free(b.v);
	if (!ok) {
		cli_msg(e, "out of memory");
		free(f.seen);
		return CLI_EXIT_SERVER;
	}
	rc = cli_follow_loop(a, e, &f);
	free(f.seen);
	return rc;
}

/* ---- services, deps ------------------------------------------------------------------------- */

static int cli_cmd_services(const cli_args *a, cli_env *e)
{
	return cli_show(a, e, "/api/services", NULL, 0, cli_fmt_services, NULL);
}

static int cli_cmd_deps(const cli_args *a, cli_env *e)
{
	uint64_t now_ms = cli_now_us(e) / 1000u;
	uint64_t since_ms = a->has_since ? a->since_us / 1000u
	                                 : (now_ms > 86400000ull ? now_ms - 86400000ull : 0);
	uint64_t lookback = now_ms > since_ms ? now_ms - since_ms : 1;
	char eb[32], lb[32];
	cli_u64s(eb, sizeof(eb), now_ms);
	cli_u64s(lb, sizeof(lb), lookback);
	cli_param p[] = {{"endTs", eb}, {"lookback", lb}};
	return cli_show(a, e, "/api/dependencies", p, 2, cli_fmt_deps,
	                "no dependencies in that time range");
}

int cli_run(const cli_args *a, cli_env *e)
{
	switch (a->cmd) {
	case CLI_CMD_TRACE: return cli_cmd_trace(a, e);
	case CLI_CMD_SEARCH: return cli_cmd_search(a, e);
	case CLI_CMD_LOGS: return cli_cmd_logs(a, e);
	case CLI_CMD_SERVICES: return cli_cmd_services(a, e);
	case CLI_CMD_DEPS: return cli_cmd_deps(a, e);
	default: cli_msg(e, "no command"); return CLI_EXIT_USAGE;
	}
}

ksk_err cli_read_token(const char *path, char *buf, size_t cap, ksk_errinfo *ei)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return ksk_errinfo_set(ei, KSK_EIO, "--token-file %s: %s", path, strerror(errno));
	size_t n = fread(buf, 1, cap - 1, f);
	bool more = fgetc(f) != EOF;
	fclose(f);
	buf[n] = '\0';
	char *nl = strpbrk(buf, "\r\n");
	if (nl)
		*nl = '\0';
	else if (more)
		return ksk_errinfo_set(ei, KSK_EIO, "--token-file %s: the token is over %zu bytes",
		                       path, cap - 1);
	size_t len = strlen(buf), s = 0;
	while (s < len && (buf[s] == ' ' || buf[s] == '\t'))
		s++;
	while (len > s && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	memmove(buf, buf + s, len - s);
	buf[len - s] = '\0';
	if (!buf[0])
		return ksk_errinfo_set(ei, KSK_EIO, "--token-file %s: empty", path);
	return KSK_OK;
}
