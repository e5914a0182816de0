/*
 * test_trace_file.c : the span record file sink of libkiseki-trace (shared
 * library): every line it writes is decoded by the agent's own OTLP JSON
 * decoder (agt_otlp_traces_json, linked from ksk_agent_core) with nothing
 * rejected, and the decoded spans carry what the service recorded,
 * including hostile strings (quotes, control characters, invalid UTF-8),
 * special doubles, extreme integers, events, status, tracestate. Lines
 * stay under the configured maximum, and two processes appending to the
 * same file never interleave lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agt_otlp.h"
#include "kiseki/arena.h"
#include "kiseki/trace.h"

typedef struct decoded {
	ksk_arena *arena;
	ksk_span *spans;
	uint32_t n;
	uint32_t lines;
	size_t longest;
	char service[64];
} decoded;

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Decodes every line with the agent's decoder; all spans end up in d. */
static void decode_file(const char *path, decoded *d)
{
	memset(d, 0, sizeof(*d));
	assert_int_equal(ksk_arena_create(NULL, 0, 0, &d->arena), KSK_OK);
	size_t len;
	char *buf = slurp(path, &len);
	assert_true(len > 0);
	assert_int_equal(buf[len - 1], '\n');
	uint32_t cap = 0;
	for (char *p = buf; p < buf + len;) {
		char *nl = memchr(p, '\n', (size_t)(buf + len - p));
		assert_non_null(nl);
		size_t ll = (size_t)(nl - p);
		if (ll > d->longest)
			d->longest = ll;
		agt_otlp_out out;
		ksk_errinfo ei;
		ksk_err rc = agt_otlp_traces_json(p, ll, d->arena, &out, &ei);
		if (rc != KSK_OK)
			fail_msg("line %u does not decode: %s", d->lines, ei.msg);
		if (out.n_rejected)
			fail_msg("line %u: %u spans rejected: %s", d->lines, out.n_rejected,
			         out.reject.msg);
		assert_int_equal(out.n_resources, 1);
		snprintf(d->service, sizeof(d->service), "%.*s", (int)out.resources[0].service.len,
		         out.resources[0].service.ptr);
		if (d->n + out.n_spans > cap) {
			cap = (d->n + out.n_spans) * 2;
			d->spans = realloc(d->spans, cap * sizeof(ksk_span));
		}
		memcpy(d->spans + d->n, out.spans, out.n_spans * sizeof(ksk_span));
		d->n += out.n_spans;
		d->lines++;
		p = nl + 1;
	}
	free(buf);
}

static void decoded_free(decoded *d)
{
	free(d->spans);
	ksk_arena_destroy(d->arena);
}

static const ksk_span *dfind(const decoded *d, const char *name)
{
	for (uint32_t i = 0; i < d->n; i++)
		if (ksk_str_eq(d->spans[i].name, ksk_str_c(name)))
			return &d->spans[i];
	return NULL;
}

static const ksk_value *dattr(const ksk_attr *a, uint32_t n, const char *key)
{
	const ksk_attr *x = ksk_attrs_find(a, n, ksk_str_c(key));
	return x ? &x->value : NULL;
}

static void init_file(const char *path, size_t max_line)
{
	ksk_trace_opts o;
	ksk_trace_opts_init(&o);
	o.service_name = "file-svc \"quoted\"";
	o.agent_url = "off";
	o.file_path = path;
	o.file_max_line = max_line;
	o.flush_interval_ms = 60000;
	ksk_errinfo ei;
	ksk_err rc = ksk_trace_init(&o, &ei);
	if (rc != KSK_OK)
		fail_msg("init: %s", ei.msg);
}

static void test_decoded_by_agent(void **state)
{
	(void)state;
	char dir[] = "/tmp/kiseki-trace-file-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/spans.jsonl", dir);
	init_file(path, 0);

	ksk_trace_remote rem;
	assert_int_equal(ksk_trace_extract("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	                                   "vendor=opaque,other=x", &rem), KSK_OK);
	static const char hostile[] = "q\"b\\s/\n\r\t\x01\x1f end \xff\xfe bad \xc3\xa9 \xf0\x9f\x98\x80 \xed\xa0\x80";
	{
		KSK_SPAN_CHILD(srv, "handle \"order\"", KSK_KIND_SERVER, &rem.ctx);
		KSK_SPAN_ATTR_STR(srv, "hostile", hostile);
		KSK_SPAN_ATTR_INT(srv, "min", INT64_MIN);
		KSK_SPAN_ATTR_INT(srv, "max", INT64_MAX);
		KSK_SPAN_ATTR_DOUBLE(srv, "nan", NAN);
		KSK_SPAN_ATTR_DOUBLE(srv, "inf", INFINITY);
		KSK_SPAN_ATTR_DOUBLE(srv, "ninf", -INFINITY);
		KSK_SPAN_ATTR_DOUBLE(srv, "tiny", 5e-324);
		KSK_SPAN_ATTR_DOUBLE(srv, "pi", 3.141592653589793);
		KSK_SPAN_ATTR_BOOL(srv, "f", false);
		KSK_SPAN_ATTR_BOOL(srv, "t", true);
		KSK_SPAN_EVENT(srv, "exception");
		KSK_SPAN_EVENT_ATTR_STR(srv, "exception.message", "bad \"input\"\n");
		KSK_SPAN_ERROR(srv, "failed: \"x\"\x02");
		{
			KSK_SPAN_KIND(c, "publish", KSK_KIND_PRODUCER);
			(void)c;
		}
	}
	{
		KSK_SPAN(root, "root");
		KSK_SPAN_OK(root);
	}
	ksk_trace_shutdown(); /* flushes */

	decoded d;
	decode_file(path, &d);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.service, "file-svc \"quoted\"");
	const ksk_span *s = dfind(&d, "handle \"order\"");
	const ksk_span *c = dfind(&d, "publish");
	const ksk_span *r = dfind(&d, "root");
	assert_non_null(s);
	assert_non_null(c);
	assert_non_null(r);
	uint8_t tid[16], pid[8];
	ksk_hex_decode("0af7651916cd43dd8448eb211c80319c", 32, tid, 16, false);
	ksk_hex_decode("b7ad6b7169203331", 16, pid, 8, false);
	assert_memory_equal(s->trace_id, tid, 16);
	assert_memory_equal(s->parent_id, pid, 8);
	assert_true(s->has_parent);
	assert_int_equal(s->kind, KSK_KIND_SERVER);
	assert_true(ksk_str_eq(s->trace_state, KSK_STR("vendor=opaque,other=x")));
	assert_int_equal(s->flags, 1);
	assert_true(ksk_str_eq(s->scope_name, KSK_STR("kiseki-trace")));
	assert_true(ksk_str_eq(s->scope_version, KSK_STR(KSK_TRACE_VERSION)));
	assert_true(s->end_ns >= s->start_ns && s->start_ns > 1600000000000000000ull);
	assert_memory_equal(c->parent_id, s->span_id, 8);
	assert_int_equal(c->kind, KSK_KIND_PRODUCER);
	assert_false(r->has_parent);
	assert_int_equal(r->flags, 3);
	assert_int_equal(r->status, KSK_STATUS_OK);

	const ksk_value *v = dattr(s->attrs, s->n_attrs, "hostile");
	assert_non_null(v);
	/* the ASCII part survives byte for byte; invalid bytes became U+FFFD;
	 * valid multi-byte characters are kept */
	static const char head[] = "q\"b\\s/\n\r\t\x01\x1f end ";
	static const char mid[] = "\xef\xbf\xbd\xef\xbf\xbd bad \xc3\xa9 \xf0\x9f\x98\x80 ";
	assert_true(v->u.s.len > sizeof(head) - 1);
	assert_memory_equal(v->u.s.ptr, head, sizeof(head) - 1);
	assert_true(ksk_utf8_valid(v->u.s.ptr, v->u.s.len));
	assert_non_null(memmem(v->u.s.ptr, v->u.s.len, mid, sizeof(mid) - 1));
	assert_int_equal(dattr(s->attrs, s->n_attrs, "min")->u.i, INT64_MIN);
	assert_int_equal(dattr(s->attrs, s->n_attrs, "max")->u.i, INT64_MAX);
	assert_true(isnan(dattr(s->attrs, s->n_attrs, "nan")->u.d));
	assert_true(isinf(dattr(s->attrs, s->n_attrs, "inf")->u.d) &&
	            dattr(s->attrs, s->n_attrs, "inf")->u.d > 0);
	assert_true(dattr(s->attrs, s->n_attrs, "ninf")->u.d < 0);
	assert_true(dattr(s->attrs, s->n_attrs, "tiny")->u.d == 5e-324);
	assert_true(dattr(s->attrs, s->n_attrs, "pi")->u.d == 3.141592653589793);
	assert_int_equal(dattr(s->attrs, s->n_attrs, "f")->type, KSK_VAL_BOOL);
	assert_false(dattr(s->attrs, s->n_attrs, "f")->u.b);
	assert_true(dattr(s->attrs, s->n_attrs, "t")->u.b);
	assert_int_equal(s->n_events, 1);
	assert_true(ksk_str_eq(s->events[0].name, KSK_STR("exception")));
	v = dattr(s->events[0].attrs, s->events[0].n_attrs, "exception.message");
	assert_non_null(v);
	assert_true(ksk_str_eq(v->u.s, KSK_STR("bad \"input\"\n")));
	assert_true(s->events[0].time_ns >= s->start_ns && s->events[0].time_ns <= s->end_ns);
	assert_int_equal(s->status, KSK_STATUS_ERROR);
	assert_true(ksk_str_eq(s->status_msg, KSK_STR("failed: \"x\"\x02")));
	decoded_free(&d);
	unlink(path);
	rmdir(dir);
}

static void test_line_cap_and_two_writers(void **state)
{
	(void)state;
	char dir[] = "/tmp/kiseki-trace-file-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/spans.jsonl", dir);
	enum { N = 1000 };
	/* two processes append to the same file at the same time */
	pid_t child = fork();
	assert_true(child >= 0);
	init_file(path, 4096);
	for (int i = 0; i < N; i++) {
		KSK_SPAN(sp, "many");
		KSK_SPAN_ATTR_INT(sp, "i", i);
		KSK_SPAN_ATTR_INT(sp, "pid", (int64_t)getpid());
		KSK_SPAN_ATTR_STR(sp, "pad", "0123456789abcdef0123456789abcdef");
		if ((i & 127) == 127)
			ksk_trace_flush(5000);
	}
	ksk_trace_stats st;
	ksk_trace_flush(5000);
	ksk_trace_stats_get(&st);
	ksk_trace_shutdown();
	if (child == 0)
		_exit(st.file_spans_written == N && st.file_spans_dropped == 0 ? 0 : 1);
	int ws;
	assert_int_equal(waitpid(child, &ws, 0), child);
	assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	assert_int_equal(st.file_spans_written, N);

	decoded d;
	decode_file(path, &d);
	assert_int_equal(d.n, 2 * N);
	assert_true(d.lines > (2 * N) / 20); /* ~200 B a span: 20 per 4 KiB line */
	assert_true(d.longest + 1 <= 4096);
	static bool seen[2][N];
	memset(seen, 0, sizeof(seen));
	for (uint32_t k = 0; k < d.n; k++) {
		const ksk_span *s = &d.spans[k];
		int64_t i = dattr(s->attrs, s->n_attrs, "i")->u.i;
		int64_t p = dattr(s->attrs, s->n_attrs, "pid")->u.i;
		int who = p == (int64_t)getpid() ? 0 : 1;
		assert_true(i >= 0 && i < N);
		assert_false(seen[who][i]);
		seen[who][i] = true;
	}
	decoded_free(&d);
	unlink(path);
	rmdir(dir);
}

/* rename rotation: later spans go to a new file at the same path */
static void test_follows_rename(void **state)
{
	(void)state;
	char dir[] = "/tmp/kiseki-trace-file-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128], old[140];
	snprintf(path, sizeof(path), "%s/spans.jsonl", dir);
	snprintf(old, sizeof(old), "%s.1", path);
	init_file(path, 0);
	{
		KSK_SPAN(sp, "before");
	}
	assert_int_equal(ksk_trace_flush(5000), KSK_OK);
	assert_int_equal(rename(path, old), 0);
	{
		KSK_SPAN(sp, "after");
	}
	assert_int_equal(ksk_trace_flush(5000), KSK_OK);
	ksk_trace_shutdown();
	decoded d;
	decode_file(old, &d);
	assert_int_equal(d.n, 1);
	assert_non_null(dfind(&d, "before"));
	decoded_free(&d);
	decode_file(path, &d);
	assert_int_equal(d.n, 1);
	assert_non_null(dfind(&d, "after"));
	decoded_free(&d);
	unlink(path);
	unlink(old);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decoded_by_agent),
		cmocka_unit_test(test_line_cap_and_two_writers),
		cmocka_unit_test(test_follows_rename),
	};
	return cmocka_run_group_tests_name("trace_file", tests, NULL, NULL);
}
