/*
 * test_collector_proc.c : process-level tests of the real kiseki-collector
 * binary, driven through the harness (tests/harness) on loopback ports.
 *
 *  - acks: stored, then duplicate for a resend; the trace comes back.
 *  - bad frames: each kind gets its precise rejection while good frames
 *    on the same connection still land; metrics count rejections by reason.
 *  - kill -9: batches stream while the collector is killed at random
 *    moments, many times; after each restart every acked batch comes back
 *    exactly once (span and log counts per trace equal what was sent).
 *  - retention: with a small --max-disk the oldest segments go and the
 *    newest data still answers.
 *  - quarantine: a corrupted sealed segment is moved aside with a clear
 *    message and the other segments keep serving.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "col_client.h"
#include "gen.h"
#include "harness.h"
#include "kiseki/frame.h"
#include "kiseki/wire.h"

#ifndef COLLECTOR_PATH
#error COLLECTOR_PATH must name the kiseki-collector binary
#endif

/* ---- a running collector --------------------------------------------------- */

typedef struct coll {
	kh_proc *p;
	char dir[512];
	char data[600];
	char ingest[128];
	char query[128];
	uint16_t metrics_port;
} coll;

static void coll_start(coll *c, const char *const *extra)
{
	kh_msg msg;
	uint16_t p1, p2, p3;
	assert_int_equal(kh_free_port(&p1, &msg), 0);
	assert_int_equal(kh_free_port(&p2, &msg), 0);
	assert_int_equal(kh_free_port(&p3, &msg), 0);
	snprintf(c->ingest, sizeof(c->ingest), "tcp://127.0.0.1:%u", p1);
	snprintf(c->query, sizeof(c->query), "tcp://127.0.0.1:%u", p2);
	c->metrics_port = p3;
	char metrics[64];
	snprintf(metrics, sizeof(metrics), "127.0.0.1:%u", p3);
	const char *argv[32] = {COLLECTOR_PATH, "--data-dir", c->data, "--listen", c->ingest,
	                        "--query-listen", c->query, "--metrics-listen", metrics};
	int n = 9;
	for (int i = 0; extra && extra[i] && n < 31; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	kh_spawn_opts o;
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.name = "collector";
	int rc = kh_proc_spawn(&c->p, &o, &msg);
	if (rc != 0)
		fail_msg("spawn: %s", msg.text);
	const char *name, *addr;
	rc = kh_proc_wait_ready(c->p, 20000, &name, &addr, &msg);
	if (rc != 0)
		fail_msg("collector not ready: %s", msg.text);
	assert_string_equal(name, "kiseki-collector");
	assert_string_equal(addr, c->ingest);
}

static void coll_new(coll *c, const char *tag)
{
	memset(c, 0, sizeof(*c));
	char *d;
	kh_msg msg;
	assert_int_equal(kh_tmpdir_create(tag, &d, &msg), 0);
	snprintf(c->dir, sizeof(c->dir), "%s", d);
	snprintf(c->data, sizeof(c->data), "%s/data", d);
	free(d);
}

static void coll_stop(coll *c)
{
	kh_exit ex;
	kh_msg msg;
	int rc = kh_proc_stop(c->p, 20000, &ex, &msg);
	if (rc != 0)
		fail_msg("stop: %s", msg.text);
	assert_int_equal(ex.code, 0);
	kh_proc_destroy(c->p);
	c->p = NULL;
}

static void coll_kill9(coll *c)
{
	kh_msg msg;
	kh_exit ex;
	kh_proc_signal(c->p, SIGKILL, &msg);
	assert_int_equal(kh_proc_wait_exit(c->p, 10000, true, &ex, &msg), 0);
	assert_int_equal(ex.signo, SIGKILL);
	kh_proc_destroy(c->p);
	c->p = NULL;
}

static void coll_cleanup(coll *c)
{
	if (c->p)
		kh_proc_destroy(c->p);
	kh_msg msg;
	kh_rmtree(c->dir, &msg);
}

/* ---- frames with known content ----------------------------------------------- */

typedef struct expect_trace {
	uint8_t id[16];
	uint32_t spans;
	uint32_t logs; /* logs carrying this trace ID */
} expect_trace;

typedef struct sent_frame {
	uint8_t *bytes;
	size_t len;
	uint64_t seq;
	expect_trace *traces;
	uint32_t n_traces;
	int acked;
} sent_frame;

typedef struct maker {
	ksk_gen *gen;
	ksk_wire_enc *we;
	ksk_frame_enc *fe;
	ksk_frame_dec *fd;
	ksk_wire_dec *wd;
	uint8_t agent[16];
} maker;

static void maker_init(maker *m, uint64_t seed)
{
	assert_int_equal(ksk_gen_create(seed, 6, &m->gen), KSK_OK);
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &m->we), KSK_OK);
	assert_int_equal(ksk_frame_enc_create(NULL, 1, &m->fe), KSK_OK);
	assert_int_equal(ksk_frame_dec_create(NULL, NULL, &m->fd), KSK_OK);
	assert_int_equal(ksk_wire_dec_create(NULL, NULL, &m->wd), KSK_OK);
	for (int i = 0; i < 16; i++)
		m->agent[i] = (uint8_t)(seed * 31 + (uint64_t)i);
}

static void maker_fini(maker *m)
{
	ksk_gen_destroy(m->gen);
	ksk_wire_enc_destroy(m->we);
	ksk_frame_enc_destroy(m->fe);
	ksk_frame_dec_destroy(m->fd);
	ksk_wire_dec_destroy(m->wd);
}

static expect_trace *find_trace(expect_trace *t, uint32_t n, const uint8_t *id)
{
	for (uint32_t i = 0; i < n; i++)
		if (memcmp(t[i].id, id, 16) == 0)
			return &t[i];
	return NULL;
}

/* Makes frame `seq` with `spans` spans and `logs` logs; remembers what
 * every trace in it should hold. */
static void make_frame(maker *m, uint64_t seq, uint32_t spans, uint32_t logs,
                       uint64_t t0, sent_frame *out)
{
	memset(out, 0, sizeof(*out));
	assert_int_equal(ksk_gen_batch(m->gen, m->we, spans, logs, t0), KSK_OK);
	size_t plen;
	const uint8_t *p = ksk_wire_enc_data(m->we, &plen);
	ksk_frame_meta meta;
	memset(&meta, 0, sizeof(meta));
	memcpy(meta.agent_id, m->agent, 16);
	meta.seq = seq;
	meta.created_ns = t0;
	meta.record_count = ksk_wire_enc_count(m->we);
	meta.compress = true;
	const uint8_t *f;
	size_t flen;
	assert_int_equal(ksk_frame_encode(m->fe, &meta, p, plen, &f, &flen, NULL), KSK_OK);
	out->bytes = malloc(flen);
	memcpy(out->bytes, f, flen);
	out->len = flen;
	out->seq = seq;
	ksk_frame_hdr h;
	const ksk_batch *b;
	assert_int_equal(ksk_frame_decode_batch(m->fd, m->wd, out->bytes, flen, &h, &b, NULL), KSK_OK);
	out->traces = calloc(b->n_spans + 1, sizeof(expect_trace));
	for (uint32_t i = 0; i < b->n_spans; i++) {
		expect_trace *t = find_trace(out->traces, out->n_traces, b->spans[i].trace_id);
		if (!t) {
			t = &out->traces[out->n_traces++];
			memcpy(t->id, b->spans[i].trace_id, 16);
		}
		t->spans++;
	}
	for (uint32_t i = 0; i < b->n_logs; i++) {
		if (!b->logs[i].has_trace)
			continue;
		expect_trace *t = find_trace(out->traces, out->n_traces, b->logs[i].trace_id);
		if (t)
			t->logs++;
	}
}

static void sent_free(sent_frame *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(s[i].bytes);
		free(s[i].traces);
	}
}

/* ---- queries ------------------------------------------------------------------ */

typedef struct counted {
	uint32_t spans, logs;
} counted;

static void count_cb(void *ctx, const ksk_batch *b)
{
	counted *c = ctx;
	c->spans += b->n_spans;
	c->logs += b->n_logs;
}

static ksk_err get_trace(col_client *q, const uint8_t *id, counted *out)
{
	ksk_qreq r;
	ksk_qreq_init(&r, KSK_Q_TRACE);
	memcpy(r.trace_id, id, 16);
	r.has_trace_id = true;
	memset(out, 0, sizeof(*out));
	ksk_errinfo ei;
	return col_client_fetch(q, &r, count_cb, out, &ei);
}

/* Every trace of every acked frame comes back with exactly its spans and
 * logs. */
static void verify_exactly_once(const char *query_url, sent_frame *s, size_t n)
{
	col_client *q;
	ksk_errinfo ei;
	assert_int_equal(col_client_open(query_url, 20000, &q, &ei), KSK_OK);
	size_t checked = 0;
	for (size_t i = 0; i < n; i++) {
		if (!s[i].acked)
			continue;
		for (uint32_t k = 0; k < s[i].n_traces; k++) {
			counted c;
			ksk_err rc = get_trace(q, s[i].traces[k].id, &c);
			if (rc != KSK_OK)
				fail_msg("frame seq %llu trace %u: %s", (unsigned long long)s[i].seq, k,
				         ksk_errname(rc));
			if (c.spans != s[i].traces[k].spans || c.logs != s[i].traces[k].logs)
				fail_msg("frame seq %llu trace %u: got %u spans %u logs, sent %u spans %u logs",
				         (unsigned long long)s[i].seq, k, c.spans, c.logs,
				         s[i].traces[k].spans, s[i].traces[k].logs);
			checked++;
		}
	}
	assert_true(checked > 0);
	col_client_close(q);
}

/* A plain HTTP GET on loopback; returns the malloc'd response. */
static char *http_get(uint16_t port, const char *path)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return NULL;
	}
	char req[256];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return NULL;
	}
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	ssize_t r;
	while ((r = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)r;
		if (cap - len < 1024) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
	}
	buf[len] = '\0';
	close(fd);
	return buf;
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_acks_and_duplicates(void **state)
{
	(void)state;
	coll c;
	coll_new(&c, "col-acks");
	coll_start(&c, NULL);
	maker m;
	maker_init(&m, 11);
	sent_frame s[5];
	col_client *in;
	ksk_errinfo ei;
	assert_int_equal(col_client_open(c.ingest, 10000, &in, &ei), KSK_OK);
	for (int i = 0; i < 5; i++) {
		make_frame(&m, (uint64_t)i + 1, 60, 20, 1764000000000000000ull + (uint64_t)i * 1000000000ull, &s[i]);
		ksk_ack ack;
		assert_int_equal(col_client_send_frame(in, s[i].bytes, s[i].len, &ack, &ei), KSK_OK);
		assert_int_equal(ack.outcome, KSK_ACK_STORED);
		assert_int_equal(ack.seq, (uint64_t)i + 1);
		assert_memory_equal(ack.agent_id, m.agent, 16);
		s[i].acked = 1;
	}
	/* a resend is a duplicate, stored once */
	ksk_ack ack;
	assert_int_equal(col_client_send_frame(in, s[2].bytes, s[2].len, &ack, &ei), KSK_OK);
	assert_int_equal(ack.outcome, KSK_ACK_DUPLICATE);
	verify_exactly_once(c.query, s, 5);
	/* an unknown trace is not found */
	col_client *q;
	assert_int_equal(col_client_open(c.query, 10000, &q, &ei), KSK_OK);
	uint8_t none[16] = {1, 2, 3};
	counted cnt;
	assert_int_equal(get_trace(q, none, &cnt), KSK_ENOTFOUND);
	col_client_close(q);
	col_client_close(in);
	coll_stop(&c);
	/* after a clean restart the data and the dedupe set are still there */
	coll_start(&c, NULL);
	assert_int_equal(col_client_open(c.ingest, 10000, &in, &ei), KSK_OK);
	assert_int_equal(col_client_send_frame(in, s[0].bytes, s[0].len, &ack, &ei), KSK_OK);
	assert_int_equal(ack.outcome, KSK_ACK_DUPLICATE);
	col_client_close(in);
	verify_exactly_once(c.query, s, 5);
	coll_stop(&c);
	sent_free(s, 5);
	maker_fini(&m);
	coll_cleanup(&c);
}

static int pk_write(void *data, const char *buf, size_t len)
{
	return ksk_buf_append(data, buf, len) == KSK_OK ? 0 : -1;
}

/* A payload the encoder would refuse: one resource, then a span whose end
 * is before its start. */
static void bad_record_payload(ksk_buf *b)
{
	msgpack_packer pk;
	msgpack_packer_init(&pk, b, pk_write);
	msgpack_pack_map(&pk, 2);
	msgpack_pack_fix_uint8(&pk, 0);
	msgpack_pack_fix_uint8(&pk, 1);
	msgpack_pack_fix_uint8(&pk, 1);
	msgpack_pack_map(&pk, 1);
	msgpack_pack_str_with_body(&pk, "service.name", 12);
	msgpack_pack_str_with_body(&pk, "svc", 3);
	uint8_t tid[16] = {9, 9, 9}, sid[8] = {7, 7};
	msgpack_pack_map(&pk, 7);
	msgpack_pack_fix_uint8(&pk, 0);
	msgpack_pack_fix_uint8(&pk, 2);
	msgpack_pack_fix_uint8(&pk, 1);
	msgpack_pack_bin_with_body(&pk, tid, 16);
	msgpack_pack_fix_uint8(&pk, 2);
	msgpack_pack_bin_with_body(&pk, sid, 8);
	msgpack_pack_fix_uint8(&pk, 4);
	msgpack_pack_str_with_body(&pk, "op", 2);
	msgpack_pack_fix_uint8(&pk, 6);
	msgpack_pack_uint64(&pk, 2000);
	msgpack_pack_fix_uint8(&pk, 7);
	msgpack_pack_uint64(&pk, 1000);
	msgpack_pack_fix_uint8(&pk, 13);
	msgpack_pack_fix_uint8(&pk, 0);
}

static uint8_t *frame_of(maker *m, const uint8_t *payload, size_t plen, uint32_t count,
                         uint64_t seq, size_t *len)
{
	ksk_frame_meta meta;
	memset(&meta, 0, sizeof(meta));
	memcpy(meta.agent_id, m->agent, 16);
	meta.seq = seq;
	meta.record_count = count;
	meta.compress = true;
	const uint8_t *f;
	assert_int_equal(ksk_frame_encode(m->fe, &meta, payload, plen, &f, len, NULL), KSK_OK);
	uint8_t *copy = malloc(*len);
	memcpy(copy, f, *len);
	return copy;
}

static void fix_crc(uint8_t *f, size_t len)
{
	uint8_t save[4];
	memcpy(save, f + 20, 4);
	memset(f + 20, 0, 4);
	uint32_t crc = ksk_crc32(0, f, len);
	for (int i = 0; i < 4; i++)
		f[20 + i] = (uint8_t)(crc >> (8 * i));
}

static void test_bad_frames_rejected_good_ones_land(void **state)
{
	(void)state;
	coll c;
	coll_new(&c, "col-bad");
	coll_start(&c, NULL);
	maker m;
	maker_init(&m, 12);
	col_client *in;
	ksk_errinfo ei;
	assert_int_equal(col_client_open(c.ingest, 10000, &in, &ei), KSK_OK);

	enum { N_BAD = 9 };
	struct {
		const char *what;
		ksk_err want;
		const char *needle;
		uint8_t *bytes;
		size_t len;
	} bad[N_BAD];
	sent_frame good[N_BAD + 1];
	uint64_t seq = 100;
	for (int i = 0; i <= N_BAD; i++)
		make_frame(&m, seq++, 30, 5, 1764000000000000000ull + (uint64_t)i * 1000000000ull, &good[i]);
	sent_frame base;
	make_frame(&m, 999, 10, 0, 1764000000000000000ull, &base);
	for (int i = 0; i < N_BAD; i++) {
		bad[i].bytes = malloc(base.len + 16);
		memcpy(bad[i].bytes, base.bytes, base.len);
		bad[i].len = base.len;
	}
	bad[0].what = "wrong magic";
	bad[0].want = KSK_EMAGIC;
	bad[0].needle = "magic";
	bad[0].bytes[0] = 'X';
	bad[1].what = "unknown version";
	bad[1].want = KSK_EVERSION;
	bad[1].needle = "version";
	bad[1].bytes[4] = 7;
	bad[2].what = "unknown flags";
	bad[2].want = KSK_EFLAGS;
	bad[2].needle = "flag";
	bad[2].bytes[7] = 0x40;
	bad[3].what = "flipped payload bit";
	bad[3].want = KSK_ECHECKSUM;
	bad[3].needle = "CRC";
	bad[3].bytes[base.len - 5] ^= 0x10;
	bad[4].what = "truncated";
	bad[4].want = KSK_ETRUNC;
	bad[4].needle = "bytes";
	bad[4].len = base.len - 9;
	bad[5].what = "raw length over the cap";
	bad[5].want = KSK_ETOOBIG;
	bad[5].needle = "cap";
	bad[5].bytes[12] = 0;
	bad[5].bytes[13] = 0;
	bad[5].bytes[14] = 0;
	bad[5].bytes[15] = 0x40; /* 1 GiB */
	fix_crc(bad[5].bytes, bad[5].len);
	/* record-level problems, in well-formed frames */
	ksk_buf pb;
	ksk_buf_init(&pb, NULL, 0);
	bad_record_payload(&pb);
	free(bad[6].bytes);
	bad[6].what = "span ends before it starts";
	bad[6].want = KSK_ERECORD;
	bad[6].needle = "end";
	bad[6].bytes = frame_of(&m, pb.data, pb.len, 2, 5000, &bad[6].len);
	free(bad[7].bytes);
	bad[7].what = "record count disagrees";
	bad[7].want = KSK_ECOUNT;
	bad[7].needle = "record";
	{
		/* a valid payload framed with a record count 3 too high */
		assert_int_equal(ksk_gen_batch(m.gen, m.we, 5, 0, 1764000000000000000ull), KSK_OK);
		size_t plen;
		const uint8_t *p = ksk_wire_enc_data(m.we, &plen);
		bad[7].bytes = frame_of(&m, p, plen, ksk_wire_enc_count(m.we) + 3, 5001, &bad[7].len);
	}
	free(bad[8].bytes);
	bad[8].what = "hostile msgpack";
	bad[8].want = KSK_EMSGPACK;
	bad[8].needle = "msgpack";
	{
		const uint8_t hostile[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
		bad[8].bytes = frame_of(&m, hostile, sizeof(hostile), 1, 5002, &bad[8].len);
	}
	ksk_buf_fini(&pb);

	for (int i = 0; i < N_BAD; i++) {
		ksk_ack ack;
		assert_int_equal(col_client_send_frame(in, good[i].bytes, good[i].len, &ack, &ei), KSK_OK);
		assert_int_equal(ack.outcome, KSK_ACK_STORED);
		good[i].acked = 1;
		assert_int_equal(col_client_send_frame(in, bad[i].bytes, bad[i].len, &ack, &ei), KSK_OK);
		if (ack.outcome != KSK_ACK_REJECTED || ack.code != bad[i].want ||
		    !strstr(ack.msg, bad[i].needle))
			fail_msg("%s: got %s %s '%s', want rejected %s containing '%s'", bad[i].what,
			         ksk_ack_outcome_name(ack.outcome), ksk_errname(ack.code), ack.msg,
			         ksk_errname(bad[i].want), bad[i].needle);
	}
	ksk_ack ack;
	assert_int_equal(col_client_send_frame(in, good[N_BAD].bytes, good[N_BAD].len, &ack, &ei), KSK_OK);
	assert_int_equal(ack.outcome, KSK_ACK_STORED);
	good[N_BAD].acked = 1;
	verify_exactly_once(c.query, good, N_BAD + 1);

	char *metrics = http_get(c.metrics_port, "/metrics");
	assert_non_null(metrics);
	assert_non_null(strstr(metrics, "kiseki_collector_batches_rejected_total{reason=\"KSK_EMAGIC\"} 1"));
	assert_non_null(strstr(metrics, "kiseki_collector_batches_rejected_total{reason=\"KSK_ERECORD\"} 1"));
	assert_non_null(strstr(metrics, "kiseki_collector_batches_accepted_total 10"));
	free(metrics);
	char *health = http_get(c.metrics_port, "/health");
	assert_non_null(health);
	assert_non_null(strstr(health, "200"));
	free(health);

	col_client_close(in);
	coll_stop(&c);
	for (int i = 0; i < N_BAD; i++)
		free(bad[i].bytes);
	sent_free(good, N_BAD + 1);
	sent_free(&base, 1);
	maker_fini(&m);
	coll_cleanup(&c);
}

typedef struct killer {
	pid_t pid;
	int delay_ms;
} killer;

static void *killer_main(void *arg)
{
	killer *k = arg;
	struct timespec ts = {k->delay_ms / 1000, (long)(k->delay_ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
	kill(k->pid, SIGKILL);
	return NULL;
}

static void test_kill9_loses_nothing_acked(void **state)
{
	(void)state;
	coll c;
	coll_new(&c, "col-kill");
	const char *extra[] = {"--segment-max-bytes", "256KiB", NULL};
	maker m;
	maker_init(&m, 13);
	enum { MAX_FRAMES = 400, ROUNDS = 8 };
	sent_frame *s = calloc(MAX_FRAMES, sizeof(*s));
	size_t n = 0;
	unsigned seed = 12345;
	for (int round = 0; round < ROUNDS && n < MAX_FRAMES; round++) {
		coll_start(&c, extra);
		col_client *in;
		ksk_errinfo ei;
		assert_int_equal(col_client_open(c.ingest, 3000, &in, &ei), KSK_OK);
		/* first resend what was in flight when the last round died */
		for (size_t i = 0; i < n; i++) {
			if (s[i].acked)
				continue;
			ksk_ack ack;
			assert_int_equal(col_client_send_frame(in, s[i].bytes, s[i].len, &ack, &ei), KSK_OK);
			assert_true(ack.outcome == KSK_ACK_STORED || ack.outcome == KSK_ACK_DUPLICATE);
			s[i].acked = 1;
		}
		killer k = {kh_proc_pid(c.p), 100 + (int)(rand_r(&seed) % 400)};
		pthread_t kt;
		pthread_create(&kt, NULL, killer_main, &k);
		while (n < MAX_FRAMES) {
			make_frame(&m, n + 1, 40, 10, 1764000000000000000ull + n * 100000000ull, &s[n]);
			ksk_ack ack;
			ksk_err rc = col_client_send_frame(in, s[n].bytes, s[n].len, &ack, &ei);
			n++;
			if (rc != KSK_OK)
				break; /* killed: this one is in doubt */
			assert_int_equal(ack.outcome, KSK_ACK_STORED);
			s[n - 1].acked = 1;
		}
		pthread_join(kt, NULL);
		col_client_close(in);
		coll_kill9(&c);
	}
	coll_start(&c, extra);
	verify_exactly_once(c.query, s, n);
	coll_stop(&c);
	sent_free(s, n);
	free(s);
	maker_fini(&m);
	coll_cleanup(&c);
}

static int count_files(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void test_retention_drops_oldest(void **state)
{
	(void)state;
	coll c;
	coll_new(&c, "col-ret");
	const char *extra[] = {"--segment-max-bytes", "64KiB", "--max-disk", "256KiB", NULL};
	coll_start(&c, extra);
	maker m;
	maker_init(&m, 14);
	enum { N = 200 };
	sent_frame s[N];
	col_client *in;
	ksk_errinfo ei;
	assert_int_equal(col_client_open(c.ingest, 10000, &in, &ei), KSK_OK);
	for (int i = 0; i < N; i++) {
		make_frame(&m, (uint64_t)i + 1, 100, 10, 1764000000000000000ull + (uint64_t)i * 1000000000ull, &s[i]);
		ksk_ack ack;
		assert_int_equal(col_client_send_frame(in, s[i].bytes, s[i].len, &ack, &ei), KSK_OK);
		assert_int_equal(ack.outcome, KSK_ACK_STORED);
		s[i].acked = 1;
		if (i % 25 == 24)
			sleep_ms(1100); /* let the maintenance tick seal */
	}
	col_client_close(in);
	/* wait for retention to drop something */
	int dropped = 0;
	for (int t = 0; t < 100 && !dropped; t++) {
		char *metrics = http_get(c.metrics_port, "/metrics");
		dropped = metrics && !strstr(metrics, "kiseki_collector_segments_dropped_total 0\n");
		free(metrics);
		if (!dropped)
			sleep_ms(100);
	}
	assert_true(dropped);
	col_client *q;
	assert_int_equal(col_client_open(c.query, 10000, &q, &ei), KSK_OK);
	counted cnt;
	assert_int_equal(get_trace(q, s[0].traces[0].id, &cnt), KSK_ENOTFOUND);
	assert_int_equal(get_trace(q, s[N - 1].traces[0].id, &cnt), KSK_OK);
	assert_int_equal(cnt.spans, s[N - 1].traces[0].spans);
	col_client_close(q);
	coll_stop(&c);
	sent_free(s, N);
	maker_fini(&m);
	coll_cleanup(&c);
}

static void wait_segments(coll *c, int want)
{
	for (int t = 0; t < 200; t++) {
		if (count_files(c->data, "seg-") >= want)
			return;
		sleep_ms(50);
	}
	fail_msg("no sealed segment #%d appeared in %s", want, c->data);
}

static void test_corrupt_segment_quarantined(void **state)
{
	(void)state;
	coll c;
	coll_new(&c, "col-quar");
	const char *extra[] = {"--segment-max-age", "1s", NULL};
	coll_start(&c, extra);
	maker m;
	maker_init(&m, 15);
	sent_frame a, b;
	col_client *in;
	ksk_errinfo ei;
	ksk_ack ack;
	assert_int_equal(col_client_open(c.ingest, 10000, &in, &ei), KSK_OK);
	make_frame(&m, 1, 200, 20, 1764000000000000000ull, &a);
	assert_int_equal(col_client_send_frame(in, a.bytes, a.len, &ack, &ei), KSK_OK);
	assert_int_equal(ack.outcome, KSK_ACK_STORED);
	a.acked = 1;
	wait_segments(&c, 1);
	make_frame(&m, 2, 200, 20, 1764000100000000000ull, &b);
	assert_int_equal(col_client_send_frame(in, b.bytes, b.len, &ack, &ei), KSK_OK);
	assert_int_equal(ack.outcome, KSK_ACK_STORED);
	b.acked = 1;
	wait_segments(&c, 2);
	col_client_close(in);
	coll_stop(&c);

	/* corrupt the older segment: the smallest seg-* name */
	DIR *d = opendir(c.data);
	char victim[256] = "";
	struct dirent *e;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "seg-", 4) == 0 && (!victim[0] || strcmp(e->d_name, victim) < 0))
			snprintf(victim, sizeof(victim), "%s", e->d_name);
	closedir(d);
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", c.data, victim);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	struct stat st;
	fstat(fd, &st);
	uint8_t junk[64];
	memset(junk, 0xA5, sizeof(junk));
	assert_int_equal(pwrite(fd, junk, sizeof(junk), st.st_size - 40), (ssize_t)sizeof(junk));
	close(fd);

	coll_start(&c, extra);
	kh_msg msg;
	if (kh_proc_wait_stderr(c.p, "quarantin", 5000, &msg) != 0)
		fail_msg("no quarantine message: %s", msg.text);
	char qdir[700];
	snprintf(qdir, sizeof(qdir), "%s/quarantine", c.data);
	assert_int_equal(count_files(qdir, "seg-"), 1);
	verify_exactly_once(c.query, &b, 1);
	coll_stop(&c);
	sent_free(&a, 1);
	sent_free(&b, 1);
	maker_fini(&m);
	coll_cleanup(&c);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acks_and_duplicates),
		cmocka_unit_test(test_bad_frames_rejected_good_ones_land),
		cmocka_unit_test(test_kill9_loses_nothing_acked),
		cmocka_unit_test(test_retention_drops_oldest),
		cmocka_unit_test(test_corrupt_segment_quarantined),
	};
	return cmocka_run_group_tests_name("collector_process", tests, NULL, NULL);
}
