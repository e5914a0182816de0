/*
 * test_trace_span.c : libkiseki-trace span macros and functions: nesting
 * and the per-thread current span through scope cleanup, explicit
 * begin/end (in and out of order, detached), explicit parents across
 * threads, attributes of every type, events, status rules, per-span
 * limits, the run-time switch, timestamps, restarts and thread exit.
 * Spans are observed through the callback sink.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "trace_test_util.h"

static tt_cap *g_cap;

static int setup(void **state)
{
	(void)state;
	g_cap = tt_cap_new();
	ksk_trace_opts o;
	tt_opts(&o, g_cap);
	ksk_errinfo ei;
	if (ksk_trace_init(&o, &ei) != KSK_OK) {
		fprintf(stderr, "init: %s\n", ei.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ksk_trace_shutdown();
	tt_cap_free(g_cap);
	g_cap = NULL;
	return 0;
}

static void flush(void)
{
	assert_int_equal(ksk_trace_flush(5000), KSK_OK);
}

static void inner_work(ksk_trace_span *expect_parent)
{
	KSK_SPAN(sp, "inner");
	assert_ptr_equal(ksk_trace_current(), sp);
	assert_ptr_equal(sp->prev_, expect_parent);
	assert_memory_equal(sp->parent_id, expect_parent->span_id, 8);
	assert_memory_equal(sp->trace_id, expect_parent->trace_id, 16);
}

static void test_nesting_scope(void **state)
{
	(void)state;
	assert_null(ksk_trace_current());
	ksk_trace_span *outer_ptr;
	{
		KSK_SPAN_KIND(outer, "outer", KSK_KIND_SERVER);
		outer_ptr = outer;
		assert_true(KSK_SPAN_RECORDING(outer));
		assert_ptr_equal(ksk_trace_current(), outer);
		inner_work(outer);
		/* the inner span ended when inner_work returned */
		assert_ptr_equal(ksk_trace_current(), outer);
		{
			KSK_SPAN(second, "second");
			assert_ptr_equal(ksk_trace_current(), second);
			for (int i = 0; i < 3; i++) {
				KSK_SPAN(loop, "loop");
				assert_ptr_equal(ksk_trace_current(), loop);
			}
			assert_ptr_equal(ksk_trace_current(), second);
		}
		assert_ptr_equal(ksk_trace_current(), outer);
	}
	(void)outer_ptr;
	assert_null(ksk_trace_current());
	flush();
	const tt_span *o = tt_find(g_cap, "outer");
	const tt_span *in = tt_find(g_cap, "inner");
	const tt_span *sec = tt_find(g_cap, "second");
	assert_non_null(o);
	assert_non_null(in);
	assert_non_null(sec);
	assert_int_equal(tt_count(g_cap, "loop"), 3);
	assert_false(o->has_parent);
	assert_int_equal(o->kind, KSK_KIND_SERVER);
	assert_int_equal(in->kind, KSK_KIND_INTERNAL);
	assert_true(in->has_parent);
	assert_memory_equal(in->parent_id, o->span_id, 8);
	assert_memory_equal(sec->parent_id, o->span_id, 8);
	assert_memory_equal(in->trace_id, o->trace_id, 16);
	for (uint32_t i = 0; i < g_cap->n; i++) {
		const tt_span *s = &g_cap->spans[i];
		if (strcmp(s->name, "loop") == 0)
			assert_memory_equal(s->parent_id, sec->span_id, 8);
		assert_true(s->end_ns >= s->start_ns);
		assert_int_equal(s->flags & 3, 3); /* sampled + random */
		assert_string_equal(s->scope, "kiseki-trace");
	}
	/* children end first, so they are exported first */
	assert_true(in < o);
	assert_string_equal(g_cap->service, "trace-test");
	assert_true(g_cap->pid > 0);
}

static void test_attrs_events_status(void **state)
{
	(void)state;
	tt_cap_reset(g_cap);
	char dyn[32];
	snprintf(dyn, sizeof(dyn), "value-%d", 42);
	{
		KSK_SPAN_KIND(sp, "attrs", KSK_KIND_CLIENT);
		KSK_SPAN_ATTR_STR(sp, "s", dyn);
		dyn[0] = 'X'; /* copied: changing the source later does not matter */
		KSK_SPAN_ATTR_STRN(sp, "sn", "abcdef", 3);
		KSK_SPAN_ATTR_CONST(sp, "c", "GET");
		KSK_SPAN_ATTR_INT(sp, "i", -7);
		KSK_SPAN_ATTR_INT(sp, "big", INT64_MAX);
		KSK_SPAN_ATTR_DOUBLE(sp, "d", 2.5);
		KSK_SPAN_ATTR_BOOL(sp, "b", true);
		KSK_SPAN_EVENT_ATTR_INT(sp, "orphan", 1); /* no event yet: ignored */
		KSK_SPAN_EVENT(sp, "retry");
		KSK_SPAN_EVENT_ATTR_INT(sp, "attempt", 2);
		KSK_SPAN_EVENT_ATTR_STR(sp, "why", "timeout");
		KSK_SPAN_EVENT(sp, "done");
		KSK_SPAN_EVENT_ATTR_BOOL(sp, "ok", false);
		KSK_SPAN_EVENT_ATTR_DOUBLE(sp, "ms", 1.25);
		KSK_SPAN_STATUS(sp, KSK_STATUS_UNSET, "ignored");
		KSK_SPAN_ERROR(sp, "connection refused");
	}
	{
		KSK_SPAN(sp, "ok-final");
		KSK_SPAN_OK(sp);
		KSK_SPAN_ERROR(sp, "too late"); /* OK is final */
	}
	flush();
	const tt_span *s = tt_find(g_cap, "attrs");
	assert_non_null(s);
	assert_int_equal(s->kind, KSK_KIND_CLIENT);
	assert_int_equal(s->n_attrs, 7);
	assert_int_equal(s->dropped_attrs, 0);
	const tt_attr *a;
	assert_non_null(a = tt_attr_find(s->attrs, s->n_attrs, "s"));
	assert_int_equal(a->type, KSK_VAL_STR);
	assert_string_equal(a->s, "value-42");
	assert_non_null(a = tt_attr_find(s->attrs, s->n_attrs, "sn"));
	assert_string_equal(a->s, "abc");
	assert_non_null(a = tt_attr_find(s->attrs, s->n_attrs, "c"));
	assert_string_equal(a->s, "GET");
	assert_non_null(a = tt_attr_find(s->attrs, s->n_attrs, "i"));
	assert_int_equal(a->type, KSK_VAL_INT);
	assert_int_equal(a->i, -7);
	assert_non_null(a = tt_attr_find(s->attrs, s->n_attrs, "big"));
	assert_true(a->i == INT64_MAX);
	assert_non_null(a = tt_attr_find(s->attrs, s->n_attrs, "d"));
	assert_int_equal(a->type, KSK_VAL_DOUBLE);
	assert_true(a->d == 2.5);
	assert_non_null(a = tt_attr_find(s->attrs, s->n_attrs, "b"));
	assert_int_equal(a->type, KSK_VAL_BOOL);
	assert_true(a->b);
	assert_null(tt_attr_find(s->attrs, s->n_attrs, "orphan"));
	assert_int_equal(s->n_events, 2);
	assert_string_equal(s->events[0].name, "retry");
	assert_int_equal(s->events[0].n_attrs, 2);
	assert_int_equal(tt_attr_find(s->events[0].attrs, 2, "attempt")->i, 2);
	assert_string_equal(tt_attr_find(s->events[0].attrs, 2, "why")->s, "timeout");
	assert_string_equal(s->events[1].name, "done");
	assert_int_equal(s->events[1].n_attrs, 2);
	assert_false(tt_attr_find(s->events[1].attrs, 2, "ok")->b);
	assert_true(tt_attr_find(s->events[1].attrs, 2, "ms")->d == 1.25);
	assert_true(s->events[0].time_ns >= s->start_ns);
	assert_true(s->events[1].time_ns >= s->events[0].time_ns);
	assert_true(s->end_ns >= s->events[1].time_ns);
	assert_int_equal(s->status, KSK_STATUS_ERROR);
	assert_string_equal(s->status_msg, "connection refused");
	const tt_span *okf = tt_find(g_cap, "ok-final");
	assert_non_null(okf);
	assert_int_equal(okf->status, KSK_STATUS_OK);
	assert_string_equal(okf->status_msg, "");
}

static void test_limits(void **state)
{
	(void)state;
	tt_cap_reset(g_cap);
	char big[300];
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	/* "é" is 2 bytes: a cut in its middle must back off to a boundary */
	char utf[KSK_TRACE_STR_BYTES + 8];
	memset(utf, 'b', sizeof(utf));
	utf[KSK_TRACE_STR_BYTES - 11] = (char)0xc3;
	utf[KSK_TRACE_STR_BYTES - 10] = (char)0xa9;
	utf[sizeof(utf) - 1] = '\0';
	{
		KSK_SPAN(sp, "limits");
		for (int i = 0; i < KSK_TRACE_MAX_ATTRS + 3; i++)
			KSK_SPAN_ATTR_INT(sp, "n", i);
	}
	{
		KSK_SPAN(sp, "events");
		for (int i = 0; i < KSK_TRACE_MAX_EVENTS + 2; i++) {
			KSK_SPAN_EVENT(sp, "e");
			KSK_SPAN_EVENT_ATTR_INT(sp, "k", i);
		}
	}
	{
		KSK_SPAN(sp, "strings");
		KSK_SPAN_ATTR_STR(sp, "first", utf + 12); /* fills all but ~12 bytes */
		KSK_SPAN_ATTR_STR(sp, "second", big);
	}
	{
		KSK_SPAN(sp, "utf8cut");
		KSK_SPAN_ATTR_STRN(sp, "pad", big, 10);
		KSK_SPAN_ATTR_STR(sp, "cut", utf);
	}
	flush();
	const tt_span *s = tt_find(g_cap, "limits");
	assert_non_null(s);
	assert_int_equal(s->n_attrs, KSK_TRACE_MAX_ATTRS);
	assert_int_equal(s->dropped_attrs, 3);
	for (uint32_t i = 0; i < s->n_attrs; i++)
		assert_int_equal(s->attrs[i].i, (int64_t)i);
	s = tt_find(g_cap, "events");
	assert_non_null(s);
	assert_int_equal(s->n_events, KSK_TRACE_MAX_EVENTS);
	assert_int_equal(s->dropped_events, 2);
	/* the attributes of a dropped event are not moved to the last kept one */
	for (uint32_t e = 0; e < s->n_events; e++) {
		assert_int_equal(s->events[e].n_attrs, 1);
		assert_int_equal(s->events[e].attrs[0].i, (int64_t)e);
	}
	s = tt_find(g_cap, "strings");
	assert_non_null(s);
	assert_int_equal(s->n_attrs, 2);
	size_t l1 = strlen(s->attrs[0].s), l2 = strlen(s->attrs[1].s);
	assert_int_equal(l1 + l2, KSK_TRACE_STR_BYTES);
	s = tt_find(g_cap, "utf8cut");
	assert_non_null(s);
	const tt_attr *cut = tt_attr_find(s->attrs, s->n_attrs, "cut");
	assert_non_null(cut);
	/* 182 bytes left after the 10 of "pad": the cut falls inside the
	 * 2-byte character at offset 181, so only 181 bytes are kept */
	assert_int_equal(strlen(cut->s), KSK_TRACE_STR_BYTES - 11);
	assert_true(ksk_utf8_valid(cut->s, strlen(cut->s)));
}

typedef struct handoff {
	ksk_trace_ctx ctx;
	ksk_trace_span *seen_current;
} handoff;

static void *worker(void *arg)
{
	handoff *h = arg;
	{
		KSK_SPAN_CHILD(sp, "worker", KSK_KIND_CONSUMER, &h->ctx);
		h->seen_current = ksk_trace_current();
		KSK_SPAN(nested, "worker-nested");
		(void)nested;
	}
	return NULL;
}

static void test_explicit_and_threads(void **state)
{
	(void)state;
	tt_cap_reset(g_cap);
	ksk_trace_span a, b, d;
	KSK_SPAN_BEGIN(&a, "a", KSK_KIND_PRODUCER, NULL);
	KSK_SPAN_BEGIN(&b, "b", KSK_KIND_INTERNAL, NULL);
	assert_ptr_equal(ksk_trace_current(), &b);
	KSK_SPAN_BEGIN_DETACHED(&d, "detached", KSK_KIND_INTERNAL, NULL);
	assert_ptr_equal(ksk_trace_current(), &b); /* detached: not current */
	/* out of order: a ends first; b stays current and then pops to none */
	KSK_SPAN_END(&a);
	assert_ptr_equal(ksk_trace_current(), &b);
	KSK_SPAN_END(&b);
	assert_null(ksk_trace_current());
	KSK_SPAN_END(&b); /* idempotent */

	/* hand the detached span to a thread; end it here afterwards */
	handoff h;
	memset(&h, 0, sizeof(h));
	h.ctx = ksk_trace_span_ctx(&d);
	assert_true(ksk_trace_ctx_valid(&h.ctx));
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, worker, &h), 0);
	pthread_join(th, NULL);
	KSK_SPAN_END(&d);
	assert_non_null(h.seen_current);
	flush();
	const tt_span *sa = tt_find(g_cap, "a"), *sb = tt_find(g_cap, "b");
	const tt_span *sd = tt_find(g_cap, "detached"), *sw = tt_find(g_cap, "worker");
	const tt_span *sn = tt_find(g_cap, "worker-nested");
	assert_non_null(sa);
	assert_non_null(sb);
	assert_non_null(sd);
	assert_non_null(sw);
	assert_non_null(sn);
	assert_memory_equal(sb->parent_id, sa->span_id, 8);
	assert_memory_equal(sd->parent_id, sb->span_id, 8);
	assert_memory_equal(sw->parent_id, sd->span_id, 8);
	assert_memory_equal(sw->trace_id, sa->trace_id, 16);
	assert_int_equal(sw->kind, KSK_KIND_CONSUMER);
	assert_memory_equal(sn->parent_id, sw->span_id, 8);
	/* an invalid explicit parent starts a new trace */
	ksk_trace_ctx none;
	memset(&none, 0, sizeof(none));
	{
		KSK_SPAN_CHILD(sp, "orphan", KSK_KIND_INTERNAL, &none);
		assert_true(ksk_id_is_zero(sp->parent_id, 8));
	}
	/* KSK_TRACE_ROOT ignores the current span */
	{
		KSK_SPAN(cur, "cur");
		ksk_trace_span r;
		static const ksk_trace_site site = KSK_TRACE_SITE_INIT("root", KSK_KIND_INTERNAL);
		ksk_trace_begin(&r, &site, NULL, KSK_TRACE_ROOT);
		assert_true(ksk_id_is_zero(r.parent_id, 8));
		assert_memory_not_equal(r.trace_id, cur->trace_id, 16);
		ksk_trace_end(&r);
		assert_ptr_equal(ksk_trace_current(), cur);
	}
}

static void test_runtime_off(void **state)
{
	(void)state;
	tt_cap_reset(g_cap);
	ksk_trace_set_enabled(false);
	assert_false(KSK_TRACE_ENABLED());
	{
		KSK_SPAN(sp, "off");
		assert_false(KSK_SPAN_RECORDING(sp));
		KSK_SPAN_ATTR_INT(sp, "x", 1);
		KSK_SPAN_EVENT(sp, "e");
		KSK_SPAN_ERROR(sp, "no");
		assert_null(ksk_trace_current());
		ksk_trace_ctx c = ksk_trace_span_ctx(sp);
		assert_false(ksk_trace_ctx_valid(&c));
	}
	ksk_trace_set_enabled(true);
	{
		KSK_SPAN(sp, "on");
		assert_true(KSK_SPAN_RECORDING(sp));
	}
	flush();
	assert_null(tt_find(g_cap, "off"));
	assert_non_null(tt_find(g_cap, "on"));
}

static void test_timestamps(void **state)
{
	(void)state;
	tt_cap_reset(g_cap);
	uint64_t before = tt_wall_ns();
	{
		KSK_SPAN(sp, "sleep");
		tt_sleep_ms(30);
		KSK_SPAN_EVENT(sp, "mid");
		tt_sleep_ms(30);
	}
	uint64_t after = tt_wall_ns();
	flush();
	const tt_span *s = tt_find(g_cap, "sleep");
	assert_non_null(s);
	uint64_t dur = s->end_ns - s->start_ns;
	assert_true(dur >= 59000000ull);  /* 60 ms asleep, 1 ms of clock error */
	assert_true(dur <= after - before + 2000000ull);
	/* within 2 ms of the wall clock around it (TSC conversion error) */
	assert_true(s->start_ns + 2000000ull >= before);
	assert_true(s->end_ns <= after + 2000000ull);
	assert_true(s->events[0].time_ns > s->start_ns + 25000000ull);
	assert_true(s->events[0].time_ns < s->end_ns - 25000000ull);
	/* nanosecond resolution: a converted TSC reading is not rounded to
	 * what a double holds near 1.8e18 (256 ns steps) */
	tt_cap_reset(g_cap);
	uint64_t lo[16], hi[16];
	for (int i = 0; i < 16; i++) {
		if (i % 4 == 3)
			tt_sleep_ms(20);
		lo[i] = tt_wall_ns();
		{
			KSK_SPAN(q, "quick");
			KSK_SPAN_ATTR_INT(q, "i", i);
		}
		hi[i] = tt_wall_ns();
	}
	flush();
	assert_int_equal(g_cap->n, 16);
	int unaligned = 0;
	for (uint32_t k = 0; k < g_cap->n; k++) {
		const tt_span *q = &g_cap->spans[k];
		int i = (int)q->attrs[0].i;
		unaligned += (q->start_ns % 256) != 0;
		/* converted times agree with clock_gettime around the span */
		assert_true(q->start_ns + 100000ull >= lo[i]);
		assert_true(q->end_ns <= hi[i] + 100000ull);
	}
	assert_true(unaligned > 0);
}

static void *short_thread(void *arg)
{
	(void)arg;
	KSK_SPAN(sp, "from-thread");
	return NULL;
}

static void test_thread_exit(void **state)
{
	(void)state;
	tt_cap_reset(g_cap);
	flush();
	ksk_trace_stats st0;
	ksk_trace_stats_get(&st0);
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, short_thread, NULL), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	flush();
	flush(); /* the first drains, the ring of an exited thread is freed */
	assert_int_equal(tt_count(g_cap, "from-thread"), 4);
	ksk_trace_stats st;
	ksk_trace_stats_get(&st);
	assert_int_equal(st.threads, st0.threads);
	assert_int_equal(st.dropped_ring_full, 0);
}

static void test_restart_stale(void **state)
{
	(void)state;
	ksk_trace_span sp;
	KSK_SPAN_BEGIN(&sp, "stale", KSK_KIND_INTERNAL, NULL);
	ksk_trace_shutdown();
	/* not initialised: macros and functions are harmless */
	{
		KSK_SPAN(x, "nothing");
		assert_false(KSK_SPAN_RECORDING(x));
	}
	assert_int_equal(ksk_trace_flush(10), KSK_ESTATE);
	ksk_trace_stats st;
	ksk_trace_stats_get(&st);
	assert_int_equal(st.spans_exported, 0);
	tt_cap_reset(g_cap);
	ksk_trace_opts o;
	tt_opts(&o, g_cap);
	ksk_errinfo ei;
	assert_int_equal(ksk_trace_init(&o, &ei), KSK_OK);
	assert_int_equal(ksk_trace_init(&o, &ei), KSK_ESTATE);
	KSK_SPAN_END(&sp); /* begun under the previous tracer */
	ksk_trace_stats_get(&st);
	assert_int_equal(st.dropped_stale, 1);
	{
		KSK_SPAN(x, "fresh");
		assert_true(KSK_SPAN_RECORDING(x));
	}
	flush();
	assert_null(tt_find(g_cap, "stale"));
	assert_non_null(tt_find(g_cap, "fresh"));
}

static void test_remote_parent(void **state)
{
	(void)state;
	tt_cap_reset(g_cap);
	ksk_trace_remote rem;
	assert_int_equal(ksk_trace_extract("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	                                   "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7", &rem),
	                 KSK_OK);
	{
		KSK_SPAN_CHILD(srv, "server", KSK_KIND_SERVER, &rem.ctx);
		KSK_SPAN(child, "local-child");
		char tp[KSK_TRACE_TRACEPARENT_LEN + 1], ts[KSK_TRACE_STATE_MAX + 1];
		ksk_trace_ctx c = ksk_trace_current_ctx();
		assert_int_equal(ksk_trace_inject(&c, tp, ts, sizeof(ts)), KSK_OK);
		assert_memory_equal(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36);
		assert_string_equal(tp + 52, "-01");
		assert_string_equal(ts, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
		(void)srv;
		(void)child;
	}
	/* the remote parent says "not sampled": parent based, so not sampled,
	 * but the context still propagates */
	assert_int_equal(ksk_trace_extract("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
	                                   NULL, &rem), KSK_OK);
	{
		KSK_SPAN_CHILD(srv, "unsampled", KSK_KIND_SERVER, &rem.ctx);
		assert_false(KSK_SPAN_RECORDING(srv));
		KSK_SPAN(child, "unsampled-child");
		assert_false(KSK_SPAN_RECORDING(child));
		assert_memory_equal(child->trace_id, rem.ctx.trace_id, 16);
		char tp[KSK_TRACE_TRACEPARENT_LEN + 1];
		ksk_trace_ctx c = ksk_trace_span_ctx(child);
		assert_int_equal(ksk_trace_inject(&c, tp, NULL, 0), KSK_OK);
		assert_string_equal(tp + 52, "-00");
	}
	flush();
	const tt_span *s = tt_find(g_cap, "server");
	const tt_span *ch = tt_find(g_cap, "local-child");
	assert_non_null(s);
	assert_non_null(ch);
	uint8_t tid[16], pid[8];
	assert_true(ksk_hex_decode("4bf92f3577b34da6a3ce929d0e0e4736", 32, tid, 16, false));
	assert_true(ksk_hex_decode("00f067aa0ba902b7", 16, pid, 8, false));
	assert_memory_equal(s->trace_id, tid, 16);
	assert_memory_equal(s->parent_id, pid, 8);
	assert_string_equal(s->trace_state, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
	assert_string_equal(ch->trace_state, s->trace_state);
	assert_int_equal(s->flags & 1, 1);
	assert_int_equal(s->flags & 2, 0); /* the incoming random bit (0) is kept */
	assert_null(tt_find(g_cap, "unsampled"));
	assert_null(tt_find(g_cap, "unsampled-child"));
}

static void test_bad_options(void **state)
{
	(void)state;
	ksk_trace_shutdown();
	ksk_trace_opts o;
	ksk_errinfo ei;
	tt_opts(&o, NULL);
	o.sample_ratio = 1.5;
	assert_int_equal(ksk_trace_init(&o, &ei), KSK_EINVAL);
	tt_opts(&o, NULL);
	o.ring_slots = 100;
	assert_int_equal(ksk_trace_init(&o, &ei), KSK_EINVAL);
	tt_opts(&o, NULL);
	o.agent_url = "http://x";
	o.agent_builtin = true;
	assert_int_equal(ksk_trace_init(&o, &ei), KSK_EINVAL);
	tt_opts(&o, NULL);
	o.file_path = "/nonexistent-dir/x/spans.jsonl";
	assert_int_equal(ksk_trace_init(&o, &ei), KSK_EIO);
	tt_opts(&o, NULL);
	ksk_attr bad = {KSK_STR("k"), {.type = KSK_VAL_ARRAY}};
	o.resource = &bad;
	o.n_resource = 1;
	assert_int_equal(ksk_trace_init(&o, &ei), KSK_EINVAL);
	/* a failed init leaves nothing behind: a good one works */
	tt_opts(&o, g_cap);
	assert_int_equal(ksk_trace_init(&o, &ei), KSK_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nesting_scope),
		cmocka_unit_test(test_attrs_events_status),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_explicit_and_threads),
		cmocka_unit_test(test_runtime_off),
		cmocka_unit_test(test_timestamps),
		cmocka_unit_test(test_thread_exit),
		cmocka_unit_test(test_restart_stale),
		cmocka_unit_test(test_remote_parent),
		cmocka_unit_test(test_bad_options),
	};
	return cmocka_run_group_tests_name("trace_span", tests, setup, teardown);
}
