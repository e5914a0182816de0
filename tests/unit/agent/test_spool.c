/*
 * test_spool.c : the agent's disk spool (agent/agt_spool.h).
 *
 *  - append / replay round trip (frames, positions, stamped seq + agent ID)
 *  - a torn tail cut at every offset of the last record is truncated
 *  - a corrupt record in the middle is skipped and counted
 *  - a seq is never reused: crash at each step of the reservation, after
 *    everything was acked and deleted, and with the seq file lost
 *  - a segment is deleted only after its frames are done AND the caller's
 *    checkpoint covers their positions
 *  - spool full gives KSK_EBUSY, then space comes back after acks
 *  - dead letters: frame + reason in dead/, never offered again
 *  - claim / unclaim; interval fsync driven by a manual clock
 *  - records bigger than the replay window; random flips and cuts
 *  - every allocation failure: KSK_ENOMEM, no leak, no crash
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agt_spool.h"
#include "kiseki/alloc.h"
#include "kiseki/clock.h"
#include "kiseki/frame.h"

/* ---- helpers ------------------------------------------------------------------ */

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
	snprintf(out, cap, "/tmp/agt_spool_XXXXXX");
	assert_non_null(mkdtemp(out));
}

/* A small uncompressed frame whose payload depends on `i`. */
static size_t make_frame(uint32_t i, uint8_t *out, size_t cap)
{
	ksk_frame_enc *fe;
	assert_int_equal(ksk_frame_enc_create(NULL, 1, &fe), KSK_OK);
	uint8_t payload[300];
	size_t plen = 40 + i % 200;
	for (size_t k = 0; k < plen; k++)
		payload[k] = (uint8_t)(i * 31 + k);
	ksk_frame_meta m;
	memset(&m, 0, sizeof(m));
	m.record_count = 1;
	m.created_ns = 1000 + i;
	const uint8_t *f;
	size_t flen;
	assert_int_equal(ksk_frame_encode(fe, &m, payload, plen, &f, &flen, NULL), KSK_OK);
	assert_true(flen <= cap);
	memcpy(out, f, flen);
	ksk_frame_enc_destroy(fe);
	return flen;
}

/* A frame of about `size` bytes (stored uncompressed, noisy payload). */
static uint8_t *make_big_frame(uint32_t i, size_t size, size_t *len)
{
	ksk_frame_enc *fe;
	assert_int_equal(ksk_frame_enc_create(NULL, 1, &fe), KSK_OK);
	uint8_t *payload = malloc(size);
	uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
	for (size_t k = 0; k < size; k++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		payload[k] = (uint8_t)x;
	}
	ksk_frame_meta m;
	memset(&m, 0, sizeof(m));
	m.record_count = 1;
	const uint8_t *f;
	assert_int_equal(ksk_frame_encode(fe, &m, payload, size, &f, len, NULL), KSK_OK);
	uint8_t *out = malloc(*len);
	memcpy(out, f, *len);
	free(payload);
	ksk_frame_enc_destroy(fe);
	return out;
}

static void opts_for(agt_spool_opts *o, const char *dir)
{
	agt_spool_opts_default(o);
	o->dir = dir;
}

typedef struct seen {
	uint64_t seq[256];
	bool done[256];
	char pos[256][32];
	size_t n;
} seen;

static void seen_cb(void *ctx, uint64_t seq, bool done, const uint8_t *pos, size_t len)
{
	seen *s = ctx;
	assert_true(s->n < 256);
	s->seq[s->n] = seq;
	s->done[s->n] = done;
	assert_true(len < 32);
	memcpy(s->pos[s->n], pos, len);
	s->pos[s->n][len] = '\0';
	s->n++;
}

static uint64_t append_one(agt_spool *sp, uint32_t i, bool with_pos)
{
	uint8_t f[512];
	size_t n = make_frame(i, f, sizeof(f));
	char pos[32];
	snprintf(pos, sizeof(pos), "pos-%u", i);
	uint64_t seq = 0;
	ksk_errinfo ei;
	ksk_err rc = agt_spool_append(sp, f, n, with_pos ? (const uint8_t *)pos : NULL,
	                              with_pos ? strlen(pos) : 0, 0, &seq, &ei);
	if (rc != KSK_OK)
		fail_msg("append %u: %s %s", i, ksk_errname(rc), ei.msg);
	return seq;
}

static int count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	size_t sl = strlen(suffix);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (l >= sl && strcmp(de->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static uint8_t *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc((size_t)sz + 1);
	assert_int_equal(fread(b, 1, (size_t)sz, f), (size_t)sz);
	fclose(f);
	*n = (size_t)sz;
	return b;
}

static void write_file(const char *path, const uint8_t *b, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, n, f), n);
	fclose(f);
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_roundtrip(void **state)
{
	(void)state;
	char dir[64];
	tmpdir(dir, sizeof(dir));
	agt_spool_opts o;
	opts_for(&o, dir);
	o.segment_bytes = 2048; /* several segments */
	agt_spool *sp;
	ksk_errinfo ei;
	assert_int_equal(agt_spool_open(&o, NULL, NULL, &sp, &ei), KSK_OK);
	uint8_t id[16];
	agt_spool_agent_id(sp, id);
	uint8_t frames[20][512];
	size_t lens[20];
	uint64_t seqs[20];
	for (uint32_t i = 0; i < 20; i++) {
		lens[i] = make_frame(i, frames[i], sizeof(frames[i]));
		char pos[32];
		snprintf(pos, sizeof(pos), "pos-%u", i);
		assert_int_equal(agt_spool_append(sp, frames[i], lens[i], (const uint8_t *)pos,
		                                  strlen(pos), i % 3, &seqs[i], &ei),
		                 KSK_OK);
		if (i)
			assert_true(seqs[i] == seqs[i - 1] + 1);
		/* the caller's frame was stamped: it parses, with our ID and seq */
		ksk_frame_hdr h;
		assert_int_equal(ksk_frame_parse_header(frames[i], lens[i], NULL, &h, NULL), KSK_OK);
		assert_memory_equal(h.agent_id, id, 16);
		assert_true(h.seq == seqs[i]);
	}
	assert_true(seqs[0] >= 1);
	assert_true(agt_spool_durable_seq(sp) == seqs[19]);
	agt_spool_close(sp);
	assert_true(count_files(dir, ".dat") > 1);

	seen s;
	memset(&s, 0, sizeof(s));
	assert_int_equal(agt_spool_open(&o, seen_cb, &s, &sp, &ei), KSK_OK);
	uint8_t id2[16];
	agt_spool_agent_id(sp, id2);
	assert_memory_equal(id, id2, 16);
	assert_int_equal(s.n, 20);
	for (uint32_t i = 0; i < 20; i++) {
		char pos[32];
		snprintf(pos, sizeof(pos), "pos-%u", i);
		assert_true(s.seq[i] == seqs[i]);
		assert_false(s.done[i]);
		assert_string_equal(s.pos[i], pos);
	}
	for (uint32_t i = 0; i < 20; i++) {
		agt_spool_item it;
		assert_int_equal(agt_spool_claim(sp, &it), KSK_OK);
		assert_true(it.seq == seqs[i]);
		assert_int_equal(it.dest, i % 3);
		assert_int_equal(it.len, lens[i]);
		uint8_t buf[512];
		assert_int_equal(agt_spool_read(sp, it.seq, buf, sizeof(buf), &ei), KSK_OK);
		assert_memory_equal(buf, frames[i], lens[i]);
	}
	agt_spool_item it;
	assert_int_equal(agt_spool_claim(sp, &it), KSK_ENOTFOUND);
	/* unclaim gives it back */
	agt_spool_unclaim(sp, seqs[5]);
	assert_int_equal(agt_spool_claim(sp, &it), KSK_OK);
	assert_true(it.seq == seqs[5]);
	/* the next seq continues after a restart */
	uint64_t next = append_one(sp, 99, true);
	assert_true(next > seqs[19]);
	agt_spool_stats st;
	agt_spool_get_stats(sp, &st);
	assert_int_equal(st.frames, 21);
	assert_int_equal(st.frames_pending, 21);
	assert_int_equal(st.corrupt_records, 0);
	assert_true(st.oldest_pending_ns > 0);
	agt_spool_close(sp);
	rm_rf(dir);
}

/* The spool files of a 3-frame spool, kept in memory. */
typedef struct image {
	uint8_t *seg, *id, *seq;
	size_t seg_len, id_len, seq_len;
	size_t last_rec; /* offset of the last record */
} image;

static void image_make(image *im)
{
	char dir[64];
	tmpdir(dir, sizeof(dir));
	agt_spool_opts o;
	opts_for(&o, dir);
	agt_spool *sp;
	assert_int_equal(agt_spool_open(&o, NULL, NULL, &sp, NULL), KSK_OK);
	append_one(sp, 1, true);
	append_one(sp, 2, true);
	char p[128];
	snprintf(p, sizeof(p), "%s/spool-0000000001.dat", dir);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	im->last_rec = (size_t)st.st_size;
	append_one(sp, 3, true);
	agt_spool_close(sp);
	im->seg = read_file(p, &im->seg_len);
	snprintf(p, sizeof(p), "%s/agent.id", dir);
	im->id = read_file(p, &im->id_len);
	snprintf(p, sizeof(p), "%s/seq", dir);
	im->seq = read_file(p, &im->seq_len);
	rm_rf(dir);
}

static void image_write(const image *im, const char *dir, size_t seg_len, const uint8_t *seg)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/spool-0000000001.dat", dir);
	write_file(p, seg, seg_len);
	snprintf(p, sizeof(p), "%s/agent.id", dir);
	write_file(p, im->id, im->id_len);
	snprintf(p, sizeof(p), "%s/seq", dir);
	write_file(p, im->seq, im->seq_len);
}

static void image_free(image *im)
{
	free(im->seg);
	free(im->id);
	free(im->seq);
}

static void test_torn_tail_every_offset(void **state)
{
	(void)state;
	image im;
	image_make(&im);
	for (size_t cut = im.last_rec; cut < im.seg_len; cut++) {
		char dir[64];
		tmpdir(dir, sizeof(dir));
		image_write(&im, dir, cut, im.seg);
		agt_spool_opts o;
		opts_for(&o, dir);
		seen s;
		memset(&s, 0, sizeof(s));
		agt_spool *sp;
		ksk_errinfo ei;
		if (agt_spool_open(&o, seen_cb, &s, &sp, &ei) != KSK_OK)
			fail_msg("cut %zu: %s", cut, ei.msg);
		assert_int_equal(s.n, 2);
		assert_string_equal(s.pos[1], "pos-2");
		agt_spool_stats st;
		agt_spool_get_stats(sp, &st);
		assert_int_equal(st.torn_bytes, cut - im.last_rec);
		assert_int_equal(st.corrupt_records, 0);
		char p[128];
		snprintf(p, sizeof(p), "%s/spool-0000000001.dat", dir);
		struct stat fst;
		assert_int_equal(stat(p, &fst), 0);
		assert_int_equal((size_t)fst.st_size, im.last_rec);
		/* still usable, and the lost record's seq is not handed out again */
		uint64_t seq = append_one(sp, 4, true);
		assert_true(seq > 3);
		agt_spool_close(sp);
		rm_rf(dir);
	}
	image_free(&im);
}

static void test_corrupt_middle(void **state)
{
	(void)state;
	image im;
	image_make(&im);
	/* the second record: between the first record's end and the last */
	uint8_t *bad = malloc(im.seg_len);
	/* find the first record's size from its length field */
	size_t r1 = 8 + (size_t)(im.seg[0] | im.seg[1] << 8 | im.seg[2] << 16 | im.seg[3] << 24);
	size_t offsets[] = {r1 + 1, r1 + 5, r1 + 8, r1 + 40, im.last_rec - 1};
	for (size_t k = 0; k < sizeof(offsets) / sizeof(offsets[0]); k++) {
		memcpy(bad, im.seg, im.seg_len);
		bad[offsets[k]] ^= 0x5a;
		char dir[64];
		tmpdir(dir, sizeof(dir));
		image_write(&im, dir, im.seg_len, bad);
		agt_spool_opts o;
		opts_for(&o, dir);
		seen s;
		memset(&s, 0, sizeof(s));
		agt_spool *sp;
		assert_int_equal(agt_spool_open(&o, seen_cb, &s, &sp, NULL), KSK_OK);
		assert_int_equal(s.n, 2);
		assert_string_equal(s.pos[0], "pos-1");
		assert_string_equal(s.pos[1], "pos-3");
		agt_spool_stats st;
		agt_spool_get_stats(sp, &st);
		assert_int_equal(st.corrupt_records, 1);
		assert_int_equal(st.torn_bytes, 0);
		agt_spool_close(sp);
		rm_rf(dir);
	}
	/* garbage in the last record's middle is a bad tail: truncated */
	memcpy(bad, im.seg, im.seg_len);
	bad[im.last_rec + 20] ^= 0xff;
	char dir[64];
	tmpdir(dir, sizeof(dir));
	image_write(&im, dir, im.seg_len, bad);
	agt_spool_opts o;
	opts_for(&o, dir);
	seen s;
	memset(&s, 0, sizeof(s));
	agt_spool *sp;
	assert_int_equal(agt_spool_open(&o, seen_cb, &s, &sp, NULL), KSK_OK);
	assert_int_equal(s.n, 2);
	agt_spool_close(sp);
	rm_rf(dir);
	free(bad);
	image_free(&im);
}

static void test_seq_never_reused(void **state)
{
	(void)state;
	for (int step = 0; step <= 4; step++) {
		char dir[64];
		tmpdir(dir, sizeof(dir));
		agt_spool_opts o;
		opts_for(&o, dir);
		o.seq_block = 3;
		agt_spool *sp;
		assert_int_equal(agt_spool_open(&o, NULL, NULL, &sp, NULL), KSK_OK);
		uint64_t max = 0;
		for (uint32_t i = 0; i < 3; i++)
			max = append_one(sp, i, false);
		/* the next append needs a new reservation: crash inside it */
		agt_spool_test_crash_at(sp, step);
		uint8_t f[512];
		size_t n = make_frame(7, f, sizeof(f));
		uint64_t seq = 0;
		ksk_err rc = agt_spool_append(sp, f, n, NULL, 0, 0, &seq, NULL);
		if (step == 0) {
			assert_int_equal(rc, KSK_OK);
			max = seq;
		} else {
			assert_int_equal(rc, KSK_EIO);
		}
		agt_spool_close(sp); /* the "crash" */
		assert_int_equal(agt_spool_open(&o, NULL, NULL, &sp, NULL), KSK_OK);
		seq = append_one(sp, 8, false);
		if (seq <= max)
			fail_msg("step %d: seq %llu reused (max was %llu)", step,
			         (unsigned long long)seq, (unsigned long long)max);
		max = seq;
		/* ack everything: every segment goes, yet seqs still grow */
		agt_spool_item it;
		while (agt_spool_claim(sp, &it) == KSK_OK)
			assert_int_equal(agt_spool_acked(sp, it.seq, NULL), KSK_OK);
		agt_spool_close(sp);
		assert_int_equal(agt_spool_open(&o, NULL, NULL, &sp, NULL), KSK_OK);
		assert_int_equal(count_files(dir, ".dat"), 0);
		seq = append_one(sp, 9, false);
		assert_true(seq > max);
		agt_spool_close(sp);
		rm_rf(dir);
	}
}

static void test_seq_file_lost(void **state)
{
	(void)state;
	char dir[64];
	tmpdir(dir, sizeof(dir));
	agt_spool_opts o;
	opts_for(&o, dir);
	agt_spool *sp;
	assert_int_equal(agt_spool_open(&o, NULL, NULL, &sp, NULL), KSK_OK);
	uint8_t id1[16], id2[16];
	agt_spool_agent_id(sp, id1);
	uint64_t max = 0;
	for (uint32_t i = 0; i < 5; i++)
		max = append_one(sp, i, false);
	agt_spool_close(sp);
	char p[128];
	snprintf(p, sizeof(p), "%s/seq", dir);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(agt_spool_open(&o, NULL, NULL, &sp, NULL), KSK_OK);
	agt_spool_agent_id(sp, id2);
	/* a new identity, and seqs still above what the spool holds */
	assert_memory_not_equal(id1, id2, 16);
	assert_true(append_one(sp, 6, false) > max);
	agt_spool_close(sp);
	/* a garbled agent.id: new identity too */
	snprintf(p, sizeof(p), "%s/agent.id", dir);
	write_file(p, (const uint8_t *)"zz\n", 3);
	assert_int_equal(agt_spool_open(&o, NULL, NULL, &sp, NULL), KSK_OK);
	agt_spool_agent_id(sp, id1);
	assert_memory_not_equal(id1, id2, 16);
	agt_spool_close(sp);
	rm_rf(dir);
}

static void test_delete_after_ack_and_checkpoint(void **state)
{
	(void)state;
	char dir[64];
	tmpdir(dir, sizeof(dir));
	agt_spool_opts o;
	opts_for(&o, dir);
	o.segment_bytes = 64; /* one frame per segment */
	agt_spool *sp;
	assert_int_equal(agt_spool_open(&o, NULL, NULL, &sp, NULL), KSK_OK);
	uint64_t s[4];
	for (uint32_t i = 0; i < 4; i++)
		s[i] = append_one(sp, i, true);
	uint64_t nopos = append_one(sp, 10, false); /* e.g. native intake */
	assert_int_equal(count_files(dir, ".dat"), 5);
	agt_spool_item it;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(agt_spool_claim(sp, &it), KSK_OK);
		assert_int_equal(agt_spool_acked(sp, it.seq, NULL), KSK_OK);
	}
	/* all acked, but no checkpoint saved: only the positionless one goes */
	assert_int_equal(count_files(dir, ".dat"), 4);
	(void)nopos;
	/* a restart now: positions come back, flagged done */
	agt_spool_close(sp);
	seen sn;
	memset(&sn, 0, sizeof(sn));
	assert_int_equal(agt_spool_open(&o, seen_cb, &sn, &sp, NULL), KSK_OK);
	assert_int_equal(sn.n, 4);
	for (int i = 0; i < 4; i++)
		assert_true(sn.done[i]);
	assert_int_equal(count_files(dir, ".dat"), 4);
	agt_spool_checkpoint_saved(sp, s[1]);
	assert_int_equal(count_files(dir, ".dat"), 2);
	agt_spool_checkpoint_saved(sp, s[0]); /* never moves back */
	assert_int_equal(count_files(dir, ".dat"), 2);
	agt_spool_checkpoint_saved(sp, s[3]);
	assert_int_equal(count_files(dir, ".dat"), 0);
	assert_int_equal(count_files(dir, ".ack"), 0);
	/* checkpoint ahead of acks: nothing deleted until the ack */
	uint64_t a = append_one(sp, 20, true);
	uint64_t b = append_one(sp, 21, true);
	agt_spool_checkpoint_saved(sp, b);
	assert_int_equal(count_files(dir, ".dat"), 2);
	assert_int_equal(agt_spool_claim(sp, &it), KSK_OK);
	assert_true(it.seq == a);
	assert_int_equal(agt_spool_acked(sp, a, NULL), KSK_OK);
	assert_int_equal(count_files(dir, ".dat"), 1);
	agt_spool_stats st;
	agt_spool_get_stats(sp, &st);
	assert_int_equal(st.frames, 1);
	assert_int_equal(st.frames_pending, 1);
	agt_spool_close(sp);
	rm_rf(dir);
}

static void test_full_then_space(void **state)
{
	(void)state;
	char dir[64];
	tmpdir(dir, sizeof(dir));
	agt_spool_opts o;
	opts_for(&o, dir);
	o.segment_bytes = 64;
	o.max_bytes = 1200;
	agt_spool *sp;
	assert_int_equal(agt_spool_open(&o, NULL, NULL, &sp, NULL), KSK_OK);
	uint8_t f[512];
	int stored = 0;
	ksk_err rc = KSK_OK;
	for (uint32_t i = 0; i < 100; i++) {
		size_t n = make_frame(5, f, sizeof(f));
		rc = agt_spool_append(sp, f, n, (const uint8_t *)"p", 1, 0, NULL, NULL);
		if (rc != KSK_OK)
			break;
		stored++;
	}
	assert_int_equal(rc, KSK_EBUSY);
	assert_true(stored >= 2);
	agt_spool_stats st;
	agt_spool_get_stats(sp, &st);
	assert_int_equal(st.full_events, 1);
	assert_true(st.bytes <= o.max_bytes);
	/* acks alone do not free (positions not saved) */
	agt_spool_item it;
	uint64_t last = 0;
	while (agt_spool_claim(sp, &it) == KSK_OK) {
		assert_int_equal(agt_spool_acked(sp, it.seq, NULL), KSK_OK);
		last = it.seq;
	}
	size_t n = make_frame(5, f, sizeof(f));
	assert_int_equal(agt_spool_append(sp, f, n, (const uint8_t *)"p", 1, 0, NULL, NULL), KSK_EBUSY);
	agt_spool_checkpoint_saved(sp, last);
	n = make_frame(5, f, sizeof(f));
	assert_int_equal(agt_spool_append(sp, f, n, (const uint8_t *)"p", 1, 0, NULL, NULL), KSK_OK);
	agt_spool_get_stats(sp, &st);
	assert_int_equal(st.full_events, 2);
	assert_int_equal(st.frames, 1);
	agt_spool_close(sp);
	rm_rf(dir);
}

static void test_dead_letter(void **state)
{
	(void)state;
	char dir[64];
	tmpdir(dir, sizeof(dir));
	agt_spool_opts o;
	opts_for(&o, dir);
	agt_spool *sp;
	assert_int_equal(agt_spool_open(&o, NULL, NULL, &sp, NULL), KSK_OK);
	uint8_t f[512];
	size_t n = make_frame(3, f, sizeof(f));
	uint64_t seq;
	assert_int_equal(agt_spool_append(sp, f, n, NULL, 0, 0, &seq, NULL), KSK_OK);
	agt_spool_item it;
	assert_int_equal(agt_spool_claim(sp, &it), KSK_OK);
	assert_int_equal(agt_spool_dead_letter(sp, seq, "KSK_ERECORD: record 3: bad", NULL), KSK_OK);
	uint8_t id[16];
	agt_spool_agent_id(sp, id);
	char hex[40];
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	char p[256];
	snprintf(p, sizeof(p), "%s/dead/%s-%llu.frame", dir, hex, (unsigned long long)seq);
	size_t dl;
	uint8_t *d = read_file(p, &dl);
	assert_int_equal(dl, n);
	assert_memory_equal(d, f, n);
	free(d);
	snprintf(p, sizeof(p), "%s/dead/%s-%llu.txt", dir, hex, (unsigned long long)seq);
	uint8_t *t = read_file(p, &dl);
	t[dl] = '\0';
	assert_non_null(strstr((char *)t, "KSK_ERECORD: record 3: bad"));
	free(t);
	agt_spool_stats st;
	agt_spool_get_stats(sp, &st);
	assert_int_equal(st.dead_lettered, 1);
	assert_int_equal(st.frames_pending, 0);
	agt_spool_close(sp);
	/* not offered again after a restart */
	seen s;
	memset(&s, 0, sizeof(s));
	assert_int_equal(agt_spool_open(&o, seen_cb, &s, &sp, NULL), KSK_OK);
	assert_int_equal(agt_spool_claim(sp, &it), KSK_ENOTFOUND);
	agt_spool_close(sp);
	rm_rf(dir);
}

static void test_interval_fsync_manual_clock(void **state)
{
	(void)state;
	char dir[64];
	tmpdir(dir, sizeof(dir));
	ksk_manual_clock mc;
	ksk_manual_clock_init(&mc, 1700000000000000000ull);
	agt_spool_opts o;
	opts_for(&o, dir);
	o.fsync = AGT_FSYNC_INTERVAL;
	o.fsync_interval_ns = 1000000000ull;
	o.clock = &mc.clock;
	agt_spool *sp;
	assert_int_equal(agt_spool_open(&o, NULL, NULL, &sp, NULL), KSK_OK);
	uint64_t base = agt_spool_durable_seq(sp);
	uint64_t a = append_one(sp, 1, true);
	uint64_t b = append_one(sp, 2, true);
	assert_true(agt_spool_durable_seq(sp) < a);
	agt_spool_tick(sp);
	assert_true(agt_spool_durable_seq(sp) == base);
	ksk_manual_clock_advance(&mc, 1000000000ull);
	agt_spool_tick(sp);
	assert_true(agt_spool_durable_seq(sp) == b);
	/* oldest pending age is from the clock */
	agt_spool_stats st;
	agt_spool_get_stats(sp, &st);
	assert_true(st.oldest_pending_ns == 1700000000000000000ull);
	agt_spool_close(sp);
	rm_rf(dir);
}

static void test_bad_input(void **state)
{
	(void)state;
	char dir[64];
	tmpdir(dir, sizeof(dir));
	agt_spool_opts o;
	opts_for(&o, dir);
	agt_spool *sp;
	assert_int_equal(agt_spool_open(&o, NULL, NULL, &sp, NULL), KSK_OK);
	uint8_t junk[100];
	memset(junk, 'x', sizeof(junk));
	assert_int_equal(agt_spool_append(sp, junk, sizeof(junk), NULL, 0, 0, NULL, NULL), KSK_EINVAL);
	uint8_t buf[8];
	assert_int_equal(agt_spool_read(sp, 12345, buf, sizeof(buf), NULL), KSK_ENOTFOUND);
	assert_int_equal(agt_spool_acked(sp, 12345, NULL), KSK_ENOTFOUND);
	agt_spool_close(sp);
	agt_spool_opts bad;
	opts_for(&bad, NULL);
	assert_int_equal(agt_spool_open(&bad, NULL, NULL, &sp, NULL), KSK_EINVAL);
	/* junk files in the directory are ignored; a junk segment is torn */
	char p[128];
	snprintf(p, sizeof(p), "%s/spool-0000000007.dat", dir);
	write_file(p, junk, sizeof(junk));
	snprintf(p, sizeof(p), "%s/spool-x.dat", dir);
	write_file(p, junk, sizeof(junk));
	assert_int_equal(agt_spool_open(&o, NULL, NULL, &sp, NULL), KSK_OK);
	agt_spool_stats st;
	agt_spool_get_stats(sp, &st);
	assert_int_equal(st.frames, 0);
	assert_int_equal(st.torn_bytes, sizeof(junk));
	agt_spool_close(sp);
	rm_rf(dir);
}

/* Records larger than the replay window: CRCs stream across chunks, and a
 * corrupt big record is skipped by a resync that crosses windows. */
static void test_big_records(void **state)
{
	(void)state;
	char dir[64];
	tmpdir(dir, sizeof(dir));
	agt_spool_opts o;
	opts_for(&o, dir);
	o.segment_bytes = 64ull << 20;
	agt_spool *sp;
	assert_int_equal(agt_spool_open(&o, NULL, NULL, &sp, NULL), KSK_OK);
	size_t sizes[4] = {70000, 200000, 150000, 90000};
	uint8_t *fr[4];
	size_t fl[4];
	size_t starts[5];
	char p[128];
	snprintf(p, sizeof(p), "%s/spool-0000000001.dat", dir);
	for (int i = 0; i < 4; i++) {
		fr[i] = make_big_frame((uint32_t)i, sizes[i], &fl[i]);
		char pos[16];
		snprintf(pos, sizeof(pos), "pos-%d", i);
		assert_int_equal(agt_spool_append(sp, fr[i], fl[i], (const uint8_t *)pos, strlen(pos), 0,
		                                  NULL, NULL),
		                 KSK_OK);
		struct stat st;
		assert_int_equal(stat(p, &st), 0);
		starts[i + 1] = (size_t)st.st_size;
	}
	starts[0] = 0;
	agt_spool_close(sp);
	size_t n;
	uint8_t *img = read_file(p, &n);
	/* damage record 1 deep inside (past the first 64 KiB window) */
	img[starts[1] + 150000] ^= 1;
	write_file(p, img, n);
	seen s;
	memset(&s, 0, sizeof(s));
	assert_int_equal(agt_spool_open(&o, seen_cb, &s, &sp, NULL), KSK_OK);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.pos[0], "pos-0");
	assert_string_equal(s.pos[1], "pos-2");
	assert_string_equal(s.pos[2], "pos-3");
	agt_spool_stats st;
	agt_spool_get_stats(sp, &st);
	assert_int_equal(st.corrupt_records, 1);
	int idx[3] = {0, 2, 3};
	uint8_t *buf = malloc(300000);
	for (int k = 0; k < 3; k++) {
		agt_spool_item it;
		assert_int_equal(agt_spool_claim(sp, &it), KSK_OK);
		assert_int_equal(it.len, fl[idx[k]]);
		assert_int_equal(agt_spool_read(sp, it.seq, buf, 300000, NULL), KSK_OK);
		assert_memory_equal(buf, fr[idx[k]], it.len);
	}
	agt_spool_close(sp);
	/* a big record cut in the middle is a torn tail */
	img[starts[1] + 150000] ^= 1; /* repaired */
	write_file(p, img, starts[2] + 100000);
	memset(&s, 0, sizeof(s));
	assert_int_equal(agt_spool_open(&o, seen_cb, &s, &sp, NULL), KSK_OK);
	assert_int_equal(s.n, 2);
	agt_spool_get_stats(sp, &st);
	assert_int_equal(st.torn_bytes, 100000);
	agt_spool_close(sp);
	free(buf);
	free(img);
	for (int i = 0; i < 4; i++)
		free(fr[i]);
	rm_rf(dir);
}

/* Random bit flips and truncations: opening never fails, and exactly the
 * records left intact come back. */
static void test_random_damage(void **state)
{
	(void)state;
	char dir[64];
	tmpdir(dir, sizeof(dir));
	agt_spool_opts o;
	opts_for(&o, dir);
	agt_spool *sp;
	assert_int_equal(agt_spool_open(&o, NULL, NULL, &sp, NULL), KSK_OK);
	enum { N = 20 };
	size_t ends[N + 1];
	ends[0] = 0;
	char p[128], idp[128], seqp[128];
	snprintf(p, sizeof(p), "%s/spool-0000000001.dat", dir);
	snprintf(idp, sizeof(idp), "%s/agent.id", dir);
	snprintf(seqp, sizeof(seqp), "%s/seq", dir);
	for (uint32_t i = 0; i < N; i++) {
		append_one(sp, i * 7, true);
		struct stat st;
		assert_int_equal(stat(p, &st), 0);
		ends[i + 1] = (size_t)st.st_size;
	}
	agt_spool_close(sp);
	size_t n, idn, seqn;
	uint8_t *img = read_file(p, &n);
	uint8_t *id = read_file(idp, &idn);
	uint8_t *sq = read_file(seqp, &seqn);
	uint8_t *bad = malloc(n);
	uint64_t x = 0x1234567;
	for (int iter = 0; iter < 150; iter++) {
		memcpy(bad, img, n);
		bool broken[N] = {false};
		int flips = 1 + iter % 3;
		for (int f = 0; f < flips; f++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			size_t at = (size_t)(x % n);
			bad[at] ^= (uint8_t)(1 + (x >> 20) % 255);
			for (int r = 0; r < N; r++)
				if (at >= ends[r] && at < ends[r + 1])
					broken[r] = true;
		}
		size_t cut = n;
		if (iter % 2) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			cut = (size_t)(x % n);
			for (int r = 0; r < N; r++)
				if (ends[r + 1] > cut)
					broken[r] = true;
		}
		char d2[64];
		tmpdir(d2, sizeof(d2));
		char q[128];
		snprintf(q, sizeof(q), "%s/spool-0000000001.dat", d2);
		write_file(q, bad, cut);
		snprintf(q, sizeof(q), "%s/agent.id", d2);
		write_file(q, id, idn);
		snprintf(q, sizeof(q), "%s/seq", d2);
		write_file(q, sq, seqn);
		agt_spool_opts o2;
		opts_for(&o2, d2);
		seen s;
		memset(&s, 0, sizeof(s));
		assert_int_equal(agt_spool_open(&o2, seen_cb, &s, &sp, NULL), KSK_OK);
		size_t k = 0;
		for (int r = 0; r < N; r++) {
			if (broken[r])
				continue;
			char pos[32];
			snprintf(pos, sizeof(pos), "pos-%u", (unsigned)r * 7);
			if (k >= s.n || strcmp(s.pos[k], pos) != 0)
				fail_msg("iter %d: intact record %d not recovered", iter, r);
			k++;
		}
		assert_int_equal(k, s.n);
		/* and the spool still works */
		assert_true(append_one(sp, 1, true) > N);
		agt_spool_close(sp);
		rm_rf(d2);
	}
	free(bad);
	free(img);
	free(id);
	free(sq);
	rm_rf(dir);
}

/* Every allocation failure, at open and while appending, acking and
 * dead-lettering, gives KSK_ENOMEM (or success), never a crash or a
 * leak; the spool stays readable afterwards. */
static void test_alloc_failures(void **state)
{
	(void)state;
	char dir[64];
	tmpdir(dir, sizeof(dir));
	agt_spool_opts o;
	opts_for(&o, dir);
	agt_spool *sp;
	assert_int_equal(agt_spool_open(&o, NULL, NULL, &sp, NULL), KSK_OK);
	for (uint32_t i = 0; i < 5; i++)
		append_one(sp, i, true);
	agt_spool_item it;
	assert_int_equal(agt_spool_claim(sp, &it), KSK_OK);
	assert_int_equal(agt_spool_acked(sp, it.seq, NULL), KSK_OK);
	agt_spool_close(sp);
	/* the same starting files every round */
	static const char *const names[] = {"agent.id", "seq", "spool-0000000001.dat",
	                                    "spool-0000000001.ack"};
	uint8_t *files[4];
	size_t lens[4];
	char p[128];
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		files[i] = read_file(p, &lens[i]);
	}
	rm_rf(dir);
	unsigned long k;
	for (k = 1; k < 500; k++) {
		tmpdir(dir, sizeof(dir));
		for (int i = 0; i < 4; i++) {
			snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
			write_file(p, files[i], lens[i]);
		}
		ksk_failalloc fa;
		ksk_failalloc_init(&fa, k, 1);
		agt_spool_opts fo;
		opts_for(&fo, dir);
		fo.alloc = &fa.table;
		seen s;
		memset(&s, 0, sizeof(s));
		ksk_err rc = agt_spool_open(&fo, seen_cb, &s, &sp, NULL);
		if (rc == KSK_OK) {
			uint8_t f[512];
			size_t n = make_frame((uint32_t)k, f, sizeof(f));
			rc = agt_spool_append(sp, f, n, (const uint8_t *)"p", 1, 0, NULL, NULL);
			assert_true(rc == KSK_OK || rc == KSK_ENOMEM);
			if (agt_spool_claim(sp, &it) == KSK_OK) {
				rc = agt_spool_dead_letter(sp, it.seq, "test", NULL);
				assert_true(rc == KSK_OK || rc == KSK_ENOMEM);
			}
			agt_spool_close(sp);
		} else {
			assert_int_equal(rc, KSK_ENOMEM);
		}
		assert_int_equal(fa.live, 0);
		/* nothing was damaged by the failure: all 5 frames come back */
		memset(&s, 0, sizeof(s));
		assert_int_equal(agt_spool_open(&o, seen_cb, &s, &sp, NULL), KSK_OK);
		agt_spool_stats st;
		agt_spool_get_stats(sp, &st);
		assert_true(s.n >= 5);
		assert_int_equal(st.corrupt_records, 0);
		assert_int_equal(st.torn_bytes, 0);
		agt_spool_close(sp);
		rm_rf(dir);
		if (fa.calls < k)
			break; /* no allocation failed: every path was covered */
	}
	assert_true(k < 500);
	for (int i = 0; i < 4; i++)
		free(files[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_torn_tail_every_offset),
		cmocka_unit_test(test_corrupt_middle),
		cmocka_unit_test(test_seq_never_reused),
		cmocka_unit_test(test_seq_file_lost),
		cmocka_unit_test(test_delete_after_ack_and_checkpoint),
		cmocka_unit_test(test_full_then_space),
		cmocka_unit_test(test_dead_letter),
		cmocka_unit_test(test_interval_fsync_manual_clock),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_big_records),
		cmocka_unit_test(test_random_damage),
		cmocka_unit_test(test_alloc_failures),
	};
	return cmocka_run_group_tests_name("agt_spool", tests, NULL, NULL);
}
