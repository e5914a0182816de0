/*
 * demo_svc.c : kiseki-demo-svc, one small instrumented service of the
 * demo shop (gateway -> orders -> payments, gateway -> inventory), built
 * on libkiseki-trace. `make demo` (scripts/demo.sh) starts one process per
 * role; the end-to-end test (tests/proc/test_demo_proc.c) does the same.
 *
 * Data in: requests over NNG REQ/REP, one text message each:
 *     "traceparent: <value>\ntracestate: <value>\nop: <operation>\n<body>"
 * (the W3C headers, as HTTP would carry them). Data out: a reply ("ok" or
 * "error: <why>"), spans to the local agent (libkiseki-trace, NNG ipc),
 * and log lines with the trace and span IDs to --log, which the agent
 * tails:  <RFC 3339 time> <LEVEL> [<role>] <message> trace_id=<32 hex>
 * span_id=<16 hex>.
 *
 * Roles: gateway drives traffic itself (--drive RATE per second for
 * --duration seconds, 0 = until SIGTERM; or --requests N) as root SERVER
 * spans; the others serve. Errors and slow paths happen at fixed
 * probabilities from a seeded generator, so runs look alike.
 * Invariants: a request's server span is the child of the caller's client
 * span (traceparent), every log line of a request carries its IDs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "kiseki/trace.h"

#define MAX_CALLS 4

typedef struct svc {
	const char *role;
	const char *listen;
	const char *log_path;
	FILE *log;
	struct {
		const char *name;
		const char *url;
		nng_socket sock;
	} calls[MAX_CALLS];
	int n_calls;
	double rate;
	int duration_s;
	long requests;
	unsigned seed;
	volatile sig_atomic_t *stop;
} svc;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !g_stop) {
	}
}

static double rnd(svc *s)
{
	return (double)rand_r(&s->seed) / ((double)RAND_MAX + 1.0);
}

/* one log line carrying the span's IDs */
static void logf_span(svc *s, const char *level, ksk_trace_span *sp, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void logf_span(svc *s, const char *level, ksk_trace_span *sp, const char *fmt, ...)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[40];
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ksk_trace_ctx c = ksk_trace_span_ctx(sp);
	char tid[33] = "", sid[17] = "";
	if (ksk_trace_ctx_valid(&c)) {
		ksk_hex_encode(c.trace_id, KSK_TRACE_ID_LEN, tid);
		ksk_hex_encode(c.span_id, KSK_SPAN_ID_LEN, sid);
	}
	fprintf(s->log, "%s.%03ldZ %s [%s] %s%s%s%s%s\n", when, ts.tv_nsec / 1000000L, level,
	        s->role, msg, tid[0] ? " trace_id=" : "", tid, sid[0] ? " span_id=" : "", sid);
	fflush(s->log);
}

/* calls `name` as a CLIENT span named `op`; returns 0 on "ok" */
static int call(svc *s, const ksk_trace_site *site, const char *name, char *why, size_t cap)
{
	const char *op = site->name;
	int k = 0;
	for (; k < s->n_calls; k++)
		if (strcmp(s->calls[k].name, name) == 0)
			break;
	if (k == s->n_calls) {
		snprintf(why, cap, "no downstream '%s'", name);
		return -1;
	}
	ksk_trace_span clspan __attribute__((cleanup(ksk_trace_cleanup_)));
	ksk_trace_span *cl = &clspan;
	ksk_trace_begin(cl, site, NULL, 0);
	KSK_SPAN_ATTR_STR(cl, "peer.service", name);
	KSK_SPAN_ATTR_STR(cl, "rpc.method", op);
	ksk_trace_ctx c = ksk_trace_span_ctx(cl);
	char tp[KSK_TRACE_TRACEPARENT_LEN + 1] = "", ts[KSK_TRACE_STATE_MAX + 1] = "";
	if (ksk_trace_ctx_valid(&c))
		(void)ksk_trace_inject(&c, tp, ts, sizeof(ts));
	char req[1024];
	int n = snprintf(req, sizeof(req), "traceparent: %s\ntracestate: %s\nop: %s\n", tp, ts, op);
	int rv = nng_send(s->calls[k].sock, req, (size_t)n + 1, 0);
	char *rep = NULL;
	size_t rlen = 0;
	if (rv == 0)
		rv = nng_recv(s->calls[k].sock, &rep, &rlen, NNG_FLAG_ALLOC);
	if (rv != 0) {
		snprintf(why, cap, "%s unreachable: %s", name, nng_strerror(rv));
		KSK_SPAN_ERROR(cl, why);
		return -1;
	}
	int ok = rlen >= 2 && strncmp(rep, "ok", 2) == 0;
	if (!ok) {
		snprintf(why, cap, "%s: %.*s", name, (int)(rlen && !rep[rlen - 1] ? rlen - 1 : rlen),
		         rep);
		KSK_SPAN_ERROR(cl, why);
	}
	nng_free(rep, rlen);
	return ok ? 0 : -1;
}

/* ---- the roles' work (inside their SERVER span) ---------------------------------------- */

static const ksk_trace_site site_charge = KSK_TRACE_SITE_INIT("POST /charge", KSK_KIND_CLIENT);
static const ksk_trace_site site_stock = KSK_TRACE_SITE_INIT("GET /stock", KSK_KIND_CLIENT);
static const ksk_trace_site site_order = KSK_TRACE_SITE_INIT("POST /orders", KSK_KIND_CLIENT);

static int work_orders(svc *s, ksk_trace_span *srv, char *why, size_t cap)
{
	long order = (long)(rnd(s) * 900000) + 100000;
	KSK_SPAN_ATTR_INT(srv, "order.id", order);
	{
		KSK_SPAN(v, "validate cart");
		KSK_SPAN_ATTR_INT(v, "cart.items", (long)(rnd(s) * 5) + 1);
		sleep_ms(2 + (long)(rnd(s) * 4));
	}
	logf_span(s, "INFO", srv, "order %ld received, charging", order);
	if (call(s, &site_charge, "payments", why, cap) != 0) {
		logf_span(s, "ERROR", srv, "order %ld failed: %s", order, why);
		return -1;
	}
	{
		KSK_SPAN_KIND(db, "INSERT orders", KSK_KIND_CLIENT);
		KSK_SPAN_ATTR_CONST(db, "db.system", "postgresql");
		sleep_ms(3 + (long)(rnd(s) * 5));
	}
	logf_span(s, "INFO", srv, "order %ld placed", order);
	return 0;
}

static int work_payments(svc *s, ksk_trace_span *srv, char *why, size_t cap)
{
	double amount = 5.0 + rnd(s) * 200.0;
	KSK_SPAN_ATTR_DOUBLE(srv, "payment.amount", amount);
	{
		KSK_SPAN(f, "fraud check");
		long ms = 4 + (long)(rnd(s) * 6);
		if (rnd(s) < 0.06) {
			ms += 150 + (long)(rnd(s) * 150); /* the slow path */
			KSK_SPAN_EVENT(f, "fraud model cold start");
			logf_span(s, "WARN", f, "fraud model cold, scoring took longer");
		}
		sleep_ms(ms);
	}
	if (rnd(s) < 0.08) {
		snprintf(why, cap, "card declined");
		KSK_SPAN_EVENT(srv, "card.declined");
		logf_span(s, "ERROR", srv, "charge of %.2f EUR declined by the bank", amount);
		return -1;
	}
	logf_span(s, "INFO", srv, "charged %.2f EUR", amount);
	return 0;
}

static int work_inventory(svc *s, ksk_trace_span *srv, char *why, size_t cap)
{
	(void)why;
	(void)cap;
	long sku = (long)(rnd(s) * 5000);
	KSK_SPAN_ATTR_INT(srv, "sku", sku);
	KSK_SPAN_KIND(db, "SELECT stock", KSK_KIND_CLIENT);
	KSK_SPAN_ATTR_CONST(db, "db.system", "postgresql");
	long ms = 2 + (long)(rnd(s) * 4);
	if (rnd(s) < 0.05) {
		ms += 80;
		logf_span(s, "WARN", db, "stock table lock wait for sku %ld", sku);
	}
	sleep_ms(ms);
	logf_span(s, "DEBUG", srv, "sku %ld in stock", sku);
	return 0;
}

/* ---- serving ------------------------------------------------------------------------------ */

static const char *header(const char *msg, const char *name, char *out, size_t cap)
{
	size_t n = strlen(name);
	for (const char *p = msg; p && *p;) {
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;
			while (*v == ' ')
				v++;
			size_t l = strcspn(v, "\n");
			if (l >= cap)
				l = cap - 1;
			memcpy(out, v, l);
			out[l] = '\0';
			return out;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

static int serve(svc *s)
{
	nng_socket rep;
	int rv = nng_rep0_open(&rep);
	if (rv == 0)
		rv = nng_listen(rep, s->listen, NULL, 0);
	if (rv != 0) {
		fprintf(stderr, "kiseki-demo-svc %s: listen %s: %s\n", s->role, s->listen,
		        nng_strerror(rv));
		return 1;
	}
	nng_socket_set_ms(rep, NNG_OPT_RECVTIMEO, 200);
	printf("ready kiseki-demo-svc-%s %s\n", s->role, s->listen);
	fflush(stdout);
	while (!g_stop) {
		char *msg = NULL;
		size_t len = 0;
		rv = nng_recv(rep, &msg, &len, NNG_FLAG_ALLOC);
		if (rv == NNG_ETIMEDOUT)
			continue;
		if (rv != 0)
			break;
		char tp[128], ts[KSK_TRACE_STATE_MAX + 1], op[128];
		if (len == 0 || msg[len - 1] != '\0') {
			nng_free(msg, len);
			nng_send(rep, "error: bad request", 19, 0);
			continue;
		}
		ksk_trace_remote remote;
		bool has = ksk_trace_extract(header(msg, "traceparent", tp, sizeof(tp)),
		                             header(msg, "tracestate", ts, sizeof(ts)),
		                             &remote) == KSK_OK;
		if (!header(msg, "op", op, sizeof(op)))
			snprintf(op, sizeof(op), "unknown");
		nng_free(msg, len);
		char why[256] = "";
		int r;
		{
			static const ksk_trace_site srv_orders =
				KSK_TRACE_SITE_INIT("POST /orders", KSK_KIND_SERVER);
			static const ksk_trace_site srv_payments =
				KSK_TRACE_SITE_INIT("POST /charge", KSK_KIND_SERVER);
			static const ksk_trace_site srv_inventory =
				KSK_TRACE_SITE_INIT("GET /stock", KSK_KIND_SERVER);
			const ksk_trace_site *site = strcmp(s->role, "orders") == 0 ? &srv_orders
			                             : strcmp(s->role, "payments") == 0 ? &srv_payments
			                                                                : &srv_inventory;
			ksk_trace_span span;
			ksk_trace_begin(&span, site, has ? &remote.ctx : NULL,
			                has ? 0 : KSK_TRACE_ROOT);
			KSK_SPAN_ATTR_STR(&span, "rpc.method", op);
			KSK_SPAN_ATTR_STR(&span, "service.role", s->role);
			if (strcmp(s->role, "orders") == 0)
				r = work_orders(s, &span, why, sizeof(why));
			else if (strcmp(s->role, "payments") == 0)
				r = work_payments(s, &span, why, sizeof(why));
			else
				r = work_inventory(s, &span, why, sizeof(why));
			if (r != 0)
				KSK_SPAN_ERROR(&span, why);
			ksk_trace_end(&span);
		}
		char reply[300];
		int n = r == 0 ? snprintf(reply, sizeof(reply), "ok")
		               : snprintf(reply, sizeof(reply), "error: %s", why);
		nng_send(rep, reply, (size_t)n + 1, 0);
	}
	nng_close(rep);
	return 0;
}

/* the gateway: root spans at `rate` per second */
static int drive(svc *s)
{
	printf("ready kiseki-demo-svc-gateway %.1f/s\n", s->rate);
	fflush(stdout);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long done = 0;
	while (!g_stop) {
		if (s->requests && done >= s->requests)
			break;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		double el = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
		if (s->duration_s && el >= s->duration_s)
			break;
		{
			static const ksk_trace_site site_root =
				KSK_TRACE_SITE_INIT("GET /checkout", KSK_KIND_SERVER);
			ksk_trace_span root;
			ksk_trace_begin(&root, &site_root, NULL, KSK_TRACE_ROOT);
			KSK_SPAN_ATTR_CONST(&root, "http.request.method", "GET");
			KSK_SPAN_ATTR_CONST(&root, "http.route", "/checkout");
			long user = (long)(rnd(s) * 5000);
			KSK_SPAN_ATTR_INT(&root, "enduser.id", user);
			logf_span(s, "INFO", &root, "checkout started for user %ld", user);
			char why[256] = "";
			int r = call(s, &site_stock, "inventory", why, sizeof(why));
			if (r == 0)
				r = call(s, &site_order, "orders", why, sizeof(why));
			{
				KSK_SPAN(rd, "render page");
				sleep_ms(1 + (long)(rnd(s) * 3));
			}
			if (r != 0) {
				KSK_SPAN_ATTR_INT(&root, "http.response.status_code", 502);
				KSK_SPAN_ERROR(&root, why);
				logf_span(s, "ERROR", &root, "checkout failed: %s", why);
			} else {
				KSK_SPAN_ATTR_INT(&root, "http.response.status_code", 200);
				logf_span(s, "INFO", &root, "checkout done");
			}
			ksk_trace_end(&root);
		}
		done++;
		double next = (double)done / s->rate;
		clock_gettime(CLOCK_MONOTONIC, &now);
		el = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
		if (next > el)
			sleep_ms((long)((next - el) * 1000.0));
	}
	fprintf(stderr, "kiseki-demo-svc gateway: %ld requests\n", done);
	return 0;
}

static void usage(void)
{
	fputs("usage: kiseki-demo-svc --role gateway|orders|payments|inventory --log FILE\n"
	      "         [--listen URL] [--call NAME=URL ...] [--agent URL] [--span-file FILE]\n"
	      "         [--drive RATE] [--duration S] [--requests N] [--seed N]\n"
	      "A demo service instrumented with libkiseki-trace (see docs/INSTRUMENTATION.md).\n"
	      "The gateway drives RATE checkouts per second; the others serve NNG REQ/REP.\n",
	      stderr);
}

int main(int argc, char **argv)
{
	svc s;
	memset(&s, 0, sizeof(s));
	s.rate = 5;
	s.seed = 42;
	const char *agent = NULL, *span_file = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			usage();
			return 2;
		}
		i++;
		if (strcmp(a, "--role") == 0)
			s.role = v;
		else if (strcmp(a, "--listen") == 0)
			s.listen = v;
		else if (strcmp(a, "--log") == 0)
			s.log_path = v;
		else if (strcmp(a, "--agent") == 0)
			agent = v;
		else if (strcmp(a, "--span-file") == 0)
			span_file = v;
		else if (strcmp(a, "--drive") == 0)
			s.rate = atof(v);
		else if (strcmp(a, "--duration") == 0)
			s.duration_s = atoi(v);
		else if (strcmp(a, "--requests") == 0)
			s.requests = atol(v);
		else if (strcmp(a, "--seed") == 0)
			s.seed = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(a, "--call") == 0 && s.n_calls < MAX_CALLS && strchr(v, '=')) {
			static char names[MAX_CALLS][32];
			size_t n = (size_t)(strchr(v, '=') - v);
			snprintf(names[s.n_calls], sizeof(names[0]), "%.*s", (int)n, v);
			s.calls[s.n_calls].name = names[s.n_calls];
			s.calls[s.n_calls].url = v + n + 1;
			s.n_calls++;
		} else {
			usage();
			return 2;
		}
	}
	bool gw = s.role && strcmp(s.role, "gateway") == 0;
	if (!s.role || !s.log_path || (!gw && !s.listen) || s.rate <= 0 ||
	    (!gw && strcmp(s.role, "orders") && strcmp(s.role, "payments") &&
	     strcmp(s.role, "inventory"))) {
		usage();
		return 2;
	}
	s.log = fopen(s.log_path, "a");
	if (!s.log) {
		fprintf(stderr, "kiseki-demo-svc: %s: %s\n", s.log_path, strerror(errno));
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	ksk_trace_opts o;
	ksk_trace_opts_init(&o);
	o.service_name = s.role;
	o.agent_url = agent ? agent : "off";
	o.file_path = span_file;
	ksk_attr res[1] = {{KSK_STR("deployment.environment.name"), ksk_val_str(KSK_STR("demo"))}};
	o.resource = res;
	o.n_resource = 1;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	if (ksk_trace_init(&o, &ei) != KSK_OK) {
		fprintf(stderr, "kiseki-demo-svc: tracing: %s\n", ei.msg);
		return 1;
	}
	int rc = 0;
	for (int k = 0; k < s.n_calls && rc == 0; k++) {
		int rv = nng_req0_open(&s.calls[k].sock);
		if (rv == 0) {
			nng_socket_set_ms(s.calls[k].sock, NNG_OPT_RECVTIMEO, 5000);
			nng_socket_set_ms(s.calls[k].sock, NNG_OPT_SENDTIMEO, 5000);
			rv = nng_dial(s.calls[k].sock, s.calls[k].url, NULL, NNG_FLAG_NONBLOCK);
		}
		if (rv != 0) {
			fprintf(stderr, "kiseki-demo-svc: dial %s: %s\n", s.calls[k].url,
			        nng_strerror(rv));
			rc = 1;
		}
	}
	if (rc == 0)
		rc = gw ? drive(&s) : serve(&s);
	ksk_trace_stats st;
	ksk_trace_stats_get(&st);
	ksk_trace_shutdown();
	fprintf(stderr, "kiseki-demo-svc %s: %llu spans exported, %llu dropped (agent away)\n",
	        s.role, (unsigned long long)st.spans_exported,
	        (unsigned long long)st.agent_spans_dropped);
	fclose(s.log);
	return rc;
}
