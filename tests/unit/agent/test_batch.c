/*
 * test_batch.c : the agent's batcher: resource dedupe, positions by key,
 * size/age triggers on a manual clock, invalid records refused without
 * changing the batch, and sealed frames that decode to what went in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "agt_batch.h"
#include "kiseki/frame.h"
#include "kiseki/wire.h"

typedef struct pos {
	uint64_t key;
	uint64_t offset;
} pos;

static ksk_span mk_span(uint8_t t, uint8_t s)
{
	ksk_span sp;
	memset(&sp, 0, sizeof(sp));
	sp.trace_id[0] = t;
	sp.span_id[0] = s;
	sp.name = KSK_STR("op");
	sp.start_ns = 1000;
	sp.end_ns = 2000;
	sp.kind = KSK_KIND_SERVER;
	return sp;
}

static void test_dedupe_positions_and_frame(void **state)
{
	(void)state;
	ksk_manual_clock mc;
	ksk_manual_clock_init(&mc, 1764000000000000000ull);
	agt_batch_opts o;
	agt_batch_opts_default(&o);
	o.clock = &mc.clock;
	o.pos_size = sizeof(pos);
	o.pos_key_len = sizeof(uint64_t);
	agt_batch *b;
	assert_int_equal(agt_batch_create(&o, &b), KSK_OK);
	assert_int_equal(agt_batch_deadline(b), UINT64_MAX);
	assert_false(agt_batch_due(b));
	/* the same resource content from two different structs */
	ksk_attr a1[1] = {{KSK_STR("service.name"), ksk_val_str(KSK_STR("web"))}};
	ksk_attr a2[1] = {{KSK_STR("service.name"), ksk_val_str(KSK_STR("web"))}};
	ksk_attr a3[1] = {{KSK_STR("service.name"), ksk_val_str(KSK_STR("db"))}};
	ksk_resource r1 = {.attrs = a1, .n_attrs = 1}, r2 = {.attrs = a2, .n_attrs = 1},
	             r3 = {.attrs = a3, .n_attrs = 1};
	ksk_span s1 = mk_span(1, 1), s2 = mk_span(1, 2), s3 = mk_span(2, 3);
	assert_int_equal(agt_batch_add_span(b, &r1, &s1), KSK_OK);
	assert_int_equal(agt_batch_add_span(b, &r2, &s2), KSK_OK);
	assert_int_equal(agt_batch_add_span(b, &r3, &s3), KSK_OK);
	ksk_log l;
	memset(&l, 0, sizeof(l));
	l.time_ns = l.observed_ns = 5000;
	l.body = ksk_val_str(KSK_STR("hello"));
	assert_int_equal(agt_batch_add_log(b, &r1, &l), KSK_OK);
	/* an invalid span is refused and changes nothing */
	ksk_span bad = mk_span(3, 4);
	bad.end_ns = 10;
	assert_int_equal(agt_batch_add_span(b, &r1, &bad), KSK_EINVAL);
	assert_int_equal(agt_batch_count(b), 4);
	/* positions: the latest per key wins */
	pos p1 = {7, 100}, p2 = {8, 50}, p3 = {7, 300};
	assert_int_equal(agt_batch_add_pos(b, &p1), KSK_OK);
	assert_int_equal(agt_batch_add_pos(b, &p2), KSK_OK);
	assert_int_equal(agt_batch_add_pos(b, &p3), KSK_OK);
	/* age: due after max_age on the manual clock */
	assert_false(agt_batch_due(b));
	ksk_manual_clock_advance(&mc, o.max_age_ns);
	assert_true(agt_batch_due(b));

	uint8_t agent[16] = {1, 2, 3};
	agt_sealed sd;
	ksk_errinfo ei;
	assert_int_equal(agt_batch_seal(b, agent, 42, &sd, &ei), KSK_OK);
	assert_int_equal(sd.records, 4);
	assert_int_equal(sd.spans, 3);
	assert_int_equal(sd.logs, 1);
	assert_int_equal(sd.n_pos, 2);
	const pos *ps = (const pos *)sd.pos;
	assert_int_equal(ps[0].key, 7);
	assert_int_equal(ps[0].offset, 300);
	assert_int_equal(ps[1].offset, 50);
	ksk_frame_dec *fd;
	ksk_wire_dec *wd;
	assert_int_equal(ksk_frame_dec_create(NULL, NULL, &fd), KSK_OK);
	assert_int_equal(ksk_wire_dec_create(NULL, NULL, &wd), KSK_OK);
	ksk_frame_hdr h;
	const ksk_batch *kb;
	assert_int_equal(ksk_frame_decode_batch(fd, wd, sd.frame, sd.frame_len, &h, &kb, &ei), KSK_OK);
	assert_int_equal(h.seq, 42);
	assert_int_equal(h.flags, KSK_FRAME_FLAG_ZSTD); /* nothing left out */
	assert_memory_equal(h.agent_id, agent, 16);
	assert_int_equal(kb->n_resources, 2);
	assert_int_equal(kb->n_spans, 3);
	assert_int_equal(kb->n_logs, 1);
	assert_int_equal(kb->spans[0].resource, kb->spans[1].resource);
	assert_int_not_equal(kb->spans[0].resource, kb->spans[2].resource);
	assert_true(ksk_str_eq(kb->resources[kb->spans[2].resource].service, KSK_STR("db")));
	ksk_frame_dec_destroy(fd);
	ksk_wire_dec_destroy(wd);

	/* empty again */
	assert_int_equal(agt_batch_count(b), 0);
	assert_int_equal(agt_batch_seal(b, agent, 43, &sd, &ei), KSK_ESTATE);
	/* positions alone can be sealed (lines that were all dropped) */
	assert_int_equal(agt_batch_add_pos(b, &p1), KSK_OK);
	assert_int_equal(agt_batch_seal(b, agent, 43, &sd, &ei), KSK_OK);
	assert_int_equal(sd.records, 0);
	assert_int_equal(sd.n_pos, 1);
	/* two logs of one file: the second says attrs_prev, so the frame
	 * carries the RESTORE flag (an older collector refuses it rather
	 * than store the log without attributes) */
	ksk_attr fa[1] = {{KSK_STR("log.file.path"), ksk_val_str(KSK_STR("/var/log/x.log"))}};
	l.attrs = fa;
	l.n_attrs = 1;
	assert_int_equal(agt_batch_add_log(b, &r1, &l), KSK_OK);
	agt_taken t;
	assert_int_equal(agt_batch_view(b, &t), KSK_OK);
	assert_false(t.restore);
	assert_int_equal(agt_batch_add_log(b, &r1, &l), KSK_OK);
	assert_int_equal(agt_batch_view(b, &t), KSK_OK);
	assert_true(t.restore);
	assert_int_equal(agt_batch_seal(b, agent, 44, &sd, &ei), KSK_OK);
	assert_int_equal(ksk_frame_parse_header(sd.frame, sd.frame_len, NULL, &h, &ei), KSK_OK);
	assert_int_equal(h.flags, KSK_FRAME_FLAG_ZSTD | KSK_FRAME_FLAG_RESTORE);
	agt_batch_destroy(b);
}

/* take / view: the raw payload and positions, framed elsewhere, decode to
 * what went in; add_log_h with a precomputed hash dedupes like add_log */
static void test_take_raw(void **state)
{
	(void)state;
	agt_batch_opts o;
	agt_batch_opts_default(&o);
	o.pos_size = sizeof(pos);
	o.pos_key_len = sizeof(uint64_t);
	agt_batch *b;
	assert_int_equal(agt_batch_create(&o, &b), KSK_OK);
	agt_taken t;
	assert_int_equal(agt_batch_take(b, &t), KSK_ESTATE);
	ksk_attr a1[1] = {{KSK_STR("service.name"), ksk_val_str(KSK_STR("web"))}};
	ksk_attr a2[1] = {{KSK_STR("service.name"), ksk_val_str(KSK_STR("web"))}};
	ksk_resource r1 = {.attrs = a1, .n_attrs = 1}, r2 = {.attrs = a2, .n_attrs = 1};
	assert_int_equal(agt_batch_res_hash(&r1), agt_batch_res_hash(&r2));
	uint64_t h = agt_batch_res_hash(&r1);
	for (int i = 0; i < 3; i++) {
		ksk_log l;
		memset(&l, 0, sizeof(l));
		l.time_ns = l.observed_ns = 5000 + (uint64_t)i;
		l.body = ksk_val_str(KSK_STR("hello"));
		assert_int_equal(agt_batch_add_log_h(b, i ? &r2 : &r1, h, &l), KSK_OK);
	}
	pos p1 = {7, 100};
	assert_int_equal(agt_batch_add_pos(b, &p1), KSK_OK);
	/* view leaves the batch as it is */
	assert_int_equal(agt_batch_view(b, &t), KSK_OK);
	assert_int_equal(agt_batch_count(b), 3);
	assert_int_equal(agt_batch_take(b, &t), KSK_OK);
	assert_int_equal(agt_batch_count(b), 0);
	assert_int_equal(t.records, 3);
	assert_int_equal(t.logs, 3);
	assert_int_equal(t.record_count, 4); /* one resource + 3 logs */
	assert_int_equal(t.n_pos, 1);
	assert_int_equal(((const pos *)t.pos)[0].offset, 100);
	ksk_wire_dec *wd;
	assert_int_equal(ksk_wire_dec_create(NULL, NULL, &wd), KSK_OK);
	const ksk_batch *kb;
	ksk_errinfo ei;
	assert_int_equal(ksk_wire_decode(wd, t.payload, t.payload_len, t.record_count, &kb, &ei),
	                 KSK_OK);
	assert_int_equal(kb->n_resources, 1);
	assert_int_equal(kb->n_logs, 3);
	assert_int_equal(kb->logs[2].time_ns, 5002);
	ksk_wire_dec_destroy(wd);
	assert_int_equal(agt_batch_take(b, &t), KSK_ESTATE);
	agt_batch_destroy(b);
}

static void test_size_trigger(void **state)
{
	(void)state;
	agt_batch_opts o;
	agt_batch_opts_default(&o);
	o.max_bytes = 4096;
	agt_batch *b;
	assert_int_equal(agt_batch_create(&o, &b), KSK_OK);
	ksk_attr a[1] = {{KSK_STR("service.name"), ksk_val_str(KSK_STR("web"))}};
	ksk_resource r = {.attrs = a, .n_attrs = 1};
	int n = 0;
	while (!agt_batch_full(b)) {
		ksk_span s = mk_span(1, (uint8_t)(n + 1));
		s.span_id[1] = (uint8_t)(n >> 8) | 1;
		assert_int_equal(agt_batch_add_span(b, &r, &s), KSK_OK);
		n++;
	}
	assert_true(n > 10 && n < 200);
	assert_true(agt_batch_due(b));
	agt_batch_destroy(b);
	agt_batch_destroy(NULL);
	/* bad options */
	o.pos_size = 8;
	o.pos_key_len = 0;
	assert_int_equal(agt_batch_create(&o, &b), KSK_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dedupe_positions_and_frame),
		cmocka_unit_test(test_size_trigger),
		cmocka_unit_test(test_take_raw),
	};
	return cmocka_run_group_tests_name("agt_batch", tests, NULL, NULL);
}
