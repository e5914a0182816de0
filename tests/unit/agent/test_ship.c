/*
 * test_ship.c : the agent's shipper (agent/agt_ship.h) against a real
 * collector run in-process (col_server_start on an ipc:// address in a
 * temp directory).
 *
 *  - backoff: every delay in [0, min(cap, base*2^n)], bounds grow to the
 *    cap, full jitter (delays spread over the whole range)
 *  - the shipper waits on the injected clock before a retry
 *  - N frames delivered; every span stored exactly once (queried back)
 *  - collector down at start: frames spool up, then everything drains
 *  - collector stopped mid-stream and restarted on the same address:
 *    everything acked, stored exactly once (the collector dedupes resends)
 *  - the real kiseki-collector binary (next to this test in bin/) killed
 *    with SIGKILL mid-stream, twice: everything acked, stored exactly once
 *  - agent stopped mid-stream and restarted: the rest is resent from the
 *    spool, stored exactly once
 *  - a rejected frame goes to dead/ with its reason and is never resent
 *  - two collectors: frames routed by dest, each trace stored once
 *  - spool full while the collector is down (KSK_EBUSY), then drains
 *  - max_attempts: a frame that keeps failing is dead-lettered
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agt_ship.h"
#include "agt_spool.h"
#include "col_client.h"
#include "col_config.h"
#include "col_server.h"
#include "gen.h"
#include "kiseki/clock.h"
#include "kiseki/frame.h"
#include "kiseki/wire.h"

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

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void quiet_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (level >= 2 && getenv("AGT_TEST_VERBOSE"))
		fprintf(stderr, "log: %s\n", msg);
}

/* A test world: temp dir, collector data dir and addresses, the spool. */
typedef struct world {
	char dir[64];
	char data[128];
	char spool_dir[128];
	char ingest[160];
	char query[160];
	col_server *coll;
	agt_spool *sp;
	agt_ship *sh;
	/* expected spans per trace */
	uint8_t (*ids)[16];
	uint32_t *spans;
	uint32_t n_traces, cap_traces;
	uint64_t spans_sent;
	ksk_gen *gen;
	ksk_wire_enc *we;
	ksk_frame_enc *fe;
	ksk_frame_dec *fd;
	ksk_wire_dec *wd;
	uint64_t t0;
} world;

static void world_init(world *w)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->dir, sizeof(w->dir), "/tmp/agt_ship_XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	snprintf(w->data, sizeof(w->data), "%s/coll", w->dir);
	snprintf(w->spool_dir, sizeof(w->spool_dir), "%s/spool", w->dir);
	snprintf(w->ingest, sizeof(w->ingest), "ipc://%s/ingest.sock", w->dir);
	snprintf(w->query, sizeof(w->query), "ipc://%s/query.sock", w->dir);
	assert_int_equal(ksk_gen_create(42, 6, &w->gen), KSK_OK);
	assert_int_equal(ksk_wire_enc_create(NULL, NULL, 0, &w->we), KSK_OK);
	assert_int_equal(ksk_frame_enc_create(NULL, 1, &w->fe), KSK_OK);
	assert_int_equal(ksk_frame_dec_create(NULL, NULL, &w->fd), KSK_OK);
	assert_int_equal(ksk_wire_dec_create(NULL, NULL, &w->wd), KSK_OK);
	w->t0 = 1764000000000000000ull;
}

static void coll_start(world *w)
{
	char *argv[] = {"kiseki-collector", "--data-dir", w->data, "--listen", w->ingest,
	                "--query-listen", w->query, NULL};
	col_config cfg;
	ksk_errinfo ei;
	assert_int_equal(col_config_parse(7, argv, &cfg, &ei), KSK_OK);
	ksk_err rc = col_server_start(&cfg, &w->coll, &ei);
	if (rc != KSK_OK)
		fail_msg("collector: %s", ei.msg);
}

static void coll_stop(world *w)
{
	col_server_stop(w->coll);
	w->coll = NULL;
}

static void spool_open(world *w, uint64_t max_bytes, const ksk_clock *clock)
{
	agt_spool_opts o;
	agt_spool_opts_default(&o);
	o.dir = w->spool_dir;
	o.segment_bytes = 64 * 1024;
	if (max_bytes) {
		o.max_bytes = max_bytes;
		o.segment_bytes = max_bytes / 8;
	}
	o.log = quiet_log;
	o.clock = clock;
	ksk_errinfo ei;
	assert_int_equal(agt_spool_open(&o, NULL, NULL, &w->sp, &ei), KSK_OK);
}

static void ship_start(world *w, const ksk_clock *clock, uint64_t base_ns, uint64_t cap_ns)
{
	agt_ship_opts o;
	agt_ship_opts_default(&o);
	const char *urls[1] = {w->ingest};
	o.collectors = urls;
	o.n_collectors = 1;
	o.send_timeout_ns = 300000000ull;
	o.ack_timeout_ns = 3000000000ull;
	o.resend_ns = 1000000000ull;
	o.backoff.base_ns = base_ns;
	o.backoff.cap_ns = cap_ns;
	o.clock = clock;
	o.rng_seed = 12345;
	o.log = quiet_log;
	ksk_errinfo ei;
	ksk_err rc = agt_ship_start(&o, w->sp, &w->sh, &ei);
	if (rc != KSK_OK)
		fail_msg("ship: %s", ei.msg);
}

static void remember(world *w, const uint8_t *id)
{
	for (uint32_t i = 0; i < w->n_traces; i++)
		if (memcmp(w->ids[i], id, 16) == 0) {
			w->spans[i]++;
			return;
		}
	if (w->n_traces == w->cap_traces) {
		w->cap_traces = w->cap_traces ? w->cap_traces * 2 : 256;
		w->ids = realloc(w->ids, w->cap_traces * sizeof(*w->ids));
		w->spans = realloc(w->spans, w->cap_traces * sizeof(*w->spans));
	}
	memcpy(w->ids[w->n_traces], id, 16);
	w->spans[w->n_traces++] = 1;
}

/* Builds a frame of `spans` spans; `count_skew` != 0 makes the collector
 * reject it (record count disagrees). Appends it to the spool. */
static uint64_t add_frame_dest(world *w, uint32_t spans, uint32_t count_skew, uint32_t dest);

static uint64_t add_frame(world *w, uint32_t spans, uint32_t count_skew)
{
	return add_frame_dest(w, spans, count_skew, 0);
}

static uint64_t add_frame_dest(world *w, uint32_t spans, uint32_t count_skew, uint32_t dest)
{
	assert_int_equal(ksk_gen_batch(w->gen, w->we, spans, 0, w->t0), KSK_OK);
	w->t0 += 1000000000ull;
	size_t plen;
	const uint8_t *p = ksk_wire_enc_data(w->we, &plen);
	ksk_frame_meta m;
	memset(&m, 0, sizeof(m));
	m.record_count = ksk_wire_enc_count(w->we) + count_skew;
	m.created_ns = w->t0;
	m.compress = true;
	const uint8_t *f;
	size_t flen;
	assert_int_equal(ksk_frame_encode(w->fe, &m, p, plen, &f, &flen, NULL), KSK_OK);
	uint8_t *copy = malloc(flen);
	memcpy(copy, f, flen);
	if (!count_skew) {
		ksk_frame_hdr h;
		const ksk_batch *b;
		assert_int_equal(ksk_frame_decode_batch(w->fd, w->wd, copy, flen, &h, &b, NULL), KSK_OK);
		for (uint32_t i = 0; i < b->n_spans; i++)
			remember(w, b->spans[i].trace_id);
		w->spans_sent += b->n_spans;
	}
	uint64_t seq = 0;
	ksk_errinfo ei;
	ksk_err rc = agt_spool_append(w->sp, copy, flen, (const uint8_t *)"pos", 3, dest, &seq, &ei);
	if (rc != KSK_OK)
		fail_msg("append: %s", ei.msg);
	free(copy);
	return seq;
}

static void wait_drained(world *w, unsigned timeout_ms)
{
	for (unsigned t = 0; t < timeout_ms; t += 20) {
		agt_spool_stats st;
		agt_spool_get_stats(w->sp, &st);
		if (st.frames_pending == 0)
			return;
		sleep_ms(20);
	}
	agt_ship_stats s;
	agt_ship_get_stats(w->sh, &s);
	fail_msg("not drained: %llu pending, %llu sent, %llu acked, %llu retried, %llu timeouts",
	         (unsigned long long)s.spool.frames_pending, (unsigned long long)s.sent_frames,
	         (unsigned long long)s.acked, (unsigned long long)s.retried,
	         (unsigned long long)s.timeouts);
}

typedef struct counted {
	uint32_t spans;
} counted;

static void count_cb(void *ctx, const ksk_batch *b)
{
	((counted *)ctx)->spans += b->n_spans;
}

/* Every trace sent comes back with exactly the spans sent. */
static void verify_exactly_once(world *w)
{
	col_client *q;
	ksk_errinfo ei;
	assert_int_equal(col_client_open(w->query, 20000, &q, &ei), KSK_OK);
	uint64_t total = 0;
	for (uint32_t i = 0; i < w->n_traces; i++) {
		ksk_qreq r;
		ksk_qreq_init(&r, KSK_Q_TRACE);
		memcpy(r.trace_id, w->ids[i], 16);
		r.has_trace_id = true;
		counted c = {0};
		ksk_err rc = col_client_fetch(q, &r, count_cb, &c, &ei);
		if (rc != KSK_OK)
			fail_msg("trace %u: %s %s", i, ksk_errname(rc), ei.msg);
		if (c.spans != w->spans[i])
			fail_msg("trace %u: %u spans stored, %u sent", i, c.spans, w->spans[i]);
		total += c.spans;
	}
	assert_true(total == w->spans_sent);
	col_client_close(q);
}

static void print_stats(const char *what, agt_ship *sh)
{
	agt_ship_stats s;
	agt_ship_get_stats(sh, &s);
	printf("  %s: sent %llu, acked %llu, duplicate %llu, retried %llu (busy %llu, timeouts %llu, "
	       "net %llu)\n",
	       what, (unsigned long long)s.sent_frames, (unsigned long long)s.acked,
	       (unsigned long long)s.duplicate, (unsigned long long)s.retried,
	       (unsigned long long)s.busy, (unsigned long long)s.timeouts,
	       (unsigned long long)s.net_errors);
}

static void world_fini(world *w)
{
	agt_ship_stop(w->sh, 1000000000ull);
	agt_spool_close(w->sp);
	if (w->coll)
		coll_stop(w);
	ksk_gen_destroy(w->gen);
	ksk_wire_enc_destroy(w->we);
	ksk_frame_enc_destroy(w->fe);
	ksk_frame_dec_destroy(w->fd);
	ksk_wire_dec_destroy(w->wd);
	free(w->ids);
	free(w->spans);
	rm_rf(w->dir);
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_backoff_schedule(void **state)
{
	(void)state;
	agt_backoff b = {100000000ull, 30000000000ull};
	uint64_t rng = 99;
	uint64_t prev_bound = 0, prev_max = 0;
	for (uint32_t a = 0; a < 40; a++) {
		uint64_t bound = agt_backoff_bound(&b, a);
		assert_true(bound <= b.cap_ns);
		assert_true(bound >= prev_bound);
		if (a < 9)
			assert_true(bound == b.base_ns << a);
		else
			assert_true(bound == b.cap_ns); /* 100 ms * 2^9 > 30 s */
		uint64_t lo = UINT64_MAX, hi = 0, sum = 0;
		for (int k = 0; k < 2000; k++) {
			uint64_t d = agt_backoff_delay(&b, a, &rng);
			assert_true(d <= bound);
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
			sum += d / 1000;
		}
		/* full jitter: the whole range [0, bound] is used */
		assert_true(lo < bound / 20);
		assert_true(hi > bound - bound / 20);
		double mean = (double)sum * 1000.0 / 2000.0;
		assert_true(mean > (double)bound * 0.4 && mean < (double)bound * 0.6);
		if (a < 9)
			assert_true(hi >= prev_max || a == 0);
		prev_bound = bound;
		prev_max = hi;
	}
	/* huge attempt counts and a huge cap do not overflow */
	agt_backoff big = {1000, UINT64_MAX};
	assert_true(agt_backoff_bound(&big, 200) == UINT64_MAX);
	(void)agt_backoff_delay(&big, 200, &rng);
}

/* With the collector absent, a failed frame is retried only once the
 * injected clock passes its backoff. */
static void test_retry_waits_for_clock(void **state)
{
	(void)state;
	world w;
	world_init(&w);
	ksk_manual_clock mc;
	ksk_manual_clock_init(&mc, 1764000000000000000ull);
	spool_open(&w, 0, &mc.clock);
	/* base = cap = 10 s: every delay is in [0, 10 s] of manual time */
	ship_start(&w, &mc.clock, 10000000000ull, 10000000000ull);
	add_frame(&w, 5, 0);
	agt_ship_stats s;
	for (int t = 0; t < 200; t++) {
		agt_ship_get_stats(w.sh, &s);
		if (s.retried >= 1)
			break;
		sleep_ms(20);
	}
	assert_true(s.retried == 1);
	assert_true(s.sent_frames == 1);
	assert_true(s.timeouts == 1);
	/* frozen clock: no resend however long we wait */
	sleep_ms(800);
	agt_ship_get_stats(w.sh, &s);
	assert_true(s.sent_frames == 1);
	assert_int_equal(s.waiting, 1);
	/* delivery lag is measured on the injected wall clock */
	ksk_manual_clock_advance(&mc, 10000000001ull);
	agt_ship_kick(w.sh);
	for (int t = 0; t < 200; t++) {
		agt_ship_get_stats(w.sh, &s);
		if (s.sent_frames >= 2)
			break;
		sleep_ms(20);
	}
	assert_true(s.sent_frames >= 2);
	assert_true(s.oldest_unacked_age_ns >= 10000000000ull);
	world_fini(&w);
}

static void test_deliver_all(void **state)
{
	(void)state;
	world w;
	world_init(&w);
	coll_start(&w);
	spool_open(&w, 0, NULL);
	ship_start(&w, NULL, 50000000ull, 1000000000ull);
	for (int i = 0; i < 40; i++)
		add_frame(&w, 20, 0);
	wait_drained(&w, 30000);
	agt_ship_stats s;
	agt_ship_get_stats(w.sh, &s);
	assert_int_equal(s.acked, 40);
	assert_int_equal(s.duplicate, 0);
	assert_int_equal(s.rejected, 0);
	assert_int_equal(s.sent_frames, 40);
	assert_int_equal(s.oldest_unacked_age_ns, 0);
	verify_exactly_once(&w);
	/* with the checkpoint saved, the spool empties */
	agt_spool_checkpoint_saved(w.sp, agt_spool_last_seq(w.sp));
	agt_spool_stats st;
	agt_spool_get_stats(w.sp, &st);
	assert_int_equal(st.frames_pending, 0);
	assert_true(st.segments <= 1); /* only the open segment may stay */
	world_fini(&w);
}

static void test_collector_down_then_up(void **state)
{
	(void)state;
	world w;
	world_init(&w);
	spool_open(&w, 0, NULL);
	ship_start(&w, NULL, 50000000ull, 500000000ull);
	for (int i = 0; i < 30; i++)
		add_frame(&w, 10, 0);
	sleep_ms(800);
	agt_ship_stats s;
	agt_ship_get_stats(w.sh, &s);
	assert_int_equal(s.acked, 0);
	assert_int_equal(s.spool.frames_pending, 30);
	assert_true(s.retried > 0);
	assert_true(s.oldest_unacked_age_ns > 0);
	coll_start(&w);
	wait_drained(&w, 30000);
	agt_ship_get_stats(w.sh, &s);
	assert_int_equal(s.acked + s.duplicate, 30);
	print_stats("collector down then up", w.sh);
	verify_exactly_once(&w);
	world_fini(&w);
}

static void test_collector_restart_midstream(void **state)
{
	(void)state;
	world w;
	world_init(&w);
	coll_start(&w);
	spool_open(&w, 0, NULL);
	ship_start(&w, NULL, 50000000ull, 500000000ull);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 20; i++) {
			add_frame(&w, 10, 0);
			if (i == 10) {
				/* stop the collector with frames in flight */
				coll_stop(&w);
				sleep_ms(200);
			}
		}
		sleep_ms(300);
		coll_start(&w);
	}
	wait_drained(&w, 40000);
	agt_ship_stats s;
	agt_ship_get_stats(w.sh, &s);
	assert_int_equal(s.acked + s.duplicate, 60);
	assert_int_equal(s.rejected, 0);
	print_stats("collector restarts", w.sh);
	verify_exactly_once(&w);
	world_fini(&w);
}

static void test_agent_restart_midstream(void **state)
{
	(void)state;
	world w;
	world_init(&w);
	coll_start(&w);
	spool_open(&w, 0, NULL);
	ship_start(&w, NULL, 50000000ull, 500000000ull);
	for (int i = 0; i < 30; i++)
		add_frame(&w, 10, 0);
	/* stop at once: whatever is not acked stays spooled */
	agt_ship_stop(w.sh, 0);
	w.sh = NULL;
	agt_spool_close(w.sp);
	spool_open(&w, 0, NULL);
	ship_start(&w, NULL, 50000000ull, 500000000ull);
	for (int i = 0; i < 10; i++)
		add_frame(&w, 10, 0);
	wait_drained(&w, 30000);
	print_stats("agent restart", w.sh);
	verify_exactly_once(&w);
	world_fini(&w);
}

static void test_rejected_dead_letter(void **state)
{
	(void)state;
	world w;
	world_init(&w);
	coll_start(&w);
	spool_open(&w, 0, NULL);
	ship_start(&w, NULL, 50000000ull, 500000000ull);
	add_frame(&w, 10, 0);
	uint64_t bad = add_frame(&w, 10, 3);
	add_frame(&w, 10, 0);
	wait_drained(&w, 20000);
	agt_ship_stats s;
	agt_ship_get_stats(w.sh, &s);
	assert_int_equal(s.acked, 2);
	assert_int_equal(s.rejected, 1);
	assert_int_equal(s.dead_lettered, 1);
	assert_int_equal(s.retried, 0);
	assert_int_equal(s.sent_frames, 3); /* never resent */
	uint64_t by_code = 0;
	for (int i = 0; i < 32; i++)
		by_code += s.rejected_by_code[i];
	assert_int_equal(by_code, 1);
	uint8_t id[16];
	agt_spool_agent_id(w.sp, id);
	char hex[40], p[300];
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	snprintf(p, sizeof(p), "%s/dead/%s-%llu.txt", w.spool_dir, hex, (unsigned long long)bad);
	FILE *f = fopen(p, "r");
	assert_non_null(f);
	char txt[2048];
	size_t n = fread(txt, 1, sizeof(txt) - 1, f);
	txt[n] = '\0';
	fclose(f);
	assert_non_null(strstr(txt, "rejected"));
	assert_non_null(strstr(txt, "KSK_E"));
	snprintf(p, sizeof(p), "%s/dead/%s-%llu.frame", w.spool_dir, hex, (unsigned long long)bad);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_true(st.st_size > KSK_FRAME_HDR_LEN);
	/* a while later it still has not been resent */
	sleep_ms(300);
	agt_ship_get_stats(w.sh, &s);
	assert_int_equal(s.sent_frames, 3);
	verify_exactly_once(&w);
	world_fini(&w);
}

/* ---- the collector binary, for kill -9 -------------------------------------------- */

static bool collector_bin(char *out, size_t cap)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return false;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (!slash)
		return false;
	*slash = '\0';
	snprintf(out, cap, "%s/kiseki-collector", self);
	return access(out, X_OK) == 0;
}

typedef struct proc {
	pid_t pid;
	FILE *out; /* its stdout, kept open */
} proc;

static void proc_start(proc *pr, const char *bin, const world *w)
{
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		int nul = open("/dev/null", O_WRONLY);
		if (!getenv("AGT_TEST_VERBOSE") && nul >= 0)
			dup2(nul, 2);
		close(pfd[0]);
		execl(bin, bin, "--data-dir", w->data, "--listen", w->ingest, "--query-listen",
		      w->query, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	pr->pid = pid;
	pr->out = fdopen(pfd[0], "r");
	assert_non_null(pr->out);
	char line[512];
	while (fgets(line, sizeof(line), pr->out))
		if (strncmp(line, "ready ", 6) == 0)
			return;
	fail_msg("the collector exited before its ready line");
}

static void proc_kill(proc *pr, int sig)
{
	kill(pr->pid, sig);
	int st;
	waitpid(pr->pid, &st, 0);
	fclose(pr->out);
	pr->out = NULL;
}

static void test_collector_kill9_midstream(void **state)
{
	(void)state;
	char bin[4200];
	if (!collector_bin(bin, sizeof(bin)))
		skip();
	world w;
	world_init(&w);
	proc pr;
	proc_start(&pr, bin, &w);
	spool_open(&w, 0, NULL);
	ship_start(&w, NULL, 50000000ull, 500000000ull);
	for (int i = 0; i < 60; i++) {
		add_frame(&w, 10, 0);
		if (i == 20 || i == 40) {
			sleep_ms(5);
			proc_kill(&pr, SIGKILL);
			sleep_ms(100);
			proc_start(&pr, bin, &w);
		}
	}
	wait_drained(&w, 40000);
	agt_ship_stats s;
	agt_ship_get_stats(w.sh, &s);
	assert_int_equal(s.acked + s.duplicate, 60);
	assert_int_equal(s.rejected, 0);
	print_stats("collector kill -9", w.sh);
	verify_exactly_once(&w);
	agt_ship_stop(w.sh, 1000000000ull);
	w.sh = NULL;
	proc_kill(&pr, SIGTERM);
	world_fini(&w);
}

/* Two collectors: each frame goes to collector dest % 2 and every trace is
 * stored exactly once, in one of them. */
static void test_two_collectors(void **state)
{
	(void)state;
	world w;
	world_init(&w);
	coll_start(&w);
	/* a second collector beside the first */
	char data2[160], ingest2[200], query2[200];
	snprintf(data2, sizeof(data2), "%s/coll2", w.dir);
	snprintf(ingest2, sizeof(ingest2), "ipc://%s/ingest2.sock", w.dir);
	snprintf(query2, sizeof(query2), "ipc://%s/query2.sock", w.dir);
	char *argv[] = {"kiseki-collector", "--data-dir", data2, "--listen", ingest2,
	                "--query-listen", query2, NULL};
	col_config cfg;
	ksk_errinfo ei;
	assert_int_equal(col_config_parse(7, argv, &cfg, &ei), KSK_OK);
	col_server *c2;
	assert_int_equal(col_server_start(&cfg, &c2, &ei), KSK_OK);
	spool_open(&w, 0, NULL);
	agt_ship_opts o;
	agt_ship_opts_default(&o);
	const char *urls[2] = {w.ingest, ingest2};
	o.collectors = urls;
	o.n_collectors = 2;
	o.log = quiet_log;
	assert_int_equal(agt_ship_start(&o, w.sp, &w.sh, &ei), KSK_OK);
	for (uint32_t i = 0; i < 20; i++)
		add_frame_dest(&w, 10, 0, i);
	wait_drained(&w, 30000);
	col_client *q1, *q2;
	assert_int_equal(col_client_open(w.query, 20000, &q1, &ei), KSK_OK);
	assert_int_equal(col_client_open(query2, 20000, &q2, &ei), KSK_OK);
	uint32_t in1 = 0, in2 = 0;
	for (uint32_t i = 0; i < w.n_traces; i++) {
		ksk_qreq r;
		ksk_qreq_init(&r, KSK_Q_TRACE);
		memcpy(r.trace_id, w.ids[i], 16);
		r.has_trace_id = true;
		counted a = {0}, b = {0};
		ksk_err ra = col_client_fetch(q1, &r, count_cb, &a, &ei);
		ksk_err rb = col_client_fetch(q2, &r, count_cb, &b, &ei);
		assert_true(ra == KSK_OK || ra == KSK_ENOTFOUND);
		assert_true(rb == KSK_OK || rb == KSK_ENOTFOUND);
		assert_true(a.spans + b.spans == w.spans[i]);
		assert_true(a.spans == 0 || b.spans == 0);
		in1 += a.spans > 0;
		in2 += b.spans > 0;
	}
	assert_true(in1 > 0 && in2 > 0);
	col_client_close(q1);
	col_client_close(q2);
	agt_ship_stop(w.sh, 1000000000ull);
	w.sh = NULL;
	col_server_stop(c2);
	world_fini(&w);
}

/* Collector down: the spool fills to --spool-max and refuses with
 * KSK_EBUSY (counted); collector up: it drains, and once the checkpoint is
 * saved the space comes back. */
static void test_spool_full_then_drains(void **state)
{
	(void)state;
	world w;
	world_init(&w);
	spool_open(&w, 96 * 1024, NULL);
	ship_start(&w, NULL, 50000000ull, 300000000ull);
	uint32_t stored = 0;
	for (;;) {
		assert_int_equal(ksk_gen_batch(w.gen, w.we, 10, 0, w.t0), KSK_OK);
		w.t0 += 1000000000ull;
		size_t plen;
		const uint8_t *p = ksk_wire_enc_data(w.we, &plen);
		ksk_frame_meta m;
		memset(&m, 0, sizeof(m));
		m.record_count = ksk_wire_enc_count(w.we);
		m.compress = true;
		const uint8_t *f;
		size_t flen;
		assert_int_equal(ksk_frame_encode(w.fe, &m, p, plen, &f, &flen, NULL), KSK_OK);
		uint8_t *copy = malloc(flen);
		memcpy(copy, f, flen);
		ksk_err rc = agt_spool_append(w.sp, copy, flen, (const uint8_t *)"pos", 3, 0, NULL, NULL);
		if (rc == KSK_EBUSY) {
			free(copy);
			break;
		}
		assert_int_equal(rc, KSK_OK);
		ksk_frame_hdr h;
		const ksk_batch *b;
		assert_int_equal(ksk_frame_decode_batch(w.fd, w.wd, copy, flen, &h, &b, NULL), KSK_OK);
		for (uint32_t i = 0; i < b->n_spans; i++)
			remember(&w, b->spans[i].trace_id);
		w.spans_sent += b->n_spans;
		free(copy);
		stored++;
		assert_true(stored < 10000);
	}
	assert_true(stored > 4);
	agt_ship_stats s;
	agt_ship_get_stats(w.sh, &s);
	assert_int_equal(s.spool.full_events, 1);
	assert_int_equal(s.acked, 0);
	coll_start(&w);
	wait_drained(&w, 30000);
	agt_ship_get_stats(w.sh, &s);
	assert_int_equal(s.acked + s.duplicate, stored);
	agt_spool_checkpoint_saved(w.sp, agt_spool_last_seq(w.sp));
	add_frame(&w, 10, 0);
	wait_drained(&w, 30000);
	verify_exactly_once(&w);
	world_fini(&w);
}

/* With max_attempts set, a frame that keeps failing is dead-lettered with
 * the last reason and counted as retry-exhausted. */
static void test_retry_limit(void **state)
{
	(void)state;
	world w;
	world_init(&w);
	spool_open(&w, 0, NULL);
	agt_ship_opts o;
	agt_ship_opts_default(&o);
	const char *urls[1] = {w.ingest}; /* nobody listens */
	o.collectors = urls;
	o.n_collectors = 1;
	o.send_timeout_ns = 100000000ull;
	o.backoff.base_ns = 10000000ull;
	o.backoff.cap_ns = 20000000ull;
	o.max_attempts = 2;
	o.log = quiet_log;
	ksk_errinfo ei;
	assert_int_equal(agt_ship_start(&o, w.sp, &w.sh, &ei), KSK_OK);
	uint64_t seq = add_frame(&w, 5, 0);
	w.n_traces = 0; /* never stored */
	w.spans_sent = 0;
	wait_drained(&w, 20000);
	/* the spool shows the frame done a moment before the shipper's
	 * counters are updated: wait for them to settle */
	agt_ship_stats s;
	for (int t = 0; t < 200; t++) {
		agt_ship_get_stats(w.sh, &s);
		if (s.dead_lettered == 1)
			break;
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	if (s.sent_frames != 2 || s.retried != 1)
		fail_msg("sent %llu retried %llu timeouts %llu net_errors %llu exhausted %llu dead %llu",
		         (unsigned long long)s.sent_frames, (unsigned long long)s.retried,
		         (unsigned long long)s.timeouts, (unsigned long long)s.net_errors,
		         (unsigned long long)s.retry_exhausted, (unsigned long long)s.dead_lettered);
	assert_int_equal(s.retry_exhausted, 1);
	assert_int_equal(s.dead_lettered, 1);
	uint8_t id[16];
	agt_spool_agent_id(w.sp, id);
	char hex[40], p[300];
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	snprintf(p, sizeof(p), "%s/dead/%s-%llu.txt", w.spool_dir, hex, (unsigned long long)seq);
	FILE *f = fopen(p, "r");
	assert_non_null(f);
	char txt[2048];
	size_t n = fread(txt, 1, sizeof(txt) - 1, f);
	txt[n] = '\0';
	fclose(f);
	assert_non_null(strstr(txt, "gave up after 2 attempts"));
	world_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_schedule),
		cmocka_unit_test(test_retry_waits_for_clock),
		cmocka_unit_test(test_deliver_all),
		cmocka_unit_test(test_collector_down_then_up),
		cmocka_unit_test(test_collector_restart_midstream),
		cmocka_unit_test(test_collector_kill9_midstream),
		cmocka_unit_test(test_agent_restart_midstream),
		cmocka_unit_test(test_rejected_dead_letter),
		cmocka_unit_test(test_two_collectors),
		cmocka_unit_test(test_spool_full_then_drains),
		cmocka_unit_test(test_retry_limit),
	};
	return cmocka_run_group_tests_name("agt_ship", tests, NULL, NULL);
}
