/*
 * test_agent_files_proc.c : the file tailer's failure modes through the
 * real kiseki-agent and the real kiseki-collector (both started by the
 * harness on loopback). The tailer alone is tested in-process by
 * tests/unit/agent/test_tail_rotate.c; here the same situations go through
 * the whole agent: its state file, its spool, its restarts by SIGTERM.
 *
 * Every line carries a unique "seq=N"; each scenario ends by asking the
 * collector for the service's logs and requiring every N stored exactly
 * once (0 lost, 0 duplicated), no other N, and where files carry banner
 * lines without a seq, exactly the expected number of those records:
 *  1. truncation in place (no copy) while running, three times;
 *  2. double rotation while the agent is stopped (glob app.log only);
 *     2b. the same three times, each after kill -9 while the agent was
 *     behind (hundreds of thousands of lines in all);
 *  3. inode reuse while stopped: a new file with the old one's inode and
 *     the same first 256+ bytes; 3b. the same while the agent runs;
 *  4. six files sharing a 1.4 KiB banner (identical when first seen),
 *     across a restart and with a new identical file made while stopped;
 *  5. copytruncate while stopped, twice (new content shorter, then longer
 *     than the old offset, logrotate-style .1 -> .2 in between);
 *  6. spool full: a 256 KiB --spool-max and no collector: reading stops
 *     (metrics), nothing is lost, all arrives once the collector is up;
 *  7. a 1M-line burst (~200-byte lines, 200 MB) written as fast as the
 *     test can, renamed away every 10 MB (glob app.log only). Measured
 *     under ASan on the 2-core VM: about 20 s in all (5-8 s until every
 *     line was read, spooled and acked, 8-9 s for the check), so it runs
 *     here with the sanitized binaries of this tree.
 * The whole file: about 56 s under ASan (65 s with a second copy running
 * beside it), 40 s in a RelWithDebInfo tree.
 */
#include "proc_util.h"

#include <fcntl.h>

/* A banner of `n` identical lines without a seq (about 70 bytes each). */
static void write_banner(FILE *f, int n)
{
	for (int i = 0; i < n; i++)
		fprintf(f, "# checkout-service build 1.4.2 (go1.22) host=web-1 line %02d of banner\n",
		        i);
	assert_int_equal(fflush(f), 0);
}

static uint64_t inode_of(const char *p)
{
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	return (uint64_t)st.st_ino;
}

/* cp from to (byte copy, new inode). */
static void copy_log(env *e, const char *from, const char *to)
{
	char a[800], b[800];
	log_path(e, from, a, sizeof(a));
	log_path(e, to, b, sizeof(b));
	int in = open(a, O_RDONLY | O_CLOEXEC);
	int out = open(b, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(in >= 0 && out >= 0);
	char buf[65536];
	ssize_t r;
	while ((r = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)r), r);
	assert_int_equal(r, 0);
	close(in);
	close(out);
}

static void truncate_log(env *e, const char *name)
{
	char p[800];
	log_path(e, name, p, sizeof(p));
	assert_int_equal(truncate(p, 0), 0);
}

/* Stops the agent gracefully once everything is stored, then looks again:
 * a late duplicate (a frame resent at shutdown) would show now. */
static void final_check(env *e, uint32_t n, uint64_t other)
{
	proc_stop(&e->agt);
	expect_exactly_once_other(e, n, other, 0);
}

/* ---- 1. truncation in place ---------------------------------------------------- */

static void test_truncate_in_place(void **state)
{
	(void)state;
	env e;
	env_new(&e, "agtf-trunc");
	col_start(&e);
	agt_start(&e, "*.log", NULL);
	/* the writer appends (O_APPEND, as loggers do): after a truncation
	 * its next line lands at offset 0 */
	FILE *f = open_log(&e, "app.log", "a");
	write_lines(f, 1, 2000);
	expect_exactly_once(&e, 2000, 60000);
	/* shorter than before */
	truncate_log(&e, "app.log");
	write_lines(f, 2001, 2500);
	expect_exactly_once(&e, 2500, 60000);
	/* at once longer than before: the size alone does not show it */
	truncate_log(&e, "app.log");
	write_lines(f, 2501, 6000);
	expect_exactly_once(&e, 6000, 60000);
	/* truncated, quiet for a moment, then written again */
	truncate_log(&e, "app.log");
	sleep_ms(300);
	write_lines(f, 6001, 6100);
	fclose(f);
	expect_exactly_once(&e, 6100, 60000);
	double tr = 0;
	assert_int_equal(metric_get(&e, "kiseki_agent_tail_truncations_total", &tr), 0);
	fprintf(stderr, "  truncations seen by the agent: %.0f (3 made)\n", tr);
	final_check(&e, 6100, UINT64_MAX);
	proc_stop(&e.col);
	env_free(&e);
}

/* ---- 2. double rotation while stopped ----------------------------------------- */

static void test_double_rotation_stopped(void **state)
{
	(void)state;
	env e;
	env_new(&e, "agtf-rot2");
	col_start(&e);
	agt_start(&e, "app.log", NULL);
	append_lines(&e, "app.log", 1, 1000);
	expect_exactly_once(&e, 1000, 60000);
	proc_stop(&e.agt);
	/* while stopped: the old file grows, is rotated twice, and the
	 * middle generation is never seen by the agent under any name */
	append_lines(&e, "app.log", 1001, 1100);
	rename_log(&e, "app.log", "app.log.1");
	append_lines(&e, "app.log", 1101, 1200);
	rename_log(&e, "app.log.1", "app.log.2");
	rename_log(&e, "app.log", "app.log.1");
	append_lines(&e, "app.log", 1201, 1300);
	agt_start(&e, "app.log", NULL);
	expect_exactly_once(&e, 1300, 60000);
	/* and it goes on with the newest file */
	append_lines(&e, "app.log", 1301, 1400);
	expect_exactly_once(&e, 1400, 60000);
	final_check(&e, 1400, UINT64_MAX);
	proc_stop(&e.col);
	env_free(&e);
}

/* app.log.1 -> app.log.2 -> old.<tag>, app.log -> app.log.1 (logrotate
 * order: nothing is overwritten). */
static void rotate_shift(env *e, const char *tag)
{
	char p[800];
	log_path(e, "app.log.2", p, sizeof(p));
	if (access(p, F_OK) == 0)
		rename_log(e, "app.log.2", tag);
	log_path(e, "app.log.1", p, sizeof(p));
	if (access(p, F_OK) == 0)
		rename_log(e, "app.log.1", "app.log.2");
	rename_log(e, "app.log", "app.log.1");
}

/* 2b. the same, three times, after kill -9 while the agent is behind (the
 * checkpoint and the spool hold an offset in the middle of the file that
 * is then rotated twice) */
static void test_double_rotation_after_kill9(void **state)
{
	(void)state;
	env e;
	env_new(&e, "agtf-rot2k");
	col_start(&e);
	enum { ROUNDS = 3, PER = 100000 };
	for (uint32_t r = 0; r < ROUNDS; r++) {
		uint32_t b = r * PER;
		agt_start(&e, "app.log", NULL);
		append_lines(&e, "app.log", b + 1, b + PER - 300);
		sleep_ms(200 + 150 * (int)r);
		double read = 0;
		metric_get(&e, "kiseki_agent_lines_total", &read);
		proc_kill9(&e.agt);
		fprintf(stderr, "  round %u: killed; its /metrics (refreshed each second) last "
		        "showed %.0f of the %u new lines read\n", r, read, PER - 300);
		append_lines(&e, "app.log", b + PER - 299, b + PER - 200);
		char tag[32];
		snprintf(tag, sizeof(tag), "old.%u.a", r);
		rotate_shift(&e, tag);
		append_lines(&e, "app.log", b + PER - 199, b + PER - 100); /* never seen */
		snprintf(tag, sizeof(tag), "old.%u.b", r);
		rotate_shift(&e, tag);
		append_lines(&e, "app.log", b + PER - 99, b + PER);
	}
	agt_start(&e, "app.log", NULL);
	expect_exactly_once(&e, ROUNDS * PER, 120000);
	final_check(&e, ROUNDS * PER, UINT64_MAX);
	proc_stop(&e.col);
	env_free(&e);
}

/* ---- 3. inode reuse while stopped ----------------------------------------------- */

/* Makes logs/<name> a file whose inode is `ino` (the filesystem hands a
 * freed inode out again soon): probe files, which no glob matches, are
 * created with the content until one gets it; rounds of 100 probes are
 * removed and tried again until `wait_ms` passed (a running agent frees
 * the inode only when it closes the deleted file). @return : true when it
 * did; otherwise logs/<name> is a plain new file with that content. */
static bool create_with_inode(env *e, const char *name, uint64_t ino, int banner,
                              uint32_t from, uint32_t to, int wait_ms)
{
	char p[800], probe[800];
	log_path(e, name, p, sizeof(p));
	uint64_t t0 = mono_ms();
	for (;;) {
		bool got = false;
		int i;
		for (i = 0; i < 100 && !got; i++) {
			snprintf(probe, sizeof(probe), "%s/.probe%d", e->logs, i);
			FILE *f = fopen(probe, "w");
			assert_non_null(f);
			write_banner(f, banner);
			write_lines(f, from, to);
			fclose(f);
			got = inode_of(probe) == ino;
		}
		bool last = got || mono_ms() - t0 >= (uint64_t)wait_ms;
		/* the last probe becomes the file (when !got: a new inode) */
		if (last)
			assert_int_equal(rename(probe, p), 0);
		for (int k = 0; k < (last ? i - 1 : i); k++) {
			snprintf(probe, sizeof(probe), "%s/.probe%d", e->logs, k);
			unlink(probe);
		}
		if (last)
			return got;
		sleep_ms(100);
	}
}

static void test_inode_reuse_stopped(void **state)
{
	(void)state;
	env e;
	env_new(&e, "agtf-ino");
	col_start(&e);
	agt_start(&e, "*.log", NULL);
	enum { BANNER = 5 }; /* 350 bytes: the first 256 bytes are the same */
	FILE *f = open_log(&e, "app.log", "a");
	write_banner(f, BANNER);
	write_lines(f, 1, 1000);
	fclose(f);
	expect_exactly_once_other(&e, 1000, BANNER, 60000);
	proc_stop(&e.agt);
	char p[800];
	log_path(&e, "app.log", p, sizeof(p));
	uint64_t ino = inode_of(p);
	assert_int_equal(unlink(p), 0);
	/* the new file is longer than the old offset, starts with the same
	 * bytes, and has the old inode: only the marker tells them apart */
	bool reused = create_with_inode(&e, "app.log", ino, BANNER, 1001, 4000, 5000);
	fprintf(stderr, "  inode %s\n", reused ? "reused" : "NOT reused (new file only)");
	agt_start(&e, "*.log", NULL);
	expect_exactly_once_other(&e, 4000, 2 * BANNER, 60000);
	final_check(&e, 4000, 2 * BANNER);
	proc_stop(&e.col);
	env_free(&e);
}

/* 3b. the same while the agent runs: the deleted file is read to its end,
 * closed after rotate_wait (5 s), and its inode comes back as a new file */
static void test_inode_reuse_running(void **state)
{
	(void)state;
	env e;
	env_new(&e, "agtf-ino2");
	col_start(&e);
	agt_start(&e, "*.log", NULL);
	enum { BANNER = 5 };
	FILE *f = open_log(&e, "app.log", "a");
	write_banner(f, BANNER);
	write_lines(f, 1, 1000);
	fclose(f);
	expect_exactly_once_other(&e, 1000, BANNER, 60000);
	char p[800];
	log_path(&e, "app.log", p, sizeof(p));
	uint64_t ino = inode_of(p);
	assert_int_equal(unlink(p), 0);
	uint64_t t0 = mono_ms();
	bool reused = create_with_inode(&e, "app.log", ino, BANNER, 1001, 4000, 30000);
	fprintf(stderr, "  inode %s after %llu ms\n", reused ? "reused" : "NOT reused (new file only)",
	        (unsigned long long)(mono_ms() - t0));
	expect_exactly_once_other(&e, 4000, 2 * BANNER, 60000);
	final_check(&e, 4000, 2 * BANNER);
	proc_stop(&e.col);
	env_free(&e);
}

/* ---- 4. files sharing a header --------------------------------------------------- */

static void test_shared_header(void **state)
{
	(void)state;
	env e;
	env_new(&e, "agtf-hdr");
	col_start(&e);
	agt_start(&e, "*.log", NULL);
	enum { FILES = 5, BANNER = 20, ROUNDS = 5, PER = 100 };
	FILE *fs[FILES + 1];
	char name[32];
	/* five files, byte for byte the same when the agent first sees them */
	for (int k = 0; k < FILES; k++) {
		snprintf(name, sizeof(name), "part-%d.log", k);
		fs[k] = open_log(&e, name, "a");
		write_banner(fs[k], BANNER);
	}
	expect_exactly_once_other(&e, 0, FILES * BANNER, 60000);
	uint32_t next = 1;
	for (int r = 0; r < ROUNDS; r++)
		for (int k = 0; k < FILES; k++) {
			write_lines(fs[k], next, next + PER - 1);
			next += PER;
		}
	expect_exactly_once_other(&e, next - 1, FILES * BANNER, 60000);
	proc_stop(&e.agt);
	/* while stopped: every file grows, and a sixth one with the same
	 * banner appears (same first KiB as five known checkpoints) */
	for (int k = 0; k < FILES; k++) {
		write_lines(fs[k], next, next + PER - 1);
		next += PER;
		fclose(fs[k]);
	}
	fs[FILES] = open_log(&e, "part-5.log", "a");
	write_banner(fs[FILES], BANNER);
	write_lines(fs[FILES], next, next + PER - 1);
	next += PER;
	fclose(fs[FILES]);
	agt_start(&e, "*.log", NULL);
	expect_exactly_once_other(&e, next - 1, (FILES + 1) * BANNER, 60000);
	final_check(&e, next - 1, (FILES + 1) * BANNER);
	proc_stop(&e.col);
	env_free(&e);
}

/* ---- 5. copytruncate while stopped --------------------------------------------- */

static void test_copytruncate_stopped(void **state)
{
	(void)state;
	env e;
	env_new(&e, "agtf-ct");
	col_start(&e);
	/* *.log does not match the copies (app.log.1, app.log.2) */
	agt_start(&e, "*.log", NULL);
	append_lines(&e, "app.log", 1, 1000);
	expect_exactly_once(&e, 1000, 60000);
	proc_stop(&e.agt);
	/* written after the agent's last read: these exist only in the copy */
	append_lines(&e, "app.log", 1001, 1100);
	copy_log(&e, "app.log", "app.log.1");
	truncate_log(&e, "app.log");
	append_lines(&e, "app.log", 1101, 1300); /* shorter than the old offset */
	agt_start(&e, "*.log", NULL);
	expect_exactly_once(&e, 1300, 60000);

	/* again, logrotate style (rotate 2): .1 -> .2, copy, truncate; the new
	 * content is longer than the old offset */
	append_lines(&e, "app.log", 1301, 2300);
	expect_exactly_once(&e, 2300, 60000);
	proc_stop(&e.agt);
	append_lines(&e, "app.log", 2301, 2400);
	rename_log(&e, "app.log.1", "app.log.2");
	copy_log(&e, "app.log", "app.log.1");
	truncate_log(&e, "app.log");
	append_lines(&e, "app.log", 2401, 5400);
	agt_start(&e, "*.log", NULL);
	expect_exactly_once(&e, 5400, 60000);
	final_check(&e, 5400, UINT64_MAX);
	proc_stop(&e.col);
	env_free(&e);
}

/* ---- 6. spool full ------------------------------------------------------------------ */

static double metric_or_fail(env *e, const char *name)
{
	double v = 0;
	if (metric_get(e, name, &v) != 0)
		fail_msg("metric %s not found on the agent's /metrics", name);
	return v;
}

static void test_spool_full(void **state)
{
	(void)state;
	env e;
	env_new(&e, "agtf-full");
	/* no collector yet; small frames so that several fit before the spool
	 * is full (the bound counts the compressed frames on disk); the stat
	 * scan is slowed down so that only the metrics refresh can see the
	 * file grow while reading is stopped */
	const char *extra[] = {"--spool-max", "256KiB", "--batch-max-bytes", "64KiB",
	                       "--scan-interval", "60s", NULL};
	agt_start(&e, "*.log", extra);
	enum { N = 100000, M = 20000 };
	FILE *f = open_log(&e, "app.log", "a");
	write_lines(f, 1, N);
	fclose(f);
	/* the spool fills up */
	uint64_t t0 = mono_ms();
	double full = 0;
	while ((full = metric_or_fail(&e, "kiseki_agent_spool_full_total")) < 1) {
		if (mono_ms() - t0 > 120000)
			fail_msg("the spool never reported full");
		sleep_ms(200);
	}
	/* and reading stops: the line count stays put short of what was
	 * written */
	double lines = metric_or_fail(&e, "kiseki_agent_lines_total");
	int same = 0;
	for (int i = 0; i < 60 && same < 3; i++) {
		sleep_ms(1100);
		double now = metric_or_fail(&e, "kiseki_agent_lines_total");
		same = now == lines ? same + 1 : 0;
		lines = now;
	}
	double spool = metric_or_fail(&e, "kiseki_agent_spool_bytes");
	char lag_name[800];
	snprintf(lag_name, sizeof(lag_name), "kiseki_agent_file_lag_bytes{path=\"%s/app.log\"}",
	         e.logs);
	double lag = metric_or_fail(&e, lag_name);
	fprintf(stderr, "  spool full: %.0f refused appends, %.0f of %d lines read, spool %.0f "
	        "bytes, file lag %.0f bytes\n", full, lines, N, spool, lag);
	assert_int_equal(same, 3);
	assert_true(lines > 0 && lines < N);
	assert_true(spool <= 256.0 * 1024);
	assert_true(lag > 0);
	/* the file grows while reading is stopped: the lag follows within
	 * about a second (the metrics fstat the open files), not at the
	 * next EOF or full stat scan */
	char path[700];
	snprintf(path, sizeof(path), "%s/app.log", e.logs);
	struct stat st0, st1;
	assert_int_equal(stat(path, &st0), 0);
	append_lines(&e, "app.log", N + 1, N + M);
	assert_int_equal(stat(path, &st1), 0);
	double want = lag + (double)(st1.st_size - st0.st_size), lag2 = 0;
	for (int i = 0; i < 40 && (lag2 = metric_or_fail(&e, lag_name)) < want; i++)
		sleep_ms(100);
	fprintf(stderr, "  file grew by %lld bytes: lag %.0f -> %.0f\n",
	        (long long)(st1.st_size - st0.st_size), lag, lag2);
	assert_true(lag2 >= want);
	/* the collector comes up: everything arrives, once (the shipper's
	 * backoff is capped at 30 s) */
	col_start(&e);
	expect_exactly_once(&e, N + M, 180000);
	assert_int_equal(wait_agent_drained(&e, N + M, 60000), 0);
	final_check(&e, N + M, UINT64_MAX);
	proc_stop(&e.col);
	env_free(&e);
}

/* ---- 7. a 1M-line burst with rotation every 10 MB -------------------------------- */

static void test_burst_rotate_10mb(void **state)
{
	(void)state;
	enum { N = 1000000, LINE_BYTES = 200, ROTATE_BYTES = 10 << 20 };
	env e;
	env_new(&e, "agtf-burst");
	col_start(&e);
	agt_start(&e, "app.log", NULL);
	uint64_t t0 = mono_ms();
	FILE *f = open_log(&e, "app.log", "a");
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	char line[512];
	uint64_t in_file = 0;
	unsigned rot = 0;
	for (uint32_t i = 1; i <= N; i++) {
		size_t len = fmt_line(line, i, LINE_BYTES - 1);
		assert_int_equal(fwrite(line, 1, len, f), len);
		in_file += len;
		if (in_file >= ROTATE_BYTES && i < N) {
			assert_int_equal(fclose(f), 0);
			char to[64];
			snprintf(to, sizeof(to), "app.log.%u", ++rot);
			rename_log(&e, "app.log", to);
			f = open_log(&e, "app.log", "a");
			setvbuf(f, NULL, _IOFBF, 1 << 20);
			in_file = 0;
		}
	}
	assert_int_equal(fclose(f), 0);
	uint64_t t_write = mono_ms() - t0;
	int drained = wait_agent_drained(&e, N, 300000);
	uint64_t t_drain = mono_ms() - t0;
	double seen = 0;
	metric_get(&e, "kiseki_agent_tail_rotations_total", &seen);
	fprintf(stderr, "  %d lines written in %llu ms with %u rotations; read, spooled and acked "
	        "%s %llu ms after the start (the agent saw %.0f rotations)\n", N,
	        (unsigned long long)t_write, rot, drained == 0 ? "in" : "NOT within",
	        (unsigned long long)t_drain, seen);
	expect_exactly_once(&e, N, 120000);
	fprintf(stderr, "  every seq checked %llu ms after the start\n",
	        (unsigned long long)(mono_ms() - t0));
	final_check(&e, N, UINT64_MAX);
	proc_stop(&e.col);
	env_free(&e);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_truncate_in_place),
		cmocka_unit_test(test_double_rotation_stopped),
		cmocka_unit_test(test_double_rotation_after_kill9),
		cmocka_unit_test(test_inode_reuse_stopped),
		cmocka_unit_test(test_inode_reuse_running),
		cmocka_unit_test(test_shared_header),
		cmocka_unit_test(test_copytruncate_stopped),
		cmocka_unit_test(test_spool_full),
		cmocka_unit_test(test_burst_rotate_10mb),
	};
	return cmocka_run_group_tests_name("agent_files_process", tests, NULL, NULL);
}
