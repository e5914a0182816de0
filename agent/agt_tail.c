/*
 * agt_tail.c : the agent's file tailer (agt_tail.h).
 *
 * Role: turn the files matched by the inputs' globs into lines, without
 * losing or duplicating a byte across rotation, truncation, deletion,
 * inode reuse and restarts. Data in: files on disk, inotify events, the
 * state file, positions restored by the caller, commits. Data out: lines
 * (callback) each with an agt_file_pos; the state file; per-file stats
 * (sizes: the reader's at EOF, or an fstat by agt_tail_stat_files() when
 * the caller builds metrics, so a file whose reading stopped shows lag).
 *
 * File table: one agt_tfile per file identity (dev, ino, gen).
 *
 *     (checkpoint)           first scan / event / orphan search
 *      UNRESOLVED ---------------------------------------+
 *                                                          v
 *   new path found ----------------------------------> ATTACHED
 *                    path renamed away / deleted /      |    ^
 *                    replaced (detach())                v    | renamed back under
 *                                                    DETACHED  a matching name
 *                    drained to EOF and quiet for           |
 *                    rotate_wait (maybe_close_detached())   v
 *                                                        DONE (fd closed)
 *                    commit_off >= read_off and forget_ms       |
 *                    passed (tombstone; deleted: at once) reap() v
 *                                                          freed
 *  A DETACHED file that is rewritten (shrinks, marker changes) is finished
 *  (file_restart() -> abandoned -> DONE) instead of being re-read.
 *  Unresolved checkpoints (state file + agt_tail_restore()) live in a
 *  separate array until the first scan binds them to files (ensure_open()
 *  verifies them); what is left after the first scan and the orphan search
 *  is dropped.
 *
 * Files never seen (no checkpoint, no event): adopt_moved() (IN_MOVED_TO
 * from one of our names), adopt_siblings() (name = glob match + rotation
 * suffix, renamed after the last save / overflow / scan) and adopt_copy()
 * (the copy made by copytruncate, read from where the truncated original
 * was read to: f->prev).
 *
 * Invariants:
 *  - read_off is the start of the next undelivered line; it only moves by
 *    delivering a line (or to 0 on truncation/replacement).
 *  - read_marker is the hash of the bytes [read_off - mlen, read_off), with
 *    mlen = min(read_off, 32). Every pread starts mlen bytes before
 *    read_off, so the marker is re-checked on every read: a file rewritten
 *    or truncated and regrown behind our back is detected and re-read from
 *    0 (duplicates rather than loss).
 *  - commit_off <= read_off for the current generation; it moves only by
 *    agt_tail_commit(), restore, or a truncation (back to 0).
 *  - A file is never closed while it has unread bytes, except by the fd
 *    cap for ATTACHED files at EOF (those are reopened by path and found
 *    by identity in their directory if they were renamed meanwhile).
 *  - No per-line allocation: lines are slices of one shared read buffer.
 *    A line without its '\n' is not buffered: it is re-read from the file
 *    at the next round (the file is the buffer).
 *
 * Threading: single owner thread; no locks.
 */
#include "agt_tail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kiseki/frame.h"

enum { F_ATTACHED = 0, F_DETACHED = 1, F_DONE = 2 };
enum { RD_OK = 0, RD_STOP = 1, RD_RATE = 2, RD_MORE = 3 };

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull
#define OPEN_RETRY_NS (200ull * NS_PER_MS)
#define STATE_MAGIC "kiseki-tail-state 1"

typedef struct agt_tinput {
	char *name;                /* owned, "" when none */
	char **globs;              /* owned strings */
	size_t n_globs;
	char **excludes;           /* owned strings */
	size_t n_excludes;
	agt_tail_start start;
	size_t max_line;
	uint64_t flush_ns;
	agt_tail_rate_unit rate_unit;
	uint64_t rate;             /* per second; 0 = unlimited */
	int64_t tokens;            /* token bucket */
	uint64_t refill_at;        /* mono ns of the last refill */
	uint64_t blocked_until;    /* mono ns; 0 = not blocked */
	void *user;                /* borrowed */
} agt_tinput;

typedef struct agt_tfile {
	char *path;                /* owned; current known path */
	uint64_t path_hash;        /* agt_tail_hash(path) for the index */
	size_t input;              /* index into t->inputs */
	uint64_t dev, ino;         /* identity */
	uint32_t gen;              /* tailer-local generation */
	int state;                 /* F_* */
	int fd;                    /* owned; -1 when closed */
	bool pending;              /* needs a read round */
	bool at_eof;               /* last round ended at EOF */
	bool seen;                 /* scan mark */
	bool deleted;              /* st_nlink == 0 */
	bool need_verify;          /* cp_* must be checked at open */
	bool init_tail;            /* start at read_off (tail) at open */
	bool orphan;               /* found by identity outside the globs */
	bool has_partial;          /* a partial line waits at partial_off */
	bool resumed;              /* cp verified: commits of cp.gen count */
	uint8_t read_mlen;         /* marker length at read_off */
	uint8_t commit_mlen;       /* marker length at commit_off */
	uint32_t head_len;         /* bytes in head */
	uint8_t head[AGT_TAIL_FP_MAX]; /* first bytes of the file */
	uint64_t fp;               /* hash of head[0..head_len) */
	uint64_t read_off;         /* next undelivered byte (line start) */
	uint64_t read_marker;      /* hash of bytes before read_off */
	uint64_t commit_off;       /* durable up to here */
	uint64_t commit_marker;    /* hash of bytes before commit_off */
	uint64_t size;             /* last size seen */
	uint64_t live_size;        /* fstat size for metrics (agt_tail_stat_files),
	                              0 = none since the last restart */
	uint64_t scan_off;         /* long line: scanned to here, no '\n' */
	uint64_t partial_off;      /* read_off when the partial was seen */
	uint64_t partial_since;    /* mono ns when first seen */
	uint64_t eof_since;        /* DETACHED: mono ns when drained */
	uint64_t retry_at;         /* mono ns: next open attempt */
	uint32_t open_fails;       /* consecutive failed opens */
	uint64_t last_active;      /* mono ns of the last delivery */
	uint64_t done_at;          /* mono ns when it became DONE */
	bool no_keep;              /* DONE: forget at once (deleted, not
	                              ours) rather than keep as tombstone */
	agt_file_pos cp;           /* checkpoint to verify (need_verify) */
	agt_file_pos prev;         /* where a vanished generation (truncated,
	                              replaced) was read to: a copy of it
	                              (copytruncate) is read from there */
	bool copy_hunt;            /* look for that copy after this run */
	bool abandoned;            /* DETACHED file rewritten: close it */
	uint64_t lines, bytes, truncated, rotations; /* stats */
} agt_tfile;

typedef struct agt_tckpt {
	agt_file_pos pos;          /* the position */
	char *path;                /* owned; NULL when unknown (restored) */
} agt_tckpt;

typedef struct agt_tdir {
	int wd;                    /* inotify watch */
	char *path;                /* owned */
} agt_tdir;

struct agt_tail {
	const ksk_alloc *al;       /* resolved allocator */
	const ksk_clock *clock;    /* resolved clock */
	agt_tail_line_fn on_line;
	void *on_line_ctx;
	agt_tail_log_fn log;
	void *log_ctx;
	char *state_path;          /* owned or NULL */
	agt_tinput *inputs;        /* owned array */
	size_t n_inputs;
	agt_tfile **files;         /* owned array of owned files */
	size_t n_files, cap_files;
	agt_tfile **ix;            /* path index: open addressing, owned */
	size_t ix_cap;             /* power of two, 0 = none */
	bool ix_dirty;             /* rebuild before the next lookup */
	agt_tckpt *cps;            /* unresolved checkpoints */
	size_t n_cps, cap_cps;
	agt_tdir *dirs;            /* watched directories */
	size_t n_dirs, cap_dirs;
	int ifd;                   /* inotify fd or -1 */
	uint8_t *buf;              /* shared read buffer */
	size_t bufsz;
	uint64_t scan_ns, rotate_wait_ns;
	uint64_t forget_ns;        /* tombstone retention of DONE files */
	uint64_t state_mtime;      /* wall ns of the loaded state file, 0 */
	uint64_t events_ok_wall;   /* wall ns: events handled, no overflow */
	uint64_t last_scan_wall;   /* wall ns of the previous scan */
	size_t max_open, run_bytes, file_quantum;
	size_t n_open;             /* fds held */
	size_t rr;                 /* round-robin start index */
	uint64_t next_scan;        /* mono ns */
	uint32_t gen_seq;          /* last generation handed out */
	bool started;              /* first run done */
	bool had_state;            /* not a first start: a state file existed
	                              or positions were restored */
	bool need_scan;            /* overflow / dir event */
	bool need_full;            /* next scan must stat every file */
	bool overflowed;           /* inotify lost events since last scan */
	bool paused;               /* the callback said stop */
	bool more;                 /* budget ran out with work left */
	bool flushing;             /* agt_tail_flush() in progress */
	agt_tfile *cb_file;        /* file of the line in the callback now */
	uint64_t cb_end;           /* and that line's end offset */
	agt_tail_counters c;
	char evbuf[8192] __attribute__((aligned(8))); /* inotify events */
};

/* ------------------------------------------------------------------ */
/* small helpers                                                        */

static void tlog(agt_tail *t, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void tlog(agt_tail *t, int level, const char *fmt, ...)
{
	if (!t->log)
		return;
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	t->log(t->log_ctx, level, msg);
}

static inline uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

uint64_t agt_tail_hash(const void *p, size_t n)
{
	const uint8_t *s = p;
	const uint64_t k1 = 0x87C37B91114253D5ull, k2 = 0x4CF5AD432745937Full;
	uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xC2B2AE3D27D4EB4Full);
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, s, 8);
		h ^= rotl64(w * k1, 31) * k2;
		h = rotl64(h, 27) * 5 + 0x52DCE729;
		s += 8;
		n -= 8;
	}
	if (n) {
		uint64_t w = 0;
		memcpy(&w, s, n);
		h ^= rotl64(w * k1, 31) * k2;
	}
	h ^= h >> 33;
	h *= 0xFF51AFD7ED558CCDull;
	h ^= h >> 33;
	h *= 0xC4CEB9FE1A85EC53ull;
	h ^= h >> 33;
	return h;
}

static char *tstrdup(agt_tail *t, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = ksk_malloc(t->al, n);
	if (d)
		memcpy(d, s, n);
	return d;
}

static uint64_t now_ns(agt_tail *t)
{
	return ksk_clock_mono(t->clock);
}

/* real wall time, for comparisons with file timestamps (ctime): those
 * come from the kernel, so the injected clock must not be used here. */
static uint64_t fs_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* pread until n bytes or EOF. @return bytes read, -1 on error. */
static ssize_t pread_full(int fd, void *b, size_t n, uint64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, (uint8_t *)b + got, n - got,
		                  (off_t)(off + got));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* marker of the bytes before `off`, read from the file. */
static int marker_at(int fd, uint64_t off, uint64_t *m, uint8_t *mlen)
{
	uint8_t b[AGT_TAIL_MARKER_MAX];
	size_t n = off < AGT_TAIL_MARKER_MAX ? (size_t)off : AGT_TAIL_MARKER_MAX;
	if (pread_full(fd, b, n, off - n) != (ssize_t)n)
		return -1;
	*m = agt_tail_hash(b, n);
	*mlen = (uint8_t)n;
	return 0;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

/* dirname into out (no allocation). */
static void dir_name(const char *p, char *out, size_t cap)
{
	const char *s = strrchr(p, '/');
	if (!s) {
		snprintf(out, cap, ".");
		return;
	}
	size_t n = (size_t)(s - p);
	if (n == 0)
		n = 1;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

/* ------------------------------------------------------------------ */
/* inputs                                                               */

static bool excluded(const agt_tinput *in, const char *path)
{
	for (size_t i = 0; i < in->n_excludes; i++) {
		const char *x = in->excludes[i];
		const char *subject = strchr(x, '/') ? path : base_name(path);
		if (fnmatch(x, subject, FNM_PATHNAME | FNM_PERIOD) == 0)
			return true;
	}
	return false;
}

/* first input whose globs match `path` and whose excludes do not. */
static int match_input(const agt_tail *t, const char *path)
{
	for (size_t i = 0; i < t->n_inputs; i++) {
		const agt_tinput *in = &t->inputs[i];
		for (size_t g = 0; g < in->n_globs; g++) {
			if (fnmatch(in->globs[g], path,
			            FNM_PATHNAME | FNM_PERIOD) == 0) {
				if (excluded(in, path))
					break;
				return (int)i;
			}
		}
	}
	return -1;
}

/* input whose glob directory equals `dir`; 0 if none. */
static size_t input_for_dir(const agt_tail *t, const char *dir)
{
	char d[PATH_MAX];
	for (size_t i = 0; i < t->n_inputs; i++)
		for (size_t g = 0; g < t->inputs[i].n_globs; g++) {
			dir_name(t->inputs[i].globs[g], d, sizeof(d));
			if (fnmatch(d, dir, FNM_PATHNAME) == 0)
				return i;
		}
	return 0;
}

/* token bucket: @return true when one more line may be delivered. */
static bool rate_ok(agt_tail *t, agt_tinput *in, uint64_t now)
{
	if (in->rate_unit == AGT_TAIL_RATE_NONE || in->rate == 0)
		return true;
	if (now > in->refill_at) {
		uint64_t el = now - in->refill_at;
		if (el > NS_PER_S)
			el = NS_PER_S;
		uint64_t add = (uint64_t)((__uint128_t)el * in->rate / NS_PER_S);
		if (add > 0 || el == NS_PER_S) {
			in->tokens += (int64_t)add;
			if (in->tokens > (int64_t)in->rate)
				in->tokens = (int64_t)in->rate;
			in->refill_at = now;
		}
	}
	if (in->tokens > 0) {
		in->blocked_until = 0;
		return true;
	}
	uint64_t need = (uint64_t)(1 - in->tokens);
	uint64_t wait = (uint64_t)(((__uint128_t)need * NS_PER_S + in->rate - 1) /
	                           in->rate);
	in->blocked_until = now + (wait ? wait : 1);
	t->c.rate_waits++;
	return false;
}

/* ------------------------------------------------------------------ */
/* file table                                                           */

static void file_close(agt_tail *t, agt_tfile *f)
{
	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
		t->n_open--;
	}
}

static void file_free(agt_tail *t, agt_tfile *f)
{
	file_close(t, f);
	ksk_free(t->al, f->path);
	ksk_free(t->al, f);
}

static void ix_put(agt_tail *t, agt_tfile *f);
static bool known_devino(agt_tail *t, uint64_t dev, uint64_t ino, int fd);

static agt_tfile *file_new(agt_tail *t, size_t input, const char *path,
                           uint64_t dev, uint64_t ino)
{
	if (t->n_files == t->cap_files) {
		size_t nc = t->cap_files ? t->cap_files * 2 : 16;
		agt_tfile **nf = ksk_realloc(t->al, t->files, nc * sizeof(*nf));
		if (!nf)
			return NULL;
		t->files = nf;
		t->cap_files = nc;
	}
	agt_tfile *f = ksk_calloc(t->al, 1, sizeof(*f));
	if (!f)
		return NULL;
	f->path = tstrdup(t, path);
	if (!f->path) {
		ksk_free(t->al, f);
		return NULL;
	}
	f->path_hash = agt_tail_hash(path, strlen(path));
	f->input = input;
	f->dev = dev;
	f->ino = ino;
	f->gen = ++t->gen_seq;
	if (f->gen == 0)
		f->gen = ++t->gen_seq;
	f->fd = -1;
	f->pending = true;
	f->read_marker = f->commit_marker = agt_tail_hash("", 0);
	f->fp = agt_tail_hash("", 0);
	t->files[t->n_files++] = f;
	if (!t->ix_dirty && t->ix_cap && t->n_files * 2 < t->ix_cap)
		ix_put(t, f);
	else
		t->ix_dirty = true;
	return f;
}

/* ---- path index (the scan looks up every path once per interval) ---- */

static void ix_put(agt_tail *t, agt_tfile *f)
{
	size_t m = t->ix_cap - 1, i = (size_t)f->path_hash & m;
	while (t->ix[i])
		i = (i + 1) & m;
	t->ix[i] = f;
}

static void ix_rebuild(agt_tail *t)
{
	size_t need = 64;
	while (need < t->n_files * 2 + 16)
		need <<= 1;
	if (need != t->ix_cap) {
		agt_tfile **n = ksk_calloc(t->al, need, sizeof(*n));
		ksk_free(t->al, t->ix);
		t->ix = n;
		t->ix_cap = n ? need : 0;
	} else {
		memset(t->ix, 0, t->ix_cap * sizeof(*t->ix));
	}
	if (t->ix_cap)
		for (size_t i = 0; i < t->n_files; i++)
			ix_put(t, t->files[i]);
	t->ix_dirty = false;
}

static void set_path(agt_tail *t, agt_tfile *f, char *owned)
{
	ksk_free(t->al, f->path);
	f->path = owned;
	f->path_hash = agt_tail_hash(owned, strlen(owned));
	t->ix_dirty = true;
}

/* a live (not DONE) file with this path; ATTACHED ones first. */
static agt_tfile *find_by_path(agt_tail *t, const char *path)
{
	agt_tfile *det = NULL;
	uint64_t h = agt_tail_hash(path, strlen(path));
	if (t->ix_dirty || !t->ix_cap)
		ix_rebuild(t);
	if (!t->ix_cap) { /* no memory for the index: linear */
		for (size_t i = 0; i < t->n_files; i++) {
			agt_tfile *f = t->files[i];
			if (f->state == F_DONE || strcmp(f->path, path) != 0)
				continue;
			if (f->state == F_ATTACHED)
				return f;
			det = f;
		}
		return det;
	}
	size_t m = t->ix_cap - 1;
	for (size_t i = (size_t)h & m; t->ix[i]; i = (i + 1) & m) {
		agt_tfile *f = t->ix[i];
		if (f->path_hash != h || f->state == F_DONE ||
		    strcmp(f->path, path) != 0)
			continue;
		if (f->state == F_ATTACHED)
			return f;
		det = f;
	}
	return det;
}

static agt_tfile *find_live_devino(agt_tail *t, uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < t->n_files; i++) {
		agt_tfile *f = t->files[i];
		if (f->state != F_DONE && f->dev == dev && f->ino == ino)
			return f;
	}
	return NULL;
}

/* an unresolved checkpoint for dev/ino, the largest offset first. */
static ptrdiff_t find_cp(agt_tail *t, uint64_t dev, uint64_t ino)
{
	ptrdiff_t best = -1;
	for (size_t i = 0; i < t->n_cps; i++) {
		const agt_file_pos *p = &t->cps[i].pos;
		if (p->dev == dev && p->ino == ino &&
		    (best < 0 || p->offset > t->cps[best].pos.offset))
			best = (ptrdiff_t)i;
	}
	return best;
}

static bool cp_path_known(agt_tail *t, const char *path)
{
	for (size_t i = 0; i < t->n_cps; i++)
		if (t->cps[i].path && strcmp(t->cps[i].path, path) == 0)
			return true;
	return false;
}

static void cp_remove(agt_tail *t, size_t i)
{
	ksk_free(t->al, t->cps[i].path);
	t->cps[i] = t->cps[--t->n_cps];
}

/* removes every unresolved checkpoint of dev/ino (the first one that
 * verifies is used; the others are stale generations). */
static void cp_remove_devino(agt_tail *t, uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < t->n_cps;) {
		if (t->cps[i].pos.dev == dev && t->cps[i].pos.ino == ino)
			cp_remove(t, i);
		else
			i++;
	}
}

static ksk_err cp_add(agt_tail *t, const agt_file_pos *p, const char *path)
{
	for (size_t i = 0; i < t->n_cps; i++) {
		agt_tckpt *c = &t->cps[i];
		if (c->pos.dev == p->dev && c->pos.ino == p->ino &&
		    c->pos.fp == p->fp && c->pos.fp_len == p->fp_len) {
			if (p->offset > c->pos.offset)
				c->pos = *p;
			if (!c->path && path) {
				c->path = tstrdup(t, path);
				if (!c->path)
					return KSK_ENOMEM;
			}
			return KSK_OK;
		}
	}
	if (t->n_cps == t->cap_cps) {
		size_t nc = t->cap_cps ? t->cap_cps * 2 : 16;
		agt_tckpt *n = ksk_realloc(t->al, t->cps, nc * sizeof(*n));
		if (!n)
			return KSK_ENOMEM;
		t->cps = n;
		t->cap_cps = nc;
	}
	agt_tckpt *c = &t->cps[t->n_cps];
	c->pos = *p;
	c->path = NULL;
	if (path) {
		c->path = tstrdup(t, path);
		if (!c->path)
			return KSK_ENOMEM;
	}
	t->n_cps++;
	return KSK_OK;
}

/* closes the least recently active idle ATTACHED file. */
static bool evict_one(agt_tail *t)
{
	agt_tfile *v = NULL;
	for (size_t i = 0; i < t->n_files; i++) {
		agt_tfile *f = t->files[i];
		if (f->fd < 0 || f->state != F_ATTACHED || f->pending ||
		    !f->at_eof || f->has_partial || f->scan_off)
			continue;
		if (!v || f->last_active < v->last_active)
			v = f;
	}
	if (!v)
		return false;
	file_close(t, v);
	return true;
}

/* searches `dir` for dev/ino; on success *out is an owned path. */
static bool find_in_dir(agt_tail *t, const char *dir, uint64_t dev,
                        uint64_t ino, char **out)
{
	DIR *d = opendir(dir);
	if (!d)
		return false;
	struct dirent *e;
	char p[PATH_MAX];
	bool found = false;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' && (e->d_name[1] == '\0' ||
		    (e->d_name[1] == '.' && e->d_name[2] == '\0')))
			continue;
		/* d_ino equals st_ino on the file systems we support;
		 * confirm with stat (device too). */
		if ((uint64_t)e->d_ino != ino)
			continue;
		snprintf(p, sizeof(p), "%s/%s", strcmp(dir, "/") ? dir : "",
		         e->d_name);
		struct stat st;
		if (stat(p, &st) == 0 && (uint64_t)st.st_dev == dev &&
		    (uint64_t)st.st_ino == ino && S_ISREG(st.st_mode)) {
			*out = tstrdup(t, p);
			found = *out != NULL;
			break;
		}
	}
	closedir(d);
	return found;
}

/* reads the head; a head that changed under us means the content was
 * replaced. @return 0, or 1 when the old head is not a prefix. */
static int head_refresh(agt_tail *t, agt_tfile *f)
{
	if (f->head_len >= AGT_TAIL_FP_MAX)
		return 0;
	uint8_t h[AGT_TAIL_FP_MAX];
	ssize_t n = pread_full(f->fd, h, AGT_TAIL_FP_MAX, 0);
	if (n < 0)
		return 0;
	if ((size_t)n < f->head_len || memcmp(h, f->head, f->head_len) != 0)
		return 1;
	if ((uint32_t)n != f->head_len) {
		memcpy(f->head, h, (size_t)n);
		f->head_len = (uint32_t)n;
		f->fp = agt_tail_hash(f->head, f->head_len);
	}
	return 0;
}

/* content replaced or truncated: start over at 0, new generation. */
/* @return true when f restarts at 0; false when f is a rotated file
 * (DETACHED): its name is no longer a log we follow, so rewriting it ends
 * it instead (it is closed, nothing more is read from it). */
static bool file_restart(agt_tail *t, agt_tfile *f, const char *why)
{
	if (f->state == F_DETACHED) {
		tlog(t, 1, "tail: %s: rotated file %s at offset %" PRIu64
		     "; finished", f->path, why, f->read_off);
		f->scan_off = 0;
		f->has_partial = false;
		f->pending = false;
		f->at_eof = true;
		f->abandoned = true;
		return false;
	}
	tlog(t, 1, "tail: %s: %s at offset %" PRIu64 ", reading from 0",
	     f->path, why, f->read_off);
	t->c.truncations++;
	f->rotations++;
	if (f->read_off > 0) {
		memset(&f->prev, 0, sizeof(f->prev));
		f->prev.dev = f->dev;
		f->prev.ino = f->ino;
		f->prev.fp = f->fp;
		f->prev.fp_len = (uint16_t)f->head_len;
		f->prev.offset = f->read_off;
		f->prev.marker = f->read_marker;
		f->prev.marker_len = f->read_mlen;
		f->copy_hunt = true;
	}
	f->read_off = f->commit_off = 0;
	f->live_size = 0;
	f->read_marker = f->commit_marker = agt_tail_hash("", 0);
	f->read_mlen = f->commit_mlen = 0;
	f->scan_off = 0;
	f->has_partial = false;
	f->head_len = 0;
	f->fp = agt_tail_hash("", 0);
	f->gen = ++t->gen_seq;
	f->resumed = false;
	f->pending = true;
	if (f->fd >= 0)
		(void)head_refresh(t, f);
	return true;
}

/* verifies f->cp against the open file (fingerprint prefix + marker). */
static bool cp_verify(agt_tfile *f, uint64_t size)
{
	const agt_file_pos *p = &f->cp;
	if (p->offset > size || p->fp_len > AGT_TAIL_FP_MAX ||
	    p->fp_len > size || p->marker_len > AGT_TAIL_MARKER_MAX)
		return false;
	uint8_t h[AGT_TAIL_FP_MAX];
	if (pread_full(f->fd, h, p->fp_len, 0) != (ssize_t)p->fp_len ||
	    agt_tail_hash(h, p->fp_len) != p->fp)
		return false;
	uint64_t m;
	uint8_t ml;
	if (marker_at(f->fd, p->offset, &m, &ml) != 0)
		return false;
	return ml == p->marker_len && m == p->marker;
}

/* opens f (by path; by identity in its directory if renamed).
 * @return 0 or -1 (not now: cap, error, gone). */
static int ensure_open(agt_tail *t, agt_tfile *f, uint64_t now)
{
	if (f->fd >= 0)
		return 0;
	if (now < f->retry_at)
		return -1;
	if (t->n_open >= t->max_open && !evict_one(t)) {
		f->retry_at = now + OPEN_RETRY_NS;
		return -1;
	}
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd >= 0 && (fstat(fd, &st) != 0 || (uint64_t)st.st_dev != f->dev ||
	                (uint64_t)st.st_ino != f->ino)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		/* renamed while closed: look for the identity next door */
		char dir[PATH_MAX];
		char *np = NULL;
		dir_name(f->path, dir, sizeof(dir));
		if (find_in_dir(t, dir, f->dev, f->ino, &np)) {
			fd = open(np, O_RDONLY | O_CLOEXEC);
			if (fd >= 0 && (fstat(fd, &st) != 0 ||
			                (uint64_t)st.st_ino != f->ino)) {
				close(fd);
				fd = -1;
			}
			if (fd >= 0) {
				set_path(t, f, np);
				if (f->state == F_ATTACHED &&
				    match_input(t, np) < 0)
					f->state = F_DETACHED;
			} else {
				ksk_free(t->al, np);
			}
		}
	}
	if (fd < 0) {
		uint32_t sh = f->open_fails < 6 ? f->open_fails : 6;
		f->open_fails++;
		f->retry_at = now + (OPEN_RETRY_NS << sh);
		return -1;
	}
	f->open_fails = 0;
	f->fd = fd;
	t->n_open++;
	f->size = (uint64_t)st.st_size;
	f->deleted = st.st_nlink == 0;
	if (f->need_verify) {
		f->need_verify = false;
		if (cp_verify(f, f->size)) {
			f->read_off = f->commit_off = f->cp.offset;
			f->read_marker = f->commit_marker = f->cp.marker;
			f->read_mlen = f->commit_mlen = f->cp.marker_len;
			f->resumed = true;
			t->c.ckpt_resumed++;
			tlog(t, 0, "tail: %s: resuming at offset %" PRIu64,
			     f->path, f->read_off);
		} else {
			t->c.identity_resets++;
			if (f->orphan) {
				/* not the file we knew, and not ours */
				f->state = F_DONE;
				f->no_keep = true;
				file_close(t, f);
				return -1;
			}
			tlog(t, 1, "tail: %s: checkpoint at %" PRIu64
			     " does not match the file (inode reuse or "
			     "rewrite); reading from 0", f->path, f->cp.offset);
			f->read_off = f->commit_off = 0;
			f->prev = f->cp;
		}
	}
	if (f->init_tail) {
		f->init_tail = false;
		if (f->read_off > f->size)
			f->read_off = f->size;
		if (marker_at(fd, f->read_off, &f->read_marker,
		              &f->read_mlen) != 0) {
			f->read_off = 0;
			f->read_marker = agt_tail_hash("", 0);
			f->read_mlen = 0;
		}
		f->commit_off = f->read_off;
		f->commit_marker = f->read_marker;
		f->commit_mlen = f->read_mlen;
	}
	if (head_refresh(t, f))
		(void)file_restart(t, f, "head changed");
	return 0;
}

/* the file at f->path is no longer f (renamed away, deleted, replaced). */
static void detach(agt_tail *t, agt_tfile *f, const char *why)
{
	if (f->state != F_ATTACHED)
		return;
	f->state = F_DETACHED;
	f->rotations++;
	t->c.rotations++;
	f->pending = true;
	f->eof_since = 0;
	if (f->fd >= 0) {
		struct stat st;
		if (fstat(f->fd, &st) == 0)
			f->deleted = st.st_nlink == 0;
	}
	tlog(t, 0, "tail: %s: %s; draining the old file", f->path, why);
}

/* ------------------------------------------------------------------ */
/* discovery                                                            */

static void add_file(agt_tail *t, size_t in, const char *path,
                     const struct stat *st, bool initial)
{
	agt_tfile *f = file_new(t, in, path, (uint64_t)st->st_dev,
	                        (uint64_t)st->st_ino);
	if (!f) {
		tlog(t, 2, "tail: %s: out of memory", path);
		return;
	}
	f->size = (uint64_t)st->st_size;
	ptrdiff_t ci = find_cp(t, f->dev, f->ino);
	agt_tfile *tomb = NULL;
	for (size_t i = 0; ci < 0 && i + 1 < t->n_files; i++) {
		agt_tfile *g = t->files[i];
		if (g->state == F_DONE && g->dev == f->dev && g->ino == f->ino &&
		    (!tomb || g->done_at > tomb->done_at))
			tomb = g;
	}
	if (ci >= 0) {
		f->cp = t->cps[ci].pos;
		f->need_verify = true;
		cp_remove_devino(t, f->dev, f->ino);
	} else if (tomb) {
		/* a finished rotated file shows up under a matching name:
		 * resume where it ended if it is still the same file */
		f->cp.dev = f->dev;
		f->cp.ino = f->ino;
		f->cp.fp = tomb->fp;
		f->cp.fp_len = (uint16_t)tomb->head_len;
		f->cp.offset = tomb->read_off;
		f->cp.marker = tomb->read_marker;
		f->cp.marker_len = tomb->read_mlen;
		f->need_verify = true;
	} else if (initial && !t->had_state && !cp_path_known(t, path) &&
	           t->inputs[in].start == AGT_TAIL_START_TAIL) {
		f->read_off = f->size;
		f->init_tail = true;
	}
	/* else: read from 0 (new while running, or replaced a known file) */
	tlog(t, 0, "tail: %s: watching (inode %" PRIu64 ", from %" PRIu64 "%s)",
	     path, f->ino, f->read_off, f->need_verify ? ", checkpoint" : "");
	(void)ensure_open(t, f, now_ns(t));
}

/* one path seen by a scan or an event. */
/* is the directory of `path` under an inotify watch? */
static bool dir_watched(agt_tail *t, const char *path)
{
	const char *sl = strrchr(path, '/');
	if (!sl)
		return false;
	size_t n = (size_t)(sl - path);
	if (n == 0)
		n = 1;
	for (size_t i = 0; i < t->n_dirs; i++)
		if (strlen(t->dirs[i].path) == n &&
		    memcmp(t->dirs[i].path, path, n) == 0)
			return true;
	return false;
}

static void check_path(agt_tail *t, const char *path, bool initial,
                       bool light)
{
	struct stat st;
	agt_tfile *f = find_by_path(t, path);
	if (light && f && f->state == F_ATTACHED && f->fd >= 0 &&
	    dir_watched(t, path)) {
		/* inotify is healthy and reports this file's changes */
		f->seen = true;
		return;
	}
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (f && f->state == F_ATTACHED)
			detach(t, f, "gone from its path");
		return;
	}
	uint64_t dev = (uint64_t)st.st_dev, ino = (uint64_t)st.st_ino;
	int in = match_input(t, path);
	if (f && f->dev == dev && f->ino == ino) {
		f->seen = true;
		if ((uint64_t)st.st_size != f->read_off || f->size !=
		    (uint64_t)st.st_size)
			f->pending = true;
		f->size = (uint64_t)st.st_size;
		if (in < 0)
			detach(t, f, "no longer matches its input");
		else if (f->state == F_DETACHED && !f->deleted)
			f->state = F_ATTACHED;
		return;
	}
	if (f && f->state == F_ATTACHED)
		detach(t, f, "replaced by a new file");
	agt_tfile *g = find_live_devino(t, dev, ino);
	if (g) {
		/* a file we follow shows up under a new name */
		if (strcmp(g->path, path) != 0) {
			char *np = tstrdup(t, path);
			if (np)
				set_path(t, g, np);
			if (g->state == F_ATTACHED && in < 0)
				detach(t, g, "renamed");
			else if (g->state == F_ATTACHED)
				g->rotations++, t->c.rotations++;
		}
		if (g->state == F_DETACHED && in >= 0 && !g->deleted)
			g->state = F_ATTACHED;
		g->seen = true;
		g->pending = true;
		return;
	}
	if (in < 0)
		return;
	add_file(t, (size_t)in, path, &st, initial);
}

static void watch_dir(agt_tail *t, const char *dir)
{
	if (t->ifd < 0)
		return;
	for (size_t i = 0; i < t->n_dirs; i++)
		if (strcmp(t->dirs[i].path, dir) == 0)
			return;
	int wd = inotify_add_watch(t->ifd, dir,
	                           IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM |
	                           IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE |
	                           IN_DELETE_SELF | IN_MOVE_SELF |
	                           IN_ONLYDIR);
	if (wd < 0)
		return; /* not there yet: the scan retries */
	for (size_t i = 0; i < t->n_dirs; i++)
		if (t->dirs[i].wd == wd)
			return; /* same dir by another name */
	if (t->n_dirs == t->cap_dirs) {
		size_t nc = t->cap_dirs ? t->cap_dirs * 2 : 8;
		agt_tdir *nd = ksk_realloc(t->al, t->dirs, nc * sizeof(*nd));
		if (!nd) {
			inotify_rm_watch(t->ifd, wd);
			return;
		}
		t->dirs = nd;
		t->cap_dirs = nc;
	}
	char *p = tstrdup(t, dir);
	if (!p) {
		inotify_rm_watch(t->ifd, wd);
		return;
	}
	t->dirs[t->n_dirs].wd = wd;
	t->dirs[t->n_dirs].path = p;
	t->n_dirs++;
}

/* calls fn for every directory the inputs' globs name (expanded). */
static void glob_dirs(agt_tail *t, void (*fn)(agt_tail *, const char *, void *),
                      void *arg)
{
	char d[PATH_MAX];
	for (size_t i = 0; i < t->n_inputs; i++)
		for (size_t g = 0; g < t->inputs[i].n_globs; g++) {
			dir_name(t->inputs[i].globs[g], d, sizeof(d));
			if (!strpbrk(d, "*?[")) {
				fn(t, d, arg);
				continue;
			}
			glob_t gl;
			if (glob(d, GLOB_ONLYDIR | GLOB_NOSORT, NULL, &gl) == 0) {
				for (size_t k = 0; k < gl.gl_pathc; k++)
					fn(t, gl.gl_pathv[k], arg);
			}
			globfree(&gl);
		}
}

static void watch_dir_cb(agt_tail *t, const char *dir, void *arg)
{
	(void)arg;
	watch_dir(t, dir);
}

static void watch_dirs(agt_tail *t)
{
	glob_dirs(t, watch_dir_cb, NULL);
}

/* a rotation suffix: ".1", "-20261129", ".2.1", "-20261129-1700000000" */
static bool rot_suffix(const char *s)
{
	bool digit = false;
	if (*s != '.' && *s != '-')
		return false;
	for (; *s; s++) {
		if (*s >= '0' && *s <= '9')
			digit = true;
		else if (*s != '.' && *s != '-' && *s != '_')
			return false;
	}
	return digit;
}

/* input for which `name` in `dir` is a rotated sibling of a glob match
 * (name = <matches the glob's base name> + rotation suffix), or -1. */
static int sibling_input(agt_tail *t, const char *dir, const char *name)
{
	char d[PATH_MAX], pre[NAME_MAX + 1], path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") ? dir : "", name);
	for (size_t i = 0; i < t->n_inputs; i++)
		for (size_t g = 0; g < t->inputs[i].n_globs; g++) {
			const char *gp = t->inputs[i].globs[g];
			dir_name(gp, d, sizeof(d));
			if (fnmatch(d, dir, FNM_PATHNAME) != 0)
				continue;
			for (size_t k = 1; name[k] && k <= NAME_MAX; k++) {
				if ((name[k] != '.' && name[k] != '-') ||
				    !rot_suffix(name + k))
					continue;
				memcpy(pre, name, k);
				pre[k] = '\0';
				if (fnmatch(base_name(gp), pre, FNM_PERIOD) == 0 &&
				    !excluded(&t->inputs[i], path))
					return (int)i;
			}
		}
	return -1;
}

/* does the open file `fd` start with the bytes of position p (fingerprint
 * and marker)? Then it is a copy of that file (copytruncate). */
static bool pos_matches(int fd, uint64_t size, const agt_file_pos *p)
{
	if (p->offset == 0 || p->offset > size || p->fp_len > size ||
	    p->fp_len > AGT_TAIL_FP_MAX)
		return false;
	uint8_t h[AGT_TAIL_FP_MAX];
	if (pread_full(fd, h, p->fp_len, 0) != (ssize_t)p->fp_len ||
	    agt_tail_hash(h, p->fp_len) != p->fp)
		return false;
	uint64_t m;
	uint8_t ml;
	return marker_at(fd, p->offset, &m, &ml) == 0 && ml == p->marker_len &&
	       m == p->marker;
}

/* a new file that is a copy of a generation that vanished under us
 * (copytruncate's copy): the largest such position it contains. Only
 * positions of truncated/replaced generations are candidates, so files
 * that merely share a header are never mistaken for copies. */
static bool copy_of_known(agt_tail *t, int fd, uint64_t size, agt_file_pos *out)
{
	bool found = false;
	for (size_t i = 0; i < t->n_files; i++) {
		const agt_file_pos *c = &t->files[i]->prev;
		if ((!found || c->offset > out->offset) &&
		    pos_matches(fd, size, c)) {
			*out = *c;
			found = true;
		}
	}
	return found;
}

/* after f was truncated while running: its copy (app.log.1 made by
 * copytruncate, a rotated sibling no glob matches) holds the bytes written
 * between our last read and the copy. Read the copy from f->prev. */
static void adopt_copy(agt_tail *t, agt_tfile *f)
{
	char dir[PATH_MAX], p[PATH_MAX + NAME_MAX + 2];
	dir_name(f->path, dir, sizeof(dir));
	DIR *dp = opendir(dir);
	if (!dp)
		return;
	struct dirent *e;
	while ((e = readdir(dp)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", strcmp(dir, "/") ? dir : "",
		         e->d_name);
		if (match_input(t, p) >= 0 ||
		    sibling_input(t, dir, e->d_name) < 0)
			continue;
		struct stat st;
		if (stat(p, &st) != 0 || !S_ISREG(st.st_mode) ||
		    (uint64_t)st.st_size <= f->prev.offset)
			continue;
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		bool hit = !known_devino(t, (uint64_t)st.st_dev,
		                         (uint64_t)st.st_ino, fd) &&
		           pos_matches(fd, (uint64_t)st.st_size, &f->prev);
		close(fd);
		if (!hit)
			continue;
		agt_tfile *g = file_new(t, f->input, p, (uint64_t)st.st_dev,
		                        (uint64_t)st.st_ino);
		if (!g)
			break;
		g->size = (uint64_t)st.st_size;
		g->state = F_DETACHED;
		g->read_off = g->commit_off = f->prev.offset;
		g->read_marker = g->commit_marker = f->prev.marker;
		g->read_mlen = g->commit_mlen = f->prev.marker_len;
		t->c.copies_adopted++;
		tlog(t, 0, "tail: %s: copy of truncated %s; reading its last "
		     "%" PRIu64 " bytes", p, f->path,
		     (uint64_t)st.st_size - f->prev.offset);
		(void)ensure_open(t, g, now_ns(t));
		break;
	}
	closedir(dp);
}

/* files rotated away before we ever saw them (created and renamed while
 * the agent was stopped, or while inotify overflowed): rotated siblings
 * of glob matches, unknown by identity, renamed (ctime) after `since`.
 * They are read from 0; a tombstone or checkpoint makes a file known. */
static void sibling_dir_cb(agt_tail *t, const char *dir, void *arg)
{
	uint64_t since = *(const uint64_t *)arg;
	DIR *dp = opendir(dir);
	if (!dp)
		return;
	struct dirent *e;
	char p[PATH_MAX];
	while ((e = readdir(dp)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", strcmp(dir, "/") ? dir : "",
		         e->d_name);
		if (match_input(t, p) >= 0)
			continue;
		int in = sibling_input(t, dir, e->d_name);
		if (in < 0)
			continue;
		struct stat st;
		if (stat(p, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		uint64_t ct = (uint64_t)st.st_ctim.tv_sec * NS_PER_S +
		              (uint64_t)st.st_ctim.tv_nsec;
		if (ct < since)
			continue;
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		bool known = known_devino(t, (uint64_t)st.st_dev,
		                          (uint64_t)st.st_ino, fd);
		agt_file_pos cp;
		memset(&cp, 0, sizeof(cp));
		bool copy = !known && fd >= 0 &&
		            copy_of_known(t, fd, (uint64_t)st.st_size, &cp);
		if (fd >= 0)
			close(fd);
		if (known)
			continue;
		agt_tfile *f = file_new(t, (size_t)in, p, (uint64_t)st.st_dev,
		                        (uint64_t)st.st_ino);
		if (!f)
			break;
		f->size = (uint64_t)st.st_size;
		if (copy) {
			/* its bytes up to cp.offset were read from the
			 * original: read the rest (copytruncate window) */
			f->read_off = f->commit_off = cp.offset;
			f->read_marker = f->commit_marker = cp.marker;
			f->read_mlen = f->commit_mlen = cp.marker_len;
			tlog(t, 0, "tail: %s: a copy of a file already read; "
			     "reading from %" PRIu64, p, cp.offset);
		}
		f->state = F_DETACHED;
		f->rotations++;
		t->c.rotations++;
		t->c.siblings_adopted += copy ? 0 : 1;
		t->c.copies_adopted += copy ? 1 : 0;
		if (!copy)
			tlog(t, 1, "tail: %s: rotated away before it was ever "
			     "seen; reading it from 0", p);
		(void)ensure_open(t, f, now_ns(t));
	}
	closedir(dp);
}

static void adopt_siblings(agt_tail *t, uint64_t since)
{
	glob_dirs(t, sibling_dir_cb, &since);
}

/* orphans: checkpoints whose file matched no glob in the first scan (e.g.
 * app.log renamed to app.log.1 while we were stopped). */
static void resolve_orphans(agt_tail *t)
{
	char dir[PATH_MAX];
	while (t->n_cps > 0) {
		agt_tckpt *c = &t->cps[0];
		uint64_t dev = c->pos.dev, ino = c->pos.ino;
		agt_tfile *live = find_live_devino(t, dev, ino);
		char *np = NULL;
		bool found = false;
		if (!live) {
			if (c->path) {
				dir_name(c->path, dir, sizeof(dir));
				found = find_in_dir(t, dir, dev, ino, &np);
			}
			for (size_t i = 0; !found && i < t->n_dirs; i++)
				found = find_in_dir(t, t->dirs[i].path, dev, ino,
				                    &np);
		}
		if (found) {
			int in = c->path ? match_input(t, c->path) : -1;
			if (in < 0) {
				dir_name(np, dir, sizeof(dir));
				in = (int)input_for_dir(t, dir);
			}
			agt_tfile *f = file_new(t, (size_t)in, np, dev, ino);
			if (f) {
				ptrdiff_t ci = find_cp(t, dev, ino);
				f->cp = t->cps[ci].pos;
				f->need_verify = true;
				f->orphan = true;
				f->state = F_DETACHED;
				f->rotations++;
				tlog(t, 0, "tail: %s: rotated while stopped; "
				     "finishing it", np);
			}
			ksk_free(t->al, np);
			cp_remove_devino(t, dev, ino);
			if (f)
				(void)ensure_open(t, f, now_ns(t));
			continue;
		}
		tlog(t, 1, "tail: checkpoint of %s (inode %" PRIu64
		     ") dropped: file gone", c->path ? c->path : "?", ino);
		t->c.ckpt_dropped++;
		cp_remove_devino(t, dev, ino);
	}
}

/* a scan globs every input; a "light" scan (inotify healthy: no overflow
 * since the last full scan) does not stat files it already follows with an
 * open fd, since their changes arrive as events; every 10th scan is full. */
static void full_scan(agt_tail *t, bool initial)
{
	bool light = t->ifd >= 0 && !initial && !t->need_full &&
	             t->c.scans % 10 != 0;
	t->need_full = false;
	t->c.scans++;
	watch_dirs(t);
	for (size_t i = 0; i < t->n_files; i++)
		t->files[i]->seen = false;
	for (size_t i = 0; i < t->n_inputs; i++)
		for (size_t g = 0; g < t->inputs[i].n_globs; g++) {
			glob_t gl;
			int rc = glob(t->inputs[i].globs[g], 0, NULL, &gl);
			if (rc == 0)
				for (size_t k = 0; k < gl.gl_pathc; k++)
					check_path(t, gl.gl_pathv[k], initial,
					           light);
			globfree(&gl);
		}
	for (size_t i = 0; i < t->n_files; i++) {
		agt_tfile *f = t->files[i];
		if (f->state == F_ATTACHED && !f->seen)
			check_path(t, f->path, false, false);
		if (f->state == F_DETACHED && f->fd >= 0) {
			struct stat st;
			if (fstat(f->fd, &st) == 0) {
				f->deleted = st.st_nlink == 0;
				if ((uint64_t)st.st_size != f->read_off)
					f->pending = true;
			}
		}
	}
	if (initial) {
		resolve_orphans(t);
		if (t->state_mtime)
			adopt_siblings(t, t->state_mtime - NS_PER_S);
	} else if (t->overflowed) {
		/* events were lost: rotations since the last good batch */
		adopt_siblings(t, t->events_ok_wall - NS_PER_S);
	} else if (t->ifd < 0 && t->last_scan_wall) {
		/* no inotify: a file created and rotated between two scans */
		adopt_siblings(t, t->last_scan_wall - NS_PER_S);
	}
	t->overflowed = false;
	t->last_scan_wall = fs_now();
	if (initial)
		t->events_ok_wall = t->last_scan_wall;
}

/* ------------------------------------------------------------------ */
/* inotify                                                              */

static const char *dir_of_wd(agt_tail *t, int wd)
{
	for (size_t i = 0; i < t->n_dirs; i++)
		if (t->dirs[i].wd == wd)
			return t->dirs[i].path;
	return NULL;
}

static void drop_wd(agt_tail *t, int wd)
{
	for (size_t i = 0; i < t->n_dirs; i++)
		if (t->dirs[i].wd == wd) {
			ksk_free(t->al, t->dirs[i].path);
			t->dirs[i] = t->dirs[--t->n_dirs];
			return;
		}
}

/* a live file or a tombstone with a matching head (a DONE file whose
 * inode was reused by another file is not "known"). */
static bool known_devino(agt_tail *t, uint64_t dev, uint64_t ino, int fd)
{
	for (size_t i = 0; i < t->n_files; i++) {
		agt_tfile *f = t->files[i];
		if (f->dev != dev || f->ino != ino)
			continue;
		if (f->state != F_DONE || fd < 0)
			return true;
		uint8_t h[AGT_TAIL_FP_MAX];
		ssize_t n = pread_full(fd, h, f->head_len, 0);
		if (n == (ssize_t)f->head_len &&
		    memcmp(h, f->head, f->head_len) == 0)
			return true;
	}
	for (size_t i = 0; i < t->n_cps; i++)
		if (t->cps[i].pos.dev == dev && t->cps[i].pos.ino == ino)
			return true;
	return false;
}

/* IN_MOVED_TO of a name no input matches, whose source name was ours (it
 * matched an input or was a tracked path): a file rotated away before we
 * ever saw it (double rotation while behind). Adopt it, from 0. */
static void adopt_moved(agt_tail *t, const char *path, int from_input)
{
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool known = known_devino(t, (uint64_t)st.st_dev, (uint64_t)st.st_ino,
	                          fd);
	if (fd >= 0)
		close(fd);
	if (known)
		return;
	agt_tfile *f = file_new(t, (size_t)from_input, path,
	                        (uint64_t)st.st_dev, (uint64_t)st.st_ino);
	if (!f)
		return;
	f->size = (uint64_t)st.st_size;
	f->state = F_DETACHED;
	f->rotations++;
	t->c.rotations++;
	tlog(t, 0, "tail: %s: rotated before it was seen; reading it from 0",
	     path);
	(void)ensure_open(t, f, now_ns(t));
}

static void handle_events(agt_tail *t)
{
	if (t->ifd < 0)
		return;
	char path[PATH_MAX];
	uint32_t from_cookie = 0;
	int from_input = -1;
	uint64_t wall = fs_now();
	for (;;) {
		ssize_t n = read(t->ifd, t->evbuf, sizeof(t->evbuf));
		if (n <= 0)
			break;
		for (char *p = t->evbuf; p < t->evbuf + n;) {
			const struct inotify_event *ev = (const void *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				t->c.inotify_overflows++;
				t->need_scan = true;
				t->need_full = true;
				t->overflowed = true;
				continue;
			}
			if (ev->mask & (IN_IGNORED | IN_DELETE_SELF |
			                IN_MOVE_SELF)) {
				if (ev->mask & IN_MOVE_SELF)
					inotify_rm_watch(t->ifd, ev->wd);
				if (ev->mask & IN_IGNORED)
					drop_wd(t, ev->wd);
				t->need_scan = true;
				t->need_full = true;
				continue;
			}
			const char *dir = dir_of_wd(t, ev->wd);
			if (!dir || ev->len == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s",
			         strcmp(dir, "/") ? dir : "", ev->name);
			agt_tfile *f = find_by_path(t, path);
			if (f && (ev->mask & (IN_MODIFY | IN_CLOSE_WRITE)) &&
			    !(ev->mask & ~(IN_MODIFY | IN_CLOSE_WRITE))) {
				f->pending = true; /* fast path: no stat */
				continue;
			}
			if (ev->mask & IN_ISDIR) {
				t->need_scan = true;
				continue;
			}
			if (ev->mask & IN_MOVED_FROM) {
				from_cookie = ev->cookie;
				from_input = f ? (int)f->input
				               : match_input(t, path);
			}
			/* busy files of no input in a watched directory: no
			 * stat per event (a rename into a new name still is
			 * checked: it may be a file we follow) */
			if (!f && !(ev->mask & IN_MOVED_TO) &&
			    match_input(t, path) < 0)
				continue;
			check_path(t, path, false, false);
			if (f)
				f->pending = true;
			if ((ev->mask & IN_MOVED_TO) && from_input >= 0 &&
			    ev->cookie == from_cookie &&
			    match_input(t, path) < 0)
				adopt_moved(t, path, from_input);
		}
	}
	if (!t->overflowed)
		t->events_ok_wall = wall;
}

/* ------------------------------------------------------------------ */
/* reading                                                              */

/* hands one line to the callback. marker/mlen describe end_off. */
static int deliver(agt_tail *t, agt_tfile *f, const uint8_t *data,
                   size_t len, unsigned flags, uint64_t start,
                   uint64_t end_off, uint64_t marker, uint8_t mlen,
                   uint64_t now)
{
	agt_tinput *in = &t->inputs[f->input];
	if (!rate_ok(t, in, now))
		return RD_RATE;
	if (!(flags & AGT_LINE_TRUNCATED) && len > 0 && data[len - 1] == '\r')
		len--;
	agt_line ln;
	ln.data = (const char *)data;
	ln.len = len;
	ln.flags = flags;
	ln.start = start;
	ln.pos.dev = f->dev;
	ln.pos.ino = f->ino;
	ln.pos.fp = f->fp;
	ln.pos.fp_len = (uint16_t)f->head_len;
	ln.pos.offset = end_off;
	ln.pos.marker = marker;
	ln.pos.marker_len = mlen;
	ln.pos.gen = f->gen;
	ln.pos.reserved = 0;
	ln.path = f->path;
	ln.input = f->input;
	ln.user = in->user;
	t->cb_file = f;
	t->cb_end = end_off;
	int taken = t->on_line(t->on_line_ctx, &ln);
	t->cb_file = NULL;
	if (taken != AGT_TAIL_TAKEN) {
		t->c.stops++;
		return RD_STOP;
	}
	if (in->rate_unit == AGT_TAIL_RATE_LINES)
		in->tokens -= 1;
	else if (in->rate_unit == AGT_TAIL_RATE_BYTES)
		in->tokens -= (int64_t)len;
	f->read_off = end_off;
	f->read_marker = marker;
	f->read_mlen = mlen;
	f->has_partial = false;
	f->last_active = now;
	f->lines++;
	f->bytes += end_off - start;
	t->c.lines++;
	t->c.bytes += end_off - start;
	if (flags & AGT_LINE_TRUNCATED) {
		f->truncated++;
		t->c.truncated++;
	}
	if (flags & AGT_LINE_PARTIAL)
		t->c.partial++;
	return RD_OK;
}

/* the partial-line clock. @return true when the partial is due. */
static bool partial_due(agt_tail *t, agt_tfile *f, uint64_t now)
{
	if (!f->has_partial || f->partial_off != f->read_off) {
		f->has_partial = true;
		f->partial_off = f->read_off;
		f->partial_since = now;
	}
	return t->flushing ||
	       now - f->partial_since >= t->inputs[f->input].flush_ns;
}

/* a line longer than max_line starting at read_off: find its end.
 * @return RD_* ; RD_OK with f->scan_off == 0 when the line was handled
 * (or the file was restarted). */
static int read_long(agt_tail *t, agt_tfile *f, size_t *budget, uint64_t now)
{
	size_t max_line = t->inputs[f->input].max_line;
	for (;;) {
		if (*budget == 0)
			return RD_MORE;
		uint64_t s = f->scan_off;
		size_t hist = s < AGT_TAIL_MARKER_MAX ? (size_t)s
		                                      : AGT_TAIL_MARKER_MAX;
		ssize_t n = pread_full(f->fd, t->buf, t->bufsz, s - hist);
		if (n < 0) {
			tlog(t, 2, "tail: %s: read: %s", f->path,
			     strerror(errno));
			f->at_eof = true;
			f->retry_at = now + OPEN_RETRY_NS;
			return RD_OK;
		}
		if ((size_t)n < hist) {
			(void)file_restart(t, f, "file shrank");
			return RD_OK;
		}
		const uint8_t *nl = memchr(t->buf + hist, '\n', (size_t)n - hist);
		bool eof = (size_t)n < t->bufsz;
		uint64_t end_off;
		const uint8_t *endp;
		unsigned flags = AGT_LINE_TRUNCATED;
		if (nl) {
			endp = nl + 1;
		} else if (eof) {
			endp = t->buf + n;
			f->scan_off = s + ((size_t)n - hist);
			f->at_eof = true;
			f->size = f->scan_off;
			if (!partial_due(t, f, now))
				return RD_OK;
			flags |= AGT_LINE_PARTIAL;
		} else {
			size_t adv = (size_t)n - hist;
			f->scan_off = s + adv;
			*budget -= adv < *budget ? adv : *budget;
			continue;
		}
		end_off = s - hist + (uint64_t)(endp - t->buf);
		uint8_t ml = end_off < AGT_TAIL_MARKER_MAX ? (uint8_t)end_off
		                                           : AGT_TAIL_MARKER_MAX;
		uint64_t m = agt_tail_hash(endp - ml, ml);
		/* the prefix of the line, re-read (the file is the buffer) */
		ssize_t pn = pread_full(f->fd, t->buf, max_line, f->read_off);
		if (pn != (ssize_t)max_line) {
			(void)file_restart(t, f, "file shrank");
			return RD_OK;
		}
		int rc = deliver(t, f, t->buf, max_line, flags, f->read_off,
		                 end_off, m, ml, now);
		if (rc != RD_OK)
			return rc;
		size_t adv = (size_t)(end_off - s);
		*budget -= adv < *budget ? adv : *budget;
		f->scan_off = 0;
		return RD_OK;
	}
}

/* one read round of f within *budget bytes. */
static int file_read(agt_tail *t, agt_tfile *f, size_t *budget, uint64_t now)
{
	size_t max_line = t->inputs[f->input].max_line;
	if (f->head_len < AGT_TAIL_FP_MAX && head_refresh(t, f) &&
	    !file_restart(t, f, "head changed"))
		return RD_OK;
	for (;;) {
		if (f->abandoned)
			return RD_OK;
		if (f->scan_off) {
			int rc = read_long(t, f, budget, now);
			if (rc != RD_OK || f->scan_off)
				return rc;
			continue;
		}
		if (*budget == 0)
			return RD_MORE;
		uint64_t ro = f->read_off;
		size_t hist = ro < AGT_TAIL_MARKER_MAX ? (size_t)ro
		                                       : AGT_TAIL_MARKER_MAX;
		uint64_t base = ro - hist;
		ssize_t n = pread_full(f->fd, t->buf, t->bufsz, base);
		if (n < 0) {
			tlog(t, 2, "tail: %s: read: %s", f->path,
			     strerror(errno));
			f->at_eof = true;
			return RD_OK;
		}
		if ((size_t)n < hist) {
			if (!file_restart(t, f, "truncated"))
				return RD_OK;
			continue;
		}
		if (hist && (hist != f->read_mlen ||
		             agt_tail_hash(t->buf, hist) != f->read_marker)) {
			if (!file_restart(t, f,
			                  "bytes before the offset changed"))
				return RD_OK;
			continue;
		}
		const uint8_t *p = t->buf + hist, *end = t->buf + n;
		bool eof = (size_t)n < t->bufsz;
		while (p < end) {
			const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
			if (!nl)
				break;
			size_t len = (size_t)(nl - p);
			unsigned flags = 0;
			if (len > max_line) {
				len = max_line;
				flags = AGT_LINE_TRUNCATED;
			}
			uint64_t eo = base + (uint64_t)(nl + 1 - t->buf);
			uint8_t ml = eo < AGT_TAIL_MARKER_MAX ? (uint8_t)eo
			                                      : AGT_TAIL_MARKER_MAX;
			int rc = deliver(t, f, p, len, flags,
			                 base + (uint64_t)(p - t->buf), eo,
			                 agt_tail_hash(nl + 1 - ml, ml), ml, now);
			if (rc != RD_OK) {
				size_t used = (size_t)(p - (t->buf + hist));
				*budget -= used < *budget ? used : *budget;
				return rc;
			}
			p = nl + 1;
		}
		size_t used = (size_t)(p - (t->buf + hist));
		*budget -= used < *budget ? used : *budget;
		size_t rest = (size_t)(end - p);
		if (rest > max_line) {
			/* a long line: scan for its end from here */
			f->scan_off = base + (uint64_t)n;
			continue;
		}
		if (!eof)
			continue; /* re-read from the start of the rest */
		f->size = base + (uint64_t)n;
		f->at_eof = true;
		if (rest == 0) {
			f->has_partial = false;
			return RD_OK;
		}
		if (!partial_due(t, f, now))
			return RD_OK;
		uint8_t ml = f->size < AGT_TAIL_MARKER_MAX ? (uint8_t)f->size
		                                           : AGT_TAIL_MARKER_MAX;
		int rc = deliver(t, f, p, rest, AGT_LINE_PARTIAL,
		                 base + (uint64_t)(p - t->buf), f->size,
		                 agt_tail_hash(end - ml, ml), ml, now);
		if (rc != RD_OK)
			return rc;
		return RD_OK;
	}
}

static bool file_due(agt_tail *t, agt_tfile *f, uint64_t now)
{
	if (f->state == F_DONE)
		return false;
	if (t->inputs[f->input].blocked_until > now)
		return false;
	if (f->fd < 0 && now < f->retry_at)
		return false;
	if (f->pending)
		return true;
	if (f->has_partial &&
	    (t->flushing ||
	     now - f->partial_since >= t->inputs[f->input].flush_ns))
		return true;
	return false;
}

/* DETACHED files: close when drained and quiet for rotate_wait. */
static void maybe_close_detached(agt_tail *t, agt_tfile *f, uint64_t now)
{
	if (f->state != F_DETACHED)
		return;
	if (f->fd < 0) {
		/* could not reopen a rotated file: it is gone */
		if (f->open_fails >= 3 || (!f->pending && now >= f->retry_at)) {
			if (f->read_off < f->size)
				t->c.files_lost++;
			f->state = F_DONE;
			f->no_keep = true;
			f->done_at = now;
		}
		return;
	}
	if (f->abandoned) {
		file_close(t, f);
		f->state = F_DONE;
		f->done_at = now;
		return;
	}
	if (f->pending || !f->at_eof || f->has_partial || f->scan_off) {
		f->eof_since = 0;
		return;
	}
	if (f->eof_since == 0) {
		f->eof_since = now;
		return;
	}
	if (now - f->eof_since < t->rotate_wait_ns)
		return;
	struct stat st;
	if (fstat(f->fd, &st) == 0 && (uint64_t)st.st_size != f->read_off) {
		f->pending = true;
		f->eof_since = 0;
		return;
	}
	tlog(t, 0, "tail: %s: rotated file drained at %" PRIu64 "; closed",
	     f->path, f->read_off);
	file_close(t, f);
	f->state = F_DONE;
	f->done_at = now;
	f->no_keep = f->deleted;
}

/* frees DONE files whose delivered bytes are all committed. */
static void reap(agt_tail *t, uint64_t now)
{
	for (size_t i = 0; i < t->n_files;) {
		agt_tfile *f = t->files[i];
		if (f->state == F_DONE && f->commit_off >= f->read_off &&
		    (f->no_keep || now - f->done_at >= t->forget_ns)) {
			file_free(t, f);
			t->files[i] = t->files[--t->n_files];
			t->ix_dirty = true;
		} else {
			i++;
		}
	}
}

static ksk_err read_pass(agt_tail *t, uint64_t now)
{
	size_t budget = t->run_bytes;
	size_t n = t->n_files;
	t->more = false;
	for (size_t k = 0; k < n; k++) {
		size_t idx = (t->rr + k) % n;
		agt_tfile *f = t->files[idx];
		if (!file_due(t, f, now))
			continue;
		if (ensure_open(t, f, now) != 0)
			continue;
		if (f->state == F_DONE)
			continue;
		f->pending = false;
		f->at_eof = false;
		size_t q = t->file_quantum < budget ? t->file_quantum : budget;
		size_t q0 = q;
		int rc = file_read(t, f, &q, now);
		budget -= q0 - q;
		if (rc == RD_STOP) {
			f->pending = true;
			t->rr = idx;
			t->paused = true;
			return KSK_EBUSY;
		}
		if (rc == RD_RATE || rc == RD_MORE)
			f->pending = true;
		if (budget == 0) {
			t->more = true;
			t->rr = idx + 1;
			break;
		}
	}
	if (!t->more)
		t->rr = n ? (t->rr + 1) % n : 0;
	for (size_t i = 0; i < t->n_files; i++) {
		agt_tfile *f = t->files[i];
		if (f->copy_hunt) {
			f->copy_hunt = false;
			adopt_copy(t, f);
		}
	}
	for (size_t i = 0; i < t->n_files; i++)
		maybe_close_detached(t, t->files[i], now);
	reap(t, now);
	return KSK_OK;
}

/* ------------------------------------------------------------------ */
/* state file                                                           */

static void put_escaped(FILE *fp, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch <= ' ' || ch == '%' || ch == 0x7f)
			fprintf(fp, "%%%02X", ch);
		else
			fputc(ch, fp);
	}
}

static int unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (*r != '%') {
			*w++ = *r;
			continue;
		}
		unsigned v;
		if (!r[1] || !r[2] || sscanf(r + 1, "%2x", &v) != 1)
			return -1;
		*w++ = (char)v;
		r += 2;
	}
	*w = '\0';
	return 0;
}

static int write_entry(agt_tail *t, FILE *fp, const agt_file_pos *p,
                       const char *path)
{
	fprintf(fp, "%" PRIu64 " %" PRIu64 " %016" PRIx64 " %u %" PRIu64
	        " %016" PRIx64 " %u %" PRIu32 " ", p->dev, p->ino, p->fp,
	        (unsigned)p->fp_len, p->offset, p->marker,
	        (unsigned)p->marker_len, p->gen);
	put_escaped(fp, path ? path : "-");
	fputc('\n', fp);
	(void)t;
	return 1;
}

ksk_err agt_tail_save(agt_tail *t, ksk_errinfo *ei)
{
	if (!t->state_path)
		return KSK_OK;
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s.tmp", t->state_path);
	/* build in memory (open_memstream) so the CRC covers every byte */
	char *mem = NULL;
	size_t memlen = 0;
	FILE *ms = open_memstream(&mem, &memlen);
	if (!ms)
		return ksk_errinfo_sys(ei, KSK_ENOMEM, errno, "open_memstream");
	fprintf(ms, "%s\n", STATE_MAGIC);
	size_t count = 0;
	for (size_t i = 0; i < t->n_files; i++) {
		agt_tfile *f = t->files[i];
		if (f->need_verify) {
			count += (size_t)write_entry(t, ms, &f->cp, f->path);
			continue;
		}
		agt_file_pos p = {0};
		p.dev = f->dev;
		p.ino = f->ino;
		p.fp = f->fp;
		p.fp_len = (uint16_t)f->head_len;
		p.offset = f->commit_off;
		p.marker = f->commit_marker;
		p.marker_len = f->commit_mlen;
		p.gen = f->gen;
		count += (size_t)write_entry(t, ms, &p, f->path);
	}
	for (size_t i = 0; i < t->n_cps; i++)
		count += (size_t)write_entry(t, ms, &t->cps[i].pos,
		                             t->cps[i].path);
	if (fflush(ms) != 0) {
		fclose(ms);
		free(mem);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "state: out of memory");
	}
	uint32_t crc = ksk_crc32(0, (const uint8_t *)mem, memlen);
	fprintf(ms, "end %zu %08" PRIx32 "\n", count, crc);
	fclose(ms);

	ksk_err rc = KSK_OK;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = ksk_errinfo_sys(ei, KSK_ESYS, errno, "open %s", tmp);
		goto out_mem;
	}
	for (size_t off = 0; off < memlen;) {
		ssize_t w = write(fd, mem + off, memlen - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = ksk_errinfo_sys(ei, KSK_ESYS, errno, "write %s",
			                     tmp);
			goto out_fd;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		rc = ksk_errinfo_sys(ei, KSK_ESYS, errno, "fsync %s", tmp);
		goto out_fd;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, t->state_path) != 0) {
		rc = ksk_errinfo_sys(ei, KSK_ESYS, errno, "rename %s", tmp);
		goto out_mem;
	}
	char dir[PATH_MAX];
	dir_name(t->state_path, dir, sizeof(dir));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) != 0)
			rc = ksk_errinfo_sys(ei, KSK_ESYS, errno, "fsync %s",
			                     dir);
		close(dfd);
	}
out_fd:
	if (fd >= 0)
		close(fd);
out_mem:
	free(mem);
	return rc;
}

/* loads the state file into t->cps. Corrupt → counted, ignored. */
static void state_load(agt_tail *t)
{
	FILE *fp = fopen(t->state_path, "re");
	if (!fp) {
		if (errno != ENOENT) {
			t->had_state = true;
			t->c.state_errors++;
			tlog(t, 2, "tail: state %s: %s", t->state_path,
			     strerror(errno));
		}
		return;
	}
	t->had_state = true;
	struct stat sst;
	if (fstat(fileno(fp), &sst) == 0)
		t->state_mtime = (uint64_t)sst.st_mtim.tv_sec * NS_PER_S +
		                 (uint64_t)sst.st_mtim.tv_nsec;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	uint32_t crc = 0;
	size_t count = 0, lineno = 0;
	bool ended = false, bad = false;
	size_t first_cp = t->n_cps;
	while (!bad && (n = getline(&line, &cap, fp)) > 0) {
		lineno++;
		if (lineno == 1) {
			if (strcmp(line, STATE_MAGIC "\n") != 0)
				bad = true;
			crc = ksk_crc32(crc, (const uint8_t *)line, (size_t)n);
			continue;
		}
		if (strncmp(line, "end ", 4) == 0) {
			size_t c2;
			uint32_t want;
			if (sscanf(line, "end %zu %" SCNx32, &c2, &want) != 2 ||
			    c2 != count || want != crc)
				bad = true;
			ended = true;
			break;
		}
		crc = ksk_crc32(crc, (const uint8_t *)line, (size_t)n);
		agt_file_pos p = {0};
		unsigned fpl, ml;
		char path[PATH_MAX + 1];
		if (line[n - 1] != '\n' || (size_t)n > sizeof(path) ||
		    sscanf(line, "%" SCNu64 " %" SCNu64 " %" SCNx64 " %u %"
		           SCNu64 " %" SCNx64 " %u %" SCNu32 " %s", &p.dev,
		           &p.ino, &p.fp, &fpl, &p.offset, &p.marker, &ml,
		           &p.gen, path) != 9 ||
		    fpl > AGT_TAIL_FP_MAX || ml > AGT_TAIL_MARKER_MAX ||
		    unescape(path) != 0) {
			bad = true;
			break;
		}
		p.fp_len = (uint16_t)fpl;
		p.marker_len = (uint8_t)ml;
		if (cp_add(t, &p, strcmp(path, "-") ? path : NULL) != KSK_OK)
			bad = true;
		count++;
	}
	free(line);
	fclose(fp);
	if (bad || !ended) {
		t->c.state_errors++;
		tlog(t, 2, "tail: state %s is corrupt (line %zu); ignored",
		     t->state_path, lineno);
		while (t->n_cps > first_cp)
			cp_remove(t, t->n_cps - 1);
	}
}

/* ------------------------------------------------------------------ */
/* public API                                                           */

static void inputs_free(agt_tail *t)
{
	for (size_t i = 0; i < t->n_inputs; i++) {
		agt_tinput *in = &t->inputs[i];
		ksk_free(t->al, in->name);
		for (size_t g = 0; g < in->n_globs; g++)
			ksk_free(t->al, in->globs[g]);
		for (size_t g = 0; g < in->n_excludes; g++)
			ksk_free(t->al, in->excludes[g]);
		ksk_free(t->al, in->globs);
		ksk_free(t->al, in->excludes);
	}
	ksk_free(t->al, t->inputs);
}

static char **strv_dup(agt_tail *t, const char *const *v, size_t n)
{
	char **d = ksk_calloc(t->al, n ? n : 1, sizeof(char *));
	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		d[i] = tstrdup(t, v[i] ? v[i] : "");
		if (!d[i]) {
			while (i--)
				ksk_free(t->al, d[i]);
			ksk_free(t->al, d);
			return NULL;
		}
	}
	return d;
}

ksk_err agt_tail_create(const agt_tail_config *cfg, agt_tail **out,
                        ksk_errinfo *ei)
{
	if (!cfg || !out || !cfg->on_line || !cfg->inputs || cfg->n_inputs == 0)
		return ksk_errinfo_set(ei, KSK_EINVAL, "tail: no inputs or "
		                       "no line callback");
	for (size_t i = 0; i < cfg->n_inputs; i++)
		if (!cfg->inputs[i].globs || cfg->inputs[i].n_globs == 0 ||
		    (cfg->inputs[i].n_excludes && !cfg->inputs[i].excludes))
			return ksk_errinfo_set(ei, KSK_EINVAL,
			                       "tail: input %zu has no glob", i);
	const ksk_alloc *al = ksk_alloc_or_default(cfg->alloc);
	agt_tail *t = ksk_calloc(al, 1, sizeof(*t));
	if (!t)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "tail: out of memory");
	t->al = al;
	t->ifd = -1;
	t->clock = cfg->clock ? cfg->clock : ksk_clock_system();
	t->on_line = cfg->on_line;
	t->on_line_ctx = cfg->on_line_ctx;
	t->log = cfg->log;
	t->log_ctx = cfg->log_ctx;
	t->scan_ns = (cfg->scan_ms ? cfg->scan_ms : AGT_TAIL_SCAN_MS_DEF) *
	             NS_PER_MS;
	t->forget_ns = (uint64_t)(cfg->forget_ms ? cfg->forget_ms : 600000) *
	               NS_PER_MS;
	t->rotate_wait_ns = (cfg->rotate_wait_ms ? cfg->rotate_wait_ms : 5000) *
	                    NS_PER_MS;
	t->max_open = cfg->max_open ? cfg->max_open : AGT_TAIL_MAX_OPEN_DEF;
	t->run_bytes = cfg->run_bytes ? cfg->run_bytes : (16u << 20);
	t->file_quantum = cfg->file_quantum ? cfg->file_quantum : (2u << 20);
	t->bufsz = cfg->read_buf ? cfg->read_buf : (256u << 10);
	t->gen_seq = (uint32_t)(ksk_clock_wall(t->clock) / NS_PER_MS);
	ksk_err rc = KSK_ENOMEM;
	t->inputs = ksk_calloc(al, cfg->n_inputs, sizeof(*t->inputs));
	if (!t->inputs)
		goto fail;
	uint64_t now = now_ns(t);
	for (size_t i = 0; i < cfg->n_inputs; i++) {
		const agt_tail_input *ci = &cfg->inputs[i];
		agt_tinput *in = &t->inputs[i];
		t->n_inputs++;
		in->name = tstrdup(t, ci->name ? ci->name : "");
		in->globs = strv_dup(t, ci->globs, ci->n_globs);
		in->excludes = strv_dup(t, ci->excludes, ci->n_excludes);
		in->n_globs = in->globs ? ci->n_globs : 0;
		in->n_excludes = in->excludes ? ci->n_excludes : 0;
		if (!in->name || !in->globs || !in->excludes)
			goto fail;
		in->start = ci->start;
		in->max_line = ci->max_line ? ci->max_line
		                            : AGT_TAIL_MAX_LINE_DEF;
		in->flush_ns = (uint64_t)(ci->flush_ms ? ci->flush_ms
		                                       : AGT_TAIL_FLUSH_MS_DEF) *
		               NS_PER_MS;
		in->rate_unit = ci->rate_unit;
		in->rate = ci->rate;
		in->tokens = (int64_t)ci->rate;
		in->refill_at = now;
		in->user = ci->user;
		if (t->bufsz < 2 * in->max_line + 64)
			t->bufsz = 2 * in->max_line + 64;
	}
	t->buf = ksk_malloc(al, t->bufsz);
	if (!t->buf)
		goto fail;
	if (cfg->state_path) {
		t->state_path = tstrdup(t, cfg->state_path);
		if (!t->state_path)
			goto fail;
		state_load(t);
	}
	if (!cfg->no_inotify) {
		t->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (t->ifd < 0)
			tlog(t, 1, "tail: inotify unavailable (%s); stat scans "
			     "only", strerror(errno));
	}
	*out = t;
	return KSK_OK;
fail:
	agt_tail_destroy(t);
	return ksk_errinfo_set(ei, rc, "tail: out of memory");
}

void agt_tail_destroy(agt_tail *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_files; i++)
		file_free(t, t->files[i]);
	ksk_free(t->al, t->files);
	ksk_free(t->al, t->ix);
	while (t->n_cps)
		cp_remove(t, t->n_cps - 1);
	ksk_free(t->al, t->cps);
	for (size_t i = 0; i < t->n_dirs; i++)
		ksk_free(t->al, t->dirs[i].path);
	ksk_free(t->al, t->dirs);
	if (t->ifd >= 0)
		close(t->ifd);
	inputs_free(t);
	ksk_free(t->al, t->buf);
	ksk_free(t->al, t->state_path);
	ksk_free(t->al, t);
}

ksk_err agt_tail_restore(agt_tail *t, const agt_file_pos *pos, size_t n)
{
	if (t->started)
		return KSK_ESTATE;
	if (n)
		t->had_state = true;
	for (size_t i = 0; i < n; i++)
		KSK_TRY(cp_add(t, &pos[i], NULL));
	return KSK_OK;
}

int agt_tail_fd(const agt_tail *t)
{
	return t->ifd;
}

int agt_tail_timeout_ms(agt_tail *t)
{
	if (!t->started || t->need_scan)
		return 0;
	uint64_t now = now_ns(t);
	if (t->more && !t->paused)
		return 0;
	uint64_t dl = t->next_scan;
	for (size_t i = 0; i < t->n_files; i++) {
		agt_tfile *f = t->files[i];
		if (f->state == F_DONE)
			continue;
		agt_tinput *in = &t->inputs[f->input];
		uint64_t fdl = UINT64_MAX;
		if (in->blocked_until > now)
			fdl = in->blocked_until;
		else if (f->fd < 0 && f->retry_at > now)
			fdl = f->retry_at;
		else if (f->pending)
			fdl = t->paused ? UINT64_MAX : now;
		else if (f->has_partial)
			fdl = f->partial_since + in->flush_ns;
		else if (f->state == F_DETACHED)
			fdl = f->eof_since ? f->eof_since + t->rotate_wait_ns
			                   : now;
		if (fdl < dl)
			dl = fdl;
	}
	if (dl <= now)
		return 0;
	uint64_t ms = (dl - now + NS_PER_MS - 1) / NS_PER_MS;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

ksk_err agt_tail_prime(agt_tail *t)
{
	if (t->started)
		return KSK_OK;
	t->started = true;
	t->need_scan = false;
	full_scan(t, true);
	t->next_scan = now_ns(t) + t->scan_ns;
	t->c.open_fds = t->n_open;
	t->c.files = t->n_files;
	return KSK_OK;
}

ksk_err agt_tail_run(agt_tail *t)
{
	uint64_t now = now_ns(t);
	t->paused = false;
	if (!t->started)
		(void)agt_tail_prime(t);
	handle_events(t);
	if (t->need_scan || now >= t->next_scan) {
		t->need_scan = false;
		full_scan(t, false);
		t->next_scan = now + t->scan_ns;
	}
	ksk_err rc = read_pass(t, now);
	t->c.open_fds = t->n_open;
	t->c.files = t->n_files;
	return rc;
}

ksk_err agt_tail_wait(agt_tail *t, int max_ms)
{
	int to = agt_tail_timeout_ms(t);
	if (max_ms >= 0 && (to < 0 || to > max_ms))
		to = max_ms;
	if (to > 0) {
		struct pollfd pfd = {.fd = t->ifd, .events = POLLIN};
		if (t->ifd >= 0)
			(void)poll(&pfd, 1, to);
		else
			(void)poll(NULL, 0, to);
	}
	return agt_tail_run(t);
}

ksk_err agt_tail_flush(agt_tail *t)
{
	t->flushing = true;
	ksk_err rc = agt_tail_run(t);
	t->flushing = false;
	return rc;
}

ksk_err agt_tail_commit(agt_tail *t, const agt_file_pos *pos)
{
	agt_tfile *hit = NULL;
	for (size_t i = 0; i < t->n_files; i++) {
		agt_tfile *f = t->files[i];
		if (f->dev != pos->dev || f->ino != pos->ino)
			continue;
		/* the line being delivered right now (commit from inside the
		 * callback) counts as delivered */
		uint64_t limit = f->read_off;
		if (f == t->cb_file && t->cb_end > limit)
			limit = t->cb_end;
		if (pos->gen != 0) {
			/* this run's generation, or the one a verified
			 * checkpoint came from (positions replayed from the
			 * caller's spool after a restart) */
			if (f->gen == pos->gen ||
			    (f->resumed && f->cp.gen == pos->gen)) {
				hit = f;
				break;
			}
			continue;
		}
		/* no generation (restored): the fingerprint must be a
		 * prefix of what we know of the head */
		if (!f->need_verify && pos->fp_len <= f->head_len &&
		    agt_tail_hash(f->head, pos->fp_len) == pos->fp &&
		    pos->offset <= limit) {
			hit = f;
			break;
		}
	}
	if (!hit)
		return KSK_ENOTFOUND;
	if (pos->offset > hit->read_off &&
	    !(hit == t->cb_file && pos->offset <= t->cb_end))
		return KSK_EINVAL; /* never delivered: refuse */
	if (pos->offset > hit->commit_off) {
		hit->commit_off = pos->offset;
		hit->commit_marker = pos->marker;
		hit->commit_mlen = pos->marker_len;
	}
	return KSK_OK;
}

void agt_tail_get_counters(const agt_tail *t, agt_tail_counters *c)
{
	*c = t->c;
	c->open_fds = t->n_open;
	c->files = t->n_files;
}

void agt_tail_stat_files(agt_tail *t)
{
	for (size_t i = 0; i < t->n_files; i++) {
		agt_tfile *f = t->files[i];
		struct stat st;
		if (f->fd >= 0 && fstat(f->fd, &st) == 0)
			f->live_size = (uint64_t)st.st_size;
	}
}

void agt_tail_foreach_file(const agt_tail *t,
                           void (*fn)(void *ctx, const agt_tail_file_stat *s),
                           void *ctx)
{
	for (size_t i = 0; i < t->n_files; i++) {
		const agt_tfile *f = t->files[i];
		agt_tail_file_stat s;
		s.path = f->path;
		s.input_name = t->inputs[f->input].name;
		s.dev = f->dev;
		s.ino = f->ino;
		/* the reader's view (moves at EOF) or, when fresher, fstat's
		 * (reading may have stopped: spool full, rate limit) */
		s.size = f->size > f->live_size ? f->size : f->live_size;
		if (s.size < f->read_off)
			s.size = f->read_off;
		s.read_off = f->read_off;
		s.commit_off = f->commit_off;
		s.lines = f->lines;
		s.bytes = f->bytes;
		s.truncated = f->truncated;
		s.rotations = f->rotations;
		s.open = f->fd >= 0;
		s.rotated = f->state != F_ATTACHED;
		fn(ctx, &s);
	}
}
