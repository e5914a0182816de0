/*
 * test_spooler.c : the tail pipe's spooler thread (agent/agt_spooler.h)
 * against a real spool in a temporary directory.
 *
 *  - batches pushed in order come back (reclaim) in order, each with its
 *    positions and a seq that the spool already holds (durable), and the
 *    spooled frames decode to exactly the records pushed
 *  - a full spool: the slot is retried, later slots wait behind it, push
 *    reports no room (backpressure), nothing is reclaimed; once acks and
 *    the checkpoint free space everything goes through, in order
 *  - drain out of time drops the waiting slots (no positions handed back),
 *    and the spooler works normally afterwards
 *  - stop with slots still waiting: no leak, no hang
 * Each test runs with one compressor (the spooler thread alone) and with
 * four (helper threads frame later slots while one is appended; the frames
 * must still reach the spool in push order, and a slot a helper holds is
 * never handed back or dropped under it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agt_batch.h"
#include "agt_spool.h"
#include "agt_spooler.h"
#include "kiseki/frame.h"
#include "kiseki/wire.h"

typedef struct pos {
	uint64_t key;
	uint64_t offset;
} pos;

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void tmpdir(char *out, size_t cap)
{
	snprintf(out, cap, "/tmp/agt_spooler_XXXXXX");
	assert_non_null(mkdtemp(out));
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static agt_spool *open_spool(const char *dir, uint64_t max_bytes)
{
	agt_spool_opts o;
	agt_spool_opts_default(&o);
	o.dir = dir;
	if (max_bytes)
		o.max_bytes = max_bytes;
	agt_spool *sp;
	ksk_errinfo ei;
	assert_int_equal(agt_spool_open(&o, NULL, NULL, &sp, &ei), KSK_OK);
	return sp;
}

static agt_batch *new_batch(void)
{
	agt_batch_opts o;
	agt_batch_opts_default(&o);
	o.pos_size = sizeof(pos);
	o.pos_key_len = sizeof(uint64_t);
	agt_batch *b;
	assert_int_equal(agt_batch_create(&o, &b), KSK_OK);
	return b;
}

/* the compressor count of a test run (its prestate) */
static uint32_t comp(void **state)
{
	return *(const uint32_t *)*state;
}

static agt_spooler *start(agt_spool *sp, uint32_t slots, uint32_t compressors)
{
	agt_spooler_opts o;
	memset(&o, 0, sizeof(o));
	o.spool = sp;
	o.slots = slots;
	o.compressors = compressors;
	o.pos_size = sizeof(pos);
	agt_spooler *q;
	ksk_errinfo ei;
	assert_int_equal(agt_spooler_start(&o, &q, &ei), KSK_OK);
	return q;
}

/* batch number i: `n` logs whose time is i * 1000 + k and whose body is
 * 32 pseudo-random hex digits (about 16 bytes compressed), one position
 * {key 1, offset i} (and {key 2, offset 10 * i} for odd i) */
static void fill(agt_batch *b, uint32_t i, uint32_t n)
{
	ksk_attr ra[1] = {{KSK_STR("service.name"), ksk_val_str(KSK_STR("svc"))}};
	ksk_resource r = {.attrs = ra, .n_attrs = 1};
	uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
	ksk_attr fa[1] = {{KSK_STR("log.file.path"), ksk_val_str(KSK_STR("/var/log/s.log"))}};
	for (uint32_t k = 0; k < n; k++) {
		char body[33];
		for (int c = 0; c < 32; c++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			body[c] = "0123456789abcdef"[x & 15];
		}
		body[32] = '\0';
		ksk_log l;
		memset(&l, 0, sizeof(l));
		l.time_ns = (uint64_t)i * 1000 + k + 1;
		l.observed_ns = l.time_ns;
		l.body = ksk_val_str(ksk_str_c(body));
		l.attrs = fa; /* the same on every log: key 17 from the second */
		l.n_attrs = 1;
		assert_int_equal(agt_batch_add_log(b, &r, &l), KSK_OK);
	}
	pos p1 = {1, i};
	assert_int_equal(agt_batch_add_pos(b, &p1), KSK_OK);
	if (i % 2) {
		pos p2 = {2, 10ull * i};
		assert_int_equal(agt_batch_add_pos(b, &p2), KSK_OK);
	}
}

typedef struct got {
	agt_spool *sp;
	uint64_t seqs[64];
	pos p[64][2];
	size_t np[64];
	size_t n;
} got;

static void on_pos(void *ctx, uint64_t seq, const uint8_t *p, size_t n)
{
	got *g = ctx;
	/* the frame is in the spool before its positions come back */
	assert_true(seq >= 1 && seq <= agt_spool_durable_seq(g->sp));
	assert_true(g->n < 64 && n <= 2);
	g->seqs[g->n] = seq;
	memcpy(g->p[g->n], p, n * sizeof(pos));
	g->np[g->n] = n;
	g->n++;
}

/* the frame with `seq` holds the n logs of batch i */
static void check_frame(agt_spool *sp, uint64_t seq, uint32_t i, uint32_t n)
{
	agt_spool_item it;
	ksk_errinfo ei;
	assert_int_equal(agt_spool_claim(sp, &it), KSK_OK);
	assert_int_equal(it.seq, seq);
	uint8_t *buf = malloc(it.len);
	assert_non_null(buf);
	assert_int_equal(agt_spool_read(sp, seq, buf, it.len, &ei), KSK_OK);
	ksk_frame_dec *fd;
	ksk_wire_dec *wd;
	assert_int_equal(ksk_frame_dec_create(NULL, NULL, &fd), KSK_OK);
	assert_int_equal(ksk_wire_dec_create(NULL, NULL, &wd), KSK_OK);
	ksk_frame_hdr h;
	const ksk_batch *kb;
	assert_int_equal(ksk_frame_decode_batch(fd, wd, buf, it.len, &h, &kb, &ei), KSK_OK);
	assert_int_equal(h.seq, seq);
	assert_true(h.flags & KSK_FRAME_FLAG_ZSTD);
	assert_int_equal(kb->n_logs, n);
	for (uint32_t k = 0; k < n; k++) {
		assert_int_equal(kb->logs[k].time_ns, (uint64_t)i * 1000 + k + 1);
		assert_int_equal(kb->logs[k].n_attrs, 1);
	}
	/* the payload left attributes out (key 17): the frame says so */
	assert_true(h.flags & KSK_FRAME_FLAG_RESTORE);
	ksk_frame_dec_destroy(fd);
	ksk_wire_dec_destroy(wd);
	free(buf);
}

static void test_order_positions_frames(void **state)
{
	char dir[64];
	tmpdir(dir, sizeof(dir));
	agt_spool *sp = open_spool(dir, 0);
	agt_spooler *q = start(sp, comp(state) + 2, comp(state));
	agt_batch *b = new_batch();
	got g;
	memset(&g, 0, sizeof(g));
	g.sp = sp;
	/* an empty batch is not a frame */
	assert_int_equal(agt_spooler_push(q, b), KSK_ESTATE);
	enum { K = 40 };
	for (uint32_t i = 1; i <= K; i++) {
		fill(b, i, 50 + i);
		ksk_err rc;
		while ((rc = agt_spooler_push(q, b)) == KSK_EBUSY) {
			agt_spooler_wait_room(q, 10000000ull);
			agt_spooler_reclaim(q, on_pos, &g);
		}
		assert_int_equal(rc, KSK_OK);
		assert_int_equal(agt_batch_count(b), 0); /* taken */
	}
	assert_true(agt_spooler_drain(q, 10000000000ull));
	assert_true(agt_spooler_idle(q));
	agt_spooler_reclaim(q, on_pos, &g);
	assert_int_equal(g.n, K);
	for (uint32_t i = 1; i <= K; i++) {
		size_t x = i - 1;
		if (x)
			assert_true(g.seqs[x] > g.seqs[x - 1]); /* push order */
		assert_int_equal(g.np[x], i % 2 ? 2 : 1);
		assert_int_equal(g.p[x][0].key, 1);
		assert_int_equal(g.p[x][0].offset, i);
		if (i % 2)
			assert_int_equal(g.p[x][1].offset, 10ull * i);
		check_frame(sp, g.seqs[x], i, 50 + i);
	}
	agt_spooler_stats st;
	agt_spooler_get_stats(q, &st);
	assert_int_equal(st.frames, K);
	assert_int_equal(st.dropped, 0);
	agt_spooler_stop(q);
	agt_batch_destroy(b);
	agt_spool_close(sp);
	rm_rf(dir);
}

/* frees the spool: every frame acked and the checkpoint past them */
static void ack_all(agt_spool *sp)
{
	agt_spool_item it;
	ksk_errinfo ei;
	while (agt_spool_claim(sp, &it) == KSK_OK)
		assert_int_equal(agt_spool_acked(sp, it.seq, &ei), KSK_OK);
	agt_spool_checkpoint_saved(sp, agt_spool_last_seq(sp));
	agt_spool_tick(sp);
}

static void test_spool_full_backpressure(void **state)
{
	char dir[64];
	tmpdir(dir, sizeof(dir));
	/* room for about two of these frames */
	agt_spool *sp = open_spool(dir, 6000);
	agt_spooler *q = start(sp, 2, comp(state));
	agt_batch *b = new_batch();
	got g;
	memset(&g, 0, sizeof(g));
	g.sp = sp;
	uint32_t pushed = 0;
	/* push until the spooler has no room: the spool is full by then */
	for (uint32_t i = 1; i <= 20; i++) {
		fill(b, i, 100);
		ksk_err rc = KSK_OK;
		for (int t = 0; t < 50 && (rc = agt_spooler_push(q, b)) == KSK_EBUSY; t++) {
			agt_spooler_wait_room(q, 10000000ull);
			agt_spooler_reclaim(q, on_pos, &g);
		}
		if (rc == KSK_EBUSY)
			break;
		assert_int_equal(rc, KSK_OK);
		pushed = i;
	}
	assert_true(pushed >= 2 && pushed < 20);
	assert_int_not_equal(agt_batch_count(b), 0); /* refused: kept */
	size_t before = g.n;
	/* stuck: retried, nothing more comes back */
	sleep_ms(300);
	agt_spooler_reclaim(q, on_pos, &g);
	assert_int_equal(g.n, before);
	assert_false(agt_spooler_room(q));
	agt_spooler_stats st;
	agt_spooler_get_stats(q, &st);
	assert_true(st.spool_full >= 2);
	/* the slot behind the stuck one was framed meanwhile: by a helper
	 * when there are helpers, never otherwise */
	if (comp(state) > 1)
		assert_true(st.helper_frames >= 1);
	else
		assert_int_equal(st.helper_frames, 0);
	/* acks + checkpoint free the spool: the rest goes through, in order */
	for (int t = 0; t < 500 && g.n < pushed; t++) {
		ack_all(sp);
		sleep_ms(20); /* the spooler retries every 50 ms */
		agt_spooler_reclaim(q, on_pos, &g);
	}
	assert_int_equal(g.n, pushed);
	for (size_t x = 0; x < g.n; x++) {
		assert_int_equal(g.p[x][0].offset, x + 1);
		if (x)
			assert_true(g.seqs[x] > g.seqs[x - 1]);
	}
	assert_int_equal(agt_spooler_push(q, b), KSK_OK);
	bool drained = false;
	for (int t = 0; t < 100 && !drained; t++) {
		ack_all(sp);
		drained = agt_spooler_drain(q, 50000000ull);
	}
	assert_true(drained);
	agt_spooler_stop(q);
	agt_batch_destroy(b);
	agt_spool_close(sp);
	rm_rf(dir);
}

static void test_drain_timeout_drops(void **state)
{
	char dir[64];
	tmpdir(dir, sizeof(dir));
	agt_spool *sp = open_spool(dir, 6000);
	agt_spooler *q = start(sp, 3, comp(state));
	agt_batch *b = new_batch();
	got g;
	memset(&g, 0, sizeof(g));
	g.sp = sp;
	/* fill the spool, then two more that cannot be appended */
	uint32_t i = 1;
	for (; i <= 20; i++) {
		fill(b, i, 100);
		assert_int_equal(agt_spooler_push(q, b), KSK_OK);
		assert_true(agt_spooler_drain(q, 200000000ull) || i > 1);
		agt_spooler_reclaim(q, on_pos, &g);
		if (g.n < i)
			break; /* this one was dropped: the spool is full */
	}
	assert_true(i <= 20);
	size_t kept = g.n;
	agt_spooler_stats st;
	agt_spooler_get_stats(q, &st);
	assert_int_equal(st.dropped, 1);
	fill(b, 100, 100);
	assert_int_equal(agt_spooler_push(q, b), KSK_OK);
	fill(b, 101, 100);
	assert_int_equal(agt_spooler_push(q, b), KSK_OK);
	assert_false(agt_spooler_drain(q, 100000000ull));
	assert_true(agt_spooler_idle(q));
	/* dropped slots free their place but give no positions */
	assert_int_equal(agt_spooler_reclaim(q, on_pos, &g), 2);
	assert_int_equal(g.n, kept);
	agt_spooler_get_stats(q, &st);
	assert_int_equal(st.dropped, 3);
	/* and the spooler goes on working once there is room */
	ack_all(sp);
	fill(b, 200, 100);
	assert_int_equal(agt_spooler_push(q, b), KSK_OK);
	assert_true(agt_spooler_drain(q, 5000000000ull));
	agt_spooler_reclaim(q, on_pos, &g);
	assert_int_equal(g.n, kept + 1);
	assert_int_equal(g.p[kept][0].offset, 200);
	agt_spooler_stop(q);
	agt_batch_destroy(b);
	agt_spool_close(sp);
	rm_rf(dir);
}

static void test_stop_with_waiting(void **state)
{
	char dir[64];
	tmpdir(dir, sizeof(dir));
	agt_spool *sp = open_spool(dir, 3000);
	agt_spooler *q = start(sp, 4, comp(state));
	agt_batch *b = new_batch();
	for (uint32_t i = 1; i <= 4; i++) {
		fill(b, i, 100);
		assert_int_equal(agt_spooler_push(q, b), KSK_OK);
	}
	agt_spooler_stop(q); /* the spool is full: waiting slots are dropped */
	agt_spooler_stop(NULL);
	agt_batch_destroy(b);
	agt_spool_close(sp);
	rm_rf(dir);
}

int main(void)
{
	static const uint32_t one = 1, four = 4;
	const struct CMUnitTest tests[] = {
		{"test_order_positions_frames/1 compressor", test_order_positions_frames, NULL, NULL, (void *)&one},
		{"test_order_positions_frames/4 compressors", test_order_positions_frames, NULL, NULL, (void *)&four},
		{"test_spool_full_backpressure/1 compressor", test_spool_full_backpressure, NULL, NULL, (void *)&one},
		{"test_spool_full_backpressure/4 compressors", test_spool_full_backpressure, NULL, NULL, (void *)&four},
		{"test_drain_timeout_drops/1 compressor", test_drain_timeout_drops, NULL, NULL, (void *)&one},
		{"test_drain_timeout_drops/4 compressors", test_drain_timeout_drops, NULL, NULL, (void *)&four},
		{"test_stop_with_waiting/1 compressor", test_stop_with_waiting, NULL, NULL, (void *)&one},
		{"test_stop_with_waiting/4 compressors", test_stop_with_waiting, NULL, NULL, (void *)&four},
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
