/*
 * col_store.c : the collector's storage engine facade (col_store.h).
 *
 * Role: own the data directory. Append verified frames durably to the
 * write-ahead log of the open segment (col_wal) and index them in memory
 * (col_mem); deduplicate by (agent ID, seq); recover after a crash; seal
 * the open segment into a sealed segment (col_segment); apply retention;
 * quarantine corrupt segments; answer every query by merging the open
 * segment, any segment being sealed, and every sealed segment.
 *
 * Data in: frames + decoded batches (append), a clock, options.
 * Data out: query results copied into the caller's arena; counters.
 *
 * Sources. Everything queryable is a refcounted "source" (st_src): either
 * a log + its in-memory index (kind MEM: the active one, or one being
 * sealed) or an open sealed segment (kind SEG). A query takes a snapshot
 * (the list of sources, each with a reference) under state_mu and works
 * without any store lock; a source is freed when its last reference goes,
 * so sealing or retention can swap sources while queries run.
 *
 * Seal state machine (tick/seal_now, serialised by seal_mu):
 *
 *   ACTIVE --rotate (app_mu+state_mu)--> SEALING --segw_finish, seg_open,
 *   swap (state_mu)--> gone (seg source replaces it), wal file unlinked.
 *
 *   rotate: a new wal-<n+1>.log becomes active, appends continue there.
 *   The SEALING source stays queryable until the segment is swapped in, in
 *   one step under state_mu, so a query sees its records exactly once.
 *   A failed seal leaves the source SEALING; the next tick retries.
 *
 * Crash safety: seg-<n>.ksg appears atomically (segw_finish renames) and
 * wal-<n>.log is removed only afterwards, so at every instant each acked
 * batch is in a complete segment or in a log (recovery prefers the
 * segment and deletes the log: a segment holds all of its log's records).
 *
 * Durability: ALWAYS = the appender waits in col_wal_sync (group commit:
 * one fdatasync covers every record written before it started). INTERVAL
 * = acked after write(2); the first append after the interval, or tick on
 * an idle store, runs the fdatasync (last_sync_mono, CAS so only one does).
 *
 * Queries: see "Search works in two steps" below for how candidates from
 * several sources are decided exactly (split traces, false positives).
 *
 * Invariants:
 *  - every acked batch's key is in `dd` while its data is live;
 *  - a batch is in exactly one source;
 *  - after a failed write or fdatasync `broken` is set and appends fail
 *    with KSK_EIO until the store is reopened (fsyncgate).
 *
 * Locking (order: seal_mu -> app_mu -> state_mu; a log's sync_mu and an
 * index's rwlock are leaves):
 *  - app_mu: the active source's log appends and index updates, the dedupe
 *    set, next_num. Held for write(2) + indexing, never across fsync.
 *  - state_mu: the source lists and `active` pointer swaps; short.
 *  - seal_mu: one tick/seal at a time (maintenance thread vs tests).
 *  - counters: atomic builtins.
 */
#include "col_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pcre2.h>

#include "col_mem.h"
#include "col_recutil.h"
#include "col_segment.h"
#include "col_wal.h"

#define ST_PATH 4096
#define ST_PBUF (2 * ST_PATH) /* composed paths: dir + name */

enum { ST_MEM = 0, ST_SEG = 1 };

typedef struct st_src {
	int refs;             /* atomic; the lists hold one */
	int kind;             /* ST_MEM or ST_SEG */
	uint64_t num;         /* n of wal-<n>.log / seg-<n>.ksg */
	col_mem *mem;         /* ST_MEM: owned */
	col_wal *wal;         /* ST_MEM: owned */
	uint64_t first_ns;    /* ST_MEM: wall time of the first batch (0 none); atomic */
	uint64_t raw;         /* ST_MEM: payload bytes of its batches, decompressed; atomic */
	uint64_t records;     /* ST_MEM: spans and logs in its batches; atomic */
	bool sealing;         /* ST_MEM: rotated out, waiting to be sealed */
	bool claimed;         /* ST_MEM, state_mu: a thread is sealing it */
	col_segw *w;          /* ST_MEM: its segment, built as batches are
	                         appended while they hold only logs (app_mu
	                         while active; the sealer's once rotated out);
	                         NULL = build it from the log when sealing
	                         (a batch with spans came, a restart, or
	                         adding to it failed) */
	uint64_t *skip;       /* ST_MEM: offsets of records replay skipped as
	                         duplicates (ascending); sealing skips them too */
	uint32_t n_skip, cap_skip;
	col_seg *seg;         /* ST_SEG: owned */
	col_seg_info info;    /* ST_SEG: footer copy */
	const ksk_alloc *al;
} st_src;

typedef struct st_key {
	uint8_t agent[16];
	uint64_t seq;
} st_key;

/* Open-addressing set of (agent, seq), with deletion by backward shift. */
typedef struct st_dedupe {
	st_key *k;
	uint8_t *used;
	uint64_t cap; /* power of two or 0 */
	uint64_t n;
} st_dedupe;

struct col_store {
	col_store_opts o;          /* copy; data_dir points at `dir` */
	char dir[ST_PATH];         /* data directory */
	const ksk_alloc *al;       /* resolved allocator */
	const ksk_clock *clk;      /* resolved clock */
	pthread_mutex_t app_mu;    /* see the design comment */
	pthread_mutex_t state_mu;
	pthread_mutex_t seal_mu;
	pthread_cond_t sealed_cv;  /* with app_mu: a seal finished (backlog) */
	st_src *active;            /* app_mu to use, app_mu+state_mu to swap */
	st_src **srcs;             /* state_mu: every live source */
	uint32_t n_srcs, cap_srcs;
	st_dedupe dd;              /* app_mu */
	uint64_t next_num;         /* app_mu */
	int broken;                /* atomic: refuse appends */
	uint64_t last_sync_mono;   /* atomic: start of the last interval fsync */
	col_wal_counters wc;       /* fsync counters (atomic) */
	uint64_t batches_stored, batches_duplicate, spans_stored, logs_stored;
	uint64_t segments_dropped, segments_quarantined; /* atomic */
	uint64_t backlog_busy;     /* atomic: appends refused, sealing backlog */
	uint64_t seals_from_log;   /* atomic: seals that read their log back */
	ksk_frame_dec *fd;         /* seal_mu (and open): replay decoders */
	ksk_wire_dec *wd;
	ksk_frame_limits flim;     /* decode limits (copies) */
	ksk_wire_limits wlim;
};

/* ---- small helpers ---------------------------------------------------------- */

static void st_log(col_store *s, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void st_log(col_store *s, int level, const char *fmt, ...)
{
	if (!s->o.log)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->o.log(s->o.log_ctx, level, msg);
}

static void st_add(uint64_t *p, uint64_t v)
{
	__atomic_add_fetch(p, v, __ATOMIC_RELAXED);
}

static uint64_t st_get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static bool st_broken(col_store *s)
{
	return __atomic_load_n(&s->broken, __ATOMIC_ACQUIRE) != 0;
}

static void st_break(col_store *s, const char *why)
{
	if (!__atomic_exchange_n(&s->broken, 1, __ATOMIC_ACQ_REL))
		st_log(s, 2, "store refuses appends until reopened: %s", why);
}

static void seg_path(const col_store *s, uint64_t num, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/seg-%06" PRIu64 ".ksg", s->dir, num);
}

static ksk_err fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return KSK_EIO;
	int r = fsync(fd);
	close(fd);
	return r == 0 ? KSK_OK : KSK_EIO;
}

/* ---- dedupe set -------------------------------------------------------------- */

static uint64_t dd_hash(const uint8_t *agent, uint64_t seq)
{
	return col_ru_hash(agent, 16, col_ru_mix(seq));
}

static bool dd_has(const st_dedupe *d, const uint8_t *agent, uint64_t seq)
{
	if (!d->cap)
		return false;
	uint64_t mask = d->cap - 1, i = dd_hash(agent, seq) & mask;
	while (d->used[i]) {
		if (d->k[i].seq == seq && memcmp(d->k[i].agent, agent, 16) == 0)
			return true;
		i = (i + 1) & mask;
	}
	return false;
}

static bool dd_add(const ksk_alloc *al, st_dedupe *d, const uint8_t *agent,
                   uint64_t seq)
{
	if ((d->n + 1) * 4 > d->cap * 3) {
		uint64_t nc = d->cap ? d->cap * 2 : 1024;
		st_key *nk = ksk_calloc(al, nc, sizeof(st_key));
		uint8_t *nu = ksk_calloc(al, nc, 1);
		if (!nk || !nu) {
			ksk_free(al, nk);
			ksk_free(al, nu);
			return false;
		}
		for (uint64_t j = 0; j < d->cap; j++) {
			if (!d->used[j])
				continue;
			uint64_t i = dd_hash(d->k[j].agent, d->k[j].seq) & (nc - 1);
			while (nu[i])
				i = (i + 1) & (nc - 1);
			nk[i] = d->k[j];
			nu[i] = 1;
		}
		ksk_free(al, d->k);
		ksk_free(al, d->used);
		d->k = nk;
		d->used = nu;
		d->cap = nc;
	}
	uint64_t mask = d->cap - 1, i = dd_hash(agent, seq) & mask;
	while (d->used[i]) {
		if (d->k[i].seq == seq && memcmp(d->k[i].agent, agent, 16) == 0)
			return true;
		i = (i + 1) & mask;
	}
	memcpy(d->k[i].agent, agent, 16);
	d->k[i].seq = seq;
	d->used[i] = 1;
	d->n++;
	return true;
}

static void dd_remove(st_dedupe *d, const uint8_t *agent, uint64_t seq)
{
	if (!d->cap)
		return;
	uint64_t mask = d->cap - 1, i = dd_hash(agent, seq) & mask;
	while (d->used[i]) {
		if (d->k[i].seq == seq && memcmp(d->k[i].agent, agent, 16) == 0)
			break;
		i = (i + 1) & mask;
	}
	if (!d->used[i])
		return;
	d->used[i] = 0;
	d->n--;
	/* backward shift: re-place every entry of the cluster after the hole */
	uint64_t j = (i + 1) & mask;
	while (d->used[j]) {
		st_key k = d->k[j];
		d->used[j] = 0;
		uint64_t p = dd_hash(k.agent, k.seq) & mask;
		while (d->used[p])
			p = (p + 1) & mask;
		d->k[p] = k;
		d->used[p] = 1;
		j = (j + 1) & mask;
	}
}

static void dd_free(const ksk_alloc *al, st_dedupe *d)
{
	ksk_free(al, d->k);
	ksk_free(al, d->used);
	memset(d, 0, sizeof(*d));
}

/* ---- sources ------------------------------------------------------------------ */

static void src_ref(st_src *x)
{
	__atomic_add_fetch(&x->refs, 1, __ATOMIC_RELAXED);
}

static void src_unref(st_src *x)
{
	if (!x || __atomic_sub_fetch(&x->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	col_mem_destroy(x->mem);
	col_segw_destroy(x->w);
	col_wal_close(x->wal);
	ksk_free(x->al, x->skip);
	col_seg_close(x->seg);
	ksk_free(x->al, x);
}

static st_src *src_new(const ksk_alloc *al, int kind, uint64_t num)
{
	st_src *x = ksk_calloc(al, 1, sizeof(*x));
	if (!x)
		return NULL;
	x->refs = 1;
	x->kind = kind;
	x->num = num;
	x->al = al;
	return x;
}

/* Gives a new, empty MEM source its segment writer. Without one (out of
 * memory) the seal reads the log back instead, so this cannot fail. */
static void src_start_writer(col_store *s, st_src *x)
{
	if (col_segw_create(s->al, &x->w) != KSK_OK) {
		x->w = NULL;
		st_log(s, 1, "no memory for the segment writer of wal-%06" PRIu64
		       ".log; it will be sealed from the log", x->num);
	}
}

/* state_mu held. Adds `x` (taking over the caller's reference). */
static bool srcs_add_locked(col_store *s, st_src *x)
{
	if (!col_ru_grow(s->al, (void **)&s->srcs, &s->cap_srcs, s->n_srcs + 1,
	                 sizeof(st_src *)))
		return false;
	s->srcs[s->n_srcs++] = x;
	return true;
}

/* state_mu held. Removes `x` from the list (the list's reference is
 * returned to the caller). */
static void srcs_remove_locked(col_store *s, st_src *x)
{
	for (uint32_t i = 0; i < s->n_srcs; i++) {
		if (s->srcs[i] == x) {
			memmove(&s->srcs[i], &s->srcs[i + 1],
			        (s->n_srcs - i - 1) * sizeof(st_src *));
			s->n_srcs--;
			return;
		}
	}
}

typedef struct st_snap {
	st_src **v;
	uint32_t n;
	const ksk_alloc *al;
} st_snap;

static ksk_err snap_take(col_store *s, st_snap *sn)
{
	sn->al = s->al;
	sn->n = 0;
	pthread_mutex_lock(&s->state_mu);
	sn->v = ksk_calloc(s->al, s->n_srcs ? s->n_srcs : 1, sizeof(st_src *));
	if (!sn->v) {
		pthread_mutex_unlock(&s->state_mu);
		return KSK_ENOMEM;
	}
	for (uint32_t i = 0; i < s->n_srcs; i++) {
		src_ref(s->srcs[i]);
		sn->v[sn->n++] = s->srcs[i];
	}
	pthread_mutex_unlock(&s->state_mu);
	return KSK_OK;
}

static void snap_drop(st_snap *sn)
{
	for (uint32_t i = 0; i < sn->n; i++)
		src_unref(sn->v[i]);
	ksk_free(sn->al, sn->v);
	sn->v = NULL;
	sn->n = 0;
}

/* ---- options, open, close ---------------------------------------------------- */

void col_store_opts_default(col_store_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->fsync_mode = COL_FSYNC_ALWAYS;
	o->fsync_interval_ns = 200ull * 1000000ull;
	o->segment_max_bytes = 64ull << 20;
	o->segment_max_records = 1ull << 20;
	o->segment_max_age_ns = 600ull * 1000000000ull;
	o->max_sealing = 1;
	o->backlog_wait_ns = 5ull * 1000000000ull;
}

static col_wal_env st_wal_env(col_store *s)
{
	col_wal_env e;
	e.alloc = s->al;
	e.clock = s->clk;
	e.counters = &s->wc;
	e.log = s->o.log;
	e.log_ctx = s->o.log_ctx;
	return e;
}

/* Replay of one log record at recovery: decode, dedupe, index. */
typedef struct st_replay {
	col_store *s;
	st_src *x;
	col_mem *mem;
	uint64_t batches, dups;
	uint64_t first_ns;
} st_replay;

static ksk_err replay_rec(void *ctx, uint64_t off, const uint8_t *body,
                          uint32_t len)
{
	st_replay *r = ctx;
	col_store *s = r->s;
	ksk_frame_hdr hdr;
	const ksk_batch *b;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	ksk_err rc = ksk_frame_decode_batch(s->fd, s->wd, body, len, &hdr, &b, &ei);
	if (rc == KSK_ENOMEM)
		return rc;
	if (rc != KSK_OK) {
		st_log(s, 2, "log record at offset %" PRIu64 " does not decode: %s",
		       off, ei.msg);
		return KSK_ECORRUPT;
	}
	if (dd_has(&s->dd, hdr.agent_id, hdr.seq)) {
		/* never expected (appends dedupe first); kept out of the index
		 * and out of the segment this log becomes */
		st_log(s, 1, "log record at offset %" PRIu64 " repeats a stored "
		       "batch; skipped", off);
		if (!col_ru_grow(s->al, (void **)&r->x->skip, &r->x->cap_skip,
		                 r->x->n_skip + 1, sizeof(uint64_t)))
			return KSK_ENOMEM;
		r->x->skip[r->x->n_skip++] = off;
		r->dups++;
		return KSK_OK;
	}
	KSK_TRY(col_mem_add(r->mem, &hdr, b, off, len));
	if (!dd_add(s->al, &s->dd, hdr.agent_id, hdr.seq))
		return KSK_ENOMEM;
	r->x->raw += hdr.raw_len;
	r->x->records += (uint64_t)b->n_spans + b->n_logs;
	if (!r->first_ns)
		r->first_ns = hdr.created_ns ? hdr.created_ns : 1;
	r->batches++;
	return KSK_OK;
}

static void dd_add_cb(void *ctx, const uint8_t agent_id[16], uint64_t seq)
{
	col_store *s = ctx;
	if (!dd_add(s->al, &s->dd, agent_id, seq))
		st_break(s, "out of memory restoring the dedupe set");
}

static void dd_remove_cb(void *ctx, const uint8_t agent_id[16], uint64_t seq)
{
	col_store *s = ctx;
	dd_remove(&s->dd, agent_id, seq);
}

/* Parses "<prefix><digits><suffix>" exactly. */
static bool parse_name(const char *name, const char *prefix, const char *suffix,
                       uint64_t *num)
{
	size_t pl = strlen(prefix), sl = strlen(suffix), nl = strlen(name);
	if (nl <= pl + sl || strncmp(name, prefix, pl) != 0 ||
	    strcmp(name + nl - sl, suffix) != 0)
		return false;
	uint64_t v = 0;
	for (size_t i = pl; i < nl - sl; i++) {
		if (name[i] < '0' || name[i] > '9' || v > UINT64_MAX / 10 - 10)
			return false;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	*num = v;
	return true;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void quarantine(col_store *s, const char *path, const char *name,
                       const char *why)
{
	char dst[ST_PBUF];
	snprintf(dst, sizeof(dst), "%s/quarantine/%s", s->dir, name);
	struct stat st;
	if (stat(dst, &st) == 0)
		snprintf(dst, sizeof(dst), "%s/quarantine/%s.%" PRIu64, s->dir, name,
		         ksk_clock_wall(s->clk));
	if (rename(path, dst) != 0) {
		st_log(s, 2, "corrupt file %s (%s) could not be moved to quarantine: %s",
		       path, why, strerror(errno));
		return;
	}
	fsync_dir(s->dir);
	char q[ST_PBUF];
	snprintf(q, sizeof(q), "%s/quarantine", s->dir);
	fsync_dir(q);
	st_add(&s->segments_quarantined, 1);
	st_log(s, 2, "quarantined %s: %s (moved to %s); the rest of the store serves",
	       path, why, dst);
}

static ksk_err seal_src(col_store *s, st_src *old, ksk_errinfo *ei);
static ksk_err make_room_locked(col_store *s, bool *woke, ksk_errinfo *ei);

/* The open segment `x` is full: its log has segment_max_bytes, its
 * batches hold COL_RAW_PER_LOG times that decompressed, or it holds
 * segment_max_records spans and logs. Memory (the index, the segment's
 * rows, the seal's sort keys: ~400 bytes a log, estimated from the agent
 * benchmark's peak RSS over three segments of ~1M logs) follows the records, not the log's compressed bytes: with the
 * byte bound alone a stream that compresses 20x would keep 20x the
 * records of one that does not compress. */
#define COL_RAW_PER_LOG 8 /* spans compress ~7x: above what they reach */
static bool src_full(const col_store *s, const st_src *x)
{
	uint64_t m = s->o.segment_max_bytes, r = s->o.segment_max_records;
	return (m && (col_wal_end(x->wal) >= m ||
	              __atomic_load_n(&x->raw, __ATOMIC_RELAXED) >= COL_RAW_PER_LOG * m)) ||
	       (r && __atomic_load_n(&x->records, __ATOMIC_RELAXED) >= r);
}

ksk_err col_store_open(const col_store_opts *opts, col_store **out,
                       ksk_errinfo *ei)
{
	if (!opts || !opts->data_dir || !*opts->data_dir)
		return ksk_errinfo_set(ei, KSK_EINVAL, "no data directory");
	if (strlen(opts->data_dir) > ST_PATH - 64)
		return ksk_errinfo_set(ei, KSK_EINVAL, "data directory path too long");
	const ksk_alloc *al = ksk_alloc_or_default(opts->alloc);
	col_store *s = ksk_calloc(al, 1, sizeof(*s));
	if (!s)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	s->o = *opts;
	snprintf(s->dir, sizeof(s->dir), "%s", opts->data_dir);
	s->o.data_dir = s->dir;
	s->al = al;
	s->clk = opts->clock ? opts->clock : ksk_clock_system();
	if (!s->o.fsync_interval_ns)
		s->o.fsync_interval_ns = 200ull * 1000000ull;
	pthread_mutex_init(&s->app_mu, NULL);
	pthread_mutex_init(&s->state_mu, NULL);
	pthread_mutex_init(&s->seal_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->sealed_cv, &ca);
	pthread_condattr_destroy(&ca);
	ksk_err rc = KSK_OK;
	uint64_t *segn = NULL, *waln = NULL;
	uint32_t n_seg = 0, n_wal = 0, cap_seg = 0, cap_wal = 0;
	DIR *d = NULL;

	if (opts->frame_limits)
		s->flim = *opts->frame_limits;
	else
		ksk_frame_limits_default(&s->flim);
	if (opts->wire_limits)
		s->wlim = *opts->wire_limits;
	else
		ksk_wire_limits_default(&s->wlim);
	s->o.frame_limits = &s->flim;
	s->o.wire_limits = &s->wlim;
	if (ksk_frame_dec_create(al, &s->flim, &s->fd) != KSK_OK ||
	    ksk_wire_dec_create(al, &s->wlim, &s->wd) != KSK_OK) {
		rc = ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
		goto fail;
	}
	if (mkdir(s->dir, 0755) != 0 && errno != EEXIST) {
		rc = ksk_errinfo_sys(ei, KSK_ESYS, errno, "create %s", s->dir);
		goto fail;
	}
	char qdir[ST_PBUF];
	snprintf(qdir, sizeof(qdir), "%s/quarantine", s->dir);
	if (mkdir(qdir, 0755) != 0 && errno != EEXIST) {
		rc = ksk_errinfo_sys(ei, KSK_ESYS, errno, "create %s", qdir);
		goto fail;
	}
	d = opendir(s->dir);
	if (!d) {
		rc = ksk_errinfo_sys(ei, KSK_ESYS, errno, "open %s", s->dir);
		goto fail;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		uint64_t n;
		if (parse_name(de->d_name, "seg-", ".ksg", &n)) {
			if (!col_ru_grow(al, (void **)&segn, &cap_seg, n_seg + 1, 8))
				goto nomem;
			segn[n_seg++] = n;
		} else if (parse_name(de->d_name, "seg-", ".ksg.tmp", &n)) {
			/* a seal interrupted before its rename: the log still
			 * holds every record, so the partial file goes */
			char tp[ST_PBUF];
			snprintf(tp, sizeof(tp), "%s/%s", s->dir, de->d_name);
			st_log(s, 0, "removing %s left by an interrupted seal", tp);
			unlink(tp);
		} else if (parse_name(de->d_name, "wal-", ".log", &n)) {
			if (!col_ru_grow(al, (void **)&waln, &cap_wal, n_wal + 1, 8))
				goto nomem;
			waln[n_wal++] = n;
		}
	}
	closedir(d);
	d = NULL;
	if (n_seg)
		qsort(segn, n_seg, 8, u64_cmp);
	if (n_wal)
		qsort(waln, n_wal, 8, u64_cmp);
	uint64_t maxn = 0;

	/* 1. sealed segments */
	for (uint32_t i = 0; i < n_seg; i++) {
		char path[ST_PBUF], name[64];
		seg_path(s, segn[i], path, sizeof(path));
		snprintf(name, sizeof(name), "seg-%06" PRIu64 ".ksg", segn[i]);
		if (segn[i] > maxn)
			maxn = segn[i];
		col_seg *seg = NULL;
		ksk_errinfo sei;
		ksk_errinfo_clear(&sei);
		ksk_err r = col_seg_open(al, path, &seg, &sei);
		if (r == KSK_ECORRUPT) {
			quarantine(s, path, name, sei.msg[0] ? sei.msg : "corrupt");
			segn[i] = UINT64_MAX; /* not open */
			continue;
		}
		if (r != KSK_OK) {
			rc = ksk_errinfo_set(ei, r, "open %s: %s", path, sei.msg);
			goto fail;
		}
		st_src *x = src_new(al, ST_SEG, segn[i]);
		if (!x) {
			col_seg_close(seg);
			goto nomem;
		}
		x->seg = seg;
		x->info = *col_seg_info_get(seg);
		if (!srcs_add_locked(s, x)) {
			src_unref(x);
			goto nomem;
		}
		col_seg_batch_keys(seg, dd_add_cb, s);
	}
	if (st_broken(s))
		goto nomem;

	/* 2. logs, oldest first */
	for (uint32_t i = 0; i < n_wal; i++) {
		uint64_t n = waln[i];
		char path[ST_PBUF], name[64];
		col_wal_path_for(s->dir, n, path, sizeof(path));
		snprintf(name, sizeof(name), "wal-%06" PRIu64 ".log", n);
		if (n > maxn)
			maxn = n;
		bool sealed = false;
		for (uint32_t j = 0; j < n_seg; j++)
			sealed |= segn[j] == n;
		if (sealed) {
			st_log(s, 0, "%s was sealed into seg-%06" PRIu64 ".ksg before a "
			       "crash; removing the log", path, n);
			if (unlink(path) != 0)
				st_log(s, 1, "unlink %s: %s", path, strerror(errno));
			fsync_dir(s->dir);
			continue;
		}
		st_src *x = src_new(al, ST_MEM, n);
		if (!x || col_mem_create(al, &x->mem) != KSK_OK) {
			src_unref(x);
			goto nomem;
		}
		st_replay rp = {s, x, x->mem, 0, 0, 0};
		col_wal_env env = st_wal_env(s);
		ksk_errinfo wei;
		ksk_errinfo_clear(&wei);
		ksk_err r = col_wal_open(&env, s->dir, n, ksk_clock_wall(s->clk),
		                         replay_rec, &rp, &x->wal, &wei);
		if (r == KSK_ECORRUPT) {
			src_unref(x);
			quarantine(s, path, name, wei.msg);
			continue;
		}
		if (r != KSK_OK) {
			src_unref(x);
			rc = ksk_errinfo_set(ei, r, "recover %s: %s", path, wei.msg);
			goto fail;
		}
		if (rp.batches) /* age counts from the log's creation */
			x->first_ns = col_wal_created_ns(x->wal) ? col_wal_created_ns(x->wal)
			                                         : ksk_clock_wall(s->clk);
		st_log(s, 0, "recovered %s: %" PRIu64 " batches (%" PRIu64
		       " duplicates skipped)", path, rp.batches, rp.dups);
		x->sealing = i + 1 < n_wal;
		if (!x->sealing && rp.batches == 0)
			src_start_writer(s, x);
		if (!srcs_add_locked(s, x)) {
			src_unref(x);
			goto nomem;
		}
		if (!x->sealing)
			s->active = x;
	}
	s->next_num = maxn + 1;
	if (!s->active) {
		st_src *x = src_new(al, ST_MEM, s->next_num++);
		if (!x || col_mem_create(al, &x->mem) != KSK_OK) {
			src_unref(x);
			goto nomem;
		}
		col_wal_env env = st_wal_env(s);
		rc = col_wal_create(&env, s->dir, x->num, ksk_clock_wall(s->clk), &x->wal, ei);
		if (rc != KSK_OK) {
			src_unref(x);
			goto fail;
		}
		src_start_writer(s, x);
		if (!srcs_add_locked(s, x)) {
			src_unref(x);
			goto nomem;
		}
		s->active = x;
	}
	/* 3. logs left by a crash in the middle of a seal: seal them now */
	for (uint32_t i = 0; i < s->n_srcs; i++) {
		st_src *x = s->srcs[i];
		if (x->kind != ST_MEM || !x->sealing)
			continue;
		src_ref(x);
		ksk_errinfo sei;
		ksk_errinfo_clear(&sei);
		ksk_err r = seal_src(s, x, &sei);
		src_unref(x);
		if (r != KSK_OK)
			st_log(s, 1, "sealing a recovered log failed (%s); it keeps "
			       "serving from memory and will be retried", sei.msg);
		i = UINT32_MAX; /* the list changed: restart (i++ wraps to 0) */
		if (r != KSK_OK)
			break;
	}
	s->last_sync_mono = ksk_clock_mono(s->clk);
	ksk_free(al, segn);
	ksk_free(al, waln);
	*out = s;
	return KSK_OK;
nomem:
	rc = ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory opening the store");
fail:
	if (d)
		closedir(d);
	ksk_free(al, segn);
	ksk_free(al, waln);
	s->active = NULL;
	col_store_close(s);
	return rc;
}

void col_store_close(col_store *s)
{
	if (!s)
		return;
	if (s->active && s->active->wal) {
		ksk_errinfo ei;
		if (col_wal_sync(s->active->wal, col_wal_end(s->active->wal), &ei) != KSK_OK)
			st_log(s, 2, "final fsync failed: %s", ei.msg);
	}
	for (uint32_t i = 0; i < s->n_srcs; i++)
		src_unref(s->srcs[i]);
	ksk_free(s->al, s->srcs);
	dd_free(s->al, &s->dd);
	ksk_frame_dec_destroy(s->fd);
	ksk_wire_dec_destroy(s->wd);
	pthread_mutex_destroy(&s->app_mu);
	pthread_mutex_destroy(&s->state_mu);
	pthread_mutex_destroy(&s->seal_mu);
	pthread_cond_destroy(&s->sealed_cv);
	ksk_free(s->al, s);
}

/* ---- append --------------------------------------------------------------------- */

ksk_err col_store_append(col_store *s, const ksk_frame_hdr *hdr,
                         const uint8_t *frame, size_t len,
                         const ksk_batch *batch, col_append_result *res,
                         ksk_errinfo *ei)
{
	if (st_broken(s))
		return ksk_errinfo_set(ei, KSK_EIO, "the store had a write or fsync "
		                       "failure and refuses appends until reopened");
	if (len > COL_WAL_MAX_RECORD || len < KSK_FRAME_HDR_LEN)
		return ksk_errinfo_set(ei, KSK_EINVAL, "frame of %zu bytes", len);
	pthread_mutex_lock(&s->app_mu);
	st_src *x = s->active;
	if (dd_has(&s->dd, hdr->agent_id, hdr->seq)) {
		src_ref(x);
		uint64_t end = col_wal_end(x->wal);
		pthread_mutex_unlock(&s->app_mu);
		ksk_err rc = KSK_OK;
		/* the first copy may still be on its way to disk: wait for it */
		if (s->o.fsync_mode == COL_FSYNC_ALWAYS)
			rc = col_wal_sync(x->wal, end, ei);
		src_unref(x);
		if (rc != KSK_OK) {
			st_break(s, "fdatasync failed");
			return KSK_EIO;
		}
		st_add(&s->batches_duplicate, 1);
		*res = COL_APPEND_DUPLICATE;
		return KSK_OK;
	}
	bool woke = false;
	if (src_full(s, x)) {
		ksk_err brc = make_room_locked(s, &woke, ei);
		if (brc != KSK_OK) {
			pthread_mutex_unlock(&s->app_mu);
			return brc;
		}
		x = s->active;
		if (dd_has(&s->dd, hdr->agent_id, hdr->seq)) {
			/* stored by another appender while this one waited */
			pthread_mutex_unlock(&s->app_mu);
			return col_store_append(s, hdr, frame, len, batch, res, ei);
		}
	}
	if (woke && s->o.wake)
		s->o.wake(s->o.wake_ctx); /* a condvar signal: safe under app_mu */
	uint64_t off, end;
	ksk_err rc = col_wal_append(x->wal, frame, (uint32_t)len, &off, &end, ei);
	if (rc != KSK_OK) {
		pthread_mutex_unlock(&s->app_mu);
		if (col_wal_failed(x->wal))
			st_break(s, "a log write failed and could not be undone");
		return KSK_EIO;
	}
	rc = col_mem_add(x->mem, hdr, batch, off, (uint32_t)len);
	if (rc == KSK_OK && x->w && batch->n_spans) {
		/* spans: building their rows here would cost the ack path
		 * ~0.8 us per span (interning every attribute); the seal reads
		 * the segment back from its log instead, off the ack path */
		col_segw_destroy(x->w);
		x->w = NULL;
	} else if (rc == KSK_OK && x->w && col_segw_add(x->w, hdr, batch) != KSK_OK) {
		/* the log has the batch: the seal reads it back instead */
		col_segw_destroy(x->w);
		x->w = NULL;
		st_log(s, 1, "building segment %" PRIu64 " in memory failed (out of "
		       "memory?); it will be sealed from its log", x->num);
	}
	bool keyed = dd_add(s->al, &s->dd, hdr->agent_id, hdr->seq);
	if (rc != KSK_OK || !keyed) {
		pthread_mutex_unlock(&s->app_mu);
		st_break(s, "out of memory indexing a batch (the log has it; a "
		         "restart rebuilds the index)");
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory indexing the batch");
	}
	if (!__atomic_load_n(&x->first_ns, __ATOMIC_RELAXED))
		__atomic_store_n(&x->first_ns, ksk_clock_wall(s->clk), __ATOMIC_RELAXED);
	__atomic_fetch_add(&x->raw, (uint64_t)hdr->raw_len, __ATOMIC_RELAXED);
	__atomic_fetch_add(&x->records, (uint64_t)batch->n_spans + batch->n_logs, __ATOMIC_RELAXED);
	src_ref(x);
	pthread_mutex_unlock(&s->app_mu);
	bool sync = s->o.fsync_mode == COL_FSYNC_ALWAYS;
	if (!sync) {
		/* interval mode: the first append after the interval passed
		 * runs the fsync (tick covers an idle store), so the window
		 * does not depend on how often tick is called */
		uint64_t now = ksk_clock_mono(s->clk);
		uint64_t last = __atomic_load_n(&s->last_sync_mono, __ATOMIC_RELAXED);
		sync = now - last >= s->o.fsync_interval_ns &&
		       __atomic_compare_exchange_n(&s->last_sync_mono, &last, now, false,
		                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	}
	if (sync) {
		rc = col_wal_sync(x->wal, end, ei);
		if (rc != KSK_OK) {
			src_unref(x);
			st_break(s, "fdatasync failed");
			return KSK_EIO;
		}
	}
	src_unref(x);
	st_add(&s->batches_stored, 1);
	st_add(&s->spans_stored, batch->n_spans);
	st_add(&s->logs_stored, batch->n_logs);
	*res = COL_APPEND_STORED;
	return KSK_OK;
}

/* ---- sealing --------------------------------------------------------------------- */

typedef struct st_sealctx {
	col_store *s;
	const st_src *old;
	uint32_t next_skip;   /* index into old->skip */
	col_segw *w;
	uint64_t batches;
	ksk_frame_dec *fd;    /* this seal's own decoders (seals may run */
	ksk_wire_dec *wd;     /* on several threads) */
} st_sealctx;

static ksk_err seal_rec(void *ctx, uint64_t off, const uint8_t *body,
                        uint32_t len)
{
	st_sealctx *c = ctx;
	while (c->next_skip < c->old->n_skip && c->old->skip[c->next_skip] < off)
		c->next_skip++;
	if (c->next_skip < c->old->n_skip && c->old->skip[c->next_skip] == off)
		return KSK_OK; /* a duplicate replay kept out of the index */
	ksk_frame_hdr hdr;
	const ksk_batch *b;
	ksk_errinfo ei;
	ksk_errinfo_clear(&ei);
	ksk_err rc = ksk_frame_decode_batch(c->fd, c->wd, body, len, &hdr, &b, &ei);
	if (rc == KSK_ENOMEM)
		return rc;
	if (rc != KSK_OK) {
		st_log(c->s, 2, "sealing: record at %" PRIu64 " does not decode: %s",
		       off, ei.msg);
		return KSK_ECORRUPT;
	}
	c->batches++;
	return col_segw_add(c->w, &hdr, b);
}

/* Seals a rotated-out MEM source (seal_mu held, or during open). */
static ksk_err seal_src(col_store *s, st_src *old, ksk_errinfo *ei)
{
	uint64_t t0 = ksk_clock_mono(s->clk);
	col_segw *w = NULL;
	col_seg *seg = NULL;
	char path[ST_PBUF];
	seg_path(s, old->num, path, sizeof(path));
	st_sealctx c = {s, old, 0, NULL, 0, NULL, NULL};
	ksk_err rc = KSK_OK;
	if (old->w) {
		/* built while the batches arrived (only this thread touches a
		 * rotated-out source's writer); a failed finish falls back to
		 * reading the log on the next try */
		w = old->w;
		old->w = NULL;
		col_mem_info mi;
		col_mem_info_get(old->mem, &mi);
		c.batches = mi.batches;
	} else {
		rc = col_segw_create(s->al, &w);
		if (rc == KSK_OK && (ksk_frame_dec_create(s->al, &s->flim, &c.fd) != KSK_OK ||
		                     ksk_wire_dec_create(s->al, &s->wlim, &c.wd) != KSK_OK))
			rc = KSK_ENOMEM;
		if (rc != KSK_OK) {
			col_segw_destroy(w);
			ksk_frame_dec_destroy(c.fd);
			ksk_wire_dec_destroy(c.wd);
			return ksk_errinfo_set(ei, rc, "out of memory creating a segment writer");
		}
		st_add(&s->seals_from_log, 1);
		c.w = w;
		rc = col_wal_scan(old->wal, seal_rec, &c, ei);
		ksk_frame_dec_destroy(c.fd);
		ksk_wire_dec_destroy(c.wd);
	}
	if (rc == KSK_OK)
		rc = col_segw_finish(w, path, ksk_clock_wall(s->clk), NULL, ei);
	col_segw_destroy(w);
	if (rc != KSK_OK)
		return rc;
	rc = col_seg_open(s->al, path, &seg, ei);
	if (rc != KSK_OK) {
		st_log(s, 2, "the segment just sealed (%s) does not open: %s", path,
		       ei ? ei->msg : "");
		unlink(path);
		return rc;
	}
	st_src *x = src_new(s->al, ST_SEG, old->num);
	if (!x) {
		col_seg_close(seg);
		unlink(path);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	}
	x->seg = seg;
	x->info = *col_seg_info_get(seg);
	pthread_mutex_lock(&s->state_mu);
	if (!srcs_add_locked(s, x)) {
		pthread_mutex_unlock(&s->state_mu);
		src_unref(x);
		unlink(path);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	}
	srcs_remove_locked(s, old);
	pthread_mutex_unlock(&s->state_mu);
	pthread_mutex_lock(&s->app_mu);
	pthread_cond_broadcast(&s->sealed_cv);
	pthread_mutex_unlock(&s->app_mu);
	ksk_errinfo uei;
	if (col_wal_unlink(old->wal, &uei) != KSK_OK)
		st_log(s, 1, "sealed, but removing the log failed: %s", uei.msg);
	st_log(s, 0, "sealed %s: %" PRIu64 " batches, %" PRIu64 " spans, %" PRIu64
	       " logs, %" PRIu64 " bytes in %" PRIu64 " ms", path, c.batches, x->info.spans,
	       x->info.logs, x->info.file_bytes, (ksk_clock_mono(s->clk) - t0) / 1000000u);
	src_unref(old); /* the list's reference */
	return KSK_OK;
}

/* Rotates the active log out (app_mu held). *old gets a reference; NULL
 * when the active log holds nothing. */
static ksk_err rotate_locked(col_store *s, st_src **old, ksk_errinfo *ei)
{
	*old = NULL;
	st_src *cur = s->active;
	col_mem_info mi;
	col_mem_info_get(cur->mem, &mi);
	if (mi.batches == 0)
		return KSK_OK;
	st_src *x = src_new(s->al, ST_MEM, s->next_num);
	ksk_err rc = KSK_OK;
	if (!x || col_mem_create(s->al, &x->mem) != KSK_OK) {
		rc = ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
		goto fail;
	}
	col_wal_env env = st_wal_env(s);
	rc = col_wal_create(&env, s->dir, x->num, ksk_clock_wall(s->clk), &x->wal, ei);
	if (rc != KSK_OK)
		goto fail;
	src_start_writer(s, x);
	pthread_mutex_lock(&s->state_mu);
	if (!srcs_add_locked(s, x)) {
		pthread_mutex_unlock(&s->state_mu);
		col_wal_unlink(x->wal, NULL);
		rc = ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
		goto fail;
	}
	s->next_num++;
	s->active = x;
	cur->sealing = true;
	src_ref(cur);
	pthread_mutex_unlock(&s->state_mu);
	*old = cur;
	return KSK_OK;
fail:
	src_unref(x);
	return rc;
}

/* Rotates the active log out (seal_mu held). */
static ksk_err rotate(col_store *s, st_src **old, ksk_errinfo *ei)
{
	pthread_mutex_lock(&s->app_mu);
	ksk_err rc = rotate_locked(s, old, ei);
	pthread_mutex_unlock(&s->app_mu);
	return rc;
}

/* How many rotated-out logs wait to be sealed (`claimed` false), or are
 * being sealed by some thread right now (`claimed` true). */
static uint32_t n_pending(col_store *s, bool claimed)
{
	uint32_t n = 0;
	pthread_mutex_lock(&s->state_mu);
	for (uint32_t i = 0; i < s->n_srcs; i++) {
		const st_src *x = s->srcs[i];
		n += x->kind == ST_MEM && (claimed ? x->claimed : x->sealing);
	}
	pthread_mutex_unlock(&s->state_mu);
	return n;
}

static uint32_t n_sealing(col_store *s)
{
	return n_pending(s, false);
}

/* The open segment is full (app_mu held): rotate it out unless the
 * sealing backlog is full, in which case wait up to backlog_wait_ns for a
 * seal to finish. *woke is set when a log was rotated out (the caller
 * wakes the maintenance thread after unlocking).
 * @return : KSK_OK (rotated, or no longer full); KSK_EBUSY; errors of
 *           rotate_locked. */
static ksk_err make_room_locked(col_store *s, bool *woke, ksk_errinfo *ei)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	uint64_t ns = (uint64_t)until.tv_nsec + s->o.backlog_wait_ns;
	until.tv_sec += (time_t)(ns / 1000000000ull);
	until.tv_nsec = (long)(ns % 1000000000ull);
	uint32_t max = s->o.max_sealing ? s->o.max_sealing : 1;
	for (;;) {
		if (!src_full(s, s->active))
			return KSK_OK; /* another appender rotated it */
		uint32_t n = n_sealing(s);
		if (n < max) {
			st_src *old = NULL;
			KSK_TRY(rotate_locked(s, &old, ei));
			if (old) {
				*woke = true;
				src_unref(old);
			}
			return KSK_OK;
		}
		if (!s->o.backlog_wait_ns ||
		    pthread_cond_timedwait(&s->sealed_cv, &s->app_mu, &until) == ETIMEDOUT) {
			if (!src_full(s, s->active) || n_sealing(s) < max)
				continue;
			st_add(&s->backlog_busy, 1);
			return ksk_errinfo_set(ei, KSK_EBUSY, "sealing backlog: %u segments "
			                       "wait to be sealed and the open one is full", n);
		}
	}
}

/* Seals every rotated-out source (seal_mu held). */
static ksk_err seal_pending(col_store *s, ksk_errinfo *ei)
{
	/* interval mode: a log rotated out by an append may hold unsynced
	 * records; they must not wait for its seal (or for the seals before
	 * it, or for a seal that fails for a while), so every waiting log is
	 * synced first (a no-op for a synced one) */
	for (uint32_t k = 0;; k++) {
		st_src *p = NULL;
		pthread_mutex_lock(&s->state_mu);
		for (uint32_t i = 0, seen = 0; i < s->n_srcs && !p; i++)
			if (s->srcs[i]->kind == ST_MEM && s->srcs[i]->sealing && seen++ == k)
				p = s->srcs[i];
		if (p)
			src_ref(p);
		pthread_mutex_unlock(&s->state_mu);
		if (!p)
			break;
		ksk_err rc = col_wal_sync(p->wal, col_wal_end(p->wal), ei);
		src_unref(p);
		if (rc != KSK_OK) {
			st_break(s, "fdatasync of a rotated log failed");
			return rc;
		}
	}
	for (;;) {
		st_src *p = NULL;
		pthread_mutex_lock(&s->state_mu);
		for (uint32_t i = 0; i < s->n_srcs && !p; i++)
			if (s->srcs[i]->kind == ST_MEM && s->srcs[i]->sealing && !s->srcs[i]->claimed)
				p = s->srcs[i];
		if (p) {
			p->claimed = true;
			src_ref(p);
		}
		pthread_mutex_unlock(&s->state_mu);
		if (!p)
			return KSK_OK;
		ksk_err rc = seal_src(s, p, ei);
		if (rc != KSK_OK) {
			/* still listed: another try (any thread) may take it */
			pthread_mutex_lock(&s->state_mu);
			p->claimed = false;
			pthread_mutex_unlock(&s->state_mu);
			pthread_mutex_lock(&s->app_mu);
			pthread_cond_broadcast(&s->sealed_cv);
			pthread_mutex_unlock(&s->app_mu);
		}
		src_unref(p);
		if (rc != KSK_OK)
			return rc;
	}
}

static ksk_err seal_locked(col_store *s, ksk_errinfo *ei)
{
	KSK_TRY(seal_pending(s, ei));
	st_src *old;
	KSK_TRY(rotate(s, &old, ei));
	if (!old)
		return KSK_OK;
	/* interval mode: the rotated log may hold unsynced records; if the
	 * seal then fails for a while they must not wait for it */
	ksk_err rc = col_wal_sync(old->wal, col_wal_end(old->wal), ei);
	src_unref(old);
	if (rc != KSK_OK) {
		st_break(s, "fdatasync of a rotated log failed");
		return rc;
	}
	return seal_pending(s, ei);
}

ksk_err col_store_seal_now(col_store *s, ksk_errinfo *ei)
{
	pthread_mutex_lock(&s->seal_mu);
	ksk_err rc = seal_locked(s, ei);
	/* seals running on other threads (col_store_seal_pending) end before
	 * this returns; one that failed there is tried again here */
	while (rc == KSK_OK) {
		pthread_mutex_lock(&s->app_mu);
		while (n_pending(s, true) > 0)
			pthread_cond_wait(&s->sealed_cv, &s->app_mu);
		pthread_mutex_unlock(&s->app_mu);
		if (n_sealing(s) == 0)
			break;
		rc = seal_pending(s, ei);
	}
	pthread_mutex_unlock(&s->seal_mu);
	return rc;
}

ksk_err col_store_seal_pending(col_store *s, ksk_errinfo *ei)
{
	return seal_pending(s, ei);
}

/* ---- retention ------------------------------------------------------------------ */

static int src_num_cmp(const void *a, const void *b)
{
	const st_src *x = *(st_src *const *)a, *y = *(st_src *const *)b;
	return x->num < y->num ? -1 : x->num > y->num;
}

static void retention(col_store *s)
{
	if (!s->o.retention_ns && !s->o.max_disk_bytes)
		return;
	uint64_t now = ksk_clock_wall(s->clk);
	st_src **drop = NULL;
	uint32_t n_drop = 0;
	const char **why = NULL;
	pthread_mutex_lock(&s->state_mu);
	drop = ksk_calloc(s->al, s->n_srcs ? s->n_srcs : 1, sizeof(st_src *));
	why = ksk_calloc(s->al, s->n_srcs ? s->n_srcs : 1, sizeof(char *));
	if (!drop || !why) {
		pthread_mutex_unlock(&s->state_mu);
		ksk_free(s->al, drop);
		ksk_free(s->al, why);
		return;
	}
	qsort(s->srcs, s->n_srcs, sizeof(st_src *), src_num_cmp);
	if (s->o.retention_ns && now > s->o.retention_ns) {
		uint64_t cut = now - s->o.retention_ns;
		for (uint32_t i = 0; i < s->n_srcs;) {
			st_src *x = s->srcs[i];
			if (x->kind == ST_SEG && x->info.max_ns < cut) {
				srcs_remove_locked(s, x);
				why[n_drop] = "older than the retention period";
				drop[n_drop++] = x;
				continue;
			}
			i++;
		}
	}
	if (s->o.max_disk_bytes) {
		uint64_t total = 0;
		for (uint32_t i = 0; i < s->n_srcs; i++) {
			st_src *x = s->srcs[i];
			total += x->kind == ST_SEG ? x->info.file_bytes : col_wal_end(x->wal);
		}
		for (uint32_t i = 0; i < s->n_srcs && total > s->o.max_disk_bytes;) {
			st_src *x = s->srcs[i];
			if (x->kind != ST_SEG) {
				i++;
				continue;
			}
			total -= x->info.file_bytes;
			srcs_remove_locked(s, x);
			why[n_drop] = "over the disk limit";
			drop[n_drop++] = x;
		}
	}
	pthread_mutex_unlock(&s->state_mu);
	for (uint32_t i = 0; i < n_drop; i++) {
		st_src *x = drop[i];
		char path[ST_PBUF];
		seg_path(s, x->num, path, sizeof(path));
		if (unlink(path) != 0)
			st_log(s, 1, "retention: unlink %s: %s", path, strerror(errno));
		pthread_mutex_lock(&s->app_mu);
		col_seg_batch_keys(x->seg, dd_remove_cb, s);
		pthread_mutex_unlock(&s->app_mu);
		st_add(&s->segments_dropped, 1);
		st_log(s, 0, "retention dropped %s (%s): %" PRIu64 " spans, %" PRIu64
		       " logs, %" PRIu64 " bytes", path, why[i], x->info.spans,
		       x->info.logs, x->info.file_bytes);
		src_unref(x);
	}
	if (n_drop)
		fsync_dir(s->dir);
	ksk_free(s->al, drop);
	ksk_free(s->al, why);
}

ksk_err col_store_tick(col_store *s, ksk_errinfo *ei)
{
	pthread_mutex_lock(&s->seal_mu);
	ksk_err rc = KSK_OK;
	st_src *act;
	pthread_mutex_lock(&s->app_mu);
	act = s->active;
	src_ref(act);
	pthread_mutex_unlock(&s->app_mu);
	uint64_t mono = ksk_clock_mono(s->clk);
	uint64_t last = __atomic_load_n(&s->last_sync_mono, __ATOMIC_RELAXED);
	if (s->o.fsync_mode == COL_FSYNC_INTERVAL && mono - last >= s->o.fsync_interval_ns &&
	    __atomic_compare_exchange_n(&s->last_sync_mono, &last, mono, false,
	                                __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		uint64_t end = col_wal_end(act->wal);
		if (col_wal_synced(act->wal) < end) {
			rc = col_wal_sync(act->wal, end, ei);
			if (rc != KSK_OK)
				st_break(s, "interval fdatasync failed");
		}
	}
	uint64_t now = ksk_clock_wall(s->clk);
	bool too_big = src_full(s, act);
	uint64_t first = __atomic_load_n(&act->first_ns, __ATOMIC_RELAXED);
	bool too_old = s->o.segment_max_age_ns && first &&
	               now >= first + s->o.segment_max_age_ns;
	src_unref(act);
	ksk_err r2 = KSK_OK;
	/* with the backlog full (other threads still sealing), rotating
	 * waits for a later tick (or for the append that finds the log full) */
	uint32_t max = s->o.max_sealing ? s->o.max_sealing : 1;
	r2 = seal_pending(s, ei);
	if (r2 == KSK_OK && (too_big || too_old) && n_sealing(s) < max)
		r2 = seal_locked(s, ei);
	if (r2 != KSK_OK) {
		st_log(s, 2, "seal failed (will retry): %s", ei ? ei->msg : ksk_strerror(r2));
		if (rc == KSK_OK)
			rc = r2;
	}
	retention(s);
	pthread_mutex_unlock(&s->seal_mu);
	return rc;
}

void col_store_test_fail_next_fsync(col_store *s)
{
	pthread_mutex_lock(&s->app_mu);
	col_wal_fail_next_sync(s->active->wal);
	pthread_mutex_unlock(&s->app_mu);
}

/* ---- stats ----------------------------------------------------------------------- */

void col_store_stats_get(col_store *s, col_store_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->batches_stored = st_get(&s->batches_stored);
	out->batches_duplicate = st_get(&s->batches_duplicate);
	out->spans_stored = st_get(&s->spans_stored);
	out->logs_stored = st_get(&s->logs_stored);
	out->segments_dropped = st_get(&s->segments_dropped);
	out->segments_quarantined = st_get(&s->segments_quarantined);
	out->backlog_busy = st_get(&s->backlog_busy);
	out->seals_from_log = st_get(&s->seals_from_log);
	out->segments_sealing = n_sealing(s);
	out->fsyncs = st_get(&s->wc.fsyncs);
	out->fsync_ns_sum = st_get(&s->wc.fsync_ns_sum);
	out->fsync_ns_max = st_get(&s->wc.fsync_ns_max);
	pthread_mutex_lock(&s->state_mu);
	for (uint32_t i = 0; i < s->n_srcs; i++) {
		st_src *x = s->srcs[i];
		if (x->kind == ST_SEG) {
			out->segments_sealed++;
			out->bytes_stored += x->info.file_bytes;
		} else {
			uint64_t e = col_wal_end(x->wal);
			out->bytes_stored += e;
			if (x == s->active) {
				out->wal_bytes = e;
				out->open_raw_bytes = __atomic_load_n(&x->raw, __ATOMIC_RELAXED);
				out->open_records = __atomic_load_n(&x->records, __ATOMIC_RELAXED);
				out->open_full = src_full(s, x);
			}
		}
	}
	pthread_mutex_unlock(&s->state_mu);
}

/* ---- fetching from the open segment ----------------------------------------------- */

/* Decoders and a read buffer for one query. */
typedef struct st_fetch {
	const ksk_alloc *al;
	ksk_frame_dec *fd;
	ksk_wire_dec *wd;
	uint8_t *buf;
	size_t cap;
	const st_src *cached_src; /* the batch currently decoded */
	uint64_t cached_off;
	const ksk_batch *batch;
} st_fetch;

static ksk_err fetch_init(st_fetch *f, const col_store *s)
{
	memset(f, 0, sizeof(*f));
	const ksk_alloc *al = s->al;
	f->al = al;
	if (ksk_frame_dec_create(al, &s->flim, &f->fd) != KSK_OK ||
	    ksk_wire_dec_create(al, &s->wlim, &f->wd) != KSK_OK)
		return KSK_ENOMEM;
	return KSK_OK;
}

static void fetch_fini(st_fetch *f)
{
	ksk_frame_dec_destroy(f->fd);
	ksk_wire_dec_destroy(f->wd);
	ksk_free(f->al, f->buf);
}

static ksk_err fetch_frame(st_fetch *f, const st_src *x, col_mem_frame fr,
                           const ksk_batch **out, ksk_errinfo *ei)
{
	if (f->batch && f->cached_src == x && f->cached_off == fr.off) {
		*out = f->batch;
		return KSK_OK;
	}
	f->batch = NULL;
	if (fr.len > f->cap) {
		uint8_t *nb = ksk_realloc(f->al, f->buf, fr.len);
		if (!nb)
			return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
		f->buf = nb;
		f->cap = fr.len;
	}
	KSK_TRY(col_wal_pread(x->wal, fr.off, f->buf, fr.len, ei));
	ksk_frame_hdr hdr;
	ksk_err rc = ksk_frame_decode_batch(f->fd, f->wd, f->buf, fr.len, &hdr, out, ei);
	if (rc == KSK_ENOMEM)
		return rc;
	if (rc != KSK_OK)
		return ksk_errinfo_set(ei, KSK_ECORRUPT, "%s at %" PRIu64 ": %s",
		                       col_wal_path(x->wal), fr.off, ei ? ei->msg : "");
	f->batch = *out;
	f->cached_src = x;
	f->cached_off = fr.off;
	return KSK_OK;
}

/* Growable heap vector of records collected before the final arena copy. */
typedef struct st_vec {
	void *v;
	uint32_t n, cap;
} st_vec;

static bool vec_push(const ksk_alloc *al, st_vec *v, const void *item, size_t size)
{
	if (!col_ru_grow(al, &v->v, &v->cap, v->n + 1, size))
		return false;
	memcpy((char *)v->v + (size_t)v->n * size, item, size);
	v->n++;
	return true;
}

/* Appends `n` items of `v` to the arena array *arr of *cnt items. */
static bool arena_append(ksk_arena *a, void **arr, uint32_t *cnt, const void *v,
                         uint32_t n, size_t size)
{
	if (!n)
		return true;
	char *na = ksk_arena_alloc(a, ((size_t)*cnt + n) * size);
	if (!na)
		return false;
	if (*cnt)
		memcpy(na, *arr, (size_t)*cnt * size);
	memcpy(na + (size_t)*cnt * size, v, (size_t)n * size);
	*arr = na;
	*cnt += n;
	return true;
}

static ksk_err mem_get_trace(st_fetch *f, const st_src *x, const uint8_t *tid,
                             ksk_arena *a, col_trace *out, bool *found,
                             ksk_errinfo *ei)
{
	col_mem_frame *frames = NULL;
	uint32_t nf = 0;
	*found = false;
	if (col_mem_trace_frames(x->mem, tid, f->al, &frames, &nf) != KSK_OK)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	if (!nf)
		return KSK_OK;
	st_vec spans = {0}, logs = {0}, res = {0};
	uint32_t *rmap = NULL, rcap = 0;
	ksk_err rc = KSK_OK;
	uint32_t base = out->n_resources;
	for (uint32_t k = 0; k < nf && rc == KSK_OK; k++) {
		const ksk_batch *b;
		rc = fetch_frame(f, x, frames[k], &b, ei);
		if (rc != KSK_OK)
			break;
		if (!col_ru_grow(f->al, (void **)&rmap, &rcap, b->n_resources + 1, 4)) {
			rc = KSK_ENOMEM;
			break;
		}
		for (uint32_t i = 0; i < b->n_resources; i++)
			rmap[i] = UINT32_MAX;
#define ST_MAPRES(ri)                                                              \
	do {                                                                       \
		if (rmap[ri] == UINT32_MAX) {                                      \
			ksk_resource cr;                                           \
			if (!col_ru_resource(a, &b->resources[ri], &cr) ||         \
			    !vec_push(f->al, &res, &cr, sizeof(cr))) {             \
				rc = KSK_ENOMEM;                                   \
				break;                                             \
			}                                                          \
			rmap[ri] = base + res.n - 1;                               \
		}                                                                  \
	} while (0)
		for (uint32_t i = 0; i < b->n_spans && rc == KSK_OK; i++) {
			const ksk_span *sp = &b->spans[i];
			if (memcmp(sp->trace_id, tid, 16) != 0 || sp->resource >= b->n_resources)
				continue;
			ST_MAPRES(sp->resource);
			if (rc != KSK_OK)
				break;
			ksk_span c;
			if (!col_ru_span(a, sp, &c)) {
				rc = KSK_ENOMEM;
				break;
			}
			c.resource = rmap[sp->resource];
			if (!vec_push(f->al, &spans, &c, sizeof(c)))
				rc = KSK_ENOMEM;
		}
		for (uint32_t i = 0; i < b->n_logs && rc == KSK_OK; i++) {
			const ksk_log *lg = &b->logs[i];
			if (!lg->has_trace || memcmp(lg->trace_id, tid, 16) != 0 ||
			    lg->resource >= b->n_resources)
				continue;
			ST_MAPRES(lg->resource);
			if (rc != KSK_OK)
				break;
			ksk_log c;
			if (!col_ru_log(a, lg, &c)) {
				rc = KSK_ENOMEM;
				break;
			}
			c.resource = rmap[lg->resource];
			if (!vec_push(f->al, &logs, &c, sizeof(c)))
				rc = KSK_ENOMEM;
		}
#undef ST_MAPRES
	}
	if (rc == KSK_ENOMEM)
		ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory fetching a trace");
	if (rc == KSK_OK) {
		if (!arena_append(a, (void **)&out->resources, &out->n_resources, res.v,
		                  res.n, sizeof(ksk_resource)) ||
		    !arena_append(a, (void **)&out->spans, &out->n_spans, spans.v, spans.n,
		                  sizeof(ksk_span)) ||
		    !arena_append(a, (void **)&out->logs, &out->n_logs, logs.v, logs.n,
		                  sizeof(ksk_log)))
			rc = ksk_errinfo_set(ei, ksk_arena_error(a), "arena full fetching a trace");
		else
			*found = spans.n + logs.n > 0;
	}
	ksk_free(f->al, spans.v);
	ksk_free(f->al, logs.v);
	ksk_free(f->al, res.v);
	ksk_free(f->al, rmap);
	ksk_free(f->al, frames);
	return rc;
}

static uint64_t log_time(const ksk_log *l)
{
	return l->time_ns ? l->time_ns : l->observed_ns;
}

static int log_time_cmp(const void *a, const void *b)
{
	uint64_t x = log_time(a), y = log_time(b);
	return x < y ? -1 : x > y;
}

/* Fetches a trace from every source of the snapshot. */
static ksk_err snap_get_trace(st_snap *sn, st_fetch *f, const uint8_t *tid,
                              uint64_t start_hint, uint64_t end_hint,
                              ksk_arena *a, col_trace *out, bool *found,
                              ksk_errinfo *ei)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->trace_id, tid, 16);
	*found = false;
	for (uint32_t i = 0; i < sn->n; i++) {
		const st_src *x = sn->v[i];
		bool fnd = false;
		if (x->kind == ST_SEG) {
			if (start_hint && x->info.max_ns && x->info.max_ns < start_hint)
				continue;
			if (end_hint && x->info.min_ns > end_hint)
				continue;
			if (!col_seg_may_contain(x->seg, tid))
				continue;
			KSK_TRY(col_seg_get_trace(x->seg, tid, a, out, &fnd, ei));
		} else {
			KSK_TRY(mem_get_trace(f, x, tid, a, out, &fnd, ei));
		}
		*found |= fnd;
	}
	if (out->n_logs > 1)
		qsort(out->logs, out->n_logs, sizeof(ksk_log), log_time_cmp);
	return KSK_OK;
}

ksk_err col_store_get_trace(col_store *s, const uint8_t trace_id[16],
                            uint64_t start_hint, uint64_t end_hint,
                            ksk_arena *a, col_trace *out, ksk_errinfo *ei)
{
	st_snap sn;
	st_fetch f;
	if (snap_take(s, &sn) != KSK_OK)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	ksk_err rc = fetch_init(&f, s);
	bool found = false;
	if (rc == KSK_OK)
		rc = snap_get_trace(&sn, &f, trace_id, start_hint, end_hint, a, out,
		                    &found, ei);
	else
		ksk_errinfo_set(ei, rc, "out of memory");
	fetch_fini(&f);
	snap_drop(&sn);
	if (rc == KSK_OK && !found) {
		char hex[33];
		ksk_hex_encode(trace_id, 16, hex);
		return ksk_errinfo_set(ei, KSK_ENOTFOUND, "trace %s not found", hex);
	}
	return rc;
}

/* ---- search -------------------------------------------------------------------------- */

/* Search works in two steps.
 * 1. Each source is asked for candidates with a relaxed query: a trace may
 *    be split over sources (it straddles a seal), and a part can fail a
 *    lower bound (duration, span count, errors) that the whole passes, so
 *    those bounds are dropped from the per-source query. Every candidate is
 *    then decided exactly, inside the callback:
 *      - held by this source only (no other source may contain it) and no
 *        span-level condition left unverified: its summary is the trace's;
 *        the full conditions are checked on it;
 *      - otherwise (split, or a segment's span-level match that may be a
 *        false positive, or attribute filters that the open segment only
 *        checks by hash): the whole trace is fetched from every source, its
 *        exact summary computed and every condition verified on its spans.
 *    A source is stopped once `limit` accepted traces from it start at or
 *    after the candidate at hand: it gives candidates newest first and a
 *    trace's true start is <= the start of any of its parts, so nothing
 *    later from it can enter the top `limit`.
 * 2. Accepted traces (split ones only once) are sorted newest first and
 *    the first `limit` returned: the limit is applied after every filter. */
typedef struct st_search {
	col_store *s;
	st_snap *sn;
	const col_search *q;  /* the caller's query */
	bool span_cond;       /* q has span-level conditions */
	uint32_t limit;
	uint32_t cur;         /* source being scanned */
	bool cur_verify;      /* its span-level matches need a fetch */
	bool check_svc;       /* check q->service on the summary's services */
	uint32_t acc_cur;     /* accepted from it, held by it only */
	st_vec split_cur;     /* uint64 starts of split traces accepted from it */
	st_dedupe seen;       /* split traces already decided */
	st_fetch *f;          /* fetch state */
	ksk_arena *fa;        /* fetched traces, reset per fetch */
	ksk_arena *scratch;   /* accepted summaries' copies */
	st_vec acc;           /* col_summary, accepted */
	ksk_errinfo *ei;
	ksk_err err;
} st_search;

static bool trace_level_ok(const col_search *q, const col_summary *m)
{
	uint64_t d = m->end_ns - m->start_ns;
	return !(q->start_ns && m->start_ns < q->start_ns) &&
	       !(q->end_ns && m->start_ns > q->end_ns) &&
	       !(q->min_duration_ns && d < q->min_duration_ns) &&
	       !(q->max_duration_ns && d > q->max_duration_ns) &&
	       !(q->min_spans && m->span_count < q->min_spans) &&
	       !(q->max_spans && m->span_count > q->max_spans) &&
	       !(q->errors_only && m->error_count == 0);
}

static bool other_may_hold(const st_search *c, uint32_t self, const uint8_t *tid)
{
	for (uint32_t i = 0; i < c->sn->n; i++) {
		if (i == self)
			continue;
		const st_src *x = c->sn->v[i];
		if (x->kind == ST_SEG ? col_seg_may_contain(x->seg, tid)
		                      : col_mem_has_trace(x->mem, tid))
			return true;
	}
	return false;
}

static bool span_matches(const col_search *q, const col_trace *t, const ksk_span *sp)
{
	const ksk_resource *r = sp->resource < t->n_resources ? &t->resources[sp->resource] : NULL;
	if (q->service.len && (!r || !ksk_str_eq(r->service, q->service)))
		return false;
	if (q->operation.len && !ksk_str_eq(sp->name, q->operation))
		return false;
	if (q->span_kind >= 0 && (int)sp->kind != q->span_kind)
		return false;
	for (uint32_t i = 0; i < q->n_attrs && i < COL_MAX_ATTR_FILTERS; i++) {
		const col_attr_filter *af = &q->attrs[i];
		if (!col_ru_attr_matches(sp->attrs, sp->n_attrs, af) &&
		    !(r && col_ru_attr_matches(r->attrs, r->n_attrs, af)))
			return false;
	}
	return true;
}

/* The exact summary of a whole fetched trace (arrays in `a`). */
static bool summarize(ksk_arena *a, const col_trace *t, col_summary *m)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->trace_id, t->trace_id, 16);
	m->start_ns = UINT64_MAX;
	m->span_count = t->n_spans;
	m->log_count = t->n_logs;
	int64_t root = -1;
	bool root_real = false;
	ksk_str *svcs = ksk_arena_alloc(a, sizeof(ksk_str) * (t->n_spans ? t->n_spans : 1));
	if (!svcs)
		return false;
	for (uint32_t i = 0; i < t->n_spans; i++) {
		const ksk_span *sp = &t->spans[i];
		if (sp->start_ns < m->start_ns)
			m->start_ns = sp->start_ns;
		if (sp->end_ns > m->end_ns)
			m->end_ns = sp->end_ns;
		m->error_count += sp->status == KSK_STATUS_ERROR;
		bool real = !sp->has_parent;
		if (root < 0 || (real && !root_real) ||
		    (real == root_real && sp->start_ns < t->spans[root].start_ns)) {
			root = (int64_t)i;
			root_real = real;
		}
		ksk_str sv = sp->resource < t->n_resources ? t->resources[sp->resource].service
		                                           : (ksk_str){"", 0};
		bool seen = false;
		for (uint32_t j = 0; j < m->n_services && !seen; j++)
			seen = ksk_str_eq(svcs[j], sv);
		if (!seen)
			svcs[m->n_services++] = sv;
	}
	if (root >= 0) {
		const ksk_span *rs = &t->spans[root];
		m->root_name = rs->name;
		m->root_service = rs->resource < t->n_resources
		                          ? t->resources[rs->resource].service
		                          : (ksk_str){"", 0};
	} else {
		m->start_ns = 0;
	}
	m->services = svcs;
	return true;
}

static bool copy_summary(ksk_arena *a, const col_summary *src, col_summary *dst)
{
	*dst = *src;
	if (!col_ru_str(a, src->root_service, &dst->root_service) ||
	    !col_ru_str(a, src->root_name, &dst->root_name))
		return false;
	dst->services = NULL;
	if (src->n_services) {
		dst->services = ksk_arena_alloc(a, sizeof(ksk_str) * src->n_services);
		if (!dst->services)
			return false;
		for (uint32_t i = 0; i < src->n_services; i++)
			if (!col_ru_str(a, src->services[i], &dst->services[i]))
				return false;
	}
	return true;
}

static bool search_fail(st_search *c, ksk_err e, const char *what)
{
	c->err = e;
	if (c->ei && c->ei->code == KSK_OK)
		ksk_errinfo_set(c->ei, e, "search: %s", what);
	return false;
}

static bool search_cb(void *ctx, const col_summary *sum)
{
	st_search *c = ctx;
	/* stop rule (see above) */
	uint32_t ahead = c->acc_cur;
	const uint64_t *ss = c->split_cur.v;
	for (uint32_t i = 0; i < c->split_cur.n; i++)
		ahead += ss[i] >= sum->start_ns;
	if (ahead >= c->limit)
		return false;
	if (c->check_svc) {
		bool has = false;
		for (uint32_t i = 0; i < sum->n_services && !has; i++)
			has = ksk_str_eq(sum->services[i], c->q->service);
		if (!has)
			return true;
	}
	bool split = other_may_hold(c, c->cur, sum->trace_id);
	if (split) {
		if (dd_has(&c->seen, sum->trace_id, 0))
			return true;
		if (!dd_add(c->s->al, &c->seen, sum->trace_id, 0))
			return search_fail(c, KSK_ENOMEM, "out of memory");
	}
	/* a trace held here only: its summary is exact for trace-level
	 * conditions, so a failing one needs no fetch */
	if (!split && !trace_level_ok(c->q, sum))
		return true;
	col_summary res;
	if (!split && !c->cur_verify) {
		if (!copy_summary(c->scratch, sum, &res))
			return search_fail(c, KSK_ENOMEM, "out of memory");
	} else {
		ksk_arena_reset(c->fa);
		col_trace t;
		bool found;
		ksk_err rc = snap_get_trace(c->sn, c->f, sum->trace_id, 0, 0, c->fa, &t, &found, c->ei);
		if (rc != KSK_OK) {
			c->err = rc;
			return false;
		}
		if (!found || !t.n_spans)
			return true;
		bool hit = !c->span_cond;
		for (uint32_t i = 0; i < t.n_spans && !hit; i++)
			hit = span_matches(c->q, &t, &t.spans[i]);
		col_summary m;
		if (!summarize(c->fa, &t, &m))
			return search_fail(c, KSK_ENOMEM, "out of memory");
		if (!hit || !trace_level_ok(c->q, &m))
			return true;
		if (!copy_summary(c->scratch, &m, &res))
			return search_fail(c, KSK_ENOMEM, "out of memory");
	}
	if (!vec_push(c->s->al, &c->acc, &res, sizeof(res)))
		return search_fail(c, KSK_ENOMEM, "out of memory");
	if (split) {
		if (!vec_push(c->s->al, &c->split_cur, &res.start_ns, sizeof(uint64_t)))
			return search_fail(c, KSK_ENOMEM, "out of memory");
	} else {
		c->acc_cur++;
	}
	return true;
}

static int sum_cmp(const void *a, const void *b)
{
	const col_summary *x = a, *y = b;
	if (x->start_ns != y->start_ns)
		return x->start_ns > y->start_ns ? -1 : 1;
	return memcmp(x->trace_id, y->trace_id, 16);
}

ksk_err col_store_search(col_store *s, const col_search *q, ksk_arena *a,
                         col_summary **out, uint32_t *n, ksk_errinfo *ei)
{
	*out = NULL;
	*n = 0;
	st_snap sn;
	if (snap_take(s, &sn) != KSK_OK)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	st_fetch f;
	st_search c;
	memset(&c, 0, sizeof(c));
	ksk_err rc = fetch_init(&f, s);
	if (rc == KSK_OK)
		rc = ksk_arena_create(s->al, 0, 0, &c.scratch);
	if (rc == KSK_OK)
		rc = ksk_arena_create(s->al, 0, 0, &c.fa);
	if (rc != KSK_OK) {
		rc = ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
		goto out;
	}
	c.s = s;
	c.sn = &sn;
	c.q = q;
	c.f = &f;
	c.ei = ei;
	c.limit = q->limit ? q->limit : 20;
	c.span_cond = q->service.len || q->operation.len || q->span_kind >= 0 || q->n_attrs;
	col_search rq = *q;
	rq.min_duration_ns = 0;
	rq.min_spans = 0;
	rq.errors_only = false;
	for (uint32_t i = 0; i < sn.n && rc == KSK_OK; i++) {
		st_src *x = sn.v[i];
		c.cur = i;
		c.acc_cur = 0;
		c.split_cur.n = 0;
		if (x->kind == ST_SEG) {
			/* a service condition alone is exact on the summary's
			 * service list (checked in the callback); anything else
			 * may be a filter false positive */
			c.cur_verify = q->operation.len || q->span_kind >= 0 || q->n_attrs;
			c.check_svc = q->service.len > 0;
			rc = col_seg_search(x->seg, &rq, search_cb, &c, ei);
		} else {
			c.cur_verify = q->n_attrs > 0;
			c.check_svc = false; /* exact in the index */
			rc = col_mem_search(x->mem, &rq, c.scratch, search_cb, &c);
			if (rc != KSK_OK)
				ksk_errinfo_set(ei, rc, "searching the open segment");
		}
		if (rc == KSK_OK && c.err != KSK_OK)
			rc = c.err;
	}
	if (rc != KSK_OK)
		goto out;
	col_summary *av = c.acc.v;
	if (c.acc.n > 1)
		qsort(av, c.acc.n, sizeof(col_summary), sum_cmp);
	uint32_t k = c.acc.n < c.limit ? c.acc.n : c.limit;
	if (k) {
		*out = ksk_arena_alloc(a, sizeof(col_summary) * k);
		if (!*out)
			rc = ksk_errinfo_set(ei, ksk_arena_error(a), "arena full building search results");
		for (uint32_t i = 0; i < k && rc == KSK_OK; i++)
			if (!copy_summary(a, &av[i], &(*out)[i]))
				rc = ksk_errinfo_set(ei, ksk_arena_error(a),
				                     "arena full building search results");
		if (rc == KSK_OK)
			*n = k;
		else
			*out = NULL;
	}
out:
	ksk_free(s->al, c.acc.v);
	ksk_free(s->al, c.split_cur.v);
	dd_free(s->al, &c.seen);
	ksk_arena_destroy(c.scratch);
	ksk_arena_destroy(c.fa);
	fetch_fini(&f);
	snap_drop(&sn);
	return rc;
}

/* ---- services, operations, edges --------------------------------------------------- */

typedef struct st_opacc {
	const ksk_alloc *al;
	ksk_str service; /* filter (empty = any) */
	int kind;
	st_vec ops;      /* col_operation with borrowed strings; service in `svc` */
	st_vec svcs;     /* ksk_str */
	bool want_svcs;
	bool oom;
} st_opacc;

static void op_cb(void *ctx, ksk_str service, ksk_str op, ksk_span_kind kind)
{
	st_opacc *c = ctx;
	if (c->want_svcs) {
		if (!vec_push(c->al, &c->svcs, &service, sizeof(service)))
			c->oom = true;
		return;
	}
	if (!ksk_str_eq(service, c->service))
		return;
	if (c->kind >= 0 && (int)kind != c->kind)
		return;
	col_operation o = {op, kind};
	if (!vec_push(c->al, &c->ops, &o, sizeof(o)))
		c->oom = true;
}

static int str_cmp(ksk_str a, ksk_str b)
{
	uint32_t m = a.len < b.len ? a.len : b.len;
	int r = m ? memcmp(a.ptr, b.ptr, m) : 0;
	if (r)
		return r;
	return a.len < b.len ? -1 : a.len > b.len;
}

static int kstr_cmp(const void *a, const void *b)
{
	return str_cmp(*(const ksk_str *)a, *(const ksk_str *)b);
}

static int op_cmp(const void *a, const void *b)
{
	const col_operation *x = a, *y = b;
	int r = str_cmp(x->name, y->name);
	if (r)
		return r;
	return (int)x->kind - (int)y->kind;
}

static void collect_ops(st_snap *sn, st_opacc *c)
{
	for (uint32_t i = 0; i < sn->n; i++) {
		st_src *x = sn->v[i];
		if (x->kind == ST_SEG)
			col_seg_operations(x->seg, op_cb, c);
		else
			col_mem_operations(x->mem, op_cb, c);
	}
}

ksk_err col_store_services(col_store *s, ksk_arena *a, ksk_str **out, uint32_t *n)
{
	*out = NULL;
	*n = 0;
	st_snap sn;
	if (snap_take(s, &sn) != KSK_OK)
		return KSK_ENOMEM;
	st_opacc c;
	memset(&c, 0, sizeof(c));
	c.al = s->al;
	c.want_svcs = true;
	c.kind = -1;
	collect_ops(&sn, &c);
	ksk_err rc = c.oom ? KSK_ENOMEM : KSK_OK;
	ksk_str *v = c.svcs.v;
	uint32_t nd = 0;
	if (rc == KSK_OK && c.svcs.n) {
		qsort(v, c.svcs.n, sizeof(ksk_str), kstr_cmp);
		for (uint32_t i = 0; i < c.svcs.n; i++)
			if (i == 0 || !ksk_str_eq(v[i], v[nd - 1]))
				v[nd++] = v[i];
		*out = ksk_arena_alloc(a, sizeof(ksk_str) * nd);
		if (!*out)
			rc = ksk_arena_error(a);
		for (uint32_t i = 0; i < nd && rc == KSK_OK; i++)
			if (!col_ru_str(a, v[i], &(*out)[i]))
				rc = ksk_arena_error(a);
		if (rc == KSK_OK)
			*n = nd;
	}
	ksk_free(s->al, c.svcs.v);
	snap_drop(&sn);
	return rc;
}

ksk_err col_store_operations(col_store *s, ksk_str service, int kind,
                             ksk_arena *a, col_operation **out, uint32_t *n)
{
	*out = NULL;
	*n = 0;
	st_snap sn;
	if (snap_take(s, &sn) != KSK_OK)
		return KSK_ENOMEM;
	st_opacc c;
	memset(&c, 0, sizeof(c));
	c.al = s->al;
	c.service = service;
	c.kind = kind;
	collect_ops(&sn, &c);
	ksk_err rc = c.oom ? KSK_ENOMEM : KSK_OK;
	col_operation *v = c.ops.v;
	uint32_t nd = 0;
	if (rc == KSK_OK && c.ops.n) {
		qsort(v, c.ops.n, sizeof(col_operation), op_cmp);
		for (uint32_t i = 0; i < c.ops.n; i++)
			if (i == 0 || op_cmp(&v[i], &v[nd - 1]) != 0)
				v[nd++] = v[i];
		*out = ksk_arena_alloc(a, sizeof(col_operation) * nd);
		if (!*out)
			rc = ksk_arena_error(a);
		for (uint32_t i = 0; i < nd && rc == KSK_OK; i++) {
			(*out)[i].kind = v[i].kind;
			if (!col_ru_str(a, v[i].name, &(*out)[i].name))
				rc = ksk_arena_error(a);
		}
		if (rc == KSK_OK)
			*n = nd;
	}
	ksk_free(s->al, c.ops.v);
	snap_drop(&sn);
	return rc;
}

typedef struct st_edgeacc {
	const ksk_alloc *al;
	ksk_arena *a;   /* edge strings are copied here at once: a segment's
	                   callback strings may be temporary */
	st_vec e;       /* col_edge */
	bool oom;
} st_edgeacc;

static void edge_cb(void *ctx, const col_edge *e)
{
	st_edgeacc *c = ctx;
	col_edge k = *e;
	if (!col_ru_str(c->a, e->parent, &k.parent) ||
	    !col_ru_str(c->a, e->child, &k.child) ||
	    !vec_push(c->al, &c->e, &k, sizeof(k)))
		c->oom = true;
}

static int edge_cmp(const void *a, const void *b)
{
	const col_edge *x = a, *y = b;
	int r = str_cmp(x->parent, y->parent);
	return r ? r : str_cmp(x->child, y->child);
}

ksk_err col_store_edges(col_store *s, uint64_t start_ns, uint64_t end_ns,
                        ksk_arena *a, col_edge **out, uint32_t *n)
{
	*out = NULL;
	*n = 0;
	st_snap sn;
	if (snap_take(s, &sn) != KSK_OK)
		return KSK_ENOMEM;
	st_edgeacc c = {s->al, a, {0}, false};
	ksk_err rc = KSK_OK;
	for (uint32_t i = 0; i < sn.n && rc == KSK_OK; i++) {
		st_src *x = sn.v[i];
		if (x->kind == ST_SEG) {
			if (start_ns && x->info.max_ns && x->info.max_ns < start_ns)
				continue;
			if (end_ns && x->info.min_ns > end_ns)
				continue;
			col_seg_edges(x->seg, start_ns, end_ns, edge_cb, &c);
		} else {
			rc = col_mem_edges(x->mem, start_ns, end_ns, edge_cb, &c);
		}
	}
	if (c.oom)
		rc = KSK_ENOMEM;
	col_edge *v = c.e.v;
	if (rc == KSK_OK && c.e.n) {
		qsort(v, c.e.n, sizeof(col_edge), edge_cmp);
		uint32_t nd = 0;
		for (uint32_t i = 0; i < c.e.n; i++) {
			if (nd && edge_cmp(&v[i], &v[nd - 1]) == 0) {
				v[nd - 1].calls += v[i].calls;
				v[nd - 1].errors += v[i].errors;
				v[nd - 1].duration_ns_sum += v[i].duration_ns_sum;
			} else {
				v[nd++] = v[i];
			}
		}
		*out = ksk_arena_alloc(a, sizeof(col_edge) * nd);
		if (!*out)
			rc = ksk_arena_error(a);
		else {
			memcpy(*out, v, sizeof(col_edge) * nd);
			*n = nd;
		}
	}
	ksk_free(s->al, c.e.v);
	snap_drop(&sn);
	return rc;
}

/* ---- logs ---------------------------------------------------------------------------- */

typedef struct st_rx {
	pcre2_code *code;
	pcre2_match_data *md;
	pcre2_match_context *mc;
	char *text;       /* body text buffer for non-string bodies */
	size_t cap;
	const ksk_alloc *al;
} st_rx;

static void rx_fini(st_rx *r)
{
	pcre2_match_data_free(r->md);
	pcre2_match_context_free(r->mc);
	pcre2_code_free(r->code);
	ksk_free(r->al, r->text);
}

static ksk_err rx_init(st_rx *r, const ksk_alloc *al, ksk_str re, ksk_errinfo *ei)
{
	memset(r, 0, sizeof(*r));
	r->al = al;
	if (!re.len)
		return KSK_OK;
	int errcode;
	PCRE2_SIZE erroff;
	r->code = pcre2_compile((PCRE2_SPTR)re.ptr, re.len,
	                        PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &errcode, &erroff, NULL);
	if (!r->code) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(errcode, msg, sizeof(msg));
		return ksk_errinfo_set(ei, KSK_EINVAL, "regex error at offset %zu: %s",
		                       (size_t)erroff, (const char *)msg);
	}
	pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
	r->md = pcre2_match_data_create_from_pattern(r->code, NULL);
	r->mc = pcre2_match_context_create(NULL);
	if (!r->md || !r->mc) {
		rx_fini(r);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory compiling the regex");
	}
	pcre2_set_match_limit(r->mc, 100000);
	pcre2_set_depth_limit(r->mc, 10000);
	pcre2_set_heap_limit(r->mc, 20000); /* KiB */
	return KSK_OK;
}

/* 1 match, 0 no match, -(ksk_err) on an error (message in ei). */
static int rx_match(st_rx *r, const ksk_value *body, ksk_errinfo *ei)
{
	if (!r->code)
		return 1;
	const char *p;
	size_t len;
	if (body->type == KSK_VAL_STR) {
		p = body->u.s.ptr ? body->u.s.ptr : "";
		len = body->u.s.len;
	} else {
		size_t need = col_ru_value_text(body, r->text, r->cap);
		if (need >= r->cap) {
			char *nb = ksk_realloc(r->al, r->text, need + 1);
			if (!nb)
				return -(int)ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
			r->text = nb;
			r->cap = need + 1;
			col_ru_value_text(body, r->text, r->cap);
		}
		p = r->text;
		len = need;
	}
	int m = pcre2_match(r->code, (PCRE2_SPTR)p, len, 0, 0, r->md, r->mc);
	if (m >= 0)
		return 1;
	if (m == PCRE2_ERROR_NOMATCH)
		return 0;
	if (m == PCRE2_ERROR_MATCHLIMIT || m == PCRE2_ERROR_DEPTHLIMIT ||
	    m == PCRE2_ERROR_HEAPLIMIT || m == PCRE2_ERROR_JIT_STACKLIMIT) {
		return -(int)ksk_errinfo_set(ei, KSK_ELIMIT, "regex hit its match "
		                             "limit (catastrophic backtracking?); "
		                             "simplify the pattern");
	}
	PCRE2_UCHAR msg[160];
	pcre2_get_error_message(m, msg, sizeof(msg));
	return -(int)ksk_errinfo_set(ei, KSK_EINVAL, "regex match failed: %s",
	                             (const char *)msg);
}

typedef struct st_logacc {
	const ksk_alloc *al;
	st_rx *rx;
	uint32_t limit;
	uint32_t from_cur;  /* hits collected from the current source */
	st_vec hits;        /* col_log_hit (in scratch) */
	ksk_err err;
	ksk_errinfo *ei;
} st_logacc;

static bool seg_log_cb(void *ctx, const col_log_hit *hit)
{
	st_logacc *c = ctx;
	int m = rx_match(c->rx, &hit->log.body, c->ei);
	if (m < 0) {
		c->err = (ksk_err)-m;
		return false;
	}
	if (!m)
		return true;
	if (!vec_push(c->al, &c->hits, hit, sizeof(*hit))) {
		c->err = KSK_ENOMEM;
		return false;
	}
	return ++c->from_cur < c->limit;
}

static int hit_cmp(const void *a, const void *b)
{
	const col_log_hit *x = a, *y = b;
	uint64_t tx = log_time(&x->log), ty = log_time(&y->log);
	return tx > ty ? -1 : tx < ty;
}

static ksk_err mem_logs(st_fetch *f, const st_src *x, const col_log_search *q,
                        ksk_arena *scratch, st_logacc *c, ksk_errinfo *ei)
{
	col_mem_logref *refs = NULL;
	uint32_t nr = 0;
	if (col_mem_logs(x->mem, q, f->al, &refs, &nr) != KSK_OK)
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	ksk_err rc = KSK_OK;
	for (uint32_t i = 0; i < nr && c->from_cur < c->limit; i++) {
		const ksk_batch *b;
		rc = fetch_frame(f, x, refs[i].frame, &b, ei);
		if (rc != KSK_OK)
			break;
		if (refs[i].index >= b->n_logs)
			continue;
		const ksk_log *lg = &b->logs[refs[i].index];
		int m = rx_match(c->rx, &lg->body, ei);
		if (m < 0) {
			rc = (ksk_err)-m;
			break;
		}
		if (!m)
			continue;
		col_log_hit h;
		memset(&h, 0, sizeof(h));
		const ksk_resource *r = &b->resources[lg->resource];
		h.resource = ksk_arena_alloc(scratch, sizeof(ksk_resource));
		if (!h.resource || !col_ru_log(scratch, lg, &h.log) ||
		    !col_ru_resource(scratch, r, h.resource)) {
			rc = ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
			break;
		}
		h.service = h.resource->service;
		h.host = h.resource->host;
		if (!vec_push(f->al, &c->hits, &h, sizeof(h))) {
			rc = ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
			break;
		}
		c->from_cur++;
	}
	ksk_free(f->al, refs);
	return rc;
}

static bool copy_hit(ksk_arena *a, const col_log_hit *src, col_log_hit *dst)
{
	*dst = *src;
	if (!col_ru_log(a, &src->log, &dst->log) ||
	    !col_ru_str(a, src->service, &dst->service) ||
	    !col_ru_str(a, src->host, &dst->host))
		return false;
	dst->resource = NULL;
	if (src->resource) {
		dst->resource = ksk_arena_alloc(a, sizeof(ksk_resource));
		if (!dst->resource || !col_ru_resource(a, src->resource, dst->resource))
			return false;
	}
	return true;
}

ksk_err col_store_log_search(col_store *s, const col_log_search *q,
                             ksk_arena *a, col_log_hit **out, uint32_t *n,
                             ksk_errinfo *ei)
{
	*out = NULL;
	*n = 0;
	st_rx rx;
	KSK_TRY(rx_init(&rx, s->al, q->regex, ei));
	st_snap sn;
	if (snap_take(s, &sn) != KSK_OK) {
		rx_fini(&rx);
		return ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	}
	st_fetch f;
	ksk_arena *scratch = NULL;
	ksk_err rc = fetch_init(&f, s);
	if (rc == KSK_OK)
		rc = ksk_arena_create(s->al, 0, 0, &scratch);
	if (rc != KSK_OK)
		rc = ksk_errinfo_set(ei, KSK_ENOMEM, "out of memory");
	st_logacc c;
	memset(&c, 0, sizeof(c));
	c.al = s->al;
	c.rx = &rx;
	c.limit = q->limit ? (q->limit > 100000 ? 100000 : q->limit) : 100;
	c.ei = ei;
	for (uint32_t i = 0; i < sn.n && rc == KSK_OK; i++) {
		st_src *x = sn.v[i];
		c.from_cur = 0;
		if (x->kind == ST_SEG) {
			if (q->start_ns && x->info.max_ns && x->info.max_ns < q->start_ns)
				continue;
			if (q->end_ns && x->info.min_ns > q->end_ns)
				continue;
			rc = col_seg_logs(x->seg, q, scratch, seg_log_cb, &c, ei);
			if (rc == KSK_OK && c.err != KSK_OK)
				rc = c.err;
		} else {
			rc = mem_logs(&f, x, q, scratch, &c, ei);
		}
	}
	if (rc == KSK_OK && c.hits.n) {
		col_log_hit *hv = c.hits.v;
		qsort(hv, c.hits.n, sizeof(col_log_hit), hit_cmp);
		uint32_t k = c.hits.n < c.limit ? c.hits.n : c.limit;
		*out = ksk_arena_alloc(a, sizeof(col_log_hit) * k);
		if (!*out)
			rc = ksk_errinfo_set(ei, ksk_arena_error(a), "arena full");
		for (uint32_t i = 0; i < k && rc == KSK_OK; i++)
			if (!copy_hit(a, &hv[i], &(*out)[i]))
				rc = ksk_errinfo_set(ei, ksk_arena_error(a), "arena full");
		if (rc == KSK_OK)
			*n = k;
		else
			*out = NULL;
	}
	ksk_free(s->al, c.hits.v);
	ksk_arena_destroy(scratch);
	fetch_fini(&f);
	snap_drop(&sn);
	rx_fini(&rx);
	return rc;
}

typedef struct st_countacc {
	const ksk_alloc *al;
	ksk_arena *a;       /* service strings */
	st_vec v;           /* col_log_count */
	uint32_t last;      /* index of the last row touched */
	bool oom;
} st_countacc;

static void count_add(st_countacc *c, ksk_str svc, const char *sev, uint64_t k)
{
	col_log_count *v = c->v.v;
	if (c->last < c->v.n && v[c->last].severity == sev &&
	    ksk_str_eq(v[c->last].service, svc)) {
		v[c->last].count += k;
		return;
	}
	for (uint32_t i = 0; i < c->v.n; i++) {
		if (v[i].severity == sev && ksk_str_eq(v[i].service, svc)) {
			v[i].count += k;
			c->last = i;
			return;
		}
	}
	col_log_count r;
	r.severity = sev;
	r.count = k;
	if (!col_ru_str(c->a, svc, &r.service) || !vec_push(c->al, &c->v, &r, sizeof(r))) {
		c->oom = true;
		return;
	}
	c->last = c->v.n - 1;
}

static void mem_count_cb(void *ctx, ksk_str service, const char *severity,
                         uint64_t count)
{
	count_add(ctx, service, severity, count);
}

static bool seg_count_cb(void *ctx, const col_log_hit *hit)
{
	st_countacc *c = ctx;
	count_add(c, hit->service, ksk_severity_name(hit->log.severity), 1);
	return !c->oom;
}

static int count_cmp(const void *a, const void *b)
{
	const col_log_count *x = a, *y = b;
	int r = str_cmp(x->service, y->service);
	return r ? r : strcmp(x->severity, y->severity);
}

ksk_err col_store_log_stats(col_store *s, uint64_t start_ns, uint64_t end_ns,
                            ksk_arena *a, col_log_count **out, uint32_t *n)
{
	*out = NULL;
	*n = 0;
	st_snap sn;
	if (snap_take(s, &sn) != KSK_OK)
		return KSK_ENOMEM;
	ksk_arena *scratch = NULL;
	ksk_err rc = ksk_arena_create(s->al, 0, 0, &scratch);
	st_countacc c = {s->al, a, {0}, 0, false};
	col_log_search q;
	memset(&q, 0, sizeof(q));
	q.start_ns = start_ns;
	q.end_ns = end_ns;
	for (uint32_t i = 0; i < sn.n && rc == KSK_OK; i++) {
		st_src *x = sn.v[i];
		if (x->kind == ST_SEG) {
			if (start_ns && x->info.max_ns && x->info.max_ns < start_ns)
				continue;
			if (end_ns && x->info.min_ns > end_ns)
				continue;
			/* no count-only path in col_segment: decode the logs; the
			 * scratch arena is reset per segment */
			ksk_arena_reset(scratch);
			rc = col_seg_logs(x->seg, &q, scratch, seg_count_cb, &c, NULL);
		} else {
			rc = col_mem_log_stats(x->mem, start_ns, end_ns, mem_count_cb, &c);
		}
	}
	if (c.oom && rc == KSK_OK)
		rc = KSK_ENOMEM;
	if (rc == KSK_OK && c.v.n) {
		qsort(c.v.v, c.v.n, sizeof(col_log_count), count_cmp);
		*out = ksk_arena_alloc(a, sizeof(col_log_count) * c.v.n);
		if (!*out)
			rc = ksk_arena_error(a);
		else {
			memcpy(*out, c.v.v, sizeof(col_log_count) * c.v.n);
			*n = c.v.n;
		}
	}
	ksk_free(s->al, c.v.v);
	ksk_arena_destroy(scratch);
	snap_drop(&sn);
	return rc;
}
