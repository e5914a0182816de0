/*
 * proc_util.h : helpers for the agent's process-level tests: the real
 * kiseki-collector and kiseki-agent started by the harness (harness.h) on
 * loopback, log lines with a unique "seq=N", and the exactly-once oracle.
 * Header only: every function is static inline, so a test file takes what
 * it uses. Used by test_agent_files_proc.c (test_agent_proc.c still has its
 * own copies of the first helpers; these keep its names and behaviour).
 *
 * Exports:
 *  - env: a scratch directory (data/, spool/, logs/), loopback ports for
 *    the collector's intake and query endpoints, the agent's OTLP and
 *    metrics ports, and the two processes: env_new(), col_start(),
 *    agt_start(), proc_stop(), proc_kill9(), env_free(). The binaries are
 *    e->col_bin and e->agt_bin (COLLECTOR_PATH and AGENT_PATH by default; a
 *    test may point them elsewhere before starting).
 *  - lines: fmt_line() / write_lines() write lines that each carry
 *    "seq=N" and a timestamp derived from N (LINE_BASE_S + N ms), so the
 *    collector can be asked for a range of seqs by time.
 *  - the oracle: expect_exactly_once() fetches the service's logs with
 *    col_client_fetch() until every seq 1..n is stored, then fails unless
 *    each is stored exactly once, no seq above n exists, and (when asked)
 *    the number of records without a seq is exact. A failure names the
 *    missing and duplicated seq ranges and prints the agent's stderr.
 *  - metric_get(): one sample from the agent's /metrics.
 *
 * Queries: the collector caches a chunked answer for 30 s per identical
 * request, so every poll varies `limit` a little to get a fresh answer. A
 * LOGS request returns at most 100,000 records: up to PU_WINDOW seqs are
 * fetched in one request, more in time windows of PU_WINDOW seqs (records
 * without a seq are then not counted).
 * Ownership: env owns its processes and directory until env_free().
 * Threads: the test's main thread only (a kh_proc belongs to its spawner).
 */
#ifndef KSK_PROC_UTIL_H
#define KSK_PROC_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "col_client.h"
#include "harness.h"
#include "kiseki/qproto.h"

#ifndef COLLECTOR_PATH
#error COLLECTOR_PATH must name the kiseki-collector binary
#endif
#ifndef AGENT_PATH
#error AGENT_PATH must name the kiseki-agent binary
#endif

/* 2026-11-29T10:00:00Z: the time of seq 0; seq N is N milliseconds later */
#define LINE_BASE_S 1795946400ull
/* seqs per LOGS request (the collector answers at most 100,000 records;
 * a window holds each seq at most twice before it looks full) */
#define PU_WINDOW 40000u

typedef struct env {
	char dir[512];
	char data[600], spool[600], logs[600];
	char ingest[64], query[64];
	uint16_t otlp_port, metrics_port;
	const char *col_bin, *agt_bin;
	kh_proc *col, *agt;
	unsigned nonce; /* varies each query so the collector's cache misses */
} env;

static inline void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static inline uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void env_new(env *e, const char *tag)
{
	memset(e, 0, sizeof(*e));
	char *d;
	kh_msg m;
	if (kh_tmpdir_create(tag, &d, &m) != 0)
		fail_msg("tmpdir: %s", m.text);
	snprintf(e->dir, sizeof(e->dir), "%s", d);
	free(d);
	snprintf(e->data, sizeof(e->data), "%s/data", e->dir);
	snprintf(e->spool, sizeof(e->spool), "%s/spool", e->dir);
	snprintf(e->logs, sizeof(e->logs), "%s/logs", e->dir);
	assert_int_equal(mkdir(e->logs, 0755), 0);
	uint16_t p1, p2;
	assert_int_equal(kh_free_port(&p1, &m), 0);
	assert_int_equal(kh_free_port(&p2, &m), 0);
	snprintf(e->ingest, sizeof(e->ingest), "tcp://127.0.0.1:%u", p1);
	snprintf(e->query, sizeof(e->query), "tcp://127.0.0.1:%u", p2);
	e->col_bin = COLLECTOR_PATH;
	e->agt_bin = AGENT_PATH;
}

static inline kh_proc *spawn_ready(const char *const *argv, const char *name)
{
	kh_spawn_opts o;
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.name = name;
	kh_proc *p;
	kh_msg m;
	if (kh_proc_spawn(&p, &o, &m) != 0)
		fail_msg("spawn %s: %s", name, m.text);
	const char *n, *a;
	if (kh_proc_wait_ready(p, 30000, &n, &a, &m) != 0)
		fail_msg("%s not ready: %s", name, m.text);
	return p;
}

static inline void col_start(env *e)
{
	const char *argv[] = {e->col_bin, "--data-dir", e->data, "--listen", e->ingest,
	                      "--query-listen", e->query, "--fsync", "interval", NULL};
	e->col = spawn_ready(argv, "collector");
}

/* Starts the agent tailing logs/<glob> as service "svc" (glob NULL: no
 * --tail), with /metrics on a fresh port, frames sealed after 50 ms, and
 * the `extra` arguments (NULL-terminated, may be NULL) appended. */
static inline void agt_start(env *e, const char *glob, const char *const *extra)
{
	char tail[700], otlp[64], metrics[64];
	kh_msg m;
	snprintf(tail, sizeof(tail), "%s/%s=svc", e->logs, glob ? glob : "");
	assert_int_equal(kh_free_port(&e->otlp_port, &m), 0);
	assert_int_equal(kh_free_port(&e->metrics_port, &m), 0);
	snprintf(otlp, sizeof(otlp), "127.0.0.1:%u", e->otlp_port);
	snprintf(metrics, sizeof(metrics), "127.0.0.1:%u", e->metrics_port);
	const char *argv[48] = {e->agt_bin, "--spool-dir", e->spool, "--collector", e->ingest,
	                        "--otlp-listen", otlp, "--zipkin-listen", "off",
	                        "--metrics-listen", metrics, "--batch-max-age", "50ms"};
	int n = 13;
	for (int i = 0; extra && extra[i] && n < 44; i++)
		argv[n++] = extra[i];
	if (glob) {
		argv[n++] = "--tail";
		argv[n++] = tail;
	}
	argv[n] = NULL;
	e->agt = spawn_ready(argv, "agent");
}

/* SIGTERM, and the process must exit 0 within 30 s. */
static inline void proc_stop(kh_proc **p)
{
	if (!*p)
		return;
	kh_exit ex;
	kh_msg m;
	if (kh_proc_stop(*p, 30000, &ex, &m) != 0)
		fail_msg("stop: %s", m.text);
	if (ex.code != 0)
		fail_msg("%s exited with code %d signal %d", kh_proc_name(*p), ex.code, ex.signo);
	kh_proc_destroy(*p);
	*p = NULL;
}

static inline void proc_kill9(kh_proc **p)
{
	kh_exit ex;
	kh_msg m;
	kh_proc_signal(*p, SIGKILL, &m);
	kh_proc_wait_exit(*p, 10000, true, &ex, &m);
	kh_proc_destroy(*p);
	*p = NULL;
}

static inline void env_free(env *e)
{
	if (e->agt)
		kh_proc_destroy(e->agt);
	if (e->col)
		kh_proc_destroy(e->col);
	kh_msg m;
	kh_rmtree(e->dir, &m);
}

/* ---- lines ------------------------------------------------------------------ */

/* Formats line `seq` with its '\n' into `buf` (at least 512 bytes),
 * padded to at least `pad` bytes before the newline. @return : length. */
static inline size_t fmt_line(char *buf, uint32_t seq, unsigned pad)
{
	uint32_t s = seq / 1000, ms = seq % 1000;
	int n = snprintf(buf, 480,
	                 "2026-11-29T%02u:%02u:%02u.%03uZ INFO [svc] handled request seq=%u "
	                 "user=u%u trace_id=%032x span_id=%016x",
	                 10 + s / 3600, s / 60 % 60, s % 60, ms, seq, seq % 977,
	                 seq * 2654435761u + 1u, seq + 1u);
	size_t len = (size_t)n;
	if (pad > 500)
		pad = 500;
	if (len + 5 < pad) {
		memcpy(buf + len, " pad=", 5);
		len += 5;
		for (; len < pad; len++)
			buf[len] = (char)('a' + (seq + len) % 26);
	}
	buf[len++] = '\n';
	return len;
}

static inline FILE *open_log(env *e, const char *name, const char *mode)
{
	char p[800];
	snprintf(p, sizeof(p), "%s/%s", e->logs, name);
	FILE *f = fopen(p, mode);
	if (!f)
		fail_msg("fopen %s: %s", p, strerror(errno));
	return f;
}

/* Writes lines from..to (inclusive) and flushes. */
static inline void write_lines(FILE *f, uint32_t from, uint32_t to)
{
	char b[512];
	for (uint32_t i = from; i <= to; i++) {
		size_t n = fmt_line(b, i, 0);
		assert_int_equal(fwrite(b, 1, n, f), n);
	}
	assert_int_equal(fflush(f), 0);
}

/* Appends lines from..to to logs/<name> (created if missing). */
static inline void append_lines(env *e, const char *name, uint32_t from, uint32_t to)
{
	FILE *f = open_log(e, name, "a");
	write_lines(f, from, to);
	fclose(f);
}

static inline void log_path(const env *e, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", e->logs, name);
}

static inline void rename_log(env *e, const char *from, const char *to)
{
	char a[800], b[800];
	log_path(e, from, a, sizeof(a));
	log_path(e, to, b, sizeof(b));
	if (rename(a, b) != 0)
		fail_msg("rename %s -> %s: %s", a, b, strerror(errno));
}

/* ---- the agent's /metrics ------------------------------------------------------ */

/* Reads the sample `name` (an exact name, without labels) from the agent's
 * /metrics. @return : 0, or -1 when unreachable or absent. */
static inline int metric_get(const env *e, const char *name, double *out)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(e->metrics_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = {10, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n";
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		close(fd);
		return -1;
	}
	size_t cap = 1 << 16, len = 0;
	char *b = malloc(cap + 1);
	for (;;) {
		if (len == cap) {
			cap *= 2;
			b = realloc(b, cap + 1);
		}
		ssize_t r = read(fd, b + len, cap - len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	b[len] = '\0';
	int rc = -1;
	size_t nl = strlen(name);
	for (char *p = b; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, name, nl) == 0 && p[nl] == ' ') {
			*out = strtod(p + nl + 1, NULL);
			rc = 0;
			break;
		}
	}
	free(b);
	return rc;
}

/* Waits up to `timeout_ms` until the agent has read at least `lines` lines
 * and has no unacked frame left. @return : 0, or -1 on timeout. */
static inline int wait_agent_drained(const env *e, double lines, int timeout_ms)
{
	uint64_t t0 = mono_ms();
	for (;;) {
		double l = 0, pend = 1;
		if (metric_get(e, "kiseki_agent_lines_total", &l) == 0 &&
		    metric_get(e, "kiseki_agent_spool_frames_pending", &pend) == 0 && l >= lines &&
		    pend == 0)
			return 0;
		if (mono_ms() - t0 >= (uint64_t)timeout_ms)
			return -1;
		sleep_ms(500);
	}
}

/* ---- counting what the collector stored ------------------------------------------ */

typedef struct tally {
	uint32_t n;         /* highest seq expected */
	uint8_t *seen;      /* count per seq 1..n, saturating at 255 */
	uint64_t records;   /* log records returned */
	uint64_t other;     /* records without a seq */
	uint64_t above;     /* records with a seq outside 1..n */
	uint64_t last_hits; /* records of the last request */
	uint64_t multiline; /* log bodies holding a newline */
	uint64_t spans;     /* spans returned (trace requests) */
} tally;

static inline void tally_cb(void *ctx, const ksk_batch *b)
{
	tally *t = ctx;
	t->spans += b->n_spans;
	for (uint32_t i = 0; i < b->n_logs; i++) {
		const ksk_log *l = &b->logs[i];
		t->records++;
		t->last_hits++;
		if (l->body.type != KSK_VAL_STR) {
			t->other++;
			continue;
		}
		const char *p = l->body.u.s.ptr;
		uint32_t len = l->body.u.s.len;
		if (memchr(p, '\n', len))
			t->multiline++;
		bool found = false;
		for (uint32_t k = 0; k + 4 < len; k++) {
			if (memcmp(p + k, "seq=", 4) != 0)
				continue;
			uint32_t v = 0, j = k + 4;
			while (j < len && p[j] >= '0' && p[j] <= '9')
				v = v * 10 + (uint32_t)(p[j++] - '0');
			if (v >= 1 && v <= t->n) {
				if (t->seen[v] < 255)
					t->seen[v]++;
			} else {
				t->above++;
			}
			found = true;
			break;
		}
		if (!found)
			t->other++;
	}
}

/* One LOGS request for service "svc"; seqs lo..hi by time when lo > 0. */
static inline ksk_err fetch_range(env *e, col_client *c, tally *t, uint32_t lo, uint32_t hi,
                                  ksk_errinfo *ei)
{
	ksk_qreq r;
	ksk_qreq_init(&r, KSK_Q_LOGS);
	r.service = KSK_STR("svc");
	r.limit = 100000 - (e->nonce++ % 500);
	if (lo) {
		r.start_ns = (LINE_BASE_S * 1000u + lo) * 1000000u;
		r.end_ns = (LINE_BASE_S * 1000u + hi) * 1000000u;
	}
	t->last_hits = 0;
	ksk_err rc = col_client_fetch(c, &r, tally_cb, t, ei);
	if (rc == KSK_OK && t->last_hits >= r.limit)
		return ksk_errinfo_set(ei, KSK_ELIMIT, "the answer for seqs %u..%u hit the limit %u",
		                       lo, hi, r.limit);
	return rc;
}

/* Fetches everything stored for "svc" into `t` (cleared first). */
static inline ksk_err fetch_logs(env *e, tally *t, ksk_errinfo *ei)
{
	col_client *c;
	if (col_client_open(e->query, 60000, &c, ei) != KSK_OK)
		return KSK_ENET;
	memset(t->seen, 0, (size_t)t->n + 1);
	t->records = t->other = t->above = t->multiline = t->spans = 0;
	ksk_err rc = KSK_OK;
	if (t->n <= PU_WINDOW) {
		rc = fetch_range(e, c, t, 0, 0, ei);
	} else {
		for (uint32_t lo = 1; lo <= t->n && rc == KSK_OK; lo += PU_WINDOW) {
			uint32_t hi = lo + PU_WINDOW - 1;
			rc = fetch_range(e, c, t, lo, hi > t->n ? t->n : hi, ei);
		}
	}
	col_client_close(c);
	return rc;
}

/* Prints up to 8 ranges of seqs whose count is (missing) 0 or (dups) > 1. */
static inline void print_ranges(const tally *t, bool dups, char *out, size_t cap)
{
	size_t len = 0;
	int shown = 0;
	out[0] = '\0';
	for (uint32_t i = 1; i <= t->n && shown < 8; i++) {
		bool bad = dups ? t->seen[i] > 1 : t->seen[i] == 0;
		if (!bad)
			continue;
		uint32_t j = i;
		while (j < t->n && (dups ? t->seen[j + 1] > 1 : t->seen[j + 1] == 0))
			j++;
		int w = snprintf(out + len, cap - len, "%s%u..%u", shown ? ", " : "", i, j);
		if (w < 0 || (size_t)w >= cap - len)
			break;
		len += (size_t)w;
		shown++;
		i = j;
	}
}

static inline void print_agent_stderr(env *e)
{
	if (!e->agt)
		return;
	size_t len;
	char *s = kh_proc_stderr_dup(e->agt, &len);
	if (!s)
		return;
	const char *from = len > 6000 ? s + len - 6000 : s;
	fprintf(stderr, "---- agent stderr (tail) ----\n%s\n-----------------------------\n", from);
	free(s);
}

/* Waits up to `timeout_ms` until every seq 1..n is stored (and, when
 * `other` is not UINT64_MAX, at least `other` records without a seq), then
 * checks: each seq exactly once, no seq outside 1..n, exactly `other`
 * records without a seq. `timeout_ms` 0: one look, no wait. */
static inline void expect_exactly_once_other(env *e, uint32_t n, uint64_t other, int timeout_ms)
{
	tally t;
	memset(&t, 0, sizeof(t));
	t.n = n;
	t.seen = calloc((size_t)n + 1, 1);
	assert_non_null(t.seen);
	uint64_t t0 = mono_ms();
	uint32_t missing = n;
	ksk_err rc = KSK_OK;
	ksk_errinfo ei;
	memset(&ei, 0, sizeof(ei));
	/* big answers are expensive under ASan: poll them less often */
	int every = n > PU_WINDOW ? 2000 : 250;
	for (;;) {
		rc = fetch_logs(e, &t, &ei);
		if (rc == KSK_OK) {
			missing = 0;
			for (uint32_t i = 1; i <= n; i++)
				missing += t.seen[i] == 0;
			if (missing == 0 && (other == UINT64_MAX || t.other >= other))
				break;
		}
		if (mono_ms() - t0 >= (uint64_t)timeout_ms)
			break;
		sleep_ms(every);
	}
	uint32_t dup = 0;
	for (uint32_t i = 1; i <= n; i++)
		dup += t.seen[i] > 1;
	bool bad_other = other != UINT64_MAX && t.other != other;
	if (rc != KSK_OK || missing || dup || t.above || bad_other) {
		char mr[400], dr[400];
		print_ranges(&t, false, mr, sizeof(mr));
		print_ranges(&t, true, dr, sizeof(dr));
		print_agent_stderr(e);
		free(t.seen);
		char q[400] = "", o[120] = "";
		if (rc != KSK_OK)
			snprintf(q, sizeof(q), "last query failed (%s: %s); ", ksk_strerror(rc), ei.msg);
		if (other != UINT64_MAX)
			snprintf(o, sizeof(o), "; %llu records without a seq, expected %llu",
			         (unsigned long long)t.other, (unsigned long long)other);
		fail_msg("after %llu ms: %sof seqs 1..%u: %u missing [%s], %u duplicated [%s], "
		         "%llu records with a seq outside 1..%u%s",
		         (unsigned long long)(mono_ms() - t0), q, n, missing, mr, dup, dr,
		         (unsigned long long)t.above, n, o);
	}
	free(t.seen);
}

static inline void expect_exactly_once(env *e, uint32_t n, int timeout_ms)
{
	expect_exactly_once_other(e, n, UINT64_MAX, timeout_ms);
}

#endif /* KSK_PROC_UTIL_H */
