/*
 * test_trace_fork.c : libkiseki-trace across fork(). The parent exports
 * through libnng to a PULL socket in this process; the child cannot use
 * libnng, restarts its exporter on the built-in SP client and exports its
 * own spans with its own agent ID and process.pid. Spans the parent ended
 * before the fork (still in its ring) and spans begun before the fork are
 * exported once, by the parent only; the parent's own exporting goes on
 * unaffected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>

#include "kiseki/frame.h"
#include "kiseki/trace.h"
#include "kiseki/wire.h"

typedef struct seen {
	uint32_t pending, pre_fork, child_span, parent_after, child_pre_children;
	int64_t child_pid_attr;
	uint8_t parent_agent[16], child_agent[16];
	bool have_parent_agent, have_child_agent;
	uint64_t child_first_seq;
	uint8_t pre_fork_id[8];
	uint8_t child_parent_id[8];
} seen;

static bool named(const ksk_span *s, const char *n)
{
	return ksk_str_eq(s->name, ksk_str_c(n));
}

static void account(seen *sn, const ksk_frame_hdr *h, const ksk_batch *b, pid_t child)
{
	const ksk_attr *pa = ksk_attrs_find(b->resources[0].attrs, b->resources[0].n_attrs,
	                                    KSK_STR("process.pid"));
	assert_non_null(pa);
	bool from_child = pa->value.u.i == (int64_t)child;
	if (from_child) {
		assert_int_equal(pa->value.u.i, child);
		if (!sn->have_child_agent) {
			memcpy(sn->child_agent, h->agent_id, 16);
			sn->have_child_agent = true;
			sn->child_first_seq = h->seq;
		}
		assert_memory_equal(sn->child_agent, h->agent_id, 16);
	} else {
		assert_int_equal(pa->value.u.i, (int64_t)getpid());
		if (!sn->have_parent_agent) {
			memcpy(sn->parent_agent, h->agent_id, 16);
			sn->have_parent_agent = true;
		}
		assert_memory_equal(sn->parent_agent, h->agent_id, 16);
	}
	for (uint32_t i = 0; i < b->n_spans; i++) {
		const ksk_span *s = &b->spans[i];
		if (named(s, "pending")) {
			assert_false(from_child);
			sn->pending++;
		} else if (named(s, "pre-fork")) {
			assert_false(from_child);
			sn->pre_fork++;
			memcpy(sn->pre_fork_id, s->span_id, 8);
		} else if (named(s, "child-span")) {
			assert_true(from_child);
			sn->child_span++;
			memcpy(sn->child_parent_id, s->parent_id, 8);
			const ksk_attr *a = ksk_attrs_find(s->attrs, s->n_attrs, KSK_STR("pid"));
			assert_non_null(a);
			sn->child_pid_attr = a->value.u.i;
		} else if (named(s, "child-nested")) {
			assert_true(from_child);
			sn->child_pre_children++;
		} else if (named(s, "parent-after")) {
			assert_false(from_child);
			sn->parent_after++;
		}
	}
}

/* child: exit code = what went wrong (0 = fine) */
static int child_main(ksk_trace_span *pre)
{
	{
		KSK_SPAN(c, "child-span");
		KSK_SPAN_ATTR_INT(c, "pid", (int64_t)getpid());
		KSK_SPAN(n, "child-nested");
		(void)n;
	}
	KSK_SPAN_END(pre); /* begun in the parent: the parent exports it */
	ksk_trace_stats st;
	if (ksk_trace_flush(5000) != KSK_OK)
		return 2;
	ksk_trace_stats_get(&st);
	if (st.dropped_stale != 1)
		return 3;
	if (st.spans_exported != 2)
		return 4; /* not the parent's pending ones */
	if (st.agent_spans_sent != 2)
		return 5;
	ksk_trace_shutdown();
	return 0;
}

static void test_fork(void **state)
{
	(void)state;
	char dir[] = "/tmp/kiseki-trace-fork-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char url[128];
	snprintf(url, sizeof(url), "ipc://%s/intake.sock", dir);
	nng_socket pull;
	assert_int_equal(nng_pull0_open(&pull), 0);
	assert_int_equal(nng_socket_set_ms(pull, NNG_OPT_RECVTIMEO, 200), 0);
	assert_int_equal(nng_listen(pull, url, NULL, 0), 0);

	ksk_trace_opts o;
	ksk_trace_opts_init(&o);
	o.service_name = "forker";
	o.agent_url = url;
	o.file_path = "";
	o.flush_interval_ms = 60000; /* only explicit flushes */
	ksk_errinfo ei;
	assert_int_equal(ksk_trace_init(&o, &ei), KSK_OK);
	ksk_frame_dec *fd;
	ksk_wire_dec *wd;
	assert_int_equal(ksk_frame_dec_create(NULL, NULL, &fd), KSK_OK);
	assert_int_equal(ksk_wire_dec_create(NULL, NULL, &wd), KSK_OK);

	/* the parent's libnng connection is up */
	bool up = false;
	for (int i = 0; i < 100 && !up; i++) {
		{
			KSK_SPAN(w, "warmup");
		}
		assert_int_equal(ksk_trace_flush(5000), KSK_OK);
		nng_msg *m;
		if (nng_recvmsg(pull, &m, 0) == 0) {
			up = true;
			nng_msg_free(m);
		}
	}
	assert_true(up);
	while (true) { /* late warm-up frames */
		nng_msg *m;
		if (nng_recvmsg(pull, &m, 0) != 0)
			break;
		nng_msg_free(m);
	}

	/* ended before the fork, not exported yet: in the parent's ring */
	for (int i = 0; i < 5; i++) {
		KSK_SPAN(p, "pending");
	}
	ksk_trace_span pre;
	KSK_SPAN_BEGIN(&pre, "pre-fork", KSK_KIND_INTERNAL, NULL);

	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(child_main(&pre));

	{
		KSK_SPAN(a, "parent-after");
		(void)a;
	}
	KSK_SPAN_END(&pre);
	int ws;
	assert_int_equal(waitpid(child, &ws, 0), child);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	assert_int_equal(ksk_trace_flush(5000), KSK_OK);

	seen sn;
	memset(&sn, 0, sizeof(sn));
	for (int idle = 0; idle < 10;) {
		nng_msg *m;
		if (nng_recvmsg(pull, &m, 0) != 0) {
			idle++;
			continue;
		}
		ksk_frame_hdr h;
		const ksk_batch *b;
		assert_int_equal(ksk_frame_decode_batch(fd, wd, nng_msg_body(m), nng_msg_len(m),
		                                        &h, &b, &ei), KSK_OK);
		account(&sn, &h, b, child);
		nng_msg_free(m);
		if (sn.pending == 5 && sn.pre_fork == 1 && sn.child_span == 1 &&
		    sn.parent_after == 1 && sn.child_pre_children == 1)
			idle = 8; /* all seen: two more quiet reads to catch duplicates */
	}
	assert_int_equal(sn.pending, 5);
	assert_int_equal(sn.pre_fork, 1);
	assert_int_equal(sn.parent_after, 1);
	assert_int_equal(sn.child_span, 1);
	assert_int_equal(sn.child_pre_children, 1);
	assert_int_equal(sn.child_pid_attr, (int64_t)child);
	assert_true(sn.have_child_agent && sn.have_parent_agent);
	assert_memory_not_equal(sn.child_agent, sn.parent_agent, 16);
	assert_int_equal(sn.child_first_seq, 1);
	/* the child's span was a child of the span begun before the fork */
	assert_memory_equal(sn.child_parent_id, sn.pre_fork_id, 8);

	ksk_trace_stats st;
	ksk_trace_stats_get(&st);
	assert_int_equal(st.dropped_stale, 0);
	assert_int_equal(st.agent_spans_dropped, 0);
	ksk_trace_shutdown();
	ksk_frame_dec_destroy(fd);
	ksk_wire_dec_destroy(wd);
	nng_close(pull);
	char p[200];
	snprintf(p, sizeof(p), "%s/intake.sock", dir);
	unlink(p);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork),
	};
	return cmocka_run_group_tests_name("trace_fork", tests, NULL, NULL);
}
