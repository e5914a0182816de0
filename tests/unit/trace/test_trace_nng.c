/*
 * test_trace_nng.c : the agent sink of libkiseki-trace (shared library)
 * received by an NNG PULL socket in this process, as the agent's intake
 * receives it, and decoded with the shared frame/wire decoders: frame
 * header (agent ID constant, sequence increasing), the resource record,
 * the spans. Both transports: libnng PUSH and the built-in SP client (ipc
 * and tcp). Agent away: spans dropped and counted, the service not held
 * up; agent back: delivery resumes.
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
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>

#include "kiseki/frame.h"
#include "kiseki/trace.h"
#include "kiseki/wire.h"

typedef struct rx {
	nng_socket pull;
	nng_listener lst;
	char dir[64];
	char url[160];
	ksk_frame_dec *fd;
	ksk_wire_dec *wd;
	nng_msg *msg;          /* the last frame (the batch points into it) */
	ksk_frame_hdr hdr;
	const ksk_batch *b;
} rx;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void rx_listen(rx *r)
{
	assert_int_equal(nng_pull0_open(&r->pull), 0);
	assert_int_equal(nng_socket_set_ms(r->pull, NNG_OPT_RECVTIMEO, 200), 0);
	assert_int_equal(nng_listener_create(&r->lst, r->pull, r->url), 0);
	assert_int_equal(nng_listener_start(r->lst, 0), 0);
}

static void rx_open(rx *r, bool tcp)
{
	memset(r, 0, sizeof(*r));
	if (tcp) {
		snprintf(r->url, sizeof(r->url), "tcp://127.0.0.1:0");
	} else {
		snprintf(r->dir, sizeof(r->dir), "/tmp/kiseki-trace-nng-XXXXXX");
		assert_non_null(mkdtemp(r->dir));
		snprintf(r->url, sizeof(r->url), "ipc://%s/intake.sock", r->dir);
	}
	rx_listen(r);
	if (tcp) {
		int port = 0;
		assert_int_equal(nng_listener_get_int(r->lst, NNG_OPT_TCP_BOUND_PORT, &port), 0);
		snprintf(r->url, sizeof(r->url), "tcp://127.0.0.1:%d", port);
	}
	assert_int_equal(ksk_frame_dec_create(NULL, NULL, &r->fd), KSK_OK);
	assert_int_equal(ksk_wire_dec_create(NULL, NULL, &r->wd), KSK_OK);
}

static void rx_close(rx *r)
{
	if (r->msg)
		nng_msg_free(r->msg);
	nng_close(r->pull);
	ksk_frame_dec_destroy(r->fd);
	ksk_wire_dec_destroy(r->wd);
	if (r->dir[0]) {
		char p[200];
		snprintf(p, sizeof(p), "%s/intake.sock", r->dir);
		unlink(p);
		rmdir(r->dir);
	}
}

/* Receives and decodes one frame; false on timeout. */
static bool rx_frame(rx *r, int timeout_ms)
{
	if (r->msg)
		nng_msg_free(r->msg);
	r->msg = NULL;
	r->b = NULL;
	uint64_t dl = now_ms() + (uint64_t)timeout_ms;
	while (now_ms() < dl) {
		int rv = nng_recvmsg(r->pull, &r->msg, 0);
		if (rv == NNG_ETIMEDOUT)
			continue;
		assert_int_equal(rv, 0);
		ksk_errinfo ei;
		ksk_err rc = ksk_frame_decode_batch(r->fd, r->wd, nng_msg_body(r->msg),
		                                    nng_msg_len(r->msg), &r->hdr, &r->b, &ei);
		if (rc != KSK_OK)
			fail_msg("frame does not decode: %s", ei.msg);
		return true;
	}
	return false;
}

static const ksk_span *find_span(const ksk_batch *b, const char *name)
{
	for (uint32_t i = 0; i < b->n_spans; i++)
		if (ksk_str_eq(b->spans[i].name, ksk_str_c(name)))
			return &b->spans[i];
	return NULL;
}

static const ksk_value *res_attr(const ksk_batch *b, const char *key)
{
	const ksk_attr *a = ksk_attrs_find(b->resources[0].attrs, b->resources[0].n_attrs,
	                                   ksk_str_c(key));
	return a ? &a->value : NULL;
}

static void init_to(const char *url, bool builtin, const char *svc)
{
	static const ksk_attr res[] = {
		{KSK_STR("deployment.environment"), {.type = KSK_VAL_STR,
		                                     .u.s = KSK_STR("test")}},
	};
	ksk_trace_opts o;
	ksk_trace_opts_init(&o);
	o.service_name = svc;
	o.resource = res;
	o.n_resource = 1;
	o.agent_url = url;
	o.agent_builtin = builtin;
	o.file_path = "";
	o.flush_interval_ms = 60000; /* only explicit flushes */
	ksk_errinfo ei;
	ksk_err rc = ksk_trace_init(&o, &ei);
	if (rc != KSK_OK)
		fail_msg("init: %s", ei.msg);
}

/* Sends warm-up spans until one arrives: the sinks connect in the
 * background. */
static void warm_up(rx *r)
{
	for (int i = 0; i < 100; i++) {
		{
			KSK_SPAN(sp, "warmup");
		}
		assert_int_equal(ksk_trace_flush(5000), KSK_OK);
		if (rx_frame(r, 100)) {
			assert_non_null(find_span(r->b, "warmup"));
			while (rx_frame(r, 300))
				; /* an earlier warm-up frame that came late */
			return;
		}
	}
	fail_msg("nothing arrived at %s", r->url);
}

static void exchange(bool tcp, bool builtin)
{
	rx r;
	rx_open(&r, tcp);
	init_to(r.url, builtin, "nng-svc");
	warm_up(&r);
	uint8_t agent_id[KSK_AGENT_ID_LEN];
	memcpy(agent_id, r.hdr.agent_id, sizeof(agent_id));
	assert_false(ksk_id_is_zero(agent_id, sizeof(agent_id)));
	uint64_t seq = r.hdr.seq;
	assert_true(seq >= 1);

	ksk_trace_ctx root_ctx;
	{
		KSK_SPAN_KIND(root, "GET /checkout", KSK_KIND_SERVER);
		KSK_SPAN_ATTR_CONST(root, "http.method", "GET");
		KSK_SPAN_ATTR_INT(root, "http.status_code", 200);
		root_ctx = ksk_trace_span_ctx(root);
		{
			KSK_SPAN_KIND(db, "SELECT orders", KSK_KIND_CLIENT);
			KSK_SPAN_ATTR_STR(db, "db.system", "postgresql");
			KSK_SPAN_ATTR_DOUBLE(db, "rows.ratio", 0.5);
			KSK_SPAN_ATTR_BOOL(db, "cache.hit", false);
			KSK_SPAN_EVENT(db, "retry");
			KSK_SPAN_EVENT_ATTR_INT(db, "attempt", 2);
			KSK_SPAN_ERROR(db, "deadlock");
		}
	}
	assert_int_equal(ksk_trace_flush(5000), KSK_OK);
	assert_true(rx_frame(&r, 5000));
	assert_memory_equal(r.hdr.agent_id, agent_id, sizeof(agent_id));
	assert_true(r.hdr.seq > seq);
	assert_true(r.hdr.flags & KSK_FRAME_FLAG_ZSTD);
	const ksk_batch *b = r.b;
	assert_int_equal(b->n_resources, 1);
	assert_int_equal(b->n_spans, 2);
	assert_true(ksk_str_eq(b->resources[0].service, KSK_STR("nng-svc")));
	const ksk_value *v = res_attr(b, "deployment.environment");
	assert_non_null(v);
	assert_true(ksk_str_eq(v->u.s, KSK_STR("test")));
	v = res_attr(b, "process.pid");
	assert_non_null(v);
	assert_int_equal(v->u.i, (int64_t)getpid());
	assert_non_null(res_attr(b, "host.name"));
	assert_non_null(res_attr(b, "telemetry.sdk.name"));

	const ksk_span *root = find_span(b, "GET /checkout");
	const ksk_span *db = find_span(b, "SELECT orders");
	assert_non_null(root);
	assert_non_null(db);
	assert_memory_equal(root->trace_id, root_ctx.trace_id, 16);
	assert_memory_equal(root->span_id, root_ctx.span_id, 8);
	assert_false(root->has_parent);
	assert_true(db->has_parent);
	assert_memory_equal(db->parent_id, root->span_id, 8);
	assert_memory_equal(db->trace_id, root->trace_id, 16);
	assert_int_equal(root->kind, KSK_KIND_SERVER);
	assert_int_equal(db->kind, KSK_KIND_CLIENT);
	assert_int_equal(root->flags & 0xff, 3);
	assert_true(ksk_str_eq(root->scope_name, KSK_STR("kiseki-trace")));
	assert_true(root->end_ns >= db->end_ns && db->start_ns >= root->start_ns);
	const ksk_attr *a = ksk_attrs_find(root->attrs, root->n_attrs, KSK_STR("http.method"));
	assert_non_null(a);
	assert_true(ksk_str_eq(a->value.u.s, KSK_STR("GET")));
	a = ksk_attrs_find(root->attrs, root->n_attrs, KSK_STR("http.status_code"));
	assert_non_null(a);
	assert_int_equal(a->value.u.i, 200);
	a = ksk_attrs_find(db->attrs, db->n_attrs, KSK_STR("rows.ratio"));
	assert_non_null(a);
	assert_true(a->value.type == KSK_VAL_DOUBLE && a->value.u.d == 0.5);
	a = ksk_attrs_find(db->attrs, db->n_attrs, KSK_STR("cache.hit"));
	assert_non_null(a);
	assert_true(a->value.type == KSK_VAL_BOOL && !a->value.u.b);
	assert_int_equal(db->n_events, 1);
	assert_true(ksk_str_eq(db->events[0].name, KSK_STR("retry")));
	assert_int_equal(db->events[0].n_attrs, 1);
	assert_int_equal(db->status, KSK_STATUS_ERROR);
	assert_true(ksk_str_eq(db->status_msg, KSK_STR("deadlock")));

	/* many spans: several frames (1 MiB payload cap), all arrive, in
	 * sequence order */
	enum { MANY = 3000 };
	for (int i = 0; i < MANY; i++) {
		KSK_SPAN(sp, "many");
		KSK_SPAN_ATTR_INT(sp, "i", i);
		if ((i & 255) == 255)
			assert_int_equal(ksk_trace_flush(5000), KSK_OK); /* ring: 512 */
	}
	assert_int_equal(ksk_trace_flush(5000), KSK_OK);
	uint32_t got = 0;
	uint64_t last = r.hdr.seq;
	while (got < MANY && rx_frame(&r, 5000)) {
		assert_true(r.hdr.seq > last);
		last = r.hdr.seq;
		got += r.b->n_spans;
	}
	assert_int_equal(got, MANY);
	ksk_trace_stats st;
	ksk_trace_stats_get(&st);
	assert_int_equal(st.dropped_ring_full, 0);
	assert_int_equal(st.agent_spans_dropped, 0);
	assert_int_equal(st.dropped_encode, 0);
	assert_true(st.agent_frames_sent >= 3);
	ksk_trace_shutdown();
	rx_close(&r);
}

static void test_nng_ipc(void **state)
{
	(void)state;
	exchange(false, false);
}

static void test_builtin_ipc(void **state)
{
	(void)state;
	exchange(false, true);
}

static void test_builtin_tcp(void **state)
{
	(void)state;
	exchange(true, true);
}

static void test_nng_tcp(void **state)
{
	(void)state;
	exchange(true, false);
}

static void agent_away(bool builtin)
{
	char dir[] = "/tmp/kiseki-trace-away-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char url[128];
	snprintf(url, sizeof(url), "ipc://%s/nobody.sock", dir);
	init_to(url, builtin, "away");
	uint64_t t0 = now_ms();
	for (int i = 0; i < 100; i++) {
		KSK_SPAN(sp, "lost");
	}
	uint64_t t1 = now_ms();
	assert_int_equal(ksk_trace_flush(5000), KSK_OK);
	uint64_t t2 = now_ms();
	ksk_trace_stats st;
	ksk_trace_stats_get(&st);
	assert_int_equal(st.spans_exported, 100);
	assert_int_equal(st.agent_spans_dropped, 100);
	assert_int_equal(st.agent_spans_sent, 0);
	assert_true(t1 - t0 < 1000); /* span ends never wait for the agent */
	assert_true(t2 - t1 < 2000); /* neither does the exporter, much */
	ksk_trace_shutdown();
	rmdir(dir);
}

static void test_agent_away_nng(void **state)
{
	(void)state;
	agent_away(false);
}

static void test_agent_away_builtin(void **state)
{
	(void)state;
	agent_away(true);
}

/* The agent restarts: spans meanwhile are dropped and counted, then
 * delivery resumes on its own (built-in client: reconnect with backoff). */
static void test_agent_restart_builtin(void **state)
{
	(void)state;
	rx r;
	rx_open(&r, false);
	init_to(r.url, true, "restart");
	warm_up(&r);
	nng_close(r.pull);
	char path[200];
	snprintf(path, sizeof(path), "%s/intake.sock", r.dir);
	unlink(path);
	struct timespec ts = {0, 100000000};
	nanosleep(&ts, NULL); /* the connection is closed by now */
	for (int i = 0; i < 10; i++) {
		KSK_SPAN(sp, "while-away");
	}
	assert_int_equal(ksk_trace_flush(5000), KSK_OK);
	ksk_trace_stats st;
	ksk_trace_stats_get(&st);
	assert_int_equal(st.agent_spans_dropped, 10);
	rx_listen(&r);
	bool back = false;
	for (int i = 0; i < 100 && !back; i++) {
		{
			KSK_SPAN(sp, "after");
		}
		assert_int_equal(ksk_trace_flush(5000), KSK_OK);
		back = rx_frame(&r, 100);
	}
	assert_true(back);
	assert_non_null(find_span(r.b, "after"));
	assert_null(find_span(r.b, "while-away"));
	ksk_trace_shutdown();
	rx_close(&r);
}

static int teardown(void **state)
{
	(void)state;
	ksk_trace_shutdown(); /* after a failed test: the next one starts clean */
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_nng_ipc, teardown),
		cmocka_unit_test_teardown(test_builtin_ipc, teardown),
		cmocka_unit_test_teardown(test_builtin_tcp, teardown),
		cmocka_unit_test_teardown(test_nng_tcp, teardown),
		cmocka_unit_test_teardown(test_agent_away_nng, teardown),
		cmocka_unit_test_teardown(test_agent_away_builtin, teardown),
		cmocka_unit_test_teardown(test_agent_restart_builtin, teardown),
	};
	return cmocka_run_group_tests_name("trace_nng", tests, NULL, NULL);
}
