/*
 * test_tail.c : the tailer's line and checkpoint behaviour (agt_tail.h):
 * append, head/tail start, long lines, partial last line (manual clock),
 * backpressure, rate limit, stat-scan-only discovery, restart from the
 * state file and from restored positions, corrupt state file.
 * Every scenario counts lines written against lines delivered exactly.
 */
#include "test_tail_util.h"

#include "kiseki/clock.h"
#include "kiseki/frame.h"

/* tt_check_exact over two ranges */
static void check_two(const tt_sink *s, unsigned a0, unsigned a1, unsigned b0,
                      unsigned b1)
{
	for (unsigned i = 0; i < TT_MAXSEQ; i++) {
		bool in = (i >= a0 && i < a1) || (i >= b0 && i < b1);
		if (s->seen[i] != (in ? 1 : 0))
			fprintf(stderr, "  seq %u seen %u times\n", i, s->seen[i]);
		assert_int_equal(s->seen[i], in ? 1 : 0);
	}
}

static void test_append_and_new_file(void **state)
{
	(void)state;
	char *d = tt_mkdtemp();
	char glob[600], p1[600], p2[600];
	snprintf(p1, sizeof(p1), "%s/app.log", d);
	snprintf(p2, sizeof(p2), "%s/other.log", d);
	snprintf(glob, sizeof(glob), "%s/*.log", d);
	tt_write(p1, 0, 1000);
	tt_sink s;
	tt_sink_init(&s);
	tt_cfg c;
	tt_cfg_init(&c, &s, glob, NULL);
	agt_tail *t = tt_create(&c, &s);
	tt_run_until(&s, 1000, 5000);
	tt_write(p1, 1000, 2500);
	tt_run_until(&s, 2500, 5000);
	/* a file created while running is read from its start */
	tt_write(p2, 10000, 10100);
	tt_run_until(&s, 2600, 5000);
	tt_run_for(&s, 50);
	check_two(&s, 0, 2500, 10000, 10100);
	agt_tail_counters k;
	agt_tail_get_counters(t, &k);
	assert_int_equal(k.lines, 2600);
	assert_int_equal(k.files, 2);
	tt_finish(t, &s, d);
}

static void test_start_tail(void **state)
{
	(void)state;
	char *d = tt_mkdtemp();
	char glob[600], p1[600], p2[600];
	snprintf(p1, sizeof(p1), "%s/app.log", d);
	snprintf(p2, sizeof(p2), "%s/new.log", d);
	snprintf(glob, sizeof(glob), "%s/*.log", d);
	tt_write(p1, 0, 100);
	tt_sink s;
	tt_sink_init(&s);
	tt_cfg c;
	tt_cfg_init(&c, &s, glob, NULL);
	c.in.start = AGT_TAIL_START_TAIL;
	agt_tail *t = tt_create(&c, &s);
	tt_run_for(&s, 100);
	assert_int_equal(s.lines, 0);
	tt_write(p1, 100, 150);
	tt_run_until(&s, 50, 5000);
	/* files appearing after startup are new: read from 0 */
	tt_write(p2, 500, 520);
	tt_run_until(&s, 70, 5000);
	tt_run_for(&s, 50);
	check_two(&s, 100, 150, 500, 520);
	tt_finish(t, &s, d);
}

static void test_long_lines(void **state)
{
	(void)state;
	char *d = tt_mkdtemp();
	char glob[600], p1[600];
	snprintf(p1, sizeof(p1), "%s/app.log", d);
	snprintf(glob, sizeof(glob), "%s/*.log", d);
	/* L0 normal, L1 5000 bytes, L2 normal, L3 600 KB (> read buffer),
	 * L4 normal, L5 exactly max_line, L6 max_line+1 */
	size_t big = 600 * 1024;
	char *b = malloc(big + 64);
	char line[256];
	size_t n = tt_fmt(line, 0, 10);
	tt_append_raw(p1, line, n);
	n = (size_t)sprintf(b, "L%09u ", 1u);
	memset(b + n, 'x', 5000 - n);
	b[5000] = '\n';
	tt_append_raw(p1, b, 5001);
	n = tt_fmt(line, 2, 10);
	tt_append_raw(p1, line, n);
	n = (size_t)sprintf(b, "L%09u ", 3u);
	memset(b + n, 'y', big - n);
	b[big] = '\n';
	tt_append_raw(p1, b, big + 1);
	n = tt_fmt(line, 4, 10);
	tt_append_raw(p1, line, n);
	n = (size_t)sprintf(b, "L%09u ", 5u);
	memset(b + n, 'z', 1024 - n);
	b[1024] = '\n';
	tt_append_raw(p1, b, 1025);
	n = (size_t)sprintf(b, "L%09u ", 6u);
	memset(b + n, 'w', 1025 - n);
	b[1025] = '\n';
	tt_append_raw(p1, b, 1026);
	n = tt_fmt(line, 7, 10);
	tt_append_raw(p1, line, n);

	tt_sink s;
	tt_sink_init(&s);
	tt_cfg c;
	tt_cfg_init(&c, &s, glob, NULL);
	c.in.max_line = 1024;
	c.cfg.read_buf = 64 * 1024;
	agt_tail *t = tt_create(&c, &s);
	tt_run_until(&s, 8, 5000);
	tt_run_for(&s, 50);
	tt_check_exact(&s, 0, 8);
	assert_int_equal(s.truncated, 3);
	agt_tail_counters k;
	agt_tail_get_counters(t, &k);
	assert_int_equal(k.truncated, 3);
	assert_string_equal(s.last, "L000000007 hijklmnopq");
	/* a long line at EOF without its newline: truncated + partial after
	 * the flush timeout, and the file keeps being read */
	n = (size_t)sprintf(b, "L%09u ", 8u);
	memset(b + n, 'v', 3000 - n);
	tt_append_raw(p1, b, 3000);
	tt_run_for(&s, 100);
	assert_int_equal(s.lines, 8);
	assert_int_equal(agt_tail_flush(t), KSK_OK);
	assert_int_equal(s.lines, 9);
	assert_int_equal(s.last_flags, AGT_LINE_TRUNCATED | AGT_LINE_PARTIAL);
	assert_int_equal(s.last_len, 1024);
	n = tt_fmt(line, 9, 10);
	tt_append_raw(p1, "\n", 1); /* ends the flushed line: empty line */
	tt_append_raw(p1, line, n);
	tt_run_until(&s, 11, 5000);
	tt_check_exact(&s, 0, 10);
	free(b);
	tt_finish(t, &s, d);
}

static void test_partial_line(void **state)
{
	(void)state;
	char *d = tt_mkdtemp();
	char glob[600], p1[600];
	snprintf(p1, sizeof(p1), "%s/app.log", d);
	snprintf(glob, sizeof(glob), "%s/*.log", d);
	ksk_manual_clock mc;
	ksk_manual_clock_init(&mc, 1700000000ull * 1000000000ull);
	tt_append_raw(p1, "L000000000 first\r\nL000000001 half", 33);
	tt_sink s;
	tt_sink_init(&s);
	tt_cfg c;
	tt_cfg_init(&c, &s, glob, NULL);
	c.cfg.clock = &mc.clock;
	agt_tail *t = tt_create(&c, &s);
	tt_run_for(&s, 50);
	assert_int_equal(s.lines, 1);
	assert_string_equal(s.last, "L000000000 first"); /* '\r' stripped */
	/* the timeout is 5 s on the injected clock */
	int to = agt_tail_timeout_ms(t);
	assert_true(to > 0 && to <= 5000);
	ksk_manual_clock_advance(&mc, 4900ull * 1000000ull);
	tt_run_for(&s, 30);
	assert_int_equal(s.lines, 1);
	ksk_manual_clock_advance(&mc, 200ull * 1000000ull);
	tt_run_for(&s, 30);
	assert_int_equal(s.lines, 2);
	assert_string_equal(s.last, "L000000001 half");
	assert_int_equal(s.last_flags, AGT_LINE_PARTIAL);
	/* the continuation of a flushed partial line is a new line */
	tt_append_raw(p1, " rest\nL000000002 whole\n", 23);
	tt_run_until(&s, 4, 3000);
	assert_int_equal(s.lines, 4);
	assert_string_equal(s.last, "L000000002 whole");
	assert_int_equal(s.other, 1); /* " rest" */
	/* a partial line completed before the timeout is one line */
	tt_append_raw(p1, "L000000003 a", 12);
	tt_run_for(&s, 50);
	ksk_manual_clock_advance(&mc, 1000ull * 1000000ull);
	tt_append_raw(p1, "b\n", 2);
	tt_run_until(&s, 5, 3000);
	assert_string_equal(s.last, "L000000003 ab");
	assert_int_equal(s.last_flags, 0);
	/* flushed on request at shutdown */
	tt_append_raw(p1, "L000000004 end", 14);
	tt_run_for(&s, 50);
	assert_int_equal(s.lines, 5);
	assert_int_equal(agt_tail_flush(t), KSK_OK);
	assert_int_equal(s.lines, 6);
	assert_int_equal(s.last_flags, AGT_LINE_PARTIAL);
	tt_commit(&s);
	tt_check_exact(&s, 0, 5);
	agt_tail_counters k;
	agt_tail_get_counters(t, &k);
	assert_int_equal(k.partial, 2);
	tt_finish(t, &s, d);
}

static void test_backpressure(void **state)
{
	(void)state;
	char *d = tt_mkdtemp();
	char glob[600], p1[600], p2[600];
	snprintf(p1, sizeof(p1), "%s/a.log", d);
	snprintf(p2, sizeof(p2), "%s/b.log", d);
	snprintf(glob, sizeof(glob), "%s/*.log", d);
	tt_write(p1, 0, 20000);
	tt_write(p2, 100000, 120000);
	tt_sink s;
	tt_sink_init(&s);
	s.stop_every = 97; /* the spool is full every 97th line */
	tt_cfg c;
	tt_cfg_init(&c, &s, glob, NULL);
	agt_tail *t = tt_create(&c, &s);
	int busy = 0;
	uint64_t end = tt_mono_ms() + 20000;
	while (s.lines < 40000 && tt_mono_ms() < end) {
		ksk_err rc = agt_tail_run(t);
		if (rc == KSK_EBUSY) {
			busy++;
			/* paused: pending reads do not make the timeout 0 */
			assert_true(agt_tail_timeout_ms(t) > 0);
		}
		tt_commit(&s);
	}
	tt_run_for(&s, 50);
	check_two(&s, 0, 20000, 100000, 120000);
	assert_true(busy > 100);
	agt_tail_counters k;
	agt_tail_get_counters(t, &k);
	assert_int_equal(k.lines, 40000);
	tt_finish(t, &s, d);
}

static void test_rate_limit(void **state)
{
	(void)state;
	char *d = tt_mkdtemp();
	char glob[600], p1[600];
	snprintf(p1, sizeof(p1), "%s/a.log", d);
	snprintf(glob, sizeof(glob), "%s/*.log", d);
	tt_write(p1, 0, 1000);
	ksk_manual_clock mc;
	ksk_manual_clock_init(&mc, 1700000000ull * 1000000000ull);
	tt_sink s;
	tt_sink_init(&s);
	tt_cfg c;
	tt_cfg_init(&c, &s, glob, NULL);
	c.cfg.clock = &mc.clock;
	c.in.rate_unit = AGT_TAIL_RATE_LINES;
	c.in.rate = 100;
	agt_tail *t = tt_create(&c, &s);
	tt_run_for(&s, 50);
	assert_int_equal(s.lines, 100);
	int to = agt_tail_timeout_ms(t);
	assert_true(to > 0 && to <= 1000);
	ksk_manual_clock_advance(&mc, 500ull * 1000000ull);
	tt_run_for(&s, 30);
	assert_int_equal(s.lines, 150);
	for (int i = 0; i < 20; i++) {
		ksk_manual_clock_advance(&mc, 1000ull * 1000000ull);
		tt_run_for(&s, 10);
	}
	tt_check_exact(&s, 0, 1000);
	tt_finish(t, &s, d);
}

/* inotify off (as after an overflow, or on NFS): stat scans find new files,
 * growth and rename rotation. */
static void test_no_inotify(void **state)
{
	(void)state;
	char *d = tt_mkdtemp();
	char glob[600], p1[600], p1r[600], p2[600];
	snprintf(p1, sizeof(p1), "%s/a.log", d);
	snprintf(p1r, sizeof(p1r), "%s/a.log.1", d);
	snprintf(p2, sizeof(p2), "%s/b.log", d);
	snprintf(glob, sizeof(glob), "%s/*.log", d);
	ksk_manual_clock mc;
	ksk_manual_clock_init(&mc, 1700000000ull * 1000000000ull);
	tt_sink s;
	tt_sink_init(&s);
	tt_cfg c;
	tt_cfg_init(&c, &s, glob, NULL);
	c.cfg.clock = &mc.clock;
	c.cfg.no_inotify = true;
	c.cfg.forget_ms = 0; /* default tombstones: a.log.1 stays known */
	agt_tail *t = tt_create(&c, &s);
	assert_int_equal(agt_tail_fd(t), -1);
	assert_int_equal(agt_tail_run(t), KSK_OK);
	tt_write(p1, 0, 100);
	tt_write(p2, 1000, 1100);
	assert_int_equal(agt_tail_run(t), KSK_OK);
	assert_int_equal(s.lines, 0); /* no scan due yet */
	int to = agt_tail_timeout_ms(t);
	assert_true(to > 0 && to <= 1000);
	ksk_manual_clock_advance(&mc, 1000ull * 1000000ull);
	assert_int_equal(agt_tail_run(t), KSK_OK);
	tt_commit(&s);
	assert_int_equal(s.lines, 200);
	tt_write(p1, 100, 200);
	assert_int_equal(rename(p1, p1r), 0);
	tt_write(p1, 200, 300);
	for (int i = 0; i < 5; i++) {
		ksk_manual_clock_advance(&mc, 1000ull * 1000000ull);
		assert_int_equal(agt_tail_run(t), KSK_OK);
		tt_commit(&s);
	}
	check_two(&s, 0, 300, 1000, 1100);
	agt_tail_counters k;
	agt_tail_get_counters(t, &k);
	assert_true(k.rotations >= 1);
	tt_finish(t, &s, d);
}

/* kill simulation: deliver everything, commit part, save, destroy; the
 * lines after the committed offset come again, nothing before. */
static void test_restart_state(void **state)
{
	(void)state;
	char *d = tt_mkdtemp();
	char glob[600], p1[600], st[600];
	snprintf(p1, sizeof(p1), "%s/a.log", d);
	snprintf(glob, sizeof(glob), "%s/*.log", d);
	snprintf(st, sizeof(st), "%s/tail.state", d);
	tt_write(p1, 0, 1000);
	tt_sink s;
	tt_sink_init(&s);
	s.no_commit = true;
	tt_cfg c;
	tt_cfg_init(&c, &s, glob, st);
	agt_tail *t = tt_create(&c, &s);
	tt_run_until(&s, 1000, 5000);
	assert_int_equal(s.n_pend, 1000);
	assert_int_equal(agt_tail_commit(t, &s.pend[599]), KSK_OK);
	assert_int_equal(agt_tail_save(t, NULL), KSK_OK);
	agt_file_pos p800 = s.pend[799];
	agt_file_pos p900 = s.pend[899];
	agt_tail_destroy(t); /* "crash": nothing else saved */
	tt_sink_fini(&s);

	tt_write(p1, 1000, 1100);
	tt_sink_init(&s);
	t = tt_create(&c, &s);
	tt_run_until(&s, 500, 5000);
	tt_run_for(&s, 50);
	tt_check_exact(&s, 600, 1100);
	/* save everything now and restart: nothing comes again */
	tt_commit(&s);
	s.no_commit = false;
	assert_int_equal(agt_tail_save(t, NULL), KSK_OK);
	agt_tail_destroy(t);
	tt_sink_fini(&s);

	tt_sink_init(&s);
	t = tt_create(&c, &s);
	tt_run_for(&s, 100);
	assert_int_equal(s.lines, 0);
	agt_tail_destroy(t);
	tt_sink_fini(&s);

	/* restored positions (from the spool) beyond the state file win */
	unlink(st);
	tt_sink_init(&s);
	t = tt_create(&c, &s);
	assert_int_equal(agt_tail_restore(t, &p800, 1), KSK_OK);
	tt_run_until(&s, 300, 5000);
	tt_run_for(&s, 50);
	tt_check_exact(&s, 800, 1100);
	assert_int_equal(agt_tail_restore(t, &p800, 1), KSK_ESTATE);
	/* a position delivered by the previous process (replayed from the
	 * spool and acked later) is still accepted */
	assert_int_equal(agt_tail_commit(t, &p900), KSK_OK);
	tt_finish(t, &s, d);
}

static void test_corrupt_state(void **state)
{
	(void)state;
	char *d = tt_mkdtemp();
	char glob[600], p1[600], st[600];
	snprintf(p1, sizeof(p1), "%s/a.log", d);
	snprintf(glob, sizeof(glob), "%s/*.log", d);
	snprintf(st, sizeof(st), "%s/tail.state", d);
	tt_write(p1, 0, 100);
	tt_sink s;
	tt_sink_init(&s);
	tt_cfg c;
	tt_cfg_init(&c, &s, glob, st);
	agt_tail *t = tt_create(&c, &s);
	tt_run_until(&s, 100, 5000);
	tt_commit(&s);
	assert_int_equal(agt_tail_save(t, NULL), KSK_OK);
	agt_tail_destroy(t);
	tt_sink_fini(&s);
	/* flip one digit of the offset: the CRC catches it */
	FILE *fp = fopen(st, "r+");
	assert_non_null(fp);
	char buf[4096];
	size_t n = fread(buf, 1, sizeof(buf), fp);
	char *nl = memchr(buf, '\n', n);
	assert_non_null(nl);
	nl[1] = nl[1] == '1' ? '2' : '1';
	rewind(fp);
	assert_int_equal(fwrite(buf, 1, n, fp), n);
	fclose(fp);
	tt_sink_init(&s);
	t = tt_create(&c, &s);
	agt_tail_counters k;
	agt_tail_get_counters(t, &k);
	assert_int_equal(k.state_errors, 1);
	tt_run_until(&s, 100, 5000); /* read again: duplicates, not loss */
	tt_check_exact(&s, 0, 100);
	tt_finish(t, &s, d);
}

/* byte-exact: random line lengths (0..2500, some with '\r'), a tiny read
 * buffer so lines straddle every buffer boundary, max_line 1000. What is
 * delivered must equal what was written, line by line. */
typedef struct exact_ctx {
	tt_sink *s;
	uint32_t crc;
	uint64_t lines;
	uint64_t next_start;
	bool order_ok;
} exact_ctx;

static int exact_on_line(void *ctx, const agt_line *ln)
{
	exact_ctx *x = ctx;
	if (ln->start != x->next_start)
		x->order_ok = false;
	x->next_start = ln->pos.offset;
	x->crc = ksk_crc32(x->crc, (const uint8_t *)ln->data, ln->len);
	x->crc = ksk_crc32(x->crc, (const uint8_t *)"|", 1);
	x->lines++;
	return AGT_TAIL_TAKEN;
}

static void test_byte_exact(void **state)
{
	(void)state;
	char *d = tt_mkdtemp();
	char glob[600], p1[600];
	snprintf(p1, sizeof(p1), "%s/a.log", d);
	snprintf(glob, sizeof(glob), "%s/*.log", d);
	srand(7);
	size_t cap = 8u << 20, n = 0;
	char *data = malloc(cap);
	uint32_t want = 0;
	unsigned lines = 0;
	while (n + 3000 < cap) {
		size_t len = (size_t)rand() % (rand() % 8 == 0 ? 2500 : 120);
		bool cr = rand() % 5 == 0 && len > 0;
		for (size_t i = 0; i < len; i++)
			data[n + i] = (char)('!' + rand() % 90);
		if (cr)
			data[n + len - 1] = '\r';
		size_t keep = len > 1000 ? 1000 : (cr ? len - 1 : len);
		want = ksk_crc32(want, (const uint8_t *)data + n, keep);
		want = ksk_crc32(want, (const uint8_t *)"|", 1);
		data[n + len] = '\n';
		n += len + 1;
		lines++;
	}
	/* written in odd-sized pieces while the tailer runs */
	exact_ctx x = {0};
	x.order_ok = true;
	tt_sink s;
	tt_sink_init(&s);
	tt_cfg c;
	tt_cfg_init(&c, &s, glob, NULL);
	c.cfg.on_line = exact_on_line;
	c.cfg.on_line_ctx = &x;
	c.in.max_line = 1000;
	c.cfg.read_buf = 4096;
	c.cfg.run_bytes = 100000;
	agt_tail *t = tt_create(&c, &s);
	tt_append_raw(p1, "", 0);
	for (size_t off = 0; off < n;) {
		size_t k = 1 + (size_t)rand() % 300000;
		if (k > n - off)
			k = n - off;
		tt_append_raw(p1, data + off, k);
		off += k;
		(void)agt_tail_run(t);
	}
	uint64_t end = tt_mono_ms() + 20000;
	while (x.lines < lines && tt_mono_ms() < end)
		(void)agt_tail_wait(t, 20);
	assert_int_equal(x.lines, lines);
	assert_true(x.order_ok);
	assert_int_equal(x.crc, want);
	assert_int_equal(x.next_start, n);
	free(data);
	tt_finish(t, &s, d);
}

/* two inputs: each line carries its input's user pointer and index;
 * exclusions by base name and by full path. */
typedef struct multi_ctx {
	tt_sink *s;
	int users[2];
	uint64_t per_input[2];
	bool user_ok;
} multi_ctx;

static int multi_on_line(void *ctx, const agt_line *ln)
{
	multi_ctx *m = ctx;
	if (ln->input > 1 || ln->user != &m->users[ln->input])
		m->user_ok = false;
	else
		m->per_input[ln->input]++;
	return tt_on_line(m->s, ln);
}

static void test_multi_input(void **state)
{
	(void)state;
	char *d = tt_mkdtemp();
	char ga[600], gb[600], xa[700], p[700];
	snprintf(ga, sizeof(ga), "%s/*.log", d);
	snprintf(gb, sizeof(gb), "%s/*.txt", d);
	snprintf(xa, sizeof(xa), "%s/skip*.txt", d);
	const char *globs_a[] = {ga};
	const char *globs_b[] = {gb};
	const char *ex_a[] = {"debug*"};
	const char *ex_b[] = {xa};
	tt_sink s;
	tt_sink_init(&s);
	multi_ctx m;
	memset(&m, 0, sizeof(m));
	m.s = &s;
	m.user_ok = true;
	agt_tail_input in[2];
	memset(in, 0, sizeof(in));
	in[0].name = "a";
	in[0].globs = globs_a;
	in[0].n_globs = 1;
	in[0].excludes = ex_a;
	in[0].n_excludes = 1;
	in[0].user = &m.users[0];
	in[1].name = "b";
	in[1].globs = globs_b;
	in[1].n_globs = 1;
	in[1].excludes = ex_b;
	in[1].n_excludes = 1;
	in[1].user = &m.users[1];
	agt_tail_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.inputs = in;
	cfg.n_inputs = 2;
	cfg.on_line = multi_on_line;
	cfg.on_line_ctx = &m;
	cfg.log = tt_log;
	agt_tail *t = NULL;
	assert_int_equal(agt_tail_create(&cfg, &t, NULL), KSK_OK);
	s.t = t;
	snprintf(p, sizeof(p), "%s/app.log", d);
	tt_write(p, 0, 100);
	snprintf(p, sizeof(p), "%s/debug.log", d);
	tt_write(p, 1000, 1100);
	snprintf(p, sizeof(p), "%s/app.txt", d);
	tt_write(p, 2000, 2050);
	snprintf(p, sizeof(p), "%s/skip1.txt", d);
	tt_write(p, 3000, 3100);
	tt_run_until(&s, 150, 5000);
	tt_run_for(&s, 50);
	check_two(&s, 0, 100, 2000, 2050);
	assert_true(m.user_ok);
	assert_int_equal(m.per_input[0], 100);
	assert_int_equal(m.per_input[1], 50);
	tt_finish(t, &s, d);
}

/* the caller commits each line from inside the callback (its spool made
 * it durable synchronously): accepted, saved, nothing comes again. */
static int commit_inside_on_line(void *ctx, const agt_line *ln)
{
	tt_sink *s = ctx;
	int rc = tt_on_line(s, ln);
	assert_int_equal(agt_tail_commit(s->t, &ln->pos), KSK_OK);
	s->n_pend = 0;
	return rc;
}

static void test_commit_in_callback(void **state)
{
	(void)state;
	char *d = tt_mkdtemp();
	char glob[600], p1[600], st[600];
	snprintf(p1, sizeof(p1), "%s/a.log", d);
	snprintf(glob, sizeof(glob), "%s/*.log", d);
	snprintf(st, sizeof(st), "%s/tail.state", d);
	tt_write(p1, 0, 300);
	tt_sink s;
	tt_sink_init(&s);
	tt_cfg c;
	tt_cfg_init(&c, &s, glob, st);
	c.cfg.on_line = commit_inside_on_line;
	agt_tail *t = tt_create(&c, &s);
	tt_run_until(&s, 300, 5000);
	assert_int_equal(agt_tail_save(t, NULL), KSK_OK);
	agt_tail_destroy(t);
	tt_sink_fini(&s);
	tt_write(p1, 300, 310);
	tt_sink_init(&s);
	t = tt_create(&c, &s);
	tt_run_until(&s, 10, 5000);
	tt_run_for(&s, 50);
	tt_check_exact(&s, 300, 310);
	tt_finish(t, &s, d);
}

/* a glob with a wildcard directory (d/ * /app.log): existing directories
 * are watched; a directory created later is found by the next scan and
 * watched from then on. Also a bytes/s rate limit. */
static void test_wildcard_dirs(void **state)
{
	(void)state;
	char *d = tt_mkdtemp();
	char glob[600], p[700], sub[700];
	snprintf(glob, sizeof(glob), "%s/*/app.log", d);
	snprintf(sub, sizeof(sub), "%s/a", d);
	assert_int_equal(mkdir(sub, 0755), 0);
	snprintf(p, sizeof(p), "%s/a/app.log", d);
	tt_write(p, 0, 100);
	tt_sink s;
	tt_sink_init(&s);
	tt_cfg c;
	tt_cfg_init(&c, &s, glob, NULL);
	c.cfg.scan_ms = 100;
	c.in.rate_unit = AGT_TAIL_RATE_BYTES;
	c.in.rate = 1u << 20;
	agt_tail *t = tt_create(&c, &s);
	tt_run_until(&s, 100, 5000);
	snprintf(sub, sizeof(sub), "%s/b", d);
	assert_int_equal(mkdir(sub, 0755), 0);
	snprintf(p, sizeof(p), "%s/b/app.log", d);
	tt_write(p, 1000, 1100);
	tt_run_until(&s, 200, 5000);
	tt_write(p, 1100, 1200); /* now by inotify on the new directory */
	tt_run_until(&s, 300, 5000);
	tt_run_for(&s, 50);
	check_two(&s, 0, 100, 1000, 1200);
	tt_finish(t, &s, d);
}

/* every allocation failure point: no crash, no leak, a clean error or a
 * logged, retried failure. */
static void test_alloc_failures(void **state)
{
	(void)state;
	char *d = tt_mkdtemp();
	char glob[600], p1[600], st[600];
	snprintf(p1, sizeof(p1), "%s/a.log", d);
	snprintf(glob, sizeof(glob), "%s/*.log", d);
	snprintf(st, sizeof(st), "%s/tail.state", d);
	tt_write(p1, 0, 10);
	for (unsigned long k = 1; k < 40; k++) {
		ksk_failalloc fa;
		ksk_failalloc_init(&fa, k, 1);
		tt_sink s;
		tt_sink_init(&s);
		tt_cfg c;
		tt_cfg_init(&c, &s, glob, st);
		c.cfg.log = NULL;
		c.cfg.alloc = &fa.table;
		agt_tail *t = NULL;
		ksk_err rc = agt_tail_create(&c.cfg, &t, NULL);
		if (rc == KSK_OK) {
			s.t = t;
			for (int i = 0; i < 3; i++) {
				(void)agt_tail_run(t);
				tt_commit(&s);
			}
			(void)agt_tail_save(t, NULL);
			agt_tail_destroy(t);
		} else {
			assert_int_equal(rc, KSK_ENOMEM);
		}
		assert_int_equal(fa.live, 0);
		tt_sink_fini(&s);
	}
	tt_rmrf(d);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_new_file),
		cmocka_unit_test(test_start_tail),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_partial_line),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_no_inotify),
		cmocka_unit_test(test_restart_state),
		cmocka_unit_test(test_corrupt_state),
		cmocka_unit_test(test_alloc_failures),
		cmocka_unit_test(test_byte_exact),
		cmocka_unit_test(test_multi_input),
		cmocka_unit_test(test_commit_in_callback),
		cmocka_unit_test(test_wildcard_dirs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
