/*
 * test_tail_util.h : helpers shared by the tailer's test executables
 * (test_tail*.c). Not a test itself.
 *
 * Every test line looks like "L<seq 9 digits> <payload>\n"; the sink counts
 * each sequence number, so a test can check that every line written was
 * delivered exactly once. Positions of delivered lines are kept and
 * committed after each run (as the agent does once its spool is durable).
 */
#ifndef TEST_TAIL_UTIL_H
#define TEST_TAIL_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agt_tail.h"

#define TT_MAXSEQ 2000000u

typedef struct tt_sink {
	uint8_t *seen;            /* count per sequence number */
	uint64_t lines;           /* lines delivered */
	uint64_t seq_lines;       /* lines with a sequence number */
	uint64_t other;           /* lines without one (headers, fragments) */
	uint64_t truncated, partial;
	agt_file_pos *pend;       /* delivered, not committed yet */
	uint32_t *pend_seq;       /* seq of each pend entry (or UINT32_MAX) */
	size_t n_pend, cap_pend;
	bool no_commit;           /* keep positions uncommitted */
	long stop_every;          /* >0: return STOP every n-th call */
	long calls;
	agt_tail *t;
	char last[256];           /* last line (prefix), for checks */
	unsigned last_flags;
	size_t last_len;
	bool verbose;
} tt_sink;

static inline void tt_sink_init(tt_sink *s)
{
	memset(s, 0, sizeof(*s));
	s->seen = calloc(TT_MAXSEQ, 1);
	assert_non_null(s->seen);
}

static inline void tt_sink_fini(tt_sink *s)
{
	free(s->seen);
	free(s->pend);
	free(s->pend_seq);
}

static inline int tt_on_line(void *ctx, const agt_line *ln)
{
	tt_sink *s = ctx;
	s->calls++;
	if (s->stop_every > 0 && s->calls % s->stop_every == 0)
		return AGT_TAIL_STOP;
	s->lines++;
	if (ln->flags & AGT_LINE_TRUNCATED)
		s->truncated++;
	if (ln->flags & AGT_LINE_PARTIAL)
		s->partial++;
	size_t n = ln->len < sizeof(s->last) - 1 ? ln->len : sizeof(s->last) - 1;
	memcpy(s->last, ln->data, n);
	s->last[n] = '\0';
	s->last_flags = ln->flags;
	s->last_len = ln->len;
	uint32_t seq = UINT32_MAX;
	if (ln->len >= 10 && ln->data[0] == 'L') {
		char num[10];
		memcpy(num, ln->data + 1, 9);
		num[9] = '\0';
		unsigned long q = strtoul(num, NULL, 10);
		if (q < TT_MAXSEQ) {
			seq = (uint32_t)q;
			if (s->seen[q] < 255)
				s->seen[q]++;
			s->seq_lines++;
		}
	} else {
		s->other++;
	}
	if (s->n_pend == s->cap_pend) {
		s->cap_pend = s->cap_pend ? s->cap_pend * 2 : 1024;
		s->pend = realloc(s->pend, s->cap_pend * sizeof(*s->pend));
		assert_non_null(s->pend);
		s->pend_seq = realloc(s->pend_seq,
		                      s->cap_pend * sizeof(*s->pend_seq));
		assert_non_null(s->pend_seq);
	}
	s->pend_seq[s->n_pend] = seq;
	s->pend[s->n_pend++] = ln->pos;
	if (s->verbose)
		fprintf(stderr, "line %.*s off %llu flags %u\n", (int)n, ln->data,
		        (unsigned long long)ln->pos.offset, ln->flags);
	return AGT_TAIL_TAKEN;
}

/* the position of the line with sequence number `seq`. */
static inline const agt_file_pos *tt_pos_of(const tt_sink *s, uint32_t seq)
{
	for (size_t i = 0; i < s->n_pend; i++)
		if (s->pend_seq[i] == seq)
			return &s->pend[i];
	fail_msg("seq %u not pending", seq);
	return NULL;
}

/* commits every pending position (the spool made them durable). */
static inline void tt_commit(tt_sink *s)
{
	if (s->no_commit)
		return;
	for (size_t i = 0; i < s->n_pend; i++) {
		ksk_err rc = agt_tail_commit(s->t, &s->pend[i]);
		assert_int_equal(rc, KSK_OK);
	}
	s->n_pend = 0;
}

static inline uint64_t tt_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* runs the tailer until `want` lines were delivered or `ms` passed. */
static inline void tt_run_until(tt_sink *s, uint64_t want, unsigned ms)
{
	uint64_t end = tt_mono_ms() + ms;
	while (s->lines < want && tt_mono_ms() < end) {
		ksk_err rc = agt_tail_wait(s->t, 20);
		assert_true(rc == KSK_OK || rc == KSK_EBUSY);
		tt_commit(s);
	}
}

/* runs for `ms` regardless (to catch extra deliveries). */
static inline void tt_run_for(tt_sink *s, unsigned ms)
{
	uint64_t end = tt_mono_ms() + ms;
	while (tt_mono_ms() < end) {
		ksk_err rc = agt_tail_wait(s->t, 10);
		assert_true(rc == KSK_OK || rc == KSK_EBUSY);
		tt_commit(s);
	}
}

/* every seq in [from, to) exactly once, nothing else with a seq. */
static inline void tt_check_exact(const tt_sink *s, unsigned from, unsigned to)
{
	uint64_t missing = 0, dup = 0, extra = 0;
	for (unsigned i = 0; i < TT_MAXSEQ; i++) {
		unsigned c = s->seen[i];
		if (i >= from && i < to) {
			if (c == 0)
				missing++;
			else if (c > 1)
				dup += c - 1;
		} else if (c) {
			extra += c;
		}
	}
	if (missing) {
		unsigned shown = 0;
		for (unsigned i = from; i < to && shown < 10; i++)
			if (s->seen[i] == 0 && (i == from || s->seen[i - 1])) {
				unsigned j = i;
				while (j < to && s->seen[j] == 0)
					j++;
				fprintf(stderr, "  missing [%u,%u)\n", i, j);
				shown++;
			}
	}
	if (missing || dup || extra)
		fprintf(stderr, "  exact [%u,%u): missing %llu dup %llu extra "
		        "%llu\n", from, to, (unsigned long long)missing,
		        (unsigned long long)dup, (unsigned long long)extra);
	assert_int_equal(missing, 0);
	assert_int_equal(dup, 0);
	assert_int_equal(extra, 0);
}

/* formats line `seq` into b; @return its length (with '\n'). */
static inline size_t tt_fmt(char *b, unsigned seq, unsigned pad)
{
	int n = sprintf(b, "L%09u ", seq);
	for (unsigned i = 0; i < pad; i++)
		b[n++] = (char)('a' + (seq + i) % 26);
	b[n++] = '\n';
	return (size_t)n;
}

/* appends lines [from, to) to path (O_APPEND), in a few big writes. */
static inline void tt_write(const char *path, unsigned from, unsigned to)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	static char buf[1 << 16];
	size_t n = 0;
	for (unsigned q = from; q < to; q++) {
		if (n + 200 > sizeof(buf)) {
			assert_int_equal(write(fd, buf, n), (ssize_t)n);
			n = 0;
		}
		n += tt_fmt(buf + n, q, 20 + q % 50);
	}
	if (n)
		assert_int_equal(write(fd, buf, n), (ssize_t)n);
	close(fd);
}

static inline void tt_append_raw(const char *path, const char *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
}

static inline char *tt_mkdtemp(void)
{
	char *d = strdup("/tmp/agt_tail_XXXXXX");
	assert_non_null(mkdtemp(d));
	return d;
}

static inline void tt_rmrf(const char *d)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	if (system(cmd) != 0)
		fprintf(stderr, "  cleanup of %s failed\n", d);
}

static inline void tt_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (level >= 1 || getenv("TT_VERBOSE"))
		fprintf(stderr, "  [tail %d] %s\n", level, msg);
}

/* a one-input config with the sink wired in. `glob` is copied by create. */
typedef struct tt_cfg {
	agt_tail_config cfg;
	agt_tail_input in;
	const char *globs[2];
	char state[1024];
} tt_cfg;

static inline void tt_cfg_init(tt_cfg *c, tt_sink *s, const char *glob,
                               const char *state_path)
{
	memset(c, 0, sizeof(*c));
	c->globs[0] = glob;
	c->in.name = "test";
	c->in.globs = c->globs;
	c->in.n_globs = 1;
	c->cfg.inputs = &c->in;
	c->cfg.n_inputs = 1;
	c->cfg.on_line = tt_on_line;
	c->cfg.on_line_ctx = s;
	c->cfg.log = tt_log;
	c->cfg.rotate_wait_ms = 100;
	c->cfg.forget_ms = 1; /* tests count tracked files */
	if (state_path) {
		snprintf(c->state, sizeof(c->state), "%s", state_path);
		c->cfg.state_path = c->state;
	}
}

static inline agt_tail *tt_create(tt_cfg *c, tt_sink *s)
{
	agt_tail *t = NULL;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	ksk_err rc = agt_tail_create(&c->cfg, &t, &ei);
	if (rc != KSK_OK)
		fprintf(stderr, "create: %s\n", ei.msg);
	assert_int_equal(rc, KSK_OK);
	s->t = t;
	return t;
}

/* the end of a scenario: the tailer, the sink and the temporary folder */
static inline void tt_finish(agt_tail *t, tt_sink *s, char *dir)
{
	agt_tail_destroy(t);
	tt_sink_fini(s);
	tt_rmrf(dir);
	free(dir);
}

#endif /* TEST_TAIL_UTIL_H */
