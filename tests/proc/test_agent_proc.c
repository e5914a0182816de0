/*
 * test_agent_proc.c : process-level tests of the real kiseki-agent with
 * the real kiseki-collector, both started by the harness on loopback.
 *
 * Every scenario writes lines that each carry a unique "seq=N" and then
 * asks the collector for the service's logs: every N must be stored
 * exactly once (no loss, no duplicate), whatever happened in between:
 *  - a plain burst;
 *  - rename rotation every few thousand lines during a burst;
 *  - copytruncate;
 *  - kill -9 of the agent at random moments, repeatedly, while lines are
 *    written;
 *  - the collector down for a while, then up (the spool fills and drains);
 *  - a partial last line at shutdown (flushed on SIGTERM);
 *  - multiline stack traces become one record each;
 *  - span record files (OTLP JSON lines), with a bad line in the middle;
 *  - OTLP/HTTP with a body captured from the OpenTelemetry JS SDK;
 *  - SIGHUP: inputs reloaded from --config, nothing read twice.
 */
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
#ifndef FIXTURES_DIR
#error FIXTURES_DIR must name tests/data/real-clients
#endif

typedef struct env {
	char dir[512];
	char data[600], spool[600], logs[600];
	char ingest[64], query[64];
	uint16_t otlp_port;
	kh_proc *col, *agt;
} env;

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void env_new(env *e, const char *tag)
{
	memset(e, 0, sizeof(*e));
	char *d;
	kh_msg m;
	assert_int_equal(kh_tmpdir_create(tag, &d, &m), 0);
	snprintf(e->dir, sizeof(e->dir), "%s", d);
	free(d);
	snprintf(e->data, sizeof(e->data), "%s/data", e->dir);
	snprintf(e->spool, sizeof(e->spool), "%s/spool", e->dir);
	snprintf(e->logs, sizeof(e->logs), "%s/logs", e->dir);
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "%s", e->logs);
	assert_int_equal(mkdir(cmd, 0755), 0);
	uint16_t p1, p2;
	assert_int_equal(kh_free_port(&p1, &m), 0);
	assert_int_equal(kh_free_port(&p2, &m), 0);
	snprintf(e->ingest, sizeof(e->ingest), "tcp://127.0.0.1:%u", p1);
	snprintf(e->query, sizeof(e->query), "tcp://127.0.0.1:%u", p2);
}

static kh_proc *spawn_ready(const char *const *argv, const char *name)
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

static void col_start(env *e)
{
	const char *argv[] = {COLLECTOR_PATH, "--data-dir", e->data, "--listen", e->ingest,
	                      "--query-listen", e->query, "--fsync", "interval", NULL};
	e->col = spawn_ready(argv, "collector");
}

static void agt_start(env *e, const char *const *extra)
{
	char glob[700];
	snprintf(glob, sizeof(glob), "%s/*.log=svc", e->logs);
	char otlp[64];
	kh_msg m;
	assert_int_equal(kh_free_port(&e->otlp_port, &m), 0);
	snprintf(otlp, sizeof(otlp), "127.0.0.1:%u", e->otlp_port);
	const char *argv[40] = {AGENT_PATH, "--spool-dir", e->spool, "--collector", e->ingest,
	                        "--otlp-listen", otlp, "--zipkin-listen", "off",
	                        "--batch-max-age", "50ms"};
	int n = 11;
	int has_input = 0;
	for (int i = 0; extra && extra[i]; i++) {
		if (strcmp(extra[i], "--config") == 0 || strcmp(extra[i], "--span-file") == 0)
			has_input = 1;
		argv[n++] = extra[i];
	}
	if (!has_input) {
		argv[n++] = "--tail";
		argv[n++] = glob;
	}
	argv[n] = NULL;
	e->agt = spawn_ready(argv, "agent");
}

static void proc_stop(kh_proc **p)
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

static void proc_kill9(kh_proc **p)
{
	kh_exit ex;
	kh_msg m;
	kh_proc_signal(*p, SIGKILL, &m);
	kh_proc_wait_exit(*p, 10000, true, &ex, &m);
	kh_proc_destroy(*p);
	*p = NULL;
}

static void env_free(env *e)
{
	if (e->agt)
		kh_proc_destroy(e->agt);
	if (e->col)
		kh_proc_destroy(e->col);
	kh_msg m;
	kh_rmtree(e->dir, &m);
}

/* ---- counting what the collector stored ------------------------------------ */

typedef struct tally {
	uint32_t n;         /* highest seq expected */
	uint8_t *seen;      /* count per seq, saturating at 255 */
	uint64_t records;   /* log records returned */
	uint64_t multiline; /* bodies containing a newline */
	uint64_t spans;
} tally;

static void tally_cb(void *ctx, const ksk_batch *b)
{
	tally *t = ctx;
	t->spans += b->n_spans;
	for (uint32_t i = 0; i < b->n_logs; i++) {
		const ksk_log *l = &b->logs[i];
		t->records++;
		if (l->body.type != KSK_VAL_STR)
			continue;
		const char *p = l->body.u.s.ptr;
		uint32_t len = l->body.u.s.len;
		if (memchr(p, '\n', len))
			t->multiline++;
		for (uint32_t k = 0; k + 4 < len; k++) {
			if (memcmp(p + k, "seq=", 4) != 0)
				continue;
			uint32_t v = 0, j = k + 4;
			while (j < len && p[j] >= '0' && p[j] <= '9')
				v = v * 10 + (uint32_t)(p[j++] - '0');
			if (v >= 1 && v <= t->n && t->seen[v] < 255)
				t->seen[v]++;
			break;
		}
	}
}

static ksk_err fetch_logs(const char *query, tally *t)
{
	col_client *c;
	ksk_errinfo ei;
	if (col_client_open(query, 30000, &c, &ei) != KSK_OK)
		return KSK_ENET;
	ksk_qreq r;
	ksk_qreq_init(&r, KSK_Q_LOGS);
	r.service = KSK_STR("svc");
	r.limit = 100000;
	memset(t->seen, 0, t->n + 1);
	t->records = t->multiline = 0;
	ksk_err rc = col_client_fetch(c, &r, tally_cb, t, &ei);
	col_client_close(c);
	return rc;
}

/* Waits until every seq 1..n is stored, then checks exactly once. */
static void expect_exactly_once(env *e, uint32_t n, int timeout_ms)
{
	tally t = {n, calloc(n + 1, 1), 0, 0, 0};
	int waited = 0;
	uint32_t missing = n;
	for (;;) {
		if (fetch_logs(e->query, &t) == KSK_OK) {
			missing = 0;
			for (uint32_t i = 1; i <= n; i++)
				missing += t.seen[i] == 0;
			if (missing == 0)
				break;
		}
		if (waited >= timeout_ms)
			break;
		sleep_ms(200);
		waited += 200;
	}
	uint32_t dup = 0, first_missing = 0, first_dup = 0;
	for (uint32_t i = 1; i <= n; i++) {
		if (!t.seen[i] && !first_missing)
			first_missing = i;
		if (t.seen[i] > 1) {
			dup++;
			if (!first_dup)
				first_dup = i;
		}
	}
	free(t.seen);
	if (missing || dup)
		fail_msg("%u of %u lines missing (first seq=%u), %u duplicated (first seq=%u)", missing,
		         n, first_missing, dup, first_dup);
}

static FILE *open_log(env *e, const char *name, const char *mode)
{
	char p[800];
	snprintf(p, sizeof(p), "%s/%s", e->logs, name);
	FILE *f = fopen(p, mode);
	assert_non_null(f);
	return f;
}

static void write_lines(FILE *f, uint32_t from, uint32_t to)
{
	for (uint32_t i = from; i <= to; i++)
		fprintf(f, "2026-11-29T10:00:00.000Z INFO [svc] handled request seq=%u user=u%u "
		           "trace_id=%032x span_id=%016x\n",
		        i, i % 977, i * 2654435761u + 1u, i + 1u);
	fflush(f);
}

static void rename_log(env *e, const char *from, const char *to)
{
	char a[800], b[800];
	snprintf(a, sizeof(a), "%s/%s", e->logs, from);
	snprintf(b, sizeof(b), "%s/%s", e->logs, to);
	assert_int_equal(rename(a, b), 0);
}

/* ---- scenarios --------------------------------------------------------------------- */

static void test_burst_with_rename_rotation(void **state)
{
	(void)state;
	env e;
	env_new(&e, "agt-rot");
	col_start(&e);
	agt_start(&e, NULL);
	enum { N = 60000, EVERY = 7000 };
	FILE *f = open_log(&e, "app.log", "w");
	uint32_t rot = 0;
	for (uint32_t i = 1; i <= N; i += 1000) {
		write_lines(f, i, i + 999);
		if ((i + 999) % EVERY < 1000) {
			/* rename + create: app.log -> app.N.old (not matched by
			 * the glob), the agent must still read it to the end */
			fclose(f);
			char to[64];
			snprintf(to, sizeof(to), "app.%u.old", ++rot);
			rename_log(&e, "app.log", to);
			f = open_log(&e, "app.log", "w");
		}
	}
	fclose(f);
	expect_exactly_once(&e, N, 60000);
	proc_stop(&e.agt);
	proc_stop(&e.col);
	env_free(&e);
}

static void test_copytruncate_and_partial_line(void **state)
{
	(void)state;
	env e;
	env_new(&e, "agt-ct");
	col_start(&e);
	agt_start(&e, NULL);
	FILE *f = open_log(&e, "app.log", "w");
	write_lines(f, 1, 3000);
	/* copytruncate: wait until the agent has read it, copy, truncate */
	sleep_ms(1500);
	char a[800];
	snprintf(a, sizeof(a), "%s/app.log", e.logs);
	assert_int_equal(truncate(a, 0), 0);
	fseek(f, 0, SEEK_SET);
	write_lines(f, 3001, 5000);
	/* a partial last line: no newline before shutdown */
	fprintf(f, "2026-11-29T10:00:01.000Z INFO [svc] the last line seq=5001 has no newline");
	fflush(f);
	fclose(f);
	sleep_ms(1000);
	proc_stop(&e.agt); /* SIGTERM flushes the partial line */
	expect_exactly_once(&e, 5001, 30000);
	proc_stop(&e.col);
	env_free(&e);
}

static void test_kill9_agent_repeatedly(void **state)
{
	(void)state;
	env e;
	env_new(&e, "agt-kill");
	col_start(&e);
	enum { ROUNDS = 6, PER = 4000 };
	FILE *f = open_log(&e, "app.log", "w");
	unsigned seed = 99;
	uint32_t next = 1;
	for (int r = 0; r < ROUNDS; r++) {
		agt_start(&e, NULL);
		/* write while the agent runs, then kill it at a random moment */
		for (int k = 0; k < 4; k++) {
			write_lines(f, next, next + PER / 4 - 1);
			next += PER / 4;
			sleep_ms((int)(rand_r(&seed) % 120));
		}
		proc_kill9(&e.agt);
	}
	fclose(f);
	agt_start(&e, NULL);
	expect_exactly_once(&e, next - 1, 60000);
	proc_stop(&e.agt);
	proc_stop(&e.col);
	env_free(&e);
}

static void test_collector_down_then_up(void **state)
{
	(void)state;
	env e;
	env_new(&e, "agt-down");
	/* the agent starts first: nothing to send to */
	agt_start(&e, NULL);
	FILE *f = open_log(&e, "app.log", "w");
	write_lines(f, 1, 20000);
	sleep_ms(1500);
	col_start(&e);
	write_lines(f, 20001, 25000);
	/* and down again for a while, mid-stream */
	sleep_ms(500);
	proc_stop(&e.col);
	write_lines(f, 25001, 30000);
	sleep_ms(1000);
	col_start(&e);
	fclose(f);
	expect_exactly_once(&e, 30000, 60000);
	proc_stop(&e.agt);
	proc_stop(&e.col);
	env_free(&e);
}

static void test_multiline_and_long_lines(void **state)
{
	(void)state;
	env e;
	env_new(&e, "agt-ml");
	col_start(&e);
	char cfg[800];
	snprintf(cfg, sizeof(cfg), "%s/agent.ini", e.dir);
	FILE *c = fopen(cfg, "w");
	fprintf(c, "[input java]\npath = %s/*.log\nservice = svc\n"
	           "multiline_start = ^\\d{4}-\\d{2}-\\d{2}T\nmultiline_timeout = 500ms\n"
	           "max_line = 1KiB\n",
	        e.logs);
	fclose(c);
	const char *extra[] = {"--config", cfg, NULL};
	agt_start(&e, extra);
	FILE *f = open_log(&e, "app.log", "w");
	enum { N = 300 };
	for (uint32_t i = 1; i <= N; i++) {
		if (i % 3 == 0) {
			fprintf(f, "2026-11-29T10:00:00.000Z ERROR [svc] request failed seq=%u\n"
			           "java.lang.IllegalStateException: boom %u\n"
			           "\tat com.example.Orders.place(Orders.java:42)\n"
			           "\tat com.example.Api.handle(Api.java:7)\n",
			        i, i);
		} else if (i % 50 == 1) {
			/* a line over max_line: truncated, flagged, still one record */
			fprintf(f, "2026-11-29T10:00:00.000Z INFO [svc] long seq=%u ", i);
			for (int k = 0; k < 3000; k++)
				fputc('x', f);
			fputc('\n', f);
		} else {
			fprintf(f, "2026-11-29T10:00:00.000Z INFO [svc] ok seq=%u\n", i);
		}
	}
	fclose(f);
	expect_exactly_once(&e, N, 30000);
	tally t = {N, calloc(N + 1, 1), 0, 0, 0};
	assert_int_equal(fetch_logs(e.query, &t), KSK_OK);
	free(t.seen);
	assert_int_equal(t.records, N);
	assert_int_equal(t.multiline, N / 3);
	proc_stop(&e.agt);
	proc_stop(&e.col);
	env_free(&e);
}

static uint32_t count_trace_spans(const char *query, const char *hex)
{
	col_client *c;
	ksk_errinfo ei;
	if (col_client_open(query, 30000, &c, &ei) != KSK_OK)
		return 0;
	ksk_qreq r;
	ksk_qreq_init(&r, KSK_Q_TRACE);
	ksk_hex_decode(hex, 32, r.trace_id, 16, false);
	r.has_trace_id = true;
	tally t = {0, calloc(1, 1), 0, 0, 0};
	uint32_t n = 0;
	if (col_client_fetch(c, &r, tally_cb, &t, &ei) == KSK_OK)
		n = (uint32_t)t.spans;
	free(t.seen);
	col_client_close(c);
	return n;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	*len = fread(b, 1, (size_t)n, f);
	b[*len] = '\0';
	fclose(f);
	return b;
}

static void test_span_files_and_otlp_http(void **state)
{
	(void)state;
	env e;
	env_new(&e, "agt-spans");
	col_start(&e);
	char glob[700];
	snprintf(glob, sizeof(glob), "%s/*.jsonl", e.logs);
	const char *extra[] = {"--span-file", glob, NULL};
	agt_start(&e, extra);
	/* a span file: the frontend request (one line), a bad line, then the
	 * backend request: both must be read, the bad line counted */
	size_t fl, bl;
	char *front = read_file(FIXTURES_DIR "/otel-js_frontend_otlp-traces.json", &fl);
	char *back = read_file(FIXTURES_DIR "/otel-js_backend_otlp-traces.json", &bl);
	assert_non_null(front);
	assert_non_null(back);
	FILE *f = open_log(&e, "spans.jsonl", "w");
	for (size_t i = 0; i < fl; i++)
		if (front[i] != '\n')
			fputc(front[i], f);
	fputs("\n{\"resourceSpans\": [ this is not json\n", f);
	for (size_t i = 0; i < bl; i++)
		if (back[i] != '\n')
			fputc(back[i], f);
	fputc('\n', f);
	fclose(f);
	const char *trace = "261a29797f8ccd0c40e1f4324600ecf2";
	uint32_t n = 0;
	for (int w = 0; w < 150 && n < 3; w++) {
		n = count_trace_spans(e.query, trace);
		if (n < 3)
			sleep_ms(200);
	}
	assert_int_equal(n, 3);
	kh_msg m;
	assert_int_equal(kh_proc_wait_stderr(e.agt, "span line not decoded", 5000, &m), 0);

	/* OTLP/HTTP: POST the same frontend body again; the collector keeps
	 * both copies (different frames), so the trace has 3 + 2 spans */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(e.otlp_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	char hdr[256];
	int hn = snprintf(hdr, sizeof(hdr),
	                  "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	                  "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	                  fl);
	assert_int_equal(write(fd, hdr, (size_t)hn), hn);
	assert_int_equal(write(fd, front, fl), (ssize_t)fl);
	char resp[512] = "";
	ssize_t rn = read(fd, resp, sizeof(resp) - 1);
	close(fd);
	assert_true(rn > 0);
	resp[rn] = '\0';
	assert_non_null(strstr(resp, "HTTP/1.1 200"));
	for (int w = 0; w < 150 && n < 5; w++) {
		n = count_trace_spans(e.query, trace);
		if (n < 5)
			sleep_ms(200);
	}
	assert_int_equal(n, 5);
	free(front);
	free(back);
	proc_stop(&e.agt);
	proc_stop(&e.col);
	env_free(&e);
}

/* SIGHUP reloads the inputs from --config: an added input starts being
 * read, and the files read before are not read again (no duplicate). */
static void test_sighup_reload(void **state)
{
	(void)state;
	env e;
	env_new(&e, "agt-hup");
	col_start(&e);
	char cfg[800];
	snprintf(cfg, sizeof(cfg), "%s/agent.ini", e.dir);
	FILE *c = fopen(cfg, "w");
	fprintf(c, "[input a]\npath = %s/a.log\nservice = svc\n", e.logs);
	fclose(c);
	const char *extra[] = {"--config", cfg, NULL};
	agt_start(&e, extra);
	FILE *fa = open_log(&e, "a.log", "w");
	write_lines(fa, 1, 1000);
	expect_exactly_once(&e, 1000, 30000);
	c = fopen(cfg, "w");
	fprintf(c, "[input a]\npath = %s/a.log\nservice = svc\n\n[input b]\npath = %s/b.log\nservice = svc\n",
	        e.logs, e.logs);
	fclose(c);
	kh_msg m;
	assert_int_equal(kh_proc_signal(e.agt, SIGHUP, &m), 0);
	if (kh_proc_wait_stderr(e.agt, "2 input(s) reloaded", 10000, &m) != 0)
		fail_msg("no reload message: %s", m.text);
	write_lines(fa, 1001, 1500);
	fclose(fa);
	FILE *fb = open_log(&e, "b.log", "w");
	write_lines(fb, 1501, 2000);
	fclose(fb);
	expect_exactly_once(&e, 2000, 30000);
	proc_stop(&e.agt);
	proc_stop(&e.col);
	env_free(&e);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_with_rename_rotation),
		cmocka_unit_test(test_copytruncate_and_partial_line),
		cmocka_unit_test(test_kill9_agent_repeatedly),
		cmocka_unit_test(test_collector_down_then_up),
		cmocka_unit_test(test_multiline_and_long_lines),
		cmocka_unit_test(test_span_files_and_otlp_http),
		cmocka_unit_test(test_sighup_reload),
	};
	return cmocka_run_group_tests_name("agent_process", tests, NULL, NULL);
}
