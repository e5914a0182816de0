/*
 * test_tail_idle.c : the tailer with many files (agt_tail.h): 1,000 idle
 * files cost (almost) no CPU (measured with getrusage and printed), a line
 * appended to one of them arrives quickly; the fd cap (fair round robin,
 * idle files closed and reopened) loses nothing; per-file stats.
 */
#include "test_tail_util.h"

#include <sys/resource.h>

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void test_idle_1000_files(void **state)
{
	(void)state;
	char *d = tt_mkdtemp();
	char glob[600], p[700];
	snprintf(glob, sizeof(glob), "%s/*.log", d);
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(p, sizeof(p), "%s/f%04u.log", d, i);
		tt_write(p, i, i + 1);
	}
	tt_sink s;
	tt_sink_init(&s);
	tt_cfg c;
	tt_cfg_init(&c, &s, glob, NULL);
	agt_tail *t = tt_create(&c, &s);
	tt_run_until(&s, 1000, 20000);
	tt_check_exact(&s, 0, 1000);
	agt_tail_counters k;
	agt_tail_get_counters(t, &k);
	assert_int_equal(k.files, 1000);
	/* idle: the caller's loop blocks in poll() on the tailer's fd */
	unsigned idle_ms = 3000, runs = 0;
	double c0 = cpu_s();
	uint64_t end = tt_mono_ms() + idle_ms;
	while (tt_mono_ms() < end) {
		assert_int_equal(agt_tail_wait(t, 1000), KSK_OK);
		runs++;
	}
	double used = cpu_s() - c0;
	fprintf(stderr, "  idle 1000 files: %.1f ms CPU in %u ms (%.3f %% of a "
	        "core), %u wakeups (stat scan every 1 s)\n", used * 1e3, idle_ms,
	        100.0 * used / (idle_ms / 1e3), runs);
	assert_int_equal(s.lines, 1000);
	assert_true(runs < 20);
	assert_true(used < 0.3 * idle_ms / 1e3); /* generous under ASan */
	/* latency of one appended line */
	snprintf(p, sizeof(p), "%s/f%04u.log", d, 777u);
	uint64_t t0 = tt_mono_ms();
	tt_write(p, 5000, 5001);
	tt_run_until(&s, 1001, 5000);
	fprintf(stderr, "  line latency with 1000 files: %llu ms\n",
	        (unsigned long long)(tt_mono_ms() - t0));
	assert_int_equal(s.seen[5000], 1);
	tt_finish(t, &s, d);
}

static void test_fd_cap(void **state)
{
	(void)state;
	char *d = tt_mkdtemp();
	char glob[600], p[700];
	snprintf(glob, sizeof(glob), "%s/*.log", d);
	for (unsigned i = 0; i < 50; i++) {
		snprintf(p, sizeof(p), "%s/f%02u.log", d, i);
		tt_write(p, i * 10000, i * 10000 + 2000);
	}
	tt_sink s;
	tt_sink_init(&s);
	tt_cfg c;
	tt_cfg_init(&c, &s, glob, NULL);
	c.cfg.max_open = 8;
	c.cfg.file_quantum = 16 * 1024;
	agt_tail *t = tt_create(&c, &s);
	uint64_t end = tt_mono_ms() + 20000;
	size_t max_open = 0;
	while (s.lines < 50 * 2000 && tt_mono_ms() < end) {
		ksk_err rc = agt_tail_wait(t, 20);
		assert_true(rc == KSK_OK);
		tt_commit(&s);
		agt_tail_counters k;
		agt_tail_get_counters(t, &k);
		if (k.open_fds > max_open)
			max_open = k.open_fds;
	}
	/* appends to files that were closed by the cap */
	for (unsigned i = 0; i < 50; i += 7) {
		snprintf(p, sizeof(p), "%s/f%02u.log", d, i);
		tt_write(p, i * 10000 + 2000, i * 10000 + 2100);
	}
	/* and a rename of a closed idle file followed by an append */
	char from[700], to[700];
	snprintf(from, sizeof(from), "%s/f01.log", d);
	snprintf(to, sizeof(to), "%s/f01.log.old", d);
	tt_write(from, 12000, 12050);
	assert_int_equal(rename(from, to), 0);
	tt_run_until(&s, 50 * 2000 + 8 * 100 + 50, 10000);
	tt_run_for(&s, 100);
	for (unsigned i = 0; i < 50; i++) {
		unsigned hi = i * 10000 + (i % 7 == 0 ? 2100 : 2000);
		if (i == 1)
			hi = 12050;
		for (unsigned q = i * 10000; q < i * 10000 + 10000; q++)
			if (s.seen[q] != (q < hi ? 1 : 0)) {
				fprintf(stderr, "  seq %u seen %u\n", q, s.seen[q]);
				fail();
			}
	}
	fprintf(stderr, "  fd cap 8, 50 files: max open %zu\n", max_open);
	assert_true(max_open <= 8);
	tt_finish(t, &s, d);
}

typedef struct stat_ctx {
	unsigned n;
	agt_tail_file_stat last;
	char path[700];
} stat_ctx;

static void on_stat(void *ctx, const agt_tail_file_stat *st)
{
	stat_ctx *sc = ctx;
	sc->n++;
	sc->last = *st;
	snprintf(sc->path, sizeof(sc->path), "%s", st->path);
}

static void test_file_stats(void **state)
{
	(void)state;
	char *d = tt_mkdtemp();
	char glob[600], p[700];
	snprintf(glob, sizeof(glob), "%s/*.log", d);
	snprintf(p, sizeof(p), "%s/a.log", d);
	tt_write(p, 0, 100);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	tt_sink s;
	tt_sink_init(&s);
	s.no_commit = true;
	tt_cfg c;
	tt_cfg_init(&c, &s, glob, NULL);
	agt_tail *t = tt_create(&c, &s);
	tt_run_until(&s, 100, 5000);
	assert_int_equal(agt_tail_commit(t, tt_pos_of(&s, 39)), KSK_OK);
	/* a position never delivered is refused; an unknown file too */
	agt_file_pos bad = *tt_pos_of(&s, 99);
	bad.offset += 10;
	assert_int_equal(agt_tail_commit(t, &bad), KSK_EINVAL);
	bad.ino += 12345;
	assert_int_equal(agt_tail_commit(t, &bad), KSK_ENOTFOUND);
	stat_ctx sc;
	memset(&sc, 0, sizeof(sc));
	agt_tail_foreach_file(t, on_stat, &sc);
	assert_int_equal(sc.n, 1);
	assert_string_equal(sc.path, p);
	assert_int_equal(sc.last.size, (uint64_t)st.st_size);
	assert_int_equal(sc.last.read_off, (uint64_t)st.st_size);
	assert_int_equal(sc.last.commit_off, tt_pos_of(&s, 39)->offset);
	assert_int_equal(sc.last.lines, 100);
	assert_int_equal(sc.last.bytes, (uint64_t)st.st_size);
	assert_int_equal(sc.last.ino, (uint64_t)st.st_ino);
	assert_true(sc.last.open);
	assert_false(sc.last.rotated);
	tt_finish(t, &s, d);
}

int main(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2048 &&
	    rl.rlim_max >= 2048) {
		rl.rlim_cur = 2048;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_1000_files),
		cmocka_unit_test(test_fd_cap),
		cmocka_unit_test(test_file_stats),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
