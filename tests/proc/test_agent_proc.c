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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "proc_util.h"

#ifndef FIXTURES_DIR
#error FIXTURES_DIR must name tests/data/real-clients
#endif

/* ---- scenarios --------------------------------------------------------------------- */

static void test_burst_with_rename_rotation(void **state)
{
	(void)state;
	env e;
	env_new(&e, "agt-rot");
	col_start(&e);
	agt_start(&e, "*.log", NULL);
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
	agt_start(&e, "*.log", NULL);
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
		agt_start(&e, "*.log", NULL);
		/* write while the agent runs, then kill it at a random moment */
		for (int k = 0; k < 4; k++) {
			write_lines(f, next, next + PER / 4 - 1);
			next += PER / 4;
			sleep_ms((int)(rand_r(&seed) % 120));
		}
		proc_kill9(&e.agt);
	}
	fclose(f);
	agt_start(&e, "*.log", NULL);
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
	agt_start(&e, "*.log", NULL);
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
	agt_start(&e, NULL, extra);
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
	tally t;
	memset(&t, 0, sizeof(t));
	t.n = N;
	t.seen = calloc(N + 1, 1);
	assert_int_equal(fetch_logs(&e, &t, NULL), KSK_OK);
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
	tally t;
	memset(&t, 0, sizeof(t));
	t.seen = calloc(1, 1);
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
	agt_start(&e, NULL, extra);
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
	agt_start(&e, NULL, extra);
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
