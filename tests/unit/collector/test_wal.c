/*
 * test_wal.c : the collector's write-ahead log (collector/col_wal.h):
 * append and replay, torn tails at every offset, a corrupt record in the
 * middle, header damage, group commit under 8 threads, sticky fsync
 * failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "col_wal.h"
#include "kiseki/frame.h"

typedef struct rec {
	uint8_t *body;
	uint32_t len;
	uint64_t off;
} rec;

typedef struct seen {
	rec r[512];
	uint32_t n;
} seen;

typedef struct logs {
	int warnings, errors;
	char last[512];
} logs;

static void log_fn(void *ctx, int level, const char *msg)
{
	logs *l = ctx;
	if (level == 1)
		l->warnings++;
	if (level == 2)
		l->errors++;
	snprintf(l->last, sizeof(l->last), "%s", msg);
}

static ksk_err seen_cb(void *ctx, uint64_t off, const uint8_t *body, uint32_t len)
{
	seen *s = ctx;
	assert_true(s->n < 512);
	s->r[s->n].body = malloc(len);
	memcpy(s->r[s->n].body, body, len);
	s->r[s->n].len = len;
	s->r[s->n].off = off;
	s->n++;
	return KSK_OK;
}

static void seen_free(seen *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		free(s->r[i].body);
	s->n = 0;
}

static void rm_rf(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char p[4096];
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			rm_rf(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

/* A fake frame body: "KSKF" then deterministic bytes. */
static void make_body(uint8_t *b, uint32_t len, uint32_t seed)
{
	memcpy(b, "KSKF", 4);
	uint32_t x = seed * 2654435761u + 1;
	for (uint32_t i = 4; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (uint8_t)x;
	}
}

typedef struct fixture {
	char dir[64];
	logs lg;
	col_wal_counters ctr;
	col_wal_env env;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/ksk_wal_XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->env.counters = &f->ctr;
	f->env.log = log_fn;
	f->env.log_ctx = &f->lg;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	rm_rf(f->dir);
	free(f);
	return 0;
}

/* Writes `n` records of varying sizes; returns their end offsets. */
static void write_records(fixture *f, uint32_t n, uint64_t *ends, uint32_t *lens)
{
	col_wal *w;
	assert_int_equal(col_wal_create(&f->env, f->dir, 1, 1000, &w, NULL), KSK_OK);
	uint8_t buf[4096];
	for (uint32_t i = 0; i < n; i++) {
		uint32_t len = 56 + (i * 37) % 900;
		make_body(buf, len, i);
		uint64_t off, end;
		assert_int_equal(col_wal_append(w, buf, len, &off, &end, NULL), KSK_OK);
		assert_int_equal(end, off + len);
		if (ends)
			ends[i] = end;
		if (lens)
			lens[i] = len;
	}
	assert_int_equal(col_wal_sync(w, col_wal_end(w), NULL), KSK_OK);
	assert_int_equal(col_wal_records(w), n);
	col_wal_close(w);
}

static void check_records(const seen *s, uint32_t n)
{
	uint8_t buf[4096];
	assert_int_equal(s->n, n);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t len = 56 + (i * 37) % 900;
		make_body(buf, len, i);
		assert_int_equal(s->r[i].len, len);
		assert_memory_equal(s->r[i].body, buf, len);
	}
}

static void test_append_replay(void **state)
{
	fixture *f = *state;
	write_records(f, 20, NULL, NULL);
	seen s = {.n = 0};
	col_wal *w;
	assert_int_equal(col_wal_open(&f->env, f->dir, 1, 5, seen_cb, &s, &w, NULL), KSK_OK);
	check_records(&s, 20);
	assert_int_equal(col_wal_created_ns(w), 1000);
	assert_int_equal(f->lg.warnings + f->lg.errors, 0);
	/* pread returns the same bytes */
	uint8_t buf[4096];
	assert_int_equal(col_wal_pread(w, s.r[7].off, buf, s.r[7].len, NULL), KSK_OK);
	assert_memory_equal(buf, s.r[7].body, s.r[7].len);
	/* appending after recovery continues the file; a rescan sees all */
	make_body(buf, 100, 99);
	uint64_t off, end;
	assert_int_equal(col_wal_append(w, buf, 100, &off, &end, NULL), KSK_OK);
	seen s2 = {.n = 0};
	assert_int_equal(col_wal_scan(w, seen_cb, &s2, NULL), KSK_OK);
	assert_int_equal(s2.n, 21);
	assert_memory_equal(s2.r[20].body, buf, 100);
	/* bad sizes are refused */
	assert_int_equal(col_wal_append(w, buf, 10, &off, &end, NULL), KSK_EINVAL);
	col_wal_close(w);
	seen_free(&s);
	seen_free(&s2);
}

static void wal_file(fixture *f, char *p, size_t cap)
{
	col_wal_path_for(f->dir, 1, p, cap);
}

static void test_torn_tail_every_offset(void **state)
{
	fixture *f = *state;
	uint64_t ends[12];
	uint32_t lens[12];
	char path[256];
	wal_file(f, path, sizeof(path));
	/* cut points: every offset inside the last record, plus some earlier */
	write_records(f, 12, ends, lens);
	uint64_t start_last = ends[10];
	uint64_t cuts[2048];
	uint32_t nc = 0;
	for (uint64_t c = start_last; c < ends[11]; c++)
		cuts[nc++] = c;
	cuts[nc++] = ends[3] + 1;
	cuts[nc++] = ends[5] + 7;
	cuts[nc++] = ends[8] - 3;
	cuts[nc++] = COL_WAL_HDR_LEN + 2;
	for (uint32_t k = 0; k < nc; k++) {
		rm_rf(f->dir);
		mkdir(f->dir, 0755);
		write_records(f, 12, NULL, NULL);
		assert_int_equal(truncate(path, (off_t)cuts[k]), 0);
		uint32_t complete = 0;
		while (complete < 12 && ends[complete] <= cuts[k])
			complete++;
		seen s = {.n = 0};
		col_wal *w;
		int warn0 = f->lg.warnings;
		assert_int_equal(col_wal_open(&f->env, f->dir, 1, 5, seen_cb, &s, &w, NULL), KSK_OK);
		check_records(&s, complete);
		uint64_t good = complete ? ends[complete - 1] : COL_WAL_HDR_LEN;
		assert_int_equal(col_wal_end(w), good);
		if (cuts[k] != good)
			assert_int_equal(f->lg.warnings, warn0 + 1);
		col_wal_close(w);
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal((uint64_t)st.st_size, good);
		seen_free(&s);
	}
}

static void test_corrupt_middle(void **state)
{
	fixture *f = *state;
	uint64_t ends[10];
	write_records(f, 10, ends, NULL);
	char path[256];
	wal_file(f, path, sizeof(path));
	/* flip a body byte of record 4 (CRC mismatch) */
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t b;
	off_t at = (off_t)ends[3] + 8 + 20;
	assert_int_equal(pread(fd, &b, 1, at), 1);
	b ^= 0x5a;
	assert_int_equal(pwrite(fd, &b, 1, at), 1);
	/* and damage the length field of record 7 */
	uint8_t junk[4] = {0xff, 0xff, 0xff, 0x7f};
	assert_int_equal(pwrite(fd, junk, 4, (off_t)ends[6]), 4);
	close(fd);
	seen s = {.n = 0};
	col_wal *w;
	assert_int_equal(col_wal_open(&f->env, f->dir, 1, 5, seen_cb, &s, &w, NULL), KSK_OK);
	assert_int_equal(s.n, 8);
	assert_int_equal(f->lg.errors, 2);
	assert_int_equal(f->lg.warnings, 0);
	assert_int_equal(col_wal_end(w), ends[9]); /* nothing truncated */
	uint8_t buf[4096];
	uint32_t idx[8] = {0, 1, 2, 3, 5, 6, 8, 9};
	for (uint32_t i = 0; i < 8; i++) {
		uint32_t len = 56 + (idx[i] * 37) % 900;
		make_body(buf, len, idx[i]);
		assert_int_equal(s.r[i].len, len);
		assert_memory_equal(s.r[i].body, buf, len);
	}
	col_wal_close(w);
	seen_free(&s);
}

static void test_header_damage(void **state)
{
	fixture *f = *state;
	char path[256];
	wal_file(f, path, sizeof(path));
	/* shorter than a header: rewritten */
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(write(fd, "KSKW", 4), 4);
	close(fd);
	col_wal *w;
	assert_int_equal(col_wal_open(&f->env, f->dir, 1, 77, NULL, NULL, &w, NULL), KSK_OK);
	assert_int_equal(col_wal_end(w), COL_WAL_HDR_LEN);
	assert_int_equal(col_wal_created_ns(w), 77);
	col_wal_close(w);
	/* a wrong magic on a full header is not a log */
	write_records(f, 3, NULL, NULL);
	fd = open(path, O_RDWR);
	assert_int_equal(pwrite(fd, "XXXX", 4, 0), 4);
	close(fd);
	ksk_errinfo ei;
	assert_int_equal(col_wal_open(&f->env, f->dir, 1, 77, NULL, NULL, &w, &ei),
	                 KSK_ECORRUPT);
	assert_non_null(strstr(ei.msg, "header"));
}

typedef struct gc_arg {
	col_wal *w;
	pthread_mutex_t *mu;
	int n;
	int id;
	int fails;
} gc_arg;

static void *gc_thread(void *p)
{
	gc_arg *a = p;
	uint8_t buf[300];
	for (int i = 0; i < a->n; i++) {
		make_body(buf, sizeof(buf), (uint32_t)(a->id * 1000 + i));
		uint64_t off, end;
		pthread_mutex_lock(a->mu);
		ksk_err rc = col_wal_append(a->w, buf, sizeof(buf), &off, &end, NULL);
		pthread_mutex_unlock(a->mu);
		if (rc != KSK_OK || col_wal_sync(a->w, end, NULL) != KSK_OK ||
		    col_wal_synced(a->w) < end)
			a->fails++;
	}
	return NULL;
}

static void test_group_commit(void **state)
{
	fixture *f = *state;
	col_wal *w;
	assert_int_equal(col_wal_create(&f->env, f->dir, 1, 1, &w, NULL), KSK_OK);
	uint64_t base = f->ctr.fsyncs;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_t th[8];
	gc_arg args[8];
	for (int i = 0; i < 8; i++) {
		args[i] = (gc_arg){w, &mu, 40, i, 0};
		pthread_create(&th[i], NULL, gc_thread, &args[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].fails, 0);
	}
	uint64_t syncs = f->ctr.fsyncs - base;
	print_message("group commit: 320 appends, %llu fsyncs\n", (unsigned long long)syncs);
	assert_true(syncs < 320);
	assert_true(syncs > 0);
	assert_int_equal(col_wal_synced(w), col_wal_end(w));
	assert_int_equal(col_wal_records(w), 320);
	col_wal_close(w);
}

static void test_sync_failure_sticky(void **state)
{
	fixture *f = *state;
	col_wal *w;
	assert_int_equal(col_wal_create(&f->env, f->dir, 1, 1, &w, NULL), KSK_OK);
	uint8_t buf[100];
	make_body(buf, 100, 1);
	uint64_t off, end;
	assert_int_equal(col_wal_append(w, buf, 100, &off, &end, NULL), KSK_OK);
	col_wal_fail_next_sync(w);
	ksk_errinfo ei;
	assert_int_equal(col_wal_sync(w, end, &ei), KSK_EIO);
	assert_true(col_wal_failed(w));
	/* a later fsync would succeed at the OS level but proves nothing */
	assert_int_equal(col_wal_sync(w, end, NULL), KSK_EIO);
	col_wal_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_every_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_middle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_damage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_failure_sticky, setup, teardown),
	};
	return cmocka_run_group_tests_name("col_wal", tests, NULL, NULL);
}
