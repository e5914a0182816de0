/*
 * test_cli_proc.c : the real `kiseki` binary against a real kiseki-query
 * and kiseki-collector, started by the harness on loopback ports.
 *
 * One stack for the whole file (group setup): a collector, a query daemon
 * that requires a bearer token, and one frame of known records: a 5-span
 * trace across frontend -> checkout -> payments (the payments span is an
 * error), 3 logs linked to it and 1 unlinked log. Then every command runs
 * as a child process and its exit code, stdout and stderr are checked:
 * trace (text and --json), search (filters, no result), logs (filters,
 * order, format), services, deps, logs -f (new records appear once, SIGINT
 * ends it with 0), and the exit codes 1 (unknown trace), 2 (bad option,
 * named), 3 (dead server; missing token with the server's 401 message).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "col_client.h"
#include "harness.h"
#include "kiseki/frame.h"
#include "kiseki/wire.h"

#ifndef COLLECTOR_PATH
#error COLLECTOR_PATH must name the kiseki-collector binary
#endif
#ifndef QUERY_PATH
#error QUERY_PATH must name the kiseki-query binary
#endif
#ifndef CLI_PATH
#error CLI_PATH must name the kiseki binary
#endif

#define TRACE_HEX "4bf92f3577b34da6a3ce929d0e0e4736"
#define MS 1000000ull

typedef struct stack {
	char *dir;
	char data[600];
	char token[600];
	char ingest[128];
	char qlisten[128];
	char server[128]; /* http://127.0.0.1:PORT */
	kh_proc *col, *qry;
	uint64_t base_ns; /* the trace's start */
	uint64_t seq;     /* next frame sequence number */
} stack;

static stack S;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- records ---------------------------------------------------------------------------- */

static const uint8_t trace_id[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                     0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};

static void span_id(uint8_t out[8], int n)
{
	memset(out, 0, 8);
	out[0] = 0x5a;
	out[7] = (uint8_t)n;
}

static uint32_t add_resource(ksk_wire_enc *we, const char *svc, const char *host)
{
	ksk_attr at[2] = {{KSK_STR("service.name"), ksk_val_str(ksk_str_c(svc))},
	                  {KSK_STR("host.name"), ksk_val_str(ksk_str_c(host))}};
	ksk_resource r;
	memset(&r, 0, sizeof(r));
	r.attrs = at;
	r.n_attrs = 2;
	uint32_t idx;
	assert_int_equal(ksk_wire_enc_resource(we, &r, &idx), KSK_OK);
	return idx;
}

static void add_span(ksk_wire_enc *we, uint32_t res, int id, int parent, const char *name,
                     ksk_span_kind kind, uint64_t start_ms, uint64_t end_ms, bool error)
{
	ksk_span s;
	memset(&s, 0, sizeof(s));
	memcpy(s.trace_id, trace_id, 16);
	span_id(s.span_id, id);
	if (parent)
		span_id(s.parent_id, parent);
	s.name = ksk_str_c(name);
	s.kind = kind;
	s.start_ns = S.base_ns + start_ms * MS;
	s.end_ns = S.base_ns + end_ms * MS;
	s.status = error ? KSK_STATUS_ERROR : KSK_STATUS_UNSET;
	s.resource = res;
	assert_int_equal(ksk_wire_enc_span(we, &s), KSK_OK);
}

static void add_log(ksk_wire_enc *we, uint32_t res, uint64_t t_ns, uint8_t sev, const char *sevt,
                    const char *body, int span)
{
	ksk_log l;
	memset(&l, 0, sizeof(l));
	l.time_ns = t_ns;
	l.observed_ns = t_ns;
	l.severity = sev;
	l.severity_text = ksk_str_c(sevt);
	l.body = ksk_val_str(ksk_str_c(body));
	if (span) {
		memcpy(l.trace_id, trace_id, 16);
		span_id(l.span_id, span);
	}
	l.resource = res;
	assert_int_equal(ksk_wire_enc_log(we, &l), KSK_OK);
}

/* sends the encoder's payload as one frame and expects it stored */
static void send_payload(ksk_wire_enc *we)
{
	ksk_frame_enc *fe;
	assert_int_equal(ksk_frame_enc_create(NULL, 1, &fe), KSK_OK);
	size_t plen;
	const uint8_t *p = ksk_wire_enc_data(we, &plen);
	ksk_frame_meta meta;
	memset(&meta, 0, sizeof(meta));
	memset(meta.agent_id, 0xc1, sizeof(meta.agent_id));
	meta.seq = ++S.seq;
	meta.created_ns = now_ns();
	meta.record_count = ksk_wire_enc_count(we);
	meta.compress = true;
	const uint8_t *f;
	size_t flen;
	assert_int_equal(ksk_frame_encode(fe, &meta, p, plen, &f, &flen, NULL), KSK_OK);
	col_client *c;
	ksk_errinfo ei;
	assert_int_equal(col_client_open(S.ingest, 10000, &c, &ei), KSK_OK);
	ksk_ack ack;
	if (col_client_send_frame(c, f, flen, &ack, &ei) != KSK_OK)
		fail_msg("send: %s", ei.msg);
	assert_int_equal(ack.outcome, KSK_ACK_STORED);
	col_client_close(c);
	ksk_frame_enc_destroy(fe);
}

static void send_known_trace(void)
{
	ksk_wire_enc *we;
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &we), KSK_OK);
	uint32_t fe = add_resource(we, "frontend", "web-1");
	uint32_t co = add_resource(we, "checkout", "app-2");
	uint32_t pa = add_resource(we, "payments", "db-1");
	add_span(we, fe, 1, 0, "GET /checkout", KSK_KIND_SERVER, 0, 250, false);
	add_span(we, fe, 2, 1, "POST /api/checkout", KSK_KIND_CLIENT, 5, 185, false);
	add_span(we, co, 3, 2, "POST /api/checkout", KSK_KIND_SERVER, 6, 184, false);
	add_span(we, co, 4, 3, "charge card", KSK_KIND_CLIENT, 10, 100, false);
	add_span(we, pa, 5, 4, "POST /charge", KSK_KIND_SERVER, 12, 97, true);
	add_log(we, fe, S.base_ns + 1 * MS, 9, "INFO", "request received path=/checkout", 1);
	add_log(we, pa, S.base_ns + 30 * MS, 17, "ERROR", "card declined: insufficient funds", 5);
	add_log(we, co, S.base_ns + 105 * MS, 13, "WARN", "payment failed, retrying later", 3);
	add_log(we, fe, S.base_ns + 2 * MS, 9, "INFO", "cli-proc unrelated log line", 0);
	send_payload(we);
	ksk_wire_enc_destroy(we);
}

static void send_one_log(const char *body)
{
	ksk_wire_enc *we;
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &we), KSK_OK);
	uint32_t fe = add_resource(we, "frontend", "web-1");
	add_log(we, fe, now_ns(), 9, "INFO", body, 0);
	send_payload(we);
	ksk_wire_enc_destroy(we);
}

/* ---- running kiseki ------------------------------------------------------------------------ */

typedef struct run {
	int code;
	char *out, *err;
} run;

static void run_free(run *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

/* runs `kiseki` with `args` (NULL-terminated); with `auth` the server and
 * token options come first */
static void run_cli(run *r, bool auth, const char *const *args)
{
	const char *argv[48];
	int n = 0;
	argv[n++] = CLI_PATH;
	if (auth) {
		argv[n++] = "--server";
		argv[n++] = S.server;
		argv[n++] = "--token-file";
		argv[n++] = S.token;
	}
	argv[n++] = "--width";
	argv[n++] = "100";
	argv[n++] = "--ascii";
	for (int i = 0; args[i] && n < 46; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	const char *env[] = {"TZ=UTC", "NO_COLOR=1", NULL};
	kh_spawn_opts o;
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.env = env;
	o.name = "kiseki";
	kh_proc *p;
	kh_msg msg;
	if (kh_proc_spawn(&p, &o, &msg) != 0)
		fail_msg("spawn kiseki: %s", msg.text);
	kh_exit ex;
	if (kh_proc_wait_exit(p, 60000, true, &ex, &msg) != 0)
		fail_msg("kiseki did not exit: %s", msg.text);
	r->code = ex.code;
	r->out = kh_proc_stdout_dup(p, NULL);
	r->err = kh_proc_stderr_dup(p, NULL);
	kh_proc_destroy(p);
	assert_non_null(r->out);
	assert_non_null(r->err);
}

#define RUN(r, ...)                                                                          \
	do {                                                                                 \
		const char *a_[] = {__VA_ARGS__, NULL};                                      \
		run_cli((r), true, a_);                                                      \
	} while (0)

static void expect_code(const run *r, int code)
{
	if (r->code != code)
		fail_msg("exit %d, expected %d\n--- stdout:\n%s\n--- stderr:\n%s", r->code, code, r->out,
		         r->err);
}

static void expect_has(const char *hay, const char *needle, const run *r)
{
	if (!strstr(hay, needle))
		fail_msg("'%s' not found\n--- stdout:\n%s\n--- stderr:\n%s", needle, r->out, r->err);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* ---- the stack ----------------------------------------------------------------------------- */

static int stack_up(void **state)
{
	(void)state;
	memset(&S, 0, sizeof(S));
	kh_msg msg;
	assert_int_equal(kh_tmpdir_create("cli-proc", &S.dir, &msg), 0);
	snprintf(S.data, sizeof(S.data), "%s/data", S.dir);
	snprintf(S.token, sizeof(S.token), "%s/token", S.dir);
	FILE *f = fopen(S.token, "w");
	assert_non_null(f);
	fputs("s3cret-cli-token\n", f);
	fclose(f);
	uint16_t p1, p2, p3;
	assert_int_equal(kh_free_port(&p1, &msg), 0);
	assert_int_equal(kh_free_port(&p2, &msg), 0);
	assert_int_equal(kh_free_port(&p3, &msg), 0);
	snprintf(S.ingest, sizeof(S.ingest), "tcp://127.0.0.1:%u", p1);
	snprintf(S.qlisten, sizeof(S.qlisten), "tcp://127.0.0.1:%u", p2);
	char metrics[64];
	snprintf(metrics, sizeof(metrics), "127.0.0.1:%u", p3);
	const char *cargv[] = {COLLECTOR_PATH, "--data-dir", S.data, "--listen", S.ingest,
	                       "--query-listen", S.qlisten, "--metrics-listen", metrics, NULL};
	kh_spawn_opts o;
	memset(&o, 0, sizeof(o));
	o.argv = cargv;
	o.name = "collector";
	if (kh_proc_spawn(&S.col, &o, &msg) != 0 || kh_proc_wait_ready(S.col, 30000, NULL, NULL,
	                                                                 &msg) != 0)
		fail_msg("collector: %s", msg.text);
	const char *qargv[] = {QUERY_PATH, "--collector", S.qlisten, "--listen", "127.0.0.1:0",
	                       "--auth-token-file", S.token, NULL};
	o.argv = qargv;
	o.name = "query";
	const char *name, *addr;
	if (kh_proc_spawn(&S.qry, &o, &msg) != 0 ||
	    kh_proc_wait_ready(S.qry, 30000, &name, &addr, &msg) != 0)
		fail_msg("query: %s", msg.text);
	assert_string_equal(name, "kiseki-query");
	snprintf(S.server, sizeof(S.server), "%s", addr);
	S.base_ns = now_ns() - 600ull * 1000 * MS; /* ten minutes ago */
	send_known_trace();
	/* wait until the trace is searchable */
	for (int i = 0; i < 100; i++) {
		run r;
		RUN(&r, "search", "--service", "payments");
		bool found = r.code == 0 && strstr(r.out, TRACE_HEX);
		run_free(&r);
		if (found)
			return 0;
		struct timespec ts = {0, 200 * 1000000L};
		nanosleep(&ts, NULL);
	}
	fail_msg("the trace never became searchable");
	return -1;
}

static int stack_down(void **state)
{
	(void)state;
	kh_exit ex;
	kh_msg msg;
	if (S.qry) {
		kh_proc_stop(S.qry, 20000, &ex, &msg);
		kh_proc_destroy(S.qry);
	}
	if (S.col) {
		kh_proc_stop(S.col, 20000, &ex, &msg);
		kh_proc_destroy(S.col);
	}
	if (S.dir) {
		kh_rmtree(S.dir, &msg);
		free(S.dir);
	}
	return 0;
}

/* ---- tests ------------------------------------------------------------------------------- */

static const char *line_with(const char *s, const char *needle)
{
	const char *p = strstr(s, needle);
	if (!p)
		return NULL;
	while (p > s && p[-1] != '\n')
		p--;
	return p;
}

static void test_trace_text(void **state)
{
	(void)state;
	run r;
	RUN(&r, "trace", TRACE_HEX);
	expect_code(&r, 0);
	expect_has(r.out, "Trace " TRACE_HEX, &r);
	expect_has(r.out, "Spans 5  Services 3  Errors 1  Logs 3", &r);
	expect_has(r.out, "frontend GET /checkout", &r);
	/* the error span is marked, and its log is under it */
	const char *err = line_with(r.out, "payments POST /charge");
	if (!err || err[1] != '!')
		fail_msg("no '!' mark on the error span:\n%s", r.out);
	const char *log = strstr(r.out, "+30.00ms ERROR card declined: insufficient funds");
	if (!log || log < err)
		fail_msg("the error log is not under its span:\n%s", r.out);
	/* the checkout log comes after the subtree of charge card (105 ms) */
	const char *warn = strstr(r.out, "+105.00ms WARN  payment failed, retrying later");
	if (!warn || warn < log)
		fail_msg("the checkout log is misplaced:\n%s", r.out);
	/* the root starts the critical path */
	const char *root = line_with(r.out, "frontend GET /checkout");
	assert_int_equal(root[0], '*');
	run_free(&r);
	/* --no-logs, --raw */
	RUN(&r, "trace", TRACE_HEX, "--no-logs", "--raw");
	expect_code(&r, 0);
	assert_null(strstr(r.out, "card declined"));
	assert_null(strstr(r.out, "Logs "));
	run_free(&r);
}

static void test_trace_json(void **state)
{
	(void)state;
	run r;
	RUN(&r, "--json", "trace", TRACE_HEX);
	expect_code(&r, 0);
	json_error_t je;
	json_t *j = json_loads(r.out, 0, &je);
	if (!j)
		fail_msg("not JSON (%s): %s", je.text, r.out);
	json_t *tr = json_array_get(json_object_get(json_object_get(j, "trace"), "data"), 0);
	assert_int_equal(json_array_size(json_object_get(tr, "spans")), 5);
	assert_string_equal(json_string_value(json_object_get(tr, "traceID")), TRACE_HEX);
	json_t *logs = json_object_get(json_object_get(j, "logs"), "data");
	assert_int_equal(json_array_size(logs), 3);
	json_decref(j);
	assert_int_equal(count_lines(r.out), 1);
	run_free(&r);
}

static void test_search(void **state)
{
	(void)state;
	run r;
	RUN(&r, "search", "--service", "checkout", "--since", "1h");
	expect_code(&r, 0);
	const char *row = line_with(r.out, TRACE_HEX);
	if (!row)
		fail_msg("trace not listed:\n%s", r.out);
	/* ID, start, duration 250ms, 5 spans, 1 error, root */
	expect_has(row, "250.00ms      5       1  frontend: GET /checkout", &r);
	expect_has(r.out, "TRACE ID", &r);
	run_free(&r);
	RUN(&r, "search", "--errors", "--operation", "POST /charge", "--service", "payments");
	expect_code(&r, 0);
	expect_has(r.out, TRACE_HEX, &r);
	run_free(&r);
	RUN(&r, "search", "--min-duration", "1s");
	expect_code(&r, 0);
	assert_null(strstr(r.out, TRACE_HEX));
	run_free(&r);
	RUN(&r, "search", "--service", "no-such-service");
	expect_code(&r, 0);
	assert_string_equal(r.out, "");
	expect_has(r.err, "no traces found", &r);
	run_free(&r);
	RUN(&r, "search", "--since", "5m"); /* the trace is ten minutes old */
	expect_code(&r, 0);
	assert_null(strstr(r.out, TRACE_HEX));
	run_free(&r);
	RUN(&r, "--json", "search", "--service", "frontend");
	expect_code(&r, 0);
	json_t *j = json_loads(r.out, 0, NULL);
	assert_non_null(j);
	assert_true(json_array_size(json_object_get(j, "data")) >= 1);
	json_decref(j);
	run_free(&r);
}

static void test_logs(void **state)
{
	(void)state;
	run r;
	RUN(&r, "logs", "--service", "frontend", "--until", "1m");
	expect_code(&r, 0);
	assert_int_equal(count_lines(r.out), 2);
	/* oldest first, in TIME LEVEL SERVICE HOST BODY [trace=] form */
	const char *a = strstr(r.out, " INFO  frontend web-1 request received path=/checkout trace="
	                              TRACE_HEX "\n");
	const char *b = strstr(r.out, " INFO  frontend web-1 cli-proc unrelated log line\n");
	if (!a || !b || a > b)
		fail_msg("logs out of order or format:\n%s", r.out);
	run_free(&r);
	RUN(&r, "logs", "--trace", TRACE_HEX);
	expect_code(&r, 0);
	assert_int_equal(count_lines(r.out), 3);
	run_free(&r);
	RUN(&r, "logs", "--level", "error", "--since", "1h");
	expect_code(&r, 0);
	expect_has(r.out, "ERROR payments db-1 card declined: insufficient funds", &r);
	assert_int_equal(count_lines(r.out), 1);
	run_free(&r);
	RUN(&r, "logs", "--grep", "retry(ing)? later", "--host", "app-2");
	expect_code(&r, 0);
	expect_has(r.out, "WARN  checkout app-2 payment failed", &r);
	assert_int_equal(count_lines(r.out), 1);
	run_free(&r);
	RUN(&r, "logs", "--service", "nobody");
	expect_code(&r, 0);
	assert_string_equal(r.out, "");
	run_free(&r);
	/* a regex the server refuses: its message, exit 3 */
	RUN(&r, "logs", "--grep", "(unclosed");
	expect_code(&r, 3);
	expect_has(r.err, "HTTP 400", &r);
	expect_has(r.err, "parameter q", &r);
	run_free(&r);
}

static void test_services_deps(void **state)
{
	(void)state;
	run r;
	RUN(&r, "services");
	expect_code(&r, 0);
	assert_string_equal(r.out, "checkout\nfrontend\npayments\n");
	run_free(&r);
	RUN(&r, "deps", "--since", "2h");
	expect_code(&r, 0);
	expect_has(r.out, "frontend\n`- checkout  1 call   avg  178.00ms\n", &r);
	expect_has(r.out, "checkout\n`- payments  1 call   avg   85.00ms  1 error\n", &r);
	run_free(&r);
	RUN(&r, "deps", "--since", "1m");
	expect_code(&r, 0);
	assert_string_equal(r.out, "");
	run_free(&r);
}

static void test_exit_codes(void **state)
{
	(void)state;
	run r;
	RUN(&r, "trace", "0123456789abcdef0123456789abcdef");
	expect_code(&r, 1);
	expect_has(r.err, "not found", &r);
	assert_string_equal(r.out, "");
	run_free(&r);
	RUN(&r, "search", "--bogus", "x");
	expect_code(&r, 2);
	expect_has(r.err, "--bogus", &r);
	run_free(&r);
	RUN(&r, "logs", "--operation", "x");
	expect_code(&r, 2);
	expect_has(r.err, "--operation", &r);
	run_free(&r);
	RUN(&r, "trace", "xyz");
	expect_code(&r, 2);
	run_free(&r);
	const char *none[] = {NULL};
	run_cli(&r, false, none);
	expect_code(&r, 2);
	run_free(&r);
	const char *help[] = {"--help", NULL};
	run_cli(&r, false, help);
	expect_code(&r, 0);
	expect_has(r.out, "Exit status", &r);
	run_free(&r);
	/* no token: the server's 401 and its message */
	char srv[160];
	snprintf(srv, sizeof(srv), "--server=%s", S.server);
	const char *noauth[] = {srv, "services", NULL};
	run_cli(&r, false, noauth);
	expect_code(&r, 3);
	expect_has(r.err, "HTTP 401", &r);
	expect_has(r.err, "missing or wrong bearer token", &r);
	run_free(&r);
	/* a server nobody listens on */
	uint16_t port;
	kh_msg msg;
	assert_int_equal(kh_free_port(&port, &msg), 0);
	snprintf(srv, sizeof(srv), "http://127.0.0.1:%u", port);
	const char *dead[] = {"--server", srv, "--timeout", "5s", "services", NULL};
	run_cli(&r, false, dead);
	expect_code(&r, 3);
	expect_has(r.err, "cannot reach", &r);
	run_free(&r);
	/* the server from the environment */
	const char *dead2[] = {"trace", "abc", NULL};
	setenv("KISEKI_SERVER", srv, 1);
	run_cli(&r, false, dead2);
	unsetenv("KISEKI_SERVER");
	expect_code(&r, 3);
	expect_has(r.err, srv, &r);
	run_free(&r);
	/* a missing token file is a usage error */
	const char *notok[] = {"--token-file", "/nonexistent/kiseki-token", "services", NULL};
	run_cli(&r, false, notok);
	expect_code(&r, 2);
	expect_has(r.err, "/nonexistent/kiseki-token", &r);
	run_free(&r);
}

/* waits for a stdout line of `p` containing `needle`; appends every line
 * read to `all` */
static bool wait_line(kh_proc *p, const char *needle, int timeout_ms, char *all, size_t cap)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		long el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (el >= timeout_ms)
			return false;
		const char *line;
		kh_msg msg;
		if (kh_proc_read_line(p, (int)(timeout_ms - el), &line, &msg) != 0)
			return false;
		size_t l = strlen(all);
		snprintf(all + l, cap - l, "%s\n", line);
		if (strstr(line, needle))
			return true;
	}
}

static void test_follow(void **state)
{
	(void)state;
	const char *argv[] = {CLI_PATH, "--server", S.server, "--token-file", S.token, "--ascii",
	                      "logs", "-f", "--service", "frontend", NULL};
	const char *env[] = {"TZ=UTC", NULL};
	kh_spawn_opts o;
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.env = env;
	o.name = "kiseki-follow";
	kh_proc *p;
	kh_msg msg;
	assert_int_equal(kh_proc_spawn(&p, &o, &msg), 0);
	static char all[1 << 16];
	all[0] = '\0';
	/* the existing records first, oldest first */
	assert_true(wait_line(p, "request received", 20000, all, sizeof(all)));
	assert_true(wait_line(p, "cli-proc unrelated log line", 20000, all, sizeof(all)));
	send_one_log("follow-me one");
	if (!wait_line(p, "follow-me one", 20000, all, sizeof(all)))
		fail_msg("the new record never appeared; got:\n%s", all);
	send_one_log("follow-me two");
	if (!wait_line(p, "follow-me two", 20000, all, sizeof(all)))
		fail_msg("the second record never appeared; got:\n%s", all);
	/* a few more polls: nothing is printed twice */
	struct timespec ts = {3, 500 * 1000000L};
	nanosleep(&ts, NULL);
	assert_int_equal(kh_proc_signal(p, SIGINT, &msg), 0);
	kh_exit ex;
	assert_int_equal(kh_proc_wait_exit(p, 20000, true, &ex, &msg), 0);
	assert_int_equal(ex.code, 0);
	char *out = kh_proc_stdout_dup(p, NULL);
	assert_non_null(out);
	if (count_of(out, "follow-me one") != 1 || count_of(out, "follow-me two") != 1 ||
	    count_of(out, "request received") != 1 || count_lines(out) != 4)
		fail_msg("each record once, 4 lines expected:\n%s", out);
	free(out);
	kh_proc_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trace_text),  cmocka_unit_test(test_trace_json),
		cmocka_unit_test(test_search),      cmocka_unit_test(test_logs),
		cmocka_unit_test(test_exit_codes),  cmocka_unit_test(test_follow),
		cmocka_unit_test(test_services_deps),
	};
	return cmocka_run_group_tests(tests, stack_up, stack_down);
}
